/* src/data/ingest: decoding one file (sniff, TurboJPEG with DCT scaling, libpng),
 * EXIF orientation and colour conversion, then the square crop/pad/stretch.
 * The resampling and mipmap arithmetic live in resize.c. */
#include "data/ingest.h"

#include <errno.h>
#include <fcntl.h>
#include <png.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <turbojpeg.h>
#include <unistd.h>

#define PG_IMAGE_MAX_FILE_BYTES (1ll << 30)

struct pg_ingest_worker {
    tjhandle tj;
    uint8_t *file; /* the whole file */
    size_t file_cap;
    uint8_t *pix; /* decoded pixels */
    size_t pix_cap;
    uint8_t *pix2; /* oriented / converted pixels */
    size_t pix2_cap;
    uint8_t *square; /* the resized square before channel expansion */
    size_t square_cap;
    float *tmp; /* resize intermediate */
    size_t tmp_cap;
    double t_decode, t_resize; /* seconds, for pg_prepare_timing */
};

const char *pg_crop_mode_name(int crop) {
    static const char *names[] = {"center", "pad", "stretch"};
    return crop >= 0 && crop < 3 ? names[crop] : "?";
}

const char *pg_skip_reason_name(pg_skip_reason r) {
    static const char *names[PG_SKIP_COUNT] = {
        "written",
        "unreadable (permissions, dangling link or I/O error)",
        "not a regular file (FIFO, socket or device)",
        "empty file (0 bytes)",
        "file larger than 1 GiB",
        "not an image (no JPEG or PNG signature)",
        "corrupt or unsupported image data",
        "truncated image data",
        "too many pixels (above --max-pixels)",
        "too small (below R/2; use --upscale)",
    };
    return (unsigned)r < PG_SKIP_COUNT ? names[r] : "?";
}

const char *pg_conv_kind_name(pg_conv_kind k) {
    static const char *names[PG_CONV_COUNT] = {
        "grayscale expanded to RGB",
        "colour converted to grayscale",
        "CMYK converted to RGB",
        "YCCK converted to RGB",
        "alpha channel dropped",
        "16-bit or palette PNG reduced to 8-bit",
        "EXIF orientation applied",
        "read as PNG",
        "content does not match the file extension",
        "upscaled (source side below R)",
        "decoded despite a libjpeg warning (extraneous bytes)",
    };
    return (unsigned)k < PG_CONV_COUNT ? names[k] : "?";
}

/* Grows *buf to at least n bytes; returns 0 on allocation failure. */
static int grow(void **buf, size_t *cap, size_t n) {
    if (*cap >= n) return 1;
    void *p = realloc(*buf, n);
    if (!p) return 0;
    *buf = p;
    *cap = n;
    return 1;
}

pg_status pg_ingest_worker_create(pg_ingest_worker **out) {
    pg_ingest_worker *w = calloc(1, sizeof *w);
    if (!w) return PG_FAIL(PG_ERR_OUT_OF_MEMORY, "cannot allocate an image worker");
    w->tj = tjInitDecompress();
    if (!w->tj) {
        free(w);
        return PG_FAIL(PG_ERR_UNSUPPORTED, "tjInitDecompress failed: %s", tjGetErrorStr2(NULL));
    }
    *out = w;
    return PG_OK;
}

void pg_ingest_worker_times(const pg_ingest_worker *w, double *decode, double *resize) {
    *decode = w->t_decode;
    *resize = w->t_resize;
}

void pg_ingest_worker_destroy(pg_ingest_worker *w) {
    if (!w) return;
    tjDestroy(w->tj);
    free(w->file);
    free(w->pix);
    free(w->pix2);
    free(w->square);
    free(w->tmp);
    free(w);
}

static void skip(pg_ingest_result *res, pg_skip_reason r, const char *detail) {
    res->skip = r;
    snprintf(res->detail, sizeof res->detail, "%s", detail ? detail : "");
}

