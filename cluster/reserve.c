/*
 * reserve.c: blocks of permutation indices reserved from etcd ahead of
 * need (see reserve.h: the transaction, the sizes, the DESIGN).
 *
 * Besides the counter and the block, a reservation writes
 * pool/<name>/last/<node> = the block: a node reserves one block at a
 * time and adds it to its ledger before the next, so at most its last
 * block can be missing from the ledger after a crash, and that key is
 * all a restart reads.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cJSON.h>

#include "cluster/reserve.h"
#include "common/clock.h"
#include "common/log.h"
#include "common/parse.h"
#include "common/worker.h"
#include "pools/rpool.h"
#include "common/banned.h"

#define BLOCK_FIRST_MIN 1000ull
#define BLOCK_FIRST_MAX (1ull << 20)
#define BLOCK_MAX (1ull << 24)
#define BLOCK_END_MIN 64ull
#define FAST_MS 1000u		/* a block that lasted less: double */
#define SLOW_MS 30000u		/* more: halve */
#define PASS_MS 100u		/* between looks at the stock */
#define RETRY_MS 1000u		/* after etcd failed */
#define CAS_TRIES 16
#define READ_EVERY_MS 5000u	/* the counter for GET /pools, at least */

struct rpstate {
	struct rpool *p;
	uint64_t size;		/* of the next block */
	uint64_t min_size;
	uint64_t last_ms;	/* CLOCK_MONOTONIC ms of the last block */
	uint64_t retry_ms;	/* not before (after a failure) */
	uint64_t read_ms;	/* CLOCK_MONOTONIC ms the counter was last
				   read (cluster_reserved) */
	bool ended;		/* the cluster has no index left */
	_Atomic uint64_t blocks, values, failures;
};

struct reserve {
	struct cluster *c;
	struct pools *ps;
	struct etcd *e;		/* the reserver thread's */
	struct rpstate *st;	/* one per ps->pools */
	size_t n;
	struct worker w;
	bool thread;
};

static uint64_t mono_ms(void)
{
	return clock_mono_ns() / 1000000u;
}

int reserve_counter_parse(const struct etcd_kv *kv, uint64_t *v)
{
	return parse_u64_n(kv->value, kv->vallen, 0, UINT64_MAX, v) ?
	       -EPROTO : 0;
}

int reserve_block_parse(const char *json, struct reserve_block *b)
{
	cJSON *o = cJSON_Parse(json);
	const cJSON *f = cJSON_GetObjectItem(o, "first"),
		    *n = cJSON_GetObjectItem(o, "count"),
		    *ms = cJSON_GetObjectItem(o, "ms"),
		    *node = cJSON_GetObjectItem(o, "node"),
		    *dir = cJSON_GetObjectItem(o, "dir");
	int rc = -EPROTO;

	if (cJSON_IsNumber(f) && cJSON_IsNumber(n) && cJSON_IsNumber(ms) &&
	    cJSON_IsString(node) && f->valuedouble >= 0 &&
	    n->valuedouble >= 1 && ms->valuedouble >= 0 &&
	    strlen(node->valuestring) <= CLUSTER_NODE_MAX &&
	    (!dir || (cJSON_IsString(dir) &&
		      strlen(dir->valuestring) < sizeof(b->dir)))) {
		b->first = (uint64_t)f->valuedouble;
		b->count = (uint64_t)n->valuedouble;
		b->ms = (uint64_t)ms->valuedouble;
		snprintf(b->node, sizeof(b->node), "%s", node->valuestring);
		snprintf(b->dir, sizeof(b->dir), "%s",
			 dir ? dir->valuestring : "");
		rc = 0;
	}
	cJSON_Delete(o);
	return rc;
}

static uint64_t next_count(struct rpstate *s, uint64_t counter)
{
	uint64_t left = s->p->def->capacity - counter, n = s->size;

	if (n > left / 8)
		n = left / 8;
	if (n < BLOCK_END_MIN)
		n = BLOCK_END_MIN;
	if (n > left)
		n = left;
	return n;
}

/* Adds block [first, first + count) to the ledger; end: the cluster's
 * last. */
