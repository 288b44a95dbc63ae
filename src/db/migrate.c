/*
 * migrate.c - applies the migrations embedded from src/db/migrations/ and
 * records them in schema_migrations.
 *
 * Each migration runs in its own transaction that first takes a database-wide
 * lock, then checks whether the migration is recorded, and applies and
 * records it only if not. Two processes migrating at once therefore serialise
 * on the lock, and the second finds the first one's record. The lock is
 * SQLite's write lock (BEGIN IMMEDIATE) or a transaction-scoped PostgreSQL
 * advisory lock, released by COMMIT or ROLLBACK either way.
 */
#include <time.h>

#include "db/backend.h"
#include "util/log.h"
#include "util/time.h"

/* A lock attempt fails after SQLite's busy timeout (5 s); a long migration in
 * another process may hold the lock for more than that. */
#define BUSY_ATTEMPTS 24

static const char create_table_sql[] =
    "CREATE TABLE IF NOT EXISTS schema_migrations ("
    "version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at BIGINT NOT NULL)";

/* pg_advisory_xact_lock key: "shopd" in ASCII, so other tools are unlikely to
 * pick the same one. */
static const char pg_lock_sql[] = "SELECT pg_advisory_xact_lock(495891034212)";

static int lock(struct db *db)
{
    int rc;

    if (db_kind(db) == DB_SQLITE)
        return db_begin_write(db);
    rc = db_begin(db);
    if (rc != DB_OK)
        return rc;
    return db_exec(db, pg_lock_sql, DB_NO_PARAMS, NULL);
}

/* Applies m unless already recorded; *is_applied says whether this call did. */
static int apply_one(struct db *db, const struct db_migration *m, bool *is_applied)
{
    int64_t recorded = 0;
    int rc;

    *is_applied = false;
    rc = lock(db);
    if (rc != DB_OK)
        goto out;
    rc = db_exec_script(db, create_table_sql);
    if (rc != DB_OK)
        goto out;
    rc = db_query_int(db, "SELECT count(*) FROM schema_migrations WHERE version = ?",
                      DB_PARAMS(DB_INT(m->version)), &recorded);
    if (rc != DB_ROW)
        goto out;
    if (recorded == 0) {
        rc = db_exec_script(db, m->sql);
        if (rc != DB_OK) {
            log_error("db: migration %04d_%s failed: %s", m->version, m->name, db_errmsg(db));
            goto out;
        }
        rc = db_exec(db,
                     "INSERT INTO schema_migrations (version, name, applied_at) VALUES (?, ?, ?)",
                     DB_PARAMS(DB_INT(m->version), DB_TEXT(m->name), DB_INT(time_now())), NULL);
        if (rc != DB_OK)
            goto out;
    }
    rc = db_commit(db);
    if (rc == DB_OK && recorded == 0)
        *is_applied = true;
out:
    if (rc != DB_OK)
        db_rollback(db);
    return rc;
}

static void warn_if_newer(struct db *db, int newest_known)
{
    int64_t newest = 0;

    if (db_query_int(db, "SELECT max(version) FROM schema_migrations", DB_NO_PARAMS, &newest) ==
            DB_ROW &&
        newest > newest_known)
        log_warn("db: the database has migration %lld, newer than this binary knows (%d)",
                 (long long)newest, newest_known);
}

int db_migrate(struct db *db, int *applied)
{
    const struct db_migration *list;
    size_t count;
    int rc = DB_OK;

    if (applied != NULL)
        *applied = 0;
    if (db == NULL) {
        log_error("db: db_migrate without a connection");
        return DB_ERR;
    }
    if (db_in_transaction(db))
        return db_fail(db, DB_ERR, NULL, "db_migrate: a transaction is already open");
    if (db_kind(db) == DB_SQLITE) {
        list = db_migrations_sqlite;
        count = db_migrations_sqlite_count;
    } else {
        list = db_migrations_pg;
        count = db_migrations_pg_count;
    }

    for (size_t i = 0; i < count; i++) {
        const struct db_migration *m = &list[i];
        bool is_applied = false;

        for (int attempt = 1;; attempt++) {
            rc = apply_one(db, m, &is_applied);
            if (rc != DB_EBUSY || attempt == BUSY_ATTEMPTS)
                break;
            log_info("db: migration lock busy, retrying (%d/%d)", attempt, BUSY_ATTEMPTS);
            nanosleep(&(struct timespec){.tv_nsec = 50 * 1000 * 1000}, NULL);
        }
        if (rc != DB_OK)
            return rc;
        if (is_applied) {
            log_info("db: applied migration %04d_%s", m->version, m->name);
            if (applied != NULL)
                (*applied)++;
        }
    }
    if (count > 0)
        warn_if_newer(db, list[count - 1].version);
    return DB_OK;
}
