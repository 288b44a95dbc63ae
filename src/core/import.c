/*
 * import.c - bulk product import (see import.h): a CSV (libcsv) or .xlsx
 * (libzip + expat) file becomes rows of the five columns, every row is
 * validated, and the valid rows are created through catalog.h in one
 * transaction.
 *
 * Two stages. Reading turns the file into struct row (strings in ctx->arena)
 * or one file error; nothing touches the database. Saving validates each row
 * and creates it. Everything a row needs is checked before it is created, so
 * catalog_product_create is not expected to refuse a row; when it does
 * anyway (a name taken by a concurrent writer, a check this file does not
 * know), the whole transaction is rolled back, that row is marked failed and
 * the save runs again: a refused row never leaves part of itself behind, on
 * PostgreSQL neither, where a failed statement spoils the transaction.
 *
 * Per-row allocations (parsed variants, catalog's own) go to a scratch
 * arena reset before each row, so 100,000 rows do not pile up in ctx->arena;
 * only the rows, the report and the lookup caches live there. The category
 * cache maps a public category_id to categories.id (0: does not exist), so a
 * file with 100,000 rows in 20 categories costs 20 category lookups.
 */
#include "core/import.h"

#include <csv.h>
#include <errno.h>
#include <expat.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zip.h>

#include "core/catalog.h"
#include "core/core.h"
#include "db/db.h"
#include "util/arena.h"
#include "util/str.h"

enum col { COL_NAME, COL_DESCRIPTION, COL_CATEGORY, COL_INVENTORY, COL_PRICE_WEIGHTS, NCOLS };

static const char *const col_names[NCOLS] = {"name", "description", "category_id", "inventory",
                                             "price_weights"};

#define XLSX_MAX_UNCOMPRESSED (50u * 1024 * 1024) /* all parts together: zip bombs stop here */
#define XLSX_MAX_COLUMNS 16384                    /* XFD, Excel's last column */
#define XLSX_MAX_ROWS 1048576                     /* Excel's last row */
/* catalog.c's limits (private there): checked here first, so that a row
 * catalog would refuse is reported as such, not found out by a rollback. */
#define PRODUCT_NAME_MAX 200
#define DESCRIPTION_MAX 5000
#define INVENTORY_MAX INT64_C(2147483647)
#define PROGRESS_EVERY 1000

/* One data row, trimmed, in ctx->arena. problem: what reading already found
 * wrong with it (a value that is not UTF-8, more values than columns). */
struct row {
    int64_t no;
    const char *f[NCOLS];
    const char *problem;
};

/* ---- small string -> int64 hash map (keys live in an arena) ---- */

struct smap_entry {
    uint64_t hash;
    const char *key; /* NULL: empty slot */
    int64_t value;
};

struct smap {
    struct smap_entry *e;
    size_t cap, n; /* cap: a power of two */
};

static uint64_t fnv1a(const char *s)
{
    uint64_t h = UINT64_C(1469598103934665603);
    for (; *s; s++)
        h = (h ^ (unsigned char)*s) * UINT64_C(1099511628211);
    return h;
}

static void smap_free(struct smap *m)
{
    free(m->e);
    m->e = NULL;
    m->cap = m->n = 0;
}

static struct smap_entry *smap_slot(const struct smap *m, const char *key, uint64_t h)
{
    size_t i = (size_t)h & (m->cap - 1);
    for (;;) {
        struct smap_entry *e = &m->e[i];
        if (e->key == NULL || (e->hash == h && strcmp(e->key, key) == 0))
            return e;
        i = (i + 1) & (m->cap - 1);
    }
}

static bool smap_get(const struct smap *m, const char *key, int64_t *value)
{
    if (m->cap == 0)
        return false;
    struct smap_entry *e = smap_slot(m, key, fnv1a(key));
    if (e->key == NULL)
        return false;
    *value = e->value;
    return true;
}

/* key must outlive the map. */
static void smap_put(struct smap *m, const char *key, int64_t value)
{
    if (2 * (m->n + 1) > m->cap) {
        struct smap old = *m;
        m->cap = old.cap ? old.cap * 2 : 64;
        m->e = xcalloc(m->cap, sizeof(*m->e));
        m->n = 0;
        for (size_t i = 0; i < old.cap; i++)
            if (old.e[i].key != NULL)
                *smap_slot(m, old.e[i].key, old.e[i].hash) = old.e[i], m->n++;
        free(old.e);
    }
    uint64_t h = fnv1a(key);
    struct smap_entry *e = smap_slot(m, key, h);
    if (e->key == NULL)
        m->n++;
    *e = (struct smap_entry){h, key, value};
}

/* ---- text checks ---- */

/* Well-formed UTF-8 (no overlong forms, no surrogates, at most U+10FFFF) and
 * no NUL byte. */
static bool utf8_valid(const char *p, size_t n)
{
    if (n == 0)
        return true; /* p may be NULL (STR_NULL): no arithmetic on it */
    const unsigned char *s = (const unsigned char *)p, *end = s + n;
    while (s < end) {
        unsigned c = *s;
        if (c == 0)
            return false;
        if (c < 0x80) {
            s++;
            continue;
        }
        size_t len;
        unsigned min;
        if (c >= 0xc2 && c <= 0xdf)
            len = 2, min = 0x80;
        else if (c >= 0xe0 && c <= 0xef)
            len = 3, min = 0x800;
        else if (c >= 0xf0 && c <= 0xf4)
            len = 4, min = 0x10000;
        else
            return false;
        if ((size_t)(end - s) < len)
            return false;
        unsigned cp = c & (0xff >> (len + 1));
        for (size_t i = 1; i < len; i++) {
            if ((s[i] & 0xc0) != 0x80)
                return false;
            cp = (cp << 6) | (s[i] & 0x3f);
        }
        if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
            return false;
        s += len;
    }
    return true;
}

