/*
 * codepool.c: code pools in the ledger; see codepool.h for the streams, the
 * checks across streams, and the counts.
 *
 * Stored in the ledger, besides the streams' pool records and grants:
 *   skips:    (stream id, position) -> "", positions whose code another
 *             stream had issued
 *   coderuns: each grant's issued codes, sorted (ledger.h: ledger_run_*)
 *   redeemed: (pool id, code) -> time redeemed (ms)
 * (the jobs' records are codejob.c's).
 */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/clock.h"
#include "common/log.h"
#include "common/store.h"
#include "pools/codejob.h"
#include "pools/codepool.h"
#include "common/banned.h"

/* The stream of prefix p of pool d is named "<pool>/<symbols>"; the root
 * stream (no prefix) is the pool's own record. */
static void stream_name(const struct pool_def *d, const struct code_prefix *p,
			char *buf, size_t len)
{
	if (p->len == 0)
		snprintf(buf, len, "%s", d->name);
	else
		snprintf(buf, len, "%s/%s", d->name, p->canon);
}

/* The prefix of a stream from its name's symbols. */
static int prefix_from_canon(const struct pool_def *d, const char *canon,
			     struct code_prefix *p)
{
	size_t a = strlen(d->alphabet), i, n = strlen(canon);
	const char *at;

	if (n >= d->slots)
		return -EIO;
	p->value = 0;
	for (i = 0; i < n; i++) {
		at = strchr(d->alphabet, canon[i]);
		if (!canon[i] || !at)
			return -EIO;
		p->value = p->value * a + (uint64_t)(at - d->alphabet);
	}
	p->len = (unsigned)n;
	memcpy(p->canon, canon, n + 1);
	return 0;
}

/* ---- streams ------------------------------------------------------- */

static uint64_t slot_hash(unsigned len, uint64_t value)
{
	return perm_siphash_u64(0x636f646573, len, value); /* "codes" */
}

static int table_build(struct codepool_streams *cs)
{
	size_t i, cap = 16;

	while (cap < cs->n * 2 + 2)
		cap *= 2;
	cs->table = malloc(cap * sizeof(*cs->table));
	if (!cs->table)
		return -ENOMEM;
	cs->tcap = cap;
	for (i = 0; i < cap; i++)
		cs->table[i] = -1;
	for (i = 0; i < cs->n; i++) {
		const struct code_prefix *p = &cs->v[i].prefix;
		size_t at = slot_hash(p->len, p->value) & (cap - 1);

		while (cs->table[at] >= 0)
			at = (at + 1) & (cap - 1);
		cs->table[at] = (int32_t)i;
		cs->lens[p->len] = true;
	}
	return 0;
}

static struct codepool_stream *table_find(struct codepool_streams *cs,
					  unsigned len, uint64_t value)
{
	size_t at = slot_hash(len, value) & (cs->tcap - 1);
	int32_t i;

	while ((i = cs->table[at]) >= 0) {
		if (cs->v[i].prefix.len == len &&
		    cs->v[i].prefix.value == value)
			return &cs->v[i];
		at = (at + 1) & (cs->tcap - 1);
	}
	return NULL;
}

static int add_stream(struct codepool_streams *cs, size_t *cap,
		      const char *name, const struct code_prefix *p,
		      const struct ledger_rec *rec)
{
	struct codepool_stream *s;

	if (cs->n == *cap) {
		size_t ncap = *cap ? *cap * 2 : 8;
		struct codepool_stream *v = realloc(cs->v, ncap * sizeof(*v));

		if (!v)
			return -ENOMEM;
		cs->v = v;
		*cap = ncap;
	}
	s = &cs->v[cs->n++];
	snprintf(s->name, sizeof(s->name), "%s", name);
	s->prefix = *p;
	s->rec = *rec;
	perm_init(&s->perm, rec->capacity, rec->key);
	return 0;
}

struct streams_load {
	struct codepool_streams *cs;
	size_t cap, nl;		/* room in cs->v; length of the pool name */
};

