/*
 * order.c - orders for every surface (see order.h), over the tables of
 * migration 0005_orders.
 *
 * Every write runs in one write transaction (run_tx): SQLite's write lock
 * orders them; on PostgreSQL the order row is read FOR UPDATE before it
 * changes, and a checkout first locks the user's cart row, so two checkouts
 * of one cart run one after the other (the second finds it empty).
 *
 * Stock is taken with one conditional decrement per line (which also
 * refuses an inactive product), in variant id order so that two orders
 * sharing variants cannot deadlock, before the order row and its lines are
 * written. (Taking it last would shorten the time the variant rows stay
 * locked, but on PostgreSQL every concurrent order's lines would first take
 * KEY SHARE locks on those rows through the order_items foreign key, and
 * the decrement then queues behind a growing multixact: measured 4x
 * slower.) The lines copy name, weight and price as read earlier in the
 * same transaction, and the decrement checks that price again (see
 * take_stock). Stock comes back through release_stock only, which first
 * ends the order's hold with "UPDATE orders ... WHERE id = ? AND
 * stock_held": whatever races, one caller sees that row change and gives
 * the stock back.
 *
 * A transaction is run again as a whole (ORDER_ATTEMPTS) when the database
 * reports a unique violation (an order number drawn twice; the same
 * Idempotency-Key inserted by a concurrent identical request, which has
 * committed by the time PostgreSQL reports it, so the next attempt
 * replays), a deadlock, or a price changed under an order being made. A
 * refusal (no stock, empty cart, replay, bad input) rolls the transaction
 * back: nothing of it is written.
 *
 * Status names are stored as v1 shows them ("pending"), payment statuses
 * upper-case ("COMPLETED"). Everything returned lives in ctx->arena.
 */
#include "core/order.h"

#include <openssl/evp.h>
#include <openssl/rand.h>
#include <stdlib.h>
#include <string.h>

#include "core/address.h"
#include "core/cart.h"
#include "core/catalog.h"
#include "core/core.h"
#include "core/order_mail.h"
#include "core/user.h"
#include "db/db.h"
#include "util/arena.h"
#include "util/log.h"
#include "util/str.h"

/* Tries of one write transaction (see above). */
#define ORDER_ATTEMPTS 5
/* Internal results of one attempt, beside SHOP_*: */
#define TX_REFUSED (-2) /* roll back; the outcome is in the caller's out */
#define IDEM_KEY_MAX 255

static const char msg_required[] = "This field is required.";
static const char msg_blank[] = "This field may not be blank.";
static const char msg_no_stock[] = "Insufficient stock";
static const char msg_too_large[] = "The order total is too large.";

/* ---- vocabulary and the state machine ---- */

static const char *const status_names[ORDER_STATUS_COUNT] = {
    [ORDER_PENDING] = "pending",
    [ORDER_PROCESSING] = "processing",
    [ORDER_COMPLETED] = "completed",
    [ORDER_CANCELLED] = "cancelled",
};

static const char *const status_names_upper[ORDER_STATUS_COUNT] = {
    [ORDER_PENDING] = "PENDING",
    [ORDER_PROCESSING] = "PROCESSING",
    [ORDER_COMPLETED] = "COMPLETED",
    [ORDER_CANCELLED] = "CANCELLED",
};

static const char *const payment_names[PAYMENT_STATUS_COUNT] = {
    [PAYMENT_PENDING] = "PENDING",
    [PAYMENT_COMPLETED] = "COMPLETED",
    [PAYMENT_FAILED] = "FAILED",
    [PAYMENT_REFUNDED] = "REFUNDED",
};

/* transitions[from][to]: the whole order lifecycle. */
static const bool transitions[ORDER_STATUS_COUNT][ORDER_STATUS_COUNT] = {
    /*                    pending processing completed cancelled */
    [ORDER_PENDING] = {true, true, true, true},
    [ORDER_PROCESSING] = {false, true, true, true},
    [ORDER_COMPLETED] = {false, false, true, false},
    [ORDER_CANCELLED] = {false, false, false, true},
};

const char *order_status_name(enum order_status s)
{
    return (unsigned)s < ORDER_STATUS_COUNT ? status_names[s] : "";
}

bool order_status_parse(const char *s, enum order_status *out)
{
    if (s == NULL)
        return false;
    for (int i = 0; i < ORDER_STATUS_COUNT; i++)
        if (strcmp(s, status_names[i]) == 0 || strcmp(s, status_names_upper[i]) == 0) {
            *out = (enum order_status)i;
            return true;
        }
    return false;
}

const char *payment_status_name(enum payment_status s)
{
    return (unsigned)s < PAYMENT_STATUS_COUNT ? payment_names[s] : "";
}

static enum payment_status payment_parse(const char *s)
{
    for (int i = 0; s != NULL && i < PAYMENT_STATUS_COUNT; i++)
        if (strcmp(s, payment_names[i]) == 0)
            return (enum payment_status)i;
    return PAYMENT_PENDING;
}

bool order_transition_allowed(enum order_status from, enum order_status to)
{
    if ((unsigned)from >= ORDER_STATUS_COUNT || (unsigned)to >= ORDER_STATUS_COUNT)
        return false;
    return transitions[from][to];
}

int64_t order_tax(int64_t subtotal_minor, int rate_bp)
{
    if (subtotal_minor < 0)
        return -order_tax(-subtotal_minor, rate_bp);
    /* split so that subtotal * rate cannot overflow */
    int64_t whole = subtotal_minor / 10000, part = subtotal_minor % 10000;
    return whole * rate_bp + (part * rate_bp + 5000) / 10000;
}

bool order_total(int64_t subtotal_minor, int rate_bp, int64_t *tax, int64_t *total)
{
    if (subtotal_minor < 0 || subtotal_minor > ORDER_TOTAL_MAX)
        return false;
    *tax = order_tax(subtotal_minor, rate_bp);
    *total = subtotal_minor + *tax; /* both at most ~10^15 * 2: no overflow */
    return *total <= ORDER_TOTAL_MAX;
}

/* ---- small helpers ---- */

static const char *col_text(struct ctx *ctx, struct db_res *res, int i)
{
    const char *s = db_col_text(res, i);
    return arena_strndup(ctx->arena, s ? s : "", s ? db_col_len(res, i) : 0);
}

static const char *col_text_or_null(struct ctx *ctx, struct db_res *res, int i)
{
    return db_col_is_null(res, i) ? NULL : col_text(ctx, res, i);
}

/* A failed statement inside an attempt: a concurrent writer's unique value
 * or a deadlock is worth another attempt; anything else is a storage error. */
static int db_failed(int db_rc)
{
    return db_rc == DB_ECONSTRAINT || db_rc == DB_EBUSY ? SHOP_RETRY : SHOP_EDB;
}

static bool is_admin(const struct ctx *ctx)
{
    return ctx->user == NULL || user_is_admin(ctx->user);
}

/* Runs fn in a write transaction, again while it asks for a retry; commits
 * on SHOP_OK, rolls back otherwise (TX_REFUSED becomes SHOP_OK: the outcome
 * is in the caller's out). Every order write may move stock, so the
 * catalogue's caches are told before and after. Inside a caller's
 * transaction nothing can be rolled back here: a refusal is returned as
 * SHOP_ECONFLICT so that the owner rolls back. */
static int run_tx(struct ctx *ctx, struct errors *err, int (*fn)(struct ctx *, void *), void *arg)
{
    bool own = false;
    catalog_changed();
    int rc = core_tx_run(ctx, err, ORDER_ATTEMPTS, fn, arg, &own);
    catalog_changed();
    if (rc == SHOP_RETRY) {
        log_warn("order: write still conflicting after %d attempts", ORDER_ATTEMPTS);
        rc = SHOP_EDB;
    } else if (rc == TX_REFUSED) {
        rc = own ? SHOP_OK : SHOP_ECONFLICT;
    }
    return rc;
}

