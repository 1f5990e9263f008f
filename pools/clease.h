/*
 * clease.h: a lease pool of a cluster node (uniqd --etcd): the leases
 * live in etcd, not in the node's ledger, so that a number is never out
 * to two holders across nodes (issue 12). lease_cluster_attach makes a
 * pool one; its routes then submit its operations here (clease_submit)
 * instead of to the committer.
 *
 * Keys (cluster.h's layout): /uniqd/lease/<pool>/<number, "%020lld"> =
 * {"number", "holder", "node", "borrowed_ms", "expires_ms"} (wall-clock
 * ms; expires_ms 0: never). A lease that expires is attached to an etcd
 * lease whose TTL ends no earlier than expires_ms, so etcd deletes it at
 * expiry on every node's behalf, also when the node that lent it is dead.
 * Leases expiring in the same second share one etcd lease (a small cache
 * per pool: expiry second -> etcd lease id, granted with TTL = seconds
 * until then + 1); ttl 0 attaches none.
 *
 * Operations, each a compare-and-swap whose retry finds out what
 * happened (etcd.h): borrow creates the key of a candidate number only if
 * absent (version 0), and only while this node's session is the one it
 * checked (the session key's create revision): a failed compare means
 * another node has the number, and another is tried. Candidates walk
 * from a per-node offset (a hash of the node name) over a bitmap of the
 * numbers this node last saw out; after misses, or when the bitmap has no
 * free number, the pool's keys are read (keys only, 1000 numbers a
 * range), which also says when all are out. Return deletes the key
 * comparing its mod revision: the one this node remembers from its own
 * borrow or renew (and, with a holder, the value it wrote: one
 * transaction, whose failure branch reads the key), else the one a read
 * finds, after checking the holder; renew puts the new expiry comparing
 * it; reset deletes the prefix. Nothing is invented locally: when etcd
 * cannot be reached (or answers an error), or the node's session is not
 * surely alive (cluster_fence_ok, before a borrow), the operation fails
 * with OUTCOME_CLUSTER_DOWN and did nothing, or, for a write that timed
 * out, nothing a retry cannot see.
 *
 * DESIGN
 *
 * Threads: operations run on the ask threads (cluster/ask.h:
 * clease_submit), several at once, each with its thread's etcd client,
 * so that etcd commits concurrent ones in one batch; the committer is
 * not involved (a cluster lease op writes nothing to the ledger).
 * Shared state: the bitmaps (numbers seen out, numbers a borrow is
 * trying now), the cursor, the cache of etcd leases per expiry second
 * and what this node lent (mod revision, times) are under cl->lock, a
 * leaf held only to read or change them, never across an etcd request:
 * a borrow claims its candidate under it (so two borrows of this node
 * never try one number), sends its transaction unlocked, and records the
 * answer under it again. They are hints: etcd's compares decide, so a
 * stale bit costs a retry, never a number lent twice. clease_list and
 * clease_count run on any thread, each with a client of its own for the
 * call; the HTTP threads call them (GET /checked, GET /pools), so each
 * member gets 500 ms, not the ask threads' 2 s (a thread held up to 1.5 s
 * with three members unreachable: moving these reads to the ask threads
 * is the next step). clease_free runs once the ask threads have stopped.
 */
#ifndef UNIQ_CLEASE_H
#define UNIQ_CLEASE_H

#include <stddef.h>
#include <stdint.h>

#include "cluster/cluster.h"
#include "common/config.h"

struct clease;
struct lease_req;
struct lease_info;
struct ask;

/* Sets up the cluster side of lease pool d for node c (which must
 * outlive it). Returns 0 with *out set, or -ENOMEM / -ENAMETOOLONG (a
 * key of the pool would not fit). */
int clease_new(struct clease **out, struct cluster *c,
	       const struct pool_def *d);

/* Frees cl. Safe with NULL. */
void clease_free(struct clease *cl);

/*
 * Does r (any verb, lease.h; r->pool a cluster pool) in etcd on one of
 * au's threads, then calls r->op.done(&r->op, rc) there (or on this
 * thread with -ESHUTDOWN once au is stopping): rc as clease_apply's.
 * Any thread; r->op.done must not block.
 */
void clease_submit(struct ask *au, struct lease_req *r);

/*
 * Does r in etcd with client e (the calling thread's own) at wall-clock
 * time now_ms: fills r->lease (borrow, renew, return) or r->count
 * (reset). Returns 0, OUTCOME_ALL_OUT, OUTCOME_NOT_OUT,
 * OUTCOME_OTHER_HOLDER, OUTCOME_NOT_IN_POOL, or OUTCOME_CLUSTER_DOWN
 * (logged, at most every 5 s); never a negative errno. Any thread, any
 * number at once.
 */
int clease_apply(struct clease *cl, struct etcd *e, struct lease_req *r,
		 uint64_t now_ms);

/* The cluster's leases of the pool, in number order, into a malloc'd
 * array (caller frees). Any thread. Returns 0, -EAGAIN (etcd cannot be
 * reached), -EPROTO (a value that is not a lease's) or another negative
 * errno. */
int clease_list(struct clease *cl, struct lease_info **out, size_t *n);

/* How many leases of the pool are out in the cluster. Any thread.
 * Returns 0 or a negative errno (-EAGAIN: etcd cannot be reached). */
int clease_count(struct clease *cl, uint64_t *n);

#endif
