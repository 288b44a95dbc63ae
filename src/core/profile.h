/*
 * profile.h - what hangs off a user besides addresses: the profile (bio,
 * avatar, gender, location; date of birth is users.birthdate), the email
 * preferences, the university record (student or staff profile) and account
 * deactivation.
 */
#ifndef SHOPD_CORE_PROFILE_H
#define SHOPD_CORE_PROFILE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct ctx;
struct errors;
struct user;

struct profile {
    const char *bio;
    const char *avatar; /* path under the media dir ("avatars/ab12.png"), or NULL */
    const char *gender;
    const char *location;
};

/* A missing row reads as an empty profile. */
int profile_get(struct ctx *ctx, int64_t user_id, struct profile *out);
/* NULL fields stay as they are. gender: "", "M", "F" or "O" (else
 * err["gender"] = "\"X\" is not a valid choice."). */
int profile_update(struct ctx *ctx, int64_t user_id, const struct profile *p,
                   struct errors *err);

struct email_preferences {
    bool order_confirmation;
    bool order_status_update;
    bool password_reset;
    bool inventory_alerts;
    bool marketing;
    bool receive_digest;
};

/* The preference names, in the document's order, with their offsets into
 * struct email_preferences: surfaces walk this table. */
struct email_preference_field {
    const char *name;
    size_t offset;
};
extern const struct email_preference_field email_preference_fields[];
extern const size_t email_preference_count;

int preferences_get(struct ctx *ctx, int64_t user_id, struct email_preferences *out);
int preferences_set(struct ctx *ctx, int64_t user_id, const struct email_preferences *p);

/* University records (campus surface). */
struct student_profile {
    const char *student_id;
    const char *gpa; /* decimal string "3.75" or NULL */
    int64_t credits_completed;
    const char *graduation_date;
};

struct staff_profile {
    const char *employee_id;
    const char *hire_date;
    const char *office_location;
    const char *office_hours;
};

struct university_record {
    const char *university_id;
    const char *major;
    const char *academic_level; /* undergraduate, graduate, phd */
    int64_t enrollment_year;    /* 0: none */
    const char *department;
    const char *position;
    bool has_student;
    struct student_profile student;
    bool has_staff;
    struct staff_profile staff;
};

int university_get(struct ctx *ctx, int64_t user_id, struct university_record *out);
/* Writes every university field of the record for the user (insert or
 * replace of the student/staff profile rows). */
int university_set(struct ctx *ctx, int64_t user_id, const struct university_record *r,
                   struct errors *err);

/* Deactivation: is_active false, reason recorded, every refresh token
 * revoked, access tokens refused from now on. */
int user_deactivate(struct ctx *ctx, const struct user *u, const char *reason);

#endif
