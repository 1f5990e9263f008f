/*
 * test_etcd.c: cluster/etcd.c against a real etcd, which the test starts
 * (/usr/bin/etcd on free 127.0.0.1 ports, in a temporary directory) and
 * kills by its pid on every path: transactions and their compares, prefix
 * reads and deletes, leases, binary keys, endpoints that fail over, and
 * answers etcd's members give when they cannot serve (from a fake member,
 * a thread here). The module is compiled in (the #include below) so that
 * its static base64 and range-end helpers are tested directly.
 *
 * Without /usr/bin/etcd the test is skipped (77), unless
 * UNIQ_REQUIRE_ETCD=1, when that is a failure.
 */
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <pthread.h>
#include <signal.h>
#include <spawn.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "tests/unit/t.h"
#include "tests/unit/t_util.h"
#include "cluster/etcd.c"	/* the module itself; includes banned.h */

#ifndef ETCD_BIN
#define ETCD_BIN "/usr/bin/etcd"
#endif
#define SETPRIV_BIN "/usr/bin/setpriv"
#define START_MS 20000		/* etcd must answer within this */

/* The members this test started: 0 the one most tests use, 1 and 2 a
 * cluster of two that loses its quorum. -1: none. */
#define MEMBERS 3
static volatile pid_t pids[MEMBERS] = { -1, -1, -1 };
static char urls[MEMBERS][64];	/* their client URLs */
static const char *url = urls[0];
static struct etcd *E;		/* a client of member 0 */

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

/* A socket listening on 127.0.0.1 (any port, *port): 0 or -1. */
static int listen_any(int *port)
{
	struct sockaddr_in a = { .sin_family = AF_INET };
	socklen_t len = sizeof(a);
	int fd;

	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	fd = socket(AF_INET, SOCK_STREAM, 0);
	if (fd < 0)
		return -1;
	if (bind(fd, (struct sockaddr *)&a, sizeof(a)) != 0 ||
	    listen(fd, 16) != 0 ||
	    getsockname(fd, (struct sockaddr *)&a, &len) != 0) {
		close(fd);
		return -1;
	}
	*port = ntohs(a.sin_port);
	return fd;
}

static void stop_member(int m)
{
	pid_t pid = pids[m];

	if (pid <= 0)
		return;
	kill(pid, SIGKILL);
	waitpid(pid, NULL, 0);
	pids[m] = -1;
}

/* A signal (meson's timeout) must not leave etcd running. */
static void on_signal(int sig)
{
	int m;

	for (m = 0; m < MEMBERS; m++)
		if (pids[m] > 0)
			kill(pids[m], SIGKILL);
	_exit(128 + sig);
}

/*
 * Starts member m, named name, of the cluster `cluster` (etcd's
 * --initial-cluster) in dir with a fresh data directory, on client port
 * cport and peer port pport, its output appended to dir/<name>.log. Run
 * through setpriv --pdeathsig when there is one, so that etcd dies with
 * the test even if it crashes. Returns 0 with pids[m] and urls[m] set,
 * or -1.
 */
static int spawn_member(const char *dir, int m, const char *name,
			const char *cluster, int cport, int pport)
{
	char data[320], log[320], curl_[64], purl[64], file[80], name_[32],
	     cluster_[256];
	char a_setpriv[] = SETPRIV_BIN, a_pdeath[] = "--pdeathsig",
	     a_kill[] = "KILL", a_etcd[] = ETCD_BIN, a_name[] = "--name",
	     a_data[] = "--data-dir", a_lc[] = "--listen-client-urls",
	     a_ac[] = "--advertise-client-urls",
	     a_lp[] = "--listen-peer-urls",
	     a_ap[] = "--initial-advertise-peer-urls",
	     a_ic[] = "--initial-cluster", a_logger[] = "--logger=zap",
	     a_out[] = "--log-outputs=stderr", a_path[] = "PATH=/usr/bin:/bin";
	char *argv[] = { a_setpriv, a_pdeath, a_kill, a_etcd, a_name, name_,
			 a_data, data, a_lc, curl_, a_ac, curl_, a_lp, purl,
			 a_ap, purl, a_ic, cluster_, a_logger, a_out, NULL };
	char *envp[] = { a_path, NULL };
	char **args = argv;
	posix_spawn_file_actions_t fa;
	pid_t pid;
	int rc;

	snprintf(name_, sizeof(name_), "%s", name);
	snprintf(cluster_, sizeof(cluster_), "%s", cluster);
	snprintf(file, sizeof(file), "data-%s", name);
	t_path_in(data, sizeof(data), dir, file);
	t_rm_rf(data);
	snprintf(file, sizeof(file), "%s.log", name);
	t_path_in(log, sizeof(log), dir, file);
	snprintf(curl_, sizeof(curl_), "http://127.0.0.1:%d", cport);
	snprintf(purl, sizeof(purl), "http://127.0.0.1:%d", pport);
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
	pids[m] = pid;
	snprintf(urls[m], sizeof(urls[m]), "%s", curl_);
	return 0;
}

/* Waits until e's member has a leader: 0, 1 if one of members
 * first..first+n-1 exited, -1 at deadline. */
static int wait_leader(struct etcd *e, int first, int n, int64_t deadline)
{
	uint64_t member, leader;
	int i;

	while (now_ms() < deadline) {
		for (i = first; i < first + n; i++) {
			if (waitpid(pids[i], NULL, WNOHANG) == pids[i]) {
				pids[i] = -1;
				return 1;
			}
		}
		if (etcd_status(e, &member, &leader) == 0 && leader)
			return 0;
		sleep_ms(100);
	}
	return -1;
}

/*
 * Starts members first..first+n-1 of a new cluster (names tag1, tag2...)
 * and waits (START_MS at most) until the first has a leader. A start can
 * lose a race for its ports (a member exits at once): then again on new
 * ones, three times. Returns 0 with *e a client of the first (timeout
 * 1 s), or -1 with the members stopped.
 */
static int start_cluster(const char *dir, const char *tag, int first, int n,
			 struct etcd **e)
{
	int attempt, i, rc;

