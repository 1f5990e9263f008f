/*
 * refill.c: the takers and fillers; see the DESIGN block in refill.h.
 */
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#include "common/clock.h"
#include "common/log.h"
#include "common/store.h"
#include "common/worker.h"
#include "refill/refill.h"
#include "common/banned.h"

#define IDLE_WAIT_MS 200
#define ERROR_BACKOFF_MS 1000
#define FILLER_NICE 10

enum role { TAKER, FILLER };

/* A taker or a filler. */
struct rthread {
	struct worker w;	/* its thread, wake and stop (worker.h) */
	enum role role;
	struct rpool *pool;
	unsigned shard;
	struct rthread *peer;	/* the filler of a taker's shard */
	bool demand;		/* under w.lock; taker: a pop failed or the
				   hopper ran low, since the last take */
	_Atomic bool filling;	/* filler: below low water once, fill up
				   (written by the filler, read by
				   refill_stats) */
	uint64_t *scratch;	/* filler: grant_batch values */
	struct shard_item *items; /* taker: hopper_cap entries */
	uint64_t empty_seen;	/* taker: pool->empty_draws last logged */
	uint64_t empty_log_ns;	/* taker: when it was logged */
	uint64_t check_ns;	/* filler: last dead-reader check */
	_Atomic uint64_t grants, values, takes, errors;
};

struct refill {
	struct rthread *t;	/* taker, filler, taker, filler, ... */
	size_t n;
	struct pools *ps;
	/* Wakes the waiting draws whose time is up (waitlist_expire), for
	 * every pool: a thread of its own, that never touches LMDB, so that
	 * a taker stuck in a slow commit cannot hold a draw past its
	 * draw_wait_ms. Kicked by an add that brings a deadline forward. */
	struct worker sweeper;
};

/* The waitlists' kick (waitlist.h). */
static void sweeper_kick(void *arg)
{
	struct refill *r = arg;

	worker_wake(&r->sweeper);
}

static void *sweeper_main(void *arg)
{
	struct refill *r = arg;
	uint64_t now, next, first;
	unsigned ms;
	size_t i;

	do {
		now = clock_mono_ns();
		first = UINT64_MAX;
		for (i = 0; i < r->ps->npools; i++) {
			waitlist_expire(&r->ps->pools[i].waiters, now, &next);
			if (next < first)
				first = next;
		}
		ms = IDLE_WAIT_MS;
		if (first != UINT64_MAX && first - now < ms * 1000000ull)
			ms = (unsigned)((first - now) / 1000000u) + 1;
	} while (!worker_wait(&r->sweeper, ms));
	return NULL;
}

/* The hopper's wake callback, called without the hopper lock held: a pop
 * failed or the hopper ran below its low mark. Unlike a wake from the
 * filler, this asks the taker to top the hopper up even by a little (a
 * draw of the hopper's whole capacity needs it full). */
static void taker_demand(void *arg)
{
	struct rthread *t = arg;

	pthread_mutex_lock(&t->w.lock);
	t->w.wake = true;
	t->demand = true;
	pthread_cond_signal(&t->w.cond);
	pthread_mutex_unlock(&t->w.lock);
}

/* Takes the demand raised so far (and clears it). */
static bool taker_take_demand(struct rthread *t)
{
	bool d;

	pthread_mutex_lock(&t->w.lock);
	d = t->demand;
	t->demand = false;
	pthread_mutex_unlock(&t->w.lock);
	return d;
}

/* Puts back a demand the pass could not meet (the shard was empty). */
static void taker_keep_demand(struct rthread *t)
{
	pthread_mutex_lock(&t->w.lock);
	t->demand = true;
	pthread_mutex_unlock(&t->w.lock);
}

/* Whether a taker has a take to make: its hopper has room and is below
 * its low mark (rpool.h: hopper_low) or was asked for more, and its shard
 * has values. The one test of taker_pass and rthread_has_work. */
static bool taker_should_take(const struct rpool *p, size_t room,
			      uint64_t level, bool demand)
{
	if (room == 0 || level == 0)
		return false;
	return demand || p->hopper_cap - room < p->hopper_low;
}

/* Whether a taker grants straight into its hopper (rpool_grant_step)
 * instead: it would take but the shard is empty, in a pool not used up
 * whose values are computed from the grant alone (not a code pool). The
 * one test of taker_pass and rthread_has_work. */
