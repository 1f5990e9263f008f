/*
 * tz.c: time zones from TZif files (RFC 8536) and POSIX TZ strings; see
 * tz.h.
 *
 * A zone is a table of transitions (an instant, and the UTC offset from
 * then on) and, optionally, a rule: the footer TZ string, which decides
 * every instant on or after the last transition (or every instant, if the
 * table is empty). A lookup is a binary search in the table or, for the
 * rule, the latest of the transitions the rule makes in the four years
 * around the instant. Looking at whole years rather than reasoning about
 * "is this date between start and end" keeps the southern hemisphere
 * (start after end), negative DST (Europe/Dublin), transition times below
 * 0 or beyond 24 hours (America/Nuuk's "M3.5.0/-1") and DST all year on
 * one code path.
 *
 * Dates are proleptic Gregorian, converted with Howard Hinnant's
 * days_from_civil() and civil_from_days(), which are exact for any year.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/tz.h"
#include "common/banned.h"

#define SECS_PER_DAY 86400
#define UTOFF_MIN (-89999)	/* RFC 8536: more than -25 hours, */
#define UTOFF_MAX 93599		/* and less than 26 hours */
#define TZIF_HDR_LEN 44
#define TZIF_MAX_LEN (1 << 20)	/* real files are a few KiB */
#define SPEC_MAX 255

enum date_kind {
	DATE_JULIAN1,		/* Jn: 1-365, February 29 never counted */
	DATE_JULIAN0,		/* n: 0-365, February 29 counted */
	DATE_MWD,		/* Mm.w.d */
};

struct rule_date {
	enum date_kind kind;
	int n;			/* Jn and n */
	int m, w, d;		/* Mm.w.d */
	int32_t time;		/* local seconds after midnight */
};

/* A POSIX TZ string. Offsets are east positive, unlike in the string. */
struct rule {
	int32_t std_off;
	int32_t dst_off;
	bool has_dst;
	struct rule_date start;	/* to DST, in standard local time */
	struct rule_date end;	/* back to standard, in DST local time */
};

struct tz {
	size_t n;		/* number of transitions */
	int64_t *at;		/* their instants, strictly increasing */
	int32_t *off;		/* off[i]: the offset from at[i] on */
	int32_t off0;		/* the offset before at[0] */
	bool has_rule;		/* rule decides from at[n - 1] on */
	struct rule rule;
	char name[];
};

/* The counts of a TZif header. */
struct tzif_hdr {
	unsigned char version;	/* 0, '2', '3', '4'... */
	uint32_t isutcnt, isstdcnt, leapcnt, timecnt, typecnt, charcnt;
};

/* --- civil dates ---------------------------------------------------------- */

static int check_name(const char *name);

static int64_t floor_div(int64_t a, int64_t b)
{
	return a / b - (a % b < 0);
}

static bool is_leap(int64_t y)
{
	return y % 4 == 0 && (y % 100 != 0 || y % 400 == 0);
}

static int days_in_month(int64_t y, int m)
{
	static const int mdays[12] = { 31, 28, 31, 30, 31, 30,
				       31, 31, 30, 31, 30, 31 };

	return m == 2 && is_leap(y) ? 29 : mdays[m - 1];
}

/* Days from 1970-01-01 to y-m-d (m 1-12, d 1-31). */
static int64_t days_from_civil(int64_t y, int m, int d)
{
	int64_t era, yoe, doy, doe;

	y -= m <= 2;
	era = floor_div(y, 400);
	yoe = y - era * 400;
	doy = (153 * (m > 2 ? m - 3 : m + 9) + 2) / 5 + d - 1;
	doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
	return era * 146097 + doe - 719468;
}

/* The inverse of days_from_civil(). */
static void civil_from_days(int64_t z, int64_t *y, int *m, int *d)
{
	int64_t era, doe, yoe, doy, mp;

	z += 719468;
	era = floor_div(z, 146097);
	doe = z - era * 146097;
	yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
	doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
	mp = (5 * doy + 2) / 153;
	*d = (int)(doy - (153 * mp + 2) / 5 + 1);
	*m = (int)(mp < 10 ? mp + 3 : mp - 9);
	*y = yoe + era * 400 + (*m <= 2);
}

