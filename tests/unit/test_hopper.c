/*
 * test_hopper.c: tests shard/hopper, the in-memory ring between a shard
 * and the request threads. Single-threaded: pops are all or nothing and
 * FIFO across ring wrap-around, the wake callback fires once per fall
 * below low water (and on a failed pop) until the next push, room and
 * level add up, a push never overwrites, drain hands back the rest in
 * order. Threaded (suite "threads", run under TSan): one pusher and four
 * poppers move 2,000,000 distinct values, and every value comes out
 * exactly once, in order within each popper.
 */
#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/log.h"
#include "shard/hopper.h"
#include "tests/unit/t.h"
#include "tests/unit/t_util.h"
#include "common/banned.h"

static _Atomic unsigned long wakes;

static unsigned long nwakes(void)
{
	return atomic_load(&wakes);
}

static void count_wake(void *arg)
{
	_Atomic unsigned long *n = arg;

	atomic_fetch_add(n, 1);
}

/* Pushes values first .. first + n - 1 (seq = value + 1000000). */
static void push_range(struct hopper *h, uint64_t first, size_t n)
{
	struct shard_item it[64];
	size_t i;

	while (n) {
		size_t k = n < 64 ? n : 64;

		for (i = 0; i < k; i++) {
			it[i].value = first + i;
			it[i].seq = first + i + 1000000;
		}
		hopper_push(h, it, k);
		first += k;
		n -= k;
	}
}

/* Pop semantics and the wake callback, step by step. */
static void test_pop_wake(void)
{
	struct hopper h;
	uint64_t v[16];

	atomic_store(&wakes, 0);
	CHECK_RC(hopper_init(&h, 8, 3, count_wake, &wakes), 0);
	CHECK_EQ_U64(hopper_room(&h), 8);
	CHECK_EQ_U64(hopper_level(&h), 0);

	/* Empty: a failed pop asks once, not again until a push. */
	CHECK_RC(hopper_pop(&h, 1, v), OUTCOME_REFILLING);
	CHECK_EQ_U64(nwakes(), 1);
	CHECK_RC(hopper_pop(&h, 1, v), OUTCOME_REFILLING);
	CHECK_EQ_U64(nwakes(), 1);

	push_range(&h, 100, 5);
	CHECK_EQ_U64(hopper_level(&h), 5);
	CHECK_EQ_U64(hopper_room(&h), 3);

	/* All or nothing; a failed pop after a push asks again. */
	v[0] = 12345;
	CHECK_RC(hopper_pop(&h, 6, v), OUTCOME_REFILLING);
	CHECK_EQ_U64(v[0], 12345);
	CHECK_EQ_U64(hopper_level(&h), 5);
	CHECK_EQ_U64(nwakes(), 2);

	push_range(&h, 105, 1);
	/* 6 -> 4 -> 3: not below low (3), no wake. */
	CHECK_RC(hopper_pop(&h, 2, v), 0);
	CHECK_EQ_U64(v[0], 100);
	CHECK_EQ_U64(v[1], 101);
	CHECK_RC(hopper_pop(&h, 1, v), 0);
	CHECK_EQ_U64(v[0], 102);
	CHECK_EQ_U64(nwakes(), 2);
	/* 3 -> 2: below low, one wake. */
	CHECK_RC(hopper_pop(&h, 1, v), 0);
	CHECK_EQ_U64(v[0], 103);
	CHECK_EQ_U64(nwakes(), 3);
	/* 2 -> 1: still below, but already asked; so is a failed pop. */
	CHECK_RC(hopper_pop(&h, 1, v), 0);
	CHECK_EQ_U64(v[0], 104);
	CHECK_EQ_U64(nwakes(), 3);
	CHECK_RC(hopper_pop(&h, 2, v), OUTCOME_REFILLING);
	CHECK_EQ_U64(nwakes(), 3);
	CHECK_EQ_U64(hopper_level(&h), 1);

	/* A push re-arms: the next pop below low asks again. */
	push_range(&h, 106, 1);
	CHECK_EQ_U64(hopper_level(&h), 2);
	CHECK_RC(hopper_pop(&h, 1, v), 0);
	CHECK_EQ_U64(v[0], 105);
	CHECK_EQ_U64(nwakes(), 4);
	CHECK_RC(hopper_pop(&h, 1, v), 0);
	CHECK_EQ_U64(v[0], 106);
	CHECK_EQ_U64(nwakes(), 4);
	CHECK_EQ_U64(hopper_level(&h), 0);
	CHECK_EQ_U64(hopper_room(&h), 8);

	/* Popping nothing succeeds and takes nothing. */
	push_range(&h, 107, 4);
	CHECK_RC(hopper_pop(&h, 0, v), 0);
	CHECK_EQ_U64(hopper_level(&h), 4);
	CHECK_RC(hopper_pop(&h, 4, v), 0);
	CHECK(v[0] == 107 && v[3] == 110);
	hopper_release(&h);
	hopper_release(&h); /* twice is harmless */

	/* No callback at all is fine. */
	CHECK_RC(hopper_init(&h, 4, 2, NULL, NULL), 0);
	CHECK_RC(hopper_pop(&h, 1, v), OUTCOME_REFILLING);
	push_range(&h, 1, 4);
	CHECK_RC(hopper_pop(&h, 3, v), 0);
	CHECK_EQ_U64(hopper_level(&h), 1);
	hopper_release(&h);
}

