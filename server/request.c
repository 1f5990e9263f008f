/*
 * request.c: a request's path, parameters and bodies, parsed; see
 * request.h. The messages are the API's (tests/e2e check them): change
 * one only with its test.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include <cjson/cJSON.h>

#include "common/code.h"
#include "common/parse.h"
#include "common/value.h"
#include "pools/lease.h"
#include "pools/seq.h"
#include "server/request.h"
#include "common/banned.h"

_Static_assert(REQUEST_HOLDER_MAX == LEASE_HOLDER_MAX,
	       "struct request_lease holds a lease's holder");

/* Fills e with an answer and returns rc. */
static int fail(struct request_error *e, int rc, unsigned status,
		const char *code, const char *fmt, ...)
	__attribute__((format(printf, 5, 6)));

static int fail(struct request_error *e, int rc, unsigned status,
		const char *code, const char *fmt, ...)
{
	va_list ap;

	e->status = status;
	e->code = code;
	va_start(ap, fmt);
	vsnprintf(e->message, sizeof(e->message), fmt, ap);
	va_end(ap);
	return rc;
}

/* ---- the path ------------------------------------------------------ */

int request_split_path(const char *path, struct request_path *out)
{
	size_t len = strlen(path);
	char *p, *slash;

	out->n = 0;
	if (len == 0 || path[0] != '/' || len >= sizeof(out->buf))
		return -EINVAL;
	memcpy(out->buf, path + 1, len); /* includes the NUL */
	len--;
	if (len && out->buf[len - 1] == '/')
		out->buf[--len] = '\0';
	if (len == 0)
		return 0;
	for (p = out->buf;; p = slash + 1) {
		if (out->n == REQUEST_SEGS_MAX)
			return -EINVAL;
		slash = strchr(p, '/');
		if (slash)
			*slash = '\0';
		if (!*p || strlen(p) > REQUEST_SEG_MAX)
			return -EINVAL;
		out->seg[out->n++] = p;
		if (!slash)
			return 0;
	}
}

bool request_route_match(const char *pattern, const struct request_path *p)
{
	const char *s = pattern + 1, *end;
	unsigned i = 0;
	size_t n;

	while (*s) {
		end = strchr(s, '/');
		n = end ? (size_t)(end - s) : strlen(s);
		if (i >= p->n)
			return false;
		if (!(n == 1 && *s == '*') &&
		    (strlen(p->seg[i]) != n || memcmp(p->seg[i], s, n)))
			return false;
		i++;
		s += n;
		if (*s == '/')
			s++;
	}
	return i == p->n;
}

/* ---- query parameters and headers ---------------------------------- */

int request_count(const char *text, uint64_t max, uint64_t *count,
		  struct request_error *err)
{
	int rc;

	*count = 1;
	if (!text)
		return 0;
	rc = parse_u64(text, 1, max, count);
	if (rc == 0)
		return 0;
	if (max < REQUEST_COUNT_MAX && rc == -ERANGE &&
	    !parse_u64(text, 1, REQUEST_COUNT_MAX, count))
		return fail(err, rc, 400, "bad_parameter",
			    "count must be from 1 to %llu for this pool (its "
			    "shards keep %llu values at hand)",
			    (unsigned long long)max, (unsigned long long)max);
	return fail(err, rc, 400, "bad_parameter",
		    "count must be an integer from 1 to %llu",
		    (unsigned long long)max);
}

int request_idem_key(const char *key, struct request_error *err)
{
	size_t i, n;

	if (!key)
		return 0;
	n = strlen(key);
	for (i = 0; i < n; i++)
		if (key[i] < 0x21 || key[i] > 0x7e)
			break;
	if (n == 0 || n > SEQ_IDEM_KEY_MAX || i < n)
		return fail(err, -EINVAL, 400, "bad_parameter",
			    "Idempotency-Key must be 1 to %d visible ASCII "
			    "characters", SEQ_IDEM_KEY_MAX);
	return 0;
}

