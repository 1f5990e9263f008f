/*
 * fuzz_value.c: the values of int, float and sequence pools
 * (common/value.h, pools/seq.h) and the number and address parsers of
 * common/parse.h, from any bytes.
 *
 * The input is a header of 18 bytes, then a text: byte 0 picks what is
 * fuzzed (below), byte 1 a shape (a float pool's decimals, a sequence's
 * digits, a length), bytes 2-9 and 10-17 two 64-bit numbers (little
 * endian) that give a pool's range or parse bounds; a shorter input reads
 * as zeros. Each parser is checked against a plain restatement of its
 * contract: the same texts accepted, the same value, and -ERANGE for a
 * well-formed number out of range; what is accepted is written back in
 * the one form the server writes (format(parse(x)) is x made canonical,
 * parse(format(k)) is k).
 */
#include <arpa/inet.h>
#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/config.h"
#include "common/parse.h"
#include "common/value.h"
#include "pools/seq.h"
#include "tests/fuzz/fuzz.h"
#include "common/banned.h"

#define HEADER 18

enum mode { M_INT, M_FLOAT, M_SEQ, M_U64, M_I64, M_LISTEN, M_MODES };

/* What a restated parser found. */
enum verdict { BAD, RANGE, OK };

static uint64_t le64(const uint8_t *p)
{
	uint64_t v = 0;
	int i;

	for (i = 7; i >= 0; i--)
		v = v << 8 | p[i];
	return v;
}

static bool all_digits(const char *s, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++)
		if (s[i] < '0' || s[i] > '9')
			return false;
	return true;
}

/* Digits as a number, saturating just past 10^21 (out of any range, and
 * times 10^15 still far from overflowing). */
static fuzz_u128 digits_value(const char *s, size_t n)
{
	fuzz_u128 v = 0, big = (fuzz_u128)1000000000000ull * 1000000000ull;
	size_t i;

	for (i = 0; i < n; i++) {
		v = v * 10 + (fuzz_u128)(s[i] - '0');
		if (v > big)
			return big + 1;
	}
	return v;
}

/* ---- int and float pools ------------------------------------------ */

/*
 * value.h's syntax of a number of pool d, restated: -?(0|[1-9][0-9]*),
 * for float pools (\.[0-9]+)? with digits past d->decimals all zeros, no
 * "-0", at most VALUE_TEXT_MAX bytes. canon gets the text the server
 * writes for it.
 */
static enum verdict ref_number(const struct pool_def *d, const char *text,
			       uint64_t *k, char *canon)
{
	const char *s = text, *dot;
	size_t len = strlen(text), ilen, flen = 0, i;
	unsigned dec = d->kind == POOL_FLOAT ? d->decimals : 0;
	fuzz_u128 mag;
	fuzz_i128 v, lo, hi;
	bool neg = false;
	char *c = canon;

	if (len == 0 || len > VALUE_TEXT_MAX)
		return BAD;
	if (*s == '-') {
		neg = true;
		s++;
		*c++ = '-';
	}
	dot = strchr(s, '.');
	if (dot && d->kind != POOL_FLOAT)
		return BAD;
	ilen = dot ? (size_t)(dot - s) : strlen(s);
	if (ilen == 0 || !all_digits(s, ilen) || (ilen > 1 && s[0] == '0'))
		return BAD;
	if (dot) {
		flen = strlen(dot + 1);
		if (flen == 0 || !all_digits(dot + 1, flen))
			return BAD;
		for (i = dec; i < flen; i++)
			if (dot[1 + i] != '0')
				return BAD;
	}
	memcpy(c, s, ilen);
	c += ilen;
	if (dec) {
		*c++ = '.';
		for (i = 0; i < dec; i++)
			*c++ = i < flen ? dot[1 + i] : '0';
	}
	*c = '\0';
	mag = digits_value(s, ilen);
	for (i = 0; i < dec; i++)
		mag = mag * 10 + (fuzz_u128)(i < flen ? dot[1 + i] - '0' : 0);
	if (neg && mag == 0)
		return BAD;
	v = neg ? -(fuzz_i128)mag : (fuzz_i128)mag;
	lo = d->min;
	hi = (fuzz_i128)d->min + (fuzz_i128)d->capacity - 1;
	if (v < lo || v > hi)
		return RANGE;
	*k = (uint64_t)(v - lo);
	return OK;
}

