/*
 * catalog.c - categories, products and their variants (see catalog.h), over
 * the tables of migration 0003_catalog.
 *
 * Everything returned lives in ctx->arena. Writes run in core_tx_begin /
 * core_tx_end write transactions (SQLite's write lock; on PostgreSQL the rows
 * read before a write are locked with FOR UPDATE). Uniqueness is checked by
 * reading first, so the documented messages can be given; a concurrent
 * writer that slips in between (PostgreSQL only: SQLite's write lock rules it
 * out) surfaces as DB_ECONSTRAINT, and the whole write is retried, where the
 * re-check then finds the other writer's row and reports it.
 *
 * Lists never query per row: one index-only query finds the ids of the page
 * (starting from a remembered anchor for deep pages, see "Anchors"), one
 * more reads that id range with categories and variants joined, in index
 * order (see "lists"). Lookups by id lists (searches) read the rows with
 * "p.id IN (?, ...)" and their variants with "product_id IN (?, ...)"; those
 * SQL texts come from a fixed set, one per list length 1..100, built once
 * into static storage, so each stays a prepared statement in the
 * connection's cache. A list's total comes from product_counts (kept by
 * triggers), except for admin listings (COUNT(*)) and searches
 * (search_product_ids).
 */
#include "core/catalog.h"
#include "core/catalog_rows.h"

#include <json-c/json.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/core.h"
#include "core/media.h"
#include "core/search.h"
#include "db/db.h"
#include "util/arena.h"
#include "util/log.h"
#include "util/money.h"
#include "util/str.h"

#define NAME_MAX_CHARS 200
#define DESCRIPTION_MAX_CHARS 5000
#define TAGS_MAX 20
#define TAG_MAX_CHARS 50
#define IMAGE_URLS_MAX 10
#define IMAGE_URL_MAX_CHARS 500
#define CATEGORY_ID_MAX_CHARS 50
#define WEIGHT_MAX_CHARS 50
#define VARIANTS_MAX 50
#define INVENTORY_MAX INT64_C(1000000000) /* per variant */
/* Tries of one write when a concurrent writer took a unique value first. */
#define WRITE_ATTEMPTS 3
/* How far the slug suffix goes (-2, -3, ...) before giving up. */
#define SLUG_TRIES 10000


#define CATEGORY_COLUMNS                                                                      \
    "id, category_id, name, slug, description, tags, image, display_order, created_at, "     \
    "updated_at"
#define CATEGORY_COLUMNS_C CATALOG_CATEGORY_COLUMNS_C
#define CATEGORY_NCOLS 10
#define PRODUCT_COLUMNS CATALOG_PRODUCT_COLUMNS
#define PRODUCT_NCOLS CATALOG_PRODUCT_NCOLS /* the category's columns follow */
#define PRODUCT_FROM CATALOG_PRODUCT_FROM

static const char msg_required[] = "This field is required.";
static const char msg_blank[] = "This field may not be blank.";
static const char msg_race[] = "The catalogue was changed at the same time; please try again.";

/* ---- small helpers ---- */

static int64_t utf8_chars(const char *s)
{
    int64_t n = 0;
    for (; *s; s++)
        if (((unsigned char)*s & 0xC0) != 0x80)
            n++;
    return n;
}

/* An arena copy of s without surrounding ASCII white space (NULL stays NULL). */
static const char *trimmed(struct ctx *ctx, const char *s)
{
    if (s == NULL)
        return NULL;
    return str_dup(ctx->arena, str_trim(str_from(s)));
}

const char *catalog_col_text(struct ctx *ctx, struct db_res *res, int i)
{
    const char *s = db_col_text(res, i);
    return arena_strndup(ctx->arena, s ? s : "", s ? db_col_len(res, i) : 0);
}

const char *catalog_col_text_or_null(struct ctx *ctx, struct db_res *res, int i)
{
    if (db_col_is_null(res, i))
        return NULL;
    return catalog_col_text(ctx, res, i);
}

/* A JSON array of strings (tags, image_urls) into an arena array; anything
 * else stored there reads as empty. */
static const char **json_strings(struct ctx *ctx, const char *text, size_t len, size_t *n)
{
    *n = 0;
    if (text == NULL || len <= 2) /* "[]", the common case, needs no parser */
        return NULL;
    struct json_tokener *tok = json_tokener_new();
    struct json_object *arr = json_tokener_parse_ex(tok, text, (int)len);
    json_tokener_free(tok);
    const char **out = NULL;
    if (arr != NULL && json_object_is_type(arr, json_type_array)) {
        size_t count = json_object_array_length(arr);
        out = arena_alloc(ctx->arena, (count ? count : 1) * sizeof(*out));
        for (size_t i = 0; i < count; i++) {
            struct json_object *v = json_object_array_get_idx(arr, i);
            if (json_object_is_type(v, json_type_string))
                out[(*n)++] = arena_strndup(ctx->arena, json_object_get_string(v),
                                            (size_t)json_object_get_string_len(v));
        }
    }
    json_object_put(arr);
    return out;
}

const char **catalog_col_json_strings(struct ctx *ctx, struct db_res *res, int i, size_t *n)
{
    return json_strings(ctx, db_col_text(res, i), db_col_len(res, i), n);
}

/* The stored form of a string array: a JSON array, built by json-c. */
static const char *json_text(struct ctx *ctx, const char *const *items, size_t n)
{
    if (n == 0)
        return "[]";
    struct json_object *arr = json_object_new_array_ext((int)n);
    for (size_t i = 0; i < n; i++)
        json_object_array_add(arr, json_object_new_string(items[i]));
    const char *s = arena_strdup(
        ctx->arena,
        json_object_to_json_string_ext(arr, JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE));
    json_object_put(arr);
    return s;
}

/* "Gaming Laptop (2024)!" -> "gaming-laptop-2024": ASCII letters and digits,
 * every other run of bytes one '-', none at either end; "item" when empty. */
