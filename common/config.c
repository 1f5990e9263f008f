/*
 * config.c: the configuration file and the built-in defaults; see
 * config.h for the format's invariants.
 *
 * The file is JSON:
 *
 *   {
 *     "listen": "127.0.0.1:8000", "data_dir": "uniqd-data",
 *     "threads": 2, "sync": true, "admin_token": "...",
 *     "max_connections": 10000, "idle_timeout": 60, "map_mb": 65536,
 *     "header_timeout": 10, "body_timeout": 10, "per_ip_connections": 2048,
 *     "draw_wait_ms": 200,
 *     "etcd": "http://127.0.0.1:2379", "node": "a",   (a cluster node)
 *     "pools": [
 *       {"name": "int", "kind": "int", "min": 0, "max": 9007199254740991,
 *        "shards": 2, "shard_size": 1000000},
 *       {"name": "float", "kind": "float", "min": 0, "max": 1000000,
 *        "decimals": 6},
 *       {"name": "orders", "kind": "sequence", "tz": "Europe/Paris",
 *        "digits": 5}
 *     ]
 *   }
 *
 * Integers beyond 2^53 may be given as strings ("max": "9223372036854775807")
 * since a JSON number that large cannot be read exactly.
 */
#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "common/config.h"
#include "common/log.h"
#include "common/parse.h"
#include "common/tz.h"
#include "common/value.h"
#include "common/banned.h"

#define MAX_SAFE_INT 9007199254740991LL /* 2^53 - 1 */

_Static_assert(TZ_NAME_MAX == TZ_NAME_LEN_MAX,
	       "pool_def.tz holds what tz_name_ok accepts");
#define CONFIG_FILE_MAX (1 << 20)

