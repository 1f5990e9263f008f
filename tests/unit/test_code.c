/*
 * test_code.c: one-time codes (seed 002's unit tests and more): the text
 * of codes and prefixes, the combinations under a prefix; then code
 * streams on a real ledger: nested prefixes and the root drawing from one
 * tiny pool until it is used up give every code exactly once, the skips
 * are where streams met, counts under every prefix agree with a brute
 * force count, a prefix that is too long generates nothing, and a job's
 * codes can be walked back in the order they were issued.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/code.h"
#include "common/config.h"
#include "common/value.h"
#include "pools/codejob.h"
#include "common/store.h"
#include "ledger/ledger.h"
#include "tests/unit/t.h"
#include "tests/unit/t_util.h"
#include "common/banned.h"

static struct pool_def def_of(const char *pattern, const char *alphabet)
{
	struct config c;
	struct pool_def d;
	char json[512], err[256] = "";

	snprintf(json, sizeof(json), "{\"pools\": [{\"name\": \"c\", \"kind\": "
		 "\"code\", \"pattern\": \"%s\", \"alphabet\": \"%s\"}]}",
		 pattern, alphabet);
	memset(&d, 0, sizeof(d));
	CHECK(config_default(&c) == 0);
	CHECKF(config_parse(&c, json, err, sizeof(err)) == 0, "%s", err);
	if (c.npools == 1)
		d = c.pools[0];
	config_release(&c);
	return d;
}

static void test_text(void)
{
	struct pool_def d = def_of("#####-#####",
				   "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789");
	struct pool_def bin = def_of("x#-#y#", "01");
	char buf[CODE_PATTERN_MAX + 1];
	uint64_t k, i;

	CHECK_EQ_U64(d.capacity, 3656158440062976ull); /* 36^10 */
	/* the length of a code is the pattern's */
	CHECK_EQ_U64(code_format(&d, 0, buf), 11);
	CHECK_STR(buf, "AAAAA-AAAAA");
	code_format(&d, d.capacity - 1, buf);
	CHECK_STR(buf, "99999-99999");
	code_format(&d, 36, buf);
	CHECK_STR(buf, "AAAAA-AAABA");
	CHECK(code_parse(&d, "AAAAA-AAABA", &k) == 0 && k == 36);
	CHECK(code_parse(&d, "AAAAAAAAABA", &k) == -EINVAL);
	CHECK(code_parse(&d, "AAAAA-AAAB", &k) == -EINVAL);
	CHECK(code_parse(&d, "AAAAA-AAABa", &k) == -EINVAL);
	CHECK(code_parse(&d, "", &k) == -EINVAL);
	/* literals anywhere, and the digits in order */
	for (i = 0; i < bin.capacity; i++) {
		code_format(&bin, i, buf);
		CHECK(buf[0] == 'x' && buf[2] == '-' && buf[4] == 'y');
		CHECK(code_parse(&bin, buf, &k) == 0 && k == i);
		CHECK(value_parse(&bin, buf, &k) == 0 && k == i);
	}
	code_format(&bin, 5, buf);
	CHECK_STR(buf, "x1-0y1");
}

