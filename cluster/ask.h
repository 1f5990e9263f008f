/*
 * ask.h: work a request puts to etcd without holding an HTTP thread,
 * run on a small pool of threads, each with a struct etcd of its own:
 * which node's block holds a value (GET /pools/{name}/values/{v} of a
 * value this node did not issue, server/api_random.c), and every lease
 * operation of a cluster node (pools/clease.h). An op is run on one of
 * the threads with that thread's struct etcd, then done() is called
 * there, which resumes the request (server/api_route.h).
 *
 * DESIGN
 *
 * Threads: any thread submits (ask_submit); the pool's threads alone
 * run ops and call done(), each op on one thread, up to nthreads ops at
 * once, so that etcd can take several in one batch (one fsync).
 * Queue: a FIFO under a->lock, a leaf, never held while an op runs; ops
 * start in submission order and may end in any order. Guarantees: every
 * submitted op gets exactly one done(): run first while the threads
 * live (what is queued when ask_stop begins still runs), or with
 * op->rc = -ESHUTDOWN (and no run) once ask_stop has begun, on the
 * caller's thread.
 */
#ifndef UNIQ_ASK_H
#define UNIQ_ASK_H

#include "cluster/cluster.h"

#define ASK_THREADS 8		/* the server's pool (main.c) */

struct ask_op {
	/* Runs on a thread of the pool: sets op->rc (0, or what the op's
	 * owner makes of it: a negative errno, an outcome). */
	void (*run)(struct ask_op *op, struct etcd *e);
	/* Then, on the same thread (or the submitter's after a stop).
	 * Must not block. */
	void (*done)(struct ask_op *op);
	int rc;
	struct ask_op *next;	/* the queue's */
};

struct ask;

/* Starts nthreads (1 to 64) threads, each with a client of c's etcd.
 * Returns 0 with *out set, or a negative errno (-EINVAL for nthreads;
 * no thread is left running). */
int ask_start(struct cluster *c, unsigned nthreads, struct ask **out);

/* Queues op (run and done set). Any thread. */
void ask_submit(struct ask *a, struct ask_op *op);

/* Runs what is queued, stops the threads; later submissions are done at
 * once with -ESHUTDOWN. a stays valid until ask_free. Safe with NULL. */
void ask_stop(struct ask *a);

/* Frees a, once no thread can submit. Safe with NULL. */
void ask_free(struct ask *a);

#endif
