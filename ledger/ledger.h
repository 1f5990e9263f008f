/*
 * ledger.h: the global record of everything issued, in one LMDB
 * environment (<data_dir>/ledger.mdb).
 *
 * What it holds, per random pool: the pool's parameters, its secret
 * permutation key and its counter (how many permutation indices have been
 * issued), and the grants: each grant says that the permutation indices
 * [first, first + count) were issued at time_ms to shard `shard`, where
 * they sit at sequence numbers [seq0, seq0 + count). Since the permutation
 * is a bijection that the ledger's key makes reproducible, the grants
 * record every value ever issued, when and by which shard, exactly, in a
 * few bytes per refill instead of per value (a per-value B-tree costs a
 * page write per value at refill-sized batches; see the closing note of
 * issue 2). Lookup of a value v: i = perm_invert(v), then the grant
 * holding i.
 *
 * Invariants, kept by ledger_grant() in one write transaction:
 *   - a pool's grants are disjoint and contiguous: they tile [0, counter);
 *   - counter <= capacity and never decreases;
 *   - each shard's sequence numbers are handed out once, increasing.
 * So a permutation index, hence a value, is granted at most once, ever,
 * by any process using this ledger (LMDB serializes writers across
 * processes, so uniqctl and uniqd may grant at the same time).
 *
 * Concurrency: a struct ledger may be used by any number of threads at
 * once; LMDB serializes the write transactions. No function keeps a
 * transaction open after it returns.
 *
 * The file is native-endian (records are C structs); keys are big-endian.
 */
#ifndef UNIQ_LEDGER_H
#define UNIQ_LEDGER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <lmdb.h>

#include "common/config.h"
#include "common/perm.h"

#define LEDGER_FILE "ledger.mdb"
#define LEDGER_INSTANCE_LEN 16
#define LEDGER_SHARD_SPECIAL 0x80000000u

struct ledger {
	MDB_env *env;
	MDB_dbi meta;	/* "magic", "format", "next_pool_id", "created_ms" */
	MDB_dbi pools;	/* name -> struct ledger_rec */
	MDB_dbi grants;	/* (pool id, first) -> struct ledger_grant_rec */
	MDB_dbi shards;	/* (pool id, shard) -> next sequence number */
	MDB_dbi seq;	/* sequence pool id -> struct seq_state (seq.h) */
	MDB_dbi seqids;	/* (pool id, day, n) -> time issued (ms) */
	MDB_dbi idem;	/* (pool id, Idempotency-Key) -> struct idem_rec */
	MDB_dbi idem_time; /* (time ms, pool id, key) -> nothing: for purges */
	MDB_dbi leases;	/* (pool id, number) -> struct lease_rec (lease.h) */
	MDB_dbi lease_exp; /* (pool id, expiry ms, number) -> nothing */
	MDB_dbi skips;	/* code streams: (stream id, position) -> nothing */
	MDB_dbi coderuns; /* (stream id, first) -> sorted codes: ledger_run_* */
	MDB_dbi redeemed; /* (pool id, code) -> time redeemed */
	MDB_dbi jobs;	/* job id -> struct codejob */
	MDB_dbi blocks;	/* (pool id, first) -> struct ledger_block_rec: the
			   blocks a cluster reserved for this node (0 in a
			   ledger opened read-only that predates them) */
	/* Random bytes drawn when the ledger was created; every shard made
	 * for this ledger carries them, so a shard file from another data
	 * directory is never served. */
	uint8_t instance[LEDGER_INSTANCE_LEN];
};

/* A pool's counter record, as the ledger knows it: the pool's parameters,
 * key and counter (also each code stream's, codepool.h). */
struct ledger_rec {
	uint32_t id;
	uint32_t kind;		/* enum pool_kind */
	int64_t min;
	uint64_t capacity;
	uint32_t decimals;
	uint32_t flags;		/* LEDGER_REC_* */
	uint8_t key[PERM_KEY_LEN];
	uint64_t counter;	/* permutation indices issued: [0, counter),
				   or in a cluster pool the next index of
				   this node's blocks */
	uint64_t created_ms;
	uint64_t skipped;	/* code streams: indices whose code another
				   stream had issued (not issued here) */
};

/* Flags of a pool record. */
#define LEDGER_REC_CLUSTER 1u	/* its indices come from blocks a cluster
				   reserved (ledger_block_add), not from
				   [0, capacity) */
#define LEDGER_REC_CLUSTER_END 2u /* the cluster has no index left to
				     reserve: when the blocks are used, so
				     is the pool */

struct ledger_grant {
	uint64_t first;		/* first permutation index */
	uint64_t count;
	uint64_t seq0;		/* sequence number of `first` in the shard */
	uint64_t time_ms;
	uint32_t shard;
	bool waiting;		/* count 0 in a cluster pool whose blocks
				   are used while the cluster still has
				   indices: not used up, waiting for the
				   next block */
};

