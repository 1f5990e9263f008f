/*
 * cluster.c: a node's session on etcd, the pools' definitions, and the
 * fence (see cluster.h for the keys and the DESIGN).
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cJSON.h>

#include "cluster/cluster.h"
#include "common/clock.h"
#include "common/log.h"
#include "common/worker.h"
#include "common/banned.h"

#define SEEN_EVERY_MS 10000	/* how often seen/<node> is rewritten */
#define FENCE_MARGIN_NS 1000000000ull

struct cluster {
	char *endpoints;
	char node[CLUSTER_NODE_MAX + 1];
	char session_key[CLUSTER_NODE_MAX + 32];
	char dir_id[40];		/* of the data directory */
	struct etcd *e;		/* the session thread's (cluster_start's
				   before the thread runs) */
	pthread_mutex_t lock;	/* guards lease and create_rev for
				   cluster_session; a leaf */
	int64_t lease;		/* the session's etcd lease; 0: none */
	int64_t create_rev;	/* of the session key; 0: none */
	_Atomic uint64_t fence_ns;	/* CLOCK_MONOTONIC deadline */
	uint64_t started_ms;
	uint64_t seen_ms;	/* last write of seen/<node> (session
				   thread) */
	struct worker w;
	bool thread;
};

int cluster_key(char *buf, size_t len, const char *fmt, ...)
{
	va_list ap;
	size_t pre = strlen(CLUSTER_PREFIX);
	int n;

	if (len <= pre)
		return -ENAMETOOLONG;
	memcpy(buf, CLUSTER_PREFIX, pre);
	va_start(ap, fmt);
	n = vsnprintf(buf + pre, len - pre, fmt, ap);
	va_end(ap);
	if (n < 0 || (size_t)n >= len - pre)
		return -ENAMETOOLONG;
	return (int)pre + n;
}

