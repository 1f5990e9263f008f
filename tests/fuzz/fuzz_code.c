/*
 * fuzz_code.c: code pools (common/code.h): patterns and alphabets, codes
 * and prefixes, from any bytes.
 *
 * The input is "PATTERN\nALPHABET\nCODE\nPREFIX": the pattern and the
 * alphabet of a code pool (an empty one keeps config.c's default), given
 * to config_parse as uniqd's configuration would; if the pool is
 * accepted, CODE is parsed as one of its codes and PREFIX as a prefix,
 * and an index drawn from a hash of the input is written as a code. What
 * must hold:
 *  - a code parses if and only if it has the pattern's length, its
 *    literals and symbols of the alphabet in the slots; it reads as its
 *    slots in base A, and is written back byte for byte;
 *  - any index < capacity is written as such a code and reads back;
 *  - a prefix parses as code.h says (-E2BIG, -EBADMSG, -EINVAL in the
 *    order met); its canonical form is its slots' symbols, and the codes
 *    under it are exactly the range [first, first + combinations) of the
 *    codes that start with it.
 */
#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/buf.h"
#include "common/code.h"
#include "common/config.h"
#include "common/value.h"
#include "tests/fuzz/fuzz.h"
#include "common/banned.h"

/* A JSON string of the bytes of s, every ASCII byte escaped so that
 * config.c sees exactly them. */
static void add_escaped(struct buf *b, const char *s)
{
	buf_addc(b, '"');
	for (; *s; s++) {
		if ((unsigned char)*s < 0x80)
			buf_printf(b, "\\u%04x", (unsigned char)*s);
		else
			buf_addc(b, *s);
	}
	buf_addc(b, '"');
}

/* Makes the code pool of pattern and alphabet ("" for the default).
 * Returns 0, or -EINVAL if config.c refuses it. */
static int make_pool(const char *pattern, const char *alphabet,
		     struct pool_def *d)
{
	struct buf b = BUF_INIT;
	struct config c;
	char err[256] = "", *json;
	size_t len;
	int rc;

	buf_adds(&b, "{\"pools\":[{\"name\":\"c\",\"kind\":\"code\"");
	if (*pattern) {
		buf_adds(&b, ",\"pattern\":");
		add_escaped(&b, pattern);
	}
	if (*alphabet) {
		buf_adds(&b, ",\"alphabet\":");
		add_escaped(&b, alphabet);
	}
	buf_adds(&b, "}]}");
	json = buf_detach(&b, &len);
	FUZZ_CHECK(json);
	FUZZ_CHECK(config_default(&c) == 0);
	rc = config_parse(&c, json, err, sizeof(err));
	if (rc == 0) {
		FUZZ_CHECK(c.npools == 1 && c.pools[0].kind == POOL_CODE);
		*d = c.pools[0];
	} else {
		FUZZ_CHECKF(rc == -EINVAL && err[0], "rc %d", rc);
	}
	config_release(&c);
	free(json);
	return rc;
}

static uint64_t fnv64(const uint8_t *data, size_t size)
{
	uint64_t h = 14695981039346656037ull;
	size_t i;

	for (i = 0; i < size; i++) {
		h ^= data[i];
		h *= 1099511628211ull;
	}
	return h;
}

/* The digit of symbol c in d's alphabet, or -1. */
static int digit(const struct pool_def *d, char c)
{
	size_t i;

	for (i = 0; c && d->alphabet[i]; i++)
		if (d->alphabet[i] == c)
			return (int)i;
	return -1;
}

/* code.h's definition of a code, restated: 0 with *k, or -EINVAL. */
static int ref_code(const struct pool_def *d, const char *text, uint64_t *k)
{
	size_t a = strlen(d->alphabet), i;
	uint64_t v = 0;

	if (strlen(text) != strlen(d->pattern))
		return -EINVAL;
	for (i = 0; d->pattern[i]; i++) {
		if (d->pattern[i] != '#') {
			if (text[i] != d->pattern[i])
				return -EINVAL;
		} else if (digit(d, text[i]) < 0) {
			return -EINVAL;
		} else {
			v = v * a + (uint64_t)digit(d, text[i]);
		}
	}
	*k = v;
	return 0;
}

/* Code k, written: the pattern's shape, and it reads back as k. */
static void check_index(const struct pool_def *d, uint64_t k, char *text)
{
	uint64_t back = UINT64_MAX, ref = UINT64_MAX;
	size_t n;

	FUZZ_CHECK(k < d->capacity);
	n = value_format(d, k, text);
	FUZZ_CHECK(n == strlen(d->pattern) && n == strlen(text));
	FUZZ_CHECKF(ref_code(d, text, &ref) == 0 && ref == k,
		    "index %llu is written \"%s\"", (unsigned long long)k,
		    text);
	FUZZ_CHECK(value_parse(d, text, &back) == 0 && back == k);
	FUZZ_CHECK(code_parse(d, text, &back) == 0 && back == k);
}

static void check_code(const struct pool_def *d, const char *text)
{
	char again[VALUE_TEXT_MAX + 1];
	uint64_t k = UINT64_MAX, ref = UINT64_MAX;
	int rc = value_parse(d, text, &k), rrc = ref_code(d, text, &ref);

	FUZZ_CHECKF(rc == rrc, "\"%s\": rc %d, expected %d", text, rc, rrc);
	if (rc)
		return;
	FUZZ_CHECK(k == ref && k < d->capacity);
	value_format(d, k, again);
	FUZZ_CHECKF(!strcmp(again, text), "\"%s\" is written back \"%s\"",
		    text, again);
}

