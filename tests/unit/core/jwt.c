/*
 * tests/unit/core/jwt.c - src/core/jwt.c through its public API: round trip,
 * a PyJWT-computed vector byte for byte, every refusal (alg, signature,
 * structure, claims, exp, type) and the issue time carried in the jti.
 * Hostile tokens are signed here with OpenSSL directly, so each test reaches
 * the check it is about instead of stopping at an earlier one.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>

#include "core/jwt.h"
#include "util/arena.h"
#include "util/b64.h"

#define KEY "test-secret-key-0123456789"
#define NOW 1700000100 /* seconds; the vector's iat + 100 */
#define GOOD_HEADER "{\"alg\":\"HS256\",\"typ\":\"JWT\"}"

/* Computed once with Python's hmac/hashlib/base64/json (compact separators,
 * as PyJWT and simplejwt write it) for the claims of vector_claims(). */
static const char vector[] =
    "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9."
    "eyJ0b2tlbl90eXBlIjoiYWNjZXNzIiwiZXhwIjo0MTAyNDQ0ODAwLCJpYXQiOjE3MDAwMDAwMDAsImp0aSI6IjAxMjM0"
    "NTY3ODlhYmNkZWYwMTIzNDU2Nzg5YWJjZGVmIiwidXNlcl9pZCI6N30."
    "qTx5wJOsqX2X0M7cHIBjvP3MHo8kBpVA_lQX_c_Mu60";

static struct arena *arena;

static int setup(void **state)
{
    (void)state;
    arena = arena_create();
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    arena_destroy(arena);
    return 0;
}

static struct jwt_claims vector_claims(void)
{
    struct jwt_claims c;
    memset(&c, 0, sizeof(c));
    c.type = JWT_ACCESS;
    c.exp = 4102444800;
    c.iat = 1700000000;
    strcpy(c.jti, "0123456789abcdef0123456789abcdef");
    c.user_id = 7;
    c.issued_us = c.iat * 1000000;
    return c;
}

/* b64url(header).b64url(payload).b64url(HMAC-SHA256 under key). */
static char *sign_raw(const char *key, const char *header, const char *payload)
{
    char *signing_input =
        arena_sprintf(arena, "%s.%s", b64url_encode(arena, header, strlen(header)),
                      b64url_encode(arena, payload, strlen(payload)));
    unsigned char mac[32];
    unsigned int mac_len = 0;
    assert_non_null(HMAC(EVP_sha256(), key, (int)strlen(key), (unsigned char *)signing_input,
                         strlen(signing_input), mac, &mac_len));
    assert_int_equal(mac_len, 32);
    return arena_sprintf(arena, "%s.%s", signing_input, b64url_encode(arena, mac, mac_len));
}

static char *sign_payload(const char *payload)
{
    return sign_raw(KEY, GOOD_HEADER, payload);
}

static enum jwt_result decode(const char *token, enum jwt_type expected, int64_t now,
                              struct jwt_claims *claims)
{
    return jwt_decode(arena, STR_LIT(KEY), str_from(token), expected, now, claims);
}

static enum jwt_result decode_access(const char *token)
{
    struct jwt_claims c;
    return decode(token, JWT_ACCESS, NOW, &c);
}

static void assert_claims_equal(const struct jwt_claims *a, const struct jwt_claims *b)
{
    assert_int_equal(a->type, b->type);
    assert_int_equal(a->user_id, b->user_id);
    assert_int_equal(a->iat, b->iat);
    assert_int_equal(a->exp, b->exp);
    assert_string_equal(a->jti, b->jti);
    assert_int_equal(a->issued_us, b->issued_us);
}

static void test_type_names(void **state)
{
    (void)state;
    assert_string_equal(jwt_type_name(JWT_ACCESS), "access");
    assert_string_equal(jwt_type_name(JWT_REFRESH), "refresh");
}

static void test_new_claims(void **state)
{
    (void)state;
    int64_t now_us = INT64_C(1700000000123456);
    struct jwt_claims c;
    jwt_new_claims(&c, JWT_REFRESH, 42, now_us, 86400);
    assert_int_equal(c.type, JWT_REFRESH);
    assert_int_equal(c.user_id, 42);
    assert_int_equal(c.iat, 1700000000);
    assert_int_equal(c.exp, 1700000000 + 86400);
    assert_int_equal(c.issued_us, now_us);
    assert_int_equal(strlen(c.jti), 32);
    for (int i = 0; i < 32; i++)
        assert_non_null(strchr("0123456789abcdef", c.jti[i]));
    /* 14 hex digits of the issue time in microseconds. */
    assert_memory_equal(c.jti, "060a2418202240", 14);

    struct jwt_claims d;
    jwt_new_claims(&d, JWT_REFRESH, 42, now_us, 86400);
    assert_memory_equal(c.jti, d.jti, 14);
    assert_string_not_equal(c.jti + 14, d.jti + 14); /* 72 random bits */
}

