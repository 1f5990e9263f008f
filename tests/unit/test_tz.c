/*
 * test_tz.c: tests common/tz against expectations written down here, not
 * computed by tz.c's own arithmetic: instants come from ts(), which counts
 * days one by one (and is itself checked against `date -u +%s` values).
 *
 * - Real zones from the system's tzdata: Paris, Los Angeles, Kolkata,
 *   Chatham, Lord Howe (30-minute DST), Kiritimati (+14, and the day it
 *   skipped), Dublin (negative DST), Nuuk (a footer time of -1 h),
 *   Jerusalem (a footer time of 26 h), UTC: offsets, the exact 2026 DST
 *   switches, the day changing at local midnight, 1800 and 1900 (local
 *   mean time, before the first transition), 2100 (the footer rule), leap
 *   days (2024-02-29 exists, 2100-02-29 does not).
 * - Each DST zone's compiled table against its own footer rule, every
 *   15 minutes over the years both describe (the table is zic's work, the
 *   rule evaluation ours).
 * - POSIX TZ strings directly (tz_from_posix): Mm.w.d with week 5, Jn and
 *   n around February 29, times below 0 and above 24 h, DST all year,
 *   explicit DST offsets, seconds in offsets, and 33 malformed strings
 *   (NULL and 256 characters among them).
 * - Civil dates: tz_day in UTC for every day from 1600 to 2500 against a
 *   day-by-day calendar, negative instants, milliseconds, the range ends.
 * - Names: "../etc/passwd", "/etc/localtime", "", 65 and 200 characters,
 *   doubled or trailing '/', dots (-EINVAL); "Nowhere/Nothing", a
 *   directory, a FIFO, a path through a file (-ENOENT); "UTC" without
 *   tzdata.
 * - Crafted TZif files: a slim file (the footer decides 2026), a version 1
 *   file, an empty footer, a footer-only zone, and every way to be invalid
 *   we check for, including each truncation of a valid file.
 *
 * Real-zone checks need tzdata; without it they are skipped and the test
 * exits 77 (meson's SKIP) after the rest has run. Expectations for 2026
 * and 2100 are those of the current rules (tzdata 2025b); a government
 * changing its rules would need them updated.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/tz.h"
#include "tests/unit/t.h"
#include "common/banned.h"

#define UNTOUCHED_OFF ((int32_t)0x5a5a5a5a)
#define UNTOUCHED_DAY 0x5a5a5a5aU

static bool skipped;

/* --- expectations --------------------------------------------------------- */

static bool leap(int y)
{
	return y % 4 == 0 && (y % 100 != 0 || y % 400 == 0);
}

static int mdays(int y, int m)
{
	static const int n[12] = { 31, 28, 31, 30, 31, 30,
				   31, 31, 30, 31, 30, 31 };

	return m == 2 && leap(y) ? 29 : n[m - 1];
}

/* Seconds since the epoch of a UTC date and time, the slow way. */
static int64_t ts(int y, int mo, int d, int h, int mi, int s)
{
	int64_t days = 0;
	int i;

	for (i = 1970; i < y; i++)
		days += leap(i) ? 366 : 365;
	for (i = y; i < 1970; i++)
		days -= leap(i) ? 366 : 365;
	for (i = 1; i < mo; i++)
		days += mdays(y, i);
	days += d - 1;
	return days * 86400 + h * 3600 + mi * 60 + s;
}

static void test_ts(void)
{
	/* From `date -u -d "..." +%s`. */
	CHECK(ts(2026, 3, 29, 1, 0, 0) == 1774746000);
	CHECK(ts(2026, 10, 25, 1, 0, 0) == 1792890000);
	CHECK(ts(2026, 3, 8, 10, 0, 0) == 1772964000);
	CHECK(ts(2026, 11, 1, 9, 0, 0) == 1793523600);
	CHECK(ts(2026, 11, 22, 23, 0, 0) == 1795388400);
	CHECK(ts(2026, 11, 23, 8, 0, 0) == 1795420800);
	CHECK(ts(2024, 2, 29, 0, 0, 0) == 1709164800);
	CHECK(ts(2100, 3, 1, 0, 0, 0) == 4107542400);
	CHECK(ts(1900, 1, 1, 0, 0, 0) == -2208988800);
	CHECK(ts(2000, 1, 1, 0, 0, 0) == 946684800);
	CHECK(ts(1970, 1, 1, 0, 0, 0) == 0);
}

/* --- helpers -------------------------------------------------------------- */

static struct tz *load(const char *name)
{
	struct tz *z = NULL;
	int rc = tz_load(name, &z);

	CHECKF(rc == 0 && z, "tz_load(\"%s\") = %d", name, rc);
	if (z)
		CHECK_STR(tz_name(z), name);
	return z;
}

static struct tz *posix(const char *spec)
{
	struct tz *z = NULL;
	int rc = tz_from_posix(spec, &z);

	CHECKF(rc == 0 && z, "tz_from_posix(\"%s\") = %d", spec, rc);
	if (z)
		CHECK_STR(tz_name(z), spec);
	return z;
}

static void off_is_(int line, const struct tz *z, int64_t t, int32_t want)
{
	int32_t off = UNTOUCHED_OFF;
	int rc = tz_offset(z, t, &off);

	CHECKF(rc == 0 && off == want,
	       "line %d: %s at %" PRId64 ": rc %d, offset %" PRId32
	       ", want %" PRId32, line, tz_name(z), t, rc, off, want);
}
#define off_is(z, t, want) off_is_(__LINE__, z, t, want)

/* The offset is `before` up to t - 1 and `after` from t on. */
static void switch_at_(int line, const struct tz *z, int64_t t,
		       int32_t before, int32_t after)
{
	off_is_(line, z, t - 1, before);
	off_is_(line, z, t, after);
}
#define switch_at(z, t, before, after) switch_at_(__LINE__, z, t, before, after)

static void day_ms_is_(int line, const struct tz *z, int64_t ms,
		       uint32_t want)
{
	uint32_t day = UNTOUCHED_DAY;
	int rc = tz_day(z, ms, &day);

	CHECKF(rc == 0 && day == want,
	       "line %d: %s at %" PRId64 " ms: rc %d, day %" PRIu32
	       ", want %" PRIu32, line, tz_name(z), ms, rc, day, want);
}
#define day_ms_is(z, ms, want) day_ms_is_(__LINE__, z, ms, want)

/* The local day of the whole second t (its first and last millisecond). */
#define day_is(z, t, want)                                                  \
	do {                                                                \
		day_ms_is_(__LINE__, z, (int64_t)(t) * 1000, want);         \
		day_ms_is_(__LINE__, z, (int64_t)(t) * 1000 + 999, want);   \
	} while (0)

