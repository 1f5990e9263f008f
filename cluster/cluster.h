/*
 * cluster.h: a uniqd node's membership of a cluster kept on etcd: its
 * session, the pools' definitions, and the fence that stops a node from
 * acting on state it may no longer hold.
 *
 * Keys (all under "/uniqd/"; values are JSON):
 *   node/<node>                 this node's session: {"node", "pid",
 *                               "started_ms", "dir"}, attached to its etcd
 *                               lease
 *                               (TTL cluster_ttl); created only if absent,
 *                               so two processes never share a name
 *   seen/<node>                 {"node", "first_ms", "last_ms"}: when the
 *                               node was last in touch (status)
 *   pool/<name>                 the pool's definition, created once by the
 *                               first node (cluster_pool_define)
 *   pool/<name>/counter         random pools: the next permutation index
 *                               no node has reserved (decimal)
 *   pool/<name>/block/<first>   a block reserved by a node: {"node",
 *                               "first", "count", "ms", "dir"}; <first> is
 *                               20 decimal digits so key order is index
 *                               order; "dir" the data directory's id
 *   pool/<name>/last/<node>     that node's latest block (reserve.h)
 *   seq/<name>                  sequences: {"day", "n", "node"}, the
 *                               cluster's last id and who took it
 *                               (pools/seq.h)
 *   lease/<name>/<number>       leases out (clease.h)
 *
 * DESIGN
 *
 * Threads: cluster_start() runs on main; it starts the session thread,
 * which alone renews the session (keepalive every ttl/3) and, when etcd
 * says the lease is gone (a SIGSTOP longer than the TTL, a partition),
 * makes a new session. Any thread reads the fence (cluster_fence_ok):
 * an atomic deadline on CLOCK_MONOTONIC, set by the session thread to
 * send time of the last renewal that etcd answered + its TTL - 1 s. The
 * lease cannot have expired before that deadline (etcd counts from when
 * it received the renewal, which is after we sent it), so a node that
 * acts only while cluster_fence_ok() holds never acts on a session etcd
 * could have ended. Every thread that talks to etcd has its own struct
 * etcd (cluster_etcd_open); none is shared.
 * Guarantees: writes that depend on the session (block reservations)
 * also compare the session key's create revision inside their
 * transaction (cluster_session), so a write can never land for a
 * session that is gone, whatever the clocks say.
 */
#ifndef UNIQ_CLUSTER_H
#define UNIQ_CLUSTER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "cluster/etcd.h"
#include "common/config.h"
#include "common/perm.h"

#define CLUSTER_PREFIX "/uniqd/"
#define CLUSTER_NODE_MAX 64	/* bytes of a node name */
#define CLUSTER_TTL 10		/* seconds of a session lease */
#define CLUSTER_TIMEOUT_MS 2000	/* one request to one etcd member */

struct cluster;

/*
 * Joins the cluster of endpoints (a comma-separated list of etcd client
 * URLs) as node `node` (1 to CLUSTER_NODE_MAX of [A-Za-z0-9._-]): makes
 * the session, records the node in seen/, and starts the session thread.
 * dir_id names the data directory (random, kept in it: main.c); the
 * caller holds the directory's lock, so a session of this name made from
 * the same directory belongs to a process that is gone (a kill -9): it
 * is revoked and replaced at once. A session of that name from another
 * directory is waited out for up to a TTL, then refused with -EADDRINUSE
 * and a sentence in err. -EAGAIN when etcd cannot be reached. Returns 0
 * with *out set, or a negative errno with a sentence in err.
 */
int cluster_start(struct cluster **out, const char *endpoints,
		  const char *node, const char *dir_id, char *err,
		  size_t errlen);

#define CLUSTER_DIR_ID_FILE "cluster.id"

/*
 * The id of data directory dir in the cluster: 32 hex digits in
 * <dir>/cluster.id, into id. With create, made (random, written whole:
 * a temporary file, synced, renamed) when missing; the caller then holds
 * the directory's lock. Returns 0, -ENOENT (missing, without create),
 * -EPROTO (a damaged file, said in the log), or a negative errno.
 */
int cluster_dir_id_read(const char *dir, bool create, char id[33]);

/* Ends the session (revokes its lease, so the name is free at once),
 * stops the session thread and frees c. Safe with NULL. */
void cluster_stop(struct cluster *c);

/* The node's name, the endpoints as given, and the id of its data
 * directory (cluster_start's dir_id). */
const char *cluster_node(const struct cluster *c);
const char *cluster_dir_id(const struct cluster *c);
const char *cluster_endpoints(const struct cluster *c);

/* True while the session surely lives (see DESIGN). Any thread. */
bool cluster_fence_ok(const struct cluster *c);

/* The session key ("/uniqd/node/<node>") and its create revision now, for
 * a compare in a transaction that must fail if the session changed.
 * *create_rev is 0 while there is no session. Any thread. */
void cluster_session(const struct cluster *c, char *key, size_t keylen,
		     int64_t *create_rev);

/* Opens a client of c's endpoints for the calling thread. */
int cluster_etcd_open(const struct cluster *c, struct etcd **out);

/*
 * Makes sure pool d is defined in etcd: the first node defines it (kind,
 * range and, for random pools, key: a fresh random key, or *key when
 * have_key; for sequences the time zone, the digits being the range); a
 * later one checks that its d matches and learns the key. A mismatch is
 * refused with -EINVAL and a sentence in err naming what differs (never
 * the key). key (PERM_KEY_LEN bytes, random pools) is filled with the
 * cluster's key. Returns 0 or a negative errno.
 */
int cluster_pool_define(struct cluster *c, struct etcd *e,
			const struct pool_def *d, uint8_t *key, bool have_key,
			char *err, size_t errlen);

/* Writes a key of the layout above into buf: cluster_key(buf, len,
 * "pool/%s/counter", name). Returns its length, or -ENAMETOOLONG. */
int cluster_key(char *buf, size_t len, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

#endif
