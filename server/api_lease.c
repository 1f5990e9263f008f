/*
 * api_lease.c: the routes of lease pools (pools/lease.h), which lend
 * numbers and take them back: borrow, list, return, renew and reset under
 * /pools/{name}/leases, and seed 001's GET /check, GET /checked, POST
 * /return and GET /reset on its pool "users". Every change of a lease is
 * applied by the group committer, so those requests wait for their
 * commit (api_call).
 */
#include <errno.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/buf.h"
#include "common/clock.h"
#include "common/log.h"
#include "common/outcome.h"
#include "server/api_route.h"
#include "common/banned.h"

/* SHAPE_SEED: seed 001's routes, whose bodies are Flask's jsonify, byte
 * for byte: compact JSON and a final newline (the seed's Content-Length
 * counts it: 27 for {"checked_out_numbers":[]}). Errors keep ours. */
enum lease_shape { SHAPE_NATIVE, SHAPE_SEED };

/* A lease request waiting for its group commit. */
struct lease_call {
	struct api_call call;	/* first: the request frees it */
	struct lease_req req;
	enum lease_shape shape;
};

static void lease_call_done(struct commit_op *op, int rc)
{
	struct lease_call *c = api_container_of(op, struct lease_call, req.op);

	lease_req_finish(&c->req, rc); /* the free stack: committer thread */
	api_call_done(&c->call, rc);
}

/* The pool seed 001's routes use: "users" if it is a lease pool, else the
 * first one. */
static struct lease *default_lease_pool(struct api *a,
					struct http_req *r)
{
	struct lease *lp = pools_lease(a->pools, "users");

	if (!lp && a->pools->nleases)
		lp = &a->pools->leases[0];
	if (!lp)
		http_error(r, 404, NULL, "unknown_pool",
			   "no lease pool is configured");
	return lp;
}

static struct lease *find_lease_pool(struct api *a, struct http_req *r,
				     const char *name)
{
	struct lease *lp = pools_lease(a->pools, name);

	if (!lp) {
		if (pools_kind(a->pools, name) >= 0)
			http_error(r, 400, NULL, "wrong_kind",
				   "pool \"%s\" is not a lease pool", name);
		else
			http_error(r, 404, NULL, "unknown_pool",
				   "there is no pool named \"%.40s\"", name);
	}
	return lp;
}

/*
 * Reads the optional JSON body of a borrow or renew: {"holder": "vu-17",
 * "ttl": 600}. Fills req; answers 400 and returns false on anything else.
 */
static bool lease_body(struct http_req *r, struct lease_req *req)
{
	struct request_lease lb;
	struct request_error e;

	if (request_lease_body(r->body, r->body_len, &lb, &e)) {
		api_answer_bad(r, &e);
		return false;
	}
	if (lb.has_holder) {
		snprintf(req->holder, sizeof(req->holder), "%s", lb.holder);
		req->check_holder = true;
	}
	if (lb.ttl >= 0)
		req->ttl = lb.ttl;
	return true;
}

static struct lease_call *lease_call_new(struct http_req *r,
					 struct lease *lp,
					 enum lease_verb verb,
					 enum lease_shape shape)
{
	struct lease_call *c = calloc(1, sizeof(*c));

	if (!c) {
		http_error(r, 500, NULL, "internal", "out of memory");
		return NULL;
	}
	lease_req_init(&c->req, lp, verb);
	c->shape = shape;
	return c;
}

static void lease_json(struct buf *b, const struct lease *lp,
		       const struct lease_info *li)
{
	char when[CLOCK_RFC3339_LEN];

	buf_adds(b, "{\"pool\":");
	buf_add_json_str(b, lp->def->name);
	buf_adds(b, ",\"number\":");
	buf_add_i64(b, li->number);
	buf_adds(b, ",\"holder\":");
	buf_add_json_str(b, li->holder);
	clock_rfc3339(li->borrowed_ms, when, sizeof(when));
	buf_printf(b, ",\"borrowed_at\":\"%s\",\"expires_at\":", when);
	if (li->expires_ms) {
		clock_rfc3339(li->expires_ms, when, sizeof(when));
		buf_printf(b, "\"%s\"}", when);
	} else {
		buf_adds(b, "null}");
	}
}

