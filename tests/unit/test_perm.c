/*
 * test_perm.c: tests common/perm: SipHash-2-4 against the reference
 * vectors and an independent byte-oriented implementation, that
 * perm_apply is a bijection of [0, capacity) undone by perm_invert
 * (exhaustively for small capacities, by sampling for large ones), that
 * the key alone decides the sequence, a rough uniformity check, and
 * perm_random_key.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/perm.h"
#include "tests/unit/t.h"
#include "tests/unit/t_util.h"
#include "common/banned.h"

/* The key of the SipHash reference vectors: bytes 00 01 .. 0f. */
static void ref_key(uint8_t key[PERM_KEY_LEN])
{
	int i;

	for (i = 0; i < PERM_KEY_LEN; i++)
		key[i] = (uint8_t)i;
}

static uint64_t le64(const uint8_t *b)
{
	uint64_t v = 0;
	int i;

	for (i = 0; i < 8; i++)
		v |= (uint64_t)b[i] << (8 * i);
	return v;
}

/*
 * SipHash-2-4 written from the paper, over a byte string of any length,
 * independently of perm.c; checked below against published vectors of
 * other lengths before it is used as an oracle.
 */
static uint64_t rotl(uint64_t x, int b)
{
	return (x << b) | (x >> (64 - b));
}

static void sip_round(uint64_t v[4])
{
	v[0] += v[1];
	v[1] = rotl(v[1], 13);
	v[1] ^= v[0];
	v[0] = rotl(v[0], 32);
	v[2] += v[3];
	v[3] = rotl(v[3], 16);
	v[3] ^= v[2];
	v[0] += v[3];
	v[3] = rotl(v[3], 21);
	v[3] ^= v[0];
	v[2] += v[1];
	v[1] = rotl(v[1], 17);
	v[1] ^= v[2];
	v[2] = rotl(v[2], 32);
}

static uint64_t ref_siphash(const uint8_t key[16], const uint8_t *msg,
			    size_t len)
{
	uint64_t k0 = le64(key), k1 = le64(key + 8);
	uint64_t v[4] = { k0 ^ 0x736f6d6570736575ULL,
			  k1 ^ 0x646f72616e646f6dULL,
			  k0 ^ 0x6c7967656e657261ULL,
			  k1 ^ 0x7465646279746573ULL };
	uint8_t last[8] = { 0 };
	size_t i, full = len / 8 * 8;
	uint64_t m;

	for (i = 0; i < full; i += 8) {
		m = le64(msg + i);
		v[3] ^= m;
		sip_round(v);
		sip_round(v);
		v[0] ^= m;
	}
	memcpy(last, msg + full, len - full);
	last[7] = (uint8_t)len;
	m = le64(last);
	v[3] ^= m;
	sip_round(v);
	sip_round(v);
	v[0] ^= m;
	v[2] ^= 0xff;
	for (i = 0; i < 4; i++)
		sip_round(v);
	return v[0] ^ v[1] ^ v[2] ^ v[3];
}

