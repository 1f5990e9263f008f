/*
 * api_ops.c: the routes for the people and machines that run uniqd:
 * GET /healthz (is it up), GET /metrics (the Prometheus text format:
 * requests by route, values served, stock, refills, leases, jobs, group
 * commits, the ledger's size) and GET /, the admin page
 * (server/admin.html, embedded at build time).
 */
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "common/buf.h"
#include "common/clock.h"
#include "common/code.h"
#include "refill/refill.h"
#include "server/api_route.h"
#include "common/banned.h"

/* ---- GET /: the admin page ---------------------------------------- */

extern const char admin_html[];
extern const size_t admin_html_len;

static void route_admin_page(struct api *a, struct http_req *r,
			     const struct request_path *path)
{
	/* Everything is inline and from here: no other origin may run. */
	static const char *const hdr[] = {
		"Content-Security-Policy",
		"default-src 'self'; script-src 'unsafe-inline'; "
		"style-src 'unsafe-inline'; img-src 'self' data: blob:; "
		"frame-ancestors 'none'",
		"X-Content-Type-Options", "nosniff",
		"Cache-Control", "no-cache",
		NULL,
	};

	(void)a;
	(void)path;
	http_reply(r, 200, "text/html; charset=utf-8", admin_html,
		   admin_html_len, false, hdr);
}

/* ---- GET /healthz ------------------------------------------------ */

static void route_healthz(struct api *a, struct http_req *r,
			  const struct request_path *path)
{
	static const char ok[] = "{\"status\":\"ok\"}";

	(void)a;
	(void)path;
	http_reply_json(r, 200, ok, sizeof(ok) - 1);
}

/* ---- GET /metrics ------------------------------------------------- */

/* A gauge or counter line with a pool label. */
static void metric_pool(struct buf *b, const char *name, const char *pool,
			uint64_t v)
{
	buf_printf(b, "%s{pool=\"%s\"} ", name, pool);
	buf_add_u64(b, v);
	buf_addc(b, '\n');
}