/* ---- reading ---- */

#define ORDER_COLUMNS                                                                         \
    "o.id, o.order_number, o.user_id, u.email, o.status, o.payment_status, "                 \
    "o.subtotal_minor, o.tax_rate_bp, o.tax_minor, o.total_minor, o.address_id, "            \
    "o.shipping_address, o.billing_address, o.stock_held, o.stripe_payment_intent_id, "      \
    "o.client_secret, o.crm_sync_status, o.created_at, o.updated_at"
#define ORDER_FROM " FROM orders o JOIN users u ON u.id = o.user_id"
#define ITEM_COLUMNS                                                                          \
    "id, order_id, product_id, variant_id, product_name, weight, quantity, unit_price_minor, " \
    "line_total_minor, created_at"

static void read_order(struct ctx *ctx, struct db_res *res, struct order *o)
{
    memset(o, 0, sizeof(*o));
    o->id = db_col_int(res, 0);
    o->order_number = col_text(ctx, res, 1);
    o->user_id = db_col_int(res, 2);
    o->user_email = col_text(ctx, res, 3);
    const char *status = db_col_text(res, 4);
    if (!order_status_parse(status, &o->status))
        o->status = ORDER_PENDING;
    o->payment_status = payment_parse(db_col_text(res, 5));
    o->subtotal_minor = db_col_int(res, 6);
    o->tax_rate_bp = (int)db_col_int(res, 7);
    o->tax_minor = db_col_int(res, 8);
    o->total_minor = db_col_int(res, 9);
    o->address_id = db_col_int(res, 10);
    o->shipping_address = col_text(ctx, res, 11);
    o->billing_address = col_text(ctx, res, 12);
    o->stock_held = db_col_bool(res, 13);
    o->stripe_payment_intent_id = col_text_or_null(ctx, res, 14);
    o->client_secret = col_text_or_null(ctx, res, 15);
    o->crm_sync_status = col_text_or_null(ctx, res, 16);
    o->created_at = db_col_int(res, 17);
    o->updated_at = db_col_int(res, 18);
}

/* One order_items row; *order_id gets the order it belongs to. */
static void read_item(struct ctx *ctx, struct db_res *res, struct order_item *it,
                      int64_t *order_id)
{
    it->id = db_col_int(res, 0);
    *order_id = db_col_int(res, 1);
    it->product_id = db_col_int(res, 2);
    it->variant_id = db_col_int(res, 3);
    it->product_name = col_text(ctx, res, 4);
    it->weight = col_text(ctx, res, 5);
    it->quantity = db_col_int(res, 6);
    it->unit_price_minor = db_col_int(res, 7);
    it->line_total_minor = db_col_int(res, 8);
    it->created_at = db_col_int(res, 9);
}

/* Reads every row of res as items into an arena array. */
static int read_items(struct ctx *ctx, struct db_res *res, struct order_item **items,
                      int64_t **order_ids, size_t *n)
{
    size_t cap = 8, count = 0;
    struct order_item *list = arena_alloc(ctx->arena, cap * sizeof(*list));
    int64_t *owners = arena_alloc(ctx->arena, cap * sizeof(*owners));
    int rc;
    while ((rc = db_next(res)) == DB_ROW) {
        if (count == cap) {
            struct order_item *bigger = arena_alloc(ctx->arena, 2 * cap * sizeof(*list));
            int64_t *bigger_owners = arena_alloc(ctx->arena, 2 * cap * sizeof(*owners));
            memcpy(bigger, list, cap * sizeof(*list));
            memcpy(bigger_owners, owners, cap * sizeof(*owners));
            list = bigger;
            owners = bigger_owners;
            cap *= 2;
        }
        read_item(ctx, res, &list[count], &owners[count]);
        count++;
    }
    db_res_close(res);
    if (rc != DB_DONE)
        return SHOP_EDB;
    *items = list;
    if (order_ids != NULL)
        *order_ids = owners;
    *n = count;
    return SHOP_OK;
}

static int load_items(struct ctx *ctx, struct order *o)
{
    struct db_res *res;
    if (db_query(ctx->db, "SELECT " ITEM_COLUMNS " FROM order_items WHERE order_id = ? ORDER BY id",
                 DB_PARAMS(DB_INT(o->id)), &res) != DB_OK)
        return SHOP_EDB;
    return read_items(ctx, res, &o->items, NULL, &o->n_items);
}

/* One order by a query taking one parameter, with its lines. No permission
 * check. */
static int query_order(struct ctx *ctx, const char *sql, struct db_param key, struct order *out)
{
    struct db_res *res;
    if (db_query(ctx->db, sql, &key, 1, &res) != DB_OK)
        return SHOP_EDB;
    int rc = db_next(res);
    if (rc == DB_ROW)
        read_order(ctx, res, out);
    db_res_close(res);
    if (rc != DB_ROW)
        return rc == DB_DONE ? SHOP_ENOTFOUND : SHOP_EDB;
    return load_items(ctx, out);
}

static int load_order(struct ctx *ctx, int64_t id, struct order *out)
{
    return query_order(ctx, "SELECT " ORDER_COLUMNS ORDER_FROM " WHERE o.id = ?", DB_INT(id), out);
}

/* The same, the order row locked for the rest of the transaction on
 * PostgreSQL (SQLite's write lock already covers it). */
static int load_order_for_update(struct ctx *ctx, int64_t id, struct order *out)
{
    if (db_kind(ctx->db) == DB_POSTGRES)
        return query_order(ctx,
                           "SELECT " ORDER_COLUMNS ORDER_FROM " WHERE o.id = ? FOR UPDATE OF o",
                           DB_INT(id), out);
    return load_order(ctx, id, out);
}

static int load_order_by_number_for_update(struct ctx *ctx, const char *number, struct order *out)
{
    if (db_kind(ctx->db) == DB_POSTGRES)
        return query_order(ctx,
                           "SELECT " ORDER_COLUMNS ORDER_FROM
                           " WHERE o.order_number = ? FOR UPDATE OF o",
                           DB_TEXT(number), out);
    return query_order(ctx, "SELECT " ORDER_COLUMNS ORDER_FROM " WHERE o.order_number = ?",
                       DB_TEXT(number), out);
}

static bool may_see(const struct ctx *ctx, const struct order *o)
{
    return is_admin(ctx) || o->user_id == ctx->user->id;
}

int order_get(struct ctx *ctx, int64_t id, struct order *out)
{
    int rc = load_order(ctx, id, out);
    if (rc == SHOP_OK && !may_see(ctx, out))
        return SHOP_EFORBIDDEN;
    return rc;
}

int order_get_by_number(struct ctx *ctx, const char *number, struct order *out)
{
    if (number == NULL)
        return SHOP_ENOTFOUND;
    int rc = query_order(ctx, "SELECT " ORDER_COLUMNS ORDER_FROM " WHERE o.order_number = ?",
                         DB_TEXT(number), out);
    if (rc == SHOP_OK && !may_see(ctx, out))
        return SHOP_EFORBIDDEN;
    return rc;
}

/* The lines of a page of orders (newest first) in one query: the page's id
 * range, narrowed to the owner's orders when the page is one user's. Lines
 * of an order outside the page (one committed meanwhile into the range of
 * an all-users page) are skipped. */
