/*
 * db.h - the storage interface: one API over two backends, SQLite and
 * PostgreSQL, chosen by the URL given to db_open.
 *
 * SQL is written once with '?' placeholders; the PostgreSQL backend rewrites
 * them to $1..$n when it prepares a statement. Each connection keeps a cache
 * of prepared statements keyed by the SQL text's address, so callers pass
 * string literals (static storage) and every statement is prepared once per
 * connection.
 *
 * A connection belongs to one thread: db_thread() returns the calling thread's
 * connection, opening it on first use. Results must be closed (db_res_close)
 * before the next query on the same connection; text returned by db_col_text
 * stays valid until db_next or db_res_close.
 *
 * Values: integers and booleans travel as int64 (booleans 0/1; PostgreSQL
 * boolean columns read back through db_col_bool), text as bytes with length,
 * NULL as DB_NULL. Timestamps are stored as integers (epoch seconds or
 * microseconds, as the column's name says: *_at / *_us).
 */
#ifndef SHOPD_DB_DB_H
#define SHOPD_DB_DB_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

enum db_kind { DB_SQLITE, DB_POSTGRES };

/* Return codes of every db_* call that can fail. */
enum db_status {
    DB_OK = 0,
    DB_ROW = 1,         /* db_next: a row is available */
    DB_DONE = 2,        /* db_next: no more rows */
    DB_ERR = -1,        /* anything else; logged with the backend's message */
    DB_ECONSTRAINT = -2, /* unique / foreign key / check constraint violated */
    DB_EBUSY = -3,      /* lock not obtained within the busy timeout / serialization failure */
};

enum db_type { DB_T_NULL, DB_T_INT, DB_T_TEXT };

struct db_param {
    enum db_type type;
    int64_t i;
    const char *s; /* DB_T_TEXT: bytes, need not be NUL-terminated */
    size_t n;
};

#define DB_NULL ((struct db_param){.type = DB_T_NULL})
#define DB_INT(v) ((struct db_param){.type = DB_T_INT, .i = (int64_t)(v)})
#define DB_BOOL(v) ((struct db_param){.type = DB_T_INT, .i = (v) ? 1 : 0})
/* NUL-terminated text; a NULL pointer binds SQL NULL. */
struct db_param db_text(const char *s);
#define DB_TEXT(s) db_text(s)
#define DB_TEXTN(p, len) ((struct db_param){.type = DB_T_TEXT, .s = (p), .n = (len)})

/* Builds a parameter array from a list: DB_PARAMS(DB_INT(1), DB_TEXT("x")). */
#define DB_PARAMS(...) ((const struct db_param[]){__VA_ARGS__}), \
    (sizeof((const struct db_param[]){__VA_ARGS__}) / sizeof(struct db_param))
#define DB_NO_PARAMS NULL, 0

struct db;
struct db_res;

/* Opens a connection for url (sqlite://rel/path, sqlite:///abs/path,
 * postgres://... or postgresql://...). NULL on failure (logged). SQLite:
 * WAL (checkpointed every 10,000 pages), synchronous=NORMAL, busy_timeout 5 s,
 * foreign_keys on; writers of one process queue on a mutex (sqlite.c). */
struct db *db_open(const char *url);
void db_close(struct db *db);
enum db_kind db_kind(const struct db *db);

/* Process-wide: the URL that db_thread() connections open. */
void db_set_url(const char *url);
/* The calling thread's connection, opened on first use; NULL when the
 * database cannot be reached (logged). */
struct db *db_thread(void);
/* Closes every connection opened through db_thread (at shutdown). */
void db_close_all(void);

/* Runs a statement that returns no rows. *affected (optional) gets the
 * number of rows changed. */
int db_exec(struct db *db, const char *sql, const struct db_param *params, size_t n,
            int64_t *affected);
/* Runs a statement whose rows are read with db_next / db_col_*. */
int db_query(struct db *db, const char *sql, const struct db_param *params, size_t n,
             struct db_res **res);
int db_next(struct db_res *res); /* DB_ROW, DB_DONE or an error */
void db_res_close(struct db_res *res);

int db_ncols(struct db_res *res);
bool db_col_is_null(struct db_res *res, int col);
int64_t db_col_int(struct db_res *res, int col);   /* 0 for NULL */
bool db_col_bool(struct db_res *res, int col);     /* 1/0, t/f, true/false */
const char *db_col_text(struct db_res *res, int col); /* NULL for NULL */
size_t db_col_len(struct db_res *res, int col);

/* Convenience: the first column of the first row as an integer. Returns
 * DB_ROW with *out set, DB_DONE when there is no row, or an error. */
int db_query_int(struct db *db, const char *sql, const struct db_param *params, size_t n,
                 int64_t *out);

/* Runs several ';'-separated statements without parameters (migrations). */
int db_exec_script(struct db *db, const char *sql);

/* Transactions. db_begin_write takes the write lock up front (SQLite BEGIN
 * IMMEDIATE; PostgreSQL BEGIN, with row locks taken by SELECT ... FOR UPDATE
 * in the statements themselves), for read-modify-write sequences. */
int db_begin(struct db *db);
int db_begin_write(struct db *db);
int db_commit(struct db *db);
int db_rollback(struct db *db);
bool db_in_transaction(const struct db *db);

/* The backend's last error message (for logs). */
const char *db_errmsg(struct db *db);

/* Applies the embedded migrations of the connection's backend that are not
 * yet recorded in schema_migrations, each in its own transaction, under a
 * lock that makes concurrent callers (two processes starting at once) apply
 * each migration exactly once. Returns DB_OK or an error; *applied counts
 * what this call applied. */
int db_migrate(struct db *db, int *applied);

#endif
