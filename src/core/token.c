/*
 * token.c - issuing, checking, rotating and revoking tokens (see token.h).
 *
 * The access check costs one indexed user lookup per request: it is what
 * makes a deactivated user's or a pre-password-change token fail at once.
 */
#include "core/token.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "core/core.h"
#include "core/jwt.h"
#include "core/user.h"
#include "db/db.h"
#include "util/arena.h"
#include "util/config.h"
#include "util/log.h"

static struct str secret(struct ctx *ctx)
{
    return str_from(ctx->cfg->secret_key);
}

const char *token_failure_message(enum token_failure why)
{
    switch (why) {
    case TOKEN_FAIL_NONE:
        return "";
    case TOKEN_FAIL_INVALID:
        return "Token is invalid or expired";
    case TOKEN_FAIL_WRONG_TYPE:
        return "Token has wrong type";
    case TOKEN_FAIL_BLACKLISTED:
        return "Token is blacklisted";
    case TOKEN_FAIL_USER_NOT_FOUND:
        return "User not found";
    case TOKEN_FAIL_USER_INACTIVE:
        return "User is inactive";
    }
    return "Token is invalid or expired";
}

int token_issue_pair(struct ctx *ctx, int64_t user_id, struct token_pair *out)
{
    struct jwt_claims access, refresh;
    jwt_new_claims(&access, JWT_ACCESS, user_id, ctx->now_us, ctx->cfg->access_token_lifetime);
    jwt_new_claims(&refresh, JWT_REFRESH, user_id, ctx->now_us,
                   ctx->cfg->refresh_token_lifetime);
    int rc = db_exec(ctx->db,
                     "INSERT INTO refresh_tokens (jti, user_id, issued_at, expires_at) "
                     "VALUES (?, ?, ?, ?)",
                     DB_PARAMS(DB_TEXT(refresh.jti), DB_INT(user_id), DB_INT(refresh.iat),
                               DB_INT(refresh.exp)),
                     NULL);
    if (rc != DB_OK)
        return SHOP_EDB;
    out->access = jwt_encode(ctx->arena, secret(ctx), &access);
    out->refresh = jwt_encode(ctx->arena, secret(ctx), &refresh);
    return SHOP_OK;
}

static enum token_failure failure_of(enum jwt_result r)
{
    return r == JWT_WRONG_TYPE ? TOKEN_FAIL_WRONG_TYPE : TOKEN_FAIL_INVALID;
}

const char *token_issue_verification(struct ctx *ctx, int64_t user_id)
{
    struct jwt_claims c;
    jwt_new_claims(&c, JWT_VERIFICATION, user_id, ctx->now_us, ctx->cfg->access_token_lifetime);
    return jwt_encode(ctx->arena, secret(ctx), &c);
}

/* ---- a per-thread cache of the users behind tokens ----
 *
 * Every authenticated request needs its user (to refuse deactivated users
 * and tokens older than a password change); reading it from the database
 * was half the cost of a request. Each thread keeps the users it saw
 * recently. An entry is used only while no user was written in this process
 * since it was filled (user_changed moves a process-wide epoch), and for at
 * most USER_CACHE_TTL_US: a write from another process (several servers on
 * one PostgreSQL) or by hand is seen within that time. */

#define USER_CACHE_SLOTS 64
#define USER_CACHE_TTL_US 1000000
#define USER_CACHE_STRINGS 1024

struct cached_user {
    int64_t id; /* 0: empty */
    uint64_t epoch;
    int64_t filled_us;
    struct user u;           /* string fields point into strings */
    char strings[USER_CACHE_STRINGS];
};

static _Thread_local struct cached_user *user_cache; /* [USER_CACHE_SLOTS] */
static pthread_once_t user_cache_once = PTHREAD_ONCE_INIT;
static pthread_key_t user_cache_key;

static void make_user_cache_key(void)
{
    pthread_key_create(&user_cache_key, free);
}

static struct cached_user *cache_slots(void)
{
    if (user_cache == NULL) {
        pthread_once(&user_cache_once, make_user_cache_key);
        user_cache = xcalloc(USER_CACHE_SLOTS, sizeof(*user_cache));
        pthread_setspecific(user_cache_key, user_cache); /* freed at thread exit */
    }
    return user_cache;
}

