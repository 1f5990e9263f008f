/*
 * refill.c: the refill threads; see the DESIGN block in refill.h.
 */
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "common/log.h"
#include "refill/refill.h"
#include "common/banned.h"

#define IDLE_WAIT_MS 200
#define ERROR_BACKOFF_MS 1000

struct worker {
	struct pool *pool;
	unsigned shard;
	pthread_t tid;
	bool started;
	pthread_mutex_t lock;
	pthread_cond_t cond;
	bool wake;		/* under lock */
	bool stop;		/* under lock */
	bool filling;		/* below low water once: fill up to shard_size */
	uint64_t *scratch;	/* grant_batch values */
	struct shard_item *items; /* hopper_cap entries */
	_Atomic uint64_t grants, values, takes, errors;
};

struct refill {
	struct worker *w;
	size_t n;
};

/* The hopper's wake callback: called without the hopper lock held. */
static void worker_wake(void *arg)
{
	struct worker *w = arg;

	pthread_mutex_lock(&w->lock);
	w->wake = true;
	pthread_cond_signal(&w->cond);
	pthread_mutex_unlock(&w->lock);
}

/* Sleeps up to ms unless woken; returns true when asked to stop. */
static bool worker_wait(struct worker *w, unsigned ms)
{
	struct timespec ts;
	bool stop;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	ts.tv_sec += ms / 1000;
	ts.tv_nsec += (long)(ms % 1000) * 1000000L;
	if (ts.tv_nsec >= 1000000000L) {
		ts.tv_sec++;
		ts.tv_nsec -= 1000000000L;
	}
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

/*
 * One pass of the loop in refill.h. Returns 1 if it did some work (so
 * the loop goes round again at once), 0 if there was nothing to do, or a
 * negative errno.
 */
static int worker_pass(struct worker *w)
{
	struct pool *p = w->pool;
	struct pool_shard *s = &p->shards[w->shard];
	size_t room, moved = 0;
	uint64_t level, added = 0;
	int rc, did = 0;

	room = hopper_room(&s->hopper);
	if (room >= p->hopper_cap / 2 && room > 0) {
		rc = pool_take_step(p, w->shard, room, w->items, &moved);
		if (rc)
			return rc;
		if (moved) {
			atomic_fetch_add(&w->takes, 1);
			did = 1;
		}
	}
	if (!did) {
		/* Pick up what another process appended meanwhile. */
		rc = shard_count(&s->shard, &level);
		if (rc)
			return rc;
		atomic_store(&s->level, level);
	}
	level = atomic_load(&s->level);
	if (level < p->low_water || level == 0)
		w->filling = true;
	if (level >= p->def->shard_size)
		w->filling = false;
	if (w->filling) {
		if (atomic_load(&p->used_up)) {
			w->filling = false;
			return did;
		}
		rc = pool_refill_step(p, w->shard, p->def->shard_size - level,
				      w->scratch, &added);
		if (rc)
			return rc;
		if (added) {
			atomic_fetch_add(&w->grants, 1);
			atomic_fetch_add(&w->values, added);
			did = 1;
		}
	}
	return did;
}

static void *worker_main(void *arg)
{
	struct worker *w = arg;
	int rc;

	while (!worker_stopping(w)) {
		rc = worker_pass(w);
		if (rc > 0)
			continue;
		if (rc < 0) {
			atomic_fetch_add(&w->errors, 1);
			log_error("refill %s: %s; retrying in 1 s",
				  w->pool->shards[w->shard].shard.name,
				  log_strerror(rc));
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

static int worker_init(struct worker *w, struct pool *p, unsigned shard)
{
	pthread_condattr_t ca;
	int rc;

	w->pool = p;
	w->shard = shard;
	w->scratch = malloc(p->grant_batch * sizeof(*w->scratch));
	w->items = malloc(p->hopper_cap * sizeof(*w->items));
	if (!w->scratch || !w->items) {
		free(w->scratch);
		free(w->items);
		return -ENOMEM;
	}
	rc = pthread_mutex_init(&w->lock, NULL);
	if (rc)
		goto fail_mutex;
	rc = pthread_condattr_init(&ca);
	if (rc)
		goto fail_cond;
	rc = pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	if (rc == 0)
		rc = pthread_cond_init(&w->cond, &ca);
	pthread_condattr_destroy(&ca);
	if (rc)
		goto fail_cond;
	return 0;
fail_cond:
	pthread_mutex_destroy(&w->lock);
fail_mutex:
	free(w->scratch);
	free(w->items);
	return -rc;
}

int refill_create(struct pool_set *ps, struct refill **out)
{
	struct refill *r;
	size_t i, n = 0, k = 0, inited = 0;
	unsigned j;
	int rc;

	*out = NULL;
	for (i = 0; i < ps->npools; i++)
		n += ps->pools[i].nserving;
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

		for (j = 0; j < p->nserving; j++, k++) {
			rc = worker_init(&r->w[k], p, j);
			if (rc)
				goto fail;
			inited++;
			rc = hopper_init(&p->shards[j].hopper, p->hopper_cap,
					 p->hopper_cap / 2, worker_wake,
					 &r->w[k]);
			if (rc)
				goto fail;
		}
	}
	r->n = n;
	for (k = 0; k < n; k++) {
		rc = -pthread_create(&r->w[k].tid, NULL, worker_main, &r->w[k]);
		if (rc)
			goto fail;
		r->w[k].started = true;
	}
	*out = r;
	return 0;
fail:
	r->n = inited;
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

void refill_stats(struct refill *r, const struct pool *p,
		  struct refill_stats *out)
{
	size_t k;

	memset(out, 0, sizeof(*out));
	if (!r)
		return;
	for (k = 0; k < r->n; k++) {
		if (r->w[k].pool != p)
			continue;
		out->grants += atomic_load(&r->w[k].grants);
		out->values += atomic_load(&r->w[k].values);
		out->takes += atomic_load(&r->w[k].takes);
		out->errors += atomic_load(&r->w[k].errors);
	}
}
