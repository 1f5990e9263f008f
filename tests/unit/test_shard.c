/*
 * test_shard.c: tests shard/shard on real LMDB files in a temporary
 * directory: the path format, creating and reopening a shard and refusing
 * one made for another pool, index or ledger instance, appending and
 * taking in sequence order (across many B-tree pages), putting taken
 * entries back exactly, appending below the last sequence number, refusing
 * a sequence number twice without adding anything, snapshot readers, and
 * files whose creation a kill cut short (empty, or meta page 0 only).
 */
#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "common/log.h"
#include "common/store.h"
#include "shard/shard.h"
#include "tests/unit/t.h"
#include "tests/unit/t_util.h"
#include "common/banned.h"

static const struct shard_opts open_create = { .sync = false, .create = true,
						.shard_size = 1000 };
static const struct shard_opts open_only = { .sync = false, .create = false,
					      .shard_size = 1000 };

/* Two ledgers' instance ids. */
static const uint8_t inst_a[SHARD_INSTANCE_LEN] = { 1, 2, 3, 4, 5, 6, 7, 8,
						    9, 10, 11, 12, 13, 14,
						    15, 16 };
static const uint8_t inst_b[SHARD_INSTANCE_LEN] = { 1, 2, 3, 4, 5, 6, 7, 8,
						    9, 10, 11, 12, 13, 14,
						    15, 17 };

static uint64_t count_of(struct shard *s)
{
	uint64_t n = UINT64_MAX;

	CHECK_RC(shard_count(s, &n), 0);
	return n;
}

/* Appends values base + seq for seq in [seq0, seq0 + n). */
static int append_range(struct shard *s, uint64_t seq0, size_t n,
			uint64_t base)
{
	uint64_t *v = malloc((n ? n : 1) * sizeof(*v));
	size_t i;
	int rc;

	if (!v)
		return -ENOMEM;
	for (i = 0; i < n; i++)
		v[i] = base + seq0 + i;
	rc = shard_append(s, seq0, v, n);
	free(v);
	return rc;
}

static void test_path(void)
{
	char path[128], tiny[16];

	CHECK_RC(shard_path(path, sizeof(path), "/data", "int", 3), 0);
	CHECK_STR(path, "/data/shards/int_shard_3.mdb");
	CHECK_RC(shard_path(path, sizeof(path), "rel/dir", "float", 0), 0);
	CHECK_STR(path, "rel/dir/shards/float_shard_0.mdb");
	CHECK_RC(shard_path(path, sizeof(path), "d", "p", 4294967295u), 0);
	CHECK_STR(path, "d/shards/p_shard_4294967295.mdb");
	CHECK_RC(shard_path(tiny, sizeof(tiny), "/data", "int", 3),
		 -ENAMETOOLONG);
	/* Exactly fitting (with its NUL) is fine, one byte less is not. */
	CHECK_RC(shard_path(path, strlen("/d/shards/int_shard_3.mdb") + 1,
			    "/d", "int", 3), 0);
	CHECK_RC(shard_path(path, strlen("/d/shards/int_shard_3.mdb"), "/d",
			    "int", 3), -ENAMETOOLONG);
}

