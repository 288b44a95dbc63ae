/*
 * config.c - the configuration table. One row per environment variable:
 * name, type, default, bounds, meaning. config_load walks it; so do the help
 * text and the documentation table, so the three can never disagree.
 */
#include "util/config.h"

#include <errno.h>
#include <fcntl.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/rand.h>

#include "util/arena.h"
#include "util/log.h"
#include "util/str.h"

enum config_type { CONFIG_STRING, CONFIG_INT };

struct config_entry {
    const char *env;
    enum config_type type;
    size_t offset;
    const char *default_value; /* NULL: unset */
    int64_t min, max;
    const char *help;
};

#define STR_FIELD(f) CONFIG_STRING, offsetof(struct config, f)
#define INT_FIELD(f) CONFIG_INT, offsetof(struct config, f)

static const struct config_entry entries[] = {
    {"SHOPD_DATABASE_URL", STR_FIELD(database_url), "sqlite://var/shopd.db", 0, 0,
     "database: sqlite://relative/path.db, sqlite:///abs/path.db or "
     "postgres://user:pass@host:port/db"},
    {"SHOPD_LISTEN", STR_FIELD(listen), "127.0.0.1:8000", 0, 0, "address:port to serve HTTP on"},
    {"SHOPD_SECRET_KEY", STR_FIELD(secret_key), NULL, 0, 0,
     "signs tokens and links; generated once into <SHOPD_VAR_DIR>/secret_key when unset"},
    {"SHOPD_PUBLIC_URL", STR_FIELD(public_url), "http://127.0.0.1:8000", 0, 0,
     "base of absolute URLs (pagination next, media, downloads)"},
    {"SHOPD_FRONTEND_URL", STR_FIELD(frontend_url), "http://localhost:3000", 0, 0,
     "base of links in emails (/verify-email, /reset-password)"},
    {"SHOPD_MAIL_URL", STR_FIELD(mail_url), "file://var/mail", 0, 0,
     "smtp://[user:pass@]host:port (STARTTLS when offered; required before a password leaves "
     "this machine), smtps://user:pass@host:port (TLS), or file://DIR for one .eml per message"},
    {"SHOPD_MAIL_FROM", STR_FIELD(mail_from), "shopd <no-reply@localhost>", 0, 0,
     "sender of every email"},
    {"SHOPD_INVOICE_COMPANY_NAME", STR_FIELD(invoice_company_name), "shopd", 0, 0,
     "seller name printed on PDF invoices and signed under order emails"},
    {"SHOPD_INVOICE_COMPANY_ADDRESS", STR_FIELD(invoice_company_address), "", 0, 0,
     "seller address on PDF invoices (a newline starts a new line; long lines wrap)"},
    {"SHOPD_INVOICE_COMPANY_EMAIL", STR_FIELD(invoice_company_email), "", 0, 0,
     "contact email on PDF invoices; empty: none"},
    {"SHOPD_INVOICE_COMPANY_GSTIN", STR_FIELD(invoice_company_gstin), "", 0, 0,
     "seller GSTIN on PDF invoices; empty: none"},
    {"SHOPD_MEDIA_DIR", STR_FIELD(media_dir), "var/media", 0, 0,
     "uploaded files, served under /media/"},
    {"SHOPD_ACCESS_TOKEN_LIFETIME", INT_FIELD(access_token_lifetime), "900", 1, 31536000,
     "access token lifetime, seconds"},
    {"SHOPD_REFRESH_TOKEN_LIFETIME", INT_FIELD(refresh_token_lifetime), "86400", 1, 315360000,
     "refresh token lifetime, seconds"},
    {"SHOPD_STRIPE_WEBHOOK_SECRET", STR_FIELD(stripe_webhook_secret), NULL, 0, 0,
     "whsec_... secret for /api/v1/webhooks/stripe/"},
    {"SHOPD_PAYMENT_WEBHOOK_SECRET", STR_FIELD(payment_webhook_secret), NULL, 0, 0,
     "secret for /api/payments/webhook/"},
    {"SHOPD_THREADS", INT_FIELD(threads), NULL, 1, 256,
     "HTTP worker threads (default: number of cores)"},
    {"SHOPD_HASH_THREADS", INT_FIELD(hash_threads), "1", 1, 64,
     "threads that run password hashing, off the HTTP workers (each holds "
     "SHOPD_ARGON2_MEMORY_KIB while it hashes)"},
    {"SHOPD_ARGON2_MEMORY_KIB", INT_FIELD(argon2_memory_kib), "19456", 8, 4194304,
     "Argon2id memory cost in KiB (OWASP baseline: 19 MiB)"},
    {"SHOPD_ARGON2_ITERATIONS", INT_FIELD(argon2_iterations), "2", 1, 64,
     "Argon2id time cost (passes)"},
    {"SHOPD_CONNECTION_TIMEOUT", INT_FIELD(connection_timeout), "30", 0, 86400,
     "seconds an idle connection is kept open (0: no limit)"},
    {"SHOPD_MAX_BODY_BYTES", INT_FIELD(max_body_bytes), "1048576", 1024, 1073741824,
     "largest JSON or form request body; larger answers 413"},
    {"SHOPD_MAX_UPLOAD_BYTES", INT_FIELD(max_upload_bytes), "67108864", 1024, 1073741824,
     "largest multipart upload (images, bulk product files); larger answers 413"},
    {"SHOPD_RATE_LIMITS", STR_FIELD(rate_limits), "", 0, 0,
     "overrides of the rate-limit rules: name=count/seconds or name=off, comma-separated; "
     "* names every rule (see docs/rate-limits.md)"},
    {"SHOPD_CORS_ORIGINS", STR_FIELD(cors_origins), "", 0, 0,
     "comma-separated origins allowed by CORS; empty: CORS off"},
    {"SHOPD_COMMON_PASSWORDS", STR_FIELD(common_passwords),
     "/usr/share/john/password.lst:/usr/share/dict/cracklib-small", 0, 0,
     "colon-separated word lists of passwords refused as too common"},
    {"SHOPD_VAR_DIR", STR_FIELD(var_dir), "var", 0, 0,
     "directory for generated state (the secret key)"},
    {"SHOPD_LOG_LEVEL", STR_FIELD(log_level), "info", 0, 0, "debug, info, warn or error"},
};

