/*
 * log.c - see log.h. The level is a process-wide atomic so the hot path
 * (log_enabled) is one relaxed load. Warnings and errors are one write(2)
 * each; access lines are batched by a writer thread.
 */
#include "util/log.h"

#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static atomic_int current_level = LOG_INFO;

static const char *const level_names[] = {"debug", "info", "warn", "error"};

void log_set_level(enum log_level level)
{
    atomic_store_explicit(&current_level, (int)level, memory_order_relaxed);
}

enum log_level log_get_level(void)
{
    return (enum log_level)atomic_load_explicit(&current_level, memory_order_relaxed);
}

int log_level_parse(const char *name)
{
    for (int i = 0; i < (int)(sizeof(level_names) / sizeof(level_names[0])); i++)
        if (strcmp(name, level_names[i]) == 0)
            return i;
    return -1;
}

int log_enabled(enum log_level level)
{
    return (int)level >= atomic_load_explicit(&current_level, memory_order_relaxed);
}

/* "2024-01-01T00:00:00.123Z info ": gmtime_r takes glibc's time-zone lock,
 * so each thread keeps the formatted second and only adds milliseconds. */
static int format_prefix(char *out, size_t cap, enum log_level level)
{
    static _Thread_local time_t cached_sec = -1;
    static _Thread_local char cached[64];
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    if (ts.tv_sec != cached_sec) {
        struct tm tm;
        gmtime_r(&ts.tv_sec, &tm);
        snprintf(cached, sizeof(cached), "%04d-%02d-%02dT%02d:%02d:%02d", tm.tm_year + 1900,
                 tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec);
        cached_sec = ts.tv_sec;
    }
    return snprintf(out, cap, "%s.%03ldZ %s ", cached, ts.tv_nsec / 1000000, level_names[level]);
}

static size_t format_line(char *line, size_t cap, enum log_level level, const char *fmt,
                          va_list ap)
{
    int n = format_prefix(line, cap, level);
    int m = vsnprintf(line + n, cap - (size_t)n - 1, fmt, ap);
    size_t len = (size_t)n + (m < 0 ? 0 : (size_t)m);
    if (len > cap - 2)
        len = cap - 2;
    line[len++] = '\n';
    return len;
}

static void write_all(const char *p, size_t n)
{
    while (n > 0) {
        ssize_t w = write(STDERR_FILENO, p, n);
        if (w <= 0)
            return;
        p += w;
        n -= (size_t)w;
    }
}

void log_write(enum log_level level, const char *fmt, ...)
{
    if (!log_enabled(level))
        return;
    char line[2048];
    va_list ap;
    va_start(ap, fmt);
    size_t len = format_line(line, sizeof(line), level, fmt, ap);
    va_end(ap);
    write_all(line, len);
}

/* ---- the buffered access log ---- */

#define ACCESS_BUF (64 * 1024)
#define ACCESS_FLUSH_MS 100

static struct {
    pthread_mutex_t lock;
    pthread_cond_t wake;
    char buf[ACCESS_BUF];
    size_t used;
    bool running;
    bool stopping;
    pthread_t writer;
} access_log = {.lock = PTHREAD_MUTEX_INITIALIZER, .wake = PTHREAD_COND_INITIALIZER};

/* Takes the buffer's content out under the lock and writes it outside it. */
static void flush_locked_then_write(char *tmp)
{
    size_t n = access_log.used;
    memcpy(tmp, access_log.buf, n);
    access_log.used = 0;
    pthread_mutex_unlock(&access_log.lock);
    write_all(tmp, n);
    pthread_mutex_lock(&access_log.lock);
}

static void *access_writer(void *arg)
{
    (void)arg;
    static char tmp[ACCESS_BUF];
    pthread_mutex_lock(&access_log.lock);
    while (!access_log.stopping) {
        struct timespec until;
        clock_gettime(CLOCK_REALTIME, &until);
        until.tv_nsec += ACCESS_FLUSH_MS * 1000000L;
        if (until.tv_nsec >= 1000000000L) {
            until.tv_sec++;
            until.tv_nsec -= 1000000000L;
        }
        pthread_cond_timedwait(&access_log.wake, &access_log.lock, &until);
        if (access_log.used > 0)
            flush_locked_then_write(tmp);
    }
    if (access_log.used > 0)
        flush_locked_then_write(tmp);
    pthread_mutex_unlock(&access_log.lock);
    return NULL;
}

void log_async_start(void)
{
    pthread_mutex_lock(&access_log.lock);
    if (!access_log.running) {
        access_log.stopping = false;
        access_log.running =
            pthread_create(&access_log.writer, NULL, access_writer, NULL) == 0;
    }
    pthread_mutex_unlock(&access_log.lock);
}

void log_async_stop(void)
{
    pthread_mutex_lock(&access_log.lock);
    if (!access_log.running) {
        pthread_mutex_unlock(&access_log.lock);
        return;
    }
    access_log.stopping = true;
    pthread_cond_signal(&access_log.wake);
    pthread_mutex_unlock(&access_log.lock);
    pthread_join(access_log.writer, NULL);
    pthread_mutex_lock(&access_log.lock);
    access_log.running = false;
    pthread_mutex_unlock(&access_log.lock);
}

void log_access(const char *fmt, ...)
{
    if (!log_enabled(LOG_INFO))
        return;
    char line[1024];
    va_list ap;
    va_start(ap, fmt);
    size_t len = format_line(line, sizeof(line), LOG_INFO, fmt, ap);
    va_end(ap);
    pthread_mutex_lock(&access_log.lock);
    if (!access_log.running) {
        pthread_mutex_unlock(&access_log.lock);
        write_all(line, len);
        return;
    }
    if (access_log.used + len > ACCESS_BUF) {
        /* Full: the writer flushes now; this line waits its turn. */
        pthread_cond_signal(&access_log.wake);
        pthread_mutex_unlock(&access_log.lock);
        write_all(line, len);
        return;
    }
    memcpy(access_log.buf + access_log.used, line, len);
    access_log.used += len;
    pthread_mutex_unlock(&access_log.lock);
}
