/*
 * verify.c: walks the ledger and the shards of a pool and proves that no
 * value is held twice; see verify.h for the argument.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "common/log.h"
#include "common/value.h"
#include "tools/verify.h"
#include "common/banned.h"

#define SHOW_MAX 20

static void problem(struct verify_report *r, FILE *out, const char *pool,
		    const char *fmt, ...) __attribute__((format(printf, 4, 5)));

static void problem(struct verify_report *r, FILE *out, const char *pool,
		    const char *fmt, ...)
{
	va_list ap;

	if (r->problems++ < SHOW_MAX) {
		fprintf(out, "PROBLEM pool %s: ", pool);
		va_start(ap, fmt);
		vfprintf(out, fmt, ap);
		va_end(ap);
		fputc('\n', out);
	} else if (r->problems == SHOW_MAX + 1) {
		fprintf(out, "PROBLEM pool %s: (more problems not shown)\n",
			pool);
	}
}

/* The grant holding index i (grants sorted, tiling), or NULL. */
static const struct ledger_grant *find(const struct ledger_grant *g, size_t n,
				       uint64_t i)
{
	size_t lo = 0, hi = n;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;

		if (i < g[mid].first)
			hi = mid;
		else if (i - g[mid].first >= g[mid].count)
			lo = mid + 1;
		else
			return &g[mid];
	}
	return NULL;
}

struct seq_range {
	uint32_t shard;
	uint64_t lo, hi;	/* [lo, hi) */
};

static int cmp_range(const void *a, const void *b)
{
	const struct seq_range *x = a, *y = b;

	if (x->shard != y->shard)
		return x->shard < y->shard ? -1 : 1;
	return x->lo < y->lo ? -1 : x->lo > y->lo;
}

/* Check 1 of verify.h. */
static int check_grants(struct pool *p, const struct ledger_pool *rec,
			const struct ledger_grant *g, size_t n, FILE *out,
			struct verify_report *r)
{
	const char *name = p->def->name;
	struct seq_range *sr;
	uint64_t end = 0;
	size_t i;

	if (rec->counter > rec->capacity)
		problem(r, out, name, "counter %llu is above capacity %llu",
			(unsigned long long)rec->counter,
			(unsigned long long)rec->capacity);
	sr = malloc((n ? n : 1) * sizeof(*sr));
	if (!sr)
		return -ENOMEM;
	for (i = 0; i < n; i++) {
		if (g[i].first != end || g[i].count == 0)
			problem(r, out, name, "grant %zu covers [%llu, +%llu) "
				"but the previous one ended at %llu", i,
				(unsigned long long)g[i].first,
				(unsigned long long)g[i].count,
				(unsigned long long)end);
		end = g[i].first + g[i].count;
		sr[i].shard = g[i].shard;
		sr[i].lo = g[i].seq0;
		sr[i].hi = g[i].seq0 + g[i].count;
	}
	if (end != rec->counter)
		problem(r, out, name, "grants end at %llu, counter is %llu",
			(unsigned long long)end,
			(unsigned long long)rec->counter);
	qsort(sr, n, sizeof(*sr), cmp_range);
	for (i = 1; i < n; i++)
		if (sr[i].shard == sr[i - 1].shard && sr[i].lo < sr[i - 1].hi)
			problem(r, out, name, "shard %u: sequence numbers "
				"[%llu, %llu) granted twice", sr[i].shard,
				(unsigned long long)sr[i].lo,
				(unsigned long long)sr[i - 1].hi);
	free(sr);
	return 0;
}

int verify_pool(struct pool *p, FILE *out, struct verify_report *r)
{
	const char *name = p->def->name;
	struct shard_reader *rd = NULL;
	struct ledger_grant *g = NULL;
	const struct ledger_grant *hit;
	struct ledger_pool rec;
	struct shard_item it;
	char text[VALUE_TEXT_MAX + 1];
	size_t ng = 0;
	unsigned i;
	uint64_t idx;
	int rc = 0;

	memset(r, 0, sizeof(*r));
	rd = calloc(p->nopen ? p->nopen : 1, sizeof(*rd));
	if (!rd)
		return -ENOMEM;
	/* Shards first, ledger second: see verify.h. */
	for (i = 0; i < p->nopen; i++) {
		if (!p->shards[i].shard.env)
			continue;
		rc = shard_reader_begin(&p->shards[i].shard, &rd[i]);
		if (rc)
			goto out;
	}
	rc = ledger_grants_load(p->ledger, name, &rec, &g, &ng);
	if (rc)
		goto out;
	r->grants = ng;
	r->issued = rec.counter;
	rc = check_grants(p, &rec, g, ng, out, r);
	if (rc)
		goto out;

	for (i = 0; i < p->nopen; i++) {
		if (!rd[i].txn)
			continue;
		while ((rc = shard_reader_next(&rd[i], &it)) == 0) {
			r->in_shards++;
			if (it.value >= p->def->capacity) {
				problem(r, out, name, "shard %u seq %llu holds "
					"index %llu, outside the pool", i,
					(unsigned long long)it.seq,
					(unsigned long long)it.value);
				continue;
			}
			value_format(p->def, it.value, text);
			idx = perm_invert(&p->perm, it.value);
			if (perm_apply(&p->perm, idx) != it.value) {
				problem(r, out, name, "value %s does not map "
					"back through the permutation", text);
				continue;
			}
			hit = find(g, ng, idx);
			if (!hit) {
				problem(r, out, name, "value %s is in shard %u "
					"(seq %llu) but the ledger never issued "
					"it", text, i,
					(unsigned long long)it.seq);
			} else if (hit->shard != i ||
				   hit->seq0 + (idx - hit->first) != it.seq) {
				problem(r, out, name, "value %s is in shard %u "
					"seq %llu, but the ledger issued it to "
					"shard %u seq %llu: held twice or "
					"misplaced", text, i,
					(unsigned long long)it.seq, hit->shard,
					(unsigned long long)(hit->seq0 + idx -
							     hit->first));
			}
		}
		if (rc != -ENOENT)
			goto out;
		rc = 0;
	}
out:
	for (i = 0; i < p->nopen; i++)
		shard_reader_end(&rd[i]);
	free(rd);
	free(g);
	return rc;
}