/* Opening, creating, and refusing another pool's or index's shard. */
static void test_open(void)
{
	const char *dir = t_tmpdir();
	char path[512], other[512], longname[80];
	unsigned char *before;
	struct shard s;
	uint64_t v;
	size_t len, n;
	struct shard_item it[4];

	t_path_in(path, sizeof(path), dir, "int_shard_3.mdb");
	CHECK_RC(shard_open(&s, path, "int", 3, inst_a, &open_only), -ENOENT);
	CHECK(s.env == NULL);

	CHECK_RC(shard_open(&s, path, "int", 3, inst_a, &open_create), 0);
	CHECK_STR(s.name, "int_shard_3");
	CHECK_EQ_U64(s.index, 3);
	CHECK_EQ_U64(count_of(&s), 0);
	CHECK_RC(shard_take(&s, 4, it, &n), 0);
	CHECK_EQ_U64(n, 0);
	CHECK_RC(shard_get(&s, 0, &v), -ENOENT);
	CHECK_RC(append_range(&s, 0, 5, 1000), 0);
	shard_release(&s);
	CHECK(s.env == NULL);
	shard_release(&s); /* twice is harmless */

	/* Another pool, another index: refused, file untouched. */
	before = t_slurp(path, &len);
	CHECK(before != NULL);
	CHECK_RC(shard_open(&s, path, "float", 3, inst_a, &open_create),
		 -EPROTO);
	CHECK(s.env == NULL);
	CHECK_RC(shard_open(&s, path, "int", 4, inst_a, &open_create), -EPROTO);
	CHECK_RC(shard_open(&s, path, "int", 3 + (1u << 24), inst_a,
			    &open_only), -EPROTO);
	CHECK_RC(shard_open(&s, path, "in", 3, inst_a, &open_only), -EPROTO);
	CHECK_RC(shard_open(&s, path, "int_", 3, inst_a, &open_only), -EPROTO);
	/* A shard of another data directory's ledger. */
	CHECK_RC(shard_open(&s, path, "int", 3, inst_b, &open_create), -EPROTO);
	CHECK_RC(shard_open(&s, path, "int", 3, inst_b, &open_only), -EPROTO);
	if (before) {
		unsigned char *now = t_slurp(path, &n);

		CHECK(now && n == len && memcmp(now, before, len) == 0);
		free(now);
	}
	free(before);

	/* The right identity opens, with or without create, and the
	 * entries are still there. */
	CHECK_RC(shard_open(&s, path, "int", 3, inst_a, &open_only), 0);
	CHECK_EQ_U64(count_of(&s), 5);
	CHECK_RC(shard_get(&s, 4, &v), 0);
	CHECK_EQ_U64(v, 1004);
	shard_release(&s);
	CHECK_RC(shard_open(&s, path, "int", 3, inst_a, &open_create), 0);
	CHECK_EQ_U64(count_of(&s), 5);
	shard_release(&s);

	/* A name that does not fit. */
	memset(longname, 'x', sizeof(longname) - 1);
	longname[sizeof(longname) - 1] = '\0';
	t_path_in(other, sizeof(other), dir, "long.mdb");
	CHECK_RC(shard_open(&s, other, longname, 0, inst_a, &open_create),
		 -ENAMETOOLONG);
	CHECK(s.env == NULL);
	t_rm_rf(dir);
}

/* Writes the first len bytes of src to dst (a new file). */
static void copy_head(const char *src, const char *dst, size_t len)
{
	size_t n = 0;
	unsigned char *buf = t_slurp(src, &n);
	FILE *f = fopen(dst, "wb");

	CHECK(buf && n >= len && f);
	if (buf && n >= len && f)
		CHECK(fwrite(buf, 1, len, f) == len);
	if (f)
		fclose(f);
	free(buf);
}

/*
 * Files whose creation was cut: a kill between open(2) and LMDB's write
 * of the two meta pages leaves an empty file, a kill inside that write
 * only meta page 0. Read-only (uniqctl verify) such a file holds nothing
 * and is reported missing (-ENOENT; it used to be EBADF, or "invalid"),
 * and stays as it is; a writer's open makes it a shard. A short file of
 * someone else is refused and left alone, and a short file another
 * process has open (holds byte 0 of its lock file, as LMDB's openers do)
 * is not truncated under it.
 */
