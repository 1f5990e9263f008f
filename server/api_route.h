/*
 * api_route.h: what the route files of server/ share (private to them):
 * the route table's entry, the helpers every kind's routes answer with,
 * and the one adapter for a request that waits for a group commit.
 *
 * Each kind keeps its routes in a file of its own and exports them as a
 * table ending with an entry whose method is NULL: api_random.c,
 * api_seq.c, api_lease.c, api_code.c, api_ops.c. api.c puts the tables
 * together in the order in which routes are matched (the first match
 * wins) and dispatches.
 *
 * A route handler runs on the HTTP thread that serves the request
 * (http.h) and, before it returns, answers the request (http_reply*,
 * http_error, or a helper below that answers) or suspends it with
 * api_call_suspend; never both. The helpers that return bool or a
 * pointer answer the request themselves when they return false or NULL:
 * the handler then just returns.
 */
#ifndef UNIQ_API_ROUTE_H
#define UNIQ_API_ROUTE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/buf.h"
#include "common/config.h"
#include "ledger/committer.h"
#include "pools/lease.h"
#include "pools/seq.h"
#include "pools/pools.h"
#include "server/api.h"
#include "server/http.h"
#include "server/request.h"

typedef void (*api_route_fn)(struct api *a, struct http_req *r,
			     const struct request_path *path);

struct api_route {
	const char *method;	/* "GET", "POST"...; NULL ends a table */
	const char *pattern;	/* segments; "*" matches any one */
	api_route_fn fn;
	bool changes;		/* a GET that changes state: no HEAD */
};

/* Each kind's routes, in the order they are matched. */
extern const struct api_route api_random_routes[];
extern const struct api_route api_seq_routes[];
extern const struct api_route api_lease_routes[];
extern const struct api_route api_code_routes[];
extern const struct api_route api_ops_routes[];

/*
 * Every route, as api_handle matches them: *n entries (at most
 * METRICS_ROUTES_MAX - 1; entry i is counted as route i in /metrics). The
 * table is put together on the first call (any thread) and lives as long
 * as the process. Returns NULL, with *n 0, if the kinds' tables do not
 * add up (a bug: see api.c).
 */
const struct api_route *api_routes(size_t *n);

/* ---- helpers (api.c) ---------------------------------------------- */

/* { "Retry-After", "1", NULL }: the headers of a 503 worth retrying. */
extern const char *const api_retry_1[];

/* Counts n values of pool def handed out in r's answer (/metrics); pools
 * that are not in a->cfg->pools are not counted. */
void api_count_served(struct api *a, struct http_req *r,
		      const struct pool_def *d, uint64_t n);

/* Answers what request.c found wrong with r. */
void api_answer_bad(struct http_req *r, const struct request_error *e);

/* Answers 400 for a query parameter not in the NULL-terminated allowed,
 * or given twice; returns true if it did. */
bool api_bad_query(struct http_req *r, const char *const *allowed);

/* Parses ?count (default 1) within [1, max]; answers 400 and returns
 * false on a bad one. */
bool api_get_count(struct http_req *r, uint64_t max, uint64_t *count);

/* The random or code pool called name, or answers 404 and returns NULL. */
struct rpool *api_find_pool(struct api *a, struct http_req *r,
			    const char *name);

/* Answers a failed rpool_draw of n values: 503 exhausted
 * (OUTCOME_USED_UP), or 503 refilling with Retry-After for anything
 * else. */
void api_answer_draw_error(struct http_req *r, struct rpool *p, int rc,
			   uint64_t n);

/* Answers status with the body built in b (of content type type, with the
 * extra headers hdrs, a NULL-ended list of names and values, or NULL),
 * or 500 "out of memory" if b ran out of memory. Takes b's memory. */
void api_reply(struct http_req *r, unsigned status, const char *type,
	       struct buf *b, const char *const *hdrs);

/* Answers 200 with the JSON in b, or, when rc (a ledger read's) is not 0
 * or b ran out of memory, 500 "could not read the ledger". Frees b's
 * memory either way. */
void api_reply_buf(struct http_req *r, struct buf *b, int rc);

