/*
 * test_config.c: tests common/config: the built-in defaults, a full valid
 * configuration and the accepted edge cases (big integers as strings,
 * float bounds as strings, negative float ranges, IPv6 listen), every
 * error path of config_parse (-EINVAL and a message naming the culprit),
 * config_load_file on missing, valid, invalid and oversized files, and
 * that nothing leaks (run under ASan/LSan).
 */
#include <errno.h>
#include <inttypes.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/config.h"
#include "common/value.h"
#include "tests/unit/t.h"
#include "common/banned.h"

#define SAFE_MAX 9007199254740991ULL /* 2^53 - 1 */

static void test_defaults(void)
{
	struct config c;
	const struct pool_def *i, *f;

	memset(&c, 0x5a, sizeof(c));
	CHECK(config_default(&c) == 0);
	CHECK_STR(c.listen_host, "127.0.0.1");
	CHECK_EQ_U64(c.port, 8000);
	CHECK(c.sync == true);
	CHECK(c.admin_token == NULL);
	CHECK_EQ_U64(c.header_timeout, 10);
	CHECK_EQ_U64(c.body_timeout, 10);
	CHECK_EQ_U64(c.per_ip_connections, 2048);
	CHECK_EQ_U64(c.draw_wait_ms, 200);
	CHECK_STR(c.etcd, "");	/* standalone unless asked */
	CHECK_STR(c.node, "");
	CHECK(c.data_dir[0] != '\0');
	CHECK_EQ_U64(c.npools, 5);
	i = config_pool(&c, "int");
	f = config_pool(&c, "float");
	CHECK(i != NULL && f != NULL);
	{
		const struct pool_def *o = config_pool(&c, "orders");

		const struct pool_def *u = config_pool(&c, "users");

		CHECK(o && o->kind == POOL_SEQUENCE && o->digits == 5 &&
		      o->capacity == 99999 && !strcmp(o->tz, "UTC"));
		CHECK(u && u->kind == POOL_LEASE && u->min == 10000 &&
		      u->capacity == 10000 && u->ttl == 600 &&
		      u->check_ttl == 0);
	}
	CHECK(config_pool(&c, "nope") == NULL);
	CHECK(config_pool(&c, "") == NULL);
	if (i) {
		CHECK(i->kind == POOL_INT);
		CHECK(i->min == 0);
		CHECK_EQ_U64(i->capacity, SAFE_MAX + 1);
		CHECK(i->shards >= 1 && i->shards <= POOL_SHARDS_MAX);
		CHECK(i->shard_size >= 1);
	}
	if (f) {
		CHECK(f->kind == POOL_FLOAT);
		CHECK(f->min == 0);
		CHECK_EQ_U64(f->decimals, 6);
		CHECK_EQ_U64(f->capacity, 1000000000000ULL);
		CHECK(f->shards >= 1 && f->shards <= POOL_SHARDS_MAX);
	}
	CHECK_STR(config_kind_name(POOL_INT), "int");
	CHECK_STR(config_kind_name(POOL_FLOAT), "float");
	CHECK(config_kind_is_random(POOL_INT));
	CHECK(config_kind_is_random(POOL_FLOAT));
	config_release(&c);
	CHECK(c.pools == NULL && c.npools == 0 && c.admin_token == NULL);
	config_release(&c);	/* twice is harmless */
}

/* The text of value k of pool d, for checking bounds as a client sees
 * them. */
static const char *text_of(const struct pool_def *d, uint64_t k)
{
	static char buf[VALUE_TEXT_MAX + 1];

	value_format(d, k, buf);
	return buf;
}

