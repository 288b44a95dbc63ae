/*
 * search.c - the unified search (see search.h) over the indexes of migration
 * 0004_search: FTS5 trigram tables on SQLite, pg_trgm GIN indexes on
 * PostgreSQL.
 *
 * Matching is a case-insensitive substring test of name, description and
 * tags. On SQLite a query of three characters or more is an FTS5 phrase
 * (the trigram tokenizer turns a phrase into "these trigrams, consecutive",
 * which is a substring match answered from the index); shorter queries have
 * no trigram and scan with LIKE, which stops at the first SEARCH_LIMIT hits
 * in id order. On PostgreSQL every query is lower(column) LIKE lower('%q%'),
 * which the GIN trigram indexes answer from three characters on; its
 * queries run in a transaction of their own with custom plans forced (see
 * pg_match_settings_sql), so the planner sees the term.
 *
 * Suggestions are chosen in two steps. The database proposes a bounded set
 * of candidate names sharing trigrams with the query (SQLite: an OR of the
 * query's trigrams over the names-only index, rarest trigrams first;
 * PostgreSQL: word_similarity through the %> operator, the scan stopped
 * after PG_CANDIDATE_SCAN hits), at most SUGGEST_CANDIDATES of them. They
 * are then ranked here, the same way on both backends, by a similarity that
 * tolerates typos, transposed and missing letters: pg_trgm's trigram
 * similarity and the Damerau-Levenshtein (optimal string alignment)
 * distance, each taken against the whole name and against every run of the
 * name's words as long as the query (give or take one word), so "lpatop" is
 * one edit from the word "laptop" in "Gaming Laptop 15". A name is kept when
 * some run is at least SIMILARITY_MIN similar by trigrams or one edit away;
 * the best come first.
 *
 * The answer cache (search.h) keeps surfaces' printed answers for a second,
 * validated like the catalogue's listing page cache; see "answer cache"
 * below and docs/search.md.
 *
 * Everything returned lives in ctx->arena.
 */
#include "core/search.h"

#include <json-c/json.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/catalog.h"
#include "core/catalog_rows.h"
#include "core/core.h"
#include "core/user.h"
#include "db/db.h"
#include "util/arena.h"
#include "util/config.h"
#include "util/log.h"
#include "util/str.h"

/* The trigram tokenizer finds nothing in a shorter phrase. */
#define TRIGRAM_MIN_CHARS 3
/* Candidate names the database proposes per kind, ranked here. */
#define SUGGEST_CANDIDATES 64
/* Suggestions are for typed words; longer queries get none (their trigram
 * OR and edit distances grow with the length). */
#define SUGGEST_MAX_CHARS 100
/* A candidate name is compared on its first NAME_MAX_CPS characters. */
#define NAME_MAX_CPS 256
#define SIMILARITY_MIN 0.3
/* The PostgreSQL candidate threshold (word_similarity): lower than
 * SIMILARITY_MIN, as one transposition near the start of a short word
 * leaves less than that ("lpatop" in "laptop": 0.29), and the final word is
 * the ranking here. */
#define PG_CANDIDATE_THRESHOLD "0.2"
/* The searches log keeps this much of a query. */
#define RECORD_MAX_CHARS 255

#define CATEGORY_COLUMNS_C CATALOG_CATEGORY_COLUMNS_C
#define PRODUCT_OWN_COLUMNS CATALOG_PRODUCT_OWN_COLUMNS
#define PRODUCT_COLUMNS CATALOG_PRODUCT_COLUMNS
#define PRODUCT_NCOLS CATALOG_PRODUCT_NCOLS /* the category's columns follow */
#define PRODUCT_FROM CATALOG_PRODUCT_FROM

/* Three ways to a substring match, one SQL text each:
 *   fts:  SQLite, three characters or more: FTS5 drives the join in rowid
 *         order, so a LIMIT stops it early however common the term;
 *   lite: SQLite, shorter: LIKE (ASCII case-insensitive by itself; lower()
 *         would cost a copy per row);
 *   pg:   PostgreSQL: lower(column) LIKE lower(pattern), the expression the
 *         GIN trigram indexes are built on.
 * LIKE patterns carry their own escape character, the same on both. */
#define LITE_LIKE(col) col " LIKE ? ESCAPE '\\'"
#define PG_LIKE(col) "lower(" col ") LIKE lower(?) ESCAPE '\\'"
#define PRODUCT_TEXT(like)                                                                    \
    "(" like("p.name") " OR " like("p.description") " OR " like("p.tags") ")"
#define CATEGORY_TEXT(like)                                                                   \
    "(" like("c.name") " OR " like("c.description") " OR " like("c.tags") ")"
#define CATEGORY_JOIN " JOIN categories c ON c.id = p.category_id"

/* ---- matching: SQL ---- */

static const char fts_products_sql[] =
    "SELECT " PRODUCT_COLUMNS " FROM products_fts f JOIN products p ON p.id = f.rowid" CATEGORY_JOIN
    " WHERE products_fts MATCH ? AND p.is_active ORDER BY f.rowid LIMIT ?";
static const char lite_products_sql[] =
    "SELECT " PRODUCT_COLUMNS PRODUCT_FROM " WHERE p.is_active AND " PRODUCT_TEXT(LITE_LIKE)
    " ORDER BY p.id LIMIT ?";
static const char pg_products_sql[] =
    "SELECT " PRODUCT_COLUMNS PRODUCT_FROM " WHERE p.is_active AND " PRODUCT_TEXT(PG_LIKE)
    " ORDER BY p.id LIMIT ?";

/* The categories carry their active product count (product_counts, kept by
 * triggers) after their own columns. */
#define CATEGORY_MATCH_COLUMNS                                                                \
    CATEGORY_COLUMNS_C ", (SELECT pc.active FROM product_counts pc WHERE pc.category_id = c.id)"
static const char fts_categories_sql[] =
    "SELECT " CATEGORY_MATCH_COLUMNS " FROM categories_fts f JOIN categories c ON c.id = f.rowid"
    " WHERE categories_fts MATCH ? ORDER BY f.rowid LIMIT ?";
static const char lite_categories_sql[] =
    "SELECT " CATEGORY_MATCH_COLUMNS " FROM categories c WHERE " CATEGORY_TEXT(LITE_LIKE)
    " ORDER BY c.id LIMIT ?";
static const char pg_categories_sql[] =
    "SELECT " CATEGORY_MATCH_COLUMNS " FROM categories c WHERE " CATEGORY_TEXT(PG_LIKE)
    " ORDER BY c.id LIMIT ?";

static const char lite_variants_sql[] =
    "SELECT product_id, id, price_minor, weight, inventory FROM product_variants"
    " WHERE product_id IN (SELECT value FROM json_each(?)) ORDER BY product_id, position";
static const char pg_variants_sql[] =
    "SELECT product_id, id, price_minor, weight, inventory FROM product_variants"
    " WHERE product_id IN (SELECT CAST(value AS BIGINT) FROM json_array_elements_text(CAST(? AS "
    "json))) ORDER BY product_id, position";

/* The newest SEARCH_CATEGORY_PRODUCTS active products of each matched
 * category in one statement: per category, a LIMIT over the
 * (category_id, is_active, id) index (SQLite uses it for "is_active = 1",
 * not for a bare "is_active"). The products' own columns and their
 * category's id only: the category is the matched one, already read. */
/* A row per variant (the variants joined: no second query), in no
 * particular order: SQLite's sort of these wide rows cost more than the
 * rest of the statement, so the rows are put in order here (see
 * load_category_products). */
#define CATEGORY_PRODUCT_COLUMNS                                                              \
    PRODUCT_OWN_COLUMNS                                                                       \
    ", p.category_id, v.id, v.price_minor, v.weight, v.inventory, v.position"
#define VARIANTS_JOIN " LEFT JOIN product_variants v ON v.product_id = p.id"
static const char lite_category_products_sql[] =
    "SELECT " CATEGORY_PRODUCT_COLUMNS " FROM json_each(?) j JOIN products p ON p.id IN"
    " (SELECT p2.id FROM products p2 WHERE p2.category_id = j.value AND p2.is_active = 1"
    " ORDER BY p2.id DESC LIMIT ?)" VARIANTS_JOIN;
