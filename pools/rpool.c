/*
 * rpool.c: random pools at run time; see rpool.h for the way of a value
 * and refill.h for the threads.
 *
 * Sizes, from a pool's shard_size S:
 *   hopper capacity  min(S, 16384): what a crash can burn per shard, and
 *                    a bound on one draw (max_draw: at most 10000);
 *   low water        S / 2: below it the filler tops the shard up to S;
 *   grant batch      min(S, 16384) values per ledger transaction and per
 *                    append, so that an append holds the shard's write
 *                    lock (which takes also need) only briefly.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/buf.h"
#include "common/clock.h"
#include "common/log.h"
#include "common/store.h"
#include "common/value.h"
#include "pools/rpool.h"
#include "common/banned.h"

#define HOPPER_MAX 16384
#define GRANT_MAX 16384

void rpool_release(struct rpool *p)
{
	unsigned i;

	waitlist_release(&p->waiters);
	if (!p->shards)
		return;
	for (i = 0; i < p->nopen; i++) {
		hopper_release(&p->shards[i].hopper);
		shard_release(&p->shards[i].shard);
		codepool_batch_release(&p->shards[i].codes);
		pthread_mutex_destroy(&p->shards[i].level_lock);
	}
	free(p->shards);
	p->shards = NULL;
}

int rpool_open(struct rpool *p, struct ledger *lg, const struct config *cfg,
	       const struct pool_def *d, bool create, bool readonly,
	       const uint8_t *cluster_key, char *err, size_t errlen)
{
	struct shard_opts so = { .sync = cfg->sync, .create = create,
				 .readonly = readonly,
				 .map_size = cfg->map_size,
				 .shard_size = d->shard_size };
	struct ledger_rec rec;
	char path[1200];
	uint32_t known;
	unsigned i;
	int rc;

	memset(p, 0, sizeof(*p));
	p->def = d;
	p->ledger = lg;
	p->hopper_cap = d->shard_size < HOPPER_MAX ? d->shard_size : HOPPER_MAX;
	p->max_draw = p->hopper_cap < RPOOL_DRAW_MAX ? p->hopper_cap
						    : RPOOL_DRAW_MAX;
	/* Topping up below half batches the takes; topping up below
	 * max_draw when that is more means a hopper at rest always holds a
	 * largest draw, so such a draw never meets "refilling" while the
	 * shard has plenty. (When max_draw is the whole hopper, a draw that
	 * finds it short raises demand instead: see refill.c.) */
	p->hopper_low = p->hopper_cap / 2;
	if (p->max_draw < p->hopper_cap && p->max_draw > p->hopper_low)
		p->hopper_low = p->max_draw;
	p->low_water = d->shard_size / 2;
	p->grant_batch = d->shard_size < GRANT_MAX ? d->shard_size : GRANT_MAX;

	if (create && cluster_key)
		rc = ledger_rec_ensure_cluster(lg, d, cluster_key, &rec, err,
					       errlen);
	else if (create)
		rc = ledger_rec_ensure(lg, d, &rec, err, errlen);
	else
		rc = ledger_rec_get(lg, d->name, &rec);
	if (rc == -ENOENT)
		snprintf(err, errlen, "pool \"%s\" is not in the ledger yet "
			 "(start uniqd or run uniqctl init first)", d->name);
	if (rc)
		return rc;
	if (!ledger_rec_matches(&rec, d)) {
		snprintf(err, errlen, "pool \"%s\" in the ledger has other "
			 "parameters than in the configuration", d->name);
		return -EINVAL;
	}
	p->id = rec.id;
	perm_init(&p->perm, rec.capacity, rec.key);
	/* A cluster pool is used up once its last block is granted and the
	 * cluster has no more to give: its first grant tells. */
	atomic_store(&p->used_up, rec.counter == rec.capacity);

	rc = ledger_shard_count(lg, p->id, &known);
	if (rc)
		return rc;
	p->nserving = d->shards;
	p->nopen = known > d->shards ? known : d->shards;
	p->shards = calloc(p->nopen, sizeof(*p->shards));
	if (!p->shards)
		return -ENOMEM;
	for (i = 0; i < p->nopen; i++)
		pthread_mutex_init(&p->shards[i].level_lock, NULL);
	for (i = 0; i < p->nopen; i++) {
		struct rpool_shard *s = &p->shards[i];

		rc = shard_path(path, sizeof(path), cfg->data_dir, d->name, i);
		if (rc)
			goto out;
		rc = shard_open(&s->shard, path, d->name, i, lg->instance, &so);
		if (rc == -ENOENT && !create) {
			/* Never created, so it holds nothing. */
			rc = 0;
			continue;
		}
		if (rc) {
			snprintf(err, errlen, "cannot open %s: %s", path,
				 log_strerror(rc));
			goto out;
		}
		rc = rpool_shard_recount(p, i);
		if (rc == 0 && d->kind == POOL_CODE && i < p->nserving)
			rc = codepool_batch_init(&s->codes, p->grant_batch);
		if (rc)
			goto out;
	}
	rc = 0;
