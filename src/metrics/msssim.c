/* MS-SSIM (see msssim.h). Everything in double; the Gaussian window is
 * separable, so each level is a horizontal then a vertical valid pass over the
 * five moment images, with the SSIM terms summed on the fly. */
#include "metrics/msssim.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

static const double level_weights[PG_MSSSIM_LEVELS] = {0.0448, 0.2856, 0.3001, 0.2363, 0.1333};

/* The reference's _FSpecialGauss as a normalised 1-D factor: odd sizes are
 * centred on 0, even sizes on the half-integers. */
static int gauss_window(int h, int w, double *g) {
    int size = PG_MIN(11, PG_MIN(h, w));
    double sigma = size * 1.5 / 11.0, sum = 0;
    double offset = (size % 2 == 0) ? 0.5 : 0.0;
    for (int i = 0; i < size; i++) {
        double x = offset + (double)(i - size / 2);
        g[i] = exp(-(x * x) / (2.0 * sigma * sigma));
        sum += g[i];
    }
    for (int i = 0; i < size; i++) g[i] /= sum;
    return size;
}

/* SSIM and CS means of one level: x, y (h, w, c); tmp holds 5 * h * w * c. */
static void ssim_level(const double *x, const double *y, int h, int w, int c, double *tmp,
                       double *ssim, double *cs) {
    const double c1 = (0.01 * 255) * (0.01 * 255), c2 = (0.03 * 255) * (0.03 * 255);
    double g[11];
    int s = gauss_window(h, w, g);
    int ow = w - s + 1, oh = h - s + 1;
    size_t plane = (size_t)h * ow * c;
    double *hx = tmp, *hy = tmp + plane, *hxx = tmp + 2 * plane, *hyy = tmp + 3 * plane,
           *hxy = tmp + 4 * plane;
    for (int r = 0; r < h; r++)
        for (int ox = 0; ox < ow; ox++)
            for (int ch = 0; ch < c; ch++) {
                double sx = 0, sy = 0, sxx = 0, syy = 0, sxy = 0;
                for (int t = 0; t < s; t++) {
                    size_t i = ((size_t)r * w + ox + t) * c + ch;
                    double a = x[i], b = y[i];
                    sx += g[t] * a;
                    sy += g[t] * b;
                    sxx += g[t] * a * a;
                    syy += g[t] * b * b;
                    sxy += g[t] * a * b;
                }
                size_t o = ((size_t)r * ow + ox) * c + ch;
                hx[o] = sx, hy[o] = sy, hxx[o] = sxx, hyy[o] = syy, hxy[o] = sxy;
            }
    double sum_ssim = 0, sum_cs = 0;
    for (int oy = 0; oy < oh; oy++)
        for (int ox = 0; ox < ow; ox++)
            for (int ch = 0; ch < c; ch++) {
                double mx = 0, my = 0, exx = 0, eyy = 0, exy = 0;
                for (int t = 0; t < s; t++) {
                    size_t i = ((size_t)(oy + t) * ow + ox) * c + ch;
                    mx += g[t] * hx[i];
                    my += g[t] * hy[i];
                    exx += g[t] * hxx[i];
                    eyy += g[t] * hyy[i];
                    exy += g[t] * hxy[i];
                }
                double vxx = exx - mx * mx, vyy = eyy - my * my, vxy = exy - mx * my;
                double v1 = 2.0 * vxy + c2, v2 = vxx + vyy + c2;
                sum_ssim += ((2.0 * mx * my + c1) * v1) / ((mx * mx + my * my + c1) * v2);
                sum_cs += v1 / v2;
            }
    double count = (double)oh * ow * c;
    *ssim = sum_ssim / count;
    *cs = sum_cs / count;
}

static void box_down(const double *src, int h, int w, int c, double *dst) {
    int h2 = h / 2, w2 = w / 2;
    for (int yy = 0; yy < h2; yy++)
        for (int xx = 0; xx < w2; xx++)
            for (int ch = 0; ch < c; ch++) {
                const double *p = src + ((size_t)2 * yy * w + 2 * xx) * c + ch;
                dst[((size_t)yy * w2 + xx) * c + ch] =
                    0.25 * (p[0] + p[c] + p[(size_t)w * c] + p[(size_t)w * c + c]);
            }
}

