/*
 * main.c - the command line: serve, migrate, createsuperuser, user, worker,
 * import-products, seed-demo, version.
 *
 * serve blocks SIGINT and SIGTERM before any thread starts, so every thread
 * inherits the mask and the main thread alone receives them through sigwait:
 * the shutdown sequence then runs as ordinary code, not in a handler.
 */
#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <sodium.h>

#include "api/api.h"
#include "api/campus/campus.h"
#include "core/catalog.h"
#include "core/core.h"
#include "core/import.h"
#include "core/job.h"
#include "core/search.h"
#include "core/media.h"
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
            "  import-products FILE [--dry-run]\n"
            "                        create products from a CSV or .xlsx file (columns name,\n"
            "                        description, category_id, inventory, price_weights; see\n"
            "                        docs/import.md); --dry-run only validates\n"
            "  seed-demo [--images DIR]\n"
            "                        load the demo catalogue and demo users (again: adds\n"
            "                        only what is missing)\n"
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
    /* Search records are written in batches off the request path. */
    if (!search_records_start(&cfg)) {
        job_runner_stop();
        finish(&cfg);
        return 1;
    }
    if (!http_server_start(&cfg, api_surfaces, api_n_surfaces)) {
        search_records_stop();
        job_runner_stop();
        finish(&cfg);
        return 1;
    }
    int sig = 0;
    sigwait(&sigs, &sig);
    log_info("received %s: draining", sig == SIGINT ? "SIGINT" : "SIGTERM");
    http_server_stop(DRAIN_SECONDS);
    search_records_stop();
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

/* ---- import-products ---- */

/* The whole file in a heap buffer ("-": standard input). NULL with errno. */
static char *read_whole_file(const char *path, size_t *len)
{
    FILE *f = strcmp(path, "-") == 0 ? stdin : fopen(path, "rb");
    if (f == NULL)
        return NULL;
    size_t cap = 1 << 16, n = 0;
    char *data = xmalloc(cap);
    for (;;) {
        if (n == cap) {
            cap *= 2;
            data = xrealloc(data, cap);
        }
        size_t got = fread(data + n, 1, cap - n, f);
        n += got;
        if (got == 0)
            break;
    }
    int failed = ferror(f) ? (errno ? errno : EIO) : 0;
    if (f != stdin)
        fclose(f);
    if (failed) {
        free(data);
        errno = failed;
        return NULL;
    }
    *len = n;
    return data;
}

struct progress_bar {
    int shown_pct; /* -1: nothing drawn yet */
};

#define PROGRESS_CELLS 30

/* "[#########.....................]  31% 31000/100000 rows", redrawn in
 * place; only when stderr is a terminal (see cmd_import_products). */
static void progress_draw(void *arg, int64_t done, int64_t total)
{
    struct progress_bar *bar = arg;
    if (total <= 0)
        return;
    int pct = (int)(done * 100 / total);
    if (pct == bar->shown_pct && done != total)
        return;
    bar->shown_pct = pct;
    char cells[PROGRESS_CELLS + 1];
    int filled = (int)(done * PROGRESS_CELLS / total);
    for (int i = 0; i < PROGRESS_CELLS; i++)
        cells[i] = i < filled ? '#' : '.';
    cells[PROGRESS_CELLS] = '\0';
    fprintf(stderr, "\r[%s] %3d%% %lld/%lld rows", cells, pct, (long long)done,
            (long long)total);
    fflush(stderr);
}

#define IMPORT_ERRORS_SHOWN 50

