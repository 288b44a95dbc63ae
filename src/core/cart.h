/*
 * cart.h - one cart per user, shared by every surface.
 *
 * A cart line is (variant, quantity): the shop surface picks the variant by
 * its price-weight; the v1 surface names a product and gets the product's
 * v1 variant (cart_v1_variant: the lowest price, the earliest position on a
 * tie, i.e. the price v1 shows). Adding a variant already in the cart adds
 * to that line's quantity. Lines hold no stock: stock is checked when a line
 * is added or changed (against the variant's inventory at that moment) and
 * taken at checkout (order.h). Prices shown for a cart are the catalogue's
 * current prices; an order copies them.
 *
 * Every call works on ctx->user's cart; a line of another user's cart is
 * SHOP_ENOTFOUND. Everything returned lives in ctx->arena.
 */
#ifndef SHOPD_CORE_CART_H
#define SHOPD_CORE_CART_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/catalog.h"

struct ctx;
struct errors;

#define CART_QUANTITY_MAX INT64_C(1000000) /* per line */

struct cart_line {
    int64_t id;               /* cart_items.id */
    int64_t quantity;
    struct product product;   /* the line's product, with all its variants */
    const struct variant *variant; /* the line's variant, inside product.variants */
    int64_t line_total_minor; /* variant price x quantity */
    int64_t created_at;
    int64_t updated_at;
};

struct cart {
    int64_t id;      /* 0: the user has no cart yet (never added anything) */
    int64_t user_id;
    struct cart_line *lines; /* oldest line first */
    size_t n_lines;
    int64_t subtotal_minor;  /* sum of line totals */
    int64_t total_quantity;  /* sum of quantities */
    int64_t created_at;
    int64_t updated_at;
};

/* The user's cart with its lines, products (active or not: a line whose
 * product was deactivated stays visible, and checkout refuses it) and
 * variants. No cart yet: SHOP_OK with out->id 0 and no lines (the shop
 * surface answers "Cart not found"); cart_get_or_create makes one. */
int cart_get(struct ctx *ctx, struct cart *out);
int cart_get_or_create(struct ctx *ctx, struct cart *out);

/* The cart with only what an order copies from it, in one query: each
 * line's product has its id, name and is_active and one variant, the line's
 * (no category, tags, images or other variants). For checkout, which reads
 * the cart inside its write transaction, where every query counts. */
int cart_get_for_order(struct ctx *ctx, struct cart *out);

/* The v1 variant of product_id (see above). SHOP_ENOTFOUND when the
 * product does not exist, is inactive, or has no variant. */
int cart_v1_variant(struct ctx *ctx, int64_t product_id, int64_t *variant_id);

/* The variant of product_id whose price and weight are exactly these (price
 * compared in minor units, weight byte for byte after trimming). Returns
 * SHOP_ENOTFOUND with *variant_id 0 when there is none. The product must be
 * active (else SHOP_ENOTFOUND with *product_found false). */
int cart_find_variant(struct ctx *ctx, int64_t product_id, int64_t price_minor,
                      const char *weight, bool *product_found, int64_t *variant_id);

enum cart_add_result {
    CART_ADDED = 0,
    CART_NO_PRODUCT,   /* no such active product / variant */
    CART_NO_STOCK,     /* existing quantity + quantity > the variant's inventory */
    CART_BAD_QUANTITY, /* quantity < 1 or > CART_QUANTITY_MAX */
};

/* Adds quantity of variant_id to the cart (creating the cart and the line,
 * or adding to the existing line), in one write transaction. *result says
 * what happened when SHOP_OK is returned with nothing written
 * (CART_NO_PRODUCT, CART_NO_STOCK, CART_BAD_QUANTITY). out (optional): the
 * line as it now is. SHOP_EDB on storage failure. */
int cart_add(struct ctx *ctx, int64_t variant_id, int64_t quantity,
             enum cart_add_result *result, struct cart_line *out);

/* Changes a line: new quantity (> 0; 0: keep, only with a new variant) and/or
 * new variant (of the same product; 0: keep). If the new variant is already
 * another line of the cart, the two lines merge (quantities add up, this
 * line stays, the other goes). Stock is checked against the resulting
 * quantity: CART_NO_STOCK. SHOP_ENOTFOUND for a line not in the user's
 * cart. */
int cart_update_line(struct ctx *ctx, int64_t line_id, int64_t quantity, int64_t variant_id,
                     enum cart_add_result *result, struct cart_line *out);

/* One line of the user's cart (SHOP_ENOTFOUND otherwise). */
int cart_get_line(struct ctx *ctx, int64_t line_id, struct cart_line *out);

/* Removes one line (SHOP_ENOTFOUND when not the user's) / every line (the
 * cart itself stays; no cart is not an error). */
int cart_remove_line(struct ctx *ctx, int64_t line_id);
int cart_clear(struct ctx *ctx);

/* A line that checkout would refuse: not enough stock, or a product no
 * longer active. */
struct cart_problem {
    const struct cart_line *line;
    int64_t available; /* the variant's inventory now; 0 for an inactive product */
    bool inactive;
};

/* Checks every line against stock and activity now (no lock, no write).
 * *problems is an arena array of *n_problems entries (0: the cart is
 * valid). */
int cart_validate(struct ctx *ctx, const struct cart *cart, struct cart_problem **problems,
                  size_t *n_problems);

#endif
