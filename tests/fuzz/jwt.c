/*
 * tests/fuzz/jwt.c - libFuzzer driver for jwt_decode: any bytes as a token,
 * against a fixed key, for each expected type. Whatever the input, decoding
 * must not crash, leak or read out of bounds; and a token it accepts must
 * re-encode to a token it accepts again.
 */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "core/jwt.h"
#include "util/arena.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static const char key[] = "fuzz-secret-key-0123456789";
    struct arena *a = arena_create();
    struct str token = {(const char *)data, size};
    for (int t = JWT_ACCESS; t <= JWT_VERIFICATION; t++) {
        struct jwt_claims c;
        enum jwt_result r = jwt_decode(a, STR_LIT(key), token, (enum jwt_type)t, 1700000000, &c);
        if (r == JWT_OK) {
            char *again = jwt_encode(a, STR_LIT(key), &c);
            struct jwt_claims c2;
            if (jwt_decode(a, STR_LIT(key), str_from(again), (enum jwt_type)t, 1700000000, &c2) !=
                JWT_OK)
                __builtin_trap();
        }
    }
    arena_destroy(a);
    return 0;
}