static int attach_items(struct ctx *ctx, int64_t user_id, struct order *orders, size_t n)
{
    if (n == 0)
        return SHOP_OK;
    int64_t hi = orders[0].id, lo = orders[n - 1].id;
    struct db_res *res;
    int rc;
    if (user_id != 0)
        rc = db_query(ctx->db,
                      "SELECT " ITEM_COLUMNS " FROM order_items WHERE order_id IN (SELECT id FROM "
                      "orders WHERE user_id = ? AND id BETWEEN ? AND ?) ORDER BY order_id DESC, id",
                      DB_PARAMS(DB_INT(user_id), DB_INT(lo), DB_INT(hi)), &res);
    else
        rc = db_query(ctx->db,
                      "SELECT " ITEM_COLUMNS " FROM order_items WHERE order_id BETWEEN ? AND ? "
                      "ORDER BY order_id DESC, id",
                      DB_PARAMS(DB_INT(lo), DB_INT(hi)), &res);
    if (rc != DB_OK)
        return SHOP_EDB;
    struct order_item *items;
    int64_t *owners;
    size_t count;
    if (read_items(ctx, res, &items, &owners, &count) != SHOP_OK)
        return SHOP_EDB;
    /* both run by order id descending: one merge */
    size_t j = 0;
    for (size_t i = 0; i < count; i++) {
        while (j < n && orders[j].id > owners[i])
            j++;
        if (j == n)
            break;
        if (orders[j].id != owners[i])
            continue;
        if (orders[j].n_items == 0)
            orders[j].items = &items[i]; /* an order's lines are contiguous */
        orders[j].n_items++;
    }
    return SHOP_OK;
}

int order_list(struct ctx *ctx, bool all_users, bool with_items, int64_t offset, int64_t limit,
               struct order **out, size_t *n, int64_t *count)
{
    *out = NULL;
    *n = 0;
    /* 0: every user's orders */
    int64_t user_id = ctx->user == NULL || (all_users && is_admin(ctx)) ? 0 : ctx->user->id;
    if (offset < 0)
        offset = 0;
    if (limit <= 0)
        limit = INT64_MAX;
    int rc;
    if (count != NULL) {
        rc = user_id != 0 ? db_query_int(ctx->db, "SELECT count(*) FROM orders WHERE user_id = ?",
                                         DB_PARAMS(DB_INT(user_id)), count)
                          : db_query_int(ctx->db, "SELECT count(*) FROM orders", DB_NO_PARAMS,
                                         count);
        if (rc != DB_ROW)
            return SHOP_EDB;
    }
    struct db_res *res;
    if (user_id != 0)
        rc = db_query(ctx->db,
                      "SELECT " ORDER_COLUMNS ORDER_FROM
                      " WHERE o.user_id = ? ORDER BY o.id DESC LIMIT ? OFFSET ?",
                      DB_PARAMS(DB_INT(user_id), DB_INT(limit), DB_INT(offset)), &res);
    else
        rc = db_query(ctx->db,
                      "SELECT " ORDER_COLUMNS ORDER_FROM " ORDER BY o.id DESC LIMIT ? OFFSET ?",
                      DB_PARAMS(DB_INT(limit), DB_INT(offset)), &res);
    if (rc != DB_OK)
        return SHOP_EDB;
    size_t cap = 16, got = 0;
    struct order *list = arena_alloc(ctx->arena, cap * sizeof(*list));
    while ((rc = db_next(res)) == DB_ROW) {
        if (got == cap) {
            struct order *bigger = arena_alloc(ctx->arena, 2 * cap * sizeof(*list));
            memcpy(bigger, list, cap * sizeof(*list));
            list = bigger;
            cap *= 2;
        }
        read_order(ctx, res, &list[got++]);
    }
    db_res_close(res);
    if (rc != DB_DONE)
        return SHOP_EDB;
    if (with_items && attach_items(ctx, user_id, list, got) != SHOP_OK)
        return SHOP_EDB;
    *out = list;
    *n = got;
    return SHOP_OK;
}

/* ---- Idempotency-Key ---- */

bool order_idem_key_valid(const char *key)
{
    if (key == NULL)
        return false;
    size_t n = 0;
    for (; key[n] != '\0'; n++)
        if ((unsigned char)key[n] < 0x21 || (unsigned char)key[n] > 0x7e || n >= IDEM_KEY_MAX)
            return false;
    return n > 0;
}

const char *order_idem_fingerprint(struct ctx *ctx, const char *method, const char *path,
                                   const char *body, size_t body_len)
{
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int md_len = 0;
    EVP_MD_CTX *h = EVP_MD_CTX_new();
    bool ok = h != NULL && EVP_DigestInit_ex(h, EVP_sha256(), NULL) == 1 &&
              EVP_DigestUpdate(h, method ? method : "", method ? strlen(method) : 0) == 1 &&
              EVP_DigestUpdate(h, "\n", 1) == 1 &&
              EVP_DigestUpdate(h, path ? path : "", path ? strlen(path) : 0) == 1 &&
              EVP_DigestUpdate(h, "\n", 1) == 1 &&
              (body_len == 0 || EVP_DigestUpdate(h, body, body_len) == 1) &&
              EVP_DigestFinal_ex(h, md, &md_len) == 1;
    EVP_MD_CTX_free(h);
    if (!ok) {
        /* Cannot happen short of a broken OpenSSL; allocation failure is
         * fatal everywhere else too. */
        log_error("order: SHA-256 failed");
        abort();
    }
    static const char hex[] = "0123456789abcdef";
    char *out = arena_alloc(ctx->arena, 2 * md_len + 1);
    for (unsigned i = 0; i < md_len; i++) {
        out[2 * i] = hex[md[i] >> 4];
        out[2 * i + 1] = hex[md[i] & 15];
    }
    out[2 * md_len] = '\0';
    return out;
}

void order_idem_store(struct ctx *ctx, int64_t row_id, int status_code, const char *body,
                      size_t len)
{
    if (row_id == 0)
        return;
    if (db_exec(ctx->db, "UPDATE idempotency_keys SET status_code = ?, response = ? WHERE id = ?",
                DB_PARAMS(DB_INT(status_code), DB_TEXTN(body ? body : "", body ? len : 0),
                          DB_INT(row_id)),
                NULL) != DB_OK)
        log_warn("order: storing the response of idempotency row %lld failed; replays will "
                 "render the order again",
                 (long long)row_id);
}

static void idem_reset(struct order_idem *idem)
{
    idem->state = ORDER_IDEM_NONE;
    idem->row_id = 0;
    idem->order_id = 0;
    idem->status_code = 0;
    idem->response = NULL;
}

/* Inside the order's transaction, before anything is written: looks the
 * key up for ctx->user. A fresh key gets its row now (so that, on
 * PostgreSQL, an identical request running at the same time waits on the
 * unique index for this transaction, then fails and replays); the order id
 * is filled in by idem_finish. Returns SHOP_OK to proceed, TX_REFUSED for a
 * replay or a mismatch (idem->state), SHOP_RETRY or SHOP_EDB. */
