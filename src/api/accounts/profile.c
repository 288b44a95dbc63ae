/*
 * profile.c - the accounts surface's profile (the user with its nested
 * "profile" object), avatar upload and email preferences, in the shapes of
 * seed document 001. Everything here is the authenticated user's own:
 * nothing takes an id, so nobody reaches another user's profile.
 */
#include <string.h>

#include <json-c/json.h>

#include "api/accounts/accounts.h"
#include "core/media.h"
#include "core/profile.h"
#include "core/user.h"
#include "util/arena.h"
#include "util/time.h"

#define NAME_MAX_CHARS 150
#define BIO_MAX_CHARS 500
#define LOCATION_MAX_CHARS 100

static struct json_object *string_or_null(const char *s)
{
    return s && *s ? json_object_new_string(s) : NULL;
}

/* GET profile/: the user and the nested profile. */
static struct json_object *profile_object(struct http_request *req, const struct user *u,
                                          const struct profile *p)
{
    char joined[TIME_ISO_LEN], last_login[TIME_ISO_LEN];
    time_iso8601(u->date_joined, joined);
    struct json_object *nested = json_object_new_object();
    json_object_object_add(nested, "bio", json_object_new_string(p->bio ? p->bio : ""));
    json_object_object_add(nested, "avatar",
                           p->avatar && *p->avatar
                               ? json_object_new_string(media_url(&req->ctx, p->avatar))
                               : NULL);
    json_object_object_add(nested, "date_of_birth", string_or_null(u->birthdate));
    json_object_object_add(nested, "gender", json_object_new_string(p->gender ? p->gender : ""));
    json_object_object_add(nested, "location",
                           json_object_new_string(p->location ? p->location : ""));

    struct json_object *obj = json_object_new_object();
    json_object_object_add(obj, "id", json_object_new_int64(u->id));
    json_object_object_add(obj, "username", json_object_new_string(u->username));
    json_object_object_add(obj, "email", json_object_new_string(u->email));
    json_object_object_add(obj, "first_name", json_object_new_string(u->first_name));
    json_object_object_add(obj, "last_name", json_object_new_string(u->last_name));
    json_object_object_add(obj, "phone", json_object_new_string(u->phone ? u->phone : ""));
    json_object_object_add(obj, "date_joined", json_object_new_string(joined));
    if (u->last_login > 0) {
        time_iso8601(u->last_login, last_login);
        json_object_object_add(obj, "last_login", json_object_new_string(last_login));
    } else {
        json_object_object_add(obj, "last_login", NULL);
    }
    json_object_object_add(obj, "profile", nested);
    return obj;
}

/* Replies with the current profile of user u. */
static void reply_profile(struct http_request *req, int status, const struct user *u,
                          const char *message)
{
    struct profile p;
    if (profile_get(&req->ctx, u->id, &p) != SHOP_OK) {
        accounts_reply_internal(req);
        return;
    }
    accounts_reply_ok(req, status, profile_object(req, u, &p), message);
}

void accounts_profile_get(struct http_request *req)
{
    reply_profile(req, 200, req->ctx.user, "Profile retrieved successfully");
}

/* ---- PUT profile/ ---- */

/* A field that may be cleared: null or "" clear it (*out = ""), absent
 * leaves it (*out = NULL). */
static bool input_clearable(struct http_request *req, struct json_object *obj, const char *name,
                            const char **out, struct errors *err)
{
    struct json_object *v = NULL;
    if (json_object_object_get_ex(obj, name, &v) && json_object_is_type(v, json_type_null)) {
        *out = "";
        return true;
    }
    return input_string(req, obj, name, INPUT_TRIM | INPUT_ALLOW_BLANK, out, err);
}

struct profile_input {
    struct user_patch user;
    bool has_user;
    struct profile profile;
    bool has_profile;
};

/* Reads and checks the whole body before anything is written. Field errors
 * of the nested object go under "profile" (DRF's nesting). */
