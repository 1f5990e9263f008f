/*
 * committer.h: group commit into the ledger. Operations submitted from any
 * thread are applied by one committer thread, many to a write transaction,
 * so that a burst of requests shares one fsync instead of paying one each,
 * and each is told its outcome only once it is durable.
 *
 * DESIGN
 *
 * Threads: any thread submits (committer_submit) and adds ticks; the
 * committer thread alone applies operations, commits and calls done(),
 * so the state operations keep beside the ledger (sequence days, lease
 * free lists) has one writer and no lock of its own.
 * Queue: a list under c->lock, the only lock, held to link or unlink,
 * never across a transaction; the committer takes up to BATCH_MAX of the
 * oldest operations at a time.
 * A batch: one write transaction; the due ticks first (one that fails is
 * aborted on its own, its done told so, and the operations get a fresh
 * transaction), then the operations in order. An outcome, returned
 * before any write, fails its operation alone; a negative errno stops and
 * aborts the batch (outcome.h). Then one commit (the fsync), then every
 * done(op, rc) in order: rc is the operation's own result, or the batch's
 * error, and then nothing of the batch happened; so an operation keeps
 * its in-memory effects undoable until done() says they are durable.
 * Guarantees: every submitted operation gets exactly one done(), also
 * after committer_stop (-ESHUTDOWN if it came too late); operations apply
 * and are answered in submission order (FIFO).
 */
#ifndef UNIQ_COMMITTER_H
#define UNIQ_COMMITTER_H

#include <lmdb.h>
#include <stdbool.h>
#include <stdint.h>

#include "common/outcome.h"
#include "ledger/ledger.h"

struct commit_op {
	/* Runs on the committer thread inside the batch's write
	 * transaction. Returns 0; a positive enum outcome, only before
	 * any write (the operation alone fails, the batch goes on); or a
	 * negative errno, which stops and aborts the batch (see DESIGN):
	 * after a write, only 0 or a negative errno may come back. */
	int (*apply)(struct commit_op *op, MDB_txn *txn);
	/* Runs on the committer thread once the batch is committed (rc is
	 * apply's result) or failed (rc is the commit's error and nothing of
	 * the batch was written). Must not block. */
	void (*done)(struct commit_op *op, int rc);
	/* The committer's own: queue link and apply result. */
	struct commit_op *next;
	int rc;
};

/* Periodic work run at the start of a batch (lease expiry, purges):
 * returns 0 or a negative errno, which aborts what the ticks wrote (the
 * batch's operations then apply in a new transaction; see DESIGN). */
typedef int (*commit_tick_fn)(void *arg, MDB_txn *txn, uint64_t now_ms);

/* Told, on the committer thread, whether the batch in which the tick ran
 * was committed (rc 0) or not: like an operation's done(). */
typedef void (*commit_tick_done_fn)(void *arg, int rc);

struct committer;

/* Starts the committer thread of ledger lg. Returns 0 with *out set, or a
 * negative errno. */
int committer_start(struct ledger *lg, struct committer **out);

/* Runs tick(arg, txn, now) in a batch about every `ms` milliseconds of
 * CLOCK_MONOTONIC (now is the wall clock, as clock_now_ms), at most 8
 * ticks, then done(arg, rc) (done may be NULL) once the batch is
 * committed or failed. Any thread, also while the committer runs; call
 * it before any submit that relies on the tick. Returns 0 or -ENOSPC. */
int committer_add_tick(struct committer *c, unsigned ms, commit_tick_fn tick,
		       commit_tick_done_fn done, void *arg);

/* Queues op (its apply and done set). Any thread. After committer_stop
 * has begun, op->done(op, -ESHUTDOWN) is called at once, on the caller's
 * thread. */
void committer_submit(struct committer *c, struct commit_op *op);

/* Applies and commits everything queued and stops the thread. c stays
 * valid: committer_submit answers -ESHUTDOWN and committer_stats works
 * until committer_free, so other threads (the HTTP workers) may still
 * call them until they are stopped themselves. Safe with c NULL. */
void committer_stop(struct committer *c);

/* Frees c, stopped by committer_stop, once no thread can use it any
 * more. Safe with c NULL. */
void committer_free(struct committer *c);

/* Batches committed and operations applied so far (for /metrics). */
void committer_stats(struct committer *c, uint64_t *batches, uint64_t *ops);

#endif
