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

int ratelimit_hit(struct ctx *ctx, const char *key, int64_t window_seconds, int64_t *count)
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
    int64_t overlap_us = window_us > elapsed_us ? window_us - elapsed_us : 0;
    *count = current + (previous * overlap_us + window_us - 1) / window_us;
    /* Prune windows older than a day, about once per thousand first hits. */
    if (current == 1 && (ctx->now_us % 1000) == 0)
        db_exec(ctx->db, "DELETE FROM rate_limits WHERE window_start < ?",
                DB_PARAMS(DB_INT(ctx->now - 2 * 86400)), NULL);
    return SHOP_OK;
}
