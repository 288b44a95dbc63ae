/*
 * orders.c - v1 endpoints 17-21 (orders), 26-31 (cart) and 32 (reports) in
 * the shapes of seed document 003: the serializers of a cart, a cart item,
 * an order, an order item and the report, and their handlers. Every route
 * needs an access token; the core (cart.h, order.h) holds every rule about
 * stock, ownership and status, and this file renders its answers as DRF
 * would: {"field": ["message"]}, {"detail": "..."}, and the document's
 * {"error": "..."} where it shows one.
 *
 * Creating an order (POST /orders/, POST /cart/checkout/) honours an
 * Idempotency-Key header: the first response is stored and replayed byte
 * for byte (order.h). Money is integer minor units throughout; the report's
 * revenue is printed as a JSON number from them, never through a double.
 * Everything allocated lives in the request's arena.
 */
#include <ctype.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <json-c/json.h>
#include <json-c/printbuf.h>

#include "api/v1/v1.h"
#include "core/cart.h"
#include "core/catalog.h"
#include "core/order.h"
#include "http/jsonw.h"
#include "util/arena.h"
#include "util/money.h"
#include "util/time.h"

#define MSG_NOT_FOUND "Not found."
#define MSG_ORDER_FORBIDDEN "You do not have permission to access this order."
#define MSG_REQUIRED "This field is required."
#define MSG_INTEGER "A valid integer is required."
#define MSG_NO_PRODUCT "Product not found or inactive"
#define MSG_IDEM_INVALID "Invalid Idempotency-Key header."
#define MSG_IDEM_MISMATCH "Idempotency-Key was already used with a different request."
#define MSG_IDEM_GONE "The order made with this Idempotency-Key no longer exists."

#define JSON_FLAGS (JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE)

/* ---- small renderers ---- */

/* json-c prints a NULL member as null. */
static struct json_object *string_or_null(const char *s)
{
    return s != NULL ? json_object_new_string(s) : NULL;
}

/* The report's revenue: a JSON number in the document, printed from minor
 * units (a double would drop the trailing zero and, for large sums, cents). */
static struct json_object *money_number(struct arena *a, int64_t minor)
{
    char buf[MONEY_STR_MAX];
    money_format(minor, buf);
    return http_json_verbatim(a, arena_strdup(a, buf), strlen(buf));
}

static void reply_message(struct http_request *req, const char *message)
{
    struct json_object *obj = json_object_new_object();
    json_object_object_add(obj, "message", json_object_new_string(message));
    http_reply_json(req, 200, obj);
}

/* {"error": message}, the document's shape for refusals that name no field. */
static void reply_error(struct http_request *req, int status, const char *message)
{
    struct json_object *obj = json_object_new_object();
    json_object_object_add(obj, "error", json_object_new_string(message));
    http_reply_json(req, status, obj);
}

static void reply_errors(struct http_request *req, const struct errors *err)
{
    http_reply_json(req, 400, http_errors_object(err));
}

static void reply_field_error(struct http_request *req, const char *field, const char *message)
{
    struct errors err;
    errors_init(&err, req->arena);
    errors_add(&err, field, message);
    reply_errors(req, &err);
}

/* The first message the core put under non_field_errors, or fallback. */
static const char *non_field_message(const struct errors *err, const char *fallback)
{
    for (const struct field_error *fe = err ? err->head : NULL; fe; fe = fe->next)
        if (strcmp(fe->field, ERRORS_NON_FIELD) == 0)
            return fe->message;
    return fallback;
}

/* ---- serializers ---- */

/* {"id", "product": <v1 product>, "quantity", "price" (the variant's
 * current price), "subtotal", "created_at"} */
static struct json_object *cart_item_object(struct http_request *req, const struct cart_line *l)
{
    int64_t price = l->variant != NULL ? l->variant->price_minor : l->product.price_minor;
    struct json_object *obj = json_object_new_object();
    json_object_object_add(obj, "id", json_object_new_int64(l->id));
    json_object_object_add(obj, "product", v1_product_object(req, &l->product));
    json_object_object_add(obj, "quantity", json_object_new_int64(l->quantity));
    json_object_object_add(obj, "price", http_json_money(price));
    json_object_object_add(obj, "subtotal", http_json_money(l->line_total_minor));
    json_object_object_add(obj, "created_at", http_json_time(l->created_at));
    return obj;
}

