/*
 * import.h - bulk product import from CSV (libcsv, RFC 4180) or .xlsx (the
 * first worksheet), with the columns name, description, category_id,
 * inventory, price_weights. Used by POST /api/products/bulk-upload/ and
 * `shopd import-products FILE`.
 *
 * Every row is validated (required fields, the category exists by its
 * public category_id, inventory a whole number >= 0, price_weights in the
 * compact form, the name not taken in the catalogue or earlier in the file);
 * the valid rows are saved in one transaction (nothing when dry_run). The
 * row's inventory is spread over its variants (evenly, remainder to the
 * first) so that the product's computed inventory equals it.
 */
#ifndef SHOPD_CORE_IMPORT_H
#define SHOPD_CORE_IMPORT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct ctx;

struct import_row_error {
    int64_t row;         /* 1-based data row (the header is row 0); 0: the file itself */
    const char *message; /* "category_id: Category \"009\" does not exist." */
};

struct import_report {
    int64_t rows;    /* data rows read */
    int64_t created; /* products saved (0 for dry runs) */
    int64_t valid;   /* rows that passed validation */
    struct import_row_error *errors;
    size_t n_errors;
};

/* progress (may be NULL) is called now and then with rows done so far and
 * the total when known (0 when not). SHOP_OK (see the report: rows may have
 * failed), SHOP_EINVAL for an unreadable file (report.errors[0] says why),
 * SHOP_EDB. */
int import_products(struct ctx *ctx, const void *data, size_t len, bool dry_run,
                    void (*progress)(void *arg, int64_t done, int64_t total), void *progress_arg,
                    struct import_report *out);

#endif
