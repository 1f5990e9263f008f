/*
 * uniqctl.c: the admin CLI: fill the shards before start-up (the seed's
 * initialize_shards), look a value up, prove that no value is held twice,
 * show the pools. It opens the same data directory as uniqd and may run
 * beside it: LMDB serializes writers across processes, and every value
 * it adds is granted by the ledger first, so the promise holds across
 * both.
 *
 * DESIGN (init): one job per serving shard; min(jobs, 2 * CPUs) worker
 * threads take jobs from an atomic index and run rpool_refill_step until
 * their shard holds shard_size values. Workers only publish progress
 * through an atomic counter that the main thread draws.
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "common/buf.h"
#include "common/config.h"
#include "common/log.h"
#include "common/parse.h"
#include "common/value.h"
#include "common/code.h"
#include "pools/codegen.h"
#include "pools/pools.h"
#include "cluster/cluster.h"
#include "tools/ccheck.h"
#include "tools/progress.h"
#include "tools/verify.h"
#include "common/banned.h"

static const char usage[] =
"usage: uniqctl [--config FILE] [--data-dir DIR] [--etcd URLS [--node NAME]]\n"
"               COMMAND [ARGS]\n"
"\n"
"--config, --data-dir, --etcd and --node may also come after the command\n"
"or its arguments (uniqctl init --data-dir DIR).\n"
"\n"
"Administers a uniqd data directory (default ./uniqd-data, or the\n"
"config's \"data_dir\"); safe to run while uniqd serves it.\n"
"\n"
"Commands:\n"
"  init [--pool NAME]   fill every shard of the random pools (or of one\n"
"                       pool) up to its shard_size before start-up, with\n"
"                       a progress bar (the seed's initialize_shards)\n"
"  lookup POOL VALUE    whether VALUE was issued, when, by which shard,\n"
"                       and whether it has been served (JSON, as\n"
"                       GET /pools/POOL/values/VALUE)\n"
"  verify [--pool NAME] walk the ledger and every shard and prove that no\n"
"                       value is held twice and none is in a shard\n"
"                       without the ledger having issued it there\n"
"  status               pools with capacity, issued, remaining, ready\n"
"  codes generate --pool P --count N [--prefix X] --out FILE\n"
"                       issue N codes of code pool P (under prefix X) and\n"
"                       write them to FILE, one a line (written as\n"
"                       FILE.part, renamed when complete), with a progress\n"
"                       bar; the same as a bulk job of the server, without\n"
"                       it or beside it\n"
"\n"
"\n"
"With --etcd (the cluster's etcd client URLs, comma-separated), verify\n"
"and status also look at the cluster: verify proves that each random\n"
"pool's blocks are disjoint and tile its counter, that the ledger of the\n"
"data directory (node --node, default the config's \"node\" or the host\n"
"name) matches that node's blocks, and that no lease is out twice; status\n"
"shows the nodes, their last contact and their blocks. Without a data\n"
"directory, the cluster alone is checked.\n"
"\n"
"Exit status: 0 success; 1 verify found a problem, or an error; 2 usage.\n";

struct ctx {
	struct config cfg;
	struct pools ps;
	bool open;
};

static int open_data(struct ctx *c, const char *config, const char *data_dir,
		     bool create)
{
	struct pools_opts o = { .create = create, .readonly = !create };
	char err[512];
	int rc;

	rc = config_default(&c->cfg);
	if (rc)
		return rc;
	if (config && (rc = config_load_file(&c->cfg, config, err,
					     sizeof(err)))) {
		fprintf(stderr, "uniqctl: %s: %s\n", config, err);
		return rc;
	}
	if (data_dir)
		snprintf(c->cfg.data_dir, sizeof(c->cfg.data_dir), "%s",
			 data_dir);
	rc = pools_open(&c->ps, &c->cfg, &o, err, sizeof(err));
	if (rc) {
		fprintf(stderr, "uniqctl: %s\n", err);
		return rc;
	}
	c->open = true;
	return 0;
}

static void close_data(struct ctx *c)
{
	if (c->open)
		pools_release(&c->ps);
	config_release(&c->cfg);
}

/* Parses "--pool NAME" if it is all that argv holds. */
static int pool_opt(int argc, char **argv, const char **pool)
{
	*pool = NULL;
	if (argc == 0)
		return 0;
	if (argc == 2 && !strcmp(argv[0], "--pool")) {
		*pool = argv[1];
		return 0;
	}
	fputs(usage, stderr);
	return -EINVAL;
}

