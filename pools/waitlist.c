/*
 * waitlist.c: the draws waiting for values; see the DESIGN block in
 * waitlist.h.
 */
#include <errno.h>
#include <string.h>

#include "pools/waitlist.h"
#include "common/banned.h"

int waitlist_init(struct waitlist *wl, void (*kick)(void *arg), void *arg)
{
	int rc;

	memset(wl, 0, sizeof(*wl));
	rc = pthread_mutex_init(&wl->lock, NULL);
	if (rc)
		return -rc;
	wl->earliest = UINT64_MAX;
	wl->kick = kick;
	wl->kick_arg = arg;
	wl->ready = true;
	return 0;
}

void waitlist_release(struct waitlist *wl)
{
	if (!wl->ready)
		return;
	pthread_mutex_destroy(&wl->lock);
	wl->ready = false;
}

uint64_t waitlist_gen(struct waitlist *wl)
{
	uint64_t g;

	if (!wl->ready)
		return 0;
	pthread_mutex_lock(&wl->lock);
	g = wl->gen;
	pthread_mutex_unlock(&wl->lock);
	return g;
}

int waitlist_add(struct waitlist *wl, struct waitlist_entry *e, uint64_t gen)
{
	bool kick = false;
	int rc = 0;

	if (!wl->ready)
		return -ESHUTDOWN;
	pthread_mutex_lock(&wl->lock);
	if (wl->closed) {
		rc = -ESHUTDOWN;
	} else if (wl->gen != gen) {
		rc = -EAGAIN;
	} else {
		e->next = wl->head;
		wl->head = e;
		if (e->deadline_ns < wl->earliest) {
			wl->earliest = e->deadline_ns;
			kick = wl->kick != NULL;
		}
	}
	pthread_mutex_unlock(&wl->lock);
	if (kick)
		wl->kick(wl->kick_arg);
	return rc;
}

/* Calls the wake function of every entry of the detached list e. Reads
 * each next before the call: a woken entry may be added again at once. */
static void wake_list(struct waitlist_entry *e)
{
	struct waitlist_entry *next;

	for (; e; e = next) {
		next = e->next;
		e->next = NULL;
		e->wake(e);
	}
}

void waitlist_wake_all(struct waitlist *wl)
{
	struct waitlist_entry *e;

	if (!wl->ready)
		return;
	pthread_mutex_lock(&wl->lock);
	wl->gen++;
	e = wl->head;
	wl->head = NULL;
	wl->earliest = UINT64_MAX;
	pthread_mutex_unlock(&wl->lock);
	wake_list(e);
}

unsigned waitlist_expire(struct waitlist *wl, uint64_t now_ns,
			 uint64_t *next_ns)
{
	struct waitlist_entry *due = NULL, **pp, *e;
	uint64_t earliest = UINT64_MAX;
	unsigned n = 0;

	*next_ns = UINT64_MAX;
	if (!wl->ready)
		return 0;
	pthread_mutex_lock(&wl->lock);
	if (wl->earliest > now_ns) {	/* nothing due: no walk */
		*next_ns = wl->earliest;
		pthread_mutex_unlock(&wl->lock);
		return 0;
	}
	for (pp = &wl->head; (e = *pp);) {
		if (e->deadline_ns <= now_ns) {
			*pp = e->next;
			e->next = due;
			due = e;
			n++;
			continue;
		}
		if (e->deadline_ns < earliest)
			earliest = e->deadline_ns;
		pp = &e->next;
	}
	wl->earliest = earliest;
	*next_ns = earliest;
	pthread_mutex_unlock(&wl->lock);
	wake_list(due);
	return n;
}

void waitlist_close(struct waitlist *wl)
{
	struct waitlist_entry *e;

	if (!wl->ready)
		return;
	pthread_mutex_lock(&wl->lock);
	wl->closed = true;
	e = wl->head;
	wl->head = NULL;
	wl->earliest = UINT64_MAX;
	pthread_mutex_unlock(&wl->lock);
	wake_list(e);
}

bool waitlist_closed(struct waitlist *wl)
{
	bool closed;

	if (!wl->ready)
		return true;
	pthread_mutex_lock(&wl->lock);
	closed = wl->closed;
	pthread_mutex_unlock(&wl->lock);
	return closed;
}
