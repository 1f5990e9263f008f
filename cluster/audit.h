/*
 * audit.h: questions a request puts to etcd without holding an HTTP
 * thread: which node's block holds a value (GET /pools/{name}/values/{v}
 * of a value this node did not issue). An op is run on the audit thread
 * with that thread's struct etcd, then done() is called there, which
 * resumes the request (server/api_route.h).
 *
 * DESIGN
 *
 * Threads: any thread submits (audit_submit); the audit thread alone runs
 * ops and calls done(). Queue: a FIFO under a->lock, a leaf, never held
 * while an op runs. Guarantees: every submitted op gets exactly one
 * done(): run first while the thread lives, or with op->rc = -ESHUTDOWN
 * (and no run) once audit_stop has begun, on the caller's thread.
 */
#ifndef UNIQ_AUDIT_H
#define UNIQ_AUDIT_H

#include "cluster/cluster.h"

struct audit_op {
	/* Runs on the audit thread: sets op->rc (0 or a negative errno). */
	void (*run)(struct audit_op *op, struct etcd *e);
	/* Then, on the same thread (or the submitter's after a stop).
	 * Must not block. */
	void (*done)(struct audit_op *op);
	int rc;
	struct audit_op *next;	/* the queue's */
};

struct audit;

/* Starts the audit thread with a client of c's etcd. Returns 0 with *out
 * set, or a negative errno. */
int audit_start(struct cluster *c, struct audit **out);

/* Queues op (run and done set). Any thread. */
void audit_submit(struct audit *a, struct audit_op *op);

/* Runs what is queued, stops the thread; later submissions are done at
 * once with -ESHUTDOWN. a stays valid until audit_free. Safe with NULL. */
void audit_stop(struct audit *a);

/* Frees a, once no thread can submit. Safe with NULL. */
void audit_free(struct audit *a);

#endif
