/*
 * user.c - the users table (see user.h). Every query names its columns
 * through USER_COLUMNS so that read_user stays in step with them.
 */
#include "core/user.h"

#include <ctype.h>
#include <stdatomic.h>
#include <string.h>

#include "core/core.h"
#include "core/password.h"
#include "core/token.h"
#include "core/verify.h"
#include "core/address.h"
#include "db/db.h"
#include "util/arena.h"
#include "util/log.h"
#include "util/str.h"
#include "util/time.h"

#define USER_COLUMNS                                                                          \
    "id, username, email, phone, password, first_name, last_name, birthdate, user_type, "     \
    "is_staff, is_superuser, is_active, email_verified, date_joined, last_login, "            \
    "password_changed_us, verification_sent_at"

static const char *col_dup(struct ctx *ctx, struct db_res *res, int col)
{
    const char *s = db_col_text(res, col);
    return s ? arena_strndup(ctx->arena, s, db_col_len(res, col)) : NULL;
}

static void read_user(struct ctx *ctx, struct db_res *res, struct user *u)
{
    u->id = db_col_int(res, 0);
    u->username = col_dup(ctx, res, 1);
    u->email = col_dup(ctx, res, 2);
    u->phone = col_dup(ctx, res, 3);
    u->password = col_dup(ctx, res, 4);
    u->first_name = col_dup(ctx, res, 5);
    u->last_name = col_dup(ctx, res, 6);
    u->birthdate = col_dup(ctx, res, 7);
    u->user_type = col_dup(ctx, res, 8);
    u->is_staff = db_col_bool(res, 9);
    u->is_superuser = db_col_bool(res, 10);
    u->is_active = db_col_bool(res, 11);
    u->email_verified = db_col_bool(res, 12);
    u->date_joined = db_col_int(res, 13);
    u->last_login = db_col_int(res, 14);
    u->password_changed_us = db_col_int(res, 15);
    u->verification_sent_at = db_col_int(res, 16);
}

/* Runs a query expected to return at most one user. */
static int fetch_one(struct ctx *ctx, const char *sql, const struct db_param *params, size_t n,
                     struct user *out)
{
    struct db_res *res;
    if (db_query(ctx->db, sql, params, n, &res) != DB_OK)
        return SHOP_EDB;
    int rc = db_next(res);
    int status = SHOP_EDB;
    if (rc == DB_ROW) {
        read_user(ctx, res, out);
        status = SHOP_OK;
    } else if (rc == DB_DONE) {
        status = SHOP_ENOTFOUND;
    }
    db_res_close(res);
    return status;
}

static atomic_uint_least64_t epoch;

void user_changed(void)
{
    atomic_fetch_add_explicit(&epoch, 1, memory_order_release);
}

uint64_t user_epoch(void)
{
    return atomic_load_explicit(&epoch, memory_order_acquire);
}

bool user_is_admin(const struct user *u)
{
    return u != NULL &&
           (u->is_staff || u->is_superuser || (u->user_type && strcmp(u->user_type, "admin") == 0));
}

static bool local_char_ok(unsigned char c)
{
    return isalnum(c) || strchr("!#$%&'*+/=?^_`{|}~-", c) != NULL;
}

bool user_email_valid(const char *email)
{
    if (email == NULL)
        return false;
    size_t len = strlen(email);
    const char *at = strrchr(email, '@');
    if (len > 254 || at == NULL || at == email)
        return false;
    /* local part: dot-atom */
    size_t local_len = (size_t)(at - email);
    if (local_len > 64 || email[0] == '.' || at[-1] == '.')
        return false;
    for (const char *p = email; p < at; p++) {
        if (*p == '.') {
            if (p[1] == '.')
                return false;
        } else if (!local_char_ok((unsigned char)*p)) {
            return false;
        }
    }
    /* domain: labels of letters, digits and inner hyphens; a TLD of letters */
    const char *domain = at + 1;
    if (strcmp(domain, "localhost") == 0)
        return true;
    const char *label = domain, *last_label = NULL;
    int labels = 0;
    for (const char *p = domain;; p++) {
        if (*p == '.' || *p == '\0') {
            size_t n = (size_t)(p - label);
            if (n == 0 || n > 63 || label[0] == '-' || p[-1] == '-')
                return false;
            for (const char *q = label; q < p; q++)
                if (!isalnum((unsigned char)*q) && *q != '-')
                    return false;
            last_label = label;
            labels++;
            if (*p == '\0')
                break;
            label = p + 1;
        }
    }
    if (labels < 2)
        return false;
    size_t tld_len = strlen(last_label);
    if (tld_len < 2)
        return false;
    for (const char *q = last_label; *q; q++)
        if (isdigit((unsigned char)*q) && tld_len == strspn(last_label, "0123456789"))
            return false; /* an all-numeric TLD is an IP address, not a domain */
    return true;
}

