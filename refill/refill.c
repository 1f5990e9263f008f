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
#include "refill/refill.h"
#include "common/banned.h"

#define IDLE_WAIT_MS 200
#define ERROR_BACKOFF_MS 1000
#define FILLER_NICE 10

enum role { TAKER, FILLER };

struct worker {
	enum role role;
	struct pool *pool;
	unsigned shard;
	struct worker *peer;	/* the filler of a taker's shard */
	pthread_t tid;
	bool started;
	pthread_mutex_t lock;
	pthread_cond_t cond;
	bool wake;		/* under lock */
	bool stop;		/* under lock */
	bool demand;		/* under lock; taker: a pop failed or the
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
	struct worker *w;
	size_t n;
};

/* Wakes w. */
static void worker_wake(void *arg)
{
	struct worker *w = arg;

	pthread_mutex_lock(&w->lock);
	w->wake = true;
	pthread_cond_signal(&w->cond);
	pthread_mutex_unlock(&w->lock);
}

/* The hopper's wake callback, called without the hopper lock held: a pop
 * failed or the hopper ran below its low mark. Unlike a wake from the
 * filler, this asks the taker to top the hopper up even by a little (a
 * draw of the hopper's whole capacity needs it full). */
static void taker_demand(void *arg)
{
	struct worker *w = arg;

	pthread_mutex_lock(&w->lock);
	w->wake = true;
	w->demand = true;
	pthread_cond_signal(&w->cond);
	pthread_mutex_unlock(&w->lock);
}

/* Takes the demand raised so far (and clears it). */
static bool taker_take_demand(struct worker *w)
{
	bool d;

	pthread_mutex_lock(&w->lock);
	d = w->demand;
	w->demand = false;
	pthread_mutex_unlock(&w->lock);
	return d;
}

/* Puts back a demand the pass could not meet (the shard was empty). */
static void taker_keep_demand(struct worker *w)
{
	pthread_mutex_lock(&w->lock);
	w->demand = true;
	pthread_mutex_unlock(&w->lock);
}

/* Sleeps up to ms unless woken; returns true when asked to stop. */
static bool worker_wait(struct worker *w, unsigned ms)
{
	struct timespec ts = clock_mono_deadline(ms);
	bool stop;

	pthread_mutex_lock(&w->lock);
	while (!w->wake && !w->stop)
		if (pthread_cond_timedwait(&w->cond, &w->lock, &ts) ==
		    ETIMEDOUT)
			break;
	w->wake = false;
	stop = w->stop;
	pthread_mutex_unlock(&w->lock);
	return stop;
}

static bool worker_stopping(struct worker *w)
{
	bool stop;

	pthread_mutex_lock(&w->lock);
	stop = w->stop;
	pthread_mutex_unlock(&w->lock);
	return stop;
}

/* Whether a taker has a take to make: its hopper has room and is below
 * its low mark (pool.h: hopper_low) or was asked for more, and its shard
 * has values. The one test of taker_pass and worker_has_work. */
static bool taker_should_take(const struct pool *p, size_t room,
			      uint64_t level, bool demand)
{
	if (room == 0 || level == 0)
		return false;
	return demand || p->hopper_cap - room < p->hopper_low;
}

/* Whether a filler fills its shard, given the shard's level and whether
 * it was filling: it starts below low water (or at empty) and goes on up
 * to shard_size, unless the pool is used up. The one test of filler_pass
 * and worker_has_work. */
static bool filler_should_fill(struct pool *p, uint64_t level, bool filling)
{
	if (level >= p->def->shard_size || atomic_load(&p->used_up))
		return false;
	return filling || level < p->low_water || level == 0;
}

/* Taker: one batch into the hopper if it is below its low mark
 * (pool.h: hopper_low), or on demand.
 * Returns 1 if it moved something, 0 if not, or a negative errno. */
static int taker_pass(struct worker *w)
{
	struct pool *p = w->pool;
	struct pool_shard *s = &p->shards[w->shard];
	size_t room, moved = 0;
	uint64_t empty;
	bool demand;
	int rc;

	empty = atomic_load(&p->empty_draws);
	if (empty != w->empty_seen && w->shard == 0 &&
	    clock_mono_ns() - w->empty_log_ns >= 1000000000u) {
		w->empty_log_ns = clock_mono_ns();
		log_warn("pool \"%s\": %llu requests found every hopper empty "
			 "and got 503 refilling", p->def->name,
			 (unsigned long long)(empty - w->empty_seen));
		w->empty_seen = empty;
	}
	/* Take the demand before looking at the hopper: one raised after
	 * this point (by a pop that fails after our push, which re-arms the
	 * hopper's wake) stays for the next pass instead of being cleared
	 * by this one. */
	demand = taker_take_demand(w);
	room = hopper_room(&s->hopper);
	if (!taker_should_take(p, room, atomic_load(&s->level), demand)) {
		/* With room and a demand, the shard is empty: nothing to
		 * take (the filler recounts and wakes us when it appends),
		 * so do not even open a transaction, and keep the demand.
		 * Near the end of a pool every failed draw asks for more,
		 * and a pointless take would make that very draw answer
		 * "refilling" instead of "used up". */
		if (demand && room)
			taker_keep_demand(w);
		return 0;
	}
	rc = pool_take_step(p, w->shard, room, w->items, &moved);
	if (rc || !moved) {
		if (demand)
			taker_keep_demand(w);
		return rc;
	}
	atomic_fetch_add(&w->takes, 1);
	if (atomic_load(&s->level) < p->low_water)
		worker_wake(w->peer);
	return moved ? 1 : 0;
}

/* Filler: one grant and append if the shard is being filled. Same
 * returns as taker_pass. */
static int filler_pass(struct worker *w)
{
	struct pool *p = w->pool;
	struct pool_shard *s = &p->shards[w->shard];
	uint64_t level, added = 0;
	bool fill;
	int rc;

	/* A uniqctl killed during a read would pin pages (store.h). */
	if (clock_mono_ns() - w->check_ns >= 1000000000u) {
		w->check_ns = clock_mono_ns();
		rc = store_reader_check(s->shard.env, s->shard.name);
		if (rc)
			return rc;
	}
	/* Recount: uniqctl may have appended, the taker may have taken. */
	rc = pool_shard_recount(p, w->shard);
	if (rc)
		return rc;
	level = atomic_load(&s->level);
	fill = filler_should_fill(p, level, atomic_load(&w->filling));
	atomic_store(&w->filling, fill);
	if (!fill)
		return 0;
	rc = pool_refill_step(p, w->shard, p->def->shard_size - level,
			      w->scratch, &added);
	if (rc)
		return rc;
	if (!added)
		return 0;
	atomic_fetch_add(&w->grants, 1);
	atomic_fetch_add(&w->values, added);
	/* The hopper may be waiting for these. */
	worker_wake(w->peer);
	return 1;
}

/* How often the maps this worker writes have grown (store.h). */
static unsigned long map_growths(const struct worker *w)
{
	return store_map_growths(w->pool->ledger->env) +
	       store_map_growths(w->pool->shards[w->shard].shard.env);
}

static void *worker_main(void *arg)
{
	struct worker *w = arg;
	int rc;

	/* Linux gives each thread its own nice value: the filler yields to
	 * request threads; a failure only costs latency, not correctness. */
	if (w->role == FILLER &&
	    setpriority(PRIO_PROCESS, (id_t)gettid(), FILLER_NICE))
		log_debug("filler: cannot lower its priority: %s",
			  log_strerror(errno));
	while (!worker_stopping(w)) {
		unsigned long grown = map_growths(w);

		rc = w->role == TAKER ? taker_pass(w) : filler_pass(w);
		if (rc > 0)
			continue;
		if (rc == -ENOSPC && map_growths(w) != grown)
			continue; /* a map was full and has grown: at once */
		if (rc < 0) {
			atomic_fetch_add(&w->errors, 1);
			log_error("%s %s: %s; retrying in 1 s",
				  w->role == TAKER ? "taker" : "filler",
				  w->pool->shards[w->shard].shard.name,
				  store_strerror(rc));
		}
		if (worker_wait(w, rc < 0 ? ERROR_BACKOFF_MS : IDLE_WAIT_MS))
			break;
	}
	return NULL;
}

static void worker_release(struct worker *w)
{
	pthread_cond_destroy(&w->cond);
	pthread_mutex_destroy(&w->lock);
	free(w->scratch);
	free(w->items);
}

static int worker_init(struct worker *w, enum role role, struct pool *p,
		       unsigned shard)
{
	bool mutex = false;
	int rc;

	w->role = role;
	w->pool = p;
	w->shard = shard;
	if (role == FILLER)
		w->scratch = malloc(p->grant_batch * sizeof(*w->scratch));
	else
		w->items = malloc(p->hopper_cap * sizeof(*w->items));
	rc = !w->scratch && !w->items ? ENOMEM : 0;
	if (rc == 0)
		rc = pthread_mutex_init(&w->lock, NULL);
	if (rc)
		goto out;
	mutex = true;
	rc = clock_cond_init(&w->cond);
out:
	if (rc) {
		if (mutex)
			pthread_mutex_destroy(&w->lock);
		free(w->scratch);
		free(w->items);
		w->scratch = NULL;
		w->items = NULL;
	}
	return -rc;
}

/*
 * Before the threads start (and before the server listens), stocks the
 * hopper of one shard: a grant if the shard holds less than a hopper's
 * worth, then a take. So the first requests find values instead of 503.
 * Failures are left to the threads to retry.
 */
static void prime(struct worker *taker, struct worker *filler)
{
	struct pool *p = taker->pool;
	struct pool_shard *s = &p->shards[taker->shard];
	uint64_t level = atomic_load(&s->level), added;
	size_t moved;
	int rc = 0;

	if (level < p->hopper_cap && !atomic_load(&p->used_up))
		rc = pool_refill_step(p, filler->shard, p->hopper_cap - level,
				      filler->scratch, &added);
	if (rc == 0)
		rc = pool_take_step(p, taker->shard, p->hopper_cap,
				    taker->items, &moved);
	if (rc)
		log_warn("%s: priming: %s", s->shard.name, log_strerror(rc));
}

int refill_create(struct pool_set *ps, struct refill **out)
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
	r->w = calloc(n ? n : 1, sizeof(*r->w));
	if (!r->w) {
		free(r);
		return -ENOMEM;
	}
	for (i = 0; i < ps->npools; i++) {
		struct pool *p = &ps->pools[i];

		for (j = 0; j < p->nserving; j++) {
			struct worker *taker = &r->w[k], *filler = &r->w[k + 1];

			rc = worker_init(taker, TAKER, p, j);
			if (rc)
				goto fail;
			r->n = ++k;
			rc = worker_init(filler, FILLER, p, j);
			if (rc)
				goto fail;
			r->n = ++k;
			taker->peer = filler;
			filler->peer = taker;
			rc = hopper_init(&p->shards[j].hopper, p->hopper_cap,
					 p->hopper_low, taker_demand, taker);
			if (rc)
				goto fail;
		}
	}
	for (k = 0; k < n; k += 2)
		prime(&r->w[k], &r->w[k + 1]);
	for (k = 0; k < n; k++) {
		rc = -pthread_create(&r->w[k].tid, NULL, worker_main, &r->w[k]);
		if (rc)
			goto fail;
		r->w[k].started = true;
	}
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
	for (k = 0; k < r->n; k++) {
		pthread_mutex_lock(&r->w[k].lock);
		r->w[k].stop = true;
		pthread_cond_signal(&r->w[k].cond);
		pthread_mutex_unlock(&r->w[k].lock);
	}
	for (k = 0; k < r->n; k++) {
		if (r->w[k].started)
			pthread_join(r->w[k].tid, NULL);
		r->w[k].started = false;
	}
}

