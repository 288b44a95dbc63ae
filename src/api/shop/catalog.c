/*
 * catalog.c - the shop surface's catalogue: /api/categories/ (list, create,
 * ordered, available-orders, detail by the public category_id) and
 * /api/products/ (list, create, detail, update, delete, bulk-upload), with
 * the serializers of the category and product objects of document 002.
 *
 * Reading is public; writing is admin-only (user_is_admin), checked here
 * before the body is looked at. Category validation errors are DRF's field
 * dict, as the document shows for display_order; product errors are the
 * document's {"error": ...} with "details". docs/surfaces/shop.md
 * ("Catalogue and search") lists the decisions taken where the document is
 * silent or contradicts itself.
 */
#include <limits.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <json-c/json.h>

#include "api/shop/shop.h"
#include "core/catalog.h"
#include "core/core.h"
#include "core/import.h"
#include "core/media.h"
#include "core/user.h"
#include "util/arena.h"
#include "util/money.h"
#include "util/str.h"
#include "util/time.h"

#define PERMISSIONS_REQUIRED "Permissions required"
#define CATEGORY_NOT_FOUND "Invalid category ID or insufficient permissions"
#define PRODUCT_NOT_VISIBLE "Product not found or inactive."
#define PRODUCT_NOT_FOUND "Product not found."
#define PRODUCT_INVALID "Product with this name already exists or missing required fields"
#define PRODUCT_UPDATED "Product updated successfully."
#define DISPLAY_ORDER_RANGE "Display order must be between 1 and 8."
#define NOT_AN_INTEGER "A valid integer is required."

/* ---- serializers ---- */

struct json_object *shop_string_array(const char *const *items, size_t n)
{
    struct json_object *list = json_object_new_array_ext((int)n);
    for (size_t i = 0; i < n; i++)
        json_object_array_add(list, json_object_new_string(items[i] ? items[i] : ""));
    return list;
}

struct json_object *shop_media_json(struct ctx *ctx, const char *path)
{
    if (path == NULL || *path == '\0')
        return NULL;
    /* The demo catalogue may point at images elsewhere. */
    if (strncmp(path, "http://", 7) == 0 || strncmp(path, "https://", 8) == 0)
        return json_object_new_string(path);
    return json_object_new_string(media_url(ctx, path));
}

struct json_object *shop_category_json(struct ctx *ctx, const struct category *c,
                                       const int *free_orders, size_t n_free)
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
    json_object_object_add(obj, "display_order",
                           c->display_order > 0 ? json_object_new_int(c->display_order) : NULL);
    struct json_object *orders = json_object_new_array_ext((int)n_free);
    for (size_t i = 0; i < n_free; i++)
        json_object_array_add(orders, json_object_new_int(free_orders[i]));
    json_object_object_add(obj, "available_display_orders", orders);
    return obj;
}

static const char *stock_status(int64_t inventory)
{
    return inventory > 0 ? "In stock" : "Out of stock";
}

struct json_object *shop_product_json(const struct product *p)
{
    struct json_object *obj = json_object_new_object();
    json_object_object_add(obj, "id", json_object_new_int64(p->id));
    json_object_object_add(obj, "name", json_object_new_string(p->name));
    json_object_object_add(obj, "description",
                           json_object_new_string(p->description ? p->description : ""));
    struct json_object *cat = json_object_new_object();
    json_object_object_add(cat, "id", json_object_new_int64(p->category.id));
    json_object_object_add(cat, "name",
                           json_object_new_string(p->category.name ? p->category.name : ""));
    json_object_object_add(obj, "category", cat);
    json_object_object_add(obj, "inventory", json_object_new_int64(p->inventory));
    struct json_object *pws = json_object_new_array_ext((int)p->n_variants);
    for (size_t i = 0; i < p->n_variants; i++) {
        const struct variant *v = &p->variants[i];
        struct json_object *pw = json_object_new_object();
        json_object_object_add(pw, "id", json_object_new_int64(v->id));
        json_object_object_add(pw, "price", http_json_money(v->price_minor));
        json_object_object_add(pw, "weight", json_object_new_string(v->weight ? v->weight : ""));
        json_object_object_add(pw, "inventory", json_object_new_int64(v->inventory));
        json_object_object_add(pw, "status", json_object_new_string(stock_status(v->inventory)));
        json_object_array_add(pws, pw);
    }
    json_object_object_add(obj, "price_weights", pws);
    json_object_object_add(obj, "tags", shop_string_array(p->tags, p->n_tags));
    json_object_object_add(obj, "image_urls", shop_string_array(p->image_urls, p->n_image_urls));
    json_object_object_add(obj, "is_active", json_object_new_boolean(p->is_active));
    json_object_object_add(obj, "created_at", http_json_time(p->created_at));
    json_object_object_add(obj, "updated_at", http_json_time(p->updated_at));
    return obj;
}

/* ---- shared input readers ---- */

