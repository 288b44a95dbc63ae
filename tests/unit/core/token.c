/*
 * tests/unit/core/token.c - src/core/token.c through token.h against a real
 * database: issuing (the refresh jti is recorded), authenticating an access
 * token (every refusal and its why: wrong type, tampered, expired, user
 * deleted or inactive, issued before a password change down to the
 * microsecond), rotation and reuse detection, logout, revoking a user, and
 * refresh tokens from another issuer holding the same key.
 *
 * Every case runs on SQLite in a fresh temporary directory, then on
 * PostgreSQL when SHOPD_TEST_PG_URL is set (each case in a schema of its own,
 * as in tests/unit/db/db.c); without it the PostgreSQL cases are skipped.
 * The clock is the ctx's: tests set ctx.now / ctx.now_us by hand.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#define _XOPEN_SOURCE_EXTENDED 1
#include <assert.h>
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/rand.h>

#include "core/core.h"
#include "core/jwt.h"
#include "core/password.h"
#include "core/token.h"
#include "core/user.h"
#include "db/db.h"
#include "testdb.h"
#include "util/arena.h"
#include "util/config.h"
#include "util/str.h"

#define ACCESS_LIFETIME 300
#define REFRESH_LIFETIME 86400
#define T0 INT64_C(1700000000) /* seconds; every case starts its clock here */
#define PASSWORD "Corr3ct-Horse-Battery"
#define NEW_PASSWORD "Another-Str0ng-Passphrase"

static char secret_key[] = "token-unit-test-secret-key-0123456789abcdef";

struct env {
    struct testdb t; /* the database and its temporary directory */
    struct arena *arena;
    struct config cfg;
    struct ctx ctx;
};

/* ---- fixtures ---- */

static int group_setup(void **state)
{
    (void)state;
    /* No common-password lists; the smallest Argon2id costs libsodium takes. */
    return password_init(NULL, 8, 1) == 0 ? 0 : -1;
}

static int group_teardown(void **state)
{
    (void)state;
    password_shutdown();
    return 0;
}

/* The database is open and migrated; the rest of the env is filled here. */
static void finish_setup(struct env *e)
{
    e->arena = arena_create();
    e->cfg.secret_key = secret_key;
    e->cfg.access_token_lifetime = ACCESS_LIFETIME;
    e->cfg.refresh_token_lifetime = REFRESH_LIFETIME;
    e->ctx.db = e->t.db;
    e->ctx.arena = e->arena;
    e->ctx.cfg = &e->cfg;
    e->ctx.now = T0;
    e->ctx.now_us = T0 * 1000000;
}

static int open_env(void **state, enum db_kind kind)
{
    *state = NULL;
    struct env *e = calloc(1, sizeof(*e));
    assert_non_null(e);
    if (!testdb_open(&e->t, kind, "token")) {
        free(e);
        return 0; /* PostgreSQL without SHOPD_TEST_PG_URL: the case skips itself */
    }
    finish_setup(e);
    *state = e;
    return 0;
}

static int setup_sqlite(void **state)
{
    return open_env(state, DB_SQLITE);
}

static int setup_pg(void **state)
{
    return open_env(state, DB_POSTGRES);
}

static int teardown(void **state)
{
    struct env *e = *state;
    if (e == NULL)
        return 0;
    if (e->arena)
        arena_destroy(e->arena);
    testdb_close(&e->t);
    free(e);
    return 0;
}

static struct env *env_of(void **state)
{
    if (*state == NULL)
        skip(); /* PostgreSQL case without SHOPD_TEST_PG_URL */
    return *state;
}

/* ---- helpers ---- */

/* Moves the clock to T0 + us microseconds. */
static void set_clock_us(struct env *e, int64_t us)
{
    e->ctx.now_us = T0 * 1000000 + us;
    e->ctx.now = e->ctx.now_us / 1000000;
}

static struct user make_user(struct env *e, const char *email)
{
    struct errors err;
    errors_init(&err, e->arena);
    struct user_new in = {.email = email, .password = PASSWORD};
    struct user u;
    int rc = user_create(&e->ctx, &in, &err, &u);
    if (rc != SHOP_OK)
        fail_msg("user_create(%s): %d, first error %s: %s", email, rc,
                 err.head ? err.head->field : "-", err.head ? err.head->message : "-");
    assert_true(u.is_active);
    return u;
}