bool request_holder_ok(const char *holder)
{
	size_t n = strlen(holder), i;

	if (n > REQUEST_HOLDER_MAX)
		return false;
	for (i = 0; i < n; i++)
		if (holder[i] < 0x20 || holder[i] > 0x7e)
			return false;
	return true;
}

int request_holder_param(const char *holder, struct request_error *err)
{
	if (holder && !request_holder_ok(holder))
		return fail(err, -EINVAL, 400, "bad_parameter",
			    "holder must be at most %d printable ASCII "
			    "characters", REQUEST_HOLDER_MAX);
	return 0;
}

int request_lease_number(const struct pool_def *d, const char *text,
			 int64_t *n, struct request_error *err)
{
	const char *digits = text + (text[0] == '-');
	int rc = parse_i64(text, INT64_MIN, INT64_MAX, n);

	/* Only the server's own spelling: no leading zero ("007", "-07"),
	 * no "-0". */
	if (rc == -EINVAL || (digits[0] == '0' && (digits[1] || digits > text)))
		return fail(err, -EINVAL, 400, "bad_value",
			    "\"%.40s\" is not a number", text);
	if (rc || *n < d->min ||
	    (uint64_t)*n - (uint64_t)d->min >= d->capacity)
		return fail(err, -ERANGE, 404, "not_found",
			    "%.40s is not a number of pool \"%s\"", text,
			    d->name);
	return 0;
}

bool request_auth_ok(const char *authorization, const char *token)
{
	const char *a;
	size_t la, lb, i;
	unsigned char diff;

	if (!token)
		return true;
	/* RFC 7235: the scheme is case-insensitive ("bearer" is "Bearer"),
	 * and one or more spaces part it from the credentials. The scheme
	 * is no secret: only the token is compared in constant time. */
	if (!authorization || strncasecmp(authorization, "Bearer", 6) ||
	    authorization[6] != ' ')
		return false;
	a = authorization + 6;
	while (*a == ' ')
		a++;
	/* Compare in time that depends only on the lengths, not on where
	 * the strings differ, so that a token cannot be guessed byte by
	 * byte. */
	la = strlen(a);
	lb = strlen(token);
	diff = (unsigned char)(la != lb);
	for (i = 0; i < la; i++)
		diff |= (unsigned char)(a[i] ^ token[i % (lb ? lb : 1)]);
	return diff == 0;
}

/* Reads an RFC 9110 qvalue ("0", "0.5", "1.000") of s[0, n) into
 * thousandths; returns false if it is none. */
static bool parse_qvalue(const char *s, size_t n, int *q)
{
	size_t i;
	int v = 0, scale = 100;

	if (n == 0 || (s[0] != '0' && s[0] != '1') ||
	    (n > 1 && (s[1] != '.' || n > 5)))
		return false;
	for (i = 2; i < n; i++) {
		if (s[i] < '0' || s[i] > '9' || (s[0] == '1' && s[i] != '0'))
			return false;
		v += (s[i] - '0') * scale;
		scale /= 10;
	}
	*q = s[0] == '1' ? 1000 : v;
	return true;
}

bool request_wants_text(const char *accept)
{
	int q_text = 0, q_json = 0, spec_text = 0, spec_json = 0;
	const char *e = accept;

	while (e && *e) {
		const char *start, *end, *p, *semi;
		size_t mlen;
		int q = 1000, st = 0, sj = 0;
		bool ok = true;

		start = e + strspn(e, " \t,");
		end = start + strcspn(start, ",");
		e = end;
		semi = memchr(start, ';', (size_t)(end - start));
		mlen = (size_t)((semi ? semi : end) - start);
		while (mlen && strchr(" \t", start[mlen - 1]))
			mlen--;
		for (p = semi; p && p < end; p = memchr(p + 1, ';',
						       (size_t)(end - p - 1))) {
			const char *v = p + 1 + strspn(p + 1, " \t");
			size_t vl;

			if (strncasecmp(v, "q=", 2))
				continue;
			v += 2;
			vl = strcspn(v, "; \t,");
			if (v + vl > end || !parse_qvalue(v, vl, &q))
				ok = false;
		}
		if (!ok || mlen == 0)
			continue;
#define IS(t) (mlen == sizeof(t) - 1 && !strncasecmp(start, t, mlen))
		if (IS("text/plain"))
			st = 3;
		else if (IS("text/*"))
			st = 2;
		if (IS("application/json"))
			sj = 3;
		else if (IS("application/*"))
			sj = 2;
		else if (IS("*/*"))
			st = sj = 1;
#undef IS
		if (st > spec_text) {
			spec_text = st;
			q_text = q;
		}
		if (sj > spec_json) {
			spec_json = sj;
			q_json = q;
		}
	}
	return spec_text >= 2 && q_text > 0 && q_text > q_json;
}

