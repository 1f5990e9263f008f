/*
 * ccheck.c: uniqctl's cluster checks and status (see ccheck.h). Every
 * look at etcd is one transaction of gets, so all it reads is of one
 * revision.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cJSON.h>

#include "cluster/cluster.h"
#include "cluster/etcd.h"
#include "cluster/reserve.h"
#include "common/clock.h"
#include "tools/ccheck.h"
#include "common/banned.h"


/* The ranges of one read: per random pool, its counter and its blocks
 * (2 ranges), then per lease pool its leases (1), then nodes and seen. */
struct snap {
	struct etcd_result res;
	size_t nrandom, nlease;
};

static int snap_read(const char *endpoints, const struct config *cfg,
		     struct snap *s)
{
	struct etcd *e = NULL;
	struct etcd_txn t;
	char k[POOL_NAME_MAX + 64];
	size_t i;
	int n, rc;

	memset(s, 0, sizeof(*s));
	etcd_txn_init(&t);
	rc = etcd_open(&e, endpoints, CLUSTER_TIMEOUT_MS);
	if (rc)
		goto out;
	for (i = 0; i < cfg->npools; i++) {
		const struct pool_def *d = &cfg->pools[i];

		if (!config_kind_is_random(d->kind))
			continue;
		n = cluster_key(k, sizeof(k), "pool/%s/counter", d->name);
		if (n > 0)
			etcd_txn_get(&t, true, k, (size_t)n, false);
		n = cluster_key(k, sizeof(k), "pool/%s/block/", d->name);
		if (n > 0)
			etcd_txn_get(&t, true, k, (size_t)n, true);
		s->nrandom++;
	}
	for (i = 0; i < cfg->npools; i++) {
		const struct pool_def *d = &cfg->pools[i];

		if (d->kind != POOL_LEASE)
			continue;
		n = cluster_key(k, sizeof(k), "lease/%s/", d->name);
		if (n > 0)
			etcd_txn_get(&t, true, k, (size_t)n, true);
		s->nlease++;
	}
	n = cluster_key(k, sizeof(k), "node/");
	etcd_txn_get(&t, true, k, (size_t)n, true);
	n = cluster_key(k, sizeof(k), "seen/");
	etcd_txn_get(&t, true, k, (size_t)n, true);
	rc = etcd_txn_run(e, &t, &s->res);
	if (rc)
		fprintf(stderr, "uniqctl: etcd at %s: %s\n", endpoints,
			etcd_strerror(e));
	else if (s->res.nranges != 2 * s->nrandom + s->nlease + 2)
		rc = -EPROTO;
out:
	etcd_txn_release(&t);
	etcd_free(e);
	return rc;
}

/* The counter of range r (0 when there is none; -EPROTO when it is
 * not a number: a problem). */
static int counter_of(const struct etcd_range *r, uint64_t *v)
{
	*v = 0;
	return r->n == 1 ? reserve_counter_parse(&r->kvs[0], v) : 0;
}

/* A block's JSON, from a kv of a range (reserve_block_parse). */
static int block_parse(const struct etcd_kv *kv, struct reserve_block *b)
{
	return reserve_block_parse(kv->value, b);
}

#define PROBLEM(...) do { fprintf(out, "PROBLEM " __VA_ARGS__); \
			  fputc('\n', out); (*problems)++; } while (0)

/* Check 2 for pool d: node's ledger blocks against etcd's. */
static int check_node(const struct pool_def *d, const struct etcd_range *br,
		      struct ledger *lg, const char *node, const char *dir_id,
		      FILE *out, unsigned *problems)
{
	struct ledger_block *lb = NULL;
	struct ledger_rec rec;
	struct reserve_block b;
	size_t nl = 0, i, j = 0, mine = 0, beyond = 0, burned = 0;
	int rc;

	rc = ledger_blocks_load(lg, d->name, &rec, &lb, &nl);
	if (rc == -ENOENT)
		return 0;	/* this node never had the pool */
	if (rc)
		return rc;
	if (!(rec.flags & LEDGER_REC_CLUSTER)) {
		PROBLEM("pool %s: the data directory's pool is not a cluster "
			"pool", d->name);
		goto out;
	}
	for (i = 0; i < br->n; i++) {
		if (block_parse(&br->kvs[i], &b) || strcmp(b.node, node))
			continue;
		if (dir_id && strcmp(b.dir, dir_id)) {
			burned++;	/* the name's, from another directory */
			continue;
		}
		mine++;
		if (j < nl && lb[j].first == b.first &&
		    lb[j].count == b.count) {
			j++;
			continue;
		}
		if (j < nl && lb[j].first < b.first)
			break;	/* the ledger has one etcd lacks */
		beyond++;
	}
	if (j < nl)
		PROBLEM("pool %s: the ledger of node %s has block %" PRIu64
			"+%" PRIu64 ", which etcd does not give that node",
			d->name, node, lb[j].first, lb[j].count);
	if (beyond > 1)
		PROBLEM("pool %s: etcd gives node %s %zu blocks its ledger "
			"lacks (at most its last may be, after a crash)",
			d->name, node, beyond);
	fprintf(out, "pool %s: node %s: %zu blocks in etcd, %zu in its "
		"ledger%s; %zu of the name from another data directory "
		"(burned)\n", d->name, node, mine, nl,
		beyond ? " (the last one not yet adopted)" : "", burned);
out:
	free(lb);
	return 0;
}

