/*
 * plot.c: the picture of a stress run, drawn by gnuplot; see plot.h.
 */
#include <errno.h>
#include <fcntl.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "common/log.h"
#include "stress/plot.h"
#include "common/banned.h"

#define TP_POINTS 1000		/* throughput points drawn at most */
#define LAT_POINTS 2000		/* latency points drawn at most */

extern char **environ;

int plot_available(void)
{
	const char *path = getenv("PATH");
	char dir[4096], exe[4200];
	const char *p, *colon;
	size_t len;

	if (!path || !*path)
		path = "/usr/local/bin:/usr/bin:/bin";
	for (p = path;; p = colon + 1) {
		colon = strchr(p, ':');
		len = colon ? (size_t)(colon - p) : strlen(p);
		if (len > 0 && len < sizeof(dir)) {
			memcpy(dir, p, len);
			dir[len] = '\0';
			snprintf(exe, sizeof(exe), "%s/gnuplot", dir);
			if (access(exe, X_OK) == 0)
				return 0;
		}
		if (!colon)
			return -ENOENT;
	}
}

/* Writes s into f as a gnuplot single-quoted string (where only ' needs
 * escaping, as ''), dropping control characters. */
static void put_quoted(FILE *f, const char *s)
{
	fputc('\'', f);
	for (; *s; s++) {
		if (*s == '\'')
			fputs("''", f);
		else if ((unsigned char)*s >= 0x20)
			fputc(*s, f);
	}
	fputc('\'', f);
}

/* time_s ok_per_s failed_per_s, the buckets merged so that at most
 * TP_POINTS points are drawn. The last bucket is cut at the last answer:
 * trailing empty buckets (the run ended) are not drawn. */
static int write_throughput(FILE *f, const struct plot_data *d)
{
	size_t used = d->nbuckets, per, i, j;

	while (used > 0 && !d->ok[used - 1] && !d->failed[used - 1])
		used--;
	per = used / TP_POINTS + 1;
	for (i = 0; i < used; i += per) {
		uint64_t ok = 0, failed = 0;
		size_t n = 0;
		double secs;

		for (j = i; j < used && j < i + per; j++, n++) {
			ok += d->ok[j];
			failed += d->failed[j];
		}
		secs = (double)(n * d->bucket_ms) / 1000.0;
		if (fprintf(f, "%.3f %.1f %.1f\n",
			    (double)((i + n) * d->bucket_ms) / 1000.0,
			    (double)ok / secs, (double)failed / secs) < 0)
			return -EIO;
	}
	if (used == 0 && fprintf(f, "0 0 0\n") < 0)
		return -EIO;
	return 0;
}

/* latency_ms percent_at_or_below: the empirical distribution, sampled at
 * up to LAT_POINTS ranks, the fastest and the slowest included. */
static int write_latency(FILE *f, const struct plot_data *d)
{
	size_t i, step = d->nlat / LAT_POINTS + 1;

	for (i = 0; i < d->nlat; i += step)
		if (fprintf(f, "%.3f %.4f\n", d->lat_us[i] / 1000.0,
			    100.0 * (double)(i + 1) / (double)d->nlat) < 0)
			return -EIO;
	if (d->nlat && fprintf(f, "%.3f 100\n",
			       d->lat_us[d->nlat - 1] / 1000.0) < 0)
		return -EIO;
	if (!d->nlat && fprintf(f, "0.001 0\n") < 0)
		return -EIO;
	return 0;
}

static double pct_ms(const struct plot_data *d, unsigned p)
{
	size_t rank = (d->nlat * p + 99) / 100;

	return d->nlat ? d->lat_us[rank ? rank - 1 : 0] / 1000.0 : 0.0;
}

static int write_script(FILE *f, const char *png, const struct plot_data *d,
			const char *tp, const char *lat)
{
	fputs("set terminal pngcairo size 1100,800 font 'sans,10'\n"
	      "set output ", f);
	put_quoted(f, png);
	fputs("\nset multiplot layout 2,1 title ", f);
	put_quoted(f, d->title);
	fputs("\nset grid\nset key top right\n"
	      "set title 'Throughput'\n"
	      "set xlabel 'seconds since the start'\n"
	      "set ylabel 'answers per second'\n"
	      "set yrange [0:*]\n"
	      "plot ", f);
	put_quoted(f, tp);
	fputs(" using 1:2 with lines lw 2 title 'values', '' using 1:3 "
	      "with lines lw 2 title 'errors'\n", f);
	fprintf(f, "set title 'Latency distribution (p50 %.3f ms, p90 %.3f "
		"ms, p99 %.3f ms, max %.3f ms)'\n",
		pct_ms(d, 50), pct_ms(d, 90), pct_ms(d, 99), pct_ms(d, 100));
	fputs("set xlabel 'latency (ms, log scale)'\n"
	      "set ylabel '% of answers at or below'\n"
	      "set logscale x\nset yrange [0:100]\nset key bottom right\n"
	      "plot ", f);
	put_quoted(f, lat);
	fputs(" using 1:2 with steps lw 2 title 'answers'\n"
	      "unset multiplot\n", f);
	return ferror(f) ? -EIO : 0;
}

