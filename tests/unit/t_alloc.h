/*
 * t_alloc.h: fails the k-th allocation, as curl's torture tests do.
 *
 * A test program linked with
 *   -Wl,--wrap=malloc,--wrap=calloc,--wrap=realloc,--wrap=strdup,
 *   --wrap=posix_memalign,--wrap=free
 * (tests/meson.build: the test "torture") has every allocation of the
 * objects it links routed through t_alloc.c: the test's own, uniqcore's,
 * and LMDB's when LMDB is linked statically (T_ALLOC_LMDB is then 1).
 * Shared libraries keep libc's allocator, but cJSON can be routed here by
 * t_alloc_hook_cjson(). The real allocator is called underneath, so a
 * sanitizer build still sees every block (LeakSanitizer at exit).
 *
 * Single-threaded use: counts are atomic, but "the k-th allocation" only
 * means something when one thread allocates.
 */
#ifndef UNIQ_T_ALLOC_H
#define UNIQ_T_ALLOC_H

#include <stdbool.h>
#include <stddef.h>

/* Starts counting allocations from 0; the k-th one from now fails
 * (returns NULL, errno ENOMEM), and only it. k == 0: none fails. */
void t_alloc_fail_at(unsigned long k);

/* Stops failing (t_alloc_fail_at(0)). */
void t_alloc_disarm(void);

/* Allocations counted since the last t_alloc_fail_at / disarm, the
 * failed one included. */
unsigned long t_alloc_count(void);

/* True if the armed failure has happened. */
bool t_alloc_fired(void);

/* Blocks allocated through the wrappers and not freed yet: equal before
 * and after an operation that cleaned up after itself. */
long t_alloc_live(void);

/* Routes cJSON's allocations through the wrappers. */
void t_alloc_hook_cjson(void);

#endif
