/*
 * test_pool.c: tests pools/rpool and refill/refill together, with real
 * refill threads on real LMDB files in a temporary data directory (suite
 * "threads", run under TSan). The one promise is checked throughout: many
 * threads drawing from a large pool never get a value twice; a small pool
 * drained by several threads gives each of its values exactly once and
 * then says OUTCOME_USED_UP; lookups tell issued/served/ready apart; a clean
 * stop puts unsent values back and a reopen serves them (and nothing
 * served before); a "crash" (no put back) burns the hoppers and still
 * repeats nothing. Also: concurrent ledger grants tile the permutation,
 * a data directory that is not ours is refused, a pool's parameters are
 * checked on every open, and a draw of the largest allowed count is
 * eventually served, and a code pool's root stream walks past the codes
 * of its prefix streams within one refill step.
 */
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "common/clock.h"
#include "common/config.h"
#include "common/log.h"
#include "common/perm.h"
#include "pools/codejob.h"
#include "ledger/ledger.h"
#include "pools/pools.h"
#include "refill/refill.h"
#include "shard/hopper.h"
#include "shard/shard.h"
#include "tests/unit/t.h"
#include "tests/unit/t_util.h"
#include "common/banned.h"

/* How long a phase may take before the test calls it stuck. */
#define PHASE_SECONDS 60

/* A fresh temporary directory, copied out of t_tmpdir's static buffer. */
static void make_tmpdir(char *buf, size_t len)
{
	snprintf(buf, len, "%s", t_tmpdir());
}

static void sleep_us(long us)
{
	struct timespec ts = { us / 1000000, (us % 1000000) * 1000 };

	nanosleep(&ts, NULL);
}

static uint64_t deadline_in(unsigned seconds)
{
	return clock_mono_ns() + (uint64_t)seconds * 1000000000ull;
}

/* A growable array of values. */
struct vec {
	uint64_t *v;
	size_t n, cap;
};

static bool vec_add(struct vec *a, const uint64_t *v, size_t n)
{
	if (n == 0)
		return true;
	if (a->n + n > a->cap) {
		size_t cap = a->cap ? a->cap : 1024;
		uint64_t *nv;

		while (cap < a->n + n)
			cap *= 2;
		nv = realloc(a->v, cap * sizeof(*nv));
		if (!nv)
			return false;
		a->v = nv;
		a->cap = cap;
	}
	memcpy(a->v + a->n, v, n * sizeof(*v));
	a->n += n;
	return true;
}

static void vec_free(struct vec *a)
{
	free(a->v);
	memset(a, 0, sizeof(*a));
}

static void vec_sort(struct vec *a)
{
	if (a->n)
		qsort(a->v, a->n, sizeof(*a->v), t_cmp_u64);
}

/* Values held more than once by a sorted vec. */
static size_t vec_dups(const struct vec *a)
{
	size_t i, d = 0;

	for (i = 1; i < a->n; i++)
		if (a->v[i] == a->v[i - 1])
			d++;
	return d;
}

static bool vec_has(const struct vec *sorted, uint64_t x)
{
	return sorted->n &&
	       bsearch(&x, sorted->v, sorted->n, sizeof(x), t_cmp_u64);
}

/* Values of a that are also in the sorted vec b. */
static size_t vec_common(const struct vec *a, const struct vec *sorted_b)
{
	size_t i, c = 0;

	for (i = 0; i < a->n; i++)
		if (vec_has(sorted_b, a->v[i]))
			c++;
	return c;
}

/* Values of a not below limit. */
static size_t vec_out_of_range(const struct vec *a, uint64_t limit)
{
	size_t i, c = 0;

	for (i = 0; i < a->n; i++)
		if (a->v[i] >= limit)
			c++;
	return c;
}

/* Adds fresh draws to all (sorted), checking they are new and in range. */
static void merge_new(struct vec *all, struct vec *fresh, uint64_t cap,
		      const char *what)
{
	size_t c;

	vec_sort(fresh);
	CHECKF(vec_dups(fresh) == 0, "%s: %zu values drawn twice", what,
	       vec_dups(fresh));
	CHECKF(vec_out_of_range(fresh, cap) == 0, "%s: values out of range",
	       what);
	c = vec_common(fresh, all);
	CHECKF(c == 0, "%s: %zu values drawn before were drawn again", what,
	       c);
	CHECK(vec_add(all, fresh->v, fresh->n));
	vec_sort(all);
}

/* One drawing thread: draws batches of 1..maxn from p until `total`
 * reaches target, the pool is used up, or the deadline passes. */
struct drawer {
	struct rpool *p;
	unsigned hint;
	unsigned maxn;
	uint64_t target;
	_Atomic uint64_t *total;
	uint64_t deadline;
	uint64_t rng;
	struct vec got;
	uint64_t eagain;
	int err;		/* an unexpected return of rpool_draw */
	bool nodata, timed_out, bad_shard, oom;
};

static void *drawer_main(void *arg)
{
	struct drawer *d = arg;
	uint64_t vals[64];
	unsigned maxn = d->maxn, shard;
	size_t n;
	int rc;

	while (atomic_load(d->total) < d->target) {
		if (clock_mono_ns() > d->deadline) {
			d->timed_out = true;
			break;
		}
		n = 1 + t_rng_next(&d->rng) % maxn;
		rc = rpool_draw(d->p, n, vals, &shard, d->hint);
		if (rc == OUTCOME_REFILLING) {
			d->eagain++;
			sleep_us(100);
			continue;
		}
		if (rc == OUTCOME_USED_UP) {
			if (n > 1) {
				maxn = 1; /* fewer than n may be left */
				continue;
			}
			d->nodata = true;
			break;
		}
		if (rc) {
			d->err = rc;
			break;
		}
		if (shard >= d->p->nserving)
			d->bad_shard = true;
		if (!vec_add(&d->got, vals, n)) {
			d->oom = true;
			break;
		}
		atomic_fetch_add(d->total, n);
	}
	return NULL;
}

/*
 * Draws from p with nthreads threads until they got target values
 * together (UINT64_MAX: until used up), appending everything to out.
 * Returns how many threads saw OUTCOME_USED_UP.
 */
static unsigned draw_many(struct rpool *p, unsigned nthreads, unsigned maxn,
			  uint64_t target, struct vec *out)
{
	struct drawer d[16];
	pthread_t tid[16];
	_Atomic uint64_t total = 0;
	unsigned i, nodata = 0, started = 0;

	if (nthreads > 16)
		nthreads = 16;
	for (i = 0; i < nthreads; i++) {
		memset(&d[i], 0, sizeof(d[i]));
		d[i].p = p;
		d[i].hint = i;
		d[i].maxn = maxn;
		d[i].target = target;
		d[i].total = &total;
		d[i].deadline = deadline_in(PHASE_SECONDS);
		d[i].rng = 0x5eed + i * 7919 + (uint64_t)p->id * 104729;
		if (pthread_create(&tid[i], NULL, drawer_main, &d[i]) != 0) {
			CHECK(0);
			break;
		}
		started++;
	}
	for (i = 0; i < started; i++) {
		pthread_join(tid[i], NULL);
		CHECKF(d[i].err == 0, "%s: rpool_draw: %s", p->def->name,
		       outcome_str(d[i].err));
		CHECKF(!d[i].timed_out, "%s: drawer %u stuck (%llu x "
		       "refilling)", p->def->name, i,
		       (unsigned long long)d[i].eagain);
		CHECK(!d[i].bad_shard);
		CHECK(!d[i].oom);
		if (d[i].nodata)
			nodata++;
		CHECK(vec_add(out, d[i].got.v, d[i].got.n));
		vec_free(&d[i].got);
	}
	return nodata;
}

/* Draws one value in the calling thread, waiting through refilling. */
static int draw_one(struct rpool *p, uint64_t *v, unsigned *shard)
{
	uint64_t end = deadline_in(PHASE_SECONDS);
	int rc;

	while ((rc = rpool_draw(p, 1, v, shard, 0)) == OUTCOME_REFILLING &&
	       clock_mono_ns() < end)
		sleep_us(500);
	return rc;
}

/* Waits (bounded) until every serving shard of p has values ready in
 * both its environment and its hopper, as it has at rest: the filler
 * runs at a lower priority and may lag on a busy machine. */
static void wait_stocked(struct rpool *p)
{
	uint64_t end = deadline_in(PHASE_SECONDS);
	unsigned i;

	for (;;) {
		for (i = 0; i < p->nserving; i++)
			if (atomic_load(&p->shards[i].level) < p->low_water ||
			    hopper_level(&p->shards[i].hopper) <
				    p->hopper_cap / 2)
				break;
		if (i == p->nserving || clock_mono_ns() > end)
			break;
		sleep_us(1000);
	}
	CHECKF(i == p->nserving, "%s: shard %u not stocked after %d s",
	       p->def->name, i, PHASE_SECONDS);
}

