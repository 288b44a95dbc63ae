/*
 * pg.c - the PostgreSQL backend of db.h (libpq, synchronous calls).
 *
 * Statements: the '?' placeholders of the shared SQL are rewritten to
 * $1..$n, the statement is prepared once per connection under a generated
 * name ("s1", "s2", ...) kept in the connection's cache (db.c), and run with
 * PQexecPrepared; SQL the cache has no room for runs once with PQexecParams.
 * Every parameter travels as text and the server infers its type from the
 * statement, as for a literal: where nothing gives it one (SELECT ? IS NULL)
 * the SQL must say CAST(? AS ...). Results come back in text format, whole;
 * db_next walks the rows of the PGresult.
 *
 * Broken connections: before each call, a connection libpq reports as
 * CONNECTION_BAD is reset (PQreset) once; the new session has none of the
 * old prepared statements, so the cache is emptied. Inside a transaction the
 * connection is not reset: the server has rolled the transaction back, and
 * carrying on in a new session would run the rest of it outside any
 * transaction. Calls fail until the caller rolls back. A statement that fails
 * because the connection broke is never retried: it may have run.
 */
#include <inttypes.h>
#include <libpq-fe.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "db/backend.h"
#include "util/arena.h"
#include "util/log.h"

/* Parameter scratch larger than this (a bulk insert) is not kept. */
#define SCRATCH_KEEP (1u << 20)
#define MAX_PARAMS 65535 /* the protocol's limit */

struct pg {
    struct db base;
    PGconn *conn;
    unsigned last_name; /* statements are named "s<n>" */
    bool is_tx_open;    /* db_begin succeeded, no commit/rollback since */
    bool is_forgetting; /* emptying the cache of a dead session */
    char *scratch;      /* NUL-terminated copies of the parameters */
    size_t scratch_cap;
    const char **values;
    size_t values_cap;
};

struct pg_stmt {
    char name[16];
    int nparams;
};

struct pg_res {
    struct db_res base;
    PGresult *r;
    int row;
    int nrows;
};

static const struct db_ops pg_ops;

static struct pg *pg_of(struct db *db)
{
    return (struct pg *)db;
}

static int map_sqlstate(const char *state)
{
    if (state == NULL)
        return DB_ERR;
    if (strncmp(state, "23", 2) == 0)
        return DB_ECONSTRAINT;
    if (strcmp(state, "40001") == 0 || strcmp(state, "40P01") == 0 || strcmp(state, "55P03") == 0)
        return DB_EBUSY;
    return DB_ERR;
}

/* Records the failure of r (which may be NULL when libpq could not even
 * build a result) and returns its status. Does not clear r. The message is
 * built from the fields, as PQresultErrorMessage spreads over lines. */
static int result_fail(struct pg *pg, const PGresult *r, const char *sql)
{
    const char *state = NULL, *primary = NULL, *detail = NULL, *pos = NULL;

    if (r != NULL && PQresultStatus(r) == PGRES_EMPTY_QUERY)
        return db_fail(&pg->base, DB_ERR, sql, "no SQL statement given");
    if (r != NULL) {
        state = PQresultErrorField(r, PG_DIAG_SQLSTATE);
        primary = PQresultErrorField(r, PG_DIAG_MESSAGE_PRIMARY);
        detail = PQresultErrorField(r, PG_DIAG_MESSAGE_DETAIL);
        pos = PQresultErrorField(r, PG_DIAG_STATEMENT_POSITION);
    }
    if (primary == NULL) /* connection-level failure: no fields */
        return db_fail(&pg->base, DB_ERR, sql, "%s", PQerrorMessage(pg->conn));
    return db_fail(&pg->base, map_sqlstate(state), sql, "%s %s%s%s%s%s%s",
                   state != NULL ? state : "?", primary, detail != NULL ? "; " : "",
                   detail != NULL ? detail : "", pos != NULL ? " (at character " : "",
                   pos != NULL ? pos : "", pos != NULL ? ")" : "");
}

static bool is_ok(const PGresult *r)
{
    if (r == NULL)
        return false;
    ExecStatusType st = PQresultStatus(r);
    return st == PGRES_COMMAND_OK || st == PGRES_TUPLES_OK;
}