/* Answers a committed (or failed) lease request. */
static void lease_answer(struct api *a, struct http_req *r,
			 struct api_call *call)
{
	struct lease_call *c = api_container_of(call, struct lease_call, call);
	struct lease *lp = c->req.pool;
	struct buf b = BUF_INIT;
	long long num = (long long)c->req.number;
	unsigned status = 200;

	switch (call->rc) {
	case 0:
		break;
	case OUTCOME_ALL_OUT:
		http_error(r, 503, api_retry_1, "all_out",
			   "every number of pool \"%s\" is out; retry when one "
			   "comes back", lp->def->name);
		return;
	case OUTCOME_NOT_OUT:
	case OUTCOME_NOT_IN_POOL:
		http_error(r, 409, NULL, "not_out",
			   "Number %lld is not checked out", num);
		return;
	case OUTCOME_OTHER_HOLDER:
		http_error(r, 409, NULL, "other_holder",
			   "Number %lld is held by someone else", num);
		return;
	default:
		api_answer_commit_error(r, call->rc, "lease");
		return;
	}
	switch (c->req.verb) {
	case LEASE_BORROW:
		api_count_served(a, r, lp->def, 1);
		if (c->shape == SHAPE_SEED) {
			buf_printf(&b, "{\"checked_out_number\":\"%lld\"}\n",
				   (long long)c->req.lease.number);
		} else {
			lease_json(&b, lp, &c->req.lease);
			status = 201;
		}
		break;
	case LEASE_RETURN:
		if (c->shape == SHAPE_SEED) {
			buf_printf(&b, "{\"message\":\"Number %lld returned "
				   "successfully\"}\n", num);
		} else {
			buf_adds(&b, "{\"pool\":");
			buf_add_json_str(&b, lp->def->name);
			buf_printf(&b, ",\"number\":%lld,\"returned\":true}",
				   num);
		}
		break;
	case LEASE_RENEW:
		lease_json(&b, lp, &c->req.lease);
		break;
	case LEASE_RESET:
		if (c->shape == SHAPE_SEED) {
			buf_adds(&b, "{\"reset\":\"true\"}\n");
		} else {
			buf_adds(&b, "{\"pool\":");
			buf_add_json_str(&b, lp->def->name);
			buf_printf(&b, ",\"returned\":%llu}",
				   (unsigned long long)c->req.count);
		}
		break;
	}
	api_reply(r, status, "application/json", &b, NULL);
}

/* Suspends r until c's request is committed; c goes with the request. */
static void lease_submit(struct http_req *r, struct lease_call *c)
{
	c->req.op.done = lease_call_done;
	api_call_suspend(r, &c->call, &c->req.op, lease_answer);
}

/* POST /pools/{name}/leases: borrow. */
static void route_borrow(struct api *a, struct http_req *r,
			 const struct request_path *path)
{
	static const char *const allowed[] = { NULL };
	struct lease *lp;
	struct lease_call *c;

	if (api_bad_query(r, allowed) ||
	    !(lp = find_lease_pool(a, r, path->seg[1])))
		return;
	if (!(c = lease_call_new(r, lp, LEASE_BORROW, SHAPE_NATIVE)))
		return;
	if (!lease_body(r, &c->req)) {
		free(c);
		return;
	}
	c->req.check_holder = false;
	lease_submit(r, c);
}

/* GET /check: seed 001's borrow. */
static void route_check(struct api *a, struct http_req *r,
			const struct request_path *path)
{
	static const char *const allowed[] = { NULL };
	struct lease *lp;
	struct lease_call *c;

	(void)path;
	if (api_bad_query(r, allowed) || !(lp = default_lease_pool(a, r)))
		return;
	if (!(c = lease_call_new(r, lp, LEASE_BORROW, SHAPE_SEED)))
		return;
	/* Seed 001's scripts have no way to renew: the pool's check_ttl
	 * (default 0, never), not its ttl, or a long run would lose its
	 * number to another user while still using it. */
	c->req.ttl = lp->def->check_ttl;
	lease_submit(r, c);
}

