/*
 * test_value.c: tests common/value: value_format for int and float pools
 * (checked against printf and hand-written texts), that its output is a
 * JSON number with exactly `decimals` digits, value_parse's acceptance,
 * -EINVAL and -ERANGE cases, and format/parse round trips in several pool
 * shapes, including the int64 edges and the zero crossing of floats.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/config.h"
#include "common/value.h"
#include "tests/unit/t.h"
#include "tests/unit/t_util.h"
#include "common/banned.h"

static struct pool_def int_pool(int64_t min, uint64_t capacity)
{
	struct pool_def d;

	memset(&d, 0, sizeof(d));
	snprintf(d.name, sizeof(d.name), "i");
	d.kind = POOL_INT;
	d.min = min;
	d.capacity = capacity;
	d.shards = 1;
	d.shard_size = 1;
	return d;
}

/* min is in units of 10^-decimals, as in struct pool_def. */
static struct pool_def float_pool(unsigned decimals, int64_t min,
				  uint64_t capacity)
{
	struct pool_def d = int_pool(min, capacity);

	d.kind = POOL_FLOAT;
	d.decimals = decimals;
	return d;
}

static double pow10d(unsigned n)
{
	double v = 1;

	while (n--)
		v *= 10;
	return v;
}

/* True if s is a JSON number (RFC 8259) without exponent. */
static int is_json_number(const char *s)
{
	if (*s == '-')
		s++;
	if (*s == '0')
		s++;
	else if (*s >= '1' && *s <= '9')
		while (*s >= '0' && *s <= '9')
			s++;
	else
		return 0;
	if (*s == '.') {
		s++;
		if (!(*s >= '0' && *s <= '9'))
			return 0;
		while (*s >= '0' && *s <= '9')
			s++;
	}
	return *s == '\0';
}

/*
 * The text value k of d must have, computed independently of value.c:
 * printf of the int64 for int pools; for float pools, printf "%.*f" of
 * the nearest double, which gives back the exact decimal since every
 * float pool value has at most 15 significant digits.
 */
static void expected_text(const struct pool_def *d, uint64_t k, char *out,
			  size_t len)
{
	int64_t v = (int64_t)((uint64_t)d->min + k);

	if (d->kind == POOL_INT)
		snprintf(out, len, "%" PRId64, v);
	else
		snprintf(out, len, "%.*f", (int)d->decimals,
			 (double)v / pow10d(d->decimals));
}

/* Formats k, checks the text against the oracle and its shape, parses it
 * back. Returns 0 if all went well (and reports the first failure). */
static int check_one(const struct pool_def *d, uint64_t k)
{
	char buf[VALUE_TEXT_MAX + 8], want[64];
	const char *dot;
	size_t n;
	uint64_t back = ~k;
	int rc;

	memset(buf, 'Z', sizeof(buf));
	n = value_format(d, k, buf);
	expected_text(d, k, want, sizeof(want));
	if (n > VALUE_TEXT_MAX || buf[n] != '\0' || strlen(buf) != n) {
		CHECKF(0, "k %" PRIu64 ": length %zu", k, n);
		return -1;
	}
	if (strcmp(buf, want)) {
		CHECKF(0, "k %" PRIu64 " (min %" PRId64 ", decimals %u): "
		       "\"%s\", want \"%s\"", k, d->min, d->decimals, buf,
		       want);
		return -1;
	}
	if (!is_json_number(buf)) {
		CHECKF(0, "\"%s\" is not a JSON number", buf);
		return -1;
	}
	dot = strchr(buf, '.');
	if (d->kind == POOL_FLOAT && d->decimals > 0 ?
	    !dot || strlen(dot + 1) != d->decimals : dot != NULL) {
		CHECKF(0, "\"%s\" does not have %u decimals", buf,
		       d->decimals);
		return -1;
	}
	rc = value_parse(d, buf, &back);
	if (rc || back != k) {
		CHECKF(0, "parse(\"%s\") = %d, k %" PRIu64 ", want %" PRIu64,
		       buf, rc, back, k);
		return -1;
	}
	return 0;
}

