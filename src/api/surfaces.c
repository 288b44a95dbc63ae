/*
 * surfaces.c - the one list of mounted surfaces. Their mounts do not
 * collide: /api/v1/, /api/accounts/, /api/auth/ and /accounts/api/ are
 * matched before the shop surface's /api/ paths can be (routes are whole
 * paths, so order only matters for identical patterns).
 */
#include "api/api.h"

#include "api/accounts/accounts.h"
#include "api/campus/campus.h"
#include "api/digital/digital.h"
#include "api/shop/shop.h"
#include "api/v1/v1.h"
#include "http/http.h"

const struct http_surface *const api_surfaces[] = {
    &v1_surface, &accounts_surface, &campus_surface, &digital_surface, &shop_surface,
};

const size_t api_n_surfaces = sizeof(api_surfaces) / sizeof(api_surfaces[0]);
