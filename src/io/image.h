/* src/io/image: JPEG (TurboJPEG) and PNG (libpng) files of uint8 HWC images
 * with 1 or 3 channels, written atomically; image grids (reals.jpg, fakes*.jpg)
 * from float NHWC batches in [-1, 1]; and a reader used by the tests.
 * Calls src/base and src/io/atomic_file. */
#ifndef PROGAN_IO_IMAGE_H
#define PROGAN_IO_IMAGE_H

#include <stddef.h>
#include <stdint.h>
#include "base/base.h"

/* An owned uint8 image, (height, width, channels) row-major, channels 1 or 3. */
typedef struct {
    uint8_t *pixels;
    int width, height, channels;
} pg_image;

/* Frees the pixels and zeroes the struct (safe on a zeroed struct). */
void pg_image_free(pg_image *img);

/* pixels: (height, width, channels) uint8; quality 1..100 (95 is a good default). */
pg_status pg_image_write_jpeg(const char *path, const uint8_t *pixels, int width, int height,
                              int channels, int quality);
pg_status pg_image_write_png(const char *path, const uint8_t *pixels, int width, int height,
                             int channels);
/* Picks the format from the extension (.jpg/.jpeg or .png). */
pg_status pg_image_write(const char *path, const pg_image *img, int jpeg_quality);

#define PG_IMAGE_MAX_PIXELS (1 << 26) /* pg_image_read refuses larger claims */
/* Reads a JPEG or PNG (by its magic bytes) into 1 channel (grey) or 3 (RGB);
 * PNG alpha is dropped, palettes and 16-bit samples are expanded to 8 bits. */
pg_status pg_image_read(const char *path, pg_image *out);

/* images: (n, res, res, channels) float in [-1, 1]. Tiles them row-major into
 * a (rows*res, cols*res, channels) uint8 grid with v -> round((v+1)*127.5)
 * clamped to 0..255 (NaN -> 0); cells past n are black. n <= rows*cols. */
pg_status pg_image_grid(const float *images, int n, int res, int channels, int rows, int cols,
                        pg_image *out);

#endif
