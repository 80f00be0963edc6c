/* Tests of src/metrics/fid: the Fréchet distance of Gaussians with known
 * means and covariances against closed forms (commuting covariances of any
 * size; the 2x2 formula for a non-commuting pair), the streaming covariance
 * against a two-pass float64 one on data with a large mean, and the Inception
 * Score of hand-made logits against values worked out by hand. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "metrics/fid.h"
#include "testutil.h"

/* S = Q diag(e) Q^T with Q the Householder reflection I - 2 v v^T / |v|^2. */
static void spd_from_eigen(int d, const double *v, const double *e, double *s) {
    double vv = 0;
    for (int i = 0; i < d; i++) vv += v[i] * v[i];
    for (int i = 0; i < d; i++)
        for (int j = 0; j < d; j++) {
            double acc = 0;
            for (int k = 0; k < d; k++) {
                double qik = (i == k) - 2 * v[i] * v[k] / vv;
                double qjk = (j == k) - 2 * v[j] * v[k] / vv;
                acc += qik * e[k] * qjk;
            }
            s[(size_t)i * d + j] = acc;
        }
}

/* Commuting S1, S2 (same eigenvectors): d^2 = |dmu|^2 + sum (sqrt a - sqrt b)^2.
 * Some eigenvalues are zero, so both matrices are singular as in small sets;
 * a zero eigenvalue comes out of dsyevd as ~eps |M| and its square root as
 * ~1e-8 |M|^(1/2), so the bound is 1e-7 relative (about d sqrt(eps)). */
static void case_commuting(int d) {
    double *v = malloc(sizeof(double) * d), *a = malloc(sizeof(double) * d),
           *b = malloc(sizeof(double) * d), *mu1 = malloc(sizeof(double) * d),
           *mu2 = malloc(sizeof(double) * d);
    double *s1 = malloc(sizeof(double) * d * d), *s2 = malloc(sizeof(double) * d * d);
    test_fill_uniform(v, (size_t)d, 1);
    test_fill_uniform(a, (size_t)d, 2);
    test_fill_uniform(b, (size_t)d, 3);
    test_fill_uniform(mu1, (size_t)d, 4);
    test_fill_uniform(mu2, (size_t)d, 5);
    double expect = 0;
    for (int i = 0; i < d; i++) {
        a[i] = i % 7 == 3 ? 0 : 2 * fabs(a[i]);
        b[i] = i % 5 == 1 ? 0 : 3 * fabs(b[i]);
        double dm = mu1[i] - mu2[i], ds = sqrt(a[i]) - sqrt(b[i]);
        expect += dm * dm + ds * ds;
    }
    spd_from_eigen(d, v, a, s1);
    spd_from_eigen(d, v, b, s2);
    double got = NAN;
    char name[64];
    snprintf(name, sizeof name, "frechet commuting d=%d", d);
    if (test_check(pg_frechet_distance(d, mu1, s1, mu2, s2, &got) == PG_OK, name, "%s",
                   pg_error_message()))
        test_check(fabs(got - expect) <= 1e-7 * expect, name, "got %.15g, closed form %.15g", got,
                   expect);
    double self = NAN;
    if (pg_frechet_distance(d, mu1, s1, mu1, s1, &self) == PG_OK)
        test_check(fabs(self) < 1e-9 * expect, "frechet of a Gaussian with itself", "%.3g", self);
    free(v), free(a), free(b), free(mu1), free(mu2), free(s1), free(s2);
}

/* 2x2, not commuting: tr sqrt(M) = sqrt(tr M + 2 sqrt(det M)) for M = S1 S2
 * (its eigenvalues are real and non-negative). */
static void case_two_by_two(void) {
    double s1[4] = {2.0, 0.7, 0.7, 1.0}, s2[4] = {0.5, -0.3, -0.3, 3.0};
    double mu1[2] = {0.25, -1.0}, mu2[2] = {1.5, 0.5};
    double m00 = s1[0] * s2[0] + s1[1] * s2[2], m01 = s1[0] * s2[1] + s1[1] * s2[3];
    double m10 = s1[2] * s2[0] + s1[3] * s2[2], m11 = s1[2] * s2[1] + s1[3] * s2[3];
    double tr_sqrt = sqrt(m00 + m11 + 2 * sqrt(m00 * m11 - m01 * m10));
    double expect = 1.25 * 1.25 + 1.5 * 1.5 + 3.0 + 3.5 - 2 * tr_sqrt, got = NAN;
    if (test_check(pg_frechet_distance(2, mu1, s1, mu2, s2, &got) == PG_OK, "frechet 2x2", "%s",
                   pg_error_message()))
        test_check(fabs(got - expect) < 1e-12, "frechet 2x2 non-commuting",
                   "got %.15g, closed form %.15g", got, expect);
}

/* Streaming mean/covariance vs two passes in float64; samples sit at 1e4 with a
 * spread of ~1, where a raw sum of squares would lose about 8 digits. */
