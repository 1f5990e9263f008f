/*
 * seq.c: sequence pools and their group-committed ids; see seq.h.
 *
 * Stored in the ledger:
 *   seq:       pool id -> struct seq_state (the last day used, its counter)
 *   seqids:    (pool id, day, n) -> time issued, one record per id, so an
 *              audit can say whether and when an id was issued
 *   idem:      (pool id, key) -> struct idem_rec (what the key got)
 *   idem_time: (time, pool id, key) -> "", oldest first, for the purge
 * In cluster mode seq is this node's last ids (a guard: etcd must never
 * be behind it) and seqids the ids this node issued; the counter is
 * etcd's seq/<name> (see seq.h).
 */
#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include <cJSON.h>

#include "cluster/cluster.h"

#include "common/clock.h"
#include "common/log.h"
#include "common/parse.h"
#include "common/store.h"
#include "common/tz.h"
#include "common/value.h"
#include "pools/seq.h"
#include "common/banned.h"

#define PURGE_MAX 10000

struct seq_state {
	uint32_t day;
	uint32_t reserved;
	uint64_t n;
};

struct idem_rec {
	uint64_t time_ms;
	uint32_t day;
	uint32_t reserved;
	uint64_t first;
	uint64_t count;
};

/* seq_open and seq_open_cluster: create and cluster say how the ledger
 * record is found or made. */
static int open_pool(struct seq *sp, struct ledger *lg,
		     const struct pool_def *d, bool create, bool cluster,
		     char *err, size_t errlen)
{
	static const uint8_t no_key[PERM_KEY_LEN];	/* not used */
	struct ledger_rec rec;
	uint32_t day = 0;
	uint64_t n = 0;
	int rc;

	memset(sp, 0, sizeof(*sp));
	sp->def = d;
	sp->ledger = lg;
	sp->max = d->capacity;
	rc = tz_load(d->tz, &sp->tz);
	if (rc) {
		snprintf(err, errlen, "pool \"%s\": time zone \"%s\": %s",
			 d->name, d->tz, rc == -ENOENT ? "unknown zone" :
			 log_strerror(rc));
		return rc;
	}
	if (cluster)
		rc = ledger_rec_ensure_cluster(lg, d, no_key, &rec, err,
					       errlen);
	else if (create)
		rc = ledger_rec_ensure(lg, d, &rec, err, errlen);
	else
		rc = ledger_rec_get(lg, d->name, &rec);
	if (rc == 0 && !ledger_rec_matches(&rec, d)) {
		snprintf(err, errlen, "pool \"%s\" in the ledger has other "
			 "parameters than in the configuration", d->name);
		rc = -EINVAL;
	}
	if (rc == -ENOENT)
		snprintf(err, errlen, "pool \"%s\" is not in the ledger yet",
			 d->name);
	if (rc == 0) {
		sp->id = rec.id;
		sp->cluster_made = rec.flags & LEDGER_REC_CLUSTER;
		rc = seq_state(sp, &day, &n);
	}
	if (rc) {
		tz_free(sp->tz);
		sp->tz = NULL;
		return rc;
	}
	atomic_store(&sp->shown_day, day);
	atomic_store(&sp->shown_n, n);
	return 0;
}

int seq_open(struct seq *sp, struct ledger *lg,
	     const struct pool_def *d, bool create, char *err,
	     size_t errlen)
{
	return open_pool(sp, lg, d, create, false, err, errlen);
}

int seq_open_cluster(struct seq *sp, struct ledger *lg,
		     const struct pool_def *d, char *err, size_t errlen)
{
	return open_pool(sp, lg, d, true, true, err, errlen);
}

void seq_release(struct seq *sp)
{
	etcd_free(sp->etcd);
	sp->etcd = NULL;
	tz_free(sp->tz);
	sp->tz = NULL;
}

int seq_today(const struct seq *sp, uint64_t ms, uint32_t *day)
{
	return tz_day(sp->tz, (int64_t)ms, day);
}

static int get_state(struct seq *sp, MDB_txn *txn, struct seq_state *st)
{
	unsigned char key[4];
	MDB_val k, v;
	int rc;

	memset(st, 0, sizeof(*st));
	store_put_be32(key, sp->id);
	k = store_val(key, sizeof(key));
	rc = mdb_get(txn, sp->ledger->seq, &k, &v);
	if (rc == MDB_NOTFOUND)
		return 0;
	if (rc)
		return store_err(rc);
	if (v.mv_size != sizeof(*st))
		return -EIO;
	memcpy(st, v.mv_data, sizeof(*st));
	return 0;
}

