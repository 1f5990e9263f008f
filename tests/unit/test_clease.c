/*
 * test_clease.c: lease pools of cluster nodes (pools/clease.c) against a
 * real etcd that the test starts (/usr/bin/etcd on free 127.0.0.1 ports,
 * as test_etcd.c does; its start-up is copied here, private to this file)
 * and kills by its pid: two nodes (two struct lease of one pool, on two
 * ledgers, with two committers and two sessions) borrowing at once from a
 * small pool never lend one number twice; all out; returns and renewals
 * check the holder; reset; a lease with a ttl of 2 s leaves etcd and is
 * lent again by the other node; a stale shared etcd lease is regranted;
 * a standalone data directory with leases out is refused; a lapsed fence,
 * a changed session and a dead etcd answer OUTCOME_CLUSTER_DOWN.
 * cluster/cluster.c is compiled in (the #include below) so that the test
 * can lapse the fence and change the session on purpose.
 * (suites unit and threads.) Without /usr/bin/etcd: skipped (77), unless
 * UNIQ_REQUIRE_ETCD=1.
 */
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <pthread.h>
#include <signal.h>
#include <spawn.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "cluster/etcd.h"
#include "common/clock.h"
#include "common/config.h"
#include "ledger/committer.h"
#include "ledger/ledger.h"
#include "pools/lease.h"
#include "tests/unit/t.h"
#include "tests/unit/t_util.h"
#include "cluster/cluster.c"	/* the module itself; includes banned.h */

#define ETCD_BIN "/usr/bin/etcd"
#define SETPRIV_BIN "/usr/bin/setpriv"
#define START_MS 20000		/* etcd must answer within this */
#define POOL_MIN 100
#define POOL_N 16

static volatile pid_t etcd_pid = -1;
static char url[64];		/* the test etcd's client URL */
static struct etcd *E;		/* a client of it */

static int64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void sleep_ms(long ms)
{
	struct timespec ts = { ms / 1000, (ms % 1000) * 1000000L };

	nanosleep(&ts, NULL);
}

/* A port no one listens on now (bound to port 0, then closed). */
static int free_port(void)
{
	struct sockaddr_in a = { .sin_family = AF_INET };
	socklen_t len = sizeof(a);
	int fd, port = -1;

	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	fd = socket(AF_INET, SOCK_STREAM, 0);
	if (fd < 0)
		return -1;
	if (bind(fd, (struct sockaddr *)&a, sizeof(a)) == 0 &&
	    getsockname(fd, (struct sockaddr *)&a, &len) == 0)
		port = ntohs(a.sin_port);
	close(fd);
	return port;
}

static void stop_etcd(void)
{
	pid_t pid = etcd_pid;

	if (pid <= 0)
		return;
	kill(pid, SIGKILL);
	waitpid(pid, NULL, 0);
	etcd_pid = -1;
}

/* A signal (meson's timeout) must not leave etcd running. */
static void on_signal(int sig)
{
	if (etcd_pid > 0)
		kill(etcd_pid, SIGKILL);
	_exit(128 + sig);
}

/*
 * Starts etcd in dir with a fresh data directory on two free ports, its
 * output appended to dir/etcd.log. Run through setpriv --pdeathsig when
 * there is one, so that etcd dies with the test even if it crashes.
 * Returns 0 with etcd_pid and url set, or -1.
 */
