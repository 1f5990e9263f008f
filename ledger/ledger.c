/*
 * ledger.c: the global ledger of issued values; see ledger.h for what it
 * holds and the invariants each write keeps.
 */
#include <errno.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/clock.h"
#include "common/log.h"
#include "common/store.h"
#include "ledger/ledger.h"
#include "common/banned.h"

#define LEDGER_MAGIC "uniqd-ledger"
#define LEDGER_FORMAT 1u
/* Address space only (the file grows as it is written): 64 GiB holds
 * about a billion grants, sequence ids or leases. */
#define LEDGER_DEFAULT_MAP ((size_t)64 << 30)

/* The stored form of a grant; the key holds the pool id and `first`. */
struct ledger_grant_rec {
	uint64_t count;
	uint64_t seq0;
	uint64_t time_ms;
	uint32_t shard;
	uint32_t reserved;
};

/* Creates the format records of a new ledger, or checks them. */
static int check_format(struct ledger *lg, MDB_txn *txn, bool fresh)
{
	MDB_val k = store_val("magic", 5), v;
	MDB_val ik = store_val("instance", 8);
	uint32_t fmt = LEDGER_FORMAT, one = 1;
	uint64_t now = clock_now_ms();
	int rc;

	rc = mdb_get(txn, lg->meta, &k, &v);
	if (rc == MDB_NOTFOUND && fresh) {
		MDB_val m = store_val(LEDGER_MAGIC, strlen(LEDGER_MAGIC));
		MDB_val fk = store_val("format", 6);
		MDB_val fv = store_val(&fmt, sizeof(fmt));
		MDB_val nk = store_val("next_pool_id", 12);
		MDB_val nv = store_val(&one, 4);
		MDB_val ck = store_val("created_ms", 10);
		MDB_val cv = store_val(&now, 8);
		MDB_val iv = store_val(lg->instance, sizeof(lg->instance));

		_Static_assert(LEDGER_INSTANCE_LEN == PERM_KEY_LEN,
			       "instance ids come from perm_random_key");
		if ((rc = perm_random_key(lg->instance)))
			return rc;
		if ((rc = mdb_put(txn, lg->meta, &k, &m, 0)) ||
		    (rc = mdb_put(txn, lg->meta, &fk, &fv, 0)) ||
		    (rc = mdb_put(txn, lg->meta, &nk, &nv, 0)) ||
		    (rc = mdb_put(txn, lg->meta, &ck, &cv, 0)) ||
		    (rc = mdb_put(txn, lg->meta, &ik, &iv, 0)))
			return store_err(rc);
		return 0;
	}
	if (rc)
		return rc == MDB_NOTFOUND ? -EPROTO : store_err(rc);
	if (v.mv_size != strlen(LEDGER_MAGIC) ||
	    memcmp(v.mv_data, LEDGER_MAGIC, v.mv_size))
		return -EPROTO;
	k = store_val("format", 6);
	rc = mdb_get(txn, lg->meta, &k, &v);
	if (rc || v.mv_size != sizeof(fmt))
		return -EPROTO;
	memcpy(&fmt, v.mv_data, sizeof(fmt));
	if (fmt != LEDGER_FORMAT) {
		log_error("ledger format %u, this build reads format %u", fmt,
			  LEDGER_FORMAT);
		return -EPROTO;
	}
	rc = mdb_get(txn, lg->meta, &ik, &v);
	if (rc || v.mv_size != sizeof(lg->instance))
		return -EPROTO;
	memcpy(lg->instance, v.mv_data, sizeof(lg->instance));
	return 0;
}