static int idem_begin(struct ctx *ctx, struct order_idem *idem)
{
    if (idem == NULL)
        return SHOP_OK;
    idem_reset(idem);
    if (idem->key == NULL)
        return SHOP_OK;
    const char *fingerprint = idem->fingerprint ? idem->fingerprint : "";
    struct db_res *res;
    int rc = db_query(ctx->db,
                      "SELECT id, fingerprint, order_id, status_code, response, created_at FROM "
                      "idempotency_keys WHERE user_id = ? AND scope = ? AND idem_key = ?",
                      DB_PARAMS(DB_INT(ctx->user->id), DB_TEXT(idem->scope ? idem->scope : ""),
                                DB_TEXT(idem->key)),
                      &res);
    if (rc != DB_OK)
        return db_failed(rc);
    rc = db_next(res);
    if (rc == DB_ROW) {
        int64_t row_id = db_col_int(res, 0);
        const char *stored = db_col_text(res, 1);
        bool same = stored != NULL && strcmp(stored, fingerprint) == 0;
        int64_t order_id = db_col_int(res, 2);
        int status_code = (int)db_col_int(res, 3);
        const char *response = col_text_or_null(ctx, res, 4);
        int64_t created_at = db_col_int(res, 5);
        db_res_close(res);
        /* An expired row, or one whose order was deleted before its
         * response was stored, has nothing left to replay: forget it. */
        bool expired = created_at < ctx->now - ORDER_IDEM_TTL;
        bool orphan = order_id == 0 && status_code == 0;
        if (!expired && !orphan) {
            idem->state = same ? ORDER_IDEM_REPLAY : ORDER_IDEM_MISMATCH;
            idem->row_id = row_id;
            if (same) {
                idem->order_id = order_id;
                idem->status_code = status_code;
                idem->response = status_code != 0 ? response : NULL;
            }
            return TX_REFUSED;
        }
        rc = db_exec(ctx->db, "DELETE FROM idempotency_keys WHERE id = ?",
                     DB_PARAMS(DB_INT(row_id)), NULL);
        if (rc != DB_OK)
            return db_failed(rc);
    } else {
        db_res_close(res);
        if (rc != DB_DONE)
            return db_failed(rc);
    }
    rc = db_query_int(ctx->db,
                      "INSERT INTO idempotency_keys (user_id, scope, idem_key, fingerprint, "
                      "created_at) VALUES (?, ?, ?, ?, ?) RETURNING id",
                      DB_PARAMS(DB_INT(ctx->user->id), DB_TEXT(idem->scope ? idem->scope : ""),
                                DB_TEXT(idem->key), DB_TEXT(fingerprint), DB_INT(ctx->now)),
                      &idem->row_id);
    return rc == DB_ROW ? SHOP_OK : db_failed(rc);
}

static int idem_finish(struct ctx *ctx, struct order_idem *idem, int64_t order_id)
{
    if (idem == NULL || idem->row_id == 0)
        return SHOP_OK;
    int rc = db_exec(ctx->db, "UPDATE idempotency_keys SET order_id = ? WHERE id = ?",
                     DB_PARAMS(DB_INT(order_id), DB_INT(idem->row_id)), NULL);
    return rc == DB_OK ? SHOP_OK : db_failed(rc);
}

/* A key that order.h's callers should have refused already. */
static bool idem_key_refused(const struct order_idem *idem, struct errors *err)
{
    if (idem == NULL || idem->key == NULL || order_idem_key_valid(idem->key))
        return false;
    if (err != NULL)
        errors_add(err, "Idempotency-Key", "Invalid Idempotency-Key header.");
    return true;
}

/* ---- order numbers and the simulated gateway ---- */

static const char number_alphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789";

static bool random_order_number(char out[ORDER_NUMBER_LEN + 1])
{
    memcpy(out, "ORD-", 4);
    size_t filled = 4;
    while (filled < ORDER_NUMBER_LEN) {
        unsigned char raw[16];
        if (RAND_bytes(raw, sizeof(raw)) != 1)
            return false;
        for (size_t i = 0; i < sizeof(raw) && filled < ORDER_NUMBER_LEN; i++)
            if (raw[i] < 252) /* 7 x 36: every character equally likely */
                out[filled++] = number_alphabet[raw[i] % 36];
    }
    out[ORDER_NUMBER_LEN] = '\0';
    return true;
}

/* The unit test swaps it for a generator that repeats itself, to walk the
 * collision path. */
static bool (*draw_order_number)(char out[ORDER_NUMBER_LEN + 1]) = random_order_number;

bool payment_simulate(struct ctx *ctx, int64_t amount_minor, bool simulate_failure,
                      const char **reference)
{
    unsigned char raw[12];
    static const char hex[] = "0123456789abcdef";
    char ref[4 + 2 * sizeof(raw) + 1] = "sim_";
    if (RAND_bytes(raw, sizeof(raw)) != 1)
        memset(raw, 0, sizeof(raw)); /* a reference is a label, not a secret */
    for (size_t i = 0; i < sizeof(raw); i++) {
        ref[4 + 2 * i] = hex[raw[i] >> 4];
        ref[4 + 2 * i + 1] = hex[raw[i] & 15];
    }
    ref[sizeof(ref) - 1] = '\0';
    if (reference != NULL)
        *reference = arena_strdup(ctx->arena, ref);
    log_debug("payment: simulated charge %s of %lld minor units %s", ref, (long long)amount_minor,
              simulate_failure ? "declined" : "approved");
    return !simulate_failure;
}

/* ---- taking and giving back stock ---- */

/* One line being ordered: what is asked, then what the stock take copied. */
struct line {
    int64_t variant_id;
    int64_t quantity;
    size_t source; /* index of the request item / cart line it came from */
    int64_t product_id;
    const char *product_name;
    const char *weight;
    int64_t unit_price_minor;
    int64_t line_total_minor;
};

static int by_variant(const void *a, const void *b)
{
    const struct line *x = *(const struct line *const *)a, *y = *(const struct line *const *)b;
    return (x->variant_id > y->variant_id) - (x->variant_id < y->variant_id);
}

/* Takes every line's quantity from its variant, in variant id order. A
 * line whose variant lacks the stock, or whose product is inactive, stops
 * it: TX_REFUSED with *refused its index in lines. The price the line
 * copied (read earlier in the transaction, without a lock) is checked
 * against the row taken from: a price changed in between runs the whole
 * attempt again, so an order is always charged the price its stock was
 * taken at. */
static int take_stock(struct ctx *ctx, struct line *lines, size_t n, size_t *refused)
{
    const struct line **order = arena_alloc(ctx->arena, (n ? n : 1) * sizeof(*order));
    for (size_t i = 0; i < n; i++)
        order[i] = &lines[i];
    qsort(order, n, sizeof(*order), by_variant);
    for (size_t k = 0; k < n; k++) {
        const struct line *l = order[k];
        int64_t price = 0;
        int rc = db_query_int(
            ctx->db,
            "UPDATE product_variants SET inventory = inventory - ? WHERE id = ? AND inventory >= "
            "? AND EXISTS (SELECT 1 FROM products p WHERE p.id = product_variants.product_id AND "
            "p.is_active) RETURNING price_minor",
            DB_PARAMS(DB_INT(l->quantity), DB_INT(l->variant_id), DB_INT(l->quantity)), &price);
        if (rc == DB_DONE) {
            *refused = (size_t)(l - lines);
            return TX_REFUSED;
        }
        if (rc != DB_ROW)
            return db_failed(rc);
        if (price != l->unit_price_minor) {
            log_info("order: the price of variant %lld changed during checkout; running it again",
                     (long long)l->variant_id);
            return SHOP_RETRY;
        }
    }
    return SHOP_OK;
}

/* Ends the order's hold on its stock and gives the stock back, once: only
 * the caller whose conditional update changes the order row returns it.
 * The status is set in the same update. */
