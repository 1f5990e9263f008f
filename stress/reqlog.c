/*
 * reqlog.c: the per-request log file of uniqd-stress; see reqlog.h for
 * who writes it when.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "common/clock.h"
#include "common/log.h"
#include "stress/reqlog.h"
#include "common/banned.h"

#define SHARD_MAX 63		/* longest shard name written */
#define LINE_MAX_LEN 256	/* > the longest line reqlog_add() writes */

int reqlog_init(struct reqlog *l)
{
	int rc;

	memset(l, 0, sizeof(*l));
	l->fd = -1;
	rc = pthread_mutex_init(&l->lock, NULL);
	return -rc;
}

int reqlog_open(struct reqlog *l, const char *dir, uint64_t start_ms)
{
	static const char header[] =
		"id\ttime\tstatus\tvalue\tshard\tlatency_us\terror\n";
	time_t secs = (time_t)(start_ms / 1000);
	char *path = l->path;
	size_t pathlen = sizeof(l->path);
	char stamp[32];
	struct tm tm;
	int fd = -1, n, i;

	if (!gmtime_r(&secs, &tm) ||
	    !strftime(stamp, sizeof(stamp), "%Y%m%d-%H%M%S", &tm))
		return -EINVAL;
	if (mkdir(dir, 0755) && errno != EEXIST) {
		n = -errno;
		log_error("cannot create %s: %s", dir, log_strerror(n));
		return n;
	}
	for (i = 1; i <= 100; i++) {
		if (i == 1)
			n = snprintf(path, pathlen, "%s/stress_%s.log", dir,
				     stamp);
		else
			n = snprintf(path, pathlen, "%s/stress_%s-%d.log", dir,
				     stamp, i);
		if (n < 0 || (size_t)n >= pathlen)
			return -ENAMETOOLONG;
		fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
		if (fd >= 0 || errno != EEXIST)
			break;
	}
	if (fd < 0) {
		n = -errno;
		log_error("cannot create %s: %s", path, log_strerror(n));
		return n;
	}
	if (write(fd, header, sizeof(header) - 1) !=
	    (ssize_t)(sizeof(header) - 1)) {
		n = errno ? -errno : -EIO;
		log_error("cannot write %s: %s", path, log_strerror(n));
		close(fd);
		return n;
	}
	l->fd = fd;
	return 0;
}

void reqlog_flush(struct reqlog *l, struct reqlog_buf *b)
{
	size_t off = 0;
	ssize_t n;

	if (!b->len)
		return;
	pthread_mutex_lock(&l->lock);
	while (!l->err && off < b->len) {
		n = write(l->fd, b->data + off, b->len - off);
		if (n > 0)
			off += (size_t)n;
		else if (n < 0 && errno == EINTR)
			continue;
		else
			l->err = n < 0 ? -errno : -EIO;
	}
	pthread_mutex_unlock(&l->lock);
	b->len = 0;
}

void reqlog_add(struct reqlog *l, struct reqlog_buf *b, uint64_t id,
		uint64_t sent_ms, const struct rec *r, const struct answer *a,
		const char *err)
{
	char ts[CLOCK_RFC3339_LEN];
	size_t room;
	int n;

	if (b->len + LINE_MAX_LEN > sizeof(b->data))
		reqlog_flush(l, b);
	if (clock_rfc3339(sent_ms, ts, sizeof(ts)) < 0)
		snprintf(ts, sizeof(ts), "-");
	room = sizeof(b->data) - b->len;
	n = snprintf(b->data + b->len, room,
		     "%" PRIu64 "\t%s\t%u\t%s\t%.*s\t%" PRIu32 "\t%.*s\n",
		     id, ts, (unsigned)r->status,
		     r->kind ? r->value : "-",
		     a->shard ? (int)(a->shard_len > SHARD_MAX ?
				      SHARD_MAX : a->shard_len) : 1,
		     a->shard ? a->shard : "-",
		     r->latency_us,
		     err ? REQLOG_CODE_MAX : 1, err ? err : "-");
	if (n > 0)
		b->len += (size_t)n < room ? (size_t)n : room - 1;
}

int reqlog_close(struct reqlog *l)
{
	int rc;

	if (l->fd < 0)
		return l->err;
	rc = close(l->fd);
	l->fd = -1;
	if (rc && !l->err)
		l->err = -errno;
	return l->err;
}

void reqlog_release(struct reqlog *l)
{
	if (l->fd >= 0)
		close(l->fd);
	l->fd = -1;
	pthread_mutex_destroy(&l->lock);
}
