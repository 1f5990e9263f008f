/*
 * etcd.c: the client of etcd v3's JSON gateway; see etcd.h.
 *
 * DESIGN
 *
 * Threads: none of its own. A struct etcd belongs to the one thread that
 * uses it (etcd.h). The only state threads share is libcurl's global
 * state, set up once by the first etcd_open (pthread_once around
 * curl_global_init) and never torn down: curl_global_cleanup is not safe
 * while another thread may still use curl, and it would free nothing the
 * process's exit does not.
 * A request: its body is built with cJSON (int64 fields as strings, the
 * gateway's own form: cJSON's numbers are doubles, and lease ids do not
 * fit in one), then POSTed to the endpoint that answered last, then to the
 * others in turn while the failure says "this member cannot serve now"
 * (unreachable, timed out, no leader). Each try is bounded by timeout_ms
 * (CURLOPT_TIMEOUT_MS): a member that lost quorum holds a request until
 * its own, longer, timeout. Guarantees: none about a try that timed out
 * (it may have been applied); callers write with compare-and-swap.
 */
#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <cjson/cJSON.h>
#include <curl/curl.h>

#include "cluster/etcd.h"
#include "common/buf.h"
#include "common/parse.h"
#include "common/banned.h"

/* An answer larger than this is refused (-EPROTO): etcd's own limit on a
 * request is 1.5 MiB, and uniqd reads ranges far smaller than this. */
#define ETCD_BODY_MAX ((size_t)64 << 20)

struct etcd {
	CURL *curl;
	struct curl_slist *headers;
	char **urls;		/* without a trailing '/' */
	size_t nurls;
	size_t cur;		/* answered last: tried first */
	size_t last;		/* the last request went there */
	struct buf url;		/* urls[i] + the request's path */
	struct buf body;	/* the answer being received */
	int body_err;		/* -ENOMEM or -EPROTO (too large) */
	char curl_err[CURL_ERROR_SIZE];
	char err[256];
	bool resent;		/* the last request went to more than one
				   member (etcd_resent) */
};

/* ---- base64 (RFC 4648, with padding: what Go's encoding/json uses) ---- */

static const char b64_digits[] =
	"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

/* The length of the base64 text of n bytes (without a NUL); n must be at
 * most SIZE_MAX / 2. */
static size_t b64_len(size_t n)
{
	return (n + 2) / 3 * 4;
}

/* Writes the base64 of in[0..n) and a NUL to out (b64_len(n) + 1
 * bytes). */
static void b64_encode(const void *in, size_t n, char *out)
{
	const unsigned char *p = in;
	size_t i, o = 0;

	for (i = 0; i + 2 < n; i += 3) {
		uint32_t v = (uint32_t)p[i] << 16 | (uint32_t)p[i + 1] << 8 |
			     p[i + 2];

		out[o++] = b64_digits[v >> 18];
		out[o++] = b64_digits[(v >> 12) & 63];
		out[o++] = b64_digits[(v >> 6) & 63];
		out[o++] = b64_digits[v & 63];
	}
	if (n - i == 1) {
		out[o++] = b64_digits[p[i] >> 2];
		out[o++] = b64_digits[(p[i] & 3) << 4];
		out[o++] = '=';
		out[o++] = '=';
	} else if (n - i == 2) {
		uint32_t v = (uint32_t)p[i] << 8 | p[i + 1];

		out[o++] = b64_digits[v >> 10];
		out[o++] = b64_digits[(v >> 4) & 63];
		out[o++] = b64_digits[(v & 15) << 2];
		out[o++] = '=';
	}
	out[o] = '\0';
}

/* The value of base64 digit c, or -1. */
static int b64_digit(char c)
{
	if (c >= 'A' && c <= 'Z')
		return c - 'A';
	if (c >= 'a' && c <= 'z')
		return c - 'a' + 26;
	if (c >= '0' && c <= '9')
		return c - '0' + 52;
	if (c == '+')
		return 62;
	if (c == '/')
		return 63;
	return -1;
}

/*
 * Decodes the base64 text in[0..n) into out (room for n / 4 * 3 + 1
 * bytes), NUL-terminated, *outlen its bytes. Strict: whole quads, '='
 * only as the padding of the last one, unused bits zero. Returns 0 or
 * -EPROTO.
 */
