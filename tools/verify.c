/*
 * verify.c: walks the ledger and the shards of a pool and proves that no
 * value is held twice; see verify.h for the argument.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "common/log.h"
#include "common/store.h"
#include "common/value.h"
#include "pools/codejob.h"
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
static int check_grants(struct rpool *p, const struct ledger_rec *rec,
			const struct ledger_grant *g, size_t n,
			const struct ledger_block *b, size_t nb, FILE *out,
			struct verify_report *r)
{
	const char *name = p->def->name;
	struct seq_range *sr;
	uint64_t end = nb ? b[0].first : 0;
	size_t i, bi = 0;

	if (rec->counter > rec->capacity)
		problem(r, out, name, "counter %llu is above capacity %llu",
			(unsigned long long)rec->counter,
			(unsigned long long)rec->capacity);
	sr = malloc((n ? n : 1) * sizeof(*sr));
	if (!sr)
		return -ENOMEM;
	for (i = 0; i < n; i++) {
		/* A cluster pool's grants go on in its next block. */
		if (nb && bi + 1 < nb && end == b[bi].first + b[bi].count)
			end = b[++bi].first;
		if (g[i].first != end || g[i].count == 0 ||
		    (nb && (bi >= nb || g[i].first + g[i].count >
					 b[bi].first + b[bi].count)))
			problem(r, out, name, "grant %zu covers [%llu, +%llu) "
				"but the previous one ended at %llu%s", i,
				(unsigned long long)g[i].first,
				(unsigned long long)g[i].count,
				(unsigned long long)end,
				nb ? " (or it leaves this node's blocks)" : "");
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
	/* Against the furthest end so far in the shard, not only the
	 * previous range: [0, 100) overlaps [50, 60) and [70, 80) both. */
	for (i = 1, end = n ? sr[0].hi : 0; i < n; i++) {
		if (sr[i].shard != sr[i - 1].shard) {
			end = sr[i].hi;
			continue;
		}
		if (sr[i].lo < end)
			problem(r, out, name, "shard %u: sequence numbers "
				"[%llu, %llu) granted twice", sr[i].shard,
				(unsigned long long)sr[i].lo,
				(unsigned long long)(end < sr[i].hi ?
						     end : sr[i].hi));
		if (sr[i].hi > end)
			end = sr[i].hi;
	}
	free(sr);
	return 0;
}

int verify_pool(struct rpool *p, FILE *out, struct verify_report *r)
{
	const char *name = p->def->name;
	struct shard_reader *rd = NULL;
	struct ledger_grant *g = NULL;
	struct ledger_block *blocks = NULL;
	const struct ledger_grant *hit;
	struct ledger_rec rec;
	size_t nb = 0;
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
	if (rec.flags & LEDGER_REC_CLUSTER) {
		/* Read after the grants: a block is added before any
		 * grant takes from it, so every granted block is here. */
		rc = ledger_blocks_load(p->ledger, name, &rec, &blocks, &nb);
		if (rc)
			goto out;
	}
	r->grants = ng;
	r->issued = rec.counter;
	if (rec.flags & LEDGER_REC_CLUSTER)
		for (r->issued = 0, i = 0; i < ng; i++)
			r->issued += g[i].count;
	rc = check_grants(p, &rec, g, ng, blocks, nb, out, r);
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
					"(seq %llu) but the ledger never "
					"issued it", text, i,
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
	free(blocks);
	return rc;
}

/* ---- code pools ------------------------------------------------------ */

/* One sorted run in the merge. */
struct run_cur {
	struct ledger_run run;
	uint32_t stream;
};

/* The runs of every stream, as they are opened. */
struct run_set {
	struct ledger *lg;
	MDB_txn *txn;
	struct run_cur *v;
	size_t n, cap;
	uint32_t stream_id;	/* of the stream being opened */
	uint32_t stream;	/* its index in the streams */
	uint64_t codes;		/* codes in its runs */
};

static int run_add(uint64_t first, void *arg)
{
	struct run_set *rs = arg;
	struct run_cur *c;
	int rc;

	if (rs->n == rs->cap) {
		size_t cap = rs->cap ? rs->cap * 2 : 64;
		struct run_cur *t = realloc(rs->v, cap * sizeof(*t));

		if (!t)
			return -ENOMEM;
		rs->v = t;
		rs->cap = cap;
	}
	c = &rs->v[rs->n];
	c->stream = rs->stream;
	rc = ledger_run_open(rs->lg, rs->txn, rs->stream_id, first, &c->run);
	if (rc)
		return rc;
	rs->n++;
	rs->codes += c->run.count;
	return 0;
}

