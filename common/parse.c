/*
 * parse.c: strict number and address parsing; see parse.h.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <string.h>

#include "common/parse.h"
#include "common/banned.h"

int parse_u64_n(const char *s, size_t len, uint64_t min, uint64_t max,
		uint64_t *out)
{
	uint64_t v = 0;
	size_t i;

	if (!s || len == 0 || len > 20)
		return -EINVAL;
	for (i = 0; i < len; i++) {
		unsigned d;

		if (s[i] < '0' || s[i] > '9')
			return -EINVAL;
		d = (unsigned)(s[i] - '0');
		if (v > (UINT64_MAX - d) / 10)
			return -ERANGE;
		v = v * 10 + d;
	}
	if (v < min || v > max)
		return -ERANGE;
	*out = v;
	return 0;
}

int parse_u64(const char *s, uint64_t min, uint64_t max, uint64_t *out)
{
	if (!s)
		return -EINVAL;
	return parse_u64_n(s, strlen(s), min, max, out);
}

int parse_i64(const char *s, int64_t min, int64_t max, int64_t *out)
{
	uint64_t mag;
	int64_t v;
	int neg = 0, rc;

	if (!s)
		return -EINVAL;
	if (*s == '-') {
		neg = 1;
		s++;
	}
	rc = parse_u64(s, 0, UINT64_MAX, &mag);
	if (rc)
		return rc;
	if (neg) {
		if (mag > (uint64_t)INT64_MAX + 1)
			return -ERANGE;
		v = mag == (uint64_t)INT64_MAX + 1 ? INT64_MIN : -(int64_t)mag;
	} else {
		if (mag > (uint64_t)INT64_MAX)
			return -ERANGE;
		v = (int64_t)mag;
	}
	if (v < min || v > max)
		return -ERANGE;
	*out = v;
	return 0;
}

int parse_listen(const char *s, char *host, size_t hostlen, uint16_t *port)
{
	const char *colon, *h;
	size_t hl;
	uint64_t p;
	int rc;

	if (!s)
		return -EINVAL;
	if (*s == '[') {
		const char *close = strchr(s, ']');

		if (!close || close[1] != ':')
			return -EINVAL;
		h = s + 1;
		hl = (size_t)(close - h);
		colon = close + 1;
	} else {
		colon = strrchr(s, ':');
		if (!colon)
			return -EINVAL;
		h = s;
		hl = (size_t)(colon - s);
		if (memchr(h, ':', hl))
			return -EINVAL; /* IPv6 needs brackets */
	}
	if (hl == 0 || hl >= hostlen || hl >= INET6_ADDRSTRLEN)
		return -EINVAL;
	rc = parse_u64(colon + 1, 0, 65535, &p);
	if (rc)
		return rc;
	{
		unsigned char addr[sizeof(struct in6_addr)];
		char tmp[INET6_ADDRSTRLEN];

		memcpy(tmp, h, hl);
		tmp[hl] = '\0';
		if (strcmp(tmp, "localhost") &&
		    inet_pton(*s == '[' ? AF_INET6 : AF_INET, tmp, addr) != 1)
			return -EINVAL;
	}
	memcpy(host, h, hl);
	host[hl] = '\0';
	*port = (uint16_t)p;
	return 0;
}