int ledger_open(struct ledger *lg, const char *path,
		const struct ledger_opts *o)
{
	struct store_opts so = {
		.map_size = o->map_size ? o->map_size : LEDGER_DEFAULT_MAP,
		.max_dbs = 24,
		.sync = o->sync,
		.create = o->create && !o->readonly,
		/* uniqctl lookup, verify, status: never a writer lock, so
		 * nothing the server waits for. */
		.readonly = o->readonly,
	};
	unsigned cflag = so.create ? MDB_CREATE : 0;
	MDB_txn *txn = NULL;
	MDB_dbi meta;
	bool fresh;
	int rc;

	memset(lg, 0, sizeof(*lg));
	rc = store_open(path, &so, &lg->env);
	if (rc)
		return rc;
	rc = store_err(store_txn_begin(lg->env, NULL,
				       o->readonly ? MDB_RDONLY : 0, &txn));
	if (rc)
		goto out;
	/* A brand-new file has no named databases at all; an existing file
	 * without our "meta" is someone else's and is refused below. */
	rc = mdb_dbi_open(txn, "meta", 0, &meta);
	fresh = rc == MDB_NOTFOUND && o->create;
	if (rc == MDB_NOTFOUND && fresh) {
		MDB_dbi main_db;
		MDB_stat st;

		/* Only a truly empty environment may be initialized. */
		rc = mdb_dbi_open(txn, NULL, 0, &main_db);
		if (rc == 0)
			rc = mdb_stat(txn, main_db, &st);
		if (rc == 0 && st.ms_entries != 0)
			rc = MDB_INCOMPATIBLE; /* someone else's file */
		if (rc == 0)
			rc = mdb_dbi_open(txn, "meta", MDB_CREATE, &meta);
	}
	if (rc) {
		rc = rc == MDB_NOTFOUND || rc == MDB_INCOMPATIBLE ?
			-EPROTO : store_err(rc);
		goto out;
	}
	lg->meta = meta;
	if ((rc = check_format(lg, txn, fresh)))
		goto out;
	{
		static const struct {
			const char *name;
			size_t off;
			unsigned flags;
		} dbs[] = {
			{ "pools", offsetof(struct ledger, pools) },
			{ "grants", offsetof(struct ledger, grants) },
			{ "shards", offsetof(struct ledger, shards) },
			{ "seq", offsetof(struct ledger, seq) },
			{ "seqids", offsetof(struct ledger, seqids) },
			{ "idem", offsetof(struct ledger, idem) },
			{ "idem_time", offsetof(struct ledger, idem_time) },
			{ "leases", offsetof(struct ledger, leases) },
			{ "lease_exp", offsetof(struct ledger, lease_exp) },
			{ "skips", offsetof(struct ledger, skips) },
			{ "coderuns", offsetof(struct ledger, coderuns),
			  MDB_DUPSORT | MDB_DUPFIXED | MDB_INTEGERDUP },
			{ "redeemed", offsetof(struct ledger, redeemed) },
			{ "jobs", offsetof(struct ledger, jobs) },
			{ "blocks", offsetof(struct ledger, blocks) },
		};
		size_t i;

		for (i = 0; i < sizeof(dbs) / sizeof(dbs[0]); i++) {
			rc = store_err(mdb_dbi_open(
				txn, dbs[i].name, cflag | dbs[i].flags,
				(MDB_dbi *)((char *)lg + dbs[i].off)));
			/* A ledger from before cluster pools, only read:
			 * it has no blocks (lg->blocks stays 0). */
			if (rc == -ENOENT && !cflag &&
			    dbs[i].off == offsetof(struct ledger, blocks))
				rc = 0;
			if (rc)
				goto out;
		}
	}
	/* A read-only transaction commits too: that keeps the handles. */
	rc = store_finish(txn, 0);
	txn = NULL;
out:
	if (txn)
		store_txn_abort(txn);
	if (rc == -EPROTO)
		log_error("%s is not a uniqd ledger (or a newer format); "
			  "refusing to touch it", path);
	if (rc) {
		store_close(lg->env);
		lg->env = NULL;
	}
	return rc;
}

void ledger_release(struct ledger *lg)
{
	if (lg->env)
		store_close(lg->env);
	lg->env = NULL;
}

static int get_pool(struct ledger *lg, MDB_txn *txn, const char *name,
		    struct ledger_rec *out)
{
	MDB_val k = store_val(name, strlen(name)), v;
	int rc = mdb_get(txn, lg->pools, &k, &v);

	if (rc)
		return store_err(rc);
	if (v.mv_size != sizeof(*out))
		return -EIO;
	memcpy(out, v.mv_data, sizeof(*out));
	return 0;
}

static int put_pool_flags(struct ledger *lg, MDB_txn *txn, const char *name,
			  const struct ledger_rec *p, unsigned flags)
{
	MDB_val k = store_val(name, strlen(name)), v = store_val(p, sizeof(*p));

	return mdb_put(txn, lg->pools, &k, &v, flags);
}

static int put_pool(struct ledger *lg, MDB_txn *txn, const char *name,
		    const struct ledger_rec *p)
{
	return store_err(put_pool_flags(lg, txn, name, p, 0));
}

int ledger_rec_get(struct ledger *lg, const char *name,
		   struct ledger_rec *out)
{
	MDB_txn *txn;
	int rc;

	rc = store_err(store_txn_begin(lg->env, NULL, MDB_RDONLY, &txn));
	if (rc)
		return rc;
	rc = get_pool(lg, txn, name, out);
	store_txn_abort(txn);
	return rc;
}

int ledger_rec_create_txn(struct ledger *lg, MDB_txn *txn, const char *name,
			  uint32_t kind, int64_t min, uint64_t capacity,
			  uint32_t decimals, struct ledger_rec *out)
{
	struct ledger_rec p;
	MDB_val k = store_val("next_pool_id", 12), v;
	uint32_t next;
	int rc;

	rc = store_err(mdb_get(txn, lg->meta, &k, &v));
	if (rc)
		return rc;
	if (v.mv_size != sizeof(next))
		return -EIO;
	memcpy(&next, v.mv_data, sizeof(next));
	memset(&p, 0, sizeof(p));
	p.id = next++;
	p.kind = kind;
	p.min = min;
	p.capacity = capacity;
	p.decimals = decimals;
	p.created_ms = clock_now_ms();
	rc = perm_random_key(p.key);
	if (rc)
		return rc;
	v = store_val(&next, sizeof(next));
	rc = store_err(mdb_put(txn, lg->meta, &k, &v, 0));
	if (rc == 0)
		rc = store_err(put_pool_flags(lg, txn, name, &p,
					      MDB_NOOVERWRITE));
	if (rc == 0)
		*out = p;
	return rc;
}

bool ledger_rec_matches(const struct ledger_rec *p,
			const struct pool_def *d)
{
	return p->kind == (uint32_t)d->kind && p->min == d->min &&
	       p->capacity == d->capacity &&
	       p->decimals == config_pool_fingerprint(d);
}

int ledger_rec_ensure(struct ledger *lg, const struct pool_def *d,
		      struct ledger_rec *out, char *err, size_t errlen)
{
	struct ledger_rec p;
	MDB_txn *txn;
	int rc;

