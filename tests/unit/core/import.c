/*
 * tests/unit/core/import.c - src/core/import.c through import.h against a
 * real catalogue: CSV files (the document's example with its unquoted
 * price_weights, RFC 4180 quoting, BOM, CRLF, header order and case, every
 * row-level refusal, file-level errors, dry runs, a failing row among good
 * ones, duplicate names within the file) and .xlsx workbooks built here with
 * libzip (shared strings with rich text, inline strings, numbers, sparse
 * cells, the first sheet through the workbook's relationships, the fallback
 * part, zip bombs, damaged archives, DTDs).
 *
 * Every case runs on SQLite in a fresh temporary directory, then on
 * PostgreSQL when SHOPD_TEST_PG_URL is set (each case in a schema of its
 * own); without it the PostgreSQL cases are skipped.
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

#include <zip.h>

#include "core/catalog.h"
#include "core/core.h"
#include "core/import.h"
#include "db/db.h"
#include "testdb.h"
#include "util/arena.h"
#include "util/config.h"
#include "util/str.h"

#define T0 INT64_C(1700000000)
#define HEADER "name,description,category_id,inventory,price_weights\n"

struct env {
    struct testdb t; /* the database and its temporary directory */
    struct arena *arena;
    struct config cfg;
    struct ctx ctx;
    int64_t phones, laptops; /* categories.id of "001" and "002" */
};

/* ---- fixtures ---- */

static int64_t make_category(struct env *e, const char *public_id, const char *name)
{
    struct errors err;
    errors_init(&err, e->arena);
    struct category_input in = {.category_id = public_id, .name = name, .n_tags = -1};
    struct category c;
    assert_int_equal(catalog_category_create(&e->ctx, &in, &err, &c), SHOP_OK);
    return c.id;
}

/* Migrated database; two categories and one product already there. */
static void finish_setup(struct env *e)
{
    e->arena = arena_create();
    e->cfg.media_dir = e->t.dir;
    e->cfg.public_url = (char *)"http://shop.test";
    e->ctx = (struct ctx){.db = e->t.db, .arena = e->arena, .cfg = &e->cfg, .now = T0,
                          .now_us = T0 * 1000000};
    e->phones = make_category(e, "001", "Phones");
    e->laptops = make_category(e, "002", "Laptops");
    struct errors err;
    errors_init(&err, e->arena);
    struct variant_input v = {.price_minor = 100, .weight = "1pc", .inventory = 1};
    struct product_input in = {.name = "Existing Phone", .has_category = true,
                               .category_id = e->phones, .n_tags = -1, .n_image_urls = -1,
                               .variants = &v, .n_variants = 1};
    struct product p;
    assert_int_equal(catalog_product_create(&e->ctx, &in, &err, &p), SHOP_OK);
}

