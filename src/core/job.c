/*
 * job.c - see job.h. The outbox table and its one runner thread.
 *
 * A job row moves: due (run_at <= now, unlocked) -> claimed (locked_until =
 * now + JOB_LOCK_SECONDS, attempts + 1, committed) -> run outside any
 * transaction -> done_at, or back to due later (run_at pushed out by the
 * back-off), or failed_at (after JOB_MAX_ATTEMPTS, or at once for a kind
 * nobody handles or a payload that can never work). Rows are never deleted
 * here: a failed email stays in the table, with its last error, for an
 * operator to look at.
 *
 * The lock is a lease: a runner that dies mid-job (process killed) leaves
 * the row locked, and another runner takes it once the lease has expired.
 * Delivery is therefore at-least-once; a crash between sending and marking
 * done can send twice, never zero times.
 *
 * Claiming: SQLite takes the database write lock (BEGIN IMMEDIATE), so the
 * select-then-update pair is atomic across processes; PostgreSQL locks the
 * row with FOR UPDATE SKIP LOCKED, so runners in several processes claim
 * different rows without waiting for each other. Before claiming, a plain
 * read of the next due time keeps an idle runner from taking the write lock
 * every second.
 *
 * Threads: job_enqueue runs on request threads and only touches the mutex
 * (job_runner_wake); everything else runs on the runner thread, with its own
 * connection (db_thread) and its own arena, reset after every job.
 */
#include "core/job.h"

#include <errno.h>
#include <pthread.h>
#include <stdint.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include <curl/curl.h>
#include <json-c/json.h>

#include "core/core.h"
#include "core/mail.h"
#include "core/order_mail.h"
#include "db/db.h"
#include "util/arena.h"
#include "util/config.h"
#include "util/log.h"
#include "util/time.h"

#define JOB_LOCK_SECONDS 300
#define JOB_FIRST_RETRY 5      /* seconds; doubles per attempt */
#define JOB_MAX_RETRY 3600     /* seconds between two attempts at most */
#define IDLE_WAIT_US 1000000   /* longest sleep when nothing is due */
#define MIN_WAIT_US 10000      /* shortest sleep: never spin */
#define EAGER_US 2000000       /* after a wake-up, look again often for this long ... */
#define EAGER_POLL_US 25000    /* ... at this interval */
#define MAX_ERROR_LEN 500      /* of last_error and of the logged reason */
#define FINISH_TRIES 3

/* mail_run_job's "never retry" code (see mail.c). */
#define RUN_PERMANENT (-2)

/* What runs each kind. label: the payload member that names the target in
 * log lines ("mail to a@b.c: sent"); bodies and tokens are never logged. */
static const struct handler {
    const char *kind;
    int (*run)(struct arena *a, const struct config *cfg, const char *payload,
               const char **error);
    const char *label;
} handlers[] = {
    {"mail", mail_run_job, "to"},
    {"order_mail", order_mail_run_job, "order"},
};

struct job {
    int64_t id;
    const char *kind;
    const char *payload;
    int64_t attempts; /* including the one now being made */
};

static struct {
    pthread_mutex_t lock;
    pthread_cond_t cond; /* CLOCK_MONOTONIC; initialised by the first start */
    pthread_t thread;
    bool is_running;  /* a thread was started and not yet joined */
    bool is_stopping;
    bool is_woken;    /* a wake-up arrived since the runner last looked */
    const struct config *cfg;
} runner = {.lock = PTHREAD_MUTEX_INITIALIZER};

static pthread_once_t init_once = PTHREAD_ONCE_INIT;
static bool curl_ready;

/* ---- enqueueing ---- */

int job_enqueue(struct ctx *ctx, const char *kind, const char *payload_json)
{
    int64_t now = ctx->now > 0 ? ctx->now : time_now();
    int rc = db_exec(ctx->db,
                     "INSERT INTO jobs (kind, payload, attempts, run_at, created_at) "
                     "VALUES (?, ?, 0, ?, ?)",
                     DB_PARAMS(DB_TEXT(kind), DB_TEXT(payload_json), DB_INT(now), DB_INT(now)),
                     NULL);
    if (rc != DB_OK)
        return SHOP_EDB;
    /* Harmless before a commit or after a rollback: the runner finds nothing
     * (yet), and keeps looking every EAGER_POLL_US for a while. */
    job_runner_wake();
    return SHOP_OK;
}

