/*
 * tests/fuzz/body.c - libFuzzer driver for request-body parsing (body.c).
 * The first byte picks the parser (even: JSON, odd: form); the rest is the
 * body. Whatever the input, parsing must not crash, leak or read out of
 * bounds; a JSON value it accepts must serialise to text it accepts again,
 * as the same type; form fields are strings under non-empty names without
 * NUL bytes, and a body with a NUL byte, raw or as a %00 name, is refused.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <json-c/json.h>

#include "http/internal.h"
#include "util/arena.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void fuzz_json(const char *text, size_t n)
{
    struct json_object *v = NULL;
    enum json_tokener_error err = json_tokener_continue;
    bool ok = request_json_parse(text, n, &v, &err);
    if (ok != (err == json_tokener_success))
        __builtin_trap();
    if (!ok) {
        if (v != NULL || err == json_tokener_continue)
            __builtin_trap();
        return;
    }
    /* NULL is JSON null: the only accepted value without an object. */
    if (v == NULL && strncmp(text + strspn(text, " \t\r\n"), "null", 4) != 0)
        __builtin_trap();
    size_t len = 0;
    const char *again = json_object_to_json_string_length(v, JSON_C_TO_STRING_PLAIN, &len);
    if (v == NULL) {
        again = "null";
        len = 4;
    }
    struct json_object *w = NULL;
    enum json_tokener_error err2;
    if (!request_json_parse(again, len, &w, &err2))
        __builtin_trap();
    if (json_object_get_type(v) != json_object_get_type(w))
        __builtin_trap();
    if (json_object_is_type(v, json_type_object) &&
        json_object_object_length(v) != json_object_object_length(w))
        __builtin_trap();
    json_object_put(w);
    json_object_put(v);
}

/* Whether some field name decodes to a NUL byte (%00): json-c keys are C
 * strings, so such a name would be cut short at the NUL. */
static bool has_nul_name(const char *p, size_t n)
{
    size_t start = 0;
    while (start < n) {
        const char *amp = memchr(p + start, '&', n - start);
        size_t end = amp ? (size_t)(amp - p) : n;
        const char *eq = memchr(p + start, '=', end - start);
        size_t name_end = eq ? (size_t)(eq - p) : end;
        for (size_t i = start; i + 2 < name_end; i++)
            if (p[i] == '%' && p[i + 1] == '0' && p[i + 2] == '0')
                return true;
        start = end + 1;
    }
    return false;
}

static void fuzz_form(struct arena *a, const char *p, size_t n)
{
    struct json_object *obj = json_object_new_object();
    const char *error = NULL;
    bool ok = request_form_parse(a, p, n, obj, &error);
    bool has_nul = memchr(p, '\0', n) != NULL;
    /* Refused exactly when a NUL byte is there or a name would decode to one. */
    if (ok == (has_nul || has_nul_name(p, n)) || (!ok && error == NULL))
        __builtin_trap();
    json_object_object_foreach(obj, key, val)
    {
        if (key[0] == '\0' || !json_object_is_type(val, json_type_string))
            __builtin_trap();
        /* Keys are C strings: a NUL decoded from %00 would cut them short,
         * so no key may come from more bytes than the body had. */
        if (strlen(key) > n)
            __builtin_trap();
        if ((size_t)json_object_get_string_len(val) > n)
            __builtin_trap();
    }
    json_object_put(obj);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size == 0)
        return 0;
    bool is_form = data[0] & 1;
    size_t n = size - 1;
    /* The server's body buffer is NUL-terminated at n; so is this copy. */
    char *text = malloc(n + 1);
    memcpy(text, data + 1, n);
    text[n] = '\0';
    if (is_form) {
        struct arena *a = arena_create();
        fuzz_form(a, text, n);
        arena_destroy(a);
    } else {
        fuzz_json(text, n);
    }
    free(text);
    return 0;
}