int seq_state(struct seq *sp, uint32_t *day, uint64_t *n)
{
	struct seq_state st;
	MDB_txn *txn;
	int rc;

	rc = store_err(store_txn_begin(sp->ledger->env, NULL, MDB_RDONLY,
				       &txn));
	if (rc)
		return rc;
	rc = get_state(sp, txn, &st);
	store_txn_abort(txn);
	if (rc == 0) {
		*day = st.day;
		*n = st.n;
	}
	return rc;
}

/* Seconds from now_ms until the local day after `day` begins (at least
 * 1: it is a Retry-After). */
static uint64_t secs_until_after(struct seq *sp, uint64_t now_ms,
				 uint32_t day)
{
	int64_t start;

	if (tz_day_start(sp->tz, tz_next_day(day), &start) ||
	    start <= (int64_t)(now_ms / 1000))
		return 1;
	return (uint64_t)(start - (int64_t)(now_ms / 1000));
}

static void idem_key(unsigned char *buf, uint32_t pool, const char *key,
		     size_t keylen)
{
	store_put_be32(buf, pool);
	memcpy(buf + 4, key, keylen);
}

/* The Idempotency-Key's earlier answer, if recent: 0 (r->replayed says
 * whether there was one, and then r is filled in), OUTCOME_KEY_CONFLICT,
 * or a negative errno. */
static int idem_find(struct seq_req *r, MDB_txn *txn, uint64_t now)
{
	unsigned char kb[4 + SEQ_IDEM_KEY_MAX];
	struct idem_rec rec;
	MDB_val k, v;
	int rc;

	idem_key(kb, r->pool->id, r->key, r->keylen);
	k = store_val(kb, 4 + r->keylen);
	rc = mdb_get(txn, r->pool->ledger->idem, &k, &v);
	if (rc == MDB_NOTFOUND)
		return 0;
	if (rc)
		return store_err(rc);
	if (v.mv_size != sizeof(rec))
		return -EIO;
	memcpy(&rec, v.mv_data, sizeof(rec));
	if (now >= rec.time_ms && now - rec.time_ms > SEQ_IDEM_KEEP_MS)
		return 0; /* expired: a new request */
	if (rec.count != r->count)
		return OUTCOME_KEY_CONFLICT;
	r->day = rec.day;
	r->first = rec.first;
	r->replayed = true;
	return 0;
}

static int idem_put(struct seq_req *r, MDB_txn *txn, uint64_t now)
{
	unsigned char kb[4 + SEQ_IDEM_KEY_MAX], tb[12 + SEQ_IDEM_KEY_MAX];
	struct idem_rec rec;
	MDB_val k, v;
	int rc;

	memset(&rec, 0, sizeof(rec));
	rec.time_ms = now;
	rec.day = r->day;
	rec.first = r->first;
	rec.count = r->count;
	idem_key(kb, r->pool->id, r->key, r->keylen);
	k = store_val(kb, 4 + r->keylen);
	v = store_val(&rec, sizeof(rec));
	rc = mdb_put(txn, r->pool->ledger->idem, &k, &v, 0);
	if (rc)
		return store_err(rc);
	store_put_be64(tb, now);
	memcpy(tb + 8, kb, 4 + r->keylen);
	k = store_val(tb, 12 + r->keylen);
	v = store_val("", 0);
	return store_err(mdb_put(txn, r->pool->ledger->idem_time, &k, &v, 0));
}

/* ---- cluster mode ---- */

static uint64_t mono_ms(void)
{
	return clock_mono_ns() / 1000000u;
}

static int etcd_key(const struct seq *sp, char *buf, size_t len)
{
	return cluster_key(buf, len, "seq/%s", sp->def->name);
}

/* The cache := etcd's value kv (NULL: there is no key). Returns 0, or
 * -EPROTO for a value that is not {"day", "n"} of this pool. */
