/*
 * clease.c: lease pools of a cluster node, kept in etcd; see clease.h for
 * the keys, the operations and the DESIGN.
 *
 * Why on the committer thread rather than a thread of its own: the lease
 * routes stay as they are (one async pattern, api_route.h), shutdown
 * stays one order (committer_stop answers what is queued before
 * http_stop, main.c), and every request already waits for one round trip
 * of its own (etcd fsyncs each transaction), so the gain of running
 * several at once would be etcd's batching, bought with a second queue
 * and a second stop. The price is that a slow etcd delays the node's
 * other committed operations (sequences, codes) in the same batches.
 *
 * Expiry seconds: a lease expiring at expires_ms goes in the etcd lease
 * of second s = ceil(expires_ms / 1000), granted at wall time g with
 * TTL s - floor(g / 1000) + 1 >= s - g / 1000 + 1 seconds: etcd counts
 * that from when it got the grant (after g), so the key lives until at
 * least s + 1 >= expires_ms. etcd may keep it longer (a new leader
 * extends every lease), never shorter.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cJSON.h>

#include "common/clock.h"
#include "common/log.h"
#include "common/parse.h"
#include "pools/clease.h"
#include "pools/lease.h"
#include "common/banned.h"

#define BLOCK_DIGITS 3		/* a scan reads the numbers that share all
				   but the last 3 digits: 1000 */
#define BLOCK_SIZE 1000
#define NUM_DIGITS 20
#define MISSES_MAX 3		/* taken candidates before a scan */
#define TRIES_MAX 64		/* candidates a borrow tries */
#define CAS_TRIES 8		/* return, renew: rereads after a change */
#define CACHE_N 8		/* etcd leases kept per pool */
#define WARN_EVERY_MS 5000
#define KEY_MAX (POOL_NAME_MAX + 48)
#define VALUE_MAX 512

struct exp_lease {
	int64_t second;		/* 0: empty */
	int64_t id;
};

struct clease {
	struct cluster *c;
	const struct pool_def *d;
	char prefix[KEY_MAX];	/* "/uniqd/lease/<pool>/" */
	size_t prefixlen;
	/* Committer thread only (clease.h's DESIGN). */
	struct etcd *e;
	uint8_t *known;		/* offsets this node last saw out */
	uint64_t cursor;	/* where the next borrow starts */
	struct exp_lease cache[CACHE_N];
	uint64_t warned_ms;
};

/* ---- keys and values ---- */

static int key_of(const struct clease *cl, int64_t n, char *buf, size_t len)
{
	int k = snprintf(buf, len, "%s%0*lld", cl->prefix, NUM_DIGITS,
			 (long long)n);

	return k < 0 || (size_t)k >= len ? -ENAMETOOLONG : k;
}

/* The number a key of the pool names: 0, or -EPROTO. */
static int number_of(const struct clease *cl, const struct etcd_kv *kv,
		     int64_t *n)
{
	if (kv->keylen <= cl->prefixlen ||
	    memcmp(kv->key, cl->prefix, cl->prefixlen) != 0 ||
	    parse_i64(kv->key + cl->prefixlen, INT64_MIN, INT64_MAX, n))
		return -EPROTO;
	return 0;
}

static bool in_pool(const struct clease *cl, int64_t n)
{
	return n >= cl->d->min &&
	       (uint64_t)(n - cl->d->min) < cl->d->capacity;
}

static void set_known(struct clease *cl, int64_t n, bool out)
{
	uint64_t off;

	if (!in_pool(cl, n))
		return;
	off = (uint64_t)(n - cl->d->min);
	if (out)
		cl->known[off / 8] |= (uint8_t)(1u << (off % 8));
	else
		cl->known[off / 8] &= (uint8_t)~(1u << (off % 8));
}

static bool is_known(const struct clease *cl, uint64_t off)
{
	return cl->known[off / 8] & (1u << (off % 8));
}

