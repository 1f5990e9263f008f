/*
 * codes.h: code pools in the ledger: the streams codes are drawn from,
 * issuing with the checks that keep them unique, exact counts under a
 * prefix, lookups, redemptions, and bulk jobs' records (seed 002).
 *
 * Streams. A code pool draws codes with no prefix from its own record
 * (the "root stream", which also feeds the pool's shards), and the codes
 * under a prefix P from a stream of their own, a ledger pool record
 * called "<pool>/<P's symbols>" with its own key, counter and grants, over
 * the A^(S-L) codes under P (code.h). So each stream is a permutation
 * drawn without replacement, as in int pools.
 *
 * Uniqueness across streams. Streams can meet: the root stream may draw a
 * code under P, and P's stream that same code. So every candidate code is
 * checked, in the transaction that issues it, against every other stream
 * whose prefix it starts with: by inverting that stream's permutation, a
 * code is that stream's if its position is below the stream's counter and
 * not among the stream's skipped positions. A candidate found issued is
 * skipped (the position is recorded as skipped, nothing is issued) and
 * the next one taken: this is not a retry loop, since the number of
 * candidates is the grant's, and skips only happen where streams overlap.
 *
 * Counts. A stream knows how many codes it issued (counter - skipped).
 * Codes under P were issued by streams whose prefix extends P (all their
 * codes) and by streams whose prefix is shorter (some of theirs): each
 * grant's issued codes are kept as a sorted run (coderuns), so those are
 * counted by seeking to P's range in each run of the shorter streams.
 *
 * Everything a grant does (its stream record, the grant, the skips, the
 * run, and the caller's own records, such as a job's progress) is one
 * write transaction: a crash leaves all of it or none.
 */
#ifndef UNIQ_CODES_H
#define UNIQ_CODES_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <lmdb.h>

#include "common/code.h"
#include "common/config.h"
#include "common/perm.h"
#include "ledger/committer.h"
#include "ledger/ledger.h"

/* What a grant of a code stream went to, besides a shard number. */
#define CODE_JOB_SHARD(id) \
	(LEDGER_SHARD_SPECIAL | (uint32_t)((id) & 0x7fffffffu))
#define CODE_CLI_SHARD 0xffffffffu
/* Job ids stay below 2^31 - 1, so that CODE_JOB_SHARD(id) is one job's
 * and never CODE_CLI_SHARD; code_job_create refuses more (-EOVERFLOW). */
#define CODE_JOB_ID_MAX 0x7ffffffeu
#define CODE_SHARD_IS_JOB(s) \
	((s) >= LEDGER_SHARD_SPECIAL && (s) != CODE_CLI_SHARD)

#define CODE_STREAM_NAME_MAX (POOL_NAME_MAX + 1 + CODE_PATTERN_MAX + 1)

struct code_stream {
	char name[CODE_STREAM_NAME_MAX];
	struct code_prefix prefix;
	struct ledger_pool rec;	/* as read in the transaction */
	struct perm perm;
};

/* The streams of one code pool, read in one transaction. */
struct code_streams {
	const struct pool_def *def;
	struct code_stream *v;
	size_t n;
	int32_t *table;		/* (prefix length, value) -> index */
	size_t tcap;
	bool lens[CODE_PATTERN_MAX];	/* prefix lengths present */
};

/* Reads every stream of code pool d in txn. Returns 0 or an error. */
int code_streams_load(struct ledger *lg, MDB_txn *txn,
		      const struct pool_def *d, struct code_streams *cs);

void code_streams_release(struct code_streams *cs);

/*
 * The stream that issued code k, other than `except` (may be NULL): 1 with
 * *owner and *pos set, 0 if none, or a negative errno. Reads the skips in
 * txn.
 */
int code_streams_owner(struct code_streams *cs, struct ledger *lg,
		       MDB_txn *txn, uint64_t k,
		       const struct code_stream *except,
		       struct code_stream **owner, uint64_t *pos);

/* One grant's worth of issued codes, and the room for it. */
struct code_batch {
	uint64_t *codes;	/* issued, in position order */
	uint64_t *pos;		/* their positions in the stream */
	size_t n;
	size_t cap;
	uint64_t *sorted, *tmp;	/* scratch for the run */
	struct ledger_grant grant;	/* the positions granted */
	uint64_t skipped;	/* of them, codes another stream had */
	uint32_t stream_id;
};

/* Sets up room for cap codes. Returns 0 or -ENOMEM. */
int code_batch_init(struct code_batch *b, size_t cap);

void code_batch_release(struct code_batch *b);

/* Called by code_issue inside its transaction, before the commit, to add
 * the caller's records (a job's progress). Returns 0 or an error (which
 * aborts everything). */
typedef int (*code_issue_hook)(MDB_txn *txn, const struct code_batch *b,
			       void *arg);

/*
 * Issues up to min(want, b->cap) codes of pool d under prefix p (len 0:
 * the root stream) to `shard` (a shard number, CODE_JOB_SHARD(id) or
 * CODE_CLI_SHARD), in one transaction as described above, and fills b.
 * b->grant.count == 0 after a 0 return means the prefix's stream is used
 * up (b->n < want is normal: skips). A draw that is not a job's (shards,
 * uniqctl) never takes codes promised to the jobs queued or running (see
 * code_job_admit): it gets fewer, or -EBUSY when all that is left is
 * promised. Returns 0 or a negative errno, with nothing issued.
 */