static int fail(char *err, size_t errlen, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static int fail(char *err, size_t errlen, const char *fmt, ...)
{
	va_list ap;

	if (err && errlen) {
		va_start(ap, fmt);
		vsnprintf(err, errlen, fmt, ap);
		va_end(ap);
	}
	return -EINVAL;
}

const char *config_kind_name(enum pool_kind kind)
{
	switch (kind) {
	case POOL_INT:
		return "int";
	case POOL_FLOAT:
		return "float";
	case POOL_SEQUENCE:
		return "sequence";
	case POOL_LEASE:
		return "lease";
	case POOL_CODE:
		return "code";
	}
	return "?";
}

uint32_t config_pool_fingerprint(const struct pool_def *d)
{
	const char *parts[2] = { d->pattern, d->alphabet };
	uint32_t h = 2166136261u;
	size_t i, j;

	if (d->kind == POOL_FLOAT)
		return d->decimals;
	if (d->kind != POOL_CODE)
		return 0;
	for (i = 0; i < 2; i++) {
		for (j = 0; parts[i][j]; j++) {
			h ^= (unsigned char)parts[i][j];
			h *= 16777619u;
		}
		h ^= 0xff; /* a separator no symbol can be */
		h *= 16777619u;
	}
	return h;
}

bool config_kind_is_random(enum pool_kind kind)
{
	return kind == POOL_INT || kind == POOL_FLOAT || kind == POOL_CODE;
}

static void default_int(struct pool_def *d)
{
	memset(d, 0, sizeof(*d));
	snprintf(d->name, sizeof(d->name), "int");
	d->kind = POOL_INT;
	d->min = 0;
	d->capacity = (uint64_t)MAX_SAFE_INT + 1;
	d->shards = 2;
	d->shard_size = 1000000;
}

static void default_float(struct pool_def *d)
{
	memset(d, 0, sizeof(*d));
	snprintf(d->name, sizeof(d->name), "float");
	d->kind = POOL_FLOAT;
	d->decimals = 6;
	d->min = 0;
	d->capacity = 1000000ULL * 1000000ULL; /* [0, 10^6) in 10^-6 units */
	d->shards = 2;
	d->shard_size = 1000000;
}

static void default_sequence(struct pool_def *d)
{
	memset(d, 0, sizeof(*d));
	snprintf(d->name, sizeof(d->name), "orders");
	d->kind = POOL_SEQUENCE;
	d->digits = 5;
	d->min = 0;
	d->capacity = 99999;
	snprintf(d->tz, sizeof(d->tz), "UTC");
}

#define CODE_DEFAULT_ALPHABET "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"

/* Characters a code may not hold: they would end or escape a URL's path
 * segment (redeem, lookup) or a CSV field. */
#define CODE_UNSAFE "/?#%,\"\\"

/*
 * Checks a code pool's pattern and alphabet and sets slots and capacity:
 * 0, or -EINVAL with a sentence in err.
 */
static int code_shape(struct pool_def *d, const char *where, char *err,
		      size_t errlen)
{
	unsigned char seen[256] = { 0 };
	size_t i, n = strlen(d->alphabet);
	uint64_t cap = 1;

	if (n < 2)
		return fail(err, errlen, "%s: the alphabet needs at least 2 "
			    "symbols", where);
	for (i = 0; i < n; i++) {
		unsigned char c = (unsigned char)d->alphabet[i];

		if (c < 0x21 || c > 0x7e || strchr(CODE_UNSAFE, c))
			return fail(err, errlen, "%s: alphabet symbols must be "
				    "printable ASCII other than space and %s "
				    "(codes go in URLs and CSV lines)", where,
				    CODE_UNSAFE);
		if (seen[c]++)
			return fail(err, errlen, "%s: the alphabet repeats "
				    "\"%c\"", where, c);
	}
	d->slots = 0;
	for (i = 0; d->pattern[i]; i++) {
		unsigned char c = (unsigned char)d->pattern[i];

		if (c < 0x20 || c > 0x7e ||
		    (c != '#' && strchr(CODE_UNSAFE, c)))
			return fail(err, errlen, "%s: the pattern must be "
				    "printable ASCII without %s (codes go in "
				    "URLs and CSV lines)", where, CODE_UNSAFE);
		if (c == '#')
			d->slots++;
	}
	if (d->slots == 0)
		return fail(err, errlen, "%s: the pattern has no '#' (a '#' is "
			    "one symbol of the alphabet)", where);
	for (i = 0; i < d->slots; i++) {
		if (cap > UINT64_MAX / n)
			return fail(err, errlen, "%s: %zu symbols over %u slots "
				    "make more combinations than 64 bits hold",
				    where, n, d->slots);
		cap *= n;
	}
	if (cap == UINT64_MAX)
		return fail(err, errlen, "%s: too many combinations", where);
	d->capacity = cap;
	d->min = 0;
	return 0;
}

static void default_code(struct pool_def *d)
{
	memset(d, 0, sizeof(*d));
	snprintf(d->name, sizeof(d->name), "codes");
	d->kind = POOL_CODE;
	snprintf(d->pattern, sizeof(d->pattern), "#####-#####");
	snprintf(d->alphabet, sizeof(d->alphabet), CODE_DEFAULT_ALPHABET);
	d->shards = 1;
	d->shard_size = 100000;
	code_shape(d, "", NULL, 0);
}

static void default_lease(struct pool_def *d)
{
	memset(d, 0, sizeof(*d));
	snprintf(d->name, sizeof(d->name), "users");
	d->kind = POOL_LEASE;
	d->min = 10000;
	d->capacity = 10000;
	d->ttl = 600;
	d->check_ttl = 0; /* seed 001: a /check number is out until returned */
}

int config_default(struct config *c)
{
	memset(c, 0, sizeof(*c));
	snprintf(c->listen_host, sizeof(c->listen_host), "127.0.0.1");
	c->port = 8000;
	snprintf(c->data_dir, sizeof(c->data_dir), "uniqd-data");
	c->threads = 0;
	c->sync = true;
	c->max_connections = CONFIG_MAX_CONNECTIONS;
	c->idle_timeout = CONFIG_IDLE_TIMEOUT;
	c->header_timeout = CONFIG_HEADER_TIMEOUT;
	c->body_timeout = CONFIG_BODY_TIMEOUT;
	c->per_ip_connections = CONFIG_PER_IP_CONNECTIONS;
	c->draw_wait_ms = CONFIG_DRAW_WAIT_MS;
	c->pools = calloc(5, sizeof(*c->pools));
	if (!c->pools)
		return -ENOMEM;
	default_int(&c->pools[0]);
	default_float(&c->pools[1]);
	default_code(&c->pools[2]);
	default_sequence(&c->pools[3]);
	default_lease(&c->pools[4]);
	c->npools = 5;
	return 0;
}

void config_release(struct config *c)
{
	free(c->pools);
	free(c->admin_token);
	c->pools = NULL;
	c->npools = 0;
	c->admin_token = NULL;
}

const struct pool_def *config_pool(const struct config *c, const char *name)
{
	size_t i;

	for (i = 0; i < c->npools; i++)
		if (!strcmp(c->pools[i].name, name))
			return &c->pools[i];
	return NULL;
}

/* Refuses any key of obj not in the NULL-terminated list. */
static int check_keys(const cJSON *obj, const char *const *known,
		      const char *where, char *err, size_t errlen)
{
	const cJSON *it;

	cJSON_ArrayForEach(it, obj) {
		const char *const *k;

		for (k = known; *k; k++)
			if (!strcmp(*k, it->string))
				break;
		if (!*k)
			return fail(err, errlen, "unknown key \"%s\" in %s",
				    it->string, where);
	}
	/* cJSON keeps repeated keys; a repeated key is a mistake. */
	cJSON_ArrayForEach(it, obj) {
		const cJSON *jt;

		for (jt = it->next; jt; jt = jt->next)
			if (!strcmp(it->string, jt->string))
				return fail(err, errlen,
					    "key \"%s\" repeated in %s",
					    it->string, where);
	}
	return 0;
}

/* An integer given as a JSON number (exact only up to 2^53) or a string. */
static int get_i64(const cJSON *v, const char *what, int64_t *out, char *err,
		   size_t errlen)
{
	if (cJSON_IsNumber(v)) {
		double d = v->valuedouble;

		if (d != floor(d) || fabs(d) > (double)MAX_SAFE_INT)
			return fail(err, errlen,
				    "%s must be an integer of at most 2^53-1 "
				    "(give larger ones as a string)", what);
		*out = (int64_t)d;
		return 0;
	}
	if (cJSON_IsString(v) &&
	    !parse_i64(v->valuestring, INT64_MIN, INT64_MAX, out))
		return 0;
	return fail(err, errlen, "%s must be an integer", what);
}

static int get_u64(const cJSON *v, const char *what, uint64_t min,
		   uint64_t max, uint64_t *out, char *err, size_t errlen)
{
	int64_t x;

	if (get_i64(v, what, &x, err, errlen))
		return -EINVAL;
	if (x < 0 || (uint64_t)x < min || (uint64_t)x > max)
		return fail(err, errlen, "%s must be from %llu to %llu", what,
			    (unsigned long long)min, (unsigned long long)max);
	*out = (uint64_t)x;
	return 0;
}

/*
 * A float pool bound in units of 10^-decimals: a JSON number (which must
 * have no more decimals than the pool) or a decimal string.
 */
static int get_units(const cJSON *v, unsigned decimals, const char *what,
		     int64_t *out, char *err, size_t errlen)
{
	struct pool_def grid = { .kind = POOL_FLOAT, .decimals = decimals,
				 .min = -FLOAT_UNITS_LIMIT * 10,
				 .capacity = (uint64_t)FLOAT_UNITS_LIMIT * 20 };
	char text[64];
	uint64_t k;

	if (cJSON_IsNumber(v)) {
		if (fabs(v->valuedouble) >= 1e16)
			return fail(err, errlen, "%s is too large", what);
		snprintf(text, sizeof(text), "%.*f", (int)decimals,
			 v->valuedouble);
		if (strtod(text, NULL) != v->valuedouble)
			return fail(err, errlen,
				    "%s has more than %u decimals", what,
				    decimals);
	} else if (cJSON_IsString(v) && strlen(v->valuestring) < sizeof(text)) {
		snprintf(text, sizeof(text), "%s", v->valuestring);
	} else {
		return fail(err, errlen, "%s must be a number", what);
	}
	if (value_parse(&grid, text, &k))
		return fail(err, errlen,
			    "%s must be a decimal number with at most %u "
			    "decimals and 15 significant digits", what,
			    decimals);
	*out = (int64_t)(k + (uint64_t)grid.min);
	return 0;
}

static int parse_sequence(const cJSON *o, struct pool_def *d,
			  const char *where, char *err, size_t errlen)
{
	const cJSON *v;
	uint64_t u = 0;

	if ((v = cJSON_GetObjectItemCaseSensitive(o, "digits"))) {
		if (get_u64(v, "digits", 1, SEQ_DIGITS_MAX, &u, err, errlen))
			return -EINVAL;
		d->digits = (unsigned)u;
		d->capacity = (uint64_t)value_pow10(d->digits) - 1;
	}
	if ((v = cJSON_GetObjectItemCaseSensitive(o, "tz"))) {
		/* Only the shape here; the zone itself is loaded (and an
		 * unknown one refused) when the pool is opened. */
		if (!cJSON_IsString(v) || tz_name_ok(v->valuestring))
			return fail(err, errlen, "%s: \"tz\" must be an IANA "
				    "time zone name such as \"Europe/Paris\"",
				    where);
		snprintf(d->tz, sizeof(d->tz), "%s", v->valuestring);
	}
	return 0;
}

static int parse_code(const cJSON *o, struct pool_def *d,
		      const char *where, char *err, size_t errlen)
{
	const cJSON *v;
	uint64_t u = 0;

	if ((v = cJSON_GetObjectItemCaseSensitive(o, "pattern"))) {
		if (!cJSON_IsString(v) || !*v->valuestring ||
		    strlen(v->valuestring) > CODE_PATTERN_MAX)
			return fail(err, errlen, "%s: \"pattern\" must be a "
				    "string of 1 to %d characters such as "
				    "\"#####-#####\"", where, CODE_PATTERN_MAX);
		snprintf(d->pattern, sizeof(d->pattern), "%s",
			 v->valuestring);
	}
	if ((v = cJSON_GetObjectItemCaseSensitive(o, "alphabet"))) {
		if (!cJSON_IsString(v) ||
		    strlen(v->valuestring) > CODE_ALPHABET_MAX)
			return fail(err, errlen, "%s: \"alphabet\" must be a "
				    "string of at most %d symbols", where,
				    CODE_ALPHABET_MAX);
		snprintf(d->alphabet, sizeof(d->alphabet), "%s",
			 v->valuestring);
	}
	if ((v = cJSON_GetObjectItemCaseSensitive(o, "shards"))) {
		if (get_u64(v, "shards", 1, POOL_SHARDS_MAX, &u, err, errlen))
			return -EINVAL;
		d->shards = (unsigned)u;
	}
	if ((v = cJSON_GetObjectItemCaseSensitive(o, "shard_size"))) {
		if (get_u64(v, "shard_size", 1, POOL_SHARD_SIZE_MAX, &u, err,
			    errlen))
			return -EINVAL;
		d->shard_size = u;
	}
	return code_shape(d, where, err, errlen);
}

static int parse_lease(const cJSON *o, struct pool_def *d,
		       const char *where, char *err, size_t errlen)
{
	const cJSON *v;
	uint64_t u = 0;
	int64_t start = d->min;

	if ((v = cJSON_GetObjectItemCaseSensitive(o, "start")) &&
	    get_i64(v, "start", &start, err, errlen))
		return -EINVAL;
	if ((v = cJSON_GetObjectItemCaseSensitive(o, "count"))) {
		if (get_u64(v, "count", 1, LEASE_COUNT_MAX, &u, err, errlen))
			return -EINVAL;
		d->capacity = u;
	}
	if ((v = cJSON_GetObjectItemCaseSensitive(o, "ttl"))) {
		if (get_u64(v, "ttl", 0, LEASE_TTL_MAX, &u, err, errlen))
			return -EINVAL;
		d->ttl = (unsigned)u;
	}
	if ((v = cJSON_GetObjectItemCaseSensitive(o, "check_ttl"))) {
		if (get_u64(v, "check_ttl", 0, LEASE_TTL_MAX, &u, err, errlen))
			return -EINVAL;
		d->check_ttl = (unsigned)u;
	}
	if (start < -MAX_SAFE_INT ||
	    start > MAX_SAFE_INT - (int64_t)d->capacity + 1)
		return fail(err, errlen, "%s: the numbers [start, start + "
			    "count) must stay within +-(2^53-1)", where);
	d->min = start;
	return 0;
}

int config_apply_env(struct config *c, char *err, size_t errlen)
{
	const char *start = getenv("RANGE_START");
	const char *count = getenv("RANGE_AMOUNT");
	struct pool_def *d = NULL, copy;
	int64_t st;
	uint64_t n;
	size_t i;

	for (i = 0; i < c->npools; i++)
		if (!strcmp(c->pools[i].name, "users") &&
		    c->pools[i].kind == POOL_LEASE)
			d = &c->pools[i];
	if (!d || (!start && !count))
		return 0;
	copy = *d;
	if (start && parse_i64(start, -MAX_SAFE_INT, MAX_SAFE_INT, &st))
		return fail(err, errlen, "RANGE_START must be an integer");
	if (start)
		copy.min = st;
	if (count && parse_u64(count, 1, LEASE_COUNT_MAX, &n))
		return fail(err, errlen, "RANGE_AMOUNT must be from 1 to %u",
			    LEASE_COUNT_MAX);
	if (count)
		copy.capacity = n;
	if (copy.min > MAX_SAFE_INT - (int64_t)copy.capacity + 1)
		return fail(err, errlen, "RANGE_START + RANGE_AMOUNT is too "
			    "large");
	*d = copy;
	return 0;
}

static int parse_pool(const cJSON *o, struct pool_def *d, char *err,
		      size_t errlen)
{
	static const char *const keys[] = { "name", "kind", "min", "max",
					    "decimals", "shards",
					    "shard_size", "tz", "digits",
					    "start", "count", "ttl",
					    "check_ttl", "pattern",
					    "alphabet", NULL };
	/* The keys each kind takes, besides name and kind. */
	static const char *const kind_keys[][6] = {
		[POOL_INT] = { "min", "max", "shards", "shard_size" },
		[POOL_FLOAT] = { "min", "max", "decimals", "shards",
				 "shard_size" },
		[POOL_SEQUENCE] = { "tz", "digits" },
		[POOL_LEASE] = { "start", "count", "ttl", "check_ttl" },
		[POOL_CODE] = { "pattern", "alphabet", "shards",
				"shard_size" },
	};
	const cJSON *it;
	const cJSON *name = cJSON_GetObjectItemCaseSensitive(o, "name");
	const cJSON *kind = cJSON_GetObjectItemCaseSensitive(o, "kind");
	const cJSON *v;
	char where[80];
	size_t i, n;
	uint64_t u = 0;

	if (!cJSON_IsObject(o))
		return fail(err, errlen, "each pool must be an object");
	if (!cJSON_IsString(name))
		return fail(err, errlen, "a pool has no \"name\" string");
	n = strlen(name->valuestring);
	if (n == 0 || n > POOL_NAME_MAX)
		return fail(err, errlen,
			    "pool name \"%s\" must have 1 to %d characters",
			    name->valuestring, POOL_NAME_MAX);
	for (i = 0; i < n; i++) {
		char ch = name->valuestring[i];

		if (!((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') ||
		      (ch >= '0' && ch <= '9') || ch == '_' || ch == '-'))
			return fail(err, errlen,
				    "pool name \"%s\" may only use letters, "
				    "digits, '_' and '-'", name->valuestring);
	}
	snprintf(where, sizeof(where), "pool \"%s\"", name->valuestring);
	if (check_keys(o, keys, where, err, errlen))
		return -EINVAL;
	if (!cJSON_IsString(kind))
		return fail(err, errlen, "%s has no \"kind\" string", where);
	if (!strcmp(kind->valuestring, "int"))
		default_int(d);
	else if (!strcmp(kind->valuestring, "float"))
		default_float(d);
	else if (!strcmp(kind->valuestring, "sequence"))
		default_sequence(d);
	else if (!strcmp(kind->valuestring, "lease"))
		default_lease(d);
	else if (!strcmp(kind->valuestring, "code"))
		default_code(d);
	else
		return fail(err, errlen,
			    "%s: unknown kind \"%s\" (this build knows int, "
			    "float, code, sequence and lease)", where,
			    kind->valuestring);
	snprintf(d->name, sizeof(d->name), "%s", name->valuestring);
	cJSON_ArrayForEach(it, o) {
		const char *const *k = kind_keys[d->kind];
		size_t j;

		if (!strcmp(it->string, "name") || !strcmp(it->string, "kind"))
			continue;
		for (j = 0; j < 6 && k[j]; j++)
			if (!strcmp(k[j], it->string))
				break;
		if (j == 6 || !k[j])
			return fail(err, errlen, "%s: \"%s\" is not a key of "
				    "%s pools", where, it->string,
				    config_kind_name(d->kind));
	}
	if (d->kind == POOL_SEQUENCE)
		return parse_sequence(o, d, where, err, errlen);
	if (d->kind == POOL_LEASE)
		return parse_lease(o, d, where, err, errlen);
	if (d->kind == POOL_CODE)
		return parse_code(o, d, where, err, errlen);

	if ((v = cJSON_GetObjectItemCaseSensitive(o, "shards"))) {
		if (get_u64(v, "shards", 1, POOL_SHARDS_MAX, &u, err, errlen))
			return -EINVAL;
		d->shards = (unsigned)u;
	}
	if ((v = cJSON_GetObjectItemCaseSensitive(o, "shard_size"))) {
		if (get_u64(v, "shard_size", 1, POOL_SHARD_SIZE_MAX, &u, err,
			    errlen))
			return -EINVAL;
		d->shard_size = u;
	}

	if (d->kind == POOL_INT) {
		int64_t lo = 0, hi = MAX_SAFE_INT;

		if (cJSON_GetObjectItemCaseSensitive(o, "decimals"))
			return fail(err, errlen,
				    "%s: \"decimals\" is for float pools",
				    where);
		if ((v = cJSON_GetObjectItemCaseSensitive(o, "min")) &&
		    get_i64(v, "min", &lo, err, errlen))
			return -EINVAL;
		if ((v = cJSON_GetObjectItemCaseSensitive(o, "max")) &&
		    get_i64(v, "max", &hi, err, errlen))
			return -EINVAL;
		if (lo > hi)
			return fail(err, errlen, "%s: min is above max", where);
		d->min = lo;
		d->capacity = (uint64_t)hi - (uint64_t)lo + 1;
		if (d->capacity == 0)
			return fail(err, errlen,
				    "%s: the range holds 2^64 values; at most "
				    "2^64-1 are supported", where);
	} else {
		int64_t lo = 0, hi = 0;

		if ((v = cJSON_GetObjectItemCaseSensitive(o, "decimals"))) {
			if (get_u64(v, "decimals", 0, FLOAT_DECIMALS_MAX, &u,
				    err, errlen))
				return -EINVAL;
			d->decimals = (unsigned)u;
		}
		if ((v = cJSON_GetObjectItemCaseSensitive(o, "min")) &&
		    get_units(v, d->decimals, "min", &lo, err, errlen))
			return -EINVAL;
		if ((v = cJSON_GetObjectItemCaseSensitive(o, "max"))) {
			if (get_units(v, d->decimals, "max", &hi, err, errlen))
				return -EINVAL;
		} else if (d->decimals > 9) {
			/* The default max, 10^6, would need 7 + decimals digits. */
			return fail(err, errlen, "%s: values up to the default "
				    "max 1000000 with %u decimals would need "
				    "more than 15 significant digits; give a "
				    "smaller max or fewer decimals", where,
				    d->decimals);
		} else {
			hi = 1000000 * value_pow10(d->decimals);
		}
		if (lo >= hi)
			return fail(err, errlen,
				    "%s: min must be below max (a float pool "
				    "is [min, max))", where);
		/*
		 * Distinct values must stay distinct once a client parses them
		 * as doubles: every decimal of at most 15 significant digits
		 * survives that round trip.
		 */
		if (lo <= -FLOAT_UNITS_LIMIT || hi - 1 >= FLOAT_UNITS_LIMIT)
			return fail(err, errlen,
				    "%s: values would need more than 15 "
				    "significant digits, so two of them could "
				    "read as the same double; narrow the range "
				    "or use fewer decimals", where);
		d->min = lo;
		d->capacity = (uint64_t)(hi - lo);
	}
	return 0;
}

static int parse_pools(struct config *c, const cJSON *arr, char *err,
		       size_t errlen)
{
	struct pool_def *pools;
	const cJSON *it;
	size_t n, i, j;
	int rc;

	if (!cJSON_IsArray(arr))
		return fail(err, errlen, "\"pools\" must be an array");
	n = (size_t)cJSON_GetArraySize(arr);
	if (n == 0)
		return fail(err, errlen, "\"pools\" must not be empty");
	if (n > 1024)
		return fail(err, errlen, "at most 1024 pools");
	pools = calloc(n, sizeof(*pools));
	if (!pools)
		return -ENOMEM;
	i = 0;
	cJSON_ArrayForEach(it, arr) {
		rc = parse_pool(it, &pools[i], err, errlen);
		if (rc)
			goto out;
		for (j = 0; j < i; j++)
			if (!strcmp(pools[j].name, pools[i].name)) {
				rc = fail(err, errlen,
					  "pool \"%s\" is declared twice",
					  pools[i].name);
				goto out;
			}
		i++;
	}
	free(c->pools);
	c->pools = pools;
	c->npools = n;
	pools = NULL;
	rc = 0;
out:
	free(pools);
	return rc;
}

int config_parse(struct config *c, const char *json, char *err,
		 size_t errlen)
{
	static const char *const keys[] = { "listen", "data_dir", "threads",
					    "sync", "admin_token", "pools",
					    "max_connections", "idle_timeout",
					    "map_mb", "header_timeout",
					    "body_timeout",
					    "per_ip_connections",
					    "draw_wait_ms", "etcd", "node",
					    NULL };
	/* require_null_terminated: text after the object is an error too. */
	cJSON *root = cJSON_ParseWithOpts(json, NULL, 1);
	const cJSON *v;
	uint64_t u = 0;
	int rc = -EINVAL;

	if (!root) {
		fail(err, errlen, "the configuration is not valid JSON "
				  "(near \"%.20s\")",
		     cJSON_GetErrorPtr() ? cJSON_GetErrorPtr() : "");
		goto out;
	}
	if (!cJSON_IsObject(root)) {
		fail(err, errlen, "the configuration must be a JSON object");
		goto out;
	}
	if (check_keys(root, keys, "the configuration", err, errlen))
		goto out;
	if ((v = cJSON_GetObjectItemCaseSensitive(root, "listen"))) {
		if (!cJSON_IsString(v) ||
		    parse_listen(v->valuestring, c->listen_host,
				 sizeof(c->listen_host), &c->port)) {
			fail(err, errlen,
			     "\"listen\" must be \"ADDR:PORT\", such as "
			     "\"127.0.0.1:8000\"");
			goto out;
		}
	}
	if ((v = cJSON_GetObjectItemCaseSensitive(root, "data_dir"))) {
		if (!cJSON_IsString(v) || !*v->valuestring ||
		    strlen(v->valuestring) >= sizeof(c->data_dir)) {
			fail(err, errlen,
			     "\"data_dir\" must be a non-empty path");
			goto out;
		}
		snprintf(c->data_dir, sizeof(c->data_dir), "%s",
			 v->valuestring);
	}
	if ((v = cJSON_GetObjectItemCaseSensitive(root, "threads"))) {
		if (get_u64(v, "threads", 0, 256, &u, err, errlen))
			goto out;
		c->threads = (unsigned)u;
	}
	if ((v = cJSON_GetObjectItemCaseSensitive(root, "max_connections"))) {
		if (get_u64(v, "max_connections", 1, 1000000, &u, err, errlen))
			goto out;
		c->max_connections = (unsigned)u;
	}
	if ((v = cJSON_GetObjectItemCaseSensitive(root, "map_mb"))) {
		if (get_u64(v, "map_mb", 1, 1 << 24, &u, err, errlen))
			goto out;
		c->map_size = (size_t)u << 20;
	}
	if ((v = cJSON_GetObjectItemCaseSensitive(root, "idle_timeout"))) {
		if (get_u64(v, "idle_timeout", 1, 3600, &u, err, errlen))
			goto out;
		c->idle_timeout = (unsigned)u;
	}
	if ((v = cJSON_GetObjectItemCaseSensitive(root, "header_timeout"))) {
		if (get_u64(v, "header_timeout", 1, 3600, &u, err, errlen))
			goto out;
		c->header_timeout = (unsigned)u;
	}
	if ((v = cJSON_GetObjectItemCaseSensitive(root, "body_timeout"))) {
		if (get_u64(v, "body_timeout", 1, 3600, &u, err, errlen))
			goto out;
		c->body_timeout = (unsigned)u;
	}
	if ((v = cJSON_GetObjectItemCaseSensitive(root,
						  "per_ip_connections"))) {
		if (get_u64(v, "per_ip_connections", 0, 1000000, &u, err,
			    errlen))
			goto out;
		c->per_ip_connections = (unsigned)u;
	}
	if ((v = cJSON_GetObjectItemCaseSensitive(root, "draw_wait_ms"))) {
		if (get_u64(v, "draw_wait_ms", 0, CONFIG_DRAW_WAIT_MS_MAX, &u,
			    err, errlen))
			goto out;
		c->draw_wait_ms = (unsigned)u;
	}
	if ((v = cJSON_GetObjectItemCaseSensitive(root, "sync"))) {
		if (!cJSON_IsBool(v)) {
			fail(err, errlen, "\"sync\" must be true or false");
			goto out;
		}
		c->sync = cJSON_IsTrue(v);
	}
	if ((v = cJSON_GetObjectItemCaseSensitive(root, "etcd"))) {
		if (!cJSON_IsString(v) ||
		    strlen(v->valuestring) >= sizeof(c->etcd)) {
			fail(err, errlen, "\"etcd\" must be a string of "
			     "etcd client URLs, comma-separated, such as "
			     "\"http://127.0.0.1:2379\"");
			goto out;
		}
		snprintf(c->etcd, sizeof(c->etcd), "%s", v->valuestring);
	}
	if ((v = cJSON_GetObjectItemCaseSensitive(root, "node"))) {
		if (!cJSON_IsString(v) || !*v->valuestring ||
		    strlen(v->valuestring) >= sizeof(c->node)) {
			fail(err, errlen, "\"node\" must be a name of 1 to "
			     "64 characters");
			goto out;
		}
		snprintf(c->node, sizeof(c->node), "%s", v->valuestring);
	}
	if ((v = cJSON_GetObjectItemCaseSensitive(root, "admin_token"))) {
		rc = config_set_admin_token(c, cJSON_IsString(v) ?
					    v->valuestring : NULL,
					    "\"admin_token\"", err, errlen);
		if (rc)
			goto out;
	}
	if ((v = cJSON_GetObjectItemCaseSensitive(root, "pools"))) {
		rc = parse_pools(c, v, err, errlen);
		if (rc)
			goto out;
	}
	rc = 0;
out:
	cJSON_Delete(root);
	return rc;
}

int config_set_admin_token(struct config *c, const char *token,
			   const char *source, char *err, size_t errlen)
{
	size_t n = token ? strlen(token) : 0;
	char *copy;

	if (!token || n < CONFIG_TOKEN_MIN || n > CONFIG_TOKEN_MAX)
		return fail(err, errlen, "%s must be a string of %d to %d "
			    "characters", source, CONFIG_TOKEN_MIN,
			    CONFIG_TOKEN_MAX);
	copy = strdup(token);
	if (!copy)
		return -ENOMEM;
	free(c->admin_token);
	c->admin_token = copy;
	return 0;
}

int config_load_file(struct config *c, const char *path, char *err,
		     size_t errlen)
{
	FILE *f = fopen(path, "re");
	char *text = NULL;
	size_t n;
	int rc;

	if (!f) {
		rc = -errno;
		snprintf(err, errlen, "cannot open %s: %s", path,
			 log_strerror(errno));
		return rc;
	}
	text = malloc(CONFIG_FILE_MAX + 1);
	if (!text) {
		rc = -ENOMEM;
		snprintf(err, errlen, "out of memory");
		goto out;
	}
	n = fread(text, 1, CONFIG_FILE_MAX + 1, f);
	if (ferror(f) || n > CONFIG_FILE_MAX) {
		rc = fail(err, errlen, "cannot read %s (or it is over 1 MiB)",
			  path);
		goto out;
	}
	text[n] = '\0';
	rc = config_parse(c, text, err, errlen);
out:
	free(text);
	fclose(f);
	return rc;
}