out:
	if (rc)
		rpool_release(p);
	return rc;
}

int rpool_draw(struct rpool *p, size_t n, uint64_t *vals, unsigned *shard,
	       unsigned hint)
{
	uint64_t before;
	unsigned j, i;

	for (j = 0; j < p->nserving; j++) {
		i = (hint + j) % p->nserving;
		if (hopper_pop(&p->shards[i].hopper, n, vals) == 0) {
			*shard = i;
			return 0;
		}
	}
	/*
	 * Nothing in the hoppers. "Used up" is the answer only if the ledger
	 * can grant nothing more and no value is on its way: every
	 * environment empty and no take or refill step moving values. Steps
	 * publish in the order busy++ -> (push, level) -> steps++ -> busy--
	 * (steps only if they moved values), so reading busy and steps
	 * before and after the levels and a second look at the hoppers
	 * proves no value moved in between: a step that ended before the
	 * first read is in the levels and hoppers read after it, one still
	 * running at either read shows in busy, and one that ended in
	 * between and moved values moved steps. (A step that starts after
	 * the second look finds the pool used up and the environments
	 * empty.)
	 */
	if (!atomic_load(&p->used_up) || atomic_load(&p->busy))
		goto refilling;
	before = atomic_load(&p->steps);
	for (i = 0; i < p->nserving; i++)
		if (atomic_load(&p->shards[i].level))
			goto refilling;
	for (i = 0; i < p->nserving; i++)
		if (hopper_pop(&p->shards[i].hopper, n, vals) == 0) {
			*shard = i;
			return 0;
		}
	if (atomic_load(&p->busy) || atomic_load(&p->steps) != before)
		goto refilling;
	return OUTCOME_USED_UP;
refilling:
	atomic_fetch_add(&p->empty_draws, 1);
	return OUTCOME_REFILLING;
}

/* Brackets a step that moves values (see rpool_draw). */
static void step_begin(struct rpool *p)
{
	atomic_fetch_add(&p->busy, 1);
}

static void step_end(struct rpool *p, bool moved)
{
	if (moved)
		atomic_fetch_add(&p->steps, 1);
	atomic_fetch_sub(&p->busy, 1);
}

/*
 * A grant of the root stream whose every candidate a prefix stream had
 * adds nothing. The step asks again at once, up to this many grants, so
 * that near the end of a pool a filler does not sleep its idle wait
 * between grants that only walk past codes the jobs took.
 */
#define CODE_EMPTY_GRANTS 64

/*
 * rpool_refill_step for code pools: the root stream issues through
 * codepool_issue (which checks every candidate against the prefix streams
 * and skips those they had), so a grant may add fewer values than it
 * covers, at sequence numbers with gaps.
 */
