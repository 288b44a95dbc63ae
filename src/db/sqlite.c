/*
 * sqlite.c - the SQLite backend of db.h.
 *
 * A connection is opened with SQLITE_OPEN_NOMUTEX: it belongs to one thread
 * (see db_thread), so SQLite's per-connection mutex would be pure cost.
 * Prepared statements live in the connection's cache (db.c) and are reset
 * and stripped of their bindings as soon as a db_exec or a result is done
 * with them: a statement left un-reset keeps a WAL read snapshot open, which
 * blocks checkpoints and hides other connections' commits.
 *
 * A cached statement is marked busy while a result steps it, so a nested
 * query with the same SQL (walking a tree) gets a one-use statement instead
 * of resetting the outer one under its feet.
 *
 * Writers of one process queue on a mutex per database file before BEGIN
 * IMMEDIATE (see "writer queue"): SQLite's busy handler makes a waiting
 * connection sleep 1, 2, 5, 10 ... 100 ms between tries, so under many
 * concurrent checkouts a thread could sleep long after the lock was free
 * (p99 in the hundreds of ms while the CPU idled). The mutex hands the
 * lock over at once; other processes still meet the busy timeout.
 */
#include <errno.h>
#include <limits.h>
#include <pthread.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <sys/stat.h>

#include "db/backend.h"
#include "util/arena.h"
#include "util/log.h"

#define BUSY_TIMEOUT_MS 5000

struct writer_queue;

struct lite {
    struct db base;
    sqlite3 *h;
    struct writer_queue *wq; /* this file's writer queue, or NULL */
    bool holds_wq;           /* a write transaction of ours holds wq->lock */
};

/* ---- writer queue ----
 *
 * One mutex per database file (by its full path), shared by every
 * connection of the process to that file. A write transaction takes it
 * before BEGIN IMMEDIATE and gives it back when the transaction ends. It is
 * waited for at most the busy timeout; after that the transaction goes on to
 * BEGIN IMMEDIATE anyway, which then waits or fails as it would without the
 * queue, so a connection that never ends its transaction cannot stall the
 * others for longer than SQLite itself would. Entries are never freed (a
 * process opens a handful of files); when the table is full a file simply
 * has no queue. */
#define WRITER_QUEUES 64

struct writer_queue {
    char path[PATH_MAX];
    pthread_mutex_t lock;
};

static struct writer_queue writer_queues[WRITER_QUEUES];
static size_t n_writer_queues;
static pthread_mutex_t writer_queues_lock = PTHREAD_MUTEX_INITIALIZER;

static struct writer_queue *writer_queue_of(sqlite3 *h)
{
    const char *path = sqlite3_db_filename(h, "main");
    struct writer_queue *q = NULL;

    if (path == NULL || path[0] == '\0' || strlen(path) >= PATH_MAX)
        return NULL; /* :memory: or a temporary database: private anyway */
    pthread_mutex_lock(&writer_queues_lock);
    for (size_t i = 0; i < n_writer_queues && q == NULL; i++)
        if (strcmp(writer_queues[i].path, path) == 0)
            q = &writer_queues[i];
    if (q == NULL && n_writer_queues < WRITER_QUEUES) {
        q = &writer_queues[n_writer_queues++];
        snprintf(q->path, sizeof(q->path), "%s", path);
        pthread_mutex_init(&q->lock, NULL);
    }
    pthread_mutex_unlock(&writer_queues_lock);
    return q;
}

static void writer_queue_enter(struct lite *l)
{
    struct timespec until;

    if (l->wq == NULL)
        return;
    clock_gettime(CLOCK_REALTIME, &until);
    until.tv_sec += BUSY_TIMEOUT_MS / 1000;
    until.tv_nsec += (long)(BUSY_TIMEOUT_MS % 1000) * 1000000L;
    if (until.tv_nsec >= 1000000000L) {
        until.tv_sec++;
        until.tv_nsec -= 1000000000L;
    }
    l->holds_wq = pthread_mutex_timedlock(&l->wq->lock, &until) == 0;
}

static void writer_queue_leave(struct lite *l)
{
    if (l->holds_wq) {
        l->holds_wq = false;
        pthread_mutex_unlock(&l->wq->lock);
    }
}

struct lite_res {
    struct db_res base;
    sqlite3_stmt *stmt;
    const char *key; /* cache key, or NULL: stmt is for this result only */
    bool is_done;
    int status; /* DB_OK, or the error db_next keeps returning */
};

static const struct db_ops lite_ops;

static struct lite *lite_of(struct db *db)
{
    return (struct lite *)db;
}

static int map_rc(int rc)
{
    switch (rc & 0xff) {
    case SQLITE_CONSTRAINT:
        return DB_ECONSTRAINT;
    case SQLITE_BUSY:
    case SQLITE_LOCKED:
        return DB_EBUSY;
    default:
        return DB_ERR;
    }
}

