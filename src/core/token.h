/*
 * token.h - the token lifecycle over the jwt.h codec: issuing access/refresh
 * pairs, authenticating a request's access token, rotating and blacklisting
 * refresh tokens, and revoking everything a user holds.
 *
 * Refresh tokens are recorded by jti in refresh_tokens. Rotation blacklists
 * the used token with a conditional UPDATE, so of two concurrent refreshes
 * with one token exactly one succeeds; presenting a blacklisted token again
 * is treated as theft and revokes every outstanding refresh token of the
 * user.
 */
#ifndef SHOPD_CORE_TOKEN_H
#define SHOPD_CORE_TOKEN_H

#include <stdint.h>

#include "util/str.h"

struct ctx;
struct user;

struct token_pair {
    const char *access;  /* arena strings */
    const char *refresh;
};

enum token_failure {
    TOKEN_FAIL_NONE = 0,
    TOKEN_FAIL_INVALID,     /* malformed, bad signature or alg, expired, revoked */
    TOKEN_FAIL_WRONG_TYPE,
    TOKEN_FAIL_BLACKLISTED, /* a used or logged-out refresh token */
    TOKEN_FAIL_USER_NOT_FOUND,
    TOKEN_FAIL_USER_INACTIVE,
};

/* The simplejwt message for a failure: "Token is invalid or expired",
 * "Token has wrong type", "Token is blacklisted", "User not found",
 * "User is inactive". */
const char *token_failure_message(enum token_failure why);

int token_issue_pair(struct ctx *ctx, int64_t user_id, struct token_pair *out);

/* Verifies an access token and loads its user into *out. SHOP_EAUTH with
 * *why set when refused: bad token, user gone or inactive, or token issued
 * before the user's last password change. */
int token_authenticate(struct ctx *ctx, struct str access, struct user *out,
                       enum token_failure *why);

/* A verification token (token_type "verification", access lifetime) for a
 * user who logged in before verifying the email. */
const char *token_issue_verification(struct ctx *ctx, int64_t user_id);

/* Like token_authenticate, but also accepts a verification token. */
int token_authenticate_verification(struct ctx *ctx, struct str token, struct user *out,
                                    enum token_failure *why);

/* Rotates: blacklists refresh and issues a new pair. SHOP_EAUTH with *why. */
int token_refresh(struct ctx *ctx, struct str refresh, struct token_pair *out,
                  enum token_failure *why);

/* For surfaces whose documents return only a new access token (clients keep
 * their refresh token until it expires): checks refresh (valid, not
 * blacklisted, user active) and issues an access token, without rotating.
 * SHOP_EAUTH with *why. */
int token_refresh_access(struct ctx *ctx, struct str refresh, const char **access,
                         enum token_failure *why);

/* Blacklists one refresh token, whoever holds it. SHOP_EAUTH with *why
 * when invalid. */
int token_blacklist(struct ctx *ctx, struct str refresh, enum token_failure *why);

/* Logout: like token_blacklist, but the token must belong to owner_id (a
 * user can only end their own sessions). */
int token_logout(struct ctx *ctx, struct str refresh, int64_t owner_id, enum token_failure *why);

/* Checks a token of any type without side effects (simplejwt's verify view):
 * signature, expiry, its user (exists, active, no password change since),
 * and for a refresh token that it is not blacklisted. SHOP_EAUTH with *why. */
int token_verify(struct ctx *ctx, struct str token, enum token_failure *why);

/* Blacklists every outstanding refresh token of the user. */
int token_revoke_user(struct ctx *ctx, int64_t user_id);

#endif
