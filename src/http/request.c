/*
 * request.c - reading a request: headers, query, route parameters, the body
 * (JSON or form, parsed once before the handler runs), the bearer token and
 * the authentication middleware, and DRF-style field readers.
 *
 * Everything returned points into the request arena or into libmicrohttpd's
 * connection state, both valid until the request ends.
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include <json-c/json.h>
#include <microhttpd.h>

#include "core/token.h"
#include "http/internal.h"
#include "util/arena.h"
#include "util/log.h"

static void put_json(void *obj)
{
    json_object_put(obj);
}

struct json_object *http_body(struct http_request *req)
{
    struct http_exchange *ex = exchange_of(req);
    if (ex->body_obj == NULL) {
        ex->body_obj = json_object_new_object();
        arena_cleanup_add(req->arena, put_json, ex->body_obj);
    }
    return ex->body_obj;
}

const char *http_header(struct http_request *req, const char *name)
{
    return MHD_lookup_connection_value(req->conn, MHD_HEADER_KIND, name);
}

const char *http_query(struct http_request *req, const char *name)
{
    return MHD_lookup_connection_value(req->conn, MHD_GET_ARGUMENT_KIND, name);
}

const char *http_param(struct http_request *req, const char *name)
{
    for (int i = 0; i < req->n_params; i++)
        if (strcmp(req->param_names[i], name) == 0)
            return req->param_values[i];
    return NULL;
}

int64_t http_param_int(struct http_request *req, const char *name)
{
    const char *v = http_param(req, name);
    int64_t out = 0;
    if (v == NULL || !str_to_int64(str_from(v), &out))
        return -1;
    return out;
}

struct str http_bearer_token(struct http_request *req)
{
    const char *h = http_header(req, "Authorization");
    if (h == NULL || strncmp(h, "Bearer ", 7) != 0)
        return STR_NULL;
    return str_trim(str_from(h + 7));
}

/* ---- body ---- */

const char *http_json_type_name(struct json_object *v)
{
    switch (json_object_get_type(v)) {
    case json_type_array:
        return "list";
    case json_type_string:
        return "str";
    case json_type_int:
        return "int";
    case json_type_double:
        return "float";
    case json_type_boolean:
        return "bool";
    case json_type_null:
        return "NoneType";
    case json_type_object:
        return "dict";
    }
    return "unknown";
}

static bool parse_json(struct http_exchange *ex)
{
    struct http_request *req = &ex->req;
    struct json_object *v = NULL;
    enum json_tokener_error jerr;
    bool ok = request_json_parse(buf_cstr(&ex->body), ex->body.n, &v, &jerr);
    if (v != NULL)
        arena_cleanup_add(req->arena, put_json, v);
    if (!ok) {
        http_reply_error(req, 400, "PARSE_ERROR",
                         arena_sprintf(req->arena, "JSON parse error - %s",
                                       json_tokener_error_desc(jerr)));
        return false;
    }
    if (!json_object_is_type(v, json_type_object) && req->surface &&
        req->surface->render_error) {
        http_reply_error(req, 400, "PARSE_ERROR",
                         arena_sprintf(req->arena,
                                       "Invalid data. Expected a dictionary, but got %s.",
                                       http_json_type_name(v)));
        return false;
    }
    if (!json_object_is_type(v, json_type_object)) {
        struct json_object *list = json_object_new_array();
        json_object_array_add(list,
                              json_object_new_string(arena_sprintf(
                                  req->arena, "Invalid data. Expected a dictionary, but got %s.",
                                  http_json_type_name(v))));
        struct json_object *obj = json_object_new_object();
        json_object_object_add(obj, "non_field_errors", list);
        http_reply_json(req, 400, obj);
        return false;
    }
    ex->body_obj = v;
    return true;
}

/* application/x-www-form-urlencoded: every field becomes a JSON string; a
 * repeated field keeps its last value, as Django's QueryDict.get does. */
static bool parse_form(struct http_exchange *ex)
{
    struct http_request *req = &ex->req;
    struct json_object *obj = http_body(req);
    const char *error = NULL;
    if (!request_form_parse(req->arena, ex->body.p, ex->body.n, obj, &error)) {
        http_reply_error(req, 400, "PARSE_ERROR", error);
        return false;
    }
    return true;
}

/* ---- multipart/form-data (ROUTE_UPLOAD) ---- */

struct multipart_part {
    struct multipart_part *next;
    char *key;
    char *filename; /* NULL: a plain field */
    char *content_type;
    struct buf data;
};

struct multipart_state {
    struct http_exchange *ex;
    struct multipart_part *head, *tail;
};

static void free_part_data(void *data)
{
    buf_free(&((struct multipart_part *)data)->data);
}

