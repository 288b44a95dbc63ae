/*
 * cart.c - the one cart per user (see cart.h), over the carts and cart_items
 * tables of migration 0005_orders.
 *
 * Everything returned lives in ctx->arena. Reads run outside transactions;
 * writes run in one core_tx_begin / core_tx_end write transaction each. On
 * SQLite that transaction holds the write lock; on PostgreSQL every write
 * first locks the user's cart row (SELECT ... FOR UPDATE), so the writes to
 * one cart are serialized there too, and the lines read before a write are
 * locked as well. The variant a line is about to point at is read FOR KEY
 * SHARE: it cannot be deleted under the write (which would fail the foreign
 * key), while checkout may still change its inventory.
 *
 * A cart is made on the first add, with INSERT ... ON CONFLICT (user_id) DO
 * NOTHING and a locking re-read: of two concurrent first adds on
 * PostgreSQL, the second waits for the first and then works on its cart,
 * and no unique violation aborts the transaction (which matters when the
 * caller's transaction is joined). Any constraint failure that still
 * happens (a race this file did not foresee) rolls back and retries the
 * write once when this file owns the transaction.
 *
 * Lines are read with their variant's product id in one query, then the
 * distinct products with all their variants through
 * catalog_products_by_ids (two queries per 100 products), so reading a cart
 * costs three queries whatever its size.
 *
 * Stock is only checked here, never taken: lines hold no stock (order.c
 * takes it at checkout), so an add that fits the inventory now may still be
 * refused at checkout, which is what cart_validate reports.
 */
#include "core/cart.h"
#include "core/catalog_rows.h"

#include <assert.h>
#include <stdlib.h>
#include <string.h>

#include "core/core.h"
#include "core/user.h"
#include "db/db.h"
#include "util/arena.h"
#include "util/log.h"
#include "util/str.h"

/* Tries of one write: an attempt that lost a race to a concurrent writer
 * (SHOP_RETRY) is rolled back and run once more. */
#define WRITE_ATTEMPTS 2

/* ---- SQL ---- */

#define CART_SQL "SELECT id, created_at, updated_at FROM carts WHERE user_id = ?"
static const char cart_sql[] = CART_SQL;
static const char cart_lock_sql_pg[] = CART_SQL " FOR UPDATE";

#define VARIANT_SQL                                                                           \
    "SELECT v.product_id, v.inventory, p.is_active FROM product_variants v "                 \
    "JOIN products p ON p.id = v.product_id WHERE v.id = ?"
static const char variant_sql[] = VARIANT_SQL;
static const char variant_lock_sql_pg[] = VARIANT_SQL " FOR KEY SHARE OF v";

#define LINE_OF_VARIANT_SQL                                                                   \
    "SELECT id, quantity FROM cart_items WHERE cart_id = ? AND variant_id = ?"
static const char line_of_variant_sql[] = LINE_OF_VARIANT_SQL;
static const char line_of_variant_lock_sql_pg[] = LINE_OF_VARIANT_SQL " FOR UPDATE";

#define LINE_BY_ID_SQL                                                                        \
    "SELECT ci.variant_id, ci.quantity, v.product_id FROM cart_items ci "                    \
    "JOIN product_variants v ON v.id = ci.variant_id WHERE ci.id = ? AND ci.cart_id = ?"
static const char line_by_id_sql[] = LINE_BY_ID_SQL;
static const char line_by_id_lock_sql_pg[] = LINE_BY_ID_SQL " FOR UPDATE OF ci";

#define LINE_COLUMNS                                                                          \
    "ci.id, ci.variant_id, v.product_id, ci.quantity, ci.created_at, ci.updated_at"
#define LINE_FROM " FROM cart_items ci JOIN product_variants v ON v.id = ci.variant_id"

/* ---- small helpers ---- */

static int64_t user_id_of(const struct ctx *ctx)
{
    assert(ctx->user != NULL);
    return ctx->user->id;
}

/* The statement that locks rows on PostgreSQL; SQLite's write transaction
 * already excludes every other writer. */
