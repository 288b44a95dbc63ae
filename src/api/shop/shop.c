/*
 * shop.c - the route table of the shop surface (reading it tells the whole
 * surface) and the answers the http layer gives in its name: 401s, 403 for
 * an unverified email, 429.
 */
#include <string.h>

#include <json-c/json.h>

#include "api/shop/shop.h"
#include "core/token.h"

#define USER_ONLY (ROUTE_AUTH | ROUTE_VERIFIED)

static const struct route shop_routes[] = {
    /* authentication */
    {"POST", "token/", shop_token_obtain, ROUTE_SLOW | ROUTE_NO_AUTH, NULL},
    {"POST", "token/refresh/", shop_token_refresh, ROUTE_NO_AUTH, NULL},
    {"POST", "users/register/", shop_register, ROUTE_SLOW | ROUTE_NO_AUTH, NULL},
    {"POST", "users/login/", shop_login, ROUTE_SLOW | ROUTE_NO_AUTH, NULL},
    {"POST", "users/logout/", shop_logout, ROUTE_AUTH, NULL},
    /* email verification; verify-email/ is the spelling the issue uses */
    {"GET", "users/email-verify/", shop_email_verify_query, ROUTE_NO_AUTH, NULL},
    {"GET", "users/email-verify/<str:uidb64>/<str:token>/", shop_email_verify_path, ROUTE_NO_AUTH,
     NULL},
    {"GET", "users/verify-email/<str:uidb64>/<str:token>/", shop_email_verify_path, ROUTE_NO_AUTH,
     NULL},
    {"POST", "users/resend-verification-email/", shop_resend_verification,
     ROUTE_AUTH | ROUTE_VERIFICATION, "shop-resend-verification"},
    /* password reset */
    {"POST", "users/password_reset/", shop_password_reset, ROUTE_NO_AUTH, "shop-password-reset"},
    {"POST", "users/password-reset/confirm/", shop_password_reset_confirm,
     ROUTE_SLOW | ROUTE_NO_AUTH, "shop-password-reset-confirm"},
    {"POST", "users/password-reset/confirm/<str:uidb64>/<str:token>/",
     shop_password_reset_confirm, ROUTE_SLOW | ROUTE_NO_AUTH, "shop-password-reset-confirm"},
    /* addresses and profile: verified users only */
    {"GET", "users/addresses/", shop_addresses_list, USER_ONLY, NULL},
    {"POST", "users/addresses/", shop_addresses_create, USER_ONLY, NULL},
    {"GET", "users/addresses/<int:id>/", shop_address_get, USER_ONLY, NULL},
    {"PUT", "users/addresses/<int:id>/", shop_address_put, USER_ONLY, NULL},
    {"PATCH", "users/addresses/<int:id>/", shop_address_patch, USER_ONLY, NULL},
    {"DELETE", "users/addresses/<int:id>/", shop_address_delete, USER_ONLY, NULL},
    {"GET", "users/user-profile/", shop_profile_get, USER_ONLY, NULL},
    {"PUT", "users/user-profile/", shop_profile_put, USER_ONLY, NULL},
    /* catalogue: reading is public (a token, when sent, lets admins see
     * inactive products); writing needs a token and an admin (403 checked
     * in the handlers). Fixed paths come before <str:category_id>. */
    {"GET", "categories/", shop_categories_list, ROUTE_PUBLIC, NULL},
    {"POST", "categories/", shop_categories_create, ROUTE_AUTH | ROUTE_UPLOAD, NULL},
    {"GET", "categories/ordered/", shop_categories_ordered, ROUTE_PUBLIC, NULL},
    {"GET", "categories/available-orders/", shop_categories_available_orders, ROUTE_PUBLIC,
     NULL},
    {"GET", "categories/<str:category_id>/", shop_category_get, ROUTE_PUBLIC, NULL},
    {"PUT", "categories/<str:category_id>/", shop_category_put, ROUTE_AUTH | ROUTE_UPLOAD, NULL},
    {"PATCH", "categories/<str:category_id>/", shop_category_patch, ROUTE_AUTH | ROUTE_UPLOAD,
     NULL},
    {"DELETE", "categories/<str:category_id>/", shop_category_delete, ROUTE_AUTH, NULL},
    {"GET", "products/", shop_products_list, ROUTE_PUBLIC, NULL},
    {"POST", "products/", shop_products_create, ROUTE_AUTH, NULL},
    {"POST", "products/bulk-upload/", shop_products_bulk_upload, ROUTE_AUTH | ROUTE_UPLOAD, NULL},
    {"GET", "products/<int:id>/", shop_product_get, ROUTE_PUBLIC, NULL},
    {"PUT", "products/<int:id>/", shop_product_put, ROUTE_AUTH, NULL},
    {"PATCH", "products/<int:id>/", shop_product_patch, ROUTE_AUTH, NULL},
    {"DELETE", "products/<int:id>/", shop_product_delete, ROUTE_AUTH, NULL},
    /* search */
    {"GET", "search/", shop_search, ROUTE_PUBLIC, NULL},
    /* cart and orders: verified users, like addresses (checkout needs one) */
    {"POST", "cart/add_to_cart/", shop_cart_add, USER_ONLY, NULL},
    {"GET", "cart/retrieve_cart/", shop_cart_retrieve, USER_ONLY, NULL},
    {"PUT", "cart/<int:cart_item_id>/update_cart_item/", shop_cart_update_item, USER_ONLY, NULL},
    {"PATCH", "cart/<int:cart_item_id>/update_cart_item/", shop_cart_update_item, USER_ONLY,
     NULL},
    {"DELETE", "cart/<int:cart_item_id>/delete_cart_item/", shop_cart_delete_item, USER_ONLY,
     NULL},
    {"POST", "cart/clear_cart/", shop_cart_clear, USER_ONLY, NULL},
    {"GET", "cart/cart_summary/", shop_cart_summary, USER_ONLY, NULL},
    {"POST", "cart/validate_cart/", shop_cart_validate, USER_ONLY, NULL},
    {"POST", "orders/checkout/", shop_checkout, USER_ONLY, NULL},
    {"GET", "orders/history/", shop_orders_history, USER_ONLY, NULL},
    {"GET", "orders/orders/<str:order_number>/", shop_order_get, USER_ONLY, NULL},
    {"POST", "orders/orders/<str:order_number>/cancel/", shop_order_cancel, USER_ONLY, NULL},
    {"GET", "orders/orders/<str:order_number>/invoice/", shop_order_invoice, USER_ONLY, NULL},
};

