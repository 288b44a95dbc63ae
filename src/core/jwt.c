/*
 * jwt.c - HS256 JSON Web Tokens exactly as simplejwt / PyJWT write them (see
 * jwt.h): header {"alg":"HS256","typ":"JWT"}, compact JSON payload with the
 * claims in the order token_type, exp, iat, jti, user_id.
 *
 * Decoding checks structure -> alg -> signature -> claims -> exp -> type, so
 * no claim is looked at before the signature vouches for it. Decoded parts
 * live in the caller's arena; every json-c object is put before returning and
 * the HMAC computed over a presented token is wiped (for a forged payload it
 * is exactly the signature the forger lacks). A failing CSPRNG or HMAC is
 * treated like running out of memory: logged and fatal.
 */
#include "core/jwt.h"

#include <inttypes.h>
#include <limits.h>
#include <pthread.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <json-c/json.h>
#include <openssl/core_names.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/params.h>
#include <openssl/rand.h>

#include "util/arena.h"
#include "util/b64.h"
#include "util/log.h"

#define MAC_LEN 32
#define JTI_TIME_DIGITS 14 /* hex digits of the issue time in microseconds */
#define JTI_RANDOM_BYTES 9 /* 18 hex digits */
#define US_PER_S 1000000

/* PyJWT sorts header keys and writes compact JSON; simplejwt adds nothing. */
static const char header_json[] = "{\"alg\":\"HS256\",\"typ\":\"JWT\"}";
static const char hex_digits[] = "0123456789abcdef";

const char *jwt_type_name(enum jwt_type type)
{
    switch (type) {
    case JWT_REFRESH:
        return "refresh";
    case JWT_VERIFICATION:
        return "verification";
    case JWT_ACCESS:
        break;
    }
    return "access";
}

/* A per-thread HMAC context keyed once: OpenSSL 3's one-shot HMAC() looks
 * the digest up and allocates a context on every call, a fifth of the cost
 * of checking a token. The cached key is compared by value, so a different
 * key (tests, rotation) simply re-keys it. Keys longer than the cache are
 * signed the slow way. */
static EVP_MAC *hmac_alg;
static pthread_once_t hmac_once = PTHREAD_ONCE_INIT;
static pthread_key_t hmac_key; /* the thread's struct hmac_cache, freed at its exit */

struct hmac_cache {
    EVP_MAC_CTX *ctx; /* keyed with key[0..key_n) */
    unsigned char key[256];
    size_t key_n;
};

static void free_hmac_cache(void *p)
{
    struct hmac_cache *c = p;
    EVP_MAC_CTX_free(c->ctx);
    secure_wipe(c, sizeof(*c));
    free(c);
}

static void fetch_hmac(void)
{
    hmac_alg = EVP_MAC_fetch(NULL, "HMAC", NULL);
    if (pthread_key_create(&hmac_key, free_hmac_cache) != 0)
        hmac_alg = NULL; /* no per-thread cache: every token takes the slow path */
}

static bool sign_cached(struct str key, const char *data, size_t n, unsigned char mac[MAC_LEN])
{
    pthread_once(&hmac_once, fetch_hmac);
    if (hmac_alg == NULL || key.n > sizeof(((struct hmac_cache *)0)->key))
        return false;
    struct hmac_cache *c = pthread_getspecific(hmac_key);
    if (c == NULL) {
        c = xcalloc(1, sizeof(*c));
        pthread_setspecific(hmac_key, c);
    }
    if (c->ctx == NULL || c->key_n != key.n || memcmp(c->key, key.p, key.n) != 0) {
        if (c->ctx == NULL)
            c->ctx = EVP_MAC_CTX_new(hmac_alg);
        if (c->ctx == NULL)
            return false;
        OSSL_PARAM params[] = {OSSL_PARAM_construct_utf8_string("digest", "SHA256", 0),
                               OSSL_PARAM_construct_end()};
        if (EVP_MAC_init(c->ctx, (const unsigned char *)(key.n ? key.p : ""), key.n, params) != 1)
            return false;
        memcpy(c->key, key.p, key.n);
        c->key_n = key.n;
    } else if (EVP_MAC_init(c->ctx, NULL, 0, NULL) != 1) { /* same key: just restart */
        return false;
    }
    size_t out_n = 0;
    return EVP_MAC_update(c->ctx, (const unsigned char *)data, n) == 1 &&
           EVP_MAC_final(c->ctx, mac, &out_n, MAC_LEN) == 1 && out_n == MAC_LEN;
}

