/*
 * rpool.h: a random pool (int, float, code) at run time: its permutation,
 * its shard environments and their hoppers. The ledger side of code
 * pools is codepool.h; this is their shard side too.
 *
 * The way of a value: rpool_refill_step() takes the next permutation
 * indices from the ledger (ledger_grant, committed), computes their values
 * and appends them to a shard (committed); the shard's taker moves
 * batches from the shard into its hopper (shard_take, committed); a request
 * pops from a hopper (rpool_draw) and sends. Each step commits before the
 * next begins, so a crash between two can only burn values. When the
 * shard is empty, rpool_grant_step() skips it: grant (committed), then
 * straight into the hopper.
 *
 * Threads: rpool_draw() is called by HTTP threads; rpool_refill_step() and
 * rpool_take_step() by the pool's refill threads (refill.h) or by uniqctl;
 * rpool_lookup() by anyone. The shared fields that change (used_up, level,
 * busy, steps) are atomics written by the refill threads; see refill.h
 * for the DESIGN and rpool_draw() for how a request tells "refilling" from
 * "used up" without a lock.
 */
#ifndef UNIQ_RPOOL_H
#define UNIQ_RPOOL_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/config.h"
#include "common/outcome.h"
#include "common/perm.h"
#include "pools/codepool.h"
#include "pools/waitlist.h"
#include "ledger/ledger.h"
#include "shard/hopper.h"
#include "shard/shard.h"

struct rpool_shard {
	struct shard shard;
	struct hopper hopper;		/* only for serving shards */
	_Atomic uint64_t level;		/* entries in the environment, as last
					   counted (rpool_shard_recount) */
	pthread_mutex_t level_lock;	/* orders the counts: level_txn */
	uint64_t level_txn;		/* snapshot of the count in level */
	/* A grant whose append failed, to append again before granting
	 * anything more (so a failing disk burns one grant, not one per
	 * retry). Owned by the thread that refills this shard. */
	struct ledger_grant pending;
	/* Code pools: room for a grant's codes (and, while pending, the
	 * codes and sequence numbers to append again). Same owner. */
	struct codepool_batch codes;
};

struct rpool {
	const struct pool_def *def;
	struct ledger *ledger;
	uint32_t id;			/* in the ledger */
	struct perm perm;
	struct rpool_shard *shards;
	unsigned nserving;		/* shards requests draw from (config) */
	unsigned nopen;			/* plus shards the ledger still knows
					   of */
	_Atomic bool used_up;		/* the ledger has granted every index */
	_Atomic unsigned busy;		/* take and refill steps under way */
	_Atomic uint64_t steps;		/* take and refill steps completed */
	_Atomic uint64_t empty_draws;	/* draws that found every hopper
					   empty */
	/* Sizes derived from def->shard_size (see rpool.c). */
	size_t hopper_cap;
	size_t max_draw;		/* the most one rpool_draw may ask */
	size_t hopper_low;		/* the taker tops a hopper up below
					   this, so that at rest it holds a
					   max_draw (see rpool.c) */
	uint64_t low_water;		/* refill a shard below this */
	uint64_t grant_batch;		/* values per ledger grant */
	/* Draws waiting for values (set up by refill_start; woken by
	 * rpool_take_step after each push). */
	struct waitlist waiters;
	/* A cluster pool's: the cluster's counter (indices every node has
	 * reserved) as the reserver last read it in etcd (reserve.h). */
	_Atomic uint64_t cluster_reserved;
};

/* The most values one request may draw (the HTTP API's ?count limit). */
#define RPOOL_DRAW_MAX 10000

/*
 * Opens pool d of cfg (a random kind) on lg: makes sure it exists in the
 * ledger with d's parameters (with create, creating it: see
 * ledger_rec_ensure; with a cluster_key, as a cluster pool of that key:
 * ledger_rec_ensure_cluster), then opens its shards, those of cfg and
 * those the ledger still knows of (with create, creating them;
 * read-only, without writer locks). cfg and lg must outlive p. On
 * failure err says why when the step knows, nothing is left open, and a
 * negative errno is returned.
 */
int rpool_open(struct rpool *p, struct ledger *lg, const struct config *cfg,
	       const struct pool_def *d, bool create, bool readonly,
	       const uint8_t *cluster_key, char *err, size_t errlen);

/* Closes p's shards and frees what p holds (not p). Hoppers must have been
 * put back (rpool_put_back) or are burned. */
void rpool_release(struct rpool *p);

