/*
 * test_torture.c: every allocation of an operation fails in turn, as in
 * curl's torture tests (t_alloc.h): the ledger's open (creating, read
 * write, read only), pool creation, grants, lookups and loads, the
 * hopper's set-up, the request parser's JSON bodies (server/request.c,
 * compiled in as tests/fuzz does) and the configuration's parsing.
 *
 * For each operation: a run with nothing armed counts its N allocations;
 * then for k = 1..N the k-th allocation fails, and the operation must
 * return its documented error, leave a state that its release (or a
 * retry) handles, and leak nothing: the wrappers' count of live blocks
 * is back where it was once the set-up is released (LeakSanitizer at
 * exit agrees in a sanitizer build). LMDB's own allocations are failed
 * too when it is linked statically (T_ALLOC_LMDB).
 */
#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/buf.h"
#include "common/code.h"
#include "common/config.h"
#include "common/log.h"
#include "common/tz.h"
#include "pools/codejob.h"
#include "pools/lease.h"
#include "ledger/ledger.h"
#include "server/request.h"
#include "shard/hopper.h"
#include "tests/unit/t.h"
#include "tests/unit/t_util.h"
#include "tests/unit/t_alloc.h"
#include "common/banned.h"

#ifndef T_ALLOC_LMDB
#define T_ALLOC_LMDB 0
#endif

/*
 * One operation to torture. setup (not armed) makes what run needs; run
 * is the operation, armed; check (not armed) judges the state it left,
 * rc being what run returned and fired whether its armed allocation
 * failed; teardown (not armed) releases what setup and run made.
 */
struct op {
	const char *name;
	void (*setup)(void *arg, unsigned long k);
	int (*run)(void *arg);
	void (*check)(void *arg, int rc, bool fired);
	void (*teardown)(void *arg, int rc);
	int want;		/* the error of a failed allocation */
	int want_too;		/* another one it may be, or 0 */
	void *arg;
};

/* Runs op once unarmed, then once with each of its allocations failing.
 * Returns N, the allocations of the unarmed run. */
static unsigned long torture(const struct op *op)
{
	unsigned long n, k;
	long live;
	bool fired;
	int rc;

	live = t_alloc_live();
	if (op->setup)
		op->setup(op->arg, 0);
	t_alloc_fail_at(0);
	rc = op->run(op->arg);
	n = t_alloc_count();
	CHECKF(rc == 0, "%s: unarmed: returned %d (%s)", op->name, rc,
	       log_strerror(rc));
	if (op->check)
		op->check(op->arg, rc, false);
	if (op->teardown)
		op->teardown(op->arg, rc);
	CHECKF(t_alloc_live() == live, "%s: unarmed: %ld blocks leaked",
	       op->name, t_alloc_live() - live);
	for (k = 1; k <= n; k++) {
		live = t_alloc_live();
		if (op->setup)
			op->setup(op->arg, k);
		t_alloc_fail_at(k);
		rc = op->run(op->arg);
		fired = t_alloc_fired();
		t_alloc_disarm();
		if (fired)
			CHECKF(rc == op->want ||
			       (op->want_too && rc == op->want_too),
			       "%s: allocation %lu of %lu failed: returned "
			       "%d (%s), not %d", op->name, k, n, rc,
			       log_strerror(rc), op->want);
		else
			CHECKF(rc == 0, "%s: allocation %lu of %lu not made "
			       "this time, yet returned %d (%s)", op->name, k,
			       n, rc, log_strerror(rc));
		if (op->check)
			op->check(op->arg, rc, fired);
		if (op->teardown)
			op->teardown(op->arg, rc);
		CHECKF(t_alloc_live() == live, "%s: allocation %lu of %lu "
		       "failed: %ld blocks leaked", op->name, k, n,
		       t_alloc_live() - live);
	}
	fprintf(stderr, "torture: %-28s %4lu allocations, each failed in "
		"turn\n", op->name, n);
	return n;
}

/* ---- the ledger ------------------------------------------------------ */

struct ledger_case {
	char dir[256];
	char path[300];		/* the ledger of all cases but create */
	char fresh[300];	/* create: a new file per run */
	struct ledger lg;
	struct ledger_opts opts;
	const struct pool_def *def;
	struct ledger_rec before, pool;
	struct ledger_grant g;
	struct ledger_grant *grants;
	size_t ngrants;
	char name[POOL_NAME_MAX + 1];
	char err[512];
	uint32_t nshards;
	const struct pool_def *users, *codes;
	struct lease lp;
	struct lease_info *leases;
	size_t nleases;
	struct code_prefix root;
	struct codepool_batch batch;
	uint64_t issued;
};

