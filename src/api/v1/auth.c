/*
 * auth.c - v1 endpoints 1-6: register, login, refresh, profile, change
 * password, in the shapes of seed document 003.
 */
#include <string.h>

#include <json-c/json.h>

#include "api/v1/v1.h"
#include "core/password.h"
#include "core/token.h"
#include "core/user.h"
#include "util/arena.h"
#include "util/time.h"

static void reply_errors(struct http_request *req, int status, const struct errors *err)
{
    http_reply_json(req, status, http_errors_object(err));
}

static void reply_field_error(struct http_request *req, const char *field, const char *message)
{
    struct errors err;
    errors_init(&err, req->arena);
    errors_add(&err, field, message);
    reply_errors(req, 400, &err);
}

/* {"message": ..., "data": {"access_token", "refresh_token", "user": {...}}} */
static void reply_session(struct http_request *req, int status, const char *message,
                          const struct user *u, const struct token_pair *tokens)
{
    struct json_object *user = json_object_new_object();
    json_object_object_add(user, "id", json_object_new_int64(u->id));
    json_object_object_add(user, "email", json_object_new_string(u->email));
    json_object_object_add(user, "user_type", json_object_new_string(u->user_type));
    struct json_object *data = json_object_new_object();
    json_object_object_add(data, "access_token", json_object_new_string(tokens->access));
    json_object_object_add(data, "refresh_token", json_object_new_string(tokens->refresh));
    json_object_object_add(data, "user", user);
    struct json_object *obj = json_object_new_object();
    json_object_object_add(obj, "message", json_object_new_string(message));
    json_object_object_add(obj, "data", data);
    http_reply_json(req, status, obj);
}

static struct json_object *profile_object(const struct user *u)
{
    char joined[TIME_ISO_LEN];
    time_iso8601(u->date_joined, joined);
    struct json_object *obj = json_object_new_object();
    json_object_object_add(obj, "id", json_object_new_int64(u->id));
    json_object_object_add(obj, "email", json_object_new_string(u->email));
    json_object_object_add(obj, "username", json_object_new_string(u->username));
    json_object_object_add(obj, "first_name", json_object_new_string(u->first_name));
    json_object_object_add(obj, "last_name", json_object_new_string(u->last_name));
    json_object_object_add(obj, "user_type", json_object_new_string(u->user_type));
    json_object_object_add(obj, "date_joined", json_object_new_string(joined));
    return obj;
}

/* Storage failures answer 500; everything else maps to its status. */
static bool reply_core_failure(struct http_request *req, int rc, const struct errors *err)
{
    if (rc == SHOP_OK)
        return false;
    if (rc == SHOP_EDB)
        http_reply_internal(req);
    else
        reply_errors(req, 400, err);
    return true;
}

/* ---- 1. register ---- */

static const char *const v1_user_types[] = {"customer", "admin"};

void v1_auth_register(struct http_request *req)
{
    struct json_object *body = http_body(req);
    struct errors err;
    errors_init(&err, req->arena);
    const char *email, *password, *confirm, *user_type, *first_name, *last_name;
    input_string(req, body, "email", INPUT_REQUIRED | INPUT_TRIM, &email, &err);
    input_string(req, body, "password", INPUT_REQUIRED, &password, &err);
    input_string(req, body, "password_confirm", INPUT_REQUIRED, &confirm, &err);
    input_string(req, body, "user_type", INPUT_TRIM, &user_type, &err);
    input_string(req, body, "first_name", INPUT_TRIM | INPUT_ALLOW_BLANK, &first_name, &err);
    input_string(req, body, "last_name", INPUT_TRIM | INPUT_ALLOW_BLANK, &last_name, &err);
    if (user_type != NULL) {
        bool known = false;
        for (size_t i = 0; i < sizeof(v1_user_types) / sizeof(v1_user_types[0]); i++)
            known = known || strcmp(user_type, v1_user_types[i]) == 0;
        if (!known)
            errors_add(&err, "user_type",
                       arena_sprintf(req->arena, "\"%s\" is not a valid choice.", user_type));
        else if (strcmp(user_type, "admin") == 0 && !user_is_admin(req->ctx.user))
            /* Privilege never comes from a registration form. */
            errors_add(&err, "user_type", "Only an admin can create admin accounts.");
    }
    if (errors_any(&err)) {
        reply_errors(req, 400, &err);
        return;
    }
    if (strcmp(password, confirm) != 0) {
        reply_field_error(req, "password_confirm", "Passwords do not match");
        return;
    }
    bool admin = user_type != NULL && strcmp(user_type, "admin") == 0;
    struct user_new in = {
        .email = email,
        .password = password,
        .first_name = first_name,
        .last_name = last_name,
        .user_type = admin ? "admin" : "customer",
        .is_staff = admin,
    };
    struct user u;
    int rc = user_create(&req->ctx, &in, &err, &u);
    if (reply_core_failure(req, rc, &err))
        return;
    struct token_pair tokens;
    if (token_issue_pair(&req->ctx, u.id, &tokens) != SHOP_OK) {
        http_reply_internal(req);
        return;
    }
    reply_session(req, 201, "User registered successfully", &u, &tokens);
}

