/*
 * tests/unit/core/catalog.c - src/core/catalog.c through catalog.h against a
 * real database: categories and products created, read, updated and deleted;
 * slugs and their collisions; the documented validation and uniqueness
 * messages; display-order slots; a category with products refused deletion;
 * variants replaced position by position keeping their ids; lowest price and
 * summed inventory; the trigger-kept product_counts compared with COUNT(*)
 * after every kind of change; list paging, ordering and filtering; and a
 * page of 100 products with 3 variants each stitched back correctly.
 *
 * Every case runs on SQLite in a fresh temporary directory, then on
 * PostgreSQL when SHOPD_TEST_PG_URL is set (each case in a schema of its own,
 * as in tests/unit/core/token.c); without it the PostgreSQL cases are skipped.
 * The search path of catalog_product_list belongs to search.c and is tested
 * with it.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#define _XOPEN_SOURCE_EXTENDED 1
#include <ftw.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/catalog.h"
#include "core/core.h"
#include "db/db.h"
#include "testdb.h"
#include "util/arena.h"
#include "util/config.h"

#define T0 INT64_C(1700000000)

struct env {
    struct testdb t; /* the database and its temporary directory */
    struct arena *arena;
    struct config cfg;
    struct ctx ctx;
};

/* ---- fixtures ---- */

static void finish_setup(struct env *e)
{
    e->arena = arena_create();
    e->cfg.media_dir = e->t.dir;
    e->cfg.public_url = (char *)"http://testserver";
    e->ctx.db = e->t.db;
    e->ctx.arena = e->arena;
    e->ctx.cfg = &e->cfg;
    e->ctx.now = T0;
    e->ctx.now_us = T0 * 1000000;
}

