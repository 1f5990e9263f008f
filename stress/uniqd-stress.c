/*
 * uniqd-stress.c: the load client. Sends N requests GET /random from T
 * threads over keep-alive connections, writes every answer to a log file
 * named with the start time, and prints throughput, latency percentiles,
 * errors and the duplicates it received.
 *
 * DESIGN (threads of the process)
 *   main thread  parses the command line, opens the log, starts the
 *                workers, then naps in 50 ms steps until run.running (the
 *                workers not finished) is 0, printing progress every 5 s;
 *                joins them, and then alone reads the results: counts,
 *                percentiles, duplicates, summary. The run's end is the
 *                latest workers[i].end_ns, not the end of the nap.
 *   worker i     owns workers[i]: one struct httpc (one keep-alive
 *                connection), a PRNG for --type mixed, and a log buffer.
 *                It takes request ids from run.next_id (an atomic counter:
 *                the N requests are shared out as the workers go, no id
 *                twice) and writes the result of request id into
 *                run.recs[id], a slot no other thread touches: the record
 *                array needs no lock.
 *   log file     lines are built in the worker's buffer and written, a full
 *                buffer at a time, under run.log_lock (the only lock; never
 *                held while sending or waiting for the server). Lines of
 *                different workers therefore come in chunks, not in id
 *                order. The first write error is kept in run.log_err.
 *   stopping     each worker checks, before it takes an id, stop_flag (set
 *                by SIGINT/SIGTERM) and the --duration deadline; a request
 *                in flight finishes or times out, so a run lasts at most
 *                --duration plus --timeout.
 *   --plot       each answer also counts into run.tp_ok or run.tp_failed
 *                at the 100 ms bucket of its arrival: relaxed atomic
 *                additions shared by the workers (only with --plot), read
 *                by the main thread after the joins.
 * The main thread reads recs only after pthread_join(), which orders every
 * worker's writes before its reads. Ids below min(next_id, N) are exactly
 * the requests sent: a worker checks the deadline before taking an id and
 * always completes the id it took.
 *
 * Duplicates: a record keeps the value's text (not a double: float values
 * compare exactly as received) behind its type, NUL-padded, so that
 * sorting the records with memcmp() brings equal values of one type
 * together: 32 bytes per request and no hash table.
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <inttypes.h>
#include <limits.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "common/clock.h"
#include "common/log.h"
#include "common/parse.h"
#include "stress/httpc.h"
#include "stress/plot.h"
#include "common/banned.h"

#define EXIT_DUPLICATE 1
#define EXIT_USAGE 2
#define EXIT_FAILED 3
#define EXIT_CANNOT_RUN 4

#define MAX_REQUESTS 100000000u
#define MAX_THREADS 1024u
#define VALUE_MAX 22		/* longest value text kept (int64: 20) */
#define SHARD_MAX 63
#define CODE_MAX 31
#define PATH_MAX_LEN 256	/* of the request path */
#define LOGBUF_SIZE (32 * 1024)
#define LOG_LINE_MAX 256	/* > the longest line log_line() writes */
#define DUPS_LISTED 10
#define PROGRESS_NS (5 * 1000000000ull)
#define BUCKET_MS 100u		/* of the --plot throughput */

enum kind { K_NONE = 0, K_INT = 1, K_FLOAT = 2 };

enum outcome { O_OK = 0, O_STATUS, O_CONN, O_TIMEOUT, O_BAD };

/*
 * One request's result, written once by the worker that sent it. The
 * first REC_KEY bytes are the duplicate key: the kind, then the value's
 * text NUL-padded (all zero when there is no value).
 */
struct rec {
	uint8_t kind;
	char value[VALUE_MAX + 1];
	uint32_t latency_us;
	uint16_t status;	/* 0: no HTTP answer */
	uint8_t outcome;
	uint8_t pad;
};
#define REC_KEY (1 + VALUE_MAX + 1)
_Static_assert(sizeof(struct rec) == 32, "struct rec is 32 bytes");

enum req_type { T_INT, T_FLOAT, T_MIXED };

/* The command line as given, before the preset and the defaults. */
struct args {
	const char *url, *requests, *threads, *type, *duration, *timeout;
	const char *log_dir, *preset, *plot;
	bool quiet;
};

/* What the run does. */
struct opts {
	uint64_t requests;
	unsigned threads;
	enum req_type type;
	unsigned duration;	/* seconds */
	unsigned timeout;	/* seconds */
	const char *url;
	const char *log_dir;
	const char *plot;	/* PNG to draw, or NULL */
	bool quiet;
	char host[64];
	uint16_t port;
	char path_int[PATH_MAX_LEN];
	char path_float[PATH_MAX_LEN];
};

