/*
 * clease.h: a lease pool of a cluster node (uniqd --etcd): the leases
 * live in etcd, not in the node's ledger, so that a number is never out
 * to two holders across nodes (issue 12). lease.c hands a cluster pool's
 * operations here (lease_cluster_attach); the routes do not change.
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
 * range), which also says when all are out. Return reads the key, checks
 * the holder, and deletes it comparing its mod revision; renew puts the
 * new expiry comparing it; reset deletes the prefix. Nothing is invented
 * locally: when etcd cannot be reached (or answers an error), or the
 * node's session is not surely alive (cluster_fence_ok, before a borrow),
 * the operation fails with OUTCOME_CLUSTER_DOWN and did nothing, or, for
 * a write that timed out, nothing a retry cannot see.
 *
 * DESIGN
 *
 * Threads: clease_apply runs on the ledger's committer thread (lease.c's
 * apply) and alone uses the struct clease's etcd client, bitmap, cursor
 * and lease cache, so they have no lock; the client is opened on first
 * use. It writes nothing to the ledger (its transaction is left alone),
 * so a cluster lease op never aborts a batch: every failure is an
 * outcome. clease_list and clease_count run on any thread, each with a
 * client of its own for the call. clease_free runs once the committer
 * has stopped.
 * Cost: the committer waits for etcd (one transaction a borrow, a read
 * and a transaction a return), so lease ops of a cluster node are
 * serialized on etcd's latency; see clease.c for why this is kept.
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

/* Sets up the cluster side of lease pool d for node c (which must
 * outlive it). Returns 0 with *out set, or -ENOMEM / -ENAMETOOLONG (a
 * key of the pool would not fit). */
int clease_new(struct clease **out, struct cluster *c,
	       const struct pool_def *d);

/* Frees cl and closes its client. Safe with NULL. */
void clease_free(struct clease *cl);

/*
 * Does r (any verb, lease.h) in etcd at wall-clock time now_ms: fills
 * r->lease (borrow, renew, return) or r->count (reset). Returns 0,
 * OUTCOME_ALL_OUT, OUTCOME_NOT_OUT, OUTCOME_OTHER_HOLDER,
 * OUTCOME_NOT_IN_POOL, or OUTCOME_CLUSTER_DOWN (logged, at most every
 * 5 s); never a negative errno. Committer thread only.
 */
int clease_apply(struct clease *cl, struct lease_req *r, uint64_t now_ms);

/* The cluster's leases of the pool, in number order, into a malloc'd
 * array (caller frees). Any thread. Returns 0, -EAGAIN (etcd cannot be
 * reached), -EPROTO (a value that is not a lease's) or another negative
 * errno. */
int clease_list(struct clease *cl, struct lease_info **out, size_t *n);

/* How many leases of the pool are out in the cluster. Any thread.
 * Returns 0 or a negative errno (-EAGAIN: etcd cannot be reached). */
int clease_count(struct clease *cl, uint64_t *n);

#endif
