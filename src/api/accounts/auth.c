/*
 * auth.c - the accounts surface's authentication and account endpoints:
 * login, register, token refresh, logout, change-password, password reset
 * and its confirmation, email verification (resend, confirm) and
 * deactivation, in the shapes of seed document 001.
 *
 * This surface refuses users whose email is not verified (login answers 403
 * EMAIL_NOT_VERIFIED; the authenticated routes carry ROUTE_VERIFIED), so the
 * resend endpoint also accepts {"email"} from a user who cannot log in yet.
 */
#include <string.h>

#include <json-c/json.h>

#include "api/accounts/accounts.h"
#include "core/jwt.h"
#include "core/password.h"
#include "core/profile.h"
#include "core/token.h"
#include "core/user.h"
#include "core/verify.h"
#include "util/arena.h"
#include "util/config.h"

#define NAME_MAX_CHARS 150     /* Django's first_name, last_name, username */
#define REASON_MAX_CHARS 500

static const char MSG_WEAK[] = "Password doesn't meet requirements.";
static const char MSG_BAD_LINK_TOKEN[] = "Invalid or expired token.";

/* The user as login (with_roles) and register show it. */
static struct json_object *user_object(const struct user *u, bool with_roles)
{
    struct json_object *obj = json_object_new_object();
    json_object_object_add(obj, "id", json_object_new_int64(u->id));
    json_object_object_add(obj, "username", json_object_new_string(u->username));
    json_object_object_add(obj, "email", json_object_new_string(u->email));
    json_object_object_add(obj, "first_name", json_object_new_string(u->first_name));
    json_object_object_add(obj, "last_name", json_object_new_string(u->last_name));
    if (with_roles) {
        json_object_object_add(obj, "is_staff", json_object_new_boolean(u->is_staff));
        json_object_object_add(obj, "is_superuser", json_object_new_boolean(u->is_superuser));
    }
    return obj;
}

static struct json_object *tokens_object(const struct token_pair *t)
{
    struct json_object *obj = json_object_new_object();
    json_object_object_add(obj, "access", json_object_new_string(t->access));
    json_object_object_add(obj, "refresh", json_object_new_string(t->refresh));
    return obj;
}

/* The code of a failed password rule check: WEAK_PASSWORD when the password
 * field is the only one in error. */
static const char *password_failure_code(const struct errors *err, const char *field)
{
    for (const struct field_error *fe = err->head; fe; fe = fe->next)
        if (strcmp(fe->field, field) != 0)
            return "VALIDATION_ERROR";
    return "WEAK_PASSWORD";
}

static void reply_password_failure(struct http_request *req, const struct errors *err,
                                   const char *field)
{
    const char *code = password_failure_code(err, field);
    accounts_reply_errors(req, 400, code,
                          strcmp(code, "WEAK_PASSWORD") == 0 ? MSG_WEAK : "Invalid input.", err,
                          NULL);
}

/* new_password and its confirmation, as change-password and reset confirm
 * read them. */
static bool read_new_password(struct http_request *req, struct json_object *body,
                              const char **password, struct errors *err)
{
    const char *confirm;
    input_string(req, body, "new_password", INPUT_REQUIRED, password, err);
    input_string(req, body, "new_password_confirm", INPUT_REQUIRED, &confirm, err);
    if (*password && confirm && strcmp(*password, confirm) != 0)
        errors_add(err, "new_password_confirm", "Passwords do not match.");
    return !errors_any(err);
}

/* ---- login ---- */

