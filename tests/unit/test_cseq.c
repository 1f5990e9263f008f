/*
 * test_cseq.c: sequence pools in cluster mode (pools/seq.h) against a
 * real etcd the test starts, kills and restarts (t_etcd.h), with two
 * "nodes" in one process: two sessions (cluster_start "a" and "b"), each
 * with its own ledger, struct seq and committer. Checks: ids from
 * threads on both nodes are disjoint, contiguous and increasing per
 * thread, and each node's ledger holds exactly its own; requests queued
 * in one batch share one etcd transaction (direct applies, in order);
 * etcd's day wins over a node clock behind it, a later day restarts at
 * 1, a stale used-up day is re-read; Idempotency-Keys stay per node;
 * etcd killed answers OUTCOME_CLUSTER_DOWN at once and writes nothing,
 * restarted continues above every id answered; a lost fence, etcd
 * behind the ledger, a damaged value, a missing attach refuse too; a
 * pool made standalone is refused by a cluster node, and the other way.
 * cluster/cluster.c is compiled in (as test_etcd.c does with etcd.c) so
 * that the fence can be forced shut. Skipped (77) without /usr/bin/etcd
 * unless UNIQ_REQUIRE_ETCD=1. (suite "threads".)
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
#include "tests/unit/t_etcd.h"
#include "cluster/cluster.c"	/* the module itself; includes banned.h */

/* 2026-11-22T12:00:00Z */
#define NOON_UTC 1795348800000ull
#define DAY_MS (24ull * 3600 * 1000)

static struct cluster *CA, *CB;	/* nodes "a" and "b" */
static struct etcd *E;		/* the test's own client */

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

struct node {
	char dir[256];
	struct cluster *c;
	struct ledger lg;
	struct committer *cm;
	struct pool_def def;
	struct seq sp;
};

static void make_def(struct pool_def *d, const char *name, unsigned digits,
		     const char *tz)
{
	memset(d, 0, sizeof(*d));
	snprintf(d->name, sizeof(d->name), "%s", name);
	d->kind = POOL_SEQUENCE;
	d->digits = digits;
	d->capacity = 1;
	while (digits--)
		d->capacity *= 10;
	d->capacity--;
	snprintf(d->tz, sizeof(d->tz), "%s", tz);
}

/* A node of cluster c serving pool `name` from a fresh ledger (as
 * main.c: define in etcd, open as a cluster pool, attach, committer). */
static int node_open(struct node *n, struct cluster *c, const char *name,
		     unsigned digits)
{
	struct ledger_opts lo = { .sync = false, .create = true };
	uint8_t key[PERM_KEY_LEN];
	char path[512], err[768];
	int rc;

	snprintf(n->dir, sizeof(n->dir), "%s", t_tmpdir());
	n->c = c;
	make_def(&n->def, name, digits, "UTC");
	rc = cluster_pool_define(c, E, &n->def, key, false, err, sizeof(err));
	CHECKF(rc == 0, "%s", err);
	snprintf(path, sizeof(path), "%s/ledger.mdb", n->dir);
	if (rc == 0)
		rc = ledger_open(&n->lg, path, &lo);
	if (rc)
		return rc;
	rc = seq_open_cluster(&n->sp, &n->lg, &n->def, err, sizeof(err));
	CHECKF(rc == 0, "%s", err);
	if (rc == 0) {
		rc = seq_cluster_attach(&n->sp, c, err, sizeof(err));
		CHECKF(rc == 0, "%s", err);
	}
	if (rc == 0)
		rc = committer_start(&n->lg, &n->cm);
	return rc;
}

static void node_close(struct node *n)
{
	committer_stop(n->cm);
	committer_free(n->cm);
	seq_release(&n->sp);
	ledger_release(&n->lg);
	t_rm_rf(n->dir);
}

