/*
 * mail.h - email through the transactional outbox.
 *
 * mail_enqueue writes a "mail" job in the caller's transaction (or on its
 * own when none is open): if the change that caused the email rolls back,
 * so does the email; if it commits, the email is delivered by the job runner
 * with retries, never lost and never failing the request. The message has a
 * text part and an HTML part and may carry attachments (invoices).
 */
#ifndef SHOPD_CORE_MAIL_H
#define SHOPD_CORE_MAIL_H

#include <stdbool.h>
#include <stddef.h>

struct ctx;
struct config;
struct arena;
struct buf;

struct mail_attachment {
    const char *filename;
    const char *content_type;
    const void *data;
    size_t len;
};

struct mail {
    const char *to;      /* one address */
    const char *subject; /* UTF-8 */
    const char *text;    /* text/plain part, UTF-8 */
    const char *html;    /* text/html part, UTF-8 (may be NULL) */
    const struct mail_attachment *attachments;
    size_t n_attachments;
};

/* Queues the message. SHOP_OK or SHOP_EDB. */
int mail_enqueue(struct ctx *ctx, const struct mail *m);

/* Renders the complete RFC 5322 message (headers, MIME parts, base64
 * bodies, CRLF line ends) into out. from: cfg->mail_from. */
void mail_render(struct arena *a, const struct config *cfg, const struct mail *m,
                 const char *message_id, struct buf *out);

/* Delivers one rendered message now, through cfg->mail_url (smtp://,
 * smtps:// with STARTTLS/AUTH as the URL says, or file://DIR writing one
 * .eml). Returns 0, or -1 with a reason in *error (arena string). */
int mail_deliver(struct arena *a, const struct config *cfg, const char *to,
                 const char *message, size_t len, const char **error);

/* The job handler for kind "mail": payload is the JSON that mail_enqueue
 * wrote. Returns 0 (sent), -1 (failed, retry later) or -2 (the payload can
 * never be sent: fail the job at once), with a reason in *error. */
int mail_run_job(struct arena *a, const struct config *cfg, const char *payload,
                 const char **error);

/* Makes a delivery in progress give up now (at shutdown: an SMTP server that
 * hangs must not hold the process for the whole transfer timeout). The job
 * counts as a failed attempt and is retried later. mail_resume_deliveries
 * undoes it when the runner starts again. */
void mail_cancel_deliveries(void);
void mail_resume_deliveries(void);

#endif
