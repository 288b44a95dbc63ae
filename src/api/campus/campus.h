/*
 * campus.h - the campus surface: seed document 004_62bc8bcd01893a67.txt,
 * mounted at /api/auth/ (university accounts: students and staff), and the
 * provisioning of university users for `shopd user create --json`.
 */
#ifndef SHOPD_API_CAMPUS_CAMPUS_H
#define SHOPD_API_CAMPUS_CAMPUS_H

#include <stdint.h>

#include "http/http.h"

extern const struct http_surface campus_surface;

/* auth.c: endpoints 1-4 of the document. */
void campus_login(struct http_request *req);
void campus_logout(struct http_request *req);
void campus_profile(struct http_request *req);
void campus_refresh(struct http_request *req);

/* provision.c: creates a user from a JSON object shaped like the documented
 * user object plus "password" (schema in docs/surfaces/campus.md): the user
 * row (email verified) and its university record, in one transaction.
 * Returns SHOP_OK with *user_id set; SHOP_EINVAL or SHOP_ECONFLICT with one
 * entry per problem in err (field names as in the JSON, nested ones as
 * "student_profile.gpa"); SHOP_EDB when storage failed (logged). Hashes a
 * password: tens of milliseconds. */
int campus_provision_user(struct ctx *ctx, const char *json, struct errors *err,
                          int64_t *user_id);

#endif
