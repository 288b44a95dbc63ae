/*
 * tests/unit/core/order.c - src/core/order.c against a real database: the
 * status vocabulary and the transition table case by case; GST rounding;
 * Idempotency-Key validity and fingerprints; v1 orders (lines merged,
 * prices copied, stock taken, every validation message, a refused line
 * rolling everything back); v1 and shop checkouts (empty cart, addresses,
 * clear_cart, no stock with the refused line's name, inactive products,
 * GST, the simulated gateway and a declined payment that takes no stock and
 * keeps the cart); prices changed after checkout leaving the order alone,
 * and during one making it run again;
 * reads scoped to the owner, lists newest first with their lines; updates
 * through the state machine; cancelling twice and concurrently giving stock
 * back once; deletion; the report; idempotent replays, mismatches, expiry
 * and concurrent identical requests; an order number drawn twice; and 20
 * clients racing for 10 units, by order and by checkout.
 *
 * The file includes order.c itself, to swap its order-number generator.
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

#include "../../../src/core/order.c" /* not "core/order.c": that is this file */
#include "testdb.h"
#include "util/config.h"

#define T0 INT64_C(1700000000)
#define RACERS 20

struct env {
    struct testdb t;
    struct arena *arena;
    struct config cfg;
    struct ctx ctx;
    struct user alice, bob, admin;
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
    if (!testdb_open(&e->t, kind, "order")) {
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
    e->alice = (struct user){.id = make_user(e, "alice"), .username = "alice",
                             .email = "alice@example.com", .user_type = "customer"};
    e->bob = (struct user){.id = make_user(e, "bob"), .username = "bob",
                           .email = "bob@example.com", .user_type = "customer"};
    e->admin = (struct user){.id = make_user(e, "root"), .username = "root",
                             .email = "root@example.com", .user_type = "admin", .is_staff = true};
    e->ctx.user = &e->admin;
    struct errors err;
    errors_init(&err, e->arena);
    struct category c;
    struct category_input in = {.name = "Electronics", .n_tags = -1};
    assert_int_equal(catalog_category_create(&e->ctx, &in, &err, &c), SHOP_OK);
    e->category_id = c.id;
    e->ctx.user = &e->alice;
    draw_order_number = random_order_number;
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
    draw_order_number = random_order_number;
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

static struct errors new_errors(struct env *e)
{
    struct errors err;
    errors_init(&err, e->arena);
    return err;
}

static const char *error_for(const struct errors *err, const char *field)
{
    for (const struct field_error *fe = err->head; fe; fe = fe->next)
        if (strcmp(fe->field, field) == 0)
            return fe->message;
    return NULL;
}

static void assert_error(const struct errors *err, const char *field, const char *message)
{
    const char *got = error_for(err, field);
    if (got == NULL || strcmp(got, message) != 0)
        fail_msg("errors[%s]: got \"%s\", expected \"%s\"", field, got ? got : "(none)", message);
}

static void as(struct env *e, struct user *u)
{
    e->ctx.user = u;
}

/* A product with one variant; returns the product (its variant in
 * variants[0]). Created as the admin; the current user is kept. */
static struct product make_product(struct env *e, const char *name, int64_t price,
                                   int64_t inventory)
{
    struct errors err = new_errors(e);
    struct variant_input v = {price, "1kg", inventory};
    struct product_input in = {.name = name,
                               .description = "A thing",
                               .has_category = true,
                               .category_id = e->category_id,
                               .n_tags = -1,
                               .n_image_urls = -1,
                               .variants = &v,
                               .n_variants = 1};
    struct product p;
    int rc = catalog_product_create(&e->ctx, &in, &err, &p);
    if (rc != SHOP_OK)
        fail_msg("%s: rc %d, %s", name, rc, err.head ? err.head->message : "-");
    return p;
}

static void set_active(struct env *e, int64_t product_id, bool active)
{
    struct errors err = new_errors(e);
    struct product_input up = {.n_tags = -1, .n_image_urls = -1, .n_variants = -1,
                               .has_active = true, .is_active = active};
    assert_int_equal(catalog_product_update(&e->ctx, product_id, &up, &err, NULL), SHOP_OK);
}

static int64_t sql_int(struct env *e, const char *sql, int64_t arg)
{
    int64_t v = -1;
    int rc = db_query_int(e->t.db, sql, DB_PARAMS(DB_INT(arg)), &v);
    if (rc == DB_DONE)
        return -1;
    assert_int_equal(rc, DB_ROW);
    return v;
}

static int64_t inventory(struct env *e, int64_t variant_id)
{
    return sql_int(e, "SELECT inventory FROM product_variants WHERE id = ?", variant_id);
}

static void set_inventory(struct env *e, int64_t variant_id, int64_t n)
{
    assert_int_equal(db_exec(e->t.db, "UPDATE product_variants SET inventory = ? WHERE id = ?",
                             DB_PARAMS(DB_INT(n), DB_INT(variant_id)), NULL),
                     DB_OK);
}

static int64_t n_orders(struct env *e)
{
    return sql_int(e, "SELECT count(*) FROM orders WHERE id > ?", 0);
}

static int64_t n_mail_jobs(struct env *e)
{
    int64_t n = -1;
    assert_int_equal(db_query_int(e->t.db, "SELECT count(*) FROM jobs WHERE kind = ?",
                                  DB_PARAMS(DB_TEXT("order_mail")), &n),
                     DB_ROW);
    return n;
}

static int64_t cart_quantity(struct env *e)
{
    struct cart c;
    assert_int_equal(cart_get(&e->ctx, &c), SHOP_OK);
    return c.total_quantity;
}

static void add_to_cart(struct env *e, int64_t variant_id, int64_t quantity)
{
    enum cart_add_result r = CART_NO_PRODUCT;
    assert_int_equal(cart_add(&e->ctx, variant_id, quantity, &r, NULL), SHOP_OK);
    assert_int_equal(r, CART_ADDED);
}

/* A v1 order of one product as the current user. */
static struct order order_one(struct env *e, int64_t product_id, int64_t quantity)
{
    struct errors err = new_errors(e);
    struct order_item_input item = {product_id, quantity};
    struct order o;
    int rc = order_create(&e->ctx, "1 Main St", "1 Main St", &item, 1, NULL, &err, &o);
    if (rc != SHOP_OK)
        fail_msg("order_create: rc %d, %s", rc, err.head ? err.head->message : "-");
    return o;
}

static int64_t make_address(struct env *e)
{
    struct errors err = new_errors(e);
    struct address_input in = {.first_name = "Asha", .last_name = "Rao", .line1 = "12 MG Road",
                               .city = "Pune", .state = "MH", .postal_code = "411001",
                               .country = "India"};
    struct address a;
    assert_int_equal(address_create(&e->ctx, &in, &err, &a), SHOP_OK);
    return a.id;
}

static bool is_order_number(const char *s)
{
    if (strlen(s) != ORDER_NUMBER_LEN || strncmp(s, "ORD-", 4) != 0)
        return false;
    for (size_t i = 4; i < ORDER_NUMBER_LEN; i++)
        if (!((s[i] >= 'A' && s[i] <= 'Z') || (s[i] >= '0' && s[i] <= '9')))
            return false;
    return true;
}

/* ---- vocabulary, state machine, tax, keys ---- */

static void test_status_names(void **state)
{
    (void)env_of(state);
    const char *names[] = {"pending", "processing", "completed", "cancelled"};
    const char *upper[] = {"PENDING", "PROCESSING", "COMPLETED", "CANCELLED"};
    for (int i = 0; i < ORDER_STATUS_COUNT; i++) {
        assert_string_equal(order_status_name((enum order_status)i), names[i]);
        enum order_status s = ORDER_STATUS_COUNT;
        assert_true(order_status_parse(names[i], &s));
        assert_int_equal(s, i);
        s = ORDER_STATUS_COUNT;
        assert_true(order_status_parse(upper[i], &s));
        assert_int_equal(s, i);
    }
    enum order_status s;
    assert_false(order_status_parse("Pending", &s));
    assert_false(order_status_parse("", &s));
    assert_false(order_status_parse("shipped", &s));
    assert_false(order_status_parse(NULL, &s));
    assert_string_equal(payment_status_name(PAYMENT_PENDING), "PENDING");
    assert_string_equal(payment_status_name(PAYMENT_COMPLETED), "COMPLETED");
    assert_string_equal(payment_status_name(PAYMENT_FAILED), "FAILED");
    assert_string_equal(payment_status_name(PAYMENT_REFUNDED), "REFUNDED");
}

static void test_transition_table(void **state)
{
    (void)env_of(state);
    /* expected[from][to], written out independently of order.c's table */
    static const bool expected[4][4] = {
        {true, true, true, true},     /* pending */
        {false, true, true, true},    /* processing */
        {false, false, true, false},  /* completed: final */
        {false, false, false, true},  /* cancelled: final */
    };
    for (int from = 0; from < 4; from++)
        for (int to = 0; to < 4; to++)
            if (order_transition_allowed((enum order_status)from, (enum order_status)to) !=
                expected[from][to])
                fail_msg("%s -> %s", order_status_name((enum order_status)from),
                         order_status_name((enum order_status)to));
    assert_false(order_transition_allowed(ORDER_STATUS_COUNT, ORDER_PENDING));
    assert_false(order_transition_allowed(ORDER_PENDING, ORDER_STATUS_COUNT));
}

static void test_gst_rounding(void **state)
{
    (void)env_of(state);
    assert_int_equal(order_tax(0, ORDER_GST_BP), 0);
    assert_int_equal(order_tax(1, ORDER_GST_BP), 0);    /* 0.18 */
    assert_int_equal(order_tax(3, ORDER_GST_BP), 1);    /* 0.54 */
    assert_int_equal(order_tax(24, ORDER_GST_BP), 4);   /* 4.32 */
    assert_int_equal(order_tax(25, ORDER_GST_BP), 5);   /* 4.50: half up */
    assert_int_equal(order_tax(999, ORDER_GST_BP), 180); /* 179.82 */
    assert_int_equal(order_tax(2498, ORDER_GST_BP), 450); /* 449.64 */
    assert_int_equal(order_tax(100000, ORDER_GST_BP), 18000);
    assert_int_equal(order_tax(99999, 0), 0);
    /* 10^15 x 1800 would overflow a naive multiplication */
    assert_int_equal(order_tax(INT64_C(1000000000000000), ORDER_GST_BP),
                     INT64_C(180000000000000));
    assert_int_equal(order_tax(INT64_C(9000000000000000025), ORDER_GST_BP),
                     INT64_C(1620000000000000005)); /* ...4.5 up */
}

static void test_idem_key_and_fingerprint(void **state)
{
    struct env *e = env_of(state);
    assert_true(order_idem_key_valid("a"));
    assert_true(order_idem_key_valid("550e8400-e29b-41d4-a716-446655440000"));
    assert_true(order_idem_key_valid("!~"));
    assert_false(order_idem_key_valid(NULL));
    assert_false(order_idem_key_valid(""));
    assert_false(order_idem_key_valid("has space"));
    assert_false(order_idem_key_valid("tab\there"));
    assert_false(order_idem_key_valid("caf\xc3\xa9"));
    char key[257];
    memset(key, 'k', sizeof(key));
    key[255] = '\0';
    assert_true(order_idem_key_valid(key));
    key[255] = 'k';
    key[256] = '\0';
    assert_false(order_idem_key_valid(key));

    /* sha256("POST\n/api/v1/orders/\n{\"a\":1}") */
    const char *fp = order_idem_fingerprint(&e->ctx, "POST", "/api/v1/orders/", "{\"a\":1}", 7);
    assert_string_equal(fp, "c15905a41d0787ac7ac3f043699b1d80518197b04294d42eb42640d4d2b6e018");
    /* sha256("GET\n/\n") */
    assert_string_equal(order_idem_fingerprint(&e->ctx, "GET", "/", NULL, 0),
                        "139fb16fdd19069e75f6f3dd0e619a89fb157dab65e8722c66e6b3fd43f7900c");
    assert_string_not_equal(fp, order_idem_fingerprint(&e->ctx, "POST", "/api/v1/orders/",
                                                        "{\"a\":2}", 7));
}

/* ---- v1 orders ---- */

static void test_create_order(void **state)
{
    struct env *e = env_of(state);
    struct product laptop = make_product(e, "Laptop", 99999, 50);
    struct product mouse = make_product(e, "Mouse", 1250, 10);
    as(e, &e->alice);
    struct errors err = new_errors(e);
    struct order_item_input items[] = {{laptop.id, 2}, {mouse.id, 1}, {laptop.id, 1}};
    struct order o;
    assert_int_equal(order_create(&e->ctx, "  123 Main St, City  ", "PO Box 9", items, 3, NULL,
                                  &err, &o),
                     SHOP_OK);
    assert_false(errors_any(&err));
    assert_true(is_order_number(o.order_number));
    assert_true(o.id > 0);
    assert_int_equal(o.user_id, e->alice.id);
    assert_string_equal(o.user_email, "alice@example.com");
    assert_int_equal(o.status, ORDER_PENDING);
    assert_int_equal(o.payment_status, PAYMENT_PENDING);
    assert_int_equal(o.tax_rate_bp, 0);
    assert_int_equal(o.tax_minor, 0);
    assert_int_equal(o.subtotal_minor, 3 * 99999 + 1250);
    assert_int_equal(o.total_minor, 3 * 99999 + 1250);
    assert_string_equal(o.shipping_address, "123 Main St, City");
    assert_string_equal(o.billing_address, "PO Box 9");
    assert_true(o.stock_held);
    assert_null(o.stripe_payment_intent_id);
    assert_int_equal(o.created_at, T0);
    /* the same product twice is one line */
    assert_int_equal(o.n_items, 2);
    assert_int_equal(o.items[0].product_id, laptop.id);
    assert_int_equal(o.items[0].variant_id, laptop.variants[0].id);
    assert_string_equal(o.items[0].product_name, "Laptop");
    assert_string_equal(o.items[0].weight, "1kg");
    assert_int_equal(o.items[0].quantity, 3);
    assert_int_equal(o.items[0].unit_price_minor, 99999);
    assert_int_equal(o.items[0].line_total_minor, 299997);
    assert_int_equal(o.items[1].quantity, 1);
    assert_int_equal(inventory(e, laptop.variants[0].id), 47);
    assert_int_equal(inventory(e, mouse.variants[0].id), 9);
    assert_int_equal(n_mail_jobs(e), 1);

    /* what was written reads back the same */
    struct order back;
    assert_int_equal(order_get(&e->ctx, o.id, &back), SHOP_OK);
    assert_string_equal(back.order_number, o.order_number);
    assert_int_equal(back.total_minor, o.total_minor);
    assert_int_equal(back.n_items, 2);
    assert_int_equal(back.items[0].id, o.items[0].id);
    assert_int_equal(back.items[1].line_total_minor, 1250);
    assert_true(back.stock_held);
    assert_int_equal(order_get_by_number(&e->ctx, o.order_number, &back), SHOP_OK);
    assert_int_equal(back.id, o.id);
    assert_int_equal(order_get_by_number(&e->ctx, "ORD-NOPE0000", &back), SHOP_ENOTFOUND);
    assert_int_equal(order_get(&e->ctx, o.id + 1000, &back), SHOP_ENOTFOUND);
}

static void test_create_validation(void **state)
{
    struct env *e = env_of(state);
    struct product laptop = make_product(e, "Laptop", 99999, 5);
    struct product old = make_product(e, "Old", 100, 5);
    set_active(e, old.id, false);
    as(e, &e->alice);
    struct order o;

    struct errors err = new_errors(e);
    struct order_item_input ok = {laptop.id, 1};
    assert_int_equal(order_create(&e->ctx, NULL, "  ", &ok, 1, NULL, &err, &o), SHOP_EINVAL);
    assert_error(&err, "shipping_address", "This field is required.");
    assert_error(&err, "billing_address", "This field may not be blank.");

    err = new_errors(e);
    assert_int_equal(order_create(&e->ctx, "a", "b", NULL, 0, NULL, &err, &o), SHOP_EINVAL);
    assert_error(&err, "items", "This field is required.");
    err = new_errors(e);
    assert_int_equal(order_create(&e->ctx, "a", "b", &ok, 0, NULL, &err, &o), SHOP_EINVAL);
    assert_error(&err, "items", "This list may not be empty.");
    struct order_item_input many[ORDER_ITEMS_MAX + 1];
    for (size_t i = 0; i <= ORDER_ITEMS_MAX; i++)
        many[i] = ok;
    err = new_errors(e);
    assert_int_equal(order_create(&e->ctx, "a", "b", many, ORDER_ITEMS_MAX + 1, NULL, &err, &o),
                     SHOP_EINVAL);
    assert_error(&err, "items", "Ensure this field has no more than 100 elements.");

    err = new_errors(e);
    struct order_item_input bad[] = {{laptop.id, 1}, {999999, 1}, {old.id, 1}, {laptop.id, 0},
                                     {-3, -1}};
    assert_int_equal(order_create(&e->ctx, "a", "b", bad, 5, NULL, &err, &o), SHOP_EINVAL);
    assert_null(error_for(&err, "items.0.product_id"));
    assert_error(&err, "items.1.product_id", "Product not found or inactive");
    assert_error(&err, "items.2.product_id", "Product not found or inactive");
    assert_error(&err, "items.3.quantity", "Ensure this value is greater than or equal to 1.");
    assert_error(&err, "items.4.product_id", "Product not found or inactive");
    assert_error(&err, "items.4.quantity", "Ensure this value is greater than or equal to 1.");
    assert_int_equal(n_orders(e), 0);
    assert_int_equal(inventory(e, laptop.variants[0].id), 5);
    assert_int_equal(n_mail_jobs(e), 0);

    /* no user: nothing to own the order */
    as(e, NULL);
    err = new_errors(e);
    assert_int_equal(order_create(&e->ctx, "a", "b", &ok, 1, NULL, &err, &o), SHOP_EFORBIDDEN);
}

/* One short line refuses the whole order: the lines before it (taken
 * first) are rolled back too. */
static void test_create_insufficient_stock(void **state)
{
    struct env *e = env_of(state);
    struct product a = make_product(e, "Alpha", 100, 5);
    struct product b = make_product(e, "Beta", 200, 1);
    as(e, &e->alice);
    struct errors err = new_errors(e);
    struct order_item_input items[] = {{a.id, 5}, {b.id, 2}};
    struct order o;
    assert_int_equal(order_create(&e->ctx, "x", "y", items, 2, NULL, &err, &o), SHOP_EINVAL);
    assert_error(&err, ERRORS_NON_FIELD, "Insufficient stock");
    assert_int_equal(inventory(e, a.variants[0].id), 5);
    assert_int_equal(inventory(e, b.variants[0].id), 1);
    assert_int_equal(n_orders(e), 0);
    assert_int_equal(n_mail_jobs(e), 0);
    /* exactly what is left is fine */
    items[1].quantity = 1;
    err = new_errors(e);
    assert_int_equal(order_create(&e->ctx, "x", "y", items, 2, NULL, &err, &o), SHOP_OK);
    assert_int_equal(inventory(e, a.variants[0].id), 0);
    assert_int_equal(inventory(e, b.variants[0].id), 0);
}

/* ---- checkout ---- */

static void test_checkout_v1(void **state)
{
    struct env *e = env_of(state);
    struct product laptop = make_product(e, "Laptop", 99999, 5);
    struct product mouse = make_product(e, "Mouse", 1250, 10);
    as(e, &e->alice);
    struct checkout_input in = {.kind = CHECKOUT_V1, .shipping_address = "1 Main St",
                                .billing_address = "1 Main St", .clear_cart = true};
    struct checkout_out out;
    struct errors err = new_errors(e);

    /* no cart at all, then an empty one */
    assert_int_equal(order_checkout(&e->ctx, &in, NULL, &err, &out), SHOP_OK);
    assert_int_equal(out.result, CHECKOUT_EMPTY);
    add_to_cart(e, mouse.variants[0].id, 1);
    assert_int_equal(cart_clear(&e->ctx), SHOP_OK);
    assert_int_equal(order_checkout(&e->ctx, &in, NULL, &err, &out), SHOP_OK);
    assert_int_equal(out.result, CHECKOUT_EMPTY);

    add_to_cart(e, laptop.variants[0].id, 2);
    add_to_cart(e, mouse.variants[0].id, 3);

    /* addresses are checked first */
    struct checkout_input bad = in;
    bad.shipping_address = " ";
    bad.billing_address = NULL;
    assert_int_equal(order_checkout(&e->ctx, &bad, NULL, &err, &out), SHOP_EINVAL);
    assert_error(&err, "shipping_address", "This field may not be blank.");
    assert_error(&err, "billing_address", "This field is required.");
    assert_int_equal(n_orders(e), 0);

    /* not enough stock: nothing written, the refused line named */
    set_inventory(e, laptop.variants[0].id, 1);
    err = new_errors(e);
    assert_int_equal(order_checkout(&e->ctx, &in, NULL, &err, &out), SHOP_OK);
    assert_int_equal(out.result, CHECKOUT_NO_STOCK);
    assert_non_null(out.first_short_name);
    assert_string_equal(out.first_short_name, "Laptop");
    assert_int_equal(out.n_problems, 1);
    assert_int_equal(out.problems[0].available, 1);
    assert_false(out.problems[0].inactive);
    assert_int_equal(n_orders(e), 0);
    assert_int_equal(inventory(e, laptop.variants[0].id), 1);
    assert_int_equal(inventory(e, mouse.variants[0].id), 10);
    assert_int_equal(cart_quantity(e), 5);

    /* enough again: the order, the cart emptied */
    set_inventory(e, laptop.variants[0].id, 5);
    assert_int_equal(order_checkout(&e->ctx, &in, NULL, &err, &out), SHOP_OK);
    assert_int_equal(out.result, CHECKOUT_OK);
    struct order *o = &out.order;
    assert_true(is_order_number(o->order_number));
    assert_int_equal(o->status, ORDER_PENDING);
    assert_int_equal(o->payment_status, PAYMENT_PENDING);
    assert_int_equal(o->tax_minor, 0);
    assert_int_equal(o->subtotal_minor, 2 * 99999 + 3 * 1250);
    assert_int_equal(o->total_minor, o->subtotal_minor);
    assert_int_equal(o->n_items, 2);
    assert_string_equal(o->items[0].product_name, "Laptop");
    assert_int_equal(o->items[0].quantity, 2);
    assert_string_equal(o->items[1].product_name, "Mouse");
    assert_int_equal(o->items[1].line_total_minor, 3750);
    assert_int_equal(o->address_id, 0);
    assert_int_equal(inventory(e, laptop.variants[0].id), 3);
    assert_int_equal(inventory(e, mouse.variants[0].id), 7);
    assert_int_equal(cart_quantity(e), 0);
    assert_int_equal(n_mail_jobs(e), 1);

    /* clear_cart false keeps the cart */
    add_to_cart(e, mouse.variants[0].id, 1);
    in.clear_cart = false;
    assert_int_equal(order_checkout(&e->ctx, &in, NULL, &err, &out), SHOP_OK);
    assert_int_equal(out.result, CHECKOUT_OK);
    assert_int_equal(cart_quantity(e), 1);
    assert_int_equal(inventory(e, mouse.variants[0].id), 6);
    assert_int_equal(n_orders(e), 2);
}

/* A line whose product was deactivated counts as out of stock. */
static void test_checkout_inactive_product(void **state)
{
    struct env *e = env_of(state);
    struct product p = make_product(e, "Retired", 500, 10);
    as(e, &e->alice);
    add_to_cart(e, p.variants[0].id, 1);
    as(e, &e->admin);
    set_active(e, p.id, false);
    as(e, &e->alice);
    struct checkout_input in = {.kind = CHECKOUT_V1, .shipping_address = "a",
                                .billing_address = "b", .clear_cart = true};
    struct checkout_out out;
    struct errors err = new_errors(e);
    assert_int_equal(order_checkout(&e->ctx, &in, NULL, &err, &out), SHOP_OK);
    assert_int_equal(out.result, CHECKOUT_NO_STOCK);
    assert_string_equal(out.first_short_name, "Retired");
    assert_int_equal(out.problems[0].available, 0);
    assert_true(out.problems[0].inactive);
    assert_int_equal(inventory(e, p.variants[0].id), 10);
    assert_int_equal(n_orders(e), 0);
}

static void test_checkout_shop(void **state)
{
    struct env *e = env_of(state);
    struct product laptop = make_product(e, "Laptop", 999, 5);
    struct product mouse = make_product(e, "Mouse", 500, 5);
    as(e, &e->bob);
    int64_t bobs_address = make_address(e);
    as(e, &e->alice);
    int64_t address = make_address(e);
    add_to_cart(e, laptop.variants[0].id, 2);
    add_to_cart(e, mouse.variants[0].id, 1);
    struct checkout_out out;
    struct errors err = new_errors(e);

    /* someone else's address, or none */
    struct checkout_input in = {.kind = CHECKOUT_SHOP, .address_id = bobs_address};
    assert_int_equal(order_checkout(&e->ctx, &in, NULL, &err, &out), SHOP_OK);
    assert_int_equal(out.result, CHECKOUT_NO_ADDRESS);
    in.address_id = 0;
    assert_int_equal(order_checkout(&e->ctx, &in, NULL, &err, &out), SHOP_OK);
    assert_int_equal(out.result, CHECKOUT_NO_ADDRESS);
    assert_int_equal(n_orders(e), 0);

    in.address_id = address;
    assert_int_equal(order_checkout(&e->ctx, &in, NULL, &err, &out), SHOP_OK);
    assert_int_equal(out.result, CHECKOUT_OK);
    struct order *o = &out.order;
    assert_int_equal(o->status, ORDER_PROCESSING);
    assert_int_equal(o->payment_status, PAYMENT_COMPLETED);
    assert_int_equal(o->subtotal_minor, 2498);
    assert_int_equal(o->tax_rate_bp, 1800);
    assert_int_equal(o->tax_minor, 450); /* 449.64 */
    assert_int_equal(o->total_minor, 2948);
    assert_int_equal(o->address_id, address);
    assert_string_equal(o->shipping_address, "Asha Rao, 12 MG Road, Pune, MH 411001, India");
    assert_string_equal(o->billing_address, o->shipping_address);
    assert_true(o->stock_held);
    assert_int_equal(inventory(e, laptop.variants[0].id), 3);
    assert_int_equal(inventory(e, mouse.variants[0].id), 4);
    assert_int_equal(cart_quantity(e), 0);
    assert_int_equal(n_mail_jobs(e), 1);
    struct order back;
    assert_int_equal(order_get_by_number(&e->ctx, o->order_number, &back), SHOP_OK);
    assert_int_equal(back.tax_minor, 450);
    assert_int_equal(back.address_id, address);
    assert_int_equal(back.status, ORDER_PROCESSING);
}

/* A declined payment: the order is recorded cancelled / FAILED, no stock
 * taken, the cart kept, no email. */
static void test_payment_failure(void **state)
{
    struct env *e = env_of(state);
    struct product laptop = make_product(e, "Laptop", 999, 5);
    as(e, &e->alice);
    int64_t address = make_address(e);
    add_to_cart(e, laptop.variants[0].id, 2);
    struct checkout_input in = {.kind = CHECKOUT_SHOP, .address_id = address,
                                .simulate_failure = true};
    struct checkout_out out;
    struct errors err = new_errors(e);
    assert_int_equal(order_checkout(&e->ctx, &in, NULL, &err, &out), SHOP_OK);
    assert_int_equal(out.result, CHECKOUT_PAYMENT_FAILED);
    assert_true(is_order_number(out.order.order_number));
    assert_int_equal(out.order.status, ORDER_CANCELLED);
    assert_int_equal(out.order.payment_status, PAYMENT_FAILED);
    assert_false(out.order.stock_held);
    assert_int_equal(inventory(e, laptop.variants[0].id), 5);
    assert_int_equal(cart_quantity(e), 2);
    assert_int_equal(n_mail_jobs(e), 0);
    struct order back;
    assert_int_equal(order_get(&e->ctx, out.order.id, &back), SHOP_OK);
    assert_int_equal(back.status, ORDER_CANCELLED);
    assert_int_equal(back.payment_status, PAYMENT_FAILED);
    assert_false(back.stock_held);
    /* nothing left to give back: cancelling is refused, deleting returns nothing */
    assert_int_equal(order_cancel(&e->ctx, back.order_number, NULL), SHOP_ECONFLICT);
    as(e, &e->admin);
    assert_int_equal(order_delete(&e->ctx, back.id), SHOP_OK);
    assert_int_equal(inventory(e, laptop.variants[0].id), 5);

    /* trying again succeeds from the kept cart */
    as(e, &e->alice);
    in.simulate_failure = false;
    assert_int_equal(order_checkout(&e->ctx, &in, NULL, &err, &out), SHOP_OK);
    assert_int_equal(out.result, CHECKOUT_OK);
    assert_int_equal(inventory(e, laptop.variants[0].id), 3);
    assert_int_equal(cart_quantity(e), 0);
}

static void test_payment_simulate(void **state)
{
    struct env *e = env_of(state);
    const char *ref = NULL, *ref2 = NULL;
    assert_true(payment_simulate(&e->ctx, 100, false, &ref));
    assert_non_null(ref);
    assert_int_equal(strncmp(ref, "sim_", 4), 0);
    assert_int_equal(strlen(ref), 28);
    assert_false(payment_simulate(&e->ctx, 100, true, &ref2));
    assert_string_not_equal(ref, ref2);
}

static void test_price_change_after_checkout(void **state)
{
    struct env *e = env_of(state);
    struct product laptop = make_product(e, "Laptop", 99999, 5);
    as(e, &e->alice);
    add_to_cart(e, laptop.variants[0].id, 1);
    struct checkout_input in = {.kind = CHECKOUT_V1, .shipping_address = "a",
                                .billing_address = "b", .clear_cart = true};
    struct checkout_out out;
    struct errors err = new_errors(e);
    assert_int_equal(order_checkout(&e->ctx, &in, NULL, &err, &out), SHOP_OK);
    assert_int_equal(out.result, CHECKOUT_OK);
    as(e, &e->admin);
    struct variant_input v = {150000, "2kg", 5};
    struct product_input up = {.name = "Laptop Pro", .n_tags = -1, .n_image_urls = -1,
                               .variants = &v, .n_variants = 1};
    assert_int_equal(catalog_product_update(&e->ctx, laptop.id, &up, &err, NULL), SHOP_OK);
    as(e, &e->alice);
    struct order back;
    assert_int_equal(order_get(&e->ctx, out.order.id, &back), SHOP_OK);
    assert_int_equal(back.n_items, 1);
    assert_string_equal(back.items[0].product_name, "Laptop");
    assert_string_equal(back.items[0].weight, "1kg");
    assert_int_equal(back.items[0].unit_price_minor, 99999);
    assert_int_equal(back.items[0].line_total_minor, 99999);
    assert_int_equal(back.total_minor, 99999);
    /* a deleted product leaves the copy behind */
    as(e, &e->admin);
    assert_int_equal(catalog_product_delete(&e->ctx, laptop.id), SHOP_OK);
    assert_int_equal(order_get(&e->ctx, out.order.id, &back), SHOP_OK);
    assert_int_equal(back.items[0].product_id, 0);
    assert_int_equal(back.items[0].variant_id, 0);
    assert_string_equal(back.items[0].product_name, "Laptop");
}

/* The decrement checks the price the line copied earlier in the
 * transaction: a price changed in between (possible on PostgreSQL, where
 * the copy is read without a lock) runs the attempt again. */
static void test_take_stock_checks_price(void **state)
{
    struct env *e = env_of(state);
    struct product p = make_product(e, "Thing", 100, 5);
    struct product q = make_product(e, "Other", 300, 1);
    struct line l[2] = {{.variant_id = q.variants[0].id, .quantity = 1, .unit_price_minor = 300},
                        {.variant_id = p.variants[0].id, .quantity = 2, .unit_price_minor = 99}};
    size_t refused = 9;
    assert_int_equal(db_begin_write(e->t.db), DB_OK);
    assert_int_equal(take_stock(&e->ctx, l, 2, &refused), SHOP_RETRY);
    assert_int_equal(db_rollback(e->t.db), DB_OK);
    l[1].unit_price_minor = 100;
    assert_int_equal(db_begin_write(e->t.db), DB_OK);
    assert_int_equal(take_stock(&e->ctx, l, 2, &refused), SHOP_OK);
    assert_int_equal(inventory(e, p.variants[0].id), 3);
    assert_int_equal(inventory(e, q.variants[0].id), 0);
    assert_int_equal(db_rollback(e->t.db), DB_OK);
    l[0].quantity = 2; /* the first line (taken second: variant id order) is short */
    assert_int_equal(db_begin_write(e->t.db), DB_OK);
    assert_int_equal(take_stock(&e->ctx, l, 2, &refused), TX_REFUSED);
    assert_int_equal(refused, 0);
    assert_int_equal(db_rollback(e->t.db), DB_OK);
    assert_int_equal(inventory(e, p.variants[0].id), 5);
    assert_int_equal(inventory(e, q.variants[0].id), 1);
}

/* ---- reading ---- */

static void test_get_and_list(void **state)
{
    struct env *e = env_of(state);
    struct product p = make_product(e, "Thing", 100, 100);
    as(e, &e->alice);
    struct order a1 = order_one(e, p.id, 1);
    struct order a2 = order_one(e, p.id, 2);
    as(e, &e->bob);
    struct order b1 = order_one(e, p.id, 3);
    as(e, &e->alice);
    struct order a3 = order_one(e, p.id, 4);

    struct order got;
    assert_int_equal(order_get(&e->ctx, b1.id, &got), SHOP_EFORBIDDEN);
    assert_int_equal(order_get_by_number(&e->ctx, b1.order_number, &got), SHOP_EFORBIDDEN);
    as(e, &e->admin);
    assert_int_equal(order_get(&e->ctx, b1.id, &got), SHOP_OK);
    assert_string_equal(got.user_email, "bob@example.com");
    as(e, NULL); /* the system */
    assert_int_equal(order_get(&e->ctx, a1.id, &got), SHOP_OK);

    /* a customer: their own, newest first, even when asking for all */
    as(e, &e->alice);
    struct order *list;
    size_t n;
    int64_t count;
    assert_int_equal(order_list(&e->ctx, true, true, 0, 0, &list, &n, &count), SHOP_OK);
    assert_int_equal(count, 3);
    assert_int_equal(n, 3);
    assert_int_equal(list[0].id, a3.id);
    assert_int_equal(list[1].id, a2.id);
    assert_int_equal(list[2].id, a1.id);
    for (size_t i = 0; i < n; i++) {
        assert_int_equal(list[i].n_items, 1);
        assert_string_equal(list[i].user_email, "alice@example.com");
    }
    assert_int_equal(list[0].items[0].quantity, 4);
    assert_int_equal(list[2].items[0].quantity, 1);
    /* a page */
    assert_int_equal(order_list(&e->ctx, false, true, 1, 1, &list, &n, &count), SHOP_OK);
    assert_int_equal(count, 3);
    assert_int_equal(n, 1);
    assert_int_equal(list[0].id, a2.id);
    assert_int_equal(list[0].items[0].quantity, 2);
    /* without lines */
    assert_int_equal(order_list(&e->ctx, false, false, 0, 0, &list, &n, NULL), SHOP_OK);
    assert_int_equal(n, 3);
    assert_int_equal(list[0].n_items, 0);

    /* an admin: their own, or everyone's */
    as(e, &e->admin);
    assert_int_equal(order_list(&e->ctx, false, true, 0, 0, &list, &n, &count), SHOP_OK);
    assert_int_equal(count, 0);
    assert_int_equal(n, 0);
    assert_int_equal(order_list(&e->ctx, true, true, 0, 0, &list, &n, &count), SHOP_OK);
    assert_int_equal(count, 4);
    assert_int_equal(n, 4);
    assert_int_equal(list[0].id, a3.id);
    assert_int_equal(list[1].id, b1.id);
    assert_string_equal(list[1].user_email, "bob@example.com");
    assert_int_equal(list[1].items[0].quantity, 3);
    assert_int_equal(list[3].items[0].quantity, 1);
    assert_int_equal(order_list(&e->ctx, true, true, 1, 2, &list, &n, &count), SHOP_OK);
    assert_int_equal(n, 2);
    assert_int_equal(list[0].id, b1.id);
    assert_int_equal(list[1].id, a2.id);
    assert_int_equal(list[0].n_items, 1);
    assert_int_equal(list[1].n_items, 1);
    assert_int_equal(list[1].items[0].quantity, 2);
}

/* Lists read the lines of a whole page in one query: orders with several
 * lines each come back stitched to the right order. */
static void test_list_many_lines(void **state)
{
    struct env *e = env_of(state);
    struct product p[3] = {make_product(e, "P0", 100, 1000), make_product(e, "P1", 200, 1000),
                           make_product(e, "P2", 300, 1000)};
    for (int k = 0; k < 6; k++) {
        as(e, k % 2 ? &e->bob : &e->alice);
        struct order_item_input items[3];
        size_t n = 0;
        for (int j = 0; j <= k % 3; j++)
            items[n++] = (struct order_item_input){p[j].id, k + 1};
        struct errors err = new_errors(e);
        struct order o;
        assert_int_equal(order_create(&e->ctx, "a", "b", items, n, NULL, &err, &o), SHOP_OK);
    }
    as(e, &e->admin);
    struct order *list;
    size_t n;
    assert_int_equal(order_list(&e->ctx, true, true, 0, 0, &list, &n, NULL), SHOP_OK);
    assert_int_equal(n, 6);
    for (size_t i = 0; i < n; i++) {
        int k = 5 - (int)i;
        assert_int_equal(list[i].n_items, (size_t)(k % 3 + 1));
        for (size_t j = 0; j < list[i].n_items; j++) {
            assert_int_equal(list[i].items[j].quantity, k + 1);
            assert_int_equal(list[i].items[j].product_id, p[j].id);
        }
    }
    as(e, &e->bob);
    assert_int_equal(order_list(&e->ctx, false, true, 0, 0, &list, &n, NULL), SHOP_OK);
    assert_int_equal(n, 3);
    assert_int_equal(list[0].n_items, 3); /* k = 5 */
    assert_int_equal(list[1].n_items, 1); /* k = 3 */
    assert_int_equal(list[2].n_items, 2); /* k = 1 */
}

/* ---- changing ---- */

static void test_update_customer(void **state)
{
    struct env *e = env_of(state);
    struct product p = make_product(e, "Thing", 100, 10);
    as(e, &e->alice);
    struct order o = order_one(e, p.id, 4);
    assert_int_equal(inventory(e, p.variants[0].id), 6);
    int64_t mails = n_mail_jobs(e);
    struct errors err = new_errors(e);
    struct order got;

    struct order_patch patch = {.shipping_address = "  9 New St "};
    assert_int_equal(order_update(&e->ctx, o.id, &patch, &err, &got), SHOP_OK);
    assert_string_equal(got.shipping_address, "9 New St");
    assert_string_equal(got.billing_address, "1 Main St");
    assert_int_equal(n_mail_jobs(e), mails); /* no status change, no email */

    patch = (struct order_patch){.billing_address = ""};
    assert_int_equal(order_update(&e->ctx, o.id, &patch, &err, &got), SHOP_EINVAL);
    assert_error(&err, "billing_address", "This field may not be blank.");

    err = new_errors(e);
    patch = (struct order_patch){.has_status = true, .status = ORDER_PROCESSING};
    assert_int_equal(order_update(&e->ctx, o.id, &patch, &err, &got), SHOP_EINVAL);
    assert_error(&err, "status", "You do not have permission to set this status.");
    /* the same status is a no-op, allowed */
    err = new_errors(e);
    patch.status = ORDER_PENDING;
    assert_int_equal(order_update(&e->ctx, o.id, &patch, &err, &got), SHOP_OK);

    /* someone else's */
    as(e, &e->bob);
    err = new_errors(e);
    patch.status = ORDER_CANCELLED;
    assert_int_equal(order_update(&e->ctx, o.id, &patch, &err, &got), SHOP_EFORBIDDEN);
    assert_int_equal(order_update(&e->ctx, o.id + 100, &patch, &err, &got), SHOP_ENOTFOUND);

    /* cancelling gives the stock back */
    as(e, &e->alice);
    assert_int_equal(order_update(&e->ctx, o.id, &patch, &err, &got), SHOP_OK);
    assert_int_equal(got.status, ORDER_CANCELLED);
    assert_false(got.stock_held);
    assert_int_equal(inventory(e, p.variants[0].id), 10);
    assert_int_equal(n_mail_jobs(e), mails + 1);

    /* no longer pending */
    err = new_errors(e);
    patch = (struct order_patch){.shipping_address = "elsewhere"};
    assert_int_equal(order_update(&e->ctx, o.id, &patch, &err, &got), SHOP_ECONFLICT);
    assert_error(&err, ERRORS_NON_FIELD, "Only pending orders can be updated");
    assert_int_equal(inventory(e, p.variants[0].id), 10);
}

static void test_update_admin_state_machine(void **state)
{
    struct env *e = env_of(state);
    struct product p = make_product(e, "Thing", 100, 10);
    as(e, &e->alice);
    struct order o = order_one(e, p.id, 3);
    as(e, &e->admin);
    int64_t mails = n_mail_jobs(e);
    struct errors err = new_errors(e);
    struct order got;
    struct order_patch patch = {.has_status = true, .status = ORDER_PROCESSING};
    assert_int_equal(order_update(&e->ctx, o.id, &patch, &err, &got), SHOP_OK);
    assert_int_equal(got.status, ORDER_PROCESSING);
    assert_int_equal(n_mail_jobs(e), mails + 1);
    patch.status = ORDER_PENDING;
    assert_int_equal(order_update(&e->ctx, o.id, &patch, &err, &got), SHOP_EINVAL);
    assert_error(&err, "status", "Cannot change status from processing to pending.");
    err = new_errors(e);
    patch.status = ORDER_COMPLETED;
    assert_int_equal(order_update(&e->ctx, o.id, &patch, &err, &got), SHOP_OK);
    assert_int_equal(got.status, ORDER_COMPLETED);
    assert_false(got.stock_held); /* consumed, not returned */
    assert_int_equal(inventory(e, p.variants[0].id), 7);
    patch.status = ORDER_CANCELLED;
    assert_int_equal(order_update(&e->ctx, o.id, &patch, &err, &got), SHOP_EINVAL);
    assert_error(&err, "status", "Cannot change status from completed to cancelled.");
    assert_int_equal(n_mail_jobs(e), mails + 2);
    /* deleting a completed order returns nothing */
    assert_int_equal(order_delete(&e->ctx, o.id), SHOP_OK);
    assert_int_equal(inventory(e, p.variants[0].id), 7);
}

static void test_cancel_twice(void **state)
{
    struct env *e = env_of(state);
    struct product p = make_product(e, "Thing", 100, 10);
    as(e, &e->alice);
    int64_t address = make_address(e);
    add_to_cart(e, p.variants[0].id, 3);
    struct checkout_input in = {.kind = CHECKOUT_SHOP, .address_id = address};
    struct checkout_out out;
    struct errors err = new_errors(e);
    assert_int_equal(order_checkout(&e->ctx, &in, NULL, &err, &out), SHOP_OK);
    assert_int_equal(out.result, CHECKOUT_OK);
    assert_int_equal(inventory(e, p.variants[0].id), 7);
    int64_t mails = n_mail_jobs(e);

    as(e, &e->bob);
    assert_int_equal(order_cancel(&e->ctx, out.order.order_number, NULL), SHOP_EFORBIDDEN);
    assert_int_equal(order_cancel(&e->ctx, "ORD-NONE0000", NULL), SHOP_ENOTFOUND);
    as(e, &e->alice);
    struct order got;
    assert_int_equal(order_cancel(&e->ctx, out.order.order_number, &got), SHOP_OK);
    assert_int_equal(got.status, ORDER_CANCELLED);
    assert_int_equal(got.payment_status, PAYMENT_REFUNDED);
    assert_false(got.stock_held);
    assert_int_equal(inventory(e, p.variants[0].id), 10);
    assert_int_equal(n_mail_jobs(e), mails + 1);
    assert_int_equal(order_cancel(&e->ctx, out.order.order_number, &got), SHOP_ECONFLICT);
    as(e, &e->admin);
    assert_int_equal(order_cancel(&e->ctx, out.order.order_number, &got), SHOP_ECONFLICT);
    assert_int_equal(inventory(e, p.variants[0].id), 10);
    assert_int_equal(n_mail_jobs(e), mails + 1);

    /* a pending v1 order keeps its PENDING payment when cancelled */
    as(e, &e->alice);
    struct order o = order_one(e, p.id, 2);
    as(e, &e->admin);
    assert_int_equal(order_cancel(&e->ctx, o.order_number, &got), SHOP_OK);
    assert_int_equal(got.payment_status, PAYMENT_PENDING);
    assert_int_equal(inventory(e, p.variants[0].id), 10);
}

static void test_delete(void **state)
{
    struct env *e = env_of(state);
    struct product p = make_product(e, "Thing", 100, 10);
    as(e, &e->alice);
    struct order o1 = order_one(e, p.id, 2);
    struct order o2 = order_one(e, p.id, 3);
    assert_int_equal(inventory(e, p.variants[0].id), 5);
    as(e, &e->bob);
    assert_int_equal(order_delete(&e->ctx, o1.id), SHOP_EFORBIDDEN);
    as(e, &e->alice);
    assert_int_equal(order_delete(&e->ctx, o1.id), SHOP_OK);
    assert_int_equal(inventory(e, p.variants[0].id), 7);
    assert_int_equal(sql_int(e, "SELECT count(*) FROM order_items WHERE order_id = ?", o1.id), 0);
    assert_int_equal(order_delete(&e->ctx, o1.id), SHOP_ENOTFOUND);
    /* customers delete only pending orders; admins any */
    as(e, &e->admin);
    struct errors err = new_errors(e);
    struct order_patch patch = {.has_status = true, .status = ORDER_PROCESSING};
    assert_int_equal(order_update(&e->ctx, o2.id, &patch, &err, NULL), SHOP_OK);
    as(e, &e->alice);
    assert_int_equal(order_delete(&e->ctx, o2.id), SHOP_ECONFLICT);
    as(e, &e->admin);
    assert_int_equal(order_delete(&e->ctx, o2.id), SHOP_OK);
    assert_int_equal(inventory(e, p.variants[0].id), 10);
    assert_int_equal(n_orders(e), 0);
}

static void test_report(void **state)
{
    struct env *e = env_of(state);
    struct product p = make_product(e, "Thing", 1000, 100);
    as(e, &e->alice);
    struct order pending1 = order_one(e, p.id, 1); /* 1000, pending */
    order_one(e, p.id, 2);                         /* 2000, pending */
    struct order done = order_one(e, p.id, 3);     /* 3000, completed below */
    int64_t address = make_address(e);
    struct checkout_input in = {.kind = CHECKOUT_SHOP, .address_id = address};
    struct checkout_out out;
    struct errors err = new_errors(e);
    add_to_cart(e, p.variants[0].id, 1);
    assert_int_equal(order_checkout(&e->ctx, &in, NULL, &err, &out), SHOP_OK); /* 1180, paid */
    add_to_cart(e, p.variants[0].id, 4);
    in.simulate_failure = true;
    assert_int_equal(order_checkout(&e->ctx, &in, NULL, &err, &out), SHOP_OK); /* failed */
    assert_int_equal(out.result, CHECKOUT_PAYMENT_FAILED);
    in.simulate_failure = false;
    assert_int_equal(order_checkout(&e->ctx, &in, NULL, &err, &out), SHOP_OK); /* 4720, paid */
    assert_int_equal(order_cancel(&e->ctx, out.order.order_number, NULL), SHOP_OK); /* refunded */
    assert_int_equal(order_cancel(&e->ctx, pending1.order_number, NULL), SHOP_OK);

    struct order_report r;
    assert_int_equal(order_report(&e->ctx, &r), SHOP_EFORBIDDEN);
    as(e, &e->admin);
    struct order_patch patch = {.has_status = true, .status = ORDER_COMPLETED};
    assert_int_equal(order_update(&e->ctx, done.id, &patch, &err, NULL), SHOP_OK);
    assert_int_equal(order_report(&e->ctx, &r), SHOP_OK);
    assert_int_equal(r.total_orders, 6);
    assert_int_equal(r.paid_orders, 2);          /* the completed one and the paid checkout */
    assert_int_equal(r.revenue_minor, 3000 + 1180);
    assert_int_equal(r.pending_orders, 1);
    as(e, NULL);
    assert_int_equal(order_report(&e->ctx, &r), SHOP_OK);
    assert_int_equal(r.total_orders, 6);

    /* 10,000 paid orders of the largest total: 10^19 minor units, past what
     * one int64 sum holds; the report saturates instead of failing. */
    assert_int_equal(db_exec(e->t.db,
                             "UPDATE orders SET total_minor = ?, payment_status = 'COMPLETED'",
                             DB_PARAMS(DB_INT(ORDER_TOTAL_MAX - 1)), NULL),
                     DB_OK);
    assert_int_equal(order_report(&e->ctx, &r), SHOP_OK);
    assert_int_equal(r.revenue_minor, 6 * (ORDER_TOTAL_MAX - 1));
    assert_int_equal(db_exec(e->t.db,
                             "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n "
                             "WHERE i < 9994) INSERT INTO orders (order_number, user_id, status, "
                             "payment_status, subtotal_minor, total_minor, created_at, "
                             "updated_at) SELECT 'BIG-' || n.i, o.user_id, 'completed', "
                             "'COMPLETED', ?, ?, 0, 0 FROM n, orders o WHERE o.id = ?",
                             DB_PARAMS(DB_INT(ORDER_TOTAL_MAX), DB_INT(ORDER_TOTAL_MAX),
                                       DB_INT(done.id)),
                             NULL),
                     DB_OK);
    assert_int_equal(order_report(&e->ctx, &r), SHOP_OK);
    assert_int_equal(r.total_orders, 10000);
    assert_int_equal(r.revenue_minor, INT64_MAX);
}

/* ---- Idempotency-Key ---- */

static struct order_idem idem_for(struct env *e, const char *key, const char *body)
{
    return (struct order_idem){
        .key = key,
        .scope = "v1.orders",
        .fingerprint = order_idem_fingerprint(&e->ctx, "POST", "/api/v1/orders/", body,
                                              strlen(body)),
    };
}

static void test_idempotent_replay(void **state)
{
    struct env *e = env_of(state);
    struct product p = make_product(e, "Thing", 100, 10);
    as(e, &e->alice);
    struct order_item_input item = {p.id, 2};
    struct errors err = new_errors(e);
    struct order o, again;

    struct order_idem idem = idem_for(e, "key-1", "{\"q\":2}");
    assert_int_equal(order_create(&e->ctx, "a", "b", &item, 1, &idem, &err, &o), SHOP_OK);
    assert_int_equal(idem.state, ORDER_IDEM_NONE);
    assert_true(idem.row_id > 0);
    assert_int_equal(sql_int(e, "SELECT order_id FROM idempotency_keys WHERE id = ?", idem.row_id),
                     o.id);

    /* the same request: nothing new, the order to render again */
    struct order_idem idem2 = idem_for(e, "key-1", "{\"q\":2}");
    assert_int_equal(order_create(&e->ctx, "a", "b", &item, 1, &idem2, &err, &again), SHOP_OK);
    assert_int_equal(idem2.state, ORDER_IDEM_REPLAY);
    assert_int_equal(idem2.order_id, o.id);
    assert_int_equal(idem2.status_code, 0);
    assert_int_equal(again.id, o.id);
    assert_string_equal(again.order_number, o.order_number);
    assert_int_equal(n_orders(e), 1);
    assert_int_equal(inventory(e, p.variants[0].id), 8);

    /* once stored, the first response comes back byte for byte */
    order_idem_store(&e->ctx, idem.row_id, 201, "{\"id\":1}\n", 9);
    idem2 = idem_for(e, "key-1", "{\"q\":2}");
    assert_int_equal(order_create(&e->ctx, "a", "b", &item, 1, &idem2, &err, &again), SHOP_OK);
    assert_int_equal(idem2.state, ORDER_IDEM_REPLAY);
    assert_int_equal(idem2.status_code, 201);
    assert_string_equal(idem2.response, "{\"id\":1}\n");

    /* the same key with another body */
    struct order_idem other = idem_for(e, "key-1", "{\"q\":3}");
    item.quantity = 3;
    assert_int_equal(order_create(&e->ctx, "a", "b", &item, 1, &other, &err, &again), SHOP_OK);
    assert_int_equal(other.state, ORDER_IDEM_MISMATCH);
    assert_int_equal(n_orders(e), 1);
    assert_int_equal(inventory(e, p.variants[0].id), 8);

    /* keys are per user and per scope */
    as(e, &e->bob);
    struct order_idem bobs = idem_for(e, "key-1", "{\"q\":3}");
    assert_int_equal(order_create(&e->ctx, "a", "b", &item, 1, &bobs, &err, &again), SHOP_OK);
    assert_int_equal(bobs.state, ORDER_IDEM_NONE);
    assert_int_equal(n_orders(e), 2);
    as(e, &e->alice);
    struct order_idem scoped = idem_for(e, "key-1", "{\"q\":3}");
    scoped.scope = "v1.checkout";
    add_to_cart(e, p.variants[0].id, 1);
    struct checkout_input in = {.kind = CHECKOUT_V1, .shipping_address = "a",
                                .billing_address = "b", .clear_cart = true};
    struct checkout_out out;
    assert_int_equal(order_checkout(&e->ctx, &in, &scoped, &err, &out), SHOP_OK);
    assert_int_equal(scoped.state, ORDER_IDEM_NONE);
    assert_int_equal(out.result, CHECKOUT_OK);
    assert_int_equal(n_orders(e), 3);
    /* and a checkout replays too, with the order */
    scoped = idem_for(e, "key-1", "{\"q\":3}");
    scoped.scope = "v1.checkout";
    assert_int_equal(order_checkout(&e->ctx, &in, &scoped, &err, &out), SHOP_OK);
    assert_int_equal(scoped.state, ORDER_IDEM_REPLAY);
    assert_int_equal(out.result, CHECKOUT_OK);
    assert_int_equal(out.order.id, scoped.order_id);
    assert_int_equal(n_orders(e), 3);

    /* an invalid key is refused before anything */
    struct order_idem invalid = idem_for(e, "bad key", "{}");
    err = new_errors(e);
    assert_int_equal(order_create(&e->ctx, "a", "b", &item, 1, &invalid, &err, &again),
                     SHOP_EINVAL);
    assert_int_equal(n_orders(e), 3);
}

/* A refused request stores nothing, so its retry runs again; a row past
 * its time is forgotten. */
static void test_idempotent_refused_and_expired(void **state)
{
    struct env *e = env_of(state);
    struct product p = make_product(e, "Thing", 100, 1);
    as(e, &e->alice);
    struct order_item_input item = {p.id, 2};
    struct errors err = new_errors(e);
    struct order o;
    struct order_idem idem = idem_for(e, "k", "{}");
    assert_int_equal(order_create(&e->ctx, "a", "b", &item, 1, &idem, &err, &o), SHOP_EINVAL);
    assert_int_equal(idem.row_id, 0);
    assert_int_equal(sql_int(e, "SELECT count(*) FROM idempotency_keys WHERE id > ?", 0), 0);
    set_inventory(e, p.variants[0].id, 5);
    idem = idem_for(e, "k", "{}");
    err = new_errors(e);
    assert_int_equal(order_create(&e->ctx, "a", "b", &item, 1, &idem, &err, &o), SHOP_OK);
    assert_int_equal(idem.state, ORDER_IDEM_NONE);
    int64_t first = o.id;

    e->ctx.now = T0 + ORDER_IDEM_TTL - 1;
    idem = idem_for(e, "k", "{}");
    assert_int_equal(order_create(&e->ctx, "a", "b", &item, 1, &idem, &err, &o), SHOP_OK);
    assert_int_equal(idem.state, ORDER_IDEM_REPLAY);
    assert_int_equal(o.id, first);
    e->ctx.now = T0 + ORDER_IDEM_TTL + 1;
    idem = idem_for(e, "k", "{\"other\":1}");
    assert_int_equal(order_create(&e->ctx, "a", "b", &item, 1, &idem, &err, &o), SHOP_OK);
    assert_int_equal(idem.state, ORDER_IDEM_NONE);
    assert_true(o.id != first);
    assert_int_equal(n_orders(e), 2);
    assert_int_equal(sql_int(e, "SELECT count(*) FROM idempotency_keys WHERE id > ?", 0), 1);

    /* the order deleted: the row keeps nothing to replay and is forgotten */
    assert_int_equal(order_delete(&e->ctx, o.id), SHOP_OK);
    assert_int_equal(sql_int(e, "SELECT count(*) FROM idempotency_keys WHERE order_id IS NULL "
                                "AND id > ?",
                             0),
                     1);
    idem = idem_for(e, "k", "{\"other\":1}");
    assert_int_equal(order_create(&e->ctx, "a", "b", &item, 1, &idem, &err, &o), SHOP_OK);
    assert_int_equal(idem.state, ORDER_IDEM_NONE);
    assert_int_equal(n_orders(e), 2);
}

/* A failed payment is an answer too: a retry with the same key replays it. */
static void test_idempotent_payment_failure(void **state)
{
    struct env *e = env_of(state);
    struct product p = make_product(e, "Thing", 100, 5);
    as(e, &e->alice);
    int64_t address = make_address(e);
    add_to_cart(e, p.variants[0].id, 1);
    struct checkout_input in = {.kind = CHECKOUT_SHOP, .address_id = address,
                                .simulate_failure = true};
    struct checkout_out out;
    struct errors err = new_errors(e);
    struct order_idem idem = idem_for(e, "pay", "{}");
    idem.scope = "shop.checkout";
    assert_int_equal(order_checkout(&e->ctx, &in, &idem, &err, &out), SHOP_OK);
    assert_int_equal(out.result, CHECKOUT_PAYMENT_FAILED);
    assert_true(idem.row_id > 0);
    int64_t failed = out.order.id;
    idem = idem_for(e, "pay", "{}");
    idem.scope = "shop.checkout";
    assert_int_equal(order_checkout(&e->ctx, &in, &idem, &err, &out), SHOP_OK);
    assert_int_equal(idem.state, ORDER_IDEM_REPLAY);
    assert_int_equal(out.result, CHECKOUT_PAYMENT_FAILED);
    assert_int_equal(out.order.id, failed);
    assert_int_equal(n_orders(e), 1);
    assert_int_equal(inventory(e, p.variants[0].id), 5);
}

/* ---- order numbers ---- */

static int draws;
static bool repeating_number(char out[ORDER_NUMBER_LEN + 1])
{
    draws++;
    if (draws <= 2) {
        memcpy(out, "ORD-SAME0001", ORDER_NUMBER_LEN + 1);
        return true;
    }
    return random_order_number(out);
}

static bool stuck_number(char out[ORDER_NUMBER_LEN + 1])
{
    draws++;
    memcpy(out, "ORD-SAME0001", ORDER_NUMBER_LEN + 1);
    return true;
}

static void test_order_number_collision(void **state)
{
    struct env *e = env_of(state);
    struct product p = make_product(e, "Thing", 100, 10);
    as(e, &e->alice);
    draws = 0;
    draw_order_number = repeating_number;
    struct order o1 = order_one(e, p.id, 1);
    assert_string_equal(o1.order_number, "ORD-SAME0001");
    struct order o2 = order_one(e, p.id, 1);
    assert_int_equal(draws, 3); /* the second draw collided; the whole write ran again */
    assert_true(is_order_number(o2.order_number));
    assert_string_not_equal(o2.order_number, "ORD-SAME0001");
    assert_int_equal(inventory(e, p.variants[0].id), 8); /* the lost attempt took nothing */
    assert_int_equal(n_mail_jobs(e), 2);

    /* a generator that never stops colliding gives up, having written nothing */
    draws = 0;
    draw_order_number = stuck_number;
    struct errors err = new_errors(e);
    struct order_item_input item = {p.id, 1};
    struct order o;
    assert_int_equal(order_create(&e->ctx, "a", "b", &item, 1, NULL, &err, &o), SHOP_EDB);
    assert_int_equal(draws, ORDER_ATTEMPTS);
    assert_int_equal(inventory(e, p.variants[0].id), 8);
    assert_int_equal(n_orders(e), 2);
    draw_order_number = random_order_number;

    /* numbers are well spread: 200 draws, no repeats */
    char seen[200][ORDER_NUMBER_LEN + 1];
    for (int i = 0; i < 200; i++) {
        assert_true(random_order_number(seen[i]));
        assert_true(is_order_number(seen[i]));
        for (int j = 0; j < i; j++)
            assert_string_not_equal(seen[i], seen[j]);
    }
}

/* ---- concurrency ---- */

struct racer {
    struct env *e;
    pthread_barrier_t *start;
    enum { RACE_ORDER, RACE_CHECKOUT, RACE_CANCEL, RACE_IDEM } kind;
    struct user user;
    int64_t product_id;
    const char *number;
    int rc;
    int result;
    int idem_state;
    int64_t order_id;
};

/* One client on its own connection; no cmocka assertions off the main
 * thread. */
static void *race(void *arg)
{
    struct racer *r = arg;
    r->rc = -100;
    struct db *db = db_open(r->e->t.url);
    struct arena *a = arena_create();
    struct ctx ctx = r->e->ctx;
    ctx.db = db;
    ctx.arena = a;
    ctx.user = &r->user;
    struct errors err;
    errors_init(&err, a);
    pthread_barrier_wait(r->start);
    if (db == NULL)
        goto out;
    struct order_item_input item = {r->product_id, 1};
    struct order o = {0};
    switch (r->kind) {
    case RACE_ORDER:
        r->rc = order_create(&ctx, "a", "b", &item, 1, NULL, &err, &o);
        r->order_id = o.id;
        break;
    case RACE_CHECKOUT: {
        struct checkout_input in = {.kind = CHECKOUT_V1, .shipping_address = "a",
                                    .billing_address = "b", .clear_cart = true};
        struct checkout_out out;
        r->rc = order_checkout(&ctx, &in, NULL, &err, &out);
        r->result = out.result;
        r->order_id = out.order.id;
        break;
    }
    case RACE_CANCEL:
        r->rc = order_cancel(&ctx, r->number, NULL);
        break;
    case RACE_IDEM: {
        struct order_idem idem = {.key = "same", .scope = "v1.orders",
                                  .fingerprint = order_idem_fingerprint(&ctx, "POST", "/o", "{}",
                                                                        2)};
        r->rc = order_create(&ctx, "a", "b", &item, 1, &idem, &err, &o);
        r->idem_state = idem.state;
        r->order_id = r->rc == SHOP_OK ? o.id : 0;
        break;
    }
    }
out:
    arena_destroy(a);
    if (db != NULL)
        db_close(db);
    return NULL;
}

static void run_racers(struct racer *r, size_t n)
{
    pthread_barrier_t start;
    pthread_barrier_init(&start, NULL, (unsigned)n);
    pthread_t t[RACERS];
    assert_true(n <= RACERS);
    for (size_t i = 0; i < n; i++) {
        r[i].start = &start;
        assert_int_equal(pthread_create(&t[i], NULL, race, &r[i]), 0);
    }
    for (size_t i = 0; i < n; i++)
        assert_int_equal(pthread_join(t[i], NULL), 0);
    pthread_barrier_destroy(&start);
}

/* 20 clients, 10 units: exactly 10 orders, never below zero. */
static void test_race_orders(void **state)
{
    struct env *e = env_of(state);
    struct product p = make_product(e, "Scarce", 100, 10);
    struct racer r[RACERS];
    for (int i = 0; i < RACERS; i++)
        r[i] = (struct racer){.e = e, .kind = RACE_ORDER, .user = e->alice,
                              .product_id = p.id};
    run_racers(r, RACERS);
    int won = 0, refused = 0;
    for (int i = 0; i < RACERS; i++) {
        if (r[i].rc == SHOP_OK)
            won++;
        else if (r[i].rc == SHOP_EINVAL)
            refused++;
        else
            fail_msg("racer %d: rc %d", i, r[i].rc);
    }
    assert_int_equal(won, 10);
    assert_int_equal(refused, 10);
    assert_int_equal(inventory(e, p.variants[0].id), 0);
    assert_int_equal(n_orders(e), 10);
    assert_int_equal(sql_int(e, "SELECT count(DISTINCT order_number) FROM orders WHERE id > ?", 0),
                     10);
    assert_int_equal(sql_int(e, "SELECT sum(quantity) FROM order_items WHERE id > ?", 0), 10);
}

/* The same race through carts: 20 users with one unit each in their cart. */
static void test_race_checkouts(void **state)
{
    struct env *e = env_of(state);
    struct product p = make_product(e, "Scarce", 100, 20);
    struct racer r[RACERS];
    for (int i = 0; i < RACERS; i++) {
        char name[32];
        snprintf(name, sizeof(name), "racer%d", i);
        struct user u = {.id = make_user(e, name), .email = "racer@example.com",
                         .user_type = "customer"};
        r[i] = (struct racer){.e = e, .kind = RACE_CHECKOUT, .user = u, .product_id = p.id};
        as(e, &r[i].user);
        add_to_cart(e, p.variants[0].id, 1);
    }
    set_inventory(e, p.variants[0].id, 10);
    run_racers(r, RACERS);
    int won = 0, refused = 0;
    for (int i = 0; i < RACERS; i++) {
        if (r[i].rc != SHOP_OK)
            fail_msg("racer %d: rc %d", i, r[i].rc);
        if (r[i].result == CHECKOUT_OK)
            won++;
        else if (r[i].result == CHECKOUT_NO_STOCK)
            refused++;
        else
            fail_msg("racer %d: result %d", i, r[i].result);
    }
    assert_int_equal(won, 10);
    assert_int_equal(refused, 10);
    assert_int_equal(inventory(e, p.variants[0].id), 0);
    assert_int_equal(n_orders(e), 10);
    /* the losers kept their carts, the winners' were emptied */
    assert_int_equal(sql_int(e, "SELECT count(*) FROM cart_items WHERE id > ?", 0), 10);
}

static void test_race_cancels(void **state)
{
    struct env *e = env_of(state);
    struct product p = make_product(e, "Thing", 100, 10);
    as(e, &e->alice);
    struct order o = order_one(e, p.id, 4);
    assert_int_equal(inventory(e, p.variants[0].id), 6);
    struct racer r[8];
    for (int i = 0; i < 8; i++)
        r[i] = (struct racer){.e = e, .kind = RACE_CANCEL, .user = i % 2 ? e->alice : e->admin,
                              .number = o.order_number};
    run_racers(r, 8);
    int won = 0;
    for (int i = 0; i < 8; i++) {
        if (r[i].rc == SHOP_OK)
            won++;
        else if (r[i].rc != SHOP_ECONFLICT)
            fail_msg("racer %d: rc %d", i, r[i].rc);
    }
    assert_int_equal(won, 1);
    assert_int_equal(inventory(e, p.variants[0].id), 10);
}

/* Identical requests with one key at once: one order, the rest replay it. */
static void test_race_idempotent(void **state)
{
    struct env *e = env_of(state);
    struct product p = make_product(e, "Thing", 100, 10);
    struct racer r[8];
    for (int i = 0; i < 8; i++)
        r[i] = (struct racer){.e = e, .kind = RACE_IDEM, .user = e->alice, .product_id = p.id};
    run_racers(r, 8);
    int created = 0;
    int64_t order_id = 0;
    for (int i = 0; i < 8; i++) {
        if (r[i].rc != SHOP_OK)
            fail_msg("racer %d: rc %d", i, r[i].rc);
        if (r[i].idem_state == ORDER_IDEM_NONE)
            created++;
        else
            assert_int_equal(r[i].idem_state, ORDER_IDEM_REPLAY);
        if (order_id == 0)
            order_id = r[i].order_id;
        assert_int_equal(r[i].order_id, order_id);
    }
    assert_int_equal(created, 1);
    assert_int_equal(n_orders(e), 1);
    assert_int_equal(inventory(e, p.variants[0].id), 9);
}

/* ---- runner ---- */

static const struct {
    const char *name;
    CMUnitTestFunction fn;
} cases[] = {
    {"status_names", test_status_names},
    {"transition_table", test_transition_table},
    {"gst_rounding", test_gst_rounding},
    {"idem_key_and_fingerprint", test_idem_key_and_fingerprint},
    {"create_order", test_create_order},
    {"create_validation", test_create_validation},
    {"create_insufficient_stock", test_create_insufficient_stock},
    {"checkout_v1", test_checkout_v1},
    {"checkout_inactive_product", test_checkout_inactive_product},
    {"checkout_shop", test_checkout_shop},
    {"payment_failure", test_payment_failure},
    {"payment_simulate", test_payment_simulate},
    {"price_change_after_checkout", test_price_change_after_checkout},
    {"take_stock_checks_price", test_take_stock_checks_price},
    {"get_and_list", test_get_and_list},
    {"list_many_lines", test_list_many_lines},
    {"update_customer", test_update_customer},
    {"update_admin_state_machine", test_update_admin_state_machine},
    {"cancel_twice", test_cancel_twice},
    {"delete", test_delete},
    {"report", test_report},
    {"idempotent_replay", test_idempotent_replay},
    {"idempotent_refused_and_expired", test_idempotent_refused_and_expired},
    {"idempotent_payment_failure", test_idempotent_payment_failure},
    {"order_number_collision", test_order_number_collision},
    {"race_orders", test_race_orders},
    {"race_checkouts", test_race_checkouts},
    {"race_cancels", test_race_cancels},
    {"race_idempotent", test_race_idempotent},
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
    failed += run_backend("core/order/sqlite", setup_sqlite);
    if (testdb_pg_url() == NULL)
        printf("core/order/postgres: SHOPD_TEST_PG_URL not set, PostgreSQL cases skipped\n");
    failed += run_backend("core/order/postgres", setup_pg);
    return failed != 0;
}
