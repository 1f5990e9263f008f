/*
 * code.c: one-time codes' text and prefixes; see code.h.
 */
#include <errno.h>
#include <string.h>

#include "common/code.h"
#include "common/banned.h"

static uint64_t ipow(uint64_t b, unsigned e)
{
	uint64_t r = 1;

	while (e--)
		r *= b;
	return r;
}

uint64_t code_combinations(const struct pool_def *d, unsigned len)
{
	return ipow(strlen(d->alphabet), d->slots - len);
}

/* The digit of symbol c, or -1. */
static int digit_of(const struct pool_def *d, char c)
{
	const char *p = c ? strchr(d->alphabet, c) : NULL;

	return p ? (int)(p - d->alphabet) : -1;
}

size_t code_format(const struct pool_def *d, uint64_t k, char *buf)
{
	size_t a = strlen(d->alphabet), n = strlen(d->pattern), i;

	/* Fill the slots from the last (least significant) backwards. */
	for (i = n; i-- > 0;) {
		if (d->pattern[i] == '#') {
			buf[i] = d->alphabet[k % a];
			k /= a;
		} else {
			buf[i] = d->pattern[i];
		}
	}
	buf[n] = '\0';
	return n;
}

int code_parse(const struct pool_def *d, const char *text, uint64_t *k)
{
	size_t a = strlen(d->alphabet), n = strlen(d->pattern), i;
	uint64_t v = 0;
	int dg;

	if (strlen(text) != n)
		return -EINVAL;
	for (i = 0; i < n; i++) {
		if (d->pattern[i] != '#') {
			if (text[i] != d->pattern[i])
				return -EINVAL;
			continue;
		}
		dg = digit_of(d, text[i]);
		if (dg < 0)
			return -EINVAL;
		v = v * a + (uint64_t)dg;
	}
	*k = v;
	return 0;
}

int code_prefix_parse(const struct pool_def *d, const char *text,
		      struct code_prefix *out)
{
	size_t a = strlen(d->alphabet), n = strlen(text), i;
	unsigned len = 0;
	uint64_t v = 0;
	int dg;

	if (n >= strlen(d->pattern))
		return -E2BIG;
	for (i = 0; i < n; i++) {
		if (d->pattern[i] != '#') {
			if (text[i] != d->pattern[i])
				return -EBADMSG;
			continue;
		}
		dg = digit_of(d, text[i]);
		if (dg < 0)
			return -EINVAL;
		v = v * a + (uint64_t)dg;
		out->canon[len++] = text[i];
	}
	if (len >= d->slots)
		return -E2BIG;
	out->canon[len] = '\0';
	out->len = len;
	out->value = v;
	return 0;
}

uint64_t code_prefix_first(const struct pool_def *d,
			   const struct code_prefix *p)
{
	return p->value * code_combinations(d, p->len);
}

uint64_t code_top(const struct pool_def *d, uint64_t k, unsigned len)
{
	return k / code_combinations(d, len);
}

void code_prefix_of(const struct pool_def *d, uint64_t k, unsigned len,
		    struct code_prefix *out)
{
	size_t a = strlen(d->alphabet);
	uint64_t v = code_top(d, k, len), t = v;
	unsigned i;

	out->len = len;
	out->value = v;
	for (i = len; i-- > 0;) {
		out->canon[i] = d->alphabet[t % a];
		t /= a;
	}
	out->canon[len] = '\0';
}
