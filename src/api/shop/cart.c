/*
 * cart.c - /api/cart/: the shop surface's view of the user's one cart (core
 * cart.h, shared with /api/v1/cart/): add a price-weight of a product,
 * retrieve, update or delete a line, clear, summarize, validate.
 *
 * Lines are named by cart_item_id (cart_items.id); core scopes every call
 * to the authenticated user, so another user's line is "not found". The
 * answers are the document's {"status": ...} and {"error": ...} shapes;
 * docs/surfaces/shop.md ("Cart and orders") lists the decisions taken where
 * the document is silent.
 */
#include <stdint.h>
#include <string.h>

#include <json-c/json.h>

#include "api/shop/shop.h"
#include "core/cart.h"
#include "core/catalog.h"
#include "core/core.h"
#include "core/order.h"
#include "util/arena.h"
#include "util/money.h"
#include "util/str.h"
#include "util/time.h"

#define PRODUCT_ID_MISSING "Product not found"
#define PRICE_WEIGHT_MISSING "Price and weight must be provided"
#define NO_PRODUCT "Product does not exist or is inactive."
#define NO_VARIANT "Selected price-weight combination does not exist."
#define BAD_QUANTITY "Quantity must be a positive integer."
#define NO_STOCK "Insufficient stock available."
#define CART_NOT_FOUND "Cart not found"
#define ITEM_NOT_FOUND "Cart item not found"
#define CART_EMPTY "Cart is empty"
#define NOTHING_TO_UPDATE "Provide quantity and/or price_weight."
#define COMBINATION_NOT_FOUND "Price-weight combination not found"
#define STOCK_PROBLEMS "Not enough stock for the following items"
#define TOTAL_TOO_LARGE "The order total is too large."

/* ---- input ---- */

/* A positive integer given as a JSON integer or as decimal text (form
 * fields and clients that quote numbers). */
bool shop_input_id(struct json_object *v, int64_t *out)
{
    int64_t n = 0;
    if (v == NULL)
        return false;
    if (json_object_is_type(v, json_type_int)) {
        n = json_object_get_int64(v);
    } else if (json_object_is_type(v, json_type_string)) {
        struct str s = str_trim(str_from(json_object_get_string(v)));
        if (s.n == 0 || s.p[0] == '+' || s.p[0] == '-' || !str_to_int64(s, &n))
            return false;
    } else {
        return false;
    }
    if (n <= 0)
        return false;
    *out = n;
    return true;
}

/* price_weight {"price", "weight"}: false when it is not an object with both
 * (an empty price counts as missing). *price_ok is false when the price is
 * present but not an amount: no variant can have it. */
static bool read_price_weight(struct json_object *pw, int64_t *price_minor, bool *price_ok,
                              const char **weight)
{
    struct json_object *price = NULL, *w = NULL;
    if (pw == NULL || !json_object_is_type(pw, json_type_object) ||
        !json_object_object_get_ex(pw, "price", &price) ||
        !json_object_object_get_ex(pw, "weight", &w))
        return false;
    enum json_type pt = json_object_get_type(price), wt = json_object_get_type(w);
    if ((pt != json_type_string && pt != json_type_int && pt != json_type_double) ||
        (wt != json_type_string && wt != json_type_int && wt != json_type_double))
        return false;
    /* A parsed number keeps its text, so 2100.5 is read as "2100.5". */
    const char *ptext = json_object_get_string(price);
    struct str trimmed = str_trim(str_from(ptext));
    if (trimmed.n == 0)
        return false;
    char buf[MONEY_STR_MAX];
    *price_ok = trimmed.n < sizeof(buf);
    if (*price_ok) {
        memcpy(buf, trimmed.p, trimmed.n);
        buf[trimmed.n] = '\0';
        *price_ok = money_parse(buf, false, price_minor);
    }
    *weight = json_object_get_string(w);
    return true;
}

/* "quantity": absent gives dflt; otherwise a positive integer. */
static bool read_quantity(struct json_object *body, int64_t dflt, int64_t *out)
{
    struct json_object *q = NULL;
    if (!json_object_object_get_ex(body, "quantity", &q)) {
        *out = dflt;
        return true;
    }
    return shop_input_id(q, out);
}

/* ---- serializers ---- */

/* The document shows a line's total_price as a JSON number (2200.0), the
 * way Python prints a float: at least one decimal, no trailing zeros
 * beyond it. Printed from minor units, so no float ever holds a price. */