/* Parses a lease number from a path segment: 400 if it is not a number,
 * 404 if it is outside the pool. */
static bool path_number(struct http_req *r, struct lease *lp,
			const char *text, int64_t *n)
{
	struct request_error e;

	if (request_lease_number(lp->def, text, n, &e) == 0)
		return true;
	api_answer_bad(r, &e);
	return false;
}

/* DELETE /pools/{name}/leases/{number}[?holder=H]: return. */
static void route_return(struct api *a, struct http_req *r,
			 const struct request_path *path)
{
	static const char *const allowed[] = { "holder", NULL };
	struct lease *lp;
	struct lease_call *c;
	struct request_error e;
	const char *holder;
	int64_t n;

	if (api_bad_query(r, allowed) ||
	    !(lp = find_lease_pool(a, r, path->seg[1])))
		return;
	if (!path_number(r, lp, path->seg[3], &n))
		return;
	holder = http_query(r, "holder");
	if (request_holder_param(holder, &e)) {
		api_answer_bad(r, &e);
		return;
	}
	if (!(c = lease_call_new(r, lp, LEASE_RETURN, SHAPE_NATIVE)))
		return;
	c->req.number = n;
	if (holder) {
		snprintf(c->req.holder, sizeof(c->req.holder), "%s", holder);
		c->req.check_holder = true;
	}
	lease_submit(r, c);
}

/* POST /pools/{name}/leases/{number}/renew: a new expiry. */
static void route_renew(struct api *a, struct http_req *r,
			const struct request_path *path)
{
	static const char *const allowed[] = { NULL };
	struct lease *lp;
	struct lease_call *c;
	int64_t n;

	if (api_bad_query(r, allowed) ||
	    !(lp = find_lease_pool(a, r, path->seg[1])))
		return;
	if (!path_number(r, lp, path->seg[3], &n))
		return;
	if (!(c = lease_call_new(r, lp, LEASE_RENEW, SHAPE_NATIVE)))
		return;
	c->req.number = n;
	if (!lease_body(r, &c->req)) {
		free(c);
		return;
	}
	lease_submit(r, c);
}

/* POST /return with {"number": 16713} or {"number": "16713"}: seed 001. */
static void route_seed_return(struct api *a, struct http_req *r,
			      const struct request_path *path)
{
	static const char *const allowed[] = { NULL };
	struct request_error e;
	struct lease *lp;
	struct lease_call *c;
	int64_t n = 0;

	(void)path;
	if (api_bad_query(r, allowed) || !(lp = default_lease_pool(a, r)))
		return;
	if (request_return_body(r->body, &n, &e)) {
		api_answer_bad(r, &e);
		return;
	}
	if (!(c = lease_call_new(r, lp, LEASE_RETURN, SHAPE_SEED)))
		return;
	c->req.number = n;
	lease_submit(r, c);
}

/* POST /pools/{name}/reset (admin), GET /reset (seed 001, admin). */
static void reset_pool(struct http_req *r, struct lease *lp,
		       enum lease_shape shape)
{
	struct lease_call *c;

	if ((c = lease_call_new(r, lp, LEASE_RESET, shape)))
		lease_submit(r, c);
}

static void route_reset(struct api *a, struct http_req *r,
			const struct request_path *path)
{
	static const char *const allowed[] = { NULL };
	struct lease *lp;

	if (api_bad_query(r, allowed) || !api_admin_ok(a, r) ||
	    !(lp = find_lease_pool(a, r, path->seg[1])))
		return;
	reset_pool(r, lp, SHAPE_NATIVE);
}

static void route_seed_reset(struct api *a, struct http_req *r,
			     const struct request_path *path)
{
	static const char *const allowed[] = { NULL };
	struct lease *lp;

	(void)path;
	if (api_bad_query(r, allowed) || !api_admin_ok(a, r) ||
	    !(lp = default_lease_pool(a, r)))
		return;
	reset_pool(r, lp, SHAPE_SEED);
}