static size_t utf8_chars(const char *s)
{
    size_t n = 0;
    for (; *s; s++)
        n += ((unsigned char)*s & 0xc0) != 0x80;
    return n;
}

/* ---- reading: records -> rows ---- */

struct cell {
    const char *p;
    size_t n;
};

/* What the CSV and .xlsx readers share: they hand over records (a CSV line,
 * a sheet row) with their position; the first non-empty record is the
 * header, and a data row's number is its position minus the header's. */
struct reader {
    struct arena *a;
    bool have_header;
    int64_t header_pos;
    int col_of[NCOLS];   /* cell index of each column in a record */
    size_t n_header;     /* cells up to the header's last non-empty one */
    bool pw_last;        /* price_weights is the last column: extra values are its own */
    struct row *rows;    /* heap (the strings are in the arena); freed by import_products */
    size_t n_rows, cap_rows;
    const char *file_error;
};

static void reader_fail(struct reader *r, const char *msg)
{
    if (r->file_error == NULL)
        r->file_error = msg;
}

static struct str cell_trim(const struct cell *c)
{
    return str_trim((struct str){c->p, c->n});
}

static bool record_empty(const struct cell *cells, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (cell_trim(&cells[i]).n > 0)
            return false;
    return true;
}

static void reader_header(struct reader *r, int64_t pos, const struct cell *cells, size_t n)
{
    r->have_header = true;
    r->header_pos = pos;
    for (int c = 0; c < NCOLS; c++)
        r->col_of[c] = -1;
    for (size_t i = 0; i < n; i++) {
        struct str h = cell_trim(&cells[i]);
        if (h.n == 0)
            continue;
        r->n_header = i + 1;
        for (int c = 0; c < NCOLS; c++) {
            if (!str_case_eq(h, str_from(col_names[c])))
                continue;
            if (r->col_of[c] >= 0) {
                reader_fail(r, arena_sprintf(r->a, "The column \"%s\" appears twice in the "
                                                   "header row.", col_names[c]));
                return;
            }
            r->col_of[c] = (int)i;
        }
    }
    struct buf missing;
    buf_init_arena(&missing, r->a);
    int n_missing = 0;
    for (int c = 0; c < NCOLS; c++) {
        if (r->col_of[c] >= 0)
            continue;
        buf_printf(&missing, "%s%s", n_missing ? ", " : "", col_names[c]);
        n_missing++;
    }
    if (n_missing > 0) {
        /* Excel in many locales saves "CSV" with semicolons or tabs: one
         * header cell holding every name says so. */
        const char *hint = "";
        if (r->n_header == 1 && n_missing == NCOLS) {
            struct str h = cell_trim(&cells[0]);
            if (memchr(h.p, ';', h.n) != NULL)
                hint = " Separate the values with commas, not semicolons.";
            else if (memchr(h.p, '\t', h.n) != NULL)
                hint = " Separate the values with commas, not tabs.";
        }
        reader_fail(r, arena_sprintf(r->a,
                                     "Missing column%s: %s. The first row must name the columns "
                                     "name, description, category_id, inventory, price_weights.%s",
                                     n_missing > 1 ? "s" : "", buf_cstr(&missing), hint));
        return;
    }
    r->pw_last = (size_t)r->col_of[COL_PRICE_WEIGHTS] == r->n_header - 1;
}

static void reader_record(struct reader *r, int64_t pos, const struct cell *cells, size_t n)
{
    if (r->file_error != NULL || record_empty(cells, n))
        return;
    if (!r->have_header) {
        reader_header(r, pos, cells, n);
        return;
    }
    struct row row = {.no = pos - r->header_pos};
    for (int c = 0; c < NCOLS; c++) {
        size_t i = (size_t)r->col_of[c];
        struct str v = i < n ? cell_trim(&cells[i]) : STR_NULL;
        if (c == COL_PRICE_WEIGHTS && r->pw_last && n > r->n_header) {
            /* The document's own example leaves the commas between pairs
             * unquoted: the values past the header's last column are the
             * rest of price_weights. */
            struct buf pw;
            buf_init_arena(&pw, r->a);
            buf_append(&pw, v.p, v.n);
            for (size_t k = r->n_header; k < n; k++) {
                struct str more = cell_trim(&cells[k]);
                if (more.n == 0)
                    continue;
                if (pw.n > 0)
                    buf_append_char(&pw, ',');
                buf_append(&pw, more.p, more.n);
            }
            v = (struct str){buf_cstr(&pw), pw.n};
        }
        if (!utf8_valid(v.p, v.n)) {
            if (row.problem == NULL)
                row.problem = arena_sprintf(r->a, "%s: The value is not valid UTF-8 text; save "
                                                  "the file as UTF-8.", col_names[c]);
            v = STR_NULL;
        }
        row.f[c] = v.n ? arena_strndup(r->a, v.p, v.n) : "";
    }
    if (!r->pw_last && n > r->n_header) {
        size_t last = n;
        while (last > r->n_header && cell_trim(&cells[last - 1]).n == 0)
            last--;
        if (last > r->n_header && row.problem == NULL)
            row.problem = arena_sprintf(r->a,
                                        "The row has %zu values but the header names %zu "
                                        "columns.", last, r->n_header);
    }
    if (r->n_rows == r->cap_rows) {
        r->cap_rows = r->cap_rows ? r->cap_rows * 2 : 256;
        r->rows = xrealloc(r->rows, r->cap_rows * sizeof(*r->rows));
    }
    r->rows[r->n_rows++] = row;
}

