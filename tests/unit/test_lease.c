/*
 * test_lease.c: lease pools through the real group committer on a real
 * ledger: borrows lend each number once, the pool runs out and recovers,
 * returns and renewals check the holder, reset returns everything, expired
 * leases come back (through the committer's tick), the leases out survive
 * a reopen, a changed range keeps the leases inside it, a damaged expiry
 * index neither ends a lease nor stops the pool, and 16 threads
 * borrowing and returning at once never hold one number twice.
 * (suite "threads": the committer is a thread.)
 */
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "common/clock.h"
#include "common/config.h"
#include "common/store.h"
#include "ledger/committer.h"
#include "pools/lease.h"
#include "ledger/ledger.h"
#include "tests/unit/t.h"
#include "tests/unit/t_util.h"
#include "common/banned.h"

struct waiter {
	struct lease_req req;
	pthread_mutex_t lock;
	pthread_cond_t cond;
	bool done;
	int rc;
};

static void on_done(struct commit_op *op, int rc)
{
	struct waiter *w = (struct waiter *)op;

	lease_req_finish(&w->req, rc);
	pthread_mutex_lock(&w->lock);
	w->rc = rc;
	w->done = true;
	pthread_cond_signal(&w->cond);
	pthread_mutex_unlock(&w->lock);
}

static int run_req(struct committer *c, struct waiter *w)
{
	w->req.op.done = on_done;
	pthread_mutex_init(&w->lock, NULL);
	pthread_cond_init(&w->cond, NULL);
	w->done = false;
	committer_submit(c, &w->req.op);
	pthread_mutex_lock(&w->lock);
	while (!w->done)
		pthread_cond_wait(&w->cond, &w->lock);
	pthread_mutex_unlock(&w->lock);
	pthread_cond_destroy(&w->cond);
	pthread_mutex_destroy(&w->lock);
	return w->rc;
}

static int borrow(struct committer *c, struct lease *lp,
		  const char *holder, int64_t ttl, uint64_t now_ms,
		  int64_t *number)
{
	struct waiter w;
	int rc;

	lease_req_init(&w.req, lp, LEASE_BORROW);
	if (holder)
		snprintf(w.req.holder, sizeof(w.req.holder), "%s", holder);
	w.req.ttl = ttl;
	w.req.now_ms = now_ms;
	rc = run_req(c, &w);
	if (rc == 0 && number)
		*number = w.req.lease.number;
	return rc;
}

static int give_back(struct committer *c, struct lease *lp,
		     int64_t number, const char *holder)
{
	struct waiter w;

	lease_req_init(&w.req, lp, LEASE_RETURN);
	w.req.number = number;
	if (holder) {
		snprintf(w.req.holder, sizeof(w.req.holder), "%s", holder);
		w.req.check_holder = true;
	}
	return run_req(c, &w);
}

struct env {
	char dir[256];
	struct ledger lg;
	struct committer *c;
	struct pool_def def;
	struct lease lp;
};

static int env_open(struct env *e, int64_t start, uint64_t count,
		    unsigned ttl)
{
	struct ledger_opts lo = { .sync = false, .create = true };
	char path[512], err[256];
	int rc;

	memset(&e->def, 0, sizeof(e->def));
	snprintf(e->def.name, sizeof(e->def.name), "users");
	e->def.kind = POOL_LEASE;
	e->def.min = start;
	e->def.capacity = count;
	e->def.ttl = ttl;
	snprintf(path, sizeof(path), "%s/ledger.mdb", e->dir);
	rc = ledger_open(&e->lg, path, &lo);
	if (rc)
		return rc;
	rc = lease_open(&e->lp, &e->lg, &e->def, err, sizeof(err));
	CHECKF(rc == 0, "%s", err);
	if (rc)
		return rc;
	rc = committer_start(&e->lg, &e->c);
	if (rc == 0)
		rc = committer_add_tick(e->c, 20, lease_expire_tick,
					lease_expire_done, &e->lp);
	return rc;
}

static void env_close(struct env *e)
{
	committer_stop(e->c);
	committer_free(e->c);
	lease_release(&e->lp);
	ledger_release(&e->lg);
}

static void sleep_ms(long ms)
{
	struct timespec ts = { ms / 1000, (ms % 1000) * 1000000L };

	nanosleep(&ts, NULL);
}

#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
#define BUILT_SLOW 4.0
#elif defined(__has_feature)
#if __has_feature(address_sanitizer) || __has_feature(thread_sanitizer)
#define BUILT_SLOW 4.0
#endif
#endif
#ifndef BUILT_SLOW
#define BUILT_SLOW 1.0
#endif