/* A lease's value: 0 with *text (cJSON_free it), or -ENOMEM. */
static int value_json(const struct lease_info *li, const char *node,
		      char **text)
{
	cJSON *o = cJSON_CreateObject();

	*text = NULL;
	if (o && cJSON_AddNumberToObject(o, "number", (double)li->number) &&
	    cJSON_AddStringToObject(o, "holder", li->holder) &&
	    cJSON_AddStringToObject(o, "node", node) &&
	    cJSON_AddNumberToObject(o, "borrowed_ms",
				    (double)li->borrowed_ms) &&
	    cJSON_AddNumberToObject(o, "expires_ms", (double)li->expires_ms))
		*text = cJSON_PrintUnformatted(o);
	cJSON_Delete(o);
	return *text ? 0 : -ENOMEM;
}

static int get_ms(const cJSON *o, const char *name, uint64_t *out)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, name);

	if (!cJSON_IsNumber(v) || v->valuedouble < 0 ||
	    v->valuedouble > 9007199254740991.0)
		return -EPROTO;
	*out = (uint64_t)v->valuedouble;
	return 0;
}

/* The lease kv holds (its node into node, CLUSTER_NODE_MAX + 1 bytes,
 * when not NULL): 0 or -EPROTO. */
static int info_of(const struct clease *cl, const struct etcd_kv *kv,
		   struct lease_info *li, char *node)
{
	cJSON *o = cJSON_ParseWithLength(kv->value, kv->vallen);
	const cJSON *h = cJSON_GetObjectItemCaseSensitive(o, "holder");
	const cJSON *nd = cJSON_GetObjectItemCaseSensitive(o, "node");
	int rc = -EPROTO;

	memset(li, 0, sizeof(*li));
	if (!cJSON_IsString(h) || strlen(h->valuestring) > LEASE_HOLDER_MAX ||
	    number_of(cl, kv, &li->number) ||
	    get_ms(o, "borrowed_ms", &li->borrowed_ms) ||
	    get_ms(o, "expires_ms", &li->expires_ms))
		goto out;
	snprintf(li->holder, sizeof(li->holder), "%s", h->valuestring);
	if (node)
		snprintf(node, CLUSTER_NODE_MAX + 1, "%s",
			 cJSON_IsString(nd) ? nd->valuestring : "");
	rc = 0;
out:
	cJSON_Delete(o);
	return rc;
}

/* ---- the committer thread's client, and its failures ---- */

/* Says (at most every WARN_EVERY_MS) why etcd could not do what, and
 * gives the outcome every such failure is. */
static int down(struct clease *cl, const char *what, int rc)
{
	uint64_t now = clock_mono_ns() / 1000000u;

	if (!cl->warned_ms || now - cl->warned_ms >= WARN_EVERY_MS) {
		cl->warned_ms = now;
		log_warn("cluster: pool \"%s\": %s: %s (%s); answering 503",
			 cl->d->name, what, log_strerror(rc),
			 cl->e ? etcd_strerror(cl->e) : "no client");
	}
	return OUTCOME_CLUSTER_DOWN;
}

static int client(struct clease *cl)
{
	if (cl->e)
		return 0;
	return cluster_etcd_open(cl->c, &cl->e);
}

/* ---- etcd leases shared by a second ---- */

static void cache_drop(struct clease *cl, int64_t id)
{
	size_t i;

	for (i = 0; i < CACHE_N; i++)
		if (cl->cache[i].id == id)
			cl->cache[i].second = cl->cache[i].id = 0;
}

/* The etcd lease for a key that expires at expires_ms (0: none, *id 0).
 * Returns 0 or etcd's negative errno. */
static int exp_lease(struct clease *cl, uint64_t now_ms, uint64_t expires_ms,
		     int64_t *id)
{
	int64_t second = (int64_t)((expires_ms + 999) / 1000), granted;
	struct exp_lease *slot = &cl->cache[0];
	size_t i;
	int rc;

	*id = 0;
	if (!expires_ms)
		return 0;
	for (i = 0; i < CACHE_N; i++) {
		struct exp_lease *x = &cl->cache[i];

		if (x->second && (uint64_t)x->second * 1000 <= now_ms)
			x->second = x->id = 0;	/* its keys are due */
		if (x->second == second) {
			*id = x->id;
			return 0;
		}
		if (x->second < slot->second)
			slot = x;	/* empty, or the soonest */
	}
	rc = etcd_lease_grant(cl->e, second - (int64_t)(now_ms / 1000) + 1,
			      id, &granted);
	if (rc)
		return rc;
	slot->second = second;
	slot->id = *id;
	return 0;
}

