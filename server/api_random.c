/*
 * api_random.c: the routes of the pools that values are drawn from
 * (int, float and code pools, pools/pools.h): GET /random (the seed's
 * hot path: no allocation for one value, no lock, no disk) and POST
 * /pools/{name}/next; and the routes every pool shares, whatever its
 * kind: GET /pools, GET /pools/{name} and GET /pools/{name}/values/{v}.
 * Where those meet a sequence or a lease pool, they call its kind's file
 * (api_seq.c, api_lease.c).
 *
 * Responses are written with common/buf.h rather than cJSON: values and
 * capacities are 64-bit integers that cJSON would print through a double,
 * and /random is the hot path.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cluster/ask.h"
#include "cluster/reserve.h"
#include "common/buf.h"
#include "common/clock.h"
#include "common/code.h"
#include "common/log.h"
#include "common/value.h"
#include "refill/refill.h"
#include "server/api_route.h"
#include "common/banned.h"

static uint64_t pool_max_count(const struct rpool *p)
{
	return p->max_draw;
}

/* ---- a draw that waits for values -------------------------------- */

/* Answers 200 with the n values drawn from shard of p. */
typedef void (*draw_ok_fn)(struct api *a, struct http_req *r, struct rpool *p,
			   uint64_t n, const uint64_t *vals, unsigned shard);

/*
 * A draw that found its pool refilling, waiting (suspended, no thread
 * held) on the pool's waitlist (pools/waitlist.h) until a taker pushes
 * values or draw_wait_ms from the request's start have passed. Each wake
 * tries the draw once: 200, or another wait, or, once the time is up (or
 * at shutdown), the 503 it would have had at once.
 */
struct draw_call {
	struct api_call call;	/* first: see api_route.h */
	struct waitlist_entry we;
	struct rpool *p;
	draw_ok_fn ok;
	uint64_t n;
	uint64_t vals[];	/* n */
};

/* The waitlist's wake (a taker's thread, or main's at shutdown). */
static void draw_wake(struct waitlist_entry *e)
{
	struct draw_call *dc = api_container_of(e, struct draw_call, we);

	http_resume(dc->call.wait);
}

/* Whether a draw that got rc may wait (again): the pool is refilling, the
 * request's time is not up, and the server is not stopping. */
static bool draw_may_wait(struct rpool *p, int rc, uint64_t deadline_ns)
{
	return rc == OUTCOME_REFILLING && clock_mono_ns() < deadline_ns &&
	       !waitlist_closed(&p->waiters);
}

/* Waits for the next wake; r is suspended already. A push since gen was
 * read (or a closed list) resumes r at once, to draw again. */
static void draw_add(struct draw_call *dc, uint64_t gen)
{
	if (waitlist_add(&dc->p->waiters, &dc->we, gen))
		http_resume(dc->call.wait);
}

/* api_answer_fn: r was woken; one more try. */
static void draw_resumed(struct api *a, struct http_req *r,
			 struct api_call *call)
{
	struct draw_call *dc = (struct draw_call *)(void *)call;
	uint64_t gen = waitlist_gen(&dc->p->waiters);
	unsigned shard;
	int rc;

	rc = rpool_draw(dc->p, dc->n, dc->vals, &shard, r->thread);
	if (rc == 0) {
		dc->ok(a, r, dc->p, dc->n, dc->vals, shard);
		return;
	}
	if (!draw_may_wait(dc->p, rc, dc->we.deadline_ns)) {
		api_answer_draw_error(r, dc->p, rc, dc->n);
		return;
	}
	/* The request's context is on the heap since its first suspend,
	 * so this suspend cannot fail; the call stays the request's. */
	call->wait = http_suspend(r, call, free);
	draw_add(dc, gen);
}

/*
 * Draws n values from p into vals (room for n) and answers with ok. If
 * the pool is refilling and draw_wait_ms allows, waits for values as
 * above (r is suspended: the route then just returns); otherwise answers
 * the draw's 503. The generation is read only after a first draw failed,
 * so a draw that finds values takes no lock of the waitlist; the second
 * draw after the read means a push in between is never missed.
 */