static void case_covariance(void) {
    enum { D = 5, N = 1000 };
    float *x = malloc(sizeof(float) * N * D);
    test_fill_uniform_f(x, (size_t)N * D, 7);
    for (int i = 0; i < N; i++)
        for (int k = 0; k < D; k++) x[i * D + k] += 1e4f + (k ? x[i * D] * k : 0);
    double mu[D] = {0}, cov[D * D] = {0}, got_mu[D], got_cov[D * D];
    for (int i = 0; i < N; i++)
        for (int k = 0; k < D; k++) mu[k] += (double)x[i * D + k] / N;
    for (int i = 0; i < N; i++)
        for (int j = 0; j < D; j++)
            for (int k = 0; k < D; k++)
                cov[j * D + k] += (x[i * D + j] - mu[j]) * (x[i * D + k] - mu[k]) / (N - 1);
    pg_gauss_acc *acc = NULL;
    pg_status st = pg_gauss_acc_create(D, &acc);
    /* uneven chunks so that block flushes and partial blocks both happen */
    for (int i = 0; st == PG_OK && i < N; i += 333)
        st = pg_gauss_acc_add(acc, x + i * D, i + 333 <= N ? 333 : N - i);
    if (st == PG_OK) st = pg_gauss_acc_finish(acc, got_mu, got_cov);
    if (test_check(st == PG_OK, "covariance", "%s", pg_error_message())) {
        double e_mu = test_norm_error_d(got_mu, mu, D),
               e_cov = test_norm_error_d(got_cov, cov, D * D);
        test_check(e_mu < 1e-14 && e_cov < 1e-12, "covariance vs two-pass",
                   "mean error %.3g, covariance error %.3g", e_mu, e_cov);
    }
    x[17] = NAN;
    pg_gauss_acc *bad = NULL;
    if (pg_gauss_acc_create(D, &bad) == PG_OK)
        test_check(pg_gauss_acc_add(bad, x, N) == PG_ERR_INVALID, "covariance refuses NaN",
                   "accepted");
    pg_gauss_acc_destroy(bad);
    pg_gauss_acc_destroy(acc);
    free(x);
}

/* Two classes; image A has p = (3/4, 1/4), image B (1/4, 3/4); p(y) = (1/2, 1/2)
 * per split of {A, B}: KL = 3/4 ln(3/2) + 1/4 ln(1/2) for both, IS = exp(KL).
 * A split of {A, A} has IS 1 exactly. */
static void case_inception_score(void) {
    float l3 = (float)log(3.0);
    float ab[8] = {l3, 0, 0, l3, 0, l3, l3, 0}; /* A B B A */
    double kl = 0.75 * log(1.5) + 0.25 * log(0.5), mean = NAN, std = NAN;
    if (test_check(pg_inception_score(ab, 4, 2, 2, &mean, &std) == PG_OK, "IS", "%s",
                   pg_error_message()))
        test_check(fabs(mean - exp(kl)) < 1e-6 && std < 1e-9, "IS of two classes by hand",
                   "got %.9g +- %.3g, expected %.9g +- 0", mean, std, exp(kl));
    float aab[8] = {l3, 0, l3, 0, l3, 0, 0, l3}; /* splits {A, A} and {A, B} */
    double lo = 1.0, hi = exp(kl), want_m = (lo + hi) / 2, want_s = (hi - lo) / 2;
    if (pg_inception_score(aab, 4, 2, 2, &mean, &std) == PG_OK)
        test_check(fabs(mean - want_m) < 1e-6 && fabs(std - want_s) < 1e-6, "IS mean and std",
                   "got %.9g +- %.9g, expected %.9g +- %.9g", mean, std, want_m, want_s);
    /* 10 images, each certain of its own class of 10: p(y) uniform, IS -> 10 */
    float *eye = calloc(100, sizeof(float));
    for (int i = 0; i < 10; i++) eye[i * 10 + i] = 60.0f;
    if (pg_inception_score(eye, 10, 10, 1, &mean, &std) == PG_OK)
        test_check(fabs(mean - 10.0) < 1e-6, "IS of confident distinct classes", "%.9g", mean);
    test_check(pg_inception_score(eye, 3, 10, 5, &mean, &std) == PG_ERR_INVALID,
               "IS refuses fewer images than splits", "accepted");
    free(eye);
}

/* Streamed in uneven chunks (splits of 9 and 10 rows) vs a direct per-split
 * computation of exp(mean KL) from the softmax in float64. */
static void case_is_streamed(void) {
    enum { N = 37, K = 10, S = 4 };
    float logits[N * K];
    test_fill_uniform_f(logits, N * K, 11);
    for (int i = 0; i < N * K; i++) logits[i] *= 4;
    double want[S], m = 0, v = 0;
    for (int s = 0; s < S; s++) {
        int b = s * N / S, e = (s + 1) * N / S;
        double p[N][K], py[K] = {0}, kl = 0;
        for (int i = b; i < e; i++) {
            double total = 0;
            for (int k = 0; k < K; k++) total += p[i][k] = exp(logits[i * K + k]);
            for (int k = 0; k < K; k++) py[k] += (p[i][k] /= total) / (e - b);
        }
        for (int i = b; i < e; i++)
            for (int k = 0; k < K; k++) kl += p[i][k] * log(p[i][k] / py[k]) / (e - b);
        m += (want[s] = exp(kl)) / S;
    }
    for (int s = 0; s < S; s++) v += (want[s] - m) * (want[s] - m) / S;
    pg_is_acc *a = NULL;
    double mean = NAN, std = NAN;
    pg_status st = pg_is_acc_create(N, K, S, &a);
    for (int i = 0; st == PG_OK && i < N; i += 5)
        st = pg_is_acc_add(a, logits + i * K, PG_MIN(5, N - i));
    if (st == PG_OK) st = pg_is_acc_finish(a, &mean, &std);
    if (test_check(st == PG_OK, "IS streamed", "%s", pg_error_message()))
        test_check(fabs(mean - m) < 1e-12 * m && fabs(std - sqrt(v)) < 1e-9,
                   "IS streamed vs direct", "%.15g +- %.3g, direct %.15g +- %.3g", mean, std, m,
                   sqrt(v));
    pg_is_acc_destroy(a);
}

int main(void) {
    case_commuting(3);
    case_commuting(64);
    case_two_by_two();
    case_covariance();
    case_inception_score();
    case_is_streamed();
    return test_finish("test_metrics_fid");
}