static struct token_pair issue(struct env *e, int64_t user_id)
{
    struct token_pair p = {NULL, NULL};
    assert_int_equal(token_issue_pair(&e->ctx, user_id, &p), SHOP_OK);
    assert_non_null(p.access);
    assert_non_null(p.refresh);
    return p;
}

/* token_authenticate; returns rc, *why gets the failure (NONE on success). */
static int authenticate(struct env *e, const char *access, struct user *u,
                        enum token_failure *why)
{
    struct user scratch;
    *why = TOKEN_FAIL_NONE;
    return token_authenticate(&e->ctx, str_from(access), u ? u : &scratch, why);
}

static void assert_access_ok(struct env *e, const char *access, int64_t user_id)
{
    struct user u;
    enum token_failure why;
    int rc = authenticate(e, access, &u, &why);
    if (rc != SHOP_OK)
        fail_msg("access token refused: rc %d, why %d (%s)", rc, (int)why,
                 token_failure_message(why));
    assert_int_equal(why, TOKEN_FAIL_NONE);
    assert_int_equal(u.id, user_id);
}

static void assert_access_refused(struct env *e, const char *access, enum token_failure want)
{
    enum token_failure why;
    int rc = authenticate(e, access, NULL, &why);
    if (rc != SHOP_EAUTH || why != want)
        fail_msg("access token: rc %d why %d (%s), expected SHOP_EAUTH why %d (%s)", rc, (int)why,
                 token_failure_message(why), (int)want, token_failure_message(want));
}

static int refresh(struct env *e, const char *token, struct token_pair *out,
                   enum token_failure *why)
{
    struct token_pair scratch;
    *why = TOKEN_FAIL_NONE;
    return token_refresh(&e->ctx, str_from(token), out ? out : &scratch, why);
}

static struct token_pair assert_refresh_ok(struct env *e, const char *token)
{
    struct token_pair p = {NULL, NULL};
    enum token_failure why;
    int rc = refresh(e, token, &p, &why);
    if (rc != SHOP_OK)
        fail_msg("refresh refused: rc %d, why %d (%s)", rc, (int)why, token_failure_message(why));
    assert_non_null(p.access);
    assert_non_null(p.refresh);
    return p;
}

static void assert_refresh_refused(struct env *e, const char *token, enum token_failure want)
{
    enum token_failure why;
    int rc = refresh(e, token, NULL, &why);
    if (rc != SHOP_EAUTH || why != want)
        fail_msg("refresh: rc %d why %d (%s), expected SHOP_EAUTH why %d (%s)", rc, (int)why,
                 token_failure_message(why), (int)want, token_failure_message(want));
}

/* The claims of a token we issued, read back with the test key. */
static struct jwt_claims claims_of(struct env *e, const char *token, enum jwt_type type)
{
    struct jwt_claims c;
    assert_int_equal(jwt_decode(e->arena, str_from(secret_key), str_from(token), type, e->ctx.now,
                                &c),
                     JWT_OK);
    return c;
}

static const char *jti_of(struct env *e, const char *refresh_token)
{
    return arena_strdup(e->arena, claims_of(e, refresh_token, JWT_REFRESH).jti);
}

struct row {
    bool found;
    int64_t user_id, issued_at, expires_at;
    bool blacklisted;
    int64_t blacklisted_at;
};

static struct row refresh_row(struct env *e, const char *jti)
{
    struct row r = {0};
    struct db_res *res;
    assert_int_equal(db_query(e->t.db,
                              "SELECT user_id, issued_at, expires_at, blacklisted_at "
                              "FROM refresh_tokens WHERE jti = ?",
                              DB_PARAMS(DB_TEXT(jti)), &res),
                     DB_OK);
    int rc = db_next(res);
    if (rc == DB_ROW) {
        r.found = true;
        r.user_id = db_col_int(res, 0);
        r.issued_at = db_col_int(res, 1);
        r.expires_at = db_col_int(res, 2);
        r.blacklisted = !db_col_is_null(res, 3);
        r.blacklisted_at = db_col_int(res, 3);
        assert_int_equal(db_next(res), DB_DONE);
    } else {
        assert_int_equal(rc, DB_DONE);
    }
    db_res_close(res);
    return r;
}

