/*
 * test_buf.c: tests common/buf: appends of bytes, strings and characters,
 * buf_printf across the 64-byte first allocation and up to several KB,
 * JSON string escaping (checked by parsing the output back with cJSON),
 * integer printing at the int64/uint64 edges, buf_detach's hand-over of
 * ownership, buf_release and reuse, and the sticky out-of-memory flag.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "common/buf.h"
#include "tests/unit/t.h"
#include "common/banned.h"

/* The invariants of buf.h: NUL-terminated string of len bytes in cap. */
static int buf_ok(const struct buf *b)
{
	if (!b->p)
		return b->len == 0;
	return b->len < b->cap && b->p[b->len] == '\0';
}

static void test_adds(void)
{
	struct buf b = BUF_INIT;
	struct buf c;

	CHECK(b.p == NULL && b.len == 0 && b.oom == 0);
	memset(&c, 0x7f, sizeof(c));
	buf_init(&c);
	CHECK(c.p == NULL && c.len == 0 && c.cap == 0 && c.oom == 0);

	buf_adds(&b, "hello");
	buf_addc(&b, ',');
	buf_addc(&b, ' ');
	buf_add(&b, "world!!!", 5);
	CHECK(buf_ok(&b));
	CHECK_EQ_U64(b.len, 12);
	CHECK_STR(b.p, "hello, world");

	/* Bytes, NULs included, are copied as given. */
	buf_add(&b, "a\0b", 3);
	CHECK_EQ_U64(b.len, 15);
	CHECK(memcmp(b.p + 12, "a\0b", 3) == 0);
	CHECK(buf_ok(&b));
	buf_add(&b, "", 0);
	buf_adds(&b, "");
	CHECK_EQ_U64(b.len, 15);
	CHECK(buf_finish(&b) == 0);
	buf_release(&b);
	CHECK(b.p == NULL && b.len == 0 && b.cap == 0);

	/* Many small appends cross several reallocations. */
	{
		char want[5000];
		size_t i;

		for (i = 0; i < sizeof(want) - 1; i++) {
			want[i] = (char)('a' + i % 26);
			buf_addc(&b, want[i]);
			if (!buf_ok(&b))
				break;
		}
		want[sizeof(want) - 1] = '\0';
		CHECK(buf_ok(&b));
		CHECK_EQ_U64(b.len, sizeof(want) - 1);
		CHECK(b.p && !strcmp(b.p, want));
		buf_release(&b);
	}
	buf_release(&b);	/* twice is harmless */
	CHECK(b.p == NULL);
}

static void test_printf(void)
{
	struct buf b = BUF_INIT;
	char want[20000], chunk[6000];
	size_t pre, n, wl = 0;
	int bad = 0, i;

	/* Every output length from 0 to 200 after every prefix length from 0
	 * to 130, so that the first allocation (64) and its doublings are
	 * crossed exactly and by one. */
	memset(chunk, 'b', 200);
	for (pre = 0; pre <= 130 && !bad; pre++) {
		for (n = 0; n <= 200 && !bad; n++) {
			size_t j;

			for (j = 0; j < pre; j++)
				buf_addc(&b, 'a');
			buf_printf(&b, "%.*s", (int)n, chunk);
			if (!b.p || b.len != pre + n || !buf_ok(&b) ||
			    strspn(b.p, "a") != pre ||
			    strspn(b.p + pre, "b") != n) {
				CHECKF(0, "prefix %zu, printf of %zu bytes",
				       pre, n);
				bad = 1;
			}
			buf_release(&b);
		}
	}

	/* One printf of several KB. */
	memset(chunk, 'x', sizeof(chunk) - 1);
	chunk[sizeof(chunk) - 1] = '\0';
	buf_printf(&b, "<%s|%d|%s>", chunk, -12345, "end");
	snprintf(want, sizeof(want), "<%s|%d|%s>", chunk, -12345, "end");
	CHECK(buf_ok(&b));
	CHECK_EQ_U64(b.len, strlen(want));
	CHECK(b.p && !strcmp(b.p, want));
	buf_release(&b);

	/* Many printfs adding up to several KB. */
	for (i = 0; i < 1000; i++) {
		buf_printf(&b, "%d:%s;", i, i % 7 ? "x" : "seven");
		wl += (size_t)snprintf(want + wl, sizeof(want) - wl, "%d:%s;",
				       i, i % 7 ? "x" : "seven");
	}
	CHECK(wl > 4096 && wl < sizeof(want));
	CHECK(buf_ok(&b));
	CHECK_EQ_U64(b.len, wl);
	CHECK(b.p && !strcmp(b.p, want));

	/* An empty printf leaves a valid, empty string. */
	buf_release(&b);
	buf_printf(&b, "%s", "");
	CHECK(b.len == 0 && buf_ok(&b));
	CHECK(buf_finish(&b) == 0);
	buf_release(&b);
}

