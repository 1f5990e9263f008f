/*
 * http.c: libmicrohttpd glue; see http.h.
 *
 * DESIGN
 *
 * libmicrohttpd runs a pool of `threads` threads, each with its own epoll
 * set and its own connections; a request is handled start to end on the
 * thread that owns its connection, so per-request state needs no lock.
 * The access handler is called several times per request:
 *   1. first call, headers read: we only attach a context and return. (In
 *      libmicrohttpd 0.9 queuing a response on this first call answers
 *      "Connection: close"; answering on a later call keeps the
 *      connection alive, as ../shared/peers/mhd_hello.c does.) Bodiless
 *      methods share one static context, so GET costs no allocation.
 *   2. zero or more calls with body bytes, appended to the context up to
 *      max_body (then 413 at once, and the connection is closed);
 *   3. last call: the handler runs and queues the response.
 * The context is freed by the "request completed" callback. What http.c
 * answers itself (413, 414, 431, the 500 of a handler that gave no
 * answer) goes to the http_answered callback, so that the caller counts
 * and logs every answer, not only its handler's.
 *
 * Suspend and resume: a handler that must wait (for a group commit) calls
 * http_suspend, which moves the request to a heap context if it had the
 * shared one, and suspends the connection; the thread goes on with other
 * connections. Another thread calls http_resume (MHD_resume_connection is
 * thread safe), and libmicrohttpd calls the access handler again on the
 * connection's own thread, which calls the handler with r->resumed.
 * s->inflight counts requests from their first call to their completion,
 * so that shutdown can wait for suspended ones (http_drain) before
 * MHD_stop_daemon, which must not find any.
 *
 * The guard (guard.h) watches every connection from its own thread: the
 * access handler tells it when a head is done and a request complete,
 * on_completed when a request is over; it closes connections past their
 * head or body deadline, and tallies libmicrohttpd's messages.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <microhttpd.h>

#include "common/buf.h"
#include "common/clock.h"
#include "common/log.h"
#include "common/parse.h"
#include "server/guard.h"
#include "server/http.h"
#include "common/banned.h"

struct http_server {
	struct MHD_Daemon *daemon;
	struct guard *guard;	/* request deadlines, the log's tally */
	http_handler handler;
	http_answered answered;
	void *arg;
	size_t max_body;
	uint16_t port;
	_Atomic unsigned inflight;
	_Atomic bool closing;	/* set by http_quiesce: new connections are
				   closed as soon as accepted */
};

/* The context of a request with a body, or that was suspended. */
struct req_ctx {
	struct buf body;
	bool too_large;
	bool suspended;		/* waiting for http_resume */
	uint64_t start_ns;	/* first handler call of the request */
	struct MHD_Connection *conn;
	void *state;
	void (*state_free)(void *state);
};

/* The context shared by all requests without a body. */
static struct req_ctx no_body_ctx;

static _Atomic unsigned next_thread;
static _Thread_local unsigned thread_no = 0;

static unsigned this_thread(void)
{
	if (thread_no == 0)
		thread_no = atomic_fetch_add(&next_thread, 1) + 1;
	return thread_no - 1;
}

struct http_wait *http_suspend(struct http_req *r, void *state,
			       void (*state_free)(void *state))
{
	struct req_ctx *ctx = r->ctx;

	if (ctx == &no_body_ctx) {
		ctx = calloc(1, sizeof(*ctx));
		if (!ctx)
			return NULL;
		buf_init(&ctx->body);
		ctx->start_ns = r->start_ns;
		r->ctx = ctx; /* on_request stores it in *con_cls */
	}
	ctx->conn = r->conn;
	ctx->state = state;
	ctx->state_free = state_free;
	ctx->suspended = true;
	r->suspended = true;
	r->state = state;
	MHD_suspend_connection(r->conn);
	return (struct http_wait *)ctx;
}

void http_resume(struct http_wait *w)
{
	struct req_ctx *ctx = (struct req_ctx *)w;

	MHD_resume_connection(ctx->conn);
}

static bool method_has_body(const char *m)
{
	return strcmp(m, MHD_HTTP_METHOD_GET) && strcmp(m, MHD_HTTP_METHOD_HEAD);
}

