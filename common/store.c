/*
 * store.c: LMDB environments and error mapping; see store.h.
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/clock.h"
#include "common/log.h"
#include "common/store.h"
#include "common/banned.h"

#define GROW_WAIT_MS 5000

/* One per environment of store_open (its LMDB user context); see the
 * DESIGN block on map growth in store.h. */
struct gate {
	pthread_rwlock_t lock;
	_Atomic unsigned long growths;
	char path[256];		/* for the log */
};

/* The last LMDB-specific code this thread mapped, for store_strerror. */
static _Thread_local int last_mdb_code;

/* A put of this thread's open write transaction found the map full: the
 * abort that ends it grows the map. A full commit grows it itself. */
static _Thread_local bool map_full_seen;

/* The text of an LMDB result: LMDB's own codes from its table, errnos
 * from log_strerror (mdb_strerror would hand them to strerror, which is
 * not thread safe). */
static const char *mdb_text(int rc)
{
	if (rc >= MDB_KEYEXIST && rc <= MDB_LAST_ERRCODE)
		return mdb_strerror(rc);
	return log_strerror(rc);
}

static int map_err(int rc)
{
	switch (rc) {
	case MDB_SUCCESS:
		return 0;
	case MDB_NOTFOUND:
		return -ENOENT;
	case MDB_KEYEXIST:
		return -EEXIST;
	case MDB_MAP_FULL:
	case MDB_TXN_FULL:
	case MDB_CURSOR_FULL:
	case MDB_PAGE_FULL:
		return -ENOSPC;
	case MDB_READERS_FULL:
	case MDB_MAP_RESIZED:
		return -EAGAIN;
	case MDB_INVALID:
	case MDB_VERSION_MISMATCH:
		return -EPROTO;
	default:
		if (rc > 0)
			return -rc;
		if (rc > -4096)
			return rc; /* already a negative errno */
		return -EIO;
	}
}

int store_err(int rc)
{
	if (rc < 0)
		last_mdb_code = rc;
	if (rc == MDB_MAP_FULL)
		map_full_seen = true;
	return map_err(rc);
}

const char *store_strerror(int rc)
{
	if (rc < 0 && last_mdb_code && map_err(last_mdb_code) == rc)
		return mdb_text(last_mdb_code);
	return log_strerror(rc);
}

/*
 * A new environment's creation is open(2), then one write of its two
 * meta pages (LMDB's mdb_env_init_meta). A kill between the two leaves
 * the file empty; a kill inside the write (the kernel stops a write at a
 * page boundary for a fatal signal) leaves only meta page 0. Either way
 * no transaction ever committed: the file holds nothing. LMDB itself
 * takes an empty file for a new environment, but read-only it then tries
 * to write the meta pages and fails with EBADF; and it refuses the short
 * file as invalid, forever.
 *
 * Returns true for such a file: empty, or starting with LMDB's meta page
 * 0 (page number 0, the P_META flag and the magic, as mdb.c lays them
 * out) and shorter than two of the pages that meta records (its page
 * size, not this machine's: a file made where pages are smaller is whole).
 * Anything else short is left to LMDB, which refuses it: it may be
 * someone else's file.
 */
static bool creation_was_cut(int fd, const struct stat *st)
{
	/* MDB_page header, then MDB_meta: magic, version, address, map
	 * size, then the free DB whose md_pad holds the page size. */
	enum { PAGE_FLAGS = 10, META_MAGIC = 16, META_PSIZE = 40,
	       P_META = 0x08 };
	const uint32_t magic = 0xBEEFC0DE;
	unsigned char head[META_PSIZE + 4];
	uint32_t m, psize;
	uint64_t pgno;
	uint16_t fl;

	if (!S_ISREG(st->st_mode))
		return false;
	if (st->st_size == 0)
		return true;
	if (st->st_size < (off_t)sizeof(head) ||
	    pread(fd, head, sizeof(head), 0) != (ssize_t)sizeof(head))
		return false;
	memcpy(&pgno, head, sizeof(pgno));
	memcpy(&fl, head + PAGE_FLAGS, sizeof(fl));
	memcpy(&m, head + META_MAGIC, sizeof(m));
	memcpy(&psize, head + META_PSIZE, sizeof(psize));
	if (pgno != 0 || !(fl & P_META) || m != magic)
		return false;
	if (psize < 512 || psize > 65536 || (psize & (psize - 1)))
		return false;
	return st->st_size < 2 * (off_t)psize;
}

/*
 * Whether the file at path is a cut creation (see creation_was_cut);
 * false if it is missing or cannot be read, which LMDB then reports.
 */
static bool path_is_cut_creation(const char *path)
{
	struct stat st;
	bool cut;
	int fd;

	fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK);
	if (fd < 0)
		return false;
	cut = fstat(fd, &st) == 0 && creation_was_cut(fd, &st);
	close(fd);
	return cut;
}

