/*
 * test_ledger.c: tests ledger/ledger on real LMDB files in a temporary
 * directory: creating and reopening a ledger (its instance id kept),
 * refusing (and not touching) files that are not a ledger, an empty file
 * (a creation cut short) read-only and then created, pools with
 * their keys and parameters, and grants, which must tile each pool's
 * permutation indices [0, counter) exactly and hand each shard its
 * sequence numbers once, across pools, shards and close/reopen.
 * Single-threaded; concurrent grants are tested in test_pool.c (suite
 * "threads").
 */
#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <lmdb.h>

#include "common/clock.h"
#include "common/config.h"
#include "common/log.h"
#include "common/store.h"
#include "ledger/ledger.h"
#include "tests/unit/t.h"
#include "tests/unit/t_util.h"
#include "common/banned.h"

/* True when the file at path holds exactly len bytes equal to want. */
static bool same_bytes(const char *path, const unsigned char *want,
		       size_t len)
{
	size_t n;
	unsigned char *now = t_slurp(path, &n);
	bool same = now && n == len && memcmp(now, want, len) == 0;

	free(now);
	return same;
}

static const struct ledger_opts open_create = { .sync = false,
						 .create = true };
static const struct ledger_opts open_only = { .sync = false,
					       .create = false };

static struct pool_def int_def(const char *name, int64_t min, uint64_t cap)
{
	struct pool_def d;

	memset(&d, 0, sizeof(d));
	snprintf(d.name, sizeof(d.name), "%s", name);
	d.kind = POOL_INT;
	d.min = min;
	d.capacity = cap;
	d.shards = 2;
	d.shard_size = 100;
	return d;
}

static struct pool_def float_def(const char *name, int64_t min, uint64_t cap,
				 unsigned decimals)
{
	struct pool_def d = int_def(name, min, cap);

	d.kind = POOL_FLOAT;
	d.decimals = decimals;
	return d;
}

static bool key_is_zero(const uint8_t *key)
{
	int i;

	for (i = 0; i < PERM_KEY_LEN; i++)
		if (key[i])
			return false;
	return true;
}

static bool pool_eq(const struct ledger_rec *a, const struct ledger_rec *b)
{
	return a->id == b->id && a->kind == b->kind && a->min == b->min &&
	       a->capacity == b->capacity && a->decimals == b->decimals &&
	       memcmp(a->key, b->key, PERM_KEY_LEN) == 0 &&
	       a->counter == b->counter && a->created_ms == b->created_ms;
}

static bool grant_eq(const struct ledger_grant *a,
		     const struct ledger_grant *b)
{
	return a->first == b->first && a->count == b->count &&
	       a->seq0 == b->seq0 && a->time_ms == b->time_ms &&
	       a->shard == b->shard;
}

/* A new ledger, reopened; a missing file without create is -ENOENT. */
static void test_create_reopen(void)
{
	const char *dir = t_tmpdir();
	uint8_t inst[LEDGER_INSTANCE_LEN];
	char path[512];
	struct ledger lg;
	struct ledger_rec p;

	t_path_in(path, sizeof(path), dir, LEDGER_FILE);
	CHECK_RC(ledger_open(&lg, path, &open_only), -ENOENT);
	CHECK(lg.env == NULL);

	CHECK_RC(ledger_open(&lg, path, &open_create), 0);
	CHECK(lg.env != NULL);
	CHECK(!key_is_zero(lg.instance));
	memcpy(inst, lg.instance, sizeof(inst));
	CHECK_RC(ledger_rec_get(&lg, "nope", &p), -ENOENT);
	ledger_release(&lg);
	CHECK(lg.env == NULL);
	ledger_release(&lg); /* twice is harmless */

	/* Reopened, with or without create: the same instance id. */
	CHECK_RC(ledger_open(&lg, path, &open_only), 0);
	CHECK(memcmp(lg.instance, inst, sizeof(inst)) == 0);
	ledger_release(&lg);
	CHECK_RC(ledger_open(&lg, path, &open_create), 0);
	CHECK(memcmp(lg.instance, inst, sizeof(inst)) == 0);
	ledger_release(&lg);

	/* Another ledger has another instance id. */
	t_path_in(path, sizeof(path), dir, "other.mdb");
	CHECK_RC(ledger_open(&lg, path, &open_create), 0);
	CHECK(memcmp(lg.instance, inst, sizeof(inst)) != 0);
	ledger_release(&lg);
	t_rm_rf(dir);
}

/*
 * Makes an LMDB file at path with plain LMDB calls, as another program
 * would: `key` -> `val` in the main database, and with subdb set, a named
 * database of that name holding key -> val instead.
 */
static int make_foreign(const char *path, const char *subdb, const char *key,
			const char *val)
{
	MDB_env *env = NULL;
	MDB_txn *txn = NULL;
	MDB_dbi dbi;
	MDB_val k = { strlen(key), (void *)(uintptr_t)key };
	MDB_val v = { strlen(val), (void *)(uintptr_t)val };
	int rc;

	if ((rc = mdb_env_create(&env)) ||
	    (rc = mdb_env_set_maxdbs(env, 4)) ||
	    (rc = mdb_env_open(env, path, MDB_NOSUBDIR, 0600)) ||
	    (rc = mdb_txn_begin(env, NULL, 0, &txn)))
		goto out;
	rc = mdb_dbi_open(txn, subdb, subdb ? MDB_CREATE : 0, &dbi);
	if (rc == 0)
		rc = mdb_put(txn, dbi, &k, &v, 0);
	if (rc == 0)
		rc = mdb_txn_commit(txn);
	else
		mdb_txn_abort(txn);
out:
	if (env)
		mdb_env_close(env);
	return rc;
}