int ccheck_verify(const char *endpoints, const struct config *cfg,
		  struct ledger *lg, const char *node, const char *dir_id,
		  FILE *out, unsigned *problems)
{
	struct snap s;
	struct reserve_block b;
	size_t i, k, ri = 0, li;
	uint64_t end, counter;
	char *endp;
	int rc;

	*problems = 0;
	rc = snap_read(endpoints, cfg, &s);
	if (rc)
		goto out;
	for (i = 0; i < cfg->npools; i++) {
		const struct pool_def *d = &cfg->pools[i];
		const struct etcd_range *cr, *br;

		if (!config_kind_is_random(d->kind))
			continue;
		cr = &s.res.ranges[ri++];
		br = &s.res.ranges[ri++];
		if (counter_of(cr, &counter))
			PROBLEM("pool %s: its counter in etcd is not a "
				"number", d->name);
		if (counter > d->capacity)
			PROBLEM("pool %s: counter %" PRIu64 " is above its "
				"capacity %" PRIu64, d->name, counter,
				d->capacity);
		for (k = 0, end = 0; k < br->n; k++) {
			if (block_parse(&br->kvs[k], &b)) {
				PROBLEM("pool %s: block %s is not readable",
					d->name, br->kvs[k].key);
				continue;
			}
			if (b.first != end)
				PROBLEM("pool %s: block %" PRIu64 "+%" PRIu64
					" of node %s, but the blocks before "
					"end at %" PRIu64, d->name, b.first,
					b.count, b.node, end);
			end = b.first + b.count;
		}
		if (end != counter)
			PROBLEM("pool %s: the blocks end at %" PRIu64
				", the counter is %" PRIu64, d->name, end,
				counter);
		fprintf(out, "pool %s: %zu blocks tile [0, %" PRIu64 ") of "
			"%" PRIu64 "\n", d->name, br->n, counter,
			d->capacity);
		if (lg && node) {
			rc = check_node(d, br, lg, node, dir_id, out,
					problems);
			if (rc)
				goto out;
		}
	}
	li = 0;
	for (i = 0; i < cfg->npools; i++) {
		const struct pool_def *d = &cfg->pools[i];
		const struct etcd_range *lr;
		char pre[POOL_NAME_MAX + 32];
		size_t pl;

		if (d->kind != POOL_LEASE)
			continue;
		lr = &s.res.ranges[2 * s.nrandom + li++];
		pl = (size_t)cluster_key(pre, sizeof(pre), "lease/%s/",
					 d->name);
		for (k = 0; k < lr->n; k++) {
			const char *num = lr->kvs[k].key + pl;
			long long v = strtoll(num, &endp, 10);
			cJSON *o = cJSON_Parse(lr->kvs[k].value);

			if (*endp || v < d->min ||
			    (uint64_t)(v - d->min) >= d->capacity)
				PROBLEM("pool %s: lease key %s is not a "
					"number of the pool", d->name,
					lr->kvs[k].key);
			if (!cJSON_IsString(cJSON_GetObjectItem(o, "holder")))
				PROBLEM("pool %s: lease %s has no holder",
					d->name, lr->kvs[k].key);
			cJSON_Delete(o);
		}
		fprintf(out, "pool %s: %zu leases out in the cluster\n",
			d->name, lr->n);
	}
out:
	etcd_result_release(&s.res);
	return rc;
}

int ccheck_status(const char *endpoints, const struct config *cfg,
		  FILE *out)
{
	const struct etcd_range *nodes, *seen;
	struct snap s;
	struct reserve_block b;
	uint64_t counter;
	size_t i, k, j, ri = 0;
	char pre[64];
	size_t pl;
	int rc;

	rc = snap_read(endpoints, cfg, &s);
	if (rc)
		goto out;
	nodes = &s.res.ranges[2 * s.nrandom + s.nlease];
	seen = &s.res.ranges[2 * s.nrandom + s.nlease + 1];
	pl = (size_t)cluster_key(pre, sizeof(pre), "seen/");
	fprintf(out, "nodes:\n");
	for (k = 0; k < seen->n; k++) {
		const char *name = seen->kvs[k].key + pl;
		cJSON *o = cJSON_Parse(seen->kvs[k].value);
		const cJSON *last = cJSON_GetObjectItem(o, "last_ms");
		char when[40] = "?", nk[CLUSTER_NODE_MAX + 32];
		bool live = false;

		(void)cluster_key(nk, sizeof(nk), "node/%s", name);
		for (j = 0; j < nodes->n; j++)
			if (!strcmp(nodes->kvs[j].key, nk))
				live = true;
		if (cJSON_IsNumber(last))
			clock_rfc3339((uint64_t)last->valuedouble, when,
				      sizeof(when));
		fprintf(out, "  %-20s %-5s last contact %s\n", name,
			live ? "live" : "gone", when);
		cJSON_Delete(o);
	}
	for (i = 0; i < cfg->npools; i++) {
		const struct pool_def *d = &cfg->pools[i];
		const struct etcd_range *cr, *br;

		if (!config_kind_is_random(d->kind))
			continue;
		cr = &s.res.ranges[ri++];
		br = &s.res.ranges[ri++];
		(void)counter_of(cr, &counter);	/* 0 if unreadable */
		fprintf(out, "pool %s: reserved %" PRIu64 " of %" PRIu64
			" in %zu blocks\n", d->name, counter, d->capacity,
			br->n);
		for (k = 0; k < seen->n; k++) {
			const char *name = seen->kvs[k].key + pl;
			uint64_t nb = 0, nv = 0;

			for (j = 0; j < br->n; j++)
				if (!block_parse(&br->kvs[j], &b) &&
				    !strcmp(b.node, name)) {
					nb++;
					nv += b.count;
				}
			if (nb)
				fprintf(out, "  node %-20s %" PRIu64 " blocks, "
					"%" PRIu64 " values\n", name, nb, nv);
		}
	}
out:
	etcd_result_release(&s.res);
	return rc;
}