static int release_stock(struct ctx *ctx, int64_t order_id, enum order_status status)
{
    int64_t changed = 0;
    int rc = db_exec(ctx->db,
                     "UPDATE orders SET status = ?, stock_held = FALSE, updated_at = ? WHERE "
                     "id = ? AND stock_held",
                     DB_PARAMS(DB_TEXT(order_status_name(status)), DB_INT(ctx->now),
                               DB_INT(order_id)),
                     &changed);
    if (rc != DB_OK)
        return db_failed(rc);
    if (changed != 1)
        return SHOP_OK;
    /* Read first, then update in variant id order, as take_stock locks. */
    struct db_res *res;
    rc = db_query(ctx->db,
                  "SELECT variant_id, sum(quantity) FROM order_items WHERE order_id = ? AND "
                  "variant_id IS NOT NULL GROUP BY variant_id ORDER BY variant_id",
                  DB_PARAMS(DB_INT(order_id)), &res);
    if (rc != DB_OK)
        return db_failed(rc);
    size_t cap = 8, n = 0;
    int64_t(*back)[2] = arena_alloc(ctx->arena, cap * sizeof(*back));
    while ((rc = db_next(res)) == DB_ROW) {
        if (n == cap) {
            int64_t(*bigger)[2] = arena_alloc(ctx->arena, 2 * cap * sizeof(*back));
            memcpy(bigger, back, cap * sizeof(*back));
            back = bigger;
            cap *= 2;
        }
        back[n][0] = db_col_int(res, 0);
        back[n][1] = db_col_int(res, 1);
        n++;
    }
    db_res_close(res);
    if (rc != DB_DONE)
        return db_failed(rc);
    for (size_t i = 0; i < n; i++) {
        rc = db_exec(ctx->db, "UPDATE product_variants SET inventory = inventory + ? WHERE id = ?",
                     DB_PARAMS(DB_INT(back[i][1]), DB_INT(back[i][0])), NULL);
        if (rc != DB_OK)
            return db_failed(rc);
    }
    return SHOP_OK;
}

/* ---- creating ---- */

/* What one new order is made of, beside its lines. */
struct order_plan {
    enum order_status status;
    enum payment_status payment;
    int tax_rate_bp;
    int64_t address_id;
    const char *shipping;
    const char *billing;
    bool stock_kept; /* false: the stock taken is given back at once (failed payment) */
};

/* Sums the copied lines: false when an amount would overflow (the order
 * total's own limit is order_total's). */
static bool price_lines(struct line *lines, size_t n, int64_t *subtotal)
{
    *subtotal = 0;
    for (size_t i = 0; i < n; i++) {
        if (__builtin_mul_overflow(lines[i].unit_price_minor, lines[i].quantity,
                                   &lines[i].line_total_minor) ||
            __builtin_add_overflow(*subtotal, lines[i].line_total_minor, subtotal))
            return false;
    }
    return true;
}

/* Inserts the order row (holding its stock, taken just before) and its
 * lines, and fills out from what was written. A drawn number that already
 * exists: SHOP_RETRY. */
static int insert_order(struct ctx *ctx, const struct order_plan *plan, const struct line *lines,
                        size_t n, int64_t subtotal, struct order *out)
{
    char number[ORDER_NUMBER_LEN + 1];
    if (!draw_order_number(number)) {
        log_error("order: no random bytes for an order number");
        return SHOP_EDB;
    }
    int64_t tax = order_tax(subtotal, plan->tax_rate_bp);
    memset(out, 0, sizeof(*out));
    out->order_number = arena_strdup(ctx->arena, number);
    out->user_id = ctx->user->id;
    out->user_email = ctx->user->email ? ctx->user->email : "";
    out->status = plan->status;
    out->payment_status = plan->payment;
    out->subtotal_minor = subtotal;
    out->tax_rate_bp = plan->tax_rate_bp;
    out->tax_minor = tax;
    out->total_minor = subtotal + tax;
    out->address_id = plan->address_id;
    out->shipping_address = plan->shipping;
    out->billing_address = plan->billing;
    out->stock_held = plan->stock_kept; /* as it will be at the commit */
    out->created_at = out->updated_at = ctx->now;

    int rc = db_query_int(
        ctx->db,
        "INSERT INTO orders (order_number, user_id, status, payment_status, subtotal_minor, "
        "tax_rate_bp, tax_minor, total_minor, address_id, shipping_address, billing_address, "
        "stock_held, created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, TRUE, ?, ?) "
        "RETURNING id",
        DB_PARAMS(DB_TEXT(number), DB_INT(out->user_id), DB_TEXT(order_status_name(plan->status)),
                  DB_TEXT(payment_status_name(plan->payment)), DB_INT(subtotal),
                  DB_INT(plan->tax_rate_bp), DB_INT(tax), DB_INT(out->total_minor),
                  plan->address_id ? DB_INT(plan->address_id) : DB_NULL, DB_TEXT(plan->shipping),
                  DB_TEXT(plan->billing), DB_INT(ctx->now), DB_INT(ctx->now)),
        &out->id);
    if (rc != DB_ROW)
        return db_failed(rc);

    out->items = arena_zalloc(ctx->arena, (n ? n : 1) * sizeof(*out->items));
    out->n_items = n;
    for (size_t i = 0; i < n; i++) {
        const struct line *l = &lines[i];
        struct order_item *it = &out->items[i];
        rc = db_query_int(ctx->db,
                          "INSERT INTO order_items (order_id, product_id, variant_id, "
                          "product_name, weight, quantity, unit_price_minor, line_total_minor, "
                          "created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?) RETURNING id",
                          DB_PARAMS(DB_INT(out->id), DB_INT(l->product_id), DB_INT(l->variant_id),
                                    DB_TEXT(l->product_name), DB_TEXT(l->weight),
                                    DB_INT(l->quantity), DB_INT(l->unit_price_minor),
                                    DB_INT(l->line_total_minor), DB_INT(ctx->now)),
                          &it->id);
        if (rc != DB_ROW)
            return db_failed(rc);
        it->product_id = l->product_id;
        it->variant_id = l->variant_id;
        it->product_name = l->product_name;
        it->weight = l->weight;
        it->quantity = l->quantity;
        it->unit_price_minor = l->unit_price_minor;
        it->line_total_minor = l->line_total_minor;
        it->created_at = ctx->now;
    }
    return SHOP_OK;
}

/* A required text field of v1 (DRF's CharField: trimmed, not blank). NULL
 * when refused (the message is in err). */
static const char *required_text(struct ctx *ctx, struct errors *err, const char *field,
                                 const char *value)
{
    if (value == NULL) {
        errors_add(err, field, msg_required);
        return NULL;
    }
    struct str t = str_trim(str_from(value));
    if (t.n == 0) {
        errors_add(err, field, msg_blank);
        return NULL;
    }
    return str_dup(ctx->arena, t);
}

struct create_args {
    const char *shipping_address;
    const char *billing_address;
    const struct order_item_input *items;
    size_t n_items;
    struct order_idem *idem;
    struct errors *err;
    struct order *out;
};

/* The request's items as lines, one per product (the same product twice is
 * one line); SHOP_EINVAL with err per bad item. */
