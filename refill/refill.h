/*
 * refill.h: the refill threads that keep hoppers and shards stocked: for
 * each serving shard, a taker and a filler.
 *
 * DESIGN
 *
 * Threads and what they own:
 *   - HTTP threads only pop from hoppers (rpool_draw). They never touch
 *     LMDB on the serving path and never wait for a disk flush.
 *   - The taker of shard i (normal priority) is the only thread that
 *     moves values from the shard's environment into its hopper: when the
 *     hopper runs below its low mark (half, or a largest draw if that is
 *     more), or a pop found too few values in it (a draw of the hopper's
 *     whole capacity needs it full), it takes what fits (committed) and
 *     pushes it. This is the latency-critical duty, so it does nothing
 *     else.
 *   - The filler of shard i (nice +10, so that it yields the CPU to
 *     request threads on a busy machine) is the only thread of the process
 *     that appends to the environment: below low water it grants from the
 *     ledger (committed), computes the values, and appends them
 *     (committed), in chunks of at most 16384 values so that it holds the
 *     environment's write lock only briefly, until the shard holds
 *     shard_size again. uniqctl, in another process, may append too;
 *     LMDB serializes the two.
 *   - The main thread starts and stops them; after stop it drains the
 *     hoppers back into the shards (rpool_put_back).
 *
 * Wake-ups: a hopper running low calls the taker's wake (hopper.h); a take
 * that leaves the environment below low water wakes the filler. Either
 * thread also looks every 200 ms (to see what uniqctl did meanwhile).
 *
 * Locks: w->lock guards w->wake, w->stop and w->demand only. A hopper's
 * lock is a leaf, never held while taking w->lock (the hopper calls wake
 * after unlocking); a rpool_shard's level_lock is a leaf too (it orders
 * two threads' counts, rpool.c). No mutex is ever held across an LMDB
 * transaction, so an fsync never blocks a request. The one lock a
 * transaction does hold is its environment's gate (store.h), shared, so
 * that the map can grow; the serving path (rpool_draw) never takes it.
 *
 * Shared state: hopper contents (under the hopper lock), shard level and
 * pool used_up/busy/steps (atomics). Every take and refill step is
 * bracketed by busy and steps (rpool.c) so that rpool_draw can tell
 * "refilling" from "used up" without a lock.
 *
 * Errors (disk full, a damaged file): logged, then the thread backs off
 * for a second and tries again; requests get 503 "refilling" meanwhile,
 * and the taker logs how many once a second while that lasts. A failure
 * after a grant burns that grant's values, never repeats them.
 */
#ifndef UNIQ_REFILL_H
#define UNIQ_REFILL_H

#include "pools/pools.h"

struct refill;

/*
 * Sets up the hoppers of every pool of ps, stocks each one (a grant if its
 * shard is nearly empty, then a take) so that the first requests find
 * values, and starts a taker and a filler per serving shard, wired so
 * that a hopper running low wakes its taker.
 * Returns 0 with *out set, or a negative errno with no thread running and
 * nothing to free.
 */
int refill_create(struct pools *ps, struct refill **out);

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
	uint64_t values;	/* values appended to shards */
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
