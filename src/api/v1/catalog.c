/*
 * catalog.c - v1 endpoints 7-16: products and categories (list, create,
 * detail, update with PUT and PATCH, delete) in the shapes of seed document
 * 003. Every route needs an access token; writes need an admin.
 *
 * A v1 product is the catalogue's product seen as one price and one stock:
 * the lowest variant price and the summed inventory. Writes through v1 touch
 * the product's single variant; a product with several variants (made
 * through the shop surface) keeps them, and a v1 write that would have to
 * choose between them is refused (docs/surfaces/v1.md).
 *
 * Input is checked as DRF's fields would check it (messages and field names
 * of the document: category_id, price, stock_quantity) before the core runs,
 * and the core's field names (category, price_weights) are renamed back.
 */
#include <ctype.h>
#include <stdint.h>
#include <string.h>

#include <json-c/json.h>
#include <json-c/printbuf.h>

#include "api/v1/v1.h"
#include "http/jsonw.h"
#include "core/catalog.h"
#include "core/media.h"
#include "util/arena.h"
#include "util/config.h"
#include "util/money.h"
#include "util/time.h"

/* The PositiveIntegerField bound DRF reports for stock_quantity. */
#define STOCK_MAX 2147483647
/* DecimalField(max_digits=10, decimal_places=2) */
#define PRICE_MAX_DIGITS 10
#define PRICE_DECIMALS 2

#define MSG_NOT_FOUND "Not found."
#define MSG_SEVERAL_VARIANTS_FMT                                                                   \
    "This product has several price-weight variants; update them through /api/products/%lld/."

/* ---- serializers ---- */

/*
 * Products and categories are written straight into json-c's output buffer
 * by a serializer attached to their json_object (json_object_set_serializer):
 * a list row is formatted once, when the reply is printed, instead of being
 * built as a dozen member objects, copied into them, walked, printed and
 * freed. The text is what json-c prints for the same members (PLAIN: no
 * spaces; strings escaped as json_escape_str does, '/' left alone under
 * JSON_C_TO_STRING_NOSLASHESCAPE as the server prints). The values live in
 * the request's arena, which outlives the reply's printing.
 */

/* money_format's text ("-12.05") without snprintf. */
static void put_price(struct printbuf *pb, int64_t minor)
{
    char buf[32];
    size_t n = 0;
    uint64_t v = minor < 0 ? (uint64_t)0 - (uint64_t)minor : (uint64_t)minor;
    buf[n++] = '"';
    if (minor < 0)
        buf[n++] = '-';
    n += jsonw_int_text((int64_t)(v / 100), buf + n);
    buf[n++] = '.';
    buf[n++] = (char)('0' + v % 100 / 10);
    buf[n++] = (char)('0' + v % 10);
    buf[n++] = '"';
    jsonw_raw(pb, buf, n);
}

/* time_iso8601's text ("2024-01-31T12:00:00Z") from civil-from-days
 * arithmetic: gmtime_r takes glibc's time zone lock, which the two server
 * threads fought over for every row. Years outside 1000-9999 go through
 * time_iso8601 itself. */
static void put_time(struct printbuf *pb, int64_t t)
{
    char s[TIME_ISO_LEN + 2];
    int64_t days = t / 86400, secs = t % 86400;
    if (secs < 0) {
        secs += 86400;
        days--;
    }
    /* H. Hinnant's civil_from_days */
    int64_t z = days + 719468;
    int64_t era = (z >= 0 ? z : z - 146096) / 146097;
    int64_t doe = z - era * 146097;
    int64_t yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    int64_t y = yoe + era * 400;
    int64_t doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    int64_t mp = (5 * doy + 2) / 153;
    int64_t d = doy - (153 * mp + 2) / 5 + 1;
    int64_t m = mp < 10 ? mp + 3 : mp - 9;
    if (m <= 2)
        y++;
    if (y < 1000 || y > 9999) {
        s[0] = '"';
        time_iso8601(t, s + 1);
        size_t n = strlen(s);
        s[n++] = '"';
        jsonw_raw(pb, s, n);
        return;
    }
    int hh = (int)(secs / 3600), mm = (int)(secs / 60 % 60), ss = (int)(secs % 60);
    char *o = s;
    *o++ = '"';
    *o++ = (char)('0' + y / 1000);
    *o++ = (char)('0' + y / 100 % 10);
    *o++ = (char)('0' + y / 10 % 10);
    *o++ = (char)('0' + y % 10);
    *o++ = '-';
    *o++ = (char)('0' + m / 10);
    *o++ = (char)('0' + m % 10);
    *o++ = '-';
    *o++ = (char)('0' + d / 10);
    *o++ = (char)('0' + d % 10);
    *o++ = 'T';
    *o++ = (char)('0' + hh / 10);
    *o++ = (char)('0' + hh % 10);
    *o++ = ':';
    *o++ = (char)('0' + mm / 10);
    *o++ = (char)('0' + mm % 10);
    *o++ = ':';
    *o++ = (char)('0' + ss / 10);
    *o++ = (char)('0' + ss % 10);
    *o++ = 'Z';
    *o++ = '"';
    jsonw_raw(pb, s, (size_t)(o - s));
}

