/*
 * api.c: the routes: matching, parameters, and answers; see api.h.
 *
 * Responses are written with common/buf.h rather than cJSON: values and
 * capacities are 64-bit integers that cJSON would print through a double,
 * and /random is the hot path.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <microhttpd.h>

#include "common/buf.h"
#include "common/clock.h"
#include "common/log.h"
#include "common/parse.h"
#include "common/value.h"
#include "server/api.h"
#include "common/banned.h"

#define MAX_SEGS 6
#define SEG_MAX 128

/* A request's path, split at '/'. */
struct route_args {
	char buf[512];
	const char *seg[MAX_SEGS];
	unsigned n;
};

typedef void (*route_fn)(struct api *a, struct http_req *r,
			 const struct route_args *ra);

struct route {
	const char *method;
	const char *pattern;	/* segments; "*" matches any one */
	route_fn fn;
};

static const char *const RETRY_1[] = { "Retry-After", "1", NULL };

/* ---- helpers ------------------------------------------------------ */

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
	const char *s = http_query(r, "count");
	int rc;

	*count = 1;
	if (!s)
		return true;
	rc = parse_u64(s, 1, max, count);
	if (rc == 0)
		return true;
	if (max < API_COUNT_MAX && rc == -ERANGE &&
	    !parse_u64(s, 1, API_COUNT_MAX, count))
		http_error(r, 400, NULL, "bad_parameter",
			   "count must be from 1 to %llu for this pool (its "
			   "shards keep %llu values at hand)",
			   (unsigned long long)max, (unsigned long long)max);
	else
		http_error(r, 400, NULL, "bad_parameter",
			   "count must be an integer from 1 to %llu",
			   (unsigned long long)max);
	return false;
}

static uint64_t pool_max_count(const struct pool *p)
{
	return p->hopper_cap < API_COUNT_MAX ? p->hopper_cap : API_COUNT_MAX;
}

static struct pool *find_pool(struct api *a, struct http_req *r,
			      const char *name)
{
	struct pool *p = pool_set_find(a->pools, name);

	if (!p)
		http_error(r, 404, NULL, "unknown_pool",
			   "there is no pool named \"%.40s\"", name);
	return p;
}

