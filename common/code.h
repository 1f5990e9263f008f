/*
 * code.h: one-time codes (seed 002): their text, and prefixes.
 *
 * A code pool has a pattern ("#####-#####": '#' is one symbol of the
 * alphabet, any other character is itself) and an alphabet of A symbols;
 * with S slots ('#') it holds A^S codes. A code is identified by its index
 * k in [0, A^S): the slots read as a number in base A, the first slot
 * most significant, symbol i of the alphabet being digit i. So the codes
 * that share a prefix form one contiguous range of indices.
 *
 * A prefix is the leading characters of a code, literal positions
 * included ("AAA", "AAAAA-A"); it fixes its first L slots and must leave
 * at least one free. Two spellings that fix the same slots ("AAAAA" and
 * "AAAAA-") are the same prefix: its canonical form is the symbols of its
 * slots only.
 */
#ifndef UNIQ_CODE_H
#define UNIQ_CODE_H

#include <stddef.h>
#include <stdint.h>

#include "common/config.h"

struct code_prefix {
	unsigned len;		/* slots fixed (L), 0 <= L < S */
	uint64_t value;		/* their digits as a number in base A */
	char canon[CODE_PATTERN_MAX + 1]; /* their symbols: the stream's name */
};

/* Writes code k of pool d (k < capacity) into buf (at least
 * CODE_PATTERN_MAX + 1 bytes); returns its length. */
size_t code_format(const struct pool_def *d, uint64_t k, char *buf);

/* Parses a whole code of pool d. Returns 0, or -EINVAL if text is not one
 * (wrong length, a symbol outside the alphabet, a literal that differs). */
int code_parse(const struct pool_def *d, const char *text, uint64_t *k);

/*
 * Parses a prefix of pool d ("" is the empty prefix). Returns 0, -EINVAL
 * for a symbol outside the alphabet, -EBADMSG for a literal that differs
 * from the pattern's, or -E2BIG for a prefix that leaves no slot free.
 */
int code_prefix_parse(const struct pool_def *d, const char *text,
		      struct code_prefix *out);

/* The number of codes under a prefix of len slots: A^(S - len). */
uint64_t code_combinations(const struct pool_def *d, unsigned len);

/* The indices of the codes under p: [*lo, *lo + combinations). */
uint64_t code_prefix_first(const struct pool_def *d,
			   const struct code_prefix *p);

/* The first len digits of code k, as a number in base A. */
uint64_t code_top(const struct pool_def *d, uint64_t k, unsigned len);

/* The prefix made of the first len slots of code k (canonical form). */
void code_prefix_of(const struct pool_def *d, uint64_t k, unsigned len,
		    struct code_prefix *out);

#endif