/* Collects one record's cells in a reusable buffer. */
struct record {
    struct buf text;
    size_t *off, *len;
    size_t n, cap;
    struct cell *cells; /* cap entries */
};

static void record_add(struct record *rec, size_t col, const char *p, size_t n)
{
    if (col >= rec->cap) {
        size_t cap = rec->cap ? rec->cap : 16;
        while (cap <= col)
            cap *= 2;
        rec->off = xrealloc(rec->off, cap * sizeof(*rec->off));
        rec->len = xrealloc(rec->len, cap * sizeof(*rec->len));
        rec->cells = xrealloc(rec->cells, cap * sizeof(*rec->cells));
        rec->cap = cap;
    }
    while (rec->n <= col) {
        rec->off[rec->n] = 0;
        rec->len[rec->n] = 0;
        rec->n++;
    }
    rec->off[col] = rec->text.n;
    rec->len[col] = n;
    if (n > 0)
        buf_append(&rec->text, p, n);
}

static void record_emit(struct record *rec, struct reader *r, int64_t pos)
{
    for (size_t i = 0; i < rec->n; i++)
        rec->cells[i] = (struct cell){rec->text.p ? rec->text.p + rec->off[i] : "", rec->len[i]};
    reader_record(r, pos, rec->cells, rec->n);
    rec->n = 0;
    rec->text.n = 0;
}

static void record_free(struct record *rec)
{
    buf_free(&rec->text);
    free(rec->off);
    free(rec->len);
    free(rec->cells);
}

/* ---- CSV ---- */

struct csv_state {
    struct reader *r;
    struct record rec;
    int64_t pos;
};

static void csv_field(void *field, size_t len, void *data)
{
    struct csv_state *st = data;
    record_add(&st->rec, st->rec.n, field, len);
}

static void csv_row_end(int c, void *data)
{
    (void)c;
    struct csv_state *st = data;
    record_emit(&st->rec, st->r, st->pos++);
}

static int64_t line_of(const char *data, size_t pos)
{
    int64_t line = 1;
    for (size_t i = 0; i < pos; i++)
        line += data[i] == '\n';
    return line;
}

static void csv_read(struct reader *r, const char *data, size_t len)
{
    struct csv_parser p;
    struct csv_state st = {.r = r};
    buf_init(&st.rec.text);
    /* Strict: a stray quote or an unclosed quoted value is a malformed file,
     * reported with its line, not guessed at. */
    if (csv_init(&p, CSV_STRICT | CSV_STRICT_FINI) != 0) {
        reader_fail(r, "Out of memory while reading the CSV file.");
        goto out_nofree;
    }
    size_t done = csv_parse(&p, data, len, csv_field, csv_row_end, &st);
    if (done != len || csv_fini(&p, csv_field, csv_row_end, &st) != 0) {
        if (csv_error(&p) == CSV_EPARSE) {
            if (done != len)
                reader_fail(r, arena_sprintf(r->a,
                                             "The file is not valid CSV: misplaced quote on line "
                                             "%lld. Put a value that contains quotes, commas or "
                                             "line breaks in double quotes, and double the quotes "
                                             "inside it.", (long long)line_of(data, done)));
            else
                reader_fail(r, "The file is not valid CSV: a quoted value is not closed before "
                               "the end of the file.");
        } else {
            reader_fail(r, "The CSV file could not be read (it is too large).");
        }
    }
    csv_free(&p);
out_nofree:
    record_free(&st.rec);
}

/* ---- .xlsx ---- */

#define XML_NS_SEP '\x01'

/* The local part of an expat name "uri\x01local" (or of an unprefixed one). */
static const char *xml_local(const char *name)
{
    const char *sep = strchr(name, XML_NS_SEP);
    return sep ? sep + 1 : name;
}

struct xlsx {
    struct reader *r;
    zip_t *za;
    size_t budget; /* uncompressed bytes still allowed */
    XML_Parser parser;
    const char *stop; /* why a handler stopped the parser */
    /* workbook.xml */
    bool got_sheet;
    char *sheet_rid;
    /* workbook.xml.rels */
    char *sheet_target;
    /* sharedStrings.xml */
    const char **shared;
    size_t n_shared, cap_shared;
    /* text collection: shared string items, inline strings and values */
    struct buf text;
    bool collecting;
    int rph_depth; /* inside phonetic runs, whose text is not the cell's */
    bool in_si;
    /* worksheet */
    bool in_data, in_row, in_cell, in_is;
    int64_t row_no;
    size_t col;
    char cell_type[12];
    struct record rec;
};

static void xlsx_stop(struct xlsx *x, const char *why)
{
    if (x->stop == NULL)
        x->stop = why;
    XML_StopParser(x->parser, XML_FALSE);
}

static void XMLCALL xml_no_doctype(void *data, const XML_Char *name, const XML_Char *sysid,
                                   const XML_Char *pubid, int has_internal_subset)
{
    (void)name, (void)sysid, (void)pubid, (void)has_internal_subset;
    /* Office never writes a DTD; refusing one rules out entity expansion. */
    xlsx_stop(data, "The .xlsx file is damaged: unexpected DOCTYPE.");
}

