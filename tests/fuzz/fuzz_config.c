/*
 * fuzz_config.c: the configuration file (common/config.h) from any bytes.
 *
 * The input is the text of a configuration, parsed over the defaults as
 * uniqd does (config_parse; the text ends at its first NUL, as when the
 * file is read). A text that is refused must say why. One that is
 * accepted must hold what the rest of the code relies on (config.h's
 * invariants): every pool has a valid, unique name and a non-empty range
 * that fits its kind; a value's text parses back to it (value_format,
 * value_parse), so do a float pool's bounds as doubles; a code pool's
 * capacity is alphabet^slots; a time zone name cannot leave TZ_DIR. And
 * the configuration written back as JSON (as GET /pools describes the
 * pools) parses to the very same pools: nothing is lost or shifted.
 */
#include <errno.h>
#include <math.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/buf.h"
#include "common/code.h"
#include "common/config.h"
#include "common/tz.h"
#include "common/value.h"
#include "tests/fuzz/fuzz.h"
#include "common/banned.h"

#define MAX_SAFE_INT 9007199254740991LL /* 2^53 - 1 */

/* Value k of d, written and read back. */
static void check_value(const struct pool_def *d, uint64_t k)
{
	char text[VALUE_TEXT_MAX + 1];
	uint64_t back = UINT64_MAX;
	size_t n;
	int rc;

	FUZZ_CHECK(k < d->capacity);
	n = value_format(d, k, text);
	FUZZ_CHECK(n == strlen(text) && n <= VALUE_TEXT_MAX);
	rc = value_parse(d, text, &back);
	FUZZ_CHECKF(rc == 0 && back == k, "pool %s: \"%s\" (k %llu) reads as "
		    "%llu (rc %d)", d->name, text, (unsigned long long)k,
		    (unsigned long long)back, rc);
	if (d->kind == POOL_FLOAT) {
		/* 15 significant digits at most: a client reading the value
		 * as a double and printing it back gets the same text. */
		char again[64];

		snprintf(again, sizeof(again), "%.*f", (int)d->decimals,
			 strtod(text, NULL));
		FUZZ_CHECKF(!strcmp(again, text), "pool %s: \"%s\" is \"%s\" "
			    "as a double", d->name, text, again);
	}
	if (d->kind == POOL_CODE)
		FUZZ_CHECK(n == strlen(d->pattern));
}

static void check_values(const struct pool_def *d)
{
	check_value(d, 0);
	check_value(d, d->capacity - 1);
	check_value(d, d->capacity / 2);
	check_value(d, d->capacity / 3);
}

static void check_random_kind(const struct pool_def *d)
{
	FUZZ_CHECK(d->shards >= 1 && d->shards <= POOL_SHARDS_MAX);
	FUZZ_CHECK(d->shard_size >= 1 && d->shard_size <= POOL_SHARD_SIZE_MAX);
}

static void check_code(const struct pool_def *d)
{
	unsigned char seen[256] = { 0 };
	size_t a = strnlen(d->alphabet, sizeof(d->alphabet));
	size_t n = strnlen(d->pattern, sizeof(d->pattern)), i;
	unsigned slots = 0;
	fuzz_u128 cap = 1;

	FUZZ_CHECK(a < sizeof(d->alphabet) && n < sizeof(d->pattern));
	FUZZ_CHECK(a >= 2 && a <= CODE_ALPHABET_MAX);
	for (i = 0; i < a; i++) {
		unsigned char c = (unsigned char)d->alphabet[i];

		FUZZ_CHECK(c > 0x20 && c < 0x7f && !seen[c]++);
		FUZZ_CHECK(!strchr("/?#%,\"\\", c)); /* URL and CSV safe */
	}
	FUZZ_CHECK(n >= 1 && n <= CODE_PATTERN_MAX);
	for (i = 0; i < n; i++) {
		FUZZ_CHECK(d->pattern[i] >= 0x20 && d->pattern[i] < 0x7f);
		FUZZ_CHECK(d->pattern[i] == '#' ||
			   !strchr("/?%,\"\\", d->pattern[i]));
		slots += d->pattern[i] == '#';
	}
	FUZZ_CHECK(slots >= 1 && slots == d->slots);
	for (i = 0; i < slots; i++) {
		cap *= a;
		FUZZ_CHECK(cap < UINT64_MAX);
	}
	FUZZ_CHECK(cap == d->capacity && d->min == 0);
	FUZZ_CHECK(code_combinations(d, 0) == d->capacity);
	check_random_kind(d);
}

