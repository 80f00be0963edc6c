/* src/data/dataset: the prepared dataset file (format below), its reader (mmap),
 * header encoding shared with the writer in prepare.c, and per-level statistics.
 * Also declares the preparation entry points (prepare.c). Calls base and io.
 *
 * Dataset file format, version 1. All integers little-endian.
 *   bytes 0..511: header
 *     0   char[8]   magic "PGDSET1\n"
 *     8   u32       version (1)
 *     12  u32       header size in bytes (512)
 *     16  u32       count: number of images
 *     20  u32       channels: 1 (gray) or 3 (RGB)
 *     24  u32       resolution R of the top level (power of two, 4..4096)
 *     28  u32       levels: log2(R) - 1 (R, R/2, ..., 4)
 *     32  u64       file size in bytes (a shorter file is truncated and refused)
 *     40  u8[16]    pixel hash: XXH3-128 (canonical big-endian bytes) of every level's
 *                   pixels, levels in file order
 *     56  u8[16]    options hash: XXH3-128 of the canonical options string
 *                   (pg_prepare_options_canonical: everything that changes the pixels)
 *     72  u8[16]    source hash: XXH3-128 of the source listing (relative path, size,
 *                   mtime of every candidate file, in path order) and the options hash;
 *                   the cache key of pg_prepare_cached
 *     88  u32       crop mode (0 center, 1 pad, 2 stretch)
 *     92  u32       upscale (0/1)
 *     96  u32       channels requested (0 auto, 1, 3)
 *     100 u32       reserved (0)
 *     104 u64       max pixels
 *     112 u8[16]    reserved (0)
 *     128 12 x {u64 offset, u32 resolution, u32 reserved}: level i (i < levels) has
 *                   resolution R >> i and starts at offset, a multiple of 4096
 *                   (page-aligned for mmap); unused entries are zero
 *     320 u8[184]   reserved (0)
 *     504 u64       XXH3-64 of header bytes 0..503 (detects a damaged header)
 *   level i: count x res x res x channels uint8, NHWC (image, row, column, channel), the
 *     first level at 4096, each following level at the next multiple of 4096; the file
 *     ends right after the last level (4 x 4).
 * Level R/2^k is rint half-to-even of the mean of each 2^k x 2^k block of level R:
 * exactly the reference's float32 2x2 cascade (progan-spec.md, "Dataset"). */
#ifndef PROGAN_DATA_DATASET_H
#define PROGAN_DATA_DATASET_H

#include <stdint.h>
#include <stdio.h>

#include "base/base.h"

#define PG_DATASET_MAGIC        "PGDSET1\n"
#define PG_DATASET_VERSION      1
#define PG_DATASET_HEADER_BYTES 512
#define PG_DATASET_ALIGN        4096
#define PG_DATASET_MAX_LEVELS   12
#define PG_DATASET_MAX_RES      4096

typedef struct {
    uint32_t version, count, channels, resolution, levels;
    uint64_t file_size;
    uint8_t pixel_hash[16], options_hash[16], source_hash[16];
    uint32_t crop, upscale, channels_requested;
    uint64_t max_pixels;
    uint64_t level_offset[PG_DATASET_MAX_LEVELS];
    uint32_t level_res[PG_DATASET_MAX_LEVELS];
} pg_dataset_header;

/* Fills level_res/level_offset/file_size from count, channels and resolution. */
void pg_dataset_header_layout(pg_dataset_header *h);
void pg_dataset_header_encode(const pg_dataset_header *h, uint8_t out[PG_DATASET_HEADER_BYTES]);
/* Checks magic, version, checksum and field ranges; path is only used in messages. */
pg_status pg_dataset_header_decode(const uint8_t *buf, size_t size, const char *path,
                                   pg_dataset_header *h);
/* 1 when the file starts with the dataset magic (used by `progan info` to dispatch). */
int pg_dataset_file_is_dataset(const char *path);
/* Lower-case hex of 16 bytes into out[33]. */
void pg_dataset_hex(const uint8_t bytes[16], char out[33]);