int code_issue(struct ledger *lg, const struct pool_def *d,
	       const struct code_prefix *p, uint32_t shard, uint64_t want,
	       struct code_batch *b, code_issue_hook hook, void *arg);

/* The exact number of codes of pool d issued under prefix p. */
int code_count(struct ledger *lg, const struct pool_def *d,
	       const struct code_prefix *p, uint64_t *issued);

/* What the ledger knows about one code. */
struct code_lookup {
	bool issued;
	uint64_t issued_ms;
	uint32_t shard;		/* of the grant: see CODE_*_SHARD */
	uint64_t seq;		/* its sequence number, for shards */
	bool root;		/* drawn by the root stream (shards) */
	bool redeemed;
	uint64_t redeemed_ms;
};

int code_lookup(struct ledger *lg, const struct pool_def *d, uint64_t k,
		struct code_lookup *out);

/*
 * Redeeming a code, an operation of the group committer: apply returns 0
 * (redeemed now, at redeemed_ms), -ENOENT (never issued), or -EALREADY
 * (redeemed before, at redeemed_ms). Once durable, a second redeem of the
 * same code can never succeed.
 */
struct code_redeem {
	struct commit_op op;	/* op.done is the caller's */
	struct ledger *lg;
	const struct pool_def *def;
	uint32_t pool_id;
	uint64_t code;
	uint64_t redeemed_ms;	/* result */
};

void code_redeem_init(struct code_redeem *r, struct ledger *lg,
		      const struct pool_def *d, uint32_t pool_id,
		      uint64_t code);

/* ---- bulk jobs ----------------------------------------------------- */

enum code_job_status {
	JOB_QUEUED = 0,
	JOB_RUNNING = 1,
	JOB_DONE = 2,
	JOB_FAILED = 3,
};

struct code_job {
	uint64_t id;
	char pool[POOL_NAME_MAX + 1];
	char prefix[CODE_PATTERN_MAX + 1];	/* as given */
	uint64_t count;
	uint64_t done;		/* codes issued to it so far */
	uint32_t status;	/* enum code_job_status */
	uint32_t reserved;
	uint64_t created_ms;
	uint64_t finished_ms;
	char error[160];
};

const char *code_job_status_name(uint32_t status);

/* Records a new queued job (id from the ledger's counter). Returns 0,
 * -EOVERFLOW once ids reach CODE_JOB_ID_MAX, or an error. */
int code_job_create(struct ledger *lg, const char *pool, const char *prefix,
		    uint64_t count, struct code_job *out);

/* Reads job id: 0, -ENOENT, or an error. */
int code_job_get(struct ledger *lg, uint64_t id, struct code_job *out);

/* The newest jobs first, at most max of them, into out; *n says how many.
 * Returns 0 or an error. */
int code_job_recent(struct ledger *lg, struct code_job *out, size_t max,
		    size_t *n);

/* Counts the jobs of each status (indexed by enum code_job_status). */
int code_job_counts(struct ledger *lg, uint64_t counts[4]);

/* Writes a job (status changes), in txn if not NULL, else in its own. */
int code_job_put(struct ledger *lg, MDB_txn *txn, const struct code_job *j);

/* The oldest job of pool that is queued or running: 0, -ENOENT, or an
 * error. */
int code_job_next(struct ledger *lg, const char *pool, struct code_job *out);

/* The codes under prefix q that the jobs of pool (queued or running)
 * may still take in the worst case: all they have still to draw for a
 * job whose prefix extends q (or is q), up to all of q for one whose
 * prefix q extends. What a run of uniqctl sets aside. */
int code_job_pending(struct ledger *lg, const struct pool_def *d,
		     const struct code_prefix *q, uint64_t *pending);

#define CODE_JOBS_PENDING_MAX 1000	/* queued or running, per pool */

/*
 * Admits a job of count codes under prefix q (its text: prefix) only if
 * it is sure to get them all: jobs of a pool run one at a time, oldest
 * first, so the jobs queued before it run first and may take, in the
 * worst case, what code_job_pending says; what remains under q beyond
 * that must cover count. Later jobs check the same way, counting this
 * one. The check and the record are one write transaction, so two
 * admissions never both spend the same codes. The pool's own draws and
 * uniqctl take only what the pending jobs leave (code_issue), so an
 * admitted job gets its codes.
 * Returns 0 with *out the queued job; -ENOSPC with *avail the most that
 * could be asked now; -EBUSY with CODE_JOBS_PENDING_MAX jobs already
 * pending for the pool; -EOVERFLOW past CODE_JOB_ID_MAX jobs; or a
 * storage error. Nothing is written unless 0.
 */
int code_job_admit(struct ledger *lg, const struct pool_def *d,
		   const char *prefix, const struct code_prefix *q,
		   uint64_t count, struct code_job *out, uint64_t *avail);

/*
 * Calls fn(code, arg) for the codes of a job's stream granted to `shard`
 * (CODE_JOB_SHARD(id) or CODE_CLI_SHARD) in the order they were issued,
 * skipping the first `from`, at most `max`. For rebuilding an export
 * after a crash. fn returns 0 to go on, or anything else to stop the walk
 * (code_shard_codes then returns it: a positive stop, or an error).
 */
int code_shard_codes(struct ledger *lg, const struct pool_def *d,
		     const struct code_prefix *p, uint32_t shard,
		     uint64_t from, uint64_t max,
		     int (*fn)(uint64_t code, void *arg), void *arg);

#endif
