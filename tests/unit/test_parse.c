/*
 * test_parse.c: tests common/parse: parse_u64, parse_u64_n, parse_i64 and
 * parse_listen on their edges, on malformed text (-EINVAL), on numbers
 * outside the bounds (-ERANGE), and that *out is left alone on failure.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "common/parse.h"
#include "tests/unit/t.h"
#include "common/banned.h"

#define UNTOUCHED 0x5a5a5a5a5a5a5a5aULL

static void u64_ok(const char *s, uint64_t min, uint64_t max, uint64_t want)
{
	uint64_t v = UNTOUCHED;
	int rc = parse_u64(s, min, max, &v);

	CHECKF(rc == 0 && v == want, "parse_u64(\"%s\") = %d, %" PRIu64, s,
	       rc, v);
}

static void u64_bad(const char *s, uint64_t min, uint64_t max, int want_rc)
{
	uint64_t v = UNTOUCHED;
	int rc = parse_u64(s, min, max, &v);

	CHECKF(rc == want_rc, "parse_u64(\"%s\") = %d, want %d", s, rc,
	       want_rc);
	CHECKF(v == UNTOUCHED, "parse_u64(\"%s\") wrote *out", s);
}

static void i64_ok(const char *s, int64_t min, int64_t max, int64_t want)
{
	int64_t v = (int64_t)UNTOUCHED;
	int rc = parse_i64(s, min, max, &v);

	CHECKF(rc == 0 && v == want, "parse_i64(\"%s\") = %d, %" PRId64, s,
	       rc, v);
}

static void i64_bad(const char *s, int64_t min, int64_t max, int want_rc)
{
	int64_t v = (int64_t)UNTOUCHED;
	int rc = parse_i64(s, min, max, &v);

	CHECKF(rc == want_rc, "parse_i64(\"%s\") = %d, want %d", s, rc,
	       want_rc);
	CHECKF(v == (int64_t)UNTOUCHED, "parse_i64(\"%s\") wrote *out", s);
}

/* Malformed for every parser of numbers. */
static const char *const malformed[] = {
	"", " 1", "1 ", "\t1", "1\n", "+1", "0x10", "1e3", "1.0", "1,000",
	"abc", "1a", "--1", "\xd9\xa1", "12\xc2\xa0",
};

static void test_u64(void)
{
	char buf[64];
	uint64_t i;
	size_t j;

	u64_ok("0", 0, UINT64_MAX, 0);
	u64_ok("1", 0, UINT64_MAX, 1);
	u64_ok("4294967296", 0, UINT64_MAX, 4294967296ULL);
	u64_ok("18446744073709551615", 0, UINT64_MAX, UINT64_MAX);
	u64_bad("18446744073709551616", 0, UINT64_MAX, -ERANGE);
	u64_bad("99999999999999999999", 0, UINT64_MAX, -ERANGE);
	u64_bad("18446744073709551625", 0, UINT64_MAX, -ERANGE);

	/* The bounds are inclusive. */
	u64_ok("10", 10, 20, 10);
	u64_ok("20", 10, 20, 20);
	u64_bad("9", 10, 20, -ERANGE);
	u64_bad("21", 10, 20, -ERANGE);
	u64_bad("0", 1, 64, -ERANGE);
	u64_bad("18446744073709551615", 0, UINT64_MAX - 1, -ERANGE);

	/* "Decimal digits only, at most 20 of them": leading zeros are
	 * digits, a 21st digit is bad syntax even when the value is small. */
	u64_ok("01", 0, UINT64_MAX, 1);
	u64_ok("00000000000000000000", 0, UINT64_MAX, 0);
	u64_ok("00000000000000000042", 0, UINT64_MAX, 42);
	u64_bad("000000000000000000042", 0, UINT64_MAX, -EINVAL);
	u64_bad("100000000000000000000", 0, UINT64_MAX, -EINVAL);

	u64_bad("-1", 0, UINT64_MAX, -EINVAL);
	u64_bad("-0", 0, UINT64_MAX, -EINVAL);
	for (j = 0; j < sizeof(malformed) / sizeof(malformed[0]); j++)
		u64_bad(malformed[j], 0, UINT64_MAX, -EINVAL);
	CHECK(parse_u64(NULL, 0, UINT64_MAX, &i) == -EINVAL);

	/* Agrees with printf on a spread of values. */
	for (i = 1; i != 0 && i < UINT64_MAX / 3; i = i * 3 + 1) {
		uint64_t v = 0;

		snprintf(buf, sizeof(buf), "%" PRIu64, i);
		CHECKF(parse_u64(buf, 0, UINT64_MAX, &v) == 0 && v == i,
		       "%s", buf);
	}
}

static void test_u64_n(void)
{
	const char slice[] = "12345abc";
	char nonul[4] = { '7', '8', '9', '0' }; /* no NUL */
	uint64_t v = UNTOUCHED;

	CHECK(parse_u64_n(slice, 5, 0, UINT64_MAX, &v) == 0);
	CHECK_EQ_U64(v, 12345);
	CHECK(parse_u64_n(slice, 3, 0, UINT64_MAX, &v) == 0);
	CHECK_EQ_U64(v, 123);
	CHECK(parse_u64_n(slice, 6, 0, UINT64_MAX, &v) == -EINVAL);
	CHECK_EQ_U64(v, 123);
	CHECK(parse_u64_n(slice, 0, 0, UINT64_MAX, &v) == -EINVAL);
	CHECK(parse_u64_n(nonul, sizeof(nonul), 0, UINT64_MAX, &v) == 0);
	CHECK_EQ_U64(v, 7890);
	CHECK(parse_u64_n(nonul, 2, 0, 50, &v) == -ERANGE);
	CHECK(parse_u64_n("184467440737095516159", 20, 0, UINT64_MAX, &v) ==
	      0);
	CHECK_EQ_U64(v, UINT64_MAX);
	CHECK(parse_u64_n("184467440737095516169", 20, 0, UINT64_MAX, &v) ==
	      -ERANGE);
	CHECK(parse_u64_n("1 2", 3, 0, UINT64_MAX, &v) == -EINVAL);
	/* A NUL inside the slice is not a digit. */
	CHECK(parse_u64_n("1\0002", 3, 0, UINT64_MAX, &v) == -EINVAL);
}