static const char pg_category_products_sql[] =
    "SELECT " CATEGORY_PRODUCT_COLUMNS " FROM json_array_elements_text(CAST(? AS json)) j"
    " CROSS JOIN LATERAL (SELECT p2.id FROM products p2"
    " WHERE p2.category_id = CAST(j.value AS BIGINT) AND p2.is_active"
    " ORDER BY p2.id DESC LIMIT ?) t JOIN products p ON p.id = t.id" VARIANTS_JOIN;

/* search_product_ids: name or description, the filters as parameters
 * (category 0: any; include_inactive 1: all). */
#define IDS_FILTER                                                                            \
    " AND (CAST(? AS BIGINT) = 0 OR p.category_id = ?) AND (CAST(? AS BOOLEAN) OR p.is_active)"
#define FTS_IDS_WHERE                                                                         \
    " FROM products_fts f JOIN products p ON p.id = f.rowid WHERE products_fts MATCH ?" IDS_FILTER
#define LITE_IDS_WHERE                                                                        \
    " FROM products p WHERE (" LITE_LIKE("p.name") " OR " LITE_LIKE("p.description") ")" IDS_FILTER
#define PG_IDS_WHERE                                                                          \
    " FROM products p WHERE (" PG_LIKE("p.name") " OR " PG_LIKE("p.description") ")" IDS_FILTER

static const char fts_ids_sql[] =
    "SELECT f.rowid" FTS_IDS_WHERE " ORDER BY f.rowid DESC LIMIT ? OFFSET ?";
static const char fts_ids_count_sql[] = "SELECT count(*)" FTS_IDS_WHERE;
static const char lite_ids_sql[] =
    "SELECT p.id" LITE_IDS_WHERE " ORDER BY p.id DESC LIMIT ? OFFSET ?";
static const char lite_ids_count_sql[] = "SELECT count(*)" LITE_IDS_WHERE;
static const char pg_ids_sql[] = "SELECT p.id" PG_IDS_WHERE " ORDER BY p.id DESC LIMIT ? OFFSET ?";
static const char pg_ids_count_sql[] = "SELECT count(*)" PG_IDS_WHERE;

enum way { WAY_FTS, WAY_LITE, WAY_PG };

/* ---- suggestions: SQL ---- */

/* SQLite: the candidates share trigrams with the query. Ranking them (FTS5's
 * bm25: more and rarer shared trigrams first) costs about half a
 * microsecond per name holding any of the trigrams, and " to" or "er " is
 * in a good share of all names; so the OR holds the query's rarest trigrams
 * only, as many as keep the names they reach under SUGGEST_DOC_BUDGET (the
 * vocabulary tables give each trigram's count). A common trigram says
 * little about similarity anyway. When even the rarest trigram is over the
 * budget, the first SUGGEST_CANDIDATES names holding it are taken unranked.
 * product_names_fts holds active products only. */
#define SUGGEST_DOC_BUDGET 4000
static const char lite_product_vocab_sql[] =
    "SELECT term, doc FROM product_names_vocab WHERE term IN (SELECT value FROM json_each(?))";
static const char lite_category_vocab_sql[] =
    "SELECT term, doc FROM category_names_vocab WHERE term IN (SELECT value FROM json_each(?))";
static const char lite_product_candidates_sql[] =
    "SELECT p.name FROM (SELECT rowid FROM product_names_fts WHERE product_names_fts MATCH ?"
    " ORDER BY rank LIMIT ?) f JOIN products p ON p.id = f.rowid";
static const char lite_category_candidates_sql[] =
    "SELECT c.name FROM (SELECT rowid FROM category_names_fts WHERE category_names_fts MATCH ?"
    " ORDER BY rank LIMIT ?) f JOIN categories c ON c.id = f.rowid";
static const char lite_product_unranked_sql[] =
    "SELECT p.name FROM (SELECT rowid FROM product_names_fts WHERE product_names_fts MATCH ?"
    " LIMIT ?) f JOIN products p ON p.id = f.rowid";
static const char lite_category_unranked_sql[] =
    "SELECT c.name FROM (SELECT rowid FROM category_names_fts WHERE category_names_fts MATCH ?"
    " LIMIT ?) f JOIN categories c ON c.id = f.rowid";
/* PostgreSQL: the %> operator picks, through the GIN index, names whose
 * word_similarity with the query reaches the threshold. Computing it is the
 * cost (a few microseconds a row, and a common word is in thousands of
 * names), so the bitmap scan stops after PG_CANDIDATE_SCAN rows that pass,
 * and the best SUGGEST_CANDIDATES of those by word_similarity are ranked
 * here. The LIMIT makes a sequential scan look cheap to the planner (it
 * expects the rows that pass early; they may come after most of the table),
 * so suggestions run with sequential scans off; is_active is tested outside
 * for the same reason (the products_active index would be walked whole). */
#define PG_CANDIDATE_SCAN 256
static const char pg_product_candidates_sql[] =
    "SELECT name FROM (SELECT id, name, is_active FROM products WHERE lower(name) %> lower(?)"
    " LIMIT ?) s WHERE is_active"
    " ORDER BY word_similarity(lower(?), lower(name)) DESC, id LIMIT ?";
static const char pg_category_candidates_sql[] =
    "SELECT name FROM (SELECT id, name FROM categories WHERE lower(name) %> lower(?)"
    " LIMIT ?) s ORDER BY word_similarity(lower(?), lower(name)) DESC, id LIMIT ?";

/* Settings for the current transaction only. A prepared statement's plan is
 * made for its parameters each time: a generic plan cannot tell a rare term
 * (walk the trigram index) from one in every row (walk the primary key in
 * order until the LIMIT is reached), and either wrong choice costs a full
 * scan. */
static const char pg_match_settings_sql[] =
    "SELECT set_config('plan_cache_mode', 'force_custom_plan', true)";
static const char pg_suggest_settings_sql[] =
    "SELECT set_config('plan_cache_mode', 'force_custom_plan', true), "
    "set_config('pg_trgm.word_similarity_threshold', '" PG_CANDIDATE_THRESHOLD "', true), "
    "set_config('enable_seqscan', 'off', true)";

/* ---- small helpers ---- */

static bool is_sqlite(struct ctx *ctx)
{
    return db_kind(ctx->db) == DB_SQLITE;
}

/* PostgreSQL: runs the search's queries in one transaction (the caller's
 * when one is open) with settings_sql applied; *own says whether this call
 * began it. SQLite needs neither. */
static int pg_begin(struct ctx *ctx, const char *settings_sql, bool *own)
{
    *own = false;
    if (is_sqlite(ctx))
        return SHOP_OK;
    if (!db_in_transaction(ctx->db)) {
        if (db_begin(ctx->db) != DB_OK)
            return SHOP_EDB;
        *own = true;
    }
    struct db_res *res;
    if (db_query(ctx->db, settings_sql, DB_NO_PARAMS, &res) != DB_OK)
        return SHOP_EDB;
    db_res_close(res);
    return SHOP_OK;
}

/* Ends what pg_begin began: nothing was written, so a commit, or a
 * rollback after a failure. Returns rc. */
static int pg_end(struct ctx *ctx, bool own, int rc)
{
    if (!own)
        return rc;
    if (rc == SHOP_OK)
        return db_commit(ctx->db) == DB_OK ? SHOP_OK : SHOP_EDB;
    db_rollback(ctx->db);
    return rc;
}

static size_t utf8_chars(const char *s)
{
    size_t n = 0;
    for (; *s; s++)
        n += ((unsigned char)*s & 0xC0) != 0x80;
    return n;
}

/* q without surrounding white space, as an arena string; NULL when empty. */
static const char *clean_query(struct ctx *ctx, const char *q)
{
    struct str s = str_trim(str_from(q));
    return s.n > 0 ? str_dup(ctx->arena, s) : NULL;
}

/* The FTS5 phrase "q": double quotes inside are doubled, nothing else is
 * special within a phrase. A column filter may precede it. */
static const char *fts_phrase(struct ctx *ctx, const char *filter, const char *q)
{
    struct buf b;
    buf_init_arena(&b, ctx->arena);
    buf_append_str(&b, filter);
    buf_append_char(&b, '"');
    for (const char *p = q; *p; p++) {
        if (*p == '"')
            buf_append_char(&b, '"');
        buf_append_char(&b, *p);
    }
    buf_append_char(&b, '"');
    return buf_cstr(&b);
}

