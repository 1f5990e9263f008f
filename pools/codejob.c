/*
 * codejob.c: bulk code jobs' records in the ledger and their admission;
 * see codejob.h.
 *
 * Stored in the ledger: jobs: job id (big-endian) -> struct codejob;
 * meta "next_job_id" -> the next id.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/clock.h"
#include "common/store.h"
#include "pools/codejob.h"
#include "common/banned.h"

const char *codejob_status_name(uint32_t status)
{
	switch (status) {
	case CODEJOB_QUEUED:
		return "queued";
	case CODEJOB_RUNNING:
		return "running";
	case CODEJOB_DONE:
		return "done";
	case CODEJOB_FAILED:
		return "failed";
	}
	return "?";
}

static void job_key(unsigned char k[8], uint64_t id)
{
	store_put_be64(k, id);
}

int codejob_put(struct ledger *lg, MDB_txn *txn, const struct codejob *j)
{
	unsigned char key[8];
	MDB_txn *own = NULL;
	MDB_val k, v;
	int rc;

	if (!txn) {
		rc = store_err(store_txn_begin(lg->env, NULL, 0, &own));
		if (rc)
			return rc;
		txn = own;
	}
	job_key(key, j->id);
	k = store_val(key, sizeof(key));
	v = store_val(j, sizeof(*j));
	rc = store_err(mdb_put(txn, lg->jobs, &k, &v, 0));
	if (own)
		rc = store_finish(own, rc);
	return rc;
}

/* codejob_create in the write transaction txn (not finished here). */
static int job_create_txn(struct ledger *lg, MDB_txn *txn, const char *pool,
			  const char *prefix, uint64_t count,
			  struct codejob *out)
{
	MDB_val k = store_val("next_job_id", 11), v;
	struct codejob j;
	uint64_t next = 1;
	int rc;

	rc = mdb_get(txn, lg->meta, &k, &v);
	if (rc == 0 && v.mv_size == sizeof(next))
		memcpy(&next, v.mv_data, sizeof(next));
	else if (rc != MDB_NOTFOUND)
		rc = rc ? store_err(rc) : -EIO;
	if (rc == MDB_NOTFOUND)
		rc = 0;
	if (rc == 0 && next > CODEJOB_ID_MAX)
		rc = OUTCOME_JOB_IDS_OUT;
	memset(&j, 0, sizeof(j));
	j.id = next++;
	snprintf(j.pool, sizeof(j.pool), "%s", pool);
	snprintf(j.prefix, sizeof(j.prefix), "%s", prefix);
	j.count = count;
	j.status = CODEJOB_QUEUED;
	j.created_ms = clock_now_ms();
	if (rc == 0) {
		v = store_val(&next, sizeof(next));
		rc = store_err(mdb_put(txn, lg->meta, &k, &v, 0));
	}
	if (rc == 0)
		rc = codejob_put(lg, txn, &j);
	if (rc == 0)
		*out = j;
	return rc;
}

int codejob_create(struct ledger *lg, const char *pool, const char *prefix,
		   uint64_t count, struct codejob *out)
{
	MDB_txn *txn;
	int rc;

	rc = store_err(store_txn_begin(lg->env, NULL, 0, &txn));
	if (rc)
		return rc;
	rc = job_create_txn(lg, txn, pool, prefix, count, out);
	return store_finish(txn, rc);
}

int codejob_get(struct ledger *lg, uint64_t id, struct codejob *out)
{
	unsigned char key[8];
	MDB_val k = store_val(key, sizeof(key)), v;
	MDB_txn *txn;
	int rc;

	rc = store_err(store_txn_begin(lg->env, NULL, MDB_RDONLY, &txn));
	if (rc)
		return rc;
	job_key(key, id);
	rc = store_err(mdb_get(txn, lg->jobs, &k, &v));
	if (rc == 0 && v.mv_size != sizeof(*out))
		rc = -EIO;
	if (rc == 0)
		memcpy(out, v.mv_data, sizeof(*out));
	store_txn_abort(txn);
	return rc;
}

struct job_walk {
	int (*fn)(const struct codejob *j, void *arg);
	void *arg;
};