static void sign(struct str key, const char *data, size_t n, unsigned char mac[MAC_LEN])
{
    if (sign_cached(key, data, n, mac))
        return;
    unsigned int mac_len = 0;
    /* OpenSSL refuses a NULL key even with length 0. */
    const void *k = key.p != NULL ? key.p : "";
    if (key.n > INT_MAX ||
        HMAC(EVP_sha256(), k, (int)key.n, (const unsigned char *)data, n, mac, &mac_len) == NULL ||
        mac_len != MAC_LEN) {
        log_error("jwt: HMAC-SHA256 failed");
        abort();
    }
}

void jwt_new_claims(struct jwt_claims *claims, enum jwt_type type, int64_t user_id, int64_t now_us,
                    int64_t lifetime_seconds)
{
    unsigned char rnd[JTI_RANDOM_BYTES];
    if (RAND_bytes(rnd, sizeof(rnd)) != 1) {
        log_error("jwt: RAND_bytes failed");
        abort();
    }
    memset(claims, 0, sizeof(*claims));
    claims->type = type;
    claims->user_id = user_id;
    claims->issued_us = now_us;
    claims->iat = now_us / US_PER_S;
    claims->exp = claims->iat + lifetime_seconds;
    /* 14 hex digits last until the year 4253; the mask only keeps the jti
     * 32 characters long should a clock ever say otherwise (decoding then
     * falls back to iat). */
    uint64_t t = (uint64_t)now_us & ((UINT64_C(1) << (4 * JTI_TIME_DIGITS)) - 1);
    snprintf(claims->jti, sizeof(claims->jti), "%014" PRIx64, t);
    char *p = claims->jti + JTI_TIME_DIGITS;
    for (size_t i = 0; i < sizeof(rnd); i++) {
        *p++ = hex_digits[rnd[i] >> 4];
        *p++ = hex_digits[rnd[i] & 15];
    }
    *p = '\0';
}

char *jwt_encode(struct arena *a, struct str key, const struct jwt_claims *claims)
{
    struct json_object *payload = json_object_new_object();
    json_object_object_add(payload, "token_type",
                           json_object_new_string(jwt_type_name(claims->type)));
    json_object_object_add(payload, "exp", json_object_new_int64(claims->exp));
    json_object_object_add(payload, "iat", json_object_new_int64(claims->iat));
    json_object_object_add(payload, "jti", json_object_new_string(claims->jti));
    json_object_object_add(payload, "user_id", json_object_new_int64(claims->user_id));
    size_t json_n = 0;
    const char *json = json_object_to_json_string_length(
        payload, JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE, &json_n);
    if (json == NULL) {
        log_error("jwt: json-c could not serialise the payload");
        abort();
    }

    size_t header_n = sizeof(header_json) - 1;
    size_t cap = b64_encoded_len(header_n, true) + 1 + b64_encoded_len(json_n, true) + 1 +
                 b64_encoded_len(MAC_LEN, true) + 1;
    char *token = arena_alloc(a, cap);
    size_t o = b64_encode_into(token, header_json, header_n, true);
    token[o++] = '.';
    o += b64_encode_into(token + o, json, json_n, true);
    json_object_put(payload);

    unsigned char mac[MAC_LEN];
    sign(key, token, o, mac);
    token[o++] = '.';
    b64_encode_into(token + o, mac, MAC_LEN, true);
    secure_wipe(mac, sizeof(mac));
    return token;
}

/* Exactly one JSON object filling buf (white space around it allowed, as in
 * Python's json.loads); NULL for anything else. The caller puts the result. */
static pthread_once_t tokener_once = PTHREAD_ONCE_INIT;
static pthread_key_t tokener_key;

static void free_tokener(void *tok)
{
    json_tokener_free(tok);
}

static void make_tokener_key(void)
{
    pthread_key_create(&tokener_key, free_tokener);
}