int user_get(struct ctx *ctx, int64_t id, struct user *out)
{
    return fetch_one(ctx, "SELECT " USER_COLUMNS " FROM users WHERE id = ?",
                     DB_PARAMS(DB_INT(id)), out);
}

int user_get_by_email(struct ctx *ctx, const char *email, struct user *out)
{
    return fetch_one(ctx, "SELECT " USER_COLUMNS " FROM users WHERE lower(email) = lower(?)",
                     DB_PARAMS(DB_TEXT(email)), out);
}

bool user_email_taken(struct ctx *ctx, const char *email, int64_t except_id)
{
    int64_t id;
    int rc = db_query_int(ctx->db,
                          "SELECT id FROM users WHERE lower(email) = lower(?) AND id <> ?",
                          DB_PARAMS(DB_TEXT(email), DB_INT(except_id)), &id);
    return rc == DB_ROW;
}

bool user_username_taken(struct ctx *ctx, const char *username, int64_t except_id)
{
    int64_t id;
    return db_query_int(ctx->db,
                        "SELECT id FROM users WHERE lower(username) = lower(?) AND id <> ?",
                        DB_PARAMS(DB_TEXT(username), DB_INT(except_id)), &id) == DB_ROW;
}

bool user_phone_taken(struct ctx *ctx, const char *phone, int64_t except_id)
{
    int64_t id;
    return db_query_int(ctx->db, "SELECT id FROM users WHERE phone = ? AND id <> ?",
                        DB_PARAMS(DB_TEXT(phone), DB_INT(except_id)), &id) == DB_ROW;
}

/* After a unique-constraint failure, says which value was taken. */
static void explain_conflict(struct ctx *ctx, const char *email, const char *username,
                             const char *phone, int64_t except_id, struct errors *err)
{
    if (email && user_email_taken(ctx, email, except_id))
        errors_add(err, "email", "A user with this email already exists.");
    else if (username && user_username_taken(ctx, username, except_id))
        errors_add(err, "username", "A user with that username already exists.");
    else if (phone && user_phone_taken(ctx, phone, except_id))
        errors_add(err, "phone", "A user with this phone number already exists.");
    else
        errors_add(err, "email", "A user with this email already exists.");
}

static bool validate_new(struct ctx *ctx, const struct user_new *in, struct errors *err,
                         bool *conflict)
{
    const char *username = in->username ? in->username : in->email;
    bool malformed = false;
    if (!user_email_valid(in->email)) {
        errors_add(err, "email", "Enter a valid email address.");
        malformed = true;
    } else if (user_email_taken(ctx, in->email, 0) || user_username_taken(ctx, in->email, 0)) {
        /* An email someone already uses as a username is taken too: logins
         * accept either, so two accounts must never answer to one string. */
        errors_add(err, "email", "A user with this email already exists.");
        *conflict = true;
    }
    if (in->username && user_email_valid(in->username) &&
        !str_case_eq(str_from(in->username), str_from(in->email))) {
        /* A username that looks like an email must be the user's own email:
         * otherwise anyone could claim somebody else's address. */
        errors_add(err, "username",
                   "A username that is an email address must be your own email address.");
        malformed = true;
    } else if (in->username && user_username_taken(ctx, in->username, 0)) {
        errors_add(err, "username", "A user with that username already exists.");
        *conflict = true;
    }
    if (in->phone && !user_phone_valid(in->phone)) {
        errors_add(err, "phone",
                   "Enter a valid phone number in international format, e.g. +14155550123.");
        malformed = true;
    } else if (in->phone && user_phone_taken(ctx, in->phone, 0)) {
        errors_add(err, "phone", "A user with this phone number already exists.");
        *conflict = true;
    }
    int y, m, d;
    if (in->birthdate && !time_parse_date(in->birthdate, &y, &m, &d)) {
        errors_add(err, "birthdate",
                   "Date has wrong format. Use one of these formats instead: YYYY-MM-DD.");
        malformed = true;
    }
    for (size_t i = 0; i < in->n_addresses; i++) {
        struct errors aerr;
        errors_init(&aerr, ctx->arena);
        if (!address_validate(&in->addresses[i], true, &aerr)) {
            for (const struct field_error *fe = aerr.head; fe; fe = fe->next)
                errors_add(err, "addresses",
                           arena_sprintf(ctx->arena, "Address %zu: %s: %s", i + 1, fe->field,
                                         fe->message));
            malformed = true;
        }
    }
    struct password_attrs attrs = {username, in->email, in->first_name, in->last_name};
    if (!password_validate(in->password, &attrs, err, "password"))
        malformed = true;
    return !malformed;
}

