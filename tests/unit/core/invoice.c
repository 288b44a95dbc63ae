/*
 * tests/unit/core/invoice.c - src/core/invoice.c and src/core/order_mail.c
 * through invoice.h and order_mail.h.
 *
 * The invoice is checked as a reader sees it: the PDF is written to a file
 * and turned back into text by pdftotext (poppler-utils); the text checks
 * skip themselves, saying so, when pdftotext is not installed. Checked: the
 * %PDF- header, the company block, order number, date, ship-to address
 * (wrapped), every line (name, weight, quantity, unit price, line total),
 * subtotal, GST with its rate, grand total; non-ASCII names (WinAnsi
 * characters survive, others print as '?', invalid UTF-8 too); over-long
 * names cut with "..."; a 120-line order on four numbered pages; identical
 * bytes for identical orders.
 *
 * The emails: order_mail_render for the three events (subjects, text with
 * lines, totals and address, HTML with every user string escaped, the
 * invoice attached to the confirmation only). On a real database (SQLite;
 * PostgreSQL too when SHOPD_TEST_PG_URL is set): order_mail_enqueue queues
 * the job with its payload and honours the user's preferences, and
 * order_mail_run_job delivers a confirmation (file:// mail route), refuses
 * malformed payloads and orders that are gone for good.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "core/core.h"
#include "core/invoice.h"
#include "core/mail.h"
#include "core/order.h"
#include "core/order_mail.h"
#include "core/profile.h"
#include "db/db.h"
#include "testdb.h"
#include "util/arena.h"
#include "util/config.h"
#include "util/money.h"
#include "util/str.h"
#include "util/time.h"

#define CREATED_AT 1718000000 /* 2024-06-10T06:13:20Z */
#define LONG_NAME                                                                            \
    "Organic Cold-Pressed Extra Virgin Coconut Oil from the Western Ghats, Family Pack with " \
    "Free Recipe Booklet"
#define SHIP_TO                                                                              \
    "Asha Rao\n42 Lakeview Apartments, 3rd Cross, Indiranagar Double Road, near the old "    \
    "temple and opposite the big banyan tree, Bengaluru, Karnataka 560038, India"

static char company_name[] = "Spice Route Traders";
static char company_address[] = "12 MG Road\nBengaluru 560001";
static char company_email[] = "billing@spiceroute.example";
static char company_gstin[] = "29ABCDE1234F1Z5";
static char mail_from[] = "shopd <no-reply@shop.example>";

static struct config test_config(char *mail_url)
{
    struct config cfg;
    memset(&cfg, 0, sizeof(cfg));
    cfg.mail_from = mail_from;
    cfg.mail_url = mail_url;
    cfg.invoice_company_name = company_name;
    cfg.invoice_company_address = company_address;
    cfg.invoice_company_email = company_email;
    cfg.invoice_company_gstin = company_gstin;
    return cfg;
}

static void set_item(struct order_item *it, const char *name, const char *weight, int64_t qty,
                     int64_t unit)
{
    memset(it, 0, sizeof(*it));
    it->product_name = name;
    it->weight = weight;
    it->quantity = qty;
    it->unit_price_minor = unit;
    it->line_total_minor = qty * unit;
    it->created_at = CREATED_AT;
}

static void finish_totals(struct order *o)
{
    o->subtotal_minor = 0;
    for (size_t i = 0; i < o->n_items; i++)
        o->subtotal_minor += o->items[i].line_total_minor;
    o->tax_minor = order_tax(o->subtotal_minor, o->tax_rate_bp);
    o->total_minor = o->subtotal_minor + o->tax_minor;
}

/* Four lines: plain, non-ASCII (with a character WinAnsi lacks), over-long,
 * and HTML-hostile; 18 % GST. Subtotal 2660.49, GST 478.89, total 3139.38. */
static struct order sample_order(struct arena *a)
{
    struct order o;
    memset(&o, 0, sizeof(o));
    o.id = 7;
    o.order_number = "ORD-TEST0001";
    o.user_id = 3;
    o.user_email = "asha@example.com";
    o.status = ORDER_PROCESSING;
    o.payment_status = PAYMENT_COMPLETED;
    o.tax_rate_bp = ORDER_GST_BP;
    o.shipping_address = SHIP_TO;
    o.billing_address = SHIP_TO;
    o.created_at = CREATED_AT;
    o.updated_at = CREATED_AT;
    o.n_items = 4;
    o.items = arena_zalloc(a, o.n_items * sizeof(*o.items));
    set_item(&o.items[0], "Basmati Rice", "5 kg", 2, 64900);
    set_item(&o.items[1], "Caf\xc3\xa9 Cr\xc3\xa8me \xe2\x98\x95", "250 g", 3, 12050);
    set_item(&o.items[2], LONG_NAME, "1 ltr", 1, 99999);
    set_item(&o.items[3], "<b>&\"", "", 1, 100);
    finish_totals(&o);
    return o;
}