typedef struct pg_dataset pg_dataset; /* an open, mmapped dataset file */
pg_status pg_dataset_open(const char *path, pg_dataset **out);
void pg_dataset_close(pg_dataset *ds);
int pg_dataset_count(const pg_dataset *ds);
int pg_dataset_channels(const pg_dataset *ds);   /* 1 or 3 */
int pg_dataset_resolution(const pg_dataset *ds); /* the top level R */
/* [count, res, res, C] uint8, NHWC; NULL if absent. */
const uint8_t *pg_dataset_level(const pg_dataset *ds, int resolution);
/* Hex XXH3-128 of (pixel hash, options hash): the content hash of pixels + options. */
const char *pg_dataset_hash(const pg_dataset *ds);
const pg_dataset_header *pg_dataset_header_get(const pg_dataset *ds);
/* Per-channel mean and population std of one level (OpenMP). */
pg_status pg_dataset_level_stats(const pg_dataset *ds, int resolution, double mean[3],
                                 double std[3]);
/* Recomputes the pixel hash and compares it with the header. */
pg_status pg_dataset_verify(const pg_dataset *ds);
/* Prints the header and per-level statistics (`progan info`). */
pg_status pg_dataset_describe(const char *path, FILE *out, int verify);

/* ---- preparation (prepare.c) ---- */
/* Where pg_prepare_run spent its time (seconds), filled when pg_prepare_options.timing is set.
 * decode/resize/mipmaps are summed over the worker threads (thread-seconds); the others are
 * wall-clock time of the step. */
typedef struct {
    double list;     /* listing the source folder */
    double convert;  /* the decode/resize/mipmap/write loop, wall */
    double decode;   /* reading + decoding + colour/orientation, thread-seconds */
    double resize;   /* crop + Lanczos resize into the R x R square, thread-seconds */
    double mipmaps;  /* the mipmap cascade, thread-seconds */
    double write;    /* pwrite of every level into the temporary file (in the loop) */
    double hash;     /* pixel hashing done in the loop (streamed with the writes) */
    double finalize; /* after the loop: compaction, the remaining hashing, the header */
    double commit;   /* fsync + rename */
    double total;    /* the whole pg_prepare_run, report included */
} pg_prepare_timing;

typedef struct {
    int resolution;             /* R: power of two 4..4096 (required, no default) */
    int channels;               /* 0 = auto (3 unless every written image is gray), 1 or 3 */
    int crop;                   /* pg_crop_mode: center (default), pad, stretch */
    int upscale;                /* 0: skip images whose key side is below R/2 */
    long long max_pixels;       /* refuse width*height above this before decoding: 100,000,000 */
    int threads;                /* 0 = OpenMP default */
    int quiet;                  /* 1: no progress output */
    volatile const int *cancel; /* when non-NULL and set (e.g. by SIGINT), stop cleanly */
    pg_prepare_timing *timing;  /* when non-NULL, filled with the time spent per step */
} pg_prepare_options;

void pg_prepare_options_default(pg_prepare_options *o);
/* The string hashed into the options hash (every field that changes the pixels). */
void pg_prepare_options_canonical(const pg_prepare_options *o, char *buf, size_t size);
/* Prepares dataset_path from src_dir; writes prepare-report.txt beside it. */
pg_status pg_prepare_run(const char *src_dir, const char *dataset_path,
                         const pg_prepare_options *o);
/* Reuses dataset_path when its recorded source listing + options match, else prepares. */
pg_status pg_prepare_cached(const char *src_dir, const char *dataset_path,
                            const pg_prepare_options *o);

/* A dataset file as is, or a folder of images prepared at resolution into the
 * cache (cache_dir/<folder name>-<resolution>.pgd, reused while unchanged):
 * writes the dataset file's path into path. cancel as in pg_prepare_options. */
pg_status pg_dataset_resolve(const char *data, const char *cache_dir, int resolution,
                             volatile const int *cancel, char *path, size_t size);
/* Where pg_dataset_resolve keeps a folder's dataset at a resolution. */
void pg_dataset_cache_path(const char *folder, const char *cache_dir, int resolution, char *path,
                           size_t size);
#endif
