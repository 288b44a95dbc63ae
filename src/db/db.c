/*
 * db.c - the backend-independent half of db.h: URL dispatch, argument checks
 * in front of every backend call, transactions, db_query_int, error
 * recording, the prepared-statement cache, and the per-thread connections.
 *
 * Per-thread connections: each thread that calls db_thread owns one struct
 * thread_conn in thread-local storage. Opened connections are linked into a
 * registry under registry_lock, so db_close_all can close them at shutdown
 * and a thread that exits closes its own (pthread key destructor). A thread
 * never frees its thread_conn (it is TLS), so the registry cannot dangle.
 * db_close_all must run after the worker threads stopped using the database.
 */
#include "db/db.h"

#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "db/backend.h"
#include "util/arena.h"
#include "util/log.h"

struct db_param db_text(const char *s)
{
    if (s == NULL)
        return DB_NULL;
    return (struct db_param){.type = DB_T_TEXT, .s = s, .n = strlen(s)};
}

/* ---- errors ---- */

static void one_line(char *s)
{
    for (; *s != '\0'; s++) {
        if ((unsigned char)*s < 0x20 || *s == 0x7f)
            *s = ' ';
    }
}

int db_fail(struct db *db, int status, const char *sql, const char *fmt, ...)
{
    char local[512];
    char *msg = db != NULL ? db->errmsg : local;
    size_t cap = db != NULL ? sizeof(db->errmsg) : sizeof(local);
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(msg, cap, fmt, ap);
    va_end(ap);

    /* One log line per error: libpq's messages and migration scripts span
     * lines. */
    size_t n = strlen(msg);
    while (n > 0 && (msg[n - 1] == '\n' || msg[n - 1] == ' '))
        msg[--n] = '\0';
    one_line(msg);
    char shown_sql[201];
    snprintf(shown_sql, sizeof(shown_sql), "%s", sql != NULL ? sql : "");
    one_line(shown_sql);

    const char *backend = db == NULL ? "db" : db->kind == DB_SQLITE ? "sqlite" : "postgres";
    switch (status) {
    case DB_ECONSTRAINT:
        log_debug("%s: %s [%s]", backend, msg, shown_sql);
        break;
    case DB_EBUSY:
        log_warn("%s: %s [%s]", backend, msg, shown_sql);
        break;
    default:
        log_error("%s: %s [%s]", backend, msg, shown_sql);
        break;
    }
    return status;
}

/* ---- opening ---- */

static bool has_prefix(const char *s, const char *prefix)
{
    return strncasecmp(s, prefix, strlen(prefix)) == 0;
}

/* Copies url with the password of scheme://user:password@host masked, so
 * that connection failures can be logged. */
static void redact_url(const char *url, char *out, size_t cap)
{
    const char *scheme_end = strstr(url, "://");
    const char *at = scheme_end != NULL ? strchr(scheme_end + 3, '@') : NULL;
    const char *colon = NULL;

    if (at != NULL) {
        colon = memchr(scheme_end + 3, ':', (size_t)(at - (scheme_end + 3)));
    }
    if (colon == NULL) {
        snprintf(out, cap, "%s", url);
        return;
    }
    snprintf(out, cap, "%.*s:***%s", (int)(colon - url), url, at);
}

struct db *db_open(const char *url)
{
    char shown[256];
    struct db *db = NULL;

    if (url == NULL || url[0] == '\0') {
        log_error("db: no database URL given");
        return NULL;
    }
    if (has_prefix(url, "sqlite://")) {
        db = db_sqlite_open(url + strlen("sqlite://"));
    } else if (has_prefix(url, "postgres://") || has_prefix(url, "postgresql://")) {
        db = db_pg_open(url);
    } else {
        redact_url(url, shown, sizeof(shown));
        log_error("db: unsupported database URL '%s' (sqlite://, postgres:// or postgresql://)",
                  shown);
        return NULL;
    }
    if (db == NULL) {
        redact_url(url, shown, sizeof(shown));
        log_error("db: cannot open %s", shown);
    }
    return db;
}

