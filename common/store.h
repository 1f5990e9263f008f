/*
 * store.h: what the ledger and the shards share about LMDB: opening an
 * environment, and the one place where LMDB's return codes map to ours.
 *
 * Error mapping (store_err): LMDB returns 0, a positive errno, or one of
 * its own MDB_* codes. Ours are 0 or a negative errno:
 *
 *   MDB_NOTFOUND                      -> -ENOENT
 *   MDB_KEYEXIST                      -> -EEXIST
 *   MDB_MAP_FULL, MDB_TXN_FULL,
 *   MDB_CURSOR_FULL, MDB_PAGE_FULL    -> -ENOSPC
 *   MDB_READERS_FULL, MDB_MAP_RESIZED -> -EAGAIN
 *   MDB_INVALID, MDB_VERSION_MISMATCH -> -EPROTO  (not an LMDB file of ours)
 *   MDB_CORRUPTED, MDB_PAGE_NOTFOUND,
 *   MDB_PANIC, MDB_BAD_*              -> -EIO
 *   positive errno e                  -> -e
 *   negative errno -e (already ours)  -> -e
 *
 * The caller that logs an error keeps LMDB's own text: store_strerror(rc)
 * gives mdb_strerror of the LMDB code this thread last mapped to rc
 * ("MDB_MAP_FULL: Environment mapsize limit reached" rather than "No space
 * left on device"), or the errno's text.
 */
#ifndef UNIQ_STORE_H
#define UNIQ_STORE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <lmdb.h>

/* Maps an LMDB return code to 0 or a negative errno (table above). */
int store_err(int mdb_rc);

/* The text to log for rc, a result of store_err (see above). */
const char *store_strerror(int rc);

struct store_opts {
	size_t map_size;	/* bytes of address space reserved */
	unsigned max_dbs;	/* named databases */
	bool sync;		/* false: MDB_NOSYNC (survives a process
				   crash, not a power loss) */
	bool create;		/* false: the file must exist */
	bool readonly;		/* MDB_RDONLY: only read transactions */
};

/*
 * Opens (and with o->create, creates) the single-file environment at path
 * (its lock file is path + "-lock"), mode 0600, with MDB_NOTLS so read
 * transactions are not tied to threads, and clears reader slots left by
 * dead processes. On success *envp is open (close it with store_close);
 * on failure it is NULL and nothing is left open. A file shorter than
 * LMDB's two meta pages is a creation killed before its first write
 * finished, which holds nothing: read-only or without o->create it counts
 * as missing, and a creating writer creates it again. Returns 0, -ENOENT
 * (missing, or such a file, and not created), or an error of store_err.
 */
int store_open(const char *path, const struct store_opts *o, MDB_env **envp);

/* Closes an environment of store_open. No transaction may be open. */
void store_close(MDB_env *env);

/*
 * Transactions of store_open's environments go through these three,
 * which take the same arguments and return what LMDB's do (map the codes
 * with store_err). They let the map grow while the process runs:
 *
 * DESIGN (map growth)
 * LMDB's map (the most the file may grow to) can only be changed while no
 * transaction of the process is open on the environment. Each
 * environment has a gate, a reader-preferring rwlock: every transaction
 * holds it shared from begin to commit or abort; growing takes it
 * exclusive, so it waits until no transaction is open, changes the map and
 * lets the others on. When a write fails with MDB_MAP_FULL (at a put or at
 * the commit), the thread that ends that transaction doubles the map
 * (unless another thread already made room) and the failed operation
 * reports -ENOSPC once: every writer of uniqd retries (refill and jobs
 * back off and try again, requests answer 503 with Retry-After), and the
 * retry finds room. When another process (uniqctl) grew the file's map, a
 * begin gets MDB_MAP_RESIZED: the map is adopted the same way and the
 * begin retried. A transaction must end on the thread that began it (the
 * gate is a lock), and a thread must not wait for another thread while it
 * holds a transaction of an environment that thread may grow.
 */
int store_txn_begin(MDB_env *env, MDB_txn *parent, unsigned flags,
		    MDB_txn **txn);
int store_txn_commit(MDB_txn *txn);
void store_txn_abort(MDB_txn *txn);

/* Times the map of an environment was grown or adopted, since start. */
unsigned long store_map_growths(MDB_env *env);

/*
 * Clears the reader slots of dead processes (a uniqctl killed during a
 * read): a dead reader pins an old snapshot, so that LMDB cannot reuse
 * freed pages and the file grows until its map is full. Cheap; called at
 * open and then periodically by the threads that write. Returns 0 or a
 * negative errno.
 */
int store_reader_check(MDB_env *env, const char *what);

/* Commits txn, or aborts it when rc is already an error; returns the
 * first error (as store_err). The transaction is finished either way. */
int store_finish(MDB_txn *txn, int rc);

/* An MDB_val for n bytes at p (LMDB takes keys and values without
 * const; it never writes through them). */
static inline MDB_val store_val(const void *p, size_t n)
{
	MDB_val v = { n, (void *)(uintptr_t)p };

	return v;
}

/* What store_scan calls for each key: 0 to go on, a positive number to
 * stop the walk there, or a negative errno to fail it. */
typedef int (*store_scan_fn)(const MDB_val *k, const MDB_val *v, void *arg);

/*
 * Walks dbi in txn in key order from the first key >= from (from_len
 * bytes; from_len 0: from the first key), calling fn for each key that
 * begins with the first prefix_len bytes of from (prefix_len 0: every
 * key), and stops at the first key that does not. fn checks the sizes
 * of what it is given. Returns 0 at the end of the prefix, what fn
 * returned if not 0, or an error of store_err.
 */
int store_scan(MDB_txn *txn, MDB_dbi dbi, const void *from, size_t from_len,
	       size_t prefix_len, store_scan_fn fn, void *arg);

/* Big-endian 32/64-bit keys, so LMDB's byte order is numeric order. */
void store_put_be32(unsigned char *b, unsigned v);
void store_put_be64(unsigned char *b, unsigned long long v);
unsigned store_get_be32(const unsigned char *b);
unsigned long long store_get_be64(const unsigned char *b);

#endif
