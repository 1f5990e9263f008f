/*
 * request.h: what a request says, parsed: its path split into segments
 * and matched against the routes' patterns, its query parameters and
 * headers, and its JSON bodies. Pure parsing: no HTTP connection, no
 * ledger, no state; the routes (server/api_*.c) answer with what these
 * return, and tests/fuzz/fuzz_request.c feeds them any bytes.
 *
 * Invariants: every text argument is a NUL-terminated string (a body is
 * read up to its first NUL, as cJSON reads it); the functions keep no
 * pointer into them after they return. A function that fails returns a
 * negative errno and fills its struct request_error with the answer the
 * client gets: status, error code and message; on failure the outputs are
 * unspecified, on success err is untouched.
 */
#ifndef UNIQ_REQUEST_H
#define UNIQ_REQUEST_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/code.h"
#include "common/config.h"

#define REQUEST_SEGS_MAX 6	/* segments of a path */
#define REQUEST_SEG_MAX 128	/* bytes of one segment */
#define REQUEST_PATH_MAX 511	/* bytes of a path, its leading '/' included */
#define REQUEST_HOLDER_MAX 64	/* a holder: lease.h's LEASE_HOLDER_MAX */
#define REQUEST_COUNT_MAX 10000	/* ?count: api.h's API_COUNT_MAX */
#define REQUEST_JOB_COUNT_MAX 1000000000ull /* a code job's count */

/* The answer to a request that does not parse. */
struct request_error {
	unsigned status;	/* 400 or 404 */
	const char *code;	/* "bad_parameter", ...: a static string */
	char message[512];	/* for a person; what http_error() prints */
};

/* A request's path, split at '/': seg[i] points into buf. */
struct request_path {
	char buf[REQUEST_PATH_MAX + 1];
	const char *seg[REQUEST_SEGS_MAX];
	unsigned n;
};

/*
 * Splits path into segments: "/" has none (nor has "//"),
 * "/pools/int/values/12" has four; a single trailing '/' is ignored.
 * Returns 0, or -EINVAL for a path that is empty, does not start with
 * '/', is longer than REQUEST_PATH_MAX, or has an empty segment ("//"), a
 * segment over REQUEST_SEG_MAX bytes or more than REQUEST_SEGS_MAX
 * segments. No struct request_error: every failure is a 404 "no such
 * route".
 */
int request_split_path(const char *path, struct request_path *out);

/*
 * True if p matches pattern: "/", or a '/' then segments (non-empty, no
 * trailing '/') that must be p's, but for a segment "*", which matches
 * any one ("/jobs/" then "*" matches "/jobs/12", not "/jobs" nor
 * "/jobs/12/codes.csv").
 */
bool request_route_match(const char *pattern, const struct request_path *p);

/*
 * Query parameter ?count (text, NULL when absent: count 1) within
 * [1, max], max <= REQUEST_COUNT_MAX. Returns 0 with *count set, or
 * -EINVAL / -ERANGE (400 bad_parameter).
 */
int request_count(const char *text, uint64_t max, uint64_t *count,
		  struct request_error *err);

/* The Idempotency-Key header (NULL when absent: 0): 1 to 255 visible
 * ASCII characters. Returns 0 or -EINVAL (400 bad_parameter). */
int request_idem_key(const char *key, struct request_error *err);

/* True for a lease holder: at most REQUEST_HOLDER_MAX printable ASCII
 * characters (the empty string is one). */
bool request_holder_ok(const char *holder);

/* Query parameter ?holder of a lease's return (NULL when absent: 0).
 * Returns 0 or -EINVAL (400 bad_parameter). */
int request_holder_param(const char *holder, struct request_error *err);

/*
 * A lease number in a path segment of lease pool d: an integer written as
 * the server writes it (no leading zero, no "-0"). Returns 0 with *n in
 * [d->min, d->min + d->capacity), -EINVAL for text that is not such a
 * number (400 bad_value), or -ERANGE for one outside the pool (404
 * not_found).
 */
int request_lease_number(const struct pool_def *d, const char *text,
			 int64_t *n, struct request_error *err);

/* The optional body of a borrow or a renew. */
struct request_lease {
	bool has_holder;
	char holder[REQUEST_HOLDER_MAX + 1];	/* "" unless has_holder */
	int64_t ttl;		/* seconds, 0 never expires; -1: not given */
};

/*
 * Parses the body of a borrow or a renew: empty (len 0), or a JSON object
 * with at most "holder" (a string that request_holder_ok) and "ttl" (an
 * integer from 0 to LEASE_TTL_MAX); a repeated key counts as its last
 * value. Returns 0 with *out filled, or -EINVAL (400 bad_json,
 * bad_parameter or unknown_parameter).
 */
int request_lease_body(const char *body, size_t len,
		       struct request_lease *out, struct request_error *err);

/*
 * Parses the body of seed 001's POST /return: {"number": N} with N an
 * integer within +-(2^53-1), or a string parse_i64 takes. Returns 0 with
 * *number set, or -EINVAL (400 bad_parameter).
 */
int request_return_body(const char *body, int64_t *number,
			struct request_error *err);

/* Parses text as a prefix of code pool d (code_prefix_parse). Returns 0
 * or its error (400 bad_prefix, the message says which). */
int request_prefix(const struct pool_def *d, const char *text,
		   struct code_prefix *out, struct request_error *err);

/* A code job's body, parsed. */
struct request_job {
	uint64_t count;		/* 1 to REQUEST_JOB_COUNT_MAX */
	char prefix[CODE_PATTERN_MAX + 1]; /* as given ("" if none) */
	struct code_prefix pfx;	/* parsed for pool d */
};

/*
 * Parses the body of POST /pools/{name}/jobs for code pool d:
 * {"count": N, "prefix": "AAA"}, "prefix" optional, no other key, no key
 * twice. Returns 0 with *out filled, or -EINVAL / a request_prefix error
 * (400 bad_json, bad_parameter, unknown_parameter or bad_prefix).
 */
int request_job_body(const struct pool_def *d, const char *body,
		     struct request_job *out, struct request_error *err);

/* A job's id in a path segment: 1 to 2^63-1 without leading zeros.
 * Returns 0 or -EINVAL (404 not_found). */
int request_job_id(const char *text, uint64_t *id,
		   struct request_error *err);

/*
 * A value of random pool d (int, float or code) in a path segment
 * (value_parse). Returns 0 with *k its index, -EINVAL for text that is
 * not one, or -ERANGE for a number outside the pool (400 bad_value
 * either way, the message says which).
 */
int request_value(const struct pool_def *d, const char *text, uint64_t *k,
		  struct request_error *err);

/*
 * True if an Authorization header (NULL when absent) grants the admin
 * routes: always when token is NULL (none is configured), else only
 * "Bearer", in any case (RFC 7235: "bearer", "BEARER"), then one or more
 * spaces, then exactly token. Its time depends on the lengths, not on
 * where a guess differs.
 */
bool request_auth_ok(const char *authorization, const char *token);

/*
 * True if an Accept header (NULL when absent) asks for text/plain over
 * application/json: text/plain or "text/" + "*" is listed, with a q above
 * 0 and above the q of application/json (from application/json,
 * "application/" + "*" or "*" + "/" + "*", the most specific listed). A
 * tie, no header, or "*" + "/" + "*" alone keep JSON, the default. Media
 * types compare in any case; an element whose q is not an RFC 9110
 * qvalue is ignored.
 */
bool request_wants_text(const char *accept);

#endif
