/*
 * tests/unit/core/verify.c - src/core/verify.c: uid encoding (the document's
 * "u4" -> "dTQ" and the legacy form), one-time tokens (valid, expired,
 * forged, for another purpose, spent by what they are bound to), and
 * src/core/ratelimit.c's counter (fixed windows with the sliding estimate),
 * on a fresh SQLite database.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#define _XOPEN_SOURCE_EXTENDED 1
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "core/core.h"
#include "core/password.h"
#include "core/ratelimit.h"
#include "core/user.h"
#include "core/verify.h"
#include "db/db.h"
#include "util/arena.h"
#include "util/config.h"

#define T0 INT64_C(1700000000)

static char secret_key[] = "verify-unit-test-secret-key-0123456789";
static char frontend[] = "http://frontend.test";
static char mail_from[] = "shopd <no-reply@test>";

struct env {
    char dir[256];
    struct db *db;
    struct arena *arena;
    struct config cfg;
    struct ctx ctx;
    struct user u;
};

static int remove_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)st, (void)flag, (void)ftw;
    return remove(path);
}

static int setup(void **state)
{
    struct env *e = calloc(1, sizeof(*e));
    snprintf(e->dir, sizeof(e->dir), "/tmp/shopd-verify-XXXXXX");
    if (mkdtemp(e->dir) == NULL)
        return -1;
    char url[512];
    snprintf(url, sizeof(url), "sqlite://%s/test.db", e->dir);
    e->db = db_open(url);
    assert_non_null(e->db);
    assert_int_equal(db_migrate(e->db, NULL), DB_OK);
    e->arena = arena_create();
    e->cfg.secret_key = secret_key;
    e->cfg.frontend_url = frontend;
    e->cfg.mail_from = mail_from;
    e->cfg.access_token_lifetime = 300;
    e->cfg.refresh_token_lifetime = 86400;
    e->ctx = (struct ctx){.db = e->db, .arena = e->arena, .cfg = &e->cfg, .now = T0,
                          .now_us = T0 * 1000000};
    struct errors err;
    errors_init(&err, e->arena);
    struct user_new in = {.email = "ada@example.com", .password = "Analytical-Engine-1843"};
    assert_int_equal(user_create(&e->ctx, &in, &err, &e->u), SHOP_OK);
    *state = e;
    return 0;
}

static int teardown(void **state)
{
    struct env *e = *state;
    db_close(e->db);
    arena_destroy(e->arena);
    nftw(e->dir, remove_entry, 8, FTW_DEPTH | FTW_PHYS);
    free(e);
    return 0;
}

static void test_uid_encoding(void **state)
{
    struct env *e = *state;
    /* The document's example: user 4 -> "u4" -> "dTQ". */
    assert_string_equal(verify_uid_encode(e->arena, 4), "dTQ");
    int64_t id = 0;
    assert_true(verify_uid_decode("dTQ", &id));
    assert_int_equal(id, 4);
    /* Legacy: base64url of "4" ("NA"), and of "123" ("MTIz"). */
    assert_true(verify_uid_decode("NA", &id));
    assert_int_equal(id, 4);
    assert_true(verify_uid_decode("MTIz", &id));
    assert_int_equal(id, 123);
    for (int64_t v = 1; v < 100000; v = v * 7 + 3) {
        assert_true(verify_uid_decode(verify_uid_encode(e->arena, v), &id));
        assert_int_equal(id, v);
    }
    /* Not base64url, not a number, zero, empty, absurdly long. */
    assert_false(verify_uid_decode("d!Q", &id));
    assert_false(verify_uid_decode("dWFi", &id)); /* "uab" */
    assert_false(verify_uid_decode("MA", &id));   /* "0" */
    assert_false(verify_uid_decode("", &id));
    assert_false(verify_uid_decode(NULL, &id));
    assert_false(verify_uid_decode("dTQ0NDQ0NDQ0NDQ0NDQ0NDQ0NDQ0NDQ0NDQ0NDQ", &id));
}

static void test_token_round_trip(void **state)
{
    struct env *e = *state;
    char *token = verify_token_make(&e->ctx, &e->u, VERIFY_EMAIL);
    struct user out;
    assert_int_equal(verify_token_check(&e->ctx, NULL, token, VERIFY_EMAIL, &out), SHOP_OK);
    assert_int_equal(out.id, e->u.id);
    /* With the matching uid, and with a uid of someone else. */
    char *uid = verify_uid_encode(e->arena, e->u.id);
    assert_int_equal(verify_token_check(&e->ctx, uid, token, VERIFY_EMAIL, &out), SHOP_OK);
    assert_int_equal(
        verify_token_check(&e->ctx, verify_uid_encode(e->arena, e->u.id + 1), token, VERIFY_EMAIL,
                           &out),
        SHOP_EINVAL);
    assert_int_equal(verify_token_check(&e->ctx, "!!", token, VERIFY_EMAIL, &out), SHOP_ENOTFOUND);
    /* Another purpose's token is refused. */
    assert_int_equal(verify_token_check(&e->ctx, NULL, token, VERIFY_RESET, &out), SHOP_EINVAL);
}

