/*
 * str.c - see str.h.
 */
#include "util/str.h"

#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util/arena.h"

struct str str_from(const char *cstr)
{
    if (cstr == NULL)
        return STR_NULL;
    return (struct str){cstr, strlen(cstr)};
}

bool str_eq(struct str a, struct str b)
{
    return a.n == b.n && (a.n == 0 || memcmp(a.p, b.p, a.n) == 0);
}

bool str_eq_cstr(struct str a, const char *b)
{
    return b != NULL && str_eq(a, str_from(b));
}

static int ascii_lower(int c)
{
    return (c >= 'A' && c <= 'Z') ? c + ('a' - 'A') : c;
}

bool str_case_eq(struct str a, struct str b)
{
    if (a.n != b.n)
        return false;
    for (size_t i = 0; i < a.n; i++)
        if (ascii_lower((unsigned char)a.p[i]) != ascii_lower((unsigned char)b.p[i]))
            return false;
    return true;
}

bool str_starts_with(struct str s, struct str prefix)
{
    /* memcmp with a NULL view is undefined even for 0 bytes; str_eq guards too. */
    return s.n >= prefix.n && (prefix.n == 0 || memcmp(s.p, prefix.p, prefix.n) == 0);
}

char *str_dup(struct arena *a, struct str s)
{
    return arena_strndup(a, s.p ? s.p : "", s.n);
}

bool str_ct_eq(const void *a, size_t an, const void *b, size_t bn)
{
    if (an != bn)
        return false;
    const volatile unsigned char *x = a, *y = b;
    unsigned char diff = 0;
    for (size_t i = 0; i < an; i++)
        diff |= x[i] ^ y[i];
    return diff == 0;
}

bool str_to_int64(struct str s, int64_t *out)
{
    size_t i = 0;
    bool negative = false;
    if (s.n == 0)
        return false;
    if (s.p[0] == '-' || s.p[0] == '+') {
        negative = s.p[0] == '-';
        i = 1;
        if (s.n == 1)
            return false;
    }
    uint64_t v = 0;
    uint64_t limit = negative ? (uint64_t)INT64_MAX + 1 : (uint64_t)INT64_MAX;
    for (; i < s.n; i++) {
        char c = s.p[i];
        if (c < '0' || c > '9')
            return false;
        unsigned d = (unsigned)(c - '0');
        if (v > (limit - d) / 10)
            return false;
        v = v * 10 + d;
    }
    *out = negative ? (int64_t)(0 - v) : (int64_t)v;
    return true;
}

struct str str_trim(struct str s)
{
    while (s.n > 0 && (s.p[0] == ' ' || s.p[0] == '\t' || s.p[0] == '\n' || s.p[0] == '\r')) {
        s.p++;
        s.n--;
    }
    while (s.n > 0 && (s.p[s.n - 1] == ' ' || s.p[s.n - 1] == '\t' || s.p[s.n - 1] == '\n' ||
                       s.p[s.n - 1] == '\r'))
        s.n--;
    return s;
}

char *str_lower(struct arena *a, const char *s)
{
    char *out = arena_strdup(a, s);
    for (char *p = out; *p; p++)
        *p = (char)ascii_lower((unsigned char)*p);
    return out;
}

void buf_init(struct buf *b)
{
    b->p = NULL;
    b->n = 0;
    b->cap = 0;
    b->arena = NULL;
}

void buf_init_arena(struct buf *b, struct arena *a)
{
    buf_init(b);
    b->arena = a;
}

void buf_reserve(struct buf *b, size_t extra)
{
    size_t need = b->n + extra + 1; /* room for a NUL */
    if (need <= b->cap)
        return;
    size_t cap = b->cap ? b->cap : 256;
    while (cap < need)
        cap *= 2;
    if (b->arena != NULL) {
        char *p = arena_alloc(b->arena, cap);
        if (b->n)
            memcpy(p, b->p, b->n);
        b->p = p;
    } else {
        b->p = xrealloc(b->p, cap);
    }
    b->cap = cap;
}

void buf_append(struct buf *b, const void *p, size_t n)
{
    buf_reserve(b, n);
    if (n)
        memcpy(b->p + b->n, p, n);
    b->n += n;
}

void buf_append_str(struct buf *b, const char *s)
{
    buf_append(b, s, strlen(s));
}

void buf_append_char(struct buf *b, char c)
{
    buf_reserve(b, 1);
    b->p[b->n++] = c;
}

void buf_printf(struct buf *b, const char *fmt, ...)
{
    va_list ap, copy;
    va_start(ap, fmt);
    va_copy(copy, ap);
    int n = vsnprintf(NULL, 0, fmt, copy);
    va_end(copy);
    if (n > 0) {
        buf_reserve(b, (size_t)n);
        vsnprintf(b->p + b->n, (size_t)n + 1, fmt, ap);
        b->n += (size_t)n;
    }
    va_end(ap);
}

const char *buf_cstr(struct buf *b)
{
    buf_reserve(b, 0);
    b->p[b->n] = '\0';
    return b->p;
}

void buf_free(struct buf *b)
{
    if (b->arena == NULL)
        free(b->p);
    buf_init(b);
}

char *str_html_escape(struct arena *a, const char *s)
{
    struct buf b;
    buf_init_arena(&b, a);
    for (s = s != NULL ? s : ""; *s != '\0'; s++) {
        switch (*s) {
        case '<':
            buf_append_str(&b, "&lt;");
            break;
        case '>':
            buf_append_str(&b, "&gt;");
            break;
        case '&':
            buf_append_str(&b, "&amp;");
            break;
        case '"':
            buf_append_str(&b, "&quot;");
            break;
        case '\'':
            buf_append_str(&b, "&#39;");
            break;
        default:
            buf_append_char(&b, *s);
        }
    }
    return (char *)buf_cstr(&b);
}
