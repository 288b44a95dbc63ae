/*
 * v1.c - the route table of the v1 surface: reading it tells the whole
 * surface.
 */
#include "api/v1/v1.h"

static const struct route v1_routes[] = {
    /* 1-6: authentication */
    {"POST", "auth/register/", v1_auth_register, ROUTE_SLOW},
    {"POST", "auth/login/", v1_auth_login, ROUTE_SLOW | ROUTE_NO_AUTH},
    {"POST", "auth/refresh/", v1_auth_refresh, ROUTE_NO_AUTH},
    {"GET", "auth/profile/", v1_auth_profile_get, ROUTE_AUTH},
    {"PUT", "auth/profile/", v1_auth_profile_put, ROUTE_AUTH},
    {"PATCH", "auth/profile/", v1_auth_profile_patch, ROUTE_AUTH},
    {"POST", "auth/change-password/", v1_auth_change_password, ROUTE_AUTH | ROUTE_SLOW},
};

const struct http_surface v1_surface = {
    .name = "v1",
    .mount = "/api/v1/",
    .routes = v1_routes,
    .n_routes = sizeof(v1_routes) / sizeof(v1_routes[0]),
};