	*e = NULL;
	for (attempt = 0; attempt < 3; attempt++) {
		int64_t deadline = now_ms() + START_MS;
		int cports[MEMBERS], pports[MEMBERS], exited = 0, bad = 0;
		char cluster[256] = "", name[32];
		size_t len = 0;

		for (i = 0; i < n; i++) {
			cports[i] = free_port();
			pports[i] = free_port();
			bad |= cports[i] < 0 || pports[i] < 0;
			snprintf(name, sizeof(name), "%s%d", tag, i + 1);
			len += (size_t)snprintf(cluster + len,
						sizeof(cluster) - len,
						"%s%s=http://127.0.0.1:%d",
						i ? "," : "", name, pports[i]);
		}
		if (bad || len >= sizeof(cluster))
			continue;
		for (i = 0; i < n && !bad; i++) {
			snprintf(name, sizeof(name), "%s%d", tag, i + 1);
			bad = spawn_member(dir, first + i, name, cluster,
					   cports[i], pports[i]);
		}
		if (!bad && etcd_open(e, urls[first], 1000) == 0) {
			rc = wait_leader(*e, first, n, deadline);
			if (rc == 0)
				return 0;
			exited = rc > 0;
		}
		etcd_free(*e);
		*e = NULL;
		for (i = 0; i < n; i++)
			stop_member(first + i);
		fprintf(stderr, "etcd cluster %s on %s %s\n", tag, urls[first],
			exited ? "exited at once" : "did not answer");
		if (!exited)
			break;
	}
	return -1;
}

/* Prints the end of dir/<name>.log. */
static void print_log(const char *dir, const char *name)
{
	char log[320], file[80];
	unsigned char *text;
	size_t len, from;

	snprintf(file, sizeof(file), "%s.log", name);
	t_path_in(log, sizeof(log), dir, file);
	text = t_slurp(log, &len);
	from = len > 8000 ? len - 8000 : 0;
	fprintf(stderr, "the end of %s:\n%.*s\n", log, (int)(len - from),
		text ? (char *)text + from : "");
	free(text);
}

/* ---- the module's helpers ---- */

/* Byte j of round k of length len: every pair of values for lengths 1
 * and 2, random beyond. */
static unsigned char test_byte(size_t len, size_t j, long k, uint64_t *seed)
{
	if (len <= 2)
		return (unsigned char)(k >> (8 * j));
	return (unsigned char)t_rng_next(seed);
}

static void test_b64(void)
{
	static const char *const rfc[][2] = {
		{ "", "" }, { "f", "Zg==" }, { "fo", "Zm8=" },
		{ "foo", "Zm9v" }, { "foob", "Zm9vYg==" },
		{ "fooba", "Zm9vYmE=" }, { "foobar", "Zm9vYmFy" },
	};
	static const char *const bad[] = {
		"A", "AA", "AAA", "A===", "====", "AA=A", "=AAA", "AB==",
		"AAB=", "AA==AA==", "AA\nA", "-_AA", "AAA*",
	};
	unsigned char in[256];
	char enc[400], dec[400];
	uint64_t seed = 42;
	size_t i, len, n;
	int bad_rt[6] = { 0 }, rounds[6] = { 0 };

	for (i = 0; i < sizeof(rfc) / sizeof(rfc[0]); i++) {
		len = strlen(rfc[i][0]);
		CHECK(b64_len(len) == strlen(rfc[i][1]));
		b64_encode(rfc[i][0], len, enc);
		CHECK_STR(enc, rfc[i][1]);
		CHECK(b64_decode(rfc[i][1], strlen(rfc[i][1]), dec, &n) == 0);
		CHECK(n == len && memcmp(dec, rfc[i][0], len) == 0);
		CHECK(dec[n] == '\0');
	}
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		CHECKF(b64_decode(bad[i], strlen(bad[i]), dec, &n) == -EPROTO,
		       "\"%s\" decoded", bad[i]);
	/* every byte value at every position of lengths 1 and 2, random
	 * bytes for 3 to 5, nothing for 0 */
	for (len = 0; len <= 5; len++) {
		long k, count = len == 0 ? 1 : len == 1 ? 256 :
				len == 2 ? 65536 : 20000;

		for (k = 0; k < count; k++) {
			size_t j;

			for (j = 0; j < len; j++)
				in[j] = test_byte(len, j, k, &seed);
			b64_encode(in, len, enc);
			rounds[len]++;
			if (strlen(enc) != b64_len(len) ||
			    b64_decode(enc, strlen(enc), dec, &n) != 0 ||
			    n != len || memcmp(dec, in, len) != 0)
				bad_rt[len]++;
		}
		CHECKF(bad_rt[len] == 0 && rounds[len] == count,
		       "length %zu: %d of %d round trips wrong", len,
		       bad_rt[len], rounds[len]);
	}
	for (i = 0; i < 256; i++)
		in[i] = (unsigned char)i;
	b64_encode(in, 256, enc);
	CHECK(b64_decode(enc, strlen(enc), dec, &n) == 0 && n == 256 &&
	      memcmp(dec, in, 256) == 0);
}

static void check_end(const char *key, size_t keylen, const char *want,
		      size_t wantlen)
{
	char out[16];
	size_t n = 0;

	prefix_end(key, keylen, out, &n);
	CHECKF(n == wantlen && memcmp(out, want, n) == 0,
	       "range end of a %zu-byte key: %zu bytes", keylen, n);
}

static void test_prefix_end(void)
{
	check_end("a", 1, "b", 1);
	check_end("ab", 2, "ac", 2);
	check_end("a\xff", 2, "b", 1);
	check_end("ab\xff\xff", 4, "ac", 2);
	check_end("a\0", 2, "a\1", 2);
	check_end("\xfe", 1, "\xff", 1);
	check_end("\xff", 1, "\0", 1);
	check_end("\xff\xff\xff", 3, "\0", 1);
	check_end("", 0, "\0", 1);
}

static void test_open_bad(void)
{
	static const char *const bad[] = {
		"", "ftp://x", "http://a,,http://b", "http://", "http:///",
		"http://a,", ",http://a", "http://a b", "https://a", "a:2379",
		"http://a\n", "http:///x",
	};
	struct etcd *e = NULL;
	size_t i;

	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		e = (struct etcd *)1;
		CHECKF(etcd_open(&e, bad[i], 1000) == -EINVAL, "\"%s\"",
		       bad[i]);
		CHECK(e == NULL);
	}
	CHECK(etcd_open(&e, NULL, 1000) == -EINVAL);
	CHECK(etcd_open(&e, "http://a", 0) == -EINVAL);
	CHECK(etcd_open(&e, "HTTP://a:1//,http://b:2/x/", 1000) == 0);
	if (e) {
		CHECK_STR(etcd_endpoint(e), "HTTP://a:1");
		CHECK_STR(etcd_strerror(e), "");
		CHECK(e->nurls == 2);
		if (e->nurls == 2)
			CHECK_STR(e->urls[1], "http://b:2/x");
	}
	etcd_free(e);
	etcd_free(NULL);
}