static bool taker_should_grant(struct rpool *p, size_t room, uint64_t level,
			       bool demand)
{
	return level == 0 && p->def->kind != POOL_CODE &&
	       !atomic_load(&p->used_up) && taker_should_take(p, room, 1, demand);
}

/* Whether a filler fills its shard, given the shard's level and whether
 * it was filling: it starts below low water (or at empty) and goes on up
 * to shard_size, unless the pool is used up. While the hopper is below
 * its low mark (hopper_short) in a pool whose taker can grant straight
 * into it, it leaves the ledger and the CPU to the taker: a value that
 * goes through the shard costs an append and a take more, and the taker
 * is the one thread that feeds the hopper either way. The one test of
 * filler_pass and rthread_has_work. */
static bool filler_should_fill(struct rpool *p, uint64_t level, bool filling,
			       bool hopper_short)
{
	if (level >= p->def->shard_size || atomic_load(&p->used_up))
		return false;
	if (hopper_short && p->def->kind != POOL_CODE)
		return false;
	return filling || level < p->low_water || level == 0;
}

/* Whether shard i's hopper is below its low mark (a filler's view). */
static bool hopper_short(struct rpool *p, unsigned i)
{
	return hopper_level(&p->shards[i].hopper) < p->hopper_low;
}

/* Taker: one batch into the hopper if it is below its low mark
 * (rpool.h: hopper_low), or on demand.
 * Returns 1 if it moved something, 0 if not, or a negative errno. */
static int taker_pass(struct rthread *t)
{
	struct rpool *p = t->pool;
	struct rpool_shard *s = &p->shards[t->shard];
	size_t room, moved = 0;
	uint64_t empty;
	bool demand;
	int rc;

	empty = atomic_load(&p->empty_draws);
	if (empty != t->empty_seen && t->shard == 0 &&
	    clock_mono_ns() - t->empty_log_ns >= 1000000000u) {
		t->empty_log_ns = clock_mono_ns();
		log_warn("pool \"%s\": %llu requests found every hopper empty "
			 "and got 503 refilling", p->def->name,
			 (unsigned long long)(empty - t->empty_seen));
		t->empty_seen = empty;
	}
	/* Take the demand before looking at the hopper: one raised after
	 * this point (by a pop that fails after our push, which re-arms the
	 * hopper's wake) stays for the next pass instead of being cleared
	 * by this one. */
	demand = taker_take_demand(t);
	room = hopper_room(&s->hopper);
	if (taker_should_grant(p, room, atomic_load(&s->level), demand)) {
		/* The hopper wants values and the shard has none: the filler
		 * is behind. Grant straight into the hopper rather than
		 * wait for an append and a take (each a commit, and a take's
		 * deletes cost twice the append: measured). */
		rc = rpool_grant_step(p, t->shard, room, t->items, &moved);
		if (rc == 0 && moved) {
			atomic_fetch_add(&t->grants, 1);
			atomic_fetch_add(&t->values, moved);
			return 1;
		}
		if (rc) {
			if (demand)
				taker_keep_demand(t);
			return rc;
		}
	}
	if (!taker_should_take(p, room, atomic_load(&s->level), demand)) {
		/* With room and a demand, the shard is empty: nothing to
		 * take (the filler recounts and wakes us when it appends),
		 * so do not even open a transaction, and keep the demand.
		 * Near the end of a pool every failed draw asks for more,
		 * and a pointless take would make that very draw answer
		 * "refilling" instead of "used up". */
		if (demand && room)
			taker_keep_demand(t);
		return 0;
	}
	rc = rpool_take_step(p, t->shard, room, t->items, &moved);
	if (rc || !moved) {
		if (demand)
			taker_keep_demand(t);
		return rc;
	}
	atomic_fetch_add(&t->takes, 1);
	if (atomic_load(&s->level) < p->low_water)
		worker_wake(&t->peer->w);
	return moved ? 1 : 0;
}

/* Filler: one grant and append if the shard is being filled. Same
 * returns as taker_pass. */
