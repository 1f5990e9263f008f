/*
 * http.h: the HTTP server: a libmicrohttpd thread pool on epoll with
 * HTTP/1.1 keep-alive, that hands each complete request to one handler
 * and gives it helpers to answer.
 *
 * The handler runs on one of the pool's threads and must queue exactly
 * one response with http_reply*() or http_error() before it returns (if
 * it does not, the client gets a 500). Everything a struct http_req points
 * to lives until the handler returns.
 */
#ifndef UNIQ_HTTP_H
#define UNIQ_HTTP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct MHD_Connection;

/*
 * Limits on a request's head, answered in the contract's JSON: a path
 * (decoded) over HTTP_PATH_MAX bytes or a query over HTTP_QUERY_MAX gets
 * 414 uri_too_long; headers over HTTP_HEADERS_MAX in all get 431
 * headers_too_large. A query's size is that of its parameters decoded,
 * with the '=' of each that has a value and the '&' between them (so
 * "a=1&b" is 5 bytes); a header counts its name, its value and 2 (its
 * ": " or line end). Exactly at a limit is fine. A head that does not
 * even fit libmicrohttpd's buffer of HTTP_MEMORY_LIMIT bytes per
 * connection gets its own 414 or 431 (not JSON), and the connection is
 * closed.
 */
#define HTTP_PATH_MAX 2048
#define HTTP_QUERY_MAX 4096
#define HTTP_HEADERS_MAX 8192
#define HTTP_MEMORY_LIMIT (32 * 1024)	/* libmicrohttpd's default */

struct http_req {
	struct MHD_Connection *conn;
	const char *method;
	const char *path;	/* percent-decoded, without the query */
	const char *body;	/* NUL-terminated; "" when none */
	size_t body_len;
	unsigned thread;	/* small number of the serving thread */
	unsigned status;	/* of the response queued, 0 before */
	uint64_t start_ns;	/* the request's first handler call
				   (clock_mono_ns), kept across a suspend */
	/* A request the handler suspended (http_suspend) comes back with
	 * resumed set and the state it left. */
	bool resumed;
	void *state;
	/* http.c's own. */
	void *ctx;
	bool suspended;
};

/* A suspended request, to be resumed from any thread. */
struct http_wait;

typedef void (*http_handler)(struct http_req *req, void *arg);

/*
 * Called on the serving thread, with http_start's arg, after http.c
 * answered a request by itself, without the handler: a body over max_body
 * (413), a path, query or headers over the limits (414, 431), or a
 * handler that returned without answering or suspending (500). r->status
 * is the answer's; r->path and r->method are the request's. So that these
 * answers are counted and logged like the handler's own: the handler is
 * never called for them (nor, for the 500, told).
 */
typedef void (*http_answered)(struct http_req *req, void *arg);

struct http_opts {
	const char *host;	/* numeric IPv4/IPv6 address or "localhost" */
	uint16_t port;		/* 0: any free port (see http_port) */
	unsigned threads;	/* worker threads, >= 1 */
	size_t max_body;	/* larger bodies get 413 */
	unsigned idle_timeout;	/* seconds an idle connection is kept */
	unsigned header_timeout; /* seconds for a head, >= 1 (guard.h) */
	unsigned body_timeout;	/* seconds for a body after its head, >= 1 */
	unsigned max_conns;
	unsigned per_ip_conns;	/* open at once per client address; 0: any */
	http_answered answered;	/* NULL: none */
};

struct http_server;

/* Starts listening and serving. Returns 0 with *out set, or a negative
 * errno (-EADDRINUSE, -EINVAL for a bad host...) with nothing running. */
int http_start(const struct http_opts *o, http_handler h, void *arg,
	       struct http_server **out);

/* The port actually bound. */
uint16_t http_port(struct http_server *s);

/* Stops taking connections: from now on a new one is closed as soon as
 * it is accepted (the socket listens until http_stop). Requests on open
 * connections are still served (and suspended ones resumed) until
 * http_stop. Safe with s NULL. */
void http_quiesce(struct http_server *s);

/* Waits up to ms milliseconds for the requests under way (suspended ones
 * included) to finish. Returns how many are left. */
unsigned http_drain(struct http_server *s, unsigned ms);

/* Stops accepting, closes every connection, joins the threads and frees
 * s. Requests suspended and not yet resumed must not exist any more (see
 * http_drain). Safe with s NULL. */
void http_stop(struct http_server *s);

/*
 * The value of query parameter key, or NULL. A parameter given without
 * "=value" reads as "".
 */
const char *http_query(struct http_req *r, const char *key);

/*
 * Checks that every query parameter is one of the NULL-terminated
 * `allowed` and appears at most once. Returns 0, -ENOENT (unknown) or
 * -EEXIST (repeated), with the offending key copied to bad.
 */
int http_query_check(struct http_req *r, const char *const *allowed,
		     char *bad, size_t badlen);

/*
 * Suspends the request without answering: the handler returns, the
 * connection waits without holding a thread, and once http_resume(w) is
 * called (from any thread) the handler is called again for the same
 * request with r->resumed true and r->state == state; it must answer
 * then (r->state is state already once http_suspend returns).
 * state_free(state), if not NULL, is called when the request is
 * over. Returns the handle, or NULL (out of memory: answer now instead).
 * Call http_resume only after the handler has called http_suspend.
 */
struct http_wait *http_suspend(struct http_req *r, void *state,
			       void (*state_free)(void *state));

/* Resumes a suspended request. Any thread, exactly once per suspend. */
void http_resume(struct http_wait *w);

/* The client's address as text ("127.0.0.1", "::1"), or "-" if unknown.
 * Returns buf. */
const char *http_client_addr(struct http_req *r, char *buf, size_t len);

/* A request header's value, or NULL. */
const char *http_header(struct http_req *r, const char *name);

/*
 * Queues a response. body is copied (or, with own, taken and freed with
 * free() later). headers is NULL or a NULL-terminated list of name, value
 * pairs. Returns 0 or -ENOMEM/-EIO.
 */
int http_reply(struct http_req *r, unsigned status, const char *ctype,
	       const char *body, size_t len, bool own,
	       const char *const *headers);

/* Queues the contents of fd (size bytes from its start) as the body; the
 * response owns fd and closes it. Returns 0 or -ENOMEM/-EIO (fd closed
 * either way). */
int http_reply_fd(struct http_req *r, unsigned status, const char *ctype,
		  int fd, uint64_t size, const char *const *headers);

/* A JSON response (Content-Type: application/json), copied. */
int http_reply_json(struct http_req *r, unsigned status, const char *json,
		    size_t len);

/*
 * An error in the contract's shape: {"error": code, "message": ...}, with
 * the message formatted printf-style and JSON-escaped. headers as in
 * http_reply.
 */
int http_error(struct http_req *r, unsigned status,
	       const char *const *headers, const char *code,
	       const char *fmt, ...) __attribute__((format(printf, 5, 6)));

#endif