static bool is_admin(struct http_request *req)
{
    return user_is_admin(req->ctx.user);
}

/* The 403 every catalogue write gives a non-admin; true when it answered. */
static bool refuse_non_admin(struct http_request *req)
{
    if (is_admin(req))
        return false;
    shop_reply_error(req, 403, PERMISSIONS_REQUIRED);
    return true;
}

/* The text of a JSON string or number, trimmed. false when it holds a NUL:
 * a C string would silently end there. */
static bool json_text(struct json_object *v, struct str *out)
{
    const char *p = json_object_get_string(v);
    size_t n = json_object_is_type(v, json_type_string) ? (size_t)json_object_get_string_len(v)
                                                         : strlen(p);
    if (memchr(p, '\0', n) != NULL)
        return false;
    *out = str_trim((struct str){p, n});
    return true;
}

/* A whole number: a JSON integer, an integral float, or a string of digits
 * (form fields arrive as strings). */
static bool whole_number(struct json_object *v, int64_t *out)
{
    switch (json_object_get_type(v)) {
    case json_type_int:
        *out = json_object_get_int64(v);
        return true;
    case json_type_double: {
        double d = json_object_get_double(v);
        if (d != d || d < -9.0e15 || d > 9.0e15 || d != (double)(int64_t)d)
            return false;
        *out = (int64_t)d;
        return true;
    }
    case json_type_string: {
        struct str s;
        return json_text(v, &s) && s.n > 0 && str_to_int64(s, out);
    }
    default:
        return false;
    }
}

/* A query-string or form flag: "1", "true", "yes", "on" (any case). */
static bool flag_value(const char *s)
{
    return s != NULL && (strcmp(s, "1") == 0 || strcasecmp(s, "true") == 0 ||
                         strcasecmp(s, "yes") == 0 || strcasecmp(s, "on") == 0);
}

/* Appends the non-blank, trimmed items of a comma-separated string. */
static void split_commas(struct arena *a, const char *s, const char **items, size_t *n)
{
    const char *p = s;
    for (;;) {
        const char *comma = strchr(p, ',');
        size_t len = comma ? (size_t)(comma - p) : strlen(p);
        struct str item = str_trim((struct str){p, len});
        if (item.n > 0)
            items[(*n)++] = str_dup(a, item);
        if (comma == NULL)
            break;
        p = comma + 1;
    }
}

/* A list of strings: a JSON array of strings, or a string holding either a
 * JSON array (how multipart clients send lists) or comma-separated items.
 * Absent: *n stays -1. */
static void read_string_list(struct http_request *req, struct json_object *obj, const char *name,
                             const char ***out, ssize_t *n, struct errors *err)
{
    struct json_object *v = NULL;
    *out = NULL;
    *n = -1;
    if (!json_object_object_get_ex(obj, name, &v))
        return;
    struct json_object *parsed = NULL;
    if (json_object_is_type(v, json_type_string)) {
        struct str s;
        if (!json_text(v, &s)) {
            errors_add(err, name, "Null characters are not allowed.");
            return;
        }
        if (s.n > 0 && s.p[0] == '[') {
            parsed = json_tokener_parse(str_dup(req->arena, s));
            if (parsed == NULL || !json_object_is_type(parsed, json_type_array)) {
                json_object_put(parsed);
                errors_add(err, name, "Value must be valid JSON.");
                return;
            }
            v = parsed;
        } else {
            const char *text = str_dup(req->arena, s);
            size_t commas = 1;
            for (const char *p = text; *p; p++)
                commas += *p == ',';
            const char **items = arena_alloc(req->arena, commas * sizeof(*items));
            size_t count = 0;
            split_commas(req->arena, text, items, &count);
            *out = items;
            *n = (ssize_t)count;
            return;
        }
    }
    if (json_object_is_type(v, json_type_null)) {
        errors_add(err, name, "This field may not be null.");
        goto out;
    }
    if (!json_object_is_type(v, json_type_array)) {
        errors_add(err, name,
                   arena_sprintf(req->arena, "Expected a list of items but got type \"%s\".",
                                 http_json_type_name(v)));
        goto out;
    }
    size_t count = json_object_array_length(v);
    const char **items = arena_alloc(req->arena, (count ? count : 1) * sizeof(*items));
    size_t kept = 0;
    bool ok = true;
    for (size_t i = 0; i < count; i++) {
        struct json_object *item = json_object_array_get_idx(v, i);
        if (!json_object_is_type(item, json_type_string)) {
            errors_add(err, name,
                       arena_sprintf(req->arena, "Item %zu: Not a valid string.", i + 1));
            ok = false;
            continue;
        }
        struct str s = str_trim((struct str){json_object_get_string(item),
                                             (size_t)json_object_get_string_len(item)});
        if (memchr(s.p, '\0', s.n) != NULL) {
            errors_add(err, name,
                       arena_sprintf(req->arena, "Item %zu: Null characters are not allowed.",
                                     i + 1));
            ok = false;
            continue;
        }
        if (s.n == 0) {
            errors_add(err, name,
                       arena_sprintf(req->arena, "Item %zu: This field may not be blank.", i + 1));
            ok = false;
            continue;
        }
        items[kept++] = str_dup(req->arena, s);
    }
    if (ok) {
        *out = items;
        *n = (ssize_t)kept;
    }
out:
    json_object_put(parsed);
}

