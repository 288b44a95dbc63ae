/*
 * envelope.c - the accounts surface's answers: the success envelope, the
 * error envelope with the document's codes, the renderers the http layer
 * calls for 401 / 403 / 429, and the input readers DRF has but http.h does
 * not (booleans, max_length).
 *
 * Every function here answers with exactly one http_reply_* call. JSON
 * objects handed in are owned by the reply from then on.
 */
#include <string.h>

#include <json-c/json.h>

#include "api/accounts/accounts.h"
#include "core/jwt.h"
#include "util/arena.h"
#include "util/config.h"

void accounts_reply_ok(struct http_request *req, int status, struct json_object *data,
                       const char *message)
{
    struct json_object *obj = json_object_new_object();
    json_object_object_add(obj, "success", json_object_new_boolean(1));
    json_object_object_add(obj, "data", data);
    json_object_object_add(obj, "message", json_object_new_string(message));
    http_reply_json(req, status, obj);
}

static void reply_envelope(struct http_request *req, int status, const char *code,
                           const char *message, struct json_object *errors)
{
    struct json_object *obj = json_object_new_object();
    json_object_object_add(obj, "success", json_object_new_boolean(0));
    json_object_object_add(obj, "message", json_object_new_string(message));
    json_object_object_add(obj, "code", json_object_new_string(code));
    json_object_object_add(obj, "errors", errors ? errors : json_object_new_object());
    http_reply_json(req, status, obj);
}

void accounts_reply_fail(struct http_request *req, int status, const char *code,
                         const char *message)
{
    reply_envelope(req, status, code, message, NULL);
}

/* The object (the errors root, or a nested one) a message goes into. */
static struct json_object *child_object(struct json_object *parent, const char *name)
{
    struct json_object *v = NULL;
    if (!json_object_object_get_ex(parent, name, &v)) {
        v = json_object_new_object();
        json_object_object_add(parent, name, v);
    }
    return v;
}

static struct json_object *errors_json(const struct errors *err,
                                       const struct accounts_field_map *map)
{
    struct json_object *root = json_object_new_object();
    for (const struct field_error *fe = err->head; fe; fe = fe->next) {
        const char *field = fe->field;
        struct json_object *into = root;
        for (const struct accounts_field_map *m = map; m && m->core; m++) {
            if (strcmp(m->core, fe->field) == 0) {
                field = m->field;
                if (m->parent)
                    into = child_object(root, m->parent);
                break;
            }
        }
        struct json_object *list = NULL;
        if (!json_object_object_get_ex(into, field, &list)) {
            list = json_object_new_array();
            json_object_object_add(into, field, list);
        }
        json_object_array_add(list, json_object_new_string(fe->message));
    }
    return root;
}

void accounts_reply_errors(struct http_request *req, int status, const char *code,
                           const char *message, const struct errors *err,
                           const struct accounts_field_map *map)
{
    reply_envelope(req, status, code, message, errors_json(err, map));
}

void accounts_reply_field(struct http_request *req, int status, const char *code,
                          const char *message, const char *field, const char *field_message)
{
    struct errors err;
    errors_init(&err, req->arena);
    errors_add(&err, field, field_message);
    accounts_reply_errors(req, status, code, message, &err, NULL);
}

void accounts_reply_invalid(struct http_request *req, const struct errors *err,
                            const struct accounts_field_map *map)
{
    accounts_reply_errors(req, 400, "VALIDATION_ERROR", "Invalid input.", err, map);
}

void accounts_reply_internal(struct http_request *req)
{
    accounts_reply_fail(req, 500, "SERVER_ERROR", "Internal server error.");
}

/* ---- the http layer's answers in this surface's shape ---- */

void accounts_render_error(struct http_request *req, int status, const char *code,
                           const char *message)
{
    /* The http layer's 403 text is DRF's generic one; say what is wrong, as
     * login does. */
    if (code != NULL && strcmp(code, "EMAIL_NOT_VERIFIED") == 0)
        message = "Email address not verified. Please verify your email first.";
    reply_envelope(req, status, code ? code : "ERROR", message, NULL);
}

