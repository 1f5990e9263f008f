/*
 * buf.c: growable byte buffer; see buf.h.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/buf.h"
#include "common/banned.h"

void buf_init(struct buf *b)
{
	b->p = NULL;
	b->len = 0;
	b->cap = 0;
	b->oom = 0;
}

void buf_release(struct buf *b)
{
	free(b->p);
	buf_init(b);
}

/* Makes room for extra more bytes plus the NUL. Returns 0 or -ENOMEM. */
static int grow(struct buf *b, size_t extra)
{
	size_t want, cap;
	char *p;

	if (b->oom)
		return -ENOMEM;
	if (extra > SIZE_MAX / 2 - b->len)
		goto fail;
	want = b->len + extra + 1;
	if (want <= b->cap)
		return 0;
	cap = b->cap ? b->cap : 64;
	while (cap < want)
		cap *= 2;
	p = realloc(b->p, cap);
	if (!p)
		goto fail;
	b->p = p;
	b->cap = cap;
	return 0;
fail:
	b->oom = 1;
	return -ENOMEM;
}

void buf_add(struct buf *b, const void *s, size_t len)
{
	if (grow(b, len))
		return;
	memcpy(b->p + b->len, s, len);
	b->len += len;
	b->p[b->len] = '\0';
}

void buf_adds(struct buf *b, const char *s)
{
	buf_add(b, s, strlen(s));
}

void buf_addc(struct buf *b, char c)
{
	buf_add(b, &c, 1);
}

void buf_printf(struct buf *b, const char *fmt, ...)
{
	va_list ap;
	int n;

	if (grow(b, 64))
		return;
	va_start(ap, fmt);
	n = vsnprintf(b->p + b->len, b->cap - b->len, fmt, ap);
	va_end(ap);
	if (n < 0) {
		b->oom = 1;
		return;
	}
	if ((size_t)n >= b->cap - b->len) {
		if (grow(b, (size_t)n))
			return;
		va_start(ap, fmt);
		vsnprintf(b->p + b->len, b->cap - b->len, fmt, ap);
		va_end(ap);
	}
	b->len += (size_t)n;
}

/*
 * The length of the valid UTF-8 sequence at u (2 to 4), or 0 if it is not
 * one: a stray continuation byte, a truncated sequence, an overlong form,
 * a surrogate, or a code point past U+10FFFF.
 */
static size_t utf8_len(const unsigned char *u)
{
	size_t n, i;
	uint32_t cp;

	if (u[0] >= 0xc2 && u[0] <= 0xdf) {
		n = 2;
		cp = u[0] & 0x1f;
	} else if (u[0] >= 0xe0 && u[0] <= 0xef) {
		n = 3;
		cp = u[0] & 0x0f;
	} else if (u[0] >= 0xf0 && u[0] <= 0xf4) {
		n = 4;
		cp = u[0] & 0x07;
	} else {
		return 0;
	}
	for (i = 1; i < n; i++) {
		if ((u[i] & 0xc0) != 0x80)
			return 0; /* also stops at the NUL */
		cp = cp << 6 | (u[i] & 0x3f);
	}
	if ((n == 3 && cp < 0x800) || (n == 4 && cp < 0x10000) ||
	    (cp >= 0xd800 && cp <= 0xdfff) || cp > 0x10ffff)
		return 0;
	return n;
}

void buf_add_json_str(struct buf *b, const char *s)
{
	static const char hex[] = "0123456789abcdef";
	const unsigned char *u = (const unsigned char *)s;
	size_t n;

	buf_addc(b, '"');
	for (; *u; u++) {
		if (*u >= 0x80) {
			/* JSON is UTF-8: pass valid sequences, replace the
			 * rest (bytes from a URL, a cut message) by U+FFFD. */
			n = utf8_len(u);
			if (n) {
				buf_add(b, u, n);
				u += n - 1;
			} else {
				buf_add(b, "\\ufffd", 6);
			}
			continue;
		}
		switch (*u) {
		case '"':
			buf_add(b, "\\\"", 2);
			break;
		case '\\':
			buf_add(b, "\\\\", 2);
			break;
		case '\n':
			buf_add(b, "\\n", 2);
			break;
		case '\r':
			buf_add(b, "\\r", 2);
			break;
		case '\t':
			buf_add(b, "\\t", 2);
			break;
		default:
			if (*u < 0x20 || *u == 0x7f) {
				char e[6] = { '\\', 'u', '0', '0',
					      hex[*u >> 4], hex[*u & 15] };
				buf_add(b, e, sizeof(e));
			} else {
				buf_addc(b, (char)*u);
			}
		}
	}
	buf_addc(b, '"');
}

void buf_add_u64(struct buf *b, uint64_t v)
{
	char tmp[24];
	size_t i = sizeof(tmp);

	do {
		tmp[--i] = (char)('0' + v % 10);
		v /= 10;
	} while (v);
	buf_add(b, tmp + i, sizeof(tmp) - i);
}

void buf_add_i64(struct buf *b, int64_t v)
{
	if (v < 0) {
		buf_addc(b, '-');
		buf_add_u64(b, (uint64_t)0 - (uint64_t)v);
	} else {
		buf_add_u64(b, (uint64_t)v);
	}
}

int buf_finish(const struct buf *b)
{
	return b->oom ? -ENOMEM : 0;
}

char *buf_detach(struct buf *b, size_t *len)
{
	char *p = b->p;

	if (b->oom || !p) {
		buf_release(b);
		if (len)
			*len = 0;
		return NULL;
	}
	if (len)
		*len = b->len;
	buf_init(b);
	return p;
}
