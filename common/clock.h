/*
 * clock.h: wall-clock and monotonic time, and RFC 3339 formatting.
 *
 * All times stored by uniqd are milliseconds since the Unix epoch, UTC.
 */
#ifndef UNIQ_CLOCK_H
#define UNIQ_CLOCK_H

#include <pthread.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

/* Milliseconds since the epoch (CLOCK_REALTIME). */
uint64_t clock_now_ms(void);

/* Nanoseconds from an arbitrary origin (CLOCK_MONOTONIC), for durations. */
uint64_t clock_mono_ns(void);

/* Formats ms as "2026-11-22T10:22:03.123Z" into buf (at least 25 bytes).
 * Returns the length written, or -EINVAL if buf is too small. */
int clock_rfc3339(uint64_t ms, char *buf, size_t len);

#define CLOCK_RFC3339_LEN 25

/* Initialises c to time its waits on CLOCK_MONOTONIC, so that a change of
 * the wall clock neither stretches nor skips them. Returns 0 or a
 * pthread error (positive, as pthread functions do). */
int clock_cond_init(pthread_cond_t *c);

/* The CLOCK_MONOTONIC time ms milliseconds from now, as a deadline for
 * pthread_cond_timedwait on a condition made by clock_cond_init. */
struct timespec clock_mono_deadline(unsigned ms);

#endif
