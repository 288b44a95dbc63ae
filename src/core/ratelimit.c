/*
 * ratelimit.c - see ratelimit.h. One UPSERT per hit: the count and the
 * increment happen in one statement, so concurrent requests never both see
 * the last free slot. The count reported is a sliding-window estimate: the
 * current window's hits plus the previous window's, weighted by how much of
 * it still overlaps the last window_seconds (rounded up). A burst that
 * straddles a window boundary is therefore still counted as one burst.
 */
#include "core/ratelimit.h"

#include "core/core.h"
#include "db/db.h"

/* Microseconds until one more hit would be allowed, from the counts of the
 * current window (cur, already including this hit) and the previous one
 * (prev), elapsed_us into a window of window_us. The estimate of a hit at
 * time w later is cur' + ceil(prev' * overlap / window). */
int64_t ratelimit_wait_us(int64_t window_us, int64_t elapsed_us, int64_t limit, int64_t cur,
                          int64_t prev)
{
    int64_t left_us = window_us - elapsed_us;
    if (cur + 1 <= limit) {
        /* Still in this window, once the previous window weighs little enough. */
        if (prev == 0)
            return 0;
        int64_t w = left_us - (limit - cur - 1) * window_us / prev;
        if (w <= 0)
            return 0;
        if (w < left_us)
            return w;
    }
    /* In the next window, this window's hits become the weighted ones. */
    int64_t into_next = 0;
    if (cur > limit - 1)
        into_next = window_us - (limit - 1) * window_us / cur;
    return left_us + into_next;
}

int ratelimit_hit(struct ctx *ctx, const char *key, int64_t window_seconds, int64_t limit,
                  int64_t *count, int64_t *retry_after)
{
    int64_t window_us = window_seconds * 1000000;
    int64_t window_start = ctx->now - ctx->now % window_seconds;
    int64_t current = 0, previous = 0;
    int rc = db_query_int(ctx->db,
                          "INSERT INTO rate_limits (key, window_start, count) VALUES (?, ?, 1) "
                          "ON CONFLICT (key, window_start) DO UPDATE SET count = "
                          "rate_limits.count + 1 RETURNING count",
                          DB_PARAMS(DB_TEXT(key), DB_INT(window_start)), &current);
    if (rc != DB_ROW)
        return SHOP_EDB;
    rc = db_query_int(ctx->db, "SELECT count FROM rate_limits WHERE key = ? AND window_start = ?",
                      DB_PARAMS(DB_TEXT(key), DB_INT(window_start - window_seconds)), &previous);
    if (rc != DB_ROW && rc != DB_DONE)
        return SHOP_EDB;
    int64_t elapsed_us = ctx->now_us - window_start * 1000000;
    if (elapsed_us < 0)
        elapsed_us = 0;
    if (elapsed_us > window_us)
        elapsed_us = window_us;
    int64_t overlap_us = window_us - elapsed_us;
    *count = current + (previous * overlap_us + window_us - 1) / window_us;
    *retry_after = 0;
    if (*count > limit) {
        int64_t wait_us =
            ratelimit_wait_us(window_us, elapsed_us, limit, current, previous);
        *retry_after = (wait_us + 999999) / 1000000;
        if (*retry_after < 1)
            *retry_after = 1;
    }
    /* Prune windows older than a day, about once per thousand first hits. */
    if (current == 1 && (ctx->now_us % 1000) == 0)
        db_exec(ctx->db, "DELETE FROM rate_limits WHERE window_start < ?",
                DB_PARAMS(DB_INT(ctx->now - 2 * 86400)), NULL);
    return SHOP_OK;
}