static const char *locking(const struct ctx *ctx, const char *sqlite_sql, const char *pg_sql)
{
    return db_kind(ctx->db) == DB_POSTGRES ? pg_sql : sqlite_sql;
}

/* Line totals saturate instead of overflowing: prices are bounded only by
 * money_parse (10^15 units), quantities by CART_QUANTITY_MAX. */
static int64_t mul_sat(int64_t a, int64_t b)
{
    int64_t r;
    return __builtin_mul_overflow(a, b, &r) ? INT64_MAX : r;
}

static int64_t add_sat(int64_t a, int64_t b)
{
    int64_t r;
    return __builtin_add_overflow(a, b, &r) ? INT64_MAX : r;
}

/* SHOP_* (or SHOP_RETRY) for a failed write statement. */
static int write_failed(int db_rc)
{
    return db_rc == DB_ECONSTRAINT ? SHOP_RETRY : SHOP_EDB;
}

/* Runs fn in a write transaction, retrying once when it lost a race. */
static int write_tx(struct ctx *ctx, int (*fn)(struct ctx *, void *), void *arg)
{
    int rc = core_tx_run(ctx, NULL, WRITE_ATTEMPTS, fn, arg, NULL);
    if (rc == SHOP_RETRY) {
        log_error("cart: write for user %lld kept losing a race: %s",
                  (long long)user_id_of(ctx), db_errmsg(ctx->db));
        rc = SHOP_EDB;
    }
    return rc;
}

/* ---- rows ---- */

/* The user's cart row (locked on PostgreSQL when lock); out->id 0 when the
 * user has none. Lines are not read. */
static int cart_row(struct ctx *ctx, bool lock, struct cart *out)
{
    memset(out, 0, sizeof(*out));
    out->user_id = user_id_of(ctx);
    struct db_res *res;
    const char *sql = lock ? locking(ctx, cart_sql, cart_lock_sql_pg) : cart_sql;
    if (db_query(ctx->db, sql, DB_PARAMS(DB_INT(out->user_id)), &res) != DB_OK)
        return SHOP_EDB;
    int rc = db_next(res);
    if (rc == DB_ROW) {
        out->id = db_col_int(res, 0);
        out->created_at = db_col_int(res, 1);
        out->updated_at = db_col_int(res, 2);
    }
    db_res_close(res);
    return rc == DB_ROW || rc == DB_DONE ? SHOP_OK : SHOP_EDB;
}

/* The user's cart row, made when missing, locked (inside a write
 * transaction). A concurrent first add that made it first wins: its cart
 * is the one returned, with whatever lines it added. */
static int cart_row_create(struct ctx *ctx, struct cart *out)
{
    int rc = db_exec(ctx->db,
                     "INSERT INTO carts (user_id, created_at, updated_at) VALUES (?, ?, ?) "
                     "ON CONFLICT (user_id) DO NOTHING",
                     DB_PARAMS(DB_INT(user_id_of(ctx)), DB_INT(ctx->now), DB_INT(ctx->now)),
                     NULL);
    if (rc != DB_OK)
        return write_failed(rc);
    if ((rc = cart_row(ctx, true, out)) != SHOP_OK)
        return rc;
    if (out->id == 0) {
        log_error("cart: the cart of user %lld vanished after being made",
                  (long long)out->user_id);
        return SHOP_EDB;
    }
    return SHOP_OK;
}

/* Marks the cart changed by this write. */
static int cart_touch(struct ctx *ctx, int64_t cart_id)
{
    int rc = db_exec(ctx->db, "UPDATE carts SET updated_at = ? WHERE id = ?",
                     DB_PARAMS(DB_INT(ctx->now), DB_INT(cart_id)), NULL);
    return rc == DB_OK ? SHOP_OK : write_failed(rc);
}

struct variant_row {
    int64_t product_id;
    int64_t inventory;
    bool is_active; /* the product's */
};

/* A variant with its product's state; SHOP_ENOTFOUND when missing. lock:
 * kept from being deleted until the transaction ends (PostgreSQL). */