/* ---- pdftotext ---- */

static bool have_pdftotext(void)
{
    static int known = -1;
    if (known < 0)
        known = system("command -v pdftotext >/dev/null 2>&1") == 0;
    if (!known)
        print_message("pdftotext (poppler-utils) is not installed: skipping the PDF text "
                      "checks\n");
    return known == 1;
}

/* The PDF's text as pdftotext -layout reads it, in a. */
static char *pdf_text(struct arena *a, const unsigned char *pdf, size_t len)
{
    char path[] = "/tmp/shopd-invoice-XXXXXX";
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    assert_int_equal(write(fd, pdf, len), (ssize_t)len);
    close(fd);

    char cmd[128];
    snprintf(cmd, sizeof(cmd), "pdftotext -layout %s - 2>&1", path);
    FILE *p = popen(cmd, "r");
    assert_non_null(p);
    size_t cap = 1 << 16, n = 0;
    char *out = malloc(cap);
    assert_non_null(out);
    for (size_t got; (got = fread(out + n, 1, cap - n - 1, p)) > 0;) {
        n += got;
        if (cap - n - 1 == 0) {
            cap *= 2;
            out = realloc(out, cap);
            assert_non_null(out);
        }
    }
    out[n] = '\0';
    int status = pclose(p);
    unlink(path);
    char *copy = arena_strdup(a, out);
    free(out);
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
        fail_msg("pdftotext failed: %s", copy);
    return copy;
}

static void assert_contains(const char *hay, const char *needle)
{
    if (hay == NULL)
        fail_msg("\"%s\" looked for in nothing", needle);
    else if (strstr(hay, needle) == NULL)
        fail_msg("\"%s\" not found in:\n%s", needle, hay);
}

static void assert_lacks(const char *hay, const char *needle)
{
    if (hay != NULL && strstr(hay, needle) != NULL)
        fail_msg("\"%s\" unexpectedly found", needle);
}

/* The text of one layout line that contains needle (the row of a table). */
static char *line_with(struct arena *a, const char *text, const char *needle)
{
    const char *hit = strstr(text, needle);
    if (hit == NULL)
        fail_msg("\"%s\" not found in:\n%s", needle, text);
    const char *start = hit;
    while (start > text && start[-1] != '\n' && start[-1] != '\f')
        start--;
    const char *end = strchr(hit, '\n');
    return arena_strndup(a, start, end != NULL ? (size_t)(end - start) : strlen(start));
}

/* The words of a table row, in order, separated by runs of spaces. */
static void assert_row(struct arena *a, const char *text, const char *first, const char *const *rest,
                       size_t n)
{
    const char *row = line_with(a, text, first);
    const char *p = strstr(row, first) + strlen(first);
    for (size_t i = 0; i < n; i++) {
        const char *hit = strstr(p, rest[i]);
        if (hit == NULL)
            fail_msg("row \"%s\": \"%s\" missing after \"%s\"", row, rest[i], first);
        p = hit + strlen(rest[i]);
    }
}

static const unsigned char *render_pdf(struct arena *a, const struct config *cfg,
                                       const struct order *o, size_t *len)
{
    const unsigned char *pdf = NULL;
    assert_int_equal(invoice_pdf(a, cfg, o, &pdf, len), 0);
    assert_non_null(pdf);
    assert_true(*len > 200);
    assert_memory_equal(pdf, "%PDF-", 5);
    return pdf;
}

/* Page k (from 0) of pdftotext's output: pages end in a form feed. */
static const char *page_of(struct arena *a, const char *text, size_t k)
{
    for (size_t i = 0; i < k; i++) {
        text = strchr(text, '\f');
        assert_non_null(text);
        text++;
    }
    const char *end = strchr(text, '\f');
    assert_non_null(end);
    return arena_strndup(a, text, (size_t)(end - text));
}

static size_t count_char(const char *s, char c)
{
    size_t n = 0;
    for (; *s != '\0'; s++)
        n += *s == c;
    return n;
}

/* ---- the invoice ---- */

