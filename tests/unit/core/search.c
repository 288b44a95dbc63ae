/*
 * tests/unit/core/search.c - src/core/search.c through search.h against a
 * real database, the catalogue written through catalog.h so the index
 * triggers (SQLite) and trigram indexes (PostgreSQL) are the real ones:
 * exact, partial, case-insensitive, tag and description matches, inactive
 * products hidden, categories with their products, short (LIKE) queries and
 * queries holding LIKE / FTS5 metacharacters, suggestions for typos,
 * transpositions and missing letters ranked best first and none when nothing
 * is close, search_product_ids paging, counts and filters, the index
 * following inserts, updates and deletes, and search_record.
 *
 * Every case runs on SQLite in a fresh temporary directory, then on
 * PostgreSQL when SHOPD_TEST_PG_URL is set (each case in a schema of its own,
 * with public after it on the search_path, where the migration puts
 * pg_trgm); without it the PostgreSQL cases are skipped.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#define _XOPEN_SOURCE_EXTENDED 1
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/catalog.h"
#include "core/core.h"
#include "core/password.h"
#include "core/search.h"
#include "core/user.h"
#include "db/db.h"
#include "testdb.h"
#include "util/arena.h"
#include "util/config.h"

#define T0 INT64_C(1700000000)

static char secret_key[] = "search-unit-test-secret-key-0123456789abcdef";

struct env {
    struct testdb t; /* the database and its temporary directory */
    struct arena *arena;
    struct config cfg;
    struct ctx ctx;
};

/* ---- fixtures ---- */

static int group_setup(void **state)
{
    (void)state;
    return password_init(NULL, 8, 1) == 0 ? 0 : -1;
}

static int group_teardown(void **state)
{
    (void)state;
    password_shutdown();
    return 0;
}

