/*
 * invoice.c - see invoice.h. Draws the invoice with libharu and hands the
 * finished document back as arena memory; the libharu document is freed on
 * every path before returning.
 *
 * libharu reports errors through a callback: ours only records the first
 * one (no longjmp), and every drawing step goes through struct draw, whose
 * status sticks at the first failure so later steps do nothing and the
 * caller sees -1.
 *
 * Text: the standard Helvetica fonts in WinAnsiEncoding (no font file to
 * ship, nothing embedded). UTF-8 input is converted to WinAnsi (Windows
 * code page 1252) byte by byte; a character it lacks prints as '?', and
 * invalid UTF-8 does too, so no input can break the document. Widths come
 * from the fonts' metrics (integer 1/1000 em per byte), which lets long
 * names be cut with "..." and addresses wrap without guessing.
 *
 * Layout is fixed so that page breaks are known before drawing: ROWS_PER_PAGE
 * lines per page, the first page's header blocks capped in lines, and the
 * totals always fit under the last row. The output is deterministic for an
 * order (no creation date, no document ID); only the order's date varies.
 */
#include "core/invoice.h"

#include <stdint.h>
#include <string.h>
#include <time.h>

#include <hpdf.h>

#include "core/order.h"
#include "util/arena.h"
#include "util/config.h"
#include "util/log.h"
#include "util/money.h"

#define ROWS_PER_PAGE 30
#define LEFT 50.0f
#define RIGHT 545.0f
#define TOP 792.0f
#define FOOTER_Y 30.0f
#define ROW_H 14.0f
#define LINE_H 11.0f   /* small text (addresses) */
#define TEXT_SIZE 9.0f
#define COMPANY_W 280.0f /* the company block, left of the title */
#define COMPANY_ADDRESS_LINES 4
#define SHIP_TO_LINES 5

/* Table columns: text columns start at their x, number columns end at it. */
#define COL_ITEM LEFT
#define COL_ITEM_W 199.0f
#define COL_WEIGHT 255.0f
#define COL_WEIGHT_W 60.0f
#define COL_QTY_END 355.0f
#define COL_UNIT_END 450.0f
#define COL_TOTAL_END RIGHT

/* ---- UTF-8 to WinAnsi ---- */

/* The code points WinAnsi places in 0x80-0x9f (Windows-1252), by byte. */
static const uint16_t cp1252_high[32] = {
    0x20ac, 0,      0x201a, 0x0192, 0x201e, 0x2026, 0x2020, 0x2021, 0x02c6, 0x2030, 0x0160,
    0x2039, 0x0152, 0,      0x017d, 0,      0,      0x2018, 0x2019, 0x201c, 0x201d, 0x2022,
    0x2013, 0x2014, 0x02dc, 0x2122, 0x0161, 0x203a, 0x0153, 0,      0x017e, 0x0178,
};

/* One code point from s (at most n bytes); *len gets the bytes used. -1 for
 * an invalid sequence (overlong, surrogate, out of range, truncated): the
 * caller skips one byte. */
static int32_t utf8_next(const unsigned char *s, size_t n, size_t *len)
{
    unsigned char c = s[0];
    int32_t cp;
    size_t need;

    if (c < 0x80) {
        *len = 1;
        return c;
    }
    if (c >= 0xc2 && c <= 0xdf) {
        need = 2;
        cp = c & 0x1f;
    } else if (c >= 0xe0 && c <= 0xef) {
        need = 3;
        cp = c & 0x0f;
    } else if (c >= 0xf0 && c <= 0xf4) {
        need = 4;
        cp = c & 0x07;
    } else {
        return -1;
    }
    if (n < need)
        return -1;
    for (size_t i = 1; i < need; i++) {
        if ((s[i] & 0xc0) != 0x80)
            return -1;
        cp = (cp << 6) | (s[i] & 0x3f);
    }
    if ((need == 3 && cp < 0x800) || (need == 4 && cp < 0x10000) || cp > 0x10ffff ||
        (cp >= 0xd800 && cp <= 0xdfff))
        return -1;
    *len = need;
    return cp;
}

static unsigned char winansi_byte(int32_t cp)
{
    if (cp == '\t')
        return ' ';
    if (cp == '\n')
        return '\n'; /* kept: wrapped text breaks lines there */
    if (cp < 0x20 || cp == 0x7f || (cp >= 0x80 && cp < 0xa0))
        return '?'; /* control characters */
    if (cp < 0x100)
        return (unsigned char)cp;
    for (int i = 0; i < 32; i++) {
        if (cp1252_high[i] == cp)
            return (unsigned char)(0x80 + i);
    }
    return '?';
}