static void test_prefix(void)
{
	struct pool_def d = def_of("#####-#####",
				   "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789");
	struct code_prefix p, q;
	uint64_t k;

	CHECK(code_prefix_parse(&d, "", &p) == 0 && p.len == 0);
	CHECK_EQ_U64(code_combinations(&d, 0), d.capacity);
	CHECK(code_prefix_parse(&d, "AAA", &p) == 0 && p.len == 3 &&
	      p.value == 0 && !strcmp(p.canon, "AAA"));
	/* combinations for a prefix: 36^(10 - 3) */
	CHECK_EQ_U64(code_combinations(&d, p.len), 78364164096ull);
	CHECK(code_prefix_parse(&d, "BA9", &p) == 0 &&
	      p.value == 1 * 36 * 36 + 0 * 36 + 35);
	/* a literal is part of the prefix, and spelling it or not is the same
	 * prefix */
	CHECK(code_prefix_parse(&d, "AAAAA-", &p) == 0 && p.len == 5);
	CHECK(code_prefix_parse(&d, "AAAAA", &q) == 0 && q.len == 5 &&
	      q.value == p.value && !strcmp(p.canon, q.canon));
	CHECK(code_prefix_parse(&d, "AAAAA-A", &p) == 0 && p.len == 6 &&
	      !strcmp(p.canon, "AAAAAA"));
	/* errors */
	CHECK(code_prefix_parse(&d, "AA_", &p) == -EINVAL);
	CHECK(code_prefix_parse(&d, "aaa", &p) == -EINVAL);
	CHECK(code_prefix_parse(&d, "AAAAAA", &p) == -EBADMSG);
	CHECK(code_prefix_parse(&d, "AAAAA-AAAAA", &p) == -E2BIG);
	CHECK(code_prefix_parse(&d, "AAAAA-AAAAAA", &p) == -E2BIG);
	CHECK(code_prefix_parse(&d, "AAAAA-AAAA", &p) == 0 && p.len == 9);
	CHECK_EQ_U64(code_combinations(&d, 9), 36);
	/* the range of a prefix holds exactly its codes */
	CHECK(code_prefix_parse(&d, "B", &p) == 0);
	k = code_prefix_first(&d, &p);
	CHECK_EQ_U64(code_top(&d, k, 1), 1);
	CHECK_EQ_U64(code_top(&d, k - 1, 1), 0);
	CHECK_EQ_U64(code_top(&d, k + code_combinations(&d, 1) - 1, 1), 1);
	code_prefix_of(&d, k + 12345, 3, &q);
	CHECK(q.len == 3 && !strncmp(q.canon, "BAA", 3));
}

/* ---- streams on a real ledger -------------------------------------- */

#define TINY 81	/* "##-##" over "ABC": 3^4 */

static unsigned char times[TINY];	/* how often each code was issued */

static void note(const struct codepool_batch *b)
{
	size_t i;

	for (i = 0; i < b->n; i++) {
		CHECK(b->codes[i] < TINY);
		if (b->codes[i] < TINY)
			times[b->codes[i]]++;
	}
}

/* Issues from prefix text until used up, `step` codes at a time. */
static uint64_t drain(struct ledger *lg, const struct pool_def *d,
		      const char *prefix, uint32_t shard, uint64_t step,
		      struct codepool_batch *b, uint64_t *skipped)
{
	struct code_prefix p;
	uint64_t got = 0;
	int rc;

	CHECK(code_prefix_parse(d, prefix, &p) == 0);
	for (;;) {
		rc = codepool_issue(lg, d, &p, shard, step, b, NULL, NULL);
		CHECK(rc == 0);
		if (rc || b->grant.count == 0)
			break;
		note(b);
		got += b->n;
		*skipped += b->skipped;
	}
	return got;
}

/* Counts under every prefix agree with what was issued. */
static void check_counts(struct ledger *lg, const struct pool_def *d)
{
	static const char *const prefixes[] = {
		"", "A", "B", "C", "AA", "AB", "BC", "CC", "AA-", "AB-A",
		"BB-C", "CA-B", NULL,
	};
	const char *const *t;

	for (t = prefixes; *t; t++) {
		struct code_prefix p;
		uint64_t issued = 0, want = 0, k, lo, n;

		CHECK(code_prefix_parse(d, *t, &p) == 0);
		lo = code_prefix_first(d, &p);
		n = code_combinations(d, p.len);
		for (k = lo; k < lo + n; k++)
			want += times[k] ? 1 : 0;
		CHECK(codepool_count(lg, d, &p, &issued) == 0);
		CHECKF(issued == want, "prefix \"%s\": %llu issued, the "
		       "codes say %llu", *t, (unsigned long long)issued,
		       (unsigned long long)want);
	}
}