static void notice_to_log(void *arg, const char *message)
{
    size_t n = strlen(message);

    while (n > 0 && message[n - 1] == '\n')
        n--;
    log_warn("postgres: %.*s", (int)n, message);
}

/* Session settings, on connect and after every reset. */
static int setup_session(struct pg *pg)
{
    PGresult *r = PQexec(pg->conn, "SET client_min_messages TO warning");
    int rc = is_ok(r) ? DB_OK : result_fail(pg, r, "SET client_min_messages TO warning");

    PQclear(r);
    return rc;
}

/* Called before every statement: see the file comment. */
static int ready(struct pg *pg, const char *sql)
{
    if (PQstatus(pg->conn) == CONNECTION_OK)
        return DB_OK;
    if (pg->is_tx_open)
        return db_fail(&pg->base, DB_ERR, sql,
                       "connection lost inside a transaction (roll it back): %s",
                       PQerrorMessage(pg->conn));
    log_warn("postgres: connection lost, reconnecting");
    PQreset(pg->conn);
    pg->is_forgetting = true;
    db_cache_clear(&pg->base);
    pg->is_forgetting = false;
    if (PQstatus(pg->conn) != CONNECTION_OK)
        return db_fail(&pg->base, DB_ERR, sql, "reconnect failed: %s", PQerrorMessage(pg->conn));
    return setup_session(pg);
}

/* ---- placeholders ---- */

static bool is_ident_char(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' ||
           (unsigned char)c >= 0x80;
}

/* Length of the dollar-quote opener ($$ or $tag$) at s, 0 when there is none
 * ($1 is a parameter, not a quote). */
static size_t dollar_tag_len(const char *s)
{
    size_t i = 1;

    if (s[1] >= '0' && s[1] <= '9')
        return 0;
    while (is_ident_char(s[i]))
        i++;
    return s[i] == '$' ? i + 1 : 0;
}

/* How many bytes at sql[i] belong to a quoted literal, quoted identifier or
 * comment (copied as they are); 0 when sql[i] starts none of those. An
 * unterminated one runs to the end of the text. */
static size_t skip_quoted(const char *sql, size_t i, size_t len)
{
    const char *s = sql + i;
    size_t j;

    if (s[0] == '\'') {
        /* E'...' takes backslash escapes; '' is a quote in either kind. */
        bool is_escaped =
            i > 0 && (s[-1] == 'E' || s[-1] == 'e') && (i < 2 || !is_ident_char(s[-2]));
        for (j = 1; i + j < len; j++) {
            if (is_escaped && s[j] == '\\' && i + j + 1 < len)
                j++;
            else if (s[j] == '\'' && s[j + 1] == '\'')
                j++;
            else if (s[j] == '\'')
                return j + 1;
        }
        return len - i;
    }
    if (s[0] == '"') {
        const char *end = strchr(s + 1, '"');
        return end != NULL ? (size_t)(end - s) + 1 : len - i;
    }
    if (s[0] == '-' && s[1] == '-') {
        const char *end = strchr(s, '\n');
        return end != NULL ? (size_t)(end - s) + 1 : len - i;
    }
    if (s[0] == '/' && s[1] == '*') {
        int depth = 1;
        for (j = 2; i + j < len; j++) {
            if (s[j] == '/' && s[j + 1] == '*') {
                depth++;
                j++;
            } else if (s[j] == '*' && s[j + 1] == '/') {
                j++;
                if (--depth == 0)
                    return j + 1;
            }
        }
        return len - i;
    }
    if (s[0] == '$' && (i == 0 || !is_ident_char(s[-1]))) {
        size_t tag = dollar_tag_len(s);
        if (tag == 0)
            return 0;
        for (j = tag; i + j + tag <= len; j++) {
            if (memcmp(s + j, s, tag) == 0)
                return j + tag;
        }
        return len - i;
    }
    return 0;
}

char *db_pg_rewrite(const char *sql, int *count)
{
    size_t len = strlen(sql), nq = 0, o = 0;
    char *out;

    for (size_t i = 0; i < len;) {
        size_t skip = skip_quoted(sql, i, len);
        if (skip > 0) {
            i += skip;
            continue;
        }
        if (sql[i++] == '?')
            nq++;
    }
    if (nq > MAX_PARAMS)
        return NULL;

    /* "$65535" is six bytes where '?' was one. */
    out = xmalloc(len + nq * 5 + 1);
    nq = 0;
    for (size_t i = 0; i < len;) {
        size_t skip = skip_quoted(sql, i, len);
        if (skip > 0) {
            memcpy(out + o, sql + i, skip);
            o += skip;
            i += skip;
        } else if (sql[i] == '?') {
            o += (size_t)sprintf(out + o, "$%zu", ++nq);
            i++;
        } else {
            out[o++] = sql[i++];
        }
    }
    out[o] = '\0';
    *count = (int)nq;
    return out;
}

