/*
 * perm.h: a keyed pseudo-random permutation of [0, capacity).
 *
 * This is how random pools draw without replacement and without retry
 * loops: the value for counter i is perm_apply(p, i). Since the map is a
 * bijection, counters 0, 1, 2, ... give distinct values until the pool is
 * used up, the speed never falls as the pool fills, and
 * remaining = capacity - counter is exact.
 *
 * Construction: a 10-round alternating Feistel network on b-bit integers
 * (b = max(2, ceil(log2(capacity))), split into halves of floor(b/2) and
 * ceil(b/2) bits), whose round function is SipHash-2-4 keyed with the
 * pool's 128-bit secret and fed the round number and the other half.
 * Inputs that land outside [0, capacity) are sent through the network
 * again (cycle walking); since the domain is less than 2 * capacity
 * (or 4 * capacity for tiny pools), the expected number of passes is
 * below 2, and the walk always ends because a permutation's cycle through
 * a point of [0, capacity) returns to [0, capacity).
 *
 * Invariants: capacity >= 1; perm_apply and perm_invert take an argument
 * in [0, capacity) and return one in [0, capacity); they are inverse to
 * each other. A struct perm is read-only after perm_init and may be shared
 * by any number of threads.
 */
#ifndef UNIQ_PERM_H
#define UNIQ_PERM_H

#include <stdint.h>

#define PERM_KEY_LEN 16
#define PERM_ROUNDS 10

struct perm {
	uint64_t capacity;
	uint64_t k0, k1;	/* SipHash key */
	unsigned lbits, rbits;	/* widths of the left and right halves */
	uint64_t lmask, rmask;
};

/* Sets up p for [0, capacity) with the given key. capacity must be >= 1. */
void perm_init(struct perm *p, uint64_t capacity,
	       const uint8_t key[PERM_KEY_LEN]);

/* The image of i (i < capacity). */
uint64_t perm_apply(const struct perm *p, uint64_t i);

/* The i with perm_apply(p, i) == v (v < capacity). */
uint64_t perm_invert(const struct perm *p, uint64_t v);

/* Fills key with bytes from the kernel's random source (getrandom).
 * Returns 0 or a negative errno. */
int perm_random_key(uint8_t key[PERM_KEY_LEN]);

/* SipHash-2-4 of one 64-bit word, exposed for tests (checked against the
 * reference vectors). */
uint64_t perm_siphash_u64(uint64_t k0, uint64_t k1, uint64_t m);

#endif