static int filler_pass(struct rthread *t)
{
	struct rpool *p = t->pool;
	struct rpool_shard *s = &p->shards[t->shard];
	uint64_t level, added = 0;
	bool fill;
	int rc;

	/* A uniqctl killed during a read would pin pages (store.h). */
	if (clock_mono_ns() - t->check_ns >= 1000000000u) {
		t->check_ns = clock_mono_ns();
		rc = store_reader_check(s->shard.env, s->shard.name);
		if (rc)
			return rc;
	}
	/* Recount: uniqctl may have appended, the taker may have taken. */
	rc = rpool_shard_recount(p, t->shard);
	if (rc)
		return rc;
	level = atomic_load(&s->level);
	fill = filler_should_fill(p, level, atomic_load(&t->filling),
				  hopper_short(p, t->shard));
	atomic_store(&t->filling, fill);
	if (!fill)
		return 0;
	rc = rpool_refill_step(p, t->shard, p->def->shard_size - level,
			       t->scratch, &added);
	if (rc)
		return rc;
	if (!added)
		return 0;
	atomic_fetch_add(&t->grants, 1);
	atomic_fetch_add(&t->values, added);
	/* The hopper may be waiting for these. */
	worker_wake(&t->peer->w);
	return 1;
}

/* How often the maps this thread writes have grown (store.h). */
static unsigned long map_growths(const struct rthread *t)
{
	return store_map_growths(t->pool->ledger->env) +
	       store_map_growths(t->pool->shards[t->shard].shard.env);
}

static void *rthread_main(void *arg)
{
	struct rthread *t = arg;
	int rc;

	/* Linux gives each thread its own nice value: the filler yields to
	 * request threads; a failure only costs latency, not correctness. */
	if (t->role == FILLER &&
	    setpriority(PRIO_PROCESS, (id_t)gettid(), FILLER_NICE))
		log_debug("filler: cannot lower its priority: %s",
			  log_strerror(errno));
	while (!worker_stopping(&t->w)) {
		unsigned long grown = map_growths(t);

		rc = t->role == TAKER ? taker_pass(t) : filler_pass(t);
		if (rc > 0)
			continue;
		if (rc == -ENOSPC && map_growths(t) != grown)
			continue; /* a map was full and has grown: at once */
		if (rc < 0) {
			atomic_fetch_add(&t->errors, 1);
			log_error("%s %s: %s; retrying in 1 s",
				  t->role == TAKER ? "taker" : "filler",
				  t->pool->shards[t->shard].shard.name,
				  store_strerror(rc));
		}
		if (worker_wait(&t->w, rc < 0 ? ERROR_BACKOFF_MS :
						IDLE_WAIT_MS))
			break;
	}
	return NULL;
}

static void rthread_release(struct rthread *t)
{
	worker_release(&t->w);
	free(t->scratch);
	free(t->items);
}

static int rthread_init(struct rthread *t, enum role role, struct rpool *p,
			unsigned shard)
{
	int rc;

	t->role = role;
	t->pool = p;
	t->shard = shard;
	if (role == FILLER)
		t->scratch = malloc(p->grant_batch * sizeof(*t->scratch));
	else
		t->items = malloc(p->hopper_cap * sizeof(*t->items));
	rc = !t->scratch && !t->items ? -ENOMEM : 0;
	if (rc == 0)
		rc = worker_init(&t->w);
	if (rc) {
		free(t->scratch);
		free(t->items);
		t->scratch = NULL;
		t->items = NULL;
	}
	return rc;
}

/*
 * Before the threads start (and before the server listens), stocks the
 * hopper of one shard: a grant if the shard holds less than a hopper's
 * worth, then a take. So the first requests find values instead of 503.
 * Failures are left to the threads to retry.
 */
static void prime(struct rthread *taker, struct rthread *filler)
{
	struct rpool *p = taker->pool;
	struct rpool_shard *s = &p->shards[taker->shard];
	uint64_t level = atomic_load(&s->level), added;
	size_t moved;
	int rc = 0;

	if (level < p->hopper_cap && !atomic_load(&p->used_up)) {
		rc = rpool_refill_step(p, filler->shard, p->hopper_cap - level,
				       filler->scratch, &added);
		if (rc == 0)	/* counted, as the taker's grants are */
			atomic_fetch_add(&filler->values, added);
	}
	if (rc == 0)
		rc = rpool_take_step(p, taker->shard, p->hopper_cap,
				     taker->items, &moved);
	if (rc)
		log_warn("%s: priming: %s", s->shard.name, log_strerror(rc));
}

