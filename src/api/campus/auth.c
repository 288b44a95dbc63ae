/*
 * auth.c - campus endpoints 1-4: login, logout, profile, refresh, in the
 * shapes of seed document 004, with the document's full user object.
 *
 * Every answer carries "success"; failures carry "message" and, for input
 * problems, "errors" (field -> messages). Unverified users are not refused
 * here: the document knows no email verification.
 */
#include <string.h>

#include <json-c/json.h>

#include "api/campus/campus.h"
#include "core/profile.h"
#include "core/token.h"
#include "core/user.h"
#include "util/config.h"

/* ---- answers ---- */

static struct json_object *envelope(bool success, const char *message)
{
    struct json_object *obj = json_object_new_object();
    json_object_object_add(obj, "success", json_object_new_boolean(success));
    if (message != NULL)
        json_object_object_add(obj, "message", json_object_new_string(message));
    return obj;
}

static void reply_failure(struct http_request *req, int status, const char *message)
{
    http_reply_json(req, status, envelope(false, message));
}

static void reply_errors(struct http_request *req, int status, const char *message,
                         const struct errors *err)
{
    struct json_object *obj = envelope(false, message);
    json_object_object_add(obj, "errors", http_errors_object(err));
    http_reply_json(req, status, obj);
}

static void reply_non_field(struct http_request *req, int status, const char *message,
                            const char *detail)
{
    struct errors err;
    errors_init(&err, req->arena);
    errors_add(&err, ERRORS_NON_FIELD, detail);
    reply_errors(req, status, message, &err);
}

/* ---- serializers: one per entity ---- */

/* Optional text: JSON null when absent or empty, as the document shows
 * "department": null for a student. */
static struct json_object *text_or_null(const char *s)
{
    return s != NULL && *s != '\0' ? json_object_new_string(s) : NULL;
}

/* Required text: "" rather than null (Django's non-null CharFields). */
static struct json_object *text_or_empty(const char *s)
{
    return json_object_new_string(s != NULL ? s : "");
}

static struct json_object *student_profile_object(const struct student_profile *p)
{
    struct json_object *obj = json_object_new_object();
    json_object_object_add(obj, "student_id", text_or_empty(p->student_id));
    json_object_object_add(obj, "gpa", text_or_null(p->gpa));
    json_object_object_add(obj, "credits_completed", json_object_new_int64(p->credits_completed));
    json_object_object_add(obj, "graduation_date", text_or_null(p->graduation_date));
    return obj;
}

static struct json_object *staff_profile_object(const struct staff_profile *p)
{
    struct json_object *obj = json_object_new_object();
    json_object_object_add(obj, "employee_id", text_or_empty(p->employee_id));
    json_object_object_add(obj, "hire_date", text_or_null(p->hire_date));
    json_object_object_add(obj, "office_location", text_or_null(p->office_location));
    json_object_object_add(obj, "office_hours", text_or_null(p->office_hours));
    return obj;
}

static bool type_is(const struct user *u, const char *type)
{
    return u->user_type != NULL && strcmp(u->user_type, type) == 0;
}

static struct json_object *user_object(const struct user *u, const struct university_record *r)
{
    struct json_object *obj = json_object_new_object();
    json_object_object_add(obj, "id", json_object_new_int64(u->id));
    json_object_object_add(obj, "username", json_object_new_string(u->username));
    json_object_object_add(obj, "email", json_object_new_string(u->email));
    json_object_object_add(obj, "first_name", text_or_empty(u->first_name));
    json_object_object_add(obj, "last_name", text_or_empty(u->last_name));
    json_object_object_add(obj, "university_id", text_or_null(r->university_id));
    json_object_object_add(obj, "user_type",
                           json_object_new_string(u->user_type ? u->user_type : "customer"));
    json_object_object_add(obj, "phone_number", text_or_null(u->phone));
    json_object_object_add(obj, "date_of_birth", text_or_null(u->birthdate));
    json_object_object_add(obj, "major", text_or_null(r->major));
    json_object_object_add(obj, "academic_level", text_or_null(r->academic_level));
    json_object_object_add(obj, "enrollment_year", r->enrollment_year > 0
                                                       ? json_object_new_int64(r->enrollment_year)
                                                       : NULL);
    json_object_object_add(obj, "department", text_or_null(r->department));
    json_object_object_add(obj, "position", text_or_null(r->position));
    /* The flags follow user_type, as the document's "User Types" pair them;
     * a customer or an admin is neither. */
    json_object_object_add(obj, "is_student", json_object_new_boolean(type_is(u, "student")));
    json_object_object_add(obj, "is_staff_member", json_object_new_boolean(type_is(u, "staff")));
    json_object_object_add(obj, "student_profile",
                           r->has_student ? student_profile_object(&r->student) : NULL);
    json_object_object_add(obj, "staff_profile",
                           r->has_staff ? staff_profile_object(&r->staff) : NULL);
    return obj;
}