static void test_full(void)
{
	static const char json[] =
		"{\n"
		"  \"listen\": \"0.0.0.0:9000\",\n"
		"  \"data_dir\": \"/var/lib/uniqd\",\n"
		"  \"threads\": 4,\n"
		"  \"sync\": false,\n"
		"  \"draw_wait_ms\": 0,\n"
		"  \"etcd\": \"http://127.0.0.1:2379,http://127.0.0.1:22379\",\n"
		"  \"node\": \"node-a.1\",\n"
		"  \"admin_token\": \"0123456789abcdef\",\n"
		"  \"pools\": [\n"
		"    {\"name\": \"ids\", \"kind\": \"int\",\n"
		"     \"min\": \"-9223372036854775807\",\n"
		"     \"max\": \"9223372036854775807\",\n"
		"     \"shards\": 4, \"shard_size\": 1000},\n"
		"    {\"name\": \"prices\", \"kind\": \"float\",\n"
		"     \"min\": \"0.5\", \"max\": 100.25, \"decimals\": 2,\n"
		"     \"shards\": 1},\n"
		"    {\"name\": \"Neg_1-x\", \"kind\": \"float\",\n"
		"     \"decimals\": 1,\n"
		"     \"min\": -10.5, \"max\": \"-0.5\"},\n"
		"    {\"name\": \"small\", \"kind\": \"int\", \"min\": -5,\n"
		"     \"max\": 5},\n"
		"    {\"kind\": \"int\", \"name\": \"defaults\"}\n"
		"  ]\n"
		"}\n";
	struct config c;
	char err[256] = "";
	const struct pool_def *d;
	int rc;

	CHECK(config_default(&c) == 0);
	rc = config_parse(&c, json, err, sizeof(err));
	CHECKF(rc == 0, "rc %d: %s", rc, err);
	CHECK_STR(c.listen_host, "0.0.0.0");
	CHECK_EQ_U64(c.port, 9000);
	CHECK_STR(c.data_dir, "/var/lib/uniqd");
	CHECK_EQ_U64(c.threads, 4);
	CHECK(c.sync == false);
	CHECK_EQ_U64(c.draw_wait_ms, 0);
	CHECK_STR(c.etcd, "http://127.0.0.1:2379,http://127.0.0.1:22379");
	CHECK_STR(c.node, "node-a.1");
	CHECK(c.admin_token && !strcmp(c.admin_token, "0123456789abcdef"));
	CHECK_EQ_U64(c.npools, 5);
	/* "pools" replaces the default pools. */
	CHECK(config_pool(&c, "int") == NULL);
	CHECK(config_pool(&c, "float") == NULL);

	d = config_pool(&c, "ids");
	CHECK(d != NULL);
	if (d) {
		CHECK(d->kind == POOL_INT);
		CHECK(d->min == INT64_MIN + 1);
		CHECK_EQ_U64(d->capacity, UINT64_MAX);
		CHECK_EQ_U64(d->shards, 4);
		CHECK_EQ_U64(d->shard_size, 1000);
		CHECK_STR(text_of(d, 0), "-9223372036854775807");
		CHECK_STR(text_of(d, d->capacity - 1), "9223372036854775807");
	}
	d = config_pool(&c, "prices");
	CHECK(d != NULL);
	if (d) {
		CHECK(d->kind == POOL_FLOAT);
		CHECK_EQ_U64(d->decimals, 2);
		CHECK_EQ_U64(d->shards, 1);
		/* [0.50, 100.25) in hundredths. */
		CHECK(d->min == 50);
		CHECK_EQ_U64(d->capacity, 10025 - 50);
		CHECK_STR(text_of(d, 0), "0.50");
		CHECK_STR(text_of(d, d->capacity - 1), "100.24");
	}
	d = config_pool(&c, "Neg_1-x");
	CHECK(d != NULL);
	if (d) {
		CHECK(d->min == -105);
		CHECK_EQ_U64(d->capacity, 100);
		CHECK_STR(text_of(d, 0), "-10.5");
		CHECK_STR(text_of(d, d->capacity - 1), "-0.6");
	}
	d = config_pool(&c, "small");
	CHECK(d != NULL);
	if (d) {
		CHECK(d->min == -5);
		CHECK_EQ_U64(d->capacity, 11);
	}
	d = config_pool(&c, "defaults");
	CHECK(d != NULL);
	if (d) {
		CHECK(d->kind == POOL_INT && d->min == 0);
		CHECK_EQ_U64(d->capacity, SAFE_MAX + 1);
	}
	config_release(&c);
}

/* Parses json over the defaults and returns its rc; the config is
 * released. */
static int parse_only(const char *json, char *err, size_t errlen)
{
	struct config c;
	int rc;

	if (config_default(&c))
		return -ENOMEM;
	err[0] = '\0';
	rc = config_parse(&c, json, err, errlen);
	config_release(&c);
	return rc;
}

/* json must be refused with -EINVAL and a message containing culprit. */
static void refused(const char *json, const char *culprit)
{
	char err[512];
	int rc = parse_only(json, err, sizeof(err));

	CHECKF(rc == -EINVAL, "accepted (rc %d): %s", rc, json);
	if (rc == -EINVAL) {
		CHECKF(err[0] != '\0', "no message for %s", json);
		CHECKF(strstr(err, culprit) != NULL,
		       "message \"%s\" does not mention \"%s\" (config %s)",
		       err, culprit, json);
	}
}

/* A configuration with the single pool given. */
static void pool_refused(const char *pool, const char *culprit)
{
	char json[1024];

	snprintf(json, sizeof(json), "{\"pools\": [%s]}", pool);
	refused(json, culprit);
}

/* The single pool given must be accepted; returns its def (static). */
static const struct pool_def *pool_accepted(const char *pool)
{
	static struct pool_def out;
	struct config c;
	char json[1024], err[512] = "";
	int rc;

	memset(&out, 0, sizeof(out));
	snprintf(json, sizeof(json), "{\"pools\": [%s]}", pool);
	if (config_default(&c))
		return NULL;
	rc = config_parse(&c, json, err, sizeof(err));
	CHECKF(rc == 0 && c.npools == 1, "refused (rc %d, %s): %s", rc, err,
	       pool);
	if (rc == 0 && c.npools == 1)
		out = c.pools[0];
	config_release(&c);
	return rc ? NULL : &out;
}