static int variant_row(struct ctx *ctx, int64_t variant_id, bool lock, struct variant_row *out)
{
    struct db_res *res;
    const char *sql = lock ? locking(ctx, variant_sql, variant_lock_sql_pg) : variant_sql;
    if (db_query(ctx->db, sql, DB_PARAMS(DB_INT(variant_id)), &res) != DB_OK)
        return SHOP_EDB;
    int rc = db_next(res);
    if (rc == DB_ROW) {
        out->product_id = db_col_int(res, 0);
        out->inventory = db_col_int(res, 1);
        out->is_active = db_col_bool(res, 2);
    }
    db_res_close(res);
    if (rc != DB_ROW)
        return rc == DB_DONE ? SHOP_ENOTFOUND : SHOP_EDB;
    return SHOP_OK;
}

/* The line of variant_id in cart_id, locked: *line_id 0 when there is none. */
static int line_of_variant(struct ctx *ctx, int64_t cart_id, int64_t variant_id, int64_t *line_id,
                           int64_t *quantity)
{
    *line_id = 0;
    *quantity = 0;
    struct db_res *res;
    if (db_query(ctx->db, locking(ctx, line_of_variant_sql, line_of_variant_lock_sql_pg),
                 DB_PARAMS(DB_INT(cart_id), DB_INT(variant_id)), &res) != DB_OK)
        return SHOP_EDB;
    int rc = db_next(res);
    if (rc == DB_ROW) {
        *line_id = db_col_int(res, 0);
        *quantity = db_col_int(res, 1);
    }
    db_res_close(res);
    return rc == DB_ROW || rc == DB_DONE ? SHOP_OK : SHOP_EDB;
}

/* ---- lines ---- */

struct line_row {
    int64_t id, variant_id, product_id, quantity, created_at, updated_at;
};

/* Rows of LINE_COLUMNS into an arena array; closes res. */
static int read_line_rows(struct ctx *ctx, struct db_res *res, struct line_row **rows, size_t *n)
{
    size_t cap = 8;
    *rows = arena_alloc(ctx->arena, cap * sizeof(**rows));
    *n = 0;
    int rc;
    while ((rc = db_next(res)) == DB_ROW) {
        if (*n == cap) {
            struct line_row *bigger = arena_alloc(ctx->arena, 2 * cap * sizeof(*bigger));
            memcpy(bigger, *rows, cap * sizeof(*bigger));
            *rows = bigger;
            cap *= 2;
        }
        (*rows)[(*n)++] = (struct line_row){
            .id = db_col_int(res, 0),
            .variant_id = db_col_int(res, 1),
            .product_id = db_col_int(res, 2),
            .quantity = db_col_int(res, 3),
            .created_at = db_col_int(res, 4),
            .updated_at = db_col_int(res, 5),
        };
    }
    db_res_close(res);
    return rc == DB_DONE ? SHOP_OK : SHOP_EDB;
}

static int id_cmp(const void *a, const void *b)
{
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return (x > y) - (x < y);
}

static int product_id_cmp(const void *a, const void *b)
{
    int64_t x = ((const struct product *)a)->id, y = ((const struct product *)b)->id;
    return (x > y) - (x < y);
}

/* The lines of rows[0..n), each with its product (read once per product,
 * whatever its state) and its variant inside that product. A row whose
 * product or variant went away between the two reads (deleted meanwhile:
 * the cascade removes the line too) is left out. */
static int build_lines(struct ctx *ctx, const struct line_row *rows, size_t n,
                       struct cart_line **lines, size_t *n_lines)
{
    *lines = NULL;
    *n_lines = 0;
    if (n == 0)
        return SHOP_OK;
    int64_t *ids = arena_alloc(ctx->arena, n * sizeof(*ids));
    for (size_t i = 0; i < n; i++)
        ids[i] = rows[i].product_id;
    qsort(ids, n, sizeof(*ids), id_cmp);
    size_t k = 0;
    for (size_t i = 0; i < n; i++)
        if (k == 0 || ids[k - 1] != ids[i])
            ids[k++] = ids[i];