/* ---- categories ---- */

/* Reads the category fields of a create (create: name required), PUT
 * (name required) or PATCH; the image file is handled by the caller. */
static void read_category(struct http_request *req, struct json_object *body, bool name_required,
                          struct category_input *in, struct errors *err)
{
    memset(in, 0, sizeof(*in));
    in->n_tags = -1;
    input_string(req, body, "category_id", INPUT_TRIM, &in->category_id, err);
    input_string(req, body, "name", (name_required ? INPUT_REQUIRED : 0) | INPUT_TRIM, &in->name,
                 err);
    struct json_object *v = NULL;
    if (json_object_object_get_ex(body, "description", &v) &&
        json_object_is_type(v, json_type_null))
        in->description = "";
    else
        input_string(req, body, "description", INPUT_TRIM | INPUT_ALLOW_BLANK, &in->description,
                     err);
    read_string_list(req, body, "tags", &in->tags, &in->n_tags, err);
    if (json_object_object_get_ex(body, "display_order", &v)) {
        int64_t order;
        bool blank = json_object_is_type(v, json_type_null) ||
                     (json_object_is_type(v, json_type_string) &&
                      str_trim(str_from(json_object_get_string(v))).n == 0);
        if (blank) {
            /* null (or an empty form field) takes the category out of the order. */
            in->has_display_order = true;
            in->display_order = 0;
        } else if (json_object_is_type(v, json_type_boolean) || !whole_number(v, &order)) {
            errors_add(err, "display_order", NOT_AN_INTEGER);
        } else if (order < 1 || order > CATALOG_DISPLAY_SLOTS) {
            errors_add(err, "display_order", DISPLAY_ORDER_RANGE);
        } else {
            in->has_display_order = true;
            in->display_order = (int)order;
        }
    }
}

/* The uploaded "image" file, if any: stored under categories/. A string in
 * the image field (the URL a client read back) keeps the image; JSON null
 * removes it. *stored is set when a new file was written. */
static int read_category_image(struct http_request *req, struct json_object *body,
                               struct category_input *in, struct errors *err, const char **stored)
{
    *stored = NULL;
    const struct http_file *f = http_file(req, "image");
    /* A browser sends an empty file part for a file input left empty. */
    if (f != NULL && !(f->len == 0 && (f->filename == NULL || *f->filename == '\0'))) {
        int rc = media_store_image(&req->ctx, "categories", f->data, f->len, "image", err,
                                   stored);
        if (rc == SHOP_OK)
            in->image = *stored;
        return rc == SHOP_EINVAL ? SHOP_OK : rc;
    }
    struct json_object *v = NULL;
    if (!json_object_object_get_ex(body, "image", &v) || json_object_is_type(v, json_type_string))
        return SHOP_OK;
    if (json_object_is_type(v, json_type_null))
        in->image = "";
    else
        errors_add(err, "image",
                   "The submitted data was not a file. Check the encoding type on the form.");
    return SHOP_OK;
}

/* Free display orders, computed once per answer. */
struct free_orders {
    int orders[CATALOG_DISPLAY_SLOTS];
    size_t n;
};

static bool load_free_orders(struct http_request *req, struct free_orders *fo)
{
    if (catalog_display_orders_free(&req->ctx, fo->orders, &fo->n) != SHOP_OK) {
        shop_reply_internal(req);
        return false;
    }
    return true;
}

static void reply_category(struct http_request *req, int status, const struct category *c)
{
    struct free_orders fo;
    if (!load_free_orders(req, &fo))
        return;
    http_reply_json(req, status, shop_category_json(&req->ctx, c, fo.orders, fo.n));
}

static void reply_category_list(struct http_request *req, bool only_ordered)
{
    struct category_list list;
    struct free_orders fo;
    if (catalog_category_list(&req->ctx, CATEGORY_BY_DISPLAY_ORDER, only_ordered, 0, 0, &list) !=
        SHOP_OK) {
        shop_reply_internal(req);
        return;
    }
    if (!load_free_orders(req, &fo))
        return;
    struct json_object *arr = json_object_new_array_ext((int)list.n);
    for (size_t i = 0; i < list.n; i++)
        json_object_array_add(arr, shop_category_json(&req->ctx, &list.items[i], fo.orders, fo.n));
    http_reply_json(req, 200, arr);
}

void shop_categories_list(struct http_request *req)
{
    reply_category_list(req, false);
}

void shop_categories_ordered(struct http_request *req)
{
    reply_category_list(req, true);
}