static int cmd_import_products(int argc, char **argv)
{
    static const struct option opts[] = {
        {"dry-run", no_argument, NULL, 'n'},
        {NULL, 0, NULL, 0},
    };
    static const char usage_line[] = "usage: shopd import-products FILE [--dry-run]\n";
    bool dry_run = false;
    int c;
    optind = 1;
    while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
        if (c != 'n') {
            fputs(usage_line, stderr);
            return 2;
        }
        dry_run = true;
    }
    if (argc - optind != 1) {
        fputs(usage_line, stderr);
        return 2;
    }
    const char *path = argv[optind];
    size_t len = 0;
    char *data = read_whole_file(path, &len);
    if (data == NULL) {
        fprintf(stderr, "shopd: cannot read %s: %s\n", path, strerror(errno));
        return 1;
    }
    struct config cfg;
    if (!start(&cfg)) {
        free(data);
        finish(&cfg);
        return 1;
    }
    struct arena *a = arena_create();
    struct ctx ctx = cli_ctx(&cfg, a);
    struct progress_bar bar = {.shown_pct = -1};
    bool on_terminal = isatty(STDERR_FILENO) == 1;
    struct import_report rep;
    int rc = import_products(&ctx, data, len, dry_run, on_terminal ? progress_draw : NULL, &bar,
                             &rep);
    if (bar.shown_pct >= 0)
        fputc('\n', stderr);
    free(data);
    int64_t failed = rep.rows - rep.valid;
    int status = 1;
    if (rc == SHOP_EINVAL) {
        fprintf(stderr, "shopd: %s: %s\n", path,
                rep.n_errors > 0 ? rep.errors[0].message : "the file cannot be imported");
    } else if (rc != SHOP_OK) {
        fprintf(stderr, "shopd: the database failed; nothing was imported (see the log)\n");
    } else {
        if (dry_run)
            printf("Validated %lld row%s: %lld valid, %lld with errors\n", (long long)rep.rows,
                   rep.rows == 1 ? "" : "s", (long long)rep.valid, (long long)failed);
        else
            printf("Imported %lld product%s (%lld row%s with errors)\n", (long long)rep.created,
                   rep.created == 1 ? "" : "s", (long long)failed, failed == 1 ? "" : "s");
        fflush(stdout);
        for (size_t i = 0; i < rep.n_errors && i < IMPORT_ERRORS_SHOWN; i++)
            fprintf(stderr, "row %lld: %s\n", (long long)rep.errors[i].row, rep.errors[i].message);
        if (rep.n_errors > IMPORT_ERRORS_SHOWN)
            fprintf(stderr, "... and %zu more\n", rep.n_errors - IMPORT_ERRORS_SHOWN);
        status = failed == 0 ? 0 : 1;
    }
    arena_destroy(a);
    finish(&cfg);
    return status;
}

/* ---- seed-demo ---- */

struct demo_variant {
    int64_t price_minor;
    const char *weight;
    int64_t inventory;
};

struct demo_category {
    const char *name;
    const char *description;
    const char *tags[4];
    const char *image; /* a file of the demo images directory */
};

struct demo_product {
    int category; /* index into demo_categories */
    const char *name;
    const char *description;
    const char *tags[4];
    const char *image;
    struct demo_variant variants[3];
};

/* Display orders 1..4 follow the table's order. */
static const struct demo_category demo_categories[] = {
    {"Coffee & Tea", "Whole beans, loose-leaf teas and blends, roasted and packed to order.",
     {"coffee", "tea", "beverages"}, "category-coffee-tea.png"},
    {"Spices & Herbs", "Whole and ground spices from single estates.",
     {"spices", "herbs", "cooking"}, "category-spices-herbs.png"},
    {"Nuts & Dried Fruit", "Roasted nuts and sun-dried fruit for snacking and baking.",
     {"nuts", "snacks", "dried fruit"}, "category-nuts-dried-fruit.png"},
    {"Baking", "Flours, cocoa and vanilla for the home baker.", {"baking", "flour", "cocoa"},
     "category-baking.png"},
};