/* Appends every value in the environments of p's serving shards. */
static void read_shards(struct rpool *p, struct vec *out)
{
	struct shard_reader r;
	struct shard_item it;
	unsigned i;
	int rc;

	for (i = 0; i < p->nserving; i++) {
		CHECK_RC(shard_reader_begin(&p->shards[i].shard, &r), 0);
		while ((rc = shard_reader_next(&r, &it)) == 0)
			CHECK(vec_add(out, &it.value, 1));
		CHECK_RC(rc, -ENOENT);
		shard_reader_end(&r);
	}
}

static uint64_t counter_of(struct rpool *p)
{
	struct ledger_rec rec;

	memset(&rec, 0, sizeof(rec));
	CHECK_RC(ledger_rec_get(p->ledger, p->def->name, &rec), 0);
	return rec.counter;
}

/* Loads cfg from JSON over the defaults, in data directory dir, unsynced. */
static int load_config(struct config *cfg, const char *json, const char *dir)
{
	char err[256];
	int rc;

	rc = config_default(cfg);
	if (rc == 0)
		rc = config_parse(cfg, json, err, sizeof(err));
	CHECKF(rc == 0, "config: %s", err);
	snprintf(cfg->data_dir, sizeof(cfg->data_dir), "%s", dir);
	cfg->sync = false;
	return rc;
}

/* Opens ps on cfg (creating) and starts the refill threads. */
static int start(struct pools *ps, const struct config *cfg,
		 struct refill **rf)
{
	struct pools_opts o = { .create = true };
	char err[512] = "";
	int rc;

	*rf = NULL;
	rc = pools_open(ps, cfg, &o, err, sizeof(err));
	CHECKF(rc == 0, "pools_open: %s (%s)", log_strerror(rc), err);
	if (rc)
		return rc;
	rc = refill_start(ps, rf);
	CHECKF(rc == 0, "refill_start: %s", log_strerror(rc));
	if (rc)
		pools_release(ps);
	return rc;
}

/* ---------------------------------------------------------------- */

#define CG_THREADS 4
#define CG_CAP 200000u

struct granter {
	struct ledger *lg;
	uint32_t shard;
	uint64_t rng;
	struct ledger_grant *g;
	size_t n, cap;
	int err;
	bool late_grant;	/* something granted after a count of 0 */
};

static void *granter_main(void *arg)
{
	struct granter *gr = arg;
	struct ledger_grant g;
	int rc, i;

	for (;;) {
		rc = ledger_grant(gr->lg, "cc", gr->shard,
				  1 + t_rng_next(&gr->rng) % 50, &g);
		if (rc) {
			gr->err = rc;
			return NULL;
		}
		if (g.count == 0)
			break;
		if (gr->n == gr->cap) {
			size_t cap = gr->cap ? gr->cap * 2 : 256;
			struct ledger_grant *ng = realloc(gr->g,
							  cap * sizeof(*ng));

			if (!ng) {
				gr->err = -ENOMEM;
				return NULL;
			}
			gr->g = ng;
			gr->cap = cap;
		}
		gr->g[gr->n++] = g;
	}
	/* Used up stays used up. */
	for (i = 0; i < 10; i++)
		if (ledger_grant(gr->lg, "cc", gr->shard, 10, &g) != 0 ||
		    g.count != 0)
			gr->late_grant = true;
	return NULL;
}

static int cmp_grant_first(const void *a, const void *b)
{
	const struct ledger_grant *x = a, *y = b;

	return x->first < y->first ? -1 : x->first > y->first;
}

/* Four threads grant from one pool, two per shard, until it is used up:
 * the grants tile [0, capacity) and each shard's sequence numbers. */
static void test_concurrent_grants(void)
{
	struct granter gr[CG_THREADS];
	pthread_t tid[CG_THREADS];
	struct ledger_grant *all = NULL, *loaded = NULL;
	struct ledger_opts lo = { .sync = false, .create = true };
	struct pool_def d;
	struct ledger_rec rec;
	struct ledger lg;
	char dir[256], path[512], err[256];
	uint64_t next = 0, seq[2] = { 0, 0 };
	size_t n = 0, nl = 0, i, k;
	bool tiled = true;

	make_tmpdir(dir, sizeof(dir));
	snprintf(path, sizeof(path), "%s/%s", dir, LEDGER_FILE);
	CHECK_RC(ledger_open(&lg, path, &lo), 0);
	memset(&d, 0, sizeof(d));
	snprintf(d.name, sizeof(d.name), "cc");
	d.kind = POOL_INT;
	d.capacity = CG_CAP;
	d.shards = 2;
	d.shard_size = 100;
	CHECK_RC(ledger_rec_ensure(&lg, &d, &rec, err, sizeof(err)), 0);

	for (k = 0; k < CG_THREADS; k++) {
		memset(&gr[k], 0, sizeof(gr[k]));
		gr[k].lg = &lg;
		gr[k].shard = (uint32_t)(k % 2);
		gr[k].rng = 99 + k;
		CHECK_RC(pthread_create(&tid[k], NULL, granter_main, &gr[k]),
			 0);
	}
	for (k = 0; k < CG_THREADS; k++) {
		pthread_join(tid[k], NULL);
		CHECKF(gr[k].err == 0, "granter %zu: %s", k,
		       log_strerror(gr[k].err));
		CHECK(!gr[k].late_grant);
		n += gr[k].n;
	}
	all = calloc(n ? n : 1, sizeof(*all));
	CHECK(all != NULL);
	for (k = 0, i = 0; all && k < CG_THREADS; k++) {
		if (gr[k].n) /* a thread may start after the others are done */
			memcpy(all + i, gr[k].g, gr[k].n * sizeof(*all));
		i += gr[k].n;
	}
	if (all) {
		/* In order of first they tile [0, capacity) and, per shard,
		 * [0, next sequence number). */
		qsort(all, n, sizeof(*all), cmp_grant_first);
		for (i = 0; i < n && tiled; i++) {
			if (all[i].first != next || all[i].count == 0 ||
			    all[i].shard > 1 ||
			    all[i].seq0 != seq[all[i].shard]) {
				CHECKF(0, "grant %zu: first %llu count %llu "
				       "shard %u seq0 %llu; expected first "
				       "%llu", i,
				       (unsigned long long)all[i].first,
				       (unsigned long long)all[i].count,
				       all[i].shard,
				       (unsigned long long)all[i].seq0,
				       (unsigned long long)next);
				tiled = false;
				break;
			}
			next += all[i].count;
			seq[all[i].shard] += all[i].count;
		}
		CHECK(tiled);
		CHECK_EQ_U64(next, CG_CAP);

		/* The ledger recorded exactly these. */
		CHECK_RC(ledger_grants_load(&lg, "cc", &rec, &loaded, &nl), 0);
		CHECK_EQ_U64(rec.counter, CG_CAP);
		CHECK_EQ_U64(nl, n);
		for (i = 0; i < n && i < nl; i++)
			if (loaded[i].first != all[i].first ||
			    loaded[i].count != all[i].count ||
			    loaded[i].seq0 != all[i].seq0 ||
			    loaded[i].shard != all[i].shard)
				break;
		CHECKF(i == n, "loaded grant %zu differs", i);
		free(loaded);
	}
	free(all);
	for (k = 0; k < CG_THREADS; k++)
		free(gr[k].g);
	ledger_release(&lg);
	t_rm_rf(dir);
}

/* ---------------------------------------------------------------- */

/* A directory of someone else's files is refused and left alone; opening
 * without create needs an existing ledger. */