/* Copies a string into the entry's pool; false when it does not fit. */
static bool keep(struct cached_user *e, size_t *used, const char **field)
{
    if (*field == NULL)
        return true;
    size_t n = strlen(*field) + 1;
    if (*used + n > sizeof(e->strings))
        return false;
    memcpy(e->strings + *used, *field, n);
    *field = e->strings + *used;
    *used += n;
    return true;
}

#define USER_STRING_FIELDS 8

/* The addresses of the string fields of u, for copying them in and out. */
static void string_fields(struct user *u, const char **f[USER_STRING_FIELDS])
{
    f[0] = &u->username;
    f[1] = &u->email;
    f[2] = &u->phone;
    f[3] = &u->first_name;
    f[4] = &u->last_name;
    f[5] = &u->birthdate;
    f[6] = &u->user_type;
    f[7] = &u->password;
}

static void cache_fill(const struct ctx *ctx, const struct user *u, uint64_t epoch)
{
    struct cached_user *e = &cache_slots()[(uint64_t)u->id % USER_CACHE_SLOTS];
    e->id = 0;
    e->u = *u;
    size_t used = 0;
    const char **fields[USER_STRING_FIELDS];
    string_fields(&e->u, fields);
    for (size_t i = 0; i < USER_STRING_FIELDS; i++)
        if (!keep(e, &used, fields[i]))
            return; /* too long to cache: leave the slot empty */
    e->epoch = epoch;
    e->filled_us = ctx->now_us;
    e->id = u->id;
}

static bool cache_lookup(struct ctx *ctx, int64_t id, struct user *out)
{
    struct cached_user *e = &cache_slots()[(uint64_t)id % USER_CACHE_SLOTS];
    if (e->id != id || e->epoch != user_epoch() || ctx->now_us - e->filled_us > USER_CACHE_TTL_US ||
        ctx->now_us < e->filled_us)
        return false;
    *out = e->u;
    const char **fields[USER_STRING_FIELDS];
    string_fields(out, fields);
    for (size_t i = 0; i < USER_STRING_FIELDS; i++) /* the request owns its copy */
        if (*fields[i] != NULL)
            *fields[i] = arena_strdup(ctx->arena, *fields[i]);
    return true;
}

static int user_get_cached(struct ctx *ctx, int64_t id, struct user *out)
{
    if (cache_lookup(ctx, id, out))
        return SHOP_OK;
    uint64_t epoch = user_epoch(); /* read before the load: a write meanwhile retires it */
    int rc = user_get(ctx, id, out);
    if (rc == SHOP_OK)
        cache_fill(ctx, out, epoch);
    return rc;
}

/* Loads the token's user and checks it may still act. */
static int load_token_user(struct ctx *ctx, const struct jwt_claims *c, struct user *out,
                           enum token_failure *why)
{
    int rc = user_get_cached(ctx, c->user_id, out);
    if (rc == SHOP_ENOTFOUND) {
        *why = TOKEN_FAIL_USER_NOT_FOUND;
        return SHOP_EAUTH;
    }
    if (rc != SHOP_OK)
        return rc;
    if (!out->is_active) {
        *why = TOKEN_FAIL_USER_INACTIVE;
        return SHOP_EAUTH;
    }
    if (c->issued_us < out->password_changed_us) {
        *why = TOKEN_FAIL_INVALID;
        return SHOP_EAUTH;
    }
    return SHOP_OK;
}

int token_authenticate(struct ctx *ctx, struct str access, struct user *out,
                       enum token_failure *why)
{
    struct jwt_claims c;
    enum jwt_result r = jwt_decode(ctx->arena, secret(ctx), access, JWT_ACCESS, ctx->now, &c);
    if (r != JWT_OK) {
        *why = failure_of(r);
        return SHOP_EAUTH;
    }
    return load_token_user(ctx, &c, out, why);
}