/*
 * Truncates a cut creation that is not empty, so that LMDB creates the
 * environment anew, unless another process has the environment open (or
 * is creating it): a writer holds a lock on byte 0 of the lock file from
 * before it opens the data file to its close (LMDB's
 * mdb_env_setup_locks), so taking that byte exclusively proves nobody
 * does. While it is held, an opener in another process waits for it. The
 * file is judged again, and truncated, through one descriptor, so a file
 * renamed over it meanwhile is not cut by its name. Failures are left to
 * LMDB's open to report. The close releases the fcntl lock; this process
 * has no other descriptor of that lock file (an environment is opened
 * once).
 */
static void discard_cut_creation(const char *path)
{
	struct flock fl = { .l_type = F_WRLCK, .l_whence = SEEK_SET,
			    .l_start = 0, .l_len = 1 };
	char lpath[4096];
	struct stat st;
	int lfd = -1, fd = -1;

	if (snprintf(lpath, sizeof(lpath), "%s-lock", path) >=
	    (int)sizeof(lpath))
		goto out;
	lfd = open(lpath, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
	if (lfd < 0)
		goto out;
	if (fcntl(lfd, F_SETLK, &fl) != 0) {
		log_debug("%s: in use by another process; left to LMDB", path);
		goto out;
	}
	fd = open(path, O_RDWR | O_CLOEXEC | O_NONBLOCK);
	if (fd < 0 || fstat(fd, &st) != 0 || st.st_size == 0 ||
	    !creation_was_cut(fd, &st))
		goto out;
	if (ftruncate(fd, 0) == 0)
		log_warn("%s: %lld bytes, less than its two meta pages: its "
			 "creation was cut; it held nothing, so it is created "
			 "again", path, (long long)st.st_size);
	else
		log_warn("%s: cannot truncate a cut creation: %s", path,
			 log_strerror(-errno));
out:
	if (fd >= 0)
		close(fd);
	if (lfd >= 0)
		close(lfd);
}

int store_open(const char *path, const struct store_opts *o, MDB_env **envp)
{
	unsigned flags = MDB_NOSUBDIR | MDB_NOTLS;
	MDB_env *env = NULL;
	struct gate *g = NULL;
	struct stat st;
	int rc;

	*envp = NULL;
	if (stat(path, &st) != 0) {
		if (!o->create || o->readonly)
			return -ENOENT;
	} else if (path_is_cut_creation(path)) {
		/* Not there yet, unless this open creates it. */
		if (!o->create || o->readonly)
			return -ENOENT;
		if (st.st_size > 0)
			discard_cut_creation(path);
	}
	if (!o->sync)
		flags |= MDB_NOSYNC;
	rc = mdb_env_create(&env);
	if (rc)
		goto out;
	rc = mdb_env_set_mapsize(env, o->map_size);
	if (rc)
		goto out;
	rc = mdb_env_set_maxdbs(env, o->max_dbs);
	if (rc)
		goto out;
	rc = mdb_env_set_maxreaders(env, 510);
	if (rc)
		goto out;
	if (o->readonly)
		flags |= MDB_RDONLY;
	rc = mdb_env_open(env, path, flags, 0600);
	if (rc)
		goto out;
	rc = store_reader_check(env, path);
	if (rc)
		goto out;
	g = calloc(1, sizeof(*g));
	if (!g) {
		rc = ENOMEM;
		goto out;
	}
	rc = pthread_rwlock_init(&g->lock, NULL); /* readers first: the
						     default of glibc */
	if (rc)
		goto out;
	snprintf(g->path, sizeof(g->path), "%s", path);
	rc = mdb_env_set_userctx(env, g);
	if (rc) {
		pthread_rwlock_destroy(&g->lock);
		goto out;
	}
	g = NULL;
	*envp = env;
	env = NULL;
out:
	if (rc)
		log_error("%s: %s", path, mdb_text(rc));
	free(g);
	if (env)
		mdb_env_close(env);
	return store_err(rc);
}

void store_close(MDB_env *env)
{
	struct gate *g;

	if (!env)
		return;
	g = mdb_env_get_userctx(env);
	mdb_env_close(env);
	if (g) {
		pthread_rwlock_destroy(&g->lock);
		free(g);
	}
}

/* The map's size now. */
static size_t map_size(MDB_env *env)
{
	MDB_envinfo info;

	return mdb_env_info(env, &info) ? 0 : info.me_mapsize;
}

/*
 * With the gate held exclusive (no transaction of this process open):
 * adopt the file's map as another process set it (adopt), or double the
 * map that was `seen` full, unless another thread grew it meanwhile.
 */
static void grow(MDB_env *env, struct gate *g, bool adopt, size_t seen)
{
	struct timespec deadline = clock_mono_deadline(GROW_WAIT_MS);
	size_t now, size;
	int rc;

	/* Bounded: a transaction of this very thread still open on env
	 * would wait for us forever. Then the next MDB_MAP_FULL tries
	 * again. */
	rc = pthread_rwlock_clockwrlock(&g->lock, CLOCK_MONOTONIC, &deadline);
	if (rc) {
		log_warn("%s: transactions stayed open for %d s: the map is "
			 "not %s this time", g->path, GROW_WAIT_MS / 1000,
			 adopt ? "adopted" : "grown");
		return;
	}
	if (adopt) {
		rc = mdb_env_set_mapsize(env, 0);
		if (rc == 0) {
			atomic_fetch_add(&g->growths, 1);
			log_info("%s: map grown by another process to %zu "
				 "MiB; adopted", g->path, map_size(env) >> 20);
		}
		goto out;
	}
	now = map_size(env);
	if (!seen || now > seen)
		goto out; /* grown meanwhile */
	size = now * 2;
	rc = mdb_env_set_mapsize(env, size);
	if (rc == 0) {
		atomic_fetch_add(&g->growths, 1);
		log_info("%s: map full at %zu MiB; grown to %zu MiB", g->path,
			 now >> 20, size >> 20);
	}
out:
	pthread_rwlock_unlock(&g->lock);
	if (rc)
		log_error("%s: cannot %s the map: %s", g->path,
			  adopt ? "adopt" : "grow", mdb_text(rc));
}

int store_txn_begin(MDB_env *env, MDB_txn *parent, unsigned flags,
		    MDB_txn **txn)
{
	struct gate *g = mdb_env_get_userctx(env);
	int rc, tries;

	for (tries = 0;; tries++) {
		if (g)
			pthread_rwlock_rdlock(&g->lock);
		rc = mdb_txn_begin(env, parent, flags, txn);
		if (rc == 0)
			return 0;
		if (g)
			pthread_rwlock_unlock(&g->lock);
		if (rc != MDB_MAP_RESIZED || !g || tries == 3)
			return rc;
		grow(env, g, true, 0);
	}
}

int store_txn_commit(MDB_txn *txn)
{
	MDB_env *env = mdb_txn_env(txn);
	struct gate *g = mdb_env_get_userctx(env);
	int rc = mdb_txn_commit(txn);
	size_t seen = 0;

	if (rc == MDB_MAP_FULL && g)
		seen = map_size(env); /* cannot change before the unlock */
	if (g)
		pthread_rwlock_unlock(&g->lock);
	if (seen)
		grow(env, g, false, seen);
	return rc;
}

void store_txn_abort(MDB_txn *txn)
{
	MDB_env *env = mdb_txn_env(txn);
	struct gate *g = mdb_env_get_userctx(env);

	size_t seen = 0;

	mdb_txn_abort(txn);
	/* A put of this transaction found the map full (its code went
	 * through store_err on this thread). */
	if (map_full_seen && g) {
		map_full_seen = false;
		seen = map_size(env);
	}
	if (g)
		pthread_rwlock_unlock(&g->lock);
	if (seen)
		grow(env, g, false, seen);
}

unsigned long store_map_growths(MDB_env *env)
{
	struct gate *g = mdb_env_get_userctx(env);

	return g ? atomic_load(&g->growths) : 0;
}

int store_reader_check(MDB_env *env, const char *what)
{
	int dead = 0, rc;

	rc = mdb_reader_check(env, &dead);
	if (rc)
		return store_err(rc);
	if (dead)
		log_warn("%s: cleared %d reader slot(s) left by dead processes",
			 what, dead);
	return 0;
}

int store_finish(MDB_txn *txn, int rc)
{
	if (rc) {
		store_txn_abort(txn);
		return rc;
	}
	rc = store_err(store_txn_commit(txn));
	/* A full commit grew the map already (store_txn_commit): this
	 * thread's next abort, maybe of a read, must not grow it again. */
	map_full_seen = false;
	return rc;
}

int store_scan(MDB_txn *txn, MDB_dbi dbi, const void *from, size_t from_len,
	       size_t prefix_len, store_scan_fn fn, void *arg)
{
	MDB_cursor *cur = NULL;
	MDB_val k = store_val(from, from_len), v;
	int rc;

	rc = store_err(mdb_cursor_open(txn, dbi, &cur));
	if (rc)
		return rc;
	for (rc = mdb_cursor_get(cur, &k, &v,
				 from_len ? MDB_SET_RANGE : MDB_FIRST);
	     rc == 0; rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT)) {
		if (prefix_len && (k.mv_size < prefix_len ||
				   memcmp(k.mv_data, from, prefix_len)))
			break;
		rc = fn(&k, &v, arg);
		if (rc)
			goto out;
	}
	rc = rc == MDB_NOTFOUND ? 0 : store_err(rc);
out:
	mdb_cursor_close(cur);
	return rc;
}

void store_put_be32(unsigned char *b, unsigned v)
{
	b[0] = (unsigned char)(v >> 24);
	b[1] = (unsigned char)(v >> 16);
	b[2] = (unsigned char)(v >> 8);
	b[3] = (unsigned char)v;
}

void store_put_be64(unsigned char *b, unsigned long long v)
{
	store_put_be32(b, (unsigned)(v >> 32));
	store_put_be32(b + 4, (unsigned)v);
}

unsigned store_get_be32(const unsigned char *b)
{
	return (unsigned)b[0] << 24 | (unsigned)b[1] << 16 |
	       (unsigned)b[2] << 8 | b[3];
}

unsigned long long store_get_be64(const unsigned char *b)
{
	return (unsigned long long)store_get_be32(b) << 32 |
	       store_get_be32(b + 4);
}