/* One prefix stream: a record named "<pool>/<symbols>". */
static int streams_load_one(const MDB_val *k, const MDB_val *v, void *arg)
{
	struct streams_load *l = arg;
	const struct pool_def *d = l->cs->def;
	char sname[CODEPOOL_STREAM_NAME_MAX];
	struct ledger_rec rec;
	struct code_prefix p;
	int rc;

	if (k->mv_size <= l->nl + 1)
		return 1;
	if (v->mv_size != sizeof(rec) || k->mv_size >= sizeof(sname))
		return -EIO;
	memcpy(&rec, v->mv_data, sizeof(rec));
	memcpy(sname, k->mv_data, k->mv_size);
	sname[k->mv_size] = '\0';
	rc = prefix_from_canon(d, sname + l->nl + 1, &p);
	if (rc == 0)
		rc = add_stream(l->cs, &l->cap, sname, &p, &rec);
	return rc;
}

int codepool_streams_load(struct ledger *lg, MDB_txn *txn,
			  const struct pool_def *d,
			  struct codepool_streams *cs)
{
	struct streams_load l = { cs, 0, strlen(d->name) };
	char name[CODEPOOL_STREAM_NAME_MAX];
	struct code_prefix root = { 0 };
	struct ledger_rec rec;
	int rc;

	memset(cs, 0, sizeof(*cs));
	cs->def = d;
	rc = ledger_rec_get_txn(lg, txn, d->name, &rec);
	if (rc == 0)
		rc = add_stream(cs, &l.cap, d->name, &root, &rec);
	if (rc == -ENOENT)
		rc = 0; /* not created yet: no codes at all */
	if (rc)
		goto out;
	/* The prefix streams: every record named "<pool>/..." */
	snprintf(name, sizeof(name), "%s/", d->name);
	rc = store_scan(txn, lg->pools, name, l.nl + 1, l.nl + 1,
			streams_load_one, &l);
	if (rc > 0)
		rc = 0;
	if (rc == 0)
		rc = table_build(cs);
out:
	if (rc)
		codepool_streams_release(cs);
	return rc;
}

void codepool_streams_release(struct codepool_streams *cs)
{
	free(cs->v);
	free(cs->table);
	cs->v = NULL;
	cs->table = NULL;
	cs->n = 0;
}

static void skip_key(unsigned char k[12], uint32_t stream, uint64_t pos)
{
	store_put_be32(k, stream);
	store_put_be64(k + 4, pos);
}

/* 1 if position pos of stream was skipped, 0 if not, or an error. */
static int is_skipped(struct ledger *lg, MDB_txn *txn, uint32_t stream,
		      uint64_t pos)
{
	unsigned char key[12];
	MDB_val k = store_val(key, sizeof(key)), v;
	int rc;

	skip_key(key, stream, pos);
	rc = mdb_get(txn, lg->skips, &k, &v);
	if (rc == MDB_NOTFOUND)
		return 0;
	return rc ? store_err(rc) : 1;
}

int codepool_streams_owner(struct codepool_streams *cs, struct ledger *lg,
			   MDB_txn *txn, uint64_t k,
			   const struct codepool_stream *except,
			   struct codepool_stream **owner, uint64_t *pos)
{
	unsigned len;
	int rc;

	for (len = 0; len < cs->def->slots; len++) {
		struct codepool_stream *q;
		uint64_t comb, i;

		if (!cs->lens[len])
			continue;
		q = table_find(cs, len, code_top(cs->def, k, len));
		if (!q || q == except)
			continue;
		comb = code_combinations(cs->def, len);
		i = perm_invert(&q->perm, k - q->prefix.value * comb);
		if (i >= q->rec.counter)
			continue;
		rc = is_skipped(lg, txn, q->rec.id, i);
		if (rc < 0)
			return rc;
		if (rc)
			continue;
		*owner = q;
		*pos = i;
		return 1;
	}
	return 0;
}

/* ---- issuing ------------------------------------------------------- */

int codepool_batch_init(struct codepool_batch *b, size_t cap)
{
	memset(b, 0, sizeof(*b));
	b->codes = malloc(cap * sizeof(*b->codes));
	b->pos = malloc(cap * sizeof(*b->pos));
	b->sorted = malloc(cap * sizeof(*b->sorted));
	b->tmp = malloc(cap * sizeof(*b->tmp));
	if (!b->codes || !b->pos || !b->sorted || !b->tmp) {
		codepool_batch_release(b);
		return -ENOMEM;
	}
	b->cap = cap;
	return 0;
}

void codepool_batch_release(struct codepool_batch *b)
{
	free(b->codes);
	free(b->pos);
	free(b->sorted);
	free(b->tmp);
	memset(b, 0, sizeof(*b));
}

