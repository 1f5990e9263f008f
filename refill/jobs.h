/*
 * jobs.h: bulk code generation (seed 002): a job asks for `count` codes of
 * a code pool under a prefix; a worker issues them in large transactions
 * and writes them, one a line, to an export file.
 *
 * DESIGN
 *
 * Threads: one worker thread per code pool runs that pool's jobs one at a
 * time, oldest first (the queue is the ledger's job records, so a restart
 * resumes it); HTTP threads queue jobs (code_job_create) and wake the
 * worker (jobs_wake); the main thread starts and stops the workers. A
 * worker owns the job it runs and its file; w->lock guards only its wake
 * and stop flags, and is never held across a transaction or a write.
 *
 * A job, chunk by chunk (codes_generate): issue up to CODES_CHUNK codes
 * (code_issue) with, in the same transaction, the job's new progress;
 * then append the chunk's lines to <data_dir>/jobs/<id>.csv.part. When
 * all are there: fsync, rename to <id>.csv, mark the job done. A crash
 * between a commit and its write leaves the file behind the ledger, never
 * ahead: on resume the file is cut to whole lines and the missing ones are
 * rebuilt from the ledger (the job's grants, in order, without skips), so
 * the export is exactly the codes recorded, each once, in the order
 * issued. A job whose prefix runs out of codes fails with what it got.
 *
 * Stopping (jobs_stop) waits for the chunk in hand to commit and be
 * written; the job stays "running" and goes on at the next start.
 */
#ifndef UNIQ_JOBS_H
#define UNIQ_JOBS_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/code.h"
#include "ledger/codes.h"
#include "pools/pools.h"

/* Codes per transaction: large enough that commits are few, small enough
 * that the ledger's one writer lock is never held long: every order id,
 * lease and refill of the server waits for it (262144 held it for 200 to
 * 560 ms; 65536 for a quarter of that). Memory: about 48 bytes a code. */
#define CODES_CHUNK 65536

/* One generation run: a job's, or uniqctl's. */
struct codes_gen {
	struct ledger *lg;
	const struct pool_def *def;
	struct code_prefix prefix;
	uint32_t shard;		/* CODE_JOB_SHARD(id) or CODE_CLI_SHARD */
	uint64_t count;		/* codes wanted in all */
	uint64_t done;		/* codes issued so far (and in the file) */
	int fd;			/* the export, positioned at its end */
	struct code_job *job;	/* its progress is committed with each chunk;
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
 * written), -ENODATA (the prefix has no codes left; g->done says how many
 * were issued), -EBUSY (not a job: the codes left are promised to jobs),
 * or another negative errno: a storage error (-ENOSPC for a
 * full map) or a write error (-ENOSPC for a full disk), after which the
 * file may lack the lines of g->done's last chunk (codes_repair_file).
 */
int codes_generate(struct codes_gen *g);

/*
 * Makes the export at fd agree with g->done (its codes issued so far):
 * cuts a torn last line, and rebuilds from the ledger the lines a crash
 * lost between a commit and its write. Leaves fd at the end. Returns 0 or
 * a negative errno.
 */
int codes_repair_file(struct codes_gen *g);

/* "<data_dir>/jobs/<id>.csv", or with part, the file being written. */
int jobs_path(const char *data_dir, uint64_t id, bool part, char *buf,
	      size_t len);

struct jobs;

/* Starts a worker per code pool of ps (resuming their queued and running
 * jobs). Returns 0 with *out set, or a negative errno with nothing
 * running. */
int jobs_start(struct pools *ps, struct jobs **out);

/* Wakes the worker of pool `pool` (a job was queued). Safe with j NULL. */
void jobs_wake(struct jobs *j, const char *pool);

/* Stops every worker at a commit boundary, joins them and frees j. Safe
 * with j NULL. */
void jobs_stop(struct jobs *j);

/* Jobs of each status run so far by this process, for /metrics. */
void jobs_counts(struct jobs *j, uint64_t *done, uint64_t *failed);

#endif