void shop_categories_available_orders(struct http_request *req)
{
    struct free_orders fo;
    if (!load_free_orders(req, &fo))
        return;
    struct json_object *obj = json_object_new_object();
    struct json_object *orders = json_object_new_array_ext((int)fo.n);
    for (size_t i = 0; i < fo.n; i++)
        json_object_array_add(orders, json_object_new_int(fo.orders[i]));
    json_object_object_add(obj, "available_orders", orders);
    json_object_object_add(obj, "total_slots", json_object_new_int(CATALOG_DISPLAY_SLOTS));
    json_object_object_add(obj, "used_slots",
                           json_object_new_int(CATALOG_DISPLAY_SLOTS - (int)fo.n));
    http_reply_json(req, 200, obj);
}

/* 400 with DRF's field dict (the shape the document shows for
 * display_order), 404, 500; true when it answered. */
static bool reply_category_failure(struct http_request *req, int rc, const struct errors *err)
{
    switch (rc) {
    case SHOP_OK:
        return false;
    case SHOP_EINVAL:
    case SHOP_ECONFLICT:
        http_reply_json(req, 400, shop_errors_json(err));
        break;
    case SHOP_ENOTFOUND:
        shop_reply_error(req, 404, CATEGORY_NOT_FOUND);
        break;
    default:
        shop_reply_internal(req);
    }
    return true;
}

/* Creates (existing NULL) or updates a category from the request. */
static void write_category(struct http_request *req, const struct category *existing,
                           bool name_required)
{
    struct json_object *body = http_body(req);
    struct errors err;
    errors_init(&err, req->arena);
    struct category_input in;
    read_category(req, body, name_required, &in, &err);
    const char *stored = NULL;
    int rc = read_category_image(req, body, &in, &err, &stored);
    if (rc == SHOP_OK && errors_any(&err))
        rc = SHOP_EINVAL;
    struct category c;
    if (rc == SHOP_OK)
        rc = existing ? catalog_category_update(&req->ctx, existing->id, &in, &err, &c)
                      : catalog_category_create(&req->ctx, &in, &err, &c);
    if (rc != SHOP_OK) {
        /* Nothing refers to a file the write did not keep. */
        if (stored)
            media_remove(&req->ctx, stored);
        reply_category_failure(req, rc, &err);
        return;
    }
    /* The file of a replaced image is removed by core once the write commits. */
    reply_category(req, existing ? 200 : 201, &c);
}

void shop_categories_create(struct http_request *req)
{
    if (refuse_non_admin(req))
        return;
    write_category(req, NULL, true);
}

/* The category named by the route's category_id; answers 404 itself. */
static bool lookup_category(struct http_request *req, struct category *c)
{
    int rc = catalog_category_get_public(&req->ctx, http_param(req, "category_id"), c);
    if (rc == SHOP_OK)
        return true;
    if (rc == SHOP_ENOTFOUND)
        shop_reply_error(req, 404, CATEGORY_NOT_FOUND);
    else
        shop_reply_internal(req);
    return false;
}

void shop_category_get(struct http_request *req)
{
    struct category c;
    if (lookup_category(req, &c))
        reply_category(req, 200, &c);
}

static void update_category(struct http_request *req, bool partial)
{
    if (refuse_non_admin(req))
        return;
    struct category c;
    if (lookup_category(req, &c))
        write_category(req, &c, !partial);
}

void shop_category_put(struct http_request *req)
{
    update_category(req, false);
}

void shop_category_patch(struct http_request *req)
{
    update_category(req, true);
}

void shop_category_delete(struct http_request *req)
{
    if (refuse_non_admin(req))
        return;
    struct category c;
    if (!lookup_category(req, &c))
        return;
    struct errors err;
    errors_init(&err, req->arena);
    int rc = catalog_category_delete(&req->ctx, c.id, &err);
    if (rc == SHOP_ECONFLICT || rc == SHOP_EINVAL) {
        const char *msg = err.head ? err.head->message : "This category cannot be deleted.";
        shop_reply_error(req, 400, msg);
        return;
    }
    if (rc == SHOP_ENOTFOUND) {
        shop_reply_error(req, 404, CATEGORY_NOT_FOUND);
        return;
    }
    if (rc != SHOP_OK) {
        shop_reply_internal(req);
        return;
    }
    http_reply_bytes(req, 204, "application/json", "", 0);
}

/* ---- products ---- */

/* What a product body says beyond struct product_input: the top-level
 * inventory of the document's PUT, spread over the variants when they do
 * not carry their own. */
struct product_body {
    struct product_input in;
    bool has_inventory;
    int64_t inventory;
    bool variants_counted; /* some variant named its own inventory */
};

/* The category: "category" is categories.id (as the document's POST);
 * "category_id" is categories.id when a number, and the public category_id
 * ("001", as in the bulk-upload file) when a string. */
