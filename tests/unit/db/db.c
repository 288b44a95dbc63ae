/*
 * tests/unit/db/db.c - tests src/db (db.c, sqlite.c, pg.c, migrate.c) through
 * db.h, plus the few private pieces in db/backend.h (statement cache size,
 * placeholder rewrite, embedded migrations).
 *
 * Every backend case runs on SQLite in a fresh temporary directory, then on
 * PostgreSQL when SHOPD_TEST_PG_URL is set (e.g.
 * postgres://postgres@127.0.0.1:55432/postgres): each case gets a schema of
 * its own, selected through the URL's search_path and dropped afterwards.
 * Without the variable the PostgreSQL cases are reported as skipped.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#define _XOPEN_SOURCE_EXTENDED 1
#include <assert.h>
#include <ftw.h>
#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "db/backend.h"
#include "db/db.h"

struct env {
    enum db_kind kind;
    char dir[256];   /* SQLite: temporary directory */
    char schema[64]; /* PostgreSQL: schema of this case */
    char url[1024];  /* what a second connection opens */
    struct db *db;
};

/* ---- fixtures ---- */

static int remove_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    return remove(path);
}

static int setup_sqlite(void **state)
{
    struct env *e = calloc(1, sizeof(*e));

    e->kind = DB_SQLITE;
    snprintf(e->dir, sizeof(e->dir), "/tmp/shopd-test-db-XXXXXX");
    assert_non_null(mkdtemp(e->dir));
    /* a nested path: opening creates the missing parents */
    snprintf(e->url, sizeof(e->url), "sqlite://%s/var/data/test.db", e->dir);
    e->db = db_open(e->url);
    assert_non_null(e->db);
    *state = e;
    return 0;
}

static const char *pg_base_url(void)
{
    const char *url = getenv("SHOPD_TEST_PG_URL");
    return url != NULL && url[0] != '\0' ? url : NULL;
}

/* A fresh schema and a URL whose connections use it. */
static void pg_new_schema(struct env *e)
{
    static int serial;
    const char *base = pg_base_url();
    char sql[256];
    struct db *admin = db_open(base);

    assert_non_null(admin);
    snprintf(e->schema, sizeof(e->schema), "shopd_test_%d_%d", (int)getpid(), ++serial);
    snprintf(sql, sizeof(sql), "DROP SCHEMA IF EXISTS %s CASCADE; CREATE SCHEMA %s", e->schema,
             e->schema);
    assert_int_equal(db_exec_script(admin, sql), DB_OK);
    db_close(admin);
    snprintf(e->url, sizeof(e->url), "%s%coptions=-csearch_path%%3D%s", base,
             strchr(base, '?') != NULL ? '&' : '?', e->schema);
}

static void pg_drop_schema(struct env *e)
{
    char sql[256];
    struct db *admin = db_open(pg_base_url());

    assert_non_null(admin);
    snprintf(sql, sizeof(sql), "DROP SCHEMA IF EXISTS %s CASCADE", e->schema);
    assert_int_equal(db_exec_script(admin, sql), DB_OK);
    db_close(admin);
}

static int setup_pg(void **state)
{
    struct env *e;

    *state = NULL;
    if (pg_base_url() == NULL)
        return 0; /* the case skips itself */
    e = calloc(1, sizeof(*e));
    e->kind = DB_POSTGRES;
    pg_new_schema(e);
    e->db = db_open(e->url);
    assert_non_null(e->db);
    *state = e;
    return 0;
}

static int teardown(void **state)
{
    struct env *e = *state;

    if (e == NULL)
        return 0;
    db_close(e->db);
    if (e->kind == DB_SQLITE)
        nftw(e->dir, remove_entry, 16, FTW_DEPTH | FTW_PHYS);
    else
        pg_drop_schema(e);
    free(e);
    return 0;
}

static struct env *env_of(void **state)
{
    if (*state == NULL)
        skip(); /* PostgreSQL case without SHOPD_TEST_PG_URL */
    return *state;
}

static size_t migration_count(enum db_kind kind)
{
    return kind == DB_SQLITE ? db_migrations_sqlite_count : db_migrations_pg_count;
}

static void make_table(struct db *db)
{
    assert_int_equal(db_exec_script(db, "CREATE TABLE t (id INTEGER PRIMARY KEY, i BIGINT, "
                                        "s TEXT, u TEXT UNIQUE)"),
                     DB_OK);
}

static int64_t count_rows(struct db *db, const char *table_sql)
{
    int64_t n = -1;
    assert_int_equal(db_query_int(db, table_sql, DB_NO_PARAMS, &n), DB_ROW);
    return n;
}

static void insert_user(struct db *db, const char *username, const char *email, int rc_expected)
{
    int rc = db_exec(db,
                     "INSERT INTO users (username, email, password, date_joined, is_staff) "
                     "VALUES (?, ?, ?, ?, ?)",
                     DB_PARAMS(DB_TEXT(username), DB_TEXT(email), DB_TEXT("x"), DB_INT(1700000000),
                               DB_BOOL(true)),
                     NULL);
    assert_int_equal(rc, rc_expected);
}

/* ---- backend cases ---- */

