/*
 * profile.c - profiles, email preferences, university records and account
 * deactivation (see profile.h). A user without a row in profiles or
 * email_preferences reads the defaults; the first write creates the row.
 */
#include "core/profile.h"

#include <stddef.h>
#include <stdio.h>
#include <string.h>

#include "core/core.h"
#include "core/token.h"
#include "core/user.h"
#include "db/db.h"
#include "util/arena.h"
#include "util/time.h"

/* Django counts characters, not bytes: count UTF-8 lead bytes. */
static size_t utf8_length(const char *s)
{
    size_t n = 0;
    for (; *s; s++)
        n += ((unsigned char)*s & 0xc0) != 0x80;
    return n;
}

static const char *dup_col(struct ctx *ctx, struct db_res *res, int i)
{
    const char *s = db_col_text(res, i);
    return s ? arena_strndup(ctx->arena, s, db_col_len(res, i)) : NULL;
}

/* ---- profile ---- */

int profile_get(struct ctx *ctx, int64_t user_id, struct profile *out)
{
    struct db_res *res;
    if (db_query(ctx->db, "SELECT bio, avatar, gender, location FROM profiles WHERE user_id = ?",
                 DB_PARAMS(DB_INT(user_id)), &res) != DB_OK)
        return SHOP_EDB;
    int rc = db_next(res);
    if (rc == DB_ROW) {
        out->bio = dup_col(ctx, res, 0);
        out->avatar = dup_col(ctx, res, 1);
        out->gender = dup_col(ctx, res, 2);
        out->location = dup_col(ctx, res, 3);
    } else {
        *out = (struct profile){.bio = "", .avatar = NULL, .gender = "", .location = ""};
    }
    db_res_close(res);
    return rc == DB_ROW || rc == DB_DONE ? SHOP_OK : SHOP_EDB;
}

int profile_update(struct ctx *ctx, int64_t user_id, const struct profile *p, struct errors *err)
{
    if (p->gender && *p->gender && strcmp(p->gender, "M") != 0 && strcmp(p->gender, "F") != 0 &&
        strcmp(p->gender, "O") != 0)
        errors_add(err, "gender",
                   arena_sprintf(ctx->arena, "\"%s\" is not a valid choice.", p->gender));
    if (p->bio && utf8_length(p->bio) > 500)
        errors_add(err, "bio", "Ensure this field has no more than 500 characters.");
    if (p->location && utf8_length(p->location) > 100)
        errors_add(err, "location", "Ensure this field has no more than 100 characters.");
    if (errors_any(err))
        return SHOP_EINVAL;
    /* Insert the row when missing, then change only the given fields. */
    if (db_exec(ctx->db,
                "INSERT INTO profiles (user_id) VALUES (?) ON CONFLICT (user_id) DO NOTHING",
                DB_PARAMS(DB_INT(user_id)), NULL) != DB_OK)
        return SHOP_EDB;
    if (db_exec(ctx->db,
                "UPDATE profiles SET bio = COALESCE(?, bio), avatar = COALESCE(?, avatar), "
                "gender = COALESCE(?, gender), location = COALESCE(?, location) WHERE user_id = ?",
                DB_PARAMS(DB_TEXT(p->bio), DB_TEXT(p->avatar), DB_TEXT(p->gender),
                          DB_TEXT(p->location), DB_INT(user_id)),
                NULL) != DB_OK)
        return SHOP_EDB;
    return SHOP_OK;
}

/* ---- email preferences ---- */

#define PREF(f) {#f, offsetof(struct email_preferences, f)}
const struct email_preference_field email_preference_fields[] = {
    PREF(order_confirmation), PREF(order_status_update), PREF(password_reset),
    PREF(inventory_alerts),   PREF(marketing),           PREF(receive_digest),
};
const size_t email_preference_count =
    sizeof(email_preference_fields) / sizeof(email_preference_fields[0]);

int preferences_get(struct ctx *ctx, int64_t user_id, struct email_preferences *out)
{
    struct db_res *res;
    if (db_query(ctx->db,
                 "SELECT order_confirmation, order_status_update, password_reset, "
                 "inventory_alerts, marketing, receive_digest FROM email_preferences WHERE "
                 "user_id = ?",
                 DB_PARAMS(DB_INT(user_id)), &res) != DB_OK)
        return SHOP_EDB;
    int rc = db_next(res);
    if (rc == DB_ROW) {
        for (size_t i = 0; i < email_preference_count; i++)
            *(bool *)((char *)out + email_preference_fields[i].offset) = db_col_bool(res, (int)i);
    } else {
        *out = (struct email_preferences){
            .order_confirmation = true,
            .order_status_update = true,
            .password_reset = true,
            .inventory_alerts = false,
            .marketing = false,
            .receive_digest = true,
        };
    }
    db_res_close(res);
    return rc == DB_ROW || rc == DB_DONE ? SHOP_OK : SHOP_EDB;
}