	rc = store_err(store_txn_begin(lg->env, NULL, 0, &txn));
	if (rc)
		return rc;
	rc = get_pool(lg, txn, d->name, &p);
	if (rc == 0 && (p.flags & LEDGER_REC_CLUSTER)) {
		snprintf(err, errlen, "pool \"%s\" takes its values from a "
			 "cluster's blocks (it was made by a node started "
			 "with --etcd); start this data directory with "
			 "--etcd again", d->name);
		rc = -EINVAL;
		goto out;
	}
	if (rc == 0) {
		if (!ledger_rec_matches(&p, d)) {
			snprintf(err, errlen,
				 "pool \"%s\" was created as %s with min %lld "
				 "and %llu values; the configuration now says "
				 "%s with min %lld and %llu values%s. Changing "
				 "a pool's range could repeat values: give the "
				 "new range a new pool name",
				 d->name, config_kind_name(p.kind),
				 (long long)p.min,
				 (unsigned long long)p.capacity,
				 config_kind_name(d->kind), (long long)d->min,
				 (unsigned long long)d->capacity,
				 p.kind == (uint32_t)d->kind &&
				 p.min == d->min && p.capacity == d->capacity ?
				 (d->kind == POOL_CODE ?
				  ", but another pattern and alphabet" :
				  d->kind == POOL_FLOAT ?
				  ", but other decimals" : "") : "");
			rc = -EINVAL;
		}
		goto out;
	}
	if (rc != -ENOENT)
		goto out;

	rc = ledger_rec_create_txn(lg, txn, d->name, d->kind, d->min,
				   d->capacity, config_pool_fingerprint(d),
				   &p);
	if (rc)
		goto out;
	rc = store_finish(txn, 0);
	txn = NULL;
	if (rc == 0)
		log_info("pool \"%s\" created in the ledger (%s, %llu values)",
			 d->name, config_kind_name(d->kind),
			 (unsigned long long)d->capacity);
out:
	if (txn)	/* read only, or failed: nothing written */
		store_txn_abort(txn);
	if (rc == 0)
		*out = p;
	return rc;
}

int ledger_rec_ensure_cluster(struct ledger *lg, const struct pool_def *d,
			      const uint8_t key[PERM_KEY_LEN],
			      struct ledger_rec *out, char *err,
			      size_t errlen)
{
	struct ledger_rec p;
	MDB_txn *txn;
	int rc;

	rc = store_err(store_txn_begin(lg->env, NULL, 0, &txn));
	if (rc)
		return rc;
	rc = get_pool(lg, txn, d->name, &p);
	if (rc == 0) {
		if (!(p.flags & LEDGER_REC_CLUSTER)) {
			snprintf(err, errlen, "pool \"%s\" of this data "
				 "directory was made without a cluster: its "
				 "values were not reserved in etcd and could "
				 "repeat another node's. A node needs a data "
				 "directory of its own, made with --etcd",
				 d->name);
			rc = -EINVAL;
		} else if (!ledger_rec_matches(&p, d) ||
			   memcmp(p.key, key, PERM_KEY_LEN) != 0) {
			snprintf(err, errlen, "pool \"%s\" of this data "
				 "directory is not the cluster's pool of that "
				 "name (another range or key): was the data "
				 "directory made for another cluster?",
				 d->name);
			rc = -EINVAL;
		}
		goto out;
	}
	if (rc != -ENOENT)
		goto out;
	rc = ledger_rec_create_txn(lg, txn, d->name, d->kind, d->min,
				   d->capacity, config_pool_fingerprint(d),
				   &p);
	if (rc)
		goto out;
	memcpy(p.key, key, PERM_KEY_LEN);
	p.flags |= LEDGER_REC_CLUSTER;
	rc = put_pool(lg, txn, d->name, &p);
	if (rc)
		goto out;
	rc = store_finish(txn, 0);
	txn = NULL;
	if (rc == 0)
		log_info("pool \"%s\" created in the ledger as a cluster "
			 "pool (%s, %llu values)", d->name,
			 config_kind_name(d->kind),
			 (unsigned long long)d->capacity);
out:
	if (txn)
		store_txn_abort(txn);
	if (rc == 0)
		*out = p;
	return rc;
}

int ledger_rec_redefine(struct ledger *lg, const struct pool_def *d,
			struct ledger_rec *out)
{
	struct ledger_rec p;
	MDB_txn *txn;
	int rc;

	rc = store_err(store_txn_begin(lg->env, NULL, 0, &txn));
	if (rc)
		return rc;
	rc = get_pool(lg, txn, d->name, &p);
	if (rc == 0) {
		p.kind = (uint32_t)d->kind;
		p.min = d->min;
		p.capacity = d->capacity;
		p.decimals = 0;
		rc = put_pool(lg, txn, d->name, &p);
	}
	rc = store_finish(txn, rc);
	if (rc == 0)
		*out = p;
	return rc;
}

static void grant_key(unsigned char key[12], uint32_t pool_id,
		      uint64_t first)
{
	store_put_be32(key, pool_id);
	store_put_be64(key + 4, first);
}

static void grant_from(struct ledger_grant *g, const MDB_val *k,
		       const MDB_val *v)
{
	struct ledger_grant_rec r;

	memcpy(&r, v->mv_data, sizeof(r));
	g->first = store_get_be64((const unsigned char *)k->mv_data + 4);
	g->count = r.count;
	g->seq0 = r.seq0;
	g->time_ms = r.time_ms;
	g->shard = r.shard;
}