/* Shared by all the threads; see DESIGN. */
struct run {
	const struct opts *o;
	struct rec *recs;		/* [o->requests] */
	atomic_uint_fast64_t next_id;	/* ids taken, 0-based */
	atomic_uint running;		/* workers not finished */
	uint64_t deadline_ns;		/* clock_mono_ns() */
	pthread_mutex_t log_lock;	/* guards log_fd writes and log_err */
	int log_fd;
	int log_err;
	/* --plot: answers by BUCKET_MS bucket since start_ns. */
	uint64_t start_ns;
	size_t nbuckets;
	_Atomic uint32_t *tp_ok, *tp_failed;
};

struct worker {
	struct run *run;
	pthread_t tid;
	uint64_t rng;
	struct httpc http;
	uint64_t end_ns;	/* clock_mono_ns() when it finished */
	size_t loglen;
	char logbuf[LOGBUF_SIZE];
};

/* What the JSON body of an answer holds: raw texts inside the body. */
struct answer {
	const char *number, *shard, *error;
	size_t number_len, shard_len, error_len;
};

struct preset {
	const char *name, *requests, *threads, *type;
};

/* The seed's two test clients (seed 000): test/test_concurrent.py and
 * stress_test.py. */
static const struct preset presets[] = {
	{ "seed-concurrent", "100", "8", "mixed" },
	{ "seed-stress", "1600", "4", "int" },
};

static atomic_bool stop_flag;

static const char usage[] =
"usage: uniqd-stress [--url URL] [--requests N] [--threads N]\n"
"                    [--type int|float|mixed] [--duration SECONDS]\n"
"                    [--timeout SECONDS] [--log-dir DIR] [--preset NAME]\n"
"                    [--plot FILE.png] [--quiet]\n"
"\n"
"Load client for uniqd: sends N requests GET /random?type=int|float from\n"
"T threads, each over its own keep-alive HTTP/1.1 connection (opened again\n"
"if the server closes it), logs every answer, and checks that no value\n"
"came back twice.\n"
"\n"
"  --url URL          the server: http://HOST[:PORT][/PREFIX], HOST a\n"
"                     numeric IPv4 address, [IPv6] or localhost (no DNS,\n"
"                     no https; default http://127.0.0.1:8000, PORT\n"
"                     default 80). Requests go to PREFIX/random?type=...\n"
"  --requests N       requests in all, 1 to 100000000 (default 1000)\n"
"  --threads N        threads, one connection each, 1 to 1024 (default 4;\n"
"                     never more than N)\n"
"  --type TYPE        int, float, or mixed: each request picks int or\n"
"                     float at random (default int)\n"
"  --duration SECONDS stop sending after this long even if requests are\n"
"                     left, 1 to 86400 (default 600); requests in flight\n"
"                     finish\n"
"  --timeout SECONDS  per request, connecting included, 1 to 600\n"
"                     (default 10); a timeout counts as an error\n"
"  --log-dir DIR      where the log goes (default: the current directory;\n"
"                     created if missing)\n"
"  --preset NAME      the seed's test clients: seed-concurrent (100\n"
"                     requests, 8 threads, mixed) or seed-stress (1600\n"
"                     requests, 4 threads, int). Options given explicitly\n"
"                     win over the preset, wherever they stand.\n"
"  --plot FILE.png    draw the run with gnuplot (gnuplot-nox): answers\n"
"                     per second over time (values and errors, 100 ms\n"
"                     buckets) and the latency distribution (share of\n"
"                     answers at or below each latency, log scale)\n"
"  --quiet            print only the RESULT line (errors still go to\n"
"                     stderr)\n"
"  --help, --version\n"
"\n"
"Log: DIR/stress_YYYYMMDD-HHMMSS.log, named with the start time in UTC\n"
"(with -2, -3... added if that name is taken). The first line names the\n"
"columns; then one line per request, tab-separated, written in chunks per\n"
"thread (sort -n for id order):\n"
"  id  time  status  value  shard  latency_us  error\n"
"id from 1 to N; time the request was sent, RFC 3339 UTC with\n"
"milliseconds; status the HTTP status, 0 when no answer came; value the\n"
"number's text exactly as received, or -; shard, or -; latency in\n"
"microseconds, connecting included; error: - for a value, else the\n"
"answer's \"error\" code (refilling, exhausted...), bad_body for a 200\n"
"without a number, or the errno name (ECONNREFUSED, ETIMEDOUT, EPROTO...).\n"
"\n"
"Summary on stdout: requests sent, ok, errors by status, elapsed time,\n"
"throughput, latency p50/p90/p99/max (nearest rank, over the requests\n"
"that got an HTTP answer), and the duplicates found: values received more\n"
"than once for one type (int and float are separate pools; values compare\n"
"as text), counted once per extra copy, the first 10 listed. The last line\n"
"is for scripts, on one line (errors = requests - ok, log= is last):\n"
"  RESULT requests=N ok=N errors=N duplicates=N rps=F p50_ms=F p90_ms=F\n"
"  p99_ms=F max_ms=F log=PATH\n"
"\n"
"Memory: 32 bytes per request (100000000 requests: 3.2 GB).\n"
"SIGINT or SIGTERM stops sending; the summary covers what was sent (a\n"
"second signal kills at once).\n"
"\n"
"Exit status: 0 every request got a value and none came twice; 1 a value\n"
"came twice; 3 no duplicate, but some request failed (status other than\n"
"200, connection error, timeout, bad answer); 2 bad command line; 4 the\n"
"run could not be made or logged (log file, memory, threads).\n";