static void assert_outstanding(struct env *e, const char *refresh_token)
{
    struct row r = refresh_row(e, jti_of(e, refresh_token));
    assert_true(r.found);
    assert_false(r.blacklisted);
}

static void assert_blacklisted(struct env *e, const char *refresh_token)
{
    struct row r = refresh_row(e, jti_of(e, refresh_token));
    assert_true(r.found);
    assert_true(r.blacklisted);
}

static int64_t count(struct env *e, const char *sql, int64_t user_id)
{
    int64_t n = -1;
    assert_int_equal(db_query_int(e->t.db, sql, DB_PARAMS(DB_INT(user_id)), &n), DB_ROW);
    return n;
}

static int64_t tokens_of(struct env *e, int64_t user_id)
{
    return count(e, "SELECT COUNT(*) FROM refresh_tokens WHERE user_id = ?", user_id);
}

/* A write to users from this process: like every such write in src/core it
 * tells the token cache (user_changed), or the change would show only after
 * the cache's second. */
static void exec1(struct env *e, const char *sql, int64_t id)
{
    int64_t changed = 0;
    assert_int_equal(db_exec(e->t.db, sql, DB_PARAMS(DB_INT(id)), &changed), DB_OK);
    assert_int_equal(changed, 1);
    user_changed();
}

/* A copy of token with one character of its payload changed. */
static char *tamper_payload(struct env *e, const char *token)
{
    char *t = arena_strdup(e->arena, token);
    char *p = strchr(t, '.') + 12;
    *p = *p == 'A' ? 'B' : 'A';
    return t;
}

/* A refresh token as a simplejwt issuer holding the same key writes it: a
 * random 32-hex jti (no issue time in it) never recorded here. */
static char *foreign_refresh(struct env *e, int64_t user_id)
{
    struct jwt_claims c;
    memset(&c, 0, sizeof(c));
    c.type = JWT_REFRESH;
    c.user_id = user_id;
    c.iat = e->ctx.now;
    c.exp = e->ctx.now + REFRESH_LIFETIME;
    c.issued_us = c.iat * 1000000;
    unsigned char rnd[16];
    assert_int_equal(RAND_bytes(rnd, sizeof(rnd)), 1);
    rnd[6] = (unsigned char)((rnd[6] & 0x0f) | 0x40); /* uuid4, as uuid.uuid4().hex */
    rnd[8] = (unsigned char)((rnd[8] & 0x3f) | 0x80);
    for (size_t i = 0; i < sizeof(rnd); i++)
        snprintf(c.jti + 2 * i, 3, "%02x", rnd[i]);
    return jwt_encode(e->arena, str_from(secret_key), &c);
}

/* ---- cases ---- */

static void test_failure_messages(void **state)
{
    (void)state;
    assert_string_equal(token_failure_message(TOKEN_FAIL_NONE), "");
    assert_string_equal(token_failure_message(TOKEN_FAIL_INVALID), "Token is invalid or expired");
    assert_string_equal(token_failure_message(TOKEN_FAIL_WRONG_TYPE), "Token has wrong type");
    assert_string_equal(token_failure_message(TOKEN_FAIL_BLACKLISTED), "Token is blacklisted");
    assert_string_equal(token_failure_message(TOKEN_FAIL_USER_NOT_FOUND), "User not found");
    assert_string_equal(token_failure_message(TOKEN_FAIL_USER_INACTIVE), "User is inactive");
}

static void test_issue_pair_records_refresh_jti(void **state)
{
    struct env *e = env_of(state);
    struct user u = make_user(e, "issue@example.com");
    set_clock_us(e, 123456);
    struct token_pair p = issue(e, u.id);

    struct jwt_claims a = claims_of(e, p.access, JWT_ACCESS);
    struct jwt_claims r = claims_of(e, p.refresh, JWT_REFRESH);
    assert_int_equal(a.user_id, u.id);
    assert_int_equal(a.iat, T0);
    assert_int_equal(a.exp, T0 + ACCESS_LIFETIME);
    assert_int_equal(a.issued_us, T0 * 1000000 + 123456);
    assert_int_equal(r.user_id, u.id);
    assert_int_equal(r.iat, T0);
    assert_int_equal(r.exp, T0 + REFRESH_LIFETIME);
    assert_int_equal(r.issued_us, T0 * 1000000 + 123456);
    assert_string_not_equal(a.jti, r.jti);

    /* The refresh jti is recorded, outstanding; the access jti is not. */
    struct row row = refresh_row(e, r.jti);
    assert_true(row.found);
    assert_int_equal(row.user_id, u.id);
    assert_int_equal(row.issued_at, r.iat);
    assert_int_equal(row.expires_at, r.exp);
    assert_false(row.blacklisted);
    assert_false(refresh_row(e, a.jti).found);
    assert_int_equal(tokens_of(e, u.id), 1);

    /* Each pair is recorded on its own. */
    struct token_pair q = issue(e, u.id);
    assert_string_not_equal(jti_of(e, q.refresh), r.jti);
    assert_outstanding(e, q.refresh);
    assert_int_equal(tokens_of(e, u.id), 2);
}