static int job_walk_one(const MDB_val *k, const MDB_val *v, void *arg)
{
	struct job_walk *w = arg;
	struct codejob j;

	(void)k;
	if (v->mv_size != sizeof(j))
		return -EIO;
	memcpy(&j, v->mv_data, sizeof(j));
	return w->fn(&j, w->arg);
}

/* Calls fn for every job of txn, in id order; fn returns 0 to go on, 1 to
 * stop, or an error. */
static int job_walk_txn(struct ledger *lg, MDB_txn *txn,
			int (*fn)(const struct codejob *j, void *arg),
			void *arg)
{
	struct job_walk w = { fn, arg };
	int rc = store_scan(txn, lg->jobs, NULL, 0, 0, job_walk_one, &w);

	return rc == 1 ? 0 : rc;
}

/* job_walk_txn in a read transaction of its own. */
static int job_walk(struct ledger *lg,
		    int (*fn)(const struct codejob *j, void *arg), void *arg)
{
	MDB_txn *txn;
	int rc;

	rc = store_err(store_txn_begin(lg->env, NULL, MDB_RDONLY, &txn));
	if (rc)
		return rc;
	rc = job_walk_txn(lg, txn, fn, arg);
	store_txn_abort(txn);
	return rc;
}

int codejob_recent(struct ledger *lg, struct codejob *out, size_t max,
		   size_t *n)
{
	MDB_cursor *cur = NULL;
	MDB_txn *txn;
	MDB_val k, v;
	int rc;

	*n = 0;
	rc = store_err(store_txn_begin(lg->env, NULL, MDB_RDONLY, &txn));
	if (rc)
		return rc;
	rc = store_err(mdb_cursor_open(txn, lg->jobs, &cur));
	if (rc)
		goto out;
	for (rc = mdb_cursor_get(cur, &k, &v, MDB_LAST); rc == 0 && *n < max;
	     rc = mdb_cursor_get(cur, &k, &v, MDB_PREV)) {
		if (v.mv_size != sizeof(*out)) {
			rc = MDB_CORRUPTED;
			break;
		}
		memcpy(&out[(*n)++], v.mv_data, sizeof(*out));
	}
	mdb_cursor_close(cur);
	rc = rc == MDB_NOTFOUND || rc == 0 ? 0 : store_err(rc);
out:
	store_txn_abort(txn);
	return rc;
}

static int count_visit(const struct codejob *j, void *arg)
{
	uint64_t *counts = arg;

	if (j->status < 4)
		counts[j->status]++;
	return 0;
}

int codejob_counts(struct ledger *lg, uint64_t counts[4])
{
	memset(counts, 0, 4 * sizeof(*counts));
	return job_walk(lg, count_visit, counts);
}

struct next_walk {
	const char *pool;
	struct codejob *out;
	bool found;
};

static int next_visit(const struct codejob *j, void *arg)
{
	struct next_walk *w = arg;

	if (strcmp(j->pool, w->pool) ||
	    (j->status != CODEJOB_QUEUED && j->status != CODEJOB_RUNNING))
		return 0;
	*w->out = *j;
	w->found = true;
	return 1;
}

int codejob_next(struct ledger *lg, const char *pool, struct codejob *out)
{
	struct next_walk w = { pool, out, false };
	int rc = job_walk(lg, next_visit, &w);

	return rc ? rc : w.found ? 0 : -ENOENT;
}

/*
 * The most that a job drawing `left` more codes under prefix p can take
 * under prefix x: all of them if p extends x (or is x); if x extends p,
 * any of them may fall under x, up to all of x; none if the two differ.
 */
static uint64_t worst_take(const struct pool_def *d,
			   const struct code_prefix *p, uint64_t left,
			   const struct code_prefix *x)
{
	uint64_t all;

	if (p->len >= x->len && !memcmp(p->canon, x->canon, x->len))
		return left;
	if (memcmp(p->canon, x->canon, p->len))
		return 0;
	all = code_combinations(d, x->len);
	return left < all ? left : all;
}

struct pending_walk {
	const struct pool_def *d;
	const struct code_prefix *q;
	uint64_t sum;
	uint64_t jobs;		/* queued or running */
};

