/*
 * router.c - route patterns compiled into segment lists, matched segment by
 * segment. A path matches with or without its trailing slash; an empty
 * segment in the middle ("a//b") matches nothing.
 *
 * The compiled table is built at start and then only read.
 */
#include "http/router.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util/arena.h"
#include "util/log.h"

#define MAX_SEGMENTS 16

enum seg_kind { SEG_LITERAL, SEG_INT, SEG_STR, SEG_SLUG, SEG_UUID };

struct segment {
    enum seg_kind kind;
    char *text; /* the literal, or the parameter name */
    size_t len;
};

struct compiled {
    const struct http_surface *surface;
    const struct route *route;
    int n;
    struct segment seg[MAX_SEGMENTS];
};

static struct compiled *table;
static size_t table_n, table_cap;
static const struct http_surface *mounted[16];
static size_t n_mounted;

/* Splits "/a/b/c/" into views of "a", "b", "c". Returns the count, or -1 when
 * there are too many segments or an empty one in the middle. */
static int split_path(const char *path, struct str *out)
{
    int n = 0;
    const char *p = path;
    if (*p == '/')
        p++;
    while (*p) {
        const char *slash = strchr(p, '/');
        size_t len = slash ? (size_t)(slash - p) : strlen(p);
        if (len == 0)
            return -1;
        if (n == MAX_SEGMENTS)
            return -1;
        out[n++] = (struct str){p, len};
        if (!slash)
            break;
        p = slash + 1;
    }
    return n;
}

static void free_segments(struct compiled *c, int n)
{
    for (int j = 0; j < n; j++)
        free(c->seg[j].text);
}

static bool compile(const struct http_surface *s, const struct route *r, struct compiled *c)
{
    size_t mlen = strlen(s->mount), plen = strlen(r->pattern);
    char *full = xmalloc(mlen + plen + 2);
    memcpy(full, s->mount, mlen);
    full[mlen] = '/';
    memcpy(full + mlen + 1, r->pattern, plen + 1);
    /* Collapse the joint's doubled slash. */
    char *w = full;
    for (const char *q = full; *q; q++)
        if (!(q[0] == '/' && q[1] == '/'))
            *w++ = *q;
    *w = '\0';

    bool ok = false;
    int done = 0;
    struct str parts[MAX_SEGMENTS];
    int n = split_path(full, parts);
    if (n < 0) {
        log_error("router: bad pattern %s", full);
        goto out;
    }
    c->surface = s;
    c->route = r;
    c->n = n;
    for (; done < n; done++) {
        struct str part = parts[done];
        struct segment *sg = &c->seg[done];
        if (part.n > 2 && part.p[0] == '<' && part.p[part.n - 1] == '>') {
            const char *colon = memchr(part.p, ':', part.n);
            if (!colon) {
                log_error("router: parameter without a type in %s", full);
                goto out;
            }
            struct str type = {part.p + 1, (size_t)(colon - part.p - 1)};
            if (str_eq_cstr(type, "int"))
                sg->kind = SEG_INT;
            else if (str_eq_cstr(type, "str"))
                sg->kind = SEG_STR;
            else if (str_eq_cstr(type, "slug"))
                sg->kind = SEG_SLUG;
            else if (str_eq_cstr(type, "uuid"))
                sg->kind = SEG_UUID;
            else {
                log_error("router: unknown parameter type in %s", full);
                goto out;
            }
            const char *name = colon + 1;
            sg->len = (size_t)(part.p + part.n - 1 - name);
            sg->text = xmalloc(sg->len + 1);
            memcpy(sg->text, name, sg->len);
            sg->text[sg->len] = '\0';
        } else {
            sg->kind = SEG_LITERAL;
            sg->len = part.n;
            sg->text = xmalloc(part.n + 1);
            memcpy(sg->text, part.p, part.n);
            sg->text[part.n] = '\0';
        }
    }
    ok = true;
out:
    if (!ok)
        free_segments(c, done);
    free(full);
    return ok;
}

bool router_mount(const struct http_surface *surface)
{
    if (n_mounted < sizeof(mounted) / sizeof(mounted[0]))
        mounted[n_mounted++] = surface;
    for (size_t i = 0; i < surface->n_routes; i++) {
        if (table_n == table_cap) {
            table_cap = table_cap ? table_cap * 2 : 64;
            table = xrealloc(table, table_cap * sizeof(*table));
        }
        if (!compile(surface, &surface->routes[i], &table[table_n]))
            return false;
        table_n++;
    }
    return true;
}

