/*
 * outcome.h: what a pool says when a valid request cannot be done: one
 * enum with a string table, as curl's CURLcode and curl_easy_strerror().
 *
 * The rule, everywhere in uniqd: a function returns 0 (done), a positive
 * enum outcome (the pool refused, and nothing was written), or a negative
 * errno (the system or the storage failed: -EIO, -ENOSPC for a full map or
 * disk, -ENOMEM...). errno values never carry a domain meaning, so no two
 * outcomes share a code. The group committer's rule follows from it
 * (committer.h): an operation's outcome fails that operation alone and the
 * batch goes on; a negative errno stops and aborts the batch.
 */
#ifndef UNIQ_OUTCOME_H
#define UNIQ_OUTCOME_H

enum outcome {
	OUTCOME_OK = 0,
	/* Random and sequence pools */
	OUTCOME_USED_UP,	/* the range (a sequence's day, a code
				   prefix's codes) is used up */
	OUTCOME_REFILLING,	/* no stock ready right now; retry */
	OUTCOME_TOO_MANY,	/* more asked than the pool could ever give
				   at once (a day's ids) */
	OUTCOME_KEY_CONFLICT,	/* an Idempotency-Key first used with
				   another count */
	/* Lease pools */
	OUTCOME_ALL_OUT,	/* every number is out */
	OUTCOME_NOT_OUT,	/* that number is not out */
	OUTCOME_OTHER_HOLDER,	/* another holder has that number */
	OUTCOME_NOT_IN_POOL,	/* not a number of the pool */
	/* Code pools */
	OUTCOME_PROMISED,	/* what is left is promised to code jobs */
	OUTCOME_NOT_ISSUED,	/* the code was never issued */
	OUTCOME_REDEEMED,	/* the code was redeemed before */
	OUTCOME_NOT_ENOUGH,	/* fewer codes can be promised than a job
				   asks */
	OUTCOME_JOBS_FULL,	/* a pool's queue of jobs is full */
	OUTCOME_JOB_IDS_OUT,	/* no job id is left */
	/* Cluster nodes */
	OUTCOME_CLUSTER_DOWN,	/* etcd cannot be reached or has no
				   quorum: nothing was done; retry */
	OUTCOME_COUNT_
};

/*
 * A sentence for any result: "ok" for 0, the outcome's text for a
 * positive rc, the errno's description for a negative one (thread safe,
 * never NULL).
 */
const char *outcome_str(int rc);

/* The outcome's name ("used_up"), for logs and tests; NULL if rc is not a
 * positive outcome. */
const char *outcome_name(int rc);

#endif