static void test_invoice_text(void **state)
{
    (void)state;
    struct arena *a = arena_create();
    struct config cfg = test_config(NULL);
    struct order o = sample_order(a);
    size_t len;
    const unsigned char *pdf = render_pdf(a, &cfg, &o, &len);

    if (have_pdftotext()) {
        const char *t = pdf_text(a, pdf, len);
        assert_contains(t, "Spice Route Traders");
        assert_contains(t, "12 MG Road");
        assert_contains(t, "Bengaluru 560001");
        assert_contains(t, "billing@spiceroute.example");
        assert_contains(t, "GSTIN: 29ABCDE1234F1Z5");
        assert_contains(t, "INVOICE");
        assert_contains(t, "Order number: ORD-TEST0001");
        assert_contains(t, "Date: 2024-06-10");
        assert_contains(t, "Ship to:");
        assert_contains(t, "Asha Rao");
        assert_contains(t, "42 Lakeview Apartments");
        assert_contains(t, "Karnataka 560038, India");
        /* Item, Weight, Qty, Unit price, Total */
        assert_row(a, t, "Item", (const char *const[]){"Weight", "Qty", "Unit price", "Total"},
                   4);
        assert_row(a, t, "Basmati Rice", (const char *const[]){"5 kg", "2", "649.00", "1298.00"},
                   4);
        /* é and è are WinAnsi; the hot beverage sign is not. */
        assert_row(a, t, "Caf\xc3\xa9 Cr\xc3\xa8me ?",
                   (const char *const[]){"250 g", "3", "120.50", "361.50"}, 4);
        assert_row(a, t, "Organic Cold-Pressed",
                   (const char *const[]){"...", "1 ltr", "1", "999.99", "999.99"}, 5);
        assert_lacks(t, "Recipe Booklet");
        assert_row(a, t, "<b>&\"", (const char *const[]){"1", "1.00", "1.00"}, 3);
        assert_row(a, t, "Subtotal", (const char *const[]){"2660.49"}, 1);
        assert_row(a, t, "GST (18%)", (const char *const[]){"478.89"}, 1);
        assert_row(a, t, "Grand total", (const char *const[]){"3139.38"}, 1);
        assert_contains(t, "Page 1 of 1");
        assert_int_equal(count_char(t, '\f'), 1);
    }
    assert_string_equal(invoice_filename(a, &o), "invoice-ORD-TEST0001.pdf");
    arena_destroy(a);
}

static void test_invoice_characters(void **state)
{
    (void)state;
    struct arena *a = arena_create();
    struct config cfg = test_config(NULL);
    struct order o = sample_order(a);
    o.n_items = 3;
    /* Windows-1252's extra characters (curly quotes, dashes, the euro), a
     * character outside it, invalid UTF-8 (a stray continuation byte, an
     * overlong '/', a truncated sequence) and control characters. */
    set_item(&o.items[0], "Tea \xe2\x80\x9cMasala\xe2\x80\x9d \xe2\x80\x94 100 \xe2\x82\xac", "",
             1, 500);
    set_item(&o.items[1], "Bad \xff\x80 \xc0\xaf end", "\tx\x01y", 1, 600);
    set_item(&o.items[2], "Cut \xe2\x82", "", 1, 700);
    o.shipping_address = "Line one\r\nLine two\rLine three";
    cfg.invoice_company_name = (char *)"Caf\xc3\xa9 \xe0\xa4\x95 Co";
    finish_totals(&o);
    size_t len;
    const unsigned char *pdf = render_pdf(a, &cfg, &o, &len);

    if (have_pdftotext()) {
        const char *t = pdf_text(a, pdf, len);
        assert_contains(t, "Tea \xe2\x80\x9cMasala\xe2\x80\x9d \xe2\x80\x94 100 \xe2\x82\xac");
        assert_contains(t, "Bad ?? ?? end");
        assert_contains(t, " x?y ");
        assert_contains(t, "Cut ??");
        assert_contains(t, "Caf\xc3\xa9 ? Co");
        assert_contains(t, "Line one");
        assert_contains(t, "Line two");
        assert_contains(t, "Line three");
        assert_lacks(t, "Line one Line two");
    }
    arena_destroy(a);
}

/* Addresses longer than their block: cut to its lines, ending in "...";
 * a word wider than a line is broken. */
