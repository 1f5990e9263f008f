/*
 * worker.c: a background thread's wake, wait and stop; see worker.h.
 */
#include <errno.h>
#include <time.h>

#include "common/clock.h"
#include "common/worker.h"
#include "common/banned.h"

int worker_init(struct worker *w)
{
	int rc;

	w->wake = false;
	atomic_store(&w->stop, false);
	w->started = false;
	rc = pthread_mutex_init(&w->lock, NULL);
	if (rc)
		return -rc;
	rc = clock_cond_init(&w->cond); /* worker_wait's deadlines */
	if (rc)
		pthread_mutex_destroy(&w->lock);
	return -rc;
}

int worker_start(struct worker *w, void *(*fn)(void *), void *arg)
{
	int rc = pthread_create(&w->tid, NULL, fn, arg);

	if (rc == 0)
		w->started = true;
	return -rc;
}

void worker_wake(struct worker *w)
{
	pthread_mutex_lock(&w->lock);
	w->wake = true;
	pthread_cond_signal(&w->cond);
	pthread_mutex_unlock(&w->lock);
}

bool worker_wait(struct worker *w, unsigned ms)
{
	struct timespec ts = clock_mono_deadline(ms);
	bool stop;

	pthread_mutex_lock(&w->lock);
	while (!w->wake && !atomic_load(&w->stop))
		if (pthread_cond_timedwait(&w->cond, &w->lock, &ts) ==
		    ETIMEDOUT)
			break;
	w->wake = false;
	stop = atomic_load(&w->stop);
	pthread_mutex_unlock(&w->lock);
	return stop;
}

bool worker_stopping(struct worker *w)
{
	return atomic_load(&w->stop);
}

void worker_ask_stop(struct worker *w)
{
	pthread_mutex_lock(&w->lock);
	atomic_store(&w->stop, true);
	pthread_cond_signal(&w->cond);
	pthread_mutex_unlock(&w->lock);
}

void worker_stop(struct worker *w)
{
	worker_ask_stop(w);
	if (w->started)
		pthread_join(w->tid, NULL);
	w->started = false;
}

void worker_release(struct worker *w)
{
	pthread_cond_destroy(&w->cond);
	pthread_mutex_destroy(&w->lock);
}
