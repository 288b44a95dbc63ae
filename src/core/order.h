/*
 * order.h - one order model for every surface: orders, their lines, the
 * status state machine, checkout (stock taken with a conditional decrement
 * inside the order's transaction), cancellation (stock given back exactly
 * once), reports, and Idempotency-Key records.
 *
 * Surfaces render the model in their own vocabulary: order_status_name
 * gives v1's lower-case names, the shop surface upper-cases them.
 *
 * Stock: every line's quantity is taken from its variant with
 *   UPDATE product_variants SET inventory = inventory - n
 *    WHERE id = ? AND inventory >= n
 * in the transaction that inserts the order; one line whose update changes
 * no row rolls everything back. An order holds its stock (stock_held) from
 * creation until it is cancelled or deleted before completion; the change
 * that ends the hold is one conditional UPDATE of the order row
 * (... WHERE id = ? AND stock_held), so the stock comes back exactly once
 * however many requests race to cancel.
 *
 * Permissions are checked here, against ctx->user (an admin is
 * user_is_admin): a customer sees and changes only their own orders.
 * ctx->user NULL is the system (job runner, command line): everything is
 * visible to it, as to an admin.
 * Everything returned lives in ctx->arena.
 */
#ifndef SHOPD_CORE_ORDER_H
#define SHOPD_CORE_ORDER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct ctx;
struct errors;
struct cart;

#define ORDER_NUMBER_LEN 12 /* "ORD-" + 8 characters of [A-Z0-9] */
#define ORDER_GST_BP 1800   /* 18 %, in basis points, on the subtotal */
#define ORDER_ITEMS_MAX 100 /* lines in one order */
/* The largest order total (tax included), in minor units: 10^15, the bound
 * money_parse puts on any one price. A larger cart is refused ("The order
 * total is too large."), which also keeps every sum over orders (reports)
 * far from overflowing. */
#define ORDER_TOTAL_MAX INT64_C(1000000000000000)

enum order_status {
    ORDER_PENDING = 0, /* created, not paid */
    ORDER_PROCESSING,  /* paid (shop checkout) or being processed */
    ORDER_COMPLETED,   /* payment successful and order completed */
    ORDER_CANCELLED,
    ORDER_STATUS_COUNT
};

enum payment_status {
    PAYMENT_PENDING = 0,
    PAYMENT_COMPLETED,
    PAYMENT_FAILED,
    PAYMENT_REFUNDED,
    PAYMENT_STATUS_COUNT
};

/* "pending", "processing", "completed", "cancelled" (v1's words; the shop
 * surface shows them upper-case). */
const char *order_status_name(enum order_status s);
/* Parses a lower-case or upper-case name; false for anything else. */
bool order_status_parse(const char *s, enum order_status *out);
/* "PENDING", "COMPLETED", "FAILED", "REFUNDED" */
const char *payment_status_name(enum payment_status s);

/* The state machine, as one table: may an order go from -> to? Staying in
 * the same status is always allowed (a no-op). pending -> processing,
 * completed, cancelled; processing -> completed, cancelled; completed and
 * cancelled are final. */
bool order_transition_allowed(enum order_status from, enum order_status to);

struct order_item {
    int64_t id;
    int64_t product_id; /* 0: the product was deleted since */
    int64_t variant_id; /* 0: the variant was deleted since */
    const char *product_name; /* copied at checkout */
    const char *weight;       /* copied at checkout */
    int64_t quantity;
    int64_t unit_price_minor; /* copied at checkout */
    int64_t line_total_minor;
    int64_t created_at;
};

struct order {
    int64_t id;
    const char *order_number; /* "ORD-XXXXXXXX" */
    int64_t user_id;
    const char *user_email;
    enum order_status status;
    enum payment_status payment_status;
    int64_t subtotal_minor;
    int tax_rate_bp;   /* 1800 for shop checkouts, 0 for v1 orders */
    int64_t tax_minor; /* GST */
    int64_t total_minor; /* subtotal + tax */
    int64_t address_id;  /* the shop address chosen at checkout; 0: none / deleted */
    const char *shipping_address; /* text, copied at checkout */
    const char *billing_address;
    bool stock_held;
    const char *stripe_payment_intent_id; /* NULL until payments fill them */
    const char *client_secret;
    const char *crm_sync_status;
    struct order_item *items;
    size_t n_items;
    int64_t created_at;
    int64_t updated_at;
};

