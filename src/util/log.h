/*
 * log.h - leveled logging to stderr, one write(2) per line so lines from
 * different threads never interleave.
 */
#ifndef SHOPD_UTIL_LOG_H
#define SHOPD_UTIL_LOG_H

enum log_level { LOG_DEBUG, LOG_INFO, LOG_WARN, LOG_ERROR };

void log_set_level(enum log_level level);
enum log_level log_get_level(void);
/* Parses "debug", "info", "warn", "error"; returns -1 when unknown. */
int log_level_parse(const char *name);
int log_enabled(enum log_level level);
void log_write(enum log_level level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* The access log: one line per request at info, the hot path of every
 * request. Once log_async_start has run, lines go to a buffer that a writer
 * thread flushes every 100 ms or when it fills (a crash may lose the last
 * 100 ms of access lines, never a warning or an error: those are written
 * at once). log_async_stop flushes and stops the writer. */
void log_access(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void log_async_start(void);
void log_async_stop(void);

#define log_debug(...) (log_enabled(LOG_DEBUG) ? log_write(LOG_DEBUG, __VA_ARGS__) : (void)0)
#define log_info(...) (log_enabled(LOG_INFO) ? log_write(LOG_INFO, __VA_ARGS__) : (void)0)
#define log_warn(...) log_write(LOG_WARN, __VA_ARGS__)
#define log_error(...) log_write(LOG_ERROR, __VA_ARGS__)

#endif
