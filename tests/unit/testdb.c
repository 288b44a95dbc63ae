/*
 * testdb.c - see testdb.h. Uses cmocka's assertions: a fixture that cannot
 * build its database fails the case.
 */
#define _XOPEN_SOURCE_EXTENDED 1
#include "testdb.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

const char *testdb_pg_url(void)
{
    const char *url = getenv("SHOPD_TEST_PG_URL");
    return url != NULL && url[0] != '\0' ? url : NULL;
}

/* Runs sql on the base database (schema creation and removal). */
static void pg_admin_exec(const char *sql)
{
    struct db *admin = db_open(testdb_pg_url());
    assert_non_null(admin);
    assert_int_equal(db_exec_script(admin, sql), DB_OK);
    db_close(admin);
}

static int remove_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)st, (void)flag, (void)ftw;
    return remove(path);
}

bool testdb_open(struct testdb *t, enum db_kind kind, const char *name)
{
    static int serial;
    memset(t, 0, sizeof(*t));
    if (kind == DB_POSTGRES && testdb_pg_url() == NULL)
        return false;
    t->kind = kind;
    snprintf(t->dir, sizeof(t->dir), "/tmp/shopd-test-%s-XXXXXX", name);
    assert_non_null(mkdtemp(t->dir));
    if (kind == DB_SQLITE) {
        snprintf(t->url, sizeof(t->url), "sqlite://%s/test.db", t->dir);
    } else {
        snprintf(t->schema, sizeof(t->schema), "shopd_%s_%d_%d", name, (int)getpid(), ++serial);
        char sql[256];
        snprintf(sql, sizeof(sql), "DROP SCHEMA IF EXISTS %s CASCADE; CREATE SCHEMA %s",
                 t->schema, t->schema);
        pg_admin_exec(sql);
        const char *base = testdb_pg_url();
        /* public second, as in a real database: where 0004 installs pg_trgm */
        snprintf(t->url, sizeof(t->url), "%s%coptions=-csearch_path%%3D%s%%2Cpublic", base,
                 strchr(base, '?') != NULL ? '&' : '?', t->schema);
    }
    t->db = db_open(t->url);
    assert_non_null(t->db);
    assert_int_equal(db_migrate(t->db, NULL), DB_OK);
    return true;
}

void testdb_close(struct testdb *t)
{
    db_close(t->db);
    t->db = NULL;
    nftw(t->dir, remove_entry, 16, FTW_DEPTH | FTW_PHYS);
    if (t->kind == DB_POSTGRES) {
        char sql[256];
        snprintf(sql, sizeof(sql), "DROP SCHEMA IF EXISTS %s CASCADE", t->schema);
        pg_admin_exec(sql);
    }
}
