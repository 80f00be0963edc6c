/* Tests of src/metrics/swd: the pyramid against direct 2-D 5x5 convolutions in
 * float64, Laplacian reconstruction, SWD against a float64 re-implementation
 * (same documented random draws), and its ordering on real / blurred / noise. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "metrics/swd.h"
#include "testutil.h"

static int refl(int i, int n) {
    return i < 0 ? -i : i >= n ? 2 * n - 2 - i : i;
}

/* Direct 2-D convolution with [1 4 6 4 1]^T[1 4 6 4 1]/256 * gain, reflect-101. */
static void conv2d_ref(const double *src, int h, int w, int c, double gain, double *dst) {
    static const double k[5] = {1, 4, 6, 4, 1};
    for (int y = 0; y < h; y++)
        for (int x = 0; x < w; x++)
            for (int ch = 0; ch < c; ch++) {
                double s = 0;
                for (int i = 0; i < 5; i++)
                    for (int j = 0; j < 5; j++)
                        s += k[i] * k[j] *
                             src[((size_t)refl(y + i - 2, h) * w + refl(x + j - 2, w)) * c + ch];
                dst[((size_t)y * w + x) * c + ch] = s * gain / 256.0;
            }
}

static void down_ref(const double *src, int h, int w, int c, double *dst) {
    double *t = malloc(sizeof(double) * h * w * c);
    conv2d_ref(src, h, w, c, 1.0, t);
    for (int y = 0; y < h / 2; y++)
        for (int x = 0; x < w / 2; x++)
            for (int ch = 0; ch < c; ch++)
                dst[((size_t)y * (w / 2) + x) * c + ch] = t[((size_t)2 * y * w + 2 * x) * c + ch];
    free(t);
}

static void up_ref(const double *src, int h, int w, int c, double *dst) {
    double *z = calloc((size_t)4 * h * w * c, sizeof(double));
    for (int y = 0; y < h; y++)
        for (int x = 0; x < w; x++)
            for (int ch = 0; ch < c; ch++)
                z[((size_t)2 * y * 2 * w + 2 * x) * c + ch] = src[((size_t)y * w + x) * c + ch];
    conv2d_ref(z, 2 * h, 2 * w, c, 4.0, dst);
    free(z);
}

static void test_pyramid(void) {
    int h = 16, w = 12, c = 3;
    size_t n = (size_t)h * w * c;
    float *x = malloc(sizeof(float) * n), *down = malloc(sizeof(float) * n / 4),
          *up = malloc(sizeof(float) * n * 4);
    double *xd = malloc(sizeof(double) * n), *ref = malloc(sizeof(double) * n * 4);
    test_fill_uniform_f(x, n, 11);
    for (size_t i = 0; i < n; i++) x[i] *= 100, xd[i] = x[i];
    pg_swd_pyr_down(x, h, w, c, down);
    down_ref(xd, h, w, c, ref);
    size_t worst;
    double e = test_rel_error(down, ref, n / 4, 1.0, &worst);
    test_check(e < 1e-5, "pyr_down vs direct 2-D", "rel err %.3g at %zu", e, worst);
    pg_swd_pyr_up(x, h, w, c, up);
    up_ref(xd, h, w, c, ref);
    e = test_rel_error(up, ref, n * 4, 1.0, &worst);
    test_check(e < 1e-5, "pyr_up vs direct 2-D", "rel err %.3g at %zu", e, worst);

    /* Laplacian round trip on 32x32x3, 3 levels. */
    int r = 32, L = 3;
    size_t m = (size_t)r * r * c;
    float *img = malloc(sizeof(float) * m), *back = malloc(sizeof(float) * m);
    float *lv[3];
    for (int l = 0; l < L; l++) lv[l] = malloc(sizeof(float) * (m >> (2 * l)));
    test_fill_uniform_f(img, m, 12);
    for (size_t i = 0; i < m; i++) img[i] = 127.5f * (img[i] + 1);
    test_check(pg_swd_laplacian_build(img, r, r, c, L, lv) == PG_OK, "laplacian build", "%s",
               pg_error_message());
    test_check(pg_swd_laplacian_reconstruct((const float *const *)lv, r, r, c, L, back) == PG_OK,
               "laplacian reconstruct", "%s", pg_error_message());
    double maxd = 0;
    for (size_t i = 0; i < m; i++) maxd = fmax(maxd, fabs((double)back[i] - img[i]));
    test_check(maxd < 1e-3, "laplacian reconstructs", "max diff %.3g", maxd);
    /* The last level is the Gaussian: the double reference's 2 downs. */
    double *g0 = malloc(sizeof(double) * m), *g1 = malloc(sizeof(double) * m / 4),
           *g2 = malloc(sizeof(double) * m / 16);
    for (size_t i = 0; i < m; i++) g0[i] = img[i];
    down_ref(g0, r, r, c, g1);
    down_ref(g1, r / 2, r / 2, c, g2);
    e = test_rel_error(lv[2], g2, m / 16, 1.0, &worst);
    test_check(e < 1e-5, "last level is Gaussian", "rel err %.3g", e);
    float *none[6] = {0};
    test_check(pg_swd_laplacian_build(img, r, r, c, 6, none) == PG_ERR_INVALID, "too many levels",
               "accepted 6 levels of 32");
    for (int l = 0; l < L; l++) free(lv[l]);
    free(g0), free(g1), free(g2), free(img), free(back);
    free(x), free(down), free(up), free(xd), free(ref);
}