static char *slugify(struct ctx *ctx, const char *name)
{
    size_t len = strlen(name);
    char *out = arena_alloc(ctx->arena, len + 5);
    size_t n = 0;
    bool gap = false;
    for (const char *p = name; *p; p++) {
        char c = *p;
        if (c >= 'A' && c <= 'Z')
            c = (char)(c - 'A' + 'a');
        if ((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9')) {
            if (gap && n > 0)
                out[n++] = '-';
            out[n++] = c;
            gap = false;
        } else {
            gap = true;
        }
    }
    if (n == 0) {
        memcpy(out, "item", 5);
        return out;
    }
    out[n] = '\0';
    return out;
}

/* *out: base, or base-2, base-3, ... whichever no other row of the table
 * (products or categories, through its probe SQL) holds. Runs inside the
 * write transaction, so the answer still holds at the INSERT. */
static int unique_slug(struct ctx *ctx, const char *probe_sql, const char *base,
                       int64_t exclude_id, const char **out)
{
    const char *candidate = base;
    for (int k = 1; k <= SLUG_TRIES; k++) {
        if (k > 1)
            candidate = arena_sprintf(ctx->arena, "%s-%d", base, k);
        int64_t taken = 0;
        int rc = db_query_int(ctx->db, probe_sql,
                              DB_PARAMS(DB_TEXT(candidate), DB_INT(exclude_id)), &taken);
        if (rc == DB_DONE) {
            *out = candidate;
            return SHOP_OK;
        }
        if (rc != DB_ROW)
            return SHOP_EDB;
    }
    log_error("catalog: no free slug for \"%s\" after %d tries", base, SLUG_TRIES);
    return SHOP_EDB;
}

static const char product_slug_sql[] = "SELECT 1 FROM products WHERE slug = ? AND id <> ?";
static const char category_slug_sql[] = "SELECT 1 FROM categories WHERE slug = ? AND id <> ?";

/* A stored media path ("categories/<hex>.png"), as opposed to an URL given
 * by a client: only those are ours to remove. */
static bool is_media_path(const char *s)
{
    return s != NULL && *s != '\0' && *s != '/' && strstr(s, "://") == NULL;
}

/* The old image of a row that a committed write replaced or deleted. */
static void remove_replaced(struct ctx *ctx, const char *old, const char *now)
{
    if (is_media_path(old) && (now == NULL || strcmp(old, now) != 0))
        media_remove(ctx, old);
}

/* Every catalogue write of the process runs here: the epoch that the list
 * anchors are checked against changes before the write begins and after it
 * ends (see "Anchors" below). */
static int write_tx(struct ctx *ctx, struct errors *err, int (*fn)(struct ctx *, void *),
                    void *arg, bool *committed)
{
    bool own = false;
    catalog_changed();
    int rc = core_tx_run(ctx, err, WRITE_ATTEMPTS, fn, arg, &own);
    catalog_changed();
    if (rc == SHOP_RETRY) {
        if (err != NULL)
            errors_add(err, ERRORS_NON_FIELD, msg_race);
        rc = SHOP_ECONFLICT;
    }
    *committed = rc == SHOP_OK && own;
    return rc;
}

/* SHOP_* for a failed db_exec / db_query of a write. */
static int write_failed(int db_rc)
{
    return db_rc == DB_ECONSTRAINT ? SHOP_RETRY : SHOP_EDB;
}

/* ---- validation shared by both entities ---- */

static void check_text(struct errors *err, const char *field, const char *s, int64_t max_chars)
{
    if (s != NULL && utf8_chars(s) > max_chars)
        errors_add(err, field,
                   arena_sprintf(err->arena, "Ensure this field has no more than %lld characters.",
                                 (long long)max_chars));
}

/* name: required on create, not blank, at most 200 characters. */
static void check_name(struct errors *err, const char *name, bool create)
{
    if (name == NULL) {
        if (create)
            errors_add(err, "name", msg_required);
        return;
    }
    if (*name == '\0')
        errors_add(err, "name", msg_blank);
    else
        check_text(err, "name", name, NAME_MAX_CHARS);
}

/* Trimmed copies of the tags; errors for too many, blank or too long ones. */
static const char **check_tags(struct ctx *ctx, struct errors *err, const char **tags, ssize_t n)
{
    if (n < 0)
        return NULL;
    if (n > TAGS_MAX) {
        errors_add(err, "tags", "Ensure this field has no more than 20 elements.");
        return NULL;
    }
    const char **out = arena_alloc(ctx->arena, ((size_t)n + 1) * sizeof(*out));
    for (ssize_t i = 0; i < n; i++) {
        out[i] = trimmed(ctx, tags != NULL ? tags[i] : NULL);
        if (out[i] == NULL || *out[i] == '\0' || utf8_chars(out[i]) > TAG_MAX_CHARS) {
            errors_add(err, "tags", "Each tag must be a non-empty string of at most 50 characters.");
            return NULL;
        }
    }
    return out;
}

/* An image URL a client may give: http(s)://host... or a /media/ path. */
static bool image_url_valid(const char *s)
{
    if (s == NULL || utf8_chars(s) > IMAGE_URL_MAX_CHARS)
        return false;
    for (const char *p = s; *p; p++)
        if ((unsigned char)*p <= ' ' || *p == 0x7f)
            return false;
    if (strncmp(s, "https://", 8) == 0)
        return s[8] != '\0' && s[8] != '/';
    if (strncmp(s, "http://", 7) == 0)
        return s[7] != '\0' && s[7] != '/';
    return strncmp(s, "/media/", 7) == 0 && s[7] != '\0' && strstr(s, "..") == NULL;
}

static void check_image_urls(struct errors *err, const char **urls, ssize_t n)
{
    if (n < 0)
        return;
    if (n > IMAGE_URLS_MAX) {
        errors_add(err, "image_urls", "Ensure this field has no more than 10 elements.");
        return;
    }
    for (ssize_t i = 0; i < n; i++) {
        if (urls == NULL || !image_url_valid(urls[i])) {
            errors_add(err, "image_urls",
                       "Enter a valid URL (http://, https:// or a /media/ path) of at most 500 "
                       "characters.");
            return;
        }
    }
}

/* ---- categories ---- */

void catalog_read_category(struct ctx *ctx, struct db_res *res, int at, struct category *c)
{
    memset(c, 0, sizeof(*c));
    c->id = db_col_int(res, at + 0);
    c->category_id = catalog_col_text(ctx, res, at + 1);
    c->name = catalog_col_text(ctx, res, at + 2);
    c->slug = catalog_col_text(ctx, res, at + 3);
    c->description = catalog_col_text(ctx, res, at + 4);
    c->tags = catalog_col_json_strings(ctx, res, at + 5, &c->n_tags);
    c->image = catalog_col_text_or_null(ctx, res, at + 6);
    c->display_order = (int)db_col_int(res, at + 7); /* NULL reads 0: none */
    c->created_at = db_col_int(res, at + 8);
    c->updated_at = db_col_int(res, at + 9);
}

/* One category by a query returning CATEGORY_COLUMNS. */
static int query_category(struct ctx *ctx, const char *sql, struct db_param param,
                          struct category *out)
{
    struct db_res *res;
    if (db_query(ctx->db, sql, &param, 1, &res) != DB_OK)
        return SHOP_EDB;
    int rc = db_next(res);
    if (rc == DB_ROW)
        catalog_read_category(ctx, res, 0, out);
    db_res_close(res);
    return rc == DB_ROW ? SHOP_OK : rc == DB_DONE ? SHOP_ENOTFOUND : SHOP_EDB;
}

int catalog_category_get(struct ctx *ctx, int64_t id, struct category *out)
{
    return query_category(ctx, "SELECT " CATEGORY_COLUMNS " FROM categories WHERE id = ?",
                          DB_INT(id), out);
}

int catalog_category_get_public(struct ctx *ctx, const char *category_id, struct category *out)
{
    if (category_id == NULL)
        return SHOP_ENOTFOUND;
    return query_category(ctx,
                          "SELECT " CATEGORY_COLUMNS " FROM categories WHERE category_id = ?",
                          DB_TEXT(category_id), out);
}

/* The current row, locked for the rest of the transaction on PostgreSQL
 * (SQLite's write transaction holds the whole database already). */
static int category_for_update(struct ctx *ctx, int64_t id, struct category *out)
{
    static const char pg[] =
        "SELECT " CATEGORY_COLUMNS " FROM categories WHERE id = ? FOR UPDATE";
    static const char lite[] = "SELECT " CATEGORY_COLUMNS " FROM categories WHERE id = ?";
    return query_category(ctx, db_kind(ctx->db) == DB_POSTGRES ? pg : lite, DB_INT(id), out);
}

/* A public category id a client may choose: it appears in URLs. */
static bool category_id_valid(const char *s)
{
    size_t n = strlen(s);
    if (n == 0 || n > CATEGORY_ID_MAX_CHARS)
        return false;
    for (const char *p = s; *p; p++) {
        char c = *p;
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '-' || c == '_' || c == '.'))
            return false;
    }
    return true;
}

/* The input with its text trimmed and validated. */
struct category_fields {
    const char *category_id;
    const char *name;
    const char *description;
    const char **tags;
    ssize_t n_tags;
    bool has_display_order;
    int display_order;
};

static bool category_validate(struct ctx *ctx, const struct category_input *in, bool create,
                              struct errors *err, struct category_fields *f)
{
    int before = err->count;
    f->name = trimmed(ctx, in->name);
    f->description = trimmed(ctx, in->description);
    f->category_id = trimmed(ctx, in->category_id);
    check_name(err, f->name, create);
    check_text(err, "description", f->description, DESCRIPTION_MAX_CHARS);
    if (f->category_id != NULL && !category_id_valid(f->category_id))
        errors_add(err, "category_id",
                   "Enter a valid category id: 1 to 50 letters, digits, '-', '_' or '.'.");
    f->n_tags = in->n_tags;
    f->tags = check_tags(ctx, err, in->tags, in->n_tags);
    f->has_display_order = in->has_display_order;
    f->display_order = in->display_order;
    if (in->has_display_order && in->display_order != 0 &&
        (in->display_order < 1 || in->display_order > CATALOG_DISPLAY_SLOTS))
        errors_add(err, "display_order", "Display order must be between 1 and 8.");
    /* "" clears the image: category_input has no has_image of its own. */
    if (in->image != NULL && strlen(in->image) > IMAGE_URL_MAX_CHARS)
        errors_add(err, "image", "Enter a valid image.");
    return err->count == before;
}

/* The image to store: "" (clear) as NULL. */
static const char *image_value(const char *image)
{
    return image != NULL && *image == '\0' ? NULL : image;
}

/* Uniqueness of name, category_id and display_order against every other
 * category (exclude_id: the one being updated). Adds the documented errors;
 * SHOP_ECONFLICT when one is taken. */
static int category_check_unique(struct ctx *ctx, const struct category_fields *f,
                                 int64_t exclude_id, struct errors *err)
{
    int64_t one;
    int rc;
    bool taken = false;
    if (f->name != NULL) {
        rc = db_query_int(ctx->db,
                          "SELECT 1 FROM categories WHERE lower(name) = lower(?) AND id <> ?",
                          DB_PARAMS(DB_TEXT(f->name), DB_INT(exclude_id)), &one);
        if (rc != DB_ROW && rc != DB_DONE)
            return SHOP_EDB;
        if (rc == DB_ROW) {
            errors_add(err, "name", "category with this name already exists.");
            taken = true;
        }
    }
    if (f->category_id != NULL) {
        rc = db_query_int(ctx->db, "SELECT 1 FROM categories WHERE category_id = ? AND id <> ?",
                          DB_PARAMS(DB_TEXT(f->category_id), DB_INT(exclude_id)), &one);
        if (rc != DB_ROW && rc != DB_DONE)
            return SHOP_EDB;
        if (rc == DB_ROW) {
            errors_add(err, "category_id", "category with this category id already exists.");
            taken = true;
        }
    }
    if (f->has_display_order && f->display_order != 0) {
        rc = db_query_int(ctx->db,
                          "SELECT 1 FROM categories WHERE display_order = ? AND id <> ?",
                          DB_PARAMS(DB_INT(f->display_order), DB_INT(exclude_id)), &one);
        if (rc != DB_ROW && rc != DB_DONE)
            return SHOP_EDB;
        if (rc == DB_ROW) {
            errors_add(err, "display_order", "A category with this display order already exists.");
            taken = true;
        }
    }
    return taken ? SHOP_ECONFLICT : SHOP_OK;
}

/* The next free public id: the number after the highest row id, zero-padded
 * to three digits ("001", "002", ..., "1000"), counting on past any that a
 * client chose already. */
static int next_category_id(struct ctx *ctx, const char **out)
{
    int64_t n = 0;
    int rc = db_query_int(ctx->db, "SELECT COALESCE(MAX(id), 0) FROM categories", DB_NO_PARAMS,
                          &n);
    if (rc != DB_ROW)
        return SHOP_EDB;
    for (n++;; n++) {
        const char *candidate = arena_sprintf(ctx->arena, "%03lld", (long long)n);
        int64_t one;
        rc = db_query_int(ctx->db, "SELECT 1 FROM categories WHERE category_id = ?",
                          DB_PARAMS(DB_TEXT(candidate)), &one);
        if (rc == DB_DONE) {
            *out = candidate;
            return SHOP_OK;
        }
        if (rc != DB_ROW)
            return SHOP_EDB;
    }
}

static struct db_param display_order_param(int display_order)
{
    return display_order != 0 ? DB_INT(display_order) : DB_NULL;
}

struct category_write {
    int64_t id; /* update */
    const struct category_fields *f;
    const struct category_input *in;
    struct errors *err;
    struct category *out;
    const char *old_image; /* update: the image before, removed after commit */
};

