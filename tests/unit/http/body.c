/*
 * Unit tests for src/http/body.c: strict JSON (single quotes, trailing
 * bytes, bare values, null) and x-www-form-urlencoded fields (escapes, plus,
 * repeated and empty names, NUL bytes raw or escaped).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>
#include <json-c/json.h>

#include "http/internal.h"
#include "util/arena.h"

static bool json_ok(const char *text, struct json_object **out, enum json_tokener_error *err)
{
    return request_json_parse(text, strlen(text), out, err);
}

static void test_json_object(void **state)
{
    (void)state;
    struct json_object *v = NULL;
    enum json_tokener_error err;
    assert_true(json_ok(" {\"a\": [1, 2], \"b\": \"x\"}\r\n", &v, &err));
    assert_int_equal(err, json_tokener_success);
    assert_true(json_object_is_type(v, json_type_object));
    assert_int_equal(json_object_object_length(v), 2);
    json_object_put(v);
}

static void test_json_any_type(void **state)
{
    (void)state;
    struct json_object *v = NULL;
    enum json_tokener_error err;
    assert_true(json_ok("42", &v, &err));
    assert_true(json_object_is_type(v, json_type_int));
    json_object_put(v);
    assert_true(json_ok("[]", &v, &err));
    assert_true(json_object_is_type(v, json_type_array));
    json_object_put(v);
    v = (struct json_object *)&v;
    assert_true(json_ok("null", &v, &err));
    assert_null(v);
}

static void test_json_errors(void **state)
{
    (void)state;
    static const char *bad[] = {"{'a': 1}", "{\"a\": 1} x", "{\"a\": 1", "", "[1,]", "\"\xff\""};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        struct json_object *v = (struct json_object *)&v;
        enum json_tokener_error err = json_tokener_success;
        assert_false(json_ok(bad[i], &v, &err));
        assert_null(v);
        assert_int_not_equal(err, json_tokener_success);
        assert_int_not_equal(err, json_tokener_continue);
    }
    struct json_object *v = NULL;
    enum json_tokener_error err;
    assert_false(json_ok("{\"a\": 1} x", &v, &err));
    assert_int_equal(err, json_tokener_error_parse_unexpected);
    assert_false(json_ok("{'a': 1}", &v, &err));
    assert_int_equal(err, json_tokener_error_parse_string);
    assert_false(json_ok("{\"a\": 1", &v, &err));
    assert_int_equal(err, json_tokener_error_parse_eof);
}

static struct json_object *form(struct arena *a, const char *p, size_t n, const char **error)
{
    struct json_object *obj = json_object_new_object();
    *error = NULL;
    if (!request_form_parse(a, p, n, obj, error)) {
        json_object_put(obj);
        return NULL;
    }
    return obj;
}

static void test_form_fields(void **state)
{
    (void)state;
    struct arena *a = arena_create();
    const char *error;
    const char body[] = "q=red+shoes&tag=a%2Cb&tag=c&empty=&flag&=nokey&&bin=x%00y";
    struct json_object *obj = form(a, body, sizeof(body) - 1, &error);
    assert_non_null(obj);
    assert_string_equal(json_object_get_string(json_object_object_get(obj, "q")), "red shoes");
    assert_string_equal(json_object_get_string(json_object_object_get(obj, "tag")), "c");
    assert_string_equal(json_object_get_string(json_object_object_get(obj, "empty")), "");
    assert_string_equal(json_object_get_string(json_object_object_get(obj, "flag")), "");
    assert_int_equal(json_object_get_string_len(json_object_object_get(obj, "bin")), 3);
    assert_int_equal(json_object_object_length(obj), 5);
    json_object_put(obj);
    arena_destroy(a);
}

static void test_form_nul(void **state)
{
    (void)state;
    struct arena *a = arena_create();
    const char *error;
    assert_null(form(a, "a=1\0b=2", 7, &error));
    assert_string_equal(error, "Form data must not contain NUL bytes.");
    /* Found by tests/fuzz/body.c: the name was cut to "pass". */
    assert_null(form(a, "pass%00word=x", 13, &error));
    assert_string_equal(error, "Form data must not contain NUL bytes.");
    arena_destroy(a);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_json_object), cmocka_unit_test(test_json_any_type),
        cmocka_unit_test(test_json_errors), cmocka_unit_test(test_form_fields),
        cmocka_unit_test(test_form_nul),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