static void answer_draw_error(struct http_req *r, struct pool *p, int rc,
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

/* ---- GET /random ------------------------------------------------- */

/*
 * Draws n values of the pool named by ?type and answers in the seed's
 * shapes: {"number": N, "shard": S}, or {"numbers": [...], "shard": S}
 * for count > 1.
 */
static void route_random(struct api *a, struct http_req *r,
			 const struct route_args *ra)
{
	static const char *const allowed[] = { "type", "count", NULL };
	const char *type = http_query(r, "type");
	struct pool *p;
	uint64_t n, one, *vals = &one;
	unsigned shard;
	char text[VALUE_TEXT_MAX + 1];
	int rc;

	(void)ra;
	if (bad_query(r, allowed))
		return;
	if (!type)
		type = "int";
	p = pool_set_find(a->pools, type);
	if (!p) {
		http_error(r, 400, NULL, "bad_parameter",
			   "type must be int or float (or the name of another "
			   "int or float pool), not \"%.40s\"", type);
		return;
	}
	if (!get_count(r, pool_max_count(p), &n))
		return;
	if (n > 1 && !(vals = malloc(n * sizeof(*vals)))) {
		http_error(r, 500, NULL, "internal", "out of memory");
		return;
	}
	rc = pool_draw(p, n, vals, &shard, r->thread);
	if (rc) {
		answer_draw_error(r, p, rc, n);
		goto out;
	}
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
		       const struct route_args *ra)
{
	static const char *const allowed[] = { "count", NULL };
	struct pool *p;
	struct buf b = BUF_INIT;
	uint64_t n, i, *vals;
	unsigned shard;
	char text[VALUE_TEXT_MAX + 1], *body;
	size_t len;
	int rc;

	if (bad_query(r, allowed) || !(p = find_pool(a, r, ra->seg[1])))
		return;
	if (!get_count(r, pool_max_count(p), &n))
		return;
	vals = malloc(n * sizeof(*vals));
	if (!vals) {
		http_error(r, 500, NULL, "internal", "out of memory");
		return;
	}
	rc = pool_draw(p, n, vals, &shard, r->thread);
	if (rc) {
		answer_draw_error(r, p, rc, n);
		goto out;
	}
	buf_adds(&b, "{\"values\":[");
	for (i = 0; i < n; i++) {
		if (i)
			buf_addc(&b, ',');
		buf_add(&b, text, value_format(p->def, vals[i], text));
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

static int describe_pool(struct api *a, struct pool *p, struct buf *b)
{
	const struct pool_def *d = p->def;
	struct ledger_pool rec;
	struct refill_stats st;
	char text[VALUE_TEXT_MAX + 1];
	uint64_t ready = 0, sready;
	unsigned i;
	int rc;

	rc = ledger_pool_get(&a->pools->ledger, d->name, &rec);
	if (rc)
		return rc;
	refill_stats(a->refill, p, &st);
	buf_adds(b, "{\"name\":");
	buf_add_json_str(b, d->name);
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
	buf_adds(b, ",\"capacity\":");
	buf_add_u64(b, rec.capacity);
	buf_adds(b, ",\"issued\":");
	buf_add_u64(b, rec.counter);
	buf_adds(b, ",\"remaining\":");
	buf_add_u64(b, rec.capacity - rec.counter);
	buf_adds(b, ",\"shards\":[");
	for (i = 0; i < p->nserving; i++) {
		sready = pool_shard_ready(p, i);
		ready += sready;
		if (i)
			buf_addc(b, ',');
		buf_adds(b, "{\"name\":");
		buf_add_json_str(b, p->shards[i].shard.name);
		buf_adds(b, ",\"ready\":");
		buf_add_u64(b, sready);
		buf_addc(b, '}');
	}
	buf_adds(b, "],\"ready\":");
	buf_add_u64(b, ready);
	buf_printf(b, ",\"max_count\":%llu,\"refills\":%llu}",
		   (unsigned long long)pool_max_count(p),
		   (unsigned long long)st.grants);
	return 0;
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

static void route_pools(struct api *a, struct http_req *r,
			const struct route_args *ra)
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
	buf_adds(&b, "]}");
	reply_buf(r, &b, rc);
}

static void route_pool(struct api *a, struct http_req *r,
		       const struct route_args *ra)
{
	static const char *const allowed[] = { NULL };
	struct buf b = BUF_INIT;
	struct pool *p;

	if (bad_query(r, allowed) || !(p = find_pool(a, r, ra->seg[1])))
		return;
	reply_buf(r, &b, describe_pool(a, p, &b));
}

/* ---- GET /pools/{name}/values/{value} --------------------------- */

static void route_value(struct api *a, struct http_req *r,
			const struct route_args *ra)
{
	static const char *const allowed[] = { NULL };
	struct buf b = BUF_INIT;
	struct pool *p;
	uint64_t k;
	int rc;

	if (bad_query(r, allowed) || !(p = find_pool(a, r, ra->seg[1])))
		return;
	rc = value_parse(p->def, ra->seg[3], &k);
	if (rc == -ERANGE) {
		char lo[VALUE_TEXT_MAX + 1], hi[VALUE_TEXT_MAX + 1];

		value_format(p->def, 0, lo);
		value_format(p->def, p->def->capacity - 1, hi);
		http_error(r, 400, NULL, "bad_value",
			   "%.40s is outside pool \"%s\" (%s to %s)",
			   ra->seg[3], p->def->name, lo, hi);
		return;
	}
	if (rc) {
		http_error(r, 400, NULL, "bad_value",
			   "\"%.40s\" is not a value of pool \"%s\" (%s%s)",
			   ra->seg[3], p->def->name,
			   p->def->kind == POOL_FLOAT ?
				   "a decimal number with at most " :
				   "an integer",
			   p->def->kind == POOL_FLOAT ? "its decimals" : "");
		return;
	}
	rc = pool_lookup_json(p, k, &b);
	if (rc) {
		buf_release(&b);
		http_error(r, 500, NULL, "internal",
			   "could not read the ledger: %s", log_strerror(rc));
		return;
	}
	reply_buf(r, &b, 0);
}

/* ---- GET /healthz ------------------------------------------------ */

static void route_healthz(struct api *a, struct http_req *r,
			  const struct route_args *ra)
{
	static const char ok[] = "{\"status\":\"ok\"}";

	(void)a;
	(void)ra;
	http_reply_json(r, 200, ok, sizeof(ok) - 1);
}

/* ---- dispatch ---------------------------------------------------- */

static const struct route routes[] = {
	{ "GET", "/random", route_random },
	{ "GET", "/pools", route_pools },
	{ "GET", "/pools/*", route_pool },
	{ "POST", "/pools/*/next", route_next },
	{ "GET", "/pools/*/values/*", route_value },
	{ "GET", "/healthz", route_healthz },
};

/* Splits path into segments; returns -EINVAL for one too long, too many
 * or empty ones ("//"). A single trailing '/' is ignored. */
static int split_path(const char *path, struct route_args *ra)
{
	size_t len = strlen(path);
	char *p, *slash;

	ra->n = 0;
	if (len == 0 || path[0] != '/' || len >= sizeof(ra->buf))
		return -EINVAL;
	memcpy(ra->buf, path + 1, len); /* includes the NUL */
	len--;
	if (len && ra->buf[len - 1] == '/')
		ra->buf[--len] = '\0';
	if (len == 0)
		return 0;
	for (p = ra->buf;; p = slash + 1) {
		if (ra->n == MAX_SEGS)
			return -EINVAL;
		slash = strchr(p, '/');
		if (slash)
			*slash = '\0';
		if (!*p || strlen(p) > SEG_MAX)
			return -EINVAL;
		ra->seg[ra->n++] = p;
		if (!slash)
			return 0;
	}
}

static bool pattern_match(const char *pattern, const struct route_args *ra)
{
	const char *p = pattern + 1, *end;
	unsigned i = 0;
	size_t n;

	while (*p) {
		end = strchr(p, '/');
		n = end ? (size_t)(end - p) : strlen(p);
		if (i >= ra->n)
			return false;
		if (!(n == 1 && *p == '*') &&
		    (strlen(ra->seg[i]) != n || memcmp(ra->seg[i], p, n)))
			return false;
		i++;
		p += n;
		if (*p == '/')
			p++;
	}
	return i == ra->n;
}

void api_handle(struct http_req *r, void *arg)
{
	struct api *a = arg;
	struct route_args ra;
	char allow[64] = "";
	const char *method = r->method;
	bool head = !strcmp(method, "HEAD");
	size_t i;

	if (split_path(r->path, &ra)) {
		http_error(r, 404, NULL, "not_found", "no such route");
		return;
	}
	for (i = 0; i < sizeof(routes) / sizeof(routes[0]); i++) {
		if (!pattern_match(routes[i].pattern, &ra))
			continue;
		/* HEAD is GET without the body, except where a GET hands out
		 * a value: a HEAD must not burn one. */
		if (!strcmp(routes[i].method, method) ||
		    (head && !strcmp(routes[i].method, "GET") &&
		     routes[i].fn != route_random)) {
			routes[i].fn(a, r, &ra);
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
		return;
	}
	http_error(r, 404, NULL, "not_found", "no such route: %.100s",
		   r->path);
}