/* s as a NUL-terminated WinAnsi string in a. Line breaks (\n, \r\n, \r)
 * become '\n' when keep_newlines, else spaces. */
static char *to_winansi(struct arena *a, const char *s, bool keep_newlines)
{
    const unsigned char *p = (const unsigned char *)(s != NULL ? s : "");
    size_t n = strlen((const char *)p);
    char *out = arena_alloc(a, n + 1);
    size_t o = 0;

    for (size_t i = 0; i < n;) {
        size_t len;
        int32_t cp = utf8_next(p + i, n - i, &len);
        if (cp < 0) {
            out[o++] = '?';
            i++;
            continue;
        }
        i += len;
        if (cp == '\r') {
            if (i < n && p[i] == '\n')
                i++;
            cp = '\n';
        }
        if (cp == '\n' && !keep_newlines)
            cp = ' ';
        out[o++] = (char)winansi_byte(cp);
    }
    out[o] = '\0';
    return out;
}

/* ---- drawing ---- */

struct hpdf_error {
    HPDF_STATUS no, detail;
};

static void record_error(HPDF_STATUS error_no, HPDF_STATUS detail_no, void *data)
{
    struct hpdf_error *e = data;
    if (e->no == 0) {
        e->no = error_no;
        e->detail = detail_no;
    }
}

struct font {
    HPDF_Font f;
    unsigned width[256]; /* glyph widths, 1/1000 em, per WinAnsi byte */
};

struct draw {
    struct arena *a;
    HPDF_Doc pdf;
    HPDF_Page page;
    struct font regular, bold;
    HPDF_STATUS st; /* the first failure; later steps do nothing */
};

static bool load_font(struct draw *d, struct font *ft, const char *name)
{
    ft->f = HPDF_GetFont(d->pdf, name, "WinAnsiEncoding");
    if (ft->f == NULL)
        return false;
    for (unsigned c = 1; c < 256; c++) {
        HPDF_BYTE b = (HPDF_BYTE)c;
        ft->width[c] = HPDF_Font_TextWidth(ft->f, &b, 1).width;
    }
    return true;
}

static float text_width(const struct font *ft, float size, const char *s, size_t n)
{
    uint64_t units = 0;
    for (size_t i = 0; i < n; i++)
        units += ft->width[(unsigned char)s[i]];
    return (float)units * size / 1000.0f;
}

/* s (WinAnsi) cut so that it fits max_w points, ending in "..." when cut
 * (or always, when force). */
static const char *ellipsize(struct draw *d, const struct font *ft, float size, const char *s,
                             float max_w, bool force)
{
    size_t n = strlen(s);
    if (!force && text_width(ft, size, s, n) <= max_w)
        return s;
    float room = max_w - text_width(ft, size, "...", 3);
    float used = 0;
    size_t k = 0;
    while (k < n) {
        float w = text_width(ft, size, s + k, 1);
        if (used + w > room)
            break;
        used += w;
        k++;
    }
    while (k > 0 && s[k - 1] == ' ')
        k--;
    return arena_sprintf(d->a, "%.*s...", (int)k, s);
}

/* Word-wraps s (WinAnsi, '\n' breaks lines; blank lines dropped) into at
 * most max_lines lines of max_w points; the last line ends in "..." when
 * text was left over. A word wider than a line is cut where it must be. */
static size_t wrap(struct draw *d, const struct font *ft, float size, const char *s, float max_w,
                   const char **lines, size_t max_lines)
{
    size_t n_lines = 0;
    size_t n = strlen(s);
    size_t pos = 0;

    while (pos < n) {
        while (pos < n && (s[pos] == ' ' || s[pos] == '\n'))
            pos++;
        if (pos >= n)
            break;
        if (n_lines == max_lines) {
            lines[max_lines - 1] = ellipsize(d, ft, size, lines[max_lines - 1], max_w, true);
            break;
        }
        /* The longest run up to a space or the paragraph's end that fits. */
        size_t end = pos, fit_end = pos, hard_end = pos;
        float w = 0;
        while (end < n && s[end] != '\n') {
            w += text_width(ft, size, s + end, 1);
            if (w > max_w)
                break;
            end++;
            if (end == n || s[end] == ' ' || s[end] == '\n')
                fit_end = end;
            hard_end = end;
        }
        if (end == n || s[end] == '\n')
            fit_end = end; /* the rest of the paragraph fits */
        size_t stop = fit_end > pos ? fit_end : hard_end > pos ? hard_end : pos + 1;
        size_t k = stop;
        while (k > pos && s[k - 1] == ' ')
            k--;
        lines[n_lines++] = arena_strndup(d->a, s + pos, k - pos);
        pos = stop;
    }
    return n_lines;
}