/* How much slower this build runs: UNIQ_TEST_SLOW, as the e2e tests
 * read it (tests/meson.build: 1, or 4 with a sanitizer), or else the
 * same from how this program was compiled. Every wait scales by it. */
static double slow(void)
{
	const char *env = getenv("UNIQ_TEST_SLOW");
	char *end;
	double f;

	if (env && *env) {
		f = strtod(env, &end);
		if (*end == '\0' && f >= 1.0 && f <= 100.0)
			return f;
	}
	return BUILT_SLOW;
}

/* Milliseconds scaled by slow(). */
static long slow_ms(long ms)
{
	return (long)((double)ms * slow());
}

static void test_basics(void)
{
	struct env e;
	struct waiter w;
	struct lease_info *all;
	int64_t n, got[20];
	size_t cnt;
	unsigned i;
	char seen[20] = { 0 };

	snprintf(e.dir, sizeof(e.dir), "%s", t_tmpdir());
	CHECK(env_open(&e, 100, 20, 600) == 0);
	for (i = 0; i < 20; i++) {
		CHECK(borrow(e.c, &e.lp, "vu", -1, 0, &got[i]) == 0);
		CHECK(got[i] >= 100 && got[i] < 120);
		if (got[i] >= 100 && got[i] < 120) {
			CHECK(!seen[got[i] - 100]);
			seen[got[i] - 100] = 1;
		}
	}
	CHECK_EQ_U64(got[0], 100);	/* the lowest first */
	CHECK_EQ_U64(atomic_load(&e.lp.out), 20);
	CHECK(borrow(e.c, &e.lp, "vu", -1, 0, &n) == OUTCOME_ALL_OUT);
	/* return and recover */
	CHECK(give_back(e.c, &e.lp, 107, NULL) == 0);
	CHECK(give_back(e.c, &e.lp, 107, NULL) == OUTCOME_NOT_OUT);
	CHECK(borrow(e.c, &e.lp, "other", 5, 0, &n) == 0);
	CHECK_EQ_U64(n, 107);
	CHECK(give_back(e.c, &e.lp, 107, "vu") == OUTCOME_OTHER_HOLDER);
	CHECK(give_back(e.c, &e.lp, 99, NULL) == OUTCOME_NOT_IN_POOL);
	CHECK(give_back(e.c, &e.lp, 120, NULL) == OUTCOME_NOT_IN_POOL);
	/* renew */
	lease_req_init(&w.req, &e.lp, LEASE_RENEW);
	w.req.number = 107;
	w.req.ttl = 0;
	CHECK(run_req(e.c, &w) == 0);
	CHECK(w.req.lease.expires_ms == 0 &&
	      !strcmp(w.req.lease.holder, "other"));
	lease_req_init(&w.req, &e.lp, LEASE_RENEW);
	w.req.number = 108;
	w.req.ttl = 30;
	snprintf(w.req.holder, sizeof(w.req.holder), "nobody");
	w.req.check_holder = true;
	CHECK(run_req(e.c, &w) == OUTCOME_OTHER_HOLDER);
	/* the list */
	CHECK(lease_list(&e.lp, &all, &cnt) == 0);
	CHECK_EQ_U64(cnt, 20);
	CHECK(cnt == 20 && all[0].number == 100 && all[19].number == 119);
	CHECK(cnt == 20 && !strcmp(all[7].holder, "other") &&
	      all[7].expires_ms == 0);
	CHECK(cnt == 20 && all[0].expires_ms > all[0].borrowed_ms);
	free(all);
	/* reset: all back */
	lease_req_init(&w.req, &e.lp, LEASE_RESET);
	CHECK(run_req(e.c, &w) == 0);
	CHECK_EQ_U64(w.req.count, 20);
	CHECK_EQ_U64(atomic_load(&e.lp.out), 0);
	CHECK(lease_list(&e.lp, &all, &cnt) == 0 && cnt == 0);
	free(all);
	for (i = 0; i < 20; i++)
		CHECK(borrow(e.c, &e.lp, NULL, -1, 0, &n) == 0);
	CHECK(borrow(e.c, &e.lp, NULL, -1, 0, &n) == OUTCOME_ALL_OUT);
	env_close(&e);
	t_rm_rf(e.dir);
}