static int pending_visit(const struct codejob *j, void *arg)
{
	struct pending_walk *w = arg;
	struct code_prefix p;
	uint64_t t;

	if (strcmp(j->pool, w->d->name) ||
	    (j->status != CODEJOB_QUEUED && j->status != CODEJOB_RUNNING) ||
	    code_prefix_parse(w->d, j->prefix, &p))
		return 0;
	w->jobs++;
	t = worst_take(w->d, &p, j->count - j->done, w->q);
	w->sum = w->sum > UINT64_MAX - t ? UINT64_MAX : w->sum + t;
	return 0;
}

int codejob_pending(struct ledger *lg, const struct pool_def *d,
		    const struct code_prefix *q, uint64_t *pending)
{
	struct pending_walk w = { d, q, 0, 0 };
	int rc = job_walk(lg, pending_visit, &w);

	if (rc == 0)
		*pending = w.sum;
	return rc;
}

struct reserve_walk {
	const struct pool_def *d;
	struct code_prefix p[CODEJOB_PENDING_MAX];
	uint64_t left[CODEJOB_PENDING_MAX];
	size_t n;
};

static int reserve_visit(const struct codejob *j, void *arg)
{
	struct reserve_walk *w = arg;

	if (strcmp(j->pool, w->d->name) ||
	    (j->status != CODEJOB_QUEUED && j->status != CODEJOB_RUNNING) ||
	    w->n == CODEJOB_PENDING_MAX ||
	    code_prefix_parse(w->d, j->prefix, &w->p[w->n]))
		return 0;
	w->left[w->n++] = j->count - j->done;
	return 0;
}

/*
 * Lowers *want, a draw from the stream of prefix p that is not a job's,
 * so that it cannot take codes promised to the jobs queued or running:
 * under each such job's prefix x, what remains beyond the worst case of
 * the jobs (codejob_pending) bounds what the draw may take there (all of
 * it if p extends x; if x extends p, any of it may fall under x).
 */
int codejob_clamp(struct ledger *lg, MDB_txn *txn, const struct pool_def *d,
		  const struct code_prefix *p, uint64_t *want)
{
	struct reserve_walk *w;
	size_t i, k;
	int rc;

	w = malloc(sizeof(*w));
	if (!w)
		return -ENOMEM;
	w->d = d;
	w->n = 0;
	rc = job_walk_txn(lg, txn, reserve_visit, w);
	for (i = 0; rc == 0 && i < w->n && *want; i++) {
		const struct code_prefix *x = &w->p[i];
		uint64_t issued, rem, all, taken = 0, slack;

		if (!worst_take(d, p, 1, x))
			continue; /* p and x differ: the draw cannot reach x */
		rc = codepool_count_txn(lg, txn, d, x, &issued);
		if (rc)
			break;
		all = code_combinations(d, x->len);
		rem = all > issued ? all - issued : 0;
		for (k = 0; k < w->n; k++) {
			uint64_t t = worst_take(d, &w->p[k], w->left[k], x);

			taken = taken > UINT64_MAX - t ? UINT64_MAX : taken + t;
		}
		slack = rem > taken ? rem - taken : 0;
		if ((p->len >= x->len || all > slack) && *want > slack)
			*want = slack;
	}
	free(w);
	return rc;
}

int codejob_admit(struct ledger *lg, const struct pool_def *d,
		  const char *prefix, const struct code_prefix *q,
		  uint64_t count, struct codejob *out, uint64_t *avail)
{
	struct pending_walk w = { d, q, 0, 0 };
	uint64_t issued = 0, all = code_combinations(d, q->len);
	MDB_txn *txn;
	int rc;

	*avail = 0;
	/* One write transaction: the check and the record are one step
	 * for every other admission (LMDB has one writer at a time). */
	rc = store_err(store_txn_begin(lg->env, NULL, 0, &txn));
	if (rc)
		return rc;
	rc = job_walk_txn(lg, txn, pending_visit, &w);
	if (rc == 0 && w.jobs >= CODEJOB_PENDING_MAX)
		rc = OUTCOME_JOBS_FULL;
	if (rc == 0)
		rc = codepool_count_txn(lg, txn, d, q, &issued);
	if (rc == 0) {
		uint64_t rem = all > issued ? all - issued : 0;

		*avail = rem > w.sum ? rem - w.sum : 0;
		if (count > *avail)
			rc = OUTCOME_NOT_ENOUGH;
	}
	if (rc == 0)
		rc = job_create_txn(lg, txn, d->name, prefix, count, out);
	return store_finish(txn, rc); /* commits only if all went well */
}