/* 0 = Sunday; 1970-01-01 was a Thursday. */
static int weekday(int64_t days)
{
	return (int)((days % 7 + 11) % 7);
}

/* --- POSIX TZ rules ------------------------------------------------------- */

/* The day (since the epoch) that date d falls on in year y. */
static int64_t rule_day(const struct rule_date *d, int64_t y)
{
	int64_t first;
	int day;

	switch (d->kind) {
	case DATE_JULIAN1:
		first = days_from_civil(y, 1, 1);
		return first + d->n - 1 + (is_leap(y) && d->n >= 60);
	case DATE_JULIAN0:
		return days_from_civil(y, 1, 1) + d->n;
	case DATE_MWD:
	default:
		first = days_from_civil(y, d->m, 1);
		day = (d->d - weekday(first) + 7) % 7 + 7 * (d->w - 1);
		while (day >= days_in_month(y, d->m))
			day -= 7;
		return first + day;
	}
}

/* The instant date d happens in year y, its time being local time at
 * offset off (the offset in effect just before it). */
static int64_t rule_instant(const struct rule_date *d, int64_t y,
			    int32_t off)
{
	return rule_day(d, y) * SECS_PER_DAY + d->time - off;
}

static int32_t rule_offset(const struct rule *r, int64_t t)
{
	int64_t y, yy, at, best_at = 0;
	int32_t best = r->std_off;
	bool found = false;
	int m, d;

	if (!r->has_dst)
		return r->std_off;
	civil_from_days(floor_div(t + r->std_off, SECS_PER_DAY), &y, &m, &d);
	/*
	 * A rule's transitions stray at most about 8 days from the year
	 * they belong to (n = 365, hours up to 167, offsets up to 26 h), so
	 * year y - 2 has some at or before t and year y + 2 none. Ties go
	 * to the later in this order: a later year's start over an earlier
	 * year's end (DST all year), and within a year the end over the
	 * start (a start equal to the end means no DST).
	 */
	for (yy = y - 2; yy <= y + 1; yy++) {
		at = rule_instant(&r->start, yy, r->std_off);
		if (at <= t && (!found || at >= best_at)) {
			best_at = at;
			best = r->dst_off;
			found = true;
		}
		at = rule_instant(&r->end, yy, r->dst_off);
		if (at <= t && (!found || at >= best_at)) {
			best_at = at;
			best = r->std_off;
			found = true;
		}
	}
	return best;
}

static bool is_digit(char c)
{
	return c >= '0' && c <= '9';
}

static bool is_alpha(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}

/* Decimal digits at *sp, at most max; advances *sp. */
static int get_num(const char **sp, int max, int *out)
{
	const char *s = *sp;
	int v = 0;

	if (!is_digit(*s))
		return -EINVAL;
	while (is_digit(*s)) {
		v = v * 10 + (*s++ - '0');
		if (v > max)
			return -EINVAL;
	}
	*sp = s;
	*out = v;
	return 0;
}

/* [+-]hh[:mm[:ss]] with hh <= maxh, as seconds. */
static int get_hms(const char **sp, int maxh, int32_t *out)
{
	int h, m = 0, s = 0, rc;
	bool neg = false;

	if (**sp == '+' || **sp == '-')
		neg = *(*sp)++ == '-';
	rc = get_num(sp, maxh, &h);
	if (!rc && **sp == ':') {
		(*sp)++;
		rc = get_num(sp, 59, &m);
		if (!rc && **sp == ':') {
			(*sp)++;
			rc = get_num(sp, 59, &s);
		}
	}
	if (rc)
		return rc;
	*out = (h * 3600 + m * 60 + s) * (neg ? -1 : 1);
	return 0;
}