static void test_cut_creation(void)
{
	static const struct shard_opts ro = { .create = false,
					      .readonly = true,
					      .shard_size = 1000 };
	const char *dir = t_tmpdir();
	char path[512], whole[512], lock[600];
	long page = 0;		/* LMDB's page size, read from a file of it */
	struct shard s;
	struct stat st;
	int pipes[2][2], k;
	pid_t pid;
	char c = 0;
	FILE *f;

	t_path_in(path, sizeof(path), dir, "float_shard_1.mdb");
	f = fopen(path, "wb");
	CHECK(f != NULL);
	if (f)
		fclose(f);
	CHECK_RC(shard_open(&s, path, "float", 1, inst_a, &ro), -ENOENT);
	CHECK(s.env == NULL);
	CHECK(stat(path, &st) == 0 && st.st_size == 0);
	CHECK_RC(shard_open(&s, path, "float", 1, inst_a, &open_create), 0);
	CHECK_EQ_U64(count_of(&s), 0);
	shard_release(&s);
	CHECK_RC(shard_open(&s, path, "float", 1, inst_a, &ro), 0);
	CHECK_EQ_U64(count_of(&s), 0);
	shard_release(&s);

	/* Only meta page 0 was written. */
	t_path_in(whole, sizeof(whole), dir, "int_shard_0.mdb");
	CHECK_RC(shard_open(&s, whole, "int", 0, inst_a, &open_create), 0);
	shard_release(&s);
	{
		size_t n = 0;
		unsigned char *buf = t_slurp(whole, &n);
		uint32_t psize = 0;

		if (buf && n >= 44)
			memcpy(&psize, buf + 40, sizeof(psize));
		free(buf);
		CHECKF(psize >= 512 && n >= 2 * (size_t)psize,
		       "page size %u, file %zu", (unsigned)psize, n);
		page = psize >= 512 ? (long)psize : 4096;
	}
	t_path_in(path, sizeof(path), dir, "int_shard_2.mdb");
	copy_head(whole, path, (size_t)page);
	CHECK_RC(shard_open(&s, path, "int", 2, inst_a, &ro), -ENOENT);
	CHECK(stat(path, &st) == 0 && st.st_size == page);

	/* ... and another process has it open: left alone. */
	snprintf(lock, sizeof(lock), "%s-lock", path);
	CHECK(pipe(pipes[0]) == 0 && pipe(pipes[1]) == 0);
	pid = fork();
	if (pid == 0) {
		struct flock fl = { .l_type = F_RDLCK, .l_whence = SEEK_SET,
				    .l_start = 0, .l_len = 1 };
		int fd = open(lock, O_RDWR | O_CREAT, 0600);

		close(pipes[0][0]);
		close(pipes[1][1]);
		if (fd < 0 || fcntl(fd, F_SETLK, &fl) != 0)
			_exit(1);
		if (write(pipes[0][1], "x", 1) != 1 ||
		    read(pipes[1][0], &c, 1) != 1)
			_exit(1);
		_exit(0);
	}
	CHECK(pid > 0);
	close(pipes[0][1]);	/* a child that dies early ends the read */
	close(pipes[1][0]);
	if (pid > 0) {
		int status = 0;

		CHECK(read(pipes[0][0], &c, 1) == 1);
		CHECK(shard_open(&s, path, "int", 2, inst_a,
				 &open_create) != 0);
		CHECK(s.env == NULL);
		CHECK(stat(path, &st) == 0 && st.st_size == page);
		CHECK(write(pipes[1][1], "x", 1) == 1);
		CHECK(waitpid(pid, &status, 0) == pid && WIFEXITED(status) &&
		      WEXITSTATUS(status) == 0);
	}
	close(pipes[0][0]);
	close(pipes[1][1]);

	/* Nobody has it open: a writer creates it again. */
	CHECK_RC(shard_open(&s, path, "int", 2, inst_a, &open_create), 0);
	CHECK_EQ_U64(count_of(&s), 0);
	CHECK_RC(append_range(&s, 0, 3, 7), 0);
	shard_release(&s);
	CHECK_RC(shard_open(&s, path, "int", 2, inst_a, &ro), 0);
	CHECK_EQ_U64(count_of(&s), 3);
	shard_release(&s);

	/* Meta page 0 of pages smaller than this machine's (as if made on
	 * another machine): two of its pages are there, so it is not a cut
	 * creation, and nothing truncates it. */
	t_path_in(path, sizeof(path), dir, "int_shard_4.mdb");
	copy_head(whole, path, (size_t)page);
	{
		uint32_t small = (uint32_t)page / 4;
		unsigned char *before;
		size_t len = 0;

		f = fopen(path, "r+b");
		CHECK(f != NULL);
		if (f) {
			CHECK(fseek(f, 40, SEEK_SET) == 0 &&
			      fwrite(&small, sizeof(small), 1, f) == 1);
			fclose(f);
		}
		before = t_slurp(path, &len);
		CHECK(before != NULL && len == (size_t)page);
		CHECK(shard_open(&s, path, "int", 4, inst_a, &ro) != -ENOENT);
		CHECK(s.env == NULL);
		CHECK(shard_open(&s, path, "int", 4, inst_a,
				 &open_create) != 0);
		if (before) {
			unsigned char *now = t_slurp(path, &len);

			CHECK(now && len == (size_t)page &&
			      memcmp(now, before, len) == 0);
			free(now);
		}
		free(before);
	}

	/* Short files that are not LMDB's meta page 0: a text, and a page 0
	 * with the P_META flag but another magic. Refused, untouched. */
	for (k = 0; k < 2; k++) {
		unsigned char junk[1000];
		unsigned char *now;
		size_t n = 0;

		memset(junk, k ? 0 : 'x', sizeof(junk));
		if (k) {
			junk[10] = 0x08;
			junk[16] = 0xdf;
			junk[17] = 0xc0;
			junk[18] = 0xef;
			junk[19] = 0xbe;
			junk[40] = 0x00;
			junk[41] = 0x10;
		}
		t_path_in(path, sizeof(path), dir, "int_shard_5.mdb");
		f = fopen(path, "wb");
		CHECK(f != NULL);
		if (f) {
			CHECK(fwrite(junk, 1, sizeof(junk), f) == sizeof(junk));
			fclose(f);
		}
		CHECK(shard_open(&s, path, "int", 5, inst_a, &ro) != -ENOENT);
		CHECK(shard_open(&s, path, "int", 5, inst_a,
				 &open_create) != 0);
		now = t_slurp(path, &n);
		CHECK(now && n == sizeof(junk) &&
		      memcmp(now, junk, sizeof(junk)) == 0);
		free(now);
		remove(path);
	}
	t_rm_rf(dir);
}