/* '%q%' with LIKE's metacharacters (and the escape itself) escaped. */
static const char *like_pattern(struct ctx *ctx, const char *q)
{
    struct buf b;
    buf_init_arena(&b, ctx->arena);
    buf_append_char(&b, '%');
    for (const char *p = q; *p; p++) {
        if (*p == '%' || *p == '_' || *p == '\\')
            buf_append_char(&b, '\\');
        buf_append_char(&b, *p);
    }
    buf_append_char(&b, '%');
    return buf_cstr(&b);
}

static enum way way_of(struct ctx *ctx, const char *q)
{
    if (!is_sqlite(ctx))
        return WAY_PG;
    return utf8_chars(q) >= TRIGRAM_MIN_CHARS ? WAY_FTS : WAY_LITE;
}

/* ---- matching: rows ---- */

static int product_ptr_cmp(const void *a, const void *b)
{
    int64_t x = (*(struct product *const *)a)->id, y = (*(struct product *const *)b)->id;
    return (x > y) - (x < y);
}

/* Reads the variants of the products items[0..n) point at with one query
 * and sets variants, inventory (sum) and price_minor (lowest) on each. */
static int load_variants(struct ctx *ctx, struct product **items, size_t n)
{
    if (n == 0)
        return SHOP_OK;
    /* Rows come ordered by product, each in position order: one merge pass
     * over the products in id order. */
    qsort(items, n, sizeof(*items), product_ptr_cmp);
    struct buf ids;
    buf_init_arena(&ids, ctx->arena);
    buf_append_char(&ids, '[');
    for (size_t i = 0; i < n; i++)
        buf_printf(&ids, "%s%lld", i ? "," : "", (long long)items[i]->id);
    buf_append_char(&ids, ']');

    struct db_res *res;
    if (db_query(ctx->db, is_sqlite(ctx) ? lite_variants_sql : pg_variants_sql,
                 DB_PARAMS(DB_TEXT(buf_cstr(&ids))), &res) != DB_OK)
        return SHOP_EDB;
    size_t cap = 4 * n, count = 0, at = 0;
    struct variant *v = arena_alloc(ctx->arena, cap * sizeof(*v));
    size_t *first = arena_zalloc(ctx->arena, n * sizeof(*first));
    int rc;
    while ((rc = db_next(res)) == DB_ROW) {
        int64_t pid = db_col_int(res, 0);
        while (at < n && items[at]->id < pid)
            at++;
        if (at == n || items[at]->id != pid)
            continue;
        if (count == cap) {
            struct variant *bigger = arena_alloc(ctx->arena, 2 * cap * sizeof(*bigger));
            memcpy(bigger, v, cap * sizeof(*v));
            v = bigger;
            cap *= 2;
        }
        struct product *p = items[at];
        if (p->n_variants == 0)
            first[at] = count;
        v[count] = (struct variant){.id = db_col_int(res, 1),
                                    .price_minor = db_col_int(res, 2),
                                    .weight = catalog_col_text(ctx, res, 3),
                                    .inventory = db_col_int(res, 4)};
        if (p->n_variants == 0 || v[count].price_minor < p->price_minor)
            p->price_minor = v[count].price_minor;
        p->inventory += v[count].inventory;
        p->n_variants++;
        count++;
    }
    db_res_close(res);
    if (rc != DB_DONE)
        return SHOP_EDB;
    /* Pointers are taken once the array has stopped moving. */
    for (size_t i = 0; i < n; i++)
        items[i]->variants = items[i]->n_variants ? v + first[i] : NULL;
    return SHOP_OK;
}

static int match_products(struct ctx *ctx, const char *q, struct product_list *out)
{
    struct db_res *res;
    int rc;
    enum way way = way_of(ctx, q);
    if (way == WAY_FTS) {
        rc = db_query(ctx->db, fts_products_sql,
                      DB_PARAMS(DB_TEXT(fts_phrase(ctx, "", q)), DB_INT(SEARCH_LIMIT)), &res);
    } else {
        const char *like = like_pattern(ctx, q);
        rc = db_query(ctx->db, way == WAY_LITE ? lite_products_sql : pg_products_sql,
                      DB_PARAMS(DB_TEXT(like), DB_TEXT(like), DB_TEXT(like), DB_INT(SEARCH_LIMIT)),
                      &res);
    }
    if (rc != DB_OK)
        return SHOP_EDB;
    out->items = arena_alloc(ctx->arena, SEARCH_LIMIT * sizeof(*out->items));
    while (out->n < SEARCH_LIMIT && (rc = db_next(res)) == DB_ROW)
        catalog_read_product(ctx, res, &out->items[out->n++]);
    db_res_close(res);
    if (rc != DB_ROW && rc != DB_DONE)
        return SHOP_EDB;
    out->count = (int64_t)out->n;
    struct product **ptrs = arena_alloc(ctx->arena, (out->n ? out->n : 1) * sizeof(*ptrs));
    for (size_t i = 0; i < out->n; i++)
        ptrs[i] = &out->items[i];
    return load_variants(ctx, ptrs, out->n);
}

/* The matching categories into out, and into products[i] the count of
 * category i's active products (its items are loaded later). */
static int match_categories(struct ctx *ctx, const char *q, struct category_list *out,
                            struct product_list **products)
{
    struct db_res *res;
    int rc;
    enum way way = way_of(ctx, q);
    if (way == WAY_FTS) {
        rc = db_query(ctx->db, fts_categories_sql,
                      DB_PARAMS(DB_TEXT(fts_phrase(ctx, "", q)), DB_INT(SEARCH_LIMIT)), &res);
    } else {
        const char *like = like_pattern(ctx, q);
        rc = db_query(ctx->db, way == WAY_LITE ? lite_categories_sql : pg_categories_sql,
                      DB_PARAMS(DB_TEXT(like), DB_TEXT(like), DB_TEXT(like), DB_INT(SEARCH_LIMIT)),
                      &res);
    }
    if (rc != DB_OK)
        return SHOP_EDB;
    out->items = arena_alloc(ctx->arena, SEARCH_LIMIT * sizeof(*out->items));
    *products = arena_zalloc(ctx->arena, SEARCH_LIMIT * sizeof(**products));
    while (out->n < SEARCH_LIMIT && (rc = db_next(res)) == DB_ROW) {
        catalog_read_category(ctx, res, 0, &out->items[out->n]);
        (*products)[out->n].count = db_col_int(res, 10);
        out->n++;
    }
    db_res_close(res);
    if (rc != DB_ROW && rc != DB_DONE)
        return SHOP_EDB;
    out->count = (int64_t)out->n;
    return SHOP_OK;
}

/* One row of the category products query. */
struct category_row {
    size_t category; /* index in the matched categories */
    int64_t position; /* the variant's; -1: none */
    struct product product;
    struct variant variant;
};

/* Category, then newest product first, then variant position. */
static int category_row_cmp(const void *a, const void *b)
{
    const struct category_row *x = a, *y = b;
    if (x->category != y->category)
        return x->category < y->category ? -1 : 1;
    if (x->product.id != y->product.id)
        return x->product.id > y->product.id ? -1 : 1;
    return (x->position > y->position) - (x->position < y->position);
}

/* The index of the category with this id in cats (ascending ids), or
 * cats->n. */
static size_t category_index(const struct category_list *cats, int64_t id)
{
    size_t lo = 0, hi = cats->n;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (cats->items[mid].id < id)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo < cats->n && cats->items[lo].id == id ? lo : cats->n;
}

/* The newest SEARCH_CATEGORY_PRODUCTS active products of each of the
 * categories (ascending ids) into lists[i], with their variants: one query,
 * however many categories, its rows sorted here. */
static int load_category_products(struct ctx *ctx, const struct category_list *cats,
                                  struct product_list *lists)
{
    if (cats->n == 0)
        return SHOP_OK;
    struct buf ids;
    buf_init_arena(&ids, ctx->arena);
    buf_append_char(&ids, '[');
    for (size_t i = 0; i < cats->n; i++) {
        buf_printf(&ids, "%s%lld", i ? "," : "", (long long)cats->items[i].id);
        lists[i].items = arena_alloc(ctx->arena, SEARCH_CATEGORY_PRODUCTS * sizeof(struct product));
        lists[i].n = 0;
    }
    buf_append_char(&ids, ']');