static int do_category_create(struct ctx *ctx, void *arg)
{
    struct category_write *w = arg;
    const struct category_fields *f = w->f;
    int rc = category_check_unique(ctx, f, 0, w->err);
    if (rc != SHOP_OK)
        return rc;
    const char *category_id = f->category_id;
    if (category_id == NULL && (rc = next_category_id(ctx, &category_id)) != SHOP_OK)
        return rc;
    const char *slug;
    if ((rc = unique_slug(ctx, category_slug_sql, slugify(ctx, f->name), 0, &slug)) != SHOP_OK)
        return rc;
    struct db_res *res;
    int dbrc = db_query(
        ctx->db,
        "INSERT INTO categories (category_id, name, slug, description, tags, image, "
        "display_order, created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?) "
        "RETURNING " CATEGORY_COLUMNS,
        DB_PARAMS(DB_TEXT(category_id), DB_TEXT(f->name), DB_TEXT(slug),
                  DB_TEXT(f->description ? f->description : ""),
                  DB_TEXT(json_text(ctx, f->tags, f->n_tags > 0 ? (size_t)f->n_tags : 0)),
                  DB_TEXT(image_value(w->in->image)),
                  display_order_param(f->has_display_order ? f->display_order : 0),
                  DB_INT(ctx->now), DB_INT(ctx->now)),
        &res);
    if (dbrc != DB_OK)
        return write_failed(dbrc);
    dbrc = db_next(res);
    if (dbrc == DB_ROW && w->out != NULL)
        catalog_read_category(ctx, res, 0, w->out);
    db_res_close(res);
    return dbrc == DB_ROW ? SHOP_OK : write_failed(dbrc);
}

/* Validation errors make SHOP_EINVAL, taken values alone SHOP_ECONFLICT. */
int catalog_category_create(struct ctx *ctx, const struct category_input *in,
                            struct errors *err, struct category *out)
{
    struct category_fields f;
    if (!category_validate(ctx, in, true, err, &f))
        return SHOP_EINVAL;
    struct category scratch;
    struct category_write w = {.f = &f, .in = in, .err = err, .out = out ? out : &scratch};
    bool committed;
    return write_tx(ctx, err, do_category_create, &w, &committed);
}

static int do_category_update(struct ctx *ctx, void *arg)
{
    struct category_write *w = arg;
    const struct category_fields *f = w->f;
    struct category cur;
    int rc = category_for_update(ctx, w->id, &cur);
    if (rc != SHOP_OK)
        return rc;
    w->old_image = cur.image;
    if ((rc = category_check_unique(ctx, f, w->id, w->err)) != SHOP_OK)
        return rc;
    const char *name = f->name ? f->name : cur.name;
    const char *slug = cur.slug;
    const char *base = slugify(ctx, name);
    /* A rename keeps the slug when it would slugify the same. */
    if (f->name != NULL && strcmp(base, slugify(ctx, cur.name)) != 0 &&
        (rc = unique_slug(ctx, category_slug_sql, base, w->id, &slug)) != SHOP_OK)
        return rc;
    const char *tags = f->n_tags >= 0 ? json_text(ctx, f->tags, (size_t)f->n_tags)
                                      : json_text(ctx, cur.tags, cur.n_tags);
    int display_order = f->has_display_order ? f->display_order : cur.display_order;
    struct db_res *res;
    int dbrc = db_query(
        ctx->db,
        "UPDATE categories SET category_id = ?, name = ?, slug = ?, description = ?, tags = ?, "
        "image = ?, display_order = ?, updated_at = ? WHERE id = ? RETURNING " CATEGORY_COLUMNS,
        DB_PARAMS(DB_TEXT(f->category_id ? f->category_id : cur.category_id), DB_TEXT(name),
                  DB_TEXT(slug), DB_TEXT(f->description ? f->description : cur.description),
                  DB_TEXT(tags),
                  DB_TEXT(w->in->image ? image_value(w->in->image) : cur.image),
                  display_order_param(display_order), DB_INT(ctx->now), DB_INT(w->id)),
        &res);
    if (dbrc != DB_OK)
        return write_failed(dbrc);
    dbrc = db_next(res);
    if (dbrc == DB_ROW)
        catalog_read_category(ctx, res, 0, w->out);
    db_res_close(res);
    return dbrc == DB_ROW ? SHOP_OK : dbrc == DB_DONE ? SHOP_ENOTFOUND : write_failed(dbrc);
}

int catalog_category_update(struct ctx *ctx, int64_t id, const struct category_input *in,
                            struct errors *err, struct category *out)
{
    struct category_fields f;
    if (!category_validate(ctx, in, false, err, &f))
        return SHOP_EINVAL;
    struct category scratch;
    struct category_write w = {
        .id = id, .f = &f, .in = in, .err = err, .out = out ? out : &scratch};
    bool committed;
    int rc = write_tx(ctx, err, do_category_update, &w, &committed);
    if (committed)
        remove_replaced(ctx, w.old_image, w.out->image);
    return rc;
}

struct category_delete {
    int64_t id;
    struct errors *err;
    const char *old_image;
};

static int do_category_delete(struct ctx *ctx, void *arg)
{
    struct category_delete *d = arg;
    struct category cur;
    int rc = category_for_update(ctx, d->id, &cur);
    if (rc != SHOP_OK)
        return rc;
    d->old_image = cur.image;
    int64_t n = 0;
    if (db_query_int(ctx->db, "SELECT count(*) FROM products WHERE category_id = ?",
                     DB_PARAMS(DB_INT(d->id)), &n) != DB_ROW)
        return SHOP_EDB;
    if (n > 0) {
        if (d->err != NULL)
            errors_add(d->err, ERRORS_NON_FIELD,
                       n == 1 ? "Cannot delete a category that still has 1 product."
                              : arena_sprintf(ctx->arena,
                                              "Cannot delete a category that still has %lld "
                                              "products.",
                                              (long long)n));
        return SHOP_ECONFLICT;
    }
    int64_t affected = 0;
    int dbrc = db_exec(ctx->db, "DELETE FROM categories WHERE id = ?",
                       DB_PARAMS(DB_INT(d->id)), &affected);
    if (dbrc != DB_OK)
        return write_failed(dbrc); /* a product added meanwhile: the retry counts it */
    return affected == 1 ? SHOP_OK : SHOP_ENOTFOUND;
}

int catalog_category_delete(struct ctx *ctx, int64_t id, struct errors *err)
{
    struct category_delete d = {.id = id, .err = err};
    bool committed;
    int rc = write_tx(ctx, err, do_category_delete, &d, &committed);
    if (committed)
        remove_replaced(ctx, d.old_image, NULL);
    return rc;
}

int catalog_category_list(struct ctx *ctx, enum category_order order, bool only_ordered,
                          int64_t offset, int64_t limit, struct category_list *out)
{
    /* [order][only_ordered]. Names compare lower-cased so both backends
     * agree; unset display orders sort last on both. */
    static const char *const page_sql[2][2] = {
        {"SELECT " CATEGORY_COLUMNS " FROM categories ORDER BY id LIMIT ? OFFSET ?",
         "SELECT " CATEGORY_COLUMNS " FROM categories WHERE display_order IS NOT NULL "
         "ORDER BY id LIMIT ? OFFSET ?"},
        {"SELECT " CATEGORY_COLUMNS " FROM categories ORDER BY CASE WHEN display_order IS "
         "NULL THEN 1 ELSE 0 END, display_order, lower(name), id LIMIT ? OFFSET ?",
         "SELECT " CATEGORY_COLUMNS " FROM categories WHERE display_order IS NOT NULL "
         "ORDER BY display_order, lower(name), id LIMIT ? OFFSET ?"},
    };
    static const char count_all[] = "SELECT count(*) FROM categories";
    static const char count_ordered[] =
        "SELECT count(*) FROM categories WHERE display_order IS NOT NULL";

    memset(out, 0, sizeof(*out));
    if (db_query_int(ctx->db, only_ordered ? count_ordered : count_all, DB_NO_PARAMS,
                     &out->count) != DB_ROW)
        return SHOP_EDB;
    if (offset < 0)
        offset = 0;
    if (limit <= 0)
        limit = INT64_MAX;
    size_t cap = (size_t)(out->count - offset > 0 ? out->count - offset : 0);
    if ((int64_t)cap > limit)
        cap = (size_t)limit;
    cap += 4; /* rows added since the count need not be dropped */
    out->items = arena_alloc(ctx->arena, cap * sizeof(*out->items));

    struct db_res *res;
    if (db_query(ctx->db, page_sql[order == CATEGORY_BY_DISPLAY_ORDER][only_ordered],
                 DB_PARAMS(DB_INT(limit), DB_INT(offset)), &res) != DB_OK)
        return SHOP_EDB;
    int rc;
    while ((rc = db_next(res)) == DB_ROW) {
        if (out->n == cap) {
            struct category *bigger = arena_alloc(ctx->arena, 2 * cap * sizeof(*bigger));
            memcpy(bigger, out->items, cap * sizeof(*bigger));
            out->items = bigger;
            cap *= 2;
        }
        catalog_read_category(ctx, res, 0, &out->items[out->n++]);
    }
    db_res_close(res);
    return rc == DB_DONE ? SHOP_OK : SHOP_EDB;
}

int catalog_display_orders_free(struct ctx *ctx, int free_orders[CATALOG_DISPLAY_SLOTS],
                                size_t *n_free)
{
    bool used[CATALOG_DISPLAY_SLOTS + 1] = {false};
    struct db_res *res;
    *n_free = 0;
    if (db_query(ctx->db, "SELECT display_order FROM categories WHERE display_order IS NOT NULL",
                 DB_NO_PARAMS, &res) != DB_OK)
        return SHOP_EDB;
    int rc;
    while ((rc = db_next(res)) == DB_ROW) {
        int64_t v = db_col_int(res, 0);
        if (v >= 1 && v <= CATALOG_DISPLAY_SLOTS)
            used[v] = true;
    }
    db_res_close(res);
    if (rc != DB_DONE)
        return SHOP_EDB;
    for (int i = 1; i <= CATALOG_DISPLAY_SLOTS; i++)
        if (!used[i])
            free_orders[(*n_free)++] = i;
    return SHOP_OK;
}