/* {"id", "items": [cart item], "total_amount", "created_at", "updated_at"} */
static struct json_object *cart_object(struct http_request *req, const struct cart *c)
{
    struct json_object *items = json_object_new_array_ext((int)c->n_lines);
    for (size_t i = 0; i < c->n_lines; i++)
        json_object_array_add(items, cart_item_object(req, &c->lines[i]));
    struct json_object *obj = json_object_new_object();
    json_object_object_add(obj, "id", json_object_new_int64(c->id));
    json_object_object_add(obj, "items", items);
    json_object_object_add(obj, "total_amount", http_json_money(c->subtotal_minor));
    json_object_object_add(obj, "created_at", http_json_time(c->created_at));
    json_object_object_add(obj, "updated_at", http_json_time(c->updated_at));
    return obj;
}

/* The products order items refer to, read once for a whole answer (one
 * order or a list of them) with catalog_products_by_ids. */
struct product_set {
    struct product *items;
    size_t n;
};

static int product_set_load(struct http_request *req, const struct order *orders, size_t n_orders,
                            struct product_set *set)
{
    size_t n_ids = 0;
    for (size_t i = 0; i < n_orders; i++)
        n_ids += orders[i].n_items;
    set->items = NULL;
    set->n = 0;
    if (n_ids == 0)
        return SHOP_OK;
    int64_t *ids = arena_alloc(req->arena, n_ids * sizeof(*ids));
    size_t k = 0;
    for (size_t i = 0; i < n_orders; i++)
        for (size_t j = 0; j < orders[i].n_items; j++) {
            int64_t id = orders[i].items[j].product_id;
            bool seen = id == 0;
            for (size_t m = 0; m < k && !seen; m++)
                seen = ids[m] == id;
            if (!seen)
                ids[k++] = id;
        }
    if (k == 0)
        return SHOP_OK;
    struct product_list list;
    int rc = catalog_products_by_ids(&req->ctx, ids, k, &list);
    if (rc != SHOP_OK)
        return rc;
    set->items = list.items;
    set->n = list.n;
    return SHOP_OK;
}

static const struct product *product_set_find(const struct product_set *set, int64_t id)
{
    for (size_t i = 0; i < set->n; i++)
        if (set->items[i].id == id)
            return &set->items[i];
    return NULL;
}

/* {"id", "product": <v1 product as it is now> or null once deleted,
 * "quantity", "price" (the unit price copied at checkout), "subtotal",
 * "created_at"} */
static struct json_object *order_item_object(struct http_request *req,
                                             const struct product_set *set,
                                             const struct order_item *it)
{
    const struct product *p = it->product_id != 0 ? product_set_find(set, it->product_id) : NULL;
    struct json_object *obj = json_object_new_object();
    json_object_object_add(obj, "id", json_object_new_int64(it->id));
    json_object_object_add(obj, "product", p != NULL ? v1_product_object(req, p) : NULL);
    json_object_object_add(obj, "quantity", json_object_new_int64(it->quantity));
    json_object_object_add(obj, "price", http_json_money(it->unit_price_minor));
    json_object_object_add(obj, "subtotal", http_json_money(it->line_total_minor));
    json_object_object_add(obj, "created_at", http_json_time(it->created_at));
    return obj;
}