/* etcd's counter of pool name: 0 with *day, *n (0, 0: no key). */
static int etcd_counter(const char *name, uint32_t *day, uint64_t *n,
			char *node, size_t nodelen)
{
	struct etcd_result res = { 0 };
	char key[128];
	unsigned d = 0;
	unsigned long long v = 0;
	int klen, rc;

	*day = 0;
	*n = 0;
	klen = cluster_key(key, sizeof(key), "seq/%s", name);
	rc = etcd_get(E, key, (size_t)klen, false, 0, false, &res);
	if (rc == 0 && res.ranges[0].n == 1) {
		const char *s = res.ranges[0].kvs[0].value, *p;

		if (sscanf(s, "{\"day\":%u,\"n\":%llu", &d, &v) != 2)
			rc = -EPROTO;
		p = strstr(s, "\"node\":\"");
		if (node && p)
			snprintf(node, nodelen, "%.*s",
				 (int)strcspn(p + 8, "\""), p + 8);
		*day = d;
		*n = v;
	}
	etcd_result_release(&res);
	return rc;
}

static int etcd_put_raw(const char *name, const char *val, bool del)
{
	struct etcd_result res = { 0 };
	struct etcd_txn t;
	char key[128];
	int klen, rc;

	klen = cluster_key(key, sizeof(key), "seq/%s", name);
	etcd_txn_init(&t);
	if (del)
		etcd_txn_del(&t, true, key, (size_t)klen, false);
	else
		etcd_txn_put(&t, true, key, (size_t)klen, val, strlen(val), 0);
	rc = etcd_txn_run(E, &t, &res);
	etcd_txn_release(&t);
	etcd_result_release(&res);
	return rc;
}

/* ---- two nodes at once ---- */

#define THREADS 4		/* per node */
#define PER_THREAD 60

struct racer {
	struct node *n;
	uint64_t first[PER_THREAD], count[PER_THREAD];
	unsigned retries;
	int rc;
};

static void *race_main(void *arg)
{
	struct racer *r = arg;
	struct waiter w;
	unsigned i;

	for (i = 0; i < PER_THREAD; i++) {
		r->count[i] = 1 + i % 3;
		/* Lost every compare-and-swap to the other node: 503, and
		 * a client retries (nothing was taken). */
		while ((r->rc = issue(r->n->cm, &r->n->sp, r->count[i],
				      NOON_UTC, NULL, &w)) ==
		       OUTCOME_CLUSTER_DOWN && r->retries < PER_THREAD)
			r->retries++;
		if (r->rc)
			break;
		r->first[i] = w.req.first;
		if (w.req.day != 20261122)
			r->rc = -EINVAL;
	}
	return NULL;
}