struct ledger_opts {
	bool sync;		/* fsync each commit (the default) */
	bool create;		/* create the ledger if it does not exist */
	bool readonly;		/* read transactions only (no writer lock) */
	size_t map_size;	/* 0: 64 GiB (address space, not disk) */
};

/*
 * Opens <path> (a file), creating it with a fresh format record when
 * o->create is set and it does not exist. A file that exists but is not a
 * uniqd ledger (no magic, another format) is refused with -EPROTO and left
 * untouched. On failure nothing is left open. Fills lg->instance. Returns 0
 * or a negative errno (see store.h).
 */
int ledger_open(struct ledger *lg, const char *path,
		const struct ledger_opts *o);

/* Closes the environment. No other call may be running. */
void ledger_release(struct ledger *lg);

/*
 * Makes sure pool d exists in the ledger: creates it with a key from the
 * kernel's random source and counter 0 the first time, or checks that the
 * parameters stored then (kind, min, capacity, decimals) are the ones in d
 * now. Changing them would change what counter values mean and could
 * repeat values, so a mismatch is refused with -EINVAL and a sentence in
 * err. Fills *out on success. Returns 0 or a negative errno.
 */
int ledger_rec_ensure(struct ledger *lg, const struct pool_def *d,
		      struct ledger_rec *out, char *err, size_t errlen);

/* True if the parameters the ledger holds for a pool (kind, min,
 * capacity, decimals) are those of d: the one test of "same pool". */
bool ledger_rec_matches(const struct ledger_rec *p,
			const struct pool_def *d);

/*
 * For kinds whose values a new range cannot repeat (lease pools): stores
 * d's range over the one the ledger has, keeping the pool's id, key and
 * counter, and fills *out. Returns 0 or a negative errno.
 */
int ledger_rec_redefine(struct ledger *lg, const struct pool_def *d,
			struct ledger_rec *out);

/* Reads pool `name` into *out. Returns 0, -ENOENT, or an error. */
int ledger_rec_get(struct ledger *lg, const char *name,
		   struct ledger_rec *out);

/*
 * Issues up to `want` more permutation indices of pool `name` to shard
 * `shard`, committed (and synced) before it returns: the next indices
 * from the pool's counter, and the shard's next sequence numbers. *g
 * tells which. g->count is less than want near the end of the pool and 0
 * when the pool is used up (return value 0 then too). Returns 0, or a
 * negative errno with nothing issued (-EIO if the grants and the counter
 * disagree, which means a damaged ledger).
 */
int ledger_grant(struct ledger *lg, const char *name, uint32_t shard,
		 uint64_t want, struct ledger_grant *g);

/*
 * ledger_grant inside the caller's write transaction (which it neither
 * commits nor aborts), also giving the pool record as updated. For
 * issuing that must commit other records with the grant (code pools).
 */
int ledger_grant_txn(struct ledger *lg, MDB_txn *txn, const char *name,
		     uint32_t shard, uint64_t want, struct ledger_grant *g,
		     struct ledger_rec *pool);

/*
 * Cluster pools (cluster/reserve.h). A block is a range of permutation
 * indices the cluster reserved for this node in etcd; the pool's grants
 * take from its blocks in order (ledger_grant skips from the end of one
 * block to the first of the next), so the grants of a cluster pool tile
 * its blocks instead of [0, counter).
 */
struct ledger_block {
	uint64_t first;
	uint64_t count;
	uint64_t time_ms;	/* when it was reserved */
};

/*
 * Makes pool d's record a cluster pool with key `key` (the cluster's):
 * creates it so if it is missing; refuses with -EINVAL and a sentence in
 * err a pool made without a cluster (its indices were not reserved: they
 * would repeat another node's) or with another key. Fills *out. Returns 0
 * or a negative errno.
 */
int ledger_rec_ensure_cluster(struct ledger *lg, const struct pool_def *d,
			      const uint8_t key[PERM_KEY_LEN],
			      struct ledger_rec *out, char *err,
			      size_t errlen);

/*
 * Adds block b to cluster pool `name`, committed. A block already there
 * with the same first and count is not an error (a node adopting, after a
 * crash, a block it reserved in etcd: return 0). A block that overlaps
 * another, or starts before the pool's counter, is refused with -EINVAL.
 * With end, also marks the pool LEDGER_REC_CLUSTER_END (b may then have
 * count 0: nothing is added). Returns 0 or a negative errno.
 */
int ledger_block_add(struct ledger *lg, const char *name,
		     const struct ledger_block *b, bool end);