/* ---- init -------------------------------------------------------- */

struct init_job {
	struct rpool *pool;
	unsigned shard;
};

struct init_run {
	struct init_job *jobs;
	size_t njobs;
	_Atomic size_t next;
	_Atomic uint64_t done;
	_Atomic int rc;
	_Atomic unsigned running;
};

static void *init_worker(void *arg)
{
	struct init_run *run = arg;
	uint64_t *scratch = NULL;
	size_t j;

	while ((j = atomic_fetch_add(&run->next, 1)) < run->njobs) {
		struct rpool *p = run->jobs[j].pool;
		unsigned i = run->jobs[j].shard;
		uint64_t level, added;
		int rc;

		free(scratch);
		scratch = malloc(p->grant_batch * sizeof(*scratch));
		if (!scratch) {
			atomic_store(&run->rc, -ENOMEM);
			break;
		}
		for (;;) {
			rc = shard_count(&p->shards[i].shard, &level);
			if (rc || level >= p->def->shard_size)
				break;
			rc = rpool_refill_step(p, i, p->def->shard_size - level,
					       scratch, &added);
			if (rc || added == 0)
				break;
			atomic_fetch_add(&run->done, added);
		}
		if (rc) {
			fprintf(stderr, "\nuniqctl: %s: %s\n",
				p->shards[i].shard.name, log_strerror(rc));
			atomic_store(&run->rc, rc);
		}
	}
	free(scratch);
	atomic_fetch_sub(&run->running, 1);
	return NULL;
}

static int cmd_init(struct ctx *c, const char *only)
{
	struct init_run run;
	struct progress bar;
	pthread_t *tids = NULL;
	size_t i, nthreads, started = 0;
	uint64_t total = 0, level;
	long cpus = sysconf(_SC_NPROCESSORS_ONLN);
	unsigned j;
	int rc = 0;

	memset(&run, 0, sizeof(run));
	for (i = 0; i < c->ps.npools; i++)
		run.njobs += c->ps.pools[i].nserving;
	run.jobs = calloc(run.njobs ? run.njobs : 1, sizeof(*run.jobs));
	if (!run.jobs)
		return -ENOMEM;
	run.njobs = 0;
	for (i = 0; i < c->ps.npools; i++) {
		struct rpool *p = &c->ps.pools[i];
		struct ledger_rec rec;
		uint64_t want = 0;

		if (only && strcmp(only, p->def->name))
			continue;
		for (j = 0; j < p->nserving; j++) {
			rc = shard_count(&p->shards[j].shard, &level);
			if (rc)
				goto out;
			if (level < p->def->shard_size)
				want += p->def->shard_size - level;
			run.jobs[run.njobs].pool = p;
			run.jobs[run.njobs++].shard = j;
		}
		rc = ledger_rec_get(p->ledger, p->def->name, &rec);
		if (rc)
			goto out;
		total += want < rec.capacity - rec.counter ?
			 want : rec.capacity - rec.counter;
	}
	if (only && run.njobs == 0) {
		fprintf(stderr, "uniqctl: no random pool named \"%s\"\n", only);
		rc = -ENOENT;
		goto out;
	}
	nthreads = (size_t)(cpus > 0 ? cpus * 2 : 2);
	if (nthreads > run.njobs)
		nthreads = run.njobs;
	tids = calloc(nthreads ? nthreads : 1, sizeof(*tids));
	if (!tids) {
		rc = -ENOMEM;
		goto out;
	}
	progress_init(&bar, "init", total, progress_is_tty());
	atomic_store(&run.running, (unsigned)nthreads);
	for (started = 0; started < nthreads; started++) {
		rc = -pthread_create(&tids[started], NULL, init_worker, &run);
		if (rc) {
			atomic_fetch_sub(&run.running,
					 (unsigned)(nthreads - started));
			break;
		}
	}
	while (atomic_load(&run.running) > 0) {
		struct timespec ts = { 0, 50 * 1000000L };

		progress_update(&bar, atomic_load(&run.done));
		nanosleep(&ts, NULL);
	}
	for (i = 0; i < started; i++)
		pthread_join(tids[i], NULL);
	progress_finish(&bar, atomic_load(&run.done));
	if (!rc)
		rc = atomic_load(&run.rc);
out:
	free(tids);
	free(run.jobs);
	return rc;
}