static void test_two_nodes(void)
{
	static struct racer racers[2 * THREADS];
	static unsigned char owner[2 * THREADS * PER_THREAD * 3 + 1];
	pthread_t tid[2 * THREADS];
	struct node na, nb;
	uint64_t total = 0, id, batches, ops, ms, last;
	unsigned i, j, bad = 0, order = 0, wrong = 0, retries = 0;
	uint32_t day;
	uint64_t n;
	bool issued;
	char who[16];

	CHECK(node_open(&na, CA, "two", 5) == 0);
	CHECK(node_open(&nb, CB, "two", 5) == 0);
	for (i = 0; i < 2 * THREADS; i++) {
		racers[i].n = i % 2 ? &nb : &na;
		CHECK(pthread_create(&tid[i], NULL, race_main,
				     &racers[i]) == 0);
	}
	for (i = 0; i < 2 * THREADS; i++)
		pthread_join(tid[i], NULL);
	for (i = 0; i < 2 * THREADS; i++) {
		CHECKF(racers[i].rc == 0, "racer %u: %d", i, racers[i].rc);
		if (racers[i].rc)
			continue;
		retries += racers[i].retries;
		last = 0;
		for (j = 0; j < PER_THREAD; j++) {
			struct racer *r = &racers[i];

			if (r->first[j] <= last)
				order++;
			last = r->first[j] + r->count[j] - 1;
			for (id = r->first[j]; id <= last; id++) {
				if (id >= sizeof(owner) || owner[id])
					bad++;
				else
					owner[id] = (unsigned char)(1 + i % 2);
			}
			total += r->count[j];
		}
	}
	CHECK(bad == 0);
	CHECK(order == 0);	/* increasing per thread: etcd's order */
	for (id = 1; id <= total; id++)	/* contiguous: no gap */
		if (!owner[id])
			bad++;
	CHECK(bad == 0);
	CHECK(etcd_counter("two", &day, &n, who, sizeof(who)) == 0);
	CHECK_EQ_U64(day, 20261122);
	CHECK_EQ_U64(n, total);
	CHECK(!strcmp(who, "a") || !strcmp(who, "b"));
	/* Each ledger holds the ids its node issued, and only those. */
	for (id = 1; id <= total; id++) {
		CHECK(seq_lookup(&na.sp, 20261122, id, &issued, &ms) == 0);
		if (issued != (owner[id] == 1))
			wrong++;
		CHECK(seq_lookup(&nb.sp, 20261122, id, &issued, &ms) == 0);
		if (issued != (owner[id] == 2))
			wrong++;
	}
	CHECK(wrong == 0);
	CHECK_EQ_U64(atomic_load(&na.sp.cl_day), 20261122);
	committer_stats(na.cm, &batches, &ops);
	fprintf(stderr, "test_cseq: %u requests retried after losing "
		"%d compare-and-swaps\n", retries, SEQ_CAS_TRIES);
	fprintf(stderr, "test_cseq: %llu ids, node a: %llu ops, %llu "
		"batches, %llu etcd txns (%llu lost); node b: %llu etcd txns "
		"(%llu lost)\n",
		(unsigned long long)total, (unsigned long long)ops,
		(unsigned long long)batches,
		(unsigned long long)atomic_load(&na.sp.etcd_txns),
		(unsigned long long)atomic_load(&na.sp.cas_lost),
		(unsigned long long)atomic_load(&nb.sp.etcd_txns),
		(unsigned long long)atomic_load(&nb.sp.cas_lost));
	CHECK(atomic_load(&na.sp.etcd_txns) <= ops);
	node_close(&na);
	node_close(&nb);
}

/* ---- batching, by applying in order as the committer does ---- */

static void link_reqs(struct seq_req **r, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++)
		r[i]->op.next = i + 1 < n ? &r[i + 1]->op : NULL;
}

static void apply_all(struct ledger *lg, struct seq_req **r, size_t n,
		      int *rcs)
{
	MDB_txn *txn;
	size_t i;

	CHECK(store_txn_begin(lg->env, NULL, 0, &txn) == 0);
	for (i = 0; i < n; i++)
		rcs[i] = r[i]->op.apply(&r[i]->op, txn);
	CHECK(store_finish(txn, 0) == 0);
}

