/*
 * address.c - users' addresses (see address.h). Writes run in a write
 * transaction so that clearing the previous default and setting the new one
 * are one step; the partial unique index addresses_one_default is the
 * backstop.
 */
#include "core/address.h"

#include <string.h>

#include "core/core.h"
#include "core/user.h"
#include "db/db.h"
#include "util/arena.h"

#define ADDRESS_COLUMNS                                                                       \
    "id, user_id, type, first_name, last_name, company, line1, line2, city, state, "         \
    "postal_code, country, phone, is_default, created_at"

#define MAX_FIELD 255

static const char *col(struct ctx *ctx, struct db_res *res, int i)
{
    const char *s = db_col_text(res, i);
    return arena_strndup(ctx->arena, s ? s : "", s ? db_col_len(res, i) : 0);
}

static void read_address(struct ctx *ctx, struct db_res *res, struct address *a)
{
    a->id = db_col_int(res, 0);
    a->user_id = db_col_int(res, 1);
    a->type = col(ctx, res, 2);
    a->first_name = col(ctx, res, 3);
    a->last_name = col(ctx, res, 4);
    a->company = col(ctx, res, 5);
    a->line1 = col(ctx, res, 6);
    a->line2 = col(ctx, res, 7);
    a->city = col(ctx, res, 8);
    a->state = col(ctx, res, 9);
    a->postal_code = col(ctx, res, 10);
    a->country = col(ctx, res, 11);
    a->phone = col(ctx, res, 12);
    a->is_default = db_col_bool(res, 13);
    a->created_at = db_col_int(res, 14);
}

bool address_validate(const struct address_input *in, bool create, struct errors *err)
{
    int before = err->count;
    struct {
        const char *name;
        const char *value;
        bool required;
    } fields[] = {
        {"type", in->type, false},         {"first_name", in->first_name, false},
        {"last_name", in->last_name, false}, {"company", in->company, false},
        {"line1", in->line1, true},         {"line2", in->line2, false},
        {"city", in->city, true},           {"state", in->state, false},
        {"postal_code", in->postal_code, false}, {"country", in->country, false},
        {"phone", in->phone, false},
    };
    for (size_t i = 0; i < sizeof(fields) / sizeof(fields[0]); i++) {
        const char *v = fields[i].value;
        if (v == NULL) {
            if (create && fields[i].required)
                errors_add(err, fields[i].name, "This field is required.");
            continue;
        }
        if (fields[i].required && *v == '\0')
            errors_add(err, fields[i].name, "This field may not be blank.");
        else if (strlen(v) > MAX_FIELD)
            errors_add(err, fields[i].name,
                       "Ensure this field has no more than 255 characters.");
    }
    if (in->type && strcmp(in->type, "shipping") != 0 && strcmp(in->type, "billing") != 0)
        errors_add(err, "type", "Select a valid choice. Use \"shipping\" or \"billing\".");
    if (in->phone && *in->phone && !user_phone_valid(in->phone))
        errors_add(err, "phone", "Enter a valid phone number in international format, e.g. +14155550123.");
    return err->count == before;
}

/* Clears the user's other default of this type, so the new one can be set. */
static int clear_default(struct ctx *ctx, int64_t user_id, const char *type, int64_t except_id)
{
    return db_exec(ctx->db,
                   "UPDATE addresses SET is_default = FALSE WHERE user_id = ? AND type = ? AND "
                   "id <> ? AND is_default",
                   DB_PARAMS(DB_INT(user_id), DB_TEXT(type), DB_INT(except_id)), NULL) == DB_OK
               ? SHOP_OK
               : SHOP_EDB;
}

static const char *or_empty(const char *s)
{
    return s ? s : "";
}

int address_insert(struct ctx *ctx, int64_t user_id, const struct address_input *in,
                   struct address *out)
{
    const char *type = in->type ? in->type : "shipping";
    bool is_default = in->has_default && in->is_default;
    if (is_default && clear_default(ctx, user_id, type, 0) != SHOP_OK)
        return SHOP_EDB;
    struct db_res *res;
    if (db_query(ctx->db,
                 "INSERT INTO addresses (user_id, type, first_name, last_name, company, line1, "
                 "line2, city, state, postal_code, country, phone, is_default, created_at) VALUES "
                 "(?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) RETURNING " ADDRESS_COLUMNS,
                 DB_PARAMS(DB_INT(user_id), DB_TEXT(type), DB_TEXT(or_empty(in->first_name)),
                           DB_TEXT(or_empty(in->last_name)), DB_TEXT(or_empty(in->company)),
                           DB_TEXT(in->line1), DB_TEXT(or_empty(in->line2)), DB_TEXT(in->city),
                           DB_TEXT(or_empty(in->state)), DB_TEXT(or_empty(in->postal_code)),
                           DB_TEXT(or_empty(in->country)), DB_TEXT(or_empty(in->phone)),
                           DB_BOOL(is_default), DB_INT(ctx->now)),
                 &res) != DB_OK)
        return SHOP_EDB;
    int rc = db_next(res);
    if (rc == DB_ROW && out != NULL)
        read_address(ctx, res, out);
    db_res_close(res);
    return rc == DB_ROW ? SHOP_OK : SHOP_EDB;
}

