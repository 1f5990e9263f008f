/*
 * test_seq.c: sequence pools through the real group committer on a real
 * ledger, with an injected clock: ids are contiguous and unique from many
 * threads; the day changes at local midnight in the pool's time zone; a
 * clock that steps back never takes the day back; the day's last id is
 * followed by OUTCOME_USED_UP (with the seconds until the next day) and
 * never a wrap; Idempotency-Keys replay, expire after 24 h, and are
 * purged; the state survives a reopen; requests that queue while the
 * committer is busy share one commit; periodic ticks may be added while
 * it runs, and a failing one never fails the requests of its batch.
 * (suite "threads": the committer is a thread.)
 */
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/config.h"
#include "common/store.h"
#include "ledger/committer.h"
#include "ledger/ledger.h"
#include "pools/seq.h"
#include "tests/unit/t.h"
#include "tests/unit/t_util.h"
#include "common/banned.h"

/* 2026-11-22T12:00:00Z */
#define NOON_UTC 1795348800000ull
#define HOUR 3600000ull

struct waiter {
	struct seq_req req;
	pthread_mutex_t lock;
	pthread_cond_t cond;
	bool done;
	int rc;
};

static void on_done(struct commit_op *op, int rc)
{
	struct waiter *w = (struct waiter *)op;

	pthread_mutex_lock(&w->lock);
	w->rc = rc;
	w->done = true;
	pthread_cond_signal(&w->cond);
	pthread_mutex_unlock(&w->lock);
}

/* Issues count ids at now_ms (key may be NULL) and waits for the commit.
 * Returns the result; *w holds day and first. */
