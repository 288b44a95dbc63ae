/*
 * users.c - the accounts endpoints of document 002: register, login,
 * /api/token/ and its refresh, email verification and its resend, logout,
 * password reset and its confirmation.
 *
 * The surface refuses users whose email is not verified: login answers 403
 * with a verification token (good only for resend-verification-email) and a
 * refresh token, and protected routes carry ROUTE_VERIFIED.
 */
#include <string.h>

#include <json-c/json.h>

#include "api/shop/shop.h"
#include "core/address.h"
#include "core/core.h"
#include "core/password.h"
#include "core/token.h"
#include "core/user.h"
#include "core/verify.h"
#include "util/arena.h"
#include "util/str.h"
#include "util/time.h"

#define INVALID "Invalid data provided"
#define INVALID_CREDENTIALS "Invalid credentials"
#define INACTIVE "User account is inactive"
#define EMAIL_CONFLICT "A user with this phone number or email already exists."
#define USERNAME_CONFLICT "A user with this username or phone number already exists."
#define NAME_MAX_CHARS 150
#define PHONE_INVALID "Enter a valid phone number in international format (+919876543210)."

static const unsigned login_by = USER_BY_EMAIL | USER_BY_USERNAME | USER_BY_PHONE;

/* ---- register ---- */

/* Django's username rule: letters, digits and @/./+/-/_ (non-ASCII letters
 * pass as their UTF-8 bytes). */
