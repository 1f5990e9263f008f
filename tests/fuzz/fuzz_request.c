/*
 * fuzz_request.c: what a client sends uniqd (server/request.h), from any
 * bytes: paths and route patterns, query parameters (count, holder,
 * prefix), headers (Idempotency-Key, Authorization), path segments (lease
 * numbers, job ids, values) and the JSON bodies of a job, a borrow or a
 * renew, and seed 001's return.
 *
 * The input is one byte that picks the parser, one byte of shape (which
 * pool, which bound, a flag), then the text (for some parsers two texts
 * separated by '\n'). Each parser is checked against its contract in
 * request.h: what it accepts is within range and written back as given;
 * what it refuses comes with an answer (400 or 404, a code, a message).
 */
#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/code.h"
#include "common/config.h"
#include "common/parse.h"
#include "common/value.h"
#include "server/api_route.h"
#include "server/request.h"
#include "tests/fuzz/fuzz.h"
#include "common/banned.h"

#define MAX_SAFE_INT 9007199254740991LL /* 2^53 - 1 */

/* The server's route patterns, each once, in the order api_routes()
 * (server/api_route.h) matches them. */
static const char *patterns[METRICS_ROUTES_MAX];
static size_t npatterns;

/* The pools the parsers are tried on, made once by config.c. */
static const char pools_json[] =
	"{\"pools\":["
	"{\"name\":\"int\",\"kind\":\"int\"},"
	"{\"name\":\"small\",\"kind\":\"int\",\"min\":-5,\"max\":5},"
	"{\"name\":\"wide\",\"kind\":\"int\",\"min\":\"-9223372036854775808\","
	"\"max\":\"9223372036854775806\"},"
	"{\"name\":\"float\",\"kind\":\"float\"},"
	"{\"name\":\"price\",\"kind\":\"float\",\"decimals\":2,\"min\":-10,"
	"\"max\":\"99.99\"},"
	"{\"name\":\"whole\",\"kind\":\"float\",\"decimals\":0,\"min\":1,"
	"\"max\":1000},"
	"{\"name\":\"codes\",\"kind\":\"code\"},"
	"{\"name\":\"tickets\",\"kind\":\"code\",\"pattern\":\"TK-###-##\","
	"\"alphabet\":\"ABC123\"},"
	"{\"name\":\"bits\",\"kind\":\"code\",\"pattern\":\"#\","
	"\"alphabet\":\"01\"},"
	"{\"name\":\"users\",\"kind\":\"lease\"},"
	"{\"name\":\"neg\",\"kind\":\"lease\",\"start\":-100,\"count\":50},"
	"{\"name\":\"top\",\"kind\":\"lease\",\"start\":9007199254740982,"
	"\"count\":10},"
	"{\"name\":\"bottom\",\"kind\":\"lease\",\"start\":-9007199254740991,"
	"\"count\":3}"
	"]}";

static struct config cfg;
static const struct pool_def *random_pools[16], *code_pools[16],
	*lease_pools[16];
static size_t nrandom, ncode, nlease;

static void setup(void)
{
	static bool done;
	const struct api_route *routes;
	char err[256] = "";
	size_t i, j, nroutes;

	if (done)
		return;
	routes = api_routes(&nroutes);
	FUZZ_CHECK(routes && nroutes > 0);
	for (i = 0; i < nroutes; i++) {
		for (j = 0; j < npatterns; j++)
			if (!strcmp(patterns[j], routes[i].pattern))
				break;
		if (j == npatterns)
			patterns[npatterns++] = routes[i].pattern;
	}
	FUZZ_CHECK(config_default(&cfg) == 0);
	FUZZ_CHECKF(config_parse(&cfg, pools_json, err, sizeof(err)) == 0,
		    "%s", err);
	for (i = 0; i < cfg.npools; i++) {
		const struct pool_def *d = &cfg.pools[i];

		if (config_kind_is_random(d->kind))
			random_pools[nrandom++] = d;
		if (d->kind == POOL_CODE)
			code_pools[ncode++] = d;
		if (d->kind == POOL_LEASE)
			lease_pools[nlease++] = d;
	}
	done = true;
}

/* A refusal comes with an answer. */
static void check_error(const struct request_error *e, unsigned status)
{
	FUZZ_CHECKF(e->status == status, "status %u, expected %u", e->status,
		    status);
	FUZZ_CHECK(e->code && e->code[0]);
	FUZZ_CHECK(e->message[0] &&
		   strnlen(e->message, sizeof(e->message)) <
			   sizeof(e->message));
}