static int code_refill_step(struct rpool *p, unsigned i, uint64_t want,
			    uint64_t *added)
{
	static const struct code_prefix root = { 0 };
	struct rpool_shard *s = &p->shards[i];
	struct codepool_batch *b = &s->codes;
	unsigned grants = 0;
	size_t j;
	int rc = 0;

	step_begin(p);
	while (!s->pending.count) {
		rc = codepool_issue(p->ledger, p->def, &root, i, want, b, NULL,
				    NULL);
		if (rc == OUTCOME_PROMISED) {
			rc = 0;	/* what is left is promised to jobs: later */
			goto out;
		}
		if (rc)
			goto out;
		if (b->grant.count == 0) {
			atomic_store(&p->used_up, true);
			goto out;
		}
		if (b->n == 0) {
			if (++grants < CODE_EMPTY_GRANTS)
				continue;
			goto out;	/* the filler comes back */
		}
		for (j = 0; j < b->n; j++)	/* the sequence numbers */
			b->tmp[j] = b->grant.seq0 +
				    (b->pos[j] - b->grant.first);
		break;
	}
	rc = shard_append_seqs(&s->shard, b->tmp, b->codes, b->n);
	if (rc) {
		if (!s->pending.count)
			log_error("%s: appending %zu issued codes failed (%s); "
				  "will append them again", s->shard.name,
				  b->n, store_strerror(rc));
		s->pending = b->grant;
		goto out;
	}
	memset(&s->pending, 0, sizeof(s->pending));
	*added = b->n;
	rc = rpool_shard_recount(p, i);
out:
	step_end(p, *added > 0);
	return rc;
}

int rpool_refill_step(struct rpool *p, unsigned i, uint64_t want,
		      uint64_t *scratch, uint64_t *added)
{
	struct rpool_shard *s = &p->shards[i];
	struct ledger_grant g;
	uint64_t j;
	int rc = 0;

	*added = 0;
	if (want > p->grant_batch)
		want = p->grant_batch;
	if (p->def->kind == POOL_CODE)
		return code_refill_step(p, i, want, added);
	step_begin(p);
	if (s->pending.count) {
		g = s->pending;	/* a failed append: the same again */
	} else {
		rc = ledger_grant(p->ledger, p->def->name, i, want, &g);
		if (rc)
			goto out;
		if (g.count == 0) {
			/* A cluster pool waits for its next block. */
			if (!g.waiting)
				atomic_store(&p->used_up, true);
			goto out;
		}
	}
	for (j = 0; j < g.count; j++)
		scratch[j] = perm_apply(&p->perm, g.first + j);
	/* The grant is committed: these values are ours until appended. An
	 * append is one transaction, so a failed one wrote nothing and can
	 * simply be done again. */
	rc = shard_append(&s->shard, g.seq0, scratch, g.count);
	if (rc) {
		if (!s->pending.count)
			log_error("%s: appending %llu granted values failed "
				  "(%s); will append them again",
				  s->shard.name, (unsigned long long)g.count,
				  store_strerror(rc));
		s->pending = g;
		goto out;
	}
	if (s->pending.count)
		log_info("%s: the pending %llu values are appended",
			 s->shard.name, (unsigned long long)g.count);
	memset(&s->pending, 0, sizeof(s->pending));
	*added = g.count;
	rc = rpool_shard_recount(p, i);
out:
	step_end(p, *added > 0);
	return rc;
}

int rpool_take_step(struct rpool *p, unsigned i, size_t max,
		    struct shard_item *items, size_t *moved)
{
	struct rpool_shard *s = &p->shards[i];
	size_t got = 0;
	int rc;

	*moved = 0;
	step_begin(p);
	rc = shard_take(&s->shard, max, items, &got);
	if (rc)
		goto out;
	hopper_push(&s->hopper, items, got);
	*moved = got;
	if (got)
		waitlist_wake_all(&p->waiters);
	rc = rpool_shard_recount(p, i);
out:
	step_end(p, *moved > 0);
	return rc;
}

int rpool_grant_step(struct rpool *p, unsigned i, size_t max,
		     struct shard_item *items, size_t *moved)
{
	struct rpool_shard *s = &p->shards[i];
	struct ledger_grant g;
	uint64_t j;
	int rc = 0;