/* The Idempotency-Key header, checked: 1 to 255 visible ASCII
 * characters. Returns 0 (*key NULL when absent) or answers 400 and
 * returns -EINVAL. */
int api_idem_header(struct http_req *r, const char **key);

/* True if r may use an admin route (its bearer token is the admin token,
 * or none is set); otherwise answers 401 and returns false. */
bool api_admin_ok(struct api *a, struct http_req *r);

/* ---- what one kind's routes use of another's ---------------------- */

/* POST /pools/{name}/next on sequence pool sp (api_seq.c): ?count, then
 * that many ids of the day. The query is checked already. */
void api_seq_next(struct http_req *r, struct seq *sp);

/* Appends GET /pools/{name}'s description of sp (api_seq.c). Returns 0
 * or a ledger read's negative errno (b then holds a part). */
int api_seq_describe(struct seq *sp, struct buf *b);

/* Today's day of sp (YYYYMMDD) and the ids issued on it so far
 * (api_seq.c): 0 before the first. Returns 0 or a ledger read's
 * negative errno. */
int api_seq_today(struct seq *sp, uint32_t *day, uint64_t *n);

/* Answers GET /pools/{name}/values/{text} on sequence pool sp
 * (api_seq.c). */
void api_seq_value(struct http_req *r, struct seq *sp,
		   const char *text);

/* Appends GET /pools/{name}'s description of lp (api_lease.c). Returns
 * 0. */
int api_lease_describe(struct lease *lp, struct buf *b);

/* ---- a request waiting for a group commit (api.c) ------------------ */

/*
 * The adapter between a route and the committer (ledger/committer.h). A
 * route that must wait embeds a struct api_call as the FIRST member of a
 * struct it allocates with malloc (the call), with its commit_op in it,
 * and ends with api_call_suspend. Then:
 *   1. api_call_suspend suspends r (http_suspend): the call now belongs
 *      to the request and is freed with free() when the request is over;
 *   2. once the handler has returned, api_handle submits the op to the
 *      committer, and the HTTP thread goes on with other connections;
 *   3. the op's done callback (committer thread) does its kind's part and
 *      ends with api_call_done(call, rc), which resumes r;
 *   4. back on r's thread, api_handle calls answer(a, r, call) directly,
 *      without matching the path again, and counts r once answered under
 *      the route that suspended it.
 * So every suspended request is resumed exactly once, and its route never
 * sees it again: the answer function answers it.
 */
struct api_call;

typedef void (*api_answer_fn)(struct api *a, struct http_req *r,
			      struct api_call *call);

struct api_call {
	api_answer_fn answer;
	struct commit_op *op;	/* submitted once the handler returns;
				   NULL: the route set up the wake itself */
	struct http_wait *wait;
	int rc;			/* the op's outcome (api_call_done) */
	unsigned route;		/* api_handle's: the route it came by */
};

/* The struct that embeds member `member` (of type `type`) at ptr. */
#define api_container_of(ptr, type, member) \
	((type *)(void *)((char *)(ptr) - offsetof(type, member)))

/*
 * Suspends r until call's op is committed: call (the first member of a
 * malloc'd struct holding op, with op->done set) is then answered by
 * answer. If r cannot be suspended (out of memory), frees the call and
 * answers 500 instead. The handler returns right after either way.
 * Returns 0, or -ENOMEM for the 500. With op NULL (a draw waiting for
 * values, api_random.c) nothing is submitted: whoever the route gave
 * call->wait to resumes it (http_resume), once.
 */
int api_call_suspend(struct http_req *r, struct api_call *call,
		     struct commit_op *op, api_answer_fn answer);

/* Records rc as the call's outcome and resumes its request: the last
 * thing an op's done callback does (committer thread). */
void api_call_done(struct api_call *call, int rc);

/*
 * Answers a call whose commit failed, the last case of every answer
 * function: 503 shutting_down for -ESHUTDOWN (the committer had stopped),
 * 503 cluster_unavailable for OUTCOME_CLUSTER_DOWN (a cluster node whose
 * etcd has no quorum), else 503 unavailable, "the <what> could not be
 * recorded: <why>"; all with Retry-After: 1.
 */
void api_answer_commit_error(struct http_req *r, int rc, const char *what);

#endif
