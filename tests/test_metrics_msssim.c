/* Tests of src/metrics/msssim: identical pairs give 1, independent noise is
 * near 0, and small cases match a float64 re-implementation written here with
 * direct (non-separable) 2-D Gaussian windows; the mean forms agree. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "metrics/msssim.h"
#include "testutil.h"

/* ms_ssim.py, transcribed: _FSpecialGauss as a full 2-D window, valid filtering. */
static void ssim_ref(const double *x, const double *y, int n, int c, double *ssim, double *cs) {
    int size = n < 11 ? n : 11;
    double sigma = size * 1.5 / 11, win[11][11], sum = 0;
    double off = size % 2 ? 0 : 0.5;
    for (int i = 0; i < size; i++)
        for (int j = 0; j < size; j++) {
            double a = off + i - size / 2, b = off + j - size / 2;
            win[i][j] = exp(-(a * a + b * b) / (2 * sigma * sigma));
            sum += win[i][j];
        }
    double c1 = pow(0.01 * 255, 2), c2 = pow(0.03 * 255, 2), ss = 0, cc = 0;
    int o = n - size + 1;
    for (int oy = 0; oy < o; oy++)
        for (int ox = 0; ox < o; ox++)
            for (int ch = 0; ch < c; ch++) {
                double m1 = 0, m2 = 0, s11 = 0, s22 = 0, s12 = 0;
                for (int i = 0; i < size; i++)
                    for (int j = 0; j < size; j++) {
                        double wgt = win[i][j] / sum;
                        double a = x[((oy + i) * n + ox + j) * c + ch],
                               b = y[((oy + i) * n + ox + j) * c + ch];
                        m1 += wgt * a, m2 += wgt * b;
                        s11 += wgt * a * a, s22 += wgt * b * b, s12 += wgt * a * b;
                    }
                s11 -= m1 * m1, s22 -= m2 * m2, s12 -= m1 * m2;
                double v1 = 2 * s12 + c2, v2 = s11 + s22 + c2;
                ss += ((2 * m1 * m2 + c1) * v1) / ((m1 * m1 + m2 * m2 + c1) * v2);
                cc += v1 / v2;
            }
    *ssim = ss / ((double)o * o * c);
    *cs = cc / ((double)o * o * c);
}

static double msssim_ref(const uint8_t *a, const uint8_t *b, int n, int c) {
    static const double w[5] = {0.0448, 0.2856, 0.3001, 0.2363, 0.1333};
    double *x = malloc(sizeof(double) * n * n * c), *y = malloc(sizeof(double) * n * n * c);
    for (int i = 0; i < n * n * c; i++) x[i] = a[i], y[i] = b[i];
    double mssim[5], mcs[5];
    for (int l = 0; l < 5; l++) {
        ssim_ref(x, y, n, c, &mssim[l], &mcs[l]);
        int h = n / 2;
        for (int yy = 0; yy < h; yy++)
            for (int xx = 0; xx < h; xx++)
                for (int ch = 0; ch < c; ch++) {
                    int i0 = ((2 * yy) * n + 2 * xx) * c + ch, i1 = i0 + c, i2 = i0 + n * c,
                        i3 = i2 + c, d = (yy * h + xx) * c + ch;
                    x[d] = (x[i0] + x[i2] + x[i1] + x[i3]) * 0.25;
                    y[d] = (y[i0] + y[i2] + y[i1] + y[i3]) * 0.25;
                }
        n = h;
    }
    double r = 1;
    for (int l = 0; l < 4; l++) r *= pow(fmax(mcs[l], 0), w[l]);
    r *= pow(fmax(mssim[4], 0), w[4]);
    free(x), free(y);
    return r;
}

static void noise_images(uint8_t *out, size_t n, uint64_t seed) {
    double *u = malloc(sizeof(double) * n);
    test_fill_uniform(u, n, seed);
    for (size_t i = 0; i < n; i++) out[i] = (uint8_t)(127.5 * (u[i] + 1));
    free(u);
}