/* With plain LMDB calls: is key -> val still in the file (in subdb or the
 * main database), and is there no "meta" database? */
static bool foreign_intact(const char *path, const char *subdb,
			   const char *key, const char *val)
{
	MDB_env *env = NULL;
	MDB_txn *txn = NULL;
	MDB_dbi dbi, meta;
	MDB_val k = { strlen(key), (void *)(uintptr_t)key }, v;
	bool ok = false;

	if (mdb_env_create(&env) || mdb_env_set_maxdbs(env, 4) ||
	    mdb_env_open(env, path, MDB_NOSUBDIR | MDB_RDONLY, 0600) ||
	    mdb_txn_begin(env, NULL, MDB_RDONLY, &txn))
		goto out;
	if (mdb_dbi_open(txn, subdb, 0, &dbi) == 0 &&
	    mdb_get(txn, dbi, &k, &v) == 0 && v.mv_size == strlen(val) &&
	    memcmp(v.mv_data, val, v.mv_size) == 0)
		ok = true;
	if (strcmp(key, "meta") && mdb_dbi_open(txn, "meta", 0, &meta) == 0)
		ok = false; /* someone created our database in it */
out:
	if (txn)
		mdb_txn_abort(txn);
	if (env)
		mdb_env_close(env);
	return ok;
}

/* One kind of foreign file: refused with -EPROTO, with and without
 * create, and left byte for byte as it was. */
static void check_foreign(const char *dir, const char *name,
			  const char *subdb, const char *key, const char *val)
{
	unsigned char *before;
	struct ledger lg;
	char path[512];
	size_t len;
	int rc;

	t_path_in(path, sizeof(path), dir, name);
	rc = make_foreign(path, subdb, key, val);
	CHECKF(rc == 0, "make_foreign %s: %s", name, mdb_strerror(rc));
	before = t_slurp(path, &len);
	CHECK(before != NULL && len > 0);
	if (!before)
		return;

	rc = ledger_open(&lg, path, &open_create);
	CHECKF(rc == -EPROTO, "%s with create: %d", name, rc);
	CHECK(lg.env == NULL);
	CHECKF(same_bytes(path, before, len), "%s changed", name);
	rc = ledger_open(&lg, path, &open_only);
	CHECKF(rc == -EPROTO, "%s without create: %d", name, rc);
	CHECK(lg.env == NULL);
	CHECKF(same_bytes(path, before, len), "%s changed", name);
	CHECKF(foreign_intact(path, subdb, key, val), "%s: data lost", name);
	free(before);
}

/* Rewrites the "format" record of the ledger at path with plain LMDB
 * calls, as a newer build would have written it. Returns an LMDB code. */
static int forge_format(const char *path, uint32_t fmt)
{
	MDB_val k = { 6, (void *)(uintptr_t)"format" };
	MDB_val v = { sizeof(fmt), &fmt };
	MDB_env *env = NULL;
	MDB_txn *txn = NULL;
	MDB_dbi meta;
	int rc;

	if ((rc = mdb_env_create(&env)) ||
	    (rc = mdb_env_set_maxdbs(env, 16)) ||
	    (rc = mdb_env_open(env, path, MDB_NOSUBDIR, 0600)) ||
	    (rc = mdb_txn_begin(env, NULL, 0, &txn)))
		goto out;
	rc = mdb_dbi_open(txn, "meta", 0, &meta);
	if (rc == 0)
		rc = mdb_put(txn, meta, &k, &v, 0);
	if (rc == 0)
		rc = mdb_txn_commit(txn);
	else
		mdb_txn_abort(txn);
out:
	if (env)
		mdb_env_close(env);
	return rc;
}

/* Files made by someone else are refused with -EPROTO and left alone. */
static void test_foreign_files(void)
{
	const char *dir = t_tmpdir();
	char path[512], text[6000];
	unsigned char *before;
	struct ledger lg;
	size_t len, i;
	FILE *f;

	/* A key in the main database. */
	check_foreign(dir, "main.mdb", NULL, "hello", "world");
	/* A named database of another program. */
	check_foreign(dir, "named.mdb", "data", "hello", "world");
	/* A plain key called "meta" where we keep a named database. */
	check_foreign(dir, "metakey.mdb", NULL, "meta", "not a database");

	/* Not an LMDB file at all. */
	t_path_in(path, sizeof(path), dir, "text.mdb");
	for (i = 0; i + 1 < sizeof(text); i++)
		text[i] = (char)('a' + i % 26);
	text[sizeof(text) - 1] = '\n';
	f = fopen(path, "wb");
	CHECK(f != NULL);
	if (f) {
		CHECK(fwrite(text, 1, sizeof(text), f) == sizeof(text));
		fclose(f);
	}
	CHECK_RC(ledger_open(&lg, path, &open_create), -EPROTO);
	CHECK_RC(ledger_open(&lg, path, &open_only), -EPROTO);
	CHECK(same_bytes(path, (const unsigned char *)text, sizeof(text)));

	/* A ledger of a newer format: refused, not rewritten. */
	t_path_in(path, sizeof(path), dir, LEDGER_FILE);
	CHECK_RC(ledger_open(&lg, path, &open_create), 0);
	ledger_release(&lg);
	CHECK_EQ_U64(forge_format(path, 2), 0);
	before = t_slurp(path, &len);
	CHECK(before != NULL);
	CHECK_RC(ledger_open(&lg, path, &open_create), -EPROTO);
	CHECK_RC(ledger_open(&lg, path, &open_only), -EPROTO);
	if (before)
		CHECK(same_bytes(path, before, len));
	free(before);
	t_rm_rf(dir);
}