/* ---- variants ---- */

static const char pair_hint[] = "Use price-weight, e.g. 2000-100gms.";

static void bad_pair(struct ctx *ctx, struct errors *err, const char *field, struct str item)
{
    errors_add(err, field,
               arena_sprintf(ctx->arena, "Invalid price-weight pair \"%.*s\". %s", (int)item.n,
                             item.p, pair_hint));
}

bool catalog_parse_price_weights(struct ctx *ctx, const char *s, const char *field,
                                 struct errors *err, struct variant_input **out, size_t *n)
{
    *out = NULL;
    *n = 0;
    struct str all = str_trim(str_from(s ? s : ""));
    if (all.n == 0) {
        errors_add(err, field, "At least one price-weight is required.");
        return false;
    }
    size_t cap = 1;
    for (size_t i = 0; i < all.n; i++)
        cap += all.p[i] == ',';
    struct variant_input *v = arena_alloc(ctx->arena, cap * sizeof(*v));
    size_t count = 0;
    bool ok = true;
    const char *p = all.p, *end = all.p + all.n;
    while (p <= end) {
        const char *comma = memchr(p, ',', (size_t)(end - p));
        const char *stop = comma ? comma : end;
        struct str item = str_trim((struct str){p, (size_t)(stop - p)});
        const char *dash = memchr(item.p, '-', item.n);
        struct str price = STR_NULL, weight = STR_NULL;
        if (dash != NULL) {
            price = str_trim((struct str){item.p, (size_t)(dash - item.p)});
            weight = str_trim((struct str){dash + 1, (size_t)(item.p + item.n - dash - 1)});
        }
        int64_t minor;
        char *weight_s = weight.n ? str_dup(ctx->arena, weight) : NULL;
        if (dash == NULL || price.n == 0 || weight.n == 0 ||
            !money_parse(str_dup(ctx->arena, price), false, &minor) ||
            utf8_chars(weight_s) > WEIGHT_MAX_CHARS) {
            bad_pair(ctx, err, field, item);
            ok = false;
        } else {
            v[count++] = (struct variant_input){minor, weight_s, 0};
        }
        if (comma == NULL)
            break;
        p = comma + 1;
    }
    if (ok && count > VARIANTS_MAX) {
        errors_add(err, field, "Ensure there are no more than 50 price-weights.");
        ok = false;
    }
    if (!ok)
        return false;
    *out = v;
    *n = count;
    return true;
}

/* The variants of a write: at least one (when given), none negative. */
static void check_variants(struct errors *err, const struct variant_input *v, ssize_t n,
                           bool create)
{
    if (n < 0 && !create)
        return;
    if (n <= 0 || v == NULL) {
        errors_add(err, "price_weights", "At least one price-weight is required.");
        return;
    }
    if (n > VARIANTS_MAX) {
        errors_add(err, "price_weights", "Ensure there are no more than 50 price-weights.");
        return;
    }
    bool price_bad = false, inventory_bad = false, inventory_big = false, weight_bad = false;
    for (ssize_t i = 0; i < n; i++) {
        price_bad |= v[i].price_minor < 0;
        inventory_bad |= v[i].inventory < 0;
        /* Bounded so that the summed inventory of 50 variants fits easily. */
        inventory_big |= v[i].inventory > INVENTORY_MAX;
        weight_bad |= v[i].weight != NULL && utf8_chars(v[i].weight) > WEIGHT_MAX_CHARS;
    }
    if (price_bad)
        errors_add(err, "price_weights", "Ensure price is greater than or equal to 0.");
    if (inventory_bad)
        errors_add(err, "price_weights", "Ensure inventory is greater than or equal to 0.");
    if (inventory_big)
        errors_add(err, "price_weights",
                   "Ensure inventory is less than or equal to 1000000000.");
    if (weight_bad)
        errors_add(err, "price_weights", "Ensure weight has no more than 50 characters.");
}

/* ---- IN lists ---- */

/* SQL texts "<head>?, ?, ...<tail>" for 1..IN_MAX placeholders, built once
 * into static storage: fixed addresses, so each stays prepared in the
 * statement cache of every connection. */
#define IN_MAX CATALOG_PAGE_SIZE_MAX

#define VARIANTS_HEAD                                                                         \
    "SELECT product_id, id, price_minor, weight, inventory FROM product_variants WHERE "     \
    "product_id IN ("
#define VARIANTS_TAIL ") ORDER BY product_id, position"
#define BY_IDS_HEAD "SELECT " PRODUCT_COLUMNS PRODUCT_FROM " WHERE p.id IN ("
#define BY_IDS_TAIL ")"

static char in_sql_pool[2 * (IN_MAX * (sizeof(BY_IDS_HEAD) + sizeof(VARIANTS_TAIL)) +
                             IN_MAX * (IN_MAX + 1) * 3)];
static const char *variants_sql[IN_MAX + 1];
static const char *by_ids_sql[IN_MAX + 1];
static pthread_once_t in_sql_once = PTHREAD_ONCE_INIT;

static char *append(char *p, const char *s)
{
    size_t n = strlen(s);
    memcpy(p, s, n + 1);
    return p + n;
}

static const char *build_in_sql(char **pool, const char *head, const char *tail, size_t n)
{
    char *start = *pool, *p = append(start, head);
    for (size_t i = 0; i < n; i++)
        p = append(p, i ? ", ?" : "?");
    p = append(p, tail);
    *pool = p + 1;
    return start;
}

static void build_in_sqls(void)
{
    char *pool = in_sql_pool;
    for (size_t n = 1; n <= IN_MAX; n++) {
        variants_sql[n] = build_in_sql(&pool, VARIANTS_HEAD, VARIANTS_TAIL, n);
        by_ids_sql[n] = build_in_sql(&pool, BY_IDS_HEAD, BY_IDS_TAIL, n);
    }
}

/* ---- products ---- */

void catalog_read_product_own(struct ctx *ctx, struct db_res *res, struct product *p)
{
    memset(p, 0, sizeof(*p));
    p->id = db_col_int(res, 0);
    p->name = catalog_col_text(ctx, res, 1);
    p->slug = catalog_col_text(ctx, res, 2);
    p->description = catalog_col_text(ctx, res, 3);
    p->tags = catalog_col_json_strings(ctx, res, 4, &p->n_tags);
    p->image_urls = catalog_col_json_strings(ctx, res, 5, &p->n_image_urls);
    p->image = catalog_col_text_or_null(ctx, res, 6);
    p->is_active = db_col_bool(res, 7);
    p->created_at = db_col_int(res, 8);
    p->updated_at = db_col_int(res, 9);
}

void catalog_read_product(struct ctx *ctx, struct db_res *res, struct product *p)
{
    catalog_read_product_own(ctx, res, p);
    catalog_read_category(ctx, res, PRODUCT_NCOLS, &p->category);
}

struct id_index {
    int64_t id;
    size_t index;
};

static int id_index_cmp(const void *a, const void *b)
{
    int64_t x = ((const struct id_index *)a)->id, y = ((const struct id_index *)b)->id;
    return (x > y) - (x < y);
}

static struct product *find_product(struct id_index *map, size_t n, struct product *items,
                                    int64_t id)
{
    struct id_index key = {id, 0};
    struct id_index *hit = bsearch(&key, map, n, sizeof(*map), id_index_cmp);
    return hit ? &items[hit->index] : NULL;
}

/* Reads the variants of items[0..n) with one query per IN_MAX products and
 * sets variants, inventory (sum) and price_minor (lowest) on each. */
static int load_variants(struct ctx *ctx, struct product *items, size_t n)
{
    pthread_once(&in_sql_once, build_in_sqls);
    for (size_t i = 0; i < n; i++) {
        items[i].variants = NULL;
        items[i].n_variants = 0;
        items[i].inventory = 0;
        items[i].price_minor = 0;
    }
    for (size_t start = 0; start < n; start += IN_MAX) {
        size_t k = n - start < IN_MAX ? n - start : IN_MAX;
        struct product *chunk = items + start;
        struct db_param *params = arena_alloc(ctx->arena, k * sizeof(*params));
        struct id_index *map = arena_alloc(ctx->arena, k * sizeof(*map));
        for (size_t i = 0; i < k; i++) {
            params[i] = DB_INT(chunk[i].id);
            map[i] = (struct id_index){chunk[i].id, i};
        }
        qsort(map, k, sizeof(*map), id_index_cmp);

        struct db_res *res;
        if (db_query(ctx->db, variants_sql[k], params, k, &res) != DB_OK)
            return SHOP_EDB;
        /* Rows come grouped by product, each group in position order, so a
         * product's variants are one run of the array. */
        size_t cap = 4 * k, count = 0;
        struct variant *v = arena_alloc(ctx->arena, cap * sizeof(*v));
        struct product *cur = NULL;
        int64_t cur_id = 0;
        size_t run_start = 0;
        int rc;
        while ((rc = db_next(res)) == DB_ROW) {
            if (count == cap) {
                struct variant *bigger = arena_alloc(ctx->arena, 2 * cap * sizeof(*bigger));
                memcpy(bigger, v, cap * sizeof(*v));
                /* re-point the runs already assigned */
                for (size_t i = 0; i < k; i++)
                    if (chunk[i].variants != NULL)
                        chunk[i].variants = bigger + (chunk[i].variants - v);
                v = bigger;
                cap *= 2;
            }
            int64_t pid = db_col_int(res, 0);
            if (cur == NULL || pid != cur_id) {
                cur = find_product(map, k, chunk, pid);
                cur_id = pid;
                run_start = count;
                if (cur != NULL) {
                    cur->variants = v + run_start;
                    cur->n_variants = 0;
                }
            }
            if (cur == NULL)
                continue;
            v[count] = (struct variant){.id = db_col_int(res, 1),
                                        .price_minor = db_col_int(res, 2),
                                        .weight = catalog_col_text(ctx, res, 3),
                                        .inventory = db_col_int(res, 4)};
            cur->n_variants++;
            if (cur->n_variants == 1 || v[count].price_minor < cur->price_minor)
                cur->price_minor = v[count].price_minor;
            cur->inventory += v[count].inventory;
            count++;
        }
        db_res_close(res);
        if (rc != DB_DONE)
            return SHOP_EDB;
    }
    return SHOP_OK;
}

