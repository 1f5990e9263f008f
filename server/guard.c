/*
 * guard.c: request deadlines and the tally of client trouble; see guard.h.
 *
 * DESIGN
 *
 * Owners: each open connection has a struct watch, made and freed on its
 * libmicrohttpd thread (guard_notify) and kept in g's list under g->lock.
 * The connection's thread sets w->state with plain atomic stores as its
 * request moves on (head done, request done, request over); the guard
 * thread reads it every GUARD_TICK_MS, under g->lock, and only ever
 * changes it with a compare-and-swap, so a state the connection's thread
 * has moved on from is never overwritten:
 *   - a deadline passed: swap it for 0, write the 408, shutdown(2) the
 *     socket (libmicrohttpd then reads its end and closes it);
 *   - between requests: swap for a head deadline once the kernel counts
 *     more bytes received on the socket than when that wait began.
 * The socket stays open while its watch is in the list: libmicrohttpd
 * tells guard_notify of a close (which takes g->lock) before it closes
 * the socket, so the guard never touches another connection's socket.
 * Lock order: g->lock alone; nothing else is taken under it. The tally
 * is atomic counters, summed and zeroed by the guard thread.
 */
#include <errno.h>
#include <linux/tcp.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "common/clock.h"
#include "common/log.h"
#include "server/guard.h"
#include "common/banned.h"

#define NS_PER_S 1000000000ULL

/* w->state: 0, no deadline; odd, between requests (2n + 1 after n
 * requests); otherwise a deadline (clock_mono_ns) with its low two bits
 * cleared, and bit 1 set for a body's. */
#define STATE_BODY 2ULL

struct watch {
	struct watch *prev, *next;
	struct guard *g;
	int fd;
	_Atomic uint64_t state;
	uint64_t over;		/* the connection thread's: requests over */
	uint64_t seen;		/* the guard thread's: the odd state whose */
	uint64_t bytes;		/* byte count it holds */
};

enum tally {
	T_REFUSED,		/* over max_connections or per_ip_connections */
	T_HEAD_LATE,		/* closed at the head deadline */
	T_BODY_LATE,		/* closed at the body deadline */
	T_ABORTED,		/* closed by the client mid-request */
	T_BAD,			/* malformed or oversized requests */
	T_UNREAD,		/* answers the client did not read */
	T_OTHER,		/* other messages, beyond GUARD_LOG_LINES */
	T_COUNT
};

static const char *const tally_text[T_COUNT] = {
	"connections refused over the limits (in all or per address)",
	"closed at the head deadline",
	"closed at the body deadline",
	"closed by the client mid-request",
	"malformed or oversized requests",
	"answers the client did not read",
	"other messages of libmicrohttpd not shown",
};

/* The beginnings of libmicrohttpd's (0.9.75) messages about clients. */
static const struct {
	const char *prefix;
	enum tally kind;
} mhd_client_msgs[] = {
	{ "Server reached connection limit", T_REFUSED },
	{ "Connection was closed by remote side", T_ABORTED },
	{ "Socket has been disconnected when reading", T_ABORTED },
	{ "Connection socket is closed when reading", T_ABORTED },
	{ "Error processing request", T_BAD },
	{ "Received HTTP/1.1 request without", T_BAD },
	{ "Too large value of 'Content-Length'", T_BAD },
	{ "Failed to parse `Content-Length'", T_BAD },
	{ "Not enough memory in pool", T_BAD },
	{ "Failed to send", T_UNREAD },
};

struct guard {
	pthread_mutex_t lock;
	pthread_cond_t cond;	/* signalled to stop */
	bool stop;
	pthread_t thread;
	struct watch *head;	/* the list, under lock */
	uint64_t header_ns, body_ns;
	unsigned header_s, body_s;
	uint64_t last_log_ns;
	_Atomic uint64_t tally[T_COUNT];
	_Atomic uint64_t shown;	/* other messages shown this interval */
	/* Deadline closures whose "closed by remote side" message is still
	 * to come: such a message is not counted as the client's abort. */
	_Atomic uint64_t pending;
};

static struct watch *watch_of(struct MHD_Connection *conn)
{
	const union MHD_ConnectionInfo *ci;

	ci = MHD_get_connection_info(conn, MHD_CONNECTION_INFO_SOCKET_CONTEXT);
	return ci ? ci->socket_context : NULL;
}

static uint64_t deadline(uint64_t ns, uint64_t body)
{
	return (ns & ~3ULL) | body;
}