static uint64_t expiry(const struct clease *cl, const struct lease_req *r,
		       uint64_t now)
{
	int64_t ttl = r->ttl >= 0 ? r->ttl : (int64_t)cl->d->ttl;

	return ttl ? now + (uint64_t)ttl * 1000 : 0;
}

/* ---- borrow ---- */

/* A free offset by the bitmap, from the cursor on: true with *off. */
static bool next_free(const struct clease *cl, uint64_t *off)
{
	uint64_t cap = cl->d->capacity, i, o;

	for (i = 0; i < cap; i++) {
		o = (cl->cursor + i) % cap;
		if (o % 8 == 0 && cl->known[o / 8] == 0xff && o + 8 <= cap) {
			i += 7;
			continue;
		}
		if (!is_known(cl, o)) {
			*off = o;
			return true;
		}
	}
	return false;
}

/* The numbers [lo, hi] of the pool whose keys share n's block prefix. */
static void block_of(const struct clease *cl, int64_t n, int64_t *lo,
		     int64_t *hi)
{
	int64_t max = cl->d->min + (int64_t)(cl->d->capacity - 1), base;

	if (n >= 0) {
		*lo = n - n % BLOCK_SIZE;
		*hi = *lo > INT64_MAX - (BLOCK_SIZE - 1) ?
		      INT64_MAX : *lo + (BLOCK_SIZE - 1);
	} else {
		base = -(n + 1) + 1;	/* |n|, without overflow at -2^63+1 */
		base -= base % BLOCK_SIZE;
		*lo = -(base + (BLOCK_SIZE - 1));
		*hi = base ? -base : -1;
	}
	if (*lo < cl->d->min)
		*lo = cl->d->min;
	if (*hi > max)
		*hi = max;
}

/* Reads the keys of n's block into the bitmap. */
static int scan_block(struct clease *cl, int64_t n, int64_t *lo, int64_t *hi)
{
	struct etcd_result res = { 0 };
	char key[KEY_MAX];
	int64_t i, num;
	size_t k;
	int len, rc;

	block_of(cl, n, lo, hi);
	len = key_of(cl, n, key, sizeof(key));
	if (len < 0)
		return len;
	rc = etcd_get(cl->e, key, (size_t)len - BLOCK_DIGITS, true, 0, true,
		      &res);
	if (rc)
		return rc;
	for (i = *lo; i <= *hi && i >= *lo; i++)
		set_known(cl, i, false);
	for (k = 0; res.nranges == 1 && k < res.ranges[0].n; k++)
		if (number_of(cl, &res.ranges[0].kvs[k], &num) == 0)
			set_known(cl, num, true);
	etcd_result_release(&res);
	return 0;
}

/*
 * Learns from etcd what is out: its count first (OUTCOME_ALL_OUT when
 * every number is), then block after block from the cursor's until one
 * has a free number: 0 with *off, OUTCOME_ALL_OUT, or etcd's negative
 * errno.
 */
static int refresh(struct clease *cl, uint64_t *off)
{
	struct etcd_result res = { 0 };
	uint64_t seen = 0, cap = cl->d->capacity;
	int64_t n = cl->d->min + (int64_t)(cl->cursor % cap), lo, hi, i;
	int rc;

	rc = etcd_get(cl->e, cl->prefix, cl->prefixlen, true, 1, true, &res);
	if (rc)
		return rc;
	if (res.nranges == 1 && res.ranges[0].count >= 0 &&
	    (uint64_t)res.ranges[0].count >= cap) {
		etcd_result_release(&res);
		return OUTCOME_ALL_OUT;
	}
	etcd_result_release(&res);
	while (seen < cap) {
		rc = scan_block(cl, n, &lo, &hi);
		if (rc)
			return rc;
		for (i = n; i <= hi && i >= n; i++)
			if (!is_known(cl, (uint64_t)(i - cl->d->min)))
				goto found;
		for (i = lo; i < n; i++)
			if (!is_known(cl, (uint64_t)(i - cl->d->min)))
				goto found;
		seen += (uint64_t)(hi - lo) + 1;
		n = hi == cl->d->min + (int64_t)(cap - 1) ? cl->d->min : hi + 1;
	}
	return OUTCOME_ALL_OUT;
found:
	*off = (uint64_t)(i - cl->d->min);
	return 0;
}

