/*
 * provision.c - university users for `shopd user create --json '{...}'`: the
 * JSON object is shaped like the campus document's user object plus
 * "password" (schema and examples in docs/surfaces/campus.md).
 *
 * Every field is checked before anything is written, so one run reports
 * every problem at once; then the user row and its university record are
 * written in one transaction: a refused university record leaves no user
 * behind. Messages follow DRF's wording; nested fields are named
 * "student_profile.gpa". Everything allocated lives in ctx->arena.
 */
#include <stdlib.h>
#include <string.h>

#include <json-c/json.h>

#include "api/campus/campus.h"
#include "core/password.h"
#include "core/profile.h"
#include "core/user.h"
#include "util/arena.h"
#include "util/log.h"
#include "util/time.h"

#define MAX_NAME 150 /* Django's username, first_name, last_name */
#define MAX_ID 50    /* university_id, student_id, employee_id */
#define MAX_TEXT 255
#define MIN_YEAR 1900
#define MAX_YEAR 2200 /* as core's university_set */

/* Where fields are read from and where their problems go. */
struct reader {
    struct ctx *ctx;
    struct errors *err;
    const char *prefix; /* "student_profile" for nested objects, or NULL */
};

enum { REQUIRED = 1 };

static const char *const top_fields[] = {
    "id", "username", "email", "password", "first_name", "last_name", "university_id",
    "user_type", "phone_number", "date_of_birth", "major", "academic_level", "enrollment_year",
    "department", "position", "is_student", "is_staff_member", "student_profile",
    "staff_profile", NULL,
};
static const char *const student_fields[] = {
    "student_id", "gpa", "credits_completed", "graduation_date", NULL,
};
static const char *const staff_fields[] = {
    "employee_id", "hire_date", "office_location", "office_hours", NULL,
};
static const char *const user_types[] = {"student", "staff", "admin", "customer", NULL};
static const char *const academic_levels[] = {"undergraduate", "graduate", "phd", NULL};

static const char *name_of(struct reader *r, const char *name)
{
    return r->prefix ? arena_sprintf(r->ctx->arena, "%s.%s", r->prefix, name) : name;
}

static void fail(struct reader *r, const char *name, const char *message)
{
    errors_add(r->err, name_of(r, name), message);
}

static bool in_list(const char *s, const char *const *list)
{
    for (; *list; list++)
        if (strcmp(s, *list) == 0)
            return true;
    return false;
}

/* A typo in a field name would otherwise drop the value silently. */
static void check_known(struct reader *r, struct json_object *obj, const char *const *known)
{
    json_object_object_foreach(obj, key, val)
    {
        (void)val;
        if (!in_list(key, known))
            fail(r, arena_strdup(r->ctx->arena, key), "Unknown field.");
    }
}

/* The field's value; NULL (and *ok false when required) when absent or
 * null. An optional field given as null reads as absent, so the documented
 * object ("department": null) can be fed back as it is. */
static struct json_object *field(struct reader *r, struct json_object *obj, const char *name,
                                 unsigned flags, bool *ok)
{
    struct json_object *v = NULL;
    *ok = true;
    if (!json_object_object_get_ex(obj, name, &v)) {
        if (flags & REQUIRED) {
            fail(r, name, "This field is required.");
            *ok = false;
        }
        return NULL;
    }
    if (v == NULL && (flags & REQUIRED)) {
        fail(r, name, "This field may not be null.");
        *ok = false;
    }
    return v;
}

