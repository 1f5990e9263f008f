/*
 * rec.c: the duplicate checker of uniqd-stress: sort the records by their
 * key and look at neighbours; see rec.h.
 */
#include <stdlib.h>
#include <string.h>

#include "stress/rec.h"
#include "common/banned.h"

static int cmp_rec(const void *x, const void *y)
{
	return memcmp(x, y, REC_KEY);
}

void rec_find_dups(struct rec_dups *d, struct rec *recs, uint64_t n)
{
	uint64_t i, j;

	memset(d, 0, sizeof(*d));
	qsort(recs, n, sizeof(*recs), cmp_rec);
	for (i = 0; i < n; i = j) {
		for (j = i + 1; j < n && !cmp_rec(&recs[i], &recs[j]); j++)
			;
		if (recs[i].kind == REC_NONE || j - i == 1)
			continue;
		d->count += j - i - 1;
		if (d->listed < REC_DUPS_LISTED) {
			d->dup[d->listed].kind = recs[i].kind;
			memcpy(d->dup[d->listed].value, recs[i].value,
			       sizeof(recs[i].value));
			d->dup[d->listed].times = j - i;
			d->listed++;
		}
	}
}