void job_runner_wake(void)
{
    pthread_mutex_lock(&runner.lock);
    if (runner.is_running) {
        runner.is_woken = true;
        pthread_cond_signal(&runner.cond);
    }
    pthread_mutex_unlock(&runner.lock);
}

/* ---- one job ---- */

static int64_t backoff_seconds(int64_t attempts)
{
    int64_t s = JOB_FIRST_RETRY;
    for (int64_t i = 1; i < attempts && s < JOB_MAX_RETRY; i++)
        s *= 2;
    return s < JOB_MAX_RETRY ? s : JOB_MAX_RETRY;
}

static const struct handler *handler_for(const char *kind)
{
    for (size_t i = 0; i < sizeof(handlers) / sizeof(handlers[0]); i++) {
        if (strcmp(handlers[i].kind, kind) == 0)
            return &handlers[i];
    }
    return NULL;
}

/* s cut to MAX_ERROR_LEN bytes and to one line, for the log and last_error. */
static char *one_line(struct arena *a, const char *s)
{
    const char *text = s != NULL ? s : "unknown error";
    size_t n = strnlen(text, MAX_ERROR_LEN);
    /* Cut between characters: PostgreSQL refuses broken UTF-8. */
    while (n > 0 && text[n] != '\0' && ((unsigned char)text[n] & 0xc0) == 0x80)
        n--;
    char *out = arena_strndup(a, text, n);
    for (char *p = out; *p != '\0'; p++) {
        if ((unsigned char)*p < 0x20 || *p == 0x7f)
            *p = ' ';
    }
    return out;
}

/* "mail to a@b.c" (kind and the handler's label member), for log lines. */
static const char *describe(struct arena *a, const struct job *j, const struct handler *h)
{
    const char *what = arena_sprintf(a, "%s job %lld", one_line(a, j->kind), (long long)j->id);
    if (h == NULL || h->label == NULL)
        return what;
    struct json_object *o = json_tokener_parse(j->payload);
    struct json_object *v;
    if (o != NULL && json_object_object_get_ex(o, h->label, &v) &&
        json_object_is_type(v, json_type_string))
        what = arena_sprintf(a, "%s %s %s", h->kind, h->label,
                             one_line(a, json_object_get_string(v)));
    json_object_put(o);
    return what;
}

/* Runs one of the outcome UPDATEs, retrying a busy database a little: a
 * row left locked would only be retried after the lease expires. */
static bool finish_exec(struct db *db, const char *sql, const struct db_param *params,
                        size_t n)
{
    for (int i = 0; i < FINISH_TRIES; i++) {
        if (db_exec(db, sql, params, n, NULL) == DB_OK)
            return true;
        struct timespec pause = {0, 200 * 1000 * 1000};
        nanosleep(&pause, NULL);
    }
    return false;
}

static void wipe_text(void *data)
{
    char *s = data;
    secure_wipe(s, strlen(s));
}

/* The time from which the next job can be claimed: the earliest run_at of
 * the pending rows not under a lease, or the end of a lease still running.
 * false when there is none (or a query failed). Two index reads (jobs_due in
 * order, stopping at the first row not leased; jobs_leases, which holds only
 * the rows being run), so the cost does not grow with the backlog. */