static enum MHD_Result on_part(void *cls, enum MHD_ValueKind kind, const char *key,
                               const char *filename, const char *content_type,
                               const char *transfer_encoding, const char *data, uint64_t off,
                               size_t size)
{
    struct multipart_state *st = cls;
    struct arena *a = st->ex->req.arena;
    struct multipart_part *p = st->tail;
    /* A part longer than the processor's buffer arrives in pieces with the
     * same key and a growing offset. */
    if (p == NULL || off == 0 || strcmp(p->key, key) != 0) {
        p = arena_zalloc(a, sizeof(*p));
        p->key = arena_strdup(a, key ? key : "");
        p->filename = filename ? arena_strdup(a, filename) : NULL;
        p->content_type = content_type ? arena_strdup(a, content_type) : NULL;
        buf_init(&p->data);
        arena_cleanup_add(a, free_part_data, p);
        if (st->tail)
            st->tail->next = p;
        else
            st->head = p;
        st->tail = p;
    }
    if (size)
        buf_append(&p->data, data, size);
    return MHD_YES;
}

static bool parse_multipart(struct http_exchange *ex)
{
    struct http_request *req = &ex->req;
    if (!(req->route->flags & ROUTE_UPLOAD)) {
        http_reply_error(req, 415, "UNSUPPORTED_MEDIA_TYPE",
                         "Unsupported media type \"multipart/form-data\" in request.");
        return false;
    }
    struct multipart_state st = {.ex = ex};
    struct MHD_PostProcessor *pp = MHD_create_post_processor(req->conn, 64 * 1024, on_part, &st);
    if (pp == NULL) {
        http_reply_error(req, 400, "PARSE_ERROR",
                         "Multipart form parse error - Invalid boundary in multipart: None");
        return false;
    }
    enum MHD_Result rc = MHD_post_process(pp, ex->body.p, ex->body.n);
    MHD_destroy_post_processor(pp);
    if (rc != MHD_YES) {
        http_reply_error(req, 400, "PARSE_ERROR", "Multipart form parse error.");
        return false;
    }
    struct json_object *obj = http_body(req);
    size_t n_files = 0;
    for (struct multipart_part *p = st.head; p; p = p->next)
        n_files += p->filename != NULL;
    ex->files = arena_zalloc(req->arena, (n_files ? n_files : 1) * sizeof(*ex->files));
    for (struct multipart_part *p = st.head; p; p = p->next) {
        if (p->filename != NULL) {
            struct http_file *f = &ex->files[ex->n_files++];
            f->field = p->key;
            f->filename = p->filename;
            f->content_type = p->content_type;
            f->data = (const unsigned char *)(p->data.p ? p->data.p : "");
            f->len = p->data.n;
        } else {
            json_object_object_add(obj, p->key,
                                   json_object_new_string_len(p->data.p ? p->data.p : "",
                                                              (int)p->data.n));
        }
    }
    return true;
}

const struct http_file *http_file(struct http_request *req, const char *field)
{
    struct http_exchange *ex = exchange_of(req);
    for (size_t i = 0; i < ex->n_files; i++)
        if (strcmp(ex->files[i].field, field) == 0)
            return &ex->files[i];
    return NULL;
}

int64_t http_ratelimit_remaining(struct http_request *req)
{
    return exchange_of(req)->ratelimit_remaining;
}