struct ledger_block_rec {
	uint64_t count;
	uint64_t time_ms;
};

/*
 * Finds, among the blocks of pool_id, where index `from` (a cluster
 * pool's counter) can be granted: inside the block that holds it, or at
 * the first of the next block. Returns 0 with *first and *avail (indices
 * from *first to that block's end), -ENOENT when no block is left, or an
 * error.
 */
static int block_from(struct ledger *lg, MDB_txn *txn, uint32_t pool_id,
		      uint64_t from, uint64_t *first, uint64_t *avail)
{
	unsigned char key[12];
	struct ledger_block_rec r;
	MDB_cursor *cur = NULL;
	MDB_val k, v;
	uint64_t bfirst;
	int rc;

	if (!lg->blocks)
		return -ENOENT;
	rc = store_err(mdb_cursor_open(txn, lg->blocks, &cur));
	if (rc)
		return rc;
	/* The block at or before `from` may still hold it. */
	store_put_be32(key, pool_id);
	store_put_be64(key + 4, from);
	k = store_val(key, sizeof(key));
	rc = mdb_cursor_get(cur, &k, &v, MDB_SET_RANGE);
	if (rc == 0 && memcmp(k.mv_data, key, sizeof(key)) != 0) {
		/* k is past `from`: look one back first */
		MDB_val pk = k, pv = v;

		rc = mdb_cursor_get(cur, &pk, &pv, MDB_PREV);
		if (rc == 0 && pk.mv_size == sizeof(key) &&
		    pv.mv_size == sizeof(r) &&
		    store_get_be32(pk.mv_data) == pool_id) {
			memcpy(&r, pv.mv_data, sizeof(r));
			bfirst = store_get_be64((unsigned char *)pk.mv_data +
						4);
			if (from < bfirst + r.count) {
				*first = from;
				*avail = bfirst + r.count - from;
				goto out;
			}
		}
		k = store_val(key, sizeof(key));
		rc = mdb_cursor_get(cur, &k, &v, MDB_SET_RANGE);
	} else if (rc == MDB_NOTFOUND) {
		rc = mdb_cursor_get(cur, &k, &v, MDB_LAST);
		if (rc == 0 && k.mv_size == sizeof(key) &&
		    v.mv_size == sizeof(r) &&
		    store_get_be32(k.mv_data) == pool_id) {
			memcpy(&r, v.mv_data, sizeof(r));
			bfirst = store_get_be64((unsigned char *)k.mv_data +
						4);
			if (from >= bfirst && from < bfirst + r.count) {
				*first = from;
				*avail = bfirst + r.count - from;
				goto out;
			}
		}
		rc = -ENOENT;
		goto out;
	}
	if (rc) {
		rc = store_err(rc);
		goto out;
	}
	if (k.mv_size != sizeof(key) || v.mv_size != sizeof(r)) {
		rc = -EIO;
		goto out;
	}
	if (store_get_be32(k.mv_data) != pool_id) {
		rc = -ENOENT;
		goto out;
	}
	memcpy(&r, v.mv_data, sizeof(r));
	bfirst = store_get_be64((unsigned char *)k.mv_data + 4);
	if (bfirst < from) {	/* exactly at `from` is >=; SET_RANGE */
		rc = -EIO;
		goto out;
	}
	*first = bfirst;
	*avail = r.count;
out:
	mdb_cursor_close(cur);
	return rc;
}

/*
 * Positions cur on the last grant of pool_id whose first <= index
 * (index UINT64_MAX: the pool's last grant). Returns 0 with *g filled,
 * -ENOENT if there is none, or an error.
 */
static int grant_at_or_before(struct ledger *lg, MDB_cursor *cur,
			      uint32_t pool_id, uint64_t index,
			      struct ledger_grant *g)
{
	unsigned char key[12];
	MDB_val k, v;
	int rc;

	grant_key(key, pool_id, index);
	k = store_val(key, sizeof(key));
	rc = mdb_cursor_get(cur, &k, &v, MDB_SET_RANGE);
	if (rc == 0 && k.mv_size == sizeof(key) &&
	    memcmp(k.mv_data, key, sizeof(key)) == 0)
		goto found; /* a grant starts exactly at index */
	if (rc == MDB_NOTFOUND)
		rc = mdb_cursor_get(cur, &k, &v, MDB_LAST);
	else if (rc == 0)
		rc = mdb_cursor_get(cur, &k, &v, MDB_PREV);
	if (rc)
		return store_err(rc);
found:
	if (k.mv_size != sizeof(key) ||
	    v.mv_size != sizeof(struct ledger_grant_rec))
		return -EIO;
	if (store_get_be32(k.mv_data) != pool_id)
		return -ENOENT;
	grant_from(g, &k, &v);
	return 0;
}

int ledger_grant_txn(struct ledger *lg, MDB_txn *txn, const char *name,
		     uint32_t shard, uint64_t want, struct ledger_grant *g,
		     struct ledger_rec *pool)
{
	unsigned char key[12], skey[8];
	struct ledger_grant_rec rec;
	struct ledger_grant last;
	struct ledger_rec p;
	MDB_cursor *cur = NULL;
	MDB_val k, v;
	uint64_t n, next_seq = 0;
	int rc;

