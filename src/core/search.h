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

/* Records one search for analytics (ctx->user may be NULL): query (its
 * first 255 characters), type, user, result count, ctx->now. Between
 * search_records_start and search_records_stop it only queues the record
 * (no write on the request path); a background thread writes the queue in
 * batches within about 100 ms. Otherwise it writes at once. */
int search_record(struct ctx *ctx, const char *q, enum search_type type, int64_t result_count);

/* ---- answer cache ----
 *
 * A surface may keep the printed body of a search answer (its exact text,
 * opaque to core) and send it again while it cannot have changed: key = (q
 * exactly, type); an entry serves when it was filled with no catalogue
 * write of this process since (catalog.c's epoch), the same count of active
 * products and the same highest product id (catalog_page_cache_get's two
 * O(1) reads, used as the validity probe), and at most one second ago. A
 * write by another process that changes neither the count nor the highest
 * id (a renamed product) shows after that second at most. Bounded (128
 * entries of at most 256 KB); thread-safe; the database is never queried
 * while its lock is held.
 *
 * Use: get; on a hit, record the search with result_count and reply with
 * text; otherwise search, print, and put. A hit is still a search: it must
 * be recorded. */
struct search_cache {
    bool usable;          /* put may store */
    bool hit;             /* text and result_count are the answer's */
    const char *text;     /* on a hit, a copy in ctx->arena */
    size_t len;
    int64_t result_count; /* on a hit, what the search counted */
    /* the key and state get saw, for put */
    const char *q;
    enum search_type type;
    uint64_t epoch;
    int64_t count, max_id;
};

/* SHOP_OK (hit or miss) or SHOP_EDB. q is kept by pointer until put. */
int search_cache_get(struct ctx *ctx, const char *q, enum search_type type, struct search_cache *sc);
/* Stores text[0..len) and result_count for sc's key (nothing when sc is not
 * usable, was a hit, or len is over the bound). */
void search_cache_put(const struct search_cache *sc, int64_t result_count, const char *text,
                      size_t len);

struct config;
/* Starts the thread that writes queued search records (the server: after
 * the database is set up, before it takes requests). False if it cannot. */
bool search_records_start(const struct config *cfg);
/* Writes every queued record and stops the thread (the server: once it has
 * stopped taking requests, before the database connections are closed).
 * Does nothing when not started. */
void search_records_stop(void);

#endif
