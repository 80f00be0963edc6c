/* Every kernel variant of the conv family and matmul ($PROGAN_CONV: the
 * register-blocked kernels, each block shape of the tiled implicit GEMM with
 * split-K off and on, the general kernel, Winograd F(2,3) for 3x3 conv2d and
 * input grad) against the float64 reference at odd
 * shapes: channels that are not multiples of 4, pixel and channel counts that
 * are not multiples of any tile, K not a multiple of the K step. Device values
 * only: test_ops checks the derivatives (the reference is the same). */
#include "testutil.h"

#include <stdio.h>
#include <stdlib.h>

#define TOL 1e-5

/* Runs outs on the device (NaN-poisoned first) and compares each with float64. */
static void check_nodes(const char *variant, const char *what, pg_graph *g, const pg_tensor *outs,
                        int n, uint64_t seed) {
    char name[160];
    snprintf(name, sizeof name, "%s [PROGAN_CONV=%s]", what, variant);
    if (!test_check(g->error == PG_OK, name, "graph: %s", g->error_message)) return;
    double **leaves = test_leaves_random(g, seed);
    ref_values r;
    float *dev[4] = {0};
    if (test_check(ref_eval(g, leaves, &r) == 0, name, "reference evaluation failed")) {
        if (test_check(test_device_run(g, leaves, outs, n, dev) == 0, name, "device run failed"))
            for (int k = 0; k < n; k++) {
                double err =
                    test_norm_error(dev[k], r.values[outs[k]], (size_t)pg_tensor_numel(g, outs[k]));
                test_check(err <= TOL, name, "output %d %s: relative error %.3g > %.1g", k,
                           pg_shape_str(g->nodes[outs[k]].shape), err, TOL);
                free(dev[k]);
            }
        ref_values_free(&r);
    }
    test_leaves_free(g, leaves);
}

/* conv2d, conv2d_input_grad and conv2d_weight_grad of one geometry. */
static void case_conv(const char *variant, int n, int h, int w, int ci, int co, int k,
                      uint64_t seed) {
    char what[96];
    snprintf(what, sizeof what, "conv family k%d x[%d,%d,%d,%d] -> %d", k, n, h, w, ci, co);
    pg_graph *g = pg_graph_create();
    pg_tensor x = pg_input(g, "x", n, h, w, ci), wt = pg_input(g, "w", k, k, ci, co);
    pg_tensor dy = pg_input(g, "dy", n, h, w, co);
    pg_tensor outs[3] = {pg_conv2d(g, x, wt, 0.37f), pg_conv2d_input_grad(g, dy, wt, 0.61f),
                         pg_conv2d_weight_grad(g, x, dy, k, 0.5f)};
    check_nodes(variant, what, g, outs, 3, seed);
    pg_graph_destroy(g);
}

static void case_matmul(const char *variant, int m, int k, int n, uint64_t seed) {
    char what[96];
    snprintf(what, sizeof what, "matmul %dx%dx%d, all transposes", m, k, n);
    pg_graph *g = pg_graph_create();
    pg_tensor a = pg_input(g, "a", m, 1, 1, k), at = pg_input(g, "at", k, 1, 1, m);
    pg_tensor b = pg_input(g, "b", k, 1, 1, n), bt = pg_input(g, "bt", n, 1, 1, k);
    pg_tensor outs[4] = {pg_matmul(g, a, b, 0, 0, 0.8f), pg_matmul(g, a, bt, 0, 1, 0.8f),
                         pg_matmul(g, at, b, 1, 0, 0.8f), pg_matmul(g, at, bt, 1, 1, 0.8f)};
    check_nodes(variant, what, g, outs, 4, seed);
    pg_graph_destroy(g);
}

static void run_variant(const char *variant, uint64_t seed) {
    setenv("PROGAN_CONV", variant, 1);
    case_conv(variant, 2, 9, 11, 13, 130, 3, seed);   /* > one 128x128 block both ways */
    case_conv(variant, 3, 7, 5, 37, 6, 1, seed + 1);  /* 1x1, skinny output */
    case_conv(variant, 1, 4, 4, 3, 5, 3, seed + 2);   /* a 4x4 layer: fewer pixels than a tile */
    case_conv(variant, 2, 5, 6, 12, 40, 3, seed + 5); /* channels in 4s (vec4 loads both ways), a
                                                        partial column tile */
    case_conv(variant, 3, 7, 5, 8, 7, 3, seed + 6);   /* odd sizes (not in 2x2 tiles), Ci in 4s,
                                                        Co not */
    case_matmul(variant, 133, 37, 131, seed + 3);     /* odd M, N and K */
    case_matmul(variant, 3, 1000, 5, seed + 4);       /* dense-like: long K, tiny M and N */
}

/* With arguments, only the variants named (ctest runs them in groups). */
int main(int argc, char **argv) {
    if (!test_context()) return test_finish("test_conv_variants");
    for (int i = 1; i < argc; i++) run_variant(argv[i], 500 + 10 * (uint64_t)i);
    if (argc > 1) {
        test_context_release();
        return test_finish("test_conv_variants");
    }
    /* "tiled" alone: the block shape and split-K the device's limits choose */
    static const char *const variants[] = {
        "tiled",
        "tiled:128x128:1",
        "tiled:128x128:3",
        "tiled:64x64:1",
        "tiled:64x64:2",
        "tiled:128x32:1",
        "tiled:128x32:4",
        "tiled:32x32:1",
        "tiled:32x32:7",
        "register",
        "register:storage",
        "register:texel:2x4",
        "register:storage:4x2",
        "register:texel:16x1",
        "general",
        "winograd",
        "winograd:storage:1x4",
        "winograd:texel:4x4",
    };
    for (size_t i = 0; i < sizeof variants / sizeof variants[0]; i++)
        run_variant(variants[i], 500 + 10 * i);
    unsetenv("PROGAN_CONV");
    test_context_release();
    return test_finish("test_conv_variants");
}