static void test_expiry_and_reopen(void)
{
	struct env e;
	struct lease_info *all;
	int64_t n;
	size_t cnt = 0;
	uint64_t past = clock_now_ms() - 3600 * 1000;
	int i;

	snprintf(e.dir, sizeof(e.dir), "%s", t_tmpdir());
	CHECK(env_open(&e, 0, 10, 600) == 0);
	/* borrowed an hour ago with a 10 s ttl: due at the next tick */
	CHECK(borrow(e.c, &e.lp, "old", 10, past, &n) == 0);
	CHECK(borrow(e.c, &e.lp, "keep", 0, past, &n) == 0);
	CHECK(borrow(e.c, &e.lp, "new", 600, 0, &n) == 0);
	for (i = 0; i < 200; i++) {
		CHECK(lease_list(&e.lp, &all, &cnt) == 0);
		free(all);
		/* the tick commits, then counts the lease in: wait for both */
		if (cnt == 2 && atomic_load(&e.lp.out) == 2)
			break;
		sleep_ms(slow_ms(10));
	}
	CHECK_EQ_U64(cnt, 2);
	CHECK_EQ_U64(atomic_load(&e.lp.out), 2);
	/* the expired number is lent again (it is the lowest free) */
	CHECK(borrow(e.c, &e.lp, "again", -1, 0, &n) == 0);
	CHECK_EQ_U64(n, 0);
	env_close(&e);
	/* reopen: the same three leases are out, the rest is free */
	CHECK(env_open(&e, 0, 10, 600) == 0);
	CHECK_EQ_U64(atomic_load(&e.lp.out), 3);
	CHECK(lease_list(&e.lp, &all, &cnt) == 0);
	CHECK(cnt == 3 && !strcmp(all[0].holder, "again") &&
	      !strcmp(all[1].holder, "keep") && !strcmp(all[2].holder, "new"));
	free(all);
	for (i = 0; i < 7; i++)
		CHECK(borrow(e.c, &e.lp, NULL, -1, 0, &n) == 0 && n >= 3);
	CHECK(borrow(e.c, &e.lp, NULL, -1, 0, &n) == OUTCOME_ALL_OUT);
	env_close(&e);
	/* a changed range: [5, 25) keeps 5..9 out, ends 0..4 */
	CHECK(env_open(&e, 5, 20, 600) == 0);
	CHECK_EQ_U64(atomic_load(&e.lp.out), 5);
	CHECK(lease_list(&e.lp, &all, &cnt) == 0);
	CHECK(cnt == 5 && all[0].number == 5 && all[4].number == 9);
	free(all);
	CHECK(borrow(e.c, &e.lp, NULL, -1, 0, &n) == 0);
	CHECK_EQ_U64(n, 10);
	env_close(&e);
	t_rm_rf(e.dir);
}

/*
 * A free stack that disagrees with the ledger (here: a second handle on
 * the same pool, which still thinks 0 and 1 are free) never lends a
 * number the ledger has out: the borrow moves on to the next free one.
 */
static void test_free_stack_disagrees(void)
{
	struct lease lp2;
	struct env e;
	char err[256];
	int64_t a = -1, b = -1, c = -1;

	snprintf(e.dir, sizeof(e.dir), "%s", t_tmpdir());
	CHECK(env_open(&e, 0, 10, 600) == 0);
	CHECK(lease_open(&lp2, &e.lg, &e.def, err, sizeof(err)) == 0);
	CHECK(borrow(e.c, &e.lp, "a", 600, 0, &a) == 0);
	CHECK(borrow(e.c, &lp2, "b", 600, 0, &b) == 0);
	CHECK(borrow(e.c, &e.lp, "c", 600, 0, &c) == 0);
	CHECKF(a == 0 && b == 1 && c == 2, "lent %lld, %lld, %lld",
	       (long long)a, (long long)b, (long long)c);
	lease_release(&lp2);
	env_close(&e);
	t_rm_rf(e.dir);
}

/* ---- a damaged expiry index ------------------------------------ */

/* The key of lease.c's expiry index: (pool id, ms, number with its sign
 * bit flipped), big-endian. */
static MDB_val exp_entry(unsigned char k[20], uint32_t pool, uint64_t ms,
			 int64_t number)
{
	MDB_val v = { 20, k };

	store_put_be32(k, pool);
	store_put_be64(k + 4, ms);
	store_put_be64(k + 12, (uint64_t)number ^ (1ull << 63));
	return v;
}

/* Writes (put) or deletes an entry of the index, as a damaged ledger
 * would have it, through the module's own handles. */