/* A zone abbreviation: letters, or <...> around [A-Za-z0-9+-]. Only
 * skipped: offsets are all we need. */
static int get_abbr(const char **sp)
{
	const char *s = *sp, *start;

	if (*s == '<') {
		start = ++s;
		while (is_alpha(*s) || is_digit(*s) || *s == '+' || *s == '-')
			s++;
		if (*s != '>' || s == start)
			return -EINVAL;
		s++;
	} else {
		start = s;
		while (is_alpha(*s))
			s++;
		if (s == start)
			return -EINVAL;
	}
	*sp = s;
	return 0;
}

/* Jn, n or Mm.w.d, then an optional /time. */
static int get_date(const char **sp, struct rule_date *d)
{
	int rc;

	if (**sp == 'J') {
		(*sp)++;
		d->kind = DATE_JULIAN1;
		rc = get_num(sp, 365, &d->n);
		if (!rc && d->n < 1)
			rc = -EINVAL;
	} else if (**sp == 'M') {
		(*sp)++;
		d->kind = DATE_MWD;
		rc = get_num(sp, 12, &d->m);
		if (!rc && (d->m < 1 || *(*sp)++ != '.'))
			rc = -EINVAL;
		if (!rc)
			rc = get_num(sp, 5, &d->w);
		if (!rc && (d->w < 1 || *(*sp)++ != '.'))
			rc = -EINVAL;
		if (!rc)
			rc = get_num(sp, 6, &d->d);
	} else {
		d->kind = DATE_JULIAN0;
		rc = get_num(sp, 365, &d->n);
	}
	if (rc)
		return rc;
	d->time = 2 * 3600;
	if (**sp == '/') {
		(*sp)++;
		rc = get_hms(sp, 167, &d->time);
	}
	return rc;
}

static bool utoff_ok(int64_t off)
{
	return off >= UTOFF_MIN && off <= UTOFF_MAX;
}

/* Parses a whole TZ string into *r; *r is garbage on failure. */
static int parse_posix(const char *spec, struct rule *r)
{
	const char *s = spec;
	int32_t off;

	memset(r, 0, sizeof(*r));
	if (get_abbr(&s) || get_hms(&s, 24, &off))
		return -EINVAL;
	r->std_off = -off;
	r->dst_off = r->std_off;
	if (*s == '\0')
		return 0;
	if (get_abbr(&s))
		return -EINVAL;
	r->has_dst = true;
	r->dst_off = r->std_off + 3600;
	if (*s != ',') {
		if (get_hms(&s, 24, &off))
			return -EINVAL;
		r->dst_off = -off;
	}
	if (*s++ != ',' || get_date(&s, &r->start) || *s++ != ',' ||
	    get_date(&s, &r->end) || *s != '\0')
		return -EINVAL;
	if (!utoff_ok(r->std_off) || !utoff_ok(r->dst_off))
		return -EINVAL;
	return 0;
}

/* --- zones ---------------------------------------------------------------- */

/* A zone called name with room for n transitions and nothing set. */
static int tz_new(const char *name, size_t n, struct tz **out)
{
	size_t len = strlen(name);
	struct tz *z;

	z = calloc(1, sizeof(*z) + len + 1);
	if (!z)
		return -ENOMEM;
	memcpy(z->name, name, len + 1);
	if (n) {
		z->at = malloc(n * (sizeof(int64_t) + sizeof(int32_t)));
		if (!z->at) {
			free(z);
			return -ENOMEM;
		}
		z->off = (int32_t *)(z->at + n);
		z->n = n;
	}
	*out = z;
	return 0;
}

void tz_free(struct tz *z)
{
	if (!z)
		return;
	free(z->at);
	free(z);
}

const char *tz_name(const struct tz *z)
{
	return z->name;
}