static struct request_error fresh_error(void)
{
	struct request_error e;

	memset(&e, 0, sizeof(e));
	return e;
}

static bool is_code(const struct request_error *e, const char *const *codes)
{
	for (; *codes; codes++)
		if (!strcmp(e->code, *codes))
			return true;
	return false;
}

/* -?(0|[1-9][0-9]*) but "-0", within int64: the server's way of writing
 * an integer. *bad is set for text that is not such a number at all. */
static bool canonical_i64(const char *text, int64_t *v, bool *bad)
{
	char back[32];

	*bad = true;
	if (parse_i64(text, INT64_MIN, INT64_MAX, v)) {
		const char *s = text + (text[0] == '-');
		size_t n = strlen(s);

		/* All digits and no leading zero, but beyond int64. */
		if (n > 1 && s[0] != '0' && strspn(s, "0123456789") == n)
			*bad = false;
		return false;
	}
	snprintf(back, sizeof(back), "%lld", (long long)*v);
	*bad = strcmp(back, text) != 0;
	return !*bad;
}

/* ---- paths --------------------------------------------------------- */

/* request_split_path's contract, restated: segments of at most
 * REQUEST_SEG_MAX bytes, REQUEST_SEGS_MAX of them. */
static int ref_split(const char *path, char segs[][REQUEST_PATH_MAX + 1],
		     unsigned *n)
{
	size_t len = strlen(path), i, start;

	*n = 0;
	if (len == 0 || path[0] != '/' || len > REQUEST_PATH_MAX)
		return -EINVAL;
	path++;
	len--;
	if (len && path[len - 1] == '/')
		len--;
	if (len == 0)
		return 0;
	for (i = 0, start = 0; i <= len; i++) {
		if (i < len && path[i] != '/')
			continue;
		if (*n == REQUEST_SEGS_MAX || i == start ||
		    i - start > REQUEST_SEG_MAX)
			return -EINVAL;
		memcpy(segs[*n], path + start, i - start);
		segs[*n][i - start] = '\0';
		(*n)++;
		start = i + 1;
	}
	return 0;
}

/* A well-formed pattern: "/", or '/'-separated non-empty segments. */
static bool pattern_ok(const char *pattern)
{
	size_t n = strlen(pattern);

	return pattern[0] == '/' &&
	       (n == 1 || (pattern[n - 1] != '/' && !strstr(pattern, "//")));
}

/* request_route_match's contract, restated. */
static bool ref_match(const char *pattern, const struct request_path *p)
{
	char copy[REQUEST_PATH_MAX + 1];
	const char *s;
	unsigned i = 0;
	size_t n;

	if (!strcmp(pattern, "/"))
		return p->n == 0;
	snprintf(copy, sizeof(copy), "%s", pattern + 1);
	for (s = copy; s; s = strchr(s, '/') ? strchr(s, '/') + 1 : NULL) {
		n = strcspn(s, "/");
		if (i >= p->n)
			return false;
		if (!(n == 1 && s[0] == '*') &&
		    (strlen(p->seg[i]) != n || strncmp(p->seg[i], s, n)))
			return false;
		i++;
	}
	return i == p->n;
}

static void fuzz_path(const char *path, const char *pattern)
{
	static char segs[REQUEST_SEGS_MAX][REQUEST_PATH_MAX + 1];
	struct request_path p;
	char joined[REQUEST_PATH_MAX + 2];
	size_t i, len, plen;
	unsigned n;
	int rc;

	memset(&p, 0x5a, sizeof(p));
	rc = request_split_path(path, &p);
	FUZZ_CHECKF(rc == ref_split(path, segs, &n), "\"%s\": rc %d", path,
		    rc);
	if (rc)
		return;
	FUZZ_CHECK(p.n == n && p.n <= REQUEST_SEGS_MAX);
	joined[0] = '\0';
	for (i = 0; i < p.n; i++) {
		FUZZ_CHECK(!strcmp(p.seg[i], segs[i]));
		FUZZ_CHECK(p.seg[i][0] && !strchr(p.seg[i], '/') &&
			   strlen(p.seg[i]) <= REQUEST_SEG_MAX);
		len = strlen(joined);
		snprintf(joined + len, sizeof(joined) - len, "/%s", p.seg[i]);
	}
	/* Nothing lost: the path is its segments, but for a trailing '/'. */
	plen = strlen(path);
	len = strlen(joined);
	FUZZ_CHECKF((len == plen && !memcmp(joined, path, len)) ||
		    (len + 1 == plen && path[len] == '/' &&
		     !memcmp(joined, path, len)) ||
		    (len == 0 && plen == 2 && !strcmp(path, "//")),
		    "\"%s\" reads as \"%s\"", path, joined);
	for (i = 0; i < npatterns; i++)
		FUZZ_CHECKF(request_route_match(patterns[i], &p) ==
			    ref_match(patterns[i], &p), "%s on \"%s\"",
			    patterns[i], path);
	if (pattern_ok(pattern) && strlen(pattern) <= REQUEST_PATH_MAX)
		FUZZ_CHECKF(request_route_match(pattern, &p) ==
			    ref_match(pattern, &p), "%s on \"%s\"", pattern,
			    path);
}

