/*
 * api_code.c: the routes of code pools (pools/codejob.h), seed 002's
 * vouchers: how many codes are left under a prefix
 * (GET /pools/{name}/capacity), redeeming a code once (its own group
 * commit, so the request waits for it: api_call), and bulk jobs that
 * issue many codes into a CSV file (pools/codegen.h): queue one, list
 * them, read one, download its file. Codes are drawn one by one by POST
 * /pools/{name}/next, in api_random.c.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/buf.h"
#include "common/clock.h"
#include "common/code.h"
#include "common/log.h"
#include "common/outcome.h"
#include "common/value.h"
#include "pools/codegen.h"
#include "server/api_route.h"
#include "common/banned.h"

/* The code pool called name: 404 if there is none, 400 if it is another
 * kind. */
static struct rpool *find_code_pool(struct api *a, struct http_req *r,
				    const char *name)
{
	struct rpool *p = pools_random(a->pools, name);

	if (p && p->def->kind == POOL_CODE)
		return p;
	if (p || pools_kind(a->pools, name) >= 0)
		http_error(r, 400, NULL, "wrong_kind",
			   "pool \"%s\" is not a code pool", name);
	else
		http_error(r, 404, NULL, "unknown_pool",
			   "there is no pool named \"%.40s\"", name);
	return NULL;
}

/* Parses a prefix of code pool p; answers 400 and returns false on a bad
 * one. */
static bool get_prefix(struct http_req *r, const struct pool_def *d,
		       const char *text, struct code_prefix *out)
{
	struct request_error e;

	if (request_prefix(d, text, out, &e) == 0)
		return true;
	api_answer_bad(r, &e);
	return false;
}

/* GET /pools/{name}/capacity?prefix=P: seed 002's steps 1 to 3. */
static void route_capacity(struct api *a, struct http_req *r,
			   const struct request_path *path)
{
	static const char *const allowed[] = { "prefix", NULL };
	const char *text = http_query(r, "prefix");
	struct code_prefix pfx;
	struct buf b = BUF_INIT;
	uint64_t comb, issued = 0;
	struct rpool *p;
	int rc;

	if (api_bad_query(r, allowed) ||
	    !(p = find_code_pool(a, r, path->seg[1])))
		return;
	if (!text)
		text = "";
	if (!get_prefix(r, p->def, text, &pfx))
		return;
	rc = codepool_count(&a->pools->ledger, p->def, &pfx, &issued);
	if (rc) {
		http_error(r, 500, NULL, "internal",
			   "could not read the ledger: %s", log_strerror(rc));
		return;
	}
	comb = code_combinations(p->def, pfx.len);
	buf_adds(&b, "{\"pool\":");
	buf_add_json_str(&b, p->def->name);
	buf_adds(&b, ",\"prefix\":");
	buf_add_json_str(&b, text);
	buf_adds(&b, ",\"combinations\":");
	buf_add_u64(&b, comb);
	buf_adds(&b, ",\"issued\":");
	buf_add_u64(&b, issued);
	buf_adds(&b, ",\"remaining\":");
	buf_add_u64(&b, comb - issued);
	buf_addc(&b, '}');
	api_reply_buf(r, &b, 0);
}

/* A redeem waiting for its group commit. */
struct redeem_call {
	struct api_call call;	/* first: the request frees it */
	struct codepool_redeem red;
	char text[VALUE_TEXT_MAX + 1];
};

static void redeem_call_done(struct commit_op *op, int rc)
{
	struct redeem_call *c = api_container_of(op, struct redeem_call,
						 red.op);

	api_call_done(&c->call, rc);
}

static void redeem_answer(struct api *a, struct http_req *r,
			  struct api_call *call)
{
	struct redeem_call *c = api_container_of(call, struct redeem_call,
						 call);
	char when[CLOCK_RFC3339_LEN];
	struct buf b = BUF_INIT;

	if (call->rc == 0 || call->rc == OUTCOME_REDEEMED)
		clock_rfc3339(c->red.redeemed_ms, when, sizeof(when));
	switch (call->rc) {
	case 0:
		buf_adds(&b, "{\"pool\":");
		buf_add_json_str(&b, c->red.def->name);
		buf_adds(&b, ",\"code\":");
		buf_add_json_str(&b, c->text);
		buf_printf(&b, ",\"redeemed_at\":\"%s\"}", when);
		api_reply_buf(r, &b, 0);
		return;
	case OUTCOME_REDEEMED:
		http_error(r, 409, NULL, "already_redeemed",
			   "code %s was redeemed at %s", c->text, when);
		return;
	case OUTCOME_NOT_ISSUED:
		http_error(r, 404, NULL, "not_issued",
			   "code %s was never issued", c->text);
		return;
	default:
		api_answer_commit_error(r, call->rc, "redemption");
	}
}

