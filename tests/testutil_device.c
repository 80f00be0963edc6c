/* Device helpers shared by the op tests (see testutil.h). */
#include "testutil.h"

#include "graph/ops.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static pg_vk_context *shared_context;

pg_vk_context *test_context(void) {
    if (shared_context) return shared_context;
    if (pg_vk_context_create(-1, &shared_context) != PG_OK) {
        fprintf(stderr, "no Vulkan device: %s\n", pg_error_message());
        shared_context = NULL;
    }
    return shared_context;
}

void test_context_release(void) {
    if (shared_context) pg_vk_context_destroy(shared_context);
    shared_context = NULL;
    int messages = pg_vk_validation_message_count();
    test_check(messages == 0, "validation", "the validation layer reported %d message(s)",
               messages);
}

double **test_leaves_random(const pg_graph *g, uint64_t seed) {
    double **leaves = calloc((size_t)g->count, sizeof *leaves);
    for (int i = 0; i < g->count; i++) {
        if (g->nodes[i].op != PG_OP_INPUT) continue;
        size_t n = (size_t)pg_tensor_numel(g, i);
        leaves[i] = malloc(n * sizeof(double));
        test_fill_uniform(leaves[i], n, seed * 1000 + (uint64_t)i);
        for (size_t k = 0; k < n; k++) leaves[i][k] = (float)leaves[i][k];
    }
    return leaves;
}

void test_leaves_free(const pg_graph *g, double **leaves) {
    if (!leaves) return;
    for (int i = 0; i < g->count; i++) free(leaves[i]);
    free(leaves);
}

int test_device_run(const pg_graph *g, double **leaves, const pg_tensor *outputs, int n,
                    float **out) {
    pg_vk_context *ctx = test_context();
    if (!ctx) return -1;
    pg_plan *plan;
    if (pg_plan_create(ctx, g, outputs, n, &plan) != PG_OK) {
        fprintf(stderr, "plan: %s\n", pg_error_message());
        return -1;
    }
    for (int i = 0; i < g->count; i++) {
        float *dst = pg_plan_input(plan, i);
        if (!dst || !leaves[i]) continue;
        for (long long k = 0; k < pg_tensor_numel(g, i); k++) dst[k] = (float)leaves[i][k];
    }
    int rc = 0;
    if (pg_plan_poison(plan, 0x7fc00000u) != PG_OK || pg_plan_run(plan) != PG_OK) {
        fprintf(stderr, "run: %s\n", pg_error_message());
        rc = -1;
    }
    for (int k = 0; k < n && rc == 0; k++) {
        size_t count = (size_t)pg_tensor_numel(g, outputs[k]);
        out[k] = malloc(count * sizeof(float));
        memcpy(out[k], pg_plan_output(plan, outputs[k]), count * sizeof(float));
    }
    pg_plan_destroy(plan);
    return rc;
}

double test_norm_error(const float *a, const double *b, size_t n) {
    double *widened = malloc((n ? n : 1) * sizeof *widened);
    for (size_t i = 0; i < n; i++) widened[i] = a[i];
    double err = test_norm_error_d(widened, b, n);
    free(widened);
    return err;
}

double test_norm_error_d(const double *a, const double *b, size_t n) {
    double diff = 0, scale = 0;
    for (size_t i = 0; i < n; i++) {
        if (!isfinite(a[i]) || !isfinite(b[i])) return INFINITY;
        diff = fmax(diff, fabs(a[i] - b[i]));
        scale = fmax(scale, fabs(b[i]));
    }
    return scale > 0 ? diff / scale : diff;
}

#define FD_RTOL 1e-5
#define FD_ATOL 1e-7 /* float64 central differences of O(1..100) losses: noise ~1e-9 */

/* Picks up to `want` element indices of a tensor, spread evenly. */
static int sample_indices(size_t count, size_t *idx, int want) {
    int n = count < (size_t)want ? (int)count : want;
    for (int k = 0; k < n; k++) idx[k] = (size_t)((double)k * (double)count / n + 0.5) % count;
    return n;
}

/* Central differences of scalar node s w.r.t. sampled elements of each x,
 * compared with the reference gradient values grads[i] (NULL = zero). */
