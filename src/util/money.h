/*
 * money.h - amounts as integer minor units (cents, paise), parsed from and
 * rendered to two-place decimal strings ("999.99"). No floating point ever
 * touches a price.
 */
#ifndef SHOPD_UTIL_MONEY_H
#define SHOPD_UTIL_MONEY_H

#include <stdbool.h>
#include <stdint.h>

#define MONEY_STR_MAX 32

/* Parses "999", "999.9", "999.99" (an optional leading '-' only when
 * allow_negative); more than two decimals, exponents, or values past
 * 10^15 are refused. */
bool money_parse(const char *s, bool allow_negative, int64_t *minor);
/* "999.99" */
void money_format(int64_t minor, char out[MONEY_STR_MAX]);

#endif
