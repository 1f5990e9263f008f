/*
 * replay.c: runs a fuzz target without libFuzzer: feeds every file of the
 * directories (and every file) named on the command line to
 * LLVMFuzzerTestOneInput, in name order, each in a buffer of exactly its
 * size (so that a sanitizer build sees any read past it). This is how a
 * plain gcc build replays tests/fuzz/corpus and tests/fuzz/regressions
 * as unit tests; a broken invariant aborts, which fails the test.
 *
 *   replay DIR_OR_FILE...
 *
 * A path that does not exist is skipped with a note (a target may have no
 * regressions yet); replaying no input at all is a failure.
 */
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "tests/fuzz/fuzz.h"
#include "common/banned.h"

#define INPUT_MAX (16u << 20)

/* Feeds the file at path to the target. Returns 0 or a negative errno. */
static int replay_file(const char *path)
{
	FILE *f = fopen(path, "rb");
	unsigned char *data = NULL;
	struct stat st;
	size_t n;
	int rc = 0;

	if (!f) {
		rc = -errno;
		fprintf(stderr, "replay: cannot open %s: %s\n", path,
			strerror(errno));
		return rc;
	}
	if (fstat(fileno(f), &st) || st.st_size < 0 ||
	    (unsigned long long)st.st_size > INPUT_MAX) {
		rc = -EFBIG;
		fprintf(stderr, "replay: %s: not a readable input of at most "
			"%u bytes\n", path, INPUT_MAX);
		goto out;
	}
	/* At least one byte so that an empty input is not a NULL. */
	data = malloc(st.st_size ? (size_t)st.st_size : 1);
	if (!data) {
		rc = -ENOMEM;
		goto out;
	}
	n = fread(data, 1, (size_t)st.st_size, f);
	if (n != (size_t)st.st_size || ferror(f)) {
		rc = -EIO;
		fprintf(stderr, "replay: cannot read %s\n", path);
		goto out;
	}
	LLVMFuzzerTestOneInput(data, n);
out:
	free(data);
	fclose(f);
	return rc;
}

static int by_name(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Feeds every regular file of dir, in name order; *count gets how many. */
static int replay_dir(const char *dir, unsigned long *count)
{
	char **names = NULL, **grown, path[4096];
	size_t n = 0, cap = 0, i;
	struct dirent *e;
	struct stat st;
	DIR *d = opendir(dir);
	int rc = 0;

	if (!d) {
		rc = -errno;
		fprintf(stderr, "replay: cannot open %s: %s\n", dir,
			strerror(errno));
		return rc;
	}
	while ((e = readdir(d))) {
		if (e->d_name[0] == '.')
			continue;	/* ., .., .gitkeep */
		if (n == cap) {
			cap = cap ? 2 * cap : 64;
			grown = realloc(names, cap * sizeof(*names));
			if (!grown) {
				rc = -ENOMEM;
				goto out;
			}
			names = grown;
		}
		names[n] = strdup(e->d_name);
		if (!names[n]) {
			rc = -ENOMEM;
			goto out;
		}
		n++;
	}
	if (n)
		qsort(names, n, sizeof(*names), by_name);
	for (i = 0; i < n && rc == 0; i++) {
		if (snprintf(path, sizeof(path), "%s/%s", dir, names[i]) >=
		    (int)sizeof(path)) {
			rc = -ENAMETOOLONG;
			break;
		}
		if (stat(path, &st) || !S_ISREG(st.st_mode))
			continue;
		rc = replay_file(path);
		if (rc == 0)
			(*count)++;
	}
out:
	for (i = 0; i < n; i++)
		free(names[i]);
	free(names);
	closedir(d);
	return rc;
}

int main(int argc, char **argv)
{
	unsigned long count = 0, before;
	struct timespec t0, t1;
	struct stat st;
	int i, rc = 0;

	if (argc < 2) {
		fprintf(stderr, "usage: %s DIR_OR_FILE...\n", argv[0]);
		return 2;
	}
	clock_gettime(CLOCK_MONOTONIC, &t0);
	for (i = 1; i < argc && rc == 0; i++) {
		before = count;
		if (stat(argv[i], &st)) {
			printf("replay: no %s: skipped\n", argv[i]);
			continue;
		}
		if (S_ISDIR(st.st_mode)) {
			rc = replay_dir(argv[i], &count);
		} else {
			rc = replay_file(argv[i]);
			count += rc == 0;
		}
		printf("replay: %s: %lu inputs\n", argv[i], count - before);
	}
	clock_gettime(CLOCK_MONOTONIC, &t1);
	if (rc)
		return 1;
	if (count == 0) {
		fprintf(stderr, "replay: no input found\n");
		return 1;
	}
	printf("replay: %lu inputs, no finding, %.3f s\n", count,
	       (double)(t1.tv_sec - t0.tv_sec) +
		       (double)(t1.tv_nsec - t0.tv_nsec) / 1e9);
	return 0;
}
