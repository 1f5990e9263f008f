/*
 * shard.h: one shard: an LMDB environment holding values ready to serve
 * (<data_dir>/shards/<pool>_shard_<i>.mdb).
 *
 * A shard is a queue of (sequence number -> value index) entries. The
 * ledger hands out the sequence numbers with the values (ledger_grant), so
 * an entry's position is known to the ledger before the entry exists, and
 * a lookup can tell whether a value still sits in its shard (not served)
 * or has left it (into a server's hopper, shard/hopper.h, then sent; or
 * burned by a crash).
 *
 * Rules that keep the promise:
 *   - shard_append() is only called with values the ledger has already
 *     committed to this shard at those sequence numbers;
 *   - shard_take() commits the removal before returning the values, so a
 *     value leaves the shard (durably) before anyone can send it;
 *   - shard_put_back() is only called with entries taken from this shard
 *     and never sent (on a clean shutdown), at their own sequence numbers.
 *
 * DESIGN (concurrency): any thread, and any process, may call these at
 * once; LMDB serializes the writers. In uniqd one filler thread per shard
 * appends and one taker thread takes (refill/refill.h); uniqctl may
 * append from another process meanwhile; lookups read from any thread. No function keeps a transaction open after it
 * returns, except a shard_reader between begin and end.
 */
#ifndef UNIQ_SHARD_H
#define UNIQ_SHARD_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <lmdb.h>

#define SHARD_NAME_MAX 64
#define SHARD_INSTANCE_LEN 16

struct shard_item {
	uint64_t seq;
	uint64_t value;	/* the value's index in its pool, see value.h */
};

struct shard {
	MDB_env *env;
	MDB_dbi meta;
	MDB_dbi values;	/* seq (MDB_INTEGERKEY) -> value index */
	uint32_t index;
	char name[SHARD_NAME_MAX];	/* "<pool>_shard_<index>" */
};

struct shard_opts {
	bool sync;
	bool create;
	bool readonly;		/* read transactions only */
	uint64_t shard_size;	/* sizes the map */
	size_t map_size;	/* 0: the default (see shard_open); it grows
				   when full either way */
};

/* Formats "<data_dir>/shards/<pool>_shard_<index>.mdb" into path. Returns
 * 0 or -ENAMETOOLONG. */
int shard_path(char *path, size_t len, const char *data_dir,
	       const char *pool, uint32_t index);

/*
 * Opens the shard `index` of pool `pool` at path, creating it if o->create
 * is set and it does not exist. instance is the ledger's instance id
 * (ledger.h), written into a new shard and checked in an existing one: a
 * file made for another pool, index or ledger is refused with -EPROTO.
 * On failure nothing is left open. Returns 0 or a negative errno.
 */
int shard_open(struct shard *s, const char *path, const char *pool,
	       uint32_t index, const uint8_t instance[SHARD_INSTANCE_LEN],
	       const struct shard_opts *o);

/* Closes the environment. No other call on s may be running. */
void shard_release(struct shard *s);

/* Adds vals[i] at sequence number seq0 + i, committed. Returns 0, or a
 * negative errno with nothing added (-EEXIST if a sequence number is
 * already used, which means a bug or a damaged file). */
int shard_append(struct shard *s, uint64_t seq0, const uint64_t *vals,
		 size_t n);

/* Adds vals[i] at sequence number seqs[i] (increasing), committed; the
 * same rules and results as shard_append. For grants with gaps (code
 * pools skip positions another stream had). */
int shard_append_seqs(struct shard *s, const uint64_t *seqs,
		      const uint64_t *vals, size_t n);

/* Removes up to max entries, lowest sequence numbers first, committed, and
 * copies them to out. *n is how many (0 when the shard is empty). Returns
 * 0 or a negative errno with nothing removed. */
int shard_take(struct shard *s, size_t max, struct shard_item *out,
	       size_t *n);

/* Puts taken, unsent entries back at their sequence numbers, committed.
 * Returns 0 or a negative errno with nothing put back. */
int shard_put_back(struct shard *s, const struct shard_item *items,
		   size_t n);

/* How many entries the shard holds; with txnid, also the id of the
 * snapshot counted (ids grow with every commit), so that counts taken by
 * different threads can be put in order. */
int shard_count(struct shard *s, uint64_t *n);
int shard_count_txn(struct shard *s, uint64_t *n, uint64_t *txnid);

/* The value at sequence number seq. Returns 0, -ENOENT, or an error. */
int shard_get(struct shard *s, uint64_t seq, uint64_t *value);

/* A read snapshot of a whole shard, walked in sequence order. */
struct shard_reader {
	MDB_txn *txn;
	MDB_cursor *cur;
	bool started;
};

/* Starts a snapshot. Returns 0 or a negative errno (r unusable then). */
int shard_reader_begin(struct shard *s, struct shard_reader *r);

/* The next entry. Returns 0, -ENOENT at the end, or an error. */
int shard_reader_next(struct shard_reader *r, struct shard_item *it);

/* Ends the snapshot (safe to call after a failed begin). */
void shard_reader_end(struct shard_reader *r);

#endif