/* The insert, the addresses and the verification email: one transaction. */
static int insert_user(struct ctx *ctx, const struct user_new *in, const char *hash,
                       struct user *out)
{
    const char *username = in->username ? in->username : in->email;
    struct db_res *res;
    int rc = db_query(
        ctx->db,
        "INSERT INTO users (username, email, phone, password, first_name, last_name, birthdate, "
        "user_type, is_staff, is_superuser, is_active, email_verified, date_joined, "
        "password_changed_us) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, TRUE, ?, ?, ?) RETURNING " USER_COLUMNS,
        DB_PARAMS(DB_TEXT(username), DB_TEXT(in->email), DB_TEXT(in->phone), DB_TEXT(hash),
                  DB_TEXT(in->first_name ? in->first_name : ""),
                  DB_TEXT(in->last_name ? in->last_name : ""), DB_TEXT(in->birthdate),
                  DB_TEXT(in->user_type ? in->user_type : "customer"), DB_BOOL(in->is_staff),
                  DB_BOOL(in->is_superuser), DB_BOOL(in->email_verified), DB_INT(ctx->now),
                  DB_INT(0)),
        &res);
    if (rc != DB_OK)
        return rc == DB_ECONSTRAINT ? SHOP_ECONFLICT : SHOP_EDB;
    rc = db_next(res);
    if (rc == DB_ROW)
        read_user(ctx, res, out);
    db_res_close(res);
    if (rc != DB_ROW)
        return rc == DB_ECONSTRAINT ? SHOP_ECONFLICT : SHOP_EDB;
    for (size_t i = 0; i < in->n_addresses; i++)
        if (address_insert(ctx, out->id, &in->addresses[i], NULL) != SHOP_OK)
            return SHOP_EDB;
    if (!in->email_verified && verify_send_email(ctx, out) != SHOP_OK)
        return SHOP_EDB;
    return SHOP_OK;
}

int user_create(struct ctx *ctx, const struct user_new *in, struct errors *err, struct user *out)
{
    bool conflict = false;
    if (!validate_new(ctx, in, err, &conflict))
        return SHOP_EINVAL;
    if (conflict)
        return SHOP_ECONFLICT;

    /* Hash before taking the write lock: it is the slow part. */
    char hash[PASSWORD_HASH_MAX];
    if (password_hash(in->password, hash) != 0)
        return SHOP_EDB;
    bool own;
    int rc = core_tx_begin(ctx, &own);
    if (rc != SHOP_OK)
        goto out;
    rc = core_tx_end(ctx, own, insert_user(ctx, in, hash, out));
    if (rc == SHOP_ECONFLICT)
        /* A concurrent registration took the value between check and insert. */
        explain_conflict(ctx, in->email, in->username, in->phone, 0, err);
out:
    secure_wipe(hash, sizeof(hash));
    return rc;
}

