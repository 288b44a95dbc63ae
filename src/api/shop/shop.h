/*
 * shop.h - the shop surface: seed document 002_f3e69b745269c34f.txt, mounted
 * at /api/: its users part (/api/users/, /api/token/), its catalogue
 * (/api/categories/, /api/products/), search (/api/search/), cart
 * (/api/cart/) and orders (/api/orders/).
 *
 * Errors are {"error": "..."}, with "details" (field -> messages) where the
 * client needs to know which field is wrong; docs/surfaces/shop.md lists the
 * decisions taken where the document is silent or contradicts itself.
 */
#ifndef SHOPD_API_SHOP_SHOP_H
#define SHOPD_API_SHOP_SHOP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/address.h"
#include "http/http.h"

struct category;
struct ctx;
struct errors;
struct json_object;
struct product;
struct user;

extern const struct http_surface shop_surface;

/* ---- users.c: registration, login, tokens, verification, logout, reset ---- */
void shop_register(struct http_request *req);
void shop_login(struct http_request *req);
void shop_token_obtain(struct http_request *req);
void shop_token_refresh(struct http_request *req);
void shop_email_verify_query(struct http_request *req);
void shop_email_verify_path(struct http_request *req);
void shop_resend_verification(struct http_request *req);
void shop_logout(struct http_request *req);
void shop_password_reset(struct http_request *req);
void shop_password_reset_confirm(struct http_request *req);

/* ---- addresses.c ---- */
void shop_addresses_list(struct http_request *req);
void shop_addresses_create(struct http_request *req);
void shop_address_get(struct http_request *req);
void shop_address_put(struct http_request *req);
void shop_address_patch(struct http_request *req);
void shop_address_delete(struct http_request *req);

/* Reads one address object of the document's shape (address_line1, ...)
 * into *in. create: every field but address_line2 is required; otherwise
 * only the fields present are read (PATCH, profile updates). Messages go to
 * err under the document's field names. Returns false when err got one. */
bool shop_address_input(struct http_request *req, struct json_object *obj, bool create,
                        struct address_input *in, struct errors *err);

/* One item of an "addresses" list (register, user-profile PUT). */
struct shop_address_item {
    int64_t id; /* the user's address to update; 0: create one */
    struct address_input in;
};

/* Reads the optional list body["addresses"] into an arena array. with_ids:
 * an item's "id" names an address to update (its other fields optional);
 * otherwise ids are ignored and every item creates an address. On bad input
 * returns false and sets *errors_out to what details["addresses"] shows, as
 * DRF does: a list of messages, or one error object per item. */
bool shop_address_list_input(struct http_request *req, struct json_object *body, bool with_ids,
                             struct shop_address_item **items, size_t *n,
                             struct json_object **errors_out);
/* details["addresses"] when core refused item failed of n: one object per
 * item, empty but for the failed one. */
struct json_object *shop_item_errors(size_t n, size_t failed, const struct errors *err);

/* ---- profile.c ---- */
void shop_profile_get(struct http_request *req);
void shop_profile_put(struct http_request *req);

/* ---- catalog.c: categories and products (reading public, writing admin) ---- */
void shop_categories_list(struct http_request *req);
void shop_categories_create(struct http_request *req);
void shop_categories_ordered(struct http_request *req);
void shop_categories_available_orders(struct http_request *req);
void shop_category_get(struct http_request *req);
void shop_category_put(struct http_request *req);
void shop_category_patch(struct http_request *req);
void shop_category_delete(struct http_request *req);
void shop_products_list(struct http_request *req);
void shop_products_create(struct http_request *req);
void shop_products_bulk_upload(struct http_request *req);
void shop_product_get(struct http_request *req);
void shop_product_put(struct http_request *req);
void shop_product_patch(struct http_request *req);
void shop_product_delete(struct http_request *req);

/* {"id", "category_id", "name", "description", "tags", "image", "display_order",
 * "available_display_orders"}; free_orders is computed once per answer
 * (catalog_display_orders_free), not per category. */
struct json_object *shop_category_json(struct ctx *ctx, const struct category *c,
                                       const int *free_orders, size_t n_free);
/* {"id", "name", "description", "category": {"id", "name"}, "inventory",
 * "price_weights": [{"id", "price", "weight", "inventory", "status"}],
 * "tags", "image_urls", "is_active", "created_at", "updated_at"} */
struct json_object *shop_product_json(const struct product *p);
/* A stored media path as its absolute URL (an absolute URL as is); NULL
 * (JSON null) when there is none. */
struct json_object *shop_media_json(struct ctx *ctx, const char *path);
/* ["a", "b"] */
struct json_object *shop_string_array(const char *const *items, size_t n);

/* ---- cart.c: /api/cart/ (the user's one cart, core cart.h) ---- */
void shop_cart_add(struct http_request *req);
void shop_cart_retrieve(struct http_request *req);
void shop_cart_update_item(struct http_request *req);
void shop_cart_delete_item(struct http_request *req);
void shop_cart_clear(struct http_request *req);
void shop_cart_summary(struct http_request *req);
void shop_cart_validate(struct http_request *req);

struct arena;
struct cart_problem;
/* A positive integer given as a JSON integer or as decimal text (ids,
 * quantities); false for anything else. */
bool shop_input_id(struct json_object *v, int64_t *out);
/* ["Name (200g) (Requested: 3, Available: 1)", "Name (1kg) (No longer
 * available)"]: the "details" of validate_cart and checkout. */
struct json_object *shop_cart_problems_json(struct arena *a, const struct cart_problem *problems,
                                            size_t n);

/* ---- orders.c: /api/orders/ (checkout, history, detail, cancel, invoice) ---- */
void shop_checkout(struct http_request *req);
void shop_orders_history(struct http_request *req);
void shop_order_get(struct http_request *req);
void shop_order_cancel(struct http_request *req);
void shop_order_invoice(struct http_request *req);

/* ---- search.c ---- */
void shop_search(struct http_request *req);

/* ---- render.c: serializers and the surface's error shapes ---- */

/* {"id", "address_line1", "address_line2", "city", "state", "country",
 * "postal_code"} */
struct json_object *shop_address_json(const struct address *a);
/* {"username", "first_name", "last_name", "email", "phone_number",
 * "addresses", ["birthdate"]} */
struct json_object *shop_user_json(const struct user *u, const struct address *addrs, size_t n,
                                   bool with_birthdate);

/* {"error": message} */
void shop_reply_error(struct http_request *req, int status, const char *message);
/* {key: text} with status (200, 205 ...) */
void shop_reply_message(struct http_request *req, int status, const char *text);
/* The document's field name for a core field name ("phone" -> "phone_number",
 * "line1" -> "address_line1"). */
const char *shop_field_name(const char *core_field);
/* {"field": ["message", ...]} with the document's field names. */
struct json_object *shop_errors_json(const struct errors *err);
/* 400 {"error": message, "details": details}; takes ownership of details. */
void shop_reply_invalid(struct http_request *req, const char *message,
                        struct json_object *details);
/* 500 for a storage failure, in the surface's shape. */
void shop_reply_internal(struct http_request *req);

#endif