static int adopt(struct rpstate *s, uint64_t first, uint64_t count,
		 uint64_t ms, bool end)
{
	struct ledger_block b = { first, count, ms };
	int rc = ledger_block_add(s->p->ledger, s->p->def->name, &b, end);

	if (rc)
		log_error("cluster: pool \"%s\": adding block %" PRIu64
			  "+%" PRIu64 " to the ledger: %s", s->p->def->name,
			  first, count, log_strerror(rc));
	if (end)
		s->ended = true;
	return rc;
}

/*
 * One reservation for s: CAS on the counter (retried when another node
 * moved it), then into the ledger. Returns 0 (also when the cluster had
 * nothing left: s->ended), or a negative errno.
 */
static int reserve_one(struct reserve *r, struct rpstate *s)
{
	const char *name = s->p->def->name, *node = cluster_node(r->c);
	char ck[POOL_NAME_MAX + 48], bk[POOL_NAME_MAX + 64],
	     lk[POOL_NAME_MAX + CLUSTER_NODE_MAX + 48],
	     sk[CLUSTER_NODE_MAX + 32], val[320], num[24];
	struct etcd_result res = { 0 };
	struct etcd_txn t;
	int64_t sess_rev, mod_rev = 0;
	uint64_t counter = 0, count, ms;
	bool have = false;
	int ckl, bkl, lkl, vl, nl, tries, rc;

	ckl = cluster_key(ck, sizeof(ck), "pool/%s/counter", name);
	lkl = cluster_key(lk, sizeof(lk), "pool/%s/last/%s", name, node);
	if (ckl < 0 || lkl < 0)
		return -ENAMETOOLONG;
	for (tries = 0; tries < CAS_TRIES; tries++) {
		if (!have) {
			rc = etcd_get(r->e, ck, (size_t)ckl, false, 0, false,
				      &res);
			if (rc)
				return rc;
			counter = 0;
			mod_rev = 0;
			if (res.nranges == 1 && res.ranges[0].n == 1) {
				rc = reserve_counter_parse(&res.ranges[0].kvs[0],
						   &counter);
				mod_rev = res.ranges[0].kvs[0].mod_rev;
			}
			etcd_result_release(&res);
			if (rc)
				return rc;
		}
		have = false;
		atomic_store(&s->p->cluster_reserved, counter);
		s->read_ms = mono_ms();
		if (counter >= s->p->def->capacity)
			return adopt(s, counter, 0, clock_now_ms(), true);
		cluster_session(r->c, sk, sizeof(sk), &sess_rev);
		if (!sess_rev || !cluster_fence_ok(r->c))
			return -EAGAIN;	/* no session: no reservation */
		count = next_count(s, counter);
		ms = clock_now_ms();
		bkl = cluster_key(bk, sizeof(bk), "pool/%s/block/%020" PRIu64,
				  name, counter);
		vl = snprintf(val, sizeof(val),
			      "{\"node\":\"%s\",\"first\":%" PRIu64
			      ",\"count\":%" PRIu64 ",\"ms\":%" PRIu64
			      ",\"dir\":\"%s\"}", node, counter, count, ms,
			      cluster_dir_id(r->c));
		nl = snprintf(num, sizeof(num), "%" PRIu64, counter + count);
		if (bkl < 0 || vl < 0 || (size_t)vl >= sizeof(val) || nl < 0)
			return -ENAMETOOLONG;
		etcd_txn_init(&t);
		if (mod_rev)
			etcd_txn_cmp(&t, ck, (size_t)ckl, ETCD_MOD, ETCD_EQUAL,
				     mod_rev);
		else
			etcd_txn_cmp(&t, ck, (size_t)ckl, ETCD_VERSION,
				     ETCD_EQUAL, 0);
		etcd_txn_cmp(&t, sk, strlen(sk), ETCD_CREATE, ETCD_EQUAL,
			     sess_rev);
		etcd_txn_put(&t, true, ck, (size_t)ckl, num, (size_t)nl, 0);
		etcd_txn_put(&t, true, bk, (size_t)bkl, val, (size_t)vl, 0);
		etcd_txn_put(&t, true, lk, (size_t)lkl, val, (size_t)vl, 0);
		etcd_txn_get(&t, false, ck, (size_t)ckl, false);
		etcd_txn_get(&t, false, bk, (size_t)bkl, false);
		rc = etcd_txn_run(r->e, &t, &res);
		etcd_txn_release(&t);
		if (rc)
			return rc;
		/* A request that timed out on one member is sent to the next
		 * (etcd.h): the first may have been applied, and then the
		 * retry's compare fails on our own write. The block as we
		 * wrote it, to the byte, is ours. */
		if (!res.succeeded && res.nranges == 2 && res.ranges[1].n == 1 &&
		    res.ranges[1].kvs[0].vallen == (size_t)vl &&
		    memcmp(res.ranges[1].kvs[0].value, val, (size_t)vl) == 0)
			res.succeeded = true;
		if (res.succeeded) {
			etcd_result_release(&res);
			rc = adopt(s, counter, count, ms,
				   counter + count == s->p->def->capacity);
			if (rc)
				return rc;
			atomic_store(&s->p->cluster_reserved, counter + count);
			atomic_fetch_add(&s->blocks, 1);
			atomic_fetch_add(&s->values, count);
			log_debug("cluster: pool \"%s\": block %" PRIu64
				  "+%" PRIu64, name, counter, count);
			return 0;
		}
		/* Another node moved the counter, or our session changed:
		 * the failure branch has the counter as it is now. */
		counter = 0;
		mod_rev = 0;
		if (res.nranges >= 1 && res.ranges[0].n == 1) {
			rc = reserve_counter_parse(&res.ranges[0].kvs[0], &counter);
			mod_rev = res.ranges[0].kvs[0].mod_rev;
		}
		etcd_result_release(&res);
		if (rc)
			return rc;
		have = true;
	}
	return -EBUSY;
}