/* ---- against etcd ---- */

/* Puts key = val (lease 0: none) in a transaction of its own. */
static int put(const char *key, size_t keylen, const char *val,
	       size_t vallen, int64_t lease)
{
	struct etcd_txn t;
	struct etcd_result r;
	int rc;

	etcd_txn_init(&t);
	etcd_txn_put(&t, true, key, keylen, val, vallen, lease);
	rc = etcd_txn_run(E, &t, &r);
	etcd_txn_release(&t);
	if (!rc && !r.succeeded)
		rc = -EIO;
	etcd_result_release(&r);
	return rc;
}

#define PUT(k, v) put(k, strlen(k), v, strlen(v), 0)

/* The one kv of key (r holds it), or NULL with r empty. */
static const struct etcd_kv *get1(const char *key, size_t keylen,
				  struct etcd_result *r)
{
	if (etcd_get(E, key, keylen, false, 0, false, r) != 0)
		return NULL;
	if (r->nranges != 1 || r->ranges[0].n != 1) {
		etcd_result_release(r);
		return NULL;
	}
	return &r->ranges[0].kvs[0];
}

static bool kv_is(const struct etcd_kv *kv, const char *key,
		  const char *val)
{
	return kv && kv->keylen == strlen(key) &&
	       memcmp(kv->key, key, kv->keylen) == 0 &&
	       kv->vallen == strlen(val) &&
	       memcmp(kv->value, val, kv->vallen) == 0 &&
	       kv->key[kv->keylen] == '\0' && kv->value[kv->vallen] == '\0';
}

static void test_put_get(void)
{
	struct etcd_txn t;
	struct etcd_result r;
	const struct etcd_kv *kv;
	int64_t rev;

	/* an empty transaction holds */
	etcd_txn_init(&t);
	CHECK_RC(etcd_txn_run(E, &t, &r), 0);
	CHECK(r.succeeded && r.nranges == 0 && r.revision >= 1);
	etcd_result_release(&r);
	etcd_txn_release(&t);
	/* a put then a get in one branch */
	etcd_txn_init(&t);
	CHECK_RC(etcd_txn_put(&t, true, "k1", 2, "v1", 2, 0), 0);
	CHECK_RC(etcd_txn_get(&t, true, "k1", 2, false), 0);
	CHECK_RC(etcd_txn_get(&t, true, "nothing", 7, false), 0);
	CHECK_RC(etcd_txn_run(E, &t, &r), 0);
	etcd_txn_release(&t);
	CHECK(r.succeeded && r.nranges == 2);
	rev = r.revision;
	if (r.nranges == 2) {
		CHECK(r.ranges[0].n == 1 && r.ranges[0].count == 1);
		if (r.ranges[0].n == 1) {
			kv = &r.ranges[0].kvs[0];
			CHECK(kv_is(kv, "k1", "v1"));
			CHECK(kv->version == 1 && kv->lease == 0);
			CHECK(kv->create_rev == rev && kv->mod_rev == rev);
		}
		CHECK(r.ranges[1].n == 0 && r.ranges[1].count == 0 &&
		      !r.ranges[1].more && r.ranges[1].kvs == NULL);
	}
	etcd_result_release(&r);
	CHECK(r.ranges == NULL && r.nranges == 0 && !r.succeeded);
	etcd_result_release(&r);
	/* read back alone; a second put is version 2 */
	kv = get1("k1", 2, &r);
	CHECK(kv_is(kv, "k1", "v1") && r.revision == rev);
	etcd_result_release(&r);
	CHECK_RC(PUT("k1", "v2"), 0);
	kv = get1("k1", 2, &r);
	CHECK(kv_is(kv, "k1", "v2"));
	CHECK(kv && kv->version == 2 && kv->create_rev == rev &&
	      kv->mod_rev == rev + 1);
	etcd_result_release(&r);
	/* an empty value */
	CHECK_RC(PUT("k0", ""), 0);
	kv = get1("k0", 2, &r);
	CHECK(kv_is(kv, "k0", ""));
	etcd_result_release(&r);
	/* etcd's refusals: an empty key, a key twice in one transaction */
	CHECK_RC(put("", 0, "x", 1, 0), -EINVAL);
	CHECK(strstr(etcd_strerror(E), "key is not provided") != NULL);
	etcd_txn_init(&t);
	etcd_txn_put(&t, true, "d", 1, "1", 1, 0);
	etcd_txn_put(&t, true, "d", 1, "2", 1, 0);
	CHECK_RC(etcd_txn_run(E, &t, &r), -EINVAL);
	CHECK(r.ranges == NULL && r.nranges == 0);
	etcd_txn_release(&t);
	/* ours: an enum out of range sticks to the transaction */
	etcd_txn_init(&t);
	CHECK_RC(etcd_txn_cmp(&t, "k1", 2, ETCD_VALUE, ETCD_EQUAL, 0),
		 -EINVAL);
	CHECK_RC(etcd_txn_put(&t, true, "k1", 2, "x", 1, 0), -EINVAL);
	CHECK_RC(etcd_txn_run(E, &t, &r), -EINVAL);
	etcd_txn_release(&t);
	etcd_txn_init(&t);
	CHECK_RC(etcd_txn_cmp(&t, "k1", 2, ETCD_MOD, (enum etcd_cmp)9, 0),
		 -EINVAL);
	etcd_txn_release(&t);
	CHECK_RC(etcd_get(E, "k1", 2, false, -1, false, &r), -EINVAL);
	CHECK(t.json == NULL && t.err == 0);
}

/* Runs "if key's version is 0 put key = val, else get key". */
static int create_if_absent(const char *key, const char *val,
			    struct etcd_result *r)
{
	struct etcd_txn t;
	int rc;

	etcd_txn_init(&t);
	etcd_txn_cmp(&t, key, strlen(key), ETCD_VERSION, ETCD_EQUAL, 0);
	etcd_txn_put(&t, true, key, strlen(key), val, strlen(val), 0);
	etcd_txn_get(&t, false, key, strlen(key), false);
	rc = etcd_txn_run(E, &t, r);
	etcd_txn_release(&t);
	return rc;
}

