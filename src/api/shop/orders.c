/*
 * orders.c - /api/orders/: checkout (the cart becomes an order: GST, the
 * simulated payment, stock taken, the confirmation email with the PDF
 * invoice), history, detail, cancel and the invoice PDF, over core's one
 * order model (order.h).
 *
 * Statuses show in upper case (core names them in v1's lower case). A
 * customer sees only their own orders, an admin every order; anybody
 * else's order number is 404, so numbers cannot be probed. Checkout honours
 * Idempotency-Key (scope "shop.checkout"): the first answer is stored and
 * replayed byte for byte. docs/surfaces/shop.md ("Cart and orders") lists
 * the decisions.
 */
#include <ctype.h>
#include <stdint.h>
#include <string.h>

#include <json-c/json.h>

#include "api/shop/shop.h"
#include "core/cart.h"
#include "core/core.h"
#include "core/invoice.h"
#include "core/order.h"
#include "util/arena.h"
#include "util/money.h"
#include "util/time.h"

#define ADDRESS_REQUIRED "address_id is required"
#define ADDRESS_NOT_FOUND "Address not found"
#define CART_EMPTY "Cart is empty"
#define STOCK_PROBLEMS "Not enough stock for the following items"
#define BAD_PAYMENT_DATA "payment_data must be an object with a boolean simulate_failure."
#define PAYMENT_DECLINED "Payment failed"
#define PAYMENT_DECLINED_DETAIL                                                                  \
    "The payment was declined. No stock was taken and your cart was kept; you can try again."
#define ORDER_NOT_FOUND "Order not found"
#define NOT_CANCELLABLE "Only PENDING or PROCESSING orders can be cancelled."
#define IDEM_INVALID "Invalid Idempotency-Key header."
#define IDEM_MISMATCH "Idempotency-Key was already used with a different request."
#define IDEM_SCOPE "shop.checkout"

/* ---- serializers ---- */

/* "PROCESSING": core's name, upper-cased. */
static struct json_object *status_json(enum order_status s)
{
    const char *name = order_status_name(s);
    char up[32];
    size_t i = 0;
    for (; name[i] && i + 1 < sizeof(up); i++)
        up[i] = (char)toupper((unsigned char)name[i]);
    up[i] = '\0';
    return json_object_new_string(up);
}

static struct json_object *item_json(const struct order_item *it)
{
    struct json_object *obj = json_object_new_object();
    json_object_object_add(obj, "product_id",
                           it->product_id ? json_object_new_int64(it->product_id) : NULL);
    json_object_object_add(obj, "product_name", json_object_new_string(it->product_name));
    json_object_object_add(obj, "weight", json_object_new_string(it->weight ? it->weight : ""));
    json_object_object_add(obj, "quantity", json_object_new_int64(it->quantity));
    json_object_object_add(obj, "unit_price", http_json_money(it->unit_price_minor));
    json_object_object_add(obj, "total_price", http_json_money(it->line_total_minor));
    return obj;
}

/* The checkout answer; detail adds the shipping address as text and
 * updated_at. total_price is the grand total (what was charged), as the
 * document's checkout and history show one amount. */
static struct json_object *order_json(const struct order *o, bool detail)
{
    struct json_object *obj = json_object_new_object();
    json_object_object_add(obj, "order_number", json_object_new_string(o->order_number));
    json_object_object_add(obj, "user", json_object_new_int64(o->user_id));
    json_object_object_add(obj, "address",
                           o->address_id ? json_object_new_int64(o->address_id) : NULL);
    if (detail)
        json_object_object_add(
            obj, "shipping_address",
            json_object_new_string(o->shipping_address ? o->shipping_address : ""));
    json_object_object_add(obj, "total_price", http_json_money(o->total_minor));
    json_object_object_add(obj, "subtotal", http_json_money(o->subtotal_minor));
    json_object_object_add(obj, "gst", http_json_money(o->tax_minor));
    json_object_object_add(obj, "grand_total", http_json_money(o->total_minor));
    json_object_object_add(obj, "payment_status",
                           json_object_new_string(payment_status_name(o->payment_status)));
    json_object_object_add(obj, "status", status_json(o->status));
    struct json_object *items = json_object_new_array_ext((int)o->n_items);
    for (size_t i = 0; i < o->n_items; i++)
        json_object_array_add(items, item_json(&o->items[i]));
    json_object_object_add(obj, "items", items);
    json_object_object_add(obj, "created_at", http_json_time(o->created_at));
    if (detail)
        json_object_object_add(obj, "updated_at", http_json_time(o->updated_at));
    return obj;
}