	*moved = 0;
	if (p->def->kind == POOL_CODE)
		return 0;
	if (max > p->grant_batch)
		max = p->grant_batch;
	step_begin(p);
	rc = ledger_grant(p->ledger, p->def->name, i, max, &g);
	if (rc)
		goto out;
	if (g.count == 0) {
		if (!g.waiting)
			atomic_store(&p->used_up, true);
		goto out;
	}
	/* Committed: the values are this process's, at their own sequence
	 * numbers (a clean stop puts them into the shard like any other). */
	for (j = 0; j < g.count; j++) {
		items[j].seq = g.seq0 + j;
		items[j].value = perm_apply(&p->perm, g.first + j);
	}
	hopper_push(&s->hopper, items, (size_t)g.count);
	*moved = (size_t)g.count;
	waitlist_wake_all(&p->waiters);
out:
	step_end(p, *moved > 0);
	return rc;
}

int rpool_put_back(struct rpool *p)
{
	struct shard_item *items;
	unsigned i;
	int rc = 0, r;

	if (!p->hopper_cap)
		return 0;
	items = malloc(p->hopper_cap * sizeof(*items));
	if (!items)
		return -ENOMEM;
	for (i = 0; i < p->nserving; i++) {
		struct rpool_shard *s = &p->shards[i];
		size_t n;

		if (!s->hopper.ring)
			continue;
		n = hopper_drain(&s->hopper, items, p->hopper_cap);
		r = shard_put_back(&s->shard, items, n);
		if (r == -ENOSPC) /* a full map has grown: once more */
			r = shard_put_back(&s->shard, items, n);
		if (r) {
			log_error("%s: %zu unsent values burned: %s",
				  s->shard.name, n, log_strerror(r));
			if (!rc)
				rc = r;
		}
	}
	free(items);
	return rc;
}

int rpool_shard_recount(struct rpool *p, unsigned i)
{
	struct rpool_shard *s = &p->shards[i];
	uint64_t n, txn;
	int rc;

	rc = shard_count_txn(&s->shard, &n, &txn);
	if (rc)
		return rc;
	pthread_mutex_lock(&s->level_lock);
	if (txn >= s->level_txn) {
		s->level_txn = txn;
		atomic_store(&s->level, n);
	}
	pthread_mutex_unlock(&s->level_lock);
	return 0;
}

uint64_t rpool_shard_ready(struct rpool *p, unsigned i)
{
	struct rpool_shard *s = &p->shards[i];
	uint64_t n = atomic_load(&s->level);

	if (s->hopper.ring)
		n += hopper_level(&s->hopper);
	return n;
}

int rpool_lookup(struct rpool *p, uint64_t k, struct rpool_lookup *out)
{
	struct ledger_grant g;
	uint64_t v, seq;
	int rc;

	memset(out, 0, sizeof(*out));
	out->index = perm_invert(&p->perm, k);
	rc = ledger_grant_find(p->ledger, p->id, out->index, &g);
	if (rc == -ENOENT)
		return 0;
	if (rc)
		return rc;
	out->issued = true;
	out->issued_ms = g.time_ms;
	out->shard = g.shard;
	if (g.shard >= p->nopen || !p->shards[g.shard].shard.env)
		return 0;
	seq = g.seq0 + (out->index - g.first);
	rc = shard_get(&p->shards[g.shard].shard, seq, &v);
	if (rc && rc != -ENOENT)
		return rc;
	out->in_shard = rc == 0 && v == k;
	/* The shard first, then the hopper: a value leaves the one only to
	 * enter the other, so it cannot slip between the two looks except
	 * during a take's commit (see rpool.h). */
	if (!out->in_shard)
		out->in_hopper = hopper_holds(&p->shards[g.shard].hopper, seq,
					      k);
	return 0;
}

/* True if code k, as lk found it, sits in its shard or its hopper: issued
 * to a shard and not sent yet. */