static void test_create_if_absent(void)
{
	struct etcd_result r;

	CHECK_RC(create_if_absent("lock", "first", &r), 0);
	CHECK(r.succeeded && r.nranges == 0);
	etcd_result_release(&r);
	CHECK_RC(create_if_absent("lock", "second", &r), 0);
	CHECK(!r.succeeded && r.nranges == 1);
	if (r.nranges == 1 && r.ranges[0].n == 1)
		CHECK(kv_is(&r.ranges[0].kvs[0], "lock", "first"));
	else
		CHECK(!"the failure branch's get");
	etcd_result_release(&r);
}

/* Runs one compare and says whether it held (-1: the run failed). */
static int holds(enum etcd_target target, const char *key, enum etcd_cmp c,
		 int64_t v)
{
	struct etcd_txn t;
	struct etcd_result r;
	int rc;

	etcd_txn_init(&t);
	etcd_txn_cmp(&t, key, strlen(key), target, c, v);
	rc = etcd_txn_run(E, &t, &r);
	etcd_txn_release(&t);
	rc = rc ? -1 : r.succeeded;
	etcd_result_release(&r);
	return rc;
}

static int value_holds(const char *key, enum etcd_cmp c, const char *val,
		       size_t vallen)
{
	struct etcd_txn t;
	struct etcd_result r;
	int rc;

	etcd_txn_init(&t);
	etcd_txn_cmp_value(&t, key, strlen(key), c, val, vallen);
	rc = etcd_txn_run(E, &t, &r);
	etcd_txn_release(&t);
	rc = rc ? -1 : r.succeeded;
	etcd_result_release(&r);
	return rc;
}

static void test_compares(void)
{
	struct etcd_txn t;
	struct etcd_result r;
	const struct etcd_kv *kv;
	int64_t mod = 0, create = 0;

	CHECK_RC(PUT("m", "1"), 0);
	kv = get1("m", 1, &r);
	CHECK(kv != NULL);
	if (kv) {
		mod = kv->mod_rev;
		create = kv->create_rev;
	}
	etcd_result_release(&r);
	/* a compare-and-swap on the mod revision: once, not twice */
	for (int i = 0; i < 2; i++) {
		etcd_txn_init(&t);
		etcd_txn_cmp(&t, "m", 1, ETCD_MOD, ETCD_EQUAL, mod);
		etcd_txn_put(&t, true, "m", 1, "2", 1, 0);
		CHECK_RC(etcd_txn_run(E, &t, &r), 0);
		CHECK(r.succeeded == (i == 0));
		etcd_result_release(&r);
		etcd_txn_release(&t);
	}
	kv = get1("m", 1, &r);
	CHECK(kv_is(kv, "m", "2") && kv->mod_rev > mod);
	etcd_result_release(&r);
	CHECK(holds(ETCD_MOD, "m", ETCD_GREATER, mod) == 1);
	CHECK(holds(ETCD_MOD, "m", ETCD_LESS, mod) == 0);
	CHECK(holds(ETCD_MOD, "m", ETCD_NOT_EQUAL, mod) == 1);
	CHECK(holds(ETCD_CREATE, "m", ETCD_EQUAL, create) == 1);
	CHECK(holds(ETCD_CREATE, "m", ETCD_LESS, create) == 0);
	CHECK(holds(ETCD_VERSION, "m", ETCD_EQUAL, 2) == 1);
	CHECK(holds(ETCD_VERSION, "m", ETCD_GREATER, 0) == 1);
	CHECK(holds(ETCD_VERSION, "absent", ETCD_EQUAL, 0) == 1);
	CHECK(holds(ETCD_CREATE, "absent", ETCD_EQUAL, 0) == 1);
	/* value compares, bytes with a NUL among them */
	CHECK_RC(put("v", 1, "ab\0c", 4, 0), 0);
	CHECK(value_holds("v", ETCD_EQUAL, "ab\0c", 4) == 1);
	CHECK(value_holds("v", ETCD_EQUAL, "ab", 2) == 0);
	CHECK(value_holds("v", ETCD_EQUAL, "ab\0d", 4) == 0);
	CHECK(value_holds("v", ETCD_NOT_EQUAL, "ab\0d", 4) == 1);
	CHECK(value_holds("v", ETCD_LESS, "ab\0d", 4) == 1);
	CHECK(value_holds("v", ETCD_GREATER, "ab\0d", 4) == 0);
	CHECK(value_holds("v", ETCD_GREATER, "ab", 2) == 1);
	CHECK_RC(PUT("v0", ""), 0);
	CHECK(value_holds("v0", ETCD_EQUAL, "", 0) == 1);
	CHECK(value_holds("v", ETCD_EQUAL, "", 0) == 0);
	/* two compares: both must hold */
	etcd_txn_init(&t);
	etcd_txn_cmp(&t, "m", 1, ETCD_VERSION, ETCD_EQUAL, 2);
	etcd_txn_cmp_value(&t, "v", 1, ETCD_EQUAL, "no", 2);
	etcd_txn_get(&t, false, "m", 1, false);
	CHECK_RC(etcd_txn_run(E, &t, &r), 0);
	CHECK(!r.succeeded && r.nranges == 1);
	etcd_result_release(&r);
	etcd_txn_release(&t);
}