static void test_invoice_long_address(void **state)
{
    (void)state;
    struct arena *a = arena_create();
    struct config cfg = test_config(NULL);
    struct order o = sample_order(a);
    struct buf b;
    buf_init_arena(&b, a);
    for (int i = 0; i < 200; i++)
        buf_printf(&b, "word%03d ", i);
    buf_append_str(&b, "\n\n");
    for (int i = 0; i < 300; i++)
        buf_append_char(&b, (char)('a' + i % 26));
    o.shipping_address = buf_cstr(&b);
    cfg.invoice_company_address = (char *)arena_sprintf(a, "Unit 5\n%s", o.shipping_address);
    size_t len;
    const unsigned char *pdf = render_pdf(a, &cfg, &o, &len);

    if (have_pdftotext()) {
        const char *t = pdf_text(a, pdf, len);
        assert_contains(t, "word000 word001");
        assert_lacks(t, "word199");
        /* Both blocks end in a cut word: "word0NN..." */
        int cuts = 0;
        for (const char *p = strstr(t, "..."); p != NULL; p = strstr(p + 3, "...")) {
            if (p - t >= 7 && strncmp(p - 7, "word", 4) == 0)
                cuts++;
        }
        assert_int_equal(cuts, 2);
        assert_contains(t, "Unit 5");
        /* Everything else is still where it belongs. */
        assert_row(a, t, "Basmati Rice", (const char *const[]){"5 kg", "2", "649.00", "1298.00"},
                   4);
        assert_row(a, t, "Grand total", (const char *const[]){"3139.38"}, 1);
    }

    o.shipping_address = arena_strndup(a, buf_cstr(&b) + 1602, 300); /* one long word */
    assert_int_equal(strlen(o.shipping_address), 300);
    pdf = render_pdf(a, &cfg, &o, &len);
    if (have_pdftotext()) {
        const char *t = pdf_text(a, pdf, len);
        assert_contains(t, "abcdefghijklmnopqrstuvwxyzabcdefghij");
    }
    arena_destroy(a);
}

static void test_invoice_pages(void **state)
{
    (void)state;
    struct arena *a = arena_create();
    struct config cfg = test_config(NULL);
    struct order o = sample_order(a);
    o.n_items = 120;
    o.items = arena_zalloc(a, o.n_items * sizeof(*o.items));
    for (size_t i = 0; i < o.n_items; i++)
        set_item(&o.items[i], arena_sprintf(a, "Product %03zu", i + 1), "1 kg",
                 (int64_t)(i % 7) + 1, 1000 + (int64_t)i);
    finish_totals(&o);
    size_t len;
    const unsigned char *pdf = render_pdf(a, &cfg, &o, &len);
    /* The page tree is not compressed: four pages whatever the tools. */
    assert_non_null(memmem(pdf, len, "/Count 4", 8));

    if (have_pdftotext()) {
        const char *t = pdf_text(a, pdf, len);
        assert_int_equal(count_char(t, '\f'), 4);
        for (int p = 1; p <= 4; p++)
            assert_contains(t, arena_sprintf(a, "Page %d of 4", p));
        for (size_t i = 0; i < o.n_items; i++) {
            const struct order_item *it = &o.items[i];
            char unit[MONEY_STR_MAX], total[MONEY_STR_MAX];
            money_format(it->unit_price_minor, unit);
            money_format(it->line_total_minor, total);
            assert_row(a, t, it->product_name,
                       (const char *const[]){"1 kg",
                                             arena_sprintf(a, "%lld", (long long)it->quantity),
                                             unit, total},
                       4);
        }
        /* 30 lines a page, in order; the totals once, on the last page. */
        for (size_t i = 0; i < o.n_items; i++) {
            const char *page = page_of(a, t, i / 30);
            assert_contains(page, o.items[i].product_name);
            if (i % 30 == 0 && i > 0)
                assert_lacks(page_of(a, t, i / 30 - 1), o.items[i].product_name);
        }
        for (size_t p = 0; p < 3; p++)
            assert_lacks(page_of(a, t, p), "Grand total");
        const char *last = page_of(a, t, 3);
        char total[MONEY_STR_MAX];
        money_format(o.total_minor, total);
        assert_row(a, last, "Grand total", (const char *const[]){total}, 1);
        assert_null(strstr(strstr(last, "Grand total") + 1, "Grand total"));
        assert_contains(last, "Page 4 of 4");
        assert_contains(t, "Invoice ORD-TEST0001 (continued)");
    }
    arena_destroy(a);
}

static void test_invoice_deterministic(void **state)
{
    (void)state;
    struct arena *a = arena_create();
    struct config cfg = test_config(NULL);
    struct order o = sample_order(a);
    size_t len1, len2;
    const unsigned char *one = render_pdf(a, &cfg, &o, &len1);
    const unsigned char *two = render_pdf(a, &cfg, &o, &len2);
    assert_int_equal(len1, len2);
    assert_memory_equal(one, two, len1);

    /* An empty order and a minimal configuration still make a document. */
    struct config bare;
    memset(&bare, 0, sizeof(bare));
    o.n_items = 0;
    o.shipping_address = NULL;
    finish_totals(&o);
    render_pdf(a, &bare, &o, &len1);
    arena_destroy(a);
}