/* Reads the whole file without ever blocking on a FIFO (O_NONBLOCK, regular files only). */
static int read_file(pg_ingest_worker *w, const char *path, size_t *size, pg_ingest_result *res) {
    int fd = open(path, O_RDONLY | O_NONBLOCK | O_CLOEXEC);
    if (fd < 0) {
        skip(res, PG_SKIP_UNREADABLE, strerror(errno));
        return 0;
    }
    struct stat st;
    int ok = 0;
    if (fstat(fd, &st) != 0)
        skip(res, PG_SKIP_UNREADABLE, strerror(errno));
    else if (!S_ISREG(st.st_mode))
        skip(res, PG_SKIP_NOT_REGULAR, NULL);
    else if (st.st_size == 0)
        skip(res, PG_SKIP_EMPTY, NULL);
    else if (st.st_size > PG_IMAGE_MAX_FILE_BYTES)
        skip(res, PG_SKIP_FILE_TOO_BIG, NULL);
    else if (!grow((void **)&w->file, &w->file_cap, (size_t)st.st_size))
        skip(res, PG_SKIP_UNREADABLE, "out of memory");
    else {
        size_t got = 0, want = (size_t)st.st_size;
        while (got < want) {
            ssize_t n = read(fd, w->file + got, want - got);
            if (n < 0 && errno == EINTR) continue;
            if (n <= 0) break;
            got += (size_t)n;
        }
        if (got == want) {
            *size = want;
            ok = 1;
        } else
            skip(res, PG_SKIP_UNREADABLE, got < want ? "short read" : strerror(errno));
    }
    close(fd);
    return ok;
}

static uint16_t rd16(const uint8_t *p, int be) {
    return be ? (uint16_t)(p[0] << 8 | p[1]) : (uint16_t)(p[1] << 8 | p[0]);
}
static uint32_t rd32(const uint8_t *p, int be) {
    return be ? (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3]
              : (uint32_t)p[3] << 24 | (uint32_t)p[2] << 16 | (uint32_t)p[1] << 8 | p[0];
}

/* Walks the markers before the first scan looking for APP1 "Exif"; every read is
 * bounds-checked because the bytes come from arbitrary files. */
int pg_ingest_exif_orientation(const uint8_t *jpeg, size_t size) {
    size_t pos = 2;
    while (pos + 4 <= size) {
        if (jpeg[pos] != 0xFF) return 1;
        uint8_t marker = jpeg[pos + 1];
        if (marker == 0xFF) {
            pos++;
            continue;
        }
        if (marker == 0xDA || marker == 0xD9) return 1;
        size_t len = (size_t)jpeg[pos + 2] << 8 | jpeg[pos + 3];
        if (len < 2 || pos + 2 + len > size) return 1;
        const uint8_t *seg = jpeg + pos + 4;
        size_t n = len - 2;
        if (marker == 0xE1 && n >= 14 && !memcmp(seg, "Exif\0\0", 6)) {
            const uint8_t *t = seg + 6;
            size_t tn = n - 6;
            int be = t[0] == 'M' && t[1] == 'M';
            if (!be && !(t[0] == 'I' && t[1] == 'I')) return 1;
            if (rd16(t + 2, be) != 42) return 1;
            uint32_t ifd = rd32(t + 4, be);
            if (ifd > tn || tn - ifd < 2) return 1;
            unsigned count = rd16(t + ifd, be);
            for (unsigned i = 0; i < count; i++) {
                size_t e = ifd + 2 + 12 * (size_t)i;
                if (e + 12 > tn) return 1;
                if (rd16(t + e, be) == 0x0112 && rd16(t + e + 2, be) == 3) {
                    unsigned v = rd16(t + e + 8, be);
                    return v >= 1 && v <= 8 ? (int)v : 1;
                }
            }
            return 1;
        }
        pos += 2 + len;
    }
    return 1;
}

/* Applies EXIF orientation o (2..8) to an HWC buffer; returns the new size in *ow, *oh. */
static void orient(const uint8_t *src, int w, int h, int c, int o, uint8_t *dst, int *ow, int *oh) {
    int swap = o >= 5;
    int dw = swap ? h : w, dh = swap ? w : h;
    for (int y = 0; y < dh; y++)
        for (int x = 0; x < dw; x++) {
            int sx, sy;
            switch (o) {
            case 2:
                sx = w - 1 - x, sy = y;
                break;
            case 3:
                sx = w - 1 - x, sy = h - 1 - y;
                break;
            case 4:
                sx = x, sy = h - 1 - y;
                break;
            case 5:
                sx = y, sy = x;
                break;
            case 6:
                sx = y, sy = h - 1 - x;
                break;
            case 7:
                sx = w - 1 - y, sy = h - 1 - x;
                break;
            case 8:
                sx = w - 1 - y, sy = x;
                break;
            default:
                sx = x, sy = y;
                break;
            }
            memcpy(dst + ((size_t)y * dw + x) * c, src + ((size_t)sy * w + sx) * c, (size_t)c);
        }
    *ow = dw;
    *oh = dh;
}