/* After a crash between a reservation and its ledger write: the block
 * etcd says this node reserved last, added if the ledger lacks it. */
static int adopt_last(struct reserve *r, struct rpstate *s)
{
	const char *name = s->p->def->name;
	char lk[POOL_NAME_MAX + CLUSTER_NODE_MAX + 48];
	struct etcd_result res = { 0 };
	struct reserve_block rb;
	int lkl, rc;

	lkl = cluster_key(lk, sizeof(lk), "pool/%s/last/%s", name,
			  cluster_node(r->c));
	if (lkl < 0)
		return lkl;
	rc = etcd_get(r->e, lk, (size_t)lkl, false, 0, false, &res);
	if (rc || res.nranges != 1 || res.ranges[0].n != 1)
		goto out;
	rc = reserve_block_parse(res.ranges[0].kvs[0].value, &rb);
	if (rc)
		goto out;
	/* Only a block reserved from this data directory: the node's name
	 * on a new directory (its disk lost) must not take its old blocks,
	 * which the old process may have served. They are burned. */
	if (strcmp(rb.dir, cluster_dir_id(r->c))) {
		log_info("cluster: pool \"%s\": the last block of node \"%s\" "
			 "was reserved from another data directory: burned",
			 name, cluster_node(r->c));
		goto out;
	}
	{
		struct ledger_block b = { rb.first, rb.count, rb.ms };

		rc = ledger_block_add(s->p->ledger, name, &b, false);
		if (rc == -EINVAL)
			rc = 0;	/* older than what the ledger granted:
				   it has it, or it is burned */
	}
out:
	etcd_result_release(&res);
	return rc;
}

/* Reads s's counter into cluster_reserved (what GET /pools shows). */
static int read_counter(struct reserve *r, struct rpstate *s)
{
	char ck[POOL_NAME_MAX + 48];
	struct etcd_result res = { 0 };
	uint64_t counter = 0;
	int ckl, rc;

	ckl = cluster_key(ck, sizeof(ck), "pool/%s/counter", s->p->def->name);
	if (ckl < 0)
		return ckl;
	rc = etcd_get(r->e, ck, (size_t)ckl, false, 0, false, &res);
	if (rc == 0 && res.nranges == 1 && res.ranges[0].n == 1)
		rc = reserve_counter_parse(&res.ranges[0].kvs[0], &counter);
	if (rc == 0) {
		atomic_store(&s->p->cluster_reserved, counter);
		s->read_ms = mono_ms();
	}
	etcd_result_release(&res);
	return rc;
}