static int exp_write(struct env *e, bool put, uint64_t ms, int64_t number)
{
	unsigned char k[20];
	MDB_val kv = exp_entry(k, e->lp.id, ms, number), vv = { 0, k };
	MDB_txn *txn;
	int rc;

	rc = store_err(store_txn_begin(e->lg.env, NULL, 0, &txn));
	if (rc)
		return rc;
	rc = put ? mdb_put(txn, e->lg.lease_exp, &kv, &vv, 0) :
		   mdb_del(txn, e->lg.lease_exp, &kv, NULL);
	return store_finish(txn, store_err(rc));
}

/* The pool's expiry entries (ms, number), up to max; returns how many. */
static size_t exp_read(struct env *e, uint64_t *ms, int64_t *num, size_t max)
{
	unsigned char k[20];
	MDB_val kv = exp_entry(k, e->lp.id, 0, INT64_MIN), vv;
	MDB_cursor *cur;
	MDB_txn *txn;
	size_t n = 0;
	int rc;

	if (store_txn_begin(e->lg.env, NULL, MDB_RDONLY, &txn))
		return 0;
	if (mdb_cursor_open(txn, e->lg.lease_exp, &cur) == 0) {
		for (rc = mdb_cursor_get(cur, &kv, &vv, MDB_SET_RANGE);
		     rc == 0; rc = mdb_cursor_get(cur, &kv, &vv, MDB_NEXT)) {
			const unsigned char *b = kv.mv_data;

			if (kv.mv_size != 20 || store_get_be32(b) != e->lp.id)
				break;
			if (n < max) {
				ms[n] = store_get_be64(b + 4);
				num[n] = (int64_t)(store_get_be64(b + 12) ^
						   (1ull << 63));
			}
			n++;
		}
		mdb_cursor_close(cur);
	}
	store_txn_abort(txn);
	return n;
}

/* The expiry of lease number (0: never, or not out). */
static uint64_t expiry_of(struct env *e, int64_t number)
{
	struct lease_info *all;
	uint64_t ms = 0;
	size_t n = 0, i;

	if (lease_list(&e->lp, &all, &n))
		return 0;
	for (i = 0; i < n; i++)
		if (all[i].number == number)
			ms = all[i].expires_ms;
	free(all);
	return ms;
}

/*
 * Entries of the expiry index that name no lease due then (no lease at
 * all, a lease renewed since, a lease that never expires) are deleted
 * by the tick alone: they end no lease, and neither fail the tick nor
 * the borrows of its batch every second. A lease whose entry is missing
 * can still be renewed, returned and reset, all or nothing.
 */
static void test_damaged_index(void)
{
	uint64_t past = clock_now_ms() - 3600 * 1000, ms[8], exp0, exp1;
	int64_t n, num[8];
	struct waiter w;
	struct env e;
	size_t cnt = 0;
	int i;

	snprintf(e.dir, sizeof(e.dir), "%s", t_tmpdir());
	CHECK(env_open(&e, 0, 10, 600) == 0);
	CHECK(borrow(e.c, &e.lp, "a", 600, 0, &n) == 0 && n == 0);
	CHECK(borrow(e.c, &e.lp, "b", 600, 0, &n) == 0 && n == 1);
	CHECK(borrow(e.c, &e.lp, "c", 0, 0, &n) == 0 && n == 2);
	exp0 = expiry_of(&e, 0);
	exp1 = expiry_of(&e, 1);
	CHECK(exp0 && exp1);
	/* due entries for: a free number, a lease due in 10 min, a lease
	 * that never expires; and lease 1 loses its own entry */
	CHECK(exp_write(&e, true, past, 5) == 0);
	CHECK(exp_write(&e, true, past + 1, 0) == 0);
	CHECK(exp_write(&e, true, past + 2, 2) == 0);
	CHECK(exp_write(&e, false, exp1, 1) == 0);
	/* the tick (every 20 ms) cleans up: only lease 0's entry stays */
	for (i = 0; i < 200; i++) {
		cnt = exp_read(&e, ms, num, 8);
		if (cnt == 1)
			break;
		sleep_ms(slow_ms(10));
	}
	CHECK_EQ_U64(cnt, 1);
	CHECK(cnt >= 1 && ms[0] == exp0 && num[0] == 0);
	/* no lease ended, and nothing was freed twice */
	CHECK_EQ_U64(atomic_load(&e.lp.out), 3);
	CHECK(expiry_of(&e, 0) == exp0);
	CHECK(borrow(e.c, &e.lp, "d", 600, 0, &n) == 0);
	CHECK_EQ_U64(n, 3);
	/* lease 1, without its entry: renew gives it one */
	lease_req_init(&w.req, &e.lp, LEASE_RENEW);
	w.req.number = 1;
	w.req.ttl = 900;
	CHECK(run_req(e.c, &w) == 0);
	CHECK(w.req.lease.expires_ms > exp1 &&
	      !strcmp(w.req.lease.holder, "b"));
	CHECK(expiry_of(&e, 1) == w.req.lease.expires_ms);
	CHECK_EQ_U64(exp_read(&e, ms, num, 8), 3); /* 0, 1, 3 */
	/* return, without its entry: the number is free again */
	CHECK(exp_write(&e, false, expiry_of(&e, 1), 1) == 0);
	CHECK(give_back(e.c, &e.lp, 1, "b") == 0);
	CHECK_EQ_U64(atomic_load(&e.lp.out), 3);
	CHECK(borrow(e.c, &e.lp, "e", 600, 0, &n) == 0);
	CHECK_EQ_U64(n, 1);
	/* reset, lease 0 without its entry: everything comes back */
	CHECK(exp_write(&e, false, exp0, 0) == 0);
	lease_req_init(&w.req, &e.lp, LEASE_RESET);
	CHECK(run_req(e.c, &w) == 0);
	CHECK_EQ_U64(w.req.count, 4);
	CHECK_EQ_U64(atomic_load(&e.lp.out), 0);
	CHECK_EQ_U64(exp_read(&e, ms, num, 8), 0);
	for (i = 0, cnt = 0; i < 10; i++)
		if (borrow(e.c, &e.lp, NULL, -1, 0, &n) == 0 && n >= 0 &&
		    n < 10)
			cnt |= 1u << n;
	CHECK_EQ_U64(cnt, 0x3ff); /* each number once */
	CHECK(borrow(e.c, &e.lp, NULL, -1, 0, &n) == OUTCOME_ALL_OUT);
	env_close(&e);
	/* reopened, the ledger holds exactly the ten leases */
	CHECK(env_open(&e, 0, 10, 600) == 0);
	CHECK_EQ_U64(atomic_load(&e.lp.out), 10);
	CHECK_EQ_U64(exp_read(&e, ms, num, 8), 10);
	env_close(&e);
	t_rm_rf(e.dir);
}