static void read_product_category(struct http_request *req, struct json_object *body,
                                  bool required, struct product_input *in, struct errors *err)
{
    const char *field = "category";
    struct json_object *v = NULL;
    if (!json_object_object_get_ex(body, "category", &v)) {
        field = "category_id";
        if (!json_object_object_get_ex(body, "category_id", &v)) {
            if (required)
                errors_add(err, "category", "This field is required.");
            return;
        }
    }
    if (json_object_is_type(v, json_type_null)) {
        errors_add(err, field, "This field may not be null.");
        return;
    }
    if (json_object_is_type(v, json_type_object) && strcmp(field, "category") == 0) {
        /* A client echoing the {"id", "name"} it read back. */
        struct json_object *id = NULL;
        if (json_object_object_get_ex(v, "id", &id))
            v = id;
    }
    int64_t pk;
    if (strcmp(field, "category_id") == 0 && json_object_is_type(v, json_type_string)) {
        struct str s;
        struct category c;
        if (!json_text(v, &s)) {
            errors_add(err, field, "Null characters are not allowed.");
            return;
        }
        int rc = s.n ? catalog_category_get_public(&req->ctx, str_dup(req->arena, s), &c)
                     : SHOP_ENOTFOUND;
        if (rc == SHOP_OK) {
            in->has_category = true;
            in->category_id = c.id;
            return;
        }
        if (rc != SHOP_ENOTFOUND || !whole_number(v, &pk)) {
            errors_add(err, field,
                       arena_sprintf(req->arena, "Category \"%s\" does not exist.",
                                     str_dup(req->arena, s)));
            return;
        }
    } else if (json_object_is_type(v, json_type_boolean) || !whole_number(v, &pk)) {
        errors_add(err, field,
                   arena_sprintf(req->arena, "Incorrect type. Expected pk value, received %s.",
                                 http_json_type_name(v)));
        return;
    }
    in->has_category = true;
    in->category_id = pk;
}

static bool read_money(struct json_object *v, int64_t *minor)
{
    if (!json_object_is_type(v, json_type_int) && !json_object_is_type(v, json_type_double) &&
        !json_object_is_type(v, json_type_string))
        return false;
    struct str s;
    char buf[MONEY_STR_MAX];
    if (!json_text(v, &s) || s.n == 0 || s.n >= sizeof(buf))
        return false;
    memcpy(buf, s.p, s.n);
    buf[s.n] = '\0';
    /* Negative prices reach core, which words the refusal. */
    return money_parse(buf, true, minor);
}

/* The array form: [{"price", "weight", "inventory"}, ...]. */
static void read_variant_array(struct http_request *req, struct json_object *list,
                               struct product_body *pb, struct errors *err)
{
    size_t n = json_object_array_length(list);
    struct variant_input *vs = arena_zalloc(req->arena, (n ? n : 1) * sizeof(*vs));
    int before = err->count;
    for (size_t i = 0; i < n; i++) {
        struct json_object *item = json_object_array_get_idx(list, i), *v = NULL;
        struct variant_input *out = &vs[i];
        if (!json_object_is_type(item, json_type_object)) {
            errors_add(err, "price_weights",
                       arena_sprintf(req->arena,
                                     "Item %zu: Invalid data. Expected a dictionary, but got %s.",
                                     i + 1, http_json_type_name(item)));
            continue;
        }
        if (!json_object_object_get_ex(item, "price", &v))
            errors_add(err, "price_weights",
                       arena_sprintf(req->arena, "Item %zu: price: This field is required.",
                                     i + 1));
        else if (!read_money(v, &out->price_minor))
            errors_add(err, "price_weights",
                       arena_sprintf(req->arena,
                                     "Item %zu: price: A valid number with at most 2 decimal "
                                     "places is required.",
                                     i + 1));
        out->weight = "";
        struct str w;
        if (json_object_object_get_ex(item, "weight", &v) &&
            !json_object_is_type(v, json_type_null)) {
            bool scalar = json_object_is_type(v, json_type_string) ||
                          json_object_is_type(v, json_type_int) ||
                          json_object_is_type(v, json_type_double);
            if (scalar && json_text(v, &w))
                out->weight = str_dup(req->arena, w);
            else
                errors_add(err, "price_weights",
                           arena_sprintf(req->arena, "Item %zu: weight: Not a valid string.",
                                         i + 1));
        }
        if (json_object_object_get_ex(item, "inventory", &v) &&
            !json_object_is_type(v, json_type_null)) {
            pb->variants_counted = true;
            if (json_object_is_type(v, json_type_boolean) || !whole_number(v, &out->inventory))
                errors_add(err, "price_weights",
                           arena_sprintf(req->arena, "Item %zu: inventory: %s", i + 1,
                                         NOT_AN_INTEGER));
        }
    }
    if (err->count == before) {
        pb->in.variants = vs;
        pb->in.n_variants = (ssize_t)n;
    }
}