/* ---- 2. login ---- */

void v1_auth_login(struct http_request *req)
{
    struct json_object *body = http_body(req);
    struct errors err;
    errors_init(&err, req->arena);
    const char *email, *password;
    input_string(req, body, "email", INPUT_REQUIRED | INPUT_TRIM, &email, &err);
    input_string(req, body, "password", INPUT_REQUIRED, &password, &err);
    if (errors_any(&err)) {
        reply_errors(req, 400, &err);
        return;
    }
    struct user u;
    int rc = user_authenticate(&req->ctx, email, USER_BY_EMAIL, password, &u);
    if (rc == SHOP_EAUTH) {
        reply_field_error(req, ERRORS_NON_FIELD, "Invalid credentials");
        return;
    }
    if (rc == SHOP_EFORBIDDEN) {
        reply_field_error(req, ERRORS_NON_FIELD, "User account is disabled.");
        return;
    }
    struct token_pair tokens;
    if (rc != SHOP_OK || token_issue_pair(&req->ctx, u.id, &tokens) != SHOP_OK) {
        http_reply_internal(req);
        return;
    }
    reply_session(req, 200, "Login successful", &u, &tokens);
}

/* ---- 3. refresh ---- */

void v1_auth_refresh(struct http_request *req)
{
    struct errors err;
    errors_init(&err, req->arena);
    const char *refresh;
    if (!input_string(req, http_body(req), "refresh", INPUT_REQUIRED | INPUT_TRIM, &refresh,
                      &err)) {
        reply_errors(req, 400, &err);
        return;
    }
    struct token_pair tokens;
    enum token_failure why = TOKEN_FAIL_NONE;
    int rc = token_refresh(&req->ctx, str_from(refresh), &tokens, &why);
    if (rc == SHOP_EAUTH) {
        struct json_object *obj = json_object_new_object();
        json_object_object_add(obj, "detail", json_object_new_string(token_failure_message(why)));
        json_object_object_add(obj, "code", json_object_new_string("token_not_valid"));
        http_reply_json(req, 401, obj);
        return;
    }
    if (rc != SHOP_OK) {
        http_reply_internal(req);
        return;
    }
    struct json_object *obj = json_object_new_object();
    json_object_object_add(obj, "access", json_object_new_string(tokens.access));
    json_object_object_add(obj, "refresh", json_object_new_string(tokens.refresh));
    http_reply_json(req, 200, obj);
}

/* ---- 4, 5. profile ---- */

void v1_auth_profile_get(struct http_request *req)
{
    http_reply_json(req, 200, profile_object(req->ctx.user));
}

static void update_profile(struct http_request *req, bool partial)
{
    struct json_object *body = http_body(req);
    struct errors err;
    errors_init(&err, req->arena);
    const char *email, *first_name, *last_name;
    input_string(req, body, "email", (partial ? 0 : INPUT_REQUIRED) | INPUT_TRIM, &email, &err);
    input_string(req, body, "first_name", INPUT_TRIM | INPUT_ALLOW_BLANK, &first_name, &err);
    input_string(req, body, "last_name", INPUT_TRIM | INPUT_ALLOW_BLANK, &last_name, &err);
    if (errors_any(&err)) {
        reply_errors(req, 400, &err);
        return;
    }
    /* The username follows the email (document note on endpoint 5). */
    struct user_patch patch = {
        .email = email,
        .username = email,
        .first_name = first_name,
        .last_name = last_name,
    };
    struct user u;
    int rc = user_update(&req->ctx, req->ctx.user->id, &patch, &err, &u);
    if (reply_core_failure(req, rc, &err))
        return;
    http_reply_json(req, 200, profile_object(&u));
}

void v1_auth_profile_put(struct http_request *req)
{
    update_profile(req, false);
}

void v1_auth_profile_patch(struct http_request *req)
{
    update_profile(req, true);
}

/* ---- 6. change password ---- */

void v1_auth_change_password(struct http_request *req)
{
    struct json_object *body = http_body(req);
    struct errors err;
    errors_init(&err, req->arena);
    const char *old_password, *new_password, *confirm;
    input_string(req, body, "old_password", INPUT_REQUIRED, &old_password, &err);
    input_string(req, body, "new_password", INPUT_REQUIRED, &new_password, &err);
    input_string(req, body, "new_password_confirm", INPUT_REQUIRED, &confirm, &err);
    if (errors_any(&err)) {
        reply_errors(req, 400, &err);
        return;
    }
    if (!password_verify(old_password, req->ctx.user->password, NULL)) {
        reply_field_error(req, "old_password", "Old password is incorrect");
        return;
    }
    if (strcmp(new_password, confirm) != 0) {
        reply_field_error(req, "new_password", "New passwords do not match");
        return;
    }
    int rc = user_set_password(&req->ctx, req->ctx.user, new_password, "new_password", &err);
    if (reply_core_failure(req, rc, &err))
        return;
    struct json_object *obj = json_object_new_object();
    json_object_object_add(obj, "message", json_object_new_string("Password changed successfully"));
    http_reply_json(req, 200, obj);
}
