/*
 * password.c - Argon2id hashing (libsodium), Django pbkdf2_sha256
 * verification (OpenSSL), the common-password set and Django 4.2's four
 * default password validators (see password.h).
 *
 * State: the Argon2id costs and the common-password set are written only by
 * password_init / password_shutdown and read-only in between, so any thread
 * may hash, verify and validate without locking. password_init may run again
 * (it replaces the set; tests change costs that way) while no thread uses
 * the module. The set is an
 * open-addressing table (linear probing, at most half full) of offsets into
 * one heap pool of lower-cased words; lookups lower-case on the fly and
 * allocate nothing. Derived keys are wiped after comparison.
 */
#include "core/password.h"

#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>
#include <sodium.h>

#include "core/core.h"
#include "util/arena.h"
#include "util/b64.h"
#include "util/log.h"
#include "util/str.h"

_Static_assert(PASSWORD_HASH_MAX >= crypto_pwhash_STRBYTES, "PASSWORD_HASH_MAX too small");

#define DJANGO_PBKDF2_PREFIX "pbkdf2_sha256$"
#define PBKDF2_KEY_LEN 32
#define MIN_LENGTH 8
/* Django's UserAttributeSimilarityValidator.DEFAULT_MAX_SIMILARITY, as 7/10. */
#define SIMILARITY_NUM 7
#define SIMILARITY_DEN 10

struct slot {
    uint32_t off; /* into the word pool */
    uint32_t len; /* 0: empty slot (empty words are never stored) */
};

struct word_set {
    struct buf pool;
    struct slot *slots;
    size_t mask; /* slot count - 1; the count is a power of two */
    size_t count;
};

static unsigned long long opslimit;
static size_t memlimit;
static struct word_set common;

static int ascii_lower(unsigned char c)
{
    return (c >= 'A' && c <= 'Z') ? c + ('a' - 'A') : c;
}

/* Python's str.strip() set, restricted to ASCII. */
static bool is_py_space(unsigned char c)
{
    return c == ' ' || (c >= '\t' && c <= '\r') || (c >= 0x1c && c <= 0x1f);
}

static struct str py_strip(struct str s)
{
    while (s.n > 0 && is_py_space((unsigned char)s.p[0])) {
        s.p++;
        s.n--;
    }
    while (s.n > 0 && is_py_space((unsigned char)s.p[s.n - 1]))
        s.n--;
    return s;
}

/* FNV-1a over the lower-cased bytes, so a lookup needs no lower-cased copy. */
static uint64_t hash_lower(struct str s)
{
    uint64_t h = UINT64_C(14695981039346656037);
    for (size_t i = 0; i < s.n; i++) {
        h ^= (uint64_t)ascii_lower((unsigned char)s.p[i]);
        h *= UINT64_C(1099511628211);
    }
    return h;
}

static bool word_eq_lower(const struct word_set *set, const struct slot *sl, struct str s)
{
    if (sl->len != s.n)
        return false;
    const char *w = set->pool.p + sl->off;
    for (size_t i = 0; i < s.n; i++)
        if (w[i] != (char)ascii_lower((unsigned char)s.p[i]))
            return false;
    return true;
}

/* The slot holding s, or the empty slot where it would go. */
static struct slot *find_slot(const struct word_set *set, struct str s)
{
    size_t i = (size_t)hash_lower(s) & set->mask;
    while (set->slots[i].len != 0 && !word_eq_lower(set, &set->slots[i], s))
        i = (i + 1) & set->mask;
    return &set->slots[i];
}

static void grow(struct word_set *set)
{
    size_t old_n = set->slots ? set->mask + 1 : 0;
    struct slot *old = set->slots;
    size_t n = old_n ? old_n * 2 : 1024;
    set->slots = xcalloc(n, sizeof(*set->slots));
    set->mask = n - 1;
    for (size_t i = 0; i < old_n; i++) {
        if (old[i].len == 0)
            continue;
        struct str w = {set->pool.p + old[i].off, old[i].len};
        *find_slot(set, w) = old[i];
    }
    free(old);
}

static void add_word(struct word_set *set, struct str w)
{
    if (w.n > UINT32_MAX || set->pool.n > UINT32_MAX - w.n)
        return; /* not a password anyone types; keeps offsets 32-bit */
    if (set->slots == NULL || (set->count + 1) * 2 > set->mask + 1)
        grow(set);
    struct slot *sl = find_slot(set, w);
    if (sl->len != 0)
        return; /* duplicate */
    sl->off = (uint32_t)set->pool.n;
    sl->len = (uint32_t)w.n;
    for (size_t i = 0; i < w.n; i++)
        buf_append_char(&set->pool, (char)ascii_lower((unsigned char)w.p[i]));
    set->count++;
}

