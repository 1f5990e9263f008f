/*
 * api.c: the routes: matching, parameters, and answers; see api.h.
 *
 * Responses are written with common/buf.h rather than cJSON: values and
 * capacities are 64-bit integers that cJSON would print through a double,
 * and /random is the hot path.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <microhttpd.h>

#include "common/buf.h"
#include "common/clock.h"
#include "common/code.h"
#include "common/log.h"
#include "common/value.h"
#include "server/api.h"
#include "server/request.h"
#include "common/banned.h"

_Static_assert(API_COUNT_MAX == REQUEST_COUNT_MAX, "request.c's count");
_Static_assert(API_COUNT_MAX == RPOOL_DRAW_MAX, "rpool.h's largest draw");

typedef void (*route_fn)(struct api *a, struct http_req *r,
			 const struct request_path *ra);

struct route {
	const char *method;
	const char *pattern;	/* segments; "*" matches any one */
	route_fn fn;
	bool changes;		/* a GET that changes state: no HEAD */
};

static const char *const RETRY_1[] = { "Retry-After", "1", NULL };

/* Counts n values of pool def handed out in r's answer (/metrics). */
static void count_served(struct api *a, struct http_req *r,
			 const struct pool_def *d, uint64_t n)
{
	if (d >= a->cfg->pools && d < a->cfg->pools + a->cfg->npools)
		metrics_served(a->metrics, r->thread,
			       (size_t)(d - a->cfg->pools), n);
}

/* ---- helpers ------------------------------------------------------ */

/* Answers what request.c found wrong with r. */
static void answer_bad(struct http_req *r, const struct request_error *e)
{
	http_error(r, e->status, NULL, e->code, "%s", e->message);
}

/* Answers 400 for an unknown or repeated query parameter; returns true if
 * it did. */
static bool bad_query(struct http_req *r, const char *const *allowed)
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

/* Parses ?count (default 1) within [1, max]; answers 400 and returns
 * false on a bad one. */
static bool get_count(struct http_req *r, uint64_t max, uint64_t *count)
{
	struct request_error e;

	if (request_count(http_query(r, "count"), max, count, &e) == 0)
		return true;
	answer_bad(r, &e);
	return false;
}

static uint64_t pool_max_count(const struct rpool *p)
{
	return p->max_draw;
}

static struct rpool *find_pool(struct api *a, struct http_req *r,
			      const char *name)
{
	struct rpool *p = pools_random(a->pools, name);

	if (!p)
		http_error(r, 404, NULL, "unknown_pool",
			   "there is no pool named \"%.40s\"", name);
	return p;
}

static void answer_draw_error(struct http_req *r, struct rpool *p, int rc,
			      uint64_t n)
{
	if (rc == -ENODATA)
		http_error(r, 503, NULL, "exhausted",
			   "pool \"%s\" has fewer than %llu values left to "
			   "issue: its range is used up", p->def->name,
			   (unsigned long long)n);
	else
		http_error(r, 503, RETRY_1, "refilling",
			   "pool \"%s\" is being refilled; retry shortly",
			   p->def->name);
}

static void reply_buf(struct http_req *r, struct buf *b, int rc)
{
	size_t len;
	char *body;

	if (rc == 0)
		rc = buf_finish(b);
	if (rc) {
		buf_release(b);
		http_error(r, 500, NULL, "internal",
			   "could not read the ledger: %s", log_strerror(rc));
		return;
	}
	body = buf_detach(b, &len);
	http_reply(r, 200, "application/json", body, len, true, NULL);
}

/* ---- sequence pools: POST /orders, POST /pools/{name}/next ------- */

/* A sequence request waiting for its group commit. */
struct seq_call {
	struct seq_req req;	/* first: its op is the committer's */
	struct http_wait *wait;
	int rc;
	bool orders_shape;	/* answer {"id": ...} (seed 003) */
};

/* The committer's done callback: record the outcome, wake the request. */
static void seq_call_done(struct commit_op *op, int rc)
{
	struct seq_call *c = (struct seq_call *)op;
	struct seq *sp = c->req.pool;

	c->rc = rc;
	if (rc == 0 && !c->req.replayed) {
		/* Only the committer thread writes these. */
		atomic_store(&sp->shown_day, c->req.day);
		atomic_store(&sp->shown_n, c->req.first + c->req.count - 1);
	}
	http_resume(c->wait);
}

/* The Idempotency-Key header, checked: 1 to 255 visible ASCII
 * characters. Returns 0 (*key NULL when absent) or answers 400 and
 * returns -EINVAL. */
static int idem_header(struct http_req *r, const char **key)
{
	struct request_error e;
	int rc;

	*key = http_header(r, "Idempotency-Key");
	rc = request_idem_key(*key, &e);
	if (rc)
		answer_bad(r, &e);
	return rc;
}

/* Submits a sequence request and suspends r until it is committed. */
static void seq_submit(struct api *a, struct http_req *r, struct seq *sp,
		       uint64_t count, bool orders_shape)
{
	struct seq_call *c;
	const char *key;

	if (idem_header(r, &key))
		return;
	c = calloc(1, sizeof(*c));
	if (!c) {
		http_error(r, 500, NULL, "internal", "out of memory");
		return;
	}
	seq_req_init(&c->req, sp, count, key, key ? strlen(key) : 0);
	c->req.op.done = seq_call_done;
	c->orders_shape = orders_shape;
	c->wait = http_suspend(r, c, free);
	if (!c->wait) {
		free(c);
		http_error(r, 500, NULL, "internal", "out of memory");
		return;
	}
	committer_submit(a->committer, &c->req.op);
}

/* Answers a committed (or failed) sequence request. */
static void seq_answer(struct api *a, struct http_req *r,
		       struct seq_call *c)
{
	struct seq *sp = c->req.pool;
	char id[SEQ_ID_MAX + 1], retry[24];
	const char *hdr[] = { "Retry-After", retry, NULL };
	struct buf b = BUF_INIT;
	size_t len;
	uint64_t i;
	char *body;

	switch (c->rc) {
	case 0:
		break;
	case -ENODATA:
		snprintf(retry, sizeof(retry), "%llu",
			 (unsigned long long)c->req.retry_after);
		http_error(r, 503, hdr, "exhausted",
			   "pool \"%s\" has issued every id of the day (%llu); "
			   "ids start again tomorrow", sp->def->name,
			   (unsigned long long)sp->max);
		return;
	case -EEXIST:
		http_error(r, 409, NULL, "conflict",
			   "this Idempotency-Key was first used with another "
			   "count");
		return;
	case -ESHUTDOWN:
		http_error(r, 503, RETRY_1, "shutting_down",
			   "the server is stopping; retry shortly");
		return;
	default:
		http_error(r, 503, RETRY_1, "unavailable",
			   "the id could not be recorded: %s",
			   log_strerror(c->rc));
		return;
	}
	if (c->orders_shape) {
		buf_adds(&b, "{\"id\":\"");
		buf_add(&b, id, seq_format(sp, c->req.day, c->req.first, id));
		buf_adds(&b, "\"}");
	} else {
		buf_adds(&b, "{\"values\":[");
		for (i = 0; i < c->req.count; i++) {
			if (i)
				buf_addc(&b, ',');
			buf_addc(&b, '"');
			buf_add(&b, id, seq_format(sp, c->req.day,
						   c->req.first + i, id));
			buf_addc(&b, '"');
		}
		buf_adds(&b, "],\"pool\":");
		buf_add_json_str(&b, sp->def->name);
		buf_addc(&b, '}');
	}
	body = buf_detach(&b, &len);
	if (!body) {
		http_error(r, 500, NULL, "internal", "out of memory");
		return;
	}
	if (!c->req.replayed)
		count_served(a, r, sp->def, c->req.count);
	http_reply(r, 200, "application/json", body, len, true,
		   c->req.replayed ? (const char *const[]){ "Idempotent-Replay",
							    "true", NULL } :
				     NULL);
}

