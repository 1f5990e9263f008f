/*
 * pools.h: everything open on one data directory (struct pools): the
 * ledger, and each pool of the configuration, by kind: random pools
 * (rpool.h), sequence pools (seq.h), lease pools (lease.h). Code pools
 * are random pools whose ledger side is codepool.h and codejob.h.
 *
 * Lifecycle words, one meaning each, in every module:
 *   foo_init     sets up caller-owned memory;
 *   foo_open     the same for what is on disk (opens or creates files);
 *   foo_release  frees what an init or open set up, not the struct;
 *   foo_start    allocates and starts threads (*out set);
 *   foo_stop     asks them to stop and joins them: frees nothing;
 *   foo_free     frees what foo_start allocated, after foo_stop (or
 *                what any allocating constructor returned).
 */
#ifndef UNIQ_POOLS_H
#define UNIQ_POOLS_H

#include <stdbool.h>
#include <stddef.h>

#include "common/config.h"
#include "ledger/ledger.h"
#include "pools/lease.h"
#include "pools/rpool.h"
#include "pools/seq.h"

struct pools {
	const struct config *cfg;
	struct ledger ledger;
	struct rpool *pools;	/* the random pools of cfg, in order */
	size_t npools;
	struct seq *seqs;	/* the sequence pools, in order */
	size_t nseqs;
	struct lease *leases;	/* the lease pools, in order */
	size_t nleases;
};

struct pools_opts {
	bool create;			/* create missing files (server,
					   init) */
	bool readonly;			/* only read (uniqctl lookup, verify,
					   status): no writer locks taken */
	bool leases;			/* open the lease pools, fitting their
					   records to the configuration (which
					   may end leases out of range): the
					   server only, never a tool run beside
					   it with a config of its own */
	const uint8_t *cluster_keys;	/* a cluster node's: the cluster's
					   key of each random pool of cfg,
					   PERM_KEY_LEN bytes at i *
					   PERM_KEY_LEN for cfg->pools[i]
					   (cluster_pool_define); NULL
					   standalone */
};

/*
 * Checks that dir is a uniqd data directory, missing, or empty: pointing
 * uniqd at some other directory full of files must not scatter files in
 * it. Returns 0, or -EPROTO with a sentence in err.
 */
int pools_check_dir(const char *dir, char *err, size_t errlen);

/*
 * Opens <data_dir>/ledger.mdb, the shards of every random pool of cfg, the
 * sequence pools and (with o->create: their free lists are the server's)
 * the lease pools, making sure each pool exists in the ledger with the
 * parameters of cfg (see ledger_rec_ensure). cfg must outlive ps. On
 * failure err says why, nothing is left open, and a negative errno is returned.
 */
int pools_open(struct pools *ps, const struct config *cfg,
	       const struct pools_opts *o, char *err, size_t errlen);

/* Closes everything and frees what ps holds (not ps). Hoppers must have
 * been put back (rpool_put_back) or are burned. No other call may be
 * running. */
void pools_release(struct pools *ps);

/* The random pool called name, or NULL. */
struct rpool *pools_random(struct pools *ps, const char *name);

/* The sequence pool called name, or NULL. */
struct seq *pools_seq(struct pools *ps, const char *name);

/* The lease pool called name, or NULL. */
struct lease *pools_lease(struct pools *ps, const char *name);

/* The pool of any kind called name: its kind, or -1 if there is none. */
int pools_kind(struct pools *ps, const char *name);

#endif
