/*
 * lease.c: lease pools; see the DESIGN block in lease.h.
 *
 * Stored in the ledger:
 *   leases:    (pool id, number) -> struct lease_rec, for each number out
 *   lease_exp: (pool id, expiry ms, number) -> "", for leases that expire,
 *              so that the tick reads only what is due
 * Numbers are keyed as themselves (not as offsets from the start), so a
 * changed start or count leaves the leases inside the new range as they
 * are. The free stack holds offsets (number - start).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/clock.h"
#include "common/log.h"
#include "common/store.h"
#include "pools/clease.h"
#include "pools/lease.h"
#include "common/banned.h"

#define EXPIRE_MAX 10000

struct lease_rec {
	uint64_t borrowed_ms;
	uint64_t expires_ms;	/* 0: never */
	char holder[LEASE_HOLDER_MAX + 1];
	char reserved[7];
};

/* Numbers in keys: flipping the sign bit makes big-endian order numeric. */
static uint64_t num_bits(int64_t n)
{
	return (uint64_t)n ^ (1ull << 63);
}

static int64_t num_of(const unsigned char *b)
{
	return (int64_t)(store_get_be64(b) ^ (1ull << 63));
}

static void lease_key(unsigned char k[12], uint32_t pool, int64_t number)
{
	store_put_be32(k, pool);
	store_put_be64(k + 4, num_bits(number));
}

static void exp_key(unsigned char k[20], uint32_t pool, uint64_t ms,
		    int64_t number)
{
	store_put_be32(k, pool);
	store_put_be64(k + 4, ms);
	store_put_be64(k + 12, num_bits(number));
}

/*
 * The result of an apply once it has written something: 0 or a negative
 * errno, which aborts the batch (committer.h). The store's "not found"
 * or "exists" there (a record that was there a moment ago is not) means
 * the ledger is not what the apply expected: logged, and -EIO; so would
 * be an outcome, which must come before any write.
 */
static int after_write(const struct lease *lp, int rc, int64_t number)
{
	if (rc == 0 || (rc < 0 && rc != -ENOENT && rc != -EEXIST))
		return rc;
	log_error("pool \"%s\": the lease of %lld changed under its "
		  "operation (%s); the batch is aborted", lp->def->name,
		  (long long)number, log_strerror(rc));
	return -EIO;
}

/*
 * Deletes the lease of number (record and expiry index) in txn. An
 * expiry entry that is missing is what deleting it would leave: the
 * lease still ends (logged), rather than stay out forever.
 */
static int lease_del(struct lease *lp, MDB_txn *txn, int64_t number,
		     const struct lease_rec *rec)
{
	unsigned char k[12], e[20];
	MDB_val kv;
	int rc;

	lease_key(k, lp->id, number);
	kv = store_val(k, sizeof(k));
	rc = mdb_del(txn, lp->ledger->leases, &kv, NULL);
	if (rc == 0 && rec->expires_ms) {
		exp_key(e, lp->id, rec->expires_ms, number);
		kv = store_val(e, sizeof(e));
		rc = mdb_del(txn, lp->ledger->lease_exp, &kv, NULL);
		if (rc == MDB_NOTFOUND) {
			log_warn("pool \"%s\": the lease of %lld had no "
				 "expiry entry in the ledger", lp->def->name,
				 (long long)number);
			rc = 0;
		}
	}
	return store_err(rc);
}

/* Writes the lease of number (record and expiry index) in txn; flags
 * MDB_NOOVERWRITE for a new lease: -EEXIST, with nothing written, if the
 * ledger already has the number out. */
static int lease_put(struct lease *lp, MDB_txn *txn, int64_t number,
		     const struct lease_rec *rec, unsigned flags)
{
	unsigned char k[12], e[20];
	MDB_val kv, vv;
	int rc;

	lease_key(k, lp->id, number);
	kv = store_val(k, sizeof(k));
	vv = store_val(rec, sizeof(*rec));
	rc = mdb_put(txn, lp->ledger->leases, &kv, &vv, flags);
	if (rc == 0 && rec->expires_ms) {
		exp_key(e, lp->id, rec->expires_ms, number);
		kv = store_val(e, sizeof(e));
		vv = store_val("", 0);
		rc = mdb_put(txn, lp->ledger->lease_exp, &kv, &vv, 0);
	}
	return store_err(rc);
}