static void test_authenticate_accepts_access(void **state)
{
    struct env *e = env_of(state);
    struct user u = make_user(e, "Auth.Me@example.com");
    make_user(e, "someone-else@example.com");
    struct token_pair p = issue(e, u.id);

    struct user got;
    memset(&got, 0, sizeof(got));
    enum token_failure why = TOKEN_FAIL_INVALID;
    assert_int_equal(authenticate(e, p.access, &got, &why), SHOP_OK);
    assert_int_equal(why, TOKEN_FAIL_NONE);
    /* The user is loaded from the table. */
    assert_int_equal(got.id, u.id);
    assert_string_equal(got.email, "Auth.Me@example.com");
    assert_string_equal(got.username, "Auth.Me@example.com");
    assert_string_equal(got.user_type, "customer");
    assert_true(got.is_active);
    assert_string_equal(got.password, u.password);

    /* Still fine one second before it expires. */
    e->ctx.now = T0 + ACCESS_LIFETIME - 1;
    assert_access_ok(e, p.access, u.id);
}

static void test_refresh_token_as_access_is_wrong_type(void **state)
{
    struct env *e = env_of(state);
    struct user u = make_user(e, "wrongtype@example.com");
    struct token_pair p = issue(e, u.id);
    assert_access_refused(e, p.refresh, TOKEN_FAIL_WRONG_TYPE);
    /* and the other way round */
    assert_refresh_refused(e, p.access, TOKEN_FAIL_WRONG_TYPE);
    assert_outstanding(e, p.refresh);
}

static void test_tampered_tokens(void **state)
{
    struct env *e = env_of(state);
    struct user u = make_user(e, "tamper@example.com");
    struct user v = make_user(e, "victim@example.com");
    struct token_pair p = issue(e, u.id);

    assert_access_refused(e, tamper_payload(e, p.access), TOKEN_FAIL_INVALID);
    assert_refresh_refused(e, tamper_payload(e, p.refresh), TOKEN_FAIL_INVALID);

    /* Claims for another user, signed with another key. */
    struct jwt_claims c;
    jwt_new_claims(&c, JWT_ACCESS, v.id, e->ctx.now_us, ACCESS_LIFETIME);
    assert_access_refused(e, jwt_encode(e->arena, STR_LIT("another-key-0123456789"), &c),
                          TOKEN_FAIL_INVALID);
    jwt_new_claims(&c, JWT_REFRESH, v.id, e->ctx.now_us, REFRESH_LIFETIME);
    assert_refresh_refused(e, jwt_encode(e->arena, STR_LIT("another-key-0123456789"), &c),
                           TOKEN_FAIL_INVALID);

    /* Garbage. */
    assert_access_refused(e, "garbage", TOKEN_FAIL_INVALID);
    assert_access_refused(e, "", TOKEN_FAIL_INVALID);
    assert_refresh_refused(e, "a.b.c", TOKEN_FAIL_INVALID);

    /* Nothing was recorded or blacklisted by the attempts. */
    assert_int_equal(tokens_of(e, v.id), 0);
    assert_int_equal(tokens_of(e, u.id), 1);
    assert_outstanding(e, p.refresh);
    assert_access_ok(e, p.access, u.id);
}