static struct json_object *history_item_json(const struct order *o)
{
    struct json_object *obj = json_object_new_object();
    json_object_object_add(obj, "order_number", json_object_new_string(o->order_number));
    json_object_object_add(obj, "total_price", http_json_money(o->total_minor));
    json_object_object_add(obj, "status", status_json(o->status));
    json_object_object_add(obj, "payment_status",
                           json_object_new_string(payment_status_name(o->payment_status)));
    json_object_object_add(obj, "created_at", http_json_time(o->created_at));
    return obj;
}

/* ---- checkout ---- */

/* payment_data is optional; when given it is an object whose
 * simulate_failure, if present, is a boolean (or null: false). */
static bool read_payment_data(struct json_object *body, bool *simulate_failure)
{
    struct json_object *pd = NULL, *sf = NULL;
    *simulate_failure = false;
    if (!json_object_object_get_ex(body, "payment_data", &pd) ||
        json_object_is_type(pd, json_type_null))
        return true;
    if (!json_object_is_type(pd, json_type_object))
        return false;
    if (!json_object_object_get_ex(pd, "simulate_failure", &sf) ||
        json_object_is_type(sf, json_type_null))
        return true;
    if (!json_object_is_type(sf, json_type_boolean))
        return false;
    *simulate_failure = json_object_get_boolean(sf);
    return true;
}

/* The answer for a checkout that ran; status in *status. */
static struct json_object *checkout_answer(struct http_request *req,
                                           const struct checkout_out *out, int *status)
{
    struct json_object *obj;
    switch (out->result) {
    case CHECKOUT_OK:
        *status = 201;
        return order_json(&out->order, false);
    case CHECKOUT_PAYMENT_FAILED:
        *status = 400;
        obj = json_object_new_object();
        json_object_object_add(obj, "error", json_object_new_string(PAYMENT_DECLINED));
        json_object_object_add(obj, "detail", json_object_new_string(PAYMENT_DECLINED_DETAIL));
        json_object_object_add(obj, "order_number",
                               json_object_new_string(out->order.order_number));
        json_object_object_add(obj, "payment_status",
                               json_object_new_string(payment_status_name(PAYMENT_FAILED)));
        return obj;
    case CHECKOUT_NO_STOCK:
        *status = 400;
        obj = json_object_new_object();
        json_object_object_add(obj, "error", json_object_new_string(STOCK_PROBLEMS));
        json_object_object_add(
            obj, "details", shop_cart_problems_json(req->arena, out->problems, out->n_problems));
        return obj;
    case CHECKOUT_NO_ADDRESS:
        *status = 404;
        break;
    case CHECKOUT_EMPTY:
        *status = 400;
        break;
    }
    obj = json_object_new_object();
    json_object_object_add(
        obj, "error",
        json_object_new_string(out->result == CHECKOUT_NO_ADDRESS ? ADDRESS_NOT_FOUND : CART_EMPTY));
    return obj;
}

/* A replayed request: the stored answer byte for byte, else the answer the
 * first request got, built again from its order (order_checkout loaded it,
 * and a declined payment answers as declined). */
static void reply_replay(struct http_request *req, const struct order_idem *idem,
                         const struct checkout_out *out)
{
    if (idem->status_code != 0 && idem->response != NULL) {
        http_reply_bytes(req, idem->status_code, "application/json", idem->response,
                         strlen(idem->response));
        return;
    }
    if (out->order.id == 0) { /* the order was deleted since */
        shop_reply_error(req, 404, ORDER_NOT_FOUND);
        return;
    }
    int status = 500;
    struct json_object *answer = checkout_answer(req, out, &status);
    http_reply_json(req, status, answer);
}

