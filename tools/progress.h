/*
 * progress.h: a progress bar on stderr for long admin jobs (uniqctl init,
 * code generation): a redrawn bar with rate and estimate on a terminal,
 * or a plain line every 10% (and at most every 5 s) otherwise, so logs of
 * non-interactive runs stay readable.
 *
 * Not thread safe: one thread (the main thread) calls progress_update()
 * with a total that workers publish through atomics.
 */
#ifndef UNIQ_PROGRESS_H
#define UNIQ_PROGRESS_H

#include <stdbool.h>
#include <stdint.h>

struct progress {
	const char *label;
	uint64_t total;
	uint64_t start_ns;
	uint64_t last_ns;
	int last_step;		/* last 10% step printed (plain mode) */
	bool tty;
};

/* Starts a bar for `total` units (0 is allowed: nothing to do). tty forces
 * the mode; pass progress_is_tty() to choose by stderr. */
void progress_init(struct progress *p, const char *label, uint64_t total,
		   bool tty);

/* True if stderr is a terminal. */
bool progress_is_tty(void);

/* Redraws for `done` units (at most every 100 ms on a terminal). */
void progress_update(struct progress *p, uint64_t done);

/* Draws the final state and a summary line with the mean rate. */
void progress_finish(struct progress *p, uint64_t done);

#endif
