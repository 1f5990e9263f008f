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
 * twice that), without taking new ones. Keys are this ledger's: in a
 * cluster, a retry through another node gets new ids.
 *
 * Cluster mode (seq_open_cluster, then seq_cluster_attach): the counter
 * is etcd's key seq/<name> = {"day", "n", "node"} (cluster.h), one for
 * the cluster. apply first advances it by compare-and-swap on its mod
 * revision: the day is the later of this node's today and etcd's day
 * (the cluster's day never goes back, whatever a node's clock says),
 * the ids n+1.. of that day (1.. on a later day). Only then does it
 * write the ids into this node's ledger (for lookups by this node) in
 * the batch's transaction; the answer waits for that commit as above.
 * A crash between the two burns the ids etcd took (a gap, never a
 * repeat). Without etcd (no quorum, unreachable, -EAGAIN), past the
 * session's fence, or with etcd behind what this node's ledger issued
 * (etcd's data lost), apply fails with OUTCOME_CLUSTER_DOWN before any
 * write; after an etcd failure it fails so at once for SEQ_DOWN_MS
 * without asking etcd, so that a queue of requests is answered 503 at
 * once instead of each waiting out etcd's timeouts. Batching: the first
 * request of a pool in a batch takes, in its one transaction, the ids
 * of the requests without an Idempotency-Key queued behind it in the
 * batch (op->next), which then only write their ids.
 *
 * DESIGN (cluster mode)
 *
 * Threads: the committer thread alone runs apply, so it alone owns the
 * struct etcd (opened on first use, freed by seq_release), the cached
 * value and mod revision of the key, and the down window: no lock. The
 * cluster's day and n are also published in atomics (cl_day, cl_n) for
 * GET /pools on any thread. seq_cluster_attach runs on main before the
 * committer starts; seq_release after it stopped.
 * Guarantees: an id is answered only once etcd's counter is past it and
 * this node's ledger holds it, durably; no two nodes get one id, since
 * every take is a CAS on the one counter; a node's ids are increasing in
 * the order etcd took them.
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

#define SEQ_CAS_TRIES 64	/* compare-and-swaps of one take; after each
				   lost one a random pause of up to 2^k x
				   100 us (k = tries, at most 5), so that
				   nodes racing flat out take turns */
#define SEQ_DOWN_MS 1000	/* answer CLUSTER_DOWN at once after an
				   etcd failure, for this long */

struct tz;
struct cluster;
struct etcd;

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
	/* Cluster mode (see DESIGN): */
	bool cluster_made;	/* the ledger says LEDGER_REC_CLUSTER */
	struct cluster *cluster;	/* attached; not owned */
	struct etcd *etcd;	/* the committer thread's, lazily */
	bool cl_have;		/* the cache below is etcd's value at */
	int64_t cl_rev;		/* mod revision cl_rev (0: no key) */
	uint32_t cl_cday;
	uint64_t cl_cn;
	uint64_t down_until;	/* CLOCK_MONOTONIC ms */
	uint64_t said_ms;	/* last etcd error logged */
	uint64_t cl_rng;	/* the pauses' xorshift state */
	_Atomic uint32_t cl_day;	/* the cache, for any thread */
	_Atomic uint64_t cl_n;
	_Atomic uint64_t etcd_txns;	/* transactions that took ids */
	_Atomic uint64_t cas_lost;	/* that found another node first */
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

/*
 * seq_open for a cluster node: the pool's ledger record must be a
 * cluster one (LEDGER_REC_CLUSTER; made so when missing). A pool this
 * data directory used standalone is refused with -EINVAL and a sentence
 * in err: its ids were never in etcd, other nodes could repeat them.
 * (seq_open, standalone, refuses a cluster-made pool likewise.)
 */
int seq_open_cluster(struct seq *sp, struct ledger *lg,
		     const struct pool_def *d, char *err, size_t errlen);

/*
 * Attaches cluster c to sp, opened by seq_open_cluster (else -EINVAL and
 * a sentence in err): from now on apply takes ids from etcd. Reads the
 * key once (for GET /pools; failure to reach etcd is not an error here).
 * Before the committer starts. Returns 0 or a negative errno.
 */
int seq_cluster_attach(struct seq *sp, struct cluster *c, char *err,
		       size_t errlen);

/* Frees what seq_open made (and the committer's struct etcd: call it
 * after the committer stopped). */
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
	/* Private: ids a request before it in the batch took from etcd
	 * for it (cluster mode). */
	bool taken;
};

/*
 * Sets up r for `count` ids of pool sp (key NULL or keylen bytes); the
 * caller sets r->op.done and submits &r->op to the committer.
 * apply returns 0, OUTCOME_USED_UP (the day's ids are used up),
 * OUTCOME_TOO_MANY (count is 0 or more than a day holds),
 * OUTCOME_KEY_CONFLICT (the key was first used with another count),
 * OUTCOME_CLUSTER_DOWN (cluster mode: see above), or a negative errno
 * (storage, or a clock outside tz_day's range).
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
 * Reads the ledger; any thread. In cluster mode: this node's last ids;
 * the cluster's are cl_day and cl_n. */
int seq_state(struct seq *sp, uint32_t *day, uint64_t *n);

/* The committer tick that drops Idempotency-Keys older than twice the
 * keep time (arg: the struct ledger). */
int seq_purge_tick(void *arg, MDB_txn *txn, uint64_t now_ms);

/* The day of `ms` in the pool's time zone, as YYYYMMDD. */
int seq_today(const struct seq *sp, uint64_t ms, uint32_t *day);

#endif
