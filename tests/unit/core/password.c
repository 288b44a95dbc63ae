/*
 * tests/unit/core/password.c - src/core/password.c through its public API:
 * Argon2id hash / verify / needs_rehash, a Django pbkdf2_sha256 hash computed
 * with Python's hashlib, unusable and foreign formats, the common-password
 * lists (the real ones installed on the system, and a scratch list for the
 * parsing rules) and every validation rule with Django's exact messages.
 * Argon2id runs at libsodium-minimum-ish costs to keep the test fast.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>
#include <sodium.h>

#include "core/core.h"
#include "core/password.h"
#include "util/arena.h"
#include "util/str.h"

#define LISTS "/usr/share/john/password.lst:/usr/share/dict/cracklib-small"
#define MEMORY_KIB 64
#define ITERATIONS 1

/* hashlib.pbkdf2_hmac('sha256', b'correct horse battery', b'saltsalt', 1000),
 * base64-encoded as Django writes it. */
#define DJANGO_HASH "pbkdf2_sha256$1000$saltsalt$2vLrmxK8YFROnGTL6oinO4bfT02gvTppeFbz7HWz5X0="

#define TOO_SHORT "This password is too short. It must contain at least 8 characters."
#define TOO_COMMON "This password is too common."
#define NUMERIC "This password is entirely numeric."
#define SIMILAR(label) "The password is too similar to the " label "."

static int group_setup(void **state)
{
    (void)state;
    return password_init(LISTS, MEMORY_KIB, ITERATIONS) == 0 ? 0 : -1;
}

static int group_teardown(void **state)
{
    (void)state;
    password_shutdown();
    return 0;
}

static void test_hash_and_verify(void **state)
{
    (void)state;
    char hash[PASSWORD_HASH_MAX];
    assert_int_equal(password_hash("correct horse battery", hash), 0);
    assert_true(strncmp(hash, "$argon2id$v=19$m=64,t=1,p=1$", 28) == 0);

    bool rehash = true;
    assert_true(password_verify("correct horse battery", hash, &rehash));
    assert_false(rehash);
    assert_false(password_verify("correct horse batterY", hash, NULL));
    assert_false(password_verify("", hash, NULL));
    assert_false(password_verify(NULL, hash, NULL));
    assert_true(password_verify("correct horse battery", hash, NULL)); /* out param optional */

    /* Same password, fresh salt. */
    char again[PASSWORD_HASH_MAX];
    assert_int_equal(password_hash("correct horse battery", again), 0);
    assert_string_not_equal(hash, again);

    /* A truncated hash never verifies. */
    char cut[PASSWORD_HASH_MAX];
    memcpy(cut, hash, sizeof(cut));
    cut[strlen(cut) - 4] = '\0';
    assert_false(password_verify("correct horse battery", cut, NULL));
}

static void test_needs_rehash_after_cost_change(void **state)
{
    (void)state;
    char hash[PASSWORD_HASH_MAX];
    assert_int_equal(password_hash("s3cret-enough", hash), 0);
    bool rehash = true;
    assert_true(password_verify("s3cret-enough", hash, &rehash));
    assert_false(rehash);

    assert_int_equal(password_init(LISTS, 2 * MEMORY_KIB, ITERATIONS), 0);
    rehash = false;
    assert_true(password_verify("s3cret-enough", hash, &rehash));
    assert_true(rehash);

    assert_int_equal(password_init(LISTS, MEMORY_KIB, ITERATIONS + 1), 0);
    rehash = false;
    assert_true(password_verify("s3cret-enough", hash, &rehash));
    assert_true(rehash);

    assert_int_equal(password_init(LISTS, MEMORY_KIB, ITERATIONS), 0);
    assert_true(password_verify("s3cret-enough", hash, &rehash));
    assert_false(rehash);
}

static void test_bad_costs(void **state)
{
    (void)state;
    assert_int_equal(password_init(LISTS, 4, ITERATIONS), -1); /* below 8 KiB */
    assert_int_equal(password_init(LISTS, MEMORY_KIB, 0), -1);
    assert_int_equal(password_init(LISTS, -1, ITERATIONS), -1);
    assert_int_equal(password_init(LISTS, MEMORY_KIB, ITERATIONS), 0);
}