    struct product_list products;
    int rc = catalog_products_by_ids(ctx, ids, k, &products);
    if (rc != SHOP_OK)
        return rc;
    /* products.items follow ids: ascending, so searchable. */
    *lines = arena_alloc(ctx->arena, n * sizeof(**lines));
    for (size_t i = 0; i < n; i++) {
        struct product key = {.id = rows[i].product_id};
        const struct product *p =
            bsearch(&key, products.items, products.n, sizeof(key), product_id_cmp);
        if (p == NULL)
            continue;
        const struct variant *v = NULL;
        for (size_t j = 0; j < p->n_variants && v == NULL; j++)
            if (p->variants[j].id == rows[i].variant_id)
                v = &p->variants[j];
        if (v == NULL)
            continue;
        struct cart_line *l = &(*lines)[(*n_lines)++];
        l->id = rows[i].id;
        l->quantity = rows[i].quantity;
        /* The copy shares p's variants array, so v points into it. */
        l->product = *p;
        l->variant = v;
        l->line_total_minor = mul_sat(v->price_minor, rows[i].quantity);
        l->created_at = rows[i].created_at;
        l->updated_at = rows[i].updated_at;
    }
    return SHOP_OK;
}

/* The lines and totals of cart (whose row is read). */
static int cart_fill(struct ctx *ctx, struct cart *c)
{
    c->lines = NULL;
    c->n_lines = 0;
    c->subtotal_minor = 0;
    c->total_quantity = 0;
    if (c->id == 0)
        return SHOP_OK;
    struct db_res *res;
    if (db_query(ctx->db,
                 "SELECT " LINE_COLUMNS LINE_FROM
                 " WHERE ci.cart_id = ? ORDER BY ci.created_at, ci.id",
                 DB_PARAMS(DB_INT(c->id)), &res) != DB_OK)
        return SHOP_EDB;
    struct line_row *rows;
    size_t n;
    int rc = read_line_rows(ctx, res, &rows, &n);
    if (rc == SHOP_OK)
        rc = build_lines(ctx, rows, n, &c->lines, &c->n_lines);
    if (rc != SHOP_OK)
        return rc;
    for (size_t i = 0; i < c->n_lines; i++) {
        c->subtotal_minor = add_sat(c->subtotal_minor, c->lines[i].line_total_minor);
        c->total_quantity = add_sat(c->total_quantity, c->lines[i].quantity);
    }
    return SHOP_OK;
}

/* One line of the user's cart. */
static int line_read(struct ctx *ctx, int64_t line_id, struct cart_line *out)
{
    struct db_res *res;
    if (db_query(ctx->db,
                 "SELECT " LINE_COLUMNS LINE_FROM
                 " JOIN carts c ON c.id = ci.cart_id WHERE ci.id = ? AND c.user_id = ?",
                 DB_PARAMS(DB_INT(line_id), DB_INT(user_id_of(ctx))), &res) != DB_OK)
        return SHOP_EDB;
    struct line_row *rows;
    size_t n;
    int rc = read_line_rows(ctx, res, &rows, &n);
    if (rc != SHOP_OK)
        return rc;
    struct cart_line *lines;
    size_t n_lines;
    if ((rc = build_lines(ctx, rows, n, &lines, &n_lines)) != SHOP_OK)
        return rc;
    if (n_lines == 0)
        return SHOP_ENOTFOUND;
    *out = lines[0];
    return SHOP_OK;
}

/* ---- reads ---- */

int cart_get(struct ctx *ctx, struct cart *out)
{
    int rc = cart_row(ctx, false, out);
    if (rc == SHOP_OK)
        rc = cart_fill(ctx, out);
    return rc;
}

