/*
 * http.h - what a surface (src/api/<surface>) sees of HTTP: the request, the
 * route table it declares, and the calls that build a response.
 *
 * A request lives in its own arena (req->arena), freed in one call when the
 * response has been queued and sent. Handlers run either on an HTTP worker
 * thread or, for routes flagged ROUTE_SLOW (password hashing), on the hash
 * pool with the connection suspended; either way req->ctx.db is the calling
 * thread's own database connection. A handler answers by calling exactly one
 * http_reply_* function; a handler that answers nothing is a bug and gets a
 * 500.
 */
#ifndef SHOPD_HTTP_HTTP_H
#define SHOPD_HTTP_HTTP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/core.h"
#include "core/user.h"
#include "util/str.h"

struct json_object;
struct http_request;
struct http_surface;

typedef void (*http_handler)(struct http_request *req);

enum route_flags {
    ROUTE_PUBLIC = 0,
    ROUTE_AUTH = 1u << 0,    /* a valid access token is required */
    ROUTE_SLOW = 1u << 1,    /* runs on the hash pool (hashes a password) */
    ROUTE_NO_AUTH = 1u << 2, /* ignore any Authorization header (token endpoints) */
    ROUTE_UPLOAD = 1u << 3,  /* multipart/form-data accepted; body up to SHOPD_MAX_UPLOAD_BYTES */
    ROUTE_VERIFICATION = 1u << 4, /* a verification token authenticates too (resend email) */
    ROUTE_VERIFIED = 1u << 5, /* the user's email must be verified (403 otherwise) */
};

/* One row of a surface's route table. pattern is relative to the surface's
 * mount and may hold typed parameters: <int:id>, <str:name>, <slug:name>,
 * <uuid:name>. A trailing slash is optional when matching. */
struct route {
    const char *method; /* "GET", "POST", "PUT", "PATCH", "DELETE" */
    const char *pattern;
    http_handler handler;
    unsigned flags;
    const char *ratelimit; /* name of a rule group in ratelimit.c, or NULL */
};

enum auth_failure {
    AUTH_MISSING,        /* no credentials */
    AUTH_BAD_HEADER,     /* "Bearer" without a token, or extra parts */
    AUTH_INVALID,        /* bad signature, expired, malformed, revoked */
    AUTH_WRONG_TYPE,     /* a refresh token used as an access token */
    AUTH_USER_NOT_FOUND,
    AUTH_USER_INACTIVE,
};

/* A surface: its mount point, its routes, and optional renderers for the
 * answers the http layer gives on its behalf (NULL: the DRF/simplejwt shapes
 * of DESIGN.md). */
struct http_surface {
    const char *name;  /* "v1", "shop", ... */
    const char *mount; /* "/api/v1/" */
    const struct route *routes;
    size_t n_routes;
    void (*render_auth_failure)(struct http_request *req, enum auth_failure why);
    /* Answers the http layer gives in the surface's error shape, with a
     * code: 400 PARSE_ERROR, 403 EMAIL_NOT_VERIFIED, 404 NOT_FOUND (also for
     * unknown paths under the mount), 405 METHOD_NOT_ALLOWED, 413
     * PAYLOAD_TOO_LARGE, 415 UNSUPPORTED_MEDIA_TYPE, 429 RATE_LIMITED, 500
     * SERVER_ERROR, 503 SERVICE_UNAVAILABLE. NULL: {"detail": message}. */
    void (*render_error)(struct http_request *req, int status, const char *code,
                         const char *message);
};

/* A file from a multipart/form-data body. */
struct http_file {
    const char *field;
    const char *filename;     /* as the client named it; never trusted as a path */
    const char *content_type; /* as the client declared it; never trusted */
    const unsigned char *data;
    size_t len;
};

#define HTTP_MAX_PARAMS 6

struct http_request {
    struct arena *arena;
    struct ctx ctx;      /* db, arena, cfg, clock, user (NULL unless authenticated) */
    struct user user;    /* storage behind ctx.user */
    const char *method;
    const char *path;    /* decoded, without the query string */
    struct str body;
    const char *content_type; /* media type only, lower-case, no parameters; NULL if absent */
    const struct http_surface *surface;
    const struct route *route;
    int n_params;
    const char *param_names[HTTP_MAX_PARAMS];
    const char *param_values[HTTP_MAX_PARAMS];
    void *conn; /* the libmicrohttpd connection; for src/http only */
};

/* ---- reading the request ---- */

/* The body as a JSON object: parsed JSON, or form fields as strings. Never
 * NULL: an empty body gives an empty object. Valid until the request ends.
 * The server has already answered 400/415 for bodies that cannot be read. */
struct json_object *http_body(struct http_request *req);
/* A request header or query-string value; NULL when absent. */
const char *http_header(struct http_request *req, const char *name);
const char *http_query(struct http_request *req, const char *name);
/* Route parameters by name; http_param_int is only valid for <int:...>. */
const char *http_param(struct http_request *req, const char *name);
int64_t http_param_int(struct http_request *req, const char *name);
/* A file field of a multipart body (ROUTE_UPLOAD routes); NULL when absent.
 * The other multipart fields appear in http_body as strings. */