static struct json_object *money_number_json(struct arena *a, int64_t minor)
{
    char s[MONEY_STR_MAX];
    money_format(minor, s); /* "2200.00" */
    size_t n = strlen(s);
    if (n >= 2 && s[n - 1] == '0')
        s[--n] = '\0';
    return http_json_verbatim(a, arena_strndup(a, s, n), n);
}

static struct json_object *price_weight_json(const struct variant *v)
{
    struct json_object *obj = json_object_new_object();
    json_object_object_add(obj, "price", http_json_money(v->price_minor));
    json_object_object_add(obj, "weight", json_object_new_string(v->weight ? v->weight : ""));
    return obj;
}

/* The line's product as the document's cart shows it. category_id is the
 * category's id (the number the document shows, and what products name
 * their category by on this surface); inventory and status are the line's
 * variant's, which is the stock this line can draw on. Images as the
 * search shows them: the stored URL, no caption. */
static struct json_object *line_product_json(const struct cart_line *l)
{
    const struct product *p = &l->product;
    int64_t inventory = l->variant ? l->variant->inventory : 0;
    struct json_object *obj = json_object_new_object();
    json_object_object_add(obj, "product_id", json_object_new_int64(p->id));
    json_object_object_add(obj, "name", json_object_new_string(p->name));
    json_object_object_add(obj, "category_id", json_object_new_int64(p->category.id));
    json_object_object_add(obj, "inventory", json_object_new_int64(inventory));
    struct json_object *images = json_object_new_array_ext((int)p->n_image_urls);
    for (size_t i = 0; i < p->n_image_urls; i++) {
        struct json_object *img = json_object_new_object();
        json_object_object_add(img, "image_url", json_object_new_string(p->image_urls[i]));
        json_object_object_add(img, "description", json_object_new_string(""));
        json_object_array_add(images, img);
    }
    json_object_object_add(obj, "images", images);
    json_object_object_add(obj, "is_active", json_object_new_boolean(p->is_active));
    json_object_object_add(obj, "status",
                           json_object_new_string(inventory > 0 ? "In stock" : "Out of stock"));
    return obj;
}

static struct json_object *cart_json(struct arena *a, const struct cart *c)
{
    struct json_object *obj = json_object_new_object();
    json_object_object_add(obj, "cart_id", json_object_new_int64(c->id));
    json_object_object_add(obj, "user", json_object_new_int64(c->user_id));
    struct json_object *items = json_object_new_array_ext((int)c->n_lines);
    for (size_t i = 0; i < c->n_lines; i++) {
        const struct cart_line *l = &c->lines[i];
        struct json_object *item = json_object_new_object();
        json_object_object_add(item, "cart_item_id", json_object_new_int64(l->id));
        json_object_object_add(item, "product", line_product_json(l));
        json_object_object_add(item, "selected_price_weight", price_weight_json(l->variant));
        json_object_object_add(item, "quantity", json_object_new_int64(l->quantity));
        json_object_object_add(item, "total_price", money_number_json(a, l->line_total_minor));
        json_object_array_add(items, item);
    }
    json_object_object_add(obj, "items", items);
    json_object_object_add(obj, "created_at", http_json_time(c->created_at));
    json_object_object_add(obj, "updated_at", http_json_time(c->updated_at));
    return obj;
}

struct json_object *shop_cart_problems_json(struct arena *a, const struct cart_problem *problems,
                                            size_t n)
{
    struct json_object *list = json_object_new_array_ext((int)n);
    for (size_t i = 0; i < n; i++) {
        const struct cart_problem *pr = &problems[i];
        const struct cart_line *l = pr->line;
        const char *weight = l->variant && l->variant->weight ? l->variant->weight : "";
        const char *name = *weight ? arena_sprintf(a, "%s (%s)", l->product.name, weight)
                                   : l->product.name;
        const char *text =
            pr->inactive ? arena_sprintf(a, "%s (No longer available)", name)
                         : arena_sprintf(a, "%s (Requested: %lld, Available: %lld)", name,
                                         (long long)l->quantity, (long long)pr->available);
        json_object_array_add(list, json_object_new_string(text));
    }
    return list;
}

static void reply_status(struct http_request *req, int code, const char *text)
{
    struct json_object *obj = json_object_new_object();
    json_object_object_add(obj, "status", json_object_new_string(text));
    http_reply_json(req, code, obj);
}

/* ---- the endpoints ---- */

