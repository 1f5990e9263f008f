/*
 * guard.h: what keeps a hostile client from holding the server (private
 * to server/http.c): a deadline for each request's head and body, and
 * libmicrohttpd's messages about clients tallied into one summary line
 * per interval instead of one line each.
 *
 * libmicrohttpd's own connection timeout is an idle timeout: a client
 * that sends its head a byte at a time (slowloris) resets it with every
 * byte and holds its connection for ever. The guard closes, instead:
 *   - a connection whose request head is not complete header_timeout
 *     seconds after its first byte came (the first of a new connection,
 *     or of a keep-alive connection's next request; a connection that
 *     sends nothing is left to the idle timeout, as before);
 *   - a request whose body is not complete body_timeout seconds after
 *     its head.
 * Such a connection is answered "408 Request Timeout" (the contract's
 * JSON) if its socket takes it, and is shut down: libmicrohttpd then sees
 * it end and closes it as a client's own close. No deadline runs while a
 * request is handled, suspended, or its answer sent: a slow download is
 * never cut (the idle timeout still applies).
 *
 * Deadlines are checked twice a second (GUARD_TICK_MS), and a first
 * byte is noticed there too (the kernel's count of bytes received, from
 * TCP_INFO), so a connection may last up to a second beyond its
 * deadline.
 */
#ifndef UNIQ_GUARD_H
#define UNIQ_GUARD_H

#include <stdarg.h>

#include <microhttpd.h>

#define GUARD_TICK_MS 500
#define GUARD_LOG_INTERVAL_S 10	/* one summary line at most this often */
#define GUARD_LOG_LINES 10	/* other messages logged per interval */

struct guard;

/* Starts the guard's thread (timeouts in seconds, >= 1). Returns 0 with
 * *out set, or a negative errno with nothing running. */
int guard_start(unsigned header_timeout, unsigned body_timeout,
		struct guard **out);

/* Stops the thread, writes what is left of the tally, and frees g. Call
 * after MHD_stop_daemon (which tells the guard of every close). Safe
 * with g NULL. */
void guard_free(struct guard *g);

/*
 * libmicrohttpd's MHD_OPTION_NOTIFY_CONNECTION callback (cls: the
 * guard), on the connection's thread: a connection starts under watch
 * (waiting for its first byte) and leaves it when closed, before its
 * socket is.
 */
void guard_notify(void *cls, struct MHD_Connection *conn,
		  void **socket_context,
		  enum MHD_ConnectionNotificationCode toe);

/* The access handler's first call for a request (its head is complete):
 * the body deadline starts. */
void guard_head_done(struct MHD_Connection *conn);

/* The access handler's last call (the request is complete): no deadline
 * while it is handled and answered. */
void guard_request_done(struct MHD_Connection *conn);

/* The request is over (MHD_OPTION_NOTIFY_COMPLETED): the connection
 * waits for its next request, under the idle timeout only. */
void guard_request_over(struct MHD_Connection *conn);

/*
 * libmicrohttpd's MHD_OPTION_EXTERNAL_LOGGER (cls: the guard). Messages
 * about clients (a connection over the limits, closed mid-request, a
 * malformed request, an answer it did not read) are counted by kind;
 * other messages are logged as warnings, GUARD_LOG_LINES per interval at
 * most, and the rest counted. Every GUARD_LOG_INTERVAL_S with anything
 * counted, one line says how many of each, with the connections closed
 * at a deadline ("http: in the last 10 s: 40 connections refused over
 * the connection limits, ...").
 */
void guard_mhd_log(void *cls, const char *fmt, va_list ap)
	__attribute__((format(printf, 2, 0)));

#endif
