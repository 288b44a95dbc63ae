/*
 * verify.c - uids, one-time tokens, and the verification and reset emails
 * (see verify.h for the token format and what spends a token).
 */
#include "core/verify.h"

#include <stdio.h>
#include <string.h>

#include <openssl/evp.h>
#include <openssl/hmac.h>

#include "core/core.h"
#include "core/mail.h"
#include "core/user.h"
#include "db/db.h"
#include "util/arena.h"
#include "util/b64.h"
#include "util/config.h"
#include "util/log.h"
#include "util/str.h"

#define MAC_HEX 32 /* 128 bits of HMAC-SHA256 */

static const char *const purpose_names[] = {"email-verification", "password-reset"};

char *verify_uid_encode(struct arena *a, int64_t user_id)
{
    char raw[32];
    int n = snprintf(raw, sizeof(raw), "u%lld", (long long)user_id);
    return b64url_encode(a, raw, (size_t)n);
}

static bool parse_id(const char *s, size_t n, int64_t *out)
{
    if (n == 0 || n > 18)
        return false;
    int64_t v = 0;
    for (size_t i = 0; i < n; i++) {
        if (s[i] < '0' || s[i] > '9')
            return false;
        v = v * 10 + (s[i] - '0');
    }
    *out = v;
    return v > 0;
}

bool verify_uid_decode(const char *uid, int64_t *user_id)
{
    if (uid == NULL)
        return false;
    size_t n = strlen(uid);
    if (n == 0 || n > 32)
        return false;
    unsigned char raw[32];
    size_t raw_n = 0;
    if (!b64_decode_into(raw, &raw_n, uid, n, true))
        return false;
    if (raw_n > 0 && raw[0] == 'u')
        return parse_id((const char *)raw + 1, raw_n - 1, user_id);
    return parse_id((const char *)raw, raw_n, user_id); /* legacy: base64url of "<id>" */
}

/* The state a token must outlive, per purpose: changing it spends the token. */
static char *token_state(struct arena *a, const struct user *u, enum verify_purpose purpose)
{
    if (purpose == VERIFY_RESET)
        return arena_sprintf(a, "%s|%lld", u->password ? u->password : "",
                             (long long)u->last_login);
    return arena_sprintf(a, "%s|%d", u->email ? u->email : "", u->email_verified ? 1 : 0);
}

static void token_mac(struct ctx *ctx, const struct user *u, enum verify_purpose purpose,
                      int64_t issued, char out[MAC_HEX + 1])
{
    char *msg = arena_sprintf(ctx->arena, "shopd|%s|%lld|%lld|%s", purpose_names[purpose],
                              (long long)u->id, (long long)issued,
                              token_state(ctx->arena, u, purpose));
    unsigned char mac[EVP_MAX_MD_SIZE];
    unsigned int mac_len = 0;
    const char *key = ctx->cfg->secret_key;
    HMAC(EVP_sha256(), key, (int)strlen(key), (const unsigned char *)msg, strlen(msg), mac,
         &mac_len);
    static const char hex[] = "0123456789abcdef";
    for (int i = 0; i < MAC_HEX / 2; i++) {
        out[2 * i] = hex[mac[i] >> 4];
        out[2 * i + 1] = hex[mac[i] & 15];
    }
    out[MAC_HEX] = '\0';
    secure_wipe(mac, sizeof(mac));
}

static char *base36(struct arena *a, int64_t v)
{
    char tmp[16];
    int i = (int)sizeof(tmp);
    tmp[--i] = '\0';
    do {
        tmp[--i] = "0123456789abcdefghijklmnopqrstuvwxyz"[v % 36];
        v /= 36;
    } while (v > 0 && i > 0);
    return arena_strdup(a, tmp + i);
}

static bool parse_base36(const char *s, size_t n, int64_t *out)
{
    if (n == 0 || n > 12)
        return false;
    int64_t v = 0;
    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        int d;
        if (c >= '0' && c <= '9')
            d = c - '0';
        else if (c >= 'a' && c <= 'z')
            d = c - 'a' + 10;
        else
            return false;
        v = v * 36 + d;
    }
    *out = v;
    return true;
}

char *verify_token_make(struct ctx *ctx, const struct user *u, enum verify_purpose purpose)
{
    char mac[MAC_HEX + 1];
    token_mac(ctx, u, purpose, ctx->now, mac);
    return arena_sprintf(ctx->arena, "%s-%s-%s", base36(ctx->arena, u->id),
                         base36(ctx->arena, ctx->now), mac);
}