static bool read_profile_input(struct http_request *req, struct profile_input *in,
                               struct errors *err)
{
    struct json_object *body = http_body(req);
    const struct user *me = req->ctx.user;
    memset(in, 0, sizeof(*in));
    /* username and email are read-only here, as in the document's request
     * (an email change would need a new verification). */
    accounts_input_text(req, body, "first_name", INPUT_TRIM | INPUT_ALLOW_BLANK, NAME_MAX_CHARS,
                        &in->user.first_name, err);
    accounts_input_text(req, body, "last_name", INPUT_TRIM | INPUT_ALLOW_BLANK, NAME_MAX_CHARS,
                        &in->user.last_name, err);
    const char *phone = NULL;
    input_clearable(req, body, "phone", &phone, err);
    if (phone && *phone) {
        if (!user_phone_valid(phone))
            errors_add(err, "phone",
                       "Enter a valid phone number in international format, e.g. +14155550123.");
        else if (user_phone_taken(&req->ctx, phone, me->id))
            /* Asked before writing: a constraint failure inside the
             * transaction would abort it on PostgreSQL. */
            errors_add(err, "phone", "A user with this phone number already exists.");
    }
    if (phone && *phone == '\0' && (me->phone == NULL || *me->phone == '\0'))
        phone = NULL; /* clearing what is not set: nothing to write */
    in->user.phone = phone;

    struct json_object *nested = NULL;
    if (json_object_object_get_ex(body, "profile", &nested) &&
        !json_object_is_type(nested, json_type_null)) {
        if (!json_object_is_type(nested, json_type_object)) {
            errors_add(err, "profile.non_field_errors",
                       arena_sprintf(req->arena,
                                     "Invalid data. Expected a dictionary, but got %s.",
                                     http_json_type_name(nested)));
        } else {
            struct profile *p = &in->profile;
            accounts_input_text(req, nested, "bio", INPUT_TRIM | INPUT_ALLOW_BLANK,
                                BIO_MAX_CHARS, &p->bio, err);
            accounts_input_text(req, nested, "location", INPUT_TRIM | INPUT_ALLOW_BLANK,
                                LOCATION_MAX_CHARS, &p->location, err);
            input_string(req, nested, "gender", INPUT_TRIM | INPUT_ALLOW_BLANK, &p->gender,
                         err);
            if (p->gender && *p->gender && strcmp(p->gender, "M") != 0 &&
                strcmp(p->gender, "F") != 0 && strcmp(p->gender, "O") != 0)
                errors_add(err, "gender",
                           arena_sprintf(req->arena, "\"%s\" is not a valid choice.",
                                         p->gender));
            const char *dob = NULL;
            input_clearable(req, nested, "date_of_birth", &dob, err);
            int y, m, d;
            if (dob && *dob && !time_parse_date(dob, &y, &m, &d))
                errors_add(err, "birthdate",
                           "Date has wrong format. Use one of these formats instead: "
                           "YYYY-MM-DD.");
            if (dob && *dob == '\0' && me->birthdate == NULL)
                dob = NULL;
            in->user.birthdate = dob;
            /* avatar is read-only here: profile/avatar/ uploads it. */
            in->has_profile = p->bio || p->location || p->gender;
        }
    }
    in->has_user = in->user.first_name || in->user.last_name || in->user.phone ||
                   in->user.birthdate;
    return !errors_any(err);
}

/* Core's field names where this document nests or renames them. */
static const struct accounts_field_map profile_error_fields[] = {
    {"birthdate", "date_of_birth", "profile"},
    {"bio", "bio", "profile"},
    {"gender", "gender", "profile"},
    {"location", "location", "profile"},
    {"profile.non_field_errors", "non_field_errors", "profile"},
    {NULL, NULL, NULL},
};

void accounts_profile_put(struct http_request *req)
{
    struct errors err;
    errors_init(&err, req->arena);
    struct profile_input in;
    if (!read_profile_input(req, &in, &err)) {
        accounts_reply_invalid(req, &err, profile_error_fields);
        return;
    }
    const struct user *me = req->ctx.user;
    struct user updated = *me;
    /* The user row and the profile row change together or not at all. */
    bool own;
    int rc = core_tx_begin(&req->ctx, &own);
    if (rc == SHOP_OK && in.has_user)
        rc = user_update(&req->ctx, me->id, &in.user, &err, &updated);
    if (rc == SHOP_OK && in.has_profile)
        rc = profile_update(&req->ctx, me->id, &in.profile, &err);
    rc = core_tx_end(&req->ctx, own, rc);
    if (rc == SHOP_EINVAL || rc == SHOP_ECONFLICT) {
        accounts_reply_invalid(req, &err, profile_error_fields);
        return;
    }
    if (rc != SHOP_OK) {
        accounts_reply_internal(req);
        return;
    }
    reply_profile(req, 200, &updated, "Profile updated successfully");
}