static void test_open_and_migrate(void **state)
{
    struct env *e = env_of(state);
    size_t want = migration_count(e->kind);
    int applied = -1;
    struct db_res *res = NULL;

    assert_true(want > 0);
    assert_int_equal(db_migrate(e->db, &applied), DB_OK);
    assert_int_equal(applied, (int)want);
    assert_int_equal(db_migrate(e->db, &applied), DB_OK);
    assert_int_equal(applied, 0);
    assert_int_equal(db_migrate(e->db, NULL), DB_OK);

    /* recorded once each, in order, with their names */
    const struct db_migration *list =
        e->kind == DB_SQLITE ? db_migrations_sqlite : db_migrations_pg;
    assert_int_equal(db_query(e->db,
                              "SELECT version, name, applied_at FROM schema_migrations "
                              "ORDER BY version",
                              DB_NO_PARAMS, &res),
                     DB_OK);
    for (size_t i = 0; i < want; i++) {
        assert_int_equal(db_next(res), DB_ROW);
        assert_int_equal(db_col_int(res, 0), list[i].version);
        assert_string_equal(db_col_text(res, 1), list[i].name);
        assert_true(db_col_int(res, 2) > 1600000000);
    }
    assert_int_equal(db_next(res), DB_DONE);
    db_res_close(res);

    /* the schema is usable */
    insert_user(e->db, "alice", "alice@example.com", DB_OK);
    assert_int_equal(count_rows(e->db, "SELECT count(*) FROM users"), 1);
}

static void test_sqlite_file_and_pragmas(void **state)
{
    struct env *e = env_of(state);
    char path[PATH_MAX + 32];
    struct stat st;
    struct db_res *res = NULL;

    snprintf(path, sizeof(path), "%s/var/data/test.db", e->dir);
    assert_int_equal(stat(path, &st), 0);

    assert_int_equal(db_query(e->db, "PRAGMA journal_mode", DB_NO_PARAMS, &res), DB_OK);
    assert_int_equal(db_next(res), DB_ROW);
    assert_string_equal(db_col_text(res, 0), "wal");
    db_res_close(res);
    int64_t v = -1;
    assert_int_equal(db_query_int(e->db, "PRAGMA foreign_keys", DB_NO_PARAMS, &v), DB_ROW);
    assert_int_equal(v, 1);
    assert_int_equal(db_query_int(e->db, "PRAGMA busy_timeout", DB_NO_PARAMS, &v), DB_ROW);
    assert_int_equal(v, 5000);
    assert_int_equal(db_query_int(e->db, "PRAGMA synchronous", DB_NO_PARAMS, &v), DB_ROW);
    assert_int_equal(v, 1); /* NORMAL */
}

static void test_sqlite_relative_url(void **state)
{
    struct env *e = env_of(state);
    char cwd[PATH_MAX], path[PATH_MAX + 32];
    struct stat st;

    assert_non_null(getcwd(cwd, sizeof(cwd)));
    assert_int_equal(chdir(e->dir), 0);
    struct db *db = db_open("sqlite://rel/dir/x.db");
    assert_int_equal(chdir(cwd), 0);
    assert_non_null(db);
    assert_int_equal(db_kind(db), DB_SQLITE);
    db_close(db);
    snprintf(path, sizeof(path), "%s/rel/dir/x.db", e->dir);
    assert_int_equal(stat(path, &st), 0);
}

static void test_params_roundtrip(void **state)
{
    struct env *e = env_of(state);
    struct db_res *res = NULL;
    const char *accented = "h\xc3\xa9llo 'q' ?";

    make_table(e->db);
    assert_int_equal(
        db_exec(e->db, "INSERT INTO t (id, i, s, u) VALUES (?, ?, ?, ?)",
                DB_PARAMS(DB_INT(1), DB_INT(INT64_MAX), DB_TEXTN("abcdef", 3), DB_NULL), NULL),
        DB_OK);
    assert_int_equal(
        db_exec(e->db, "INSERT INTO t (id, i, s, u) VALUES (?, ?, ?, ?)",
                DB_PARAMS(DB_INT(2), DB_INT(INT64_MIN), DB_TEXT(accented), DB_TEXTN(NULL, 0)),
                NULL),
        DB_OK);
    assert_int_equal(db_exec(e->db, "INSERT INTO t (id, i, s, u) VALUES (?, ?, ?, ?)",
                             DB_PARAMS(DB_INT(3), DB_NULL, DB_TEXT(""), DB_TEXT(NULL)), NULL),
                     DB_OK);

    assert_int_equal(db_query(e->db, "SELECT id, i, s, u FROM t ORDER BY id", DB_NO_PARAMS, &res),
                     DB_OK);
    assert_int_equal(db_ncols(res), 4);
    /* before the first row nothing is readable */
    assert_null(db_col_text(res, 0));

    assert_int_equal(db_next(res), DB_ROW);
    assert_int_equal(db_col_int(res, 0), 1);
    assert_int_equal(db_col_int(res, 1), INT64_MAX);
    assert_string_equal(db_col_text(res, 2), "abc");
    assert_int_equal(db_col_len(res, 2), 3);
    assert_true(db_col_is_null(res, 3));
    assert_null(db_col_text(res, 3));
    assert_int_equal(db_col_int(res, 3), 0);
    assert_int_equal(db_col_len(res, 3), 0);
    /* out of range answers as NULL */
    assert_true(db_col_is_null(res, 4));
    assert_null(db_col_text(res, -1));
    assert_int_equal(db_col_int(res, 99), 0);

    assert_int_equal(db_next(res), DB_ROW);
    assert_int_equal(db_col_int(res, 1), INT64_MIN);
    assert_string_equal(db_col_text(res, 2), accented);
    assert_int_equal(db_col_len(res, 2), strlen(accented));
    assert_true(db_col_is_null(res, 3)); /* DB_TEXTN(NULL, 0) binds NULL */

    assert_int_equal(db_next(res), DB_ROW);
    assert_true(db_col_is_null(res, 1));
    assert_false(db_col_is_null(res, 2));
    assert_string_equal(db_col_text(res, 2), "");
    assert_true(db_col_is_null(res, 3));

    assert_int_equal(db_next(res), DB_DONE);
    db_res_close(res);

    /* '?' inside a literal is not a placeholder */
    char buf[8] = "";
    assert_int_equal(db_query(e->db, "SELECT '?', s FROM t WHERE id = ? AND s <> 'it''s ?'",
                              DB_PARAMS(DB_INT(2)), &res),
                     DB_OK);
    assert_int_equal(db_next(res), DB_ROW);
    snprintf(buf, sizeof(buf), "%s", db_col_text(res, 0));
    assert_string_equal(buf, "?");
    assert_string_equal(db_col_text(res, 1), accented);
    db_res_close(res);

    /* text parameters need not outlive db_query: rows are read later */
    char *tmp = strdup("abc");
    assert_int_equal(db_query(e->db, "SELECT id FROM t WHERE s = ?", DB_PARAMS(DB_TEXT(tmp)), &res),
                     DB_OK);
    memset(tmp, 'z', 3);
    free(tmp);
    assert_int_equal(db_next(res), DB_ROW);
    assert_int_equal(db_col_int(res, 0), 1);
    db_res_close(res);
}

