/*
 * tokens.c - token/, token/refresh/ and token/verify/: simplejwt's
 * TokenObtainPairView, TokenRefreshView (rotation on) and TokenVerifyView.
 *
 * These three answer in simplejwt's shapes, not the document's
 * {"error", "details"}: the Django project serves them with simplejwt's
 * stock views, and every simplejwt client reads {"detail", "code"} here.
 * Field errors are DRF's {"field": ["message"]}; refused credentials and
 * tokens are 401 with WWW-Authenticate, as simplejwt's views send.
 */
#include <string.h>

#include <json-c/json.h>

#include "api/digital/digital.h"
#include "core/token.h"
#include "core/user.h"
#include "util/config.h"

static void reply_field_errors(struct http_request *req, const struct errors *err)
{
    http_reply_json(req, 400, http_errors_object(err));
}

/* simplejwt's 401: {"detail": message} plus "code" when there is one. */
static void reply_unauthorized(struct http_request *req, const char *message, const char *code)
{
    struct json_object *obj = json_object_new_object();
    json_object_object_add(obj, "detail", json_object_new_string(message));
    if (code != NULL)
        json_object_object_add(obj, "code", json_object_new_string(code));
    http_reply_json(req, 401, obj);
    http_add_header(req, "WWW-Authenticate", "Bearer realm=\"api\"");
}

static void reply_token_not_valid(struct http_request *req, enum token_failure why)
{
    reply_unauthorized(req, token_failure_message(why), "token_not_valid");
}

/* {"refresh", "access"}: simplejwt's order. */
static void reply_pair(struct http_request *req, const struct token_pair *tokens)
{
    struct json_object *obj = json_object_new_object();
    json_object_object_add(obj, "refresh", json_object_new_string(tokens->refresh));
    json_object_object_add(obj, "access", json_object_new_string(tokens->access));
    http_reply_json(req, 200, obj);
}

/* ---- token/ ---- */

void digital_token_obtain(struct http_request *req)
{
    struct json_object *body = http_body(req);
    struct errors err;
    errors_init(&err, req->arena);
    /* USERNAME_FIELD is "username"; a client that sends "email" instead is
     * understood too, since the value may be an email either way. */
    const char *login_field =
        !input_present(body, "username") && input_present(body, "email") ? "email" : "username";
    const char *login, *password;
    input_string(req, body, login_field, INPUT_REQUIRED | INPUT_TRIM, &login, &err);
    input_string(req, body, "password", INPUT_REQUIRED, &password, &err);
    if (errors_any(&err)) {
        reply_field_errors(req, &err);
        return;
    }
    /* Unverified users may log in: this document never refuses them. An
     * inactive account gets the same answer as a wrong password, as
     * simplejwt's (is_active is part of "no active account"). */
    struct user u;
    int rc = user_authenticate(&req->ctx, login, USER_BY_USERNAME | USER_BY_EMAIL, password, &u);
    if (rc == SHOP_EAUTH || rc == SHOP_EFORBIDDEN) {
        reply_unauthorized(req, "No active account found with the given credentials", NULL);
        return;
    }
    struct token_pair tokens;
    if (rc != SHOP_OK || token_issue_pair(&req->ctx, u.id, &tokens) != SHOP_OK) {
        http_reply_internal(req);
        return;
    }
    reply_pair(req, &tokens);
}

/* ---- token/refresh/ ---- */

void digital_token_refresh(struct http_request *req)
{
    struct errors err;
    errors_init(&err, req->arena);
    const char *refresh;
    if (!input_string(req, http_body(req), "refresh", INPUT_REQUIRED | INPUT_TRIM, &refresh,
                      &err)) {
        reply_field_errors(req, &err);
        return;
    }
    struct token_pair tokens;
    enum token_failure why = TOKEN_FAIL_NONE;
    int rc = token_refresh(&req->ctx, str_from(refresh), &tokens, &why);
    if (rc == SHOP_EAUTH) {
        reply_token_not_valid(req, why);
        return;
    }
    if (rc != SHOP_OK) {
        http_reply_internal(req);
        return;
    }
    /* Rotation: simplejwt answers {"access", "refresh"} in that order. */
    struct json_object *obj = json_object_new_object();
    json_object_object_add(obj, "access", json_object_new_string(tokens.access));
    json_object_object_add(obj, "refresh", json_object_new_string(tokens.refresh));
    http_reply_json(req, 200, obj);
}

/* ---- token/verify/ ---- */

void digital_token_verify(struct http_request *req)
{
    struct errors err;
    errors_init(&err, req->arena);
    const char *token;
    if (!input_string(req, http_body(req), "token", INPUT_REQUIRED | INPUT_TRIM, &token, &err)) {
        reply_field_errors(req, &err);
        return;
    }
    enum token_failure why = TOKEN_FAIL_NONE;
    int rc = token_verify(&req->ctx, str_from(token), &why);
    if (rc == SHOP_EAUTH) {
        /* Whatever the reason, simplejwt's verify names only these two. */
        reply_token_not_valid(req, why == TOKEN_FAIL_BLACKLISTED ? why : TOKEN_FAIL_INVALID);
        return;
    }
    if (rc != SHOP_OK) {
        http_reply_internal(req);
        return;
    }
    http_reply_json(req, 200, json_object_new_object());
}
