/*
 * tests/unit/core/cart.c - src/core/cart.c through cart.h against a real
 * database: the cart made on the first add; adding to an existing line;
 * stock checked against the existing quantity plus the new one; quantity
 * bounds; inactive products and unknown variants refused with nothing
 * written; the v1 variant (lowest price, earliest position on a tie);
 * price-weight lookup (exact, trimmed, mismatches); line updates (quantity,
 * variant, merge with the variant's other line); another user's lines not
 * found; removal and clearing; validation problems (stock, inactive); line
 * order and totals; a write joined to the caller's transaction; and two
 * concurrent first adds of one user ending in one cart and one line.
 *
 * Every case runs on SQLite in a fresh temporary directory, then on
 * PostgreSQL when SHOPD_TEST_PG_URL is set (a schema per case, testdb.h);
 * without it the PostgreSQL cases are skipped.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/cart.h"
#include "core/catalog.h"
#include "core/core.h"
#include "core/user.h"
#include "db/db.h"
#include "testdb.h"
#include "util/arena.h"
#include "util/config.h"

#define T0 INT64_C(1700000000)

struct env {
    struct testdb t;
    struct arena *arena;
    struct config cfg;
    struct ctx ctx;
    struct user alice, bob;
    int64_t category_id;
};

/* ---- fixtures ---- */

static int64_t make_user(struct env *e, const char *name)
{
    int64_t id = 0;
    char email[64];
    snprintf(email, sizeof(email), "%s@example.com", name);
    assert_int_equal(db_query_int(e->t.db,
                                  "INSERT INTO users (username, email, password, date_joined) "
                                  "VALUES (?, ?, ?, ?) RETURNING id",
                                  DB_PARAMS(DB_TEXT(name), DB_TEXT(email), DB_TEXT("x"),
                                            DB_INT(T0)),
                                  &id),
                     DB_ROW);
    return id;
}

static int open_env(void **state, enum db_kind kind)
{
    *state = NULL;
    struct env *e = calloc(1, sizeof(*e));
    assert_non_null(e);
    if (!testdb_open(&e->t, kind, "cart")) {
        free(e);
        return 0; /* PostgreSQL without SHOPD_TEST_PG_URL: the case skips itself */
    }
    e->arena = arena_create();
    e->cfg.media_dir = e->t.dir;
    e->cfg.public_url = (char *)"http://testserver";
    e->ctx.db = e->t.db;
    e->ctx.arena = e->arena;
    e->ctx.cfg = &e->cfg;
    e->ctx.now = T0;
    e->ctx.now_us = T0 * 1000000;
    e->alice = (struct user){.id = make_user(e, "alice"), .username = "alice"};
    e->bob = (struct user){.id = make_user(e, "bob"), .username = "bob"};
    e->ctx.user = &e->alice;

    struct errors err;
    errors_init(&err, e->arena);
    struct category c;
    struct category_input in = {.name = "Spices", .n_tags = -1};
    assert_int_equal(catalog_category_create(&e->ctx, &in, &err, &c), SHOP_OK);
    e->category_id = c.id;
    *state = e;
    return 0;
}

static int setup_sqlite(void **state)
{
    return open_env(state, DB_SQLITE);
}

static int setup_pg(void **state)
{
    return open_env(state, DB_POSTGRES);
}

static int teardown(void **state)
{
    struct env *e = *state;
    if (e == NULL)
        return 0;
    arena_destroy(e->arena);
    testdb_close(&e->t);
    free(e);
    return 0;
}

static struct env *env_of(void **state)
{
    if (*state == NULL)
        skip(); /* PostgreSQL case without SHOPD_TEST_PG_URL */
    return *state;
}

/* ---- helpers ---- */

static struct product make_product_v(struct env *e, const char *name,
                                     const struct variant_input *v, size_t n)
{
    struct errors err;
    errors_init(&err, e->arena);
    struct product_input in = {.name = name,
                               .has_category = true,
                               .category_id = e->category_id,
                               .n_tags = -1,
                               .n_image_urls = -1,
                               .variants = v,
                               .n_variants = (ssize_t)n};
    struct product p;
    int rc = catalog_product_create(&e->ctx, &in, &err, &p);
    if (rc != SHOP_OK)
        fail_msg("%s: rc %d, %s", name, rc, err.head ? err.head->message : "-");
    assert_int_equal(p.n_variants, n);
    return p;
}