/* ---- lookup, verify, status -------------------------------------- */

static int cmd_lookup(struct ctx *c, const char *name, const char *text)
{
	struct rpool *p = pools_random(&c->ps, name);
	struct buf b = BUF_INIT;
	uint64_t k;
	int rc;

	if (!p) {
		fprintf(stderr, "uniqctl: no random pool named \"%s\"\n", name);
		return -ENOENT;
	}
	rc = value_parse(p->def, text, &k);
	if (rc) {
		fprintf(stderr, "uniqctl: \"%s\" is not a value of pool \"%s\""
			"%s\n", text, name,
			rc == -ERANGE ? " (outside its range)" : "");
		return -EINVAL;
	}
	rc = rpool_lookup_json(p, k, &b);
	if (rc == 0)
		printf("%s\n", b.p);
	else
		fprintf(stderr, "uniqctl: %s\n", log_strerror(rc));
	buf_release(&b);
	return rc;
}

static int cmd_verify(struct ctx *c, const char *only)
{
	struct verify_report r;
	uint64_t problems = 0;
	size_t i;
	int rc;

	for (i = 0; i < c->ps.npools; i++) {
		struct rpool *p = &c->ps.pools[i];

		if (only && strcmp(only, p->def->name))
			continue;
		rc = verify_pool(p, stdout, &r);
		if (rc == 0 && p->def->kind == POOL_CODE)
			rc = verify_code_streams(p, stdout, &r);
		if (rc) {
			fprintf(stderr, "uniqctl: verify %s: %s\n",
				p->def->name, log_strerror(rc));
			return rc;
		}
		printf("pool %s: %llu grants, %llu values issued, %llu ready "
		       "in %u shards, %llu problems\n", p->def->name,
		       (unsigned long long)r.grants,
		       (unsigned long long)(p->def->kind == POOL_CODE ?
					    r.issued_codes : r.issued),
		       (unsigned long long)r.in_shards, p->nopen,
		       (unsigned long long)r.problems);
		problems += r.problems;
	}
	printf("verify: %s\n", problems ? "PROBLEMS FOUND" :
	       "ok: no value is held twice");
	return problems ? 1 : 0;
}

static int cmd_status(struct ctx *c)
{
	size_t i;
	unsigned j;
	int rc;

	for (i = 0; i < c->ps.npools; i++) {
		struct rpool *p = &c->ps.pools[i];
		struct ledger_rec rec;
		uint64_t level, issued;

		rc = ledger_issued(p->ledger, p->def->name, &rec, &issued);
		if (rc)
			return rc;
		if (rec.flags & LEDGER_REC_CLUSTER)
			printf("%s (%s, a cluster pool): capacity %llu, issued "
			       "by this node %llu\n", p->def->name,
			       config_kind_name(p->def->kind),
			       (unsigned long long)rec.capacity,
			       (unsigned long long)issued);
		else
			printf("%s (%s): capacity %llu, issued %llu, remaining "
			       "%llu\n", p->def->name,
			       config_kind_name(p->def->kind),
			       (unsigned long long)rec.capacity,
			       (unsigned long long)issued,
			       (unsigned long long)(rec.capacity - issued));
		for (j = 0; j < p->nopen; j++) {
			if (!p->shards[j].shard.env)
				continue;
			rc = shard_count(&p->shards[j].shard, &level);
			if (rc)
				return rc;
			printf("  %s: %llu ready%s\n", p->shards[j].shard.name,
			       (unsigned long long)level,
			       j < p->nserving ? "" : " (not served)");
		}
	}
	return 0;
}