static int lease_get(struct lease *lp, MDB_txn *txn, int64_t number,
		     struct lease_rec *rec)
{
	unsigned char k[12];
	MDB_val kv = store_val(k, sizeof(k)), vv;
	int rc;

	lease_key(k, lp->id, number);
	rc = mdb_get(txn, lp->ledger->leases, &kv, &vv);
	if (rc)
		return store_err(rc);
	if (vv.mv_size != sizeof(*rec))
		return -EIO;
	memcpy(rec, vv.mv_data, sizeof(*rec));
	return 0;
}

static void to_info(int64_t number, const struct lease_rec *rec,
		    struct lease_info *out)
{
	out->number = number;
	memcpy(out->holder, rec->holder, sizeof(out->holder));
	out->holder[LEASE_HOLDER_MAX] = '\0';
	out->borrowed_ms = rec->borrowed_ms;
	out->expires_ms = rec->expires_ms;
}

struct read_all {
	struct lease_info *arr;
	size_t n, cap;
};

static int read_one(const MDB_val *k, const MDB_val *v, void *arg)
{
	struct read_all *r = arg;
	struct lease_info *tmp;
	struct lease_rec rec;

	if (k->mv_size != 12)
		return 1;
	if (v->mv_size != sizeof(rec))
		return -EIO;
	if (r->n == r->cap) {
		r->cap = r->cap ? r->cap * 2 : 64;
		tmp = realloc(r->arr, r->cap * sizeof(*tmp));
		if (!tmp)
			return -ENOMEM;
		r->arr = tmp;
	}
	memcpy(&rec, v->mv_data, sizeof(rec));
	to_info(num_of((const unsigned char *)k->mv_data + 4), &rec,
		&r->arr[r->n++]);
	return 0;
}

/* The leases of pool lp in txn, in number order, into a malloc'd array. */
static int lease_read_all(struct lease *lp, MDB_txn *txn,
			  struct lease_info **out, size_t *n)
{
	struct read_all r = { NULL, 0, 0 };
	unsigned char k[12];
	int rc;

	*out = NULL;
	*n = 0;
	store_put_be32(k, lp->id);
	store_put_be64(k + 4, 0);
	rc = store_scan(txn, lp->ledger->leases, k, sizeof(k), 4, read_one,
			&r);
	if (rc < 0) {
		free(r.arr);
		return rc;
	}
	*out = r.arr;
	*n = r.n;
	return 0;
}

int lease_open(struct lease *lp, struct ledger *lg,
	       const struct pool_def *d, char *err, size_t errlen)
{
	struct lease_info *all = NULL;
	struct ledger_rec rec;
	uint8_t *taken = NULL;
	MDB_txn *txn = NULL;
	size_t n = 0, j;
	uint64_t i, out = 0;
	int rc;

	memset(lp, 0, sizeof(*lp));
	lp->def = d;
	lp->ledger = lg;
	rc = ledger_rec_ensure(lg, d, &rec, err, errlen);
	if (rc == -EINVAL && ledger_rec_get(lg, d->name, &rec) == 0 &&
	    rec.kind == POOL_LEASE) {
		/* A new range repeats nothing for leases: adopt it; the
		 * leases now outside it end below. */
		log_warn("pool \"%s\": range changed from [%lld, %lld) to "
			 "[%lld, %lld)", d->name, (long long)rec.min,
			 (long long)(rec.min + (int64_t)rec.capacity),
			 (long long)d->min,
			 (long long)(d->min + (int64_t)d->capacity));
		rc = ledger_rec_redefine(lg, d, &rec);
	}
	if (rc)
		return rc;
	lp->id = rec.id;
	lp->free = malloc(d->capacity * sizeof(*lp->free));
	taken = calloc(d->capacity / 8 + 1, 1);
	if (!lp->free || !taken) {
		rc = -ENOMEM;
		goto out;
	}
	rc = store_err(store_txn_begin(lg->env, NULL, 0, &txn));
	if (rc == 0)
		rc = lease_read_all(lp, txn, &all, &n);
	for (j = 0; rc == 0 && j < n; j++) {
		int64_t off = all[j].number - d->min;
		struct lease_rec r;

		if (off >= 0 && (uint64_t)off < d->capacity) {
			taken[off / 8] |= (uint8_t)(1u << (off % 8));
			out++;
			continue;
		}
		log_warn("pool \"%s\": the lease of %lld ends: outside the "
			 "new range", d->name, (long long)all[j].number);
		memset(&r, 0, sizeof(r));
		r.expires_ms = all[j].expires_ms;
		rc = lease_del(lp, txn, all[j].number, &r);
	}
	if (txn)
		rc = store_finish(txn, rc);
	if (rc)
		goto out;
	/* Highest first, so that pops lend the lowest free number. */
	for (i = d->capacity; i-- > 0;)
		if (!(taken[i / 8] & (1u << (i % 8))))
			lp->free[lp->nfree++] = (uint32_t)i;
	atomic_store(&lp->out, out);
out:
	if (rc) {
		snprintf(err, errlen, "pool \"%s\": cannot read its leases: %s",
			 d->name, log_strerror(rc));
		free(lp->free);
		lp->free = NULL;
	}
	free(taken);
	free(all);
	return rc;
}

