/*
 * order_mail.c - see order_mail.h. Owns the "order_mail" job: its payload
 * (written by order_mail_enqueue inside the order's transaction), and the
 * rendering and delivery of the message when the job runs.
 *
 * Payload: {"order": id, "event": "confirmation" | "cancelled" | "status",
 * and for "status" "old" and "new" (order_status_name)}. The job carries
 * the id, not the text: the message is rendered from the order as it is
 * when the job runs, so a retry renders the same message, and the invoice
 * (a few KiB of PDF) never sits in the jobs table.
 *
 * The status names in a status email come from the payload, not from the
 * order: the order may have moved on again before the job runs, and each
 * email reports the change that queued it.
 *
 * Every string that came from a user (product names, weights, addresses)
 * and the configured company name are HTML-escaped in the HTML part.
 */
#include "core/order_mail.h"

#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <json-c/json.h>

#include "core/core.h"
#include "core/invoice.h"
#include "core/job.h"
#include "core/mail.h"
#include "core/order.h"
#include "core/profile.h"
#include "db/db.h"
#include "util/arena.h"
#include "util/config.h"
#include "util/log.h"
#include "util/money.h"
#include "util/str.h"
#include "util/time.h"

#define JOB_KIND "order_mail"
#define RUN_RETRY (-1)
#define RUN_PERMANENT (-2)

static const char *const event_names[] = {
    [ORDER_MAIL_CONFIRMATION] = "confirmation",
    [ORDER_MAIL_CANCELLED] = "cancelled",
    [ORDER_MAIL_STATUS] = "status",
};

#define N_EVENTS (sizeof(event_names) / sizeof(event_names[0]))

static bool status_valid(int s)
{
    return s >= 0 && s < ORDER_STATUS_COUNT;
}

/* ---- queueing ---- */

static void put_json(void *data)
{
    json_object_put(data);
}

int order_mail_enqueue(struct ctx *ctx, int64_t order_id, int64_t user_id,
                       enum order_mail_event ev, int old_status, int new_status)
{
    if ((unsigned)ev >= N_EVENTS ||
        (ev == ORDER_MAIL_STATUS && (!status_valid(old_status) || !status_valid(new_status)))) {
        log_error("order_mail: bad event %d (%d -> %d) for order %lld", (int)ev, old_status,
                  new_status, (long long)order_id);
        return SHOP_OK; /* a caller bug must not fail the customer's order */
    }
    struct email_preferences prefs;
    if (preferences_get(ctx, user_id, &prefs) != SHOP_OK)
        return SHOP_EDB;
    bool wanted = ev == ORDER_MAIL_CONFIRMATION ? prefs.order_confirmation
                                                : prefs.order_status_update;
    if (!wanted)
        return SHOP_OK;

    struct json_object *o = json_object_new_object();
    arena_cleanup_add(ctx->arena, put_json, o);
    json_object_object_add(o, "order", json_object_new_int64(order_id));
    json_object_object_add(o, "event", json_object_new_string(event_names[ev]));
    if (ev == ORDER_MAIL_STATUS) {
        json_object_object_add(
            o, "old", json_object_new_string(order_status_name((enum order_status)old_status)));
        json_object_object_add(
            o, "new", json_object_new_string(order_status_name((enum order_status)new_status)));
    }
    const char *json = json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN);
    if (json == NULL) {
        log_error("order_mail: json-c could not serialise a payload");
        abort();
    }
    return job_enqueue(ctx, JOB_KIND, json);
}

/* ---- rendering ---- */

/* Escaped, with line breaks kept as <br>. */
static char *html_lines(struct arena *a, const char *s)
{
    const char *e = str_html_escape(a, s);
    struct buf b;
    buf_init_arena(&b, a);
    for (; *e != '\0'; e++) {
        if (*e == '\r') {
            if (e[1] == '\n')
                e++;
            buf_append_str(&b, "<br>\n");
        } else if (*e == '\n') {
            buf_append_str(&b, "<br>\n");
        } else {
            buf_append_char(&b, *e);
        }
    }
    return (char *)buf_cstr(&b);
}

static const char *money(struct arena *a, int64_t minor)
{
    char buf[MONEY_STR_MAX];
    money_format(minor, buf);
    return arena_strdup(a, buf);
}

static const char *text_or(const char *s, const char *fallback)
{
    return s != NULL && s[0] != '\0' ? s : fallback;
}

/* The lines, totals and address, in both parts. */
static void append_summary(struct arena *a, const struct order *o, struct buf *text,
                           struct buf *html)
{
    const char *tax = invoice_tax_label(a, o->tax_rate_bp);