/* Runs fn inside a write transaction (or the caller's, when one is open). */
static int in_write_tx(struct ctx *ctx, int (*fn)(struct ctx *, void *), void *arg)
{
    bool own;
    if (core_tx_begin(ctx, &own) != SHOP_OK)
        return SHOP_EDB;
    return core_tx_end(ctx, own, fn(ctx, arg));
}

struct create_args {
    const struct address_input *in;
    struct address *out;
};

static int do_create(struct ctx *ctx, void *arg)
{
    struct create_args *a = arg;
    return address_insert(ctx, ctx->user->id, a->in, a->out);
}

int address_create(struct ctx *ctx, const struct address_input *in, struct errors *err,
                   struct address *out)
{
    if (!address_validate(in, true, err))
        return SHOP_EINVAL;
    struct create_args a = {in, out};
    return in_write_tx(ctx, do_create, &a);
}

int address_get(struct ctx *ctx, int64_t id, struct address *out)
{
    struct db_res *res;
    if (db_query(ctx->db, "SELECT " ADDRESS_COLUMNS " FROM addresses WHERE id = ? AND user_id = ?",
                 DB_PARAMS(DB_INT(id), DB_INT(ctx->user->id)), &res) != DB_OK)
        return SHOP_EDB;
    int rc = db_next(res);
    if (rc == DB_ROW)
        read_address(ctx, res, out);
    db_res_close(res);
    return rc == DB_ROW ? SHOP_OK : rc == DB_DONE ? SHOP_ENOTFOUND : SHOP_EDB;
}

struct update_args {
    int64_t id;
    const struct address_input *in;
    struct address *out;
};

static int do_update(struct ctx *ctx, void *arg)
{
    struct update_args *a = arg;
    const struct address_input *in = a->in;
    struct address cur;
    int rc = address_get(ctx, a->id, &cur);
    if (rc != SHOP_OK)
        return rc;
    const char *type = in->type ? in->type : cur.type;
    bool is_default = in->has_default ? in->is_default : cur.is_default;
    if (is_default && clear_default(ctx, ctx->user->id, type, a->id) != SHOP_OK)
        return SHOP_EDB;
    struct db_res *res;
    if (db_query(ctx->db,
                 "UPDATE addresses SET type = ?, first_name = COALESCE(?, first_name), last_name "
                 "= COALESCE(?, last_name), company = COALESCE(?, company), line1 = COALESCE(?, "
                 "line1), line2 = COALESCE(?, line2), city = COALESCE(?, city), state = "
                 "COALESCE(?, state), postal_code = COALESCE(?, postal_code), country = "
                 "COALESCE(?, country), phone = COALESCE(?, phone), is_default = ? WHERE id = ? "
                 "AND user_id = ? RETURNING " ADDRESS_COLUMNS,
                 DB_PARAMS(DB_TEXT(type), DB_TEXT(in->first_name), DB_TEXT(in->last_name),
                           DB_TEXT(in->company), DB_TEXT(in->line1), DB_TEXT(in->line2),
                           DB_TEXT(in->city), DB_TEXT(in->state), DB_TEXT(in->postal_code),
                           DB_TEXT(in->country), DB_TEXT(in->phone), DB_BOOL(is_default),
                           DB_INT(a->id), DB_INT(ctx->user->id)),
                 &res) != DB_OK)
        return SHOP_EDB;
    rc = db_next(res);
    if (rc == DB_ROW)
        read_address(ctx, res, a->out);
    db_res_close(res);
    return rc == DB_ROW ? SHOP_OK : rc == DB_DONE ? SHOP_ENOTFOUND : SHOP_EDB;
}

int address_update(struct ctx *ctx, int64_t id, const struct address_input *in,
                   struct errors *err, struct address *out)
{
    if (!address_validate(in, false, err))
        return SHOP_EINVAL;
    struct update_args a = {id, in, out};
    return in_write_tx(ctx, do_update, &a);
}

int address_delete(struct ctx *ctx, int64_t id)
{
    int64_t n = 0;
    if (db_exec(ctx->db, "DELETE FROM addresses WHERE id = ? AND user_id = ?",
                DB_PARAMS(DB_INT(id), DB_INT(ctx->user->id)), &n) != DB_OK)
        return SHOP_EDB;
    return n == 1 ? SHOP_OK : SHOP_ENOTFOUND;
}

int address_list(struct ctx *ctx, struct address **out, size_t *n)
{
    struct db_res *res;
    if (db_query(ctx->db,
                 "SELECT " ADDRESS_COLUMNS " FROM addresses WHERE user_id = ? ORDER BY id",
                 DB_PARAMS(DB_INT(ctx->user->id)), &res) != DB_OK)
        return SHOP_EDB;
    size_t cap = 8, count = 0;
    struct address *list = arena_alloc(ctx->arena, cap * sizeof(*list));
    int rc;
    while ((rc = db_next(res)) == DB_ROW) {
        if (count == cap) {
            struct address *bigger = arena_alloc(ctx->arena, 2 * cap * sizeof(*list));
            memcpy(bigger, list, cap * sizeof(*list));
            list = bigger;
            cap *= 2;
        }
        read_address(ctx, res, &list[count++]);
    }
    db_res_close(res);
    if (rc != DB_DONE)
        return SHOP_EDB;
    *out = list;
    *n = count;
    return SHOP_OK;
}