/* ---- command line ------------------------------------------------- */

static int parse_args(int argc, char **argv, struct args *a)
{
	enum { OPT_URL = 256, OPT_REQUESTS, OPT_THREADS, OPT_TYPE, OPT_DURATION,
	       OPT_TIMEOUT, OPT_LOG_DIR, OPT_PRESET, OPT_PLOT, OPT_VERSION };
	static const struct option opts[] = {
		{ "url", required_argument, NULL, OPT_URL },
		{ "requests", required_argument, NULL, OPT_REQUESTS },
		{ "threads", required_argument, NULL, OPT_THREADS },
		{ "type", required_argument, NULL, OPT_TYPE },
		{ "duration", required_argument, NULL, OPT_DURATION },
		{ "timeout", required_argument, NULL, OPT_TIMEOUT },
		{ "log-dir", required_argument, NULL, OPT_LOG_DIR },
		{ "preset", required_argument, NULL, OPT_PRESET },
		{ "plot", required_argument, NULL, OPT_PLOT },
		{ "quiet", no_argument, NULL, 'q' },
		{ "help", no_argument, NULL, 'h' },
		{ "version", no_argument, NULL, OPT_VERSION },
		{ NULL, 0, NULL, 0 },
	};
	int c;

	memset(a, 0, sizeof(*a));
	while ((c = getopt_long(argc, argv, "qh", opts, NULL)) != -1) {
		switch (c) {
		case OPT_URL: a->url = optarg; break;
		case OPT_REQUESTS: a->requests = optarg; break;
		case OPT_THREADS: a->threads = optarg; break;
		case OPT_TYPE: a->type = optarg; break;
		case OPT_DURATION: a->duration = optarg; break;
		case OPT_TIMEOUT: a->timeout = optarg; break;
		case OPT_LOG_DIR: a->log_dir = optarg; break;
		case OPT_PRESET: a->preset = optarg; break;
		case OPT_PLOT: a->plot = optarg; break;
		case 'q': a->quiet = true; break;
		case 'h': fputs(usage, stdout); exit(0);
		case OPT_VERSION: puts("uniqd-stress " UNIQD_VERSION); exit(0);
		default: fputs(usage, stderr); return -EINVAL;
		}
	}
	if (optind < argc) {
		fprintf(stderr, "uniqd-stress: unexpected argument \"%s\"\n%s",
			argv[optind], usage);
		return -EINVAL;
	}
	return 0;
}

/*
 * Splits http://HOST[:PORT][/PREFIX] into o->host, o->port and the two
 * request paths. Returns 0 or -EINVAL.
 */
static int parse_url(const char *url, struct opts *o)
{
	const char *auth, *slash, *bracket, *colon, *s;
	struct httpc probe;
	char hp[128];
	size_t alen, plen;
	int n, rc;

	if (strncmp(url, "http://", 7))
		return -EINVAL;
	auth = url + 7;
	slash = strchr(auth, '/');
	alen = slash ? (size_t)(slash - auth) : strlen(auth);
	if (alen == 0 || alen > 100)
		return -EINVAL;
	memcpy(hp, auth, alen);
	hp[alen] = '\0';
	bracket = strrchr(hp, ']');
	colon = strrchr(hp, ':');
	if (!colon || (bracket && colon < bracket))
		snprintf(hp + alen, sizeof(hp) - alen, ":80");
	if (parse_listen(hp, o->host, sizeof(o->host), &o->port) ||
	    o->port == 0)
		return -EINVAL;
	/* httpc_init is the judge of what host it can connect to. */
	rc = httpc_init(&probe, o->host, o->port, 1000);
	httpc_release(&probe);
	if (rc)
		return rc;

	s = slash ? slash : "";
	plen = strlen(s);
	while (plen && s[plen - 1] == '/')
		plen--;
	if (plen > 200)
		return -EINVAL;
	for (size_t i = 0; i < plen; i++)
		if ((unsigned char)s[i] <= ' ' || s[i] == 0x7f || s[i] == '?' ||
		    s[i] == '#')
			return -EINVAL;
	n = snprintf(o->path_int, sizeof(o->path_int), "%.*s/random?type=int",
		     (int)plen, s);
	if (n < 0 || (size_t)n >= sizeof(o->path_int))
		return -EINVAL;
	n = snprintf(o->path_float, sizeof(o->path_float),
		     "%.*s/random?type=float", (int)plen, s);
	if (n < 0 || (size_t)n >= sizeof(o->path_float))
		return -EINVAL;
	return 0;
}

