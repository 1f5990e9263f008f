/*
 * reserve.h: a cluster node reserves blocks of its random pools'
 * permutation indices from etcd, ahead of need, so that the request path
 * never waits on etcd (cluster.h has the keys).
 *
 * A reservation is one etcd transaction: compare pool/<name>/counter's
 * mod revision (or its absence) and the session key's create revision;
 * put the counter advanced by count and pool/<name>/block/<first> =
 * {"node", "first", "count", "ms", "dir"}. Only then is the block added to the
 * node's ledger (ledger_block_add), and only from the ledger do its
 * indices become grants, values, shard entries. A crash between the two
 * leaves a block in etcd that the ledger lacks, at most the node's last
 * one: reserve_start adopts it (pool/<name>/last/<node>) when it was
 * reserved from this data directory, so a restarted node resumes its own
 * blocks; a node that never comes back, or its name on another data
 * directory, leaves its blocks burned, never given to another node.
 *
 * Sizes: a pool's first block fills its shards once (shards x
 * shard_size, 1,000 to 2^20); then, as Meituan Leaf does with segments,
 * a block that lasted less than 1 s doubles the next one (up to 2^24)
 * and one that lasted more than 30 s halves it, so a node at full speed
 * reserves about once a second. Near the end of the range a block is at
 * most an eighth of what is left (at least 64), so little is stranded
 * in the blocks of nodes that are gone.
 *
 * DESIGN
 *
 * Threads: one reserver thread per node, for every cluster pool; it owns
 * its struct etcd and the sizes. It writes the ledger (ledger_block_add,
 * its own write transaction) and reads it; the refill threads grant from
 * the blocks (ledger_grant) and, finding none, wait and retry
 * (g.waiting), so neither waits for the other and no lock is shared.
 * When etcd is unreachable the thread retries every second; pools serve
 * from their stock meanwhile and then answer 503 refilling.
 */
#ifndef UNIQ_RESERVE_H
#define UNIQ_RESERVE_H

#include <stdint.h>

#include "cluster/cluster.h"
#include "pools/pools.h"

struct reserve;

/* Per pool, for /metrics and status. */
struct reserve_stats {
	uint64_t blocks;	/* reserved by this process */
	uint64_t values;	/* in them */
	uint64_t failures;	/* reservations etcd could not take */
};

/*
 * Adopts the blocks of ps's cluster pools that etcd has for this node and
 * the ledger lacks, reserves a first block where a pool has no stock
 * (both bounded by etcd's answers: -EAGAIN when it cannot be reached is
 * logged, not fatal), then starts the reserver thread. Returns 0 with
 * *out set, or a negative errno.
 */
int reserve_start(struct cluster *c, struct pools *ps, struct reserve **out);

/* Stops the thread and frees r. Safe with NULL. */
void reserve_stop(struct reserve *r);

/* A block as the reserver writes it in etcd (pool/<name>/block/<first>
 * and pool/<name>/last/<node>). */
struct reserve_block {
	uint64_t first, count, ms;
	char node[CLUSTER_NODE_MAX + 1];
	char dir[40];		/* "" in a block without one */
};

/* Reads a block's JSON: 0, or -EPROTO if it is not one (first >= 0,
 * count >= 1, a node, ms). Any thread; uniqctl and the lookups too. */
int reserve_block_parse(const char *json, struct reserve_block *b);

/* Reads pool/<name>/counter's value (decimal text): 0 or -EPROTO. */
int reserve_counter_parse(const struct etcd_kv *kv, uint64_t *v);

/* Stats of random pool index i of ps (as in ps->pools). */
void reserve_stats(struct reserve *r, size_t i, struct reserve_stats *out);

#endif