static int create_lines(struct ctx *ctx, const struct create_args *a, struct line **out_lines,
                        size_t *out_n)
{
    struct errors *err = a->err;
    if (a->items == NULL) {
        errors_add(err, "items", msg_required);
        return SHOP_EINVAL;
    }
    if (a->n_items == 0) {
        errors_add(err, "items", "This list may not be empty.");
        return SHOP_EINVAL;
    }
    if (a->n_items > ORDER_ITEMS_MAX) {
        errors_add(err, "items", "Ensure this field has no more than 100 elements.");
        return SHOP_EINVAL;
    }
    struct line *lines = arena_zalloc(ctx->arena, a->n_items * sizeof(*lines));
    size_t n = 0;
    bool bad = false;
    for (size_t i = 0; i < a->n_items; i++) {
        const struct order_item_input *in = &a->items[i];
        int64_t variant_id = 0;
        int rc = in->product_id > 0 ? cart_v1_variant(ctx, in->product_id, &variant_id)
                                    : SHOP_ENOTFOUND;
        if (rc == SHOP_ENOTFOUND) {
            errors_add(err, arena_sprintf(ctx->arena, "items.%zu.product_id", i),
                       "Product not found or inactive");
            bad = true;
        } else if (rc != SHOP_OK) {
            return rc;
        }
        if (in->quantity < 1) {
            errors_add(err, arena_sprintf(ctx->arena, "items.%zu.quantity", i),
                       "Ensure this value is greater than or equal to 1.");
            bad = true;
        } else if (in->quantity > CART_QUANTITY_MAX) {
            errors_add(err, arena_sprintf(ctx->arena, "items.%zu.quantity", i),
                       "Ensure this value is less than or equal to 1000000.");
            bad = true;
        }
        if (bad)
            continue;
        size_t j = 0;
        while (j < n && lines[j].variant_id != variant_id)
            j++;
        if (j == n)
            lines[n++] = (struct line){.variant_id = variant_id, .source = i};
        lines[j].quantity += in->quantity; /* at most 100 x 10^6: no overflow */
    }
    if (bad)
        return SHOP_EINVAL;
    for (size_t j = 0; j < n; j++) {
        struct line *l = &lines[j];
        struct db_res *res;
        int rc = db_query(ctx->db,
                          "SELECT v.product_id, v.price_minor, v.weight, p.name FROM "
                          "product_variants v JOIN products p ON p.id = v.product_id WHERE "
                          "v.id = ?",
                          DB_PARAMS(DB_INT(l->variant_id)), &res);
        if (rc != DB_OK)
            return db_failed(rc);
        rc = db_next(res);
        if (rc == DB_ROW) {
            l->product_id = db_col_int(res, 0);
            l->unit_price_minor = db_col_int(res, 1);
            l->weight = col_text(ctx, res, 2);
            l->product_name = col_text(ctx, res, 3);
        }
        db_res_close(res);
        if (rc == DB_DONE) { /* deleted since cart_v1_variant: as a concurrent writer */
            errors_add(err, arena_sprintf(ctx->arena, "items.%zu.product_id", l->source),
                       "Product not found or inactive");
            return SHOP_EINVAL;
        }
        if (rc != DB_ROW)
            return db_failed(rc);
    }
    *out_lines = lines;
    *out_n = n;
    return SHOP_OK;
}

static int create_attempt(struct ctx *ctx, void *arg)
{
    struct create_args *a = arg;
    int rc = idem_begin(ctx, a->idem);
    if (rc != SHOP_OK)
        return rc;
    struct order_plan plan = {.status = ORDER_PENDING, .payment = PAYMENT_PENDING,
                              .stock_kept = true};
    plan.shipping = required_text(ctx, a->err, "shipping_address", a->shipping_address);
    plan.billing = required_text(ctx, a->err, "billing_address", a->billing_address);
    struct line *lines = NULL;
    size_t n = 0;
    rc = create_lines(ctx, a, &lines, &n);
    if (rc != SHOP_OK)
        return rc;
    if (plan.shipping == NULL || plan.billing == NULL)
        return SHOP_EINVAL;
    int64_t subtotal, tax, total;
    if (!price_lines(lines, n, &subtotal) ||
        !order_total(subtotal, plan.tax_rate_bp, &tax, &total)) {
        errors_add(a->err, ERRORS_NON_FIELD, msg_too_large);
        return SHOP_EINVAL;
    }
    size_t refused;
    rc = take_stock(ctx, lines, n, &refused);
    if (rc == TX_REFUSED) {
        errors_add(a->err, ERRORS_NON_FIELD, msg_no_stock);
        return SHOP_EINVAL;
    }
    if (rc != SHOP_OK)
        return rc;
    rc = insert_order(ctx, &plan, lines, n, subtotal, a->out);
    if (rc != SHOP_OK)
        return rc;
    if (order_mail_enqueue(ctx, a->out->id, ctx->user->id, ORDER_MAIL_CONFIRMATION, 0, 0) !=
        SHOP_OK)
        return SHOP_EDB;
    return idem_finish(ctx, a->idem, a->out->id);
}

/* After a replay: the order the first request made, when it still exists. */
static int load_replayed(struct ctx *ctx, const struct order_idem *idem, struct order *out)
{
    if (idem->state != ORDER_IDEM_REPLAY || idem->order_id == 0 || out == NULL)
        return SHOP_OK;
    int rc = load_order(ctx, idem->order_id, out);
    return rc == SHOP_ENOTFOUND ? SHOP_OK : rc;
}

int order_create(struct ctx *ctx, const char *shipping_address, const char *billing_address,
                 const struct order_item_input *items, size_t n_items, struct order_idem *idem,
                 struct errors *err, struct order *out)
{
    if (ctx->user == NULL)
        return SHOP_EFORBIDDEN;
    struct errors local;
    if (err == NULL) {
        errors_init(&local, ctx->arena);
        err = &local;
    }
    if (idem_key_refused(idem, err))
        return SHOP_EINVAL;
    struct order scratch;
    struct create_args a = {shipping_address, billing_address, items, n_items, idem, err,
                            out ? out : &scratch};
    int rc = run_tx(ctx, err, create_attempt, &a);
    if (idem == NULL)
        return rc;
    if (idem->state == ORDER_IDEM_NONE && rc != SHOP_OK)
        idem->row_id = 0; /* rolled back: nothing to store a response on */
    if (rc == SHOP_OK)
        rc = load_replayed(ctx, idem, out);
    return rc;
}

/* The shop address as one line: "Name, line1, line2, City, State Postal,
 * Country", leaving out what is empty. */
static const char *address_text(struct ctx *ctx, const struct address *ad)
{
    struct buf b;
    buf_init_arena(&b, ctx->arena);
    char *name = arena_sprintf(ctx->arena, "%s %s", ad->first_name ? ad->first_name : "",
                               ad->last_name ? ad->last_name : "");
    char *region = arena_sprintf(ctx->arena, "%s %s", ad->state ? ad->state : "",
                                 ad->postal_code ? ad->postal_code : "");
    const char *parts[] = {name, ad->line1, ad->line2, ad->city, region, ad->country};
    for (size_t i = 0; i < sizeof(parts) / sizeof(parts[0]); i++) {
        struct str p = str_trim(str_from(parts[i]));
        if (p.n == 0)
            continue;
        if (b.n > 0)
            buf_append(&b, ", ", 2);
        buf_append(&b, p.p, p.n);
    }
    return buf_cstr(&b);
}

struct checkout_args {
    const struct checkout_input *in;
    struct order_idem *idem;
    struct errors *err;
    struct checkout_out *out;
    struct cart cart; /* as read inside the transaction */
    size_t refused;   /* CHECKOUT_NO_STOCK: index of the refused cart line */
};