static void check_number_text(const struct pool_def *d, const char *text)
{
	char canon[VALUE_TEXT_MAX + 32], again[VALUE_TEXT_MAX + 1];
	uint64_t k = UINT64_MAX, ref = UINT64_MAX;
	enum verdict want = ref_number(d, text, &ref, canon);
	int rc = value_parse(d, text, &k);

	switch (want) {
	case OK:
		FUZZ_CHECKF(rc == 0 && k == ref, "\"%s\" in [%lld, +%llu) "
			    "(%u decimals): rc %d, k %llu, expected %llu",
			    text, (long long)d->min,
			    (unsigned long long)d->capacity, d->decimals, rc,
			    (unsigned long long)k, (unsigned long long)ref);
		value_format(d, k, again);
		FUZZ_CHECKF(!strcmp(again, canon), "\"%s\" is written back "
			    "\"%s\", not \"%s\"", text, again, canon);
		break;
	case RANGE:
		FUZZ_CHECKF(rc == -ERANGE, "\"%s\" in [%lld, +%llu) (%u "
			    "decimals): rc %d, expected -ERANGE", text,
			    (long long)d->min, (unsigned long long)d->capacity,
			    d->decimals, rc);
		break;
	case BAD:
		FUZZ_CHECKF(rc == -EINVAL || rc == -ERANGE, "\"%s\" (%u "
			    "decimals): rc %d, k %llu, expected a refusal",
			    text, d->decimals, rc, (unsigned long long)k);
		break;
	}
}

/* Value k written, then read: the same k, and the text is canonical. */
static void check_number_index(const struct pool_def *d, uint64_t k)
{
	char text[VALUE_TEXT_MAX + 1], canon[VALUE_TEXT_MAX + 32];
	uint64_t back = UINT64_MAX, ref = UINT64_MAX;
	size_t n;

	FUZZ_CHECK(k < d->capacity);
	n = value_format(d, k, text);
	FUZZ_CHECK(n == strlen(text) && n <= 24);
	FUZZ_CHECKF(value_parse(d, text, &back) == 0 && back == k,
		    "k %llu is written \"%s\", read %llu",
		    (unsigned long long)k, text, (unsigned long long)back);
	FUZZ_CHECK(ref_number(d, text, &ref, canon) == OK && ref == k);
	FUZZ_CHECK(!strcmp(canon, text));
}

static void fuzz_number(const struct pool_def *d, const char *text,
			uint64_t h)
{
	check_number_text(d, text);
	check_number_index(d, 0);
	check_number_index(d, d->capacity - 1);
	check_number_index(d, h % d->capacity);
}

/* An int pool as config.c makes them: [min, min + capacity) within
 * int64, capacity >= 1. */
static void int_pool(struct pool_def *d, uint64_t a, uint64_t b)
{
	uint64_t room;

	memset(d, 0, sizeof(*d));
	d->kind = POOL_INT;
	d->min = (int64_t)a;
	room = (uint64_t)INT64_MAX - (uint64_t)d->min; /* values after min */
	d->capacity = b == 0 ? 1 : b;
	if (d->capacity - 1 > room)
		d->capacity = room == UINT64_MAX ? UINT64_MAX : room + 1;
	snprintf(d->name, sizeof(d->name), "i");
}

/* A float pool as config.c makes them: decimals <= 15, every value
 * within +-(10^15 - 1) units. */
static void float_pool(struct pool_def *d, unsigned shape, uint64_t a,
		       uint64_t b)
{
	const int64_t lim = FLOAT_UNITS_LIMIT;

	memset(d, 0, sizeof(*d));
	d->kind = POOL_FLOAT;
	d->decimals = shape % (FLOAT_DECIMALS_MAX + 1);
	d->min = (int64_t)(a % (uint64_t)(2 * lim - 1)) - (lim - 1);
	d->capacity = 1 + b % (uint64_t)(lim - d->min);
	snprintf(d->name, sizeof(d->name), "f");
}