static void test_batch(void)
{
	struct node na;
	struct seq other, small;
	struct pool_def od, sd;
	struct seq_req q[6], *r[6];
	uint64_t before;
	char err[768];
	uint8_t key[PERM_KEY_LEN];
	uint32_t day;
	uint64_t n;
	int rcs[6];
	size_t i;

	CHECK(node_open(&na, CA, "batch", 5) == 0);
	make_def(&od, "batch-other", 5, "UTC");
	make_def(&sd, "batch-small", 1, "UTC");
	CHECK(cluster_pool_define(CA, E, &od, key, false, err,
				  sizeof(err)) == 0);
	CHECK(cluster_pool_define(CA, E, &sd, key, false, err,
				  sizeof(err)) == 0);
	CHECK(seq_open_cluster(&other, &na.lg, &od, err, sizeof(err)) == 0);
	CHECK(seq_cluster_attach(&other, CA, err, sizeof(err)) == 0);
	CHECK(seq_open_cluster(&small, &na.lg, &sd, err, sizeof(err)) == 0);
	CHECK(seq_cluster_attach(&small, CA, err, sizeof(err)) == 0);

	/* plain, plain, another pool, plain, keyed, plain */
	for (i = 0; i < 6; i++) {
		seq_req_init(&q[i], i == 2 ? &other : &na.sp, 1,
			     i == 4 ? "k" : NULL, i == 4 ? 1 : 0);
		q[i].now_ms = NOON_UTC;
		r[i] = &q[i];
	}
	link_reqs(r, 6);
	before = atomic_load(&na.sp.etcd_txns);
	apply_all(&na.lg, r, 6, rcs);
	for (i = 0; i < 6; i++)
		CHECKF(rcs[i] == 0, "request %zu: %d", i, rcs[i]);
	/* One transaction for 0, 1, 3; the keyed 4 leads 5. */
	CHECK_EQ_U64(atomic_load(&na.sp.etcd_txns) - before, 2);
	CHECK_EQ_U64(q[0].first, 1);
	CHECK_EQ_U64(q[1].first, 2);
	CHECK_EQ_U64(q[3].first, 3);
	CHECK_EQ_U64(q[4].first, 4);
	CHECK_EQ_U64(q[5].first, 5);
	CHECK_EQ_U64(q[2].first, 1);	/* its own pool's counter */
	CHECK_EQ_U64(atomic_load(&other.etcd_txns), 1);
	CHECK(etcd_counter("batch", &day, &n, NULL, 0) == 0);
	CHECK_EQ_U64(n, 5);

	/* A run stops where the day's ids end: 5 + 3 fit in 9, 3 more
	 * do not, and that request is refused on its own. */
	for (i = 0; i < 3; i++) {
		seq_req_init(&q[i], &small, i ? 3 : 5, NULL, 0);
		q[i].now_ms = NOON_UTC;
		r[i] = &q[i];
	}
	link_reqs(r, 3);
	apply_all(&na.lg, r, 3, rcs);
	CHECK(rcs[0] == 0 && rcs[1] == 0);
	CHECK(rcs[2] == OUTCOME_USED_UP);
	CHECK(q[2].retry_after > 0 && q[2].retry_after <= 12 * 3600);
	CHECK_EQ_U64(q[0].first, 1);
	CHECK_EQ_U64(q[1].first, 6);
	CHECK_EQ_U64(atomic_load(&small.etcd_txns), 1);
	CHECK(etcd_counter("batch-small", &day, &n, NULL, 0) == 0);
	CHECK_EQ_U64(n, 8);
	seq_release(&other);
	seq_release(&small);
	node_close(&na);
}

/* ---- days ---- */

static void test_days(void)
{
	struct node na, nb;
	struct waiter w;

	CHECK(node_open(&na, CA, "days", 5) == 0);
	CHECK(node_open(&nb, CB, "days", 5) == 0);
	/* a's clock is a day ahead: the cluster is on its day */
	CHECK(issue(na.cm, &na.sp, 1, NOON_UTC + DAY_MS, NULL, &w) == 0);
	CHECK_EQ_U64(w.req.day, 20261123);
	CHECK_EQ_U64(w.req.first, 1);
	/* b's clock is behind it: etcd's day wins */
	CHECK(issue(nb.cm, &nb.sp, 2, NOON_UTC, NULL, &w) == 0);
	CHECK_EQ_U64(w.req.day, 20261123);
	CHECK_EQ_U64(w.req.first, 2);
	/* a later day restarts at 1, for both */
	CHECK(issue(nb.cm, &nb.sp, 1, NOON_UTC + 2 * DAY_MS, NULL, &w) == 0);
	CHECK_EQ_U64(w.req.day, 20261124);
	CHECK_EQ_U64(w.req.first, 1);
	CHECK(issue(na.cm, &na.sp, 1, NOON_UTC + DAY_MS, NULL, &w) == 0);
	CHECK_EQ_U64(w.req.day, 20261124);
	CHECK_EQ_U64(w.req.first, 2);
	node_close(&na);
	node_close(&nb);

	/* A day used up in a's cache while b moved the cluster on: a
	 * reads etcd again instead of refusing. */
	CHECK(node_open(&na, CA, "days-small", 1) == 0);
	CHECK(node_open(&nb, CB, "days-small", 1) == 0);
	CHECK(issue(na.cm, &na.sp, 9, NOON_UTC, NULL, &w) == 0);
	CHECK(issue(na.cm, &na.sp, 1, NOON_UTC, NULL, &w) ==
	      OUTCOME_USED_UP);
	CHECK(issue(nb.cm, &nb.sp, 1, NOON_UTC + DAY_MS, NULL, &w) == 0);
	CHECK_EQ_U64(w.req.day, 20261123);
	CHECK(issue(na.cm, &na.sp, 1, NOON_UTC, NULL, &w) == 0);
	CHECK_EQ_U64(w.req.day, 20261123);
	CHECK_EQ_U64(w.req.first, 2);
	node_close(&na);
	node_close(&nb);
}