static void test_embedded_nul(void **state)
{
    struct env *e = env_of(state);
    struct db_res *res = NULL;

    make_table(e->db);
    int rc =
        db_exec(e->db, "INSERT INTO t (id, s) VALUES (1, ?)", DB_PARAMS(DB_TEXTN("a\0b", 3)), NULL);
    if (e->kind == DB_POSTGRES) {
        /* PostgreSQL text cannot hold NUL: refused, not truncated */
        assert_int_equal(rc, DB_ERR);
        return;
    }
    assert_int_equal(rc, DB_OK);
    assert_int_equal(db_query(e->db, "SELECT s FROM t", DB_NO_PARAMS, &res), DB_OK);
    assert_int_equal(db_next(res), DB_ROW);
    assert_int_equal(db_col_len(res, 0), 3);
    assert_memory_equal(db_col_text(res, 0), "a\0b", 3);
    db_res_close(res);
}

static void test_constraint(void **state)
{
    struct env *e = env_of(state);

    assert_int_equal(db_migrate(e->db, NULL), DB_OK);
    insert_user(e->db, "bob", "Bob@Example.com", DB_OK);
    /* unique index on lower(email) */
    insert_user(e->db, "bob2", "bob@example.COM", DB_ECONSTRAINT);
    /* unique index on lower(username) */
    insert_user(e->db, "BOB", "other@example.com", DB_ECONSTRAINT);
    /* NOT NULL */
    assert_int_equal(db_exec(e->db,
                             "INSERT INTO users (username, email, password, date_joined) "
                             "VALUES (?, ?, ?, ?)",
                             DB_PARAMS(DB_TEXT("c"), DB_NULL, DB_TEXT("x"), DB_INT(1)), NULL),
                     DB_ECONSTRAINT);
    /* foreign key (SQLite: needs foreign_keys=ON) */
    assert_int_equal(db_exec(e->db,
                             "INSERT INTO refresh_tokens (jti, user_id, issued_at, expires_at) "
                             "VALUES (?, ?, ?, ?)",
                             DB_PARAMS(DB_TEXT("j1"), DB_INT(999), DB_INT(1), DB_INT(2)), NULL),
                     DB_ECONSTRAINT);
    assert_true(strlen(db_errmsg(e->db)) > 0);
    /* the connection is fine afterwards */
    assert_int_equal(count_rows(e->db, "SELECT count(*) FROM users"), 1);
}

static void test_empty_result(void **state)
{
    struct env *e = env_of(state);
    struct db_res *res = NULL;
    int64_t v = 42;

    make_table(e->db);
    assert_int_equal(db_query(e->db, "SELECT id FROM t WHERE id > ?", DB_PARAMS(DB_INT(0)), &res),
                     DB_OK);
    assert_int_equal(db_next(res), DB_DONE);
    /* stays done: SQLite would otherwise re-run the statement */
    assert_int_equal(db_next(res), DB_DONE);
    assert_null(db_col_text(res, 0));
    db_res_close(res);

    assert_int_equal(db_query_int(e->db, "SELECT id FROM t", DB_NO_PARAMS, &v), DB_DONE);
    assert_int_equal(v, 42); /* untouched without a row */

    /* a row is added after one result was read to the end: seen next time */
    assert_int_equal(db_exec(e->db, "INSERT INTO t (id) VALUES (7)", DB_NO_PARAMS, NULL), DB_OK);
    assert_int_equal(db_query_int(e->db, "SELECT id FROM t", DB_NO_PARAMS, &v), DB_ROW);
    assert_int_equal(v, 7);
}

