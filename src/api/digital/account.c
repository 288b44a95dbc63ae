/*
 * account.c - register/, profile/ (GET, PUT, PATCH), change-password/,
 * check-username/ and check-email/, with the user serializer of this
 * surface (user_object) that all of them share.
 *
 * Field rules are those of Django's User model as a DRF ModelSerializer
 * applies them: username up to 150 characters of letters, digits and
 * @/./+/-/_; first and last name up to 150; email as core validates it.
 * Field problems answer 400 {"error": "Invalid input.", "details": {field:
 * [messages]}}.
 */
#include <string.h>
#include <strings.h>

#include <json-c/json.h>

#include "api/digital/digital.h"
#include "core/password.h"
#include "core/token.h"
#include "core/user.h"
#include "core/verify.h"
#include "util/arena.h"
#include "util/time.h"

#define NAME_MAX_CHARS 150 /* Django's username, first_name and last_name */

/* ---- the user ---- */

static struct json_object *time_or_null(int64_t epoch)
{
    if (epoch == 0)
        return NULL;
    char iso[TIME_ISO_LEN];
    time_iso8601(epoch, iso);
    return json_object_new_string(iso);
}

static struct json_object *user_object(const struct user *u)
{
    struct json_object *obj = json_object_new_object();
    json_object_object_add(obj, "id", json_object_new_int64(u->id));
    json_object_object_add(obj, "username", json_object_new_string(u->username));
    json_object_object_add(obj, "email", json_object_new_string(u->email));
    json_object_object_add(obj, "first_name", json_object_new_string(u->first_name));
    json_object_object_add(obj, "last_name", json_object_new_string(u->last_name));
    json_object_object_add(obj, "email_verified", json_object_new_boolean(u->email_verified));
    json_object_object_add(obj, "date_joined", time_or_null(u->date_joined));
    json_object_object_add(obj, "last_login", time_or_null(u->last_login));
    return obj;
}

/* ---- field rules ---- */

/* Characters, not bytes: Django's max_length counts code points. */
static size_t utf8_length(const char *s)
{
    size_t n = 0;
    for (; *s; s++)
        n += ((unsigned char)*s & 0xC0) != 0x80;
    return n;
}

static void check_max_length(const char *value, const char *field, struct errors *err)
{
    if (value != NULL && utf8_length(value) > NAME_MAX_CHARS)
        errors_add(err, field, "Ensure this field has no more than 150 characters.");
}

/* Django's UnicodeUsernameValidator (^[\w.@+-]+\Z): ASCII letters, digits
 * and @.+-_, and any non-ASCII character (the letters of other scripts). */
static bool username_chars_valid(const char *s)
{
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        bool ascii_ok = (*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') ||
                        (*p >= '0' && *p <= '9') || strchr("@.+-_", *p) != NULL;
        if (!ascii_ok && *p < 0x80)
            return false;
    }
    return true;
}

/* Format and length of a username; not whether it is taken. */
static void check_username(const char *username, struct errors *err)
{
    if (username == NULL)
        return;
    check_max_length(username, "username", err);
    if (!username_chars_valid(username))
        errors_add(err, "username",
                   "Enter a valid username. This value may contain only letters, numbers, and "
                   "@/./+/-/_ characters.");
}

/* The id whose own username / email does not count as taken: the caller's,
 * when authenticated (a profile form checking the user's current values). */
static int64_t own_id(const struct http_request *req)
{
    return req->ctx.user ? req->ctx.user->id : 0;
}

/* The confirmation of a password, under whichever name the client used.
 * Returns false (err filled) when one is given and differs. */
static bool confirmation_matches(struct http_request *req, struct json_object *body,
                                 const char *password, const char *const *names, size_t n_names,
                                 struct errors *err)
{
    for (size_t i = 0; i < n_names; i++) {
        if (!input_present(body, names[i]))
            continue;
        const char *confirm;
        if (!input_string(req, body, names[i], INPUT_REQUIRED, &confirm, err))
            return false;
        if (strcmp(confirm, password) != 0) {
            errors_add(err, names[i], "Password fields didn't match.");
            return false;
        }
    }
    return true;
}