static int b64_decode(const char *in, size_t n, char *out, size_t *outlen)
{
	size_t i, o = 0, pad = 0;

	if (n % 4)
		return -EPROTO;
	if (n && in[n - 1] == '=')
		pad = n >= 2 && in[n - 2] == '=' ? 2 : 1;
	for (i = 0; i < n; i += 4) {
		int d[4], k, real = i + 4 == n ? 4 - (int)pad : 4;
		uint32_t v = 0;

		for (k = 0; k < 4; k++) {
			d[k] = k < real ? b64_digit(in[i + k]) : 0;
			if (d[k] < 0)
				return -EPROTO;
			v = v << 6 | (uint32_t)d[k];
		}
		if ((real == 2 && (v & 0xffff)) || (real == 3 && (v & 0xff)))
			return -EPROTO;
		out[o++] = (char)(v >> 16);
		if (real > 2)
			out[o++] = (char)(v >> 8);
		if (real > 3)
			out[o++] = (char)v;
	}
	out[o] = '\0';
	*outlen = o;
	return 0;
}

/*
 * The end of the range of keys that start with key[0..keylen): the key
 * with its trailing 0xff bytes dropped and its last byte incremented;
 * "\0" (every key from key on) when nothing is left. Writes it to out
 * (room for keylen bytes, at least 1) and its length to *outlen.
 */
static void prefix_end(const char *key, size_t keylen, char *out,
		       size_t *outlen)
{
	size_t n = keylen;

	while (n && (unsigned char)key[n - 1] == 0xff)
		n--;
	if (!n) {
		out[0] = '\0';
		*outlen = 1;
		return;
	}
	memcpy(out, key, n);
	out[n - 1] = (char)((unsigned char)out[n - 1] + 1);
	*outlen = n;
}

/* ---- building requests ---- */

/* Adds name: the base64 of p[0..n) to obj. Returns 0 or -ENOMEM. */
static int add_b64(cJSON *obj, const char *name, const void *p, size_t n)
{
	char *s;
	int rc = 0;

	if (n > SIZE_MAX / 2)
		return -ENOMEM;
	s = malloc(b64_len(n) + 1);
	if (!s)
		return -ENOMEM;
	b64_encode(p, n, s);
	if (!cJSON_AddStringToObject(obj, name, s))
		rc = -ENOMEM;
	free(s);
	return rc;
}

/* Adds name: v, as the gateway writes an int64 (a decimal string). */
static int add_i64(cJSON *obj, const char *name, int64_t v)
{
	char s[24];

	snprintf(s, sizeof(s), "%" PRId64, v);
	return cJSON_AddStringToObject(obj, name, s) ? 0 : -ENOMEM;
}

/* Adds "key" (and with prefix "range_end") for key[0..keylen). An empty
 * prefix is every key: from "\0" to the end ("\0"), as etcdctl does. */
static int add_key(cJSON *obj, const char *key, size_t keylen, bool prefix)
{
	char *end;
	size_t endlen;
	int rc;

	if (prefix && keylen == 0) {
		key = "";
		keylen = 1;
	}
	rc = add_b64(obj, "key", key, keylen);
	if (rc || !prefix)
		return rc;
	end = malloc(keylen);
	if (!end)
		return -ENOMEM;
	prefix_end(key, keylen, end, &endlen);
	rc = add_b64(obj, "range_end", end, endlen);
	free(end);
	return rc;
}

void etcd_txn_init(struct etcd_txn *t)
{
	t->json = NULL;
	t->err = 0;
}

void etcd_txn_release(struct etcd_txn *t)
{
	cJSON_Delete(t->json);
	etcd_txn_init(t);
}

/* Records t's first failure and returns it. */
static int txn_fail(struct etcd_txn *t, int rc)
{
	if (rc && !t->err)
		t->err = rc;
	return rc;
}

/* A new object at the end of t's array name ("compare", "success",
 * "failure"), or NULL with t->err set. */
static cJSON *txn_item(struct etcd_txn *t, const char *name)
{
	cJSON *a, *item;

	if (t->err)
		return NULL;
	if (!t->json && !(t->json = cJSON_CreateObject()))
		goto oom;
	a = cJSON_GetObjectItemCaseSensitive(t->json, name);
	if (!a && !(a = cJSON_AddArrayToObject(t->json, name)))
		goto oom;
	item = cJSON_CreateObject();
	if (!item)
		goto oom;
	if (!cJSON_AddItemToArray(a, item)) {
		cJSON_Delete(item);
		goto oom;
	}
	return item;
oom:
	txn_fail(t, -ENOMEM);
	return NULL;
}

