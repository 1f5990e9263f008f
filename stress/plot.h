/*
 * plot.h: the picture of a stress run (uniqd-stress --plot FILE.png):
 * throughput over time above, the latency distribution below, drawn by
 * gnuplot (Debian's gnuplot-nox; pngcairo terminal).
 *
 * The data and the script go to a temporary directory that is removed
 * afterwards; gnuplot is run with posix_spawnp and waited for.
 */
#ifndef UNIQ_PLOT_H
#define UNIQ_PLOT_H

#include <stddef.h>
#include <stdint.h>

struct plot_data {
	const char *title;	/* first line of the picture */
	uint64_t bucket_ms;	/* width of one throughput bucket */
	size_t nbuckets;
	const uint32_t *ok;	/* values received per bucket */
	const uint32_t *failed;	/* other answers and errors per bucket */
	const uint32_t *lat_us;	/* latencies, sorted ascending */
	size_t nlat;
};

/* 0 if a gnuplot executable is on PATH, else -ENOENT. */
int plot_available(void);

/*
 * Draws d into png (overwritten). Returns 0, or a negative errno with a
 * message in err: -ENOENT (no gnuplot), -EIO (gnuplot failed or wrote
 * nothing), or the errno of a temporary file.
 */
int plot_write(const char *png, const struct plot_data *d, char *err,
	       size_t errlen);

#endif