/* Append, then take: sequence order, partial takes, empty takes. */
static void test_append_take(void)
{
	const char *dir = t_tmpdir();
	struct shard_item *it;
	struct shard s;
	char path[512];
	uint64_t v, next = 0;
	size_t n, i, total = 0;
	bool ok = true;

	it = calloc(30000, sizeof(*it));
	CHECK(it != NULL);
	if (!it)
		return;
	t_path_in(path, sizeof(path), dir, "p_shard_0.mdb");
	CHECK_RC(shard_open(&s, path, "p", 0, inst_a, &open_create), 0);

	CHECK_RC(shard_append(&s, 0, NULL, 0), 0);
	CHECK_EQ_U64(count_of(&s), 0);
	CHECK_RC(append_range(&s, 0, 100, 7000), 0);
	CHECK_EQ_U64(count_of(&s), 100);
	CHECK_RC(shard_get(&s, 5, &v), 0);
	CHECK_EQ_U64(v, 7005);
	CHECK_RC(shard_get(&s, 99, &v), 0);
	CHECK_EQ_U64(v, 7099);
	CHECK_RC(shard_get(&s, 100, &v), -ENOENT);

	CHECK_RC(shard_take(&s, 30, it, &n), 0);
	CHECK_EQ_U64(n, 30);
	for (i = 0; i < n; i++)
		if (it[i].seq != i || it[i].value != 7000 + i)
			ok = false;
	CHECK(ok);
	CHECK_EQ_U64(count_of(&s), 70);
	CHECK_RC(shard_get(&s, 29, &v), -ENOENT);
	CHECK_RC(shard_get(&s, 30, &v), 0);

	/* Taking nothing takes nothing. */
	CHECK_RC(shard_take(&s, 0, it, &n), 0);
	CHECK_EQ_U64(n, 0);
	CHECK_EQ_U64(count_of(&s), 70);

	/* More than there is: what is there. */
	CHECK_RC(shard_take(&s, 1000, it, &n), 0);
	CHECK_EQ_U64(n, 70);
	for (i = 0, ok = true; i < n; i++)
		if (it[i].seq != 30 + i || it[i].value != 7030 + i)
			ok = false;
	CHECK(ok);
	CHECK_EQ_U64(count_of(&s), 0);
	CHECK_RC(shard_take(&s, 10, it, &n), 0);
	CHECK_EQ_U64(n, 0);

	/* Many pages: batches of odd sizes in, batches of odd sizes out,
	 * nothing skipped or repeated where a delete empties a page. */
	for (i = 0; i < 30; i++)
		CHECK_RC(append_range(&s, 100 + i * 1000, 1000, 1u << 20), 0);
	CHECK_EQ_U64(count_of(&s), 30000);
	next = 100;
	for (ok = true; ok;) {
		size_t want = 1 + (total * 7919) % 3001;

		if (shard_take(&s, want, it, &n) != 0) {
			CHECK(0);
			break;
		}
		if (n == 0)
			break;
		if (n != want && total + n != 30000) {
			CHECKF(0, "took %zu of %zu with %zu left", n, want,
			       30000 - total);
			ok = false;
		}
		for (i = 0; i < n && ok; i++) {
			if (it[i].seq != next ||
			    it[i].value != (1u << 20) + next) {
				CHECKF(0, "took seq %llu value %llu, wanted "
				       "seq %llu",
				       (unsigned long long)it[i].seq,
				       (unsigned long long)it[i].value,
				       (unsigned long long)next);
				ok = false;
			}
			next++;
		}
		total += n;
	}
	CHECK_EQ_U64(total, 30000);
	CHECK_EQ_U64(count_of(&s), 0);

	/* Appended entries survive a reopen. */
	CHECK_RC(append_range(&s, 50000, 10, 0), 0);
	shard_release(&s);
	CHECK_RC(shard_open(&s, path, "p", 0, inst_a, &open_only), 0);
	CHECK_EQ_U64(count_of(&s), 10);
	CHECK_RC(shard_take(&s, 3, it, &n), 0);
	CHECK_EQ_U64(n, 3);
	CHECK_EQ_U64(it[0].seq, 50000);
	CHECK_EQ_U64(it[2].value, 50002);
	shard_release(&s);
	/* And so does the take. */
	CHECK_RC(shard_open(&s, path, "p", 0, inst_a, &open_only), 0);
	CHECK_EQ_U64(count_of(&s), 7);
	CHECK_RC(shard_get(&s, 50002, &v), -ENOENT);
	shard_release(&s);
	free(it);
	t_rm_rf(dir);
}