	memset(g, 0, sizeof(*g));
	rc = get_pool(lg, txn, name, &p);
	if (rc)
		goto out;
	if (p.counter > p.capacity) {
		/* Indices past the capacity would walk the permutation's
		 * cycle back onto values already issued. */
		log_error("ledger: pool \"%s\" counter %llu beyond its "
			  "capacity %llu; refusing to issue more", name,
			  (unsigned long long)p.counter,
			  (unsigned long long)p.capacity);
		rc = -EIO;
		goto out;
	}
	n = p.capacity - p.counter;
	if (n > want)
		n = want;
	if (n == 0)
		goto out; /* used up: nothing to write */

	/* Check against the ledger: the pool's grants must end exactly at
	 * the counter, or the next indices might already be out. */
	rc = store_err(mdb_cursor_open(txn, lg->grants, &cur));
	if (rc)
		goto out;
	rc = grant_at_or_before(lg, cur, p.id, UINT64_MAX, &last);
	if (rc == -ENOENT) {
		last.first = last.count = 0;
		rc = 0;
	}
	if (rc)
		goto out;
	if (last.first + last.count != p.counter) {
		log_error("ledger: pool \"%s\" counter %llu but its grants "
			  "end at %llu; refusing to issue more", name,
			  (unsigned long long)p.counter,
			  (unsigned long long)(last.first + last.count));
		rc = -EIO;
		goto out;
	}
	if (p.flags & LEDGER_REC_CLUSTER) {
		uint64_t first = 0, avail = 0;

		rc = block_from(lg, txn, p.id, p.counter, &first, &avail);
		if (rc == -ENOENT) {
			/* Every block granted: used up only once the
			 * cluster has nothing more to reserve. */
			g->waiting = !(p.flags & LEDGER_REC_CLUSTER_END);
			rc = 0;
			goto out;
		}
		if (rc)
			goto out;
		p.counter = first;	/* the next block's first */
		n = avail < want ? avail : want;
	}

	store_put_be32(skey, p.id);
	store_put_be32(skey + 4, shard);
	k = store_val(skey, sizeof(skey));
	rc = mdb_get(txn, lg->shards, &k, &v);
	if (rc == 0 && v.mv_size == sizeof(next_seq))
		memcpy(&next_seq, v.mv_data, sizeof(next_seq));
	else if (rc != MDB_NOTFOUND) {
		rc = rc ? store_err(rc) : -EIO;
		goto out;
	}
	g->first = p.counter;
	g->count = n;
	g->seq0 = next_seq;
	g->time_ms = clock_now_ms();
	g->shard = shard;

	next_seq += n;
	v = store_val(&next_seq, sizeof(next_seq));
	rc = store_err(mdb_put(txn, lg->shards, &k, &v, 0));
	if (rc)
		goto out;
	memset(&rec, 0, sizeof(rec));
	rec.count = n;
	rec.seq0 = g->seq0;
	rec.time_ms = g->time_ms;
	rec.shard = shard;
	grant_key(key, p.id, g->first);
	k = store_val(key, sizeof(key));
	v = store_val(&rec, sizeof(rec));
	rc = store_err(mdb_put(txn, lg->grants, &k, &v, MDB_NOOVERWRITE));
	if (rc)
		goto out;
	p.counter += n;
	rc = put_pool(lg, txn, name, &p);
out:
	if (cur)
		mdb_cursor_close(cur);
	if (rc)
		memset(g, 0, sizeof(*g));
	else if (pool)
		*pool = p;
	return rc;
}

int ledger_grant(struct ledger *lg, const char *name, uint32_t shard,
		 uint64_t want, struct ledger_grant *g)
{
	MDB_txn *txn;
	int rc;

	rc = store_err(store_txn_begin(lg->env, NULL, 0, &txn));
	if (rc)
		return rc;
	rc = ledger_grant_txn(lg, txn, name, shard, want, g, NULL);
	if (rc == 0 && g->count == 0)
		store_txn_abort(txn); /* used up: nothing was written */
	else
		rc = store_finish(txn, rc);
	if (rc)
		memset(g, 0, sizeof(*g));
	return rc;
}

int ledger_rec_get_txn(struct ledger *lg, MDB_txn *txn, const char *name,
		       struct ledger_rec *out)
{
	return get_pool(lg, txn, name, out);
}

int ledger_rec_put_txn(struct ledger *lg, MDB_txn *txn, const char *name,
		       const struct ledger_rec *p)
{
	return put_pool(lg, txn, name, p);
}

int ledger_grant_find(struct ledger *lg, uint32_t pool_id, uint64_t index,
		      struct ledger_grant *g)
{
	MDB_cursor *cur = NULL;
	MDB_txn *txn;
	int rc;

	rc = store_err(store_txn_begin(lg->env, NULL, MDB_RDONLY, &txn));
	if (rc)
		return rc;
	rc = store_err(mdb_cursor_open(txn, lg->grants, &cur));
	if (rc)
		goto out;
	rc = grant_at_or_before(lg, cur, pool_id, index, g);
	if (rc == 0 && index - g->first >= g->count)
		rc = -ENOENT;
out:
	if (cur)
		mdb_cursor_close(cur);
	store_txn_abort(txn);
	return rc;
}

struct grants_load {
	struct ledger_grant *arr;
	size_t n, cap;
};

