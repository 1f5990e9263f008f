/*
 * shard.c: a shard's LMDB environment; see shard.h for the rules that
 * keep values from being served twice.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "common/log.h"
#include "common/store.h"
#include "shard/shard.h"
#include "common/banned.h"

#define SHARD_MAGIC "uniqd-shard"

_Static_assert(sizeof(size_t) == sizeof(uint64_t),
	       "MDB_INTEGERKEY keys are size_t; 64-bit sequence numbers");

int shard_path(char *path, size_t len, const char *data_dir,
	       const char *pool, uint32_t index)
{
	int n = snprintf(path, len, "%s/shards/%s_shard_%u.mdb", data_dir,
			 pool, index);

	return n < 0 || (size_t)n >= len ? -ENAMETOOLONG : 0;
}

/* Writes the identity of a new shard, or checks the one it has. */
static int check_identity(struct shard *s, MDB_txn *txn, const char *pool,
			  const uint8_t *instance)
{
	MDB_val mk = store_val("magic", 5), pk = store_val("pool", 4);
	MDB_val ik = store_val("index", 5), lk = store_val("ledger", 6), v;
	int rc;

	rc = mdb_get(txn, s->meta, &mk, &v);
	if (rc == MDB_NOTFOUND) {
		MDB_val m = store_val(SHARD_MAGIC, strlen(SHARD_MAGIC));
		MDB_val p = store_val(pool, strlen(pool));
		MDB_val i = store_val(&s->index, sizeof(s->index));
		MDB_val l = store_val(instance, SHARD_INSTANCE_LEN);

		if ((rc = mdb_put(txn, s->meta, &mk, &m, 0)) ||
		    (rc = mdb_put(txn, s->meta, &pk, &p, 0)) ||
		    (rc = mdb_put(txn, s->meta, &ik, &i, 0)) ||
		    (rc = mdb_put(txn, s->meta, &lk, &l, 0)))
			return store_err(rc);
		return 0;
	}
	if (rc)
		return store_err(rc);
	if (v.mv_size != strlen(SHARD_MAGIC) ||
	    memcmp(v.mv_data, SHARD_MAGIC, v.mv_size))
		return -EPROTO;
	if (mdb_get(txn, s->meta, &pk, &v) || v.mv_size != strlen(pool) ||
	    memcmp(v.mv_data, pool, v.mv_size))
		return -EPROTO;
	if (mdb_get(txn, s->meta, &ik, &v) || v.mv_size != sizeof(s->index) ||
	    memcmp(v.mv_data, &s->index, sizeof(s->index)))
		return -EPROTO;
	if (mdb_get(txn, s->meta, &lk, &v) || v.mv_size != SHARD_INSTANCE_LEN ||
	    memcmp(v.mv_data, instance, SHARD_INSTANCE_LEN))
		return -EPROTO;
	return 0;
}