static void test_data_dir(void)
{
	static const char json[] =
		"{\"pools\": [{\"name\": \"d\", \"kind\": \"int\", "
		"\"min\": 0, \"max\": 99, \"shards\": 1, \"shard_size\": 10}]}";
	struct pools_opts create = { .create = true };
	struct pools_opts only = { .create = false };
	struct config cfg;
	struct pools ps;
	char dir[256], sub[300], file[400], err[512];
	struct stat st;
	FILE *f;

	make_tmpdir(dir, sizeof(dir));
	snprintf(sub, sizeof(sub), "%s/data", dir);
	if (load_config(&cfg, json, sub))
		return;

	/* Missing, without create: -ENOENT, and nothing is created. */
	err[0] = '\0';
	CHECK_RC(pools_open(&ps, &cfg, &only, err, sizeof(err)), -ENOENT);
	CHECK(strlen(err) > 0);
	CHECK(stat(sub, &st) != 0);

	/* Someone else's files: refused, no shards directory made. */
	CHECK_EQ_U64(mkdir(sub, 0700), 0);
	snprintf(file, sizeof(file), "%s/notes.txt", sub);
	f = fopen(file, "w");
	CHECK(f != NULL);
	if (f) {
		fputs("mine\n", f);
		fclose(f);
	}
	err[0] = '\0';
	CHECK_RC(pools_open(&ps, &cfg, &create, err, sizeof(err)), -EPROTO);
	CHECK(strlen(err) > 0);
	snprintf(file, sizeof(file), "%s/shards", sub);
	CHECK(stat(file, &st) != 0);
	snprintf(file, sizeof(file), "%s/%s", sub, LEDGER_FILE);
	CHECK(stat(file, &st) != 0);

	/* An empty directory is fine, and then it is ours. */
	snprintf(file, sizeof(file), "%s/notes.txt", sub);
	CHECK_EQ_U64(remove(file), 0);
	CHECK_RC(pools_open(&ps, &cfg, &create, err, sizeof(err)), 0);
	CHECK_EQ_U64(ps.npools, 1);
	CHECK(pools_random(&ps, "d") != NULL);
	CHECK(pools_random(&ps, "e") == NULL);
	pools_release(&ps);
	CHECK_RC(pools_check_dir(sub, err, sizeof(err)), 0);
	CHECK_RC(pools_open(&ps, &cfg, &only, err, sizeof(err)), 0);
	pools_release(&ps);
	config_release(&cfg);
	t_rm_rf(dir);
}

/*
 * A pool's parameters are checked against the ledger on every open, with
 * or without create. A float pool's decimals are part of what its values
 * mean: [0, 1) with 3 decimals and [0, 10) with 2 decimals both have 1000
 * values from min 0, but index 10 is 0.010 in one and index 1 is 0.01 in
 * the other: the same number, served twice.
 */
static void test_params_checked(void)
{
	static const char json3[] =
		"{\"pools\": [{\"name\": \"f\", \"kind\": \"float\", "
		"\"decimals\": 3, \"min\": 0, \"max\": 1, \"shards\": 1, "
		"\"shard_size\": 10}]}";
	static const char json2[] =
		"{\"pools\": [{\"name\": \"f\", \"kind\": \"float\", "
		"\"decimals\": 2, \"min\": 0, \"max\": 10, \"shards\": 1, "
		"\"shard_size\": 10}]}";
	static const char json_int[] =
		"{\"pools\": [{\"name\": \"f\", \"kind\": \"int\", "
		"\"min\": 0, \"max\": 999, \"shards\": 1, "
		"\"shard_size\": 10}]}";
	struct pools_opts create = { .create = true };
	struct pools_opts only = { .create = false };
	struct config c3, c2, ci;
	struct pools ps;
	char dir[256], err[512];
	int rc;

	make_tmpdir(dir, sizeof(dir));
	if (load_config(&c3, json3, dir) || load_config(&c2, json2, dir) ||
	    load_config(&ci, json_int, dir))
		return;
	CHECK_EQ_U64(c3.pools[0].capacity, c2.pools[0].capacity);
	CHECK(c3.pools[0].min == c2.pools[0].min);

	CHECK_RC(pools_open(&ps, &c3, &create, err, sizeof(err)), 0);
	pools_release(&ps);

	/* Another kind: refused either way. */
	CHECK_RC(pools_open(&ps, &ci, &create, err, sizeof(err)), -EINVAL);
	CHECK_RC(pools_open(&ps, &ci, &only, err, sizeof(err)), -EINVAL);
	/* Other decimals: refused with create (ledger_rec_ensure)... */
	err[0] = '\0';
	CHECK_RC(pools_open(&ps, &c2, &create, err, sizeof(err)), -EINVAL);
	CHECK(strlen(err) > 0);
	/* ...and must be without create too (uniqctl lookup, verify). */
	err[0] = '\0';
	rc = pools_open(&ps, &c2, &only, err, sizeof(err));
	CHECKF(rc == -EINVAL, "a float pool reopened with other decimals "
	       "and the same min and capacity was accepted without create "
	       "(rc %d)", rc);
	if (rc == 0)
		pools_release(&ps);

	/* The original still opens. */
	CHECK_RC(pools_open(&ps, &c3, &only, err, sizeof(err)), 0);
	pools_release(&ps);
	config_release(&c3);
	config_release(&c2);
	config_release(&ci);
	t_rm_rf(dir);
}

/*
 * The largest count a request may draw is the hopper's capacity (rpool.c;
 * the server allows min(hopper capacity, 10000)). Such a draw must be
 * served eventually while the shard holds plenty, even when the hopper
 * happens to sit above half full.
 */
static void test_max_count_draw(void)
{
	static const char json[] =
		"{\"pools\": [{\"name\": \"h\", \"kind\": \"int\", "
		"\"min\": 0, \"max\": 999999, \"shards\": 1, "
		"\"shard_size\": 300}]}";
	struct config cfg;
	struct pools ps;
	struct refill *rf;
	struct rpool *p;
	struct vec got = { 0 };
	uint64_t *vals = NULL, end;
	unsigned shard;
	char dir[256];
	size_t i;
	int rc = OUTCOME_REFILLING;

	make_tmpdir(dir, sizeof(dir));
	if (load_config(&cfg, json, dir))
		return;
	if (start(&ps, &cfg, &rf))
		goto out_cfg;
	p = pools_random(&ps, "h");
	CHECK(p != NULL);
	if (!p)
		goto out;
	CHECK_EQ_U64(p->hopper_cap, 300);
	vals = calloc(p->hopper_cap, sizeof(*vals));
	if (!vals)
		goto out;

	/* Wait for a full hopper and a full shard. */
	end = deadline_in(PHASE_SECONDS);
	while ((hopper_level(&p->shards[0].hopper) < p->hopper_cap ||
		atomic_load(&p->shards[0].level) < p->def->shard_size) &&
	       clock_mono_ns() < end)
		sleep_us(1000);
	CHECK_EQ_U64(hopper_level(&p->shards[0].hopper), p->hopper_cap);

	/* A third of it served one by one. */
	for (i = 0; i < p->hopper_cap / 3; i++) {
		CHECK_RC(draw_one(p, vals, &shard), 0);
		CHECK(vec_add(&got, vals, 1));
	}
	/* Now the largest count, for up to PHASE_SECONDS (a busy TSan
	 * machine's refill may lag for seconds). */
	end = deadline_in(PHASE_SECONDS);
	while ((rc = rpool_draw(p, p->hopper_cap, vals, &shard, 0)) ==
		       OUTCOME_REFILLING &&
	       clock_mono_ns() < end)
		sleep_us(1000);
	CHECKF(rc == 0, "a draw of %zu (the hopper's capacity) got %s for "
	       "%d s with %llu values ready in the shard and %zu in the "
	       "hopper", p->hopper_cap, outcome_str(rc), PHASE_SECONDS,
	       (unsigned long long)atomic_load(&p->shards[0].level),
	       hopper_level(&p->shards[0].hopper));
	if (rc == 0) {
		CHECK(vec_add(&got, vals, p->hopper_cap));
		vec_sort(&got);
		CHECK_EQ_U64(vec_dups(&got), 0);
	}
out:
	refill_stop(rf);
	refill_free(rf);
	pools_release(&ps);
out_cfg:
	free(vals);
	vec_free(&got);
	config_release(&cfg);
	t_rm_rf(dir);
}

/*
 * A pool whose hopper holds more than a largest draw (16384 > 10000): a
 * hopper at rest holds a largest draw, so that draw succeeds at once
 * while the shard has plenty, even after the hopper was drained to just
 * above half (which the taker once left alone). And a value sitting in
 * the hopper is unsent for a lookup until it is popped.
 */
