/*
 * tests/fuzz/b64.c - libFuzzer driver for base64 and base64url decoding
 * (tokens, uids, Django hashes): no crash or overrun on any input, and what
 * decodes re-encodes to a string that decodes to the same bytes.
 */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "util/arena.h"
#include "util/b64.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct arena *a = arena_create();
    for (int url = 0; url <= 1; url++) {
        unsigned char *out;
        size_t n;
        bool ok = url ? b64url_decode(a, (const char *)data, size, &out, &n)
                      : b64_decode(a, (const char *)data, size, &out, &n);
        if (!ok)
            continue;
        char *again = url ? b64url_encode(a, out, n) : b64_encode(a, out, n);
        unsigned char *back;
        size_t back_n;
        bool ok2 = url ? b64url_decode(a, again, strlen(again), &back, &back_n)
                       : b64_decode(a, again, strlen(again), &back, &back_n);
        if (!ok2 || back_n != n || memcmp(back, out, n) != 0)
            __builtin_trap();
    }
    arena_destroy(a);
    return 0;
}