/*
 * An empty ledger file: a creation killed between open(2) and LMDB's
 * header write. Read-only (uniqctl verify, lookup, status) it is no
 * ledger yet (-ENOENT, as if missing), and stays empty (LMDB would have
 * tried to write the header and failed with EBADF); a writer's open
 * finishes the creation.
 */
static void test_cut_creation(void)
{
	static const struct ledger_opts ro = { .create = false,
					       .readonly = true };
	const char *dir = t_tmpdir();
	char path[512];
	struct ledger lg;
	struct stat st;
	FILE *f;

	t_path_in(path, sizeof(path), dir, LEDGER_FILE);
	f = fopen(path, "wb");
	CHECK(f != NULL);
	if (f)
		fclose(f);
	CHECK_RC(ledger_open(&lg, path, &ro), -ENOENT);
	CHECK(lg.env == NULL);
	CHECK(stat(path, &st) == 0 && st.st_size == 0);
	CHECK_RC(ledger_open(&lg, path, &open_create), 0);
	ledger_release(&lg);
	CHECK_RC(ledger_open(&lg, path, &ro), 0);
	ledger_release(&lg);
	t_rm_rf(dir);
}

/* ledger_rec_ensure: created once with a random key, then checked. */
static void test_pool_ensure(void)
{
	const char *dir = t_tmpdir();
	struct ledger_rec a, a2, b, b2, c, got;
	struct pool_def d, bad;
	struct ledger_grant g;
	struct ledger lg;
	char path[512], err[512];
	uint64_t t0 = clock_now_ms();

	t_path_in(path, sizeof(path), dir, LEDGER_FILE);
	CHECK_RC(ledger_open(&lg, path, &open_create), 0);

	d = int_def("alpha", -5, 1000);
	err[0] = '\0';
	CHECK_RC(ledger_rec_ensure(&lg, &d, &a, err, sizeof(err)), 0);
	CHECK(a.id != 0);
	CHECK_EQ_U64(a.kind, POOL_INT);
	CHECK(a.min == -5);
	CHECK_EQ_U64(a.capacity, 1000);
	CHECK_EQ_U64(a.decimals, 0);
	CHECK_EQ_U64(a.counter, 0);
	CHECK(!key_is_zero(a.key));
	CHECK(a.created_ms >= t0 && a.created_ms <= clock_now_ms());
	CHECK_RC(ledger_rec_get(&lg, "alpha", &got), 0);
	CHECK(pool_eq(&a, &got));

	/* Same definition again: the same pool, key and counter. Decimals
	 * mean nothing for an int pool. */
	d.decimals = 7;
	d.shards = 9;
	d.shard_size = 12345;
	CHECK_RC(ledger_rec_ensure(&lg, &d, &a2, err, sizeof(err)), 0);
	CHECK(pool_eq(&a, &a2));

	/* Changed parameters: refused with a sentence, nothing changes. */
	bad = int_def("alpha", -4, 1000);
	err[0] = '\0';
	CHECK_RC(ledger_rec_ensure(&lg, &bad, &got, err, sizeof(err)),
		 -EINVAL);
	CHECK(strstr(err, "alpha") != NULL);
	bad = int_def("alpha", -5, 1001);
	err[0] = '\0';
	CHECK_RC(ledger_rec_ensure(&lg, &bad, &got, err, sizeof(err)),
		 -EINVAL);
	CHECK(strlen(err) > 0);
	bad = float_def("alpha", -5, 1000, 0);
	err[0] = '\0';
	CHECK_RC(ledger_rec_ensure(&lg, &bad, &got, err, sizeof(err)),
		 -EINVAL);
	CHECK(strlen(err) > 0);
	CHECK_RC(ledger_rec_get(&lg, "alpha", &got), 0);
	CHECK(pool_eq(&a, &got));

	/* A float pool: its decimals are part of what values mean. */
	d = float_def("beta", 0, 1000000, 3);
	CHECK_RC(ledger_rec_ensure(&lg, &d, &b, err, sizeof(err)), 0);
	CHECK(b.id != a.id);
	CHECK(memcmp(a.key, b.key, PERM_KEY_LEN) != 0);
	CHECK_EQ_U64(b.kind, POOL_FLOAT);
	CHECK_EQ_U64(b.decimals, 3);
	bad = float_def("beta", 0, 1000000, 2);
	err[0] = '\0';
	CHECK_RC(ledger_rec_ensure(&lg, &bad, &got, err, sizeof(err)),
		 -EINVAL);
	CHECK(strstr(err, "beta") != NULL);
	bad = int_def("beta", 0, 1000000);
	CHECK_RC(ledger_rec_ensure(&lg, &bad, &got, err, sizeof(err)),
		 -EINVAL);
	CHECK_RC(ledger_rec_get(&lg, "beta", &got), 0);
	CHECK(pool_eq(&b, &got));

	/* The counter ensure reports is the current one. */
	CHECK_RC(ledger_grant(&lg, "beta", 0, 10, &g), 0);
	CHECK_EQ_U64(g.count, 10);
	CHECK_RC(ledger_rec_ensure(&lg, &d, &b2, err, sizeof(err)), 0);
	CHECK_EQ_U64(b2.counter, 10);
	CHECK(b2.id == b.id && memcmp(b2.key, b.key, PERM_KEY_LEN) == 0);

	/* ledger_rec_matches is the same test. */
	d = float_def("beta", 0, 1000000, 3);
	CHECK(ledger_rec_matches(&b, &d));
	d.decimals = 4;
	CHECK(!ledger_rec_matches(&b, &d));
	d = float_def("beta", 1, 1000000, 3);
	CHECK(!ledger_rec_matches(&b, &d));
	d = float_def("beta", 0, 999999, 3);
	CHECK(!ledger_rec_matches(&b, &d));
	d = int_def("alpha", -5, 1000);
	d.decimals = 3;
	CHECK(ledger_rec_matches(&a, &d));
	d.kind = POOL_FLOAT;
	d.decimals = 0;
	CHECK(!ledger_rec_matches(&a, &d));

	/* Refused ensures did not use up pool ids. */
	d = int_def("gamma", 0, 5);
	CHECK_RC(ledger_rec_ensure(&lg, &d, &c, err, sizeof(err)), 0);
	CHECK_EQ_U64(c.id, b.id + 1);
	CHECK(memcmp(c.key, a.key, PERM_KEY_LEN) != 0);
	CHECK(memcmp(c.key, b.key, PERM_KEY_LEN) != 0);

	/* All of it survives a reopen. */
	ledger_release(&lg);
	CHECK_RC(ledger_open(&lg, path, &open_only), 0);
	CHECK_RC(ledger_rec_get(&lg, "alpha", &got), 0);
	CHECK(pool_eq(&a, &got));
	CHECK_RC(ledger_rec_get(&lg, "beta", &got), 0);
	CHECK(pool_eq(&b2, &got));
	d = int_def("gamma", 0, 5);
	CHECK_RC(ledger_rec_ensure(&lg, &d, &got, err, sizeof(err)), 0);
	CHECK(pool_eq(&c, &got));
	d = int_def("delta", 0, 5);
	CHECK_RC(ledger_rec_ensure(&lg, &d, &got, err, sizeof(err)), 0);
	CHECK_EQ_U64(got.id, c.id + 1);
	ledger_release(&lg);
	t_rm_rf(dir);
}

