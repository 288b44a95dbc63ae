/*
 * digital.c - the route table of the digital surface (reading it tells the
 * whole surface) and the document's error shape, {"error", "details"}, for
 * the answers handlers and the http layer give on its behalf.
 *
 * Only the accounts endpoints of the document are here; the dashboard ones
 * (dashboard, downloads, purchases, orders, payments, stats,
 * download-history) come with a later issue.
 */
#include <string.h>

#include <json-c/json.h>

#include "api/digital/digital.h"
#include "core/token.h"
#include "util/arena.h"

static const struct route digital_routes[] = {
    /* Token authentication: simplejwt's views ignore Authorization. */
    {"POST", "token/", digital_token_obtain, ROUTE_SLOW | ROUTE_NO_AUTH, NULL},
    {"POST", "token/refresh/", digital_token_refresh, ROUTE_NO_AUTH, NULL},
    {"POST", "token/verify/", digital_token_verify, ROUTE_NO_AUTH, NULL},
    /* Registration and profile */
    {"POST", "register/", digital_register, ROUTE_SLOW, NULL},
    {"GET", "profile/", digital_profile_get, ROUTE_AUTH, NULL},
    {"PUT", "profile/", digital_profile_put, ROUTE_AUTH, NULL},
    {"PATCH", "profile/", digital_profile_patch, ROUTE_AUTH, NULL},
    {"POST", "change-password/", digital_change_password, ROUTE_AUTH | ROUTE_SLOW, NULL},
    /* Email verification. The link of the email is opened without a token,
     * often by a browser holding a stale one: verify-email ignores it. */
    {"POST", "send-verification/", digital_send_verification, ROUTE_AUTH,
     "digital-verification"},
    {"GET", "verify-email/<str:uidb64>/<str:token>/", digital_verify_email, ROUTE_NO_AUTH, NULL},
    {"POST", "resend-verification/", digital_resend_verification, ROUTE_PUBLIC,
     "digital-verification"},
    {"GET", "verification-status/", digital_verification_status, ROUTE_AUTH, NULL},
    /* Availability checks */
    {"POST", "check-username/", digital_check_username, ROUTE_PUBLIC, NULL},
    {"POST", "check-email/", digital_check_email, ROUTE_PUBLIC, NULL},
};

/* ---- the error shape ---- */

void digital_reply_error(struct http_request *req, int status, const char *message,
                         struct json_object *details)
{
    struct json_object *obj = json_object_new_object();
    json_object_object_add(obj, "error", json_object_new_string(message));
    json_object_object_add(obj, "details", details ? details : json_object_new_object());
    http_reply_json(req, status, obj);
}

void digital_reply_invalid(struct http_request *req, const struct errors *err)
{
    digital_reply_error(req, 400, "Invalid input.", http_errors_object(err));
}

void digital_reply_internal(struct http_request *req)
{
    digital_reply_error(req, 500, "Internal server error.", NULL);
}

bool digital_reply_core_failure(struct http_request *req, int rc, const struct errors *err)
{
    if (rc == SHOP_OK)
        return false;
    if (rc == SHOP_EDB)
        digital_reply_internal(req);
    else
        digital_reply_invalid(req, err);
    return true;
}

static struct json_object *code_details(const char *code)
{
    struct json_object *details = json_object_new_object();
    json_object_object_add(details, "code", json_object_new_string(code));
    return details;
}

/* 401s of the authentication middleware: the DRF/simplejwt text as "error",
 * the rest of simplejwt's body (code, messages) as "details", so a client
 * can still tell an expired token (refresh it) from a missing one. */
static void render_auth_failure(struct http_request *req, enum auth_failure why)
{
    switch (why) {
    case AUTH_MISSING:
        digital_reply_error(req, 401, "Authentication credentials were not provided.",
                            code_details("not_authenticated"));
        return;
    case AUTH_BAD_HEADER:
        digital_reply_error(req, 401,
                            "Authorization header must contain two space-delimited values",
                            code_details("bad_authorization_header"));
        return;
    case AUTH_INVALID:
    case AUTH_WRONG_TYPE: {
        struct json_object *m = json_object_new_object();
        json_object_object_add(m, "token_class", json_object_new_string("AccessToken"));
        json_object_object_add(m, "token_type", json_object_new_string("access"));
        json_object_object_add(m, "message",
                               json_object_new_string(token_failure_message(
                                   why == AUTH_WRONG_TYPE ? TOKEN_FAIL_WRONG_TYPE
                                                          : TOKEN_FAIL_INVALID)));
        struct json_object *messages = json_object_new_array();
        json_object_array_add(messages, m);
        struct json_object *details = code_details("token_not_valid");
        json_object_object_add(details, "messages", messages);
        digital_reply_error(req, 401, "Given token not valid for any token type", details);
        return;
    }
    case AUTH_USER_NOT_FOUND:
        digital_reply_error(req, 401, "User not found", code_details("user_not_found"));
        return;
    case AUTH_USER_INACTIVE:
        digital_reply_error(req, 401, "User is inactive", code_details("user_inactive"));
        return;
    }
    digital_reply_error(req, 401, "Authentication failed.", NULL);
}

/* 429 and 403 of the middleware. The codes become DRF's lower-case codes
 * ("throttled" is DRF's for a throttled request). */
static void render_error(struct http_request *req, int status, const char *code,
                         const char *message)
{
    const char *drf_code = "error";
    if (code != NULL && strcmp(code, "RATE_LIMITED") == 0)
        drf_code = "throttled";
    else if (code != NULL)
        drf_code = str_lower(req->arena, code);
    digital_reply_error(req, status, message, code_details(drf_code));
}

const struct http_surface digital_surface = {
    .name = "digital",
    .mount = "/accounts/api/",
    .routes = digital_routes,
    .n_routes = sizeof(digital_routes) / sizeof(digital_routes[0]),
    .render_auth_failure = render_auth_failure,
    .render_error = render_error,
};