/* The document's order, field for field. */
static struct json_object *order_object(struct http_request *req, const struct product_set *set,
                                        const struct order *o)
{
    struct json_object *items = json_object_new_array_ext((int)o->n_items);
    for (size_t i = 0; i < o->n_items; i++)
        json_object_array_add(items, order_item_object(req, set, &o->items[i]));
    struct json_object *obj = json_object_new_object();
    json_object_object_add(obj, "id", json_object_new_int64(o->id));
    json_object_object_add(obj, "order_number", json_object_new_string(o->order_number));
    json_object_object_add(obj, "customer", json_object_new_int64(o->user_id));
    json_object_object_add(obj, "customer_email", string_or_null(o->user_email));
    json_object_object_add(obj, "total_amount", http_json_money(o->total_minor));
    json_object_object_add(obj, "status", json_object_new_string(order_status_name(o->status)));
    json_object_object_add(obj, "shipping_address", string_or_null(o->shipping_address));
    json_object_object_add(obj, "billing_address", string_or_null(o->billing_address));
    json_object_object_add(obj, "items", items);
    json_object_object_add(obj, "stripe_payment_intent_id",
                           string_or_null(o->stripe_payment_intent_id));
    json_object_object_add(obj, "client_secret", string_or_null(o->client_secret));
    json_object_object_add(obj, "crm_sync_status", string_or_null(o->crm_sync_status));
    json_object_object_add(obj, "created_at", http_json_time(o->created_at));
    json_object_object_add(obj, "updated_at", http_json_time(o->updated_at));
    return obj;
}

/* One order with its products; NULL after answering 500. */
static struct json_object *order_json(struct http_request *req, const struct order *o)
{
    struct product_set set;
    if (product_set_load(req, o, 1, &set) != SHOP_OK) {
        http_reply_internal(req);
        return NULL;
    }
    return order_object(req, &set, o);
}

/* ---- DRF field readers ---- */

/* An integer field of obj under key, its errors under field (which differs
 * from key for the lines of an order: "items.<i>.quantity"). Absent:
 * "This field is required." unless dflt >= 0 (then *out = dflt). Below 1:
 * below_min; above CART_QUANTITY_MAX: DRF's max_value message. */
static bool input_count(struct json_object *obj, const char *key, const char *field,
                        int64_t dflt, const char *below_min, int64_t *out, struct errors *err)
{
    struct json_object *v = NULL;
    if (!json_object_object_get_ex(obj, key, &v)) {
        if (dflt >= 0) {
            *out = dflt;
            return true;
        }
        errors_add(err, field, MSG_REQUIRED);
        return false;
    }
    if (v == NULL) {
        errors_add(err, field, "This field may not be null.");
        return false;
    }
    int64_t n = 0;
    if (!v1_json_integer(v, &n)) {
        errors_add(err, field, MSG_INTEGER);
        return false;
    }
    if (n < 1) {
        errors_add(err, field, below_min);
        return false;
    }
    if (n > CART_QUANTITY_MAX) {
        errors_add(err, field, "Ensure this value is less than or equal to 1000000.");
        return false;
    }
    *out = n;
    return true;
}

/* A product_id (IntegerField); its existence is the core's to check. */
static bool input_product_id(struct json_object *obj, const char *field, int64_t *out,
                             struct errors *err)
{
    struct json_object *v = NULL;
    if (!json_object_object_get_ex(obj, "product_id", &v)) {
        errors_add(err, field, MSG_REQUIRED);
        return false;
    }
    if (v == NULL) {
        errors_add(err, field, "This field may not be null.");
        return false;
    }
    if (!v1_json_integer(v, out)) {
        errors_add(err, field, MSG_INTEGER);
        return false;
    }
    return true;
}

/* DRF's BooleanField, with its exact spellings. */
static bool input_bool(struct json_object *body, const char *name, bool dflt, bool *out,
                       struct errors *err)
{
    static const char *const yes[] = {"t", "T", "y", "Y", "yes", "Yes", "YES", "true",
                                      "True", "TRUE", "on", "On", "ON", "1"};
    static const char *const no[] = {"f", "F", "n", "N", "no", "No", "NO", "false",
                                     "False", "FALSE", "off", "Off", "OFF", "0"};
    struct json_object *v = NULL;
    *out = dflt;
    if (!input_value(body, name, false, &v, err))
        return false;
    if (v == NULL)
        return true;
    switch (json_object_get_type(v)) {
    case json_type_boolean:
        *out = json_object_get_boolean(v);
        return true;
    case json_type_int:
    case json_type_double: {
        /* 1, 0, 1.0 and 0.0 (Python's set lookup finds 1.0 == 1) */
        double d = json_object_get_double(v);
        if (d == 1 || d == 0) {
            *out = d == 1;
            return true;
        }
        break;
    }
    case json_type_string: {
        const char *s = json_object_get_string(v);
        for (size_t i = 0; i < sizeof(yes) / sizeof(yes[0]); i++) {
            if (strcmp(s, yes[i]) == 0) {
                *out = true;
                return true;
            }
            if (strcmp(s, no[i]) == 0) {
                *out = false;
                return true;
            }
        }
        break;
    }
    default:
        break;
    }
    errors_add(err, name, "Must be a valid boolean.");
    return false;
}