#define N_ENTRIES (sizeof(entries) / sizeof(entries[0]))

static char **str_slot(struct config *cfg, const struct config_entry *e)
{
    return (char **)((char *)cfg + e->offset);
}

static int64_t *int_slot(struct config *cfg, const struct config_entry *e)
{
    return (int64_t *)((char *)cfg + e->offset);
}

static bool set_value(struct config *cfg, const struct config_entry *e, const char *value,
                      FILE *err)
{
    if (e->type == CONFIG_STRING) {
        *str_slot(cfg, e) = value ? xstrdup(value) : NULL;
        return true;
    }
    int64_t v;
    if (value == NULL) {
        *int_slot(cfg, e) = 0;
        return true;
    }
    if (!str_to_int64(str_trim(str_from(value)), &v) || v < e->min || v > e->max) {
        fprintf(err, "shopd: %s must be a whole number from %lld to %lld (got \"%s\")\n", e->env,
                (long long)e->min, (long long)e->max, value);
        return false;
    }
    *int_slot(cfg, e) = v;
    return true;
}

static void strip_trailing_slash(char *s)
{
    size_t n = s ? strlen(s) : 0;
    while (n > 0 && s[n - 1] == '/')
        s[--n] = '\0';
}

/* Reads <var>/secret_key, creating it with 48 random bytes (hex) when absent.
 * O_EXCL makes two processes starting at once agree on one key. */
