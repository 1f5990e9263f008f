/*
 * uniqd-stress.c: the load client's main(). Sends N requests GET /random
 * from T threads over keep-alive connections, writes every answer to a
 * log file named with the start time, and prints throughput, latency
 * percentiles, errors and the duplicates it received.
 *
 * The parts: opts.c the command line, run.c the worker threads (their
 * DESIGN block), httpc.c their HTTP client, answer.c the JSON of an
 * answer, reqlog.c the log file, rec.c the records and the duplicate
 * check, report.c the summary, plot.c the --plot picture.
 */
#include <inttypes.h>
#include <signal.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "common/clock.h"
#include "common/fdlimit.h"
#include "common/log.h"
#include "stress/opts.h"
#include "stress/plot.h"
#include "stress/report.h"
#include "stress/run.h"
#include "common/banned.h"

#define EXIT_DUPLICATE 1
#define EXIT_USAGE 2
#define EXIT_FAILED 3
#define EXIT_CANNOT_RUN 4

static void on_signal(int sig)
{
	(void)sig;
	run_stop();
}

/* Lets each thread have its socket: raises the soft limit on open files
 * to what is needed, if the hard limit allows. */
static void raise_fd_limit(unsigned threads)
{
	uint64_t want = (uint64_t)threads + 64, now;

	if (fdlimit_raise(want, &now))
		log_warn("cannot raise the open files limit to %llu",
			 (unsigned long long)want);
}

int main(int argc, char **argv)
{
	struct report *rep = NULL;
	struct sigaction sa;
	struct run run;
	struct opts o;
	int rc, code = EXIT_CANNOT_RUN;

	rc = opts_parse(&o, argc, argv);
	if (rc)
		return rc > 0 ? 0 : EXIT_USAGE;
	log_setup("uniqd-stress", o.quiet ? LOG_WARN : LOG_INFO);
	rc = run_init(&run, &o);
	if (rc) {
		log_error("cannot set up a mutex: %s", log_strerror(rc));
		return EXIT_CANNOT_RUN;
	}

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_signal;
	sa.sa_flags = SA_RESETHAND; /* a second signal kills */
	sigemptyset(&sa.sa_mask);
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	signal(SIGPIPE, SIG_IGN);
	raise_fd_limit(o.threads);
	if (o.plot && plot_available()) {
		log_error("--plot needs gnuplot (apt-get install gnuplot-nox)");
		goto out;
	}

	rep = calloc(1, sizeof(*rep));
	if (run_alloc(&run) || !rep) {
		log_error("out of memory for %" PRIu64 " requests (%zu bytes "
			  "each)", o.requests, sizeof(*run.recs));
		goto out;
	}
	if (reqlog_open(&run.log, o.log_dir, clock_now_ms()))
		goto out;
	rc = run_start(&run);
	run_wait(&run);
	if (rc)
		goto out;

	rc = reqlog_close(&run.log);
	if (rc)
		log_error("cannot write %s: %s", run.log.path,
			  log_strerror(rc));
	if (report_init(rep, &run)) {
		log_error("out of memory for the summary");
		goto out;
	}
	report_print(rep, &run);
	if (rep->dups.count)
		code = EXIT_DUPLICATE;
	else if (run.log.err)
		code = EXIT_CANNOT_RUN;
	else if (rep->ok < rep->sent)
		code = EXIT_FAILED;
	else
		code = 0;
	if (o.plot && report_plot(rep, &run) && !code)
		code = EXIT_CANNOT_RUN;
out:
	run_release(&run);
	if (rep)
		report_release(rep);
	free(rep);
	return code;
}