static void open_or_die(struct ledger_case *c, const char *path)
{
	struct ledger_opts o = { .sync = false, .create = true };

	if (ledger_open(&c->lg, path, &o) != 0) {
		fprintf(stderr, "cannot open %s\n", path);
		exit(2);
	}
}

static void close_ledger(void *arg, int rc)
{
	struct ledger_case *c = arg;

	(void)rc;
	ledger_release(&c->lg);
}

/* Opening a new ledger: a failed creation must leave nothing open, and
 * a file that a retry creates (or opens) as a ledger. */
static void create_setup(void *arg, unsigned long k)
{
	struct ledger_case *c = arg;

	snprintf(c->fresh, sizeof(c->fresh), "%s/new-%lu.mdb", c->dir, k);
	c->opts = (struct ledger_opts){ .sync = false, .create = true };
}

static int open_run(void *arg)
{
	struct ledger_case *c = arg;

	return ledger_open(&c->lg, c->fresh, &c->opts);
}

static void create_check(void *arg, int rc, bool fired)
{
	struct ledger_case *c = arg;
	struct ledger again;

	if (rc == 0)
		return;
	CHECK(c->lg.env == NULL);
	CHECK_RC(ledger_open(&again, c->fresh, &c->opts), 0);
	ledger_release(&again);
}

/* Opening the ledger that exists, read-write or read-only. */
static void existing_setup(void *arg, unsigned long k)
{
	struct ledger_case *c = arg;

	(void)k;
	snprintf(c->fresh, sizeof(c->fresh), "%s", c->path);
}

static void open_check(void *arg, int rc, bool fired)
{
	struct ledger_case *c = arg;

	if (rc)
		CHECK(c->lg.env == NULL);
}

/* Cases on the open ledger: setup opens it and notes the pool. */
static void opened_setup(void *arg, unsigned long k)
{
	struct ledger_case *c = arg;

	open_or_die(c, c->path);
	if (ledger_rec_get(&c->lg, c->def->name, &c->before) != 0) {
		fprintf(stderr, "no pool %s\n", c->def->name);
		exit(2);
	}
	snprintf(c->name, sizeof(c->name), "made-%lu", k);
}

/* A pool made in a failed ensure is not there. */
static int ensure_run(void *arg)
{
	struct ledger_case *c = arg;
	struct pool_def d = *c->def;

	snprintf(d.name, sizeof(d.name), "%s", c->name);
	return ledger_rec_ensure(&c->lg, &d, &c->pool, c->err,
				 sizeof(c->err));
}

static void ensure_check(void *arg, int rc, bool fired)
{
	struct ledger_case *c = arg;
	struct ledger_rec p;

	CHECK_RC(ledger_rec_get(&c->lg, c->name, &p), rc ? -ENOENT : 0);
}

/* A failed grant issues nothing: the counter and the next grant are as
 * before. */
static int grant_run(void *arg)
{
	struct ledger_case *c = arg;

	return ledger_grant(&c->lg, c->def->name, 1, 100, &c->g);
}

static void grant_check(void *arg, int rc, bool fired)
{
	struct ledger_case *c = arg;
	struct ledger_rec p;

	CHECK_RC(ledger_rec_get(&c->lg, c->def->name, &p), 0);
	if (rc) {
		CHECK_EQ_U64(c->g.count, 0);
		CHECK_EQ_U64(p.counter, c->before.counter);
	} else {
		CHECK_EQ_U64(c->g.count, 100);
		CHECK_EQ_U64(c->g.first, c->before.counter);
		CHECK_EQ_U64(p.counter, c->before.counter + 100);
	}
}

static int load_run(void *arg)
{
	struct ledger_case *c = arg;

	return ledger_grants_load(&c->lg, c->def->name, &c->pool,
				  &c->grants, &c->ngrants);
}

static void load_check(void *arg, int rc, bool fired)
{
	struct ledger_case *c = arg;
	uint64_t next = 0;
	size_t i;

	if (rc) {
		CHECK(c->grants == NULL);
		CHECK_EQ_U64(c->ngrants, 0);
		return;
	}
	/* The grants tile [0, counter). */
	for (i = 0; i < c->ngrants; i++) {
		CHECK_EQ_U64(c->grants[i].first, next);
		next += c->grants[i].count;
	}
	CHECK_EQ_U64(next, c->pool.counter);
	CHECK(c->ngrants > 128); /* so the array grew more than once */
	free(c->grants);
	c->grants = NULL;
}

