/*
 * paginate.c - DRF's PageNumberPagination: ?page= and ?page_size= read and
 * checked, and the {"count", "next", "previous", "results"} envelope with
 * absolute next/previous URLs built from SHOPD_PUBLIC_URL, the request path
 * and its query string (page replaced, everything else kept in order).
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <json-c/json.h>
#include <microhttpd.h>

#include "http/internal.h"
#include "util/arena.h"
#include "util/config.h"

bool http_page_params(struct http_request *req, int64_t default_size, int64_t max_size,
                      struct http_page *page)
{
    page->number = 1;
    page->size = default_size;
    const char *p = http_query(req, "page");
    if (p != NULL && *p != '\0') {
        int64_t v;
        if (strcmp(p, "last") != 0 && (!str_to_int64(str_from(p), &v) || v < 1)) {
            http_reply_error(req, 404, "NOT_FOUND", "Invalid page.");
            return false;
        }
        page->number = strcmp(p, "last") == 0 ? -1 : v;
    }
    const char *s = http_query(req, "page_size");
    if (s != NULL && *s != '\0') {
        int64_t v;
        /* DRF ignores a page_size it cannot use and caps a large one. */
        if (str_to_int64(str_from(s), &v) && v > 0)
            page->size = v > max_size ? max_size : v;
    }
    /* A page whose offset would not fit in 64 bits cannot exist. */
    if (page->number > 0 && page->number - 1 > INT64_MAX / page->size) {
        http_reply_error(req, 404, "NOT_FOUND", "Invalid page.");
        return false;
    }
    return true;
}

bool http_page_check(struct http_request *req, struct http_page *page, int64_t count)
{
    int64_t pages = count == 0 ? 1 : (count + page->size - 1) / page->size;
    if (page->number == -1)
        page->number = pages;
    if (page->number > pages) {
        http_reply_error(req, 404, "NOT_FOUND", "Invalid page.");
        return false;
    }
    return true;
}

struct query_arg {
    struct buf *b;
    int64_t page; /* 0: leave page out */
    bool wrote_page;
};

static void append_escaped(struct buf *b, const char *s)
{
    static const char hex[] = "0123456789ABCDEF";
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        if ((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9') ||
            *p == '-' || *p == '_' || *p == '.' || *p == '~') {
            buf_append_char(b, (char)*p);
        } else {
            buf_append_char(b, '%');
            buf_append_char(b, hex[*p >> 4]);
            buf_append_char(b, hex[*p & 15]);
        }
    }
}

static void append_pair(struct query_arg *q, const char *key, const char *value)
{
    if (q->b->p[q->b->n - 1] != '?')
        buf_append_char(q->b, '&');
    append_escaped(q->b, key);
    if (value != NULL) {
        buf_append_char(q->b, '=');
        append_escaped(q->b, value);
    }
}

static enum MHD_Result copy_arg(void *cls, enum MHD_ValueKind kind, const char *key,
                                const char *value)
{
    struct query_arg *q = cls;
    if (strcmp(key, "page") == 0) {
        if (q->page > 1) {
            char num[24];
            snprintf(num, sizeof(num), "%lld", (long long)q->page);
            append_pair(q, "page", num);
        }
        q->wrote_page = true;
        return MHD_YES;
    }
    append_pair(q, key, value);
    return MHD_YES;
}

/* The URL of page n of this listing, as DRF writes it (page 1 leaves the
 * page parameter out). */
static const char *page_url(struct http_request *req, int64_t n)
{
    struct buf b;
    buf_init_arena(&b, req->arena);
    buf_append_str(&b, req->ctx.cfg->public_url);
    buf_append_str(&b, req->path);
    buf_append_char(&b, '?');
    struct query_arg q = {.b = &b, .page = n};
    MHD_get_connection_values(req->conn, MHD_GET_ARGUMENT_KIND, copy_arg, &q);
    if (!q.wrote_page && n > 1) {
        char num[24];
        snprintf(num, sizeof(num), "%lld", (long long)n);
        append_pair(&q, "page", num);
    }
    if (b.p[b.n - 1] == '?')
        b.n--;
    return buf_cstr(&b);
}

struct json_object *http_page_envelope(struct http_request *req, const struct http_page *page,
                                       int64_t count, struct json_object *results)
{
    int64_t pages = count == 0 ? 1 : (count + page->size - 1) / page->size;
    struct json_object *obj = json_object_new_object();
    json_object_object_add(obj, "count", json_object_new_int64(count));
    json_object_object_add(obj, "next",
                           page->number < pages
                               ? json_object_new_string(page_url(req, page->number + 1))
                               : NULL);
    json_object_object_add(obj, "previous",
                           page->number > 1
                               ? json_object_new_string(page_url(req, page->number - 1))
                               : NULL);
    json_object_object_add(obj, "results", results);
    return obj;
}
