/*
 * value.c: value text for int and float pools; see value.h.
 *
 * Floats never go through a double here: a float pool's values are
 * integers of units of 10^-decimals, printed and parsed with integer
 * arithmetic, so the text is exact and parsing it back gives the same k.
 */
#include <errno.h>
#include <string.h>

#include "common/code.h"
#include "common/parse.h"
#include "common/value.h"
#include "common/banned.h"

static size_t number_format(const struct pool_def *d, uint64_t k,
			    char *buf);
static int number_parse(const struct pool_def *d, const char *text,
			uint64_t *k);

int64_t value_pow10(unsigned n)
{
	int64_t v = 1;

	while (n--)
		v *= 10;
	return v;
}

/* Writes the decimal digits of u to buf, returns their count. */
static size_t put_u64(uint64_t u, char *buf)
{
	char tmp[24];
	size_t i = sizeof(tmp), n;

	do {
		tmp[--i] = (char)('0' + u % 10);
		u /= 10;
	} while (u);
	n = sizeof(tmp) - i;
	memcpy(buf, tmp + i, n);
	return n;
}

size_t value_format(const struct pool_def *d, uint64_t k, char *buf)
{
	if (d->kind == POOL_CODE)
		return code_format(d, k, buf);
	return number_format(d, k, buf);
}

int value_parse(const struct pool_def *d, const char *text, uint64_t *k)
{
	if (d->kind == POOL_CODE)
		return text && *text ? code_parse(d, text, k) : -EINVAL;
	return number_parse(d, text, k);
}

static size_t number_format(const struct pool_def *d, uint64_t k, char *buf)
{
	/* min + k cannot overflow: config ensures min + capacity - 1 fits. */
	int64_t v = (int64_t)((uint64_t)d->min + k);
	uint64_t mag = v < 0 ? (uint64_t)0 - (uint64_t)v : (uint64_t)v;
	size_t n = 0;

	if (v < 0)
		buf[n++] = '-';
	if (d->kind == POOL_FLOAT && d->decimals > 0) {
		uint64_t scale = (uint64_t)value_pow10(d->decimals);
		uint64_t frac = mag % scale;
		unsigned i;

		n += put_u64(mag / scale, buf + n);
		buf[n++] = '.';
		for (i = d->decimals; i-- > 0;) {
			buf[n + i] = (char)('0' + frac % 10);
			frac /= 10;
		}
		n += d->decimals;
	} else {
		n += put_u64(mag, buf + n);
	}
	buf[n] = '\0';
	return n;
}

static int number_parse(const struct pool_def *d, const char *text,
			uint64_t *k)
{
	const char *s = text, *dot, *end;
	uint64_t ipart, fpart = 0;
	unsigned fdigits = 0, i;
	size_t ilen;
	int neg = 0, rc;
	int64_t v;
	uint64_t mag;

	if (!s || !*s || strlen(s) > VALUE_TEXT_MAX)
		return -EINVAL;
	if (*s == '-') {
		neg = 1;
		s++;
	}
	end = s + strlen(s);
	dot = strchr(s, '.');
	if (dot && d->kind != POOL_FLOAT)
		return -EINVAL;
	ilen = (size_t)((dot ? dot : end) - s);
	/* Only the texts value_format() writes: no leading zeros. */
	if (ilen > 1 && s[0] == '0')
		return -EINVAL;
	rc = parse_u64_n(s, ilen, 0, UINT64_MAX, &ipart);
	if (rc == -EINVAL && ilen > 20 && strspn(s, "0123456789") >= ilen)
		rc = -ERANGE; /* all digits, just too many */
	if (rc)
		return rc;
	if (dot) {
		const char *f = dot + 1;

		fdigits = (unsigned)(end - f);
		if (fdigits == 0)
			return -EINVAL;
		/* Extra digits are allowed only if they are zeros. */
		for (i = d->decimals; i < fdigits; i++)
			if (f[i] != '0')
				return -EINVAL;
		if (fdigits > d->decimals)
			fdigits = d->decimals;
		if (fdigits && (rc = parse_u64_n(f, fdigits, 0, UINT64_MAX,
						 &fpart)))
			return rc;
	}
	if (d->kind == POOL_FLOAT) {
		uint64_t scale = (uint64_t)value_pow10(d->decimals);

		/* Every value of a float pool is below 10^15 units. */
		if (ipart > (uint64_t)FLOAT_UNITS_LIMIT / scale)
			return -ERANGE;
		mag = ipart * scale +
		      fpart * (uint64_t)value_pow10(d->decimals - fdigits);
	} else {
		mag = ipart;
	}
	if (neg) {
		if (mag == 0)
			return -EINVAL; /* "-0" is never written */
		if (mag > (uint64_t)INT64_MAX + 1)
			return -ERANGE;
		v = (int64_t)((uint64_t)0 - mag);
	} else {
		if (mag > (uint64_t)INT64_MAX)
			return -ERANGE;
		v = (int64_t)mag;
	}
	if (v < d->min)
		return -ERANGE;
	if ((uint64_t)v - (uint64_t)d->min >= d->capacity)
		return -ERANGE;
	*k = (uint64_t)v - (uint64_t)d->min;
	return 0;
}