static bool have_tzdata(void)
{
	if (access(TZ_DIR "/Europe/Paris", R_OK) == 0)
		return true;
	if (!skipped)
		fprintf(stderr, "no tzdata in " TZ_DIR ": skipping the "
			"checks of real zones\n");
	skipped = true;
	return false;
}

/* --- real zones ----------------------------------------------------------- */

static void test_paris(void)
{
	struct tz *z;

	if (!have_tzdata() || !(z = load("Europe/Paris")))
		return;
	off_is(z, ts(2026, 1, 15, 12, 0, 0), 3600);
	off_is(z, ts(2026, 7, 15, 12, 0, 0), 7200);
	switch_at(z, ts(2026, 3, 29, 1, 0, 0), 3600, 7200);
	switch_at(z, ts(2026, 10, 25, 1, 0, 0), 7200, 3600);

	/* Local midnight, winter and summer, to the millisecond. */
	day_is(z, ts(2026, 11, 22, 22, 59, 59), 20261122);
	day_is(z, ts(2026, 11, 22, 23, 0, 0), 20261123);
	day_ms_is(z, ts(2026, 11, 22, 23, 0, 0) * 1000 - 1, 20261122);
	day_is(z, ts(2026, 7, 14, 21, 59, 59), 20260714);
	day_is(z, ts(2026, 7, 14, 22, 0, 0), 20260715);
	day_is(z, ts(2026, 12, 31, 22, 59, 59), 20261231);
	day_is(z, ts(2026, 12, 31, 23, 0, 0), 20270101);

	/* 2100 is past the table: the footer rule decides. */
	switch_at(z, ts(2100, 3, 28, 1, 0, 0), 3600, 7200);
	switch_at(z, ts(2100, 10, 31, 1, 0, 0), 7200, 3600);

	/* Leap days: 2024-02-29 exists, 2100-02-29 does not. */
	day_is(z, ts(2024, 2, 28, 22, 59, 59), 20240228);
	day_is(z, ts(2024, 2, 28, 23, 0, 0), 20240229);
	day_is(z, ts(2024, 2, 29, 22, 59, 59), 20240229);
	day_is(z, ts(2024, 2, 29, 23, 0, 0), 20240301);
	day_is(z, ts(2100, 2, 28, 22, 59, 59), 21000228);
	day_is(z, ts(2100, 2, 28, 23, 0, 0), 21000301);

	/* Paris Mean Time (+0:09:21) in 1900, and local mean time (the
	 * same) before the first transition. */
	off_is(z, ts(1900, 1, 1, 0, 0, 0), 561);
	day_is(z, ts(1899, 12, 31, 23, 50, 38), 18991231);
	day_is(z, ts(1899, 12, 31, 23, 50, 39), 19000101);
	off_is(z, ts(1800, 1, 1, 0, 0, 0), 561);
	off_is(z, -TZ_SECS_LIMIT, 561);
	tz_free(z);
}

static void test_los_angeles(void)
{
	struct tz *z;

	if (!have_tzdata() || !(z = load("America/Los_Angeles")))
		return;
	off_is(z, ts(2026, 1, 15, 12, 0, 0), -28800);
	off_is(z, ts(2026, 7, 15, 12, 0, 0), -25200);
	switch_at(z, ts(2026, 3, 8, 10, 0, 0), -28800, -25200);
	switch_at(z, ts(2026, 11, 1, 9, 0, 0), -25200, -28800);
	day_is(z, ts(2026, 11, 23, 7, 59, 59), 20261122);
	day_is(z, ts(2026, 11, 23, 8, 0, 0), 20261123);
	day_is(z, ts(2026, 7, 15, 6, 59, 59), 20260714);
	day_is(z, ts(2026, 7, 15, 7, 0, 0), 20260715);
	switch_at(z, ts(2100, 3, 14, 10, 0, 0), -28800, -25200);
	switch_at(z, ts(2100, 11, 7, 9, 0, 0), -25200, -28800);
	day_is(z, ts(2100, 3, 1, 7, 59, 59), 21000228);
	day_is(z, ts(2100, 3, 1, 8, 0, 0), 21000301);
	off_is(z, ts(1900, 1, 1, 0, 0, 0), -28800);
	day_is(z, ts(1900, 1, 1, 0, 0, 0), 18991231);
	tz_free(z);
}

static void test_kolkata(void)
{
	struct tz *z;

	if (!have_tzdata() || !(z = load("Asia/Kolkata")))
		return;
	off_is(z, 0, 19800);
	off_is(z, ts(2026, 1, 15, 0, 0, 0), 19800);
	off_is(z, ts(2026, 7, 15, 0, 0, 0), 19800);
	off_is(z, ts(2100, 7, 15, 0, 0, 0), 19800);
	off_is(z, ts(2400, 2, 29, 0, 0, 0), 19800);
	day_is(z, ts(2026, 11, 22, 18, 29, 59), 20261122);
	day_is(z, ts(2026, 11, 22, 18, 30, 0), 20261123);
	/* Madras time, +5:21:10, as tzdata records 1900. */
	off_is(z, ts(1900, 1, 1, 0, 0, 0), 19270);
	tz_free(z);
}

static void test_chatham(void)
{
	struct tz *z;

	if (!have_tzdata() || !(z = load("Pacific/Chatham")))
		return;
	off_is(z, ts(2026, 6, 15, 0, 0, 0), 45900);
	off_is(z, ts(2026, 12, 15, 0, 0, 0), 49500);
	switch_at(z, ts(2026, 4, 4, 14, 0, 0), 49500, 45900);
	switch_at(z, ts(2026, 9, 26, 14, 0, 0), 45900, 49500);
	day_is(z, ts(2026, 11, 22, 10, 14, 59), 20261122);
	day_is(z, ts(2026, 11, 22, 10, 15, 0), 20261123);
	off_is(z, ts(2100, 1, 15, 0, 0, 0), 49500);
	off_is(z, ts(2100, 7, 15, 0, 0, 0), 45900);
	tz_free(z);
}

static void test_lord_howe(void)
{
	struct tz *z;

	if (!have_tzdata() || !(z = load("Australia/Lord_Howe")))
		return;
	/* +10:30, and +11 in summer: a 30-minute DST. */
	off_is(z, ts(2026, 6, 15, 0, 0, 0), 37800);
	off_is(z, ts(2026, 12, 15, 0, 0, 0), 39600);
	switch_at(z, ts(2026, 4, 4, 15, 0, 0), 39600, 37800);
	switch_at(z, ts(2026, 10, 3, 15, 30, 0), 37800, 39600);
	day_is(z, ts(2026, 6, 15, 13, 29, 59), 20260615);
	day_is(z, ts(2026, 6, 15, 13, 30, 0), 20260616);
	off_is(z, ts(2100, 1, 15, 0, 0, 0), 39600);
	off_is(z, ts(2100, 7, 15, 0, 0, 0), 37800);
	tz_free(z);
}

