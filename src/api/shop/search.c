/*
 * search.c - GET /api/search/?q=&type=: the unified search of document 002
 * over core's search (FTS5 trigram on SQLite, pg_trgm on PostgreSQL).
 *
 * Exact (substring) matches answer {"products", "categories"} in the
 * document's compact shapes (a product's category as its id, price_weights
 * as {price, weight}, images as {image_url, description}); when nothing
 * matches, the "did you mean" body with names ranked by similarity, or 404
 * when nothing is close. Every search is recorded for analytics, those
 * answered from the answer cache (core search.h) too: a repeated query sends
 * the text printed by the first while the catalogue cannot have changed.
 */
#include <stdint.h>
#include <string.h>

#include <json-c/json.h>

#include "api/shop/shop.h"
#include "http/jsonw.h"
#include "core/catalog.h"
#include "core/core.h"
#include "core/search.h"
#include "util/arena.h"
#include "util/log.h"
#include "util/money.h"
#include "util/str.h"

/* Longer queries are not searches but pasted text; trigram work grows with
 * the query, so it is bounded. */
#define QUERY_MAX_CHARS 200

/*
 * A search answers up to SEARCH_LIMIT products plus SEARCH_CATEGORY_PRODUCTS
 * per matched category (over 200 products for a common word), so a product
 * is not built as a dozen member objects to be walked, printed and freed:
 * it is one json_object whose serializer (json_object_set_serializer)
 * writes the document's compact shape straight into json-c's output buffer
 * when the reply is printed. The text is what json-c prints for the same
 * members (PLAIN; strings escaped as json_escape_str does, '/' left alone
 * under JSON_C_TO_STRING_NOSLASHESCAPE). The product lives in the request's
 * arena, which outlives the printing.
 */

static void put_strings(struct printbuf *pb, const char *const *items, size_t n, int flags)
{
    jsonw_raw(pb, "[", 1);
    for (size_t i = 0; i < n; i++) {
        if (i)
            jsonw_raw(pb, ",", 1);
        jsonw_string(pb, items[i], flags);
    }
    jsonw_raw(pb, "]", 1);
}

static int product_to_json(struct json_object *obj, struct printbuf *pb, int level, int flags)
{
    (void)level;
    const struct product *p = json_object_get_userdata(obj);
    JSONW_LITERAL(pb, "{\"id\":");
    jsonw_int(pb, p->id);
    JSONW_LITERAL(pb, ",\"name\":");
    jsonw_string(pb, p->name, flags);
    JSONW_LITERAL(pb, ",\"category\":");
    jsonw_int(pb, p->category.id);
    JSONW_LITERAL(pb, ",\"inventory\":");
    jsonw_int(pb, p->inventory);
    JSONW_LITERAL(pb, ",\"tags\":");
    put_strings(pb, p->tags, p->n_tags, flags);
    JSONW_LITERAL(pb, ",\"price_weights\":[");
    for (size_t i = 0; i < p->n_variants; i++) {
        char price[MONEY_STR_MAX];
        money_format(p->variants[i].price_minor, price);
        JSONW_LITERAL(pb, "{\"price\":");
        jsonw_string(pb, price, flags);
        JSONW_LITERAL(pb, ",\"weight\":");
        jsonw_string(pb, p->variants[i].weight, flags);
        jsonw_raw(pb, "}", 1);
        if (i + 1 < p->n_variants)
            jsonw_raw(pb, ",", 1);
    }
    /* Images are stored as URLs only; there is no per-image caption. */
    JSONW_LITERAL(pb, "],\"images\":[");
    for (size_t i = 0; i < p->n_image_urls; i++) {
        JSONW_LITERAL(pb, "{\"image_url\":");
        jsonw_string(pb, p->image_urls[i], flags);
        JSONW_LITERAL(pb, ",\"description\":\"\"}");
        if (i + 1 < p->n_image_urls)
            jsonw_raw(pb, ",", 1);
    }
    JSONW_LITERAL(pb, "],\"is_active\":");
    if (p->is_active)
        JSONW_LITERAL(pb, "true");
    else
        JSONW_LITERAL(pb, "false");
    if (p->inventory > 0)
        JSONW_LITERAL(pb, ",\"status\":\"In stock\"}");
    else
        JSONW_LITERAL(pb, ",\"status\":\"Out of stock\"}");
    return 0;
}

/* The search's product: the document's compact shape, not the catalogue's. */
static struct json_object *search_product_json(const struct product *p)
{
    struct json_object *obj = json_object_new_object();
    json_object_set_serializer(obj, product_to_json, (void *)p, NULL);
    return obj;
}

static struct json_object *search_category_json(struct ctx *ctx, const struct category *c,
                                                const struct product_list *products)
{
    struct json_object *obj = json_object_new_object();
    /* The document's objects have no "id", yet products name their category
     * by it ("category": 2): without it a client could not create one. */
    json_object_object_add(obj, "id", json_object_new_int64(c->id));
    json_object_object_add(obj, "category_id", json_object_new_string(c->category_id));
    json_object_object_add(obj, "name", json_object_new_string(c->name));
    json_object_object_add(obj, "description",
                           json_object_new_string(c->description ? c->description : ""));
    json_object_object_add(obj, "tags", shop_string_array(c->tags, c->n_tags));
    json_object_object_add(obj, "image", shop_media_json(ctx, c->image));
    struct json_object *list = json_object_new_array_ext(products ? (int)products->n : 0);
    for (size_t i = 0; products && i < products->n; i++)
        json_object_array_add(list, search_product_json(&products->items[i]));
    json_object_object_add(obj, "products", list);
    return obj;
}

