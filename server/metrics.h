/*
 * metrics.h: the request counters behind GET /metrics (the Prometheus text
 * format): requests by route and status, and a latency histogram.
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

#include <stddef.h>
#include <stdint.h>

#include "common/buf.h"

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

/* Counts one answered request. Any thread. */
void metrics_count(struct metrics *m, unsigned thread, unsigned route,
		   unsigned status, uint64_t nanos);

/* Counts n values (ids, codes, numbers lent) handed out by pool number
 * pool in one answer. Any thread. */
void metrics_served(struct metrics *m, unsigned thread, size_t pool,
		    uint64_t n);

/* Appends uniqd_values_served_total, uniqd_http_requests_total and uniqd_http_request_seconds in the
 * Prometheus text format. */
void metrics_render(struct metrics *m, struct buf *b);

#endif