static bool next_due(struct db *db, int64_t now, int64_t *due)
{
    int64_t free_at = 0, lease_end = 0;
    int rc = db_query_int(db,
                          "SELECT run_at FROM jobs WHERE done_at IS NULL AND failed_at IS NULL "
                          "AND (locked_until IS NULL OR locked_until < ?) ORDER BY run_at LIMIT 1",
                          DB_PARAMS(DB_INT(now)), &free_at);
    if (rc != DB_ROW && rc != DB_DONE)
        return false;
    if (rc == DB_DONE)
        free_at = 0;
    rc = db_query_int(db,
                      "SELECT MIN(CASE WHEN locked_until >= run_at THEN locked_until + 1 "
                      "ELSE run_at END) FROM jobs WHERE locked_until IS NOT NULL "
                      "AND locked_until >= ? AND done_at IS NULL AND failed_at IS NULL",
                      DB_PARAMS(DB_INT(now)), &lease_end);
    if (rc != DB_ROW && rc != DB_DONE)
        return false;
    if (rc == DB_DONE)
        lease_end = 0;
    if (free_at > 0 && (lease_end <= 0 || free_at < lease_end))
        *due = free_at;
    else
        *due = lease_end;
    return *due > 0;
}

/* Claims the oldest due job into *j (strings in a). 1: claimed, 0: none,
 * -1: database error. */
static int claim(struct db *db, struct arena *a, int64_t now, struct job *j)
{
    static const char select_sqlite[] =
        "SELECT id, kind, payload, attempts FROM jobs "
        "WHERE done_at IS NULL AND failed_at IS NULL AND run_at <= ? "
        "AND (locked_until IS NULL OR locked_until < ?) ORDER BY run_at, id LIMIT 1";
    static const char select_pg[] =
        "SELECT id, kind, payload, attempts FROM jobs "
        "WHERE done_at IS NULL AND failed_at IS NULL AND run_at <= ? "
        "AND (locked_until IS NULL OR locked_until < ?) ORDER BY run_at, id LIMIT 1 "
        "FOR UPDATE SKIP LOCKED";
    struct db_res *res = NULL;
    int found = 0;

    if (db_begin_write(db) != DB_OK)
        return -1;
    int rc = db_query(db, db_kind(db) == DB_POSTGRES ? select_pg : select_sqlite,
                      DB_PARAMS(DB_INT(now), DB_INT(now)), &res);
    if (rc == DB_OK)
        rc = db_next(res);
    if (rc == DB_ROW) {
        j->id = db_col_int(res, 0);
        j->kind = arena_strdup(a, db_col_text(res, 1) ? db_col_text(res, 1) : "");
        j->payload = arena_strdup(a, db_col_text(res, 2) ? db_col_text(res, 2) : "");
        arena_cleanup_add(a, wipe_text, (void *)j->payload); /* tokens in links */
        j->attempts = db_col_int(res, 3) + 1;
        found = 1;
    }
    db_res_close(res);
    if (rc != DB_ROW && rc != DB_DONE)
        goto fail;
    if (found &&
        db_exec(db, "UPDATE jobs SET locked_until = ?, attempts = attempts + 1 WHERE id = ?",
                DB_PARAMS(DB_INT(now + JOB_LOCK_SECONDS), DB_INT(j->id)), NULL) != DB_OK)
        goto fail;
    if (db_commit(db) != DB_OK)
        return -1;
    return found;
fail:
    db_rollback(db);
    return -1;
}