static void read_variants(struct http_request *req, struct json_object *body, bool required,
                          struct product_body *pb, struct errors *err)
{
    struct json_object *v = NULL;
    if (!json_object_object_get_ex(body, "price_weights", &v)) {
        if (required)
            errors_add(err, "price_weights", "This field is required.");
        return;
    }
    if (json_object_is_type(v, json_type_array)) {
        read_variant_array(req, v, pb, err);
    } else if (json_object_is_type(v, json_type_string)) {
        struct variant_input *vs = NULL;
        size_t n = 0;
        struct str text;
        if (!json_text(v, &text))
            errors_add(err, "price_weights", "Null characters are not allowed.");
        else if (catalog_parse_price_weights(&req->ctx, str_dup(req->arena, text),
                                             "price_weights", err, &vs, &n)) {
            pb->in.variants = vs;
            pb->in.n_variants = (ssize_t)n;
        }
    } else {
        errors_add(err, "price_weights",
                   arena_sprintf(req->arena,
                                 "Expected a list of price-weights or a string such as "
                                 "\"2000-100gms,3000-200gms\" but got type \"%s\".",
                                 http_json_type_name(v)));
    }
}

static void read_active(struct http_request *req, struct json_object *body,
                        struct product_input *in, struct errors *err)
{
    struct json_object *v = NULL;
    if (!json_object_object_get_ex(body, "is_active", &v))
        return;
    if (json_object_is_type(v, json_type_boolean)) {
        in->has_active = true;
        in->is_active = json_object_get_boolean(v);
        return;
    }
    /* DRF's BooleanField also takes these spellings (form bodies). */
    static const char *const yes[] = {"true", "1", "yes", "on"};
    static const char *const no[] = {"false", "0", "no", "off"};
    struct str text;
    if ((json_object_is_type(v, json_type_string) || json_object_is_type(v, json_type_int)) &&
        json_text(v, &text)) {
        const char *s = str_dup(req->arena, text);
        for (size_t i = 0; i < sizeof(yes) / sizeof(yes[0]); i++) {
            if (strcasecmp(s, yes[i]) == 0 || strcasecmp(s, no[i]) == 0) {
                in->has_active = true;
                in->is_active = strcasecmp(s, yes[i]) == 0;
                return;
            }
        }
    }
    errors_add(err, "is_active", "Must be a valid boolean.");
}

/* Reads a product body. full: a create or a PUT (name, category and
 * price_weights required); otherwise a PATCH. */
static void read_product(struct http_request *req, struct json_object *body, bool full,
                         struct product_body *pb, struct errors *err)
{
    memset(pb, 0, sizeof(*pb));
    struct product_input *in = &pb->in;
    in->n_tags = -1;
    in->n_image_urls = -1;
    in->n_variants = -1;
    input_string(req, body, "name", (full ? INPUT_REQUIRED : 0) | INPUT_TRIM, &in->name, err);
    struct json_object *v = NULL;
    if (json_object_object_get_ex(body, "description", &v) &&
        json_object_is_type(v, json_type_null))
        in->description = "";
    else
        input_string(req, body, "description", INPUT_TRIM | INPUT_ALLOW_BLANK, &in->description,
                     err);
    read_product_category(req, body, full, in, err);
    read_string_list(req, body, "tags", &in->tags, &in->n_tags, err);
    read_string_list(req, body, "image_urls", &in->image_urls, &in->n_image_urls, err);
    read_active(req, body, in, err);
    read_variants(req, body, full, pb, err);
    if (json_object_object_get_ex(body, "inventory", &v) &&
        !json_object_is_type(v, json_type_null)) {
        if (json_object_is_type(v, json_type_boolean) || !whole_number(v, &pb->inventory))
            errors_add(err, "inventory", NOT_AN_INTEGER);
        else if (pb->inventory < 0)
            errors_add(err, "inventory", "Ensure this value is greater than or equal to 0.");
        else
            pb->has_inventory = true;
    }
}

/* Spreads a product's total inventory over its variants as the bulk import
 * does: evenly, the remainder to the first, so the computed total is it. */
static void spread_inventory(struct variant_input *vs, size_t n, int64_t total)
{
    if (n == 0)
        return;
    int64_t each = total / (int64_t)n;
    for (size_t i = 0; i < n; i++)
        vs[i].inventory = each;
    vs[0].inventory += total % (int64_t)n;
}

/* Applies the top-level inventory: to the given variants when they carry
 * no counts of their own, or, when no variants were given, to the stored
 * ones (same prices and weights, positions kept so their ids survive). */