static void test_siphash_vector(void)
{
	uint8_t key[16], msg[16], kb[16], mb[8];
	uint64_t k0, k1, s = 42;
	int i, j;

	ref_key(key);
	for (i = 0; i < 16; i++)
		msg[i] = (uint8_t)i;
	k0 = le64(key);
	k1 = le64(key + 8);
	CHECK_EQ_U64(k0, 0x0706050403020100ULL);
	CHECK_EQ_U64(k1, 0x0f0e0d0c0b0a0908ULL);

	/* vectors_sip64[8]: 62 24 93 9a 79 f5 f5 93. */
	CHECK_EQ_U64(perm_siphash_u64(k0, k1, 0x0706050403020100ULL),
		     0x93f5f5799a932462ULL);

	/* The oracle against vectors_sip64[0], [8] and [15] (the paper's
	 * example, 0xa129ca6149be45e5). */
	CHECK_EQ_U64(ref_siphash(key, msg, 0), 0x726fdb47dd0e0e31ULL);
	CHECK_EQ_U64(ref_siphash(key, msg, 8), 0x93f5f5799a932462ULL);
	CHECK_EQ_U64(ref_siphash(key, msg, 15), 0xa129ca6149be45e5ULL);

	/* perm_siphash_u64 agrees with the oracle on random keys and words. */
	for (i = 0; i < 10000; i++) {
		uint64_t a = t_rng_next(&s), b = t_rng_next(&s);
		uint64_t m = t_rng_next(&s);
		uint64_t got, want;

		for (j = 0; j < 8; j++) {
			kb[j] = (uint8_t)(a >> (8 * j));
			kb[8 + j] = (uint8_t)(b >> (8 * j));
			mb[j] = (uint8_t)(m >> (8 * j));
		}
		got = perm_siphash_u64(a, b, m);
		want = ref_siphash(kb, mb, 8);
		if (got != want) {
			CHECKF(got == want, "k0 %016llx k1 %016llx m %016llx",
			       (unsigned long long)a, (unsigned long long)b,
			       (unsigned long long)m);
			break;
		}
	}
	CHECK(i == 10000);
}

/*
 * Checks that perm_apply maps [0, capacity) onto itself one to one and
 * that perm_invert undoes it. Returns 0 when all is well (one failure is
 * reported per capacity, not one per value).
 */
static int check_bijection(uint64_t capacity, const uint8_t *key)
{
	struct perm p;
	uint8_t *seen = calloc((size_t)capacity, 1);
	uint64_t i, v;
	int bad = 0;

	if (!seen) {
		CHECK(seen != NULL);
		return -1;
	}
	perm_init(&p, capacity, key);
	for (i = 0; i < capacity && !bad; i++) {
		v = perm_apply(&p, i);
		if (v >= capacity) {
			CHECKF(v < capacity,
			       "capacity %llu: apply(%llu) = %llu",
			       (unsigned long long)capacity,
			       (unsigned long long)i, (unsigned long long)v);
			bad = 1;
		} else if (seen[v]) {
			CHECKF(!seen[v], "capacity %llu: %llu issued twice",
			       (unsigned long long)capacity,
			       (unsigned long long)v);
			bad = 1;
		} else if (perm_invert(&p, v) != i) {
			CHECKF(0, "capacity %llu: invert(apply(%llu)) = %llu",
			       (unsigned long long)capacity,
			       (unsigned long long)i,
			       (unsigned long long)perm_invert(&p, v));
			bad = 1;
		} else {
			seen[v] = 1;
		}
	}
	free(seen);
	return bad;
}

static void test_bijection_small(void)
{
	uint8_t key[PERM_KEY_LEN], key2[PERM_KEY_LEN];
	uint64_t c;
	unsigned k;
	int bad = 0;

	ref_key(key);
	for (k = 0; k < PERM_KEY_LEN; k++)
		key2[k] = (uint8_t)(0xa5 ^ (k * 37));
	for (c = 1; c <= 4096; c++)
		bad |= check_bijection(c, (c & 1) ? key : key2);
	for (k = 1; k <= 18; k++) {
		uint64_t base = (uint64_t)1 << k;

		bad |= check_bijection(base - 1, key);
		bad |= check_bijection(base, key2);
		bad |= check_bijection(base + 1, key);
	}
	CHECK(!bad);
}

/*
 * Samples a large domain: the first min(capacity, 1M) counters and 256K
 * random ones. Checks range, inverse, that no two distinct inputs share an
 * output, and that outputs reach both halves of the domain evenly.
 */
