/*
 * catalog.h - categories and products, one catalogue for every surface.
 *
 * A product has one or more variants (price, weight label, inventory): the
 * shop surface shows them as price_weights; the v1 surface shows a product
 * as one price (the lowest) and one stock_quantity (the sum). Prices are
 * integer minor units. Strings and arrays returned live in ctx->arena.
 *
 * Writes are admin operations; permission checks are the caller's (the one
 * admin test is user_is_admin in user.h). Deleting a category that still
 * has products is refused (SHOP_ECONFLICT), never cascaded.
 */
#ifndef SHOPD_CORE_CATALOG_H
#define SHOPD_CORE_CATALOG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

struct ctx;
struct errors;

#define CATALOG_DISPLAY_SLOTS 8 /* display_order runs 1..8 */
#define CATALOG_PAGE_SIZE_DEFAULT 20
#define CATALOG_PAGE_SIZE_MAX 100

struct category {
    int64_t id;
    const char *category_id; /* the shop surface's public id ("001"); unique */
    const char *name;        /* unique, case-insensitive */
    const char *slug;        /* from the name, unique */
    const char *description;
    const char **tags;
    size_t n_tags;
    const char *image;       /* media path ("categories/<hex>.png") or NULL */
    int display_order;       /* 1..8, 0: none */
    int64_t created_at;
    int64_t updated_at;
};

struct variant {
    int64_t id;
    int64_t price_minor;
    const char *weight; /* "100gms", "1kg", "" */
    int64_t inventory;
};

struct product {
    int64_t id;
    const char *name; /* unique, case-insensitive */
    const char *slug; /* from the name, unique */
    const char *description;
    struct category category; /* the product's category, joined */
    const char **tags;
    size_t n_tags;
    const char **image_urls;
    size_t n_image_urls;
    const char *image; /* v1's single image: a media path or an absolute URL, or NULL */
    bool is_active;
    struct variant *variants; /* in their position order */
    size_t n_variants;
    int64_t inventory;   /* sum of the variants' inventory */
    int64_t price_minor; /* lowest variant price */
    int64_t created_at;
    int64_t updated_at;
};

/* ---- categories ---- */

/* Unset fields: NULL pointers; n_tags < 0; has_display_order false. On
 * create, category_id NULL means "the next free number" and description ""
 * when absent. display_order 0 with has_display_order clears it. */
struct category_input {
    const char *category_id;
    const char *name;
    const char *description;
    const char **tags;
    ssize_t n_tags;
    const char *image;
    bool has_display_order;
    int display_order;
};

/* Validation messages (err fields): name "This field is required." / "category
 * with this name already exists."; category_id "category with this category
 * id already exists."; display_order "Display order must be between 1 and
 * 8." / "A category with this display order already exists." */
int catalog_category_create(struct ctx *ctx, const struct category_input *in,
                            struct errors *err, struct category *out);
int catalog_category_update(struct ctx *ctx, int64_t id, const struct category_input *in,
                            struct errors *err, struct category *out);
int catalog_category_get(struct ctx *ctx, int64_t id, struct category *out);
int catalog_category_get_public(struct ctx *ctx, const char *category_id, struct category *out);
/* SHOP_ECONFLICT with err[ERRORS_NON_FIELD] "Cannot delete a category that still has N
 * products." when products refer to it. */
int catalog_category_delete(struct ctx *ctx, int64_t id, struct errors *err);

enum category_order {
    CATEGORY_BY_ID,            /* v1 */
    CATEGORY_BY_DISPLAY_ORDER, /* shop: display_order first (1..8), then name */
};

struct category_list {
    int64_t count; /* all matching, for pagination */
    struct category *items;
    size_t n;
};

/* offset/limit: a page; limit 0: all. only_ordered: display_order set. */
int catalog_category_list(struct ctx *ctx, enum category_order order, bool only_ordered,
                          int64_t offset, int64_t limit, struct category_list *out);
/* The display orders still free, ascending, into free_orders[8]; *n_free. */
int catalog_display_orders_free(struct ctx *ctx, int free_orders[CATALOG_DISPLAY_SLOTS],
                                size_t *n_free);

/* ---- products ---- */

struct variant_input {
    int64_t price_minor;
    const char *weight;
    int64_t inventory;
};

/* Parses variants given as the compact string "2000-100gms,3000-200gms"
 * (price-weight pairs; spaces allowed) into an arena array; inventory 0.
 * false with err[field] "Invalid price-weight pair \"x\". Use price-weight,
 * e.g. 2000-100gms." */
bool catalog_parse_price_weights(struct ctx *ctx, const char *s, const char *field,
                                 struct errors *err, struct variant_input **out, size_t *n);

/* Unset fields: NULL pointers, negative counts, has_* false. On create,
 * name, category and at least one variant are required. On update, a given
 * variant list replaces the product's variants position by position
 * (existing variant ids are kept for the positions that remain, so carts
 * pointing at them stay valid). */