void shop_checkout(struct http_request *req)
{
    struct json_object *body = http_body(req), *v = NULL;
    struct checkout_input in = {.kind = CHECKOUT_SHOP};
    if (!json_object_object_get_ex(body, "address_id", &v) || !shop_input_id(v, &in.address_id)) {
        shop_reply_error(req, 400, ADDRESS_REQUIRED);
        return;
    }
    if (!read_payment_data(body, &in.simulate_failure)) {
        shop_reply_error(req, 400, BAD_PAYMENT_DATA);
        return;
    }
    struct order_idem idem = {.scope = IDEM_SCOPE};
    const char *key = http_header(req, "Idempotency-Key");
    if (key != NULL) {
        if (!order_idem_key_valid(key)) {
            shop_reply_error(req, 400, IDEM_INVALID);
            return;
        }
        idem.key = key;
        idem.fingerprint =
            order_idem_fingerprint(&req->ctx, req->method, req->path, req->body.p, req->body.n);
    }
    struct errors err;
    errors_init(&err, req->arena);
    struct checkout_out out;
    memset(&out, 0, sizeof(out));
    int rc = order_checkout(&req->ctx, &in, &idem, &err, &out);
    if (rc == SHOP_EINVAL && err.head != NULL) {
        /* what the cart cannot be turned into (a total past what money
         * can hold): the client's to fix, in the surface's words */
        shop_reply_error(req, 400, err.head->message);
        return;
    }
    if (rc != SHOP_OK) {
        shop_reply_internal(req);
        return;
    }
    if (key != NULL && idem.state == ORDER_IDEM_MISMATCH) {
        shop_reply_error(req, 422, IDEM_MISMATCH);
        return;
    }
    if (key != NULL && idem.state == ORDER_IDEM_REPLAY) {
        reply_replay(req, &idem, &out);
        return;
    }
    int status = 500;
    struct json_object *answer = checkout_answer(req, &out, &status);
    bool made_order = out.result == CHECKOUT_OK || out.result == CHECKOUT_PAYMENT_FAILED;
    if (key == NULL || idem.row_id == 0 || !made_order) {
        http_reply_json(req, status, answer);
        return;
    }
    /* Printed here, as the server would print it, so that the stored text
     * and the text sent are the same bytes. */
    size_t len = 0;
    const char *text = json_object_to_json_string_length(
        answer, JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE, &len);
    order_idem_store(&req->ctx, idem.row_id, status, text, len);
    http_reply_bytes(req, status, "application/json", text, len);
    json_object_put(answer);
}

/* ---- reading and changing ---- */

void shop_orders_history(struct http_request *req)
{
    struct order *orders = NULL;
    size_t n = 0;
    int64_t count = 0;
    if (order_list(&req->ctx, false, false, 0, 0, &orders, &n, &count) != SHOP_OK) {
        shop_reply_internal(req);
        return;
    }
    struct json_object *list = json_object_new_array_ext((int)n);
    for (size_t i = 0; i < n; i++)
        json_object_array_add(list, history_item_json(&orders[i]));
    http_reply_json(req, 200, list);
}

/* The order named by the path, or the 404 (another user's order included)
 * / 500 answered; true when *o was read. */
static bool load_order(struct http_request *req, struct order *o)
{
    int rc = order_get_by_number(&req->ctx, http_param(req, "order_number"), o);
    if (rc == SHOP_OK)
        return true;
    if (rc == SHOP_ENOTFOUND || rc == SHOP_EFORBIDDEN)
        shop_reply_error(req, 404, ORDER_NOT_FOUND);
    else
        shop_reply_internal(req);
    return false;
}

void shop_order_get(struct http_request *req)
{
    struct order o;
    if (load_order(req, &o))
        http_reply_json(req, 200, order_json(&o, true));
}

void shop_order_cancel(struct http_request *req)
{
    struct order o;
    int rc = order_cancel(&req->ctx, http_param(req, "order_number"), &o);
    switch (rc) {
    case SHOP_OK: {
        struct json_object *obj = json_object_new_object();
        json_object_object_add(obj, "status", json_object_new_string("Order cancelled"));
        json_object_object_add(obj, "order_number", json_object_new_string(o.order_number));
        json_object_object_add(obj, "order_status", status_json(o.status));
        http_reply_json(req, 200, obj);
        break;
    }
    case SHOP_ENOTFOUND:
    case SHOP_EFORBIDDEN:
        shop_reply_error(req, 404, ORDER_NOT_FOUND);
        break;
    case SHOP_ECONFLICT:
        shop_reply_error(req, 400, NOT_CANCELLABLE);
        break;
    default:
        shop_reply_internal(req);
    }
}

void shop_order_invoice(struct http_request *req)
{
    struct order o;
    if (!load_order(req, &o))
        return;
    const unsigned char *pdf = NULL;
    size_t len = 0;
    if (invoice_pdf(req->arena, req->ctx.cfg, &o, &pdf, &len) != 0) {
        shop_reply_internal(req);
        return;
    }
    http_reply_bytes(req, 200, "application/pdf", pdf, len);
    http_add_header(req, "Content-Disposition",
                    arena_sprintf(req->arena, "attachment; filename=\"%s\"",
                                  invoice_filename(req->arena, &o)));
}