/* Round trips the edges, a stride and random k of pool d. */
static void check_pool(const struct pool_def *d)
{
	uint64_t s = d->capacity ^ (uint64_t)d->min, i, k;
	int bad = 0;

	for (i = 0; i < 1000 && i < d->capacity && !bad; i++) {
		bad |= check_one(d, i);
		bad |= check_one(d, d->capacity - 1 - i);
	}
	for (i = 0; i < 20000 && !bad; i++) {
		k = t_rng_next(&s) % d->capacity;
		bad |= check_one(d, k);
	}
	if (!bad)
		bad |= check_one(d, d->capacity / 2);
	CHECKF(!bad, "pool min %" PRId64 " capacity %" PRIu64 " decimals %u",
	       d->min, d->capacity, d->decimals);
}

static void check_text(const struct pool_def *d, uint64_t k,
		       const char *want)
{
	char buf[VALUE_TEXT_MAX + 1];
	size_t n = value_format(d, k, buf);

	CHECK_STR(buf, want);
	CHECK_EQ_U64(n, strlen(want));
}

static void test_format_int(void)
{
	struct pool_def d = int_pool(0, (uint64_t)1 << 53);

	check_text(&d, 0, "0");
	check_text(&d, 7, "7");
	check_text(&d, ((uint64_t)1 << 53) - 1, "9007199254740991");

	d = int_pool(-1000, 2001);
	check_text(&d, 0, "-1000");
	check_text(&d, 999, "-1");
	check_text(&d, 1000, "0");
	check_text(&d, 2000, "1000");

	d = int_pool(INT64_MIN, UINT64_MAX);
	check_text(&d, 0, "-9223372036854775808");
	check_text(&d, (uint64_t)1 << 63, "0");
	check_text(&d, UINT64_MAX - 1, "9223372036854775806");

	d = int_pool(INT64_MIN + 1, UINT64_MAX);
	check_text(&d, 0, "-9223372036854775807");
	check_text(&d, UINT64_MAX - 1, "9223372036854775807");
}

static void test_format_float(void)
{
	struct pool_def d = float_pool(6, 0, 1000000000000ULL);

	check_text(&d, 0, "0.000000");
	check_text(&d, 1, "0.000001");
	check_text(&d, 839347209, "839.347209");
	check_text(&d, 1000000000000ULL - 1, "999999.999999");

	/* [-1, 1) with 6 decimals: the zero crossing. */
	d = float_pool(6, -1000000, 2000000);
	check_text(&d, 0, "-1.000000");
	check_text(&d, 500000, "-0.500000");
	check_text(&d, 999999, "-0.000001");
	check_text(&d, 1000000, "0.000000");
	check_text(&d, 1000001, "0.000001");
	check_text(&d, 1999999, "0.999999");

	d = float_pool(0, -5, 10);
	check_text(&d, 0, "-5");
	check_text(&d, 5, "0");
	check_text(&d, 9, "4");

	d = float_pool(1, -10, 30);
	check_text(&d, 0, "-1.0");
	check_text(&d, 9, "-0.1");
	check_text(&d, 10, "0.0");
	check_text(&d, 29, "1.9");

	d = float_pool(15, -999999999999999LL, 1999999999999999ULL);
	check_text(&d, 0, "-0.999999999999999");
	check_text(&d, 999999999999998ULL, "-0.000000000000001");
	check_text(&d, 999999999999999ULL, "0.000000000000000");
	check_text(&d, 1999999999999998ULL, "0.999999999999999");

	d = float_pool(6, -999999999999999LL, 1999999999999999ULL);
	check_text(&d, 0, "-999999999.999999");
	check_text(&d, 1999999999999998ULL, "999999999.999999");
}

static void test_round_trips(void)
{
	struct pool_def pools[] = {
		int_pool(0, (uint64_t)1 << 53),
		int_pool(-1000, 2001),
		int_pool(INT64_MIN, UINT64_MAX),
		int_pool(INT64_MIN + 1, UINT64_MAX),
		int_pool(INT64_MAX, 1),
		int_pool(42, 1),
		float_pool(6, 0, 1000000000000ULL),
		float_pool(6, -1000000, 2000000),
		float_pool(0, -5, 10),
		float_pool(0, 0, 1000000000000000ULL),
		float_pool(1, -10, 30),
		float_pool(1, -99999999999999LL, 199999999999999ULL),
		float_pool(15, 0, 1000000000000000ULL),
		float_pool(15, -999999999999999LL, 1999999999999999ULL),
		float_pool(6, -999999999999999LL, 1999999999999999ULL),
	};
	struct pool_def d;
	uint64_t k;
	size_t i;
	int bad = 0;

	for (i = 0; i < sizeof(pools) / sizeof(pools[0]); i++)
		check_pool(&pools[i]);

	/* Every value of two pools around zero. */
	d = float_pool(1, -10, 30);
	for (k = 0; k < d.capacity; k++)
		bad |= check_one(&d, k);
	d = float_pool(6, -1000000, 2000000);
	for (k = 0; k < d.capacity && !bad; k++)
		bad |= check_one(&d, k);
	CHECK(!bad);
}