static void test_kiritimati(void)
{
	struct tz *z;

	if (!have_tzdata() || !(z = load("Pacific/Kiritimati")))
		return;
	off_is(z, ts(2026, 11, 22, 0, 0, 0), 50400);
	day_is(z, ts(2026, 11, 22, 9, 59, 59), 20261122);
	day_is(z, ts(2026, 11, 22, 10, 0, 0), 20261123);
	/* From -10 to +14 at the end of 1994: December 31 never was. */
	switch_at(z, ts(1994, 12, 31, 10, 0, 0), -36000, 50400);
	day_is(z, ts(1994, 12, 31, 9, 59, 59), 19941230);
	day_is(z, ts(1994, 12, 31, 10, 0, 0), 19950101);
	off_is(z, ts(2100, 1, 1, 0, 0, 0), 50400);
	tz_free(z);
}

static void test_odd_rules(void)
{
	struct tz *z;

	if (!have_tzdata())
		return;
	/* Dublin: IST is standard, GMT the (negative) "DST" of winter. */
	if ((z = load("Europe/Dublin"))) {
		off_is(z, ts(2026, 1, 15, 0, 0, 0), 0);
		off_is(z, ts(2026, 7, 15, 0, 0, 0), 3600);
		switch_at(z, ts(2026, 3, 29, 1, 0, 0), 0, 3600);
		switch_at(z, ts(2026, 10, 25, 1, 0, 0), 3600, 0);
		switch_at(z, ts(2100, 3, 28, 1, 0, 0), 0, 3600);
		switch_at(z, ts(2100, 10, 31, 1, 0, 0), 3600, 0);
		tz_free(z);
	}
	/* Nuuk: "<-02>2<-01>,M3.5.0/-1,M10.5.0/0", the EU instants. */
	if ((z = load("America/Nuuk"))) {
		switch_at(z, ts(2026, 3, 29, 1, 0, 0), -7200, -3600);
		switch_at(z, ts(2026, 10, 25, 1, 0, 0), -3600, -7200);
		switch_at(z, ts(2100, 3, 28, 1, 0, 0), -7200, -3600);
		switch_at(z, ts(2100, 10, 31, 1, 0, 0), -3600, -7200);
		day_is(z, ts(2100, 3, 28, 0, 59, 59), 21000327);
		day_is(z, ts(2100, 3, 28, 1, 0, 0), 21000328);
		tz_free(z);
	}
	/* Jerusalem: "IST-2IDT,M3.4.4/26,M10.5.0", Thursday at 26:00. */
	if ((z = load("Asia/Jerusalem"))) {
		switch_at(z, ts(2026, 3, 27, 0, 0, 0), 7200, 10800);
		switch_at(z, ts(2026, 10, 24, 23, 0, 0), 10800, 7200);
		/* 2100: the fourth Thursday of March is the 25th. */
		switch_at(z, ts(2100, 3, 26, 0, 0, 0), 7200, 10800);
		tz_free(z);
	}
}

static void test_utc(void)
{
	struct tz *z;
	char empty[300];
	const char *dir = t_tmpdir();

	if (have_tzdata() && (z = load("UTC"))) {
		off_is(z, 0, 0);
		off_is(z, ts(2026, 7, 1, 0, 0, 0), 0);
		off_is(z, ts(2100, 7, 1, 0, 0, 0), 0);
		day_is(z, ts(2026, 11, 22, 23, 59, 59), 20261122);
		day_is(z, ts(2026, 11, 23, 0, 0, 0), 20261123);
		tz_free(z);
	}
	/* Without tzdata, UTC still works, and only UTC. */
	snprintf(empty, sizeof(empty), "%s", dir);
	z = NULL;
	CHECK(tz_load_dir(empty, "UTC", &z) == 0 && z);
	if (z) {
		CHECK_STR(tz_name(z), "UTC");
		off_is(z, ts(2026, 7, 1, 0, 0, 0), 0);
		off_is(z, -TZ_SECS_LIMIT, 0);
		day_is(z, ts(2026, 11, 22, 23, 59, 59), 20261122);
		tz_free(z);
	}
	z = NULL;
	CHECK(tz_load_dir(empty, "Etc/UTC", &z) == -ENOENT && !z);
	CHECK(tz_load_dir(empty, "Europe/Paris", &z) == -ENOENT && !z);
	CHECK(rmdir(empty) == 0);
}

/* The footer of the zone file name, read here rather than by tz.c. */
static bool footer_of(const char *name, char *spec, size_t len)
{
	char path[256], buf[8192];
	size_t n, i;
	FILE *f;

	snprintf(path, sizeof(path), "%s/%s", TZ_DIR, name);
	f = fopen(path, "rb");
	if (!f)
		return false;
	n = fread(buf, 1, sizeof(buf), f);
	fclose(f);
	if (n < 2 || n == sizeof(buf) || buf[n - 1] != '\n')
		return false;
	for (i = n - 1; i > 0 && buf[i - 1] != '\n'; i--)
		;
	if (i == 0 || n - 1 - i >= len)
		return false;
	memcpy(spec, buf + i, n - 1 - i);
	spec[n - 1 - i] = '\0';
	return true;
}

/*
 * zic compiled the table of a "fat" file from the tzdata source rules;
 * from the year the current rule began until 2037 it must agree with our
 * reading of the footer, every 15 minutes. In a slim file the table ends
 * early and the footer decides on both sides, which still checks tz.c
 * uses it.
 */