void shop_cart_add(struct http_request *req)
{
    struct json_object *body = http_body(req), *v = NULL;
    int64_t product_id = 0;
    if (!json_object_object_get_ex(body, "product_id", &v) || !shop_input_id(v, &product_id)) {
        shop_reply_error(req, 400, PRODUCT_ID_MISSING);
        return;
    }
    int64_t price_minor = 0;
    bool price_ok = false;
    const char *weight = NULL;
    v = NULL;
    json_object_object_get_ex(body, "price_weight", &v);
    if (!read_price_weight(v, &price_minor, &price_ok, &weight)) {
        shop_reply_error(req, 400, PRICE_WEIGHT_MISSING);
        return;
    }
    bool product_found = false;
    int64_t variant_id = 0;
    /* A price that is not an amount matches no variant; the product is still
     * looked up so that a missing product is reported as such. */
    int rc = cart_find_variant(&req->ctx, product_id, price_ok ? price_minor : -1, weight,
                               &product_found, &variant_id);
    if (rc == SHOP_ENOTFOUND || (rc == SHOP_OK && variant_id == 0)) {
        shop_reply_error(req, 404, product_found ? NO_VARIANT : NO_PRODUCT);
        return;
    }
    if (rc != SHOP_OK) {
        shop_reply_internal(req);
        return;
    }
    int64_t quantity = 0;
    if (!read_quantity(body, 1, &quantity) || quantity > CART_QUANTITY_MAX) {
        shop_reply_error(req, 400, BAD_QUANTITY);
        return;
    }
    enum cart_add_result result;
    if (cart_add(&req->ctx, variant_id, quantity, &result, NULL) != SHOP_OK) {
        shop_reply_internal(req);
        return;
    }
    switch (result) {
    case CART_ADDED:
        reply_status(req, 201, "Added to cart");
        break;
    case CART_NO_PRODUCT: /* deactivated or removed since the lookup */
        shop_reply_error(req, 404, NO_PRODUCT);
        break;
    case CART_NO_STOCK:
        shop_reply_error(req, 400, NO_STOCK);
        break;
    case CART_BAD_QUANTITY: /* the line would pass CART_QUANTITY_MAX */
        shop_reply_error(req, 400, BAD_QUANTITY);
        break;
    }
}

void shop_cart_retrieve(struct http_request *req)
{
    struct cart c;
    if (cart_get(&req->ctx, &c) != SHOP_OK) {
        shop_reply_internal(req);
        return;
    }
    if (c.id == 0) {
        shop_reply_error(req, 404, CART_NOT_FOUND);
        return;
    }
    http_reply_json(req, 200, cart_json(req->arena, &c));
}

/* 404 with the product's variants, so the client can pick one. */
static void reply_no_combination(struct http_request *req, const struct product *p)
{
    struct json_object *obj = json_object_new_object();
    json_object_object_add(obj, "error", json_object_new_string(COMBINATION_NOT_FOUND));
    struct json_object *list = json_object_new_array_ext((int)p->n_variants);
    for (size_t i = 0; i < p->n_variants; i++)
        json_object_array_add(list, price_weight_json(&p->variants[i]));
    json_object_object_add(obj, "available_combinations", list);
    http_reply_json(req, 404, obj);
}

/* PUT and PATCH: quantity and/or price_weight. The line is looked up first,
 * so another user's line is 404 whatever the body holds. */