/* Reads rows of PRODUCT_COLUMNS into an arena array (at most cap rows are
 * expected; more are taken too). */
static int read_products(struct ctx *ctx, struct db_res *res, size_t cap, struct product **items,
                         size_t *n)
{
    int rc;
    if (cap == 0)
        cap = 1;
    *items = arena_alloc(ctx->arena, cap * sizeof(**items));
    *n = 0;
    while ((rc = db_next(res)) == DB_ROW) {
        if (*n == cap) {
            struct product *bigger = arena_alloc(ctx->arena, 2 * cap * sizeof(*bigger));
            memcpy(bigger, *items, cap * sizeof(*bigger));
            *items = bigger;
            cap *= 2;
        }
        catalog_read_product(ctx, res, &(*items)[(*n)++]);
    }
    db_res_close(res);
    return rc == DB_DONE ? SHOP_OK : SHOP_EDB;
}

/* The products of ids[0..n) in that order (missing ones are skipped), with
 * their variants: one query per IN_MAX ids, then one for the variants. */
static int products_by_ids(struct ctx *ctx, const int64_t *ids, size_t n, struct product_list *out)
{
    pthread_once(&in_sql_once, build_in_sqls);
    out->items = arena_alloc(ctx->arena, (n ? n : 1) * sizeof(*out->items));
    out->n = 0;
    struct product *found = arena_alloc(ctx->arena, (n ? n : 1) * sizeof(*found));
    size_t n_found = 0;
    for (size_t start = 0; start < n; start += IN_MAX) {
        size_t k = n - start < IN_MAX ? n - start : IN_MAX;
        struct db_param *params = arena_alloc(ctx->arena, k * sizeof(*params));
        for (size_t i = 0; i < k; i++)
            params[i] = DB_INT(ids[start + i]);
        struct db_res *res;
        if (db_query(ctx->db, by_ids_sql[k], params, k, &res) != DB_OK)
            return SHOP_EDB;
        struct product *chunk;
        size_t got;
        if (read_products(ctx, res, k, &chunk, &got) != SHOP_OK)
            return SHOP_EDB;
        for (size_t i = 0; i < got && n_found < n; i++)
            found[n_found++] = chunk[i];
    }
    struct id_index *map = arena_alloc(ctx->arena, (n_found ? n_found : 1) * sizeof(*map));
    for (size_t i = 0; i < n_found; i++)
        map[i] = (struct id_index){found[i].id, i};
    qsort(map, n_found, sizeof(*map), id_index_cmp);
    for (size_t i = 0; i < n; i++) {
        struct product *p = find_product(map, n_found, found, ids[i]);
        if (p != NULL)
            out->items[out->n++] = *p;
    }
    return load_variants(ctx, out->items, out->n);
}

/* One product (any state) with its variants. */
static int product_read(struct ctx *ctx, int64_t id, struct product *out)
{
    struct db_res *res;
    if (db_query(ctx->db, "SELECT " PRODUCT_COLUMNS PRODUCT_FROM " WHERE p.id = ?",
                 DB_PARAMS(DB_INT(id)), &res) != DB_OK)
        return SHOP_EDB;
    int rc = db_next(res);
    if (rc == DB_ROW)
        catalog_read_product(ctx, res, out);
    db_res_close(res);
    if (rc != DB_ROW)
        return rc == DB_DONE ? SHOP_ENOTFOUND : SHOP_EDB;
    return load_variants(ctx, out, 1);
}

int catalog_product_get(struct ctx *ctx, int64_t id, bool include_inactive, struct product *out)
{
    int rc = product_read(ctx, id, out);
    if (rc == SHOP_OK && !include_inactive && !out->is_active)
        return SHOP_ENOTFOUND;
    return rc;
}

int catalog_products_by_ids(struct ctx *ctx, const int64_t *ids, size_t n,
                            struct product_list *out)
{
    int rc = products_by_ids(ctx, ids, n, out);
    out->count = (int64_t)out->n;
    return rc;
}

/* The input with its text trimmed and validated. */
struct product_fields {
    const char *name;
    const char *description;
    const char **tags;
    ssize_t n_tags;
};

static bool product_validate(struct ctx *ctx, const struct product_input *in, bool create,
                             struct errors *err, struct product_fields *f)
{
    int before = err->count;
    f->name = trimmed(ctx, in->name);
    f->description = trimmed(ctx, in->description);
    check_name(err, f->name, create);
    check_text(err, "description", f->description, DESCRIPTION_MAX_CHARS);
    if (create && !in->has_category)
        errors_add(err, "category", msg_required);
    f->n_tags = in->n_tags;
    f->tags = check_tags(ctx, err, in->tags, in->n_tags);
    check_image_urls(err, in->image_urls, in->n_image_urls);
    if (in->has_image && in->image != NULL && strlen(in->image) > IMAGE_URL_MAX_CHARS)
        errors_add(err, "image", "Enter a valid image.");
    check_variants(err, in->variants, in->n_variants, create);
    return err->count == before;
}

/* The references and unique values of a product write: the category exists
 * (SHOP_EINVAL otherwise), the name is free (SHOP_ECONFLICT otherwise). */
static int product_check(struct ctx *ctx, const struct product_fields *f,
                         const struct product_input *in, int64_t exclude_id, struct errors *err)
{
    int64_t one;
    int rc;
    bool invalid = false, taken = false;
    if (in->has_category) {
        /* FOR SHARE would be the lock here on PostgreSQL; the foreign key
         * takes it at the INSERT anyway, and refuses a deleted category. */
        rc = db_query_int(ctx->db, "SELECT 1 FROM categories WHERE id = ?",
                          DB_PARAMS(DB_INT(in->category_id)), &one);
        if (rc != DB_ROW && rc != DB_DONE)
            return SHOP_EDB;
        if (rc == DB_DONE) {
            errors_add(err, "category",
                       arena_sprintf(ctx->arena, "Invalid pk \"%lld\" - object does not exist.",
                                     (long long)in->category_id));
            invalid = true;
        }
    }
    if (f->name != NULL) {
        rc = db_query_int(ctx->db,
                          "SELECT 1 FROM products WHERE lower(name) = lower(?) AND id <> ?",
                          DB_PARAMS(DB_TEXT(f->name), DB_INT(exclude_id)), &one);
        if (rc != DB_ROW && rc != DB_DONE)
            return SHOP_EDB;
        if (rc == DB_ROW) {
            errors_add(err, "name", "product with this name already exists.");
            taken = true;
        }
    }
    return invalid ? SHOP_EINVAL : taken ? SHOP_ECONFLICT : SHOP_OK;
}

/* Inserts v[from..to). A new product's variants take positions 0, 1, ...;
 * on update they go after the product's last position, wherever that is. */
static int insert_variants(struct ctx *ctx, int64_t product_id, const struct variant_input *v,
                           size_t from, size_t to, bool is_new)
{
    for (size_t i = from; i < to; i++) {
        const char *weight = v[i].weight ? v[i].weight : "";
        int rc;
        if (is_new)
            rc = db_exec(ctx->db,
                         "INSERT INTO product_variants (product_id, position, price_minor, "
                         "weight, inventory) VALUES (?, ?, ?, ?, ?)",
                         DB_PARAMS(DB_INT(product_id), DB_INT(i), DB_INT(v[i].price_minor),
                                   DB_TEXT(weight), DB_INT(v[i].inventory)),
                         NULL);
        else
            rc = db_exec(ctx->db,
                         "INSERT INTO product_variants (product_id, position, price_minor, "
                         "weight, inventory) VALUES (?, (SELECT COALESCE(MAX(position), -1) + 1 "
                         "FROM product_variants WHERE product_id = ?), ?, ?, ?)",
                         DB_PARAMS(DB_INT(product_id), DB_INT(product_id),
                                   DB_INT(v[i].price_minor), DB_TEXT(weight),
                                   DB_INT(v[i].inventory)),
                         NULL);
        if (rc != DB_OK)
            return write_failed(rc);
    }
    return SHOP_OK;
}

struct product_write {
    int64_t id;
    const struct product_fields *f;
    const struct product_input *in;
    struct errors *err;
    struct product *out;
    const char *old_image;
};

static int do_product_create(struct ctx *ctx, void *arg)
{
    struct product_write *w = arg;
    const struct product_fields *f = w->f;
    const struct product_input *in = w->in;
    int rc = product_check(ctx, f, in, 0, w->err);
    if (rc != SHOP_OK)
        return rc;
    const char *slug;
    if ((rc = unique_slug(ctx, product_slug_sql, slugify(ctx, f->name), 0, &slug)) != SHOP_OK)
        return rc;
    int64_t id = 0;
    int dbrc = db_query_int(
        ctx->db,
        "INSERT INTO products (name, slug, description, category_id, tags, image_urls, image, "
        "is_active, created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?) RETURNING id",
        DB_PARAMS(DB_TEXT(f->name), DB_TEXT(slug), DB_TEXT(f->description ? f->description : ""),
                  DB_INT(in->category_id),
                  DB_TEXT(json_text(ctx, f->tags, f->n_tags > 0 ? (size_t)f->n_tags : 0)),
                  DB_TEXT(json_text(ctx, in->image_urls,
                                    in->n_image_urls > 0 ? (size_t)in->n_image_urls : 0)),
                  DB_TEXT(in->has_image ? image_value(in->image) : NULL),
                  DB_BOOL(in->has_active ? in->is_active : true), DB_INT(ctx->now),
                  DB_INT(ctx->now)),
        &id);
    if (dbrc != DB_ROW)
        return write_failed(dbrc);
    if ((rc = insert_variants(ctx, id, in->variants, 0, (size_t)in->n_variants, true)) != SHOP_OK)
        return rc;
    if (w->out == NULL) /* the caller (a bulk import) needs no read-back */
        return SHOP_OK;
    return product_read(ctx, id, w->out);
}