void db_close(struct db *db)
{
    if (db == NULL)
        return;
    /* The backend clears the statement cache itself: PostgreSQL first drops
     * the session so its statements need no DEALLOCATE round trips. */
    db->ops->close(db);
}

enum db_kind db_kind(const struct db *db)
{
    return db != NULL ? db->kind : DB_SQLITE;
}

/* ---- statements ---- */

static bool args_ok(struct db *db, const char *sql, const struct db_param *params, size_t n,
                    const char *what)
{
    if (db == NULL) {
        log_error("db: %s without a connection", what);
        return false;
    }
    if (sql == NULL) {
        db_fail(db, DB_ERR, NULL, "%s: no SQL given", what);
        return false;
    }
    if (params == NULL && n > 0) {
        db_fail(db, DB_ERR, sql, "%s: %zu parameters announced but none given", what, n);
        return false;
    }
    for (size_t i = 0; i < n; i++) {
        const struct db_param *p = &params[i];
        if (p->type != DB_T_NULL && p->type != DB_T_INT && p->type != DB_T_TEXT) {
            db_fail(db, DB_ERR, sql, "%s: parameter %zu has no valid type", what, i + 1);
            return false;
        }
        if (p->type == DB_T_TEXT && p->s == NULL && p->n > 0) {
            db_fail(db, DB_ERR, sql, "%s: parameter %zu: NULL text with length %zu", what, i + 1,
                    p->n);
            return false;
        }
    }
    return true;
}

int db_exec(struct db *db, const char *sql, const struct db_param *params, size_t n,
            int64_t *affected)
{
    if (affected != NULL)
        *affected = 0;
    if (!args_ok(db, sql, params, n, "db_exec"))
        return DB_ERR;
    return db->ops->exec(db, sql, params, n, affected);
}

int db_query(struct db *db, const char *sql, const struct db_param *params, size_t n,
             struct db_res **res)
{
    if (res == NULL) {
        log_error("db: db_query without a result pointer");
        return DB_ERR;
    }
    *res = NULL;
    if (!args_ok(db, sql, params, n, "db_query"))
        return DB_ERR;
    return db->ops->query(db, sql, params, n, res);
}

int db_next(struct db_res *res)
{
    if (res == NULL) {
        log_error("db: db_next on no result");
        return DB_ERR;
    }
    int rc = res->db->ops->next(res);
    res->has_row = rc == DB_ROW;
    return rc;
}

void db_res_close(struct db_res *res)
{
    if (res != NULL)
        res->db->ops->res_close(res);
}

int db_ncols(struct db_res *res)
{
    return res != NULL ? res->db->ops->ncols(res) : 0;
}

/* Column accessors on no current row or a column out of range answer as for
 * NULL instead of reaching into the backend (undefined in SQLite). */
static bool col_ok(struct db_res *res, int col)
{
    return res != NULL && res->has_row && col >= 0 && col < res->db->ops->ncols(res);
}

bool db_col_is_null(struct db_res *res, int col)
{
    return !col_ok(res, col) || res->db->ops->col_is_null(res, col);
}

int64_t db_col_int(struct db_res *res, int col)
{
    return col_ok(res, col) ? res->db->ops->col_int(res, col) : 0;
}

bool db_col_bool(struct db_res *res, int col)
{
    /* SQLite stores booleans as integers: read them as such (asking for text
     * makes SQLite convert and allocate). */
    if (res != NULL && res->db->kind == DB_SQLITE)
        return db_col_int(res, col) != 0;
    const char *t = db_col_text(res, col);

    if (t == NULL)
        return false;
    if (strcasecmp(t, "t") == 0 || strcasecmp(t, "true") == 0)
        return true;
    if (strcasecmp(t, "f") == 0 || strcasecmp(t, "false") == 0)
        return false;
    return db_col_int(res, col) != 0;
}

const char *db_col_text(struct db_res *res, int col)
{
    return col_ok(res, col) ? res->db->ops->col_text(res, col) : NULL;
}

size_t db_col_len(struct db_res *res, int col)
{
    return col_ok(res, col) ? res->db->ops->col_len(res, col) : 0;
}

