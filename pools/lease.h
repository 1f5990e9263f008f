/*
 * lease.h: lease pools: numbers of [start, start + count) that a client
 * borrows and later returns (seed 001's BorrowANumber), so that load-test
 * users never share a username.
 *
 * Every change (borrow, return, renew, expiry, reset) is an operation of
 * the ledger's group committer (committer.h), durable before it is
 * answered: a lease answered to a client survives kill -9, and many
 * concurrent borrows share one fsync.
 *
 * DESIGN
 *
 * The ledger holds the truth: a record per number out and an index by
 * expiry (lease.c). The free numbers are a stack in memory, rebuilt from
 * the ledger at open and touched only by the committer thread (apply,
 * done, the expiry tick), so it has no lock:
 *   - a borrow pops in apply (two borrows of one batch get different
 *     numbers) and pushes back in done if the batch failed;
 *   - a return, an expiry or a reset pushes in done, once the deletion is
 *     durable, so a number is never lent while its old lease could still
 *     come back after a crash.
 * So a number is never out to two holders: it is either in the stack or
 * has a committed (or committing) record, never both. Other threads read
 * the records in read transactions (lease_list) and the counters as
 * atomics.
 * Expiry: a lease not renewed within its ttl (0: never) ends; the
 * committer's tick (every second) deletes what is due and frees the
 * numbers (lease_expire_tick says which index entries it trusts).
 * An apply that finds the ledger other than it expects after it wrote
 * aborts the batch with -EIO rather than commit it half done (lease.c).
 * Cluster mode (lease_cluster_attach): the truth is in etcd instead
 * (pools/clease.h); the operations still go through the committer, whose
 * thread does their etcd work in apply with a client it alone uses
 * (owned by lp->cl, opened on first use), and writes nothing to the
 * ledger; the free stack, the counter and the expiry tick are left
 * unused (etcd expires leases itself).
 */
#ifndef UNIQ_LEASE_H
#define UNIQ_LEASE_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/config.h"
#include "common/outcome.h"
#include "ledger/committer.h"
#include "ledger/ledger.h"

#define LEASE_HOLDER_MAX 64

struct lease {
	const struct pool_def *def;
	struct ledger *ledger;
	uint32_t id;
	/* Committer thread only (see DESIGN). */
	uint32_t *free;		/* offsets from start, a stack */
	size_t nfree;
	uint32_t *expired;	/* the last tick's, freed once committed */
	size_t nexpired, expired_cap;
	/* For readers. */
	_Atomic uint64_t out;	/* numbers out (standalone) */
	struct clease *cl;	/* cluster mode; NULL: standalone. Set
				   before the committer starts */
};

/* One lease as stored and listed. */
struct lease_info {
	int64_t number;
	char holder[LEASE_HOLDER_MAX + 1];
	uint64_t borrowed_ms;
	uint64_t expires_ms;	/* 0: never */
};

/*
 * Opens lease pool d: creates it in the ledger (or adopts a changed range:
 * leases outside the new range end, and are logged) and rebuilds the free
 * stack from the leases out. Returns 0, or a negative errno with a
 * sentence in err and nothing to release.
 */
int lease_open(struct lease *lp, struct ledger *lg,
	       const struct pool_def *d, char *err, size_t errlen);

void lease_release(struct lease *lp);

enum lease_verb { LEASE_BORROW, LEASE_RETURN, LEASE_RENEW, LEASE_RESET };

/* One request to a lease pool. */
struct lease_req {
	struct commit_op op;	/* op.done is the caller's */
	struct lease *pool;
	enum lease_verb verb;
	int64_t number;		/* return, renew */
	bool check_holder;	/* return, renew: holder must match */
	char holder[LEASE_HOLDER_MAX + 1];
	int64_t ttl;		/* borrow, renew: seconds (0: never ends);
				   -1: the pool's ttl */
	uint64_t now_ms;	/* the clock; 0: the real one */
	/* Results, valid in done() when rc is 0: */
	struct lease_info lease; /* borrow, renew (and return: what ended) */
	uint64_t count;		/* reset: how many were returned */
	/* private */
	bool popped;		/* borrow: r->off came off the free stack */
	uint32_t off;
	uint32_t *reset_list;
	size_t reset_n;
};

/*
 * Sets up r; the caller sets the verb's fields, r->op.done, and submits
 * &r->op to the committer. apply returns 0, OUTCOME_ALL_OUT (borrow:
 * every number is out), OUTCOME_NOT_OUT (return/renew: the number is not
 * out), OUTCOME_OTHER_HOLDER (another holder has it), OUTCOME_NOT_IN_POOL
 * (not a number of the pool), or a negative errno, which aborts the
 * batch (-EIO when the ledger turns out inconsistent after the request
 * wrote).
 */
void lease_req_init(struct lease_req *r, struct lease *lp,
		    enum lease_verb verb);

/* Must be called from done() for every request, whatever rc: it puts
 * numbers back on the free stack (and frees a reset's list). Committer
 * thread only. */
void lease_req_finish(struct lease_req *r, int rc);

/* The leases out, in number order, into a malloc'd array (caller frees).
 * Any thread. Returns 0 or a negative errno (cluster mode: -EAGAIN when
 * etcd cannot be reached). */
int lease_list(struct lease *lp, struct lease_info **out, size_t *n);

/* How many numbers are out: the counter, or in cluster mode etcd's count
 * (a request to etcd). Any thread. Returns 0 or a negative errno. */
int lease_out(struct lease *lp, uint64_t *n);

/*
 * Makes lp a pool of cluster node c (which must outlive lp): from now on
 * its leases live in etcd (clease.h). Call after lease_open, before the
 * committer runs. Refused with -EEXIST and a sentence in err when the
 * ledger has leases out (a standalone run's): they would silently stop
 * counting, so the node does not start until they are returned or the
 * data directory is a fresh one. Returns 0, or a negative errno with a
 * sentence in err (lp then stays standalone).
 */
struct cluster;
int lease_cluster_attach(struct lease *lp, struct cluster *c, char *err,
			 size_t errlen);

/* The committer tick that ends expired leases (arg: the pool), and its
 * done callback. A cluster pool's tick does nothing. */
int lease_expire_tick(void *arg, MDB_txn *txn, uint64_t now_ms);
void lease_expire_done(void *arg, int rc);

#endif
