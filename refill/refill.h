/*
 * refill.h: the refill threads that keep hoppers and shards stocked: for
 * each serving shard, a taker and a filler.
 *
 * DESIGN
 *
 * Owners: HTTP threads only pop from hoppers (rpool_draw): no LMDB, no
 * flush on the serving path. The taker of shard i (normal priority) is
 * the only thread that moves values from the shard into its hopper: when
 * the hopper runs below its low mark (hopper_low, rpool.h) or a pop
 * found too few (demand), it takes what fits (committed) and pushes it;
 * if the shard is empty (not in code pools), it grants what fits
 * straight into the hopper instead (rpool_grant_step, committed first).
 * The filler of shard i (nice +10) is the process's only appender to the
 * shard: below low water it grants (ledger, committed) and appends
 * (shard, committed), at most grant_batch values a step, up to
 * shard_size; while the hopper is below its low mark it leaves that to
 * the taker (not in code pools). uniqctl may append from another
 * process; LMDB serializes.
 * The main thread starts and stops them, then puts the hoppers back.
 * Queues and wake-ups (worker.h): a hopper running low wakes its taker
 * (taker_demand); a take below low water wakes the filler, an append the
 * taker; each also looks every 200 ms. After each push a taker wakes the
 * pool's waiting draws (pools/waitlist.h); one sweeper thread, which
 * never touches LMDB, wakes those whose draw_wait_ms is up.
 * Lock order: a worker's lock guards its wake, stop and demand only; a
 * hopper's lock, a waitlist's lock and a shard's level_lock are leaves
 * (the hopper and the waitlist call wake after unlocking). No mutex is
 * held across a transaction; a transaction holds only its environment's
 * gate (store.h), which rpool_draw never takes.
 * Guarantees: busy/steps bracket every step (rpool.c) so that rpool_draw
 * tells "refilling" from "used up" without a lock. An error is logged and
 * retried after 1 s (requests get 503 meanwhile); a failure after a grant
 * burns its values, never repeats them.
 */
#ifndef UNIQ_REFILL_H
#define UNIQ_REFILL_H

#include "pools/pools.h"

struct refill;

/*
 * Sets up the hoppers of every pool of ps, stocks each one (a grant if its
 * shard is nearly empty, then a take) so that the first requests find
 * values, and starts a taker and a filler per serving shard, wired so
 * that a hopper running low wakes its taker; sets up each pool's
 * waitlist and starts the sweeper of their deadlines.
 * Returns 0 with *out set, or a negative errno with no thread running and
 * nothing to free.
 */
int refill_start(struct pools *ps, struct refill **out);

/* Asks every thread to stop at a commit boundary and joins them. The
 * hoppers stay valid, and their wake callbacks only flag a worker that
 * no longer runs (its memory lives until refill_free), so the HTTP
 * server may be stopped before or after this. Safe with r NULL. */
void refill_stop(struct refill *r);

/* Frees r, after refill_stop and once no request can pop any more (the
 * HTTP server is stopped). Safe with r NULL. */
void refill_free(struct refill *r);

/* Counters for /metrics and /pools, summed over the threads of pool p. */
struct refill_stats {
	uint64_t grants;	/* ledger grants made */
	uint64_t values;	/* values appended to shards, or granted
				   straight into their hoppers */
	uint64_t takes;		/* batches moved to hoppers */
	uint64_t errors;
	/* A step is under way, or a taker or filler of p has work it will
	 * do without another draw: a hopper below its low mark (or a pop's
	 * demand) with values in the shard, a shard below low water or
	 * still filling up to shard_size. False means the pool is at rest:
	 * its issued count and stock move only when a request draws (or
	 * uniqctl appends). */
	bool refilling;
};

void refill_stats(struct refill *r, const struct rpool *p,
		  struct refill_stats *out);

#endif