static int spawn_etcd(const char *dir, int cport, int pport)
{
	char data[320], log[320], curl_[64], purl[64], cluster[96];
	char a_setpriv[] = SETPRIV_BIN, a_pdeath[] = "--pdeathsig",
	     a_kill[] = "KILL", a_etcd[] = ETCD_BIN,
	     a_data[] = "--data-dir", a_lc[] = "--listen-client-urls",
	     a_ac[] = "--advertise-client-urls",
	     a_lp[] = "--listen-peer-urls",
	     a_ap[] = "--initial-advertise-peer-urls",
	     a_ic[] = "--initial-cluster", a_logger[] = "--logger=zap",
	     a_out[] = "--log-outputs=stderr", a_path[] = "PATH=/usr/bin:/bin";
	char *argv[] = { a_setpriv, a_pdeath, a_kill, a_etcd, a_data, data,
			 a_lc, curl_, a_ac, curl_, a_lp, purl, a_ap, purl,
			 a_ic, cluster, a_logger, a_out, NULL };
	char *envp[] = { a_path, NULL };
	char **args = argv;
	posix_spawn_file_actions_t fa;
	pid_t pid;
	int rc;

	t_path_in(data, sizeof(data), dir, "data");
	t_rm_rf(data);
	t_path_in(log, sizeof(log), dir, "etcd.log");
	snprintf(curl_, sizeof(curl_), "http://127.0.0.1:%d", cport);
	snprintf(purl, sizeof(purl), "http://127.0.0.1:%d", pport);
	snprintf(cluster, sizeof(cluster), "default=%s", purl);
	if (access(SETPRIV_BIN, X_OK) != 0)
		args = argv + 3;
	if (posix_spawn_file_actions_init(&fa))
		return -1;
	posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
	posix_spawn_file_actions_addopen(&fa, 1, log,
					 O_WRONLY | O_CREAT | O_APPEND, 0644);
	posix_spawn_file_actions_adddup2(&fa, 1, 2);
	rc = posix_spawn(&pid, args[0], &fa, NULL, args, envp);
	posix_spawn_file_actions_destroy(&fa);
	if (rc) {
		fprintf(stderr, "posix_spawn %s: %s\n", args[0], strerror(rc));
		return -1;
	}
	etcd_pid = pid;
	snprintf(url, sizeof(url), "%s", curl_);
	return 0;
}

/*
 * Starts etcd and waits (START_MS at most) until it has a leader. A
 * start can lose a race for its ports (etcd exits at once): then again
 * on new ones, three times. Returns 0 with E open, or -1 (etcd stopped).
 */
static int start_etcd(const char *dir)
{
	int attempt;

	for (attempt = 0; attempt < 3; attempt++) {
		int64_t deadline = now_ms() + START_MS;
		int cport = free_port(), pport = free_port(), exited = 0;

		if (cport < 0 || pport < 0 || cport == pport)
			continue;
		if (spawn_etcd(dir, cport, pport))
			return -1;
		if (etcd_open(&E, url, 1000))
			break;
		while (now_ms() < deadline) {
			uint64_t member = 0, leader = 0;

			if (waitpid(etcd_pid, NULL, WNOHANG) == etcd_pid) {
				etcd_pid = -1;
				exited = 1;
				break;
			}
			if (etcd_status(E, &member, &leader) == 0 && leader)
				return 0;
			sleep_ms(100);
		}
		etcd_free(E);
		E = NULL;
		stop_etcd();
		fprintf(stderr, "etcd on %s %s\n", url,
			exited ? "exited at once" : "did not answer");
		if (!exited)
			break;
	}
	return -1;
}

/* ---- nodes ---- */

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

/* One node: a ledger, its committer, a session, and pool "users". */
struct node {
	char dir[256];
	struct ledger lg;
	struct committer *c;
	struct pool_def def;
	struct lease lp;
	struct cluster *cl;
};

/* Opens n as node name; with standalone_lease, first borrows a number
 * standalone (so that attaching is refused). Returns 0 or -1. */