/* Sorts n values (LSD radix, 16 bits a pass) using tmp of n. */
static void radix_sort(uint64_t *v, uint64_t *tmp, size_t n)
{
	static _Thread_local size_t count[1 << 16];
	unsigned shift;
	size_t i, sum, c;
	uint64_t *src = v, *dst = tmp, *t;

	for (shift = 0; shift < 64; shift += 16) {
		memset(count, 0, sizeof(count));
		for (i = 0; i < n; i++)
			count[(src[i] >> shift) & 0xffff]++;
		if (count[(src[0] >> shift) & 0xffff] == n)
			continue; /* all the same in these bits */
		for (i = 0, sum = 0; i < (1 << 16); i++) {
			c = count[i];
			count[i] = sum;
			sum += c;
		}
		for (i = 0; i < n; i++)
			dst[count[(src[i] >> shift) & 0xffff]++] = src[i];
		t = src;
		src = dst;
		dst = t;
	}
	if (src != v)
		memcpy(v, src, n * sizeof(*v));
}

/* Writes the batch's issued codes as one sorted run. */
static int put_run(struct ledger *lg, MDB_txn *txn, struct codepool_batch *b)
{
	if (b->n == 0)
		return 0;
	memcpy(b->sorted, b->codes, b->n * sizeof(*b->sorted));
	radix_sort(b->sorted, b->tmp, b->n);
	return ledger_run_put(lg, txn, b->stream_id, b->grant.first,
			      b->sorted, b->n);
}

/* Computes n codes base + perm(first + i), in out. */
struct perm_part {
	const struct perm *perm;
	uint64_t base, first;
	uint64_t *out;
	size_t n;
};

static void *perm_part_main(void *arg)
{
	struct perm_part *pp = arg;
	size_t i;

	for (i = 0; i < pp->n; i++)
		pp->out[i] = pp->base + perm_apply(pp->perm, pp->first + i);
	return NULL;
}

/* The codes of n positions from `first`, on two threads when there are
 * many: the permutation is most of the work of a bulk job, and is pure
 * computation (no transaction is touched). */
static void compute_codes(const struct perm *perm, uint64_t base,
			  uint64_t first, size_t n, uint64_t *out)
{
	struct perm_part a = { perm, base, first, out, n / 2 };
	struct perm_part b = { perm, base, first + n / 2, out + n / 2,
			       n - n / 2 };
	pthread_t tid;

	if (n < 32768 || pthread_create(&tid, NULL, perm_part_main, &a)) {
		a.n = n;
		perm_part_main(&a);
		return;
	}
	perm_part_main(&b);
	pthread_join(tid, NULL);
}

int codepool_issue(struct ledger *lg, const struct pool_def *d,
		   const struct code_prefix *p, uint32_t shard, uint64_t want,
		   struct codepool_batch *b, codepool_issue_hook hook,
		   void *arg)
{
	char name[CODEPOOL_STREAM_NAME_MAX];
	struct codepool_streams cs = { 0 };
	struct codepool_stream *self = NULL, *owner;
	struct ledger_rec rec;
	unsigned char skey[12];
	MDB_txn *txn;
	MDB_val k, v;
	uint64_t base, i, at, opos;
	bool others;
	int rc;

	b->n = 0;
	b->skipped = 0;
	memset(&b->grant, 0, sizeof(b->grant));
	if (want > b->cap)
		want = b->cap;
	stream_name(d, p, name, sizeof(name));
	rc = store_err(store_txn_begin(lg->env, NULL, 0, &txn));
	if (rc)
		return rc;
	rc = ledger_rec_get_txn(lg, txn, name, &rec);
	if (rc == -ENOENT && p->len > 0)
		rc = ledger_rec_create_txn(lg, txn, name, POOL_CODE, p->len,
					   code_combinations(d, p->len),
					   config_pool_fingerprint(d), &rec);
	if (rc)
		goto out;
	/* Shards and uniqctl never take what jobs were promised. */
	if (!CODEPOOL_SHARD_IS_JOB(shard)) {
		rc = codejob_clamp(lg, txn, d, p, &want);
		if (rc == 0 && want == 0 && rec.counter < rec.capacity)
			rc = OUTCOME_PROMISED;
		if (rc)
			goto out;
	}
	rc = ledger_grant_txn(lg, txn, name, shard, want, &b->grant, &rec);
	if (rc || b->grant.count == 0)
		goto out;
	rc = codepool_streams_load(lg, txn, d, &cs);
	if (rc)
		goto out;
	self = table_find(&cs, p->len, p->value);
	if (!self) {
		rc = -EIO;
		goto out;
	}
	/* The grant's own record in cs is from after the grant: its perm
	 * and counter are right; only other streams are checked. */
	others = cs.n > 1;
	b->stream_id = rec.id;
	base = code_prefix_first(d, p);
	/* First every candidate (into sorted, free until put_run), then the
	 * checks against the other streams, in order. */
	compute_codes(&self->perm, base, b->grant.first, b->grant.count,
		      b->sorted);
	for (i = 0; i < b->grant.count; i++) {
		at = b->grant.first + i;
		b->codes[b->n] = b->sorted[i];
		if (others) {
			rc = codepool_streams_owner(&cs, lg, txn,
						    b->codes[b->n], self,
						    &owner, &opos);
			if (rc < 0)
				goto out;
			if (rc) {
				/* Another stream had it: skip the position. */
				skip_key(skey, rec.id, at);
				k = store_val(skey, sizeof(skey));
				v = store_val("", 0);
				rc = store_err(mdb_put(txn, lg->skips, &k, &v,
						       MDB_NOOVERWRITE));
				if (rc)
					goto out;
				b->skipped++;
				continue;
			}
		}
		b->pos[b->n++] = at;
	}
	rc = 0;
	if (b->skipped) {
		rec.skipped += b->skipped;
		rc = ledger_rec_put_txn(lg, txn, name, &rec);
	}
	if (rc == 0)
		rc = put_run(lg, txn, b);
	if (rc == 0 && hook)
		rc = hook(txn, b, arg);
out:
	codepool_streams_release(&cs);
	if (rc == 0 && b->grant.count == 0) {
		store_txn_abort(txn); /* used up: nothing written */
		return 0;
	}
	rc = store_finish(txn, rc);
	if (rc) {
		b->n = 0;
		b->skipped = 0;
		memset(&b->grant, 0, sizeof(b->grant));
	}
	return rc;
}