/* ---- register/ ---- */

static const char *const register_confirm_names[] = {"password2", "password_confirm"};

void digital_register(struct http_request *req)
{
    struct json_object *body = http_body(req);
    struct errors err;
    errors_init(&err, req->arena);
    const char *username, *email, *password, *first_name, *last_name;
    input_string(req, body, "username", INPUT_TRIM, &username, &err);
    input_string(req, body, "email", INPUT_REQUIRED | INPUT_TRIM, &email, &err);
    input_string(req, body, "password", INPUT_REQUIRED, &password, &err);
    input_string(req, body, "first_name", INPUT_TRIM | INPUT_ALLOW_BLANK, &first_name, &err);
    input_string(req, body, "last_name", INPUT_TRIM | INPUT_ALLOW_BLANK, &last_name, &err);
    check_username(username, &err);
    check_max_length(first_name, "first_name", &err);
    check_max_length(last_name, "last_name", &err);
    if (password != NULL)
        confirmation_matches(req, body, password, register_confirm_names,
                             sizeof(register_confirm_names) / sizeof(register_confirm_names[0]),
                             &err);
    if (errors_any(&err)) {
        digital_reply_invalid(req, &err);
        return;
    }
    /* Without a username the email is the username, as on the surfaces
     * whose documents have none; token/ accepts either. */
    struct user_new in = {
        .username = username,
        .email = email,
        .password = password,
        .first_name = first_name,
        .last_name = last_name,
    };
    struct user u;
    int rc = user_create(&req->ctx, &in, &err, &u);
    if (digital_reply_core_failure(req, rc, &err))
        return;
    /* Unverified users are not refused here, so registration signs in. */
    struct token_pair tokens;
    if (token_issue_pair(&req->ctx, u.id, &tokens) != SHOP_OK) {
        digital_reply_internal(req);
        return;
    }
    struct json_object *obj = json_object_new_object();
    json_object_object_add(
        obj, "message",
        json_object_new_string(
            "User registered successfully. Please check your email to verify your account."));
    json_object_object_add(obj, "user", user_object(&u));
    json_object_object_add(obj, "refresh", json_object_new_string(tokens.refresh));
    json_object_object_add(obj, "access", json_object_new_string(tokens.access));
    http_reply_json(req, 201, obj);
}

/* ---- profile/ ---- */

void digital_profile_get(struct http_request *req)
{
    http_reply_json(req, 200, user_object(req->ctx.user));
}

/* PUT needs username and email (the model's required fields), PATCH none.
 * id, email_verified, date_joined and last_login are read-only and ignored
 * when sent, as a ModelSerializer ignores read-only fields. */
static void update_profile(struct http_request *req, bool partial)
{
    const struct user *me = req->ctx.user;
    struct json_object *body = http_body(req);
    struct errors err;
    errors_init(&err, req->arena);
    unsigned required = partial ? 0 : INPUT_REQUIRED;
    const char *username, *email, *first_name, *last_name;
    input_string(req, body, "username", required | INPUT_TRIM, &username, &err);
    input_string(req, body, "email", required | INPUT_TRIM, &email, &err);
    input_string(req, body, "first_name", INPUT_TRIM | INPUT_ALLOW_BLANK, &first_name, &err);
    input_string(req, body, "last_name", INPUT_TRIM | INPUT_ALLOW_BLANK, &last_name, &err);
    check_username(username, &err);
    check_max_length(first_name, "first_name", &err);
    check_max_length(last_name, "last_name", &err);
    if (username != NULL && !errors_has(&err, "username") &&
        user_username_taken(&req->ctx, username, me->id))
        errors_add(&err, "username", "A user with that username already exists.");
    if (errors_any(&err)) {
        digital_reply_invalid(req, &err);
        return;
    }
    struct user_patch patch = {
        .username = username,
        .email = email,
        .first_name = first_name,
        .last_name = last_name,
    };
    struct user u;
    int rc = user_update(&req->ctx, me->id, &patch, &err, &u);
    /* A new address is unverified until proven; core queued its
     * verification email with the change. */
    if (digital_reply_core_failure(req, rc, &err))
        return;
    http_reply_json(req, 200, user_object(&u));
}