static void draw_answer(struct api *a, struct http_req *r, struct rpool *p,
			uint64_t n, uint64_t *vals, draw_ok_fn ok)
{
	uint64_t gen = 0, deadline;
	struct draw_call *dc;
	unsigned shard;
	int rc;

	rc = rpool_draw(p, n, vals, &shard, r->thread);
	if (rc == OUTCOME_REFILLING && a->cfg->draw_wait_ms) {
		gen = waitlist_gen(&p->waiters);
		rc = rpool_draw(p, n, vals, &shard, r->thread);
	}
	if (rc == 0) {
		ok(a, r, p, n, vals, shard);
		return;
	}
	deadline = r->start_ns + (uint64_t)a->cfg->draw_wait_ms * 1000000u;
	if (!a->cfg->draw_wait_ms || !draw_may_wait(p, rc, deadline)) {
		api_answer_draw_error(r, p, rc, n);
		return;
	}
	dc = malloc(sizeof(*dc) + n * sizeof(dc->vals[0]));
	if (!dc) {
		api_answer_draw_error(r, p, rc, n);
		return;
	}
	memset(dc, 0, sizeof(*dc));
	dc->we.deadline_ns = deadline;
	dc->we.wake = draw_wake;
	dc->p = p;
	dc->ok = ok;
	dc->n = n;
	if (api_call_suspend(r, &dc->call, NULL, draw_resumed))
		return;	/* freed, and answered 500 */
	draw_add(dc, gen);
}

/* ---- GET /random ------------------------------------------------- */

/* draw_ok_fn of GET /random, in the seed's shapes: {"number": N,
 * "shard": S}, or {"numbers": [...], "shard": S} for count > 1. */
static void answer_numbers(struct api *a, struct http_req *r,
			   struct rpool *p, uint64_t n, const uint64_t *vals,
			   unsigned shard)
{
	char text[VALUE_TEXT_MAX + 1];

	api_count_served(a, r, p->def, n);
	if (n == 1) {
		char body[160];
		int len;

		value_format(p->def, vals[0], text);
		len = snprintf(body, sizeof(body),
			       "{\"number\":%s,\"shard\":\"%s\"}", text,
			       p->shards[shard].shard.name);
		http_reply_json(r, 200, body, (size_t)len);
	} else {
		struct buf b = BUF_INIT;
		uint64_t i;

		buf_adds(&b, "{\"numbers\":[");
		for (i = 0; i < n; i++) {
			if (i)
				buf_addc(&b, ',');
			buf_add(&b, text, value_format(p->def, vals[i], text));
		}
		buf_printf(&b, "],\"shard\":\"%s\"}",
			   p->shards[shard].shard.name);
		api_reply(r, 200, "application/json", &b, NULL);
	}
}

/* Draws n values of the pool named by ?type (answer_numbers). */
static void route_random(struct api *a, struct http_req *r,
			 const struct request_path *path)
{
	static const char *const allowed[] = { "type", "count", NULL };
	const char *type = http_query(r, "type");
	struct rpool *p;
	uint64_t n, one, *vals = &one;

	(void)path;
	if (api_bad_query(r, allowed))
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
	if (!api_get_count(r, pool_max_count(p), &n))
		return;
	if (n > 1 && !(vals = malloc(n * sizeof(*vals)))) {
		http_error(r, 500, NULL, "internal", "out of memory");
		return;
	}
	draw_answer(a, r, p, n, vals, answer_numbers);
	if (vals != &one)
		free(vals);
}

/* ---- POST /pools/{name}/next ------------------------------------ */

/* draw_ok_fn of POST /pools/{name}/next. */
static void answer_values(struct api *a, struct http_req *r,
			  struct rpool *p, uint64_t n, const uint64_t *vals,
			  unsigned shard)
{
	struct buf b = BUF_INIT;
	uint64_t i;

	api_count_served(a, r, p->def, n);
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
	api_reply(r, 200, "application/json", &b, NULL);
}