void refill_free(struct refill *r)
{
	size_t k;

	if (!r)
		return;
	for (k = 0; k < r->n; k++)
		worker_release(&r->w[k]);
	free(r->w);
	free(r);
}

/*
 * Whether w has work it will do without another draw: the tests of
 * taker_pass and filler_pass, on the shared state. Read from another
 * thread, so it may be stale by the time the caller looks; see
 * refill_stats.
 */
static bool worker_has_work(struct worker *w)
{
	struct pool *p = w->pool;
	struct pool_shard *s = &p->shards[w->shard];
	uint64_t level = atomic_load(&s->level);
	bool demand;

	if (w->role == FILLER)
		return filler_should_fill(p, level, atomic_load(&w->filling));
	pthread_mutex_lock(&w->lock);
	demand = w->demand;
	pthread_mutex_unlock(&w->lock);
	return taker_should_take(p, hopper_room(&s->hopper), level, demand);
}

void refill_stats(struct refill *r, const struct pool *p,
		  struct refill_stats *out)
{
	size_t k;

	memset(out, 0, sizeof(*out));
	if (!r)
		return;
	out->refilling = atomic_load(&p->busy) > 0;
	for (k = 0; k < r->n; k++) {
		if (r->w[k].pool != p)
			continue;
		out->grants += atomic_load(&r->w[k].grants);
		out->values += atomic_load(&r->w[k].values);
		out->takes += atomic_load(&r->w[k].takes);
		out->errors += atomic_load(&r->w[k].errors);
		if (!out->refilling && worker_has_work(&r->w[k]))
			out->refilling = true;
	}
}