/* Computed on first use: most requests never ask. */
const char *http_client_ip(struct http_request *req)
{
    if (req->ctx.client_ip != NULL)
        return req->ctx.client_ip;
    const union MHD_ConnectionInfo *ci =
        MHD_get_connection_info(req->conn, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
    char ip[INET6_ADDRSTRLEN] = "";
    if (ci != NULL && ci->client_addr != NULL) {
        const struct sockaddr *sa = ci->client_addr;
        if (sa->sa_family == AF_INET)
            inet_ntop(AF_INET, &((const struct sockaddr_in *)(const void *)sa)->sin_addr, ip,
                      sizeof(ip));
        else if (sa->sa_family == AF_INET6)
            inet_ntop(AF_INET6, &((const struct sockaddr_in6 *)(const void *)sa)->sin6_addr, ip,
                      sizeof(ip));
    }
    req->ctx.client_ip = arena_strdup(req->arena, ip);
    return req->ctx.client_ip;
}

bool request_parse_body(struct http_exchange *ex)
{
    struct http_request *req = &ex->req;
    if (ex->body_too_large) {
        http_reply_error(req, 413, "PAYLOAD_TOO_LARGE", "Request body is too large.");
        return false;
    }
    req->body = (struct str){ex->body.p, ex->body.n};
    if (ex->body.n == 0)
        return true;
    const char *ct = req->content_type;
    if (ct == NULL || strcmp(ct, "application/json") == 0 ||
        (strlen(ct) > 5 && strcmp(ct + strlen(ct) - 5, "+json") == 0))
        return parse_json(ex);
    if (strcmp(ct, "application/x-www-form-urlencoded") == 0)
        return parse_form(ex);
    if (strcmp(ct, "multipart/form-data") == 0)
        return parse_multipart(ex);
    http_reply_error(req, 415, "UNSUPPORTED_MEDIA_TYPE",
                     arena_sprintf(req->arena, "Unsupported media type \"%s\" in request.", ct));
    return false;
}

/* ---- authentication middleware ---- */

bool request_authenticate(struct http_exchange *ex)
{
    struct http_request *req = &ex->req;
    unsigned flags = req->route->flags;
    if (flags & ROUTE_NO_AUTH)
        return true;
    const char *h = http_header(req, "Authorization");
    if (h == NULL || strncmp(h, "Bearer", 6) != 0 || (h[6] != ' ' && h[6] != '\0')) {
        /* No credentials of our kind: anonymous, which only protected routes refuse. */
        if (flags & ROUTE_AUTH) {
            http_reply_auth_failure(req, AUTH_MISSING);
            return false;
        }
        return true;
    }
    struct str tok = str_trim(str_from(h + 6));
    if (tok.n == 0 || memchr(tok.p, ' ', tok.n) != NULL) {
        http_reply_auth_failure(req, AUTH_BAD_HEADER);
        return false;
    }
    enum token_failure why = TOKEN_FAIL_NONE;
    int rc = (flags & ROUTE_VERIFICATION)
                 ? token_authenticate_verification(&req->ctx, tok, &req->user, &why)
                 : token_authenticate(&req->ctx, tok, &req->user, &why);
    if (rc == SHOP_OK) {
        req->ctx.user = &req->user;
        return true;
    }
    if (rc == SHOP_EDB) {
        http_reply_internal(req);
        return false;
    }
    enum auth_failure af = AUTH_INVALID;
    if (why == TOKEN_FAIL_WRONG_TYPE)
        af = AUTH_WRONG_TYPE;
    else if (why == TOKEN_FAIL_USER_NOT_FOUND)
        af = AUTH_USER_NOT_FOUND;
    else if (why == TOKEN_FAIL_USER_INACTIVE)
        af = AUTH_USER_INACTIVE;
    http_reply_auth_failure(req, af);
    return false;
}

bool request_require_verified(struct http_exchange *ex)
{
    struct http_request *req = &ex->req;
    if (!(req->route->flags & ROUTE_VERIFIED) || req->ctx.user == NULL ||
        req->ctx.user->email_verified)
        return true;
    http_reply_error(req, 403, "EMAIL_NOT_VERIFIED",
                     "You do not have permission to perform this action.");
    return false;
}

/* ---- DRF-style field readers ---- */

bool input_value(struct json_object *obj, const char *name, bool required,
                 struct json_object **v, struct errors *err)
{
    *v = NULL;
    if (obj == NULL || !json_object_object_get_ex(obj, name, v)) {
        *v = NULL;
        if (required)
            errors_add(err, name, "This field is required.");
        return !required;
    }
    if (json_object_get_type(*v) == json_type_null) {
        *v = NULL;
        errors_add(err, name, "This field may not be null.");
        return false;
    }
    return true;
}

bool input_present(struct json_object *obj, const char *name)
{
    return obj != NULL && json_object_object_get_ex(obj, name, NULL);
}

bool input_string(struct http_request *req, struct json_object *obj, const char *name,
                  unsigned flags, const char **out, struct errors *err)
{
    struct json_object *v = NULL;
    *out = NULL;
    if (!input_value(obj, name, flags & INPUT_REQUIRED, &v, err))
        return false;
    if (v == NULL)
        return true;
    switch (json_object_get_type(v)) {
    case json_type_string:
    case json_type_int:
    case json_type_double:
        break;
    default:
        errors_add(err, name, "Not a valid string.");
        return false;
    }
    size_t len = json_type_string == json_object_get_type(v) ? (size_t)json_object_get_string_len(v)
                                                               : strlen(json_object_get_string(v));
    struct str s = {json_object_get_string(v), len};
    if (memchr(s.p, '\0', s.n) != NULL) {
        errors_add(err, name, "Null characters are not allowed.");
        return false;
    }
    if (flags & INPUT_TRIM)
        s = str_trim(s);
    if (s.n == 0 && !(flags & INPUT_ALLOW_BLANK)) {
        errors_add(err, name, "This field may not be blank.");
        return false;
    }
    *out = str_dup(req->arena, s);
    return true;
}