static int fail(struct lite *l, int rc, const char *sql)
{
    return db_fail(&l->base, map_rc(rc), sql, "%s", sqlite3_errmsg(l->h));
}

/* Prepares the one statement in sql. A second statement after it is an
 * error rather than silently ignored; comments and ';' after it are fine. */
static int prepare_one(struct lite *l, const char *sql, bool is_cached, sqlite3_stmt **out)
{
    sqlite3_stmt *stmt = NULL, *extra = NULL;
    const char *tail = NULL;
    unsigned flags = is_cached ? SQLITE_PREPARE_PERSISTENT : 0;
    int rc;

    *out = NULL;
    rc = sqlite3_prepare_v3(l->h, sql, -1, flags, &stmt, &tail);
    if (rc != SQLITE_OK)
        return fail(l, rc, sql);
    if (stmt == NULL)
        return db_fail(&l->base, DB_ERR, sql, "no SQL statement given");
    while (tail != NULL && *tail != '\0') {
        const char *next = NULL;
        rc = sqlite3_prepare_v3(l->h, tail, -1, 0, &extra, &next);
        if (rc != SQLITE_OK || extra != NULL || next == tail) {
            sqlite3_finalize(extra);
            sqlite3_finalize(stmt);
            return db_fail(&l->base, DB_ERR, sql,
                           "more than one statement given (db_exec_script runs several)");
        }
        tail = next;
    }
    *out = stmt;
    return DB_OK;
}

/* The statement for sql: from the cache when possible. *key is set to sql
 * when the statement is cached, NULL when it is for one use. */
static int prepare(struct lite *l, const char *sql, sqlite3_stmt **out, const char **key)
{
    struct db_cache_entry *e = db_cache_get(&l->base, sql);
    sqlite3_stmt *stmt;
    int rc;

    *key = NULL;
    if (e != NULL && e->stmt != NULL) {
        /* release() reset it already; resetting here too keeps reuse safe
         * whatever path the statement took back into the cache. */
        sqlite3_reset(e->stmt);
        sqlite3_clear_bindings(e->stmt);
        *out = e->stmt;
        *key = sql;
        return DB_OK;
    }
    rc = prepare_one(l, sql, e != NULL, &stmt);
    if (rc != DB_OK)
        return rc;
    if (e != NULL) {
        e->stmt = stmt;
        *key = sql;
    }
    *out = stmt;
    return DB_OK;
}

static void release(struct lite *l, sqlite3_stmt *stmt, const char *key)
{
    sqlite3_reset(stmt);
    sqlite3_clear_bindings(stmt);
    if (key == NULL) {
        sqlite3_finalize(stmt);
        return;
    }
    struct db_cache_entry *e = db_cache_lookup(&l->base, key);
    if (e != NULL && e->stmt == stmt)
        e->is_busy = false;
}

static int bind(struct lite *l, sqlite3_stmt *stmt, const char *sql, const struct db_param *params,
                size_t n, void (*lifetime)(void *))
{
    int expected = sqlite3_bind_parameter_count(stmt);

    if (n != (size_t)expected)
        return db_fail(&l->base, DB_ERR, sql, "statement has %d placeholders, %zu parameters given",
                       expected, n);
    for (size_t i = 0; i < n; i++) {
        const struct db_param *p = &params[i];
        int col = (int)i + 1, rc;

        if (p->type == DB_T_INT)
            rc = sqlite3_bind_int64(stmt, col, p->i);
        else if (p->type == DB_T_TEXT && p->s != NULL)
            rc = sqlite3_bind_text64(stmt, col, p->s, p->n, lifetime, SQLITE_UTF8);
        else
            rc = sqlite3_bind_null(stmt, col);
        if (rc != SQLITE_OK)
            return fail(l, rc, sql);
    }
    return DB_OK;
}

static int lite_exec(struct db *db, const char *sql, const struct db_param *params, size_t n,
                     int64_t *affected)
{
    struct lite *l = lite_of(db);
    sqlite3_stmt *stmt;
    const char *key;
    int rc, step;

    rc = prepare(l, sql, &stmt, &key);
    if (rc != DB_OK)
        return rc;
    /* The statement runs to completion before returning, so the caller's
     * bytes outlive their use and need not be copied. */
    rc = bind(l, stmt, sql, params, n, SQLITE_STATIC);
    if (rc != DB_OK)
        goto out;

    sqlite3_int64 before = sqlite3_total_changes64(l->h);
    while ((step = sqlite3_step(stmt)) == SQLITE_ROW)
        ;
    if (step != SQLITE_DONE) {
        rc = fail(l, step, sql);
        goto out;
    }
    /* sqlite3_changes64 still reports an earlier statement after DDL or a
     * SELECT; the total only moves when this statement changed rows. */
    if (affected != NULL)
        *affected = sqlite3_total_changes64(l->h) != before ? sqlite3_changes64(l->h) : 0;
out:
    release(l, stmt, key);
    return rc;
}