/* A product with one variant of this price and stock. */
static struct product make_product(struct env *e, const char *name, int64_t price,
                                   int64_t inventory)
{
    struct variant_input v = {price, "100gms", inventory};
    return make_product_v(e, name, &v, 1);
}

static void set_active(struct env *e, int64_t product_id, bool active)
{
    struct errors err;
    errors_init(&err, e->arena);
    struct product_input in = {.n_tags = -1, .n_image_urls = -1, .n_variants = -1,
                               .has_active = true, .is_active = active};
    assert_int_equal(catalog_product_update(&e->ctx, product_id, &in, &err, NULL), SHOP_OK);
}

static void set_inventory(struct env *e, int64_t variant_id, int64_t inventory)
{
    assert_int_equal(db_exec(e->t.db, "UPDATE product_variants SET inventory = ? WHERE id = ?",
                             DB_PARAMS(DB_INT(inventory), DB_INT(variant_id)), NULL),
                     DB_OK);
}

static int64_t count_of(struct env *e, const char *sql)
{
    int64_t n = -1;
    assert_int_equal(db_query_int(e->t.db, sql, DB_NO_PARAMS, &n), DB_ROW);
    return n;
}

/* Adds and expects result; returns the line (zeroed unless added). */
static struct cart_line add(struct env *e, int64_t variant_id, int64_t quantity,
                            enum cart_add_result want)
{
    struct cart_line l;
    memset(&l, 0, sizeof(l));
    enum cart_add_result r = (enum cart_add_result)-1;
    assert_int_equal(cart_add(&e->ctx, variant_id, quantity, &r, &l), SHOP_OK);
    assert_int_equal(r, want);
    return l;
}

static struct cart get(struct env *e)
{
    struct cart c;
    assert_int_equal(cart_get(&e->ctx, &c), SHOP_OK);
    return c;
}

static void assert_line_consistent(const struct cart_line *l)
{
    assert_non_null(l->variant);
    assert_true(l->variant >= l->product.variants &&
                l->variant < l->product.variants + l->product.n_variants);
    assert_int_equal(l->line_total_minor, l->variant->price_minor * l->quantity);
}

static enum cart_add_result update(struct env *e, int64_t line_id, int64_t quantity,
                                   int64_t variant_id, int want_rc)
{
    enum cart_add_result r = (enum cart_add_result)-1;
    assert_int_equal(cart_update_line(&e->ctx, line_id, quantity, variant_id, &r, NULL), want_rc);
    return r;
}

/* ---- add ---- */

static void test_add_creates_cart_and_line(void **state)
{
    struct env *e = env_of(state);
    struct product p = make_product(e, "Pepper", 25050, 10);

    struct cart c = get(e);
    assert_int_equal(c.id, 0);
    assert_int_equal(c.user_id, e->alice.id);
    assert_int_equal(c.n_lines, 0);
    assert_int_equal(c.subtotal_minor, 0);

    e->ctx.now = T0 + 5;
    struct cart_line l = add(e, p.variants[0].id, 2, CART_ADDED);
    assert_true(l.id > 0);
    assert_int_equal(l.quantity, 2);
    assert_int_equal(l.product.id, p.id);
    assert_string_equal(l.product.name, "Pepper");
    assert_int_equal(l.variant->id, p.variants[0].id);
    assert_string_equal(l.variant->weight, "100gms");
    assert_int_equal(l.line_total_minor, 50100);
    assert_int_equal(l.created_at, T0 + 5);
    assert_int_equal(l.updated_at, T0 + 5);
    assert_line_consistent(&l);

    c = get(e);
    assert_true(c.id > 0);
    assert_int_equal(c.user_id, e->alice.id);
    assert_int_equal(c.created_at, T0 + 5);
    assert_int_equal(c.updated_at, T0 + 5);
    assert_int_equal(c.n_lines, 1);
    assert_int_equal(c.lines[0].id, l.id);
    assert_int_equal(c.subtotal_minor, 50100);
    assert_int_equal(c.total_quantity, 2);
    assert_line_consistent(&c.lines[0]);

    /* cart_get_line reads the same line; out may be NULL on add. */
    struct cart_line again;
    assert_int_equal(cart_get_line(&e->ctx, l.id, &again), SHOP_OK);
    assert_int_equal(again.quantity, 2);
    assert_line_consistent(&again);
    enum cart_add_result r;
    assert_int_equal(cart_add(&e->ctx, p.variants[0].id, 1, &r, NULL), SHOP_OK);
    assert_int_equal(r, CART_ADDED);
    assert_int_equal(count_of(e, "SELECT count(*) FROM carts"), 1);
}