static const struct demo_product demo_products[] = {
    {0, "Single-Origin Arabica Beans", "Medium roast with notes of cocoa and red fruit.",
     {"coffee", "arabica", "whole bean"}, "product-arabica-beans.png",
     {{1250, "250gms", 40}, {2300, "500gms", 25}, {4400, "1kg", 10}}},
    {0, "Darjeeling First Flush Tea", "Light, floral spring harvest from the Himalayan foothills.",
     {"tea", "black tea", "darjeeling"}, "product-darjeeling-tea.png",
     {{975, "100gms", 30}, {2150, "250gms", 0}}},
    {0, "Masala Chai Blend", "Assam tea with cardamom, ginger, cinnamon and clove.",
     {"tea", "chai", "spiced"}, "product-masala-chai.png", {{720, "200gms", 50}}},
    {1, "Kashmiri Saffron", "Hand-picked deep red stigmas with a honeyed aroma.",
     {"saffron", "spices"}, "product-saffron.png", {{890, "1gm", 20}, {1650, "2gms", 12}}},
    {1, "Ceylon Cinnamon Sticks", "True cinnamon quills, sweet and delicate.",
     {"cinnamon", "spices", "whole"}, "product-cinnamon.png",
     {{425, "50gms", 60}, {780, "100gms", 35}}},
    {1, "Smoked Paprika", "Oak-smoked sweet peppers, finely ground.", {"paprika", "spices", "smoked"},
     "product-paprika.png", {{395, "75gms", 80}}},
    {2, "Roasted Almonds", "Dry-roasted and lightly salted California almonds.",
     {"almonds", "nuts", "snacks"}, "product-almonds.png",
     {{640, "250gms", 45}, {1190, "500gms", 30}, {2200, "1kg", 0}}},
    {2, "Medjool Dates", "Soft, caramel-sweet dates from the Jordan valley.",
     {"dates", "dried fruit"}, "product-dates.png", {{980, "500gms", 25}, {1850, "1kg", 15}}},
    {2, "Cashew Halves", "Creamy cashew halves, unsalted.", {"cashews", "nuts"},
     "product-cashews.png", {{560, "200gms", 70}}},
    {3, "Stone-Ground Whole Wheat Flour", "Milled slowly to keep the germ and the flavour.",
     {"flour", "wheat", "baking"}, "product-wheat-flour.png",
     {{280, "1kg", 100}, {1250, "5kg", 20}}},
    {3, "Madagascar Vanilla Pods", "Plump bourbon vanilla pods, grade A.",
     {"vanilla", "baking"}, "product-vanilla.png", {{750, "10gms", 40}}},
    {3, "Dark Cocoa Powder", "Dutch-processed cocoa for brownies and hot chocolate.",
     {"cocoa", "chocolate", "baking"}, "product-cocoa.png",
     {{520, "250gms", 55}, {960, "500gms", 30}}},
};

#define DEMO_N_CATEGORIES (sizeof(demo_categories) / sizeof(demo_categories[0]))
#define DEMO_N_PRODUCTS (sizeof(demo_products) / sizeof(demo_products[0]))

static size_t count_tags(const char *const tags[4])
{
    size_t n = 0;
    while (n < 4 && tags[n] != NULL)
        n++;
    return n;
}

/* Where the demo images are: --images, else data/demo under the working
 * directory (`make run`), else next to the executable (<dir>/../data/demo
 * for a build directory inside the source tree, <prefix>/share/shopd/demo
 * when installed). NULL when none is found. */
static char *demo_images_dir(struct arena *a, const char *given)
{
    if (given != NULL)
        return arena_strdup(a, given);
    if (access("data/demo/category-baking.png", R_OK) == 0)
        return arena_strdup(a, "data/demo");
    char exe[PATH_MAX];
    ssize_t n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
    if (n <= 0)
        return NULL;
    exe[n] = '\0';
    char *slash = strrchr(exe, '/');
    if (slash == NULL)
        return NULL;
    *slash = '\0';
    static const char *const rel[] = {"../data/demo", "../share/shopd/demo"};
    for (size_t i = 0; i < sizeof(rel) / sizeof(rel[0]); i++) {
        char *dir = arena_sprintf(a, "%s/%s", exe, rel[i]);
        if (access(arena_sprintf(a, "%s/category-baking.png", dir), R_OK) == 0)
            return dir;
    }
    return NULL;
}

