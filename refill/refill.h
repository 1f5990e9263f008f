/*
 * refill.h: the refill threads, one per serving shard, that keep hoppers
 * and shards stocked.
 *
 * DESIGN
 *
 * Threads and what they own:
 *   - HTTP threads only pop from hoppers (pool_draw). They never touch
 *     LMDB on the serving path and never wait for a disk flush.
 *   - Refill thread (pool P, shard i) is the only thread of the process
 *     that takes from shard i's environment and pushes into its hopper,
 *     and the only one that appends to it (uniqctl, in another process,
 *     may append too; LMDB serializes the two). It owns its scratch
 *     buffers.
 *   - The main thread starts and stops the refill threads; after stop it
 *     drains the hoppers back into the shards (pool_put_back).
 *
 * The loop of a refill thread, highest priority first:
 *   1. hopper below half: take a batch from the environment (committed)
 *      and push it;
 *   2. environment below low water (and from then on until it holds
 *      shard_size again) and the pool not used up: grant from the ledger
 *      (committed), compute the values, append them (committed);
 *   3. otherwise sleep on its condition variable until a hopper asks
 *      (hopper wake callback), stop is requested, or 200 ms pass (to see
 *      appends made by uniqctl).
 *
 * Locks: w->lock guards w->wake and w->stop only. Lock order: a hopper's
 * lock is a leaf, never held while taking w->lock (the hopper calls wake
 * after unlocking). No mutex is ever held across an LMDB transaction, so
 * an fsync on the refill thread never blocks a request.
 *
 * Shared state published by the refill thread: hopper contents (under the
 * hopper lock), shard level and pool inflight/used_up (atomics), in the
 * order push -> level -> inflight that pool_draw relies on to tell
 * "refilling" from "used up".
 *
 * Errors (disk full, a damaged file): logged, then the thread backs off
 * for a second and tries again; requests get 503 "refilling" meanwhile.
 * A failure after a grant burns that grant's values, never repeats them.
 */
#ifndef UNIQ_REFILL_H
#define UNIQ_REFILL_H

#include "refill/pool.h"

struct refill;

/*
 * Sets up the hoppers of every pool of ps and starts one refill thread per
 * serving shard, wired so that a hopper running low wakes its thread.
 * Returns 0 with *out set, or a negative errno with no thread running and
 * nothing to free.
 */
int refill_create(struct pool_set *ps, struct refill **out);

/* Asks every thread to stop at a commit boundary and joins them. The
 * hoppers stay valid (their wake callbacks become no-ops), so the HTTP
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
};

void refill_stats(struct refill *r, const struct pool *p,
		  struct refill_stats *out);

#endif