static struct json_object *parse_object(const unsigned char *buf, size_t n)
{
    /* json-c would stop at a NUL and call the prefix the whole document. */
    if (n == 0 || n > INT_MAX || memchr(buf, '\0', n) != NULL)
        return NULL;
    /* One tokener per thread, reset between tokens, freed at thread exit. */
    pthread_once(&tokener_once, make_tokener_key);
    struct json_tokener *tok = pthread_getspecific(tokener_key);
    if (tok == NULL) {
        tok = json_tokener_new();
        if (tok == NULL)
            return NULL;
        json_tokener_set_flags(tok, JSON_TOKENER_STRICT | JSON_TOKENER_VALIDATE_UTF8);
        pthread_setspecific(tokener_key, tok);
    }
    json_tokener_reset(tok);
    struct json_object *obj = json_tokener_parse_ex(tok, (const char *)buf, (int)n);
    if (obj != NULL &&
        (json_tokener_get_error(tok) != json_tokener_success ||
         json_tokener_get_parse_end(tok) != n || !json_object_is_type(obj, json_type_object))) {
        json_object_put(obj);
        obj = NULL;
    }
    return obj;
}

/* A JSON string compared byte for byte: json_object_get_string alone would
 * let "HS256\u0000junk" pass a strcmp. */
static bool json_string_is(struct json_object *o, const char *s)
{
    return json_object_is_type(o, json_type_string) &&
           str_eq(str_from(s),
                  (struct str){json_object_get_string(o), (size_t)json_object_get_string_len(o)});
}

/* An integer claim; PyJWT accepts a float exp / iat, so a finite double in
 * range is truncated as int() would. */
static bool claim_int(struct json_object *payload, const char *name, int64_t *out)
{
    struct json_object *o;
    if (!json_object_object_get_ex(payload, name, &o))
        return false;
    if (json_object_is_type(o, json_type_int)) {
        *out = json_object_get_int64(o);
        return true;
    }
    if (json_object_is_type(o, json_type_double)) {
        double d = json_object_get_double(o);
        if (!isfinite(d) || d < -9223372036854775808.0 || d >= 9223372036854775808.0)
            return false;
        *out = (int64_t)d;
        return true;
    }
    return false;
}

/* simplejwt writes user_id as the primary key's JSON value: an integer, or a
 * string of digits for string keys. */
static bool claim_user_id(struct json_object *payload, int64_t *out)
{
    struct json_object *o;
    if (!json_object_object_get_ex(payload, "user_id", &o))
        return false;
    if (json_object_is_type(o, json_type_int)) {
        *out = json_object_get_int64(o);
        return true;
    }
    if (!json_object_is_type(o, json_type_string))
        return false;
    struct str s = {json_object_get_string(o), (size_t)json_object_get_string_len(o)};
    if (s.n == 0)
        return false;
    for (size_t i = 0; i < s.n; i++)
        if (s.p[i] < '0' || s.p[i] > '9')
            return false;
    return str_to_int64(s, out);
}

static int hex_value(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    return -1;
}

/* The issue instant carried by a jti of ours, if it agrees with iat; another
 * issuer's jti (uuid4 hex) almost never does and falls back to iat. The
 * caller guarantees iat * 1e6 does not overflow. */
static int64_t issued_us_from(const char *jti, int64_t iat)
{
    int64_t from_iat = iat * US_PER_S;
    if (strlen(jti) != 32)
        return from_iat;
    uint64_t t = 0;
    for (int i = 0; i < 32; i++) {
        int v = hex_value(jti[i]);
        if (v < 0)
            return from_iat;
        if (i < JTI_TIME_DIGITS)
            t = t << 4 | (uint64_t)v;
    }
    /* 14 hex digits stay below 2^56, so the cast is exact. */
    if ((int64_t)t >= from_iat && (int64_t)t < from_iat + US_PER_S)
        return (int64_t)t;
    return from_iat;
}

/* Fills claims from a verified payload. *type_known is false when
 * token_type is none of "access", "refresh", "verification". */