static void test_expired_tokens(void **state)
{
    struct env *e = env_of(state);
    struct user u = make_user(e, "expired@example.com");
    struct token_pair p = issue(e, u.id);

    e->ctx.now = T0 + ACCESS_LIFETIME; /* exp <= now */
    e->ctx.now_us = e->ctx.now * 1000000;
    assert_access_refused(e, p.access, TOKEN_FAIL_INVALID);

    /* The refresh token lives longer and still gets a new pair. */
    struct token_pair q = assert_refresh_ok(e, p.refresh);
    assert_access_ok(e, q.access, u.id);

    const char *q_jti = jti_of(e, q.refresh);
    e->ctx.now = T0 + ACCESS_LIFETIME + REFRESH_LIFETIME; /* q's exp */
    e->ctx.now_us = e->ctx.now * 1000000;
    assert_refresh_refused(e, q.refresh, TOKEN_FAIL_INVALID);
    assert_access_refused(e, q.access, TOKEN_FAIL_INVALID);
    /* Refused before the table is consulted: not blacklisted, nothing issued. */
    struct row r = refresh_row(e, q_jti);
    assert_true(r.found);
    assert_false(r.blacklisted);
    assert_int_equal(tokens_of(e, u.id), 2);
}

static void test_deleted_user(void **state)
{
    struct env *e = env_of(state);
    struct user u = make_user(e, "deleted@example.com");
    struct user other = make_user(e, "stays@example.com");
    struct token_pair p = issue(e, u.id);
    struct token_pair o = issue(e, other.id);
    assert_int_equal(tokens_of(e, u.id), 1);

    exec1(e, "DELETE FROM users WHERE id = ?", u.id);
    assert_int_equal(tokens_of(e, u.id), 0); /* ON DELETE CASCADE */

    assert_access_refused(e, p.access, TOKEN_FAIL_USER_NOT_FOUND);
    assert_refresh_refused(e, p.refresh, TOKEN_FAIL_INVALID);
    enum token_failure why = TOKEN_FAIL_NONE;
    assert_int_equal(token_blacklist(&e->ctx, str_from(p.refresh), &why), SHOP_EAUTH);
    assert_int_equal(why, TOKEN_FAIL_INVALID);
    /* Nothing is recorded for a user who is gone. */
    assert_int_equal(tokens_of(e, u.id), 0);

    assert_access_ok(e, o.access, other.id);
    assert_outstanding(e, o.refresh);
}

static void test_inactive_user(void **state)
{
    struct env *e = env_of(state);
    struct user u = make_user(e, "inactive@example.com");
    struct token_pair p = issue(e, u.id);
    assert_access_ok(e, p.access, u.id);

    exec1(e, "UPDATE users SET is_active = FALSE WHERE id = ?", u.id);
    assert_access_refused(e, p.access, TOKEN_FAIL_USER_INACTIVE);
    assert_refresh_refused(e, p.refresh, TOKEN_FAIL_INVALID);
    enum token_failure why = TOKEN_FAIL_NONE;
    assert_int_equal(token_blacklist(&e->ctx, str_from(p.refresh), &why), SHOP_EAUTH);
    assert_int_equal(why, TOKEN_FAIL_INVALID);
    /* The refusals did not consume the token... */
    assert_outstanding(e, p.refresh);

    /* ...so it works again once the account is reactivated. */
    exec1(e, "UPDATE users SET is_active = TRUE WHERE id = ?", u.id);
    assert_access_ok(e, p.access, u.id);
    assert_refresh_ok(e, p.refresh);
}