static void test_django_pbkdf2(void **state)
{
    (void)state;
    bool rehash = false;
    assert_true(password_verify("correct horse battery", DJANGO_HASH, &rehash));
    assert_true(rehash); /* moves to Argon2id at the next login */
    rehash = false;
    assert_false(password_verify("correct horse batter", DJANGO_HASH, &rehash));
    assert_false(password_verify("Correct horse battery", DJANGO_HASH, NULL));

    /* Django compares the whole re-encoded string: variants never match. */
    static const char *const variants[] = {
        "pbkdf2_sha256$01000$saltsalt$2vLrmxK8YFROnGTL6oinO4bfT02gvTppeFbz7HWz5X0=",
        "pbkdf2_sha256$1000$saltsalt$2vLrmxK8YFROnGTL6oinO4bfT02gvTppeFbz7HWz5X0",
        "pbkdf2_sha256$1000$saltsalt$2vLrmxK8YFROnGTL6oinO4bfT02gvTppeFbz7HWz5X0=x",
        "pbkdf2_sha256$1000$saltsal$2vLrmxK8YFROnGTL6oinO4bfT02gvTppeFbz7HWz5X0=",
        "pbkdf2_sha256$1001$saltsalt$2vLrmxK8YFROnGTL6oinO4bfT02gvTppeFbz7HWz5X0=",
        "pbkdf2_sha256$+1000$saltsalt$2vLrmxK8YFROnGTL6oinO4bfT02gvTppeFbz7HWz5X0=",
        "pbkdf2_sha256$$saltsalt$2vLrmxK8YFROnGTL6oinO4bfT02gvTppeFbz7HWz5X0=",
        "pbkdf2_sha256$0$saltsalt$2vLrmxK8YFROnGTL6oinO4bfT02gvTppeFbz7HWz5X0=",
        "pbkdf2_sha256$1000$$2vLrmxK8YFROnGTL6oinO4bfT02gvTppeFbz7HWz5X0=",
        "pbkdf2_sha256$1000$saltsalt",
        "pbkdf2_sha256$1000",
        "pbkdf2_sha256$",
        "pbkdf2_sha1$1000$saltsalt$2vLrmxK8YFROnGTL6oinO4bfT02gvTppeFbz7HWz5X0=",
        "!pbkdf2_sha256$1000$saltsalt$2vLrmxK8YFROnGTL6oinO4bfT02gvTppeFbz7HWz5X0=",
    };
    for (size_t i = 0; i < sizeof(variants) / sizeof(variants[0]); i++)
        if (password_verify("correct horse battery", variants[i], NULL))
            fail_msg("%s verified", variants[i]);
}

static void test_unusable_and_foreign(void **state)
{
    (void)state;
    bool rehash = false;
    assert_false(password_verify("x", "!unusable", &rehash));
    assert_true(rehash);
    assert_false(password_verify("", "!", NULL));
    assert_false(password_verify("", "", NULL));
    assert_false(password_verify("x", NULL, NULL));
    assert_false(password_verify("x", "x", NULL));
    assert_false(password_verify("password", "md5$salt$5f4dcc3b5aa765d61d8327deb882cf99", NULL));

    /* Django's own argon2 format, and libsodium's Argon2i: not ours. */
    char argon2i[crypto_pwhash_argon2i_STRBYTES];
    assert_int_equal(crypto_pwhash_argon2i_str(argon2i, "pw", 2, crypto_pwhash_argon2i_OPSLIMIT_MIN,
                                               crypto_pwhash_argon2i_MEMLIMIT_MIN),
                     0);
    assert_int_equal(crypto_pwhash_str_verify(argon2i, "pw", 2), 0); /* valid for libsodium */
    assert_false(password_verify("pw", argon2i, NULL));
    char hash[PASSWORD_HASH_MAX];
    assert_int_equal(password_hash("pw", hash), 0);
    char *django_argon2 = NULL;
    assert_true(asprintf(&django_argon2, "argon2%s", hash + 1) > 0); /* "argon2$argon2id$..." */
    assert_false(password_verify("pw", django_argon2, NULL));
    free(django_argon2);
}

static void test_common_real_lists(void **state)
{
    (void)state;
    assert_true(password_is_common("password"));
    assert_true(password_is_common("123456"));
    assert_true(password_is_common("qwerty"));
    assert_true(password_is_common("  PassWord\t")); /* trimmed, lower-cased */
    assert_true(password_is_common("Qwerty"));
    assert_true(password_is_common("abc")); /* cracklib-small */
    assert_false(password_is_common("correct-horse-battery"));
    assert_false(password_is_common("9823749823749"));
    assert_false(password_is_common("pass word"));
    assert_false(password_is_common(""));
    assert_false(password_is_common("   "));
    assert_false(password_is_common(NULL));
    assert_false(password_is_common("#!comment: This list has been compiled by Solar Designer of "
                                    "Openwall Project"));
}