static void test_prefix(void)
{
	static const char *const keys[] = { "p/3", "p/1", "p0", "p.", "p/2" };
	struct etcd_txn t;
	struct etcd_result r;
	struct etcd_range *g;
	size_t i;

	etcd_txn_init(&t);
	for (i = 0; i < 5; i++)
		etcd_txn_put(&t, true, keys[i], strlen(keys[i]), keys[i],
			     strlen(keys[i]), 0);
	CHECK_RC(etcd_txn_run(E, &t, &r), 0);
	etcd_result_release(&r);
	etcd_txn_release(&t);
	/* in key order, "p." and "p0" outside */
	CHECK_RC(etcd_get(E, "p/", 2, true, 0, false, &r), 0);
	g = r.nranges == 1 ? r.ranges : NULL;
	CHECK(g && g->n == 3 && g->count == 3 && !g->more);
	if (g && g->n == 3) {
		CHECK(kv_is(&g->kvs[0], "p/1", "p/1"));
		CHECK(kv_is(&g->kvs[1], "p/2", "p/2"));
		CHECK(kv_is(&g->kvs[2], "p/3", "p/3"));
	}
	etcd_result_release(&r);
	/* keys only */
	CHECK_RC(etcd_get(E, "p/", 2, true, 0, true, &r), 0);
	g = r.nranges == 1 ? r.ranges : NULL;
	CHECK(g && g->n == 3);
	if (g && g->n == 3)
		CHECK(kv_is(&g->kvs[1], "p/2", "") && g->kvs[1].version == 1);
	etcd_result_release(&r);
	/* a limit: the first two, all counted, more */
	CHECK_RC(etcd_get(E, "p/", 2, true, 2, false, &r), 0);
	g = r.nranges == 1 ? r.ranges : NULL;
	CHECK(g && g->n == 2 && g->count == 3 && g->more);
	if (g && g->n == 2)
		CHECK(kv_is(&g->kvs[1], "p/2", "p/2"));
	etcd_result_release(&r);
	CHECK_RC(etcd_get(E, "p/", 2, true, 3, false, &r), 0);
	CHECK(r.nranges == 1 && r.ranges[0].n == 3 && !r.ranges[0].more);
	etcd_result_release(&r);
	/* without prefix, the one key */
	CHECK_RC(etcd_get(E, "p/", 2, false, 0, false, &r), 0);
	CHECK(r.nranges == 1 && r.ranges[0].n == 0 && r.ranges[0].count == 0);
	etcd_result_release(&r);
	/* a transaction's prefix get, then its prefix delete */
	etcd_txn_init(&t);
	etcd_txn_get(&t, true, "p/", 2, true);
	etcd_txn_del(&t, true, "p/", 2, true);
	etcd_txn_get(&t, true, "p/", 2, true);
	CHECK_RC(etcd_txn_run(E, &t, &r), 0);
	etcd_txn_release(&t);
	CHECK(r.succeeded && r.nranges == 2);
	if (r.nranges == 2) {
		CHECK(r.ranges[0].n == 3 && r.ranges[0].count == 3);
		if (r.ranges[0].n == 3)
			CHECK(kv_is(&r.ranges[0].kvs[2], "p/3", "p/3"));
		CHECK(r.ranges[1].n == 0 && r.ranges[1].count == 0);
	}
	etcd_result_release(&r);
	CHECK_RC(etcd_get(E, "p", 1, true, 0, true, &r), 0);
	CHECK(r.nranges == 1 && r.ranges[0].n == 2);
	if (r.nranges == 1 && r.ranges[0].n == 2) {
		CHECK(kv_is(&r.ranges[0].kvs[0], "p.", ""));
		CHECK(kv_is(&r.ranges[0].kvs[1], "p0", ""));
	}
	etcd_result_release(&r);
	/* a delete of one key */
	etcd_txn_init(&t);
	etcd_txn_del(&t, true, "p.", 2, false);
	CHECK_RC(etcd_txn_run(E, &t, &r), 0);
	etcd_result_release(&r);
	etcd_txn_release(&t);
	CHECK(get1("p.", 2, &r) == NULL);
	CHECK(get1("p0", 2, &r) != NULL);
	etcd_result_release(&r);
}

/* etcd_get_last: the greatest key of [key, end), or none. */
static void test_get_last(void)
{
	static const char *const keys[] = { "gl/03", "gl/07", "gl/12" };
	struct etcd_txn t;
	struct etcd_result r;
	size_t i;

	etcd_txn_init(&t);
	for (i = 0; i < 3; i++)
		etcd_txn_put(&t, true, keys[i], strlen(keys[i]), keys[i],
			     strlen(keys[i]), 0);
	CHECK_RC(etcd_txn_run(E, &t, &r), 0);
	etcd_result_release(&r);
	etcd_txn_release(&t);
	/* at or before l/09: l/07 */
	CHECK_RC(etcd_get_last(E, "gl/", 3, "gl/09\0", 6, &r), 0);
	CHECK(r.nranges == 1 && r.ranges[0].n == 1 &&
	      !strcmp(r.ranges[0].kvs[0].key, "gl/07") &&
	      !strcmp(r.ranges[0].kvs[0].value, "gl/07"));
	etcd_result_release(&r);
	/* at or before l/07 itself: l/07 (end is past it) */
	CHECK_RC(etcd_get_last(E, "gl/", 3, "gl/07\0", 6, &r), 0);
	CHECK(r.nranges == 1 && r.ranges[0].n == 1 &&
	      !strcmp(r.ranges[0].kvs[0].key, "gl/07"));
	etcd_result_release(&r);
	/* before the first: none */
	CHECK_RC(etcd_get_last(E, "gl/", 3, "gl/02\0", 6, &r), 0);
	CHECK(r.nranges == 1 && r.ranges[0].n == 0);
	etcd_result_release(&r);
}