static bool node_name_ok(const char *s)
{
	size_t i, n = strlen(s);

	if (n == 0 || n > CLUSTER_NODE_MAX)
		return false;
	for (i = 0; i < n; i++) {
		char ch = s[i];

		if (!((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') ||
		      (ch >= '0' && ch <= '9') || ch == '.' || ch == '_' ||
		      ch == '-'))
			return false;
	}
	return true;
}

/* Rewrites seen/<node>: {"node", "started_ms", "last_ms", "pid"}. */
static int seen_put(struct cluster *c)
{
	char key[CLUSTER_NODE_MAX + 32], *text = NULL;
	struct etcd_result res = { 0 };
	struct etcd_txn t;
	cJSON *o = cJSON_CreateObject();
	int klen, rc = -ENOMEM;

	etcd_txn_init(&t);
	klen = cluster_key(key, sizeof(key), "seen/%s", c->node);
	if (!o || klen < 0)
		goto out;
	if (!cJSON_AddStringToObject(o, "node", c->node) ||
	    !cJSON_AddNumberToObject(o, "started_ms", (double)c->started_ms) ||
	    !cJSON_AddNumberToObject(o, "last_ms", (double)clock_now_ms()) ||
	    !cJSON_AddNumberToObject(o, "pid", (double)getpid()))
		goto out;
	text = cJSON_PrintUnformatted(o);
	if (!text)
		goto out;
	etcd_txn_put(&t, true, key, (size_t)klen, text, strlen(text), 0);
	rc = etcd_txn_run(c->e, &t, &res);
	if (rc == 0)
		c->seen_ms = clock_now_ms();
out:
	etcd_result_release(&res);
	etcd_txn_release(&t);
	cJSON_free(text);
	cJSON_Delete(o);
	return rc;
}

/*
 * A session key of our name exists. If it was made from our data
 * directory, its process is gone (we hold the directory's lock, and a
 * live uniqd would too): revoke its lease, which deletes the key, so
 * that the next try takes the name at once.
 */
static bool stale_session(struct cluster *c, const struct etcd_kv *kv)
{
	cJSON *o = cJSON_Parse(kv->value);
	const cJSON *dir = cJSON_GetObjectItem(o, "dir");
	bool ended = false;

	if (cJSON_IsString(dir) && *c->dir_id &&
	    !strcmp(dir->valuestring, c->dir_id) && kv->lease) {
		log_info("cluster: node \"%s\": the session of this data "
			 "directory's last process is still there; ending it",
			 c->node);
		ended = etcd_lease_revoke(c->e, kv->lease) == 0;
	}
	cJSON_Delete(o);
	return ended;
}

/*
 * Makes a session: a lease, then the session key attached to it, only if
 * no such key exists. Returns 0, -EADDRINUSE (a session of that name is
 * live), -ESTALE (it was this directory's dead process's, and is ended:
 * try again), or a negative errno.
 */
static int session_make(struct cluster *c)
{
	struct etcd_result res = { 0 };
	struct etcd_txn t;
	uint64_t t0 = clock_mono_ns();
	int64_t lease = 0, ttl = 0;
	char val[224];
	int n, rc;

	etcd_txn_init(&t);
	rc = etcd_lease_grant(c->e, CLUSTER_TTL, &lease, &ttl);
	if (rc)
		goto out;
	n = snprintf(val, sizeof(val),
		     "{\"node\":\"%s\",\"pid\":%ld,\"started_ms\":%llu,"
		     "\"dir\":\"%s\"}", c->node, (long)getpid(),
		     (unsigned long long)c->started_ms, c->dir_id);
	if (n < 0 || (size_t)n >= sizeof(val)) {
		rc = -ENAMETOOLONG;
		goto out;
	}
	etcd_txn_cmp(&t, c->session_key, strlen(c->session_key),
		     ETCD_VERSION, ETCD_EQUAL, 0);
	etcd_txn_put(&t, true, c->session_key, strlen(c->session_key), val,
		     (size_t)n, lease);
	etcd_txn_get(&t, false, c->session_key, strlen(c->session_key),
		     false);
	rc = etcd_txn_run(c->e, &t, &res);
	if (rc)
		goto out;
	if (!res.succeeded && res.nranges == 1 && res.ranges[0].n == 1 &&
	    res.ranges[0].kvs[0].lease == lease) {
		/* Our own put, applied by a member that then timed out: the
		 * client sent it again to the next (etcd.h). */
		res.succeeded = true;
		res.revision = res.ranges[0].kvs[0].create_rev;
	}
	if (!res.succeeded) {
		rc = res.nranges == 1 && res.ranges[0].n == 1 &&
		     stale_session(c, &res.ranges[0].kvs[0]) ?
		     -ESTALE : -EADDRINUSE;
		goto out;
	}
	pthread_mutex_lock(&c->lock);
	c->lease = lease;
	c->create_rev = res.revision;
	pthread_mutex_unlock(&c->lock);
	atomic_store(&c->fence_ns,
		     t0 + (uint64_t)ttl * 1000000000ull - FENCE_MARGIN_NS);
	lease = 0;
out:
	if (lease)	/* not ours to keep: free the name's lease at once */
		(void)etcd_lease_revoke(c->e, lease);
	etcd_result_release(&res);
	etcd_txn_release(&t);
	return rc;
}

static void session_lost(struct cluster *c)
{
	atomic_store(&c->fence_ns, 0);
	pthread_mutex_lock(&c->lock);
	c->lease = 0;
	c->create_rev = 0;
	pthread_mutex_unlock(&c->lock);
}

/* The session thread: renews, remakes a lost session, rewrites seen/. */
static void *session_main(void *arg)
{
	struct cluster *c = arg;
	unsigned wait_ms = CLUSTER_TTL * 1000 / 3;
	int64_t lease, ttl;
	uint64_t t0;
	int rc;

	while (!worker_wait(&c->w, wait_ms)) {
		pthread_mutex_lock(&c->lock);
		lease = c->lease;
		pthread_mutex_unlock(&c->lock);
		wait_ms = CLUSTER_TTL * 1000 / 3;
		if (lease) {
			t0 = clock_mono_ns();
			rc = etcd_lease_keepalive(c->e, lease, &ttl);
			if (rc == 0 && ttl > 1) {
				atomic_store(&c->fence_ns,
					     t0 + (uint64_t)ttl * 1000000000ull -
						     FENCE_MARGIN_NS);
			} else if (rc == 0 || rc == -ENOENT) {
				log_warn("cluster: node \"%s\": the session "
					 "expired (stopped or cut off for "
					 "longer than %d s); making a new one",
					 c->node, CLUSTER_TTL);
				session_lost(c);
				lease = 0;
			} else {
				log_warn("cluster: renewing the session: %s "
					 "(%s)", log_strerror(rc),
					 etcd_strerror(c->e));
				wait_ms = 1000;
				continue;
			}
		}
		if (!lease) {
			rc = session_make(c);
			if (rc) {
				log_warn("cluster: node \"%s\": no session "
					 "yet: %s", c->node,
					 rc == -EADDRINUSE ?
					 "the old one is still there" :
					 etcd_strerror(c->e));
				wait_ms = 1000;
				continue;
			}
			log_info("cluster: node \"%s\": new session",
				 c->node);
		}
		if (clock_now_ms() - c->seen_ms >= SEEN_EVERY_MS)
			(void)seen_put(c);
	}
	return NULL;
}

int cluster_start(struct cluster **out, const char *endpoints,
		  const char *node, const char *dir_id, char *err,
		  size_t errlen)
{
	struct cluster *c;
	uint64_t give_up;
	bool said = false;
	int rc;

	*out = NULL;
	if (!node_name_ok(node)) {
		snprintf(err, errlen, "node name \"%s\": 1 to %d of A-Z a-z "
			 "0-9 . _ -", node, CLUSTER_NODE_MAX);
		return -EINVAL;
	}
	c = calloc(1, sizeof(*c));
	if (!c)
		return -ENOMEM;
	rc = pthread_mutex_init(&c->lock, NULL);
	if (rc) {
		free(c);
		return -rc;
	}
	rc = worker_init(&c->w);
	if (rc) {
		pthread_mutex_destroy(&c->lock);
		free(c);
		return rc;
	}
	snprintf(c->node, sizeof(c->node), "%s", node);
	snprintf(c->dir_id, sizeof(c->dir_id), "%s", dir_id ? dir_id : "");
	(void)cluster_key(c->session_key, sizeof(c->session_key), "node/%s",
			  node);
	c->started_ms = clock_now_ms();
	c->endpoints = strdup(endpoints);
	if (!c->endpoints) {
		rc = -ENOMEM;
		goto out;
	}
	rc = etcd_open(&c->e, endpoints, CLUSTER_TIMEOUT_MS);
	if (rc) {
		snprintf(err, errlen, "--etcd \"%s\": a comma-separated list "
			 "of http:// URLs", endpoints);
		goto out;
	}
	/* A node restarted after a kill -9 finds its old session until
	 * etcd expires it: wait that long, no longer. */
	give_up = clock_mono_ns() + (CLUSTER_TTL + 2) * 1000000000ull;
	while (((rc = session_make(c)) == -EADDRINUSE || rc == -ESTALE) &&
	       clock_mono_ns() < give_up) {
		if (rc == -ESTALE)
			continue;	/* ended: the name is free now */
		if (!said)
			log_warn("cluster: a session of node \"%s\" exists; "
				 "waiting up to %d s for it to expire", node,
				 CLUSTER_TTL + 2);
		said = true;
		usleep(500000);
	}
	if (rc == -EADDRINUSE) {
		snprintf(err, errlen, "node \"%s\" is already live in the "
			 "cluster (its session key %s exists): two processes "
			 "must not share a node name", node, c->session_key);
		goto out;
	}
	if (rc) {
		snprintf(err, errlen, "etcd at %s: %s", endpoints,
			 etcd_strerror(c->e));
		goto out;
	}
	(void)seen_put(c);
	rc = worker_start(&c->w, session_main, c);
	if (rc) {
		snprintf(err, errlen, "cannot start the session thread");
		goto out;
	}
	c->thread = true;
	log_info("cluster: node \"%s\" joined %s", node, endpoints);
	*out = c;
	return 0;
out:
	cluster_stop(c);
	return rc;
}

void cluster_stop(struct cluster *c)
{
	if (!c)
		return;
	if (c->thread)
		worker_stop(&c->w);
	if (c->e && c->lease)
		(void)etcd_lease_revoke(c->e, c->lease);
	etcd_free(c->e);
	worker_release(&c->w);
	pthread_mutex_destroy(&c->lock);
	free(c->endpoints);
	free(c);
}

const char *cluster_node(const struct cluster *c)
{
	return c->node;
}

const char *cluster_dir_id(const struct cluster *c)
{
	return c->dir_id;
}

const char *cluster_endpoints(const struct cluster *c)
{
	return c->endpoints;
}

bool cluster_fence_ok(const struct cluster *c)
{
	return clock_mono_ns() < atomic_load(&c->fence_ns);
}

void cluster_session(const struct cluster *c, char *key, size_t keylen,
		     int64_t *create_rev)
{
	struct cluster *m = (struct cluster *)(uintptr_t)c;

	snprintf(key, keylen, "%s", c->session_key);
	pthread_mutex_lock(&m->lock);
	*create_rev = c->create_rev;
	pthread_mutex_unlock(&m->lock);
}

int cluster_etcd_open(const struct cluster *c, struct etcd **out)
{
	return etcd_open(out, c->endpoints, CLUSTER_TIMEOUT_MS);
}

static void hex_put(char *out, const uint8_t *b, size_t n)
{
	static const char digits[] = "0123456789abcdef";
	size_t i;

	for (i = 0; i < n; i++) {
		out[2 * i] = digits[b[i] >> 4];
		out[2 * i + 1] = digits[b[i] & 15];
	}
	out[2 * n] = '\0';
}

static int hex_get(uint8_t *b, size_t n, const char *s)
{
	size_t i;
	int hi, lo;

	if (strlen(s) != 2 * n)
		return -EPROTO;
	for (i = 0; i < n; i++) {
		hi = s[2 * i];
		lo = s[2 * i + 1];
		hi = hi >= '0' && hi <= '9' ? hi - '0' :
		     hi >= 'a' && hi <= 'f' ? hi - 'a' + 10 : -1;
		lo = lo >= '0' && lo <= '9' ? lo - '0' :
		     lo >= 'a' && lo <= 'f' ? lo - 'a' + 10 : -1;
		if (hi < 0 || lo < 0)
			return -EPROTO;
		b[i] = (uint8_t)(hi << 4 | lo);
	}
	return 0;
}

int cluster_dir_id_read(const char *dir, bool create, char id[33])
{
	uint8_t raw[PERM_KEY_LEN];	/* 16 bytes: 32 hex digits */
	char path[1200], tmp[1220], back[2 * PERM_KEY_LEN + 1];
	ssize_t n;
	int fd, rc = 0;

	snprintf(path, sizeof(path), "%s/" CLUSTER_DIR_ID_FILE, dir);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd >= 0) {
		n = read(fd, id, 32);
		close(fd);
		id[n == 32 ? 32 : 0] = '\0';
		if (n == 32 && hex_get(raw, sizeof(raw), id) == 0)
			return 0;
		log_error("%s is damaged: remove it to make a new one (the "
			  "node then waits out its old session once)", path);
		return -EPROTO;
	}
	if (errno != ENOENT || !create)
		return -errno;
	_Static_assert(PERM_KEY_LEN == 16, "cluster.id holds 32 digits");
	rc = perm_random_key(raw);
	if (rc)
		return rc;
	hex_put(back, raw, sizeof(raw));
	memcpy(id, back, 33);
	snprintf(tmp, sizeof(tmp), "%s.tmp", path);
	fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (fd < 0)
		return -errno;
	if (write(fd, id, 32) != 32 || fsync(fd))
		rc = -EIO;
	close(fd);
	if (rc == 0 && rename(tmp, path))
		rc = -errno;
	if (rc)
		unlink(tmp);
	return rc;
}