/* GST of a subtotal at rate_bp basis points, rounded half up to the minor
 * unit. */
int64_t order_tax(int64_t subtotal_minor, int rate_bp);
/* The tax and total an order of this subtotal would have; false when the
 * total passes ORDER_TOTAL_MAX (the order is refused: "The order total is
 * too large."). The one place that rule lives: checkout, order creation and
 * the shop's cart summary all ask here. */
bool order_total(int64_t subtotal_minor, int rate_bp, int64_t *tax, int64_t *total);

/* ---- Idempotency-Key ----
 *
 * A request that creates an order may carry a key. The surface computes a
 * fingerprint of the request (order_idem_fingerprint) and passes both in
 * struct order_idem; the create call then, inside its transaction:
 *  - finds no row for (user, scope, key): inserts one with the fingerprint
 *    and, when the order is made, its id (the row commits with the order;
 *    a refused request (bad input, no stock) stores nothing, so a retry
 *    runs again);
 *  - finds a row with another fingerprint: ORDER_IDEM_MISMATCH, nothing done
 *    (the surface answers 422);
 *  - finds a row with the same fingerprint: ORDER_IDEM_REPLAY, nothing
 *    done; idem->status_code / idem->response hold the first response when
 *    it was stored (order_idem_store), else idem->order_id is the order to
 *    render again (201).
 * Two identical requests at once: one creates, the other waits for its
 * commit and replays (SQLite's write lock; on PostgreSQL the unique index
 * makes the second roll back and look again). Keys are 1-255 visible
 * ASCII characters; a row is forgotten after ORDER_IDEM_TTL seconds. */
#define ORDER_IDEM_TTL (24 * 3600)

enum order_idem_state {
    ORDER_IDEM_NONE = 0, /* no key given, or a fresh key: proceed */
    ORDER_IDEM_REPLAY,
    ORDER_IDEM_MISMATCH,
};

struct order_idem {
    /* in */
    const char *key;         /* NULL: no Idempotency-Key */
    const char *scope;       /* "v1.orders", "v1.checkout", "shop.checkout" */
    const char *fingerprint; /* order_idem_fingerprint */
    /* out */
    enum order_idem_state state;
    int64_t row_id;      /* the idempotency row, for order_idem_store */
    int64_t order_id;    /* on replay: the order the first request made (0: none) */
    int status_code;     /* on replay: the stored status (0: not stored) */
    const char *response; /* on replay: the stored body */
};

/* false (with nothing written) when key is not 1-255 visible ASCII characters (0x21-0x7e). */
bool order_idem_key_valid(const char *key);
/* Hex SHA-256 of method, path and body, in ctx->arena. */
const char *order_idem_fingerprint(struct ctx *ctx, const char *method, const char *path,
                                   const char *body, size_t body_len);
/* Records the response the first request got, so replays return it byte
 * for byte. Best effort: a failure is logged (replays then render the order
 * again). */
void order_idem_store(struct ctx *ctx, int64_t row_id, int status_code, const char *body,
                      size_t len);

/* ---- creating orders ---- */

struct order_item_input {
    int64_t product_id; /* v1: the product's v1 variant (cart_v1_variant) */
    int64_t quantity;
};

/* v1 POST /orders/: items given in the request. Validation (SHOP_EINVAL
 * with err): shipping_address / billing_address required ("This field is
 * required.", "This field may not be blank."); items required, a non-empty
 * list of at most ORDER_ITEMS_MAX; per item i, field "items.<i>.product_id"
 * "Product not found or inactive" and "items.<i>.quantity" "Ensure this
 * value is greater than or equal to 1."; a line without enough stock:
 * non_field_errors "Insufficient stock" (nothing written). The same product
 * twice is one line with the quantities added. Status pending, payment
 * PENDING, tax rate 0. Queues the confirmation email (order_mail). */
int order_create(struct ctx *ctx, const char *shipping_address, const char *billing_address,
                 const struct order_item_input *items, size_t n_items, struct order_idem *idem,
                 struct errors *err, struct order *out);

enum checkout_kind {
    CHECKOUT_V1,   /* pending, payment PENDING, no tax; addresses given as text */
    CHECKOUT_SHOP, /* GST 18 %, the simulated payment, address_id */
};