/* ---- Idempotency-Keys are per node ---- */

static void test_idem(void)
{
	struct node na, nb;
	struct waiter w;
	uint64_t first, txns;

	CHECK(node_open(&na, CA, "idem", 5) == 0);
	CHECK(node_open(&nb, CB, "idem", 5) == 0);
	CHECK(issue(na.cm, &na.sp, 1, NOON_UTC, "key-1", &w) == 0);
	first = w.req.first;
	txns = atomic_load(&na.sp.etcd_txns);
	CHECK(issue(na.cm, &na.sp, 1, NOON_UTC, "key-1", &w) == 0);
	CHECK(w.req.replayed);
	CHECK_EQ_U64(w.req.first, first);
	CHECK_EQ_U64(atomic_load(&na.sp.etcd_txns), txns); /* no etcd */
	CHECK(issue(nb.cm, &nb.sp, 1, NOON_UTC, "key-1", &w) == 0);
	CHECK(!w.req.replayed);
	CHECK(w.req.first > first);
	node_close(&na);
	node_close(&nb);
}

/* ---- refusals ---- */

/* Nothing of the refused request in the ledger: state as before, and
 * the next id not issued. */
static void check_nothing_written(struct node *n, uint32_t day0,
				  uint64_t n0)
{
	uint32_t day;
	uint64_t v, ms;
	bool issued = true;

	CHECK(seq_state(&n->sp, &day, &v) == 0);
	CHECK_EQ_U64(day, day0);
	CHECK_EQ_U64(v, n0);
	CHECK(seq_lookup(&n->sp, day0, n0 + 1, &issued, &ms) == 0);
	CHECK(!issued);
}

static void test_etcd_down(void)
{
	struct node na, nb;
	struct waiter w;
	uint64_t max = 0, t0, i;
	int rc = -1;

	CHECK(node_open(&na, CA, "down", 5) == 0);
	CHECK(node_open(&nb, CB, "down", 5) == 0);
	for (i = 0; i < 5; i++) {
		CHECK(issue(i % 2 ? nb.cm : na.cm, i % 2 ? &nb.sp : &na.sp,
			    1, NOON_UTC, NULL, &w) == 0);
		max = w.req.first;
	}
	t_etcd_kill();
	t0 = (uint64_t)t_mono_ms();
	CHECK(issue(na.cm, &na.sp, 1, NOON_UTC, NULL, &w) ==
	      OUTCOME_CLUSTER_DOWN);
	CHECK(issue(na.cm, &na.sp, 1, NOON_UTC, "k", &w) ==
	      OUTCOME_CLUSTER_DOWN);
	CHECK(issue(nb.cm, &nb.sp, 3, NOON_UTC, NULL, &w) ==
	      OUTCOME_CLUSTER_DOWN);
	CHECKF((uint64_t)t_mono_ms() - t0 < 3000, "%llu ms",
	       (unsigned long long)((uint64_t)t_mono_ms() - t0));
	check_nothing_written(&na, 20261122, 5);	/* a took 1, 3, 5 */
	check_nothing_written(&nb, 20261122, 4);
	CHECK(t_etcd_restart() == 0);
	t0 = (uint64_t)t_mono_ms();
	while ((uint64_t)t_mono_ms() - t0 < 20000 &&
	       (rc = issue(na.cm, &na.sp, 1, NOON_UTC, NULL, &w)) ==
	       OUTCOME_CLUSTER_DOWN)
		t_sleep_ms(200);
	CHECK(rc == 0);
	CHECK(w.req.first > max);
	max = w.req.first;
	while ((uint64_t)t_mono_ms() - t0 < 20000 &&
	       (rc = issue(nb.cm, &nb.sp, 1, NOON_UTC, NULL, &w)) ==
	       OUTCOME_CLUSTER_DOWN)
		t_sleep_ms(200);
	CHECK(rc == 0);
	CHECK(w.req.first > max);
	node_close(&na);
	node_close(&nb);
}