static void test_rest_holds_a_largest_draw(void)
{
	static const char json[] =
		"{\"pools\": [{\"name\": \"r\", \"kind\": \"int\", "
		"\"min\": 0, \"max\": 99999999, \"shards\": 1, "
		"\"shard_size\": 40000}]}";
	struct config cfg;
	struct pools ps;
	struct refill *rf;
	struct rpool *p;
	struct rpool_lookup lk;
	struct vec got = { 0 };
	struct shard_item head;
	struct hopper *h;
	uint64_t *vals = NULL, end;
	unsigned shard;
	char dir[256];
	size_t level;
	int rc;

	make_tmpdir(dir, sizeof(dir));
	if (load_config(&cfg, json, dir))
		return;
	if (start(&ps, &cfg, &rf))
		goto out_cfg;
	p = pools_random(&ps, "r");
	CHECK(p != NULL);
	if (!p)
		goto out;
	CHECK_EQ_U64(p->hopper_cap, 16384);
	CHECK_EQ_U64(p->max_draw, RPOOL_DRAW_MAX);
	CHECK(p->hopper_low == p->max_draw);
	vals = calloc(p->max_draw, sizeof(*vals));
	if (!vals)
		goto out;
	h = &p->shards[0].hopper;

	/* The value at the hopper's head: issued, out of the shard's
	 * environment, but not sent. */
	pthread_mutex_lock(&h->lock);
	head = h->len ? h->ring[h->head] : (struct shard_item){ 0, 0 };
	level = h->len;
	pthread_mutex_unlock(&h->lock);
	CHECK(level > 0);
	if (level) {
		CHECK_RC(rpool_lookup(p, head.value, &lk), 0);
		CHECK(lk.issued && !lk.in_shard && lk.in_hopper);
		CHECK(hopper_holds(h, head.seq, head.value));
		CHECK(!hopper_holds(h, head.seq, head.value + 1));
		CHECK(!hopper_holds(h, head.seq + p->hopper_cap * 4,
				    head.value));
	}

	/* Drain to just above half, one at a time (the head first). */
	wait_stocked(p);
	while (hopper_level(h) > p->hopper_cap / 2 + 100) {
		CHECK_RC(draw_one(p, vals, &shard), 0);
		if (!vec_add(&got, vals, 1))
			goto out;
	}
	if (level) {
		CHECK(got.v[0] == head.value);
		CHECK_RC(rpool_lookup(p, head.value, &lk), 0);
		CHECK(lk.issued && !lk.in_shard && !lk.in_hopper);
	}
	/* Topped up to a largest draw without any demand. */
	end = deadline_in(PHASE_SECONDS);
	while (hopper_level(h) < p->max_draw && clock_mono_ns() < end)
		sleep_us(1000);
	CHECKF(hopper_level(h) >= p->max_draw,
	       "a hopper at rest holds %zu, less than a largest draw (%zu)",
	       hopper_level(h), p->max_draw);
	rc = rpool_draw(p, p->max_draw, vals, &shard, 0);
	CHECK_RC(rc, 0);
	if (rc == 0 && vec_add(&got, vals, p->max_draw)) {
		vec_sort(&got);
		CHECK_EQ_U64(vec_dups(&got), 0);
	}
out:
	refill_stop(rf);
	refill_free(rf);
	pools_release(&ps);
out_cfg:
	free(vals);
	vec_free(&got);
	config_release(&cfg);
	t_rm_rf(dir);
}

/* ---------------------------------------------------------------- */

static int cmp_grant_shard_seq(const void *a, const void *b)
{
	const struct ledger_grant *x = a, *y = b;

	if (x->shard != y->shard)
		return x->shard < y->shard ? -1 : 1;
	return x->seq0 < y->seq0 ? -1 : x->seq0 > y->seq0;
}

/* The grant of shard `shard` holding sequence number seq, or NULL; gs is
 * sorted by shard, then seq0. */
static const struct ledger_grant *grant_of_seq(const struct ledger_grant *gs,
					       size_t n, uint32_t shard,
					       uint64_t seq)
{
	size_t lo = 0, hi = n;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		const struct ledger_grant *g = &gs[mid];

		if (g->shard < shard || (g->shard == shard &&
					 g->seq0 + g->count <= seq))
			lo = mid + 1;
		else
			hi = mid;
	}
	if (lo < n && gs[lo].shard == shard && gs[lo].seq0 <= seq)
		return &gs[lo];
	return NULL;
}

/*
 * An independent check of p at rest: the grants tile [0, counter); every
 * entry of every open shard sits where its grant put it (so no value is
 * held twice); none of them was drawn (sorted). Adds the entries' values
 * to ready when it is not NULL.
 */
static void check_at_rest(struct rpool *p, const struct vec *drawn,
			  struct vec *ready)
{
	struct ledger_grant *gs = NULL;
	struct ledger_rec rec;
	struct shard_reader r;
	struct shard_item it;
	uint64_t next = 0, misplaced = 0, was_drawn = 0;
	size_t n = 0, i;
	int rc;

	CHECK_RC(ledger_grants_load(p->ledger, p->def->name, &rec, &gs, &n),
		 0);
	for (i = 0; i < n; i++) {
		if (gs[i].first != next)
			break;
		next += gs[i].count;
	}
	CHECKF(i == n && next == rec.counter, "%s: grants do not tile "
	       "[0, %llu)", p->def->name, (unsigned long long)rec.counter);
	if (n)
		qsort(gs, n, sizeof(*gs), cmp_grant_shard_seq);
	for (i = 1; i < n; i++)
		if (gs[i].shard == gs[i - 1].shard &&
		    gs[i].seq0 < gs[i - 1].seq0 + gs[i - 1].count)
			CHECKF(0, "%s: shard %u: grants share sequence numbers",
			       p->def->name, gs[i].shard);
	for (i = 0; i < p->nopen; i++) {
		if (!p->shards[i].shard.env)
			continue;
		CHECK_RC(shard_reader_begin(&p->shards[i].shard, &r), 0);
		while ((rc = shard_reader_next(&r, &it)) == 0) {
			const struct ledger_grant *g =
				grant_of_seq(gs, n, (uint32_t)i, it.seq);

			if (!g || it.value != perm_apply(&p->perm, g->first +
							 it.seq - g->seq0))
				misplaced++;
			if (drawn && vec_has(drawn, it.value))
				was_drawn++;
			if (ready)
				CHECK(vec_add(ready, &it.value, 1));
		}
		CHECK_RC(rc, -ENOENT);
		shard_reader_end(&r);
	}
	CHECKF(misplaced == 0, "%s: %llu shard entries are not where their "
	       "grant put them", p->def->name, (unsigned long long)misplaced);
	CHECKF(was_drawn == 0, "%s: %llu values ready in shards were drawn "
	       "already", p->def->name, (unsigned long long)was_drawn);
	free(gs);
}

/* Stops the refill threads and puts the hoppers back. */
static void stop_clean(struct pools *ps, struct refill *rf)
{
	size_t i;

	refill_stop(rf);
	for (i = 0; i < ps->npools; i++)
		CHECK_RC(rpool_put_back(&ps->pools[i]), 0);
	refill_free(rf);
}

/*
 * Fewer shards in the configuration than before: the dropped shard's
 * values stay where they are (not served, still known to lookups and
 * checked at rest), nothing repeats, and when the shard comes back its
 * values are served.
 */
static void test_fewer_shards(void)
{
	static const char json3[] =
		"{\"pools\": [{\"name\": \"g\", \"kind\": \"int\", "
		"\"min\": 0, \"max\": 99999, \"shards\": 3, "
		"\"shard_size\": 200}]}";
	static const char json2[] =
		"{\"pools\": [{\"name\": \"g\", \"kind\": \"int\", "
		"\"min\": 0, \"max\": 99999, \"shards\": 2, "
		"\"shard_size\": 200}]}";
	struct config c3, c2;
	struct pools ps;
	struct refill *rf;
	struct rpool *p;
	struct rpool_lookup lk;
	struct vec drawn = { 0 }, fresh = { 0 }, left = { 0 };
	char dir[256];
	size_t i;

	make_tmpdir(dir, sizeof(dir));
	if (load_config(&c3, json3, dir) || load_config(&c2, json2, dir))
		return;

	/* Three shards. */
	if (start(&ps, &c3, &rf))
		goto out;
	p = pools_random(&ps, "g");
	draw_many(p, 4, 8, 3000, &fresh);
	merge_new(&drawn, &fresh, p->def->capacity, "g, 3 shards");
	vec_free(&fresh);
	wait_stocked(p);
	stop_clean(&ps, rf);
	check_at_rest(p, &drawn, NULL);
	pools_release(&ps);

	/* Two: shard 2 is still open, for lookups, and not served. */
	if (start(&ps, &c2, &rf))
		goto out;
	p = pools_random(&ps, "g");
	CHECK_EQ_U64(p->nserving, 2);
	CHECK_EQ_U64(p->nopen, 3);
	{
		struct shard_reader r;
		struct shard_item it;

		CHECK_RC(shard_reader_begin(&p->shards[2].shard, &r), 0);
		while (shard_reader_next(&r, &it) == 0)
			CHECK(vec_add(&left, &it.value, 1));
		shard_reader_end(&r);
	}
	CHECK(left.n > 0);
	vec_sort(&left);
	if (left.n) {
		CHECK_RC(rpool_lookup(p, left.v[0], &lk), 0);
		CHECK(lk.issued && lk.in_shard && lk.shard == 2);
	}
	draw_many(p, 4, 8, 3000, &fresh);
	vec_sort(&fresh);
	CHECKF(vec_common(&fresh, &left) == 0,
	       "values of a shard no longer configured were served");
	merge_new(&drawn, &fresh, p->def->capacity, "g, 2 shards");
	vec_free(&fresh);
	stop_clean(&ps, rf);
	check_at_rest(p, &drawn, NULL);
	pools_release(&ps);

	/* Three again: shard 2's values are served now. */
	if (start(&ps, &c3, &rf))
		goto out;
	p = pools_random(&ps, "g");
	draw_many(p, 4, 8, 6000, &fresh);
	vec_sort(&fresh);
	CHECKF(vec_common(&left, &fresh) == left.n,
	       "only %zu of the %zu values left in shard 2 were served",
	       vec_common(&left, &fresh), left.n);
	merge_new(&drawn, &fresh, p->def->capacity, "g, 3 shards again");
	vec_free(&fresh);
	stop_clean(&ps, rf);
	check_at_rest(p, &drawn, NULL);
	fprintf(stderr, "test_pool: fewer shards: %zu drawn, %zu left in the "
		"dropped shard and served later\n", drawn.n, left.n);
	for (i = 0; i < left.n; i += 17) {
		CHECK_RC(rpool_lookup(p, left.v[i], &lk), 0);
		CHECK(lk.issued && !lk.in_shard && lk.shard == 2);
	}
	pools_release(&ps);
out:
	vec_free(&drawn);
	vec_free(&left);
	config_release(&c3);
	config_release(&c2);
	t_rm_rf(dir);
}

