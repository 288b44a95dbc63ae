/*
 * password.h - password hashing, verification and the password rules.
 *
 * Hashes are Argon2id strings from libsodium's crypto_pwhash_str
 * ("$argon2id$v=19$m=19456,t=2,p=1$..."), costs from the configuration.
 * Django hashes "pbkdf2_sha256$<iterations>$<salt>$<base64 sha256>" verify
 * too and are reported as needing a rehash, so users imported from Django
 * keep their passwords and move to Argon2id at their next login.
 *
 * The rules are Django's default validators: minimum length 8, not entirely
 * numeric, not a common password (word lists loaded by password_init), not
 * too similar (SequenceMatcher quick_ratio >= 0.7) to the username, email or
 * names. password_init must run once before any other call; the loaded lists
 * are read-only afterwards and shared by all threads.
 */
#ifndef SHOPD_CORE_PASSWORD_H
#define SHOPD_CORE_PASSWORD_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct errors;

#define PASSWORD_HASH_MAX 128 /* >= crypto_pwhash_STRBYTES */

/* lists: colon-separated paths of word lists (one word per line; lines
 * starting with "#!comment" are skipped; missing files are logged and
 * skipped). memory_kib / iterations: Argon2id costs. Returns 0 or -1. */
int password_init(const char *lists, int64_t memory_kib, int64_t iterations);
void password_shutdown(void);

/* Hashes with Argon2id into out (NUL-terminated). Returns 0 or -1. */
int password_hash(const char *password, char out[PASSWORD_HASH_MAX]);

/* true when password matches stored (Argon2id or Django pbkdf2_sha256);
 * *needs_rehash (optional) is set when stored is not Argon2id with the
 * configured costs. Never true for an empty or unusable stored hash
 * (Django's "!..." unusable passwords). Constant-time comparison. */
bool password_verify(const char *password, const char *stored, bool *needs_rehash);

/* The user attributes the similarity rule compares against (any may be NULL). */
struct password_attrs {
    const char *username;
    const char *email;
    const char *first_name;
    const char *last_name;
};

/* Adds one message per broken rule to err under field, in Django's words:
 *  "This password is too short. It must contain at least 8 characters."
 *  "This password is too common."
 *  "This password is entirely numeric."
 *  "The password is too similar to the username." (username / email address /
 *  first name / last name). Returns true when the password passes. */
bool password_validate(const char *password, const struct password_attrs *attrs,
                       struct errors *err, const char *field);

/* True when the lower-cased, trimmed password is in the loaded lists. */
bool password_is_common(const char *password);

#endif