static void test_fence(void)
{
	struct node na;
	struct waiter w;
	uint64_t fence;

	CHECK(node_open(&na, CA, "fence", 5) == 0);
	CHECK(issue(na.cm, &na.sp, 1, NOON_UTC, NULL, &w) == 0);
	fence = atomic_exchange(&CA->fence_ns, 0);
	CHECK(issue(na.cm, &na.sp, 1, NOON_UTC, NULL, &w) ==
	      OUTCOME_CLUSTER_DOWN);
	check_nothing_written(&na, 20261122, 1);
	/* The session thread may have renewed it meanwhile: keep the
	 * later deadline. */
	if (atomic_load(&CA->fence_ns) < fence)
		atomic_store(&CA->fence_ns, fence);
	t_sleep_ms(SEQ_DOWN_MS + 100);
	CHECK(issue(na.cm, &na.sp, 1, NOON_UTC, NULL, &w) == 0);
	CHECK_EQ_U64(w.req.first, 2);
	node_close(&na);
}

static void test_etcd_behind_and_damaged(void)
{
	struct node na;
	struct waiter w;

	CHECK(node_open(&na, CA, "lost", 5) == 0);
	CHECK(issue(na.cm, &na.sp, 3, NOON_UTC, NULL, &w) == 0);
	/* etcd loses its data: the node refuses to start again at 1 */
	CHECK(etcd_put_raw("lost", NULL, true) == 0);
	CHECK(issue(na.cm, &na.sp, 1, NOON_UTC, NULL, &w) ==
	      OUTCOME_CLUSTER_DOWN);
	check_nothing_written(&na, 20261122, 3);
	t_sleep_ms(SEQ_DOWN_MS + 100);
	CHECK(etcd_put_raw("lost", "{\"day\":20261122,\"n\":2}", false) ==
	      0);
	CHECK(issue(na.cm, &na.sp, 1, NOON_UTC, NULL, &w) ==
	      OUTCOME_CLUSTER_DOWN);
	check_nothing_written(&na, 20261122, 3);
	/* A value that is not a counter of this pool */
	t_sleep_ms(SEQ_DOWN_MS + 100);
	CHECK(etcd_put_raw("lost", "not json", false) == 0);
	CHECK(issue(na.cm, &na.sp, 1, NOON_UTC, NULL, &w) ==
	      OUTCOME_CLUSTER_DOWN);
	t_sleep_ms(SEQ_DOWN_MS + 100);
	CHECK(etcd_put_raw("lost", "{\"day\":20261122,\"n\":100000}",
			   false) == 0);
	CHECK(issue(na.cm, &na.sp, 1, NOON_UTC, NULL, &w) ==
	      OUTCOME_CLUSTER_DOWN);
	check_nothing_written(&na, 20261122, 3);
	/* Repaired above what the node issued: it goes on from there */
	t_sleep_ms(SEQ_DOWN_MS + 100);
	CHECK(etcd_put_raw("lost", "{\"day\":20261122,\"n\":10}", false) ==
	      0);
	CHECK(issue(na.cm, &na.sp, 1, NOON_UTC, NULL, &w) == 0);
	CHECK_EQ_U64(w.req.first, 11);
	node_close(&na);
}