static void test_password_change_invalidates_earlier_tokens(void **state)
{
    struct env *e = env_of(state);
    struct user u = make_user(e, "pwchange@example.com");

    /* Three sessions: the second before the change, one in the change's
     * second 400 ms earlier, one in the very microsecond the change reads. */
    set_clock_us(e, -1500000);
    struct token_pair before = issue(e, u.id);
    set_clock_us(e, 100000);
    struct token_pair same_second = issue(e, u.id);
    set_clock_us(e, 499999);
    struct token_pair one_us_earlier = issue(e, u.id);
    set_clock_us(e, 500000);
    struct token_pair same_us = issue(e, u.id);
    assert_int_equal(claims_of(e, same_second.access, JWT_ACCESS).iat, T0);
    assert_int_equal(claims_of(e, same_us.access, JWT_ACCESS).iat, T0);

    struct errors err;
    errors_init(&err, e->arena);
    assert_int_equal(user_set_password(&e->ctx, &u, NEW_PASSWORD, "new_password", &err), SHOP_OK);
    assert_false(errors_any(&err));

    assert_access_refused(e, before.access, TOKEN_FAIL_INVALID);
    /* Same iat as the change: only the microseconds of the jti tell. */
    assert_access_refused(e, same_second.access, TOKEN_FAIL_INVALID);
    assert_access_refused(e, one_us_earlier.access, TOKEN_FAIL_INVALID);
    /* A concurrent request that read the same clock: issued before the commit. */
    assert_access_refused(e, same_us.access, TOKEN_FAIL_INVALID);
    /* Every refresh token of the user is refused (and was revoked). */
    assert_refresh_refused(e, before.refresh, TOKEN_FAIL_INVALID);
    assert_refresh_refused(e, same_second.refresh, TOKEN_FAIL_INVALID);
    assert_refresh_refused(e, same_us.refresh, TOKEN_FAIL_INVALID);
    assert_blacklisted(e, one_us_earlier.refresh);

    /* Issued after the change, still within the same second: accepted. */
    set_clock_us(e, 500001);
    struct token_pair after = issue(e, u.id);
    assert_int_equal(claims_of(e, after.access, JWT_ACCESS).iat, T0);
    assert_access_ok(e, after.access, u.id);
    set_clock_us(e, 900000);
    struct token_pair later = issue(e, u.id);
    assert_access_ok(e, later.access, u.id);
    set_clock_us(e, 2000000);
    struct token_pair rotated = assert_refresh_ok(e, after.refresh);
    assert_access_ok(e, rotated.access, u.id);
    assert_access_ok(e, later.access, u.id);

    /* The new password is stored. */
    struct user reloaded;
    assert_int_equal(user_get(&e->ctx, u.id, &reloaded), SHOP_OK);
    assert_true(password_verify(NEW_PASSWORD, reloaded.password, NULL));
    assert_false(password_verify(PASSWORD, reloaded.password, NULL));
}

static void test_refresh_rotates(void **state)
{
    struct env *e = env_of(state);
    struct user u = make_user(e, "rotate@example.com");
    struct token_pair p = issue(e, u.id);
    const char *old_jti = jti_of(e, p.refresh);

    set_clock_us(e, 60 * 1000000 + 7);
    struct token_pair n = assert_refresh_ok(e, p.refresh);
    assert_string_not_equal(n.refresh, p.refresh);
    assert_string_not_equal(n.access, p.access);
    struct jwt_claims nc = claims_of(e, n.refresh, JWT_REFRESH);
    assert_int_equal(nc.user_id, u.id);
    assert_int_equal(nc.iat, T0 + 60);
    assert_int_equal(nc.issued_us, e->ctx.now_us);
    assert_string_not_equal(nc.jti, old_jti);

    struct row old = refresh_row(e, old_jti);
    assert_true(old.found && old.blacklisted);
    assert_int_equal(old.blacklisted_at, T0 + 60);
    assert_outstanding(e, n.refresh);
    assert_access_ok(e, n.access, u.id);
    assert_int_equal(tokens_of(e, u.id), 2);

    /* A second session of the same user, opened after the rotation. */
    struct token_pair other = issue(e, u.id);

    /* The old token again: theft. Refused as blacklisted, and the newer
     * refresh token (and every other outstanding one) is revoked. */
    set_clock_us(e, 120 * 1000000);
    assert_refresh_refused(e, p.refresh, TOKEN_FAIL_BLACKLISTED);
    assert_blacklisted(e, n.refresh);
    assert_blacklisted(e, other.refresh);
    assert_int_equal(refresh_row(e, old_jti).blacklisted_at, T0 + 60); /* kept */
    assert_int_equal(refresh_row(e, jti_of(e, n.refresh)).blacklisted_at, T0 + 120);
    assert_refresh_refused(e, n.refresh, TOKEN_FAIL_BLACKLISTED);
    assert_refresh_refused(e, other.refresh, TOKEN_FAIL_BLACKLISTED);
    assert_int_equal(tokens_of(e, u.id), 3); /* no pair was issued by the refusals */

    /* A new login still works. */
    struct token_pair fresh = issue(e, u.id);
    assert_refresh_ok(e, fresh.refresh);
}

