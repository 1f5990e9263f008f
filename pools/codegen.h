/*
 * codegen.h: bulk code generation (seed 002): a run issues `count` codes
 * of a code pool under a prefix in large transactions and writes them,
 * one a line, to an export file; a worker per code pool runs the jobs.
 *
 * DESIGN
 *
 * Owners: one worker thread per code pool (worker.h) runs that pool's
 * jobs one at a time, oldest first, and owns the job it runs and its
 * file. The queue is the ledger's job records (codejob.h), so a restart
 * resumes it. HTTP threads queue jobs (codejob_admit) and wake the worker
 * (codegen_wake); the main thread starts and stops the workers.
 * Locks: only the worker's own (a leaf), never held across a transaction
 * or a write.
 * Guarantees: each chunk (codegen_generate) issues up to CODEGEN_CHUNK
 * codes with the job's progress in one transaction, then appends their
 * lines to <data_dir>/jobs/<id>.csv.part; when all are there: fsync,
 * rename to <id>.csv, mark the job done. So the file is never ahead of
 * the ledger; on resume it is cut to whole lines and the missing ones are
 * rebuilt from the job's grants (codegen_repair_file): the export is
 * exactly the codes recorded, each once, in the order issued. A job whose
 * prefix runs out fails with what it got. codegen_stop waits for the
 * chunk in hand; the job stays "running" and goes on at the next start.
 */
#ifndef UNIQ_CODEGEN_H
#define UNIQ_CODEGEN_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/code.h"
#include "common/outcome.h"
#include "pools/codejob.h"
#include "pools/pools.h"

/* Codes per transaction: large enough that commits are few, small enough
 * that the ledger's one writer lock is never held long: every order id,
 * lease and refill of the server waits for it (262144 held it for 200 to
 * 560 ms; 65536 for a quarter of that). Memory: about 48 bytes a code. */
#define CODEGEN_CHUNK 65536

/* One generation run: a job's, or uniqctl's. */
struct codegen_run {
	struct ledger *lg;
	const struct pool_def *def;
	struct code_prefix prefix;
	uint32_t shard;		/* CODEPOOL_JOB_SHARD(id), CODEPOOL_CLI_SHARD */
	uint64_t count;		/* codes wanted in all */
	uint64_t done;		/* codes issued so far (and in the file) */
	int fd;			/* the export, positioned at its end */
	struct codejob *job;	/* its progress is committed with each chunk;
				   NULL for uniqctl */
	_Atomic bool *stop;	/* checked between chunks; may be NULL */
	_Atomic uint64_t *progress; /* set to done after each chunk; may be
				       NULL */
};

/*
 * Issues codes until g->done == g->count, writing each chunk's lines to
 * g->fd after its commit. g->done (and g->job->done) counts what the
 * ledger committed, even when the write of its lines then fails. Returns
 * 0 (all done), -ECANCELED (stopped: g->done is what is committed and
 * written), OUTCOME_USED_UP (the prefix has no codes left; g->done says
 * how many were issued), OUTCOME_PROMISED (not a job: the codes left are
 * promised to jobs), or another negative errno: a storage error (-ENOSPC
 * for a full map) or a write error (-ENOSPC for a full disk), after which
 * the file may lack the lines of g->done's last chunk
 * (codegen_repair_file).
 */
int codegen_generate(struct codegen_run *g);

/*
 * Makes the export at fd agree with g->done (its codes issued so far):
 * cuts a torn last line, and rebuilds from the ledger the lines a crash
 * lost between a commit and its write. Leaves fd at the end. Returns 0 or
 * a negative errno.
 */
int codegen_repair_file(struct codegen_run *g);

/* "<data_dir>/jobs/<id>.csv", or with part, the file being written. */
int codegen_path(const char *data_dir, uint64_t id, bool part, char *buf,
		 size_t len);

struct codegen;

/* Starts a worker per code pool of ps (resuming their queued and running
 * jobs). Returns 0 with *out set, or a negative errno with nothing
 * running. */
int codegen_start(struct pools *ps, struct codegen **out);

/* Wakes the worker of pool `pool` (a job was queued). Safe with j NULL. */
void codegen_wake(struct codegen *j, const char *pool);

/* Stops every worker at a commit boundary and joins them; frees nothing
 * (codegen_wake stays safe until codegen_free). Safe with j NULL. */
void codegen_stop(struct codegen *j);

/* Frees j, after codegen_stop. Safe with j NULL. */
void codegen_free(struct codegen *j);

/* Jobs of each status run so far by this process, for /metrics. */
void codegen_counts(struct codegen *j, uint64_t *done, uint64_t *failed);

#endif
