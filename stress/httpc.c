/*
 * httpc.c: a minimal HTTP/1.1 keep-alive client for the stress client;
 * see httpc.h.
 *
 * The socket is non-blocking from the start, and every wait goes through
 * wait_fd(), a poll() bounded by the deadline of the call: that is what
 * makes the timeout hold for connecting, sending and receiving alike.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <limits.h>
#include <netinet/in.h>
#include <netdb.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "common/clock.h"
#include "common/parse.h"
#include "stress/httpc.h"
#include "common/banned.h"

#define REQ_MAX 2048
#define BUF_START 4096
/* Headers, body and the NUL after it. */
#define BUF_LIMIT (HTTPC_MAX_HEADERS + HTTPC_MAX_BODY + 1)

/* What the header block of an answer says. */
struct head {
	unsigned status;
	uint64_t content_length;
	bool has_length;
	bool close;
};

int httpc_init(struct httpc *c, const char *host, uint16_t port,
	       unsigned timeout_ms)
{
	struct addrinfo hints, *res = NULL;
	char service[8];
	int n, rc;

	memset(c, 0, sizeof(*c));
	c->fd = -1;
	c->timeout_ms = timeout_ms ? timeout_ms : 1;
	if (!host || !*host || strlen(host) > HTTPC_HOST_MAX || port == 0)
		return -EINVAL;
	memset(&hints, 0, sizeof(hints));
	hints.ai_family = AF_UNSPEC;
	hints.ai_socktype = SOCK_STREAM;
	hints.ai_flags = AI_NUMERICSERV;
	snprintf(service, sizeof(service), "%u", port);
	/* As uniqd's --listen localhost: 127.0.0.1, never ::1 first. */
	rc = getaddrinfo(strcmp(host, "localhost") ? host : "127.0.0.1",
			 service, &hints, &res);
	if (rc || !res || res->ai_addrlen > sizeof(c->addr)) {
		if (res)
			freeaddrinfo(res);
		return rc == EAI_SYSTEM ? -errno : rc == EAI_AGAIN ?
		       -EAGAIN : rc == EAI_MEMORY ? -ENOMEM : -ENOENT;
	}
	memcpy(&c->addr, res->ai_addr, res->ai_addrlen);
	c->addrlen = res->ai_addrlen;
	n = snprintf(c->host, sizeof(c->host),
		     strchr(host, ':') ? "[%s]:%u" : "%s:%u", host, port);
	freeaddrinfo(res);
	if (n < 0 || (size_t)n >= sizeof(c->host))
		return -EINVAL;
	return 0;
}

void httpc_close(struct httpc *c)
{
	if (c->fd >= 0) {
		close(c->fd);
		c->fd = -1;
	}
	c->uses = 0;
}

void httpc_release(struct httpc *c)
{
	httpc_close(c);
	free(c->buf);
	c->buf = NULL;
	c->len = 0;
	c->cap = 0;
}

/*
 * Waits until fd is ready for events or the deadline (clock_mono_ns)
 * passes. Returns 0 when poll() reports anything (readiness or an error
 * that the next send/recv will tell), -ETIMEDOUT, or a negative errno.
 */
static int wait_fd(int fd, short events, uint64_t deadline)
{
	struct pollfd pfd = { .fd = fd, .events = events };
	uint64_t now, ms;
	int n;

	for (;;) {
		now = clock_mono_ns();
		if (now >= deadline)
			return -ETIMEDOUT;
		ms = (deadline - now + 999999) / 1000000;
		n = poll(&pfd, 1, ms > INT_MAX ? INT_MAX : (int)ms);
		if (n > 0)
			return 0;
		/* n == 0: the loop sees the deadline; EINTR: a signal
		 * (SIGINT asks to stop after the requests in flight). */
		if (n < 0 && errno != EINTR)
			return -errno;
	}
}

static int connect_until(struct httpc *c, uint64_t deadline)
{
	socklen_t elen = sizeof(int);
	int fd, one = 1, err = 0, rc;

	if (c->fd >= 0)
		return 0;
	fd = socket(c->addr.ss_family,
		    SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	if (setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one))) {
		rc = -errno;
		goto out;
	}
	if (connect(fd, (struct sockaddr *)&c->addr, c->addrlen) == 0) {
		rc = 0;
		goto out;
	}
	if (errno != EINPROGRESS) {
		rc = -errno;
		goto out;
	}
	rc = wait_fd(fd, POLLOUT, deadline);
	if (rc)
		goto out;
	if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &elen))
		rc = -errno;
	else
		rc = -err;