void digital_profile_put(struct http_request *req)
{
    update_profile(req, false);
}

void digital_profile_patch(struct http_request *req)
{
    update_profile(req, true);
}

/* ---- change-password/ ---- */

static const char *const new_password_confirm_names[] = {"new_password2", "new_password_confirm",
                                                         "confirm_password"};

void digital_change_password(struct http_request *req)
{
    const struct user *me = req->ctx.user;
    struct json_object *body = http_body(req);
    struct errors err;
    errors_init(&err, req->arena);
    const char *old_password, *new_password;
    input_string(req, body, "old_password", INPUT_REQUIRED, &old_password, &err);
    input_string(req, body, "new_password", INPUT_REQUIRED, &new_password, &err);
    if (new_password != NULL)
        confirmation_matches(
            req, body, new_password, new_password_confirm_names,
            sizeof(new_password_confirm_names) / sizeof(new_password_confirm_names[0]), &err);
    if (errors_any(&err)) {
        digital_reply_invalid(req, &err);
        return;
    }
    if (!password_verify(old_password, me->password, NULL)) {
        errors_add(&err, "old_password", "Old password is incorrect.");
        digital_reply_invalid(req, &err);
        return;
    }
    int rc = user_set_password(&req->ctx, me, new_password, "new_password", &err);
    if (digital_reply_core_failure(req, rc, &err))
        return;
    /* The change revoked every token of the user, the caller's included: a
     * fresh pair keeps this session signed in. */
    struct token_pair tokens;
    if (token_issue_pair(&req->ctx, me->id, &tokens) != SHOP_OK) {
        digital_reply_internal(req);
        return;
    }
    struct json_object *obj = json_object_new_object();
    json_object_object_add(obj, "message",
                           json_object_new_string("Password changed successfully."));
    json_object_object_add(obj, "refresh", json_object_new_string(tokens.refresh));
    json_object_object_add(obj, "access", json_object_new_string(tokens.access));
    http_reply_json(req, 200, obj);
}

/* ---- check-username/, check-email/ ---- */

static void reply_availability(struct http_request *req, const char *field, const char *value,
                               bool available, const char *message)
{
    struct json_object *obj = json_object_new_object();
    json_object_object_add(obj, field, json_object_new_string(value));
    json_object_object_add(obj, "available", json_object_new_boolean(available));
    json_object_object_add(obj, "message", json_object_new_string(message));
    http_reply_json(req, 200, obj);
}

void digital_check_username(struct http_request *req)
{
    struct errors err;
    errors_init(&err, req->arena);
    const char *username;
    input_string(req, http_body(req), "username", INPUT_REQUIRED | INPUT_TRIM, &username, &err);
    check_username(username, &err);
    if (errors_any(&err)) {
        digital_reply_invalid(req, &err);
        return;
    }
    bool taken = user_username_taken(&req->ctx, username, own_id(req));
    reply_availability(req, "username", username, !taken,
                       taken ? "Username is already taken." : "Username is available.");
}

void digital_check_email(struct http_request *req)
{
    struct errors err;
    errors_init(&err, req->arena);
    const char *email;
    input_string(req, http_body(req), "email", INPUT_REQUIRED | INPUT_TRIM, &email, &err);
    if (email != NULL && !user_email_valid(email))
        errors_add(&err, "email", "Enter a valid email address.");
    if (errors_any(&err)) {
        digital_reply_invalid(req, &err);
        return;
    }
    bool taken = user_email_taken(&req->ctx, email, own_id(req));
    reply_availability(req, "email", email, !taken,
                       taken ? "Email is already registered." : "Email is available.");
}