static void text_at(struct draw *d, const struct font *ft, float size, float x, float y,
                    const char *s)
{
    if (d->st != HPDF_OK || s[0] == '\0')
        return;
    d->st = HPDF_Page_SetFontAndSize(d->page, ft->f, size);
    if (d->st == HPDF_OK)
        d->st = HPDF_Page_BeginText(d->page);
    if (d->st == HPDF_OK) {
        d->st = HPDF_Page_TextOut(d->page, x, y, s);
        HPDF_STATUS end = HPDF_Page_EndText(d->page);
        if (d->st == HPDF_OK)
            d->st = end;
    }
}

static void text_right(struct draw *d, const struct font *ft, float size, float x_end, float y,
                       const char *s)
{
    text_at(d, ft, size, x_end - text_width(ft, size, s, strlen(s)), y, s);
}

static void rule(struct draw *d, float y, float width)
{
    if (d->st != HPDF_OK)
        return;
    d->st = HPDF_Page_SetLineWidth(d->page, width);
    if (d->st == HPDF_OK)
        d->st = HPDF_Page_MoveTo(d->page, LEFT, y);
    if (d->st == HPDF_OK)
        d->st = HPDF_Page_LineTo(d->page, RIGHT, y);
    if (d->st == HPDF_OK)
        d->st = HPDF_Page_Stroke(d->page);
}

static const char *money_text(struct arena *a, int64_t minor)
{
    char buf[MONEY_STR_MAX];
    money_format(minor, buf);
    return arena_strdup(a, buf);
}

static const char *cfg_text(const char *s)
{
    return s != NULL ? s : "";
}

/* ---- the invoice ---- */

const char *invoice_tax_label(struct arena *a, int rate_bp)
{
    int whole = rate_bp / 100, frac = rate_bp % 100;
    if (rate_bp < 0)
        return arena_sprintf(a, "GST (%d bp)", rate_bp);
    if (frac == 0)
        return arena_sprintf(a, "GST (%d%%)", whole);
    if (frac % 10 == 0)
        return arena_sprintf(a, "GST (%d.%d%%)", whole, frac / 10);
    return arena_sprintf(a, "GST (%d.%02d%%)", whole, frac);
}

const char *invoice_date(struct arena *a, int64_t epoch)
{
    time_t t = (time_t)epoch;
    struct tm tm;
    if (gmtime_r(&t, &tm) == NULL)
        return "";
    return arena_sprintf(a, "%04d-%02d-%02d", tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday);
}

/* Page 1: company block, title, order number and date, ship-to. Returns the
 * baseline of the table header. */