/* The side that becomes R: the short one for center crop and stretch, the long one for pad. */
static int key_side(int w, int h, int crop) {
    return crop == PG_CROP_PAD ? PG_MAX(w, h) : PG_MIN(w, h);
}

static int has_ext(const char *path, const char *ext) {
    size_t n = strlen(path), e = strlen(ext);
    return n >= e && !strcasecmp(path + n - e, ext);
}

/* Decodes a JPEG at the smallest DCT scale whose key side is still >= R. On success
 * *pix holds w x h x *c (1 or 3) pixels, oriented. */
static int decode_jpeg(pg_ingest_worker *w, size_t size, const pg_ingest_params *p,
                       pg_ingest_result *res, uint8_t **pix, int *ow, int *oh, int *oc) {
    int jw, jh, sub, cs;
    if (tjDecompressHeader3(w->tj, w->file, (unsigned long)size, &jw, &jh, &sub, &cs) != 0) {
        skip(res, PG_SKIP_CORRUPT, tjGetErrorStr2(w->tj));
        return 0;
    }
    res->width = jw;
    res->height = jh;
    if (jw <= 0 || jh <= 0 || (long long)jw * jh > p->max_pixels) {
        char d[96];
        snprintf(d, sizeof d, "%dx%d", jw, jh);
        skip(res, PG_SKIP_TOO_LARGE, d);
        return 0;
    }
    int key = key_side(jw, jh, p->crop);
    if (key * 2 < p->resolution && !p->upscale) {
        char d[96];
        snprintf(d, sizeof d, "%dx%d", jw, jh);
        skip(res, PG_SKIP_TOO_SMALL, d);
        return 0;
    }
    int nsf = 0;
    tjscalingfactor *sf = tjGetScalingFactors(&nsf), best = {1, 1};
    int best_key = key;
    for (int i = 0; i < nsf; i++) {
        if (sf[i].num > sf[i].denom) continue;
        int k = TJSCALED(key, sf[i]);
        if (k >= p->resolution && k < best_key) best = sf[i], best_key = k;
    }
    int sw = TJSCALED(jw, best), sh = TJSCALED(jh, best);
    int cmyk = cs == TJCS_CMYK || cs == TJCS_YCCK;
    int gray = cs == TJCS_GRAY;
    int pf = cmyk ? TJPF_CMYK : (gray || p->channels == 1) ? TJPF_GRAY : TJPF_RGB;
    int ps = tjPixelSize[pf];
    if (!grow((void **)&w->pix, &w->pix_cap, (size_t)sw * sh * ps)) {
        skip(res, PG_SKIP_CORRUPT, "out of memory");
        return 0;
    }
    if (tjDecompress2(w->tj, w->file, (unsigned long)size, w->pix, sw, 0, sh, pf, 0) != 0) {
        const char *msg = tjGetErrorStr2(w->tj);
        int fatal = tjGetErrorCode(w->tj) == TJERR_FATAL;
        if (strstr(msg, "Premature end")) {
            skip(res, PG_SKIP_TRUNCATED, msg);
            return 0;
        }
        if (fatal || !strstr(msg, "extraneous bytes")) {
            skip(res, PG_SKIP_CORRUPT, msg);
            return 0;
        }
        res->conv |= 1u << PG_CONV_JPEG_WARNING;
    }
    res->source_gray = gray;
    int c = ps;
    uint8_t *cur = w->pix;
    if (cmyk) {
        /* libjpeg-turbo's convention (Adobe): stored CMYK is inverted, so R = C*K/255. */
        res->conv |= 1u << (cs == TJCS_CMYK ? PG_CONV_CMYK : PG_CONV_YCCK);
        int oc3 = p->channels == 1 ? 1 : 3;
        size_t n = (size_t)sw * sh;
        for (size_t i = 0; i < n; i++) {
            const uint8_t *q = cur + 4 * i;
            unsigned k = q[3];
            unsigned r = (q[0] * k + 127) / 255, g = (q[1] * k + 127) / 255,
                     b = (q[2] * k + 127) / 255;
            if (oc3 == 3) {
                cur[3 * i] = (uint8_t)r, cur[3 * i + 1] = (uint8_t)g, cur[3 * i + 2] = (uint8_t)b;
            } else
                cur[i] = (uint8_t)((299 * r + 587 * g + 114 * b + 500) / 1000);
        }
        c = oc3;
    }
    int o = pg_ingest_exif_orientation(w->file, size);
    if (o != 1) {
        if (!grow((void **)&w->pix2, &w->pix2_cap, (size_t)sw * sh * c)) {
            skip(res, PG_SKIP_CORRUPT, "out of memory");
            return 0;
        }
        orient(cur, sw, sh, c, o, w->pix2, &sw, &sh);
        cur = w->pix2;
        res->conv |= 1u << PG_CONV_EXIF_ORIENTED;
    }
    *pix = cur, *ow = sw, *oh = sh, *oc = c;
    return 1;
}