/* A new operation op ("requestPut", ...) of a branch: the object to fill,
 * or NULL with t->err set. */
static cJSON *txn_op(struct etcd_txn *t, bool success, const char *op)
{
	cJSON *item = txn_item(t, success ? "success" : "failure"), *o;

	if (!item)
		return NULL;
	o = cJSON_AddObjectToObject(item, op);
	if (!o)
		txn_fail(t, -ENOMEM);
	return o;
}

static const char *const cmp_names[] = {
	[ETCD_EQUAL] = "EQUAL",
	[ETCD_GREATER] = "GREATER",
	[ETCD_LESS] = "LESS",
	[ETCD_NOT_EQUAL] = "NOT_EQUAL",
};

/* A new compare of key by cmp on target (its name), or NULL with t->err
 * set. */
static cJSON *txn_compare(struct etcd_txn *t, const char *key, size_t keylen,
			  const char *target, enum etcd_cmp cmp)
{
	cJSON *c;

	if ((unsigned)cmp > ETCD_NOT_EQUAL) {
		txn_fail(t, -EINVAL);
		return NULL;
	}
	c = txn_item(t, "compare");
	if (!c)
		return NULL;
	if (txn_fail(t, add_key(c, key, keylen, false)) ||
	    !cJSON_AddStringToObject(c, "target", target) ||
	    !cJSON_AddStringToObject(c, "result", cmp_names[cmp])) {
		txn_fail(t, -ENOMEM);
		return NULL;
	}
	return c;
}

int etcd_txn_cmp(struct etcd_txn *t, const char *key, size_t keylen,
		 enum etcd_target target, enum etcd_cmp cmp, int64_t v)
{
	static const char *const targets[][2] = {
		[ETCD_VERSION] = { "VERSION", "version" },
		[ETCD_CREATE] = { "CREATE", "create_revision" },
		[ETCD_MOD] = { "MOD", "mod_revision" },
	};
	cJSON *c;

	if (t->err)
		return t->err;
	if ((unsigned)target > ETCD_MOD)
		return txn_fail(t, -EINVAL);
	c = txn_compare(t, key, keylen, targets[target][0], cmp);
	if (!c)
		return t->err;
	return txn_fail(t, add_i64(c, targets[target][1], v));
}

int etcd_txn_cmp_value(struct etcd_txn *t, const char *key, size_t keylen,
		       enum etcd_cmp cmp, const void *val, size_t vallen)
{
	cJSON *c;

	if (t->err)
		return t->err;
	c = txn_compare(t, key, keylen, "VALUE", cmp);
	if (!c)
		return t->err;
	return txn_fail(t, add_b64(c, "value", val, vallen));
}

int etcd_txn_put(struct etcd_txn *t, bool success, const char *key,
		 size_t keylen, const void *val, size_t vallen, int64_t lease)
{
	cJSON *o;

	if (t->err)
		return t->err;
	o = txn_op(t, success, "requestPut");
	if (!o)
		return t->err;
	if (txn_fail(t, add_key(o, key, keylen, false)) ||
	    txn_fail(t, add_b64(o, "value", val, vallen)))
		return t->err;
	if (lease)
		return txn_fail(t, add_i64(o, "lease", lease));
	return 0;
}

int etcd_txn_del(struct etcd_txn *t, bool success, const char *key,
		 size_t keylen, bool prefix)
{
	cJSON *o;

	if (t->err)
		return t->err;
	o = txn_op(t, success, "requestDeleteRange");
	if (!o)
		return t->err;
	return txn_fail(t, add_key(o, key, keylen, prefix));
}

int etcd_txn_get(struct etcd_txn *t, bool success, const char *key,
		 size_t keylen, bool prefix)
{
	cJSON *o;

	if (t->err)
		return t->err;
	o = txn_op(t, success, "requestRange");
	if (!o)
		return t->err;
	return txn_fail(t, add_key(o, key, keylen, prefix));
}

/* ---- reading answers ---- */

/* The int64 field name of obj into *out: 0 when absent (the gateway
 * leaves zeros out). Returns 0 or -EPROTO. */