/* ---- Idempotency-Key ---- */

/* Reads the header into idem (no header: idem->key NULL). false when it
 * answered 400 for a key that is not 1-255 visible ASCII characters. */
static bool idem_begin(struct http_request *req, const char *scope, struct order_idem *idem)
{
    memset(idem, 0, sizeof(*idem));
    const char *key = http_header(req, "Idempotency-Key");
    if (key == NULL)
        return true;
    if (!order_idem_key_valid(key)) {
        http_reply_detail(req, 400, MSG_IDEM_INVALID);
        return false;
    }
    idem->key = key;
    idem->scope = scope;
    idem->fingerprint = order_idem_fingerprint(&req->ctx, req->method, req->path,
                                               req->body.p != NULL ? req->body.p : "",
                                               req->body.n);
    return true;
}

/* A key seen before: the first response again (stored, or the order
 * rendered anew), or 422 for a different request. true when it answered. */
static bool idem_answered(struct http_request *req, const struct order_idem *idem)
{
    if (idem->state == ORDER_IDEM_MISMATCH) {
        http_reply_detail(req, 422, MSG_IDEM_MISMATCH);
        return true;
    }
    if (idem->state != ORDER_IDEM_REPLAY)
        return false;
    if (idem->status_code != 0 && idem->response != NULL) {
        http_reply_bytes(req, idem->status_code, "application/json", idem->response,
                         strlen(idem->response));
        return true;
    }
    struct order o;
    int rc = idem->order_id != 0 ? order_get(&req->ctx, idem->order_id, &o) : SHOP_ENOTFOUND;
    if (rc == SHOP_ENOTFOUND) {
        /* deleted before its response was stored: nothing to replay, and
         * making a second order would break the key's promise */
        http_reply_detail(req, 409, MSG_IDEM_GONE);
        return true;
    }
    if (rc != SHOP_OK) {
        http_reply_internal(req);
        return true;
    }
    struct json_object *obj = order_json(req, &o);
    if (obj != NULL)
        http_reply_json(req, 201, obj);
    return true;
}

/* 201 with a new order; under a key, the exact text sent is stored first
 * so that retries get it byte for byte. */
static void reply_new_order(struct http_request *req, const struct order_idem *idem,
                            const struct order *o)
{
    struct json_object *obj = order_json(req, o);
    if (obj == NULL)
        return;
    if (idem->key == NULL || idem->row_id == 0) {
        http_reply_json(req, 201, obj);
        return;
    }
    size_t len = 0;
    const char *text = json_object_to_json_string_length(obj, JSON_FLAGS, &len);
    order_idem_store(&req->ctx, idem->row_id, 201, text, len);
    http_reply_bytes(req, 201, "application/json", text, len);
    json_object_put(obj);
}

/* ---- 26. get cart ---- */

void v1_cart_get(struct http_request *req)
{
    /* created on first sight, so the answer's id is a real cart's */
    struct cart c;
    if (cart_get_or_create(&req->ctx, &c) != SHOP_OK) {
        http_reply_internal(req);
        return;
    }
    http_reply_json(req, 200, cart_object(req, &c));
}

/* ---- 27. add to cart ---- */

