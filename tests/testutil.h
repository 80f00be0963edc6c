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
double test_rel_error_d(const double *a, const double *b, size_t n, double floor_abs,
                        size_t *worst_index);

#endif