/* Runs gnuplot on script, quietly; 0 if it exited 0. */
static int run_gnuplot(const char *script, const char *errlog, char *err,
		       size_t errlen)
{
	posix_spawn_file_actions_t fa;
	char prog[] = "gnuplot", arg[256];
	char *argv[] = { prog, arg, NULL };
	pid_t pid;
	int rc, status;

	snprintf(arg, sizeof(arg), "%s", script);
	rc = posix_spawn_file_actions_init(&fa);
	if (rc)
		return -rc;
	rc = posix_spawn_file_actions_addopen(&fa, STDOUT_FILENO, "/dev/null",
					      O_WRONLY, 0);
	if (!rc)
		rc = posix_spawn_file_actions_addopen(&fa, STDERR_FILENO,
						      errlog, O_WRONLY |
						      O_CREAT | O_TRUNC, 0600);
	if (!rc)
		rc = posix_spawnp(&pid, "gnuplot", &fa, NULL, argv, environ);
	posix_spawn_file_actions_destroy(&fa);
	if (rc) {
		snprintf(err, errlen, "cannot run gnuplot: %s",
			 log_strerror(rc));
		return rc == ENOENT ? -ENOENT : -rc;
	}
	while (waitpid(pid, &status, 0) < 0)
		if (errno != EINTR)
			return -errno;
	if (!WIFEXITED(status) || WEXITSTATUS(status)) {
		char msg[512] = "";
		FILE *f = fopen(errlog, "r");

		if (f) {
			size_t n = fread(msg, 1, sizeof(msg) - 1, f);

			msg[n] = '\0';
			fclose(f);
		}
		snprintf(err, errlen, "gnuplot failed: %s",
			 *msg ? msg : "no message");
		return -EIO;
	}
	return 0;
}

/*
 * Writes dir/name (its path into path) with fn. Returns 0 or a negative
 * errno, with err set.
 */
static int write_file(const char *dir, const char *name, char *path,
		      size_t len, int (*fn)(FILE *, const struct plot_data *),
		      const struct plot_data *d, char *err, size_t errlen)
{
	FILE *f;
	int rc;

	snprintf(path, len, "%s/%s", dir, name);
	f = fopen(path, "w");
	if (!f) {
		rc = -errno;
		goto out;
	}
	rc = fn(f, d);
	if (fclose(f) && !rc)
		rc = -EIO;
out:
	if (rc)
		snprintf(err, errlen, "cannot write %s: %s", path,
			 log_strerror(rc));
	return rc;
}

int plot_write(const char *png, const struct plot_data *d, char *err,
	       size_t errlen)
{
	const char *tmp = getenv("TMPDIR");
	char dir[512], tp[576] = "", lat[576] = "", gp[576] = "",
	     errlog[576] = "";
	struct stat st;
	FILE *f;
	int rc;

	if (plot_available()) {
		snprintf(err, errlen, "gnuplot is not installed (apt-get "
			 "install gnuplot-nox)");
		return -ENOENT;
	}
	if (!tmp || !*tmp)
		tmp = "/tmp";
	if (snprintf(dir, sizeof(dir), "%s/uniqd-plot-XXXXXX", tmp) >=
	    (int)sizeof(dir)) {
		snprintf(err, errlen, "TMPDIR is too long");
		return -ENAMETOOLONG;
	}
	if (!mkdtemp(dir)) {
		rc = -errno;
		snprintf(err, errlen, "cannot make a temporary directory: %s",
			 log_strerror(rc));
		return rc;
	}
	snprintf(errlog, sizeof(errlog), "%s/gnuplot.err", dir);
	rc = write_file(dir, "throughput.dat", tp, sizeof(tp),
			write_throughput, d, err, errlen);
	if (rc)
		goto out;
	rc = write_file(dir, "latency.dat", lat, sizeof(lat), write_latency,
			d, err, errlen);
	if (rc)
		goto out;
	snprintf(gp, sizeof(gp), "%s/plot.gp", dir);
	f = fopen(gp, "w");
	rc = f ? write_script(f, png, d, tp, lat) : -errno;
	if (f && fclose(f) && !rc)
		rc = -EIO;
	if (rc) {
		snprintf(err, errlen, "cannot write %s: %s", gp,
			 log_strerror(rc));
		goto out;
	}
	rc = run_gnuplot(gp, errlog, err, errlen);
	if (rc)
		goto out;
	if (stat(png, &st) || st.st_size == 0) {
		snprintf(err, errlen, "gnuplot wrote nothing to %s", png);
		rc = -EIO;
	}
out:
	unlink(tp);
	unlink(lat);
	unlink(gp);
	unlink(errlog);
	rmdir(dir);
	return rc;
}