    buf_append_str(text, "Items:\n");
    buf_append_str(html, "<table cellpadding=\"4\" style=\"border-collapse:collapse\">\n"
                         "<tr><th align=\"left\">Item</th><th align=\"left\">Weight</th>"
                         "<th align=\"right\">Qty</th><th align=\"right\">Unit price</th>"
                         "<th align=\"right\">Total</th></tr>\n");
    for (size_t i = 0; i < o->n_items; i++) {
        const struct order_item *it = &o->items[i];
        const char *name = text_or(it->product_name, "(unnamed product)");
        const char *weight = text_or(it->weight, "");
        const char *unit = money(a, it->unit_price_minor);
        const char *line = money(a, it->line_total_minor);
        if (weight[0] != '\0')
            buf_printf(text, "  %s, %s: %lld x %s = %s\n", name, weight,
                       (long long)it->quantity, unit, line);
        else
            buf_printf(text, "  %s: %lld x %s = %s\n", name, (long long)it->quantity, unit,
                       line);
        buf_printf(html,
                   "<tr><td>%s</td><td>%s</td><td align=\"right\">%lld</td>"
                   "<td align=\"right\">%s</td><td align=\"right\">%s</td></tr>\n",
                   str_html_escape(a, name), str_html_escape(a, weight), (long long)it->quantity, unit,
                   line);
    }
    const char *subtotal = money(a, o->subtotal_minor);
    const char *tax_amount = money(a, o->tax_minor);
    const char *total = money(a, o->total_minor);
    buf_printf(text, "\nSubtotal: %s\n%s: %s\nGrand total: %s\n", subtotal, tax, tax_amount,
               total);
    buf_printf(html,
               "<tr><td colspan=\"4\" align=\"right\">Subtotal</td><td align=\"right\">%s</td>"
               "</tr>\n<tr><td colspan=\"4\" align=\"right\">%s</td><td align=\"right\">%s</td>"
               "</tr>\n<tr><td colspan=\"4\" align=\"right\"><strong>Grand total</strong></td>"
               "<td align=\"right\"><strong>%s</strong></td></tr>\n</table>\n",
               subtotal, str_html_escape(a, tax), tax_amount, total);

    const char *address = text_or(o->shipping_address, "(none)");
    buf_printf(text, "\nShipping address:\n%s\n", address);
    buf_printf(html, "<p><strong>Shipping address:</strong><br>\n%s</p>\n",
               html_lines(a, address));
}

int order_mail_render(struct arena *a, const struct config *cfg, const struct order *o,
                      enum order_mail_event ev, int old_status, int new_status,
                      struct mail *out)
{
    const char *number = text_or(o->order_number, "");
    const char *h_number = str_html_escape(a, number);
    const char *company = text_or(cfg->invoice_company_name, "shopd");
    const char *date = invoice_date(a, o->created_at);
    struct buf text, html;

    buf_init_arena(&text, a);
    buf_init_arena(&html, a);
    memset(out, 0, sizeof(*out));
    out->to = o->user_email;

    switch (ev) {
    case ORDER_MAIL_CONFIRMATION:
        out->subject = arena_sprintf(a, "Order confirmation %s", number);
        buf_printf(&text, "Hello,\n\nThank you for your order %s, placed on %s.\n\n", number,
                   date);
        buf_printf(&html, "<p>Hello,</p>\n<p>Thank you for your order <strong>%s</strong>, "
                          "placed on %s.</p>\n",
                   h_number, date);
        break;
    case ORDER_MAIL_CANCELLED: {
        out->subject = arena_sprintf(a, "Order %s cancelled", number);
        /* Only what the order records: a refund when one is marked, nothing
         * promised for a payment still shown as taken. */
        const char *payment =
            o->payment_status == PAYMENT_REFUNDED
                ? "The payment you made for it is being refunded to your original payment "
                  "method."
            : o->payment_status == PAYMENT_COMPLETED
                ? "We will contact you about the payment you made for it."
                : "You have not been charged for it.";
        buf_printf(&text, "Hello,\n\nYour order %s, placed on %s, has been cancelled. %s\n\n",
                   number, date, payment);
        buf_printf(&html,
                   "<p>Hello,</p>\n<p>Your order <strong>%s</strong>, placed on %s, has been "
                   "cancelled. %s</p>\n",
                   h_number, date, payment);
        break;
    }
    case ORDER_MAIL_STATUS: {
        const char *from = status_valid(old_status)
                               ? order_status_name((enum order_status)old_status)
                               : "unknown";
        const char *to = status_valid(new_status)
                             ? order_status_name((enum order_status)new_status)
                             : "unknown";
        out->subject = arena_sprintf(a, "Order %s is now %s", number, to);
        buf_printf(&text, "Hello,\n\nThe status of your order %s, placed on %s, changed from "
                          "%s to %s.\n\n",
                   number, date, from, to);
        buf_printf(&html,
                   "<p>Hello,</p>\n<p>The status of your order <strong>%s</strong>, placed on "
                   "%s, changed from %s to <strong>%s</strong>.</p>\n",
                   h_number, date, from, to);
        break;
    }
    default:
        return -1;
    }