static void test_table_vs_footer(void)
{
	static const struct {
		const char *name;
		int from;
		int min_changes;	/* offset changes expected */
	} zones[] = {
		{ "Europe/Paris", 1997, 2 * 41 },
		{ "America/Los_Angeles", 2008, 2 * 30 },
		{ "Pacific/Chatham", 2008, 2 * 30 - 1 },
		{ "Australia/Lord_Howe", 2009, 2 * 29 - 1 },
		{ "Europe/Dublin", 1997, 2 * 41 },
		{ "America/Nuuk", 2024, 2 * 14 },
		{ "Asia/Jerusalem", 2014, 2 * 24 },
		{ "Asia/Kolkata", 1946, 0 },
		{ "Pacific/Kiritimati", 1996, 0 },
		{ "America/Sao_Paulo", 2020, 0 },
	};
	size_t i;

	if (!have_tzdata())
		return;
	for (i = 0; i < sizeof(zones) / sizeof(zones[0]); i++) {
		struct tz *file, *rule = NULL;
		int64_t t, end = ts(2038, 1, 1, 0, 0, 0), first_bad = 0;
		int32_t a = 0, b = 0, prev = 0;
		int bad = 0, changes = 0;
		char spec[256];

		if (!footer_of(zones[i].name, spec, sizeof(spec))) {
			CHECKF(0, "cannot read the footer of %s",
			       zones[i].name);
			continue;
		}
		file = load(zones[i].name);
		rule = posix(spec);
		if (!file || !rule)
			goto next;
		for (t = ts(zones[i].from, 1, 1, 0, 0, 0); t < end; t += 900) {
			if (tz_offset(file, t, &a) || tz_offset(rule, t, &b) ||
			    a != b) {
				if (!bad++)
					first_bad = t;
			}
			if (t != ts(zones[i].from, 1, 1, 0, 0, 0) && a != prev)
				changes++;
			prev = a;
		}
		CHECKF(bad == 0, "%s: table and footer \"%s\" differ %d times"
		       ", first at %" PRId64, zones[i].name, spec, bad,
		       first_bad);
		CHECKF(changes >= zones[i].min_changes, "%s: %d changes",
		       zones[i].name, changes);
next:
		tz_free(file);
		tz_free(rule);
	}
}

static void test_names(void)
{
	static const struct {
		const char *name;
		int rc;
	} cases[] = {
		{ "../etc/passwd", -EINVAL },
		{ "/etc/localtime", -EINVAL },
		{ "", -EINVAL },
		{ "Europe/../../etc/passwd", -EINVAL },
		{ "Europe//Paris", -EINVAL },
		{ "Europe/", -EINVAL },
		{ "/", -EINVAL },
		{ "Europe/Paris ", -EINVAL },
		{ "Europe/Paris\n", -EINVAL },
		{ "Europe\\Paris", -EINVAL },
		{ "zone.tab", -EINVAL },
		{ ".", -EINVAL },
		{ "Nowhere/Nothing", -ENOENT },
		{ "Europe", -ENOENT },		/* a directory */
		{ "UTC/Paris", -ENOENT },	/* through a file */
		{ "Etc/GMT+14", -ENOENT },	/* well formed, no such zone */
	};
	char longname[201];
	struct tz *z = NULL;
	size_t i;

	CHECK(tz_load(NULL, &z) == -EINVAL && !z);
	memset(longname, 'A', 200);
	longname[200] = '\0';
	CHECK(tz_load(longname, &z) == -EINVAL && !z);
	longname[TZ_NAME_LEN_MAX + 1] = '\0';
	CHECK(tz_load(longname, &z) == -EINVAL && !z);
	longname[TZ_NAME_LEN_MAX] = '\0';	/* well formed, unknown */
	CHECK(tz_load(longname, &z) == -ENOENT && !z);
	if (!have_tzdata())
		return;
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		int rc = tz_load(cases[i].name, &z);

		CHECKF(rc == cases[i].rc && !z, "tz_load(\"%s\") = %d, want %d",
		       cases[i].name, rc, cases[i].rc);
	}
	/* Names with '+', '-', '_' and digits are fine. */
	tz_free(load("Etc/GMT-14"));
	tz_free(load("America/Port-au-Prince"));
	tz_free(load("America/Argentina/Buenos_Aires"));
	if ((z = load("Etc/GMT+12"))) {
		off_is(z, 0, -43200);	/* POSIX sign: GMT+12 is UTC-12 */
		tz_free(z);
	}
	/* Zones with leap seconds: their times are not Unix times. */
	if (access(TZ_DIR "/right/Europe/Paris", R_OK) == 0) {
		z = NULL;
		CHECK(tz_load("right/Europe/Paris", &z) == -EINVAL && !z);
	}
}

/* --- POSIX TZ strings ----------------------------------------------------- */