/* ---- sequence pools ----------------------------------------------- */

static enum verdict ref_seq(const struct seq *sp, const char *text,
			    uint32_t *day, uint64_t *n)
{
	unsigned digits = sp->def->digits;
	uint64_t d, m;

	if (strlen(text) != 9 + digits || text[8] != '-' ||
	    !all_digits(text, 8) || !all_digits(text + 9, digits))
		return BAD;
	d = (uint64_t)digits_value(text, 8);
	m = d / 100 % 100;
	if (d < 19000101 || d > 99991231 || m < 1 || m > 12 ||
	    d % 100 < 1 || d % 100 > 31)
		return BAD;
	*n = (uint64_t)digits_value(text + 9, digits);
	if (*n < 1 || *n > sp->max)
		return BAD;
	*day = (uint32_t)d;
	return OK;
}

static void fuzz_seq(unsigned shape, uint64_t a, uint64_t b,
		     const char *text)
{
	struct pool_def d;
	struct seq sp;
	char id[SEQ_ID_MAX + 1];
	uint32_t day = 0, rday = 0;
	uint64_t n = 0, rn = 0;
	int rc;
	enum verdict want;

	memset(&d, 0, sizeof(d));
	memset(&sp, 0, sizeof(sp));
	d.kind = POOL_SEQUENCE;
	d.digits = 1 + shape % SEQ_DIGITS_MAX;
	d.capacity = (uint64_t)value_pow10(d.digits) - 1;
	snprintf(d.tz, sizeof(d.tz), "UTC");
	sp.def = &d;
	sp.max = d.capacity;

	rc = seq_parse(&sp, text, &day, &n);
	want = ref_seq(&sp, text, &rday, &rn);
	FUZZ_CHECKF((rc == 0) == (want == OK), "\"%s\" (%u digits): rc %d",
		    text, d.digits, rc);
	if (rc == 0) {
		FUZZ_CHECK(day == rday && n == rn);
		FUZZ_CHECK(seq_format(&sp, day, n, id) == strlen(text));
		FUZZ_CHECKF(!strcmp(id, text), "\"%s\" is written \"%s\"",
			    text, id);
	}
	/* Any id of a valid day, written and read back. */
	day = (uint32_t)(1900 + a % 8100) * 10000 +
	      (uint32_t)(1 + a / 8100 % 12) * 100 + (uint32_t)(1 + b % 31);
	n = 1 + b / 31 % sp.max;
	FUZZ_CHECK(seq_format(&sp, day, n, id) == 9 + d.digits);
	FUZZ_CHECKF(seq_parse(&sp, id, &rday, &rn) == 0 && rday == day &&
		    rn == n, "\"%s\"", id);
}

/* ---- parse.h ------------------------------------------------------ */

/* parse_u64's syntax: 1 to 20 digits. */
static enum verdict ref_u64(const char *s, size_t len, uint64_t min,
			    uint64_t max, uint64_t *out)
{
	fuzz_u128 v;

	if (len == 0 || len > 20 || !all_digits(s, len))
		return BAD;
	v = digits_value(s, len);
	if (v > UINT64_MAX || v < min || v > max)
		return RANGE;
	*out = (uint64_t)v;
	return OK;
}

static int verdict_rc(enum verdict v)
{
	return v == OK ? 0 : v == RANGE ? -ERANGE : -EINVAL;
}

static void fuzz_u64(unsigned shape, uint64_t a, uint64_t b, const char *text)
{
	size_t len = strlen(text), cut = len ? shape % (len + 1) : 0;
	uint64_t v = 0, rv = 0;
	enum verdict want;
	char *exact;
	int rc;

	rc = parse_u64(text, a, b, &v);
	want = ref_u64(text, len, a, b, &rv);
	FUZZ_CHECKF(rc == verdict_rc(want), "parse_u64(\"%s\", %llu, %llu): "
		    "rc %d", text, (unsigned long long)a,
		    (unsigned long long)b, rc);
	FUZZ_CHECK(rc || v == rv);
	/* parse_u64_n on `cut` bytes that are not NUL-terminated: a read
	 * past them is an overflow the sanitizer reports. */
	exact = malloc(cut ? cut : 1);
	if (!exact)
		return;
	memcpy(exact, text, cut);
	rc = parse_u64_n(exact, cut, a, b, &v);
	want = ref_u64(text, cut, a, b, &rv);
	FUZZ_CHECK(rc == verdict_rc(want) && (rc || v == rv));
	free(exact);
}