/* ---- codes generate ---------------------------------------------- */

struct gen_run {
	struct codegen_run g;
	_Atomic uint64_t progress;
	_Atomic bool finished;
	int rc;
};

static void *gen_main(void *arg)
{
	struct gen_run *run = arg;

	run->rc = codegen_generate(&run->g);
	atomic_store(&run->finished, true);
	return NULL;
}

struct gen_args {
	const char *pool, *prefix, *out;
	uint64_t count;
};

static int gen_parse(int argc, char **argv, struct gen_args *a)
{
	static const struct option opts[] = {
		{ "pool", required_argument, NULL, 'p' },
		{ "count", required_argument, NULL, 'n' },
		{ "prefix", required_argument, NULL, 'x' },
		{ "out", required_argument, NULL, 'o' },
		{ NULL, 0, NULL, 0 },
	};
	int opt;

	memset(a, 0, sizeof(*a));
	a->prefix = "";
	optind = 0;
	while ((opt = getopt_long(argc, argv, "+p:n:x:o:", opts, NULL)) != -1) {
		switch (opt) {
		case 'p': a->pool = optarg; break;
		case 'x': a->prefix = optarg; break;
		case 'o': a->out = optarg; break;
		case 'n':
			if (parse_u64(optarg, 1, 1000000000000ull, &a->count)) {
				fprintf(stderr, "uniqctl: --count must be a "
					"positive integer\n");
				return -EINVAL;
			}
			break;
		default:
			return -EINVAL;
		}
	}
	if (optind != argc || !a->pool || !a->count || !a->out) {
		fprintf(stderr, "uniqctl: codes generate needs --pool, --count "
			"and --out\n");
		return -EINVAL;
	}
	return 0;
}

