/*
 * main.c: the uniqd server: reads the configuration, opens the data
 * directory, starts the refill threads and the HTTP server, and stops them
 * cleanly on SIGTERM or SIGINT.
 *
 * DESIGN (threads of the process)
 *   main thread    start-up, then sigwait(); on a signal, the shutdown below
 *   HTTP threads   libmicrohttpd's pool (server/http.c); pop from hoppers,
 *                  submit ids, leases and redemptions to the committer
 *                  and suspend those requests (server/api_route.h)
 *   guard          closes connections past their head or body deadline,
 *                  and writes the tally of client trouble (server/guard.h)
 *   refill threads a taker and a filler per serving shard, and one
 *                  sweeper (refill/refill.h); takers resume the draws
 *                  that wait for values, the sweeper those whose
 *                  draw_wait_ms is up (pools/waitlist.h)
 *   committer      group commit of sequence ids, leases and redemptions,
 *                  and the periodic ticks (purges, lease expiry)
 *                  (ledger/committer.h); it resumes the requests it has
 *                  committed
 *   job workers    one per code pool: bulk code jobs (pools/codegen.h)
 *   cluster        with --etcd: the session thread (cluster/cluster.h),
 *                  the reserver, which reserves blocks of the random
 *                  pools' indices ahead of need (cluster/reserve.h), and
 *                  the ask threads (ASK_THREADS), which ask etcd what
 *                  a lookup needs and do the lease pools' operations
 *                  (pools/clease.h), and resume their requests
 *                  (cluster/ask.h)
 *   code helpers   short-lived: codepool_issue (pools/codepool.c)
 *                  computes half of a large batch of codes on a thread of
 *                  its own, and joins it before it returns; started by
 *                  whoever issues codes: a filler, a job worker, or this
 *                  thread while it primes the hoppers (refill_start)
 * Shutdown order, each step complete before the next:
 *   1. http_quiesce: no new connections; waitlist_close: draws waiting
 *      for values are resumed and answered, later ones answered at once;
 *   2. http_drain: up to 2 s for requests under way, suspended ones
 *      included (the committer still runs and resumes them);
 *   3. committer_stop (and ask_stop): what is queued is committed (or
 *      done in etcd) and answered; later submissions are answered 503
 *      at once; a short drain again;
 *   4. http_stop: connections closed, no thread pops from a hopper any
 *      more; then committer_free (HTTP threads used it until here);
 *   5. codegen_stop: code jobs stop at a commit boundary (and go on at the
 *      next start); refill_stop: refill threads too; reserve_stop;
 *   6. rpool_put_back: unsent values go back to their shards (committed);
 *   7. close every LMDB environment; cluster_stop ends the session.
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cluster/ask.h"
#include "cluster/cluster.h"
#include "cluster/reserve.h"
#include "common/config.h"
#include "common/fdlimit.h"
#include "common/log.h"
#include "common/parse.h"
#include "ledger/committer.h"
#include "pools/lease.h"
#include "pools/seq.h"
#include "pools/codegen.h"
#include "pools/pools.h"
#include "refill/refill.h"
#include "server/api.h"
#include "server/http.h"
#include "server/metrics.h"
#include "common/banned.h"

#define MAX_BODY (64 * 1024)

static const char usage[] =
"usage: uniqd [--config FILE] [--listen ADDR:PORT] [--data-dir DIR]\n"
"             [--threads N] [--access-log[=routes|paths]] [--quiet]\n"
"             [--etcd URL[,URL...] [--node NAME]]\n"
"\n"
"Serves values that are never handed out twice, from every pool of its\n"
"configuration, across threads, restarts and kill -9.\n"
"\n"
"Options:\n"
"  --config FILE      JSON configuration (see README.md). Without one, the\n"
"                     built-in pools: \"int\" [0, 2^53-1], \"float\"\n"
"                     [0, 1e6) with 6 decimals, \"codes\" (#####-#####),\n"
"                     \"orders\" (YYYYMMDD-nnnnn, UTC), \"users\" (leases of\n"
"                     [10000, 20000), or RANGE_START/RANGE_AMOUNT)\n"
"  --listen ADDR:PORT address to listen on (default 127.0.0.1:8000; port 0\n"
"                     picks a free port). Any address other than loopback\n"
"                     needs an admin token\n"
"  --data-dir DIR     where the ledger and shards live (default ./uniqd-data)\n"
"  --threads N        HTTP worker threads, 1 to 256 (default: one per CPU)\n"
"  --access-log[=routes|paths]\n"
"                     one line per request on stderr: client, method,\n"
"                     route, status, time. \"routes\" (the default) writes\n"
"                     the route's pattern (/pools/*/values/*), so no value\n"
"                     reaches the log; \"paths\" writes the path as asked\n"
"  --quiet            log warnings and errors only (and the access log,\n"
"                     if asked)\n"
"  --etcd URL,...     be a node of the cluster kept on these etcd members\n"
"                     (config \"etcd\"): nodes serve the same int, float,\n"
"                     sequence and lease pools and never one value twice\n"
"                     (docs/CLUSTER.md)\n"
"  --node NAME        this node's name in the cluster (config \"node\";\n"
"                     default: the host name); one process per name\n"
"  --help, --version\n"
"\n"
"Environment:\n"
"  UNIQD_ADMIN_TOKEN  the admin token (Authorization: Bearer TOKEN) for\n"
"                     the admin routes, 8 to 256 characters; overrides\n"
"                     the config's \"admin_token\" (empty: unset).\n"
"                     Without one, admin routes are open, and uniqd\n"
"                     refuses to listen beyond loopback\n"
"  RANGE_START, RANGE_AMOUNT  the range of the lease pool \"users\"\n"
"\n"
"Routes (docs/API.md has the whole contract):\n"
"  GET  /random[?type=int|float][&count=N]    a value of pool int or float\n"
"  GET  /pools, GET /pools/NAME               pools: capacity, issued, fill\n"
"  POST /pools/NAME/next[?count=N]            N values of any drawn pool\n"
"  GET  /pools/NAME/values/VALUE              was it issued, and when\n"
"  GET  /pools/NAME/capacity[?prefix=P]       codes left under a prefix\n"
"  POST /pools/NAME/values/CODE/redeem        redeem a code once\n"
"  POST /pools/NAME/jobs {count, prefix}      bulk codes (admin)\n"
"  GET  /jobs, GET /jobs/ID, GET /jobs/ID/codes.csv   jobs and their file\n"
"  POST /orders, GET /orders                  next order id; an order page\n"
"  POST /pools/NAME/leases, GET /pools/NAME/leases    borrow; list\n"
"  DELETE /pools/NAME/leases/N, POST .../N/renew      return; renew\n"
"  POST /pools/NAME/reset                     return every lease (admin)\n"
"  GET  /check, GET /checked, POST /return, GET /reset  seed 001's routes\n"
"  GET  /healthz, GET /metrics (Prometheus), GET / (the admin page)\n"
"\n"
"Errors are JSON: {\"error\": \"code\", \"message\": \"...\"} with the\n"
"status that fits (400, 401, 404, 405, 409, 413, 503 with Retry-After).\n"
"\n"
"Signals: SIGTERM or SIGINT stop cleanly: requests in flight finish and\n"
"unsent values go back to their shards. After kill -9, values taken into\n"
"memory are burned (never issued again), never issued twice.\n"
"\n"
"See also: uniqctl --help (init, status, lookup, verify, codes generate).\n";

struct args {
	const char *config;
	const char *listen;
	const char *data_dir;
	const char *threads;
	const char *etcd;
	const char *node;
	enum metrics_log access_log;
	bool quiet;
};

static int parse_args(int argc, char **argv, struct args *a)
{
	static const struct option opts[] = {
		{ "config", required_argument, NULL, 'c' },
		{ "listen", required_argument, NULL, 'l' },
		{ "data-dir", required_argument, NULL, 'd' },
		{ "threads", required_argument, NULL, 't' },
		{ "quiet", no_argument, NULL, 'q' },
		{ "access-log", optional_argument, NULL, 'a' },
		{ "etcd", required_argument, NULL, 'E' },
		{ "node", required_argument, NULL, 'N' },
		{ "help", no_argument, NULL, 'h' },
		{ "version", no_argument, NULL, 'V' },
		{ NULL, 0, NULL, 0 },
	};
	int c;

	memset(a, 0, sizeof(*a));
	while ((c = getopt_long(argc, argv, "c:l:d:t:qhV", opts, NULL)) != -1) {
		switch (c) {
		case 'c': a->config = optarg; break;
		case 'l': a->listen = optarg; break;
		case 'd': a->data_dir = optarg; break;
		case 't': a->threads = optarg; break;
		case 'q': a->quiet = true; break;
		case 'E': a->etcd = optarg; break;
		case 'N': a->node = optarg; break;
		case 'a':
			if (!optarg || !strcmp(optarg, "routes")) {
				a->access_log = METRICS_LOG_ROUTES;
			} else if (!strcmp(optarg, "paths")) {
				a->access_log = METRICS_LOG_PATHS;
			} else {
				fprintf(stderr, "uniqd: --access-log takes "
					"\"routes\" or \"paths\", not "
					"\"%s\"\n", optarg);
				return -EINVAL;
			}
			break;
		case 'h': fputs(usage, stdout); exit(0);
		case 'V': puts("uniqd " UNIQD_VERSION); exit(0);
		default: fputs(usage, stderr); return -EINVAL;
		}
	}
	if (optind < argc) {
		fprintf(stderr, "uniqd: unexpected argument \"%s\"\n%s",
			argv[optind], usage);
		return -EINVAL;
	}
	return 0;
}

/* Applies the file and the command line over the defaults. */
static int load_config(const struct args *a, struct config *cfg)
{
	char err[512];
	const char *tok;
	uint64_t n;
	int rc;

	rc = config_default(cfg);
	if (rc)
		return rc;
	if (a->config && (rc = config_load_file(cfg, a->config, err,
						sizeof(err)))) {
		log_error("%s: %s", a->config, err);
		return rc;
	}
	if (a->listen && parse_listen(a->listen, cfg->listen_host,
				      sizeof(cfg->listen_host), &cfg->port)) {
		log_error("--listen must be ADDR:PORT, such as 127.0.0.1:8000");
		return -EINVAL;
	}
	if (a->data_dir) {
		if (!*a->data_dir || strlen(a->data_dir) >= sizeof(cfg->data_dir)) {
			log_error("--data-dir must be a non-empty path");
			return -EINVAL;
		}
		snprintf(cfg->data_dir, sizeof(cfg->data_dir), "%s",
			 a->data_dir);
	}
	if (a->etcd) {
		if (!*a->etcd || strlen(a->etcd) >= sizeof(cfg->etcd)) {
			log_error("--etcd must be etcd client URLs, "
				  "comma-separated");
			return -EINVAL;
		}
		snprintf(cfg->etcd, sizeof(cfg->etcd), "%s", a->etcd);
	}
	if (a->node) {
		if (!*a->node || strlen(a->node) >= sizeof(cfg->node)) {
			log_error("--node must be a name of 1 to 64 "
				  "characters");
			return -EINVAL;
		}
		snprintf(cfg->node, sizeof(cfg->node), "%s", a->node);
	}
	if (*cfg->etcd && !*cfg->node &&
	    gethostname(cfg->node, sizeof(cfg->node) - 1)) {
		log_error("--node is needed (no host name to default to)");
		return -EINVAL;
	}
	if (a->threads) {
		if (parse_u64(a->threads, 1, 256, &n)) {
			log_error("--threads must be from 1 to 256");
			return -EINVAL;
		}
		cfg->threads = (unsigned)n;
	}
	if (cfg->threads == 0) {
		long cpus = sysconf(_SC_NPROCESSORS_ONLN);

		cfg->threads = cpus > 0 && cpus < 256 ? (unsigned)cpus : 2;
	}
	/* Seed 001's RANGE_START and RANGE_AMOUNT, for the pool "users". */
	rc = config_apply_env(cfg, err, sizeof(err));
	if (rc) {
		log_error("%s", err);
		return rc;
	}
	/* The token from the environment is held to the file's rules. An
	 * empty one counts as unset (an EnvironmentFile line left blank). */
	tok = getenv("UNIQD_ADMIN_TOKEN");
	if (tok && *tok) {
		rc = config_set_admin_token(cfg, tok, "UNIQD_ADMIN_TOKEN", err,
					    sizeof(err));
		if (rc) {
			log_error("%s", rc == -ENOMEM ? "out of memory" : err);
			return rc;
		}
	}
	return 0;
}