/* The definition of d as the cluster keeps it (key: hex, or NULL). */
static cJSON *pool_json(const struct pool_def *d, const char *hexkey)
{
	cJSON *o = cJSON_CreateObject();

	if (!o)
		return NULL;
	if (!cJSON_AddStringToObject(o, "kind", config_kind_name(d->kind)) ||
	    !cJSON_AddNumberToObject(o, "min", (double)d->min) ||
	    !cJSON_AddNumberToObject(o, "capacity", (double)d->capacity) ||
	    !cJSON_AddNumberToObject(o, "fingerprint",
				     (double)config_pool_fingerprint(d)) ||
	    (hexkey && !cJSON_AddStringToObject(o, "key", hexkey)) ||
	    (d->kind == POOL_SEQUENCE &&
	     !cJSON_AddStringToObject(o, "tz", d->tz))) {
		cJSON_Delete(o);
		return NULL;
	}
	return o;
}

/* The numbers are compared as printed by cJSON: both sides print the
 * same doubles, so equal text is equal parameters (min and capacity
 * above 2^53 are compared by their text in "text"). */
static bool same_number(const cJSON *a, const cJSON *b)
{
	return cJSON_IsNumber(a) && cJSON_IsNumber(b) &&
	       a->valuedouble == b->valuedouble;
}

