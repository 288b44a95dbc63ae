/*
 * catalog_rows.h - the catalogue's column lists and row readers, inside
 * src/core only: catalog.c reads its own rows with them, and search.c reads
 * the product and category rows its ranked queries return with the same
 * code, so a column added to the catalogue is read the same way everywhere.
 * Strings are copies in ctx->arena.
 */
#ifndef SHOPD_CORE_CATALOG_ROWS_H
#define SHOPD_CORE_CATALOG_ROWS_H

#include <stddef.h>

struct ctx;
struct db_res;
struct category;
struct product;

#define CATALOG_CATEGORY_COLUMNS_C                                                            \
    "c.id, c.category_id, c.name, c.slug, c.description, c.tags, c.image, c.display_order, " \
    "c.created_at, c.updated_at"
#define CATALOG_PRODUCT_OWN_COLUMNS                                                           \
    "p.id, p.name, p.slug, p.description, p.tags, p.image_urls, p.image, p.is_active, "      \
    "p.created_at, p.updated_at"
#define CATALOG_PRODUCT_NCOLS 10 /* the product's own columns; its category's may follow */
/* A product row with its category joined (catalog_read_product). */
#define CATALOG_PRODUCT_COLUMNS CATALOG_PRODUCT_OWN_COLUMNS ", " CATALOG_CATEGORY_COLUMNS_C
#define CATALOG_PRODUCT_FROM " FROM products p JOIN categories c ON c.id = p.category_id"

/* Column i as text: "" / NULL for SQL NULL. */
const char *catalog_col_text(struct ctx *ctx, struct db_res *res, int i);
const char *catalog_col_text_or_null(struct ctx *ctx, struct db_res *res, int i);
/* A stored JSON array of strings (tags, image_urls); anything else reads as
 * empty. */
const char **catalog_col_json_strings(struct ctx *ctx, struct db_res *res, int i, size_t *n);

/* The category columns (CATALOG_CATEGORY_COLUMNS_C order) starting at at. */
void catalog_read_category(struct ctx *ctx, struct db_res *res, int at, struct category *c);
/* The product's own columns at 0 (variants, price and inventory unset). */
void catalog_read_product_own(struct ctx *ctx, struct db_res *res, struct product *p);
/* A CATALOG_PRODUCT_COLUMNS row: the product, then its category. */
void catalog_read_product(struct ctx *ctx, struct db_res *res, struct product *p);

#endif
