/*
 * answer.h: what uniqd-stress reads from the JSON body of an answer: the
 * top-level "number", "shard" and "error", as raw text inside the body.
 * Just enough JSON for that and no conversion: a number stays exactly as
 * the server wrote it (a float value compares as received), a string
 * keeps its escapes. The body is never copied; the struct answer points
 * into it and lives no longer than it.
 */
#ifndef UNIQ_STRESS_ANSWER_H
#define UNIQ_STRESS_ANSWER_H

#include <stddef.h>

/* A field absent (or of another JSON type) is NULL with length 0. */
struct answer {
	const char *number, *shard, *error;
	size_t number_len, shard_len, error_len;
};

/*
 * Reads body[0..len) as one JSON object and picks "number" (a number, or
 * a string), "shard" and "error" (strings); other members are checked
 * and skipped, nested at most 32 deep. Returns 0, or -EINVAL for anything
 * that is not exactly one JSON object (a may then hold some fields).
 */
int answer_parse(struct answer *a, const char *body, size_t len);

#endif