static void route_metrics(struct api *a, struct http_req *r,
			  const struct request_path *path)
{
	static const char *const allowed[] = { NULL };
	static const struct code_prefix all = { 0 };
	struct pools *ps = a->pools;
	struct buf b = BUF_INIT;
	uint64_t batches, ops, jobs[4], v;
	struct refill_stats st;
	char file[1200];
	struct stat fs;
	size_t i;
	unsigned j;

	(void)path;
	if (api_bad_query(r, allowed))
		return;
	metrics_render(a->metrics, &b);
	buf_adds(&b, "# HELP uniqd_pool_issued Values issued (random pools: "
		     "recorded in the ledger; sequences: today; leases: out "
		     "now).\n# TYPE uniqd_pool_issued gauge\n");
	for (i = 0; i < ps->npools; i++) {
		struct ledger_rec rec;

		if (ps->pools[i].def->kind == POOL_CODE) {
			if (codepool_count(&ps->ledger, ps->pools[i].def, &all,
					   &v))
				continue;
		} else if (ledger_issued(&ps->ledger, ps->pools[i].def->name,
					 &rec, &v) != 0) {
			continue;
		}
		metric_pool(&b, "uniqd_pool_issued", ps->pools[i].def->name, v);
	}
	for (i = 0; i < ps->nseqs; i++) {
		uint32_t day, today;

		if (seq_state(&ps->seqs[i], &day, &v) ||
		    seq_today(&ps->seqs[i], clock_now_ms(), &today))
			continue;
		metric_pool(&b, "uniqd_pool_issued", ps->seqs[i].def->name,
			    today > day ? 0 : v);
	}
	for (i = 0; i < ps->nleases; i++)
		metric_pool(&b, "uniqd_pool_issued", ps->leases[i].def->name,
			    atomic_load(&ps->leases[i].out));
	buf_adds(&b, "# HELP uniqd_pool_capacity Values a pool can issue "
		     "(sequences: a day's).\n# TYPE uniqd_pool_capacity "
		     "gauge\n");
	for (i = 0; i < a->cfg->npools; i++)
		metric_pool(&b, "uniqd_pool_capacity", a->cfg->pools[i].name,
			    a->cfg->pools[i].capacity);
	buf_adds(&b, "# HELP uniqd_sequence_day_used Share of the day's ids "
		     "a sequence pool has issued (at 1 it refuses until the "
		     "next day).\n# TYPE uniqd_sequence_day_used gauge\n");
	for (i = 0; i < ps->nseqs; i++) {
		uint32_t day;

		if (api_seq_today(&ps->seqs[i], &day, &v) == 0)
			buf_printf(&b, "uniqd_sequence_day_used{pool=\"%s\"} "
				   "%.6f\n", ps->seqs[i].def->name,
				   (double)v / (double)ps->seqs[i].max);
	}
	buf_adds(&b, "# HELP uniqd_shard_ready Values ready in a shard (its "
		     "environment and its hopper).\n# TYPE uniqd_shard_ready "
		     "gauge\n");
	for (i = 0; i < ps->npools; i++)
		for (j = 0; j < ps->pools[i].nserving; j++) {
			buf_printf(&b, "uniqd_shard_ready{pool=\"%s\",shard="
				   "\"%s\"} ", ps->pools[i].def->name,
				   ps->pools[i].shards[j].shard.name);
			buf_add_u64(&b, rpool_shard_ready(&ps->pools[i], j));
			buf_addc(&b, '\n');
		}
	buf_adds(&b, "# HELP uniqd_refills_total Ledger grants appended to "
		     "shards.\n# TYPE uniqd_refills_total counter\n");
	for (i = 0; i < ps->npools; i++) {
		refill_stats(a->refill, &ps->pools[i], &st);
		metric_pool(&b, "uniqd_refills_total", ps->pools[i].def->name,
			    st.grants);
	}
	buf_adds(&b, "# HELP uniqd_refill_errors_total Refill passes that "
		     "failed (and were retried).\n# TYPE "
		     "uniqd_refill_errors_total counter\n");
	for (i = 0; i < ps->npools; i++) {
		refill_stats(a->refill, &ps->pools[i], &st);
		metric_pool(&b, "uniqd_refill_errors_total",
			    ps->pools[i].def->name, st.errors);
	}
	buf_adds(&b, "# HELP uniqd_empty_draws_total Draws that found every "
		     "hopper empty (503 refilling).\n# TYPE "
		     "uniqd_empty_draws_total counter\n");
	for (i = 0; i < ps->npools; i++)
		metric_pool(&b, "uniqd_empty_draws_total",
			    ps->pools[i].def->name,
			    atomic_load(&ps->pools[i].empty_draws));
	buf_adds(&b, "# HELP uniqd_leases_out Numbers out on lease.\n"
		     "# TYPE uniqd_leases_out gauge\n");
	for (i = 0; i < ps->nleases; i++)
		metric_pool(&b, "uniqd_leases_out", ps->leases[i].def->name,
			    atomic_load(&ps->leases[i].out));
	if (codejob_counts(&ps->ledger, jobs) == 0) {
		buf_adds(&b, "# HELP uniqd_jobs Code jobs by status.\n"
			     "# TYPE uniqd_jobs gauge\n");
		for (j = 0; j < 4; j++) {
			buf_printf(&b, "uniqd_jobs{status=\"%s\"} ",
				   codejob_status_name(j));
			buf_add_u64(&b, jobs[j]);
			buf_addc(&b, '\n');
		}
	}
	committer_stats(a->committer, &batches, &ops);
	buf_adds(&b, "# HELP uniqd_commits_total Group commits of the "
		     "ledger.\n# TYPE uniqd_commits_total counter\n"
		     "uniqd_commits_total ");
	buf_add_u64(&b, batches);
	buf_adds(&b, "\n# HELP uniqd_commit_operations_total Operations in "
		     "them (order ids, leases, redemptions).\n# TYPE "
		     "uniqd_commit_operations_total counter\n"
		     "uniqd_commit_operations_total ");
	buf_add_u64(&b, ops);
	buf_addc(&b, '\n');
	snprintf(file, sizeof(file), "%s/%s", a->cfg->data_dir, LEDGER_FILE);
	if (stat(file, &fs) == 0) {
		buf_adds(&b, "# HELP uniqd_ledger_bytes Size of the ledger "
			     "file.\n# TYPE uniqd_ledger_bytes gauge\n"
			     "uniqd_ledger_bytes ");
		buf_add_u64(&b, (uint64_t)fs.st_size);
		buf_addc(&b, '\n');
	}
	api_reply(r, 200, "text/plain; version=0.0.4; charset=utf-8", &b,
		  NULL);
}

/* GET /healthz first: api.c puts it among the random routes. */
const struct api_route api_ops_routes[] = {
	{ "GET", "/healthz", route_healthz, false },
	{ "GET", "/metrics", route_metrics, false },
	{ "GET", "/", route_admin_page, false },
	{ NULL, NULL, NULL, false },
};
