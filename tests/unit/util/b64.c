/*
 * tests/unit/util/b64.c - src/util/b64.c: the RFC 4648 section 10 vectors in
 * both alphabets (base64url unpadded), round trips of every length, and the
 * decoder's refusals: characters outside the alphabet, impossible lengths,
 * misplaced padding and non-zero trailing bits.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "util/arena.h"
#include "util/b64.h"

static const struct {
    const char *raw, *std, *url;
} rfc4648[] = {
    {"", "", ""},
    {"f", "Zg==", "Zg"},
    {"fo", "Zm8=", "Zm8"},
    {"foo", "Zm9v", "Zm9v"},
    {"foob", "Zm9vYg==", "Zm9vYg"},
    {"fooba", "Zm9vYmE=", "Zm9vYmE"},
    {"foobar", "Zm9vYmFy", "Zm9vYmFy"},
};

#define N_VECTORS (sizeof(rfc4648) / sizeof(rfc4648[0]))

static void test_encode_vectors(void **state)
{
    (void)state;
    struct arena *a = arena_create();
    for (size_t i = 0; i < N_VECTORS; i++) {
        size_t n = strlen(rfc4648[i].raw);
        assert_string_equal(b64_encode(a, rfc4648[i].raw, n), rfc4648[i].std);
        assert_string_equal(b64url_encode(a, rfc4648[i].raw, n), rfc4648[i].url);
        assert_int_equal(b64_encoded_len(n, false), strlen(rfc4648[i].std));
        assert_int_equal(b64_encoded_len(n, true), strlen(rfc4648[i].url));
        char out[16];
        assert_int_equal(b64_encode_into(out, rfc4648[i].raw, n, true), strlen(rfc4648[i].url));
        assert_string_equal(out, rfc4648[i].url);
    }
    arena_destroy(a);
}

static void test_alphabets_differ(void **state)
{
    (void)state;
    struct arena *a = arena_create();
    static const unsigned char hi[] = {0xfb, 0xef, 0xbe, 0xff, 0xff, 0xff, 0xfb, 0xff};
    assert_string_equal(b64_encode(a, hi, sizeof(hi)), "++++////+/8=");
    assert_string_equal(b64url_encode(a, hi, sizeof(hi)), "----____-_8");
    unsigned char *out;
    size_t n;
    assert_true(b64_decode(a, "++++////+/8=", 12, &out, &n));
    assert_int_equal(n, sizeof(hi));
    assert_memory_equal(out, hi, sizeof(hi));
    assert_true(b64url_decode(a, "----____-_8", 11, &out, &n));
    assert_int_equal(n, sizeof(hi));
    assert_memory_equal(out, hi, sizeof(hi));
    /* Each alphabet refuses the other's two characters. */
    assert_false(b64_decode(a, "----", 4, &out, &n));
    assert_false(b64_decode(a, "____", 4, &out, &n));
    assert_false(b64url_decode(a, "++++", 4, &out, &n));
    assert_false(b64url_decode(a, "////", 4, &out, &n));
    arena_destroy(a);
}

static void test_decode_vectors(void **state)
{
    (void)state;
    struct arena *a = arena_create();
    for (size_t i = 0; i < N_VECTORS; i++) {
        unsigned char *out;
        size_t n = 99;
        const char *raw = rfc4648[i].raw;
        assert_true(b64_decode(a, rfc4648[i].std, strlen(rfc4648[i].std), &out, &n));
        assert_int_equal(n, strlen(raw));
        assert_memory_equal(out, raw, n);
        assert_int_equal(out[n], '\0'); /* arena decoders NUL-terminate */
        assert_true(b64url_decode(a, rfc4648[i].url, strlen(rfc4648[i].url), &out, &n));
        assert_int_equal(n, strlen(raw));
        assert_memory_equal(out, raw, n);
        /* base64url accepts the padded spelling too. */
        assert_true(b64url_decode(a, rfc4648[i].std, strlen(rfc4648[i].std), &out, &n));
        assert_int_equal(n, strlen(raw));
        assert_memory_equal(out, raw, n);
    }
    arena_destroy(a);
}