/*
 * Reads pool `name` and its blocks in order, into a malloc'd array the
 * caller frees (NULL when there is none). Returns 0 or a negative errno.
 */
int ledger_blocks_load(struct ledger *lg, const char *name,
		       struct ledger_rec *pool, struct ledger_block **blocks,
		       size_t *n);

/* Reads pool `name` into *rec and says how many indices it has granted:
 * its counter, or for a cluster pool the granted part of its blocks.
 * Returns 0 or a negative errno. */
int ledger_issued(struct ledger *lg, const char *name, struct ledger_rec *rec,
		  uint64_t *issued);

/* Indices of cluster pool `name`'s blocks not granted yet, and the end
 * of its last block (0 if none). Returns 0 or a negative errno. */
int ledger_block_stock(struct ledger *lg, const char *name, uint64_t *unused,
		       uint64_t *last_end);

/* Creates pool `name` in txn with a fresh key, counter 0. Returns 0,
 * -EEXIST, or an error. */
int ledger_rec_create_txn(struct ledger *lg, MDB_txn *txn, const char *name,
			  uint32_t kind, int64_t min, uint64_t capacity,
			  uint32_t decimals, struct ledger_rec *out);

/* Reads or writes a pool record in txn. */
int ledger_rec_get_txn(struct ledger *lg, MDB_txn *txn, const char *name,
		       struct ledger_rec *out);
int ledger_rec_put_txn(struct ledger *lg, MDB_txn *txn, const char *name,
		       const struct ledger_rec *p);

/* Finds the grant of pool pool_id holding permutation index `index`.
 * Returns 0, -ENOENT (never issued), or an error. */
int ledger_grant_find(struct ledger *lg, uint32_t pool_id, uint64_t index,
		      struct ledger_grant *g);

/*
 * Reads, in one consistent snapshot, pool `name` and all its grants in
 * order of `first`, into a malloc'd array that the caller frees. Returns 0
 * or a negative errno (*grants NULL then). For uniqctl verify.
 */
int ledger_grants_load(struct ledger *lg, const char *name,
		       struct ledger_rec *pool, struct ledger_grant **grants,
		       size_t *ngrants);

/* A committer tick (arg: the struct ledger) that clears the reader slots
 * of dead processes (see store_reader_check). */
int ledger_reader_tick(void *arg, MDB_txn *txn, uint64_t now_ms);

/* The highest shard number that pool pool_id ever had a grant for, plus
 * one (0 if none), so that verify can walk shards no longer configured.
 * Numbers from LEDGER_SHARD_SPECIAL up name other receivers of grants
 * (bulk code jobs, uniqctl), not shard environments, and are not
 * counted. */
int ledger_shard_count(struct ledger *lg, uint32_t pool_id, uint32_t *n);

/*
 * Code runs. Each grant of a code stream (codepool.h) keeps the codes it
 * issued as one sorted run, so that codes under a prefix can be counted
 * and every code checked once: coderuns maps (stream id, the grant's
 * first position) to the codes, as LMDB duplicates in ascending order.
 * All of these work in the caller's transaction txn.
 */

/* Writes the run of stream's grant at position first: n > 0 codes,
 * sorted ascending. Returns 0 or a negative errno. */
int ledger_run_put(struct ledger *lg, MDB_txn *txn, uint32_t stream,
		   uint64_t first, const uint64_t *sorted, size_t n);

/* Adds to *n how many codes of stream's runs lie in [lo, hi). Returns 0
 * or a negative errno. */
int ledger_run_count(struct ledger *lg, MDB_txn *txn, uint32_t stream,
		     uint64_t lo, uint64_t hi, uint64_t *n);

/* Calls fn(first, arg) for each run of stream, in order of first; fn
 * returns 0 to go on, or anything else to stop the walk (returned then).
 * Returns 0, fn's value, or a negative errno. */
int ledger_run_each(struct ledger *lg, MDB_txn *txn, uint32_t stream,
		    int (*fn)(uint64_t first, void *arg), void *arg);

/* A cursor on one run's codes, in ascending order (for merging runs). */
struct ledger_run {
	MDB_cursor *cur;
	size_t count;		/* codes in the run */
	uint64_t code;		/* the current code, while live */
	bool live;		/* false past the last code */
};

/* Opens r on the run of stream at first, at its smallest code. Returns 0,
 * or a negative errno with nothing to release. */
int ledger_run_open(struct ledger *lg, MDB_txn *txn, uint32_t stream,
		    uint64_t first, struct ledger_run *r);

/* Moves r to its next code (r->live false past the last). Returns 0 or a
 * negative errno. */
int ledger_run_next(struct ledger_run *r);

/* Closes r's cursor (before txn ends). */
void ledger_run_release(struct ledger_run *r);

#endif