static int cache_set(struct seq *sp, const struct etcd_kv *kv)
{
	const cJSON *d, *n;
	cJSON *o;
	int rc = 0;

	sp->cl_have = false;
	if (!kv) {
		sp->cl_rev = 0;
		sp->cl_cday = 0;
		sp->cl_cn = 0;
		sp->cl_have = true;
		return 0;
	}
	o = cJSON_Parse(kv->value);
	d = cJSON_GetObjectItem(o, "day");
	n = cJSON_GetObjectItem(o, "n");
	if (!cJSON_IsNumber(d) || !cJSON_IsNumber(n) ||
	    d->valuedouble < 19000101 || d->valuedouble > 99991231 ||
	    n->valuedouble < 0 || n->valuedouble > (double)sp->max ||
	    floor(d->valuedouble) != d->valuedouble ||
	    floor(n->valuedouble) != n->valuedouble) {
		rc = -EPROTO;
	} else {
		sp->cl_rev = kv->mod_rev;
		sp->cl_cday = (uint32_t)d->valuedouble;
		sp->cl_cn = (uint64_t)n->valuedouble;
		sp->cl_have = true;
		atomic_store(&sp->cl_day, sp->cl_cday);
		atomic_store(&sp->cl_n, sp->cl_cn);
	}
	cJSON_Delete(o);
	return rc;
}

/* The cache from the one range of res (a get of the key). */
static int cache_from(struct seq *sp, const struct etcd_result *res)
{
	if (res->nranges != 1)
		return -EPROTO;
	return cache_set(sp, res->ranges[0].n ? &res->ranges[0].kvs[0] :
			 NULL);
}

static int seq_apply(struct commit_op *op, MDB_txn *txn);

/* Whether op, queued behind lead in its batch, may take its ids in
 * lead's transaction: a plain request of the same pool and clock. */
static bool joins(const struct seq_req *lead, const struct commit_op *op)
{
	const struct seq_req *f = (const struct seq_req *)op;

	return f->pool == lead->pool && !f->keylen && !f->taken &&
	       f->now_ms == lead->now_ms && f->count >= 1 &&
	       f->count <= lead->pool->max;
}

/* Walks the requests behind lead that join it, base: etcd's counter
 * before lead's ids. With assign, gives the first k their ids (from
 * base + lead's count + 1, on day); else counts how many fit in the day
 * (*k) and their ids (*total). A request of the pool that does not join
 * ends the walk, so a node's ids keep the order of its requests. */
static void followers(struct seq_req *lead, uint64_t base, bool assign,
		      uint32_t day, size_t *k, uint64_t *total)
{
	struct seq *sp = lead->pool;
	uint64_t next = base + lead->count + 1, sum = 0;
	struct commit_op *op;
	size_t n = 0;

	for (op = lead->op.next; op; op = op->next) {
		struct seq_req *f = (struct seq_req *)op;

		if (op->apply != seq_apply || f->pool != sp)
			continue;
		if (!joins(lead, op) || (assign && n == *k))
			break;
		if (assign) {
			f->taken = true;
			f->day = day;
			f->first = next;
			next += f->count;
		} else {
			if (base + lead->count + sum + f->count > sp->max)
				break;
			sum += f->count;
		}
		n++;
	}
	if (!assign) {
		*k = n;
		*total = sum;
	}
}

/* An etcd failure: logged (every 5 s at most), then CLUSTER_DOWN at
 * once for SEQ_DOWN_MS. */
static int etcd_down(struct seq *sp, int rc, const char *what)
{
	uint64_t now = mono_ms();

	sp->cl_have = false;
	sp->down_until = now + SEQ_DOWN_MS;
	if (!sp->said_ms || now - sp->said_ms >= 5000) {
		const char *why = sp->etcd && rc != -ENOLINK ?
				  etcd_strerror(sp->etcd) : "";

		sp->said_ms = now;
		log_warn("cluster: pool \"%s\": %s: %s%s%s%s; answering 503 "
			 "cluster_unavailable", sp->def->name, what,
			 log_strerror(rc), *why ? " (" : "", why,
			 *why ? ")" : "");
	}
	return OUTCOME_CLUSTER_DOWN;
}

/*
 * Takes r's ids (and those of the requests that join it) from etcd's
 * counter: day is the later of today and etcd's day. st is this node's
 * last ids (the ledger's), which etcd must not be behind. Returns 0 with
 * r->day and r->first set, or an outcome (nothing written anywhere).
 */
/* After the tries-th lost compare-and-swap: a random pause of up to
 * 2^min(tries, 5) x 100 us, so that nodes that lost to each other try
 * again at different times (the committer thread only: sp->cl_rng). */