    struct db_res *res;
    if (db_query(ctx->db, is_sqlite(ctx) ? lite_category_products_sql : pg_category_products_sql,
                 DB_PARAMS(DB_TEXT(buf_cstr(&ids)), DB_INT(SEARCH_CATEGORY_PRODUCTS)),
                 &res) != DB_OK)
        return SHOP_EDB;
    size_t cap = cats->n * SEARCH_CATEGORY_PRODUCTS * 2, n_rows = 0;
    struct category_row *rows = arena_alloc(ctx->arena, cap * sizeof(*rows));
    int rc;
    while ((rc = db_next(res)) == DB_ROW) {
        size_t at = category_index(cats, db_col_int(res, PRODUCT_NCOLS));
        if (at == cats->n)
            continue;
        if (n_rows == cap) {
            struct category_row *bigger = arena_alloc(ctx->arena, 2 * cap * sizeof(*bigger));
            memcpy(bigger, rows, cap * sizeof(*rows));
            rows = bigger;
            cap *= 2;
        }
        struct category_row *r = &rows[n_rows++];
        r->category = at;
        catalog_read_product_own(ctx, res, &r->product);
        if (db_col_is_null(res, PRODUCT_NCOLS + 1)) {
            r->position = -1; /* no variant */
            memset(&r->variant, 0, sizeof(r->variant));
        } else {
            r->position = db_col_int(res, PRODUCT_NCOLS + 5);
            r->variant = (struct variant){.id = db_col_int(res, PRODUCT_NCOLS + 1),
                                          .price_minor = db_col_int(res, PRODUCT_NCOLS + 2),
                                          .weight = catalog_col_text(ctx, res, PRODUCT_NCOLS + 3),
                                          .inventory = db_col_int(res, PRODUCT_NCOLS + 4)};
        }
    }
    db_res_close(res);
    if (rc != DB_DONE)
        return SHOP_EDB;
    qsort(rows, n_rows, sizeof(*rows), category_row_cmp);

    /* The variants, each product's together in position order. */
    struct variant *v = arena_alloc(ctx->arena, (n_rows ? n_rows : 1) * sizeof(*v));
    size_t count = 0;
    struct product *p = NULL;
    for (size_t i = 0; i < n_rows; i++) {
        struct category_row *r = &rows[i];
        if (i == 0 || r->category != rows[i - 1].category || r->product.id != rows[i - 1].product.id) {
            struct product_list *list = &lists[r->category];
            if (list->n == SEARCH_CATEGORY_PRODUCTS) {
                p = NULL;
                continue;
            }
            p = &list->items[list->n++];
            *p = r->product;
            p->category = cats->items[r->category]; /* shares its strings, all in the arena */
            p->variants = v + count;
        }
        if (p == NULL || r->position < 0)
            continue;
        v[count] = r->variant;
        if (p->n_variants == 0 || v[count].price_minor < p->price_minor)
            p->price_minor = v[count].price_minor;
        p->inventory += v[count].inventory;
        p->n_variants++;
        count++;
    }
    for (size_t i = 0; i < cats->n; i++)
        for (size_t k = 0; k < lists[i].n; k++)
            if (lists[i].items[k].n_variants == 0)
                lists[i].items[k].variants = NULL;
    return SHOP_OK;
}

static int run_search(struct ctx *ctx, const char *q, enum search_type type,
                      struct search_result *out)
{
    int rc;
    if (type != SEARCH_CATEGORIES) {
        rc = match_products(ctx, q, &out->products);
        if (rc != SHOP_OK)
            return rc;
    }
    if (type != SEARCH_PRODUCTS) {
        rc = match_categories(ctx, q, &out->categories, &out->category_products);
        if (rc != SHOP_OK)
            return rc;
        rc = load_category_products(ctx, &out->categories, out->category_products);
        if (rc != SHOP_OK)
            return rc;
    }
    return SHOP_OK;
}

int search_run(struct ctx *ctx, const char *q, enum search_type type, struct search_result *out)
{
    memset(out, 0, sizeof(*out));
    q = clean_query(ctx, q);
    if (q == NULL)
        return SHOP_OK; /* an empty query finds nothing */
    bool own;
    int rc = pg_begin(ctx, pg_match_settings_sql, &own);
    if (rc == SHOP_OK)
        rc = run_search(ctx, q, type, out);
    return pg_end(ctx, own, rc);
}

static int product_ids(struct ctx *ctx, const char *q, int64_t category_id, bool include_inactive,
                       int64_t offset, int64_t limit, int64_t **ids, size_t *n, int64_t *count)
{
    enum way way = way_of(ctx, q);
    bool fts = way == WAY_FTS;
    const char *match = fts ? fts_phrase(ctx, "{name description} : ", q) : like_pattern(ctx, q);
    const char *count_sql = fts ? fts_ids_count_sql
                            : way == WAY_LITE ? lite_ids_count_sql
                                              : pg_ids_count_sql;
    const char *page_sql = fts ? fts_ids_sql : way == WAY_LITE ? lite_ids_sql : pg_ids_sql;
    struct db_param params[7];
    size_t k = 0;
    params[k++] = DB_TEXT(match);
    if (!fts)
        params[k++] = DB_TEXT(match);
    params[k++] = DB_INT(category_id);
    params[k++] = DB_INT(category_id);
    params[k++] = DB_BOOL(include_inactive);
    size_t n_filter = k;

    if (db_query_int(ctx->db, count_sql, params, n_filter, count) != DB_ROW)
        return SHOP_EDB;
    if (limit == 0 || offset >= *count) {
        *ids = arena_alloc(ctx->arena, sizeof(**ids));
        return SHOP_OK;
    }
    params[k++] = DB_INT(limit);
    params[k++] = DB_INT(offset);
    struct db_res *res;
    if (db_query(ctx->db, page_sql, params, k, &res) != DB_OK)
        return SHOP_EDB;
    int64_t want = *count - offset < limit ? *count - offset : limit;
    *ids = arena_alloc(ctx->arena, (size_t)want * sizeof(**ids));
    int rc = DB_DONE;
    while (*n < (size_t)want && (rc = db_next(res)) == DB_ROW)
        (*ids)[(*n)++] = db_col_int(res, 0);
    db_res_close(res);
    return rc == DB_ROW || rc == DB_DONE ? SHOP_OK : SHOP_EDB;
}

int search_product_ids(struct ctx *ctx, const char *q, int64_t category_id, bool include_inactive,
                       int64_t offset, int64_t limit, int64_t **ids, size_t *n, int64_t *count)
{
    *ids = NULL;
    *n = 0;
    *count = 0;
    q = clean_query(ctx, q);
    if (q == NULL) {
        *ids = arena_alloc(ctx->arena, sizeof(**ids));
        return SHOP_OK;
    }
    bool own;
    int rc = pg_begin(ctx, pg_match_settings_sql, &own);
    if (rc == SHOP_OK)
        rc = product_ids(ctx, q, category_id > 0 ? category_id : 0, include_inactive,
                         offset > 0 ? offset : 0, limit > 0 ? limit : 0, ids, n, count);
    return pg_end(ctx, own, rc);
}

/* ---- suggestions: similarity ---- */

/* A text as code points, ASCII letters folded to lower case, every run of
 * other ASCII (spaces, punctuation) reduced to one space between words:
 * "Gaming-Laptop 15" is "gaming laptop 15" with three words. */
struct text {
    uint32_t cp[NAME_MAX_CPS];
    size_t n;
    size_t word_at[NAME_MAX_CPS / 2 + 1];
    size_t word_len[NAME_MAX_CPS / 2 + 1];
    size_t n_words;
};