void guard_notify(void *cls, struct MHD_Connection *conn,
		  void **socket_context,
		  enum MHD_ConnectionNotificationCode toe)
{
	struct guard *g = cls;
	const union MHD_ConnectionInfo *ci;
	struct watch *w = *socket_context;

	if (toe == MHD_CONNECTION_NOTIFY_CLOSED) {
		if (!w)
			return;
		pthread_mutex_lock(&g->lock);
		if (w->prev)
			w->prev->next = w->next;
		else
			g->head = w->next;
		if (w->next)
			w->next->prev = w->prev;
		pthread_mutex_unlock(&g->lock);
		free(w);
		*socket_context = NULL;
		return;
	}
	ci = MHD_get_connection_info(conn, MHD_CONNECTION_INFO_CONNECTION_FD);
	if (!ci)
		return;
	w = calloc(1, sizeof(*w));
	if (!w)
		return; /* unwatched: only the idle timeout applies */
	w->g = g;
	w->fd = ci->connect_fd;
	/* Waiting for its first request, as between two: its head deadline
	 * starts with its first byte. */
	w->over = 0;
	w->seen = 1;
	w->bytes = 0;
	atomic_init(&w->state, 1);
	pthread_mutex_lock(&g->lock);
	w->next = g->head;
	if (g->head)
		g->head->prev = w;
	g->head = w;
	pthread_mutex_unlock(&g->lock);
	*socket_context = w;
}

void guard_head_done(struct MHD_Connection *conn)
{
	struct watch *w = watch_of(conn);

	if (w)
		atomic_store(&w->state, deadline(clock_mono_ns() +
						 w->g->body_ns, STATE_BODY));
}

void guard_request_done(struct MHD_Connection *conn)
{
	struct watch *w = watch_of(conn);

	if (w)
		atomic_store(&w->state, 0);
}

void guard_request_over(struct MHD_Connection *conn)
{
	struct watch *w = watch_of(conn);

	if (w) {
		w->over++;
		atomic_store(&w->state, 2 * w->over + 1);
	}
}

/* The bytes the kernel has received on fd, or -1 if it cannot say. */
static int64_t bytes_received(int fd)
{
	struct tcp_info ti;
	socklen_t len = sizeof(ti);

	memset(&ti, 0, sizeof(ti));
	if (getsockopt(fd, IPPROTO_TCP, TCP_INFO, &ti, &len) ||
	    len < offsetof(struct tcp_info, tcpi_bytes_received) +
		  sizeof(ti.tcpi_bytes_received))
		return -1;
	return (int64_t)(ti.tcpi_bytes_received & INT64_MAX);
}

/* Answers 408 on w's socket, if it takes it now, and shuts it down. */
static void close_late(struct guard *g, struct watch *w, bool body)
{
	char json[160], msg[384];
	int n, len;

	len = snprintf(json, sizeof(json),
		       "{\"error\":\"request_timeout\",\"message\":\"the "
		       "request %s was not complete within %u s\"}",
		       body ? "body" : "head", body ? g->body_s : g->header_s);
	n = snprintf(msg, sizeof(msg),
		     "HTTP/1.1 408 Request Timeout\r\n"
		     "Content-Type: application/json\r\n"
		     "Connection: close\r\n"
		     "Content-Length: %d\r\n\r\n%s", len, json);
	if (n > 0 && (size_t)n < sizeof(msg))
		(void)!send(w->fd, msg, (size_t)n, MSG_DONTWAIT | MSG_NOSIGNAL);
	shutdown(w->fd, SHUT_RDWR);
	atomic_fetch_add(&g->tally[body ? T_BODY_LATE : T_HEAD_LATE], 1);
	atomic_fetch_add(&g->pending, 1);
}

/* One look at w (g->lock held). */
static void sweep(struct guard *g, struct watch *w, uint64_t now)
{
	uint64_t st = atomic_load(&w->state);
	int64_t bytes;

	if (st == 0)
		return;
	if (st & 1) {
		bytes = bytes_received(w->fd);
		if (bytes < 0)
			return;
		if (w->seen != st) {
			w->seen = st;
			w->bytes = (uint64_t)bytes;
		} else if ((uint64_t)bytes != w->bytes) {
			atomic_compare_exchange_strong(
				&w->state, &st,
				deadline(now + g->header_ns, 0));
		}
		return;
	}
	if ((st & ~3ULL) > now)
		return;
	if (atomic_compare_exchange_strong(&w->state, &st, 0))
		close_late(g, w, st & STATE_BODY);
}

/* Writes the tally of the interval, if anything was counted, and zeroes
 * it. */
