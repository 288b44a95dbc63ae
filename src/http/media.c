/*
 * media.c - serves stored uploads under /media/<folder>/<file>. Only names
 * made of [A-Za-z0-9._-] (no leading dot) in one folder level are served, so
 * no path can leave the media directory; the type comes from the extension
 * the store gave the file. Names are random and never reused, so responses
 * may be cached for a year.
 */
#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "http/internal.h"
#include "util/arena.h"
#include "util/config.h"
#include "util/log.h"

static bool safe_name(const char *s)
{
    if (s == NULL || *s == '\0' || *s == '.' || strlen(s) > 128)
        return false;
    for (; *s; s++)
        if (!((*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') || (*s >= '0' && *s <= '9') ||
              *s == '.' || *s == '_' || *s == '-'))
            return false;
    return true;
}

static const char *content_type_of(const char *file)
{
    static const struct {
        const char *ext, *type;
    } types[] = {
        {".png", "image/png"}, {".jpg", "image/jpeg"}, {".jpeg", "image/jpeg"},
        {".webp", "image/webp"}, {".pdf", "application/pdf"},
    };
    size_t n = strlen(file);
    for (size_t i = 0; i < sizeof(types) / sizeof(types[0]); i++) {
        size_t e = strlen(types[i].ext);
        if (n > e && strcmp(file + n - e, types[i].ext) == 0)
            return types[i].type;
    }
    return NULL;
}

void media_serve(struct http_request *req)
{
    const char *folder = http_param(req, "folder");
    const char *file = http_param(req, "file");
    const char *type = content_type_of(file ? file : "");
    if (!safe_name(folder) || !safe_name(file) || type == NULL) {
        http_reply_detail(req, 404, "Not found.");
        return;
    }
    const char *path = arena_sprintf(req->arena, "%s/%s/%s", req->ctx.cfg->media_dir, folder, file);
    int fd = open(path, O_RDONLY | O_NOFOLLOW);
    struct stat st;
    if (fd < 0 || fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
        if (fd >= 0)
            close(fd);
        http_reply_detail(req, 404, "Not found.");
        return;
    }
    size_t len = (size_t)st.st_size;
    char *data = arena_alloc(req->arena, len ? len : 1);
    size_t got = 0;
    while (got < len) {
        ssize_t r = read(fd, data + got, len - got);
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0)
            break;
        got += (size_t)r;
    }
    close(fd);
    if (got != len) {
        log_error("media: short read of %s", path);
        http_reply_internal(req);
        return;
    }
    http_reply_bytes(req, 200, type, data, len);
    http_add_header(req, "Cache-Control", "public, max-age=31536000, immutable");
}