int token_authenticate_verification(struct ctx *ctx, struct str token, struct user *out,
                                    enum token_failure *why)
{
    struct jwt_claims c;
    enum jwt_result r =
        jwt_decode(ctx->arena, secret(ctx), token, JWT_VERIFICATION, ctx->now, &c);
    if (r == JWT_WRONG_TYPE && c.type == JWT_ACCESS)
        return token_authenticate(ctx, token, out, why);
    if (r != JWT_OK) {
        *why = failure_of(r);
        return SHOP_EAUTH;
    }
    return load_token_user(ctx, &c, out, why);
}

/* Decodes a refresh token and checks its user. */
static int check_refresh(struct ctx *ctx, struct str refresh, struct jwt_claims *c,
                         enum token_failure *why)
{
    enum jwt_result r = jwt_decode(ctx->arena, secret(ctx), refresh, JWT_REFRESH, ctx->now, c);
    if (r != JWT_OK) {
        *why = failure_of(r);
        return SHOP_EAUTH;
    }
    struct user u;
    int rc = user_get(ctx, c->user_id, &u);
    if (rc == SHOP_ENOTFOUND || (rc == SHOP_OK && !u.is_active) ||
        (rc == SHOP_OK && c->issued_us < u.password_changed_us)) {
        *why = TOKEN_FAIL_INVALID;
        return SHOP_EAUTH;
    }
    return rc;
}

/* Marks one jti used. Returns 1 when this call blacklisted it, 0 when it was
 * already blacklisted, -1 on a storage error. A token issued elsewhere with
 * the same key (unknown jti) is recorded first, as simplejwt does. */
static int blacklist_jti(struct ctx *ctx, const struct jwt_claims *c)
{
    int64_t changed = 0;
    if (db_exec(ctx->db,
                "UPDATE refresh_tokens SET blacklisted_at = ? WHERE jti = ? AND "
                "blacklisted_at IS NULL",
                DB_PARAMS(DB_INT(ctx->now), DB_TEXT(c->jti)), &changed) != DB_OK)
        return -1;
    if (changed == 1)
        return 1;
    int64_t one;
    int rc = db_query_int(ctx->db, "SELECT 1 FROM refresh_tokens WHERE jti = ?",
                          DB_PARAMS(DB_TEXT(c->jti)), &one);
    if (rc == DB_ROW)
        return 0;
    if (rc != DB_DONE)
        return -1;
    rc = db_exec(ctx->db,
                 "INSERT INTO refresh_tokens (jti, user_id, issued_at, expires_at, blacklisted_at) "
                 "VALUES (?, ?, ?, ?, ?)",
                 DB_PARAMS(DB_TEXT(c->jti), DB_INT(c->user_id), DB_INT(c->iat), DB_INT(c->exp),
                           DB_INT(ctx->now)),
                 NULL);
    if (rc == DB_ECONSTRAINT)
        return 0; /* a concurrent use of the same foreign token won */
    return rc == DB_OK ? 1 : -1;
}

int token_refresh(struct ctx *ctx, struct str refresh, struct token_pair *out,
                  enum token_failure *why)
{
    struct jwt_claims c;
    int rc = check_refresh(ctx, refresh, &c, why);
    if (rc != SHOP_OK)
        return rc;
    if (db_begin_write(ctx->db) != DB_OK)
        return SHOP_EDB;
    int used = blacklist_jti(ctx, &c);
    if (used < 0)
        goto db_error;
    if (used == 0) {
        /* Reuse of a rotated token: someone else may hold the newer one.
         * Revoke the whole family of this user. */
        if (token_revoke_user(ctx, c.user_id) != SHOP_OK)
            goto db_error;
        if (db_commit(ctx->db) != DB_OK)
            goto db_error;
        log_warn("refresh token reuse for user %lld: revoked all its refresh tokens",
                 (long long)c.user_id);
        *why = TOKEN_FAIL_BLACKLISTED;
        return SHOP_EAUTH;
    }
    if (token_issue_pair(ctx, c.user_id, out) != SHOP_OK)
        goto db_error;
    if (db_commit(ctx->db) != DB_OK)
        goto db_error;
    return SHOP_OK;
db_error:
    db_rollback(ctx->db);
    return SHOP_EDB;
}