static int cmd_codes_generate(struct ctx *c, const struct gen_args *a)
{
	struct rpool *p = pools_random(&c->ps, a->pool);
	struct progress bar;
	struct gen_run run;
	char part[1200];
	uint64_t issued, pending, comb;
	pthread_t tid;
	int fd, rc;

	if (!p || p->def->kind != POOL_CODE) {
		fprintf(stderr, "uniqctl: no code pool named \"%s\"\n",
			a->pool);
		return -ENOENT;
	}
	memset(&run, 0, sizeof(run));
	rc = code_prefix_parse(p->def, a->prefix, &run.g.prefix);
	if (rc) {
		fprintf(stderr, "uniqctl: prefix \"%s\" does not fit pattern "
			"%s: %s\n", a->prefix, p->def->pattern,
			rc == -E2BIG ? "it leaves no symbol to draw" :
			rc == -EBADMSG ? "a literal is in the wrong place" :
			"a symbol is outside the alphabet");
		return -EINVAL;
	}
	rc = codepool_count(&c->ps.ledger, p->def, &run.g.prefix, &issued);
	if (rc == 0)
		rc = codejob_pending(&c->ps.ledger, p->def, &run.g.prefix,
				     &pending);
	if (rc)
		return rc;
	comb = code_combinations(p->def, run.g.prefix.len);
	if (comb - issued < pending || comb - issued - pending < a->count) {
		fprintf(stderr, "uniqctl: only %llu codes remain for prefix "
			"\"%s\" (%llu combinations, %llu issued, %llu promised "
			"to jobs); nothing was generated\n",
			(unsigned long long)(comb - issued < pending ? 0 :
					     comb - issued - pending),
			a->prefix, (unsigned long long)comb,
			(unsigned long long)issued,
			(unsigned long long)pending);
		return -ENOSPC;
	}
	if (snprintf(part, sizeof(part), "%s.part", a->out) >=
	    (int)sizeof(part))
		return -ENAMETOOLONG;
	/* Never over a file: FILE may be last week's codes, and FILE.part
	 * the codes of a run cut short, issued and nowhere else. */
	if (access(a->out, F_OK) == 0) {
		fprintf(stderr, "uniqctl: %s exists; choose another --out "
			"(nothing was generated)\n", a->out);
		return -EEXIST;
	}
	fd = open(part, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
	if (fd < 0) {
		rc = -errno;
		fprintf(stderr, "uniqctl: %s: %s%s\n", part, log_strerror(rc),
			rc == -EEXIST ? " (the codes of a run that was cut "
			"short? they are issued: keep them, and choose another "
			"--out)" : "");
		return rc;
	}
	run.g.lg = &c->ps.ledger;
	run.g.def = p->def;
	run.g.shard = CODEPOOL_CLI_SHARD;
	run.g.count = a->count;
	run.g.fd = fd;
	run.g.progress = &run.progress;
	progress_init(&bar, "codes", a->count, progress_is_tty());
	rc = -pthread_create(&tid, NULL, gen_main, &run);
	if (rc) {
		close(fd);
		return rc;
	}
	while (!atomic_load(&run.finished)) {
		struct timespec ts = { 0, 50 * 1000000L };

		progress_update(&bar, atomic_load(&run.progress));
		nanosleep(&ts, NULL);
	}
	pthread_join(tid, NULL);
	progress_finish(&bar, run.g.done);
	rc = run.rc;
	if (rc == 0 && fsync(fd))
		rc = -errno;
	if (close(fd) && rc == 0)
		rc = -errno;
	if (rc == 0 && rename(part, a->out))
		rc = -errno;
	if (rc == OUTCOME_USED_UP)
		fprintf(stderr, "uniqctl: codes generate: prefix \"%s\" ran "
			"out of codes (%llu issued and in %s)\n", a->prefix,
			(unsigned long long)run.g.done, part);
	else if (rc == OUTCOME_PROMISED)
		fprintf(stderr, "uniqctl: codes generate: the codes left under "
			"prefix \"%s\" are promised to jobs under way (%llu "
			"issued and in %s)\n", a->prefix,
			(unsigned long long)run.g.done, part);
	else if (rc)
		fprintf(stderr, "uniqctl: codes generate: %s (%llu codes "
			"issued and in %s)\n", log_strerror(rc),
			(unsigned long long)run.g.done, part);
	else
		fprintf(stderr, "uniqctl: %llu codes in %s\n",
			(unsigned long long)run.g.done, a->out);
	return rc;
}

/* The value of option name (--name V, --name=V, or short: -x V, -xV) at
 * argv[*i], which it moves past; NULL if argv[*i] is not that option.
 * *missing is set when it is, without a value. */
static const char *opt_value(int argc, char **argv, int *i,
			     const char *name, char shortopt, bool *missing)
{
	const char *a = argv[*i];
	size_t n = strlen(name);

	if (a[0] == '-' && a[1] == '-' && !strncmp(a + 2, name, n) &&
	    a[2 + n] == '=')
		return a + 3 + n;
	if ((a[0] == '-' && a[1] == '-' && !strcmp(a + 2, name)) ||
	    (shortopt && a[0] == '-' && a[1] == shortopt && !a[2])) {
		if (*i + 1 >= argc) {
			*missing = true;
			return NULL;
		}
		return argv[++*i];
	}
	if (shortopt && a[0] == '-' && a[1] == shortopt)
		return a + 2;
	return NULL;
}

/*
 * Takes --config, --data-dir, --help and --version out of argv wherever
 * they stand, before the command or after it (as kubectl, docker and
 * systemctl take theirs), and closes the gap: what is left is the command
 * and its own arguments, in their order. The value of a command's own
 * option (--pool, --count, --prefix, --out) is never read as one, nor
 * anything after "--". Returns 0, 1 after --help or --version, or 2 for
 * a global option without its value.
 */
static int take_global_opts(int *argc, char **argv, const char **config,
			    const char **data_dir, const char **etcd,
			    const char **node)
{
	static const char *const with_value[] = { "--pool", "--count",
						  "--prefix", "--out", NULL };
	const char *v;
	bool missing = false, rest = false;
	int i, j = 1;

	for (i = 1; i < *argc; i++) {
		const char *a = argv[i];
		size_t k;

		if (rest || a[0] != '-' || !a[1]) {
			argv[j++] = argv[i];
			continue;
		}
		if (!strcmp(a, "--")) {
			rest = true;
			argv[j++] = argv[i];
			continue;
		}
		if ((v = opt_value(*argc, argv, &i, "config", 'c', &missing))) {
			*config = v;
			continue;
		}
		if ((v = opt_value(*argc, argv, &i, "data-dir", 'd',
				   &missing))) {
			*data_dir = v;
			continue;
		}
		if ((v = opt_value(*argc, argv, &i, "etcd", 0, &missing))) {
			*etcd = v;
			continue;
		}
		if ((v = opt_value(*argc, argv, &i, "node", 0, &missing))) {
			*node = v;
			continue;
		}
		if (missing) {
			fprintf(stderr, "uniqctl: %s needs a value\n%s", a,
				usage);
			return 2;
		}
		if (!strcmp(a, "--help") || !strcmp(a, "-h")) {
			fputs(usage, stdout);
			return 1;
		}
		if (!strcmp(a, "--version") || !strcmp(a, "-V")) {
			puts("uniqctl " UNIQD_VERSION);
			return 1;
		}
		argv[j++] = argv[i];
		for (k = 0; with_value[k]; k++)
			if (!strcmp(a, with_value[k]) && i + 1 < *argc)
				argv[j++] = argv[++i];
	}
	argv[j] = NULL;
	*argc = j;
	return 0;
}

/*
 * verify and status with --etcd: the cluster's checks (ccheck.h), then
 * the data directory's own, when there is one. Returns main's exit code.
 */
static int cluster_cmd(struct ctx *c, const char *cmd, const char *config,
		       const char *data_dir, const char *etcd,
		       const char *node)
{
	char host[65] = "", dir_id[33] = "";
	unsigned problems = 0;
	bool have_dir;
	int rc;

	rc = config_default(&c->cfg);
	if (rc == 0 && config) {
		char err[512];

		rc = config_load_file(&c->cfg, config, err, sizeof(err));
		if (rc)
			fprintf(stderr, "uniqctl: %s: %s\n", config, err);
	}
	if (rc)
		goto out;
	if (data_dir)
		snprintf(c->cfg.data_dir, sizeof(c->cfg.data_dir), "%s",
			 data_dir);
	if (!node)
		node = *c->cfg.node ? c->cfg.node :
		       gethostname(host, sizeof(host) - 1) == 0 ? host : NULL;
	have_dir = access(c->cfg.data_dir, F_OK) == 0;
	if (!strcmp(cmd, "status")) {
		rc = ccheck_status(etcd, &c->cfg, stdout);
		if (rc == 0 && have_dir) {
			config_release(&c->cfg);
			rc = open_data(c, config, data_dir, false);
			if (rc == 0)
				rc = cmd_status(c);
		}
		goto out;
	}
	if (have_dir) {
		config_release(&c->cfg);
		rc = open_data(c, config, data_dir, false);
		if (rc)
			goto out;
		rc = cmd_verify(c, NULL);	/* 1: problems found */
		if (rc < 0)
			goto out;
		problems += (unsigned)rc;
	}
	if (have_dir && cluster_dir_id_read(c->cfg.data_dir, false, dir_id))
		dir_id[0] = '\0';	/* a node's directory not yet started */
	rc = ccheck_verify(etcd, &c->cfg, c->open ? &c->ps.ledger : NULL,
			   node, *dir_id ? dir_id : NULL, stdout, &problems);
	if (rc == 0 && problems) {
		printf("verify: cluster: PROBLEMS FOUND\n");
		rc = 1;
	} else if (rc == 0) {
		printf("verify: cluster: ok: blocks disjoint and tiling, "
		       "ledger and etcd agree\n");
	}
out:
	close_data(c);
	return rc ? 1 : 0;
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "config", required_argument, NULL, 'c' },
		{ "data-dir", required_argument, NULL, 'd' },
		{ "help", no_argument, NULL, 'h' },
		{ "version", no_argument, NULL, 'V' },
		{ NULL, 0, NULL, 0 },
	};
	const char *config = NULL, *data_dir = NULL, *cmd, *pool = NULL;
	const char *etcd = NULL, *node = NULL;
	struct gen_args gen;
	bool create;
	struct ctx c;
	int opt, rc;

	memset(&c, 0, sizeof(c));
	log_setup("uniqctl", LOG_WARN);
	rc = take_global_opts(&argc, argv, &config, &data_dir, &etcd, &node);
	if (rc)
		return rc == 1 ? 0 : rc;
	/* '+': stop at the command; its own arguments follow. */
	while ((opt = getopt_long(argc, argv, "+c:d:hV", opts, NULL)) != -1) {
		switch (opt) {
		case 'c': config = optarg; break;
		case 'd': data_dir = optarg; break;
		case 'h': fputs(usage, stdout); return 0;
		case 'V': puts("uniqctl " UNIQD_VERSION); return 0;
		default: fputs(usage, stderr); return 2;
		}
	}
	if (optind >= argc) {
		fputs(usage, stderr);
		return 2;
	}
	cmd = argv[optind++];
	argc -= optind;
	argv += optind;
	if (!strcmp(cmd, "init") || !strcmp(cmd, "verify")) {
		if (pool_opt(argc, argv, &pool))
			return 2;
	} else if (!strcmp(cmd, "lookup")) {
		if (argc != 2) {
			fputs(usage, stderr);
			return 2;
		}
	} else if (!strcmp(cmd, "status")) {
		if (argc != 0) {
			fputs(usage, stderr);
			return 2;
		}
	} else if (!strcmp(cmd, "codes")) {
		if (argc < 1 || strcmp(argv[0], "generate") ||
		    gen_parse(argc, argv, &gen)) {
			fputs(usage, stderr);
			return 2;
		}
	} else {
		fprintf(stderr, "uniqctl: unknown command \"%s\"\n%s", cmd,
			usage);
		return 2;
	}

	create = !strcmp(cmd, "init") || !strcmp(cmd, "codes");
	if (etcd && (!strcmp(cmd, "verify") || !strcmp(cmd, "status")))
		return cluster_cmd(&c, cmd, config, data_dir, etcd, node);
	rc = open_data(&c, config, data_dir, create);
	if (rc == 0) {
		if (!strcmp(cmd, "init"))
			rc = cmd_init(&c, pool);
		else if (!strcmp(cmd, "codes"))
			rc = cmd_codes_generate(&c, &gen);
		else if (!strcmp(cmd, "lookup"))
			rc = cmd_lookup(&c, argv[0], argv[1]);
		else if (!strcmp(cmd, "verify"))
			rc = cmd_verify(&c, pool);
		else
			rc = cmd_status(&c);
	}
	close_data(&c);
	if (rc == -EINVAL && !strcmp(cmd, "lookup"))
		return 2;
	return rc ? 1 : 0;
}