void router_reset(void)
{
    for (size_t i = 0; i < table_n; i++)
        free_segments(&table[i], table[i].n);
    free(table);
    table = NULL;
    table_n = table_cap = 0;
    n_mounted = 0;
}

static bool is_hex(char c)
{
    return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
}

static bool segment_matches(const struct segment *sg, struct str v)
{
    switch (sg->kind) {
    case SEG_LITERAL:
        return v.n == sg->len && memcmp(v.p, sg->text, v.n) == 0;
    case SEG_INT:
        if (v.n == 0 || v.n > 18) /* fits int64 without overflow checks */
            return false;
        for (size_t i = 0; i < v.n; i++)
            if (v.p[i] < '0' || v.p[i] > '9')
                return false;
        return true;
    case SEG_STR:
        return v.n > 0;
    case SEG_SLUG:
        for (size_t i = 0; i < v.n; i++) {
            char c = v.p[i];
            if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                  c == '-' || c == '_'))
                return false;
        }
        return v.n > 0;
    case SEG_UUID:
        if (v.n != 36)
            return false;
        for (size_t i = 0; i < 36; i++) {
            bool dash = i == 8 || i == 13 || i == 18 || i == 23;
            if (dash ? v.p[i] != '-' : !is_hex(v.p[i]))
                return false;
        }
        return true;
    }
    return false;
}

static bool path_matches(const struct compiled *c, const struct str *parts, int n,
                         struct router_match *m)
{
    if (c->n != n)
        return false;
    int np = 0;
    for (int i = 0; i < n; i++) {
        if (!segment_matches(&c->seg[i], parts[i]))
            return false;
        if (c->seg[i].kind != SEG_LITERAL) {
            if (np == HTTP_MAX_PARAMS)
                return false;
            m->param_names[np] = c->seg[i].text;
            m->param_values[np] = parts[i];
            np++;
        }
    }
    m->n_params = np;
    return true;
}

static const char *const method_order[] = {"GET", "POST", "PUT", "PATCH", "DELETE"};

/* The surface whose mount is the longest prefix of path ("/" does not
 * count): an unknown path under /api/accounts/ is answered in that
 * surface's error shape. */
static const struct http_surface *surface_of_path(const char *path)
{
    const struct http_surface *best = NULL;
    size_t best_len = 1;
    for (size_t i = 0; i < n_mounted; i++) {
        size_t n = strlen(mounted[i]->mount);
        if (n > best_len && strncmp(path, mounted[i]->mount, n) == 0) {
            best = mounted[i];
            best_len = n;
        }
    }
    return best;
}

enum router_result router_match(const char *method, const char *path, struct router_match *m)
{
    struct str parts[MAX_SEGMENTS];
    int n = split_path(path, parts);
    memset(m, 0, sizeof(*m));
    if (n < 0) {
        m->surface = surface_of_path(path);
        return ROUTER_NOT_FOUND;
    }
    const char *want = strcmp(method, "HEAD") == 0 ? "GET" : method;
    unsigned allowed = 0; /* bit i: method_order[i] */
    bool any = false;
    struct router_match probe;
    for (size_t i = 0; i < table_n; i++) {
        const struct compiled *c = &table[i];
        if (!path_matches(c, parts, n, &probe))
            continue;
        if (!any) {
            any = true;
            *m = probe;
            m->surface = c->surface;
        }
        if (strcmp(c->route->method, want) == 0) {
            *m = probe;
            m->surface = c->surface;
            m->route = c->route;
            return ROUTER_FOUND;
        }
        for (size_t k = 0; k < sizeof(method_order) / sizeof(method_order[0]); k++)
            if (strcmp(c->route->method, method_order[k]) == 0)
                allowed |= 1u << k;
    }
    if (!any) {
        m->surface = surface_of_path(path);
        return ROUTER_NOT_FOUND;
    }
    m->route = NULL;
    size_t off = 0;
    for (size_t k = 0; k < sizeof(method_order) / sizeof(method_order[0]); k++) {
        if (!(allowed & (1u << k)))
            continue;
        off += (size_t)snprintf(m->allow + off, sizeof(m->allow) - off, "%s, ", method_order[k]);
        if (k == 0)
            off += (size_t)snprintf(m->allow + off, sizeof(m->allow) - off, "HEAD, ");
    }
    snprintf(m->allow + off, sizeof(m->allow) - off, "OPTIONS");
    return ROUTER_BAD_METHOD;
}