/* Every route's pattern with seg in place of each "*" is that route. */
static void fuzz_route(unsigned shape, const char *seg)
{
	const char *pattern = patterns[shape % npatterns], *s;
	char path[REQUEST_PATH_MAX + 64];
	struct request_path p;
	size_t n = 0;

	if (!seg[0] || strchr(seg, '/') || strlen(seg) > REQUEST_SEG_MAX)
		return;
	for (s = pattern; *s && n + REQUEST_SEG_MAX + 2 < sizeof(path); s++) {
		if (*s == '*')
			n += (size_t)snprintf(path + n, sizeof(path) - n, "%s",
					      seg);
		else
			path[n++] = *s;
	}
	path[n] = '\0';
	if (n > REQUEST_PATH_MAX)
		return;
	FUZZ_CHECKF(request_split_path(path, &p) == 0, "%s", path);
	FUZZ_CHECKF(request_route_match(pattern, &p), "%s on %s", pattern,
		    path);
}

/* ---- query parameters and headers ---------------------------------- */

static void fuzz_count(unsigned shape, const char *text)
{
	static const uint64_t maxes[] = { 1, 2, 7, 100, 9999, 10000 };
	uint64_t max = maxes[shape % 6], count = 0, want;
	struct request_error e = fresh_error();
	const char *t = shape & 0x80 ? NULL : text;
	int rc = request_count(t, max, &count, &e);

	if (!t) {
		FUZZ_CHECK(rc == 0 && count == 1);
		return;
	}
	FUZZ_CHECK(rc == parse_u64(text, 1, max, &want));
	if (rc == 0)
		FUZZ_CHECK(count == want && count >= 1 && count <= max);
	else
		check_error(&e, 400);
}

static void fuzz_headers(unsigned shape, const char *text)
{
	struct request_error e = fresh_error();
	size_t n = strlen(text), i;
	bool visible = true, printable = true;

	for (i = 0; i < n; i++) {
		visible &= text[i] > 0x20 && text[i] < 0x7f;
		printable &= text[i] >= 0x20 && text[i] < 0x7f;
	}
	if (request_idem_key(text, &e) == 0)
		FUZZ_CHECK(n >= 1 && n <= 255 && visible);
	else
		FUZZ_CHECK(!(n >= 1 && n <= 255 && visible));
	FUZZ_CHECK(request_idem_key(NULL, &e) == 0);
	FUZZ_CHECK(request_holder_ok(text) ==
		   (n <= REQUEST_HOLDER_MAX && printable));
	e = fresh_error();
	if (request_holder_param(text, &e))
		check_error(&e, 400);
	else
		FUZZ_CHECK(n <= REQUEST_HOLDER_MAX && printable);
	FUZZ_CHECK(request_holder_param(NULL, &e) == 0);
	/* An Accept header: text only when text/plain or text/ANY is
	 * named in it, and never when JSON is named first at full q. */
	if (request_wants_text(text))
		FUZZ_CHECK(strcasestr(text, "text/") != NULL);
	FUZZ_CHECK(!request_wants_text(NULL));
	FUZZ_CHECK(request_wants_text("text/plain"));
	FUZZ_CHECK(!request_wants_text("*/*"));
	FUZZ_CHECK(!request_wants_text("text/plain, application/json"));
	FUZZ_CHECK(request_wants_text("application/json;q=0.5, text/*"));
	FUZZ_CHECK(!request_wants_text("text/plain;q=0"));
	(void)shape;
}

/* The contract of request_auth_ok, restated: "Bearer" in any case, one
 * or more spaces, then exactly the token. */
static bool auth_grants(const char *auth, const char *token)
{
	static const char scheme[] = "bearer";
	size_t i;

	for (i = 0; i < 6; i++)
		if (auth[i] != scheme[i] && auth[i] != scheme[i] - 'a' + 'A')
			return false;
	if (auth[6] != ' ')
		return false;
	for (auth += 6; *auth == ' '; auth++)
		;
	return !strcmp(auth, token);
}