static int node_open(struct node *n, const char *name, bool standalone_lease)
{
	struct ledger_opts lo = { .sync = false, .create = true };
	char path[512], err[768];
	int rc;

	memset(n, 0, sizeof(*n));
	snprintf(n->dir, sizeof(n->dir), "%s", t_tmpdir());
	snprintf(n->def.name, sizeof(n->def.name), "users");
	n->def.kind = POOL_LEASE;
	n->def.min = POOL_MIN;
	n->def.capacity = POOL_N;
	n->def.ttl = 600;
	t_path_in(path, sizeof(path), n->dir, "ledger.mdb");
	rc = ledger_open(&n->lg, path, &lo);
	CHECKF(rc == 0, "ledger_open: %s", log_strerror(rc));
	if (rc)
		return -1;
	rc = lease_open(&n->lp, &n->lg, &n->def, err, sizeof(err));
	CHECKF(rc == 0, "%s", err);
	if (rc == 0) {
		rc = cluster_start(&n->cl, url, name, n->dir, err,
				   sizeof(err));
		CHECKF(rc == 0, "cluster_start: %s", err);
	}
	/* before the committer runs (lease.h) */
	if (rc == 0 && !standalone_lease) {
		rc = lease_cluster_attach(&n->lp, n->cl, err, sizeof(err));
		CHECKF(rc == 0, "attach: %s", err);
	}
	if (rc == 0)
		rc = committer_start(&n->lg, &n->c);
	if (rc == 0)
		rc = committer_add_tick(n->c, 20, lease_expire_tick,
					lease_expire_done, &n->lp);
	if (rc == 0 && standalone_lease) {
		struct waiter w;

		lease_req_init(&w.req, &n->lp, LEASE_BORROW);
		rc = run_req(n->c, &w);
	}
	return rc ? -1 : 0;
}

static void node_close(struct node *n)
{
	committer_stop(n->c);
	committer_free(n->c);
	lease_release(&n->lp);
	cluster_stop(n->cl);
	ledger_release(&n->lg);
	t_rm_rf(n->dir);
}

static int borrow(struct node *n, const char *holder, int64_t ttl,
		  uint64_t now, int64_t *number)
{
	struct waiter w;
	int rc;

	lease_req_init(&w.req, &n->lp, LEASE_BORROW);
	if (holder)
		snprintf(w.req.holder, sizeof(w.req.holder), "%s", holder);
	w.req.ttl = ttl;
	w.req.now_ms = now;
	rc = run_req(n->c, &w);
	if (number)
		*number = rc == 0 ? w.req.lease.number : -1;
	return rc;
}

static int op(struct node *n, enum lease_verb verb, int64_t number,
	      const char *holder, int64_t ttl, struct lease_req *out)
{
	struct waiter w;
	int rc;

	lease_req_init(&w.req, &n->lp, verb);
	w.req.number = number;
	w.req.ttl = ttl;
	if (holder) {
		snprintf(w.req.holder, sizeof(w.req.holder), "%s", holder);
		w.req.check_holder = true;
	}
	rc = run_req(n->c, &w);
	if (out)
		*out = w.req;
	return rc;
}

/* The key of number in etcd: 1 if there (*lease its etcd lease), 0 if
 * not, -1 if etcd did not answer. */
static int key_there(int64_t number, int64_t *lease)
{
	struct etcd_result res = { 0 };
	char key[128];
	int k, rc;

	k = snprintf(key, sizeof(key), "/uniqd/lease/users/%020lld",
		     (long long)number);
	rc = etcd_get(E, key, (size_t)k, false, 0, false, &res);
	if (rc)
		return -1;
	rc = res.nranges == 1 && res.ranges[0].n == 1;
	if (rc && lease)
		*lease = res.ranges[0].kvs[0].lease;
	etcd_result_release(&res);
	return rc;
}

/* ---- the tests ---- */

static void test_attach_refused(void)
{
	struct node n;
	char err[768] = "";

	if (node_open(&n, "standalone", true))
		goto out;
	CHECK_RC(lease_cluster_attach(&n.lp, n.cl, err, sizeof(err)),
		 -EEXIST);
	CHECKF(strstr(err, "leases are out in this data directory") != NULL,
	       "%s", err);
	CHECK(n.lp.cl == NULL);
out:
	node_close(&n);
}