/* GET /pools/{name}/leases and GET /checked (seed 001). */
static void list_leases(struct http_req *r, struct lease *lp,
			enum lease_shape shape)
{
	struct lease_info *all = NULL;
	struct buf b = BUF_INIT;
	size_t n = 0, i;
	int rc;

	rc = lease_list(lp, &all, &n);
	if (rc == -EAGAIN && lp->cl) {
		api_answer_commit_error(r, OUTCOME_CLUSTER_DOWN,
					"listing of the leases");
		return;
	}
	if (rc) {
		http_error(r, 500, NULL, "internal",
			   "could not read the %s: %s",
			   lp->cl ? "leases in etcd" : "ledger",
			   log_strerror(rc));
		return;
	}
	if (shape == SHAPE_SEED) {
		buf_adds(&b, "{\"checked_out_numbers\":[");
		for (i = 0; i < n; i++)
			buf_printf(&b, "%s\"%lld\"", i ? "," : "",
				   (long long)all[i].number);
		buf_adds(&b, "]}\n");
	} else {
		buf_adds(&b, "{\"pool\":");
		buf_add_json_str(&b, lp->def->name);
		buf_printf(&b, ",\"out\":%zu,\"free\":%llu,\"leases\":[", n,
			   (unsigned long long)(lp->def->capacity - n));
		for (i = 0; i < n; i++) {
			if (i)
				buf_addc(&b, ',');
			lease_json(&b, lp, &all[i]);
		}
		buf_adds(&b, "]}");
	}
	free(all);
	api_reply_buf(r, &b, 0);
}

static void route_leases(struct api *a, struct http_req *r,
			 const struct request_path *path)
{
	static const char *const allowed[] = { NULL };
	struct lease *lp;

	if (api_bad_query(r, allowed) ||
	    !(lp = find_lease_pool(a, r, path->seg[1])))
		return;
	list_leases(r, lp, SHAPE_NATIVE);
}

static void route_checked(struct api *a, struct http_req *r,
			  const struct request_path *path)
{
	static const char *const allowed[] = { NULL };
	struct lease *lp;

	(void)path;
	if (api_bad_query(r, allowed) || !(lp = default_lease_pool(a, r)))
		return;
	list_leases(r, lp, SHAPE_SEED);
}

/* A cluster pool's issued and remaining are etcd's count: null when etcd
 * cannot say (the description is still given). */
int api_lease_describe(struct lease *lp, struct buf *b)
{
	uint64_t out = 0;
	int rc = lease_out(lp, &out);

	buf_adds(b, "{\"name\":");
	buf_add_json_str(b, lp->def->name);
	buf_printf(b, ",\"kind\":\"lease\",\"start\":%lld,\"count\":%llu,"
		   "\"ttl\":%u,\"check_ttl\":%u,\"capacity\":%llu,",
		   (long long)lp->def->min,
		   (unsigned long long)lp->def->capacity, lp->def->ttl,
		   lp->def->check_ttl,
		   (unsigned long long)lp->def->capacity);
	if (rc)
		buf_adds(b, "\"issued\":null,\"remaining\":null");
	else
		buf_printf(b, "\"issued\":%llu,\"remaining\":%llu",
			   (unsigned long long)out,
			   (unsigned long long)(lp->def->capacity - out));
	buf_adds(b, lp->cl ? ",\"cluster\":true}" : "}");
	return 0;
}

const struct api_route api_lease_routes[] = {
	{ "POST", "/pools/*/leases", route_borrow, true },
	{ "GET", "/pools/*/leases", route_leases, false },
	{ "DELETE", "/pools/*/leases/*", route_return, true },
	{ "POST", "/pools/*/leases/*/renew", route_renew, true },
	{ "POST", "/pools/*/reset", route_reset, true },
	{ "GET", "/check", route_check, true },
	{ "GET", "/checked", route_checked, false },
	{ "POST", "/return", route_seed_return, true },
	{ "GET", "/reset", route_seed_reset, true },
	{ NULL, NULL, NULL, false },
};