static void test_errors_top(void)
{
	char json[2048], tok[300], dir[1100];

	refused("", "JSON");
	refused("{", "JSON");
	refused("{\"listen\": }", "JSON");
	refused("{\"sync\": true,}", "JSON");
	/* Trailing text after the object is not JSON either. */
	refused("{} {}", "JSON");
	refused("{\"sync\": false} x", "JSON");
	refused("[]", "object");
	refused("42", "object");
	refused("\"pools\"", "object");
	refused("null", "object");
	refused("{\"lisen\": \"127.0.0.1:8000\"}", "lisen");
	refused("{\"Pools\": []}", "Pools");
	refused("{\"sync\": true, \"sync\": false}", "sync");
	refused("{\"threads\": 2, \"sync\": true, \"threads\": 2}",
		"threads");
	refused("{\"pools\": {}}", "pools");
	refused("{\"pools\": \"int\"}", "pools");
	refused("{\"pools\": null}", "pools");
	refused("{\"pools\": []}", "pools");
	refused("{\"threads\": 257}", "threads");
	refused("{\"header_timeout\": 0}", "header_timeout");
	refused("{\"header_timeout\": 3601}", "header_timeout");
	refused("{\"body_timeout\": 0}", "body_timeout");
	refused("{\"body_timeout\": 3601}", "body_timeout");
	refused("{\"per_ip_connections\": -1}", "per_ip_connections");
	refused("{\"per_ip_connections\": 1000001}", "per_ip_connections");
	refused("{\"draw_wait_ms\": -1}", "draw_wait_ms");
	refused("{\"draw_wait_ms\": 10001}", "draw_wait_ms");
	refused("{\"draw_wait_ms\": 1.5}", "draw_wait_ms");
	refused("{\"etcd\": 2379}", "etcd");
	refused("{\"node\": \"\"}", "node");
	refused("{\"node\": 7}", "node");
	refused("{\"threads\": -1}", "threads");
	refused("{\"threads\": 1.5}", "threads");
	refused("{\"threads\": \"four\"}", "threads");
	refused("{\"threads\": true}", "threads");
	refused("{\"sync\": \"yes\"}", "sync");
	refused("{\"sync\": 1}", "sync");
	refused("{\"sync\": null}", "sync");
	refused("{\"admin_token\": \"short\"}", "admin_token");
	refused("{\"admin_token\": \"1234567\"}", "admin_token");
	refused("{\"admin_token\": 12345678}", "admin_token");
	memset(tok, 'a', 257);
	tok[257] = '\0';
	snprintf(json, sizeof(json), "{\"admin_token\": \"%s\"}", tok);
	refused(json, "admin_token");
	refused("{\"listen\": \"8000\"}", "listen");
	refused("{\"listen\": \"1.2.3.4\"}", "listen");
	refused("{\"listen\": \"[::1]8000\"}", "listen");
	refused("{\"listen\": \"host:99999\"}", "listen");
	refused("{\"listen\": \"127.0.0.1:\"}", "listen");
	refused("{\"listen\": \"::1:8000\"}", "listen");
	refused("{\"listen\": 8000}", "listen");
	refused("{\"data_dir\": \"\"}", "data_dir");
	refused("{\"data_dir\": 7}", "data_dir");
	memset(dir, 'd', 1024);
	dir[1024] = '\0';
	snprintf(json, sizeof(json), "{\"data_dir\": \"%s\"}", dir);
	refused(json, "data_dir");
}