/* Statuses: validation errors SHOP_EINVAL, a taken name alone SHOP_ECONFLICT.
 * out may be NULL: the product is then not read back (bulk imports). */
int catalog_product_create(struct ctx *ctx, const struct product_input *in, struct errors *err,
                           struct product *out)
{
    struct product_fields f;
    if (!product_validate(ctx, in, true, err, &f))
        return SHOP_EINVAL;
    struct product_write w = {.f = &f, .in = in, .err = err, .out = out};
    bool committed;
    return write_tx(ctx, err, do_product_create, &w, &committed);
}

static int do_product_update(struct ctx *ctx, void *arg)
{
    struct product_write *w = arg;
    const struct product_fields *f = w->f;
    const struct product_input *in = w->in;
    int64_t one;
    int rc;
    if (db_kind(ctx->db) == DB_POSTGRES) {
        rc = db_query_int(ctx->db, "SELECT 1 FROM products WHERE id = ? FOR UPDATE",
                          DB_PARAMS(DB_INT(w->id)), &one);
        if (rc != DB_ROW)
            return rc == DB_DONE ? SHOP_ENOTFOUND : SHOP_EDB;
    }
    struct product cur;
    if ((rc = product_read(ctx, w->id, &cur)) != SHOP_OK)
        return rc;
    w->old_image = cur.image;
    if ((rc = product_check(ctx, f, in, w->id, w->err)) != SHOP_OK)
        return rc;
    const char *name = f->name ? f->name : cur.name;
    const char *slug = cur.slug;
    const char *base = slugify(ctx, name);
    if (f->name != NULL && strcmp(base, slugify(ctx, cur.name)) != 0 &&
        (rc = unique_slug(ctx, product_slug_sql, base, w->id, &slug)) != SHOP_OK)
        return rc;
    const char *tags = f->n_tags >= 0 ? json_text(ctx, f->tags, (size_t)f->n_tags)
                                      : json_text(ctx, cur.tags, cur.n_tags);
    const char *image_urls =
        in->n_image_urls >= 0 ? json_text(ctx, in->image_urls, (size_t)in->n_image_urls)
                              : json_text(ctx, cur.image_urls, cur.n_image_urls);
    int dbrc = db_exec(
        ctx->db,
        "UPDATE products SET name = ?, slug = ?, description = ?, category_id = ?, tags = ?, "
        "image_urls = ?, image = ?, is_active = ?, updated_at = ? WHERE id = ?",
        DB_PARAMS(DB_TEXT(name), DB_TEXT(slug),
                  DB_TEXT(f->description ? f->description : cur.description),
                  DB_INT(in->has_category ? in->category_id : cur.category.id), DB_TEXT(tags),
                  DB_TEXT(image_urls),
                  DB_TEXT(in->has_image ? image_value(in->image) : cur.image),
                  DB_BOOL(in->has_active ? in->is_active : cur.is_active), DB_INT(ctx->now),
                  DB_INT(w->id)),
        NULL);
    if (dbrc != DB_OK)
        return write_failed(dbrc);

    if (in->n_variants >= 0) {
        /* Position by position: the kept positions keep their variant ids,
         * surplus ones go, new ones are appended. */
        size_t n_new = (size_t)in->n_variants, n_old = cur.n_variants;
        size_t keep = n_new < n_old ? n_new : n_old;
        for (size_t i = 0; i < keep; i++) {
            const struct variant_input *v = &in->variants[i];
            dbrc = db_exec(ctx->db,
                           "UPDATE product_variants SET price_minor = ?, weight = ?, inventory = "
                           "? WHERE id = ?",
                           DB_PARAMS(DB_INT(v->price_minor), DB_TEXT(v->weight ? v->weight : ""),
                                     DB_INT(v->inventory), DB_INT(cur.variants[i].id)),
                           NULL);
            if (dbrc != DB_OK)
                return write_failed(dbrc);
        }
        for (size_t i = keep; i < n_old; i++) {
            dbrc = db_exec(ctx->db, "DELETE FROM product_variants WHERE id = ?",
                           DB_PARAMS(DB_INT(cur.variants[i].id)), NULL);
            if (dbrc == DB_ECONSTRAINT) { /* rows elsewhere (orders) still refer to it */
                errors_add(w->err, "price_weights",
                           "A price-weight that orders refer to cannot be removed.");
                return SHOP_ECONFLICT;
            }
            if (dbrc != DB_OK)
                return SHOP_EDB;
        }
        if ((rc = insert_variants(ctx, w->id, in->variants, keep, n_new, false)) != SHOP_OK)
            return rc;
    }
    return product_read(ctx, w->id, w->out);
}

int catalog_product_update(struct ctx *ctx, int64_t id, const struct product_input *in,
                           struct errors *err, struct product *out)
{
    struct product_fields f;
    if (!product_validate(ctx, in, false, err, &f))
        return SHOP_EINVAL;
    struct product scratch;
    struct product_write w = {
        .id = id, .f = &f, .in = in, .err = err, .out = out ? out : &scratch};
    bool committed;
    int rc = write_tx(ctx, err, do_product_update, &w, &committed);
    if (committed)
        remove_replaced(ctx, w.old_image, w.out->image);
    return rc;
}

struct product_delete {
    int64_t id;
    const char *old_image;
};

static int do_product_delete(struct ctx *ctx, void *arg)
{
    struct product_delete *d = arg;
    struct db_res *res;
    /* RETURNING hands back the image to remove once committed. */
    int rc = db_query(ctx->db, "DELETE FROM products WHERE id = ? RETURNING image",
                      DB_PARAMS(DB_INT(d->id)), &res);
    if (rc != DB_OK)
        return rc == DB_ECONSTRAINT ? SHOP_ECONFLICT : SHOP_EDB;
    rc = db_next(res);
    if (rc == DB_ROW)
        d->old_image = catalog_col_text_or_null(ctx, res, 0);
    db_res_close(res);
    if (rc == DB_ROW)
        return SHOP_OK;
    if (rc == DB_DONE)
        return SHOP_ENOTFOUND;
    /* Rows that still refer to the product (orders) refuse its deletion. */
    return rc == DB_ECONSTRAINT ? SHOP_ECONFLICT : SHOP_EDB;
}

int catalog_product_delete(struct ctx *ctx, int64_t id)
{
    struct product_delete d = {.id = id};
    bool committed;
    int rc = write_tx(ctx, NULL, do_product_delete, &d, &committed);
    if (committed)
        remove_replaced(ctx, d.old_image, NULL);
    return rc;
}

/* ---- lists ---- */

/*
 * A page is read with two queries whatever its size: the ids of the page
 * from the listing's index alone ("ids"), then the rows of that id range
 * with their category and variants joined ("rows"), in index order, so
 * neither query sorts and no row is read twice. For page 1 the ids query
 * steps over 20 index entries; for a deep page it would step over every
 * entry before the page (OFFSET), which the anchors below make short.
 */
#define FILTER_ACTIVE "is_active = ? AND "
#define FILTER_ACTIVE_CATEGORY "category_id = ? AND is_active = ? AND "
#define FILTER_CATEGORY "category_id = ? AND "

#define IDS_SQL(filter) \
    "SELECT id FROM products WHERE " filter "id <= ? ORDER BY id DESC LIMIT ? OFFSET ?"
#define ROWS_SQL(filter)                                                                      \
    "SELECT " PRODUCT_COLUMNS ", v.id, v.price_minor, v.weight, v.inventory" PRODUCT_FROM     \
    " LEFT JOIN product_variants v ON v.product_id = p.id WHERE " filter                      \
    "p.id BETWEEN ? AND ? ORDER BY p.id DESC, v.position"
#define ANCHOR_CHECK_SQL(filter) "SELECT 1 FROM products WHERE " filter "id = ?"

/* [include_inactive][has category] */
static const char *const ids_sql[2][2] = {
    {IDS_SQL(FILTER_ACTIVE), IDS_SQL(FILTER_ACTIVE_CATEGORY)},
    {IDS_SQL(""), IDS_SQL(FILTER_CATEGORY)},
};
static const char *const rows_sql[2][2] = {
    {ROWS_SQL("p.is_active = ? AND "), ROWS_SQL("p.category_id = ? AND p.is_active = ? AND ")},
    {ROWS_SQL(""), ROWS_SQL("p.category_id = ? AND ")},
};
static const char *const anchor_check_sql[2][2] = {
    {ANCHOR_CHECK_SQL(FILTER_ACTIVE), ANCHOR_CHECK_SQL(FILTER_ACTIVE_CATEGORY)},
    {ANCHOR_CHECK_SQL(""), ANCHOR_CHECK_SQL(FILTER_CATEGORY)},
};

/* The parameters of a listing's filter followed by extra ones; *n set. */
static size_t filter_params(int64_t category_id, bool include_inactive, struct db_param *p)
{
    size_t n = 0;
    if (category_id != 0)
        p[n++] = DB_INT(category_id);
    if (!include_inactive)
        p[n++] = DB_BOOL(true);
    return n;
}