out:
	if (rc) {
		close(fd);
	} else {
		c->fd = fd;
		c->uses = 0;
		c->connects++;
	}
	return rc;
}

int httpc_connect(struct httpc *c)
{
	return connect_until(c, clock_mono_ns() +
				(uint64_t)c->timeout_ms * 1000000u);
}

static int send_all(struct httpc *c, const char *p, size_t len,
		    uint64_t deadline)
{
	size_t off = 0;
	ssize_t n;
	int rc;

	while (off < len) {
		n = send(c->fd, p + off, len - off, MSG_NOSIGNAL);
		if (n >= 0) {
			off += (size_t)n;
			continue;
		}
		if (errno == EINTR)
			continue;
		if (errno != EAGAIN && errno != EWOULDBLOCK)
			return -errno;
		rc = wait_fd(c->fd, POLLOUT, deadline);
		if (rc)
			return rc;
	}
	return 0;
}

/* Makes the buffer at least want bytes. Returns 0, -EMSGSIZE or -ENOMEM. */
static int reserve(struct httpc *c, size_t want)
{
	size_t cap;
	char *p;

	if (want <= c->cap)
		return 0;
	if (want > BUF_LIMIT)
		return -EMSGSIZE;
	cap = c->cap ? c->cap : BUF_START;
	while (cap < want)
		cap *= 2;
	if (cap > BUF_LIMIT)
		cap = BUF_LIMIT;
	p = realloc(c->buf, cap);
	if (!p)
		return -ENOMEM;
	c->buf = p;
	c->cap = cap;
	return 0;
}

/* Is the comma-separated header value v (vlen bytes) holding token? */
static bool has_token(const char *v, size_t vlen, const char *token)
{
	size_t tlen = strlen(token), i = 0, start, end;

	while (i < vlen) {
		while (i < vlen && (v[i] == ' ' || v[i] == '\t' || v[i] == ','))
			i++;
		start = i;
		while (i < vlen && v[i] != ',')
			i++;
		end = i;
		while (end > start && (v[end - 1] == ' ' || v[end - 1] == '\t'))
			end--;
		if (end - start == tlen && !strncasecmp(v + start, token, tlen))
			return true;
	}
	return false;
}

/*
 * Parses the status line and headers in p[0, len), which ends with the
 * empty line ("\r\n\r\n"). Returns 0 or -EPROTO.
 */
static int parse_head(const char *p, size_t len, struct head *h)
{
	const char *end = p + len - 2, *line, *eol, *colon, *v, *ve;
	bool http10, keep_alive = false;
	uint64_t cl;

	memset(h, 0, sizeof(*h));
	/* "HTTP/1.1 200 OK\r\n": the reason phrase may be empty. */
	if (len < 14 || memcmp(p, "HTTP/1.", 7) ||
	    (p[7] != '0' && p[7] != '1') || p[8] != ' ' ||
	    p[9] < '1' || p[9] > '9' || p[10] < '0' || p[10] > '9' ||
	    p[11] < '0' || p[11] > '9' || (p[12] != ' ' && p[12] != '\r'))
		return -EPROTO;
	http10 = p[7] == '0';
	h->status = (unsigned)(p[9] - '0') * 100 +
		    (unsigned)(p[10] - '0') * 10 + (unsigned)(p[11] - '0');
	line = memchr(p, '\n', len);
	if (!line)
		return -EPROTO;
	for (line++; line < end; line = eol + 2) {
		eol = memchr(line, '\r', (size_t)(end - line));
		if (!eol || eol[1] != '\n')
			return -EPROTO;
		colon = memchr(line, ':', (size_t)(eol - line));
		if (!colon || colon == line)
			return -EPROTO;
		v = colon + 1;
		while (v < eol && (*v == ' ' || *v == '\t'))
			v++;
		ve = eol;
		while (ve > v && (ve[-1] == ' ' || ve[-1] == '\t'))
			ve--;
#define IS(name) ((size_t)(colon - line) == sizeof(name) - 1 && \
		  !strncasecmp(line, name, sizeof(name) - 1))
		if (IS("Content-Length")) {
			if (parse_u64_n(v, (size_t)(ve - v), 0, UINT64_MAX,
					&cl))
				return -EPROTO;
			if (h->has_length && cl != h->content_length)
				return -EPROTO;
			h->content_length = cl;
			h->has_length = true;
		} else if (IS("Transfer-Encoding")) {
			return -EPROTO; /* chunked: uniqd never sends it */
		} else if (IS("Connection")) {
			if (has_token(v, (size_t)(ve - v), "close"))
				h->close = true;
			if (has_token(v, (size_t)(ve - v), "keep-alive"))
				keep_alive = true;
		}
#undef IS
	}
	if (http10 && !keep_alive)
		h->close = true;
	if (h->status < 200)
		return -EPROTO; /* 1xx: never asked for (no Expect) */
	return 0;
}