/* ---- bodies -------------------------------------------------------- */

int request_lease_body(const char *body, size_t len,
		       struct request_lease *out, struct request_error *err)
{
	cJSON *root, *it;
	int rc = -EINVAL;

	memset(out, 0, sizeof(*out));
	out->ttl = -1;
	if (len == 0)
		return 0;
	root = cJSON_ParseWithOpts(body, NULL, 1);
	if (!root || !cJSON_IsObject(root)) {
		fail(err, rc, 400, "bad_json", "the body must be a JSON object "
		     "such as {\"holder\": \"vu-17\", \"ttl\": 600}");
		goto out;
	}
	cJSON_ArrayForEach(it, root) {
		if (!strcmp(it->string, "holder")) {
			if (!cJSON_IsString(it) ||
			    !request_holder_ok(it->valuestring)) {
				fail(err, rc, 400, "bad_parameter",
				     "holder must be a string of at most %d "
				     "printable ASCII characters",
				     REQUEST_HOLDER_MAX);
				goto out;
			}
			snprintf(out->holder, sizeof(out->holder), "%s",
				 it->valuestring);
			out->has_holder = true;
		} else if (!strcmp(it->string, "ttl")) {
			if (!cJSON_IsNumber(it) || it->valuedouble < 0 ||
			    it->valuedouble > LEASE_TTL_MAX ||
			    it->valuedouble !=
			    (double)(int64_t)it->valuedouble) {
				fail(err, rc, 400, "bad_parameter",
				     "ttl must be an integer of seconds from 0 "
				     "(never expires) to %u", LEASE_TTL_MAX);
				goto out;
			}
			out->ttl = (int64_t)it->valuedouble;
		} else {
			fail(err, rc, 400, "unknown_parameter",
			     "unknown key \"%.40s\" in the body", it->string);
			goto out;
		}
	}
	rc = 0;
out:
	cJSON_Delete(root);
	return rc;
}

int request_return_body(const char *body, int64_t *number,
			struct request_error *err)
{
	cJSON *root = cJSON_ParseWithOpts(body, NULL, 1), *num;
	int rc = -EINVAL;

	num = cJSON_IsObject(root) ?
		cJSON_GetObjectItemCaseSensitive(root, "number") : NULL;
	if (cJSON_IsNumber(num) && num->valuedouble >= -9007199254740991.0 &&
	    num->valuedouble <= 9007199254740991.0 &&
	    num->valuedouble == (double)(int64_t)num->valuedouble) {
		*number = (int64_t)num->valuedouble;
		rc = 0;
	} else if (cJSON_IsString(num) &&
		   !parse_i64(num->valuestring, INT64_MIN, INT64_MAX,
			      number)) {
		rc = 0;
	}
	cJSON_Delete(root);
	if (rc)
		return fail(err, rc, 400, "bad_parameter",
			    "the body must be {\"number\": N}, with N a number "
			    "or a string of digits");
	return 0;
}

int request_prefix(const struct pool_def *d, const char *text,
		   struct code_prefix *out, struct request_error *err)
{
	int rc = code_prefix_parse(d, text, out);