void shop_cart_update_item(struct http_request *req)
{
    int64_t line_id = http_param_int(req, "cart_item_id");
    struct cart_line line;
    int rc = cart_get_line(&req->ctx, line_id, &line);
    if (rc == SHOP_ENOTFOUND) {
        shop_reply_error(req, 404, ITEM_NOT_FOUND);
        return;
    }
    if (rc != SHOP_OK) {
        shop_reply_internal(req);
        return;
    }
    struct json_object *body = http_body(req), *pw = NULL;
    bool has_quantity = json_object_object_get_ex(body, "quantity", NULL);
    bool has_pw = json_object_object_get_ex(body, "price_weight", &pw) &&
                  !json_object_is_type(pw, json_type_null);
    if (!has_quantity && !has_pw) {
        shop_reply_error(req, 400, NOTHING_TO_UPDATE);
        return;
    }
    int64_t quantity = 0; /* core: keep the line's */
    if (has_quantity && (!read_quantity(body, 0, &quantity) || quantity > CART_QUANTITY_MAX)) {
        shop_reply_error(req, 400, BAD_QUANTITY);
        return;
    }
    int64_t variant_id = 0;
    if (has_pw) {
        int64_t price_minor = 0;
        bool price_ok = false;
        const char *weight = NULL;
        if (!read_price_weight(pw, &price_minor, &price_ok, &weight)) {
            shop_reply_error(req, 400, PRICE_WEIGHT_MISSING);
            return;
        }
        bool product_found = false;
        rc = cart_find_variant(&req->ctx, line.product.id, price_ok ? price_minor : -1, weight,
                               &product_found, &variant_id);
        if (rc == SHOP_ENOTFOUND || (rc == SHOP_OK && variant_id == 0)) {
            if (product_found)
                reply_no_combination(req, &line.product);
            else
                shop_reply_error(req, 404, NO_PRODUCT);
            return;
        }
        if (rc != SHOP_OK) {
            shop_reply_internal(req);
            return;
        }
    }
    enum cart_add_result result;
    rc = cart_update_line(&req->ctx, line_id, quantity, variant_id, &result, NULL);
    if (rc == SHOP_ENOTFOUND) { /* removed meanwhile */
        shop_reply_error(req, 404, ITEM_NOT_FOUND);
        return;
    }
    if (rc != SHOP_OK) {
        shop_reply_internal(req);
        return;
    }
    switch (result) {
    case CART_ADDED:
        reply_status(req, 200, "Cart item updated");
        break;
    case CART_NO_PRODUCT:
        shop_reply_error(req, 404, NO_PRODUCT);
        break;
    case CART_NO_STOCK:
        shop_reply_error(req, 400,
                         arena_sprintf(req->arena, "Not enough stock for %s", line.product.name));
        break;
    case CART_BAD_QUANTITY:
        shop_reply_error(req, 400, BAD_QUANTITY);
        break;
    }
}

void shop_cart_delete_item(struct http_request *req)
{
    int rc = cart_remove_line(&req->ctx, http_param_int(req, "cart_item_id"));
    if (rc == SHOP_ENOTFOUND)
        shop_reply_error(req, 404, ITEM_NOT_FOUND);
    else if (rc != SHOP_OK)
        shop_reply_internal(req);
    else
        reply_status(req, 200, "Item removed from cart");
}

void shop_cart_clear(struct http_request *req)
{
    if (cart_clear(&req->ctx) != SHOP_OK)
        shop_reply_internal(req);
    else
        reply_status(req, 200, "Cart cleared");
}

/* Amounts as the checkout would charge them now (GST on the subtotal). No
 * cart yet is an empty summary, not an error: there is nothing to sum. */
void shop_cart_summary(struct http_request *req)
{
    struct cart c;
    if (cart_get(&req->ctx, &c) != SHOP_OK) {
        shop_reply_internal(req);
        return;
    }
    int64_t gst, grand_total;
    if (!order_total(c.subtotal_minor, ORDER_GST_BP, &gst, &grand_total)) {
        /* absurd quantities of absurd prices: checkout refuses the same */
        shop_reply_error(req, 400, TOTAL_TOO_LARGE);
        return;
    }
    struct json_object *obj = json_object_new_object();
    json_object_object_add(obj, "cart_id", c.id ? json_object_new_int64(c.id) : NULL);
    json_object_object_add(obj, "total_items", json_object_new_int64((int64_t)c.n_lines));
    json_object_object_add(obj, "total_quantity", json_object_new_int64(c.total_quantity));
    json_object_object_add(obj, "subtotal", http_json_money(c.subtotal_minor));
    json_object_object_add(obj, "gst", http_json_money(gst));
    json_object_object_add(obj, "grand_total", http_json_money(grand_total));
    http_reply_json(req, 200, obj);
}

void shop_cart_validate(struct http_request *req)
{
    struct cart c;
    if (cart_get(&req->ctx, &c) != SHOP_OK) {
        shop_reply_internal(req);
        return;
    }
    if (c.id == 0) {
        shop_reply_error(req, 404, CART_NOT_FOUND);
        return;
    }
    if (c.n_lines == 0) {
        shop_reply_error(req, 400, CART_EMPTY);
        return;
    }
    struct cart_problem *problems = NULL;
    size_t n = 0;
    if (cart_validate(&req->ctx, &c, &problems, &n) != SHOP_OK) {
        shop_reply_internal(req);
        return;
    }
    if (n == 0) {
        reply_status(req, 200, "Cart is valid");
        return;
    }
    struct json_object *obj = json_object_new_object();
    json_object_object_add(obj, "error", json_object_new_string(STOCK_PROBLEMS));
    json_object_object_add(obj, "details", shop_cart_problems_json(req->arena, problems, n));
    http_reply_json(req, 400, obj);
}
