/*
 * t.h: the smallest test harness that does the job: CHECK() records a
 * failure with its line and goes on, t_done() prints a summary and gives
 * the exit status for meson (0 pass, 1 fail, and a program that ran no
 * check fails too). Include once per test program.
 */
#ifndef UNIQ_T_H
#define UNIQ_T_H

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int t_failed, t_checked;

#define CHECK(cond)                                                         \
	do {                                                                \
		t_checked++;                                                \
		if (!(cond)) {                                              \
			t_failed++;                                         \
			fprintf(stderr, "%s:%d: CHECK failed: %s\n",        \
				__FILE__, __LINE__, #cond);                 \
		}                                                           \
	} while (0)

/* CHECK with a printf-style explanation on failure. */
#define CHECKF(cond, ...)                                                   \
	do {                                                                \
		t_checked++;                                                \
		if (!(cond)) {                                              \
			t_failed++;                                         \
			fprintf(stderr, "%s:%d: CHECK failed: %s: ",        \
				__FILE__, __LINE__, #cond);                 \
			fprintf(stderr, __VA_ARGS__);                       \
			fputc('\n', stderr);                                \
		}                                                           \
	} while (0)

#define CHECK_EQ_U64(a, b)                                                  \
	CHECKF((unsigned long long)(a) == (unsigned long long)(b),          \
	       "%llu != %llu", (unsigned long long)(a),                     \
	       (unsigned long long)(b))

#define CHECK_STR(a, b)                                                     \
	CHECKF(strcmp((a), (b)) == 0, "\"%s\" != \"%s\"", (a), (b))

/* Makes a fresh temporary directory for the test and returns its path
 * (static storage). Exits on failure. */
static inline const char *t_tmpdir(void)
{
	static char path[256];
	const char *base = getenv("TMPDIR");

	snprintf(path, sizeof(path), "%s/uniqd-test-XXXXXX",
		 base && *base ? base : "/tmp");
	if (!mkdtemp(path)) {
		perror("mkdtemp");
		exit(2);
	}
	return path;
}

/* Prints the summary and gives the exit status: 1 if a check failed, or
 * if none ran at all (a test whose checks vanished proves nothing). */
static inline int t_done(const char *name)
{
	fprintf(stderr, "%s: %d checks, %d failed\n", name, t_checked,
		t_failed);
	if (t_checked == 0) {
		fprintf(stderr, "%s: no check ran: that is a failure\n",
			name);
		return 1;
	}
	return t_failed ? 1 : 0;
}

#endif
