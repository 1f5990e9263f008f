/*
 * opts.h: uniqd-stress's command line: what the run does, read from argv
 * with the preset and the defaults applied, every value range-checked.
 *
 * Invariants of a struct opts that opts_parse() returned 0 for:
 *  - 1 <= threads <= requests <= OPTS_MAX_REQUESTS, threads <= 1024;
 *  - host and port passed httpc_init() (a numeric address, or a name that
 *    resolved), and path_int and path_float are the endpoint's path
 *    (PREFIX/random) with ?type=int and ?type=float;
 *  - url, log_dir and plot (NULL without --plot) point into argv or into
 *    static strings: the struct owns no memory and needs no release.
 */
#ifndef UNIQ_STRESS_OPTS_H
#define UNIQ_STRESS_OPTS_H

#include <stdbool.h>
#include <stdint.h>

#define OPTS_MAX_REQUESTS 100000000u
#define OPTS_PATH_MAX 256	/* of a request path */

enum opts_type { OPTS_INT, OPTS_FLOAT, OPTS_MIXED };

struct opts {
	uint64_t requests;
	unsigned threads;
	enum opts_type type;
	unsigned duration;	/* seconds */
	unsigned timeout;	/* seconds */
	const char *url;
	const char *log_dir;
	const char *plot;	/* PNG to draw, or NULL */
	bool quiet;
	char host[256];		/* without brackets */
	uint16_t port;
	char path_int[OPTS_PATH_MAX];
	char path_float[OPTS_PATH_MAX];
};

/*
 * Reads argv into *o: the defaults, then --preset, then the options given
 * explicitly (wherever they stand). Returns 0 to run; 1 when it printed
 * --help or --version to stdout (exit 0); -EINVAL for a bad command line,
 * with the reason (and for an unknown option the usage) on stderr
 * (exit 2). *o is complete only on 0.
 */
int opts_parse(struct opts *o, int argc, char **argv);

/* "int", "float" or "mixed". */
const char *opts_type_name(enum opts_type type);

#endif
