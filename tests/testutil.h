/* tests/testutil: what every test shares: seeded random fills, relative-error
 * comparison that never lets NaN pass, and a pass/fail tally that prints the
 * plain "N passed, N failed" line and sets the exit code. */
#ifndef PROGAN_TESTUTIL_H
#define PROGAN_TESTUTIL_H

#include <stddef.h>
#include <stdint.h>

typedef struct {
    int passed, failed;
} test_tally;

extern test_tally test_results;

/* Records one check; prints "FAIL <name>: <why>" on failure. Returns ok. */
int test_check(int ok, const char *name, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* Prints the summary line and returns the process exit code (0 iff no failure). */
int test_finish(const char *suite);

/* Deterministic uniform [-1, 1) fill from a small LCG keyed by seed (not Philox,
 * so test inputs do not depend on the code under test). */
void test_fill_uniform(double *x, size_t n, uint64_t seed);
void test_fill_uniform_f(float *x, size_t n, uint64_t seed);

/* Largest |a-b| / max(|b|, floor) over the arrays; NaN or Inf anywhere gives +Inf. */
double test_rel_error(const float *a, const double *b, size_t n, double floor_abs,
                      size_t *worst_index);

#endif

/* ---- device helpers for op tests (need src/graph) */
#include "graph/graph.h"
#include "ref/ref.h"

/* The shared context (created on first use, validation per $PROGAN_VALIDATION);
 * NULL with a message if no device. */
pg_vk_context *test_context(void);
/* Destroys the context and records a failure if the validation layer spoke. */
void test_context_release(void);

/* Random leaves: every INPUT node of g gets uniform [-1,1) values rounded to
 * float32 (so the reference sees exactly what the device sees). Caller frees
 * with test_leaves_free. */
double **test_leaves_random(const pg_graph *g, uint64_t seed);
void test_leaves_free(const pg_graph *g, double **leaves);

/* Runs outputs of g on the device with the given leaves (INPUT nodes only),
 * after poisoning every buffer with NaN. out[k] receives a malloc'd float copy. */
int test_device_run(const pg_graph *g, double **leaves, const pg_tensor *outputs, int n,
                    float **out);

/* Normwise relative error max|a - b| / max|b|; +Inf on NaN/Inf. */
double test_norm_error(const float *a, const double *b, size_t n);
double test_norm_error_d(const double *a, const double *b, size_t n);

/* The full check of one op case, on graph g whose INPUT nodes xs[0..n) feed y:
 *  1. y on the device vs the float64 reference;
 *  2. the VJP graph of L = sum(y * v) (v random): reference vs central finite
 *     differences of L, and device vs reference;
 *  3. if second_order: the same for z = sum_i sum(dL/dx_i * u_i), i.e. the
 *     gradient of the gradient.
 * tol: device-vs-reference normwise relative bound (float32 rounding). */
void test_op_check(const char *name, pg_graph *g, pg_tensor y, const pg_tensor *xs, int n,
                   int second_order, double tol, uint64_t seed);

/* Fails for every op of the table (but leaves and in-place updates) that no
 * test_op_check graph contained, or that has no float64 reference: run last. */
void test_op_coverage(void);

/* For a scalar loss of INPUT nodes xs: builds d loss / d xs, checks the float64
 * reference of that gradient graph against central finite differences of the
 * loss, and the device values against the reference. */
void test_loss_grad_check(const char *name, pg_graph *g, pg_tensor loss, const pg_tensor *xs, int n,
                          double tol, uint64_t seed);