static void XMLCALL xml_text(void *data, const XML_Char *s, int len)
{
    struct xlsx *x = data;
    if (x->collecting && x->rph_depth == 0)
        buf_append(&x->text, s, (size_t)len);
}

static const char *xml_attr(const XML_Char **attrs, const char *local, bool namespaced)
{
    for (size_t i = 0; attrs[i] != NULL; i += 2) {
        bool has_ns = strchr(attrs[i], XML_NS_SEP) != NULL;
        if (has_ns == namespaced && strcmp(xml_local(attrs[i]), local) == 0)
            return attrs[i + 1];
    }
    return NULL;
}

static void XMLCALL workbook_start(void *data, const XML_Char *name, const XML_Char **attrs)
{
    struct xlsx *x = data;
    if (x->got_sheet || strcmp(xml_local(name), "sheet") != 0)
        return;
    x->got_sheet = true;
    const char *rid = xml_attr(attrs, "id", true);
    if (rid != NULL)
        x->sheet_rid = arena_strdup(x->r->a, rid);
}

static void XMLCALL rels_start(void *data, const XML_Char *name, const XML_Char **attrs)
{
    struct xlsx *x = data;
    if (x->sheet_target != NULL || strcmp(xml_local(name), "Relationship") != 0)
        return;
    const char *id = xml_attr(attrs, "Id", false);
    const char *target = xml_attr(attrs, "Target", false);
    if (id != NULL && target != NULL && strcmp(id, x->sheet_rid) == 0)
        x->sheet_target = arena_strdup(x->r->a, target);
}

static void XMLCALL shared_start(void *data, const XML_Char *name, const XML_Char **attrs)
{
    (void)attrs;
    struct xlsx *x = data;
    const char *l = xml_local(name);
    if (strcmp(l, "si") == 0) {
        x->in_si = true;
        x->text.n = 0;
    } else if (strcmp(l, "rPh") == 0) {
        x->rph_depth++;
    } else if (strcmp(l, "t") == 0 && x->in_si) {
        x->collecting = true;
    }
}

static void XMLCALL shared_end(void *data, const XML_Char *name)
{
    struct xlsx *x = data;
    const char *l = xml_local(name);
    if (strcmp(l, "t") == 0) {
        x->collecting = false;
    } else if (strcmp(l, "rPh") == 0) {
        x->rph_depth--;
    } else if (strcmp(l, "si") == 0) {
        if (x->n_shared == x->cap_shared) {
            x->cap_shared = x->cap_shared ? x->cap_shared * 2 : 256;
            x->shared = xrealloc(x->shared, x->cap_shared * sizeof(*x->shared));
        }
        x->shared[x->n_shared++] = arena_strndup(x->r->a, x->text.p ? x->text.p : "", x->text.n);
        x->in_si = false;
    }
}

/* "C12" -> 2; false when the reference has no column letters. */
static bool cell_column(const char *ref, size_t *col)
{
    size_t c = 0, letters = 0;
    for (; *ref >= 'A' && *ref <= 'Z'; ref++, letters++) {
        if (letters == 3)
            return false;
        c = c * 26 + (size_t)(*ref - 'A' + 1);
    }
    if (letters == 0)
        return false;
    *col = c - 1;
    return true;
}

static void XMLCALL sheet_start(void *data, const XML_Char *name, const XML_Char **attrs)
{
    struct xlsx *x = data;
    const char *l = xml_local(name);
    if (strcmp(l, "sheetData") == 0) {
        x->in_data = true;
    } else if (!x->in_data) {
        return;
    } else if (strcmp(l, "row") == 0) {
        const char *r = xml_attr(attrs, "r", false);
        char *end;
        long long no = r ? strtoll(r, &end, 10) : 0;
        /* a number past Excel's last row is not one: the row counts on, so
         * row numbers (and differences of them) stay far from overflow */
        x->row_no = (r && *end == '\0' && no > x->row_no && no <= XLSX_MAX_ROWS) ? no
                                                                                : x->row_no + 1;
        x->in_row = true;
        x->col = 0;
        x->rec.n = 0;
        x->rec.text.n = 0;
    } else if (strcmp(l, "c") == 0 && x->in_row) {
        const char *ref = xml_attr(attrs, "r", false);
        size_t col;
        if (ref != NULL && cell_column(ref, &col))
            x->col = col;
        const char *t = xml_attr(attrs, "t", false);
        snprintf(x->cell_type, sizeof(x->cell_type), "%s", t ? t : "n");
        x->in_cell = true;
        x->text.n = 0;
    } else if (!x->in_cell) {
        return;
    } else if (strcmp(l, "v") == 0) {
        x->collecting = true;
    } else if (strcmp(l, "is") == 0) {
        x->in_is = true;
    } else if (strcmp(l, "rPh") == 0) {
        x->rph_depth++;
    } else if (strcmp(l, "t") == 0 && x->in_is) {
        x->collecting = true;
    }
}

/* A number cell as the sheet shows it: "100" stays, "100.0" and "1E2" are
 * the whole number 100; other numbers keep their text. */
static const char *xlsx_number(struct arena *a, const char *s)
{
    char *end;
    errno = 0;
    double d = strtod(s, &end);
    if (end == s || *end != '\0' || errno != 0 || !isfinite(d))
        return s;
    if (d == floor(d) && fabs(d) < 1e15)
        return arena_sprintf(a, "%lld", (long long)d);
    return s;
}