int cart_get_for_order(struct ctx *ctx, struct cart *out)
{
    memset(out, 0, sizeof(*out));
    out->user_id = user_id_of(ctx);
    struct db_res *res;
    if (db_query(ctx->db,
                 "SELECT c.id, c.created_at, c.updated_at, ci.id, ci.quantity, ci.created_at, "
                 "ci.updated_at, v.id, v.price_minor, v.weight, v.inventory, p.id, p.name, "
                 "p.is_active FROM carts c JOIN cart_items ci ON ci.cart_id = c.id "
                 "JOIN product_variants v ON v.id = ci.variant_id "
                 "JOIN products p ON p.id = v.product_id "
                 "WHERE c.user_id = ? ORDER BY ci.created_at, ci.id",
                 DB_PARAMS(DB_INT(out->user_id)), &res) != DB_OK)
        return SHOP_EDB;
    size_t cap = 0;
    int rc;
    while ((rc = db_next(res)) == DB_ROW) {
        if (out->n_lines == cap) {
            cap = cap ? 2 * cap : 8;
            struct cart_line *bigger = arena_zalloc(ctx->arena, cap * sizeof(*bigger));
            if (out->n_lines)
                memcpy(bigger, out->lines, out->n_lines * sizeof(*bigger));
            out->lines = bigger;
        }
        out->id = db_col_int(res, 0);
        out->created_at = db_col_int(res, 1);
        out->updated_at = db_col_int(res, 2);
        struct cart_line *l = &out->lines[out->n_lines++];
        struct variant *v = arena_zalloc(ctx->arena, sizeof(*v));
        l->id = db_col_int(res, 3);
        l->quantity = db_col_int(res, 4);
        l->created_at = db_col_int(res, 5);
        l->updated_at = db_col_int(res, 6);
        v->id = db_col_int(res, 7);
        v->price_minor = db_col_int(res, 8);
        v->weight = catalog_col_text(ctx, res, 9);
        v->inventory = db_col_int(res, 10);
        l->product.id = db_col_int(res, 11);
        l->product.name = catalog_col_text(ctx, res, 12);
        l->product.is_active = db_col_bool(res, 13);
        l->product.variants = v;
        l->product.n_variants = 1;
        l->variant = v;
        l->line_total_minor = mul_sat(v->price_minor, l->quantity);
        out->subtotal_minor = add_sat(out->subtotal_minor, l->line_total_minor);
        out->total_quantity = add_sat(out->total_quantity, l->quantity);
    }
    db_res_close(res);
    return rc == DB_DONE ? SHOP_OK : SHOP_EDB;
}

static int do_create(struct ctx *ctx, void *arg)
{
    return cart_row_create(ctx, arg);
}

int cart_get_or_create(struct ctx *ctx, struct cart *out)
{
    int rc = cart_row(ctx, false, out);
    if (rc == SHOP_OK && out->id == 0)
        rc = write_tx(ctx, do_create, out);
    if (rc == SHOP_OK)
        rc = cart_fill(ctx, out);
    return rc;
}

int cart_get_line(struct ctx *ctx, int64_t line_id, struct cart_line *out)
{
    return line_read(ctx, line_id, out);
}

int cart_v1_variant(struct ctx *ctx, int64_t product_id, int64_t *variant_id)
{
    *variant_id = 0;
    /* The variant whose price v1 shows for the product (catalog.c's
     * price_minor: the first lowest price in position order). */
    int rc = db_query_int(ctx->db,
                          "SELECT v.id FROM product_variants v JOIN products p ON "
                          "p.id = v.product_id WHERE p.id = ? AND p.is_active = ? "
                          "ORDER BY v.price_minor, v.position, v.id LIMIT 1",
                          DB_PARAMS(DB_INT(product_id), DB_BOOL(true)), variant_id);
    if (rc == DB_ROW)
        return SHOP_OK;
    return rc == DB_DONE ? SHOP_ENOTFOUND : SHOP_EDB;
}

int cart_find_variant(struct ctx *ctx, int64_t product_id, int64_t price_minor,
                      const char *weight, bool *product_found, int64_t *variant_id)
{
    *product_found = false;
    *variant_id = 0;
    struct product p;
    int rc = catalog_product_get(ctx, product_id, false, &p);
    if (rc != SHOP_OK)
        return rc;
    *product_found = true;
    struct str want = str_trim(str_from(weight ? weight : ""));
    for (size_t i = 0; i < p.n_variants; i++) {
        const struct variant *v = &p.variants[i];
        if (v->price_minor == price_minor && str_eq_cstr(want, v->weight)) {
            *variant_id = v->id;
            return SHOP_OK;
        }
    }
    return SHOP_ENOTFOUND;
}