/* Distinct values stay distinct (and ordered) when read as doubles. */
static void test_doubles_distinct(void)
{
	struct pool_def pools[] = {
		float_pool(15, 0, 1000000000000000ULL),
		float_pool(6, -999999999999999LL, 1999999999999999ULL),
		float_pool(0, 0, 1000000000000000ULL),
	};
	uint64_t s = 7, k, i;
	size_t j;
	int bad = 0;

	for (j = 0; j < sizeof(pools) / sizeof(pools[0]); j++) {
		const struct pool_def *d = &pools[j];

		for (i = 0; i < 20000 && !bad; i++) {
			char a[VALUE_TEXT_MAX + 1], b[VALUE_TEXT_MAX + 1];

			k = i < 10000 ? i : t_rng_next(&s) % (d->capacity - 1);
			if (i >= 5000 && i < 10000)
				k = d->capacity - 2 - (i - 5000);
			value_format(d, k, a);
			value_format(d, k + 1, b);
			if (!(strtod(a, NULL) < strtod(b, NULL))) {
				CHECKF(0, "\"%s\" and \"%s\" as doubles", a, b);
				bad = 1;
			}
		}
	}
	CHECK(!bad);
}

static void expect_parse(const struct pool_def *d, const char *text,
			 int want_rc, uint64_t want_k)
{
	uint64_t k = 0xdeadbeef;
	int rc = value_parse(d, text, &k);

	CHECKF(rc == want_rc, "parse(\"%s\") = %d, want %d", text, rc,
	       want_rc);
	if (!want_rc && !rc)
		CHECKF(k == want_k, "parse(\"%s\") gives %" PRIu64 ", want %"
		       PRIu64, text, k, want_k);
}

static void test_parse_float(void)
{
	struct pool_def d = float_pool(6, 0, 1000000000000ULL);
	struct pool_def z = float_pool(6, -1000000, 2000000);
	struct pool_def d0 = float_pool(0, -5, 10);
	struct pool_def d15 = float_pool(15, 0, 1000000000000000ULL);

	expect_parse(&d, "1.5", 0, 1500000);
	expect_parse(&d, "1.500000", 0, 1500000);
	expect_parse(&d, "1.50", 0, 1500000);
	expect_parse(&d, "1.5000000000", 0, 1500000);
	expect_parse(&d, "1.5000001", -EINVAL, 0);
	expect_parse(&d, "1.0000005", -EINVAL, 0);
	expect_parse(&d, "1", 0, 1000000);
	expect_parse(&d, "0", 0, 0);
	expect_parse(&d, "0.000001", 0, 1);
	expect_parse(&d, "839.347209", 0, 839347209);
	expect_parse(&d, "999999.999999", 0, 999999999999ULL);
	expect_parse(&d, "1000000", -ERANGE, 0);
	expect_parse(&d, "1000000.000000", -ERANGE, 0);
	expect_parse(&d, "-0.000001", -ERANGE, 0);
	expect_parse(&d, "-1", -ERANGE, 0);
	expect_parse(&d, "123456789012", -ERANGE, 0);
	expect_parse(&d, "99999999999999999999", -ERANGE, 0);

	expect_parse(&z, "-1", 0, 0);
	expect_parse(&z, "-1.000000", 0, 0);
	expect_parse(&z, "-0.5", 0, 500000);
	expect_parse(&z, "-0.000001", 0, 999999);
	expect_parse(&z, "0.000000", 0, 1000000);
	expect_parse(&z, "0", 0, 1000000);
	expect_parse(&z, "0.999999", 0, 1999999);
	expect_parse(&z, "1", -ERANGE, 0);
	expect_parse(&z, "-1.000001", -ERANGE, 0);

	expect_parse(&d0, "-5", 0, 0);
	expect_parse(&d0, "4", 0, 9);
	expect_parse(&d0, "4.0", 0, 9);
	expect_parse(&d0, "4.000", 0, 9);
	expect_parse(&d0, "4.5", -EINVAL, 0);
	expect_parse(&d0, "5", -ERANGE, 0);
	expect_parse(&d0, "-6", -ERANGE, 0);

	expect_parse(&d15, "0.000000000000001", 0, 1);
	expect_parse(&d15, "0.999999999999999", 0, 999999999999999ULL);
	expect_parse(&d15, "0.9999999999999990", 0, 999999999999999ULL);
	expect_parse(&d15, "0.9999999999999991", -EINVAL, 0);
	expect_parse(&d15, "0.5", 0, 500000000000000ULL);
	expect_parse(&d15, "1", -ERANGE, 0);
}