/* A binary heap of runs by current code. */
static void heap_down(struct run_cur **h, size_t n, size_t i)
{
	for (;;) {
		size_t l = 2 * i + 1, m = i;
		struct run_cur *t;

		if (l < n && h[l]->run.code < h[m]->run.code)
			m = l;
		if (l + 1 < n && h[l + 1]->run.code < h[m]->run.code)
			m = l + 1;
		if (m == i)
			return;
		t = h[i];
		h[i] = h[m];
		h[m] = t;
		i = m;
	}
}

int verify_code_streams(struct rpool *p, FILE *out, struct verify_report *r)
{
	const char *name = p->def->name;
	struct ledger *lg = p->ledger;
	struct codepool_streams cs = { 0 };
	struct run_set rs = { 0 };
	struct run_cur *runs, **heap = NULL;
	size_t nruns, n, i, si;
	uint64_t *in_runs = NULL, prev = 0;
	bool have_prev = false;
	MDB_txn *txn = NULL;
	char text[VALUE_TEXT_MAX + 1];
	int rc;

	rc = store_err(store_txn_begin(lg->env, NULL, MDB_RDONLY, &txn));
	if (rc)
		return rc;
	rs.lg = lg;
	rs.txn = txn;
	rc = codepool_streams_load(lg, txn, p->def, &cs);
	if (rc)
		goto out;
	in_runs = calloc(cs.n ? cs.n : 1, sizeof(*in_runs));
	if (!in_runs) {
		rc = -ENOMEM;
		goto out;
	}
	/* A cursor on every run of every stream. */
	for (si = 0; si < cs.n; si++) {
		rs.stream = (uint32_t)si;
		rs.stream_id = cs.v[si].rec.id;
		rs.codes = 0;
		rc = ledger_run_each(lg, txn, rs.stream_id, run_add, &rs);
		in_runs[si] = rs.codes;
		if (rc)
			goto out;
	}
	runs = rs.v;
	nruns = rs.n;
	/* Each stream: its runs hold exactly what it issued. */
	for (si = 0; si < cs.n; si++) {
		const struct ledger_rec *rec = &cs.v[si].rec;

		if (in_runs[si] != rec->counter - rec->skipped)
			problem(r, out, name, "stream \"%s\" issued %llu codes "
				"(%llu positions, %llu skipped) but its runs "
				"hold %llu", cs.v[si].name,
				(unsigned long long)(rec->counter -
						     rec->skipped),
				(unsigned long long)rec->counter,
				(unsigned long long)rec->skipped,
				(unsigned long long)in_runs[si]);
		if (si > 0) {	/* the root's grants are checked above */
			struct ledger_grant *g = NULL;
			struct ledger_rec srec;
			size_t ng = 0;

			rc = ledger_grants_load(lg, cs.v[si].name, &srec, &g,
						&ng);
			if (rc)
				goto out;
			r->grants += ng;
			rc = check_grants(p, &srec, g, ng, NULL, 0, out, r);
			free(g);
			if (rc)
				goto out;
		}
	}
	/* Merge every run: a code twice would come out twice in a row. */
	heap = malloc((nruns ? nruns : 1) * sizeof(*heap));
	if (!heap) {
		rc = -ENOMEM;
		goto out;
	}
	for (i = 0, n = 0; i < nruns; i++)
		if (runs[i].run.live)
			heap[n++] = &runs[i];
	for (i = n / 2; i-- > 0;)
		heap_down(heap, n, i);
	while (n) {
		struct run_cur *c = heap[0];

		if (have_prev && c->run.code == prev) {
			value_format(p->def, c->run.code, text);
			problem(r, out, name, "code %s was issued twice (again "
				"by stream \"%s\")", text,
				cs.v[c->stream].name);
		}
		prev = c->run.code;
		have_prev = true;
		r->issued_codes++;
		rc = ledger_run_next(&c->run);
		if (rc)
			goto out;
		if (!c->run.live)
			heap[0] = heap[--n];
		heap_down(heap, n, 0);
	}
	rc = 0;
out:
	for (i = 0; i < rs.n; i++)
		ledger_run_release(&rs.v[i].run);
	free(rs.v);
	free(heap);
	free(in_runs);
	codepool_streams_release(&cs);
	store_txn_abort(txn);
	return rc;
}
