/* tests/test_fuse: the planner's graph rewrites (src/graph/fuse.c) under every
 * kernel variant ($PROGAN_CONV). Each case builds an unfused graph (conv2d or
 * matmul, then add and leaky_relu; or gradients summed by add) at odd shapes
 * (channels not multiples of 4, row and column tile tails) and checks: the
 * fused plan has exactly the expected number of dispatches fewer than with
 * PROGAN_FUSE=0 (split kernels fuse in their reduce pass); its outputs are
 * bitwise the unfused plan's; and, through test_op_check, the fused values and
 * their first and second derivatives (whose graphs fuse too: leaky_relu_grad
 * reading the fused output, gradients accumulated in conv epilogues) against
 * the float64 reference and finite differences.
 * usage: test_fuse [VARIANT...] (default: every variant) */
#include "testutil.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define TOL 1e-5

static const char *variant; /* $PROGAN_CONV under test */

static int dispatches(const pg_graph *g, const pg_tensor *ys, int n) {
    pg_plan *p = NULL;
    if (pg_plan_create(test_context(), g, ys, n, &p) != PG_OK) return -1;
    int count = pg_plan_dispatch_count(p);
    pg_plan_destroy(p);
    return count;
}

/* Fused vs unfused plan of ys: `saved` dispatches fewer, bitwise-equal
 * outputs, and both against the float64 reference. */
static void check_fused_plan(const char *name, const pg_graph *g, const pg_tensor *ys, int n,
                             int saved) {
    if (!test_check(g->error == PG_OK, name, "graph: %s", g->error_message)) return;
    double **leaves = test_leaves_random(g, 77);
    float *fused[4] = {0}, *plain[4] = {0};
    int n_fused = dispatches(g, ys, n);
    int ok = test_device_run(g, leaves, ys, n, fused) == 0;
    setenv("PROGAN_FUSE", "0", 1);
    int n_plain = dispatches(g, ys, n);
    ok = test_device_run(g, leaves, ys, n, plain) == 0 && ok;
    unsetenv("PROGAN_FUSE");
    test_check(n_fused >= 0 && n_plain >= 0 && n_fused == n_plain - saved, name,
               "%d dispatches fused, %d unfused: expected %d fewer", n_fused, n_plain, saved);
    ref_values r;
    int ref_ok = ref_eval(g, leaves, &r) == 0;
    test_check(ref_ok, name, "reference evaluation failed");
    for (int k = 0; k < n; k++) {
        size_t count = (size_t)pg_tensor_numel(g, ys[k]);
        test_check(ok && fused[k] && plain[k] &&
                       memcmp(fused[k], plain[k], count * sizeof(float)) == 0,
                   name, "output %d: fused differs from the unfused graph's", k);
        double err = ok && ref_ok ? test_norm_error(fused[k], r.values[ys[k]], count) : INFINITY;
        test_check(err <= TOL, name, "output %d: relative error %.3g vs float64 > %.1g", k, err,
                   TOL);
        free(fused[k]);
        free(plain[k]);
    }
    if (ref_ok) ref_values_free(&r);
    test_leaves_free(g, leaves);
}

/* conv (k x k), + bias, optionally leaky ReLU: the D and G layers, toRGB;
 * with `derivs` also the first and second derivatives (whose graphs fuse). */
static void case_conv(int n, int h, int w, int ci, int co, int k, int relu, int derivs,
                      uint64_t seed) {
    char name[160];
    snprintf(name, sizeof name, "fused conv%dx%d%s x[%d,%d,%d,%d] -> %d [%s]", k, k,
             relu ? "+bias+lrelu" : "+bias", n, h, w, ci, co, variant);
    pg_graph *g = pg_graph_create();
    pg_tensor xs[3] = {pg_input(g, "x", n, h, w, ci), pg_input(g, "w", k, k, ci, co),
                       pg_input(g, "b", 1, 1, 1, co)};
    pg_tensor y = pg_bias_add(g, pg_conv2d(g, xs[0], xs[1], 0.37f), xs[2]);
    if (relu) y = pg_leaky_relu(g, y, 0.2f);
    check_fused_plan(name, g, &y, 1, relu ? 2 : 1);
    if (derivs) test_op_check(name, g, y, xs, 3, 1, TOL, seed);
    pg_graph_destroy(g);
}

/* G's 4x4 dense (matmul, reshape to 4x4, bias per channel, leaky ReLU) and D's
 * last dense (matmul + bias). */