static void test_token_forged_and_malformed(void **state)
{
    struct env *e = *state;
    char *token = verify_token_make(&e->ctx, &e->u, VERIFY_RESET);
    struct user out;
    char *forged = arena_strdup(e->arena, token);
    char *last = forged + strlen(forged) - 1;
    *last = *last == '0' ? '1' : '0';
    assert_int_equal(verify_token_check(&e->ctx, NULL, forged, VERIFY_RESET, &out), SHOP_EINVAL);
    static const char *const bad[] = {"", "abc", "1-2", "1-2-", "X-Y-0123456789abcdef0123456789abcdef",
                                      "0-1-0123456789abcdef0123456789abcdef"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        assert_int_equal(verify_token_check(&e->ctx, NULL, bad[i], VERIFY_RESET, &out),
                         SHOP_EINVAL);
    /* Well formed, but naming a user that does not exist. */
    assert_int_equal(verify_token_check(&e->ctx, NULL, "zz-1-0123456789abcdef0123456789abcdef",
                                        VERIFY_RESET, &out),
                     SHOP_ENOTFOUND);
    /* Signed with another key: refused. */
    e->cfg.secret_key = "another-secret-key-of-enough-length";
    char *other = verify_token_make(&e->ctx, &e->u, VERIFY_RESET);
    e->cfg.secret_key = secret_key;
    assert_int_equal(verify_token_check(&e->ctx, NULL, other, VERIFY_RESET, &out), SHOP_EINVAL);
}

static void test_token_expires_after_a_day(void **state)
{
    struct env *e = *state;
    char *token = verify_token_make(&e->ctx, &e->u, VERIFY_EMAIL);
    struct user out;
    e->ctx.now = T0 + VERIFY_TOKEN_TTL;
    assert_int_equal(verify_token_check(&e->ctx, NULL, token, VERIFY_EMAIL, &out), SHOP_OK);
    e->ctx.now = T0 + VERIFY_TOKEN_TTL + 1;
    assert_int_equal(verify_token_check(&e->ctx, NULL, token, VERIFY_EMAIL, &out), SHOP_EINVAL);
}

static void test_verification_token_is_spent_by_verifying(void **state)
{
    struct env *e = *state;
    char *token = verify_token_make(&e->ctx, &e->u, VERIFY_EMAIL);
    struct user out;
    assert_int_equal(verify_confirm(&e->ctx, NULL, token, &out), SHOP_OK);
    assert_true(out.email_verified);
    assert_int_equal(verify_confirm(&e->ctx, NULL, token, &out), SHOP_EINVAL);
}

static void test_reset_token_is_spent_by_reset_and_by_login(void **state)
{
    struct env *e = *state;
    struct errors err;
    errors_init(&err, e->arena);
    char *token = verify_token_make(&e->ctx, &e->u, VERIFY_RESET);
    struct user out;
    e->ctx.now_us += 1000;
    assert_int_equal(
        verify_reset_password(&e->ctx, NULL, token, "Difference-Engine-1822", "p", &err, &out),
        SHOP_OK);
    assert_int_equal(
        verify_reset_password(&e->ctx, NULL, token, "Another-Engine-1833", "p", &err, &out),
        SHOP_EAUTH);
    /* A new token is spent by a login (last_login moves). */
    e->ctx.now += 10;
    struct user me;
    assert_int_equal(user_get(&e->ctx, e->u.id, &me), SHOP_OK);
    char *second = verify_token_make(&e->ctx, &me, VERIFY_RESET);
    e->ctx.now += 10;
    assert_int_equal(user_authenticate(&e->ctx, "ada@example.com", USER_BY_EMAIL,
                                       "Difference-Engine-1822", &me),
                     SHOP_OK);
    assert_int_equal(verify_token_check(&e->ctx, NULL, second, VERIFY_RESET, &out), SHOP_EINVAL);
}

static void test_reset_rules_apply(void **state)
{
    struct env *e = *state;
    struct errors err;
    errors_init(&err, e->arena);
    char *token = verify_token_make(&e->ctx, &e->u, VERIFY_RESET);
    struct user out;
    assert_int_equal(verify_reset_password(&e->ctx, NULL, token, "short", "new_password1", &err, &out),
                     SHOP_EINVAL);
    assert_true(errors_has(&err, "new_password1"));
    /* A refused password does not spend the token. */
    assert_int_equal(verify_token_check(&e->ctx, NULL, token, VERIFY_RESET, &out), SHOP_OK);
}

static void test_ratelimit_counts_and_slides(void **state)
{
    struct env *e = *state;
    int64_t count = 0, wait = 0;
    /* Start of a window: 5 hits count 1..5. */
    e->ctx.now = T0 - T0 % 60;
    e->ctx.now_us = e->ctx.now * 1000000;
    for (int64_t i = 1; i <= 5; i++) {
        assert_int_equal(ratelimit_hit(&e->ctx, "k", 60, 1000, &count, &wait), SHOP_OK);
        assert_int_equal(count, i);
    }
    /* Another key counts apart. */
    assert_int_equal(ratelimit_hit(&e->ctx, "other", 60, 1000, &count, &wait), SHOP_OK);
    assert_int_equal(count, 1);
    /* Just into the next window, the previous one still weighs almost fully:
     * a burst straddling the boundary is one burst. */
    e->ctx.now += 60;
    e->ctx.now_us = e->ctx.now * 1000000 + 1000;
    assert_int_equal(ratelimit_hit(&e->ctx, "k", 60, 1000, &count, &wait), SHOP_OK);
    assert_int_equal(count, 1 + 5);
    /* Half a window later, half of the previous window's 5 (rounded up). */
    e->ctx.now += 30;
    e->ctx.now_us = e->ctx.now * 1000000;
    assert_int_equal(ratelimit_hit(&e->ctx, "k", 60, 1000, &count, &wait), SHOP_OK);
    assert_int_equal(count, 2 + 3);
    /* Two windows later, the old hits are gone. */
    e->ctx.now += 90;
    e->ctx.now_us = e->ctx.now * 1000000;
    assert_int_equal(ratelimit_hit(&e->ctx, "k", 60, 1000, &count, &wait), SHOP_OK);
    assert_int_equal(count, 1);
}

/* Retry-After is honest: after waiting it, the next hit is allowed; a
 * second earlier, it is not. */
static void test_ratelimit_retry_after_is_honest(void **state)
{
    struct env *e = *state;
    const int64_t limit = 5, window = 60;
    for (int64_t start_ms = 0; start_ms < 60000; start_ms += 7919) {
        /* Two keys with the same history: one probes a second early, the
         * other at Retry-After. */
        char early[32], on_time[32];
        snprintf(early, sizeof(early), "e%lld", (long long)start_ms);
        snprintf(on_time, sizeof(on_time), "o%lld", (long long)start_ms);
        int64_t base = T0 - T0 % window + 600;
        int64_t count = 0, wait = 0, wait_twin = 0;
        e->ctx.now_us = base * 1000000 + start_ms * 1000;
        e->ctx.now = e->ctx.now_us / 1000000;
        for (int i = 0; i <= limit; i++) {
            assert_int_equal(ratelimit_hit(&e->ctx, early, window, limit, &count, &wait_twin),
                             SHOP_OK);
            assert_int_equal(ratelimit_hit(&e->ctx, on_time, window, limit, &count, &wait),
                             SHOP_OK);
        }
        assert_true(count > limit);
        assert_true(wait >= 1);
        assert_int_equal(wait, wait_twin);
        int64_t refused_at = e->ctx.now_us;
        if (wait > 1) {
            e->ctx.now_us = refused_at + (wait - 1) * 1000000;
            e->ctx.now = e->ctx.now_us / 1000000;
            assert_int_equal(ratelimit_hit(&e->ctx, early, window, limit, &count, &wait_twin),
                             SHOP_OK);
            assert_true(count > limit);
        }
        e->ctx.now_us = refused_at + wait * 1000000;
        e->ctx.now = e->ctx.now_us / 1000000;
        assert_int_equal(ratelimit_hit(&e->ctx, on_time, window, limit, &count, &wait), SHOP_OK);
        assert_true(count <= limit);
        assert_int_equal(wait, 0);
    }
}

int main(void)
{
    if (password_init(NULL, 8, 1) != 0)
        return 1;
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_uid_encoding, setup, teardown),
        cmocka_unit_test_setup_teardown(test_token_round_trip, setup, teardown),
        cmocka_unit_test_setup_teardown(test_token_forged_and_malformed, setup, teardown),
        cmocka_unit_test_setup_teardown(test_token_expires_after_a_day, setup, teardown),
        cmocka_unit_test_setup_teardown(test_verification_token_is_spent_by_verifying, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_reset_token_is_spent_by_reset_and_by_login, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_reset_rules_apply, setup, teardown),
        cmocka_unit_test_setup_teardown(test_ratelimit_counts_and_slides, setup, teardown),
        cmocka_unit_test_setup_teardown(test_ratelimit_retry_after_is_honest, setup, teardown),
    };
    int failed = cmocka_run_group_tests(tests, NULL, NULL);
    password_shutdown();
    return failed;
}
