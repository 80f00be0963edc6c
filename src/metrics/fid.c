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

struct pg_is_acc {
    int n, classes, splits, seen, cur; /* cur: the split of row `seen` */
    double *sum_p;                     /* [splits][classes] */
    double *sum_plp;                   /* [splits] sum over rows of sum_y p log p */
    double *p;                         /* [classes] one row's softmax */
};

pg_status pg_is_acc_create(int n, int classes, int splits, pg_is_acc **out) {
    *out = NULL;
    if (splits < 1 || splits > 4096 || n < splits || classes < 2)
        return PG_FAIL(PG_ERR_INVALID,
                       "Inception Score: %d image(s) in %d split(s) of %d classes (need 1..4096 "
                       "splits, at least one image per split and 2 classes)",
                       n, splits, classes);
    pg_is_acc *a = calloc(1, sizeof *a);
    if (a) {
        a->n = n, a->classes = classes, a->splits = splits;
        a->sum_p = calloc((size_t)splits * classes, sizeof(double));
        a->sum_plp = calloc((size_t)splits, sizeof(double));
        a->p = calloc((size_t)classes, sizeof(double));
    }
    if (!a || !a->sum_p || !a->sum_plp || !a->p) {
        pg_is_acc_destroy(a);
        return PG_FAIL(PG_ERR_OUT_OF_MEMORY, "Inception Score: out of memory");
    }
    *out = a;
    return PG_OK;
}

void pg_is_acc_destroy(pg_is_acc *a) {
    if (!a) return;
    free(a->sum_p);
    free(a->sum_plp);
    free(a->p);
    free(a);
}

pg_status pg_is_acc_add(pg_is_acc *a, const float *logits, int rows) {
    if (rows < 0 || a->seen + rows > a->n)
        return PG_FAIL(PG_ERR_INVALID, "Inception Score: %d rows after %d of %d", rows, a->seen,
                       a->n);
    for (int r = 0; r < rows; r++, a->seen++) {
        const float *row = logits + (size_t)r * a->classes;
        for (int k = 0; k < a->classes; k++)
            if (!isfinite(row[k]))
                return PG_FAIL(PG_ERR_INVALID,
                               "Inception Score: logit %d of image %d is %g: the network "
                               "produced NaN or Inf",
                               k, a->seen, (double)row[k]);
        softmax_row(row, a->classes, a->p);
        /* split s ends at row (s + 1) n / splits */
        while ((long long)(a->cur + 1) * a->n / a->splits <= a->seen) a->cur++;
        int s = a->cur;
        double *sp = a->sum_p + (size_t)s * a->classes;
        for (int k = 0; k < a->classes; k++) {
            double q = a->p[k];
            sp[k] += q;
            if (q > 0) a->sum_plp[s] += q * log(q);
        }
    }
    return PG_OK;
}

pg_status pg_is_acc_finish(const pg_is_acc *a, double *mean, double *std) {
    if (a->seen != a->n)
        return PG_FAIL(PG_ERR_INVALID, "Inception Score: %d of %d images seen", a->seen, a->n);
    double m = 0, v = 0, score[4096];
    int splits = a->splits;
    for (int s = 0; s < splits; s++) {
        double rows =
            (double)((long long)(s + 1) * a->n / a->splits - (long long)s * a->n / a->splits);
        double kl = a->sum_plp[s] / rows;
        for (int k = 0; k < a->classes; k++) {
            double py = a->sum_p[(size_t)s * a->classes + k] / rows;
            if (py > 0) kl -= py * log(py);
        }
        score[s] = exp(kl);
        m += score[s] / splits;
    }
    for (int s = 0; s < splits; s++) v += (score[s] - m) * (score[s] - m) / splits;
    *mean = m;
    *std = sqrt(v);
    return PG_OK;
}

pg_status pg_inception_score(const float *logits, int n, int classes, int splits, double *mean,
                             double *std) {
    pg_is_acc *a;
    PG_TRY(pg_is_acc_create(n, classes, splits, &a));
    pg_status st = pg_is_acc_add(a, logits, n);
    if (st == PG_OK) st = pg_is_acc_finish(a, mean, std);
    pg_is_acc_destroy(a);
    return st;
}