/* Runs j and records the outcome. */
static void run_job(struct db *db, struct arena *a, const struct config *cfg,
                    const struct job *j)
{
    const struct handler *h = handler_for(j->kind);
    const char *what = describe(a, j, h);
    const char *error = NULL;
    int rc;

    if (h == NULL) {
        rc = RUN_PERMANENT;
        error = "unknown job kind";
    } else if (j->attempts > JOB_MAX_ATTEMPTS) {
        /* Every allowed attempt was claimed but never finished (the runner
         * died mid-job each time): do not try a job that may be the cause. */
        rc = RUN_PERMANENT;
        error = "abandoned: every attempt was interrupted";
    } else {
        rc = h->run(a, cfg, j->payload, &error);
    }
    int64_t now = time_now();

    if (rc == 0) {
        log_info("%s: sent", what);
        if (!finish_exec(db,
                         "UPDATE jobs SET done_at = ?, locked_until = NULL, last_error = NULL "
                         "WHERE id = ?",
                         DB_PARAMS(DB_INT(now), DB_INT(j->id))))
            log_error("job %lld: sent but not marked done (%s); it may be sent again",
                      (long long)j->id, db_errmsg(db));
        return;
    }

    const char *reason = one_line(a, error);
    bool is_final = rc == RUN_PERMANENT || j->attempts >= JOB_MAX_ATTEMPTS;
    bool recorded;
    if (is_final) {
        log_error("%s: attempt %lld failed: %s; giving up (the job is kept as failed)", what,
                  (long long)j->attempts, reason);
        recorded = finish_exec(db,
                               "UPDATE jobs SET failed_at = ?, last_error = ?, "
                               "locked_until = NULL WHERE id = ?",
                               DB_PARAMS(DB_INT(now), DB_TEXT(reason), DB_INT(j->id)));
    } else {
        int64_t delay = backoff_seconds(j->attempts);
        log_warn("%s: attempt %lld failed: %s, retry in %llds", what, (long long)j->attempts,
                 reason, (long long)delay);
        recorded = finish_exec(db,
                               "UPDATE jobs SET run_at = ?, last_error = ?, "
                               "locked_until = NULL WHERE id = ?",
                               DB_PARAMS(DB_INT(now + delay), DB_TEXT(reason), DB_INT(j->id)));
    }
    if (!recorded)
        log_error("job %lld: outcome not recorded (%s); retried when its lease expires",
                  (long long)j->id, db_errmsg(db));
}

/* ---- the runner thread ---- */

/* Sleeps up to wait_us, or until woken or stopped. */
static void idle(int64_t wait_us)
{
    struct timespec until;
    clock_gettime(CLOCK_MONOTONIC, &until);
    int64_t ns = until.tv_nsec + (wait_us % 1000000) * 1000;
    until.tv_sec += (time_t)(wait_us / 1000000 + ns / 1000000000);
    until.tv_nsec = (long)(ns % 1000000000);

    pthread_mutex_lock(&runner.lock);
    while (!runner.is_woken && !runner.is_stopping) {
        if (pthread_cond_timedwait(&runner.cond, &runner.lock, &until) == ETIMEDOUT)
            break;
    }
    pthread_mutex_unlock(&runner.lock);
}

/* *was_woken: a wake-up arrived since the last look. */
static bool should_stop(bool *was_woken)
{
    pthread_mutex_lock(&runner.lock);
    bool stop = runner.is_stopping;
    *was_woken = runner.is_woken;
    /* What is due is read after this point, so a wake-up that arrives
     * from now on concerns rows this look may miss: keep it. */
    runner.is_woken = false;
    pthread_mutex_unlock(&runner.lock);
    return stop;
}

/* One turn: claims and runs one due job (true), or computes how long to
 * sleep (false). */
static bool turn(struct arena *a, const struct config *cfg, int64_t *wait_us)
{
    struct db *db = db_thread();
    if (db == NULL)
        return false; /* logged by db_thread; try again after the idle wait */

    int64_t now = time_now();
    int64_t due = 0;
    if (!next_due(db, now, &due))
        return false;
    if (due > now) {
        int64_t us = due * 1000000 - time_now_us();
        *wait_us = us < MIN_WAIT_US ? MIN_WAIT_US : us > IDLE_WAIT_US ? IDLE_WAIT_US : us;
        return false;
    }
    struct job j;
    int rc = claim(db, a, now, &j);
    if (rc <= 0) {
        /* Another runner took it (0), or the database is busy (-1). */
        *wait_us = rc == 0 ? MIN_WAIT_US : IDLE_WAIT_US;
        return false;
    }
    run_job(db, a, cfg, &j);
    return true;
}

#define DONE_RETENTION (7 * 86400) /* delivered jobs are kept a week, for support */

/* Deletes delivered jobs older than the retention; failed ones stay for an
 * operator to look at. */
