/*
 * store.c: LMDB environments and error mapping; see store.h.
 */
#include <errno.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/log.h"
#include "common/store.h"
#include "common/banned.h"

/* The last LMDB-specific code this thread mapped, for store_strerror. */
static _Thread_local int last_mdb_code;

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
	return map_err(rc);
}

const char *store_strerror(int rc)
{
	if (rc < 0 && last_mdb_code && map_err(last_mdb_code) == rc)
		return mdb_strerror(last_mdb_code);
	return log_strerror(rc);
}

int store_open(const char *path, const struct store_opts *o, MDB_env **envp)
{
	unsigned flags = MDB_NOSUBDIR | MDB_NOTLS;
	MDB_env *env = NULL;
	struct stat st;
	int rc;

	*envp = NULL;
	if (!o->create && stat(path, &st) != 0)
		return -ENOENT;
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
	*envp = env;
	env = NULL;
out:
	if (rc)
		log_error("%s: %s", path, mdb_strerror(rc));
	if (env)
		mdb_env_close(env);
	return store_err(rc);
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
		mdb_txn_abort(txn);
		return rc;
	}
	return store_err(mdb_txn_commit(txn));
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
