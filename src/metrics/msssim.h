/* src/metrics/msssim: multi-scale SSIM between pairs of uint8 images, as
 * progan-spec.md "Metrics" (and the ProGAN reference's ms_ssim.py) defines it;
 * the diversity metric over consecutive pairs of generated images. CPU, OpenMP.
 * Calls src/base only. */
#ifndef PROGAN_METRICS_MSSSIM_H
#define PROGAN_METRICS_MSSSIM_H

#include <stddef.h>
#include <stdint.h>
#include "base/base.h"

#define PG_MSSSIM_LEVELS 5

/* MS-SSIM of one pair of (res, res, channels) uint8 images: k1 0.01, k2 0.03,
 * max 255, 11x11 Gaussian window sigma 1.5 (size min(11, level size), sigma
 * scaled by size/11), valid filtering per channel, 5 levels with 2x2 box
 * downsampling, weights [0.0448, 0.2856, 0.3001, 0.2363, 0.1333], cs and ssim
 * clipped at 0. res must be divisible by 16. */
pg_status pg_msssim_pair(const uint8_t *a, const uint8_t *b, int res, int channels, double *out);

/* Mean MS-SSIM over pairs (a[i], b[i]), i < pairs; each set is
 * (pairs, res, res, channels). OpenMP over pairs. */
pg_status pg_msssim_mean(const uint8_t *images_a, const uint8_t *images_b, size_t pairs, int res,
                         int channels, double *out);

/* Mean over consecutive pairs (0,1), (2,3), ... of one set of count images
 * (an odd last image is ignored), as the reference evaluates generators. */
pg_status pg_msssim_consecutive(const uint8_t *images, size_t count, int res, int channels,
                                double *out);

#endif