static bool code_unsent(struct rpool *p, const struct codepool_lookup *lk,
			uint64_t k)
{
	struct rpool_shard *s;
	uint64_t v;

	if (!lk->issued || !lk->root || lk->shard >= p->nopen)
		return false;
	s = &p->shards[lk->shard];
	if (!s->shard.env)
		return false;
	if (shard_get(&s->shard, lk->seq, &v) == 0 && v == k)
		return true;
	return hopper_holds(&s->hopper, lk->seq, k);
}

int rpool_code_waiting(struct rpool *p, uint64_t k, bool *waiting)
{
	struct codepool_lookup lk;
	int rc;

	*waiting = false;
	if (p->def->kind != POOL_CODE)
		return -EINVAL;
	rc = codepool_lookup(p->ledger, p->def, k, &lk);
	if (rc == 0)
		*waiting = code_unsent(p, &lk, k);
	return rc;
}

/* rpool_lookup_json for code pools: any stream may have issued k. */
static int code_lookup_json(struct rpool *p, uint64_t k, struct buf *b)
{
	char text[VALUE_TEXT_MAX + 1], when[CLOCK_RFC3339_LEN];
	struct codepool_lookup lk;
	bool unsent = false;
	int rc;

	rc = codepool_lookup(p->ledger, p->def, k, &lk);
	if (rc)
		return rc;
	buf_adds(b, "{\"pool\":");
	buf_add_json_str(b, p->def->name);
	value_format(p->def, k, text);
	buf_adds(b, ",\"value\":");
	buf_add_json_str(b, text);
	buf_printf(b, ",\"issued\":%s", lk.issued ? "true" : "false");
	if (!lk.issued)
		goto out;
	clock_rfc3339(lk.issued_ms, when, sizeof(when));
	buf_printf(b, ",\"issued_at\":\"%s\"", when);
	if (CODEPOOL_SHARD_IS_JOB(lk.shard)) {
		buf_printf(b, ",\"job\":\"%u\"", lk.shard & 0x7fffffffu);
	} else if (lk.shard == CODEPOOL_CLI_SHARD) {
		buf_adds(b, ",\"job\":\"uniqctl\"");
	} else {
		unsent = code_unsent(p, &lk, k);
		buf_printf(b, ",\"shard\":\"%s_shard_%u\"", p->def->name,
			   lk.shard);
	}
	buf_printf(b, ",\"served\":%s", unsent ? "false" : "true");
	buf_printf(b, ",\"redeemed\":%s", lk.redeemed ? "true" : "false");
	if (lk.redeemed) {
		clock_rfc3339(lk.redeemed_ms, when, sizeof(when));
		buf_printf(b, ",\"redeemed_at\":\"%s\"", when);
	}
out:
	buf_addc(b, '}');
	return buf_finish(b);
}

int rpool_lookup_json(struct rpool *p, uint64_t k, struct buf *b)
{
	char text[VALUE_TEXT_MAX + 1], when[CLOCK_RFC3339_LEN];
	struct rpool_lookup lk;
	int rc;

	if (p->def->kind == POOL_CODE)
		return code_lookup_json(p, k, b);
	rc = rpool_lookup(p, k, &lk);
	if (rc)
		return rc;
	buf_adds(b, "{\"pool\":");
	buf_add_json_str(b, p->def->name);
	buf_adds(b, ",\"value\":");
	buf_add(b, text, value_format(p->def, k, text));
	buf_printf(b, ",\"issued\":%s", lk.issued ? "true" : "false");
	if (lk.issued) {
		clock_rfc3339(lk.issued_ms, when, sizeof(when));
		buf_printf(b, ",\"issued_at\":\"%s\",\"shard\":\"%s_shard_%u\""
			   ",\"served\":%s", when, p->def->name, lk.shard,
			   lk.in_shard || lk.in_hopper ? "false" : "true");
	}
	buf_addc(b, '}');
	return buf_finish(b);
}

int rpool_value_json(const struct rpool *p, uint64_t k, struct buf *b)
{
	char text[VALUE_TEXT_MAX + 1];
	size_t n = value_format(p->def, k, text);

	if (p->def->kind == POOL_CODE)
		buf_add_json_str(b, text);
	else
		buf_add(b, text, n);
	return 0;
}