static int open_env(void **state, enum db_kind kind)
{
    *state = NULL;
    struct env *e = calloc(1, sizeof(*e));
    assert_non_null(e);
    if (!testdb_open(&e->t, kind, "catalog")) {
        free(e);
        return 0; /* PostgreSQL without SHOPD_TEST_PG_URL: the case skips itself */
    }
    finish_setup(e);
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
    if (e->arena)
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

/* The first message for field, or NULL. */
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

static void fail_with(int rc, const struct errors *err, const char *what)
{
    fail_msg("%s: rc %d, first error %s: %s", what, rc, err->head ? err->head->field : "-",
             err->head ? err->head->message : "-");
}

static struct category make_category(struct env *e, const char *name, int display_order)
{
    struct errors err = new_errors(e);
    struct category_input in = {.name = name, .n_tags = -1};
    if (display_order > 0) {
        in.has_display_order = true;
        in.display_order = display_order;
    }
    struct category c;
    int rc = catalog_category_create(&e->ctx, &in, &err, &c);
    if (rc != SHOP_OK)
        fail_with(rc, &err, name);
    return c;
}

static struct product make_product_v(struct env *e, const char *name, int64_t category_id,
                                     const struct variant_input *v, size_t n, bool active)
{
    struct errors err = new_errors(e);
    struct product_input in = {.name = name,
                               .description = "A thing",
                               .has_category = true,
                               .category_id = category_id,
                               .n_tags = -1,
                               .n_image_urls = -1,
                               .has_active = true,
                               .is_active = active,
                               .variants = v,
                               .n_variants = (ssize_t)n};
    struct product p;
    int rc = catalog_product_create(&e->ctx, &in, &err, &p);
    if (rc != SHOP_OK)
        fail_with(rc, &err, name);
    return p;
}

static struct product make_product(struct env *e, const char *name, int64_t category_id)
{
    struct variant_input v = {1000, "100gms", 5};
    return make_product_v(e, name, category_id, &v, 1, true);
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

/* product_counts equals COUNT(*) for "all" and for every category, and has
 * exactly one row per category plus the "all" row. */
static void assert_counts_exact(struct env *e)
{
    assert_int_equal(sql_int(e, "SELECT active FROM product_counts WHERE category_id = ?", 0),
                     sql_int(e, "SELECT count(*) FROM products WHERE is_active = ? ", 1));
    struct db_res *res;
    assert_int_equal(db_query(e->t.db, "SELECT id FROM categories ORDER BY id", DB_NO_PARAMS, &res),
                     DB_OK);
    int64_t ids[64];
    size_t n = 0;
    while (db_next(res) == DB_ROW && n < 64)
        ids[n++] = db_col_int(res, 0);
    db_res_close(res);
    for (size_t i = 0; i < n; i++) {
        int64_t want = 0;
        assert_int_equal(db_query_int(e->t.db,
                                      "SELECT count(*) FROM products WHERE category_id = ? AND "
                                      "is_active = ?",
                                      DB_PARAMS(DB_INT(ids[i]), DB_BOOL(true)), &want),
                         DB_ROW);
        int64_t got = sql_int(e, "SELECT active FROM product_counts WHERE category_id = ?", ids[i]);
        if (got != want)
            fail_msg("product_counts[%lld] = %lld, COUNT(*) = %lld", (long long)ids[i],
                     (long long)got, (long long)want);
    }
    assert_int_equal(sql_int(e, "SELECT count(*) FROM product_counts WHERE category_id <> ?", 0),
                     (int64_t)n);
}

static struct product_list list(struct env *e, int64_t category_id, bool include_inactive,
                                int64_t offset, int64_t limit)
{
    struct product_query q = {.category_id = category_id,
                              .include_inactive = include_inactive,
                              .offset = offset,
                              .limit = limit};
    struct product_list l;
    assert_int_equal(catalog_product_list(&e->ctx, &q, &l), SHOP_OK);
    return l;
}

/* ---- categories ---- */

static void test_category_crud(void **state)
{
    struct env *e = env_of(state);
    struct errors err = new_errors(e);
    const char *tags[] = {"Smartphone", " Laptop ", "Tablet"};
    struct category_input in = {.name = "  Electronics ",
                                .description = "Gadgets and more",
                                .tags = tags,
                                .n_tags = 3,
                                .image = "categories/abc.png",
                                .has_display_order = true,
                                .display_order = 1};
    struct category c;
    assert_int_equal(catalog_category_create(&e->ctx, &in, &err, &c), SHOP_OK);
    assert_true(c.id > 0);
    assert_string_equal(c.category_id, "001");
    assert_string_equal(c.name, "Electronics");
    assert_string_equal(c.slug, "electronics");
    assert_string_equal(c.description, "Gadgets and more");
    assert_int_equal(c.n_tags, 3);
    assert_string_equal(c.tags[1], "Laptop");
    assert_string_equal(c.image, "categories/abc.png");
    assert_int_equal(c.display_order, 1);
    assert_int_equal(c.created_at, T0);
    assert_int_equal(c.updated_at, T0);

    /* The next one gets the next number; a chosen id is kept. */
    struct category books = make_category(e, "Books", 0);
    assert_string_equal(books.category_id, "002");
    assert_string_equal(books.description, "");
    assert_int_equal(books.n_tags, 0);
    assert_null(books.image);
    assert_int_equal(books.display_order, 0);
    struct category_input chosen = {.name = "Toys", .category_id = "toys-1", .n_tags = -1};
    struct category toys;
    assert_int_equal(catalog_category_create(&e->ctx, &chosen, &err, &toys), SHOP_OK);
    assert_string_equal(toys.category_id, "toys-1");
    /* "004" taken by hand: the automatic one steps over it. */
    struct category_input c4 = {.name = "Four", .category_id = "004", .n_tags = -1};
    struct category four, five;
    assert_int_equal(catalog_category_create(&e->ctx, &c4, &err, &four), SHOP_OK);
    five = make_category(e, "Five", 0);
    assert_string_equal(five.category_id, "005");

    struct category got;
    assert_int_equal(catalog_category_get(&e->ctx, c.id, &got), SHOP_OK);
    assert_string_equal(got.name, "Electronics");
    assert_int_equal(got.n_tags, 3);
    assert_string_equal(got.tags[2], "Tablet");
    assert_int_equal(catalog_category_get_public(&e->ctx, "002", &got), SHOP_OK);
    assert_int_equal(got.id, books.id);
    assert_int_equal(catalog_category_get_public(&e->ctx, "999", &got), SHOP_ENOTFOUND);
    assert_int_equal(catalog_category_get(&e->ctx, 999999, &got), SHOP_ENOTFOUND);

    /* Partial update: only what is given changes. */
    e->ctx.now = T0 + 60;
    const char *new_tags[] = {"Updated"};
    struct category_input up = {.description = "Updated description", .tags = new_tags,
                                .n_tags = 1};
    assert_int_equal(catalog_category_update(&e->ctx, c.id, &up, &err, &got), SHOP_OK);
    assert_string_equal(got.name, "Electronics");
    assert_string_equal(got.slug, "electronics");
    assert_string_equal(got.description, "Updated description");
    assert_int_equal(got.n_tags, 1);
    assert_string_equal(got.tags[0], "Updated");
    assert_int_equal(got.display_order, 1);
    assert_string_equal(got.image, "categories/abc.png");
    assert_int_equal(got.created_at, T0);
    assert_int_equal(got.updated_at, T0 + 60);

    /* A rename re-slugs; clearing the tags stores an empty list. */
    struct category_input rename = {.name = "Consumer Electronics", .n_tags = 0};
    assert_int_equal(catalog_category_update(&e->ctx, c.id, &rename, &err, &got), SHOP_OK);
    assert_string_equal(got.slug, "consumer-electronics");
    assert_int_equal(got.n_tags, 0);
    /* A change of case only keeps the slug. */
    struct category_input recase = {.name = "CONSUMER electronics", .n_tags = -1};
    assert_int_equal(catalog_category_update(&e->ctx, c.id, &recase, &err, &got), SHOP_OK);
    assert_string_equal(got.name, "CONSUMER electronics");
    assert_string_equal(got.slug, "consumer-electronics");
    assert_int_equal(catalog_category_update(&e->ctx, 999999, &recase, &err, &got),
                     SHOP_ENOTFOUND);
    assert_false(errors_any(&err));

    assert_int_equal(catalog_category_delete(&e->ctx, books.id, &err), SHOP_OK);
    assert_int_equal(catalog_category_get(&e->ctx, books.id, &got), SHOP_ENOTFOUND);
    assert_int_equal(catalog_category_delete(&e->ctx, books.id, &err), SHOP_ENOTFOUND);
    assert_counts_exact(e);
}

static void test_category_validation(void **state)
{
    struct env *e = env_of(state);
    struct category c;
    struct errors err = new_errors(e);
    struct category_input none = {.n_tags = -1};
    assert_int_equal(catalog_category_create(&e->ctx, &none, &err, &c), SHOP_EINVAL);
    assert_error(&err, "name", "This field is required.");

    err = new_errors(e);
    struct category_input blank = {.name = "   ", .n_tags = -1};
    assert_int_equal(catalog_category_create(&e->ctx, &blank, &err, &c), SHOP_EINVAL);
    assert_error(&err, "name", "This field may not be blank.");

    char long_name[202];
    memset(long_name, 'x', 201);
    long_name[201] = '\0';
    err = new_errors(e);
    struct category_input too_long = {.name = long_name, .n_tags = -1};
    assert_int_equal(catalog_category_create(&e->ctx, &too_long, &err, &c), SHOP_EINVAL);
    assert_error(&err, "name", "Ensure this field has no more than 200 characters.");

    /* 200 characters of two bytes each is within the limit. */
    char wide[401];
    for (int i = 0; i < 200; i++)
        memcpy(wide + 2 * i, "\xc3\xa9", 2);
    wide[400] = '\0';
    err = new_errors(e);
    struct category_input wide_in = {.name = wide, .n_tags = -1};
    assert_int_equal(catalog_category_create(&e->ctx, &wide_in, &err, &c), SHOP_OK);
    assert_string_equal(c.slug, "item");

    const char *bad_tags[] = {"ok", ""};
    err = new_errors(e);
    struct category_input tags_in = {.name = "Tagged", .tags = bad_tags, .n_tags = 2};
    assert_int_equal(catalog_category_create(&e->ctx, &tags_in, &err, &c), SHOP_EINVAL);
    assert_error(&err, "tags", "Each tag must be a non-empty string of at most 50 characters.");
    const char *many[21];
    for (int i = 0; i < 21; i++)
        many[i] = "t";
    err = new_errors(e);
    struct category_input many_in = {.name = "Tagged", .tags = many, .n_tags = 21};
    assert_int_equal(catalog_category_create(&e->ctx, &many_in, &err, &c), SHOP_EINVAL);
    assert_error(&err, "tags", "Ensure this field has no more than 20 elements.");

    err = new_errors(e);
    struct category_input bad_id = {.name = "Slashed", .category_id = "a/b", .n_tags = -1};
    assert_int_equal(catalog_category_create(&e->ctx, &bad_id, &err, &c), SHOP_EINVAL);
    assert_true(errors_has(&err, "category_id"));

    /* Unique names, case-insensitively; unique public ids. */
    make_category(e, "Garden", 0);
    err = new_errors(e);
    struct category_input dup = {.name = "gARDEN", .n_tags = -1};
    assert_int_equal(catalog_category_create(&e->ctx, &dup, &err, &c), SHOP_ECONFLICT);
    assert_error(&err, "name", "category with this name already exists.");
    err = new_errors(e);
    struct category_input dup_id = {.name = "Other", .category_id = "001", .n_tags = -1};
    assert_int_equal(catalog_category_create(&e->ctx, &dup_id, &err, &c), SHOP_ECONFLICT);
    assert_error(&err, "category_id", "category with this category id already exists.");

    /* Renaming onto another category's name is refused; onto its own is fine. */
    struct category other = make_category(e, "Kitchen", 0);
    err = new_errors(e);
    struct category_input onto = {.name = "garden", .n_tags = -1};
    assert_int_equal(catalog_category_update(&e->ctx, other.id, &onto, &err, &c), SHOP_ECONFLICT);
    assert_error(&err, "name", "category with this name already exists.");
    err = new_errors(e);
    struct category_input self = {.name = "KITCHEN", .n_tags = -1};
    assert_int_equal(catalog_category_update(&e->ctx, other.id, &self, &err, &c), SHOP_OK);
}

static void test_category_slugs(void **state)
{
    struct env *e = env_of(state);
    assert_string_equal(make_category(e, "Home & Garden", 0).slug, "home-garden");
    assert_string_equal(make_category(e, "home garden!", 0).slug, "home-garden-2");
    assert_string_equal(make_category(e, "--Home--Garden--", 0).slug, "home-garden-3");
    assert_string_equal(make_category(e, "!!!", 0).slug, "item");
    assert_string_equal(make_category(e, "???", 0).slug, "item-2");
    assert_string_equal(make_category(e, "Caf\xc3\xa9 2024", 0).slug, "caf-2024");
}

static void test_display_orders(void **state)
{
    struct env *e = env_of(state);
    struct category c;
    struct errors err = new_errors(e);
    int free_orders[CATALOG_DISPLAY_SLOTS];
    size_t n_free;
    assert_int_equal(catalog_display_orders_free(&e->ctx, free_orders, &n_free), SHOP_OK);
    assert_int_equal(n_free, 8);
    assert_int_equal(free_orders[0], 1);
    assert_int_equal(free_orders[7], 8);

    for (int bad = -1; bad <= 9; bad += 10) {
        err = new_errors(e);
        struct category_input in = {.name = "Bad", .n_tags = -1, .has_display_order = true,
                                    .display_order = bad};
        assert_int_equal(catalog_category_create(&e->ctx, &in, &err, &c), SHOP_EINVAL);
        assert_error(&err, "display_order", "Display order must be between 1 and 8.");
    }
    struct category b = make_category(e, "Books", 2);
    struct category a = make_category(e, "Electronics", 1);
    struct category z = make_category(e, "Zeta", 0);
    struct category y = make_category(e, "alpha", 0);
    err = new_errors(e);
    struct category_input taken = {.name = "Clash", .n_tags = -1, .has_display_order = true,
                                   .display_order = 2};
    assert_int_equal(catalog_category_create(&e->ctx, &taken, &err, &c), SHOP_ECONFLICT);
    assert_error(&err, "display_order", "A category with this display order already exists.");
    /* Keeping one's own slot is no clash. */
    err = new_errors(e);
    struct category_input keep = {.n_tags = -1, .has_display_order = true, .display_order = 2};
    assert_int_equal(catalog_category_update(&e->ctx, b.id, &keep, &err, &c), SHOP_OK);

    assert_int_equal(catalog_display_orders_free(&e->ctx, free_orders, &n_free), SHOP_OK);
    assert_int_equal(n_free, 6);
    assert_int_equal(free_orders[0], 3);

    /* Ordered listing: slots first, then by name (case-insensitively). */
    struct category_list l;
    assert_int_equal(catalog_category_list(&e->ctx, CATEGORY_BY_DISPLAY_ORDER, false, 0, 0, &l),
                     SHOP_OK);
    assert_int_equal(l.count, 4);
    assert_int_equal(l.n, 4);
    assert_int_equal(l.items[0].id, a.id);
    assert_int_equal(l.items[1].id, b.id);
    assert_int_equal(l.items[2].id, y.id);
    assert_int_equal(l.items[3].id, z.id);
    assert_int_equal(catalog_category_list(&e->ctx, CATEGORY_BY_DISPLAY_ORDER, true, 0, 0, &l),
                     SHOP_OK);
    assert_int_equal(l.count, 2);
    assert_int_equal(l.n, 2);
    assert_int_equal(l.items[0].id, a.id);
    assert_int_equal(catalog_category_list(&e->ctx, CATEGORY_BY_ID, false, 1, 2, &l), SHOP_OK);
    assert_int_equal(l.count, 4);
    assert_int_equal(l.n, 2);
    assert_int_equal(l.items[0].id, a.id);
    assert_int_equal(l.items[1].id, z.id);

    /* 0 clears a slot, which frees it for another category. */
    err = new_errors(e);
    struct category_input clear = {.n_tags = -1, .has_display_order = true, .display_order = 0};
    assert_int_equal(catalog_category_update(&e->ctx, b.id, &clear, &err, &c), SHOP_OK);
    assert_int_equal(c.display_order, 0);
    struct category_input move = {.n_tags = -1, .has_display_order = true, .display_order = 2};
    assert_int_equal(catalog_category_update(&e->ctx, z.id, &move, &err, &c), SHOP_OK);
    assert_int_equal(c.display_order, 2);
    assert_false(errors_any(&err));
}

static void test_category_delete_with_products(void **state)
{
    struct env *e = env_of(state);
    struct category c = make_category(e, "Electronics", 0);
    struct product p1 = make_product(e, "Laptop", c.id);
    struct product p2 = make_product(e, "Phone", c.id);
    struct errors err = new_errors(e);
    assert_int_equal(catalog_category_delete(&e->ctx, c.id, &err), SHOP_ECONFLICT);
    assert_error(&err, ERRORS_NON_FIELD, "Cannot delete a category that still has 2 products.");
    /* Inactive products count too: nothing is cascaded away. */
    struct product_input off = {.n_tags = -1, .n_image_urls = -1, .n_variants = -1,
                                .has_active = true, .is_active = false};
    assert_int_equal(catalog_product_update(&e->ctx, p1.id, &off, &err, NULL), SHOP_OK);
    assert_int_equal(catalog_product_delete(&e->ctx, p2.id), SHOP_OK);
    err = new_errors(e);
    assert_int_equal(catalog_category_delete(&e->ctx, c.id, &err), SHOP_ECONFLICT);
    assert_error(&err, ERRORS_NON_FIELD, "Cannot delete a category that still has 1 product.");
    struct product got;
    assert_int_equal(catalog_product_get(&e->ctx, p1.id, true, &got), SHOP_OK);
    assert_int_equal(catalog_product_delete(&e->ctx, p1.id), SHOP_OK);
    err = new_errors(e);
    assert_int_equal(catalog_category_delete(&e->ctx, c.id, &err), SHOP_OK);
    assert_false(errors_any(&err));
    assert_counts_exact(e);
}

/* ---- products ---- */

static void test_product_crud(void **state)
{
    struct env *e = env_of(state);
    struct category c = make_category(e, "Electronics", 0);
    struct errors err = new_errors(e);
    const char *tags[] = {"portable", "fast"};
    const char *urls[] = {"https://cdn.example.com/a.jpg", "/media/products/b.png"};
    struct variant_input v[] = {{200050, "1kg", 3}, {150000, "500g", 4}, {300000, "2kg", 0}};
    struct product_input in = {.name = " Gaming Laptop ",
                               .description = "Fast",
                               .has_category = true,
                               .category_id = c.id,
                               .tags = tags,
                               .n_tags = 2,
                               .image_urls = urls,
                               .n_image_urls = 2,
                               .has_image = true,
                               .image = "https://cdn.example.com/main.jpg",
                               .variants = v,
                               .n_variants = 3};
    struct product p;
    assert_int_equal(catalog_product_create(&e->ctx, &in, &err, &p), SHOP_OK);
    assert_true(p.id > 0);
    assert_string_equal(p.name, "Gaming Laptop");
    assert_string_equal(p.slug, "gaming-laptop");
    assert_string_equal(p.description, "Fast");
    assert_int_equal(p.category.id, c.id);
    assert_string_equal(p.category.name, "Electronics");
    assert_string_equal(p.category.category_id, "001");
    assert_int_equal(p.n_tags, 2);
    assert_string_equal(p.tags[1], "fast");
    assert_int_equal(p.n_image_urls, 2);
    assert_string_equal(p.image_urls[1], "/media/products/b.png");
    assert_string_equal(p.image, "https://cdn.example.com/main.jpg");
    assert_true(p.is_active); /* the default */
    assert_int_equal(p.n_variants, 3);
    assert_int_equal(p.variants[0].price_minor, 200050);
    assert_string_equal(p.variants[0].weight, "1kg");
    assert_int_equal(p.variants[1].price_minor, 150000);
    assert_string_equal(p.variants[2].weight, "2kg");
    assert_int_equal(p.price_minor, 150000); /* the lowest */
    assert_int_equal(p.inventory, 7);         /* the sum */
    assert_int_equal(p.created_at, T0);

    struct product got;
    assert_int_equal(catalog_product_get(&e->ctx, p.id, false, &got), SHOP_OK);
    assert_string_equal(got.name, "Gaming Laptop");
    assert_int_equal(got.n_variants, 3);
    assert_int_equal(got.variants[2].id, p.variants[2].id);
    assert_int_equal(got.price_minor, 150000);
    assert_int_equal(got.inventory, 7);
    assert_int_equal(catalog_product_get(&e->ctx, 999999, true, &got), SHOP_ENOTFOUND);

    /* Update: only the given fields change; a move to another category. */
    struct category other = make_category(e, "Computers", 0);
    e->ctx.now = T0 + 5;
    struct product_input up = {.description = "Faster",
                               .has_category = true,
                               .category_id = other.id,
                               .n_tags = -1,
                               .n_image_urls = 0,
                               .has_image = true,
                               .image = NULL,
                               .n_variants = -1};
    assert_int_equal(catalog_product_update(&e->ctx, p.id, &up, &err, &got), SHOP_OK);
    assert_string_equal(got.name, "Gaming Laptop");
    assert_string_equal(got.description, "Faster");
    assert_int_equal(got.category.id, other.id);
    assert_int_equal(got.n_tags, 2);
    assert_int_equal(got.n_image_urls, 0);
    assert_null(got.image);
    assert_int_equal(got.n_variants, 3);
    assert_int_equal(got.updated_at, T0 + 5);
    assert_int_equal(got.created_at, T0);
    assert_int_equal(catalog_product_update(&e->ctx, 999999, &up, &err, &got), SHOP_ENOTFOUND);

    /* Deactivated: hidden unless include_inactive. */
    struct product_input off = {.n_tags = -1, .n_image_urls = -1, .n_variants = -1,
                                .has_active = true, .is_active = false};
    assert_int_equal(catalog_product_update(&e->ctx, p.id, &off, &err, &got), SHOP_OK);
    assert_false(got.is_active);
    assert_int_equal(catalog_product_get(&e->ctx, p.id, false, &got), SHOP_ENOTFOUND);
    assert_int_equal(catalog_product_get(&e->ctx, p.id, true, &got), SHOP_OK);
    assert_false(errors_any(&err));

    /* Delete takes the variants along. */
    assert_int_equal(catalog_product_delete(&e->ctx, p.id), SHOP_OK);
    assert_int_equal(catalog_product_get(&e->ctx, p.id, true, &got), SHOP_ENOTFOUND);
    assert_int_equal(sql_int(e, "SELECT count(*) FROM product_variants WHERE product_id = ?", p.id),
                     0);
    assert_int_equal(catalog_product_delete(&e->ctx, p.id), SHOP_ENOTFOUND);
    assert_counts_exact(e);
}

static void test_product_validation(void **state)
{
    struct env *e = env_of(state);
    struct category c = make_category(e, "Electronics", 0);
    struct product p;
    struct variant_input ok = {100, "1kg", 1};

    struct errors err = new_errors(e);
    struct product_input none = {.n_tags = -1, .n_image_urls = -1, .n_variants = -1};
    assert_int_equal(catalog_product_create(&e->ctx, &none, &err, &p), SHOP_EINVAL);
    assert_error(&err, "name", "This field is required.");
    assert_error(&err, "category", "This field is required.");
    assert_error(&err, "price_weights", "At least one price-weight is required.");

    err = new_errors(e);
    struct variant_input neg[] = {{-1, "1kg", 0}, {5, "2kg", -3}};
    struct product_input negative = {.name = "Neg", .has_category = true, .category_id = c.id,
                                     .n_tags = -1, .n_image_urls = -1, .variants = neg,
                                     .n_variants = 2};
    assert_int_equal(catalog_product_create(&e->ctx, &negative, &err, &p), SHOP_EINVAL);
    assert_error(&err, "price_weights", "Ensure price is greater than or equal to 0.");
    assert_int_equal(err.count, 2);
    assert_string_equal(err.tail->message, "Ensure inventory is greater than or equal to 0.");

    err = new_errors(e);
    struct product_input no_cat = {.name = "Orphan", .has_category = true, .category_id = 4242,
                                   .n_tags = -1, .n_image_urls = -1, .variants = &ok,
                                   .n_variants = 1};
    assert_int_equal(catalog_product_create(&e->ctx, &no_cat, &err, &p), SHOP_EINVAL);
    assert_error(&err, "category", "Invalid pk \"4242\" - object does not exist.");

    err = new_errors(e);
    const char *urls[] = {"ftp://x/y.png"};
    struct product_input bad_url = {.name = "Url", .has_category = true, .category_id = c.id,
                                    .n_tags = -1, .image_urls = urls, .n_image_urls = 1,
                                    .variants = &ok, .n_variants = 1};
    assert_int_equal(catalog_product_create(&e->ctx, &bad_url, &err, &p), SHOP_EINVAL);
    assert_true(errors_has(&err, "image_urls"));

    char long_desc[5002];
    memset(long_desc, 'd', 5001);
    long_desc[5001] = '\0';
    err = new_errors(e);
    struct product_input desc = {.name = "Desc", .description = long_desc, .has_category = true,
                                 .category_id = c.id, .n_tags = -1, .n_image_urls = -1,
                                 .variants = &ok, .n_variants = 1};
    assert_int_equal(catalog_product_create(&e->ctx, &desc, &err, &p), SHOP_EINVAL);
    assert_error(&err, "description", "Ensure this field has no more than 5000 characters.");

    /* Names are unique case-insensitively, on create and on rename. */
    make_product(e, "Laptop", c.id);
    struct product phone = make_product(e, "Phone", c.id);
    err = new_errors(e);
    struct product_input dup = {.name = "LAPTOP", .has_category = true, .category_id = c.id,
                                .n_tags = -1, .n_image_urls = -1, .variants = &ok,
                                .n_variants = 1};
    assert_int_equal(catalog_product_create(&e->ctx, &dup, &err, &p), SHOP_ECONFLICT);
    assert_error(&err, "name", "product with this name already exists.");
    err = new_errors(e);
    struct product_input rename = {.name = "laptop", .n_tags = -1, .n_image_urls = -1,
                                   .n_variants = -1};
    assert_int_equal(catalog_product_update(&e->ctx, phone.id, &rename, &err, &p), SHOP_ECONFLICT);
    assert_error(&err, "name", "product with this name already exists.");
    /* An empty variant list on update is refused too. */
    err = new_errors(e);
    struct product_input empty = {.n_tags = -1, .n_image_urls = -1, .variants = &ok,
                                  .n_variants = 0};
    assert_int_equal(catalog_product_update(&e->ctx, phone.id, &empty, &err, &p), SHOP_EINVAL);
    assert_error(&err, "price_weights", "At least one price-weight is required.");
    /* Nothing of the refused writes is left behind. */
    assert_int_equal(sql_int(e, "SELECT count(*) FROM products WHERE id > ?", 0), 2);
    assert_int_equal(sql_int(e, "SELECT count(*) FROM product_variants WHERE id > ?", 0), 2);
    assert_counts_exact(e);
}

static void test_product_slugs(void **state)
{
    struct env *e = env_of(state);
    struct category c = make_category(e, "Electronics", 0);
    assert_string_equal(make_product(e, "Gaming Laptop", c.id).slug, "gaming-laptop");
    assert_string_equal(make_product(e, "gaming laptop!", c.id).slug, "gaming-laptop-2");
    struct product third = make_product(e, "Gaming/Laptop", c.id);
    assert_string_equal(third.slug, "gaming-laptop-3");
    assert_string_equal(make_product(e, "***", c.id).slug, "item");
    /* A rename re-slugs, skipping the slugs others hold but not its own. */
    struct errors err = new_errors(e);
    struct product_input up = {.name = "Gaming  Laptop?", .n_tags = -1, .n_image_urls = -1,
                               .n_variants = -1};
    struct product p;
    assert_int_equal(catalog_product_update(&e->ctx, third.id, &up, &err, &p), SHOP_OK);
    assert_string_equal(p.slug, "gaming-laptop-3");
    up.name = "Tablet";
    assert_int_equal(catalog_product_update(&e->ctx, third.id, &up, &err, &p), SHOP_OK);
    assert_string_equal(p.slug, "tablet");
    assert_string_equal(make_product(e, "Gaming Laptop 3", c.id).slug, "gaming-laptop-3");
}

static void test_variants_update_keeps_ids(void **state)
{
    struct env *e = env_of(state);
    struct category c = make_category(e, "Spices", 0);
    struct variant_input v3[] = {{2000, "100gms", 10}, {3000, "200gms", 20}, {4000, "300gms", 30}};
    struct product p = make_product_v(e, "Saffron", c.id, v3, 3, true);
    assert_int_equal(p.n_variants, 3);
    int64_t id0 = p.variants[0].id, id1 = p.variants[1].id, id2 = p.variants[2].id;
    assert_true(id0 < id1 && id1 < id2);
    assert_int_equal(p.price_minor, 2000);
    assert_int_equal(p.inventory, 60);

    /* Shorter: the first positions keep their ids with the new values. */
    struct errors err = new_errors(e);
    struct variant_input v2[] = {{2500, "150gms", 1}, {1500, "50gms", 2}};
    struct product_input up = {.n_tags = -1, .n_image_urls = -1, .variants = v2, .n_variants = 2};
    struct product got;
    assert_int_equal(catalog_product_update(&e->ctx, p.id, &up, &err, &got), SHOP_OK);
    assert_int_equal(got.n_variants, 2);
    assert_int_equal(got.variants[0].id, id0);
    assert_int_equal(got.variants[1].id, id1);
    assert_int_equal(got.variants[0].price_minor, 2500);
    assert_string_equal(got.variants[0].weight, "150gms");
    assert_int_equal(got.variants[1].inventory, 2);
    assert_int_equal(got.price_minor, 1500);
    assert_int_equal(got.inventory, 3);
    assert_int_equal(sql_int(e, "SELECT count(*) FROM product_variants WHERE id = ?", id2), 0);

    /* Longer: kept ids first, new ones appended in order. */
    struct variant_input v4[] = {{100, "a", 0}, {200, "b", 0}, {300, "c", 7}, {50, "d", 1}};
    up.variants = v4;
    up.n_variants = 4;
    assert_int_equal(catalog_product_update(&e->ctx, p.id, &up, &err, &got), SHOP_OK);
    assert_int_equal(got.n_variants, 4);
    assert_int_equal(got.variants[0].id, id0);
    assert_int_equal(got.variants[1].id, id1);
    assert_true(got.variants[2].id > id2);
    assert_true(got.variants[3].id > got.variants[2].id);
    assert_string_equal(got.variants[2].weight, "c");
    assert_string_equal(got.variants[3].weight, "d");
    assert_int_equal(got.price_minor, 50);
    assert_int_equal(got.inventory, 8);

    /* Read back from the database, same order. */
    struct product again;
    assert_int_equal(catalog_product_get(&e->ctx, p.id, false, &again), SHOP_OK);
    for (size_t i = 0; i < 4; i++) {
        assert_int_equal(again.variants[i].id, got.variants[i].id);
        assert_int_equal(again.variants[i].price_minor, v4[i].price_minor);
    }
    assert_false(errors_any(&err));
}

static void test_parse_price_weights(void **state)
{
    struct env *e = env_of(state);
    struct errors err = new_errors(e);
    struct variant_input *v;
    size_t n;
    assert_true(catalog_parse_price_weights(&e->ctx, "2000-100gms,3000-200gms", "price_weights",
                                            &err, &v, &n));
    assert_int_equal(n, 2);
    assert_int_equal(v[0].price_minor, 200000);
    assert_string_equal(v[0].weight, "100gms");
    assert_int_equal(v[0].inventory, 0);
    assert_int_equal(v[1].price_minor, 300000);
    assert_string_equal(v[1].weight, "200gms");

    assert_true(catalog_parse_price_weights(&e->ctx, " 2000.50 - 1.5kg ,  75000-2kg ", "pw",
                                            &err, &v, &n));
    assert_int_equal(n, 2);
    assert_int_equal(v[0].price_minor, 200050);
    assert_string_equal(v[0].weight, "1.5kg");
    assert_int_equal(v[1].price_minor, 7500000);
    /* Only the first dash splits: the weight may hold more. */
    assert_true(catalog_parse_price_weights(&e->ctx, "10-1-2 pack", "pw", &err, &v, &n));
    assert_int_equal(n, 1);
    assert_string_equal(v[0].weight, "1-2 pack");
    assert_false(errors_any(&err));

    static const struct {
        const char *in, *bad;
    } refused[] = {
        {"2000-100gms,,3000-200gms", ""},
        {"2000-100gms,", ""},
        {"2000", "2000"},
        {"abc-100gms", "abc-100gms"},
        {"-5-100gms", "-5-100gms"},
        {"2000-", "2000-"},
        {"-100gms", "-100gms"},
        {"20.001-1kg", "20.001-1kg"},
        {"2000-100gms, 1e3-1kg", "1e3-1kg"},
    };
    for (size_t i = 0; i < sizeof(refused) / sizeof(refused[0]); i++) {
        err = new_errors(e);
        if (catalog_parse_price_weights(&e->ctx, refused[i].in, "price_weights", &err, &v, &n))
            fail_msg("\"%s\" accepted", refused[i].in);
        char want[200];
        snprintf(want, sizeof(want),
                 "Invalid price-weight pair \"%s\". Use price-weight, e.g. 2000-100gms.",
                 refused[i].bad);
        assert_error(&err, "price_weights", want);
    }
    err = new_errors(e);
    assert_false(catalog_parse_price_weights(&e->ctx, "  ", "price_weights", &err, &v, &n));
    assert_error(&err, "price_weights", "At least one price-weight is required.");
}

/* ---- counts and lists ---- */

static void test_product_counts(void **state)
{
    struct env *e = env_of(state);
    struct category a = make_category(e, "A", 0);
    struct category b = make_category(e, "B", 0);
    struct category empty = make_category(e, "Empty", 0);
    struct variant_input v = {100, "1kg", 1};
    struct product ps[10];
    char name[32];
    for (int i = 0; i < 10; i++) {
        snprintf(name, sizeof(name), "P%d", i);
        ps[i] = make_product_v(e, name, i % 2 ? a.id : b.id, &v, 1, i != 9);
    }
    assert_counts_exact(e);
    assert_int_equal(list(e, 0, false, 0, 20).count, 9);
    assert_int_equal(list(e, a.id, false, 0, 20).count, 4);
    assert_int_equal(list(e, b.id, false, 0, 20).count, 5);
    assert_int_equal(list(e, empty.id, false, 0, 20).count, 0);
    assert_int_equal(list(e, 999999, false, 0, 20).count, 0);
    assert_int_equal(list(e, 0, true, 0, 20).count, 10);
    assert_int_equal(list(e, a.id, true, 0, 20).count, 5);

    struct errors err = new_errors(e);
    struct product_input off = {.n_tags = -1, .n_image_urls = -1, .n_variants = -1,
                                .has_active = true, .is_active = false};
    struct product_input on = off;
    on.is_active = true;
    struct product_input move = {.n_tags = -1, .n_image_urls = -1, .n_variants = -1,
                                 .has_category = true, .category_id = empty.id};
    struct product_input move_off = move;
    move_off.has_active = true;
    move_off.is_active = false;
    struct product_input rename = {.name = "Renamed", .n_tags = -1, .n_image_urls = -1,
                                   .n_variants = -1};

    assert_int_equal(catalog_product_update(&e->ctx, ps[0].id, &off, &err, NULL), SHOP_OK);
    assert_counts_exact(e);
    assert_int_equal(catalog_product_update(&e->ctx, ps[0].id, &off, &err, NULL), SHOP_OK);
    assert_counts_exact(e);
    assert_int_equal(catalog_product_update(&e->ctx, ps[9].id, &on, &err, NULL), SHOP_OK);
    assert_counts_exact(e);
    assert_int_equal(catalog_product_update(&e->ctx, ps[1].id, &move, &err, NULL), SHOP_OK);
    assert_counts_exact(e);
    assert_int_equal(list(e, empty.id, false, 0, 20).count, 1);
    assert_int_equal(catalog_product_update(&e->ctx, ps[2].id, &move_off, &err, NULL), SHOP_OK);
    assert_counts_exact(e);
    assert_int_equal(catalog_product_update(&e->ctx, ps[0].id, &move, &err, NULL), SHOP_OK);
    assert_counts_exact(e); /* an inactive product moved: no active count changes */
    assert_int_equal(catalog_product_update(&e->ctx, ps[3].id, &rename, &err, NULL), SHOP_OK);
    assert_counts_exact(e);
    assert_int_equal(catalog_product_delete(&e->ctx, ps[4].id), SHOP_OK);
    assert_counts_exact(e);
    assert_int_equal(catalog_product_delete(&e->ctx, ps[2].id), SHOP_OK); /* inactive */
    assert_counts_exact(e);
    assert_int_equal(list(e, 0, false, 0, 20).count, 7);
    assert_int_equal(list(e, 0, true, 0, 20).count, 8);

    /* Raw multi-row statements too (the bulk import's shape). */
    assert_int_equal(db_exec(e->t.db,
                             "UPDATE products SET is_active = ? WHERE category_id = ?",
                             DB_PARAMS(DB_BOOL(false), DB_INT(a.id)), NULL),
                     DB_OK);
    assert_counts_exact(e);
    assert_int_equal(db_exec(e->t.db, "UPDATE products SET is_active = ?, category_id = ?",
                             DB_PARAMS(DB_BOOL(true), DB_INT(b.id)), NULL),
                     DB_OK);
    assert_counts_exact(e);
    assert_int_equal(list(e, b.id, false, 0, 20).count, 8);
    assert_int_equal(db_exec(e->t.db, "DELETE FROM products WHERE id > ?",
                             DB_PARAMS(DB_INT(ps[5].id)), NULL),
                     DB_OK);
    assert_counts_exact(e);
    /* A category's row goes with it. */
    assert_int_equal(catalog_category_delete(&e->ctx, empty.id, &err), SHOP_OK);
    assert_counts_exact(e);
    assert_false(errors_any(&err));
}

static void test_list_paging(void **state)
{
    struct env *e = env_of(state);
    struct category a = make_category(e, "A", 0);
    struct category b = make_category(e, "B", 0);
    struct variant_input v = {100, "1kg", 1};
    int64_t ids[25];
    char name[32];
    for (int i = 0; i < 25; i++) {
        snprintf(name, sizeof(name), "Product %02d", i);
        ids[i] = make_product_v(e, name, i < 15 ? a.id : b.id, &v, 1, i % 5 != 4).id;
    }
    /* 20 active, newest first. */
    struct product_list l = list(e, 0, false, 0, 10);
    assert_int_equal(l.count, 20);
    assert_int_equal(l.n, 10);
    assert_int_equal(l.items[0].id, ids[23]);
    for (size_t i = 1; i < l.n; i++)
        assert_true(l.items[i - 1].id > l.items[i].id);
    for (size_t i = 0; i < l.n; i++) {
        assert_true(l.items[i].is_active);
        assert_int_equal(l.items[i].n_variants, 1);
        assert_non_null(l.items[i].category.name);
    }
    l = list(e, 0, false, 10, 10);
    assert_int_equal(l.n, 10);
    assert_int_equal(l.items[9].id, ids[0]);
    l = list(e, 0, false, 15, 10);
    assert_int_equal(l.n, 5);
    l = list(e, 0, false, 20, 10);
    assert_int_equal(l.count, 20);
    assert_int_equal(l.n, 0);
    l = list(e, 0, false, 1000, 10);
    assert_int_equal(l.n, 0);
    /* limit: default 20, at most 100. */
    l = list(e, 0, true, 0, 0);
    assert_int_equal(l.n, 20);
    assert_int_equal(l.count, 25);
    l = list(e, 0, true, 0, 1000);
    assert_int_equal(l.n, 25);
    assert_int_equal(l.items[0].id, ids[24]);
    assert_false(l.items[0].is_active);
    /* One category. */
    l = list(e, b.id, false, 0, 100);
    assert_int_equal(l.count, 8);
    assert_int_equal(l.n, 8);
    for (size_t i = 0; i < l.n; i++)
        assert_int_equal(l.items[i].category.id, b.id);
    l = list(e, b.id, true, 2, 100);
    assert_int_equal(l.count, 10);
    assert_int_equal(l.n, 8);
    assert_int_equal(l.items[0].id, ids[22]);

    struct product_list cp;
    assert_int_equal(catalog_category_products(&e->ctx, a.id, 5, &cp), SHOP_OK);
    assert_int_equal(cp.n, 5);
    assert_int_equal(cp.items[0].id, ids[13]);
    assert_int_equal(cp.count, 12);
    assert_int_equal(cp.items[4].id, ids[8]); /* ids[14] and ids[9] are inactive */
}

/* A full page of 100 products with 3 variants each: every variant back on
 * its own product, in position order, from the one variants query. */
static void test_page_of_100_with_300_variants(void **state)
{
    struct env *e = env_of(state);
    struct category c = make_category(e, "Bulk", 0);
    char name[32], weight[3][16];
    assert_int_equal(db_begin_write(e->t.db), DB_OK); /* one transaction: quicker */
    for (int i = 0; i < 120; i++) {
        struct variant_input v[3];
        for (int k = 0; k < 3; k++) {
            snprintf(weight[k], sizeof(weight[k]), "w%d-%d", i, k);
            v[k] = (struct variant_input){1000 * i + 100 * (3 - k), weight[k], i + k};
        }
        snprintf(name, sizeof(name), "Bulk %03d", i);
        make_product_v(e, name, c.id, v, 3, true);
    }
    assert_int_equal(db_commit(e->t.db), DB_OK);
    assert_counts_exact(e);

    struct product_list l = list(e, 0, false, 0, 100);
    assert_int_equal(l.count, 120);
    assert_int_equal(l.n, 100);
    size_t total = 0;
    for (size_t j = 0; j < l.n; j++) {
        const struct product *p = &l.items[j];
        int i = 119 - (int)j;
        snprintf(name, sizeof(name), "Bulk %03d", i);
        assert_string_equal(p->name, name);
        assert_int_equal(p->n_variants, 3);
        for (int k = 0; k < 3; k++) {
            snprintf(weight[k], sizeof(weight[k]), "w%d-%d", i, k);
            assert_string_equal(p->variants[k].weight, weight[k]);
            assert_int_equal(p->variants[k].price_minor, 1000 * i + 100 * (3 - k));
            assert_int_equal(p->variants[k].inventory, i + k);
        }
        assert_int_equal(p->price_minor, 1000 * i + 100);
        assert_int_equal(p->inventory, 3 * i + 3);
        total += p->n_variants;
    }
    assert_int_equal(total, 300);
    /* The last partial page, of another size. */
    l = list(e, 0, false, 100, 100);
    assert_int_equal(l.n, 20);
    assert_string_equal(l.items[19].name, "Bulk 000");
    assert_string_equal(l.items[19].variants[2].weight, "w0-2");
}

/* A writer that lost the race for a unique name to a concurrent one (its
 * check ran before the other committed) reports the documented message, not
 * a storage error: on PostgreSQL through the unique index and a retry, on
 * SQLite because the write lock orders the two. */
struct racer {
    struct env *e;
    int rc;
    const char *message;
};

static void *race_create(void *arg)
{
    struct racer *r = arg;
    struct db *db = db_open(r->e->t.url);
    r->rc = -1; /* no cmocka assertions off the main thread */
    if (db == NULL)
        return NULL;
    struct arena *a = arena_create();
    struct ctx ctx = r->e->ctx;
    ctx.db = db;
    ctx.arena = a;
    struct errors err;
    errors_init(&err, a);
    struct category_input in = {.name = "contested", .n_tags = -1};
    r->rc = catalog_category_create(&ctx, &in, &err, NULL);
    const char *m = error_for(&err, "name");
    r->message = m ? strdup(m) : NULL;
    arena_destroy(a);
    db_close(db);
    return NULL;
}

static void test_concurrent_unique_name(void **state)
{
    struct env *e = env_of(state);
    /* This connection creates the category and holds its transaction open. */
    assert_int_equal(db_begin_write(e->t.db), DB_OK);
    make_category(e, "Contested", 0);
    struct racer r = {.e = e};
    pthread_t t;
    assert_int_equal(pthread_create(&t, NULL, race_create, &r), 0);
    usleep(300 * 1000); /* the other writer is now blocked on our row or lock */
    assert_int_equal(db_commit(e->t.db), DB_OK);
    assert_int_equal(pthread_join(t, NULL), 0);
    assert_int_equal(r.rc, SHOP_ECONFLICT);
    assert_non_null(r.message);
    assert_string_equal(r.message, "category with this name already exists.");
    free((void *)r.message);
    assert_int_equal(sql_int(e, "SELECT count(*) FROM categories WHERE id > ?", 0), 1);
}

/* out NULL: created, not read back (the bulk import's way). */
static void test_create_without_read_back(void **state)
{
    struct env *e = env_of(state);
    struct category c = make_category(e, "Quiet", 0);
    struct errors err = new_errors(e);
    struct variant_input v = {500, "1kg", 2};
    struct product_input in = {.name = "Silent", .has_category = true, .category_id = c.id,
                               .n_tags = -1, .n_image_urls = -1, .variants = &v,
                               .n_variants = 1};
    assert_int_equal(catalog_product_create(&e->ctx, &in, &err, NULL), SHOP_OK);
    struct product_list l = list(e, c.id, false, 0, 10);
    assert_int_equal(l.count, 1);
    assert_string_equal(l.items[0].name, "Silent");
    assert_int_equal(l.items[0].inventory, 2);
    assert_int_equal(catalog_category_create(&e->ctx, &(struct category_input){.name = "Mute",
                                                                             .n_tags = -1},
                                             &err, NULL),
                     SHOP_OK);
    assert_false(errors_any(&err));
}

static void touch_media(struct env *e, const char *path)
{
    char full[512];
    snprintf(full, sizeof(full), "%s/categories", e->t.dir);
    mkdir(full, 0700);
    snprintf(full, sizeof(full), "%s/%s", e->t.dir, path);
    FILE *f = fopen(full, "w");
    assert_non_null(f);
    fclose(f);
}

static bool media_exists(struct env *e, const char *path)
{
    char full[512];
    snprintf(full, sizeof(full), "%s/%s", e->t.dir, path);
    return access(full, F_OK) == 0;
}

/* A replaced or cleared image's file goes once the write commits; a write
 * inside the caller's transaction leaves files alone (it may roll back);
 * URLs are never treated as files. */
static void test_images_removed_after_commit(void **state)
{
    struct env *e = env_of(state);
    struct errors err = new_errors(e);
    touch_media(e, "categories/one.png");
    touch_media(e, "categories/two.png");
    touch_media(e, "categories/three.png");
    struct category_input in = {.name = "Pictured", .n_tags = -1, .image = "categories/one.png"};
    struct category c;
    assert_int_equal(catalog_category_create(&e->ctx, &in, &err, &c), SHOP_OK);
    struct category_input up = {.n_tags = -1, .image = "categories/two.png"};
    assert_int_equal(catalog_category_update(&e->ctx, c.id, &up, &err, &c), SHOP_OK);
    assert_string_equal(c.image, "categories/two.png");
    assert_false(media_exists(e, "categories/one.png"));
    assert_true(media_exists(e, "categories/two.png"));
    /* The same image again: kept. */
    assert_int_equal(catalog_category_update(&e->ctx, c.id, &up, &err, &c), SHOP_OK);
    assert_true(media_exists(e, "categories/two.png"));
    /* "" clears it. */
    struct category_input clear = {.n_tags = -1, .image = ""};
    assert_int_equal(catalog_category_update(&e->ctx, c.id, &clear, &err, &c), SHOP_OK);
    assert_null(c.image);
    assert_false(media_exists(e, "categories/two.png"));
    /* Inside a caller's transaction nothing is removed. */
    struct category_input three = {.n_tags = -1, .image = "categories/three.png"};
    assert_int_equal(catalog_category_update(&e->ctx, c.id, &three, &err, &c), SHOP_OK);
    assert_int_equal(db_begin_write(e->t.db), DB_OK);
    assert_int_equal(catalog_category_update(&e->ctx, c.id, &clear, &err, &c), SHOP_OK);
    assert_int_equal(db_rollback(e->t.db), DB_OK);
    assert_true(media_exists(e, "categories/three.png"));
    assert_int_equal(catalog_category_get(&e->ctx, c.id, &c), SHOP_OK);
    assert_string_equal(c.image, "categories/three.png");
    /* Deleting the category removes its file. */
    assert_int_equal(catalog_category_delete(&e->ctx, c.id, &err), SHOP_OK);
    assert_false(media_exists(e, "categories/three.png"));
    assert_false(errors_any(&err));
}

/* Inventory is bounded per variant, so a product's summed inventory cannot
 * overflow. */
static void test_inventory_bound(void **state)
{
    struct env *e = env_of(state);
    struct category c = make_category(e, "Bounded", 0);
    struct variant_input v[2] = {{100, "a", INT64_C(1) << 62}, {100, "b", INT64_C(1) << 62}};
    struct errors err = new_errors(e);
    struct product_input in = {.name = "Huge", .has_category = true, .category_id = c.id,
                               .n_tags = -1, .n_image_urls = -1, .variants = v, .n_variants = 2};
    struct product p;
    assert_int_equal(catalog_product_create(&e->ctx, &in, &err, &p), SHOP_EINVAL);
    assert_true(errors_has(&err, "price_weights"));
    assert_string_equal(err.head->message, "Ensure inventory is less than or equal to 1000000000.");
    v[0].inventory = v[1].inventory = 1000000000;
    err = new_errors(e);
    assert_int_equal(catalog_product_create(&e->ctx, &in, &err, &p), SHOP_OK);
    assert_int_equal(p.inventory, 2000000000);
}

/* The listing page cache: a put is served back; any catalogue write, a
 * different key, a search or an entry older than a second is a miss; a put
 * after a write that happened since the get stores nothing. */
static void test_page_cache(void **state)
{
    struct env *e = env_of(state);
    struct category c = make_category(e, "Cached", 0);
    make_product(e, "Cached one", c.id);
    make_product(e, "Cached two", c.id);
    struct product_query q = {.offset = 0, .limit = 20};
    struct catalog_page_cache pc;
    static const char text[] = "[{\"id\":2},{\"id\":1}]";

    assert_int_equal(catalog_page_cache_get(&e->ctx, &q, 7, &pc), SHOP_OK);
    assert_false(pc.hit);
    assert_true(pc.usable);
    assert_int_equal(pc.count, 2);
    catalog_page_cache_put(&pc, 2, text, sizeof(text) - 1);

    assert_int_equal(catalog_page_cache_get(&e->ctx, &q, 7, &pc), SHOP_OK);
    assert_true(pc.hit);
    assert_int_equal(pc.count, 2);
    assert_int_equal(pc.len, sizeof(text) - 1);
    assert_memory_equal(pc.text, text, pc.len);

    /* Another tag, another page, a search: misses. */
    assert_int_equal(catalog_page_cache_get(&e->ctx, &q, 8, &pc), SHOP_OK);
    assert_false(pc.hit);
    struct product_query q2 = q;
    q2.offset = 20;
    assert_int_equal(catalog_page_cache_get(&e->ctx, &q2, 7, &pc), SHOP_OK);
    assert_false(pc.hit);
    struct product_query qs = q;
    qs.search = "Cached";
    assert_int_equal(catalog_page_cache_get(&e->ctx, &qs, 7, &pc), SHOP_OK);
    assert_false(pc.hit);
    assert_false(pc.usable);

    /* Older than a second (the cache's own monotonic clock): a miss. */
    usleep(1100000);
    assert_int_equal(catalog_page_cache_get(&e->ctx, &q, 7, &pc), SHOP_OK);
    assert_false(pc.hit);

    /* A write retires it. */
    assert_int_equal(catalog_page_cache_get(&e->ctx, &q, 7, &pc), SHOP_OK);
    catalog_page_cache_put(&pc, 2, text, sizeof(text) - 1);
    assert_int_equal(catalog_page_cache_get(&e->ctx, &q, 7, &pc), SHOP_OK);
    assert_true(pc.hit);
    make_product(e, "Cached three", c.id);
    assert_int_equal(catalog_page_cache_get(&e->ctx, &q, 7, &pc), SHOP_OK);
    assert_false(pc.hit);
    assert_int_equal(pc.count, 3);

    /* A put after a write made since its get stores nothing. */
    struct catalog_page_cache before;
    assert_int_equal(catalog_page_cache_get(&e->ctx, &q, 7, &before), SHOP_OK);
    make_product(e, "Cached four", c.id);
    catalog_page_cache_put(&before, 3, text, sizeof(text) - 1);
    assert_int_equal(catalog_page_cache_get(&e->ctx, &q, 7, &pc), SHOP_OK);
    assert_false(pc.hit);
}

/* ---- runner ---- */

static const struct {
    const char *name;
    CMUnitTestFunction fn;
} cases[] = {
    {"category_crud", test_category_crud},
    {"category_validation", test_category_validation},
    {"category_slugs", test_category_slugs},
    {"display_orders", test_display_orders},
    {"category_delete_with_products", test_category_delete_with_products},
    {"product_crud", test_product_crud},
    {"product_validation", test_product_validation},
    {"product_slugs", test_product_slugs},
    {"variants_update_keeps_ids", test_variants_update_keeps_ids},
    {"parse_price_weights", test_parse_price_weights},
    {"product_counts", test_product_counts},
    {"list_paging", test_list_paging},
    {"page_of_100_with_300_variants", test_page_of_100_with_300_variants},
    {"concurrent_unique_name", test_concurrent_unique_name},
    {"create_without_read_back", test_create_without_read_back},
    {"images_removed_after_commit", test_images_removed_after_commit},
    {"inventory_bound", test_inventory_bound},
    {"page_cache", test_page_cache},
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
    failed += run_backend("core/catalog/sqlite", setup_sqlite);
    if (testdb_pg_url() == NULL)
        printf("core/catalog/postgres: SHOPD_TEST_PG_URL not set, PostgreSQL cases skipped\n");
    failed += run_backend("core/catalog/postgres", setup_pg);
    return failed != 0;
}