static void test_get_or_create(void **state)
{
    struct env *e = env_of(state);
    struct cart c;
    assert_int_equal(cart_get_or_create(&e->ctx, &c), SHOP_OK);
    assert_true(c.id > 0);
    assert_int_equal(c.n_lines, 0);
    assert_int_equal(c.created_at, T0);
    struct cart again;
    assert_int_equal(cart_get_or_create(&e->ctx, &again), SHOP_OK);
    assert_int_equal(again.id, c.id);
    assert_int_equal(get(e).id, c.id);
    assert_int_equal(count_of(e, "SELECT count(*) FROM carts"), 1);
}

static void test_add_same_variant_sums(void **state)
{
    struct env *e = env_of(state);
    struct product p = make_product(e, "Cumin", 1000, 10);
    struct cart_line first = add(e, p.variants[0].id, 2, CART_ADDED);
    e->ctx.now = T0 + 60;
    struct cart_line second = add(e, p.variants[0].id, 3, CART_ADDED);
    assert_int_equal(second.id, first.id);
    assert_int_equal(second.quantity, 5);
    assert_int_equal(second.line_total_minor, 5000);
    assert_int_equal(second.created_at, T0);
    assert_int_equal(second.updated_at, T0 + 60);
    struct cart c = get(e);
    assert_int_equal(c.n_lines, 1);
    assert_int_equal(c.updated_at, T0 + 60);
    assert_int_equal(count_of(e, "SELECT count(*) FROM cart_items"), 1);
}

static void test_stock_counts_existing(void **state)
{
    struct env *e = env_of(state);
    struct product p = make_product(e, "Saffron", 90000, 5);
    int64_t v = p.variants[0].id;

    /* Over stock on the first add: refused, and no cart made. */
    add(e, v, 6, CART_NO_STOCK);
    assert_int_equal(get(e).id, 0);
    assert_int_equal(count_of(e, "SELECT count(*) FROM carts"), 0);

    add(e, v, 3, CART_ADDED);
    add(e, v, 3, CART_NO_STOCK); /* 3 + 3 > 5 */
    assert_int_equal(get(e).lines[0].quantity, 3);
    add(e, v, 2, CART_ADDED); /* exactly the stock */
    add(e, v, 1, CART_NO_STOCK);
    assert_int_equal(get(e).lines[0].quantity, 5);

    /* Another user's line does not count against this one's. */
    e->ctx.user = &e->bob;
    assert_int_equal(add(e, v, 5, CART_ADDED).quantity, 5);

    /* Out of stock altogether. */
    struct product none = make_product(e, "Vanilla", 100, 0);
    add(e, none.variants[0].id, 1, CART_NO_STOCK);
}

static void test_bad_quantities(void **state)
{
    struct env *e = env_of(state);
    struct product p = make_product(e, "Salt", 10, 2000000);
    int64_t v = p.variants[0].id;
    add(e, v, 0, CART_BAD_QUANTITY);
    add(e, v, -1, CART_BAD_QUANTITY);
    add(e, v, INT64_MIN, CART_BAD_QUANTITY);
    add(e, v, CART_QUANTITY_MAX + 1, CART_BAD_QUANTITY);
    add(e, v, INT64_MAX, CART_BAD_QUANTITY);
    assert_int_equal(count_of(e, "SELECT count(*) FROM carts"), 0);

    /* The bound is per line: the sum may not pass it either. */
    assert_int_equal(add(e, v, CART_QUANTITY_MAX, CART_ADDED).quantity, CART_QUANTITY_MAX);
    add(e, v, 1, CART_BAD_QUANTITY);
    assert_int_equal(get(e).lines[0].quantity, CART_QUANTITY_MAX);
}

