/*
 * clease.c: lease pools of a cluster node, kept in etcd; see clease.h for
 * the keys, the operations and the DESIGN.
 *
 * Why a pool of threads rather than the committer: every operation waits
 * for etcd (one transaction a borrow, one a return), and etcd fsyncs each
 * batch of transactions it commits; one at a time, a node's lease ops ran
 * at etcd's fsync rate (~190 pairs/s on one local member), and a slow
 * etcd delayed the node's other committed operations. With ASK_THREADS
 * at once, etcd commits them in shared batches. The price is a lock over
 * the hints below, and that ops of one node may end in another order
 * than they came (as the requests of two nodes always could).
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
#include <pthread.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>

#include <cJSON.h>

#include "cluster/ask.h"
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

#define LENT_SHIFT 12		/* what was lent: in chunks of 4096 */
#define LENT_CHUNK (1u << LENT_SHIFT)

struct exp_lease {
	int64_t second;		/* 0: empty */
	int64_t id;
};

/* A lease this node lent (or renewed), as it wrote it: mod_rev 0: none
 * known. A return compares it rather than read the key first. */
/* clease_list and clease_count run on an HTTP thread (GET /checked,
 * GET /pools): each member gets this long, not CLUSTER_TIMEOUT_MS. */
#define LIST_TIMEOUT_MS 500

struct lent {
	int64_t mod_rev;
	uint64_t borrowed_ms;
	uint64_t expires_ms;
	uint64_t nonce;		/* the borrow's, in its value (0: none) */
};

