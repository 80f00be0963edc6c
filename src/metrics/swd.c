/* Sliced Wasserstein distance (see swd.h): per level, every image's pyramid is
 * rebuilt and patched (OpenMP over images), descriptors are z-scored, then
 * projected on chunks of directions (OpenMP over patch blocks) and each
 * direction's projections radix-sorted and compared (OpenMP over directions). */
#include "metrics/swd.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

/* Projections of both sets for a chunk of directions are kept under this. */
#define PROJ_BUDGET_BYTES (256u << 20)
#define PROJ_BLOCK        64

pg_swd_options pg_swd_options_default(void) {
    return (pg_swd_options){.patches_per_image = 128,
                            .patch_size = 7,
                            .dirs_per_repeat = 128,
                            .dir_repeats = 4,
                            .min_resolution = 16,
                            .seed = 0};
}

/* ------------------------------------------------------------------ pyramid */

static inline int reflect101(int i, int n) {
    if (i < 0) i = -i;
    if (i >= n) i = 2 * n - 2 - i;
    return i;
}

/* The blur is separable: [1 4 6 4 1]/16 per axis; tmp holds (h, w/2, c). */
static void pyr_down(const float *src, int h, int w, int c, float *dst, float *tmp) {
    static const float k[5] = {1 / 16.f, 4 / 16.f, 6 / 16.f, 4 / 16.f, 1 / 16.f};
    int w2 = w / 2, h2 = h / 2;
    for (int y = 0; y < h; y++)
        for (int x = 0; x < w2; x++)
            for (int ch = 0; ch < c; ch++) {
                float s = 0;
                for (int t = 0; t < 5; t++)
                    s += k[t] * src[((size_t)y * w + reflect101(2 * x + t - 2, w)) * c + ch];
                tmp[((size_t)y * w2 + x) * c + ch] = s;
            }
    for (int y = 0; y < h2; y++)
        for (int x = 0; x < w2; x++)
            for (int ch = 0; ch < c; ch++) {
                float s = 0;
                for (int t = 0; t < 5; t++)
                    s += k[t] * tmp[((size_t)reflect101(2 * y + t - 2, h) * w2 + x) * c + ch];
                dst[((size_t)y * w2 + x) * c + ch] = s;
            }
}

/* Zero-insertion means only even taps of the reflected index hit a sample;
 * per axis the kernel is [1 4 6 4 1]/8 (4 x the 2D one). tmp holds (h, 2w, c). */
static void pyr_up(const float *src, int h, int w, int c, float *dst, float *tmp) {
    static const float k[5] = {1 / 8.f, 4 / 8.f, 6 / 8.f, 4 / 8.f, 1 / 8.f};
    int W = 2 * w, H = 2 * h;
    for (int y = 0; y < h; y++)
        for (int x = 0; x < W; x++)
            for (int ch = 0; ch < c; ch++) {
                float s = 0;
                for (int t = 0; t < 5; t++) {
                    int j = reflect101(x + t - 2, W);
                    if (!(j & 1)) s += k[t] * src[((size_t)y * w + j / 2) * c + ch];
                }
                tmp[((size_t)y * W + x) * c + ch] = s;
            }
    for (int y = 0; y < H; y++)
        for (int x = 0; x < W; x++)
            for (int ch = 0; ch < c; ch++) {
                float s = 0;
                for (int t = 0; t < 5; t++) {
                    int i = reflect101(y + t - 2, H);
                    if (!(i & 1)) s += k[t] * tmp[((size_t)(i / 2) * W + x) * c + ch];
                }
                dst[((size_t)y * W + x) * c + ch] = s;
            }
}

pg_status pg_swd_pyr_down(const float *src, int h, int w, int c, float *dst) {
    if (h < 4 || w < 4 || (h & 1) || (w & 1) || c < 1)
        return PG_FAIL(PG_ERR_INVALID, "pyr_down: %dx%dx%d must be even sizes >= 4", h, w, c);
    float *tmp = malloc(sizeof(float) * (size_t)h * (w / 2) * c);
    if (!tmp) return PG_FAIL(PG_ERR_OUT_OF_MEMORY, "pyr_down: out of memory");
    pyr_down(src, h, w, c, dst, tmp);
    free(tmp);
    return PG_OK;
}