static void test_inactive_and_unknown(void **state)
{
    struct env *e = env_of(state);
    struct product p = make_product(e, "Mace", 500, 10);
    set_active(e, p.id, false);
    add(e, p.variants[0].id, 1, CART_NO_PRODUCT);
    add(e, 999999, 1, CART_NO_PRODUCT);
    add(e, 0, 1, CART_NO_PRODUCT);
    assert_int_equal(count_of(e, "SELECT count(*) FROM carts"), 0);
    set_active(e, p.id, true);
    add(e, p.variants[0].id, 1, CART_ADDED);
}

/* ---- variant lookups ---- */

static void test_v1_variant(void **state)
{
    struct env *e = env_of(state);
    struct variant_input v[] = {
        {300, "1kg", 1}, {100, "250gms", 1}, {200, "500gms", 1}, {100, "200gms", 1}};
    struct product p = make_product_v(e, "Turmeric", v, 4);
    int64_t id = 0;
    assert_int_equal(cart_v1_variant(&e->ctx, p.id, &id), SHOP_OK);
    assert_int_equal(id, p.variants[1].id); /* 100 at position 1 before 100 at position 3 */

    struct variant_input one = {700, "", 3};
    struct product q = make_product_v(e, "Clove", &one, 1);
    assert_int_equal(cart_v1_variant(&e->ctx, q.id, &id), SHOP_OK);
    assert_int_equal(id, q.variants[0].id);

    set_active(e, q.id, false);
    assert_int_equal(cart_v1_variant(&e->ctx, q.id, &id), SHOP_ENOTFOUND);
    assert_int_equal(id, 0);
    assert_int_equal(cart_v1_variant(&e->ctx, 424242, &id), SHOP_ENOTFOUND);
}

static void test_find_variant(void **state)
{
    struct env *e = env_of(state);
    struct variant_input v[] = {
        {210000, "100gms", 5}, {220000, "100gms", 5}, {210000, "102gms", 5}};
    struct product p = make_product_v(e, "Cardamom", v, 3);
    bool found = false;
    int64_t id = -1;

    assert_int_equal(cart_find_variant(&e->ctx, p.id, 220000, "100gms", &found, &id), SHOP_OK);
    assert_true(found);
    assert_int_equal(id, p.variants[1].id);
    assert_int_equal(cart_find_variant(&e->ctx, p.id, 210000, " \t102gms\n ", &found, &id),
                     SHOP_OK);
    assert_int_equal(id, p.variants[2].id);

    /* Mismatches: the product is there, the combination is not. */
    assert_int_equal(cart_find_variant(&e->ctx, p.id, 230000, "100gms", &found, &id),
                     SHOP_ENOTFOUND);
    assert_true(found);
    assert_int_equal(id, 0);
    assert_int_equal(cart_find_variant(&e->ctx, p.id, 210000, "100GMS", &found, &id),
                     SHOP_ENOTFOUND);
    assert_true(found);
    assert_int_equal(cart_find_variant(&e->ctx, p.id, 210000, "100 gms", &found, &id),
                     SHOP_ENOTFOUND);
    assert_int_equal(cart_find_variant(&e->ctx, p.id, 210000, "", &found, &id), SHOP_ENOTFOUND);
    assert_true(found);

    /* No such active product. */
    assert_int_equal(cart_find_variant(&e->ctx, 777777, 210000, "100gms", &found, &id),
                     SHOP_ENOTFOUND);
    assert_false(found);
    set_active(e, p.id, false);
    id = -1;
    assert_int_equal(cart_find_variant(&e->ctx, p.id, 220000, "100gms", &found, &id),
                     SHOP_ENOTFOUND);
    assert_false(found);
    assert_int_equal(id, 0);
}

/* ---- updates ---- */