/* ---- statements ---- */

/* The cached prepared statement for sql, prepared now if need be. Without a
 * cache slot (cache full, or the entry busy) *st is NULL and *once gets the
 * rewritten SQL, which the caller runs with PQexecParams (one round trip
 * instead of prepare + execute) and frees. *nparams: placeholders in sql. */
static int prepare(struct pg *pg, const char *sql, struct pg_stmt **st, char **once, int *nparams)
{
    struct db_cache_entry *e = db_cache_get(&pg->base, sql);
    char *text;
    int rc = DB_OK;
    PGresult *r;

    *st = NULL;
    *once = NULL;
    if (e != NULL && e->stmt != NULL) {
        *st = e->stmt;
        *nparams = (*st)->nparams;
        return DB_OK;
    }
    text = db_pg_rewrite(sql, nparams);
    if (text == NULL)
        return db_fail(&pg->base, DB_ERR, sql, "more than %d placeholders", MAX_PARAMS);
    if (e == NULL) {
        *once = text;
        return DB_OK;
    }

    struct pg_stmt *fresh = xmalloc(sizeof(*fresh));
    snprintf(fresh->name, sizeof(fresh->name), "s%u", ++pg->last_name);
    fresh->nparams = *nparams;
    r = PQprepare(pg->conn, fresh->name, text, *nparams, NULL);
    if (!is_ok(r)) {
        rc = result_fail(pg, r, sql);
        free(fresh);
    } else {
        e->stmt = fresh;
        *st = fresh;
    }
    PQclear(r);
    free(text);
    return rc;
}

/* Fills pg->values with NUL-terminated text for each parameter. Returns the
 * scratch bytes used (to be wiped), or SIZE_MAX after recording an error. */
static size_t build_params(struct pg *pg, const char *sql, const struct db_param *params, size_t n)
{
    size_t need = 0, used = 0;

    for (size_t i = 0; i < n; i++) {
        const struct db_param *p = &params[i];
        if (p->type == DB_T_TEXT && p->s != NULL) {
            if (memchr(p->s, '\0', p->n) != NULL) {
                db_fail(&pg->base, DB_ERR, sql,
                        "parameter %zu: text holds a NUL byte, which PostgreSQL text cannot",
                        i + 1);
                return SIZE_MAX;
            }
            need += p->n + 1;
        } else if (p->type == DB_T_INT) {
            need += 21; /* "-9223372036854775808" and its NUL */
        }
    }
    if (need > pg->scratch_cap) {
        free(pg->scratch);
        pg->scratch = xmalloc(need);
        pg->scratch_cap = need;
    }
    if (n > pg->values_cap) {
        free(pg->values);
        pg->values = xmalloc(n * sizeof(*pg->values));
        pg->values_cap = n;
    }
    /* The scratch is sized up front, so the pointers taken here stay valid. */
    for (size_t i = 0; i < n; i++) {
        const struct db_param *p = &params[i];
        char *dst = pg->scratch + used;
        if (p->type == DB_T_TEXT && p->s != NULL) {
            memcpy(dst, p->s, p->n);
            dst[p->n] = '\0';
            used += p->n + 1;
            pg->values[i] = dst;
        } else if (p->type == DB_T_INT) {
            used += (size_t)snprintf(dst, 21, "%" PRId64, p->i) + 1;
            pg->values[i] = dst;
        } else {
            pg->values[i] = NULL;
        }
    }
    return used;
}

/* Runs sql with params; on DB_OK *out holds a result with rows or a command
 * status, for the caller to PQclear. */