void accounts_login(struct http_request *req)
{
    struct json_object *body = http_body(req);
    struct errors err;
    errors_init(&err, req->arena);
    const char *login, *password;
    /* "username" may hold the username or the email; a client that sends
     * the email under "email" is understood too. */
    const char *login_field = !input_present(body, "username") && input_present(body, "email")
                                  ? "email"
                                  : "username";
    input_string(req, body, login_field, INPUT_REQUIRED | INPUT_TRIM, &login, &err);
    input_string(req, body, "password", INPUT_REQUIRED, &password, &err);
    if (errors_any(&err)) {
        accounts_reply_invalid(req, &err, NULL);
        return;
    }
    struct user u;
    int rc = user_authenticate(&req->ctx, login,
                               USER_BY_USERNAME | USER_BY_EMAIL | USER_REQUIRE_VERIFIED, password,
                               &u);
    if (rc == SHOP_EAUTH) {
        accounts_reply_fail(req, 401, "INVALID_CREDENTIALS", "Invalid username or password.");
        return;
    }
    if (rc == SHOP_EFORBIDDEN) {
        accounts_reply_fail(req, 403, "ACCOUNT_DISABLED", "This account has been disabled.");
        return;
    }
    if (rc != SHOP_OK) {
        accounts_reply_internal(req);
        return;
    }
    if (!u.email_verified) {
        accounts_reply_fail(req, 403, "EMAIL_NOT_VERIFIED",
                            "Email address not verified. Please check your email for the "
                            "verification link.");
        return;
    }
    struct token_pair tokens;
    if (token_issue_pair(&req->ctx, u.id, &tokens) != SHOP_OK) {
        accounts_reply_internal(req);
        return;
    }
    struct json_object *data = tokens_object(&tokens);
    json_object_object_add(data, "user", user_object(&u, true));
    accounts_reply_ok(req, 200, data, "Login successful");
}

/* ---- register ---- */

/* Django's UnicodeUsernameValidator: letters, digits and @ . + - _ */
static bool username_valid(const char *s)
{
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        bool ok = (*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') ||
                  (*p >= '0' && *p <= '9') || *p >= 0x80 || strchr("@.+-_", *p) != NULL;
        if (!ok)
            return false;
    }
    return *s != '\0';
}

static bool ascii_case_eq(const char *a, const char *b)
{
    return str_case_eq(str_from(a), str_from(b));
}

static const char MSG_REGISTERED[] =
    "Registration successful. Please check your email for verification.";

void accounts_register(struct http_request *req)
{
    struct json_object *body = http_body(req);
    struct errors err;
    errors_init(&err, req->arena);
    const char *username, *email, *password, *confirm, *first_name, *last_name, *phone;
    accounts_input_text(req, body, "username", INPUT_TRIM, NAME_MAX_CHARS, &username, &err);
    input_string(req, body, "email", INPUT_REQUIRED | INPUT_TRIM, &email, &err);
    input_string(req, body, "password", INPUT_REQUIRED, &password, &err);
    input_string(req, body, "password_confirm", INPUT_REQUIRED, &confirm, &err);
    accounts_input_text(req, body, "first_name", INPUT_TRIM | INPUT_ALLOW_BLANK, NAME_MAX_CHARS,
                        &first_name, &err);
    accounts_input_text(req, body, "last_name", INPUT_TRIM | INPUT_ALLOW_BLANK, NAME_MAX_CHARS,
                        &last_name, &err);
    input_string(req, body, "phone", INPUT_TRIM | INPUT_ALLOW_BLANK, &phone, &err);
    if (email && !user_email_valid(email))
        errors_add(&err, "email", "Enter a valid email address.");
    if (username && !username_valid(username))
        errors_add(&err, "username",
                   "Enter a valid username. This value may contain only letters, numbers, and "
                   "@/./+/-/_ characters.");
    else if (username && email && strchr(username, '@') && !ascii_case_eq(username, email))
        /* Logins try the email first; a username shaped like somebody
         * else's email would only confuse (or impersonate). */
        errors_add(&err, "username", "A username that is an email address must be your email.");
    if (phone && *phone == '\0')
        phone = NULL;
    if (phone && !user_phone_valid(phone))
        errors_add(&err, "phone",
                   "Enter a valid phone number in international format, e.g. +14155550123.");
    if (password && confirm && strcmp(password, confirm) != 0)
        errors_add(&err, "password_confirm", "Passwords do not match.");
    if (errors_any(&err)) {
        accounts_reply_invalid(req, &err, NULL);
        return;
    }
    struct user_new in = {
        .username = username,
        .email = email,
        .password = password,
        .first_name = first_name,
        .last_name = last_name,
        .phone = phone,
    };
    struct user u;
    int rc = user_create(&req->ctx, &in, &err, &u);
    if (rc == SHOP_EDB) {
        accounts_reply_internal(req);
        return;
    }
    if (rc != SHOP_OK) {
        /* Re-asked rather than parsed from core's message: core reports a
         * taken email and broken password rules in one errors object. */
        if (errors_has(&err, "email") && user_email_taken(&req->ctx, email, 0))
            accounts_reply_errors(req, 400, "EMAIL_ALREADY_EXISTS",
                                  "Email address already registered.", &err, NULL);
        else
            reply_password_failure(req, &err, "password");
        return;
    }
    struct json_object *data = json_object_new_object();
    json_object_object_add(data, "user", user_object(&u, false));
    json_object_object_add(data, "message", json_object_new_string(MSG_REGISTERED));
    accounts_reply_ok(req, 201, data, MSG_REGISTERED);
}