/* A capacity-10 pool granted 4 at a time: 4, 4, 2, then nothing. */
static void test_grant_small(void)
{
	const char *dir = t_tmpdir();
	struct pool_def d = int_def("ten", 100, 10);
	struct ledger_rec p, got;
	struct ledger_grant g, *gs = NULL;
	struct ledger lg;
	char path[512], err[256];
	uint64_t t0 = clock_now_ms();
	uint32_t nshards;
	size_t n = 0;
	int i;

	t_path_in(path, sizeof(path), dir, LEDGER_FILE);
	CHECK_RC(ledger_open(&lg, path, &open_create), 0);
	CHECK_RC(ledger_grant(&lg, "ten", 0, 4, &g), -ENOENT);
	CHECK_RC(ledger_rec_ensure(&lg, &d, &p, err, sizeof(err)), 0);

	/* Wanting nothing grants nothing. */
	CHECK_RC(ledger_grant(&lg, "ten", 0, 0, &g), 0);
	CHECK_EQ_U64(g.count, 0);

	CHECK_RC(ledger_grant(&lg, "ten", 0, 4, &g), 0);
	CHECK_EQ_U64(g.first, 0);
	CHECK_EQ_U64(g.count, 4);
	CHECK_EQ_U64(g.seq0, 0);
	CHECK_EQ_U64(g.shard, 0);
	CHECK(g.time_ms >= t0 && g.time_ms <= clock_now_ms());
	CHECK_RC(ledger_grant(&lg, "ten", 0, 4, &g), 0);
	CHECK_EQ_U64(g.first, 4);
	CHECK_EQ_U64(g.count, 4);
	CHECK_EQ_U64(g.seq0, 4);
	CHECK_RC(ledger_grant(&lg, "ten", 0, 4, &g), 0);
	CHECK_EQ_U64(g.first, 8);
	CHECK_EQ_U64(g.count, 2);
	CHECK_EQ_U64(g.seq0, 8);
	for (i = 0; i < 5; i++) {
		CHECK_RC(ledger_grant(&lg, "ten", i % 3, 4, &g), 0);
		CHECK_EQ_U64(g.count, 0);
	}
	CHECK_RC(ledger_rec_get(&lg, "ten", &got), 0);
	CHECK_EQ_U64(got.counter, 10);
	/* A used-up pool's empty grants did not register shards 1 and 2. */
	CHECK_RC(ledger_shard_count(&lg, p.id, &nshards), 0);
	CHECK_EQ_U64(nshards, 1);
	CHECK_RC(ledger_grants_load(&lg, "ten", &got, &gs, &n), 0);
	CHECK_EQ_U64(n, 3);
	CHECK_EQ_U64(got.counter, 10);
	free(gs);
	gs = NULL;

	/* Still used up after a reopen. */
	ledger_release(&lg);
	CHECK_RC(ledger_open(&lg, path, &open_only), 0);
	CHECK_RC(ledger_grant(&lg, "ten", 0, 1000, &g), 0);
	CHECK_EQ_U64(g.count, 0);
	CHECK_RC(ledger_grants_load(&lg, "nope", &got, &gs, &n), -ENOENT);
	CHECK(gs == NULL && n == 0);
	ledger_release(&lg);
	t_rm_rf(dir);
}

