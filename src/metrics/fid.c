/* src/metrics/fid: feature statistics, the Fréchet distance and the Inception
 * Score (see fid.h). Every matrix is row-major float64; the heavy steps are
 * BLAS (dsyrk, dsymm, dgemm) and LAPACK (dsyevd) calls. */
#include "metrics/fid.h"

#include <cblas.h>
#include <lapacke.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#define ACC_ROWS 256 /* samples per dsyrk block */

struct pg_gauss_acc {
    int dim, fill;
    long long count;
    double *shift; /* [dim] the first sample */
    double *sum;   /* [dim] sum of (x - shift) */
    double *gram;  /* [dim][dim] upper triangle: sum of (x - shift)(x - shift)^T */
    double *block; /* [ACC_ROWS][dim] shifted samples not yet in gram */
};

pg_status pg_gauss_acc_create(int dim, pg_gauss_acc **out) {
    *out = NULL;
    if (dim < 1 || dim > 65536)
        return PG_FAIL(PG_ERR_INVALID, "feature statistics: dimension %d is not in 1..65536", dim);
    pg_gauss_acc *a = calloc(1, sizeof *a);
    if (!a) return PG_FAIL(PG_ERR_OUT_OF_MEMORY, "feature statistics: out of memory");
    a->dim = dim;
    a->shift = calloc((size_t)dim, sizeof(double));
    a->sum = calloc((size_t)dim, sizeof(double));
    a->gram = calloc((size_t)dim * dim, sizeof(double));
    a->block = calloc((size_t)ACC_ROWS * dim, sizeof(double));
    if (!a->shift || !a->sum || !a->gram || !a->block) {
        pg_gauss_acc_destroy(a);
        return PG_FAIL(PG_ERR_OUT_OF_MEMORY,
                       "feature statistics: out of memory for a %dx%d covariance", dim, dim);
    }
    *out = a;
    return PG_OK;
}

void pg_gauss_acc_destroy(pg_gauss_acc *a) {
    if (!a) return;
    free(a->shift);
    free(a->sum);
    free(a->gram);
    free(a->block);
    free(a);
}

long long pg_gauss_acc_count(const pg_gauss_acc *a) {
    return a->count;
}

/* gram += block^T block over the filled rows (upper triangle). */
static void acc_flush(pg_gauss_acc *a) {
    if (a->fill == 0) return;
    cblas_dsyrk(CblasRowMajor, CblasUpper, CblasTrans, a->dim, a->fill, 1.0, a->block, a->dim, 1.0,
                a->gram, a->dim);
    a->fill = 0;
}

pg_status pg_gauss_acc_add(pg_gauss_acc *a, const float *x, int n) {
    int d = a->dim;
    for (int i = 0; i < n; i++) {
        const float *row = x + (size_t)i * d;
        for (int k = 0; k < d; k++)
            if (!isfinite(row[k]))
                return PG_FAIL(PG_ERR_INVALID,
                               "feature statistics: sample %lld has a non-finite value (%g at "
                               "index %d): the network produced NaN or Inf",
                               a->count, (double)row[k], k);
        if (a->count == 0)
            for (int k = 0; k < d; k++) a->shift[k] = row[k];
        double *dst = a->block + (size_t)a->fill * d;
        for (int k = 0; k < d; k++) {
            dst[k] = (double)row[k] - a->shift[k];
            a->sum[k] += dst[k];
        }
        a->count++;
        if (++a->fill == ACC_ROWS) acc_flush(a);
    }
    return PG_OK;
}

/* cov = (G - n m m^T) / (n - 1) with m the mean shifted sample; mu = shift + m. */
pg_status pg_gauss_acc_finish(pg_gauss_acc *a, double *mu, double *sigma) {
    if (a->count < 2)
        return PG_FAIL(PG_ERR_INVALID,
                       "feature statistics: %lld sample(s); a covariance needs at least 2 "
                       "(raise --num)",
                       a->count);
    acc_flush(a);
    int d = a->dim;
    double n = (double)a->count;
    for (int i = 0; i < d; i++) {
        double mi = a->sum[i] / n;
        mu[i] = a->shift[i] + mi;
        for (int j = i; j < d; j++) {
            double c = (a->gram[(size_t)i * d + j] - n * mi * (a->sum[j] / n)) / (n - 1);
            sigma[(size_t)i * d + j] = c;
            sigma[(size_t)j * d + i] = c;
        }
    }
    return PG_OK;
}

static double trace(int d, const double *s) {
    double t = 0;
    for (int i = 0; i < d; i++) t += s[(size_t)i * d + i];
    return t;
}

