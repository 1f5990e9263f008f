/*
 * opts.c: uniqd-stress's command line (its --help text included) turned
 * into a struct opts; see opts.h.
 */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>

#include "common/log.h"
#include "common/parse.h"
#include "stress/httpc.h"
#include "stress/opts.h"
#include "common/banned.h"

#define MAX_THREADS 1024u

/* The command line as given, before the preset and the defaults. */
struct args {
	const char *url, *requests, *threads, *type, *duration, *timeout;
	const char *log_dir, *preset, *plot;
	bool quiet;
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
"  --url URL          the endpoint, http://HOST[:PORT]/random, as wrk, ab\n"
"                     and curl take it, or the server's base URL\n"
"                     http://HOST[:PORT][/PREFIX] (requests then go to\n"
"                     PREFIX/random); ?type=int or ?type=float may end\n"
"                     it (as --type). HOST a name (resolved with\n"
"                     getaddrinfo), a numeric IPv4 address or [IPv6];\n"
"                     PORT default 80; no https (uniqd serves plain\n"
"                     HTTP). Default http://127.0.0.1:8000/random\n"
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

/* Returns 0, 1 after --help or --version, or -EINVAL. */
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
		case 'h': fputs(usage, stdout); return 1;
		case OPT_VERSION: puts("uniqd-stress " UNIQD_VERSION); return 1;
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
 * Splits http://HOST[:PORT][/PREFIX][/random][?type=T] into o->host,
 * o->port and the two request paths: the endpoint's path as given when it
 * ends with /random (what wrk, ab and curl take), else PREFIX/random.
 * *type is set to "int" or "float" when the query names one, else NULL.
 * Returns 0, or -EINVAL with the reason in err.
 */
static int parse_url(const char *url, struct opts *o, const char **type,
		     char *err, size_t errlen)
{
	const char *auth, *end, *host, *port = NULL, *path, *query;
	struct httpc probe;
	size_t hlen, plen;
	uint64_t p = 80;
	int n, rc;

	*type = NULL;
	if (!strncmp(url, "https://", 8)) {
		snprintf(err, errlen, "https is not supported: uniqd serves "
			 "plain HTTP, give its http:// URL");
		return -EINVAL;
	}
	if (strncmp(url, "http://", 7)) {
		snprintf(err, errlen, "it must begin with http://");
		return -EINVAL;
	}
	auth = url + 7;
	end = auth + strcspn(auth, "/?#");
	if (*auth == '[') {
		host = auth + 1;
		hlen = strcspn(host, "]");
		if (host + hlen >= end || (host[hlen + 1] != ':' &&
					   host + hlen + 1 != end))
			goto bad_host;
		if (host[hlen + 1] == ':')
			port = host + hlen + 2;
	} else {
		host = auth;
		hlen = strcspn(host, ":/?#");
		if (host[hlen] == ':')
			port = host + hlen + 1;
	}
	if (hlen == 0 || hlen >= sizeof(o->host))
		goto bad_host;
	for (size_t i = 0; i < hlen; i++)
		if ((unsigned char)host[i] <= ' ' || host[i] == 0x7f ||
		    strchr("@[]\\\"", host[i]))
			goto bad_host;
	memcpy(o->host, host, hlen);
	o->host[hlen] = '\0';
	if (port) {
		char num[8];
		size_t len = (size_t)(end - port);

		if (len == 0 || len >= sizeof(num))
			goto bad_port;
		memcpy(num, port, len);
		num[len] = '\0';
		if (parse_u64(num, 1, 65535, &p))
			goto bad_port;
	}
	o->port = (uint16_t)p;

	path = end;
	plen = strcspn(path, "?#");
	query = path[plen] == '?' ? path + plen + 1 : NULL;
	if (strchr(url, '#')) {
		snprintf(err, errlen, "a URL sent to a server has no #fragment");
		return -EINVAL;
	}
	for (size_t i = 0; i < plen; i++)
		if ((unsigned char)path[i] <= ' ' || path[i] == 0x7f) {
			snprintf(err, errlen, "its path has a space or a "
				 "control character");
			return -EINVAL;
		}
	while (plen && path[plen - 1] == '/')
		plen--;
	if (query && *query) {
		if (!strcmp(query, "type=int") || !strcmp(query, "type=float")) {
			*type = query + 5;
		} else {
			snprintf(err, errlen, "its query may only be type=int "
				 "or type=float (--type, --requests and "
				 "--threads say the rest)");
			return -EINVAL;
		}
	}
	if (plen > 200) {
		snprintf(err, errlen, "its path is over 200 bytes");
		return -EINVAL;
	}
	/* The endpoint itself, or a base URL to put /random under. */
	n = snprintf(o->path_int, sizeof(o->path_int), "%.*s%s?type=int",
		     (int)plen, path,
		     plen >= 7 && !strncmp(path + plen - 7, "/random", 7) ?
		     "" : "/random");
	if (n < 0 || (size_t)n >= sizeof(o->path_int))
		return -EINVAL;
	n = snprintf(o->path_float, sizeof(o->path_float), "%.*s%s?type=float",
		     (int)plen, path,
		     plen >= 7 && !strncmp(path + plen - 7, "/random", 7) ?
		     "" : "/random");
	if (n < 0 || (size_t)n >= sizeof(o->path_float))
		return -EINVAL;

	rc = httpc_init(&probe, o->host, o->port, 1000);
	httpc_release(&probe);
	if (rc == -ENOENT || rc == -EAGAIN) {
		snprintf(err, errlen, "its host \"%s\" does not resolve%s",
			 o->host, rc == -EAGAIN ? " now (try again)" : "");
		return -EINVAL;
	}
	if (rc) {
		snprintf(err, errlen, "its host \"%s\" cannot be used: %s",
			 o->host, log_strerror(rc));
		return -EINVAL;
	}
	return 0;
bad_host:
	snprintf(err, errlen, "its host must be a name, a numeric IPv4 "
		 "address or [IPv6]");
	return -EINVAL;
bad_port:
	snprintf(err, errlen, "its port must be from 1 to 65535");
	return -EINVAL;
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
	const char *url_type;
	char err[512];
	uint64_t v;
	size_t i;

	memset(o, 0, sizeof(*o));
	o->url = a->url ? a->url : "http://127.0.0.1:8000/random";
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

	if (parse_uint(requests, "--requests", 1, OPTS_MAX_REQUESTS,
		       &o->requests))
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
		o->type = OPTS_INT;
	} else if (!strcmp(type, "float")) {
		o->type = OPTS_FLOAT;
	} else if (!strcmp(type, "mixed")) {
		o->type = OPTS_MIXED;
	} else {
		fprintf(stderr, "uniqd-stress: --type must be int, float or "
			"mixed, not \"%s\"\n", type);
		return -EINVAL;
	}
	if (parse_url(o->url, o, &url_type, err, sizeof(err))) {
		fprintf(stderr, "uniqd-stress: --url \"%s\": %s\n", o->url,
			err);
		return -EINVAL;
	}
	if (url_type && a->type && strcmp(a->type, url_type)) {
		fprintf(stderr, "uniqd-stress: --url asks for type=%s and "
			"--type for %s: give one\n", url_type, a->type);
		return -EINVAL;
	}
	if (url_type)
		o->type = !strcmp(url_type, "int") ? OPTS_INT : OPTS_FLOAT;
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

int opts_parse(struct opts *o, int argc, char **argv)
{
	struct args a;
	int rc;

	rc = parse_args(argc, argv, &a);
	if (rc)
		return rc;
	return make_opts(&a, o);
}

const char *opts_type_name(enum opts_type type)
{
	static const char *const names[] = { "int", "float", "mixed" };

	return names[type];
}