void lease_release(struct lease *lp)
{
	clease_free(lp->cl);
	lp->cl = NULL;
	free(lp->free);
	free(lp->expired);
	lp->free = NULL;
	lp->expired = NULL;
}

/* Pushes an offset back on the free stack (committer thread). */
static void push_free(struct lease *lp, uint32_t off)
{
	if (lp->nfree < lp->def->capacity)
		lp->free[lp->nfree++] = off;
	else
		log_error("pool \"%s\": the free stack is full; %lld dropped",
			  lp->def->name, (long long)(lp->def->min + off));
}

static uint64_t expiry(const struct lease_req *r, uint64_t now)
{
	int64_t ttl = r->ttl >= 0 ? r->ttl : (int64_t)r->pool->def->ttl;

	return ttl ? now + (uint64_t)ttl * 1000 : 0;
}

static int apply_borrow(struct lease_req *r, MDB_txn *txn, uint64_t now)
{
	struct lease *lp = r->pool;
	struct lease_rec rec;
	uint32_t off;
	int rc;

	memset(&rec, 0, sizeof(rec));
	rec.borrowed_ms = now;
	rec.expires_ms = expiry(r, now);
	memcpy(rec.holder, r->holder, sizeof(rec.holder));
	do {
		if (lp->nfree == 0)
			return OUTCOME_ALL_OUT; /* nothing written yet */
		off = lp->free[--lp->nfree];
		to_info(lp->def->min + off, &rec, &r->lease);
		rc = lease_put(lp, txn, r->lease.number, &rec,
			       MDB_NOOVERWRITE);
		/* The ledger has it out: a free stack that disagrees is a
		 * bug, and the number is never lent twice for it. It
		 * stays off the stack; its return frees it. */
		if (rc == -EEXIST)
			log_error("pool \"%s\": %lld was free in memory but "
				  "out in the ledger; not lent again",
				  lp->def->name, (long long)r->lease.number);
	} while (rc == -EEXIST);
	r->popped = true;
	r->off = off;
	/* Nothing but storage can fail from here: done() undoes the pop. */
	return after_write(lp, rc, r->lease.number);
}

/* The checks shared by return and renew (they write nothing): in range,
 * out, holder. */
static int find_out(struct lease_req *r, MDB_txn *txn, struct lease_rec *rec)
{
	struct lease *lp = r->pool;
	int64_t off = r->number - lp->def->min;
	int rc;

	if (off < 0 || (uint64_t)off >= lp->def->capacity)
		return OUTCOME_NOT_IN_POOL;
	r->off = (uint32_t)off;
	rc = lease_get(lp, txn, r->number, rec);
	if (rc == -ENOENT)	/* the store has no record of it */
		return OUTCOME_NOT_OUT;
	if (rc)
		return rc;
	if (r->check_holder && strcmp(rec->holder, r->holder))
		return OUTCOME_OTHER_HOLDER;
	to_info(r->number, rec, &r->lease);
	return 0;
}

static int apply_return(struct lease_req *r, MDB_txn *txn)
{
	struct lease_rec rec;
	int rc = find_out(r, txn, &rec);

	if (rc)
		return rc;
	return after_write(r->pool, lease_del(r->pool, txn, r->number, &rec),
			   r->number);
}