struct product_input {
    const char *name;
    const char *description;
    bool has_category;
    int64_t category_id; /* categories.id */
    const char **tags;
    ssize_t n_tags;
    const char **image_urls;
    ssize_t n_image_urls;
    bool has_image;
    const char *image; /* NULL with has_image: clears */
    bool has_active;
    bool is_active;
    const struct variant_input *variants;
    ssize_t n_variants;
};

/* Validation messages: name "This field is required." / "product with this
 * name already exists."; category "Invalid pk \"N\" - object does not exist.";
 * price_weights "At least one price-weight is required." / "Ensure price is
 * greater than or equal to 0." / "Ensure inventory is greater than or equal to
 * 0." / "Ensure inventory is less than or equal to 1000000000.". SHOP_EINVAL / SHOP_ECONFLICT (name taken) with err. */
int catalog_product_create(struct ctx *ctx, const struct product_input *in, struct errors *err,
                           struct product *out);
int catalog_product_update(struct ctx *ctx, int64_t id, const struct product_input *in,
                           struct errors *err, struct product *out);
/* include_inactive false: an inactive product is SHOP_ENOTFOUND. */
int catalog_product_get(struct ctx *ctx, int64_t id, bool include_inactive, struct product *out);
int catalog_product_delete(struct ctx *ctx, int64_t id);

struct product_query {
    int64_t category_id;   /* categories.id; 0: any */
    const char *search;    /* substring of name or description (v1's ?search=); NULL: none */
    bool include_inactive; /* admin listings */
    int64_t offset;
    int64_t limit;
};

struct product_list {
    int64_t count; /* all matching, for pagination; O(1) without search */
    struct product *items;
    size_t n;
};

/* Newest first (id descending). Two queries whatever the page size (the
 * page's ids from the index, then those rows with their category and
 * variants joined): no per-row queries. Deep pages start from cached anchor
 * positions (see catalog.c), so their cost does not grow with the page. */
int catalog_product_list(struct ctx *ctx, const struct product_query *q, struct product_list *out);

/* The products (any state) of ids[0..n) with their variants, in the order of
 * ids (missing ids skipped; out->count is out->n): two queries per 100 ids
 * whatever n, for callers holding many ids at once (cart lines). */
int catalog_products_by_ids(struct ctx *ctx, const int64_t *ids, size_t n,
                            struct product_list *out);

/* The products of one category, active only, newest first, at most limit. */
int catalog_category_products(struct ctx *ctx, int64_t category_id, int64_t limit,
                              struct product_list *out);

/* ---- listing page cache ----
 *
 * A surface may keep the serialized rows of a listing page (its "results"
 * text, without the envelope, whose next/previous URLs depend on the
 * request) and serve them again while the page cannot have changed:
 * catalog_page_cache_get reads the listing's count and the highest product
 * id (two O(1) reads) and answers a hit when an entry of the same key (tag,
 * category, include_inactive, offset, limit) was filled with no catalogue
 * write of this process since, the same count and highest id, and at most
 * one second ago: the same validity rules as the deep-page anchors
 * (catalog.c, "Anchors"). A write by another process that changes neither
 * the count nor the highest id (a renamed product, a new variant price)
 * shows after that second at most. Listings with a search are never cached.
 * Memory is bounded (64 entries of at most 64 KB each); thread-safe.
 *
 * Use: get; on a hit, reply with count and text; otherwise list with
 * catalog_product_list, serialize, and put (which stores nothing when the
 * catalogue changed since the get, or when count differs from the get's). */
struct catalog_page_cache {
    bool usable;      /* no search: put may store */
    bool hit;         /* text and count are the page's */
    int64_t count;    /* the listing's count, read by get */
    const char *text; /* on a hit, a copy in ctx->arena */
    size_t len;
    /* the key and state get saw, for put */
    int tag;
    int64_t category_id, offset, limit;
    bool include_inactive;
    uint64_t epoch;
    int64_t max_id;
};

/* tag tells apart the surfaces (or shapes) sharing the cache: any small
 * int, one per serialization. q as for catalog_product_list. SHOP_OK or
 * SHOP_EDB. */
int catalog_page_cache_get(struct ctx *ctx, const struct product_query *q, int tag,
                           struct catalog_page_cache *pc);
/* Stores text[0..len) for pc's key, when count (the listing's, as read by
 * catalog_product_list) is pc->count and nothing changed since the get. */
void catalog_page_cache_put(const struct catalog_page_cache *pc, int64_t count, const char *text,
                            size_t len);

/* Marks the catalogue changed for this process's caches (listing pages,
 * anchors, search answers): every write of catalog.c calls it, and so must
 * any other module that writes catalogue rows (orders taking or giving back
 * stock), before and after its transaction. */
void catalog_changed(void);

#endif
