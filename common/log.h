/*
 * log.h: one line per event on stderr, with a UTC timestamp and a level.
 *
 * Each line is formatted in memory and written with one write(2), so lines
 * from different threads never interleave. Safe to call from any thread.
 * Values and tokens are never logged by the library itself.
 */
#ifndef UNIQ_LOG_H
#define UNIQ_LOG_H

enum log_level { LOG_DEBUG = 0, LOG_INFO, LOG_WARN, LOG_ERROR, LOG_OFF };

/* Sets the program name printed on each line (default "uniqd") and the
 * lowest level written (default LOG_INFO). Call before starting threads. */
void log_setup(const char *prog, enum log_level min);

/* Writes one line at the given level. */
void log_msg(enum log_level level, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

/* Writes one access-log line ("... uniqd access: ..."), whatever the
 * level set by log_setup: access logging is switched on by its own
 * option, and a --quiet server that asked for it still wants it. */
void log_access(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* The text of an errno, negative or positive ("Success" for 0); thread
 * safe, unlike strerror(). */
const char *log_strerror(int err);

#define log_debug(...) log_msg(LOG_DEBUG, __VA_ARGS__)
#define log_info(...) log_msg(LOG_INFO, __VA_ARGS__)
#define log_warn(...) log_msg(LOG_WARN, __VA_ARGS__)
#define log_error(...) log_msg(LOG_ERROR, __VA_ARGS__)

#endif