static int parse_uint(const char *s, const char *what, uint64_t min,
		      uint64_t max, uint64_t *out)
{
	if (parse_u64(s, min, max, out)) {
		fprintf(stderr, "uniqd-stress: %s must be a whole number from "
			"%" PRIu64 " to %" PRIu64 ", not \"%s\"\n", what, min,
			max, s);
		return -EINVAL;
	}
	return 0;
}

/* Defaults, then the preset, then what was given explicitly. */
static int make_opts(const struct args *a, struct opts *o)
{
	const char *requests = "1000", *threads = "4", *type = "int";
	uint64_t v;
	size_t i;

	memset(o, 0, sizeof(*o));
	o->url = a->url ? a->url : "http://127.0.0.1:8000";
	o->log_dir = a->log_dir ? a->log_dir : ".";
	o->plot = a->plot;
	o->quiet = a->quiet;
	if (a->preset) {
		for (i = 0; i < sizeof(presets) / sizeof(presets[0]); i++)
			if (!strcmp(presets[i].name, a->preset))
				break;
		if (i == sizeof(presets) / sizeof(presets[0])) {
			fprintf(stderr, "uniqd-stress: unknown preset "
				"\"%s\" (seed-concurrent or seed-stress)\n",
				a->preset);
			return -EINVAL;
		}
		requests = presets[i].requests;
		threads = presets[i].threads;
		type = presets[i].type;
	}
	if (a->requests)
		requests = a->requests;
	if (a->threads)
		threads = a->threads;
	if (a->type)
		type = a->type;

	if (parse_uint(requests, "--requests", 1, MAX_REQUESTS, &o->requests))
		return -EINVAL;
	if (parse_uint(threads, "--threads", 1, MAX_THREADS, &v))
		return -EINVAL;
	o->threads = (unsigned)v;
	if (parse_uint(a->duration ? a->duration : "600", "--duration", 1,
		       86400, &v))
		return -EINVAL;
	o->duration = (unsigned)v;
	if (parse_uint(a->timeout ? a->timeout : "10", "--timeout", 1, 600,
		       &v))
		return -EINVAL;
	o->timeout = (unsigned)v;
	if (!strcmp(type, "int")) {
		o->type = T_INT;
	} else if (!strcmp(type, "float")) {
		o->type = T_FLOAT;
	} else if (!strcmp(type, "mixed")) {
		o->type = T_MIXED;
	} else {
		fprintf(stderr, "uniqd-stress: --type must be int, float or "
			"mixed, not \"%s\"\n", type);
		return -EINVAL;
	}
	if (parse_url(o->url, o)) {
		fprintf(stderr, "uniqd-stress: --url must be "
			"http://HOST[:PORT][/PREFIX] with HOST a numeric IPv4 "
			"address, [IPv6] or localhost, not \"%s\"\n", o->url);
		return -EINVAL;
	}
	if (!*o->log_dir || strlen(o->log_dir) > PATH_MAX - 64) {
		fprintf(stderr, "uniqd-stress: --log-dir must be a non-empty "
			"path\n");
		return -EINVAL;
	}
	if (o->plot && (!*o->plot || strlen(o->plot) > PATH_MAX - 64)) {
		fprintf(stderr, "uniqd-stress: --plot must be a non-empty "
			"path\n");
		return -EINVAL;
	}
	if (o->threads > o->requests)
		o->threads = (unsigned)o->requests;
	return 0;
}

/* ---- the JSON body ------------------------------------------------ */

/*
 * Just enough JSON to find the top-level "number", "shard" and "error" of
 * an answer without converting anything: texts are kept raw (escapes
 * included), numbers exactly as written.
 */
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

/*
 * Reads a top-level object and picks "number" (a number, or a string),
 * "shard" and "error" (strings). Returns 0 or -EINVAL for anything that
 * is not one JSON object; a on error may hold some fields.
 */
static int parse_answer(const char *body, size_t len, struct answer *a)
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

/* ---- the workers -------------------------------------------------- */

static void on_signal(int sig)
{
	(void)sig;
	atomic_store(&stop_flag, true); /* lock-free: async-signal-safe */
}

