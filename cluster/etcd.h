/*
 * etcd.h: a small client of etcd v3's JSON gateway (/v3/kv/txn,
 * /v3/kv/range, /v3/lease/...), over libcurl. Keys and values are bytes;
 * the gateway wants them base64, which is done here and nowhere else.
 *
 * One struct etcd is one thread's connection: it keeps a libcurl easy
 * handle (reused, so keep-alive), the endpoints and which one answered
 * last. It is not safe to use from two threads at once; give each thread
 * that talks to etcd its own (etcd_open is cheap).
 *
 * Endpoints: a request goes to the endpoint that answered last; when that
 * one cannot be reached, times out, or says it has no leader, the next is
 * tried, each endpoint once per request. A request that failed on every
 * endpoint returns -EAGAIN: etcd is unavailable (no quorum, or no member
 * reachable), and the caller must not guess at what happened: a
 * transaction that timed out may or may not have been applied, so every
 * write in uniqd is a compare-and-swap whose retry finds out. That retry
 * may be this module's own: a request that timed out on one endpoint is
 * sent again to the next, so a compare that fails may have failed on the
 * request's own first write (a create-if-absent that finds the key with
 * the value it wrote).
 *
 * Errors: 0 or a negative errno. -EAGAIN as above; -ENOENT for a lease
 * etcd does not know (expired or revoked, also when a put names it);
 * -EPROTO for an answer that is not the gateway's JSON; -ENOMEM; -EINVAL
 * for bad arguments (ours, or etcd's InvalidArgument and OutOfRange: an
 * empty key, a duplicate key in one transaction, too large a TTL); -EIO
 * for any other error etcd answers with. The last error's text (curl's or
 * etcd's, with the endpoint) is kept in the struct for the log
 * (etcd_strerror).
 */
#ifndef UNIQ_ETCD_H
#define UNIQ_ETCD_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct etcd;

/* What an etcd comparison looks at, and how. */
enum etcd_target {
	ETCD_VERSION = 0,	/* the key's version; 0: it does not exist */
	ETCD_CREATE,		/* create_revision */
	ETCD_MOD,		/* mod_revision */
	ETCD_VALUE,		/* the value's bytes */
};

enum etcd_cmp {
	ETCD_EQUAL = 0,
	ETCD_GREATER,
	ETCD_LESS,
	ETCD_NOT_EQUAL,
};

/* One key-value as etcd returns it. key and value are NUL-terminated
 * copies (the NUL not counted in the lengths); they belong to the
 * struct etcd_result they came in. */
struct etcd_kv {
	char *key;
	size_t keylen;
	char *value;		/* "" with keys_only */
	size_t vallen;
	int64_t create_rev;
	int64_t mod_rev;
	int64_t version;
	int64_t lease;		/* 0: none */
};

/* The kvs of one range (etcd_range, or one get of a transaction's taken
 * branch, in their order). */
struct etcd_range {
	struct etcd_kv *kvs;
	size_t n;
	int64_t count;		/* keys in the range (more than n with a
				   limit) */
	bool more;
};

struct etcd_result {
	bool succeeded;		/* a transaction's compares all held */
	int64_t revision;	/* the store's revision after the request */
	struct etcd_range *ranges;	/* one per get of the branch taken */
	size_t nranges;
};

/*
 * Opens a client of endpoints, a comma-separated list of base URLs
 * ("http://127.0.0.1:2379,http://127.0.0.1:22379"; http only, no empty
 * item, no spaces; a trailing '/' is dropped). Each request gives up
 * after timeout_ms (> 0) on one endpoint. Connects lazily: no request is
 * made here. Returns 0 with *out set, -EINVAL (bad list, timeout_ms 0)
 * or -ENOMEM.
 */
int etcd_open(struct etcd **out, const char *endpoints, unsigned timeout_ms);

/* Closes e and frees it. Safe with NULL. */
void etcd_free(struct etcd *e);

/* The text of e's last error, for the log: "" if the last request met
 * none (a request that succeeded on a second endpoint keeps the first's
 * failure). */
