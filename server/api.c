/*
 * api.c: the route table and dispatch: puts the kinds' route tables
 * together in matching order, finds a request's route (405 with Allow,
 * 404, HEAD served as GET), counts and logs every answer under its route,
 * and holds the helpers and the group-commit adapter of api_route.h. The
 * routes themselves live in api_random.c, api_seq.c, api_lease.c,
 * api_code.c and api_ops.c.
 */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/log.h"
#include "common/outcome.h"
#include "server/api.h"
#include "server/api_route.h"
#include "server/request.h"
#include "common/banned.h"

_Static_assert(API_COUNT_MAX == REQUEST_COUNT_MAX, "request.c's count");
_Static_assert(API_COUNT_MAX == RPOOL_DRAW_MAX, "rpool.h's largest draw");

/* ---- the route table ---------------------------------------------- */

/*
 * The kinds' tables in the order their routes are matched (the first
 * match wins) and numbered (/metrics lists them so): { table, its first
 * entry used here, entries (0: to the table's end) }. GET /healthz keeps
 * its place after the random routes. Every entry of every table must be
 * used exactly once (build_routes checks).
 */
static const struct route_run {
	const struct api_route *table;
	size_t first, n;
} runs[] = {
	{ api_random_routes, 0, 0 },
	{ api_ops_routes, 0, 1 },	/* GET /healthz */
	{ api_seq_routes, 0, 0 },
	{ api_lease_routes, 0, 0 },
	{ api_code_routes, 0, 0 },
	{ api_ops_routes, 1, 0 },	/* GET /metrics, GET / */
};

#define NRUNS (sizeof(runs) / sizeof(runs[0]))
#define ROUTES_MAX (METRICS_ROUTES_MAX - 1)	/* and "other" */

static struct api_route routes[ROUTES_MAX];
static size_t nroutes;
static pthread_once_t routes_once = PTHREAD_ONCE_INIT;

static size_t table_len(const struct api_route *t)
{
	size_t n = 0;

	while (t[n].method)
		n++;
	return n;
}

/* Fills routes[] from runs[]. Leaves nroutes 0 unless each table's runs
 * take all its entries, each once, in the table's own order. */
static void build_routes(void)
{
	size_t next[NRUNS] = { 0 }, i, j, k, n = 0, len, cnt;

	for (i = 0; i < NRUNS; i++) {
		/* next[k]: the entry due next of the table of run k, kept
		 * at the table's first run. */
		for (k = 0; runs[k].table != runs[i].table; k++)
			;
		len = table_len(runs[i].table);
		cnt = runs[i].n ? runs[i].n : len - runs[i].first;
		if (runs[i].first != next[k] || cnt > len - runs[i].first ||
		    n + cnt > ROUTES_MAX)
			return;
		for (j = 0; j < cnt; j++)
			routes[n++] = runs[i].table[runs[i].first + j];
		next[k] += cnt;
	}
	for (k = 0; k < NRUNS; k++)
		if (next[k] && next[k] != table_len(runs[k].table))
			return;
	nroutes = n;
}

const struct api_route *api_routes(size_t *n)
{
	pthread_once(&routes_once, build_routes);
	*n = nroutes;
	return nroutes ? routes : NULL;
}

/* ---- helpers ------------------------------------------------------ */

const char *const api_retry_1[] = { "Retry-After", "1", NULL };

void api_count_served(struct api *a, struct http_req *r,
		      const struct pool_def *d, uint64_t n)
{
	if (d >= a->cfg->pools && d < a->cfg->pools + a->cfg->npools)
		metrics_served(a->metrics, r->thread,
			       (size_t)(d - a->cfg->pools), n);
}

void api_answer_bad(struct http_req *r, const struct request_error *e)
{
	http_error(r, e->status, NULL, e->code, "%s", e->message);
}