int token_refresh_access(struct ctx *ctx, struct str refresh, const char **access,
                         enum token_failure *why)
{
    struct jwt_claims c;
    int rc = check_refresh(ctx, refresh, &c, why);
    if (rc != SHOP_OK)
        return rc;
    int64_t blacklisted = 0;
    rc = db_query_int(ctx->db, "SELECT blacklisted_at FROM refresh_tokens WHERE jti = ?",
                      DB_PARAMS(DB_TEXT(c.jti)), &blacklisted);
    if (rc == DB_ROW && blacklisted != 0) {
        *why = TOKEN_FAIL_BLACKLISTED;
        return SHOP_EAUTH;
    }
    if (rc != DB_ROW && rc != DB_DONE)
        return SHOP_EDB;
    struct jwt_claims a;
    jwt_new_claims(&a, JWT_ACCESS, c.user_id, ctx->now_us, ctx->cfg->access_token_lifetime);
    *access = jwt_encode(ctx->arena, secret(ctx), &a);
    return SHOP_OK;
}

static int blacklist_checked(struct ctx *ctx, struct str refresh, int64_t owner_id,
                             enum token_failure *why)
{
    struct jwt_claims c;
    int rc = check_refresh(ctx, refresh, &c, why);
    if (rc != SHOP_OK)
        return rc;
    if (owner_id > 0 && c.user_id != owner_id) {
        *why = TOKEN_FAIL_INVALID;
        return SHOP_EAUTH;
    }
    int used = blacklist_jti(ctx, &c);
    if (used < 0)
        return SHOP_EDB;
    if (used == 0) {
        *why = TOKEN_FAIL_BLACKLISTED;
        return SHOP_EAUTH;
    }
    return SHOP_OK;
}

int token_blacklist(struct ctx *ctx, struct str refresh, enum token_failure *why)
{
    return blacklist_checked(ctx, refresh, 0, why);
}

int token_logout(struct ctx *ctx, struct str refresh, int64_t owner_id, enum token_failure *why)
{
    return blacklist_checked(ctx, refresh, owner_id, why);
}

int token_verify(struct ctx *ctx, struct str token, enum token_failure *why)
{
    static const enum jwt_type types[] = {JWT_ACCESS, JWT_REFRESH, JWT_VERIFICATION};
    struct jwt_claims c;
    enum jwt_result r = JWT_MALFORMED;
    /* The type is whatever the token says: try each; only WRONG_TYPE moves on. */
    for (size_t i = 0; i < sizeof(types) / sizeof(types[0]); i++) {
        r = jwt_decode(ctx->arena, secret(ctx), token, types[i], ctx->now, &c);
        if (r != JWT_WRONG_TYPE)
            break;
    }
    if (r != JWT_OK) {
        *why = TOKEN_FAIL_INVALID;
        return SHOP_EAUTH;
    }
    struct user u;
    int rc = load_token_user(ctx, &c, &u, why);
    if (rc != SHOP_OK)
        return rc;
    if (c.type == JWT_REFRESH) {
        int64_t blacklisted = 0;
        rc = db_query_int(ctx->db, "SELECT blacklisted_at FROM refresh_tokens WHERE jti = ?",
                          DB_PARAMS(DB_TEXT(c.jti)), &blacklisted);
        if (rc != DB_ROW && rc != DB_DONE)
            return SHOP_EDB;
        if (rc == DB_ROW && blacklisted != 0) {
            *why = TOKEN_FAIL_BLACKLISTED;
            return SHOP_EAUTH;
        }
    }
    return SHOP_OK;
}

int token_revoke_user(struct ctx *ctx, int64_t user_id)
{
    int rc = db_exec(ctx->db,
                     "UPDATE refresh_tokens SET blacklisted_at = ? WHERE user_id = ? AND "
                     "blacklisted_at IS NULL",
                     DB_PARAMS(DB_INT(ctx->now), DB_INT(user_id)), NULL);
    return rc == DB_OK ? SHOP_OK : SHOP_EDB;
}