static int apply_inventory(struct http_request *req, const struct product *current,
                           struct product_body *pb)
{
    if (!pb->has_inventory || pb->variants_counted)
        return SHOP_OK;
    if (pb->in.n_variants >= 0) {
        spread_inventory((struct variant_input *)pb->in.variants, (size_t)pb->in.n_variants,
                         pb->inventory);
        return SHOP_OK;
    }
    if (current == NULL || current->n_variants == 0)
        return SHOP_OK;
    struct variant_input *vs = arena_zalloc(req->arena, current->n_variants * sizeof(*vs));
    for (size_t i = 0; i < current->n_variants; i++) {
        vs[i].price_minor = current->variants[i].price_minor;
        vs[i].weight = current->variants[i].weight;
    }
    spread_inventory(vs, current->n_variants, pb->inventory);
    pb->in.variants = vs;
    pb->in.n_variants = (ssize_t)current->n_variants;
    return SHOP_OK;
}

static bool reply_product_failure(struct http_request *req, int rc, const struct errors *err,
                                  const char *not_found)
{
    switch (rc) {
    case SHOP_OK:
        return false;
    case SHOP_EINVAL:
    case SHOP_ECONFLICT:
        shop_reply_invalid(req, PRODUCT_INVALID, shop_errors_json(err));
        break;
    case SHOP_ENOTFOUND:
        shop_reply_error(req, 404, not_found);
        break;
    default:
        shop_reply_internal(req);
    }
    return true;
}

void shop_products_list(struct http_request *req)
{
    struct http_page page;
    if (!http_page_params(req, CATALOG_PAGE_SIZE_DEFAULT, CATALOG_PAGE_SIZE_MAX, &page))
        return;
    struct product_query q = {
        .include_inactive = is_admin(req) && flag_value(http_query(req, "include_inactive")),
        .offset = page.number > 0 ? http_page_offset(&page) : 0,
        .limit = page.size,
    };
    struct product_list list;
    if (catalog_product_list(&req->ctx, &q, &list) != SHOP_OK) {
        shop_reply_internal(req);
        return;
    }
    bool was_last = page.number == -1;
    if (!http_page_check(req, &page, list.count))
        return;
    if (was_last && page.number > 1) {
        /* ?page=last: the count was needed to know which page that is. */
        q.offset = http_page_offset(&page);
        if (catalog_product_list(&req->ctx, &q, &list) != SHOP_OK) {
            shop_reply_internal(req);
            return;
        }
    }
    struct json_object *results = json_object_new_array_ext((int)list.n);
    for (size_t i = 0; i < list.n; i++)
        json_object_array_add(results, shop_product_json(&list.items[i]));
    http_reply_json(req, 200, http_page_envelope(req, &page, list.count, results));
}

void shop_products_create(struct http_request *req)
{
    if (refuse_non_admin(req))
        return;
    struct errors err;
    errors_init(&err, req->arena);
    struct product_body pb;
    read_product(req, http_body(req), true, &pb, &err);
    if (errors_any(&err)) {
        shop_reply_invalid(req, PRODUCT_INVALID, shop_errors_json(&err));
        return;
    }
    apply_inventory(req, NULL, &pb);
    struct product p;
    if (reply_product_failure(req, catalog_product_create(&req->ctx, &pb.in, &err, &p), &err,
                              PRODUCT_NOT_FOUND))
        return;
    http_reply_json(req, 201, shop_product_json(&p));
}

/* Admins see inactive products (to review and edit them); everyone else
 * gets the document's 404. */
void shop_product_get(struct http_request *req)
{
    struct product p;
    int rc = catalog_product_get(&req->ctx, http_param_int(req, "id"), is_admin(req), &p);
    if (rc == SHOP_ENOTFOUND) {
        shop_reply_error(req, 404, PRODUCT_NOT_VISIBLE);
        return;
    }
    if (rc != SHOP_OK) {
        shop_reply_internal(req);
        return;
    }
    http_reply_json(req, 200, shop_product_json(&p));
}

/* Looks the product up first (404 whatever the body holds), as DRF's
 * get_object does. */
static void update_product(struct http_request *req, bool partial)
{
    if (refuse_non_admin(req))
        return;
    int64_t id = http_param_int(req, "id");
    struct errors err;
    errors_init(&err, req->arena);
    struct product current;
    if (reply_product_failure(req, catalog_product_get(&req->ctx, id, true, &current), &err,
                              PRODUCT_NOT_FOUND))
        return;
    struct product_body pb;
    read_product(req, http_body(req), !partial, &pb, &err);
    if (errors_any(&err)) {
        shop_reply_invalid(req, PRODUCT_INVALID, shop_errors_json(&err));
        return;
    }
    apply_inventory(req, &current, &pb);
    struct product p;
    if (reply_product_failure(req, catalog_product_update(&req->ctx, id, &pb.in, &err, &p), &err,
                              PRODUCT_NOT_FOUND))
        return;
    shop_reply_message(req, 200, PRODUCT_UPDATED);
}

void shop_product_put(struct http_request *req)
{
    update_product(req, false);
}

void shop_product_patch(struct http_request *req)
{
    update_product(req, true);
}