static int grants_load_one(const MDB_val *k, const MDB_val *v, void *arg)
{
	struct grants_load *l = arg;
	struct ledger_grant *tmp;

	if (k->mv_size != 12 || v->mv_size != sizeof(struct ledger_grant_rec))
		return -EIO;
	if (l->n == l->cap) {
		l->cap = l->cap ? l->cap * 2 : 64;
		tmp = realloc(l->arr, l->cap * sizeof(*tmp));
		if (!tmp)
			return -ENOMEM;
		l->arr = tmp;
	}
	grant_from(&l->arr[l->n++], k, v);
	return 0;
}

int ledger_grants_load(struct ledger *lg, const char *name,
		       struct ledger_rec *pool, struct ledger_grant **grants,
		       size_t *ngrants)
{
	struct grants_load l = { NULL, 0, 0 };
	unsigned char key[12];
	MDB_txn *txn;
	int rc;

	*grants = NULL;
	*ngrants = 0;
	rc = store_err(store_txn_begin(lg->env, NULL, MDB_RDONLY, &txn));
	if (rc)
		return rc;
	rc = get_pool(lg, txn, name, pool);
	if (rc)
		goto out;
	grant_key(key, pool->id, 0);
	rc = store_scan(txn, lg->grants, key, sizeof(key), 4, grants_load_one,
			&l);
out:
	store_txn_abort(txn);
	if (rc) {
		free(l.arr);
		return rc;
	}
	*grants = l.arr;
	*ngrants = l.n;
	return 0;
}

int ledger_reader_tick(void *arg, MDB_txn *txn, uint64_t now_ms)
{
	struct ledger *lg = arg;

	(void)txn;
	(void)now_ms;
	return store_reader_check(lg->env, "ledger");
}

/* The highest real shard number so far, plus one, in *arg. */
static int shard_count_one(const MDB_val *k, const MDB_val *v, void *arg)
{
	uint32_t *n = arg, shard;

	(void)v;
	if (k->mv_size != 8)
		return 1;
	shard = store_get_be32((const unsigned char *)k->mv_data + 4);
	if (shard >= LEDGER_SHARD_SPECIAL)
		return 1; /* keys sort by shard: no real one follows */
	*n = shard + 1;
	return 0;
}

int ledger_shard_count(struct ledger *lg, uint32_t pool_id, uint32_t *n)
{
	unsigned char key[8];
	MDB_txn *txn;
	int rc;

	*n = 0;
	rc = store_err(store_txn_begin(lg->env, NULL, MDB_RDONLY, &txn));
	if (rc)
		return rc;
	store_put_be32(key, pool_id);
	store_put_be32(key + 4, 0);
	rc = store_scan(txn, lg->shards, key, sizeof(key), 4, shard_count_one,
			n);
	store_txn_abort(txn);
	return rc < 0 ? rc : 0;
}

/* ---- code runs ----------------------------------------------------- */

static void run_key(unsigned char key[12], uint32_t stream, uint64_t first)
{
	store_put_be32(key, stream);
	store_put_be64(key + 4, first);
}

int ledger_run_put(struct ledger *lg, MDB_txn *txn, uint32_t stream,
		   uint64_t first, const uint64_t *sorted, size_t n)
{
	unsigned char key[12];
	MDB_cursor *cur = NULL;
	MDB_val k, data[2];
	int rc;

	run_key(key, stream, first);
	rc = store_err(mdb_cursor_open(txn, lg->coderuns, &cur));
	if (rc)
		return rc;
	k = store_val(key, sizeof(key));
	data[0] = store_val(sorted, sizeof(uint64_t));
	data[1].mv_size = n;
	data[1].mv_data = NULL;
	rc = store_err(mdb_cursor_put(cur, &k, data, MDB_MULTIPLE));
	if (rc == 0 && data[1].mv_size != n)
		rc = -EIO;
	mdb_cursor_close(cur);
	return rc;
}

int ledger_run_count(struct ledger *lg, MDB_txn *txn, uint32_t stream,
		     uint64_t lo, uint64_t hi, uint64_t *n)
{
	unsigned char key[12], at[12];
	MDB_cursor *cur = NULL;
	MDB_val k, v;
	uint64_t x, first = 0;
	int rc;

	rc = store_err(mdb_cursor_open(txn, lg->coderuns, &cur));
	if (rc)
		return rc;
	for (;;) {
		/* The next run of the stream, from position `first` on. */
		run_key(key, stream, first);
		k = store_val(key, sizeof(key));
		rc = mdb_cursor_get(cur, &k, &v, MDB_SET_RANGE);
		if (rc || k.mv_size != 12 ||
		    store_get_be32(k.mv_data) != stream)
			break;
		memcpy(at, k.mv_data, sizeof(at));
		first = store_get_be64(at + 4) + 1;
		k = store_val(at, sizeof(at));
		v = store_val(&lo, sizeof(lo));
		rc = mdb_cursor_get(cur, &k, &v, MDB_GET_BOTH_RANGE);
		while (rc == 0) {
			memcpy(&x, v.mv_data, sizeof(x));
			if (x >= hi)
				break;
			(*n)++;
			rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT_DUP);
		}
		if (rc && rc != MDB_NOTFOUND)
			break;
		rc = 0;
	}
	mdb_cursor_close(cur);
	return rc == MDB_NOTFOUND ? 0 : store_err(rc);
}