static bool read_claims(struct json_object *payload, struct jwt_claims *claims, bool *type_known)
{
    struct json_object *type, *jti;
    if (!json_object_object_get_ex(payload, "token_type", &type) ||
        !json_object_is_type(type, json_type_string))
        return false;
    *type_known = true;
    if (json_string_is(type, "access"))
        claims->type = JWT_ACCESS;
    else if (json_string_is(type, "refresh"))
        claims->type = JWT_REFRESH;
    else if (json_string_is(type, "verification"))
        claims->type = JWT_VERIFICATION;
    else
        *type_known = false;

    if (!claim_int(payload, "exp", &claims->exp) || !claim_int(payload, "iat", &claims->iat))
        return false;
    /* Keeps iat * 1e6 (and + 1e6) inside int64_t; no issuer writes these. */
    if (claims->iat < 0 || claims->iat > INT64_MAX / US_PER_S - 1)
        return false;

    if (!json_object_object_get_ex(payload, "jti", &jti) ||
        !json_object_is_type(jti, json_type_string))
        return false;
    size_t jti_n = (size_t)json_object_get_string_len(jti);
    const char *jti_p = json_object_get_string(jti);
    if (jti_n == 0 || jti_n >= sizeof(claims->jti) || memchr(jti_p, '\0', jti_n) != NULL)
        return false;
    memcpy(claims->jti, jti_p, jti_n);
    claims->jti[jti_n] = '\0';

    if (!claim_user_id(payload, &claims->user_id))
        return false;
    claims->issued_us = issued_us_from(claims->jti, claims->iat);
    return true;
}

enum jwt_result jwt_decode(struct arena *a, struct str key, struct str token,
                           enum jwt_type expected, int64_t now, struct jwt_claims *claims)
{
    enum jwt_result res = JWT_MALFORMED;
    struct json_object *header = NULL, *payload = NULL;
    unsigned char mac[MAC_LEN];
    memset(mac, 0, sizeof(mac));
    memset(claims, 0, sizeof(*claims));

    if (token.p == NULL || token.n == 0)
        goto out;
    const char *end = token.p + token.n;
    const char *dot1 = memchr(token.p, '.', token.n);
    if (dot1 == NULL)
        goto out;
    const char *dot2 = memchr(dot1 + 1, '.', (size_t)(end - dot1 - 1));
    if (dot2 == NULL || memchr(dot2 + 1, '.', (size_t)(end - dot2 - 1)) != NULL)
        goto out;

    unsigned char *header_raw, *payload_raw, *sig;
    size_t header_n, payload_n, sig_n;
    if (!b64url_decode(a, token.p, (size_t)(dot1 - token.p), &header_raw, &header_n) ||
        !b64url_decode(a, dot1 + 1, (size_t)(dot2 - dot1 - 1), &payload_raw, &payload_n) ||
        !b64url_decode(a, dot2 + 1, (size_t)(end - dot2 - 1), &sig, &sig_n))
        goto out;
    /* The header shopd (and PyJWT) writes is always the same bytes: no
     * need to parse it. Anything else is parsed and checked. */
    if (header_n != sizeof(header_json) - 1 || memcmp(header_raw, header_json, header_n) != 0) {
        header = parse_object(header_raw, header_n);
        if (header == NULL)
            goto out;
        res = JWT_BAD_ALG;
        struct json_object *alg;
        if (!json_object_object_get_ex(header, "alg", &alg) || !json_string_is(alg, "HS256"))
            goto out;
    }

    res = JWT_BAD_SIGNATURE;
    sign(key, token.p, (size_t)(dot2 - token.p), mac);
    if (!str_ct_eq(sig, sig_n, mac, MAC_LEN))
        goto out;

    res = JWT_MALFORMED;
    bool type_known = false;
    payload = parse_object(payload_raw, payload_n);
    if (payload == NULL || !read_claims(payload, claims, &type_known))
        goto out;
    /* simplejwt calls any other token_type "wrong type" too; claims->type
     * then names the type that was not expected. */
    if (!type_known)
        claims->type = expected == JWT_ACCESS ? JWT_REFRESH : JWT_ACCESS;

    if (claims->exp <= now)
        res = JWT_EXPIRED;
    else if (claims->type != expected)
        res = JWT_WRONG_TYPE;
    else
        res = JWT_OK;

out:
    secure_wipe(mac, sizeof(mac));
    json_object_put(header);
    json_object_put(payload);
    if (res != JWT_OK && res != JWT_EXPIRED && res != JWT_WRONG_TYPE)
        memset(claims, 0, sizeof(*claims));
    return res;
}