/* POST /pools/{name}/values/{code}/redeem: once. */
static void route_redeem(struct api *a, struct http_req *r,
			 const struct request_path *path)
{
	static const char *const allowed[] = { NULL };
	struct redeem_call *c;
	struct rpool *p;
	bool waiting;
	uint64_t k;
	int rc;

	if (api_bad_query(r, allowed) ||
	    !(p = find_code_pool(a, r, path->seg[1])))
		return;
	if (value_parse(p->def, path->seg[3], &k)) {
		http_error(r, 400, NULL, "bad_value",
			   "\"%.40s\" is not a code of pool \"%s\" (%s)",
			   path->seg[3], p->def->name, p->def->pattern);
		return;
	}
	/* A code still in its shard or its hopper has not been handed to
	 * anyone yet: redeeming it would have it served spent. */
	rc = rpool_code_waiting(p, k, &waiting);
	if (rc) {
		http_error(r, 500, NULL, "internal",
			   "could not read the ledger: %s", log_strerror(rc));
		return;
	}
	if (waiting) {
		http_error(r, 409, NULL, "not_served",
			   "code %s has not been handed out yet",
			   path->seg[3]);
		return;
	}
	c = calloc(1, sizeof(*c));
	if (!c) {
		http_error(r, 500, NULL, "internal", "out of memory");
		return;
	}
	codepool_redeem_init(&c->red, &a->pools->ledger, p->def, p->id, k);
	c->red.op.done = redeem_call_done;
	value_format(p->def, k, c->text);
	api_call_suspend(r, &c->call, &c->red.op, redeem_answer);
}

static void job_json(struct buf *b, const struct codejob *j)
{
	char when[CLOCK_RFC3339_LEN];

	buf_printf(b, "{\"job\":\"%llu\",\"pool\":", (unsigned long long)j->id);
	buf_add_json_str(b, j->pool);
	buf_adds(b, ",\"prefix\":");
	buf_add_json_str(b, j->prefix);
	buf_printf(b, ",\"count\":%llu,\"done\":%llu,\"status\":\"%s\"",
		   (unsigned long long)j->count, (unsigned long long)j->done,
		   codejob_status_name(j->status));
	clock_rfc3339(j->created_ms, when, sizeof(when));
	buf_printf(b, ",\"created_at\":\"%s\",\"finished_at\":", when);
	if (j->finished_ms) {
		clock_rfc3339(j->finished_ms, when, sizeof(when));
		buf_printf(b, "\"%s\"", when);
	} else {
		buf_adds(b, "null");
	}
	if (j->status == CODEJOB_DONE ||
	    (j->status == CODEJOB_FAILED && j->done))
		buf_printf(b, ",\"download\":\"/jobs/%llu/codes.csv\"",
			   (unsigned long long)j->id);
	else
		buf_adds(b, ",\"download\":null");
	if (j->error[0]) {
		buf_adds(b, ",\"error\":");
		buf_add_json_str(b, j->error);
	}
	buf_addc(b, '}');
}

/* POST /pools/{name}/jobs {"count": N, "prefix": "AAA"} (admin). */
static void route_job_post(struct api *a, struct http_req *r,
			   const struct request_path *path)
{
	static const char *const allowed[] = { NULL };
	struct request_error e;
	struct request_job q;
	struct codejob job;
	struct buf b = BUF_INIT;
	uint64_t avail;
	struct rpool *p;
	char loc[64];
	int rc;

	if (api_bad_query(r, allowed) || !api_admin_ok(a, r) ||
	    !(p = find_code_pool(a, r, path->seg[1])))
		return;
	if (request_job_body(p->def, r->body, &q, &e)) {
		api_answer_bad(r, &e);
		return;
	}
	rc = codejob_admit(&a->pools->ledger, p->def, q.prefix, &q.pfx,
			   q.count, &job, &avail);
	if (rc == OUTCOME_NOT_ENOUGH) {
		uint64_t issued = 0;

		codepool_count(&a->pools->ledger, p->def, &q.pfx, &issued);
		http_error(r, 409, NULL, "not_enough",
			   "only %llu codes can be promised for prefix "
			   "\"%.64s\" now (%llu combinations, %llu issued; "
			   "jobs under way may need the rest); nothing was "
			   "generated", (unsigned long long)avail, q.prefix,
			   (unsigned long long)code_combinations(p->def,
								 q.pfx.len),
			   (unsigned long long)issued);
		return;
	}
	if (rc == OUTCOME_JOBS_FULL) {
		http_error(r, 503, (const char *const[]){ "Retry-After", "10",
							  NULL },
			   "too_many_jobs", "pool \"%s\" has %d jobs queued or "
			   "running; retry when some are done", p->def->name,
			   CODEJOB_PENDING_MAX);
		return;
	}
	if (rc) {
		http_error(r, 503, api_retry_1, "unavailable",
			   "the job could not be recorded: %s",
			   outcome_str(rc));
		return;
	}
	codegen_wake(a->jobs, p->def->name);
	snprintf(loc, sizeof(loc), "/jobs/%llu", (unsigned long long)job.id);
	buf_printf(&b, "{\"job\":\"%llu\",\"status\":\"queued\"}",
		   (unsigned long long)job.id);
	{
		const char *hdr[] = { "Location", loc, NULL };

		api_reply(r, 202, "application/json", &b, hdr);
	}
}

