/*
 * order_mail.h - the emails an order sends, through the outbox.
 *
 * order_mail_enqueue runs inside the order's transaction: it reads the
 * owner's email preferences (order_confirmation for ORDER_MAIL_CONFIRMATION,
 * order_status_update for the others) and, when they allow it, queues an
 * "order_mail" job carrying the order id and the event. The job (run by the
 * job runner, with retries) reads the order, renders the text and HTML
 * parts (and for the confirmation the PDF invoice, attached), and delivers
 * the message through mail_deliver. If the order's transaction rolls back,
 * no email is queued.
 */
#ifndef SHOPD_CORE_ORDER_MAIL_H
#define SHOPD_CORE_ORDER_MAIL_H

#include <stdint.h>

struct arena;
struct config;
struct ctx;
struct mail;
struct order;

enum order_mail_event {
    ORDER_MAIL_CONFIRMATION = 0, /* order placed: summary + invoice attached */
    ORDER_MAIL_CANCELLED,        /* order cancelled: stock returned, refund note */
    ORDER_MAIL_STATUS,           /* any other status change: old -> new */
};

/* SHOP_OK (queued, or not wanted by the user) or SHOP_EDB. old_status /
 * new_status: enum order_status values for ORDER_MAIL_STATUS (ignored
 * otherwise). */
int order_mail_enqueue(struct ctx *ctx, int64_t order_id, int64_t user_id,
                       enum order_mail_event ev, int old_status, int new_status);

/* The job handler for kind "order_mail" (job.c's table): 0 sent, -1 retry
 * later, -2 never (the order is gone, or the payload is malformed), with a
 * reason in *error. */
int order_mail_run_job(struct arena *a, const struct config *cfg, const char *payload,
                       const char **error);

/* What the job sends for o (no database needed): out->to, subject, text,
 * HTML (every user-provided string escaped) and, for the confirmation, the
 * PDF invoice attached. Everything lives in a. 0, or -1 (the invoice could
 * not be drawn, or ev is unknown). */
int order_mail_render(struct arena *a, const struct config *cfg, const struct order *o,
                      enum order_mail_event ev, int old_status, int new_status,
                      struct mail *out);

#endif