/* Taken entries put back are the same entries, in the same order. */
static void test_put_back(void)
{
	const char *dir = t_tmpdir();
	struct shard_item it[20], again[20], bad[2];
	struct shard s;
	char path[512];
	uint64_t v;
	size_t n, i;
	bool ok = true;

	t_path_in(path, sizeof(path), dir, "p_shard_1.mdb");
	CHECK_RC(shard_open(&s, path, "p", 1, inst_a, &open_create), 0);
	CHECK_RC(append_range(&s, 10, 10, 500), 0);
	CHECK_RC(shard_take(&s, 5, it, &n), 0);
	CHECK_EQ_U64(n, 5);
	CHECK_EQ_U64(count_of(&s), 5);
	CHECK_RC(shard_get(&s, 12, &v), -ENOENT);

	CHECK_RC(shard_put_back(&s, it, 0), 0);
	CHECK_RC(shard_put_back(&s, it, n), 0);
	CHECK_EQ_U64(count_of(&s), 10);
	for (i = 0; i < 5; i++) {
		CHECK_RC(shard_get(&s, 10 + i, &v), 0);
		CHECK_EQ_U64(v, 510 + i);
	}
	CHECK_RC(shard_take(&s, 20, again, &n), 0);
	CHECK_EQ_U64(n, 10);
	for (i = 0; i < n; i++)
		if (again[i].seq != 10 + i || again[i].value != 510 + i)
			ok = false;
	CHECK(ok);

	/* A put back that would overwrite anything puts back nothing. */
	CHECK_RC(shard_put_back(&s, again, 10), 0);
	bad[0].seq = 100;
	bad[0].value = 1;
	bad[1] = again[4];
	bad[1].value = 999;
	CHECK_RC(shard_put_back(&s, bad, 2), -EEXIST);
	CHECK_EQ_U64(count_of(&s), 10);
	CHECK_RC(shard_get(&s, 100, &v), -ENOENT);
	CHECK_RC(shard_get(&s, again[4].seq, &v), 0);
	CHECK_EQ_U64(v, again[4].value);

	/* Out of order, with gaps: each at its own sequence number. */
	CHECK_RC(shard_take(&s, 20, it, &n), 0);
	CHECK_EQ_U64(n, 10);
	again[0] = it[7];
	again[1] = it[2];
	again[2] = it[9];
	CHECK_RC(shard_put_back(&s, again, 3), 0);
	CHECK_RC(shard_take(&s, 20, it, &n), 0);
	CHECK_EQ_U64(n, 3);
	CHECK(it[0].seq == 12 && it[0].value == 512);
	CHECK(it[1].seq == 17 && it[1].value == 517);
	CHECK(it[2].seq == 19 && it[2].value == 519);
	shard_release(&s);
	t_rm_rf(dir);
}