/* splitmix64: a small, good PRNG with one word of state per thread. */
static uint64_t rng_next(uint64_t *s)
{
	uint64_t z = (*s += 0x9e3779b97f4a7c15ull);

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
	return z ^ (z >> 31);
}

/* Writes the worker's buffered lines to the log file; see DESIGN. */
static void log_flush(struct worker *w)
{
	struct run *run = w->run;
	size_t off = 0;
	ssize_t n;

	if (!w->loglen)
		return;
	pthread_mutex_lock(&run->log_lock);
	while (!run->log_err && off < w->loglen) {
		n = write(run->log_fd, w->logbuf + off, w->loglen - off);
		if (n > 0)
			off += (size_t)n;
		else if (n < 0 && errno == EINTR)
			continue;
		else
			run->log_err = n < 0 ? -errno : -EIO;
	}
	pthread_mutex_unlock(&run->log_lock);
	w->loglen = 0;
}

/* Adds the line of request id (1-based) to the worker's buffer. */
static void log_line(struct worker *w, uint64_t id, uint64_t sent_ms,
		     const struct rec *r, const struct answer *a,
		     const char *err)
{
	char ts[CLOCK_RFC3339_LEN];
	size_t room;
	int n;

	if (w->loglen + LOG_LINE_MAX > sizeof(w->logbuf))
		log_flush(w);
	if (clock_rfc3339(sent_ms, ts, sizeof(ts)) < 0)
		snprintf(ts, sizeof(ts), "-");
	room = sizeof(w->logbuf) - w->loglen;
	n = snprintf(w->logbuf + w->loglen, room,
		     "%" PRIu64 "\t%s\t%u\t%s\t%.*s\t%" PRIu32 "\t%.*s\n",
		     id, ts, (unsigned)r->status,
		     r->kind ? r->value : "-",
		     a->shard ? (int)(a->shard_len > SHARD_MAX ?
				      SHARD_MAX : a->shard_len) : 1,
		     a->shard ? a->shard : "-",
		     r->latency_us,
		     err ? CODE_MAX : 1, err ? err : "-");
	if (n > 0)
		w->loglen += (size_t)n < room ? (size_t)n : room - 1;
}

/* Sends request id (0-based) and records its result. */
static void do_request(struct worker *w, uint64_t id)
{
	struct run *run = w->run;
	const struct opts *o = run->o;
	struct rec *r = &run->recs[id];
	enum kind kind = o->type == T_INT ? K_INT :
			 o->type == T_FLOAT ? K_FLOAT :
			 (rng_next(&w->rng) >> 63) ? K_FLOAT : K_INT;
	struct answer a = { 0 };
	struct httpc_resp resp;
	const char *err = NULL;
	char errbuf[CODE_MAX + 1];
	uint64_t sent_ms, t0, us;
	int rc;

	sent_ms = clock_now_ms();
	t0 = clock_mono_ns();
	rc = httpc_get(&w->http, kind == K_INT ? o->path_int : o->path_float,
		       &resp);
	us = (clock_mono_ns() - t0) / 1000;
	r->latency_us = us > UINT32_MAX ? UINT32_MAX : (uint32_t)us;
	if (rc) {
		const char *name = strerrorname_np(-rc);

		r->status = 0;
		r->outcome = rc == -ETIMEDOUT ? O_TIMEOUT :
			     rc == -EPROTO || rc == -EMSGSIZE ? O_BAD : O_CONN;
		err = name ? name : "error";
		goto log;
	}
	r->status = resp.status > UINT16_MAX ? UINT16_MAX :
		    (uint16_t)resp.status;
	if (parse_answer(resp.body, resp.body_len, &a))
		memset(&a, 0, sizeof(a)); /* not JSON: log what we can */
	if (resp.status != 200) {
		r->outcome = O_STATUS;
		if (a.error) {
			snprintf(errbuf, sizeof(errbuf), "%.*s",
				 (int)a.error_len, a.error);
			err = errbuf;
		} else {
			err = "-";
		}
		goto log;
	}
	if (!a.number || a.number_len == 0 || a.number_len > VALUE_MAX) {
		r->outcome = O_BAD;
		err = "bad_body";
		goto log;
	}
	r->kind = (uint8_t)kind;
	memcpy(r->value, a.number, a.number_len);
	r->outcome = O_OK;
log:
	log_line(w, id + 1, sent_ms, r, &a, err);
}

