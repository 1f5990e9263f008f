/*
 * report.c: the end of a run of uniqd-stress: counts, latency
 * percentiles, duplicates, the summary printed and the --plot picture;
 * see report.h.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/log.h"
#include "stress/plot.h"
#include "stress/report.h"
#include "common/banned.h"

static int cmp_u32(const void *x, const void *y)
{
	uint32_t a = *(const uint32_t *)x, b = *(const uint32_t *)y;

	return a < b ? -1 : a > b;
}

/* Nearest rank: the smallest latency with at least p% at or below it. */
static double percentile_ms(const uint32_t *lat, uint64_t n, unsigned p)
{
	uint64_t rank = (n * p + 99) / 100;

	return n ? lat[rank ? rank - 1 : 0] / 1000.0 : 0.0;
}

int report_init(struct report *s, struct run *run)
{
	struct rec *recs = run->recs;
	uint64_t sent = run_sent(run);
	double elapsed = (double)(run->end_ns - run->start_ns) / 1e9;
	uint32_t *lat = NULL;
	uint64_t i, n = 0;

	memset(s, 0, sizeof(*s));
	s->sent = sent;
	s->elapsed = elapsed;
	s->rps = elapsed > 0 ? (double)sent / elapsed : 0.0;
	for (i = 0; i < sent; i++) {
		const struct rec *r = &recs[i];

		if (r->outcome == REC_OK)
			s->ok++;
		if (r->status) {
			s->answered++;
			if (r->status < 1000)
				s->by_status[r->status]++;
		}
		if (r->outcome == REC_CONN)
			s->conn++;
		else if (r->outcome == REC_TIMEOUT)
			s->timeouts++;
		else if (r->outcome == REC_BAD)
			s->bad++;
	}
	if (s->answered) {
		lat = malloc(s->answered * sizeof(*lat));
		if (!lat)
			return -ENOMEM;
		s->lat = lat;
		for (i = 0; i < sent; i++)
			if (recs[i].status)
				lat[n++] = recs[i].latency_us;
		qsort(lat, n, sizeof(*lat), cmp_u32);
		s->p50 = percentile_ms(lat, n, 50);
		s->p90 = percentile_ms(lat, n, 90);
		s->p99 = percentile_ms(lat, n, 99);
		s->max = percentile_ms(lat, n, 100);
		s->nlat = n;
	}
	rec_find_dups(&s->dups, recs, sent);
	return 0;
}

void report_print(const struct report *s, const struct run *run)
{
	const struct opts *o = run->o;
	const struct rec_dups *d = &s->dups;
	unsigned st, i;

	if (!o->quiet) {
		printf("uniqd-stress: %s, %u threads, type %s\n", o->url,
		       o->threads, opts_type_name(o->type));
		printf("requests sent:     %" PRIu64 " of %" PRIu64 "%s\n",
		       s->sent, o->requests,
		       s->sent < o->requests ? (run_stopping() ?
						" (interrupted)" :
						" (--duration reached)") : "");
		printf("ok:                %" PRIu64 "\n", s->ok);
		printf("errors:            %" PRIu64 "\n", s->sent - s->ok);
		for (st = 0; st < 1000; st++)
			if (s->by_status[st] && st != 200)
				printf("  %u: %" PRIu64 "\n", st,
				       s->by_status[st]);
		if (s->conn)
			printf("  connection errors: %" PRIu64 "\n", s->conn);
		if (s->timeouts)
			printf("  timeouts: %" PRIu64 "\n", s->timeouts);
		if (s->bad)
			printf("  bad answers: %" PRIu64 "\n", s->bad);
		printf("connections:       %" PRIu64 "\n", run->connects);
		printf("elapsed:           %.3f s\n", s->elapsed);
		printf("throughput:        %.1f req/s\n", s->rps);
		printf("latency:           p50 %.3f ms, p90 %.3f ms, "
		       "p99 %.3f ms, max %.3f ms\n",
		       s->p50, s->p90, s->p99, s->max);
		printf("duplicates found:  %" PRIu64 "\n", d->count);
		for (i = 0; i < d->listed; i++)
			printf("  %s %s received %" PRIu64 " times\n",
			       d->dup[i].kind == REC_INT ? "int" : "float",
			       d->dup[i].value, d->dup[i].times);
		if (d->count && d->listed == REC_DUPS_LISTED)
			printf("  (the first %u listed)\n", REC_DUPS_LISTED);
		printf("log:               %s\n", run->log.path);
	}
	printf("RESULT requests=%" PRIu64 " ok=%" PRIu64 " errors=%" PRIu64
	       " duplicates=%" PRIu64 " rps=%.1f p50_ms=%.3f p90_ms=%.3f"
	       " p99_ms=%.3f max_ms=%.3f log=%s\n",
	       s->sent, s->ok, s->sent - s->ok, d->count, s->rps, s->p50,
	       s->p90, s->p99, s->max, run->log.path);
	fflush(stdout);
}

int report_plot(const struct report *s, const struct run *run)
{
	const struct opts *o = run->o;
	struct plot_data d = { 0 };
	uint32_t *ok, *failed;
	char title[512], err[600];
	size_t i;
	int rc = -ENOMEM;

	ok = calloc(run->nbuckets, sizeof(*ok));
	failed = calloc(run->nbuckets, sizeof(*failed));
	if (!ok || !failed) {
		log_error("out of memory for the plot");
		goto out;
	}
	for (i = 0; i < run->nbuckets; i++) {
		ok[i] = atomic_load_explicit(&run->tp_ok[i],
					     memory_order_relaxed);
		failed[i] = atomic_load_explicit(&run->tp_failed[i],
						 memory_order_relaxed);
	}
	snprintf(title, sizeof(title), "uniqd-stress: %s, %u threads, type "
		 "%s: %" PRIu64 " requests, %.0f req/s, %" PRIu64 " errors, %"
		 PRIu64 " duplicates", o->url, o->threads,
		 opts_type_name(o->type), s->sent, s->rps, s->sent - s->ok,
		 s->dups.count);
	d.title = title;
	d.bucket_ms = RUN_BUCKET_MS;
	d.nbuckets = run->nbuckets;
	d.ok = ok;
	d.failed = failed;
	d.lat_us = s->lat;
	d.nlat = (size_t)s->nlat;
	rc = plot_write(o->plot, &d, err, sizeof(err));
	if (rc)
		log_error("--plot: %s", err);
	else if (!o->quiet)
		log_info("plot: %s", o->plot);
out:
	free(ok);
	free(failed);
	return rc;
}

void report_release(struct report *s)
{
	free(s->lat);
	s->lat = NULL;
}