static int find_run(void *arg)
{
	struct ledger_case *c = arg;

	return ledger_grant_find(&c->lg, c->before.id, 1234, &c->g);
}

static int get_run(void *arg)
{
	struct ledger_case *c = arg;

	return ledger_rec_get(&c->lg, c->def->name, &c->pool);
}

static int shard_count_run(void *arg)
{
	struct ledger_case *c = arg;

	return ledger_shard_count(&c->lg, c->before.id, &c->nshards);
}

/* A lease pool that fails to open has nothing to release. */
static int lease_open_run(void *arg)
{
	struct ledger_case *c = arg;

	return lease_open(&c->lp, &c->lg, c->users, c->err,
			  sizeof(c->err));
}

static void lease_open_teardown(void *arg, int rc)
{
	struct ledger_case *c = arg;

	if (rc == 0)
		lease_release(&c->lp);
	ledger_release(&c->lg);
}

/* lease_list on an open lease pool (setup opens it, not armed). */
static void lease_setup(void *arg, unsigned long k)
{
	struct ledger_case *c = arg;

	opened_setup(arg, k);
	if (lease_open(&c->lp, &c->lg, c->users, c->err,
		       sizeof(c->err)) != 0) {
		fprintf(stderr, "lease_open: %s\n", c->err);
		exit(2);
	}
}

static int lease_list_run(void *arg)
{
	struct ledger_case *c = arg;

	return lease_list(&c->lp, &c->leases, &c->nleases);
}

static void lease_list_teardown(void *arg, int rc)
{
	struct ledger_case *c = arg;

	if (rc == 0)
		free(c->leases);
	c->leases = NULL;
	lease_open_teardown(arg, 0);
}

static int batch_init_run(void *arg)
{
	struct ledger_case *c = arg;

	return codepool_batch_init(&c->batch, 256);
}

static void batch_teardown(void *arg, int rc)
{
	struct ledger_case *c = arg;

	if (rc == 0)
		codepool_batch_release(&c->batch);
	ledger_release(&c->lg);
}

/* codepool_issue and codepool_count on the root stream of pool "codes" (setup
 * opens the ledger and a batch). A failed issue issues nothing. */
static void code_setup(void *arg, unsigned long k)
{
	struct ledger_case *c = arg;

	opened_setup(arg, k);
	if (codepool_batch_init(&c->batch, 256) != 0 ||
	    codepool_count(&c->lg, c->codes, &c->root, &c->issued) != 0) {
		fprintf(stderr, "cannot set up codepool_issue\n");
		exit(2);
	}
}

static void code_teardown(void *arg, int rc)
{
	batch_teardown(arg, 0);
}

static int code_issue_run(void *arg)
{
	struct ledger_case *c = arg;

	return codepool_issue(&c->lg, c->codes, &c->root, 0, 100, &c->batch,
			      NULL, NULL);
}

static void code_issue_check(void *arg, int rc, bool fired)
{
	struct ledger_case *c = arg;
	uint64_t now = 0;

	CHECK_RC(codepool_count(&c->lg, c->codes, &c->root, &now), 0);
	CHECK_EQ_U64(now, c->issued + (rc ? 0 : c->batch.n));
	if (rc == 0)
		CHECK_EQ_U64(c->batch.n, 100);
}

static int code_count_run(void *arg)
{
	struct ledger_case *c = arg;

	return codepool_count(&c->lg, c->codes, &c->root, &c->issued);
}