static void test_errors_pool(void)
{
	char pool[256], name[40];

	refused("{\"pools\": [1]}", "object");
	refused("{\"pools\": [\"int\"]}", "object");
	refused("{\"pools\": [[\"name\", \"x\"]]}", "object");
	refused("{\"pools\": [null]}", "object");
	pool_refused("{\"kind\": \"int\"}", "name");
	pool_refused("{\"name\": 5, \"kind\": \"int\"}", "name");
	pool_refused("{\"name\": \"\", \"kind\": \"int\"}", "name");
	memset(name, 'n', 33);
	name[33] = '\0';
	snprintf(pool, sizeof(pool), "{\"name\": \"%s\", \"kind\": \"int\"}",
		 name);
	pool_refused(pool, name);
	pool_refused("{\"name\": \"a b\", \"kind\": \"int\"}", "a b");
	pool_refused("{\"name\": \"a/b\", \"kind\": \"int\"}", "a/b");
	pool_refused("{\"name\": \"a.b\", \"kind\": \"int\"}", "a.b");
	pool_refused("{\"name\": \"caf\xc3\xa9\", \"kind\": \"int\"}",
		     "caf\xc3\xa9");
	pool_refused("{\"name\": \"p\"}", "kind");
	pool_refused("{\"name\": \"p\", \"kind\": 1}", "kind");
	pool_refused("{\"name\": \"p\", \"kind\": \"widget\"}", "widget");
	pool_refused("{\"name\": \"p\", \"kind\": \"INT\"}", "INT");
	pool_refused("{\"name\": \"p\", \"kind\": \"int\", \"colour\": 1}",
		     "colour");
	pool_refused("{\"name\": \"p\", \"kind\": \"int\", \"min\": 1, "
		     "\"min\": 2}", "min");

	/* int pools */
	pool_refused("{\"name\": \"p\", \"kind\": \"int\", \"min\": 10, "
		     "\"max\": 5}", "\"p\"");
	pool_refused("{\"name\": \"p\", \"kind\": \"int\", "
		     "\"min\": \"-9223372036854775808\", "
		     "\"max\": \"9223372036854775807\"}", "2^64");
	pool_refused("{\"name\": \"p\", \"kind\": \"int\", \"min\": 1.5}",
		     "min");
	pool_refused("{\"name\": \"p\", \"kind\": \"int\", \"max\": 1.5}",
		     "max");
	pool_refused("{\"name\": \"p\", \"kind\": \"int\", "
		     "\"max\": 9007199254740992}", "max");
	pool_refused("{\"name\": \"p\", \"kind\": \"int\", "
		     "\"min\": -9007199254740992}", "min");
	pool_refused("{\"name\": \"p\", \"kind\": \"int\", \"max\": 1e300}",
		     "max");
	pool_refused("{\"name\": \"p\", \"kind\": \"int\", \"max\": \"1.5\"}",
		     "max");
	pool_refused("{\"name\": \"p\", \"kind\": \"int\", "
		     "\"max\": \"9223372036854775808\"}", "max");
	pool_refused("{\"name\": \"p\", \"kind\": \"int\", \"min\": true}",
		     "min");
	pool_refused("{\"name\": \"p\", \"kind\": \"int\", \"decimals\": 0}",
		     "decimals");
	pool_refused("{\"name\": \"p\", \"kind\": \"int\", \"shards\": 0}",
		     "shards");
	pool_refused("{\"name\": \"p\", \"kind\": \"int\", \"shards\": 65}",
		     "shards");
	pool_refused("{\"name\": \"p\", \"kind\": \"int\", \"shards\": -1}",
		     "shards");
	pool_refused("{\"name\": \"p\", \"kind\": \"int\", "
		     "\"shard_size\": 0}", "shard_size");
	pool_refused("{\"name\": \"p\", \"kind\": \"int\", "
		     "\"shard_size\": 100000001}", "shard_size");

	/* float pools */
	pool_refused("{\"name\": \"p\", \"kind\": \"float\", \"min\": 5, "
		     "\"max\": 5}", "\"p\"");
	pool_refused("{\"name\": \"p\", \"kind\": \"float\", \"min\": 6, "
		     "\"max\": 5}", "\"p\"");
	pool_refused("{\"name\": \"p\", \"kind\": \"float\", "
		     "\"min\": 0.1234567, \"decimals\": 6}", "min");
	pool_refused("{\"name\": \"p\", \"kind\": \"float\", "
		     "\"min\": \"0.1234567\", \"decimals\": 6}", "min");
	pool_refused("{\"name\": \"p\", \"kind\": \"float\", "
		     "\"max\": 2.5, \"decimals\": 0}", "max");
	pool_refused("{\"name\": \"p\", \"kind\": \"float\", "
		     "\"max\": \"abc\"}", "max");
	pool_refused("{\"name\": \"p\", \"kind\": \"float\", \"max\": true}",
		     "max");
	pool_refused("{\"name\": \"p\", \"kind\": \"float\", \"max\": 1e20}",
		     "max");
	pool_refused("{\"name\": \"p\", \"kind\": \"float\", "
		     "\"decimals\": 16}", "decimals");
	pool_refused("{\"name\": \"p\", \"kind\": \"float\", "
		     "\"decimals\": -1}", "decimals");
	pool_refused("{\"name\": \"p\", \"kind\": \"float\", "
		     "\"decimals\": 1.5}", "decimals");
	/* More than 15 significant digits. */
	pool_refused("{\"name\": \"p\", \"kind\": \"float\", "
		     "\"decimals\": 10, \"max\": 1e6}", "max");
	pool_refused("{\"name\": \"p\", \"kind\": \"float\", "
		     "\"decimals\": 6, \"max\": \"1000000000.000001\"}",
		     "digits");
	pool_refused("{\"name\": \"p\", \"kind\": \"float\", "
		     "\"decimals\": 0, \"max\": 1000000000000001}", "digits");
	pool_refused("{\"name\": \"p\", \"kind\": \"float\", "
		     "\"decimals\": 6, \"min\": -1000000000}", "digits");
	/* The default max (10^6) with 10 to 15 decimals needs 17 to 22
	 * digits: the message must say so (not that min is above max). */
	pool_refused("{\"name\": \"p\", \"kind\": \"float\", "
		     "\"decimals\": 10}", "digits");
	pool_refused("{\"name\": \"p\", \"kind\": \"float\", "
		     "\"decimals\": 12}", "digits");
	pool_refused("{\"name\": \"p\", \"kind\": \"float\", "
		     "\"decimals\": 13}", "digits");
	pool_refused("{\"name\": \"p\", \"kind\": \"float\", "
		     "\"decimals\": 15}", "digits");

	/* Two pools of one name. */
	refused("{\"pools\": [{\"name\": \"twin\", \"kind\": \"int\"}, "
		"{\"name\": \"other\", \"kind\": \"int\"}, "
		"{\"name\": \"twin\", \"kind\": \"float\"}]}", "twin");
	/* A bad pool after good ones. */
	refused("{\"pools\": [{\"name\": \"a\", \"kind\": \"int\"}, "
		"{\"name\": \"b\", \"kind\": \"int\", \"shards\": 0}]}",
		"shards");
}

