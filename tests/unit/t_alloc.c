/*
 * t_alloc.c: the allocation wrappers of t_alloc.h (ld --wrap).
 */
#include <errno.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "tests/unit/t_alloc.h"
#include "common/banned.h"

void *__real_malloc(size_t n);
void *__real_calloc(size_t n, size_t size);
void *__real_realloc(void *p, size_t n);
char *__real_strdup(const char *s);
int __real_posix_memalign(void **p, size_t align, size_t n);
void __real_free(void *p);

void *__wrap_malloc(size_t n);
void *__wrap_calloc(size_t n, size_t size);
void *__wrap_realloc(void *p, size_t n);
char *__wrap_strdup(const char *s);
int __wrap_posix_memalign(void **p, size_t align, size_t n);
void __wrap_free(void *p);

static _Atomic unsigned long count, fail_at;
static _Atomic bool fired;
static _Atomic long live;

void t_alloc_fail_at(unsigned long k)
{
	count = 0;
	fired = false;
	fail_at = k;
}

void t_alloc_disarm(void)
{
	t_alloc_fail_at(0);
}

unsigned long t_alloc_count(void)
{
	return count;
}

bool t_alloc_fired(void)
{
	return fired;
}

long t_alloc_live(void)
{
	return live;
}

/* Counts one allocation; true if it is the one to fail. */
static bool must_fail(void)
{
	unsigned long k = ++count;

	if (fail_at && k == fail_at) {
		fired = true;
		return true;
	}
	return false;
}

void *__wrap_malloc(size_t n)
{
	void *p;

	if (must_fail()) {
		errno = ENOMEM;
		return NULL;
	}
	p = __real_malloc(n);
	if (p)
		live++;
	return p;
}

void *__wrap_calloc(size_t n, size_t size)
{
	void *p;

	if (must_fail()) {
		errno = ENOMEM;
		return NULL;
	}
	p = __real_calloc(n, size);
	if (p)
		live++;
	return p;
}

void *__wrap_realloc(void *p, size_t n)
{
	void *q;

	if (must_fail()) {
		errno = ENOMEM;
		return NULL; /* p untouched, as realloc leaves it */
	}
	q = __real_realloc(p, n);
	if (!p && q)
		live++;
	else if (p && !n && !q)
		live--; /* glibc's realloc(p, 0) frees p */
	return q;
}

char *__wrap_strdup(const char *s)
{
	char *p;

	if (must_fail()) {
		errno = ENOMEM;
		return NULL;
	}
	p = __real_strdup(s);
	if (p)
		live++;
	return p;
}

int __wrap_posix_memalign(void **p, size_t align, size_t n)
{
	int rc;

	if (must_fail())
		return ENOMEM;
	rc = __real_posix_memalign(p, align, n);
	if (rc == 0)
		live++;
	return rc;
}

void __wrap_free(void *p)
{
	if (p)
		live--;
	__real_free(p);
}

void t_alloc_hook_cjson(void)
{
	cJSON_Hooks hooks = { __wrap_malloc, __wrap_free };

	cJSON_InitHooks(&hooks);
}