static void cas_pause(struct seq *sp, int tries)
{
	uint64_t x = sp->cl_rng ? sp->cl_rng : clock_mono_ns() | 1;
	struct timespec ts;
	unsigned span = 1u << (tries < 5 ? tries : 5);

	x ^= x << 13;
	x ^= x >> 7;
	x ^= x << 17;
	sp->cl_rng = x;
	ts.tv_sec = 0;
	ts.tv_nsec = (long)(x % span + 1) * 100000L;
	nanosleep(&ts, NULL);
}

static int cluster_take(struct seq_req *r, uint64_t now, uint32_t today,
			const struct seq_state *st)
{
	struct seq *sp = r->pool;
	char key[POOL_NAME_MAX + 32], val[160];
	struct etcd_result res = { 0 };
	struct etcd_txn t;
	uint64_t base, total = 0;
	uint32_t day;
	size_t k = 0;
	bool fresh;
	int klen, vlen, tries, rc;

	if (!cluster_fence_ok(sp->cluster))
		return etcd_down(sp, -ENOLINK, "this node's session is not "
				 "live");
	if (mono_ms() < sp->down_until)
		return OUTCOME_CLUSTER_DOWN;
	klen = etcd_key(sp, key, sizeof(key));
	if (klen < 0)
		return etcd_down(sp, klen, "the key");
	if (!sp->etcd) {
		rc = cluster_etcd_open(sp->cluster, &sp->etcd);
		if (rc)
			return etcd_down(sp, rc, "opening a client");
	}
	for (tries = 0; tries < SEQ_CAS_TRIES; tries++) {
		fresh = !sp->cl_have;
		if (fresh) {
			rc = etcd_get(sp->etcd, key, (size_t)klen, false, 0,
				      false, &res);
			if (rc == 0)
				rc = cache_from(sp, &res);
			etcd_result_release(&res);
			if (rc)
				return etcd_down(sp, rc, "reading the counter");
		}
		if (sp->cl_cday < st->day ||
		    (sp->cl_cday == st->day && sp->cl_cn < st->n)) {
			sp->cl_have = false;
			sp->down_until = mono_ms() + SEQ_DOWN_MS;
			log_error("cluster: pool \"%s\": etcd's counter (%u, "
				  "%" PRIu64 ") is behind the ids this node "
				  "issued (%u, %" PRIu64 "): was etcd's data "
				  "lost? Refusing to issue", sp->def->name,
				  sp->cl_cday, sp->cl_cn, st->day, st->n);
			return OUTCOME_CLUSTER_DOWN;
		}
		day = today > sp->cl_cday ? today : sp->cl_cday;
		base = day == sp->cl_cday ? sp->cl_cn : 0;
		if (base + r->count > sp->max) {
			if (!fresh) {	/* the cluster may be on a later day */
				sp->cl_have = false;
				continue;
			}
			r->retry_after = secs_until_after(sp, now, day);
			return OUTCOME_USED_UP;
		}
		followers(r, base, false, day, &k, &total);
		vlen = snprintf(val, sizeof(val),
				"{\"day\":%u,\"n\":%" PRIu64 ",\"node\":\"%s\"}",
				day, base + r->count + total,
				cluster_node(sp->cluster));
		if (vlen < 0 || (size_t)vlen >= sizeof(val))
			return etcd_down(sp, -ENAMETOOLONG, "the value");
		etcd_txn_init(&t);
		if (sp->cl_rev)
			etcd_txn_cmp(&t, key, (size_t)klen, ETCD_MOD,
				     ETCD_EQUAL, sp->cl_rev);
		else
			etcd_txn_cmp(&t, key, (size_t)klen, ETCD_VERSION,
				     ETCD_EQUAL, 0);
		etcd_txn_put(&t, true, key, (size_t)klen, val, (size_t)vlen,
			     0);
		etcd_txn_get(&t, false, key, (size_t)klen, false);
		rc = etcd_txn_run(sp->etcd, &t, &res);
		etcd_txn_release(&t);
		if (rc)
			return etcd_down(sp, rc, "advancing the counter");
		if (res.succeeded) {
			sp->cl_rev = res.revision; /* the key's mod rev */
			etcd_result_release(&res);
			sp->cl_cday = day;
			sp->cl_cn = base + r->count + total;
			atomic_store(&sp->cl_day, day);
			atomic_store(&sp->cl_n, sp->cl_cn);
			atomic_fetch_add(&sp->etcd_txns, 1);
			r->day = day;
			r->first = base + 1;
			followers(r, base, true, day, &k, &total);
			return 0;
		}
		/* Another node took ids: the failure branch has the
		 * counter as it is now. */
		atomic_fetch_add(&sp->cas_lost, 1);
		rc = cache_from(sp, &res);
		etcd_result_release(&res);
		if (rc)
			return etcd_down(sp, rc, "reading the counter");
		cas_pause(sp, tries);
	}
	sp->cl_have = false;
	log_warn("cluster: pool \"%s\": %d compare-and-swaps of the counter "
		 "lost to other nodes; answering 503", sp->def->name,
		 SEQ_CAS_TRIES);
	return OUTCOME_CLUSTER_DOWN;
}