/* The job named by path segment 1, or answers 404 / 400. */
static bool get_job(struct api *a, struct http_req *r, const char *text,
		    struct codejob *j)
{
	struct request_error e;
	uint64_t id;
	int rc;

	if (request_job_id(text, &id, &e)) {
		api_answer_bad(r, &e);
		return false;
	}
	rc = codejob_get(&a->pools->ledger, id, j);
	if (rc == -ENOENT)
		http_error(r, 404, NULL, "not_found", "no job %llu",
			   (unsigned long long)id);
	else if (rc)
		http_error(r, 500, NULL, "internal",
			   "could not read the ledger: %s", log_strerror(rc));
	return rc == 0;
}

/* GET /jobs: the 50 newest jobs, newest first. */
static void route_jobs(struct api *a, struct http_req *r,
		       const struct request_path *path)
{
	static const char *const allowed[] = { NULL };
	struct codejob jobs[50];
	struct buf b = BUF_INIT;
	size_t n = 0, i;
	int rc;

	(void)path;
	if (api_bad_query(r, allowed))
		return;
	rc = codejob_recent(&a->pools->ledger, jobs, 50, &n);
	if (rc) {
		http_error(r, 500, NULL, "internal",
			   "could not read the ledger: %s", log_strerror(rc));
		return;
	}
	buf_adds(&b, "{\"jobs\":[");
	for (i = 0; i < n; i++) {
		if (i)
			buf_addc(&b, ',');
		job_json(&b, &jobs[i]);
	}
	buf_adds(&b, "]}");
	api_reply_buf(r, &b, 0);
}

static void route_job_get(struct api *a, struct http_req *r,
			  const struct request_path *path)
{
	static const char *const allowed[] = { NULL };
	struct buf b = BUF_INIT;
	struct codejob j;

	if (api_bad_query(r, allowed) || !get_job(a, r, path->seg[1], &j))
		return;
	job_json(&b, &j);
	api_reply_buf(r, &b, 0);
}

/* GET /jobs/{id}/codes.csv (admin): the export, once done. */
static void route_job_csv(struct api *a, struct http_req *r,
			  const struct request_path *path)
{
	static const char *const allowed[] = { NULL };
	char file[1200], disp[96];
	const char *hdr[] = { "Content-Disposition", disp, NULL };
	struct codejob j;
	struct stat st;
	int fd;

	if (api_bad_query(r, allowed) || !api_admin_ok(a, r) ||
	    !get_job(a, r, path->seg[1], &j))
		return;
	if (j.status != CODEJOB_DONE &&
	    !(j.status == CODEJOB_FAILED && j.done)) {
		http_error(r, 409, NULL, "not_done",
			   "job %llu is %s (%llu of %llu codes); its file is "
			   "ready once it is done", (unsigned long long)j.id,
			   codejob_status_name(j.status),
			   (unsigned long long)j.done,
			   (unsigned long long)j.count);
		return;
	}
	codegen_path(a->cfg->data_dir, j.id, false, file, sizeof(file));
	fd = open(file, O_RDONLY | O_CLOEXEC);
	if (fd < 0 || fstat(fd, &st)) {
		if (fd >= 0)
			close(fd);
		http_error(r, 500, NULL, "internal", "the file of job %llu is "
			   "missing", (unsigned long long)j.id);
		return;
	}
	snprintf(disp, sizeof(disp), "attachment; filename=\"codes-%llu.csv\"",
		 (unsigned long long)j.id);
	http_reply_fd(r, 200, "text/csv; charset=utf-8", fd,
		      (uint64_t)st.st_size, hdr);
}

const struct api_route api_code_routes[] = {
	{ "GET", "/pools/*/capacity", route_capacity, false },
	{ "POST", "/pools/*/values/*/redeem", route_redeem, true },
	{ "POST", "/pools/*/jobs", route_job_post, true },
	{ "GET", "/jobs", route_jobs, false },
	{ "GET", "/jobs/*", route_job_get, false },
	{ "GET", "/jobs/*/codes.csv", route_job_csv, false },
	{ NULL, NULL, NULL, false },
};