static float draw_first_header(struct draw *d, const struct config *cfg, const struct order *o)
{
    struct arena *a = d->a;
    const char *lines[SHIP_TO_LINES > COMPANY_ADDRESS_LINES ? SHIP_TO_LINES
                                                             : COMPANY_ADDRESS_LINES];
    float y = TOP - 14;

    const char *company = to_winansi(a, cfg_text(cfg->invoice_company_name), false);
    text_at(d, &d->bold, 14, LEFT, y, ellipsize(d, &d->bold, 14, company, COMPANY_W, false));
    y -= 4;
    size_t n = wrap(d, &d->regular, TEXT_SIZE,
                    to_winansi(a, cfg_text(cfg->invoice_company_address), true), COMPANY_W,
                    lines, COMPANY_ADDRESS_LINES);
    for (size_t i = 0; i < n; i++) {
        y -= LINE_H;
        text_at(d, &d->regular, TEXT_SIZE, LEFT, y, lines[i]);
    }
    const char *email = cfg_text(cfg->invoice_company_email);
    if (email[0] != '\0') {
        y -= LINE_H;
        text_at(d, &d->regular, TEXT_SIZE, LEFT, y,
                ellipsize(d, &d->regular, TEXT_SIZE, to_winansi(a, email, false), COMPANY_W,
                          false));
    }
    const char *gstin = cfg_text(cfg->invoice_company_gstin);
    if (gstin[0] != '\0') {
        y -= LINE_H;
        const char *t = arena_sprintf(a, "GSTIN: %s", to_winansi(a, gstin, false));
        text_at(d, &d->regular, TEXT_SIZE, LEFT, y,
                ellipsize(d, &d->regular, TEXT_SIZE, t, COMPANY_W, false));
    }

    text_right(d, &d->bold, 20, RIGHT, TOP - 20, "INVOICE");
    const char *number = to_winansi(a, o->order_number, false);
    text_right(d, &d->regular, 10, RIGHT, TOP - 40, arena_sprintf(a, "Order number: %s", number));
    text_right(d, &d->regular, 10, RIGHT, TOP - 54,
               arena_sprintf(a, "Date: %s", invoice_date(a, o->created_at)));

    y = TOP - 102; /* below the tallest company block */
    text_at(d, &d->bold, 10, LEFT, y, "Ship to:");
    n = wrap(d, &d->regular, TEXT_SIZE, to_winansi(a, o->shipping_address, true), RIGHT - LEFT,
             lines, SHIP_TO_LINES);
    for (size_t i = 0; i < n; i++) {
        y -= LINE_H;
        text_at(d, &d->regular, TEXT_SIZE, LEFT, y, lines[i]);
    }
    return TOP - 102 - (SHIP_TO_LINES + 2) * LINE_H - 8;
}

/* Later pages: the company and the order number only. */
static float draw_next_header(struct draw *d, const struct config *cfg, const struct order *o)
{
    const char *company = to_winansi(d->a, cfg_text(cfg->invoice_company_name), false);
    text_at(d, &d->bold, 12, LEFT, TOP - 12,
            ellipsize(d, &d->bold, 12, company, COMPANY_W, false));
    text_right(d, &d->regular, 10, RIGHT, TOP - 12,
               arena_sprintf(d->a, "Invoice %s (continued)",
                             to_winansi(d->a, o->order_number, false)));
    return TOP - 45;
}

static void draw_table_header(struct draw *d, float y)
{
    text_at(d, &d->bold, TEXT_SIZE, COL_ITEM, y, "Item");
    text_at(d, &d->bold, TEXT_SIZE, COL_WEIGHT, y, "Weight");
    text_right(d, &d->bold, TEXT_SIZE, COL_QTY_END, y, "Qty");
    text_right(d, &d->bold, TEXT_SIZE, COL_UNIT_END, y, "Unit price");
    text_right(d, &d->bold, TEXT_SIZE, COL_TOTAL_END, y, "Total");
    rule(d, y - 5, 0.75f);
}

static void draw_item(struct draw *d, const struct order_item *it, float y)
{
    struct arena *a = d->a;
    const char *name = to_winansi(a, it->product_name, false);
    const char *weight = to_winansi(a, it->weight, false);
    text_at(d, &d->regular, TEXT_SIZE, COL_ITEM, y,
            ellipsize(d, &d->regular, TEXT_SIZE, name, COL_ITEM_W, false));
    text_at(d, &d->regular, TEXT_SIZE, COL_WEIGHT, y,
            ellipsize(d, &d->regular, TEXT_SIZE, weight, COL_WEIGHT_W, false));
    text_right(d, &d->regular, TEXT_SIZE, COL_QTY_END, y,
               arena_sprintf(a, "%lld", (long long)it->quantity));
    text_right(d, &d->regular, TEXT_SIZE, COL_UNIT_END, y, money_text(a, it->unit_price_minor));
    text_right(d, &d->regular, TEXT_SIZE, COL_TOTAL_END, y, money_text(a, it->line_total_minor));
}

static void draw_totals(struct draw *d, const struct order *o, float y)
{
    struct arena *a = d->a;
    rule(d, y, 0.5f);
    y -= 16;
    text_right(d, &d->regular, 10, COL_UNIT_END, y, "Subtotal");
    text_right(d, &d->regular, 10, COL_TOTAL_END, y, money_text(a, o->subtotal_minor));
    y -= ROW_H;
    text_right(d, &d->regular, 10, COL_UNIT_END, y, invoice_tax_label(a, o->tax_rate_bp));
    text_right(d, &d->regular, 10, COL_TOTAL_END, y, money_text(a, o->tax_minor));
    y -= ROW_H;
    text_right(d, &d->bold, 10, COL_UNIT_END, y, "Grand total");
    text_right(d, &d->bold, 10, COL_TOTAL_END, y, money_text(a, o->total_minor));
}

