/*
 * verification.c - send-verification/, verify-email/<uidb64>/<token>/,
 * resend-verification/ and verification-status/.
 *
 * The tokens are core's (verify.h): any surface's verification email works
 * here, and this surface's link (the frontend's /verify-email?uid=&token=)
 * works on the others. Sending goes through core, which queues the email in
 * the outbox and records when it was sent.
 */
#include <json-c/json.h>

#include "api/digital/digital.h"
#include "core/user.h"
#include "core/verify.h"

static void reply_message(struct http_request *req, const char *message, const char *email)
{
    struct json_object *obj = json_object_new_object();
    json_object_object_add(obj, "message", json_object_new_string(message));
    if (email != NULL)
        json_object_object_add(obj, "email", json_object_new_string(email));
    http_reply_json(req, 200, obj);
}

/* Sends the authenticated user's verification email again. */
static void send_own(struct http_request *req)
{
    const struct user *me = req->ctx.user;
    if (me->email_verified) {
        digital_reply_error(req, 400, "Email is already verified.", NULL);
        return;
    }
    if (verify_send_email(&req->ctx, me) != SHOP_OK) {
        digital_reply_internal(req);
        return;
    }
    reply_message(req, "Verification email sent.", me->email);
}

void digital_send_verification(struct http_request *req)
{
    send_own(req);
}

void digital_verify_email(struct http_request *req)
{
    struct user u;
    int rc = verify_confirm(&req->ctx, http_param(req, "uidb64"), http_param(req, "token"), &u);
    if (rc == SHOP_EDB) {
        digital_reply_internal(req);
        return;
    }
    /* A bad uid, a forged, expired or spent token: one answer, so the link
     * tells nothing about which accounts exist. */
    if (rc != SHOP_OK) {
        digital_reply_error(req, 400, "Invalid or expired verification link.", NULL);
        return;
    }
    struct json_object *obj = json_object_new_object();
    json_object_object_add(obj, "message", json_object_new_string("Email verified successfully."));
    json_object_object_add(obj, "email", json_object_new_string(u.email));
    json_object_object_add(obj, "email_verified", json_object_new_boolean(true));
    http_reply_json(req, 200, obj);
}

/* By email, without authentication (the user lost the first email and is
 * not signed in): the answer is the same whether the address belongs to an
 * unverified account, a verified one or nobody, so it cannot be used to
 * find accounts. Signed in and without an email, it is send-verification. */
void digital_resend_verification(struct http_request *req)
{
    struct json_object *body = http_body(req);
    if (req->ctx.user != NULL && !input_present(body, "email")) {
        send_own(req);
        return;
    }
    struct errors err;
    errors_init(&err, req->arena);
    const char *email;
    input_string(req, body, "email", INPUT_REQUIRED | INPUT_TRIM, &email, &err);
    if (email != NULL && !user_email_valid(email))
        errors_add(&err, "email", "Enter a valid email address.");
    if (errors_any(&err)) {
        digital_reply_invalid(req, &err);
        return;
    }
    struct user u;
    int rc = user_get_by_email(&req->ctx, email, &u);
    if (rc == SHOP_OK && u.is_active && !u.email_verified)
        rc = verify_send_email(&req->ctx, &u);
    else if (rc == SHOP_ENOTFOUND)
        rc = SHOP_OK;
    if (rc != SHOP_OK) {
        digital_reply_internal(req);
        return;
    }
    reply_message(req,
                  "If an account with this email exists and is not yet verified, a "
                  "verification email has been sent.",
                  NULL);
}

void digital_verification_status(struct http_request *req)
{
    const struct user *me = req->ctx.user;
    struct json_object *obj = json_object_new_object();
    json_object_object_add(obj, "email", json_object_new_string(me->email));
    json_object_object_add(obj, "email_verified", json_object_new_boolean(me->email_verified));
    http_reply_json(req, 200, obj);
}