static void fuzz_auth(unsigned shape, const char *auth, const char *token)
{
	static const char *const schemes[] = { "Bearer ", "bearer ", "BEARER ",
					       "bEaReR   " };
	static const char *const refused[] = { "Bearer", "Bearer\t",
					       "Bearerx ", "Basic ", "Bear ",
					       " Bearer ", "" };
	char want[600];
	size_t i;
	bool ok;

	if (strlen(token) > 512)
		return;
	if (shape & 1) {
		FUZZ_CHECK(request_auth_ok(auth, NULL));
		FUZZ_CHECK(request_auth_ok(NULL, NULL));
		return;
	}
	ok = request_auth_ok(shape & 2 ? NULL : auth, token);
	FUZZ_CHECKF(ok == (!(shape & 2) && auth_grants(auth, token)),
		    "\"%s\" for token \"%s\": %d", auth, token, ok);
	/* The token given under each spelling of the scheme, and under
	 * schemes that are not Bearer: granted exactly when the
	 * restatement says so (a token starting with a space never is). */
	for (i = 0; i < sizeof(schemes) / sizeof(schemes[0]); i++) {
		snprintf(want, sizeof(want), "%s%s", schemes[i], token);
		ok = request_auth_ok(want, token);
		FUZZ_CHECKF(ok == (token[0] != ' '), "\"%s\" for token "
			    "\"%s\": %d", want, token, ok);
	}
	for (i = 0; i < sizeof(refused) / sizeof(refused[0]); i++) {
		snprintf(want, sizeof(want), "%s%s", refused[i], token);
		ok = request_auth_ok(want, token);
		FUZZ_CHECKF(ok == auth_grants(want, token), "\"%s\" for "
			    "token \"%s\": %d", want, token, ok);
	}
}

/* ---- path segments ------------------------------------------------- */

static void fuzz_lease_number(unsigned shape, const char *text)
{
	const struct pool_def *d = lease_pools[shape % nlease];
	struct request_error e = fresh_error();
	int64_t n = 0, want = 0;
	bool canon, bad;
	int rc;

	if (!text[0])
		return;	/* a path segment is never empty */
	rc = request_lease_number(d, text, &n, &e);
	canon = canonical_i64(text, &want, &bad);
	if (rc == 0) {
		FUZZ_CHECKF(canon && n == want, "\"%s\" read as %lld", text,
			    (long long)n);
		FUZZ_CHECK(n >= d->min &&
			   (fuzz_i128)n < (fuzz_i128)d->min + d->capacity);
		return;
	}
	if (rc == -ERANGE) {
		check_error(&e, 404);
		FUZZ_CHECKF(!bad, "\"%s\" is not a number, yet 404", text);
		FUZZ_CHECK(!canon || want < d->min ||
			   (fuzz_i128)want >= (fuzz_i128)d->min + d->capacity);
	} else {
		FUZZ_CHECKF(rc == -EINVAL, "rc %d", rc);
		check_error(&e, 400);
		FUZZ_CHECKF(!canon, "\"%s\" is a number, yet 400", text);
	}
}

static void fuzz_job_id(const char *text)
{
	struct request_error e = fresh_error();
	uint64_t id = 0;
	char back[32];

	if (request_job_id(text, &id, &e)) {
		check_error(&e, 404);
		return;
	}
	FUZZ_CHECK(id >= 1 && id <= INT64_MAX);
	snprintf(back, sizeof(back), "%llu", (unsigned long long)id);
	FUZZ_CHECKF(!strcmp(back, text), "\"%s\" read as %s", text, back);
}

static void fuzz_value(unsigned shape, const char *text)
{
	const struct pool_def *d = random_pools[shape % nrandom];
	struct request_error e = fresh_error();
	uint64_t k = 0, want = 0;
	int rc = request_value(d, text, &k, &e);

	FUZZ_CHECK(rc == value_parse(d, text, &want));
	if (rc == 0) {
		FUZZ_CHECK(k == want && k < d->capacity);
		return;
	}
	check_error(&e, 400);
	FUZZ_CHECK(!strcmp(e.code, "bad_value") && strstr(e.message, d->name));
}