/* *out is left alone unless a row came back, so callers may preset a default. */
int db_query_int(struct db *db, const char *sql, const struct db_param *params, size_t n,
                 int64_t *out)
{
    struct db_res *res = NULL;
    int rc = db_query(db, sql, params, n, &res);

    if (rc != DB_OK)
        goto out;
    rc = db_next(res);
    if (rc == DB_ROW && out != NULL)
        *out = db_col_int(res, 0);
out:
    db_res_close(res);
    return rc;
}

int db_exec_script(struct db *db, const char *sql)
{
    if (!args_ok(db, sql, NULL, 0, "db_exec_script"))
        return DB_ERR;
    return db->ops->exec_script(db, sql);
}

/* ---- transactions ---- */

/* A transaction already open at db_begin is a caller bug (nesting, or an
 * earlier caller that neither committed nor rolled back). It is refused, not
 * silently rolled back: that could throw away an outer caller's writes. */
static int begin(struct db *db, bool is_write)
{
    if (db == NULL) {
        log_error("db: db_begin without a connection");
        return DB_ERR;
    }
    if (db->ops->in_transaction(db))
        return db_fail(db, DB_ERR, NULL, "db_begin: a transaction is already open");
    return db->ops->begin(db, is_write);
}

int db_begin(struct db *db)
{
    return begin(db, false);
}

int db_begin_write(struct db *db)
{
    return begin(db, true);
}

/* On failure the transaction is over (rolled back), so the connection is
 * usable by the next caller whatever the caller does next. */
int db_commit(struct db *db)
{
    if (db == NULL) {
        log_error("db: db_commit without a connection");
        return DB_ERR;
    }
    return db->ops->commit(db);
}

/* Rolling back with no transaction open is a no-op, so cleanup paths may call
 * it unconditionally (some SQLite errors end the transaction by themselves). */
int db_rollback(struct db *db)
{
    if (db == NULL)
        return DB_ERR;
    return db->ops->rollback(db);
}

bool db_in_transaction(const struct db *db)
{
    return db != NULL && db->ops->in_transaction(db);
}

const char *db_errmsg(struct db *db)
{
    if (db == NULL)
        return "no database connection";
    return db->errmsg;
}

/* ---- prepared-statement cache ---- */

static size_t hash_ptr(const void *p)
{
    uint64_t x = (uint64_t)(uintptr_t)p;

    /* murmur3 finalizer: literals sit close together, low bits alone collide */
    x ^= x >> 33;
    x *= UINT64_C(0xff51afd7ed558ccd);
    x ^= x >> 33;
    return (size_t)x;
}

/* The slot holding key, or the empty slot where it belongs. cap > 0 and the
 * table is never full (load factor <= 1/2), so the probe ends. */
static struct db_cache_entry *probe(struct db_cache *c, const char *key)
{
    size_t mask = c->cap - 1;
    size_t i = hash_ptr(key) & mask;

    while (c->slots[i].key != NULL && c->slots[i].key != key)
        i = (i + 1) & mask;
    return &c->slots[i];
}

static void grow(struct db_cache *c)
{
    struct db_cache old = *c;

    c->cap = old.cap ? old.cap * 2 : 64;
    c->slots = xcalloc(c->cap, sizeof(*c->slots));
    for (size_t i = 0; i < old.cap; i++) {
        if (old.slots[i].key != NULL)
            *probe(c, old.slots[i].key) = old.slots[i];
    }
    free(old.slots);
}

struct db_cache_entry *db_cache_get(struct db *db, const char *sql)
{
    struct db_cache *c = &db->cache;
    struct db_cache_entry *e;

