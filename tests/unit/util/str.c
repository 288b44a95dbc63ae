/*
 * tests/unit/util/str.c - src/util/str.c: the string views (comparison,
 * constant-time comparison, trimming, integer parsing at the int64 bounds)
 * and struct buf growth on the heap and in an arena.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "util/arena.h"
#include "util/str.h"

static bool parse(const char *s, int64_t *out)
{
    return str_to_int64(str_from(s), out);
}

static void test_to_int64(void **state)
{
    (void)state;
    int64_t v;
    assert_true(parse("0", &v));
    assert_int_equal(v, 0);
    assert_true(parse("-0", &v));
    assert_int_equal(v, 0);
    assert_true(parse("+42", &v));
    assert_int_equal(v, 42);
    assert_true(parse("-42", &v));
    assert_int_equal(v, -42);
    assert_true(parse("000123", &v));
    assert_int_equal(v, 123);

    assert_true(parse("9223372036854775807", &v));
    assert_true(v == INT64_MAX);
    assert_true(parse("+9223372036854775807", &v));
    assert_true(v == INT64_MAX);
    assert_true(parse("-9223372036854775808", &v));
    assert_true(v == INT64_MIN);
    assert_true(parse("-9223372036854775807", &v));
    assert_true(v == INT64_MIN + 1);
    assert_true(parse("00000000000000000000009223372036854775807", &v));
    assert_true(v == INT64_MAX);

    /* Overflow, by one and by a lot; *out is left alone on failure. */
    v = 77;
    assert_false(parse("9223372036854775808", &v));
    assert_false(parse("-9223372036854775809", &v));
    assert_false(parse("9223372036854775810", &v));
    assert_false(parse("18446744073709551615", &v));
    assert_false(parse("18446744073709551616", &v));
    assert_false(parse("99999999999999999999999999", &v));
    assert_false(parse("-99999999999999999999999999", &v));
    assert_int_equal(v, 77);

    /* Nothing but an optional sign and digits. */
    static const char *const bad[] = {"",   "-",  "+",    "+-1", "--1", " 1",
                                      "1 ", "1a", "0x10", "1.0", "1e3", "١"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        if (parse(bad[i], &v))
            fail_msg("\"%s\" parsed", bad[i]);
    assert_false(str_to_int64(STR_NULL, &v));

    /* The view's length counts, not a NUL. */
    assert_true(str_to_int64((struct str){"123456", 3}, &v));
    assert_int_equal(v, 123);
    assert_false(str_to_int64((struct str){"12\0"
                                           "3",
                                           4},
                              &v));
}

static void test_ct_eq(void **state)
{
    (void)state;
    assert_true(str_ct_eq("abc", 3, "abc", 3));
    assert_false(str_ct_eq("abc", 3, "abd", 3));
    assert_false(str_ct_eq("xbc", 3, "abc", 3));
    assert_false(str_ct_eq("abc", 3, "abcd", 4));
    assert_false(str_ct_eq("abcd", 4, "abc", 3));
    assert_true(str_ct_eq("", 0, "", 0));
    assert_true(str_ct_eq(NULL, 0, NULL, 0));
    /* Bytes, not C strings: NULs and high bytes compare like any other. */
    assert_true(str_ct_eq("a\0b", 3, "a\0b", 3));
    assert_false(str_ct_eq("a\0b", 3, "a\0c", 3));
    assert_false(str_ct_eq("\x80", 1, "\x00", 1));
    unsigned char x[64], y[64];
    memset(x, 0x5a, sizeof(x));
    memcpy(y, x, sizeof(y));
    assert_true(str_ct_eq(x, sizeof(x), y, sizeof(y)));
    y[63] ^= 1;
    assert_false(str_ct_eq(x, sizeof(x), y, sizeof(y)));
}

static void assert_trim(const char *in, const char *expected)
{
    struct str t = str_trim(str_from(in));
    assert_int_equal(t.n, strlen(expected));
    assert_memory_equal(t.p, expected, t.n);
}

static void test_trim(void **state)
{
    (void)state;
    assert_trim("abc", "abc");
    assert_trim("  abc  ", "abc");
    assert_trim("\t\r\n abc def \n\r\t", "abc def");
    assert_trim("   ", "");
    assert_trim("", "");
    assert_trim(" a", "a");
    assert_trim("a ", "a");
    assert_int_equal(str_trim(STR_NULL).n, 0);
    /* The view is narrowed, not copied. */
    const char *s = "  x ";
    assert_ptr_equal(str_trim(str_from(s)).p, s + 2);
}

