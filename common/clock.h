/*
 * clock.h: wall-clock and monotonic time, and RFC 3339 formatting.
 *
 * All times stored by uniqd are milliseconds since the Unix epoch, UTC.
 */
#ifndef UNIQ_CLOCK_H
#define UNIQ_CLOCK_H

#include <stddef.h>
#include <stdint.h>

/* Milliseconds since the epoch (CLOCK_REALTIME). */
uint64_t clock_now_ms(void);

/* Nanoseconds from an arbitrary origin (CLOCK_MONOTONIC), for durations. */
uint64_t clock_mono_ns(void);

/* Formats ms as "2026-11-22T10:22:03.123Z" into buf (at least 25 bytes).
 * Returns the length written, or -EINVAL if buf is too small. */
int clock_rfc3339(uint64_t ms, char *buf, size_t len);

#define CLOCK_RFC3339_LEN 25

#endif
