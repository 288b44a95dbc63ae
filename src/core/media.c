/*
 * media.c - uploaded images (see media.h). The file name is random (128
 * bits) so it reveals nothing and cannot collide; the type comes from the
 * bytes, never from the client.
 */
#include "core/media.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/rand.h>

#include "core/core.h"
#include "util/arena.h"
#include "util/config.h"
#include "util/log.h"

const char *media_image_kind(const void *data, size_t len)
{
    const unsigned char *p = data;
    static const unsigned char png[] = {0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n'};
    if (len >= 8 && memcmp(p, png, 8) == 0)
        return "png";
    if (len >= 4 && p[0] == 0xff && p[1] == 0xd8 && p[2] == 0xff)
        return "jpg";
    if (len >= 12 && memcmp(p, "RIFF", 4) == 0 && memcmp(p + 8, "WEBP", 4) == 0)
        return "webp";
    return NULL;
}

static bool make_dir(const char *path)
{
    char tmp[4096];
    snprintf(tmp, sizeof(tmp), "%s", path);
    for (char *p = tmp + 1; *p; p++) {
        if (*p != '/')
            continue;
        *p = '\0';
        if (mkdir(tmp, 0755) != 0 && errno != EEXIST)
            return false;
        *p = '/';
    }
    return mkdir(tmp, 0755) == 0 || errno == EEXIST;
}

int media_store_image(struct ctx *ctx, const char *folder, const void *data, size_t len,
                      const char *field, struct errors *err, const char **path)
{
    if (len > MEDIA_IMAGE_MAX) {
        errors_add(err, field, "The image must not be larger than 2 MB.");
        return SHOP_EINVAL;
    }
    const char *kind = media_image_kind(data, len);
    if (kind == NULL) {
        errors_add(err, field,
                   "Upload a valid image. The file you uploaded was either not an image or a "
                   "corrupted image.");
        return SHOP_EINVAL;
    }
    unsigned char raw[16];
    if (RAND_bytes(raw, sizeof(raw)) != 1)
        return SHOP_EDB;
    char name[33];
    for (size_t i = 0; i < sizeof(raw); i++)
        snprintf(name + 2 * i, 3, "%02x", raw[i]);
    const char *dir = arena_sprintf(ctx->arena, "%s/%s", ctx->cfg->media_dir, folder);
    if (!make_dir(dir)) {
        log_error("media: cannot create %s: %s", dir, strerror(errno));
        return SHOP_EDB;
    }
    const char *rel = arena_sprintf(ctx->arena, "%s/%s.%s", folder, name, kind);
    const char *final = arena_sprintf(ctx->arena, "%s/%s", ctx->cfg->media_dir, rel);
    const char *tmp = arena_sprintf(ctx->arena, "%s.part", final);
    int fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL, 0644);
    if (fd < 0) {
        log_error("media: cannot create %s: %s", tmp, strerror(errno));
        return SHOP_EDB;
    }
    const unsigned char *p = data;
    size_t left = len;
    while (left > 0) {
        ssize_t w = write(fd, p, left);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0) {
            log_error("media: cannot write %s: %s", tmp, strerror(errno));
            close(fd);
            unlink(tmp);
            return SHOP_EDB;
        }
        p += w;
        left -= (size_t)w;
    }
    if (fsync(fd) != 0 || close(fd) != 0 || rename(tmp, final) != 0) {
        log_error("media: cannot store %s: %s", final, strerror(errno));
        unlink(tmp);
        return SHOP_EDB;
    }
    *path = rel;
    return SHOP_OK;
}

void media_remove(struct ctx *ctx, const char *path)
{
    if (path == NULL || *path == '\0' || strstr(path, "..") != NULL)
        return;
    const char *full = arena_sprintf(ctx->arena, "%s/%s", ctx->cfg->media_dir, path);
    if (unlink(full) != 0 && errno != ENOENT)
        log_warn("media: cannot remove %s: %s", full, strerror(errno));
}

char *media_url(struct ctx *ctx, const char *path)
{
    if (path == NULL)
        return NULL;
    return arena_sprintf(ctx->arena, "%s/media/%s", ctx->cfg->public_url, path);
}
