/*
 * jsonw.h - writing JSON text straight into json-c's output buffer, for the
 * serializers of large listings (json_object_set_serializer): a row printed
 * without building, walking and freeing a dozen member objects. The text is
 * exactly what json-c prints for the same members (strings escaped as
 * json_escape_str does; '/' left alone under JSON_C_TO_STRING_NOSLASHESCAPE).
 */
#ifndef SHOPD_HTTP_JSONW_H
#define SHOPD_HTTP_JSONW_H

#include <stddef.h>
#include <stdint.h>

#include <json-c/json.h>

static inline void jsonw_raw(struct printbuf *pb, const char *s, size_t n)
{
    printbuf_memappend_fast(pb, s, (int)n);
}

#define JSONW_LITERAL(pb, lit) jsonw_raw((pb), "" lit, sizeof(lit) - 1)

/* A JSON string (NULL prints ""), escaped as json-c escapes it. */
void jsonw_string(struct printbuf *pb, const char *s, int flags);
/* Decimal text of v into buf (at least 21 bytes); returns its length. */
size_t jsonw_int_text(int64_t v, char *buf);
void jsonw_int(struct printbuf *pb, int64_t v);

#endif
