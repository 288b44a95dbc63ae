/*
 * tests/fuzz/money.c - libFuzzer driver for money_parse (prices from JSON,
 * forms and CSV files): no crash on any text, and what parses formats back to
 * text that parses to the same amount.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "util/money.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *s = malloc(size + 1);
    if (s == NULL)
        return 0;
    memcpy(s, data, size);
    s[size] = '\0';
    int64_t minor;
    if (money_parse(s, true, &minor)) {
        char text[MONEY_STR_MAX];
        money_format(minor, text);
        int64_t again;
        if (!money_parse(text, true, &again) || again != minor)
            __builtin_trap();
    }
    free(s);
    return 0;
}