static bool is_word_cp(uint32_t c)
{
    return c >= 0x80 || (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z');
}

/* The next code point of s at *i; a byte that does not start a valid
 * sequence stands for itself. */
static uint32_t next_cp(const unsigned char *s, size_t *i)
{
    uint32_t c = s[*i];
    size_t need = c >= 0xF0 && c < 0xF8 ? 3 : c >= 0xE0 ? 2 : c >= 0xC0 ? 1 : 0;
    if (c >= 0xF8 || (c >= 0x80 && c < 0xC0))
        need = 0;
    uint32_t v = need == 3 ? c & 0x07 : need == 2 ? c & 0x0F : c & 0x1F;
    for (size_t k = 1; k <= need; k++) {
        if ((s[*i + k] & 0xC0) != 0x80) {
            (*i)++;
            return c;
        }
        v = (v << 6) | (s[*i + k] & 0x3F);
    }
    *i += need + 1;
    return need ? v : c;
}

static void text_from(struct text *t, const char *s)
{
    const unsigned char *u = (const unsigned char *)s;
    size_t i = 0;
    bool in_word = false;
    t->n = 0;
    t->n_words = 0;
    while (u[i] != '\0') {
        uint32_t c = next_cp(u, &i);
        if (c >= 'A' && c <= 'Z')
            c += 'a' - 'A';
        if (!is_word_cp(c)) {
            in_word = false;
            continue;
        }
        if (!in_word) {
            /* a word and its separator must both fit */
            if (t->n + (t->n_words ? 2 : 1) > NAME_MAX_CPS)
                break;
            if (t->n_words)
                t->cp[t->n++] = ' ';
            t->word_at[t->n_words] = t->n;
            t->word_len[t->n_words] = 0;
            t->n_words++;
            in_word = true;
        } else if (t->n == NAME_MAX_CPS) {
            break;
        }
        t->cp[t->n++] = c;
        t->word_len[t->n_words - 1]++;
    }
}

/* A trigram packed into 63 bits (code points are below 2^21). */
static uint64_t trigram(uint32_t a, uint32_t b, uint32_t c)
{
    return ((uint64_t)a << 42) | ((uint64_t)b << 21) | c;
}

static int u64_cmp(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return (x > y) - (x < y);
}

/* pg_trgm's trigrams of words [from, to) of t: each word padded with two
 * spaces before and one after; sorted, without repeats, into out (room for
 * every character plus one per word). Returns the count. */
static size_t trigrams(const struct text *t, size_t from, size_t to, uint64_t *out)
{
    size_t n = 0;
    for (size_t w = from; w < to; w++) {
        const uint32_t *cp = t->cp + t->word_at[w];
        size_t len = t->word_len[w];
        for (size_t i = 0; i < len + 1; i++) {
            uint32_t a = i >= 2 ? cp[i - 2] : ' ';
            uint32_t b = i >= 1 ? cp[i - 1] : ' ';
            uint32_t c = i < len ? cp[i] : ' ';
            out[n++] = trigram(a, b, c);
        }
    }
    qsort(out, n, sizeof(*out), u64_cmp);
    size_t m = 0;
    for (size_t i = 0; i < n; i++)
        if (m == 0 || out[m - 1] != out[i])
            out[m++] = out[i];
    return m;
}

/* |A and B| / |A or B| of two sorted sets. */
static double jaccard(const uint64_t *a, size_t na, const uint64_t *b, size_t nb)
{
    size_t i = 0, j = 0, common = 0;
    while (i < na && j < nb) {
        if (a[i] == b[j]) {
            common++;
            i++;
            j++;
        } else if (a[i] < b[j]) {
            i++;
        } else {
            j++;
        }
    }
    size_t all = na + nb - common;
    return all ? (double)common / (double)all : 0.0;
}

static size_t min3(size_t a, size_t b, size_t c)
{
    size_t m = a < b ? a : b;
    return m < c ? m : c;
}

/* The optimal string alignment distance (Damerau-Levenshtein where no
 * substring is edited twice): insertions, deletions, substitutions and
 * transpositions of neighbours each cost one. Three rolling rows. */
static size_t edit_distance(const uint32_t *a, size_t na, const uint32_t *b, size_t nb)
{
    size_t rows[3][NAME_MAX_CPS + 1];
    size_t *prev2 = rows[0], *prev = rows[1], *cur = rows[2];
    for (size_t j = 0; j <= nb; j++)
        prev[j] = j;
    for (size_t i = 1; i <= na; i++) {
        cur[0] = i;
        for (size_t j = 1; j <= nb; j++) {
            size_t cost = a[i - 1] == b[j - 1] ? 0 : 1;
            cur[j] = min3(prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + cost);
            if (i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1] &&
                prev2[j - 2] + 1 < cur[j])
                cur[j] = prev2[j - 2] + 1;
        }
        size_t *t = prev2;
        prev2 = prev;
        prev = cur;
        cur = t;
    }
    return prev[nb];
}

/* The query, prepared once for every candidate. */
struct query {
    struct text t;
    uint64_t tri[NAME_MAX_CPS + NAME_MAX_CPS / 2 + 2];
    size_t n_tri;
};

struct candidate {
    const char *name;
    double score; /* best of trigram similarity and 1 - distance / length */
    double whole; /* trigram similarity to the whole name: breaks ties */
};

/* The closest edit distance between q and a span of t seen so far, and the
 * edit similarity 1 - distance / length it gives. Only spans within two
 * characters of the query's length are measured: more is more than two
 * edits, which says nothing the trigrams do not say better. */
struct edits {
    size_t distance;
    double similarity;
};

static void measure(const struct query *q, const uint32_t *span, size_t len, struct edits *e)
{
    size_t longer = len > q->t.n ? len : q->t.n;
    size_t shorter = len > q->t.n ? q->t.n : len;
    if (longer - shorter > 2)
        return;
    size_t d = edit_distance(q->t.cp, q->t.n, span, len);
    if (d < e->distance)
        e->distance = d;
    double s = d <= 2 ? 1.0 - (double)d / (double)longer : 0.0;
    if (s > e->similarity)
        e->similarity = s;
}

/* Scores name against q; false when it is not close enough to suggest. */
static bool score(const struct query *q, const char *name, struct candidate *out)
{
    struct text t;
    uint64_t tri[NAME_MAX_CPS + NAME_MAX_CPS / 2 + 2];
    text_from(&t, name);
    if (t.n_words == 0)
        return false;

    size_t n_tri = trigrams(&t, 0, t.n_words, tri);
    double whole = jaccard(q->tri, q->n_tri, tri, n_tri);
    double best_trgm = whole;
    struct edits edits = {SIZE_MAX, 0.0};
    measure(q, t.cp, t.n, &edits);

    /* Runs of the query's word count, and of one word more or fewer (a
     * missing or an extra space). */
    size_t m = q->t.n_words;
    size_t lo = m > 1 ? m - 1 : 1, hi = m + 1 < t.n_words ? m + 1 : t.n_words;
    for (size_t len = lo; len <= hi && len < t.n_words; len++) {
        for (size_t w = 0; w + len <= t.n_words; w++) {
            size_t k = trigrams(&t, w, w + len, tri);
            double s = jaccard(q->tri, q->n_tri, tri, k);
            if (s > best_trgm)
                best_trgm = s;
            size_t at = t.word_at[w];
            measure(q, t.cp + at, t.word_at[w + len - 1] + t.word_len[w + len - 1] - at, &edits);
        }
    }
    if (best_trgm < SIMILARITY_MIN && edits.distance > 1)
        return false;
    out->name = name;
    out->score = best_trgm > edits.similarity ? best_trgm : edits.similarity;
    out->whole = whole;
    return true;
}

static int candidate_cmp(const void *a, const void *b)
{
    const struct candidate *x = a, *y = b;
    if (x->score != y->score)
        return x->score > y->score ? -1 : 1;
    if (x->whole != y->whole)
        return x->whole > y->whole ? -1 : 1;
    return strcmp(x->name, y->name);
}

/* The distinct trigrams of " q " (spaces as the names index pads its
 * names), as UTF-8 strings: a trigram never splits a character. */
struct fts_trigrams {
    const char **text;
    int64_t *docs; /* names holding it, from the vocabulary */
    size_t n;
};