bool accounts_token_expired(struct http_request *req, struct str token, bool refresh)
{
    struct jwt_claims c;
    enum jwt_result r = jwt_decode(req->arena, str_from(req->ctx.cfg->secret_key), token,
                                   refresh ? JWT_REFRESH : JWT_ACCESS, req->ctx.now, &c);
    /* A verification token on the resend route decodes as the wrong type,
     * with its claims filled: its exp still tells. */
    return r == JWT_EXPIRED || (r == JWT_WRONG_TYPE && !refresh && c.exp <= req->ctx.now);
}

void accounts_render_auth_failure(struct http_request *req, enum auth_failure why)
{
    switch (why) {
    case AUTH_MISSING:
        accounts_reply_fail(req, 401, "AUTHENTICATION_REQUIRED",
                            "Authentication credentials were not provided.");
        return;
    case AUTH_BAD_HEADER:
        accounts_reply_fail(req, 401, "INVALID_TOKEN",
                            "Authorization header must contain two space-delimited values.");
        return;
    case AUTH_INVALID:
        /* enum auth_failure folds expiry into AUTH_INVALID; the token itself
         * still says whether age was its only fault. */
        if (accounts_token_expired(req, http_bearer_token(req), false))
            accounts_reply_fail(req, 401, "TOKEN_EXPIRED", "Token has expired.");
        else
            accounts_reply_fail(req, 401, "INVALID_TOKEN", "Token is invalid or expired.");
        return;
    case AUTH_WRONG_TYPE:
        accounts_reply_fail(req, 401, "INVALID_TOKEN", "Token has wrong type.");
        return;
    case AUTH_USER_NOT_FOUND:
        accounts_reply_fail(req, 401, "INVALID_TOKEN", "User not found.");
        return;
    case AUTH_USER_INACTIVE:
        accounts_reply_fail(req, 401, "ACCOUNT_DISABLED", "This account has been disabled.");
        return;
    }
    accounts_reply_fail(req, 401, "INVALID_TOKEN", "Token is invalid or expired.");
}

/* ---- input readers ---- */

static bool in_list(const char *s, const char *const *list)
{
    for (; *list; list++)
        if (strcmp(s, *list) == 0)
            return true;
    return false;
}

bool accounts_input_bool(struct json_object *obj, const char *name, bool *present, bool *out,
                         struct errors *err)
{
    /* DRF's BooleanField.TRUE_VALUES / FALSE_VALUES. */
    static const char *const truthy[] = {"t", "T", "y", "Y", "yes", "Yes", "YES", "true", "True",
                                         "TRUE", "on", "On", "ON", "1", NULL};
    static const char *const falsy[] = {"f", "F", "n", "N", "no", "No", "NO", "false", "False",
                                        "FALSE", "off", "Off", "OFF", "0", NULL};
    struct json_object *v = NULL;
    *present = json_object_object_get_ex(obj, name, &v);
    if (!*present)
        return true;
    switch (json_object_get_type(v)) {
    case json_type_boolean:
        *out = json_object_get_boolean(v);
        return true;
    case json_type_int: {
        int64_t n = json_object_get_int64(v);
        if (n == 0 || n == 1) {
            *out = n == 1;
            return true;
        }
        break;
    }
    case json_type_string: {
        const char *s = json_object_get_string(v);
        if ((size_t)json_object_get_string_len(v) == strlen(s)) {
            if (in_list(s, truthy)) {
                *out = true;
                return true;
            }
            if (in_list(s, falsy)) {
                *out = false;
                return true;
            }
        }
        break;
    }
    case json_type_null:
        errors_add(err, name, "This field may not be null.");
        return false;
    default:
        break;
    }
    errors_add(err, name, "Must be a valid boolean.");
    return false;
}

static size_t utf8_length(const char *s)
{
    size_t n = 0;
    for (; *s; s++)
        n += ((unsigned char)*s & 0xc0) != 0x80;
    return n;
}

bool accounts_input_text(struct http_request *req, struct json_object *obj, const char *name,
                         unsigned flags, size_t max, const char **out, struct errors *err)
{
    if (!input_string(req, obj, name, flags, out, err))
        return false;
    if (*out != NULL && utf8_length(*out) > max) {
        errors_add(err, name,
                   arena_sprintf(req->arena, "Ensure this field has no more than %zu characters.",
                                 max));
        *out = NULL;
        return false;
    }
    return true;
}
