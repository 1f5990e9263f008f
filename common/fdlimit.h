/*
 * fdlimit.h: the soft limit on open files, raised toward what a program
 * needs (the server: its connections; uniqd-stress: one socket per
 * thread). Shared so that both raise it the same way; each caller says in
 * its own words what a shortfall means.
 */
#ifndef UNIQ_FDLIMIT_H
#define UNIQ_FDLIMIT_H

#include <stdint.h>

/*
 * Raises the soft limit of RLIMIT_NOFILE to want, or to the hard limit if
 * that is lower; never lowers it, never touches the hard limit. On
 * success *now is set to the soft limit in force afterwards, below
 * want only when the hard limit is (UINT64_MAX for unlimited).
 *
 * Returns 0, or the negative errno of getrlimit(2) or setrlimit(2); the
 * limit is then unchanged and *now is not written. Logs nothing.
 */
int fdlimit_raise(uint64_t want, uint64_t *now);

#endif
