/*
 * pool.h: the random pools at run time, and everything open on a data
 * directory (struct pool_set): the ledger, and each pool's permutation,
 * shard environments and hoppers.
 *
 * The way of a value: pool_refill_step() takes the next permutation
 * indices from the ledger (ledger_grant, committed), computes their values
 * and appends them to a shard (committed); the shard's refill thread moves
 * batches from the shard into its hopper (shard_take, committed); a request
 * pops from a hopper (pool_draw) and sends. Each step commits before the
 * next begins, so a crash between two can only burn values.
 *
 * Threads: pool_draw() is called by HTTP threads; pool_refill_step() and
 * pool_take_step() by the pool's refill threads (refill.h) or by uniqctl;
 * pool_lookup() by anyone. The shared fields that change (used_up, level,
 * busy, steps) are atomics written by the refill threads; see refill.h
 * for the DESIGN and pool_draw() for how a request tells "refilling" from
 * "used up" without a lock.
 */
#ifndef UNIQ_POOL_H
#define UNIQ_POOL_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/config.h"
#include "common/perm.h"
#include "ledger/codes.h"
#include "pools/lease.h"
#include "ledger/ledger.h"
#include "pools/seq.h"
#include "shard/hopper.h"
#include "shard/shard.h"

struct pool_shard {
	struct shard shard;
	struct hopper hopper;		/* only for serving shards */
	_Atomic uint64_t level;		/* entries in the environment, as last
					   counted (pool_shard_recount) */
	pthread_mutex_t level_lock;	/* orders the counts: level_txn */
	uint64_t level_txn;		/* snapshot of the count in level */
	/* A grant whose append failed, to append again before granting
	 * anything more (so a failing disk burns one grant, not one per
	 * retry). Owned by the thread that refills this shard. */
	struct ledger_grant pending;
	/* Code pools: room for a grant's codes (and, while pending, the
	 * codes and sequence numbers to append again). Same owner. */
	struct code_batch codes;
};

struct pool {
	const struct pool_def *def;
	struct ledger *ledger;
	uint32_t id;			/* in the ledger */
	struct perm perm;
	struct pool_shard *shards;
	unsigned nserving;		/* shards requests draw from (config) */
	unsigned nopen;			/* plus shards the ledger still knows of */
	_Atomic bool used_up;		/* the ledger has granted every index */
	_Atomic unsigned busy;		/* take and refill steps under way */
	_Atomic uint64_t steps;		/* take and refill steps completed */
	_Atomic uint64_t empty_draws;	/* draws that found every hopper empty */
	/* Sizes derived from def->shard_size (see pool.c). */
	size_t hopper_cap;
	size_t max_draw;		/* the most one pool_draw may ask */
	size_t hopper_low;		/* the taker tops a hopper up below
					   this, so that at rest it holds a
					   max_draw (see pool.c) */
	uint64_t low_water;		/* refill a shard below this */
	uint64_t grant_batch;		/* values per ledger grant */
};

/* The most values one request may draw (the HTTP API's ?count limit). */
#define POOL_DRAW_MAX 10000

struct pool_set {
	const struct config *cfg;
	struct ledger ledger;
	struct pool *pools;		/* the random pools of cfg, in order */
	size_t npools;
	struct seq *seqs;		/* the sequence pools, in order */
	size_t nseqs;
	struct lease *leases;	/* the lease pools, in order */
	size_t nleases;
};

struct pool_set_opts {
	bool create;			/* create missing files (server, init) */
	bool readonly;			/* only read (uniqctl lookup, verify,
					   status): no writer locks taken */
	bool leases;			/* open the lease pools, fitting their
					   records to the configuration (which
					   may end leases out of range): the
					   server only, never a tool run beside
					   it with a config of its own */
};

/*
 * Checks that dir is a uniqd data directory, missing, or empty: pointing
 * uniqd at some other directory full of files must not scatter files in
 * it. Returns 0, or -EPROTO with a sentence in err.
 */
int pool_set_check_dir(const char *dir, char *err, size_t errlen);

/*
 * Opens <data_dir>/ledger.mdb, the shards of every random pool of cfg, the
 * sequence pools and (with o->create: their free lists are the server's)
 * the lease pools, making sure each pool exists in the ledger with the
 * parameters of cfg (see ledger_pool_ensure). cfg must outlive ps. On failure err says why,
 * nothing is left open, and a negative errno is returned.
 */
int pool_set_open(struct pool_set *ps, const struct config *cfg,
		  const struct pool_set_opts *o, char *err, size_t errlen);

/* Closes everything. Hoppers must have been put back (pool_put_back) or
 * are burned. No other call may be running. */
void pool_set_release(struct pool_set *ps);