/* Writes pool record p of `name` as is, the way damage would. */
static int put_pool_raw(struct ledger *lg, const char *name,
			const struct ledger_rec *p)
{
	MDB_txn *txn;
	int rc;

	rc = store_err(store_txn_begin(lg->env, NULL, 0, &txn));
	if (rc)
		return rc;
	rc = ledger_rec_put_txn(lg, txn, name, p);
	return store_finish(txn, rc);
}

/*
 * A damaged pool record never issues: a counter that its grants do not
 * end at, or a counter beyond the capacity (whose indices would walk the
 * permutation back onto issued values), is refused with -EIO and nothing
 * is granted; the record as it was makes grants again.
 */
static void test_grant_damaged(void)
{
	const char *dir = t_tmpdir();
	struct pool_def d = int_def("dmg", 100, 10);
	struct ledger_rec p, bad, got;
	struct ledger_grant g;
	struct ledger lg;
	char path[512], err[256];

	t_path_in(path, sizeof(path), dir, LEDGER_FILE);
	CHECK_RC(ledger_open(&lg, path, &open_create), 0);
	CHECK_RC(ledger_rec_ensure(&lg, &d, &p, err, sizeof(err)), 0);
	CHECK_RC(ledger_grant(&lg, "dmg", 0, 4, &g), 0);
	CHECK_RC(ledger_rec_get(&lg, "dmg", &p), 0);
	CHECK_EQ_U64(p.counter, 4);

	bad = p;
	bad.counter = 2;		/* behind its grants */
	CHECK_RC(put_pool_raw(&lg, "dmg", &bad), 0);
	CHECK_RC(ledger_grant(&lg, "dmg", 0, 4, &g), -EIO);
	CHECK_EQ_U64(g.count, 0);
	bad.counter = 6;		/* ahead of its grants */
	CHECK_RC(put_pool_raw(&lg, "dmg", &bad), 0);
	CHECK_RC(ledger_grant(&lg, "dmg", 0, 4, &g), -EIO);
	bad.counter = p.capacity + 3;	/* beyond the capacity */
	CHECK_RC(put_pool_raw(&lg, "dmg", &bad), 0);
	CHECK_RC(ledger_grant(&lg, "dmg", 0, 4, &g), -EIO);
	CHECK_RC(ledger_rec_get(&lg, "dmg", &got), 0);
	CHECK_EQ_U64(got.counter, p.capacity + 3);	/* nothing written */

	CHECK_RC(put_pool_raw(&lg, "dmg", &p), 0);
	CHECK_RC(ledger_grant(&lg, "dmg", 0, 4, &g), 0);
	CHECK_EQ_U64(g.first, 4);
	CHECK_EQ_U64(g.count, 4);
	ledger_release(&lg);
	t_rm_rf(dir);
}

#define TILE_CAP 60000u
#define TILE_MAX_GRANTS 4000

struct tile_pool {
	const char *name;
	struct ledger_rec rec;
	struct ledger_grant g[TILE_MAX_GRANTS];
	size_t n;
	uint64_t next_seq[8];
	uint32_t max_shard;
	bool used_up;
};

/* Checks that the grants of tp tile [0, counter) in order and give each
 * shard sequence numbers 0, 1, 2, ... */
static void check_tiling(const struct tile_pool *tp,
			 const struct ledger_grant *g, size_t n,
			 uint64_t counter)
{
	uint64_t next = 0, seq[8] = { 0 };
	size_t i;

	for (i = 0; i < n; i++) {
		CHECKF(g[i].first == next, "%s grant %zu starts at %llu, "
		       "not %llu", tp->name, i,
		       (unsigned long long)g[i].first,
		       (unsigned long long)next);
		CHECK(g[i].count > 0);
		CHECK(g[i].shard < 8);
		if (g[i].shard >= 8)
			return;
		CHECKF(g[i].seq0 == seq[g[i].shard],
		       "%s grant %zu: shard %u seq0 %llu, not %llu", tp->name,
		       i, g[i].shard, (unsigned long long)g[i].seq0,
		       (unsigned long long)seq[g[i].shard]);
		seq[g[i].shard] = g[i].seq0 + g[i].count;
		next = g[i].first + g[i].count;
	}
	CHECK_EQ_U64(next, counter);
}

