/*
 * t_util.h: helpers that several unit tests share (they were copied from
 * test to test): a CHECK of return codes, removing a temporary directory, a
 * file's bytes, a path in a directory, a seeded random sequence and a
 * qsort comparison. Include after t.h, before common/banned.h.
 */
#ifndef UNIQ_T_UTIL_H
#define UNIQ_T_UTIL_H

#include <ftw.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>

#include "common/log.h"
#include "common/outcome.h"
#include "tests/unit/t.h"

/* Checks that a call returning 0, an outcome or a negative errno
 * (outcome.h) returns want, saying what it got. */
#define CHECK_RC(expr, want)                                                \
	do {                                                                \
		int rc_ = (expr);                                           \
		CHECKF(rc_ == (want), "%s returned %d (%s)", #expr, rc_,    \
		       outcome_str(rc_));                                   \
	} while (0)

static inline int t_rm_entry(const char *path, const struct stat *sb,
			     int type, struct FTW *ftw)
{
	(void)sb;
	(void)type;
	(void)ftw;
	return remove(path);
}

/* Deletes dir and everything under it. */
static inline void t_rm_rf(const char *dir)
{
	nftw(dir, t_rm_entry, 16, FTW_DEPTH | FTW_PHYS);
}

/* buf = dir "/" name; exits if it does not fit. */
static inline void t_path_in(char *buf, size_t len, const char *dir,
			     const char *name)
{
	if (snprintf(buf, len, "%s/%s", dir, name) >= (int)len) {
		fprintf(stderr, "path too long\n");
		exit(2);
	}
}

/* The bytes of the file at path in a malloc'd buffer (one spare byte),
 * *len their number; NULL (*len 0) if it cannot be read. */
static inline unsigned char *t_slurp(const char *path, size_t *len)
{
	unsigned char *buf = NULL;
	struct stat st;
	FILE *f;

	*len = 0;
	if (stat(path, &st) != 0)
		return NULL;
	f = fopen(path, "rb");
	if (!f)
		return NULL;
	buf = malloc((size_t)st.st_size + 1);
	if (buf && fread(buf, 1, (size_t)st.st_size, f) != (size_t)st.st_size) {
		free(buf);
		buf = NULL;
	}
	fclose(f);
	if (buf)
		*len = (size_t)st.st_size;
	return buf;
}

/* splitmix64: the next value of the sequence seeded by *s. */
static inline uint64_t t_rng_next(uint64_t *s)
{
	uint64_t z = (*s += 0x9e3779b97f4a7c15ULL);

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
	return z ^ (z >> 31);
}

/* qsort order of uint64_t. */
static inline int t_cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return x < y ? -1 : x > y;
}

#endif