/*
 * Another process refilling the same shards while this one serves (as
 * uniqctl init may beside uniqd): its grants interleave with ours in the
 * ledger and its appends land below or above ours in the shards, and
 * still nothing repeats and every entry sits where its grant put it.
 */
static void test_two_processes(void)
{
	static const char json[] =
		"{\"pools\": [{\"name\": \"x\", \"kind\": \"int\", "
		"\"min\": 0, \"max\": 9999999, \"shards\": 2, "
		"\"shard_size\": 500}]}";
	struct pools_opts create = { .create = true };
	struct config cfg;
	struct pools ps;
	struct refill *rf;
	struct rpool *p;
	struct vec drawn = { 0 }, fresh = { 0 }, ready = { 0 };
	char dir[256], err[512];
	int status = -1, round;
	pid_t pid;

	make_tmpdir(dir, sizeof(dir));
	if (load_config(&cfg, json, dir))
		return;
	CHECK_RC(pools_open(&ps, &cfg, &create, err, sizeof(err)), 0);
	pools_release(&ps);

	/* No thread of this process is running here, so forking is safe. */
	fflush(NULL);
	pid = fork();
	CHECK(pid >= 0);
	if (pid == 0) {
		struct pools_opts only = { .create = false };
		uint64_t scratch[500], added;
		int rc;

		rc = pools_open(&ps, &cfg, &only, err, sizeof(err));
		p = rc ? NULL : pools_random(&ps, "x");
		for (round = 0; p && rc == 0 && round < 60; round++) {
			rc = rpool_refill_step(p, (unsigned)round % 2, 500,
					       scratch, &added);
			if (rc == 0 && added != 500)
				rc = -EIO;
		}
		if (rc == 0)
			pools_release(&ps);
		_exit(rc || !p ? 1 : 0);
	}
	if (start(&ps, &cfg, &rf) == 0) {
		p = pools_random(&ps, "x");
		draw_many(p, 4, 16, 30000, &fresh);
		merge_new(&drawn, &fresh, p->def->capacity, "x");
		vec_free(&fresh);
		if (pid > 0)
			CHECK(waitpid(pid, &status, 0) == pid);
		CHECKF(WIFEXITED(status) && WEXITSTATUS(status) == 0,
		       "the other process failed (status %d)", status);
		pid = -1;
		stop_clean(&ps, rf);
		check_at_rest(p, &drawn, &ready);
		/* Everything granted is drawn or ready, or was burned in a
		 * hopper: no more than one hopper's worth per shard lost. */
		CHECK(drawn.n + ready.n <= counter_of(p));
		CHECK(drawn.n + ready.n + 2 * p->hopper_cap >= counter_of(p));
		CHECK(counter_of(p) >= 60 * 500);
		fprintf(stderr, "test_pool: two processes: %llu issued, %zu "
			"drawn, %zu ready\n",
			(unsigned long long)counter_of(p), drawn.n, ready.n);
		pools_release(&ps);
	}
	if (pid > 0)
		waitpid(pid, &status, 0);
	vec_free(&drawn);
	vec_free(&ready);
	config_release(&cfg);
	t_rm_rf(dir);
}

/* ---------------------------------------------------------------- */

static const char lifecycle_json[] =
	"{\"pools\": ["
	"{\"name\": \"small\", \"kind\": \"int\", \"min\": 1, \"max\": 5000, "
	"\"shards\": 2, \"shard_size\": 300},"
	"{\"name\": \"big\", \"kind\": \"int\", \"shards\": 3, "
	"\"shard_size\": 1000},"
	"{\"name\": \"flt\", \"kind\": \"float\", \"decimals\": 3, "
	"\"min\": 0, \"max\": 10, \"shards\": 2, \"shard_size\": 500}"
	"]}";

#define BIG_RUN1 200000u
#define BIG_RUN2 60000u
#define SMALL_CAP 5000u
#define MAX_SHARDS 8

struct life {
	struct config cfg;
	struct pools ps;
	struct refill *rf;
	struct rpool *small, *big, *flt;
	struct vec big_drawn;	/* every big value drawn so far, sorted */
	struct vec flt_drawn;	/* every flt value drawn so far, sorted */
	uint64_t ready[3][MAX_SHARDS];	/* per pool, per shard */
	uint64_t t0;
};

/* Checks that each serving shard's environment holds what was ready
 * (and, with level, that the pool's idea of it agrees). */
static void life_check_levels(struct life *lf, const char *when, bool level)
{
	struct rpool *pools[3] = { lf->small, lf->big, lf->flt };
	unsigned j, i;
	uint64_t n;

	for (j = 0; j < 3; j++)
		for (i = 0; i < pools[j]->nserving && i < MAX_SHARDS; i++) {
			n = UINT64_MAX;
			CHECK_RC(shard_count(&pools[j]->shards[i].shard, &n),
				 0);
			CHECKF(n == lf->ready[j][i], "%s: %s shard %u holds "
			       "%llu, expected %llu", when,
			       pools[j]->def->name, i, (unsigned long long)n,
			       (unsigned long long)lf->ready[j][i]);
			if (level)
				CHECK_EQ_U64(atomic_load(
					&pools[j]->shards[i].level), n);
		}
}

/* Opens the data directory; with check, verifies before the refill
 * threads start that every shard holds what lf->ready says. */
static bool life_start(struct life *lf, const char *check)
{
	struct pools_opts o = { .create = true };
	char err[512] = "";
	int rc;

	rc = pools_open(&lf->ps, &lf->cfg, &o, err, sizeof(err));
	CHECKF(rc == 0, "pools_open: %s (%s)", log_strerror(rc), err);
	if (rc)
		return false;
	lf->small = pools_random(&lf->ps, "small");
	lf->big = pools_random(&lf->ps, "big");
	lf->flt = pools_random(&lf->ps, "flt");
	CHECK(lf->small && lf->big && lf->flt);
	if (!lf->small || !lf->big || !lf->flt) {
		pools_release(&lf->ps);
		return false;
	}
	CHECK(lf->small->nserving == 2 && lf->big->nserving == 3 &&
	      lf->flt->nserving == 2);
	if (check)
		life_check_levels(lf, check, true);
	rc = refill_start(&lf->ps, &lf->rf);
	CHECKF(rc == 0, "refill_start: %s", log_strerror(rc));
	if (rc) {
		pools_release(&lf->ps);
		return false;
	}
	return true;
}

static void life_stop(struct life *lf, bool put_back)
{
	size_t i;

	refill_stop(lf->rf);
	if (put_back)
		for (i = 0; i < lf->ps.npools; i++)
			CHECK_RC(rpool_put_back(&lf->ps.pools[i]), 0);
	refill_free(lf->rf);
	lf->rf = NULL;
	pools_release(&lf->ps);
}