static void test_posix(void)
{
	struct tz *z;
	int64_t t;
	bool all;

	if ((z = posix("CET-1CEST,M3.5.0,M10.5.0/3"))) {
		switch_at(z, ts(2026, 3, 29, 1, 0, 0), 3600, 7200);
		switch_at(z, ts(2026, 10, 25, 1, 0, 0), 7200, 3600);
		switch_at(z, ts(2100, 3, 28, 1, 0, 0), 3600, 7200);
		switch_at(z, ts(2100, 10, 31, 1, 0, 0), 7200, 3600);
		day_is(z, ts(2026, 11, 22, 22, 59, 59), 20261122);
		day_is(z, ts(2026, 11, 22, 23, 0, 0), 20261123);
		tz_free(z);
	}
	if ((z = posix("EST5EDT,M3.2.0,M11.1.0"))) {
		switch_at(z, ts(2026, 3, 8, 7, 0, 0), -18000, -14400);
		switch_at(z, ts(2026, 11, 1, 6, 0, 0), -14400, -18000);
		tz_free(z);
	}
	if ((z = posix("PST8PDT,M3.2.0,M11.1.0"))) {
		switch_at(z, ts(2026, 3, 8, 10, 0, 0), -28800, -25200);
		switch_at(z, ts(2026, 11, 1, 9, 0, 0), -25200, -28800);
		tz_free(z);
	}
	/* Southern hemisphere, minutes in offsets and times. */
	if ((z = posix("<+1245>-12:45<+1345>,M9.5.0/2:45,M4.1.0/3:45"))) {
		switch_at(z, ts(2026, 4, 4, 14, 0, 0), 49500, 45900);
		switch_at(z, ts(2026, 9, 26, 14, 0, 0), 45900, 49500);
		off_is(z, ts(2026, 12, 31, 23, 0, 0), 49500);
		off_is(z, ts(2027, 1, 1, 0, 0, 0), 49500);
		tz_free(z);
	}
	if ((z = posix("NZST-12NZDT,M9.5.0,M4.1.0/3"))) {
		/* 2026-04-05 03:00 NZDT, 2026-09-27 02:00 NZST. */
		switch_at(z, ts(2026, 4, 4, 14, 0, 0), 46800, 43200);
		switch_at(z, ts(2026, 9, 26, 14, 0, 0), 43200, 46800);
		tz_free(z);
	}
	if ((z = posix("<+1030>-10:30<+11>-11,M10.1.0,M4.1.0"))) {
		switch_at(z, ts(2026, 4, 4, 15, 0, 0), 39600, 37800);
		switch_at(z, ts(2026, 10, 3, 15, 30, 0), 37800, 39600);
		tz_free(z);
	}
	/* A time beyond 24 h: Thursday 26:00 is Friday 02:00. */
	if ((z = posix("IST-2IDT,M3.4.4/26,M10.5.0"))) {
		switch_at(z, ts(2026, 3, 27, 0, 0, 0), 7200, 10800);
		switch_at(z, ts(2026, 10, 24, 23, 0, 0), 10800, 7200);
		tz_free(z);
	}
	/* Negative times: -1:00 on Sunday is Saturday 23:00. */
	if ((z = posix("<-02>2<-01>,M3.5.0/-1,M10.5.0/0"))) {
		switch_at(z, ts(2026, 3, 29, 1, 0, 0), -7200, -3600);
		switch_at(z, ts(2026, 10, 25, 1, 0, 0), -3600, -7200);
		tz_free(z);
	}
	/* The extremes RFC 8536 allows: 167 h either way. */
	if ((z = posix("AAA0BBB,M3.1.0/167,M10.1.0/-167"))) {
		/* 2026-03-01 + 167 h; 2026-10-04 - 167 h at +1. */
		switch_at(z, ts(2026, 3, 7, 23, 0, 0), 0, 3600);
		switch_at(z, ts(2026, 9, 27, 0, 0, 0), 3600, 0);
		tz_free(z);
	}
	/* Both of a year's transitions pushed into the next January: on
	 * January 2, the one in effect is from two years before. */
	if ((z = posix("AAA0BBB,J365/167,J365/100"))) {
		off_is(z, ts(2026, 1, 2, 0, 0, 0), 3600);
		switch_at(z, ts(2026, 1, 4, 3, 0, 0), 3600, 0);
		switch_at(z, ts(2026, 1, 6, 23, 0, 0), 0, 3600);
		off_is(z, ts(2026, 7, 1, 0, 0, 0), 3600);
		tz_free(z);
	}
	/* Negative DST. */
	if ((z = posix("IST-1GMT0,M10.5.0,M3.5.0/1"))) {
		off_is(z, ts(2026, 1, 15, 0, 0, 0), 0);
		off_is(z, ts(2026, 7, 15, 0, 0, 0), 3600);
		switch_at(z, ts(2026, 3, 29, 1, 0, 0), 0, 3600);
		switch_at(z, ts(2026, 10, 25, 1, 0, 0), 3600, 0);
		tz_free(z);
	}
	/* Jn never counts February 29: J60 is March 1, J305 November 1. */
	if ((z = posix("AAA0BBB,J60,J305"))) {
		switch_at(z, ts(2024, 3, 1, 2, 0, 0), 0, 3600);
		switch_at(z, ts(2024, 11, 1, 1, 0, 0), 3600, 0);
		switch_at(z, ts(2023, 3, 1, 2, 0, 0), 0, 3600);
		switch_at(z, ts(2023, 11, 1, 1, 0, 0), 3600, 0);
		off_is(z, ts(2024, 2, 29, 12, 0, 0), 0);
		tz_free(z);
	}
	if ((z = posix("AAA0BBB,J1/0,J365/24"))) {
		/* From January 1 00:00 to December 31 24:00 at +1. */
		switch_at(z, ts(2024, 1, 1, 0, 0, 0), 0, 3600);
		switch_at(z, ts(2024, 12, 31, 23, 0, 0), 3600, 0);
		tz_free(z);
	}
	/* n counts it: 59 is February 29 in 2024, March 1 in 2023; 304 is
	 * October 31 in 2024, November 1 in 2023. */
	if ((z = posix("AAA0BBB,59,304"))) {
		switch_at(z, ts(2024, 2, 29, 2, 0, 0), 0, 3600);
		switch_at(z, ts(2024, 10, 31, 1, 0, 0), 3600, 0);
		switch_at(z, ts(2023, 3, 1, 2, 0, 0), 0, 3600);
		switch_at(z, ts(2023, 11, 1, 1, 0, 0), 3600, 0);
		tz_free(z);
	}
	/* Week 5 is the last: February 2024 has five Thursdays, 2026 four. */
	if ((z = posix("AAA0BBB,M2.5.4/0,M10.5.0"))) {
		switch_at(z, ts(2024, 2, 29, 0, 0, 0), 0, 3600);
		switch_at(z, ts(2026, 2, 26, 0, 0, 0), 0, 3600);
		tz_free(z);
	}
	/* DST all year (RFC 8536, 3.3.1), across new year's eves. */
	if ((z = posix("EST5EDT,0/0,J365/25"))) {
		all = true;
		for (t = ts(2025, 12, 30, 0, 0, 0);
		     t < ts(2029, 1, 2, 0, 0, 0); t += 1800) {
			int32_t off = 0;

			if (tz_offset(z, t, &off) || off != -14400)
				all = false;
		}
		CHECK(all);
		off_is(z, ts(2026, 1, 1, 5, 0, 0), -14400);
		off_is(z, ts(2026, 1, 1, 4, 59, 59), -14400);
		off_is(z, ts(2100, 1, 1, 4, 0, 0), -14400);
		tz_free(z);
	}
	/* An explicit DST offset, seconds, no DST. */
	if ((z = posix("AAA-1BBB-3,M3.5.0,M10.5.0/3"))) {
		off_is(z, ts(2026, 1, 15, 0, 0, 0), 3600);
		off_is(z, ts(2026, 7, 15, 0, 0, 0), 10800);
		tz_free(z);
	}
	if ((z = posix("NST3:30NDT,M3.2.0,M11.1.0"))) {
		off_is(z, ts(2026, 1, 15, 0, 0, 0), -12600);
		off_is(z, ts(2026, 7, 15, 0, 0, 0), -9000);
		tz_free(z);
	}
	if ((z = posix("LMT-0:09:21"))) {
		off_is(z, ts(2026, 7, 15, 0, 0, 0), 561);
		tz_free(z);
	}
	if ((z = posix("<+0530>-5:30"))) {
		off_is(z, ts(2026, 7, 15, 0, 0, 0), 19800);
		tz_free(z);
	}
	if ((z = posix("<+14>-14"))) {
		off_is(z, 0, 50400);
		day_is(z, ts(2026, 11, 22, 9, 59, 59), 20261122);
		day_is(z, ts(2026, 11, 22, 10, 0, 0), 20261123);
		tz_free(z);
	}
	if ((z = posix("<-12>+12"))) {
		off_is(z, 0, -43200);
		day_is(z, ts(2026, 11, 23, 11, 59, 59), 20261122);
		day_is(z, ts(2026, 11, 23, 12, 0, 0), 20261123);
		tz_free(z);
	}
	if ((z = posix("UTC0"))) {
		off_is(z, ts(2026, 7, 15, 0, 0, 0), 0);
		tz_free(z);
	}
}

