/*
 * hopper.c: the in-memory ring between a shard and the requests; see the
 * DESIGN block in hopper.h.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "common/log.h"
#include "common/outcome.h"
#include "shard/hopper.h"
#include "common/banned.h"

int hopper_init(struct hopper *h, size_t cap, size_t low,
		void (*wake)(void *arg), void *arg)
{
	int rc;

	memset(h, 0, sizeof(*h));
	h->ring = calloc(cap, sizeof(*h->ring));
	if (!h->ring)
		return -ENOMEM;
	rc = pthread_mutex_init(&h->lock, NULL);
	if (rc) {
		free(h->ring);
		h->ring = NULL;
		return -rc;
	}
	h->cap = cap;
	h->low = low;
	h->wake = wake;
	h->wake_arg = arg;
	return 0;
}

void hopper_release(struct hopper *h)
{
	if (!h->ring)
		return;
	pthread_mutex_destroy(&h->lock);
	free(h->ring);
	h->ring = NULL;
}

int hopper_pop(struct hopper *h, size_t n, uint64_t *vals)
{
	bool wake = false;
	size_t i, at;

	pthread_mutex_lock(&h->lock);
	if (h->len < n) {
		if (!h->asked) {
			h->asked = true;
			wake = true;
		}
		pthread_mutex_unlock(&h->lock);
		if (wake && h->wake)
			h->wake(h->wake_arg);
		return OUTCOME_REFILLING;
	}
	at = h->head;
	for (i = 0; i < n; i++) {
		vals[i] = h->ring[at].value;
		if (++at == h->cap)
			at = 0;
	}
	h->head = at;
	h->len -= n;
	if (h->len < h->low && !h->asked) {
		h->asked = true;
		wake = true;
	}
	pthread_mutex_unlock(&h->lock);
	if (wake && h->wake)
		h->wake(h->wake_arg);
	return 0;
}

size_t hopper_room(struct hopper *h)
{
	size_t room;

	pthread_mutex_lock(&h->lock);
	room = h->cap - h->len;
	pthread_mutex_unlock(&h->lock);
	return room;
}

size_t hopper_level(struct hopper *h)
{
	size_t len;

	pthread_mutex_lock(&h->lock);
	len = h->len;
	pthread_mutex_unlock(&h->lock);
	return len;
}

void hopper_push(struct hopper *h, const struct shard_item *items, size_t n)
{
	size_t i, at;

	pthread_mutex_lock(&h->lock);
	if (n > h->cap - h->len) {
		/* A caller bug: never overwrite. The values have left their
		 * shard, so the ones dropped are burned: say so. */
		log_error("hopper: %zu values pushed into %zu free slots; the "
			  "rest are burned", n, h->cap - h->len);
		n = h->cap - h->len;
	}
	at = (h->head + h->len) % h->cap;
	for (i = 0; i < n; i++) {
		h->ring[at] = items[i];
		if (++at == h->cap)
			at = 0;
	}
	h->len += n;
	h->asked = false;
	pthread_mutex_unlock(&h->lock);
}

bool hopper_holds(struct hopper *h, uint64_t seq, uint64_t value)
{
	bool held = false;
	size_t i, at;

	if (!h->ring)
		return false;
	pthread_mutex_lock(&h->lock);
	for (i = 0, at = h->head; i < h->len && !held; i++) {
		held = h->ring[at].seq == seq && h->ring[at].value == value;
		if (++at == h->cap)
			at = 0;
	}
	pthread_mutex_unlock(&h->lock);
	return held;
}

size_t hopper_drain(struct hopper *h, struct shard_item *out, size_t max)
{
	size_t i, n;

	pthread_mutex_lock(&h->lock);
	n = h->len < max ? h->len : max;
	for (i = 0; i < n; i++) {
		out[i] = h->ring[h->head];
		if (++h->head == h->cap)
			h->head = 0;
	}
	h->len -= n;
	pthread_mutex_unlock(&h->lock);
	return n;
}
