/*
 * api.h - the surfaces shopd serves. Adding a surface means adding its
 * folder under src/api/ and one line in surfaces.c.
 */
#ifndef SHOPD_API_API_H
#define SHOPD_API_API_H

#include <stddef.h>

struct http_surface;

extern const struct http_surface *const api_surfaces[];
extern const size_t api_n_surfaces;

#endif
