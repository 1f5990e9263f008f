/*
 * committer.c: group commit into the ledger; see the DESIGN block in
 * committer.h.
 */
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "common/clock.h"
#include "common/log.h"
#include "common/store.h"
#include "ledger/committer.h"
#include "common/banned.h"

#define MAX_TICKS 8
#define BATCH_MAX 4096

struct tick {
	commit_tick_fn fn;
	commit_tick_done_fn done;
	void *arg;
	unsigned ms;
	uint64_t next_ms;	/* CLOCK_MONOTONIC ms when it is next due */
	bool ran;		/* in the current batch */
};

struct committer {
	struct ledger *lg;
	pthread_t tid;
	pthread_mutex_t lock;
	pthread_cond_t cond;	/* CLOCK_MONOTONIC deadlines */
	struct commit_op *head;	/* under lock: newest first */
	bool stop;		/* under lock */
	/* Slot i < nticks: written once by committer_add_tick under lock
	 * before nticks counts it, then by the committer thread alone,
	 * which reads nticks under lock. */
	struct tick ticks[MAX_TICKS];
	unsigned nticks;	/* under lock */
	_Atomic uint64_t batches, ops;
};

/* Milliseconds of CLOCK_MONOTONIC: when ticks are due. */
static uint64_t mono_ms(void)
{
	return clock_mono_ns() / 1000000u;
}

/* The earliest next_ms of the first n ticks (UINT64_MAX: none).
 * Committer thread. */
static uint64_t next_tick_ms(struct committer *c, unsigned n)
{
	uint64_t next = UINT64_MAX;
	unsigned i;

	for (i = 0; i < n; i++)
		if (c->ticks[i].next_ms < next)
			next = c->ticks[i].next_ms;
	return next;
}

/*
 * Runs the due ones of the first n ticks in txn, until one fails. Due
 * times are on CLOCK_MONOTONIC, so a step of the wall clock neither stalls
 * nor races the ticks; the time they are given is the wall clock, since
 * what they compare it with is stored and shown as dates.
 */
static int run_ticks(struct committer *c, unsigned n, MDB_txn *txn,
		     uint64_t mono)
{
	uint64_t wall = clock_now_ms();
	unsigned i;
	int rc;

	for (i = 0; i < n; i++) {
		struct tick *t = &c->ticks[i];

		if (mono < t->next_ms)
			continue;
		t->next_ms = mono + t->ms;
		t->ran = true;
		rc = t->fn(t->arg, txn, wall);
		if (rc) {
			log_error("committer: periodic work failed: %s; it "
				  "is dropped until its next turn",
				  log_strerror(rc));
			return rc;
		}
	}
	return 0;
}

/*
 * Runs the due ticks (of the first n), then applies, commits and reports
 * one batch (a FIFO list, possibly empty). A failed tick's writes are
 * aborted on their own, so that the operations never pay for it.
 */
static void run_batch(struct committer *c, struct commit_op *list,
		      unsigned n)
{
	struct commit_op *op, *next;
	MDB_txn *txn;
	uint64_t nops = 0, mono = mono_ms();
	unsigned i;
	int rc, tick_rc = 0;

	rc = store_err(store_txn_begin(c->lg->env, NULL, 0, &txn));
	if (rc == 0 && next_tick_ms(c, n) <= mono) {
		tick_rc = run_ticks(c, n, txn, mono);
		if (tick_rc) {
			store_txn_abort(txn);
			rc = store_err(store_txn_begin(c->lg->env, NULL, 0,
						       &txn));
		}
	}
	if (rc == 0) {
		/* No nested transaction per operation (it would roll a
		 * failed one back for us), since LMDB allocates a 2 MiB page
		 * list for each, which costs more than the operation: hence
		 * outcome.h's rule, an outcome before any write. */
		for (op = list; op && rc == 0; op = op->next, nops++) {
			op->rc = op->apply(op, txn);
			if (op->rc < 0)	/* an errno: the batch stops */
				rc = op->rc;
		}
		rc = store_finish(txn, rc);
	}
	if (rc)
		log_error("committer: a batch of %llu operations failed: %s",
			  (unsigned long long)nops, log_strerror(rc));
	else
		atomic_fetch_add(&c->batches, 1);
	atomic_fetch_add(&c->ops, nops);
	for (op = list; op; op = next) {
		next = op->next; /* done() may free op */
		op->done(op, rc ? rc : op->rc);
	}
	for (i = 0; i < n; i++) {
		if (c->ticks[i].ran && c->ticks[i].done)
			c->ticks[i].done(c->ticks[i].arg,
					 tick_rc ? tick_rc : rc);
		c->ticks[i].ran = false;
	}
}