/* http.c's own answers (413, 414, 431, and the 500 of a handler that gave
 * none) never reach api_handle: they are counted and logged here as
 * api.c does its own, under the route "other". */
static void account_http_answer(struct http_req *r, void *arg)
{
	const struct api *a = arg;

	metrics_request_done(a->metrics, r, METRICS_ROUTE_OTHER, NULL,
			     a->access_log);
}

/* Raises the soft limit of open files toward what max_connections needs
 * (plus the shards, the ledger and some slack), within the hard limit;
 * warns if that is not enough. */
static void raise_fd_limit(unsigned max_conns)
{
	uint64_t want = (uint64_t)max_conns + 512, now;

	if (fdlimit_raise(want, &now))
		return;
	if (now < want)
		log_warn("open files are limited to %llu: fewer than "
			 "max_connections (%u) can be served at once",
			 (unsigned long long)now, max_conns);
}

/*
 * With cfg->etcd: joins the cluster and defines every pool of cfg in it
 * (a node configured otherwise than the cluster is refused), filling
 * keys with the cluster's key of each random pool (PERM_KEY_LEN bytes at
 * i * PERM_KEY_LEN for cfg->pools[i]). Returns 0 with *out set, or a
 * negative errno, said in the log.
 */
static int join_cluster(const struct config *cfg, struct cluster **out,
			uint8_t **keys)
{
	struct etcd *e = NULL;
	char err[768], dir_id[33];
	size_t i;
	int rc;

	*out = NULL;
	*keys = NULL;
	for (i = 0; i < cfg->npools; i++) {
		const struct pool_def *d = &cfg->pools[i];

		if (d->kind != POOL_INT && d->kind != POOL_FLOAT &&
		    d->kind != POOL_SEQUENCE && d->kind != POOL_LEASE) {
			log_error("pool \"%s\" is a %s pool: a cluster node "
				  "serves int, float, sequence and lease pools "
				  "only so far; give --etcd a configuration "
				  "without it",
				  d->name, config_kind_name(d->kind));
			return -ENOTSUP;
		}
	}
	rc = cluster_dir_id_read(cfg->data_dir, true, dir_id);
	if (rc) {
		log_error("cannot read or make %s/cluster.id: %s",
			  cfg->data_dir, log_strerror(rc));
		return rc;
	}
	*keys = calloc(cfg->npools, PERM_KEY_LEN);
	if (!*keys)
		return -ENOMEM;
	rc = cluster_start(out, cfg->etcd, cfg->node, dir_id, err,
			   sizeof(err));
	if (rc) {
		log_error("cannot join the cluster: %s", err);
		goto out;
	}
	rc = cluster_etcd_open(*out, &e);
	for (i = 0; rc == 0 && i < cfg->npools; i++) {
		rc = cluster_pool_define(*out, e, &cfg->pools[i],
					 *keys + i * PERM_KEY_LEN, false, err,
					 sizeof(err));
		if (rc)
			log_error("%s", err);
	}
out:
	etcd_free(e);
	if (rc) {
		cluster_stop(*out);
		*out = NULL;
		free(*keys);
		*keys = NULL;
	}
	return rc;
}

