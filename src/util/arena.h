/*
 * arena.h - per-request region allocator and fatal-on-OOM allocation wrappers.
 *
 * An arena hands out memory from large chunks and frees it all in one call
 * (arena_destroy / arena_reset). Things that must be released in another way
 * (statements, json-c objects, files) are registered with arena_cleanup_add and
 * run, newest first, when the arena is reset or destroyed. Allocation never
 * returns NULL: running out of memory is fatal and logged with file:line.
 */
#ifndef SHOPD_UTIL_ARENA_H
#define SHOPD_UTIL_ARENA_H

#include <stdarg.h>
#include <stddef.h>

struct arena;

void *xmalloc_at(size_t n, const char *file, int line);
void *xcalloc_at(size_t count, size_t n, const char *file, int line);
void *xrealloc_at(void *p, size_t n, const char *file, int line);
char *xstrdup_at(const char *s, const char *file, int line);
#define xmalloc(n) xmalloc_at((n), __FILE__, __LINE__)
#define xcalloc(c, n) xcalloc_at((c), (n), __FILE__, __LINE__)
#define xrealloc(p, n) xrealloc_at((p), (n), __FILE__, __LINE__)
#define xstrdup(s) xstrdup_at((s), __FILE__, __LINE__)

/* Overwrites n bytes in a way the compiler may not elide (passwords, keys). */
void secure_wipe(void *p, size_t n);

struct arena *arena_create(void);
void arena_destroy(struct arena *a);
/* Runs the cleanups and forgets every allocation, keeping the first chunk. */
void arena_reset(struct arena *a);

void *arena_alloc(struct arena *a, size_t n);   /* aligned for any type */
void *arena_zalloc(struct arena *a, size_t n);  /* zero-filled */
char *arena_strdup(struct arena *a, const char *s);
char *arena_strndup(struct arena *a, const char *s, size_t n);
char *arena_sprintf(struct arena *a, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
char *arena_vsprintf(struct arena *a, const char *fmt, va_list ap)
    __attribute__((format(printf, 2, 0)));

/* Registers fn(data) to run when the arena is reset or destroyed. */
void arena_cleanup_add(struct arena *a, void (*fn)(void *), void *data);

/* Total bytes handed out since creation or the last reset (for tests). */
size_t arena_used(const struct arena *a);

#endif