pg_status pg_swd_pyr_up(const float *src, int h, int w, int c, float *dst) {
    if (h < 2 || w < 2 || c < 1)
        return PG_FAIL(PG_ERR_INVALID, "pyr_up: %dx%dx%d must be sizes >= 2", h, w, c);
    float *tmp = malloc(sizeof(float) * (size_t)h * 2 * w * c);
    if (!tmp) return PG_FAIL(PG_ERR_OUT_OF_MEMORY, "pyr_up: out of memory");
    pyr_up(src, h, w, c, dst, tmp);
    free(tmp);
    return PG_OK;
}

static pg_status check_levels(int h, int w, int c, int num_levels) {
    if (num_levels < 1 || num_levels > PG_SWD_MAX_LEVELS || c < 1 ||
        (num_levels > 1 && ((h >> (num_levels - 2)) < 4 || (w >> (num_levels - 2)) < 4)) ||
        h % (1 << (num_levels - 1)) || w % (1 << (num_levels - 1)))
        return PG_FAIL(PG_ERR_INVALID,
                       "laplacian pyramid: %d levels do not fit a %dx%dx%d image (sizes must "
                       "halve evenly and every level but the last stay >= 4)",
                       num_levels, h, w, c);
    return PG_OK;
}

/* Gaussian levels go through levels[] themselves, so no extra full-size buffer. */
pg_status pg_swd_laplacian_build(const float *image, int h, int w, int c, int num_levels,
                                 float *const *levels) {
    PG_TRY(check_levels(h, w, c, num_levels));
    size_t n0 = (size_t)h * w * c;
    float *tmp = malloc(sizeof(float) * n0 * 2);
    if (!tmp) return PG_FAIL(PG_ERR_OUT_OF_MEMORY, "laplacian pyramid: out of memory");
    float *up = tmp + n0;
    memcpy(levels[0], image, sizeof(float) * n0);
    for (int l = 1; l < num_levels; l++) {
        int hl = h >> (l - 1), wl = w >> (l - 1);
        pyr_down(levels[l - 1], hl, wl, c, levels[l], tmp);
        pyr_up(levels[l], hl / 2, wl / 2, c, up, tmp);
        size_t n = (size_t)hl * wl * c;
        for (size_t i = 0; i < n; i++) levels[l - 1][i] -= up[i];
    }
    free(tmp);
    return PG_OK;
}

pg_status pg_swd_laplacian_reconstruct(const float *const *levels, int h, int w, int c,
                                       int num_levels, float *out) {
    PG_TRY(check_levels(h, w, c, num_levels));
    size_t n0 = (size_t)h * w * c;
    float *buf = malloc(sizeof(float) * n0 * 2);
    if (!buf) return PG_FAIL(PG_ERR_OUT_OF_MEMORY, "laplacian pyramid: out of memory");
    float *tmp = buf + n0;
    int last = num_levels - 1;
    memcpy(out, levels[last], sizeof(float) * (size_t)(h >> last) * (w >> last) * c);
    for (int l = last - 1; l >= 0; l--) {
        int hl = h >> l, wl = w >> l;
        pyr_up(out, hl / 2, wl / 2, c, buf, tmp);
        size_t n = (size_t)hl * wl * c;
        for (size_t i = 0; i < n; i++) out[i] = buf[i] + levels[l][i];
    }
    free(buf);
    return PG_OK;
}

/* -------------------------------------------------------------- descriptors */

/* One image's pyramid level `level` (Laplacian, or Gaussian when last) into
 * out; scratch holds 4 full-size images. */
static void image_level(const uint8_t *img, int res, int c, int level, int last, float *out,
                        float *scratch) {
    size_t n0 = (size_t)res * res * c;
    float *g = scratch, *next = scratch + n0, *tmp = scratch + 2 * n0, *up = scratch + 3 * n0;
    for (size_t i = 0; i < n0; i++) g[i] = img[i];
    int r = res;
    for (int l = 0; l < level; l++, r /= 2) {
        pyr_down(g, r, r, c, next, tmp);
        float *swap = g;
        g = next;
        next = swap;
    }
    size_t n = (size_t)r * r * c;
    if (last) {
        memcpy(out, g, sizeof(float) * n);
        return;
    }
    pyr_down(g, r, r, c, next, tmp);
    pyr_up(next, r / 2, r / 2, c, up, tmp);
    for (size_t i = 0; i < n; i++) out[i] = g[i] - up[i];
}

