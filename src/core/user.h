/*
 * user.h - the one users table every surface shares: lookup, registration,
 * authentication, profile changes and password changes.
 *
 * Strings in struct user live in the ctx arena. Functions that hash a
 * password (user_create, user_authenticate, user_change_password) cost tens
 * of milliseconds and belong on the hash pool (ROUTE_SLOW).
 */
#ifndef SHOPD_CORE_USER_H
#define SHOPD_CORE_USER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct ctx;
struct errors;

struct user {
    int64_t id;
    const char *username;
    const char *email;
    const char *phone;      /* NULL when unset */
    const char *first_name;
    const char *last_name;
    const char *birthdate;  /* YYYY-MM-DD or NULL */
    const char *user_type;  /* "customer", "admin", "student", "staff", ... */
    const char *password;   /* the stored hash */
    bool is_staff;
    bool is_superuser;
    bool is_active;
    bool email_verified;
    int64_t date_joined;    /* epoch seconds */
    int64_t last_login;     /* epoch seconds, 0 when never */
    int64_t password_changed_us;
    int64_t verification_sent_at; /* epoch seconds of the last verification email, 0: none */
};

/* The one place that says who is an admin: is_staff, is_superuser or
 * user_type "admin". */
bool user_is_admin(const struct user *u);

/* Django's EmailValidator, in short: local@domain with a dotted domain (or
 * localhost), at most 254 characters. */
bool user_email_valid(const char *email);

int user_get(struct ctx *ctx, int64_t id, struct user *out);

/* Every write to the users table calls this: it retires every thread's
 * cached copy of users at once (see token.c's cache). */
void user_changed(void);
/* A process-wide counter that user_changed moves. */
uint64_t user_epoch(void);
/* Case-insensitive. SHOP_ENOTFOUND when nobody has it. */
int user_get_by_email(struct ctx *ctx, const char *email, struct user *out);
bool user_email_taken(struct ctx *ctx, const char *email, int64_t except_id);

struct address_input;

struct user_new {
    const char *username;   /* NULL: the email */
    const char *email;
    const char *password;   /* plain text; validated with the password rules */
    const char *first_name;
    const char *last_name;
    const char *phone;
    const char *birthdate;
    const char *user_type;  /* NULL: "customer" */
    bool is_staff;
    bool is_superuser;
    bool email_verified; /* false: a verification email is queued */
    const struct address_input *addresses; /* created with the user */
    size_t n_addresses;
};

/* Validates (email format, phone format, birthdate, password rules under
 * field "password", addresses under "addresses", unique email / username /
 * phone) and inserts the user, its addresses and, unless email_verified, the
 * verification email, in one transaction. SHOP_EINVAL with err filled, or
 * SHOP_ECONFLICT with err filled when a unique value is taken (including a
 * concurrent insert of the same email). Privilege checks are the caller's:
 * core creates what it is asked to. */
int user_create(struct ctx *ctx, const struct user_new *in, struct errors *err,
                struct user *out);

/* Which identifiers a login form accepts. */
enum user_login_by {
    USER_BY_EMAIL = 1u << 0,    /* case-insensitive */
    USER_BY_USERNAME = 1u << 1, /* case-insensitive */
    USER_BY_PHONE = 1u << 2,    /* exact, E.164 */
    /* The caller refuses users whose email is not verified: such an attempt
     * is not recorded as a login (last_login binds reset tokens, and a
     * refused attempt must not spend the user's reset link). */
    USER_REQUIRE_VERIFIED = 1u << 3,
};

/* Finds a user by any of the identifiers allowed in by (email first, then
 * username, then phone). */
int user_get_by_login(struct ctx *ctx, const char *login, unsigned by, struct user *out);
bool user_username_taken(struct ctx *ctx, const char *username, int64_t except_id);
bool user_phone_taken(struct ctx *ctx, const char *phone, int64_t except_id);

/* Checks the identifier (see user_get_by_login) and password. SHOP_EAUTH
 * when either is wrong; SHOP_EFORBIDDEN when they are right but the account
 * is inactive. On success records last_login and upgrades a Django or
 * outdated hash. Whether an unverified email may log in is the surface's
 * decision (out->email_verified). */
int user_authenticate(struct ctx *ctx, const char *login, unsigned by, const char *password,
                      struct user *out);

/* Marks the email verified. */
int user_set_email_verified(struct ctx *ctx, int64_t user_id);

/* E.164: '+', then 8 to 15 digits, the first not 0. */
bool user_phone_valid(const char *phone);

/* Fields to change; NULL leaves a field as it is; "" clears phone and
 * birthdate. */
struct user_patch {
    const char *email;
    const char *username;
    const char *first_name;
    const char *last_name;
    const char *phone;
    const char *birthdate;
};

/* Applies the patch. SHOP_ECONFLICT with err["email"] when the new email is
 * taken; SHOP_EINVAL for a malformed value. out gets the updated user. A
 * changed email (ignoring case) becomes unverified and a verification email
 * to the new address is queued in the same transaction. */
int user_update(struct ctx *ctx, int64_t id, const struct user_patch *p, struct errors *err,
                struct user *out);

/* Sets a new password after checking the rules (messages under
 * new_password_field). Revokes every outstanding refresh token and makes
 * access tokens issued before now invalid; ctx->now_us then moves to the
 * cutoff so that tokens this request issues afterwards are valid. Only
 * replaces the hash u->password the caller saw: when another request
 * changed it meanwhile, SHOP_ECONFLICT and nothing changes. */
int user_set_password(struct ctx *ctx, const struct user *u, const char *new_password,
                      const char *new_password_field, struct errors *err);

#endif