/* ---- token refresh ---- */

static void reply_token_failure(struct http_request *req, int status, struct str token,
                                enum token_failure why, const char *field)
{
    const char *code = "INVALID_TOKEN";
    const char *message = token_failure_message(why);
    if (why == TOKEN_FAIL_INVALID && accounts_token_expired(req, token, true)) {
        code = "TOKEN_EXPIRED";
        message = "Token has expired";
    }
    const char *full = arena_sprintf(req->arena, "%s.", message);
    accounts_reply_field(req, status, code, full, field, full);
}

void accounts_token_refresh(struct http_request *req)
{
    struct errors err;
    errors_init(&err, req->arena);
    const char *refresh;
    if (!input_string(req, http_body(req), "refresh", INPUT_REQUIRED | INPUT_TRIM, &refresh,
                      &err)) {
        accounts_reply_invalid(req, &err, NULL);
        return;
    }
    struct token_pair tokens;
    enum token_failure why = TOKEN_FAIL_NONE;
    int rc = token_refresh(&req->ctx, str_from(refresh), &tokens, &why);
    if (rc == SHOP_EAUTH) {
        reply_token_failure(req, 401, str_from(refresh), why, "refresh");
        return;
    }
    if (rc != SHOP_OK) {
        accounts_reply_internal(req);
        return;
    }
    accounts_reply_ok(req, 200, tokens_object(&tokens), "Token refreshed successfully");
}

/* ---- logout ---- */

void accounts_logout(struct http_request *req)
{
    struct json_object *body = http_body(req);
    struct errors err;
    errors_init(&err, req->arena);
    const char *refresh;
    if (!input_string(req, body, "refresh", INPUT_TRIM, &refresh, &err)) {
        accounts_reply_invalid(req, &err, NULL);
        return;
    }
    const struct user *me = req->ctx.user;
    if (refresh == NULL) {
        /* The document's request has no body, so it cannot say which
         * session ends: end them all (every refresh token of the user). */
        if (token_revoke_user(&req->ctx, me->id) != SHOP_OK) {
            accounts_reply_internal(req);
            return;
        }
        accounts_reply_ok(req, 200, NULL, "Logout successful");
        return;
    }
    /* Only the caller's own refresh token may be blacklisted through this
     * route. */
    struct jwt_claims c;
    enum jwt_result jr = jwt_decode(req->arena, str_from(req->ctx.cfg->secret_key),
                                    str_from(refresh), JWT_REFRESH, req->ctx.now, &c);
    if (jr == JWT_OK && c.user_id != me->id) {
        accounts_reply_field(req, 400, "INVALID_TOKEN", "Token is invalid or expired.",
                             "refresh", "Token is invalid or expired.");
        return;
    }
    enum token_failure why = TOKEN_FAIL_NONE;
    int rc = token_blacklist(&req->ctx, str_from(refresh), &why);
    if (rc == SHOP_EAUTH && why != TOKEN_FAIL_BLACKLISTED) {
        reply_token_failure(req, 400, str_from(refresh), why, "refresh");
        return;
    }
    if (rc != SHOP_OK && rc != SHOP_EAUTH) {
        accounts_reply_internal(req);
        return;
    }
    /* A token already blacklisted is logged out already: same answer. */
    accounts_reply_ok(req, 200, NULL, "Logout successful");
}