static void test_binary(void)
{
	char all[256], key[3] = { '\0', 'k', '\0' };
	char hi1[2] = { 'q', '\xff' }, hi2[3] = { 'q', '\xff', '\1' };
	char ff1[2] = { '\xff', '\xff' }, ff2[3] = { '\xff', '\xff', '\5' };
	struct etcd_result r;
	const struct etcd_kv *kv;
	size_t i;

	for (i = 0; i < 256; i++)
		all[i] = (char)i;
	/* a key and a value with NULs; every byte value, as key and value */
	CHECK_RC(put(key, 3, all, 256, 0), 0);
	kv = get1(key, 3, &r);
	CHECK(kv && kv->keylen == 3 && memcmp(kv->key, key, 3) == 0 &&
	      kv->vallen == 256 && memcmp(kv->value, all, 256) == 0 &&
	      kv->value[256] == '\0');
	etcd_result_release(&r);
	CHECK(get1(key, 2, &r) == NULL);
	CHECK_RC(put(all, 256, key, 3, 0), 0);
	kv = get1(all, 256, &r);
	CHECK(kv && kv->keylen == 256 && memcmp(kv->key, all, 256) == 0 &&
	      kv->vallen == 3 && memcmp(kv->value, key, 3) == 0);
	etcd_result_release(&r);
	/* the lengths 0 to 5 of every byte value, through etcd's base64 */
	for (i = 0; i < 256; i++) {
		char k[2] = { 'b', (char)i };
		char v[5];
		size_t len = i % 6, j;
		bool ok;

		for (j = 0; j < len; j++)
			v[j] = (char)(i + j * 85);
		ok = put(k, 2, v, len, 0) == 0;
		kv = ok ? get1(k, 2, &r) : NULL;
		ok = kv && kv->vallen == len && memcmp(kv->value, v, len) == 0;
		etcd_result_release(&r);
		if (!ok) {
			CHECKF(ok, "byte %zu", i);
			break;
		}
	}
	CHECK_RC(etcd_get(E, "b", 1, true, 0, true, &r), 0);
	CHECK(r.nranges == 1 && r.ranges[0].count == 256);
	etcd_result_release(&r);
	/* prefixes ending in 0xff */
	CHECK_RC(put(hi1, 2, "1", 1, 0), 0);
	CHECK_RC(put(hi2, 3, "2", 1, 0), 0);
	CHECK_RC(PUT("r", "3"), 0);
	CHECK_RC(etcd_get(E, hi1, 2, true, 0, false, &r), 0);
	CHECK(r.nranges == 1 && r.ranges[0].n == 2);
	if (r.nranges == 1 && r.ranges[0].n == 2)
		CHECK(r.ranges[0].kvs[1].keylen == 3 &&
		      memcmp(r.ranges[0].kvs[1].key, hi2, 3) == 0);
	etcd_result_release(&r);
	CHECK_RC(put(ff1, 2, "1", 1, 0), 0);
	CHECK_RC(put(ff2, 3, "2", 1, 0), 0);
	CHECK_RC(etcd_get(E, ff1, 2, true, 0, false, &r), 0);
	CHECK(r.nranges == 1 && r.ranges[0].n == 2);
	etcd_result_release(&r);
	/* the prefix "\0": the 256 bytes "\0\1..." before "\0k\0" */
	CHECK_RC(etcd_get(E, "", 1, true, 0, true, &r), 0);
	CHECK(r.nranges == 1 && r.ranges[0].n == 2);
	if (r.nranges == 1 && r.ranges[0].n == 2)
		CHECK(r.ranges[0].kvs[0].keylen == 256 &&
		      r.ranges[0].kvs[1].keylen == 3);
	etcd_result_release(&r);
}

static void test_leases(void)
{
	struct etcd_result r;
	int64_t id = 0, granted = 0, ttl = 0, id2 = 0;

	CHECK_RC(etcd_lease_grant(E, 30, &id, &granted), 0);
	CHECK(id != 0 && granted == 30);
	CHECK_RC(put("l/a", 3, "1", 1, id), 0);
	CHECK_RC(put("l/b", 3, "2", 1, id), 0);
	CHECK_RC(PUT("l/c", "3"), 0);
	CHECK_RC(etcd_get(E, "l/", 2, true, 0, false, &r), 0);
	CHECK(r.nranges == 1 && r.ranges[0].n == 3);
	if (r.nranges == 1 && r.ranges[0].n == 3)
		CHECK(r.ranges[0].kvs[0].lease == id &&
		      r.ranges[0].kvs[1].lease == id &&
		      r.ranges[0].kvs[2].lease == 0);
	etcd_result_release(&r);
	CHECK_RC(etcd_lease_keepalive(E, id, &ttl), 0);
	CHECK(ttl > 0 && ttl <= 30);
	/* a second lease, untouched by the first's revoke */
	CHECK_RC(etcd_lease_grant(E, 60, &id2, &granted), 0);
	CHECK(id2 != 0 && id2 != id && granted == 60);
	CHECK_RC(etcd_lease_revoke(E, id), 0);
	CHECK_RC(etcd_get(E, "l/", 2, true, 0, false, &r), 0);
	CHECK(r.nranges == 1 && r.ranges[0].n == 1);
	if (r.nranges == 1 && r.ranges[0].n == 1)
		CHECK(kv_is(&r.ranges[0].kvs[0], "l/c", "3"));
	etcd_result_release(&r);
	/* gone: -ENOENT, also for a put that names it */
	ttl = 7;
	CHECK_RC(etcd_lease_keepalive(E, id, &ttl), -ENOENT);
	CHECK(strstr(etcd_strerror(E), "lease not found") != NULL);
	CHECK_RC(etcd_lease_revoke(E, id), -ENOENT);
	CHECK(strstr(etcd_strerror(E), "requested lease not found") != NULL);
	CHECK_RC(put("l/d", 3, "4", 1, id), -ENOENT);
	CHECK_RC(etcd_lease_keepalive(E, 12345, &ttl), -ENOENT);
	CHECK_RC(etcd_lease_revoke(E, 12345), -ENOENT);
	CHECK_RC(etcd_lease_keepalive(E, id2, &ttl), 0);
	CHECK(ttl > 30 && ttl <= 60);
	CHECK_RC(etcd_lease_revoke(E, id2), 0);
	/* ours and etcd's refusals of a TTL */
	CHECK_RC(etcd_lease_grant(E, 0, &id, &granted), -EINVAL);
	CHECK_RC(etcd_lease_grant(E, -5, &id, &granted), -EINVAL);
	CHECK_RC(etcd_lease_grant(E, INT64_C(1) << 40, &id, &granted),
		 -EINVAL);
	CHECK(strstr(etcd_strerror(E), "too large lease TTL") != NULL);
	/* a short lease: etcd raises it to its minimum */
	CHECK_RC(etcd_lease_grant(E, 1, &id, &granted), 0);
	CHECK(granted >= 1 && granted <= 5);
	CHECK_RC(etcd_lease_revoke(E, id), 0);
}

static void test_status(void)
{
	uint64_t member = 0, leader = 0;

	CHECK_RC(etcd_status(E, &member, &leader), 0);
	CHECK(member != 0 && leader == member);
	CHECK_STR(etcd_endpoint(E), url);
	CHECK_STR(etcd_strerror(E), "");
}

static void test_failover(void)
{
	char list[200];
	struct etcd *e = NULL;
	uint64_t member, leader;
	int dead = free_port();
	char dead_url[64];

	snprintf(dead_url, sizeof(dead_url), "http://127.0.0.1:%d", dead);
	snprintf(list, sizeof(list), "%s,%s", dead_url, url);
	CHECK_RC(etcd_open(&e, list, 1000), 0);
	if (!e)
		return;
	CHECK_STR(etcd_endpoint(e), dead_url);
	CHECK_RC(etcd_status(e, &member, &leader), 0);
	CHECK_STR(etcd_endpoint(e), url);
	/* the dead one's failure is kept for the log */
	CHECK(strncmp(etcd_strerror(e), dead_url, strlen(dead_url)) == 0);
	/* then the one that answered is asked first */
	CHECK_RC(etcd_status(e, &member, &leader), 0);
	CHECK_STR(etcd_endpoint(e), url);
	CHECK_STR(etcd_strerror(e), "");
	etcd_free(e);
}