int verify_token_check(struct ctx *ctx, const char *uid, const char *token,
                       enum verify_purpose purpose, struct user *out)
{
    if (token == NULL)
        return SHOP_EINVAL;
    const char *d1 = strchr(token, '-');
    const char *d2 = d1 ? strchr(d1 + 1, '-') : NULL;
    int64_t id = 0, issued = 0;
    if (d2 == NULL || strlen(d2 + 1) != MAC_HEX ||
        !parse_base36(token, (size_t)(d1 - token), &id) ||
        !parse_base36(d1 + 1, (size_t)(d2 - d1 - 1), &issued) || id <= 0)
        return SHOP_EINVAL;
    if (uid != NULL) {
        int64_t uid_id;
        if (!verify_uid_decode(uid, &uid_id))
            return SHOP_ENOTFOUND;
        if (uid_id != id)
            return SHOP_EINVAL;
    }
    int rc = user_get(ctx, id, out);
    if (rc != SHOP_OK)
        return rc;
    if (issued > ctx->now + 60 || ctx->now - issued > VERIFY_TOKEN_TTL)
        return SHOP_EINVAL;
    char mac[MAC_HEX + 1];
    token_mac(ctx, out, purpose, issued, mac);
    if (!str_ct_eq(mac, MAC_HEX, d2 + 1, MAC_HEX))
        return SHOP_EINVAL;
    return SHOP_OK;
}

static int send_link(struct ctx *ctx, const struct user *u, enum verify_purpose purpose)
{
    const char *token = verify_token_make(ctx, u, purpose);
    const char *uid = verify_uid_encode(ctx->arena, u->id);
    const char *page = purpose == VERIFY_EMAIL ? "verify-email" : "reset-password";
    const char *link =
        arena_sprintf(ctx->arena, "%s/%s?uid=%s&token=%s", ctx->cfg->frontend_url, page, uid, token);
    const char *name = u->first_name && *u->first_name ? u->first_name : u->username;
    struct mail m = {.to = u->email};
    if (purpose == VERIFY_EMAIL) {
        m.subject = "Verify your email address";
        m.text = arena_sprintf(ctx->arena,
                               "Hello %s,\n\n"
                               "Please confirm your email address by opening this link:\n\n%s\n\n"
                               "Or enter this verification code: %s\n\n"
                               "The link is valid for 24 hours. If you did not create an "
                               "account, ignore this email.\n",
                               name, link, token);
        m.html = arena_sprintf(
            ctx->arena,
            "<p>Hello %s,</p><p>Please confirm your email address:</p>"
            "<p><a href=\"%s\">Verify my email</a></p><p>Or enter this verification code: "
            "<code>%s</code></p><p>The link is valid for 24 hours. If you did not create an "
            "account, ignore this email.</p>",
            str_html_escape(ctx->arena, name), str_html_escape(ctx->arena, link), token);
    } else {
        m.subject = "Reset your password";
        m.text = arena_sprintf(ctx->arena,
                               "Hello %s,\n\n"
                               "Someone asked to reset the password of your account. To choose "
                               "a new password, open this link:\n\n%s\n\n"
                               "Or use this reset code: %s\n\n"
                               "The link is valid for 24 hours and works once. If you did not "
                               "ask for this, ignore this email: your password stays as it is.\n",
                               name, link, token);
        m.html = arena_sprintf(
            ctx->arena,
            "<p>Hello %s,</p><p>Someone asked to reset the password of your account.</p>"
            "<p><a href=\"%s\">Choose a new password</a></p><p>Or use this reset code: "
            "<code>%s</code></p><p>The link is valid for 24 hours and works once. If you did not "
            "ask for this, ignore this email: your password stays as it is.</p>",
            str_html_escape(ctx->arena, name), str_html_escape(ctx->arena, link), token);
    }
    return mail_enqueue(ctx, &m);
}

int verify_send_email(struct ctx *ctx, const struct user *u)
{
    bool own;
    if (core_tx_begin(ctx, &own) != SHOP_OK)
        return SHOP_EDB;
    int rc = send_link(ctx, u, VERIFY_EMAIL);
    user_changed();
    if (rc == SHOP_OK &&
        db_exec(ctx->db, "UPDATE users SET verification_sent_at = ? WHERE id = ?",
                DB_PARAMS(DB_INT(ctx->now), DB_INT(u->id)), NULL) != DB_OK)
        rc = SHOP_EDB;
    return core_tx_end(ctx, own, rc);
}

int verify_confirm(struct ctx *ctx, const char *uid, const char *token, struct user *out)
{
    int rc = verify_token_check(ctx, uid, token, VERIFY_EMAIL, out);
    if (rc != SHOP_OK)
        return rc;
    rc = user_set_email_verified(ctx, out->id);
    if (rc == SHOP_OK)
        out->email_verified = true;
    return rc;
}

int verify_send_reset(struct ctx *ctx, const struct user *u)
{
    return send_link(ctx, u, VERIFY_RESET);
}

int verify_reset_password(struct ctx *ctx, const char *uid, const char *token,
                          const char *new_password, const char *field, struct errors *err,
                          struct user *out)
{
    int rc = verify_token_check(ctx, uid, token, VERIFY_RESET, out);
    if (rc == SHOP_EINVAL)
        return SHOP_EAUTH;
    if (rc != SHOP_OK)
        return rc;
    if (!out->is_active)
        return SHOP_EFORBIDDEN; /* a deactivated account stays closed */
    rc = user_set_password(ctx, out, new_password, field, err);
    /* Another request spent the link first: for this one it is used. */
    return rc == SHOP_ECONFLICT ? SHOP_EAUTH : rc;
}