static void test_posix_bad(void)
{
	static const char *const bad[] = {
		"", "CET", "-1", "1", "CET-1CEST", "CET-25", "CET-24:60",
		"CET-1:00:60", "CET-1x", "CET -1", "<>-1", "<+01-1", "<+0 1>-1",
		"CET-1CEST,M3.5.0", "CET-1CEST,M3.5.0,M10.5.0,",
		"CET-1CEST,M13.5.0,M10.5.0", "CET-1CEST,M0.5.0,M10.5.0",
		"CET-1CEST,M3.6.0,M10.5.0", "CET-1CEST,M3.0.0,M10.5.0",
		"CET-1CEST,M3.5.7,M10.5.0", "CET-1CEST,M3.5,M10.5.0",
		"CET-1CEST,J0,J300", "CET-1CEST,J366,J300",
		"CET-1CEST,366,300", "CET-1CEST,M3.5.0/168,M10.5.0",
		"CET-1CEST,M3.5.0/-168,M10.5.0", "CET-1CEST,M3.5.0/,M10.5.0",
		"CET-1CEST-25,M3.5.0,M10.5.0", "CET-1CEST,,M10.5.0",
		"CET-1CEST;M3.5.0,M10.5.0", "CET-99999999999999999999",
	};
	char long_spec[300];
	struct tz *z = NULL;
	size_t i;

	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		int rc = tz_from_posix(bad[i], &z);

		CHECKF(rc == -EINVAL && !z, "tz_from_posix(\"%s\") = %d",
		       bad[i], rc);
	}
	CHECK(tz_from_posix(NULL, &z) == -EINVAL && !z);
	/* 255 characters is the most. */
	memset(long_spec, 'A', 254);
	long_spec[254] = '0';
	long_spec[255] = '\0';
	tz_free(posix(long_spec));
	long_spec[254] = 'A';
	long_spec[255] = '0';
	long_spec[256] = '\0';
	CHECK(tz_from_posix(long_spec, &z) == -EINVAL && !z);
}

/* --- civil dates and ranges ----------------------------------------------- */

static void test_civil(void)
{
	struct tz *utc = posix("UTC0"), *east = posix("<+14>-14");
	int y = 1600, m = 1, d = 1, bad = 0;
	int64_t t;

	if (!utc || !east)
		goto out;
	/* Every day from 1600 to 2500 at noon, against a calendar that
	 * turns its pages one by one. */
	for (t = ts(1600, 1, 1, 12, 0, 0); y < 2500; t += 86400) {
		uint32_t want = (uint32_t)(y * 10000 + m * 100 + d), got = 0;

		if (tz_day(utc, t * 1000, &got) || got != want) {
			if (!bad++)
				CHECKF(0, "day %" PRIu32 ": got %" PRIu32, want,
				       got);
		}
		if (++d > mdays(y, m)) {
			d = 1;
			if (++m > 12) {
				m = 1;
				y++;
			}
		}
	}
	CHECK(bad == 0);

	/* Before the epoch, milliseconds round down, not toward 0. */
	day_ms_is(utc, 0, 19700101);
	day_ms_is(utc, -1, 19691231);
	day_ms_is(utc, -999, 19691231);
	day_ms_is(utc, -1000, 19691231);
	day_ms_is(utc, -86400000, 19691231);
	day_ms_is(utc, -86400001, 19691230);
	day_ms_is(utc, 86399999, 19700101);
	day_ms_is(utc, 86400000, 19700102);
	day_is(utc, ts(2000, 2, 29, 12, 0, 0), 20000229);
	day_is(utc, ts(1900, 3, 1, 0, 0, 0), 19000301);
	day_is(utc, ts(1900, 2, 28, 23, 59, 59), 19000228);
	/* +14 h pushes the last second of 1969 into 1970. */
	day_ms_is(east, -1, 19700101);
	day_ms_is(east, -50400001, 19691231);
out:
	tz_free(utc);
	tz_free(east);
}

static void test_ranges(void)
{
	struct tz *utc = posix("UTC0");
	struct tz *cet = posix("CET-1CEST,M3.5.0,M10.5.0/3");
	int32_t off = UNTOUCHED_OFF;
	uint32_t day = UNTOUCHED_DAY;

	if (!utc || !cet)
		goto out;
	CHECK(tz_offset(utc, TZ_SECS_LIMIT + 1, &off) == -ERANGE);
	CHECK(tz_offset(utc, -TZ_SECS_LIMIT - 1, &off) == -ERANGE);
	CHECK(tz_offset(utc, INT64_MAX, &off) == -ERANGE);
	CHECK(tz_offset(utc, INT64_MIN, &off) == -ERANGE);
	CHECK(off == UNTOUCHED_OFF);
	off_is(utc, TZ_SECS_LIMIT, 0);
	off_is(utc, -TZ_SECS_LIMIT, 0);
	/* The rule still works 31,000 years away. */
	CHECK(tz_offset(cet, TZ_SECS_LIMIT, &off) == 0 &&
	      (off == 3600 || off == 7200));
	CHECK(tz_offset(cet, -TZ_SECS_LIMIT, &off) == 0 &&
	      (off == 3600 || off == 7200));

	/* tz_day: years 0 to 9999. */
	day_is(utc, ts(9999, 12, 31, 23, 59, 59), 99991231);
	day_is(utc, ts(0, 1, 1, 0, 0, 0), 101);
	CHECK(tz_day(utc, ts(10000, 1, 1, 0, 0, 0) * 1000, &day) == -ERANGE);
	CHECK(tz_day(utc, ts(0, 1, 1, 0, 0, 0) * 1000 - 1, &day) == -ERANGE);
	CHECK(tz_day(cet, ts(9999, 12, 31, 23, 0, 0) * 1000, &day) ==
	      -ERANGE);
	day_is(cet, ts(9999, 12, 31, 22, 59, 59), 99991231);
	CHECK(tz_day(utc, INT64_MAX, &day) == -ERANGE);
	CHECK(tz_day(utc, INT64_MIN, &day) == -ERANGE);
	CHECK(day == UNTOUCHED_DAY);
out:
	tz_free(utc);
	tz_free(cet);
}

/* --- crafted TZif files --------------------------------------------------- */

#define MAXT 4

/* What tzif_build() writes. version 0 makes a version 1 file (32-bit
 * times, no footer); '2' a version 2 file whose version 1 block holds
 * one type and whose 64-bit block holds the data, then the footer. */
struct tzif {
	char version;
	uint32_t n;			/* transitions */
	int64_t at[MAXT];
	unsigned char idx[MAXT];
	uint32_t ntypes;
	int32_t utoff[MAXT];
	unsigned char isdst[MAXT];
	uint32_t leapcnt, isutcnt;	/* records written as zeros */
	const char *footer;		/* the bytes after the data, as is */
	size_t footer_len;
};