static void sheet_cell_end(struct xlsx *x)
{
    const char *v = buf_cstr(&x->text);
    const char *t = x->cell_type;
    if (strcmp(t, "s") == 0) {
        char *end;
        errno = 0;
        unsigned long long i = strtoull(v, &end, 10);
        if (end == v || *end != '\0' || errno != 0 || i >= x->n_shared) {
            xlsx_stop(x, "The .xlsx file is damaged: a cell refers to a missing shared string.");
            return;
        }
        v = x->shared[i];
    } else if (strcmp(t, "b") == 0) {
        v = strcmp(v, "1") == 0 ? "TRUE" : "FALSE";
    } else if (strcmp(t, "n") == 0) {
        v = xlsx_number(x->r->a, v);
    } /* inlineStr, str (a formula's text), e (an error like #N/A), d: the text */
    if (x->col < XLSX_MAX_COLUMNS)
        record_add(&x->rec, x->col, v, strlen(v));
    x->col++;
}

static void XMLCALL sheet_end(void *data, const XML_Char *name)
{
    struct xlsx *x = data;
    const char *l = xml_local(name);
    if (strcmp(l, "sheetData") == 0) {
        x->in_data = false;
    } else if (!x->in_data) {
        return;
    } else if (strcmp(l, "row") == 0 && x->in_row) {
        x->in_row = false;
        record_emit(&x->rec, x->r, x->row_no);
        if (x->r->file_error != NULL)
            xlsx_stop(x, x->r->file_error);
    } else if (strcmp(l, "c") == 0 && x->in_cell) {
        x->in_cell = x->in_is = x->collecting = false;
        sheet_cell_end(x);
    } else if (strcmp(l, "v") == 0 || strcmp(l, "t") == 0) {
        x->collecting = false;
    } else if (strcmp(l, "is") == 0) {
        x->in_is = false;
    } else if (strcmp(l, "rPh") == 0 && x->in_cell) {
        x->rph_depth--; /* counted only inside a cell, as sheet_start does */
    }
}

enum part_rc { PART_OK, PART_MISSING, PART_FAILED };

/* Streams one part of the archive through a fresh expat parser with the
 * given handlers. Decompressed bytes count against the budget whatever the
 * archive's directory claims. */
static enum part_rc xlsx_parse_part(struct xlsx *x, const char *part, XML_StartElementHandler start,
                                    XML_EndElementHandler end)
{
    zip_int64_t idx = zip_name_locate(x->za, part, ZIP_FL_NOCASE);
    if (idx < 0)
        return PART_MISSING;
    enum part_rc rc = PART_FAILED;
    zip_file_t *zf = NULL;
    XML_Parser p = XML_ParserCreateNS(NULL, XML_NS_SEP);
    if (p == NULL) {
        reader_fail(x->r, "Out of memory while reading the .xlsx file.");
        return PART_FAILED;
    }
    x->parser = p;
    x->stop = NULL;
    x->collecting = false;
    x->rph_depth = 0;
    XML_SetUserData(p, x);
    XML_SetElementHandler(p, start, end);
    XML_SetCharacterDataHandler(p, xml_text);
    XML_SetStartDoctypeDeclHandler(p, xml_no_doctype);
    zf = zip_fopen_index(x->za, (zip_uint64_t)idx, 0);
    if (zf == NULL) {
        reader_fail(x->r, arena_sprintf(x->r->a, "The .xlsx file is damaged: cannot open %s "
                                                 "(%s).", part, zip_strerror(x->za)));
        goto out;
    }
    char chunk[65536];
    for (;;) {
        zip_int64_t n = zip_fread(zf, chunk, sizeof(chunk));
        if (n < 0) {
            reader_fail(x->r, arena_sprintf(x->r->a, "The .xlsx file is damaged: cannot read "
                                                     "%s (%s).", part, zip_file_strerror(zf)));
            goto out;
        }
        if ((size_t)n > x->budget) {
            reader_fail(x->r, "The .xlsx file is too large: its contents exceed 50 MB.");
            goto out;
        }
        x->budget -= (size_t)n;
        if (XML_Parse(p, chunk, (int)n, n == 0) != XML_STATUS_OK) {
            if (x->stop != NULL)
                reader_fail(x->r, x->stop);
            else
                reader_fail(x->r, arena_sprintf(x->r->a, "The .xlsx file is damaged: %s in %s "
                                                         "line %lu.",
                                                XML_ErrorString(XML_GetErrorCode(p)), part,
                                                (unsigned long)XML_GetCurrentLineNumber(p)));
            goto out;
        }
        if (n == 0)
            break;
    }
    rc = PART_OK;
out:
    if (zf != NULL)
        zip_fclose(zf);
    XML_ParserFree(p);
    x->parser = NULL;
    return rc;
}

/* The first worksheet's part name: workbook.xml's first <sheet>, resolved
 * through the workbook's relationships; xl/worksheets/sheet1.xml when that
 * chain is broken. */
static const char *xlsx_first_sheet(struct xlsx *x)
{
    const char *fallback = "xl/worksheets/sheet1.xml";
    if (xlsx_parse_part(x, "xl/workbook.xml", workbook_start, NULL) != PART_OK ||
        x->sheet_rid == NULL)
        return fallback;
    if (xlsx_parse_part(x, "xl/_rels/workbook.xml.rels", rels_start, NULL) != PART_OK ||
        x->sheet_target == NULL)
        return fallback;
    const char *t = x->sheet_target;
    if (t[0] == '/')
        return t + 1;
    while (strncmp(t, "./", 2) == 0)
        t += 2;
    return arena_sprintf(x->r->a, "xl/%s", t);
}

