/*
 * httpc.h: a minimal HTTP/1.1 client holding one keep-alive connection to
 * one server, enough for uniqd-stress: GET requests, answers framed by
 * Content-Length (or, without it, by the end of the connection). No TLS
 * (uniqd serves plain HTTP), no redirects, no chunked transfer coding
 * (uniqd never sends it), no pipelining.
 *
 * Invariants:
 *  - A struct httpc belongs to one thread at a time; there is no lock
 *    inside.
 *  - c->fd is -1 (not connected) or a connected, non-blocking TCP socket
 *    with TCP_NODELAY. A failed call always leaves it -1, so the next
 *    httpc_get() starts on a fresh connection.
 *  - No call waits longer than the timeout given to httpc_init(): every
 *    wait is a poll() bounded by the deadline of the call.
 *  - The answer's body lives in c's buffer until the next httpc_get() or
 *    httpc_release() on c.
 *
 * Errors are negative errno codes:
 *   -ETIMEDOUT     the deadline passed (connecting, sending or receiving)
 *   -ECONNREFUSED, -ECONNRESET, -EPIPE, -ENETUNREACH... from the socket;
 *                  -ECONNRESET also when the server closes the connection
 *                  before a complete answer
 *   -EPROTO        an answer that is not HTTP/1.x, or uses a transfer
 *                  coding, or has bytes after its body
 *   -EMSGSIZE      headers over HTTPC_MAX_HEADERS or a body over
 *                  HTTPC_MAX_BODY
 *   -EINVAL        a bad argument (host, port, path)
 *   -ENOMEM
 */
#ifndef UNIQ_HTTPC_H
#define UNIQ_HTTPC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#define HTTPC_HOST_MAX 255	/* a DNS name's length, at most */
#define HTTPC_MAX_HEADERS (16 * 1024)
#define HTTPC_MAX_BODY (1024 * 1024)

struct httpc {
	int fd;				/* -1 when not connected */
	struct sockaddr_storage addr;	/* the server */
	socklen_t addrlen;
	char host[HTTPC_HOST_MAX + 8];	/* Host header: "127.0.0.1:8000" */
	unsigned timeout_ms;		/* per call */
	unsigned uses;			/* answers read on this connection */
	uint64_t connects;		/* connections opened, ever */
	char *buf;			/* the last answer, headers and body */
	size_t len, cap;
};

struct httpc_resp {
	unsigned status;	/* 100-999 */
	const char *body;	/* inside c's buffer, NUL-terminated */
	size_t body_len;
	bool closed;		/* the server ended the connection after it */
};

/*
 * Sets up c in caller-owned memory for the server host:port, where host
 * is a numeric IPv4 or IPv6 address (without brackets) or a name,
 * resolved now with getaddrinfo(3) (the first address it gives is the
 * one used; "localhost" is 127.0.0.1, as for uniqd's --listen). Does
 * not connect. Returns 0,
 * -ENOENT for a name that does not resolve, -EAGAIN for a lookup that
 * could not be made now, -EINVAL for an empty host, one longer than
 * HTTPC_HOST_MAX or a port 0 (c is then safe to httpc_release).
 */
int httpc_init(struct httpc *c, const char *host, uint16_t port,
	       unsigned timeout_ms);

/*
 * Opens the connection if c has none (httpc_get does it on its own; this
 * is for callers that want to connect ahead). Returns 0 or a negative
 * errno, with c not connected.
 */
int httpc_connect(struct httpc *c);

/*
 * Sends "GET path HTTP/1.1" and reads the whole answer into *r. path
 * starts with '/' and holds no space or control character. Connects
 * first if needed. If a connection that already served an answer turns
 * out to be closed by the server before any byte of the new answer (an
 * idle keep-alive connection the server dropped), the request is sent
 * once more on a new connection, within the same deadline.
 *
 * Any status is a success here (404 and 503 return 0 with r->status set);
 * the connection is kept unless the server asked to close it
 * ("Connection: close", HTTP/1.0 without keep-alive, or a body ended by
 * EOF), in which case r->closed is set and c is not connected. On error,
 * *r is zeroed and c is not connected.
 */
int httpc_get(struct httpc *c, const char *path, struct httpc_resp *r);

/* Closes the connection if there is one; c stays usable. */
void httpc_close(struct httpc *c);

/* Closes the connection and frees the buffer; c may be set up again
 * with httpc_init. */
void httpc_release(struct httpc *c);

#endif