static void load_list(struct word_set *set, const char *path)
{
    FILE *f = fopen(path, "r");
    if (f == NULL) {
        log_warn("password: skipping common-password list %s: %s", path, strerror(errno));
        return;
    }
    char *line = NULL;
    size_t cap = 0;
    ssize_t len;
    while ((len = getline(&line, &cap, f)) >= 0) {
        struct str w = py_strip((struct str){line, (size_t)len});
        /* John the Ripper's list starts with "#!comment:" lines. */
        if (w.n == 0 || str_starts_with(w, STR_LIT("#!comment")))
            continue;
        add_word(set, w);
    }
    if (ferror(f))
        log_warn("password: error reading common-password list %s: %s", path, strerror(errno));
    free(line);
    fclose(f);
}

static void set_free(struct word_set *set)
{
    buf_free(&set->pool);
    free(set->slots);
    set->slots = NULL;
    set->mask = 0;
    set->count = 0;
}

int password_init(const char *lists, int64_t memory_kib, int64_t iterations)
{
    if (sodium_init() < 0) {
        log_error("password: sodium_init failed");
        return -1;
    }
    if (memory_kib < (int64_t)(crypto_pwhash_MEMLIMIT_MIN / 1024) ||
        (uint64_t)memory_kib > crypto_pwhash_MEMLIMIT_MAX / 1024 ||
        iterations < (int64_t)crypto_pwhash_OPSLIMIT_MIN ||
        (uint64_t)iterations > crypto_pwhash_OPSLIMIT_MAX) {
        log_error("password: Argon2id costs out of range: memory %" PRId64 " KiB, %" PRId64
                  " iterations",
                  memory_kib, iterations);
        return -1;
    }
    opslimit = (unsigned long long)iterations;
    memlimit = (size_t)memory_kib * 1024;

    set_free(&common);
    buf_init(&common.pool);
    if (lists != NULL) {
        char *copy = xstrdup(lists);
        for (char *p = copy, *next; p != NULL; p = next) {
            next = strchr(p, ':');
            if (next != NULL)
                *next++ = '\0';
            if (*p != '\0')
                load_list(&common, p);
        }
        free(copy);
    }
    log_debug("password: %zu common passwords loaded", common.count);
    return 0;
}

void password_shutdown(void)
{
    set_free(&common);
}

bool password_is_common(const char *password)
{
    if (password == NULL || common.count == 0)
        return false;
    struct str s = py_strip(str_from(password));
    if (s.n == 0)
        return false;
    return find_slot(&common, s)->len != 0;
}

int password_hash(const char *password, char out[PASSWORD_HASH_MAX])
{
    if (password == NULL)
        return -1;
    if (crypto_pwhash_str_alg(out, password, strlen(password), opslimit, memlimit,
                              crypto_pwhash_ALG_ARGON2ID13) != 0) {
        log_error("password: Argon2id hashing failed (out of memory?)");
        return -1;
    }
    return 0;
}

/* rest is what follows "pbkdf2_sha256$": "<iterations>$<salt>$<base64>".
 * Django verifies by re-encoding and comparing the whole string, so a
 * non-canonical iteration count (leading zero) never matches either. */
static bool verify_django_pbkdf2(const char *password, const char *rest)
{
    const char *d1 = strchr(rest, '$');
    if (d1 == NULL || d1 == rest || rest[0] == '0')
        return false;
    struct str iter_s = {rest, (size_t)(d1 - rest)};
    for (size_t i = 0; i < iter_s.n; i++)
        if (iter_s.p[i] < '0' || iter_s.p[i] > '9')
            return false;
    int64_t iterations;
    if (!str_to_int64(iter_s, &iterations) || iterations > INT_MAX)
        return false;
    const char *salt = d1 + 1;
    const char *d2 = strchr(salt, '$');
    if (d2 == NULL || d2 == salt || d2 - salt > INT_MAX)
        return false;
    const char *expected = d2 + 1;
    size_t password_n = strlen(password);
    if (password_n > INT_MAX)
        return false;

    bool ok = false;
    unsigned char dk[PBKDF2_KEY_LEN];
    char dk_b64[((PBKDF2_KEY_LEN + 2) / 3) * 4 + 1];
    if (PKCS5_PBKDF2_HMAC(password, (int)password_n, (const unsigned char *)salt, (int)(d2 - salt),
                          (int)iterations, EVP_sha256(), sizeof(dk), dk) != 1) {
        log_error("password: PBKDF2 failed");
        goto out;
    }
    size_t b64_n = b64_encode_into(dk_b64, dk, sizeof(dk), false);
    ok = str_ct_eq(dk_b64, b64_n, expected, strlen(expected));
out:
    secure_wipe(dk, sizeof(dk));
    secure_wipe(dk_b64, sizeof(dk_b64));
    return ok;
}