/*
 * Reads one answer into c->buf. *got is set once any byte came, which
 * tells a dropped idle connection (nothing came) from a broken answer.
 */
static int read_answer(struct httpc *c, uint64_t deadline,
		       struct httpc_resp *r, bool *got)
{
	size_t hdr_len = 0, need = 0, from;
	bool to_eof = false;
	struct head h;
	const char *e;
	ssize_t n;
	int rc;

	c->len = 0;
	for (;;) {
		if (hdr_len && !to_eof && c->len >= need)
			break;
		rc = reserve(c, c->len + 2);
		if (rc)
			return rc;
		n = recv(c->fd, c->buf + c->len, c->cap - c->len - 1, 0);
		if (n > 0) {
			*got = true;
			from = c->len > 3 ? c->len - 3 : 0;
			c->len += (size_t)n;
			if (hdr_len) {
				if (to_eof && c->len - hdr_len > HTTPC_MAX_BODY)
					return -EMSGSIZE;
				continue;
			}
			e = memmem(c->buf + from, c->len - from, "\r\n\r\n", 4);
			if (!e) {
				if (c->len > HTTPC_MAX_HEADERS)
					return -EMSGSIZE;
				continue;
			}
			hdr_len = (size_t)(e - c->buf) + 4;
			if (hdr_len > HTTPC_MAX_HEADERS)
				return -EMSGSIZE;
			rc = parse_head(c->buf, hdr_len, &h);
			if (rc)
				return rc;
			if (h.has_length) {
				if (h.content_length > HTTPC_MAX_BODY)
					return -EMSGSIZE;
				need = hdr_len + (size_t)h.content_length;
				rc = reserve(c, need + 1);
				if (rc)
					return rc;
			} else if (h.status == 204 || h.status == 304) {
				need = hdr_len;
			} else {
				/* The body ends with the connection. */
				to_eof = true;
				h.close = true;
			}
			continue;
		}
		if (n == 0) {
			if (to_eof)
				break;
			return -ECONNRESET; /* closed before a whole answer */
		}
		if (errno == EINTR)
			continue;
		if (errno != EAGAIN && errno != EWOULDBLOCK)
			return -errno;
		rc = wait_fd(c->fd, POLLIN, deadline);
		if (rc)
			return rc;
	}
	if (!to_eof && c->len != need)
		return -EPROTO; /* bytes after the body: never pipelined */
	c->buf[c->len] = '\0';
	r->status = h.status;
	r->body = c->buf + hdr_len;
	r->body_len = c->len - hdr_len;
	r->closed = h.close;
	return 0;
}

int httpc_get(struct httpc *c, const char *path, struct httpc_resp *r)
{
	uint64_t deadline = clock_mono_ns() +
			    (uint64_t)c->timeout_ms * 1000000u;
	char req[REQ_MAX];
	bool reused, got;
	const char *s;
	int n, rc, attempt;

	memset(r, 0, sizeof(*r));
	if (!path || *path != '/')
		return -EINVAL;
	for (s = path; *s; s++)
		if ((unsigned char)*s <= ' ' || *s == 0x7f)
			return -EINVAL;
	n = snprintf(req, sizeof(req),
		     "GET %s HTTP/1.1\r\n"
		     "Host: %s\r\n"
		     "User-Agent: uniqd-stress\r\n"
		     "Accept: application/json\r\n"
		     "\r\n", path, c->host);
	if (n < 0 || (size_t)n >= sizeof(req))
		return -EINVAL;

	for (attempt = 0;; attempt++) {
		reused = c->fd >= 0 && c->uses > 0;
		got = false;
		rc = connect_until(c, deadline);
		if (!rc)
			rc = send_all(c, req, (size_t)n, deadline);
		if (!rc)
			rc = read_answer(c, deadline, r, &got);
		if (!rc)
			break;
		httpc_close(c);
		memset(r, 0, sizeof(*r));
		/* Only a kept connection that the server had already closed
		 * when we wrote is worth a second try: nothing was read, so
		 * the request was not answered. */
		if (attempt > 0 || !reused || got ||
		    (rc != -ECONNRESET && rc != -EPIPE))
			return rc;
	}
	c->uses++;
	if (r->closed)
		httpc_close(c);
	return 0;
}