static void test_views(void **state)
{
    (void)state;
    struct arena *a = arena_create();
    assert_int_equal(str_from(NULL).n, 0);
    assert_null(str_from(NULL).p);
    assert_int_equal(str_from("abc").n, 3);

    assert_true(str_eq(STR_LIT("abc"), str_from("abc")));
    assert_false(str_eq(STR_LIT("abc"), STR_LIT("abd")));
    assert_false(str_eq(STR_LIT("abc"), STR_LIT("ab")));
    assert_true(str_eq(STR_NULL, STR_LIT("")));
    assert_true(str_eq_cstr(STR_LIT("abc"), "abc"));
    assert_false(str_eq_cstr(STR_LIT("abc"), NULL));
    assert_false(str_eq_cstr((struct str){"abcdef", 3}, "abcdef"));

    assert_true(str_case_eq(STR_LIT("Content-Type"), STR_LIT("content-TYPE")));
    assert_false(str_case_eq(STR_LIT("abc"), STR_LIT("abd")));
    assert_false(str_case_eq(STR_LIT("abc"), STR_LIT("abcd")));
    assert_false(str_case_eq(STR_LIT("\xc3\xa4"), STR_LIT("\xc3\x84"))); /* ASCII only */

    assert_true(str_starts_with(STR_LIT("Bearer xyz"), STR_LIT("Bearer ")));
    assert_false(str_starts_with(STR_LIT("Bear"), STR_LIT("Bearer ")));
    assert_false(str_starts_with(STR_LIT("bearer xyz"), STR_LIT("Bearer ")));
    assert_true(str_starts_with(STR_LIT("abc"), STR_LIT("")));
    assert_true(str_starts_with(STR_NULL, STR_NULL));

    char *d = str_dup(a, (struct str){"hello world", 5});
    assert_string_equal(d, "hello");
    assert_string_equal(str_dup(a, STR_NULL), "");
    assert_string_equal(str_lower(a, "MiXeD-123_\xc3\x84"), "mixed-123_\xc3\x84");
    arena_destroy(a);
}

static void test_buf_heap_growth(void **state)
{
    (void)state;
    struct buf b;
    buf_init(&b);
    assert_int_equal(b.n, 0);
    assert_string_equal(buf_cstr(&b), ""); /* usable before any append */
    for (int i = 0; i < 10000; i++)
        buf_append_char(&b, (char)('a' + i % 26));
    assert_int_equal(b.n, 10000);
    assert_true(b.cap > b.n);
    for (int i = 0; i < 10000; i++)
        assert_int_equal(b.p[i], 'a' + i % 26);
    assert_int_equal(strlen(buf_cstr(&b)), 10000);
    buf_free(&b);
    assert_null(b.p);
    assert_int_equal(b.n, 0);

    buf_init(&b);
    buf_append(&b, "ab\0cd", 5); /* bytes, NUL included */
    buf_append(&b, NULL, 0);
    buf_append_str(&b, "ef");
    assert_int_equal(b.n, 7);
    assert_memory_equal(b.p, "ab\0cdef", 7);
    buf_free(&b);
}

static void test_buf_printf(void **state)
{
    (void)state;
    struct buf b;
    buf_init(&b);
    buf_printf(&b, "%d:%s", 42, "x");
    buf_printf(&b, "%s", ""); /* nothing to add */
    buf_printf(&b, "|%05.1f|", 3.14159);
    assert_string_equal(buf_cstr(&b), "42:x|003.1|");
    /* Output longer than the current capacity, repeatedly. */
    for (int i = 0; i < 50; i++)
        buf_printf(&b, "%300d", i);
    assert_int_equal(b.n, 11 + 50 * 300);
    assert_int_equal(b.p[11 + 299], '0');
    assert_int_equal(b.p[11 + 50 * 300 - 1], '9');
    assert_int_equal(b.p[11 + 50 * 300 - 2], '4');
    assert_int_equal(b.p[11 + 49 * 300 - 1], '8');
    assert_int_equal(strlen(buf_cstr(&b)), b.n);
    buf_free(&b);
}

static void test_buf_arena(void **state)
{
    (void)state;
    struct arena *a = arena_create();
    struct buf b;
    buf_init_arena(&b, a);
    for (int i = 0; i < 5000; i++)
        buf_printf(&b, "%d,", i % 10);
    assert_int_equal(b.n, 10000);
    for (int i = 0; i < 5000; i++) {
        assert_int_equal(b.p[2 * i], '0' + i % 10);
        assert_int_equal(b.p[2 * i + 1], ',');
    }
    assert_int_equal(strlen(buf_cstr(&b)), 10000);
    buf_free(&b); /* arena-owned: forgets, frees nothing */
    assert_null(b.p);
    arena_destroy(a);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_to_int64),
        cmocka_unit_test(test_ct_eq),
        cmocka_unit_test(test_trim),
        cmocka_unit_test(test_views),
        cmocka_unit_test(test_buf_heap_growth),
        cmocka_unit_test(test_buf_printf),
        cmocka_unit_test(test_buf_arena),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