/* {"id", "name", "slug", "description"}: the whole v1 category, also nested
 * in every product. */
static void put_category(struct printbuf *pb, const struct category *c, int flags)
{
    JSONW_LITERAL(pb, "{\"id\":");
    jsonw_int(pb, c->id);
    JSONW_LITERAL(pb, ",\"name\":");
    jsonw_string(pb, c->name, flags);
    JSONW_LITERAL(pb, ",\"slug\":");
    jsonw_string(pb, c->slug, flags);
    JSONW_LITERAL(pb, ",\"description\":");
    jsonw_string(pb, c->description, flags);
    JSONW_LITERAL(pb, "}");
}

static int category_to_json(struct json_object *obj, struct printbuf *pb, int level, int flags)
{
    (void)level;
    put_category(pb, json_object_get_userdata(obj), flags);
    return 0;
}

/* c may be the caller's local: the serializer runs after the handler
 * returns, so it gets an arena copy (the strings are in the arena already). */
static struct json_object *category_object(struct arena *a, const struct category *c)
{
    struct category *copy = arena_alloc(a, sizeof(*copy));
    *copy = *c;
    struct json_object *obj = json_object_new_object();
    json_object_set_serializer(obj, category_to_json, copy, NULL);
    return obj;
}

static bool is_http_url(const char *s)
{
    return strncmp(s, "http://", 7) == 0 || strncmp(s, "https://", 8) == 0;
}

/* A stored image is a media path (an upload) or an absolute URL (given as
 * such); clients always get an absolute URL or null. */
static const char *image_url(struct http_request *req, const char *image)
{
    if (image == NULL || *image == '\0')
        return NULL;
    if (is_http_url(image))
        return image;
    return media_url(&req->ctx, image);
}

/* What a product row prints: the product and its image's URL. */
struct product_row {
    const struct product *p;
    const char *image; /* absolute URL or NULL */
};

static int product_to_json(struct json_object *obj, struct printbuf *pb, int level, int flags)
{
    (void)level;
    const struct product_row *row = json_object_get_userdata(obj);
    const struct product *p = row->p;
    JSONW_LITERAL(pb, "{\"id\":");
    jsonw_int(pb, p->id);
    JSONW_LITERAL(pb, ",\"name\":");
    jsonw_string(pb, p->name, flags);
    JSONW_LITERAL(pb, ",\"slug\":");
    jsonw_string(pb, p->slug, flags);
    JSONW_LITERAL(pb, ",\"description\":");
    jsonw_string(pb, p->description, flags);
    JSONW_LITERAL(pb, ",\"category\":");
    put_category(pb, &p->category, flags);
    JSONW_LITERAL(pb, ",\"category_id\":");
    jsonw_int(pb, p->category.id);
    JSONW_LITERAL(pb, ",\"price\":");
    put_price(pb, p->price_minor);
    JSONW_LITERAL(pb, ",\"stock_quantity\":");
    jsonw_int(pb, p->inventory);
    JSONW_LITERAL(pb, ",\"image\":");
    if (row->image != NULL)
        jsonw_string(pb, row->image, flags);
    else
        JSONW_LITERAL(pb, "null");
    JSONW_LITERAL(pb, ",\"created_at\":");
    put_time(pb, p->created_at);
    JSONW_LITERAL(pb, ",\"updated_at\":");
    put_time(pb, p->updated_at);
    JSONW_LITERAL(pb, "}");
    return 0;
}

/* {"id", "name", "slug", "description", "category": {...}, "category_id",
 * "price", "stock_quantity", "image", "created_at", "updated_at"}; also
 * nested in cart and order items (orders.c). */
