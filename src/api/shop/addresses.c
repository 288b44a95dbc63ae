/*
 * addresses.c - /api/users/addresses/ and /api/users/addresses/<id>/, and
 * the reading of address objects in the document's shape, which register
 * and user-profile share.
 *
 * Every core call is scoped to the authenticated user: another user's
 * address is "not found", never visible.
 */
#include <stddef.h>
#include <string.h>

#include <json-c/json.h>

#include "api/shop/shop.h"
#include "core/address.h"
#include "core/core.h"
#include "util/arena.h"

#define NOT_FOUND "Address not found."
#define INVALID "Invalid data provided"

bool shop_address_input(struct http_request *req, struct json_object *obj, bool create,
                        struct address_input *in, struct errors *err)
{
    static const struct {
        const char *name;
        size_t offset;
    } required[] = {
        {"address_line1", offsetof(struct address_input, line1)},
        {"city", offsetof(struct address_input, city)},
        {"state", offsetof(struct address_input, state)},
        {"country", offsetof(struct address_input, country)},
        {"postal_code", offsetof(struct address_input, postal_code)},
    };
    memset(in, 0, sizeof(*in));
    int before = err->count;
    unsigned flags = (create ? INPUT_REQUIRED : 0) | INPUT_TRIM;
    for (size_t i = 0; i < sizeof(required) / sizeof(required[0]); i++)
        input_string(req, obj, required[i].name, flags,
                     (const char **)((char *)in + required[i].offset), err);
    /* address_line2 is optional and nullable in the document's model; the
     * table keeps "" for "none". */
    struct json_object *line2 = NULL;
    if (json_object_object_get_ex(obj, "address_line2", &line2) &&
        json_object_is_type(line2, json_type_null))
        in->line2 = "";
    else
        input_string(req, obj, "address_line2", INPUT_TRIM | INPUT_ALLOW_BLANK, &in->line2, err);
    return err->count == before;
}

/* A list of messages for a field that must be a list. */
static struct json_object *messages(const char *message)
{
    struct json_object *list = json_object_new_array();
    json_object_array_add(list, json_object_new_string(message));
    return list;
}

bool shop_address_list_input(struct http_request *req, struct json_object *body, bool with_ids,
                             struct shop_address_item **items, size_t *n,
                             struct json_object **errors_out)
{
    *items = NULL;
    *n = 0;
    *errors_out = NULL;
    struct json_object *list = NULL;
    if (!json_object_object_get_ex(body, "addresses", &list))
        return true;
    if (json_object_is_type(list, json_type_null)) {
        *errors_out = messages("This field may not be null.");
        return false;
    }
    if (!json_object_is_type(list, json_type_array)) {
        *errors_out = messages(arena_sprintf(req->arena,
                                             "Expected a list of items but got type \"%s\".",
                                             http_json_type_name(list)));
        return false;
    }
    size_t count = json_object_array_length(list);
    *items = arena_zalloc(req->arena, (count ? count : 1) * sizeof(**items));
    struct json_object *per_item = json_object_new_array();
    bool ok = true;
    for (size_t i = 0; i < count; i++) {
        struct json_object *item = json_object_array_get_idx(list, i);
        struct shop_address_item *out = &(*items)[i];
        struct errors err;
        errors_init(&err, req->arena);
        if (!json_object_is_type(item, json_type_object)) {
            errors_add(&err, ERRORS_NON_FIELD,
                       arena_sprintf(req->arena, "Invalid data. Expected a dictionary, but got %s.",
                                     http_json_type_name(item)));
        } else {
            struct json_object *id = NULL;
            bool has_id = with_ids && json_object_object_get_ex(item, "id", &id) &&
                          !json_object_is_type(id, json_type_null);
            if (has_id) {
                if (!json_object_is_type(id, json_type_int) || json_object_get_int64(id) <= 0)
                    errors_add(&err, "id", "A valid integer is required.");
                else
                    out->id = json_object_get_int64(id);
            }
            /* Core's rules too (lengths), so that every item's problems
             * are reported at once under the document's names. An item with
             * an id (even a malformed one) is an update: nothing required. */
            if (shop_address_input(req, item, !has_id, &out->in, &err))
                address_validate(&out->in, !has_id, &err);
        }
        ok = ok && !errors_any(&err);
        json_object_array_add(per_item, shop_errors_json(&err));
    }
    if (ok) {
        json_object_put(per_item);
        *n = count;
        return true;
    }
    *errors_out = per_item;
    return false;
}