void v1_cart_add(struct http_request *req)
{
    struct json_object *body = http_body(req);
    struct errors err;
    errors_init(&err, req->arena);
    int64_t product_id = 0, quantity = 0;
    input_product_id(body, "product_id", &product_id, &err);
    input_count(body, "quantity", "quantity", 1, "Quantity must be at least 1.", &quantity, &err);
    if (errors_any(&err)) {
        reply_errors(req, &err);
        return;
    }
    int64_t variant_id = 0;
    int rc = cart_v1_variant(&req->ctx, product_id, &variant_id);
    if (rc == SHOP_ENOTFOUND) {
        reply_field_error(req, "product_id", MSG_NO_PRODUCT);
        return;
    }
    if (rc != SHOP_OK) {
        http_reply_internal(req);
        return;
    }
    enum cart_add_result result;
    struct cart_line line;
    rc = cart_add(&req->ctx, variant_id, quantity, &result, &line);
    if (rc != SHOP_OK) {
        http_reply_internal(req);
        return;
    }
    switch (result) {
    case CART_ADDED:
        http_reply_json(req, 201, cart_item_object(req, &line));
        break;
    case CART_NO_PRODUCT: /* deactivated or deleted since cart_v1_variant */
        reply_field_error(req, "product_id", MSG_NO_PRODUCT);
        break;
    case CART_NO_STOCK:
        reply_field_error(req, ERRORS_NON_FIELD, "Insufficient stock");
        break;
    case CART_BAD_QUANTITY: /* the line's sum would pass the per-line cap */
        reply_field_error(req, "quantity", "Ensure this value is less than or equal to 1000000.");
        break;
    }
}

/* ---- 28. clear cart ---- */

void v1_cart_clear(struct http_request *req)
{
    if (cart_clear(&req->ctx) != SHOP_OK) {
        http_reply_internal(req);
        return;
    }
    reply_message(req, "Cart cleared successfully");
}

/* ---- 29. update a cart item (PUT and PATCH alike: quantity is the only
 * writable field, and both require it) ---- */

void v1_cart_item_update(struct http_request *req)
{
    int64_t id = http_param_int(req, "id");
    /* a line that is not the user's is a 404 whatever the body, as DRF
     * looks the object up before it validates */
    struct cart_line line;
    int rc = cart_get_line(&req->ctx, id, &line);
    if (rc == SHOP_ENOTFOUND) {
        http_reply_detail(req, 404, MSG_NOT_FOUND);
        return;
    }
    if (rc != SHOP_OK) {
        http_reply_internal(req);
        return;
    }
    struct errors err;
    errors_init(&err, req->arena);
    int64_t quantity = 0;
    if (!input_count(http_body(req), "quantity", "quantity", -1, "Quantity must be at least 1.",
                     &quantity, &err)) {
        reply_errors(req, &err);
        return;
    }
    enum cart_add_result result;
    rc = cart_update_line(&req->ctx, id, quantity, 0, &result, &line);
    if (rc == SHOP_ENOTFOUND) { /* removed meanwhile */
        http_reply_detail(req, 404, MSG_NOT_FOUND);
        return;
    }
    if (rc != SHOP_OK) {
        http_reply_internal(req);
        return;
    }
    switch (result) {
    case CART_ADDED:
        http_reply_json(req, 200, cart_item_object(req, &line));
        break;
    case CART_NO_STOCK:
        reply_error(req, 400, "Insufficient stock");
        break;
    case CART_NO_PRODUCT: /* the product was deactivated since it was added */
        reply_error(req, 400, MSG_NO_PRODUCT);
        break;
    case CART_BAD_QUANTITY:
        reply_field_error(req, "quantity", "Ensure this value is less than or equal to 1000000.");
        break;
    }
}

/* ---- 30. remove a cart item ---- */

void v1_cart_item_delete(struct http_request *req)
{
    int rc = cart_remove_line(&req->ctx, http_param_int(req, "id"));
    if (rc == SHOP_ENOTFOUND) {
        http_reply_detail(req, 404, MSG_NOT_FOUND);
        return;
    }
    if (rc != SHOP_OK) {
        http_reply_internal(req);
        return;
    }
    reply_message(req, "Cart item removed successfully");
}

/* ---- 31. checkout ---- */