static void test_streams(void)
{
	struct ledger_opts lo = { .sync = false, .create = true };
	struct pool_def d = def_of("##-##", "ABC");
	struct ledger_rec rec;
	struct codepool_batch b;
	struct ledger lg;
	struct code_prefix p;
	char dir[256], path[512], err[256];
	uint64_t got = 0, skipped = 0, i, issued;
	const char *tmp = t_tmpdir();

	snprintf(dir, sizeof(dir), "%s", tmp);
	snprintf(path, sizeof(path), "%s/ledger.mdb", dir);
	CHECK(ledger_open(&lg, path, &lo) == 0);
	CHECK(ledger_rec_ensure(&lg, &d, &rec, err, sizeof(err)) == 0);
	CHECK(codepool_batch_init(&b, 64) == 0);
	memset(times, 0, sizeof(times));

	/* The root takes some, then nested prefixes, then the root again:
	 * each meets codes the others issued. */
	CHECK(code_prefix_parse(&d, "", &p) == 0);
	CHECK(codepool_issue(&lg, &d, &p, 0, 20, &b, NULL, NULL) == 0);
	note(&b);
	got += b.n;
	CHECK_EQ_U64(b.n, 20);	/* no other stream yet: no skips */
	check_counts(&lg, &d);
	got += drain(&lg, &d, "A", CODEPOOL_JOB_SHARD(1), 5, &b, &skipped);
	check_counts(&lg, &d);
	got += drain(&lg, &d, "AB", CODEPOOL_JOB_SHARD(2), 2, &b, &skipped);
	got += drain(&lg, &d, "BC-", CODEPOOL_CLI_SHARD, 1, &b, &skipped);
	check_counts(&lg, &d);
	got += drain(&lg, &d, "", 0, 7, &b, &skipped);
	got += drain(&lg, &d, "C", CODEPOOL_JOB_SHARD(3), 4, &b, &skipped);
	check_counts(&lg, &d);
	/* Every code exactly once, and every skip accounted for. */
	for (i = 0; i < TINY; i++)
		CHECKF(times[i] == 1, "code %llu issued %u times",
		       (unsigned long long)i, times[i]);
	CHECK_EQ_U64(got, TINY);
	CHECK(skipped > 0);
	/* The capacity everywhere is now 0 left. */
	CHECK(code_prefix_parse(&d, "AB", &p) == 0);
	CHECK(codepool_count(&lg, &d, &p, &issued) == 0 && issued == 9);
	/* A prefix that is too long generates nothing. */
	CHECK(code_prefix_parse(&d, "AB-AB", &p) == -E2BIG);
	/* The lookup knows every code's stream. */
	for (i = 0; i < TINY; i++) {
		struct codepool_lookup lk;

		CHECK(codepool_lookup(&lg, &d, i, &lk) == 0 && lk.issued);
	}
	codepool_batch_release(&b);
	ledger_release(&lg);
	t_rm_rf(dir);
}

struct collect {
	uint64_t v[4096];
	size_t n;
};

static int collect_code(uint64_t code, void *arg)
{
	struct collect *c = arg;

	if (c->n < 4096)
		c->v[c->n++] = code;
	return 0;
}

/* A job's codes, walked back from the ledger, are the ones it got, in
 * the order it got them, skips left out. */