/* Text, trimmed. *out is NULL when absent, null or (optional) blank. */
static bool read_text(struct reader *r, struct json_object *obj, const char *name,
                      unsigned flags, size_t max_len, const char **out)
{
    bool ok;
    *out = NULL;
    struct json_object *v = field(r, obj, name, flags, &ok);
    if (v == NULL)
        return ok;
    enum json_type t = json_object_get_type(v);
    if (t != json_type_string && t != json_type_int && t != json_type_double) {
        fail(r, name, "Not a valid string.");
        return false;
    }
    size_t len = t == json_type_string ? (size_t)json_object_get_string_len(v)
                                       : strlen(json_object_get_string(v));
    struct str s = {json_object_get_string(v), len};
    if (memchr(s.p, '\0', s.n) != NULL) {
        fail(r, name, "Null characters are not allowed.");
        return false;
    }
    s = str_trim(s);
    if (s.n == 0) {
        if (flags & REQUIRED) {
            fail(r, name, "This field may not be blank.");
            return false;
        }
        return true;
    }
    if (s.n > max_len) {
        fail(r, name,
             arena_sprintf(r->ctx->arena, "Ensure this field has no more than %zu characters.",
                           max_len));
        return false;
    }
    *out = str_dup(r->ctx->arena, s);
    return true;
}

static bool read_choice(struct reader *r, struct json_object *obj, const char *name,
                        unsigned flags, const char *const *choices, const char **out)
{
    if (!read_text(r, obj, name, flags, MAX_TEXT, out))
        return false;
    if (*out != NULL && !in_list(*out, choices)) {
        fail(r, name, arena_sprintf(r->ctx->arena, "\"%s\" is not a valid choice.", *out));
        *out = NULL;
        return false;
    }
    return true;
}

static bool read_date(struct reader *r, struct json_object *obj, const char *name,
                      unsigned flags, const char **out)
{
    if (!read_text(r, obj, name, flags, MAX_TEXT, out))
        return false;
    int y, m, d;
    if (*out != NULL && !time_parse_date(*out, &y, &m, &d)) {
        fail(r, name, "Date has wrong format. Use one of these formats instead: YYYY-MM-DD.");
        *out = NULL;
        return false;
    }
    return true;
}

/* An integer (a JSON integer or a string of digits, as DRF's IntegerField
 * takes it) within [min, max]. *present false when absent or null. */
static bool read_int(struct reader *r, struct json_object *obj, const char *name, int64_t min,
                     int64_t max, int64_t *out, bool *present)
{
    bool ok;
    *present = false;
    struct json_object *v = field(r, obj, name, 0, &ok);
    if (v == NULL)
        return ok;
    int64_t n = 0;
    bool valid = false;
    if (json_object_is_type(v, json_type_int)) {
        n = json_object_get_int64(v);
        /* json-c saturates out-of-range integers; treat the bounds as too big. */
        valid = n != INT64_MAX && n != INT64_MIN;
    } else if (json_object_is_type(v, json_type_string)) {
        valid = str_to_int64(str_trim(str_from(json_object_get_string(v))), &n);
    }
    if (!valid) {
        fail(r, name, "A valid integer is required.");
        return false;
    }
    if (n < min) {
        fail(r, name,
             arena_sprintf(r->ctx->arena, "Ensure this value is greater than or equal to %lld.",
                           (long long)min));
        return false;
    }
    if (n > max) {
        fail(r, name,
             arena_sprintf(r->ctx->arena, "Ensure this value is less than or equal to %lld.",
                           (long long)max));
        return false;
    }
    *out = n;
    *present = true;
    return true;
}

/* A read-only flag of the documented object: accepted when it agrees with
 * user_type, so a user object can be fed back; refused when it contradicts. */
static void check_flag(struct reader *r, struct json_object *obj, const char *name, bool expected,
                       const char *user_type)
{
    bool ok;
    struct json_object *v = field(r, obj, name, 0, &ok);
    if (v == NULL)
        return;
    if (!json_object_is_type(v, json_type_boolean)) {
        fail(r, name, "Must be a valid boolean.");
        return;
    }
    if (user_type != NULL && (json_object_get_boolean(v) != 0) != expected)
        fail(r, name,
             arena_sprintf(r->ctx->arena, "Must be %s for user_type \"%s\".",
                           expected ? "true" : "false", user_type));
}

/* A GPA: a decimal between 0.00 and 4.00 with at most two places, given as
 * a string ("3.75") or a number (3.75); stored as "3.75" / "3.70". */