void v1_cart_checkout(struct http_request *req)
{
    struct order_idem idem;
    if (!idem_begin(req, "v1.checkout", &idem))
        return;
    struct json_object *body = http_body(req);
    struct errors err;
    errors_init(&err, req->arena);
    struct checkout_input in = {.kind = CHECKOUT_V1};
    input_string(req, body, "shipping_address", INPUT_REQUIRED | INPUT_TRIM, &in.shipping_address,
                 &err);
    input_string(req, body, "billing_address", INPUT_REQUIRED | INPUT_TRIM, &in.billing_address,
                 &err);
    input_bool(body, "clear_cart", true, &in.clear_cart, &err);
    if (errors_any(&err)) {
        reply_errors(req, &err);
        return;
    }
    struct checkout_out out;
    memset(&out, 0, sizeof(out));
    int rc = order_checkout(&req->ctx, &in, &idem, &err, &out);
    if (rc == SHOP_EDB) {
        http_reply_internal(req);
        return;
    }
    if (idem_answered(req, &idem))
        return;
    if (rc == SHOP_EINVAL) {
        if (!errors_any(&err))
            errors_add(&err, ERRORS_NON_FIELD, "Invalid data.");
        reply_errors(req, &err);
        return;
    }
    if (rc != SHOP_OK) {
        http_reply_internal(req);
        return;
    }
    switch (out.result) {
    case CHECKOUT_OK:
        reply_new_order(req, &idem, &out.order);
        break;
    case CHECKOUT_EMPTY:
        reply_error(req, 400, "Cart is empty");
        break;
    case CHECKOUT_NO_STOCK:
        reply_error(req, 400,
                    out.first_short_name != NULL
                        ? arena_sprintf(req->arena, "Insufficient stock for %s",
                                        out.first_short_name)
                        : "Insufficient stock");
        break;
    default: /* shop-only outcomes: the v1 kind never produces them */
        http_reply_internal(req);
        break;
    }
}

/* ---- 17. list orders ---- */

void v1_orders_list(struct http_request *req)
{
    /* not paginated: the document shows a bare array */
    struct order *orders = NULL;
    size_t n = 0;
    int64_t count = 0;
    struct product_set set;
    if (order_list(&req->ctx, true, true, 0, 0, &orders, &n, &count) != SHOP_OK ||
        product_set_load(req, orders, n, &set) != SHOP_OK) {
        http_reply_internal(req);
        return;
    }
    struct json_object *list = json_object_new_array_ext((int)n);
    for (size_t i = 0; i < n; i++)
        json_object_array_add(list, order_object(req, &set, &orders[i]));
    http_reply_json(req, 200, list);
}

/* ---- 18. create an order ---- */

/* The request's items: every problem at once, per line under
 * "items.<i>.<field>" as the core names them. */
static bool read_items(struct json_object *body, struct arena *a, struct order_item_input **out,
                       size_t *n_out, struct errors *err)
{
    struct json_object *v = NULL;
    *out = NULL;
    *n_out = 0;
    if (!input_value(body, "items", true, &v, err))
        return false;
    if (json_object_get_type(v) != json_type_array) {
        errors_add(err, "items",
                   arena_sprintf(a, "Expected a list of items but got type \"%s\".",
                                 http_json_type_name(v)));
        return false;
    }
    size_t n = json_object_array_length(v);
    if (n == 0) {
        errors_add(err, "items", "This list may not be empty.");
        return false;
    }
    if (n > ORDER_ITEMS_MAX) {
        errors_add(err, "items",
                   arena_sprintf(a, "Ensure this field has no more than %d elements.",
                                 ORDER_ITEMS_MAX));
        return false;
    }
    struct order_item_input *items = arena_alloc(a, n * sizeof(*items));
    bool ok = true;
    for (size_t i = 0; i < n; i++) {
        struct json_object *item = json_object_array_get_idx(v, i);
        if (json_object_get_type(item) != json_type_object) {
            errors_add(err, arena_sprintf(a, "items.%zu.%s", i, ERRORS_NON_FIELD),
                       arena_sprintf(a, "Invalid data. Expected a dictionary, but got %s.",
                                     http_json_type_name(item)));
            ok = false;
            continue;
        }
        ok &= input_product_id(item, arena_sprintf(a, "items.%zu.product_id", i),
                               &items[i].product_id, err);
        ok &= input_count(item, "quantity", arena_sprintf(a, "items.%zu.quantity", i), 1,
                          "Ensure this value is greater than or equal to 1.",
                          &items[i].quantity, err);
    }
    *out = items;
    *n_out = n;
    return ok;
}