static void put(unsigned char *buf, size_t *pos, const void *p, size_t n)
{
	memcpy(buf + *pos, p, n);
	*pos += n;
}

static void put32(unsigned char *buf, size_t *pos, uint32_t v)
{
	unsigned char b[4] = { (unsigned char)(v >> 24),
			       (unsigned char)(v >> 16),
			       (unsigned char)(v >> 8), (unsigned char)v };

	put(buf, pos, b, 4);
}

static void put64(unsigned char *buf, size_t *pos, int64_t v)
{
	put32(buf, pos, (uint32_t)((uint64_t)v >> 32));
	put32(buf, pos, (uint32_t)v);
}

static void put_header(unsigned char *buf, size_t *pos, char version,
		       uint32_t isut, uint32_t leap, uint32_t timecnt,
		       uint32_t typecnt)
{
	static const unsigned char zeros[15];

	put(buf, pos, "TZif", 4);
	put(buf, pos, &version, 1);
	put(buf, pos, zeros, 15);
	put32(buf, pos, isut);
	put32(buf, pos, 0);		/* isstdcnt */
	put32(buf, pos, leap);
	put32(buf, pos, timecnt);
	put32(buf, pos, typecnt);
	put32(buf, pos, 4);		/* charcnt: "ABC\0" */
}

/* Writes f into buf (big enough: 1 KiB plus the footer); returns the
 * length. */
static size_t tzif_build(const struct tzif *f, unsigned char *buf)
{
	static const unsigned char zeros[16 * 12];
	unsigned ts_len = f->version ? 8 : 4;
	size_t pos = 0;
	uint32_t i;

	if (f->version) {
		/* The version 1 block of a slim file: one type. */
		put_header(buf, &pos, f->version, 0, 0, 0, 1);
		put(buf, &pos, "\0\0\0\0\0\0ABC", 10);
	}
	put_header(buf, &pos, f->version, f->isutcnt, f->leapcnt, f->n,
		   f->ntypes);
	for (i = 0; i < f->n; i++) {
		if (ts_len == 8)
			put64(buf, &pos, f->at[i]);
		else
			put32(buf, &pos, (uint32_t)f->at[i]);
	}
	put(buf, &pos, f->idx, f->n);
	for (i = 0; i < f->ntypes; i++) {
		put32(buf, &pos, (uint32_t)f->utoff[i]);
		put(buf, &pos, &f->isdst[i], 1);
		put(buf, &pos, "\0", 1);
	}
	put(buf, &pos, "ABC", 4);
	put(buf, &pos, zeros, f->leapcnt * (ts_len + 4));
	put(buf, &pos, zeros, f->isutcnt);
	if (f->footer)
		put(buf, &pos, f->footer, f->footer_len ? f->footer_len :
		    strlen(f->footer));
	return pos;
}

static void write_file(const char *dir, const char *name, const void *p,
		       size_t len)
{
	char path[512];
	FILE *f;

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	f = fopen(path, "wb");
	CHECK(f != NULL);
	if (!f)
		return;
	CHECK(fwrite(p, 1, len, f) == len);
	CHECK(fclose(f) == 0);
}

/* Writes f as dir/name and loads it. */
static int load_built(const char *dir, const char *name,
		      const struct tzif *f, struct tz **z)
{
	unsigned char buf[2048];

	*z = NULL;
	write_file(dir, name, buf, tzif_build(f, buf));
	return tz_load_dir(dir, name, z);
}