/* FIFO through many wrap-arounds; room + level == cap throughout; a push
 * beyond the room never overwrites; drain returns the rest in order. */
static void test_wrap_drain(void)
{
	struct hopper h;
	struct shard_item out[8];
	uint64_t v[7], next_in = 0, next_out = 0;
	size_t i, n, step;
	bool ok = true, held_ok = true;

	memset(&h, 0, sizeof(h)); /* a hopper never set up holds nothing */
	CHECK(!hopper_holds(&h, 0, 0));
	CHECK_RC(hopper_init(&h, 7, 2, count_wake, &wakes), 0);
	for (step = 0; step < 5000 && ok; step++) {
		size_t room = hopper_room(&h);
		size_t push = (step * 5 + 3) % 8;
		size_t pop = (step * 3 + 1) % 8;

		if (room + hopper_level(&h) != 7)
			ok = false;
		if (push > room)
			push = room;
		push_range(&h, next_in, push);
		next_in += push;
		if (hopper_level(&h) != next_in - next_out)
			ok = false;
		if (pop > next_in - next_out) {
			if (hopper_pop(&h, pop, v) != OUTCOME_REFILLING)
				ok = false;
			continue;
		}
		if (hopper_pop(&h, pop, v) != 0)
			ok = false;
		for (i = 0; i < pop; i++)
			if (v[i] != next_out++)
				ok = false;
		/* held: exactly what is pushed and not popped, by seq and
		 * value, across the ring's wrap */
		for (i = next_out; i < next_in; i++)
			if (!hopper_holds(&h, i + 1000000, i) ||
			    hopper_holds(&h, i + 1000000, i + 1))
				held_ok = false;
		if (next_out && hopper_holds(&h, next_out - 1 + 1000000,
					     next_out - 1))
			held_ok = false;
	}
	CHECKF(ok, "FIFO broken at step %zu", step);
	CHECKF(held_ok, "hopper_holds disagrees with the pushes and pops");
	CHECK_EQ_U64(h.head, next_out % 7); /* it went round */

	/* Fill up, then push past the room: the old entries stay. */
	push_range(&h, next_in, hopper_room(&h));
	next_in += 7 - (next_in - next_out);
	CHECK_EQ_U64(hopper_room(&h), 0);
	push_range(&h, 999999, 3);
	CHECK_EQ_U64(hopper_level(&h), 7);

	/* Drain in two parts: seq and value, oldest first. */
	n = hopper_drain(&h, out, 3);
	CHECK_EQ_U64(n, 3);
	for (i = 0; i < n; i++) {
		CHECK_EQ_U64(out[i].value, next_out + i);
		CHECK_EQ_U64(out[i].seq, next_out + i + 1000000);
	}
	next_out += n;
	n = hopper_drain(&h, out, 8);
	CHECK_EQ_U64(n, 4);
	for (i = 0; i < n; i++)
		CHECK_EQ_U64(out[i].value, next_out + i);
	next_out += n;
	CHECK_EQ_U64(next_out, next_in);
	CHECK_EQ_U64(hopper_level(&h), 0);
	CHECK_EQ_U64(hopper_room(&h), 7);
	CHECK_EQ_U64(hopper_drain(&h, out, 8), 0);
	/* Usable after a drain. */
	push_range(&h, 42, 2);
	CHECK_RC(hopper_pop(&h, 2, v), 0);
	CHECK(v[0] == 42 && v[1] == 43);
	hopper_release(&h);
}

#define MT_VALUES 2000000u
#define MT_POPPERS 4
#define MT_CAP 1000

struct mt {
	struct hopper h;
	_Atomic bool pushed_all;
	_Atomic uint64_t popped;
	_Atomic unsigned char *seen;	/* times each value came out */
};

struct popper {
	struct mt *mt;
	uint64_t rng;
	uint64_t pops;
	bool order_ok;
	bool range_ok;
};