/*
 * Two pools granted in interleaved, random sizes to shards {0, 1, 3, 6}
 * until used up: their grants tile [0, capacity), every index finds its
 * grant, and the loaded grants are the ones returned.
 */
static void test_grant_tiling(void)
{
	static struct tile_pool tp[2];
	static const uint32_t shard_ids[] = { 0, 1, 3, 6 };
	const char *dir = t_tmpdir();
	struct ledger_grant g, *loaded;
	struct ledger_rec got, empty;
	struct pool_def d;
	struct ledger lg;
	char path[512], err[256];
	uint64_t rng = 42, idx;
	uint32_t nsh;
	size_t i, j, n, k;
	int rounds = 0;

	memset(tp, 0, sizeof(tp));
	tp[0].name = "left";
	tp[1].name = "right";
	t_path_in(path, sizeof(path), dir, LEDGER_FILE);
	CHECK_RC(ledger_open(&lg, path, &open_create), 0);
	for (i = 0; i < 2; i++) {
		d = int_def(tp[i].name, 0, TILE_CAP);
		CHECK_RC(ledger_rec_ensure(&lg, &d, &tp[i].rec, err,
					   sizeof(err)), 0);
	}
	/* A pool with a higher id and no grants at all. */
	d = int_def("empty", 0, 100);
	CHECK_RC(ledger_rec_ensure(&lg, &d, &empty, err, sizeof(err)), 0);

	while ((!tp[0].used_up || !tp[1].used_up) && rounds++ < 100000) {
		struct tile_pool *t = &tp[t_rng_next(&rng) % 2];
		uint32_t sh = shard_ids[t_rng_next(&rng) % 4];
		uint64_t want = 1 + t_rng_next(&rng) % 60;
		uint64_t before = t->n ? t->g[t->n - 1].first +
					 t->g[t->n - 1].count : 0;
		int rc;

		rc = ledger_grant(&lg, t->name, sh, want, &g);
		CHECKF(rc == 0, "grant: %d", rc);
		if (rc)
			break;
		if (g.count == 0) {
			CHECK_EQ_U64(before, TILE_CAP);
			t->used_up = true;
			continue;
		}
		CHECK(!t->used_up);
		CHECK(g.count <= want);
		CHECK(g.count == want || before + g.count == TILE_CAP);
		CHECK_EQ_U64(g.first, before);
		CHECK_EQ_U64(g.shard, sh);
		CHECK_EQ_U64(g.seq0, t->next_seq[sh]);
		t->next_seq[sh] = g.seq0 + g.count;
		if (sh + 1 > t->max_shard)
			t->max_shard = sh + 1;
		CHECK(t->n < TILE_MAX_GRANTS);
		if (t->n >= TILE_MAX_GRANTS)
			break;
		t->g[t->n++] = g;
	}
	CHECK(tp[0].used_up && tp[1].used_up);

	for (i = 0; i < 2; i++) {
		struct tile_pool *t = &tp[i];

		check_tiling(t, t->g, t->n, TILE_CAP);
		CHECK_RC(ledger_grants_load(&lg, t->name, &got, &loaded, &n),
			 0);
		CHECK_EQ_U64(got.counter, TILE_CAP);
		CHECK_EQ_U64(got.id, t->rec.id);
		CHECK_EQ_U64(n, t->n);
		for (j = 0; j < n && j < t->n; j++)
			CHECKF(grant_eq(&loaded[j], &t->g[j]),
			       "%s: loaded grant %zu differs", t->name, j);
		free(loaded);
		CHECK_RC(ledger_shard_count(&lg, t->rec.id, &nsh), 0);
		CHECK_EQ_U64(nsh, t->max_shard);

		/* Every index of every grant finds that grant. */
		for (j = 0, k = 0; j < TILE_CAP; j++) {
			int rc = ledger_grant_find(&lg, t->rec.id, j, &g);

			while (k < t->n && j >= t->g[k].first + t->g[k].count)
				k++;
			if (rc != 0 || k >= t->n || !grant_eq(&g, &t->g[k])) {
				CHECKF(0, "%s: index %zu: rc %d", t->name, j,
				       rc);
				break;
			}
		}
		CHECK(j == TILE_CAP);
		/* Past the counter, nothing. */
		for (idx = TILE_CAP; idx < TILE_CAP + 3; idx++)
			CHECK_RC(ledger_grant_find(&lg, t->rec.id, idx, &g),
				 -ENOENT);
		CHECK_RC(ledger_grant_find(&lg, t->rec.id, UINT64_MAX - 1, &g),
			 -ENOENT);
	}
	/* Unknown pool ids and the pool without grants find nothing. */
	CHECK_RC(ledger_grant_find(&lg, 0, 0, &g), -ENOENT);
	CHECK_RC(ledger_grant_find(&lg, 999, 0, &g), -ENOENT);
	CHECK_RC(ledger_grant_find(&lg, empty.id, 0, &g), -ENOENT);
	CHECK_RC(ledger_grant_find(&lg, empty.id, 50, &g), -ENOENT);
	CHECK_RC(ledger_shard_count(&lg, empty.id, &nsh), 0);
	CHECK_EQ_U64(nsh, 0);
	CHECK_RC(ledger_shard_count(&lg, 999, &nsh), 0);
	CHECK_EQ_U64(nsh, 0);
	CHECK_RC(ledger_grants_load(&lg, "empty", &got, &loaded, &n), 0);
	CHECK_EQ_U64(n, 0);
	CHECK_EQ_U64(got.counter, 0);
	free(loaded);
	ledger_release(&lg);
	t_rm_rf(dir);
}

