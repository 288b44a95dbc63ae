/*
 * cors.c - the list of origins allowed by SHOPD_CORS_ORIGINS. Empty list:
 * CORS is off and no Access-Control-* header is ever sent. Built at start,
 * read-only afterwards.
 */
#include <stdlib.h>
#include <string.h>

#include "http/internal.h"
#include "util/arena.h"

static char **origins;
static size_t n_origins;

void cors_init(const char *list)
{
    cors_free();
    if (list == NULL)
        return;
    const char *p = list;
    while (*p) {
        const char *comma = strchr(p, ',');
        size_t len = comma ? (size_t)(comma - p) : strlen(p);
        struct str item = str_trim((struct str){p, len});
        while (item.n > 0 && item.p[item.n - 1] == '/')
            item.n--;
        if (item.n > 0) {
            origins = xrealloc(origins, (n_origins + 1) * sizeof(*origins));
            char *copy = xmalloc(item.n + 1);
            memcpy(copy, item.p, item.n);
            copy[item.n] = '\0';
            origins[n_origins++] = copy;
        }
        if (!comma)
            break;
        p = comma + 1;
    }
}

void cors_free(void)
{
    for (size_t i = 0; i < n_origins; i++)
        free(origins[i]);
    free(origins);
    origins = NULL;
    n_origins = 0;
}

bool cors_origin_allowed(const char *origin)
{
    if (origin == NULL)
        return false;
    for (size_t i = 0; i < n_origins; i++)
        if (strcmp(origins[i], "*") == 0 || strcmp(origins[i], origin) == 0)
            return true;
    return false;
}