/* code_prefix_parse's contract, restated. */
static int ref_prefix(const struct pool_def *d, const char *text,
		      unsigned *len)
{
	size_t n = strlen(text), i;

	*len = 0;
	if (n >= strlen(d->pattern))
		return -E2BIG;
	for (i = 0; i < n; i++) {
		if (d->pattern[i] != '#') {
			if (text[i] != d->pattern[i])
				return -EBADMSG;
		} else if (digit(d, text[i]) < 0) {
			return -EINVAL;
		} else {
			(*len)++;
		}
	}
	return *len >= d->slots ? -E2BIG : 0;
}

static bool starts_with(const char *s, const char *prefix)
{
	return !strncmp(s, prefix, strlen(prefix));
}

static void check_prefix(const struct pool_def *d, const char *text,
			 const char *code, uint64_t h)
{
	char c1[VALUE_TEXT_MAX + 1], c2[VALUE_TEXT_MAX + 1];
	struct code_prefix p, q;
	unsigned len, i, j;
	uint64_t first, comb, k;
	int rc, rrc;

	memset(&p, 0xa5, sizeof(p));
	rc = code_prefix_parse(d, text, &p);
	rrc = ref_prefix(d, text, &len);
	FUZZ_CHECKF(rc == rrc, "prefix \"%s\": rc %d, expected %d", text, rc,
		    rrc);
	if (rc)
		return;
	FUZZ_CHECK(p.len == len && p.len < d->slots);
	/* The canonical form: the symbols of the slots it fixes. */
	FUZZ_CHECK(strlen(p.canon) == p.len);
	for (i = 0, j = 0; text[i]; i++)
		if (d->pattern[i] == '#')
			FUZZ_CHECK(p.canon[j++] == text[i]);
	comb = code_combinations(d, p.len);
	first = code_prefix_first(d, &p);
	FUZZ_CHECK(comb >= 2 && comb <= d->capacity);
	FUZZ_CHECK((fuzz_u128)first + comb <= d->capacity);
	FUZZ_CHECK(code_top(d, first, p.len) == p.value);
	/* The codes that start with it are exactly [first, first + comb). */
	check_index(d, first, c1);
	FUZZ_CHECKF(starts_with(c1, text), "prefix \"%s\", first code %s",
		    text, c1);
	check_index(d, first + comb - 1, c1);
	FUZZ_CHECK(starts_with(c1, text));
	if (first > 0) {
		check_index(d, first - 1, c1);
		FUZZ_CHECK(!starts_with(c1, text));
	}
	if (first + comb < d->capacity) {
		check_index(d, first + comb, c1);
		FUZZ_CHECK(!starts_with(c1, text));
	}
	k = first + h % comb;
	check_index(d, k, c1);
	FUZZ_CHECK(starts_with(c1, text));
	code_prefix_of(d, k, p.len, &q);
	FUZZ_CHECK(q.len == p.len && q.value == p.value &&
		   !strcmp(q.canon, p.canon));
	/* Another spelling of the same slots: the code cut just after its
	 * last fixed slot, or just before the next one. */
	if (p.len) {
		for (i = 0, j = 0; j < p.len; i++)
			j += d->pattern[i] == '#';
		memcpy(c2, c1, i);
		c2[i] = '\0';
		FUZZ_CHECK(code_prefix_parse(d, c2, &q) == 0);
		FUZZ_CHECK(q.len == p.len && q.value == p.value &&
			   !strcmp(q.canon, p.canon));
		while (d->pattern[i] && d->pattern[i] != '#')
			i++;
		memcpy(c2, c1, i);
		c2[i] = '\0';
		FUZZ_CHECK(code_prefix_parse(d, c2, &q) == 0);
		FUZZ_CHECK(q.len == p.len && q.value == p.value &&
			   !strcmp(q.canon, p.canon));
	}
	/* A code is under the prefix if and only if it starts with it. */
	if (value_parse(d, code, &k) == 0)
		FUZZ_CHECK((k >= first && k - first < comb) ==
			   starts_with(code, text));
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char text[VALUE_TEXT_MAX + 1];
	struct code_prefix p;
	struct fuzz_parts in;
	struct pool_def d;
	uint64_t h = fnv64(data, size);
	unsigned len;

	if (fuzz_split(data, size, '\n', 4, &in))
		return 0;
	if (make_pool(in.part[0], in.part[1], &d))
		goto out;
	FUZZ_CHECK(d.slots >= 1 && d.capacity >= 2);
	check_index(&d, 0, text);
	check_index(&d, d.capacity - 1, text);
	check_index(&d, h % d.capacity, text);
	check_code(&d, in.part[2]);
	check_prefix(&d, in.part[3], in.part[2], h);
	check_prefix(&d, "", in.part[2], h);
	/* The prefix of any length the index of the input's hash has. */
	len = (unsigned)(h >> 32) % d.slots;
	code_prefix_of(&d, h % d.capacity, len, &p);
	FUZZ_CHECK(p.len == len && strlen(p.canon) == len);
	FUZZ_CHECK(p.value == code_top(&d, h % d.capacity, len));
out:
	free(in.mem);
	return 0;
}