/* The pool POST /orders uses: "orders" if it is a sequence, else the
 * first sequence pool. */
static struct seq *orders_pool(struct api *a)
{
	struct seq *sp = pools_seq(a->pools, "orders");

	if (!sp && a->pools->nseqs)
		sp = &a->pools->seqs[0];
	return sp;
}

static void route_orders_post(struct api *a, struct http_req *r,
			      const struct request_path *ra)
{
	static const char *const allowed[] = { NULL };
	struct seq *sp;

	(void)ra;
	if (r->resumed) {
		seq_answer(a, r, r->state);
		return;
	}
	if (bad_query(r, allowed))
		return;
	sp = orders_pool(a);
	if (!sp) {
		http_error(r, 404, NULL, "unknown_pool",
			   "no sequence pool is configured");
		return;
	}
	seq_submit(a, r, sp, 1, true);
}

/* Seed 003's page: an Order button that shows the id it got. */
static void route_orders_page(struct api *a, struct http_req *r,
			      const struct request_path *ra)
{
	static const char page[] =
"<!doctype html>\n"
"<html lang=\"en\"><head><meta charset=\"utf-8\">\n"
"<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n"
"<title>Orders</title>\n"
"<style>body{font:16px system-ui,sans-serif;margin:2rem auto;max-width:30rem;"
"padding:0 1rem}button{font-size:1.2rem;padding:.6rem 1.4rem}"
"#id{font:1.6rem ui-monospace,monospace;margin-top:1rem;min-height:2rem}"
"#err{color:#b00}ol{font-family:ui-monospace,monospace}</style>\n"
"</head><body>\n"
"<h1>Orders</h1>\n"
"<button id=\"order\" type=\"button\">Order</button>\n"
"<div id=\"id\" aria-live=\"polite\"></div><div id=\"err\"></div>\n"
"<ol id=\"past\" reversed></ol>\n"
"<script>\n"
"const btn = document.getElementById('order');\n"
"btn.addEventListener('click', async () => {\n"
"  btn.disabled = true;\n"
"  document.getElementById('err').textContent = '';\n"
"  try {\n"
"    const r = await fetch('/orders', {method: 'POST', headers:\n"
"      {'Idempotency-Key': crypto.randomUUID ? crypto.randomUUID() :\n"
"       String(Date.now()) + Math.random()}});\n"
"    const j = await r.json();\n"
"    if (!r.ok) throw new Error(j.message || r.status);\n"
"    document.getElementById('id').textContent = j.id;\n"
"    const li = document.createElement('li');\n"
"    li.textContent = j.id;\n"
"    document.getElementById('past').prepend(li);\n"
"  } catch (e) {\n"
"    document.getElementById('err').textContent = 'No order id: ' + e.message;\n"
"  } finally { btn.disabled = false; }\n"
"});\n"
"</script>\n"
"</body></html>\n";

	(void)a;
	(void)ra;
	http_reply(r, 200, "text/html; charset=utf-8", page, sizeof(page) - 1,
		   false, NULL);
}

static void route_seq_next(struct api *a, struct http_req *r,
			   struct seq *sp)
{
	uint64_t n;

	if (!get_count(r, sp->max < API_COUNT_MAX ? sp->max : API_COUNT_MAX,
		       &n))
		return;
	seq_submit(a, r, sp, n, false);
}

static int describe_seq(struct seq *sp, struct buf *b)
{
	uint32_t day, today;
	uint64_t n;
	char when[16];
	int rc;

	rc = seq_state(sp, &day, &n);
	if (rc == 0)
		rc = seq_today(sp, clock_now_ms(), &today);
	if (rc)
		return rc;
	if (today > day) {	/* nothing issued yet today */
		day = today;
		n = 0;
	}
	snprintf(when, sizeof(when), "%08u", day);
	buf_adds(b, "{\"name\":");
	buf_add_json_str(b, sp->def->name);
	buf_adds(b, ",\"kind\":\"sequence\",\"tz\":");
	buf_add_json_str(b, sp->def->tz);
	buf_printf(b, ",\"digits\":%u,\"day\":\"%s\",\"capacity\":%llu,"
		   "\"issued\":%llu,\"remaining\":%llu}", sp->def->digits, when,
		   (unsigned long long)sp->max, (unsigned long long)n,
		   (unsigned long long)(sp->max - n));
	return 0;
}

static void seq_value(struct http_req *r, struct seq *sp,
		      const char *text)
{
	struct buf b = BUF_INIT;
	char when[CLOCK_RFC3339_LEN];
	uint64_t n, ms = 0;
	uint32_t day;
	bool issued;
	int rc;

	if (seq_parse(sp, text, &day, &n)) {
		http_error(r, 400, NULL, "bad_value",
			   "\"%.40s\" is not an id of pool \"%s\" "
			   "(YYYYMMDD-%0*d)", text, sp->def->name,
			   (int)sp->def->digits, 0);
		return;
	}
	rc = seq_lookup(sp, day, n, &issued, &ms);
	if (rc) {
		http_error(r, 500, NULL, "internal",
			   "could not read the ledger: %s", log_strerror(rc));
		return;
	}
	buf_adds(&b, "{\"pool\":");
	buf_add_json_str(&b, sp->def->name);
	buf_adds(&b, ",\"value\":");
	buf_add_json_str(&b, text);
	buf_printf(&b, ",\"issued\":%s", issued ? "true" : "false");
	if (issued) {
		clock_rfc3339(ms, when, sizeof(when));
		buf_printf(&b, ",\"issued_at\":\"%s\"", when);
	}
	buf_addc(&b, '}');
	reply_buf(r, &b, 0);
}

/* ---- admin routes -------------------------------------------------- */

/* True if r may use an admin route; otherwise answers 401. */
static bool admin_ok(struct api *a, struct http_req *r)
{
	static const char *const hdr[] = { "WWW-Authenticate", "Bearer", NULL };
	if (request_auth_ok(http_header(r, "Authorization"),
			    a->cfg->admin_token))
		return true;
	http_error(r, 401, hdr, "unauthorized",
		   "this route needs Authorization: Bearer <admin token>");
	return false;
}

/* ---- lease pools -------------------------------------------------- */

/* SHAPE_SEED: seed 001's routes, whose bodies are Flask's jsonify, byte
 * for byte: compact JSON and a final newline (the seed's Content-Length
 * counts it: 27 for {"checked_out_numbers":[]}). Errors keep ours. */
enum lease_shape { SHAPE_NATIVE, SHAPE_SEED };

/* A lease request waiting for its group commit. */
struct lease_call {
	struct lease_req req;	/* first: its op is the committer's */
	struct http_wait *wait;
	int rc;
	enum lease_shape shape;
};