/* Grants, counters and shard sequence numbers persist across a reopen,
 * and granting goes on where it stopped. */
static void test_persist(void)
{
	const char *dir = t_tmpdir();
	struct ledger_grant g[6], more, *loaded = NULL;
	struct ledger_rec p, got;
	struct pool_def d = int_def("keep", 0, 1u << 20);
	struct ledger lg;
	char path[512], err[256];
	uint32_t nsh;
	size_t n = 0, i;

	t_path_in(path, sizeof(path), dir, LEDGER_FILE);
	CHECK_RC(ledger_open(&lg, path, &open_create), 0);
	CHECK_RC(ledger_rec_ensure(&lg, &d, &p, err, sizeof(err)), 0);
	for (i = 0; i < 6; i++)
		CHECK_RC(ledger_grant(&lg, "keep", (uint32_t)(i % 2), 100 + i,
				      &g[i]), 0);
	ledger_release(&lg);

	CHECK_RC(ledger_open(&lg, path, &open_only), 0);
	CHECK_RC(ledger_rec_get(&lg, "keep", &got), 0);
	CHECK_EQ_U64(got.id, p.id);
	CHECK(memcmp(got.key, p.key, PERM_KEY_LEN) == 0);
	CHECK_EQ_U64(got.counter, g[5].first + g[5].count);
	CHECK_RC(ledger_grants_load(&lg, "keep", &got, &loaded, &n), 0);
	CHECK_EQ_U64(n, 6);
	for (i = 0; i < n && i < 6; i++)
		CHECK(grant_eq(&loaded[i], &g[i]));
	free(loaded);
	CHECK_RC(ledger_shard_count(&lg, p.id, &nsh), 0);
	CHECK_EQ_U64(nsh, 2);
	for (i = 0; i < 6; i++) {
		CHECK_RC(ledger_grant_find(&lg, p.id, g[i].first, &more), 0);
		CHECK(grant_eq(&more, &g[i]));
	}

	CHECK_RC(ledger_grant(&lg, "keep", 1, 7, &more), 0);
	CHECK_EQ_U64(more.first, got.counter);
	CHECK_EQ_U64(more.seq0, g[5].seq0 + g[5].count);
	CHECK_RC(ledger_grant(&lg, "keep", 0, 7, &more), 0);
	CHECK_EQ_U64(more.seq0, g[4].seq0 + g[4].count);
	CHECK_RC(ledger_grant(&lg, "keep", 5, 7, &more), 0);
	CHECK_EQ_U64(more.seq0, 0);
	CHECK_RC(ledger_shard_count(&lg, p.id, &nsh), 0);
	CHECK_EQ_U64(nsh, 6);
	ledger_release(&lg);
	t_rm_rf(dir);
}

/*
 * Cluster pools: made with the cluster's key, their grants take from the
 * node's blocks in order, skipping the gaps between them (other nodes'
 * indices); with every block granted the pool waits (not used up) until
 * the cluster says it has nothing more; blocks that overlap, or start
 * before what was granted, are refused; a block adopted twice is not an
 * error; a standalone pool is never turned into a cluster pool, nor the
 * other way round.
 */