	if (rc == 0)
		return 0;
	return fail(err, rc, 400, "bad_prefix",
		    rc == -E2BIG ? "prefix \"%.64s\" leaves no symbol to draw "
				   "in pattern %s: it must be shorter" :
		    rc == -EBADMSG ? "prefix \"%.64s\" does not follow pattern "
				     "%s (a literal is in the wrong place)" :
		    "prefix \"%.64s\" has a symbol outside the alphabet of "
		    "pattern %s",
		    text, d->pattern);
}

int request_job_body(const struct pool_def *d, const char *body,
		     struct request_job *out, struct request_error *err)
{
	const char *prefix = "";
	cJSON *root, *it;
	int rc = -EINVAL;

	memset(out, 0, sizeof(*out));
	root = cJSON_ParseWithOpts(body, NULL, 1);
	if (!cJSON_IsObject(root)) {
		fail(err, rc, 400, "bad_json", "the body must be a JSON object "
		     "such as {\"count\": 1000, \"prefix\": \"AAA\"}");
		goto out;
	}
	cJSON_ArrayForEach(it, root) {
		const cJSON *o;

		for (o = root->child; o != it; o = o->next)
			if (!strcmp(o->string, it->string))
				break;
		if (o != it) {
			fail(err, rc, 400, "bad_json",
			     "key \"%.40s\" is given twice", it->string);
			goto out;
		}
		if (!strcmp(it->string, "count")) {
			if (!cJSON_IsNumber(it) || it->valuedouble < 1 ||
			    it->valuedouble > (double)REQUEST_JOB_COUNT_MAX ||
			    it->valuedouble !=
				    (double)(uint64_t)it->valuedouble) {
				fail(err, rc, 400, "bad_parameter",
				     "count must be an integer from 1 to %llu",
				     REQUEST_JOB_COUNT_MAX);
				goto out;
			}
			out->count = (uint64_t)it->valuedouble;
		} else if (!strcmp(it->string, "prefix")) {
			if (!cJSON_IsString(it)) {
				fail(err, rc, 400, "bad_prefix",
				     "prefix must be a string");
				goto out;
			}
			prefix = it->valuestring;
		} else {
			fail(err, rc, 400, "unknown_parameter",
			     "unknown key \"%.40s\" in the body%s", it->string,
			     !strcmp(it->string, "notify") ?
			     " (notify URLs are not supported: poll "
			     "GET /jobs/ID)" : "");
			goto out;
		}
	}
	if (!out->count) {
		fail(err, rc, 400, "bad_parameter", "count is missing");
		goto out;
	}
	rc = request_prefix(d, prefix, &out->pfx, err);
	if (rc)
		goto out;
	/* A prefix that parses is shorter than the pattern: it fits. */
	snprintf(out->prefix, sizeof(out->prefix), "%s", prefix);
out:
	cJSON_Delete(root);
	return rc;
}

/* ---- path segments ------------------------------------------------- */

int request_job_id(const char *text, uint64_t *id, struct request_error *err)
{
	if (parse_u64(text, 1, UINT64_MAX >> 1, id) || text[0] == '0')
		return fail(err, -EINVAL, 404, "not_found", "no job \"%.40s\"",
			    text);
	return 0;
}

int request_value(const struct pool_def *d, const char *text, uint64_t *k,
		  struct request_error *err)
{
	int rc = value_parse(d, text, k);

	if (rc == -ERANGE) {
		char lo[VALUE_TEXT_MAX + 1], hi[VALUE_TEXT_MAX + 1];

		value_format(d, 0, lo);
		value_format(d, d->capacity - 1, hi);
		return fail(err, rc, 400, "bad_value",
			    "%.40s is outside pool \"%s\" (%s to %s)", text,
			    d->name, lo, hi);
	}
	if (rc)
		return fail(err, rc, 400, "bad_value",
			    "\"%.40s\" is not a value of pool \"%s\" (%s%s)",
			    text, d->name,
			    d->kind == POOL_FLOAT ?
				    "a decimal number with at most " :
			    d->kind == POOL_CODE ? "a code like " :
				    "an integer",
			    d->kind == POOL_FLOAT ? "its decimals" :
			    d->kind == POOL_CODE ? d->pattern : "");
	return 0;
}