static int get_i64(const cJSON *obj, const char *name, int64_t *out)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(obj, name);

	*out = 0;
	if (!v)
		return 0;
	if (cJSON_IsString(v))
		return parse_i64(v->valuestring, INT64_MIN, INT64_MAX, out) ?
			       -EPROTO : 0;
	if (cJSON_IsNumber(v) && v->valuedouble >= -9007199254740992.0 &&
	    v->valuedouble <= 9007199254740992.0 &&
	    v->valuedouble == (double)(int64_t)v->valuedouble) {
		*out = (int64_t)v->valuedouble;
		return 0;
	}
	return -EPROTO;
}

/* The same for a uint64 field (member ids). */
static int get_u64(const cJSON *obj, const char *name, uint64_t *out)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(obj, name);

	*out = 0;
	if (!v)
		return 0;
	if (cJSON_IsString(v))
		return parse_u64(v->valuestring, 0, UINT64_MAX, out) ?
			       -EPROTO : 0;
	return -EPROTO;
}

/* The bytes of the base64 field name of obj, in a malloc'd NUL-terminated
 * copy (*s, "" when absent), *len their number. Returns 0, -EPROTO or
 * -ENOMEM. */
static int get_b64(const cJSON *obj, const char *name, char **s,
		   size_t *len)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(obj, name);
	size_t n = 0;
	int rc;

	*s = NULL;
	*len = 0;
	if (v && !cJSON_IsString(v))
		return -EPROTO;
	if (v)
		n = strlen(v->valuestring);
	*s = malloc(n / 4 * 3 + 1);
	if (!*s)
		return -ENOMEM;
	rc = b64_decode(v ? v->valuestring : "", n, *s, len);
	if (rc) {
		free(*s);
		*s = NULL;
	}
	return rc;
}

static int parse_kv(const cJSON *j, struct etcd_kv *kv)
{
	int rc;

	if (!cJSON_IsObject(j) ||
	    !cJSON_IsString(cJSON_GetObjectItemCaseSensitive(j, "key")))
		return -EPROTO;
	rc = get_b64(j, "key", &kv->key, &kv->keylen);
	if (!rc)
		rc = get_b64(j, "value", &kv->value, &kv->vallen);
	if (!rc)
		rc = get_i64(j, "create_revision", &kv->create_rev);
	if (!rc)
		rc = get_i64(j, "mod_revision", &kv->mod_rev);
	if (!rc)
		rc = get_i64(j, "version", &kv->version);
	if (!rc)
		rc = get_i64(j, "lease", &kv->lease);
	return rc;
}

/* Fills r from a RangeResponse j. On failure r holds what was read so far
 * (etcd_result_release frees it). */
static int parse_range(const cJSON *j, struct etcd_range *r)
{
	const cJSON *kvs = cJSON_GetObjectItemCaseSensitive(j, "kvs");
	const cJSON *more = cJSON_GetObjectItemCaseSensitive(j, "more");
	const cJSON *kv;
	int n, rc;

	if (!cJSON_IsObject(j) || (kvs && !cJSON_IsArray(kvs)) ||
	    (more && !cJSON_IsBool(more)))
		return -EPROTO;
	r->more = cJSON_IsTrue(more);
	rc = get_i64(j, "count", &r->count);
	if (rc)
		return rc;
	n = cJSON_GetArraySize(kvs);
	if (n <= 0)
		return 0;
	r->kvs = calloc((size_t)n, sizeof(*r->kvs));
	if (!r->kvs)
		return -ENOMEM;
	cJSON_ArrayForEach(kv, kvs) {
		rc = parse_kv(kv, &r->kvs[r->n++]);
		if (rc)
			return rc;
	}
	return 0;
}

/* res->revision from the answer's header. */
static int parse_revision(const cJSON *ans, struct etcd_result *res)
{
	const cJSON *h = cJSON_GetObjectItemCaseSensitive(ans, "header");

	if (!cJSON_IsObject(h))
		return -EPROTO;
	return get_i64(h, "revision", &res->revision);
}

void etcd_result_release(struct etcd_result *res)
{
	size_t i, k;

	for (i = 0; i < res->nranges; i++) {
		struct etcd_range *r = &res->ranges[i];

		for (k = 0; k < r->n; k++) {
			free(r->kvs[k].key);
			free(r->kvs[k].value);
		}
		free(r->kvs);
	}
	free(res->ranges);
	memset(res, 0, sizeof(*res));
}

