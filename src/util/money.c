/*
 * money.c - see money.h.
 */
#include "util/money.h"

#include <stdio.h>

#define MONEY_LIMIT 1000000000000000LL /* 10^15 minor units */

bool money_parse(const char *s, bool allow_negative, int64_t *minor)
{
    if (s == NULL)
        return false;
    bool negative = false;
    if (*s == '-') {
        if (!allow_negative)
            return false;
        negative = true;
        s++;
    }
    if (*s < '0' || *s > '9')
        return false;
    int64_t whole = 0;
    while (*s >= '0' && *s <= '9') {
        whole = whole * 10 + (*s++ - '0');
        if (whole > MONEY_LIMIT / 100)
            return false;
    }
    int64_t frac = 0;
    if (*s == '.') {
        s++;
        int places = 0;
        while (*s >= '0' && *s <= '9') {
            if (++places > 2)
                return false;
            frac = frac * 10 + (*s++ - '0');
        }
        if (places == 0)
            return false;
        if (places == 1)
            frac *= 10;
    }
    if (*s != '\0')
        return false;
    int64_t v = whole * 100 + frac;
    *minor = negative ? -v : v;
    return true;
}

void money_format(int64_t minor, char out[MONEY_STR_MAX])
{
    const char *sign = minor < 0 ? "-" : "";
    uint64_t v = minor < 0 ? (uint64_t)0 - (uint64_t)minor : (uint64_t)minor;
    snprintf(out, MONEY_STR_MAX, "%s%llu.%02llu", sign, (unsigned long long)(v / 100),
             (unsigned long long)(v % 100));
}