int refill_start(struct pools *ps, struct refill **out)
{
	struct refill *r;
	size_t i, n = 0, k = 0;
	unsigned j;
	int rc;

	*out = NULL;
	for (i = 0; i < ps->npools; i++)
		n += 2 * ps->pools[i].nserving;
	r = calloc(1, sizeof(*r));
	if (!r)
		return -ENOMEM;
	r->ps = ps;
	r->t = calloc(n ? n : 1, sizeof(*r->t));
	rc = r->t ? worker_init(&r->sweeper) : -ENOMEM;
	if (rc) {
		free(r->t);
		free(r);
		return rc;
	}
	for (i = 0; i < ps->npools; i++) {
		struct rpool *p = &ps->pools[i];

		for (j = 0; j < p->nserving; j++) {
			struct rthread *taker = &r->t[k];
			struct rthread *filler = &r->t[k + 1];

			rc = rthread_init(taker, TAKER, p, j);
			if (rc)
				goto fail;
			r->n = ++k;
			rc = rthread_init(filler, FILLER, p, j);
			if (rc)
				goto fail;
			r->n = ++k;
			taker->peer = filler;
			filler->peer = taker;
			rc = hopper_init(&p->shards[j].hopper, p->hopper_cap,
					 p->hopper_low, taker_demand, taker);
			if (rc)
				goto fail;
			if (j == 0)
				rc = waitlist_init(&p->waiters, sweeper_kick,
						   r);
			if (rc)
				goto fail;
		}
	}
	for (k = 0; k < n; k += 2)
		prime(&r->t[k], &r->t[k + 1]);
	for (k = 0; k < n; k++) {
		rc = worker_start(&r->t[k].w, rthread_main, &r->t[k]);
		if (rc)
			goto fail;
	}
	rc = worker_start(&r->sweeper, sweeper_main, r);
	if (rc)
		goto fail;
	*out = r;
	return 0;
fail:
	refill_stop(r);
	refill_free(r);
	return rc;
}

void refill_stop(struct refill *r)
{
	size_t k;

	if (!r)
		return;
	for (k = 0; k < r->n; k++)
		worker_ask_stop(&r->t[k].w);
	worker_ask_stop(&r->sweeper);
	for (k = 0; k < r->n; k++)
		worker_stop(&r->t[k].w);
	worker_stop(&r->sweeper);
}

void refill_free(struct refill *r)
{
	size_t k;

	if (!r)
		return;
	for (k = 0; k < r->n; k++)
		rthread_release(&r->t[k]);
	worker_release(&r->sweeper);
	free(r->t);
	free(r);
}

/*
 * Whether t has work it will do without another draw: the tests of
 * taker_pass and filler_pass, on the shared state. Read from another
 * thread, so it may be stale by the time the caller looks; see
 * refill_stats.
 */
static bool rthread_has_work(struct rthread *t)
{
	struct rpool *p = t->pool;
	struct rpool_shard *s = &p->shards[t->shard];
	uint64_t level = atomic_load(&s->level);
	size_t room;
	bool demand;

	if (t->role == FILLER)
		return filler_should_fill(p, level, atomic_load(&t->filling),
					  hopper_short(p, t->shard));
	pthread_mutex_lock(&t->w.lock);
	demand = t->demand;
	pthread_mutex_unlock(&t->w.lock);
	room = hopper_room(&s->hopper);
	return taker_should_take(p, room, level, demand) ||
	       taker_should_grant(p, room, level, demand);
}

void refill_stats(struct refill *r, const struct rpool *p,
		  struct refill_stats *out)
{
	size_t k;

	memset(out, 0, sizeof(*out));
	if (!r)
		return;
	out->refilling = atomic_load(&p->busy) > 0;
	for (k = 0; k < r->n; k++) {
		if (r->t[k].pool != p)
			continue;
		out->grants += atomic_load(&r->t[k].grants);
		out->values += atomic_load(&r->t[k].values);
		out->takes += atomic_load(&r->t[k].takes);
		out->errors += atomic_load(&r->t[k].errors);
		if (!out->refilling && rthread_has_work(&r->t[k]))
			out->refilling = true;
	}
}