static bool read_gpa(struct reader *r, struct json_object *obj, const char **out)
{
    *out = NULL;
    bool ok;
    struct json_object *v = field(r, obj, "gpa", 0, &ok);
    if (v == NULL)
        return ok;
    enum json_type t = json_object_get_type(v);
    if (t != json_type_string && t != json_type_int && t != json_type_double) {
        fail(r, "gpa", "A valid number is required.");
        return false;
    }
    /* For a parsed number json-c gives back the text it read, so 3.75
     * arrives as "3.75", never as 3.7499999. */
    struct str s = str_trim(str_from(json_object_get_string(v)));
    size_t i = 0;
    bool negative = i < s.n && s.p[i] == '-';
    if (negative)
        i++;
    int64_t whole = 0;
    size_t int_digits = 0, frac_digits = 0;
    int frac = 0;
    for (; i < s.n && s.p[i] >= '0' && s.p[i] <= '9'; i++, int_digits++)
        whole = whole < 1000 ? whole * 10 + (s.p[i] - '0') : whole;
    if (i < s.n && s.p[i] == '.') {
        for (i++; i < s.n && s.p[i] >= '0' && s.p[i] <= '9'; i++, frac_digits++)
            frac = frac_digits < 2 ? frac * 10 + (s.p[i] - '0') : frac;
    }
    if (i != s.n || int_digits + frac_digits == 0) {
        fail(r, "gpa", "A valid number is required.");
        return false;
    }
    if (frac_digits > 2) {
        fail(r, "gpa", "Ensure that there are no more than 2 decimal places.");
        return false;
    }
    if (frac_digits == 1)
        frac *= 10;
    int64_t hundredths = whole * 100 + frac;
    if (negative && hundredths > 0) {
        fail(r, "gpa", "Ensure this value is greater than or equal to 0.00.");
        return false;
    }
    if (hundredths > 400) {
        fail(r, "gpa", "Ensure this value is less than or equal to 4.00.");
        return false;
    }
    *out = arena_sprintf(r->ctx->arena, "%d.%02d", (int)(hundredths / 100),
                         (int)(hundredths % 100));
    return true;
}

/* A nested profile: absent or null gives NULL; anything but an object is an
 * error. */
static struct json_object *nested(struct reader *r, struct json_object *obj, const char *name)
{
    bool ok;
    struct json_object *v = field(r, obj, name, 0, &ok);
    if (v != NULL && !json_object_is_type(v, json_type_object)) {
        fail(r, name, "Expected an object.");
        return NULL;
    }
    return v;
}

static void read_student_profile(struct reader *top, struct json_object *obj,
                                 struct student_profile *p)
{
    struct reader r = {top->ctx, top->err, "student_profile"};
    check_known(&r, obj, student_fields);
    read_text(&r, obj, "student_id", REQUIRED, MAX_ID, &p->student_id);
    read_gpa(&r, obj, &p->gpa);
    bool present;
    read_int(&r, obj, "credits_completed", 0, 100000, &p->credits_completed, &present);
    read_date(&r, obj, "graduation_date", 0, &p->graduation_date);
}

static void read_staff_profile(struct reader *top, struct json_object *obj,
                               struct staff_profile *p)
{
    struct reader r = {top->ctx, top->err, "staff_profile"};
    check_known(&r, obj, staff_fields);
    read_text(&r, obj, "employee_id", REQUIRED, MAX_ID, &p->employee_id);
    read_date(&r, obj, "hire_date", 0, &p->hire_date);
    read_text(&r, obj, "office_location", 0, MAX_TEXT, &p->office_location);
    read_text(&r, obj, "office_hours", 0, MAX_TEXT, &p->office_hours);
}

/* Django's username validator, restricted to ASCII: letters, digits and
 * @ . + - _ */
static bool username_valid(const char *s)
{
    for (; *s; s++) {
        char c = *s;
        bool alnum = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
        if (!alnum && !strchr("@.+-_", c))
            return false;
    }
    return true;
}

static void put_json(void *p)
{
    json_object_put(p);
}

