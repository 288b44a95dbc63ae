/*
 * v1.c - the route table of the v1 surface: reading it tells the whole
 * surface.
 */
#include "api/v1/v1.h"

static const struct route v1_routes[] = {
    /* 1-6: authentication */
    {"POST", "auth/register/", v1_auth_register, ROUTE_SLOW},
    {"POST", "auth/login/", v1_auth_login, ROUTE_SLOW | ROUTE_NO_AUTH},
    {"POST", "auth/refresh/", v1_auth_refresh, ROUTE_NO_AUTH},
    {"GET", "auth/profile/", v1_auth_profile_get, ROUTE_AUTH},
    {"PUT", "auth/profile/", v1_auth_profile_put, ROUTE_AUTH},
    {"PATCH", "auth/profile/", v1_auth_profile_patch, ROUTE_AUTH},
    {"POST", "auth/change-password/", v1_auth_change_password, ROUTE_AUTH | ROUTE_SLOW},
    /* 7-11: products (the document requires a token even to read); the
     * writes accept a multipart image upload besides JSON */
    {"GET", "products/", v1_products_list, ROUTE_AUTH},
    {"POST", "products/", v1_products_create, ROUTE_AUTH | ROUTE_UPLOAD},
    {"GET", "products/<int:id>/", v1_product_get, ROUTE_AUTH},
    {"PUT", "products/<int:id>/", v1_product_put, ROUTE_AUTH | ROUTE_UPLOAD},
    {"PATCH", "products/<int:id>/", v1_product_patch, ROUTE_AUTH | ROUTE_UPLOAD},
    {"DELETE", "products/<int:id>/", v1_product_delete, ROUTE_AUTH},
    /* 12-16: categories */
    {"GET", "categories/", v1_categories_list, ROUTE_AUTH},
    {"POST", "categories/", v1_categories_create, ROUTE_AUTH},
    {"GET", "categories/<int:id>/", v1_category_get, ROUTE_AUTH},
    {"PUT", "categories/<int:id>/", v1_category_put, ROUTE_AUTH},
    {"PATCH", "categories/<int:id>/", v1_category_patch, ROUTE_AUTH},
    {"DELETE", "categories/<int:id>/", v1_category_delete, ROUTE_AUTH},
    /* 17-21: orders; POST takes an Idempotency-Key; PUT is a partial update
     * like PATCH (docs/surfaces/v1.md) */
    {"GET", "orders/", v1_orders_list, ROUTE_AUTH},
    {"POST", "orders/", v1_orders_create, ROUTE_AUTH},
    {"GET", "orders/<int:id>/", v1_order_get, ROUTE_AUTH},
    {"PUT", "orders/<int:id>/", v1_order_update, ROUTE_AUTH},
    {"PATCH", "orders/<int:id>/", v1_order_update, ROUTE_AUTH},
    {"DELETE", "orders/<int:id>/", v1_order_delete, ROUTE_AUTH},
    /* 26-31: the cart; checkout takes an Idempotency-Key */
    {"GET", "cart/", v1_cart_get, ROUTE_AUTH},
    {"POST", "cart/", v1_cart_add, ROUTE_AUTH},
    {"DELETE", "cart/", v1_cart_clear, ROUTE_AUTH},
    {"PUT", "cart/items/<int:id>/", v1_cart_item_update, ROUTE_AUTH},
    {"PATCH", "cart/items/<int:id>/", v1_cart_item_update, ROUTE_AUTH},
    {"DELETE", "cart/items/<int:id>/", v1_cart_item_delete, ROUTE_AUTH},
    {"POST", "cart/checkout/", v1_cart_checkout, ROUTE_AUTH},
    /* 32: reports (admins) */
    {"GET", "reports/summary/", v1_reports_summary, ROUTE_AUTH},
};

const struct http_surface v1_surface = {
    .name = "v1",
    .mount = "/api/v1/",
    .routes = v1_routes,
    .n_routes = sizeof(v1_routes) / sizeof(v1_routes[0]),
};