int preferences_set(struct ctx *ctx, int64_t user_id, const struct email_preferences *p)
{
    int rc = db_exec(
        ctx->db,
        "INSERT INTO email_preferences (user_id, order_confirmation, order_status_update, "
        "password_reset, inventory_alerts, marketing, receive_digest) VALUES (?, ?, ?, ?, ?, ?, ?) "
        "ON CONFLICT (user_id) DO UPDATE SET order_confirmation = excluded.order_confirmation, "
        "order_status_update = excluded.order_status_update, password_reset = "
        "excluded.password_reset, inventory_alerts = excluded.inventory_alerts, marketing = "
        "excluded.marketing, receive_digest = excluded.receive_digest",
        DB_PARAMS(DB_INT(user_id), DB_BOOL(p->order_confirmation), DB_BOOL(p->order_status_update),
                  DB_BOOL(p->password_reset), DB_BOOL(p->inventory_alerts), DB_BOOL(p->marketing),
                  DB_BOOL(p->receive_digest)),
        NULL);
    return rc == DB_OK ? SHOP_OK : SHOP_EDB;
}

/* ---- university records ---- */

int university_get(struct ctx *ctx, int64_t user_id, struct university_record *out)
{
    memset(out, 0, sizeof(*out));
    struct db_res *res;
    if (db_query(ctx->db,
                 "SELECT u.university_id, u.major, u.academic_level, u.enrollment_year, "
                 "u.department, u.position, s.student_id, s.gpa, s.credits_completed, "
                 "s.graduation_date, f.employee_id, f.hire_date, f.office_location, "
                 "f.office_hours FROM users u LEFT JOIN student_profiles s ON s.user_id = u.id "
                 "LEFT JOIN staff_profiles f ON f.user_id = u.id WHERE u.id = ?",
                 DB_PARAMS(DB_INT(user_id)), &res) != DB_OK)
        return SHOP_EDB;
    int rc = db_next(res);
    if (rc == DB_ROW) {
        out->university_id = dup_col(ctx, res, 0);
        out->major = dup_col(ctx, res, 1);
        out->academic_level = dup_col(ctx, res, 2);
        out->enrollment_year = db_col_int(res, 3);
        out->department = dup_col(ctx, res, 4);
        out->position = dup_col(ctx, res, 5);
        out->has_student = !db_col_is_null(res, 6);
        out->student.student_id = dup_col(ctx, res, 6);
        out->student.gpa = dup_col(ctx, res, 7);
        out->student.credits_completed = db_col_int(res, 8);
        out->student.graduation_date = dup_col(ctx, res, 9);
        out->has_staff = !db_col_is_null(res, 10);
        out->staff.employee_id = dup_col(ctx, res, 10);
        out->staff.hire_date = dup_col(ctx, res, 11);
        out->staff.office_location = dup_col(ctx, res, 12);
        out->staff.office_hours = dup_col(ctx, res, 13);
    }
    db_res_close(res);
    return rc == DB_ROW ? SHOP_OK : rc == DB_DONE ? SHOP_ENOTFOUND : SHOP_EDB;
}

static bool valid_date_or_null(const char *s)
{
    int y, m, d;
    return s == NULL || time_parse_date(s, &y, &m, &d);
}

/* "3.75": a decimal from 0.00 to 4.00 with at most two places. */
static bool valid_gpa(const char *s)
{
    if (s == NULL)
        return true;
    int whole = 0, frac = 0, places = 0;
    const char *p = s;
    if (*p < '0' || *p > '9')
        return false;
    while (*p >= '0' && *p <= '9')
        whole = whole * 10 + (*p++ - '0');
    if (*p == '.') {
        p++;
        while (*p >= '0' && *p <= '9' && places < 3) {
            frac = frac * 10 + (*p++ - '0');
            places++;
        }
    }
    if (*p != '\0' || places > 2 || whole > 4 || (whole == 4 && frac > 0))
        return false;
    return true;
}