static void test_verbs(struct node *a, struct node *b)
{
	struct lease_info *all = NULL;
	struct lease_req r;
	int64_t got[POOL_N], x;
	uint64_t out = 0;
	size_t n = 0, i;
	int seen[POOL_N] = { 0 }, dup = 0;

	for (i = 0; i < POOL_N; i++) {
		struct node *by = i % 2 ? b : a;

		CHECK_RC(borrow(by, i % 2 ? "vu-b" : "vu-a", 0, 0, &got[i]),
			 0);
		if (got[i] >= POOL_MIN && got[i] < POOL_MIN + POOL_N)
			dup += seen[got[i] - POOL_MIN]++ > 0;
		else
			CHECKF(0, "lent %lld", (long long)got[i]);
	}
	CHECK(dup == 0);
	CHECK_RC(borrow(a, "vu-a", 0, 0, &x), OUTCOME_ALL_OUT);
	CHECK_RC(borrow(b, "vu-b", 0, 0, &x), OUTCOME_ALL_OUT);
	CHECK_RC(lease_out(&a->lp, &out), 0);
	CHECK_EQ_U64(out, POOL_N);
	CHECK_RC(lease_list(&b->lp, &all, &n), 0);
	CHECK_EQ_U64(n, POOL_N);
	for (i = 0; i < n; i++) {
		CHECK(all[i].number == POOL_MIN + (int64_t)i);
		CHECK(all[i].expires_ms == 0);
	}
	free(all);
	/* got[1] is vu-b's, lent by b */
	CHECK_RC(op(a, LEASE_RETURN, got[1], "vu-a", -1, NULL),
		 OUTCOME_OTHER_HOLDER);
	CHECK_RC(op(a, LEASE_RENEW, got[1], "vu-a", 5, NULL),
		 OUTCOME_OTHER_HOLDER);
	CHECK_RC(op(a, LEASE_RETURN, POOL_MIN + POOL_N, NULL, -1, NULL),
		 OUTCOME_NOT_IN_POOL);
	CHECK_RC(op(a, LEASE_RENEW, POOL_MIN - 1, NULL, -1, NULL),
		 OUTCOME_NOT_IN_POOL);
	CHECK_RC(op(a, LEASE_RENEW, got[1], "vu-b", 300, &r), 0);
	CHECK(r.lease.expires_ms > clock_now_ms() + 290000 &&
	      r.lease.expires_ms < clock_now_ms() + 310000);
	CHECK_STR(r.lease.holder, "vu-b");
	CHECK(key_there(got[1], &x) == 1 && x != 0);
	CHECK_RC(op(a, LEASE_RENEW, got[1], NULL, 0, &r), 0);
	CHECK(r.lease.expires_ms == 0);
	CHECK(key_there(got[1], &x) == 1 && x == 0);
	CHECK_RC(op(a, LEASE_RETURN, got[1], "vu-b", -1, &r), 0);
	CHECK(r.lease.number == got[1]);
	CHECK_RC(op(b, LEASE_RETURN, got[1], "vu-b", -1, NULL),
		 OUTCOME_NOT_OUT);
	CHECK_RC(op(b, LEASE_RENEW, got[1], NULL, -1, NULL), OUTCOME_NOT_OUT);
	/* the one free number, with a ttl of 2 s, from a */
	CHECK_RC(borrow(a, "short", 2, 0, &x), 0);
	CHECK(x == got[1]);
	CHECK_RC(borrow(b, "vu-b", 0, 0, NULL), OUTCOME_ALL_OUT);
	{
		int64_t t0 = now_ms(), lease = 0;
		int there;

		CHECK(key_there(x, &lease) == 1 && lease != 0);
		while ((there = key_there(x, NULL)) == 1 &&
		       now_ms() - t0 < 15000)
			sleep_ms(100);
		CHECKF(there == 0, "still there after %lld ms",
		       (long long)(now_ms() - t0));
		CHECKF(now_ms() - t0 >= 1500, "gone after %lld ms",
		       (long long)(now_ms() - t0));
		fprintf(stderr, "a ttl of 2 s left etcd after %lld ms\n",
			(long long)(now_ms() - t0));
	}
	CHECK_RC(borrow(b, "again", 0, 0, &x), 0);
	CHECK(x == got[1]);
	/* reset from b, of everything */
	CHECK_RC(op(b, LEASE_RESET, 0, NULL, -1, &r), 0);
	CHECK_EQ_U64(r.count, POOL_N);
	CHECK_RC(lease_out(&b->lp, &out), 0);
	CHECK_EQ_U64(out, 0);
	CHECK_RC(op(a, LEASE_RETURN, got[0], NULL, -1, NULL),
		 OUTCOME_NOT_OUT);
}

