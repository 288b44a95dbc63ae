/*
 * jsonw.c - see jsonw.h.
 */
#include "http/jsonw.h"

#include <string.h>

void jsonw_string(struct printbuf *pb, const char *s, int flags)
{
    static const char hex[] = "0123456789abcdef";
    if (s == NULL)
        s = "";
    jsonw_raw(pb, "\"", 1);
    const char *run = s;
    for (const char *p = s; *p; p++) {
        unsigned char c = (unsigned char)*p;
        const char *esc = NULL;
        char u[6];
        size_t esc_n = 2;
        if (c >= ' ' && c != '"' && c != '\\' && c != '/')
            continue;
        switch (c) {
        case '\b': esc = "\\b"; break;
        case '\n': esc = "\\n"; break;
        case '\r': esc = "\\r"; break;
        case '\t': esc = "\\t"; break;
        case '\f': esc = "\\f"; break;
        case '"': esc = "\\\""; break;
        case '\\': esc = "\\\\"; break;
        case '/':
            if (flags & JSON_C_TO_STRING_NOSLASHESCAPE)
                continue;
            esc = "\\/";
            break;
        default:
            memcpy(u, "\\u00", 4);
            u[4] = hex[c >> 4];
            u[5] = hex[c & 0xf];
            esc = u;
            esc_n = 6;
        }
        if (p > run)
            jsonw_raw(pb, run, (size_t)(p - run));
        jsonw_raw(pb, esc, esc_n);
        run = p + 1;
    }
    size_t rest = strlen(run);
    if (rest > 0)
        jsonw_raw(pb, run, rest);
    jsonw_raw(pb, "\"", 1);
}

size_t jsonw_int_text(int64_t v, char *buf)
{
    char tmp[24];
    size_t n = 0, len = 0;
    uint64_t u = v < 0 ? (uint64_t)0 - (uint64_t)v : (uint64_t)v;
    do {
        tmp[n++] = (char)('0' + u % 10);
        u /= 10;
    } while (u);
    if (v < 0)
        buf[len++] = '-';
    while (n)
        buf[len++] = tmp[--n];
    return len;
}

void jsonw_int(struct printbuf *pb, int64_t v)
{
    char buf[24];
    jsonw_raw(pb, buf, jsonw_int_text(v, buf));
}
