/*
 * errors.c - the errors object of core.h: an arena-allocated list of
 * (field, message, code) in the order problems were found; and the joinable
 * write transaction of core.h.
 */
#include "core/core.h"

#include <string.h>

#include "db/db.h"
#include "util/arena.h"

void errors_init(struct errors *e, struct arena *a)
{
    e->arena = a;
    e->head = e->tail = NULL;
    e->count = 0;
}

void errors_add_code(struct errors *e, const char *field, const char *message, const char *code)
{
    struct field_error *fe = arena_alloc(e->arena, sizeof(*fe));
    fe->next = NULL;
    fe->field = field;
    fe->message = message;
    fe->code = code;
    if (e->tail)
        e->tail->next = fe;
    else
        e->head = fe;
    e->tail = fe;
    e->count++;
}

void errors_add(struct errors *e, const char *field, const char *message)
{
    errors_add_code(e, field, message, NULL);
}

bool errors_has(const struct errors *e, const char *field)
{
    for (const struct field_error *fe = e->head; fe; fe = fe->next)
        if (strcmp(fe->field, field) == 0)
            return true;
    return false;
}

int core_tx_begin(struct ctx *ctx, bool *own)
{
    *own = !db_in_transaction(ctx->db);
    if (*own && db_begin_write(ctx->db) != DB_OK)
        return SHOP_EDB;
    return SHOP_OK;
}

int core_tx_end(struct ctx *ctx, bool own, int rc)
{
    if (!own)
        return rc;
    if (rc == SHOP_OK && db_commit(ctx->db) != DB_OK)
        rc = SHOP_EDB;
    if (rc != SHOP_OK)
        db_rollback(ctx->db);
    return rc;
}

int core_tx_run(struct ctx *ctx, struct errors *err, int attempts,
                int (*fn)(struct ctx *, void *), void *arg, bool *own)
{
    /* where this call's messages begin, so a retried attempt starts clean */
    int count = err != NULL ? err->count : 0;
    struct field_error *tail = err != NULL ? err->tail : NULL;
    for (int attempt = 1;; attempt++) {
        bool began;
        if (core_tx_begin(ctx, &began) != SHOP_OK)
            return SHOP_EDB;
        if (own != NULL)
            *own = began;
        int rc = fn(ctx, arg);
        if (rc == SHOP_OK)
            return core_tx_end(ctx, began, SHOP_OK);
        core_tx_end(ctx, began, SHOP_EDB); /* rolls back what it began */
        if (rc != SHOP_RETRY || !began || attempt >= attempts)
            return rc;
        if (err != NULL) {
            err->count = count;
            err->tail = tail;
            if (tail != NULL)
                tail->next = NULL;
            else
                err->head = NULL;
        }
    }
}
