/*
 * media.h - uploaded images: checked by content (PNG, JPEG, WebP magic
 * bytes, never the client's name or type), at most MEDIA_IMAGE_MAX bytes,
 * stored under cfg->media_dir/<folder>/ with a random name, written to a
 * temporary file and renamed so a reader never sees half a file.
 */
#ifndef SHOPD_CORE_MEDIA_H
#define SHOPD_CORE_MEDIA_H

#include <stddef.h>

struct ctx;
struct errors;

#define MEDIA_IMAGE_MAX (2 * 1024 * 1024)

/* The image type of data by its magic bytes: "png", "jpg", "webp", or NULL. */
const char *media_image_kind(const void *data, size_t len);

/* Validates and stores an image under folder ("avatars", "products", ...).
 * *path gets the stored path relative to the media dir ("avatars/<32 hex>.png").
 * SHOP_EINVAL with err[field] = "Upload a valid image. The file you uploaded
 * was either not an image or a corrupted image." or "The image must not be
 * larger than 2 MB."; SHOP_EDB when the file cannot be written. */
int media_store_image(struct ctx *ctx, const char *folder, const void *data, size_t len,
                      const char *field, struct errors *err, const char **path);

/* Removes a stored file (a replaced avatar); a missing file is fine. */
void media_remove(struct ctx *ctx, const char *path);

/* The absolute URL of a stored path: <SHOPD_PUBLIC_URL>/media/<path>. */
char *media_url(struct ctx *ctx, const char *path);

#endif