static void test_round_trip(void **state)
{
    (void)state;
    int64_t now_us = INT64_C(1700000000999999);
    struct jwt_claims c, out;
    jwt_new_claims(&c, JWT_ACCESS, 1234567, now_us, 300);
    char *token = jwt_encode(arena, STR_LIT(KEY), &c);
    assert_int_equal(decode(token, JWT_ACCESS, 1700000000, &out), JWT_OK);
    assert_claims_equal(&out, &c);
    assert_int_equal(out.issued_us, now_us); /* from the jti, not iat */

    jwt_new_claims(&c, JWT_REFRESH, 9, now_us, 86400);
    token = jwt_encode(arena, STR_LIT(KEY), &c);
    assert_int_equal(decode(token, JWT_REFRESH, 1700000000, &out), JWT_OK);
    assert_claims_equal(&out, &c);
}

static void test_known_vector(void **state)
{
    (void)state;
    struct jwt_claims expected = vector_claims(), out;
    assert_int_equal(decode(vector, JWT_ACCESS, NOW, &out), JWT_OK);
    /* "0123456789abcd" is not within iat's second: issued_us falls back. */
    assert_claims_equal(&out, &expected);
    assert_string_equal(jwt_encode(arena, STR_LIT(KEY), &expected), vector);
}

static void test_padding_accepted(void **state)
{
    (void)state;
    /* 82 bytes: "==" of padding. Signed as written, padding included. */
    const char *payload = "{\"token_type\":\"access\",\"exp\":4102444800,\"iat\":1700000000,"
                          "\"jti\":\"abcd\",\"user_id\":7}";
    size_t n = strlen(payload);
    assert_int_not_equal(n % 3, 0);
    char *p64 = b64_encode(arena, payload, n); /* standard, padded */
    for (char *q = p64; *q; q++)
        assert_true(*q != '+' && *q != '/'); /* same text in both alphabets */
    char *input =
        arena_sprintf(arena, "%s.%s", b64url_encode(arena, GOOD_HEADER, strlen(GOOD_HEADER)), p64);
    assert_non_null(strchr(input, '='));
    unsigned char mac[32];
    unsigned int mac_len;
    HMAC(EVP_sha256(), KEY, (int)strlen(KEY), (unsigned char *)input, strlen(input), mac, &mac_len);
    char *token = arena_sprintf(arena, "%s.%s=", input, b64url_encode(arena, mac, 32));
    assert_int_equal(decode_access(token), JWT_OK);
}

static void test_bad_signature(void **state)
{
    (void)state;
    /* Payload swapped for one with user_id 8, signature kept. */
    char *forged = sign_payload("{\"token_type\":\"access\",\"exp\":4102444800,\"iat\":1700000000,"
                                "\"jti\":\"0123456789abcdef0123456789abcdef\",\"user_id\":8}");
    const char *vsig = strrchr(vector, '.');
    char *tampered =
        arena_sprintf(arena, "%.*s%s", (int)(strrchr(forged, '.') - forged), forged, vsig);
    struct jwt_claims c;
    assert_int_equal(decode(tampered, JWT_ACCESS, NOW, &c), JWT_BAD_SIGNATURE);
    assert_int_equal(c.user_id, 0); /* nothing trusted from a forged token */

    /* One payload character changed in place. */
    char *flipped = arena_strdup(arena, vector);
    char *p = strchr(flipped, '.') + 10;
    *p = *p == 'A' ? 'B' : 'A';
    assert_int_equal(decode_access(flipped), JWT_BAD_SIGNATURE);

    /* Last signature character changed (keeping the trailing bits zero). */
    char *sig = arena_strdup(arena, vector);
    sig[strlen(sig) - 1] = sig[strlen(sig) - 1] == '0' ? '4' : '0';
    assert_int_equal(decode_access(sig), JWT_BAD_SIGNATURE);

    /* Another key. */
    assert_int_equal(
        jwt_decode(arena, STR_LIT("another-key"), str_from(vector), JWT_ACCESS, NOW, &c),
        JWT_BAD_SIGNATURE);

    /* Signature truncated to 31 bytes, and empty. */
    char *head = arena_strndup(arena, vector, (size_t)(vsig - vector));
    unsigned char raw[32];
    size_t raw_n;
    assert_true(b64_decode_into(raw, &raw_n, vsig + 1, strlen(vsig + 1), true));
    assert_int_equal(raw_n, 32);
    assert_int_equal(
        decode_access(arena_sprintf(arena, "%s.%s", head, b64url_encode(arena, raw, 31))),
        JWT_BAD_SIGNATURE);
    assert_int_equal(decode_access(arena_sprintf(arena, "%s.", head)), JWT_BAD_SIGNATURE);
}