static void test_statement_cache(void **state)
{
    struct env *e = env_of(state);
    static const char insert_sql[] = "INSERT INTO t (id, i) VALUES (?, ?)";
    static const char select_sql[] = "SELECT i FROM t WHERE id = ?";
    int64_t sum = 0, v = 0;

    make_table(e->db);
    size_t before = e->db->cache.count;
    for (int i = 1; i <= 1000; i++)
        assert_int_equal(db_exec(e->db, insert_sql, DB_PARAMS(DB_INT(i), DB_INT(i * 2)), NULL),
                         DB_OK);
    for (int i = 1; i <= 1000; i++) {
        assert_int_equal(db_query_int(e->db, select_sql, DB_PARAMS(DB_INT(i)), &v), DB_ROW);
        sum += v;
    }
    assert_int_equal(sum, 1000 * 1001);
    /* one statement each, prepared once */
    assert_int_equal(e->db->cache.count, before + 2);

    /* the same address holding other SQL is not served the old statement */
    char buf[64];
    snprintf(buf, sizeof(buf), "SELECT i FROM t WHERE id = %d", 10);
    assert_int_equal(db_query_int(e->db, buf, DB_NO_PARAMS, &v), DB_ROW);
    assert_int_equal(v, 20);
    snprintf(buf, sizeof(buf), "SELECT i FROM t WHERE id = %d", 11);
    assert_int_equal(db_query_int(e->db, buf, DB_NO_PARAMS, &v), DB_ROW);
    assert_int_equal(v, 22);

    /* a wrong parameter count is refused, the statement stays usable */
    assert_int_equal(db_query_int(e->db, select_sql, DB_NO_PARAMS, &v), DB_ERR);
    assert_int_equal(db_query_int(e->db, select_sql, DB_PARAMS(DB_INT(1), DB_INT(2)), &v), DB_ERR);
    assert_int_equal(db_query_int(e->db, select_sql, DB_PARAMS(DB_INT(3)), &v), DB_ROW);
    assert_int_equal(v, 6);
}

/* Past DB_CACHE_MAX distinct statements the cache stops growing and the
 * rest run as one-use statements, with the same results. */
static void test_statement_cache_full(void **state)
{
    struct env *e = env_of(state);
    enum { N = DB_CACHE_MAX + 100 };
    char **sql = calloc(N, sizeof(*sql));
    int64_t v = 0;

    for (int i = 0; i < N; i++) {
        char buf[64];
        snprintf(buf, sizeof(buf), "SELECT %d + ?", i);
        sql[i] = strdup(buf);
    }
    for (int round = 0; round < 2; round++) {
        for (int i = 0; i < N; i++) {
            assert_int_equal(db_query_int(e->db, sql[i], DB_PARAMS(DB_INT(round)), &v), DB_ROW);
            assert_int_equal(v, i + round);
        }
    }
    assert_int_equal(e->db->cache.count, DB_CACHE_MAX);
    for (int i = 0; i < N; i++)
        free(sql[i]);
    free(sql);
}

static void test_nested_same_sql(void **state)
{
    struct env *e = env_of(state);
    static const char sql[] = "SELECT id FROM t ORDER BY id";
    struct db_res *outer = NULL, *inner = NULL;
    int rows = 0, inner_rows = 0;

    make_table(e->db);
    assert_int_equal(db_exec_script(e->db, "INSERT INTO t (id) VALUES (1); "
                                           "INSERT INTO t (id) VALUES (2); "
                                           "INSERT INTO t (id) VALUES (3)"),
                     DB_OK);
    assert_int_equal(db_query(e->db, sql, DB_NO_PARAMS, &outer), DB_OK);
    while (db_next(outer) == DB_ROW) {
        rows++;
        assert_int_equal(db_col_int(outer, 0), rows);
        assert_int_equal(db_query(e->db, sql, DB_NO_PARAMS, &inner), DB_OK);
        while (db_next(inner) == DB_ROW)
            inner_rows++;
        db_res_close(inner);
    }
    db_res_close(outer);
    assert_int_equal(rows, 3);
    assert_int_equal(inner_rows, 9);
}