static void draw_page(struct draw *d, const struct config *cfg, const struct order *o,
                      size_t page_no, size_t n_pages)
{
    d->page = HPDF_AddPage(d->pdf);
    if (d->page == NULL) {
        d->st = HPDF_FAILD_TO_ALLOC_MEM;
        return;
    }
    d->st = HPDF_Page_SetSize(d->page, HPDF_PAGE_SIZE_A4, HPDF_PAGE_PORTRAIT);

    float y = page_no == 0 ? draw_first_header(d, cfg, o) : draw_next_header(d, cfg, o);
    draw_table_header(d, y);
    y -= 5;
    size_t first = page_no * ROWS_PER_PAGE;
    for (size_t i = first; i < o->n_items && i < first + ROWS_PER_PAGE; i++) {
        y -= ROW_H;
        draw_item(d, &o->items[i], y + 2);
    }
    if (page_no + 1 == n_pages)
        draw_totals(d, o, y - 4);
    text_right(d, &d->regular, 8, RIGHT, FOOTER_Y,
               arena_sprintf(d->a, "Page %zu of %zu", page_no + 1, n_pages));
}

int invoice_pdf(struct arena *a, const struct config *cfg, const struct order *o,
                const unsigned char **pdf, size_t *len)
{
    struct hpdf_error err = {0, 0};
    struct draw d = {.a = a, .st = HPDF_OK};
    int rc = -1;

    *pdf = NULL;
    *len = 0;
    d.pdf = HPDF_New(record_error, &err);
    if (d.pdf == NULL) {
        log_error("invoice: libharu could not create a document");
        return -1;
    }
    d.st = HPDF_SetCompressionMode(d.pdf, HPDF_COMP_ALL);
    if (d.st == HPDF_OK)
        d.st = HPDF_SetInfoAttr(d.pdf, HPDF_INFO_CREATOR, "shopd");
    if (d.st == HPDF_OK)
        d.st = HPDF_SetInfoAttr(d.pdf, HPDF_INFO_TITLE,
                                arena_sprintf(a, "Invoice %s",
                                              to_winansi(a, o->order_number, false)));
    if (d.st == HPDF_OK && (!load_font(&d, &d.regular, "Helvetica") ||
                            !load_font(&d, &d.bold, "Helvetica-Bold")))
        d.st = err.no != 0 ? err.no : HPDF_INVALID_FONT;

    size_t n_pages = o->n_items == 0 ? 1 : (o->n_items + ROWS_PER_PAGE - 1) / ROWS_PER_PAGE;
    for (size_t p = 0; p < n_pages && d.st == HPDF_OK; p++)
        draw_page(&d, cfg, o, p, n_pages);
    if (d.st == HPDF_OK && err.no == 0)
        d.st = HPDF_SaveToStream(d.pdf);
    if (d.st != HPDF_OK || err.no != 0)
        goto out;

    HPDF_UINT32 size = HPDF_GetStreamSize(d.pdf);
    if (size == 0)
        goto out;
    unsigned char *data = arena_alloc(a, size);
    HPDF_UINT32 got = size;
    /* The memory stream may answer STREAM_EOF once it hands out its last
     * byte (and tell the error callback so): what counts is the length. */
    HPDF_STATUS st = HPDF_ReadFromStream(d.pdf, data, &got);
    if ((st != HPDF_OK && st != HPDF_STREAM_EOF) || got != size)
        goto out;
    *pdf = data;
    *len = size;
    rc = 0;
out:
    if (rc != 0)
        log_error("invoice: libharu failed for order %s (error 0x%04x, detail %u, status 0x%04x)",
                  o->order_number != NULL ? o->order_number : "?", (unsigned)err.no,
                  (unsigned)err.detail, (unsigned)d.st);
    HPDF_Free(d.pdf);
    return rc;
}

const char *invoice_filename(struct arena *a, const struct order *o)
{
    if (o->order_number == NULL || o->order_number[0] == '\0')
        return arena_sprintf(a, "invoice-%lld.pdf", (long long)o->id);
    return arena_sprintf(a, "invoice-%s.pdf", o->order_number);
}
