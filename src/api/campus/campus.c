/*
 * campus.c - the route table of the campus surface: reading it tells the whole
 * surface. Also the surface's answers for errors the http layer gives on its
 * behalf (429, 403) in the document's {"success": false, "message"} shape.
 * Authentication failures keep simplejwt's shapes, as the document's "Common
 * Error Responses" show them, so no render_auth_failure.
 */
#include <json-c/json.h>

#include "api/campus/campus.h"

static const struct route campus_routes[] = {
    /* 1-4: the whole document */
    {"POST", "login/", campus_login, ROUTE_SLOW | ROUTE_NO_AUTH, "campus-login"},
    {"POST", "logout/", campus_logout, ROUTE_AUTH, NULL},
    {"GET", "profile/", campus_profile, ROUTE_AUTH, NULL},
    {"POST", "refresh/", campus_refresh, ROUTE_NO_AUTH, NULL},
};

static void render_error(struct http_request *req, int status, const char *code,
                         const char *message)
{
    (void)code;
    struct json_object *obj = json_object_new_object();
    json_object_object_add(obj, "success", json_object_new_boolean(0));
    json_object_object_add(obj, "message", json_object_new_string(message));
    http_reply_json(req, status, obj);
}

const struct http_surface campus_surface = {
    .name = "campus",
    .mount = "/api/auth/",
    .routes = campus_routes,
    .n_routes = sizeof(campus_routes) / sizeof(campus_routes[0]),
    .render_error = render_error,
};