static void test_transactions(void **state)
{
    struct env *e = env_of(state);
    struct db *other;

    make_table(e->db);
    other = db_open(e->url);
    assert_non_null(other);
    assert_false(db_in_transaction(e->db));

    /* rollback */
    assert_int_equal(db_begin(e->db), DB_OK);
    assert_true(db_in_transaction(e->db));
    assert_int_equal(db_exec(e->db, "INSERT INTO t (id) VALUES (1)", DB_NO_PARAMS, NULL), DB_OK);
    assert_int_equal(count_rows(e->db, "SELECT count(*) FROM t"), 1);
    assert_int_equal(db_rollback(e->db), DB_OK);
    assert_false(db_in_transaction(e->db));
    assert_int_equal(count_rows(e->db, "SELECT count(*) FROM t"), 0);

    /* commit; others see it only then */
    assert_int_equal(db_begin_write(e->db), DB_OK);
    assert_int_equal(db_exec(e->db, "INSERT INTO t (id) VALUES (2)", DB_NO_PARAMS, NULL), DB_OK);
    assert_int_equal(count_rows(other, "SELECT count(*) FROM t"), 0);
    /* nesting is refused and leaves the open transaction alone */
    assert_int_equal(db_begin(e->db), DB_ERR);
    assert_true(db_in_transaction(e->db));
    assert_int_equal(db_commit(e->db), DB_OK);
    assert_false(db_in_transaction(e->db));
    assert_int_equal(count_rows(other, "SELECT count(*) FROM t"), 1);

    /* no transaction: rollback is a no-op, commit an error */
    assert_int_equal(db_rollback(e->db), DB_OK);
    assert_int_equal(db_commit(e->db), DB_ERR);

    /* a failed statement, then rollback: nothing of the transaction stays */
    assert_int_equal(db_begin_write(e->db), DB_OK);
    assert_int_equal(db_exec(e->db, "INSERT INTO t (id, u) VALUES (3, 'x')", DB_NO_PARAMS, NULL),
                     DB_OK);
    assert_int_equal(db_exec(e->db, "INSERT INTO t (id, u) VALUES (4, 'x')", DB_NO_PARAMS, NULL),
                     DB_ECONSTRAINT);
    assert_int_equal(db_rollback(e->db), DB_OK);
    assert_int_equal(count_rows(e->db, "SELECT count(*) FROM t"), 1);

    /* a failed statement, then commit: PostgreSQL has aborted the whole
     * transaction, so the commit reports it; SQLite undid the statement
     * only. Either way the transaction is over. */
    assert_int_equal(db_begin(e->db), DB_OK);
    assert_int_equal(db_exec(e->db, "INSERT INTO t (id, u) VALUES (5, 'y')", DB_NO_PARAMS, NULL),
                     DB_OK);
    assert_int_equal(db_exec(e->db, "INSERT INTO t (id, u) VALUES (6, 'y')", DB_NO_PARAMS, NULL),
                     DB_ECONSTRAINT);
    if (e->kind == DB_POSTGRES) {
        assert_int_equal(db_exec(e->db, "INSERT INTO t (id) VALUES (7)", DB_NO_PARAMS, NULL),
                         DB_ERR);
        assert_int_equal(db_commit(e->db), DB_ERR);
        assert_int_equal(count_rows(e->db, "SELECT count(*) FROM t"), 1);
    } else {
        assert_int_equal(db_commit(e->db), DB_OK);
        assert_int_equal(count_rows(e->db, "SELECT count(*) FROM t"), 2);
    }
    assert_false(db_in_transaction(e->db));

    db_close(other);
}

static void test_affected_and_script(void **state)
{
    struct env *e = env_of(state);
    int64_t affected = -1;

    make_table(e->db);
    assert_int_equal(db_exec_script(e->db, "INSERT INTO t (id, i) VALUES (1, 0); "
                                           "INSERT INTO t (id, i) VALUES (2, 0);\n"
                                           "-- a comment\n"
                                           "INSERT INTO t (id, i) VALUES (3, 1);"),
                     DB_OK);
    assert_int_equal(
        db_exec(e->db, "UPDATE t SET i = i + 1 WHERE i = ?", DB_PARAMS(DB_INT(0)), &affected),
        DB_OK);
    assert_int_equal(affected, 2);
    assert_int_equal(
        db_exec(e->db, "DELETE FROM t WHERE id > ?", DB_PARAMS(DB_INT(100)), &affected), DB_OK);
    assert_int_equal(affected, 0);
    assert_int_equal(db_exec(e->db, "CREATE TABLE t2 (x INTEGER)", DB_NO_PARAMS, &affected), DB_OK);
    assert_int_equal(affected, 0);
    assert_int_equal(db_exec(e->db, "DELETE FROM t", DB_NO_PARAMS, &affected), DB_OK);
    assert_int_equal(affected, 3);

    /* a failing script reports the error */
    assert_int_equal(db_exec_script(e->db, "INSERT INTO t2 (x) VALUES (1); SELEC nonsense"),
                     DB_ERR);
}

static void test_query_int(void **state)
{
    struct env *e = env_of(state);
    int64_t v = -1;

    make_table(e->db);
    assert_int_equal(db_query_int(e->db, "SELECT ? + 1", DB_PARAMS(DB_INT(41)), &v), DB_ROW);
    assert_int_equal(v, 42);
    assert_int_equal(db_query_int(e->db, "SELECT count(*) FROM t", DB_NO_PARAMS, &v), DB_ROW);
    assert_int_equal(v, 0);
    assert_int_equal(db_query_int(e->db, "SELECT max(id) FROM t", DB_NO_PARAMS, &v), DB_ROW);
    assert_int_equal(v, 0); /* NULL reads as 0 */
    v = 5;
    assert_int_equal(db_query_int(e->db, "SELECT id FROM t", DB_NO_PARAMS, &v), DB_DONE);
    assert_int_equal(v, 5);
    assert_int_equal(db_query_int(e->db, "SELECT id FROM no_such_table", DB_NO_PARAMS, &v), DB_ERR);
    assert_int_equal(db_query_int(e->db, "SELECT 3", DB_NO_PARAMS, NULL), DB_ROW);
}