/* Decodes a PNG (any bit depth, palette, alpha) to 8-bit gray or RGB, dropping alpha. */
static int decode_png(pg_ingest_worker *w, size_t size, const pg_ingest_params *p,
                      pg_ingest_result *res, uint8_t **pix, int *ow, int *oh, int *oc) {
    png_image im;
    memset(&im, 0, sizeof im);
    im.version = PNG_IMAGE_VERSION;
    if (!png_image_begin_read_from_memory(&im, w->file, size)) {
        skip(res, PG_SKIP_CORRUPT, im.message);
        png_image_free(&im);
        return 0;
    }
    res->width = (int)im.width;
    res->height = (int)im.height;
    char d[96];
    snprintf(d, sizeof d, "%ux%u", im.width, im.height);
    if ((long long)im.width * im.height > p->max_pixels) {
        skip(res, PG_SKIP_TOO_LARGE, d);
        png_image_free(&im);
        return 0;
    }
    if (key_side((int)im.width, (int)im.height, p->crop) * 2 < p->resolution && !p->upscale) {
        skip(res, PG_SKIP_TOO_SMALL, d);
        png_image_free(&im);
        return 0;
    }
    int alpha = (im.format & PNG_FORMAT_FLAG_ALPHA) != 0;
    int color = (im.format & PNG_FORMAT_FLAG_COLOR) != 0;
    if (im.format & (PNG_FORMAT_FLAG_LINEAR | PNG_FORMAT_FLAG_COLORMAP))
        res->conv |= 1u << PG_CONV_PNG16;
    int c = (color && p->channels == 3) ? 3 : 1;
    im.format = (c == 3 ? PNG_FORMAT_RGB : PNG_FORMAT_GRAY) | (alpha ? PNG_FORMAT_FLAG_ALPHA : 0);
    int ps = c + alpha;
    if (!grow((void **)&w->pix, &w->pix_cap, (size_t)im.width * im.height * ps)) {
        skip(res, PG_SKIP_CORRUPT, "out of memory");
        png_image_free(&im);
        return 0;
    }
    if (!png_image_finish_read(&im, NULL, w->pix, 0, NULL)) {
        skip(res,
             strstr(im.message, "end") || strstr(im.message, "EOF") ? PG_SKIP_TRUNCATED
                                                                    : PG_SKIP_CORRUPT,
             im.message);
        png_image_free(&im);
        return 0;
    }
    if (alpha) {
        size_t n = (size_t)im.width * im.height;
        for (size_t i = 0; i < n; i++) memmove(w->pix + i * c, w->pix + i * ps, (size_t)c);
        res->conv |= 1u << PG_CONV_ALPHA_DROPPED;
    }
    res->source_gray = !color;
    res->conv |= 1u << PG_CONV_PNG;
    *pix = w->pix, *ow = (int)im.width, *oh = (int)im.height, *oc = c;
    return 1;
}