static void check_pool(const struct pool_def *d)
{
	size_t n = strnlen(d->name, sizeof(d->name)), i;

	FUZZ_CHECK(n >= 1 && n <= POOL_NAME_MAX);
	for (i = 0; i < n; i++) {
		char c = d->name[i];

		FUZZ_CHECK((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
			   (c >= '0' && c <= '9') || c == '_' || c == '-');
	}
	FUZZ_CHECK(d->capacity >= 1);
	switch (d->kind) {
	case POOL_INT:
		FUZZ_CHECK((fuzz_i128)d->min + (fuzz_i128)d->capacity - 1 <=
			   INT64_MAX);
		check_random_kind(d);
		check_values(d);
		break;
	case POOL_FLOAT:
		FUZZ_CHECK(d->decimals <= FLOAT_DECIMALS_MAX);
		FUZZ_CHECK(d->min > -FLOAT_UNITS_LIMIT);
		FUZZ_CHECK((fuzz_i128)d->min + (fuzz_i128)d->capacity - 1 <
			   FLOAT_UNITS_LIMIT);
		check_random_kind(d);
		check_values(d);
		break;
	case POOL_SEQUENCE:
		FUZZ_CHECK(d->digits >= 1 && d->digits <= SEQ_DIGITS_MAX);
		FUZZ_CHECK(d->capacity == (uint64_t)value_pow10(d->digits) - 1);
		FUZZ_CHECK(d->min == 0);
		FUZZ_CHECK(strnlen(d->tz, sizeof(d->tz)) < sizeof(d->tz));
		FUZZ_CHECK(tz_name_ok(d->tz) == 0);
		FUZZ_CHECK(d->tz[0] != '/' && !strstr(d->tz, ".."));
		break;
	case POOL_LEASE:
		FUZZ_CHECK(d->capacity <= LEASE_COUNT_MAX);
		FUZZ_CHECK(d->min >= -MAX_SAFE_INT);
		FUZZ_CHECK(d->min + (int64_t)d->capacity - 1 <= MAX_SAFE_INT);
		FUZZ_CHECK(d->ttl <= LEASE_TTL_MAX);
		FUZZ_CHECK(d->check_ttl <= LEASE_TTL_MAX);
		break;
	case POOL_CODE:
		check_code(d);
		check_values(d);
		break;
	default:
		FUZZ_CHECKF(0, "pool %s has kind %d", d->name, (int)d->kind);
	}
	FUZZ_CHECK(config_kind_is_random(d->kind) ==
		   (d->kind == POOL_INT || d->kind == POOL_FLOAT ||
		    d->kind == POOL_CODE));
	FUZZ_CHECK(strcmp(config_kind_name(d->kind), "?"));
	(void)config_pool_fingerprint(d);
}

/* The JSON of pool d, in the file's format. */
static void write_pool(struct buf *b, const struct pool_def *d)
{
	char text[VALUE_TEXT_MAX + 1];

	buf_adds(b, "{\"name\":");
	buf_add_json_str(b, d->name);
	buf_printf(b, ",\"kind\":\"%s\"", config_kind_name(d->kind));
	switch (d->kind) {
	case POOL_INT:
		/* As strings: JSON numbers are exact only up to 2^53. */
		value_format(d, 0, text);
		buf_printf(b, ",\"min\":\"%s\"", text);
		value_format(d, d->capacity - 1, text);
		buf_printf(b, ",\"max\":\"%s\"", text);
		break;
	case POOL_FLOAT: {
		/* [min, max): max is one unit past the last value. */
		struct pool_def past = *d;

		past.capacity++;
		buf_printf(b, ",\"decimals\":%u", d->decimals);
		value_format(d, 0, text);
		buf_printf(b, ",\"min\":\"%s\"", text);
		value_format(&past, d->capacity, text);
		buf_printf(b, ",\"max\":\"%s\"", text);
		break;
	}
	case POOL_SEQUENCE:
		buf_adds(b, ",\"tz\":");
		buf_add_json_str(b, d->tz);
		buf_printf(b, ",\"digits\":%u", d->digits);
		break;
	case POOL_LEASE:
		buf_printf(b, ",\"start\":%lld,\"count\":%llu,\"ttl\":%u"
			   ",\"check_ttl\":%u", (long long)d->min,
			   (unsigned long long)d->capacity, d->ttl,
			   d->check_ttl);
		break;
	case POOL_CODE:
		buf_adds(b, ",\"pattern\":");
		buf_add_json_str(b, d->pattern);
		buf_adds(b, ",\"alphabet\":");
		buf_add_json_str(b, d->alphabet);
		break;
	}
	if (config_kind_is_random(d->kind))
		buf_printf(b, ",\"shards\":%u,\"shard_size\":%llu", d->shards,
			   (unsigned long long)d->shard_size);
	buf_addc(b, '}');
}

static bool ascii(const char *s)
{
	for (; *s; s++)
		if (*s < 0x20 || *s > 0x7e)
			return false;
	return true;
}

/* c written back as a configuration file. */
static char *write_config(const struct config *c)
{
	struct buf b = BUF_INIT;
	size_t i, len;

	buf_adds(&b, "{\"listen\":");
	if (strchr(c->listen_host, ':'))
		buf_printf(&b, "\"[%s]:%u\"", c->listen_host, c->port);
	else
		buf_printf(&b, "\"%s:%u\"", c->listen_host, c->port);
	buf_printf(&b, ",\"threads\":%u,\"sync\":%s", c->threads,
		   c->sync ? "true" : "false");
	if (ascii(c->data_dir)) {
		buf_adds(&b, ",\"data_dir\":");
		buf_add_json_str(&b, c->data_dir);
	}
	if (c->admin_token && ascii(c->admin_token)) {
		buf_adds(&b, ",\"admin_token\":");
		buf_add_json_str(&b, c->admin_token);
	}
	buf_adds(&b, ",\"pools\":[");
	for (i = 0; i < c->npools; i++) {
		if (i)
			buf_addc(&b, ',');
		write_pool(&b, &c->pools[i]);
	}
	buf_adds(&b, "]}");
	return buf_detach(&b, &len);
}

static void same_pool(const struct pool_def *x, const struct pool_def *y)
{
	FUZZ_CHECK(!strcmp(x->name, y->name));
	FUZZ_CHECKF(x->kind == y->kind && x->min == y->min &&
		    x->capacity == y->capacity && x->decimals == y->decimals &&
		    x->shards == y->shards && x->shard_size == y->shard_size &&
		    x->digits == y->digits && x->ttl == y->ttl &&
		    x->check_ttl == y->check_ttl &&
		    x->slots == y->slots && !strcmp(x->tz, y->tz) &&
		    !strcmp(x->pattern, y->pattern) &&
		    !strcmp(x->alphabet, y->alphabet),
		    "pool %s: min %lld capacity %llu decimals %u written back "
		    "reads as min %lld capacity %llu decimals %u", x->name,
		    (long long)x->min, (unsigned long long)x->capacity,
		    x->decimals, (long long)y->min,
		    (unsigned long long)y->capacity, y->decimals);
	FUZZ_CHECK(config_pool_fingerprint(x) == config_pool_fingerprint(y));
}

static void check_config(const struct config *c)
{
	struct config again;
	char err[256] = "", *json;
	size_t i, j;
	int rc;

	FUZZ_CHECK(c->npools >= 1 && c->npools <= 1024);
	FUZZ_CHECK(c->listen_host[0] &&
		   strnlen(c->listen_host, sizeof(c->listen_host)) <
			   sizeof(c->listen_host));
	FUZZ_CHECK(c->data_dir[0] &&
		   strnlen(c->data_dir, sizeof(c->data_dir)) <
			   sizeof(c->data_dir));
	FUZZ_CHECK(c->threads <= 256);
	FUZZ_CHECK(!c->admin_token || (strlen(c->admin_token) >= 8 &&
				       strlen(c->admin_token) <= 256));
	for (i = 0; i < c->npools; i++) {
		check_pool(&c->pools[i]);
		FUZZ_CHECK(config_pool(c, c->pools[i].name) == &c->pools[i]);
		for (j = 0; j < i; j++)
			FUZZ_CHECK(strcmp(c->pools[i].name, c->pools[j].name));
	}

	json = write_config(c);
	FUZZ_CHECK(json);
	FUZZ_CHECK(config_default(&again) == 0);
	rc = config_parse(&again, json, err, sizeof(err));
	FUZZ_CHECKF(rc == 0, "written back, the configuration is refused: %s\n"
		    "%s", err, json);
	FUZZ_CHECK(again.npools == c->npools);
	FUZZ_CHECK(!strcmp(again.listen_host, c->listen_host) &&
		   again.port == c->port && again.threads == c->threads &&
		   again.sync == c->sync);
	if (ascii(c->data_dir))
		FUZZ_CHECK(!strcmp(again.data_dir, c->data_dir));
	if (c->admin_token && ascii(c->admin_token))
		FUZZ_CHECK(again.admin_token &&
			   !strcmp(again.admin_token, c->admin_token));
	for (i = 0; i < c->npools; i++)
		same_pool(&c->pools[i], &again.pools[i]);
	config_release(&again);
	free(json);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static bool defaults_checked;
	struct config c;
	char err[256];
	char *text;
	int rc;

	text = malloc(size + 1);
	if (!text)
		return 0;
	if (size)
		memcpy(text, data, size);
	text[size] = '\0';
	FUZZ_CHECK(config_default(&c) == 0);
	if (!defaults_checked) {
		check_config(&c);
		defaults_checked = true;
	}
	err[0] = '\0';
	rc = config_parse(&c, text, err, sizeof(err));
	if (rc == 0)
		check_config(&c);
	else
		FUZZ_CHECKF((rc == -EINVAL && err[0]) || rc == -ENOMEM,
			    "rc %d, err \"%s\"", rc, err);
	config_release(&c);
	free(text);
	return 0;
}
