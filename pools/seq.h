/*
 * seq.h: sequence pools: order ids "YYYYMMDD-nnnnn", the day in the pool's
 * time zone and a counter that starts at 1 every day (seed 003).
 *
 * An id is issued by a struct seq_req, an operation of the ledger's group
 * committer (committer.h): its apply reads the pool's state (the last day
 * used and its counter) from the ledger, takes the next ids, and records
 * each id with its time, all in the batch's transaction; the id is
 * answered only once the batch is durable. So ids are unique under any
 * concurrency (one writer applies them in order), gap-free while the
 * server runs (nothing is taken before it is committed), and a crash can
 * at most lose a batch that was never answered: it never repeats an id.
 *
 * The day never goes backwards: if the clock steps back, ids continue on
 * the last day used. Past the last id of a day (99999 with 5 digits) a
 * request fails with OUTCOME_USED_UP until the next day; the counter
 * never wraps.
 *
 * Idempotency: a request that carries a key gets the ids first issued for
 * that key, for at least SEQ_IDEM_KEEP_MS after (keys are purged after
 * twice that), without taking new ones.
 */
#ifndef UNIQ_SEQ_H
#define UNIQ_SEQ_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/config.h"
#include "common/outcome.h"
#include "ledger/committer.h"
#include "ledger/ledger.h"

#define SEQ_IDEM_KEY_MAX 255
#define SEQ_IDEM_KEEP_MS (24ull * 3600 * 1000)
#define SEQ_ID_MAX (8 + 1 + SEQ_DIGITS_MAX)	/* "YYYYMMDD-" + digits */

struct tz;

struct seq {
	const struct pool_def *def;
	struct ledger *ledger;
	uint32_t id;		/* in the ledger */
	struct tz *tz;
	uint64_t max;		/* ids per day: 10^digits - 1 */
	/* The last committed state, for reading without a transaction;
	 * written by the committer thread only. */
	_Atomic uint32_t shown_day;
	_Atomic uint64_t shown_n;
};

/*
 * Opens sequence pool d: loads its time zone, and with create makes sure
 * the pool exists in the ledger (refusing a changed digits count, which
 * would change what the ids look like). Returns 0, or a negative errno
 * with a sentence in err and nothing to release.
 */
int seq_open(struct seq *sp, struct ledger *lg,
	     const struct pool_def *d, bool create, char *err,
	     size_t errlen);

void seq_release(struct seq *sp);

/* One request for `count` consecutive ids of a pool. */
struct seq_req {
	struct commit_op op;	/* op.done is the caller's */
	struct seq *pool;
	uint64_t count;
	uint64_t now_ms;	/* the clock to use; 0: the real one */
	size_t keylen;		/* 0: no Idempotency-Key */
	char key[SEQ_IDEM_KEY_MAX];
	/* Results, valid in done() when rc is 0: */
	uint32_t day;		/* YYYYMMDD */
	uint64_t first;		/* the first id's counter; ids are
				   first .. first + count - 1 */
	bool replayed;		/* answered from the Idempotency-Key */
	/* When rc is OUTCOME_USED_UP: seconds until the next day begins. */
	uint64_t retry_after;
};

/*
 * Sets up r for `count` ids of pool sp (key NULL or keylen bytes); the
 * caller sets r->op.done and submits &r->op to the committer.
 * apply returns 0, OUTCOME_USED_UP (the day's ids are used up),
 * OUTCOME_TOO_MANY (count is 0 or more than a day holds),
 * OUTCOME_KEY_CONFLICT (the key was first used with another count), or
 * a negative errno (storage, or a clock outside tz_day's range).
 */
void seq_req_init(struct seq_req *r, struct seq *sp, uint64_t count,
		  const char *key, size_t keylen);

/* Writes "YYYYMMDD-nnnnn" for (day, n) of pool sp into buf (at least
 * SEQ_ID_MAX + 1 bytes); returns the length. */
size_t seq_format(const struct seq *sp, uint32_t day, uint64_t n,
		  char *buf);

/* Parses an id of pool sp. Returns 0, or -EINVAL if it is not one. */
int seq_parse(const struct seq *sp, const char *text, uint32_t *day,
	      uint64_t *n);

/* Whether (day, n) was issued, and when. Returns 0 or a storage error. */
int seq_lookup(struct seq *sp, uint32_t day, uint64_t n, bool *issued,
	       uint64_t *issued_ms);

/* The committed state: the last day used and its counter (0, 0 if none).
 * Reads the ledger; any thread. */
int seq_state(struct seq *sp, uint32_t *day, uint64_t *n);

/* The committer tick that drops Idempotency-Keys older than twice the
 * keep time (arg: the struct ledger). */
int seq_purge_tick(void *arg, MDB_txn *txn, uint64_t now_ms);

/* The day of `ms` in the pool's time zone, as YYYYMMDD. */
int seq_today(const struct seq *sp, uint64_t ms, uint32_t *day);

#endif