/* Appends below the last sequence number work; a used sequence number is
 * refused with -EEXIST and the whole append adds nothing. */
static void test_append_order(void)
{
	const char *dir = t_tmpdir();
	struct shard_item it[64];
	struct shard s;
	char path[512];
	uint64_t v;
	size_t n, i;
	bool ok = true;

	t_path_in(path, sizeof(path), dir, "p_shard_2.mdb");
	CHECK_RC(shard_open(&s, path, "p", 2, inst_a, &open_create), 0);
	CHECK_RC(append_range(&s, 100, 10, 0), 0);	/* 100..109 */
	/* Another process appended a later grant first. */
	CHECK_RC(append_range(&s, 50, 10, 0), 0);	/* 50..59 */
	CHECK_RC(append_range(&s, 70, 10, 0), 0);	/* 70..79 */
	CHECK_EQ_U64(count_of(&s), 30);

	/* Overlaps, from below, inside, at the end: nothing added. */
	CHECK_RC(append_range(&s, 95, 10, 0), -EEXIST);
	CHECK_RC(append_range(&s, 45, 10, 0), -EEXIST);
	CHECK_RC(append_range(&s, 105, 10, 0), -EEXIST);
	CHECK_RC(append_range(&s, 109, 1, 0), -EEXIST);
	CHECK_RC(append_range(&s, 60, 20, 0), -EEXIST);
	CHECK_EQ_U64(count_of(&s), 30);
	CHECK_RC(shard_get(&s, 95, &v), -ENOENT);
	CHECK_RC(shard_get(&s, 45, &v), -ENOENT);
	CHECK_RC(shard_get(&s, 110, &v), -ENOENT);
	CHECK_RC(shard_get(&s, 60, &v), -ENOENT);

	/* The gap between two grants, exactly. */
	CHECK_RC(append_range(&s, 60, 10, 0), 0);	/* 60..69 */
	CHECK_RC(append_range(&s, 110, 4, 0), 0);	/* 110..113 */
	CHECK_EQ_U64(count_of(&s), 44);

	CHECK_RC(shard_take(&s, 64, it, &n), 0);
	CHECK_EQ_U64(n, 44);
	for (i = 0; i < n; i++) {
		uint64_t want = i < 30 ? 50 + i : 100 + (i - 30);

		if (it[i].seq != want || it[i].value != want)
			ok = false;
	}
	CHECK(ok);
	shard_release(&s);
	t_rm_rf(dir);
}

/*
 * A map that fills while appending grows (doubles) once per full write,
 * the failed append reports -ENOSPC with nothing added, and its retry
 * fits. The reads that follow a full write never grow the map again (a
 * full commit once left its code behind for the next abort).
 */