/* The random pool called name, or NULL. */
struct pool *pool_set_find(struct pool_set *ps, const char *name);

/* The sequence pool called name, or NULL. */
struct seq *pool_set_find_seq(struct pool_set *ps, const char *name);

/* The lease pool called name, or NULL. */
struct lease *pool_set_find_lease(struct pool_set *ps, const char *name);

/* The pool of any kind called name: its kind, or -1 if there is none. */
int pool_set_kind(struct pool_set *ps, const char *name);

/*
 * Pops n values into vals from one serving shard's hopper, starting with
 * shard hint % nserving, and says which shard in *shard. Returns 0,
 * -EAGAIN when no hopper holds n values right now (refilling), or
 * -ENODATA when fewer than n will ever come again (used up).
 */
int pool_draw(struct pool *p, size_t n, uint64_t *vals, unsigned *shard,
	      unsigned hint);

/*
 * One refill of shard i: grants up to `want` more indices in the ledger
 * (committed), then appends their values to the shard (committed).
 * scratch must hold grant_batch values. *added says how many (0: the pool
 * is used up, and p->used_up is set; in a code pool also when what is
 * left is promised to jobs, or when 64 grants in a row found only codes
 * the prefix streams had). Returns 0 or a negative errno. If
 * the append fails, the grant is kept (shard i's `pending`) and the next
 * call appends it again, with the same values at the same sequence
 * numbers, before it grants anything else. One thread at a time per
 * shard.
 */
int pool_refill_step(struct pool *p, unsigned i, uint64_t want,
		     uint64_t *scratch, uint64_t *added);

/*
 * Moves up to max entries from shard i's environment to its hopper
 * (taken, committed, then pushed). items must hold max entries. *moved
 * says how many. Returns 0 or a negative errno; a failed take moved
 * nothing (the shard's transaction was aborted).
 */
int pool_take_step(struct pool *p, unsigned i, size_t max,
		   struct shard_item *items, size_t *moved);

/* Puts every hopper's unsent values back into their shards (clean
 * shutdown, after the HTTP server has stopped). Returns 0 or the first
 * error; values that could not go back are burned, never repeated. */
int pool_put_back(struct pool *p);

/*
 * Counts shard i's entries and publishes the count in its level, unless a
 * count of a later snapshot is already there (two threads count: their
 * stores must not let an older count overwrite a newer one). Returns 0 or
 * a negative errno (level unchanged).
 */
int pool_shard_recount(struct pool *p, unsigned i);

/* Values ready in shard i: in its environment and in its hopper. */
uint64_t pool_shard_ready(struct pool *p, unsigned i);

/*
 * What the ledger and the shards know about one value.
 *
 * A value issued to a shard is unsent while it sits in the shard's
 * environment or in this process's hopper of that shard, and served once
 * a request popped it (or a crash burned it). Two short windows escape
 * the two looks: a refill's values between its grant and its append
 * (also uniqctl's, in its own process), and a take's values between its
 * commit and its push into the hopper. They last a commit each, and a
 * value in them has been handed to no one, so only someone who guessed
 * it could see it called served.
 */
struct pool_lookup {
	bool issued;		/* granted by the ledger */
	uint64_t issued_ms;
	unsigned shard;		/* index into p->shards */
	bool in_shard;		/* still in its shard's environment */
	bool in_hopper;		/* taken into its hopper, not popped yet
				   (this process's hoppers only) */
	uint64_t index;		/* permutation index */
};

/* Looks up value index k (< capacity). Returns 0 or a negative errno. */
int pool_lookup(struct pool *p, uint64_t k, struct pool_lookup *out);

struct buf;

/*
 * Appends the audit of value index k as JSON, the shape of
 * GET /pools/{name}/values/{value}: {"pool", "value", "issued"} and when
 * issued "issued_at" (RFC 3339 UTC), "shard", and "served" (false while the value is
 * unsent, see struct pool_lookup); for code pools
 * also "job" (the bulk job or "uniqctl" it went to) and "redeemed" /
 * "redeemed_at". Returns 0 or a
 * negative errno (nothing useful appended then).
 */
int pool_lookup_json(struct pool *p, uint64_t k, struct buf *b);

/*
 * For code pools: sets *waiting when code k was issued to a shard and is
 * unsent (in the shard or its hopper, see struct pool_lookup), which a
 * redemption must refuse: the code would later be served already spent. Codes of jobs and of uniqctl, and
 * codes never issued, are not waiting. Returns 0 or a negative errno.
 */
int pool_code_waiting(struct pool *p, uint64_t k, bool *waiting);

/* Appends value k as JSON: a number for int and float pools, a string for
 * code pools. */
int pool_value_json(const struct pool *p, uint64_t k, struct buf *b);

#endif