static void finish_setup(struct env *e)
{
    e->arena = arena_create();
    e->cfg.secret_key = secret_key;
    e->cfg.access_token_lifetime = 300;
    e->cfg.refresh_token_lifetime = 86400;
    e->cfg.media_dir = e->t.dir;
    e->cfg.public_url = "http://127.0.0.1:8000";
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
    if (!testdb_open(&e->t, kind, "search")) {
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

/* ---- catalogue helpers ---- */

static void fail_errors(const char *what, int rc, const struct errors *err)
{
    fail_msg("%s: rc %d, first error %s: %s", what, rc, err->head ? err->head->field : "-",
             err->head ? err->head->message : "-");
}

/* tags: a NULL-terminated list (or NULL). */
static int64_t n_of(const char **list)
{
    int64_t n = 0;
    while (list != NULL && list[n] != NULL)
        n++;
    return n;
}

static struct category make_category(struct env *e, const char *category_id, const char *name,
                                     const char *description, const char **tags)
{
    struct errors err;
    errors_init(&err, e->arena);
    struct category_input in = {.category_id = category_id,
                                .name = name,
                                .description = description,
                                .tags = tags,
                                .n_tags = tags ? (ssize_t)n_of(tags) : -1};
    struct category c;
    int rc = catalog_category_create(&e->ctx, &in, &err, &c);
    if (rc != SHOP_OK)
        fail_errors(name, rc, &err);
    return c;
}

static struct product make_product(struct env *e, const char *name, const char *description,
                                   int64_t category, const char **tags, bool is_active)
{
    struct errors err;
    errors_init(&err, e->arena);
    struct variant_input v[2] = {{.price_minor = 210000, .weight = "102gms", .inventory = 5},
                                 {.price_minor = 200200, .weight = "100gms", .inventory = 6}};
    struct product_input in = {.name = name,
                               .description = description,
                               .has_category = true,
                               .category_id = category,
                               .tags = tags,
                               .n_tags = tags ? (ssize_t)n_of(tags) : -1,
                               .n_image_urls = -1,
                               .has_active = true,
                               .is_active = is_active,
                               .variants = v,
                               .n_variants = 2};
    struct product p;
    int rc = catalog_product_create(&e->ctx, &in, &err, &p);
    if (rc != SHOP_OK)
        fail_errors(name, rc, &err);
    return p;
}

static void update_product(struct env *e, int64_t id, const struct product_input *in)
{
    struct errors err;
    errors_init(&err, e->arena);
    struct product p;
    int rc = catalog_product_update(&e->ctx, id, in, &err, &p);
    if (rc != SHOP_OK)
        fail_errors("catalog_product_update", rc, &err);
}

static void set_active(struct env *e, int64_t id, bool is_active)
{
    struct product_input in = {.n_tags = -1, .n_image_urls = -1, .n_variants = -1,
                               .has_active = true, .is_active = is_active};
    update_product(e, id, &in);
}

/* The document's example catalogue: Cat1test (prodtest1), cattest2
 * (prodtest2, prodtest3). */
struct doc {
    struct category cat1, cat2;
    struct product p1, p2, p3;
};

static struct doc make_doc(struct env *e)
{
    struct doc d;
    d.cat1 = make_category(e, "1", "Cat1test", "this is is a test",
                           (const char *[]){"spices", NULL});
    d.cat2 = make_category(e, "catid2", "cattest2", "testing cat_2",
                           (const char *[]){"test2", NULL});
    d.p1 = make_product(e, "prodtest1", "", d.cat1.id, (const char *[]){"spicy", NULL}, true);
    d.p2 = make_product(e, "prodtest2", "", d.cat2.id, (const char *[]){"test2", "prod2", NULL},
                        true);
    d.p3 = make_product(e, "prodtest3", "", d.cat2.id,
                        (const char *[]){"test2", "prod2", "pt2", NULL}, true);
    return d;
}

/* ---- search helpers ---- */

static struct search_result run(struct env *e, const char *q, enum search_type type)
{
    struct search_result r;
    int rc = search_run(&e->ctx, q, type, &r);
    if (rc != SHOP_OK)
        fail_msg("search_run(\"%s\"): %d", q, rc);
    return r;
}

/* The result's product names joined by ',' (in order). */
static const char *product_names(struct env *e, const struct product_list *l)
{
    char *s = arena_strdup(e->arena, "");
    for (size_t i = 0; i < l->n; i++)
        s = arena_sprintf(e->arena, "%s%s%s", s, i ? "," : "", l->items[i].name);
    return s;
}

static const char *category_names(struct env *e, const struct category_list *l)
{
    char *s = arena_strdup(e->arena, "");
    for (size_t i = 0; i < l->n; i++)
        s = arena_sprintf(e->arena, "%s%s%s", s, i ? "," : "", l->items[i].name);
    return s;
}

static const char *joined(struct env *e, const char **names, size_t n)
{
    char *s = arena_strdup(e->arena, "");
    for (size_t i = 0; i < n; i++)
        s = arena_sprintf(e->arena, "%s%s%s", s, i ? "," : "", names[i]);
    return s;
}

static void assert_products(struct env *e, const char *q, const char *want)
{
    struct search_result r = run(e, q, SEARCH_PRODUCTS);
    const char *got = product_names(e, &r.products);
    if (strcmp(got, want) != 0)
        fail_msg("products for \"%s\": got [%s], want [%s]", q, got, want);
    assert_int_equal(r.categories.n, 0);
}

static void assert_categories(struct env *e, const char *q, const char *want)
{
    struct search_result r = run(e, q, SEARCH_CATEGORIES);
    const char *got = category_names(e, &r.categories);
    if (strcmp(got, want) != 0)
        fail_msg("categories for \"%s\": got [%s], want [%s]", q, got, want);
    assert_int_equal(r.products.n, 0);
}

static struct search_suggestions suggest(struct env *e, const char *q, enum search_type type)
{
    struct search_suggestions s;
    int rc = search_suggest(&e->ctx, q, type, &s);
    if (rc != SHOP_OK)
        fail_msg("search_suggest(\"%s\"): %d", q, rc);
    return s;
}

static void assert_product_suggestions(struct env *e, const char *q, const char *want)
{
    struct search_suggestions s = suggest(e, q, SEARCH_PRODUCTS);
    const char *got = joined(e, s.products, s.n_products);
    if (strcmp(got, want) != 0)
        fail_msg("product suggestions for \"%s\": got [%s], want [%s]", q, got, want);
    assert_int_equal(s.n_categories, 0);
}

static void assert_category_suggestions(struct env *e, const char *q, const char *want)
{
    struct search_suggestions s = suggest(e, q, SEARCH_CATEGORIES);
    const char *got = joined(e, s.categories, s.n_categories);
    if (strcmp(got, want) != 0)
        fail_msg("category suggestions for \"%s\": got [%s], want [%s]", q, got, want);
    assert_int_equal(s.n_products, 0);
}

struct ids {
    int64_t *ids;
    size_t n;
    int64_t count;
};

static struct ids product_ids(struct env *e, const char *q, int64_t category, bool inactive,
                              int64_t offset, int64_t limit)
{
    struct ids r;
    int rc = search_product_ids(&e->ctx, q, category, inactive, offset, limit, &r.ids, &r.n,
                                &r.count);
    if (rc != SHOP_OK)
        fail_msg("search_product_ids(\"%s\"): %d", q, rc);
    return r;
}

/* ---- cases: matching ---- */

static void test_exact_name(void **state)
{
    struct env *e = env_of(state);
    struct doc d = make_doc(e);
    /* the document's example 2 */
    struct search_result r = run(e, "prodtest2", SEARCH_ALL);
    assert_string_equal(product_names(e, &r.products), "prodtest2");
    assert_int_equal(r.categories.n, 0);
    assert_int_equal(r.products.count, 1);
    const struct product *p = &r.products.items[0];
    assert_int_equal(p->id, d.p2.id);
    assert_int_equal(p->category.id, d.cat2.id);
    assert_string_equal(p->category.category_id, "catid2");
    assert_int_equal(p->n_tags, 2);
    assert_string_equal(p->tags[0], "test2");
    assert_string_equal(p->tags[1], "prod2");
    assert_true(p->is_active);
    /* variants in position order, summed and lowest */
    assert_int_equal(p->n_variants, 2);
    assert_int_equal(p->variants[0].price_minor, 210000);
    assert_string_equal(p->variants[0].weight, "102gms");
    assert_int_equal(p->variants[1].price_minor, 200200);
    assert_int_equal(p->inventory, 11);
    assert_int_equal(p->price_minor, 200200);

    /* the document's example 3: an exact category name */
    r = run(e, "cattest2", SEARCH_ALL);
    assert_int_equal(r.products.n, 0);
    assert_string_equal(category_names(e, &r.categories), "cattest2");
    assert_string_equal(r.categories.items[0].category_id, "catid2");
    assert_string_equal(r.categories.items[0].description, "testing cat_2");
    assert_non_null(r.category_products);
    /* newest first, as catalog_category_products gives them */
    assert_string_equal(product_names(e, &r.category_products[0]), "prodtest3,prodtest2");
}

static void test_partial_matches_everything_containing(void **state)
{
    struct env *e = env_of(state);
    struct doc d = make_doc(e);
    make_product(e, "Unrelated", "", d.cat1.id, NULL, true);
    /* the document's example 1: "test" is in every name; id order */
    struct search_result r = run(e, "test", SEARCH_ALL);
    assert_string_equal(product_names(e, &r.products), "prodtest1,prodtest2,prodtest3");
    assert_string_equal(category_names(e, &r.categories), "Cat1test,cattest2");
    assert_string_equal(product_names(e, &r.category_products[0]), "Unrelated,prodtest1");
    assert_string_equal(product_names(e, &r.category_products[1]), "prodtest3,prodtest2");
    /* in the middle of a word, across the digits */
    assert_products(e, "odtes", "prodtest1,prodtest2,prodtest3");
    assert_products(e, "test3", "prodtest3");
    assert_products(e, "elate", "Unrelated");
    /* type limits what is searched */
    r = run(e, "test", SEARCH_PRODUCTS);
    assert_int_equal(r.products.n, 3);
    assert_int_equal(r.categories.n, 0);
    assert_null(r.category_products);
    r = run(e, "test", SEARCH_CATEGORIES);
    assert_int_equal(r.products.n, 0);
    assert_int_equal(r.categories.n, 2);
    /* nothing */
    r = run(e, "nothing like it", SEARCH_ALL);
    assert_int_equal(r.products.n, 0);
    assert_int_equal(r.categories.n, 0);
    /* surrounding white space is not part of the query; an empty one finds nothing */
    assert_products(e, "  test3 ", "prodtest3");
    r = run(e, "   ", SEARCH_ALL);
    assert_int_equal(r.products.n + r.categories.n, 0);
}

static void test_case_insensitive(void **state)
{
    struct env *e = env_of(state);
    make_doc(e);
    assert_products(e, "PRODTEST2", "prodtest2");
    assert_products(e, "ProdTest", "prodtest1,prodtest2,prodtest3");
    assert_categories(e, "CAT1TEST", "Cat1test");
    assert_categories(e, "cat1", "Cat1test");
    struct category c = make_category(e, NULL, "Garden TOOLS", "", NULL);
    make_product(e, "Lawn MOWER Deluxe", "", c.id, NULL, true);
    assert_products(e, "mower del", "Lawn MOWER Deluxe");
    assert_categories(e, "tools", "Garden TOOLS");
}

static void test_tags_and_description(void **state)
{
    struct env *e = env_of(state);
    struct doc d = make_doc(e);
    make_product(e, "Chili Flakes", "Hot and smoky, from Kashmir", d.cat1.id,
                 (const char *[]){"hot", "condiment", NULL}, true);
    /* a tag */
    assert_products(e, "spicy", "prodtest1");
    assert_products(e, "condim", "Chili Flakes");
    assert_products(e, "pt2", "prodtest3");
    /* the description */
    assert_products(e, "kashmir", "Chili Flakes");
    assert_products(e, "smoky, from", "Chili Flakes");
    /* a category's tags and description */
    assert_categories(e, "spices", "Cat1test");
    assert_categories(e, "is is a", "Cat1test");
    assert_categories(e, "cat_2", "cattest2");
}

static void test_inactive_hidden(void **state)
{
    struct env *e = env_of(state);
    struct doc d = make_doc(e);
    struct product hidden =
        make_product(e, "Hidden Gadget", "secret stuff", d.cat2.id, (const char *[]){"test2", NULL},
                     false);
    assert_products(e, "gadget", "");
    assert_products(e, "secret", "");
    /* by a shared tag: only the active ones */
    assert_products(e, "test2", "prodtest2,prodtest3");
    /* nor among its category's products */
    struct search_result r = run(e, "cattest2", SEARCH_ALL);
    assert_string_equal(product_names(e, &r.category_products[0]), "prodtest3,prodtest2");
    /* nor suggested */
    assert_product_suggestions(e, "gadgte", "");
    /* reactivated: found again, and suggested */
    set_active(e, hidden.id, true);
    assert_products(e, "gadget", "Hidden Gadget");
    assert_product_suggestions(e, "gadgte", "Hidden Gadget");
    /* deactivating an active one hides it at once */
    set_active(e, d.p2.id, false);
    assert_products(e, "prodtest", "prodtest1,prodtest3");
    assert_product_suggestions(e, "prodtset2", "prodtest1,prodtest3");
}

static void test_categories_with_products(void **state)
{
    struct env *e = env_of(state);
    struct category fruit = make_category(e, "fr", "Fresh Fruit", "apples and pears", NULL);
    struct category veg = make_category(e, "vg", "Vegetables", "fresh greens", NULL);
    make_category(e, "em", "Empty Shelf", "nothing fresh yet", NULL);
    make_product(e, "Apple", "", fruit.id, NULL, true);
    make_product(e, "Pear", "", fruit.id, NULL, true);
    make_product(e, "Old Pear", "", fruit.id, NULL, false);
    make_product(e, "Kale", "", veg.id, NULL, true);
    struct search_result r = run(e, "fresh", SEARCH_ALL);
    assert_int_equal(r.products.n, 0);
    assert_string_equal(category_names(e, &r.categories), "Fresh Fruit,Vegetables,Empty Shelf");
    assert_string_equal(product_names(e, &r.category_products[0]), "Pear,Apple");
    assert_int_equal(r.category_products[0].count, 2); /* active ones */
    assert_string_equal(product_names(e, &r.category_products[1]), "Kale");
    assert_int_equal(r.category_products[2].n, 0);
    assert_int_equal(r.category_products[2].count, 0);
    /* each with its variants */
    const struct product *pear = &r.category_products[0].items[0];
    assert_int_equal(pear->n_variants, 2);
    assert_string_equal(pear->variants[1].weight, "100gms");
    assert_int_equal(pear->inventory, 11);
    assert_string_equal(pear->category.name, "Fresh Fruit");
    /* products and categories at once */
    make_product(e, "Freshly Ground Coffee", "", veg.id, NULL, true);
    r = run(e, "fresh", SEARCH_ALL);
    assert_string_equal(product_names(e, &r.products), "Freshly Ground Coffee");
    assert_int_equal(r.categories.n, 3);
    assert_string_equal(product_names(e, &r.category_products[1]), "Freshly Ground Coffee,Kale");
}

static void test_many_matches_are_limited(void **state)
{
    struct env *e = env_of(state);
    struct category c = make_category(e, NULL, "Widgets", "", NULL);
    for (int i = 1; i <= SEARCH_LIMIT + 5; i++)
        make_product(e, arena_sprintf(e->arena, "Widget %03d", i), "", c.id, NULL, true);
    struct search_result r = run(e, "widget", SEARCH_ALL);
    assert_int_equal(r.products.n, SEARCH_LIMIT);
    assert_string_equal(r.products.items[0].name, "Widget 001");
    assert_string_equal(r.products.items[SEARCH_LIMIT - 1].name,
                        arena_sprintf(e->arena, "Widget %03d", SEARCH_LIMIT));
    assert_int_equal(r.categories.n, 1);
    assert_int_equal(r.category_products[0].n, SEARCH_CATEGORY_PRODUCTS);
    assert_int_equal(r.category_products[0].count, SEARCH_LIMIT + 5);
    /* the newest first */
    assert_string_equal(r.category_products[0].items[0].name,
                        arena_sprintf(e->arena, "Widget %03d", SEARCH_LIMIT + 5));
    assert_int_equal(r.category_products[0].items[SEARCH_CATEGORY_PRODUCTS - 1].n_variants, 2);
    /* two-character queries scan with LIKE and are limited the same way */
    r = run(e, "t 0", SEARCH_PRODUCTS);
    assert_int_equal(r.products.n, SEARCH_LIMIT);
    r = run(e, "05", SEARCH_PRODUCTS);
    assert_string_equal(product_names(e, &r.products), "Widget 005,Widget 050,Widget 051,"
                                                       "Widget 052,Widget 053,Widget 054,"
                                                       "Widget 055");
}

static void test_short_queries(void **state)
{
    struct env *e = env_of(state);
    struct category c = make_category(e, "av", "TV & Audio", "", NULL);
    make_product(e, "Smart TV", "", c.id, NULL, true);
    make_product(e, "Radio", "portable", c.id, (const char *[]){"am/fm", NULL}, true);
    assert_products(e, "tv", "Smart TV");
    assert_products(e, "Tv", "Smart TV");
    assert_products(e, "tv ", "Smart TV"); /* trimmed */
    assert_products(e, "o", "Radio");
    assert_products(e, "fm", "Radio");
    assert_products(e, "ta", "Radio"); /* portable */
    assert_categories(e, "&", "TV & Audio");
    assert_categories(e, "tv", "TV & Audio");
}

static void test_metacharacters(void **state)
{
    struct env *e = env_of(state);
    struct category c = make_category(e, NULL, "Odds", "", NULL);
    make_product(e, "Sale 50% off", "", c.id, NULL, true);
    make_product(e, "Sale 500 off", "", c.id, NULL, true);
    make_product(e, "snake_case mug", "", c.id, NULL, true);
    make_product(e, "snakeXcase mug", "", c.id, NULL, true);
    make_product(e, "The \"Best\" Tea", "", c.id, NULL, true);
    make_product(e, "Back\\slash", "", c.id, NULL, true);
    assert_products(e, "50%", "Sale 50% off");
    assert_products(e, "%", "Sale 50% off");
    assert_products(e, "e_c", "snake_case mug");
    assert_products(e, "_", "snake_case mug");
    assert_products(e, "\"best\"", "The \"Best\" Tea");
    assert_products(e, "\"", "The \"Best\" Tea");
    assert_products(e, "k\\s", "Back\\slash");
    assert_products(e, "\\", "Back\\slash");
    /* FTS5 query syntax is not interpreted */
    assert_products(e, "sale OR tea", "");
    assert_products(e, "NEAR(sale", "");
    assert_products(e, "mug*", "");
    struct ids ids = product_ids(e, "50%", 0, false, 0, 10);
    assert_int_equal(ids.count, 1);
    /* the same in suggestions: no crash, no syntax error */
    suggest(e, "\"sale\" OR \"", SEARCH_ALL);
    suggest(e, "a\"b\"c", SEARCH_ALL);
    suggest(e, "%%%", SEARCH_ALL);
    suggest(e, "---", SEARCH_ALL);
}

static void test_unicode(void **state)
{
    struct env *e = env_of(state);
    struct category c = make_category(e, NULL, "Épicerie", "", NULL);
    make_product(e, "Crème brûlée", "dessert", c.id, NULL, true);
    make_product(e, "Café noir", "", c.id, NULL, true);
    assert_products(e, "brûlée", "Crème brûlée");
    assert_products(e, "rè", "Crème brûlée");
    assert_products(e, "café", "Café noir");
    assert_categories(e, "picer", "Épicerie");
    /* a typo on an accented word; the accent counts as one letter */
    assert_product_suggestions(e, "brulée", "Crème brûlée");
    assert_product_suggestions(e, "cafe noir", "Café noir");
}

/* ---- cases: suggestions ---- */

/* A small shop where typos have one right answer. */
static void make_shop(struct env *e)
{
    struct category comp = make_category(e, "c1", "Computers", "", NULL);
    struct category kitchen = make_category(e, "c2", "Kitchen", "", NULL);
    make_category(e, "c3", "Garden", "", NULL);
    make_product(e, "Gaming Laptop 15", "", comp.id, NULL, true);
    make_product(e, "Laptop", "", comp.id, NULL, true);
    make_product(e, "Laptop Stand", "", comp.id, NULL, true);
    make_product(e, "Mechanical Keyboard", "", comp.id, NULL, true);
    make_product(e, "Wireless Mouse", "", comp.id, NULL, true);
    make_product(e, "Coffee Grinder", "", kitchen.id, NULL, true);
    make_product(e, "Toaster", "", kitchen.id, NULL, true);
    make_product(e, "Chocolate", "", kitchen.id, NULL, true);
}

static void test_suggest_typo(void **state)
{
    struct env *e = env_of(state);
    make_shop(e);
    /* a substituted letter */
    assert_product_suggestions(e, "labtop", "Laptop,Laptop Stand,Gaming Laptop 15");
    assert_product_suggestions(e, "keybaord", "Mechanical Keyboard");
    assert_product_suggestions(e, "chocolote", "Chocolate");
    assert_product_suggestions(e, "toastor", "Toaster");
    assert_product_suggestions(e, "wireles mouse", "Wireless Mouse");
    assert_category_suggestions(e, "computors", "Computers");
    assert_category_suggestions(e, "gardn", "Garden");
}

static void test_suggest_transposition(void **state)
{
    struct env *e = env_of(state);
    make_shop(e);
    /* search.h's own example: two letters swapped at the start */
    assert_product_suggestions(e, "lpatop", "Laptop,Laptop Stand,Gaming Laptop 15");
    assert_product_suggestions(e, "laptpo", "Laptop,Laptop Stand,Gaming Laptop 15");
    assert_product_suggestions(e, "cofefe", "Coffee Grinder");
    assert_category_suggestions(e, "kticehn", "");  /* two swaps: too far */
    assert_category_suggestions(e, "kicthen", "Kitchen");
}

static void test_suggest_missing_letter(void **state)
{
    struct env *e = env_of(state);
    make_shop(e);
    assert_product_suggestions(e, "lapop", "Laptop,Laptop Stand,Gaming Laptop 15");
    assert_product_suggestions(e, "toastr", "Toaster");
    assert_product_suggestions(e, "choclate", "Chocolate");
    /* a letter too many, and a missing space */
    assert_product_suggestions(e, "laptopp", "Laptop,Laptop Stand,Gaming Laptop 15");
    /* a missing space: one edit from "Laptop Stand"; the rest share most trigrams */
    assert_product_suggestions(e, "laptopstand", "Laptop Stand,Laptop,Gaming Laptop 15");
    assert_category_suggestions(e, "kitchn", "Kitchen");
}

static void test_suggest_ranked_and_limited(void **state)
{
    struct env *e = env_of(state);
    struct category c = make_category(e, NULL, "Test things", "", NULL);
    for (int i = 1; i <= 8; i++)
        make_product(e, arena_sprintf(e->arena, "prodtest%d", i), "", c.id, NULL, true);
    make_product(e, "prodtest10 extra", "", c.id, NULL, true);
    /* the document's "did you mean": similar names, at most SEARCH_SUGGESTIONS */
    struct search_suggestions s = suggest(e, "prodtset", SEARCH_ALL);
    assert_int_equal(s.n_products, SEARCH_SUGGESTIONS);
    assert_string_equal(joined(e, s.products, s.n_products),
                        "prodtest1,prodtest2,prodtest3,prodtest4,prodtest5");
    assert_int_equal(s.n_categories, 0);
    /* the closest first: an exact-length near miss beats a longer name */
    assert_product_suggestions(e, "prodtest9", "prodtest1,prodtest2,prodtest3,prodtest4,"
                                               "prodtest5");
    assert_product_suggestions(e, "prodtest10 extar",
                               "prodtest10 extra,prodtest1,prodtest2,prodtest3,prodtest4");
    /* both kinds at once */
    make_category(e, "x", "Prodtests", "", NULL);
    s = suggest(e, "prodtset", SEARCH_ALL);
    assert_int_equal(s.n_products, SEARCH_SUGGESTIONS);
    assert_string_equal(joined(e, s.categories, s.n_categories), "Prodtests");
}

static void test_suggest_nothing_close(void **state)
{
    struct env *e = env_of(state);
    make_shop(e);
    struct search_suggestions s = suggest(e, "xyzzy", SEARCH_ALL);
    assert_int_equal(s.n_products + s.n_categories, 0);
    s = suggest(e, "submarine", SEARCH_ALL);
    assert_int_equal(s.n_products + s.n_categories, 0);
    /* sharing a trigram is not enough */
    s = suggest(e, "lapdog", SEARCH_ALL);
    assert_int_equal(s.n_products + s.n_categories, 0);
    /* too short to have trigrams, empty, punctuation only */
    s = suggest(e, "lp", SEARCH_ALL);
    assert_int_equal(s.n_products + s.n_categories, 0);
    s = suggest(e, " ", SEARCH_ALL);
    assert_int_equal(s.n_products + s.n_categories, 0);
    s = suggest(e, "!!!", SEARCH_ALL);
    assert_int_equal(s.n_products + s.n_categories, 0);
    /* an empty catalogue */
    struct search_result r = run(e, "anything", SEARCH_ALL);
    assert_int_equal(r.products.n + r.categories.n, 0);
}

/* More names than the candidate budget share the query's trigrams: the
 * candidates are still bounded and still good. */
static void test_suggest_common_trigrams(void **state)
{
    struct env *e = env_of(state);
    struct category c = make_category(e, "veg", "Vegetables", "", NULL);
    int64_t changed = 0;
    assert_int_equal(
        db_exec(e->t.db,
                "INSERT INTO products (name, slug, description, category_id, tags, is_active, "
                "created_at, updated_at) "
                "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 4100) "
                "SELECT 'Tomato ' || i, 'tomato-' || i, '', ?, '[]', TRUE, 0, 0 FROM n",
                DB_PARAMS(DB_INT(c.id)), &changed),
        DB_OK);
    assert_int_equal(changed, 4100);
    make_product(e, "Potato Masher", "", c.id, NULL, true);
    /* rare trigrams find the one name among thousands sharing common ones */
    assert_product_suggestions(e, "potato mashr", "Potato Masher");
    /* only common trigrams: some of the many equally close names */
    struct search_suggestions s = suggest(e, "tomatto", SEARCH_PRODUCTS);
    assert_int_equal(s.n_products, SEARCH_SUGGESTIONS);
    for (size_t i = 0; i < s.n_products; i++)
        assert_true(strncmp(s.products[i], "Tomato ", 7) == 0);
}

/* ---- cases: search_product_ids ---- */

static void test_product_ids_paging(void **state)
{
    struct env *e = env_of(state);
    struct category a = make_category(e, "a", "Alpha", "", NULL);
    struct category b = make_category(e, "b", "Beta", "", NULL);
    int64_t id[31];
    for (int i = 1; i <= 30; i++)
        id[i] = make_product(e, arena_sprintf(e->arena, "Gizmo %02d", i), "", i <= 20 ? a.id : b.id,
                             NULL, i % 10 != 0)
                    .id;
    make_product(e, "Plain thing", "contains a gizmo inside", a.id, NULL, true);
    make_product(e, "Tagged thing", "", a.id, (const char *[]){"gizmo", NULL}, true);

    /* 27 active gizmos by name + 1 by description; tags are not searched */
    struct ids r = product_ids(e, "gizmo", 0, false, 0, 10);
    assert_int_equal(r.count, 28);
    assert_int_equal(r.n, 10);
    /* newest first: the description match, then Gizmo 29, 28, 27, ... (30 inactive) */
    assert_int_equal(r.ids[1], id[29]);
    assert_int_equal(r.ids[2], id[28]);
    assert_int_equal(r.ids[9], id[21]);
    r = product_ids(e, "gizmo", 0, false, 10, 10);
    assert_int_equal(r.n, 10); /* 19..11, 9 */
    assert_int_equal(r.ids[0], id[19]);
    assert_int_equal(r.ids[9], id[9]);
    r = product_ids(e, "gizmo", 0, false, 20, 10);
    assert_int_equal(r.count, 28);
    assert_int_equal(r.n, 8);
    assert_int_equal(r.ids[7], id[1]);
    r = product_ids(e, "gizmo", 0, false, 28, 10);
    assert_int_equal(r.count, 28);
    assert_int_equal(r.n, 0);
    r = product_ids(e, "gizmo", 0, false, 1000, 10);
    assert_int_equal(r.n, 0);

    /* include_inactive */
    r = product_ids(e, "gizmo", 0, true, 0, 100);
    assert_int_equal(r.count, 31);
    assert_int_equal(r.n, 31);
    assert_int_equal(r.ids[1], id[30]);
    /* one category */
    r = product_ids(e, "gizmo", b.id, false, 0, 100);
    assert_int_equal(r.count, 9);
    assert_int_equal(r.ids[0], id[29]);
    assert_int_equal(r.ids[8], id[21]);
    r = product_ids(e, "gizmo", b.id, true, 0, 5);
    assert_int_equal(r.count, 10);
    assert_int_equal(r.n, 5);
    assert_int_equal(r.ids[0], id[30]);
    /* substring, case, short queries */
    r = product_ids(e, "ZMO 0", 0, false, 0, 100);
    assert_int_equal(r.count, 9);
    r = product_ids(e, "o 1", 0, false, 0, 100);
    assert_int_equal(r.count, 9); /* 11..19, not 10 */
    r = product_ids(e, "3", 0, true, 0, 100);
    assert_int_equal(r.count, 4); /* 03, 13, 23, 30 */
    r = product_ids(e, "none such", 0, true, 0, 100);
    assert_int_equal(r.count, 0);
    assert_int_equal(r.n, 0);
    /* through the catalogue, as v1's ?search= */
    struct product_query pq = {.search = "gizmo", .offset = 0, .limit = 5};
    struct product_list l;
    assert_int_equal(catalog_product_list(&e->ctx, &pq, &l), SHOP_OK);
    assert_int_equal(l.count, 28);
    assert_int_equal(l.n, 5);
    assert_string_equal(l.items[0].name, "Plain thing");
    assert_string_equal(l.items[1].name, "Gizmo 29");
}

/* ---- cases: the index follows the catalogue ---- */

static void test_index_follows_writes(void **state)
{
    struct env *e = env_of(state);
    struct category c = make_category(e, "k", "Kettles", "water boilers", NULL);
    struct product p = make_product(e, "Steel Kettle", "boils water", c.id, NULL, true);
    assert_products(e, "kettle", "Steel Kettle");

    /* renamed */
    struct product_input in = {.name = "Copper Pot", .n_tags = -1, .n_image_urls = -1,
                               .n_variants = -1};
    update_product(e, p.id, &in);
    assert_products(e, "kettle", "");
    assert_products(e, "copper", "Copper Pot");
    assert_product_suggestions(e, "kettel", "");
    assert_product_suggestions(e, "coper pot", "Copper Pot");
    /* new description and tags */
    struct product_input in2 = {.description = "simmers soup",
                                .tags = (const char *[]){"cookware"},
                                .n_tags = 1,
                                .n_image_urls = -1,
                                .n_variants = -1};
    update_product(e, p.id, &in2);
    assert_products(e, "boils", "");
    assert_products(e, "simmers", "Copper Pot");
    assert_products(e, "cookware", "Copper Pot");
    struct ids r = product_ids(e, "soup", 0, false, 0, 10);
    assert_int_equal(r.count, 1);
    r = product_ids(e, "boils", 0, false, 0, 10);
    assert_int_equal(r.count, 0);
    /* an update of other fields leaves the index as it was */
    struct variant_input v = {.price_minor = 999, .weight = "1kg", .inventory = 1};
    struct product_input in3 = {.n_tags = -1, .n_image_urls = -1, .variants = &v,
                                .n_variants = 1};
    update_product(e, p.id, &in3);
    assert_products(e, "copper", "Copper Pot");
    /* deleted */
    assert_int_equal(catalog_product_delete(&e->ctx, p.id), SHOP_OK);
    assert_products(e, "copper", "");
    assert_products(e, "soup", "");
    assert_product_suggestions(e, "coper pot", "");
    r = product_ids(e, "copper", 0, true, 0, 10);
    assert_int_equal(r.count, 0);

    /* categories: renamed, redescribed, deleted */
    assert_categories(e, "boilers", "Kettles");
    struct errors err;
    errors_init(&err, e->arena);
    struct category_input cin = {.name = "Teapots", .description = "for leaves", .n_tags = -1};
    struct category out;
    int rc = catalog_category_update(&e->ctx, c.id, &cin, &err, &out);
    if (rc != SHOP_OK)
        fail_errors("catalog_category_update", rc, &err);
    assert_categories(e, "kettles", "");
    assert_categories(e, "boilers", "");
    assert_categories(e, "teapot", "Teapots");
    assert_categories(e, "leaves", "Teapots");
    assert_category_suggestions(e, "kettels", "");
    assert_category_suggestions(e, "teapost", "Teapots");
    assert_int_equal(catalog_category_delete(&e->ctx, c.id, &err), SHOP_OK);
    assert_categories(e, "teapot", "");
    assert_category_suggestions(e, "teapost", "");
    /* a new one is found at once */
    struct category c2 = make_category(e, "k2", "Kettles Again", "", NULL);
    make_product(e, "Electric Kettle", "", c2.id, NULL, true);
    assert_products(e, "kettle", "Electric Kettle");
    assert_categories(e, "kettle", "Kettles Again");
}

/* ---- cases: analytics ---- */

static void test_record(void **state)
{
    struct env *e = env_of(state);
    struct errors err;
    errors_init(&err, e->arena);
    struct user_new un = {.email = "searcher@example.com", .password = "Corr3ct-Horse-Battery"};
    struct user u;
    int rc = user_create(&e->ctx, &un, &err, &u);
    if (rc != SHOP_OK)
        fail_errors("user_create", rc, &err);

    assert_int_equal(search_record(&e->ctx, "laptop", SEARCH_ALL, 3), SHOP_OK);
    e->ctx.user = &u;
    e->ctx.now = T0 + 5;
    assert_int_equal(search_record(&e->ctx, "lpatop", SEARCH_PRODUCTS, 0), SHOP_OK);
    assert_int_equal(search_record(&e->ctx, "fruit", SEARCH_CATEGORIES, 1), SHOP_OK);
    /* a long query is kept to 255 characters, cut between two of them */
    char long_q[700];
    size_t n = 0;
    for (int i = 0; i < 300; i++) {
        memcpy(long_q + n, "é", 2); /* two bytes each */
        n += 2;
    }
    long_q[n] = '\0';
    assert_int_equal(search_record(&e->ctx, long_q, SEARCH_ALL, 0), SHOP_OK);

    struct db_res *res;
    assert_int_equal(db_query(e->t.db,
                              "SELECT query, type, user_id, result_count, created_at "
                              "FROM searches ORDER BY id",
                              DB_NO_PARAMS, &res),
                     DB_OK);
    assert_int_equal(db_next(res), DB_ROW);
    assert_string_equal(db_col_text(res, 0), "laptop");
    assert_string_equal(db_col_text(res, 1), "all");
    assert_true(db_col_is_null(res, 2));
    assert_int_equal(db_col_int(res, 3), 3);
    assert_int_equal(db_col_int(res, 4), T0);
    assert_int_equal(db_next(res), DB_ROW);
    assert_string_equal(db_col_text(res, 0), "lpatop");
    assert_string_equal(db_col_text(res, 1), "product");
    assert_int_equal(db_col_int(res, 2), u.id);
    assert_int_equal(db_col_int(res, 3), 0);
    assert_int_equal(db_col_int(res, 4), T0 + 5);
    assert_int_equal(db_next(res), DB_ROW);
    assert_string_equal(db_col_text(res, 1), "category");
    assert_int_equal(db_next(res), DB_ROW);
    assert_int_equal(db_col_len(res, 0), 510);
    assert_int_equal(db_next(res), DB_DONE);
    db_res_close(res);

    /* deleting the user keeps the searches, anonymous */
    assert_int_equal(db_exec(e->t.db, "DELETE FROM users WHERE id = ?", DB_PARAMS(DB_INT(u.id)),
                             NULL),
                     DB_OK);
    int64_t anonymous = -1;
    assert_int_equal(db_query_int(e->t.db, "SELECT count(*) FROM searches WHERE user_id IS NULL",
                                  DB_NO_PARAMS, &anonymous),
                     DB_ROW);
    assert_int_equal(anonymous, 4);
}

/* ---- main ---- */

static const struct {
    const char *name;
    CMUnitTestFunction fn;
} cases[] = {
    {"exact_name", test_exact_name},
    {"partial_matches_everything_containing", test_partial_matches_everything_containing},
    {"case_insensitive", test_case_insensitive},
    {"tags_and_description", test_tags_and_description},
    {"inactive_hidden", test_inactive_hidden},
    {"categories_with_products", test_categories_with_products},
    {"many_matches_are_limited", test_many_matches_are_limited},
    {"short_queries", test_short_queries},
    {"metacharacters", test_metacharacters},
    {"unicode", test_unicode},
    {"suggest_typo", test_suggest_typo},
    {"suggest_transposition", test_suggest_transposition},
    {"suggest_missing_letter", test_suggest_missing_letter},
    {"suggest_ranked_and_limited", test_suggest_ranked_and_limited},
    {"suggest_nothing_close", test_suggest_nothing_close},
    {"suggest_common_trigrams", test_suggest_common_trigrams},
    {"product_ids_paging", test_product_ids_paging},
    {"index_follows_writes", test_index_follows_writes},
    {"record", test_record},
};
#define NCASES (sizeof(cases) / sizeof(cases[0]))

static int run_backend(const char *group, CMFixtureFunction setup)
{
    struct CMUnitTest tests[NCASES];
    for (size_t i = 0; i < NCASES; i++)
        tests[i] = (struct CMUnitTest){cases[i].name, cases[i].fn, setup, teardown, NULL};
    return _cmocka_run_group_tests(group, tests, NCASES, group_setup, group_teardown);
}

int main(void)
{
    int failed = 0;
    failed += run_backend("core/search/sqlite", setup_sqlite);
    if (testdb_pg_url() == NULL)
        printf("core/search/postgres: SHOPD_TEST_PG_URL not set, PostgreSQL cases skipped\n");
    failed += run_backend("core/search/postgres", setup_pg);
    return failed != 0;
}