static void test_parse_int(void)
{
	struct pool_def d = int_pool(0, (uint64_t)1 << 53);
	struct pool_def n = int_pool(-1000, 2001);
	struct pool_def full = int_pool(INT64_MIN, UINT64_MAX);
	struct pool_def full1 = int_pool(INT64_MIN + 1, UINT64_MAX);

	expect_parse(&d, "0", 0, 0);
	expect_parse(&d, "12345", 0, 12345);
	expect_parse(&d, "9007199254740991", 0, ((uint64_t)1 << 53) - 1);
	expect_parse(&d, "9007199254740992", -ERANGE, 0);
	expect_parse(&d, "-1", -ERANGE, 0);
	expect_parse(&d, "9223372036854775807", -ERANGE, 0);
	expect_parse(&d, "18446744073709551615", -ERANGE, 0);
	expect_parse(&d, "18446744073709551616", -ERANGE, 0);
	expect_parse(&d, "1.0", -EINVAL, 0);
	expect_parse(&d, "1.5", -EINVAL, 0);

	expect_parse(&n, "-1000", 0, 0);
	expect_parse(&n, "-1", 0, 999);
	expect_parse(&n, "1000", 0, 2000);
	expect_parse(&n, "-1001", -ERANGE, 0);
	expect_parse(&n, "1001", -ERANGE, 0);

	expect_parse(&full, "-9223372036854775808", 0, 0);
	expect_parse(&full, "0", 0, (uint64_t)1 << 63);
	expect_parse(&full, "9223372036854775806", 0, UINT64_MAX - 1);
	expect_parse(&full, "9223372036854775807", -ERANGE, 0);
	expect_parse(&full, "-9223372036854775809", -ERANGE, 0);
	expect_parse(&full1, "9223372036854775807", 0, UINT64_MAX - 1);
	expect_parse(&full1, "-9223372036854775808", -ERANGE, 0);
	expect_parse(&full1, "-9223372036854775807", 0, 0);
}

static void test_parse_malformed(void)
{
	static const char *const bad[] = {
		"", "-", "1.", ".5", "-.5", "1e5", "1E5", " 1", "1 ", "\t1",
		"1\n", "+1", "0x10", "1.2.3", "1..5", "--1", "-+1", "1.-5",
		"1,5", "NaN", "inf", "-inf", "abc", "1a", "\xd9\xa1\xd9\xa2",
		"1\xd9\xa1", ".", "-.", "1.5.", "-1-",
	};
	struct pool_def pools[] = {
		int_pool(0, (uint64_t)1 << 53),
		int_pool(INT64_MIN, UINT64_MAX),
		float_pool(6, 0, 1000000000000ULL),
		float_pool(6, -1000000, 2000000),
		float_pool(0, -5, 10),
		float_pool(15, 0, 1000000000000000ULL),
	};
	char longs[201];
	size_t i, j;
	uint64_t k;
	int rc;

	for (j = 0; j < sizeof(pools) / sizeof(pools[0]); j++) {
		for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
			rc = value_parse(&pools[j], bad[i], &k);
			CHECKF(rc == -EINVAL, "pool %zu: parse(\"%s\") = %d",
			       j, bad[i], rc);
		}
		memset(longs, 'x', 200);
		longs[200] = '\0';
		CHECK(value_parse(&pools[j], longs, &k) == -EINVAL);
		/* 200 digits: refused, as malformed or out of range. */
		memset(longs, '1', 200);
		rc = value_parse(&pools[j], longs, &k);
		CHECK(rc == -EINVAL || rc == -ERANGE);
	}
}

static void test_pow10(void)
{
	int64_t want = 1;
	unsigned n;

	for (n = 0; n <= 18; n++) {
		CHECKF(value_pow10(n) == want, "10^%u", n);
		if (n < 18)
			want *= 10;
	}
}

int main(void)
{
	test_pow10();
	test_format_int();
	test_format_float();
	test_round_trips();
	test_doubles_distinct();
	test_parse_float();
	test_parse_int();
	test_parse_malformed();
	return t_done("value");
}
