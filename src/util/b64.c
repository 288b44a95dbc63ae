/*
 * b64.c - see b64.h. Table driven; decoding rejects stray characters instead
 * of skipping them, because every caller decodes a token or a signature.
 */
#include "util/b64.h"

#include "util/arena.h"

static const char std_alphabet[] =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
static const char url_alphabet[] =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

size_t b64_encoded_len(size_t n, bool url)
{
    if (url)
        return (n / 3) * 4 + (n % 3 ? n % 3 + 1 : 0);
    return ((n + 2) / 3) * 4;
}

size_t b64_encode_into(char *out, const void *in, size_t n, bool url)
{
    const unsigned char *s = in;
    const char *alpha = url ? url_alphabet : std_alphabet;
    size_t o = 0, i = 0;
    for (; i + 2 < n; i += 3) {
        unsigned v = (unsigned)s[i] << 16 | (unsigned)s[i + 1] << 8 | s[i + 2];
        out[o++] = alpha[(v >> 18) & 63];
        out[o++] = alpha[(v >> 12) & 63];
        out[o++] = alpha[(v >> 6) & 63];
        out[o++] = alpha[v & 63];
    }
    if (i < n) {
        unsigned v = (unsigned)s[i] << 16 | (i + 1 < n ? (unsigned)s[i + 1] << 8 : 0);
        out[o++] = alpha[(v >> 18) & 63];
        out[o++] = alpha[(v >> 12) & 63];
        if (i + 1 < n)
            out[o++] = alpha[(v >> 6) & 63];
        else if (!url)
            out[o++] = '=';
        if (!url)
            out[o++] = '=';
    }
    out[o] = '\0';
    return o;
}

static char *encode(struct arena *a, const void *in, size_t n, bool url)
{
    char *out = arena_alloc(a, b64_encoded_len(n, url) + 1);
    b64_encode_into(out, in, n, url);
    return out;
}

char *b64_encode(struct arena *a, const void *in, size_t n)
{
    return encode(a, in, n, false);
}

char *b64url_encode(struct arena *a, const void *in, size_t n)
{
    return encode(a, in, n, true);
}

static int decode_char(char c, bool url)
{
    if (c >= 'A' && c <= 'Z')
        return c - 'A';
    if (c >= 'a' && c <= 'z')
        return c - 'a' + 26;
    if (c >= '0' && c <= '9')
        return c - '0' + 52;
    if (c == (url ? '-' : '+'))
        return 62;
    if (c == (url ? '_' : '/'))
        return 63;
    return -1;
}

bool b64_decode_into(void *out, size_t *out_n, const char *in, size_t n, bool url)
{
    unsigned char *d = out;
    /* Strip padding; the standard alphabet requires it to complete a quad. */
    size_t pad = 0;
    while (n > 0 && in[n - 1] == '=' && pad < 2) {
        n--;
        pad++;
    }
    if (!url && pad && (n + pad) % 4 != 0)
        return false;
    if (!url && !pad && n % 4 != 0)
        return false;
    if (n % 4 == 1)
        return false;
    size_t o = 0;
    unsigned acc = 0;
    int bits = 0;
    for (size_t i = 0; i < n; i++) {
        int v = decode_char(in[i], url);
        if (v < 0)
            return false;
        acc = (acc << 6) | (unsigned)v;
        bits += 6;
        if (bits >= 8) {
            bits -= 8;
            d[o++] = (unsigned char)(acc >> bits);
            acc &= (1u << bits) - 1;
        }
    }
    /* Leftover bits must be zero: otherwise two encodings decode alike. */
    if (acc != 0)
        return false;
    *out_n = o;
    return true;
}

static bool decode(struct arena *a, const char *in, size_t n, unsigned char **out,
                   size_t *out_n, bool url)
{
    unsigned char *buf = arena_alloc(a, (n / 4 + 1) * 3 + 1);
    if (!b64_decode_into(buf, out_n, in, n, url))
        return false;
    buf[*out_n] = '\0';
    *out = buf;
    return true;
}

bool b64_decode(struct arena *a, const char *in, size_t n, unsigned char **out, size_t *out_n)
{
    return decode(a, in, n, out, out_n, false);
}

bool b64url_decode(struct arena *a, const char *in, size_t n, unsigned char **out,
                   size_t *out_n)
{
    return decode(a, in, n, out, out_n, true);
}