bool api_bad_query(struct http_req *r, const char *const *allowed)
{
	char bad[64];
	int rc = http_query_check(r, allowed, bad, sizeof(bad));

	if (rc == -ENOENT)
		http_error(r, 400, NULL, "unknown_parameter",
			   "unknown query parameter \"%.40s\"", bad);
	else if (rc == -EEXIST)
		http_error(r, 400, NULL, "bad_parameter",
			   "query parameter \"%.40s\" is given more than once",
			   bad);
	return rc != 0;
}

bool api_get_count(struct http_req *r, uint64_t max, uint64_t *count)
{
	struct request_error e;

	if (request_count(http_query(r, "count"), max, count, &e) == 0)
		return true;
	api_answer_bad(r, &e);
	return false;
}

struct rpool *api_find_pool(struct api *a, struct http_req *r,
			    const char *name)
{
	struct rpool *p = pools_random(a->pools, name);

	if (!p)
		http_error(r, 404, NULL, "unknown_pool",
			   "there is no pool named \"%.40s\"", name);
	return p;
}

void api_answer_draw_error(struct http_req *r, struct rpool *p, int rc,
			   uint64_t n)
{
	if (rc == OUTCOME_USED_UP)
		http_error(r, 503, NULL, "exhausted",
			   "pool \"%s\" has fewer than %llu values left to "
			   "issue: its range is used up", p->def->name,
			   (unsigned long long)n);
	else
		http_error(r, 503, api_retry_1, "refilling",
			   "pool \"%s\" is being refilled; retry shortly",
			   p->def->name);
}

void api_reply(struct http_req *r, unsigned status, const char *type,
	       struct buf *b, const char *const *hdrs)
{
	size_t len;
	char *body = buf_detach(b, &len);

	if (!body) {
		buf_release(b);
		http_error(r, 500, NULL, "internal", "out of memory");
		return;
	}
	http_reply(r, status, type, body, len, true, hdrs);
}

void api_reply_buf(struct http_req *r, struct buf *b, int rc)
{
	if (rc == 0)
		rc = buf_finish(b);
	if (rc) {
		buf_release(b);
		http_error(r, 500, NULL, "internal",
			   "could not read the ledger: %s", log_strerror(rc));
		return;
	}
	api_reply(r, 200, "application/json", b, NULL);
}

int api_idem_header(struct http_req *r, const char **key)
{
	struct request_error e;
	int rc;

	*key = http_header(r, "Idempotency-Key");
	rc = request_idem_key(*key, &e);
	if (rc)
		api_answer_bad(r, &e);
	return rc;
}

bool api_admin_ok(struct api *a, struct http_req *r)
{
	static const char *const hdr[] = { "WWW-Authenticate", "Bearer", NULL };
	if (request_auth_ok(http_header(r, "Authorization"),
			    a->cfg->admin_token))
		return true;
	http_error(r, 401, hdr, "unauthorized",
		   "this route needs Authorization: Bearer <admin token>");
	return false;
}

/* ---- waiting for a group commit ------------------------------------ */

int api_call_suspend(struct http_req *r, struct api_call *call,
		     struct commit_op *op, api_answer_fn answer)
{
	call->answer = answer;
	call->op = op;
	call->wait = http_suspend(r, call, free);
	if (!call->wait) {
		free(call);
		http_error(r, 500, NULL, "internal", "out of memory");
		return -ENOMEM;
	}
	return 0;
}

void api_call_done(struct api_call *call, int rc)
{
	call->rc = rc;
	http_resume(call->wait);
}

void api_answer_commit_error(struct http_req *r, int rc, const char *what)
{
	if (rc == -ESHUTDOWN)
		http_error(r, 503, api_retry_1, "shutting_down",
			   "the server is stopping; retry shortly");
	else if (rc == OUTCOME_CLUSTER_DOWN)
		http_error(r, 503, api_retry_1, "cluster_unavailable",
			   "the %s could not be done: the cluster's etcd "
			   "cannot be reached or has no quorum; nothing was "
			   "done, retry shortly", what);
	else
		http_error(r, 503, api_retry_1, "unavailable",
			   "the %s could not be recorded: %s", what,
			   outcome_str(rc));
}

