/*
 * progress.c: progress bar for the admin CLI; see progress.h.
 */
#include <stdio.h>
#include <unistd.h>

#include "common/clock.h"
#include "tools/progress.h"
#include "common/banned.h"

#define BAR_WIDTH 30

bool progress_is_tty(void)
{
	return isatty(STDERR_FILENO) == 1;
}

void progress_init(struct progress *p, const char *label, uint64_t total,
		   bool tty)
{
	p->label = label;
	p->total = total;
	p->start_ns = clock_mono_ns();
	p->last_ns = 0;
	p->last_step = -1;
	p->tty = tty;
}

/* "1.23M" style: keeps lines short for big numbers. */
static void human(double v, char *buf, size_t len)
{
	if (v >= 1e9)
		snprintf(buf, len, "%.2fG", v / 1e9);
	else if (v >= 1e6)
		snprintf(buf, len, "%.2fM", v / 1e6);
	else if (v >= 1e4)
		snprintf(buf, len, "%.1fk", v / 1e3);
	else
		snprintf(buf, len, "%.0f", v);
}

static void draw(struct progress *p, uint64_t done, uint64_t now, bool last)
{
	double secs = (double)(now - p->start_ns) / 1e9;
	double frac = p->total ? (double)done / (double)p->total : 1.0;
	double rate = secs > 0 ? (double)done / secs : 0;
	char bar[BAR_WIDTH + 1], d[16], t[16], r[16];
	int i, fill = (int)(frac * BAR_WIDTH);

	if (frac > 1)
		frac = 1;
	for (i = 0; i < BAR_WIDTH; i++)
		bar[i] = i < fill ? '#' : '.';
	bar[BAR_WIDTH] = '\0';
	human((double)done, d, sizeof(d));
	human((double)p->total, t, sizeof(t));
	human(rate, r, sizeof(r));
	if (p->tty)
		fprintf(stderr, "\r%s [%s] %3d%% %s/%s %s/s%s", p->label, bar,
			(int)(frac * 100), d, t, r, last ? "\n" : "  ");
	else
		fprintf(stderr, "%s: %3d%% %s/%s %s/s\n", p->label,
			(int)(frac * 100), d, t, r);
	fflush(stderr);
}

void progress_update(struct progress *p, uint64_t done)
{
	uint64_t now = clock_mono_ns();
	int step;

	if (p->tty) {
		if (now - p->last_ns < 100000000u)
			return;
	} else {
		step = p->total ? (int)(done * 10 / p->total) : 10;
		if (step == p->last_step && now - p->last_ns < 5000000000u)
			return;
		p->last_step = step;
	}
	p->last_ns = now;
	draw(p, done, now, false);
}

void progress_finish(struct progress *p, uint64_t done)
{
	uint64_t now = clock_mono_ns();
	double secs = (double)(now - p->start_ns) / 1e9;

	draw(p, done, now, true);
	fprintf(stderr, "%s: %llu in %.2f s (%.0f/s)\n", p->label,
		(unsigned long long)done, secs,
		secs > 0 ? (double)done / secs : 0.0);
}