/* Fills desc (count * P, dim) for one set at one level, then z-scores it. */
static void set_descriptors(const uint8_t *images, size_t count, int res, int c, int level,
                            int last, int set, const pg_swd_options *o, float *desc, int *oom) {
    int r = res >> level, ps = o->patch_size, half = ps / 2, P = o->patches_per_image;
    size_t dim = (size_t)ps * ps * c, img_size = (size_t)res * res * c;
    uint64_t span = (uint64_t)(r - 2 * half);
#pragma omp parallel
    {
        float *scratch = malloc(sizeof(float) * img_size * 5);
        float *lvl = scratch ? scratch + 4 * img_size : NULL;
        if (!scratch) __atomic_store_n(oom, 1, __ATOMIC_RELAXED);
#pragma omp for schedule(dynamic, 4)
        for (size_t j = 0; j < count; j++) {
            if (!scratch) continue;
            image_level(images + j * img_size, res, c, level, last, lvl, scratch);
            for (int i = 0; i < P; i++) {
                uint64_t k = (uint64_t)j * P + i;
                int x =
                    half + (int)(((uint64_t)pg_rand_u32(o->seed, level, set, 2 * k) * span) >> 32);
                int y = half +
                        (int)(((uint64_t)pg_rand_u32(o->seed, level, set, 2 * k + 1) * span) >> 32);
                float *d = desc + k * dim;
                for (int dy = 0; dy < ps; dy++)
                    memcpy(d + (size_t)dy * ps * c,
                           lvl + ((size_t)(y - half + dy) * r + (x - half)) * c,
                           sizeof(float) * ps * c);
            }
        }
        free(scratch);
    }
    /* Two passes in double: mean, then population std per channel. */
    size_t n = count * P * (size_t)ps * ps;
    double mean[PG_SWD_MAX_CHANNELS] = {0}, var[PG_SWD_MAX_CHANNELS] = {0};
    size_t total = n * c;
    for (int ch = 0; ch < c; ch++) {
        double s = 0;
#pragma omp parallel for reduction(+ : s) schedule(static)
        for (size_t i = ch; i < total; i += c) s += desc[i];
        mean[ch] = s / (double)n;
        double v = 0;
#pragma omp parallel for reduction(+ : v) schedule(static)
        for (size_t i = ch; i < total; i += c) v += (desc[i] - mean[ch]) * (desc[i] - mean[ch]);
        var[ch] = v / (double)n;
    }
    float fmean[PG_SWD_MAX_CHANNELS], fscale[PG_SWD_MAX_CHANNELS];
    for (int ch = 0; ch < c; ch++) {
        fmean[ch] = (float)mean[ch];
        fscale[ch] = var[ch] > 0 ? (float)(1.0 / sqrt(var[ch])) : 1.0f;
    }
#pragma omp parallel for schedule(static)
    for (size_t i = 0; i < total; i += c)
        for (int ch = 0; ch < c; ch++) desc[i + ch] = (desc[i + ch] - fmean[ch]) * fscale[ch];
}

/* ---------------------------------------------------------- project & sort */

/* proj (nd, n) [direction][patch] = desc (n, dim) x dirs (dim, ndp), where
 * ndp is nd rounded up to 8 and the pad columns are zero. A 4-patch x
 * 8-direction register tile (GCC vector types, so any x86/ARM SIMD width
 * works): each direction vector loaded serves 4 patches. */
typedef float v4f __attribute__((vector_size(16)));
static void project(const float *desc, size_t n, size_t dim, const float *dirs, int nd, int ndp,
                    float *proj, int *oom) {
    size_t blocks = (n + PROJ_BLOCK - 1) / PROJ_BLOCK;
#pragma omp parallel
    {
        float *acc = aligned_alloc(64, sizeof(float) * PROJ_BLOCK * ndp);
        if (!acc) __atomic_store_n(oom, 1, __ATOMIC_RELAXED);
#pragma omp for schedule(static)
        for (size_t b = 0; b < blocks; b++) {
            if (!acc) continue;
            size_t p0 = b * PROJ_BLOCK, pn = PG_MIN((size_t)PROJ_BLOCK, n - p0);
            for (size_t p = 0; p < pn; p += 4) {
                const float *x[4];
                for (int i = 0; i < 4; i++) x[i] = desc + (p0 + PG_MIN(p + i, pn - 1)) * dim;
                for (int d0 = 0; d0 < ndp; d0 += 8) {
                    v4f a[4][2] = {{{0}}};
                    for (size_t e = 0; e < dim; e++) {
                        v4f w0, w1;
                        memcpy(&w0, dirs + e * ndp + d0, sizeof w0);
                        memcpy(&w1, dirs + e * ndp + d0 + 4, sizeof w1);
                        for (int i = 0; i < 4; i++) {
                            float xe = x[i][e];
                            a[i][0] += xe * w0;
                            a[i][1] += xe * w1;
                        }
                    }
                    for (int i = 0; i < 4 && p + i < pn; i++)
                        memcpy(acc + (p + i) * ndp + d0, a[i], sizeof a[i]);
                }
            }
            for (int d = 0; d < nd; d++)
                for (size_t p = 0; p < pn; p++) proj[(size_t)d * n + p0 + p] = acc[p * ndp + d];
        }
        free(acc);
    }
}

