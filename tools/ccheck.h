/*
 * ccheck.h: uniqctl's checks of a cluster kept on etcd (uniqctl --etcd
 * URLS verify | status), beside the checks of one data directory
 * (verify.h).
 *
 * ccheck_verify proves, from one read of etcd (a single revision):
 *   1. for every random pool of the configuration that etcd defines,
 *      the blocks under pool/<name>/block/ are disjoint and tile
 *      [0, counter) exactly, each names a node, and counter <= capacity;
 *   2. with a data directory (lg, of node `node`, id dir_id from its
 *      cluster.id): every block in that node's ledger is a block of that
 *      node and directory in etcd, with the same first and count, and
 *      etcd has no block of them beyond the ledger's but its last one
 *      (the window between a reservation and its ledger write, which the
 *      node adopts when it starts again). Blocks of the node's name from
 *      another directory (a disk lost) are counted as burned;
 *   3. every lease key under lease/<pool>/ is a number of that pool
 *      and holds a holder (one key per number: a number cannot be out
 *      twice in etcd; a lease out is a key).
 * Problems are printed to out, one a line, "PROBLEM ..."; *problems
 * counts them.
 */
#ifndef UNIQ_CCHECK_H
#define UNIQ_CCHECK_H

#include <stdio.h>

#include "common/config.h"
#include "ledger/ledger.h"

/* Runs the checks above (lg NULL: without a data directory). Returns 0
 * (problems or not: see *problems) or a negative errno (etcd could not be
 * read: -EAGAIN). */
int ccheck_verify(const char *endpoints, const struct config *cfg,
		  struct ledger *lg, const char *node, const char *dir_id,
		  FILE *out, unsigned *problems);

/* Prints the cluster: its nodes (live or not, last contact), and per
 * random pool the counter and each node's blocks and values. Returns 0
 * or a negative errno. */
int ccheck_status(const char *endpoints, const struct config *cfg,
		  FILE *out);

#endif
