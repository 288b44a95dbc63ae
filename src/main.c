/*
 * main.c - the command line: serve, migrate, createsuperuser, version.
 *
 * serve blocks SIGINT and SIGTERM before any thread starts, so every thread
 * inherits the mask and the main thread alone receives them through sigwait:
 * the shutdown sequence then runs as ordinary code, not in a handler.
 */
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api/api.h"
#include "api/campus/campus.h"
#include "core/core.h"
#include "core/job.h"
#include "core/password.h"
#include "core/user.h"
#include "db/db.h"
#include "http/server.h"
#include "util/arena.h"
#include "util/config.h"
#include "util/log.h"
#include "util/time.h"

#ifndef SHOPD_VERSION
#define SHOPD_VERSION "dev"
#endif

#define DRAIN_SECONDS 20

static void usage(FILE *out)
{
    fprintf(out,
            "usage: shopd <command> [options]\n"
            "\n"
            "Commands:\n"
            "  serve                 migrate, then serve HTTP until SIGTERM/SIGINT\n"
            "  migrate               apply pending migrations and exit\n"
            "  createsuperuser --username U --email E --password P\n"
            "                        create an admin account\n"
            "  user create --json '{...}'\n"
            "                        create a university user (student or staff; see\n"
            "                        docs/surfaces/campus.md for the object)\n"
            "  worker                run only the background jobs (email) until SIGTERM\n"
            "  version               print the version\n"
            "  help                  this text\n"
            "\n");
    config_print_help(out);
}

/* Loads configuration, logging, the password rules and the database; then
 * applies pending migrations. Every command that touches data starts here. */
static bool start(struct config *cfg)
{
    if (!config_load(cfg, stderr))
        return false;
    log_set_level((enum log_level)log_level_parse(cfg->log_level));
    if (password_init(cfg->common_passwords, cfg->argon2_memory_kib, cfg->argon2_iterations) != 0)
        return false;
    db_set_url(cfg->database_url);
    struct db *db = db_thread();
    if (db == NULL) {
        log_error("cannot open the database %s", cfg->database_url);
        return false;
    }
    int applied = 0;
    if (db_migrate(db, &applied) != DB_OK) {
        log_error("migrations failed");
        return false;
    }
    if (applied > 0)
        log_info("applied %d migration%s", applied, applied == 1 ? "" : "s");
    return true;
}

static void finish(struct config *cfg)
{
    db_close_all();
    password_shutdown();
    config_free(cfg);
}

static int cmd_migrate(void)
{
    struct config cfg;
    bool ok = start(&cfg);
    if (ok)
        printf("database is up to date\n");
    finish(&cfg);
    return ok ? 0 : 1;
}

static void block_stop_signals(sigset_t *sigs)
{
    sigemptyset(sigs);
    sigaddset(sigs, SIGINT);
    sigaddset(sigs, SIGTERM);
    pthread_sigmask(SIG_BLOCK, sigs, NULL);
    signal(SIGPIPE, SIG_IGN);
}

static int cmd_serve(void)
{
    sigset_t sigs;
    block_stop_signals(&sigs);

    struct config cfg;
    if (!start(&cfg)) {
        finish(&cfg);
        return 1;
    }
    if (!job_runner_start(&cfg)) {
        finish(&cfg);
        return 1;
    }
    if (!http_server_start(&cfg, api_surfaces, api_n_surfaces)) {
        job_runner_stop();
        finish(&cfg);
        return 1;
    }
    int sig = 0;
    sigwait(&sigs, &sig);
    log_info("received %s: draining", sig == SIGINT ? "SIGINT" : "SIGTERM");
    http_server_stop(DRAIN_SECONDS);
    job_runner_stop();
    finish(&cfg);
    log_info("stopped");
    return 0;
}

/* For deployments with several server processes: one or more processes run
 * the outbox, claiming jobs so that none runs twice. */
static int cmd_worker(void)
{
    sigset_t sigs;
    block_stop_signals(&sigs);
    struct config cfg;
    if (!start(&cfg) || !job_runner_start(&cfg)) {
        finish(&cfg);
        return 1;
    }
    log_info("worker running");
    int sig = 0;
    sigwait(&sigs, &sig);
    job_runner_stop();
    finish(&cfg);
    return 0;
}