static int apply_renew(struct lease_req *r, MDB_txn *txn, uint64_t now)
{
	struct lease_rec rec;
	int rc = find_out(r, txn, &rec);

	if (rc)
		return rc;
	/* From here on, a failure must abort the batch (after_write): a
	 * renew that deleted the lease and then failed would leave the
	 * number neither out nor free. */
	rc = lease_del(r->pool, txn, r->number, &rec);
	if (rc == 0) {
		rec.expires_ms = expiry(r, now);
		to_info(r->number, &rec, &r->lease);
		rc = lease_put(r->pool, txn, r->number, &rec, 0);
	}
	return after_write(r->pool, rc, r->number);
}

static int apply_reset(struct lease_req *r, MDB_txn *txn)
{
	struct lease *lp = r->pool;
	struct lease_info *all;
	size_t n, i;
	int rc;

	rc = lease_read_all(lp, txn, &all, &n);
	if (rc)
		return rc;
	r->reset_list = malloc((n ? n : 1) * sizeof(*r->reset_list));
	if (!r->reset_list) {
		free(all);
		return -ENOMEM; /* before any write */
	}
	for (i = 0; i < n && rc == 0; i++) {
		struct lease_rec rec;

		memset(&rec, 0, sizeof(rec));
		rec.expires_ms = all[i].expires_ms;
		rc = after_write(lp, lease_del(lp, txn, all[i].number, &rec),
				 all[i].number);
		r->reset_list[i] = (uint32_t)(all[i].number - lp->def->min);
	}
	r->reset_n = rc ? 0 : n;
	r->count = n;
	free(all);
	return rc;
}

static int lease_apply(struct commit_op *op, MDB_txn *txn)
{
	struct lease_req *r = (struct lease_req *)op;
	uint64_t now = r->now_ms ? r->now_ms : clock_now_ms();

	if (r->pool->cl)	/* in etcd; txn is left alone */
		return clease_apply(r->pool->cl, r, now);
	switch (r->verb) {
	case LEASE_BORROW:
		return apply_borrow(r, txn, now);
	case LEASE_RETURN:
		return apply_return(r, txn);
	case LEASE_RENEW:
		return apply_renew(r, txn, now);
	case LEASE_RESET:
		return apply_reset(r, txn);
	}
	return -EINVAL;
}

void lease_req_init(struct lease_req *r, struct lease *lp,
		    enum lease_verb verb)
{
	memset(r, 0, sizeof(*r));
	r->op.apply = lease_apply;
	r->pool = lp;
	r->verb = verb;
	r->ttl = -1;
}

void lease_req_finish(struct lease_req *r, int rc)
{
	struct lease *lp = r->pool;
	size_t i;

	if (lp->cl)	/* nothing kept in memory */
		return;
	switch (r->verb) {
	case LEASE_BORROW:
		if (rc && r->popped)
			push_free(lp, r->off);
		else if (rc == 0)
			atomic_fetch_add(&lp->out, 1);
		break;
	case LEASE_RETURN:
		if (rc == 0) {
			push_free(lp, r->off);
			atomic_fetch_sub(&lp->out, 1);
		}
		break;
	case LEASE_RENEW:
		break;
	case LEASE_RESET:
		for (i = 0; rc == 0 && i < r->reset_n; i++)
			push_free(lp, r->reset_list[i]);
		if (rc == 0)
			atomic_fetch_sub(&lp->out, r->reset_n);
		free(r->reset_list);
		r->reset_list = NULL;
		break;
	}
	r->popped = false;
}

int lease_list(struct lease *lp, struct lease_info **out, size_t *n)
{
	MDB_txn *txn;
	int rc;

	if (lp->cl)
		return clease_list(lp->cl, out, n);
	rc = store_err(store_txn_begin(lp->ledger->env, NULL, MDB_RDONLY,
				       &txn));
	if (rc)
		return rc;
	rc = lease_read_all(lp, txn, out, n);
	store_txn_abort(txn);
	return rc;
}

int lease_out(struct lease *lp, uint64_t *n)
{
	if (lp->cl)
		return clease_count(lp->cl, n);
	*n = atomic_load(&lp->out);
	return 0;
}

int lease_cluster_attach(struct lease *lp, struct cluster *c, char *err,
			 size_t errlen)
{
	uint64_t out = atomic_load(&lp->out);
	int rc;

	if (out) {
		snprintf(err, errlen, "pool \"%s\": %llu leases are out in "
			 "this data directory from a standalone run; a "
			 "cluster node keeps its leases in etcd and would "
			 "forget them: return them (POST /pools/%s/reset, "
			 "standalone) or give the node a fresh data directory",
			 lp->def->name, (unsigned long long)out,
			 lp->def->name);
		return -EEXIST;
	}
	rc = clease_new(&lp->cl, c, lp->def);
	if (rc)
		snprintf(err, errlen, "pool \"%s\": cannot join the "
			 "cluster: %s", lp->def->name, log_strerror(rc));
	return rc;
}

