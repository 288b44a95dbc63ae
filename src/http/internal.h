/*
 * internal.h - the per-request state private to src/http: the exchange wraps
 * the http_request a handler sees with what the server needs to receive the
 * body and send the reply.
 */
#ifndef SHOPD_HTTP_INTERNAL_H
#define SHOPD_HTTP_INTERNAL_H

#include <stdbool.h>
#include <stdint.h>

#include <json-c/json_tokener.h>

#include "http/http.h"
#include "http/router.h"
#include "util/str.h"

struct arena;
struct json_object;

enum exchange_state {
    EX_RECEIVING, /* headers seen, body arriving */
    EX_SUSPENDED, /* handler running on the hash pool */
    EX_DONE,      /* reply ready, not yet queued */
    EX_QUEUED,    /* reply handed to libmicrohttpd */
};

struct reply_header {
    struct reply_header *next;
    const char *name;
    const char *value;
};

struct http_exchange {
    struct http_request req; /* first: handlers get &ex->req */
    enum exchange_state state;
    struct buf body;
    bool body_too_large;
    struct json_object *body_obj;
    enum router_result route_result;
    struct router_match match;
    int64_t start_us;
    /* the reply */
    bool replied;
    int status;
    struct json_object *reply_obj; /* serialised when queued */
    const char *reply_type;
    char *reply_bytes;
    size_t reply_len;
    struct reply_header *headers;
    /* multipart files (ROUTE_UPLOAD) */
    struct http_file *files;
    size_t n_files;
    int64_t ratelimit_remaining;
#define RATELIMIT_MAX_RULES 4
    int n_rl;
    const char *rl_names[RATELIMIT_MAX_RULES];
    int64_t rl_remaining[RATELIMIT_MAX_RULES];
};

static inline struct http_exchange *exchange_of(struct http_request *req)
{
    return (struct http_exchange *)req;
}

/* request.c: reads the body into req according to its content type; answers
 * 400 / 413 / 415 itself and returns false when the body cannot be used. */
bool request_parse_body(struct http_exchange *ex);
/* request.c: checks the Authorization header for the route; answers 401 and
 * returns false when the route cannot run. */
bool request_authenticate(struct http_exchange *ex);

/* request.c: for ROUTE_VERIFIED routes, answers 403 and returns false
 * when the user's email is not verified. */
bool request_require_verified(struct http_exchange *ex);

/* body.c: parses text[0..n) (NUL-terminated at n) as one strict JSON value
 * followed only by white space. True: *out is the value, which the caller
 * releases with json_object_put (NULL for a JSON null), and *err is
 * json_tokener_success. False: *out is NULL and *err says why. Any JSON type
 * is accepted; requiring an object is the caller's business. */
bool request_json_parse(const char *text, size_t n, struct json_object **out,
                        enum json_tokener_error *err);
/* body.c: adds the fields of an x-www-form-urlencoded body p[0..n) to obj as
 * strings (a repeated field keeps its last value; empty names are skipped).
 * False, with *error a static message, when the body holds a NUL byte or
 * a field name decodes to one (%00). */
bool request_form_parse(struct arena *a, const char *p, size_t n, struct json_object *obj,
                        const char **error);

/* ratelimit.c: applies SHOPD_RATE_LIMITS once at start; then checks the
 * route's rules, answering 429 with Retry-After and returning false when a
 * limit is reached. */
void ratelimit_configure(const char *overrides);
bool ratelimit_check(struct http_exchange *ex);

/* media.c: GET /media/<folder>/<file> */
void media_serve(struct http_request *req);

/* cors.c */
void cors_init(const char *origins);
void cors_free(void);
bool cors_origin_allowed(const char *origin);

#endif
