/*
 * hopper.h: values already taken out of a shard (committed), waiting in
 * memory for requests. Taking values out of a shard is an LMDB write
 * transaction (and an fsync), so the shard's taker does it in batches,
 * never a request: a request only copies values out of this ring under a
 * mutex (uncontended when each HTTP thread prefers its own shard).
 *
 * DESIGN
 *
 * Threads: request threads (the HTTP workers) pop, and audits and
 * redemptions look (hopper_holds); the shard's taker (refill.h) alone
 * pushes, but for the main thread, which primes the hopper before the
 * takers start and drains it at shutdown, after the HTTP server has
 * stopped. All of it under h->lock, a leaf lock: no other lock is taken
 * while it is held, and the wake callback runs after it is released.
 * Guarantees:
 *   - every entry is popped at most once (the ring's head moves under
 *     the lock before it is released), so no value is served twice;
 *   - a pop of n is all or nothing;
 *   - when a pop fails or leaves fewer than `low` entries, the wake
 *     callback is called once (not again until the next push), so the
 *     taker is asked for more without a syscall per request.
 * Values in the hopper have left the shard: a crash burns them. On a clean
 * shutdown hopper_drain() hands them back so they can return to the shard
 * at their own sequence numbers.
 */
#ifndef UNIQ_HOPPER_H
#define UNIQ_HOPPER_H

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/outcome.h"
#include "shard/shard.h"

struct hopper {
	pthread_mutex_t lock;
	struct shard_item *ring;
	size_t cap;		/* slots in the ring */
	size_t head;		/* oldest entry */
	size_t len;		/* entries held */
	size_t low;		/* ask for more below this */
	bool asked;		/* wake called since the last push */
	void (*wake)(void *arg);
	void *wake_arg;
};

/* Sets up an empty hopper of cap slots that calls wake(arg) when it runs
 * below low. Returns 0, or -ENOMEM/-errno with nothing to release. */
int hopper_init(struct hopper *h, size_t cap, size_t low,
		void (*wake)(void *arg), void *arg);

/* Frees the ring. No other call may be running. */
void hopper_release(struct hopper *h);

/* Pops n values (indices only) into vals, oldest first. Returns 0, or
 * OUTCOME_REFILLING (outcome.h) with nothing popped when fewer than n
 * are held. */
int hopper_pop(struct hopper *h, size_t n, uint64_t *vals);

/* Free slots (only the pushing thread's view grows between calls). */
size_t hopper_room(struct hopper *h);

/* Entries held. */
size_t hopper_level(struct hopper *h);

/* Appends n entries; n must be <= hopper_room(). */
void hopper_push(struct hopper *h, const struct shard_item *items, size_t n);

/*
 * True if the entry (seq, value) is held: taken out of its shard by this
 * process and not popped yet, so not sent. Scans the ring under the lock
 * (O(entries held)): for audits and redemptions, not the serving path.
 * False for a hopper never set up.
 */
bool hopper_holds(struct hopper *h, uint64_t seq, uint64_t value);

/* Removes up to max entries, oldest first, into out; returns how many. */
size_t hopper_drain(struct hopper *h, struct shard_item *out, size_t max);

#endif
