/* JPEG/PNG writers and readers and image grids (see image.h). JPEG goes through
 * the TurboJPEG tj* API, PNG through libpng's simplified API; both write into
 * an atomic file. */
#include "io/image.h"

#include <errno.h>
#include <math.h>
#include <png.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <turbojpeg.h>

#include "io/atomic_file.h"

void pg_image_free(pg_image *img) {
    if (!img) return;
    free(img->pixels);
    memset(img, 0, sizeof *img);
}

/* Shared argument checks, so every writer fails with the same clear message. */
static pg_status check_image(const char *path, const uint8_t *pixels, int width, int height,
                             int channels) {
    if (!pixels || width <= 0 || height <= 0 || width > 65500 || height > 65500)
        return PG_FAIL(PG_ERR_INVALID, "%s: bad image size %dx%d (1..65500 each)", path, width,
                       height);
    if (channels != 1 && channels != 3)
        return PG_FAIL(PG_ERR_INVALID, "%s: images must have 1 or 3 channels, got %d", path,
                       channels);
    return PG_OK;
}

/* Accurate DCT and no chroma subsampling: grids of small images are all edges. */
pg_status pg_image_write_jpeg(const char *path, const uint8_t *pixels, int width, int height,
                              int channels, int quality) {
    PG_TRY(check_image(path, pixels, width, height, channels));
    if (quality < 1 || quality > 100)
        return PG_FAIL(PG_ERR_INVALID, "%s: JPEG quality %d is outside 1..100", path, quality);
    tjhandle tj = tjInitCompress();
    if (!tj) return PG_FAIL(PG_ERR_OUT_OF_MEMORY, "%s: cannot start TurboJPEG", path);
    unsigned char *jpeg = NULL;
    unsigned long size = 0;
    int rc =
        tjCompress2(tj, pixels, width, 0, height, channels == 1 ? TJPF_GRAY : TJPF_RGB, &jpeg,
                    &size, channels == 1 ? TJSAMP_GRAY : TJSAMP_444, quality, TJFLAG_ACCURATEDCT);
    pg_status s = PG_OK;
    if (rc != 0)
        s = PG_FAIL(PG_ERR_IO, "%s: JPEG compression failed: %s", path, tjGetErrorStr2(tj));
    else
        s = pg_atomic_write(path, jpeg, size);
    tjFree(jpeg);
    tjDestroy(tj);
    return s;
}

pg_status pg_image_write_png(const char *path, const uint8_t *pixels, int width, int height,
                             int channels) {
    PG_TRY(check_image(path, pixels, width, height, channels));
    png_image image;
    memset(&image, 0, sizeof image);
    image.version = PNG_IMAGE_VERSION;
    image.width = (png_uint_32)width;
    image.height = (png_uint_32)height;
    image.format = channels == 1 ? PNG_FORMAT_GRAY : PNG_FORMAT_RGB;
    pg_atomic_file af;
    PG_TRY(pg_atomic_file_open(&af, path));
    if (!png_image_write_to_stdio(&image, af.file, 0, pixels, width * channels, NULL)) {
        pg_status s = PG_FAIL(PG_ERR_IO, "%s: PNG write failed: %s", path, image.message);
        png_image_free(&image);
        pg_atomic_file_abort(&af);
        return s;
    }
    return pg_atomic_file_commit(&af);
}

static int has_extension(const char *path, const char *ext) {
    size_t n = strlen(path), e = strlen(ext);
    return n > e && !strcasecmp(path + n - e, ext);
}

pg_status pg_image_write(const char *path, const pg_image *img, int jpeg_quality) {
    if (has_extension(path, ".png"))
        return pg_image_write_png(path, img->pixels, img->width, img->height, img->channels);
    if (has_extension(path, ".jpg") || has_extension(path, ".jpeg"))
        return pg_image_write_jpeg(path, img->pixels, img->width, img->height, img->channels,
                                   jpeg_quality);
    return PG_FAIL(PG_ERR_INVALID, "%s: unknown image extension (use .jpg, .jpeg or .png)", path);
}

/* Whole file into memory: TurboJPEG decodes from a buffer. */
static pg_status read_file(const char *path, unsigned char **out, size_t *size) {
    FILE *f = fopen(path, "rb");
    if (!f) return PG_FAIL(PG_ERR_IO, "cannot open %s: %s", path, strerror(errno));
    unsigned char *buf = NULL;
    size_t used = 0, cap = 0;
    for (;;) {
        if (used == cap) {
            cap = cap ? cap * 2 : 1 << 16;
            unsigned char *b = realloc(buf, cap);
            if (!b) {
                free(buf);
                fclose(f);
                return PG_FAIL(PG_ERR_OUT_OF_MEMORY, "%s: out of memory", path);
            }
            buf = b;
        }
        size_t got = fread(buf + used, 1, cap - used, f);
        used += got;
        if (got == 0) break;
    }
    int failed = ferror(f);
    fclose(f);
    if (failed) {
        free(buf);
        return PG_FAIL(PG_ERR_IO, "cannot read %s", path);
    }
    *out = buf;
    *size = used;
    return PG_OK;
}

/* Sizes from a header are claims: refuse empty or huge images before allocating
 * (a 100-byte file can claim 65535 x 65535 pixels). 1 when w x h is acceptable. */
static int image_size_ok(const char *path, long long w, long long h, pg_status *s) {
    if (w > 0 && h > 0 && w * h <= PG_IMAGE_MAX_PIXELS) return 1;
    *s = PG_FAIL(PG_ERR_FORMAT,
                 "%s: the header claims %lld x %lld pixels (at most %d pixels are read)", path, w,
                 h, PG_IMAGE_MAX_PIXELS);
    return 0;
}