/* One look at pool s: reserve when its stock is below a block. */
static int pass_one(struct reserve *r, struct rpstate *s)
{
	uint64_t unused, last_end, now = mono_ms(), lasted;
	int rc;

	if (now < s->retry_ms)
		return 0;
	if (now - s->read_ms >= READ_EVERY_MS || !s->read_ms) {
		rc = read_counter(r, s);
		if (rc) {
			s->retry_ms = now + RETRY_MS;
			return rc;
		}
	}
	if (s->ended)
		return 0;
	rc = ledger_block_stock(s->p->ledger, s->p->def->name, &unused,
				&last_end);
	if (rc)
		return rc;
	if (unused >= s->size)
		return 0;
	if (s->last_ms) {
		lasted = now - s->last_ms;
		if (lasted < FAST_MS && s->size < BLOCK_MAX)
			s->size *= 2;
		else if (lasted > SLOW_MS && s->size / 2 >= s->min_size)
			s->size /= 2;
	}
	rc = reserve_one(r, s);
	if (rc) {
		atomic_fetch_add(&s->failures, 1);
		s->retry_ms = now + RETRY_MS;
		return rc;
	}
	s->last_ms = now;
	return 0;
}

static void *reserve_main(void *arg)
{
	struct reserve *r = arg;
	uint64_t said = 0;
	size_t i;
	int rc;

	while (!worker_wait(&r->w, PASS_MS)) {
		for (i = 0; i < r->n; i++) {
			rc = pass_one(r, &r->st[i]);
			if (rc && mono_ms() - said >= 5000) {
				said = mono_ms();
				log_warn("cluster: pool \"%s\": cannot reserve "
					 "a block: %s (%s); serving from "
					 "stock, retrying",
					 r->st[i].p->def->name,
					 log_strerror(rc),
					 etcd_strerror(r->e));
			}
		}
	}
	return NULL;
}

int reserve_start(struct cluster *c, struct pools *ps, struct reserve **out)
{
	struct reserve *r;
	struct ledger_rec rec;
	uint64_t first;
	size_t i;
	int rc;

	*out = NULL;
	r = calloc(1, sizeof(*r));
	if (!r)
		return -ENOMEM;
	r->c = c;
	r->ps = ps;
	rc = worker_init(&r->w);
	if (rc) {
		free(r);
		return rc;
	}
	r->st = calloc(ps->npools ? ps->npools : 1, sizeof(*r->st));
	if (!r->st) {
		rc = -ENOMEM;
		goto out;
	}
	rc = cluster_etcd_open(c, &r->e);
	if (rc)
		goto out;
	for (i = 0; i < ps->npools; i++) {
		struct rpstate *s = &r->st[r->n];

		rc = ledger_rec_get(&ps->ledger, ps->pools[i].def->name,
				    &rec);
		if (rc)
			goto out;
		if (!(rec.flags & LEDGER_REC_CLUSTER))
			continue;
		s->p = &ps->pools[i];
		first = (uint64_t)s->p->def->shards * s->p->def->shard_size;
		if (first < BLOCK_FIRST_MIN)
			first = BLOCK_FIRST_MIN;
		if (first > BLOCK_FIRST_MAX)
			first = BLOCK_FIRST_MAX;
		s->size = s->min_size = first;
		s->ended = rec.flags & LEDGER_REC_CLUSTER_END;
		r->n++;
		rc = adopt_last(r, s);
		if (rc == 0)
			rc = pass_one(r, s);
		if (rc)
			log_warn("cluster: pool \"%s\": no first block yet: "
				 "%s (%s)", s->p->def->name, log_strerror(rc),
				 etcd_strerror(r->e));
		rc = 0;
	}
	rc = worker_start(&r->w, reserve_main, r);
	if (rc)
		goto out;
	r->thread = true;
	*out = r;
	return 0;
out:
	reserve_stop(r);
	return rc;
}

void reserve_stop(struct reserve *r)
{
	if (!r)
		return;
	if (r->thread)
		worker_stop(&r->w);
	etcd_free(r->e);
	worker_release(&r->w);
	free(r->st);
	free(r);
}

void reserve_stats(struct reserve *r, size_t i, struct reserve_stats *out)
{
	size_t k;

	memset(out, 0, sizeof(*out));
	if (!r)
		return;
	for (k = 0; k < r->n; k++) {
		struct rpstate *s = &r->st[k];

		if (s->p != &r->ps->pools[i])
			continue;
		out->blocks = atomic_load(&s->blocks);
		out->values = atomic_load(&s->values);
		out->failures = atomic_load(&s->failures);
	}
}