static bool is_loopback(const char *host)
{
	return !strcmp(host, "localhost") || !strncmp(host, "127.", 4) ||
	       !strcmp(host, "::1");
}

/*
 * Takes <data_dir>/uniqd.lock so that two servers never serve one data
 * directory (uniqctl does not take it: it may run beside the server).
 * Returns the locked fd, or a negative errno.
 */
static int lock_data_dir(const char *dir)
{
	char path[1200], pid[32];
	int fd, n;

	if (mkdir(dir, 0700) && errno != EEXIST) {
		log_error("cannot create %s: %s", dir, log_strerror(errno));
		return -errno;
	}
	snprintf(path, sizeof(path), "%s/uniqd.lock", dir);
	fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
	if (fd < 0) {
		log_error("cannot open %s: %s", path, log_strerror(errno));
		return -errno;
	}
	if (flock(fd, LOCK_EX | LOCK_NB)) {
		int e = errno;

		n = (int)read(fd, pid, sizeof(pid) - 1);
		while (n > 0 && (pid[n - 1] == '\n' || pid[n - 1] == ' '))
			n--;
		pid[n > 0 ? n : 0] = '\0';
		log_error("%s is in use by another uniqd (pid %s); refusing "
			  "to serve it twice", dir, n > 0 ? pid : "?");
		close(fd);
		return e == EWOULDBLOCK ? -EBUSY : -e;
	}
	n = snprintf(pid, sizeof(pid), "%ld\n", (long)getpid());
	if (ftruncate(fd, 0) || pwrite(fd, pid, (size_t)n, 0) != n)
		log_warn("cannot write the pid to %s", path);
	return fd;
}