/* ---- change password ---- */

void accounts_change_password(struct http_request *req)
{
    struct json_object *body = http_body(req);
    struct errors err;
    errors_init(&err, req->arena);
    const char *old_password, *new_password = NULL;
    input_string(req, body, "old_password", INPUT_REQUIRED, &old_password, &err);
    read_new_password(req, body, &new_password, &err);
    if (errors_any(&err)) {
        accounts_reply_invalid(req, &err, NULL);
        return;
    }
    const struct user *me = req->ctx.user;
    if (!password_verify(old_password, me->password, NULL)) {
        accounts_reply_field(req, 400, "INVALID_CREDENTIALS", "Old password is incorrect.",
                             "old_password", "Old password is incorrect.");
        return;
    }
    int rc = user_set_password(&req->ctx, me, new_password, "new_password", &err);
    if (rc == SHOP_EINVAL) {
        reply_password_failure(req, &err, "new_password");
        return;
    }
    /* The change revoked every token of the user, this client's too: hand
     * it a fresh pair so it stays signed in. */
    struct token_pair tokens;
    if (rc != SHOP_OK || token_issue_pair(&req->ctx, me->id, &tokens) != SHOP_OK) {
        accounts_reply_internal(req);
        return;
    }
    accounts_reply_ok(req, 200, tokens_object(&tokens), "Password changed successfully");
}

/* ---- password reset ---- */

static const char MSG_RESET_SENT[] =
    "If an account with this email exists, a password reset link has been sent.";

void accounts_password_reset(struct http_request *req)
{
    struct errors err;
    errors_init(&err, req->arena);
    const char *email;
    if (input_string(req, http_body(req), "email", INPUT_REQUIRED | INPUT_TRIM, &email, &err) &&
        !user_email_valid(email))
        errors_add(&err, "email", "Enter a valid email address.");
    if (errors_any(&err)) {
        accounts_reply_invalid(req, &err, NULL);
        return;
    }
    /* The same answer whether or not the account exists: this endpoint must
     * not tell who has an account. */
    struct user u;
    int rc = user_get_by_email(&req->ctx, email, &u);
    if (rc == SHOP_OK && u.is_active)
        rc = verify_send_reset(&req->ctx, &u);
    if (rc != SHOP_OK && rc != SHOP_ENOTFOUND) {
        accounts_reply_internal(req);
        return;
    }
    accounts_reply_ok(req, 200, NULL, MSG_RESET_SENT);
}

void accounts_password_reset_confirm(struct http_request *req)
{
    struct json_object *body = http_body(req);
    struct errors err;
    errors_init(&err, req->arena);
    const char *token, *uid, *new_password = NULL;
    input_string(req, body, "token", INPUT_REQUIRED | INPUT_TRIM, &token, &err);
    /* The email link carries uid too; a client may send it (it must agree). */
    input_string(req, body, "uid", INPUT_TRIM, &uid, &err);
    read_new_password(req, body, &new_password, &err);
    if (errors_any(&err)) {
        accounts_reply_invalid(req, &err, NULL);
        return;
    }
    struct user u;
    int rc = verify_reset_password(&req->ctx, uid, token, new_password, "new_password", &err, &u);
    if (rc == SHOP_EAUTH || rc == SHOP_ENOTFOUND) {
        accounts_reply_field(req, 400, "INVALID_TOKEN", MSG_BAD_LINK_TOKEN, "token",
                             MSG_BAD_LINK_TOKEN);
        return;
    }
    if (rc == SHOP_EINVAL) {
        reply_password_failure(req, &err, "new_password");
        return;
    }
    if (rc == SHOP_EFORBIDDEN) {
        accounts_reply_fail(req, 403, "ACCOUNT_DISABLED", "This account has been disabled.");
        return;
    }
    if (rc != SHOP_OK) {
        accounts_reply_internal(req);
        return;
    }
    accounts_reply_ok(req, 200, NULL, "Password has been reset successfully");
}