static void test_update_quantity(void **state)
{
    struct env *e = env_of(state);
    struct product p = make_product(e, "Nutmeg", 1500, 6);
    struct cart_line l = add(e, p.variants[0].id, 2, CART_ADDED);

    e->ctx.now = T0 + 30;
    enum cart_add_result r = (enum cart_add_result)-1;
    struct cart_line out;
    assert_int_equal(cart_update_line(&e->ctx, l.id, 6, 0, &r, &out), SHOP_OK);
    assert_int_equal(r, CART_ADDED);
    assert_int_equal(out.id, l.id);
    assert_int_equal(out.quantity, 6); /* set, not added */
    assert_int_equal(out.line_total_minor, 9000);
    assert_int_equal(out.updated_at, T0 + 30);
    assert_int_equal(out.created_at, T0);
    assert_line_consistent(&out);
    assert_int_equal(get(e).updated_at, T0 + 30);

    assert_int_equal(update(e, l.id, 7, 0, SHOP_OK), CART_NO_STOCK);
    assert_int_equal(update(e, l.id, 0, 0, SHOP_OK), CART_BAD_QUANTITY);
    assert_int_equal(update(e, l.id, -3, 0, SHOP_OK), CART_BAD_QUANTITY);
    assert_int_equal(update(e, l.id, CART_QUANTITY_MAX + 1, 0, SHOP_OK), CART_BAD_QUANTITY);
    assert_int_equal(update(e, l.id, 1, 0, SHOP_OK), CART_ADDED);
    assert_int_equal(get(e).lines[0].quantity, 1);

    /* Stock that fell below the line refuses even a smaller quantity. */
    set_inventory(e, p.variants[0].id, 1);
    assert_int_equal(update(e, l.id, 2, 0, SHOP_OK), CART_NO_STOCK);

    /* A product made inactive cannot be changed, only removed. */
    set_active(e, p.id, false);
    assert_int_equal(update(e, l.id, 1, 0, SHOP_OK), CART_NO_PRODUCT);

    assert_int_equal(update(e, 987654, 1, 0, SHOP_ENOTFOUND), (enum cart_add_result)-1);
}

static void test_update_variant_and_merge(void **state)
{
    struct env *e = env_of(state);
    struct variant_input v[] = {{100, "100gms", 10}, {180, "200gms", 7}, {400, "500gms", 10}};
    struct product p = make_product_v(e, "Fennel", v, 3);
    struct product other = make_product(e, "Anise", 100, 10);
    struct cart_line a = add(e, p.variants[0].id, 2, CART_ADDED);
    e->ctx.now = T0 + 1;
    struct cart_line b = add(e, p.variants[1].id, 3, CART_ADDED);

    /* A new variant alone keeps the quantity. */
    enum cart_add_result r;
    struct cart_line out;
    assert_int_equal(cart_update_line(&e->ctx, a.id, 0, p.variants[2].id, &r, &out), SHOP_OK);
    assert_int_equal(r, CART_ADDED);
    assert_int_equal(out.id, a.id);
    assert_int_equal(out.variant->id, p.variants[2].id);
    assert_int_equal(out.quantity, 2);
    assert_int_equal(out.line_total_minor, 800);
    assert_line_consistent(&out);

    /* Variants of another product, or unknown ones, are refused. */
    assert_int_equal(update(e, a.id, 1, other.variants[0].id, SHOP_OK), CART_NO_PRODUCT);
    assert_int_equal(update(e, a.id, 1, 31337, SHOP_OK), CART_NO_PRODUCT);

    /* Merging into b's variant: 5 + 3 > 7 in stock. */
    assert_int_equal(update(e, a.id, 5, p.variants[1].id, SHOP_OK), CART_NO_STOCK);
    assert_int_equal(get(e).n_lines, 2);

    /* 4 + 3 = 7: a stays with the sum, b goes. */
    e->ctx.now = T0 + 9;
    assert_int_equal(cart_update_line(&e->ctx, a.id, 4, p.variants[1].id, &r, &out), SHOP_OK);
    assert_int_equal(r, CART_ADDED);
    assert_int_equal(out.id, a.id);
    assert_int_equal(out.quantity, 7);
    assert_int_equal(out.variant->id, p.variants[1].id);
    assert_int_equal(out.created_at, T0);
    assert_int_equal(out.updated_at, T0 + 9);
    struct cart c = get(e);
    assert_int_equal(c.n_lines, 1);
    assert_int_equal(c.lines[0].id, a.id);
    struct cart_line gone;
    assert_int_equal(cart_get_line(&e->ctx, b.id, &gone), SHOP_ENOTFOUND);

    /* The same variant again is a plain quantity change. */
    assert_int_equal(update(e, a.id, 6, p.variants[1].id, SHOP_OK), CART_ADDED);
    assert_int_equal(get(e).lines[0].quantity, 6);
}

