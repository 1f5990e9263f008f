/*
 * run.c: the worker threads of uniqd-stress: each sends requests over its
 * own keep-alive connection, records the result and logs a line.
 *
 * DESIGN (threads of the process)
 *   main thread  run_start() starts the workers, run_wait() naps in 50 ms
 *                steps until run->running is 0 (progress every 5 s), joins
 *                them; only then does it read the records (main.c).
 *   worker i     owns workers[i]: a struct httpc (one connection), a PRNG
 *                for --type mixed and a reqlog_buf. It takes request ids
 *                from run->next_id (atomic: no id twice) and writes record
 *                id alone: run->recs needs no lock.
 *   lock         run->log.lock only, around writes to the log file; never
 *                held while talking to the server (reqlog.h).
 *   --plot       relaxed atomic counts in run->tp_ok/tp_failed, by 100 ms
 *                bucket of arrival; read after the joins.
 *   stopping     before taking an id a worker checks run_stopping()
 *                (SIGINT, SIGTERM) and the --duration deadline; the id in
 *                hand is always completed (or times out). So a run lasts
 *                at most --duration plus --timeout, ids below run_sent()
 *                are exactly the requests sent, and the run ends at the
 *                latest worker's end_ns, not when run_wait wakes.
 * pthread_join() orders every worker's writes before the main thread's
 * reads.
 */
#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "common/clock.h"
#include "common/log.h"
#include "stress/answer.h"
#include "stress/httpc.h"
#include "stress/run.h"
#include "common/banned.h"

#define PROGRESS_NS (5 * 1000000000ull)

struct worker {
	struct run *run;
	pthread_t tid;
	uint64_t rng;
	struct httpc http;
	uint64_t end_ns;	/* clock_mono_ns() when it finished */
	struct reqlog_buf log;
};

static atomic_bool stop_flag;

void run_stop(void)
{
	atomic_store(&stop_flag, true); /* lock-free: async-signal-safe */
}

bool run_stopping(void)
{
	return atomic_load(&stop_flag);
}

/* splitmix64: a small, good PRNG with one word of state per thread. */
static uint64_t rng_next(uint64_t *s)
{
	uint64_t z = (*s += 0x9e3779b97f4a7c15ull);

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
	return z ^ (z >> 31);
}

/* Sends request id (0-based) and records its result. */
static void do_request(struct worker *w, uint64_t id)
{
	struct run *run = w->run;
	const struct opts *o = run->o;
	struct rec *r = &run->recs[id];
	enum rec_kind kind = o->type == OPTS_INT ? REC_INT :
			     o->type == OPTS_FLOAT ? REC_FLOAT :
			     (rng_next(&w->rng) >> 63) ? REC_FLOAT : REC_INT;
	struct answer a = { 0 };
	struct httpc_resp resp;
	const char *err = NULL;
	char errbuf[REQLOG_CODE_MAX + 1];
	uint64_t sent_ms, t0, us;
	int rc;

	sent_ms = clock_now_ms();
	t0 = clock_mono_ns();
	rc = httpc_get(&w->http, kind == REC_INT ? o->path_int : o->path_float,
		       &resp);
	us = (clock_mono_ns() - t0) / 1000;
	r->latency_us = us > UINT32_MAX ? UINT32_MAX : (uint32_t)us;
	if (rc) {
		const char *name = strerrorname_np(-rc);

		r->status = 0;
		r->outcome = rc == -ETIMEDOUT ? REC_TIMEOUT :
			     rc == -EPROTO || rc == -EMSGSIZE ? REC_BAD :
			     REC_CONN;
		err = name ? name : "error";
		goto log;
	}
	r->status = resp.status > UINT16_MAX ? UINT16_MAX :
		    (uint16_t)resp.status;
	if (answer_parse(&a, resp.body, resp.body_len))
		memset(&a, 0, sizeof(a)); /* not JSON: log what we can */
	if (resp.status != 200) {
		r->outcome = REC_STATUS;
		if (a.error) {
			snprintf(errbuf, sizeof(errbuf), "%.*s",
				 (int)a.error_len, a.error);
			err = errbuf;
		} else {
			err = "-";
		}
		goto log;
	}
	if (!a.number || a.number_len == 0 || a.number_len > REC_VALUE_MAX) {
		r->outcome = REC_BAD;
		err = "bad_body";
		goto log;
	}
	r->kind = (uint8_t)kind;
	memcpy(r->value, a.number, a.number_len);
	r->outcome = REC_OK;
log:
	reqlog_add(&run->log, &w->log, id + 1, sent_ms, r, &a, err);
}

/* Counts an answer that arrived now into its --plot bucket. */
static void count_answer(struct run *run, bool ok)
{
	uint64_t i = (clock_mono_ns() - run->start_ns) /
		     (RUN_BUCKET_MS * 1000000ull);

	if (i >= run->nbuckets)
		i = run->nbuckets - 1;
	atomic_fetch_add_explicit(ok ? &run->tp_ok[i] : &run->tp_failed[i], 1,
				  memory_order_relaxed);
}