int user_get_by_login(struct ctx *ctx, const char *login, unsigned by, struct user *out)
{
    int rc = SHOP_ENOTFOUND;
    if ((by & USER_BY_EMAIL) && strchr(login, '@') != NULL)
        rc = user_get_by_email(ctx, login, out);
    if (rc == SHOP_ENOTFOUND && (by & USER_BY_USERNAME))
        rc = fetch_one(ctx,
                       "SELECT " USER_COLUMNS " FROM users WHERE lower(username) = lower(?)",
                       DB_PARAMS(DB_TEXT(login)), out);
    if (rc == SHOP_ENOTFOUND && (by & USER_BY_PHONE) && login[0] == '+')
        rc = fetch_one(ctx, "SELECT " USER_COLUMNS " FROM users WHERE phone = ?",
                       DB_PARAMS(DB_TEXT(login)), out);
    return rc;
}

int user_authenticate(struct ctx *ctx, const char *login, unsigned by, const char *password,
                      struct user *out)
{
    int rc = user_get_by_login(ctx, login, by, out);
    if (rc == SHOP_ENOTFOUND) {
        /* Spend the time a real check costs, so response time does not tell
         * which accounts exist. */
        char dummy[PASSWORD_HASH_MAX];
        password_hash(password, dummy);
        return SHOP_EAUTH;
    }
    if (rc != SHOP_OK)
        return rc;
    bool needs_rehash = false;
    if (!password_verify(password, out->password, &needs_rehash))
        return SHOP_EAUTH;
    if (!out->is_active)
        return SHOP_EFORBIDDEN;
    if (needs_rehash) {
        char hash[PASSWORD_HASH_MAX];
        if (password_hash(password, hash) == 0) {
            db_exec(ctx->db, "UPDATE users SET password = ? WHERE id = ?",
                    DB_PARAMS(DB_TEXT(hash), DB_INT(out->id)), NULL);
            user_changed();
            out->password = arena_strdup(ctx->arena, hash);
        }
        secure_wipe(hash, sizeof(hash));
    }
    if ((by & USER_REQUIRE_VERIFIED) && !out->email_verified)
        return SHOP_OK; /* refused by the caller: no login happens */
    db_exec(ctx->db, "UPDATE users SET last_login = ? WHERE id = ?",
            DB_PARAMS(DB_INT(ctx->now), DB_INT(out->id)), NULL);
    user_changed();
    out->last_login = ctx->now;
    return SHOP_OK;
}

int user_set_email_verified(struct ctx *ctx, int64_t user_id)
{
    user_changed();
    return db_exec(ctx->db, "UPDATE users SET email_verified = TRUE WHERE id = ?",
                   DB_PARAMS(DB_INT(user_id)), NULL) == DB_OK
               ? SHOP_OK
               : SHOP_EDB;
}

bool user_phone_valid(const char *phone)
{
    if (phone == NULL || phone[0] != '+' || phone[1] < '1' || phone[1] > '9')
        return false;
    size_t digits = strspn(phone + 1, "0123456789");
    return phone[1 + digits] == '\0' && digits >= 8 && digits <= 15;
}

