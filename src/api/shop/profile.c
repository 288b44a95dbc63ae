/*
 * profile.c - /api/users/user-profile/: the user with their addresses (GET)
 * and the update of names, phone number and addresses in one request (PUT):
 * an address item with "id" updates that address of the user's, one without
 * creates an address. The whole update commits or nothing does.
 */
#include <string.h>

#include <json-c/json.h>

#include "api/shop/shop.h"
#include "core/address.h"
#include "core/core.h"
#include "core/user.h"
#include "util/arena.h"

#define INVALID_INPUT "Invalid input data"
#define NOT_FOUND "Address not found."
#define PHONE_CONFLICT "A user with this username or phone number already exists."
#define NAME_MAX_CHARS 150

/* 200 with the profile of u as it is now stored. */
static void reply_profile(struct http_request *req, const struct user *u)
{
    struct address *addrs;
    size_t n;
    if (address_list(&req->ctx, &addrs, &n) != SHOP_OK) {
        shop_reply_internal(req);
        return;
    }
    http_reply_json(req, 200, shop_user_json(u, addrs, n, false));
}

void shop_profile_get(struct http_request *req)
{
    reply_profile(req, req->ctx.user);
}

static void read_name(struct http_request *req, struct json_object *body, const char *field,
                      const char **out, struct errors *err)
{
    if (input_string(req, body, field, INPUT_TRIM, out, err) && *out &&
        strlen(*out) > NAME_MAX_CHARS)
        errors_add(err, field,
                   arena_sprintf(req->arena, "Ensure this field has no more than %d characters.",
                                 NAME_MAX_CHARS));
}

/* Applies the patch and the address items inside one transaction. On
 * SHOP_EINVAL from an item, *addr_errors holds details["addresses"]. */
static int apply(struct http_request *req, const struct user_patch *patch,
                 const struct shop_address_item *items, size_t n, struct errors *err,
                 struct user *u, struct json_object **addr_errors)
{
    struct ctx *ctx = &req->ctx;
    bool own;
    if (core_tx_begin(ctx, &own) != SHOP_OK)
        return SHOP_EDB;
    int rc = user_update(ctx, ctx->user->id, patch, err, u);
    for (size_t i = 0; i < n && rc == SHOP_OK; i++) {
        struct errors aerr;
        errors_init(&aerr, req->arena);
        struct address a;
        rc = items[i].id ? address_update(ctx, items[i].id, &items[i].in, &aerr, &a)
                         : address_create(ctx, &items[i].in, &aerr, &a);
        if (rc == SHOP_EINVAL) {
            *addr_errors = shop_item_errors(n, i, &aerr);
        } else if (rc == SHOP_ECONFLICT) {
            *addr_errors = shop_item_errors(n, i, &aerr);
            rc = SHOP_EINVAL;
        }
    }
    return core_tx_end(ctx, own, rc);
}

/* Fields absent from the body stay as they are; username and email are not
 * changed here (the document's PUT does not name them). */
void shop_profile_put(struct http_request *req)
{
    struct json_object *body = http_body(req);
    struct errors err;
    errors_init(&err, req->arena);
    struct user_patch patch = {0};
    read_name(req, body, "first_name", &patch.first_name, &err);
    read_name(req, body, "last_name", &patch.last_name, &err);
    if (input_string(req, body, "phone_number", INPUT_TRIM, &patch.phone, &err) && patch.phone &&
        !user_phone_valid(patch.phone))
        errors_add(&err, "phone_number",
                   "Enter a valid phone number in international format (+919876543210).");
    struct shop_address_item *items;
    size_t n;
    struct json_object *addr_errors;
    shop_address_list_input(req, body, true, &items, &n, &addr_errors);
    if (errors_any(&err) || addr_errors) {
        struct json_object *details = shop_errors_json(&err);
        if (addr_errors)
            json_object_object_add(details, "addresses", addr_errors);
        shop_reply_invalid(req, INVALID_INPUT, details);
        return;
    }
    /* An id that is not one of the user's addresses is 404, before anything
     * is written. */
    for (size_t i = 0; i < n; i++) {
        if (items[i].id == 0)
            continue;
        struct address a;
        int rc = address_get(&req->ctx, items[i].id, &a);
        if (rc == SHOP_ENOTFOUND) {
            shop_reply_error(req, 404, NOT_FOUND);
            return;
        }
        if (rc != SHOP_OK) {
            shop_reply_internal(req);
            return;
        }
    }
    if (patch.phone && user_phone_taken(&req->ctx, patch.phone, req->ctx.user->id)) {
        shop_reply_error(req, 409, PHONE_CONFLICT);
        return;
    }

    struct user u;
    addr_errors = NULL;
    int rc = apply(req, &patch, items, n, &err, &u, &addr_errors);
    switch (rc) {
    case SHOP_OK:
        reply_profile(req, &u);
        return;
    case SHOP_ENOTFOUND: /* the address was deleted since the check above */
        shop_reply_error(req, 404, NOT_FOUND);
        return;
    case SHOP_ECONFLICT: /* the phone number was taken since the check above */
        shop_reply_error(req, 409, PHONE_CONFLICT);
        return;
    case SHOP_EINVAL: {
        struct json_object *details = shop_errors_json(&err);
        if (addr_errors)
            json_object_object_add(details, "addresses", addr_errors);
        shop_reply_invalid(req, INVALID_INPUT, details);
        return;
    }
    default:
        shop_reply_internal(req);
    }
}