/* Lookups while running: drawn values are served, others not issued. */
static void life_lookups(struct life *lf, const struct vec *small_drawn)
{
	struct rpool_lookup lk;
	uint64_t v, k, counter, rng = 12345, now;
	unsigned shard;
	size_t i, bad;
	int tries;

	/* A value just drawn: issued by its shard, no longer in it. */
	CHECK_RC(draw_one(lf->big, &v, &shard), 0);
	{
		struct vec one = { 0 };

		CHECK(vec_add(&one, &v, 1));
		merge_new(&lf->big_drawn, &one, lf->big->def->capacity, "big");
		vec_free(&one);
	}
	CHECK_RC(rpool_lookup(lf->big, v, &lk), 0);
	now = clock_now_ms();
	CHECK(lk.issued);
	CHECK(!lk.in_shard);
	CHECK_EQ_U64(lk.shard, shard);
	CHECK_EQ_U64(lk.index, perm_invert(&lf->big->perm, v));
	CHECK(lk.issued_ms >= lf->t0 && lk.issued_ms <= now);

	/* A sample of the big draws, and every small value. */
	for (i = 0, bad = 0; i < lf->big_drawn.n; i += 97) {
		if (rpool_lookup(lf->big, lf->big_drawn.v[i], &lk) != 0 ||
		    !lk.issued || lk.in_shard ||
		    lk.shard >= lf->big->nserving)
			bad++;
	}
	CHECKF(bad == 0, "%zu drawn big values look unserved", bad);
	for (i = 0, bad = 0; i < small_drawn->n; i++) {
		if (rpool_lookup(lf->small, small_drawn->v[i], &lk) != 0 ||
		    !lk.issued || lk.in_shard)
			bad++;
	}
	CHECKF(bad == 0, "%zu drawn small values look unserved", bad);

	/* Values beyond the counter were never issued. */
	counter = counter_of(lf->big);
	CHECK(counter >= lf->big_drawn.n);
	for (tries = 0; tries < 20; tries++) {
		k = t_rng_next(&rng) % lf->big->def->capacity;
		if (perm_invert(&lf->big->perm, k) < counter)
			continue;
		CHECK_RC(rpool_lookup(lf->big, k, &lk), 0);
		/* the fillers may still run: granted meanwhile is no news */
		if (perm_invert(&lf->big->perm, k) < counter_of(lf->big))
			continue;
		CHECK(!lk.issued);
		CHECK(!lk.in_shard);
	}
	counter = counter_of(lf->flt);
	for (k = 0, tries = 0; k < lf->flt->def->capacity && tries < 5; k++) {
		if (perm_invert(&lf->flt->perm, k) < counter)
			continue;
		tries++;
		CHECK_RC(rpool_lookup(lf->flt, k, &lk), 0);
		if (perm_invert(&lf->flt->perm, k) < counter_of(lf->flt))
			continue;
		CHECK(!lk.issued);
	}
}

/* After refill_stop: a value ready in a shard's environment is issued
 * and not served. */
static void life_lookup_ready(struct life *lf)
{
	struct shard_reader r;
	struct shard_item it;
	struct rpool_lookup lk;
	unsigned i;

	for (i = 0; i < lf->big->nserving; i++) {
		CHECK_RC(shard_reader_begin(&lf->big->shards[i].shard, &r), 0);
		if (shard_reader_next(&r, &it) == 0) {
			CHECK_RC(rpool_lookup(lf->big, it.value, &lk), 0);
			CHECK(lk.issued);
			CHECK(lk.in_shard);
			CHECK_EQ_U64(lk.shard, i);
			CHECK_EQ_U64(lk.index,
				     perm_invert(&lf->big->perm, it.value));
			CHECK(!vec_has(&lf->big_drawn, it.value));
		} else {
			CHECKF(0, "big shard %u is empty after a stop", i);
		}
		shard_reader_end(&r);
	}
}

/* Records what each serving shard holds ready (environment + hopper). */
static void life_record_ready(struct life *lf)
{
	struct rpool *pools[3] = { lf->small, lf->big, lf->flt };
	unsigned j, i;

	for (j = 0; j < 3; j++)
		for (i = 0; i < pools[j]->nserving && i < MAX_SHARDS; i++)
			lf->ready[j][i] = rpool_shard_ready(pools[j], i);
}

/* rpool_draw on a used-up pool: OUTCOME_USED_UP, never a value, never
 * stuck in OUTCOME_REFILLING for long. */
static void check_used_up(struct rpool *p)
{
	uint64_t v[4], end = deadline_in(30);
	unsigned shard, i;
	int rc;

	while ((rc = rpool_draw(p, 1, v, &shard, 0)) == OUTCOME_REFILLING &&
	       clock_mono_ns() < end)
		sleep_us(1000);
	CHECKF(rc == OUTCOME_USED_UP, "%s: used up, but rpool_draw says %s",
	       p->def->name, outcome_str(rc));
	for (i = 0; i < 10; i++)
		CHECK_RC(rpool_draw(p, 1 + i % 4, v, &shard, i),
			 OUTCOME_USED_UP);
	CHECK(atomic_load(&p->used_up));
	CHECK_EQ_U64(counter_of(p), p->def->capacity);
}

static void test_lifecycle(void)
{
	static struct life lf;
	struct vec fresh = { 0 }, small = { 0 }, ready = { 0 };
	struct vec burned = { 0 };
	struct refill_stats st;
	struct shard_item *items = NULL;
	struct rpool_lookup lk;
	char dir[256];
	uint64_t sum;
	unsigned i, nodata;
	size_t n, k, bad;

	memset(&lf, 0, sizeof(lf));
	make_tmpdir(dir, sizeof(dir));
	if (load_config(&lf.cfg, lifecycle_json, dir))
		return;
	lf.t0 = clock_now_ms();

	/* Run 1. */
	if (!life_start(&lf, NULL))
		goto out;
	CHECK_EQ_U64(lf.ps.npools, 3);
	CHECK_EQ_U64(lf.big->hopper_cap, 1000);
	CHECK_EQ_U64(lf.small->def->capacity, SMALL_CAP);

	/* 8 threads, 200k values from the big pool: all distinct. */
	draw_many(lf.big, 8, 16, BIG_RUN1, &fresh);
	CHECK(fresh.n >= BIG_RUN1);
	merge_new(&lf.big_drawn, &fresh, lf.big->def->capacity, "big run 1");
	vec_free(&fresh);

	/* The small pool drained by 4 threads: each value once, then
	 * OUTCOME_USED_UP. */
	nodata = draw_many(lf.small, 4, 8, UINT64_MAX, &small);
	CHECK_EQ_U64(nodata, 4);
	vec_sort(&small);
	CHECK_EQ_U64(small.n, SMALL_CAP);
	for (n = 0, bad = 0; n < small.n; n++)
		if (small.v[n] != n)
			bad++;
	CHECKF(bad == 0, "small: %zu values are not 0..4999 once each", bad);
	check_used_up(lf.small);

	/* Some floats. */
	draw_many(lf.flt, 3, 4, 3000, &fresh);
	merge_new(&lf.flt_drawn, &fresh, lf.flt->def->capacity, "flt run 1");
	vec_free(&fresh);

	life_lookups(&lf, &small);
	refill_stats(lf.rf, lf.big, &st);
	CHECK(st.grants > 0 && st.takes > 0);
	CHECK(st.values >= lf.big_drawn.n);
	CHECK_EQ_U64(st.errors, 0);

	/* A clean stop: what was ready goes back into the shards. */
	wait_stocked(lf.big);
	refill_stop(lf.rf);
	life_lookup_ready(&lf);
	life_record_ready(&lf);
	for (i = 0; i < lf.ps.npools; i++)
		CHECK_RC(rpool_put_back(&lf.ps.pools[i]), 0);
	for (i = 0; i < lf.big->nserving; i++)
		CHECK_EQ_U64(hopper_level(&lf.big->shards[i].hopper), 0);
	life_check_levels(&lf, "after put back", false);
	read_shards(lf.big, &ready);
	for (i = 0, sum = 0; i < lf.big->nserving; i++)
		sum += lf.ready[1][i];
	CHECK_EQ_U64(ready.n, sum);
	CHECK(ready.n > 0);
	vec_sort(&ready);
	CHECK_EQ_U64(vec_dups(&ready), 0);
	CHECKF(vec_common(&ready, &lf.big_drawn) == 0,
	       "values put back had been drawn");
	for (n = 0, bad = 0; n < ready.n; n++)
		if (rpool_lookup(lf.big, ready.v[n], &lk) || !lk.issued ||
		    !lk.in_shard)
			bad++;
	CHECKF(bad == 0, "%zu values put back do not look ready", bad);
	refill_free(lf.rf);
	lf.rf = NULL;
	pools_release(&lf.ps);

	/* Run 2: the put-back values are ready again and get served, and
	 * nothing of run 1 comes back. */
	if (!life_start(&lf, "after reopen"))
		goto out;
	CHECK(atomic_load(&lf.small->used_up));
	check_used_up(lf.small);
	draw_many(lf.big, 8, 16, BIG_RUN2, &fresh);
	vec_sort(&fresh);
	CHECKF(vec_common(&ready, &fresh) == ready.n,
	       "only %zu of the %zu values put back were served after the "
	       "reopen", vec_common(&ready, &fresh), ready.n);
	merge_new(&lf.big_drawn, &fresh, lf.big->def->capacity, "big run 2");
	vec_free(&fresh);
	draw_many(lf.flt, 2, 4, 2000, &fresh);
	merge_new(&lf.flt_drawn, &fresh, lf.flt->def->capacity, "flt run 2");
	vec_free(&fresh);

	/* A crash: the refill threads stop, nothing goes back. What sat in
	 * the big hoppers is taken out here to know it; in a real crash
	 * it is simply lost. */
	wait_stocked(lf.big);
	refill_stop(lf.rf);
	items = calloc(lf.big->hopper_cap, sizeof(*items));
	CHECK(items != NULL);
	for (i = 0; items && i < lf.big->nserving; i++) {
		n = hopper_drain(&lf.big->shards[i].hopper, items,
				 lf.big->hopper_cap);
		for (k = 0; k < n; k++)
			CHECK(vec_add(&burned, &items[k].value, 1));
	}
	life_record_ready(&lf); /* hoppers of big now empty; flt's are not */
	for (i = 0; i < lf.flt->nserving; i++)
		lf.ready[2][i] -= hopper_level(&lf.flt->shards[i].hopper);
	refill_free(lf.rf);
	lf.rf = NULL;
	pools_release(&lf.ps);
	vec_sort(&burned);
	CHECK(burned.n > 0);
	CHECK_EQ_U64(vec_common(&burned, &lf.big_drawn), 0);

	/* Run 3: the hoppers' values are burned; nothing repeats. */
	if (!life_start(&lf, "after a crash"))
		goto out;
	draw_many(lf.big, 8, 16, BIG_RUN2, &fresh);
	vec_sort(&fresh);
	CHECKF(vec_common(&fresh, &burned) == 0,
	       "values burned by the crash were served");
	merge_new(&lf.big_drawn, &fresh, lf.big->def->capacity, "big run 3");
	vec_free(&fresh);
	for (n = 0, bad = 0; n < burned.n; n++)
		if (rpool_lookup(lf.big, burned.v[n], &lk) || !lk.issued ||
		    lk.in_shard)
			bad++;
	CHECKF(bad == 0, "%zu burned values do not look served", bad);
	draw_many(lf.flt, 2, 4, 2000, &fresh);
	merge_new(&lf.flt_drawn, &fresh, lf.flt->def->capacity, "flt run 3");
	vec_free(&fresh);
	check_used_up(lf.small);
	fprintf(stderr, "test_pool: big: %zu values drawn in 3 runs, %zu put "
		"back and served again, %zu burned; flt: %zu drawn\n",
		lf.big_drawn.n, ready.n, burned.n, lf.flt_drawn.n);
	life_stop(&lf, true);
out:
	free(items);
	vec_free(&small);
	vec_free(&ready);
	vec_free(&burned);
	vec_free(&lf.big_drawn);
	vec_free(&lf.flt_drawn);
	config_release(&lf.cfg);
	t_rm_rf(dir);
}

