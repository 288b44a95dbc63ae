/*
 * tests/fuzz/import.c - libFuzzer driver for the bulk product importer
 * (import_products): any bytes as an uploaded file, CSV (libcsv) or .xlsx
 * (libzip + expat), as a dry run against a migrated SQLite catalogue with
 * two categories and one product, made once in LLVMFuzzerInitialize (a
 * temporary directory, removed at exit). Whatever the input, importing must
 * not crash, leak or read out of bounds; it must answer SHOP_OK or
 * SHOP_EINVAL (with exactly one file error), and a dry run must write nothing.
 * FUZZ_IMPORT_VERBOSE=1 prints each input's report (to check a seed or a
 * reproducer: build-fuzz/fuzz_import FILE...).
 */
#include <ftw.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/catalog.h"
#include "core/core.h"
#include "core/import.h"
#include "db/db.h"
#include "util/arena.h"
#include "util/config.h"
#include "util/log.h"

#define T0 INT64_C(1700000000)

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static char dir[64];
static struct db *db;
static struct config cfg;
static bool verbose;

static void check(bool ok, const char *what)
{
    if (!ok) {
        fprintf(stderr, "fuzz import: %s\n", what);
        __builtin_trap();
    }
}

static int remove_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)st, (void)flag, (void)ftw;
    return remove(path);
}

static void cleanup(void)
{
    if (db != NULL)
        db_close(db);
    db = NULL;
    if (dir[0] != '\0')
        nftw(dir, remove_entry, 16, FTW_DEPTH | FTW_PHYS);
}

static int64_t products(void)
{
    int64_t n = -1;
    check(db_query_int(db, "SELECT COUNT(*) FROM products", NULL, 0, &n) == DB_ROW,
          "counting products");
    return n;
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc, (void)argv;
    log_set_level(LOG_ERROR);
    const char *v = getenv("FUZZ_IMPORT_VERBOSE");
    verbose = v != NULL && v[0] != '\0' && strcmp(v, "0") != 0;
    snprintf(dir, sizeof(dir), "/tmp/shopd-fuzz-import-XXXXXX");
    check(mkdtemp(dir) != NULL, "mkdtemp");
    atexit(cleanup);
    char url[128];
    snprintf(url, sizeof(url), "sqlite://%s/fuzz.db", dir);
    db = db_open(url);
    check(db != NULL, "db_open");
    check(db_migrate(db, NULL) == DB_OK, "db_migrate");

    cfg.media_dir = dir;
    cfg.public_url = (char *)"http://shop.test";
    struct arena *a = arena_create();
    struct ctx ctx = {.db = db, .arena = a, .cfg = &cfg, .now = T0, .now_us = T0 * 1000000};
    static const char *const cats[][2] = {{"001", "Phones"}, {"002", "Laptops"}};
    int64_t phones = 0;
    for (size_t i = 0; i < sizeof(cats) / sizeof(cats[0]); i++) {
        struct errors err;
        errors_init(&err, a);
        struct category_input in = {.category_id = cats[i][0], .name = cats[i][1], .n_tags = -1};
        struct category c;
        check(catalog_category_create(&ctx, &in, &err, &c) == SHOP_OK, "creating a category");
        if (i == 0)
            phones = c.id;
    }
    /* A name already in the catalogue, for the "already exists" check. */
    struct errors err;
    errors_init(&err, a);
    struct variant_input var = {.price_minor = 100, .weight = "1pc", .inventory = 1};
    struct product_input in = {.name = "Existing Phone", .has_category = true,
                               .category_id = phones, .n_tags = -1, .n_image_urls = -1,
                               .variants = &var, .n_variants = 1};
    check(catalog_product_create(&ctx, &in, &err, NULL) == SHOP_OK, "creating a product");
    arena_destroy(a);
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct arena *a = arena_create();
    struct ctx ctx = {.db = db, .arena = a, .cfg = &cfg, .now = T0, .now_us = T0 * 1000000};
    int64_t before = products();
    struct import_report rep;
    int rc = import_products(&ctx, data, size, true, NULL, NULL, &rep);
    check(rc == SHOP_OK || rc == SHOP_EINVAL, "import_products: neither SHOP_OK nor SHOP_EINVAL");
    if (rc == SHOP_EINVAL) {
        check(rep.n_errors == 1 && rep.errors[0].row == 0 && rep.errors[0].message != NULL,
              "a file error is not exactly one error on row 0");
        check(rep.rows == 0 && rep.valid == 0, "a file error with rows");
    } else {
        check(rep.rows > 0, "SHOP_OK without rows");
        check(rep.valid >= 0 && rep.valid <= rep.rows, "more valid rows than rows");
        check(rep.valid == rep.rows || rep.n_errors > 0, "invalid rows without errors");
        for (size_t i = 0; i < rep.n_errors; i++)
            check(rep.errors[i].message != NULL && strlen(rep.errors[i].message) > 0,
                  "an empty error message");
    }
    if (verbose) {
        fprintf(stderr, "rc %d rows %lld valid %lld errors %zu\n", rc, (long long)rep.rows,
                (long long)rep.valid, rep.n_errors);
        for (size_t i = 0; i < rep.n_errors; i++)
            fprintf(stderr, "  row %lld: %s\n", (long long)rep.errors[i].row,
                    rep.errors[i].message);
    }
    check(rep.created == 0, "a dry run created products");
    check(products() == before, "a dry run wrote to the catalogue");
    arena_destroy(a);
    return 0;
}