static char *load_secret_key(const char *var_dir, FILE *err)
{
    char path[4096];
    snprintf(path, sizeof(path), "%s/secret_key", var_dir);
    if (mkdir(var_dir, 0700) != 0 && errno != EEXIST) {
        fprintf(err, "shopd: cannot create %s: %s\n", var_dir, strerror(errno));
        return NULL;
    }
    int fd = open(path, O_WRONLY | O_CREAT | O_EXCL, 0600);
    if (fd >= 0) {
        unsigned char raw[48];
        char hex[97];
        if (RAND_bytes(raw, sizeof(raw)) != 1) {
            close(fd);
            fprintf(err, "shopd: no randomness for the secret key\n");
            return NULL;
        }
        for (size_t i = 0; i < sizeof(raw); i++)
            snprintf(hex + 2 * i, 3, "%02x", raw[i]);
        ssize_t w = write(fd, hex, 96);
        close(fd);
        secure_wipe(raw, sizeof(raw));
        if (w != 96) {
            fprintf(err, "shopd: cannot write %s\n", path);
            return NULL;
        }
        char *key = xstrdup(hex);
        secure_wipe(hex, sizeof(hex));
        return key;
    }
    if (errno != EEXIST) {
        fprintf(err, "shopd: cannot create %s: %s\n", path, strerror(errno));
        return NULL;
    }
    char key[513];
    ssize_t n = 0;
    /* Another process may be between open and write: retry briefly. */
    for (int attempt = 0; attempt < 50; attempt++) {
        fd = open(path, O_RDONLY);
        if (fd < 0) {
            fprintf(err, "shopd: cannot read %s: %s\n", path, strerror(errno));
            return NULL;
        }
        n = read(fd, key, sizeof(key) - 1);
        close(fd);
        if (n > 0)
            break;
        usleep(10000);
    }
    if (n <= 0) {
        fprintf(err, "shopd: %s is empty\n", path);
        return NULL;
    }
    key[n] = '\0';
    struct str trimmed = str_trim(str_from(key));
    char *out = xmalloc(trimmed.n + 1);
    memcpy(out, trimmed.p, trimmed.n);
    out[trimmed.n] = '\0';
    secure_wipe(key, sizeof(key));
    return out;
}

bool config_load(struct config *cfg, FILE *err)
{
    memset(cfg, 0, sizeof(*cfg));
    for (size_t i = 0; i < N_ENTRIES; i++) {
        const char *value = getenv(entries[i].env);
        if (value == NULL || value[0] == '\0')
            value = entries[i].default_value;
        if (!set_value(cfg, &entries[i], value, err))
            return false;
    }
    if (cfg->threads == 0) {
        long cores = sysconf(_SC_NPROCESSORS_ONLN);
        cfg->threads = cores > 0 ? cores : 1;
    }
    if (log_level_parse(cfg->log_level) < 0) {
        fprintf(err, "shopd: SHOPD_LOG_LEVEL must be debug, info, warn or error (got \"%s\")\n",
                cfg->log_level);
        return false;
    }
    strip_trailing_slash(cfg->public_url);
    strip_trailing_slash(cfg->frontend_url);
    if (cfg->secret_key == NULL) {
        cfg->secret_key = load_secret_key(cfg->var_dir, err);
        if (cfg->secret_key == NULL)
            return false;
    }
    if (strlen(cfg->secret_key) < 16) {
        fprintf(err, "shopd: SHOPD_SECRET_KEY must be at least 16 characters\n");
        return false;
    }
    return true;
}

void config_free(struct config *cfg)
{
    for (size_t i = 0; i < N_ENTRIES; i++) {
        if (entries[i].type != CONFIG_STRING)
            continue;
        char **slot = str_slot(cfg, &entries[i]);
        if (*slot != NULL)
            secure_wipe(*slot, strlen(*slot));
        free(*slot);
        *slot = NULL;
    }
}

void config_print_help(FILE *out)
{
    fprintf(out, "Environment:\n");
    for (size_t i = 0; i < N_ENTRIES; i++)
        fprintf(out, "  %-30s %s (default: %s)\n", entries[i].env, entries[i].help,
                entries[i].default_value ? entries[i].default_value : "unset");
}

void config_print_markdown(FILE *out)
{
    fprintf(out, "| variable | default | meaning |\n|---|---|---|\n");
    for (size_t i = 0; i < N_ENTRIES; i++)
        fprintf(out, "| `%s` | %s%s%s | %s |\n", entries[i].env,
                entries[i].default_value ? "`" : "",
                entries[i].default_value ? entries[i].default_value : "unset",
                entries[i].default_value ? "`" : "", entries[i].help);
}
