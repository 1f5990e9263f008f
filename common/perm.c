/*
 * perm.c: Feistel permutation with cycle walking; see perm.h for the
 * construction and its guarantees.
 */
#include <errno.h>
#include <string.h>
#include <sys/random.h>

#include "common/perm.h"
#include "common/banned.h"

#define ROTL(x, b) (uint64_t)(((x) << (b)) | ((x) >> (64 - (b))))

#define SIPROUND                                                        \
	do {                                                            \
		v0 += v1; v1 = ROTL(v1, 13); v1 ^= v0; v0 = ROTL(v0, 32); \
		v2 += v3; v3 = ROTL(v3, 16); v3 ^= v2;                  \
		v0 += v3; v3 = ROTL(v3, 21); v3 ^= v0;                  \
		v2 += v1; v1 = ROTL(v1, 17); v1 ^= v2; v2 = ROTL(v2, 32); \
	} while (0)

/* SipHash-2-4 of the 8-byte little-endian message m. */
uint64_t perm_siphash_u64(uint64_t k0, uint64_t k1, uint64_t m)
{
	uint64_t v0 = k0 ^ 0x736f6d6570736575ULL;
	uint64_t v1 = k1 ^ 0x646f72616e646f6dULL;
	uint64_t v2 = k0 ^ 0x6c7967656e657261ULL;
	uint64_t v3 = k1 ^ 0x7465646279746573ULL;
	const uint64_t last = (uint64_t)8 << 56; /* length 8, no tail bytes */

	v3 ^= m;
	SIPROUND;
	SIPROUND;
	v0 ^= m;
	v3 ^= last;
	SIPROUND;
	SIPROUND;
	v0 ^= last;
	v2 ^= 0xff;
	SIPROUND;
	SIPROUND;
	SIPROUND;
	SIPROUND;
	return v0 ^ v1 ^ v2 ^ v3;
}

static uint64_t load_le64(const uint8_t *b)
{
	uint64_t v = 0;
	int i;

	for (i = 7; i >= 0; i--)
		v = (v << 8) | b[i];
	return v;
}

void perm_init(struct perm *p, uint64_t capacity,
	       const uint8_t key[PERM_KEY_LEN])
{
	unsigned b = 2;

	while (b < 64 && ((uint64_t)1 << b) < capacity)
		b++;
	p->capacity = capacity;
	p->k0 = load_le64(key);
	p->k1 = load_le64(key + 8);
	p->lbits = b / 2;
	p->rbits = b - b / 2;
	p->lmask = ((uint64_t)1 << p->lbits) - 1;
	p->rmask = ((uint64_t)1 << p->rbits) - 1;
}

/* The round function: the round number goes in the top byte, the half
 * (at most 32 bits wide) in the low bits, so no two (round, half) pairs
 * share a message. */
static inline uint64_t round_fn(const struct perm *p, unsigned r, uint64_t x)
{
	return perm_siphash_u64(p->k0, p->k1, ((uint64_t)r << 56) | x);
}

/* One pass of the network over [0, 2^b). Even rounds change the left
 * half from the right, odd rounds the right from the left, so each round
 * is undone by applying it again. */
static uint64_t feistel(const struct perm *p, uint64_t x)
{
	uint64_t l = x >> p->rbits, r = x & p->rmask;
	unsigned i;

	for (i = 0; i < PERM_ROUNDS; i++) {
		if (i & 1)
			r ^= round_fn(p, i, l) & p->rmask;
		else
			l ^= round_fn(p, i, r) & p->lmask;
	}
	return (l << p->rbits) | r;
}

static uint64_t feistel_inv(const struct perm *p, uint64_t x)
{
	uint64_t l = x >> p->rbits, r = x & p->rmask;
	unsigned i;

	for (i = PERM_ROUNDS; i-- > 0;) {
		if (i & 1)
			r ^= round_fn(p, i, l) & p->rmask;
		else
			l ^= round_fn(p, i, r) & p->lmask;
	}
	return (l << p->rbits) | r;
}

uint64_t perm_apply(const struct perm *p, uint64_t i)
{
	uint64_t x = feistel(p, i);

	/* Cycle walking: not a retry loop on collisions, but the standard way
	 * to restrict a permutation of [0, 2^b) to [0, capacity); it ends in
	 * fewer than 2 passes on average (see perm.h). */
	while (x >= p->capacity)
		x = feistel(p, x);
	return x;
}

uint64_t perm_invert(const struct perm *p, uint64_t v)
{
	uint64_t x = feistel_inv(p, v);

	while (x >= p->capacity)
		x = feistel_inv(p, x);
	return x;
}

int perm_random_key(uint8_t key[PERM_KEY_LEN])
{
	size_t got = 0;

	while (got < PERM_KEY_LEN) {
		ssize_t n = getrandom(key + got, PERM_KEY_LEN - got, 0);

		if (n < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		got += (size_t)n;
	}
	return 0;
}