/* ---- the connection ---- */

static pthread_once_t curl_once = PTHREAD_ONCE_INIT;
static CURLcode curl_init_rc;

static void curl_init(void)
{
	curl_init_rc = curl_global_init(CURL_GLOBAL_DEFAULT);
}

static size_t on_body(char *p, size_t size, size_t n, void *arg)
{
	struct etcd *e = arg;

	n *= size;	/* always 1 */
	if (n > ETCD_BODY_MAX - e->body.len) {
		e->body_err = -EPROTO;
		return 0;
	}
	buf_add(&e->body, p, n);
	if (buf_finish(&e->body)) {
		e->body_err = -ENOMEM;
		return 0;
	}
	return n;
}

static void set_err(struct etcd *e, size_t idx, const char *what)
{
	/* a long text is cut: it is for the log */
	if (snprintf(e->err, sizeof(e->err), "%s: %s", e->urls[idx], what) <
	    0)
		e->err[0] = '\0';
}

/* Splits list into e->urls. Returns 0, -EINVAL or -ENOMEM. */
static int parse_endpoints(struct etcd *e, const char *list)
{
	const char *p = list;
	size_t n = 1, i;

	for (i = 0; list[i]; i++)
		n += list[i] == ',';
	e->urls = calloc(n, sizeof(*e->urls));
	if (!e->urls)
		return -ENOMEM;
	for (;;) {
		size_t len = strcspn(p, ",");

		for (i = 0; i < len; i++)
			if ((unsigned char)p[i] <= ' ' || p[i] == 0x7f)
				return -EINVAL;
		while (len > 7 && p[len - 1] == '/')
			len--;
		if (len <= 7 || strncasecmp(p, "http://", 7) != 0 ||
		    p[7] == '/')
			return -EINVAL;
		e->urls[e->nurls] = strndup(p, len);
		if (!e->urls[e->nurls])
			return -ENOMEM;
		e->nurls++;
		p += strcspn(p, ",");
		if (!*p)
			return 0;
		p++;
	}
}

int etcd_open(struct etcd **out, const char *endpoints, unsigned timeout_ms)
{
	struct etcd *e;
	int rc, bad = 0;

	*out = NULL;
	if (!endpoints || timeout_ms == 0)
		return -EINVAL;
	pthread_once(&curl_once, curl_init);
	if (curl_init_rc != CURLE_OK)
		return -ENOMEM;
	e = calloc(1, sizeof(*e));
	if (!e)
		return -ENOMEM;
	buf_init(&e->url);
	buf_init(&e->body);
	rc = parse_endpoints(e, endpoints);
	if (rc)
		goto out;
	rc = -ENOMEM;
	e->curl = curl_easy_init();
	if (!e->curl)
		goto out;
	e->headers = curl_slist_append(NULL, "Content-Type: application/json");
	/* no "Expect: 100-continue" round trip before a larger body */
	if (e->headers)
		e->headers = curl_slist_append(e->headers, "Expect:");
	if (!e->headers || !e->headers->next)
		goto out;
	bad |= curl_easy_setopt(e->curl, CURLOPT_NOSIGNAL, 1L) != CURLE_OK;
	bad |= curl_easy_setopt(e->curl, CURLOPT_PROTOCOLS_STR, "http") !=
	       CURLE_OK;
	/* etcd is reached directly, whatever http_proxy says */
	bad |= curl_easy_setopt(e->curl, CURLOPT_NOPROXY, "*") != CURLE_OK;
	bad |= curl_easy_setopt(e->curl, CURLOPT_TIMEOUT_MS,
				(long)timeout_ms) != CURLE_OK;
	bad |= curl_easy_setopt(e->curl, CURLOPT_CONNECTTIMEOUT_MS,
				(long)timeout_ms) != CURLE_OK;
	bad |= curl_easy_setopt(e->curl, CURLOPT_HTTPHEADER, e->headers) !=
	       CURLE_OK;
	bad |= curl_easy_setopt(e->curl, CURLOPT_WRITEFUNCTION, on_body) !=
	       CURLE_OK;
	bad |= curl_easy_setopt(e->curl, CURLOPT_WRITEDATA, e) != CURLE_OK;
	bad |= curl_easy_setopt(e->curl, CURLOPT_ERRORBUFFER, e->curl_err) !=
	       CURLE_OK;
	bad |= curl_easy_setopt(e->curl, CURLOPT_POST, 1L) != CURLE_OK;
	if (bad)
		goto out;
	rc = 0;
out:
	if (rc)
		etcd_free(e);
	else
		*out = e;
	return rc;
}