static void query_trigrams(struct ctx *ctx, const char *q, struct fts_trigrams *out)
{
    size_t len = strlen(q);
    char *padded = arena_alloc(ctx->arena, len + 3);
    padded[0] = ' ';
    memcpy(padded + 1, q, len);
    padded[len + 1] = ' ';
    padded[len + 2] = '\0';

    size_t *start = arena_alloc(ctx->arena, (len + 3) * sizeof(*start));
    size_t n_chars = 0;
    for (size_t i = 0; padded[i]; i++)
        if (((unsigned char)padded[i] & 0xC0) != 0x80)
            start[n_chars++] = i;
    start[n_chars] = len + 2;

    out->text = arena_alloc(ctx->arena, (n_chars + 1) * sizeof(*out->text));
    out->docs = arena_zalloc(ctx->arena, (n_chars + 1) * sizeof(*out->docs));
    out->n = 0;
    for (size_t i = 0; i + 3 <= n_chars; i++) {
        /* the vocabulary holds trigrams folded to lower case */
        char *tg = arena_strndup(ctx->arena, padded + start[i], start[i + 3] - start[i]);
        for (char *c = tg; *c; c++)
            if (*c >= 'A' && *c <= 'Z')
                *c = (char)(*c - 'A' + 'a');
        bool seen = false;
        for (size_t k = 0; k < out->n && !seen; k++)
            seen = strcmp(out->text[k], tg) == 0;
        if (!seen)
            out->text[out->n++] = tg;
    }
}

/*
 * The vocabulary's counts are not stored: fts5vocab walks each trigram's
 * whole doclist to count it, 0.4 ms for a query holding a common trigram
 * (" am" is in 7,500 of 100,000 names), most of a suggestion's cost. So
 * each thread keeps the counts it has read, per kind, for as long as the
 * database has not changed: SQLite's data_version (another connection
 * committed) and total_changes() (this one wrote) are read in one cheap
 * statement per suggestion, and any change drops the counts. The analytics
 * writer commits every RECORD_FLUSH_MS under load, so a thread rereads them
 * a few times a second at most.
 */
#define VOCAB_SLOTS 512 /* per kind; full: counts are read, not kept */
#define VOCAB_TERM_MAX 16 /* three UTF-8 characters and a NUL */
struct vocab_slot {
    char term[VOCAB_TERM_MAX]; /* "" when free */
    int64_t docs;
};
struct vocab_cache {
    bool valid;
    int64_t data_version, changes;
    struct vocab_slot slots[2][VOCAB_SLOTS]; /* [products?] */
};
static _Thread_local struct vocab_cache vocab_cache; /* 24 KiB a thread */

static uint32_t term_hash(const char *s)
{
    uint32_t h = 2166136261u;
    for (; *s; s++)
        h = (h ^ (unsigned char)*s) * 16777619u;
    return h;
}

/* The slot for term in kind's table: its own, or the free one it would go
 * in; NULL when the table is full. */
static struct vocab_slot *vocab_slot(struct vocab_cache *c, bool products, const char *term)
{
    struct vocab_slot *tab = c->slots[products];
    uint32_t h = term_hash(term) % VOCAB_SLOTS;
    for (size_t k = 0; k < VOCAB_SLOTS; k++) {
        struct vocab_slot *sl = &tab[(h + k) % VOCAB_SLOTS];
        if (sl->term[0] == '\0' || strcmp(sl->term, term) == 0)
            return sl;
    }
    return NULL;
}

/* This thread's counts, emptied if the database changed since they were
 * read; NULL when the check failed (then nothing is kept). */
static struct vocab_cache *vocab_cache_check(struct ctx *ctx)
{
    struct db_res *res;
    if (db_query(ctx->db, "SELECT (SELECT data_version FROM pragma_data_version), total_changes()",
                 DB_NO_PARAMS, &res) != DB_OK)
        return NULL;
    int rc = db_next(res);
    int64_t version = rc == DB_ROW ? db_col_int(res, 0) : -1;
    int64_t changes = rc == DB_ROW ? db_col_int(res, 1) : -1;
    db_res_close(res);
    if (rc != DB_ROW)
        return NULL;
    struct vocab_cache *c = &vocab_cache;
    if (!c->valid || c->data_version != version || c->changes != changes) {
        memset(c->slots, 0, sizeof(c->slots));
        c->data_version = version;
        c->changes = changes;
        c->valid = true;
    }
    return c;
}

/* Fills t->docs from the vocabulary of the names index. A trigram the
 * vocabulary does not know (no name holds it, or its case was folded
 * differently) counts 0. */
static int trigram_docs(struct ctx *ctx, bool products, struct fts_trigrams *t)
{
    struct vocab_cache *cache = vocab_cache_check(ctx);
    bool *known = arena_zalloc(ctx->arena, (t->n ? t->n : 1) * sizeof(*known));
    size_t missing = 0;
    for (size_t i = 0; i < t->n; i++) {
        struct vocab_slot *sl = cache && strlen(t->text[i]) < VOCAB_TERM_MAX
                                    ? vocab_slot(cache, products, t->text[i])
                                    : NULL;
        if (sl != NULL && sl->term[0] != '\0') {
            t->docs[i] = sl->docs;
            known[i] = true;
        } else {
            missing++;
        }
    }
    if (missing == 0)
        return SHOP_OK;

    struct json_object *arr = json_object_new_array_ext((int)missing);
    for (size_t i = 0; i < t->n; i++)
        if (!known[i])
            json_object_array_add(arr, json_object_new_string(t->text[i]));
    const char *list = arena_strdup(ctx->arena, json_object_to_json_string_ext(
                                                    arr, JSON_C_TO_STRING_PLAIN |
                                                             JSON_C_TO_STRING_NOSLASHESCAPE));
    json_object_put(arr);

    struct db_res *res;
    if (db_query(ctx->db, products ? lite_product_vocab_sql : lite_category_vocab_sql,
                 DB_PARAMS(DB_TEXT(list)), &res) != DB_OK)
        return SHOP_EDB;
    int rc;
    while ((rc = db_next(res)) == DB_ROW) {
        const char *term = db_col_text(res, 0);
        for (size_t i = 0; term != NULL && i < t->n; i++)
            if (strcmp(t->text[i], term) == 0)
                t->docs[i] = db_col_int(res, 1);
    }
    db_res_close(res);
    if (rc != DB_DONE)
        return SHOP_EDB;
    /* Kept only after a complete read: a trigram absent from the
     * vocabulary is kept as 0. */
    for (size_t i = 0; cache != NULL && i < t->n; i++) {
        if (known[i] || strlen(t->text[i]) >= VOCAB_TERM_MAX)
            continue;
        struct vocab_slot *sl = vocab_slot(cache, products, t->text[i]);
        if (sl == NULL)
            break; /* full until the next change */
        if (sl->term[0] == '\0') {
            strcpy(sl->term, t->text[i]);
            sl->docs = t->docs[i];
        }
    }
    return SHOP_OK;
}

struct ranked_trigram {
    const char *text;
    int64_t docs;
};

static int ranked_trigram_cmp(const void *a, const void *b)
{
    int64_t x = ((const struct ranked_trigram *)a)->docs;
    int64_t y = ((const struct ranked_trigram *)b)->docs;
    return (x > y) - (x < y);
}

/* The FTS5 query "t1" OR "t2" OR ... of the rarest trigrams within
 * SUGGEST_DOC_BUDGET (at least one); *ranked false when that one alone is
 * over the budget, or when the names reached are too few to need a rank.
 * NULL when no trigram is in any name. */
static const char *candidate_match(struct ctx *ctx, const struct fts_trigrams *t, bool *ranked)
{
    struct ranked_trigram *r = arena_alloc(ctx->arena, (t->n ? t->n : 1) * sizeof(*r));
    for (size_t i = 0; i < t->n; i++)
        r[i] = (struct ranked_trigram){t->text[i], t->docs[i]};
    qsort(r, t->n, sizeof(*r), ranked_trigram_cmp);
    struct buf b;
    buf_init_arena(&b, ctx->arena);
    int64_t total = 0;
    size_t used = 0;
    for (size_t i = 0; i < t->n; i++) {
        if (r[i].docs == 0)
            continue; /* matches nothing: no use in the OR */
        if (used > 0 && total + r[i].docs > SUGGEST_DOC_BUDGET)
            break;
        total += r[i].docs;
        if (used++ > 0)
            buf_append_str(&b, " OR ");
        buf_append_str(&b, fts_phrase(ctx, "", r[i].text));
    }
    /* Ranking picks the best SUGGEST_CANDIDATES of the names reached; when
     * they are fewer (the counts add up to at least their number), all of
     * them come back anyway, and bm25's cost buys nothing. */
    *ranked = total <= SUGGEST_DOC_BUDGET && total > SUGGEST_CANDIDATES;
    return used > 0 ? buf_cstr(&b) : NULL;
}

