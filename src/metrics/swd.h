/* src/metrics/swd: sliced Wasserstein distance between two image sets, as
 * progan-spec.md "Metrics" (and the ProGAN reference) defines it, on the CPU
 * with OpenMP; plus the Laplacian pyramid it uses, exposed for the tests.
 * Calls src/base only (Philox draws keyed by the caller's seed). */
#ifndef PROGAN_METRICS_SWD_H
#define PROGAN_METRICS_SWD_H

#include <stddef.h>
#include <stdint.h>
#include "base/base.h"

#define PG_SWD_MAX_LEVELS   16
#define PG_SWD_MAX_CHANNELS 4

typedef struct {
    int patches_per_image; /* 128: random patches per image per level */
    int patch_size;        /* 7: odd; descriptors are patch_size^2 * C long */
    int dirs_per_repeat;   /* 128: unit-norm Gaussian directions per repeat */
    int dir_repeats;       /* 4: independent direction sets, averaged */
    int min_resolution;    /* 16: the coarsest pyramid level */
    uint64_t seed;         /* keys every random draw (see below) */
} pg_swd_options;

/* The spec's defaults with seed 0. */
pg_swd_options pg_swd_options_default(void);

typedef struct {
    int num_levels;
    int resolution[PG_SWD_MAX_LEVELS];  /* R, R/2, ..., min_resolution */
    double distance[PG_SWD_MAX_LEVELS]; /* SWD x 1e3 per level */
    double average;                     /* mean of distance[] */
} pg_swd_result;

/* SWD between set a and set b: count images each, (count, res, res, channels)
 * uint8 NHWC. Levels: res, res/2, ... while >= min_resolution; level l is the
 * Laplacian G_l - up(G_{l+1}) except the last, which is G_l itself.
 * Random draws (part of the contract, so a test can redo them):
 *   patch k = j*patches_per_image + i of image j of set s (0 = a, 1 = b) at
 *   level l, h = patch_size/2, W = that level's size:
 *     x = h + ((uint64)pg_rand_u32(seed, l, s, 2k)     * (W - 2h) >> 32)
 *     y = h + ((uint64)pg_rand_u32(seed, l, s, 2k + 1) * (W - 2h) >> 32)
 *   descriptor element (dy, dx, c) -> index (dy * patch_size + dx) * C + c;
 *   direction t of repeat r at level l, element e:
 *     pg_rand_normal(seed, l, 2 + r, t * dim + e), then normalised in double.
 * Each set's descriptors are z-scored per level and channel (population std;
 * a constant channel is only centred). */
pg_status pg_swd_compute(const uint8_t *images_a, const uint8_t *images_b, size_t count, int res,
                         int channels, const pg_swd_options *options, pg_swd_result *out);

/* ---- the pyramid, one float (h, w, c) image at a time ---- */

/* [1 4 6 4 1]^2/256 blur with reflect-101 borders, keeping even rows and
 * columns: (h, w, c) -> (h/2, w/2, c). h, w even and >= 4. */
pg_status pg_swd_pyr_down(const float *src, int h, int w, int c, float *dst);
/* Zero-insert to (2h, 2w, c), then the same blur times 4. h, w >= 2. */
pg_status pg_swd_pyr_up(const float *src, int h, int w, int c, float *dst);
/* levels[l] receives (h >> l, w >> l, c): Laplacian levels, the last one Gaussian. */
pg_status pg_swd_laplacian_build(const float *image, int h, int w, int c, int num_levels,
                                 float *const *levels);
/* The inverse: out (h, w, c) = up(...up(levels[last]) + ...) + levels[0]. */
pg_status pg_swd_laplacian_reconstruct(const float *const *levels, int h, int w, int c,
                                       int num_levels, float *out);

#endif
