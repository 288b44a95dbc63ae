/*
 * search.h - the unified search of the shop surface, over the database's own
 * text search: SQLite FTS5 with the trigram tokenizer, PostgreSQL pg_trgm.
 *
 * search_run finds active products and categories whose name, description
 * or tags contain the query (case-insensitive). When nothing matches,
 * search_suggest ranks names by trigram similarity, so typos, transposed and
 * missing letters still find "laptop" from "lpatop". Every search is
 * recorded (query, type, user, result count) for analytics.
 */
#ifndef SHOPD_CORE_SEARCH_H
#define SHOPD_CORE_SEARCH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/catalog.h"

struct ctx;

enum search_type { SEARCH_ALL, SEARCH_PRODUCTS, SEARCH_CATEGORIES };

#define SEARCH_LIMIT 50          /* products or categories per answer */
#define SEARCH_SUGGESTIONS 5     /* suggestions per kind */
#define SEARCH_CATEGORY_PRODUCTS 20

struct search_result {
    struct product_list products;     /* matching products */
    struct category_list categories;  /* matching categories */
    struct product_list *category_products; /* [categories.n]: each category's products */
};

int search_run(struct ctx *ctx, const char *q, enum search_type type, struct search_result *out);

struct search_suggestions {
    const char **products; /* names, most similar first */
    size_t n_products;
    const char **categories;
    size_t n_categories;
};

/* Names similar enough to q (trigram similarity >= 0.3 or one edit away),
 * best first. */
int search_suggest(struct ctx *ctx, const char *q, enum search_type type,
                   struct search_suggestions *out);

/* The ids of products whose name or description contains q (case-
 * insensitive), newest first, optionally in one category (0: any) and
 * active only unless include_inactive: a page of them (offset, limit) and
 * the total. Backed by the trigram index, so a substring search does not
 * scan the table. catalog_product_list uses it for ?search=. */
int search_product_ids(struct ctx *ctx, const char *q, int64_t category_id, bool include_inactive,
                       int64_t offset, int64_t limit, int64_t **ids, size_t *n, int64_t *count);

/* Records one search for analytics (ctx->user may be NULL). */
int search_record(struct ctx *ctx, const char *q, enum search_type type, int64_t result_count);

#endif