/* Order-preserving map of float bits to unsigned (negatives flipped). */
static inline uint32_t float_key(uint32_t bits) {
    return bits ^ ((bits >> 31) ? 0xFFFFFFFFu : 0x80000000u);
}
static inline float key_float(uint32_t key) {
    uint32_t bits = key ^ ((key >> 31) ? 0x80000000u : 0xFFFFFFFFu);
    float f;
    memcpy(&f, &bits, 4);
    return f;
}

/* LSD radix sort, 4 passes of 8 bits: O(n), where qsort on millions of
 * projections per direction would dominate the whole metric. */
static void radix_sort_keys(uint32_t *keys, uint32_t *tmp, size_t n) {
    for (int shift = 0; shift < 32; shift += 8) {
        size_t count[257] = {0};
        for (size_t i = 0; i < n; i++) count[((keys[i] >> shift) & 0xFF) + 1]++;
        for (int b = 0; b < 256; b++) count[b + 1] += count[b];
        for (size_t i = 0; i < n; i++) tmp[count[(keys[i] >> shift) & 0xFF]++] = keys[i];
        uint32_t *swap = keys;
        keys = tmp;
        tmp = swap;
    }
}

/* Sum over directions of sum_i |sort(a)_i - sort(b)_i|. */
static double sorted_distance(float *proj_a, float *proj_b, size_t n, int nd, int *oom) {
    double total = 0;
#pragma omp parallel reduction(+ : total)
    {
        uint32_t *tmp = malloc(sizeof(uint32_t) * n);
        if (!tmp) __atomic_store_n(oom, 1, __ATOMIC_RELAXED);
#pragma omp for schedule(dynamic, 1)
        for (int d = 0; d < nd; d++) {
            if (!tmp) continue;
            uint32_t *ka = (uint32_t *)(proj_a + (size_t)d * n);
            uint32_t *kb = (uint32_t *)(proj_b + (size_t)d * n);
            for (size_t i = 0; i < n; i++) {
                ka[i] = float_key(ka[i]);
                kb[i] = float_key(kb[i]);
            }
            radix_sort_keys(ka, tmp, n);
            radix_sort_keys(kb, tmp, n);
            double s = 0;
            for (size_t i = 0; i < n; i++) s += fabs((double)key_float(ka[i]) - key_float(kb[i]));
            total += s;
        }
        free(tmp);
    }
    return total;
}

/* Directions t0..t0+nd of repeat r as (dim, ndp), each column of unit norm,
 * columns nd..ndp zero. */
static void make_dirs(const pg_swd_options *o, int level, int repeat, size_t dim, int t0, int nd,
                      int ndp, float *dirs) {
    memset(dirs, 0, sizeof(float) * dim * ndp);
    for (int t = 0; t < nd; t++) {
        double norm = 0;
        for (size_t e = 0; e < dim; e++) {
            float v = pg_rand_normal(o->seed, level, 2 + repeat, (uint64_t)(t0 + t) * dim + e);
            dirs[e * ndp + t] = v;
            norm += (double)v * v;
        }
        double inv = norm > 0 ? 1.0 / sqrt(norm) : 0.0;
        for (size_t e = 0; e < dim; e++) dirs[e * ndp + t] = (float)(dirs[e * ndp + t] * inv);
    }
}

/* ------------------------------------------------------------------ driver */