/* ---- counting ------------------------------------------------------ */

int codepool_count_txn(struct ledger *lg, MDB_txn *txn,
		       const struct pool_def *d, const struct code_prefix *p,
		       uint64_t *issued)
{
	struct codepool_streams cs;
	uint64_t lo = code_prefix_first(d, p);
	uint64_t hi = lo + code_combinations(d, p->len), n = 0;
	size_t i;
	int rc;

	rc = codepool_streams_load(lg, txn, d, &cs);
	for (i = 0; rc == 0 && i < cs.n; i++) {
		const struct codepool_stream *q = &cs.v[i];

		if (q->prefix.len >= p->len &&
		    !memcmp(q->prefix.canon, p->canon, p->len))
			/* under P altogether */
			n += q->rec.counter - q->rec.skipped;
		else if (q->prefix.len < p->len &&
			 !memcmp(q->prefix.canon, p->canon, q->prefix.len))
			/* around P: some of its codes are under it */
			rc = ledger_run_count(lg, txn, q->rec.id, lo, hi, &n);
	}
	codepool_streams_release(&cs);
	if (rc == 0)
		*issued = n;
	return rc;
}

int codepool_count(struct ledger *lg, const struct pool_def *d,
		   const struct code_prefix *p, uint64_t *issued)
{
	MDB_txn *txn;
	int rc;

	rc = store_err(store_txn_begin(lg->env, NULL, MDB_RDONLY, &txn));
	if (rc)
		return rc;
	rc = codepool_count_txn(lg, txn, d, p, issued);
	store_txn_abort(txn);
	return rc;
}

/* ---- lookups and redemptions --------------------------------------- */

static void redeem_key(unsigned char k[12], uint32_t pool, uint64_t code)
{
	store_put_be32(k, pool);
	store_put_be64(k + 4, code);
}

static int get_redeemed(struct ledger *lg, MDB_txn *txn, uint32_t pool,
			uint64_t code, uint64_t *ms)
{
	unsigned char key[12];
	MDB_val k = store_val(key, sizeof(key)), v;
	int rc;

	redeem_key(key, pool, code);
	rc = mdb_get(txn, lg->redeemed, &k, &v);
	if (rc)
		return store_err(rc);
	if (v.mv_size != sizeof(*ms))
		return -EIO;
	memcpy(ms, v.mv_data, sizeof(*ms));
	return 0;
}

int codepool_lookup(struct ledger *lg, const struct pool_def *d, uint64_t k,
		    struct codepool_lookup *out)
{
	struct codepool_streams cs;
	struct codepool_stream *q;
	struct ledger_grant g;
	MDB_txn *txn;
	uint64_t pos;
	int rc;