static void xlsx_read(struct reader *r, const void *data, size_t len)
{
    struct xlsx x = {.r = r, .budget = XLSX_MAX_UNCOMPRESSED};
    buf_init(&x.text);
    buf_init(&x.rec.text);
    zip_error_t zerr;
    zip_error_init(&zerr);
    zip_source_t *src = zip_source_buffer_create(data, len, 0, &zerr);
    if (src == NULL) {
        reader_fail(r, "Out of memory while reading the .xlsx file.");
        goto out;
    }
    x.za = zip_open_from_source(src, ZIP_RDONLY, &zerr);
    if (x.za == NULL) {
        zip_source_free(src);
        reader_fail(r, "The .xlsx file is damaged: it is not a readable zip archive.");
        goto out;
    }
    /* The directory's sizes first: a bomb is refused before anything is
     * inflated (and the budget above catches a directory that lies). */
    zip_int64_t n = zip_get_num_entries(x.za, 0);
    uint64_t total = 0;
    for (zip_int64_t i = 0; i < n; i++) {
        zip_stat_t st;
        if (zip_stat_index(x.za, (zip_uint64_t)i, 0, &st) != 0 || !(st.valid & ZIP_STAT_SIZE))
            continue;
        if (st.size > XLSX_MAX_UNCOMPRESSED - total) { /* never overflows */
            reader_fail(r, "The .xlsx file is too large: its contents exceed 50 MB.");
            goto out;
        }
        total += st.size;
    }
    const char *sheet = xlsx_first_sheet(&x);
    r->file_error = NULL; /* a broken workbook.xml only costs the fallback */
    if (xlsx_parse_part(&x, "xl/sharedStrings.xml", shared_start, shared_end) == PART_FAILED)
        goto out;
    switch (xlsx_parse_part(&x, sheet, sheet_start, sheet_end)) {
    case PART_OK:
    case PART_FAILED:
        break;
    case PART_MISSING:
        reader_fail(r, "The .xlsx file has no worksheet.");
        break;
    }
out:
    if (x.za != NULL)
        zip_discard(x.za);
    free(x.shared);
    buf_free(&x.text);
    record_free(&x.rec);
}

/* ---- which reader ---- */

static bool has_nul(const char *p, size_t n)
{
    return memchr(p, '\0', n) != NULL;
}

static void read_file(struct reader *r, const char *data, size_t len)
{
    static const unsigned char ole[] = {0xd0, 0xcf, 0x11, 0xe0, 0xa1, 0xb1, 0x1a, 0xe1};
    if (len >= 4 && memcmp(data, "PK\x03\x04", 4) == 0) {
        xlsx_read(r, data, len);
    } else if (len >= 8 && memcmp(data, ole, sizeof(ole)) == 0) {
        reader_fail(r, "Excel 97-2003 (.xls) and password-protected workbooks are not "
                       "supported: save the sheet as .xlsx or CSV (UTF-8).");
    } else if (has_nul(data, len < 8192 ? len : 8192)) {
        reader_fail(r, "The file must be a CSV file (UTF-8 text) or an .xlsx workbook.");
    } else {
        if (len >= 3 && memcmp(data, "\xef\xbb\xbf", 3) == 0)
            data += 3, len -= 3;
        csv_read(r, data, len);
    }
    if (r->file_error != NULL)
        return;
    if (!r->have_header)
        reader_fail(r, "The file is empty.");
    else if (r->n_rows == 0)
        reader_fail(r, "The file has a header row but no product rows.");
}

/* ---- saving ---- */

struct importer {
    struct ctx *ctx;     /* the caller's: report strings go to its arena */
    struct ctx row_ctx;  /* the same with the scratch arena */
    struct row *rows;
    size_t n_rows;
    const char **refused; /* [n_rows]: why catalog_product_create refused a row, or NULL */
    bool dry_run;
    struct smap categories; /* public category_id -> categories.id, 0: none */
    struct smap names;      /* folded name -> first row number */
    struct import_row_error *errors;
    size_t n_errors, cap_errors;
    int64_t valid, created;
};

static void add_error(struct importer *im, int64_t row, const char *msg)
{
    if (im->n_errors == im->cap_errors) {
        im->cap_errors = im->cap_errors ? im->cap_errors * 2 : 64;
        im->errors = xrealloc(im->errors, im->cap_errors * sizeof(*im->errors));
    }
    im->errors[im->n_errors++] = (struct import_row_error){row, msg};
}

static void add_field_errors(struct importer *im, int64_t row, const struct errors *err,
                             const char *field)
{
    for (const struct field_error *fe = err->head; fe; fe = fe->next)
        add_error(im, row, arena_sprintf(im->ctx->arena, "%s: %s",
                                         field ? field : fe->field, fe->message));
}

/* categories.id of a public category_id; 0 when none. A spreadsheet turns
 * "001" into the number 1, so an all-digit id that matches nothing is tried
 * again zero-padded to three digits, the width of the ids the catalogue
 * hands out. */