static void prune_done(void)
{
    struct db *db = db_thread();
    if (db != NULL)
        db_exec(db, "DELETE FROM jobs WHERE done_at IS NOT NULL AND done_at < ?",
                DB_PARAMS(DB_INT(time_now() - DONE_RETENTION)), NULL);
}

static void *runner_main(void *arg)
{
    const struct config *cfg = arg;
    struct arena *a = arena_create();
    int64_t eager_until = 0;
    int64_t next_prune = 0;
    bool was_woken;

    while (!should_stop(&was_woken)) {
        /* job_enqueue wakes the runner before the caller commits, so the
         * first look may not see the row yet: look again soon for a while,
         * instead of up to a whole idle wait later. */
        if (was_woken)
            eager_until = time_mono_us() + EAGER_US;
        if (time_mono_us() >= next_prune) {
            prune_done();
            next_prune = time_mono_us() + (int64_t)3600 * 1000000;
        }
        int64_t wait_us = IDLE_WAIT_US;
        bool did_work = turn(a, cfg, &wait_us);
        arena_reset(a);
        if (did_work)
            continue;
        if (time_mono_us() < eager_until && wait_us > EAGER_POLL_US)
            wait_us = EAGER_POLL_US;
        idle(wait_us);
    }
    arena_destroy(a);
    return NULL;
}

static void init_cond(void)
{
    pthread_condattr_t attr;
    pthread_condattr_init(&attr);
    pthread_condattr_setclock(&attr, CLOCK_MONOTONIC);
    pthread_cond_init(&runner.cond, &attr);
    pthread_condattr_destroy(&attr);
}

bool job_runner_start(const struct config *cfg)
{
    pthread_once(&init_once, init_cond);
    pthread_mutex_lock(&runner.lock);
    if (runner.is_running) {
        pthread_mutex_unlock(&runner.lock);
        return true;
    }
    if (!curl_ready) {
        /* Before the thread exists: curl_global_init is not safe to race. */
        CURLcode cc = curl_global_init(CURL_GLOBAL_DEFAULT);
        if (cc != CURLE_OK) {
            pthread_mutex_unlock(&runner.lock);
            log_error("jobs: curl_global_init failed: %s", curl_easy_strerror(cc));
            return false;
        }
        curl_ready = true;
    }
    runner.cfg = cfg;
    runner.is_stopping = false;
    runner.is_woken = true; /* look at once: jobs may be waiting from before */
    int rc = pthread_create(&runner.thread, NULL, runner_main, (void *)cfg);
    runner.is_running = rc == 0;
    pthread_mutex_unlock(&runner.lock);
    if (rc != 0) {
        log_error("jobs: cannot start the runner thread: %s", strerror(rc));
        return false;
    }
    /* The scheme only: the URL may carry an SMTP password. */
    const char *url = cfg->mail_url != NULL ? cfg->mail_url : "";
    int scheme_n = (int)strcspn(url, ":");
    log_info("jobs: runner started (mail via %.*s)", scheme_n, url);
    if (strncasecmp(url, "file://", 7) != 0 && strncasecmp(url, "smtp://", 7) != 0 &&
        strncasecmp(url, "smtps://", 8) != 0)
        log_error("jobs: SHOPD_MAIL_URL scheme '%.*s' is not file://, smtp:// or smtps://: "
                  "emails stay queued until it is fixed",
                  scheme_n, url);
    return true;
}

void job_runner_stop(void)
{
    pthread_mutex_lock(&runner.lock);
    if (!runner.is_running || runner.is_stopping) {
        pthread_mutex_unlock(&runner.lock);
        return;
    }
    runner.is_stopping = true;
    pthread_cond_signal(&runner.cond);
    pthread_t thread = runner.thread;
    pthread_mutex_unlock(&runner.lock);

    mail_cancel_deliveries(); /* a hung SMTP server must not hold shutdown */
    pthread_join(thread, NULL);
    mail_resume_deliveries();

    pthread_mutex_lock(&runner.lock);
    runner.is_running = false;
    runner.is_stopping = false;
    runner.cfg = NULL;
    pthread_mutex_unlock(&runner.lock);
}
