/*
 * value.h: how a pool's values look on the wire, and back.
 *
 * A pool value is identified by its index k in [0, capacity) (see
 * struct pool_def). value_format() turns k into the exact text sent to
 * clients; value_parse() turns text from a client back into k, so that
 * lookups agree with what was served byte for byte. Int and float values
 * are JSON numbers; codes (code.h) are strings.
 */
#ifndef UNIQ_VALUE_H
#define UNIQ_VALUE_H

#include <stddef.h>
#include <stdint.h>

#include "common/config.h"

/* Longest text of any value, NUL excluded: a code (its pattern's length)
 * is the longest; a float or an int64 takes at most 24. */
#define VALUE_TEXT_MAX CODE_PATTERN_MAX

/*
 * Writes the text of value k of pool d to buf (at least VALUE_TEXT_MAX + 1
 * bytes) and returns its length. Int pools print a decimal integer; float
 * pools print exactly d->decimals digits after the point ("839.347209",
 * "-0.500000"; no point when decimals is 0). The text is also a valid JSON
 * number. k must be < d->capacity.
 */
size_t value_format(const struct pool_def *d, uint64_t k, char *buf);

/*
 * Parses text as a value of pool d and writes its index to *k. Int pools
 * take an optional '-' and digits without leading zeros ("-0" and "007"
 * are refused: value_format never writes them); float pools also take a
 * '.' and up to d->decimals digits after it (fewer are padded with zeros:
 * "1.5" is "1.500000"; more are allowed only as zeros). Returns 0, -EINVAL for text that is not a number of the
 * pool's shape, or -ERANGE for a number outside the pool's range.
 */
int value_parse(const struct pool_def *d, const char *text, uint64_t *k);

/* 10^n for n <= 18. */
int64_t value_pow10(unsigned n);

#endif
