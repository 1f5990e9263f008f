/*
 * parse.h: strict parsing of numbers and addresses from outside input.
 *
 * Every parser here accepts exactly the documented syntax and nothing
 * around it: no leading or trailing spaces, no '+', no hexadecimal, no
 * empty string. They return 0, -EINVAL for bad syntax, or -ERANGE for a
 * well-formed number outside [min, max]; *out is written only on success.
 */
#ifndef UNIQ_PARSE_H
#define UNIQ_PARSE_H

#include <stddef.h>
#include <stdint.h>

/* Decimal digits only, at most 20 of them. */
int parse_u64(const char *s, uint64_t min, uint64_t max, uint64_t *out);

/* An optional '-' then decimal digits. */
int parse_i64(const char *s, int64_t min, int64_t max, int64_t *out);

/* Same as parse_u64 on the first len bytes of s (s need not be
 * NUL-terminated). */
int parse_u64_n(const char *s, size_t len, uint64_t min, uint64_t max,
		uint64_t *out);

/* "ADDR:PORT" with a numeric IPv4 address, "localhost", or "[IPv6]" (both
 * checked with inet_pton); PORT 0 asks for any free port. Writes the address (without brackets) to host
 * (hostlen bytes) and the port. */
int parse_listen(const char *s, char *host, size_t hostlen, uint16_t *port);

#endif