static bool is_address_route(const struct route *r)
{
    return r->handler == shop_addresses_list || r->handler == shop_addresses_create ||
           r->handler == shop_address_get || r->handler == shop_address_put ||
           r->handler == shop_address_patch || r->handler == shop_address_delete;
}

static struct json_object *detail(const char *message)
{
    struct json_object *obj = json_object_new_object();
    json_object_object_add(obj, "detail", json_object_new_string(message));
    return obj;
}

/* simplejwt's answer to a refused access token (what the document's Django
 * views give on every route that does not say otherwise). */
static struct json_object *simplejwt_failure(enum auth_failure why)
{
    struct json_object *obj;
    switch (why) {
    case AUTH_BAD_HEADER:
        obj = detail("Authorization header must contain two space-delimited values");
        json_object_object_add(obj, "code", json_object_new_string("bad_authorization_header"));
        return obj;
    case AUTH_USER_NOT_FOUND:
        obj = detail("User not found");
        json_object_object_add(obj, "code", json_object_new_string("user_not_found"));
        return obj;
    case AUTH_USER_INACTIVE:
        obj = detail("User is inactive");
        json_object_object_add(obj, "code", json_object_new_string("user_inactive"));
        return obj;
    default:
        break;
    }
    obj = detail("Given token not valid for any token type");
    json_object_object_add(obj, "code", json_object_new_string("token_not_valid"));
    struct json_object *m = json_object_new_object();
    json_object_object_add(m, "token_class", json_object_new_string("AccessToken"));
    json_object_object_add(m, "token_type", json_object_new_string("access"));
    json_object_object_add(m, "message",
                           json_object_new_string(token_failure_message(
                               why == AUTH_WRONG_TYPE ? TOKEN_FAIL_WRONG_TYPE
                                                      : TOKEN_FAIL_INVALID)));
    struct json_object *list = json_object_new_array();
    json_object_array_add(list, m);
    json_object_object_add(obj, "messages", list);
    return obj;
}

/* Missing credentials: DRF's words everywhere (the document shows them for
 * user-profile). A refused token: the words the document shows for the
 * route (resend-verification-email, addresses), simplejwt's elsewhere. */
static void render_auth_failure(struct http_request *req, enum auth_failure why)
{
    struct json_object *obj;
    if (why == AUTH_MISSING) {
        obj = detail("Authentication credentials were not provided.");
    } else if (req->route && req->route->handler == shop_resend_verification) {
        obj = detail("Invalid token.");
    } else if (req->route && is_address_route(req->route)) {
        obj = json_object_new_object();
        json_object_object_add(obj, "error", json_object_new_string("Invalid token or user ID"));
    } else {
        obj = simplejwt_failure(why);
    }
    http_reply_json(req, 401, obj);
}

/* 429 in the document's words; 403 for an unverified email as DRF's
 * permission denial, which is what the document shows for user-profile. */
static void render_error(struct http_request *req, int status, const char *code,
                         const char *message)
{
    if (status == 429)
        shop_reply_error(req, 429, "Rate limit exceeded. Please try again later.");
    else if (status == 403 && code && strcmp(code, "EMAIL_NOT_VERIFIED") == 0)
        http_reply_json(req, 403, detail("You do not have permission to perform this action."));
    else
        shop_reply_error(req, status, message);
}

const struct http_surface shop_surface = {
    .name = "shop",
    .mount = "/api/",
    .routes = shop_routes,
    .n_routes = sizeof(shop_routes) / sizeof(shop_routes[0]),
    .render_auth_failure = render_auth_failure,
    .render_error = render_error,
};