struct json_object *v1_product_object(struct http_request *req, const struct product *p)
{
    /* p may be the caller's local (see category_object) */
    struct product *copy = arena_alloc(req->arena, sizeof(*copy));
    *copy = *p;
    struct product_row *row = arena_alloc(req->arena, sizeof(*row));
    row->p = copy;
    row->image = image_url(req, p->image);
    struct json_object *obj = json_object_new_object();
    json_object_set_serializer(obj, product_to_json, row, NULL);
    return obj;
}

/* The page cache's tag of this surface's product rows. */
#define V1_PAGE_TAG 1

/* ---- answers ---- */

static void reply_errors(struct http_request *req, const struct errors *err)
{
    http_reply_json(req, 400, http_errors_object(err));
}

static void reply_message(struct http_request *req, const char *message)
{
    struct json_object *obj = json_object_new_object();
    json_object_object_add(obj, "message", json_object_new_string(message));
    http_reply_json(req, 200, obj);
}

/* The documented 403 of a write by a non-admin; true when it answered. */
static bool refuse_non_admin(struct http_request *req, const char *message)
{
    if (user_is_admin(req->ctx.user))
        return false;
    http_reply_detail(req, 403, message);
    return true;
}

/* The core names fields as the catalogue does (category, price_weights);
 * v1 clients sent category_id, price and stock_quantity. */
static void rename_core_errors(const struct errors *in, struct errors *out)
{
    for (const struct field_error *fe = in->head; fe; fe = fe->next) {
        const char *field = fe->field;
        if (strcmp(field, "category") == 0)
            field = "category_id";
        else if (strcmp(field, "price_weights") == 0)
            field = strstr(fe->message, "inventory") ? "stock_quantity" : "price";
        errors_add(out, field, fe->message);
    }
}

/* Maps a core status to its answer; true when it answered. */
static bool reply_core_failure(struct http_request *req, int rc, const struct errors *err)
{
    if (rc == SHOP_OK)
        return false;
    if (rc == SHOP_ENOTFOUND) {
        http_reply_detail(req, 404, MSG_NOT_FOUND);
    } else if ((rc == SHOP_EINVAL || rc == SHOP_ECONFLICT) && err != NULL) {
        struct errors renamed;
        errors_init(&renamed, req->arena);
        rename_core_errors(err, &renamed);
        if (!errors_any(&renamed))
            errors_add(&renamed, ERRORS_NON_FIELD, "Invalid data.");
        reply_errors(req, &renamed);
    } else {
        http_reply_internal(req);
    }
    return true;
}

/* ---- DRF field readers for the fields input_string does not cover ---- */

/* An optional sign then digits only: DRF's int() after trimming. */
static bool parse_integer_text(const char *s, int64_t *out)
{
    struct str t = str_trim(str_from(s));
    if (t.n > 0 && t.p[0] == '+') {
        t.p++;
        t.n--;
    }
    if (t.n == 0 || t.n > 18)
        return false;
    bool negative = t.p[0] == '-';
    size_t i = negative ? 1 : 0;
    if (i == t.n)
        return false;
    int64_t v = 0;
    for (; i < t.n; i++) {
        if (!isdigit((unsigned char)t.p[i]))
            return false;
        v = v * 10 + (t.p[i] - '0');
    }
    *out = negative ? -v : v;
    return true;
}

/* DRF's IntegerField: an integer, an integral number, or a string of one
 * (" 2 ", "+2", "2.0": DRF drops a trailing ".0" before int()). Booleans
 * and anything else are refused. */
bool v1_json_integer(struct json_object *v, int64_t *out)
{
    switch (json_object_get_type(v)) {
    case json_type_int:
        *out = json_object_get_int64(v);
        return true;
    case json_type_double: {
        double d = json_object_get_double(v);
        if (!(d >= -1e15 && d <= 1e15) || d != (double)(int64_t)d)
            return false;
        *out = (int64_t)d;
        return true;
    }
    case json_type_string:
        break;
    default:
        return false;
    }
    struct str s = str_trim(str_from(json_object_get_string(v)));
    const char *dot = memchr(s.p, '.', s.n);
    if (dot != NULL) {
        for (const char *q = dot + 1; q < s.p + s.n; q++)
            if (*q != '0')
                return false;
        s.n = (size_t)(dot - s.p);
    }
    bool negative = false;
    if (s.n > 0 && (s.p[0] == '+' || s.p[0] == '-')) {
        negative = s.p[0] == '-';
        s.p++;
        s.n--;
    }
    if (s.n == 0 || s.n > 18)
        return false;
    int64_t n = 0;
    for (size_t i = 0; i < s.n; i++) {
        if (!isdigit((unsigned char)s.p[i]))
            return false;
        n = n * 10 + (s.p[i] - '0');
    }
    *out = negative ? -n : n;
    return true;
}