static void test_bool(void **state)
{
    struct env *e = env_of(state);
    struct db_res *res = NULL;

    assert_int_equal(db_migrate(e->db, NULL), DB_OK);
    insert_user(e->db, "carol", "carol@example.com", DB_OK);
    assert_int_equal(db_exec(e->db, "UPDATE users SET is_active = ? WHERE username = ?",
                             DB_PARAMS(DB_BOOL(false), DB_TEXT("carol")), NULL),
                     DB_OK);
    assert_int_equal(db_query(e->db,
                              "SELECT is_staff, is_active, is_superuser FROM users WHERE "
                              "is_staff = ?",
                              DB_PARAMS(DB_BOOL(true)), &res),
                     DB_OK);
    assert_int_equal(db_next(res), DB_ROW);
    assert_true(db_col_bool(res, 0));
    assert_int_equal(db_col_int(res, 0), 1);
    assert_false(db_col_bool(res, 1));
    assert_int_equal(db_col_int(res, 1), 0);
    assert_false(db_col_bool(res, 2));
    assert_false(db_col_bool(res, 7));
    db_res_close(res);
}

static void test_bad_input(void **state)
{
    struct env *e = env_of(state);
    struct db_res *res = (struct db_res *)&res;
    int64_t v = 0;

    make_table(e->db);
    /* no connection */
    assert_int_equal(db_exec(NULL, "SELECT 1", DB_NO_PARAMS, NULL), DB_ERR);
    assert_int_equal(db_query(NULL, "SELECT 1", DB_NO_PARAMS, &res), DB_ERR);
    assert_null(res);
    assert_int_equal(db_query_int(NULL, "SELECT 1", DB_NO_PARAMS, &v), DB_ERR);
    assert_int_equal(db_exec_script(NULL, "SELECT 1"), DB_ERR);
    assert_int_equal(db_begin(NULL), DB_ERR);
    assert_int_equal(db_commit(NULL), DB_ERR);
    assert_int_equal(db_migrate(NULL, NULL), DB_ERR);
    assert_false(db_in_transaction(NULL));
    assert_non_null(db_errmsg(NULL));
    db_close(NULL);
    /* no result */
    assert_int_equal(db_next(NULL), DB_ERR);
    assert_int_equal(db_ncols(NULL), 0);
    assert_null(db_col_text(NULL, 0));
    assert_false(db_col_bool(NULL, 0));
    db_res_close(NULL);
    /* bad SQL and parameters */
    assert_int_equal(db_exec(e->db, NULL, DB_NO_PARAMS, NULL), DB_ERR);
    assert_int_equal(db_exec(e->db, "", DB_NO_PARAMS, NULL), DB_ERR);
    assert_int_equal(db_exec(e->db, "SELEC 1", DB_NO_PARAMS, NULL), DB_ERR);
    assert_true(strlen(db_errmsg(e->db)) > 0);
    assert_int_equal(db_exec(e->db, "SELECT 1; SELECT 2", DB_NO_PARAMS, NULL), DB_ERR);
    assert_int_equal(db_exec(e->db, "SELECT 1;  -- trailing comment", DB_NO_PARAMS, NULL), DB_OK);
    assert_int_equal(db_exec(e->db, "SELECT ?", NULL, 1, NULL), DB_ERR);
    assert_int_equal(db_exec(e->db, "SELECT ?", DB_PARAMS(DB_TEXTN(NULL, 5)), NULL), DB_ERR);
    struct db_param odd = {.type = (enum db_type)77};
    assert_int_equal(db_exec(e->db, "SELECT ?", &odd, 1, NULL), DB_ERR);
    /* and the connection still works */
    assert_int_equal(db_query_int(e->db, "SELECT 1", DB_NO_PARAMS, &v), DB_ROW);
    assert_int_equal(v, 1);
}

struct migrate_arg {
    const char *url;
    pthread_barrier_t *barrier;
    int rc;
    int applied;
};

static void *migrate_thread(void *p)
{
    struct migrate_arg *a = p;

    /* Opening takes longer than migrating; open first so that the
     * migrations, not the opens, start together. */
    struct db *db = db_open(a->url);
    pthread_barrier_wait(a->barrier);
    a->rc = db != NULL ? db_migrate(db, &a->applied) : DB_ERR;
    db_close(db);
    return NULL;
}

/* Two connections migrating one fresh database at once: each migration is
 * applied exactly once (a second application would fail on CREATE TABLE)
 * and both callers succeed. Several rounds, as the race is timing-bound. */
