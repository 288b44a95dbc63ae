/*
 * jwt.h - JSON Web Tokens as djangorestframework-simplejwt writes them:
 * header {"alg":"HS256","typ":"JWT"}, claims token_type ("access" or
 * "refresh"), exp, iat, jti (32 lower-case hex characters) and user_id.
 *
 * Pure functions: no storage. Signatures are HMAC-SHA256 over
 * "<b64url header>.<b64url payload>" compared in constant time; any alg but
 * HS256 (including "none") is refused.
 *
 * The jti shopd writes carries the issue time: its first 14 hex digits are
 * the issue instant in microseconds, the other 18 are random. This lets an
 * access token be compared with a password change made within the same
 * second as its iat. Tokens from another issuer (a random uuid4 jti) fall
 * back to iat.
 */
#ifndef SHOPD_CORE_JWT_H
#define SHOPD_CORE_JWT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "util/str.h"

struct arena;

/* JWT_VERIFICATION: shopd's own type, given to a user who logs in before
 * verifying the email; it opens only the resend-verification endpoint. */
enum jwt_type { JWT_ACCESS, JWT_REFRESH, JWT_VERIFICATION };

struct jwt_claims {
    enum jwt_type type;
    int64_t user_id;
    int64_t iat;
    int64_t exp;
    char jti[33];      /* NUL-terminated; up to 32 characters */
    int64_t issued_us; /* decoded from the jti, or iat * 1000000 */
};

enum jwt_result {
    JWT_OK = 0,
    JWT_MALFORMED,  /* not three base64url parts, bad JSON, missing/ill-typed claim */
    JWT_BAD_ALG,    /* header alg is not HS256 */
    JWT_BAD_SIGNATURE,
    JWT_EXPIRED,    /* exp <= now */
    JWT_WRONG_TYPE, /* token_type differs from the expected one */
};

/* Fills claims->jti (issue time + random) and claims->issued_us from now_us,
 * claims->iat = now_us / 1e6, claims->exp = iat + lifetime. */
void jwt_new_claims(struct jwt_claims *claims, enum jwt_type type, int64_t user_id,
                    int64_t now_us, int64_t lifetime_seconds);

/* Encodes and signs; the token is a NUL-terminated arena string. */
char *jwt_encode(struct arena *a, struct str key, const struct jwt_claims *claims);

/* Verifies signature, alg, exp (against now, seconds) and token_type (the
 * expected type). On JWT_OK and JWT_WRONG_TYPE and JWT_EXPIRED the claims are
 * filled. user_id may be a JSON integer or a string of digits. */
enum jwt_result jwt_decode(struct arena *a, struct str key, struct str token,
                           enum jwt_type expected, int64_t now, struct jwt_claims *claims);

const char *jwt_type_name(enum jwt_type type); /* "access" / "refresh" / "verification" */

#endif