static void test_logout_blacklists(void **state)
{
    struct env *e = env_of(state);
    struct user u = make_user(e, "logout@example.com");
    struct token_pair p = issue(e, u.id);
    struct token_pair other = issue(e, u.id);

    enum token_failure why = TOKEN_FAIL_NONE;
    /* An access token is not a refresh token. */
    assert_int_equal(token_blacklist(&e->ctx, str_from(p.access), &why), SHOP_EAUTH);
    assert_int_equal(why, TOKEN_FAIL_WRONG_TYPE);
    assert_outstanding(e, p.refresh);

    set_clock_us(e, 5 * 1000000);
    why = TOKEN_FAIL_INVALID;
    assert_int_equal(token_blacklist(&e->ctx, str_from(p.refresh), &why), SHOP_OK);
    struct row r = refresh_row(e, jti_of(e, p.refresh));
    assert_true(r.blacklisted);
    assert_int_equal(r.blacklisted_at, T0 + 5);
    assert_outstanding(e, other.refresh);

    /* Logging out twice is refused, and is not taken for theft. */
    why = TOKEN_FAIL_NONE;
    assert_int_equal(token_blacklist(&e->ctx, str_from(p.refresh), &why), SHOP_EAUTH);
    assert_int_equal(why, TOKEN_FAIL_BLACKLISTED);
    assert_outstanding(e, other.refresh);

    /* Refreshing with the logged-out token is: a blacklisted token presented
     * again revokes every refresh token of the user (token.h). */
    assert_refresh_refused(e, p.refresh, TOKEN_FAIL_BLACKLISTED);
    assert_int_equal(tokens_of(e, u.id), 2); /* nothing issued */
    assert_blacklisted(e, other.refresh);
}

static void test_logout_leaves_other_sessions(void **state)
{
    struct env *e = env_of(state);
    struct user u = make_user(e, "logout2@example.com");
    struct token_pair p = issue(e, u.id);
    struct token_pair other = issue(e, u.id);
    enum token_failure why = TOKEN_FAIL_NONE;
    assert_int_equal(token_blacklist(&e->ctx, str_from(p.refresh), &why), SHOP_OK);
    assert_outstanding(e, other.refresh);
    assert_refresh_ok(e, other.refresh);
}

static void test_revoke_user(void **state)
{
    struct env *e = env_of(state);
    struct user u = make_user(e, "revoke@example.com");
    struct user v = make_user(e, "bystander@example.com");
    struct token_pair a = issue(e, u.id);
    struct token_pair b = issue(e, u.id);
    struct token_pair used = issue(e, u.id);
    struct token_pair theirs = issue(e, v.id);

    set_clock_us(e, 10 * 1000000);
    enum token_failure why;
    assert_int_equal(token_blacklist(&e->ctx, str_from(used.refresh), &why), SHOP_OK);

    set_clock_us(e, 20 * 1000000);
    assert_int_equal(token_revoke_user(&e->ctx, u.id), SHOP_OK);
    assert_int_equal(refresh_row(e, jti_of(e, a.refresh)).blacklisted_at, T0 + 20);
    assert_int_equal(refresh_row(e, jti_of(e, b.refresh)).blacklisted_at, T0 + 20);
    /* already blacklisted: its time is kept */
    assert_int_equal(refresh_row(e, jti_of(e, used.refresh)).blacklisted_at, T0 + 10);
    assert_refresh_refused(e, a.refresh, TOKEN_FAIL_BLACKLISTED);
    assert_refresh_refused(e, b.refresh, TOKEN_FAIL_BLACKLISTED);

    assert_outstanding(e, theirs.refresh);
    assert_refresh_ok(e, theirs.refresh);

    /* A user without tokens, or without a row at all: nothing to do. */
    assert_int_equal(token_revoke_user(&e->ctx, v.id + 1000), SHOP_OK);
}

static void test_reuse_does_not_touch_other_users(void **state)
{
    struct env *e = env_of(state);
    struct user a = make_user(e, "reuse-a@example.com");
    struct user b = make_user(e, "reuse-b@example.com");
    struct token_pair pa = issue(e, a.id);
    struct token_pair pb = issue(e, b.id);

    struct token_pair na = assert_refresh_ok(e, pa.refresh);
    assert_refresh_refused(e, pa.refresh, TOKEN_FAIL_BLACKLISTED);
    assert_blacklisted(e, na.refresh);

    assert_outstanding(e, pb.refresh);
    assert_int_equal(count(e,
                           "SELECT COUNT(*) FROM refresh_tokens WHERE user_id = ? AND "
                           "blacklisted_at IS NOT NULL",
                           b.id),
                     0);
    assert_access_ok(e, pb.access, b.id);
    assert_refresh_ok(e, pb.refresh);
}