static void route_next(struct api *a, struct http_req *r,
		       const struct request_path *path)
{
	static const char *const allowed[] = { "count", NULL };
	struct seq *sp;
	struct rpool *p;
	uint64_t n, *vals;

	if (api_bad_query(r, allowed))
		return;
	if ((sp = pools_seq(a->pools, path->seg[1]))) {
		api_seq_next(r, sp);
		return;
	}
	if (pools_lease(a->pools, path->seg[1])) {
		http_error(r, 400, NULL, "wrong_kind",
			   "pool \"%s\" lends numbers: borrow one with "
			   "POST /pools/%s/leases", path->seg[1], path->seg[1]);
		return;
	}
	if (!(p = api_find_pool(a, r, path->seg[1])))
		return;
	if (!api_get_count(r, pool_max_count(p), &n))
		return;
	vals = malloc(n * sizeof(*vals));
	if (!vals) {
		http_error(r, 500, NULL, "internal", "out of memory");
		return;
	}
	draw_answer(a, r, p, n, vals, answer_values);
	free(vals);
}

/* ---- GET /pools, GET /pools/{name} ------------------------------ */

static int describe_pool(struct api *a, struct rpool *p, struct buf *b)
{
	const struct pool_def *d = p->def;
	struct ledger_rec rec;
	struct refill_stats st;
	char text[VALUE_TEXT_MAX + 1];
	uint64_t ready = 0, sready[POOL_SHARDS_MAX], issued = 0;
	unsigned i;
	int rc;

	/* Stock first, then issued: what was ready had been issued, and
	 * issued only grows, so ready <= issued even while a refill runs. */
	for (i = 0; i < p->nserving && i < POOL_SHARDS_MAX; i++) {
		sready[i] = rpool_shard_ready(p, i);
		ready += sready[i];
	}
	rc = ledger_issued(&a->pools->ledger, d->name, &rec, &issued);
	if (rc)
		return rc;
	refill_stats(a->refill, p, &st);
	buf_adds(b, "{\"name\":");
	buf_add_json_str(b, d->name);
	if (d->kind == POOL_CODE) {
		static const struct code_prefix all = { 0 };

		/* Issued by every stream: the root's and the prefixes'. */
		rc = codepool_count(&a->pools->ledger, d, &all, &issued);
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
	buf_add_u64(b, issued);
	buf_adds(b, ",\"remaining\":");
	if (rec.flags & LEDGER_REC_CLUSTER) {
		/* What this node can still know without asking etcd on a
		 * request: the cluster's counter as last read, and its own
		 * unused blocks. Other nodes' unused blocks are not
		 * counted; they may yet serve or be burned. */
		uint64_t reserved = atomic_load(&p->cluster_reserved), unused,
			 end;

		rc = ledger_block_stock(&a->pools->ledger, d->name, &unused,
					&end);
		if (rc)
			return rc;
		if (reserved > rec.capacity)
			reserved = rec.capacity;
		buf_add_u64(b, rec.capacity - reserved + unused);
		buf_adds(b, ",\"remaining_counts\":\"values no node has "
			    "reserved, plus this node's unused blocks\","
			    "\"cluster\":{\"node\":");
		buf_add_json_str(b, a->cfg->node);
		buf_adds(b, ",\"reserved\":");
		buf_add_u64(b, reserved);
		buf_adds(b, ",\"stock\":");
		buf_add_u64(b, unused);
		buf_addc(b, '}');
	} else {
		buf_add_u64(b, rec.capacity - issued);
	}
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
			const struct request_path *path)
{
	static const char *const allowed[] = { NULL };
	struct buf b = BUF_INIT;
	size_t i;
	int rc = 0;

	(void)path;
	if (api_bad_query(r, allowed))
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
		rc = api_seq_describe(&a->pools->seqs[i], &b);
	}
	for (i = 0; i < a->pools->nleases && rc == 0; i++) {
		if (i || a->pools->npools || a->pools->nseqs)
			buf_addc(&b, ',');
		rc = api_lease_describe(&a->pools->leases[i], &b);
	}
	buf_adds(&b, "]}");
	api_reply_buf(r, &b, rc);
}