/* ---- POST profile/avatar/ ---- */

void accounts_profile_avatar(struct http_request *req)
{
    struct errors err;
    errors_init(&err, req->arena);
    const struct http_file *f = http_file(req, "avatar");
    if (f == NULL) {
        errors_add(&err, "avatar",
                   input_present(http_body(req), "avatar")
                       ? "The submitted data was not a file. Check the encoding type on the form."
                       : "No file was submitted.");
    } else if (f->len == 0) {
        errors_add(&err, "avatar", "The submitted file is empty.");
    }
    if (errors_any(&err)) {
        accounts_reply_invalid(req, &err, NULL);
        return;
    }
    const struct user *me = req->ctx.user;
    struct profile old;
    int rc = profile_get(&req->ctx, me->id, &old);
    if (rc != SHOP_OK) {
        accounts_reply_internal(req);
        return;
    }
    const char *path = NULL;
    rc = media_store_image(&req->ctx, "avatars", f->data, f->len, "avatar", &err, &path);
    if (rc == SHOP_EINVAL) {
        accounts_reply_invalid(req, &err, NULL);
        return;
    }
    if (rc != SHOP_OK) {
        accounts_reply_internal(req);
        return;
    }
    struct profile change = {.avatar = path};
    if (profile_update(&req->ctx, me->id, &change, &err) != SHOP_OK) {
        media_remove(&req->ctx, path); /* nobody refers to it */
        accounts_reply_internal(req);
        return;
    }
    /* The replaced file is unreachable now. */
    if (old.avatar && *old.avatar && strcmp(old.avatar, path) != 0)
        media_remove(&req->ctx, old.avatar);
    reply_profile(req, 200, me, "Avatar uploaded successfully");
}

/* ---- email preferences ---- */

static struct json_object *preferences_object(const struct email_preferences *p)
{
    struct json_object *obj = json_object_new_object();
    for (size_t i = 0; i < email_preference_count; i++) {
        const struct email_preference_field *f = &email_preference_fields[i];
        bool value = *(const bool *)((const char *)p + f->offset);
        json_object_object_add(obj, f->name, json_object_new_boolean(value));
    }
    return obj;
}

void accounts_preferences_get(struct http_request *req)
{
    struct email_preferences p;
    if (preferences_get(&req->ctx, req->ctx.user->id, &p) != SHOP_OK) {
        accounts_reply_internal(req);
        return;
    }
    accounts_reply_ok(req, 200, preferences_object(&p), "Email preferences retrieved successfully");
}

/* Applies the booleans of body to the stored preferences in *p. */
static int update_preferences(struct http_request *req, struct json_object *body,
                              struct email_preferences *p, struct errors *err)
{
    int rc = preferences_get(&req->ctx, req->ctx.user->id, p);
    if (rc != SHOP_OK)
        return rc;
    /* A partial update: only the booleans given change. */
    for (size_t i = 0; i < email_preference_count; i++) {
        const struct email_preference_field *f = &email_preference_fields[i];
        bool present, value;
        if (accounts_input_bool(body, f->name, &present, &value, err) && present)
            *(bool *)((char *)p + f->offset) = value;
    }
    if (errors_any(err))
        return SHOP_EINVAL;
    return preferences_set(&req->ctx, req->ctx.user->id, p);
}

void accounts_preferences_put(struct http_request *req)
{
    struct errors err;
    errors_init(&err, req->arena);
    struct email_preferences p;
    /* Read and write in one transaction, so that two partial updates of
     * different fields do not undo each other. */
    bool own;
    int rc = core_tx_begin(&req->ctx, &own);
    if (rc == SHOP_OK)
        rc = update_preferences(req, http_body(req), &p, &err);
    rc = core_tx_end(&req->ctx, own, rc);
    if (rc == SHOP_EINVAL) {
        accounts_reply_invalid(req, &err, NULL);
        return;
    }
    if (rc != SHOP_OK) {
        accounts_reply_internal(req);
        return;
    }
    accounts_reply_ok(req, 200, preferences_object(&p), "Email preferences updated successfully");
}