int cluster_pool_define(struct cluster *c, struct etcd *e,
			const struct pool_def *d, uint8_t *key, bool have_key,
			char *err, size_t errlen)
{
	char k[POOL_NAME_MAX + 48], hexkey[2 * PERM_KEY_LEN + 1], *text = NULL;
	char range[96];
	struct etcd_result res = { 0 };
	struct etcd_txn t;
	cJSON *mine = NULL, *theirs = NULL;
	const cJSON *tk;
	bool random = config_kind_is_random(d->kind);
	int klen, rc;

	etcd_txn_init(&t);
	klen = cluster_key(k, sizeof(k), "pool/%s", d->name);
	if (klen < 0) {
		rc = klen;
		goto out;
	}
	if (random && !have_key) {
		rc = perm_random_key(key);
		if (rc)
			goto out;
	}
	if (random)
		hex_put(hexkey, key, PERM_KEY_LEN);
	mine = pool_json(d, random ? hexkey : NULL);
	snprintf(range, sizeof(range), "%lld+%llu", (long long)d->min,
		 (unsigned long long)d->capacity);
	if (mine && !cJSON_AddStringToObject(mine, "range", range)) {
		cJSON_Delete(mine);
		mine = NULL;
	}
	text = mine ? cJSON_PrintUnformatted(mine) : NULL;
	if (!text) {
		rc = -ENOMEM;
		goto out;
	}
	etcd_txn_cmp(&t, k, (size_t)klen, ETCD_VERSION, ETCD_EQUAL, 0);
	etcd_txn_put(&t, true, k, (size_t)klen, text, strlen(text), 0);
	etcd_txn_get(&t, false, k, (size_t)klen, false);
	rc = etcd_txn_run(e, &t, &res);
	if (rc) {
		snprintf(err, errlen, "defining pool \"%s\" in etcd: %s",
			 d->name, etcd_strerror(e));
		goto out;
	}
	if (res.succeeded) {
		log_info("cluster: pool \"%s\" defined (%s, %llu values)",
			 d->name, config_kind_name(d->kind),
			 (unsigned long long)d->capacity);
		goto out;
	}
	if (res.nranges != 1 || res.ranges[0].n != 1 ||
	    !(theirs = cJSON_Parse(res.ranges[0].kvs[0].value))) {
		snprintf(err, errlen, "pool \"%s\": etcd's definition is not "
			 "readable", d->name);
		rc = -EPROTO;
		goto out;
	}
	if (!cJSON_IsString(cJSON_GetObjectItem(theirs, "kind")) ||
	    strcmp(cJSON_GetObjectItem(theirs, "kind")->valuestring,
		   config_kind_name(d->kind)) != 0 ||
	    !cJSON_IsString(cJSON_GetObjectItem(theirs, "range")) ||
	    strcmp(cJSON_GetObjectItem(theirs, "range")->valuestring,
		   range) != 0 ||
	    !same_number(cJSON_GetObjectItem(theirs, "min"),
			 cJSON_GetObjectItem(mine, "min")) ||
	    !same_number(cJSON_GetObjectItem(theirs, "fingerprint"),
			 cJSON_GetObjectItem(mine, "fingerprint"))) {
		const cJSON *tr = cJSON_GetObjectItem(theirs, "range"),
			    *tkind = cJSON_GetObjectItem(theirs, "kind");

		/* Never the key: it would let a reader compute the values. */
		snprintf(err, errlen, "pool \"%s\" is defined in the cluster "
			 "as %.16s of range %.64s (min+capacity) and "
			 "parameters %.0f; this node's configuration says %s "
			 "of range %s and parameters %u. Changing a pool's "
			 "range could repeat values: give the new range a new "
			 "pool name", d->name,
			 cJSON_IsString(tkind) ? tkind->valuestring : "?",
			 cJSON_IsString(tr) ? tr->valuestring : "?",
			 cJSON_IsNumber(cJSON_GetObjectItem(theirs,
							    "fingerprint")) ?
			 cJSON_GetObjectItem(theirs,
					     "fingerprint")->valuedouble : 0.0,
			 config_kind_name(d->kind), range,
			 (unsigned)config_pool_fingerprint(d));
		rc = -EINVAL;
		goto out;
	}
	if (d->kind == POOL_SEQUENCE &&
	    (!cJSON_IsString(cJSON_GetObjectItem(theirs, "tz")) ||
	     strcmp(cJSON_GetObjectItem(theirs, "tz")->valuestring,
		    d->tz) != 0)) {
		const cJSON *tz = cJSON_GetObjectItem(theirs, "tz");

		snprintf(err, errlen, "pool \"%s\" is defined in the cluster "
			 "with time zone \"%.64s\"; this node's configuration "
			 "says \"%s\": every node must count the days in one "
			 "zone", d->name,
			 cJSON_IsString(tz) ? tz->valuestring : "?", d->tz);
		rc = -EINVAL;
		goto out;
	}
	if (random) {
		tk = cJSON_GetObjectItem(theirs, "key");
		if (!cJSON_IsString(tk) ||
		    hex_get(key, PERM_KEY_LEN, tk->valuestring)) {
			snprintf(err, errlen, "pool \"%s\": etcd's definition "
				 "has no readable key", d->name);
			rc = -EPROTO;
			goto out;
		}
	}
out:
	(void)c;
	cJSON_Delete(theirs);
	cJSON_Delete(mine);
	cJSON_free(text);
	etcd_result_release(&res);
	etcd_txn_release(&t);
	return rc;
}