/* tr((S1 S2)^(1/2)) via two symmetric eigen-decompositions; tmp holds 3 d*d + d. */
static pg_status trace_sqrt_product(int d, const double *s1, const double *s2, double *tmp,
                                    double *out) {
    size_t dd = (size_t)d * d;
    double *v = tmp, *c = tmp + dd, *m = tmp + 2 * dd, *w = tmp + 3 * dd;
    memcpy(v, s1, dd * sizeof *v);
    lapack_int info = LAPACKE_dsyevd(LAPACK_ROW_MAJOR, 'V', 'U', d, v, d, w);
    if (info != 0)
        return PG_FAIL(PG_ERR_INVALID,
                       "Fréchet distance: LAPACK dsyevd failed on the first "
                       "covariance (info %d): it has NaN or Inf values",
                       (int)info);
    /* B = V diag(sqrt(max(w, 0))): rounding can leave tiny negative eigenvalues */
    for (int i = 0; i < d; i++)
        for (int j = 0; j < d; j++) v[(size_t)i * d + j] *= sqrt(fmax(w[j], 0.0));
    cblas_dsymm(CblasRowMajor, CblasLeft, CblasUpper, d, d, 1.0, s2, d, v, d, 0.0, c, d);
    cblas_dgemm(CblasRowMajor, CblasTrans, CblasNoTrans, d, d, d, 1.0, v, d, c, d, 0.0, m, d);
    info = LAPACKE_dsyevd(LAPACK_ROW_MAJOR, 'N', 'U', d, m, d, w);
    if (info != 0)
        return PG_FAIL(PG_ERR_INVALID,
                       "Fréchet distance: LAPACK dsyevd failed on "
                       "S1^(1/2) S2 S1^(1/2) (info %d)",
                       (int)info);
    double t = 0;
    for (int i = 0; i < d; i++) t += sqrt(fmax(w[i], 0.0));
    *out = t;
    return PG_OK;
}

pg_status pg_frechet_distance(int dim, const double *mu1, const double *s1, const double *mu2,
                              const double *s2, double *out) {
    if (dim < 1) return PG_FAIL(PG_ERR_INVALID, "Fréchet distance: dimension %d", dim);
    size_t dd = (size_t)dim * dim;
    double *tmp = malloc((3 * dd + (size_t)dim) * sizeof *tmp);
    if (!tmp) return PG_FAIL(PG_ERR_OUT_OF_MEMORY, "Fréchet distance: out of memory (d %d)", dim);
    double ts = 0;
    pg_status st = trace_sqrt_product(dim, s1, s2, tmp, &ts);
    free(tmp);
    PG_TRY(st);
    double diff = 0;
    for (int i = 0; i < dim; i++) diff += (mu1[i] - mu2[i]) * (mu1[i] - mu2[i]);
    *out = diff + trace(dim, s1) + trace(dim, s2) - 2 * ts;
    return PG_OK;
}

/* p[classes] = softmax(logits) in float64 (max subtracted first). */
static void softmax_row(const float *logits, int classes, double *p) {
    double mx = logits[0], total = 0;
    for (int k = 1; k < classes; k++) mx = fmax(mx, logits[k]);
    for (int k = 0; k < classes; k++) total += p[k] = exp((double)logits[k] - mx);
    for (int k = 0; k < classes; k++) p[k] /= total;
}

/* exp(mean_i KL(p_i || mean p)) over rows [begin, end); p holds classes*(rows+1). */
static double split_score(const float *logits, int begin, int end, int classes, double *p) {
    int rows = end - begin;
    double *py = p + (size_t)rows * classes;
    memset(py, 0, (size_t)classes * sizeof *py);
    for (int i = 0; i < rows; i++) {
        softmax_row(logits + (size_t)(begin + i) * classes, classes, p + (size_t)i * classes);
        for (int k = 0; k < classes; k++) py[k] += p[(size_t)i * classes + k] / rows;
    }
    double kl = 0;
    for (int i = 0; i < rows; i++)
        for (int k = 0; k < classes; k++) {
            double q = p[(size_t)i * classes + k];
            if (q > 0) kl += q * (log(q) - log(py[k]));
        }
    return exp(kl / rows);
}

pg_status pg_inception_score(const float *logits, int n, int classes, int splits, double *mean,
                             double *std) {
    if (splits < 1 || n < splits || classes < 2)
        return PG_FAIL(PG_ERR_INVALID,
                       "Inception Score: %d image(s) in %d split(s) of %d classes (need at least "
                       "one image per split and 2 classes)",
                       n, splits, classes);
    for (size_t i = 0; i < (size_t)n * classes; i++)
        if (!isfinite(logits[i]))
            return PG_FAIL(PG_ERR_INVALID,
                           "Inception Score: logit %zu of image %zu is %g: the network produced "
                           "NaN or Inf",
                           i % (size_t)classes, i / (size_t)classes, (double)logits[i]);
    int rows_max = n / splits + 1;
    double *p = malloc((size_t)(rows_max + 1) * classes * sizeof *p);
    double *scores = malloc((size_t)splits * sizeof *scores);
    if (!p || !scores) {
        free(p);
        free(scores);
        return PG_FAIL(PG_ERR_OUT_OF_MEMORY, "Inception Score: out of memory");
    }
    double m = 0, v = 0;
    for (int s = 0; s < splits; s++) {
        int b = (int)((long long)s * n / splits), e = (int)((long long)(s + 1) * n / splits);
        scores[s] = split_score(logits, b, e, classes, p);
        m += scores[s] / splits;
    }
    for (int s = 0; s < splits; s++) v += (scores[s] - m) * (scores[s] - m) / splits;
    free(p);
    free(scores);
    *mean = m;
    *std = sqrt(v);
    return PG_OK;
}