static void route_pool(struct api *a, struct http_req *r,
		       const struct request_path *path)
{
	static const char *const allowed[] = { NULL };
	struct buf b = BUF_INIT;
	struct lease *lp;
	struct seq *sp;
	struct rpool *p;

	if (api_bad_query(r, allowed))
		return;
	if ((sp = pools_seq(a->pools, path->seg[1]))) {
		api_reply_buf(r, &b, api_seq_describe(sp, &b));
		return;
	}
	if ((lp = pools_lease(a->pools, path->seg[1]))) {
		api_reply_buf(r, &b, api_lease_describe(lp, &b));
		return;
	}
	if (!(p = api_find_pool(a, r, path->seg[1])))
		return;
	api_reply_buf(r, &b, describe_pool(a, p, &b));
}

/* ---- GET /pools/{name}/values/{value} --------------------------- */

/*
 * A cluster pool's value this node did not issue: which node's block in
 * etcd holds its permutation index, asked on an ask thread (the
 * request is suspended meanwhile, no HTTP thread waits on etcd).
 */
struct block_call {
	struct api_call call;	/* first: freed with the request */
	struct ask_op op;
	struct rpool *p;
	uint64_t k, index;
	bool found;
	char node[CLUSTER_NODE_MAX + 1];
	uint64_t first, count, ms;
};

static void block_run(struct ask_op *op, struct etcd *e)
{
	struct block_call *bc = api_container_of(op, struct block_call, op);
	char pre[POOL_NAME_MAX + 32], end[POOL_NAME_MAX + 64];
	struct etcd_result res = { 0 };
	struct reserve_block rb;
	int pl, el;

	pl = cluster_key(pre, sizeof(pre), "pool/%s/block/", bc->p->def->name);
	el = cluster_key(end, sizeof(end), "pool/%s/block/%020" PRIu64 "~",
			 bc->p->def->name, bc->index);
	if (pl < 0 || el < 0) {
		op->rc = -ENAMETOOLONG;
		return;
	}
	/* '~' sorts after every digit: the blocks whose first <= index. */
	op->rc = etcd_get_last(e, pre, (size_t)pl, end, (size_t)el, &res);
	if (op->rc || res.nranges != 1 || res.ranges[0].n != 1)
		goto out;
	op->rc = reserve_block_parse(res.ranges[0].kvs[0].value, &rb);
	if (op->rc)
		goto out;
	bc->first = rb.first;
	bc->count = rb.count;
	bc->ms = rb.ms;
	snprintf(bc->node, sizeof(bc->node), "%s", rb.node);
	bc->found = bc->index >= bc->first &&
		    bc->index - bc->first < bc->count;
out:
	etcd_result_release(&res);
}

static void block_done(struct ask_op *op)
{
	struct block_call *bc = api_container_of(op, struct block_call, op);

	api_call_done(&bc->call, op->rc);
}

static void block_answer(struct api *a, struct http_req *r,
			 struct api_call *call)
{
	struct block_call *bc = api_container_of(call, struct block_call,
						 call);
	char text[VALUE_TEXT_MAX + 1], when[CLOCK_RFC3339_LEN];
	struct buf b = BUF_INIT;

	if (call->rc == -EAGAIN) {
		api_answer_commit_error(r, OUTCOME_CLUSTER_DOWN, "lookup");
		return;
	}
	if (call->rc) {
		api_answer_commit_error(r, call->rc, "lookup");
		return;
	}
	buf_adds(&b, "{\"pool\":");
	buf_add_json_str(&b, bc->p->def->name);
	buf_adds(&b, ",\"value\":");
	buf_add(&b, text, value_format(bc->p->def, bc->k, text));
	if (!bc->found) {
		buf_adds(&b, ",\"issued\":false}");
	} else {
		/* Reserved to another node: whether it has served the value
		 * is that node's to say (its own GET of this path). */
		clock_rfc3339(bc->ms, when, sizeof(when));
		buf_printf(&b, ",\"issued\":true,\"issued_at\":\"%s\","
			   "\"node\":", when);
		buf_add_json_str(&b, bc->node);
		buf_adds(&b, ",\"block\":{\"first\":");
		buf_add_u64(&b, bc->first);
		buf_adds(&b, ",\"count\":");
		buf_add_u64(&b, bc->count);
		buf_adds(&b, "}}");
	}
	api_reply_buf(r, &b, 0);
	(void)a;
}