/*
 * Pops n values into vals from one serving shard's hopper, starting with
 * shard hint % nserving, and says which shard in *shard. Returns 0,
 * OUTCOME_REFILLING when no hopper holds n values right now, or
 * OUTCOME_USED_UP when fewer than n will ever come again.
 */
int rpool_draw(struct rpool *p, size_t n, uint64_t *vals, unsigned *shard,
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
int rpool_refill_step(struct rpool *p, unsigned i, uint64_t want,
		      uint64_t *scratch, uint64_t *added);

/*
 * Moves up to max entries from shard i's environment to its hopper
 * (taken, committed, then pushed). items must hold max entries. *moved
 * says how many. Returns 0 or a negative errno; a failed take moved
 * nothing (the shard's transaction was aborted). After a push it wakes
 * the pool's waiting draws (waitlist_wake_all).
 */
int rpool_take_step(struct rpool *p, unsigned i, size_t max,
		    struct shard_item *items, size_t *moved);

/*
 * For a hopper that wants values while its shard is empty (the filler
 * behind): grants up to max (at most grant_batch) indices to shard i in
 * the ledger (committed), computes their values and pushes them straight
 * into the hopper at their sequence numbers, skipping the shard's append
 * and take. A crash burns them like any in the hopper. items must hold
 * max entries; max must fit the hopper's room. *moved says how many (0
 * for a code pool, or when the pool is used up: p->used_up is set).
 * Returns 0 or a negative errno (nothing granted). The shard's taker
 * only.
 */
int rpool_grant_step(struct rpool *p, unsigned i, size_t max,
		     struct shard_item *items, size_t *moved);

/* Puts every hopper's unsent values back into their shards (clean
 * shutdown, after the HTTP server has stopped). Returns 0 or the first
 * error; values that could not go back are burned, never repeated. */
int rpool_put_back(struct rpool *p);

/*
 * Counts shard i's entries and publishes the count in its level, unless a
 * count of a later snapshot is already there (two threads count: their
 * stores must not let an older count overwrite a newer one). Returns 0 or
 * a negative errno (level unchanged).
 */
int rpool_shard_recount(struct rpool *p, unsigned i);

/* Values ready in shard i: in its environment and in its hopper. */
uint64_t rpool_shard_ready(struct rpool *p, unsigned i);

/*
 * What the ledger and the shards know about one value.
 *
 * A value issued to a shard is unsent while it sits in the shard's
 * environment or in this process's hopper of that shard, and served once
 * a request popped it (or a crash burned it). Two short windows escape
 * the two looks: a refill's values between its grant and its append
 * (also uniqctl's, in its own process), and a take's values between its
 * commit and its push into the hopper (a grant_step's likewise, between
 * its grant and its push). They last a commit each, and a
 * value in them has been handed to no one, so only someone who guessed
 * it could see it called served.
 */
struct rpool_lookup {
	bool issued;		/* granted by the ledger */
	uint64_t issued_ms;
	unsigned shard;		/* index into p->shards */
	bool in_shard;		/* still in its shard's environment */
	bool in_hopper;		/* taken into its hopper, not popped yet
				   (this process's hoppers only) */
	uint64_t index;		/* permutation index */
};

/* Looks up value index k (< capacity). Returns 0 or a negative errno. */
int rpool_lookup(struct rpool *p, uint64_t k, struct rpool_lookup *out);

struct buf;

/*
 * Appends the audit of value index k as JSON, the shape of
 * GET /pools/{name}/values/{value}: {"pool", "value", "issued"} and when
 * issued "issued_at" (RFC 3339 UTC), "shard", and "served" (false while the
 * value is unsent, see struct rpool_lookup); for code pools also "job" (the
 * bulk job or "uniqctl" it went to) and "redeemed" / "redeemed_at". Returns
 * 0 or a negative errno (nothing useful appended then).
 */
int rpool_lookup_json(struct rpool *p, uint64_t k, struct buf *b);

/*
 * For code pools: sets *waiting when code k was issued to a shard and is
 * unsent (in the shard or its hopper, see struct rpool_lookup), which a
 * redemption must refuse: the code would later be served already spent.
 * Codes of jobs and of uniqctl, and codes never issued, are not waiting.
 * Returns 0 or a negative errno.
 */
int rpool_code_waiting(struct rpool *p, uint64_t k, bool *waiting);

/* Appends value k as JSON: a number for int and float pools, a string for
 * code pools. */
int rpool_value_json(const struct rpool *p, uint64_t k, struct buf *b);

#endif