int user_update(struct ctx *ctx, int64_t id, const struct user_patch *p, struct errors *err,
                struct user *out)
{
    if (p->email && !user_email_valid(p->email)) {
        errors_add(err, "email", "Enter a valid email address.");
        return SHOP_EINVAL;
    }
    if (p->phone && *p->phone && !user_phone_valid(p->phone)) {
        errors_add(err, "phone",
                   "Enter a valid phone number in international format, e.g. +14155550123.");
        return SHOP_EINVAL;
    }
    if (p->birthdate && *p->birthdate) {
        int y, m, d;
        if (!time_parse_date(p->birthdate, &y, &m, &d)) {
            errors_add(err, "birthdate",
                       "Date has wrong format. Use one of these formats instead: YYYY-MM-DD.");
            return SHOP_EINVAL;
        }
    }
    if (p->email && user_email_taken(ctx, p->email, id)) {
        errors_add(err, "email", "This email is already in use.");
        return SHOP_ECONFLICT;
    }
    /* COALESCE keeps the stored value for every field the patch leaves NULL.
     * A new email address is unverified until its owner proves it. */
    bool own;
    if (core_tx_begin(ctx, &own) != SHOP_OK)
        return SHOP_EDB;
    struct user before;
    int rc = user_get(ctx, id, &before) == SHOP_OK ? DB_OK : DB_ERR;
    bool email_changed = rc == DB_OK && p->email && !str_case_eq(str_from(p->email),
                                                                 str_from(before.email));
    struct db_res *res;
    if (rc == DB_OK)
        rc = db_query(ctx->db,
                      "UPDATE users SET email = COALESCE(?, email), username = COALESCE(?, "
                      "username), first_name = COALESCE(?, first_name), last_name = COALESCE(?, "
                      "last_name), "
                      /* phone and birthdate: NULL keeps, "" clears (NULL: no phone
                       * is not a phone shared by every user without one) */
                      "phone = CASE WHEN CAST(? AS TEXT) IS NULL THEN phone ELSE "
                      "NULLIF(CAST(? AS TEXT), '') END, birthdate = CASE WHEN CAST(? AS TEXT) IS "
                      "NULL THEN birthdate ELSE NULLIF(CAST(? AS TEXT), '') END, "
                      "email_verified = (email_verified AND ?) WHERE id = ? RETURNING " USER_COLUMNS,
                      DB_PARAMS(DB_TEXT(p->email), DB_TEXT(p->username), DB_TEXT(p->first_name),
                                DB_TEXT(p->last_name), DB_TEXT(p->phone), DB_TEXT(p->phone),
                                DB_TEXT(p->birthdate), DB_TEXT(p->birthdate),
                                DB_BOOL(!email_changed), DB_INT(id)),
                      &res);
    if (rc == DB_OK) {
        rc = db_next(res);
        if (rc == DB_ROW)
            read_user(ctx, res, out);
        db_res_close(res);
        user_changed();
    }
    if (rc == DB_ROW && email_changed && verify_send_email(ctx, out) != SHOP_OK)
        rc = DB_ERR;
    core_tx_end(ctx, own, rc == DB_ROW ? SHOP_OK : SHOP_EDB);
    if (rc == DB_ECONSTRAINT) {
        if (p->email && user_email_taken(ctx, p->email, id))
            errors_add(err, "email", "This email is already in use.");
        else
            explain_conflict(ctx, NULL, p->username, p->phone, id, err);
        return SHOP_ECONFLICT;
    }
    if (rc == DB_DONE)
        return SHOP_ENOTFOUND;
    return rc == DB_ROW ? SHOP_OK : SHOP_EDB;
}

int user_set_password(struct ctx *ctx, const struct user *u, const char *new_password,
                      const char *new_password_field, struct errors *err)
{
    struct password_attrs attrs = {u->username, u->email, u->first_name, u->last_name};
    if (!password_validate(new_password, &attrs, err, new_password_field))
        return SHOP_EINVAL;
    char hash[PASSWORD_HASH_MAX];
    if (password_hash(new_password, hash) != 0)
        return SHOP_EDB;
    int status = SHOP_EDB;
    if (db_begin_write(ctx->db) != DB_OK)
        goto out;
    /* Tokens issued before the cutoff stop working, including those of a
     * concurrent request that read this same microsecond. */
    int64_t cutoff = ctx->now_us + 1;
    /* Only over the hash the caller checked: of two concurrent changes (two
     * uses of one reset link), the second finds it gone and changes nothing. */
    int64_t changed = 0;
    if (db_exec(ctx->db,
                "UPDATE users SET password = ?, password_changed_us = ? WHERE id = ? AND "
                "password = ?",
                DB_PARAMS(DB_TEXT(hash), DB_INT(cutoff), DB_INT(u->id), DB_TEXT(u->password)),
                &changed) != DB_OK) {
        db_rollback(ctx->db);
        goto out;
    }
    user_changed();
    if (changed == 0) {
        db_rollback(ctx->db);
        errors_add(err, new_password_field,
                   "The password was changed by another request; please try again.");
        status = SHOP_ECONFLICT;
        goto out;
    }
    if (token_revoke_user(ctx, u->id) != SHOP_OK || db_commit(ctx->db) != DB_OK) {
        db_rollback(ctx->db);
        goto out;
    }
    /* This request's clock moves to the cutoff, so tokens it issues after
     * the change (a reset that logs the user in) are valid. */
    ctx->now_us = cutoff;
    status = SHOP_OK;
out:
    secure_wipe(hash, sizeof(hash));
    return status;
}