int http_reply(struct http_req *r, unsigned status, const char *ctype,
	       const char *body, size_t len, bool own,
	       const char *const *headers)
{
	struct MHD_Response *resp;
	enum MHD_Result ok;

	if (r->status) {
		if (own)
			free((void *)(uintptr_t)body);
		return -EALREADY;
	}
	resp = MHD_create_response_from_buffer(
		len, (void *)(uintptr_t)body,
		own ? MHD_RESPMEM_MUST_FREE : MHD_RESPMEM_MUST_COPY);
	if (!resp) {
		if (own)
			free((void *)(uintptr_t)body);
		return -ENOMEM;
	}
	if (ctype)
		MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE,
					ctype);
	for (; headers && headers[0] && headers[1]; headers += 2)
		MHD_add_response_header(resp, headers[0], headers[1]);
	ok = MHD_queue_response(r->conn, status, resp);
	MHD_destroy_response(resp);
	if (ok != MHD_YES)
		return -EIO;
	r->status = status;
	return 0;
}

int http_reply_fd(struct http_req *r, unsigned status, const char *ctype,
		  int fd, uint64_t size, const char *const *headers)
{
	struct MHD_Response *resp;
	enum MHD_Result ok;

	if (r->status) {
		close(fd);
		return -EALREADY;
	}
	resp = MHD_create_response_from_fd64(size, fd);
	if (!resp) {
		close(fd);
		return -ENOMEM;
	}
	if (ctype)
		MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE,
					ctype);
	for (; headers && headers[0] && headers[1]; headers += 2)
		MHD_add_response_header(resp, headers[0], headers[1]);
	ok = MHD_queue_response(r->conn, status, resp);
	MHD_destroy_response(resp);
	if (ok != MHD_YES)
		return -EIO;
	r->status = status;
	return 0;
}

int http_reply_json(struct http_req *r, unsigned status, const char *json,
		    size_t len)
{
	return http_reply(r, status, "application/json", json, len, false,
			  NULL);
}

int http_error(struct http_req *r, unsigned status,
	       const char *const *headers, const char *code,
	       const char *fmt, ...)
{
	struct buf b = BUF_INIT;
	char msg[512];
	va_list ap;
	size_t len;
	char *body;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	buf_adds(&b, "{\"error\":");
	buf_add_json_str(&b, code);
	buf_adds(&b, ",\"message\":");
	buf_add_json_str(&b, msg);
	buf_addc(&b, '}');
	body = buf_detach(&b, &len);
	if (!body)
		return -ENOMEM;
	return http_reply(r, status, "application/json", body, len, true,
			  headers);
}

const char *http_query(struct http_req *r, const char *key)
{
	const char *v = MHD_lookup_connection_value(r->conn,
						    MHD_GET_ARGUMENT_KIND, key);

	if (!v && MHD_lookup_connection_value_n(r->conn,
						MHD_GET_ARGUMENT_KIND, key,
						strlen(key), NULL,
						NULL) == MHD_YES)
		return ""; /* "?key" without a value */
	return v;
}

const char *http_client_addr(struct http_req *r, char *buf, size_t len)
{
	const union MHD_ConnectionInfo *ci;
	const struct sockaddr *sa;
	const void *addr = NULL;

	ci = MHD_get_connection_info(r->conn,
				     MHD_CONNECTION_INFO_CLIENT_ADDRESS);
	sa = ci ? ci->client_addr : NULL;
	if (sa && sa->sa_family == AF_INET)
		addr = &((const struct sockaddr_in *)(const void *)sa)->sin_addr;
	else if (sa && sa->sa_family == AF_INET6)
		addr = &((const struct sockaddr_in6 *)(const void *)sa)
				->sin6_addr;
	if (!addr || !inet_ntop(sa->sa_family, addr, buf, (socklen_t)len))
		snprintf(buf, len, "-");
	return buf;
}

const char *http_header(struct http_req *r, const char *name)
{
	return MHD_lookup_connection_value(r->conn, MHD_HEADER_KIND, name);
}

struct query_check {
	const char *const *allowed;
	const char *seen[16];
	size_t nseen;
	int rc;
	const char *bad;
};