    buf_printf(&text, "Order number: %s\n\n", number);
    append_summary(a, o, &text, &html);

    if (ev == ORDER_MAIL_CONFIRMATION) {
        struct mail_attachment *at = arena_zalloc(a, sizeof(*at));
        const unsigned char *pdf;
        size_t len;
        if (invoice_pdf(a, cfg, o, &pdf, &len) != 0)
            return -1;
        at->filename = invoice_filename(a, o);
        at->content_type = "application/pdf";
        at->data = pdf;
        at->len = len;
        out->attachments = at;
        out->n_attachments = 1;
        buf_printf(&text, "\nYour invoice is attached (%s).\n", at->filename);
        buf_printf(&html, "<p>Your invoice is attached (%s).</p>\n",
                   str_html_escape(a, at->filename));
    }
    buf_printf(&text, "\nThank you for shopping with us.\n%s\n", company);
    buf_printf(&html, "<p>Thank you for shopping with us.<br>\n%s</p>\n",
               str_html_escape(a, company));
    out->text = buf_cstr(&text);
    out->html = buf_cstr(&html);
    return 0;
}

/* ---- the job ---- */

struct payload {
    int64_t order_id;
    enum order_mail_event ev;
    int old_status, new_status;
};

static bool parse_status(struct json_object *o, const char *name, int *out)
{
    struct json_object *v;
    enum order_status s;
    if (!json_object_object_get_ex(o, name, &v) || !json_object_is_type(v, json_type_string) ||
        !order_status_parse(json_object_get_string(v), &s))
        return false;
    *out = (int)s;
    return true;
}

static bool parse_payload(struct arena *a, const char *payload, struct payload *p)
{
    struct json_object *o = json_tokener_parse(payload != NULL ? payload : "");
    if (o == NULL)
        return false;
    arena_cleanup_add(a, put_json, o);
    struct json_object *v;
    if (!json_object_is_type(o, json_type_object) ||
        !json_object_object_get_ex(o, "order", &v) || !json_object_is_type(v, json_type_int))
        return false;
    p->order_id = json_object_get_int64(v);
    if (p->order_id <= 0 || !json_object_object_get_ex(o, "event", &v) ||
        !json_object_is_type(v, json_type_string))
        return false;
    const char *event = json_object_get_string(v);
    size_t i = 0;
    while (i < N_EVENTS && strcmp(event_names[i], event) != 0)
        i++;
    if (i == N_EVENTS)
        return false;
    p->ev = (enum order_mail_event)i;
    p->old_status = p->new_status = -1;
    if (p->ev == ORDER_MAIL_STATUS &&
        (!parse_status(o, "old", &p->old_status) || !parse_status(o, "new", &p->new_status)))
        return false;
    return true;
}

int order_mail_run_job(struct arena *a, const struct config *cfg, const char *payload,
                       const char **error)
{
    struct payload p;
    *error = NULL;
    if (!parse_payload(a, payload, &p)) {
        *error = "malformed order_mail payload";
        return RUN_PERMANENT;
    }
    struct db *db = db_thread();
    if (db == NULL) {
        *error = "no database connection";
        return RUN_RETRY;
    }
    struct ctx ctx = {
        .db = db,
        .arena = a,
        .cfg = cfg,
        .now = time_now(),
        .now_us = time_now_us(),
        .user = NULL, /* the system: every order is visible */
    };
    struct order o;
    int rc = order_get(&ctx, p.order_id, &o);
    if (rc == SHOP_ENOTFOUND) {
        *error = arena_sprintf(a, "order %lld no longer exists", (long long)p.order_id);
        return RUN_PERMANENT;
    }
    if (rc != SHOP_OK) {
        *error = arena_sprintf(a, "cannot read order %lld: %s", (long long)p.order_id,
                               db_errmsg(db));
        return RUN_RETRY;
    }
    if (o.user_email == NULL || o.user_email[0] == '\0') {
        *error = arena_sprintf(a, "order %lld: its owner has no email address",
                               (long long)p.order_id);
        return RUN_PERMANENT;
    }

    struct mail m;
    if (order_mail_render(a, cfg, &o, p.ev, p.old_status, p.new_status, &m) != 0) {
        *error = "cannot render the invoice";
        return RUN_RETRY;
    }
    /* Unique per attempt: a retried job is a new message for the server. */
    const char *message_id = arena_sprintf(a, "%llx.order-%lld-%s",
                                           (unsigned long long)time_now_us(),
                                           (long long)o.id, event_names[p.ev]);
    struct buf msg;
    buf_init_arena(&msg, a);
    mail_render(a, cfg, &m, message_id, &msg);
    return mail_deliver(a, cfg, m.to, msg.p, msg.n, error) == 0 ? 0 : RUN_RETRY;
}
