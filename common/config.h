/*
 * config.h: the configuration: where to listen, where the data lives, and
 * the pools, from a JSON file (read with cJSON) or the built-in defaults.
 *
 * Invariants once config_default(), config_parse() or config_load_file()
 * returned 0: every pool_def is valid (names unique and URL-safe, ranges
 * non-empty, float values exact as doubles), npools >= 1, data_dir and
 * listen_host are non-empty. A struct config is read-only after loading
 * and may be shared by threads.
 */
#ifndef UNIQ_CONFIG_H
#define UNIQ_CONFIG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

enum pool_kind {
	POOL_INT = 0,
	POOL_FLOAT = 1,
	POOL_SEQUENCE = 2,
	POOL_LEASE = 3,
	POOL_CODE = 4,
};

#define POOL_NAME_MAX 32
#define POOL_SHARDS_MAX 64
#define POOL_SHARD_SIZE_MAX 100000000u
#define FLOAT_DECIMALS_MAX 15
#define FLOAT_UNITS_LIMIT 1000000000000000LL /* 10^15: 15 significant digits */
#define SEQ_DIGITS_MAX 12
#define TZ_NAME_MAX 64	/* tz.h's TZ_NAME_LEN_MAX: checked in config.c */
#define LEASE_COUNT_MAX 10000000u	/* the free stack: 4 bytes a number */
#define LEASE_TTL_MAX (366u * 24 * 3600)
#define CODE_PATTERN_MAX 64
#define CODE_ALPHABET_MAX 94	/* the printable ASCII symbols but space */

struct pool_def {
	char name[POOL_NAME_MAX + 1];
	enum pool_kind kind;
	/*
	 * Random pools: the values are min + k for k in [0, capacity):
	 * integers for int pools, and for float pools units of
	 * 10^-decimals (the value printed is (min + k) / 10^decimals with
	 * exactly `decimals` digits). Sequence pools: capacity is the ids of
	 * one day (10^digits - 1), min is 0. Lease pools: the numbers are
	 * [min, min + capacity) (the config's "start" and "count"). Code
	 * pools: capacity is alphabet^slots, min is 0 (see code.h).
	 */
	int64_t min;
	uint64_t capacity;
	unsigned decimals;	/* float pools only */
	unsigned shards;	/* random pools: LMDB shard environments */
	uint64_t shard_size;	/* random pools: values each shard keeps
				   ready */
	unsigned digits;	/* sequence pools: of the daily counter */
	char tz[TZ_NAME_MAX + 1]; /* sequence pools: IANA time zone */
	unsigned ttl;		/* lease pools: default seconds; 0 = never */
	unsigned check_ttl;	/* lease pools: seconds of a GET /check
				   borrow (seed 001's scripts cannot renew);
				   default 0 = never */
	/* code pools: '#' is a symbol of the alphabet, anything else is
	 * itself; slots is the number of '#'. Both are printable ASCII
	 * without / ? % , " \ (nor # in the alphabet, nor a space in it),
	 * so that a code fits a URL's path segment and a CSV field as is */
	char pattern[CODE_PATTERN_MAX + 1];
	char alphabet[CODE_ALPHABET_MAX + 1];
	unsigned slots;
};

#define CONFIG_MAX_CONNECTIONS 10000
#define CONFIG_IDLE_TIMEOUT 60
#define CONFIG_HEADER_TIMEOUT 10
#define CONFIG_BODY_TIMEOUT 10
#define CONFIG_PER_IP_CONNECTIONS 2048
#define CONFIG_DRAW_WAIT_MS 200
#define CONFIG_DRAW_WAIT_MS_MAX 10000