/* A context for commands that change data outside a request. */
static struct ctx cli_ctx(struct config *cfg, struct arena *a)
{
    struct ctx ctx = {.db = db_thread(), .arena = a, .cfg = cfg};
    ctx.now_us = time_now_us();
    ctx.now = ctx.now_us / 1000000;
    return ctx;
}

static void print_errors(const struct errors *err)
{
    for (const struct field_error *fe = err->head; fe; fe = fe->next)
        fprintf(stderr, "shopd: %s: %s\n", fe->field, fe->message);
}

static int cmd_user(int argc, char **argv)
{
    if (argc != 4 || strcmp(argv[1], "create") != 0 || strcmp(argv[2], "--json") != 0) {
        fprintf(stderr, "usage: shopd user create --json '{...}'\n");
        return 2;
    }
    struct config cfg;
    if (!start(&cfg)) {
        finish(&cfg);
        return 1;
    }
    struct arena *a = arena_create();
    struct ctx ctx = cli_ctx(&cfg, a);
    struct errors err;
    errors_init(&err, a);
    int64_t id = 0;
    int rc = campus_provision_user(&ctx, argv[3], &err, &id);
    if (rc == SHOP_OK)
        printf("User created successfully (id %lld).\n", (long long)id);
    else if (rc == SHOP_EDB)
        fprintf(stderr, "shopd: the database failed; see the log\n");
    print_errors(&err);
    arena_destroy(a);
    finish(&cfg);
    return rc == SHOP_OK ? 0 : 1;
}

static int cmd_createsuperuser(int argc, char **argv)
{
    static const struct option opts[] = {
        {"username", required_argument, NULL, 'u'},
        {"email", required_argument, NULL, 'e'},
        {"password", required_argument, NULL, 'p'},
        {NULL, 0, NULL, 0},
    };
    const char *username = NULL, *email = NULL, *password = NULL;
    int c;
    optind = 1;
    while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
        switch (c) {
        case 'u':
            username = optarg;
            break;
        case 'e':
            email = optarg;
            break;
        case 'p':
            password = optarg;
            break;
        default:
            fprintf(stderr, "usage: shopd createsuperuser --username U --email E --password P\n");
            return 2;
        }
    }
    if (!username || !email || !password || !*username || !*email) {
        fprintf(stderr, "usage: shopd createsuperuser --username U --email E --password P\n");
        return 2;
    }
    struct config cfg;
    if (!start(&cfg)) {
        finish(&cfg);
        return 1;
    }
    struct arena *a = arena_create();
    struct ctx ctx = cli_ctx(&cfg, a);
    struct errors err;
    errors_init(&err, a);
    struct user_new in = {
        .username = username,
        .email = email,
        .password = password,
        .user_type = "admin",
        .is_staff = true,
        .is_superuser = true,
        .email_verified = true,
    };
    struct user u;
    int rc = user_create(&ctx, &in, &err, &u);
    if (rc == SHOP_OK)
        printf("Superuser created successfully (id %lld).\n", (long long)u.id);
    else if (rc == SHOP_EDB)
        fprintf(stderr, "shopd: the database failed; see the log\n");
    print_errors(&err);
    arena_destroy(a);
    finish(&cfg);
    return rc == SHOP_OK ? 0 : 1;
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        usage(stderr);
        return 2;
    }
    const char *cmd = argv[1];
    if (strcmp(cmd, "serve") == 0)
        return cmd_serve();
    if (strcmp(cmd, "migrate") == 0)
        return cmd_migrate();
    if (strcmp(cmd, "createsuperuser") == 0)
        return cmd_createsuperuser(argc - 1, argv + 1);
    if (strcmp(cmd, "user") == 0)
        return cmd_user(argc - 1, argv + 1);
    if (strcmp(cmd, "worker") == 0)
        return cmd_worker();
    if (strcmp(cmd, "version") == 0 || strcmp(cmd, "--version") == 0) {
        printf("shopd %s\n", SHOPD_VERSION);
        return 0;
    }
    if (strcmp(cmd, "help") == 0 || strcmp(cmd, "--help") == 0 || strcmp(cmd, "-h") == 0) {
        usage(stdout);
        return 0;
    }
    if (strcmp(cmd, "config-markdown") == 0) {
        config_print_markdown(stdout);
        return 0;
    }
    fprintf(stderr, "shopd: unknown command \"%s\"\n\n", cmd);
    usage(stderr);
    return 2;
}