/* A cached etcd lease that etcd no longer knows: granted again. */
static void test_stale_lease(struct node *a)
{
	uint64_t now = clock_now_ms();
	int64_t x, y, old = 0, fresh = 0;

	CHECK_RC(borrow(a, "c", 100, now, &x), 0);
	CHECK(key_there(x, &old) == 1 && old != 0);
	CHECK_RC(etcd_lease_revoke(E, old), 0);
	CHECK(key_there(x, NULL) == 0);
	CHECK_RC(borrow(a, "c", 100, now, &y), 0);
	CHECK(key_there(y, &fresh) == 1 && fresh != 0 && fresh != old);
	CHECK_RC(op(a, LEASE_RESET, 0, NULL, -1, NULL), 0);
}

/* A value under the pool's prefix that is not a lease. */
static void test_junk(struct node *a)
{
	static const char key[] = "/uniqd/lease/users/00000000000000000100";
	struct etcd_result res = { 0 };
	struct lease_info *all = NULL;
	struct etcd_txn t;
	size_t n = 0;

	etcd_txn_init(&t);
	etcd_txn_put(&t, true, key, strlen(key), "{", 1, 0);
	CHECK_RC(etcd_txn_run(E, &t, &res), 0);
	etcd_txn_release(&t);
	etcd_result_release(&res);
	CHECK_RC(lease_list(&a->lp, &all, &n), -EPROTO);
	CHECK(all == NULL && n == 0);
	CHECK_RC(op(a, LEASE_RETURN, 100, NULL, -1, NULL),
		 OUTCOME_CLUSTER_DOWN);
	CHECK_RC(op(a, LEASE_RESET, 0, NULL, -1, NULL), 0);
}

struct racer {
	struct node *n;
	int id;
	_Atomic int *holders;	/* per offset: a racer id + 1, 0 free */
	_Atomic int *doubles, *lent, *all_out, *other;
};

static void *race(void *arg)
{
	struct racer *r = arg;
	char holder[32];
	int64_t x;
	int i, rc, zero;

	snprintf(holder, sizeof(holder), "racer-%d", r->id);
	for (i = 0; i < 25; i++) {
		rc = borrow(r->n, holder, 60, 0, &x);
		if (rc == OUTCOME_ALL_OUT) {
			atomic_fetch_add(r->all_out, 1);
			continue;
		}
		if (rc || x < POOL_MIN || x >= POOL_MIN + POOL_N) {
			atomic_fetch_add(r->other, 1);
			continue;
		}
		zero = 0;
		if (!atomic_compare_exchange_strong(&r->holders[x - POOL_MIN],
						    &zero, r->id + 1))
			atomic_fetch_add(r->doubles, 1);
		atomic_fetch_add(r->lent, 1);
		sleep_ms(1);
		zero = r->id + 1;
		atomic_compare_exchange_strong(&r->holders[x - POOL_MIN],
					       &zero, 0);
		if (op(r->n, LEASE_RETURN, x, holder, -1, NULL))
			atomic_fetch_add(r->other, 1);
	}
	return NULL;
}

/* 3 racers a node on two nodes, 6 at once on 16 numbers. */
static void test_race(struct node *a, struct node *b)
{
	_Atomic int holders[POOL_N] = { 0 };
	_Atomic int doubles = 0, lent = 0, all_out = 0, other = 0;
	struct racer rs[6];
	pthread_t th[6];
	uint64_t out = 1;
	int i;

	for (i = 0; i < 6; i++) {
		rs[i] = (struct racer){ i % 2 ? b : a, i, holders, &doubles,
					&lent, &all_out, &other };
		CHECK(pthread_create(&th[i], NULL, race, &rs[i]) == 0);
	}
	for (i = 0; i < 6; i++)
		pthread_join(th[i], NULL);
	CHECKF(doubles == 0, "%d numbers lent twice", doubles);
	CHECKF(other == 0, "%d operations failed", other);
	CHECKF(lent + all_out == 150, "%d lent, %d all out", lent, all_out);
	CHECK_RC(lease_out(&a->lp, &out), 0);
	CHECK_EQ_U64(out, 0);
	fprintf(stderr, "race: %d lent, %d all out\n", lent, all_out);
}