/* A cluster pool's lookup: this node's own values from its ledger (with
 * "node"), any other from etcd. Returns true when it answered or
 * suspended r. */
static bool cluster_value(struct api *a, struct http_req *r,
			  struct rpool *p, uint64_t k)
{
	char text[VALUE_TEXT_MAX + 1], when[CLOCK_RFC3339_LEN];
	struct rpool_lookup lk;
	struct block_call *bc;
	struct buf b = BUF_INIT;
	int rc;

	if (!a->ask || p->def->kind == POOL_CODE)
		return false;
	rc = rpool_lookup(p, k, &lk);
	if (rc)
		return false;	/* the common path says why */
	if (lk.issued) {
		clock_rfc3339(lk.issued_ms, when, sizeof(when));
		buf_adds(&b, "{\"pool\":");
		buf_add_json_str(&b, p->def->name);
		buf_adds(&b, ",\"value\":");
		buf_add(&b, text, value_format(p->def, k, text));
		buf_printf(&b, ",\"issued\":true,\"issued_at\":\"%s\","
			   "\"shard\":\"%s_shard_%u\",\"served\":%s,"
			   "\"node\":", when, p->def->name, lk.shard,
			   lk.in_shard || lk.in_hopper ? "false" : "true");
		buf_add_json_str(&b, a->cfg->node);
		buf_addc(&b, '}');
		api_reply_buf(r, &b, 0);
		return true;
	}
	bc = calloc(1, sizeof(*bc));
	if (!bc)
		return false;
	bc->p = p;
	bc->k = k;
	bc->index = lk.index;
	bc->op.run = block_run;
	bc->op.done = block_done;
	if (api_call_suspend(r, &bc->call, NULL, block_answer))
		return true;	/* freed, and answered 500 */
	ask_submit(a->ask, &bc->op);
	return true;
}

static void route_value(struct api *a, struct http_req *r,
			const struct request_path *path)
{
	static const char *const allowed[] = { NULL };
	struct request_error e;
	struct buf b = BUF_INIT;
	struct seq *sp;
	struct rpool *p;
	uint64_t k;
	int rc;

	if (api_bad_query(r, allowed))
		return;
	if ((sp = pools_seq(a->pools, path->seg[1]))) {
		api_seq_value(r, sp, path->seg[3]);
		return;
	}
	if (pools_lease(a->pools, path->seg[1])) {
		http_error(r, 400, NULL, "wrong_kind",
			   "pool \"%s\" lends numbers: see GET "
			   "/pools/%s/leases", path->seg[1], path->seg[1]);
		return;
	}
	if (!(p = api_find_pool(a, r, path->seg[1])))
		return;
	if (request_value(p->def, path->seg[3], &k, &e)) {
		api_answer_bad(r, &e);
		return;
	}
	if (cluster_value(a, r, p, k))
		return;
	rc = rpool_lookup_json(p, k, &b);
	if (rc) {
		buf_release(&b);
		http_error(r, 500, NULL, "internal",
			   "could not read the ledger: %s", log_strerror(rc));
		return;
	}
	api_reply_buf(r, &b, 0);
}

const struct api_route api_random_routes[] = {
	{ "GET", "/random", route_random, true },
	{ "GET", "/pools", route_pools, false },
	{ "GET", "/pools/*", route_pool, false },
	{ "POST", "/pools/*/next", route_next, true },
	{ "GET", "/pools/*/values/*", route_value, false },
	{ NULL, NULL, NULL, false },
};