static void test_bad_alg(void **state)
{
    (void)state;
    const char *payload = "{\"token_type\":\"access\",\"exp\":4102444800,\"iat\":1700000000,"
                          "\"jti\":\"abc\",\"user_id\":7}";
    /* alg none, empty signature: the classic downgrade. */
    char *none = arena_sprintf(arena, "%s.%s.",
                               b64url_encode(arena, "{\"alg\":\"none\",\"typ\":\"JWT\"}", 26),
                               b64url_encode(arena, payload, strlen(payload)));
    assert_int_equal(decode_access(none), JWT_BAD_ALG);
    /* Correctly HS256-signed, but the header claims something else. */
    assert_int_equal(decode_access(sign_raw(KEY, "{\"alg\":\"HS512\",\"typ\":\"JWT\"}", payload)),
                     JWT_BAD_ALG);
    assert_int_equal(decode_access(sign_raw(KEY, "{\"alg\":\"none\"}", payload)), JWT_BAD_ALG);
    assert_int_equal(decode_access(sign_raw(KEY, "{\"typ\":\"JWT\"}", payload)), JWT_BAD_ALG);
    assert_int_equal(decode_access(sign_raw(KEY, "{\"alg\":null}", payload)), JWT_BAD_ALG);
    assert_int_equal(decode_access(sign_raw(KEY, "{\"alg\":[\"HS256\"]}", payload)), JWT_BAD_ALG);
    assert_int_equal(decode_access(sign_raw(KEY, "{\"alg\":\"hs256\"}", payload)), JWT_BAD_ALG);
    assert_int_equal(decode_access(sign_raw(KEY, "{\"alg\":\"HS256\\u0000\"}", payload)),
                     JWT_BAD_ALG);
    /* Header without typ is fine (PyJWT does not require it). */
    assert_int_equal(decode_access(sign_raw(KEY, "{\"alg\":\"HS256\"}", payload)), JWT_OK);
    /* alg is checked before the signature. */
    char *bad_both =
        arena_sprintf(arena, "%s.%s.%s", b64url_encode(arena, "{\"alg\":\"HS512\"}", 15),
                      b64url_encode(arena, payload, strlen(payload)),
                      b64url_encode(arena, "0123456789abcdef0123456789abcdef", 32));
    assert_int_equal(decode_access(bad_both), JWT_BAD_ALG);
}

static void test_expired(void **state)
{
    (void)state;
    struct jwt_claims c, out;
    jwt_new_claims(&c, JWT_ACCESS, 5, INT64_C(1700000000000000), 300);
    char *token = jwt_encode(arena, STR_LIT(KEY), &c);
    assert_int_equal(decode(token, JWT_ACCESS, 1700000299, &out), JWT_OK);
    assert_int_equal(decode(token, JWT_ACCESS, 1700000300, &out), JWT_EXPIRED); /* exp <= now */
    assert_claims_equal(&out, &c);
    assert_int_equal(decode(token, JWT_ACCESS, 1800000000, &out), JWT_EXPIRED);
    /* Expiry is reported before the type. */
    assert_int_equal(decode(token, JWT_REFRESH, 1800000000, &out), JWT_EXPIRED);
    assert_claims_equal(&out, &c);
}