static void *worker_main(void *arg)
{
	struct worker *w = arg;
	struct run *run = w->run;
	uint64_t id;

	for (;;) {
		if (run_stopping() || clock_mono_ns() >= run->deadline_ns)
			break;
		id = atomic_fetch_add(&run->next_id, 1);
		if (id >= run->o->requests)
			break;
		do_request(w, id);
		if (run->tp_ok)
			count_answer(run, run->recs[id].outcome == REC_OK);
	}
	reqlog_flush(&run->log, &w->log);
	httpc_close(&w->http);
	w->end_ns = clock_mono_ns();
	atomic_fetch_sub(&run->running, 1);
	return NULL;
}

int run_init(struct run *run, const struct opts *o)
{
	memset(run, 0, sizeof(*run));
	run->o = o;
	return reqlog_init(&run->log);
}

int run_alloc(struct run *run)
{
	const struct opts *o = run->o;
	unsigned i;

	/* calloc of this size maps zero pages lazily: a run cut short by
	 * --duration touches only what it used. */
	run->recs = calloc(o->requests, sizeof(*run->recs));
	run->workers = calloc(o->threads, sizeof(*run->workers));
	if (o->plot) {
		/* A run lasts at most --duration plus --timeout; one bucket
		 * more takes whatever comes later. */
		run->nbuckets = ((size_t)o->duration + o->timeout) *
				(1000 / RUN_BUCKET_MS) + 1;
		run->tp_ok = calloc(run->nbuckets, sizeof(*run->tp_ok));
		run->tp_failed = calloc(run->nbuckets,
					sizeof(*run->tp_failed));
	}
	/* Set up now, so that run_release may release them all. */
	for (i = 0; run->workers && i < o->threads; i++) {
		run->workers[i].run = run;
		httpc_init(&run->workers[i].http, o->host, o->port,
			   o->timeout * 1000u); /* checked by opts_parse
						   (a name that no longer
						   resolves: its requests
						   fail, and say so) */
	}
	if (!run->recs || !run->workers ||
	    (o->plot && (!run->tp_ok || !run->tp_failed)))
		return -ENOMEM;
	return 0;
}

int run_start(struct run *run)
{
	const struct opts *o = run->o;
	pthread_attr_t attr;
	uint64_t t_start;
	unsigned i;
	int rc;

	rc = pthread_attr_init(&attr);
	if (rc) {
		log_error("cannot set up threads: %s", log_strerror(rc));
		run_stop();
		return rc;
	}
	rc = pthread_attr_setstacksize(&attr, 512 * 1024);
	if (rc) {
		log_error("cannot set up threads: %s", log_strerror(rc));
		run_stop();
		goto out;
	}
	if (!o->quiet)
		log_info("%" PRIu64 " requests to %s from %u threads, "
			 "logging to %s", o->requests, o->url, o->threads,
			 run->log.path);

	t_start = clock_mono_ns();
	run->start_ns = t_start;
	run->end_ns = t_start;
	run->deadline_ns = t_start + (uint64_t)o->duration * 1000000000ull;
	for (i = 0; i < o->threads; i++) {
		struct worker *w = &run->workers[i];

		w->rng = t_start ^ ((uint64_t)(i + 1) * 0x9e3779b97f4a7c15ull) ^
			 ((uint64_t)getpid() << 32);
		atomic_fetch_add(&run->running, 1);
		rc = pthread_create(&w->tid, &attr, worker_main, w);
		if (rc) {
			atomic_fetch_sub(&run->running, 1);
			run_stop();
			log_error("cannot start thread %u: %s", i + 1,
				  log_strerror(rc));
			break;
		}
		run->started++;
	}
out:
	pthread_attr_destroy(&attr);
	return rc;
}

void run_wait(struct run *run)
{
	const struct opts *o = run->o;
	uint64_t next_report = run->start_ns + PROGRESS_NS;
	unsigned i;

	while (atomic_load(&run->running) > 0) {
		struct timespec nap = { 0, 50 * 1000 * 1000 };
		uint64_t now, taken;

		nanosleep(&nap, NULL);
		now = clock_mono_ns();
		if (o->quiet || now < next_report)
			continue;
		taken = atomic_load(&run->next_id);
		if (taken > o->requests)
			taken = o->requests;
		log_info("%" PRIu64 "/%" PRIu64 " requests, %.0f req/s%s",
			 taken, o->requests,
			 (double)taken * 1e9 / (double)(now - run->start_ns),
			 run_stopping() ? " (stopping: waiting for "
			 "the requests in flight)" : "");
		next_report += PROGRESS_NS;
	}
	for (i = 0; i < run->started; i++) {
		pthread_join(run->workers[i].tid, NULL);
		run->connects += run->workers[i].http.connects;
		if (run->workers[i].end_ns > run->end_ns)
			run->end_ns = run->workers[i].end_ns;
	}
}

uint64_t run_sent(const struct run *run)
{
	uint64_t sent = atomic_load(&run->next_id);

	return sent > run->o->requests ? run->o->requests : sent;
}

void run_release(struct run *run)
{
	unsigned i;

	if (run->workers)
		for (i = 0; i < run->o->threads; i++)
			httpc_release(&run->workers[i].http);
	free(run->workers);
	free(run->recs);
	free(run->tp_ok);
	free(run->tp_failed);
	reqlog_release(&run->log);
}
