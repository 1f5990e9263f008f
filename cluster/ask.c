/*
 * ask.c: the ask threads: a FIFO of ops run against etcd by a small
 * pool of threads (ask.h).
 */
#include <errno.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdlib.h>

#include "cluster/ask.h"
#include "common/banned.h"

#define THREADS_MAX 64

struct ask_thread {
	struct ask *a;
	struct etcd *e;		/* this thread's */
	pthread_t tid;
	bool started;
};

struct ask {
	pthread_mutex_t lock;	/* head, tail, stopping; a leaf */
	pthread_cond_t cond;	/* an op queued, or stopping */
	struct ask_op *head, *tail;
	bool stopping;
	struct ask_thread *t;
	unsigned n;
};

/* One thread: takes the oldest op, runs it unlocked, until stopped with
 * nothing queued. */
static void *ask_main(void *arg)
{
	struct ask_thread *t = arg;
	struct ask *a = t->a;
	struct ask_op *op;

	pthread_mutex_lock(&a->lock);
	for (;;) {
		while (!a->head && !a->stopping)
			pthread_cond_wait(&a->cond, &a->lock);
		op = a->head;
		if (!op)
			break;	/* stopping, and nothing queued */
		a->head = op->next;
		if (!a->head)
			a->tail = NULL;
		pthread_mutex_unlock(&a->lock);
		op->rc = 0;
		op->run(op, t->e);
		op->done(op);
		pthread_mutex_lock(&a->lock);
	}
	pthread_mutex_unlock(&a->lock);
	return NULL;
}

int ask_start(struct cluster *c, unsigned nthreads, struct ask **out)
{
	struct ask *a;
	unsigned i;
	int rc;

	*out = NULL;
	if (nthreads < 1 || nthreads > THREADS_MAX)
		return -EINVAL;
	a = calloc(1, sizeof(*a));
	if (!a)
		return -ENOMEM;
	a->t = calloc(nthreads, sizeof(*a->t));
	if (!a->t) {
		free(a);
		return -ENOMEM;
	}
	rc = -pthread_mutex_init(&a->lock, NULL);
	if (rc == 0) {
		rc = -pthread_cond_init(&a->cond, NULL);
		if (rc)
			pthread_mutex_destroy(&a->lock);
	}
	if (rc) {
		free(a->t);
		free(a);
		return rc;
	}
	a->n = nthreads;
	for (i = 0; rc == 0 && i < nthreads; i++) {
		a->t[i].a = a;
		rc = cluster_etcd_open(c, &a->t[i].e);
	}
	for (i = 0; rc == 0 && i < nthreads; i++) {
		rc = -pthread_create(&a->t[i].tid, NULL, ask_main, &a->t[i]);
		a->t[i].started = rc == 0;
	}
	if (rc) {
		ask_free(a);
		return rc;
	}
	*out = a;
	return 0;
}

void ask_submit(struct ask *a, struct ask_op *op)
{
	bool late;

	op->next = NULL;
	pthread_mutex_lock(&a->lock);
	late = a->stopping;
	if (!late) {
		if (a->tail)
			a->tail->next = op;
		else
			a->head = op;
		a->tail = op;
		pthread_cond_signal(&a->cond);
	}
	pthread_mutex_unlock(&a->lock);
	if (late) {
		op->rc = -ESHUTDOWN;
		op->done(op);
	}
}

void ask_stop(struct ask *a)
{
	unsigned i;

	if (!a)
		return;
	pthread_mutex_lock(&a->lock);
	a->stopping = true;
	pthread_cond_broadcast(&a->cond);
	pthread_mutex_unlock(&a->lock);
	for (i = 0; i < a->n; i++) {	/* they run what was queued first */
		if (a->t[i].started)
			pthread_join(a->t[i].tid, NULL);
		a->t[i].started = false;
	}
}

void ask_free(struct ask *a)
{
	unsigned i;

	if (!a)
		return;
	ask_stop(a);
	for (i = 0; i < a->n; i++)
		etcd_free(a->t[i].e);
	free(a->t);
	pthread_cond_destroy(&a->cond);
	pthread_mutex_destroy(&a->lock);
	free(a);
}