static void check_sampled(uint64_t capacity, const uint8_t *key)
{
	const size_t nfirst = 1000000, nrand = 262144;
	size_t n = 0, i, uniq, dups = 0, bad = 0, upper = 0;
	uint64_t *in = malloc((nfirst + nrand) * sizeof(*in));
	uint64_t *out = malloc((nfirst + nrand) * sizeof(*out));
	uint64_t s = capacity ^ 0x1234, x;
	struct perm p;

	if (!in || !out) {
		CHECK(in && out);
		goto out;
	}
	perm_init(&p, capacity, key);
	for (x = 0; x < capacity && x < nfirst; x++)
		in[n++] = x;
	for (i = 0; i < nrand; i++)
		in[n++] = t_rng_next(&s) % capacity;
	qsort(in, n, sizeof(*in), t_cmp_u64);
	for (i = 0, uniq = 0; i < n; i++)
		if (uniq == 0 || in[i] != in[uniq - 1])
			in[uniq++] = in[i];
	if (capacity > 2000000)
		CHECKF(uniq > nfirst + nrand / 2, "only %zu distinct inputs",
		       uniq);
	for (i = 0; i < uniq; i++) {
		out[i] = perm_apply(&p, in[i]);
		if (out[i] >= capacity || perm_invert(&p, out[i]) != in[i])
			bad++;
		if (out[i] >= capacity - capacity / 2)
			upper++;
	}
	CHECKF(bad == 0, "capacity %llu: %zu outputs out of range or not "
	       "inverted", (unsigned long long)capacity, bad);
	qsort(out, uniq, sizeof(*out), t_cmp_u64);
	for (i = 1; i < uniq; i++)
		if (out[i] == out[i - 1])
			dups++;
	CHECKF(dups == 0, "capacity %llu: %zu collisions",
	       (unsigned long long)capacity, dups);
	if (capacity == 3)
		CHECK_EQ_U64(uniq, 3);
	if (capacity > 2000000) {
		/* Binomial(uniq, ~1/2): the standard deviation is ~560. */
		double frac = (double)upper / (double)uniq;

		CHECKF(frac > 0.49 && frac < 0.51,
		       "capacity %llu: %.4f of outputs in the upper half",
		       (unsigned long long)capacity, frac);
	}
out:
	free(in);
	free(out);
}

static void test_large_domains(void)
{
	uint8_t key[PERM_KEY_LEN];
	uint64_t p36 = 1;
	int i;

	for (i = 0; i < 10; i++)
		p36 *= 36;
	ref_key(key);
	check_sampled((uint64_t)1 << 53, key);
	check_sampled(1000000000000ULL, key);
	check_sampled(p36, key);
	check_sampled(UINT64_MAX, key);
	check_sampled(3, key);
	key[3] ^= 0x40;
	check_sampled(UINT64_MAX, key);
	check_sampled(((uint64_t)1 << 63) + 1, key);
}

static void test_keys(void)
{
	uint8_t a[PERM_KEY_LEN], b[PERM_KEY_LEN], c[PERM_KEY_LEN];
	struct perm pa, pa2, pb, pc;
	uint64_t i, same_b = 0, same_c = 0, diff = 0;
	const uint64_t cap = (uint64_t)1 << 53;

	ref_key(a);
	memcpy(b, a, sizeof(a));
	b[0] ^= 1;		/* differs in k0 only */
	memcpy(c, a, sizeof(a));
	c[15] ^= 0x80;		/* differs in k1 only */

	/* perm_init must set every field: start from garbage. */
	memset(&pa2, 0xff, sizeof(pa2));
	perm_init(&pa, cap, a);
	perm_init(&pa2, cap, a);
	perm_init(&pb, cap, b);
	perm_init(&pc, cap, c);
	for (i = 0; i < 10000; i++) {
		uint64_t va = perm_apply(&pa, i);

		if (perm_apply(&pa2, i) != va)
			diff++;
		if (perm_apply(&pb, i) == va)
			same_b++;
		if (perm_apply(&pc, i) == va)
			same_c++;
	}
	CHECK_EQ_U64(diff, 0);
	/* Two unrelated permutations of 2^53 agree at a point with
	 * probability ~2^-53. */
	CHECK_EQ_U64(same_b, 0);
	CHECK_EQ_U64(same_c, 0);

	/* Also for a small pool, the whole sequences differ. */
	perm_init(&pa, 1000, a);
	perm_init(&pb, 1000, b);
	perm_init(&pc, 1000, c);
	same_b = same_c = 0;
	for (i = 0; i < 1000; i++) {
		if (perm_apply(&pb, i) == perm_apply(&pa, i))
			same_b++;
		if (perm_apply(&pc, i) == perm_apply(&pa, i))
			same_c++;
	}
	CHECKF(same_b < 20, "%llu of 1000 equal", (unsigned long long)same_b);
	CHECKF(same_c < 20, "%llu of 1000 equal", (unsigned long long)same_c);
}

