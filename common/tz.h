/*
 * tz.h: the UTC offset and the local calendar day of an instant in an
 * IANA time zone ("Europe/Paris", "America/Los_Angeles", "UTC"), without
 * the libc time-zone functions.
 *
 * Sequence pools number their ids per local day (YYYYMMDD-nnnnn) in a
 * configured zone. localtime_r() would need setenv("TZ") + tzset(), which
 * change the whole process and are not thread safe; so this module reads
 * the compiled zone file itself (TZif, RFC 8536) from TZ_DIR: the
 * transition instants with their UTC offsets (the 64-bit section of a
 * version 2+ file, else the 32-bit one), and for instants after the last
 * transition the POSIX TZ string of the file's footer (e.g.
 * "CET-1CEST,M3.5.0,M10.5.0/3"), which "slim" files rely on for every
 * date after their last rule change. Before the first transition, the
 * file's first time type applies (RFC 8536, 3.2).
 *
 * Invariants: a struct tz is immutable from tz_load() until tz_free(), so
 * any number of threads may call tz_offset(), tz_day() and tz_name() on it
 * at once without a lock. The process's TZ variable, /etc/localtime and
 * the libc zone state are never read or changed. Time is POSIX time (no
 * leap seconds): zones compiled with leap seconds ("right/...") are
 * refused, since their transition times are not Unix times.
 *
 * Zone names are checked before any file is opened, so that a name from a
 * configuration file cannot reach outside TZ_DIR: 1 to TZ_NAME_LEN_MAX
 * characters of [A-Za-z0-9/_+-], no leading, trailing or doubled '/'
 * (and so no "..", '.' being refused). "UTC" works even without tzdata.
 *
 * Why not GLib's GTimeZone, which reads the same files per zone: it would
 * be uniqd's only use of GLib, a second runtime whose futex-based locks
 * ThreadSanitizer cannot see (CI runs the sequence pools under TSan), for
 * the five functions below; and what they must get right (slim files'
 * footers, half-hour and 45-minute offsets, days skipped by a date-line
 * move) is pinned by tests/unit/test_tz.c against real and crafted zones.
 */
#ifndef UNIQ_TZ_H
#define UNIQ_TZ_H

#include <stdint.h>

#define TZ_DIR "/usr/share/zoneinfo"
#define TZ_NAME_LEN_MAX 64

/* tz_offset() and tz_day() accept instants within this many seconds of
 * the epoch (about 31,000 years either way) and return -ERANGE beyond. */
#define TZ_SECS_LIMIT 1000000000000LL

struct tz;

/*
 * Loads the zone called name from TZ_DIR into a new struct tz, which the
 * caller frees with tz_free(). Returns 0 and sets *out, or:
 *   -EINVAL  the name is malformed, or the file is not a valid TZif file
 *            (bad magic, truncated, inconsistent counts, unsorted
 *            transitions, offsets beyond 25 hours, leap seconds, or a
 *            footer TZ string tz_from_posix() would refuse);
 *   -ENOENT  no such zone (no regular file by that name);
 *   -ENOMEM  out of memory;
 *   another negative errno from open(2) or read(2) (-EACCES, -EIO...).
 * *out is left alone on failure.
 */
int tz_load(const char *name, struct tz **out);

/* Same as tz_load() with the zone files in dir instead of TZ_DIR (tests
 * use it with crafted files). dir is trusted; only name is checked.
 * Returns -ENAMETOOLONG if dir/name does not fit in PATH_MAX. */
int tz_load_dir(const char *dir, const char *name, struct tz **out);

/*
 * Makes a zone from a POSIX TZ string alone, as found in a TZif footer,
 * with RFC 8536's extensions:
 *
 *   std offset [dst [offset] [,start[/time],end[/time]]]
 *
 * std and dst are letters ("CET") or <...> around [A-Za-z0-9+-] ("<+0530>");
 * offsets are [+-]hh[:mm[:ss]], hh <= 24, positive WEST of Greenwich
 * ("EST5"); dst defaults to one hour ahead of std; start and end are Jn
 * (1-365, February 29 never counted), n (0-365, counted) or Mm.w.d (day d,
 * 0 = Sunday, of week w, 5 = last, of month m); time is local time, as
 * [+-]hh[:mm[:ss]] with hh from -167 to 167, 02:00:00 if omitted.
 * "DST all year" (start January 1 00:00, end December 31 at 24:00 plus the
 * DST shift) works. A dst without a rule is refused, since the default
 * rule POSIX leaves to the implementation would be a guess.
 *
 * tz_name() of the result is spec itself (at most 255 characters).
 * Returns 0 and sets *out, -EINVAL for a malformed string, or -ENOMEM.
 */
int tz_from_posix(const char *spec, struct tz **out);

/* Frees z (NULL is fine). */
void tz_free(struct tz *z);

/* The name given to tz_load() or the string given to tz_from_posix(). */
const char *tz_name(const struct tz *z);

/*
 * The UTC offset in effect at unix_secs (seconds since the epoch, UTC),
 * positive east of Greenwich: local time = UTC + *offset_secs (3600 for
 * Paris in winter, -25200 for Los Angeles in summer). A transition
 * instant already has the new offset. Returns 0, or -ERANGE if
 * |unix_secs| > TZ_SECS_LIMIT (*offset_secs untouched).
 */
int tz_offset(const struct tz *z, int64_t unix_secs, int32_t *offset_secs);

/*
 * The local calendar day of unix_ms (milliseconds since the epoch, UTC,
 * as clock_now_ms() gives) as the number yyyy * 10000 + mm * 100 + dd,
 * e.g. 20261122. Returns 0, or -ERANGE if the instant is beyond
 * TZ_SECS_LIMIT or its local year outside 0..9999 (*yyyymmdd untouched).
 */
int tz_day(const struct tz *z, int64_t unix_ms, uint32_t *yyyymmdd);

/*
 * The first instant (Unix seconds) at which the local day yyyymmdd has
 * begun in zone z: local midnight, or the first instant after it where a
 * DST change skips midnight. Found by bisection over the 26 hours either
 * side of the naive local midnight, so it holds whatever the offsets.
 * Returns 0, -EINVAL (not a date), or -ERANGE.
 */
int tz_day_start(const struct tz *z, uint32_t yyyymmdd, int64_t *unix_secs);

/* The calendar day after yyyymmdd (20261231 -> 20270101). */
uint32_t tz_next_day(uint32_t yyyymmdd);

/* 0 if name has the shape of a zone name (see above), else -EINVAL. No
 * file is read. */
int tz_name_ok(const char *name);

#endif