static int do_borrow(struct clease *cl, struct lease_req *r, uint64_t now)
{
	char key[KEY_MAX], sk[CLUSTER_NODE_MAX + 32], *val = NULL;
	struct etcd_result res = { 0 };
	struct etcd_txn t;
	struct lease_info li;
	int64_t sess_rev, lease = 0;
	uint64_t off = 0;
	int tries, misses = 0, len, rc;
	bool regranted = false;

	if (!cluster_fence_ok(cl->c))
		return down(cl, "borrow", -ENOLINK);
	cluster_session(cl->c, sk, sizeof(sk), &sess_rev);
	if (!sess_rev)
		return down(cl, "borrow", -ENOLINK);
	memset(&li, 0, sizeof(li));
	memcpy(li.holder, r->holder, sizeof(li.holder));
	li.borrowed_ms = now;
	li.expires_ms = expiry(cl, r, now);
	for (tries = 0; tries < TRIES_MAX; tries++) {
		if (misses >= MISSES_MAX || !next_free(cl, &off)) {
			misses = 0;
			rc = refresh(cl, &off);
			if (rc == OUTCOME_ALL_OUT)
				return rc;
			if (rc)
				return down(cl, "reading the leases out", rc);
		}
		rc = exp_lease(cl, now, li.expires_ms, &lease);
		if (rc)
			return down(cl, "granting an etcd lease", rc);
		li.number = cl->d->min + (int64_t)off;
		len = key_of(cl, li.number, key, sizeof(key));
		if (len < 0)
			return down(cl, "borrow", len);
		rc = value_json(&li, cluster_node(cl->c), &val);
		if (rc)
			return down(cl, "borrow", rc);
		etcd_txn_init(&t);
		etcd_txn_cmp(&t, key, (size_t)len, ETCD_VERSION, ETCD_EQUAL, 0);
		etcd_txn_cmp(&t, sk, strlen(sk), ETCD_CREATE, ETCD_EQUAL,
			     sess_rev);
		etcd_txn_put(&t, true, key, (size_t)len, val, strlen(val),
			     lease);
		etcd_txn_get(&t, false, key, (size_t)len, false);
		rc = etcd_txn_run(cl->e, &t, &res);
		etcd_txn_release(&t);
		cJSON_free(val);
		val = NULL;
		if (rc == -ENOENT && lease && !regranted) {
			/* the cached etcd lease is gone: a fresh one */
			cache_drop(cl, lease);
			regranted = true;
			tries--;
			continue;
		}
		if (rc)
			return down(cl, "borrow", rc);
		if (res.succeeded) {
			etcd_result_release(&res);
			set_known(cl, li.number, true);
			cl->cursor = (off + 1) % cl->d->capacity;
			r->lease = li;
			return 0;
		}
		rc = res.nranges == 1 && res.ranges[0].n == 1;
		etcd_result_release(&res);
		if (!rc)	/* not taken: the session compare failed */
			return down(cl, "borrow", -ENOLINK);
		set_known(cl, li.number, true);	/* another node has it */
		cl->cursor = (off + 1) % cl->d->capacity;
		misses++;
	}
	return OUTCOME_ALL_OUT;
}

/* ---- return, renew, reset ---- */

/*
 * The lease of r->number as etcd has it now, checked as lease.c's
 * find_out checks: 0 with *li, *mod_rev and node; OUTCOME_NOT_IN_POOL,
 * OUTCOME_NOT_OUT, OUTCOME_OTHER_HOLDER; or OUTCOME_CLUSTER_DOWN.
 */
static int find_out(struct clease *cl, struct lease_req *r, char *key,
		    int *keylen, struct lease_info *li, int64_t *mod_rev,
		    char *node)
{
	struct etcd_result res = { 0 };
	int rc;

	if (!in_pool(cl, r->number))
		return OUTCOME_NOT_IN_POOL;
	*keylen = key_of(cl, r->number, key, KEY_MAX);
	if (*keylen < 0)
		return down(cl, "reading a lease", *keylen);
	rc = etcd_get(cl->e, key, (size_t)*keylen, false, 0, false, &res);
	if (rc)
		return down(cl, "reading a lease", rc);
	if (res.nranges != 1 || res.ranges[0].n != 1) {
		etcd_result_release(&res);
		set_known(cl, r->number, false);
		return OUTCOME_NOT_OUT;
	}
	*mod_rev = res.ranges[0].kvs[0].mod_rev;
	rc = info_of(cl, &res.ranges[0].kvs[0], li, node);
	etcd_result_release(&res);
	if (rc)
		return down(cl, "reading a lease", rc);
	if (r->check_holder && strcmp(li->holder, r->holder))
		return OUTCOME_OTHER_HOLDER;
	return 0;
}