/* ---- ownership, removal ---- */

static void test_other_users_line(void **state)
{
    struct env *e = env_of(state);
    struct product p = make_product(e, "Sumac", 100, 10);
    struct cart_line l = add(e, p.variants[0].id, 2, CART_ADDED);

    e->ctx.user = &e->bob;
    struct cart_line out;
    /* Bob without a cart, then with one of his own. */
    for (int round = 0; round < 2; round++) {
        assert_int_equal(cart_get_line(&e->ctx, l.id, &out), SHOP_ENOTFOUND);
        assert_int_equal(update(e, l.id, 1, 0, SHOP_ENOTFOUND), (enum cart_add_result)-1);
        assert_int_equal(update(e, l.id, 0, 0, SHOP_ENOTFOUND), (enum cart_add_result)-1);
        assert_int_equal(cart_remove_line(&e->ctx, l.id), SHOP_ENOTFOUND);
        add(e, p.variants[0].id, 1, CART_ADDED);
    }
    assert_int_equal(cart_clear(&e->ctx), SHOP_OK);

    e->ctx.user = &e->alice;
    assert_int_equal(cart_get_line(&e->ctx, l.id, &out), SHOP_OK);
    assert_int_equal(out.quantity, 2);
}

static void test_remove_and_clear(void **state)
{
    struct env *e = env_of(state);
    /* No cart yet: clearing is fine, removing finds nothing. */
    assert_int_equal(cart_clear(&e->ctx), SHOP_OK);
    assert_int_equal(cart_remove_line(&e->ctx, 1), SHOP_ENOTFOUND);
    assert_int_equal(count_of(e, "SELECT count(*) FROM carts"), 0);

    struct product p = make_product(e, "Allspice", 100, 10);
    struct product q = make_product(e, "Caraway", 200, 10);
    struct cart_line a = add(e, p.variants[0].id, 1, CART_ADDED);
    add(e, q.variants[0].id, 2, CART_ADDED);
    e->ctx.now = T0 + 10;
    assert_int_equal(cart_remove_line(&e->ctx, a.id), SHOP_OK);
    assert_int_equal(cart_remove_line(&e->ctx, a.id), SHOP_ENOTFOUND);
    struct cart c = get(e);
    assert_int_equal(c.n_lines, 1);
    assert_int_equal(c.lines[0].product.id, q.id);
    assert_int_equal(c.updated_at, T0 + 10);

    int64_t id = c.id;
    assert_int_equal(cart_clear(&e->ctx), SHOP_OK);
    c = get(e);
    assert_int_equal(c.id, id); /* the cart stays */
    assert_int_equal(c.n_lines, 0);
    assert_int_equal(c.subtotal_minor, 0);
    assert_int_equal(c.total_quantity, 0);
    assert_int_equal(cart_clear(&e->ctx), SHOP_OK);
}

/* ---- reading ---- */

static void test_validate(void **state)
{
    struct env *e = env_of(state);
    struct product p = make_product(e, "Ginger", 100, 10);
    struct product q = make_product(e, "Galangal", 200, 10);
    struct product s = make_product(e, "Star anise", 300, 10);
    add(e, p.variants[0].id, 4, CART_ADDED);
    add(e, q.variants[0].id, 2, CART_ADDED);
    add(e, s.variants[0].id, 1, CART_ADDED);

    struct cart c = get(e);
    struct cart_problem *problems;
    size_t n = 99;
    assert_int_equal(cart_validate(&e->ctx, &c, &problems, &n), SHOP_OK);
    assert_int_equal(n, 0);

    /* Stock sold elsewhere, and a product withdrawn. */
    set_inventory(e, p.variants[0].id, 3);
    set_active(e, q.id, false);
    c = get(e);
    assert_int_equal(c.n_lines, 3); /* the inactive product's line stays visible */
    assert_false(c.lines[1].product.is_active);
    assert_int_equal(cart_validate(&e->ctx, &c, &problems, &n), SHOP_OK);
    assert_int_equal(n, 2);
    assert_ptr_equal(problems[0].line, &c.lines[0]);
    assert_int_equal(problems[0].available, 3);
    assert_false(problems[0].inactive);
    assert_ptr_equal(problems[1].line, &c.lines[1]);
    assert_int_equal(problems[1].available, 0);
    assert_true(problems[1].inactive);

    /* The check reads stock now, not what the cart was read with. */
    set_inventory(e, p.variants[0].id, 4);
    assert_int_equal(cart_validate(&e->ctx, &c, &problems, &n), SHOP_OK);
    assert_int_equal(n, 1);
    assert_ptr_equal(problems[0].line, &c.lines[1]);

    /* An empty cart, and no cart, are valid. */
    assert_int_equal(cart_clear(&e->ctx), SHOP_OK);
    c = get(e);
    assert_int_equal(cart_validate(&e->ctx, &c, &problems, &n), SHOP_OK);
    assert_int_equal(n, 0);
    e->ctx.user = &e->bob;
    c = get(e);
    assert_int_equal(cart_validate(&e->ctx, &c, &problems, &n), SHOP_OK);
    assert_int_equal(n, 0);
}