static int open_env(void **state, enum db_kind kind)
{
    *state = NULL;
    struct env *e = calloc(1, sizeof(*e));
    assert_non_null(e);
    if (!testdb_open(&e->t, kind, "import")) {
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

#define ENV()                 \
    struct env *e = *state;   \
    if (e == NULL) {          \
        skip();               \
        return;               \
    }

/* ---- helpers ---- */

static int import_text(struct env *e, const char *text, bool dry_run, struct import_report *rep)
{
    return import_products(&e->ctx, text, strlen(text), dry_run, NULL, NULL, rep);
}

static int64_t count_of(struct env *e, const char *sql)
{
    int64_t n = -1;
    assert_int_equal(db_query_int(e->t.db, sql, NULL, 0, &n), DB_ROW);
    return n;
}

static int64_t products(struct env *e)
{
    return count_of(e, "SELECT COUNT(*) FROM products");
}

static int64_t variants(struct env *e)
{
    return count_of(e, "SELECT COUNT(*) FROM product_variants");
}

/* The product of that name (which must exist), with its variants. */
static void product_named(struct env *e, const char *name, struct product *out)
{
    int64_t id = 0;
    int rc = db_query_int(e->t.db, "SELECT id FROM products WHERE name = ?",
                          DB_PARAMS(DB_TEXT(name)), &id);
    if (rc != DB_ROW)
        fail_msg("no product named \"%s\"", name);
    assert_int_equal(catalog_product_get(&e->ctx, id, true, out), SHOP_OK);
}

static bool product_exists(struct env *e, const char *name)
{
    int64_t id = 0;
    return db_query_int(e->t.db, "SELECT id FROM products WHERE name = ?", DB_PARAMS(DB_TEXT(name)),
                        &id) == DB_ROW;
}

/* Asserts the report has exactly this error for that row. */
static void expect_error(const struct import_report *rep, int64_t row, const char *message)
{
    for (size_t i = 0; i < rep->n_errors; i++)
        if (rep->errors[i].row == row && strcmp(rep->errors[i].message, message) == 0)
            return;
    fprintf(stderr, "errors in the report:\n");
    for (size_t i = 0; i < rep->n_errors; i++)
        fprintf(stderr, "  row %lld: %s\n", (long long)rep->errors[i].row, rep->errors[i].message);
    fail_msg("expected row %lld: %s", (long long)row, message);
}

static void expect_file_error(struct env *e, const void *data, size_t len, const char *message)
{
    struct import_report rep;
    int64_t before = products(e);
    assert_int_equal(import_products(&e->ctx, data, len, false, NULL, NULL, &rep), SHOP_EINVAL);
    assert_int_equal(rep.n_errors, 1);
    assert_int_equal(rep.errors[0].row, 0);
    if (strstr(rep.errors[0].message, message) == NULL)
        fail_msg("file error \"%s\" does not contain \"%s\"", rep.errors[0].message, message);
    assert_int_equal(rep.rows, 0);
    assert_int_equal(rep.created, 0);
    assert_int_equal(products(e), before);
}

/* ---- CSV ---- */

/* The document's example, verbatim: price_weights unquoted, its commas
 * splitting the pairs into extra fields. */
static void test_document_example(void **state)
{
    ENV();
    const char *csv =
        HEADER
        "Smartphone,Latest model smartphone,001,100,2000-100gms,3000-200gms,4000-300gms\n"
        "Laptop,High performance laptop,002,50,50000-1kg,75000-1.5kg,100000-2kg\n";
    struct import_report rep;
    assert_int_equal(import_text(e, csv, false, &rep), SHOP_OK);
    assert_int_equal(rep.rows, 2);
    assert_int_equal(rep.valid, 2);
    assert_int_equal(rep.created, 2);
    assert_int_equal(rep.n_errors, 0);

    struct product p;
    product_named(e, "Smartphone", &p);
    assert_string_equal(p.description, "Latest model smartphone");
    assert_int_equal(p.category.id, e->phones);
    assert_int_equal(p.n_variants, 3);
    assert_int_equal(p.variants[0].price_minor, 200000);
    assert_string_equal(p.variants[0].weight, "100gms");
    assert_int_equal(p.variants[1].price_minor, 300000);
    assert_string_equal(p.variants[1].weight, "200gms");
    assert_int_equal(p.variants[2].price_minor, 400000);
    assert_string_equal(p.variants[2].weight, "300gms");
    /* 100 over three variants: the remainder on the first */
    assert_int_equal(p.variants[0].inventory, 34);
    assert_int_equal(p.variants[1].inventory, 33);
    assert_int_equal(p.variants[2].inventory, 33);
    assert_int_equal(p.inventory, 100);
    assert_true(p.is_active);

    product_named(e, "Laptop", &p);
    assert_int_equal(p.category.id, e->laptops);
    assert_int_equal(p.n_variants, 3);
    assert_string_equal(p.variants[1].weight, "1.5kg");
    assert_int_equal(p.variants[2].price_minor, 10000000);
    assert_int_equal(p.inventory, 50);
}

static void test_quoting(void **state)
{
    ENV();
    const char *csv = HEADER
                      "\"Phone, \"\"Pro\"\"\",\"Says \"\"hi\"\", twice\nand a second line\","
                      "001,7,\"2000-100gms,3000-200gms\"\n"
                      "  Spaced  ,  padded  , 002 , 3 , 10-1kg \n";
    struct import_report rep;
    assert_int_equal(import_text(e, csv, false, &rep), SHOP_OK);
    assert_int_equal(rep.n_errors, 0);
    assert_int_equal(rep.created, 2);
    struct product p;
    product_named(e, "Phone, \"Pro\"", &p);
    assert_string_equal(p.description, "Says \"hi\", twice\nand a second line");
    assert_int_equal(p.n_variants, 2);
    assert_int_equal(p.variants[0].inventory, 4);
    assert_int_equal(p.variants[1].inventory, 3);
    product_named(e, "Spaced", &p);
    assert_string_equal(p.description, "padded");
    assert_int_equal(p.category.id, e->laptops);
    assert_int_equal(p.inventory, 3);
}

/* Quoted and unquoted pairs after the last column are joined alike;
 * trailing empty fields are dropped. */
static void test_trailing_price_weights(void **state)
{
    ENV();
    const char *csv = HEADER "A,d,001,3,\"1-1kg\",\"2-2kg\",3-3kg,,\n"
                             "B,d,001,1,5-1kg,,\n";
    struct import_report rep;
    assert_int_equal(import_text(e, csv, false, &rep), SHOP_OK);
    assert_int_equal(rep.n_errors, 0);
    struct product p;
    product_named(e, "A", &p);
    assert_int_equal(p.n_variants, 3);
    assert_string_equal(p.variants[2].weight, "3kg");
    assert_int_equal(p.variants[2].price_minor, 300);
    product_named(e, "B", &p);
    assert_int_equal(p.n_variants, 1);
}

/* Extra values are an error when price_weights is not the last column. */
static void test_extra_values(void **state)
{
    ENV();
    const char *csv = "name,price_weights,description,category_id,inventory\n"
                      "A,1-1kg,d,001,1,surprise\n"
                      "B,1-1kg,d,001,1,,\n";
    struct import_report rep;
    assert_int_equal(import_text(e, csv, false, &rep), SHOP_OK);
    expect_error(&rep, 1, "The row has 6 values but the header names 5 columns.");
    assert_int_equal(rep.n_errors, 1);
    assert_int_equal(rep.created, 1);
    assert_true(product_exists(e, "B"));
    assert_false(product_exists(e, "A"));
}

static void test_bom_crlf(void **state)
{
    ENV();
    const char *csv = "\xef\xbb\xbfname,description,category_id,inventory,price_weights\r\n"
                      "Crlf One,d,001,1,10-1kg\r\n"
                      "Crlf Two,\"two\r\nlines\",001,2,10-1kg\r\n";
    struct import_report rep;
    assert_int_equal(import_text(e, csv, false, &rep), SHOP_OK);
    assert_int_equal(rep.n_errors, 0);
    assert_int_equal(rep.created, 2);
    struct product p;
    product_named(e, "Crlf Two", &p);
    assert_string_equal(p.description, "two\r\nlines");
}

/* Columns by header name, in any order and case; unknown ones ignored;
 * blank lines skipped. */
static void test_header_order(void **state)
{
    ENV();
    const char *csv = "\n Price_Weights ,INVENTORY,Category_ID,Name,notes,Description\n"
                      "10-1kg,5,001,Reordered,ignored,the description\n"
                      "\n";
    struct import_report rep;
    assert_int_equal(import_text(e, csv, false, &rep), SHOP_OK);
    assert_int_equal(rep.n_errors, 0);
    assert_int_equal(rep.rows, 1);
    struct product p;
    product_named(e, "Reordered", &p);
    assert_string_equal(p.description, "the description");
    assert_int_equal(p.inventory, 5);
}

static void test_file_errors(void **state)
{
    ENV();
    expect_file_error(e, "", 0, "The file is empty.");
    expect_file_error(e, "\n\r\n\n", 4, "The file is empty.");
    expect_file_error(e, "\xef\xbb\xbf", 3, "The file is empty.");
    expect_file_error(e, ",,,,\n", 5, "The file is empty.");
    expect_file_error(e, HEADER "\n", strlen(HEADER) + 1,
                      "The file has a header row but no product rows.");
    const char *missing = "name,description,inventory\nA,b,1\n";
    expect_file_error(e, missing, strlen(missing),
                      "Missing columns: category_id, price_weights. The first row must name the "
                      "columns name, description, category_id, inventory, price_weights.");
    const char *one_missing = "name,description,category_id,price_weights\nA,b,001,1-1kg\n";
    expect_file_error(e, one_missing, strlen(one_missing), "Missing column: inventory.");
    const char *semicolons = "name;description;category_id;inventory;price_weights\nA;b;001;1;1-1kg\n";
    expect_file_error(e, semicolons, strlen(semicolons),
                      "price_weights. Separate the values with commas, not semicolons.");
    const char *twice = "name,description,category_id,inventory,price_weights,NAME\n";
    expect_file_error(e, twice, strlen(twice),
                      "The column \"name\" appears twice in the header row.");
    /* a CSV that libcsv's strict mode refuses, with the line */
    const char *stray = HEADER "Good,d,001,1,1-1kg\nBad,5\" screen,001,1,1-1kg\n";
    expect_file_error(e, stray, strlen(stray),
                      "The file is not valid CSV: misplaced quote on line 3.");
    const char *unclosed = HEADER "Good,\"never closed,001,1,1-1kg\n";
    expect_file_error(e, unclosed, strlen(unclosed),
                      "The file is not valid CSV: a quoted value is not closed before the end of "
                      "the file.");
    static const char binary[] = {'\x01', '\x00', '\x02', 'x'};
    expect_file_error(e, binary, sizeof(binary),
                      "The file must be a CSV file (UTF-8 text) or an .xlsx workbook.");
    static const char xls[] = "\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1 rest of an OLE file";
    expect_file_error(e, xls, sizeof(xls) - 1, "Excel 97-2003 (.xls)");
    struct import_report rep;
    assert_int_equal(import_products(&e->ctx, NULL, 0, false, NULL, NULL, &rep), SHOP_EINVAL);
    assert_string_equal(rep.errors[0].message, "The file is empty.");
}

static char *repeat(struct env *e, char c, size_t n)
{
    char *s = arena_alloc(e->arena, n + 1);
    memset(s, c, n);
    s[n] = '\0';
    return s;
}

/* One row per refusal, a good row among them: the good row is created, every
 * other row reported with its reason, nothing else written. */
static void test_every_reason(void **state)
{
    ENV();
    int64_t before = products(e);
    char *csv = arena_sprintf(
        e->arena,
        HEADER
        ",no name,001,1,1-1kg\n"                      /* 1 */
        "%s,too long,001,1,1-1kg\n"                   /* 2 */
        "existing PHONE,taken,001,1,1-1kg\n"          /* 3 */
        "Fine,the good one,001,1,1-1kg\n"             /* 4 */
        "FINE,again,001,1,1-1kg\n"                    /* 5 */
        "No Category,d,,1,1-1kg\n"                    /* 6 */
        "Unknown Category,d,009,1,1-1kg\n"            /* 7 */
        "No Inventory,d,001,,1-1kg\n"                 /* 8 */
        "Word Inventory,d,001,ten,1-1kg\n"            /* 9 */
        "Negative Inventory,d,001,-3,1-1kg\n"         /* 10 */
        "Huge Inventory,d,001,2147483648,1-1kg\n"     /* 11 */
        "No Prices,d,001,1,\n"                        /* 12 */
        "Bad Pair,d,001,1,2000\n"                     /* 13 */
        "Long Description,%s,001,1,1-1kg\n"           /* 14 */
        "Bad \xff Name,d,001,1,1-1kg\n"               /* 15 */
        "Fraction Inventory,d,001,1.5,1-1kg\n"        /* 16 */
        "Several,d,,x,\n",                            /* 17 */
        repeat(e, 'n', 201), repeat(e, 'd', 5001));
    struct import_report rep;
    assert_int_equal(import_text(e, csv, false, &rep), SHOP_OK);
    assert_int_equal(rep.rows, 17);
    assert_int_equal(rep.valid, 1);
    assert_int_equal(rep.created, 1);
    expect_error(&rep, 1, "name: This field is required.");
    expect_error(&rep, 2, "name: Ensure this field has no more than 200 characters.");
    expect_error(&rep, 3, "name: product with this name already exists.");
    expect_error(&rep, 5, "name: \"FINE\" already appears in row 4.");
    expect_error(&rep, 6, "category_id: This field is required.");
    expect_error(&rep, 7, "category_id: Category \"009\" does not exist.");
    expect_error(&rep, 8, "inventory: This field is required.");
    expect_error(&rep, 9, "inventory: Enter a whole number.");
    expect_error(&rep, 10, "inventory: Ensure this value is greater than or equal to 0.");
    expect_error(&rep, 11, "inventory: Ensure this value is less than or equal to 2147483647.");
    expect_error(&rep, 12, "price_weights: This field is required.");
    expect_error(&rep, 13, "price_weights: Invalid price-weight pair \"2000\". Use price-weight, "
                           "e.g. 2000-100gms.");
    expect_error(&rep, 14, "description: Ensure this field has no more than 5000 characters.");
    expect_error(&rep, 15, "name: The value is not valid UTF-8 text; save the file as UTF-8.");
    expect_error(&rep, 16, "inventory: Enter a whole number.");
    expect_error(&rep, 17, "category_id: This field is required.");
    expect_error(&rep, 17, "inventory: Enter a whole number.");
    expect_error(&rep, 17, "price_weights: This field is required.");
    assert_int_equal(rep.n_errors, 18);
    /* errors come in row order */
    for (size_t i = 1; i < rep.n_errors; i++)
        assert_true(rep.errors[i - 1].row <= rep.errors[i].row);
    assert_int_equal(products(e), before + 1);
    assert_true(product_exists(e, "Fine"));
}

static void test_inventory_forms(void **state)
{
    ENV();
    const char *csv = HEADER "Plus,d,001,+5,1-1kg\n"
                             "Point Zero,d,001,5.00,1-1kg\n"
                             "Zero,d,001,0,1-1kg,2-2kg\n";
    struct import_report rep;
    assert_int_equal(import_text(e, csv, false, &rep), SHOP_OK);
    assert_int_equal(rep.n_errors, 0);
    struct product p;
    product_named(e, "Plus", &p);
    assert_int_equal(p.inventory, 5);
    product_named(e, "Point Zero", &p);
    assert_int_equal(p.inventory, 5);
    product_named(e, "Zero", &p);
    assert_int_equal(p.inventory, 0);
    assert_int_equal(p.variants[1].inventory, 0);
}

/* A spreadsheet turns "001" into 1: an all-digit id that matches nothing is
 * tried zero-padded; an exact match wins. */
static void test_category_padding(void **state)
{
    ENV();
    int64_t one = make_category(e, "1", "Literal One");
    const char *csv = HEADER "Padded,d,2,1,1-1kg\n"
                             "Exact,d,1,1,1-1kg\n";
    struct import_report rep;
    assert_int_equal(import_text(e, csv, false, &rep), SHOP_OK);
    assert_int_equal(rep.n_errors, 0);
    struct product p;
    product_named(e, "Padded", &p);
    assert_int_equal(p.category.id, e->laptops);
    product_named(e, "Exact", &p);
    assert_int_equal(p.category.id, one);
}

static void test_dry_run_writes_nothing(void **state)
{
    ENV();
    int64_t before = products(e), before_v = variants(e);
    const char *csv = HEADER "Dry One,d,001,1,1-1kg,2-2kg\n"
                             "Dry Two,d,009,1,1-1kg\n"
                             "Dry Three,d,002,4,1-1kg\n";
    struct import_report rep;
    assert_int_equal(import_text(e, csv, true, &rep), SHOP_OK);
    assert_int_equal(rep.rows, 3);
    assert_int_equal(rep.valid, 2);
    assert_int_equal(rep.created, 0);
    expect_error(&rep, 2, "category_id: Category \"009\" does not exist.");
    assert_int_equal(rep.n_errors, 1);
    assert_int_equal(products(e), before);
    assert_int_equal(variants(e), before_v);
    assert_false(product_exists(e, "Dry One"));
    /* the same file for real: the same verdicts */
    struct import_report real;
    assert_int_equal(import_text(e, csv, false, &real), SHOP_OK);
    assert_int_equal(real.valid, 2);
    assert_int_equal(real.created, 2);
    assert_int_equal(products(e), before + 2);
}

/* A second import of the same file refuses every row as taken. */
static void test_reimport(void **state)
{
    ENV();
    const char *csv = HEADER "Again,d,001,1,1-1kg\n";
    struct import_report rep;
    assert_int_equal(import_text(e, csv, false, &rep), SHOP_OK);
    assert_int_equal(rep.created, 1);
    assert_int_equal(import_text(e, csv, false, &rep), SHOP_OK);
    assert_int_equal(rep.created, 0);
    expect_error(&rep, 1, "name: product with this name already exists.");
}

struct progress_log {
    int calls;
    int64_t first_done, last_done, last_total;
    bool monotonic;
};

static void on_progress(void *arg, int64_t done, int64_t total)
{
    struct progress_log *log = arg;
    if (log->calls == 0)
        log->first_done = done;
    else if (done < log->last_done)
        log->monotonic = false;
    log->calls++;
    log->last_done = done;
    log->last_total = total;
}

static void test_progress(void **state)
{
    ENV();
    struct buf csv;
    buf_init_arena(&csv, e->arena);
    buf_append_str(&csv, HEADER);
    for (int i = 0; i < 2500; i++)
        buf_printf(&csv, "Progress %04d,d,%s,1,1-1kg\n", i, i == 1700 ? "009" : "001");
    struct progress_log log = {.monotonic = true};
    struct import_report rep;
    assert_int_equal(import_products(&e->ctx, csv.p, csv.n, false, on_progress, &log, &rep),
                     SHOP_OK);
    assert_int_equal(rep.rows, 2500);
    assert_int_equal(rep.created, 2499);
    expect_error(&rep, 1701, "category_id: Category \"009\" does not exist.");
    assert_true(log.calls >= 3);
    assert_true(log.calls <= 10);
    assert_int_equal(log.first_done, 0);
    assert_int_equal(log.last_done, 2500);
    assert_int_equal(log.last_total, 2500);
    assert_true(log.monotonic);
}

/* When catalog refuses a row that passed validation (here a trigger stands in
 * for a concurrent writer or a rule import.c does not know), the row is
 * reported, nothing of it is left behind, and the other rows are saved. */
static void test_refused_row_rolls_back(void **state)
{
    ENV();
    if (e->t.kind == DB_SQLITE)
        assert_int_equal(db_exec_script(e->t.db,
                                        "CREATE TRIGGER boom AFTER INSERT ON product_variants "
                                        "WHEN (SELECT name FROM products WHERE id = "
                                        "NEW.product_id) = 'Boom' "
                                        "BEGIN SELECT RAISE(ABORT, 'boom'); END;"),
                         DB_OK);
    else
        assert_int_equal(
            db_exec_script(e->t.db,
                           "CREATE FUNCTION boom() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN "
                           "IF (SELECT name FROM products WHERE id = NEW.product_id) = 'Boom' "
                           "THEN RAISE EXCEPTION 'boom' USING ERRCODE = 'check_violation'; "
                           "END IF; RETURN NEW; END $$; "
                           "CREATE TRIGGER boom AFTER INSERT ON product_variants FOR EACH ROW "
                           "EXECUTE FUNCTION boom();"),
            DB_OK);
    int64_t before = products(e), before_v = variants(e);
    const char *csv = HEADER "Before Boom,d,001,1,1-1kg\n"
                             "Boom,d,001,1,1-1kg,2-2kg\n"
                             "After Boom,d,001,1,1-1kg\n";
    struct import_report rep;
    assert_int_equal(import_text(e, csv, false, &rep), SHOP_OK);
    assert_int_equal(rep.rows, 3);
    assert_int_equal(rep.valid, 2);
    assert_int_equal(rep.created, 2);
    assert_int_equal(rep.n_errors, 1);
    assert_int_equal(rep.errors[0].row, 2);
    assert_non_null(strstr(rep.errors[0].message, "changed at the same time"));
    assert_false(product_exists(e, "Boom"));
    assert_true(product_exists(e, "Before Boom"));
    assert_true(product_exists(e, "After Boom"));
    assert_int_equal(products(e), before + 2);
    assert_int_equal(variants(e), before_v + 2);
}

/* ---- .xlsx ---- */

struct part {
    const char *name;
    const char *data;
    size_t len; /* 0: strlen(data) */
};

/* An in-memory zip of the parts, in e->arena. */
static void *make_zip(struct env *e, const struct part *parts, size_t n, size_t *len)
{
    zip_error_t zerr;
    zip_error_init(&zerr);
    zip_source_t *out = zip_source_buffer_create(NULL, 0, 0, &zerr);
    assert_non_null(out);
    zip_source_keep(out);
    zip_t *za = zip_open_from_source(out, ZIP_TRUNCATE, &zerr);
    assert_non_null(za);
    for (size_t i = 0; i < n; i++) {
        size_t plen = parts[i].len ? parts[i].len : strlen(parts[i].data);
        zip_source_t *s = zip_source_buffer(za, parts[i].data, plen, 0);
        assert_non_null(s);
        assert_true(zip_file_add(za, parts[i].name, s, ZIP_FL_ENC_UTF_8) >= 0);
    }
    assert_int_equal(zip_close(za), 0);
    assert_int_equal(zip_source_open(out), 0);
    assert_int_equal(zip_source_seek(out, 0, SEEK_END), 0);
    zip_int64_t size = zip_source_tell(out);
    assert_true(size > 0);
    assert_int_equal(zip_source_seek(out, 0, SEEK_SET), 0);
    char *data = arena_alloc(e->arena, (size_t)size);
    assert_int_equal(zip_source_read(out, data, (zip_uint64_t)size), size);
    zip_source_close(out);
    zip_source_free(out);
    *len = (size_t)size;
    return data;
}

#define NS_MAIN "http://schemas.openxmlformats.org/spreadsheetml/2006/main"
#define NS_REL "http://schemas.openxmlformats.org/officeDocument/2006/relationships"
#define NS_PKG_REL "http://schemas.openxmlformats.org/package/2006/relationships"

static const char content_types[] =
    "<?xml version=\"1.0\" encoding=\"UTF-8\" standalone=\"yes\"?>"
    "<Types xmlns=\"http://schemas.openxmlformats.org/package/2006/content-types\">"
    "<Default Extension=\"xml\" ContentType=\"application/xml\"/></Types>";

/* The first sheet in the workbook's order is "Products" (rId7 ->
 * worksheets/data.xml); sheet1.xml holds another sheet that must not be read. */
static const char workbook[] =
    "<?xml version=\"1.0\" encoding=\"UTF-8\"?>"
    "<workbook xmlns=\"" NS_MAIN "\" xmlns:rel=\"" NS_REL "\"><sheets>"
    "<sheet name=\"Products\" sheetId=\"2\" rel:id=\"rId7\"/>"
    "<sheet name=\"Other\" sheetId=\"1\" rel:id=\"rId1\"/>"
    "</sheets></workbook>";

static const char workbook_rels[] =
    "<?xml version=\"1.0\" encoding=\"UTF-8\"?>"
    "<Relationships xmlns=\"" NS_PKG_REL "\">"
    "<Relationship Id=\"rId1\" Type=\"" NS_REL "/worksheet\" Target=\"worksheets/sheet1.xml\"/>"
    "<Relationship Id=\"rId7\" Type=\"" NS_REL "/worksheet\" Target=\"/xl/worksheets/data.xml\"/>"
    "</Relationships>";

static const char shared_strings[] =
    "<?xml version=\"1.0\" encoding=\"UTF-8\"?>"
    "<sst xmlns=\"" NS_MAIN "\" count=\"7\" uniqueCount=\"7\">"
    "<si><t>name</t></si>"                                                   /* 0 */
    "<si><t>description</t></si>"                                            /* 1 */
    "<si><t>category_id</t></si>"                                            /* 2 */
    "<si><t>inventory</t></si>"                                              /* 3 */
    "<si><t>price_weights</t></si>"                                          /* 4 */
    "<si><r><t xml:space=\"preserve\">Rich </t></r><r><rPr><b/></rPr><t>Tea &amp; Co</t></r>"
    "<rPh sb=\"0\" eb=\"1\"><t>phonetic</t></rPh></si>"                      /* 5 */
    "<si><t>2000-100gms,3000-200gms</t></si>"                                /* 6 */
    "</sst>";

static const char data_sheet[] =
    "<?xml version=\"1.0\" encoding=\"UTF-8\"?>"
    "<worksheet xmlns=\"" NS_MAIN "\"><sheetData>"
    "<row r=\"1\"><c r=\"A1\" t=\"s\"><v>0</v></c><c r=\"B1\" t=\"s\"><v>1</v></c>"
    "<c r=\"C1\" t=\"s\"><v>2</v></c><c r=\"D1\" t=\"s\"><v>3</v></c>"
    "<c r=\"E1\" t=\"s\"><v>4</v></c></row>"
    /* shared rich text name, inline description, numeric category (1 -> 001),
     * inventory written 100.0, price_weights shared */
    "<row r=\"2\"><c r=\"A2\" t=\"s\"><v>5</v></c>"
    "<c r=\"B2\" t=\"inlineStr\"><is><r><t>Inline </t></r><r><t>text</t></r></is></c>"
    "<c r=\"C2\"><v>1</v></c><c r=\"D2\" s=\"3\"><v>100.0</v></c>"
    "<c r=\"E2\" t=\"s\"><v>6</v></c></row>"
    /* row 3 is absent; row 4 has no description cell (sparse), inventory 1E2,
     * a formula's cached string, and pairs spilling into F and G */
    "<row r=\"4\"><c r=\"A4\" t=\"str\"><f>CONCAT(\"Formula\",\" Name\")</f><v>Formula Name</v></c>"
    "<c r=\"C4\" t=\"inlineStr\"><is><t>002</t></is></c><c r=\"D4\"><v>1E2</v></c>"
    "<c r=\"E4\" t=\"inlineStr\"><is><t>5-1kg</t></is></c>"
    "<c r=\"F4\" t=\"inlineStr\"><is><t>7-2kg</t></is></c>"
    "<c r=\"G4\" t=\"inlineStr\"><is><t>9-3kg</t></is></c></row>"
    /* cells without references, in order; a bad inventory */
    "<row><c t=\"inlineStr\"><is><t>No Refs</t></is></c><c t=\"inlineStr\"><is><t>d</t></is></c>"
    "<c t=\"inlineStr\"><is><t>001</t></is></c><c><v>2.5</v></c>"
    "<c t=\"inlineStr\"><is><t>1-1kg</t></is></c></row>"
    /* a boolean where a number belongs */
    "<row r=\"9\"><c r=\"A9\" t=\"inlineStr\"><is><t>Bool</t></is></c>"
    "<c r=\"C9\" t=\"inlineStr\"><is><t>001</t></is></c><c r=\"D9\" t=\"b\"><v>1</v></c>"
    "<c r=\"E9\" t=\"inlineStr\"><is><t>1-1kg</t></is></c></row>"
    "<row r=\"10\"/>"
    "</sheetData></worksheet>";

static const char decoy_sheet[] =
    "<?xml version=\"1.0\"?><worksheet xmlns=\"" NS_MAIN "\"><sheetData>"
    "<row r=\"1\"><c r=\"A1\" t=\"inlineStr\"><is><t>not the products</t></is></c></row>"
    "</sheetData></worksheet>";

static void test_xlsx(void **state)
{
    ENV();
    const struct part parts[] = {
        {"[Content_Types].xml", content_types, 0},
        {"xl/workbook.xml", workbook, 0},
        {"xl/_rels/workbook.xml.rels", workbook_rels, 0},
        {"xl/sharedStrings.xml", shared_strings, 0},
        {"xl/worksheets/sheet1.xml", decoy_sheet, 0},
        {"xl/worksheets/data.xml", data_sheet, 0},
    };
    size_t len;
    void *xlsx = make_zip(e, parts, sizeof(parts) / sizeof(parts[0]), &len);
    struct import_report rep;
    assert_int_equal(import_products(&e->ctx, xlsx, len, false, NULL, NULL, &rep), SHOP_OK);
    assert_int_equal(rep.rows, 4);
    assert_int_equal(rep.created, 2);
    /* data rows are numbered from the sheet's rows: sheet row 5 is row 4 */
    expect_error(&rep, 4, "inventory: Enter a whole number.");
    expect_error(&rep, 8, "inventory: Enter a whole number.");
    assert_int_equal(rep.n_errors, 2);

    struct product p;
    product_named(e, "Rich Tea & Co", &p);
    assert_string_equal(p.description, "Inline text");
    assert_int_equal(p.category.id, e->phones);
    assert_int_equal(p.inventory, 100);
    assert_int_equal(p.n_variants, 2);
    assert_int_equal(p.variants[1].price_minor, 300000);
    product_named(e, "Formula Name", &p);
    assert_string_equal(p.description, "");
    assert_int_equal(p.category.id, e->laptops);
    assert_int_equal(p.inventory, 100);
    assert_int_equal(p.n_variants, 3);
    assert_string_equal(p.variants[2].weight, "3kg");
}

/* No usable workbook.xml: the conventional first sheet part. */
static void test_xlsx_fallback(void **state)
{
    ENV();
    const char sheet[] =
        "<?xml version=\"1.0\"?><worksheet xmlns=\"" NS_MAIN "\"><sheetData>"
        "<row r=\"1\"><c r=\"A1\" t=\"inlineStr\"><is><t>name</t></is></c>"
        "<c r=\"B1\" t=\"inlineStr\"><is><t>description</t></is></c>"
        "<c r=\"C1\" t=\"inlineStr\"><is><t>category_id</t></is></c>"
        "<c r=\"D1\" t=\"inlineStr\"><is><t>inventory</t></is></c>"
        "<c r=\"E1\" t=\"inlineStr\"><is><t>price_weights</t></is></c></row>"
        "<row r=\"2\"><c r=\"A2\" t=\"inlineStr\"><is><t>Fallback</t></is></c>"
        "<c r=\"C2\" t=\"inlineStr\"><is><t>001</t></is></c><c r=\"D2\"><v>3</v></c>"
        "<c r=\"E2\" t=\"inlineStr\"><is><t>1-1kg</t></is></c></row>"
        "</sheetData></worksheet>";
    const struct part parts[] = {
        {"[Content_Types].xml", content_types, 0},
        {"xl/workbook.xml", "<workbook><not-closed>", 0},
        {"xl/worksheets/sheet1.xml", sheet, 0},
    };
    size_t len;
    void *xlsx = make_zip(e, parts, 3, &len);
    struct import_report rep;
    assert_int_equal(import_products(&e->ctx, xlsx, len, false, NULL, NULL, &rep), SHOP_OK);
    assert_int_equal(rep.n_errors, 0);
    assert_int_equal(rep.created, 1);
    assert_true(product_exists(e, "Fallback"));
}

/* Found by the importer's fuzz driver (tests/fuzz/import.c): a stray <rPh>
 * outside any cell, and a row number at the end of int64 followed by a row
 * without one (the next number overflowed). Both files import normally. */
static void test_xlsx_hostile_rows(void **state)
{
    ENV();
    const char header[] =
        "<c t=\"inlineStr\"><is><t>name</t></is></c>"
        "<c t=\"inlineStr\"><is><t>description</t></is></c>"
        "<c t=\"inlineStr\"><is><t>category_id</t></is></c>"
        "<c t=\"inlineStr\"><is><t>inventory</t></is></c>"
        "<c t=\"inlineStr\"><is><t>price_weights</t></is></c>";
    const char *names[] = {"Stray Reading", "Last Row"};
    for (int i = 0; i < 2; i++) {
        char sheet[2048];
        snprintf(sheet, sizeof(sheet),
                 "<?xml version=\"1.0\"?><worksheet xmlns=\"" NS_MAIN "\"><sheetData>%s"
                 "<row%s>%s</row><row><c t=\"inlineStr\"><is><t>%s</t></is></c><c/>"
                 "<c t=\"inlineStr\"><is><t>001</t></is></c><c><v>3</v></c>"
                 "<c t=\"inlineStr\"><is><t>1-1kg</t></is></c></row></sheetData></worksheet>",
                 i == 0 ? "<rPh><t>x</t></rPh>" : "", i == 1 ? " r=\"9223372036854775807\"" : "",
                 header, names[i]);
        const struct part parts[] = {
            {"[Content_Types].xml", content_types, 0},
            {"xl/worksheets/sheet1.xml", sheet, 0},
        };
        size_t len;
        void *xlsx = make_zip(e, parts, 2, &len);
        struct import_report rep;
        assert_int_equal(import_products(&e->ctx, xlsx, len, false, NULL, NULL, &rep), SHOP_OK);
        assert_int_equal(rep.n_errors, 0);
        assert_int_equal(rep.created, 1);
        assert_true(product_exists(e, names[i]));
    }
}

static void test_xlsx_file_errors(void **state)
{
    ENV();
    static const char damaged[] = "PK\x03\x04 this is not really a zip archive";
    expect_file_error(e, damaged, sizeof(damaged) - 1,
                      "The .xlsx file is damaged: it is not a readable zip archive.");

    size_t len;
    const struct part only_types[] = {{"[Content_Types].xml", content_types, 0}};
    void *zip = make_zip(e, only_types, 1, &len);
    expect_file_error(e, zip, len, "The .xlsx file has no worksheet.");

    const struct part doctype[] = {
        {"xl/worksheets/sheet1.xml",
         "<?xml version=\"1.0\"?><!DOCTYPE lol [<!ENTITY lol \"lol\">]>"
         "<worksheet><sheetData><row><c t=\"inlineStr\"><is><t>&lol;</t></is></c></row>"
         "</sheetData></worksheet>", 0},
    };
    zip = make_zip(e, doctype, 1, &len);
    expect_file_error(e, zip, len, "The .xlsx file is damaged: unexpected DOCTYPE.");

    const struct part broken_xml[] = {
        {"xl/worksheets/sheet1.xml", "<worksheet><sheetData><row></sheetData>", 0},
    };
    zip = make_zip(e, broken_xml, 1, &len);
    expect_file_error(e, zip, len, "The .xlsx file is damaged: mismatched tag");

    const struct part bad_shared[] = {
        {"xl/worksheets/sheet1.xml",
         "<worksheet><sheetData><row><c t=\"s\"><v>42</v></c></row></sheetData></worksheet>", 0},
    };
    zip = make_zip(e, bad_shared, 1, &len);
    expect_file_error(e, zip, len, "a cell refers to a missing shared string");

    const struct part empty_sheet[] = {
        {"xl/worksheets/sheet1.xml", "<worksheet><sheetData/></worksheet>", 0},
    };
    zip = make_zip(e, empty_sheet, 1, &len);
    expect_file_error(e, zip, len, "The file is empty.");

    const struct part missing_column[] = {
        {"xl/worksheets/sheet1.xml",
         "<worksheet><sheetData><row><c t=\"inlineStr\"><is><t>name</t></is></c></row>"
         "<row><c t=\"inlineStr\"><is><t>x</t></is></c></row></sheetData></worksheet>", 0},
    };
    zip = make_zip(e, missing_column, 1, &len);
    expect_file_error(e, zip, len,
                      "Missing columns: description, category_id, inventory, price_weights.");
}

/* 51 MB of zeros compress to about 50 KB: refused from the directory's sizes
 * before anything is inflated. */
static void test_xlsx_bomb(void **state)
{
    ENV();
    size_t big = 51u * 1024 * 1024;
    char *zeros = calloc(1, big);
    assert_non_null(zeros);
    const struct part parts[] = {
        {"xl/worksheets/sheet1.xml", "<worksheet><sheetData/></worksheet>", 0},
        {"xl/media/padding.bin", zeros, big},
    };
    size_t len;
    void *zip = make_zip(e, parts, 2, &len);
    free(zeros);
    assert_true(len < 1024 * 1024);
    expect_file_error(e, zip, len, "The .xlsx file is too large: its contents exceed 50 MB.");
}

/* ---- the run ---- */

static const struct {
    const char *name;
    CMUnitTestFunction fn;
} cases[] = {
    {"document_example", test_document_example},
    {"quoting", test_quoting},
    {"trailing_price_weights", test_trailing_price_weights},
    {"extra_values", test_extra_values},
    {"bom_crlf", test_bom_crlf},
    {"header_order", test_header_order},
    {"file_errors", test_file_errors},
    {"every_reason", test_every_reason},
    {"inventory_forms", test_inventory_forms},
    {"category_padding", test_category_padding},
    {"dry_run_writes_nothing", test_dry_run_writes_nothing},
    {"reimport", test_reimport},
    {"progress", test_progress},
    {"refused_row_rolls_back", test_refused_row_rolls_back},
    {"xlsx", test_xlsx},
    {"xlsx_fallback", test_xlsx_fallback},
    {"xlsx_hostile_rows", test_xlsx_hostile_rows},
    {"xlsx_file_errors", test_xlsx_file_errors},
    {"xlsx_bomb", test_xlsx_bomb},
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
    failed += run_backend("core/import/sqlite", setup_sqlite);
    if (testdb_pg_url() == NULL)
        printf("core/import/postgres: SHOPD_TEST_PG_URL not set, PostgreSQL cases skipped\n");
    failed += run_backend("core/import/postgres", setup_pg);
    return failed != 0;
}