/* {"items": [{}, {"product_id": [...]}], "field": [...], ...}: DRF's
 * nested list errors, one object per request line ({} for a good line),
 * from the flat "items.<i>.<field>" names. */
static struct json_object *order_errors_object(struct arena *a, const struct errors *err,
                                               size_t n_items)
{
    struct json_object *obj = json_object_new_object();
    for (const struct field_error *fe = err->head; fe; fe = fe->next) {
        struct json_object *target = obj;
        const char *field = fe->field;
        const char *rest = strncmp(field, "items.", 6) == 0 ? field + 6 : NULL;
        char *end = NULL;
        unsigned long long idx = 0;
        if (rest != NULL && isdigit((unsigned char)*rest)) {
            idx = strtoull(rest, &end, 10);
            if (*end != '.')
                end = NULL;
        }
        if (end != NULL) {
            struct json_object *items = NULL;
            if (!json_object_object_get_ex(obj, "items", &items) ||
                json_object_get_type(items) != json_type_array) {
                items = json_object_new_array();
                json_object_object_add(obj, "items", items);
            }
            size_t want = n_items > idx ? n_items : (size_t)idx + 1;
            while (json_object_array_length(items) < want)
                json_object_array_add(items, json_object_new_object());
            target = json_object_array_get_idx(items, (size_t)idx);
            field = end + 1;
        }
        struct json_object *list = NULL;
        if (!json_object_object_get_ex(target, field, &list) ||
            json_object_get_type(list) != json_type_array) {
            list = json_object_new_array();
            json_object_object_add(target, field, list);
        }
        json_object_array_add(list, json_object_new_string(fe->message));
    }
    return obj;
}

void v1_orders_create(struct http_request *req)
{
    struct order_idem idem;
    if (!idem_begin(req, "v1.orders", &idem))
        return;
    struct json_object *body = http_body(req);
    struct errors err;
    errors_init(&err, req->arena);
    const char *shipping, *billing;
    input_string(req, body, "shipping_address", INPUT_REQUIRED | INPUT_TRIM, &shipping, &err);
    input_string(req, body, "billing_address", INPUT_REQUIRED | INPUT_TRIM, &billing, &err);
    struct order_item_input *items;
    size_t n_items;
    read_items(body, req->arena, &items, &n_items, &err);
    if (errors_any(&err)) {
        http_reply_json(req, 400, order_errors_object(req->arena, &err, n_items));
        return;
    }
    struct order o;
    int rc = order_create(&req->ctx, shipping, billing, items, n_items,
                         &idem, &err, &o);
    if (rc == SHOP_EDB) {
        http_reply_internal(req);
        return;
    }
    if (idem_answered(req, &idem))
        return;
    if (rc == SHOP_EINVAL || rc == SHOP_ECONFLICT) {
        if (!errors_any(&err))
            errors_add(&err, ERRORS_NON_FIELD, "Invalid data.");
        http_reply_json(req, 400, order_errors_object(req->arena, &err, n_items));
        return;
    }
    if (rc != SHOP_OK) {
        http_reply_internal(req);
        return;
    }
    reply_new_order(req, &idem, &o);
}

/* ---- 19. order detail ---- */

/* 404 / 403 / 500 for a failed order read; true when it answered. */
static bool reply_order_failure(struct http_request *req, int rc)
{
    switch (rc) {
    case SHOP_OK:
        return false;
    case SHOP_ENOTFOUND:
        http_reply_detail(req, 404, MSG_NOT_FOUND);
        break;
    case SHOP_EFORBIDDEN:
        http_reply_detail(req, 403, MSG_ORDER_FORBIDDEN);
        break;
    default:
        http_reply_internal(req);
        break;
    }
    return true;
}

