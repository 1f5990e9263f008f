/*
 * fuzz.h: what the fuzz targets of tests/fuzz share: the entry point
 * libFuzzer (or replay.c) calls, the check that turns a broken invariant
 * into a crash libFuzzer reports, and splitting an input into parts.
 *
 * A target never keeps state from one input to the next but what it sets
 * up once (pool definitions), and never writes outside its own memory.
 */
#ifndef UNIQ_FUZZ_H
#define UNIQ_FUZZ_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Called once per input by libFuzzer or by replay.c. Returns 0. */
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Aborts (a finding) unless cond holds. */
#define FUZZ_CHECK(cond)                                                    \
	do {                                                                \
		if (!(cond)) {                                              \
			fprintf(stderr, "%s:%d: invariant broken: %s\n",    \
				__FILE__, __LINE__, #cond);                 \
			abort();                                            \
		}                                                           \
	} while (0)

/* FUZZ_CHECK with a printf-style account of the values involved. */
#define FUZZ_CHECKF(cond, ...)                                              \
	do {                                                                \
		if (!(cond)) {                                              \
			fprintf(stderr, "%s:%d: invariant broken: %s: ",    \
				__FILE__, __LINE__, #cond);                 \
			fprintf(stderr, __VA_ARGS__);                       \
			fputc('\n', stderr);                                \
			abort();                                            \
		}                                                           \
	} while (0)

/* 128-bit integers, for checking 64-bit arithmetic without overflowing. */
__extension__ typedef __int128 fuzz_i128;
__extension__ typedef unsigned __int128 fuzz_u128;

/* Up to FUZZ_PARTS_MAX NUL-terminated parts of an input. */
#define FUZZ_PARTS_MAX 8

struct fuzz_parts {
	char *mem;		/* one allocation: free(mem) */
	const char *part[FUZZ_PARTS_MAX];
	size_t len[FUZZ_PARTS_MAX]; /* up to the part's first NUL */
	unsigned n;
};

/*
 * Copies data into p->mem and cuts it at each byte sep into at most
 * `max` parts (the last one keeps any further sep), each NUL-terminated;
 * parts missing from the input are "". Returns 0, or -1 when out of
 * memory (nothing to free then).
 */
static inline int fuzz_split(const uint8_t *data, size_t size, char sep,
			     unsigned max, struct fuzz_parts *p)
{
	size_t i, start = 0;

	memset(p, 0, sizeof(*p));
	if (max == 0 || max > FUZZ_PARTS_MAX)
		max = FUZZ_PARTS_MAX;
	/* The copy, its NUL, and one spare NUL per missing part. */
	p->mem = calloc(1, size + max);
	if (!p->mem)
		return -1;
	if (size)
		memcpy(p->mem, data, size);
	for (i = 0; i < size && p->n + 1 < max; i++) {
		if (p->mem[i] != sep)
			continue;
		p->mem[i] = '\0';
		p->part[p->n++] = p->mem + start;
		start = i + 1;
	}
	p->part[p->n++] = p->mem + start;
	for (i = 0; i < p->n; i++)
		p->len[i] = strlen(p->part[i]);
	for (i = p->n; i < max; i++)
		p->part[i] = p->mem + size + 1 + (i - p->n);
	return 0;
}

#endif
