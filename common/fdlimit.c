/*
 * fdlimit.c: raising the soft limit on open files; see fdlimit.h.
 */
#include <errno.h>
#include <stdint.h>
#include <sys/resource.h>

#include "common/fdlimit.h"
#include "common/banned.h"

int fdlimit_raise(uint64_t want, uint64_t *now)
{
	/* Callers want a few thousand at most: no rlim_t is too small. */
	rlim_t w = (rlim_t)want;
	struct rlimit rl;

	if (getrlimit(RLIMIT_NOFILE, &rl))
		return -errno;
	if (rl.rlim_cur < w) {
		/* RLIM_INFINITY is the largest rlim_t: min() covers it. */
		rl.rlim_cur = rl.rlim_max < w ? rl.rlim_max : w;
		if (setrlimit(RLIMIT_NOFILE, &rl))
			return -errno;
	}
	*now = rl.rlim_cur == RLIM_INFINITY ? UINT64_MAX :
	       (uint64_t)rl.rlim_cur;
	return 0;
}