void v1_order_get(struct http_request *req)
{
    struct order o;
    if (reply_order_failure(req, order_get(&req->ctx, http_param_int(req, "id"), &o)))
        return;
    struct json_object *obj = order_json(req, &o);
    if (obj != NULL)
        http_reply_json(req, 200, obj);
}

/* ---- 20. update an order ---- */

/*
 * PUT and PATCH alike: every writable field (status, shipping_address,
 * billing_address) is optional in both. The document shows a partial body
 * only, and the order's lines and amounts are not writable, so a PUT that
 * required the addresses would only make clients resend what they read.
 */
void v1_order_update(struct http_request *req)
{
    int64_t id = http_param_int(req, "id");
    /* looked up first, as DRF does: 404 / 403 whatever the body, and a
     * customer's non-pending order is refused before its body is read
     * (the core checks this again inside its transaction) */
    struct order o;
    if (reply_order_failure(req, order_get(&req->ctx, id, &o)))
        return;
    if (!user_is_admin(req->ctx.user) && o.status != ORDER_PENDING) {
        reply_error(req, 400, "Only pending orders can be updated");
        return;
    }
    struct json_object *body = http_body(req);
    struct errors err;
    errors_init(&err, req->arena);
    struct order_patch patch = {0};
    const char *status = NULL;
    if (input_string(req, body, "status", INPUT_ALLOW_BLANK, &status, &err) && status != NULL) {
        /* a ChoiceField of v1's lower-case names */
        enum order_status s;
        if (order_status_parse(status, &s) && strcmp(order_status_name(s), status) == 0) {
            patch.has_status = true;
            patch.status = s;
        } else {
            errors_add(&err, "status",
                       arena_sprintf(req->arena, "\"%s\" is not a valid choice.", status));
        }
    }
    input_string(req, body, "shipping_address", INPUT_TRIM, &patch.shipping_address, &err);
    input_string(req, body, "billing_address", INPUT_TRIM, &patch.billing_address, &err);
    if (errors_any(&err)) {
        reply_errors(req, &err);
        return;
    }
    int rc = order_update(&req->ctx, id, &patch, &err, &o);
    if (rc == SHOP_ECONFLICT) {
        reply_error(req, 400, non_field_message(&err, "Only pending orders can be updated"));
        return;
    }
    if (rc == SHOP_EINVAL) {
        if (!errors_any(&err))
            errors_add(&err, ERRORS_NON_FIELD, "Invalid data.");
        reply_errors(req, &err);
        return;
    }
    if (reply_order_failure(req, rc))
        return;
    struct json_object *obj = order_json(req, &o);
    if (obj != NULL)
        http_reply_json(req, 200, obj);
}

/* ---- 21. delete an order ---- */

void v1_order_delete(struct http_request *req)
{
    int rc = order_delete(&req->ctx, http_param_int(req, "id"));
    if (rc == SHOP_ECONFLICT) {
        reply_error(req, 400, "Only pending orders can be deleted");
        return;
    }
    if (reply_order_failure(req, rc))
        return;
    reply_message(req, "Order deleted successfully");
}

/* ---- 32. reports ---- */

void v1_reports_summary(struct http_request *req)
{
    if (!user_is_admin(req->ctx.user)) {
        reply_error(req, 403, "Only admins can access reports");
        return;
    }
    struct order_report r;
    int rc = order_report(&req->ctx, &r);
    if (rc == SHOP_EFORBIDDEN) {
        reply_error(req, 403, "Only admins can access reports");
        return;
    }
    if (rc != SHOP_OK) {
        http_reply_internal(req);
        return;
    }
    struct json_object *obj = json_object_new_object();
    json_object_object_add(obj, "total_orders", json_object_new_int64(r.total_orders));
    json_object_object_add(obj, "total_revenue", money_number(req->arena, r.revenue_minor));
    json_object_object_add(obj, "paid_orders", json_object_new_int64(r.paid_orders));
    json_object_object_add(obj, "pending_orders", json_object_new_int64(r.pending_orders));
    http_reply_json(req, 200, obj);
}