int shard_open(struct shard *s, const char *path, const char *pool,
	       uint32_t index, const uint8_t instance[SHARD_INSTANCE_LEN],
	       const struct shard_opts *o)
{
	struct store_opts so = {
		/* Address space only: the file grows as it is written. Far
		 * more than the target needs, so that neither a uniqd and a
		 * uniqctl with other shard sizes nor pages pinned for a while
		 * by a slow reader can fill it. */
		.map_size = o->map_size ? o->map_size :
			    ((size_t)16 << 30) + (size_t)o->shard_size * 128,
		.max_dbs = 4,
		.sync = o->sync,
		.create = o->create && !o->readonly,
		.readonly = o->readonly,	/* see ledger_open */
	};
	MDB_txn *txn = NULL;
	MDB_dbi main_db;
	MDB_stat st;
	unsigned cflag = o->create && !o->readonly ? MDB_CREATE : 0;
	int rc;

	memset(s, 0, sizeof(*s));
	s->index = index;
	if (snprintf(s->name, sizeof(s->name), "%s_shard_%u", pool, index) >=
	    (int)sizeof(s->name))
		return -ENAMETOOLONG;
	rc = store_open(path, &so, &s->env);
	if (rc)
		return rc;
	rc = store_err(store_txn_begin(s->env, NULL,
				       o->readonly ? MDB_RDONLY : 0, &txn));
	if (rc)
		goto out;
	rc = mdb_dbi_open(txn, "meta", 0, &s->meta);
	if (rc == MDB_NOTFOUND && o->create) {
		/* Initialize only an empty environment. */
		rc = mdb_dbi_open(txn, NULL, 0, &main_db);
		if (rc == 0)
			rc = mdb_stat(txn, main_db, &st);
		if (rc == 0 && st.ms_entries != 0)
			rc = MDB_INCOMPATIBLE;
		if (rc == 0)
			rc = mdb_dbi_open(txn, "meta", MDB_CREATE, &s->meta);
	}
	if (rc) {
		rc = rc == MDB_NOTFOUND || rc == MDB_INCOMPATIBLE ?
			-EPROTO : store_err(rc);
		goto out;
	}
	rc = check_identity(s, txn, pool, instance);
	if (rc)
		goto out;
	rc = store_err(mdb_dbi_open(txn, "values", cflag | MDB_INTEGERKEY,
				    &s->values));
	if (rc)
		goto out;
	rc = store_finish(txn, 0);
	txn = NULL;
out:
	if (txn)
		store_txn_abort(txn);
	if (rc == -EPROTO)
		log_error("%s is not shard %u of pool \"%s\" of this data "
			  "directory's ledger; refusing to touch it", path,
			  index, pool);
	if (rc) {
		store_close(s->env);
		s->env = NULL;
	}
	return rc;
}

void shard_release(struct shard *s)
{
	if (s->env)
		store_close(s->env);
	s->env = NULL;
}

/* Appends vals[i] at seq0 + i, or at seqs[i] when seqs is not NULL. */
static int append(struct shard *s, uint64_t seq0, const uint64_t *seqs,
		  const uint64_t *vals, size_t n)
{
	MDB_cursor *cur = NULL;
	MDB_txn *txn;
	MDB_val k, v;
	unsigned flags = MDB_NOOVERWRITE;
	uint64_t seq = 0, last = 0;
	size_t i;
	int rc;

	if (n == 0)
		return 0;
	rc = store_err(store_txn_begin(s->env, NULL, 0, &txn));
	if (rc)
		return rc;
	rc = store_err(mdb_cursor_open(txn, s->values, &cur));
	if (rc)
		goto out;
	/* The usual case, a grant after everything in the shard, is a pure
	 * append, which LMDB does without searching the tree. Another
	 * process may have appended a later grant first; then insert. */
	rc = mdb_cursor_get(cur, &k, &v, MDB_LAST);
	if (rc == 0)
		memcpy(&last, k.mv_data, sizeof(last));
	if (rc == MDB_NOTFOUND || (rc == 0 && last < (seqs ? seqs[0] : seq0)))
		flags = MDB_APPEND;
	else if (rc) {
		rc = store_err(rc);
		goto out;
	}
	rc = 0;
	for (i = 0; i < n && rc == 0; i++) {
		seq = seqs ? seqs[i] : seq0 + i;
		k = store_val(&seq, sizeof(seq));
		v = store_val(&vals[i], sizeof(vals[i]));
		rc = store_err(mdb_cursor_put(cur, &k, &v, flags));
	}
	if (rc == -EEXIST)
		log_error("%s: sequence number %llu is already used", s->name,
			  (unsigned long long)seq);
out:
	if (cur)
		mdb_cursor_close(cur);
	return store_finish(txn, rc);
}

int shard_append(struct shard *s, uint64_t seq0, const uint64_t *vals,
		 size_t n)
{
	return append(s, seq0, NULL, vals, n);
}

int shard_append_seqs(struct shard *s, const uint64_t *seqs,
		      const uint64_t *vals, size_t n)
{
	return append(s, 0, seqs, vals, n);
}