int seq_cluster_attach(struct seq *sp, struct cluster *c, char *err,
		       size_t errlen)
{
	char key[POOL_NAME_MAX + 32];
	struct etcd_result res = { 0 };
	struct etcd *e = NULL;
	int klen, rc;

	if (!sp->cluster_made) {
		snprintf(err, errlen, "pool \"%s\" was not opened as a "
			 "cluster pool", sp->def->name);
		return -EINVAL;
	}
	sp->cluster = c;
	klen = etcd_key(sp, key, sizeof(key));
	if (klen < 0) {
		snprintf(err, errlen, "pool \"%s\": name too long for etcd",
			 sp->def->name);
		return klen;
	}
	/* What GET /pools shows before the first order. */
	rc = cluster_etcd_open(c, &e);
	if (rc == 0)
		rc = etcd_get(e, key, (size_t)klen, false, 0, false, &res);
	if (rc == 0)
		(void)cache_from(sp, &res); /* else the committer reads */
	etcd_result_release(&res);
	etcd_free(e);
	return 0;
}

static int seq_apply(struct commit_op *op, MDB_txn *txn)
{
	struct seq_req *r = (struct seq_req *)op;
	struct seq *sp = r->pool;
	uint64_t now = r->now_ms ? r->now_ms : clock_now_ms(), i, time_ms;
	unsigned char key[16], skey[4];
	struct seq_state st;
	uint32_t today;
	MDB_val k, v;
	int rc;

	/* Outcomes first: nothing is written before the last of them. */
	if (r->count == 0 || r->count > sp->max)
		return OUTCOME_TOO_MANY;
	if (r->keylen) {
		rc = idem_find(r, txn, now);
		if (rc || r->replayed)
			return rc;
	}
	if (sp->cluster_made && !r->taken) {
		if (!sp->cluster)
			return OUTCOME_CLUSTER_DOWN;
		rc = seq_today(sp, now, &today);
		if (rc == 0)
			rc = get_state(sp, txn, &st);
		if (rc == 0)
			rc = cluster_take(r, now, today, &st);
		if (rc)
			return rc;
	}
	if (sp->cluster_made) {	/* etcd took r's ids: record them */
		st.day = r->day;
		st.reserved = 0;
		st.n = r->first + r->count - 1;
		goto write;
	}
	rc = seq_today(sp, now, &today);
	if (rc)
		return rc;
	rc = get_state(sp, txn, &st);
	if (rc)
		return rc;
	if (today > st.day) {	/* a new day: the counter starts again */
		st.day = today;
		st.n = 0;
	}			/* else the same day, or the clock went back */
	if (st.n + r->count > sp->max) {
		r->retry_after = secs_until_after(sp, now, st.day);
		return OUTCOME_USED_UP;
	}
	r->day = st.day;
	r->first = st.n + 1;
	st.n += r->count;
write:
	store_put_be32(skey, sp->id);
	k = store_val(skey, sizeof(skey));
	v = store_val(&st, sizeof(st));
	rc = store_err(mdb_put(txn, sp->ledger->seq, &k, &v, 0));
	time_ms = now;
	for (i = 0; i < r->count && rc == 0; i++) {
		store_put_be32(key, sp->id);
		store_put_be32(key + 4, r->day);
		store_put_be64(key + 8, r->first + i);
		k = store_val(key, sizeof(key));
		v = store_val(&time_ms, sizeof(time_ms));
		rc = store_err(mdb_put(txn, sp->ledger->seqids, &k, &v,
				       MDB_NOOVERWRITE));
	}
	if (rc == 0 && r->keylen)
		rc = idem_put(r, txn, now);
	if (rc == -EEXIST) {
		log_error("pool \"%s\": id %u-%llu was already issued; the "
			  "ledger's counter is behind its records",
			  sp->def->name, r->day,
			  (unsigned long long)(r->first + i - 1));
		rc = -EIO;
	}
	return rc;
}

