/*
 * codepool.h: code pools in the ledger: the streams codes are drawn from,
 * issuing with the checks that keep them unique, exact counts under a
 * prefix, lookups and redemptions (seed 002). Bulk jobs' records are
 * codejob.h; their runs and export files codegen.h; a code pool's shards
 * are those of a random pool (rpool.h).
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
#ifndef UNIQ_CODEPOOL_H
#define UNIQ_CODEPOOL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <lmdb.h>

#include "common/code.h"
#include "common/config.h"
#include "common/outcome.h"
#include "common/perm.h"
#include "ledger/committer.h"
#include "ledger/ledger.h"

/* What a grant of a code stream went to, besides a shard number. */
#define CODEPOOL_JOB_SHARD(id) \
	(LEDGER_SHARD_SPECIAL | (uint32_t)((id) & 0x7fffffffu))
#define CODEPOOL_CLI_SHARD 0xffffffffu
#define CODEPOOL_SHARD_IS_JOB(s) \
	((s) >= LEDGER_SHARD_SPECIAL && (s) != CODEPOOL_CLI_SHARD)

#define CODEPOOL_STREAM_NAME_MAX (POOL_NAME_MAX + 1 + CODE_PATTERN_MAX + 1)

struct codepool_stream {
	char name[CODEPOOL_STREAM_NAME_MAX];
	struct code_prefix prefix;
	struct ledger_rec rec;	/* as read in the transaction */
	struct perm perm;
};

/* The streams of one code pool, read in one transaction. */
struct codepool_streams {
	const struct pool_def *def;
	struct codepool_stream *v;
	size_t n;
	int32_t *table;		/* (prefix length, value) -> index */
	size_t tcap;
	bool lens[CODE_PATTERN_MAX];	/* prefix lengths present */
};

/* Reads every stream of code pool d in txn. Returns 0 or an error. */
int codepool_streams_load(struct ledger *lg, MDB_txn *txn,
			  const struct pool_def *d,
			  struct codepool_streams *cs);

void codepool_streams_release(struct codepool_streams *cs);

/*
 * The stream that issued code k, other than `except` (may be NULL): 1 with
 * *owner and *pos set, 0 if none, or a negative errno. Reads the skips in
 * txn.
 */
int codepool_streams_owner(struct codepool_streams *cs, struct ledger *lg,
			   MDB_txn *txn, uint64_t k,
			   const struct codepool_stream *except,
			   struct codepool_stream **owner, uint64_t *pos);

/* One grant's worth of issued codes, and the room for it. */
struct codepool_batch {
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
int codepool_batch_init(struct codepool_batch *b, size_t cap);

void codepool_batch_release(struct codepool_batch *b);

/* Called by codepool_issue inside its transaction, before the commit, to add
 * the caller's records (a job's progress). Returns 0 or an error (which
 * aborts everything). */
typedef int (*codepool_issue_hook)(MDB_txn *txn,
				   const struct codepool_batch *b, void *arg);

/*
 * Issues up to min(want, b->cap) codes of pool d under prefix p (len 0:
 * the root stream) to `shard` (a shard number, CODEPOOL_JOB_SHARD(id) or
 * CODEPOOL_CLI_SHARD), in one transaction as described above, and fills b.
 * b->grant.count == 0 after a 0 return means the prefix's stream is used
 * up (b->n < want is normal: skips). A draw that is not a job's (shards,
 * uniqctl) never takes codes promised to the jobs queued or running (see
 * codejob_admit): it gets fewer, or OUTCOME_PROMISED when all that is
 * left is promised. Returns 0, or that outcome or a negative errno with
 * nothing issued.
 */
int codepool_issue(struct ledger *lg, const struct pool_def *d,
		   const struct code_prefix *p, uint32_t shard, uint64_t want,
		   struct codepool_batch *b, codepool_issue_hook hook,
		   void *arg);

/* The exact number of codes of pool d issued under prefix p. */
int codepool_count(struct ledger *lg, const struct pool_def *d,
		   const struct code_prefix *p, uint64_t *issued);

/* codepool_count in the caller's transaction txn. */
int codepool_count_txn(struct ledger *lg, MDB_txn *txn,
		       const struct pool_def *d, const struct code_prefix *p,
		       uint64_t *issued);

/* What the ledger knows about one code. */
struct codepool_lookup {
	bool issued;
	uint64_t issued_ms;
	uint32_t shard;		/* of the grant: see CODE_*_SHARD */
	uint64_t seq;		/* its sequence number, for shards */
	bool root;		/* drawn by the root stream (shards) */
	bool redeemed;
	uint64_t redeemed_ms;
};

int codepool_lookup(struct ledger *lg, const struct pool_def *d, uint64_t k,
		    struct codepool_lookup *out);

/*
 * Redeeming a code, an operation of the group committer: apply returns 0
 * (redeemed now, at redeemed_ms), OUTCOME_NOT_ISSUED (never issued),
 * OUTCOME_REDEEMED (redeemed before, at redeemed_ms), or a negative errno
 * (the batch is aborted). Once durable, a second redeem of the same code
 * can never succeed.
 */
struct codepool_redeem {
	struct commit_op op;	/* op.done is the caller's */
	struct ledger *lg;
	const struct pool_def *def;
	uint32_t pool_id;
	uint64_t code;
	uint64_t redeemed_ms;	/* result */
};

void codepool_redeem_init(struct codepool_redeem *r, struct ledger *lg,
			  const struct pool_def *d, uint32_t pool_id,
			  uint64_t code);

/*
 * Calls fn(code, arg) for the codes of a job's stream granted to `shard`
 * (CODEPOOL_JOB_SHARD(id) or CODEPOOL_CLI_SHARD) in the order they were issued,
 * skipping the first `from`, at most `max`. For rebuilding an export
 * after a crash. fn returns 0 to go on, or anything else to stop the walk
 * (codepool_shard_codes then returns it: a positive stop, or an error).
 */
int codepool_shard_codes(struct ledger *lg, const struct pool_def *d,
			 const struct code_prefix *p, uint32_t shard,
			 uint64_t from, uint64_t max,
			 int (*fn)(uint64_t code, void *arg), void *arg);

#endif