static int category_lookup(struct importer *im, const char *public_id, int64_t *id)
{
    if (smap_get(&im->categories, public_id, id))
        return SHOP_OK;
    struct category cat;
    int rc = catalog_category_get_public(&im->row_ctx, public_id, &cat);
    if (rc == SHOP_ENOTFOUND) {
        size_t n = strlen(public_id);
        if (n < 3 && strspn(public_id, "0123456789") == n) {
            char padded[4];
            snprintf(padded, sizeof(padded), "%03d", atoi(public_id));
            rc = catalog_category_get_public(&im->row_ctx, padded, &cat);
        }
    }
    if (rc != SHOP_OK && rc != SHOP_ENOTFOUND)
        return rc;
    *id = rc == SHOP_OK ? cat.id : 0;
    smap_put(&im->categories, arena_strdup(im->ctx->arena, public_id), *id);
    return SHOP_OK;
}

/* Stopgap until catalog.h has a lookup by name: the catalogue's own
 * case-insensitive uniqueness (an index on lower(name)). */
static int name_taken(struct importer *im, const char *name, bool *taken)
{
    int64_t one = 0;
    int rc = db_query_int(im->ctx->db, "SELECT 1 FROM products WHERE lower(name) = lower(?)",
                          DB_PARAMS(DB_TEXT(name)), &one);
    if (rc != DB_ROW && rc != DB_DONE)
        return SHOP_EDB;
    *taken = rc == DB_ROW;
    return SHOP_OK;
}

/* A whole number, written "12", "12.0" or "+12". */
static bool parse_inventory(const char *s, int64_t *out)
{
    struct str v = str_from(s);
    const char *dot = memchr(v.p, '.', v.n);
    if (dot != NULL) {
        for (const char *z = dot + 1; z < v.p + v.n; z++)
            if (*z != '0')
                return false;
        v.n = (size_t)(dot - v.p);
    }
    if (v.n > 0 && v.p[0] == '+')
        v.p++, v.n--;
    if (v.n == 0 || (v.p[0] == '-' && v.n == 1))
        return false;
    return str_to_int64(v, out);
}

/* Checks one row; on success fills in (variants in the scratch arena). */
static int validate_row(struct importer *im, size_t i, struct product_input *in, bool *ok)
{
    const struct row *row = &im->rows[i];
    struct arena *a = im->ctx->arena;
    size_t errors_before = im->n_errors;
    int64_t no = row->no;
    *ok = false;
    if (row->problem != NULL) {
        /* A row that could not be read as five values is not checked further. */
        add_error(im, no, row->problem);
        return SHOP_OK;
    }

    /* name: required, short enough, once in the file, not in the catalogue */
    const char *name = row->f[COL_NAME];
    if (name[0] == '\0') {
        add_error(im, no, "name: This field is required.");
    } else if (utf8_chars(name) > PRODUCT_NAME_MAX) {
        add_error(im, no, "name: Ensure this field has no more than 200 characters.");
    } else {
        const char *key = str_lower(a, name);
        int64_t first = 0;
        if (smap_get(&im->names, key, &first)) {
            add_error(im, no, arena_sprintf(a, "name: \"%s\" already appears in row %lld.", name,
                                            (long long)first));
        } else {
            smap_put(&im->names, key, no);
            bool taken = false;
            if (name_taken(im, name, &taken) != SHOP_OK)
                return SHOP_EDB;
            if (taken)
                add_error(im, no, "name: product with this name already exists.");
        }
    }

    if (utf8_chars(row->f[COL_DESCRIPTION]) > DESCRIPTION_MAX)
        add_error(im, no, "description: Ensure this field has no more than 5000 characters.");

    int64_t category = 0;
    const char *cid = row->f[COL_CATEGORY];
    if (cid[0] == '\0') {
        add_error(im, no, "category_id: This field is required.");
    } else {
        if (category_lookup(im, cid, &category) != SHOP_OK)
            return SHOP_EDB;
        if (category == 0)
            add_error(im, no, arena_sprintf(a, "category_id: Category \"%s\" does not exist.",
                                            cid));
    }

    int64_t inventory = 0;
    const char *inv = row->f[COL_INVENTORY];
    if (inv[0] == '\0')
        add_error(im, no, "inventory: This field is required.");
    else if (!parse_inventory(inv, &inventory))
        add_error(im, no, "inventory: Enter a whole number.");
    else if (inventory < 0)
        add_error(im, no, "inventory: Ensure this value is greater than or equal to 0.");
    else if (inventory > INVENTORY_MAX)
        add_error(im, no, "inventory: Ensure this value is less than or equal to 2147483647.");

    struct variant_input *v = NULL;
    size_t n_v = 0;
    const char *pw = row->f[COL_PRICE_WEIGHTS];
    if (pw[0] == '\0') {
        add_error(im, no, "price_weights: This field is required.");
    } else {
        struct errors err;
        errors_init(&err, im->row_ctx.arena);
        if (!catalog_parse_price_weights(&im->row_ctx, pw, "price_weights", &err, &v, &n_v)) {
            if (!errors_any(&err))
                errors_add(&err, "price_weights", "Enter price-weight pairs, e.g. 2000-100gms.");
            add_field_errors(im, no, &err, "price_weights");
        } else if (n_v == 0) {
            add_error(im, no, "price_weights: At least one price-weight is required.");
        } else {
            for (size_t k = 0; k < n_v; k++) {
                if (v[k].price_minor < 0) {
                    add_error(im, no, "price_weights: Ensure price is greater than or equal "
                                      "to 0.");
                    break;
                }
            }
        }
    }

    if (im->refused[i] != NULL)
        add_error(im, no, im->refused[i]);

    *ok = im->n_errors == errors_before;
    if (!*ok)
        return SHOP_OK;
    /* The row's inventory spread over its variants, the remainder on the
     * first, so the product's computed inventory is the row's. */
    int64_t each = inventory / (int64_t)n_v, rest = inventory % (int64_t)n_v;
    for (size_t k = 0; k < n_v; k++)
        v[k].inventory = each + (k == 0 ? rest : 0);
    *in = (struct product_input){
        .name = name,
        .description = row->f[COL_DESCRIPTION],
        .has_category = true,
        .category_id = category,
        .n_tags = -1,
        .n_image_urls = -1,
        .variants = v,
        .n_variants = (ssize_t)n_v,
    };
    return SHOP_OK;
}