static void fd_check(const char *name, const char *what, pg_graph *g, double **leaves, pg_tensor s,
                     const pg_tensor *xs, int n, double **grads) {
    for (int i = 0; i < n; i++) {
        size_t count = (size_t)pg_tensor_numel(g, xs[i]), idx[24];
        int m = sample_indices(count, idx, 24);
        double fd[24], an[24];
        for (int k = 0; k < m; k++) {
            double *v = &leaves[xs[i]][idx[k]], keep = *v, h = 1e-5 * fmax(1.0, fabs(keep));
            /* Richardson: (4 D(h/2) - D(h)) / 3 cancels the h^2 term of central differences */
            double d[2];
            for (int step = 0; step < 2; step++) {
                double hs = step ? h / 2 : h, f[2];
                for (int side = 0; side < 2; side++) {
                    ref_values r;
                    *v = keep + (side ? -hs : hs);
                    ref_eval(g, leaves, &r);
                    f[side] = r.values[s][0];
                    ref_values_free(&r);
                }
                d[step] = (f[0] - f[1]) / (2 * hs);
            }
            *v = keep;
            fd[k] = (4 * d[1] - d[0]) / 3;
            an[k] = grads[i] ? grads[i][idx[k]] : 0.0;
        }
        /* Mixed criterion: |analytic - fd| <= FD_RTOL * max|fd| + FD_ATOL. The
         * absolute part only absorbs the differences' rounding noise, so where the
         * true derivative is zero a spurious analytic value still fails. */
        double scale = 0, diff = 0;
        int worst = 0;
        for (int k = 0; k < m; k++) scale = fmax(scale, fabs(fd[k]));
        for (int k = 0; k < m; k++) {
            double e = fabs(an[k] - fd[k]);
            if (!(e <= diff)) diff = e, worst = k; /* NaN becomes the worst */
        }
        int ok = m == 0 || diff <= FD_RTOL * scale + FD_ATOL;
        test_check(ok, name,
                   "%s w.r.t. input %d: reference VJP vs finite differences differ by %.3g "
                   "(allowed %.3g) at element %zu: analytic %.9g, finite differences %.9g",
                   what, i, diff, FD_RTOL * scale + FD_ATOL, m ? idx[worst] : 0,
                   m ? an[worst] : 0.0, m ? fd[worst] : 0.0);
    }
}

/* The device values of nodes vs their reference values. */
static void device_check(const char *name, const char *what, pg_graph *g, double **leaves,
                         const ref_values *r, const pg_tensor *nodes, int n, double tol) {
    pg_tensor outs[8];
    int m = 0, map[8];
    for (int i = 0; i < n; i++)
        if (nodes[i] >= 0) map[m] = i, outs[m++] = nodes[i];
    if (m == 0) return;
    float *dev[8] = {0};
    if (!test_check(test_device_run(g, leaves, outs, m, dev) == 0, name, "%s: device run failed",
                    what))
        return;
    for (int k = 0; k < m; k++) {
        size_t count = (size_t)pg_tensor_numel(g, outs[k]), worst = 0;
        const double *ref = r->values[outs[k]];
        double err = test_norm_error(dev[k], ref, count);
        for (size_t e = 0; e < count; e++)
            if (!(fabs(dev[k][e] - ref[e]) <= fabs(dev[k][worst] - ref[worst]))) worst = e;
        test_check(err <= tol, name,
                   "%s %d %s: device vs float64 reference, relative error %.3g > %.1g; worst "
                   "element %zu: device %.9g, reference %.9g",
                   what, map[k], pg_shape_str(g->nodes[outs[k]].shape), err, tol, worst,
                   dev[k][worst], ref[worst]);
        free(dev[k]);
    }
}

/* PROGAN_TEST_DEVICE_ONLY=1: the device against the float64 reference only,
 * without the finite-difference checks of the reference (which do not depend
 * on the device: the guard and emulation ctest entries rerun the op cases). */
static int device_only(void) {
    const char *v = getenv("PROGAN_TEST_DEVICE_ONLY");
    return v && *v && strcmp(v, "0");
}

static int ops_checked[PG_OP_COUNT]; /* ops seen in graphs given to test_op_check */

