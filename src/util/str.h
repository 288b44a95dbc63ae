/*
 * str.h - length-carrying string views and a growable byte buffer.
 *
 * A struct str never owns its bytes and is not NUL-terminated: protocol data
 * (a webhook body, a token) is handled byte for byte through it. struct buf
 * owns heap memory released with buf_free (or lives in an arena, see
 * buf_init_arena, and is then released with the arena).
 */
#ifndef SHOPD_UTIL_STR_H
#define SHOPD_UTIL_STR_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct arena;

struct str {
    const char *p;
    size_t n;
};

#define STR_LIT(s) ((struct str){(s), sizeof(s) - 1})
#define STR_NULL ((struct str){NULL, 0})

struct str str_from(const char *cstr); /* NULL gives STR_NULL */
bool str_eq(struct str a, struct str b);
bool str_eq_cstr(struct str a, const char *b);
bool str_case_eq(struct str a, struct str b); /* ASCII case-insensitive */
bool str_starts_with(struct str s, struct str prefix);
char *str_dup(struct arena *a, struct str s); /* NUL-terminated copy */
/* Constant-time comparison of two byte strings (lengths may leak). */
bool str_ct_eq(const void *a, size_t an, const void *b, size_t bn);
/* Parses an optional sign and decimal digits, nothing else; false on overflow. */
bool str_to_int64(struct str s, int64_t *out);
/* Trims ASCII white space at both ends. */
struct str str_trim(struct str s);
/* ASCII lower-case copy, in the arena. */
char *str_lower(struct arena *a, const char *s);
/* s with < > & " ' escaped for HTML text and attribute values (NULL: ""). */
char *str_html_escape(struct arena *a, const char *s);

struct buf {
    char *p;
    size_t n;
    size_t cap;
    struct arena *arena; /* NULL: heap-owned */
};

void buf_init(struct buf *b);
void buf_init_arena(struct buf *b, struct arena *a);
void buf_reserve(struct buf *b, size_t extra);
void buf_append(struct buf *b, const void *p, size_t n);
void buf_append_str(struct buf *b, const char *s);
void buf_append_char(struct buf *b, char c);
void buf_printf(struct buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Makes b->p a NUL-terminated string (the NUL is not counted in n). */
const char *buf_cstr(struct buf *b);
void buf_free(struct buf *b);

#endif