static void json_is(const char *in, const char *want)
{
	struct buf b = BUF_INIT;

	buf_add_json_str(&b, in);
	CHECKF(b.p && !strcmp(b.p, want), "escape of \"%s\": %s, want %s",
	       in, b.p ? b.p : "(null)", want);
	CHECK(buf_ok(&b));
	buf_release(&b);
}

static void test_json(void)
{
	struct buf b = BUF_INIT;
	char all[256];
	cJSON *j;
	size_t i;

	json_is("", "\"\"");
	json_is("plain", "\"plain\"");
	json_is("a\"b", "\"a\\\"b\"");
	json_is("back\\slash", "\"back\\\\slash\"");
	json_is("l1\nl2", "\"l1\\nl2\"");
	json_is("\t", "\"\\t\"");
	json_is("\r", "\"\\r\"");
	json_is("\x01", "\"\\u0001\"");
	json_is("\x1f", "\"\\u001f\"");
	json_is("\x1b[0m", "\"\\u001b[0m\"");
	json_is("\x7f", "\"\\u007f\"");
	json_is("caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80",
		"\"caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80\"");

	/* Not UTF-8: a stray continuation byte, a lone lead byte, a cut
	 * sequence, an overlong '/', a surrogate, past U+10FFFF, 0xff: each
	 * bad byte becomes U+FFFD, so the output is always valid JSON. */
	json_is("a\x80" "b", "\"a\\ufffd" "b\"");
	json_is("\xc3", "\"\\ufffd\"");
	json_is("\xe2\x82", "\"\\ufffd\\ufffd\"");
	json_is("\xc0\xaf", "\"\\ufffd\\ufffd\"");
	json_is("\xed\xa0\x80", "\"\\ufffd\\ufffd\\ufffd\"");
	json_is("\xf4\x90\x80\x80", "\"\\ufffd\\ufffd\\ufffd\\ufffd\"");
	json_is("\xff\xfe", "\"\\ufffd\\ufffd\"");
	json_is("\xf4\x8f\xbf\xbf", "\"\xf4\x8f\xbf\xbf\"");

	/* Every byte from 1 to 127: the output has no raw control character
	 * and cJSON reads the input back from it. */
	for (i = 1; i < 128; i++)
		all[i - 1] = (char)i;
	all[127] = '\0';
	buf_add_json_str(&b, all);
	CHECK(buf_ok(&b));
	for (i = 0; b.p && i < b.len; i++)
		if ((unsigned char)b.p[i] < 0x20 || b.p[i] == 0x7f)
			break;
	CHECKF(b.p && i == b.len, "raw byte 0x%02x at %zu",
	       b.p ? (unsigned char)b.p[i] : 0, i);
	j = b.p ? cJSON_Parse(b.p) : NULL;
	CHECK(cJSON_IsString(j));
	if (cJSON_IsString(j))
		CHECK(!strcmp(j->valuestring, all));
	cJSON_Delete(j);
	buf_release(&b);

	/* Appended after other text, as in a response body. */
	buf_adds(&b, "{\"m\":");
	buf_add_json_str(&b, "say \"hi\"\n");
	buf_addc(&b, '}');
	j = cJSON_Parse(b.p);
	CHECK(j != NULL);
	if (j) {
		cJSON *m = cJSON_GetObjectItemCaseSensitive(j, "m");

		CHECK(cJSON_IsString(m) &&
		      !strcmp(m->valuestring, "say \"hi\"\n"));
	}
	cJSON_Delete(j);
	buf_release(&b);
}

static void ints_are(int64_t i, uint64_t u, const char *si, const char *su)
{
	struct buf b = BUF_INIT;

	buf_add_i64(&b, i);
	CHECK(b.p && !strcmp(b.p, si));
	buf_release(&b);
	buf_add_u64(&b, u);
	CHECK(b.p && !strcmp(b.p, su));
	buf_release(&b);
}