/*
 * A shard that refuses appends (a full disk, a failing file): the filler
 * must not burn a new grant on every retry. The grant is kept and appended
 * again, the same values at the same sequence numbers, once the shard
 * takes writes again.
 */
static void test_failed_append_is_retried(void)
{
	static const char json[] =
		"{\"pools\": [{\"name\": \"ap\", \"kind\": \"int\", "
		"\"min\": 0, \"max\": 999999, \"shards\": 1, "
		"\"shard_size\": 100}]}";
	struct shard_opts ro = { .readonly = true, .shard_size = 100 };
	struct shard_opts rw = { .create = false, .shard_size = 100 };
	struct pools_opts o = { .create = true };
	struct ledger_rec rec;
	struct shard_reader rd;
	struct shard_item it;
	struct pools ps;
	struct config cfg;
	struct rpool *p;
	char dir[256], path[512], err[256];
	uint64_t scratch[100], added = 1, counter, n = 0, i;
	int rc;

	make_tmpdir(dir, sizeof(dir));
	if (load_config(&cfg, json, dir))
		return;
	rc = pools_open(&ps, &cfg, &o, err, sizeof(err));
	CHECKF(rc == 0, "%s", err);
	if (rc)
		goto out_cfg;
	p = pools_random(&ps, "ap");
	/* reopen the shard read-only: appends now fail */
	shard_path(path, sizeof(path), dir, "ap", 0);
	shard_release(&p->shards[0].shard);
	CHECK(shard_open(&p->shards[0].shard, path, "ap", 0,
			 ps.ledger.instance, &ro) == 0);
	for (i = 0; i < 5; i++) {
		rc = rpool_refill_step(p, 0, 100, scratch, &added);
		CHECK(rc != 0 && added == 0);
	}
	CHECK(ledger_rec_get(&ps.ledger, "ap", &rec) == 0);
	counter = rec.counter;
	CHECKF(counter == 100, "5 failed appends granted %llu values",
	       (unsigned long long)counter);
	CHECK_EQ_U64(p->shards[0].pending.count, 100);
	/* writable again: the kept grant goes in, nothing new is granted */
	shard_release(&p->shards[0].shard);
	CHECK(shard_open(&p->shards[0].shard, path, "ap", 0,
			 ps.ledger.instance, &rw) == 0);
	CHECK(rpool_refill_step(p, 0, 100, scratch, &added) == 0);
	CHECK_EQ_U64(added, 100);
	CHECK_EQ_U64(p->shards[0].pending.count, 0);
	CHECK(ledger_rec_get(&ps.ledger, "ap", &rec) == 0);
	CHECK_EQ_U64(rec.counter, counter);
	/* and they are exactly the granted values, where the grant put them */
	CHECK(shard_reader_begin(&p->shards[0].shard, &rd) == 0);
	while (shard_reader_next(&rd, &it) == 0) {
		CHECK(it.seq == n && it.value == perm_apply(&p->perm, n));
		n++;
	}
	shard_reader_end(&rd);
	CHECK_EQ_U64(n, 100);
	pools_release(&ps);
out_cfg:
	config_release(&cfg);
	t_rm_rf(dir);
}

/*
 * Near the end of a code pool the root stream's candidates are mostly
 * codes the prefix streams had. One refill step must still add codes when
 * there are any: a step that answered "nothing" after a grant of skips
 * only would send the filler to sleep between grants, and the last codes
 * would come out seconds late. Here the prefix streams take 252 of 256
 * codes; every step adds until the 4 left are in the shard.
 */
static void test_code_refill_walks_past_skips(void)
{
	static const char json[] =
		"{\"pools\": [{\"name\": \"cw\", \"kind\": \"code\", "
		"\"pattern\": \"##-##\", \"alphabet\": \"ABCD\", "
		"\"shards\": 1, \"shard_size\": 4}]}";
	static const char *const prefixes[] = { "A", "B", "C", "DA", "DB",
						 "DC", "DD-A", "DD-B", "DD-C" };
	struct pools_opts o = { .create = true };
	struct codepool_batch b;
	struct code_prefix cp;
	struct pools ps;
	struct config cfg;
	struct rpool *p;
	char dir[256], err[256];
	uint64_t scratch[4], added, total = 0, taken = 0;
	unsigned steps = 0, k;
	int rc;

	make_tmpdir(dir, sizeof(dir));
	if (load_config(&cfg, json, dir))
		return;
	rc = pools_open(&ps, &cfg, &o, err, sizeof(err));
	CHECKF(rc == 0, "%s", err);
	if (rc)
		goto out_cfg;
	p = pools_random(&ps, "cw");
	CHECK(codepool_batch_init(&b, 64) == 0);
	for (k = 0; k < sizeof(prefixes) / sizeof(prefixes[0]); k++) {
		CHECK(code_prefix_parse(p->def, prefixes[k], &cp) == 0);
		for (;;) {
			rc = codepool_issue(&ps.ledger, p->def, &cp,
					    CODEPOOL_CLI_SHARD, 64, &b, NULL,
					    NULL);
			CHECK_RC(rc, 0);
			if (rc || b.grant.count == 0)
				break;
			taken += b.n;
		}
	}
	CHECK_EQ_U64(taken, 252);
	while (!atomic_load(&p->used_up) && steps++ < 100) {
		rc = rpool_refill_step(p, 0, 4, scratch, &added);
		CHECK_RC(rc, 0);
		if (rc)
			break;
		CHECKF(added > 0 || atomic_load(&p->used_up),
		       "step %u added nothing with %llu of 4 codes left", steps,
		       (unsigned long long)(4 - total));
		total += added;
		if (added == 0)
			break;
	}
	CHECK_EQ_U64(total, 4);
	CHECK(atomic_load(&p->used_up));
	codepool_batch_release(&b);
	pools_release(&ps);
out_cfg:
	config_release(&cfg);
	t_rm_rf(dir);
}

