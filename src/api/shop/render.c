/*
 * render.c - the shop surface's JSON: one serializer per entity (address,
 * user) and the error shapes of document 002 ({"error": "..."}, with
 * "details" naming the fields in the document's words).
 *
 * Every function returns a new json-c object owned by the caller (or hands
 * it to the reply, which takes ownership).
 */
#include <string.h>

#include <json-c/json.h>

#include "api/shop/shop.h"
#include "core/address.h"
#include "core/core.h"
#include "core/user.h"

/* NULL renders as JSON null, which is how DRF shows an empty nullable field. */
static struct json_object *string_or_null(const char *s)
{
    return s ? json_object_new_string(s) : NULL;
}

struct json_object *shop_address_json(const struct address *a)
{
    struct json_object *obj = json_object_new_object();
    json_object_object_add(obj, "id", json_object_new_int64(a->id));
    json_object_object_add(obj, "address_line1", json_object_new_string(a->line1 ? a->line1 : ""));
    json_object_object_add(obj, "address_line2", json_object_new_string(a->line2 ? a->line2 : ""));
    json_object_object_add(obj, "city", json_object_new_string(a->city ? a->city : ""));
    json_object_object_add(obj, "state", json_object_new_string(a->state ? a->state : ""));
    json_object_object_add(obj, "country", json_object_new_string(a->country ? a->country : ""));
    json_object_object_add(obj, "postal_code",
                           json_object_new_string(a->postal_code ? a->postal_code : ""));
    return obj;
}

struct json_object *shop_user_json(const struct user *u, const struct address *addrs, size_t n,
                                   bool with_birthdate)
{
    struct json_object *obj = json_object_new_object();
    json_object_object_add(obj, "username", json_object_new_string(u->username));
    json_object_object_add(obj, "first_name", json_object_new_string(u->first_name));
    json_object_object_add(obj, "last_name", json_object_new_string(u->last_name));
    json_object_object_add(obj, "email", json_object_new_string(u->email));
    json_object_object_add(obj, "phone_number", string_or_null(u->phone));
    struct json_object *list = json_object_new_array();
    for (size_t i = 0; i < n; i++)
        json_object_array_add(list, shop_address_json(&addrs[i]));
    json_object_object_add(obj, "addresses", list);
    if (with_birthdate)
        json_object_object_add(obj, "birthdate", string_or_null(u->birthdate));
    return obj;
}

void shop_reply_error(struct http_request *req, int status, const char *message)
{
    struct json_object *obj = json_object_new_object();
    json_object_object_add(obj, "error", json_object_new_string(message));
    http_reply_json(req, status, obj);
}

void shop_reply_message(struct http_request *req, int status, const char *text)
{
    struct json_object *obj = json_object_new_object();
    json_object_object_add(obj, "message", json_object_new_string(text));
    http_reply_json(req, status, obj);
}

/* Core names fields by their column; the document by its serializer. */
static const struct {
    const char *core, *doc;
} field_names[] = {
    {"phone", "phone_number"},
    {"line1", "address_line1"},
    {"line2", "address_line2"},
};

const char *shop_field_name(const char *core_field)
{
    for (size_t i = 0; i < sizeof(field_names) / sizeof(field_names[0]); i++)
        if (strcmp(core_field, field_names[i].core) == 0)
            return field_names[i].doc;
    return core_field;
}

struct json_object *shop_errors_json(const struct errors *err)
{
    struct json_object *obj = json_object_new_object();
    for (const struct field_error *fe = err->head; fe; fe = fe->next) {
        const char *name = shop_field_name(fe->field);
        struct json_object *list = NULL;
        if (!json_object_object_get_ex(obj, name, &list)) {
            list = json_object_new_array();
            json_object_object_add(obj, name, list);
        }
        json_object_array_add(list, json_object_new_string(fe->message));
    }
    return obj;
}

void shop_reply_invalid(struct http_request *req, const char *message,
                        struct json_object *details)
{
    struct json_object *obj = json_object_new_object();
    json_object_object_add(obj, "error", json_object_new_string(message));
    json_object_object_add(obj, "details", details);
    http_reply_json(req, 400, obj);
}

void shop_reply_internal(struct http_request *req)
{
    shop_reply_error(req, 500, "Internal server error.");
}