static int lite_query(struct db *db, const char *sql, const struct db_param *params, size_t n,
                      struct db_res **res)
{
    struct lite *l = lite_of(db);
    sqlite3_stmt *stmt;
    const char *key;
    int rc;

    rc = prepare(l, sql, &stmt, &key);
    if (rc != DB_OK)
        return rc;
    /* Rows are stepped later, when the caller's buffers may be gone. */
    rc = bind(l, stmt, sql, params, n, SQLITE_TRANSIENT);
    if (rc != DB_OK) {
        release(l, stmt, key);
        return rc;
    }
    if (key != NULL)
        db_cache_lookup(db, key)->is_busy = true;

    struct lite_res *r = xcalloc(1, sizeof(*r));
    r->base.db = db;
    r->stmt = stmt;
    r->key = key;
    *res = &r->base;
    return DB_OK;
}

static int lite_next(struct db_res *res)
{
    struct lite_res *r = (struct lite_res *)res;
    int step;

    if (r->status != DB_OK)
        return r->status;
    /* Stepping after SQLITE_DONE would silently run the statement again. */
    if (r->is_done)
        return DB_DONE;
    step = sqlite3_step(r->stmt);
    if (step == SQLITE_ROW)
        return DB_ROW;
    r->is_done = true;
    if (step == SQLITE_DONE)
        return DB_DONE;
    r->status = fail(lite_of(res->db), step, sqlite3_sql(r->stmt));
    return r->status;
}

static void lite_res_close(struct db_res *res)
{
    struct lite_res *r = (struct lite_res *)res;

    release(lite_of(res->db), r->stmt, r->key);
    free(r);
}

static int lite_ncols(struct db_res *res)
{
    return sqlite3_column_count(((struct lite_res *)res)->stmt);
}

static bool lite_col_is_null(struct db_res *res, int col)
{
    return sqlite3_column_type(((struct lite_res *)res)->stmt, col) == SQLITE_NULL;
}

static int64_t lite_col_int(struct db_res *res, int col)
{
    return sqlite3_column_int64(((struct lite_res *)res)->stmt, col);
}

static const char *lite_col_text(struct db_res *res, int col)
{
    return (const char *)sqlite3_column_text(((struct lite_res *)res)->stmt, col);
}

static size_t lite_col_len(struct db_res *res, int col)
{
    sqlite3_stmt *stmt = ((struct lite_res *)res)->stmt;

    /* Convert first: the byte count is of the representation last fetched. */
    sqlite3_column_text(stmt, col);
    return (size_t)sqlite3_column_bytes(stmt, col);
}

static int lite_exec_script(struct db *db, const char *sql)
{
    struct lite *l = lite_of(db);
    char *err = NULL;
    int rc = sqlite3_exec(l->h, sql, NULL, NULL, &err);

    if (rc == SQLITE_OK)
        return DB_OK;
    rc = db_fail(db, map_rc(rc), sql, "%s", err != NULL ? err : sqlite3_errstr(rc));
    sqlite3_free(err);
    return rc;
}

static int lite_begin(struct db *db, bool is_write)
{
    /* IMMEDIATE takes the write lock now (waiting up to busy_timeout)
     * instead of at the first write, where SQLite fails at once with
     * SQLITE_BUSY when another connection wrote since our snapshot. */
    struct lite *l = lite_of(db);

    if (!is_write)
        return lite_exec(db, "BEGIN", NULL, 0, NULL);
    writer_queue_enter(l);
    int rc = lite_exec(db, "BEGIN IMMEDIATE", NULL, 0, NULL);
    if (rc != DB_OK)
        writer_queue_leave(l);
    return rc;
}

static bool lite_in_transaction(const struct db *db)
{
    return sqlite3_get_autocommit(((const struct lite *)db)->h) == 0;
}

/* Some errors end a transaction by themselves; the queue is left when the
 * caller ends it (commit or rollback, which every path calls). */
static int lite_rollback(struct db *db)
{
    int rc = DB_OK;

    if (lite_in_transaction(db))
        rc = lite_exec(db, "ROLLBACK", NULL, 0, NULL);
    writer_queue_leave(lite_of(db));
    return rc;
}

static int lite_commit(struct db *db)
{
    int rc = lite_exec(db, "COMMIT", NULL, 0, NULL);

    if (rc != DB_OK && lite_in_transaction(db))
        lite_rollback(db);
    writer_queue_leave(lite_of(db));
    return rc;
}

static void lite_free_stmt(struct db *db, void *stmt)
{
    sqlite3_finalize(stmt);
}