void etcd_free(struct etcd *e)
{
	size_t i;

	if (!e)
		return;
	if (e->curl)
		curl_easy_cleanup(e->curl);
	curl_slist_free_all(e->headers);
	for (i = 0; i < e->nurls; i++)
		free(e->urls[i]);
	free(e->urls);
	buf_release(&e->url);
	buf_release(&e->body);
	free(e);
}

const char *etcd_strerror(const struct etcd *e)
{
	return e->err;
}

bool etcd_resent(const struct etcd *e)
{
	return e->resent;
}

const char *etcd_endpoint(const struct etcd *e)
{
	return e->urls[e->last];
}

/*
 * How etcd's errors map (its gRPC status codes, which the gateway passes
 * on, and the texts of the errors that mean "ask another member"):
 * Unavailable (14: no leader, leader changed, request timed out, server
 * stopped) and DeadlineExceeded (4) -EAGAIN, so the next endpoint is
 * tried; so is "context deadline exceeded", which a member without
 * quorum answers a write with after 7 s, as code 2 (Unknown). NotFound
 * (5: lease not found) -ENOENT; InvalidArgument (3) and OutOfRange (11:
 * too large a TTL, a compacted revision) -EINVAL; any other -EIO.
 */
static const char *const try_next[] = {
	"etcdserver: no leader",
	"etcdserver: request timed out",
	"etcdserver: leader changed",
	"context deadline exceeded",
};

static int etcd_error(struct etcd *e, size_t idx, const cJSON *ans,
		      long status)
{
	const cJSON *err = cJSON_GetObjectItemCaseSensitive(ans, "error");
	const cJSON *code = cJSON_GetObjectItemCaseSensitive(ans, "code");
	const cJSON *msg = err;
	char text[200];
	size_t i;
	int c = -1;

	if (cJSON_IsObject(err)) {
		/* a streaming call's error: {"error": {"grpc_code", ...}} */
		code = cJSON_GetObjectItemCaseSensitive(err, "grpc_code");
		msg = cJSON_GetObjectItemCaseSensitive(err, "message");
	}
	if (cJSON_IsNumber(code))
		c = code->valueint;
	if (!cJSON_IsString(msg) && c < 0) {
		snprintf(text, sizeof(text), "HTTP %ld, not etcd's answer",
			 status);
		set_err(e, idx, text);
		return -EPROTO;
	}
	snprintf(text, sizeof(text), "%s (code %d, HTTP %ld)",
		 cJSON_IsString(msg) ? msg->valuestring : "?", c, status);
	set_err(e, idx, text);
	if (c == 14 || c == 4)
		return -EAGAIN;
	for (i = 0; cJSON_IsString(msg) && i < sizeof(try_next) /
						  sizeof(try_next[0]); i++)
		if (strstr(msg->valuestring, try_next[i]))
			return -EAGAIN;
	if (c == 5)
		return -ENOENT;
	if (c == 3 || c == 11)
		return -EINVAL;
	return -EIO;
}

/* One try of a request on endpoint idx: 0 with *ans the answer, -EAGAIN
 * to try the next endpoint, or another negative errno. */
