/*
 * outcome.c: the string table of enum outcome; see outcome.h.
 */
#include <limits.h>
#include <string.h>

#include "common/outcome.h"
#include "common/banned.h"

static const struct {
	const char *name;
	const char *text;
} table[OUTCOME_COUNT_] = {
	[OUTCOME_OK] = { "ok", "ok" },
	[OUTCOME_USED_UP] = { "used_up", "the pool's range is used up" },
	[OUTCOME_REFILLING] = { "refilling", "no values are ready right "
				"now" },
	[OUTCOME_TOO_MANY] = { "too_many", "more asked than the pool can "
			       "give at once" },
	[OUTCOME_KEY_CONFLICT] = { "key_conflict", "the idempotency key was "
				   "first used with another count" },
	[OUTCOME_ALL_OUT] = { "all_out", "every number is out" },
	[OUTCOME_NOT_OUT] = { "not_out", "the number is not out" },
	[OUTCOME_OTHER_HOLDER] = { "other_holder", "another holder has the "
				   "number" },
	[OUTCOME_NOT_IN_POOL] = { "not_in_pool", "not a number of the "
				  "pool" },
	[OUTCOME_PROMISED] = { "promised", "what is left is promised to "
			       "code jobs" },
	[OUTCOME_NOT_ISSUED] = { "not_issued", "the code was never issued" },
	[OUTCOME_REDEEMED] = { "redeemed", "the code was redeemed before" },
	[OUTCOME_NOT_ENOUGH] = { "not_enough", "not enough codes can be "
				 "promised" },
	[OUTCOME_JOBS_FULL] = { "jobs_full", "the pool's job queue is "
				"full" },
	[OUTCOME_JOB_IDS_OUT] = { "job_ids_out", "no job id is left" },
	[OUTCOME_CLUSTER_DOWN] = { "cluster_unavailable", "the cluster's "
				   "etcd cannot be reached or has no "
				   "quorum" },
};

const char *outcome_name(int rc)
{
	if (rc <= 0 || rc >= OUTCOME_COUNT_)
		return NULL;
	return table[rc].name;
}

const char *outcome_str(int rc)
{
	const char *s;

	if (rc >= 0)
		return rc < OUTCOME_COUNT_ ? table[rc].text : "unknown outcome";
	s = rc > INT_MIN ? strerrordesc_np(-rc) : NULL;
	return s ? s : "unknown error";
}