static void test_all_dead(void)
{
	char list[200], silent_url[64];
	struct etcd *e = NULL;
	struct etcd_result r;
	struct etcd_txn t;
	int64_t t0, ms, id, ttl;
	int port = 0, fd = listen_any(&port), dead = free_port();

	/* one refuses connections; one accepts them (the kernel does) but
	 * never answers, as a member without quorum holds a request */
	CHECK(fd >= 0);
	if (fd < 0)
		return;
	snprintf(silent_url, sizeof(silent_url), "http://127.0.0.1:%d", port);
	snprintf(list, sizeof(list), "http://127.0.0.1:%d,%s", dead,
		 silent_url);
	CHECK_RC(etcd_open(&e, list, 300), 0);
	if (!e) {
		close(fd);
		return;
	}
	t0 = now_ms();
	CHECK_RC(etcd_get(e, "k1", 2, false, 0, false, &r), -EAGAIN);
	ms = now_ms() - t0;
	CHECKF(ms >= 290 && ms < 2 * 300 + 1000, "%lld ms",
	       (long long)ms);
	CHECK(r.nranges == 0 && r.ranges == NULL);
	CHECK_STR(etcd_endpoint(e), silent_url);
	CHECK(strstr(etcd_strerror(e), "imeout") ||
	      strstr(etcd_strerror(e), "imed out"));
	etcd_txn_init(&t);
	etcd_txn_put(&t, true, "x", 1, "y", 1, 0);
	CHECK_RC(etcd_txn_run(e, &t, &r), -EAGAIN);
	etcd_txn_release(&t);
	CHECK_RC(etcd_lease_grant(e, 5, &id, &ttl), -EAGAIN);
	CHECK_RC(etcd_lease_keepalive(e, 1, &ttl), -EAGAIN);
	CHECK_RC(etcd_lease_revoke(e, 1), -EAGAIN);
	etcd_free(e);
	close(fd);
}

/* ---- a fake member: canned answers ---- */

struct fake {
	int fd;
	const char *const *answers;	/* NULL-terminated */
};

/* Reads one request (headers, then Content-Length bytes) from c. */
static void read_request(int c)
{
	char buf[8192];
	size_t len = 0;
	long body = -1;
	char *end;

	for (;;) {
		ssize_t n = read(c, buf + len, sizeof(buf) - 1 - len);

		if (n <= 0)
			return;
		len += (size_t)n;
		buf[len] = '\0';
		end = strstr(buf, "\r\n\r\n");
		if (end && body < 0) {
			char *cl = strcasestr(buf, "Content-Length:");

			body = cl ? strtol(cl + 15, NULL, 10) : 0;
		}
		if (end && (long)(len - (size_t)(end + 4 - buf)) >= body)
			return;
		if (len == sizeof(buf) - 1)
			return;
	}
}

static void *fake_run(void *arg)
{
	struct fake *f = arg;
	size_t i;

	for (i = 0; f->answers[i]; i++) {
		int c = accept(f->fd, NULL, NULL);

		if (c < 0)
			break;
		read_request(c);
		if (write(c, f->answers[i], strlen(f->answers[i])) < 0)
			perror("fake write");
		close(c);
	}
	return NULL;
}

static void test_fake(void)
{
	static const char *const canned[][2] = {
		{ "200 OK", "hello" },
		{ "404 Not Found", "Not Found" },
		{ "403 Forbidden",
		  "{\"error\":\"etcdserver: permission denied\",\"code\":7}" },
		{ "503 Service Unavailable",
		  "{\"error\":\"etcdserver: no leader\",\"code\":14}" },
		{ "503 Service Unavailable",
		  "{\"error\":\"etcdserver: request timed out\"}" },
		{ "500 Internal Server Error",
		  "{\"error\":\"etcdserver: leader changed\",\"code\":2}" },
		{ "502 Bad Gateway", "<html>down</html>" },
		{ "200 OK", "{\"error\":{\"grpc_code\":14,"
			    "\"message\":\"etcdserver: no leader\"}}" },
		{ "200 OK", "{\"header\":{\"revision\":\"x\"}}" },
		{ "200 OK", "{\"header\":{\"revision\":\"3\"},"
			    "\"kvs\":[{\"key\":\"a\"}]}" },
		{ "200 OK", "[1]" },
	};
	enum { N = sizeof(canned) / sizeof(canned[0]) };
	static char answers[N][512];
	static const char *ptrs[N + 1];
	struct fake f;
	pthread_t th;
	char list[200], fake_url[64];
	struct etcd *e = NULL;
	struct etcd_result r;
	uint64_t member, leader;
	int64_t ttl;
	size_t i;
	int port = 0, started;

	for (i = 0; i < N; i++) {
		snprintf(answers[i], sizeof(answers[i]),
			 "HTTP/1.1 %s\r\nConnection: close\r\n"
			 "Content-Type: application/json\r\n"
			 "Content-Length: %zu\r\n\r\n%s", canned[i][0],
			 strlen(canned[i][1]), canned[i][1]);
		ptrs[i] = answers[i];
	}
	ptrs[N] = NULL;
	f.fd = listen_any(&port);
	f.answers = ptrs;
	CHECK(f.fd >= 0);
	if (f.fd < 0)
		return;
	snprintf(fake_url, sizeof(fake_url), "http://127.0.0.1:%d", port);
	snprintf(list, sizeof(list), "%s,%s", fake_url, url);
	started = pthread_create(&th, NULL, fake_run, &f) == 0;
	CHECK(started);
	CHECK_RC(etcd_open(&e, list, 2000), 0);
	if (!started || !e)
		goto out;
	/* the fake is asked first each time: e->cur is set back to it */
	/* 1, 2: not JSON, not etcd's */
	CHECK_RC(etcd_status(e, &member, &leader), -EPROTO);
	CHECK_STR(etcd_endpoint(e), fake_url);
	CHECK(strstr(etcd_strerror(e), "HTTP 200, not JSON") != NULL);
	CHECK_RC(etcd_status(e, &member, &leader), -EPROTO);
	/* 3: another error of etcd's */
	CHECK_RC(etcd_status(e, &member, &leader), -EIO);
	CHECK(strstr(etcd_strerror(e), "permission denied") != NULL);
	/* 4 to 7: "ask another member", which answers */
	for (i = 0; i < 4; i++) {
		e->cur = 0;
		CHECK_RC(etcd_status(e, &member, &leader), 0);
		CHECK_STR(etcd_endpoint(e), url);
		CHECK(strncmp(etcd_strerror(e), fake_url,
			      strlen(fake_url)) == 0);
	}
	/* 8: a streaming call's error, "ask another", which says the
	 * lease is unknown */
	e->cur = 0;
	CHECK_RC(etcd_lease_keepalive(e, 1, &ttl), -ENOENT);
	CHECK_STR(etcd_endpoint(e), url);
	/* 9 to 11: JSON, but not a range's answer */
	for (i = 0; i < 3; i++) {
		e->cur = 0;
		CHECK_RC(etcd_get(e, "a", 1, false, 0, false, &r), -EPROTO);
		CHECK(r.ranges == NULL);
	}
out:
	etcd_free(e);
	/* a listening socket shut down makes accept fail: the thread ends
	 * even if a request it waits for was never made */
	shutdown(f.fd, SHUT_RDWR);
	if (started)
		pthread_join(th, NULL);
	close(f.fd);
}