static int try_one(struct etcd *e, size_t idx, const char *path,
		   const char *body, cJSON **ans)
{
	CURLcode cc;
	long status = 0;
	cJSON *j;
	int rc;

	buf_release(&e->url);
	buf_adds(&e->url, e->urls[idx]);
	buf_adds(&e->url, path);
	if (buf_finish(&e->url))
		return -ENOMEM;
	buf_release(&e->body);
	e->body_err = 0;
	e->curl_err[0] = '\0';
	if (curl_easy_setopt(e->curl, CURLOPT_URL, e->url.p) != CURLE_OK ||
	    curl_easy_setopt(e->curl, CURLOPT_POSTFIELDS, body) != CURLE_OK ||
	    curl_easy_setopt(e->curl, CURLOPT_POSTFIELDSIZE_LARGE,
			     (curl_off_t)strlen(body)) != CURLE_OK)
		return -ENOMEM;
	cc = curl_easy_perform(e->curl);
	if (cc == CURLE_WRITE_ERROR && e->body_err) {
		set_err(e, idx, e->body_err == -ENOMEM ? "out of memory" :
			"answer too large");
		return e->body_err;
	}
	if (cc == CURLE_OUT_OF_MEMORY) {
		set_err(e, idx, "out of memory");
		return -ENOMEM;
	}
	if (cc != CURLE_OK) {
		/* unreachable, refused, timed out, reset: another member */
		set_err(e, idx, e->curl_err[0] ? e->curl_err :
			curl_easy_strerror(cc));
		return -EAGAIN;
	}
	curl_easy_getinfo(e->curl, CURLINFO_RESPONSE_CODE, &status);
	j = e->body.p ? cJSON_ParseWithLength(e->body.p, e->body.len) : NULL;
	if (!cJSON_IsObject(j)) {
		char text[64];

		cJSON_Delete(j);
		snprintf(text, sizeof(text), "HTTP %ld, not JSON", status);
		set_err(e, idx, text);
		/* a proxy's "the server behind me is down" */
		if (status == 502 || status == 503 || status == 504)
			return -EAGAIN;
		return -EPROTO;
	}
	if (status != 200 || cJSON_GetObjectItemCaseSensitive(j, "error")) {
		rc = etcd_error(e, idx, j, status);
		cJSON_Delete(j);
		return rc;
	}
	*ans = j;
	return 0;
}

/* POSTs req (NULL: {}) to path on the endpoints in turn (see DESIGN).
 * Returns 0 with *ans the answer (the caller deletes it), or a negative
 * errno. */
static int request(struct etcd *e, const char *path, const cJSON *req,
		   cJSON **ans)
{
	const char *text = "{}";
	char *body = NULL;
	size_t i, idx = e->cur;
	int rc = -EAGAIN;

	*ans = NULL;
	e->err[0] = '\0';
	if (req) {
		body = cJSON_PrintUnformatted(req);
		if (!body)
			return -ENOMEM;
		text = body;
	}
	e->resent = false;
	for (i = 0; i < e->nurls; i++) {
		idx = (e->cur + i) % e->nurls;
		e->last = idx;
		e->resent = i > 0;
		rc = try_one(e, idx, path, text, ans);
		if (rc != -EAGAIN)
			break;
	}
	if (rc != -EAGAIN)
		e->cur = idx;
	cJSON_free(body);
	return rc;
}

/* ---- the requests ---- */

int etcd_txn_run(struct etcd *e, struct etcd_txn *t, struct etcd_result *res)
{
	const cJSON *rs, *r;
	cJSON *ans = NULL;
	size_t n = 0;
	int rc;

	memset(res, 0, sizeof(*res));
	if (t->err)
		return t->err;
	rc = request(e, "/v3/kv/txn", t->json, &ans);
	if (rc)
		goto out;
	res->succeeded = cJSON_IsTrue(
		cJSON_GetObjectItemCaseSensitive(ans, "succeeded"));
	rc = parse_revision(ans, res);
	if (rc)
		goto out;
	rs = cJSON_GetObjectItemCaseSensitive(ans, "responses");
	rc = -EPROTO;
	if (rs && !cJSON_IsArray(rs))
		goto out;
	cJSON_ArrayForEach(r, rs)
		n += cJSON_GetObjectItemCaseSensitive(r, "response_range") !=
		     NULL;
	rc = 0;
	if (!n)
		goto out;
	rc = -ENOMEM;
	res->ranges = calloc(n, sizeof(*res->ranges));
	if (!res->ranges)
		goto out;
	cJSON_ArrayForEach(r, rs) {
		const cJSON *rr =
			cJSON_GetObjectItemCaseSensitive(r, "response_range");

		if (!rr)
			continue;
		rc = parse_range(rr, &res->ranges[res->nranges++]);
		if (rc)
			goto out;
	}
	rc = 0;
out:
	if (rc)
		etcd_result_release(res);
	cJSON_Delete(ans);
	return rc;
}

/* Sends range request req (consumed) and fills res with its one range.
 * Returns 0 or a negative errno (res empty then). */
