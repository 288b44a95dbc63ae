/*
 * v1.h - the storefront API of seed document 003, mounted at /api/v1/.
 * Errors are DRF's: {"field": ["message"]}, {"detail": "..."}.
 */
#ifndef SHOPD_API_V1_V1_H
#define SHOPD_API_V1_V1_H

#include "http/http.h"

struct product;

extern const struct http_surface v1_surface;

/* auth.c: endpoints 1-6 */
void v1_auth_register(struct http_request *req);
void v1_auth_login(struct http_request *req);
void v1_auth_refresh(struct http_request *req);
void v1_auth_profile_get(struct http_request *req);
void v1_auth_profile_put(struct http_request *req);
void v1_auth_profile_patch(struct http_request *req);
void v1_auth_change_password(struct http_request *req);

/* catalog.c: endpoints 7-16 */
void v1_products_list(struct http_request *req);
void v1_products_create(struct http_request *req);
void v1_product_get(struct http_request *req);
void v1_product_put(struct http_request *req);
void v1_product_patch(struct http_request *req);
void v1_product_delete(struct http_request *req);
void v1_categories_list(struct http_request *req);
void v1_categories_create(struct http_request *req);
void v1_category_get(struct http_request *req);
void v1_category_put(struct http_request *req);
void v1_category_patch(struct http_request *req);
void v1_category_delete(struct http_request *req);
/* The v1 product object; also nested in cart and order items. */
struct json_object *v1_product_object(struct http_request *req, const struct product *p);

/* orders.c: endpoints 17-21 (orders), 26-31 (cart), 32 (reports) */
void v1_orders_list(struct http_request *req);
void v1_orders_create(struct http_request *req);
void v1_order_get(struct http_request *req);
void v1_order_update(struct http_request *req);
void v1_order_delete(struct http_request *req);
void v1_cart_get(struct http_request *req);
void v1_cart_add(struct http_request *req);
void v1_cart_clear(struct http_request *req);
void v1_cart_item_update(struct http_request *req);
void v1_cart_item_delete(struct http_request *req);
void v1_cart_checkout(struct http_request *req);
void v1_reports_summary(struct http_request *req);

/* DRF's IntegerField: an integer, an integral number, or a string of one
 * (" 2 ", "+2", "2.0"); booleans and anything else are refused. */
bool v1_json_integer(struct json_object *v, int64_t *out);

#endif
