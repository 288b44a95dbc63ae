/*
 * b64.h - base64 (RFC 4648 section 4, padded) and base64url (section 5,
 * unpadded, as JWTs and Django's urlsafe_base64_encode write it).
 *
 * Encoders write a NUL-terminated string into the arena. Decoders return
 * false on any character outside the alphabet or an impossible length;
 * base64url decoding accepts input with or without '=' padding.
 */
#ifndef SHOPD_UTIL_B64_H
#define SHOPD_UTIL_B64_H

#include <stdbool.h>
#include <stddef.h>

struct arena;

size_t b64_encoded_len(size_t n, bool url); /* without the NUL */
/* Encodes into out, which must hold b64_encoded_len(n, url) + 1 bytes. */
size_t b64_encode_into(char *out, const void *in, size_t n, bool url);
char *b64_encode(struct arena *a, const void *in, size_t n);
char *b64url_encode(struct arena *a, const void *in, size_t n);
/* Decodes into out (room for 3 * ceil(n / 4) bytes); *out_n gets the length. */
bool b64_decode_into(void *out, size_t *out_n, const char *in, size_t n, bool url);
bool b64_decode(struct arena *a, const char *in, size_t n, unsigned char **out, size_t *out_n);
bool b64url_decode(struct arena *a, const char *in, size_t n, unsigned char **out,
                   size_t *out_n);

#endif