/*
 * refill_stats().refilling says whether a pool is at rest: false only
 * when no thread will issue or move anything before the next draw. Tests
 * (and operators) wait on it instead of guessing from a quiet spell. A
 * shard that refuses appends keeps its filler at work: refilling stays
 * true. A pool whose fill is over says false, and then its counts stay
 * put; a draw that takes the shard below low water makes it true again
 * until the refill is over.
 */
static void test_refilling_flag(void)
{
	static const char json[] =
		"{\"pools\": [{\"name\": \"st\", \"kind\": \"int\", "
		"\"min\": 0, \"max\": 999999, \"shards\": 1, "
		"\"shard_size\": 100}, {\"name\": \"ok\", \"kind\": \"int\", "
		"\"min\": 0, \"max\": 999999, \"shards\": 1, "
		"\"shard_size\": 100}]}";
	struct shard_opts ro = { .readonly = true, .shard_size = 100 };
	struct pools_opts o = { .create = true };
	struct refill_stats st;
	struct ledger_rec rec;
	struct refill *rf = NULL;
	struct pools ps;
	struct config cfg;
	struct rpool *stuck, *ok;
	char dir[256], path[512], err[256];
	uint64_t vals[100], deadline, issued;
	unsigned shard, i;
	int rc;

	make_tmpdir(dir, sizeof(dir));
	if (load_config(&cfg, json, dir))
		return;
	rc = pools_open(&ps, &cfg, &o, err, sizeof(err));
	CHECKF(rc == 0, "%s", err);
	if (rc)
		goto out_cfg;
	stuck = pools_random(&ps, "st");
	ok = pools_random(&ps, "ok");
	shard_path(path, sizeof(path), dir, "st", 0);
	shard_release(&stuck->shards[0].shard);
	CHECK(shard_open(&stuck->shards[0].shard, path, "st", 0,
			 ps.ledger.instance, &ro) == 0);
	log_setup("test_pool", LOG_OFF);	/* the stuck filler's retries */
	CHECK_RC(refill_start(&ps, &rf), 0);
	if (!rf)
		goto out_ps;
	/* ok comes to rest: 100 in the shard, 100 in the hopper */
	deadline = deadline_in(PHASE_SECONDS);
	do {
		sleep_us(10000);
		refill_stats(rf, ok, &st);
	} while (st.refilling && clock_mono_ns() < deadline);
	CHECK(!st.refilling);
	CHECK_EQ_U64(rpool_shard_ready(ok, 0), 200);
	CHECK(ledger_rec_get(&ps.ledger, "ok", &rec) == 0);
	issued = rec.counter;
	CHECK_EQ_U64(issued, 200);
	/* the stuck one never does */
	for (i = 0; i < 20; i++) {
		refill_stats(rf, stuck, &st);
		CHECK(st.refilling);
		sleep_us(10000);
	}
	/* at rest, nothing moves */
	sleep_us(300000);
	refill_stats(rf, ok, &st);
	CHECK(!st.refilling);
	CHECK(ledger_rec_get(&ps.ledger, "ok", &rec) == 0);
	CHECK_EQ_U64(rec.counter, issued);
	/* a draw of 100 (the whole hopper) leaves the shard to the taker and
	 * the shard below low water: at work until the refill is over */
	CHECK_RC(rpool_draw(ok, 100, vals, &shard, 0), 0);
	deadline = deadline_in(PHASE_SECONDS);
	do {
		sleep_us(10000);
		refill_stats(rf, ok, &st);
	} while (st.refilling && clock_mono_ns() < deadline);
	CHECK(!st.refilling);
	CHECK(ledger_rec_get(&ps.ledger, "ok", &rec) == 0);
	CHECK_EQ_U64(rec.counter, issued + 100);
	CHECK_EQ_U64(rpool_shard_ready(ok, 0), 200);
	refill_stop(rf);
	refill_free(rf);
out_ps:
	log_setup("test_pool", getenv("T_VERBOSE") ? LOG_DEBUG : LOG_ERROR);
	pools_release(&ps);
out_cfg:
	config_release(&cfg);
	t_rm_rf(dir);
}

static unsigned grant_wakes;

static void grant_wake(struct waitlist_entry *e)
{
	(void)e;
	grant_wakes++;
}

/*
 * rpool_grant_step, the taker's grant straight into a hopper (no refill
 * threads here): the values are granted in the ledger, pushed at their
 * sequence numbers, in the hopper and not in the shard for a lookup,
 * wake the pool's waiting draws, and go into the shard on a clean stop.
 * Near the end it grants what is left, then sets used_up; a code pool
 * grants nothing this way.
 */
static void test_grant_step(void)
{
	static const char json[] =
		"{\"pools\": [{\"name\": \"g\", \"kind\": \"int\", "
		"\"min\": 0, \"max\": 149, \"shards\": 1, "
		"\"shard_size\": 1000},"
		"{\"name\": \"c\", \"kind\": \"code\", \"shards\": 1, "
		"\"shard_size\": 100}]}";
	struct pools_opts o = { .create = true };
	struct waitlist_entry we = { .deadline_ns = UINT64_MAX,
				     .wake = grant_wake };
	struct shard_item items[100];
	struct rpool_lookup lk;
	struct config cfg;
	struct pools ps;
	struct rpool *p, *c;
	uint64_t level, v;
	char dir[256], err[256];
	size_t moved, i;

	make_tmpdir(dir, sizeof(dir));
	if (load_config(&cfg, json, dir))
		return;
	if (pools_open(&ps, &cfg, &o, err, sizeof(err))) {
		CHECKF(0, "pools_open: %s", err);
		config_release(&cfg);
		return;
	}
	p = pools_random(&ps, "g");
	c = pools_random(&ps, "c");
	CHECK(p && c);
	if (!p || !c)
		goto out;
	CHECK_RC(hopper_init(&p->shards[0].hopper, p->hopper_cap,
			     p->hopper_low, NULL, NULL), 0);
	CHECK_RC(hopper_init(&c->shards[0].hopper, c->hopper_cap,
			     c->hopper_low, NULL, NULL), 0);
	CHECK_RC(waitlist_init(&p->waiters, NULL, NULL), 0);
	CHECK_RC(waitlist_add(&p->waiters, &we, waitlist_gen(&p->waiters)),
		 0);

	CHECK_RC(rpool_grant_step(p, 0, 100, items, &moved), 0);
	CHECK_EQ_U64(moved, 100);
	CHECK_EQ_U64(counter_of(p), 100);
	CHECK_EQ_U64(hopper_level(&p->shards[0].hopper), 100);
	CHECK_EQ_U64(grant_wakes, 1);
	CHECK_RC(shard_count(&p->shards[0].shard, &level), 0);
	CHECK_EQ_U64(level, 0);
	for (i = 0; i < moved; i++) {
		CHECK(i == 0 || items[i].seq == items[i - 1].seq + 1);
		CHECK_RC(rpool_lookup(p, items[i].value, &lk), 0);
		CHECK(lk.issued && !lk.in_shard && lk.in_hopper);
	}
	/* What is left of the 150, then used up. */
	CHECK_RC(rpool_grant_step(p, 0, 100, items, &moved), 0);
	CHECK_EQ_U64(moved, 50);
	CHECK(!atomic_load(&p->used_up));
	CHECK_RC(rpool_grant_step(p, 0, 100, items, &moved), 0);
	CHECK_EQ_U64(moved, 0);
	CHECK(atomic_load(&p->used_up));
	CHECK_EQ_U64(atomic_load(&p->busy), 0);

	/* A code pool's values need the shard path. */
	CHECK_RC(rpool_grant_step(c, 0, 50, items, &moved), 0);
	CHECK_EQ_U64(moved, 0);

	/* A clean stop puts them into the shard at their seqs. */
	CHECK_RC(rpool_put_back(p), 0);
	CHECK_RC(shard_count(&p->shards[0].shard, &level), 0);
	CHECK_EQ_U64(level, 150);
	for (i = 0; i < 50; i++) {
		CHECK_RC(shard_get(&p->shards[0].shard, items[i].seq, &v), 0);
		CHECK_EQ_U64(v, items[i].value);
	}
	waitlist_close(&p->waiters);
out:
	pools_release(&ps);
	config_release(&cfg);
}

int main(void)
{
	uint64_t t;

	log_setup("test_pool", getenv("T_VERBOSE") ? LOG_DEBUG : LOG_ERROR);
	t = clock_mono_ns();
	test_concurrent_grants();
	test_data_dir();
	test_params_checked();
	test_lifecycle();
	test_fewer_shards();
	test_two_processes();
	test_max_count_draw();
	test_rest_holds_a_largest_draw();
	test_failed_append_is_retried();
	test_code_refill_walks_past_skips();
	test_refilling_flag();
	test_grant_step();
	fprintf(stderr, "test_pool: %.1f s\n",
		(double)(clock_mono_ns() - t) / 1e9);
	return t_done("test_pool");
}
