/*
 * metrics.h: the request counters behind GET /metrics (the Prometheus text
 * format): requests by route and status, and a latency histogram; and the
 * accounting of one answered request (counters and access-log line), the
 * same for the handler's answers and for those http.c gives itself.
 *
 * DESIGN
 *
 * Every HTTP thread counts into a slot of its own (by its thread number,
 * http_req.thread), so that counting a request costs a few relaxed atomic
 * additions on a cache line no other thread writes: /random at 150k
 * requests a second must not pay for a shared counter. GET /metrics sums
 * the slots; the sums are exact once the requests counted are over, and
 * never go backwards. Threads beyond METRICS_SLOTS share the last slot
 * (still atomic, only slower).
 *
 * The latency is the server's own time for a request: from the first
 * call of its handler to its answer, so a request suspended for a group
 * commit counts its wait. (The network is not in it.)
 */
#ifndef UNIQ_METRICS_H
#define UNIQ_METRICS_H

#include <limits.h>
#include <stddef.h>
#include <stdint.h>

#include "common/buf.h"

struct http_req;

#define METRICS_SLOTS 64
#define METRICS_ROUTES_MAX 40
#define METRICS_POOLS_MAX 64	/* pools whose served values are counted */

struct metrics;

/* Sets up counters for nroutes routes, whose labels are route[i] (the
 * route's pattern, not the request's path: no value ends up in a label),
 * and for the values served by npools pools named pools[i] (the first
 * METRICS_POOLS_MAX of them). Route nroutes - 1 is "other" (unmatched
 * paths). Both arrays must outlive m. Returns 0, -EINVAL (too many
 * routes) or -ENOMEM. */
int metrics_new(size_t nroutes, const char *const *routes, size_t npools,
		const char *const *pools, struct metrics **out);

void metrics_free(struct metrics *m);

/* A route number for what matched no route: counted as "other". */
#define METRICS_ROUTE_OTHER UINT_MAX

/* Counts one answered request. A route >= nroutes (METRICS_ROUTE_OTHER)
 * counts as "other". Any thread. */
void metrics_count(struct metrics *m, unsigned thread, unsigned route,
		   unsigned status, uint64_t nanos);

/* What the access log writes of a request (metrics_request_done). */
enum metrics_log {
	METRICS_LOG_OFF = 0,	/* no access log */
	METRICS_LOG_ROUTES,	/* the route's pattern: no value, no token */
	METRICS_LOG_PATHS,	/* the path as requested: may hold values */
};

/*
 * Accounts for request r, answered with r->status: counts it under route
 * (metrics_count; its time is from r->start_ns until now) and, unless log
 * is METRICS_LOG_OFF, writes its access-log line (log_access): client,
 * method, then the route's pattern ("-" when pattern is NULL) or, with
 * METRICS_LOG_PATHS, the path, then the status and the server's time in
 * milliseconds. Bytes of the method or path that are not printable ASCII
 * are written as '?', so that a path cannot forge a log line; never the
 * query, a header or a body. Call it once per answered request, from the
 * thread that answered it.
 */
void metrics_request_done(struct metrics *m, struct http_req *r,
			  unsigned route, const char *pattern,
			  enum metrics_log log);

/* Counts n values (ids, codes, numbers lent) handed out by pool number
 * pool in one answer. Any thread. */
void metrics_served(struct metrics *m, unsigned thread, size_t pool,
		    uint64_t n);

/* Appends uniqd_values_served_total, uniqd_http_requests_total and
 * uniqd_http_request_seconds in the Prometheus text format. */
void metrics_render(struct metrics *m, struct buf *b);

#endif