static void test_foreign_refresh_token(void **state)
{
    struct env *e = env_of(state);
    struct user u = make_user(e, "foreign@example.com");
    struct token_pair mine = issue(e, u.id);
    char *foreign = foreign_refresh(e, u.id);
    struct jwt_claims fc = claims_of(e, foreign, JWT_REFRESH);
    assert_int_equal(strlen(fc.jti), 32);
    assert_int_equal(fc.issued_us, T0 * 1000000); /* from iat: no time in a uuid4 */
    assert_false(refresh_row(e, fc.jti).found);

    set_clock_us(e, 30 * 1000000);
    struct token_pair n = assert_refresh_ok(e, foreign);
    assert_access_ok(e, n.access, u.id);
    /* Recorded as used, with the foreign token's own times. */
    struct row r = refresh_row(e, fc.jti);
    assert_true(r.found);
    assert_int_equal(r.user_id, u.id);
    assert_int_equal(r.issued_at, fc.iat);
    assert_int_equal(r.expires_at, fc.exp);
    assert_true(r.blacklisted);
    assert_int_equal(r.blacklisted_at, T0 + 30);
    assert_outstanding(e, mine.refresh);

    /* Once only: the second use is a reuse like any other. */
    set_clock_us(e, 40 * 1000000);
    assert_refresh_refused(e, foreign, TOKEN_FAIL_BLACKLISTED);
    assert_blacklisted(e, n.refresh);
    assert_blacklisted(e, mine.refresh);
}

static void test_foreign_refresh_token_logout(void **state)
{
    struct env *e = env_of(state);
    struct user u = make_user(e, "foreign-logout@example.com");
    char *foreign = foreign_refresh(e, u.id);
    enum token_failure why = TOKEN_FAIL_NONE;
    assert_int_equal(token_blacklist(&e->ctx, str_from(foreign), &why), SHOP_OK);
    struct row r = refresh_row(e, claims_of(e, foreign, JWT_REFRESH).jti);
    assert_true(r.found && r.blacklisted);
    assert_refresh_refused(e, foreign, TOKEN_FAIL_BLACKLISTED);
}

/* ---- main ---- */

static const struct {
    const char *name;
    CMUnitTestFunction fn;
} cases[] = {
    {"issue_pair_records_refresh_jti", test_issue_pair_records_refresh_jti},
    {"authenticate_accepts_access", test_authenticate_accepts_access},
    {"refresh_token_as_access_is_wrong_type", test_refresh_token_as_access_is_wrong_type},
    {"tampered_tokens", test_tampered_tokens},
    {"expired_tokens", test_expired_tokens},
    {"deleted_user", test_deleted_user},
    {"inactive_user", test_inactive_user},
    {"password_change_invalidates_earlier_tokens", test_password_change_invalidates_earlier_tokens},
    {"refresh_rotates", test_refresh_rotates},
    {"logout_blacklists", test_logout_blacklists},
    {"logout_leaves_other_sessions", test_logout_leaves_other_sessions},
    {"revoke_user", test_revoke_user},
    {"reuse_does_not_touch_other_users", test_reuse_does_not_touch_other_users},
    {"foreign_refresh_token", test_foreign_refresh_token},
    {"foreign_refresh_token_logout", test_foreign_refresh_token_logout},
};
#define NCASES (sizeof(cases) / sizeof(cases[0]))

static int run_backend(const char *group, CMFixtureFunction setup)
{
    struct CMUnitTest tests[NCASES];
    for (size_t i = 0; i < NCASES; i++)
        tests[i] = (struct CMUnitTest){cases[i].name, cases[i].fn, setup, teardown, NULL};
    return _cmocka_run_group_tests(group, tests, NCASES, group_setup, group_teardown);
}

int main(void)
{
    const struct CMUnitTest pure[] = {
        cmocka_unit_test(test_failure_messages),
    };
    int failed = 0;
    failed += cmocka_run_group_tests_name("core/token", pure, NULL, NULL);
    failed += run_backend("core/token/sqlite", setup_sqlite);
    if (testdb_pg_url() == NULL)
        printf("core/token/postgres: SHOPD_TEST_PG_URL not set, PostgreSQL cases skipped\n");
    failed += run_backend("core/token/postgres", setup_pg);
    return failed != 0;
}