/* The fence lapsed, the session changed, no session: no borrow. */
static void test_session_and_fence(struct node *a)
{
	int64_t keep;

	atomic_store(&a->cl->fence_ns, 0);
	CHECK_RC(borrow(a, "f", 0, 0, NULL), OUTCOME_CLUSTER_DOWN);
	/* the session thread sets it again at its next renewal; until then
	 * a borrow waits here */
	{
		int64_t t0 = now_ms();

		while (!cluster_fence_ok(a->cl) && now_ms() - t0 < 15000)
			sleep_ms(50);
		CHECK(cluster_fence_ok(a->cl));
	}
	pthread_mutex_lock(&a->cl->lock);
	keep = a->cl->create_rev;
	a->cl->create_rev = 1;	/* not the session key's */
	pthread_mutex_unlock(&a->cl->lock);
	CHECK_RC(borrow(a, "s", 0, 0, NULL), OUTCOME_CLUSTER_DOWN);
	pthread_mutex_lock(&a->cl->lock);
	a->cl->create_rev = 0;	/* no session at all */
	pthread_mutex_unlock(&a->cl->lock);
	CHECK_RC(borrow(a, "s", 0, 0, NULL), OUTCOME_CLUSTER_DOWN);
	pthread_mutex_lock(&a->cl->lock);
	a->cl->create_rev = keep;
	pthread_mutex_unlock(&a->cl->lock);
	CHECK_RC(borrow(a, "s", 0, 0, &keep), 0);
	CHECK_RC(op(a, LEASE_RETURN, keep, "s", -1, NULL), 0);
}

static void test_etcd_dead(struct node *a)
{
	struct lease_info *all = NULL;
	int64_t x;
	uint64_t out;
	size_t n;

	CHECK_RC(borrow(a, "d", 0, 0, &x), 0);
	stop_etcd();
	CHECK_RC(borrow(a, "d", 0, 0, NULL), OUTCOME_CLUSTER_DOWN);
	CHECK_RC(borrow(a, "d", 5, 0, NULL), OUTCOME_CLUSTER_DOWN);
	CHECK_RC(op(a, LEASE_RETURN, x, "d", -1, NULL), OUTCOME_CLUSTER_DOWN);
	CHECK_RC(op(a, LEASE_RENEW, x, "d", 9, NULL), OUTCOME_CLUSTER_DOWN);
	CHECK_RC(op(a, LEASE_RESET, 0, NULL, -1, NULL), OUTCOME_CLUSTER_DOWN);
	CHECK_RC(lease_list(&a->lp, &all, &n), -EAGAIN);
	CHECK_RC(lease_out(&a->lp, &out), -EAGAIN);
}

int main(void)
{
	const char *req = getenv("UNIQ_REQUIRE_ETCD");
	const char *dir;
	struct sigaction sa;
	struct node a, b;
	int rc;

	log_setup("test_clease", LOG_WARN);
	if (access(ETCD_BIN, X_OK) != 0) {
		if (req && strcmp(req, "1") == 0) {
			fprintf(stderr, "%s missing and UNIQ_REQUIRE_ETCD=1\n",
				ETCD_BIN);
			return 1;
		}
		fprintf(stderr, "%s missing: skipped\n", ETCD_BIN);
		return 77;
	}
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_signal;
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGHUP, &sa, NULL);
	dir = t_tmpdir();
	if (start_etcd(dir) != 0) {
		CHECK(!"etcd started");
		goto out;
	}
	test_attach_refused();
	if (node_open(&a, "a", false) == 0) {
		if (node_open(&b, "b", false) == 0) {
			test_verbs(&a, &b);
			test_race(&a, &b);
			test_stale_lease(&a);
			test_junk(&a);
			test_session_and_fence(&a);
			test_etcd_dead(&a);
		}
		node_close(&b);
	}
	node_close(&a);
out:
	etcd_free(E);
	stop_etcd();
	t_rm_rf(dir);
	rc = t_done("clease");
	return rc;
}