static void test_order_and_totals(void **state)
{
    struct env *e = env_of(state);
    struct variant_input v[] = {{1999, "1kg", 100}, {99999, "5kg", 100}};
    struct product p = make_product_v(e, "Coriander", v, 2);
    struct product q = make_product(e, "Dill", 250, 100);

    /* Same second for the first two: the id orders them. */
    add(e, q.variants[0].id, 3, CART_ADDED);
    add(e, p.variants[1].id, 1, CART_ADDED);
    e->ctx.now = T0 + 1;
    add(e, p.variants[0].id, 2, CART_ADDED);
    e->ctx.now = T0 + 2;
    add(e, q.variants[0].id, 1, CART_ADDED); /* adding to a line does not move it */

    struct cart c = get(e);
    assert_int_equal(c.n_lines, 3);
    assert_int_equal(c.lines[0].variant->id, q.variants[0].id);
    assert_int_equal(c.lines[0].quantity, 4);
    assert_int_equal(c.lines[1].variant->id, p.variants[1].id);
    assert_int_equal(c.lines[2].variant->id, p.variants[0].id);
    for (size_t i = 0; i < c.n_lines; i++) {
        assert_line_consistent(&c.lines[i]);
        assert_int_equal(c.lines[i].product.n_variants, c.lines[i].product.id == p.id ? 2 : 1);
    }
    assert_int_equal(c.lines[1].product.price_minor, 1999);
    assert_int_equal(c.subtotal_minor, 4 * 250 + 99999 + 2 * 1999);
    assert_int_equal(c.total_quantity, 7);

    /* The order's one-query read: the same lines, totals and copied values. */
    struct cart o;
    assert_int_equal(cart_get_for_order(&e->ctx, &o), SHOP_OK);
    assert_int_equal(o.id, c.id);
    assert_int_equal(o.n_lines, c.n_lines);
    for (size_t i = 0; i < o.n_lines; i++) {
        assert_int_equal(o.lines[i].id, c.lines[i].id);
        assert_int_equal(o.lines[i].quantity, c.lines[i].quantity);
        assert_int_equal(o.lines[i].line_total_minor, c.lines[i].line_total_minor);
        assert_int_equal(o.lines[i].product.id, c.lines[i].product.id);
        assert_string_equal(o.lines[i].product.name, c.lines[i].product.name);
        assert_true(o.lines[i].product.is_active);
        assert_ptr_equal(o.lines[i].variant, &o.lines[i].product.variants[0]);
        assert_int_equal(o.lines[i].variant->id, c.lines[i].variant->id);
        assert_int_equal(o.lines[i].variant->price_minor, c.lines[i].variant->price_minor);
        assert_string_equal(o.lines[i].variant->weight, c.lines[i].variant->weight);
        assert_int_equal(o.lines[i].variant->inventory, c.lines[i].variant->inventory);
    }
    assert_int_equal(o.subtotal_minor, c.subtotal_minor);
    assert_int_equal(o.total_quantity, c.total_quantity);
}

