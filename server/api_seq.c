/*
 * api_seq.c: the routes of sequence pools (pools/seq.h): POST /orders
 * and its page GET /orders (seed 003), and what the shared pool routes
 * do with a sequence: POST /pools/{name}/next, its description in GET
 * /pools, and GET /pools/{name}/values/{id}. Ids are taken by the group
 * committer, so a request for ids waits for its commit (api_call).
 */
#include <errno.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cluster/cluster.h"
#include "common/buf.h"
#include "common/clock.h"
#include "common/log.h"
#include "common/outcome.h"
#include "server/api_route.h"
#include "common/banned.h"

/* A sequence request waiting for its group commit. */
struct seq_call {
	struct api_call call;	/* first: the request frees it */
	struct seq_req req;
	bool orders_shape;	/* answer {"id": ...} (seed 003) */
	bool text;		/* or the id alone, in text/plain (Accept) */
};

/* The committer's done callback: record the outcome, wake the request. */
static void seq_call_done(struct commit_op *op, int rc)
{
	struct seq_call *c = api_container_of(op, struct seq_call, req.op);
	struct seq *sp = c->req.pool;

	if (rc == 0 && !c->req.replayed) {
		/* Only the committer thread writes these. */
		atomic_store(&sp->shown_day, c->req.day);
		atomic_store(&sp->shown_n, c->req.first + c->req.count - 1);
	}
	api_call_done(&c->call, rc);
}

/* Answers a committed (or failed) sequence request. */
static void seq_answer(struct api *a, struct http_req *r,
		       struct api_call *call)
{
	struct seq_call *c = api_container_of(call, struct seq_call, call);
	struct seq *sp = c->req.pool;
	char id[SEQ_ID_MAX + 1], retry[24];
	const char *hdr[] = { "Retry-After", retry, NULL };
	struct buf b = BUF_INIT;
	size_t len;
	uint64_t i;
	char *body;

	switch (call->rc) {
	case 0:
		break;
	case OUTCOME_USED_UP:
		snprintf(retry, sizeof(retry), "%llu",
			 (unsigned long long)c->req.retry_after);
		http_error(r, 503, hdr, "exhausted",
			   "pool \"%s\" has issued every id of the day (%llu); "
			   "ids start again tomorrow", sp->def->name,
			   (unsigned long long)sp->max);
		return;
	case OUTCOME_KEY_CONFLICT:
		http_error(r, 409, NULL, "conflict",
			   "this Idempotency-Key was first used with another "
			   "count");
		return;
	default:
		api_answer_commit_error(r, call->rc, "id");
		return;
	}
	if (c->orders_shape && c->text) {
		buf_add(&b, id, seq_format(sp, c->req.day, c->req.first, id));
	} else if (c->orders_shape) {
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
		api_count_served(a, r, sp->def, c->req.count);
	http_reply(r, 200, c->text ? "text/plain" : "application/json", body,
		   len, true,
		   c->req.replayed ? (const char *const[]){ "Idempotent-Replay",
							    "true", NULL } :
				     NULL);
}

/* Asks for count ids of sp and suspends r until they are committed. */
static void seq_submit(struct http_req *r, struct seq *sp,
		       uint64_t count, bool orders_shape)
{
	struct seq_call *c;
	const char *key;

	if (api_idem_header(r, &key))
		return;
	c = calloc(1, sizeof(*c));
	if (!c) {
		http_error(r, 500, NULL, "internal", "out of memory");
		return;
	}
	seq_req_init(&c->req, sp, count, key, key ? strlen(key) : 0);
	c->req.op.done = seq_call_done;
	c->orders_shape = orders_shape;
	c->text = orders_shape && request_wants_text(http_header(r, "Accept"));
	api_call_suspend(r, &c->call, &c->req.op, seq_answer);
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
			      const struct request_path *path)
{
	static const char *const allowed[] = { NULL };
	struct seq *sp;

	(void)path;
	if (api_bad_query(r, allowed))
		return;
	sp = orders_pool(a);
	if (!sp) {
		http_error(r, 404, NULL, "unknown_pool",
			   "no sequence pool is configured");
		return;
	}
	seq_submit(r, sp, 1, true);
}

/* server/orders.html, embedded at build time (server/embed.py). */
extern const char orders_html[];
extern const size_t orders_html_len;

/* Seed 003's page: an Order button that shows the id it got. */
static void route_orders_page(struct api *a, struct http_req *r,
			      const struct request_path *path)
{
	(void)a;
	(void)path;
	http_reply(r, 200, "text/html; charset=utf-8", orders_html,
		   orders_html_len, false, NULL);
}

void api_seq_next(struct http_req *r, struct seq *sp)
{
	uint64_t n;

	if (!api_get_count(r, sp->max < API_COUNT_MAX ? sp->max :
							API_COUNT_MAX, &n))
		return;
	seq_submit(r, sp, n, false);
}

int api_seq_today(struct seq *sp, uint32_t *day, uint64_t *n)
{
	uint32_t today;
	int rc;

	if (sp->cluster) {	/* the cluster's, as this node last saw it */
		*day = atomic_load(&sp->cl_day);
		*n = atomic_load(&sp->cl_n);
		rc = 0;
	} else {
		rc = seq_state(sp, day, n);
	}
	if (rc == 0)
		rc = seq_today(sp, clock_now_ms(), &today);
	if (rc)
		return rc;
	if (today > *day) {	/* nothing issued yet today */
		*day = today;
		*n = 0;
	}
	return 0;
}

int api_seq_describe(struct seq *sp, struct buf *b)
{
	uint32_t day;
	uint64_t n;
	char when[16];
	int rc;

	rc = api_seq_today(sp, &day, &n);
	if (rc)
		return rc;
	snprintf(when, sizeof(when), "%08u", day);
	buf_adds(b, "{\"name\":");
	buf_add_json_str(b, sp->def->name);
	buf_adds(b, ",\"kind\":\"sequence\",\"tz\":");
	buf_add_json_str(b, sp->def->tz);
	buf_printf(b, ",\"digits\":%u,\"day\":\"%s\",\"capacity\":%llu,"
		   "\"issued\":%llu,\"remaining\":%llu,\"day_used\":%.6f",
		   sp->def->digits, when, (unsigned long long)sp->max,
		   (unsigned long long)n, (unsigned long long)(sp->max - n),
		   (double)n / (double)sp->max);
	buf_adds(b, sp->cluster ? ",\"cluster\":true}" : "}");
	return 0;
}

void api_seq_value(struct http_req *r, struct seq *sp,
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
	if (sp->cluster && issued) {
		buf_adds(&b, ",\"node\":");
		buf_add_json_str(&b, cluster_node(sp->cluster));
	} else if (sp->cluster) {
		/* Each node knows the ids it issued, not the others'. */
		buf_adds(&b, ",\"by_this_node\":false,\"note\":\"this node "
			 "did not issue it; another node of the cluster may "
			 "have: ask the others\"");
	}
	buf_addc(&b, '}');
	api_reply_buf(r, &b, 0);
}

const struct api_route api_seq_routes[] = {
	{ "POST", "/orders", route_orders_post, true },
	{ "GET", "/orders", route_orders_page, false },
	{ NULL, NULL, NULL, false },
};