static void test_accepted(void)
{
	const struct pool_def *d;
	char pool[256], name[40];
	struct config c;
	char err[256] = "";
	int rc;

	/* Big ints as strings, and the int64 edges. */
	d = pool_accepted("{\"name\": \"p\", \"kind\": \"int\", "
			  "\"min\": \"-9223372036854775808\", "
			  "\"max\": \"9223372036854775806\"}");
	CHECK(d && d->min == INT64_MIN && d->capacity == UINT64_MAX);
	d = pool_accepted("{\"name\": \"p\", \"kind\": \"int\", "
			  "\"min\": \"9223372036854775807\", "
			  "\"max\": \"9223372036854775807\"}");
	CHECK(d && d->min == INT64_MAX && d->capacity == 1);
	d = pool_accepted("{\"name\": \"p\", \"kind\": \"int\", "
			  "\"min\": -9007199254740991, "
			  "\"max\": 9007199254740991}");
	CHECK(d && d->min == -(int64_t)SAFE_MAX &&
	      d->capacity == 2 * SAFE_MAX + 1);
	d = pool_accepted("{\"name\": \"p\", \"kind\": \"int\", \"min\": 7, "
			  "\"max\": 7, \"shards\": 64, "
			  "\"shard_size\": 100000000}");
	CHECK(d && d->min == 7 && d->capacity == 1 && d->shards == 64 &&
	      d->shard_size == 100000000);
	d = pool_accepted("{\"name\": \"p\", \"kind\": \"int\", "
			  "\"shards\": \"3\"}");
	CHECK(d && d->shards == 3);

	/* Names: 32 characters, and every allowed character. */
	memset(name, 'N', 32);
	name[32] = '\0';
	snprintf(pool, sizeof(pool), "{\"name\": \"%s\", \"kind\": \"int\"}",
		 name);
	d = pool_accepted(pool);
	CHECK(d && !strcmp(d->name, name));
	d = pool_accepted("{\"name\": \"az_AZ-09\", \"kind\": \"int\"}");
	CHECK(d && !strcmp(d->name, "az_AZ-09"));

	/* Floats: defaults of the kind, strings, negatives, exponents. */
	d = pool_accepted("{\"name\": \"f\", \"kind\": \"float\"}");
	CHECK(d && d->min == 0 && d->decimals == 6 &&
	      d->capacity == 1000000000000ULL);
	d = pool_accepted("{\"name\": \"f\", \"kind\": \"float\", "
			  "\"max\": 1e6}");
	CHECK(d && d->capacity == 1000000000000ULL);
	d = pool_accepted("{\"name\": \"f\", \"kind\": \"float\", "
			  "\"min\": \"0.5\", \"max\": \"0.75\"}");
	CHECK(d && d->min == 500000 && d->capacity == 250000);
	d = pool_accepted("{\"name\": \"f\", \"kind\": \"float\", "
			  "\"min\": 0.1, \"max\": 0.3, \"decimals\": 1}");
	CHECK(d && d->min == 1 && d->capacity == 2);
	d = pool_accepted("{\"name\": \"f\", \"kind\": \"float\", "
			  "\"min\": -1, \"max\": 1}");
	CHECK(d && d->min == -1000000 && d->capacity == 2000000);
	if (d) {
		CHECK_STR(text_of(d, 999999), "-0.000001");
		CHECK_STR(text_of(d, 1000000), "0.000000");
	}
	d = pool_accepted("{\"name\": \"f\", \"kind\": \"float\", "
			  "\"min\": \"-2.5\", \"max\": -1.25, "
			  "\"decimals\": 2}");
	CHECK(d && d->min == -250 && d->capacity == 125);
	d = pool_accepted("{\"name\": \"f\", \"kind\": \"float\", "
			  "\"min\": \"-999999.999999\", \"max\": 0}");
	CHECK(d && d->min == -999999999999LL &&
	      d->capacity == 999999999999ULL);
	d = pool_accepted("{\"name\": \"f\", \"kind\": \"float\", "
			  "\"decimals\": 0, \"max\": 1000000000000000}");
	CHECK(d && d->min == 0 && d->capacity == 1000000000000000ULL);
	d = pool_accepted("{\"name\": \"f\", \"kind\": \"float\", "
			  "\"decimals\": 6, \"max\": \"1000000000\"}");
	CHECK(d && d->capacity == 1000000000000000ULL);
	d = pool_accepted("{\"name\": \"f\", \"kind\": \"float\", "
			  "\"decimals\": 15, \"min\": 0, \"max\": 0.5}");
	CHECK(d && d->decimals == 15 && d->min == 0 &&
	      d->capacity == 500000000000000ULL);
	d = pool_accepted("{\"name\": \"f\", \"kind\": \"float\", "
			  "\"max\": 0.5, \"decimals\": 13}");
	CHECK(d && d->decimals == 13 && d->capacity == 5000000000000ULL);
	d = pool_accepted("{\"name\": \"f\", \"kind\": \"float\", "
			  "\"decimals\": 9}");
	CHECK(d && d->capacity == 1000000000000000ULL);

	/* Listen forms. */
	CHECK(config_default(&c) == 0);
	rc = config_parse(&c, "{\"listen\": \"[::1]:0\"}", err, sizeof(err));
	CHECKF(rc == 0, "%s", err);
	CHECK_STR(c.listen_host, "::1");
	CHECK_EQ_U64(c.port, 0);
	rc = config_parse(&c, "{\"listen\": \"localhost:65535\", "
			  "\"threads\": 0}", err, sizeof(err));
	CHECKF(rc == 0, "%s", err);
	CHECK_STR(c.listen_host, "localhost");
	CHECK_EQ_U64(c.port, 65535);
	config_release(&c);

	/* A key left out keeps its default; an empty object changes nothing. */
	CHECK(config_default(&c) == 0);
	rc = config_parse(&c, "{}", err, sizeof(err));
	CHECK(rc == 0);
	rc = config_parse(&c, " {\"threads\": 256, \"sync\": true} ", err,
			  sizeof(err));
	CHECK(rc == 0);
	CHECK_EQ_U64(c.threads, 256);
	CHECK_EQ_U64(c.npools, 5);
	CHECK(config_pool(&c, "int") && config_pool(&c, "float"));
	CHECK_STR(c.listen_host, "127.0.0.1");
	CHECK_EQ_U64(c.port, 8000);
	/* A second token replaces the first (LSan sees a leak otherwise). */
	CHECK(config_parse(&c, "{\"admin_token\": \"aaaaaaaa\"}", err,
			   sizeof(err)) == 0);
	CHECK(config_parse(&c, "{\"admin_token\": \"bbbbbbbbbb\"}", err,
			   sizeof(err)) == 0);
	CHECK(c.admin_token && !strcmp(c.admin_token, "bbbbbbbbbb"));
	/* A refused pools array leaves the pools as they were. */
	rc = config_parse(&c, "{\"pools\": [{\"name\": \"x\", \"kind\": "
			  "\"int\"}, {\"name\": \"x\", \"kind\": \"int\"}]}",
			  err, sizeof(err));
	CHECK(rc == -EINVAL);
	CHECK_EQ_U64(c.npools, 5);
	CHECK(config_pool(&c, "int") && !config_pool(&c, "x"));
	/* err may be NULL. */
	CHECK(config_parse(&c, "{\"sync\": 1}", NULL, 0) == -EINVAL);
	/* A short err buffer is still terminated. */
	memset(err, 'Z', sizeof(err));
	CHECK(config_parse(&c, "{\"sync\": 1}", err, 8) == -EINVAL);
	CHECK(memchr(err, '\0', 8) != NULL);
	config_release(&c);
}

