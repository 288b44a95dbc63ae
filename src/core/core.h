/*
 * core.h - what every domain call shares: the closed set of status codes,
 * the errors object (field -> messages) that surfaces render in their own
 * documented shapes, and the per-call context.
 *
 * Core code never includes http or api headers and never builds a surface's
 * JSON shape; it returns a status and fills an errors object.
 */
#ifndef SHOPD_CORE_CORE_H
#define SHOPD_CORE_CORE_H

#include <stdbool.h>
#include <stdint.h>

struct arena;
struct config;
struct db;
struct user;

enum shop_status {
    SHOP_OK = 0,
    SHOP_EINVAL,     /* the input is wrong; details in the errors object */
    SHOP_ENOTFOUND,  /* no such object (or not visible to this user) */
    SHOP_EFORBIDDEN, /* authenticated but not allowed */
    SHOP_ECONFLICT,  /* unique value already taken / state forbids it */
    SHOP_EAUTH,      /* credentials or token refused */
    SHOP_ELIMIT,     /* rate limit reached */
    SHOP_EDB,        /* storage failed (logged); the caller answers 500 / 503 */
};

/* One problem with one input field. field "non_field_errors" is not tied to
 * a field. code is a short machine-readable tag (may be NULL). */
struct field_error {
    struct field_error *next;
    const char *field;
    const char *message;
    const char *code;
};

struct errors {
    struct arena *arena;
    struct field_error *head, *tail;
    int count;
};

#define ERRORS_NON_FIELD "non_field_errors"

void errors_init(struct errors *e, struct arena *a);
/* field and message must outlive the arena (literals) or be arena copies. */
void errors_add(struct errors *e, const char *field, const char *message);
void errors_add_code(struct errors *e, const char *field, const char *message, const char *code);
bool errors_has(const struct errors *e, const char *field);
static inline bool errors_any(const struct errors *e)
{
    return e->count > 0;
}

/* Everything a core call may use. Built by the http layer per request (or by
 * the command line) and passed down. */
struct ctx {
    struct db *db;
    struct arena *arena;
    const struct config *cfg;
    int64_t now;    /* request time, seconds since the epoch */
    int64_t now_us; /* the same instant, microseconds */
    const struct user *user; /* authenticated user or NULL */
    const char *client_ip;   /* may be NULL: the http layer fills it on first use
                              * (http_client_ip) */
};

/* A write transaction that joins the caller's when one is open: *own says
 * whether this call began it. core_tx_end commits (rc == SHOP_OK) or rolls
 * back what core_tx_begin began, and returns rc, or SHOP_EDB when the
 * commit fails; a joined transaction is left to its owner. */
int core_tx_begin(struct ctx *ctx, bool *own);
int core_tx_end(struct ctx *ctx, bool own, int rc);

/* What a write attempt returns (besides SHOP_*) when it lost a race to a
 * concurrent writer (a unique value taken, a row changed under it): roll
 * back and run the attempt again. Never leaves core. */
#define SHOP_RETRY (-1)

/* Runs fn in a write transaction (core_tx_begin: the caller's when one is
 * open), committing when fn returns SHOP_OK and rolling back otherwise.
 * While fn returns SHOP_RETRY and this call began the transaction, fn runs
 * again in a new one, at most attempts times in all, and the messages a lost
 * attempt added to err (may be NULL) are forgotten. Returns fn's status:
 * SHOP_RETRY when the attempts ran out, or at once in the caller's
 * transaction (only its owner can begin again); SHOP_EDB when the
 * transaction cannot begin or commit. *own (may be NULL): whether this call
 * began the transaction, so that a SHOP_OK means committed. */
int core_tx_run(struct ctx *ctx, struct errors *err, int attempts,
                int (*fn)(struct ctx *, void *), void *arg, bool *own);

#endif
