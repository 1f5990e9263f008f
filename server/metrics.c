/*
 * metrics.c: per-thread request counters for GET /metrics, and the access
 * log line of a request; see the DESIGN block in metrics.h.
 */
#include <errno.h>
#include <stdalign.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/clock.h"
#include "common/log.h"
#include "server/http.h"
#include "server/metrics.h"
#include "common/banned.h"

/* The statuses uniqd answers (http.c's own 413, 414 and 431 included);
 * anything else counts as "other". */
static const unsigned statuses[] = { 200, 201, 202, 400, 401, 404, 405,
				     409, 413, 414, 431, 500, 503 };
#define NSTATUS (sizeof(statuses) / sizeof(statuses[0]) + 1)

/* Latency bucket bounds, in microseconds (le="..." in seconds). */
static const uint64_t bounds_us[] = { 50, 100, 250, 500, 1000, 2500, 5000,
				      10000, 25000, 50000, 100000, 250000,
				      500000, 1000000, 2500000 };
#define NBUCKET (sizeof(bounds_us) / sizeof(bounds_us[0]) + 1)

struct slot {
	alignas(64) _Atomic uint64_t req[METRICS_ROUTES_MAX][NSTATUS];
	_Atomic uint64_t bucket[NBUCKET];
	_Atomic uint64_t sum_us;
	_Atomic uint64_t served[METRICS_POOLS_MAX];
};

struct metrics {
	size_t nroutes;
	const char *const *routes;
	size_t npools;
	const char *const *pools;
	struct slot *slots;	/* METRICS_SLOTS of them */
};

int metrics_new(size_t nroutes, const char *const *routes, size_t npools,
		const char *const *pools, struct metrics **out)
{
	struct metrics *m;

	*out = NULL;
	if (nroutes > METRICS_ROUTES_MAX)
		return -EINVAL;
	m = calloc(1, sizeof(*m));
	if (!m)
		return -ENOMEM;
	m->slots = aligned_alloc(64, METRICS_SLOTS * sizeof(*m->slots));
	if (!m->slots) {
		free(m);
		return -ENOMEM;
	}
	memset(m->slots, 0, METRICS_SLOTS * sizeof(*m->slots));
	m->nroutes = nroutes;
	m->routes = routes;
	m->npools = npools < METRICS_POOLS_MAX ? npools : METRICS_POOLS_MAX;
	m->pools = pools;
	*out = m;
	return 0;
}

void metrics_free(struct metrics *m)
{
	if (!m)
		return;
	free(m->slots);
	free(m);
}

static unsigned status_index(unsigned status)
{
	unsigned i;

	for (i = 0; i < NSTATUS - 1; i++)
		if (statuses[i] == status)
			return i;
	return NSTATUS - 1;
}

void metrics_count(struct metrics *m, unsigned thread, unsigned route,
		   unsigned status, uint64_t nanos)
{
	struct slot *s = &m->slots[thread < METRICS_SLOTS ? thread :
				   METRICS_SLOTS - 1];
	uint64_t us = nanos / 1000;
	unsigned b = 0;

	if (route >= m->nroutes)
		route = (unsigned)m->nroutes - 1;
	while (b < NBUCKET - 1 && us > bounds_us[b])
		b++;
	atomic_fetch_add_explicit(&s->req[route][status_index(status)], 1,
				  memory_order_relaxed);
	atomic_fetch_add_explicit(&s->bucket[b], 1, memory_order_relaxed);
	atomic_fetch_add_explicit(&s->sum_us, us, memory_order_relaxed);
}

/* Copies s into out (cut to fit), with every byte that is not printable
 * ASCII as '?'. */
static const char *log_safe(const char *s, char *out, size_t len)
{
	size_t i;

	for (i = 0; s[i] && i + 1 < len; i++)
		out[i] = s[i] > 0x20 && s[i] < 0x7f ? s[i] : '?';
	out[i] = '\0';
	return out;
}

void metrics_request_done(struct metrics *m, struct http_req *r,
			  unsigned route, const char *pattern,
			  enum metrics_log log)
{
	uint64_t nanos = clock_mono_ns() - r->start_ns;
	char addr[64], method[16], path[256];
	const char *what;