static void test_common_list_parsing(void **state)
{
    (void)state;
    char path[] = "/tmp/shopd-password-list-XXXXXX";
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    FILE *f = fdopen(fd, "w");
    assert_non_null(f);
    fputs("#!comment: a header line\n"
          "#!comment\n"
          "\n"
          "   \n"
          "  Hunter2  \n"
          "CamelCase\r\n"
          "#notacomment\n"
          "dup\n"
          "DUP\n"
          "last-without-newline",
          f);
    fclose(f);

    char *lists = NULL;
    assert_true(asprintf(&lists, "::/nonexistent/shopd/list:%s:", path) > 0);
    assert_int_equal(password_init(lists, MEMORY_KIB, ITERATIONS), 0); /* missing file skipped */
    free(lists);
    unlink(path);

    assert_true(password_is_common("hunter2"));
    assert_true(password_is_common("HUNTER2"));
    assert_true(password_is_common(" hunter2\n"));
    assert_true(password_is_common("camelcase"));
    assert_true(password_is_common("#notacomment"));
    assert_true(password_is_common("dup"));
    assert_true(password_is_common("last-without-newline"));
    assert_false(password_is_common("#!comment"));
    assert_false(password_is_common("#!comment: a header line"));
    assert_false(password_is_common("hunter"));
    assert_false(password_is_common("password")); /* the real lists are not loaded now */

    /* No lists at all: nothing is common. */
    assert_int_equal(password_init(NULL, MEMORY_KIB, ITERATIONS), 0);
    assert_false(password_is_common("hunter2"));
    assert_int_equal(password_init("", MEMORY_KIB, ITERATIONS), 0);
    assert_false(password_is_common("hunter2"));

    assert_int_equal(password_init(LISTS, MEMORY_KIB, ITERATIONS), 0);
    assert_true(password_is_common("password"));
}

/* Runs the validators; returns the messages joined with '|' ("" if none)
 * and checks the return value and the field. */
static char *validate(struct arena *a, const char *password, const struct password_attrs *attrs)
{
    struct errors err;
    errors_init(&err, a);
    bool ok = password_validate(password, attrs, &err, "password");
    assert_int_equal(ok, err.count == 0);
    struct buf b;
    buf_init_arena(&b, a);
    for (const struct field_error *fe = err.head; fe; fe = fe->next) {
        assert_string_equal(fe->field, "password");
        if (b.n)
            buf_append_char(&b, '|');
        buf_append_str(&b, fe->message);
    }
    return (char *)buf_cstr(&b);
}

static void test_validate_rules(void **state)
{
    (void)state;
    struct arena *a = arena_create();
    const struct password_attrs john = {"johnsmith", "john.smith@example.com", "John", "Smith"};

    assert_string_equal(validate(a, "correct-horse-battery", &john), "");
    assert_string_equal(validate(a, "correct-horse-battery", NULL), "");
    assert_string_equal(validate(a, "tr0ub4dor&3", &(struct password_attrs){0}), "");

    assert_string_equal(validate(a, "short1!", NULL), TOO_SHORT);
    assert_string_equal(validate(a, "zyxwvut", NULL), TOO_SHORT);
    assert_string_equal(validate(a, "abcdefgh", NULL), "");
    /* Length counts characters, not UTF-8 bytes. */
    assert_string_equal(validate(a, "p\xc3\xa4ssword", NULL), ""); /* 8 chars, 9 bytes */
    assert_string_equal(validate(a, "p\xc3\xa4ssw\xc3\xb6r", NULL), TOO_SHORT); /* 7 chars */

    assert_string_equal(validate(a, "password", NULL), TOO_COMMON);
    assert_string_equal(validate(a, "PASSWORD ", NULL), TOO_COMMON);
    assert_string_equal(validate(a, "qwerty", NULL), TOO_SHORT "|" TOO_COMMON);
    assert_string_equal(validate(a, "123456", NULL), TOO_SHORT "|" TOO_COMMON "|" NUMERIC);

    assert_string_equal(validate(a, "9823749823749", NULL), NUMERIC);
    assert_string_equal(validate(a, "98237498237a9", NULL), "");
    assert_string_equal(validate(a, " 9823749823749", NULL), "");

    assert_string_equal(validate(a, "", NULL), TOO_SHORT);
    assert_string_equal(validate(a, NULL, NULL), TOO_SHORT);

    /* Messages land under the caller's field, after what is already there. */
    struct errors err;
    errors_init(&err, a);
    errors_add(&err, "email", "Enter a valid email address.");
    assert_false(password_validate("123", NULL, &err, "new_password1"));
    assert_int_equal(err.count, 4);
    assert_true(errors_has(&err, "new_password1"));
    assert_string_equal(err.head->next->message, TOO_SHORT);
    assert_true(password_validate("correct-horse-battery", NULL, &err, "new_password1"));
    assert_int_equal(err.count, 4);

    arena_destroy(a);
}