/* scratch holds 9 * res * res * c doubles. */
static double msssim_pair(const uint8_t *a, const uint8_t *b, int res, int c, double *scratch) {
    size_t n = (size_t)res * res * c;
    double *x = scratch, *y = scratch + n, *nx = scratch + 2 * n, *ny = scratch + 3 * n;
    double *tmp = scratch + 4 * n;
    for (size_t i = 0; i < n; i++) x[i] = a[i], y[i] = b[i];
    double result = 1.0;
    int size = res;
    for (int l = 0; l < PG_MSSSIM_LEVELS; l++) {
        double ssim, cs;
        ssim_level(x, y, size, size, c, tmp, &ssim, &cs);
        /* Clipped at 0 as the reference does (a negative base has no real power). */
        double v = l == PG_MSSSIM_LEVELS - 1 ? ssim : cs;
        result *= pow(v > 0 ? v : 0.0, level_weights[l]);
        if (l == PG_MSSSIM_LEVELS - 1) break;
        box_down(x, size, size, c, nx);
        box_down(y, size, size, c, ny);
        double *swap = x;
        x = nx, nx = swap;
        swap = y;
        y = ny, ny = swap;
        size /= 2;
    }
    return result;
}

static pg_status check_args(int res, int channels) {
    if (res < 16 || res % 16)
        return PG_FAIL(PG_ERR_INVALID,
                       "ms-ssim: %dx%d images; the 5 levels need a size divisible by 16 and "
                       ">= 16",
                       res, res);
    if (channels < 1 || channels > 16)
        return PG_FAIL(PG_ERR_INVALID, "ms-ssim: %d channels (1..16 supported)", channels);
    return PG_OK;
}

pg_status pg_msssim_pair(const uint8_t *a, const uint8_t *b, int res, int channels, double *out) {
    PG_TRY(check_args(res, channels));
    double *scratch = malloc(sizeof(double) * 9 * (size_t)res * res * channels);
    if (!scratch) return PG_FAIL(PG_ERR_OUT_OF_MEMORY, "ms-ssim: out of memory");
    *out = msssim_pair(a, b, res, channels, scratch);
    free(scratch);
    return PG_OK;
}

/* Strided pairs so that the consecutive and the two-set forms share one loop. */
static pg_status mean_strided(const uint8_t *a, const uint8_t *b, size_t stride, size_t pairs,
                              int res, int channels, double *out) {
    PG_TRY(check_args(res, channels));
    if (pairs == 0) return PG_FAIL(PG_ERR_INVALID, "ms-ssim: no image pairs");
    size_t n = (size_t)res * res * channels;
    double total = 0;
    int oom = 0;
#pragma omp parallel reduction(+ : total)
    {
        double *scratch = malloc(sizeof(double) * 9 * n);
        if (!scratch) __atomic_store_n(&oom, 1, __ATOMIC_RELAXED);
#pragma omp for schedule(dynamic, 4)
        for (size_t i = 0; i < pairs; i++)
            if (scratch)
                total += msssim_pair(a + i * stride, b + i * stride, res, channels, scratch);
        free(scratch);
    }
    if (oom) return PG_FAIL(PG_ERR_OUT_OF_MEMORY, "ms-ssim: out of memory for thread scratch");
    *out = total / (double)pairs;
    return PG_OK;
}

pg_status pg_msssim_mean(const uint8_t *images_a, const uint8_t *images_b, size_t pairs, int res,
                         int channels, double *out) {
    return mean_strided(images_a, images_b, (size_t)res * res * channels, pairs, res, channels,
                        out);
}

pg_status pg_msssim_consecutive(const uint8_t *images, size_t count, int res, int channels,
                                double *out) {
    size_t n = (size_t)res * res * channels;
    return mean_strided(images, images + n, 2 * n, count / 2, res, channels, out);
}