int main(int argc, char **argv)
{
	struct pools_opts po = { .create = true, .leases = true };
	struct pools pools;
	bool pools_opened = false;
	struct http_server *http = NULL;
	struct committer *committer = NULL;
	struct refill *refill = NULL;
	struct codegen *jobs = NULL;
	struct cluster *cluster = NULL;
	struct reserve *reserve = NULL;
	struct ask *ask = NULL;
	uint8_t *cluster_keys = NULL;
	struct http_opts ho;
	struct config cfg;
	struct api api = { 0 };
	struct args a;
	sigset_t sigs;
	char err[512];
	size_t i;
	int rc, sig, lock_fd = -1;

	memset(&cfg, 0, sizeof(cfg));
	if (parse_args(argc, argv, &a))
		return 2;
	log_setup("uniqd", a.quiet ? LOG_WARN : LOG_INFO);
	rc = load_config(&a, &cfg);
	if (rc)
		goto out;
	for (i = 0; i < cfg.npools; i++) {
		const struct pool_def *d = &cfg.pools[i];
		const int64_t safe = 9007199254740991LL; /* 2^53 - 1 */

		if (d->kind == POOL_INT &&
		    (d->min < -safe ||
		     d->min + (int64_t)(d->capacity - 1) > safe))
			log_warn("pool \"%s\" has values beyond 2^53-1: "
				 "JavaScript clients (k6) read such numbers "
				 "as doubles and may see two of them as one",
				 d->name);
	}
	if (!is_loopback(cfg.listen_host) && !cfg.admin_token) {
		log_error("refusing to listen on %s without an admin token "
			  "(set UNIQD_ADMIN_TOKEN or \"admin_token\")",
			  cfg.listen_host);
		rc = -EPERM;
		goto out;
	}

	/* Signals are taken by sigwait() on this thread only: block them
	 * before any thread starts so that every thread inherits the mask. */
	sigemptyset(&sigs);
	sigaddset(&sigs, SIGINT);
	sigaddset(&sigs, SIGTERM);
	pthread_sigmask(SIG_BLOCK, &sigs, NULL);
	signal(SIGPIPE, SIG_IGN);

	rc = pools_check_dir(cfg.data_dir, err, sizeof(err));
	if (rc) {
		log_error("%s", err);
		goto out;
	}
	lock_fd = lock_data_dir(cfg.data_dir);
	if (lock_fd < 0) {
		rc = lock_fd;
		goto out;
	}
	if (*cfg.etcd) {
		rc = join_cluster(&cfg, &cluster, &cluster_keys);
		if (rc)
			goto out;
		po.cluster_keys = cluster_keys;
	}
	rc = pools_open(&pools, &cfg, &po, err, sizeof(err));
	if (rc) {
		log_error("%s", err);
		goto out;
	}
	pools_opened = true;
	for (i = 0; cluster && i < pools.nseqs; i++) {
		rc = seq_cluster_attach(&pools.seqs[i], cluster, err,
					sizeof(err));
		if (rc) {
			log_error("%s", err);
			goto out;
		}
	}
	/* Lease pools keep their leases in etcd (pools/clease.h). */
	for (i = 0; cluster && i < pools.nleases; i++) {
		rc = lease_cluster_attach(&pools.leases[i], cluster, err,
					  sizeof(err));
		if (rc) {
			log_error("%s", err);
			goto out;
		}
	}
	if (cluster) {
		/* Before the refill threads, so that their first grants
		 * find a block. */
		rc = reserve_start(cluster, &pools, &reserve);
		if (rc) {
			log_error("cannot start the reserver: %s",
				  log_strerror(rc));
			goto out;
		}
	}
	rc = refill_start(&pools, &refill);
	if (rc) {
		log_error("cannot start the refill threads: %s",
			  log_strerror(rc));
		goto out;
	}
	rc = committer_start(&pools.ledger, &committer);
	if (rc == 0)
		rc = committer_add_tick(committer, 60 * 1000, seq_purge_tick,
					NULL, &pools.ledger);
	if (rc == 0)
		rc = committer_add_tick(committer, 1000, ledger_reader_tick,
					NULL, &pools.ledger);
	for (i = 0; rc == 0 && i < pools.nleases; i++)
		rc = committer_add_tick(committer, 1000, lease_expire_tick,
					lease_expire_done, &pools.leases[i]);
	if (rc) {
		log_error("cannot start the committer: %s", log_strerror(rc));
		goto out;
	}
	rc = codegen_start(&pools, &jobs);
	if (rc) {
		log_error("cannot start the job workers: %s", log_strerror(rc));
		goto out;
	}
	if (cluster) {
		rc = ask_start(cluster, ASK_THREADS, &ask);
		if (rc) {
			log_error("cannot start the ask threads: %s",
				  log_strerror(rc));
			goto out;
		}
	}
	api.ask = ask;
	api.cfg = &cfg;
	api.pools = &pools;
	api.refill = refill;
	api.committer = committer;
	api.jobs = jobs;
	api.access_log = a.access_log;
	rc = api_init(&api);
	if (rc)
		goto out;
	ho.host = cfg.listen_host;
	ho.port = cfg.port;
	ho.threads = cfg.threads;
	ho.max_body = MAX_BODY;
	ho.idle_timeout = cfg.idle_timeout;
	ho.max_conns = cfg.max_connections;
	ho.per_ip_conns = cfg.per_ip_connections;
	ho.header_timeout = cfg.header_timeout;
	ho.body_timeout = cfg.body_timeout;
	ho.answered = account_http_answer;
	raise_fd_limit(ho.max_conns);
	rc = http_start(&ho, api_handle, &api, &http);
	if (rc) {
		log_error("cannot listen on %s:%u: %s", cfg.listen_host,
			  cfg.port, log_strerror(rc));
		goto out;
	}
	log_info("listening on %s:%u (%u threads, data in %s, %zu pools%s%s)",
		 cfg.listen_host, http_port(http), cfg.threads, cfg.data_dir,
		 cfg.npools, cluster ? ", cluster node " : "",
		 cluster ? cfg.node : "");

	for (;;) {
		if (sigwait(&sigs, &sig) == 0)
			break;
	}
	log_info("%s: stopping", sig == SIGINT ? "SIGINT" : "SIGTERM");
	rc = 0;
out:
	if (http) {
		http_quiesce(http);
		/* Draws waiting for values answer now (200 or 503), so that
		 * the drain does not wait out their draw_wait_ms. */
		for (i = 0; i < pools.npools; i++)
			waitlist_close(&pools.pools[i].waiters);
		http_drain(http, 2000);
	}
	if (committer) {
		uint64_t batches, ops;

		committer_stats(committer, &batches, &ops);
		log_info("committer: %llu operations in %llu commits",
			 (unsigned long long)ops, (unsigned long long)batches);
	}
	committer_stop(committer);
	ask_stop(ask);
	if (http && http_drain(http, 500))
		log_warn("closing connections with requests still under way");
	http_stop(http);
	committer_free(committer); /* no HTTP thread can submit any more */
	ask_free(ask);
	codegen_stop(jobs);
	codegen_free(jobs);
	api_release(&api);
	refill_stop(refill);
	if (pools_opened) {
		/* Also after a failed start: primed hoppers go back too. */
		for (i = 0; i < pools.npools; i++)
			if (rpool_put_back(&pools.pools[i]) && !rc)
				rc = -EIO;
	}
	refill_free(refill);
	reserve_stop(reserve);
	if (pools_opened)
		pools_release(&pools);
	cluster_stop(cluster);
	free(cluster_keys);
	if (lock_fd >= 0)
		close(lock_fd);
	config_release(&cfg);
	if (rc == 0)
		log_info("stopped cleanly");
	return rc ? 1 : 0;
}