/* Replies with obj's body and keeps its text in the answer cache (search.h):
 * printed once, with the flags the reply is printed with, then sent as
 * that text. */
static void reply_and_cache(struct http_request *req, const struct search_cache *sc,
                            int64_t found, struct json_object *obj)
{
    if (!sc->usable) {
        http_reply_json(req, 200, obj);
        return;
    }
    size_t len;
    const char *text = json_object_to_json_string_length(
        obj, JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE, &len);
    search_cache_put(sc, found, text, len);
    struct json_object *raw =
        http_json_verbatim(req->arena, arena_strndup(req->arena, text, len), len);
    json_object_put(obj);
    http_reply_json(req, 200, raw);
}

/* type: absent or blank searches both; the singular is the document's word,
 * the plural is accepted too. */
static bool parse_type(const char *s, enum search_type *out)
{
    if (s == NULL || *s == '\0' || strcmp(s, "all") == 0)
        *out = SEARCH_ALL;
    else if (strcmp(s, "product") == 0 || strcmp(s, "products") == 0)
        *out = SEARCH_PRODUCTS;
    else if (strcmp(s, "category") == 0 || strcmp(s, "categories") == 0)
        *out = SEARCH_CATEGORIES;
    else
        return false;
    return true;
}

/* Analytics must never cost the client its answer. */
static void record(struct http_request *req, const char *q, enum search_type type, int64_t n)
{
    if (search_record(&req->ctx, q, type, n) != SHOP_OK)
        log_warn("search: could not record the search for analytics");
}

static size_t utf8_chars(const char *s)
{
    size_t n = 0;
    for (; *s; s++)
        n += ((unsigned char)*s & 0xC0) != 0x80;
    return n;
}

void shop_search(struct http_request *req)
{
    const char *raw = http_query(req, "q");
    struct str qs = str_trim(str_from(raw));
    if (qs.n == 0) {
        shop_reply_error(req, 400, "Query parameter 'q' is required.");
        return;
    }
    const char *q = str_dup(req->arena, qs);
    if (utf8_chars(q) > QUERY_MAX_CHARS) {
        shop_reply_error(req, 400,
                         arena_sprintf(req->arena,
                                       "Query parameter 'q' must be at most %d characters.",
                                       QUERY_MAX_CHARS));
        return;
    }
    enum search_type type;
    if (!parse_type(http_query(req, "type"), &type)) {
        shop_reply_error(req, 400,
                         "Invalid type. Use 'product' or 'category', or leave it out to search "
                         "both.");
        return;
    }
    /* The body of a recent identical search, while the catalogue cannot
     * have changed (search.h, "answer cache"; docs/search.md). */
    struct search_cache sc;
    if (search_cache_get(&req->ctx, q, type, &sc) != SHOP_OK) {
        shop_reply_internal(req);
        return;
    }
    if (sc.hit) {
        record(req, q, type, sc.result_count);
        http_reply_json(req, 200, http_json_verbatim(req->arena, sc.text, sc.len));
        return;
    }
    struct search_result res;
    memset(&res, 0, sizeof(res));
    if (search_run(&req->ctx, q, type, &res) != SHOP_OK) {
        shop_reply_internal(req);
        return;
    }
    int64_t found = (int64_t)res.products.n + (int64_t)res.categories.n;
    if (found > 0) {
        record(req, q, type, found);
        struct json_object *obj = json_object_new_object();
        struct json_object *products = json_object_new_array_ext((int)res.products.n);
        for (size_t i = 0; i < res.products.n; i++)
            json_object_array_add(products, search_product_json(&res.products.items[i]));
        json_object_object_add(obj, "products", products);
        struct json_object *cats = json_object_new_array_ext((int)res.categories.n);
        for (size_t i = 0; i < res.categories.n; i++)
            json_object_array_add(
                cats, search_category_json(&req->ctx, &res.categories.items[i],
                                           res.category_products ? &res.category_products[i]
                                                                 : NULL));
        json_object_object_add(obj, "categories", cats);
        reply_and_cache(req, &sc, found, obj);
        return;
    }
    struct search_suggestions sug;
    memset(&sug, 0, sizeof(sug));
    if (search_suggest(&req->ctx, q, type, &sug) != SHOP_OK) {
        shop_reply_internal(req);
        return;
    }
    record(req, q, type, 0);
    if (sug.n_products + sug.n_categories == 0) {
        http_reply_detail(req, 404, "No matches found.");
        return;
    }
    struct json_object *obj = json_object_new_object();
    json_object_object_add(obj, "detail",
                           json_object_new_string("No exact match found, did you mean:"));
    json_object_object_add(obj, "product_suggestions",
                           shop_string_array(sug.products, sug.n_products));
    json_object_object_add(obj, "category_suggestions",
                           shop_string_array(sug.categories, sug.n_categories));
    reply_and_cache(req, &sc, 0, obj);
}