void seq_req_init(struct seq_req *r, struct seq *sp, uint64_t count,
		  const char *key, size_t keylen)
{
	memset(r, 0, sizeof(*r));
	r->op.apply = seq_apply;
	r->pool = sp;
	r->count = count;
	if (key && keylen <= SEQ_IDEM_KEY_MAX) {
		memcpy(r->key, key, keylen);
		r->keylen = keylen;
	}
}

size_t seq_format(const struct seq *sp, uint32_t day, uint64_t n,
		  char *buf)
{
	unsigned i, digits = sp->def->digits;

	snprintf(buf, 10, "%08u-", day);
	for (i = digits; i-- > 0;) {
		buf[9 + i] = (char)('0' + n % 10);
		n /= 10;
	}
	buf[9 + digits] = '\0';
	return 9 + digits;
}

int seq_parse(const struct seq *sp, const char *text, uint32_t *day,
	      uint64_t *n)
{
	unsigned digits = sp->def->digits;
	uint64_t d, v;

	if (strlen(text) != 9 + digits || text[8] != '-')
		return -EINVAL;
	if (parse_u64_n(text, 8, 19000101, 99991231, &d) ||
	    d % 100 == 0 || d % 100 > 31 || d / 100 % 100 == 0 ||
	    d / 100 % 100 > 12)
		return -EINVAL;
	if (parse_u64_n(text + 9, digits, 1, sp->max, &v))
		return -EINVAL;
	*day = (uint32_t)d;
	*n = v;
	return 0;
}

int seq_lookup(struct seq *sp, uint32_t day, uint64_t n, bool *issued,
	       uint64_t *issued_ms)
{
	unsigned char key[16];
	MDB_txn *txn;
	MDB_val k, v;
	int rc;

	*issued = false;
	rc = store_err(store_txn_begin(sp->ledger->env, NULL, MDB_RDONLY,
				       &txn));
	if (rc)
		return rc;
	store_put_be32(key, sp->id);
	store_put_be32(key + 4, day);
	store_put_be64(key + 8, n);
	k = store_val(key, sizeof(key));
	rc = mdb_get(txn, sp->ledger->seqids, &k, &v);
	if (rc == 0 && v.mv_size == sizeof(*issued_ms)) {
		*issued = true;
		memcpy(issued_ms, v.mv_data, sizeof(*issued_ms));
	}
	store_txn_abort(txn);
	return rc == MDB_NOTFOUND ? 0 : store_err(rc);
}

int seq_purge_tick(void *arg, MDB_txn *txn, uint64_t now_ms)
{
	struct ledger *lg = arg;
	MDB_cursor *cur = NULL;
	MDB_val k, v, ik, iv;
	uint64_t cutoff = now_ms > 2 * SEQ_IDEM_KEEP_MS ?
			  now_ms - 2 * SEQ_IDEM_KEEP_MS : 0;
	unsigned done = 0;
	int rc;

	rc = store_err(mdb_cursor_open(txn, lg->idem_time, &cur));
	if (rc)
		return rc;
	/* After a delete the cursor already points at the next entry, which
	 * MDB_NEXT then returns (as in shard_take). */
	for (rc = mdb_cursor_get(cur, &k, &v, MDB_FIRST);
	     rc == 0 && done < PURGE_MAX;
	     rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT), done++) {
		struct idem_rec rec;
		uint64_t t;

		if (k.mv_size < 12)
			break;
		t = store_get_be64(k.mv_data);
		if (t >= cutoff)
			break;
		/* Drop the key's record only if this is its last use. */
		ik = store_val((const unsigned char *)k.mv_data + 8,
			       k.mv_size - 8);
		if (mdb_get(txn, lg->idem, &ik, &iv) == 0 &&
		    iv.mv_size == sizeof(rec)) {
			memcpy(&rec, iv.mv_data, sizeof(rec));
			if (rec.time_ms == t &&
			    (rc = mdb_del(txn, lg->idem, &ik, NULL)))
				break;
		}
		rc = mdb_cursor_del(cur, 0);
		if (rc)
			break;
	}
	mdb_cursor_close(cur);
	return rc == MDB_NOTFOUND ? 0 : store_err(rc);
}