static void test_crafted(void)
{
	/* A slim Europe/Paris: one transition in 1996, then the footer. */
	static const struct tzif slim = {
		.version = '2', .n = 1, .at = { 846378000 }, .idx = { 1 },
		.ntypes = 2, .utoff = { 7200, 3600 }, .isdst = { 1, 0 },
		.footer = "\nCET-1CEST,M3.5.0,M10.5.0/3\n",
	};
	static const struct tzif v1 = {
		.version = 0, .n = 2, .at = { 1000000000, 1100000000 },
		.idx = { 1, 0 }, .ntypes = 2, .utoff = { 3600, 7200 },
	};
	const char *dir = t_tmpdir();
	unsigned char buf[2048], big[300];
	char path[512];
	struct tzif f;
	struct tz *z;
	size_t len, cut;
	int rc, fails;

	rc = load_built(dir, "Slim", &slim, &z);
	CHECK(rc == 0 && z);
	if (z) {
		CHECK_STR(tz_name(z), "Slim");
		off_is(z, ts(1996, 7, 1, 0, 0, 0), 7200); /* type 0 */
		switch_at(z, 846378000, 7200, 3600);
		switch_at(z, ts(2026, 3, 29, 1, 0, 0), 3600, 7200);
		switch_at(z, ts(2026, 10, 25, 1, 0, 0), 7200, 3600);
		day_is(z, ts(2026, 11, 22, 22, 59, 59), 20261122);
		day_is(z, ts(2026, 11, 22, 23, 0, 0), 20261123);
		tz_free(z);
	}

	/* Version 1: no footer, the last type stays. */
	rc = load_built(dir, "V1", &v1, &z);
	CHECK(rc == 0 && z);
	if (z) {
		off_is(z, 0, 3600);
		switch_at(z, 1000000000, 3600, 7200);
		switch_at(z, 1100000000, 7200, 3600);
		off_is(z, ts(2100, 1, 1, 0, 0, 0), 3600);
		tz_free(z);
	}

	/* An empty footer: the same. */
	f = v1;
	f.version = '2';
	f.footer = "\n\n";
	rc = load_built(dir, "Empty", &f, &z);
	CHECK(rc == 0 && z);
	if (z) {
		switch_at(z, 1100000000, 7200, 3600);
		off_is(z, ts(2100, 1, 1, 0, 0, 0), 3600);
		tz_free(z);
	}

	/* No transitions: the footer decides everything, not type 0. */
	f = slim;
	f.n = 0;
	f.footer = "\n<+0530>-5:30\n";
	rc = load_built(dir, "Footer", &f, &z);
	CHECK(rc == 0 && z);
	if (z) {
		off_is(z, ts(1800, 1, 1, 0, 0, 0), 19800);
		off_is(z, ts(2100, 1, 1, 0, 0, 0), 19800);
		tz_free(z);
	}

	/* Every truncation of a valid file is refused. */
	len = tzif_build(&slim, buf);
	for (cut = 0, fails = 0; cut < len; cut++) {
		write_file(dir, "Cut", buf, cut);
		z = NULL;
		rc = tz_load_dir(dir, "Cut", &z);
		if (rc != -EINVAL || z) {
			fails++;
			CHECKF(0, "truncated to %zu bytes: %d", cut, rc);
			tz_free(z);
		}
	}
	CHECK(fails == 0);
	len = tzif_build(&v1, buf);
	for (cut = 0, fails = 0; cut < len; cut++) {
		write_file(dir, "Cut", buf, cut);
		z = NULL;
		if (tz_load_dir(dir, "Cut", &z) != -EINVAL || z) {
			fails++;
			tz_free(z);
		}
	}
	CHECK(fails == 0);

	/* Bad magic, bad version. */
	len = tzif_build(&slim, buf);
	buf[0] = 'X';
	write_file(dir, "Bad", buf, len);
	CHECK(tz_load_dir(dir, "Bad", &z) == -EINVAL);
	len = tzif_build(&slim, buf);
	buf[4] = '1';
	write_file(dir, "Bad", buf, len);
	CHECK(tz_load_dir(dir, "Bad", &z) == -EINVAL);
	/* The second header's magic. */
	len = tzif_build(&slim, buf);
	buf[44 + 10] = 'X';
	write_file(dir, "Bad", buf, len);
	CHECK(tz_load_dir(dir, "Bad", &z) == -EINVAL);

#define BAD(field_edit)                                                     \
	do {                                                                \
		f = slim;                                                   \
		field_edit;                                                 \
		rc = load_built(dir, "Bad", &f, &z);                        \
		CHECKF(rc == -EINVAL && !z, "%s: %d", #field_edit, rc);     \
		tz_free(z);                                                 \
	} while (0)

	BAD(f.leapcnt = 1);
	BAD(f.ntypes = 0; f.n = 0);
	BAD(f.idx[0] = 2);
	BAD(f.isutcnt = 1);
	BAD(f.utoff[1] = 93600);
	BAD(f.utoff[0] = -90000);
	BAD(f.utoff[1] = INT32_MIN);
	BAD(f.isdst[0] = 2);
	BAD(f.n = 2; f.at[1] = f.at[0]; f.idx[1] = 0);
	BAD(f.n = 2; f.at[1] = f.at[0] - 1; f.idx[1] = 0);
	BAD(f.footer = NULL);
	BAD(f.footer = "\n");
	BAD(f.footer = "X\n\n");
	BAD(f.footer = "\nCET-1CEST,M3.5.0,M10.5.0/3");
	BAD(f.footer = "\nCET-1CEST\n");
	BAD(f.footer = "\nCET-1\0CEST\n"; f.footer_len = 12);
	memset(big, 'A', sizeof(big));
	big[0] = '\n';
	big[256] = '0';
	big[257] = '\n';
	BAD(f.footer = (const char *)big; f.footer_len = 258);
	/* ...whereas 255 characters are fine. */
	f = slim;
	big[255] = '0';
	big[256] = '\n';
	f.footer = (const char *)big;
	f.footer_len = 257;
	rc = load_built(dir, "Long", &f, &z);
	CHECK(rc == 0 && z);
	tz_free(z);

	/* Empty, oversized, a FIFO, a directory. */
	write_file(dir, "Empty0", "", 0);
	CHECK(tz_load_dir(dir, "Empty0", &z) == -EINVAL);
	snprintf(path, sizeof(path), "%s/Huge", dir);
	write_file(dir, "Huge", buf, len);
	CHECK(truncate(path, (1 << 20) + 1) == 0);
	CHECK(tz_load_dir(dir, "Huge", &z) == -EINVAL);
	snprintf(path, sizeof(path), "%s/Fifo", dir);
	CHECK(mkfifo(path, 0600) == 0);
	CHECK(tz_load_dir(dir, "Fifo", &z) == -ENOENT);
	snprintf(path, sizeof(path), "%s/Dir", dir);
	CHECK(mkdir(path, 0700) == 0);
	CHECK(tz_load_dir(dir, "Dir", &z) == -ENOENT);
	CHECK(rmdir(path) == 0);

	/* A directory too long for PATH_MAX. */
	{
		static char longdir[5000];

		memset(longdir, 'd', sizeof(longdir) - 1);
		CHECK(tz_load_dir(longdir, "UTC", &z) == -ENAMETOOLONG);
	}

	{
		static const char *const files[] = {
			"Slim", "V1", "Empty", "Footer", "Cut", "Bad", "Long",
			"Empty0", "Huge", "Fifo",
		};
		size_t i;

		for (i = 0; i < sizeof(files) / sizeof(files[0]); i++) {
			snprintf(path, sizeof(path), "%s/%s", dir, files[i]);
			CHECK(unlink(path) == 0);
		}
		CHECK(rmdir(dir) == 0);
	}
#undef BAD
}

/* tz_day_start and tz_next_day: where local days begin, DST included
 * (expected instants from Python's zoneinfo, an independent reader). */
static void test_day_start(void)
{
	struct tz *z;
	int64_t t;

	CHECK(tz_next_day(20261122) == 20261123);
	CHECK(tz_next_day(20261231) == 20270101);
	CHECK(tz_next_day(20240228) == 20240229);
	CHECK(tz_next_day(21000228) == 21000301);
	z = load("Europe/Paris");
	if (z) {
		/* the night the clocks go forward, and back (a 25 h day) */
		CHECK(tz_day_start(z, 20260329, &t) == 0 && t == 1774738800);
		CHECK(tz_day_start(z, 20261026, &t) == 0 && t == 1792969200);
		CHECK(tz_day_start(z, 20261300, &t) == -EINVAL);
		CHECK(tz_day_start(z, 20260230, &t) == -EINVAL);
		tz_free(z);
	}
	/* Havana moves from 00:00 to 01:00: that day starts at 01:00 */
	z = load("America/Havana");
	if (z) {
		CHECK(tz_day_start(z, 20260308, &t) == 0 && t == 1772946000);
		tz_free(z);
	}
	z = load("Asia/Kolkata");
	if (z) {
		CHECK(tz_day_start(z, 20261123, &t) == 0 && t == 1795372200);
		tz_free(z);
	}
	CHECK(tz_name_ok("Europe/Paris") == 0);
	CHECK(tz_name_ok("../x") == -EINVAL);
}

int main(void)
{
	int rc;

	test_ts();
	test_day_start();
	test_paris();
	test_los_angeles();
	test_kolkata();
	test_chatham();
	test_lord_howe();
	test_kiritimati();
	test_odd_rules();
	test_utc();
	test_table_vs_footer();
	test_names();
	test_posix();
	test_posix_bad();
	test_civil();
	test_ranges();
	test_crafted();
	rc = t_done("tz");
	return rc == 0 && skipped ? 77 : rc;
}