/* Stores one demo image; NULL (and a warning) when it cannot. */
static const char *demo_store_image(struct ctx *ctx, const char *dir, const char *file,
                                    const char *folder, int *rc)
{
    *rc = SHOP_OK;
    if (dir == NULL)
        return NULL;
    const char *path = arena_sprintf(ctx->arena, "%s/%s", dir, file);
    size_t len = 0;
    char *data = read_whole_file(path, &len);
    if (data == NULL) {
        fprintf(stderr, "shopd: warning: cannot read %s: %s\n", path, strerror(errno));
        return NULL;
    }
    struct errors err;
    errors_init(&err, ctx->arena);
    const char *stored = NULL;
    *rc = media_store_image(ctx, folder, data, len, "image", &err, &stored);
    free(data);
    if (*rc == SHOP_EINVAL) {
        fprintf(stderr, "shopd: warning: %s is not a usable image\n", path);
        *rc = SHOP_OK;
        return NULL;
    }
    return *rc == SHOP_OK ? stored : NULL;
}

struct demo_seed {
    struct ctx *ctx;
    const char *images; /* NULL: no images */
    int64_t category_ids[DEMO_N_CATEGORIES];
    const char *stored[DEMO_N_CATEGORIES + DEMO_N_PRODUCTS]; /* to remove on failure */
    size_t n_stored;
    int new_categories, new_products;
};

static int seed_categories(struct demo_seed *s)
{
    struct ctx *ctx = s->ctx;
    struct category_list all;
    int rc = catalog_category_list(ctx, CATEGORY_BY_ID, false, 0, 0, &all);
    if (rc != SHOP_OK)
        return rc;
    int free_orders[CATALOG_DISPLAY_SLOTS];
    size_t n_free = 0;
    if ((rc = catalog_display_orders_free(ctx, free_orders, &n_free)) != SHOP_OK)
        return rc;
    for (size_t i = 0; i < DEMO_N_CATEGORIES; i++) {
        const struct demo_category *dc = &demo_categories[i];
        s->category_ids[i] = 0;
        for (size_t k = 0; k < all.n; k++)
            if (strcasecmp(all.items[k].name, dc->name) == 0)
                s->category_ids[i] = all.items[k].id;
        if (s->category_ids[i] != 0)
            continue;
        const char *image = demo_store_image(ctx, s->images, dc->image, "categories", &rc);
        if (rc != SHOP_OK)
            return rc;
        if (image != NULL)
            s->stored[s->n_stored++] = image;
        /* The demo's slot 1..4 only when no category holds it already. */
        int order = (int)i + 1;
        bool slot_free = false;
        for (size_t k = 0; k < n_free; k++)
            slot_free |= free_orders[k] == order;
        struct category_input in = {
            .name = dc->name,
            .description = dc->description,
            .tags = (const char **)dc->tags,
            .n_tags = (ssize_t)count_tags(dc->tags),
            .image = image,
            .has_display_order = slot_free,
            .display_order = order,
        };
        struct errors err;
        errors_init(&err, ctx->arena);
        struct category made;
        rc = catalog_category_create(ctx, &in, &err, &made);
        if (rc != SHOP_OK) {
            fprintf(stderr, "shopd: cannot create the category \"%s\"\n", dc->name);
            print_errors(&err);
            return rc;
        }
        s->category_ids[i] = made.id;
        s->new_categories++;
        printf("Created category \"%s\" (category_id %s)\n", made.name, made.category_id);
    }
    return SHOP_OK;
}

/* Whether the category already shows a product of that name (the demo's own
 * products live in the demo's categories; one moved elsewhere is caught by
 * catalog_product_create's name check). */