/* ---- writes ---- */

struct add_args {
    int64_t variant_id, quantity;
    enum cart_add_result *result;
    struct cart_line *out;
};

static int do_add(struct ctx *ctx, void *arg)
{
    struct add_args *a = arg;
    struct variant_row v;
    int rc = variant_row(ctx, a->variant_id, true, &v);
    if (rc == SHOP_ENOTFOUND || (rc == SHOP_OK && !v.is_active)) {
        *a->result = CART_NO_PRODUCT;
        return SHOP_OK;
    }
    if (rc != SHOP_OK)
        return rc;

    struct cart c;
    if ((rc = cart_row(ctx, true, &c)) != SHOP_OK)
        return rc;
    if (c.id == 0) {
        /* Refuse before making the cart, so a refusal writes nothing. */
        if (a->quantity > v.inventory) {
            *a->result = CART_NO_STOCK;
            return SHOP_OK;
        }
        if ((rc = cart_row_create(ctx, &c)) != SHOP_OK)
            return rc;
    }
    /* The cart may be a concurrent first add's: look for the line anyway. */
    int64_t line_id, existing;
    if ((rc = line_of_variant(ctx, c.id, a->variant_id, &line_id, &existing)) != SHOP_OK)
        return rc;
    int64_t total = add_sat(existing, a->quantity);
    if (total > v.inventory) {
        *a->result = CART_NO_STOCK;
        return SHOP_OK;
    }
    if (total > CART_QUANTITY_MAX) {
        *a->result = CART_BAD_QUANTITY;
        return SHOP_OK;
    }

    if (line_id != 0) {
        rc = db_exec(ctx->db,
                     "UPDATE cart_items SET quantity = quantity + ?, updated_at = ? WHERE id = ?",
                     DB_PARAMS(DB_INT(a->quantity), DB_INT(ctx->now), DB_INT(line_id)), NULL);
    } else {
        rc = db_query_int(ctx->db,
                          "INSERT INTO cart_items (cart_id, variant_id, quantity, created_at, "
                          "updated_at) VALUES (?, ?, ?, ?, ?) RETURNING id",
                          DB_PARAMS(DB_INT(c.id), DB_INT(a->variant_id), DB_INT(a->quantity),
                                    DB_INT(ctx->now), DB_INT(ctx->now)),
                          &line_id);
        rc = rc == DB_ROW ? DB_OK : rc == DB_DONE ? DB_ERR : rc;
    }
    if (rc != DB_OK)
        return write_failed(rc);
    if ((rc = cart_touch(ctx, c.id)) != SHOP_OK)
        return rc;
    *a->result = CART_ADDED;
    return a->out ? line_read(ctx, line_id, a->out) : SHOP_OK;
}

int cart_add(struct ctx *ctx, int64_t variant_id, int64_t quantity,
             enum cart_add_result *result, struct cart_line *out)
{
    if (quantity < 1 || quantity > CART_QUANTITY_MAX) {
        *result = CART_BAD_QUANTITY;
        return SHOP_OK;
    }
    struct add_args a = {variant_id, quantity, result, out};
    return write_tx(ctx, do_add, &a);
}

struct update_args {
    int64_t line_id, quantity, variant_id;
    enum cart_add_result *result;
    struct cart_line *out;
};