static int issue(struct committer *c, struct seq *sp, uint64_t count,
		 uint64_t now_ms, const char *key, struct waiter *w)
{
	seq_req_init(&w->req, sp, count, key, key ? strlen(key) : 0);
	w->req.now_ms = now_ms;
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

struct env {
	char dir[256];
	struct ledger lg;
	struct committer *c;
	struct pool_def def;
	struct seq sp;
};

static int env_open(struct env *e, const char *tz, unsigned digits)
{
	struct ledger_opts lo = { .sync = false, .create = true };
	char path[512], err[256];
	int rc;

	memset(&e->def, 0, sizeof(e->def));
	snprintf(e->def.name, sizeof(e->def.name), "orders");
	e->def.kind = POOL_SEQUENCE;
	e->def.digits = digits;
	e->def.capacity = 1;
	while (digits--)
		e->def.capacity *= 10;
	e->def.capacity--;
	snprintf(e->def.tz, sizeof(e->def.tz), "%s", tz);
	snprintf(path, sizeof(path), "%s/ledger.mdb", e->dir);
	rc = ledger_open(&e->lg, path, &lo);
	if (rc)
		return rc;
	rc = seq_open(&e->sp, &e->lg, &e->def, true, err, sizeof(err));
	CHECKF(rc == 0, "%s", err);
	if (rc)
		return rc;
	return committer_start(&e->lg, &e->c);
}

static void env_close(struct env *e)
{
	committer_stop(e->c);
	committer_free(e->c);
	seq_release(&e->sp);
	ledger_release(&e->lg);
}

static void test_contiguous_and_format(void)
{
	struct env e;
	struct waiter w;
	char id[SEQ_ID_MAX + 1];
	uint64_t i;
	uint32_t day;
	uint64_t n;

	snprintf(e.dir, sizeof(e.dir), "%s", t_tmpdir());
	CHECK(env_open(&e, "UTC", 5) == 0);
	for (i = 1; i <= 50; i++) {
		CHECK(issue(e.c, &e.sp, 1, NOON_UTC, NULL, &w) == 0);
		CHECK_EQ_U64(w.req.day, 20261122);
		CHECK_EQ_U64(w.req.first, i);
	}
	CHECK(issue(e.c, &e.sp, 7, NOON_UTC, NULL, &w) == 0);
	CHECK_EQ_U64(w.req.first, 51);
	CHECK_EQ_U64(seq_format(&e.sp, 20261122, 51, id), 14);
	CHECK_STR(id, "20261122-00051");
	CHECK(seq_parse(&e.sp, "20261122-00051", &day, &n) == 0);
	CHECK(day == 20261122 && n == 51);
	CHECK(seq_parse(&e.sp, "20261122-0051", &day, &n) == -EINVAL);
	CHECK(seq_parse(&e.sp, "20261122-00000", &day, &n) == -EINVAL);
	CHECK(seq_parse(&e.sp, "20261322-00001", &day, &n) == -EINVAL);
	CHECK(seq_parse(&e.sp, "2026112200001", &day, &n) == -EINVAL);
	CHECK(seq_parse(&e.sp, "20261122-0000a", &day, &n) == -EINVAL);
	CHECK(seq_state(&e.sp, &day, &n) == 0);
	CHECK(day == 20261122 && n == 57);
	/* every id issued is recorded, and no other */
	{
		bool issued;
		uint64_t ms = 0;

		CHECK(seq_lookup(&e.sp, 20261122, 57, &issued, &ms) == 0);
		CHECK(issued && ms == NOON_UTC);
		CHECK(seq_lookup(&e.sp, 20261122, 58, &issued, &ms) == 0);
		CHECK(!issued);
	}
	/* a count larger than a day is refused outright */
	CHECK(issue(e.c, &e.sp, 100000, NOON_UTC, NULL, &w) ==
	      OUTCOME_TOO_MANY);
	env_close(&e);
	/* reopen: it goes on */
	CHECK(env_open(&e, "UTC", 5) == 0);
	CHECK(issue(e.c, &e.sp, 1, NOON_UTC, NULL, &w) == 0);
	CHECK_EQ_U64(w.req.first, 58);
	env_close(&e);
	t_rm_rf(e.dir);
}

/* The day follows the pool's zone: local midnight starts it again. */
static void test_day_change(const char *tz, uint64_t midnight_ms,
			    uint32_t day_before, uint32_t day_after)
{
	struct env e;
	struct waiter w;

	snprintf(e.dir, sizeof(e.dir), "%s", t_tmpdir());
	CHECK(env_open(&e, tz, 5) == 0);
	CHECK(issue(e.c, &e.sp, 3, midnight_ms - HOUR, NULL, &w) == 0);
	CHECKF(w.req.day == day_before, "%s: %u", tz, w.req.day);
	CHECK_EQ_U64(w.req.first, 1);
	/* the last millisecond of the day */
	CHECK(issue(e.c, &e.sp, 1, midnight_ms - 1, NULL, &w) == 0);
	CHECKF(w.req.day == day_before && w.req.first == 4, "%s: %u-%llu", tz,
	       w.req.day, (unsigned long long)w.req.first);
	/* local midnight: a new day, from 1 */
	CHECK(issue(e.c, &e.sp, 1, midnight_ms, NULL, &w) == 0);
	CHECKF(w.req.day == day_after && w.req.first == 1, "%s: %u-%llu", tz,
	       w.req.day, (unsigned long long)w.req.first);
	/* the clock steps back an hour: still the new day, counting on */
	CHECK(issue(e.c, &e.sp, 1, midnight_ms - HOUR, NULL, &w) == 0);
	CHECKF(w.req.day == day_after && w.req.first == 2, "%s: %u-%llu", tz,
	       w.req.day, (unsigned long long)w.req.first);
	env_close(&e);
	t_rm_rf(e.dir);
}

static void test_overflow(void)
{
	struct env e;
	struct waiter w;
	uint64_t i;

	snprintf(e.dir, sizeof(e.dir), "%s", t_tmpdir());
	CHECK(env_open(&e, "Europe/Paris", 2) == 0);
	/* 12:00Z is 13:00 in Paris: 11 hours to the next local midnight */
	for (i = 1; i <= 99; i++)
		CHECK(issue(e.c, &e.sp, 1, NOON_UTC, NULL, &w) == 0);
	CHECK_EQ_U64(w.req.first, 99);
	CHECK(issue(e.c, &e.sp, 1, NOON_UTC, NULL, &w) == OUTCOME_USED_UP);
	CHECK_EQ_U64(w.req.retry_after, 11 * 3600);
	CHECK(issue(e.c, &e.sp, 1, NOON_UTC + 2 * HOUR, NULL, &w) ==
	      OUTCOME_USED_UP);
	CHECK_EQ_U64(w.req.retry_after, 9 * 3600);
	/* the clock went back a day: still exhausted, until after the
	 * last day used ends */
	CHECK(issue(e.c, &e.sp, 1, NOON_UTC - 24 * HOUR, NULL, &w) ==
	      OUTCOME_USED_UP);
	CHECK_EQ_U64(w.req.retry_after, 35 * 3600);
	/* nothing was taken by the refusals: the next day starts at 1 */
	CHECK(issue(e.c, &e.sp, 2, NOON_UTC + 11 * HOUR, NULL, &w) == 0);
	CHECK(w.req.day == 20261123 && w.req.first == 1);
	CHECK(issue(e.c, &e.sp, 98, NOON_UTC + 11 * HOUR, NULL, &w) ==
	      OUTCOME_USED_UP);
	CHECK(issue(e.c, &e.sp, 97, NOON_UTC + 11 * HOUR, NULL, &w) == 0);
	CHECK_EQ_U64(w.req.first, 3);
	env_close(&e);
	t_rm_rf(e.dir);

	/* Across the night the clocks go back (Paris, 25 October 2026): at
	 * 00:30Z (02:30 CEST) the next day starts at 23:00Z, 22.5 hours on,
	 * not the 21.5 a fixed 24-hour day would say. */
	snprintf(e.dir, sizeof(e.dir), "%s", t_tmpdir());
	CHECK(env_open(&e, "Europe/Paris", 2) == 0);
	CHECK(issue(e.c, &e.sp, 99, 1792888200000ull, NULL, &w) == 0);
	CHECK(issue(e.c, &e.sp, 1, 1792888200000ull, NULL, &w) ==
	      OUTCOME_USED_UP);
	CHECK_EQ_U64(w.req.retry_after, 22 * 3600 + 1800);
	env_close(&e);
	t_rm_rf(e.dir);
}

static void test_idempotency(void)
{
	struct env e;
	struct waiter w, w2;
	MDB_txn *txn;
	uint64_t first;

	snprintf(e.dir, sizeof(e.dir), "%s", t_tmpdir());
	CHECK(env_open(&e, "UTC", 5) == 0);
	CHECK(issue(e.c, &e.sp, 1, NOON_UTC, "order-17", &w) == 0);
	CHECK(!w.req.replayed);
	first = w.req.first;
	CHECK(issue(e.c, &e.sp, 1, NOON_UTC + 1000, NULL, &w2) == 0);
	CHECK(issue(e.c, &e.sp, 1, NOON_UTC + HOUR, "order-17", &w) == 0);
	CHECK(w.req.replayed && w.req.first == first &&
	      w.req.day == 20261122);
	/* another count with the same key is a conflict, and takes nothing */
	CHECK(issue(e.c, &e.sp, 2, NOON_UTC + HOUR, "order-17", &w) ==
	      OUTCOME_KEY_CONFLICT);
	CHECK(issue(e.c, &e.sp, 1, NOON_UTC + HOUR, NULL, &w2) == 0);
	CHECK_EQ_U64(w2.req.first, first + 2);
	/* keys are per pool and exact */
	CHECK(issue(e.c, &e.sp, 1, NOON_UTC + HOUR, "order-17 ", &w) == 0);
	CHECK(!w.req.replayed);
	/* after 24 h the key is new again */
	CHECK(issue(e.c, &e.sp, 1, NOON_UTC + 25 * HOUR, "order-17", &w) == 0);
	CHECK(!w.req.replayed && w.req.day == 20261123 && w.req.first == 1);
	/* the purge drops keys older than 48 h, and only those: at +49 h the
	 * key used at +1 h is exactly 48 h old and stays */
	CHECK(store_err(mdb_txn_begin(e.lg.env, NULL, 0, &txn)) == 0);
	CHECK(seq_purge_tick(&e.lg, txn, NOON_UTC + 49 * HOUR) == 0);
	CHECK(mdb_txn_commit(txn) == 0);
	{
		MDB_stat st;

		CHECK(mdb_txn_begin(e.lg.env, NULL, MDB_RDONLY, &txn) == 0);
		CHECK(mdb_stat(txn, e.lg.idem, &st) == 0);
		CHECK_EQ_U64(st.ms_entries, 2);
		CHECK(mdb_stat(txn, e.lg.idem_time, &st) == 0);
		CHECK_EQ_U64(st.ms_entries, 2); /* the +0 h use is gone */
		mdb_txn_abort(txn);
	}
	CHECK(store_err(mdb_txn_begin(e.lg.env, NULL, 0, &txn)) == 0);
	CHECK(seq_purge_tick(&e.lg, txn, NOON_UTC + 50 * HOUR) == 0);
	CHECK(mdb_txn_commit(txn) == 0);
	{
		MDB_stat st;

		CHECK(mdb_txn_begin(e.lg.env, NULL, MDB_RDONLY, &txn) == 0);
		CHECK(mdb_stat(txn, e.lg.idem, &st) == 0);
		/* at +50 h "order-17 " (used at +1 h) is gone; "order-17"
		 * was reused at +25 h and stays */
		CHECK_EQ_U64(st.ms_entries, 1);
		CHECK(mdb_stat(txn, e.lg.idem_time, &st) == 0);
		CHECK_EQ_U64(st.ms_entries, 1);
		mdb_txn_abort(txn);
	}
	CHECK(issue(e.c, &e.sp, 1, NOON_UTC + 26 * HOUR, "order-17", &w) == 0);
	CHECK(w.req.replayed && w.req.day == 20261123 && w.req.first == 1);
	env_close(&e);
	t_rm_rf(e.dir);
}

#define THREADS 8
#define PER_THREAD 400

struct racer {
	struct env *e;
	uint64_t firsts[PER_THREAD];
};

static void *race_main(void *arg)
{
	struct racer *r = arg;
	struct waiter w;
	unsigned i;

	for (i = 0; i < PER_THREAD; i++) {
		if (issue(r->e->c, &r->e->sp, 1, NOON_UTC, NULL, &w))
			r->firsts[i] = 0;
		else
			r->firsts[i] = w.req.first;
	}
	return NULL;
}

static void test_concurrent(void)
{
	static struct racer racers[THREADS];
	pthread_t tid[THREADS];
	static char seen[THREADS * PER_THREAD + 1];
	struct env e;
	unsigned i, j, bad = 0;
	uint64_t batches, ops;

	snprintf(e.dir, sizeof(e.dir), "%s", t_tmpdir());
	CHECK(env_open(&e, "UTC", 5) == 0);
	for (i = 0; i < THREADS; i++) {
		racers[i].e = &e;
		CHECK(pthread_create(&tid[i], NULL, race_main,
				     &racers[i]) == 0);
	}
	for (i = 0; i < THREADS; i++)
		pthread_join(tid[i], NULL);
	/* exactly 1 .. THREADS * PER_THREAD, each once */
	for (i = 0; i < THREADS; i++)
		for (j = 0; j < PER_THREAD; j++) {
			uint64_t f = racers[i].firsts[j];

			if (f == 0 || f > THREADS * PER_THREAD || seen[f])
				bad++;
			else
				seen[f] = 1;
		}
	CHECK(bad == 0);
	committer_stats(e.c, &batches, &ops);
	CHECK_EQ_U64(ops, THREADS * PER_THREAD);
	fprintf(stderr, "test_seq: %u ids from %u threads in %llu batches\n",
		THREADS * PER_THREAD, THREADS, (unsigned long long)batches);
	env_close(&e);
	t_rm_rf(e.dir);
}

/* An operation that holds the committer inside its batch until the test
 * opens the gate, so that what is submitted meanwhile must queue. */
struct gate {
	struct commit_op op;
	pthread_mutex_t lock;
	pthread_cond_t cond;
	bool entered, open, done;
};

static int gate_apply(struct commit_op *op, MDB_txn *txn)
{
	struct gate *g = (struct gate *)op;

	(void)txn;
	pthread_mutex_lock(&g->lock);
	g->entered = true;
	pthread_cond_broadcast(&g->cond);
	while (!g->open)
		pthread_cond_wait(&g->cond, &g->lock);
	pthread_mutex_unlock(&g->lock);
	return 0;
}

static void gate_done(struct commit_op *op, int rc)
{
	struct gate *g = (struct gate *)op;

	(void)rc;
	pthread_mutex_lock(&g->lock);
	g->done = true;
	pthread_cond_broadcast(&g->cond);
	pthread_mutex_unlock(&g->lock);
}

#define GROUP 64

/* Group commit, without timing: GROUP requests submitted while the
 * committer is busy with another batch all share the next commit. */
static void test_group_commit(void)
{
	static struct waiter ws[GROUP];
	struct gate g = { .op = { .apply = gate_apply, .done = gate_done } };
	struct env e;
	uint64_t b0, o0, b1, o1;
	unsigned i, ok = 0;

	snprintf(e.dir, sizeof(e.dir), "%s", t_tmpdir());
	CHECK(env_open(&e, "UTC", 5) == 0);
	pthread_mutex_init(&g.lock, NULL);
	pthread_cond_init(&g.cond, NULL);
	committer_stats(e.c, &b0, &o0);
	committer_submit(e.c, &g.op);
	pthread_mutex_lock(&g.lock);
	while (!g.entered)
		pthread_cond_wait(&g.cond, &g.lock);
	pthread_mutex_unlock(&g.lock);
	for (i = 0; i < GROUP; i++) {
		seq_req_init(&ws[i].req, &e.sp, 1, NULL, 0);
		ws[i].req.now_ms = NOON_UTC;
		ws[i].req.op.done = on_done;
		pthread_mutex_init(&ws[i].lock, NULL);
		pthread_cond_init(&ws[i].cond, NULL);
		ws[i].done = false;
		committer_submit(e.c, &ws[i].req.op);
	}
	pthread_mutex_lock(&g.lock);
	g.open = true;
	pthread_cond_broadcast(&g.cond);
	while (!g.done)
		pthread_cond_wait(&g.cond, &g.lock);
	pthread_mutex_unlock(&g.lock);
	for (i = 0; i < GROUP; i++) {
		pthread_mutex_lock(&ws[i].lock);
		while (!ws[i].done)
			pthread_cond_wait(&ws[i].cond, &ws[i].lock);
		pthread_mutex_unlock(&ws[i].lock);
		/* in submission order: 1 .. GROUP */
		if (ws[i].rc == 0 && ws[i].req.first == i + 1)
			ok++;
		pthread_cond_destroy(&ws[i].cond);
		pthread_mutex_destroy(&ws[i].lock);
	}
	CHECK_EQ_U64(ok, GROUP);
	committer_stats(e.c, &b1, &o1);
	CHECK_EQ_U64(o1 - o0, GROUP + 1);
	/* the gate's batch, then one for all GROUP (fewer than GROUP in
	 * any case) */
	CHECKF(b1 - b0 <= 2, "%llu commits for %u requests",
	       (unsigned long long)(b1 - b0), GROUP + 1);
	CHECK(b1 - b0 < GROUP);
	pthread_cond_destroy(&g.cond);
	pthread_mutex_destroy(&g.lock);
	env_close(&e);
	t_rm_rf(e.dir);
}

/* Periodic ticks: added while the committer runs and requests come in
 * (TSan checks the tick table is shared safely), they run; one that
 * fails loses its own work, never the requests' (before, its error
 * aborted the batch: every id of it failed, every second). */
static _Atomic unsigned tick_runs, tick_fails_seen;

static int good_tick(void *arg, MDB_txn *txn, uint64_t now_ms)
{
	(void)arg;
	(void)txn;
	/* the wall clock, for expiry dates (not the monotonic one) */
	if (now_ms > NOON_UTC - 3650 * 24 * HOUR)
		atomic_fetch_add(&tick_runs, 1);
	return 0;
}

static int bad_tick(void *arg, MDB_txn *txn, uint64_t now_ms)
{
	unsigned char key[4] = { 0xff, 0xff, 0xff, 0xfe };
	unsigned char one = 'x';
	struct ledger *lg = arg;
	MDB_val k = { sizeof(key), key }, v = { 1, &one };
	int rc;

	(void)now_ms;
	/* writes, then fails as a bug would: the write must not stay */
	rc = mdb_put(txn, lg->seq, &k, &v, 0);
	return rc ? store_err(rc) : -ENOENT;
}

static void bad_tick_done(void *arg, int rc)
{
	(void)arg;
	if (rc == -ENOENT)
		atomic_fetch_add(&tick_fails_seen, 1);
}

struct submitter {
	struct env *e;
	unsigned failed;
};

static void *submit_main(void *arg)
{
	struct submitter *sb = arg;
	struct waiter w;
	unsigned i;

	for (i = 0; i < 300; i++)
		if (issue(sb->e->c, &sb->e->sp, 1, NOON_UTC, NULL, &w))
			sb->failed++;
	return NULL;
}

static void test_ticks(void)
{
	struct submitter sb = { 0 };
	struct env e;
	struct waiter w;
	pthread_t tid;
	MDB_txn *txn;
	MDB_val k, v;
	unsigned char key[4] = { 0xff, 0xff, 0xff, 0xfe };
	unsigned i;
	int rc;

	snprintf(e.dir, sizeof(e.dir), "%s", t_tmpdir());
	CHECK(env_open(&e, "UTC", 5) == 0);
	sb.e = &e;
	CHECK(pthread_create(&tid, NULL, submit_main, &sb) == 0);
	for (i = 0; i < 6; i++) {
		CHECK(committer_add_tick(e.c, 1, good_tick, NULL, NULL) == 0);
		sched_yield();
	}
	CHECK(committer_add_tick(e.c, 1, bad_tick, bad_tick_done, &e.lg) ==
	      0);
	CHECK(committer_add_tick(e.c, 1, good_tick, NULL, NULL) == 0);
	CHECK(committer_add_tick(e.c, 1, good_tick, NULL, NULL) == -ENOSPC);
	pthread_join(tid, NULL);
	CHECK_EQ_U64(sb.failed, 0);
	/* more requests, with every tick due each millisecond */
	for (i = 0; i < 50; i++)
		CHECK(issue(e.c, &e.sp, 1, NOON_UTC, NULL, &w) == 0);
	CHECK_EQ_U64(w.req.first, 350);
	/* Ticks are due on whole milliseconds of CLOCK_MONOTONIC: a fast
	 * machine can commit all 50 within the bad tick's first one. Go on
	 * until it has run (5 s at most), so that what follows is tested. */
	for (i = 0; i < 5000 && (!atomic_load(&tick_runs) ||
				 !atomic_load(&tick_fails_seen)); i++) {
		usleep(1000);
		CHECK(issue(e.c, &e.sp, 1, NOON_UTC, NULL, &w) == 0);
	}
	CHECK(atomic_load(&tick_runs) > 0);
	CHECK(atomic_load(&tick_fails_seen) > 0);
	/* the failed tick's write was aborted */
	CHECK(store_txn_begin(e.lg.env, NULL, MDB_RDONLY, &txn) == 0);
	k.mv_size = sizeof(key);
	k.mv_data = key;
	rc = mdb_get(txn, e.lg.seq, &k, &v);
	store_txn_abort(txn);
	CHECK(rc == MDB_NOTFOUND);
	env_close(&e);
	t_rm_rf(e.dir);
}

static void test_bad_zone_and_digits(void)
{
	struct env e;
	char err[256];

	snprintf(e.dir, sizeof(e.dir), "%s", t_tmpdir());
	CHECK(env_open(&e, "UTC", 5) == 0);
	committer_stop(e.c);
	committer_free(e.c);
	seq_release(&e.sp);
	/* the same pool with other digits is refused */
	e.def.digits = 6;
	e.def.capacity = 999999;
	CHECK(seq_open(&e.sp, &e.lg, &e.def, true, err, sizeof(err)) ==
	      -EINVAL);
	CHECK(strstr(err, "could repeat values") != NULL);
	/* an unknown zone is refused with its name */
	e.def.digits = 5;
	e.def.capacity = 99999;
	snprintf(e.def.tz, sizeof(e.def.tz), "Mars/Olympus_Mons");
	CHECK(seq_open(&e.sp, &e.lg, &e.def, true, err, sizeof(err)) ==
	      -ENOENT);
	CHECK(strstr(err, "Mars/Olympus_Mons") != NULL);
	ledger_release(&e.lg);
	t_rm_rf(e.dir);
}

/* Submitting after committer_stop (the HTTP threads do, until they are
 * stopped) answers -ESHUTDOWN at once and commits nothing; the committer
 * stays usable until committer_free (ASan checks that nothing reads it
 * freed). */
static void test_submit_after_stop(void)
{
	struct env e;
	struct waiter w;
	uint64_t batches, ops, batches2, ops2;

	snprintf(e.dir, sizeof(e.dir), "%s", t_tmpdir());
	CHECK(env_open(&e, "UTC", 5) == 0);
	CHECK(issue(e.c, &e.sp, 1, NOON_UTC, NULL, &w) == 0);
	CHECK_EQ_U64(w.req.first, 1);
	committer_stop(e.c);
	committer_stats(e.c, &batches, &ops);
	CHECK(issue(e.c, &e.sp, 1, NOON_UTC, NULL, &w) == -ESHUTDOWN);
	CHECK(issue(e.c, &e.sp, 3, NOON_UTC, "k", &w) == -ESHUTDOWN);
	committer_stats(e.c, &batches2, &ops2);
	CHECK_EQ_U64(ops2, ops);
	CHECK_EQ_U64(batches2, batches);
	committer_free(e.c);
	/* nothing was issued after the stop: the next id is 2 */
	CHECK(committer_start(&e.lg, &e.c) == 0);
	CHECK(issue(e.c, &e.sp, 1, NOON_UTC, NULL, &w) == 0);
	CHECK_EQ_U64(w.req.first, 2);
	env_close(&e);
	t_rm_rf(e.dir);
}

int main(void)
{
	test_contiguous_and_format();
	/* Paris: 2026-11-22T23:00:00Z is local midnight */
	test_day_change("Europe/Paris", 1795388400000ull, 20261122, 20261123);
	/* Los Angeles: 2026-11-23T08:00:00Z */
	test_day_change("America/Los_Angeles", 1795420800000ull, 20261122,
			20261123);
	/* Kolkata, +5:30: 2026-11-22T18:30:00Z */
	test_day_change("Asia/Kolkata", 1795372200000ull, 20261122, 20261123);
	/* UTC: midnight, across a month */
	test_day_change("UTC", 1796083200000ull, 20261130, 20261201);
	/* Paris, the DST night: 2026-03-28T23:00:00Z is local midnight */
	test_day_change("Europe/Paris", 1774738800000ull, 20260328, 20260329);
	test_overflow();
	test_idempotency();
	test_concurrent();
	test_group_commit();
	test_ticks();
	test_bad_zone_and_digits();
	test_submit_after_stop();
	return t_done("seq");
}
