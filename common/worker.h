/*
 * worker.h: one background thread that sleeps until it is woken, asked
 * to stop, or a timeout passes: the loop of the refill takers and fillers
 * (refill.c) and of the code job workers (codegen.c).
 *
 * DESIGN
 *
 * Owner: the module that embeds a struct worker runs its thread and is
 * the only one to start, stop and release it; any thread may wake it.
 * Lock: w->lock guards w->wake (and whatever flags the owner keeps beside
 * it, such as refill's demand). It is a leaf: never held across an LMDB
 * transaction or while another lock is taken. w->stop is atomic, so the
 * thread may test it between steps without the lock; it is set under the
 * lock, so a waiter cannot miss it.
 * Guarantees: a wake that comes while the thread is busy is kept and ends
 * its next wait at once, so no wake-up is lost; several wakes before a
 * wait count as one. A wake after the thread has ended only sets the
 * flag, so the memory must stay until worker_release.
 */
#ifndef UNIQ_WORKER_H
#define UNIQ_WORKER_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>

struct worker {
	pthread_mutex_t lock;
	pthread_cond_t cond;	/* on the monotonic clock (clock.h) */
	bool wake;		/* under lock */
	_Atomic bool stop;	/* written under lock */
	pthread_t tid;
	bool started;		/* the owner's thread only */
};

/* Sets up w (not started). Returns 0, or a negative errno with nothing to
 * release. */
int worker_init(struct worker *w);

/* Starts w's thread running fn(arg). Returns 0 or a negative errno (no
 * thread then). */
int worker_start(struct worker *w, void *(*fn)(void *), void *arg);

/* Wakes w's thread (or keeps the wake for its next wait). Any thread. */
void worker_wake(struct worker *w);

/* For w's own thread: sleeps until woken, asked to stop, or ms
 * milliseconds have passed; takes the wake. Returns true when asked to
 * stop. */
bool worker_wait(struct worker *w, unsigned ms);

/* Whether w was asked to stop. Any thread. */
bool worker_stopping(struct worker *w);

/* Asks w's thread to stop at its next test, without waiting: to stop
 * many workers at once, ask each, then worker_stop each. */
void worker_ask_stop(struct worker *w);

/* Asks w's thread to stop and joins it. Frees nothing; safe to call
 * again, or on a worker never started. */
void worker_stop(struct worker *w);

/* Destroys the lock and condition, after worker_stop. */
void worker_release(struct worker *w);

#endif