    if (c->cap > 0) {
        e = probe(c, sql);
        if (e->key == sql) {
            if (e->is_busy)
                return NULL;
            if (strcmp(e->text, sql) == 0)
                return e;
            /* Same address, different SQL: the caller built it in a buffer. */
            if (e->stmt != NULL)
                db->ops->free_stmt(db, e->stmt);
            e->stmt = NULL;
            free(e->text);
            e->text = xstrdup(sql);
            return e;
        }
    }
    if (c->count >= DB_CACHE_MAX)
        return NULL;
    if ((c->count + 1) * 2 > c->cap)
        grow(c);
    e = probe(c, sql);
    e->key = sql;
    e->text = xstrdup(sql);
    e->stmt = NULL;
    e->is_busy = false;
    c->count++;
    return e;
}

struct db_cache_entry *db_cache_lookup(struct db *db, const char *sql)
{
    struct db_cache_entry *e;

    if (db->cache.cap == 0)
        return NULL;
    e = probe(&db->cache, sql);
    return e->key == sql ? e : NULL;
}

void db_cache_clear(struct db *db)
{
    struct db_cache *c = &db->cache;

    for (size_t i = 0; i < c->cap; i++) {
        struct db_cache_entry *e = &c->slots[i];
        if (e->key == NULL)
            continue;
        if (e->stmt != NULL)
            db->ops->free_stmt(db, e->stmt);
        free(e->text);
    }
    free(c->slots);
    *c = (struct db_cache){0};
}

/* ---- per-thread connections ---- */

struct thread_conn {
    struct thread_conn *prev, *next;
    struct db *db;
    bool is_linked;
};

static pthread_mutex_t registry_lock = PTHREAD_MUTEX_INITIALIZER;
static struct thread_conn *registry; /* guarded by registry_lock */
static char *thread_url;             /* guarded by registry_lock */
static pthread_once_t exit_key_once = PTHREAD_ONCE_INIT;
static pthread_key_t exit_key;
static _Thread_local struct thread_conn this_thread;

static void unlink_conn(struct thread_conn *tc)
{
    if (tc->prev != NULL)
        tc->prev->next = tc->next;
    else
        registry = tc->next;
    if (tc->next != NULL)
        tc->next->prev = tc->prev;
    tc->prev = tc->next = NULL;
    tc->is_linked = false;
}

/* Runs when a thread that opened a connection exits. */
static void thread_exit(void *arg)
{
    struct thread_conn *tc = arg;
    struct db *db;

    pthread_mutex_lock(&registry_lock);
    if (tc->is_linked)
        unlink_conn(tc);
    db = tc->db;
    tc->db = NULL;
    pthread_mutex_unlock(&registry_lock);
    db_close(db);
}

static void make_exit_key(void)
{
    if (pthread_key_create(&exit_key, thread_exit) != 0) {
        log_error("db: pthread_key_create failed");
        abort();
    }
}

void db_set_url(const char *url)
{
    char *copy = url != NULL ? xstrdup(url) : NULL;

    pthread_mutex_lock(&registry_lock);
    free(thread_url);
    thread_url = copy;
    pthread_mutex_unlock(&registry_lock);
}

struct db *db_thread(void)
{
    struct thread_conn *tc = &this_thread;
    struct db *db;
    char *url = NULL;

    if (tc->db != NULL)
        return tc->db;

    pthread_once(&exit_key_once, make_exit_key);
    pthread_mutex_lock(&registry_lock);
    if (thread_url != NULL)
        url = xstrdup(thread_url);
    pthread_mutex_unlock(&registry_lock);
    if (url == NULL) {
        log_error("db: no database URL set (db_set_url)");
        return NULL;
    }
    db = db_open(url);
    free(url);
    if (db == NULL)
        return NULL;

    pthread_setspecific(exit_key, tc);
    pthread_mutex_lock(&registry_lock);
    tc->db = db;
    tc->prev = NULL;
    tc->next = registry;
    if (registry != NULL)
        registry->prev = tc;
    registry = tc;
    tc->is_linked = true;
    pthread_mutex_unlock(&registry_lock);
    return db;
}

void db_close_all(void)
{
    pthread_mutex_lock(&registry_lock);
    while (registry != NULL) {
        struct thread_conn *tc = registry;
        struct db *db = tc->db;
        unlink_conn(tc);
        tc->db = NULL;
        db_close(db);
    }
    pthread_mutex_unlock(&registry_lock);
}