static void load_square(pg_ingest_worker *w, const char *path, const pg_ingest_params *p,
                        uint8_t *out, pg_ingest_result *res, double *t_mid) {
    memset(res, 0, sizeof *res);
    size_t size = 0;
    if (!read_file(w, path, &size, res)) return;
    static const uint8_t png_sig[8] = {0x89, 'P', 'N', 'G', 0x0D, 0x0A, 0x1A, 0x0A};
    uint8_t *pix;
    int sw, sh, sc, ok;
    if (size >= 3 && w->file[0] == 0xFF && w->file[1] == 0xD8 && w->file[2] == 0xFF) {
        if (has_ext(path, ".png")) res->conv |= 1u << PG_CONV_MISNAMED;
        ok = decode_jpeg(w, size, p, res, &pix, &sw, &sh, &sc);
    } else if (size >= 8 && !memcmp(w->file, png_sig, 8)) {
        if (!has_ext(path, ".png")) res->conv |= 1u << PG_CONV_MISNAMED;
        ok = decode_png(w, size, p, res, &pix, &sw, &sh, &sc);
    } else {
        skip(res, PG_SKIP_NOT_IMAGE, NULL);
        return;
    }
    if (!ok) return;
    int R = p->resolution, C = p->channels;
    if (key_side(sw, sh, p->crop) < R) res->conv |= 1u << PG_CONV_UPSCALED;
    if (sc == 1 && C == 3) res->conv |= 1u << PG_CONV_GRAY_EXPANDED;
    if (sc == 3 && C == 1) {
        /* only reachable through PNG/CMYK paths that already produce gray; kept for safety */
        size_t n = (size_t)sw * sh;
        for (size_t i = 0; i < n; i++)
            pix[i] =
                (uint8_t)((299 * pix[3 * i] + 587 * pix[3 * i + 1] + 114 * pix[3 * i + 2] + 500) /
                          1000);
        sc = 1;
    }
    if (!res->source_gray && C == 1) res->conv |= 1u << PG_CONV_RGB_TO_GRAY;

    int sx = 0, sy = 0, rw = sw, rh = sh, dx = 0, dy = 0, dw = R, dh = R;
    if (p->crop == PG_CROP_CENTER) {
        int side = PG_MIN(sw, sh);
        sx = (sw - side) / 2, sy = (sh - side) / 2, rw = rh = side;
    } else if (p->crop == PG_CROP_PAD) {
        if (sw >= sh)
            dh = PG_MAX(1, (int)((long long)sh * R * 2 + sw) / (2 * sw));
        else
            dw = PG_MAX(1, (int)((long long)sw * R * 2 + sh) / (2 * sh));
        dx = (R - dw) / 2, dy = (R - dh) / 2;
    }
    uint8_t *sq = out;
    if (sc != C) {
        if (!grow((void **)&w->square, &w->square_cap, (size_t)R * R)) {
            skip(res, PG_SKIP_CORRUPT, "out of memory");
            return;
        }
        sq = w->square;
    }
    if (p->crop == PG_CROP_PAD) memset(sq, 0, (size_t)R * R * sc);
    if (!grow((void **)&w->tmp, &w->tmp_cap, sizeof(float) * (size_t)rh * dw * sc)) {
        skip(res, PG_SKIP_CORRUPT, "out of memory");
        return;
    }
    *t_mid = pg_time_now();
    pg_ingest_resize(pix, sw, sc, sx, sy, rw, rh, sq + ((size_t)dy * R + dx) * sc, R * sc, dw, dh,
                     w->tmp);
    if (sq != out) {
        size_t n = (size_t)R * R;
        for (size_t i = 0; i < n; i++) out[3 * i] = out[3 * i + 1] = out[3 * i + 2] = sq[i];
    }
}

/* One file to one square: read, sniff, decode, convert, crop and resize (see ingest.h). */
void pg_ingest_load_square(pg_ingest_worker *w, const char *path, const pg_ingest_params *p,
                           uint8_t *out, pg_ingest_result *res) {
    double t0 = pg_time_now(), mid = -1;
    load_square(w, path, p, out, res, &mid);
    double t1 = pg_time_now();
    if (mid < 0) mid = t1;
    w->t_decode += mid - t0;
    w->t_resize += t1 - mid;
}