int tz_from_posix(const char *spec, struct tz **out)
{
	struct tz *z = NULL;
	struct rule r;
	int rc;

	if (!spec || strnlen(spec, SPEC_MAX + 1) > SPEC_MAX)
		return -EINVAL;
	rc = parse_posix(spec, &r);
	if (rc)
		goto out;
	rc = tz_new(spec, 0, &z);
	if (rc)
		goto out;
	z->rule = r;
	z->has_rule = true;
	z->off0 = r.std_off;
	*out = z;
out:
	return rc;
}

static int32_t lookup(const struct tz *z, int64_t t)
{
	size_t lo = 0, hi = z->n, mid;

	if (z->n == 0)
		return z->has_rule ? rule_offset(&z->rule, t) : z->off0;
	if (t < z->at[0])
		return z->off0;
	/* The last transition at or before t: at[lo - 1] <= t < at[hi]. */
	while (lo < hi) {
		mid = lo + (hi - lo) / 2;
		if (z->at[mid] <= t)
			lo = mid + 1;
		else
			hi = mid;
	}
	if (lo == z->n && z->has_rule)
		return rule_offset(&z->rule, t);
	return z->off[lo - 1];
}

int tz_offset(const struct tz *z, int64_t unix_secs, int32_t *offset_secs)
{
	if (unix_secs > TZ_SECS_LIMIT || unix_secs < -TZ_SECS_LIMIT)
		return -ERANGE;
	*offset_secs = lookup(z, unix_secs);
	return 0;
}

int tz_day(const struct tz *z, int64_t unix_ms, uint32_t *yyyymmdd)
{
	int64_t secs = floor_div(unix_ms, 1000), y;
	int32_t off;
	int m, d, rc;

	rc = tz_offset(z, secs, &off);
	if (rc)
		return rc;
	civil_from_days(floor_div(secs + off, SECS_PER_DAY), &y, &m, &d);
	if (y < 0 || y > 9999)
		return -ERANGE;
	*yyyymmdd = (uint32_t)(y * 10000 + m * 100 + d);
	return 0;
}

int tz_day_start(const struct tz *z, uint32_t yyyymmdd, int64_t *unix_secs)
{
	int64_t y = yyyymmdd / 10000, lo, hi, mid;
	int m = (int)(yyyymmdd / 100 % 100), d = (int)(yyyymmdd % 100);
	uint32_t day;
	int rc;

	if (m < 1 || m > 12 || d < 1 || d > days_in_month(y, m))
		return -EINVAL;
	mid = days_from_civil(y, m, d) * SECS_PER_DAY;
	/* Offsets are within 26 hours: the day begins in [lo, hi]. Find the
	 * first second whose local day is yyyymmdd or later. */
	lo = mid - 26 * 3600;
	hi = mid + 26 * 3600;
	while (lo < hi) {
		int64_t t = lo + (hi - lo) / 2;

		rc = tz_day(z, t * 1000, &day);
		if (rc)
			return rc;
		if (day >= yyyymmdd)
			hi = t;
		else
			lo = t + 1;
	}
	*unix_secs = lo;
	return 0;
}

uint32_t tz_next_day(uint32_t yyyymmdd)
{
	int64_t y;
	int m, d;

	civil_from_days(days_from_civil(yyyymmdd / 10000,
					(int)(yyyymmdd / 100 % 100),
					(int)(yyyymmdd % 100)) + 1, &y, &m, &d);
	return (uint32_t)(y * 10000 + m * 100 + d);
}

int tz_name_ok(const char *name)
{
	return check_name(name);
}

/* --- TZif files ----------------------------------------------------------- */

static uint32_t be32(const unsigned char *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 |
	       (uint32_t)p[2] << 8 | p[3];
}

static int64_t be64(const unsigned char *p)
{
	return (int64_t)((uint64_t)be32(p) << 32 | be32(p + 4));
}