/* The whole object, or NULL with err["non_field_errors"] set. */
static struct json_object *parse(struct ctx *ctx, const char *json, struct errors *err)
{
    if (json == NULL) {
        errors_add(err, ERRORS_NON_FIELD, "No JSON object given.");
        return NULL;
    }
    size_t len = strlen(json);
    struct json_tokener *tok = json_tokener_new();
    struct json_object *v = json_tokener_parse_ex(tok, json, (int)len + 1);
    enum json_tokener_error jerr = json_tokener_get_error(tok);
    size_t end = json_tokener_get_parse_end(tok);
    json_tokener_free(tok);
    if (v != NULL)
        arena_cleanup_add(ctx->arena, put_json, v);
    if (jerr == json_tokener_continue)
        jerr = json_tokener_error_parse_eof;
    if (jerr == json_tokener_success)
        for (size_t i = end; i < len; i++)
            if (!strchr(" \t\r\n", json[i])) {
                jerr = json_tokener_error_parse_unexpected;
                break;
            }
    if (jerr != json_tokener_success) {
        errors_add(err, ERRORS_NON_FIELD,
                   arena_sprintf(ctx->arena, "JSON parse error - %s",
                                 json_tokener_error_desc(jerr)));
        return NULL;
    }
    if (!json_object_is_type(v, json_type_object)) {
        errors_add(err, ERRORS_NON_FIELD, "Expected a JSON object.");
        return NULL;
    }
    return v;
}

/* Core names two fields differently from the document. */
static void rename_core_fields(struct errors *err)
{
    for (struct field_error *fe = err->head; fe; fe = fe->next) {
        if (strcmp(fe->field, "phone") == 0)
            fe->field = "phone_number";
        else if (strcmp(fe->field, "birthdate") == 0)
            fe->field = "date_of_birth";
    }
}

/* Writes the user and the record in one transaction (user_create joins
 * it): a refused record leaves no user behind. */
static int store(struct ctx *ctx, const struct user_new *in, const struct university_record *rec,
                 struct errors *err, int64_t *user_id)
{
    bool own;
    int rc = core_tx_begin(ctx, &own);
    if (rc != SHOP_OK)
        return rc;
    struct user u;
    rc = user_create(ctx, in, err, &u);
    if (rc == SHOP_OK)
        rc = university_set(ctx, u.id, rec, err);
    rc = core_tx_end(ctx, own, rc);
    if (rc != SHOP_OK) {
        rename_core_fields(err);
        return rc;
    }
    *user_id = u.id;
    return SHOP_OK;
}