/*
 * A cluster of two loses one member: the other has no quorum, holds
 * reads and writes for its own 7 s, and answers status without a
 * leader. The client gives up after its timeout with -EAGAIN, and with
 * a second endpoint goes on to it.
 */
static void test_no_quorum(const char *dir)
{
	struct etcd *q = NULL, *two = NULL;
	struct etcd_result r;
	struct etcd_txn t;
	uint64_t member = 0, leader = 1;
	int64_t t0, ms, id, ttl, deadline;
	char list[200];
	int rc;

	if (start_cluster(dir, "q", 1, 2, &q) != 0) {
		print_log(dir, "q1");
		print_log(dir, "q2");
		CHECK(!"a cluster of two started");
		return;
	}
	/* with both members a write goes through */
	etcd_txn_init(&t);
	etcd_txn_put(&t, true, "a", 1, "a", 1, 0);
	CHECK_RC(etcd_txn_run(q, &t, &r), 0);
	CHECK(r.succeeded);
	etcd_result_release(&r);
	etcd_txn_release(&t);
	stop_member(2);
	etcd_free(q);
	CHECK_RC(etcd_open(&q, urls[1], 500), 0);
	if (!q)
		goto out;
	/* the member may need its election timeout to see it has no
	 * leader, and says so then */
	deadline = now_ms() + 10000;
	do {
		rc = etcd_status(q, &member, &leader);
		if (rc || leader)
			sleep_ms(200);
	} while ((rc || leader) && now_ms() < deadline);
	CHECK_RC(rc, 0);
	CHECK(member != 0 && leader == 0);
	t0 = now_ms();
	CHECK_RC(etcd_get(q, "a", 1, false, 0, false, &r), -EAGAIN);
	etcd_txn_init(&t);
	etcd_txn_put(&t, true, "a", 1, "b", 1, 0);
	CHECK_RC(etcd_txn_run(q, &t, &r), -EAGAIN);
	etcd_txn_release(&t);
	CHECK_RC(etcd_lease_grant(q, 5, &id, &ttl), -EAGAIN);
	CHECK_RC(etcd_lease_keepalive(q, 1, &ttl), -EAGAIN);
	ms = now_ms() - t0;
	CHECKF(ms >= 4 * 490 && ms < 4 * 500 + 2000,
	       "4 requests of 500 ms: %lld ms", (long long)ms);
	/* the next endpoint answers (another cluster's, but it answers) */
	snprintf(list, sizeof(list), "%s,%s", urls[1], url);
	CHECK_RC(etcd_open(&two, list, 500), 0);
	if (!two)
		goto out;
	t0 = now_ms();
	CHECK_RC(etcd_get(two, "a", 1, false, 0, false, &r), 0);
	ms = now_ms() - t0;
	etcd_result_release(&r);
	CHECKF(ms >= 490 && ms < 500 + 1500, "%lld ms", (long long)ms);
	CHECK_STR(etcd_endpoint(two), url);
	CHECK(strncmp(etcd_strerror(two), urls[1], strlen(urls[1])) == 0);
out:
	etcd_free(two);
	etcd_free(q);
	stop_member(1);
}

static void test_against_etcd(void)
{
	struct etcd_result r;
	struct etcd_txn t;

	test_status();
	test_put_get();
	test_create_if_absent();
	test_compares();
	test_prefix();
	test_get_last();
	test_binary();
	test_leases();
	test_failover();
	test_fake();
	/* the empty prefix is every key */
	etcd_txn_init(&t);
	etcd_txn_del(&t, true, "", 0, true);
	CHECK_RC(etcd_txn_run(E, &t, &r), 0);
	etcd_result_release(&r);
	etcd_txn_release(&t);
	CHECK_RC(etcd_get(E, "", 0, true, 0, false, &r), 0);
	CHECK(r.nranges == 1 && r.ranges[0].count == 0);
	etcd_result_release(&r);
}

int main(void)
{
	const char *req = getenv("UNIQ_REQUIRE_ETCD");
	const char *dir;
	struct sigaction sa;
	int rc;

	test_b64();
	test_prefix_end();
	test_open_bad();
	test_all_dead();
	if (access(ETCD_BIN, X_OK) != 0) {
		if (req && strcmp(req, "1") == 0) {
			fprintf(stderr, "%s missing and UNIQ_REQUIRE_ETCD=1\n",
				ETCD_BIN);
			return 1;
		}
		fprintf(stderr, "%s missing: skipped\n", ETCD_BIN);
		return t_failed ? 1 : 77;
	}
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_signal;
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGHUP, &sa, NULL);
	dir = t_tmpdir();
	if (start_cluster(dir, "main", 0, 1, &E) != 0) {
		print_log(dir, "main1");
		CHECK(!"etcd started");
		goto out;
	}
	test_against_etcd();
	test_no_quorum(dir);
out:
	etcd_free(E);
	for (rc = 0; rc < MEMBERS; rc++)
		stop_member(rc);
	t_rm_rf(dir);
	rc = t_done("etcd");
	return rc;
}
