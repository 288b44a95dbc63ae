/*
 * arena.c - chunked bump allocator with cleanup callbacks; the x*alloc wrappers.
 *
 * Invariants: chunks form a singly linked list, newest first; the oldest chunk
 * (the one created with the arena) survives arena_reset so that a reused arena
 * costs no malloc for small requests. Requests larger than a chunk get a chunk
 * of their own.
 */
#include "util/arena.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util/log.h"

#define ARENA_CHUNK 8192
#define ARENA_ALIGN _Alignof(max_align_t)

struct chunk {
    struct chunk *next;
    size_t size; /* usable bytes after the header */
    size_t used;
    max_align_t data[];
};

struct cleanup {
    struct cleanup *next;
    void (*fn)(void *);
    void *data;
};

struct arena {
    struct chunk *chunks;
    struct chunk *first; /* created with the arena; kept by arena_reset */
    struct cleanup *cleanups;
    size_t total;
};

static _Noreturn void oom(size_t n, const char *file, int line)
{
    log_error("out of memory allocating %zu bytes at %s:%d", n, file, line);
    abort();
}

void *xmalloc_at(size_t n, const char *file, int line)
{
    void *p = malloc(n ? n : 1);
    if (p == NULL)
        oom(n, file, line);
    return p;
}

void *xcalloc_at(size_t count, size_t n, const char *file, int line)
{
    void *p = calloc(count ? count : 1, n ? n : 1);
    if (p == NULL)
        oom(count * n, file, line);
    return p;
}

void *xrealloc_at(void *p, size_t n, const char *file, int line)
{
    void *q = realloc(p, n ? n : 1);
    if (q == NULL)
        oom(n, file, line);
    return q;
}

char *xstrdup_at(const char *s, const char *file, int line)
{
    size_t n = strlen(s) + 1;
    char *p = xmalloc_at(n, file, line);
    memcpy(p, s, n);
    return p;
}

void secure_wipe(void *p, size_t n)
{
    volatile unsigned char *v = p;
    while (n--)
        *v++ = 0;
}

static struct chunk *chunk_new(size_t size)
{
    struct chunk *c = xmalloc(sizeof(*c) + size);
    c->next = NULL;
    c->size = size;
    c->used = 0;
    return c;
}

struct arena *arena_create(void)
{
    struct arena *a = xmalloc(sizeof(*a));
    a->chunks = a->first = chunk_new(ARENA_CHUNK - sizeof(struct chunk));
    a->cleanups = NULL;
    a->total = 0;
    return a;
}

static void run_cleanups(struct arena *a)
{
    /* A cleanup may register another one (rare); loop until none are left. */
    while (a->cleanups != NULL) {
        struct cleanup *c = a->cleanups;
        a->cleanups = NULL;
        for (; c != NULL; c = c->next)
            c->fn(c->data);
    }
}

void arena_reset(struct arena *a)
{
    run_cleanups(a);
    /* The first chunk is not necessarily last in the list: a big request made
     * while it was the only chunk is linked behind it. */
    for (struct chunk *c = a->chunks, *next; c != NULL; c = next) {
        next = c->next;
        if (c != a->first)
            free(c);
    }
    a->first->next = NULL;
    a->first->used = 0;
    a->chunks = a->first;
    a->total = 0;
}

void arena_destroy(struct arena *a)
{
    if (a == NULL)
        return;
    arena_reset(a);
    free(a->chunks);
    free(a);
}

void *arena_alloc(struct arena *a, size_t n)
{
    /* Rounding up below would wrap a huge n to a tiny allocation. */
    if (n > SIZE_MAX / 2)
        oom(n, __FILE__, __LINE__);
    size_t need = (n + ARENA_ALIGN - 1) & ~(size_t)(ARENA_ALIGN - 1);
    if (need == 0)
        need = ARENA_ALIGN;
    struct chunk *c = a->chunks;
    if (c->size - c->used < need) {
        size_t size = ARENA_CHUNK - sizeof(struct chunk);
        if (need > size / 4) {
            /* Big request: its own chunk, linked behind the current one so the
             * current chunk keeps serving small requests. */
            struct chunk *big = chunk_new(need);
            big->used = need;
            big->next = c->next;
            c->next = big;
            a->total += need;
            return big->data;
        }
        c = chunk_new(size);
        c->next = a->chunks;
        a->chunks = c;
    }
    void *p = (char *)c->data + c->used;
    c->used += need;
    a->total += need;
    return p;
}

void *arena_zalloc(struct arena *a, size_t n)
{
    void *p = arena_alloc(a, n);
    memset(p, 0, n);
    return p;
}

char *arena_strndup(struct arena *a, const char *s, size_t n)
{
    char *p = arena_alloc(a, n + 1);
    memcpy(p, s, n);
    p[n] = '\0';
    return p;
}

char *arena_strdup(struct arena *a, const char *s)
{
    return arena_strndup(a, s, strlen(s));
}

char *arena_vsprintf(struct arena *a, const char *fmt, va_list ap)
{
    va_list copy;
    va_copy(copy, ap);
    int n = vsnprintf(NULL, 0, fmt, copy);
    va_end(copy);
    if (n < 0)
        n = 0;
    char *p = arena_alloc(a, (size_t)n + 1);
    vsnprintf(p, (size_t)n + 1, fmt, ap);
    return p;
}

char *arena_sprintf(struct arena *a, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    char *p = arena_vsprintf(a, fmt, ap);
    va_end(ap);
    return p;
}

void arena_cleanup_add(struct arena *a, void (*fn)(void *), void *data)
{
    struct cleanup *c = arena_alloc(a, sizeof(*c));
    c->fn = fn;
    c->data = data;
    c->next = a->cleanups;
    a->cleanups = c;
}

size_t arena_used(const struct arena *a)
{
    return a->total;
}