/* category_id, a PrimaryKeyRelatedField: *present false when absent (and not
 * required). An id that is no category is the core's to report. */
static bool input_pk(struct json_object *body, const char *name, bool required, bool *present,
                     int64_t *out, struct errors *err, struct arena *a)
{
    struct json_object *v = NULL;
    *present = false;
    if (!input_value(body, name, required, &v, err))
        return false;
    if (v == NULL)
        return true; /* absent and not required */
    enum json_type t = json_object_get_type(v);
    int64_t id = 0;
    bool ok = false;
    if (t == json_type_int) {
        id = json_object_get_int64(v);
        ok = true;
    } else if (t == json_type_double) {
        double d = json_object_get_double(v);
        ok = d >= -1e15 && d <= 1e15 && d == (double)(int64_t)d;
        id = ok ? (int64_t)d : 0;
    } else if (t == json_type_string) {
        ok = parse_integer_text(json_object_get_string(v), &id);
    }
    if (!ok) {
        errors_add(err, name,
                   arena_sprintf(a, "Incorrect type. Expected pk value, received %s.",
                                 http_json_type_name(v)));
        return false;
    }
    if (id <= 0) {
        errors_add(err, name,
                   arena_sprintf(a, "Invalid pk \"%lld\" - object does not exist.", (long long)id));
        return false;
    }
    *present = true;
    *out = id;
    return true;
}

/* stock_quantity, a PositiveIntegerField: integers, integral numbers, and
 * strings of them ("45", "45.0"), 0 to 2147483647. */
static bool input_stock(struct json_object *body, const char *name, bool required,
                        bool *present, int64_t *out, struct errors *err)
{
    struct json_object *v = NULL;
    *present = false;
    if (!input_value(body, name, required, &v, err))
        return false;
    if (v == NULL)
        return true; /* absent and not required */
    int64_t n = 0;
    bool ok = v1_json_integer(v, &n);
    if (!ok) {
        errors_add(err, name, "A valid integer is required.");
        return false;
    }
    if (n < 0) {
        errors_add(err, name, "Ensure this value is greater than or equal to 0.");
        return false;
    }
    if (n > STOCK_MAX) {
        errors_add(err, name, "Ensure this value is less than or equal to 2147483647.");
        return false;
    }
    *present = true;
    *out = n;
    return true;
}

/* price, a DecimalField(max_digits=10, decimal_places=2) with a floor of 0:
 * a JSON string or number, checked with DRF's messages in DRF's order, then
 * converted by money_parse. */
static bool input_price(struct json_object *body, const char *name, bool required,
                        bool *present, int64_t *out, struct errors *err)
{
    struct json_object *v = NULL;
    *present = false;
    if (!input_value(body, name, required, &v, err))
        return false;
    if (v == NULL)
        return true; /* absent and not required */
    enum json_type t = json_object_get_type(v);
    if (t != json_type_string && t != json_type_int && t != json_type_double) {
        errors_add(err, name, "A valid number is required.");
        return false;
    }
    /* json-c keeps a parsed number's own text, so 999.99 reads as "999.99". */
    struct str s = str_trim(str_from(json_object_get_string(v)));
    bool negative = false;
    if (s.n > 0 && (s.p[0] == '-' || s.p[0] == '+')) {
        negative = s.p[0] == '-';
        s.p++;
        s.n--;
    }
    size_t i = 0, int_start, int_len, frac_len = 0;
    while (i < s.n && s.p[i] == '0')
        i++;
    bool had_zero = i > 0;
    int_start = i;
    while (i < s.n && isdigit((unsigned char)s.p[i]))
        i++;
    int_len = i - int_start;
    const char *frac = "";
    if (i < s.n && s.p[i] == '.') {
        frac = s.p + ++i;
        while (i < s.n && isdigit((unsigned char)s.p[i]))
            i++;
        frac_len = (size_t)(s.p + i - frac);
    }
    if (i != s.n || (int_len == 0 && frac_len == 0 && !had_zero)) {
        errors_add(err, name, "A valid number is required.");
        return false;
    }
    if (int_len + frac_len > PRICE_MAX_DIGITS) {
        errors_add(err, name, "Ensure that there are no more than 10 digits in total.");
        return false;
    }
    if (frac_len > PRICE_DECIMALS) {
        errors_add(err, name, "Ensure that there are no more than 2 decimal places.");
        return false;
    }
    if (int_len > PRICE_MAX_DIGITS - PRICE_DECIMALS) {
        errors_add(err, name,
                   "Ensure that there are no more than 8 digits before the decimal point.");
        return false;
    }
    char canon[MONEY_STR_MAX];
    size_t n = 0;
    if (int_len == 0)
        canon[n++] = '0';
    memcpy(canon + n, s.p + int_start, int_len);
    n += int_len;
    if (frac_len > 0) {
        canon[n++] = '.';
        memcpy(canon + n, frac, frac_len);
        n += frac_len;
    }
    canon[n] = '\0';
    int64_t minor = 0;
    if (!money_parse(canon, false, &minor)) {
        errors_add(err, name, "A valid number is required.");
        return false;
    }
    if (negative && minor > 0) {
        errors_add(err, name, "Ensure this value is greater than or equal to 0.");
        return false;
    }
    *present = true;
    *out = minor;
    return true;
}