static int write_file(const char *path, const char *text, size_t pad)
{
	FILE *f = fopen(path, "w");
	size_t i;
	int rc = 0;

	if (!f)
		return -1;
	if (fputs(text, f) < 0)
		rc = -1;
	for (i = 0; i < pad && !rc; i++)
		if (fputc(' ', f) == EOF)
			rc = -1;
	if (fclose(f))
		rc = -1;
	return rc;
}

static void test_load_file(void)
{
	const char *dir = t_tmpdir();
	char path[512], bad[512], big[512], missing[512], err[512];
	struct config c;
	int rc;

	snprintf(path, sizeof(path), "%s/uniqd.json", dir);
	snprintf(bad, sizeof(bad), "%s/bad.json", dir);
	snprintf(big, sizeof(big), "%s/big.json", dir);
	snprintf(missing, sizeof(missing), "%s/missing.json", dir);

	CHECK(config_default(&c) == 0);
	err[0] = '\0';
	rc = config_load_file(&c, missing, err, sizeof(err));
	CHECK(rc == -ENOENT);
	CHECKF(strstr(err, "missing.json") != NULL, "message: %s", err);
	config_release(&c);

	CHECK(write_file(path, "{\"listen\": \"127.0.0.1:8123\", \"pools\": "
			 "[{\"name\": \"disk\", \"kind\": \"int\", "
			 "\"max\": 99}]}\n", 0) == 0);
	CHECK(config_default(&c) == 0);
	rc = config_load_file(&c, path, err, sizeof(err));
	CHECKF(rc == 0, "%s", err);
	CHECK_EQ_U64(c.port, 8123);
	CHECK_EQ_U64(c.npools, 1);
	CHECK(config_pool(&c, "disk") &&
	      config_pool(&c, "disk")->capacity == 100);
	config_release(&c);

	CHECK(write_file(bad, "{\"pools\": [}", 0) == 0);
	CHECK(config_default(&c) == 0);
	err[0] = '\0';
	CHECK(config_load_file(&c, bad, err, sizeof(err)) == -EINVAL);
	CHECK(err[0] != '\0');
	config_release(&c);

	/* Over 1 MiB, even if it is only whitespace after valid JSON. */
	CHECK(write_file(big, "{}", 1 << 20) == 0);
	CHECK(config_default(&c) == 0);
	err[0] = '\0';
	CHECK(config_load_file(&c, big, err, sizeof(err)) == -EINVAL);
	CHECK(err[0] != '\0');
	config_release(&c);

	/* A directory is not a configuration file. */
	CHECK(config_default(&c) == 0);
	err[0] = '\0';
	CHECK(config_load_file(&c, dir, err, sizeof(err)) < 0);
	CHECK(err[0] != '\0');
	config_release(&c);

	unlink(path);
	unlink(bad);
	unlink(big);
	CHECK(rmdir(dir) == 0);
}