struct json_object *shop_item_errors(size_t n, size_t failed, const struct errors *err)
{
    struct json_object *list = json_object_new_array();
    for (size_t i = 0; i < n; i++) {
        if (i == failed)
            json_object_array_add(list, shop_errors_json(err));
        else
            json_object_array_add(list, json_object_new_object());
    }
    return list;
}

/* ---- the endpoints ---- */

void shop_addresses_list(struct http_request *req)
{
    struct address *addrs;
    size_t n;
    if (address_list(&req->ctx, &addrs, &n) != SHOP_OK) {
        shop_reply_internal(req);
        return;
    }
    struct json_object *list = json_object_new_array();
    for (size_t i = 0; i < n; i++)
        json_object_array_add(list, shop_address_json(&addrs[i]));
    http_reply_json(req, 200, list);
}

/* 400 with details for input errors, 500 for storage; true when replied. */
static bool reply_failure(struct http_request *req, int rc, const struct errors *err)
{
    switch (rc) {
    case SHOP_OK:
        return false;
    case SHOP_ENOTFOUND:
        shop_reply_error(req, 404, NOT_FOUND);
        break;
    case SHOP_EINVAL:
    case SHOP_ECONFLICT:
        shop_reply_invalid(req, INVALID, shop_errors_json(err));
        break;
    default:
        shop_reply_internal(req);
    }
    return true;
}

/* The document shows the created address inside a list. */
void shop_addresses_create(struct http_request *req)
{
    struct errors err;
    errors_init(&err, req->arena);
    struct address_input in;
    if (!shop_address_input(req, http_body(req), true, &in, &err)) {
        shop_reply_invalid(req, INVALID, shop_errors_json(&err));
        return;
    }
    struct address a;
    if (reply_failure(req, address_create(&req->ctx, &in, &err, &a), &err))
        return;
    struct json_object *list = json_object_new_array();
    json_object_array_add(list, shop_address_json(&a));
    http_reply_json(req, 201, list);
}

void shop_address_get(struct http_request *req)
{
    struct address a;
    struct errors err;
    errors_init(&err, req->arena);
    if (reply_failure(req, address_get(&req->ctx, http_param_int(req, "id"), &a), &err))
        return;
    http_reply_json(req, 200, shop_address_json(&a));
}

/* Looks the address up first, as DRF's get_object does: a stranger's id is
 * 404 whatever the body holds. */
static void update(struct http_request *req, bool partial)
{
    int64_t id = http_param_int(req, "id");
    struct errors err;
    errors_init(&err, req->arena);
    struct address a;
    if (reply_failure(req, address_get(&req->ctx, id, &a), &err))
        return;
    struct address_input in;
    if (!shop_address_input(req, http_body(req), !partial, &in, &err)) {
        shop_reply_invalid(req, INVALID, shop_errors_json(&err));
        return;
    }
    if (reply_failure(req, address_update(&req->ctx, id, &in, &err, &a), &err))
        return;
    shop_reply_message(req, 200, "Address updated successfully.");
}

void shop_address_put(struct http_request *req)
{
    update(req, false);
}

void shop_address_patch(struct http_request *req)
{
    update(req, true);
}

void shop_address_delete(struct http_request *req)
{
    struct errors err;
    errors_init(&err, req->arena);
    if (reply_failure(req, address_delete(&req->ctx, http_param_int(req, "id")), &err))
        return;
    http_reply_bytes(req, 204, "application/json", "", 0);
}