int shard_take(struct shard *s, size_t max, struct shard_item *out,
	       size_t *n)
{
	MDB_cursor *cur = NULL;
	MDB_txn *txn;
	MDB_val k, v;
	size_t got = 0;
	int rc;

	*n = 0;
	rc = store_err(store_txn_begin(s->env, NULL, 0, &txn));
	if (rc)
		return rc;
	rc = store_err(mdb_cursor_open(txn, s->values, &cur));
	if (rc)
		goto out;
	for (rc = mdb_cursor_get(cur, &k, &v, MDB_FIRST);
	     rc == 0 && got < max;
	     rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT)) {
		if (k.mv_size != sizeof(uint64_t) ||
		    v.mv_size != sizeof(uint64_t)) {
			rc = MDB_CORRUPTED;
			break;
		}
		memcpy(&out[got].seq, k.mv_data, sizeof(uint64_t));
		memcpy(&out[got].value, v.mv_data, sizeof(uint64_t));
		/* After a delete the cursor already points at the next
		 * entry; LMDB's MDB_NEXT then returns that entry, not the one
		 * after. */
		rc = mdb_cursor_del(cur, 0);
		if (rc)
			break;
		got++;
	}
	rc = rc == MDB_NOTFOUND ? 0 : store_err(rc);
out:
	if (cur)
		mdb_cursor_close(cur);
	rc = store_finish(txn, rc);
	if (rc == 0)
		*n = got;
	return rc;
}

int shard_put_back(struct shard *s, const struct shard_item *items,
		   size_t n)
{
	MDB_txn *txn;
	MDB_val k, v;
	size_t i;
	int rc;

	if (n == 0)
		return 0;
	rc = store_err(store_txn_begin(s->env, NULL, 0, &txn));
	if (rc)
		return rc;
	for (i = 0; i < n && rc == 0; i++) {
		k = store_val(&items[i].seq, sizeof(items[i].seq));
		v = store_val(&items[i].value, sizeof(items[i].value));
		rc = store_err(mdb_put(txn, s->values, &k, &v,
				       MDB_NOOVERWRITE));
	}
	return store_finish(txn, rc);
}

int shard_count_txn(struct shard *s, uint64_t *n, uint64_t *txnid)
{
	MDB_txn *txn;
	MDB_stat st;
	int rc;

	rc = store_err(store_txn_begin(s->env, NULL, MDB_RDONLY, &txn));
	if (rc)
		return rc;
	rc = store_err(mdb_stat(txn, s->values, &st));
	if (txnid)
		*txnid = mdb_txn_id(txn);
	store_txn_abort(txn);
	if (rc == 0)
		*n = st.ms_entries;
	return rc;
}

int shard_count(struct shard *s, uint64_t *n)
{
	return shard_count_txn(s, n, NULL);
}

int shard_get(struct shard *s, uint64_t seq, uint64_t *value)
{
	MDB_txn *txn;
	MDB_val k = store_val(&seq, sizeof(seq)), v;
	int rc;

	rc = store_err(store_txn_begin(s->env, NULL, MDB_RDONLY, &txn));
	if (rc)
		return rc;
	rc = store_err(mdb_get(txn, s->values, &k, &v));
	if (rc == 0 && v.mv_size != sizeof(*value))
		rc = -EIO;
	if (rc == 0)
		memcpy(value, v.mv_data, sizeof(*value));
	store_txn_abort(txn);
	return rc;
}

int shard_reader_begin(struct shard *s, struct shard_reader *r)
{
	int rc;

	memset(r, 0, sizeof(*r));
	rc = store_err(store_txn_begin(s->env, NULL, MDB_RDONLY, &r->txn));
	if (rc)
		return rc;
	rc = store_err(mdb_cursor_open(r->txn, s->values, &r->cur));
	if (rc) {
		store_txn_abort(r->txn);
		r->txn = NULL;
	}
	return rc;
}

int shard_reader_next(struct shard_reader *r, struct shard_item *it)
{
	MDB_val k, v;
	int rc;

	rc = mdb_cursor_get(r->cur, &k, &v, r->started ? MDB_NEXT : MDB_FIRST);
	r->started = true;
	if (rc)
		return store_err(rc);
	if (k.mv_size != sizeof(uint64_t) || v.mv_size != sizeof(uint64_t))
		return -EIO;
	memcpy(&it->seq, k.mv_data, sizeof(uint64_t));
	memcpy(&it->value, v.mv_data, sizeof(uint64_t));
	return 0;
}

void shard_reader_end(struct shard_reader *r)
{
	if (r->cur)
		mdb_cursor_close(r->cur);
	if (r->txn)
		store_txn_abort(r->txn);
	r->cur = NULL;
	r->txn = NULL;
}