static pg_status read_jpeg(const char *path, const unsigned char *buf, size_t size, pg_image *out) {
    tjhandle tj = tjInitDecompress();
    if (!tj) return PG_FAIL(PG_ERR_OUT_OF_MEMORY, "%s: cannot start TurboJPEG", path);
    int w, h, subsamp, colorspace;
    pg_status s = PG_OK;
    if (tjDecompressHeader3(tj, buf, size, &w, &h, &subsamp, &colorspace) != 0) {
        s = PG_FAIL(PG_ERR_FORMAT, "%s: bad JPEG header: %s", path, tjGetErrorStr2(tj));
    } else if (!image_size_ok(path, w, h, &s)) {
    } else {
        int channels = colorspace == TJCS_GRAY ? 1 : 3;
        uint8_t *pixels = malloc((size_t)w * h * channels);
        if (!pixels) {
            s = PG_FAIL(PG_ERR_OUT_OF_MEMORY, "%s: out of memory", path);
        } else if (tjDecompress2(tj, buf, size, pixels, w, 0, h,
                                 channels == 1 ? TJPF_GRAY : TJPF_RGB, TJFLAG_ACCURATEDCT) != 0) {
            s = PG_FAIL(PG_ERR_FORMAT, "%s: corrupt JPEG: %s", path, tjGetErrorStr2(tj));
            free(pixels);
        } else {
            *out = (pg_image){pixels, w, h, channels};
        }
    }
    tjDestroy(tj);
    return s;
}

static pg_status read_png(const char *path, const unsigned char *buf, size_t size, pg_image *out) {
    png_image image;
    memset(&image, 0, sizeof image);
    image.version = PNG_IMAGE_VERSION;
    if (!png_image_begin_read_from_memory(&image, buf, size))
        return PG_FAIL(PG_ERR_FORMAT, "%s: bad PNG: %s", path, image.message);
    pg_status s;
    if (!image_size_ok(path, image.width, image.height, &s)) {
        png_image_free(&image);
        return s;
    }
    int channels = (image.format & PNG_FORMAT_FLAG_COLOR) ? 3 : 1;
    image.format = channels == 1 ? PNG_FORMAT_GRAY : PNG_FORMAT_RGB;
    /* Zeroed, so that dropped alpha composites onto black. */
    uint8_t *pixels = calloc(PNG_IMAGE_SIZE(image), 1);
    if (!pixels) {
        png_image_free(&image);
        return PG_FAIL(PG_ERR_OUT_OF_MEMORY, "%s: out of memory", path);
    }
    if (!png_image_finish_read(&image, NULL, pixels, 0, NULL)) {
        s = PG_FAIL(PG_ERR_FORMAT, "%s: corrupt PNG: %s", path, image.message);
        png_image_free(&image);
        free(pixels);
        return s;
    }
    *out = (pg_image){pixels, (int)image.width, (int)image.height, channels};
    return PG_OK;
}

pg_status pg_image_read(const char *path, pg_image *out) {
    memset(out, 0, sizeof *out);
    unsigned char *buf = NULL;
    size_t size = 0;
    PG_TRY(read_file(path, &buf, &size));
    static const unsigned char png_magic[8] = {0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n'};
    pg_status s;
    if (size >= 3 && buf[0] == 0xFF && buf[1] == 0xD8 && buf[2] == 0xFF)
        s = read_jpeg(path, buf, size, out);
    else if (size >= 8 && !memcmp(buf, png_magic, 8))
        s = read_png(path, buf, size, out);
    else
        s = PG_FAIL(PG_ERR_FORMAT, "%s: neither a JPEG nor a PNG file", path);
    free(buf);
    return s;
}

/* The [-1, 1] -> 0..255 mapping of the reference's convert_to_pil (rint, clip). */
static uint8_t to_u8(float v) {
    float x = (v + 1.0f) * 127.5f;
    if (!(x > 0.0f)) return 0; /* also NaN */
    if (x >= 255.0f) return 255;
    return (uint8_t)lrintf(x);
}

pg_status pg_image_grid(const float *images, int n, int res, int channels, int rows, int cols,
                        pg_image *out) {
    memset(out, 0, sizeof *out);
    if (n < 0 || res <= 0 || rows <= 0 || cols <= 0 || (int64_t)rows * cols < n ||
        (int64_t)rows * res > 65500 || (int64_t)cols * res > 65500)
        return PG_FAIL(PG_ERR_INVALID, "image grid: %d images of %dx%d do not fit %d x %d cells", n,
                       res, res, rows, cols);
    if (channels != 1 && channels != 3)
        return PG_FAIL(PG_ERR_INVALID, "image grid: 1 or 3 channels, got %d", channels);
    int width = cols * res, height = rows * res;
    uint8_t *pixels = calloc((size_t)width * height * channels, 1);
    if (!pixels) return PG_FAIL(PG_ERR_OUT_OF_MEMORY, "image grid: out of memory");
    size_t row_len = (size_t)res * channels;
    for (int i = 0; i < n; i++) {
        const float *src = images + (size_t)i * res * row_len;
        int gy = i / cols, gx = i % cols;
        for (int y = 0; y < res; y++) {
            uint8_t *dst = pixels + ((size_t)(gy * res + y) * width + (size_t)gx * res) * channels;
            for (size_t k = 0; k < row_len; k++) dst[k] = to_u8(src[y * row_len + k]);
        }
    }
    *out = (pg_image){pixels, width, height, channels};
    return PG_OK;
}