static enum MHD_Result check_arg(void *cls, enum MHD_ValueKind kind,
				 const char *key, const char *value)
{
	struct query_check *qc = cls;
	const char *const *a;
	size_t i;

	(void)kind;
	(void)value;
	for (a = qc->allowed; *a; a++)
		if (!strcmp(*a, key))
			break;
	if (!*a) {
		qc->rc = -ENOENT;
		qc->bad = key;
		return MHD_NO;
	}
	for (i = 0; i < qc->nseen; i++)
		if (qc->seen[i] == *a) {
			qc->rc = -EEXIST;
			qc->bad = key;
			return MHD_NO;
		}
	if (qc->nseen < sizeof(qc->seen) / sizeof(qc->seen[0]))
		qc->seen[qc->nseen++] = *a;
	return MHD_YES;
}

int http_query_check(struct http_req *r, const char *const *allowed,
		     char *bad, size_t badlen)
{
	struct query_check qc = { .allowed = allowed };

	MHD_get_connection_values(r->conn, MHD_GET_ARGUMENT_KIND, check_arg,
				  &qc);
	if (qc.rc && bad && badlen)
		snprintf(bad, badlen, "%s", qc.bad ? qc.bad : "");
	return qc.rc;
}

/* True if the request announces a body over max bytes. */
static bool declared_too_large(struct http_req *r, size_t max)
{
	const char *cl = http_header(r, MHD_HTTP_HEADER_CONTENT_LENGTH);
	uint64_t n;

	return cl && parse_u64(cl, 0, UINT64_MAX, &n) == 0 && n > max;
}

/* Ends a call of the access handler in which http.c answered r itself
 * (see http_answered): tells s->answered, if it did answer. */
static enum MHD_Result own_answer(struct http_server *s, struct http_req *r)
{
	if (!r->status)
		return MHD_NO; /* not even an error could be queued: close */
	if (s->answered)
		s->answered(r, s->arg);
	return MHD_YES;
}

static enum MHD_Result answer_too_large(struct http_server *s,
					struct http_req *r)
{
	http_error(r, MHD_HTTP_CONTENT_TOO_LARGE, NULL, "body_too_large",
		   "the request body is over %zu bytes", s->max_body);
	return own_answer(s, r);
}

/* Adds up the bytes of the query's parameters as http.h counts them:
 * each one's key, '=' and value if it has one, and a '&' after it (the
 * caller takes the last one off). */
static enum MHD_Result add_arg_size(void *cls, enum MHD_ValueKind kind,
				    const char *key, const char *value)
{
	size_t *n = cls;

	(void)kind;
	*n += strlen(key) + (value ? 1 + strlen(value) : 0) + 1;
	return MHD_YES;
}

/* Adds up the bytes of the headers as http.h counts them. */
static enum MHD_Result add_header_size(void *cls, enum MHD_ValueKind kind,
				       const char *key, const char *value)
{
	size_t *n = cls;

	(void)kind;
	*n += strlen(key) + (value ? strlen(value) : 0) + 2;
	return MHD_YES;
}

/* Answers 414 or 431 if the request's path, query or headers are over
 * our limits (below libmicrohttpd's own, whose answers are not JSON).
 * Returns true if it did. */