/* Expected outcomes computed with Django 4.2's UserAttributeSimilarityValidator
 * code (re.split + difflib.SequenceMatcher.quick_ratio) run in Python. */
static void test_validate_similarity(void **state)
{
    (void)state;
    struct arena *a = arena_create();

    assert_string_equal(
        validate(a, "johnsmith1", &(struct password_attrs){.username = "johnsmith"}),
        SIMILAR("username"));
    assert_string_equal(
        validate(a, "correct-horse-battery", &(struct password_attrs){.username = "johnsmith"}),
        "");
    assert_string_equal(
        validate(a, "Alexander!", &(struct password_attrs){.first_name = "Alexander"}),
        SIMILAR("first name"));
    assert_string_equal(
        validate(a, "xyzw-Montgomery", &(struct password_attrs){.last_name = "Montgomery"}),
        SIMILAR("last name"));
    /* A part of the email ("example", "com") or all of it. */
    assert_string_equal(
        validate(a, "example.com", &(struct password_attrs){.email = "someone@example.com"}),
        SIMILAR("email address"));
    assert_string_equal(
        validate(a, "smithjohn77", &(struct password_attrs){.email = "john.smith@example.com"}),
        "");
    /* quick_ratio ignores order: an anagram is "similar". */
    assert_string_equal(
        validate(a, "mnbvcxzlkj", &(struct password_attrs){.username = "jklzxcvbnm"}),
        SIMILAR("username"));
    assert_string_equal(validate(a, "aaaaaaab", &(struct password_attrs){.username = "abc"}), "");
    assert_string_equal(
        validate(a, "sevenchar", &(struct password_attrs){.username = "seven-chars"}),
        SIMILAR("username"));
    /* Case-insensitive on both sides. */
    assert_string_equal(
        validate(a, "JOHNSMITH1", &(struct password_attrs){.username = "JohnSmith"}),
        SIMILAR("username"));

    /* One message at most, from the first attribute in Django's order
     * (username, first_name, last_name, email). */
    assert_string_equal(validate(a, "johnsmith1",
                                 &(struct password_attrs){.username = "johnsmith",
                                                          .email = "johnsmith@example.com"}),
                        SIMILAR("username"));
    assert_string_equal(validate(a, "johnsmith1",
                                 &(struct password_attrs){.email = "johnsmith@example.com",
                                                          .first_name = "Johnsmith"}),
                        SIMILAR("first name"));

    /* Combined with the other rules, similarity comes first. */
    assert_string_equal(validate(a, "abc", &(struct password_attrs){.username = "abc"}),
                        SIMILAR("username") "|" TOO_SHORT "|" TOO_COMMON);
    /* Django's edge: an empty part (value ending in a non-word character)
     * against an empty password has quick_ratio 1.0. */
    assert_string_equal(validate(a, "", &(struct password_attrs){.username = "john."}),
                        SIMILAR("username") "|" TOO_SHORT);
    assert_string_equal(validate(a, "", &(struct password_attrs){.username = "john"}), TOO_SHORT);
    /* Empty attributes are skipped. */
    assert_string_equal(
        validate(a, "johnsmith1", &(struct password_attrs){.username = "", .email = NULL}), "");

    arena_destroy(a);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_hash_and_verify),
        cmocka_unit_test(test_needs_rehash_after_cost_change),
        cmocka_unit_test(test_bad_costs),
        cmocka_unit_test(test_django_pbkdf2),
        cmocka_unit_test(test_unusable_and_foreign),
        cmocka_unit_test(test_common_real_lists),
        cmocka_unit_test(test_common_list_parsing),
        cmocka_unit_test(test_validate_rules),
        cmocka_unit_test(test_validate_similarity),
    };
    return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
