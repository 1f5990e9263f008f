/*
 * api.h: the routes of uniqd, their parameters and their answers (see
 * docs/API.md): what main.c needs to serve them. Handlers parse and
 * range-check every parameter before touching any state, so a bad
 * request changes nothing. The routes live in one file per pool kind
 * (api_random.c, api_seq.c, api_lease.c, api_code.c) and api_ops.c;
 * api_route.h is what they share, api.c their table and dispatch.
 */
#ifndef UNIQ_API_H
#define UNIQ_API_H

#include "common/config.h"
#include "ledger/committer.h"
#include "pools/codegen.h"
#include "pools/pools.h"
#include "refill/refill.h"
#include "server/http.h"
#include "server/metrics.h"

#define API_COUNT_MAX 10000

struct api {
	const struct config *cfg;
	struct pools *pools;
	struct refill *refill;
	struct committer *committer;	/* sequence ids, leases, redeems */
	struct codegen *jobs;		/* code jobs' workers */
	struct audit *audit;		/* a cluster node's questions to
					   etcd (cluster/audit.h); NULL
					   standalone */
	enum metrics_log access_log;	/* --access-log */
	struct metrics *metrics;	/* made by api_init */
	const char *pool_names[METRICS_POOLS_MAX]; /* for metrics */
};

/* Sets up what api_handle needs besides the fields above (the metrics).
 * Returns 0 or -ENOMEM. */
int api_init(struct api *a);

/* Frees what api_init made. */
void api_release(struct api *a);

/* The http_handler of the server; arg is a struct api. */
void api_handle(struct http_req *req, void *arg);

#endif
