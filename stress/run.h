/*
 * run.h: the load of uniqd-stress: the worker threads that send the
 * requests, and the records they leave for the report.
 *
 * Life of a run: run_init, run_alloc, reqlog_open(&run->log, ...),
 * run_start, run_wait, then the caller reads run->recs, run->connects and
 * the times alone; run_release. The threads and who owns what: DESIGN in
 * run.c.
 */
#ifndef UNIQ_STRESS_RUN_H
#define UNIQ_STRESS_RUN_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "stress/opts.h"
#include "stress/rec.h"
#include "stress/reqlog.h"

#define RUN_BUCKET_MS 100u	/* of the --plot throughput */

struct worker;

struct run {
	const struct opts *o;
	struct rec *recs;		/* [o->requests], by request id */
	atomic_uint_fast64_t next_id;	/* ids taken, 0-based */
	atomic_uint running;		/* workers not finished */
	struct reqlog log;
	struct worker *workers;		/* [o->threads] */
	unsigned started;		/* threads started */
	uint64_t start_ns, deadline_ns;	/* clock_mono_ns() */
	uint64_t end_ns;		/* when the last worker finished */
	uint64_t connects;		/* connections opened, all workers */
	/* --plot: answers by RUN_BUCKET_MS bucket since start_ns. */
	size_t nbuckets;
	_Atomic uint32_t *tp_ok, *tp_failed;
};

/* Sets up run in caller-owned memory for o (kept by pointer), with
 * nothing allocated. Returns 0 or the negative error of reqlog_init (run
 * then needs no release). */
int run_init(struct run *run, const struct opts *o);

/* Allocates the records, the workers (with their connections, not
 * opened) and, with --plot, the buckets. Returns 0 or -ENOMEM, not
 * logged; either way run_release frees what there is. */
int run_alloc(struct run *run);

/*
 * Starts the workers on the clock (start_ns, deadline_ns), saying so on
 * the log unless --quiet. Returns 0, or the positive pthread error of
 * setting up or starting a thread, logged; then run_stop() was called
 * and the threads started (run->started of them) stop after the request
 * in hand. Call run_wait in both cases.
 */
int run_start(struct run *run);

/*
 * Waits for the started workers to finish, logging progress every 5 s
 * unless --quiet, and joins them; sets end_ns and connects. After it,
 * the caller alone reads run->recs (pthread_join orders the workers'
 * writes before).
 */
void run_wait(struct run *run);

/* The requests sent: ids 0 to run_sent() - 1 (after run_wait). */
uint64_t run_sent(const struct run *run);

/* Frees what run_alloc allocated and the log (closed if still open). */
void run_release(struct run *run);

/* Asks every run to stop taking requests; async-signal-safe. */
void run_stop(void);

/* Whether run_stop() was called. */
bool run_stopping(void);

#endif