static void test_ledger(const struct config *cfg)
{
	struct ledger_case c;
	struct ledger_rec p;
	struct ledger_grant g;
	struct op op = { .want = -ENOMEM, .arg = &c };
	unsigned i;

	memset(&c, 0, sizeof(c));
	snprintf(c.dir, sizeof(c.dir), "%s", t_tmpdir());
	t_path_in(c.path, sizeof(c.path), c.dir, LEDGER_FILE);
	c.def = config_pool(cfg, "int");
	c.users = config_pool(cfg, "users");
	c.codes = config_pool(cfg, "codes");
	CHECK(c.def && c.users && c.codes);
	if (!c.def || !c.users || !c.codes)
		return;
	CHECK_RC(code_prefix_parse(c.codes, "", &c.root), 0);
	/* A ledger with a pool of 200 grants (2 shards). */
	open_or_die(&c, c.path);
	CHECK_RC(ledger_rec_ensure(&c.lg, c.def, &p, c.err, sizeof(c.err)),
		 0);
	for (i = 0; i < 200; i++)
		CHECK_RC(ledger_grant(&c.lg, c.def->name, i % 2, 10, &g), 0);
	CHECK_RC(ledger_rec_ensure(&c.lg, c.codes, &p, c.err,
				   sizeof(c.err)), 0);
	ledger_release(&c.lg);

	op.name = "ledger_open (create)";
	op.setup = create_setup;
	op.run = open_run;
	op.check = create_check;
	op.teardown = close_ledger;
	torture(&op);

	op.name = "ledger_open (read-write)";
	op.setup = existing_setup;
	op.check = open_check;
	c.opts = (struct ledger_opts){ .sync = true };
	torture(&op);

	op.name = "ledger_open (read-only)";
	c.opts = (struct ledger_opts){ .readonly = true };
	torture(&op);

	op.setup = opened_setup;
	op.name = "ledger_rec_ensure (create)";
	op.run = ensure_run;
	op.check = ensure_check;
	torture(&op);

	op.name = "ledger_grant";
	op.run = grant_run;
	op.check = grant_check;
	torture(&op);

	op.name = "ledger_grants_load";
	op.run = load_run;
	op.check = load_check;
	torture(&op);

	op.check = NULL;
	op.name = "ledger_grant_find";
	op.run = find_run;
	torture(&op);

	op.name = "ledger_rec_get";
	op.run = get_run;
	torture(&op);

	op.name = "ledger_shard_count";
	op.run = shard_count_run;
	torture(&op);

	op.name = "lease_open";
	op.run = lease_open_run;
	op.teardown = lease_open_teardown;
	torture(&op);

	op.name = "lease_list";
	op.setup = lease_setup;
	op.run = lease_list_run;
	op.teardown = lease_list_teardown;
	torture(&op);

	op.name = "codepool_batch_init";
	op.setup = opened_setup;
	op.run = batch_init_run;
	op.teardown = batch_teardown;
	torture(&op);

	op.name = "codepool_issue";
	op.setup = code_setup;
	op.run = code_issue_run;
	op.check = code_issue_check;
	op.teardown = code_teardown;
	torture(&op);

	op.name = "codepool_count";
	op.run = code_count_run;
	op.check = NULL;
	torture(&op);

	t_rm_rf(c.dir);
}

/* ---- the hopper ------------------------------------------------------ */

static struct hopper hop;

static int hopper_run(void *arg)
{
	return hopper_init(&hop, 1024, 16, NULL, NULL);
}

static void hopper_teardown(void *arg, int rc)
{
	if (rc == 0)
		hopper_release(&hop); /* a failed init has nothing to release */
}

static void test_hopper(void)
{
	struct op op = {
		.name = "hopper_init",
		.run = hopper_run,
		.teardown = hopper_teardown,
		.want = -ENOMEM,
	};

	CHECK(torture(&op) >= 1);
}

/* ---- the request parser ---------------------------------------------- */

struct request_case {
	const struct pool_def *codes;
	struct request_error err;
	struct request_lease lease;
	struct request_job job;
	int64_t number;
};

/* An allocation that fails in cJSON's parse makes the body unreadable:
 * the documented refusal, with an answer for the client. */
static void request_check(void *arg, int rc, bool fired)
{
	struct request_case *c = arg;

	if (rc) {
		CHECK(c->err.status == 400);
		CHECK(c->err.code && c->err.code[0]);
		CHECK(c->err.message[0]);
	}
	memset(&c->err, 0, sizeof(c->err));
}

static int lease_body_run(void *arg)
{
	static const char body[] = "{\"holder\": \"vu-17\", \"ttl\": 600}";
	struct request_case *c = arg;

	return request_lease_body(body, strlen(body), &c->lease, &c->err);
}

static int return_body_run(void *arg)
{
	struct request_case *c = arg;

	return request_return_body("{\"number\": 10012}", &c->number,
				   &c->err);
}

static int job_body_run(void *arg)
{
	struct request_case *c = arg;

	return request_job_body(c->codes, "{\"count\": 1000, \"prefix\": "
				"\"AB\"}", &c->job, &c->err);
}