static void test_i64(void)
{
	size_t j;

	i64_ok("0", INT64_MIN, INT64_MAX, 0);
	i64_ok("-0", INT64_MIN, INT64_MAX, 0);
	i64_ok("-1", INT64_MIN, INT64_MAX, -1);
	i64_ok("42", INT64_MIN, INT64_MAX, 42);
	i64_ok("9223372036854775807", INT64_MIN, INT64_MAX, INT64_MAX);
	i64_ok("-9223372036854775808", INT64_MIN, INT64_MAX, INT64_MIN);
	i64_ok("-9223372036854775807", INT64_MIN, INT64_MAX, INT64_MIN + 1);
	i64_bad("9223372036854775808", INT64_MIN, INT64_MAX, -ERANGE);
	i64_bad("-9223372036854775809", INT64_MIN, INT64_MAX, -ERANGE);
	i64_bad("18446744073709551615", INT64_MIN, INT64_MAX, -ERANGE);
	i64_bad("-18446744073709551615", INT64_MIN, INT64_MAX, -ERANGE);
	i64_bad("-18446744073709551616", INT64_MIN, INT64_MAX, -ERANGE);

	i64_ok("-5", -5, 5, -5);
	i64_ok("5", -5, 5, 5);
	i64_bad("-6", -5, 5, -ERANGE);
	i64_bad("6", -5, 5, -ERANGE);
	i64_bad("-9223372036854775808", INT64_MIN + 1, INT64_MAX, -ERANGE);
	i64_bad("9223372036854775807", INT64_MIN, INT64_MAX - 1, -ERANGE);

	i64_bad("-", INT64_MIN, INT64_MAX, -EINVAL);
	i64_bad("- 1", INT64_MIN, INT64_MAX, -EINVAL);
	i64_bad("-+1", INT64_MIN, INT64_MAX, -EINVAL);
	i64_bad("1-", INT64_MIN, INT64_MAX, -EINVAL);
	for (j = 0; j < sizeof(malformed) / sizeof(malformed[0]); j++)
		i64_bad(malformed[j], INT64_MIN, INT64_MAX, -EINVAL);
}

static void listen_ok(const char *s, const char *host, uint16_t port)
{
	char h[64];
	uint16_t p = 12345;
	int rc;

	memset(h, 'Z', sizeof(h));
	rc = parse_listen(s, h, sizeof(h), &p);
	CHECKF(rc == 0, "parse_listen(\"%s\") = %d", s, rc);
	if (!rc) {
		CHECK_STR(h, host);
		CHECKF(p == port, "\"%s\": port %u", s, p);
	}
}

static void listen_bad(const char *s)
{
	char h[64] = "untouched";
	uint16_t p = 12345;
	int rc = parse_listen(s, h, sizeof(h), &p);

	CHECKF(rc < 0, "parse_listen(\"%s\") accepted", s);
	CHECKF(p == 12345 && !strcmp(h, "untouched"),
	       "parse_listen(\"%s\") wrote its outputs", s);
}

static void test_listen(void)
{
	char small[10];
	uint16_t p;

	listen_ok("127.0.0.1:8000", "127.0.0.1", 8000);
	listen_ok("0.0.0.0:0", "0.0.0.0", 0);
	listen_ok("localhost:65535", "localhost", 65535);
	listen_ok("[::1]:8000", "::1", 8000);
	listen_ok("[::1]:0", "::1", 0);
	listen_ok("[fe80::1:2]:443", "fe80::1:2", 443);
	listen_ok("[::]:1", "::", 1);
	listen_ok("10.1.2.3:1", "10.1.2.3", 1);

	listen_bad("8000");
	listen_bad("1.2.3.4");
	listen_bad("[::1]8000");
	listen_bad("[::1]");
	listen_bad("[::1:8000");
	listen_bad("::1:8000");
	listen_bad("host:99999");
	listen_bad("127.0.0.1:65536");
	listen_bad("127.0.0.1:");
	listen_bad("127.0.0.1:-1");
	listen_bad("127.0.0.1:+80");
	listen_bad("127.0.0.1:80 ");
	listen_bad("127.0.0.1:http");
	listen_bad(":8000");
	listen_bad("[]:8000");
	listen_bad("");
	listen_bad(":");
	listen_bad(NULL);

	/* The host must fit in hostlen bytes with its NUL. */
	p = 1;
	CHECK(parse_listen("10.20.30.4:80", small, sizeof(small), &p) < 0);
	CHECK(p == 1);
	CHECK(parse_listen("10.2.3.40:80", small, sizeof(small), &p) == 0);
	CHECK_STR(small, "10.2.3.40");
	CHECK(p == 80);
	/* Hosts are checked, not only their shape. */
	listen_bad("example.com:80");
	listen_bad("1.2.3.4.5:80");
	listen_bad("256.1.1.1:80");
	listen_bad("[zz]:80");
	listen_bad("[127.0.0.1]:80");
}

int main(void)
{
	test_u64();
	test_u64_n();
	test_i64();
	test_listen();
	return t_done("parse");
}