/* Ranks the candidate names of one query result into names[0..*n). */
static int rank_candidates(struct ctx *ctx, struct db_res *res, const struct query *q,
                           const char ***names, size_t *n)
{
    struct candidate *c = arena_alloc(ctx->arena, SUGGEST_CANDIDATES * sizeof(*c));
    size_t count = 0;
    int rc;
    while ((rc = db_next(res)) == DB_ROW) {
        if (count == SUGGEST_CANDIDATES)
            continue;
        const char *name = catalog_col_text(ctx, res, 0);
        if (score(q, name, &c[count]))
            count++;
    }
    db_res_close(res);
    if (rc != DB_DONE)
        return SHOP_EDB;
    qsort(c, count, sizeof(*c), candidate_cmp);
    if (count > SEARCH_SUGGESTIONS)
        count = SEARCH_SUGGESTIONS;
    *names = arena_alloc(ctx->arena, (count ? count : 1) * sizeof(**names));
    for (size_t i = 0; i < count; i++)
        (*names)[i] = c[i].name;
    *n = count;
    return SHOP_OK;
}

static int suggest_kind(struct ctx *ctx, const char *q, const struct query *query,
                        bool products, const char ***names, size_t *n)
{
    struct db_res *res;
    int rc;
    *names = NULL;
    *n = 0;
    if (is_sqlite(ctx)) {
        struct fts_trigrams t;
        query_trigrams(ctx, q, &t);
        rc = trigram_docs(ctx, products, &t);
        if (rc != SHOP_OK)
            return rc;
        bool ranked;
        const char *match = candidate_match(ctx, &t, &ranked);
        if (match == NULL)
            return SHOP_OK; /* no name shares a trigram */
        const char *sql = products ? (ranked ? lite_product_candidates_sql
                                             : lite_product_unranked_sql)
                                   : (ranked ? lite_category_candidates_sql
                                             : lite_category_unranked_sql);
        rc = db_query(ctx->db, sql, DB_PARAMS(DB_TEXT(match), DB_INT(SUGGEST_CANDIDATES)), &res);
    } else {
        rc = db_query(ctx->db, products ? pg_product_candidates_sql : pg_category_candidates_sql,
                      DB_PARAMS(DB_TEXT(q), DB_INT(PG_CANDIDATE_SCAN), DB_TEXT(q),
                                DB_INT(SUGGEST_CANDIDATES)),
                      &res);
    }
    if (rc != DB_OK)
        return SHOP_EDB;
    return rank_candidates(ctx, res, query, names, n);
}

int search_suggest(struct ctx *ctx, const char *q, enum search_type type,
                   struct search_suggestions *out)
{
    memset(out, 0, sizeof(*out));
    q = clean_query(ctx, q);
    if (q == NULL)
        return SHOP_OK;
    size_t chars = utf8_chars(q);
    if (chars < TRIGRAM_MIN_CHARS || chars > SUGGEST_MAX_CHARS)
        return SHOP_OK;
    struct query *query = arena_alloc(ctx->arena, sizeof(*query));
    text_from(&query->t, q);
    if (query->t.n_words == 0)
        return SHOP_OK; /* punctuation only: nothing to be similar to */
    query->n_tri = trigrams(&query->t, 0, query->t.n_words, query->tri);

    bool own;
    int rc = pg_begin(ctx, pg_suggest_settings_sql, &own);
    if (rc == SHOP_OK && type != SEARCH_CATEGORIES)
        rc = suggest_kind(ctx, q, query, true, &out->products, &out->n_products);
    if (rc == SHOP_OK && type != SEARCH_PRODUCTS)
        rc = suggest_kind(ctx, q, query, false, &out->categories, &out->n_categories);
    return pg_end(ctx, own, rc);
}

/* ---- analytics ---- */

static const char *type_name(enum search_type type)
{
    switch (type) {
    case SEARCH_PRODUCTS:
        return "product";
    case SEARCH_CATEGORIES:
        return "category";
    case SEARCH_ALL:
        break;
    }
    return "all";
}

/* The user id is looked up in the INSERT itself: a record is written up to
 * a flush interval after its request, and a user deleted meanwhile leaves
 * it anonymous (as ON DELETE SET NULL does for older ones) instead of
 * failing the batch on the foreign key. */
static const char record_sql[] =
    "INSERT INTO searches (query, type, user_id, result_count, created_at) "
    "VALUES (?, ?, (SELECT id FROM users WHERE id = ?), ?, ?)";

/* One search to record, its query cut to RECORD_MAX_CHARS characters. */
struct record {
    char *query;    /* malloc'd while queued */
    size_t len;
    enum search_type type;
    int64_t user_id; /* 0: anonymous */
    int64_t result_count;
    int64_t created_at;
};

static int record_write(struct db *db, const struct record *r)
{
    return db_exec(db, record_sql,
                   DB_PARAMS(DB_TEXTN(r->query, r->len), DB_TEXT(type_name(r->type)),
                             r->user_id ? DB_INT(r->user_id) : DB_NULL,
                             DB_INT(r->result_count < 0 ? 0 : r->result_count),
                             DB_INT(r->created_at)),
                   NULL) == DB_OK
               ? SHOP_OK
               : SHOP_EDB;
}

/*
 * Analytics never write on the request path (DESIGN.md): once
 * search_records_start has run, search_record only queues the record in a
 * bounded ring under a mutex, and one background thread writes the queue in
 * batches, one transaction per batch, every RECORD_FLUSH_MS or as soon as
 * RECORD_BATCH records wait, and everything left at search_records_stop.
 * A commit per search was a WAL append (and now and then a checkpoint) plus
 * the write lock, which every searching thread queued for. When the ring is
 * full (the database is stalled) the request writes its record itself
 * rather than lose it. Before start (commands, unit tests) and after stop,
 * search_record writes synchronously as it always did.
 */
#define RECORD_RING 8192
#define RECORD_BATCH 256
#define RECORD_FLUSH_MS 100

static struct {
    pthread_mutex_t lock;
    pthread_cond_t wake;
    pthread_t thread;
    bool running;  /* the flusher is up: queue */
    bool stopping; /* search_records_stop: drain and leave */
    struct record ring[RECORD_RING];
    size_t head, n; /* oldest at head */
} records = {.lock = PTHREAD_MUTEX_INITIALIZER};

/* Writes batch[0..n) in one transaction; on failure, one by one, so one bad
 * record costs only itself. Frees the queries. */
static void records_write(struct record *batch, size_t n)
{
    struct db *db = db_thread();
    bool ok = db != NULL && db_begin(db) == DB_OK;
    for (size_t i = 0; ok && i < n; i++)
        ok = record_write(db, &batch[i]) == SHOP_OK;
    if (ok)
        ok = db_commit(db) == DB_OK;
    else if (db != NULL && db_in_transaction(db))
        db_rollback(db);
    if (!ok && db != NULL) {
        size_t lost = 0;
        for (size_t i = 0; i < n; i++)
            lost += record_write(db, &batch[i]) != SHOP_OK;
        if (lost)
            log_warn("search: could not record %zu searches for analytics", lost);
    } else if (!ok) {
        log_warn("search: no database: %zu searches not recorded", n);
    }
    for (size_t i = 0; i < n; i++)
        free(batch[i].query);
}