static int run(struct pg *pg, const char *sql, const struct db_param *params, size_t n,
               PGresult **out)
{
    struct pg_stmt *st;
    char *once = NULL;
    PGresult *r;
    size_t used;
    int nparams = 0, rc;

    *out = NULL;
    rc = ready(pg, sql);
    if (rc != DB_OK)
        return rc;
    rc = prepare(pg, sql, &st, &once, &nparams);
    if (rc != DB_OK)
        return rc;
    if ((size_t)nparams != n) {
        free(once);
        return db_fail(&pg->base, DB_ERR, sql,
                       "statement has %d placeholders, %zu parameters given", nparams, n);
    }
    used = build_params(pg, sql, params, n);
    if (used == SIZE_MAX) {
        free(once);
        return DB_ERR;
    }

    if (st != NULL)
        r = PQexecPrepared(pg->conn, st->name, (int)n, pg->values, NULL, NULL, 0);
    else
        r = PQexecParams(pg->conn, once, (int)n, NULL, pg->values, NULL, NULL, 0);
    free(once);

    /* Parameters carry passwords and tokens. */
    secure_wipe(pg->scratch, used);
    if (pg->scratch_cap > SCRATCH_KEEP) {
        free(pg->scratch);
        pg->scratch = NULL;
        pg->scratch_cap = 0;
    }
    if (!is_ok(r)) {
        rc = result_fail(pg, r, sql);
        PQclear(r);
        return rc;
    }
    *out = r;
    return DB_OK;
}

static int pg_exec(struct db *db, const char *sql, const struct db_param *params, size_t n,
                   int64_t *affected)
{
    PGresult *r;
    int rc = run(pg_of(db), sql, params, n, &r);

    if (rc == DB_OK && affected != NULL)
        *affected = strtoll(PQcmdTuples(r), NULL, 10); /* "" for DDL: 0 */
    PQclear(r);
    return rc;
}

static int pg_query(struct db *db, const char *sql, const struct db_param *params, size_t n,
                    struct db_res **res)
{
    PGresult *r;
    int rc = run(pg_of(db), sql, params, n, &r);

    if (rc != DB_OK)
        return rc;
    struct pg_res *pr = xcalloc(1, sizeof(*pr));
    pr->base.db = db;
    pr->r = r;
    pr->row = -1;
    pr->nrows = PQntuples(r);
    *res = &pr->base;
    return DB_OK;
}

static int pg_next(struct db_res *res)
{
    struct pg_res *pr = (struct pg_res *)res;

    if (pr->row + 1 < pr->nrows) {
        pr->row++;
        return DB_ROW;
    }
    pr->row = pr->nrows;
    return DB_DONE;
}

static void pg_res_close(struct db_res *res)
{
    struct pg_res *pr = (struct pg_res *)res;

    PQclear(pr->r);
    free(pr);
}

static int pg_ncols(struct db_res *res)
{
    return PQnfields(((struct pg_res *)res)->r);
}

static bool pg_col_is_null(struct db_res *res, int col)
{
    struct pg_res *pr = (struct pg_res *)res;
    return PQgetisnull(pr->r, pr->row, col);
}

static const char *pg_col_text(struct db_res *res, int col)
{
    struct pg_res *pr = (struct pg_res *)res;

    /* PQgetvalue gives "" for NULL; the interface says NULL. */
    if (PQgetisnull(pr->r, pr->row, col))
        return NULL;
    return PQgetvalue(pr->r, pr->row, col);
}

static int64_t pg_col_int(struct db_res *res, int col)
{
    const char *v = pg_col_text(res, col);

    if (v == NULL)
        return 0;
    /* boolean columns read as integers, as they do from SQLite */
    if (strcmp(v, "t") == 0)
        return 1;
    if (strcmp(v, "f") == 0)
        return 0;
    return strtoll(v, NULL, 10);
}

static size_t pg_col_len(struct db_res *res, int col)
{
    struct pg_res *pr = (struct pg_res *)res;
    return (size_t)PQgetlength(pr->r, pr->row, col);
}

/* Runs sql (one or several statements, no parameters) with the simple query
 * protocol. */
static int simple(struct pg *pg, const char *sql)
{
    PGresult *r;
    int rc = ready(pg, sql);

    if (rc != DB_OK)
        return rc;
    r = PQexec(pg->conn, sql);
    rc = is_ok(r) ? DB_OK : result_fail(pg, r, sql);
    PQclear(r);
    return rc;
}

static int pg_exec_script(struct db *db, const char *sql)
{
    return simple(pg_of(db), sql);
}