	metrics_count(m, r->thread, route, r->status, nanos);
	if (log == METRICS_LOG_OFF)
		return;
	if (log == METRICS_LOG_PATHS)
		what = log_safe(r->path, path, sizeof(path));
	else
		what = pattern ? pattern : "-";
	log_access("%s %s %s %u %.3f ms",
		   http_client_addr(r, addr, sizeof(addr)),
		   log_safe(r->method, method, sizeof(method)), what,
		   r->status, (double)nanos / 1e6);
}

void metrics_served(struct metrics *m, unsigned thread, size_t pool,
		    uint64_t n)
{
	struct slot *s = &m->slots[thread < METRICS_SLOTS ? thread :
				   METRICS_SLOTS - 1];

	if (pool < m->npools)
		atomic_fetch_add_explicit(&s->served[pool], n,
					  memory_order_relaxed);
}

static uint64_t sum_req(struct metrics *m, size_t r, size_t st)
{
	uint64_t n = 0;
	size_t i;

	for (i = 0; i < METRICS_SLOTS; i++)
		n += atomic_load_explicit(&m->slots[i].req[r][st],
					  memory_order_relaxed);
	return n;
}

void metrics_render(struct metrics *m, struct buf *b)
{
	uint64_t cum = 0, sum_us = 0, n;
	size_t r, st, i, k;

	buf_adds(b, "# HELP uniqd_values_served_total Values handed out in "
		    "answers since start (ids, codes, numbers lent).\n"
		    "# TYPE uniqd_values_served_total counter\n");
	for (k = 0; k < m->npools; k++) {
		n = 0;
		for (i = 0; i < METRICS_SLOTS; i++)
			n += atomic_load_explicit(&m->slots[i].served[k],
						  memory_order_relaxed);
		buf_printf(b, "uniqd_values_served_total{pool=\"%s\"} %llu\n",
			   m->pools[k], (unsigned long long)n);
	}
	buf_adds(b, "# HELP uniqd_http_requests_total HTTP requests answered, "
		    "by route and status.\n"
		    "# TYPE uniqd_http_requests_total counter\n");
	for (r = 0; r < m->nroutes; r++)
		for (st = 0; st < NSTATUS; st++) {
			n = sum_req(m, r, st);
			if (!n)
				continue;
			buf_adds(b, "uniqd_http_requests_total{route=\"");
			buf_adds(b, m->routes[r]);
			if (st < NSTATUS - 1)
				buf_printf(b, "\",status=\"%u\"} ",
					   statuses[st]);
			else
				buf_adds(b, "\",status=\"other\"} ");
			buf_add_u64(b, n);
			buf_addc(b, '\n');
		}
	buf_adds(b, "# HELP uniqd_http_request_seconds Time from a request's "
		    "first handler call to its answer (a group commit's wait "
		    "included).\n"
		    "# TYPE uniqd_http_request_seconds histogram\n");
	for (k = 0; k < NBUCKET; k++) {
		for (i = 0; i < METRICS_SLOTS; i++)
			cum += atomic_load_explicit(&m->slots[i].bucket[k],
						    memory_order_relaxed);
		if (k < NBUCKET - 1)
			buf_printf(b, "uniqd_http_request_seconds_bucket"
				   "{le=\"%g\"} ", (double)bounds_us[k] / 1e6);
		else
			buf_adds(b, "uniqd_http_request_seconds_bucket"
				    "{le=\"+Inf\"} ");
		buf_add_u64(b, cum);
		buf_addc(b, '\n');
	}
	for (i = 0; i < METRICS_SLOTS; i++)
		sum_us += atomic_load_explicit(&m->slots[i].sum_us,
					       memory_order_relaxed);
	/* The count is the +Inf bucket, so the two agree even while
	 * requests are counted under our feet. */
	buf_printf(b, "uniqd_http_request_seconds_sum %.6f\n",
		   (double)sum_us / 1e6);
	buf_printf(b, "uniqd_http_request_seconds_count %llu\n",
		   (unsigned long long)cum);
}
