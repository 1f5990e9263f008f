/*
 * buf.h: a growable byte buffer for building responses and log lines
 * (after git's strbuf).
 *
 * Invariants: after buf_init, b->p is either NULL (nothing added yet) or a
 * NUL-terminated string of b->len bytes inside an allocation of b->cap.
 * An allocation failure is sticky: b->oom is set, later appends do
 * nothing, and buf_finish() reports -ENOMEM, so callers check once at the
 * end instead of after every append.
 */
#ifndef UNIQ_BUF_H
#define UNIQ_BUF_H

#include <stddef.h>
#include <stdint.h>

struct buf {
	char *p;
	size_t len;
	size_t cap;
	int oom;
};

#define BUF_INIT { NULL, 0, 0, 0 }

/* Sets up an empty buffer in caller-owned memory. */
void buf_init(struct buf *b);

/* Frees what the buffer holds and leaves it empty (reusable). */
void buf_release(struct buf *b);

/* Appends len bytes of s. */
void buf_add(struct buf *b, const void *s, size_t len);

/* Appends a NUL-terminated string. */
void buf_adds(struct buf *b, const char *s);

/* Appends one character. */
void buf_addc(struct buf *b, char c);

/* Appends printf-style formatted text. */
void buf_printf(struct buf *b, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

/* Appends s as a JSON string literal, quotes included, escaping what JSON
 * requires (quote, backslash, control characters). Valid UTF-8 is copied
 * as it is; any byte that is not part of a valid UTF-8 sequence becomes
 * U+FFFD (written \ufffd), so the output is always valid JSON text. */
void buf_add_json_str(struct buf *b, const char *s);

/* Appends a signed/unsigned decimal integer. */
void buf_add_i64(struct buf *b, int64_t v);
void buf_add_u64(struct buf *b, uint64_t v);

/* Returns 0, or -ENOMEM if any append since buf_init failed. */
int buf_finish(const struct buf *b);

/* Hands the allocation to the caller (who frees it with free()) and leaves
 * the buffer empty. Returns NULL if nothing was added or on -ENOMEM. */
char *buf_detach(struct buf *b, size_t *len);

#endif
