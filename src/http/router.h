/*
 * router.h - matches (method, path) against the route tables of the mounted
 * surfaces. Internal to src/http.
 *
 * Surfaces are mounted once at start (router_mount); afterwards the table is
 * read-only and shared by all threads. Matching allocates nothing: parameter
 * values are views into the path.
 */
#ifndef SHOPD_HTTP_ROUTER_H
#define SHOPD_HTTP_ROUTER_H

#include <stdbool.h>
#include <stddef.h>

#include "http/http.h"
#include "util/str.h"

enum router_result { ROUTER_FOUND, ROUTER_NOT_FOUND, ROUTER_BAD_METHOD };

struct router_match {
    const struct http_surface *surface; /* FOUND, BAD_METHOD; NOT_FOUND: by mount prefix */
    const struct route *route;          /* set for FOUND */
    int n_params;
    const char *param_names[HTTP_MAX_PARAMS];
    struct str param_values[HTTP_MAX_PARAMS];
    char allow[96]; /* BAD_METHOD and OPTIONS: "GET, PUT, PATCH, HEAD, OPTIONS" */
};

/* Adds a surface's routes. Returns false (and logs why) on a malformed
 * pattern. */
bool router_mount(const struct http_surface *surface);
/* Forgets every mounted surface (tests). */
void router_reset(void);
/* HEAD matches GET routes. OPTIONS matches any route of the path and fills
 * allow. */
enum router_result router_match(const char *method, const char *path, struct router_match *m);

#endif
