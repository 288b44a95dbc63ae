/*
 * verify.h - email verification and password reset: signed one-time tokens,
 * uids, and the emails that carry them.
 *
 * A token is "<user id base36>-<issued base36>-<32 hex>": the hex is an
 * HMAC-SHA256 (key: the secret key and the purpose) over the purpose, user
 * id, issue time and the state it must outlive: for reset the password hash
 * and last login (a reset or a login spends it), for verification the email
 * and the verified flag (verifying spends it). Tokens expire after 24 h.
 * Because the user id is inside, a token alone identifies the user (the
 * accounts surface sends only the token); a uid sent beside it must agree.
 *
 * A uid is base64url of "u<id>" (user 4 -> "dTQ"); legacy base64url of
 * "<id>" decodes too.
 */
#ifndef SHOPD_CORE_VERIFY_H
#define SHOPD_CORE_VERIFY_H

#include <stdbool.h>
#include <stdint.h>

struct arena;
struct ctx;
struct errors;
struct user;

enum verify_purpose { VERIFY_EMAIL, VERIFY_RESET };

#define VERIFY_TOKEN_TTL (24 * 3600)

char *verify_uid_encode(struct arena *a, int64_t user_id);
bool verify_uid_decode(const char *uid, int64_t *user_id);

char *verify_token_make(struct ctx *ctx, const struct user *u, enum verify_purpose purpose);

/* Checks a token (and a uid when not NULL) and loads its user. SHOP_EINVAL
 * when the token is malformed, forged, expired, spent, or for another
 * purpose; SHOP_ENOTFOUND when the uid names nobody (or disagrees). */
int verify_token_check(struct ctx *ctx, const char *uid, const char *token,
                       enum verify_purpose purpose, struct user *out);

/* Queues the verification email (link <FRONTEND>/verify-email?uid=&token=,
 * the token shown too) and records when it was sent. */
int verify_send_email(struct ctx *ctx, const struct user *u);

/* Marks the user's email verified. SHOP_OK also when it already was. */
int verify_confirm(struct ctx *ctx, const char *uid, const char *token, struct user *out);

/* Queues the reset email (<FRONTEND>/reset-password?uid=&token=). */
int verify_send_reset(struct ctx *ctx, const struct user *u);

/* Checks the token, the password rules (messages under field) and sets the
 * new password (revoking every token of the user). SHOP_EINVAL with err for
 * rule failures; SHOP_EAUTH for a bad or already spent token (also when a
 * concurrent request spent it first); SHOP_EFORBIDDEN for a deactivated
 * account, which a reset never reopens. */
int verify_reset_password(struct ctx *ctx, const char *uid, const char *token,
                          const char *new_password, const char *field, struct errors *err,
                          struct user *out);

#endif
