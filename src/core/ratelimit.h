/*
 * ratelimit.h - fixed-window counters kept in the database, so that every
 * shopd process behind a load balancer counts against the same limit.
 * Which requests are limited, by what key and how much is the http layer's
 * rule table (src/http/ratelimit.c); this is only the counter.
 */
#ifndef SHOPD_CORE_RATELIMIT_H
#define SHOPD_CORE_RATELIMIT_H

#include <stdint.h>

struct ctx;

/* Counts one hit of key and returns in *count the hits of the last
 * window_seconds, estimated from the current fixed window and the previous
 * one (1 for the first hit). When *count exceeds limit, *retry_after gets
 * the seconds until one more hit would be allowed (0 otherwise). Old windows
 * are pruned now and then. SHOP_OK or SHOP_EDB. */
int ratelimit_hit(struct ctx *ctx, const char *key, int64_t window_seconds, int64_t limit,
                  int64_t *count, int64_t *retry_after);

/* The waiting time behind *retry_after (exposed for its unit test). */
int64_t ratelimit_wait_us(int64_t window_us, int64_t elapsed_us, int64_t limit, int64_t cur,
                          int64_t prev);

#endif