static int checkout_attempt(struct ctx *ctx, void *arg)
{
    struct checkout_args *a = arg;
    const struct checkout_input *in = a->in;
    struct checkout_out *out = a->out;
    out->result = CHECKOUT_OK;
    memset(&a->cart, 0, sizeof(a->cart));
    int rc;
    if (db_kind(ctx->db) == DB_POSTGRES) {
        /* one checkout of a cart at a time (SQLite's write lock does this) */
        struct db_res *res;
        rc = db_query(ctx->db, "SELECT id FROM carts WHERE user_id = ? FOR UPDATE",
                      DB_PARAMS(DB_INT(ctx->user->id)), &res);
        if (rc != DB_OK)
            return db_failed(rc);
        while ((rc = db_next(res)) == DB_ROW)
            ;
        db_res_close(res);
        if (rc != DB_DONE)
            return db_failed(rc);
    }
    rc = idem_begin(ctx, a->idem);
    if (rc != SHOP_OK)
        return rc;

    struct order_plan plan = {.stock_kept = true};
    if (in->kind == CHECKOUT_SHOP) {
        struct address ad;
        rc = in->address_id > 0 ? address_get(ctx, in->address_id, &ad) : SHOP_ENOTFOUND;
        if (rc == SHOP_ENOTFOUND) {
            out->result = CHECKOUT_NO_ADDRESS;
            return TX_REFUSED;
        }
        if (rc != SHOP_OK)
            return rc;
        plan.address_id = ad.id;
        plan.shipping = plan.billing = address_text(ctx, &ad);
        plan.tax_rate_bp = ORDER_GST_BP;
    } else {
        plan.shipping = required_text(ctx, a->err, "shipping_address", in->shipping_address);
        plan.billing = required_text(ctx, a->err, "billing_address", in->billing_address);
        if (plan.shipping == NULL || plan.billing == NULL)
            return SHOP_EINVAL;
        plan.status = ORDER_PENDING;
        plan.payment = PAYMENT_PENDING;
    }

    rc = cart_get_for_order(ctx, &a->cart);
    if (rc != SHOP_OK)
        return rc;
    if (a->cart.id == 0 || a->cart.n_lines == 0) {
        out->result = CHECKOUT_EMPTY;
        return TX_REFUSED;
    }
    /* the catalogue as read now, in this transaction; take_stock checks the prices */
    size_t n = a->cart.n_lines;
    struct line *lines = arena_zalloc(ctx->arena, n * sizeof(*lines));
    for (size_t i = 0; i < n; i++) {
        const struct cart_line *cl = &a->cart.lines[i];
        lines[i] = (struct line){.variant_id = cl->variant->id,
                                 .quantity = cl->quantity,
                                 .source = i,
                                 .product_id = cl->product.id,
                                 .product_name = cl->product.name,
                                 .weight = cl->variant->weight,
                                 .unit_price_minor = cl->variant->price_minor};
    }
    int64_t subtotal, tax, total;
    if (!price_lines(lines, n, &subtotal) ||
        !order_total(subtotal, plan.tax_rate_bp, &tax, &total)) {
        errors_add(a->err, ERRORS_NON_FIELD, msg_too_large);
        return SHOP_EINVAL;
    }

    rc = take_stock(ctx, lines, n, &a->refused);
    if (rc == TX_REFUSED) {
        out->result = CHECKOUT_NO_STOCK;
        return TX_REFUSED;
    }
    if (rc != SHOP_OK)
        return rc;

    /* Charged once the stock is sure to be there. */
    bool paid = true;
    if (in->kind == CHECKOUT_SHOP) {
        const char *reference = NULL;
        paid = payment_simulate(ctx, total, in->simulate_failure, &reference);
        plan.status = paid ? ORDER_PROCESSING : ORDER_CANCELLED;
        plan.payment = paid ? PAYMENT_COMPLETED : PAYMENT_FAILED;
        plan.stock_kept = paid;
    }
    rc = insert_order(ctx, &plan, lines, n, subtotal, &out->order);
    if (rc != SHOP_OK)
        return rc;
    if (paid) {
        if ((in->kind == CHECKOUT_SHOP || in->clear_cart) && (rc = cart_clear(ctx)) != SHOP_OK)
            return rc;
        if (order_mail_enqueue(ctx, out->order.id, ctx->user->id, ORDER_MAIL_CONFIRMATION, 0,
                               0) != SHOP_OK)
            return SHOP_EDB;
    }
    rc = idem_finish(ctx, a->idem, out->order.id);
    if (rc != SHOP_OK)
        return rc;
    /* declined: the order stays as a record, holding nothing */
    if (!paid && (rc = release_stock(ctx, out->order.id, plan.status)) != SHOP_OK)
        return rc;
    out->result = paid ? CHECKOUT_OK : CHECKOUT_PAYMENT_FAILED;
    return SHOP_OK;
}

/* The lines checkout refused, for the surfaces' messages: what
 * cart_validate finds now, or (when the stock moved back meanwhile) the
 * line that was refused with its inventory as now read. */
static int checkout_problems(struct ctx *ctx, struct checkout_args *a)
{
    struct checkout_out *out = a->out;
    int rc = cart_validate(ctx, &a->cart, &out->problems, &out->n_problems);
    if (rc != SHOP_OK)
        return rc;
    if (out->n_problems == 0) {
        const struct cart_line *cl = &a->cart.lines[a->refused];
        struct cart_problem *p = arena_zalloc(ctx->arena, sizeof(*p));
        p->line = cl;
        p->inactive = !cl->product.is_active;
        if (!p->inactive && cl->variant != NULL) {
            int64_t inventory = 0;
            rc = db_query_int(ctx->db, "SELECT inventory FROM product_variants WHERE id = ?",
                              DB_PARAMS(DB_INT(cl->variant->id)), &inventory);
            if (rc != DB_ROW && rc != DB_DONE)
                return SHOP_EDB;
            p->available = rc == DB_ROW ? inventory : 0;
        }
        out->problems = p;
        out->n_problems = 1;
    }
    out->first_short_name = out->problems[0].line->product.name;
    return SHOP_OK;
}

int order_checkout(struct ctx *ctx, const struct checkout_input *in, struct order_idem *idem,
                   struct errors *err, struct checkout_out *out)
{
    memset(out, 0, sizeof(*out));
    if (ctx->user == NULL)
        return SHOP_EFORBIDDEN;
    struct errors local;
    if (err == NULL) {
        errors_init(&local, ctx->arena);
        err = &local;
    }
    if (idem_key_refused(idem, err))
        return SHOP_EINVAL;
    struct checkout_args a = {.in = in, .idem = idem, .err = err, .out = out};
    int rc = run_tx(ctx, err, checkout_attempt, &a);
    if (idem != NULL && idem->state == ORDER_IDEM_NONE &&
        (rc != SHOP_OK || (out->result != CHECKOUT_OK && out->result != CHECKOUT_PAYMENT_FAILED)))
        idem->row_id = 0; /* rolled back: nothing to store a response on */
    if (rc != SHOP_OK)
        return rc;
    if (idem != NULL && idem->state != ORDER_IDEM_NONE) {
        out->result = CHECKOUT_OK;
        rc = load_replayed(ctx, idem, &out->order);
        if (rc == SHOP_OK && out->order.id != 0 && out->order.payment_status == PAYMENT_FAILED)
            out->result = CHECKOUT_PAYMENT_FAILED;
        return rc;
    }
    if (out->result == CHECKOUT_NO_STOCK)
        return checkout_problems(ctx, &a);
    return SHOP_OK;
}

/* ---- changing ---- */

struct update_args {
    int64_t id;
    const struct order_patch *p;
    struct errors *err;
    struct order *out;
};

