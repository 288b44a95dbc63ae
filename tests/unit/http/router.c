/*
 * Unit tests for src/http/router.c: literal and typed segments, trailing
 * slash, 405 with Allow, HEAD and OPTIONS, malformed patterns.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "http/router.h"

static void h_list(struct http_request *req) { (void)req; }
static void h_create(struct http_request *req) { (void)req; }
static void h_detail(struct http_request *req) { (void)req; }
static void h_update(struct http_request *req) { (void)req; }
static void h_slug(struct http_request *req) { (void)req; }
static void h_uuid(struct http_request *req) { (void)req; }
static void h_two(struct http_request *req) { (void)req; }

static const struct route routes[] = {
    {"GET", "products/", h_list, 0},
    {"POST", "products/", h_create, ROUTE_AUTH},
    {"GET", "products/<int:id>/", h_detail, 0},
    {"PATCH", "products/<int:id>/", h_update, ROUTE_AUTH},
    {"GET", "categories/<slug:slug>/", h_slug, 0},
    {"GET", "downloads/<uuid:token>/", h_uuid, 0},
    {"POST", "orders/<str:number>/items/<int:item>/", h_two, 0},
};

static const struct http_surface surface = {
    .name = "test",
    .mount = "/api/test/",
    .routes = routes,
    .n_routes = sizeof(routes) / sizeof(routes[0]),
};

static int setup(void **state)
{
    (void)state;
    router_reset();
    return router_mount(&surface) ? 0 : -1;
}

static int teardown(void **state)
{
    (void)state;
    router_reset();
    return 0;
}

static void test_literal_with_and_without_slash(void **state)
{
    (void)state;
    struct router_match m;
    assert_int_equal(router_match("GET", "/api/test/products/", &m), ROUTER_FOUND);
    assert_ptr_equal(m.route->handler, h_list);
    assert_ptr_equal(m.surface, &surface);
    assert_int_equal(router_match("GET", "/api/test/products", &m), ROUTER_FOUND);
    assert_ptr_equal(m.route->handler, h_list);
    assert_int_equal(router_match("POST", "/api/test/products", &m), ROUTER_FOUND);
    assert_ptr_equal(m.route->handler, h_create);
}

static void test_int_parameter(void **state)
{
    (void)state;
    struct router_match m;
    assert_int_equal(router_match("GET", "/api/test/products/42/", &m), ROUTER_FOUND);
    assert_ptr_equal(m.route->handler, h_detail);
    assert_int_equal(m.n_params, 1);
    assert_string_equal(m.param_names[0], "id");
    assert_int_equal(m.param_values[0].n, 2);
    assert_memory_equal(m.param_values[0].p, "42", 2);
    /* not an int: no route has this shape */
    assert_int_equal(router_match("GET", "/api/test/products/abc/", &m), ROUTER_NOT_FOUND);
    assert_int_equal(router_match("GET", "/api/test/products/-1/", &m), ROUTER_NOT_FOUND);
    /* too long to be an id */
    assert_int_equal(router_match("GET", "/api/test/products/12345678901234567890/", &m),
                     ROUTER_NOT_FOUND);
}

static void test_typed_parameters(void **state)
{
    (void)state;
    struct router_match m;
    assert_int_equal(router_match("GET", "/api/test/categories/home-and_garden-2/", &m),
                     ROUTER_FOUND);
    assert_int_equal(router_match("GET", "/api/test/categories/bad.slug/", &m), ROUTER_NOT_FOUND);
    assert_int_equal(
        router_match("GET", "/api/test/downloads/123e4567-e89b-12d3-a456-426614174000/", &m),
        ROUTER_FOUND);
    assert_int_equal(router_match("GET", "/api/test/downloads/123e4567-e89b-12d3-a456/", &m),
                     ROUTER_NOT_FOUND);
    assert_int_equal(router_match("POST", "/api/test/orders/ORD-AB12CD34/items/7", &m),
                     ROUTER_FOUND);
    assert_int_equal(m.n_params, 2);
    assert_string_equal(m.param_names[0], "number");
    assert_memory_equal(m.param_values[0].p, "ORD-AB12CD34", 12);
    assert_string_equal(m.param_names[1], "item");
}

static void test_wrong_method_gives_allow(void **state)
{
    (void)state;
    struct router_match m;
    assert_int_equal(router_match("DELETE", "/api/test/products/1/", &m), ROUTER_BAD_METHOD);
    assert_null(m.route);
    assert_string_equal(m.allow, "GET, HEAD, PATCH, OPTIONS");
    assert_int_equal(router_match("PUT", "/api/test/products/", &m), ROUTER_BAD_METHOD);
    assert_string_equal(m.allow, "GET, HEAD, POST, OPTIONS");
    assert_int_equal(router_match("GET", "/api/test/orders/x/items/1/", &m), ROUTER_BAD_METHOD);
    assert_string_equal(m.allow, "POST, OPTIONS");
}

static void test_head_and_options(void **state)
{
    (void)state;
    struct router_match m;
    assert_int_equal(router_match("HEAD", "/api/test/products/", &m), ROUTER_FOUND);
    assert_ptr_equal(m.route->handler, h_list);
    assert_int_equal(router_match("OPTIONS", "/api/test/products/", &m), ROUTER_BAD_METHOD);
    assert_string_equal(m.allow, "GET, HEAD, POST, OPTIONS");
}

static void test_not_found(void **state)
{
    (void)state;
    struct router_match m;
    assert_int_equal(router_match("GET", "/", &m), ROUTER_NOT_FOUND);
    assert_int_equal(router_match("GET", "/api/test/", &m), ROUTER_NOT_FOUND);
    assert_int_equal(router_match("GET", "/api/test//products/", &m), ROUTER_NOT_FOUND);
    assert_int_equal(router_match("GET", "/api/test/products/1/extra/", &m), ROUTER_NOT_FOUND);
    assert_int_equal(router_match("GET", "/API/TEST/PRODUCTS/", &m), ROUTER_NOT_FOUND);
    assert_int_equal(router_match("GET", "/a/b/c/d/e/f/g/h/i/j/k/l/m/n/o/p/q/r/s/", &m),
                     ROUTER_NOT_FOUND);
}

static void test_bad_patterns_are_refused(void **state)
{
    (void)state;
    static const struct route bad_type[] = {{"GET", "x/<float:f>/", h_list, 0}};
    static const struct route no_type[] = {{"GET", "x/<f>/", h_list, 0}};
    struct http_surface s = {.name = "bad", .mount = "/bad/", .routes = bad_type, .n_routes = 1};
    assert_false(router_mount(&s));
    s.routes = no_type;
    assert_false(router_mount(&s));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_literal_with_and_without_slash, setup, teardown),
        cmocka_unit_test_setup_teardown(test_int_parameter, setup, teardown),
        cmocka_unit_test_setup_teardown(test_typed_parameters, setup, teardown),
        cmocka_unit_test_setup_teardown(test_wrong_method_gives_allow, setup, teardown),
        cmocka_unit_test_setup_teardown(test_head_and_options, setup, teardown),
        cmocka_unit_test_setup_teardown(test_not_found, setup, teardown),
        cmocka_unit_test_setup_teardown(test_bad_patterns_are_refused, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
