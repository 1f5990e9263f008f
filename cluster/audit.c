/*
 * audit.c: the audit thread: a FIFO of ops run against etcd (audit.h).
 */
#include <errno.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdlib.h>

#include "cluster/audit.h"
#include "common/worker.h"
#include "common/banned.h"

struct audit {
	struct worker w;
	pthread_mutex_t lock;	/* head, tail, stopping */
	struct audit_op *head, *tail;
	bool stopping;
	struct etcd *e;		/* the audit thread's */
	bool thread;
};

/* Takes the whole queue. */
static struct audit_op *take_all(struct audit *a)
{
	struct audit_op *ops;

	pthread_mutex_lock(&a->lock);
	ops = a->head;
	a->head = a->tail = NULL;
	pthread_mutex_unlock(&a->lock);
	return ops;
}

static void run_all(struct audit *a)
{
	struct audit_op *op, *next;

	for (op = take_all(a); op; op = next) {
		next = op->next;
		op->rc = 0;
		op->run(op, a->e);
		op->done(op);
	}
}

static void *audit_main(void *arg)
{
	struct audit *a = arg;

	while (!worker_wait(&a->w, 1000))
		run_all(a);
	run_all(a);	/* what came before the stop */
	return NULL;
}

int audit_start(struct cluster *c, struct audit **out)
{
	struct audit *a;
	int rc;

	*out = NULL;
	a = calloc(1, sizeof(*a));
	if (!a)
		return -ENOMEM;
	rc = pthread_mutex_init(&a->lock, NULL);
	if (rc) {
		free(a);
		return -rc;
	}
	rc = worker_init(&a->w);
	if (rc) {
		pthread_mutex_destroy(&a->lock);
		free(a);
		return rc;
	}
	rc = cluster_etcd_open(c, &a->e);
	if (rc == 0)
		rc = worker_start(&a->w, audit_main, a);
	if (rc) {
		audit_free(a);
		return rc;
	}
	a->thread = true;
	*out = a;
	return 0;
}

void audit_submit(struct audit *a, struct audit_op *op)
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
	}
	pthread_mutex_unlock(&a->lock);
	if (late) {
		op->rc = -ESHUTDOWN;
		op->done(op);
		return;
	}
	worker_wake(&a->w);
}

void audit_stop(struct audit *a)
{
	if (!a)
		return;
	pthread_mutex_lock(&a->lock);
	a->stopping = true;
	pthread_mutex_unlock(&a->lock);
	if (a->thread)
		worker_stop(&a->w);	/* runs what was queued first */
	a->thread = false;
}

void audit_free(struct audit *a)
{
	if (!a)
		return;
	audit_stop(a);
	etcd_free(a->e);
	worker_release(&a->w);
	pthread_mutex_destroy(&a->lock);
	free(a);
}