/* An absolute http(s) URL with a host and no white space or control
 * characters: enough for a client's image link, which is shown, never
 * fetched. */
static bool valid_url(const char *s)
{
    if (!is_http_url(s))
        return false;
    const char *host = strstr(s, "://") + 3;
    size_t host_len = strcspn(host, "/?#");
    if (host_len == 0 || host[0] == '.' || host[0] == ':')
        return false;
    for (const unsigned char *p = (const unsigned char *)s; *p; p++)
        if (*p <= 0x20 || *p == 0x7f)
            return false;
    return true;
}

/* image: null or "" (none), an absolute http(s) URL (kept as given), or a
 * multipart file upload. current is the product's stored image (NULL on
 * create): the URL v1 shows for it means "unchanged", so a product read and
 * written back keeps its uploaded file. *has false when absent or unchanged.
 * A client's URL is never turned into a media path: the core removes
 * replaced media files, and must only ever remove the product's own. */
static bool input_image(struct http_request *req, struct json_object *body, const char *current,
                        bool *has, const char **image, struct errors *err)
{
    *has = false;
    *image = NULL;
    const struct http_file *f = http_file(req, "image");
    if (f != NULL) {
        if (f->len == 0) {
            errors_add(err, "image", "The submitted file is empty.");
            return false;
        }
        /* Stored only after every other field passed (store_upload). */
        *has = true;
        return true;
    }
    struct json_object *v = NULL;
    if (!json_object_object_get_ex(body, "image", &v))
        return true;
    if (json_object_get_type(v) == json_type_null) {
        *has = true;
        return true;
    }
    const char *s;
    if (!input_string(req, body, "image", INPUT_TRIM | INPUT_ALLOW_BLANK, &s, err))
        return false;
    if (*s == '\0') {
        *has = true;
        return true;
    }
    if (current != NULL && *current != '\0' && !is_http_url(current) &&
        strcmp(s, media_url(&req->ctx, current)) == 0)
        return true;
    if (!valid_url(s)) {
        errors_add(err, "image", "Enter a valid URL.");
        return false;
    }
    *has = true;
    *image = s;
    return true;
}

/* Stores an uploaded image once the rest of the request was found valid. */
static int store_upload(struct http_request *req, const char **image, const char **stored,
                        struct errors *err)
{
    const struct http_file *f = http_file(req, "image");
    if (f == NULL)
        return SHOP_OK;
    int rc = media_store_image(&req->ctx, "products", f->data, f->len, "image", err, stored);
    if (rc == SHOP_OK)
        *image = *stored;
    return rc;
}

/* ---- 7. list products ---- */

/* The offset to read a page at before its count is known: "last" needs the
 * count first, and a page number so large that its offset overflows is past
 * the end anyway (http_page_check answers 404 for both once the count is in;
 * then the page is read again at its real offset). */
static int64_t first_offset(const struct http_page *page)
{
    if (page->number < 1 || page->number - 1 > INT64_MAX / page->size)
        return 0;
    return http_page_offset(page);
}