/*
 * Anchors: for each listing filter (category or none, active only or not),
 * the id found at every ANCHOR_STEP-th position, so that page N starts from
 * the nearest anchor at or before it ("id <= anchor ... OFFSET short")
 * instead of stepping over every index entry before it. Filled lazily, each
 * from the one before, and shared by the threads of the process under
 * anchor_lock (the database is never queried while holding it).
 *
 * An anchor set serves only while all of these hold, otherwise it is
 * dropped and rebuilt:
 *  - catalog_epoch is what it was when the set was filled: every catalogue
 *    write of this process goes through write_tx, which bumps the epoch
 *    before it begins and after it ends;
 *  - the listing's count and the highest product id are the set's: a
 *    write by another process (a second server on PostgreSQL, an
 *    import-products run, a test's SQL) that inserts, deletes or
 *    (de)activates products changes one of them;
 *  - the anchor used still exists and still matches the filter (one
 *    primary-key read);
 *  - it is younger than ANCHOR_TTL_MS: what the checks above cannot see
 *    (another process deactivating one product above an anchor and
 *    activating another below it, between two of our requests) lasts that
 *    long at most.
 * Memory is bounded: ANCHOR_SLOTS filters (direct-mapped, a new filter
 * replaces the one in its slot), ANCHORS_MAX anchors each (positions up to
 * ANCHOR_STEP * ANCHORS_MAX; deeper pages walk from the last anchor).
 */
#define ANCHOR_STEP 1024
#define ANCHOR_SLOTS 64
#define ANCHORS_MAX 4096
#define ANCHOR_TTL_MS 1000

struct anchor_set {
    bool used;
    int64_t category_id;
    bool include_inactive;
    uint64_t epoch;
    int64_t count, max_id;
    int64_t born_ms;
    size_t n;     /* ids[k]: the id at position (k + 1) * ANCHOR_STEP */
    int64_t *ids; /* ANCHORS_MAX, allocated on first use */
};

static pthread_mutex_t anchor_lock = PTHREAD_MUTEX_INITIALIZER;
static struct anchor_set anchor_sets[ANCHOR_SLOTS];
static _Atomic uint64_t catalog_epoch;

void catalog_changed(void)
{
    atomic_fetch_add(&catalog_epoch, 1);
}

static int64_t monotonic_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static struct anchor_set *anchor_slot(int64_t category_id, bool include_inactive)
{
    uint64_t h = (uint64_t)category_id * 2 + (include_inactive ? 1 : 0);
    return &anchor_sets[(h * 0x9E3779B97F4A7C15ull >> 32) % ANCHOR_SLOTS];
}

/* The state a set must match to serve. */
struct anchor_key {
    int64_t category_id;
    bool include_inactive;
    uint64_t epoch;
    int64_t count, max_id;
};

static bool anchor_set_matches(const struct anchor_set *s, const struct anchor_key *k,
                               int64_t now_ms)
{
    return s->used && s->category_id == k->category_id &&
           s->include_inactive == k->include_inactive && s->epoch == k->epoch &&
           s->count == k->count && s->max_id == k->max_id && now_ms - s->born_ms < ANCHOR_TTL_MS;
}

/* The nearest anchor at or before position want: *pos and *id (0 and
 * INT64_MAX, the top of the listing, when none is known). */
static void anchor_find(const struct anchor_key *k, int64_t want, int64_t *pos, int64_t *id)
{
    *pos = 0;
    *id = INT64_MAX;
    int64_t now_ms = monotonic_ms();
    pthread_mutex_lock(&anchor_lock);
    struct anchor_set *s = anchor_slot(k->category_id, k->include_inactive);
    if (anchor_set_matches(s, k, now_ms)) {
        size_t j = (size_t)(want / ANCHOR_STEP);
        if (j > s->n)
            j = s->n;
        if (j > 0) {
            *pos = (int64_t)j * ANCHOR_STEP;
            *id = s->ids[j - 1];
        }
    }
    pthread_mutex_unlock(&anchor_lock);
}

/* Forgets the set of a filter (its anchor failed the check). */
static void anchor_drop(const struct anchor_key *k)
{
    pthread_mutex_lock(&anchor_lock);
    struct anchor_set *s = anchor_slot(k->category_id, k->include_inactive);
    if (s->used && s->category_id == k->category_id && s->include_inactive == k->include_inactive)
        s->used = false;
    pthread_mutex_unlock(&anchor_lock);
}

/* Records ids[0..n), the anchors found after position from (a multiple of
 * ANCHOR_STEP), unless the catalogue changed since k was taken. */
static void anchor_store(const struct anchor_key *k, int64_t from, const int64_t *ids, size_t n)
{
    int64_t now_ms = monotonic_ms();
    size_t first = (size_t)(from / ANCHOR_STEP); /* index of ids[0] in the set */
    pthread_mutex_lock(&anchor_lock);
    struct anchor_set *s = anchor_slot(k->category_id, k->include_inactive);
    if (atomic_load(&catalog_epoch) != k->epoch)
        goto out;
    if (!anchor_set_matches(s, k, now_ms)) {
        if (first != 0)
            goto out; /* the anchors before these are gone meanwhile */
        if (s->ids == NULL && (s->ids = malloc(ANCHORS_MAX * sizeof(*s->ids))) == NULL)
            goto out;
        s->used = true;
        s->category_id = k->category_id;
        s->include_inactive = k->include_inactive;
        s->epoch = k->epoch;
        s->count = k->count;
        s->max_id = k->max_id;
        s->born_ms = now_ms;
        s->n = 0;
    }
    if (first > s->n) /* a gap: keep the set contiguous */
        goto out;
    for (size_t i = first; i - first < n && i < ANCHORS_MAX; i++)
        s->ids[i] = ids[i - first];
    if (first + n > s->n)
        s->n = first + n < ANCHORS_MAX ? first + n : ANCHORS_MAX;
out:
    pthread_mutex_unlock(&anchor_lock);
}

/* The first id of the page at offset for a deep page: from the nearest
 * anchor, filling the anchors between it and the page on the way.
 * *start_id and *start_pos: where the ids query starts (id <= start_id,
 * OFFSET offset - start_pos). */
static int anchor_start(struct ctx *ctx, int64_t category_id, bool include_inactive,
                        int64_t count, int64_t offset, int64_t *start_pos, int64_t *start_id)
{
    struct anchor_key k = {.category_id = category_id,
                           .include_inactive = include_inactive,
                           .epoch = atomic_load(&catalog_epoch),
                           .count = count};
    *start_pos = 0;
    *start_id = INT64_MAX;
    if (db_query_int(ctx->db, "SELECT COALESCE(MAX(id), 0) FROM products", DB_NO_PARAMS,
                     &k.max_id) != DB_ROW)
        return SHOP_EDB;
    int64_t pos, id;
    anchor_find(&k, offset, &pos, &id);
    const int ii = include_inactive ? 1 : 0, hc = category_id != 0 ? 1 : 0;
    struct db_param params[5];
    size_t np;
    if (pos > 0) {
        np = filter_params(category_id, include_inactive, params);
        params[np++] = DB_INT(id);
        int64_t one;
        int rc = db_query_int(ctx->db, anchor_check_sql[ii][hc], params, np, &one);
        if (rc == DB_DONE) {
            anchor_drop(&k);
            pos = 0;
            id = INT64_MAX;
        } else if (rc != DB_ROW) {
            return SHOP_EDB;
        }
    }
    /* Walk anchor to anchor up to the page. */
    int64_t want = offset / ANCHOR_STEP * ANCHOR_STEP;
    if (want > (int64_t)ANCHORS_MAX * ANCHOR_STEP)
        want = (int64_t)ANCHORS_MAX * ANCHOR_STEP;
    size_t n_new = 0, cap = (size_t)((want - pos) / ANCHOR_STEP);
    int64_t *found = cap ? arena_alloc(ctx->arena, cap * sizeof(*found)) : NULL;
    int64_t from = pos;
    while (pos < want) {
        np = filter_params(category_id, include_inactive, params);
        params[np++] = DB_INT(id);
        params[np++] = DB_INT(1);
        params[np++] = DB_INT(ANCHOR_STEP);
        int64_t next;
        int rc = db_query_int(ctx->db, ids_sql[ii][hc], params, np, &next);
        if (rc == DB_DONE)
            break; /* the listing ended before the page (rows went meanwhile) */
        if (rc != DB_ROW)
            return SHOP_EDB;
        pos += ANCHOR_STEP;
        id = next;
        found[n_new++] = next;
    }
    if (n_new > 0)
        anchor_store(&k, from, found, n_new);
    *start_pos = pos;
    *start_id = id;
    return SHOP_OK;
}

/* Reads the rows query's rows (one per variant, grouped by product) into
 * out->items, at most limit products. */
static int read_page_rows(struct ctx *ctx, struct db_res *res, size_t limit,
                          struct product_list *out)
{
    struct product *items = arena_alloc(ctx->arena, (limit ? limit : 1) * sizeof(*items));
    size_t *first_variant = arena_alloc(ctx->arena, (limit ? limit : 1) * sizeof(*first_variant));
    size_t cap = limit ? limit : 1, count = 0, n = 0;
    struct variant *v = arena_alloc(ctx->arena, cap * sizeof(*v));
    struct product *cur = NULL;
    int rc;
    while ((rc = db_next(res)) == DB_ROW) {
        int64_t pid = db_col_int(res, 0);
        if (cur == NULL || cur->id != pid) {
            if (n == limit)
                continue; /* rows added meanwhile: the page is full */
            cur = &items[n];
            catalog_read_product(ctx, res, cur);
            first_variant[n++] = count;
        }
        if (db_col_is_null(res, PRODUCT_NCOLS + CATEGORY_NCOLS))
            continue; /* a product without variants */
        if (count == cap) {
            struct variant *bigger = arena_alloc(ctx->arena, 2 * cap * sizeof(*bigger));
            memcpy(bigger, v, cap * sizeof(*v));
            v = bigger;
            cap *= 2;
        }
        const int at = PRODUCT_NCOLS + CATEGORY_NCOLS;
        v[count] = (struct variant){.id = db_col_int(res, at),
                                    .price_minor = db_col_int(res, at + 1),
                                    .weight = catalog_col_text(ctx, res, at + 2),
                                    .inventory = db_col_int(res, at + 3)};
        if (cur->n_variants == 0 || v[count].price_minor < cur->price_minor)
            cur->price_minor = v[count].price_minor;
        cur->n_variants++;
        cur->inventory += v[count].inventory;
        count++;
    }
    db_res_close(res);
    if (rc != DB_DONE)
        return SHOP_EDB;
    for (size_t i = 0; i < n; i++)
        items[i].variants = items[i].n_variants ? v + first_variant[i] : NULL;
    out->items = items;
    out->n = n;
    return SHOP_OK;
}