/* Takes up to BATCH_MAX queued operations, oldest first (so operations
 * apply in submission order). Under lock. */
static struct commit_op *take_batch(struct committer *c)
{
	struct commit_op *list = NULL, *op, *keep = NULL, **tail;
	size_t n = 0;

	/* The queue is newest first: reverse it. */
	while ((op = c->head)) {
		c->head = op->next;
		op->next = list;
		list = op;
	}
	/* Keep at most BATCH_MAX, put the rest back (oldest first). */
	for (tail = &list; *tail && n < BATCH_MAX; tail = &(*tail)->next)
		n++;
	keep = *tail;
	*tail = NULL;
	while (keep) { /* back onto the queue, newest first */
		op = keep;
		keep = op->next;
		op->next = c->head;
		c->head = op;
	}
	return list;
}

static void *committer_main(void *arg)
{
	struct committer *c = arg;
	struct commit_op *list;
	unsigned n;
	bool stop;

	for (;;) {
		pthread_mutex_lock(&c->lock);
		for (;;) {
			uint64_t due, now = mono_ms();
			struct timespec ts;

			n = c->nticks;
			if (c->head || c->stop)
				break;
			due = next_tick_ms(c, n);
			if (due <= now)
				break;
			/* Until the next tick is due, a second at most (a
			 * submit, a stop or a new tick signals anyway). */
			ts = clock_mono_deadline(due - now < 1000 ?
						 (unsigned)(due - now) : 1000);
			/* Woken, timed out or spurious: look again. */
			(void)pthread_cond_timedwait(&c->cond, &c->lock, &ts);
		}
		list = take_batch(c);
		stop = c->stop && !c->head;
		pthread_mutex_unlock(&c->lock);
		if (list || next_tick_ms(c, n) <= mono_ms())
			run_batch(c, list, n);
		if (stop && !list)
			break;
	}
	return NULL;
}

int committer_start(struct ledger *lg, struct committer **out)
{
	struct committer *c;
	int rc;

	*out = NULL;
	c = calloc(1, sizeof(*c));
	if (!c)
		return -ENOMEM;
	c->lg = lg;
	rc = pthread_mutex_init(&c->lock, NULL);
	if (rc)
		goto fail_mutex;
	rc = clock_cond_init(&c->cond); /* CLOCK_MONOTONIC deadlines */
	if (rc)
		goto fail_cond;
	rc = pthread_create(&c->tid, NULL, committer_main, c);
	if (rc)
		goto fail_thread;
	*out = c;
	return 0;
fail_thread:
	pthread_cond_destroy(&c->cond);
fail_cond:
	pthread_mutex_destroy(&c->lock);
fail_mutex:
	free(c);
	return -rc;
}

int committer_add_tick(struct committer *c, unsigned ms, commit_tick_fn tick,
		       commit_tick_done_fn done, void *arg)
{
	int rc = 0;

	pthread_mutex_lock(&c->lock);
	if (c->nticks == MAX_TICKS) {
		rc = -ENOSPC;
	} else {
		c->ticks[c->nticks].fn = tick;
		c->ticks[c->nticks].done = done;
		c->ticks[c->nticks].arg = arg;
		c->ticks[c->nticks].ms = ms;
		c->ticks[c->nticks].next_ms = mono_ms() + ms;
		c->nticks++;
		pthread_cond_signal(&c->cond);
	}
	pthread_mutex_unlock(&c->lock);
	return rc;
}

void committer_submit(struct committer *c, struct commit_op *op)
{
	bool stopped;

	pthread_mutex_lock(&c->lock);
	stopped = c->stop;
	if (!stopped) {
		op->next = c->head;
		c->head = op;
		pthread_cond_signal(&c->cond);
	}
	pthread_mutex_unlock(&c->lock);
	if (stopped)
		op->done(op, -ESHUTDOWN);
}

void committer_stop(struct committer *c)
{
	if (!c)
		return;
	pthread_mutex_lock(&c->lock);
	c->stop = true;
	pthread_cond_signal(&c->cond);
	pthread_mutex_unlock(&c->lock);
	pthread_join(c->tid, NULL);
}

void committer_free(struct committer *c)
{
	if (!c)
		return;
	pthread_cond_destroy(&c->cond);
	pthread_mutex_destroy(&c->lock);
	free(c);
}

void committer_stats(struct committer *c, uint64_t *batches, uint64_t *ops)
{
	*batches = c ? atomic_load(&c->batches) : 0;
	*ops = c ? atomic_load(&c->ops) : 0;
}
