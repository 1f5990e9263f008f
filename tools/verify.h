/*
 * verify.h: the proof behind `uniqctl verify`: that no value of a random
 * pool is held twice, and that nothing sits in a shard without the
 * ledger having issued it there.
 *
 * For a pool it takes a snapshot of every shard first and of the ledger
 * second (a value is committed to the ledger before it enters a shard, so
 * anything in those shard snapshots is in the later ledger snapshot),
 * then checks:
 *   1. the grants tile [0, counter) exactly (a cluster pool's: its
 *      blocks in order, up to counter), counter <= capacity, and no
 *      two grants share a sequence number of one shard;
 *   2. every shard entry (seq, v) is a value of the pool, perm(perm^-1(v))
 *      == v, and the grant holding perm^-1(v) put it in this shard at
 *      this very sequence number.
 * Since sequence numbers are keys, two entries holding one value would
 * need one (shard, seq) place: check 2 fails for all but one of them. So
 * a clean report proves that every value ready to serve is held exactly
 * once, and was issued exactly once.
 *
 * Code pools have more: every stream (the root and each prefix's) must
 * tile its grants, hold in its sorted runs exactly counter - skipped
 * codes, and no code may be in two runs, of one stream or of two: a k-way
 * merge of all the pool's runs proves that (verify_code_streams).
 *
 * Safe to run while uniqd serves the same data directory.
 */
#ifndef UNIQ_VERIFY_H
#define UNIQ_VERIFY_H

#include <stdint.h>
#include <stdio.h>

#include "pools/pools.h"

struct verify_report {
	uint64_t grants;	/* ledger grants of the pool */
	uint64_t issued;	/* the pool's counter */
	uint64_t in_shards;	/* entries walked in its shards */
	uint64_t issued_codes;	/* code pools: codes in all streams' runs */
	uint64_t problems;	/* violations found (each printed to out) */
};

/* Verifies pool p, printing each problem (at most 20 in full) to out.
 * Returns 0 when the walk completed (look at r->problems), or a negative
 * errno when it could not read the ledger or a shard. */
int verify_pool(struct rpool *p, FILE *out, struct verify_report *r);

/* For a code pool: the checks on all its streams above, adding to r.
 * Returns 0 when the walk completed, or a negative errno. */
int verify_code_streams(struct rpool *p, FILE *out, struct verify_report *r);

#endif