static void test_wrong_type(void **state)
{
    (void)state;
    struct jwt_claims c, out;
    jwt_new_claims(&c, JWT_REFRESH, 5, INT64_C(1700000000000000), 300);
    char *token = jwt_encode(arena, STR_LIT(KEY), &c);
    assert_int_equal(decode(token, JWT_ACCESS, 1700000000, &out), JWT_WRONG_TYPE);
    assert_claims_equal(&out, &c);
    assert_int_equal(decode(vector, JWT_REFRESH, NOW, &out), JWT_WRONG_TYPE);
    assert_int_equal(out.type, JWT_ACCESS);
    /* Any other token_type is "wrong type" for both, as simplejwt says. */
    char *sliding = sign_payload("{\"token_type\":\"sliding\",\"exp\":4102444800,"
                                 "\"iat\":1700000000,\"jti\":\"abc\",\"user_id\":7}");
    assert_int_equal(decode(sliding, JWT_ACCESS, NOW, &out), JWT_WRONG_TYPE);
    assert_int_equal(out.type, JWT_REFRESH);
    assert_int_equal(out.user_id, 7);
    assert_int_equal(decode(sliding, JWT_REFRESH, NOW, &out), JWT_WRONG_TYPE);
    assert_int_equal(out.type, JWT_ACCESS);
}

static void test_malformed_structure(void **state)
{
    (void)state;
    const char *vsig = strrchr(vector, '.');
    char *two = arena_strndup(arena, vector, (size_t)(vsig - vector));
    assert_int_equal(decode_access(two), JWT_MALFORMED);
    assert_int_equal(decode_access(arena_sprintf(arena, "%s.", vector)), JWT_MALFORMED);
    assert_int_equal(decode_access(arena_sprintf(arena, "%s.%s", vector, "e30")), JWT_MALFORMED);
    assert_int_equal(decode_access(""), JWT_MALFORMED);
    assert_int_equal(decode_access("."), JWT_MALFORMED);
    assert_int_equal(decode_access(".."), JWT_MALFORMED);
    assert_int_equal(decode_access("abc"), JWT_MALFORMED);
    struct jwt_claims c;
    assert_int_equal(jwt_decode(arena, STR_LIT(KEY), STR_NULL, JWT_ACCESS, NOW, &c), JWT_MALFORMED);

    /* Garbage base64 in each part. */
    const char *dot1 = strchr(vector, '.');
    int hn = (int)(dot1 - vector);
    int pn = (int)(vsig - dot1 - 1);
    assert_int_equal(decode_access(arena_sprintf(arena, "ey!J.%.*s%s", pn, dot1 + 1, vsig)),
                     JWT_MALFORMED);
    assert_int_equal(decode_access(arena_sprintf(arena, "%.*s.e$30%s", hn, vector, vsig)),
                     JWT_MALFORMED);
    assert_int_equal(decode_access(arena_sprintf(arena, "%.*s.%.*s.***", hn, vector, pn, dot1 + 1)),
                     JWT_MALFORMED);
    /* Standard-alphabet characters are not base64url. */
    assert_int_equal(
        decode_access(arena_sprintf(arena, "%.*s.%.*s.ab+/", hn, vector, pn, dot1 + 1)),
        JWT_MALFORMED);
    /* Impossible length (4n + 1 characters). */
    assert_int_equal(decode_access(arena_sprintf(arena, "%.*s.eyJhY%s", hn, vector, vsig)),
                     JWT_MALFORMED);

    /* A token a NUL would cut short: the bytes after it count. */
    char with_nul[sizeof(vector) + 4];
    memcpy(with_nul, vector, sizeof(vector));
    memcpy(with_nul + sizeof(vector) - 1, "\0.x", 3);
    assert_int_equal(jwt_decode(arena, STR_LIT(KEY), (struct str){with_nul, sizeof(vector) + 2},
                                JWT_ACCESS, NOW, &c),
                     JWT_MALFORMED);
}