bool password_verify(const char *password, const char *stored, bool *needs_rehash)
{
    bool ok = false, rehash = true;
    /* Django's unusable passwords start with "!"; they must never match. */
    if (password == NULL || stored == NULL || stored[0] == '\0' || stored[0] == '!')
        goto out;
    if (str_starts_with(str_from(stored), STR_LIT(crypto_pwhash_argon2id_STRPREFIX))) {
        if (strlen(stored) >= crypto_pwhash_STRBYTES)
            goto out;
        ok = crypto_pwhash_str_verify(stored, password, strlen(password)) == 0;
        rehash = crypto_pwhash_str_needs_rehash(stored, opslimit, memlimit) != 0;
    } else if (str_starts_with(str_from(stored), STR_LIT(DJANGO_PBKDF2_PREFIX))) {
        ok = verify_django_pbkdf2(password, stored + strlen(DJANGO_PBKDF2_PREFIX));
    }
out:
    if (needs_rehash != NULL)
        *needs_rehash = rehash;
    return ok;
}

/* Python's \w for a str pattern is Unicode-aware; on bytes, every non-ASCII
 * byte is taken as part of a word (letters are what users put there). */
static bool is_word_byte(unsigned char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' ||
           c >= 0x80;
}

/* Django's exceeds_maximum_length_ratio with max_similarity 0.7:
 * pwd_len >= 10 * part_len and part_len < 0.35 * pwd_len, in integers. */
static bool exceeds_length_ratio(size_t pwd_len, size_t part_len)
{
    return pwd_len >= 10 * part_len && 2 * SIMILARITY_DEN * part_len < SIMILARITY_NUM * pwd_len;
}

/* SequenceMatcher(a=password.lower(), b=part.lower()).quick_ratio() >= 0.7:
 * 2 * M / (la + lb) with M the size of the multiset intersection of the
 * characters (bytes here); ratio 1.0 when both are empty, as in Python. */
static bool quick_ratio_too_similar(struct str password, struct str part)
{
    size_t total = password.n + part.n;
    if (total == 0)
        return true;
    size_t avail[256] = {0};
    for (size_t i = 0; i < part.n; i++)
        avail[ascii_lower((unsigned char)part.p[i])]++;
    size_t matches = 0;
    for (size_t i = 0; i < password.n; i++) {
        size_t *a = &avail[ascii_lower((unsigned char)password.p[i])];
        if (*a > 0) {
            (*a)--;
            matches++;
        }
    }
    /* Exact rational comparison: Python's float division rounds to the very
     * double 0.7 is stored as whenever the ratio equals 7/10. */
    return 2 * matches * SIMILARITY_DEN >= SIMILARITY_NUM * total;
}

static bool part_too_similar(struct str password, struct str part)
{
    if (exceeds_length_ratio(password.n, part.n))
        return false;
    return quick_ratio_too_similar(password, part);
}

/* value_parts = re.split(r"\W+", value) + [value]; true on the first part
 * too similar to the password. */
static bool value_too_similar(struct str password, struct str value)
{
    size_t start = 0, i = 0;
    while (i < value.n) {
        if (is_word_byte((unsigned char)value.p[i])) {
            i++;
            continue;
        }
        if (part_too_similar(password, (struct str){value.p + start, i - start}))
            return true;
        while (i < value.n && !is_word_byte((unsigned char)value.p[i]))
            i++;
        start = i;
    }
    if (part_too_similar(password, (struct str){value.p + start, value.n - start}))
        return true;
    return part_too_similar(password, value);
}

/* UserAttributeSimilarityValidator: Django checks its DEFAULT_USER_ATTRIBUTES
 * in this order and raises on the first attribute that is too similar. */
static const char *similar_attribute(struct str password, const struct password_attrs *attrs)
{
    const struct {
        const char *value;
        const char *message;
    } checks[] = {
        {attrs->username, "The password is too similar to the username."},
        {attrs->first_name, "The password is too similar to the first name."},
        {attrs->last_name, "The password is too similar to the last name."},
        {attrs->email, "The password is too similar to the email address."},
    };
    for (size_t i = 0; i < sizeof(checks) / sizeof(checks[0]); i++) {
        if (checks[i].value == NULL || checks[i].value[0] == '\0')
            continue;
        if (value_too_similar(password, str_from(checks[i].value)))
            return checks[i].message;
    }
    return NULL;
}

/* len() of a Python str: UTF-8 continuation bytes do not count. */
static size_t utf8_length(const char *s)
{
    size_t n = 0;
    for (; *s; s++)
        if (((unsigned char)*s & 0xc0) != 0x80)
            n++;
    return n;
}

static bool is_all_digits(const char *s)
{
    if (*s == '\0')
        return false; /* "".isdigit() is False */
    for (; *s; s++)
        if (*s < '0' || *s > '9')
            return false;
    return true;
}

bool password_validate(const char *password, const struct password_attrs *attrs, struct errors *err,
                       const char *field)
{
    if (password == NULL)
        password = "";
    int before = err->count;
    if (attrs != NULL) {
        const char *message = similar_attribute(str_from(password), attrs);
        if (message != NULL)
            errors_add(err, field, message);
    }
    if (utf8_length(password) < MIN_LENGTH)
        errors_add(err, field,
                   "This password is too short. It must contain at least 8 characters.");
    if (password_is_common(password))
        errors_add(err, field, "This password is too common.");
    if (is_all_digits(password))
        errors_add(err, field, "This password is entirely numeric.");
    return err->count == before;
}