static void test_map_growth(void)
{
	const struct shard_opts tiny = { .sync = false, .create = true,
					 .shard_size = 1000,
					 .map_size = 64 << 10 };
	const char *dir = t_tmpdir();
	struct shard s;
	char path[512];
	unsigned long g0, g1;
	uint64_t seq = 0;
	unsigned full = 0, i;
	bool ok = true;
	int rc;

	t_path_in(path, sizeof(path), dir, "g_shard_0.mdb");
	CHECK_RC(shard_open(&s, path, "g", 0, inst_a, &tiny), 0);
	for (i = 0; i < 200 && ok; i++) {
		g0 = store_map_growths(s.env);
		rc = append_range(&s, seq, 1000, 7);
		if (rc == -ENOSPC) {
			full++;
			g1 = store_map_growths(s.env);
			if (g1 != g0 + 1)
				ok = false;
			if (count_of(&s) != seq)	/* nothing added */
				ok = false;
			(void)count_of(&s);
			if (store_map_growths(s.env) != g1)
				ok = false;
			rc = append_range(&s, seq, 1000, 7);
		}
		if (rc != 0)
			ok = false;
		else
			seq += 1000;
	}
	CHECKF(ok, "map growth went wrong at append %u (%lu growths, %u "
	       "full)", i, store_map_growths(s.env), full);
	CHECK(full >= 3);
	CHECK_EQ_U64(store_map_growths(s.env), full);
	CHECK_EQ_U64(count_of(&s), seq);
	shard_release(&s);
	t_rm_rf(dir);
}

/* A reader sees the shard as it was at begin, in order. */
static void test_reader(void)
{
	const char *dir = t_tmpdir();
	struct shard_reader r;
	struct shard_item it, took[10];
	struct shard s;
	char path[512];
	uint64_t next = 0;
	size_t n, seen = 0;
	bool ok = true;
	int rc;

	t_path_in(path, sizeof(path), dir, "p_shard_0.mdb");
	CHECK_RC(shard_open(&s, path, "p", 0, inst_a, &open_create), 0);

	CHECK_RC(shard_reader_begin(&s, &r), 0);
	CHECK_RC(shard_reader_next(&r, &it), -ENOENT);
	shard_reader_end(&r);
	shard_reader_end(&r); /* twice is harmless */

	CHECK_RC(append_range(&s, 0, 1000, 3), 0);
	CHECK_RC(shard_reader_begin(&s, &r), 0);
	/* Changes after begin: more entries, and ten taken away. */
	CHECK_RC(append_range(&s, 1000, 100, 3), 0);
	CHECK_RC(shard_take(&s, 10, took, &n), 0);
	CHECK_EQ_U64(n, 10);
	while ((rc = shard_reader_next(&r, &it)) == 0) {
		if (it.seq != next || it.value != next + 3)
			ok = false;
		next++;
		seen++;
	}
	CHECK_RC(rc, -ENOENT);
	CHECK(ok);
	CHECK_EQ_U64(seen, 1000);
	/* At the end it stays at the end. */
	CHECK_RC(shard_reader_next(&r, &it), -ENOENT);
	shard_reader_end(&r);

	/* A new reader sees the changes. */
	CHECK_RC(shard_reader_begin(&s, &r), 0);
	next = 10;
	seen = 0;
	ok = true;
	while ((rc = shard_reader_next(&r, &it)) == 0) {
		if (it.seq != next || it.value != next + 3)
			ok = false;
		next++;
		seen++;
	}
	CHECK_RC(rc, -ENOENT);
	CHECK(ok);
	CHECK_EQ_U64(seen, 1090);
	shard_reader_end(&r);
	shard_release(&s);
	t_rm_rf(dir);
}

int main(void)
{
	log_setup("test_shard", getenv("T_VERBOSE") ? LOG_DEBUG : LOG_OFF);
	test_path();
	test_open();
	test_cut_creation();
	test_append_take();
	test_put_back();
	test_append_order();
	test_map_growth();
	test_reader();
	return t_done("test_shard");
}