static bool pg_in_transaction(const struct db *db)
{
    const struct pg *pg = (const struct pg *)db;
    PGTransactionStatusType st;

    if (pg->is_tx_open)
        return true;
    st = PQtransactionStatus(pg->conn);
    return st == PQTRANS_INTRANS || st == PQTRANS_INERROR;
}

/* Row locks come from SELECT ... FOR UPDATE in the statements, so a write
 * transaction starts like any other. */
static int pg_begin(struct db *db, bool is_write)
{
    struct pg *pg = pg_of(db);
    int rc = simple(pg, "BEGIN");

    if (rc == DB_OK)
        pg->is_tx_open = true;
    return rc;
}

static int pg_rollback(struct db *db)
{
    struct pg *pg = pg_of(db);
    PGTransactionStatusType st;

    pg->is_tx_open = false;
    /* A dead session has no transaction left to roll back. */
    if (PQstatus(pg->conn) != CONNECTION_OK)
        return DB_OK;
    st = PQtransactionStatus(pg->conn);
    if (st != PQTRANS_INTRANS && st != PQTRANS_INERROR)
        return DB_OK;
    return simple(pg, "ROLLBACK");
}

static int pg_commit(struct db *db)
{
    struct pg *pg = pg_of(db);
    int rc;

    if (!pg_in_transaction(db))
        return db_fail(db, DB_ERR, "COMMIT", "no transaction is open");
    if (PQstatus(pg->conn) != CONNECTION_OK) {
        pg->is_tx_open = false;
        return db_fail(db, DB_ERR, "COMMIT", "connection lost; the transaction was not committed");
    }
    /* COMMIT of an aborted transaction "succeeds" as a ROLLBACK. */
    if (PQtransactionStatus(pg->conn) == PQTRANS_INERROR) {
        pg_rollback(db);
        return db_fail(db, DB_ERR, "COMMIT",
                       "the transaction was aborted by an earlier error and has been rolled back");
    }
    rc = simple(pg, "COMMIT");
    pg->is_tx_open = false;
    if (rc != DB_OK)
        pg_rollback(db);
    return rc;
}

static void pg_free_stmt(struct db *db, void *stmt)
{
    struct pg *pg = pg_of(db);
    struct pg_stmt *st = stmt;

    /* A re-filled cache entry: drop the server's copy. A dead or closing
     * session took its statements with it. */
    if (!pg->is_forgetting && pg->conn != NULL && PQstatus(pg->conn) == CONNECTION_OK) {
        char sql[32];
        snprintf(sql, sizeof(sql), "DEALLOCATE %s", st->name);
        PQclear(PQexec(pg->conn, sql));
    }
    free(st);
}

static void pg_close(struct db *db)
{
    struct pg *pg = pg_of(db);

    PQfinish(pg->conn);
    pg->conn = NULL;
    db_cache_clear(db);
    free(pg->scratch);
    free(pg->values);
    free(pg);
}

struct db *db_pg_open(const char *conninfo)
{
    struct pg *pg = xcalloc(1, sizeof(*pg));

    pg->base.ops = &pg_ops;
    pg->base.kind = DB_POSTGRES;
    pg->conn = PQconnectdb(conninfo);
    if (pg->conn == NULL) {
        log_error("postgres: out of memory connecting");
        goto fail;
    }
    if (PQstatus(pg->conn) != CONNECTION_OK) {
        db_fail(&pg->base, DB_ERR, NULL, "%s", PQerrorMessage(pg->conn));
        goto fail;
    }
    PQsetNoticeProcessor(pg->conn, notice_to_log, NULL);
    if (setup_session(pg) != DB_OK)
        goto fail;
    return &pg->base;

fail:
    PQfinish(pg->conn);
    free(pg);
    return NULL;
}

static const struct db_ops pg_ops = {
    .close = pg_close,
    .exec = pg_exec,
    .query = pg_query,
    .next = pg_next,
    .res_close = pg_res_close,
    .ncols = pg_ncols,
    .col_is_null = pg_col_is_null,
    .col_int = pg_col_int,
    .col_text = pg_col_text,
    .col_len = pg_col_len,
    .exec_script = pg_exec_script,
    .begin = pg_begin,
    .commit = pg_commit,
    .rollback = pg_rollback,
    .in_transaction = pg_in_transaction,
    .free_stmt = pg_free_stmt,
};