/* The user object with its university record; NULL when storage failed. */
static struct json_object *load_user_object(struct http_request *req, const struct user *u)
{
    struct university_record rec;
    memset(&rec, 0, sizeof(rec));
    int rc = university_get(&req->ctx, u->id, &rec);
    if (rc == SHOP_ENOTFOUND)
        memset(&rec, 0, sizeof(rec)); /* a user of another surface: no record */
    else if (rc != SHOP_OK)
        return NULL;
    return user_object(u, &rec);
}

/* A token field of the body: the trimmed string, or NULL when absent, null,
 * blank or not a string (all of which the document answers alike). */
static const char *body_token(struct http_request *req, const char *name)
{
    struct json_object *v = NULL;
    if (!json_object_object_get_ex(http_body(req), name, &v) ||
        !json_object_is_type(v, json_type_string))
        return NULL;
    struct str s = {json_object_get_string(v), (size_t)json_object_get_string_len(v)};
    s = str_trim(s);
    if (s.n == 0 || memchr(s.p, '\0', s.n) != NULL)
        return NULL;
    return str_dup(req->arena, s);
}

/* ---- 1. login ---- */

void campus_login(struct http_request *req)
{
    struct json_object *body = http_body(req);
    struct errors err;
    errors_init(&err, req->arena);
    const char *username, *password;
    input_string(req, body, "username", INPUT_REQUIRED | INPUT_TRIM, &username, &err);
    input_string(req, body, "password", INPUT_REQUIRED, &password, &err);
    if (errors_any(&err)) {
        reply_errors(req, 400, "Validation failed", &err);
        return;
    }
    /* "username" takes the email too: students know both, and users who
     * registered on a surface that logs in by email may have no other name
     * they remember. */
    struct user u;
    int rc =
        user_authenticate(&req->ctx, username, USER_BY_USERNAME | USER_BY_EMAIL, password, &u);
    if (rc == SHOP_EAUTH) {
        reply_non_field(req, 401, "Invalid credentials", "Invalid username or password");
        return;
    }
    if (rc == SHOP_EFORBIDDEN) {
        /* The password was right, so saying why leaks nothing. */
        reply_non_field(req, 401, "Account disabled", "User account is disabled.");
        return;
    }
    struct token_pair tokens;
    if (rc != SHOP_OK || token_issue_pair(&req->ctx, u.id, &tokens) != SHOP_OK) {
        http_reply_internal(req);
        return;
    }
    struct json_object *user = load_user_object(req, &u);
    if (user == NULL) {
        http_reply_internal(req);
        return;
    }
    struct json_object *obj = envelope(true, "Login successful");
    json_object_object_add(obj, "access_token", json_object_new_string(tokens.access));
    json_object_object_add(obj, "refresh_token", json_object_new_string(tokens.refresh));
    json_object_object_add(obj, "user", user);
    http_reply_json(req, 200, obj);
}

/* ---- 2. logout ---- */

void campus_logout(struct http_request *req)
{
    const char *refresh = body_token(req, "refresh_token");
    if (refresh == NULL) {
        reply_failure(req, 400, "Logout failed");
        return;
    }
    /* A user ends their own sessions only: another user's token is refused. */
    enum token_failure why = TOKEN_FAIL_NONE;
    int rc = token_logout(&req->ctx, str_from(refresh), req->ctx.user->id, &why);
    if (rc == SHOP_EAUTH) {
        reply_failure(req, 400, "Logout failed");
        return;
    }
    if (rc != SHOP_OK) {
        http_reply_internal(req);
        return;
    }
    http_reply_json(req, 200, envelope(true, "Logout successful"));
}

/* ---- 3. profile ---- */

void campus_profile(struct http_request *req)
{
    struct json_object *user = load_user_object(req, req->ctx.user);
    if (user == NULL) {
        http_reply_internal(req);
        return;
    }
    struct json_object *obj = envelope(true, NULL);
    json_object_object_add(obj, "user", user);
    http_reply_json(req, 200, obj);
}

/* ---- 4. refresh ---- */

void campus_refresh(struct http_request *req)
{
    const char *refresh = body_token(req, "refresh_token");
    if (refresh == NULL) {
        reply_failure(req, 400, "Refresh token required");
        return;
    }
    /* The document answers with an access token only, so its clients keep
     * their refresh token until it expires: no rotation on this surface
     * (rotating would make a client's second refresh look like token theft
     * and end every session of the user). Logout still blacklists it. */
    const char *access = NULL;
    enum token_failure why = TOKEN_FAIL_NONE;
    int rc = token_refresh_access(&req->ctx, str_from(refresh), &access, &why);
    if (rc == SHOP_EAUTH) {
        reply_failure(req, 401, "Invalid refresh token");
        return;
    }
    if (rc != SHOP_OK) {
        http_reply_internal(req);
        return;
    }
    struct json_object *obj = envelope(true, NULL);
    json_object_object_add(obj, "access_token", json_object_new_string(access));
    http_reply_json(req, 200, obj);
}