/* Counts an answer that arrived now into its --plot bucket. */
static void count_answer(struct run *run, bool ok)
{
	uint64_t i = (clock_mono_ns() - run->start_ns) /
		     (BUCKET_MS * 1000000ull);

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
		if (atomic_load(&stop_flag) ||
		    clock_mono_ns() >= run->deadline_ns)
			break;
		id = atomic_fetch_add(&run->next_id, 1);
		if (id >= run->o->requests)
			break;
		do_request(w, id);
		if (run->tp_ok)
			count_answer(run, run->recs[id].outcome == O_OK);
	}
	log_flush(w);
	httpc_close(&w->http);
	w->end_ns = clock_mono_ns();
	atomic_fetch_sub(&run->running, 1);
	return NULL;
}

/* ---- start, log file, summary ------------------------------------- */

/*
 * Creates DIR/stress_YYYYMMDD-HHMMSS.log (UTC) for start_ms, never over
 * an existing file, and writes the header line. Returns the fd or a
 * negative errno (logged).
 */
static int open_log(const char *dir, uint64_t start_ms, char *path,
		    size_t pathlen)
{
	static const char header[] =
		"id\ttime\tstatus\tvalue\tshard\tlatency_us\terror\n";
	time_t secs = (time_t)(start_ms / 1000);
	char stamp[32];
	struct tm tm;
	int fd = -1, n, i;

	if (!gmtime_r(&secs, &tm) ||
	    !strftime(stamp, sizeof(stamp), "%Y%m%d-%H%M%S", &tm))
		return -EINVAL;
	if (mkdir(dir, 0755) && errno != EEXIST) {
		n = -errno;
		log_error("cannot create %s: %s", dir, log_strerror(n));
		return n;
	}
	for (i = 1; i <= 100; i++) {
		if (i == 1)
			n = snprintf(path, pathlen, "%s/stress_%s.log", dir,
				     stamp);
		else
			n = snprintf(path, pathlen, "%s/stress_%s-%d.log", dir,
				     stamp, i);
		if (n < 0 || (size_t)n >= pathlen)
			return -ENAMETOOLONG;
		fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
		if (fd >= 0 || errno != EEXIST)
			break;
	}
	if (fd < 0) {
		n = -errno;
		log_error("cannot create %s: %s", path, log_strerror(n));
		return n;
	}
	if (write(fd, header, sizeof(header) - 1) !=
	    (ssize_t)(sizeof(header) - 1)) {
		n = errno ? -errno : -EIO;
		log_error("cannot write %s: %s", path, log_strerror(n));
		close(fd);
		return n;
	}
	return fd;
}

/* Lets each thread have its socket: raises the soft limit on open files
 * to what is needed, if the hard limit allows. */
static void raise_fd_limit(unsigned threads)
{
	rlim_t want = (rlim_t)threads + 64;
	struct rlimit rl;

	if (getrlimit(RLIMIT_NOFILE, &rl) || rl.rlim_cur >= want)
		return;
	rl.rlim_cur = rl.rlim_max == RLIM_INFINITY || rl.rlim_max >= want ?
		      want : rl.rlim_max;
	if (setrlimit(RLIMIT_NOFILE, &rl))
		log_warn("cannot raise the open files limit to %llu",
			 (unsigned long long)want);
}

static int cmp_rec(const void *x, const void *y)
{
	return memcmp(x, y, REC_KEY);
}

static int cmp_u32(const void *x, const void *y)
{
	uint32_t a = *(const uint32_t *)x, b = *(const uint32_t *)y;

	return a < b ? -1 : a > b;
}

struct summary {
	uint64_t sent, ok, answered, conn, timeouts, bad, dups;
	uint64_t by_status[1000];
	double elapsed, rps, p50, p90, p99, max;	/* s, req/s, ms */
	uint32_t *lat;		/* the answered requests' latencies, sorted
				   (freed by the caller) */
	uint64_t nlat;
	unsigned listed;
	struct {
		uint8_t kind;
		char value[VALUE_MAX + 1];
		uint64_t times;
	} dup[DUPS_LISTED];
};

/* Nearest rank: the smallest latency with at least p% at or below it. */
static double percentile_ms(const uint32_t *lat, uint64_t n, unsigned p)
{
	uint64_t rank = (n * p + 99) / 100;

	return n ? lat[rank ? rank - 1 : 0] / 1000.0 : 0.0;
}

/*
 * Counts the first sent records, then sorts them (they are not needed in
 * id order any more) to find the duplicates. Returns 0 or -ENOMEM; either
 * way the caller frees s->lat.
 */
static int summarize(struct rec *recs, uint64_t sent, double elapsed,
		     struct summary *s)
{
	uint32_t *lat = NULL;
	uint64_t i, j, n = 0;