static void *pusher_main(void *arg)
{
	struct mt *mt = arg;
	struct shard_item it[128];
	uint64_t next = 0, rng = 7;
	size_t i, n, room;

	while (next < MT_VALUES) {
		room = hopper_room(&mt->h);
		if (room == 0) {
			sched_yield();
			continue;
		}
		n = 1 + t_rng_next(&rng) % 128;
		if (n > room)
			n = room;
		if (n > MT_VALUES - next)
			n = MT_VALUES - next;
		for (i = 0; i < n; i++) {
			it[i].value = next + i;
			it[i].seq = next + i;
		}
		hopper_push(&mt->h, it, n);
		next += n;
	}
	atomic_store(&mt->pushed_all, true);
	return NULL;
}

static void *popper_main(void *arg)
{
	struct popper *pp = arg;
	struct mt *mt = pp->mt;
	uint64_t v[64], last = 0;
	bool any = false;
	size_t i, n;

	pp->order_ok = pp->range_ok = true;
	while (atomic_load(&mt->popped) < MT_VALUES) {
		n = 1 + t_rng_next(&pp->rng) % 64;
		if (hopper_pop(&mt->h, n, v) != 0) {
			/* At the end fewer than n may be left for good. */
			if (atomic_load(&mt->pushed_all) &&
			    hopper_pop(&mt->h, 1, v) == 0)
				n = 1;
			else {
				sched_yield();
				continue;
			}
		}
		pp->pops++;
		for (i = 0; i < n; i++) {
			if (v[i] >= MT_VALUES) {
				pp->range_ok = false;
				continue;
			}
			/* FIFO: one thread's values only ever increase, and
			 * one pop is a run of consecutive values. */
			if ((any && v[i] <= last) ||
			    (i > 0 && v[i] != v[i - 1] + 1))
				pp->order_ok = false;
			last = v[i];
			any = true;
			atomic_fetch_add(&mt->seen[v[i]], 1);
		}
		atomic_fetch_add(&mt->popped, n);
	}
	return NULL;
}

/* One pusher, four poppers of random batch sizes: every value exactly
 * once. */
static void test_threads(void)
{
	static struct mt mt;
	struct popper pp[MT_POPPERS];
	pthread_t pusher, tids[MT_POPPERS];
	uint64_t i, missing = 0, twice = 0, pops = 0;
	struct shard_item rest[4];
	void *mem;
	int k;

	mem = calloc(MT_VALUES, sizeof(*mt.seen));
	CHECK(mem != NULL);
	if (!mem)
		return;
	mt.seen = mem;
	atomic_store(&wakes, 0);
	CHECK_RC(hopper_init(&mt.h, MT_CAP, MT_CAP / 4, count_wake, &wakes), 0);
	for (k = 0; k < MT_POPPERS; k++) {
		memset(&pp[k], 0, sizeof(pp[k]));
		pp[k].mt = &mt;
		pp[k].rng = 1000 + (uint64_t)k;
		CHECK_RC(pthread_create(&tids[k], NULL, popper_main, &pp[k]),
			 0);
	}
	CHECK_RC(pthread_create(&pusher, NULL, pusher_main, &mt), 0);
	pthread_join(pusher, NULL);
	for (k = 0; k < MT_POPPERS; k++) {
		pthread_join(tids[k], NULL);
		CHECKF(pp[k].order_ok, "popper %d saw values out of order", k);
		CHECKF(pp[k].range_ok, "popper %d saw a value never pushed",
		       k);
		pops += pp[k].pops;
	}
	for (i = 0; i < MT_VALUES; i++) {
		unsigned char c = atomic_load(&mt.seen[i]);

		if (c == 0)
			missing++;
		else if (c > 1)
			twice++;
	}
	CHECKF(missing == 0, "%llu values never popped",
	       (unsigned long long)missing);
	CHECKF(twice == 0, "%llu values popped more than once",
	       (unsigned long long)twice);
	CHECK_EQ_U64(atomic_load(&mt.popped), MT_VALUES);
	CHECK_EQ_U64(hopper_level(&mt.h), 0);
	CHECK_EQ_U64(hopper_drain(&mt.h, rest, 4), 0);
	CHECK(atomic_load(&wakes) > 0);
	CHECK(atomic_load(&wakes) <= pops + 1);
	fprintf(stderr, "test_hopper: %llu pops, %lu wakes\n",
		(unsigned long long)pops, atomic_load(&wakes));
	hopper_release(&mt.h);
	free(mem);
}

int main(void)
{
	test_pop_wake();
	test_wrap_drain();
	test_threads();
	return t_done("test_hopper");
}