static void lease_call_done(struct commit_op *op, int rc)
{
	struct lease_call *c = (struct lease_call *)op;

	c->rc = rc;
	lease_req_finish(&c->req, rc); /* the free stack: committer thread */
	http_resume(c->wait);
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
		answer_bad(r, &e);
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

/* Submits a lease request and suspends r until it is committed. c is
 * freed with the request. */
static void lease_submit(struct api *a, struct http_req *r,
			 struct lease_call *c)
{
	c->req.op.done = lease_call_done;
	c->wait = http_suspend(r, c, free);
	if (!c->wait) {
		free(c);
		http_error(r, 500, NULL, "internal", "out of memory");
		return;
	}
	committer_submit(a->committer, &c->req.op);
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
			 struct lease_call *c)
{
	struct lease *lp = c->req.pool;
	struct buf b = BUF_INIT;
	long long num = (long long)c->req.number;
	unsigned status = 200;

	switch (c->rc) {
	case 0:
		break;
	case -EBUSY:
		http_error(r, 503, RETRY_1, "all_out",
			   "every number of pool \"%s\" is out; retry when one "
			   "comes back", lp->def->name);
		return;
	case -ENOENT:
	case -ERANGE:
		http_error(r, 409, NULL, "not_out",
			   "Number %lld is not checked out", num);
		return;
	case -EPERM:
		http_error(r, 409, NULL, "other_holder",
			   "Number %lld is held by someone else", num);
		return;
	case -ESHUTDOWN:
		http_error(r, 503, RETRY_1, "shutting_down",
			   "the server is stopping; retry shortly");
		return;
	default:
		http_error(r, 503, RETRY_1, "unavailable",
			   "the lease could not be recorded: %s",
			   log_strerror(c->rc));
		return;
	}
	switch (c->req.verb) {
	case LEASE_BORROW:
		count_served(a, r, lp->def, 1);
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
	if (buf_finish(&b)) {
		buf_release(&b);
		http_error(r, 500, NULL, "internal", "out of memory");
		return;
	}
	{
		size_t len;
		char *body = buf_detach(&b, &len);

		http_reply(r, status, "application/json", body, len, true,
			   NULL);
	}
}

/* POST /pools/{name}/leases: borrow. */
static void route_borrow(struct api *a, struct http_req *r,
			 const struct request_path *ra)
{
	static const char *const allowed[] = { NULL };
	struct lease *lp;
	struct lease_call *c;

	if (r->resumed) {
		lease_answer(a, r, r->state);
		return;
	}
	if (bad_query(r, allowed) || !(lp = find_lease_pool(a, r, ra->seg[1])))
		return;
	if (!(c = lease_call_new(r, lp, LEASE_BORROW, SHAPE_NATIVE)))
		return;
	if (!lease_body(r, &c->req)) {
		free(c);
		return;
	}
	c->req.check_holder = false;
	lease_submit(a, r, c);
}

/* GET /check: seed 001's borrow. */
static void route_check(struct api *a, struct http_req *r,
			const struct request_path *ra)
{
	static const char *const allowed[] = { NULL };
	struct lease *lp;
	struct lease_call *c;

	(void)ra;
	if (r->resumed) {
		lease_answer(a, r, r->state);
		return;
	}
	if (bad_query(r, allowed) || !(lp = default_lease_pool(a, r)))
		return;
	if (!(c = lease_call_new(r, lp, LEASE_BORROW, SHAPE_SEED)))
		return;
	/* Seed 001's scripts have no way to renew: the pool's check_ttl
	 * (default 0, never), not its ttl, or a long run would lose its
	 * number to another user while still using it. */
	c->req.ttl = lp->def->check_ttl;
	lease_submit(a, r, c);
}

/* Parses a lease number from a path segment: 400 if it is not a number,
 * 404 if it is outside the pool. */
static bool path_number(struct http_req *r, struct lease *lp,
			const char *text, int64_t *n)
{
	struct request_error e;

	if (request_lease_number(lp->def, text, n, &e) == 0)
		return true;
	answer_bad(r, &e);
	return false;
}

/* DELETE /pools/{name}/leases/{number}[?holder=H]: return. */
static void route_return(struct api *a, struct http_req *r,
			 const struct request_path *ra)
{
	static const char *const allowed[] = { "holder", NULL };
	struct lease *lp;
	struct lease_call *c;
	struct request_error e;
	const char *holder;
	int64_t n;

	if (r->resumed) {
		lease_answer(a, r, r->state);
		return;
	}
	if (bad_query(r, allowed) || !(lp = find_lease_pool(a, r, ra->seg[1])))
		return;
	if (!path_number(r, lp, ra->seg[3], &n))
		return;
	holder = http_query(r, "holder");
	if (request_holder_param(holder, &e)) {
		answer_bad(r, &e);
		return;
	}
	if (!(c = lease_call_new(r, lp, LEASE_RETURN, SHAPE_NATIVE)))
		return;
	c->req.number = n;
	if (holder) {
		snprintf(c->req.holder, sizeof(c->req.holder), "%s", holder);
		c->req.check_holder = true;
	}
	lease_submit(a, r, c);
}

/* POST /pools/{name}/leases/{number}/renew: a new expiry. */
static void route_renew(struct api *a, struct http_req *r,
			const struct request_path *ra)
{
	static const char *const allowed[] = { NULL };
	struct lease *lp;
	struct lease_call *c;
	int64_t n;

	if (r->resumed) {
		lease_answer(a, r, r->state);
		return;
	}
	if (bad_query(r, allowed) || !(lp = find_lease_pool(a, r, ra->seg[1])))
		return;
	if (!path_number(r, lp, ra->seg[3], &n))
		return;
	if (!(c = lease_call_new(r, lp, LEASE_RENEW, SHAPE_NATIVE)))
		return;
	c->req.number = n;
	if (!lease_body(r, &c->req)) {
		free(c);
		return;
	}
	lease_submit(a, r, c);
}

/* POST /return with {"number": 16713} or {"number": "16713"}: seed 001. */
static void route_seed_return(struct api *a, struct http_req *r,
			      const struct request_path *ra)
{
	static const char *const allowed[] = { NULL };
	struct request_error e;
	struct lease *lp;
	struct lease_call *c;
	int64_t n = 0;

	(void)ra;
	if (r->resumed) {
		lease_answer(a, r, r->state);
		return;
	}
	if (bad_query(r, allowed) || !(lp = default_lease_pool(a, r)))
		return;
	if (request_return_body(r->body, &n, &e)) {
		answer_bad(r, &e);
		return;
	}
	if (!(c = lease_call_new(r, lp, LEASE_RETURN, SHAPE_SEED)))
		return;
	c->req.number = n;
	lease_submit(a, r, c);
}

/* POST /pools/{name}/reset (admin), GET /reset (seed 001, admin). */
static void reset_pool(struct api *a, struct http_req *r,
		       struct lease *lp, enum lease_shape shape)
{
	struct lease_call *c;

	if ((c = lease_call_new(r, lp, LEASE_RESET, shape)))
		lease_submit(a, r, c);
}

static void route_reset(struct api *a, struct http_req *r,
			const struct request_path *ra)
{
	static const char *const allowed[] = { NULL };
	struct lease *lp;

	if (r->resumed) {
		lease_answer(a, r, r->state);
		return;
	}
	if (bad_query(r, allowed) || !admin_ok(a, r) ||
	    !(lp = find_lease_pool(a, r, ra->seg[1])))
		return;
	reset_pool(a, r, lp, SHAPE_NATIVE);
}

static void route_seed_reset(struct api *a, struct http_req *r,
			     const struct request_path *ra)
{
	static const char *const allowed[] = { NULL };
	struct lease *lp;

	(void)ra;
	if (r->resumed) {
		lease_answer(a, r, r->state);
		return;
	}
	if (bad_query(r, allowed) || !admin_ok(a, r) ||
	    !(lp = default_lease_pool(a, r)))
		return;
	reset_pool(a, r, lp, SHAPE_SEED);
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
	if (rc) {
		http_error(r, 500, NULL, "internal",
			   "could not read the ledger: %s", log_strerror(rc));
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
	reply_buf(r, &b, 0);
}

static void route_leases(struct api *a, struct http_req *r,
			 const struct request_path *ra)
{
	static const char *const allowed[] = { NULL };
	struct lease *lp;

	if (bad_query(r, allowed) || !(lp = find_lease_pool(a, r, ra->seg[1])))
		return;
	list_leases(r, lp, SHAPE_NATIVE);
}

static void route_checked(struct api *a, struct http_req *r,
			  const struct request_path *ra)
{
	static const char *const allowed[] = { NULL };
	struct lease *lp;

	(void)ra;
	if (bad_query(r, allowed) || !(lp = default_lease_pool(a, r)))
		return;
	list_leases(r, lp, SHAPE_SEED);
}

static int describe_lease(struct lease *lp, struct buf *b)
{
	uint64_t out = atomic_load(&lp->out);

	buf_adds(b, "{\"name\":");
	buf_add_json_str(b, lp->def->name);
	buf_printf(b, ",\"kind\":\"lease\",\"start\":%lld,\"count\":%llu,"
		   "\"ttl\":%u,\"check_ttl\":%u,\"capacity\":%llu,"
		   "\"issued\":%llu,\"remaining\":%llu}",
		   (long long)lp->def->min,
		   (unsigned long long)lp->def->capacity, lp->def->ttl,
		   lp->def->check_ttl,
		   (unsigned long long)lp->def->capacity,
		   (unsigned long long)out,
		   (unsigned long long)(lp->def->capacity - out));
	return 0;
}

/* ---- code pools: capacity, redeem, jobs --------------------------- */

/* The code pool called name: 404 if there is none, 400 if it is another
 * kind. */
static struct rpool *find_code_pool(struct api *a, struct http_req *r,
				   const char *name)
{
	struct rpool *p = pools_random(a->pools, name);

	if (p && p->def->kind == POOL_CODE)
		return p;
	if (p || pools_kind(a->pools, name) >= 0)
		http_error(r, 400, NULL, "wrong_kind",
			   "pool \"%s\" is not a code pool", name);
	else
		http_error(r, 404, NULL, "unknown_pool",
			   "there is no pool named \"%.40s\"", name);
	return NULL;
}

/* Parses a prefix of code pool p; answers 400 and returns false on a bad
 * one. */
static bool get_prefix(struct http_req *r, const struct pool_def *d,
		       const char *text, struct code_prefix *out)
{
	struct request_error e;

	if (request_prefix(d, text, out, &e) == 0)
		return true;
	answer_bad(r, &e);
	return false;
}

/* GET /pools/{name}/capacity?prefix=P: seed 002's steps 1 to 3. */
static void route_capacity(struct api *a, struct http_req *r,
			   const struct request_path *ra)
{
	static const char *const allowed[] = { "prefix", NULL };
	const char *text = http_query(r, "prefix");
	struct code_prefix pfx;
	struct buf b = BUF_INIT;
	uint64_t comb, issued = 0;
	struct rpool *p;
	int rc;

	if (bad_query(r, allowed) || !(p = find_code_pool(a, r, ra->seg[1])))
		return;
	if (!text)
		text = "";
	if (!get_prefix(r, p->def, text, &pfx))
		return;
	rc = codepool_count(&a->pools->ledger, p->def, &pfx, &issued);
	if (rc) {
		http_error(r, 500, NULL, "internal",
			   "could not read the ledger: %s", log_strerror(rc));
		return;
	}
	comb = code_combinations(p->def, pfx.len);
	buf_adds(&b, "{\"pool\":");
	buf_add_json_str(&b, p->def->name);
	buf_adds(&b, ",\"prefix\":");
	buf_add_json_str(&b, text);
	buf_adds(&b, ",\"combinations\":");
	buf_add_u64(&b, comb);
	buf_adds(&b, ",\"issued\":");
	buf_add_u64(&b, issued);
	buf_adds(&b, ",\"remaining\":");
	buf_add_u64(&b, comb - issued);
	buf_addc(&b, '}');
	reply_buf(r, &b, 0);
}

/* A redeem waiting for its group commit. */
struct redeem_call {
	struct codepool_redeem red;	/* first: its op is the committer's */
	struct http_wait *wait;
	int rc;
	char text[VALUE_TEXT_MAX + 1];
};

static void redeem_call_done(struct commit_op *op, int rc)
{
	struct redeem_call *c = (struct redeem_call *)op;

	c->rc = rc;
	http_resume(c->wait);
}

static void redeem_answer(struct http_req *r, struct redeem_call *c)
{
	char when[CLOCK_RFC3339_LEN];
	struct buf b = BUF_INIT;

	if (c->rc == 0 || c->rc == -EALREADY)
		clock_rfc3339(c->red.redeemed_ms, when, sizeof(when));
	switch (c->rc) {
	case 0:
		buf_adds(&b, "{\"pool\":");
		buf_add_json_str(&b, c->red.def->name);
		buf_adds(&b, ",\"code\":");
		buf_add_json_str(&b, c->text);
		buf_printf(&b, ",\"redeemed_at\":\"%s\"}", when);
		reply_buf(r, &b, 0);
		return;
	case -EALREADY:
		http_error(r, 409, NULL, "already_redeemed",
			   "code %s was redeemed at %s", c->text, when);
		return;
	case -ENOENT:
		http_error(r, 404, NULL, "not_issued",
			   "code %s was never issued", c->text);
		return;
	case -ESHUTDOWN:
		http_error(r, 503, RETRY_1, "shutting_down",
			   "the server is stopping; retry shortly");
		return;
	default:
		http_error(r, 503, RETRY_1, "unavailable",
			   "the redemption could not be recorded: %s",
			   log_strerror(c->rc));
	}
}

/* POST /pools/{name}/values/{code}/redeem: once. */
static void route_redeem(struct api *a, struct http_req *r,
			 const struct request_path *ra)
{
	static const char *const allowed[] = { NULL };
	struct redeem_call *c;
	struct rpool *p;
	bool waiting;
	uint64_t k;
	int rc;

	if (r->resumed) {
		redeem_answer(r, r->state);
		return;
	}
	if (bad_query(r, allowed) || !(p = find_code_pool(a, r, ra->seg[1])))
		return;
	if (value_parse(p->def, ra->seg[3], &k)) {
		http_error(r, 400, NULL, "bad_value",
			   "\"%.40s\" is not a code of pool \"%s\" (%s)",
			   ra->seg[3], p->def->name, p->def->pattern);
		return;
	}
	/* A code still in its shard or its hopper has not been handed to
	 * anyone yet: redeeming it would have it served spent. */
	rc = rpool_code_waiting(p, k, &waiting);
	if (rc) {
		http_error(r, 500, NULL, "internal",
			   "could not read the ledger: %s", log_strerror(rc));
		return;
	}
	if (waiting) {
		http_error(r, 409, NULL, "not_served",
			   "code %s has not been handed out yet",
			   ra->seg[3]);
		return;
	}
	c = calloc(1, sizeof(*c));
	if (!c) {
		http_error(r, 500, NULL, "internal", "out of memory");
		return;
	}
	codepool_redeem_init(&c->red, &a->pools->ledger, p->def, p->id, k);
	c->red.op.done = redeem_call_done;
	value_format(p->def, k, c->text);
	c->wait = http_suspend(r, c, free);
	if (!c->wait) {
		free(c);
		http_error(r, 500, NULL, "internal", "out of memory");
		return;
	}
	committer_submit(a->committer, &c->red.op);
}

static void job_json(struct buf *b, const struct codejob *j)
{
	char when[CLOCK_RFC3339_LEN];

	buf_printf(b, "{\"job\":\"%llu\",\"pool\":", (unsigned long long)j->id);
	buf_add_json_str(b, j->pool);
	buf_adds(b, ",\"prefix\":");
	buf_add_json_str(b, j->prefix);
	buf_printf(b, ",\"count\":%llu,\"done\":%llu,\"status\":\"%s\"",
		   (unsigned long long)j->count, (unsigned long long)j->done,
		   codejob_status_name(j->status));
	clock_rfc3339(j->created_ms, when, sizeof(when));
	buf_printf(b, ",\"created_at\":\"%s\",\"finished_at\":", when);
	if (j->finished_ms) {
		clock_rfc3339(j->finished_ms, when, sizeof(when));
		buf_printf(b, "\"%s\"", when);
	} else {
		buf_adds(b, "null");
	}
	if (j->status == CODEJOB_DONE || (j->status == CODEJOB_FAILED && j->done))
		buf_printf(b, ",\"download\":\"/jobs/%llu/codes.csv\"",
			   (unsigned long long)j->id);
	else
		buf_adds(b, ",\"download\":null");
	if (j->error[0]) {
		buf_adds(b, ",\"error\":");
		buf_add_json_str(b, j->error);
	}
	buf_addc(b, '}');
}

/* POST /pools/{name}/jobs {"count": N, "prefix": "AAA"} (admin). */
static void route_job_post(struct api *a, struct http_req *r,
			   const struct request_path *ra)
{
	static const char *const allowed[] = { NULL };
	struct request_error e;
	struct request_job q;
	struct codejob job;
	struct buf b = BUF_INIT;
	uint64_t avail;
	struct rpool *p;
	char loc[64];
	int rc;

	if (bad_query(r, allowed) || !admin_ok(a, r) ||
	    !(p = find_code_pool(a, r, ra->seg[1])))
		return;
	if (request_job_body(p->def, r->body, &q, &e)) {
		answer_bad(r, &e);
		return;
	}
	rc = codejob_admit(&a->pools->ledger, p->def, q.prefix, &q.pfx,
			    q.count, &job, &avail);
	if (rc == -ENOSPC) {
		uint64_t issued = 0;

		codepool_count(&a->pools->ledger, p->def, &q.pfx, &issued);
		http_error(r, 409, NULL, "not_enough",
			   "only %llu codes can be promised for prefix "
			   "\"%.64s\" now (%llu combinations, %llu issued; "
			   "jobs under way may need the rest); nothing was "
			   "generated", (unsigned long long)avail, q.prefix,
			   (unsigned long long)code_combinations(p->def,
								  q.pfx.len),
			   (unsigned long long)issued);
		return;
	}
	if (rc == -EBUSY) {
		http_error(r, 503, (const char *const[]){ "Retry-After", "10",
							  NULL },
			   "too_many_jobs", "pool \"%s\" has %d jobs queued or "
			   "running; retry when some are done", p->def->name,
			   CODEJOB_PENDING_MAX);
		return;
	}
	if (rc) {
		http_error(r, 503, RETRY_1, "unavailable",
			   "the job could not be recorded: %s",
			   log_strerror(rc));
		return;
	}
	codegen_wake(a->jobs, p->def->name);
	snprintf(loc, sizeof(loc), "/jobs/%llu", (unsigned long long)job.id);
	buf_printf(&b, "{\"job\":\"%llu\",\"status\":\"queued\"}",
		   (unsigned long long)job.id);
	{
		const char *hdr[] = { "Location", loc, NULL };
		size_t len;
		char *body = buf_detach(&b, &len);

		if (body)
			http_reply(r, 202, "application/json", body, len, true,
				   hdr);
	}
}

/* The job named by path segment 1, or answers 404 / 400. */
static bool get_job(struct api *a, struct http_req *r, const char *text,
		    struct codejob *j)
{
	struct request_error e;
	uint64_t id;
	int rc;

	if (request_job_id(text, &id, &e)) {
		answer_bad(r, &e);
		return false;
	}
	rc = codejob_get(&a->pools->ledger, id, j);
	if (rc == -ENOENT)
		http_error(r, 404, NULL, "not_found", "no job %llu",
			   (unsigned long long)id);
	else if (rc)
		http_error(r, 500, NULL, "internal",
			   "could not read the ledger: %s", log_strerror(rc));
	return rc == 0;
}

/* GET /jobs: the 50 newest jobs, newest first. */
static void route_jobs(struct api *a, struct http_req *r,
		       const struct request_path *ra)
{
	static const char *const allowed[] = { NULL };
	struct codejob jobs[50];
	struct buf b = BUF_INIT;
	size_t n = 0, i;
	int rc;

	(void)ra;
	if (bad_query(r, allowed))
		return;
	rc = codejob_recent(&a->pools->ledger, jobs, 50, &n);
	if (rc) {
		http_error(r, 500, NULL, "internal",
			   "could not read the ledger: %s", log_strerror(rc));
		return;
	}
	buf_adds(&b, "{\"jobs\":[");
	for (i = 0; i < n; i++) {
		if (i)
			buf_addc(&b, ',');
		job_json(&b, &jobs[i]);
	}
	buf_adds(&b, "]}");
	reply_buf(r, &b, 0);
}

static void route_job_get(struct api *a, struct http_req *r,
			  const struct request_path *ra)
{
	static const char *const allowed[] = { NULL };
	struct buf b = BUF_INIT;
	struct codejob j;

	if (bad_query(r, allowed) || !get_job(a, r, ra->seg[1], &j))
		return;
	job_json(&b, &j);
	reply_buf(r, &b, 0);
}

/* GET /jobs/{id}/codes.csv (admin): the export, once done. */
static void route_job_csv(struct api *a, struct http_req *r,
			  const struct request_path *ra)
{
	static const char *const allowed[] = { NULL };
	char path[1200], disp[96];
	const char *hdr[] = { "Content-Disposition", disp, NULL };
	struct codejob j;
	struct stat st;
	int fd;

	if (bad_query(r, allowed) || !admin_ok(a, r) ||
	    !get_job(a, r, ra->seg[1], &j))
		return;
	if (j.status != CODEJOB_DONE && !(j.status == CODEJOB_FAILED && j.done)) {
		http_error(r, 409, NULL, "not_done",
			   "job %llu is %s (%llu of %llu codes); its file is "
			   "ready once it is done", (unsigned long long)j.id,
			   codejob_status_name(j.status),
			   (unsigned long long)j.done,
			   (unsigned long long)j.count);
		return;
	}
	codegen_path(a->cfg->data_dir, j.id, false, path, sizeof(path));
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0 || fstat(fd, &st)) {
		if (fd >= 0)
			close(fd);
		http_error(r, 500, NULL, "internal", "the file of job %llu is "
			   "missing", (unsigned long long)j.id);
		return;
	}
	snprintf(disp, sizeof(disp), "attachment; filename=\"codes-%llu.csv\"",
		 (unsigned long long)j.id);
	http_reply_fd(r, 200, "text/csv; charset=utf-8", fd,
		      (uint64_t)st.st_size, hdr);
}

/* ---- GET /random ------------------------------------------------- */

/*
 * Draws n values of the pool named by ?type and answers in the seed's
 * shapes: {"number": N, "shard": S}, or {"numbers": [...], "shard": S}
 * for count > 1.
 */
static void route_random(struct api *a, struct http_req *r,
			 const struct request_path *ra)
{
	static const char *const allowed[] = { "type", "count", NULL };
	const char *type = http_query(r, "type");
	struct rpool *p;
	uint64_t n, one, *vals = &one;
	unsigned shard;
	char text[VALUE_TEXT_MAX + 1];
	int rc;

	(void)ra;
	if (bad_query(r, allowed))
		return;
	if (!type)
		type = "int";
	p = pools_random(a->pools, type);
	if (!p || p->def->kind == POOL_CODE) {
		http_error(r, 400, NULL, "bad_parameter",
			   "type must be int or float (or the name of another "
			   "int or float pool), not \"%.40s\"%s", type,
			   p ? "; draw codes with POST /pools/NAME/next" : "");
		return;
	}
	if (!get_count(r, pool_max_count(p), &n))
		return;
	if (n > 1 && !(vals = malloc(n * sizeof(*vals)))) {
		http_error(r, 500, NULL, "internal", "out of memory");
		return;
	}
	rc = rpool_draw(p, n, vals, &shard, r->thread);
	if (rc) {
		answer_draw_error(r, p, rc, n);
		goto out;
	}
	count_served(a, r, p->def, n);
	if (n == 1) {
		char body[160];
		int len;

		value_format(p->def, vals[0], text);
		len = snprintf(body, sizeof(body), "{\"number\":%s,\"shard\":\"%s\"}",
			       text, p->shards[shard].shard.name);
		http_reply_json(r, 200, body, (size_t)len);
	} else {
		struct buf b = BUF_INIT;
		uint64_t i;
		size_t len;
		char *body;

		buf_adds(&b, "{\"numbers\":[");
		for (i = 0; i < n; i++) {
			if (i)
				buf_addc(&b, ',');
			buf_add(&b, text, value_format(p->def, vals[i], text));
		}
		buf_printf(&b, "],\"shard\":\"%s\"}",
			   p->shards[shard].shard.name);
		body = buf_detach(&b, &len);
		if (body)
			http_reply(r, 200, "application/json", body, len, true,
				   NULL);
		else
			http_error(r, 500, NULL, "internal", "out of memory");
	}
out:
	if (vals != &one)
		free(vals);
}

/* ---- POST /pools/{name}/next ------------------------------------ */

static void route_next(struct api *a, struct http_req *r,
		       const struct request_path *ra)
{
	static const char *const allowed[] = { "count", NULL };
	struct seq *sp;
	struct rpool *p;
	struct buf b = BUF_INIT;
	uint64_t n, i, *vals;
	unsigned shard;
	char *body;
	size_t len;
	int rc;

	if (r->resumed) {
		seq_answer(a, r, r->state);
		return;
	}
	if (bad_query(r, allowed))
		return;
	if ((sp = pools_seq(a->pools, ra->seg[1]))) {
		route_seq_next(a, r, sp);
		return;
	}
	if (pools_lease(a->pools, ra->seg[1])) {
		http_error(r, 400, NULL, "wrong_kind",
			   "pool \"%s\" lends numbers: borrow one with "
			   "POST /pools/%s/leases", ra->seg[1], ra->seg[1]);
		return;
	}
	if (!(p = find_pool(a, r, ra->seg[1])))
		return;
	if (!get_count(r, pool_max_count(p), &n))
		return;
	vals = malloc(n * sizeof(*vals));
	if (!vals) {
		http_error(r, 500, NULL, "internal", "out of memory");
		return;
	}
	rc = rpool_draw(p, n, vals, &shard, r->thread);
	if (rc) {
		answer_draw_error(r, p, rc, n);
		goto out;
	}
	count_served(a, r, p->def, n);
	buf_adds(&b, "{\"values\":[");
	for (i = 0; i < n; i++) {
		if (i)
			buf_addc(&b, ',');
		rpool_value_json(p, vals[i], &b);
	}
	buf_adds(&b, "],\"pool\":");
	buf_add_json_str(&b, p->def->name);
	buf_adds(&b, ",\"shard\":");
	buf_add_json_str(&b, p->shards[shard].shard.name);
	buf_addc(&b, '}');
	body = buf_detach(&b, &len);
	if (body)
		http_reply(r, 200, "application/json", body, len, true, NULL);
	else
		http_error(r, 500, NULL, "internal", "out of memory");
out:
	free(vals);
}

/* ---- GET /pools, GET /pools/{name} ------------------------------ */

static int describe_pool(struct api *a, struct rpool *p, struct buf *b)
{
	const struct pool_def *d = p->def;
	struct ledger_rec rec;
	struct refill_stats st;
	char text[VALUE_TEXT_MAX + 1];
	uint64_t ready = 0, sready[POOL_SHARDS_MAX];
	unsigned i;
	int rc;

	/* Stock first, then issued: what was ready had been issued, and
	 * issued only grows, so ready <= issued even while a refill runs. */
	for (i = 0; i < p->nserving && i < POOL_SHARDS_MAX; i++) {
		sready[i] = rpool_shard_ready(p, i);
		ready += sready[i];
	}
	rc = ledger_rec_get(&a->pools->ledger, d->name, &rec);
	if (rc)
		return rc;
	refill_stats(a->refill, p, &st);
	buf_adds(b, "{\"name\":");
	buf_add_json_str(b, d->name);
	if (d->kind == POOL_CODE) {
		static const struct code_prefix all = { 0 };

		/* Issued by every stream: the root's and the prefixes'. */
		rc = codepool_count(&a->pools->ledger, d, &all, &rec.counter);
		if (rc)
			return rc;
		buf_adds(b, ",\"kind\":\"code\",\"pattern\":");
		buf_add_json_str(b, d->pattern);
		buf_adds(b, ",\"alphabet\":");
		buf_add_json_str(b, d->alphabet);
		goto counts;
	}
	buf_printf(b, ",\"kind\":\"%s\",\"min\":", config_kind_name(d->kind));
	buf_add(b, text, value_format(d, 0, text));
	buf_adds(b, ",\"max\":");
	if (d->kind == POOL_FLOAT) {
		/* A float pool is [min, max): max is one unit past the last. */
		struct pool_def past = *d;

		past.capacity++;
		buf_add(b, text, value_format(&past, d->capacity, text));
		buf_printf(b, ",\"decimals\":%u", d->decimals);
	} else {
		buf_add(b, text, value_format(d, d->capacity - 1, text));
	}
counts:
	buf_adds(b, ",\"capacity\":");
	buf_add_u64(b, rec.capacity);
	buf_adds(b, ",\"issued\":");
	buf_add_u64(b, rec.counter);
	buf_adds(b, ",\"remaining\":");
	buf_add_u64(b, rec.capacity - rec.counter);
	buf_adds(b, ",\"shards\":[");
	for (i = 0; i < p->nserving && i < POOL_SHARDS_MAX; i++) {
		if (i)
			buf_addc(b, ',');
		buf_adds(b, "{\"name\":");
		buf_add_json_str(b, p->shards[i].shard.name);
		buf_adds(b, ",\"ready\":");
		buf_add_u64(b, sready[i]);
		buf_addc(b, '}');
	}
	buf_adds(b, "],\"ready\":");
	buf_add_u64(b, ready);
	buf_printf(b, ",\"shard_size\":%llu",
		   (unsigned long long)d->shard_size);
	buf_printf(b, ",\"max_count\":%llu,\"refills\":%llu,"
		   "\"refilling\":%s}",
		   (unsigned long long)pool_max_count(p),
		   (unsigned long long)st.grants,
		   st.refilling ? "true" : "false");
	return 0;
}

static void route_pools(struct api *a, struct http_req *r,
			const struct request_path *ra)
{
	static const char *const allowed[] = { NULL };
	struct buf b = BUF_INIT;
	size_t i;
	int rc = 0;

	(void)ra;
	if (bad_query(r, allowed))
		return;
	buf_adds(&b, "{\"pools\":[");
	for (i = 0; i < a->pools->npools && rc == 0; i++) {
		if (i)
			buf_addc(&b, ',');
		rc = describe_pool(a, &a->pools->pools[i], &b);
	}
	for (i = 0; i < a->pools->nseqs && rc == 0; i++) {
		if (i || a->pools->npools)
			buf_addc(&b, ',');
		rc = describe_seq(&a->pools->seqs[i], &b);
	}
	for (i = 0; i < a->pools->nleases && rc == 0; i++) {
		if (i || a->pools->npools || a->pools->nseqs)
			buf_addc(&b, ',');
		rc = describe_lease(&a->pools->leases[i], &b);
	}
	buf_adds(&b, "]}");
	reply_buf(r, &b, rc);
}

static void route_pool(struct api *a, struct http_req *r,
		       const struct request_path *ra)
{
	static const char *const allowed[] = { NULL };
	struct buf b = BUF_INIT;
	struct lease *lp;
	struct seq *sp;
	struct rpool *p;

	if (bad_query(r, allowed))
		return;
	if ((sp = pools_seq(a->pools, ra->seg[1]))) {
		reply_buf(r, &b, describe_seq(sp, &b));
		return;
	}
	if ((lp = pools_lease(a->pools, ra->seg[1]))) {
		reply_buf(r, &b, describe_lease(lp, &b));
		return;
	}
	if (!(p = find_pool(a, r, ra->seg[1])))
		return;
	reply_buf(r, &b, describe_pool(a, p, &b));
}

/* ---- GET /pools/{name}/values/{value} --------------------------- */

static void route_value(struct api *a, struct http_req *r,
			const struct request_path *ra)
{
	static const char *const allowed[] = { NULL };
	struct request_error e;
	struct buf b = BUF_INIT;
	struct seq *sp;
	struct rpool *p;
	uint64_t k;
	int rc;

	if (bad_query(r, allowed))
		return;
	if ((sp = pools_seq(a->pools, ra->seg[1]))) {
		seq_value(r, sp, ra->seg[3]);
		return;
	}
	if (pools_lease(a->pools, ra->seg[1])) {
		http_error(r, 400, NULL, "wrong_kind",
			   "pool \"%s\" lends numbers: see GET /pools/%s/leases",
			   ra->seg[1], ra->seg[1]);
		return;
	}
	if (!(p = find_pool(a, r, ra->seg[1])))
		return;
	if (request_value(p->def, ra->seg[3], &k, &e)) {
		answer_bad(r, &e);
		return;
	}
	rc = rpool_lookup_json(p, k, &b);
	if (rc) {
		buf_release(&b);
		http_error(r, 500, NULL, "internal",
			   "could not read the ledger: %s", log_strerror(rc));
		return;
	}
	reply_buf(r, &b, 0);
}

/* ---- GET /: the admin page ---------------------------------------- */

extern const char admin_html[];
extern const size_t admin_html_len;

static void route_admin_page(struct api *a, struct http_req *r,
			     const struct request_path *ra)
{
	/* Everything is inline and from here: no other origin may run. */
	static const char *const hdr[] = {
		"Content-Security-Policy",
		"default-src 'self'; script-src 'unsafe-inline'; "
		"style-src 'unsafe-inline'; img-src 'self' data: blob:; "
		"frame-ancestors 'none'",
		"X-Content-Type-Options", "nosniff",
		"Cache-Control", "no-cache",
		NULL,
	};

	(void)a;
	(void)ra;
	http_reply(r, 200, "text/html; charset=utf-8", admin_html,
		   admin_html_len, false, hdr);
}

/* ---- GET /healthz ------------------------------------------------ */

static void route_healthz(struct api *a, struct http_req *r,
			  const struct request_path *ra)
{
	static const char ok[] = "{\"status\":\"ok\"}";

	(void)a;
	(void)ra;
	http_reply_json(r, 200, ok, sizeof(ok) - 1);
}

/* ---- GET /metrics ------------------------------------------------- */

/* A gauge or counter line with a pool label. */
static void metric_pool(struct buf *b, const char *name, const char *pool,
			uint64_t v)
{
	buf_printf(b, "%s{pool=\"%s\"} ", name, pool);
	buf_add_u64(b, v);
	buf_addc(b, '\n');
}

static void route_metrics(struct api *a, struct http_req *r,
			  const struct request_path *ra)
{
	static const char *const allowed[] = { NULL };
	static const struct code_prefix all = { 0 };
	struct pools *ps = a->pools;
	struct buf b = BUF_INIT;
	uint64_t batches, ops, jobs[4], v;
	struct refill_stats st;
	char path[1200];
	struct stat fs;
	size_t i;
	unsigned j;

	(void)ra;
	if (bad_query(r, allowed))
		return;
	metrics_render(a->metrics, &b);
	buf_adds(&b, "# HELP uniqd_pool_issued Values issued (random pools: "
		     "recorded in the ledger; sequences: today; leases: out "
		     "now).\n# TYPE uniqd_pool_issued gauge\n");
	for (i = 0; i < ps->npools; i++) {
		struct ledger_rec rec;

		if (ps->pools[i].def->kind == POOL_CODE) {
			if (codepool_count(&ps->ledger, ps->pools[i].def, &all, &v))
				continue;
		} else if (ledger_rec_get(&ps->ledger, ps->pools[i].def->name,
					   &rec) == 0) {
			v = rec.counter;
		} else {
			continue;
		}
		metric_pool(&b, "uniqd_pool_issued", ps->pools[i].def->name, v);
	}
	for (i = 0; i < ps->nseqs; i++) {
		uint32_t day, today;

		if (seq_state(&ps->seqs[i], &day, &v) ||
		    seq_today(&ps->seqs[i], clock_now_ms(), &today))
			continue;
		metric_pool(&b, "uniqd_pool_issued", ps->seqs[i].def->name,
			    today > day ? 0 : v);
	}
	for (i = 0; i < ps->nleases; i++)
		metric_pool(&b, "uniqd_pool_issued", ps->leases[i].def->name,
			    atomic_load(&ps->leases[i].out));
	buf_adds(&b, "# HELP uniqd_pool_capacity Values a pool can issue "
		     "(sequences: a day's).\n# TYPE uniqd_pool_capacity "
		     "gauge\n");
	for (i = 0; i < a->cfg->npools; i++)
		metric_pool(&b, "uniqd_pool_capacity", a->cfg->pools[i].name,
			    a->cfg->pools[i].capacity);
	buf_adds(&b, "# HELP uniqd_shard_ready Values ready in a shard (its "
		     "environment and its hopper).\n# TYPE uniqd_shard_ready "
		     "gauge\n");
	for (i = 0; i < ps->npools; i++)
		for (j = 0; j < ps->pools[i].nserving; j++) {
			buf_printf(&b, "uniqd_shard_ready{pool=\"%s\",shard="
				   "\"%s\"} ", ps->pools[i].def->name,
				   ps->pools[i].shards[j].shard.name);
			buf_add_u64(&b, rpool_shard_ready(&ps->pools[i], j));
			buf_addc(&b, '\n');
		}
	buf_adds(&b, "# HELP uniqd_refills_total Ledger grants appended to "
		     "shards.\n# TYPE uniqd_refills_total counter\n");
	for (i = 0; i < ps->npools; i++) {
		refill_stats(a->refill, &ps->pools[i], &st);
		metric_pool(&b, "uniqd_refills_total", ps->pools[i].def->name,
			    st.grants);
	}
	buf_adds(&b, "# HELP uniqd_refill_errors_total Refill passes that "
		     "failed (and were retried).\n# TYPE "
		     "uniqd_refill_errors_total counter\n");
	for (i = 0; i < ps->npools; i++) {
		refill_stats(a->refill, &ps->pools[i], &st);
		metric_pool(&b, "uniqd_refill_errors_total",
			    ps->pools[i].def->name, st.errors);
	}
	buf_adds(&b, "# HELP uniqd_empty_draws_total Draws that found every "
		     "hopper empty (503 refilling).\n# TYPE "
		     "uniqd_empty_draws_total counter\n");
	for (i = 0; i < ps->npools; i++)
		metric_pool(&b, "uniqd_empty_draws_total",
			    ps->pools[i].def->name,
			    atomic_load(&ps->pools[i].empty_draws));
	buf_adds(&b, "# HELP uniqd_leases_out Numbers out on lease.\n"
		     "# TYPE uniqd_leases_out gauge\n");
	for (i = 0; i < ps->nleases; i++)
		metric_pool(&b, "uniqd_leases_out", ps->leases[i].def->name,
			    atomic_load(&ps->leases[i].out));
	if (codejob_counts(&ps->ledger, jobs) == 0) {
		buf_adds(&b, "# HELP uniqd_jobs Code jobs by status.\n"
			     "# TYPE uniqd_jobs gauge\n");
		for (j = 0; j < 4; j++) {
			buf_printf(&b, "uniqd_jobs{status=\"%s\"} ",
				   codejob_status_name(j));
			buf_add_u64(&b, jobs[j]);
			buf_addc(&b, '\n');
		}
	}
	committer_stats(a->committer, &batches, &ops);
	buf_adds(&b, "# HELP uniqd_commits_total Group commits of the "
		     "ledger.\n# TYPE uniqd_commits_total counter\n"
		     "uniqd_commits_total ");
	buf_add_u64(&b, batches);
	buf_adds(&b, "\n# HELP uniqd_commit_operations_total Operations in "
		     "them (order ids, leases, redemptions).\n# TYPE "
		     "uniqd_commit_operations_total counter\n"
		     "uniqd_commit_operations_total ");
	buf_add_u64(&b, ops);
	buf_addc(&b, '\n');
	snprintf(path, sizeof(path), "%s/%s", a->cfg->data_dir, LEDGER_FILE);
	if (stat(path, &fs) == 0) {
		buf_adds(&b, "# HELP uniqd_ledger_bytes Size of the ledger "
			     "file.\n# TYPE uniqd_ledger_bytes gauge\n"
			     "uniqd_ledger_bytes ");
		buf_add_u64(&b, (uint64_t)fs.st_size);
		buf_addc(&b, '\n');
	}
	if (buf_finish(&b)) {
		buf_release(&b);
		http_error(r, 500, NULL, "internal", "out of memory");
		return;
	}
	{
		size_t len;
		char *body = buf_detach(&b, &len);

		http_reply(r, 200, "text/plain; version=0.0.4; charset=utf-8",
			   body, len, true, NULL);
	}
}

/* ---- dispatch ---------------------------------------------------- */

/* HEAD is served as GET without a body, except by the GETs that change
 * state (seed-compatible routes): a HEAD must never burn a value. */
static const struct route routes[] = {
	{ "GET", "/random", route_random, true },
	{ "GET", "/pools", route_pools, false },
	{ "GET", "/pools/*", route_pool, false },
	{ "POST", "/pools/*/next", route_next, true },
	{ "GET", "/pools/*/values/*", route_value, false },
	{ "GET", "/healthz", route_healthz, false },
	{ "POST", "/orders", route_orders_post, true },
	{ "GET", "/orders", route_orders_page, false },
	{ "POST", "/pools/*/leases", route_borrow, true },
	{ "GET", "/pools/*/leases", route_leases, false },
	{ "DELETE", "/pools/*/leases/*", route_return, true },
	{ "POST", "/pools/*/leases/*/renew", route_renew, true },
	{ "POST", "/pools/*/reset", route_reset, true },
	{ "GET", "/check", route_check, true },
	{ "GET", "/checked", route_checked, false },
	{ "POST", "/return", route_seed_return, true },
	{ "GET", "/reset", route_seed_reset, true },
	{ "GET", "/pools/*/capacity", route_capacity, false },
	{ "POST", "/pools/*/values/*/redeem", route_redeem, true },
	{ "POST", "/pools/*/jobs", route_job_post, true },
	{ "GET", "/jobs", route_jobs, false },
	{ "GET", "/jobs/*", route_job_get, false },
	{ "GET", "/jobs/*/codes.csv", route_job_csv, false },
	{ "GET", "/metrics", route_metrics, false },
	{ "GET", "/", route_admin_page, false },
};

#define NROUTES (sizeof(routes) / sizeof(routes[0]))

/* Metric labels: the route ("GET /pools/NAME"), never the path: no value
 * goes into a label; and one for what matched no route. */
static char route_labels[NROUTES + 1][64];
static const char *route_label_ptrs[NROUTES + 1];

int api_init(struct api *a)
{
	size_t i, n;

	for (i = 0; i < NROUTES; i++) {
		snprintf(route_labels[i], sizeof(route_labels[i]), "%s %s",
			 routes[i].method, routes[i].pattern);
		route_label_ptrs[i] = route_labels[i];
	}
	snprintf(route_labels[NROUTES], sizeof(route_labels[NROUTES]),
		 "other");
	route_label_ptrs[NROUTES] = route_labels[NROUTES];
	n = a->cfg->npools < METRICS_POOLS_MAX ? a->cfg->npools :
						 METRICS_POOLS_MAX;
	for (i = 0; i < n; i++)
		a->pool_names[i] = a->cfg->pools[i].name;
	return metrics_new(NROUTES + 1, route_label_ptrs, n, a->pool_names,
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
			     route < NROUTES ? routes[route].pattern : NULL,
			     a->access_log);
}

void api_handle(struct http_req *r, void *arg)
{
	struct api *a = arg;
	struct request_path ra;
	char allow[64] = "";
	const char *method = r->method;
	bool head = !strcmp(method, "HEAD");
	size_t i;

	if (request_split_path(r->path, &ra)) {
		http_error(r, 404, NULL, "not_found", "no such route");
		goto out;
	}
	for (i = 0; i < NROUTES; i++) {
		if (!request_route_match(routes[i].pattern, &ra))
			continue;
		if (!strcmp(routes[i].method, method) ||
		    (head && !strcmp(routes[i].method, "GET") &&
		     !routes[i].changes)) {
			routes[i].fn(a, r, &ra);
			if (r->status) /* answered now, not suspended */
				request_done(a, r, i);
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
	request_done(a, r, NROUTES);
}