/* ---- email verification ---- */

static const char MSG_VERIFICATION_SENT[] =
    "If an account with this email exists and is not verified yet, a verification email has "
    "been sent.";

void accounts_verify_email_resend(struct http_request *req)
{
    const struct user *me = req->ctx.user;
    if (me != NULL) {
        if (me->email_verified) {
            accounts_reply_fail(req, 400, "EMAIL_ALREADY_VERIFIED",
                                "Email address is already verified.");
            return;
        }
        if (verify_send_email(&req->ctx, me) != SHOP_OK) {
            accounts_reply_internal(req);
            return;
        }
        accounts_reply_ok(req, 200, NULL, "Verification email sent.");
        return;
    }
    /* Anonymous: a user who cannot log in before verifying names the email.
     * The answer does not say whether it belongs to anyone. */
    struct errors err;
    errors_init(&err, req->arena);
    const char *email;
    if (input_string(req, http_body(req), "email", INPUT_REQUIRED | INPUT_TRIM, &email, &err) &&
        !user_email_valid(email))
        errors_add(&err, "email", "Enter a valid email address.");
    if (errors_any(&err)) {
        accounts_reply_invalid(req, &err, NULL);
        return;
    }
    struct user u;
    int rc = user_get_by_email(&req->ctx, email, &u);
    if (rc == SHOP_OK && u.is_active && !u.email_verified)
        rc = verify_send_email(&req->ctx, &u);
    if (rc != SHOP_OK && rc != SHOP_ENOTFOUND) {
        accounts_reply_internal(req);
        return;
    }
    accounts_reply_ok(req, 200, NULL, MSG_VERIFICATION_SENT);
}

void accounts_verify_email_confirm(struct http_request *req)
{
    struct json_object *body = http_body(req);
    struct errors err;
    errors_init(&err, req->arena);
    const char *token, *uid;
    input_string(req, body, "token", INPUT_REQUIRED | INPUT_TRIM, &token, &err);
    input_string(req, body, "uid", INPUT_TRIM, &uid, &err);
    if (errors_any(&err)) {
        accounts_reply_invalid(req, &err, NULL);
        return;
    }
    struct user u;
    int rc = verify_confirm(&req->ctx, uid, token, &u);
    if (rc == SHOP_EINVAL || rc == SHOP_ENOTFOUND) {
        accounts_reply_field(req, 400, "INVALID_TOKEN", MSG_BAD_LINK_TOKEN, "token",
                             MSG_BAD_LINK_TOKEN);
        return;
    }
    if (rc != SHOP_OK) {
        accounts_reply_internal(req);
        return;
    }
    struct json_object *data = json_object_new_object();
    json_object_object_add(data, "user", user_object(&u, false));
    json_object_object_add(data, "email_verified", json_object_new_boolean(1));
    accounts_reply_ok(req, 200, data, "Email verified successfully");
}

/* ---- deactivate ---- */

void accounts_deactivate(struct http_request *req)
{
    struct json_object *body = http_body(req);
    struct errors err;
    errors_init(&err, req->arena);
    const char *password, *reason;
    input_string(req, body, "password", INPUT_REQUIRED, &password, &err);
    accounts_input_text(req, body, "reason", INPUT_TRIM | INPUT_ALLOW_BLANK, REASON_MAX_CHARS,
                        &reason, &err);
    if (errors_any(&err)) {
        accounts_reply_invalid(req, &err, NULL);
        return;
    }
    const struct user *me = req->ctx.user;
    if (!password_verify(password, me->password, NULL)) {
        accounts_reply_field(req, 400, "INVALID_CREDENTIALS", "Password is incorrect.",
                             "password", "Password is incorrect.");
        return;
    }
    if (user_deactivate(&req->ctx, me, reason) != SHOP_OK) {
        accounts_reply_internal(req);
        return;
    }
    accounts_reply_ok(req, 200, NULL, "Account deactivated successfully");
}