static void test_tax_label(void **state)
{
    (void)state;
    struct arena *a = arena_create();
    assert_string_equal(invoice_tax_label(a, 1800), "GST (18%)");
    assert_string_equal(invoice_tax_label(a, 1250), "GST (12.5%)");
    assert_string_equal(invoice_tax_label(a, 1825), "GST (18.25%)");
    assert_string_equal(invoice_tax_label(a, 5), "GST (0.05%)");
    assert_string_equal(invoice_tax_label(a, 0), "GST (0%)");
    assert_string_equal(invoice_date(a, CREATED_AT), "2024-06-10");
    assert_string_equal(invoice_date(a, 0), "1970-01-01");
    arena_destroy(a);
}

/* ---- the emails, rendered ---- */

static void test_mail_confirmation(void **state)
{
    (void)state;
    struct arena *a = arena_create();
    struct config cfg = test_config(NULL);
    struct order o = sample_order(a);
    o.shipping_address = "Asha <script>alert(1)</script>\n1 Main St & Co";
    struct mail m;
    assert_int_equal(order_mail_render(a, &cfg, &o, ORDER_MAIL_CONFIRMATION, -1, -1, &m), 0);

    assert_string_equal(m.to, "asha@example.com");
    assert_string_equal(m.subject, "Order confirmation ORD-TEST0001");
    assert_contains(m.text, "ORD-TEST0001");
    assert_contains(m.text, "Basmati Rice, 5 kg: 2 x 649.00 = 1298.00");
    assert_contains(m.text, "Caf\xc3\xa9 Cr\xc3\xa8me \xe2\x98\x95, 250 g: 3 x 120.50 = 361.50");
    assert_contains(m.text, LONG_NAME ", 1 ltr: 1 x 999.99 = 999.99");
    assert_contains(m.text, "<b>&\": 1 x 1.00 = 1.00");
    assert_contains(m.text, "Subtotal: 2660.49");
    assert_contains(m.text, "GST (18%): 478.89");
    assert_contains(m.text, "Grand total: 3139.38");
    assert_contains(m.text, "Asha <script>alert(1)</script>\n1 Main St & Co");
    assert_contains(m.text, "invoice-ORD-TEST0001.pdf");
    assert_contains(m.text, "Spice Route Traders");

    /* HTML: every user string escaped. */
    assert_non_null(m.html);
    assert_contains(m.html, "<td>&lt;b&gt;&amp;&quot;</td>");
    assert_lacks(m.html, "<b>&\"");
    assert_contains(m.html, "Asha &lt;script&gt;alert(1)&lt;/script&gt;<br>\n1 Main St &amp; Co");
    assert_lacks(m.html, "<script>");
    assert_contains(m.html, "<td>Caf\xc3\xa9 Cr\xc3\xa8me \xe2\x98\x95</td>");
    assert_contains(m.html, "3139.38");
    assert_contains(m.html, "GST (18%)");

    assert_int_equal(m.n_attachments, 1);
    assert_string_equal(m.attachments[0].filename, "invoice-ORD-TEST0001.pdf");
    assert_string_equal(m.attachments[0].content_type, "application/pdf");
    assert_true(m.attachments[0].len > 200);
    assert_memory_equal(m.attachments[0].data, "%PDF-", 5);
    arena_destroy(a);
}

static void test_mail_cancelled_and_status(void **state)
{
    (void)state;
    struct arena *a = arena_create();
    struct config cfg = test_config(NULL);
    struct order o = sample_order(a);
    struct mail m;

    o.status = ORDER_CANCELLED;
    o.payment_status = PAYMENT_REFUNDED;
    assert_int_equal(order_mail_render(a, &cfg, &o, ORDER_MAIL_CANCELLED, -1, -1, &m), 0);
    assert_string_equal(m.subject, "Order ORD-TEST0001 cancelled");
    assert_contains(m.text, "has been cancelled");
    assert_contains(m.text, "refunded");
    assert_contains(m.text, "Grand total: 3139.38");
    assert_contains(m.text, "Asha Rao");
    assert_contains(m.html, "&lt;b&gt;&amp;&quot;");
    assert_int_equal(m.n_attachments, 0);

    o.payment_status = PAYMENT_PENDING;
    assert_int_equal(order_mail_render(a, &cfg, &o, ORDER_MAIL_CANCELLED, -1, -1, &m), 0);
    assert_contains(m.text, "not been charged");
    assert_lacks(m.text, "refunded");

    o.payment_status = PAYMENT_COMPLETED;
    assert_int_equal(order_mail_render(a, &cfg, &o, ORDER_MAIL_CANCELLED, -1, -1, &m), 0);
    assert_contains(m.text, "contact you about the payment");
    assert_lacks(m.text, "not been charged");

    o.status = ORDER_PROCESSING;
    assert_int_equal(order_mail_render(a, &cfg, &o, ORDER_MAIL_STATUS, ORDER_PENDING,
                                       ORDER_PROCESSING, &m),
                     0);
    assert_string_equal(m.subject, "Order ORD-TEST0001 is now processing");
    assert_contains(m.text, "from pending to processing");
    assert_contains(m.text, "Basmati Rice, 5 kg: 2 x 649.00 = 1298.00");
    assert_lacks(m.html, "<b>&\"");
    assert_int_equal(m.n_attachments, 0);

    /* The message renders as a whole (mail.c's MIME). */
    struct buf out;
    buf_init_arena(&out, a);
    mail_render(a, &cfg, &m, "x", &out);
    assert_contains(buf_cstr(&out), "Subject: Order ORD-TEST0001 is now processing\r\n");
    arena_destroy(a);
}