void v1_products_list(struct http_request *req)
{
    struct http_page page;
    if (!http_page_params(req, CATALOG_PAGE_SIZE_DEFAULT, CATALOG_PAGE_SIZE_MAX, &page))
        return;
    struct product_query q = {.include_inactive = user_is_admin(req->ctx.user)};
    const char *search = http_query(req, "search");
    if (search != NULL) {
        struct str s = str_trim(str_from(search));
        q.search = s.n > 0 ? str_dup(req->arena, s) : NULL;
    }
    const char *category = http_query(req, "category");
    if (category != NULL && str_trim(str_from(category)).n > 0) {
        /* django-filter's ModelChoiceFilter: anything but an existing
         * category's id is a 400, not an empty page. */
        int64_t id = 0;
        struct category c;
        int rc = SHOP_ENOTFOUND;
        if (parse_integer_text(category, &id) && id > 0)
            rc = catalog_category_get(&req->ctx, id, &c);
        if (rc == SHOP_EDB) {
            http_reply_internal(req);
            return;
        }
        if (rc != SHOP_OK) {
            struct errors err;
            errors_init(&err, req->arena);
            errors_add(&err, "category",
                       "Select a valid choice. That choice is not one of the available choices.");
            reply_errors(req, &err);
            return;
        }
        q.category_id = id;
    }
    q.offset = first_offset(&page);
    q.limit = page.size;
    /* The page's rows as text, when a recent request read the same page
     * (catalog.h, "listing page cache"; docs/catalog.md). */
    struct catalog_page_cache pc;
    if (catalog_page_cache_get(&req->ctx, &q, V1_PAGE_TAG, &pc) != SHOP_OK) {
        http_reply_internal(req);
        return;
    }
    if (pc.hit) {
        if (!http_page_check(req, &page, pc.count))
            return;
        if (http_page_offset(&page) == q.offset) {
            http_reply_json(req, 200,
                            http_page_envelope(req, &page, pc.count,
                                               http_json_verbatim(req->arena, pc.text, pc.len)));
            return;
        }
    }
    struct product_list list;
    if (catalog_product_list(&req->ctx, &q, &list) != SHOP_OK) {
        http_reply_internal(req);
        return;
    }
    if (!http_page_check(req, &page, list.count))
        return;
    if (http_page_offset(&page) != q.offset) {
        q.offset = http_page_offset(&page);
        pc.usable = false; /* the entry's key was the first offset */
        if (catalog_product_list(&req->ctx, &q, &list) != SHOP_OK) {
            http_reply_internal(req);
            return;
        }
    }
    struct json_object *results = json_object_new_array_ext((int)list.n);
    for (size_t i = 0; i < list.n; i++)
        json_object_array_add(results, v1_product_object(req, &list.items[i]));
    if (pc.usable) {
        /* printed once, with the flags the reply is printed with, then
         * kept and sent as that text */
        size_t len;
        const char *text = json_object_to_json_string_length(
            results, JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE, &len);
        catalog_page_cache_put(&pc, list.count, text, len);
        struct json_object *raw =
            http_json_verbatim(req->arena, arena_strndup(req->arena, text, len), len);
        json_object_put(results);
        results = raw;
    }
    http_reply_json(req, 200, http_page_envelope(req, &page, list.count, results));
}

/* ---- 8, 10. create and update products ---- */

struct product_fields {
    const char *name, *description;
    bool has_category, has_price, has_stock, has_image;
    int64_t category_id, price_minor, stock;
    const char *image;
    const char *stored; /* an upload written for this request */
};

/* Reads every field (all errors at once, as DRF reports them). required:
 * create and PUT need name, category_id and price. old: the product being
 * updated, NULL on create. */
static bool read_product_fields(struct http_request *req, bool required,
                                const struct product *old, struct product_fields *f,
                                struct errors *err)
{
    struct json_object *body = http_body(req);
    memset(f, 0, sizeof(*f));
    input_string(req, body, "name", (required ? INPUT_REQUIRED : 0) | INPUT_TRIM, &f->name, err);
    input_string(req, body, "description", INPUT_TRIM | INPUT_ALLOW_BLANK, &f->description, err);
    input_pk(body, "category_id", required, &f->has_category, &f->category_id, err, req->arena);
    input_price(body, "price", required, &f->has_price, &f->price_minor, err);
    input_stock(body, "stock_quantity", false, &f->has_stock, &f->stock, err);
    input_image(req, body, old != NULL ? old->image : NULL, &f->has_image, &f->image, err);
    return !errors_any(err);
}

static void product_input_from(const struct product_fields *f, struct product_input *in)
{
    memset(in, 0, sizeof(*in));
    in->name = f->name;
    in->description = f->description;
    in->has_category = f->has_category;
    in->category_id = f->category_id;
    in->n_tags = -1;
    in->n_image_urls = -1;
    in->has_image = f->has_image;
    in->image = f->image;
    in->n_variants = -1;
}