static void test_concurrent_migrate(void **state)
{
    struct env *e = env_of(state);
    size_t want = migration_count(e->kind);

    for (int round = 0; round < 16; round++) {
        struct env fresh = *e;
        pthread_barrier_t barrier;
        struct migrate_arg args[2];
        pthread_t threads[2];

        if (e->kind == DB_SQLITE)
            snprintf(fresh.url, sizeof(fresh.url), "sqlite://%s/race%d/db.sqlite", e->dir, round);
        else
            pg_new_schema(&fresh);
        if (round % 2 == 1) {
            /* schema_migrations already there (a database an older binary
             * created): no write is needed before the check, so only the
             * lock keeps the two checks apart */
            struct db *db = db_open(fresh.url);
            assert_non_null(db);
            assert_int_equal(db_exec_script(db, "CREATE TABLE schema_migrations (version INTEGER "
                                                "PRIMARY KEY, name TEXT NOT NULL, applied_at "
                                                "BIGINT NOT NULL)"),
                             DB_OK);
            db_close(db);
        }
        pthread_barrier_init(&barrier, NULL, 2);
        for (int i = 0; i < 2; i++) {
            args[i] = (struct migrate_arg){.url = fresh.url, .barrier = &barrier, .applied = -1};
            assert_int_equal(pthread_create(&threads[i], NULL, migrate_thread, &args[i]), 0);
        }
        for (int i = 0; i < 2; i++)
            pthread_join(threads[i], NULL);
        pthread_barrier_destroy(&barrier);

        assert_int_equal(args[0].rc, DB_OK);
        assert_int_equal(args[1].rc, DB_OK);
        assert_int_equal(args[0].applied + args[1].applied, (int)want);

        struct db *db = db_open(fresh.url);
        assert_non_null(db);
        assert_int_equal(count_rows(db, "SELECT count(*) FROM schema_migrations"), (int64_t)want);
        assert_int_equal(count_rows(db, "SELECT count(DISTINCT version) FROM schema_migrations"),
                         (int64_t)want);
        db_close(db);
        if (e->kind == DB_POSTGRES)
            pg_drop_schema(&fresh);
    }
}

struct thread_arg {
    struct db *db;
    int64_t value;
};

static void *thread_conn_worker(void *p)
{
    struct thread_arg *a = p;

    a->db = db_thread();
    if (a->db != NULL && db_thread() == a->db)
        db_query_int(a->db, "SELECT 7", DB_NO_PARAMS, &a->value);
    return NULL; /* exiting closes this thread's connection */
}

static void test_thread_connections(void **state)
{
    struct env *e = env_of(state);
    struct thread_arg a = {0};
    pthread_t t;
    int64_t v = 0;

    db_set_url(NULL);
    assert_null(db_thread());

    db_set_url(e->url);
    struct db *mine = db_thread();
    assert_non_null(mine);
    assert_ptr_equal(db_thread(), mine);
    assert_int_equal(db_kind(mine), e->kind);

    assert_int_equal(pthread_create(&t, NULL, thread_conn_worker, &a), 0);
    pthread_join(t, NULL);
    assert_non_null(a.db);
    assert_ptr_not_equal(a.db, mine);
    assert_int_equal(a.value, 7);

    /* after db_close_all the thread gets a new, working connection */
    db_close_all();
    struct db *again = db_thread();
    assert_non_null(again);
    assert_int_equal(db_query_int(again, "SELECT 8", DB_NO_PARAMS, &v), DB_ROW);
    assert_int_equal(v, 8);
    db_close_all();
    db_set_url(NULL);
}

static void kill_backend(struct db *admin, int64_t pid)
{
    struct db_res *res = NULL;

    assert_int_equal(
        db_query(admin, "SELECT pg_terminate_backend(?)", DB_PARAMS(DB_INT(pid)), &res), DB_OK);
    assert_int_equal(db_next(res), DB_ROW);
    assert_true(db_col_bool(res, 0));
    db_res_close(res);
    usleep(100 * 1000); /* the backend exits asynchronously */
}

/* PostgreSQL: a connection killed by the server comes back by itself, but not
 * inside a transaction, which must be rolled back first. */
static void test_pg_reconnect(void **state)
{
    struct env *e = env_of(state);
    struct db *admin = db_open(e->url);
    int64_t pid = 0, v = 0;
    int rc;

    assert_non_null(admin);
    /* outside a transaction */
    assert_int_equal(db_query_int(e->db, "SELECT pg_backend_pid()", DB_NO_PARAMS, &pid), DB_ROW);
    kill_backend(admin, pid);
    rc = db_query_int(e->db, "SELECT 1", DB_NO_PARAMS, &v); /* may find it dead */
    assert_true(rc == DB_ROW || rc == DB_ERR);
    assert_int_equal(db_query_int(e->db, "SELECT 2", DB_NO_PARAMS, &v), DB_ROW);
    assert_int_equal(v, 2);

    /* inside a transaction */
    assert_int_equal(db_query_int(e->db, "SELECT pg_backend_pid()", DB_NO_PARAMS, &pid), DB_ROW);
    assert_int_equal(db_begin(e->db), DB_OK);
    kill_backend(admin, pid);
    assert_int_equal(db_query_int(e->db, "SELECT 1", DB_NO_PARAMS, &v), DB_ERR);
    assert_int_equal(db_query_int(e->db, "SELECT 1", DB_NO_PARAMS, &v), DB_ERR);
    assert_true(db_in_transaction(e->db));
    assert_int_equal(db_rollback(e->db), DB_OK);
    assert_false(db_in_transaction(e->db));
    assert_int_equal(db_query_int(e->db, "SELECT 3", DB_NO_PARAMS, &v), DB_ROW);
    assert_int_equal(v, 3);
    db_close(admin);
}

/* ---- backend-independent cases ---- */

static void test_open_bad_urls(void **state)
{
    assert_null(db_open(NULL));
    assert_null(db_open(""));
    assert_null(db_open("mysql://root:secret@localhost/db"));
    assert_null(db_open("sqlite://"));
    assert_null(db_open("sqlite:///nonexistent-dir-\x01/../../proc/forbidden/x.db"));
    assert_int_equal(db_text(NULL).type, DB_T_NULL);
    assert_int_equal(db_text("abc").n, 3);
}