/* ---- on a database: queueing and the job ---- */

struct env {
    struct testdb t;
    char mail_dir[512];
    char mail_url[600];
    struct arena *arena;
    struct config cfg;
    struct ctx ctx;
    int64_t user_id;
};

static int64_t insert_user(struct env *e, const char *name, const char *email)
{
    assert_int_equal(db_exec(e->t.db,
                             "INSERT INTO users (username, email, password, date_joined) "
                             "VALUES (?, ?, 'x', ?)",
                             DB_PARAMS(DB_TEXT(name), DB_TEXT(email), DB_INT(CREATED_AT)), NULL),
                     DB_OK);
    int64_t id = 0;
    assert_int_equal(db_query_int(e->t.db, "SELECT id FROM users WHERE username = ?",
                                  DB_PARAMS(DB_TEXT(name)), &id),
                     DB_ROW);
    return id;
}

static int setup_kind(void **state, enum db_kind kind)
{
    *state = NULL;
    struct env *e = calloc(1, sizeof(*e));
    assert_non_null(e);
    if (!testdb_open(&e->t, kind, "invoice")) {
        free(e);
        return 0;
    }
    db_set_url(e->t.url); /* order_mail_run_job's db_thread() */
    snprintf(e->mail_dir, sizeof(e->mail_dir), "%s/mail", e->t.dir);
    snprintf(e->mail_url, sizeof(e->mail_url), "file://%s", e->mail_dir);
    e->arena = arena_create();
    e->cfg = test_config(e->mail_url);
    e->ctx.db = e->t.db;
    e->ctx.arena = e->arena;
    e->ctx.cfg = &e->cfg;
    e->ctx.now = time_now();
    e->ctx.now_us = time_now_us();
    e->user_id = insert_user(e, "asha", "asha@example.com");
    *state = e;
    return 0;
}

static int setup_sqlite(void **state)
{
    return setup_kind(state, DB_SQLITE);
}

static int setup_pg(void **state)
{
    return setup_kind(state, DB_POSTGRES);
}

static int teardown(void **state)
{
    struct env *e = *state;
    if (e == NULL)
        return 0;
    db_close_all(); /* the connection order_mail_run_job opened */
    arena_destroy(e->arena);
    testdb_close(&e->t);
    free(e);
    return 0;
}

static struct env *env_of(void **state)
{
    if (*state == NULL)
        skip(); /* PostgreSQL case without SHOPD_TEST_PG_URL */
    return *state;
}

/* The payloads of the queued order_mail jobs, oldest first, joined by '|'. */
static const char *queued(struct env *e)
{
    struct db_res *res;
    assert_int_equal(db_query(e->t.db, "SELECT payload FROM jobs WHERE kind = 'order_mail' "
                                       "ORDER BY id",
                              DB_NO_PARAMS, &res),
                     DB_OK);
    struct buf b;
    buf_init_arena(&b, e->arena);
    buf_append_str(&b, "");
    while (db_next(res) == DB_ROW) {
        if (b.n > 0)
            buf_append_char(&b, '|');
        buf_append_str(&b, db_col_text(res, 0));
    }
    db_res_close(res);
    return buf_cstr(&b);
}

static void clear_jobs(struct env *e)
{
    assert_int_equal(db_exec(e->t.db, "DELETE FROM jobs", DB_NO_PARAMS, NULL), DB_OK);
}

