/*
 * testdb.h - a fresh, migrated database for one unit-test case: SQLite in a
 * new temporary directory, or PostgreSQL in a new schema of the database at
 * SHOPD_TEST_PG_URL (cases skip themselves when it is unset). The directory
 * exists for both (tests keep media files there).
 */
#ifndef SHOPD_TESTS_UNIT_TESTDB_H
#define SHOPD_TESTS_UNIT_TESTDB_H

#include <stdbool.h>

#include "db/db.h"

struct testdb {
    enum db_kind kind;
    char dir[256];   /* temporary directory: the SQLite file, media */
    char schema[64]; /* PostgreSQL: this case's schema */
    char url[1024];  /* what db_open was given: a second connection may use it */
    struct db *db;
};

/* SHOPD_TEST_PG_URL, or NULL when unset. */
const char *testdb_pg_url(void);
/* Opens and migrates a fresh database; name goes into the directory and
 * schema names. false (nothing opened) for PostgreSQL without a URL. */
bool testdb_open(struct testdb *t, enum db_kind kind, const char *name);
/* Closes it and removes the directory, or drops the schema. */
void testdb_close(struct testdb *t);

#endif