int university_set(struct ctx *ctx, int64_t user_id, const struct university_record *r,
                   struct errors *err)
{
    if (r->academic_level && strcmp(r->academic_level, "undergraduate") != 0 &&
        strcmp(r->academic_level, "graduate") != 0 && strcmp(r->academic_level, "phd") != 0)
        errors_add(err, "academic_level",
                   arena_sprintf(ctx->arena, "\"%s\" is not a valid choice.", r->academic_level));
    if (r->enrollment_year != 0 && (r->enrollment_year < 1900 || r->enrollment_year > 2200))
        errors_add(err, "enrollment_year", "Enter a year between 1900 and 2200.");
    if (r->has_student) {
        if (r->student.student_id == NULL || *r->student.student_id == '\0')
            errors_add(err, "student_profile.student_id", "This field is required.");
        if (!valid_gpa(r->student.gpa))
            errors_add(err, "student_profile.gpa",
                       "Enter a number from 0.00 to 4.00 with at most 2 decimal places.");
        if (r->student.credits_completed < 0)
            errors_add(err, "student_profile.credits_completed",
                       "Ensure this value is greater than or equal to 0.");
        if (!valid_date_or_null(r->student.graduation_date))
            errors_add(err, "student_profile.graduation_date",
                       "Date has wrong format. Use one of these formats instead: YYYY-MM-DD.");
    }
    if (r->has_staff) {
        if (r->staff.employee_id == NULL || *r->staff.employee_id == '\0')
            errors_add(err, "staff_profile.employee_id", "This field is required.");
        if (!valid_date_or_null(r->staff.hire_date))
            errors_add(err, "staff_profile.hire_date",
                       "Date has wrong format. Use one of these formats instead: YYYY-MM-DD.");
    }
    if (errors_any(err))
        return SHOP_EINVAL;

    int rc = db_exec(ctx->db,
                     "UPDATE users SET university_id = ?, major = ?, academic_level = ?, "
                     "enrollment_year = ?, department = ?, position = ? WHERE id = ?",
                     DB_PARAMS(DB_TEXT(r->university_id), DB_TEXT(r->major),
                               DB_TEXT(r->academic_level),
                               r->enrollment_year ? DB_INT(r->enrollment_year) : DB_NULL,
                               DB_TEXT(r->department), DB_TEXT(r->position), DB_INT(user_id)),
                     NULL);
    if (rc == DB_ECONSTRAINT) {
        errors_add(err, "university_id", "A user with this university ID already exists.");
        return SHOP_ECONFLICT;
    }
    if (rc != DB_OK)
        return SHOP_EDB;
    if (db_exec(ctx->db, "DELETE FROM student_profiles WHERE user_id = ?",
                DB_PARAMS(DB_INT(user_id)), NULL) != DB_OK ||
        db_exec(ctx->db, "DELETE FROM staff_profiles WHERE user_id = ?",
                DB_PARAMS(DB_INT(user_id)), NULL) != DB_OK)
        return SHOP_EDB;
    if (r->has_student &&
        db_exec(ctx->db,
                "INSERT INTO student_profiles (user_id, student_id, gpa, credits_completed, "
                "graduation_date) VALUES (?, ?, ?, ?, ?)",
                DB_PARAMS(DB_INT(user_id), DB_TEXT(r->student.student_id),
                          DB_TEXT(r->student.gpa), DB_INT(r->student.credits_completed),
                          DB_TEXT(r->student.graduation_date)),
                NULL) != DB_OK)
        return SHOP_EDB;
    if (r->has_staff &&
        db_exec(ctx->db,
                "INSERT INTO staff_profiles (user_id, employee_id, hire_date, office_location, "
                "office_hours) VALUES (?, ?, ?, ?, ?)",
                DB_PARAMS(DB_INT(user_id), DB_TEXT(r->staff.employee_id),
                          DB_TEXT(r->staff.hire_date),
                          DB_TEXT(r->staff.office_location ? r->staff.office_location : ""),
                          DB_TEXT(r->staff.office_hours ? r->staff.office_hours : "")),
                NULL) != DB_OK)
        return SHOP_EDB;
    return SHOP_OK;
}

/* ---- deactivation ---- */

int user_deactivate(struct ctx *ctx, const struct user *u, const char *reason)
{
    bool own;
    if (core_tx_begin(ctx, &own) != SHOP_OK)
        return SHOP_EDB;
    int rc = SHOP_OK;
    /* password_changed_us moves too: every access token stops at once. */
    user_changed();
    if (db_exec(ctx->db,
                "UPDATE users SET is_active = FALSE, deactivated_at = ?, deactivation_reason = ?, "
                "password_changed_us = ? WHERE id = ?",
                DB_PARAMS(DB_INT(ctx->now), DB_TEXT(reason ? reason : ""),
                          DB_INT(ctx->now_us + 1), DB_INT(u->id)),
                NULL) != DB_OK ||
        token_revoke_user(ctx, u->id) != SHOP_OK)
        rc = SHOP_EDB;
    return core_tx_end(ctx, own, rc);
}