static int do_update(struct ctx *ctx, void *arg)
{
    struct update_args *a = arg;
    struct cart c;
    int rc = cart_row(ctx, true, &c);
    if (rc != SHOP_OK)
        return rc;
    if (c.id == 0)
        return SHOP_ENOTFOUND;

    /* The line first: another user's line is not found, whatever the
     * input (as the surfaces look the object up before validating). */
    struct db_res *res;
    if (db_query(ctx->db, locking(ctx, line_by_id_sql, line_by_id_lock_sql_pg),
                 DB_PARAMS(DB_INT(a->line_id), DB_INT(c.id)), &res) != DB_OK)
        return SHOP_EDB;
    int64_t cur_variant = 0, cur_quantity = 0, cur_product = 0;
    rc = db_next(res);
    if (rc == DB_ROW) {
        cur_variant = db_col_int(res, 0);
        cur_quantity = db_col_int(res, 1);
        cur_product = db_col_int(res, 2);
    }
    db_res_close(res);
    if (rc != DB_ROW)
        return rc == DB_DONE ? SHOP_ENOTFOUND : SHOP_EDB;

    if (a->quantity < 0 || a->quantity > CART_QUANTITY_MAX ||
        (a->quantity == 0 && a->variant_id == 0)) {
        *a->result = CART_BAD_QUANTITY;
        return SHOP_OK;
    }
    int64_t target = a->variant_id != 0 ? a->variant_id : cur_variant;
    struct variant_row v;
    rc = variant_row(ctx, target, true, &v);
    if (rc == SHOP_ENOTFOUND ||
        (rc == SHOP_OK && (!v.is_active || v.product_id != cur_product))) {
        *a->result = CART_NO_PRODUCT;
        return SHOP_OK;
    }
    if (rc != SHOP_OK)
        return rc;

    int64_t total = a->quantity != 0 ? a->quantity : cur_quantity;
    int64_t other_id = 0, other_quantity = 0;
    if (target != cur_variant) {
        rc = line_of_variant(ctx, c.id, target, &other_id, &other_quantity);
        if (rc != SHOP_OK)
            return rc;
        total = add_sat(total, other_quantity);
    }
    if (total > v.inventory) {
        *a->result = CART_NO_STOCK;
        return SHOP_OK;
    }
    if (total > CART_QUANTITY_MAX) {
        *a->result = CART_BAD_QUANTITY;
        return SHOP_OK;
    }

    /* The merged line goes first: (cart, variant) is unique. */
    if (other_id != 0) {
        rc = db_exec(ctx->db, "DELETE FROM cart_items WHERE id = ?", DB_PARAMS(DB_INT(other_id)),
                     NULL);
        if (rc != DB_OK)
            return write_failed(rc);
    }
    rc = db_exec(ctx->db,
                 "UPDATE cart_items SET variant_id = ?, quantity = ?, updated_at = ? WHERE id = ?",
                 DB_PARAMS(DB_INT(target), DB_INT(total), DB_INT(ctx->now), DB_INT(a->line_id)),
                 NULL);
    if (rc != DB_OK)
        return write_failed(rc);
    if ((rc = cart_touch(ctx, c.id)) != SHOP_OK)
        return rc;
    *a->result = CART_ADDED;
    return a->out ? line_read(ctx, a->line_id, a->out) : SHOP_OK;
}

int cart_update_line(struct ctx *ctx, int64_t line_id, int64_t quantity, int64_t variant_id,
                     enum cart_add_result *result, struct cart_line *out)
{
    struct update_args a = {line_id, quantity, variant_id, result, out};
    return write_tx(ctx, do_update, &a);
}

static int do_remove(struct ctx *ctx, void *arg)
{
    int64_t line_id = *(const int64_t *)arg;
    struct cart c;
    int rc = cart_row(ctx, true, &c);
    if (rc != SHOP_OK)
        return rc;
    if (c.id == 0)
        return SHOP_ENOTFOUND;
    int64_t removed = 0;
    rc = db_exec(ctx->db, "DELETE FROM cart_items WHERE id = ? AND cart_id = ?",
                 DB_PARAMS(DB_INT(line_id), DB_INT(c.id)), &removed);
    if (rc != DB_OK)
        return write_failed(rc);
    if (removed == 0)
        return SHOP_ENOTFOUND;
    return cart_touch(ctx, c.id);
}

int cart_remove_line(struct ctx *ctx, int64_t line_id)
{
    return write_tx(ctx, do_remove, &line_id);
}