static int demo_product_present(struct ctx *ctx, int64_t category_id, const char *name,
                                bool *present)
{
    struct product_list list;
    *present = false;
    int rc = catalog_category_products(ctx, category_id, CATALOG_PAGE_SIZE_MAX, &list);
    for (size_t k = 0; rc == SHOP_OK && k < list.n; k++)
        *present |= strcasecmp(list.items[k].name, name) == 0;
    return rc;
}

static int seed_products(struct demo_seed *s)
{
    struct ctx *ctx = s->ctx;
    for (size_t i = 0; i < DEMO_N_PRODUCTS; i++) {
        const struct demo_product *dp = &demo_products[i];
        bool present = false;
        int rc = demo_product_present(ctx, s->category_ids[dp->category], dp->name, &present);
        if (rc != SHOP_OK)
            return rc;
        if (present)
            continue;
        const char *image = demo_store_image(ctx, s->images, dp->image, "products", &rc);
        if (rc != SHOP_OK)
            return rc;
        struct variant_input variants[3];
        size_t n_variants = 0;
        for (; n_variants < 3 && dp->variants[n_variants].weight != NULL; n_variants++)
            variants[n_variants] = (struct variant_input){dp->variants[n_variants].price_minor,
                                                          dp->variants[n_variants].weight,
                                                          dp->variants[n_variants].inventory};
        const char *urls[1] = {image != NULL ? media_url(ctx, image) : NULL};
        struct product_input in = {
            .name = dp->name,
            .description = dp->description,
            .has_category = true,
            .category_id = s->category_ids[dp->category],
            .tags = (const char **)dp->tags,
            .n_tags = (ssize_t)count_tags(dp->tags),
            .image_urls = urls,
            .n_image_urls = image != NULL ? 1 : 0,
            .has_image = image != NULL,
            .image = image,
            .variants = variants,
            .n_variants = (ssize_t)n_variants,
        };
        struct errors err;
        errors_init(&err, ctx->arena);
        struct product made;
        rc = catalog_product_create(ctx, &in, &err, &made);
        if (rc == SHOP_ECONFLICT && errors_has(&err, "name")) {
            if (image != NULL)
                media_remove(ctx, image); /* the product exists elsewhere: keep it as it is */
            continue;
        }
        if (image != NULL)
            s->stored[s->n_stored++] = image;
        if (rc != SHOP_OK) {
            fprintf(stderr, "shopd: cannot create the product \"%s\"\n", dp->name);
            print_errors(&err);
            return rc;
        }
        s->new_products++;
        printf("Created product \"%s\" (%zu variant%s)\n", made.name, made.n_variants,
               made.n_variants == 1 ? "" : "s");
    }
    return SHOP_OK;
}

/* A password for a demo account: 20 characters from an alphabet without
 * look-alikes, in groups of five ("k7Qmz-9RtwA-..."). */
static void demo_password(char out[24])
{
    static const char alphabet[] = "abcdefghijkmnopqrstuvwxyzABCDEFGHJKLMNPQRSTUVWXYZ23456789";
    size_t n = 0;
    for (int i = 0; i < 20; i++) {
        if (i > 0 && i % 5 == 0)
            out[n++] = '-';
        out[n++] = alphabet[randombytes_uniform((uint32_t)(sizeof(alphabet) - 1))];
    }
    out[n] = '\0';
}

struct demo_user {
    const char *email;
    const char *username;
    const char *first_name;
    const char *user_type;
    bool is_admin;
};

static const struct demo_user demo_users[] = {
    {"admin@shopd.local", "demo-admin", "Demo Admin", "admin", true},
    {"customer@shopd.local", "demo-customer", "Demo Customer", "customer", false},
};

/* Creates each demo account whose email nobody has; prints its password,
 * which exists nowhere else. */