#define THREADS 16
#define ROUNDS 300

static _Atomic int holding[64];
static _Atomic unsigned clashes, busy;

struct churner {
	struct env *e;
	unsigned seed;
};

static void *churn_main(void *arg)
{
	struct churner *ch = arg;
	char me[16];
	int64_t n;
	unsigned i;

	snprintf(me, sizeof(me), "vu-%u", ch->seed);
	for (i = 0; i < ROUNDS; i++) {
		int rc = borrow(ch->e->c, &ch->e->lp, me, -1, 0, &n);

		if (rc == OUTCOME_ALL_OUT) {
			atomic_fetch_add(&busy, 1);
			continue;
		}
		if (rc || n < 0 || n >= 64) {
			atomic_fetch_add(&clashes, 1);
			continue;
		}
		/* nobody else may hold n while we do */
		if (atomic_exchange(&holding[n], 1))
			atomic_fetch_add(&clashes, 1);
		if ((i + ch->seed) % 3)
			sched_yield();
		atomic_store(&holding[n], 0);
		if (give_back(ch->e->c, &ch->e->lp, n, me))
			atomic_fetch_add(&clashes, 1);
	}
	return NULL;
}

static void test_concurrent(void)
{
	static struct churner ch[THREADS];
	pthread_t tid[THREADS];
	struct env e;
	unsigned i;

	snprintf(e.dir, sizeof(e.dir), "%s", t_tmpdir());
	/* fewer numbers than twice the threads: they compete */
	CHECK(env_open(&e, 0, 20, 600) == 0);
	for (i = 0; i < THREADS; i++) {
		ch[i].e = &e;
		ch[i].seed = i;
		CHECK(pthread_create(&tid[i], NULL, churn_main, &ch[i]) == 0);
	}
	for (i = 0; i < THREADS; i++)
		pthread_join(tid[i], NULL);
	CHECK_EQ_U64(atomic_load(&clashes), 0);
	CHECK_EQ_U64(atomic_load(&e.lp.out), 0);
	CHECK_EQ_U64(e.lp.nfree, 20);
	fprintf(stderr, "test_lease: %u borrow/return pairs, %u found all "
		"out\n", THREADS * ROUNDS - atomic_load(&busy),
		atomic_load(&busy));
	env_close(&e);
	t_rm_rf(e.dir);
}

int main(void)
{
	test_basics();
	test_expiry_and_reopen();
	test_damaged_index();
	test_free_stack_disagrees();
	test_concurrent();
	return t_done("lease");
}