static int do_clear(struct ctx *ctx, void *arg)
{
    (void)arg;
    struct cart c;
    int rc = cart_row(ctx, true, &c);
    if (rc != SHOP_OK || c.id == 0)
        return rc;
    int64_t removed = 0;
    rc = db_exec(ctx->db, "DELETE FROM cart_items WHERE cart_id = ?", DB_PARAMS(DB_INT(c.id)),
                 &removed);
    if (rc != DB_OK)
        return write_failed(rc);
    return removed > 0 ? cart_touch(ctx, c.id) : SHOP_OK;
}

int cart_clear(struct ctx *ctx)
{
    return write_tx(ctx, do_clear, NULL);
}

/* ---- validation ---- */

struct stock_now {
    int64_t variant_id;
    int64_t inventory;
    bool is_active;
};

static int stock_cmp(const void *a, const void *b)
{
    int64_t x = ((const struct stock_now *)a)->variant_id;
    int64_t y = ((const struct stock_now *)b)->variant_id;
    return (x > y) - (x < y);
}

/* The inventory and product state now of every variant in the cart's
 * lines, sorted by variant id: one query for the lines as stored. */
static int stock_of_cart(struct ctx *ctx, int64_t cart_id, size_t cap, struct stock_now **out,
                         size_t *n)
{
    struct db_res *res;
    if (db_query(ctx->db,
                 "SELECT v.id, v.inventory, p.is_active FROM cart_items ci "
                 "JOIN product_variants v ON v.id = ci.variant_id "
                 "JOIN products p ON p.id = v.product_id WHERE ci.cart_id = ?",
                 DB_PARAMS(DB_INT(cart_id)), &res) != DB_OK)
        return SHOP_EDB;
    *out = arena_alloc(ctx->arena, (cap ? cap : 1) * sizeof(**out));
    *n = 0;
    int rc;
    while ((rc = db_next(res)) == DB_ROW) {
        if (*n == cap) /* lines added since the caller read the cart */
            continue;
        (*out)[(*n)++] = (struct stock_now){db_col_int(res, 0), db_col_int(res, 1),
                                            db_col_bool(res, 2)};
    }
    db_res_close(res);
    if (rc != DB_DONE)
        return SHOP_EDB;
    qsort(*out, *n, sizeof(**out), stock_cmp);
    return SHOP_OK;
}

int cart_validate(struct ctx *ctx, const struct cart *cart, struct cart_problem **problems,
                  size_t *n_problems)
{
    *problems = NULL;
    *n_problems = 0;
    if (cart->id == 0 || cart->n_lines == 0)
        return SHOP_OK;
    struct stock_now *stock;
    size_t n_stock;
    int rc = stock_of_cart(ctx, cart->id, cart->n_lines, &stock, &n_stock);
    if (rc != SHOP_OK)
        return rc;

    *problems = arena_alloc(ctx->arena, cart->n_lines * sizeof(**problems));
    for (size_t i = 0; i < cart->n_lines; i++) {
        const struct cart_line *l = &cart->lines[i];
        struct stock_now key = {.variant_id = l->variant->id}, one;
        const struct stock_now *s = bsearch(&key, stock, n_stock, sizeof(key), stock_cmp);
        if (s == NULL) {
            /* Not a line of the cart as stored (changed since the caller
             * read it): the variant itself, now. */
            struct variant_row v;
            rc = variant_row(ctx, l->variant->id, false, &v);
            if (rc == SHOP_EDB)
                return rc;
            one = (struct stock_now){key.variant_id, rc == SHOP_OK ? v.inventory : 0,
                                     rc == SHOP_OK && v.is_active};
            s = &one;
        }
        if (!s->is_active)
            (*problems)[(*n_problems)++] = (struct cart_problem){l, 0, true};
        else if (l->quantity > s->inventory)
            (*problems)[(*n_problems)++] = (struct cart_problem){l, s->inventory, false};
    }
    if (*n_problems == 0)
        *problems = NULL;
    return SHOP_OK;
}
