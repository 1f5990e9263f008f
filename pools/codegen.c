/*
 * codegen.c: generation runs, export files and the job workers; see the
 * DESIGN block in codegen.h.
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "common/clock.h"
#include "common/log.h"
#include "common/store.h"
#include "common/value.h"
#include "common/worker.h"
#include "pools/codegen.h"
#include "common/banned.h"

/* ---- generation ---------------------------------------------------- */

/* Writes all of len bytes. Returns 0 or a negative errno. */
static int write_all(int fd, const char *p, size_t len)
{
	while (len) {
		ssize_t n = write(fd, p, len);

		if (n < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

/* The hook that commits a job's progress with the chunk that makes it. */
static int progress_hook(MDB_txn *txn, const struct codepool_batch *b,
			 void *arg)
{
	struct codegen_run *g = arg;
	struct codejob j = *g->job;

	j.done += b->n;
	j.status = CODEJOB_RUNNING;
	return codejob_put(g->lg, txn, &j);
}

/* Formats n codes, a line each, into out (n * (pattern + 1) bytes). */
static size_t format_lines(const struct pool_def *d, const uint64_t *codes,
			   size_t n, char *out)
{
	size_t i, len = strlen(d->pattern), at = 0;

	for (i = 0; i < n; i++) {
		code_format(d, codes[i], out + at);
		at += len;
		out[at++] = '\n';
	}
	return at;
}

int codegen_generate(struct codegen_run *g)
{
	size_t line = strlen(g->def->pattern) + 1;
	struct codepool_batch b;
	char *out = NULL;
	unsigned long grown;
	uint64_t want;
	int rc;

	rc = codepool_batch_init(&b, CODEGEN_CHUNK);
	if (rc)
		return rc;
	out = malloc((size_t)CODEGEN_CHUNK * line);
	if (!out) {
		rc = -ENOMEM;
		goto out;
	}
	while (g->done < g->count) {
		if (g->stop && atomic_load(g->stop)) {
			rc = -ECANCELED;
			goto out;
		}
		want = g->count - g->done;
		if (want > CODEGEN_CHUNK)
			want = CODEGEN_CHUNK;
		grown = store_map_growths(g->lg->env);
		rc = codepool_issue(g->lg, g->def, &g->prefix, g->shard, want,
				    &b, g->job ? progress_hook : NULL, g);
		if (rc == -ENOSPC && store_map_growths(g->lg->env) != grown)
			continue; /* the ledger's map was full and has grown */
		if (rc)
			goto out;
		if (b.grant.count == 0) {
			rc = OUTCOME_USED_UP; /* the prefix is used up */
			goto out;
		}
		/* Committed (with the job's progress): done counts them now,
		 * whatever happens to the file. A crash or a failed write
		 * before the lines are in the file is repaired from the
		 * ledger (codegen_repair_file). */
		g->done += b.n;
		if (g->job) {
			g->job->done = g->done;
			g->job->status = CODEJOB_RUNNING;
		}
		if (g->progress)
			atomic_store(g->progress, g->done);
		rc = write_all(g->fd, out, format_lines(g->def, b.codes, b.n,
							out));
		if (rc)
			goto out;
	}
out:
	free(out);
	codepool_batch_release(&b);
	return rc;
}

struct repair {
	const struct pool_def *def;
	char *buf;
	size_t len, cap;
	int fd;
	int rc;
};

static int repair_line(uint64_t code, void *arg)
{
	struct repair *r = arg;
	size_t line = strlen(r->def->pattern) + 1;
	int rc;

	if (r->len + line > r->cap) {
		rc = write_all(r->fd, r->buf, r->len);
		if (rc)
			return rc;
		r->len = 0;
	}
	r->len += format_lines(r->def, &code, 1, r->buf + r->len);
	return 0;
}

/* Compares the file's lines, one by one, with the ledger's codes: stops
 * (returning 1) at the first that differs. */
struct check {
	const struct pool_def *def;
	int fd;
	char *buf;		/* CHECK_BUF bytes of the file from at */
	uint64_t at, len;	/* file offset of buf, bytes in it */
	uint64_t good;		/* lines that matched */
};

#define CHECK_BUF (1u << 20)

static int check_line(uint64_t code, void *arg)
{
	struct check *c = arg;
	size_t line = strlen(c->def->pattern) + 1;
	uint64_t off = c->good * line;
	char want[CODE_PATTERN_MAX + 2];
	ssize_t n;

	if (off + line > c->at + c->len) {
		n = pread(c->fd, c->buf, CHECK_BUF, (off_t)off);
		if (n < 0)
			return -errno;
		c->at = off;
		c->len = (uint64_t)n;
		if (c->len < line)
			return 1;
	}
	format_lines(c->def, &code, 1, want);
	if (memcmp(c->buf + (off - c->at), want, line))
		return 1;
	c->good++;
	return 0;
}

int codegen_repair_file(struct codegen_run *g)
{
	size_t line = strlen(g->def->pattern) + 1;
	struct repair r = { g->def, NULL, 0, 0, g->fd, 0 };
	struct check c = { g->def, g->fd, NULL, 0, 0, 0 };
	struct stat st;
	uint64_t lines;
	int rc;

	if (fstat(g->fd, &st))
		return -errno;
	lines = (uint64_t)st.st_size / line;
	if (lines > g->done)
		lines = g->done; /* cannot happen: written after commits */
	/* The lines there must be the ledger's: after a power cut a file
	 * may hold what was never written (zeros, a torn end). Keep the
	 * lines up to the first that differs; rebuild the rest. */
	if (lines) {
		c.buf = malloc(CHECK_BUF);
		if (!c.buf)
			return -ENOMEM;
		rc = codepool_shard_codes(g->lg, g->def, &g->prefix, g->shard,
					  0, lines, check_line, &c);
		free(c.buf);
		if (rc < 0)
			return rc;
		if (c.good < lines)
			log_warn("job file: %llu of %llu lines differ from the "
				 "ledger; rebuilding them",
				 (unsigned long long)(lines - c.good),
				 (unsigned long long)lines);
		lines = c.good;
	}
	if (ftruncate(g->fd, (off_t)(lines * line)))
		return -errno;
	if (lseek(g->fd, 0, SEEK_END) < 0)
		return -errno;
	if (lines == g->done)
		return 0;
	log_info("job file: rebuilding %llu lines from the ledger",
		 (unsigned long long)(g->done - lines));
	r.cap = 1 << 20;
	r.buf = malloc(r.cap);
	if (!r.buf)
		return -ENOMEM;
	rc = codepool_shard_codes(g->lg, g->def, &g->prefix, g->shard, lines,
				  g->done - lines, repair_line, &r);
	if (rc == 0)
		rc = write_all(g->fd, r.buf, r.len);
	free(r.buf);
	return rc;
}

int codegen_path(const char *data_dir, uint64_t id, bool part, char *buf,
		 size_t len)
{
	int n = snprintf(buf, len, "%s/jobs/%llu.csv%s", data_dir,
			 (unsigned long long)id, part ? ".part" : "");

	return n < 0 || (size_t)n >= len ? -ENAMETOOLONG : 0;
}

/* ---- workers ------------------------------------------------------- */

/* The worker of one code pool. */
struct job_worker {
	struct worker w;	/* its thread, wake and stop (worker.h) */
	struct codegen *jobs;
	const struct pool_def *def;
};

struct codegen {
	struct pools *ps;
	struct job_worker *w;
	size_t n;
	_Atomic uint64_t done, failed;
};

static int sync_dir(const char *path)
{
	char dir[1200];
	char *slash;
	int fd, rc = 0;

	snprintf(dir, sizeof(dir), "%s", path);
	slash = strrchr(dir, '/');
	if (slash)
		*slash = '\0';
	fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	if (fsync(fd))
		rc = -errno;
	close(fd);
	return rc;
}

/* Ends job j (done or failed) in the ledger. */
static int finish_job(struct job_worker *w, struct codejob *j, uint32_t status,
		      const char *why)
{
	j->status = status;
	j->finished_ms = clock_now_ms();
	if (why)
		snprintf(j->error, sizeof(j->error), "%s", why);
	atomic_fetch_add(status == CODEJOB_DONE ? &w->jobs->done :
						  &w->jobs->failed, 1);
	log_info("job %llu (%s, prefix \"%s\"): %s, %llu of %llu codes%s%s",
		 (unsigned long long)j->id, j->pool, j->prefix,
		 codejob_status_name(status), (unsigned long long)j->done,
		 (unsigned long long)j->count, why ? ": " : "", why ? why : "");
	return codejob_put(&w->jobs->ps->ledger, NULL, j);
}

/*
 * Runs job j to its end, or until stopped. Returns 0 (finished: done or
 * failed), -ECANCELED (stopped; resumed later), or an error (retried
 * later).
 */
static int run_job(struct job_worker *w, struct codejob *j)
{
	const char *data_dir = w->jobs->ps->cfg->data_dir;
	char part[1200], final[1200], why[160];
	struct codegen_run g;
	int fd = -1, rc;

	memset(&g, 0, sizeof(g));
	g.lg = &w->jobs->ps->ledger;
	g.def = w->def;
	if (code_prefix_parse(w->def, j->prefix, &g.prefix))
		return finish_job(w, j, CODEJOB_FAILED, "bad prefix");
	g.shard = CODEPOOL_JOB_SHARD(j->id);
	g.count = j->count;
	g.done = j->done;
	g.job = j;
	g.stop = &w->w.stop;
	if ((rc = codegen_path(data_dir, j->id, true, part, sizeof(part))) ||
	    (rc = codegen_path(data_dir, j->id, false, final, sizeof(final))))
		return rc;
	fd = open(part, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
	if (fd < 0) {
		rc = -errno;
		log_error("job %llu: %s: %s", (unsigned long long)j->id, part,
			  log_strerror(rc));
		return rc;
	}
	g.fd = fd;
	rc = codegen_repair_file(&g);
	if (rc == 0) {
		if (j->status == CODEJOB_QUEUED) {
			j->status = CODEJOB_RUNNING;
			rc = codejob_put(g.lg, NULL, j);
		}
	}
	if (rc == 0)
		rc = codegen_generate(&g);
	/* Done, or the prefix used up (what was issued stays in the file,
	 * renamed all the same): the file is made final. Any other error
	 * (a full disk, a full map) is retried later: what the ledger
	 * committed is repaired into the file then. */
	if (rc == 0 || rc == OUTCOME_USED_UP) {
		bool ran_out = rc == OUTCOME_USED_UP;

		rc = fsync(fd) ? -errno : 0;
		close(fd);
		fd = -1;
		if (rc == 0 && rename(part, final))
			rc = -errno;
		if (rc == 0)
			rc = sync_dir(final);
		if (rc == 0 && ran_out) {
			snprintf(why, sizeof(why), "prefix \"%s\" ran out of "
				 "codes after %llu", j->prefix,
				 (unsigned long long)g.done);
			rc = finish_job(w, j, CODEJOB_FAILED, why);
		} else if (rc == 0) {
			rc = finish_job(w, j, CODEJOB_DONE, NULL);
		}
	}
	if (fd >= 0)
		close(fd);
	return rc;
}

static void *worker_main(void *arg)
{
	struct job_worker *w = arg;
	struct codejob j;
	int rc;

	while (!worker_stopping(&w->w)) {
		rc = codejob_next(&w->jobs->ps->ledger, w->def->name, &j);
		if (rc == 0) {
			rc = run_job(w, &j);
			if (rc == 0 || rc == -ECANCELED)
				continue;
			log_error("job %llu: %s; retrying in 1 s",
				  (unsigned long long)j.id, rc > 0 ?
				  outcome_str(rc) : store_strerror(rc));
			if (worker_wait(&w->w, 1000))
				break;
			continue;
		}
		if (rc != -ENOENT)
			log_error("jobs of \"%s\": %s", w->def->name,
				  store_strerror(rc));
		if (worker_wait(&w->w, 1000))
			break;
	}
	return NULL;
}

int codegen_start(struct pools *ps, struct codegen **out)
{
	char dir[1200];
	struct codegen *j;
	size_t i, n = 0;
	int rc = 0;

	*out = NULL;
	snprintf(dir, sizeof(dir), "%s/jobs", ps->cfg->data_dir);
	if (mkdir(dir, 0700) && errno != EEXIST)
		return -errno;
	j = calloc(1, sizeof(*j));
	if (!j)
		return -ENOMEM;
	j->ps = ps;
	for (i = 0; i < ps->npools; i++)
		if (ps->pools[i].def->kind == POOL_CODE)
			n++;
	j->w = calloc(n ? n : 1, sizeof(*j->w));
	if (!j->w) {
		free(j);
		return -ENOMEM;
	}
	for (i = 0; i < ps->npools; i++) {
		struct job_worker *w;

		if (ps->pools[i].def->kind != POOL_CODE)
			continue;
		w = &j->w[j->n];
		w->jobs = j;
		w->def = ps->pools[i].def;
		rc = worker_init(&w->w);
		if (rc)
			break;
		j->n++;
		rc = worker_start(&w->w, worker_main, w);
		if (rc)
			break;
	}
	if (rc) {
		codegen_stop(j);
		codegen_free(j);
		return rc;
	}
	*out = j;
	return 0;
}

void codegen_wake(struct codegen *j, const char *pool)
{
	size_t i;

	if (!j)
		return;
	for (i = 0; i < j->n; i++) {
		if (!strcmp(j->w[i].def->name, pool))
			worker_wake(&j->w[i].w);
	}
}

void codegen_stop(struct codegen *j)
{
	size_t i;

	if (!j)
		return;
	for (i = 0; i < j->n; i++)
		worker_ask_stop(&j->w[i].w);
	for (i = 0; i < j->n; i++)
		worker_stop(&j->w[i].w);
}

void codegen_free(struct codegen *j)
{
	size_t i;

	if (!j)
		return;
	for (i = 0; i < j->n; i++)
		worker_release(&j->w[i].w);
	free(j->w);
	free(j);
}

void codegen_counts(struct codegen *j, uint64_t *done, uint64_t *failed)
{
	*done = j ? atomic_load(&j->done) : 0;
	*failed = j ? atomic_load(&j->failed) : 0;
}