static int update_attempt(struct ctx *ctx, void *arg)
{
    struct update_args *a = arg;
    const struct order_patch *p = a->p;
    struct order cur;
    int rc = load_order_for_update(ctx, a->id, &cur);
    if (rc != SHOP_OK)
        return rc;
    bool admin = is_admin(ctx);
    if (!admin) {
        if (cur.user_id != ctx->user->id)
            return SHOP_EFORBIDDEN;
        if (cur.status != ORDER_PENDING) {
            errors_add(a->err, ERRORS_NON_FIELD, "Only pending orders can be updated");
            return SHOP_ECONFLICT;
        }
    }
    int before = a->err->count;
    const char *shipping = cur.shipping_address, *billing = cur.billing_address;
    if (p->shipping_address != NULL)
        shipping = required_text(ctx, a->err, "shipping_address", p->shipping_address);
    if (p->billing_address != NULL)
        billing = required_text(ctx, a->err, "billing_address", p->billing_address);
    enum order_status to = p->has_status ? p->status : cur.status;
    if ((unsigned)to >= ORDER_STATUS_COUNT) {
        errors_add(a->err, "status", "Not a valid choice.");
    } else if (to != cur.status) {
        if (!admin && to != ORDER_CANCELLED)
            errors_add(a->err, "status", "You do not have permission to set this status.");
        else if (!order_transition_allowed(cur.status, to))
            errors_add(a->err, "status",
                       arena_sprintf(ctx->arena, "Cannot change status from %s to %s.",
                                     order_status_name(cur.status), order_status_name(to)));
    }
    if (a->err->count != before)
        return SHOP_EINVAL;

    enum payment_status payment = cur.payment_status;
    if (to == ORDER_CANCELLED && to != cur.status && payment == PAYMENT_COMPLETED)
        payment = PAYMENT_REFUNDED;
    rc = db_exec(ctx->db,
                 "UPDATE orders SET status = ?, payment_status = ?, shipping_address = ?, "
                 "billing_address = ?, updated_at = ? WHERE id = ?",
                 DB_PARAMS(DB_TEXT(order_status_name(to)), DB_TEXT(payment_status_name(payment)),
                           DB_TEXT(shipping), DB_TEXT(billing), DB_INT(ctx->now), DB_INT(cur.id)),
                 NULL);
    if (rc != DB_OK)
        return db_failed(rc);
    if (to != cur.status) {
        if (to == ORDER_CANCELLED) {
            rc = release_stock(ctx, cur.id, to);
        } else if (to == ORDER_COMPLETED) {
            /* the goods are gone: deleting the order later returns nothing */
            rc = db_exec(ctx->db, "UPDATE orders SET stock_held = FALSE WHERE id = ?",
                         DB_PARAMS(DB_INT(cur.id)), NULL);
            rc = rc == DB_OK ? SHOP_OK : db_failed(rc);
        }
        if (rc != SHOP_OK)
            return rc;
        enum order_mail_event ev =
            to == ORDER_CANCELLED ? ORDER_MAIL_CANCELLED : ORDER_MAIL_STATUS;
        if (order_mail_enqueue(ctx, cur.id, cur.user_id, ev, (int)cur.status, (int)to) != SHOP_OK)
            return SHOP_EDB;
    }
    return a->out != NULL ? load_order(ctx, cur.id, a->out) : SHOP_OK;
}

int order_update(struct ctx *ctx, int64_t id, const struct order_patch *p, struct errors *err,
                 struct order *out)
{
    struct errors local;
    if (err == NULL) {
        errors_init(&local, ctx->arena);
        err = &local;
    }
    struct update_args a = {id, p, err, out};
    return run_tx(ctx, err, update_attempt, &a);
}

struct cancel_args {
    const char *number;
    struct order *out;
};

static int cancel_attempt(struct ctx *ctx, void *arg)
{
    struct cancel_args *a = arg;
    struct order cur;
    int rc = load_order_by_number_for_update(ctx, a->number, &cur);
    if (rc != SHOP_OK)
        return rc;
    if (!may_see(ctx, &cur))
        return SHOP_EFORBIDDEN;
    if (cur.status != ORDER_PENDING && cur.status != ORDER_PROCESSING)
        return SHOP_ECONFLICT;
    enum payment_status payment =
        cur.payment_status == PAYMENT_COMPLETED ? PAYMENT_REFUNDED : cur.payment_status;
    int64_t changed = 0;
    /* The status guard repeats what was read: with the row locked it always
     * holds, and it would stop a second cancel if it did not. */
    rc = db_exec(ctx->db,
                 "UPDATE orders SET status = ?, payment_status = ?, updated_at = ? WHERE id = ? "
                 "AND status = ?",
                 DB_PARAMS(DB_TEXT(order_status_name(ORDER_CANCELLED)),
                           DB_TEXT(payment_status_name(payment)), DB_INT(ctx->now),
                           DB_INT(cur.id), DB_TEXT(order_status_name(cur.status))),
                 &changed);
    if (rc != DB_OK)
        return db_failed(rc);
    if (changed != 1)
        return SHOP_ECONFLICT;
    rc = release_stock(ctx, cur.id, ORDER_CANCELLED);
    if (rc != SHOP_OK)
        return rc;
    if (order_mail_enqueue(ctx, cur.id, cur.user_id, ORDER_MAIL_CANCELLED, (int)cur.status,
                           (int)ORDER_CANCELLED) != SHOP_OK)
        return SHOP_EDB;
    return a->out != NULL ? load_order(ctx, cur.id, a->out) : SHOP_OK;
}

int order_cancel(struct ctx *ctx, const char *number, struct order *out)
{
    if (number == NULL)
        return SHOP_ENOTFOUND;
    struct cancel_args a = {number, out};
    return run_tx(ctx, NULL, cancel_attempt, &a);
}

static int delete_attempt(struct ctx *ctx, void *arg)
{
    int64_t id = *(const int64_t *)arg;
    struct order cur;
    int rc = load_order_for_update(ctx, id, &cur);
    if (rc != SHOP_OK)
        return rc;
    if (!is_admin(ctx)) {
        if (cur.user_id != ctx->user->id)
            return SHOP_EFORBIDDEN;
        if (cur.status != ORDER_PENDING)
            return SHOP_ECONFLICT;
    }
    rc = release_stock(ctx, id, cur.status);
    if (rc != SHOP_OK)
        return rc;
    /* lines cascade; idempotency rows keep their stored response */
    rc = db_exec(ctx->db, "DELETE FROM orders WHERE id = ?", DB_PARAMS(DB_INT(id)), NULL);
    return rc == DB_OK ? SHOP_OK : db_failed(rc);
}

int order_delete(struct ctx *ctx, int64_t id)
{
    return run_tx(ctx, NULL, delete_attempt, &id);
}

/* ---- reports ---- */

int order_report(struct ctx *ctx, struct order_report *out)
{
    memset(out, 0, sizeof(*out));
    if (!is_admin(ctx))
        return SHOP_EFORBIDDEN;
    /* Revenue summed as whole units and minor parts: with every order at
     * most ORDER_TOTAL_MAX the units' sum needs some 900,000 orders of that
     * size before it could overflow, where one sum of minor units overflowed
     * (SQLite: an error, a 500) after 9,000. Combined here, saturating. */
    struct db_res *res;
    if (db_query(ctx->db,
                 "SELECT count(*), "
                 "COALESCE(sum(CASE WHEN payment_status = 'COMPLETED' OR status = 'completed' "
                 "THEN total_minor / 100 ELSE 0 END), 0), "
                 "COALESCE(sum(CASE WHEN payment_status = 'COMPLETED' OR status = 'completed' "
                 "THEN total_minor % 100 ELSE 0 END), 0), "
                 "COALESCE(sum(CASE WHEN payment_status = 'COMPLETED' OR status = 'completed' "
                 "THEN 1 ELSE 0 END), 0), "
                 "COALESCE(sum(CASE WHEN status = 'pending' THEN 1 ELSE 0 END), 0) FROM orders",
                 DB_NO_PARAMS, &res) != DB_OK)
        return SHOP_EDB;
    int rc = db_next(res);
    if (rc == DB_ROW) {
        out->total_orders = db_col_int(res, 0);
        int64_t units = db_col_int(res, 1), minor = db_col_int(res, 2);
        if (__builtin_mul_overflow(units, 100, &out->revenue_minor) ||
            __builtin_add_overflow(out->revenue_minor, minor, &out->revenue_minor))
            out->revenue_minor = INT64_MAX;
        out->paid_orders = db_col_int(res, 3);
        out->pending_orders = db_col_int(res, 4);
    }
    db_res_close(res);
    return rc == DB_ROW ? SHOP_OK : SHOP_EDB;
}