static void test_malformed_json(void **state)
{
    (void)state;
    const char *payload = "{\"token_type\":\"access\",\"exp\":4102444800,\"iat\":1700000000,"
                          "\"jti\":\"abc\",\"user_id\":7}";
    /* Header that is not a JSON object. */
    assert_int_equal(decode_access(sign_raw(KEY, "[\"HS256\"]", payload)), JWT_MALFORMED);
    assert_int_equal(decode_access(sign_raw(KEY, "\"HS256\"", payload)), JWT_MALFORMED);
    assert_int_equal(decode_access(sign_raw(KEY, "{\"alg\":\"HS256\"", payload)), JWT_MALFORMED);
    assert_int_equal(decode_access(sign_raw(KEY, "", payload)), JWT_MALFORMED);
    assert_int_equal(decode_access(sign_raw(KEY, "{\"alg\":\"HS256\"} x", payload)), JWT_MALFORMED);

    /* Correctly signed payloads that are not an object of claims. */
    static const char *const bad[] = {
        "[1,2,3]",
        "42",
        "\"access\"",
        "null",
        "",
        "{\"token_type\":\"access\",\"exp\":4102444800,\"iat\":1700000000,\"jti\":\"abc\",\"user_"
        "id\":7",
        "{\"token_type\":\"access\",\"exp\":4102444800,\"iat\":1700000000,\"jti\":\"abc\",\"user_"
        "id\":7}x",
        "{\"token_type\":\"access\",\"exp\":4102444800,\"iat\":1700000000,\"jti\":\"abc\",\"user_"
        "id\":7,}",
        /* missing claims */
        "{\"exp\":4102444800,\"iat\":1700000000,\"jti\":\"abc\",\"user_id\":7}",
        "{\"token_type\":\"access\",\"iat\":1700000000,\"jti\":\"abc\",\"user_id\":7}",
        "{\"token_type\":\"access\",\"exp\":4102444800,\"jti\":\"abc\",\"user_id\":7}",
        "{\"token_type\":\"access\",\"exp\":4102444800,\"iat\":1700000000,\"user_id\":7}",
        "{\"token_type\":\"access\",\"exp\":4102444800,\"iat\":1700000000,\"jti\":\"abc\"}",
        /* ill-typed claims */
        "{\"token_type\":1,\"exp\":4102444800,\"iat\":1700000000,\"jti\":\"abc\",\"user_id\":7}",
        "{\"token_type\":\"access\",\"exp\":\"4102444800\",\"iat\":1700000000,\"jti\":\"abc\","
        "\"user_id\":7}",
        "{\"token_type\":\"access\",\"exp\":true,\"iat\":1700000000,\"jti\":\"abc\",\"user_id\":7}",
        "{\"token_type\":\"access\",\"exp\":4102444800,\"iat\":null,\"jti\":\"abc\",\"user_id\":7}",
        "{\"token_type\":\"access\",\"exp\":4102444800,\"iat\":-1,\"jti\":\"abc\",\"user_id\":7}",
        "{\"token_type\":\"access\",\"exp\":1e300,\"iat\":1700000000,\"jti\":\"abc\",\"user_id\":"
        "7}",
        "{\"token_type\":\"access\",\"exp\":4102444800,\"iat\":1700000000,\"jti\":7,\"user_id\":7}",
        "{\"token_type\":\"access\",\"exp\":4102444800,\"iat\":1700000000,\"jti\":\"\",\"user_id\":"
        "7}",
        "{\"token_type\":\"access\",\"exp\":4102444800,\"iat\":1700000000,"
        "\"jti\":\"0123456789abcdef0123456789abcdef0\",\"user_id\":7}",
        "{\"token_type\":\"access\",\"exp\":4102444800,\"iat\":1700000000,\"jti\":\"a\\u0000b\","
        "\"user_id\":7}",
        "{\"token_type\":\"access\",\"exp\":4102444800,\"iat\":1700000000,\"jti\":\"abc\",\"user_"
        "id\":\"7a\"}",
        "{\"token_type\":\"access\",\"exp\":4102444800,\"iat\":1700000000,\"jti\":\"abc\",\"user_"
        "id\":\"\"}",
        "{\"token_type\":\"access\",\"exp\":4102444800,\"iat\":1700000000,\"jti\":\"abc\",\"user_"
        "id\":\"-7\"}",
        "{\"token_type\":\"access\",\"exp\":4102444800,\"iat\":1700000000,\"jti\":\"abc\","
        "\"user_id\":\"99999999999999999999\"}",
        "{\"token_type\":\"access\",\"exp\":4102444800,\"iat\":1700000000,\"jti\":\"abc\",\"user_"
        "id\":7.5}",
        "{\"token_type\":\"access\",\"exp\":4102444800,\"iat\":1700000000,\"jti\":\"abc\",\"user_"
        "id\":false}",
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        struct jwt_claims c;
        enum jwt_result r = decode(sign_payload(bad[i]), JWT_ACCESS, NOW, &c);
        if (r != JWT_MALFORMED)
            fail_msg("payload %s: result %d, expected JWT_MALFORMED", bad[i], (int)r);
        assert_int_equal(c.user_id, 0);
        assert_string_equal(c.jti, "");
    }
}