static void test_enqueue_preferences(void **state)
{
    struct env *e = env_of(state);

    /* No preferences row: everything is wanted. */
    assert_int_equal(order_mail_enqueue(&e->ctx, 41, e->user_id, ORDER_MAIL_CONFIRMATION, 0, 0),
                     SHOP_OK);
    assert_int_equal(order_mail_enqueue(&e->ctx, 41, e->user_id, ORDER_MAIL_STATUS,
                                        ORDER_PENDING, ORDER_COMPLETED),
                     SHOP_OK);
    assert_int_equal(order_mail_enqueue(&e->ctx, 41, e->user_id, ORDER_MAIL_CANCELLED, 0, 0),
                     SHOP_OK);
    assert_string_equal(queued(e), "{\"order\":41,\"event\":\"confirmation\"}|"
                                   "{\"order\":41,\"event\":\"status\",\"old\":\"pending\","
                                   "\"new\":\"completed\"}|"
                                   "{\"order\":41,\"event\":\"cancelled\"}");
    clear_jobs(e);

    /* Confirmations off: only status emails. */
    struct email_preferences p = {.order_confirmation = false, .order_status_update = true};
    assert_int_equal(preferences_set(&e->ctx, e->user_id, &p), SHOP_OK);
    assert_int_equal(order_mail_enqueue(&e->ctx, 42, e->user_id, ORDER_MAIL_CONFIRMATION, 0, 0),
                     SHOP_OK);
    assert_int_equal(order_mail_enqueue(&e->ctx, 42, e->user_id, ORDER_MAIL_CANCELLED, 0, 0),
                     SHOP_OK);
    assert_string_equal(queued(e), "{\"order\":42,\"event\":\"cancelled\"}");
    clear_jobs(e);

    /* Status updates off: only confirmations. */
    p = (struct email_preferences){.order_confirmation = true, .order_status_update = false};
    assert_int_equal(preferences_set(&e->ctx, e->user_id, &p), SHOP_OK);
    assert_int_equal(order_mail_enqueue(&e->ctx, 43, e->user_id, ORDER_MAIL_STATUS,
                                        ORDER_PENDING, ORDER_PROCESSING),
                     SHOP_OK);
    assert_int_equal(order_mail_enqueue(&e->ctx, 43, e->user_id, ORDER_MAIL_CANCELLED, 0, 0),
                     SHOP_OK);
    assert_int_equal(order_mail_enqueue(&e->ctx, 43, e->user_id, ORDER_MAIL_CONFIRMATION, 0, 0),
                     SHOP_OK);
    assert_string_equal(queued(e), "{\"order\":43,\"event\":\"confirmation\"}");
    clear_jobs(e);

    /* Queued in the caller's transaction: a rollback queues nothing. */
    bool own;
    assert_int_equal(core_tx_begin(&e->ctx, &own), SHOP_OK);
    assert_int_equal(order_mail_enqueue(&e->ctx, 44, e->user_id, ORDER_MAIL_CONFIRMATION, 0, 0),
                     SHOP_OK);
    assert_int_equal(core_tx_end(&e->ctx, own, SHOP_EINVAL), SHOP_EINVAL);
    assert_string_equal(queued(e), "");
}

/* An order row as order.c writes it, with two lines. */
static int64_t insert_order(struct env *e, const char *number)
{
    assert_int_equal(
        db_exec(e->t.db,
                "INSERT INTO orders (order_number, user_id, status, payment_status, "
                "subtotal_minor, tax_rate_bp, tax_minor, total_minor, shipping_address, "
                "billing_address, created_at, updated_at) VALUES (?, ?, 'processing', "
                "'COMPLETED', 159500, 1800, 28710, 188210, ?, ?, ?, ?)",
                DB_PARAMS(DB_TEXT(number), DB_INT(e->user_id), DB_TEXT(SHIP_TO),
                          DB_TEXT(SHIP_TO), DB_INT(CREATED_AT), DB_INT(CREATED_AT)),
                NULL),
        DB_OK);
    int64_t id = 0;
    assert_int_equal(db_query_int(e->t.db, "SELECT id FROM orders WHERE order_number = ?",
                                  DB_PARAMS(DB_TEXT(number)), &id),
                     DB_ROW);
    assert_int_equal(db_exec(e->t.db,
                             "INSERT INTO order_items (order_id, product_name, weight, quantity, "
                             "unit_price_minor, line_total_minor, created_at) VALUES "
                             "(?, 'Basmati Rice', '5 kg', 2, 64900, 129800, ?), "
                             "(?, 'Green Tea', '100 g', 1, 29700, 29700, ?)",
                             DB_PARAMS(DB_INT(id), DB_INT(CREATED_AT), DB_INT(id),
                                       DB_INT(CREATED_AT)),
                             NULL),
                     DB_OK);
    return id;
}