/* Sequence pools: tz and digits, and the keys of the other kinds. */
static void test_sequence(void)
{
	const struct pool_def *d;

	d = pool_accepted("{\"name\": \"o\", \"kind\": \"sequence\"}");
	CHECK(d && d->kind == POOL_SEQUENCE && d->digits == 5 &&
	      d->capacity == 99999 && !strcmp(d->tz, "UTC"));
	d = pool_accepted("{\"name\": \"o\", \"kind\": \"sequence\", "
			  "\"digits\": 12, \"tz\": \"America/Argentina/"
			  "Buenos_Aires\"}");
	CHECK(d && d->digits == 12 && d->capacity == 999999999999ull &&
	      !strcmp(d->tz, "America/Argentina/Buenos_Aires"));
	d = pool_accepted("{\"name\": \"o\", \"kind\": \"sequence\", "
			  "\"digits\": 1, \"tz\": \"Etc/GMT+5\"}");
	CHECK(d && d->capacity == 9);
	pool_refused("{\"name\": \"o\", \"kind\": \"sequence\", "
		     "\"digits\": 0}", "digits");
	pool_refused("{\"name\": \"o\", \"kind\": \"sequence\", "
		     "\"digits\": 13}", "digits");
	pool_refused("{\"name\": \"o\", \"kind\": \"sequence\", "
		     "\"tz\": \"\"}", "tz");
	pool_refused("{\"name\": \"o\", \"kind\": \"sequence\", "
		     "\"tz\": \"../../etc/passwd\"}", "tz");
	pool_refused("{\"name\": \"o\", \"kind\": \"sequence\", "
		     "\"tz\": 5}", "tz");
	pool_refused("{\"name\": \"o\", \"kind\": \"sequence\", "
		     "\"tz\": \"Europe/Paris Berlin\"}", "tz");
	pool_refused("{\"name\": \"o\", \"kind\": \"sequence\", "
		     "\"min\": 1}", "min");
	pool_refused("{\"name\": \"o\", \"kind\": \"sequence\", "
		     "\"shards\": 2}", "shards");
	pool_refused("{\"name\": \"i\", \"kind\": \"int\", "
		     "\"digits\": 5}", "digits");
	pool_refused("{\"name\": \"f\", \"kind\": \"float\", "
		     "\"tz\": \"UTC\"}", "tz");
}

/* Lease pools: start, count, ttl, check_ttl, and seed 001's
 * environment. */
static void test_lease(void)
{
	const struct pool_def *d;
	struct config c;
	char err[256];

	d = pool_accepted("{\"name\": \"u\", \"kind\": \"lease\"}");
	CHECK(d && d->kind == POOL_LEASE && d->min == 10000 &&
	      d->capacity == 10000 && d->ttl == 600 && d->check_ttl == 0);
	d = pool_accepted("{\"name\": \"u\", \"kind\": \"lease\", "
			  "\"start\": -5, \"count\": 10, \"ttl\": 0}");
	CHECK(d && d->min == -5 && d->capacity == 10 && d->ttl == 0 &&
	      d->check_ttl == 0);
	/* check_ttl: GET /check's lease time, apart from ttl */
	d = pool_accepted("{\"name\": \"u\", \"kind\": \"lease\", "
			  "\"ttl\": 1, \"check_ttl\": 7200}");
	CHECK(d && d->ttl == 1 && d->check_ttl == 7200);
	d = pool_accepted("{\"name\": \"u\", \"kind\": \"lease\", "
			  "\"check_ttl\": 31622400}");
	CHECK(d && d->ttl == 600 && d->check_ttl == LEASE_TTL_MAX);
	pool_refused("{\"name\": \"u\", \"kind\": \"lease\", "
		     "\"check_ttl\": -1}", "check_ttl");
	pool_refused("{\"name\": \"u\", \"kind\": \"lease\", "
		     "\"check_ttl\": 31622401}", "check_ttl");
	pool_refused("{\"name\": \"u\", \"kind\": \"lease\", "
		     "\"check_ttl\": 1.5}", "check_ttl");
	pool_refused("{\"name\": \"u\", \"kind\": \"lease\", "
		     "\"check_ttl\": \"soon\"}", "check_ttl");
	pool_refused("{\"name\": \"u\", \"kind\": \"lease\", "
		     "\"check_ttl\": null}", "check_ttl");
	pool_refused("{\"name\": \"i\", \"kind\": \"int\", "
		     "\"check_ttl\": 5}", "check_ttl");
	pool_refused("{\"name\": \"u\", \"kind\": \"lease\", "
		     "\"count\": 0}", "count");
	pool_refused("{\"name\": \"u\", \"kind\": \"lease\", "
		     "\"count\": 10000001}", "count");
	pool_refused("{\"name\": \"u\", \"kind\": \"lease\", "
		     "\"ttl\": -1}", "ttl");
	pool_refused("{\"name\": \"u\", \"kind\": \"lease\", "
		     "\"ttl\": 31622401}", "ttl");
	pool_refused("{\"name\": \"u\", \"kind\": \"lease\", "
		     "\"start\": 9007199254740000, \"count\": 10000}",
		     "start");
	pool_refused("{\"name\": \"u\", \"kind\": \"lease\", "
		     "\"min\": 1}", "min");
	pool_refused("{\"name\": \"u\", \"kind\": \"lease\", "
		     "\"digits\": 1}", "digits");
	/* RANGE_START and RANGE_AMOUNT apply to the pool "users" */
	CHECK(config_default(&c) == 0);
	setenv("RANGE_START", "500", 1);
	setenv("RANGE_AMOUNT", "20", 1);
	CHECK(config_apply_env(&c, err, sizeof(err)) == 0);
	d = config_pool(&c, "users");
	CHECK(d && d->min == 500 && d->capacity == 20);
	setenv("RANGE_AMOUNT", "0", 1);
	CHECK(config_apply_env(&c, err, sizeof(err)) == -EINVAL);
	CHECK(strstr(err, "RANGE_AMOUNT") != NULL);
	setenv("RANGE_AMOUNT", "20", 1);
	setenv("RANGE_START", "x", 1);
	CHECK(config_apply_env(&c, err, sizeof(err)) == -EINVAL);
	CHECK(strstr(err, "RANGE_START") != NULL);
	d = config_pool(&c, "users");
	CHECK(d && d->min == 500 && d->capacity == 20); /* unchanged */
	unsetenv("RANGE_START");
	unsetenv("RANGE_AMOUNT");
	config_release(&c);
}