static int list_page(struct ctx *ctx, int64_t category_id, bool include_inactive, int64_t offset,
                     int64_t limit, int64_t count, struct product_list *out)
{
    const int ii = include_inactive ? 1 : 0, hc = category_id != 0 ? 1 : 0;
    int64_t start_pos = 0, start_id = INT64_MAX;
    if (offset >= ANCHOR_STEP) {
        int rc = anchor_start(ctx, category_id, include_inactive, count, offset, &start_pos,
                              &start_id);
        if (rc != SHOP_OK)
            return rc;
    }
    struct db_param params[6];
    size_t np = filter_params(category_id, include_inactive, params);
    params[np++] = DB_INT(start_id);
    params[np++] = DB_INT(limit);
    params[np++] = DB_INT(offset - start_pos);
    struct db_res *res;
    if (db_query(ctx->db, ids_sql[ii][hc], params, np, &res) != DB_OK)
        return SHOP_EDB;
    int64_t hi = 0, lo = 0;
    size_t n_ids = 0;
    int rc;
    while ((rc = db_next(res)) == DB_ROW) {
        int64_t id = db_col_int(res, 0);
        if (n_ids++ == 0)
            hi = id;
        lo = id;
    }
    db_res_close(res);
    if (rc != DB_DONE)
        return SHOP_EDB;
    if (n_ids == 0) {
        out->items = arena_alloc(ctx->arena, sizeof(*out->items));
        out->n = 0;
        return SHOP_OK;
    }
    np = filter_params(category_id, include_inactive, params);
    params[np++] = DB_INT(lo);
    params[np++] = DB_INT(hi);
    if (db_query(ctx->db, rows_sql[ii][hc], params, np, &res) != DB_OK)
        return SHOP_EDB;
    return read_page_rows(ctx, res, n_ids, out);
}

/* The total of a listing without search: the trigger-kept count for public
 * listings, COUNT(*) for admin ones. */
static int list_count(struct ctx *ctx, int64_t category_id, bool include_inactive, int64_t *count)
{
    int rc;
    *count = 0;
    if (!include_inactive)
        rc = db_query_int(ctx->db, "SELECT active FROM product_counts WHERE category_id = ?",
                          DB_PARAMS(DB_INT(category_id)), count);
    else if (category_id == 0)
        rc = db_query_int(ctx->db, "SELECT count(*) FROM products", DB_NO_PARAMS, count);
    else
        rc = db_query_int(ctx->db, "SELECT count(*) FROM products WHERE category_id = ?",
                          DB_PARAMS(DB_INT(category_id)), count);
    return rc == DB_ROW || rc == DB_DONE ? SHOP_OK : SHOP_EDB;
}

int catalog_product_list(struct ctx *ctx, const struct product_query *q, struct product_list *out)
{
    memset(out, 0, sizeof(*out));
    int64_t offset = q->offset > 0 ? q->offset : 0;
    int64_t limit = q->limit;
    if (limit <= 0)
        limit = CATALOG_PAGE_SIZE_DEFAULT;
    if (limit > CATALOG_PAGE_SIZE_MAX)
        limit = CATALOG_PAGE_SIZE_MAX;
    int64_t category_id = q->category_id > 0 ? q->category_id : 0;

    struct str search = str_trim(str_from(q->search));
    if (search.n > 0) {
        int64_t *ids = NULL;
        size_t n = 0;
        int rc = search_product_ids(ctx, str_dup(ctx->arena, search), category_id,
                                    q->include_inactive, offset, limit, &ids, &n, &out->count);
        if (rc != SHOP_OK)
            return rc;
        int64_t count = out->count;
        rc = products_by_ids(ctx, ids, n, out);
        out->count = count;
        return rc;
    }
    int rc = list_count(ctx, category_id, q->include_inactive, &out->count);
    if (rc != SHOP_OK)
        return rc;
    if (offset >= out->count) { /* past the end: no page query needed */
        out->items = arena_alloc(ctx->arena, sizeof(*out->items));
        return SHOP_OK;
    }
    return list_page(ctx, category_id, q->include_inactive, offset, limit, out->count, out);
}

int catalog_category_products(struct ctx *ctx, int64_t category_id, int64_t limit,
                              struct product_list *out)
{
    memset(out, 0, sizeof(*out));
    if (limit <= 0)
        limit = CATALOG_PAGE_SIZE_DEFAULT;
    int rc = list_count(ctx, category_id, false, &out->count);
    if (rc != SHOP_OK)
        return rc;
    return list_page(ctx, category_id, false, 0, limit, out->count, out);
}

/* ---- page cache ---- */

/*
 * The serialized rows of recent listing pages (catalog.h, "listing page
 * cache"), direct-mapped by key: a new key replaces the entry in its slot.
 * An entry serves under the anchors' rules (same epoch, count and highest
 * id, younger than ANCHOR_TTL_MS). Its text is copied into the caller's
 * arena under page_lock, since another thread may refill the slot before
 * the reply is printed; the database is never queried while holding it.
 */
#define PAGE_CACHE_SLOTS 64
#define PAGE_CACHE_TEXT_MAX (64 * 1024)

struct page_entry {
    bool used;
    int tag;
    int64_t category_id, offset, limit;
    bool include_inactive;
    uint64_t epoch;
    int64_t count, max_id;
    int64_t born_ms;
    char *text; /* malloc'd, cap bytes */
    size_t len, cap;
};

static pthread_mutex_t page_lock = PTHREAD_MUTEX_INITIALIZER;
static struct page_entry page_entries[PAGE_CACHE_SLOTS];

static struct page_entry *page_slot(const struct catalog_page_cache *pc)
{
    uint64_t h = (uint64_t)pc->tag;
    h = h * 0x9E3779B97F4A7C15ull + (uint64_t)pc->category_id;
    h = h * 0x9E3779B97F4A7C15ull + (uint64_t)pc->offset;
    h = h * 0x9E3779B97F4A7C15ull + (uint64_t)pc->limit;
    h = h * 0x9E3779B97F4A7C15ull + (pc->include_inactive ? 1u : 0u);
    return &page_entries[(h >> 32) % PAGE_CACHE_SLOTS];
}

static bool page_entry_key_is(const struct page_entry *e, const struct catalog_page_cache *pc)
{
    return e->used && e->tag == pc->tag && e->category_id == pc->category_id &&
           e->offset == pc->offset && e->limit == pc->limit &&
           e->include_inactive == pc->include_inactive;
}

int catalog_page_cache_get(struct ctx *ctx, const struct product_query *q, int tag,
                           struct catalog_page_cache *pc)
{
    memset(pc, 0, sizeof(*pc));
    if (str_trim(str_from(q->search)).n > 0)
        return SHOP_OK; /* searches are not cached */
    /* the key as catalog_product_list normalizes it */
    pc->tag = tag;
    pc->offset = q->offset > 0 ? q->offset : 0;
    pc->limit = q->limit <= 0 ? CATALOG_PAGE_SIZE_DEFAULT
                : q->limit > CATALOG_PAGE_SIZE_MAX ? CATALOG_PAGE_SIZE_MAX
                                                   : q->limit;
    pc->category_id = q->category_id > 0 ? q->category_id : 0;
    pc->include_inactive = q->include_inactive;
    /* the epoch first: a write that begins after it invalidates what the
     * reads below and the caller's listing see */
    pc->epoch = atomic_load(&catalog_epoch);
    int rc = list_count(ctx, pc->category_id, pc->include_inactive, &pc->count);
    if (rc != SHOP_OK)
        return rc;
    if (db_query_int(ctx->db, "SELECT COALESCE(MAX(id), 0) FROM products", DB_NO_PARAMS,
                     &pc->max_id) != DB_ROW)
        return SHOP_EDB;
    pc->usable = true;

    int64_t now_ms = monotonic_ms();
    pthread_mutex_lock(&page_lock);
    struct page_entry *e = page_slot(pc);
    if (page_entry_key_is(e, pc) && e->epoch == pc->epoch && e->count == pc->count &&
        e->max_id == pc->max_id && now_ms - e->born_ms < ANCHOR_TTL_MS) {
        char *copy = arena_alloc(ctx->arena, e->len + 1);
        memcpy(copy, e->text, e->len);
        copy[e->len] = '\0';
        pc->text = copy;
        pc->len = e->len;
        pc->hit = true;
    }
    pthread_mutex_unlock(&page_lock);
    return SHOP_OK;
}

void catalog_page_cache_put(const struct catalog_page_cache *pc, int64_t count, const char *text,
                            size_t len)
{
    if (!pc->usable || pc->hit || count != pc->count || len > PAGE_CACHE_TEXT_MAX)
        return;
    int64_t now_ms = monotonic_ms();
    pthread_mutex_lock(&page_lock);
    if (atomic_load(&catalog_epoch) != pc->epoch)
        goto out; /* a write began since the get: the text may be stale */
    struct page_entry *e = page_slot(pc);
    if (e->cap < len) {
        char *bigger = realloc(e->text, len);
        if (bigger == NULL)
            goto out;
        e->text = bigger;
        e->cap = len;
    }
    memcpy(e->text, text, len);
    e->len = len;
    e->used = true;
    e->tag = pc->tag;
    e->category_id = pc->category_id;
    e->offset = pc->offset;
    e->limit = pc->limit;
    e->include_inactive = pc->include_inactive;
    e->epoch = pc->epoch;
    e->count = pc->count;
    e->max_id = pc->max_id;
    e->born_ms = now_ms;
out:
    pthread_mutex_unlock(&page_lock);
}