void shop_product_delete(struct http_request *req)
{
    if (refuse_non_admin(req))
        return;
    int rc = catalog_product_delete(&req->ctx, http_param_int(req, "id"));
    if (rc == SHOP_ENOTFOUND) {
        shop_reply_error(req, 404, PRODUCT_NOT_FOUND);
        return;
    }
    if (rc != SHOP_OK) {
        shop_reply_internal(req);
        return;
    }
    http_reply_bytes(req, 204, "application/json", "", 0);
}

/* ---- bulk upload ---- */

static struct json_object *row_errors_json(const struct import_report *rep)
{
    struct json_object *list = json_object_new_array_ext((int)rep->n_errors);
    for (size_t i = 0; i < rep->n_errors; i++) {
        struct json_object *e = json_object_new_object();
        json_object_object_add(e, "row", json_object_new_int64(rep->errors[i].row));
        json_object_object_add(e, "error", json_object_new_string(rep->errors[i].message));
        json_object_array_add(list, e);
    }
    return list;
}

/* Every problem in one line, as the document's "error" string promises
 * ("Detailed error messages including any row-specific issues."). */
static const char *row_errors_text(struct http_request *req, const char *lead,
                                   const struct import_report *rep)
{
    struct buf b;
    buf_init_arena(&b, req->arena);
    if (lead)
        buf_append_str(&b, lead);
    for (size_t i = 0; i < rep->n_errors; i++) {
        if (b.n > 0)
            buf_append_char(&b, ' ');
        if (rep->errors[i].row > 0)
            buf_printf(&b, "Row %lld: ", (long long)rep->errors[i].row);
        buf_append_str(&b, rep->errors[i].message);
    }
    if (b.n == 0)
        buf_append_str(&b, "The file could not be read.");
    return buf_cstr(&b);
}

static void reply_upload_refused(struct http_request *req, const char *lead,
                                 const struct import_report *rep)
{
    struct json_object *obj = json_object_new_object();
    json_object_object_add(obj, "error",
                           json_object_new_string(row_errors_text(req, lead, rep)));
    json_object_object_add(obj, "rows", json_object_new_int64(rep->rows));
    json_object_object_add(obj, "created", json_object_new_int64(0));
    json_object_object_add(obj, "errors", row_errors_json(rep));
    http_reply_json(req, 400, obj);
}

void shop_products_bulk_upload(struct http_request *req)
{
    if (refuse_non_admin(req))
        return;
    const struct http_file *f = http_file(req, "file");
    if (f == NULL || (f->len == 0 && (f->filename == NULL || *f->filename == '\0'))) {
        shop_reply_error(req, 400, "No file was submitted.");
        return;
    }
    /* Anything but an explicit "no" is a dry run: a mistyped flag must not
     * write. */
    const char *dr = http_query(req, "dry_run");
    bool dry_run = dr != NULL && !(*dr == '\0' || strcmp(dr, "0") == 0 ||
                                   strcasecmp(dr, "false") == 0 || strcasecmp(dr, "no") == 0 ||
                                   strcasecmp(dr, "off") == 0);
    struct import_report rep = {0};
    int rc = import_products(&req->ctx, f->data, f->len, dry_run, NULL, NULL, &rep);
    if (rc == SHOP_EINVAL) {
        /* The reason (row 0) says it all: "The file is empty." */
        reply_upload_refused(req, NULL, &rep);
        return;
    }
    if (rc != SHOP_OK) {
        shop_reply_internal(req);
        return;
    }
    struct json_object *obj;
    if (dry_run) {
        obj = json_object_new_object();
        json_object_object_add(obj, "status", json_object_new_string("dry_run"));
        json_object_object_add(
            obj, "message",
            json_object_new_string(rep.n_errors ? "Some rows have errors; nothing was saved."
                                                : "Every row is valid; nothing was saved."));
        json_object_object_add(obj, "rows", json_object_new_int64(rep.rows));
        json_object_object_add(obj, "valid", json_object_new_int64(rep.valid));
        json_object_object_add(obj, "created", json_object_new_int64(0));
        json_object_object_add(obj, "errors", row_errors_json(&rep));
        http_reply_json(req, 200, obj);
        return;
    }
    if (rep.rows == 0 && rep.n_errors == 0) {
        reply_upload_refused(req, "The file holds no product rows.", &rep);
        return;
    }
    if (rep.created == 0) {
        reply_upload_refused(req, "No products were uploaded: every row has errors.", &rep);
        return;
    }
    obj = json_object_new_object();
    json_object_object_add(obj, "status",
                           json_object_new_string(rep.n_errors ? "partial" : "success"));
    json_object_object_add(
        obj, "message",
        json_object_new_string(rep.n_errors
                                   ? "Some products were uploaded; the rows listed in errors "
                                     "were not."
                                   : "Products uploaded successfully"));
    json_object_object_add(obj, "rows", json_object_new_int64(rep.rows));
    json_object_object_add(obj, "created", json_object_new_int64(rep.created));
    json_object_object_add(obj, "errors", row_errors_json(&rep));
    http_reply_json(req, 201, obj);
}