static void fuzz_prefix(unsigned shape, const char *text)
{
	const struct pool_def *d = code_pools[shape % ncode];
	struct request_error e = fresh_error();
	struct code_prefix p, q;
	int rc = request_prefix(d, text, &p, &e);

	FUZZ_CHECK(rc == code_prefix_parse(d, text, &q));
	if (rc == 0) {
		FUZZ_CHECK(p.len == q.len && p.value == q.value &&
			   !strcmp(p.canon, q.canon) && p.len < d->slots);
		return;
	}
	check_error(&e, 400);
	FUZZ_CHECK(!strcmp(e.code, "bad_prefix"));
}

/* ---- bodies -------------------------------------------------------- */

static void fuzz_lease_body(unsigned shape, const char *body)
{
	static const char *const codes[] = { "bad_json", "bad_parameter",
					     "unknown_parameter", NULL };
	struct request_error e = fresh_error();
	struct request_lease lb;
	size_t len = shape & 1 ? 0 : strlen(body);

	if (request_lease_body(body, len, &lb, &e)) {
		check_error(&e, 400);
		FUZZ_CHECK(is_code(&e, codes));
		return;
	}
	FUZZ_CHECK(lb.ttl == -1 || (lb.ttl >= 0 && lb.ttl <= LEASE_TTL_MAX));
	FUZZ_CHECK(request_holder_ok(lb.holder));
	FUZZ_CHECK(lb.has_holder || !lb.holder[0]);
	if (len == 0)
		FUZZ_CHECK(!lb.has_holder && lb.ttl == -1);
}

static void fuzz_return_body(const char *body)
{
	struct request_error e = fresh_error();
	int64_t n = 0;

	if (request_return_body(body, &n, &e)) {
		check_error(&e, 400);
		FUZZ_CHECK(!strcmp(e.code, "bad_parameter"));
	}
}

static void fuzz_job_body(unsigned shape, const char *body)
{
	static const char *const codes[] = { "bad_json", "bad_parameter",
					     "unknown_parameter", "bad_prefix",
					     NULL };
	const struct pool_def *d = code_pools[shape % ncode];
	struct request_error e = fresh_error();
	struct request_job job;
	struct code_prefix q;

	if (request_job_body(d, body, &job, &e)) {
		check_error(&e, 400);
		FUZZ_CHECK(is_code(&e, codes));
		return;
	}
	FUZZ_CHECK(job.count >= 1 && job.count <= REQUEST_JOB_COUNT_MAX);
	FUZZ_CHECK(strlen(job.prefix) < strlen(d->pattern));
	FUZZ_CHECK(code_prefix_parse(d, job.prefix, &q) == 0);
	FUZZ_CHECK(q.len == job.pfx.len && q.value == job.pfx.value &&
		   !strcmp(q.canon, job.pfx.canon));
}

enum mode {
	M_PATH, M_ROUTE, M_COUNT, M_HEADERS, M_AUTH, M_LEASE_NUMBER,
	M_JOB_ID, M_VALUE, M_PREFIX, M_LEASE_BODY, M_RETURN_BODY,
	M_JOB_BODY, M_MODES
};

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct fuzz_parts in;
	unsigned mode, shape;

	if (size < 2)
		return 0;
	setup();
	mode = data[0] % M_MODES;
	shape = data[1];
	if (fuzz_split(data + 2, size - 2, '\n',
		       mode == M_PATH || mode == M_AUTH ? 2 : 1, &in))
		return 0;
	switch ((enum mode)mode) {
	case M_PATH:
		fuzz_path(in.part[0], in.part[1]);
		break;
	case M_ROUTE:
		fuzz_route(shape, in.part[0]);
		break;
	case M_COUNT:
		fuzz_count(shape, in.part[0]);
		break;
	case M_HEADERS:
		fuzz_headers(shape, in.part[0]);
		break;
	case M_AUTH:
		fuzz_auth(shape, in.part[0], in.part[1]);
		break;
	case M_LEASE_NUMBER:
		fuzz_lease_number(shape, in.part[0]);
		break;
	case M_JOB_ID:
		fuzz_job_id(in.part[0]);
		break;
	case M_VALUE:
		fuzz_value(shape, in.part[0]);
		break;
	case M_PREFIX:
		fuzz_prefix(shape, in.part[0]);
		break;
	case M_LEASE_BODY:
		fuzz_lease_body(shape, in.part[0]);
		break;
	case M_RETURN_BODY:
		fuzz_return_body(in.part[0]);
		break;
	case M_JOB_BODY:
		fuzz_job_body(shape, in.part[0]);
		break;
	case M_MODES:
		break;
	}
	free(in.mem);
	return 0;
}
