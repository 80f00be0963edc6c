/* Shared test helpers (see testutil.h). */
#include "testutil.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>

test_tally test_results;

int test_check(int ok, const char *name, const char *fmt, ...) {
    if (ok) {
        test_results.passed++;
        return 1;
    }
    test_results.failed++;
    fprintf(stderr, "FAIL %s: ", name);
    va_list ap;
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
    return 0;
}

int test_finish(const char *suite) {
    printf("%s: %d passed, %d failed\n", suite, test_results.passed, test_results.failed);
    if (test_results.passed == 0 && test_results.failed == 0) {
        fprintf(stderr, "%s: no check ran\n", suite);
        return 1;
    }
    return test_results.failed ? 1 : 0;
}

static double lcg_next(uint64_t *state) {
    *state = *state * 6364136223846793005ull + 1442695040888963407ull;
    return (double)(*state >> 11) * (1.0 / 9007199254740992.0) * 2.0 - 1.0;
}

void test_fill_uniform(double *x, size_t n, uint64_t seed) {
    uint64_t state = seed * 0x9E3779B97F4A7C15ull + 1;
    for (size_t i = 0; i < n; i++) x[i] = lcg_next(&state);
}

void test_fill_uniform_f(float *x, size_t n, uint64_t seed) {
    uint64_t state = seed * 0x9E3779B97F4A7C15ull + 1;
    for (size_t i = 0; i < n; i++) x[i] = (float)lcg_next(&state);
}

static double rel_error(double a, double b, double floor_abs) {
    if (!isfinite(a) || !isfinite(b)) return INFINITY;
    double d = fabs(a - b), m = fabs(b) > floor_abs ? fabs(b) : floor_abs;
    return d / m;
}

double test_rel_error(const float *a, const double *b, size_t n, double floor_abs,
                      size_t *worst_index) {
    double worst = 0;
    size_t wi = 0;
    for (size_t i = 0; i < n; i++) {
        double e = rel_error(a[i], b[i], floor_abs);
        if (!(e <= worst)) {
            worst = e;
            wi = i;
        }
    }
    if (worst_index) *worst_index = wi;
    return worst;
}