struct clease {
	struct cluster *c;
	const struct pool_def *d;
	char prefix[KEY_MAX];	/* "/uniqd/lease/<pool>/" */
	size_t prefixlen;
	pthread_mutex_t lock;	/* a leaf: the fields below (DESIGN) */
	uint8_t *known;		/* offsets this node last saw out */
	uint8_t *trying;	/* offsets a borrow of this node tries now */
	uint64_t cursor;	/* where the next borrow starts */
	struct exp_lease cache[CACHE_N];
	struct lent **lent;	/* chunks, allocated when first lent in */
	uint32_t *lent_n;	/* entries set, per chunk (freed at 0) */
	size_t nchunks;
	_Atomic uint64_t warned_ms;	/* the last warning (down) */
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

/* ---- the hints, under cl->lock (clease.h's DESIGN) ---- */

static bool bit(const uint8_t *m, uint64_t off)
{
	return m[off / 8] & (1u << (off % 8));
}

static void set_bit(uint8_t *m, uint64_t off, bool on)
{
	if (on)
		m[off / 8] |= (uint8_t)(1u << (off % 8));
	else
		m[off / 8] &= (uint8_t)~(1u << (off % 8));
}

static void set_known(struct clease *cl, int64_t n, bool out)
{
	if (in_pool(cl, n))
		set_bit(cl->known, (uint64_t)(n - cl->d->min), out);
}

/* A borrow may try off: not seen out, and no other borrow tries it. */
static bool is_free(const struct clease *cl, uint64_t off)
{
	return !bit(cl->known, off) && !bit(cl->trying, off);
}

/* What this node wrote for off, or NULL. */
static const struct lent *lent_at(const struct clease *cl, uint64_t off)
{
	const struct lent *ch = cl->lent[off >> LENT_SHIFT];

	if (!ch || !ch[off & (LENT_CHUNK - 1)].mod_rev)
		return NULL;
	return &ch[off & (LENT_CHUNK - 1)];
}

/* Remembers x (mod_rev > 0) as what this node wrote for off, or with x
 * NULL forgets it. Out of memory, nothing is remembered: a return then
 * reads the key first. */
static void lent_set(struct clease *cl, uint64_t off, const struct lent *x)
{
	size_t c = off >> LENT_SHIFT;
	struct lent *e;

	if (!cl->lent[c]) {
		if (!x)
			return;
		cl->lent[c] = calloc(LENT_CHUNK, sizeof(*cl->lent[c]));
		if (!cl->lent[c])
			return;
	}
	e = &cl->lent[c][off & (LENT_CHUNK - 1)];
	if (x && !e->mod_rev)
		cl->lent_n[c]++;
	else if (!x && e->mod_rev)
		cl->lent_n[c]--;
	if (x)
		*e = *x;
	else
		memset(e, 0, sizeof(*e));
	if (!cl->lent_n[c]) {
		free(cl->lent[c]);
		cl->lent[c] = NULL;
	}
}

/* Number n is not out (returned, expired, never was). Takes the lock. */
static void ended(struct clease *cl, int64_t n)
{
	if (!in_pool(cl, n))
		return;
	pthread_mutex_lock(&cl->lock);
	set_known(cl, n, false);
	lent_set(cl, (uint64_t)(n - cl->d->min), NULL);
	pthread_mutex_unlock(&cl->lock);
}

/* A lease's value: 0 with *text (cJSON_free it), or -ENOMEM. */
static int value_json(const struct lease_info *li, const char *node,
		      uint64_t nonce, char **text)
{
	cJSON *o = cJSON_CreateObject();
	char hex[17];

	*text = NULL;
	snprintf(hex, sizeof(hex), "%016" PRIx64, nonce);
	if (o && cJSON_AddNumberToObject(o, "number", (double)li->number) &&
	    cJSON_AddStringToObject(o, "holder", li->holder) &&
	    cJSON_AddStringToObject(o, "node", node) &&
	    cJSON_AddNumberToObject(o, "borrowed_ms",
				    (double)li->borrowed_ms) &&
	    cJSON_AddNumberToObject(o, "expires_ms", (double)li->expires_ms) &&
	    (!nonce || cJSON_AddStringToObject(o, "nonce", hex)))
		*text = cJSON_PrintUnformatted(o);
	cJSON_Delete(o);
	return *text ? 0 : -ENOMEM;
}

/* A borrow's own random number, so that its value is its alone (two
 * borrows of one holder in one millisecond write the same text
 * otherwise). */
static uint64_t borrow_nonce(void)
{
	uint64_t n = 0;

	if (getrandom(&n, sizeof(n), 0) != (ssize_t)sizeof(n) || !n)
		n = clock_mono_ns() | 1;
	return n;
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

/* ---- failures ---- */

/* Says (at most every WARN_EVERY_MS, whichever thread) why etcd could
 * not do what, and gives the outcome every such failure is. */
static int down(struct clease *cl, struct etcd *e, const char *what, int rc)
{
	uint64_t now = clock_mono_ns() / 1000000u;
	uint64_t last = atomic_load(&cl->warned_ms);

	if ((!last || now - last >= WARN_EVERY_MS) &&
	    atomic_compare_exchange_strong(&cl->warned_ms, &last, now))
		log_warn("cluster: pool \"%s\": %s: %s (%s); answering 503",
			 cl->d->name, what, log_strerror(rc),
			 e ? etcd_strerror(e) : "no client");
	return OUTCOME_CLUSTER_DOWN;
}

/* ---- etcd leases shared by a second ---- */

static void cache_drop(struct clease *cl, int64_t id)
{
	size_t i;

	pthread_mutex_lock(&cl->lock);
	for (i = 0; i < CACHE_N; i++)
		if (cl->cache[i].id == id)
			cl->cache[i].second = cl->cache[i].id = 0;
	pthread_mutex_unlock(&cl->lock);
}

/*
 * The etcd lease for a key that expires at expires_ms (0: none, *id 0).
 * Returns 0 or etcd's negative errno. The grant is sent unlocked, so two
 * borrows may both grant one second's lease: the cache keeps one, and
 * the other's keys live on theirs, which is as long.
 */
static int exp_lease(struct clease *cl, struct etcd *e, uint64_t now_ms,
		     uint64_t expires_ms, int64_t *id)
{
	int64_t second = (int64_t)((expires_ms + 999) / 1000), granted;
	struct exp_lease *slot;
	size_t i;
	int rc;

	*id = 0;
	if (!expires_ms)
		return 0;
	pthread_mutex_lock(&cl->lock);
	for (i = 0; i < CACHE_N; i++) {
		struct exp_lease *x = &cl->cache[i];

		if (x->second && (uint64_t)x->second * 1000 <= now_ms)
			x->second = x->id = 0;	/* its keys are due */
		if (x->second == second)
			*id = x->id;
	}
	pthread_mutex_unlock(&cl->lock);
	if (*id)
		return 0;
	rc = etcd_lease_grant(e, second - (int64_t)(now_ms / 1000) + 1, id,
			      &granted);
	if (rc)
		return rc;
	pthread_mutex_lock(&cl->lock);
	slot = &cl->cache[0];
	for (i = 0; slot && i < CACHE_N; i++) {
		struct exp_lease *x = &cl->cache[i];

		if (x->second == second)
			slot = NULL;	/* another borrow's came first */
		else if (x->second < slot->second)
			slot = x;	/* empty, or the soonest */
	}
	if (slot) {
		slot->second = second;
		slot->id = *id;
	}
	pthread_mutex_unlock(&cl->lock);
	return 0;
}

static uint64_t expiry(const struct clease *cl, const struct lease_req *r,
		       uint64_t now)
{
	int64_t ttl = r->ttl >= 0 ? r->ttl : (int64_t)cl->d->ttl;

	return ttl ? now + (uint64_t)ttl * 1000 : 0;
}

/* ---- borrow ---- */

/* A free offset by the bitmaps, from the cursor on: true with *off.
 * Locked. */
static bool next_free(const struct clease *cl, uint64_t *off)
{
	uint64_t cap = cl->d->capacity, i, o;

	for (i = 0; i < cap; i++) {
		o = (cl->cursor + i) % cap;
		if (o % 8 == 0 && o + 8 <= cap &&
		    (cl->known[o / 8] | cl->trying[o / 8]) == 0xff) {
			i += 7;
			continue;
		}
		if (is_free(cl, o)) {
			*off = o;
			return true;
		}
	}
	return false;
}

/* off is this borrow's to try: no other borrow of this node tries it
 * until try_end. Locked. */
static void try_begin(struct clease *cl, uint64_t off)
{
	set_bit(cl->trying, off, true);
	cl->cursor = (off + 1) % cl->d->capacity;
}

/* The try of off is over; out: etcd has it out now (another node's, or
 * with x this borrow's, which x is). Takes the lock. */
static void try_end(struct clease *cl, uint64_t off, bool out,
		    const struct lent *x)
{
	pthread_mutex_lock(&cl->lock);
	set_bit(cl->trying, off, false);
	if (out)
		set_bit(cl->known, off, true);
	if (x)
		lent_set(cl, off, x);
	pthread_mutex_unlock(&cl->lock);
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

/* Reads the keys of n's block into the bitmap (unlocked, then under the
 * lock), and takes a free number of it from n on for this borrow:
 * *found with *off. Returns 0 or etcd's negative errno. */
static int scan_block(struct clease *cl, struct etcd *e, int64_t n,
		      int64_t *lo, int64_t *hi, bool *found, uint64_t *off)
{
	struct etcd_result res = { 0 };
	char key[KEY_MAX];
	int64_t i, num;
	size_t k;
	int len, rc;

	*found = false;
	block_of(cl, n, lo, hi);
	len = key_of(cl, n, key, sizeof(key));
	if (len < 0)
		return len;
	rc = etcd_get(e, key, (size_t)len - BLOCK_DIGITS, true, 0, true, &res);
	if (rc)
		return rc;
	pthread_mutex_lock(&cl->lock);
	for (i = *lo; i <= *hi && i >= *lo; i++)
		set_known(cl, i, false);
	for (k = 0; res.nranges == 1 && k < res.ranges[0].n; k++)
		if (number_of(cl, &res.ranges[0].kvs[k], &num) == 0)
			set_known(cl, num, true);
	for (i = n; i <= *hi && i >= n; i++)
		if (is_free(cl, (uint64_t)(i - cl->d->min)))
			goto found;
	for (i = *lo; i < n; i++)
		if (is_free(cl, (uint64_t)(i - cl->d->min)))
			goto found;
	goto out;
found:
	*found = true;
	*off = (uint64_t)(i - cl->d->min);
	try_begin(cl, *off);
out:
	pthread_mutex_unlock(&cl->lock);
	etcd_result_release(&res);
	return 0;
}

/*
 * Learns from etcd what is out: its count first (OUTCOME_ALL_OUT when
 * every number is), then block after block from the cursor's until one
 * has a free number, which it takes for this borrow: 0 with *off,
 * OUTCOME_ALL_OUT (also when the only free numbers are other borrows'
 * of this node, as the committer's batch would), or etcd's negative
 * errno.
 */
static int refresh(struct clease *cl, struct etcd *e, uint64_t *off)
{
	struct etcd_result res = { 0 };
	uint64_t seen = 0, cap = cl->d->capacity;
	int64_t n, lo, hi;
	bool found;
	int rc;

	rc = etcd_get(e, cl->prefix, cl->prefixlen, true, 1, true, &res);
	if (rc)
		return rc;
	if (res.nranges == 1 && res.ranges[0].count >= 0 &&
	    (uint64_t)res.ranges[0].count >= cap) {
		etcd_result_release(&res);
		return OUTCOME_ALL_OUT;
	}
	etcd_result_release(&res);
	pthread_mutex_lock(&cl->lock);
	n = cl->d->min + (int64_t)(cl->cursor % cap);
	pthread_mutex_unlock(&cl->lock);
	while (seen < cap) {
		rc = scan_block(cl, e, n, &lo, &hi, &found, off);
		if (rc || found)
			return rc;
		seen += (uint64_t)(hi - lo) + 1;
		n = hi == cl->d->min + (int64_t)(cap - 1) ? cl->d->min : hi + 1;
	}
	return OUTCOME_ALL_OUT;
}

static int do_borrow(struct clease *cl, struct etcd *e, struct lease_req *r,
		     uint64_t now)
{
	char key[KEY_MAX], sk[CLUSTER_NODE_MAX + 32], *val = NULL;
	struct etcd_result res = { 0 };
	struct etcd_txn t;
	struct lease_info li;
	struct lent mine;
	int64_t sess_rev, lease = 0;
	uint64_t off = 0, nonce = 0;
	int tries, misses = 0, len, rc;
	bool regranted = false, have = false, taken;

	if (!cluster_fence_ok(cl->c))
		return down(cl, e, "borrow", -ENOLINK);
	cluster_session(cl->c, sk, sizeof(sk), &sess_rev);
	if (!sess_rev)
		return down(cl, e, "borrow", -ENOLINK);
	memset(&li, 0, sizeof(li));
	memcpy(li.holder, r->holder, sizeof(li.holder));
	li.borrowed_ms = now;
	li.expires_ms = expiry(cl, r, now);
	for (tries = 0; tries < TRIES_MAX; tries++) {
		if (!have) {
			pthread_mutex_lock(&cl->lock);
			have = misses < MISSES_MAX && next_free(cl, &off);
			if (have)
				try_begin(cl, off);
			pthread_mutex_unlock(&cl->lock);
		}
		if (!have) {
			misses = 0;
			rc = refresh(cl, e, &off);
			if (rc == OUTCOME_ALL_OUT)
				return rc;
			if (rc)
				return down(cl, e, "reading the leases out",
					    rc);
			have = true;
		}
		/* From here on, off is this borrow's: try_end on every
		 * path. */
		rc = exp_lease(cl, e, now, li.expires_ms, &lease);
		if (rc) {
			try_end(cl, off, false, NULL);
			return down(cl, e, "granting an etcd lease", rc);
		}
		li.number = cl->d->min + (int64_t)off;
		len = key_of(cl, li.number, key, sizeof(key));
		nonce = borrow_nonce();
		rc = len < 0 ? len : value_json(&li, cluster_node(cl->c),
						nonce, &val);
		if (rc) {
			try_end(cl, off, false, NULL);
			return down(cl, e, "borrow", rc);
		}
		etcd_txn_init(&t);
		etcd_txn_cmp(&t, key, (size_t)len, ETCD_VERSION, ETCD_EQUAL, 0);
		etcd_txn_cmp(&t, sk, strlen(sk), ETCD_CREATE, ETCD_EQUAL,
			     sess_rev);
		etcd_txn_put(&t, true, key, (size_t)len, val, strlen(val),
			     lease);
		etcd_txn_get(&t, false, key, (size_t)len, false);
		rc = etcd_txn_run(e, &t, &res);
		etcd_txn_release(&t);
		/* A borrow resent to another member (etcd.h) may find the
		 * key its own first send wrote: the value, to the byte (its
		 * nonce among the rest), says it is this borrow's. */
		if (rc == 0 && !res.succeeded && etcd_resent(e) &&
		    res.nranges == 1 &&
		    res.ranges[0].n == 1 &&
		    res.ranges[0].kvs[0].vallen == strlen(val) &&
		    memcmp(res.ranges[0].kvs[0].value, val, strlen(val)) == 0) {
			res.succeeded = true;
			res.revision = res.ranges[0].kvs[0].mod_rev;
		}
		cJSON_free(val);
		val = NULL;
		if (rc == -ENOENT && lease && !regranted) {
			/* the cached etcd lease is gone: a fresh one, for
			 * the same number */
			cache_drop(cl, lease);
			regranted = true;
			tries--;
			continue;
		}
		if (rc) {
			try_end(cl, off, false, NULL);
			return down(cl, e, "borrow", rc);
		}
		if (res.succeeded) {
			/* the put's revision is the key's mod revision */
			mine.mod_rev = res.revision;
			mine.borrowed_ms = li.borrowed_ms;
			mine.expires_ms = li.expires_ms;
			mine.nonce = nonce;
			etcd_result_release(&res);
			try_end(cl, off, true, mine.mod_rev > 0 ? &mine : NULL);
			r->lease = li;
			return 0;
		}
		taken = res.nranges == 1 && res.ranges[0].n == 1;
		etcd_result_release(&res);
		try_end(cl, off, taken, NULL);	/* taken: another's */
		have = false;
		if (!taken)	/* the session compare failed */
			return down(cl, e, "borrow", -ENOLINK);
		misses++;
	}
	/* Every candidate was taken under our hands, yet refresh found
	 * some free: other nodes are racing for the last numbers. Not "all
	 * out": 503, retry. */
	return down(cl, e, "borrow (every candidate taken meanwhile)",
		    -EBUSY);
}

/* ---- return, renew, reset ---- */

/* Checks the lease kv holds as lease.c's find_out checks: 0 with *li,
 * *mod_rev and node; OUTCOME_OTHER_HOLDER, or OUTCOME_CLUSTER_DOWN. */
static int check_kv(struct clease *cl, struct etcd *e,
		    const struct lease_req *r, const struct etcd_kv *kv,
		    struct lease_info *li, int64_t *mod_rev, char *node)
{
	*mod_rev = kv->mod_rev;
	if (info_of(cl, kv, li, node))
		return down(cl, e, "reading a lease", -EPROTO);
	if (r->check_holder && strcmp(li->holder, r->holder))
		return OUTCOME_OTHER_HOLDER;
	return 0;
}

/*
 * The lease of r->number as etcd has it now, checked (check_kv): 0 with
 * *li, *mod_rev and node; OUTCOME_NOT_IN_POOL, OUTCOME_NOT_OUT,
 * OUTCOME_OTHER_HOLDER; or OUTCOME_CLUSTER_DOWN.
 */
static int find_out(struct clease *cl, struct etcd *e, struct lease_req *r,
		    char *key, int *keylen, struct lease_info *li,
		    int64_t *mod_rev, char *node)
{
	struct etcd_result res = { 0 };
	int rc;

	if (!in_pool(cl, r->number))
		return OUTCOME_NOT_IN_POOL;
	*keylen = key_of(cl, r->number, key, KEY_MAX);
	if (*keylen < 0)
		return down(cl, e, "reading a lease", *keylen);
	rc = etcd_get(e, key, (size_t)*keylen, false, 0, false, &res);
	if (rc)
		return down(cl, e, "reading a lease", rc);
	if (res.nranges != 1 || res.ranges[0].n != 1) {
		etcd_result_release(&res);
		ended(cl, r->number);
		return OUTCOME_NOT_OUT;
	}
	rc = check_kv(cl, e, r, &res.ranges[0].kvs[0], li, mod_rev, node);
	etcd_result_release(&res);
	return rc;
}

/* After a compare failed: whether the key is there (the failure
 * branch's get; the success branch's first get). */
static bool still_out(const struct etcd_result *res)
{
	return res->nranges == 1 && res->ranges[0].n == 1;
}

/* After a compare failed: whether the lease known at mod revision rev
 * has ended: its key is gone, or is a new one, created after rev (ended,
 * then lent again). For a resent return (etcd.h), whose own first send
 * may have ended it; otherwise a new lease of the number is another
 * holder's, answered as such. */
static bool ended_since(const struct etcd_result *res, int64_t rev)
{
	return !still_out(res) || res->ranges[0].kvs[0].create_rev > rev;
}

/*
 * The return of a lease this node wrote as m says: one transaction that
 * deletes the key if its mod revision is still m's (with a holder, also
 * its value the one this node wrote for that holder), and else reads it.
 * *decided: 0 (r->lease set), OUTCOME_NOT_OUT or OUTCOME_CLUSTER_DOWN;
 * otherwise the key is out, but not as m says: check_kv's result, with
 * *li, *mod_rev and node as find_out's.
 */
static int return_mine(struct clease *cl, struct etcd *e, struct lease_req *r,
		       const char *key, int len, const struct lent *m,
		       struct lease_info *li, int64_t *mod_rev, char *node,
		       bool *decided)
{
	struct etcd_result res = { 0 };
	struct etcd_txn t;
	char *val = NULL;
	int rc;

	*decided = true;
	memset(li, 0, sizeof(*li));
	li->number = r->number;
	memcpy(li->holder, r->holder, sizeof(li->holder));
	li->borrowed_ms = m->borrowed_ms;
	li->expires_ms = m->expires_ms;
	if (r->check_holder &&
	    value_json(li, cluster_node(cl->c), m->nonce, &val))
		return down(cl, e, "return", -ENOMEM);
	etcd_txn_init(&t);
	etcd_txn_cmp(&t, key, (size_t)len, ETCD_MOD, ETCD_EQUAL, m->mod_rev);
	if (val)
		etcd_txn_cmp_value(&t, key, (size_t)len, ETCD_EQUAL, val,
				   strlen(val));
	etcd_txn_get(&t, true, key, (size_t)len, false);
	etcd_txn_del(&t, true, key, (size_t)len, false);
	etcd_txn_get(&t, false, key, (size_t)len, false);
	rc = etcd_txn_run(e, &t, &res);
	etcd_txn_release(&t);
	cJSON_free(val);
	if (rc)
		return down(cl, e, "return", rc);
	if (res.succeeded) {
		/* what ended, as etcd had it (m's, holder included) */
		if (still_out(&res))
			info_of(cl, &res.ranges[0].kvs[0], li, NULL);
		li->number = r->number;
		r->lease = *li;
		ended(cl, r->number);
		rc = 0;
	} else if (!still_out(&res) ||
		   (etcd_resent(e) && ended_since(&res, m->mod_rev))) {
		/* Returned or expired meanwhile (and maybe lent again); or,
		 * when the request was resent to another member (etcd.h),
		 * deleted by its own first send: then it is this return
		 * that ended it. */
		ended(cl, r->number);
		if (etcd_resent(e)) {
			r->lease = *li;
			rc = 0;
		} else {
			rc = OUTCOME_NOT_OUT;
		}
	} else {
		rc = check_kv(cl, e, r, &res.ranges[0].kvs[0], li, mod_rev,
			      node);
		*decided = rc != 0;
	}
	etcd_result_release(&res);
	return rc;
}

static int do_return(struct clease *cl, struct etcd *e, struct lease_req *r)
{
	char key[KEY_MAX], node[CLUSTER_NODE_MAX + 1];
	struct etcd_result res = { 0 };
	struct etcd_txn t;
	struct lease_info li;
	const struct lent *x;
	struct lent m = { 0 };
	int64_t mod_rev = 0;
	int tries, len, rc;
	bool out, decided, done;

	if (!in_pool(cl, r->number))
		return OUTCOME_NOT_IN_POOL;
	len = key_of(cl, r->number, key, sizeof(key));
	if (len < 0)
		return down(cl, e, "return", len);
	pthread_mutex_lock(&cl->lock);
	x = lent_at(cl, (uint64_t)(r->number - cl->d->min));
	if (x)
		m = *x;
	pthread_mutex_unlock(&cl->lock);
	for (tries = 0; tries < CAS_TRIES; tries++) {
		if (tries == 0 && m.mod_rev) {
			rc = return_mine(cl, e, r, key, len, &m, &li, &mod_rev,
					 node, &decided);
			if (decided)
				return rc;
		} else {
			rc = find_out(cl, e, r, key, &len, &li, &mod_rev, node);
			if (rc)
				return rc;
		}
		etcd_txn_init(&t);
		etcd_txn_cmp(&t, key, (size_t)len, ETCD_MOD, ETCD_EQUAL,
			     mod_rev);
		etcd_txn_del(&t, true, key, (size_t)len, false);
		etcd_txn_get(&t, false, key, (size_t)len, false);
		rc = etcd_txn_run(e, &t, &res);
		etcd_txn_release(&t);
		if (rc)
			return down(cl, e, "return", rc);
		out = !res.succeeded && still_out(&res) &&
		      !(etcd_resent(e) && ended_since(&res, mod_rev));
		/* Gone (or lent again) after a compare that failed on a
		 * resent request: our own first send deleted it (etcd.h). */
		done = res.succeeded || (!out && etcd_resent(e));
		etcd_result_release(&res);
		if (done || !out) {	/* !out: returned or expired
					   meanwhile */
			ended(cl, r->number);
			if (!done)
				return OUTCOME_NOT_OUT;
			r->lease = li;
			return 0;
		}
	}
	return down(cl, e, "return (the lease kept changing)", -EBUSY);
}

static int do_renew(struct clease *cl, struct etcd *e, struct lease_req *r,
		    uint64_t now)
{
	char key[KEY_MAX], node[CLUSTER_NODE_MAX + 1], *val = NULL;
	struct etcd_result res = { 0 };
	struct etcd_txn t;
	struct lease_info li;
	struct lent mine;
	int64_t mod_rev, lease;
	uint64_t off;
	int tries, len, rc;
	bool out, done;

	for (tries = 0; tries < CAS_TRIES; tries++) {
		rc = find_out(cl, e, r, key, &len, &li, &mod_rev, node);
		if (rc)
			return rc;
		li.expires_ms = expiry(cl, r, now);
		rc = exp_lease(cl, e, now, li.expires_ms, &lease);
		if (rc)
			return down(cl, e, "granting an etcd lease", rc);
		rc = value_json(&li, node, 0, &val);
		if (rc)
			return down(cl, e, "renew", rc);
		etcd_txn_init(&t);
		etcd_txn_cmp(&t, key, (size_t)len, ETCD_MOD, ETCD_EQUAL,
			     mod_rev);
		etcd_txn_put(&t, true, key, (size_t)len, val, strlen(val),
			     lease);
		etcd_txn_get(&t, false, key, (size_t)len, false);
		rc = etcd_txn_run(e, &t, &res);
		etcd_txn_release(&t);
		cJSON_free(val);
		val = NULL;
		if (rc == -ENOENT && lease) {
			cache_drop(cl, lease);	/* gone: regranted */
			continue;
		}
		if (rc)
			return down(cl, e, "renew", rc);
		out = still_out(&res);
		done = res.succeeded;
		mine.mod_rev = res.revision;
		etcd_result_release(&res);
		if (done) {
			/* a lease this node lent: remembered anew, for a
			 * return without a read */
			mine.borrowed_ms = li.borrowed_ms;
			mine.expires_ms = li.expires_ms;
			mine.nonce = 0;
			off = (uint64_t)(r->number - cl->d->min);
			pthread_mutex_lock(&cl->lock);
			lent_set(cl, off, strcmp(node, cluster_node(cl->c)) ||
				 mine.mod_rev <= 0 ? NULL : &mine);
			pthread_mutex_unlock(&cl->lock);
			r->lease = li;
			return 0;
		}
		if (!out) {
			ended(cl, r->number);
			return OUTCOME_NOT_OUT;
		}
	}
	return down(cl, e, "renew (the lease kept changing)", -EBUSY);
}

static int do_reset(struct clease *cl, struct etcd *e, struct lease_req *r)
{
	struct etcd_result res = { 0 };
	struct etcd_txn t;
	size_t i;
	int rc;

	etcd_txn_init(&t);
	etcd_txn_get(&t, true, cl->prefix, cl->prefixlen, true);
	etcd_txn_del(&t, true, cl->prefix, cl->prefixlen, true);
	rc = etcd_txn_run(e, &t, &res);
	etcd_txn_release(&t);
	if (rc)
		return down(cl, e, "reset", rc);
	r->count = res.nranges == 1 && res.ranges[0].count > 0 ?
		   (uint64_t)res.ranges[0].count : 0;
	etcd_result_release(&res);
	pthread_mutex_lock(&cl->lock);
	memset(cl->known, 0, cl->d->capacity / 8 + 1);
	for (i = 0; i < cl->nchunks; i++) {
		free(cl->lent[i]);
		cl->lent[i] = NULL;
		cl->lent_n[i] = 0;
	}
	pthread_mutex_unlock(&cl->lock);
	return 0;
}

int clease_apply(struct clease *cl, struct etcd *e, struct lease_req *r,
		 uint64_t now_ms)
{
	switch (r->verb) {
	case LEASE_BORROW:
		return do_borrow(cl, e, r, now_ms);
	case LEASE_RETURN:
		return do_return(cl, e, r);
	case LEASE_RENEW:
		return do_renew(cl, e, r, now_ms);
	case LEASE_RESET:
		return do_reset(cl, e, r);
	}
	return down(cl, e, "an unknown operation", -EINVAL);
}

/* ---- on the ask threads ---- */

static struct lease_req *req_of(struct ask_op *op)
{
	return (struct lease_req *)(void *)((char *)op -
					    offsetof(struct lease_req, aop));
}

static void run_op(struct ask_op *op, struct etcd *e)
{
	struct lease_req *r = req_of(op);
	uint64_t now = r->now_ms ? r->now_ms : clock_now_ms();

	op->rc = clease_apply(r->pool->cl, e, r, now);
}

static void done_op(struct ask_op *op)
{
	struct lease_req *r = req_of(op);

	r->op.done(&r->op, op->rc);
}

void clease_submit(struct ask *au, struct lease_req *r)
{
	r->aop.run = run_op;
	r->aop.done = done_op;
	ask_submit(au, &r->aop);
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
	/* An HTTP thread waits for this: a short bound per member. */
	rc = etcd_open(&e, cluster_endpoints(cl->c), LIST_TIMEOUT_MS);
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
	/* An HTTP thread waits for this: a short bound per member. */
	rc = etcd_open(&e, cluster_endpoints(cl->c), LIST_TIMEOUT_MS);
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
	int len, rc;

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
	rc = -pthread_mutex_init(&cl->lock, NULL);
	if (rc) {
		free(cl);
		return rc;
	}
	cl->nchunks = (d->capacity + LENT_CHUNK - 1) >> LENT_SHIFT;
	cl->known = calloc(d->capacity / 8 + 1, 1);
	cl->trying = calloc(d->capacity / 8 + 1, 1);
	cl->lent = calloc(cl->nchunks, sizeof(*cl->lent));
	cl->lent_n = calloc(cl->nchunks, sizeof(*cl->lent_n));
	if (!cl->known || !cl->trying || !cl->lent || !cl->lent_n) {
		clease_free(cl);
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
	size_t i;

	if (!cl)
		return;
	for (i = 0; cl->lent && i < cl->nchunks; i++)
		free(cl->lent[i]);
	free(cl->lent);
	free(cl->lent_n);
	free(cl->known);
	free(cl->trying);
	pthread_mutex_destroy(&cl->lock);
	free(cl);
}