static pg_status check_args(size_t count, int res, int channels, const pg_swd_options *o) {
    if (count == 0)
        return PG_FAIL(PG_ERR_INVALID, "swd: the image sets are empty (need >= 1 image each)");
    if (channels < 1 || channels > PG_SWD_MAX_CHANNELS)
        return PG_FAIL(PG_ERR_INVALID, "swd: %d channels (1..%d supported)", channels,
                       PG_SWD_MAX_CHANNELS);
    if (o->patch_size < 1 || !(o->patch_size & 1) || o->patches_per_image < 1 ||
        o->dirs_per_repeat < 1 || o->dir_repeats < 1 || o->min_resolution < o->patch_size)
        return PG_FAIL(PG_ERR_INVALID,
                       "swd: bad options (patch_size %d must be odd, patches %d, dirs %d, "
                       "repeats %d >= 1, min_resolution %d >= patch_size)",
                       o->patch_size, o->patches_per_image, o->dirs_per_repeat, o->dir_repeats,
                       o->min_resolution);
    if (res < o->min_resolution || res < o->patch_size)
        return PG_FAIL(PG_ERR_INVALID,
                       "swd: images of %dx%d are smaller than min_resolution %d or the patch "
                       "size %d",
                       res, res, o->min_resolution, o->patch_size);
    if ((double)count * o->patches_per_image > 4e9)
        return PG_FAIL(PG_ERR_INVALID, "swd: %zu images x %d patches is too many", count,
                       o->patches_per_image);
    return PG_OK;
}

pg_status pg_swd_compute(const uint8_t *images_a, const uint8_t *images_b, size_t count, int res,
                         int channels, const pg_swd_options *options, pg_swd_result *out) {
    memset(out, 0, sizeof *out);
    pg_swd_options o = options ? *options : pg_swd_options_default();
    PG_TRY(check_args(count, res, channels, &o));
    int levels = 0;
    for (int r = res; r >= o.min_resolution && levels < PG_SWD_MAX_LEVELS; r /= 2) {
        out->resolution[levels++] = r;
        if (r & 1) break;
    }
    if (levels > 1 && res % (1 << (levels - 1)))
        return PG_FAIL(PG_ERR_INVALID, "swd: %d does not halve evenly down to %d", res,
                       out->resolution[levels - 1]);
    size_t n = count * (size_t)o.patches_per_image;
    size_t dim = (size_t)o.patch_size * o.patch_size * channels;
    size_t chunk = PROJ_BUDGET_BYTES / (2 * n * sizeof(float));
    int nd_chunk = (int)PG_MAX((size_t)1, PG_MIN(chunk, (size_t)o.dirs_per_repeat));

    float *desc_a = malloc(sizeof(float) * n * dim), *desc_b = malloc(sizeof(float) * n * dim);
    float *proj_a = malloc(sizeof(float) * n * nd_chunk);
    float *proj_b = malloc(sizeof(float) * n * nd_chunk);
    int ndp = (nd_chunk + 7) / 8 * 8;
    float *dirs = malloc(sizeof(float) * dim * ndp);
    pg_status s = PG_OK;
    if (!desc_a || !desc_b || !proj_a || !proj_b || !dirs)
        s = PG_FAIL(PG_ERR_OUT_OF_MEMORY,
                    "swd: out of memory for %zu patches of %zu values (use fewer images)", n, dim);
    int oom = 0;
    for (int l = 0; s == PG_OK && l < levels; l++) {
        set_descriptors(images_a, count, res, channels, l, l == levels - 1, 0, &o, desc_a, &oom);
        set_descriptors(images_b, count, res, channels, l, l == levels - 1, 1, &o, desc_b, &oom);
        double total = 0;
        for (int rep = 0; rep < o.dir_repeats; rep++)
            for (int t0 = 0; t0 < o.dirs_per_repeat; t0 += nd_chunk) {
                int nd = PG_MIN(nd_chunk, o.dirs_per_repeat - t0);
                make_dirs(&o, l, rep, dim, t0, nd, ndp, dirs);
                project(desc_a, n, dim, dirs, nd, ndp, proj_a, &oom);
                project(desc_b, n, dim, dirs, nd, ndp, proj_b, &oom);
                total += sorted_distance(proj_a, proj_b, n, nd, &oom);
            }
        out->distance[l] = 1e3 * total / ((double)n * o.dirs_per_repeat * o.dir_repeats);
        out->average += out->distance[l] / levels;
    }
    out->num_levels = levels;
    free(desc_a);
    free(desc_b);
    free(proj_a);
    free(proj_b);
    free(dirs);
    /* Per-thread scratch that failed to allocate skips work, so the result is void. */
    if (s == PG_OK && oom)
        s = PG_FAIL(PG_ERR_OUT_OF_MEMORY, "swd: out of memory for per-thread scratch");
    return s;
}
