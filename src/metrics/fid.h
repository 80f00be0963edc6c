/* src/metrics/fid: the Fréchet distance between Gaussians fitted to two feature
 * sets (FID on Inception pool features) and the Inception Score of class
 * logits, on the CPU in float64 with Debian's LAPACK/BLAS (LAPACKE over
 * OpenBLAS): no hand-written eigen-solver. Calls src/base only. */
#ifndef PROGAN_METRICS_FID_H
#define PROGAN_METRICS_FID_H

#include "base/base.h"

/* Streaming mean and covariance of dim-dimensional samples in float64. The
 * samples are shifted by the first one before the sums (the shifted-data
 * algorithm), so the covariance does not lose digits when the mean is large
 * against the spread; the Gram matrix grows by BLAS dsyrk over blocks of rows. */
typedef struct pg_gauss_acc pg_gauss_acc;

pg_status pg_gauss_acc_create(int dim, pg_gauss_acc **out);
void pg_gauss_acc_destroy(pg_gauss_acc *a);
/* Adds n samples x[n][dim] (float32, as the device hands them). */
pg_status pg_gauss_acc_add(pg_gauss_acc *a, const float *x, int n);
long long pg_gauss_acc_count(const pg_gauss_acc *a);
/* mu[dim] and the unbiased covariance sigma[dim][dim] (row-major, symmetric,
 * divided by count - 1 as numpy.cov); needs count >= 2. */
pg_status pg_gauss_acc_finish(pg_gauss_acc *a, double *mu, double *sigma);

/* d^2 = |mu1 - mu2|^2 + tr(S1) + tr(S2) - 2 tr((S1 S2)^(1/2)), the FID formula.
 * tr((S1 S2)^(1/2)) is the sum of the square roots of the eigenvalues of the
 * symmetric PSD matrix B^T S2 B with B = V diag(sqrt(w)) from S1 = V diag(w) V^T
 * (similar to S1^(1/2) S2 S1^(1/2), hence to S1 S2), from LAPACK's dsyevd. */
pg_status pg_frechet_distance(int dim, const double *mu1, const double *s1, const double *mu2,
                              const double *s2, double *out);

/* Inception Score of n rows of logits[n][classes]: split k holds rows
 * [k n / splits, (k + 1) n / splits); its score is exp(mean_i KL(p(y|x_i) ||
 * p(y))) with p(y) the split's mean softmax; mean and population std over the
 * splits (as the original code and stylegan2-ada report). n >= splits. */
pg_status pg_inception_score(const float *logits, int n, int classes, int splits, double *mean,
                             double *std);

/* The same, streamed: rows arrive in order in any chunks, and only each
 * split's sum of p(y|x) and of sum_y p log p are kept, since mean_i KL(p_i || p)
 * = mean_i sum_y p_i log p_i - sum_y p(y) log p(y). */
typedef struct pg_is_acc pg_is_acc;
pg_status pg_is_acc_create(int n, int classes, int splits, pg_is_acc **out);
void pg_is_acc_destroy(pg_is_acc *a);
pg_status pg_is_acc_add(pg_is_acc *a, const float *logits, int rows);
/* Needs all n rows. */
pg_status pg_is_acc_finish(const pg_is_acc *a, double *mean, double *std);

#endif
