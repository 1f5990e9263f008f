/*
 * refill.h: the refill threads that keep hoppers and shards stocked: for
 * each serving shard, a taker and a filler.
 *
 * DESIGN
 *
 * Owners: HTTP threads only pop from hoppers (rpool_draw): no LMDB, no
 * flush on the serving path. Shard i's taker alone moves values into its
 * hopper: from the shard (taken, committed), or, when the shard is empty
 * (not in code pools), granted straight from the ledger (committed first:
 * rpool_grant_step). Its filler (nice +10) is the process's only appender
 * to the shard: it grants (ledger) and appends (shard), each committed,
 * grant_batch values a step at most, and leaves the ledger to the taker
 * while the hopper is below its low mark (not in code pools). When each
 * works: taker_should_take, filler_should_fill. uniqctl may append from
 * another process; LMDB serializes. The main thread primes the hoppers,
 * starts and stops the threads, then puts the hoppers back.
 * Wake-ups (worker.h): a hopper running low or a failed pop wakes its
 * taker (taker_demand); a take below low water wakes the filler, an
 * append the taker; each also looks every 200 ms. After each push a taker
 * wakes the pool's waiting draws (pools/waitlist.h); one sweeper thread,
 * which never touches LMDB, wakes those whose draw_wait_ms is up.
 * Locks: all leaves (worker.h, hopper.h, waitlist.h, a shard's
 * level_lock; the hopper and the waitlist call wake after unlocking);
 * none is held across a transaction, which holds only its environment's
 * gate (store.h), never taken by rpool_draw.
 * Guarantees: busy/steps bracket every step, so rpool_draw tells
 * "refilling" from "used up" without a lock (see there). An error is
 * logged and retried after 1 s (draws may get 503 refilling meanwhile); a
 * failed append keeps its grant (rpool.h); a crash burns values, never
 * repeats them.
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
