/*
 * answer.c: the JSON of an answer, read in place by a small recursive
 * descent over JSON's grammar; see answer.h. Hand-written rather than
 * cJSON because the value must stay as text exactly as received.
 */
#include <errno.h>
#include <stdbool.h>
#include <string.h>

#include "stress/answer.h"
#include "common/banned.h"

/* The part of the body not read yet. */
struct json {
	const char *p, *end;
};

static bool is_digit(char c)
{
	return c >= '0' && c <= '9';
}

static void json_ws(struct json *j)
{
	while (j->p < j->end && (*j->p == ' ' || *j->p == '\t' ||
				 *j->p == '\n' || *j->p == '\r'))
		j->p++;
}

/* A string; *s and *len get its content between the quotes. */
static int json_string(struct json *j, const char **s, size_t *len)
{
	const char *start;

	if (j->p >= j->end || *j->p != '"')
		return -EINVAL;
	start = ++j->p;
	while (j->p < j->end) {
		unsigned char ch = (unsigned char)*j->p;

		if (ch == '"') {
			*s = start;
			*len = (size_t)(j->p - start);
			j->p++;
			return 0;
		}
		if (ch < 0x20)
			return -EINVAL;
		if (ch == '\\' && ++j->p >= j->end)
			return -EINVAL;
		j->p++;
	}
	return -EINVAL;
}

/* A number, by JSON's grammar; *s and *len get its text. */
static int json_number(struct json *j, const char **s, size_t *len)
{
	const char *p = j->p, *e = j->end;

	if (p < e && *p == '-')
		p++;
	if (p >= e || !is_digit(*p))
		return -EINVAL;
	if (*p == '0')
		p++;
	else
		while (p < e && is_digit(*p))
			p++;
	if (p < e && *p == '.') {
		if (++p >= e || !is_digit(*p))
			return -EINVAL;
		while (p < e && is_digit(*p))
			p++;
	}
	if (p < e && (*p == 'e' || *p == 'E')) {
		p++;
		if (p < e && (*p == '+' || *p == '-'))
			p++;
		if (p >= e || !is_digit(*p))
			return -EINVAL;
		while (p < e && is_digit(*p))
			p++;
	}
	*s = j->p;
	*len = (size_t)(p - j->p);
	j->p = p;
	return 0;
}

static int json_literal(struct json *j, const char *word)
{
	size_t n = strlen(word);

	if ((size_t)(j->end - j->p) < n || memcmp(j->p, word, n))
		return -EINVAL;
	j->p += n;
	return 0;
}

/* Skips one value of any kind, nested at most 32 deep. */
static int json_skip(struct json *j, unsigned depth)
{
	const char *s;
	size_t len;
	char close;
	int rc;

	json_ws(j);
	if (j->p >= j->end)
		return -EINVAL;
	switch (*j->p) {
	case '"':
		return json_string(j, &s, &len);
	case 't':
		return json_literal(j, "true");
	case 'f':
		return json_literal(j, "false");
	case 'n':
		return json_literal(j, "null");
	case '{':
	case '[':
		break;
	default:
		return json_number(j, &s, &len);
	}
	if (depth >= 32)
		return -EINVAL;
	close = *j->p == '{' ? '}' : ']';
	j->p++;
	json_ws(j);
	if (j->p < j->end && *j->p == close) {
		j->p++;
		return 0;
	}
	for (;;) {
		if (close == '}') {
			json_ws(j);
			rc = json_string(j, &s, &len);
			if (rc)
				return rc;
			json_ws(j);
			if (j->p >= j->end || *j->p != ':')
				return -EINVAL;
			j->p++;
		}
		rc = json_skip(j, depth + 1);
		if (rc)
			return rc;
		json_ws(j);
		if (j->p < j->end && *j->p == ',') {
			j->p++;
			continue;
		}
		if (j->p < j->end && *j->p == close) {
			j->p++;
			return 0;
		}
		return -EINVAL;
	}
}

static bool key_is(const char *k, size_t klen, const char *name)
{
	return klen == strlen(name) && !memcmp(k, name, klen);
}

int answer_parse(struct answer *a, const char *body, size_t len)
{
	struct json j = { body, body + len };
	const char *k;
	size_t klen;
	int rc;

	memset(a, 0, sizeof(*a));
	json_ws(&j);
	if (j.p >= j.end || *j.p != '{')
		return -EINVAL;
	j.p++;
	json_ws(&j);
	if (j.p < j.end && *j.p == '}') {
		j.p++;
		goto end;
	}
	for (;;) {
		json_ws(&j);
		rc = json_string(&j, &k, &klen);
		if (rc)
			return rc;
		json_ws(&j);
		if (j.p >= j.end || *j.p != ':')
			return -EINVAL;
		j.p++;
		json_ws(&j);
		if (j.p >= j.end)
			return -EINVAL;
		if (key_is(k, klen, "number") && *j.p == '"')
			rc = json_string(&j, &a->number, &a->number_len);
		else if (key_is(k, klen, "number") && *j.p != '{' &&
			 *j.p != '[' && *j.p != 't' && *j.p != 'f' &&
			 *j.p != 'n')
			rc = json_number(&j, &a->number, &a->number_len);
		else if (key_is(k, klen, "shard") && *j.p == '"')
			rc = json_string(&j, &a->shard, &a->shard_len);
		else if (key_is(k, klen, "error") && *j.p == '"')
			rc = json_string(&j, &a->error, &a->error_len);
		else
			rc = json_skip(&j, 1);
		if (rc)
			return rc;
		json_ws(&j);
		if (j.p < j.end && *j.p == ',') {
			j.p++;
			continue;
		}
		if (j.p < j.end && *j.p == '}') {
			j.p++;
			break;
		}
		return -EINVAL;
	}
end:
	json_ws(&j);
	return j.p == j.end ? 0 : -EINVAL;
}