/* The header at p (len bytes available): magic, version and counts. */
static int read_header(const unsigned char *p, size_t len,
		       struct tzif_hdr *h)
{
	if (len < TZIF_HDR_LEN || memcmp(p, "TZif", 4) != 0)
		return -EINVAL;
	h->version = p[4];
	if (h->version != 0 && h->version < '2')
		return -EINVAL;
	h->isutcnt = be32(p + 20);
	h->isstdcnt = be32(p + 24);
	h->leapcnt = be32(p + 28);
	h->timecnt = be32(p + 32);
	h->typecnt = be32(p + 36);
	h->charcnt = be32(p + 40);
	return 0;
}

/* The counts of the header whose data we use: RFC 8536's constraints,
 * and no leap seconds (their transition times are not Unix times). */
static int check_header(const struct tzif_hdr *h)
{
	if (h->typecnt == 0 || h->typecnt > 256 || h->leapcnt != 0 ||
	    (h->isutcnt != 0 && h->isutcnt != h->typecnt) ||
	    (h->isstdcnt != 0 && h->isstdcnt != h->typecnt))
		return -EINVAL;
	return 0;
}

/* The length of the data block after header h, with times of timesize
 * bytes (4 in the version 1 block, 8 in the version 2+ one). */
static uint64_t block_len(const struct tzif_hdr *h, unsigned timesize)
{
	return (uint64_t)h->timecnt * (timesize + 1) +
	       (uint64_t)h->typecnt * 6 + h->charcnt +
	       (uint64_t)h->leapcnt * (timesize + 4) + h->isstdcnt +
	       h->isutcnt;
}

/* Fills z's table from the data block p described by h (already checked
 * to be long enough). */
static int load_block(struct tz *z, const struct tzif_hdr *h,
		      const unsigned char *p, unsigned timesize)
{
	const unsigned char *idx = p + (size_t)h->timecnt * timesize;
	const unsigned char *types = idx + h->timecnt;
	int32_t utoff[256];
	uint32_t i;

	for (i = 0; i < h->typecnt; i++) {
		const unsigned char *tt = types + 6 * i;

		utoff[i] = (int32_t)be32(tt);
		if (!utoff_ok(utoff[i]) || tt[4] > 1)
			return -EINVAL;
	}
	z->off0 = utoff[0];
	for (i = 0; i < h->timecnt; i++) {
		const unsigned char *tp = p + (size_t)i * timesize;

		z->at[i] = timesize == 8 ? be64(tp) : (int32_t)be32(tp);
		if ((i > 0 && z->at[i] <= z->at[i - 1]) || idx[i] >= h->typecnt)
			return -EINVAL;
		z->off[i] = utoff[idx[i]];
	}
	return 0;
}

/* The footer at p (len bytes to the end of the file): a TZ string
 * between newlines, possibly empty. */
static int load_footer(struct tz *z, const unsigned char *p, size_t len)
{
	char spec[SPEC_MAX + 1];
	const unsigned char *nl;
	size_t n;
	int rc;

	if (len < 2 || p[0] != '\n')
		return -EINVAL;
	nl = memchr(p + 1, '\n', len - 1);
	if (!nl)
		return -EINVAL;
	n = (size_t)(nl - (p + 1));
	if (n > SPEC_MAX)
		return -EINVAL;
	memcpy(spec, p + 1, n);
	spec[n] = '\0';
	if (n == 0)
		return 0;
	if (strlen(spec) != n)
		return -EINVAL;
	rc = parse_posix(spec, &z->rule);
	if (rc)
		return rc;
	z->has_rule = true;
	return 0;
}

/* Makes the zone called name from the TZif file in p (len bytes). */
static int parse_tzif(const char *name, const unsigned char *p, size_t len,
		      struct tz **out)
{
	struct tzif_hdr h1, h;
	struct tz *z = NULL;
	unsigned timesize = 4;
	uint64_t pos = TZIF_HDR_LEN, blen;
	int rc;

