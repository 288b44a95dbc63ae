/*
 * accounts.h - the accounts surface: seed document 001_d28a5359b987eaad.txt,
 * mounted at /api/accounts/.
 *
 * Every answer is an envelope: {"success": true, "data": ..., "message": ...}
 * for successes, {"success": false, "message", "code", "errors": {field:
 * [messages]}} for failures, with the document's error codes (see
 * docs/surfaces/accounts.md for the codes this surface adds). The helpers
 * below are the only places that build those envelopes.
 */
#ifndef SHOPD_API_ACCOUNTS_ACCOUNTS_H
#define SHOPD_API_ACCOUNTS_ACCOUNTS_H

#include <stdbool.h>

#include "http/http.h"

struct json_object;

extern const struct http_surface accounts_surface;

/* ---- envelope.c: success and error envelopes, the http layer's answers ---- */

/* Renames a core field in an errors object; parent (may be NULL) nests it
 * as DRF nests a nested serializer's errors: {"profile": {"gender": [...]}}. */
struct accounts_field_map {
    const char *core;
    const char *field;
    const char *parent;
};

/* {"success": true, "data": data (NULL: null), "message": message}; takes data. */
void accounts_reply_ok(struct http_request *req, int status, struct json_object *data,
                       const char *message);
/* {"success": false, "message", "code", "errors": {}}. */
void accounts_reply_fail(struct http_request *req, int status, const char *code,
                         const char *message);
/* The same with the errors object rendered from err, fields renamed by map
 * (NULL-terminated; may be NULL). */
void accounts_reply_errors(struct http_request *req, int status, const char *code,
                           const char *message, const struct errors *err,
                           const struct accounts_field_map *map);
/* One field, one message. */
void accounts_reply_field(struct http_request *req, int status, const char *code,
                          const char *message, const char *field, const char *field_message);
/* 400 VALIDATION_ERROR with err. */
void accounts_reply_invalid(struct http_request *req, const struct errors *err,
                            const struct accounts_field_map *map);
/* 500 SERVER_ERROR: storage failed (already logged by core). */
void accounts_reply_internal(struct http_request *req);

/* Surface renderers for the answers the http layer gives (401, 403, 429). */
void accounts_render_error(struct http_request *req, int status, const char *code,
                           const char *message);
void accounts_render_auth_failure(struct http_request *req, enum auth_failure why);
/* Whether token is a correctly signed JWT (an access token, or a refresh
 * token when refresh) whose only fault is its age: TOKEN_EXPIRED rather than
 * INVALID_TOKEN. */
bool accounts_token_expired(struct http_request *req, struct str token, bool refresh);

/* A boolean as DRF's BooleanField reads it: JSON true/false, 1/0, and the
 * strings "true"/"false", "yes"/"no", "on"/"off", "t"/"f", "y"/"n", "1"/"0"
 * (case as DRF lists them). Absent: returns true with *present false. */
bool accounts_input_bool(struct json_object *obj, const char *name, bool *present, bool *out,
                         struct errors *err);
/* A string of at most max characters (UTF-8 code points), with
 * input_string's flags; DRF's max_length message otherwise. */
bool accounts_input_text(struct http_request *req, struct json_object *obj, const char *name,
                         unsigned flags, size_t max, const char **out, struct errors *err);

/* ---- auth.c: login, register, tokens, passwords, verification, deactivation ---- */
void accounts_login(struct http_request *req);
void accounts_register(struct http_request *req);
void accounts_token_refresh(struct http_request *req);
void accounts_logout(struct http_request *req);
void accounts_change_password(struct http_request *req);
void accounts_password_reset(struct http_request *req);
void accounts_password_reset_confirm(struct http_request *req);
void accounts_verify_email_resend(struct http_request *req);
void accounts_verify_email_confirm(struct http_request *req);
void accounts_deactivate(struct http_request *req);

/* ---- profile.c: profile, avatar, email preferences ---- */
void accounts_profile_get(struct http_request *req);
void accounts_profile_put(struct http_request *req);
void accounts_profile_avatar(struct http_request *req);
void accounts_preferences_get(struct http_request *req);
void accounts_preferences_put(struct http_request *req);

/* ---- address.c: addresses ---- */
void accounts_address_list(struct http_request *req);
void accounts_address_create(struct http_request *req);
void accounts_address_get(struct http_request *req);
void accounts_address_put(struct http_request *req);
void accounts_address_patch(struct http_request *req);
void accounts_address_delete(struct http_request *req);

#endif