	memset(out, 0, sizeof(*out));
	rc = store_err(store_txn_begin(lg->env, NULL, MDB_RDONLY, &txn));
	if (rc)
		return rc;
	rc = codepool_streams_load(lg, txn, d, &cs);
	if (rc)
		goto out;
	rc = codepool_streams_owner(&cs, lg, txn, k, NULL, &q, &pos);
	if (rc <= 0)
		goto out_cs;
	out->issued = true;
	out->root = q->prefix.len == 0;
	rc = get_redeemed(lg, txn, cs.v[0].rec.id, k, &out->redeemed_ms);
	out->redeemed = rc == 0;
	if (rc == -ENOENT)
		rc = 0;
	if (rc)
		goto out_cs;
	rc = ledger_grant_find(lg, q->rec.id, pos, &g);
	if (rc == 0) {
		out->issued_ms = g.time_ms;
		out->shard = g.shard;
		out->seq = g.seq0 + (pos - g.first);
	}
out_cs:
	codepool_streams_release(&cs);
out:
	store_txn_abort(txn);
	return rc < 0 ? rc : 0;
}

static int redeem_apply(struct commit_op *op, MDB_txn *txn)
{
	struct codepool_redeem *r = (struct codepool_redeem *)op;
	struct codepool_streams cs;
	struct codepool_stream *q;
	unsigned char key[12];
	MDB_val k, v;
	uint64_t pos;
	int rc;

	/* Outcomes first: the one write is the last step. */
	rc = get_redeemed(r->lg, txn, r->pool_id, r->code, &r->redeemed_ms);
	if (rc == 0)
		return OUTCOME_REDEEMED;
	if (rc != -ENOENT)	/* -ENOENT: the store has no redemption */
		return rc;
	rc = codepool_streams_load(r->lg, txn, r->def, &cs);
	if (rc)
		return rc;
	rc = codepool_streams_owner(&cs, r->lg, txn, r->code, NULL, &q, &pos);
	codepool_streams_release(&cs);
	if (rc < 0)
		return rc;
	if (rc == 0)
		return OUTCOME_NOT_ISSUED;
	r->redeemed_ms = clock_now_ms();
	redeem_key(key, r->pool_id, r->code);
	k = store_val(key, sizeof(key));
	v = store_val(&r->redeemed_ms, sizeof(r->redeemed_ms));
	return store_err(mdb_put(txn, r->lg->redeemed, &k, &v,
				 MDB_NOOVERWRITE));
}

void codepool_redeem_init(struct codepool_redeem *r, struct ledger *lg,
			  const struct pool_def *d, uint32_t pool_id,
			  uint64_t code)
{
	memset(r, 0, sizeof(*r));
	r->op.apply = redeem_apply;
	r->lg = lg;
	r->def = d;
	r->pool_id = pool_id;
	r->code = code;
}

int codepool_shard_codes(struct ledger *lg, const struct pool_def *d,
			 const struct code_prefix *p, uint32_t shard,
			 uint64_t from, uint64_t max,
			 int (*fn)(uint64_t code, void *arg), void *arg)
{
	char name[CODEPOOL_STREAM_NAME_MAX];
	struct ledger_grant *g = NULL;
	struct ledger_rec rec;
	struct perm perm;
	MDB_txn *txn = NULL;
	uint64_t base, i, seen = 0, sent = 0;
	size_t ng = 0, j;
	int rc;

	stream_name(d, p, name, sizeof(name));
	rc = ledger_grants_load(lg, name, &rec, &g, &ng);
	if (rc)
		return rc;
	perm_init(&perm, rec.capacity, rec.key);
	base = code_prefix_first(d, p);
	rc = store_err(store_txn_begin(lg->env, NULL, MDB_RDONLY, &txn));
	for (j = 0; rc == 0 && j < ng && sent < max; j++) {
		if (g[j].shard != shard)
			continue;
		for (i = g[j].first; rc == 0 && i < g[j].first + g[j].count &&
				     sent < max; i++) {
			rc = is_skipped(lg, txn, rec.id, i);
			if (rc == 1) {
				rc = 0;
				continue;
			}
			if (rc)
				break;
			if (seen++ < from)
				continue;
			rc = fn(base + perm_apply(&perm, i), arg);
			sent++;
		}
	}
	if (txn)
		store_txn_abort(txn);
	free(g);
	return rc;
}