const char *etcd_strerror(const struct etcd *e);

/* The endpoint e's last request went to (the last one tried, when all
 * failed). */
const char *etcd_endpoint(const struct etcd *e);

/*
 * A transaction, built then run: compares, then the operations of the
 * success branch (taken when every compare holds) and of the failure
 * branch. Built in caller memory with etcd_txn_init, released with
 * etcd_txn_release (also after a failed run). The add functions return
 * 0, -ENOMEM or -EINVAL (an enum out of range); the transaction then
 * fails to run with that error too, so a caller may check once, at
 * etcd_txn_run. A transaction with nothing added runs (and succeeds).
 */
struct etcd_txn {
	void *json;		/* private: the request being built */
	int err;		/* private: the first add's failure */
};

void etcd_txn_init(struct etcd_txn *t);
void etcd_txn_release(struct etcd_txn *t);

/* Compares the key's version, create or mod revision with v (target
 * ETCD_VALUE is etcd_txn_cmp_value's: -EINVAL here). */
int etcd_txn_cmp(struct etcd_txn *t, const char *key, size_t keylen,
		 enum etcd_target target, enum etcd_cmp cmp, int64_t v);

/* Compares the key's value with the bytes val[0..vallen). */
int etcd_txn_cmp_value(struct etcd_txn *t, const char *key, size_t keylen,
		       enum etcd_cmp cmp, const void *val, size_t vallen);

/* Adds a put to the success branch (success true) or the failure branch;
 * lease 0: none. */
int etcd_txn_put(struct etcd_txn *t, bool success, const char *key,
		 size_t keylen, const void *val, size_t vallen, int64_t lease);

/* Adds a delete of key, or with prefix of every key that starts with it. */
int etcd_txn_del(struct etcd_txn *t, bool success, const char *key,
		 size_t keylen, bool prefix);

/* Adds a get of key (or with prefix, of every key that starts with it,
 * in key order): its kvs come back as the next of result->ranges. */
int etcd_txn_get(struct etcd_txn *t, bool success, const char *key,
		 size_t keylen, bool prefix);

/* Runs t. Returns 0 with *res filled (release it with
 * etcd_result_release), or a negative errno with *res empty. */
int etcd_txn_run(struct etcd *e, struct etcd_txn *t, struct etcd_result *res);

/*
 * Reads key, or with prefix every key that starts with it, in key order,
 * at most limit (0: no limit), keys only or with values. Returns 0 with
 * *res filled (one range), or a negative errno.
 */
int etcd_get(struct etcd *e, const char *key, size_t keylen, bool prefix,
	     int64_t limit, bool keys_only, struct etcd_result *res);

/*
 * Reads the last key (in key order) of [key, end), with its value: the
 * greatest key below end that is at least key. Returns 0 with *res filled
 * (one range of 0 or 1 kvs), or a negative errno.
 */
int etcd_get_last(struct etcd *e, const char *key, size_t keylen,
		  const char *end, size_t endlen, struct etcd_result *res);

/* Frees what res holds and empties it. Safe on an empty result. */
void etcd_result_release(struct etcd_result *res);

/* Grants a lease of ttl seconds (> 0, else -EINVAL; etcd raises a TTL
 * below its minimum): 0 with *id (and *granted, its TTL). */
int etcd_lease_grant(struct etcd *e, int64_t ttl, int64_t *id,
		     int64_t *granted);

/* Renews lease id once: 0 with *ttl (seconds from now), or -ENOENT if
 * etcd no longer knows it (expired or revoked). */
int etcd_lease_keepalive(struct etcd *e, int64_t id, int64_t *ttl);

/* Revokes lease id, deleting the keys attached to it. -ENOENT if etcd
 * does not know it. */
int etcd_lease_revoke(struct etcd *e, int64_t id);

/* The member the last request went to says who leads: 0 with *leader
 * (0: it knows no leader, it has lost quorum) and *member (the answering
 * member's id) set. A member answers this without a leader. For tests
 * and status. */
int etcd_status(struct etcd *e, uint64_t *member, uint64_t *leader);

#endif