/* After a compare on the mod revision failed: whether the key is still
 * there (the failure branch's get). */
static bool still_out(const struct etcd_result *res)
{
	return res->nranges == 1 && res->ranges[0].n == 1;
}

static int do_return(struct clease *cl, struct lease_req *r)
{
	char key[KEY_MAX], node[CLUSTER_NODE_MAX + 1];
	struct etcd_result res = { 0 };
	struct etcd_txn t;
	struct lease_info li;
	int64_t mod_rev;
	int tries, len, rc;
	bool out;

	for (tries = 0; tries < CAS_TRIES; tries++) {
		rc = find_out(cl, r, key, &len, &li, &mod_rev, node);
		if (rc)
			return rc;
		etcd_txn_init(&t);
		etcd_txn_cmp(&t, key, (size_t)len, ETCD_MOD, ETCD_EQUAL,
			     mod_rev);
		etcd_txn_del(&t, true, key, (size_t)len, false);
		etcd_txn_get(&t, false, key, (size_t)len, false);
		rc = etcd_txn_run(cl->e, &t, &res);
		etcd_txn_release(&t);
		if (rc)
			return down(cl, "return", rc);
		out = still_out(&res);
		if (res.succeeded) {
			etcd_result_release(&res);
			set_known(cl, r->number, false);
			r->lease = li;
			return 0;
		}
		etcd_result_release(&res);
		if (!out) {	/* returned or expired meanwhile */
			set_known(cl, r->number, false);
			return OUTCOME_NOT_OUT;
		}
	}
	return down(cl, "return (the lease kept changing)", -EBUSY);
}

static int do_renew(struct clease *cl, struct lease_req *r, uint64_t now)
{
	char key[KEY_MAX], node[CLUSTER_NODE_MAX + 1], *val = NULL;
	struct etcd_result res = { 0 };
	struct etcd_txn t;
	struct lease_info li;
	int64_t mod_rev, lease;
	int tries, len, rc;
	bool out;

	for (tries = 0; tries < CAS_TRIES; tries++) {
		rc = find_out(cl, r, key, &len, &li, &mod_rev, node);
		if (rc)
			return rc;
		li.expires_ms = expiry(cl, r, now);
		rc = exp_lease(cl, now, li.expires_ms, &lease);
		if (rc)
			return down(cl, "granting an etcd lease", rc);
		rc = value_json(&li, node, &val);
		if (rc)
			return down(cl, "renew", rc);
		etcd_txn_init(&t);
		etcd_txn_cmp(&t, key, (size_t)len, ETCD_MOD, ETCD_EQUAL,
			     mod_rev);
		etcd_txn_put(&t, true, key, (size_t)len, val, strlen(val),
			     lease);
		etcd_txn_get(&t, false, key, (size_t)len, false);
		rc = etcd_txn_run(cl->e, &t, &res);
		etcd_txn_release(&t);
		cJSON_free(val);
		val = NULL;
		if (rc == -ENOENT && lease) {
			cache_drop(cl, lease);	/* gone: regranted */
			continue;
		}
		if (rc)
			return down(cl, "renew", rc);
		out = still_out(&res);
		if (res.succeeded) {
			etcd_result_release(&res);
			r->lease = li;
			return 0;
		}
		etcd_result_release(&res);
		if (!out)
			return OUTCOME_NOT_OUT;
	}
	return down(cl, "renew (the lease kept changing)", -EBUSY);
}

static int do_reset(struct clease *cl, struct lease_req *r)
{
	struct etcd_result res = { 0 };
	struct etcd_txn t;
	int rc;

	etcd_txn_init(&t);
	etcd_txn_get(&t, true, cl->prefix, cl->prefixlen, true);
	etcd_txn_del(&t, true, cl->prefix, cl->prefixlen, true);
	rc = etcd_txn_run(cl->e, &t, &res);
	etcd_txn_release(&t);
	if (rc)
		return down(cl, "reset", rc);
	r->count = res.nranges == 1 && res.ranges[0].count > 0 ?
		   (uint64_t)res.ranges[0].count : 0;
	etcd_result_release(&res);
	memset(cl->known, 0, cl->d->capacity / 8 + 1);
	return 0;
}

