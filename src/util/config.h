/*
 * config.h - the process configuration, read once at start from the
 * environment through one table (config.c) that also drives `shopd --help`
 * and docs/configuration.md. After config_load the struct is read-only and
 * shared by every thread.
 */
#ifndef SHOPD_UTIL_CONFIG_H
#define SHOPD_UTIL_CONFIG_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

struct config {
    char *database_url;
    char *listen;        /* address:port */
    char *secret_key;    /* resolved: from the environment or var/secret_key */
    char *public_url;    /* no trailing slash */
    char *frontend_url;  /* no trailing slash */
    char *mail_url;
    char *mail_from;
    char *invoice_company_name;    /* the seller block of PDF invoices */
    char *invoice_company_address;
    char *invoice_company_email;
    char *invoice_company_gstin;
    char *media_dir;
    char *cors_origins;  /* comma-separated; empty: CORS off */
    char *stripe_webhook_secret;
    char *payment_webhook_secret;
    char *log_level;
    int64_t access_token_lifetime;
    int64_t refresh_token_lifetime;
    int64_t threads;
    int64_t hash_threads;
    int64_t argon2_memory_kib;
    int64_t argon2_iterations;
    int64_t connection_timeout;
    int64_t max_body_bytes;
    int64_t max_upload_bytes;
    char *rate_limits;   /* overrides of the rate-limit rules */
    char *common_passwords; /* colon-separated list of word list files */
    char *var_dir;
};

/* Reads every variable; on a bad value prints why to err and returns false. */
bool config_load(struct config *cfg, FILE *err);
/* Releases the strings; wipes the secrets first. */
void config_free(struct config *cfg);
/* One line per variable: name, default, meaning. */
void config_print_help(FILE *out);
/* The Markdown table of docs/configuration.md. */
void config_print_markdown(FILE *out);

#endif