static void test_lenient_claims(void **state)
{
    (void)state;
    struct jwt_claims c;
    /* user_id as a string of digits (string primary keys). */
    char *t = sign_payload("{\"token_type\":\"access\",\"exp\":4102444800,\"iat\":1700000000,"
                           "\"jti\":\"abc\",\"user_id\":\"7\"}");
    assert_int_equal(decode(t, JWT_ACCESS, NOW, &c), JWT_OK);
    assert_int_equal(c.user_id, 7);
    assert_string_equal(c.jti, "abc");

    /* Float exp / iat truncate; claim order and extra claims do not matter;
     * white space around the JSON is allowed. */
    t = sign_payload(
        " {\"user_id\":12,\"extra\":{\"a\":[1]},\"jti\":\"e7a0c2c2c1f84d6a9f3f1d4ec2b5b1a0\","
        "\"iat\":1700000000.9,\"exp\":4102444800.5,\"token_type\":\"refresh\"}\n");
    assert_int_equal(decode(t, JWT_REFRESH, NOW, &c), JWT_OK);
    assert_int_equal(c.type, JWT_REFRESH);
    assert_int_equal(c.user_id, 12);
    assert_int_equal(c.iat, 1700000000);
    assert_int_equal(c.exp, 4102444800);
    assert_int_equal(c.issued_us, INT64_C(1700000000000000));
}

static int64_t issued_us_of(const char *jti, int64_t iat)
{
    char *payload = arena_sprintf(arena,
                                  "{\"token_type\":\"access\",\"exp\":4102444800,\"iat\":%lld,"
                                  "\"jti\":\"%s\",\"user_id\":7}",
                                  (long long)iat, jti);
    struct jwt_claims c;
    assert_int_equal(decode(sign_payload(payload), JWT_ACCESS, NOW, &c), JWT_OK);
    return c.issued_us;
}

static void test_jti_issue_time(void **state)
{
    (void)state;
    /* 1700000000000000 us = 0x060a24181e4000; the second ends at 0x060a24182d823f. */
    assert_int_equal(issued_us_of("060a24181e4000000000000000000000", 1700000000),
                     INT64_C(1700000000000000));
    assert_int_equal(issued_us_of("060a24181e4001abcdef0123456789ab", 1700000000),
                     INT64_C(1700000000000001));
    assert_int_equal(issued_us_of("060a24182d823fffffffffffffffffff", 1700000000),
                     INT64_C(1700000000999999));
    /* Exactly one second later: outside iat's second, inside the next one. */
    assert_int_equal(issued_us_of("060a24182d8240000000000000000000", 1700000000),
                     INT64_C(1700000000000000));
    assert_int_equal(issued_us_of("060a24182d8240000000000000000000", 1700000001),
                     INT64_C(1700000001000000));
    /* One microsecond before iat. */
    assert_int_equal(issued_us_of("060a24181e3fff000000000000000000", 1700000000),
                     INT64_C(1700000000000000));
    /* Upper-case hex, wrong length, a uuid4 from another issuer: iat. */
    assert_int_equal(issued_us_of("060A24181E4001000000000000000000", 1700000000),
                     INT64_C(1700000000000000));
    assert_int_equal(issued_us_of("060a24181e400100000000000000000", 1700000000),
                     INT64_C(1700000000000000));
    assert_int_equal(issued_us_of("060a24181e4001", 1700000000), INT64_C(1700000000000000));
    assert_int_equal(issued_us_of("9f1c2b6e4d2a4c0bb0e7c6a5d4f3e2a1", 1700000000),
                     INT64_C(1700000000000000));
    assert_int_equal(issued_us_of("060a24181e4001zz0000000000000000", 1700000000),
                     INT64_C(1700000000000000));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_type_names),
        cmocka_unit_test(test_new_claims),
        cmocka_unit_test_setup_teardown(test_round_trip, setup, teardown),
        cmocka_unit_test_setup_teardown(test_known_vector, setup, teardown),
        cmocka_unit_test_setup_teardown(test_padding_accepted, setup, teardown),
        cmocka_unit_test_setup_teardown(test_bad_signature, setup, teardown),
        cmocka_unit_test_setup_teardown(test_bad_alg, setup, teardown),
        cmocka_unit_test_setup_teardown(test_expired, setup, teardown),
        cmocka_unit_test_setup_teardown(test_wrong_type, setup, teardown),
        cmocka_unit_test_setup_teardown(test_malformed_structure, setup, teardown),
        cmocka_unit_test_setup_teardown(test_malformed_json, setup, teardown),
        cmocka_unit_test_setup_teardown(test_lenient_claims, setup, teardown),
        cmocka_unit_test_setup_teardown(test_jti_issue_time, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