static int seed_users(struct ctx *ctx)
{
    for (size_t i = 0; i < sizeof(demo_users) / sizeof(demo_users[0]); i++) {
        const struct demo_user *du = &demo_users[i];
        struct user u;
        int rc = user_get_by_email(ctx, du->email, &u);
        if (rc == SHOP_OK)
            continue;
        if (rc != SHOP_ENOTFOUND)
            return rc;
        char password[24];
        demo_password(password);
        struct user_new in = {
            .username = du->username,
            .email = du->email,
            .password = password,
            .first_name = du->first_name,
            .last_name = "",
            .user_type = du->user_type,
            .is_staff = du->is_admin,
            .is_superuser = du->is_admin,
            .email_verified = true,
        };
        struct errors err;
        errors_init(&err, ctx->arena);
        rc = user_create(ctx, &in, &err, &u);
        if (rc != SHOP_OK) {
            fprintf(stderr, "shopd: cannot create the demo user %s\n", du->email);
            print_errors(&err);
            sodium_memzero(password, sizeof(password));
            return rc;
        }
        printf("Created demo %s: %s  password: %s\n", du->is_admin ? "admin" : "customer",
               du->email, password);
        sodium_memzero(password, sizeof(password));
    }
    return SHOP_OK;
}

static int cmd_seed_demo(int argc, char **argv)
{
    static const struct option opts[] = {
        {"images", required_argument, NULL, 'i'},
        {NULL, 0, NULL, 0},
    };
    const char *images = NULL;
    int c;
    optind = 1;
    while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
        if (c != 'i') {
            fprintf(stderr, "usage: shopd seed-demo [--images DIR]\n");
            return 2;
        }
        images = optarg;
    }
    if (optind != argc) {
        fprintf(stderr, "usage: shopd seed-demo [--images DIR]\n");
        return 2;
    }
    if (images != NULL && access(images, R_OK | X_OK) != 0) {
        fprintf(stderr, "shopd: cannot read the images directory %s: %s\n", images,
                strerror(errno));
        return 1;
    }
    struct config cfg;
    if (!start(&cfg)) {
        finish(&cfg);
        return 1;
    }
    struct arena *a = arena_create();
    struct ctx ctx = cli_ctx(&cfg, a);
    struct demo_seed s = {.ctx = &ctx, .images = demo_images_dir(a, images)};
    if (s.images == NULL)
        fprintf(stderr, "shopd: warning: the demo images (data/demo) were not found; use "
                        "--images DIR. The catalogue is created without images.\n");
    /* One transaction for the catalogue: a failure leaves nothing half made
     * (and removes the images stored for it). */
    bool own = false;
    int rc = core_tx_begin(&ctx, &own);
    if (rc == SHOP_OK) {
        rc = seed_categories(&s);
        if (rc == SHOP_OK)
            rc = seed_products(&s);
        rc = core_tx_end(&ctx, own, rc);
    }
    if (rc != SHOP_OK)
        for (size_t i = 0; i < s.n_stored; i++)
            media_remove(&ctx, s.stored[i]);
    if (rc == SHOP_OK) {
        if (s.new_categories == 0 && s.new_products == 0)
            printf("The demo catalogue is already there (%zu categories, %zu products); "
                   "nothing added.\n", DEMO_N_CATEGORIES, DEMO_N_PRODUCTS);
        else
            printf("Demo catalogue: %d categor%s and %d product%s added.\n", s.new_categories,
                   s.new_categories == 1 ? "y" : "ies", s.new_products,
                   s.new_products == 1 ? "" : "s");
        rc = seed_users(&ctx);
    }
    if (rc == SHOP_EDB)
        fprintf(stderr, "shopd: the database failed; see the log\n");
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
    if (strcmp(cmd, "import-products") == 0)
        return cmd_import_products(argc - 1, argv + 1);
    if (strcmp(cmd, "seed-demo") == 0)
        return cmd_seed_demo(argc - 1, argv + 1);
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