static void test_walk_back(void)
{
	struct ledger_opts lo = { .sync = false, .create = true };
	struct pool_def d = def_of("####", "ABCDEFGH"); /* 4096 */
	static struct collect c;
	static uint64_t issued[4096];
	struct ledger_rec rec;
	struct code_prefix root, p;
	struct codepool_batch b;
	struct ledger lg;
	size_t n = 0, i;
	char dir[256], path[512], err[256];

	snprintf(dir, sizeof(dir), "%s", t_tmpdir());
	snprintf(path, sizeof(path), "%s/ledger.mdb", dir);
	CHECK(ledger_open(&lg, path, &lo) == 0);
	CHECK(ledger_rec_ensure(&lg, &d, &rec, err, sizeof(err)) == 0);
	CHECK(codepool_batch_init(&b, 1000) == 0);
	CHECK(code_prefix_parse(&d, "", &root) == 0);
	CHECK(code_prefix_parse(&d, "B", &p) == 0);
	/* the root takes 1500 codes, about 190 of them under B (of 512) */
	CHECK(codepool_issue(&lg, &d, &root, 0, 1000, &b, NULL, NULL) == 0);
	CHECK(codepool_issue(&lg, &d, &root, 0, 500, &b, NULL, NULL) == 0);
	/* a job under B takes 300, in chunks, skipping the root's */
	while (n < 300) {
		CHECK(codepool_issue(&lg, &d, &p, CODEPOOL_JOB_SHARD(9),
				     300 - n, &b, NULL, NULL) == 0);
		if (b.grant.count == 0)
			break;
		memcpy(issued + n, b.codes, b.n * sizeof(*b.codes));
		n += b.n;
	}
	CHECK_EQ_U64(n, 300);
	c.n = 0;
	CHECK(codepool_shard_codes(&lg, &d, &p, CODEPOOL_JOB_SHARD(9), 0, 300,
				   collect_code, &c) == 0);
	CHECK_EQ_U64(c.n, 300);
	CHECK(c.n == 300 && !memcmp(c.v, issued, 300 * sizeof(*c.v)));
	/* from the middle */
	c.n = 0;
	CHECK(codepool_shard_codes(&lg, &d, &p, CODEPOOL_JOB_SHARD(9), 123, 50,
				   collect_code, &c) == 0);
	CHECK(c.n == 50 && !memcmp(c.v, issued + 123, 50 * sizeof(*c.v)));
	for (i = 0; i < n; i++)
		CHECK(code_top(&d, issued[i], 1) == 1);
	codepool_batch_release(&b);
	ledger_release(&lg);
	t_rm_rf(dir);
}

/* Job ids: 1, 2, ... and never one whose grants' receiver would be
 * another job's or uniqctl's (CODEPOOL_JOB_SHARD keeps 31 bits). */
static void test_job_ids(void)
{
	struct ledger_opts lo = { .sync = false, .create = true };
	uint64_t next = CODEJOB_ID_MAX;
	struct codejob j;
	struct ledger lg;
	char dir[256], path[512];
	char key[] = "next_job_id";
	MDB_val k = { sizeof(key) - 1, key }, v;
	MDB_txn *txn;

	snprintf(dir, sizeof(dir), "%s", t_tmpdir());
	snprintf(path, sizeof(path), "%s/ledger.mdb", dir);
	CHECK(ledger_open(&lg, path, &lo) == 0);
	CHECK(codejob_create(&lg, "c", "", 5, &j) == 0 && j.id == 1);
	CHECK(codejob_create(&lg, "c", "A", 5, &j) == 0 && j.id == 2);
	CHECK(CODEPOOL_JOB_SHARD(CODEJOB_ID_MAX) != CODEPOOL_CLI_SHARD);
	/* a ledger that made two billion jobs */
	CHECK(store_txn_begin(lg.env, NULL, 0, &txn) == 0);
	v = (MDB_val){ sizeof(next), &next };
	CHECK(store_finish(txn, store_err(mdb_put(txn, lg.meta, &k, &v,
						  0))) == 0);
	CHECK(codejob_create(&lg, "c", "", 5, &j) == 0 &&
	      j.id == CODEJOB_ID_MAX);
	CHECK(codejob_create(&lg, "c", "", 5, &j) == OUTCOME_JOB_IDS_OUT);
	CHECK(codejob_get(&lg, CODEJOB_ID_MAX + 1, &j) == -ENOENT);
	ledger_release(&lg);
	t_rm_rf(dir);
}

int main(void)
{
	test_text();
	test_prefix();
	test_streams();
	test_walk_back();
	test_job_ids();
	return t_done("code");
}