static bool answer_head_too_large(struct http_req *r)
{
	size_t query = 0, head = 0, path = strlen(r->path);

	MHD_get_connection_values(r->conn, MHD_GET_ARGUMENT_KIND,
				  add_arg_size, &query);
	if (query)
		query--; /* no '&' after the last parameter */
	MHD_get_connection_values(r->conn, MHD_HEADER_KIND, add_header_size,
				  &head);
	if (path > HTTP_PATH_MAX || query > HTTP_QUERY_MAX)
		http_error(r, 414, NULL, "uri_too_long",
			   "the path may have %d bytes and the query %d",
			   HTTP_PATH_MAX, HTTP_QUERY_MAX);
	else if (head > HTTP_HEADERS_MAX)
		http_error(r, 431, NULL, "headers_too_large",
			   "the headers may have %d bytes in all",
			   HTTP_HEADERS_MAX);
	return r->status != 0;
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *conn,
				  const char *url, const char *method,
				  const char *version, const char *upload,
				  size_t *upload_size, void **con_cls)
{
	struct http_server *s = cls;
	struct req_ctx *ctx = *con_cls;
	struct http_req req;

	(void)version;
	memset(&req, 0, sizeof(req));
	req.conn = conn;
	req.method = method;
	req.path = url;
	req.thread = this_thread();
	req.body = "";
	req.start_ns = clock_mono_ns();
	if (!ctx) {
		/* First call: headers only. See DESIGN. */
		if (!method_has_body(method)) {
			ctx = &no_body_ctx;
		} else {
			ctx = calloc(1, sizeof(*ctx));
			if (!ctx)
				return MHD_NO;
			buf_init(&ctx->body);
			ctx->start_ns = req.start_ns;
		}
		*con_cls = ctx;
		atomic_fetch_add(&s->inflight, 1); /* on_completed takes it off */
		guard_head_done(conn);
		/* A body announced too large is refused now: libmicrohttpd
		 * can answer before reading a body, not while reading one
		 * (then the connection is closed after the answer). */
		if (declared_too_large(&req, s->max_body)) {
			req.ctx = ctx;
			guard_request_done(conn);
			return answer_too_large(s, &req);
		}
		return MHD_YES;
	}
	req.ctx = ctx;
	if (ctx != &no_body_ctx)
		req.start_ns = ctx->start_ns;
	if (ctx != &no_body_ctx && ctx->suspended) {
		/* Called again after http_resume. */
		ctx->suspended = false;
		req.resumed = true;
		req.state = ctx->state;
		req.body = ctx->body.p ? ctx->body.p : "";
		req.body_len = ctx->body.len;
		s->handler(&req, s->arg);
		goto answered;
	}
	if (*upload_size) {
		if (ctx == &no_body_ctx || ctx->too_large) {
			*upload_size = 0; /* a GET body, or one refused */
			return MHD_YES;
		}
		if (ctx->body.len + *upload_size > s->max_body) {
			/* Chunked, so not known at the first call: read the
			 * rest away and answer 413 at the end. */
			ctx->too_large = true;
			buf_release(&ctx->body);
		} else {
			buf_add(&ctx->body, upload, *upload_size);
		}
		*upload_size = 0;
		return MHD_YES;
	}
	guard_request_done(conn);
	if (ctx != &no_body_ctx && ctx->too_large)
		return answer_too_large(s, &req);
	if (ctx != &no_body_ctx && buf_finish(&ctx->body))
		return MHD_NO;
	req.body = ctx != &no_body_ctx && ctx->body.p ? ctx->body.p : "";
	req.body_len = ctx != &no_body_ctx ? ctx->body.len : 0;
	if (answer_head_too_large(&req))
		return own_answer(s, &req);
	s->handler(&req, s->arg);
answered:
	if (req.ctx != ctx)
		*con_cls = req.ctx; /* moved to the heap by http_suspend */
	if (req.status || req.suspended)
		return MHD_YES;
	http_error(&req, MHD_HTTP_INTERNAL_SERVER_ERROR, NULL, "internal",
		   "the server could not answer");
	return own_answer(s, &req);
}

static void on_completed(void *cls, struct MHD_Connection *conn,
			 void **con_cls, enum MHD_RequestTerminationCode toe)
{
	struct http_server *s = cls;
	struct req_ctx *ctx = *con_cls;

	(void)toe;
	guard_request_over(conn);
	if (!ctx)
		return;
	if (ctx != &no_body_ctx) {
		if (ctx->state_free)
			ctx->state_free(ctx->state);
		buf_release(&ctx->body);
		free(ctx);
	}
	*con_cls = NULL;
	atomic_fetch_sub(&s->inflight, 1);
}

/* Fills ss from host and port; returns its length or a negative errno. */
static int make_addr(const char *host, uint16_t port,
		     struct sockaddr_storage *ss, bool *v6)
{
	struct sockaddr_in *in4 = (struct sockaddr_in *)ss;
	struct sockaddr_in6 *in6 = (struct sockaddr_in6 *)ss;