static int range_run(struct etcd *e, cJSON *req, struct etcd_result *res)
{
	cJSON *ans = NULL;
	int rc;

	rc = request(e, "/v3/kv/range", req, &ans);
	if (rc)
		goto out;
	rc = parse_revision(ans, res);
	if (rc)
		goto out;
	rc = -ENOMEM;
	res->ranges = calloc(1, sizeof(*res->ranges));
	if (!res->ranges)
		goto out;
	res->nranges = 1;
	rc = parse_range(ans, res->ranges);
out:
	if (rc)
		etcd_result_release(res);
	cJSON_Delete(req);
	cJSON_Delete(ans);
	return rc;
}

int etcd_get(struct etcd *e, const char *key, size_t keylen, bool prefix,
	     int64_t limit, bool keys_only, struct etcd_result *res)
{
	cJSON *req;

	memset(res, 0, sizeof(*res));
	if (limit < 0)
		return -EINVAL;
	req = cJSON_CreateObject();
	if (!req || add_key(req, key, keylen, prefix) ||
	    (limit && add_i64(req, "limit", limit)) ||
	    (keys_only && !cJSON_AddTrueToObject(req, "keys_only"))) {
		cJSON_Delete(req);
		return -ENOMEM;
	}
	return range_run(e, req, res);
}

int etcd_get_last(struct etcd *e, const char *key, size_t keylen,
		  const char *end, size_t endlen, struct etcd_result *res)
{
	cJSON *req;

	memset(res, 0, sizeof(*res));
	req = cJSON_CreateObject();
	if (!req || add_b64(req, "key", key, keylen) ||
	    add_b64(req, "range_end", end, endlen) ||
	    add_i64(req, "limit", 1) ||
	    !cJSON_AddStringToObject(req, "sort_order", "DESCEND") ||
	    !cJSON_AddStringToObject(req, "sort_target", "KEY")) {
		cJSON_Delete(req);
		return -ENOMEM;
	}
	return range_run(e, req, res);
}

/* A request whose body is {"name": v}: 0 with *ans, or a negative
 * errno. */
static int request_i64(struct etcd *e, const char *path, const char *name,
		       int64_t v, cJSON **ans)
{
	cJSON *req = cJSON_CreateObject();
	int rc = -ENOMEM;

	*ans = NULL;
	if (req && !add_i64(req, name, v))
		rc = request(e, path, req, ans);
	cJSON_Delete(req);
	return rc;
}

int etcd_lease_grant(struct etcd *e, int64_t ttl, int64_t *id,
		     int64_t *granted)
{
	cJSON *ans = NULL;
	int rc;

	if (ttl <= 0)
		return -EINVAL;
	rc = request_i64(e, "/v3/lease/grant", "TTL", ttl, &ans);
	if (rc)
		goto out;
	rc = get_i64(ans, "ID", id);
	if (!rc)
		rc = get_i64(ans, "TTL", granted);
	if (!rc && (*id == 0 || *granted <= 0))
		rc = -EPROTO;
out:
	cJSON_Delete(ans);
	return rc;
}

int etcd_lease_keepalive(struct etcd *e, int64_t id, int64_t *ttl)
{
	const cJSON *r;
	cJSON *ans = NULL;
	int rc;

	rc = request_i64(e, "/v3/lease/keepalive", "ID", id, &ans);
	if (rc)
		goto out;
	r = cJSON_GetObjectItemCaseSensitive(ans, "result");
	rc = cJSON_IsObject(r) ? get_i64(r, "TTL", ttl) : -EPROTO;
	/* an unknown lease is not an error to etcd: its TTL is left out */
	if (!rc && *ttl <= 0) {
		set_err(e, e->last, "lease not found");
		rc = -ENOENT;
	}
out:
	cJSON_Delete(ans);
	return rc;
}

int etcd_lease_revoke(struct etcd *e, int64_t id)
{
	cJSON *ans = NULL;
	int rc;

	rc = request_i64(e, "/v3/lease/revoke", "ID", id, &ans);
	cJSON_Delete(ans);
	return rc;
}

int etcd_status(struct etcd *e, uint64_t *member, uint64_t *leader)
{
	const cJSON *h;
	cJSON *ans = NULL;
	int rc;

	rc = request(e, "/v3/maintenance/status", NULL, &ans);
	if (rc)
		goto out;
	h = cJSON_GetObjectItemCaseSensitive(ans, "header");
	rc = cJSON_IsObject(h) ? get_u64(h, "member_id", member) : -EPROTO;
	if (!rc)
		rc = get_u64(ans, "leader", leader);
out:
	cJSON_Delete(ans);
	return rc;
}