int ledger_run_each(struct ledger *lg, MDB_txn *txn, uint32_t stream,
		    int (*fn)(uint64_t first, void *arg), void *arg)
{
	unsigned char key[12];
	MDB_cursor *cur = NULL;
	MDB_val k, v;
	int rc;

	rc = store_err(mdb_cursor_open(txn, lg->coderuns, &cur));
	if (rc)
		return rc;
	run_key(key, stream, 0);
	k = store_val(key, sizeof(key));
	for (rc = mdb_cursor_get(cur, &k, &v, MDB_SET_RANGE); rc == 0;
	     rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT_NODUP)) {
		if (k.mv_size != 12 || store_get_be32(k.mv_data) != stream)
			break;
		rc = fn(store_get_be64((const unsigned char *)k.mv_data + 4),
			arg);
		if (rc)
			goto out;
	}
	rc = rc == MDB_NOTFOUND ? 0 : store_err(rc);
out:
	mdb_cursor_close(cur);
	return rc;
}

/* The code under r's cursor after op, or past the end. */
static int run_get(struct ledger_run *r, MDB_cursor_op op)
{
	MDB_val k, v;
	int rc = mdb_cursor_get(r->cur, &k, &v, op);

	r->live = rc == 0;
	if (rc == 0)
		memcpy(&r->code, v.mv_data, sizeof(r->code));
	return rc == MDB_NOTFOUND ? 0 : store_err(rc);
}

int ledger_run_open(struct ledger *lg, MDB_txn *txn, uint32_t stream,
		    uint64_t first, struct ledger_run *r)
{
	unsigned char key[12];
	MDB_val k, v;
	int rc;

	memset(r, 0, sizeof(*r));
	rc = store_err(mdb_cursor_open(txn, lg->coderuns, &r->cur));
	if (rc) {
		r->cur = NULL;
		return rc;
	}
	run_key(key, stream, first);
	k = store_val(key, sizeof(key));
	rc = store_err(mdb_cursor_get(r->cur, &k, &v, MDB_SET_KEY));
	if (rc == 0)
		rc = store_err(mdb_cursor_count(r->cur, &r->count));
	if (rc == 0)
		rc = run_get(r, MDB_FIRST_DUP);
	if (rc)
		ledger_run_release(r);
	return rc;
}

int ledger_run_next(struct ledger_run *r)
{
	return run_get(r, MDB_NEXT_DUP);
}

void ledger_run_release(struct ledger_run *r)
{
	if (r->cur)
		mdb_cursor_close(r->cur);
	r->cur = NULL;
	r->live = false;
}

struct blocks_load {
	struct ledger_block *arr;
	size_t n, cap;
};

static int blocks_load_one(const MDB_val *k, const MDB_val *v, void *arg)
{
	struct blocks_load *l = arg;
	struct ledger_block_rec r;
	struct ledger_block *tmp;

	if (k->mv_size != 12 || v->mv_size != sizeof(r))
		return -EIO;
	if (l->n == l->cap) {
		l->cap = l->cap ? l->cap * 2 : 16;
		tmp = realloc(l->arr, l->cap * sizeof(*tmp));
		if (!tmp)
			return -ENOMEM;
		l->arr = tmp;
	}
	memcpy(&r, v->mv_data, sizeof(r));
	l->arr[l->n].first =
		store_get_be64((const unsigned char *)k->mv_data + 4);
	l->arr[l->n].count = r.count;
	l->arr[l->n].time_ms = r.time_ms;
	l->n++;
	return 0;
}

static int blocks_load_txn(struct ledger *lg, MDB_txn *txn, const char *name,
			   struct ledger_rec *pool, struct blocks_load *l)
{
	unsigned char key[12];
	int rc;

	rc = get_pool(lg, txn, name, pool);
	if (rc || !lg->blocks)
		return rc;
	store_put_be32(key, pool->id);
	store_put_be64(key + 4, 0);
	return store_scan(txn, lg->blocks, key, sizeof(key), 4,
			  blocks_load_one, l);
}

int ledger_blocks_load(struct ledger *lg, const char *name,
		       struct ledger_rec *pool, struct ledger_block **blocks,
		       size_t *n)
{
	struct blocks_load l = { NULL, 0, 0 };
	MDB_txn *txn;
	int rc;

	*blocks = NULL;
	*n = 0;
	rc = store_err(store_txn_begin(lg->env, NULL, MDB_RDONLY, &txn));
	if (rc)
		return rc;
	rc = blocks_load_txn(lg, txn, name, pool, &l);
	store_txn_abort(txn);
	if (rc) {
		free(l.arr);
		return rc;
	}
	*blocks = l.arr;
	*n = l.n;
	return 0;
}

int ledger_issued(struct ledger *lg, const char *name, struct ledger_rec *rec,
		  uint64_t *issued)
{
	struct ledger_block *b = NULL;
	size_t i, n;
	int rc;

	rc = ledger_rec_get(lg, name, rec);
	if (rc)
		return rc;
	*issued = rec->counter;
	if (!(rec->flags & LEDGER_REC_CLUSTER))
		return 0;
	rc = ledger_blocks_load(lg, name, rec, &b, &n);
	if (rc)
		return rc;
	*issued = 0;
	for (i = 0; i < n && b[i].first < rec->counter; i++)
		*issued += rec->counter - b[i].first < b[i].count ?
			   rec->counter - b[i].first : b[i].count;
	free(b);
	return 0;
}

/*
 * The blocks of pool p from the one that may hold index `from` on (the
 * last block at or before it, then every later one): calls fn for each.
 * The reserver asks this ten times a second, so it reads only the
 * blocks not yet used, never the whole history. Returns 0 or an error.
 */