static void case_dense(int relu, uint64_t seed) {
    char name[96];
    snprintf(name, sizeof name, "fused dense%s [%s]", relu ? "+reshape+bias+lrelu" : "+bias",
             variant);
    pg_graph *g = pg_graph_create();
    int n = 3, z = 10, c = relu ? 6 : 5;
    pg_tensor xs[3] = {pg_input(g, "z", n, 1, 1, z), pg_input(g, "w", relu ? 16 * c : c, 1, 1, z),
                       pg_input(g, "b", 1, 1, 1, c)};
    pg_tensor y = pg_matmul(g, xs[0], xs[1], 0, 1, 0.3f);
    if (relu) y = pg_reshape(g, y, n, 4, 4, c);
    y = pg_bias_add(g, y, xs[2]);
    if (relu) y = pg_leaky_relu(g, y, 0.2f);
    check_fused_plan(name, g, &y, 1, relu ? 2 : 1);
    test_op_check(name, g, y, xs, 3, 1, TOL, seed);
    pg_graph_destroy(g);
}

/* Gradients summed by add, as autodiff emits them for a tensor read twice:
 * weight gradients (a same-shape addend), an input gradient into a given
 * tensor (the other operand order), bias gradients (reduce_sum) and a chain of
 * squared norms (scalars); and leaky_relu_grad of an input gradient (a gate). */
static void case_accumulate(void) {
    char name[96];
    snprintf(name, sizeof name, "gradients accumulated in the epilogue [%s]", variant);
    pg_graph *g = pg_graph_create();
    int n = 2, h = 5, w = 6, ci = 5, co = 7;
    pg_tensor x = pg_input(g, "x", n, h, w, ci), wt = pg_input(g, "w", 3, 3, ci, co);
    pg_tensor dy1 = pg_input(g, "dy1", n, h, w, co), dy2 = pg_input(g, "dy2", n, h, w, co);
    pg_tensor dx0 = pg_input(g, "dx0", n, h, w, ci), y = pg_input(g, "y", n, h, w, ci);
    pg_tensor dw = pg_add(g, pg_conv2d_weight_grad(g, x, dy1, 3, 0.5f),
                          pg_conv2d_weight_grad(g, x, dy2, 3, 0.5f));
    pg_tensor ys[5] = {dw, pg_add(g, dx0, pg_conv2d_input_grad(g, dy1, wt, 0.61f)),
                       pg_add(g, pg_channel_sum(g, dy1), pg_channel_sum(g, dy2)),
                       pg_add(g,
                              pg_add(g, pg_sum(g, pg_square(g, dy1)), pg_sum(g, pg_square(g, dy2))),
                              pg_sum(g, pg_square(g, x))),
                       pg_leaky_relu_grad(g, pg_conv2d_input_grad(g, dy2, wt, 0.61f), y, 0.2f)};
    check_fused_plan(name, g, ys, 1, 1);
    check_fused_plan(name, g, ys + 1, 1, 1);
    check_fused_plan(name, g, ys + 2, 1, 1);
    check_fused_plan(name, g, ys + 3, 1, 2);
    check_fused_plan(name, g, ys + 4, 1, 1);
    pg_graph_destroy(g);
}

/* A conv output that something else reads too stays unfused (and correct). */
static void case_shared_output(void) {
    pg_graph *g = pg_graph_create();
    pg_tensor xs[3] = {pg_input(g, "x", 2, 5, 4, 3), pg_input(g, "w", 3, 3, 3, 5),
                       pg_input(g, "b", 1, 1, 1, 5)};
    pg_tensor c = pg_conv2d(g, xs[0], xs[1], 0.5f);
    pg_tensor y = pg_add(g, pg_leaky_relu(g, pg_bias_add(g, c, xs[2]), 0.2f), c);
    check_fused_plan("conv output read twice", g, &y, 1, 0);
    test_op_check("conv output read twice", g, y, xs, 3, 1, TOL, 5);
    pg_graph_destroy(g);
}

static void run_variant(const char *v, uint64_t seed) {
    variant = v;
    setenv("PROGAN_CONV", v, 1);
    case_conv(2, 5, 3, 5, 7, 3, 1, 1, seed);
    case_conv(3, 5, 6, 9, 3, 1, 0, 0, seed + 1);    /* toRGB: 1x1, bias only */
    case_conv(1, 23, 23, 5, 37, 3, 1, 0, seed + 2); /* 529 pixels, 37 channels: tile tails */
    case_conv(2, 4, 4, 8, 8, 3, 1, 0, seed + 3);    /* vec4 path */
    case_dense(1, seed + 4);
    case_dense(0, seed + 5);
    case_accumulate();
    case_shared_output();
}

int main(int argc, char **argv) {
    if (!test_context()) return test_finish("test_fuse") | 1;
    static const char *const all[] = {"register",      "general",       "tiled",
                                      "tiled:32x32:1", "tiled:64x64:7", "winograd"};
    int n = argc > 1 ? argc - 1 : (int)(sizeof all / sizeof all[0]);
    for (int i = 0; i < n; i++)
        run_variant(argc > 1 ? argv[i + 1] : all[i], 900 + 10 * (uint64_t)i);
    unsetenv("PROGAN_CONV");
    test_context_release();
    return test_finish("test_fuse");
}