static void lite_close(struct db *db)
{
    struct lite *l = lite_of(db);

    db_cache_clear(db);
    writer_queue_leave(l);
    /* _v2: a leaked result's statement is finalized by SQLite later instead
     * of the close failing and leaking the connection. */
    sqlite3_close_v2(l->h);
    free(l);
}

/* mkdir -p of the directory part of path. Failures are logged; opening the
 * file then fails with SQLite's own message. */
static void make_parent_dirs(const char *path)
{
    char *copy = xstrdup(path);

    for (char *p = copy + 1; *p != '\0'; p++) {
        if (*p != '/')
            continue;
        *p = '\0';
        if (mkdir(copy, 0755) != 0 && errno != EEXIST) {
            log_error("sqlite: cannot create directory %s: %s", copy, strerror(errno));
            break;
        }
        *p = '/';
    }
    free(copy);
}

static int journal_mode_cb(void *arg, int ncols, char **values, char **names)
{
    char *mode = arg;

    if (ncols > 0 && values[0] != NULL)
        snprintf(mode, 16, "%s", values[0]);
    return 0;
}

struct db *db_sqlite_open(const char *path)
{
    struct lite *l;
    char mode[16] = "";
    int rc;

    if (path == NULL || path[0] == '\0') {
        log_error("sqlite: the URL names no file (sqlite://relative/path or sqlite:///abs/path)");
        return NULL;
    }
    if (strcmp(path, ":memory:") != 0)
        make_parent_dirs(path);

    l = xcalloc(1, sizeof(*l));
    l->base.ops = &lite_ops;
    l->base.kind = DB_SQLITE;
    rc = sqlite3_open_v2(path, &l->h,
                         SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX, NULL);
    if (rc != SQLITE_OK) {
        log_error("sqlite: cannot open %s: %s", path,
                  l->h != NULL ? sqlite3_errmsg(l->h) : sqlite3_errstr(rc));
        goto fail;
    }
    /* busy_timeout first: switching to WAL needs a lock another process
     * opening the same file at the same moment may hold. */
    sqlite3_busy_timeout(l->h, BUSY_TIMEOUT_MS);
    /* On a file just created by another process, SQLite can answer BUSY at
     * once, without calling the busy handler, while it reads the new
     * header: retry for as long as the busy timeout would have waited. */
    for (int waited_ms = 0;; waited_ms += 10) {
        rc = sqlite3_exec(l->h, "PRAGMA journal_mode=WAL", journal_mode_cb, mode, NULL);
        if ((rc & 0xff) != SQLITE_BUSY || waited_ms >= BUSY_TIMEOUT_MS)
            break;
        usleep(10000);
    }
    if (rc != SQLITE_OK) {
        fail(l, rc, "PRAGMA journal_mode=WAL");
        goto fail;
    }
    if (strcmp(mode, "wal") != 0 && strcmp(path, ":memory:") != 0)
        log_warn("sqlite: %s: journal mode is '%s', not wal", path, mode);
    /* wal_autocheckpoint: a checkpoint every 10,000 pages (40 MB of WAL)
     * instead of SQLite's 1,000. A checkpoint runs inside the commit that
     * crosses the mark, copying the newest version of each page it finds and
     * syncing the file, while every other writer waits; the hot pages (stock
     * rows, the right edges of the order tables, sqlite_sequence) are
     * rewritten by every order, so a ten times longer WAL copies them ten
     * times less often. bench/checkout.sh: 2,400-3,200 orders/s with 1,000,
     * 3,660-3,800 with 10,000, server CPU per order 330 -> 215 us
     * (docs/performance.md). The WAL file grows to about 40 MB and is reused. */
    rc = sqlite3_exec(l->h,
                      "PRAGMA synchronous=NORMAL; PRAGMA foreign_keys=ON; "
                      "PRAGMA wal_autocheckpoint=10000",
                      NULL, NULL, NULL);
    if (rc != SQLITE_OK) {
        fail(l, rc, "PRAGMA synchronous, foreign_keys, wal_autocheckpoint");
        goto fail;
    }
    l->wq = writer_queue_of(l->h);
    return &l->base;

fail:
    sqlite3_close_v2(l->h);
    free(l);
    return NULL;
}

static const struct db_ops lite_ops = {
    .close = lite_close,
    .exec = lite_exec,
    .query = lite_query,
    .next = lite_next,
    .res_close = lite_res_close,
    .ncols = lite_ncols,
    .col_is_null = lite_col_is_null,
    .col_int = lite_col_int,
    .col_text = lite_col_text,
    .col_len = lite_col_len,
    .exec_script = lite_exec_script,
    .begin = lite_begin,
    .commit = lite_commit,
    .rollback = lite_rollback,
    .in_transaction = lite_in_transaction,
    .free_stmt = lite_free_stmt,
};