const struct http_file *http_file(struct http_request *req, const char *field);
/* After the rate limiter ran: how many more requests the tightest rule of the
 * route allows in its window (-1 when the route has no rule). */
int64_t http_ratelimit_remaining(struct http_request *req);
/* The same for one named rule of the route's group (-1: not applied). */
int64_t http_ratelimit_remaining_rule(struct http_request *req, const char *rule);
/* The client's address as text ("127.0.0.1"). */
const char *http_client_ip(struct http_request *req);
/* The bearer token from the Authorization header (STR_NULL when absent). */
struct str http_bearer_token(struct http_request *req);

/* ---- answering ---- */

/* Serialises obj and takes ownership of it (the caller must not put it). */
void http_reply_json(struct http_request *req, int status, struct json_object *obj);
/* {"detail": message} */
void http_reply_detail(struct http_request *req, int status, const char *message);
/* Raw bytes (copied). */
void http_reply_bytes(struct http_request *req, int status, const char *content_type,
                      const void *bytes, size_t n);
/* Adds a response header (name and value are copied). Call before or after
 * the reply; both work until the handler returns. */
void http_add_header(struct http_request *req, const char *name, const char *value);
/* The 500 every storage failure becomes, in the surface's error shape
 * ({"detail": "Internal server error."} by default). */
void http_reply_internal(struct http_request *req);
/* An error the http layer gives on a surface's behalf (429, 403 ...), in the
 * surface's shape (render_error) or as {"detail": message}. */
void http_reply_error(struct http_request *req, int status, const char *code,
                      const char *message);
/* The default answer for an authentication failure, in the surface's shape. */
void http_reply_auth_failure(struct http_request *req, enum auth_failure why);

/* ---- pagination (DRF's PageNumberPagination) ---- */

struct http_page {
    int64_t number; /* 1-based; -1: "last" until http_page_check */
    int64_t size;
};

/* Reads ?page= and ?page_size= (capped at max_size; unusable values give
 * default_size). A page that is not a positive number answers 404
 * {"detail": "Invalid page."} (in the surface's shape) and returns false. */
bool http_page_params(struct http_request *req, int64_t default_size, int64_t max_size,
                      struct http_page *page);
/* Once the count is known: resolves "last", and answers 404 "Invalid page."
 * for a page past the end (page 1 of nothing is fine). */
bool http_page_check(struct http_request *req, struct http_page *page, int64_t count);
static inline int64_t http_page_offset(const struct http_page *page)
{
    return (page->number - 1) * page->size;
}
/* {"count", "next", "previous", "results"} with absolute URLs; takes
 * ownership of results. */
struct json_object *http_page_envelope(struct http_request *req, const struct http_page *page,
                                       int64_t count, struct json_object *results);

/* ---- shared renderers ---- */

/* {"field": ["message", ...], ...} in the order the fields first appear. */
struct json_object *http_errors_object(const struct errors *err);

/* JSON values every surface prints the same way: a price as the string
 * "999.99" (from minor units); a time as "2024-01-01T00:00:00Z"; and
 * text[0..len) printed verbatim, for JSON already printed (a cache's text)
 * or a number written from minor units ("125000.50", which a double would
 * round). The verbatim text is not copied: it must live as long as the
 * object (an arena string of the request). */
struct json_object *http_json_money(int64_t minor);
struct json_object *http_json_time(int64_t epoch_seconds);
struct json_object *http_json_verbatim(struct arena *a, const char *text, size_t len);

/* type(value).__name__ as DRF's messages name a JSON value: "str", "int",
 * "float", "bool", "NoneType", "list", "dict". */
const char *http_json_type_name(struct json_object *v);

/* ---- input fields with DRF's messages ---- */

enum input_flags {
    INPUT_REQUIRED = 1u << 0,
    INPUT_ALLOW_BLANK = 1u << 1,
    INPUT_TRIM = 1u << 2, /* strip surrounding white space (DRF's default for CharField) */
};

/* Reads a string field from obj. Returns true and sets *out (arena copy, or
 * NULL when absent) when the field is acceptable; otherwise adds DRF's message
 * to err under name ("This field is required.", "This field may not be
 * blank.", "Not a valid string.", "This field may not be null.") and returns
 * false. Numbers are accepted and rendered as strings, as DRF does. */
bool input_string(struct http_request *req, struct json_object *obj, const char *name,
                  unsigned flags, const char **out, struct errors *err);
/* The first step of every DRF field reader: true with *v the field's value
 * (never JSON null), or true with *v NULL when the field is absent and not
 * required; false with DRF's message in err ("This field is required.",
 * "This field may not be null."). */
bool input_value(struct json_object *obj, const char *name, bool required,
                 struct json_object **v, struct errors *err);
/* Whether obj has the field at all (for PATCH). */
bool input_present(struct json_object *obj, const char *name);

#endif