/* The one .eml in the mail directory, or NULL when there is none. */
static char *read_mail(struct env *e)
{
    DIR *d = opendir(e->mail_dir);
    if (d == NULL)
        return NULL;
    char *found = NULL;
    int n = 0;
    for (struct dirent *de; (de = readdir(d)) != NULL;) {
        size_t len = strlen(de->d_name);
        if (de->d_name[0] == '.' || len < 4 || strcmp(de->d_name + len - 4, ".eml") != 0)
            continue;
        n++;
        const char *path = arena_sprintf(e->arena, "%s/%s", e->mail_dir, de->d_name);
        FILE *f = fopen(path, "rb");
        assert_non_null(f);
        struct buf b;
        buf_init_arena(&b, e->arena);
        char chunk[4096];
        for (size_t got; (got = fread(chunk, 1, sizeof(chunk), f)) > 0;)
            buf_append(&b, chunk, got);
        fclose(f);
        found = (char *)buf_cstr(&b);
    }
    closedir(d);
    assert_true(n <= 1);
    return found;
}

static void test_run_job(void **state)
{
    struct env *e = env_of(state);
    int64_t id = insert_order(e, "ORD-JOB00001");
    const char *error = "unset";

    const char *payload = arena_sprintf(e->arena, "{\"order\":%lld,\"event\":\"confirmation\"}",
                                        (long long)id);
    assert_int_equal(order_mail_run_job(e->arena, &e->cfg, payload, &error), 0);
    char *msg = read_mail(e);
    assert_non_null(msg);
    assert_contains(msg, "To: asha@example.com\r\n");
    assert_contains(msg, "Subject: Order confirmation ORD-JOB00001\r\n");
    assert_contains(msg, "Content-Type: multipart/mixed;");
    assert_contains(msg, "Content-Type: application/pdf; name=\"invoice-ORD-JOB00001.pdf\"");
    assert_contains(msg, "filename=\"invoice-ORD-JOB00001.pdf\"");
    assert_contains(msg, "Content-Type: text/html; charset=utf-8");
    /* "%PDF-" in base64 */
    assert_contains(msg, "\r\n\r\nJVBERi0");

    /* Payloads no attempt could ever send. */
    static const char *const bad[] = {
        "",
        "not json",
        "[]",
        "{\"event\":\"confirmation\"}",
        "{\"order\":\"7\",\"event\":\"confirmation\"}",
        "{\"order\":0,\"event\":\"confirmation\"}",
        "{\"order\":7,\"event\":\"shipped\"}",
        "{\"order\":7,\"event\":\"status\",\"old\":\"pending\"}",
        "{\"order\":7,\"event\":\"status\",\"old\":\"pending\",\"new\":\"lost\"}",
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        error = NULL;
        assert_int_equal(order_mail_run_job(e->arena, &e->cfg, bad[i], &error), -2);
        assert_non_null(error);
    }
    /* The order is gone. */
    error = NULL;
    assert_int_equal(order_mail_run_job(e->arena, &e->cfg,
                                        "{\"order\":999999,\"event\":\"cancelled\"}", &error),
                     -2);
    assert_non_null(strstr(error, "999999"));
}

static void test_run_job_status(void **state)
{
    struct env *e = env_of(state);
    int64_t id = insert_order(e, "ORD-JOB00002");
    const char *error = NULL;
    const char *payload = arena_sprintf(
        e->arena, "{\"order\":%lld,\"event\":\"status\",\"old\":\"processing\",\"new\":"
                  "\"completed\"}",
        (long long)id);
    assert_int_equal(order_mail_run_job(e->arena, &e->cfg, payload, &error), 0);
    char *msg = read_mail(e);
    assert_non_null(msg);
    assert_contains(msg, "Subject: Order ORD-JOB00002 is now completed\r\n");
    assert_lacks(msg, "application/pdf");

    /* A route that cannot deliver: retried later. */
    char *saved = e->cfg.mail_url;
    e->cfg.mail_url = (char *)"nowhere://x";
    error = NULL;
    assert_int_equal(order_mail_run_job(e->arena, &e->cfg, payload, &error), -1);
    assert_non_null(error);
    e->cfg.mail_url = saved;
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_invoice_text),
        cmocka_unit_test(test_invoice_characters),
        cmocka_unit_test(test_invoice_long_address),
        cmocka_unit_test(test_invoice_pages),
        cmocka_unit_test(test_invoice_deterministic),
        cmocka_unit_test(test_tax_label),
        cmocka_unit_test(test_mail_confirmation),
        cmocka_unit_test(test_mail_cancelled_and_status),
        cmocka_unit_test_setup_teardown(test_enqueue_preferences, setup_sqlite, teardown),
        cmocka_unit_test_setup_teardown(test_run_job, setup_sqlite, teardown),
        cmocka_unit_test_setup_teardown(test_run_job_status, setup_sqlite, teardown),
        cmocka_unit_test_setup_teardown(test_enqueue_preferences, setup_pg, teardown),
        cmocka_unit_test_setup_teardown(test_run_job, setup_pg, teardown),
        cmocka_unit_test_setup_teardown(test_run_job_status, setup_pg, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
