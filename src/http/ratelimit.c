/*
 * ratelimit.c - the rate-limit rules of every surface, in one table, and the
 * middleware that applies them before a handler runs.
 *
 * A route names a rule group; every rule of the group applies and the
 * tightest decides. Keys: the client IP, the authenticated user (the IP when
 * anonymous), or a field of the body (lower-cased; the rule is skipped when
 * the field is absent). SHOPD_RATE_LIMITS overrides counts and windows:
 * "name=count/seconds,..." ("*" for every rule, "off" to disable one).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <json-c/json.h>

#include "core/ratelimit.h"
#include "http/internal.h"
#include "util/arena.h"
#include "util/config.h"
#include "util/log.h"

enum rl_key { RL_IP, RL_USER, RL_FIELD };

struct rl_rule {
    const char *group; /* the name routes refer to */
    const char *name;  /* unique; what SHOPD_RATE_LIMITS names */
    enum rl_key key;
    const char *field; /* RL_FIELD */
    int64_t count;
    int64_t window;
};

static struct rl_rule rules[] = {
    /* accounts (document 001, "Rate Limits") */
    {"accounts-login", "accounts-login", RL_IP, NULL, 5, 60},
    {"accounts-register", "accounts-register", RL_IP, NULL, 3, 3600},
    {"accounts-password-reset", "accounts-password-reset", RL_FIELD, "email", 3, 3600},
    /* one client cycling through addresses is bounded too */
    {"accounts-password-reset", "accounts-password-reset-ip", RL_IP, NULL, 10, 3600},
    {"accounts-profile", "accounts-profile", RL_USER, NULL, 10, 60},
    {"accounts-verify-resend", "accounts-verify-resend-email", RL_FIELD, "email", 3, 3600},
    {"accounts-verify-resend", "accounts-verify-resend-user", RL_USER, NULL, 10, 3600},
    /* shop (document 002) */
    {"shop-resend-verification", "shop-resend-email", RL_USER, NULL, 5, 86400},
    {"shop-resend-verification", "shop-resend-ip", RL_IP, NULL, 2, 60},
    {"shop-password-reset", "shop-password-reset", RL_IP, NULL, 2, 60},
    /* the confirm step counts apart: asking for a link must not spend it */
    {"shop-password-reset-confirm", "shop-password-reset-confirm", RL_IP, NULL, 2, 60},
    /* campus (document 004: "login attempts may be rate-limited"; as accounts) */
    {"campus-login", "campus-login", RL_IP, NULL, 5, 60},
    /* digital (document 000 is silent; verification emails cost and annoy) */
    {"digital-verification", "digital-verification-email", RL_FIELD, "email", 3, 3600},
    {"digital-verification", "digital-verification-user", RL_USER, NULL, 10, 3600},
};

#define N_RULES (sizeof(rules) / sizeof(rules[0]))

static void apply_override(const char *name, const char *value)
{
    bool off = strcmp(value, "off") == 0;
    long long count = 0, window = 0;
    if (!off && (sscanf(value, "%lld/%lld", &count, &window) != 2 || count < 1 || window < 1)) {
        log_warn("SHOPD_RATE_LIMITS: ignoring \"%s=%s\" (want count/seconds or off)", name,
                 value);
        return;
    }
    bool matched = false;
    for (size_t i = 0; i < N_RULES; i++) {
        if (strcmp(name, "*") != 0 && strcmp(name, rules[i].name) != 0)
            continue;
        matched = true;
        rules[i].count = off ? 0 : count;
        rules[i].window = off ? 0 : window;
    }
    if (!matched)
        log_warn("SHOPD_RATE_LIMITS: no rule named \"%s\"", name);
}

void ratelimit_configure(const char *overrides)
{
    if (overrides == NULL || *overrides == '\0')
        return;
    char *copy = xstrdup(overrides), *save = NULL;
    for (char *item = strtok_r(copy, ",", &save); item; item = strtok_r(NULL, ",", &save)) {
        char *eq = strchr(item, '=');
        if (eq == NULL) {
            log_warn("SHOPD_RATE_LIMITS: ignoring \"%s\"", item);
            continue;
        }
        *eq = '\0';
        apply_override(item, eq + 1);
    }
    free(copy);
}

/* The key a rule counts under for this request, or NULL to skip the rule. */
static const char *rule_key(struct http_exchange *ex, const struct rl_rule *r)
{
    struct http_request *req = &ex->req;
    const char *ip = http_client_ip(req);
    switch (r->key) {
    case RL_IP:
        return arena_sprintf(req->arena, "%s:ip:%s", r->name, ip);
    case RL_USER:
        if (req->ctx.user != NULL)
            return arena_sprintf(req->arena, "%s:user:%lld", r->name,
                                 (long long)req->ctx.user->id);
        return arena_sprintf(req->arena, "%s:ip:%s", r->name, ip);
    case RL_FIELD: {
        struct json_object *v = NULL;
        if (!json_object_object_get_ex(http_body(req), r->field, &v) ||
            !json_object_is_type(v, json_type_string))
            return NULL;
        /* The handlers trim and compare without case: so must the key, or
         * " a@b.c" would count apart from "a@b.c". */
        struct str value = str_trim(str_from(json_object_get_string(v)));
        if (value.n == 0)
            return NULL;
        return arena_sprintf(req->arena, "%s:%s:%s", r->name, r->field,
                             str_lower(req->arena, str_dup(req->arena, value)));
    }
    }
    return NULL;
}

bool ratelimit_check(struct http_exchange *ex)
{
    struct http_request *req = &ex->req;
    const char *group = req->route->ratelimit;
    ex->ratelimit_remaining = -1;
    if (group == NULL)
        return true;
    int64_t retry_after = 0;
    for (size_t i = 0; i < N_RULES; i++) {
        const struct rl_rule *r = &rules[i];
        if (strcmp(r->group, group) != 0 || r->count == 0)
            continue;
        const char *key = rule_key(ex, r);
        if (key == NULL)
            continue;
        int64_t count = 0, wait = 0;
        if (ratelimit_hit(&req->ctx, key, r->window, r->count, &count, &wait) != SHOP_OK) {
            /* Failing open would let a broken database disable the limits;
             * failing closed would lock everyone out. Answer 503. */
            http_reply_error(req, 503, "SERVICE_UNAVAILABLE", "Database unavailable.");
            return false;
        }
        int64_t remaining = r->count - count;
        if (ex->n_rl < RATELIMIT_MAX_RULES) {
            ex->rl_names[ex->n_rl] = r->name;
            ex->rl_remaining[ex->n_rl] = remaining < 0 ? 0 : remaining;
            ex->n_rl++;
        }
        if (remaining < 0) {
            if (wait > retry_after)
                retry_after = wait;
        } else if (ex->ratelimit_remaining < 0 || remaining < ex->ratelimit_remaining) {
            ex->ratelimit_remaining = remaining;
        }
    }
    if (retry_after == 0)
        return true;
    ex->ratelimit_remaining = 0;
    http_reply_error(req, 429, "RATE_LIMITED",
                     arena_sprintf(req->arena,
                                   "Request was throttled. Expected available in %lld seconds.",
                                   (long long)retry_after));
    http_add_header(req, "Retry-After", arena_sprintf(req->arena, "%lld", (long long)retry_after));
    return false;
}

int64_t http_ratelimit_remaining_rule(struct http_request *req, const char *rule)
{
    struct http_exchange *ex = exchange_of(req);
    for (int i = 0; i < ex->n_rl; i++)
        if (strcmp(ex->rl_names[i], rule) == 0)
            return ex->rl_remaining[i];
    return -1;
}