static int blocks_from(struct ledger *lg, MDB_txn *txn, uint32_t pool_id,
		       uint64_t from,
		       void (*fn)(uint64_t first, uint64_t count, void *arg),
		       void *arg)
{
	unsigned char key[12];
	struct ledger_block_rec r;
	MDB_cursor *cur = NULL;
	MDB_val k, v;
	int rc;

	if (!lg->blocks)
		return 0;
	rc = store_err(mdb_cursor_open(txn, lg->blocks, &cur));
	if (rc)
		return rc;
	store_put_be32(key, pool_id);
	store_put_be64(key + 4, from);
	k = store_val(key, sizeof(key));
	rc = mdb_cursor_get(cur, &k, &v, MDB_SET_RANGE);
	if (rc == MDB_NOTFOUND)
		rc = mdb_cursor_get(cur, &k, &v, MDB_LAST);
	else if (rc == 0 && memcmp(k.mv_data, key, sizeof(key)) != 0)
		rc = mdb_cursor_get(cur, &k, &v, MDB_PREV);
	if (rc == MDB_NOTFOUND) {	/* nothing before: from the first */
		store_put_be64(key + 4, 0);
		k = store_val(key, sizeof(key));
		rc = mdb_cursor_get(cur, &k, &v, MDB_SET_RANGE);
	}
	for (; rc == 0; rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT)) {
		if (k.mv_size != sizeof(key) || v.mv_size != sizeof(r)) {
			rc = MDB_CORRUPTED;
			break;
		}
		if (store_get_be32(k.mv_data) < pool_id)
			continue;	/* the block before was another pool's */
		if (store_get_be32(k.mv_data) > pool_id)
			break;
		memcpy(&r, v.mv_data, sizeof(r));
		fn(store_get_be64((unsigned char *)k.mv_data + 4), r.count,
		   arg);
	}
	mdb_cursor_close(cur);
	return rc == MDB_NOTFOUND || rc == 0 ? 0 : store_err(rc);
}

struct stock {
	uint64_t counter, unused, last_end;
};

static void stock_one(uint64_t first, uint64_t count, void *arg)
{
	struct stock *st = arg;
	uint64_t end = first + count;

	if (end > st->counter)
		st->unused += end - (first > st->counter ? first : st->counter);
	st->last_end = end;
}

int ledger_block_stock(struct ledger *lg, const char *name, uint64_t *unused,
		       uint64_t *last_end)
{
	struct ledger_rec p;
	struct stock st = { 0, 0, 0 };
	MDB_txn *txn;
	int rc;

	*unused = *last_end = 0;
	rc = store_err(store_txn_begin(lg->env, NULL, MDB_RDONLY, &txn));
	if (rc)
		return rc;
	rc = get_pool(lg, txn, name, &p);
	if (rc == 0) {
		st.counter = p.counter;
		rc = blocks_from(lg, txn, p.id, p.counter, stock_one, &st);
	}
	store_txn_abort(txn);
	if (rc == 0) {
		*unused = st.unused;
		*last_end = st.last_end;
	}
	return rc;
}

struct overlap {
	const struct ledger_block *b;
	bool same, overlaps;
};

static void overlap_one(uint64_t first, uint64_t count, void *arg)
{
	struct overlap *ov = arg;

	if (first == ov->b->first && count == ov->b->count)
		ov->same = true;
	else if (ov->b->first < first + count &&
		 first < ov->b->first + ov->b->count)
		ov->overlaps = true;
}

int ledger_block_add(struct ledger *lg, const char *name,
		     const struct ledger_block *b, bool end)
{
	struct overlap ov = { b, false, false };
	struct ledger_block_rec r;
	unsigned char key[12];
	struct ledger_rec p;
	MDB_txn *txn;
	MDB_val k, v;
	int rc;

	if (!lg->blocks)
		return -EROFS;
	rc = store_err(store_txn_begin(lg->env, NULL, 0, &txn));
	if (rc)
		return rc;
	rc = get_pool(lg, txn, name, &p);
	if (rc)
		goto out;
	if (!(p.flags & LEDGER_REC_CLUSTER)) {
		rc = -EINVAL;
		goto out;
	}
	if (b->count) {
		if (b->first > p.capacity || b->count > p.capacity - b->first) {
			rc = -EINVAL;
			goto out;
		}
		/* Only the neighbours can overlap: the block at or before
		 * b's first, and those after it. */
		rc = blocks_from(lg, txn, p.id, b->first, overlap_one, &ov);
		if (rc)
			goto out;
		if (ov.same)
			goto mark;	/* adopted before */
		if (ov.overlaps) {
			rc = -EINVAL;
			goto out;
		}
		if (b->first < p.counter) {
			rc = -EINVAL;
			goto out;
		}
		store_put_be32(key, p.id);
		store_put_be64(key + 4, b->first);
		r.count = b->count;
		r.time_ms = b->time_ms;
		k = store_val(key, sizeof(key));
		v = store_val(&r, sizeof(r));
		rc = store_err(mdb_put(txn, lg->blocks, &k, &v,
				       MDB_NOOVERWRITE));
		if (rc)
			goto out;
	}
mark:
	if (end && !(p.flags & LEDGER_REC_CLUSTER_END)) {
		p.flags |= LEDGER_REC_CLUSTER_END;
		rc = put_pool(lg, txn, name, &p);
		if (rc)
			goto out;
	}
	rc = store_finish(txn, 0);
	txn = NULL;
out:
	if (txn)
		store_txn_abort(txn);
	return rc;
}