static void check_username(const char *username, struct errors *err)
{
    if (username == NULL)
        return;
    for (const unsigned char *p = (const unsigned char *)username; *p; p++) {
        bool allowed = *p >= 0x80 || (*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') ||
                       (*p >= '0' && *p <= '9') || strchr("@.+-_", *p) != NULL;
        if (!allowed) {
            errors_add(err, "username",
                       "Enter a valid username. This value may contain only letters, numbers, "
                       "and @/./+/-/_ characters.");
            return;
        }
    }
}

static void check_length(struct http_request *req, const char *field, const char *value,
                         struct errors *err)
{
    if (value != NULL && strlen(value) > NAME_MAX_CHARS)
        errors_add(err, field,
                   arena_sprintf(req->arena, "Ensure this field has no more than %d characters.",
                                 NAME_MAX_CHARS));
}

/* 400 for a taken email, 409 for a taken username or phone (docs/surfaces/shop.md). */
static void reply_conflict(struct http_request *req, bool email_taken)
{
    if (email_taken)
        shop_reply_error(req, 400, EMAIL_CONFLICT);
    else
        shop_reply_error(req, 409, USERNAME_CONFLICT);
}

void shop_register(struct http_request *req)
{
    struct json_object *body = http_body(req);
    struct errors err;
    errors_init(&err, req->arena);
    const char *username, *email, *password, *first_name, *last_name, *phone, *birthdate;
    input_string(req, body, "username", INPUT_REQUIRED | INPUT_TRIM, &username, &err);
    input_string(req, body, "email", INPUT_REQUIRED | INPUT_TRIM, &email, &err);
    input_string(req, body, "password", INPUT_REQUIRED, &password, &err);
    input_string(req, body, "first_name", INPUT_REQUIRED | INPUT_TRIM, &first_name, &err);
    input_string(req, body, "last_name", INPUT_REQUIRED | INPUT_TRIM, &last_name, &err);
    input_string(req, body, "phone_number", INPUT_REQUIRED | INPUT_TRIM, &phone, &err);
    input_string(req, body, "birthdate", INPUT_REQUIRED | INPUT_TRIM, &birthdate, &err);
    check_username(username, &err);
    check_length(req, "username", username, &err);
    check_length(req, "first_name", first_name, &err);
    check_length(req, "last_name", last_name, &err);
    if (email && !user_email_valid(email))
        errors_add(&err, "email", "Enter a valid email address.");
    if (phone && !user_phone_valid(phone))
        errors_add(&err, "phone_number", PHONE_INVALID);
    int y, m, d;
    if (birthdate && !time_parse_date(birthdate, &y, &m, &d))
        errors_add(&err, "birthdate",
                   "Date has wrong format. Use one of these formats instead: YYYY-MM-DD.");
    if (password) {
        struct password_attrs attrs = {username, email, first_name, last_name};
        password_validate(password, &attrs, &err, "password");
    }
    struct shop_address_item *items;
    size_t n;
    struct json_object *addr_errors;
    shop_address_list_input(req, body, false, &items, &n, &addr_errors);
    if (errors_any(&err) || addr_errors) {
        struct json_object *details = shop_errors_json(&err);
        if (addr_errors)
            json_object_object_add(details, "addresses", addr_errors);
        shop_reply_invalid(req, INVALID, details);
        return;
    }
    if (user_email_taken(&req->ctx, email, 0)) {
        reply_conflict(req, true);
        return;
    }
    if (user_username_taken(&req->ctx, username, 0) || user_phone_taken(&req->ctx, phone, 0)) {
        reply_conflict(req, false);
        return;
    }

    /* Core creates the addresses and queues the verification email in the
     * user's transaction. */
    struct address_input *addr_in = arena_zalloc(req->arena, (n ? n : 1) * sizeof(*addr_in));
    for (size_t i = 0; i < n; i++)
        addr_in[i] = items[i].in;
    struct user_new in = {
        .username = username,
        .email = email,
        .password = password,
        .first_name = first_name,
        .last_name = last_name,
        .phone = phone,
        .birthdate = birthdate,
        .addresses = addr_in,
        .n_addresses = n,
    };
    struct user u;
    int rc = user_create(&req->ctx, &in, &err, &u);
    if (rc == SHOP_ECONFLICT) { /* a concurrent registration took a value after our check */
        reply_conflict(req, errors_has(&err, "email"));
        return;
    }
    if (rc == SHOP_EINVAL) {
        shop_reply_invalid(req, INVALID, shop_errors_json(&err));
        return;
    }
    /* The created addresses, with their ids: listed as the new user. */
    struct address *addrs = NULL;
    size_t n_addrs = 0;
    if (rc == SHOP_OK) {
        req->ctx.user = &u;
        rc = address_list(&req->ctx, &addrs, &n_addrs);
        req->ctx.user = NULL;
    }
    if (rc != SHOP_OK) {
        shop_reply_internal(req);
        return;
    }
    http_reply_json(req, 201, shop_user_json(&u, addrs, n_addrs, true));
}

/* ---- login, token ---- */

static void reply_pair(struct http_request *req, const struct token_pair *t)
{
    struct json_object *obj = json_object_new_object();
    json_object_object_add(obj, "refresh", json_object_new_string(t->refresh));
    json_object_object_add(obj, "access", json_object_new_string(t->access));
    http_reply_json(req, 200, obj);
}

/* The document's 403 for a user whose email is not verified. The
 * verification token authenticates resend-verification-email only; the
 * refresh token is real, but what it buys is refused by ROUTE_VERIFIED.
 * encrypted_verification_token repeats the verification token: it is what a
 * client keeps for the resend (docs/surfaces/shop.md). */
static void reply_unverified(struct http_request *req, const struct user *u)
{
    struct token_pair pair;
    if (token_issue_pair(&req->ctx, u->id, &pair) != SHOP_OK) {
        shop_reply_internal(req);
        return;
    }
    const char *verification = token_issue_verification(&req->ctx, u->id);
    struct json_object *obj = json_object_new_object();
    json_object_object_add(
        obj, "error",
        json_object_new_string(arena_sprintf(
            req->arena, "Please verify your email at %s before logging in.", u->email)));
    json_object_object_add(obj, "isUserEmailVerified", json_object_new_boolean(false));
    json_object_object_add(obj, "stored_email_address", json_object_new_string(u->email));
    json_object_object_add(obj, "verification_token", json_object_new_string(verification));
    json_object_object_add(obj, "refresh_token", json_object_new_string(pair.refresh));
    json_object_object_add(obj, "encrypted_verification_token",
                           json_object_new_string(verification));
    json_object_object_add(obj, "action_required",
                           json_object_new_string("check_email_for_verification"));
    http_reply_json(req, 403, obj);
}

/* login (field "login", bad credentials 400) and token/ (field "username",
 * 401 as simplejwt): both accept a username, an email or a phone number. */
static void authenticate(struct http_request *req, const char *field, int refused_status)
{
    struct json_object *body = http_body(req);
    struct errors err;
    errors_init(&err, req->arena);
    const char *login, *password;
    input_string(req, body, field, INPUT_REQUIRED | INPUT_TRIM, &login, &err);
    input_string(req, body, "password", INPUT_REQUIRED, &password, &err);
    if (errors_any(&err)) {
        shop_reply_invalid(req, INVALID, shop_errors_json(&err));
        return;
    }
    struct user u;
    int rc = user_authenticate(&req->ctx, login, login_by | USER_REQUIRE_VERIFIED, password, &u);
    if (rc == SHOP_EAUTH) {
        shop_reply_error(req, refused_status, INVALID_CREDENTIALS);
        return;
    }
    if (rc == SHOP_EFORBIDDEN) {
        shop_reply_error(req, 403, INACTIVE);
        return;
    }
    if (rc != SHOP_OK) {
        shop_reply_internal(req);
        return;
    }
    if (!u.email_verified) {
        reply_unverified(req, &u);
        return;
    }
    struct token_pair pair;
    if (token_issue_pair(&req->ctx, u.id, &pair) != SHOP_OK) {
        shop_reply_internal(req);
        return;
    }
    reply_pair(req, &pair);
}

void shop_login(struct http_request *req)
{
    authenticate(req, "login", 400);
}

void shop_token_obtain(struct http_request *req)
{
    authenticate(req, "username", 401);
}

/* simplejwt's TokenRefreshView as the document shows it: {"access"} only.
 * Its clients keep their refresh token, so it is not rotated (rotating
 * would turn their second refresh into apparent token theft). */
void shop_token_refresh(struct http_request *req)
{
    struct errors err;
    errors_init(&err, req->arena);
    const char *refresh;
    if (!input_string(req, http_body(req), "refresh", INPUT_REQUIRED | INPUT_TRIM, &refresh,
                      &err)) {
        http_reply_json(req, 400, http_errors_object(&err));
        return;
    }
    const char *access = NULL;
    enum token_failure why = TOKEN_FAIL_NONE;
    int rc = token_refresh_access(&req->ctx, str_from(refresh), &access, &why);
    if (rc == SHOP_EAUTH) {
        struct json_object *obj = json_object_new_object();
        json_object_object_add(obj, "detail", json_object_new_string(token_failure_message(why)));
        json_object_object_add(obj, "code", json_object_new_string("token_not_valid"));
        http_reply_json(req, 401, obj);
        return;
    }
    if (rc != SHOP_OK) {
        shop_reply_internal(req);
        return;
    }
    struct json_object *obj = json_object_new_object();
    json_object_object_add(obj, "access", json_object_new_string(access));
    http_reply_json(req, 200, obj);
}

/* ---- email verification ---- */

static bool is_blank(const char *s)
{
    return s == NULL || *s == '\0';
}

static void verify_email(struct http_request *req, const char *uid, const char *token)
{
    if (is_blank(uid) || is_blank(token)) {
        shop_reply_error(req, 400, "Missing verification parameters");
        return;
    }
    int64_t id;
    if (!verify_uid_decode(uid, &id)) {
        shop_reply_error(req, 400, "Invalid user ID");
        return;
    }
    struct user u;
    int rc = verify_confirm(&req->ctx, uid, token, &u);
    if (rc == SHOP_OK) {
        struct json_object *obj = json_object_new_object();
        json_object_object_add(obj, "message", json_object_new_string("Email verified successfully!"));
        json_object_object_add(
            obj, "detail",
            json_object_new_string("Your account has been activated and email verified."));
        http_reply_json(req, 200, obj);
        return;
    }
    if (rc == SHOP_ENOTFOUND) {
        shop_reply_error(req, 400, "Invalid user ID");
        return;
    }
    if (rc != SHOP_EINVAL) {
        shop_reply_internal(req);
        return;
    }
    /* Verifying spends every verification token, so a second click on the
     * link lands here: say what happened rather than "invalid". */
    rc = user_get(&req->ctx, id, &u);
    if (rc == SHOP_ENOTFOUND) {
        shop_reply_error(req, 400, "Invalid user ID");
        return;
    }
    if (rc != SHOP_OK) {
        shop_reply_internal(req);
        return;
    }
    shop_reply_error(req, 400,
                     u.email_verified ? "Email is already verified"
                                      : "Invalid or expired verification token");
}

void shop_email_verify_query(struct http_request *req)
{
    verify_email(req, http_query(req, "uid"), http_query(req, "token"));
}

void shop_email_verify_path(struct http_request *req)
{
    verify_email(req, http_param(req, "uidb64"), http_param(req, "token"));
}

void shop_resend_verification(struct http_request *req)
{
    const struct user *u = req->ctx.user;
    if (u->email_verified) {
        shop_reply_error(req, 400, "Email is already verified");
        return;
    }
    if (verify_send_email(&req->ctx, u) != SHOP_OK) {
        shop_reply_error(req, 500, "Failed to send verification email. Please try again later.");
        return;
    }
    struct json_object *obj = json_object_new_object();
    json_object_object_add(obj, "message",
                           json_object_new_string("Verification email sent successfully"));
    json_object_object_add(obj, "detail",
                           json_object_new_string("Please check your email for the verification link"));
    /* The document's quota is per email per day: report that one, not the
     * per-minute IP rule that may be tighter right now. */
    int64_t remaining = http_ratelimit_remaining_rule(req, "shop-resend-email");
    json_object_object_add(obj, "remaining_attempts",
                           remaining >= 0 ? json_object_new_int64(remaining) : NULL);
    http_reply_json(req, 200, obj);
}

/* ---- logout ---- */

void shop_logout(struct http_request *req)
{
    static const char *const refused = "Invalid token or token already expired";
    struct json_object *v = NULL;
    if (!json_object_object_get_ex(http_body(req), "refresh", &v) ||
        !json_object_is_type(v, json_type_string) || json_object_get_string_len(v) == 0) {
        shop_reply_error(req, 400, refused);
        return;
    }
    enum token_failure why = TOKEN_FAIL_NONE;
    struct str refresh = {json_object_get_string(v), (size_t)json_object_get_string_len(v)};
    /* Only the caller's own session: another user's token is refused. */
    int rc = token_logout(&req->ctx, str_trim(refresh), req->ctx.user->id, &why);
    if (rc == SHOP_EAUTH) {
        shop_reply_error(req, 400, refused);
        return;
    }
    if (rc != SHOP_OK) {
        shop_reply_internal(req);
        return;
    }
    shop_reply_message(req, 205, "Logout successful, token invalidated.");
}

/* ---- password reset ---- */

void shop_password_reset(struct http_request *req)
{
    struct errors err;
    errors_init(&err, req->arena);
    const char *email;
    if (input_string(req, http_body(req), "email", INPUT_REQUIRED | INPUT_TRIM, &email, &err) &&
        !user_email_valid(email))
        errors_add(&err, "email", "Enter a valid email address.");
    if (errors_any(&err)) {
        shop_reply_invalid(req, INVALID, shop_errors_json(&err));
        return;
    }
    struct user u;
    int rc = user_get_by_email(&req->ctx, email, &u);
    if (rc == SHOP_ENOTFOUND) {
        shop_reply_error(req, 404, "Email address not found.");
        return;
    }
    /* A deactivated account gets no reset link (Django's PasswordResetForm
     * skips inactive users too); the answer does not say so. */
    if (rc == SHOP_OK && u.is_active)
        rc = verify_send_reset(&req->ctx, &u);
    if (rc != SHOP_OK) {
        shop_reply_internal(req);
        return;
    }
    shop_reply_message(req, 200, "Password reset e-mail has been sent.");
}

/* A uid or token from the path, else the body, else the query string. */
static const char *reset_param(struct http_request *req, const char *path_name,
                               const char *name)
{
    const char *v = http_param(req, path_name);
    if (!is_blank(v))
        return v;
    struct json_object *f = NULL;
    if (json_object_object_get_ex(http_body(req), name, &f) &&
        json_object_is_type(f, json_type_string) && json_object_get_string_len(f) > 0)
        return json_object_get_string(f);
    v = http_query(req, name);
    return is_blank(v) ? NULL : v;
}

/* A password field of the confirm form. Absent or null: false, *out NULL.
 * Present but unusable (empty, not a string): false, *out NULL, and
 * Django's form message in form. */
static bool reset_password_field(struct http_request *req, const char *name, const char **out,
                                 bool *present, struct errors *form)
{
    struct json_object *v = NULL;
    *out = NULL;
    *present = json_object_object_get_ex(http_body(req), name, &v) &&
               !json_object_is_type(v, json_type_null);
    if (!*present)
        return false;
    switch (json_object_get_type(v)) {
    case json_type_string:
    case json_type_int:
    case json_type_double:
        break;
    default:
        errors_add(form, name, "Enter a valid value.");
        return false;
    }
    const char *s = json_object_get_string(v);
    if (*s == '\0' || (json_object_is_type(v, json_type_string) &&
                       strlen(s) != (size_t)json_object_get_string_len(v))) {
        errors_add(form, name, *s == '\0' ? "This field is required." : "Enter a valid value.");
        return false;
    }
    *out = s;
    return true;
}

#define UNVERIFIED_RESET                                                                        \
    "Please verify your email before resetting your password. Check your inbox for the "        \
    "verification link or contact support if you need assistance."

void shop_password_reset_confirm(struct http_request *req)
{
    const char *uid = reset_param(req, "uidb64", "uid");
    const char *token = reset_param(req, "token", "token");
    if (uid == NULL || token == NULL) {
        shop_reply_error(req, 400, "Missing reset parameters");
        return;
    }
    int64_t id;
    struct user u;
    int rc = verify_uid_decode(uid, &id) ? user_get(&req->ctx, id, &u) : SHOP_ENOTFOUND;
    if (rc == SHOP_OK)
        rc = verify_token_check(&req->ctx, uid, token, VERIFY_RESET, &u);
    if (rc == SHOP_ENOTFOUND) {
        shop_reply_error(req, 400, "Invalid user ID");
        return;
    }
    if (rc == SHOP_EINVAL) {
        shop_reply_error(req, 400, "Invalid or expired reset token");
        return;
    }
    if (rc != SHOP_OK) {
        shop_reply_internal(req);
        return;
    }
    if (!u.is_active) {
        shop_reply_error(req, 400, INACTIVE);
        return;
    }
    if (!u.email_verified) {
        shop_reply_error(req, 400, UNVERIFIED_RESET);
        return;
    }

    struct errors form;
    errors_init(&form, req->arena);
    const char *p1, *p2;
    bool has1, has2;
    reset_password_field(req, "new_password1", &p1, &has1, &form);
    reset_password_field(req, "new_password2", &p2, &has2, &form);
    if (!has1 || !has2) {
        shop_reply_error(req, 400, "Both password fields are required");
        return;
    }
    if (errors_any(&form)) {
        struct json_object *obj = json_object_new_object();
        json_object_object_add(obj, "error", json_object_new_string("Password reset failed"));
        json_object_object_add(obj, "details", shop_errors_json(&form));
        http_reply_json(req, 400, obj);
        return;
    }
    if (strcmp(p1, p2) != 0) {
        shop_reply_error(req, 400, "Password confirmation does not match");
        return;
    }

    struct errors rules;
    errors_init(&rules, req->arena);
    struct password_attrs attrs = {u.username, u.email, u.first_name, u.last_name};
    rc = password_validate(p1, &attrs, &rules, "new_password1")
             ? verify_reset_password(&req->ctx, uid, token, p1, "new_password1", &rules, &u)
             : SHOP_EINVAL;
    if (rc == SHOP_EINVAL) {
        struct json_object *list = json_object_new_array();
        for (const struct field_error *fe = rules.head; fe; fe = fe->next)
            json_object_array_add(list, json_object_new_string(fe->message));
        struct json_object *obj = json_object_new_object();
        json_object_object_add(obj, "error", json_object_new_string("Password validation failed"));
        json_object_object_add(obj, "details", list);
        http_reply_json(req, 400, obj);
        return;
    }
    if (rc == SHOP_EAUTH) { /* spent by a concurrent reset since the check above */
        shop_reply_error(req, 400, "Invalid or expired reset token");
        return;
    }
    if (rc != SHOP_OK) {
        shop_reply_internal(req);
        return;
    }
    shop_reply_message(req, 200, "Password has been reset successfully");
}