static void test_refused(void)
{
	struct ledger_opts lo = { .sync = false, .create = true };
	struct ledger lg;
	struct pool_def d;
	struct seq sp;
	struct seq_req q, *r = &q;
	char dir[256], path[512], err[768];
	uint8_t key[PERM_KEY_LEN];
	int rc;

	snprintf(dir, sizeof(dir), "%s", t_tmpdir());
	snprintf(path, sizeof(path), "%s/ledger.mdb", dir);
	CHECK(ledger_open(&lg, path, &lo) == 0);

	/* used standalone, then given to a cluster node */
	make_def(&d, "solo", 5, "UTC");
	CHECK(seq_open(&sp, &lg, &d, true, err, sizeof(err)) == 0);
	*err = '\0';
	CHECK(seq_cluster_attach(&sp, CA, err, sizeof(err)) == -EINVAL);
	CHECK(strstr(err, "not opened as a cluster pool") != NULL);
	seq_release(&sp);
	rc = seq_open_cluster(&sp, &lg, &d, err, sizeof(err));
	CHECK(rc == -EINVAL);
	CHECKF(strstr(err, "made without a cluster") != NULL, "%s", err);

	/* made by a cluster node, then started standalone */
	make_def(&d, "clustered", 5, "UTC");
	CHECK(seq_open_cluster(&sp, &lg, &d, err, sizeof(err)) == 0);
	/* opened, not attached: it issues nothing */
	seq_req_init(&q, &sp, 1, NULL, 0);
	q.now_ms = NOON_UTC;
	link_reqs(&r, 1);
	apply_all(&lg, &r, 1, &rc);
	CHECK(rc == OUTCOME_CLUSTER_DOWN);
	seq_release(&sp);
	rc = seq_open(&sp, &lg, &d, true, err, sizeof(err));
	CHECK(rc == -EINVAL);
	CHECKF(strstr(err, "--etcd") != NULL, "%s", err);
	ledger_release(&lg);
	t_rm_rf(dir);

	/* a node configured with other digits or another zone */
	make_def(&d, "defined", 5, "UTC");
	CHECK(cluster_pool_define(CA, E, &d, key, false, err,
				  sizeof(err)) == 0);
	CHECK(cluster_pool_define(CB, E, &d, key, false, err,
				  sizeof(err)) == 0);
	make_def(&d, "defined", 6, "UTC");
	CHECK(cluster_pool_define(CB, E, &d, key, false, err,
				  sizeof(err)) == -EINVAL);
	make_def(&d, "defined", 5, "Europe/Paris");
	CHECK(cluster_pool_define(CB, E, &d, key, false, err,
				  sizeof(err)) == -EINVAL);
	CHECKF(strstr(err, "time zone") != NULL, "%s", err);
}

int main(void)
{
	const char *req = getenv("UNIQ_REQUIRE_ETCD");
	char dir[256], err[768];
	int rc;

	if (access(T_ETCD_BIN, X_OK) != 0) {
		if (req && strcmp(req, "1") == 0) {
			fprintf(stderr, "%s missing and UNIQ_REQUIRE_ETCD=1\n",
				T_ETCD_BIN);
			return 1;
		}
		fprintf(stderr, "%s missing: skipped\n", T_ETCD_BIN);
		return 77;
	}
	t_etcd_guard();
	snprintf(dir, sizeof(dir), "%s", t_tmpdir());
	if (t_etcd_start(dir) != 0) {
		CHECK(!"etcd started");
		goto out;
	}
	CHECK(etcd_open(&E, t_etcd_url, 2000) == 0);
	rc = cluster_start(&CA, t_etcd_url, "a", "dir-a", err, sizeof(err));
	CHECKF(rc == 0, "%s", err);
	rc = cluster_start(&CB, t_etcd_url, "b", "dir-b", err, sizeof(err));
	CHECKF(rc == 0, "%s", err);
	if (!CA || !CB)
		goto out;
	test_two_nodes();
	test_batch();
	test_days();
	test_idem();
	test_fence();
	test_etcd_behind_and_damaged();
	test_refused();
	test_etcd_down();	/* last: it kills etcd */
out:
	cluster_stop(CA);
	cluster_stop(CB);
	etcd_free(E);
	t_etcd_kill();
	t_rm_rf(dir);
	return t_done("cseq");
}