int clease_apply(struct clease *cl, struct lease_req *r, uint64_t now_ms)
{
	int rc = client(cl);

	if (rc)
		return down(cl, "opening a client of etcd", rc);
	switch (r->verb) {
	case LEASE_BORROW:
		return do_borrow(cl, r, now_ms);
	case LEASE_RETURN:
		return do_return(cl, r);
	case LEASE_RENEW:
		return do_renew(cl, r, now_ms);
	case LEASE_RESET:
		return do_reset(cl, r);
	}
	return down(cl, "an unknown operation", -EINVAL);
}

/* ---- any thread ---- */

static int by_number(const void *a, const void *b)
{
	const struct lease_info *x = a, *y = b;

	return x->number < y->number ? -1 : x->number > y->number;
}

int clease_list(struct clease *cl, struct lease_info **out, size_t *n)
{
	struct etcd_result res = { 0 };
	struct lease_info *arr = NULL;
	struct etcd *e = NULL;
	size_t i, k = 0;
	int rc;

	*out = NULL;
	*n = 0;
	rc = cluster_etcd_open(cl->c, &e);
	if (rc == 0)
		rc = etcd_get(e, cl->prefix, cl->prefixlen, true, 0, false,
			      &res);
	if (rc)
		goto out;
	k = res.nranges == 1 ? res.ranges[0].n : 0;
	arr = malloc((k ? k : 1) * sizeof(*arr));
	if (!arr) {
		rc = -ENOMEM;
		goto out;
	}
	for (i = 0; i < k && rc == 0; i++)
		rc = info_of(cl, &res.ranges[0].kvs[i], &arr[i], NULL);
	if (rc) {
		log_warn("cluster: pool \"%s\": a key of etcd's is not a "
			 "lease: %.*s", cl->d->name,
			 (int)res.ranges[0].kvs[i - 1].keylen,
			 res.ranges[0].kvs[i - 1].key);
		goto out;
	}
	qsort(arr, k, sizeof(*arr), by_number);
	*out = arr;
	*n = k;
	arr = NULL;
out:
	free(arr);
	etcd_result_release(&res);
	etcd_free(e);
	return rc;
}

int clease_count(struct clease *cl, uint64_t *n)
{
	struct etcd_result res = { 0 };
	struct etcd *e = NULL;
	int rc;

	*n = 0;
	rc = cluster_etcd_open(cl->c, &e);
	if (rc == 0)
		rc = etcd_get(e, cl->prefix, cl->prefixlen, true, 1, true,
			      &res);
	if (rc == 0 && res.nranges == 1 && res.ranges[0].count > 0)
		*n = (uint64_t)res.ranges[0].count;
	etcd_result_release(&res);
	etcd_free(e);
	return rc;
}

/* ---- set-up ---- */

int clease_new(struct clease **out, struct cluster *c,
	       const struct pool_def *d)
{
	struct clease *cl;
	const char *node = cluster_node(c);
	uint64_t h = 1469598103934665603ull;	/* FNV-1a */
	int len;

	*out = NULL;
	cl = calloc(1, sizeof(*cl));
	if (!cl)
		return -ENOMEM;
	cl->c = c;
	cl->d = d;
	len = cluster_key(cl->prefix, sizeof(cl->prefix), "lease/%s/",
			  d->name);
	if (len < 0 || (size_t)len + NUM_DIGITS + 1 > sizeof(cl->prefix)) {
		free(cl);
		return -ENAMETOOLONG;
	}
	cl->prefixlen = (size_t)len;
	cl->known = calloc(d->capacity / 8 + 1, 1);
	if (!cl->known) {
		free(cl);
		return -ENOMEM;
	}
	while (*node) {
		h ^= (unsigned char)*node++;
		h *= 1099511628211ull;
	}
	cl->cursor = h % d->capacity;
	*out = cl;
	return 0;
}

void clease_free(struct clease *cl)
{
	if (!cl)
		return;
	etcd_free(cl->e);
	free(cl->known);
	free(cl);
}
