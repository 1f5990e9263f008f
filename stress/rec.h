/*
 * rec.h: the record of one request's result, and the duplicate check
 * over an array of them.
 *
 * A record keeps the value's text (not a double: float values compare
 * exactly as received) behind its kind, NUL-padded, so that sorting the
 * records with memcmp() over their first REC_KEY bytes brings equal
 * values of one kind together: 32 bytes per request and no hash table.
 *
 * Invariants:
 *  - kind is REC_NONE (and value all zero) unless the request got a
 *    value; then value is its text, 1 to REC_VALUE_MAX bytes, NUL-padded.
 *  - status is 0 exactly when no HTTP answer came.
 *  - A record is written once, by the thread that sent its request.
 */
#ifndef UNIQ_STRESS_REC_H
#define UNIQ_STRESS_REC_H

#include <stdint.h>

#define REC_VALUE_MAX 22	/* longest value text kept (int64: 20) */
#define REC_DUPS_LISTED 10

enum rec_kind { REC_NONE = 0, REC_INT = 1, REC_FLOAT = 2 };

enum rec_outcome { REC_OK = 0, REC_STATUS, REC_CONN, REC_TIMEOUT, REC_BAD };

struct rec {
	uint8_t kind;			/* enum rec_kind */
	char value[REC_VALUE_MAX + 1];
	uint32_t latency_us;		/* connecting included */
	uint16_t status;		/* 0: no HTTP answer */
	uint8_t outcome;		/* enum rec_outcome */
	uint8_t pad;
};
#define REC_KEY (1 + REC_VALUE_MAX + 1)
_Static_assert(sizeof(struct rec) == 32, "struct rec is 32 bytes");

/* The duplicates among some records. */
struct rec_dups {
	uint64_t count;		/* extra copies: 3 times counts 2 */
	unsigned listed;	/* entries in dup[], at most REC_DUPS_LISTED */
	struct {
		uint8_t kind;
		char value[REC_VALUE_MAX + 1];
		uint64_t times;	/* received, >= 2 */
	} dup[REC_DUPS_LISTED];
};

/*
 * Finds the values received more than once for one kind (int and float
 * are separate pools) among recs[0..n): sorts recs by key (their order is
 * lost: call it last), counts every extra copy into d->count and lists
 * the first REC_DUPS_LISTED repeated values in key order. Records without
 * a value are never duplicates. Cannot fail; d is overwritten.
 */
void rec_find_dups(struct rec_dups *d, struct rec *recs, uint64_t n);

#endif