static void test_ints(void)
{
	struct buf b = BUF_INIT;
	char want[64];
	uint64_t u;
	int bad = 0;

	ints_are(0, 0, "0", "0");
	ints_are(-1, 1, "-1", "1");
	ints_are(INT64_MIN, UINT64_MAX, "-9223372036854775808",
		 "18446744073709551615");
	ints_are(INT64_MAX, (uint64_t)INT64_MAX + 1, "9223372036854775807",
		 "9223372036854775808");
	ints_are(-10, 10, "-10", "10");

	/* Against printf over a spread of magnitudes and signs. */
	for (u = 1; u < UINT64_MAX / 7; u = u * 7 + 3) {
		int64_t s = (u & 2) ? -(int64_t)(u >> 1) : (int64_t)(u >> 1);

		buf_add_u64(&b, u);
		snprintf(want, sizeof(want), "%" PRIu64, u);
		bad |= !b.p || strcmp(b.p, want);
		buf_release(&b);
		buf_add_i64(&b, s);
		snprintf(want, sizeof(want), "%" PRId64, s);
		bad |= !b.p || strcmp(b.p, want);
		buf_release(&b);
	}
	CHECK(!bad);

	/* Appends, not overwrites. */
	buf_adds(&b, "n=");
	buf_add_i64(&b, -42);
	buf_addc(&b, ' ');
	buf_add_u64(&b, 42);
	CHECK(b.p && !strcmp(b.p, "n=-42 42"));
	buf_release(&b);
}

static void test_detach(void)
{
	struct buf b = BUF_INIT;
	size_t len = 99;
	char *s;

	/* Nothing added: NULL, length 0. */
	CHECK(buf_detach(&b, &len) == NULL);
	CHECK_EQ_U64(len, 0);
	CHECK(buf_detach(&b, NULL) == NULL);

	buf_printf(&b, "%s-%d", "detached", 7);
	s = buf_detach(&b, &len);
	CHECK(s && !strcmp(s, "detached-7"));
	CHECK_EQ_U64(len, 10);
	/* The buffer no longer owns it and is empty and reusable. */
	CHECK(b.p == NULL && b.len == 0 && b.cap == 0);
	buf_adds(&b, "again");
	CHECK(b.p && b.p != s && !strcmp(b.p, "again"));
	/* s is still intact and ours (under ASan, a buffer that had freed or
	 * reused it would show as a use-after-free or double free here). */
	CHECK(s && !strcmp(s, "detached-7"));
	if (s)
		s[0] = 'D';
	free(s);
	s = buf_detach(&b, NULL);
	CHECK(s && !strcmp(s, "again"));
	free(s);
	buf_release(&b);

	/* Release then reuse. */
	buf_adds(&b, "first");
	buf_release(&b);
	CHECK(b.p == NULL && b.len == 0);
	buf_adds(&b, "second");
	CHECK(b.p && !strcmp(b.p, "second") && b.len == 6);
	buf_release(&b);
}

static void test_oom(void)
{
	struct buf b = BUF_INIT;
	size_t len = 99;

	buf_adds(&b, "before");
	/* A length that cannot be allocated fails in grow(), before any byte
	 * is read, and the failure sticks. */
	buf_add(&b, "x", SIZE_MAX / 2);
	CHECK(b.oom);
	CHECK(buf_finish(&b) == -ENOMEM);
	CHECK_EQ_U64(b.len, 6);
	buf_adds(&b, "after");
	buf_addc(&b, '!');
	buf_printf(&b, "%d", 1);
	buf_add_u64(&b, 5);
	buf_add_json_str(&b, "j");
	CHECK_EQ_U64(b.len, 6);
	CHECK(b.p && !strcmp(b.p, "before"));
	CHECK(buf_finish(&b) == -ENOMEM);
	CHECK(buf_detach(&b, &len) == NULL);
	CHECK_EQ_U64(len, 0);
	/* detach released it: the buffer starts over. */
	CHECK(b.p == NULL && !b.oom);
	buf_adds(&b, "ok");
	CHECK(buf_finish(&b) == 0 && b.p && !strcmp(b.p, "ok"));
	buf_release(&b);

	buf_add(&b, "x", SIZE_MAX);
	CHECK(buf_finish(&b) == -ENOMEM);
	buf_release(&b);
	CHECK(buf_finish(&b) == 0);
}

int main(void)
{
	test_adds();
	test_printf();
	test_json();
	test_ints();
	test_detach();
	test_oom();
	return t_done("buf");
}