static void *records_main(void *arg)
{
    (void)arg;
    static struct record batch[RECORD_BATCH];
    pthread_mutex_lock(&records.lock);
    for (;;) {
        if (records.n < RECORD_BATCH && !records.stopping) {
            struct timespec until;
            clock_gettime(CLOCK_MONOTONIC, &until);
            until.tv_nsec += RECORD_FLUSH_MS * 1000000L;
            if (until.tv_nsec >= 1000000000L) {
                until.tv_sec++;
                until.tv_nsec -= 1000000000L;
            }
            while (records.n < RECORD_BATCH && !records.stopping &&
                   pthread_cond_timedwait(&records.wake, &records.lock, &until) == 0) {
            }
        }
        if (records.n == 0 && records.stopping)
            break;
        size_t n = 0;
        while (records.n > 0 && n < RECORD_BATCH) {
            batch[n++] = records.ring[records.head];
            records.head = (records.head + 1) % RECORD_RING;
            records.n--;
        }
        if (n == 0)
            continue;
        /* never hold the lock across the database */
        pthread_mutex_unlock(&records.lock);
        records_write(batch, n);
        pthread_mutex_lock(&records.lock);
    }
    pthread_mutex_unlock(&records.lock);
    return NULL; /* its connection is closed by db_close_all at shutdown */
}

bool search_records_start(const struct config *cfg)
{
    (void)cfg;
    pthread_mutex_lock(&records.lock);
    if (records.running) {
        pthread_mutex_unlock(&records.lock);
        return true;
    }
    pthread_condattr_t attr;
    pthread_condattr_init(&attr);
    pthread_condattr_setclock(&attr, CLOCK_MONOTONIC);
    pthread_cond_init(&records.wake, &attr);
    pthread_condattr_destroy(&attr);
    records.stopping = false;
    records.head = records.n = 0;
    if (pthread_create(&records.thread, NULL, records_main, NULL) != 0) {
        pthread_cond_destroy(&records.wake);
        pthread_mutex_unlock(&records.lock);
        log_error("search: cannot start the analytics writer");
        return false;
    }
    records.running = true;
    pthread_mutex_unlock(&records.lock);
    return true;
}

void search_records_stop(void)
{
    pthread_mutex_lock(&records.lock);
    if (!records.running) {
        pthread_mutex_unlock(&records.lock);
        return;
    }
    records.stopping = true;
    pthread_cond_signal(&records.wake);
    pthread_t thread = records.thread;
    pthread_mutex_unlock(&records.lock);
    pthread_join(thread, NULL); /* it drains the queue first */
    pthread_mutex_lock(&records.lock);
    records.running = false;
    pthread_cond_destroy(&records.wake);
    pthread_mutex_unlock(&records.lock);
}

int search_record(struct ctx *ctx, const char *q, enum search_type type, int64_t result_count)
{
    /* At most RECORD_MAX_CHARS characters, cut between two of them. */
    const char *s = q ? q : "";
    size_t len = 0, chars = 0;
    while (s[len] != '\0') {
        if (((unsigned char)s[len] & 0xC0) != 0x80 && chars++ == RECORD_MAX_CHARS)
            break;
        len++;
    }
    struct record r = {.query = (char *)s,
                       .len = len,
                       .type = type,
                       .user_id = ctx->user ? ctx->user->id : 0,
                       .result_count = result_count,
                       .created_at = ctx->now};
    pthread_mutex_lock(&records.lock);
    if (records.running && !records.stopping && records.n < RECORD_RING) {
        char *copy = malloc(len + 1);
        if (copy != NULL) {
            memcpy(copy, s, len);
            copy[len] = '\0';
            r.query = copy;
            records.ring[(records.head + records.n) % RECORD_RING] = r;
            if (++records.n == RECORD_BATCH)
                pthread_cond_signal(&records.wake);
            pthread_mutex_unlock(&records.lock);
            return SHOP_OK;
        }
    }
    pthread_mutex_unlock(&records.lock);
    return record_write(ctx->db, &r);
}

/* ---- answer cache ---- */

/*
 * The printed bodies of recent searches (search.h, "answer cache"),
 * direct-mapped by a hash of (q, type): a new key replaces the entry in its
 * slot. Validity is the listing page cache's: catalog_page_cache_get, asked
 * for the first page of all active products under a tag no surface stores
 * under (so it never answers a hit), reads the catalogue epoch and then the
 * two O(1) figures (active count, highest id) without core having to expose
 * the epoch again. An entry keeps the epoch read BEFORE its search ran: a
 * write that overlapped the search bumps the epoch after it ends, so such an
 * entry never serves. Text is copied into the caller's arena under the lock,
 * since another thread may refill the slot before the reply is printed.
 */
#define SEARCH_CACHE_SLOTS 128
#define SEARCH_CACHE_TEXT_MAX (256 * 1024)
#define SEARCH_CACHE_TTL_MS 1000
#define SEARCH_CACHE_PROBE_TAG 0x5EA7 /* catalog page cache tag, never put */

struct search_cache_entry {
    bool used;
    char *q; /* malloc'd */
    enum search_type type;
    uint64_t epoch;
    int64_t count, max_id;
    int64_t born_ms;
    int64_t result_count;
    char *text; /* malloc'd, cap bytes */
    size_t len, cap;
};

static pthread_mutex_t search_cache_lock = PTHREAD_MUTEX_INITIALIZER;
static struct search_cache_entry search_cache_entries[SEARCH_CACHE_SLOTS];

static int64_t cache_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static struct search_cache_entry *search_cache_slot(const char *q, enum search_type type)
{
    uint64_t h = 0xcbf29ce484222325ull; /* FNV-1a */
    for (const unsigned char *p = (const unsigned char *)q; *p; p++)
        h = (h ^ *p) * 0x100000001b3ull;
    h = (h ^ (uint64_t)type) * 0x100000001b3ull;
    return &search_cache_entries[(h >> 32) % SEARCH_CACHE_SLOTS];
}

int search_cache_get(struct ctx *ctx, const char *q, enum search_type type, struct search_cache *sc)
{
    memset(sc, 0, sizeof(*sc));
    sc->q = q;
    sc->type = type;
    struct product_query probe = {.offset = 0, .limit = 1};
    struct catalog_page_cache pc;
    int rc = catalog_page_cache_get(ctx, &probe, SEARCH_CACHE_PROBE_TAG, &pc);
    if (rc != SHOP_OK)
        return rc;
    if (!pc.usable)
        return SHOP_OK;
    sc->epoch = pc.epoch;
    sc->count = pc.count;
    sc->max_id = pc.max_id;
    sc->usable = true;

    int64_t now_ms = cache_now_ms();
    pthread_mutex_lock(&search_cache_lock);
    struct search_cache_entry *e = search_cache_slot(q, type);
    if (e->used && e->type == type && strcmp(e->q, q) == 0 && e->epoch == sc->epoch &&
        e->count == sc->count && e->max_id == sc->max_id &&
        now_ms - e->born_ms < SEARCH_CACHE_TTL_MS) {
        char *copy = arena_alloc(ctx->arena, e->len + 1);
        memcpy(copy, e->text, e->len);
        copy[e->len] = '\0';
        sc->text = copy;
        sc->len = e->len;
        sc->result_count = e->result_count;
        sc->hit = true;
    }
    pthread_mutex_unlock(&search_cache_lock);
    return SHOP_OK;
}

void search_cache_put(const struct search_cache *sc, int64_t result_count, const char *text,
                      size_t len)
{
    if (!sc->usable || sc->hit || len > SEARCH_CACHE_TEXT_MAX)
        return;
    size_t qlen = strlen(sc->q);
    int64_t now_ms = cache_now_ms();
    pthread_mutex_lock(&search_cache_lock);
    struct search_cache_entry *e = search_cache_slot(sc->q, sc->type);
    if (e->cap < len) {
        char *bigger = realloc(e->text, len);
        if (bigger == NULL) {
            e->used = false; /* the slot's old key no longer matters */
            goto out;
        }
        e->text = bigger;
        e->cap = len;
    }
    if (e->q == NULL || strcmp(e->q, sc->q) != 0) {
        char *kq = malloc(qlen + 1);
        if (kq == NULL) {
            e->used = false;
            goto out;
        }
        memcpy(kq, sc->q, qlen + 1);
        free(e->q);
        e->q = kq;
    }
    memcpy(e->text, text, len);
    e->len = len;
    e->type = sc->type;
    e->epoch = sc->epoch;
    e->count = sc->count;
    e->max_id = sc->max_id;
    e->born_ms = now_ms;
    e->result_count = result_count;
    e->used = true;
out:
    pthread_mutex_unlock(&search_cache_lock);
}