static void test_round_trip_every_length(void **state)
{
    (void)state;
    struct arena *a = arena_create();
    unsigned char data[100];
    for (size_t i = 0; i < sizeof(data); i++)
        data[i] = (unsigned char)(i * 151 + 7);
    for (size_t n = 0; n <= sizeof(data); n++) {
        for (int url = 0; url <= 1; url++) {
            char *enc = url ? b64url_encode(a, data, n) : b64_encode(a, data, n);
            assert_int_equal(strlen(enc), b64_encoded_len(n, url));
            unsigned char out[100 + 3];
            size_t out_n = 0;
            assert_true(b64_decode_into(out, &out_n, enc, strlen(enc), url));
            assert_int_equal(out_n, n);
            assert_memory_equal(out, data, n);
        }
    }
    arena_destroy(a);
}

static bool std_ok(const char *s)
{
    unsigned char out[64];
    size_t n;
    return b64_decode_into(out, &n, s, strlen(s), false);
}

static bool url_ok(const char *s)
{
    unsigned char out[64];
    size_t n;
    return b64_decode_into(out, &n, s, strlen(s), true);
}

static void test_decode_rejects(void **state)
{
    (void)state;
    /* Characters outside the alphabet, anywhere. */
    static const char *const bad_chars[] = {
        "Zm9v!", "!m9v", "Zm 9", "Zm9\n", "Zm.v", "Zm9v\x80",
    };
    for (size_t i = 0; i < sizeof(bad_chars) / sizeof(bad_chars[0]); i++) {
        assert_false(std_ok(bad_chars[i]));
        assert_false(url_ok(bad_chars[i]));
    }
    /* The NUL is a character too when the length says so. */
    unsigned char out[8];
    size_t n;
    assert_false(b64_decode_into(out, &n, "Zm\0v", 4, false));
    assert_false(b64_decode_into(out, &n, "Zm\0v", 4, true));

    /* Impossible lengths: 4k + 1 characters never encode anything. */
    assert_false(std_ok("Z"));
    assert_false(url_ok("Z"));
    assert_false(url_ok("Zm9vY"));
    assert_false(std_ok("Zm9vY"));
    assert_false(url_ok("Zm9vY="));
    assert_false(url_ok("Z==="));

    /* The standard alphabet requires padding that completes the quad. */
    assert_false(std_ok("Zg"));
    assert_false(std_ok("Zm8"));
    assert_false(std_ok("Zg="));
    assert_false(std_ok("Zm8=="));
    assert_false(std_ok("Zm9v="));
    assert_false(std_ok("Zm9v=="));
    assert_false(std_ok("Zg==="));
    assert_false(std_ok("="));
    assert_false(std_ok("=="));
    /* Padding only at the end. */
    assert_false(std_ok("Zg==Zg=="));
    assert_false(url_ok("Zg==Zg"));
    assert_false(std_ok("Z=g="));
    /* Lenient base64url padding, as PyJWT pads before decoding. */
    assert_true(url_ok("Zg="));
    assert_true(url_ok("Zg=="));
    assert_true(url_ok("Zm8="));

    /* Non-zero trailing bits: "Zh==" would also decode to "f". */
    assert_false(std_ok("Zh=="));
    assert_false(url_ok("Zh"));
    assert_false(std_ok("Zm9="));
    assert_false(url_ok("Zm9"));
    assert_false(url_ok("Zm9vYh"));
    assert_true(std_ok("Zg=="));
    assert_true(url_ok("Zm8"));

    assert_true(std_ok(""));
    assert_true(url_ok(""));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_encode_vectors), cmocka_unit_test(test_alphabets_differ),
        cmocka_unit_test(test_decode_vectors), cmocka_unit_test(test_round_trip_every_length),
        cmocka_unit_test(test_decode_rejects),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