static void check_rewrite(const char *in, const char *want, int want_count)
{
    int count = -1;
    char *out = db_pg_rewrite(in, &count);

    assert_non_null(out);
    assert_string_equal(out, want);
    assert_int_equal(count, want_count);
    free(out);
}

static void test_pg_rewrite(void **state)
{
    check_rewrite("SELECT 1", "SELECT 1", 0);
    check_rewrite("SELECT ?", "SELECT $1", 1);
    check_rewrite("INSERT INTO t VALUES (?,?,?,?,?,?,?,?,?,?,?)",
                  "INSERT INTO t VALUES ($1,$2,$3,$4,$5,$6,$7,$8,$9,$10,$11)", 11);
    check_rewrite("SELECT '?', ? WHERE a = 'it''s ?' AND b = ?",
                  "SELECT '?', $1 WHERE a = 'it''s ?' AND b = $2", 2);
    check_rewrite("SELECT E'\\'?', ?", "SELECT E'\\'?', $1", 1);
    check_rewrite("SELECT \"we?rd\" FROM t WHERE x = ?", "SELECT \"we?rd\" FROM t WHERE x = $1", 1);
    check_rewrite("SELECT ? -- why?\n, ?", "SELECT $1 -- why?\n, $2", 2);
    check_rewrite("SELECT /* a? /* b? */ c? */ ?", "SELECT /* a? /* b? */ c? */ $1", 1);
    check_rewrite("SELECT $$a?b$$, $tag$ ? $tag$, ?", "SELECT $$a?b$$, $tag$ ? $tag$, $1", 1);
    check_rewrite("SELECT 'unterminated ?", "SELECT 'unterminated ?", 0);
    check_rewrite("", "", 0);
}

static void test_embedded_migrations(void **state)
{
    /* both backends carry the same migrations, ascending, non-empty */
    assert_int_equal(db_migrations_sqlite_count, db_migrations_pg_count);
    for (size_t i = 0; i < db_migrations_sqlite_count; i++) {
        const struct db_migration *s = &db_migrations_sqlite[i], *p = &db_migrations_pg[i];
        assert_int_equal(s->version, p->version);
        assert_string_equal(s->name, p->name);
        assert_true(strlen(s->sql) > 0 && strlen(p->sql) > 0);
        if (i > 0)
            assert_true(s->version > db_migrations_sqlite[i - 1].version);
    }
    assert_int_equal(db_migrations_sqlite[0].version, 1);
    assert_string_equal(db_migrations_sqlite[0].name, "users_tokens");
    assert_non_null(strstr(db_migrations_sqlite[0].sql, "CREATE TABLE users ("));
}

/* Cases run on each backend; the backend's own cases follow in main. */
static const struct {
    const char *name;
    CMUnitTestFunction fn;
} backend_cases[] = {
    {"open_and_migrate", test_open_and_migrate},
    {"params_roundtrip", test_params_roundtrip},
    {"embedded_nul", test_embedded_nul},
    {"constraint", test_constraint},
    {"empty_result", test_empty_result},
    {"statement_cache", test_statement_cache},
    {"statement_cache_full", test_statement_cache_full},
    {"nested_same_sql", test_nested_same_sql},
    {"transactions", test_transactions},
    {"affected_and_script", test_affected_and_script},
    {"query_int", test_query_int},
    {"bool", test_bool},
    {"bad_input", test_bad_input},
    {"concurrent_migrate", test_concurrent_migrate},
    {"thread_connections", test_thread_connections},
};
#define NCASES (sizeof(backend_cases) / sizeof(backend_cases[0]))

/* The backend cases with setup, then extra (n of them). */
static int run_backend(const char *group, CMFixtureFunction setup, const struct CMUnitTest *extra,
                       size_t n)
{
    struct CMUnitTest tests[NCASES + 4];

    assert(n <= 4);
    for (size_t i = 0; i < NCASES; i++)
        tests[i] =
            (struct CMUnitTest){backend_cases[i].name, backend_cases[i].fn, setup, teardown, NULL};
    memcpy(tests + NCASES, extra, n * sizeof(*extra));
    return _cmocka_run_group_tests(group, tests, NCASES + n, NULL, NULL);
}

int main(void)
{
    const struct CMUnitTest common[] = {
        cmocka_unit_test(test_open_bad_urls),
        cmocka_unit_test(test_pg_rewrite),
        cmocka_unit_test(test_embedded_migrations),
    };
    const struct CMUnitTest sqlite_only[] = {
        cmocka_unit_test_setup_teardown(test_sqlite_file_and_pragmas, setup_sqlite, teardown),
        cmocka_unit_test_setup_teardown(test_sqlite_relative_url, setup_sqlite, teardown),
    };
    const struct CMUnitTest pg_only[] = {
        cmocka_unit_test_setup_teardown(test_pg_reconnect, setup_pg, teardown),
    };
    int failed = 0;

    failed += cmocka_run_group_tests_name("db", common, NULL, NULL);
    failed += run_backend("db/sqlite", setup_sqlite, sqlite_only, 2);
    if (pg_base_url() == NULL)
        printf("db/postgres: SHOPD_TEST_PG_URL not set, PostgreSQL cases skipped\n");
    failed += run_backend("db/postgres", setup_pg, pg_only, 1);
    return failed != 0;
}