/* b = a + small noise: correlated but not equal. */
static void perturbed(const uint8_t *a, uint8_t *b, size_t n, double amount, uint64_t seed) {
    double *u = malloc(sizeof(double) * n);
    test_fill_uniform(u, n, seed);
    for (size_t i = 0; i < n; i++) {
        double v = a[i] + amount * u[i];
        b[i] = (uint8_t)(v < 0 ? 0 : v > 255 ? 255 : v);
    }
    free(u);
}

int main(void) {
    /* Small cases vs the reference: 16x16x1, 32x32x3 (windows shrink at 8, 4, 2, 1). */
    int sizes[2][2] = {{16, 1}, {32, 3}};
    for (int k = 0; k < 2; k++) {
        int n = sizes[k][0], c = sizes[k][1];
        size_t m = (size_t)n * n * c;
        uint8_t *a = malloc(m), *b = malloc(m);
        for (int y = 0; y < n; y++)
            for (int x = 0; x < n; x++)
                for (int ch = 0; ch < c; ch++)
                    a[(y * n + x) * c + ch] = (uint8_t)(128 + 90 * sin(0.4 * x + 0.25 * y + ch));
        perturbed(a, b, m, 60, 5 + k);
        double got = -1, want = msssim_ref(a, b, n, c);
        test_check(pg_msssim_pair(a, b, n, c, &got) == PG_OK, "pair", "%s", pg_error_message());
        test_check(fabs(got - want) < 1e-9 && want > 0.05 && want < 0.99, "vs float64 reference",
                   "%dx%dx%d: %.12f vs %.12f", n, n, c, got, want);
        double rev = -1;
        pg_msssim_pair(b, a, n, c, &rev);
        test_check(fabs(rev - got) < 1e-12, "symmetric", "%.12f vs %.12f", rev, got);
        free(a), free(b);
    }

    /* Identical pairs -> 1; independent noise -> near 0; mean forms agree. */
    int pairs = 40, n = 32, c = 3;
    size_t m = (size_t)n * n * c;
    uint8_t *a = malloc(pairs * m), *b = malloc(pairs * m), *both = malloc(2 * pairs * m);
    noise_images(a, pairs * m, 1);
    noise_images(b, pairs * m, 2);
    double same = 0, noise = 1, close = 0;
    test_check(pg_msssim_mean(a, a, pairs, n, c, &same) == PG_OK && fabs(same - 1) < 1e-12,
               "identical pairs give 1", "%.15f", same);
    pg_msssim_mean(a, b, pairs, n, c, &noise);
    test_check(noise >= 0 && noise < 0.15, "independent noise near 0", "%.4f", noise);
    double sum = 0, one;
    for (int i = 0; i < pairs; i++) {
        pg_msssim_pair(a + i * m, b + i * m, n, c, &one);
        sum += one;
        memcpy(both + 2 * i * m, a + i * m, m);
        memcpy(both + (2 * i + 1) * m, b + i * m, m);
    }
    test_check(fabs(sum / pairs - noise) < 1e-12, "mean of pairs", "%.12f vs %.12f", sum / pairs,
               noise);
    double cons = -1;
    pg_msssim_consecutive(both, 2 * pairs, n, c, &cons);
    test_check(fabs(cons - noise) < 1e-12, "consecutive pairs", "%.12f vs %.12f", cons, noise);
    perturbed(a, b, pairs * m, 20, 3);
    pg_msssim_mean(a, b, pairs, n, c, &close);
    test_check(close > noise + 0.3 && close < 1, "similar pairs in between", "%.4f (noise %.4f)",
               close, noise);
    test_check(pg_msssim_pair(a, b, 8, c, &one) == PG_ERR_INVALID, "res 8 refused", "accepted");
    test_check(pg_msssim_mean(a, b, 0, n, c, &one) == PG_ERR_INVALID, "no pairs refused",
               "accepted");

    /* Timing line for the report (not a check). */
    double t0 = pg_time_now();
    pg_msssim_mean(a, b, pairs, n, c, &one);
    printf("ms-ssim: %d pairs of %dx%dx%d in %.4f s\n", pairs, n, n, c, pg_time_now() - t0);
    free(a), free(b), free(both);
    return test_finish("test_metrics_msssim");
}