static void test_request(const struct config *cfg)
{
	struct request_case c;
	struct op op = { .check = request_check, .want = -EINVAL,
			 .arg = &c };

	memset(&c, 0, sizeof(c));
	c.codes = config_pool(cfg, "codes");
	CHECK(c.codes != NULL);
	if (!c.codes)
		return;

	op.name = "request_lease_body";
	op.run = lease_body_run;
	CHECK(torture(&op) >= 1);

	op.name = "request_return_body";
	op.run = return_body_run;
	CHECK(torture(&op) >= 1);

	op.name = "request_job_body";
	op.run = job_body_run;
	CHECK(torture(&op) >= 1);
}

/* ---- the configuration ----------------------------------------------- */

static struct config tcfg;

static int config_default_run(void *arg)
{
	return config_default(&tcfg);
}

static void config_teardown(void *arg, int rc)
{
	config_release(&tcfg); /* "release it either way" */
	memset(&tcfg, 0, sizeof(tcfg));
}

static void config_parse_setup(void *arg, unsigned long k)
{
	if (config_default(&tcfg) != 0) {
		fprintf(stderr, "config_default failed\n");
		exit(2);
	}
}

static int config_parse_run(void *arg)
{
	static const char json[] =
		"{\"listen\": \"127.0.0.1:8123\", \"admin_token\": "
		"\"0123456789abcdef\", \"pools\": ["
		"{\"name\": \"int\", \"kind\": \"int\", \"shards\": 3},"
		"{\"name\": \"price\", \"kind\": \"float\", \"decimals\": 2},"
		"{\"name\": \"codes\", \"kind\": \"code\"},"
		"{\"name\": \"orders\", \"kind\": \"sequence\"},"
		"{\"name\": \"users\", \"kind\": \"lease\"}]}";
	char err[256];

	return config_parse(&tcfg, json, err, sizeof(err));
}

static void test_config(void)
{
	struct op op = {
		.name = "config_default",
		.run = config_default_run,
		.teardown = config_teardown,
		.want = -ENOMEM,
	};

	torture(&op);

	/* config.h: -EINVAL (cJSON cannot tell a short allocation from a
	 * bad text) or -ENOMEM. */
	op.name = "config_parse";
	op.setup = config_parse_setup;
	op.run = config_parse_run;
	op.want = -EINVAL;
	op.want_too = -ENOMEM;
	CHECK(torture(&op) >= 1);
}

/* ---- buffers and zones ---------------------------------------------- */

static int buf_run(void *arg)
{
	struct buf b;
	int i, rc;

	buf_init(&b);
	for (i = 0; i < 2000; i++) {
		buf_printf(&b, "line %d, ", i);
		buf_add_json_str(&b, "a \"quoted\" text");
		buf_addc(&b, '\n');
	}
	rc = buf_finish(&b);
	buf_release(&b);
	return rc;
}

static struct tz *zone;

static int tz_load_run(void *arg)
{
	return tz_load("Europe/Paris", &zone);
}

static int tz_posix_run(void *arg)
{
	return tz_from_posix("CET-1CEST,M3.5.0,M10.5.0/3", &zone);
}

static void tz_teardown(void *arg, int rc)
{
	if (rc == 0)
		tz_free(zone);
	zone = NULL;
}

static void test_buf_tz(void)
{
	struct op op = {
		.name = "buf (2000 appends)",
		.run = buf_run,
		.want = -ENOMEM,
	};

	CHECK(torture(&op) >= 1);
	op.name = "tz_load";
	op.run = tz_load_run;
	op.teardown = tz_teardown;
	CHECK(torture(&op) >= 1);
	op.name = "tz_from_posix";
	op.run = tz_posix_run;
	CHECK(torture(&op) >= 1);
}

int main(void)
{
	struct config cfg;

	log_setup("test_torture", LOG_OFF);
	t_alloc_hook_cjson();
	if (config_default(&cfg) != 0) {
		fprintf(stderr, "config_default failed\n");
		return 2;
	}
	fprintf(stderr, "torture: LMDB's allocations %s\n",
		T_ALLOC_LMDB ? "fail too (linked statically)" :
		"are not counted (shared library)");
	test_ledger(&cfg);
	test_hopper();
	test_request(&cfg);
	test_config();
	test_buf_tz();
	config_release(&cfg);
	return t_done("torture");
}
