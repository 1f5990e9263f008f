/*
 * pools.c: a data directory and all its pools; see pools.h.
 */
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "cluster/cluster.h"
#include "common/log.h"
#include "pools/pools.h"
#include "common/banned.h"

static int make_dir(const char *path)
{
	if (mkdir(path, 0700) == 0 || errno == EEXIST)
		return 0;
	return -errno;
}

int pools_check_dir(const char *dir, char *err, size_t errlen)
{
	char path[1200];
	struct dirent *de;
	struct stat st;
	DIR *d;
	int others = 0;

	if (snprintf(path, sizeof(path), "%s/%s", dir, LEDGER_FILE) >=
	    (int)sizeof(path))
		return -ENAMETOOLONG;
	if (stat(path, &st) == 0)
		return 0;
	d = opendir(dir);
	if (!d)
		return 0; /* does not exist yet: will be created */
	while ((de = readdir(d)))
		if (strcmp(de->d_name, ".") && strcmp(de->d_name, "..") &&
		    strcmp(de->d_name, "uniqd.lock") &&
		    strcmp(de->d_name, CLUSTER_DIR_ID_FILE) &&
		    strcmp(de->d_name, "shards"))
			others++;
	closedir(d);
	if (others) {
		snprintf(err, errlen,
			 "%s holds files but no %s: it is not a uniqd data "
			 "directory, and uniqd will not write into it",
			 dir, LEDGER_FILE);
		return -EPROTO;
	}
	return 0;
}

int pools_open(struct pools *ps, const struct config *cfg,
	       const struct pools_opts *o, char *err, size_t errlen)
{
	struct ledger_opts lo = { .sync = cfg->sync, .create = o->create,
				  .map_size = cfg->map_size,
				  .readonly = o->readonly };
	char path[1200];
	size_t i, n = 0;
	int rc;

	memset(ps, 0, sizeof(*ps));
	ps->cfg = cfg;
	if (errlen)
		*err = '\0';
	if (o->create) {
		rc = pools_check_dir(cfg->data_dir, err, errlen);
		if (rc)
			return rc;
		snprintf(path, sizeof(path), "%s/shards", cfg->data_dir);
		if ((rc = make_dir(cfg->data_dir)) || (rc = make_dir(path))) {
			snprintf(err, errlen, "cannot create %s: %s", path,
				 log_strerror(rc));
			return rc;
		}
	}
	if (snprintf(path, sizeof(path), "%s/%s", cfg->data_dir,
		     LEDGER_FILE) >= (int)sizeof(path))
		return -ENAMETOOLONG;
	rc = ledger_open(&ps->ledger, path, &lo);
	if (rc) {
		snprintf(err, errlen, "cannot open the ledger %s: %s", path,
			 rc == -EPROTO ? "not a uniqd ledger" :
			 rc == -ENOENT ? "no such file (run uniqctl init or "
					 "start uniqd first)" :
			 log_strerror(rc));
		return rc;
	}
	for (i = 0; i < cfg->npools; i++)
		if (config_kind_is_random(cfg->pools[i].kind))
			n++;
	ps->pools = calloc(n ? n : 1, sizeof(*ps->pools));
	ps->seqs = calloc(cfg->npools - n ? cfg->npools - n : 1,
			  sizeof(*ps->seqs));
	ps->leases = calloc(cfg->npools - n ? cfg->npools - n : 1,
			    sizeof(*ps->leases));
	if (!ps->pools || !ps->seqs || !ps->leases) {
		rc = -ENOMEM;
		goto out;
	}
	for (i = 0; i < cfg->npools; i++) {
		const struct pool_def *d = &cfg->pools[i];

		if (config_kind_is_random(d->kind)) {
			rc = rpool_open(&ps->pools[ps->npools], &ps->ledger,
					cfg, d, o->create, o->readonly,
					o->cluster_keys ?
					o->cluster_keys + i * PERM_KEY_LEN :
					NULL, err, errlen);
			if (rc)
				goto out;
			ps->npools++;
		} else if (d->kind == POOL_SEQUENCE) {
			rc = o->cluster_keys ?
			     seq_open_cluster(&ps->seqs[ps->nseqs],
					      &ps->ledger, d, err, errlen) :
			     seq_open(&ps->seqs[ps->nseqs], &ps->ledger, d,
				      o->create, err, errlen);
			if (rc)
				goto out;
			ps->nseqs++;
		} else if (d->kind == POOL_LEASE && o->leases) {
			rc = lease_open(&ps->leases[ps->nleases], &ps->ledger,
					d, err, errlen);
			if (rc)
				goto out;
			ps->nleases++;
		}
	}
	rc = 0;
out:
	if (rc && errlen && !*err) /* a step that does not say why */
		snprintf(err, errlen, "cannot open %s%s%s: %s",
			 i < cfg->npools ? "pool \"" : "the pools",
			 i < cfg->npools ? cfg->pools[i].name : "",
			 i < cfg->npools ? "\"" : "", log_strerror(rc));
	if (rc)
		pools_release(ps);
	return rc;
}

void pools_release(struct pools *ps)
{
	size_t i;

	for (i = 0; i < ps->npools; i++)
		rpool_release(&ps->pools[i]);
	for (i = 0; i < ps->nseqs; i++)
		seq_release(&ps->seqs[i]);
	for (i = 0; i < ps->nleases; i++)
		lease_release(&ps->leases[i]);
	free(ps->pools);
	free(ps->seqs);
	free(ps->leases);
	ps->leases = NULL;
	ps->nleases = 0;
	ps->pools = NULL;
	ps->seqs = NULL;
	ps->npools = 0;
	ps->nseqs = 0;
	ledger_release(&ps->ledger);
}

struct rpool *pools_random(struct pools *ps, const char *name)
{
	size_t i;

	for (i = 0; i < ps->npools; i++)
		if (!strcmp(ps->pools[i].def->name, name))
			return &ps->pools[i];
	return NULL;
}

struct seq *pools_seq(struct pools *ps, const char *name)
{
	size_t i;

	for (i = 0; i < ps->nseqs; i++)
		if (!strcmp(ps->seqs[i].def->name, name))
			return &ps->seqs[i];
	return NULL;
}

struct lease *pools_lease(struct pools *ps, const char *name)
{
	size_t i;

	for (i = 0; i < ps->nleases; i++)
		if (!strcmp(ps->leases[i].def->name, name))
			return &ps->leases[i];
	return NULL;
}

int pools_kind(struct pools *ps, const char *name)
{
	const struct pool_def *d = config_pool(ps->cfg, name);

	return d ? (int)d->kind : -1;
}