static void test_cluster_blocks(void)
{
	const char *dir = t_tmpdir();
	struct pool_def d = int_def("cl", 0, 1000), s = int_def("solo", 0, 10);
	struct ledger_block b, *bs = NULL;
	struct ledger_rec p, q;
	struct ledger_grant g, *gs = NULL;
	struct ledger lg;
	uint8_t key[PERM_KEY_LEN];
	char path[512], err[256];
	uint64_t unused, last_end;
	size_t n = 0, i;

	memset(key, 0x5a, sizeof(key));
	t_path_in(path, sizeof(path), dir, LEDGER_FILE);
	CHECK_RC(ledger_open(&lg, path, &open_create), 0);
	CHECK_RC(ledger_rec_ensure_cluster(&lg, &d, key, &p, err,
					   sizeof(err)), 0);
	CHECK(p.flags & LEDGER_REC_CLUSTER);
	CHECK(memcmp(p.key, key, PERM_KEY_LEN) == 0);
	/* again: the same */
	CHECK_RC(ledger_rec_ensure_cluster(&lg, &d, key, &q, err,
					   sizeof(err)), 0);
	CHECK(pool_eq(&p, &q));
	/* another key, or without the cluster: refused */
	key[0] ^= 1;
	CHECK_RC(ledger_rec_ensure_cluster(&lg, &d, key, &q, err,
					   sizeof(err)), -EINVAL);
	key[0] ^= 1;
	CHECK_RC(ledger_rec_ensure(&lg, &d, &q, err, sizeof(err)), -EINVAL);
	CHECK(strstr(err, "--etcd") != NULL);
	CHECK_RC(ledger_rec_ensure(&lg, &s, &q, err, sizeof(err)), 0);
	CHECK_RC(ledger_rec_ensure_cluster(&lg, &s, key, &q, err,
					   sizeof(err)), -EINVAL);
	b.first = 0;
	b.count = 5;
	b.time_ms = 1;
	CHECK_RC(ledger_block_add(&lg, "solo", &b, false), -EINVAL);

	/* No block yet: waiting, not used up. */
	CHECK_RC(ledger_grant(&lg, "cl", 0, 10, &g), 0);
	CHECK_EQ_U64(g.count, 0);
	CHECK(g.waiting);

	/* Blocks [100, 110) and [300, 305). */
	b.first = 100;
	b.count = 10;
	CHECK_RC(ledger_block_add(&lg, "cl", &b, false), 0);
	CHECK_RC(ledger_block_add(&lg, "cl", &b, false), 0); /* adopted */
	b.first = 300;
	b.count = 5;
	CHECK_RC(ledger_block_add(&lg, "cl", &b, false), 0);
	b.first = 104;	/* overlaps the first */
	b.count = 3;
	CHECK_RC(ledger_block_add(&lg, "cl", &b, false), -EINVAL);
	b.first = 999;	/* past the capacity */
	b.count = 2;
	CHECK_RC(ledger_block_add(&lg, "cl", &b, false), -EINVAL);
	CHECK_RC(ledger_block_stock(&lg, "cl", &unused, &last_end), 0);
	CHECK_EQ_U64(unused, 15);
	CHECK_EQ_U64(last_end, 305);

	CHECK_RC(ledger_grant(&lg, "cl", 0, 4, &g), 0);
	CHECK_EQ_U64(g.first, 100);
	CHECK_EQ_U64(g.count, 4);
	CHECK_EQ_U64(g.seq0, 0);
	CHECK_RC(ledger_grant(&lg, "cl", 1, 100, &g), 0);
	CHECK_EQ_U64(g.first, 104);	/* to the block's end, no further */
	CHECK_EQ_U64(g.count, 6);
	CHECK_RC(ledger_grant(&lg, "cl", 0, 100, &g), 0);
	CHECK_EQ_U64(g.first, 300);	/* over the gap */
	CHECK_EQ_U64(g.count, 5);
	CHECK_EQ_U64(g.seq0, 4);
	CHECK_RC(ledger_block_stock(&lg, "cl", &unused, &last_end), 0);
	CHECK_EQ_U64(unused, 0);
	/* a block before what was granted: refused */
	b.first = 200;
	b.count = 10;
	CHECK_RC(ledger_block_add(&lg, "cl", &b, false), -EINVAL);
	CHECK_RC(ledger_grant(&lg, "cl", 0, 10, &g), 0);
	CHECK_EQ_U64(g.count, 0);
	CHECK(g.waiting);

	/* The last block, and the cluster's end: then used up. */
	b.first = 990;
	b.count = 10;
	CHECK_RC(ledger_block_add(&lg, "cl", &b, true), 0);
	CHECK_RC(ledger_grant(&lg, "cl", 0, 100, &g), 0);
	CHECK_EQ_U64(g.first, 990);
	CHECK_EQ_U64(g.count, 10);
	CHECK_RC(ledger_grant(&lg, "cl", 0, 100, &g), 0);
	CHECK_EQ_U64(g.count, 0);
	CHECK(!g.waiting);

	/* Reopened read-only: the grants tile the blocks exactly. */
	ledger_release(&lg);
	CHECK_RC(ledger_open(&lg, path, &(struct ledger_opts){
					.readonly = true }), 0);
	CHECK_RC(ledger_blocks_load(&lg, "cl", &q, &bs, &n), 0);
	CHECK_EQ_U64(n, 3);
	CHECK(q.flags & LEDGER_REC_CLUSTER_END);
	CHECK_RC(ledger_grants_load(&lg, "cl", &q, &gs, &i), 0);
	CHECK_EQ_U64(i, 4);
	if (n == 3 && i == 4) {
		CHECK_EQ_U64(gs[0].first, bs[0].first);
		CHECK_EQ_U64(gs[1].first + gs[1].count,
			     bs[0].first + bs[0].count);
		CHECK_EQ_U64(gs[2].first, bs[1].first);
		CHECK_EQ_U64(gs[3].first + gs[3].count, 1000);
	}
	free(bs);
	free(gs);
	ledger_release(&lg);
	t_rm_rf(dir);
}

int main(void)
{
	log_setup("test_ledger", getenv("T_VERBOSE") ? LOG_DEBUG : LOG_OFF);
	test_create_reopen();
	test_foreign_files();
	test_cut_creation();
	test_pool_ensure();
	test_grant_small();
	test_grant_damaged();
	test_grant_tiling();
	test_persist();
	test_cluster_blocks();
	return t_done("test_ledger");
}
