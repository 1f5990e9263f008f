/*
 * reqlog.h: uniqd-stress's log of every request, one file per run:
 * DIR/stress_YYYYMMDD-HHMMSS.log (the start time in UTC, with -2, -3...
 * added if that name is taken), a header line naming the columns, then
 * one tab-separated line per request (the format is in --help).
 *
 * Threads: each worker builds its lines in its own struct reqlog_buf,
 * without a lock, and writes a full buffer at a time under l->lock (the
 * only lock of uniqd-stress; never held while talking to the server).
 * Lines of different workers therefore come in chunks, not in id order.
 * The first write error is kept in l->err and stops all later writes.
 */
#ifndef UNIQ_STRESS_REQLOG_H
#define UNIQ_STRESS_REQLOG_H

#include <limits.h>
#include <pthread.h>
#include <stddef.h>
#include <stdint.h>

#include "stress/answer.h"
#include "stress/rec.h"

#define REQLOG_BUF_SIZE (32 * 1024)
#define REQLOG_CODE_MAX 31	/* longest error code written */

struct reqlog {
	pthread_mutex_t lock;	/* guards the writes to fd, and err */
	int fd;			/* -1 when not open */
	int err;		/* first write error (negative errno), or 0 */
	char path[PATH_MAX];	/* the file, once reqlog_open() succeeded */
};

/* One worker's lines not written yet. */
struct reqlog_buf {
	size_t len;
	char data[REQLOG_BUF_SIZE];
};

/* Sets up l in caller-owned memory, with no file. Returns 0 or the
 * negative error of pthread_mutex_init (l then needs no release). */
int reqlog_init(struct reqlog *l);

/*
 * Creates dir (if missing) and in it the log file named for start_ms
 * (milliseconds since the epoch), never over an existing file, and
 * writes the header line. Returns 0 or a negative errno, logged; l then
 * has no file.
 */
int reqlog_open(struct reqlog *l, const char *dir, uint64_t start_ms);

/*
 * Adds the line of request id (1-based), sent at sent_ms, to b: its
 * record r, the shard named in its answer a (or "-"), and err: NULL for a
 * value, else the error code (at most REQLOG_CODE_MAX bytes written).
 * Writes b to the file first if the line might not fit. Thread safe for
 * distinct b.
 */
void reqlog_add(struct reqlog *l, struct reqlog_buf *b, uint64_t id,
		uint64_t sent_ms, const struct rec *r, const struct answer *a,
		const char *err);

/* Writes what b holds to the file (under l->lock) and empties b. A write
 * error goes to l->err; b is emptied anyway. */
void reqlog_flush(struct reqlog *l, struct reqlog_buf *b);

/* Closes the file once no thread writes any more. Returns the first
 * write or close error (negative errno), or 0; not logged. */
int reqlog_close(struct reqlog *l);

/* Closes the file if still open and frees the lock. */
void reqlog_release(struct reqlog *l);

#endif