	memset(ss, 0, sizeof(*ss));
	if (!strcmp(host, "localhost"))
		host = "127.0.0.1";
	if (inet_pton(AF_INET, host, &in4->sin_addr) == 1) {
		in4->sin_family = AF_INET;
		in4->sin_port = htons(port);
		*v6 = false;
		return (int)sizeof(*in4);
	}
	if (inet_pton(AF_INET6, host, &in6->sin6_addr) == 1) {
		in6->sin6_family = AF_INET6;
		in6->sin6_port = htons(port);
		*v6 = true;
		return (int)sizeof(*in6);
	}
	return -EINVAL;
}

/*
 * libmicrohttpd's accept policy: after http_quiesce, every new connection
 * is closed at once. MHD_quiesce_daemon is not used: with a thread pool
 * on epoll it races with the workers' own removal of the listen socket
 * from their epoll sets, and libmicrohttpd 0.9 aborts the process
 * ("Failed to remove listen FD from epoll set") when it loses; the crash
 * matrix hit it about once in a few hundred stops.
 */
static enum MHD_Result on_accept(void *cls, const struct sockaddr *addr,
				 socklen_t addrlen)
{
	struct http_server *s = cls;

	(void)addr;
	(void)addrlen;
	return atomic_load(&s->closing) ? MHD_NO : MHD_YES;
}

int http_start(const struct http_opts *o, http_handler h, void *arg,
	       struct http_server **out)
{
	struct sockaddr_storage ss;
	const union MHD_DaemonInfo *info;
	struct http_server *s;
	unsigned flags = MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_EPOLL |
			 MHD_USE_ERROR_LOG | MHD_ALLOW_SUSPEND_RESUME;
	bool v6 = false;
	int rc;

	*out = NULL;
	rc = make_addr(o->host, o->port, &ss, &v6);
	if (rc < 0)
		return rc;
	if (v6)
		flags |= MHD_USE_IPv6;
	s = calloc(1, sizeof(*s));
	if (!s)
		return -ENOMEM;
	s->handler = h;
	s->answered = o->answered;
	s->arg = arg;
	s->max_body = o->max_body;
	rc = guard_start(o->header_timeout, o->body_timeout, &s->guard);
	if (rc) {
		free(s);
		return rc;
	}
	errno = 0;
	s->daemon = MHD_start_daemon(
		flags, o->port, on_accept, s, on_request, s,
		MHD_OPTION_EXTERNAL_LOGGER, guard_mhd_log, s->guard,
		MHD_OPTION_NOTIFY_CONNECTION, guard_notify, s->guard,
		MHD_OPTION_PER_IP_CONNECTION_LIMIT,
		(unsigned int)o->per_ip_conns,
		MHD_OPTION_SOCK_ADDR, (struct sockaddr *)&ss,
		MHD_OPTION_THREAD_POOL_SIZE, (unsigned int)o->threads,
		MHD_OPTION_CONNECTION_LIMIT, (unsigned int)o->max_conns,
		MHD_OPTION_CONNECTION_TIMEOUT, (unsigned int)o->idle_timeout,
		MHD_OPTION_CONNECTION_MEMORY_LIMIT, (size_t)HTTP_MEMORY_LIMIT,
		MHD_OPTION_NOTIFY_COMPLETED, on_completed, s,
		MHD_OPTION_END);
	if (!s->daemon) {
		rc = errno ? -errno : -EIO;
		guard_free(s->guard);
		free(s);
		return rc;
	}
	info = MHD_get_daemon_info(s->daemon, MHD_DAEMON_INFO_BIND_PORT);
	s->port = info ? info->port : o->port;
	*out = s;
	return 0;
}

uint16_t http_port(struct http_server *s)
{
	return s->port;
}

void http_quiesce(struct http_server *s)
{
	if (s)
		atomic_store(&s->closing, true);
}

unsigned http_drain(struct http_server *s, unsigned ms)
{
	struct timespec ts = { 0, 5 * 1000000L };
	unsigned waited = 0, left;

	if (!s)
		return 0;
	while ((left = atomic_load(&s->inflight)) && waited < ms) {
		nanosleep(&ts, NULL);
		waited += 5;
	}
	return left;
}

void http_stop(struct http_server *s)
{
	if (!s)
		return;
	MHD_stop_daemon(s->daemon);
	guard_free(s->guard);
	free(s);
}