struct config {
	char listen_host[64];
	uint16_t port;
	char data_dir[1024];
	unsigned threads;	/* HTTP worker threads; 0 = one per CPU */
	bool sync;		/* fsync every commit (default); false =
				   MDB_NOSYNC */
	unsigned max_connections; /* open at once (default 10000); more wait
				     in the listen queue */
	unsigned idle_timeout;	/* seconds without a byte before a connection
				   is closed (default 60) */
	unsigned header_timeout; /* seconds a request's head may take from
				    its first byte (default 10, 1 to 3600) */
	unsigned body_timeout;	/* seconds its body may take after the head
				   (default 10, 1 to 3600) */
	unsigned per_ip_connections; /* open at once from one client
					address (default 2048; 0: no
					limit) */
	unsigned draw_wait_ms;	/* how long a draw that finds its pool
				   refilling waits for values before it
				   answers 503 (default 200, 0 to 10000;
				   0: answer at once) */
	size_t map_size;	/* first LMDB map of each environment, bytes;
				   0: the defaults (64 GiB ledger, 16 GiB
				   shards); maps grow when full */
	char *admin_token;	/* NULL when none is configured */
	char etcd[1024];	/* a cluster's etcd client URLs, comma-
				   separated; "" standalone (the default) */
	char node[65];		/* this node's name in the cluster ("":
				   the host name) */
	struct pool_def *pools;
	size_t npools;
};

/* Fills c with the built-in defaults: 127.0.0.1:8000, uniqd-data (in the
 * current directory), sync, and the pools "int" ([0, 2^53-1], 2 shards),
 * "float" ([0, 1e6) with 6 decimals, 2 shards), "codes" (one-time codes
 * "#####-#####" over A-Z0-9), "orders" (a sequence, UTC, 5 digits) and
 * "users" (leases of [10000, 20000), ttl 600 s, check_ttl 0). Returns 0
 * or -ENOMEM. */
int config_default(struct config *c);

/*
 * Parses the JSON text of a configuration file over the defaults already in
 * c (a key left out keeps its default; "pools", when present, replaces the
 * default pools). Unknown keys, wrong types and out-of-range values are
 * refused. Returns 0, or -EINVAL with a sentence for a person in err (and
 * c unchanged but for fields already parsed: release it either way).
 */
int config_parse(struct config *c, const char *json, char *err,
		 size_t errlen);

/* Reads path and calls config_parse. Returns 0, -errno for an unreadable
 * file, or -EINVAL; err says what went wrong either way. */
int config_load_file(struct config *c, const char *path, char *err,
		     size_t errlen);

/*
 * Seed 001's environment: RANGE_START and RANGE_AMOUNT, when set, give
 * the start and count of the default lease pool "users" (if c has it).
 * Returns 0, or -EINVAL with a sentence in err.
 */
int config_apply_env(struct config *c, char *err, size_t errlen);

/* An admin token's length in bytes, wherever it comes from (the file's
 * "admin_token", UNIQD_ADMIN_TOKEN). */
#define CONFIG_TOKEN_MIN 8
#define CONFIG_TOKEN_MAX 256

/*
 * Sets c's admin token to a copy of token, replacing any, if it has
 * CONFIG_TOKEN_MIN to CONFIG_TOKEN_MAX bytes. source names where it came
 * from, for err ("\"admin_token\"", "UNIQD_ADMIN_TOKEN"). Returns 0,
 * -EINVAL with a sentence in err, or -ENOMEM; c is unchanged on failure.
 */
int config_set_admin_token(struct config *c, const char *token,
			   const char *source, char *err, size_t errlen);

/* Frees what c holds (pools, token). */
void config_release(struct config *c);

/* The pool called name, or NULL. */
const struct pool_def *config_pool(const struct config *c, const char *name);

/* "int", "float", "sequence", "lease" or "code". */
const char *config_kind_name(enum pool_kind kind);

/*
 * What besides kind, min and capacity fixes the meaning of a pool's value
 * indices, as 32 bits the ledger keeps: a float pool's decimals, a code
 * pool's pattern and alphabet (FNV-1a of both), 0 for other kinds. A
 * change to it could make a new value's text equal an old one's.
 */
uint32_t config_pool_fingerprint(const struct pool_def *d);

/* True for kinds drawn from a permutation into shards (int, float,
 * code). */
bool config_kind_is_random(enum pool_kind kind);

#endif
