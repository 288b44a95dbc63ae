/*
 * surfaces.c - the one list of mounted surfaces.
 */
#include "api/api.h"

#include "api/v1/v1.h"
#include "http/http.h"

const struct http_surface *const api_surfaces[] = {
    &v1_surface,
};

const size_t api_n_surfaces = sizeof(api_surfaces) / sizeof(api_surfaces[0]);