int campus_provision_user(struct ctx *ctx, const char *json, struct errors *err,
                          int64_t *user_id)
{
    struct json_object *obj = parse(ctx, json, err);
    if (obj == NULL)
        return SHOP_EINVAL;
    struct reader r = {ctx, err, NULL};
    check_known(&r, obj, top_fields);

    const char *username, *email, *password = NULL, *first_name, *last_name, *user_type;
    const char *phone, *birthdate;
    struct university_record rec;
    memset(&rec, 0, sizeof(rec));
    if (read_text(&r, obj, "username", REQUIRED, MAX_NAME, &username) && !username_valid(username))
        fail(&r, "username",
             "Enter a valid username. This value may contain only letters, numbers, and "
             "@/./+/-/_ characters.");
    read_text(&r, obj, "email", REQUIRED, 254, &email);
    {
        /* The password is taken as given: spaces are characters too. */
        bool ok;
        struct json_object *v = field(&r, obj, "password", REQUIRED, &ok);
        if (v != NULL && !json_object_is_type(v, json_type_string))
            fail(&r, "password", "Not a valid string.");
        else if (v != NULL && json_object_get_string_len(v) == 0)
            fail(&r, "password", "This field may not be blank.");
        else if (v != NULL &&
                 strlen(json_object_get_string(v)) != (size_t)json_object_get_string_len(v))
            fail(&r, "password", "Null characters are not allowed.");
        else if (v != NULL)
            password = json_object_get_string(v);
    }
    read_text(&r, obj, "first_name", 0, MAX_NAME, &first_name);
    read_text(&r, obj, "last_name", 0, MAX_NAME, &last_name);
    read_choice(&r, obj, "user_type", REQUIRED, user_types, &user_type);
    bool is_student = user_type && strcmp(user_type, "student") == 0;
    bool is_staff_member = user_type && strcmp(user_type, "staff") == 0;
    /* Students and staff are known to the university by their ID. */
    read_text(&r, obj, "university_id", is_student || is_staff_member ? REQUIRED : 0, MAX_ID,
              &rec.university_id);
    if (read_text(&r, obj, "phone_number", 0, MAX_TEXT, &phone) && phone &&
        !user_phone_valid(phone))
        fail(&r, "phone_number", "Enter a valid phone number in E.164 form (+1234567890).");
    if (read_date(&r, obj, "date_of_birth", 0, &birthdate) && birthdate) {
        char today[TIME_ISO_LEN];
        time_iso8601(ctx->now, today);
        if (strncmp(birthdate, today, 10) > 0)
            fail(&r, "date_of_birth", "Date of birth cannot be in the future.");
    }
    read_text(&r, obj, "major", 0, MAX_TEXT, &rec.major);
    read_choice(&r, obj, "academic_level", 0, academic_levels, &rec.academic_level);
    bool present;
    read_int(&r, obj, "enrollment_year", MIN_YEAR, MAX_YEAR, &rec.enrollment_year, &present);
    read_text(&r, obj, "department", 0, MAX_TEXT, &rec.department);
    read_text(&r, obj, "position", 0, MAX_TEXT, &rec.position);
    check_flag(&r, obj, "is_student", is_student, user_type);
    check_flag(&r, obj, "is_staff_member", is_staff_member, user_type);

    struct json_object *sp = nested(&r, obj, "student_profile");
    if (sp != NULL && user_type != NULL && !is_student)
        fail(&r, "student_profile", "Only a user of type \"student\" has a student profile.");
    else if (sp != NULL) {
        rec.has_student = true;
        read_student_profile(&r, sp, &rec.student);
    }
    struct json_object *tp = nested(&r, obj, "staff_profile");
    if (tp != NULL && user_type != NULL && !is_staff_member)
        fail(&r, "staff_profile", "Only a user of type \"staff\" has a staff profile.");
    else if (tp != NULL) {
        rec.has_staff = true;
        read_staff_profile(&r, tp, &rec.staff);
    }

    /* What core would refuse, checked now so one run reports everything. */
    int conflicts = 0;
    if (email != NULL && !user_email_valid(email))
        fail(&r, "email", "Enter a valid email address.");
    else if (email != NULL && user_email_taken(ctx, email, 0)) {
        fail(&r, "email", "A user with this email already exists.");
        conflicts++;
    }
    if (username != NULL && !errors_has(err, "username") &&
        user_username_taken(ctx, username, 0)) {
        fail(&r, "username", "A user with that username already exists.");
        conflicts++;
    }
    if (phone != NULL && !errors_has(err, "phone_number") && user_phone_taken(ctx, phone, 0)) {
        fail(&r, "phone_number", "A user with this phone number already exists.");
        conflicts++;
    }
    if (password != NULL) {
        struct password_attrs attrs = {username, email, first_name, last_name};
        password_validate(password, &attrs, err, "password");
    }
    if (errors_any(err)) /* conflicts alone are SHOP_ECONFLICT; anything malformed wins */
        return conflicts == err->count ? SHOP_ECONFLICT : SHOP_EINVAL;

    struct user_new in = {
        .username = username,
        .email = email,
        .password = password,
        .first_name = first_name,
        .last_name = last_name,
        .phone = phone,
        .birthdate = birthdate,
        .user_type = user_type,
        /* Django's is_staff opens the admin: only admins get it, never the
         * university's staff members. */
        .is_staff = strcmp(user_type, "admin") == 0,
        /* Provisioned users are known to the university: nothing to verify. */
        .email_verified = true,
    };
    int rc = store(ctx, &in, &rec, err, user_id);
    if (rc == SHOP_EDB)
        log_error("user create: storing %s failed", username);
    return rc;
}