void test_op_coverage(void) {
    for (int op = 0; op < PG_OP_COUNT; op++) {
        int flags = pg_ops[op].flags;
        if (flags & (PG_ROW_LEAF | PG_ROW_UPDATE)) continue; /* updates: test_graph */
        test_check(ops_checked[op] > 0, "op coverage",
                   "op %s has no case in tests/test_ops.c (see case_template)",
                   pg_ops[op].name ? pg_ops[op].name : "(no row)");
        test_check(ref_ops[op] != NULL, "op coverage",
                   "op %s has no float64 reference in tests/ref/ref.c (ref_ops)",
                   pg_ops[op].name ? pg_ops[op].name : "(no row)");
    }
}

void test_op_check(const char *name, pg_graph *g, pg_tensor y, const pg_tensor *xs, int n,
                   int second_order, double tol, uint64_t seed) {
    if (!test_check(y >= 0 && g->error == PG_OK, name, "graph: %s", g->error_message)) return;
    const int *ys = g->nodes[y].shape;
    pg_tensor v = pg_input(g, "v", ys[0], ys[1], ys[2], ys[3]);
    pg_tensor loss = pg_sum(g, pg_mul(g, y, v));
    pg_tensor grads[8];
    if (!test_check(pg_grad(g, loss, -1, n, xs, grads) == PG_OK, name, "pg_grad: %s",
                    pg_error_message()))
        return;
    pg_tensor z = -1, grads2[8];
    if (second_order) {
        for (int i = 0; i < n; i++) {
            if (grads[i] < 0) continue;
            const int *s = g->nodes[xs[i]].shape;
            pg_tensor u = pg_input(g, "u", s[0], s[1], s[2], s[3]);
            pg_tensor term = pg_sum(g, pg_mul(g, grads[i], u));
            z = z < 0 ? term : pg_add(g, z, term);
        }
        if (z >= 0 && !test_check(pg_grad(g, z, -1, n, xs, grads2) == PG_OK, name,
                                  "second pg_grad: %s", pg_error_message()))
            return;
    }
    for (int i = 0; i < g->count; i++) ops_checked[g->nodes[i].op]++;
    double **leaves = test_leaves_random(g, seed);
    ref_values r;
    if (ref_eval(g, leaves, &r) != 0) {
        test_check(0, name, "reference evaluation failed");
        test_leaves_free(g, leaves);
        return;
    }
    device_check(name, "forward", g, leaves, &r, &y, 1, tol);
    double *ref_grads[8];
    for (int i = 0; i < n; i++) ref_grads[i] = grads[i] >= 0 ? r.values[grads[i]] : NULL;
    int fd = !device_only();
    if (fd) fd_check(name, "gradient", g, leaves, loss, xs, n, ref_grads);
    device_check(name, "gradient", g, leaves, &r, grads, n, tol);
    if (z >= 0) {
        for (int i = 0; i < n; i++) ref_grads[i] = grads2[i] >= 0 ? r.values[grads2[i]] : NULL;
        if (fd) fd_check(name, "second derivative", g, leaves, z, xs, n, ref_grads);
        device_check(name, "second derivative", g, leaves, &r, grads2, n, tol);
    }
    ref_values_free(&r);
    test_leaves_free(g, leaves);
}

void test_loss_grad_check(const char *name, pg_graph *g, pg_tensor loss, const pg_tensor *xs, int n,
                          double tol, uint64_t seed) {
    pg_tensor grads[16];
    if (!test_check(n <= 8 && pg_grad(g, loss, -1, n, xs, grads) == PG_OK, name, "pg_grad: %s",
                    pg_error_message()))
        return;
    double **leaves = test_leaves_random(g, seed);
    ref_values r;
    if (!test_check(ref_eval(g, leaves, &r) == 0, name, "reference evaluation failed")) {
        test_leaves_free(g, leaves);
        return;
    }
    double *ref_grads[16];
    for (int i = 0; i < n; i++) ref_grads[i] = grads[i] >= 0 ? r.values[grads[i]] : NULL;
    fd_check(name, "loss gradient", g, leaves, loss, xs, n, ref_grads);
    device_check(name, "loss gradient", g, leaves, &r, grads, n, tol);
    device_check(name, "loss", g, leaves, &r, &loss, 1, tol);
    ref_values_free(&r);
    test_leaves_free(g, leaves);
}
