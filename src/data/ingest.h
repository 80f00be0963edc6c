/* src/data/ingest: one image file to one R x R uint8 square. Sniffs the content
 * (JPEG via TurboJPEG with DCT scaling, PNG via libpng), applies EXIF orientation,
 * converts colour, crops/pads/stretches and resizes with Lanczos-3, and builds
 * the mipmap cascade. Calls base only; the prepare driver calls this per file. */
#ifndef PROGAN_DATA_INGEST_H
#define PROGAN_DATA_INGEST_H

#include <stddef.h>
#include <stdint.h>

#include "base/base.h"

typedef enum { PG_CROP_CENTER = 0, PG_CROP_PAD = 1, PG_CROP_STRETCH = 2 } pg_crop_mode;
const char *pg_crop_mode_name(int crop);

/* Why a file was not written. Names (pg_skip_reason_name) go into the report. */
typedef enum {
    PG_SKIP_NONE = 0,
    PG_SKIP_UNREADABLE,   /* open/read failed: permissions, dangling symlink, I/O error */
    PG_SKIP_NOT_REGULAR,  /* a FIFO, socket or device named like an image */
    PG_SKIP_EMPTY,        /* zero bytes */
    PG_SKIP_FILE_TOO_BIG, /* more bytes than any sane image (limit 1 GiB) */
    PG_SKIP_NOT_IMAGE,    /* neither a JPEG nor a PNG signature */
    PG_SKIP_CORRUPT,      /* the decoder failed: bad header, bad data, unsupported coding */
    PG_SKIP_TRUNCATED,    /* the decoder reached the end of the data early */
    PG_SKIP_TOO_LARGE,    /* width*height above --max-pixels (never allocated) */
    PG_SKIP_TOO_SMALL,    /* the side that becomes R is below R/2 and --upscale is off */
    PG_SKIP_COUNT
} pg_skip_reason;
const char *pg_skip_reason_name(pg_skip_reason r);

/* What was done to an image that was written (bit flags, several may be set). */
typedef enum {
    PG_CONV_GRAY_EXPANDED = 0, /* 1-channel source written as RGB */
    PG_CONV_RGB_TO_GRAY,       /* colour source written as 1 channel (--channels 1) */
    PG_CONV_CMYK,              /* Adobe CMYK JPEG converted to RGB */
    PG_CONV_YCCK,              /* YCCK JPEG converted to RGB */
    PG_CONV_ALPHA_DROPPED,     /* the alpha channel of a PNG was dropped */
    PG_CONV_PNG16,             /* 16-bit or palette PNG reduced to 8-bit */
    PG_CONV_EXIF_ORIENTED,     /* EXIF orientation 2..8 applied */
    PG_CONV_PNG,               /* read as PNG */
    PG_CONV_MISNAMED,          /* content does not match the extension (e.g. a PNG named .jpg) */
    PG_CONV_UPSCALED,          /* source side < R, upscaled */
    PG_CONV_JPEG_WARNING,      /* libjpeg warned about harmless extraneous bytes */
    PG_CONV_COUNT
} pg_conv_kind;
const char *pg_conv_kind_name(pg_conv_kind k);

typedef struct {
    int resolution;       /* R, a power of two 4..4096 */
    int channels;         /* 1 or 3: the channels written into out */
    int crop;             /* pg_crop_mode */
    int upscale;          /* 1: accept sources below R/2 */
    long long max_pixels; /* width*height above this is refused before any allocation */
} pg_ingest_params;

/* Per-thread decoder state and scratch buffers, reused across files. */
typedef struct pg_ingest_worker pg_ingest_worker;
pg_status pg_ingest_worker_create(pg_ingest_worker **out);
void pg_ingest_worker_destroy(pg_ingest_worker *w);
/* Seconds this worker spent reading + decoding and cropping + resizing, since creation. */
void pg_ingest_worker_times(const pg_ingest_worker *w, double *decode, double *resize);

typedef struct {
    pg_skip_reason skip; /* PG_SKIP_NONE when out was written */
    unsigned conv;       /* bit (1u << pg_conv_kind) for each conversion done */
    int source_gray;     /* the source had one channel */
    int width, height;   /* as stored in the file (before orientation) */
    char detail[160];    /* the decoder's message for a skip */
} pg_ingest_result;

/* Reads path and writes the R x R x channels square (uint8, HWC) into out. Never fails
 * as a function: every problem with the file is a skip reason in res. */
void pg_ingest_load_square(pg_ingest_worker *w, const char *path, const pg_ingest_params *p,
                           uint8_t *out, pg_ingest_result *res);

/* Resizes the rectangle (sx, sy, sw, sh) of src (width src_w, c channels, HWC) to
 * (dw, dh) with a Lanczos-3 filter widened by the downscale factor (antialiasing),
 * writing rows of dst_stride bytes. tmp holds sh * dw * c floats. */
void pg_ingest_resize(const uint8_t *src, int src_w, int c, int sx, int sy, int sw, int sh,
                      uint8_t *dst, int dst_stride, int dw, int dh, float *tmp);

/* Fills levels R/2 .. 4 below top (R x R x c uint8): level k is rint half-to-even of the
 * mean of each 2^k x 2^k block of top, which equals the float 2x2 cascade of the
 * reference exactly (all partial sums are exact). dst[i] points at level R >> (i+1). */
void pg_ingest_mipmaps(const uint8_t *top, int R, int c, uint8_t *const *dst, uint32_t *scratch);

/* The same levels, bit for bit, with contiguous row loops the compiler vectorises
 * (mipmap.c). scratch holds pg_ingest_mipmaps_scratch_bytes(R, c) bytes. */
size_t pg_ingest_mipmaps_scratch_bytes(int R, int c);
void pg_ingest_mipmaps_rows(const uint8_t *top, int R, int c, uint8_t *const *dst, void *scratch);

/* The EXIF orientation (1..8) in a JPEG's APP1 segment, 1 when absent or malformed. */
int pg_ingest_exif_orientation(const uint8_t *jpeg, size_t size);

#endif
