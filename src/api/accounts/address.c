/*
 * address.c - the accounts surface's addresses: list, create, read, update
 * (PUT: DRF's full update; PATCH: partial) and delete, with the document's
 * field names (address_line_1, address_line_2, province). Core scopes every
 * call to the authenticated user, so another user's address is a 404.
 */
#include <string.h>

#include <json-c/json.h>

#include "api/accounts/accounts.h"
#include "core/address.h"
#include "util/arena.h"

/* The document's name of each core field. */
static const struct accounts_field_map address_fields[] = {
    {"line1", "address_line_1", NULL},
    {"line2", "address_line_2", NULL},
    {"state", "province", NULL},
    {NULL, NULL, NULL},
};

static struct json_object *address_object(const struct address *a)
{
    struct json_object *obj = json_object_new_object();
    json_object_object_add(obj, "id", json_object_new_int64(a->id));
    json_object_object_add(obj, "type", json_object_new_string(a->type));
    json_object_object_add(obj, "first_name", json_object_new_string(a->first_name));
    json_object_object_add(obj, "last_name", json_object_new_string(a->last_name));
    json_object_object_add(obj, "company", json_object_new_string(a->company));
    json_object_object_add(obj, "address_line_1", json_object_new_string(a->line1));
    json_object_object_add(obj, "address_line_2", json_object_new_string(a->line2));
    json_object_object_add(obj, "city", json_object_new_string(a->city));
    json_object_object_add(obj, "province", json_object_new_string(a->state));
    json_object_object_add(obj, "postal_code", json_object_new_string(a->postal_code));
    json_object_object_add(obj, "country", json_object_new_string(a->country));
    json_object_object_add(obj, "phone", json_object_new_string(a->phone));
    json_object_object_add(obj, "is_default", json_object_new_boolean(a->is_default));
    return obj;
}

static void reply_not_found(struct http_request *req)
{
    accounts_reply_fail(req, 404, "NOT_FOUND", "Address not found.");
}

enum address_mode { ADDRESS_CREATE, ADDRESS_PUT, ADDRESS_PATCH };

/* Reads the document's fields into core's input. Core checks choices,
 * lengths and blanks; a PUT, as DRF's full update, also needs the fields a
 * create needs. */
static bool read_address(struct http_request *req, enum address_mode mode,
                         struct address_input *in, struct errors *err)
{
    struct json_object *body = http_body(req);
    memset(in, 0, sizeof(*in));
    const unsigned flags = INPUT_TRIM | INPUT_ALLOW_BLANK;
    const unsigned required = mode == ADDRESS_PUT ? INPUT_REQUIRED : 0;
    input_string(req, body, "type", flags, &in->type, err);
    input_string(req, body, "first_name", flags, &in->first_name, err);
    input_string(req, body, "last_name", flags, &in->last_name, err);
    input_string(req, body, "company", flags, &in->company, err);
    input_string(req, body, "address_line_1", flags | required, &in->line1, err);
    input_string(req, body, "address_line_2", flags, &in->line2, err);
    input_string(req, body, "city", flags | required, &in->city, err);
    input_string(req, body, "province", flags, &in->state, err);
    input_string(req, body, "postal_code", flags, &in->postal_code, err);
    input_string(req, body, "country", flags, &in->country, err);
    input_string(req, body, "phone", flags, &in->phone, err);
    accounts_input_bool(body, "is_default", &in->has_default, &in->is_default, err);
    return !errors_any(err);
}

static void reply_write_failure(struct http_request *req, int rc, const struct errors *err)
{
    if (rc == SHOP_EINVAL)
        accounts_reply_invalid(req, err, address_fields);
    else if (rc == SHOP_ENOTFOUND)
        reply_not_found(req);
    else
        accounts_reply_internal(req);
}

void accounts_address_list(struct http_request *req)
{
    struct address *list;
    size_t n;
    if (address_list(&req->ctx, &list, &n) != SHOP_OK) {
        accounts_reply_internal(req);
        return;
    }
    struct json_object *arr = json_object_new_array();
    for (size_t i = 0; i < n; i++)
        json_object_array_add(arr, address_object(&list[i]));
    accounts_reply_ok(req, 200, arr, "Addresses retrieved successfully");
}

void accounts_address_create(struct http_request *req)
{
    struct errors err;
    errors_init(&err, req->arena);
    struct address_input in;
    struct address a;
    if (!read_address(req, ADDRESS_CREATE, &in, &err)) {
        accounts_reply_invalid(req, &err, address_fields);
        return;
    }
    int rc = address_create(&req->ctx, &in, &err, &a);
    if (rc != SHOP_OK) {
        reply_write_failure(req, rc, &err);
        return;
    }
    accounts_reply_ok(req, 201, address_object(&a), "Address created successfully");
}

void accounts_address_get(struct http_request *req)
{
    struct address a;
    int rc = address_get(&req->ctx, http_param_int(req, "id"), &a);
    if (rc == SHOP_ENOTFOUND) {
        reply_not_found(req);
        return;
    }
    if (rc != SHOP_OK) {
        accounts_reply_internal(req);
        return;
    }
    accounts_reply_ok(req, 200, address_object(&a), "Address retrieved successfully");
}

static void update_address(struct http_request *req, enum address_mode mode)
{
    int64_t id = http_param_int(req, "id");
    struct errors err;
    errors_init(&err, req->arena);
    struct address_input in;
    struct address a;
    /* Someone else's address is a 404 before any word about the body. */
    int rc = address_get(&req->ctx, id, &a);
    if (rc != SHOP_OK) {
        reply_write_failure(req, rc, &err);
        return;
    }
    if (!read_address(req, mode, &in, &err)) {
        accounts_reply_invalid(req, &err, address_fields);
        return;
    }
    rc = address_update(&req->ctx, id, &in, &err, &a);
    if (rc != SHOP_OK) {
        reply_write_failure(req, rc, &err);
        return;
    }
    accounts_reply_ok(req, 200, address_object(&a), "Address updated successfully");
}

void accounts_address_put(struct http_request *req)
{
    update_address(req, ADDRESS_PUT);
}

void accounts_address_patch(struct http_request *req)
{
    update_address(req, ADDRESS_PATCH);
}

void accounts_address_delete(struct http_request *req)
{
    int rc = address_delete(&req->ctx, http_param_int(req, "id"));
    if (rc == SHOP_ENOTFOUND) {
        reply_not_found(req);
        return;
    }
    if (rc != SHOP_OK) {
        accounts_reply_internal(req);
        return;
    }
    accounts_reply_ok(req, 200, NULL, "Address deleted successfully");
}
