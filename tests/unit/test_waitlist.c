/*
 * test_waitlist.c: tests pools/waitlist, the draws waiting for values.
 * Single-threaded: an add with a stale generation is refused (-EAGAIN),
 * wake_all wakes every entry once and moves the generation, expire wakes
 * only the entries due and reports the next deadline, an add that brings
 * the earliest deadline forward kicks, close wakes everything and refuses
 * later adds, a list never set up refuses adds. Threaded (suite
 * "threads", under TSan): waiters that add again from their own wake
 * against a thread that wakes them all and one that expires them: every
 * add is woken exactly once.
 */
#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "pools/waitlist.h"
#include "tests/unit/t.h"
#include "tests/unit/t_util.h"
#include "common/banned.h"

struct entry {
	struct waitlist_entry we;
	unsigned woken;
};

static void count_wake(struct waitlist_entry *e)
{
	struct entry *x = (struct entry *)(void *)e;

	x->woken++;
}

static unsigned kicks;

static void count_kick(void *arg)
{
	(void)arg;
	kicks++;
}

static void test_single(void)
{
	struct waitlist wl, never;
	struct entry e[3];
	uint64_t g, next;
	unsigned i;

	memset(e, 0, sizeof(e));
	for (i = 0; i < 3; i++) {
		e[i].we.wake = count_wake;
		e[i].we.deadline_ns = 100 + 100 * i;	/* 100, 200, 300 */
	}
	CHECK_RC(waitlist_init(&wl, count_kick, NULL), 0);
	CHECK(!waitlist_closed(&wl));
	g = waitlist_gen(&wl);

	/* The later deadlines do not kick; the first one does. */
	CHECK_RC(waitlist_add(&wl, &e[2].we, g), 0);
	CHECK_EQ_U64(kicks, 1);
	CHECK_RC(waitlist_add(&wl, &e[1].we, g), 0);
	CHECK_EQ_U64(kicks, 2);
	CHECK_RC(waitlist_add(&wl, &e[0].we, g), 0);
	CHECK_EQ_U64(kicks, 3);

	/* Nothing due before 100; at 250 the first two. */
	CHECK_EQ_U64(waitlist_expire(&wl, 99, &next), 0);
	CHECK_EQ_U64(next, 100);
	CHECK_EQ_U64(waitlist_expire(&wl, 250, &next), 2);
	CHECK_EQ_U64(next, 300);
	CHECK(e[0].woken == 1 && e[1].woken == 1 && e[2].woken == 0);

	/* wake_all: the rest, and the generation moves on. */
	waitlist_wake_all(&wl);
	CHECK_EQ_U64(e[2].woken, 1);
	CHECK_EQ_U64(waitlist_expire(&wl, 1000, &next), 0);
	CHECK_EQ_U64(next, UINT64_MAX);
	CHECK_RC(waitlist_add(&wl, &e[0].we, g), -EAGAIN);
	CHECK_EQ_U64(e[0].woken, 1);
	g = waitlist_gen(&wl);
	CHECK_RC(waitlist_add(&wl, &e[0].we, g), 0);

	/* close wakes what waits and refuses what comes. */
	waitlist_close(&wl);
	CHECK_EQ_U64(e[0].woken, 2);
	CHECK(waitlist_closed(&wl));
	CHECK_RC(waitlist_add(&wl, &e[1].we, waitlist_gen(&wl)), -ESHUTDOWN);
	CHECK_EQ_U64(e[1].woken, 1);
	waitlist_release(&wl);

	/* Never set up: refuses, and the other calls do nothing. */
	memset(&never, 0, sizeof(never));
	CHECK(waitlist_closed(&never));
	CHECK_RC(waitlist_add(&never, &e[1].we, 0), -ESHUTDOWN);
	waitlist_wake_all(&never);
	CHECK_EQ_U64(waitlist_expire(&never, 1000, &next), 0);
	waitlist_close(&never);
	waitlist_release(&never);
}

/* ---- threaded --------------------------------------------------- */

#define MT_WAITERS 8
#define MT_ROUNDS 2000

struct mt_waiter {
	struct waitlist_entry we;
	struct waitlist *wl;
	_Atomic unsigned adds, wakes;
	_Atomic bool waiting;
	_Atomic bool done;
};

static _Atomic bool mt_double;

static void mt_wake(struct waitlist_entry *e)
{
	struct mt_waiter *w = (struct mt_waiter *)(void *)e;

	if (!atomic_exchange(&w->waiting, false))
		atomic_store(&mt_double, true);
	atomic_fetch_add(&w->wakes, 1);
}

/* Adds itself again each time it was woken, MT_ROUNDS times. */
static void *mt_waiter_main(void *arg)
{
	struct mt_waiter *w = arg;
	int rc;

	while (atomic_load(&w->adds) < MT_ROUNDS) {
		if (atomic_load(&w->waiting)) {
			sched_yield();
			continue;
		}
		atomic_store(&w->waiting, true);
		w->we.deadline_ns = atomic_load(&w->adds) % 3;
		rc = waitlist_add(w->wl, &w->we, waitlist_gen(w->wl));
		if (rc == 0)
			atomic_fetch_add(&w->adds, 1);
		else
			atomic_store(&w->waiting, false);
	}
	atomic_store(&w->done, true);
	return NULL;
}

struct mt_waker {
	struct waitlist *wl;
	bool expire;
	_Atomic bool *stop;
};

static void *mt_waker_main(void *arg)
{
	struct mt_waker *k = arg;
	uint64_t next;

	while (!atomic_load(k->stop)) {
		if (k->expire)
			waitlist_expire(k->wl, 1, &next);
		else
			waitlist_wake_all(k->wl);
	}
	return NULL;
}

static void test_threads(void)
{
	static struct mt_waiter w[MT_WAITERS];
	pthread_t tw[MT_WAITERS], tk[2];
	struct mt_waker k[2];
	struct waitlist wl;
	_Atomic bool stop = false;
	unsigned i;

	CHECK_RC(waitlist_init(&wl, NULL, NULL), 0);
	for (i = 0; i < 2; i++) {
		k[i].wl = &wl;
		k[i].expire = i == 1;
		k[i].stop = &stop;
		CHECK_RC(pthread_create(&tk[i], NULL, mt_waker_main, &k[i]),
			 0);
	}
	for (i = 0; i < MT_WAITERS; i++) {
		w[i].wl = &wl;
		w[i].we.wake = mt_wake;
		CHECK_RC(pthread_create(&tw[i], NULL, mt_waiter_main, &w[i]),
			 0);
	}
	for (i = 0; i < MT_WAITERS; i++)
		pthread_join(tw[i], NULL);
	atomic_store(&stop, true);
	for (i = 0; i < 2; i++)
		pthread_join(tk[i], NULL);
	waitlist_close(&wl);
	for (i = 0; i < MT_WAITERS; i++)
		CHECKF(atomic_load(&w[i].adds) == atomic_load(&w[i].wakes),
		       "waiter %u: %u adds, %u wakes", i,
		       atomic_load(&w[i].adds), atomic_load(&w[i].wakes));
	CHECK(!atomic_load(&mt_double));
	waitlist_release(&wl);
}

int main(void)
{
	test_single();
	test_threads();
	return t_done("test_waitlist");
}