static int cmp_double(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* Float64 SWD of one level (r x r x c images in double) with the documented draws. */
static double swd_level_ref(const double *la, const double *lb, int count, int r, int c, int level,
                            const pg_swd_options *o) {
    int ps = o->patch_size, half = ps / 2, P = o->patches_per_image;
    int dim = ps * ps * c, n = count * P;
    double *desc[2] = {malloc(sizeof(double) * n * dim), malloc(sizeof(double) * n * dim)};
    const double *src[2] = {la, lb};
    for (int s = 0; s < 2; s++) {
        for (int j = 0; j < count; j++)
            for (int i = 0; i < P; i++) {
                uint64_t k = (uint64_t)j * P + i, span = (uint64_t)(r - 2 * half);
                int x =
                    half + (int)(((uint64_t)pg_rand_u32(o->seed, level, s, 2 * k) * span) >> 32);
                int y = half +
                        (int)(((uint64_t)pg_rand_u32(o->seed, level, s, 2 * k + 1) * span) >> 32);
                for (int dy = 0; dy < ps; dy++)
                    for (int dx = 0; dx < ps; dx++)
                        for (int ch = 0; ch < c; ch++)
                            desc[s][k * dim + (dy * ps + dx) * c + ch] =
                                src[s]
                                   [(((size_t)j * r + y - half + dy) * r + x - half + dx) * c + ch];
            }
        for (int ch = 0; ch < c; ch++) {
            double mean = 0, var = 0;
            int cnt = 0;
            for (int i = ch; i < n * dim; i += c) mean += desc[s][i], cnt++;
            mean /= cnt;
            for (int i = ch; i < n * dim; i += c) var += (desc[s][i] - mean) * (desc[s][i] - mean);
            double sd = sqrt(var / cnt);
            for (int i = ch; i < n * dim; i += c)
                desc[s][i] = (desc[s][i] - mean) / (sd > 0 ? sd : 1);
        }
    }
    double total = 0, *dir = malloc(sizeof(double) * dim), *pa = malloc(sizeof(double) * n),
           *pb = malloc(sizeof(double) * n);
    for (int rep = 0; rep < o->dir_repeats; rep++)
        for (int t = 0; t < o->dirs_per_repeat; t++) {
            double norm = 0;
            for (int e = 0; e < dim; e++) {
                dir[e] = pg_rand_normal(o->seed, level, 2 + rep, (uint64_t)t * dim + e);
                norm += dir[e] * dir[e];
            }
            for (int e = 0; e < dim; e++) dir[e] /= sqrt(norm);
            for (int p = 0; p < n; p++) {
                pa[p] = pb[p] = 0;
                for (int e = 0; e < dim; e++)
                    pa[p] += desc[0][(size_t)p * dim + e] * dir[e],
                        pb[p] += desc[1][(size_t)p * dim + e] * dir[e];
            }
            qsort(pa, n, sizeof(double), cmp_double);
            qsort(pb, n, sizeof(double), cmp_double);
            for (int p = 0; p < n; p++) total += fabs(pa[p] - pb[p]);
        }
    free(desc[0]), free(desc[1]), free(dir), free(pa), free(pb);
    return 1e3 * total / ((double)n * o->dirs_per_repeat * o->dir_repeats);
}

static void test_against_reference(void) {
    int count = 3, c = 3;
    /* One level (16: the image itself) with 1 direction, then two levels of 32. */
    for (int r = 16; r <= 32; r *= 2) {
        size_t m = (size_t)r * r * c;
        uint8_t *a = malloc(count * m), *b = malloc(count * m);
        double *u = malloc(sizeof(double) * count * m);
        test_fill_uniform(u, count * m, 21 + r);
        for (size_t i = 0; i < count * m; i++) a[i] = (uint8_t)(127.5 * (u[i] + 1));
        test_fill_uniform(u, count * m, 31 + r);
        for (size_t i = 0; i < count * m; i++)
            b[i] = (uint8_t)(100 + 50 * u[i] + 30 * sin(0.3 * (double)(i / c % r)));
        pg_swd_options o = pg_swd_options_default();
        o.patches_per_image = r == 16 ? 5 : 8;
        o.dirs_per_repeat = r == 16 ? 1 : 3;
        o.dir_repeats = r == 16 ? 1 : 2;
        o.seed = 1234;
        pg_swd_result res;
        test_check(pg_swd_compute(a, b, count, r, c, &o, &res) == PG_OK, "swd small", "%s",
                   pg_error_message());
        int levels = r == 16 ? 1 : 2;
        test_check(res.num_levels == levels && res.resolution[0] == r, "swd levels", "%d levels",
                   res.num_levels);
        double avg = 0;
        for (int l = 0; l < levels; l++) {
            /* Level l of each image in double: Laplacian from the reference pyramid. */
            int rl = r >> l;
            size_t ml = (size_t)rl * rl * c;
            double *la = malloc(sizeof(double) * count * ml),
                   *lb = malloc(sizeof(double) * count * ml);
            for (int s = 0; s < 2; s++) {
                double *dst = s ? lb : la;
                const uint8_t *img = s ? b : a;
                for (int j = 0; j < count; j++) {
                    double *g = malloc(sizeof(double) * m), *g1 = malloc(sizeof(double) * m),
                           *up = malloc(sizeof(double) * m);
                    for (size_t i = 0; i < m; i++) g[i] = img[j * m + i];
                    int cur = r;
                    for (int k = 0; k < l; k++, cur /= 2) {
                        down_ref(g, cur, cur, c, g1);
                        memcpy(g, g1, sizeof(double) * ml);
                    }
                    if (l < levels - 1) {
                        down_ref(g, cur, cur, c, g1);
                        up_ref(g1, cur / 2, cur / 2, c, up);
                        for (size_t i = 0; i < ml; i++) g[i] -= up[i];
                    }
                    memcpy(dst + j * ml, g, sizeof(double) * ml);
                    free(g), free(g1), free(up);
                }
            }
            double want = swd_level_ref(la, lb, count, rl, c, l, &o);
            test_check(fabs(res.distance[l] - want) <= 1e-4 * fabs(want) + 1e-6,
                       "swd vs float64 reference", "res %d level %d: %.8g vs %.8g", r, l,
                       res.distance[l], want);
            avg += want / levels;
            free(la), free(lb);
        }
        test_check(fabs(res.average - avg) <= 1e-4 * avg, "swd average", "%.8g vs %.8g",
                   res.average, avg);
        free(a), free(b), free(u);
    }
}

/* "Real" images: a few random smooth waves plus texture. */
static void make_reals(uint8_t *out, int count, int r, int c, uint64_t seed) {
    double p[8];
    for (int j = 0; j < count; j++) {
        test_fill_uniform(p, 8, seed + j);
        for (int y = 0; y < r; y++)
            for (int x = 0; x < r; x++)
                for (int ch = 0; ch < c; ch++) {
                    double v = 128 +
                               60 * sin((0.3 + 0.2 * p[0]) * x + 3 * p[1] + ch) *
                                   cos((0.3 + 0.2 * p[2]) * y + 3 * p[3]) +
                               40 * ((x / 4 + y / 4 + j) % 2 ? p[4] : p[5]) +
                               25 * sin(1.7 * x + 2.3 * y + 5 * p[6]);
                    out[(((size_t)j * r + y) * r + x) * c + ch] = (uint8_t)(v < 0     ? 0
                                                                            : v > 255 ? 255
                                                                                      : v);
                }
    }
}

static void test_ordering(void) {
    int count = 48, r = 32, c = 3;
    size_t m = (size_t)r * r * c;
    uint8_t *reals = malloc(count * m), *reals2 = malloc(count * m), *blur = malloc(count * m),
            *noise = malloc(count * m);
    make_reals(reals, count, r, c, 100);
    make_reals(reals2, count, r, c, 100); /* same images */
    for (int j = 0; j < count; j++)
        for (int y = 0; y < r; y++)
            for (int x = 0; x < r; x++)
                for (int ch = 0; ch < c; ch++) {
                    int s = 0, k = 0;
                    for (int dy = -1; dy <= 1; dy++)
                        for (int dx = -1; dx <= 1; dx++) {
                            int yy = y + dy, xx = x + dx;
                            if (yy < 0 || yy >= r || xx < 0 || xx >= r) continue;
                            s += reals[(((size_t)j * r + yy) * r + xx) * c + ch];
                            k++;
                        }
                    blur[(((size_t)j * r + y) * r + x) * c + ch] = (uint8_t)((s + k / 2) / k);
                }
    double *u = malloc(sizeof(double) * count * m);
    test_fill_uniform(u, count * m, 77);
    for (size_t i = 0; i < count * m; i++) noise[i] = (uint8_t)(127.5 * (u[i] + 1));
    pg_swd_options o = pg_swd_options_default();
    o.patches_per_image = 64;
    o.dirs_per_repeat = 64;
    o.dir_repeats = 2;
    pg_swd_result same, blurred, noisy, again;
    double t0 = pg_time_now();
    pg_swd_compute(reals, reals2, count, r, c, &o, &same);
    double t1 = pg_time_now();
    pg_swd_compute(reals, blur, count, r, c, &o, &blurred);
    pg_swd_compute(reals, noise, count, r, c, &o, &noisy);
    pg_swd_compute(reals, blur, count, r, c, &o, &again);
    printf("swd x1e3 (avg over %d levels): same %.2f, blurred %.2f, noise %.2f (%.3f s each)\n",
           same.num_levels, same.average, blurred.average, noisy.average, t1 - t0);
    test_check(same.average < 0.25 * blurred.average, "swd(a, a) ~ 0", "same %.3f vs blurred %.3f",
               same.average, blurred.average);
    test_check(blurred.average < noisy.average, "swd(reals, blur) < swd(reals, noise)",
               "%.3f vs %.3f", blurred.average, noisy.average);
    test_check(blurred.distance[0] > 2 * same.distance[0], "blur shows at the finest level",
               "%.3f vs %.3f", blurred.distance[0], same.distance[0]);
    test_check(!memcmp(&blurred, &again, sizeof again), "swd deterministic", "differs");
    o.seed = 9;
    pg_swd_compute(reals, blur, count, r, c, &o, &again);
    test_check(again.average != blurred.average &&
                   fabs(again.average - blurred.average) < 0.5 * blurred.average,
               "another seed: close, not equal", "%.4f vs %.4f", again.average, blurred.average);
    test_check(pg_swd_compute(reals, blur, count, 8, c, &o, &again) == PG_ERR_INVALID,
               "res 8 refused", "accepted");
    test_check(pg_swd_compute(reals, blur, 0, r, c, &o, &again) == PG_ERR_INVALID,
               "empty set refused", "accepted");
    free(reals), free(reals2), free(blur), free(noise), free(u);
}

int main(void) {
    test_pyramid();
    test_against_reference();
    test_ordering();
    return test_finish("test_metrics_swd");
}