	rc = read_header(p, len, &h1);
	if (rc)
		goto out;
	h = h1;
	if (h1.version != 0) {
		/* Skip the version 1 block for the 64-bit one. */
		pos += block_len(&h1, 4);
		rc = -EINVAL;
		if (pos > len)
			goto out;
		rc = read_header(p + pos, len - pos, &h);
		if (rc)
			goto out;
		pos += TZIF_HDR_LEN;
		timesize = 8;
	}
	rc = check_header(&h);
	if (rc)
		goto out;
	blen = block_len(&h, timesize);
	rc = -EINVAL;
	if (blen > len - pos)
		goto out;
	rc = tz_new(name, h.timecnt, &z);
	if (rc)
		goto out;
	rc = load_block(z, &h, p + pos, timesize);
	if (rc)
		goto out;
	pos += blen;
	if (h1.version != 0)
		rc = load_footer(z, p + pos, len - pos);
out:
	if (rc)
		tz_free(z);
	else
		*out = z;
	return rc;
}

/* Reads the regular file at path, at most TZIF_MAX_LEN bytes, into a new
 * allocation. A missing file or one that is not a regular file (a
 * directory such as "Europe") is -ENOENT. */
static int read_file(const char *path, unsigned char **data, size_t *len)
{
	unsigned char *buf = NULL;
	size_t cap, n = 0;
	struct stat st;
	ssize_t r;
	int fd, rc = 0;

	/* O_NONBLOCK: a FIFO must not hang us before fstat refuses it. */
	fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
	if (fd < 0) {
		rc = errno == ENOTDIR ? -ENOENT : -errno;
		goto out;
	}
	if (fstat(fd, &st) != 0) {
		rc = -errno;
		goto out;
	}
	if (!S_ISREG(st.st_mode)) {
		rc = -ENOENT;
		goto out;
	}
	if (st.st_size > TZIF_MAX_LEN) {
		rc = -EINVAL;
		goto out;
	}
	cap = (size_t)st.st_size;
	buf = malloc(cap ? cap : 1);
	if (!buf) {
		rc = -ENOMEM;
		goto out;
	}
	while (n < cap) {
		r = read(fd, buf + n, cap - n);
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0) {
			rc = -errno;
			goto out;
		}
		if (r == 0)
			break;
		n += (size_t)r;
	}
	*data = buf;
	*len = n;
	buf = NULL;
out:
	free(buf);
	if (fd >= 0)
		close(fd);
	return rc;
}

/* See tz.h for the rules. */
static int check_name(const char *name)
{
	size_t i, len;

	if (!name)
		return -EINVAL;
	len = strnlen(name, TZ_NAME_LEN_MAX + 1);
	if (len == 0 || len > TZ_NAME_LEN_MAX || name[0] == '/' ||
	    name[len - 1] == '/')
		return -EINVAL;
	for (i = 0; i < len; i++) {
		char c = name[i];

		if (c == '/' && name[i + 1] == '/')
			return -EINVAL;
		if (!(is_alpha(c) || is_digit(c) || c == '/' || c == '_' ||
		      c == '-' || c == '+'))
			return -EINVAL;
	}
	return 0;
}

int tz_load_dir(const char *dir, const char *name, struct tz **out)
{
	unsigned char *data = NULL;
	char path[PATH_MAX];
	struct tz *z = NULL;
	size_t len = 0;
	int rc, n;

	rc = check_name(name);
	if (rc)
		goto out;
	n = snprintf(path, sizeof(path), "%s/%s", dir, name);
	if (n < 0 || (size_t)n >= sizeof(path)) {
		rc = -ENAMETOOLONG;
		goto out;
	}
	rc = read_file(path, &data, &len);
	if (rc == -ENOENT && strcmp(name, "UTC") == 0) {
		/* No tzdata: UTC is an empty table at offset 0. */
		rc = tz_new(name, 0, &z);
		if (rc)
			goto out;
	} else if (rc) {
		goto out;
	} else {
		rc = parse_tzif(name, data, len, &z);
		if (rc)
			goto out;
	}
	*out = z;
out:
	free(data);
	return rc;
}

int tz_load(const char *name, struct tz **out)
{
	return tz_load_dir(TZ_DIR, name, out);
}
