/*
 * response.c - building a reply. The reply is recorded on the exchange and
 * turned into a libmicrohttpd response by server.c once the handler has
 * returned (and, for suspended requests, once the connection is resumed).
 */
#include <string.h>

#include <json-c/json.h>

#include "core/token.h"
#include "http/internal.h"
#include "http/jsonw.h"
#include "util/arena.h"
#include "util/log.h"
#include "util/money.h"
#include "util/time.h"

static void set_reply(struct http_exchange *ex, int status)
{
    if (ex->replied) {
        /* A second reply is a handler bug; keep the first and say so. */
        log_error("%s %s: handler replied twice (%d then %d)", ex->req.method, ex->req.path,
                  ex->status, status);
        return;
    }
    ex->replied = true;
    ex->status = status;
}

void http_reply_json(struct http_request *req, int status, struct json_object *obj)
{
    struct http_exchange *ex = exchange_of(req);
    if (ex->replied) {
        set_reply(ex, status);
        json_object_put(obj);
        return;
    }
    set_reply(ex, status);
    ex->reply_obj = obj;
    ex->reply_type = "application/json";
}

void http_reply_detail(struct http_request *req, int status, const char *message)
{
    struct json_object *obj = json_object_new_object();
    json_object_object_add(obj, "detail", json_object_new_string(message));
    http_reply_json(req, status, obj);
}

void http_reply_bytes(struct http_request *req, int status, const char *content_type,
                      const void *bytes, size_t n)
{
    struct http_exchange *ex = exchange_of(req);
    if (ex->replied) {
        set_reply(ex, status);
        return;
    }
    set_reply(ex, status);
    ex->reply_type = arena_strdup(req->arena, content_type);
    ex->reply_bytes = arena_alloc(req->arena, n ? n : 1);
    memcpy(ex->reply_bytes, bytes, n);
    ex->reply_len = n;
}

void http_add_header(struct http_request *req, const char *name, const char *value)
{
    struct http_exchange *ex = exchange_of(req);
    struct reply_header *h = arena_alloc(req->arena, sizeof(*h));
    h->name = arena_strdup(req->arena, name);
    h->value = arena_strdup(req->arena, value);
    h->next = ex->headers;
    ex->headers = h;
}

void http_reply_internal(struct http_request *req)
{
    http_reply_error(req, 500, "SERVER_ERROR", "Internal server error.");
}

void http_reply_error(struct http_request *req, int status, const char *code,
                      const char *message)
{
    if (req->surface && req->surface->render_error)
        req->surface->render_error(req, status, code, message);
    else
        http_reply_detail(req, status, message);
}

static void default_auth_failure(struct http_request *req, enum auth_failure why)
{
    struct json_object *obj = json_object_new_object();
    switch (why) {
    case AUTH_MISSING:
        json_object_object_add(obj, "detail",
                               json_object_new_string("Authentication credentials were not provided."));
        break;
    case AUTH_BAD_HEADER:
        json_object_object_add(
            obj, "detail",
            json_object_new_string("Authorization header must contain two space-delimited values"));
        json_object_object_add(obj, "code", json_object_new_string("bad_authorization_header"));
        break;
    case AUTH_INVALID:
    case AUTH_WRONG_TYPE: {
        json_object_object_add(obj, "detail",
                               json_object_new_string("Given token not valid for any token type"));
        json_object_object_add(obj, "code", json_object_new_string("token_not_valid"));
        struct json_object *m = json_object_new_object();
        json_object_object_add(m, "token_class", json_object_new_string("AccessToken"));
        json_object_object_add(m, "token_type", json_object_new_string("access"));
        json_object_object_add(
            m, "message",
            json_object_new_string(token_failure_message(
                why == AUTH_WRONG_TYPE ? TOKEN_FAIL_WRONG_TYPE : TOKEN_FAIL_INVALID)));
        struct json_object *list = json_object_new_array();
        json_object_array_add(list, m);
        json_object_object_add(obj, "messages", list);
        break;
    }
    case AUTH_USER_NOT_FOUND:
        json_object_object_add(obj, "detail", json_object_new_string("User not found"));
        json_object_object_add(obj, "code", json_object_new_string("user_not_found"));
        break;
    case AUTH_USER_INACTIVE:
        json_object_object_add(obj, "detail", json_object_new_string("User is inactive"));
        json_object_object_add(obj, "code", json_object_new_string("user_inactive"));
        break;
    }
    http_reply_json(req, 401, obj);
}

void http_reply_auth_failure(struct http_request *req, enum auth_failure why)
{
    if (req->surface && req->surface->render_auth_failure)
        req->surface->render_auth_failure(req, why);
    else
        default_auth_failure(req, why);
    http_add_header(req, "WWW-Authenticate", "Bearer realm=\"api\"");
}

struct json_object *http_errors_object(const struct errors *err)
{
    struct json_object *obj = json_object_new_object();
    for (const struct field_error *fe = err->head; fe; fe = fe->next) {
        struct json_object *list = NULL;
        if (!json_object_object_get_ex(obj, fe->field, &list)) {
            list = json_object_new_array();
            json_object_object_add(obj, fe->field, list);
        }
        json_object_array_add(list, json_object_new_string(fe->message));
    }
    return obj;
}

struct json_object *http_json_money(int64_t minor)
{
    char s[MONEY_STR_MAX];
    money_format(minor, s);
    return json_object_new_string(s);
}

struct json_object *http_json_time(int64_t epoch_seconds)
{
    char iso[TIME_ISO_LEN];
    time_iso8601(epoch_seconds, iso);
    return json_object_new_string(iso);
}

struct verbatim {
    const char *text;
    size_t len;
};

static int verbatim_to_json(struct json_object *obj, struct printbuf *pb, int level, int flags)
{
    (void)level;
    (void)flags;
    const struct verbatim *v = json_object_get_userdata(obj);
    jsonw_raw(pb, v->text, v->len);
    return 0;
}

struct json_object *http_json_verbatim(struct arena *a, const char *text, size_t len)
{
    struct verbatim *v = arena_alloc(a, sizeof(*v));
    v->text = text;
    v->len = len;
    struct json_object *obj = json_object_new_object();
    json_object_set_serializer(obj, verbatim_to_json, v, NULL);
    return obj;
}