/* Code pools: pattern, alphabet, and what cannot be. */
static void test_code(void)
{
	const struct pool_def *d;
	struct config c;

	CHECK(config_default(&c) == 0);
	d = config_pool(&c, "codes");
	CHECK(d && d->kind == POOL_CODE && !strcmp(d->pattern, "#####-#####") &&
	      !strcmp(d->alphabet, "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789") &&
	      d->slots == 10 && d->capacity == 3656158440062976ull);
	config_release(&c);
	d = pool_accepted("{\"name\": \"v\", \"kind\": \"code\", "
			  "\"pattern\": \"VIP-###\", \"alphabet\": \"01\"}");
	CHECK(d && d->slots == 3 && d->capacity == 8);
	/* 2^63 combinations: 63 binary slots fit, 64 do not */
	d = pool_accepted("{\"name\": \"v\", \"kind\": \"code\", "
			  "\"alphabet\": \"01\", \"pattern\": \"#########"
			  "#######################################"
			  "###############\"}");
	CHECK(d && d->slots == 63);
	pool_refused("{\"name\": \"v\", \"kind\": \"code\", "
		     "\"alphabet\": \"01\", \"pattern\": \"#########"
		     "#######################################"
		     "################\"}", "64 bits");
	pool_refused("{\"name\": \"v\", \"kind\": \"code\", "
		     "\"alphabet\": \"\"}", "alphabet");
	pool_refused("{\"name\": \"v\", \"kind\": \"code\", "
		     "\"alphabet\": \"A\"}", "alphabet");
	pool_refused("{\"name\": \"v\", \"kind\": \"code\", "
		     "\"alphabet\": \"ABCA\"}", "repeats");
	pool_refused("{\"name\": \"v\", \"kind\": \"code\", "
		     "\"alphabet\": \"AB C\"}", "space");
	pool_refused("{\"name\": \"v\", \"kind\": \"code\", "
		     "\"pattern\": \"ABC-DEF\"}", "'#'");
	pool_refused("{\"name\": \"v\", \"kind\": \"code\", "
		     "\"pattern\": \"\"}", "pattern");
	pool_refused("{\"name\": \"v\", \"kind\": \"code\", "
		     "\"pattern\": 5}", "pattern");
	pool_refused("{\"name\": \"v\", \"kind\": \"code\", "
		     "\"min\": 1}", "min");
	pool_refused("{\"name\": \"v\", \"kind\": \"code\", "
		     "\"pattern\": \"##\\t##\"}", "printable");
	/* what would break a URL path or a CSV line, in either */
	{
		static const char *const unsafe[] = {
			"/", "?", "#", "%", ",", "\\\"", "\\\\",
		};
		char json[256];
		size_t i;

		for (i = 0; i < sizeof(unsafe) / sizeof(*unsafe); i++) {
			snprintf(json, sizeof(json), "{\"name\": \"v\", "
				 "\"kind\": \"code\", \"alphabet\": "
				 "\"AB%sC\"}", unsafe[i]);
			pool_refused(json, "URLs and CSV");
			if (!strcmp(unsafe[i], "#"))
				continue; /* a slot in a pattern */
			snprintf(json, sizeof(json), "{\"name\": \"v\", "
				 "\"kind\": \"code\", \"pattern\": "
				 "\"##%s##\"}", unsafe[i]);
			pool_refused(json, "URLs and CSV");
		}
	}
	d = pool_accepted("{\"name\": \"v\", \"kind\": \"code\", "
			  "\"pattern\": \"## ##.##_##\", "
			  "\"alphabet\": \"ab-+~*\"}");
	CHECK(d && d->slots == 8);
}

int main(void)
{
	test_defaults();
	test_code();
	test_sequence();
	test_lease();
	test_full();
	test_errors_top();
	test_errors_pool();
	test_accepted();
	test_load_file();
	return t_done("config");
}