/* ---- dispatch ---------------------------------------------------- */

/* Metric labels: the route ("GET /pools/NAME"), never the path: no value
 * goes into a label; and one for what matched no route. */
static char route_labels[ROUTES_MAX + 1][64];
static const char *route_label_ptrs[ROUTES_MAX + 1];

int api_init(struct api *a)
{
	size_t i, n;

	if (!api_routes(&n)) {
		log_error("the route tables do not add up (server/api.c)");
		return -EINVAL;
	}
	for (i = 0; i < nroutes; i++) {
		snprintf(route_labels[i], sizeof(route_labels[i]), "%s %s",
			 routes[i].method, routes[i].pattern);
		route_label_ptrs[i] = route_labels[i];
	}
	snprintf(route_labels[nroutes], sizeof(route_labels[nroutes]),
		 "other");
	route_label_ptrs[nroutes] = route_labels[nroutes];
	n = a->cfg->npools < METRICS_POOLS_MAX ? a->cfg->npools :
						 METRICS_POOLS_MAX;
	for (i = 0; i < n; i++)
		a->pool_names[i] = a->cfg->pools[i].name;
	return metrics_new(nroutes + 1, route_label_ptrs, n, a->pool_names,
			   &a->metrics);
}

void api_release(struct api *a)
{
	metrics_free(a->metrics);
	a->metrics = NULL;
}

/* Counts an answered request under its route, and writes its access-log
 * line if asked (metrics_request_done). */
static void request_done(struct api *a, struct http_req *r, size_t route)
{
	metrics_request_done(a->metrics, r, (unsigned)route,
			     route < nroutes ? routes[route].pattern : NULL,
			     a->access_log);
}

/* Runs route i. A request it suspended (api_call_suspend: the only way
 * to, so r->state is an api_call) has its op submitted only now, so that
 * nothing can resume it before its route is recorded. A call without an
 * op (a draw waiting for values) was put on its wait by the route: a
 * resume is only run on this thread, after this returns. */
static void run_route(struct api *a, struct http_req *r, size_t i,
		      const struct request_path *path)
{
	struct api_call *call;

	routes[i].fn(a, r, path);
	if (r->status) {	/* answered now */
		request_done(a, r, i);
		return;
	}
	call = r->state;
	if (!call)	/* neither answered nor suspended: http.c's 500 */
		return;
	call->route = (unsigned)i;
	if (call->op)
		committer_submit(a->committer, call->op);
}

void api_handle(struct http_req *r, void *arg)
{
	struct api *a = arg;
	struct request_path path;
	char allow[64] = "";
	const char *method = r->method;
	bool head = !strcmp(method, "HEAD");
	size_t i;

	if (r->resumed) {	/* straight to its answer */
		struct api_call *call = r->state;

		call->answer(a, r, call);
		if (r->status)
			request_done(a, r, call->route);
		return;
	}
	if (request_split_path(r->path, &path)) {
		http_error(r, 404, NULL, "not_found", "no such route");
		goto out;
	}
	for (i = 0; i < nroutes; i++) {
		if (!request_route_match(routes[i].pattern, &path))
			continue;
		if (!strcmp(routes[i].method, method) ||
		    (head && !strcmp(routes[i].method, "GET") &&
		     !routes[i].changes)) {
			run_route(a, r, i, &path);
			return;
		}
		if (strstr(allow, routes[i].method))
			continue;
		if (*allow)
			snprintf(allow + strlen(allow),
				 sizeof(allow) - strlen(allow), ", ");
		snprintf(allow + strlen(allow), sizeof(allow) - strlen(allow),
			 "%s", routes[i].method);
	}
	if (*allow) {
		const char *hdr[] = { "Allow", allow, NULL };

		http_error(r, 405, hdr, "method_not_allowed",
			   "%.10s is not allowed here; use %s", method, allow);
		goto out;
	}
	http_error(r, 404, NULL, "not_found", "no such route: %.100s",
		   r->path);
out:
	request_done(a, r, nroutes);
}