static void test_uniformity(void)
{
	static const uint8_t keys[3][PERM_KEY_LEN] = {
		{ 0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15 },
		{ 0 },
		{ 0xde, 0xad, 0xbe, 0xef, 0x01, 0x23, 0x45, 0x67,
		  0x89, 0xab, 0xcd, 0xef, 0xfe, 0xdc, 0xba, 0x98 },
	};
	const uint64_t cap = (uint64_t)1 << 53;
	const unsigned n = 160000;
	unsigned kk, b;
	uint64_t i;

	for (kk = 0; kk < 3; kk++) {
		struct perm p;
		unsigned long count[16] = { 0 };
		double chi2 = 0, e = n / 16.0;

		perm_init(&p, cap, keys[kk]);
		for (i = 0; i < n; i++)
			count[perm_apply(&p, i) >> 49]++;
		for (b = 0; b < 16; b++)
			chi2 += (count[b] - e) * (count[b] - e) / e;
		/* 15 degrees of freedom: P(chi2 > 60) is about 1e-7. */
		CHECKF(chi2 < 60, "key %u: chi-square %.1f", kk, chi2);
	}

	/* A small pool: the first 100 of 1000 look like a random sample. */
	for (kk = 0; kk < 3; kk++) {
		struct perm p;
		uint64_t v[1000], sum = 0, fixed = 0;
		unsigned ups = 0;

		perm_init(&p, 1000, keys[kk]);
		for (i = 0; i < 1000; i++) {
			v[i] = perm_apply(&p, i);
			if (v[i] == i)
				fixed++;
		}
		for (i = 0; i < 100; i++)
			sum += v[i];
		for (i = 1; i < 100; i++)
			if (v[i] > v[i - 1])
				ups++;
		/* The mean of 100 drawn without replacement: 499.5, standard
		 * deviation ~27. Ascents of a random sequence: ~49.5 +- 3. */
		CHECKF(sum / 100.0 > 350 && sum / 100.0 < 650,
		       "key %u: mean %.1f", kk, sum / 100.0);
		CHECKF(ups > 30 && ups < 70, "key %u: %u ascents in 99", kk,
		       ups);
		CHECKF(fixed < 10, "key %u: %llu fixed points", kk,
		       (unsigned long long)fixed);
	}
}

static void test_random_key(void)
{
	uint8_t a[PERM_KEY_LEN], b[PERM_KEY_LEN], zero[PERM_KEY_LEN] = { 0 };

	memset(a, 0, sizeof(a));
	memset(b, 0, sizeof(b));
	CHECK(perm_random_key(a) == 0);
	CHECK(perm_random_key(b) == 0);
	CHECK(memcmp(a, b, sizeof(a)) != 0);
	CHECK(memcmp(a, zero, sizeof(a)) != 0);
	CHECK(memcmp(b, zero, sizeof(b)) != 0);
}

int main(void)
{
	test_siphash_vector();
	test_bijection_small();
	test_large_domains();
	test_keys();
	test_uniformity();
	test_random_key();
	return t_done("perm");
}
