/*
 * test_outcome.c: the string table of enum outcome (common/outcome.h):
 * every outcome has a name and a text, names are unique, 0 is "ok", a
 * negative value gives its errno's text, and a value outside both gives
 * a fixed text, never NULL.
 */
#include <errno.h>
#include <limits.h>
#include <string.h>

#include "common/log.h"
#include "common/outcome.h"
#include "tests/unit/t.h"
#include "common/banned.h"

static void test_table(void)
{
	int i, j;

	for (i = 1; i < OUTCOME_COUNT_; i++) {
		const char *name = outcome_name(i), *text = outcome_str(i);
		size_t k;

		CHECKF(name && *name, "outcome %d has no name", i);
		CHECKF(text && *text, "outcome %d has no text", i);
		if (!name || !text)
			continue;
		CHECKF(strcmp(text, "unknown outcome"), "outcome %d (%s)", i,
		       name);
		for (k = 0; name[k]; k++)
			CHECKF((name[k] >= 'a' && name[k] <= 'z') ||
			       name[k] == '_', "outcome %d: name \"%s\"", i,
			       name);
		for (j = 1; j < i; j++) {
			const char *other = outcome_name(j);

			CHECKF(!other || strcmp(other, name), "outcomes %d "
			       "and %d are both \"%s\"", j, i, name);
		}
	}
	CHECK_STR(outcome_name(OUTCOME_USED_UP), "used_up");
	CHECK_STR(outcome_name(OUTCOME_JOB_IDS_OUT), "job_ids_out");
	CHECK_STR(outcome_name(OUTCOME_CLUSTER_DOWN), "cluster_unavailable");
	CHECK_STR(outcome_str(OUTCOME_ALL_OUT), "every number is out");
}

static void test_ok_and_errno(void)
{
	CHECK(OUTCOME_OK == 0);
	CHECK_STR(outcome_str(0), "ok");
	CHECK(outcome_name(0) == NULL);
	/* Negative: the errno's description, as log_strerror gives it. */
	CHECK_STR(outcome_str(-ENOENT), "No such file or directory");
	CHECK_STR(outcome_str(-EIO), log_strerror(-EIO));
	CHECK_STR(outcome_str(-ENOSPC), log_strerror(-ENOSPC));
	CHECK(outcome_name(-ENOENT) == NULL);
	CHECK(outcome_name(-1) == NULL);
}

static void test_out_of_range(void)
{
	CHECK_STR(outcome_str(OUTCOME_COUNT_), "unknown outcome");
	CHECK_STR(outcome_str(INT_MAX), "unknown outcome");
	CHECK(outcome_name(OUTCOME_COUNT_) == NULL);
	CHECK(outcome_name(INT_MAX) == NULL);
	CHECK_STR(outcome_str(-100000), "unknown error");
	CHECK_STR(outcome_str(INT_MIN), "unknown error");
	CHECK(outcome_name(INT_MIN) == NULL);
}

int main(void)
{
	test_table();
	test_ok_and_errno();
	test_out_of_range();
	return t_done("outcome");
}