void v1_products_create(struct http_request *req)
{
    if (refuse_non_admin(req, "Only admins can create products"))
        return;
    struct errors err;
    errors_init(&err, req->arena);
    struct product_fields f;
    if (!read_product_fields(req, true, NULL, &f, &err)) {
        reply_errors(req, &err);
        return;
    }
    int rc = store_upload(req, &f.image, &f.stored, &err);
    if (reply_core_failure(req, rc, &err))
        return;
    struct product_input in;
    product_input_from(&f, &in);
    if (in.description == NULL)
        in.description = "";
    struct variant_input variant = {
        .price_minor = f.price_minor,
        .weight = "",
        .inventory = f.has_stock ? f.stock : 0,
    };
    in.variants = &variant;
    in.n_variants = 1;
    struct product p;
    rc = catalog_product_create(&req->ctx, &in, &err, &p);
    if (rc != SHOP_OK && f.stored != NULL)
        media_remove(&req->ctx, f.stored); /* nobody refers to it */
    if (reply_core_failure(req, rc, &err))
        return;
    http_reply_json(req, 201, v1_product_object(req, &p));
}

static void update_product(struct http_request *req, bool partial)
{
    if (refuse_non_admin(req, "Only admins can update products"))
        return;
    int64_t id = http_param_int(req, "id");
    struct product old;
    int rc = catalog_product_get(&req->ctx, id, true, &old);
    if (rc != SHOP_OK) {
        if (rc == SHOP_ENOTFOUND)
            http_reply_detail(req, 404, MSG_NOT_FOUND);
        else
            http_reply_internal(req);
        return;
    }
    struct errors err;
    errors_init(&err, req->arena);
    struct product_fields f;
    if (!read_product_fields(req, !partial, &old, &f, &err)) {
        reply_errors(req, &err);
        return;
    }
    struct product_input in;
    product_input_from(&f, &in);
    struct variant_input variant;
    if (f.has_price || f.has_stock) {
        if (old.n_variants == 1) {
            /* The one variant keeps its id (carts point at it) and weight. */
            variant.price_minor = f.has_price ? f.price_minor : old.variants[0].price_minor;
            variant.weight = old.variants[0].weight ? old.variants[0].weight : "";
            variant.inventory = f.has_stock ? f.stock : old.variants[0].inventory;
            in.variants = &variant;
            in.n_variants = 1;
        } else {
            /* Which variant a v1 price means is unknowable; the values the
             * client read back (lowest price, summed stock) are accepted as
             * unchanged, so GET-then-PUT works. */
            const char *msg = arena_sprintf(req->arena, MSG_SEVERAL_VARIANTS_FMT, (long long)id);
            if (f.has_price && f.price_minor != old.price_minor)
                errors_add(&err, "price", msg);
            if (f.has_stock && f.stock != old.inventory)
                errors_add(&err, "stock_quantity", msg);
            if (errors_any(&err)) {
                reply_errors(req, &err);
                return;
            }
        }
    }
    rc = store_upload(req, &f.image, &f.stored, &err);
    if (reply_core_failure(req, rc, &err))
        return;
    in.image = f.image;
    struct product p;
    rc = catalog_product_update(&req->ctx, id, &in, &err, &p);
    if (rc != SHOP_OK && f.stored != NULL)
        media_remove(&req->ctx, f.stored);
    if (reply_core_failure(req, rc, &err))
        return;
    /* The core removed a replaced upload once the change committed. */
    http_reply_json(req, 200, v1_product_object(req, &p));
}

/* ---- 9. product detail ---- */

void v1_product_get(struct http_request *req)
{
    struct product p;
    int rc = catalog_product_get(&req->ctx, http_param_int(req, "id"),
                                 user_is_admin(req->ctx.user), &p);
    if (reply_core_failure(req, rc, NULL))
        return;
    http_reply_json(req, 200, v1_product_object(req, &p));
}

void v1_product_put(struct http_request *req)
{
    update_product(req, false);
}

void v1_product_patch(struct http_request *req)
{
    update_product(req, true);
}

/* ---- 11. delete product ---- */

void v1_product_delete(struct http_request *req)
{
    if (refuse_non_admin(req, "Only admins can delete products"))
        return;
    int rc = catalog_product_delete(&req->ctx, http_param_int(req, "id"));
    if (reply_core_failure(req, rc, NULL))
        return;
    reply_message(req, "Product deleted successfully");
}

