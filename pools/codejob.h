/*
 * codejob.h: bulk code jobs' records in the ledger (seed 002): a job asks
 * for `count` codes of a code pool under a prefix; it is admitted only if
 * it is sure to get them all, queued, and run by its pool's worker
 * (codegen.h), which commits its progress with each chunk of codes.
 * Draws that are not a job's never take what jobs were promised
 * (codejob_clamp, called by codepool_issue).
 */
#ifndef UNIQ_CODEJOB_H
#define UNIQ_CODEJOB_H

#include <stddef.h>
#include <stdint.h>

#include <lmdb.h>

#include "common/code.h"
#include "common/config.h"
#include "common/outcome.h"
#include "ledger/ledger.h"
#include "pools/codepool.h"

/* Job ids stay below 2^31 - 1, so that CODEPOOL_JOB_SHARD(id) is one job's
 * and never CODEPOOL_CLI_SHARD; codejob_create refuses more
 * (OUTCOME_JOB_IDS_OUT). */
#define CODEJOB_ID_MAX 0x7ffffffeu

enum codejob_status {
	CODEJOB_QUEUED = 0,
	CODEJOB_RUNNING = 1,
	CODEJOB_DONE = 2,
	CODEJOB_FAILED = 3,
};

struct codejob {
	uint64_t id;
	char pool[POOL_NAME_MAX + 1];
	char prefix[CODE_PATTERN_MAX + 1];	/* as given */
	uint64_t count;
	uint64_t done;		/* codes issued to it so far */
	uint32_t status;	/* enum codejob_status */
	uint32_t reserved;
	uint64_t created_ms;
	uint64_t finished_ms;
	char error[160];
};

const char *codejob_status_name(uint32_t status);

/* Records a new queued job (id from the ledger's counter). Returns 0,
 * OUTCOME_JOB_IDS_OUT once ids reach CODEJOB_ID_MAX, or a negative
 * errno. */
int codejob_create(struct ledger *lg, const char *pool, const char *prefix,
		   uint64_t count, struct codejob *out);

/* Reads job id: 0, -ENOENT, or an error. */
int codejob_get(struct ledger *lg, uint64_t id, struct codejob *out);

/* The newest jobs first, at most max of them, into out; *n says how many.
 * Returns 0 or an error. */
int codejob_recent(struct ledger *lg, struct codejob *out, size_t max,
		   size_t *n);

/* Counts the jobs of each status (indexed by enum codejob_status). */
int codejob_counts(struct ledger *lg, uint64_t counts[4]);

/* Writes a job (status changes), in txn if not NULL, else in its own. */
int codejob_put(struct ledger *lg, MDB_txn *txn, const struct codejob *j);

/* The oldest job of pool that is queued or running: 0, -ENOENT, or an
 * error. */
int codejob_next(struct ledger *lg, const char *pool, struct codejob *out);

/* The codes under prefix q that the jobs of pool (queued or running)
 * may still take in the worst case: all they have still to draw for a
 * job whose prefix extends q (or is q), up to all of q for one whose
 * prefix q extends. What a run of uniqctl sets aside. */
int codejob_pending(struct ledger *lg, const struct pool_def *d,
		    const struct code_prefix *q, uint64_t *pending);

#define CODEJOB_PENDING_MAX 1000	/* queued or running, per pool */

/*
 * Lowers *want, a draw from the stream of prefix p that is not a job's
 * (shards, uniqctl), so that it cannot take codes promised to the jobs
 * queued or running: under each such job's prefix x, what remains
 * beyond the worst case of the jobs (codejob_pending) bounds what the
 * draw may take there. In codepool_issue's write transaction txn. Returns 0
 * or a negative errno.
 */
int codejob_clamp(struct ledger *lg, MDB_txn *txn, const struct pool_def *d,
		  const struct code_prefix *p, uint64_t *want);

/*
 * Admits a job of count codes under prefix q (its text: prefix) only if
 * it is sure to get them all: jobs of a pool run one at a time, oldest
 * first, so the jobs queued before it run first and may take, in the
 * worst case, what codejob_pending says; what remains under q beyond
 * that must cover count. Later jobs check the same way, counting this
 * one. The check and the record are one write transaction, so two
 * admissions never both spend the same codes. The pool's own draws and
 * uniqctl take only what the pending jobs leave (codepool_issue), so an
 * admitted job gets its codes.
 * Returns 0 with *out the queued job; OUTCOME_NOT_ENOUGH with *avail the
 * most that could be asked now; OUTCOME_JOBS_FULL with
 * CODEJOB_PENDING_MAX jobs already pending for the pool;
 * OUTCOME_JOB_IDS_OUT past CODEJOB_ID_MAX jobs; or a negative errno
 * (storage: -ENOSPC is a full map). Nothing is written unless 0.
 */
int codejob_admit(struct ledger *lg, const struct pool_def *d,
		  const char *prefix, const struct code_prefix *q,
		  uint64_t count, struct codejob *out, uint64_t *avail);

#endif
