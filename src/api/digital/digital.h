/*
 * digital.h - the digital surface: seed document 000_d1fffe6516bda717.txt,
 * mounted at /accounts/api/ (accounts of a store selling downloadable goods).
 *
 * Errors are the document's {"error": "...", "details": {...}}, except on the
 * three token endpoints, which answer in simplejwt's own shapes as the
 * Django project's stock views would (docs/surfaces/digital.md).
 */
#ifndef SHOPD_API_DIGITAL_DIGITAL_H
#define SHOPD_API_DIGITAL_DIGITAL_H

#include "http/http.h"

extern const struct http_surface digital_surface;

/* ---- the document's error shape (digital.c) ---- */

/* {"error": message, "details": details}; details NULL gives {}. Takes
 * ownership of details. */
void digital_reply_error(struct http_request *req, int status, const char *message,
                         struct json_object *details);
/* 400 {"error": "Invalid input.", "details": {field: [messages]}} */
void digital_reply_invalid(struct http_request *req, const struct errors *err);
/* 500 {"error": "Internal server error.", "details": {}} */
void digital_reply_internal(struct http_request *req);
/* Answers a failed core call (EDB 500, anything else 400 with err); returns
 * false when rc is SHOP_OK and nothing was answered. */
bool digital_reply_core_failure(struct http_request *req, int rc, const struct errors *err);

/* ---- tokens.c: simplejwt's views ---- */
void digital_token_obtain(struct http_request *req);
void digital_token_refresh(struct http_request *req);
void digital_token_verify(struct http_request *req);

/* ---- account.c: registration, profile, password, availability ---- */
void digital_register(struct http_request *req);
void digital_profile_get(struct http_request *req);
void digital_profile_put(struct http_request *req);
void digital_profile_patch(struct http_request *req);
void digital_change_password(struct http_request *req);
void digital_check_username(struct http_request *req);
void digital_check_email(struct http_request *req);

/* ---- verification.c: email verification ---- */
void digital_send_verification(struct http_request *req);
void digital_verify_email(struct http_request *req);
void digital_resend_verification(struct http_request *req);
void digital_verification_status(struct http_request *req);

#endif