/* ---- 12. list categories ---- */

void v1_categories_list(struct http_request *req)
{
    struct http_page page;
    if (!http_page_params(req, CATALOG_PAGE_SIZE_DEFAULT, CATALOG_PAGE_SIZE_MAX, &page))
        return;
    int64_t offset = first_offset(&page);
    struct category_list list;
    if (catalog_category_list(&req->ctx, CATEGORY_BY_ID, false, offset, page.size, &list) !=
        SHOP_OK) {
        http_reply_internal(req);
        return;
    }
    if (!http_page_check(req, &page, list.count))
        return;
    if (http_page_offset(&page) != offset &&
        catalog_category_list(&req->ctx, CATEGORY_BY_ID, false, http_page_offset(&page),
                              page.size, &list) != SHOP_OK) {
        http_reply_internal(req);
        return;
    }
    struct json_object *results = json_object_new_array_ext((int)list.n);
    for (size_t i = 0; i < list.n; i++)
        json_object_array_add(results, category_object(req->arena, &list.items[i]));
    http_reply_json(req, 200, http_page_envelope(req, &page, list.count, results));
}

/* ---- 13, 15. create and update categories ---- */

static bool read_category_fields(struct http_request *req, bool required,
                                 struct category_input *in, struct errors *err)
{
    struct json_object *body = http_body(req);
    memset(in, 0, sizeof(*in));
    in->n_tags = -1;
    input_string(req, body, "name", (required ? INPUT_REQUIRED : 0) | INPUT_TRIM, &in->name, err);
    input_string(req, body, "description", INPUT_TRIM | INPUT_ALLOW_BLANK, &in->description,
                 err);
    return !errors_any(err);
}

void v1_categories_create(struct http_request *req)
{
    if (refuse_non_admin(req, "Only admins can create categories"))
        return;
    struct errors err;
    errors_init(&err, req->arena);
    struct category_input in;
    if (!read_category_fields(req, true, &in, &err)) {
        reply_errors(req, &err);
        return;
    }
    struct category c;
    int rc = catalog_category_create(&req->ctx, &in, &err, &c);
    if (reply_core_failure(req, rc, &err))
        return;
    http_reply_json(req, 201, category_object(req->arena, &c));
}

static void update_category(struct http_request *req, bool partial)
{
    if (refuse_non_admin(req, "Only admins can update categories"))
        return;
    int64_t id = http_param_int(req, "id");
    /* DRF looks the object up before it validates: a missing one is a 404
     * whatever the body. */
    struct category c;
    int rc = catalog_category_get(&req->ctx, id, &c);
    if (reply_core_failure(req, rc, NULL))
        return;
    struct errors err;
    errors_init(&err, req->arena);
    struct category_input in;
    if (!read_category_fields(req, !partial, &in, &err)) {
        reply_errors(req, &err);
        return;
    }
    rc = catalog_category_update(&req->ctx, id, &in, &err, &c);
    if (reply_core_failure(req, rc, &err))
        return;
    http_reply_json(req, 200, category_object(req->arena, &c));
}

/* ---- 14. category detail ---- */

void v1_category_get(struct http_request *req)
{
    struct category c;
    int rc = catalog_category_get(&req->ctx, http_param_int(req, "id"), &c);
    if (reply_core_failure(req, rc, NULL))
        return;
    http_reply_json(req, 200, category_object(req->arena, &c));
}

void v1_category_put(struct http_request *req)
{
    update_category(req, false);
}

void v1_category_patch(struct http_request *req)
{
    update_category(req, true);
}

/* ---- 16. delete category ---- */

void v1_category_delete(struct http_request *req)
{
    if (refuse_non_admin(req, "Only admins can delete categories"))
        return;
    struct errors err;
    errors_init(&err, req->arena);
    int rc = catalog_category_delete(&req->ctx, http_param_int(req, "id"), &err);
    if (rc == SHOP_ECONFLICT) {
        /* Still has products: {"non_field_errors": ["Cannot delete ..."]},
         * the document's 400 shape; nothing is cascaded. */
        if (!errors_any(&err))
            errors_add(&err, ERRORS_NON_FIELD, "Cannot delete a category that still has products.");
        reply_errors(req, &err);
        return;
    }
    if (reply_core_failure(req, rc, &err))
        return;
    reply_message(req, "Category deleted successfully");
}