/* A write joined to the caller's transaction is rolled back with it. */
static void test_joined_transaction(void **state)
{
    struct env *e = env_of(state);
    struct product p = make_product(e, "Oregano", 100, 10);
    bool own;
    assert_int_equal(core_tx_begin(&e->ctx, &own), SHOP_OK);
    assert_true(own);
    add(e, p.variants[0].id, 2, CART_ADDED);
    assert_int_equal(get(e).n_lines, 1);
    assert_int_equal(core_tx_end(&e->ctx, own, SHOP_EINVAL), SHOP_EINVAL);
    assert_int_equal(get(e).id, 0);
    assert_int_equal(count_of(e, "SELECT count(*) FROM cart_items"), 0);
}

/* Two first adds of one user at once: one cart, one line with both
 * quantities (on PostgreSQL the second waits on the first's cart row). */
struct racer {
    struct env *e;
    int64_t variant_id;
    int rc;
    enum cart_add_result result;
    int64_t quantity;
};

static void *race_add(void *arg)
{
    struct racer *r = arg;
    r->rc = -1; /* no cmocka assertions off the main thread */
    struct db *db = db_open(r->e->t.url);
    if (db == NULL)
        return NULL;
    struct arena *a = arena_create();
    struct ctx ctx = r->e->ctx;
    ctx.db = db;
    ctx.arena = a;
    struct cart_line l;
    r->rc = cart_add(&ctx, r->variant_id, 3, &r->result, &l);
    r->quantity = r->rc == SHOP_OK && r->result == CART_ADDED ? l.quantity : -1;
    arena_destroy(a);
    db_close(db);
    return NULL;
}

static void test_concurrent_first_add(void **state)
{
    struct env *e = env_of(state);
    struct product p = make_product(e, "Chili", 100, 10);
    bool own;
    assert_int_equal(core_tx_begin(&e->ctx, &own), SHOP_OK);
    add(e, p.variants[0].id, 2, CART_ADDED);
    struct racer r = {.e = e, .variant_id = p.variants[0].id};
    pthread_t t;
    assert_int_equal(pthread_create(&t, NULL, race_add, &r), 0);
    usleep(300 * 1000); /* the other writer now waits on our cart or lock */
    assert_int_equal(core_tx_end(&e->ctx, own, SHOP_OK), SHOP_OK);
    assert_int_equal(pthread_join(t, NULL), 0);
    assert_int_equal(r.rc, SHOP_OK);
    assert_int_equal(r.result, CART_ADDED);
    assert_int_equal(r.quantity, 5);
    struct cart c = get(e);
    assert_int_equal(c.n_lines, 1);
    assert_int_equal(c.lines[0].quantity, 5);
    assert_int_equal(count_of(e, "SELECT count(*) FROM carts"), 1);
}

/* ---- runner ---- */

static const struct {
    const char *name;
    CMUnitTestFunction fn;
} cases[] = {
    {"add_creates_cart_and_line", test_add_creates_cart_and_line},
    {"get_or_create", test_get_or_create},
    {"add_same_variant_sums", test_add_same_variant_sums},
    {"stock_counts_existing", test_stock_counts_existing},
    {"bad_quantities", test_bad_quantities},
    {"inactive_and_unknown", test_inactive_and_unknown},
    {"v1_variant", test_v1_variant},
    {"find_variant", test_find_variant},
    {"update_quantity", test_update_quantity},
    {"update_variant_and_merge", test_update_variant_and_merge},
    {"other_users_line", test_other_users_line},
    {"remove_and_clear", test_remove_and_clear},
    {"validate", test_validate},
    {"order_and_totals", test_order_and_totals},
    {"joined_transaction", test_joined_transaction},
    {"concurrent_first_add", test_concurrent_first_add},
};
#define NCASES (sizeof(cases) / sizeof(cases[0]))

static int run_backend(const char *group, CMFixtureFunction setup)
{
    struct CMUnitTest tests[NCASES];
    for (size_t i = 0; i < NCASES; i++)
        tests[i] = (struct CMUnitTest){cases[i].name, cases[i].fn, setup, teardown, NULL};
    return _cmocka_run_group_tests(group, tests, NCASES, NULL, NULL);
}

int main(void)
{
    int failed = 0;
    failed += run_backend("core/cart/sqlite", setup_sqlite);
    if (testdb_pg_url() == NULL)
        printf("core/cart/postgres: SHOPD_TEST_PG_URL not set, PostgreSQL cases skipped\n");
    failed += run_backend("core/cart/postgres", setup_pg);
    return failed != 0;
}