static void flush_tally(struct guard *g, uint64_t now)
{
	uint64_t n[T_COUNT];
	char line[1024];
	size_t len = 0;
	unsigned secs;
	int i;

	for (i = 0; i < T_COUNT; i++)
		n[i] = atomic_exchange(&g->tally[i], 0);
	atomic_store(&g->shown, 0);
	atomic_store(&g->pending, 0);
	secs = (unsigned)((now - g->last_log_ns + NS_PER_S / 2) / NS_PER_S);
	g->last_log_ns = now;
	for (i = 0; i < T_COUNT; i++) {
		if (!n[i])
			continue;
		len += (size_t)snprintf(line + len, sizeof(line) - len,
					"%s%llu %s", len ? ", " : "",
					(unsigned long long)n[i],
					tally_text[i]);
		if (len >= sizeof(line))
			len = sizeof(line) - 1;
	}
	if (len)
		log_warn("http: in the last %u s: %s", secs ? secs : 1, line);
}

static void *guard_main(void *arg)
{
	struct guard *g = arg;
	struct timespec ts;
	struct watch *w;
	uint64_t now;

	pthread_mutex_lock(&g->lock);
	while (!g->stop) {
		ts = clock_mono_deadline(GUARD_TICK_MS);
		pthread_cond_timedwait(&g->cond, &g->lock, &ts);
		if (g->stop)
			break;
		now = clock_mono_ns();
		/* Before the sweep: the messages of the last one's closures
		 * have come by now. */
		if (now - g->last_log_ns >= GUARD_LOG_INTERVAL_S * NS_PER_S)
			flush_tally(g, now);
		for (w = g->head; w; w = w->next)
			sweep(g, w, now);
	}
	pthread_mutex_unlock(&g->lock);
	return NULL;
}

int guard_start(unsigned header_timeout, unsigned body_timeout,
		struct guard **out)
{
	struct guard *g;
	int rc;

	*out = NULL;
	g = calloc(1, sizeof(*g));
	if (!g)
		return -ENOMEM;
	g->header_s = header_timeout;
	g->body_s = body_timeout;
	g->header_ns = header_timeout * NS_PER_S;
	g->body_ns = body_timeout * NS_PER_S;
	g->last_log_ns = clock_mono_ns();
	rc = pthread_mutex_init(&g->lock, NULL);
	if (rc) {
		free(g);
		return -rc;
	}
	rc = clock_cond_init(&g->cond);
	if (rc)
		goto out_lock;
	rc = pthread_create(&g->thread, NULL, guard_main, g);
	if (rc)
		goto out_cond;
	*out = g;
	return 0;
out_cond:
	pthread_cond_destroy(&g->cond);
out_lock:
	pthread_mutex_destroy(&g->lock);
	free(g);
	return -rc;
}

void guard_free(struct guard *g)
{
	struct watch *w;

	if (!g)
		return;
	pthread_mutex_lock(&g->lock);
	g->stop = true;
	pthread_cond_signal(&g->cond);
	pthread_mutex_unlock(&g->lock);
	pthread_join(g->thread, NULL);
	flush_tally(g, clock_mono_ns());
	while ((w = g->head)) { /* none once MHD_stop_daemon has returned */
		g->head = w->next;
		free(w);
	}
	pthread_cond_destroy(&g->cond);
	pthread_mutex_destroy(&g->lock);
	free(g);
}

/* Takes one from g->pending if it is not 0; returns true if it did. */
static bool take_pending(struct guard *g)
{
	uint64_t p = atomic_load(&g->pending);

	while (p && !atomic_compare_exchange_weak(&g->pending, &p, p - 1))
		;
	return p != 0;
}

void guard_mhd_log(void *cls, const char *fmt, va_list ap)
{
	struct guard *g = cls;
	char line[512];
	size_t i, n;

	for (i = 0; i < sizeof(mhd_client_msgs) / sizeof(mhd_client_msgs[0]);
	     i++) {
		const char *p = mhd_client_msgs[i].prefix;

		if (strncmp(fmt, p, strlen(p)))
			continue;
		if (mhd_client_msgs[i].kind != T_ABORTED || !take_pending(g))
			atomic_fetch_add(&g->tally[mhd_client_msgs[i].kind],
					 1);
		return;
	}
	if (atomic_fetch_add(&g->shown, 1) >= GUARD_LOG_LINES) {
		atomic_fetch_add(&g->tally[T_OTHER], 1);
		return;
	}
	vsnprintf(line, sizeof(line), fmt, ap);
	n = strlen(line);
	while (n && (line[n - 1] == '\n' || line[n - 1] == '\r'))
		line[--n] = '\0';
	log_warn("http: %s", line);
}
