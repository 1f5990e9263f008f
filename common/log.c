/*
 * log.c: timestamped lines on stderr; see log.h.
 */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "common/clock.h"
#include "common/log.h"
#include "common/banned.h"

static const char *log_prog = "uniqd";
static enum log_level log_min = LOG_INFO;

void log_setup(const char *prog, enum log_level min)
{
	log_prog = prog;
	log_min = min;
}

const char *log_strerror(int err)
{
	const char *s = strerrordesc_np(err < 0 ? -err : err);

	return s ? s : "unknown error";
}

static void log_write(const char *level, const char *fmt, va_list ap)
	__attribute__((format(printf, 2, 0)));

static void log_write(const char *level, const char *fmt, va_list ap)
{
	char line[2048], ts[CLOCK_RFC3339_LEN];
	int n, m;

	if (clock_rfc3339(clock_now_ms(), ts, sizeof(ts)) < 0)
		ts[0] = '\0';
	n = snprintf(line, sizeof(line), "%s %s %s: ", ts, log_prog, level);
	if (n < 0)
		return;
	m = vsnprintf(line + n, sizeof(line) - (size_t)n - 1, fmt, ap);
	if (m < 0)
		return;
	n += m;
	if ((size_t)n > sizeof(line) - 2)
		n = (int)sizeof(line) - 2; /* truncated: keep the newline */
	line[n++] = '\n';
	/* One write per line; a short write to stderr is not worth a retry. */
	if (write(STDERR_FILENO, line, (size_t)n) < 0)
		return;
}

void log_msg(enum log_level level, const char *fmt, ...)
{
	static const char *const names[] = { "debug", "info", "warn", "error" };
	va_list ap;

	if (level < log_min || level >= LOG_OFF)
		return;
	va_start(ap, fmt);
	log_write(names[level], fmt, ap);
	va_end(ap);
}

void log_access(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	log_write("access", fmt, ap);
	va_end(ap);
}