struct checkout_input {
    enum checkout_kind kind;
    /* v1 */
    const char *shipping_address;
    const char *billing_address;
    bool clear_cart; /* v1: default true; shop: always cleared on success */
    /* shop */
    int64_t address_id;     /* one of ctx->user's addresses */
    bool simulate_failure;  /* payment_data.simulate_failure */
};

enum checkout_result {
    CHECKOUT_OK = 0,
    CHECKOUT_EMPTY,          /* no cart or no lines */
    CHECKOUT_NO_STOCK,       /* problems[] says which lines (nothing written) */
    CHECKOUT_NO_ADDRESS,     /* shop: address_id is not one of the user's */
    CHECKOUT_PAYMENT_FAILED, /* shop: the order exists, cancelled, payment FAILED,
                              * stock given back in the same transaction, cart kept */
};

struct checkout_out {
    enum checkout_result result;
    struct cart_problem *problems; /* CHECKOUT_NO_STOCK: the refused lines */
    size_t n_problems;
    const char *first_short_name; /* the first refused line's product name */
    struct order order;            /* CHECKOUT_OK, CHECKOUT_PAYMENT_FAILED */
};

/* Turns ctx->user's cart into an order in one write transaction: copies
 * names, weights and current prices into the lines, takes the stock
 * (conditional decrement per line), and for the shop charges the simulated
 * gateway (payment_simulate): success -> processing / COMPLETED, cart
 * cleared, confirmation email with the PDF invoice queued; failure ->
 * CHECKOUT_PAYMENT_FAILED as above, no email. Returns SHOP_OK with
 * out->result, SHOP_EINVAL with err for bad v1 addresses, SHOP_EDB. */
int order_checkout(struct ctx *ctx, const struct checkout_input *in, struct order_idem *idem,
                   struct errors *err, struct checkout_out *out);

/* The built-in simulated gateway: succeeds unless told to fail. Fills a
 * reference ("sim_<hex>") in *reference. */
bool payment_simulate(struct ctx *ctx, int64_t amount_minor, bool simulate_failure,
                      const char **reference);

/* ---- reading ---- */

/* By id / by order number, with lines and the owner's email. A customer
 * asking for another user's order: SHOP_EFORBIDDEN (v1 answers 403 with its
 * message; the shop surface answers 404 so numbers cannot be probed). */
int order_get(struct ctx *ctx, int64_t id, struct order *out);
int order_get_by_number(struct ctx *ctx, const char *number, struct order *out);

/* A customer's own orders, an admin's every order (all_users true and
 * admin; a customer always gets their own), newest first, with lines
 * (with_items). limit 0: all. */
int order_list(struct ctx *ctx, bool all_users, bool with_items, int64_t offset, int64_t limit,
               struct order **out, size_t *n, int64_t *count);

/* ---- changing ---- */

struct order_patch {
    bool has_status;
    enum order_status status;
    const char *shipping_address; /* NULL: unchanged */
    const char *billing_address;
};

/* v1 PUT/PATCH. Customers: only their own, only while pending
 * (SHOP_ECONFLICT, err non_field_errors "Only pending orders can be
 * updated"), and the only status a customer may set is cancelled
 * (err "status": "You do not have permission to set this status."). Admins:
 * any order, any status change the state machine allows (err "status":
 * "Cannot change status from X to Y."). Blank addresses: "This field may
 * not be blank.". Cancelling gives the stock back; a status change queues
 * the status email (order_mail). SHOP_EINVAL with err for bad input. */
int order_update(struct ctx *ctx, int64_t id, const struct order_patch *p, struct errors *err,
                 struct order *out);

/* Cancels (shop: only pending or processing, else SHOP_ECONFLICT), gives
 * the stock back exactly once, marks a COMPLETED payment REFUNDED, queues
 * the cancellation email. Owner or admin. */
int order_cancel(struct ctx *ctx, const char *number, struct order *out);

/* v1 DELETE: customers only their own pending orders (SHOP_ECONFLICT), admins
 * any. An order still holding stock gives it back first. */
int order_delete(struct ctx *ctx, int64_t id);

/* ---- reports ---- */

struct order_report {
    int64_t total_orders;
    int64_t revenue_minor; /* sum of total_minor over paid orders; INT64_MAX past it */
    int64_t paid_orders;   /* payment COMPLETED, or status completed */
    int64_t pending_orders; /* status pending */
};

/* Admins only (SHOP_EFORBIDDEN). One query. */
int order_report(struct ctx *ctx, struct order_report *out);

#endif
