/*
 * server.h - the HTTP server's life cycle, for src/main.c.
 */
#ifndef SHOPD_HTTP_SERVER_H
#define SHOPD_HTTP_SERVER_H

#include <stdbool.h>
#include <stddef.h>

struct config;
struct http_surface;

/* Mounts the surfaces, starts the hash pool and libmicrohttpd's worker
 * threads listening on cfg->listen. false (logged) when it cannot. */
bool http_server_start(const struct config *cfg, const struct http_surface *const *surfaces,
                       size_t n_surfaces);
/* Graceful stop: stops accepting, lets in-flight requests finish (at most
 * drain_seconds), then stops the workers and the hash pool. */
void http_server_stop(int drain_seconds);

#endif