/* An entry of the expiry index that is due. */
struct due {
	uint64_t ms;
	int64_t number;
};

/* Deletes one entry of the expiry index. */
static int exp_del(struct lease *lp, MDB_txn *txn, const struct due *d)
{
	unsigned char e[20];
	MDB_val kv;

	exp_key(e, lp->id, d->ms, d->number);
	kv = store_val(e, sizeof(e));
	return store_err(mdb_del(txn, lp->ledger->lease_exp, &kv, NULL));
}

struct due_scan {
	struct due *due;
	size_t n;
	uint64_t now_ms;
};

/* Collects one expiry entry that is due, up to EXPIRE_MAX. */
static int due_one(const MDB_val *k, const MDB_val *v, void *arg)
{
	struct due_scan *d = arg;
	const unsigned char *b = k->mv_data;

	(void)v;
	if (d->n == EXPIRE_MAX || k->mv_size != 20 ||
	    store_get_be64(b + 4) > d->now_ms)
		return 1;
	d->due[d->n].ms = store_get_be64(b + 4);
	d->due[d->n++].number = num_of(b + 12);
	return 0;
}

/*
 * Ends the leases that are due. An index entry is trusted only when the
 * lease it names is out and expires at that very time: any other entry
 * (left by an earlier expiry or a crash of an older version, or from a
 * damaged ledger) is deleted alone, so that it neither fails every batch
 * nor ends a lease early (renewed since). Those are counted and logged
 * once per tick that finds any.
 */
int lease_expire_tick(void *arg, MDB_txn *txn, uint64_t now_ms)
{
	struct lease *lp = arg;
	struct due_scan ds = { NULL, 0, now_ms };
	unsigned char k[20];
	struct due *due = NULL;
	size_t n = 0, i, dangling = 0;
	int rc;

	lp->nexpired = 0;
	if (lp->cl)	/* etcd expires a cluster pool's leases */
		return 0;
	due = malloc(EXPIRE_MAX * sizeof(*due));
	if (!due) {
		rc = -ENOMEM;
		goto out;
	}
	ds.due = due;
	exp_key(k, lp->id, 0, INT64_MIN);
	rc = store_scan(txn, lp->ledger->lease_exp, k, sizeof(k), 4, due_one,
			&ds);
	n = ds.n;
	if (rc > 0)
		rc = 0;
	if (rc)
		goto out;
	if (n > lp->expired_cap) {
		uint32_t *e = realloc(lp->expired, n * sizeof(*e));

		if (!e) {
			rc = -ENOMEM;
			goto out;
		}
		lp->expired = e;
		lp->expired_cap = n;
	}
	for (i = 0; i < n && rc == 0; i++) {
		int64_t off = due[i].number - lp->def->min;
		struct lease_rec rec;

		rc = lease_get(lp, txn, due[i].number, &rec);
		if (rc == -ENOENT || (rc == 0 && (rec.expires_ms != due[i].ms ||
						  !rec.expires_ms))) {
			dangling++;
			rc = exp_del(lp, txn, &due[i]);
			continue;
		}
		if (rc == 0)
			rc = lease_del(lp, txn, due[i].number, &rec);
		/* Numbers outside the range ended at open; never free one. */
		if (rc == 0 && off >= 0 && (uint64_t)off < lp->def->capacity)
			lp->expired[lp->nexpired++] = (uint32_t)off;
	}
	if (rc == 0 && dangling)
		log_warn("pool \"%s\": %zu expiry entries of the ledger named "
			 "no lease that ends then; deleted", lp->def->name,
			 dangling);
out:
	if (rc)
		lp->nexpired = 0;
	free(due);
	return rc;
}

void lease_expire_done(void *arg, int rc)
{
	struct lease *lp = arg;
	size_t i;

	if (rc == 0) {
		for (i = 0; i < lp->nexpired; i++)
			push_free(lp, lp->expired[i]);
		atomic_fetch_sub(&lp->out, lp->nexpired);
		if (lp->nexpired)
			log_info("pool \"%s\": %zu leases expired",
				 lp->def->name, lp->nexpired);
	}
	lp->nexpired = 0;
}
