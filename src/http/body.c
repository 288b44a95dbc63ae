/*
 * body.c - the pure parts of request-body parsing, free of any exchange so
 * tests and the fuzzer can drive them: JSON text to a json-c value, and
 * application/x-www-form-urlencoded text to string fields of an object.
 *
 * request_json_parse hands its value to the caller, who releases it with
 * json_object_put. request_form_parse allocates only from the arena it is
 * given; the strings it adds belong to the object.
 */
#include <string.h>

#include <json-c/json.h>
#include <microhttpd.h>

#include "http/internal.h"
#include "util/arena.h"

/* json-c accepts single-quoted strings even in strict mode; JSON does not.
 * Finds a quote character outside a double-quoted string. */
static bool has_single_quote(const char *p, size_t n)
{
    bool in_string = false;
    for (size_t i = 0; i < n; i++) {
        char c = p[i];
        if (in_string) {
            if (c == '\\')
                i++;
            else if (c == '"')
                in_string = false;
        } else if (c == '"') {
            in_string = true;
        } else if (c == '\'') {
            return true;
        }
    }
    return false;
}

bool request_json_parse(const char *text, size_t n, struct json_object **out,
                        enum json_tokener_error *err)
{
    struct json_tokener *tok = json_tokener_new_ex(64);
    json_tokener_set_flags(tok, JSON_TOKENER_STRICT | JSON_TOKENER_VALIDATE_UTF8);
    /* The terminating NUL is passed too: a bare number ("42") is complete
     * only once the tokener sees the end of the input. */
    struct json_object *v = json_tokener_parse_ex(tok, text, (int)n + 1);
    enum json_tokener_error jerr = json_tokener_get_error(tok);
    size_t consumed = json_tokener_get_parse_end(tok);
    json_tokener_free(tok);
    if (jerr == json_tokener_continue)
        jerr = json_tokener_error_parse_eof;
    if (jerr == json_tokener_success && has_single_quote(text, n))
        jerr = json_tokener_error_parse_string;
    if (jerr == json_tokener_success) {
        /* Only white space may follow the value. */
        for (size_t i = consumed; i < n; i++) {
            char c = text[i];
            if (c != ' ' && c != '\t' && c != '\r' && c != '\n') {
                jerr = json_tokener_error_parse_unexpected;
                break;
            }
        }
    }
    *err = jerr;
    if (jerr != json_tokener_success) {
        json_object_put(v);
        *out = NULL;
        return false;
    }
    *out = v;
    return true;
}

bool request_form_parse(struct arena *a, const char *p, size_t n, struct json_object *obj,
                        const char **error)
{
    char *copy = arena_strndup(a, p, n);
    if (strlen(copy) != n) {
        *error = "Form data must not contain NUL bytes.";
        return false;
    }
    char *save = NULL;
    for (char *pair = strtok_r(copy, "&", &save); pair; pair = strtok_r(NULL, "&", &save)) {
        char *eq = strchr(pair, '=');
        char empty[1] = ""; /* MHD_http_unescape writes: never a literal */
        char *value = empty;
        if (eq) {
            *eq = '\0';
            value = eq + 1;
        }
        for (char *c = pair; *c; c++)
            if (*c == '+')
                *c = ' ';
        for (char *c = value; *c; c++)
            if (*c == '+')
                *c = ' ';
        /* %00 in a name: json-c keys are C strings and would cut it short. */
        if (MHD_http_unescape(pair) != strlen(pair)) {
            *error = "Form data must not contain NUL bytes.";
            return false;
        }
        size_t vlen = MHD_http_unescape(value);
        if (*pair == '\0')
            continue;
        json_object_object_add(obj, pair, json_object_new_string_len(value, (int)vlen));
    }
    return true;
}