	memset(s, 0, sizeof(*s));
	s->sent = sent;
	s->elapsed = elapsed;
	s->rps = elapsed > 0 ? (double)sent / elapsed : 0.0;
	for (i = 0; i < sent; i++) {
		const struct rec *r = &recs[i];

		if (r->outcome == O_OK)
			s->ok++;
		if (r->status) {
			s->answered++;
			if (r->status < 1000)
				s->by_status[r->status]++;
		}
		if (r->outcome == O_CONN)
			s->conn++;
		else if (r->outcome == O_TIMEOUT)
			s->timeouts++;
		else if (r->outcome == O_BAD)
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

	qsort(recs, sent, sizeof(*recs), cmp_rec);
	for (i = 0; i < sent; i = j) {
		for (j = i + 1; j < sent && !cmp_rec(&recs[i], &recs[j]); j++)
			;
		if (recs[i].kind == K_NONE || j - i == 1)
			continue;
		s->dups += j - i - 1;
		if (s->listed < DUPS_LISTED) {
			s->dup[s->listed].kind = recs[i].kind;
			memcpy(s->dup[s->listed].value, recs[i].value,
			       sizeof(recs[i].value));
			s->dup[s->listed].times = j - i;
			s->listed++;
		}
	}
	return 0;
}

static void print_summary(const struct opts *o, const struct summary *s,
			  uint64_t connects, const char *log_path)
{
	static const char *const type_names[] = { "int", "float", "mixed" };
	unsigned st, i;

	if (!o->quiet) {
		printf("uniqd-stress: %s, %u threads, type %s\n", o->url,
		       o->threads, type_names[o->type]);
		printf("requests sent:     %" PRIu64 " of %" PRIu64 "%s\n",
		       s->sent, o->requests,
		       s->sent < o->requests ? (atomic_load(&stop_flag) ?
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
		printf("connections:       %" PRIu64 "\n", connects);
		printf("elapsed:           %.3f s\n", s->elapsed);
		printf("throughput:        %.1f req/s\n", s->rps);
		printf("latency:           p50 %.3f ms, p90 %.3f ms, "
		       "p99 %.3f ms, max %.3f ms\n",
		       s->p50, s->p90, s->p99, s->max);
		printf("duplicates found:  %" PRIu64 "\n", s->dups);
		for (i = 0; i < s->listed; i++)
			printf("  %s %s received %" PRIu64 " times\n",
			       s->dup[i].kind == K_INT ? "int" : "float",
			       s->dup[i].value, s->dup[i].times);
		if (s->dups && s->listed == DUPS_LISTED)
			printf("  (the first %u listed)\n", DUPS_LISTED);
		printf("log:               %s\n", log_path);
	}
	printf("RESULT requests=%" PRIu64 " ok=%" PRIu64 " errors=%" PRIu64
	       " duplicates=%" PRIu64 " rps=%.1f p50_ms=%.3f p90_ms=%.3f"
	       " p99_ms=%.3f max_ms=%.3f log=%s\n",
	       s->sent, s->ok, s->sent - s->ok, s->dups, s->rps, s->p50,
	       s->p90, s->p99, s->max, log_path);
	fflush(stdout);
}

/* Draws the --plot picture once the workers are joined. Returns 0 or a
 * negative errno (logged). */
static int draw(const struct opts *o, struct run *run,
		const struct summary *s)
{
	static const char *const type_names[] = { "int", "float", "mixed" };
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
		 PRIu64 " duplicates", o->url, o->threads, type_names[o->type],
		 s->sent, s->rps, s->sent - s->ok, s->dups);
	d.title = title;
	d.bucket_ms = BUCKET_MS;
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

int main(int argc, char **argv)
{
	struct run run = { .log_fd = -1 };
	struct worker *workers = NULL;
	struct summary *sum = NULL;
	struct sigaction sa;
	pthread_attr_t attr;
	bool attr_init = false;
	char log_path[PATH_MAX];
	uint64_t t_start, t_end, next_report, connects = 0, sent;
	unsigned i, started = 0;
	struct opts o;
	struct args a;
	int rc, code = EXIT_CANNOT_RUN;

	if (parse_args(argc, argv, &a) || make_opts(&a, &o))
		return EXIT_USAGE;
	log_setup("uniqd-stress", o.quiet ? LOG_WARN : LOG_INFO);
	run.o = &o;
	rc = pthread_mutex_init(&run.log_lock, NULL);
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

	/* calloc of this size maps zero pages lazily: a run cut short by
	 * --duration touches only what it used. */
	run.recs = calloc(o.requests, sizeof(*run.recs));
	workers = calloc(o.threads, sizeof(*workers));
	sum = calloc(1, sizeof(*sum));
	if (o.plot) {
		/* A run lasts at most --duration plus --timeout; one bucket
		 * more takes whatever comes later. */
		run.nbuckets = ((size_t)o.duration + o.timeout) *
			       (1000 / BUCKET_MS) + 1;
		run.tp_ok = calloc(run.nbuckets, sizeof(*run.tp_ok));
		run.tp_failed = calloc(run.nbuckets, sizeof(*run.tp_failed));
	}
	if (!run.recs || !workers || !sum ||
	    (o.plot && (!run.tp_ok || !run.tp_failed))) {
		log_error("out of memory for %" PRIu64 " requests (%zu bytes "
			  "each)", o.requests, sizeof(*run.recs));
		goto out;
	}
	run.log_fd = open_log(o.log_dir, clock_now_ms(), log_path,
			      sizeof(log_path));
	if (run.log_fd < 0)
		goto out;
	for (i = 0; i < o.threads; i++) {
		workers[i].run = &run;
		httpc_init(&workers[i].http, o.host, o.port,
			   o.timeout * 1000u); /* checked by parse_url */
	}
	rc = pthread_attr_init(&attr);
	if (!rc) {
		attr_init = true;
		rc = pthread_attr_setstacksize(&attr, 512 * 1024);
	}
	if (rc) {
		log_error("cannot set up threads: %s", log_strerror(rc));
		goto out;
	}
	if (!o.quiet)
		log_info("%" PRIu64 " requests to %s from %u threads, "
			 "logging to %s", o.requests, o.url, o.threads,
			 log_path);

	t_start = clock_mono_ns();
	run.start_ns = t_start;
	run.deadline_ns = t_start + (uint64_t)o.duration * 1000000000ull;
	for (i = 0; i < o.threads; i++) {
		workers[i].rng = t_start ^ ((uint64_t)(i + 1) *
					    0x9e3779b97f4a7c15ull) ^
				 ((uint64_t)getpid() << 32);
		atomic_fetch_add(&run.running, 1);
		rc = pthread_create(&workers[i].tid, &attr, worker_main,
				    &workers[i]);
		if (rc) {
			atomic_fetch_sub(&run.running, 1);
			atomic_store(&stop_flag, true);
			log_error("cannot start thread %u: %s", i + 1,
				  log_strerror(rc));
			break;
		}
		started++;
	}

	/* Wait for the workers, reporting progress now and then. The run
	 * ends when the last worker does (end_ns), not when this loop
	 * wakes up to see it. */
	next_report = t_start + PROGRESS_NS;
	while (atomic_load(&run.running) > 0) {
		struct timespec nap = { 0, 50 * 1000 * 1000 };
		uint64_t now, taken;

		nanosleep(&nap, NULL);
		now = clock_mono_ns();
		if (o.quiet || now < next_report)
			continue;
		taken = atomic_load(&run.next_id);
		if (taken > o.requests)
			taken = o.requests;
		log_info("%" PRIu64 "/%" PRIu64 " requests, %.0f req/s%s",
			 taken, o.requests,
			 (double)taken * 1e9 / (double)(now - t_start),
			 atomic_load(&stop_flag) ? " (stopping: waiting for "
			 "the requests in flight)" : "");
		next_report += PROGRESS_NS;
	}
	t_end = t_start;
	for (i = 0; i < started; i++) {
		pthread_join(workers[i].tid, NULL);
		connects += workers[i].http.connects;
		if (workers[i].end_ns > t_end)
			t_end = workers[i].end_ns;
	}
	if (started < o.threads)
		goto out;

	rc = close(run.log_fd);
	run.log_fd = -1;
	if (rc && !run.log_err)
		run.log_err = -errno;
	if (run.log_err)
		log_error("cannot write %s: %s", log_path,
			  log_strerror(run.log_err));
	sent = atomic_load(&run.next_id);
	if (sent > o.requests)
		sent = o.requests;
	rc = summarize(run.recs, sent, (double)(t_end - t_start) / 1e9, sum);
	if (rc) {
		log_error("out of memory for the summary");
		goto out;
	}
	print_summary(&o, sum, connects, log_path);
	if (sum->dups)
		code = EXIT_DUPLICATE;
	else if (run.log_err)
		code = EXIT_CANNOT_RUN;
	else if (sum->ok < sum->sent)
		code = EXIT_FAILED;
	else
		code = 0;
	if (o.plot && draw(&o, &run, sum) && !code)
		code = EXIT_CANNOT_RUN;
out:
	if (run.log_fd >= 0)
		close(run.log_fd);
	if (attr_init)
		pthread_attr_destroy(&attr);
	if (workers)
		for (i = 0; i < o.threads; i++)
			httpc_release(&workers[i].http);
	free(workers);
	free(run.recs);
	free(run.tp_ok);
	free(run.tp_failed);
	if (sum)
		free(sum->lat);
	free(sum);
	pthread_mutex_destroy(&run.log_lock);
	return code;
}