static void fuzz_i64(uint64_t a, uint64_t b, const char *text)
{
	int64_t min = (int64_t)a, max = (int64_t)b, v = 0;
	const char *s = text;
	enum verdict want;
	fuzz_i128 rv = 0;
	bool neg = *s == '-';
	size_t len;
	int rc;

	s += neg;
	len = strlen(s);
	if (len == 0 || len > 20 || !all_digits(s, len)) {
		want = BAD;
	} else {
		rv = (fuzz_i128)digits_value(s, len);
		if (neg)
			rv = -rv;
		want = rv < INT64_MIN || rv > INT64_MAX || rv < min ||
		       rv > max ? RANGE : OK;
	}
	rc = parse_i64(text, min, max, &v);
	FUZZ_CHECKF(rc == verdict_rc(want), "parse_i64(\"%s\", %lld, %lld): "
		    "rc %d", text, (long long)min, (long long)max, rc);
	FUZZ_CHECK(rc || v == rv);
}

static void fuzz_listen(unsigned shape, const char *text)
{
	size_t hostlen = 1 + shape % 80, hl;
	unsigned char addr[sizeof(struct in6_addr)];
	char *host = malloc(hostlen), expect[256];
	uint64_t p;
	uint16_t port = 0;
	int rc;

	if (!host)
		return;
	rc = parse_listen(text, host, hostlen, &port);
	if (rc == 0) {
		hl = strnlen(host, hostlen);
		FUZZ_CHECK(hl >= 1 && hl < hostlen && hl < INET6_ADDRSTRLEN);
		FUZZ_CHECKF(!strcmp(host, "localhost") ||
			    inet_pton(text[0] == '[' ? AF_INET6 : AF_INET,
				      host, addr) == 1, "\"%s\": host \"%s\"",
			    text, host);
		/* Nothing lost: the text is the host and a port. */
		snprintf(expect, sizeof(expect), text[0] == '[' ? "[%s]:" :
			 "%s:", host);
		FUZZ_CHECK(!strncmp(text, expect, strlen(expect)));
		FUZZ_CHECK(text[0] == '[' || !strchr(host, ':'));
		FUZZ_CHECK(parse_u64(text + strlen(expect), 0, 65535,
				     &p) == 0 && p == port);
	} else {
		FUZZ_CHECK(rc == -EINVAL || rc == -ERANGE);
	}
	free(host);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	uint8_t head[HEADER] = { 0 };
	struct pool_def d;
	uint64_t a, b, h;
	char *text;

	memcpy(head, data, size < HEADER ? size : HEADER);
	text = malloc(size > HEADER ? size - HEADER + 1 : 1);
	if (!text)
		return 0;
	text[0] = '\0';
	if (size > HEADER) {
		memcpy(text, data + HEADER, size - HEADER);
		text[size - HEADER] = '\0';
	}
	a = le64(head + 2);
	b = le64(head + 10);
	h = a * 0x9e3779b97f4a7c15ull ^ b;
	switch (head[0] % M_MODES) {
	case M_INT:
		int_pool(&d, a, b);
		fuzz_number(&d, text, h);
		break;
	case M_FLOAT:
		float_pool(&d, head[1], a, b);
		fuzz_number(&d, text, h);
		break;
	case M_SEQ:
		fuzz_seq(head[1], a, b, text);
		break;
	case M_U64:
		fuzz_u64(head[1], a, b, text);
		break;
	case M_I64:
		fuzz_i64(a, b, text);
		break;
	case M_LISTEN:
		fuzz_listen(head[1], text);
		break;
	}
	free(text);
	return 0;
}
