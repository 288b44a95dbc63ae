/*
 * address.h - users' postal addresses, one table for every surface. Each
 * surface shows the fields its document names (shop: address_line1/state,
 * accounts: address_line_1/province, type, is_default, names, company,
 * phone). At most one default address per user and type: setting a default
 * clears the previous one in the same transaction.
 *
 * Every call is scoped to ctx->user: another user's address is
 * SHOP_ENOTFOUND, never visible.
 */
#ifndef SHOPD_CORE_ADDRESS_H
#define SHOPD_CORE_ADDRESS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct ctx;
struct errors;

struct address {
    int64_t id;
    int64_t user_id;
    const char *type; /* "shipping" or "billing" */
    const char *first_name;
    const char *last_name;
    const char *company;
    const char *line1;
    const char *line2;
    const char *city;
    const char *state;
    const char *postal_code;
    const char *country;
    const char *phone;
    bool is_default;
    int64_t created_at;
};

/* Input: NULL leaves a field unset (create: its default; update: unchanged).
 * has_default says whether is_default was given. */
struct address_input {
    const char *type;
    const char *first_name;
    const char *last_name;
    const char *company;
    const char *line1;
    const char *line2;
    const char *city;
    const char *state;
    const char *postal_code;
    const char *country;
    const char *phone;
    bool has_default;
    bool is_default;
};

/* Checks an input without touching the database (create: the required
 * fields must be present). Returns true when it is acceptable. */
bool address_validate(const struct address_input *in, bool create, struct errors *err);

/* Inserts an address for user_id inside the caller's open transaction
 * (registration with addresses); in must have passed address_validate. */
int address_insert(struct ctx *ctx, int64_t user_id, const struct address_input *in,
                   struct address *out);

/* Validates: line1 and city required on create ("This field is
 * required."), type one of shipping/billing, lengths (255). Field names in
 * err are the canonical ones: type, line1, line2, city, state, postal_code,
 * country, phone, first_name, last_name, company. */
int address_create(struct ctx *ctx, const struct address_input *in, struct errors *err,
                   struct address *out);
int address_update(struct ctx *ctx, int64_t id, const struct address_input *in,
                   struct errors *err, struct address *out);
int address_get(struct ctx *ctx, int64_t id, struct address *out);
int address_delete(struct ctx *ctx, int64_t id);
/* All of the user's addresses, oldest first, in an arena array. */
int address_list(struct ctx *ctx, struct address **out, size_t *n);

#endif
