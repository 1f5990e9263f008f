/*
 * waitlist.h: the draws of one random pool that found it refilling and
 * wait, each until values come or its deadline passes (draw_wait_ms,
 * config.h). What waits is the owner's (server/api_random.c: a
 * suspended HTTP request, which holds no thread); the list only calls
 * its wake function, once, and forgets it.
 *
 * DESIGN
 *
 * Owners: the HTTP thread of a draw adds its entry (waitlist_add) and
 * owns it again once its wake function has been called; the pool's
 * takers (refill.h) wake every entry after each push into a hopper
 * (waitlist_wake_all); refill's sweeper thread wakes the entries whose
 * deadline has passed (waitlist_expire), sleeping no longer than the
 * earliest deadline (an add that brings it forward kicks the sweeper);
 * the main thread wakes all and refuses new ones at shutdown
 * (waitlist_close).
 * Lock: wl->lock guards every field but ready; it is a leaf, and wake
 * and kick functions are called after it is released.
 * Guarantees: an entry is woken exactly once per add. No wake-up is lost:
 * the drawer reads waitlist_gen, draws, and adds with that generation;
 * a push after the read moves the generation (under the lock), so either
 * the add sees it (-EAGAIN: draw again) or the push's wake_all finds the
 * entry. Only draws that failed come here: a draw that finds values
 * takes no lock of this list.
 */
#ifndef UNIQ_WAITLIST_H
#define UNIQ_WAITLIST_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

struct waitlist_entry {
	struct waitlist_entry *next;	/* the list's */
	uint64_t deadline_ns;		/* clock_mono_ns(); set by the owner */
	/* Called once, from the waking thread, without the lock; the entry
	 * is the owner's again from the call on (it may be added again). */
	void (*wake)(struct waitlist_entry *e);
};

struct waitlist {
	pthread_mutex_t lock;
	struct waitlist_entry *head;
	uint64_t gen;		/* wake_all calls so far */
	uint64_t earliest;	/* the entries' first deadline; UINT64_MAX
				   when none */
	bool closed;
	bool ready;		/* set up (waitlist_init) */
	void (*kick)(void *arg);
	void *kick_arg;
};

/* Sets up an empty, open list. kick (may be NULL) is called, without the
 * lock, when an add brings the earliest deadline forward, so that a thread
 * sleeping toward the old one (the sweeper) wakes and sleeps less. Returns 0
 * or a negative errno with nothing to release. */
int waitlist_init(struct waitlist *wl, void (*kick)(void *arg), void *arg);

/* Frees the lock; no entry may be waiting (close the list first). Safe
 * on a list never set up (zeroed). */
void waitlist_release(struct waitlist *wl);

/* The generation to pass to waitlist_add: read it before the draw. */
uint64_t waitlist_gen(struct waitlist *wl);

/*
 * Adds e (deadline_ns and wake set) to wait. Returns 0; -EAGAIN, with e
 * not added, when waitlist_wake_all ran since gen was read (values came:
 * draw again); -ESHUTDOWN when the list is closed or was never set up.
 */
int waitlist_add(struct waitlist *wl, struct waitlist_entry *e, uint64_t gen);

/* Values came: moves the generation on and wakes every entry. A no-op on
 * a list never set up. */
void waitlist_wake_all(struct waitlist *wl);

/* Wakes the entries whose deadline is at or before now_ns. Returns how
 * many, and sets *next_ns to the earliest deadline left (UINT64_MAX when
 * none). */
unsigned waitlist_expire(struct waitlist *wl, uint64_t now_ns,
			 uint64_t *next_ns);

/* Shutdown: wakes every entry, and every later add gets -ESHUTDOWN. */
void waitlist_close(struct waitlist *wl);

/* Whether waitlist_close was called (or the list was never set up). */
bool waitlist_closed(struct waitlist *wl);

#endif
