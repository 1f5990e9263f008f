/*
 * report.h: what uniqd-stress tells at the end of a run: the summary on
 * stdout (its format, and the RESULT line for scripts, are in --help) and
 * the --plot picture. Everything here runs on the main thread after
 * run_wait(), when the records are its alone.
 */
#ifndef UNIQ_STRESS_REPORT_H
#define UNIQ_STRESS_REPORT_H

#include <stdint.h>

#include "stress/rec.h"
#include "stress/run.h"

struct report {
	uint64_t sent, ok, answered, conn, timeouts, bad;
	uint64_t by_status[1000];	/* answers by HTTP status */
	double elapsed, rps;		/* s, requests sent per second */
	double p50, p90, p99, max;	/* ms, nearest rank, answered only */
	uint32_t *lat;		/* the answered requests' latencies (us),
				   sorted; nlat of them */
	uint64_t nlat;
	struct rec_dups dups;
};

/*
 * Counts the records of the requests run sent, their latencies and their
 * duplicates (rec_find_dups: run->recs is sorted by value afterwards, no
 * longer by id). Returns 0 or -ENOMEM, not logged; either way
 * report_release frees what rep holds.
 */
int report_init(struct report *rep, struct run *run);

/* Prints the summary of run on stdout (only the RESULT line with
 * --quiet) and flushes it. */
void report_print(const struct report *rep, const struct run *run);

/* Draws run->o->plot from the --plot buckets and the latencies. Returns
 * 0 or a negative errno, logged. */
int report_plot(const struct report *rep, const struct run *run);

/* Frees what rep holds, not rep. */
void report_release(struct report *rep);

#endif