enum { SAVE_RETRY = -1 };

/* One pass over the rows: validates each and, unless a dry run, creates it.
 * SAVE_RETRY when catalog refused a row this file thought valid (the row is
 * marked in im->refused; the caller rolls back and runs the pass again). */
static int save_pass(struct importer *im, bool can_retry,
                     void (*progress)(void *, int64_t, int64_t), void *progress_arg)
{
    struct arena *scratch = im->row_ctx.arena;
    int64_t total = (int64_t)im->n_rows;
    if (progress)
        progress(progress_arg, 0, total);
    for (size_t i = 0; i < im->n_rows; i++) {
        arena_reset(scratch);
        struct product_input in;
        bool ok = false;
        if (validate_row(im, i, &in, &ok) != SHOP_OK)
            return SHOP_EDB;
        if (ok) {
            im->valid++;
            if (!im->dry_run) {
                struct errors err;
                errors_init(&err, scratch);
                /* out NULL: catalog skips reading the product back */
                int rc = catalog_product_create(&im->row_ctx, &in, &err, NULL);
                if (rc == SHOP_OK) {
                    im->created++;
                } else if (rc == SHOP_EINVAL || rc == SHOP_ECONFLICT) {
                    struct buf why;
                    buf_init_arena(&why, im->ctx->arena);
                    for (const struct field_error *fe = err.head; fe; fe = fe->next) {
                        buf_append_str(&why, why.n ? "; " : "");
                        if (strcmp(fe->field, ERRORS_NON_FIELD) != 0)
                            buf_printf(&why, "%s: ", fe->field);
                        buf_append_str(&why, fe->message);
                    }
                    im->refused[i] = why.n ? buf_cstr(&why) : "The product could not be saved.";
                    if (can_retry)
                        return SAVE_RETRY;
                    im->valid--;
                    add_error(im, im->rows[i].no, im->refused[i]);
                } else {
                    return SHOP_EDB;
                }
            }
        }
        if (progress && ((i + 1) % PROGRESS_EVERY == 0 || i + 1 == im->n_rows))
            progress(progress_arg, (int64_t)i + 1, total);
    }
    return SHOP_OK;
}

static void pass_reset(struct importer *im)
{
    im->n_errors = 0;
    im->valid = im->created = 0;
    smap_free(&im->names);
}

static int save(struct importer *im, void (*progress)(void *, int64_t, int64_t),
                void *progress_arg)
{
    if (im->dry_run)
        return save_pass(im, false, progress, progress_arg);
    for (;;) {
        bool own = false;
        int rc = core_tx_begin(im->ctx, &own);
        if (rc != SHOP_OK)
            return rc;
        /* Inside a caller's transaction a refused row cannot be undone alone:
         * it is reported and the others go on. */
        rc = save_pass(im, own, progress, progress_arg);
        if (rc == SAVE_RETRY) {
            core_tx_end(im->ctx, own, SHOP_ECONFLICT);
            pass_reset(im);
            continue;
        }
        return core_tx_end(im->ctx, own, rc);
    }
}

int import_products(struct ctx *ctx, const void *data, size_t len, bool dry_run,
                    void (*progress)(void *arg, int64_t done, int64_t total), void *progress_arg,
                    struct import_report *out)
{
    *out = (struct import_report){0};
    struct reader r = {.a = ctx->arena};
    read_file(&r, data != NULL ? data : "", data != NULL ? len : 0);
    if (r.file_error != NULL) {
        free(r.rows);
        out->errors = arena_alloc(ctx->arena, sizeof(*out->errors));
        out->errors[0] = (struct import_row_error){0, r.file_error};
        out->n_errors = 1;
        return SHOP_EINVAL;
    }

    struct arena *scratch = arena_create();
    struct importer im = {
        .ctx = ctx,
        .row_ctx = *ctx,
        .rows = r.rows,
        .n_rows = r.n_rows,
        .refused = xcalloc(r.n_rows, sizeof(const char *)),
        .dry_run = dry_run,
    };
    im.row_ctx.arena = scratch;
    int rc = save(&im, progress, progress_arg);

    out->rows = (int64_t)im.n_rows;
    out->valid = im.valid;
    out->created = rc == SHOP_OK ? im.created : 0;
    if (im.n_errors > 0) {
        out->errors = arena_alloc(ctx->arena, im.n_errors * sizeof(*out->errors));
        memcpy(out->errors, im.errors, im.n_errors * sizeof(*out->errors));
        out->n_errors = im.n_errors;
    }
    free(im.errors);
    free(im.refused);
    free(r.rows);
    smap_free(&im.categories);
    smap_free(&im.names);
    arena_destroy(scratch);
    return rc;
}
