/* Every op of the table on the device against the float64 reference, with its
 * first and second derivatives against central finite differences. Shapes are
 * odd on purpose: batch 1..8, channels that are not multiples of 4 or 8,
 * spatial sizes 1..37. To add an op: a case below (see case_template). */
#include "testutil.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define TOL 1e-5 /* float32 sums of at most a few thousand terms stay well inside this */

static pg_tensor in4(pg_graph *g, int n, int h, int w, int c) {
    return pg_input(g, "x", n, h, w, c);
}

/* Template: build inputs, the op, then hand everything to test_op_check. */
static void case_template(void) {
    pg_graph *g = pg_graph_create();
    pg_tensor x = in4(g, 2, 3, 3, 5);
    pg_tensor y = pg_scale(g, x, 1.5f, 0.25f);
    test_op_check("scale (template)", g, y, &x, 1, 1, TOL, 1);
    pg_graph_destroy(g);
}

static void case_conv2d(int n, int h, int w, int ci, int co, int k, int second, uint64_t seed) {
    char name[96];
    snprintf(name, sizeof name, "conv2d k%d x[%d,%d,%d,%d] -> %d", k, n, h, w, ci, co);
    pg_graph *g = pg_graph_create();
    pg_tensor xs[2] = {in4(g, n, h, w, ci), in4(g, k, k, ci, co)};
    pg_tensor y = pg_conv2d(g, xs[0], xs[1], 0.37f);
    test_op_check(name, g, y, xs, 2, second, TOL, seed);
    pg_graph_destroy(g);
}

/* Any kernel, stride and padding (Inception's shapes): the general kernel. */
static void case_conv2d_ex(int n, int h, int w, int ci, int co, int kh, int kw, int stride, int py,
                           int px, int second, uint64_t seed) {
    char name[128];
    snprintf(name, sizeof name, "conv2d %dx%d s%d p%d,%d x[%d,%d,%d,%d] -> %d", kh, kw, stride, py,
             px, n, h, w, ci, co);
    pg_graph *g = pg_graph_create();
    pg_tensor xs[2] = {in4(g, n, h, w, ci), in4(g, kh, kw, ci, co)};
    pg_tensor y = pg_conv2d_ex(g, xs[0], xs[1], stride, py, px, 0.37f);
    test_op_check(name, g, y, xs, 2, second, TOL, seed);
    pg_graph_destroy(g);
}

/* The general kernel on ProGAN's own shapes too (PROGAN_CONV=general), so the
 * two kernels are checked on the same cases. */
static void case_conv2d_forced_general(void) {
    setenv("PROGAN_CONV", "general", 1);
    case_conv2d(2, 5, 6, 5, 7, 3, 1, 130);
    case_conv2d(1, 4, 3, 9, 6, 1, 1, 131);
    unsetenv("PROGAN_CONV");
}

/* A weight gradient summed over many pixels, first derivatives only (cost). */
static void case_weight_grad_long(int n, int r, int c, uint64_t seed) {
    char name[96];
    snprintf(name, sizeof name, "conv2d_weight_grad over %d pixels", n * r * r);
    pg_graph *g = pg_graph_create();
    pg_tensor xs[2] = {in4(g, n, r, r, c), in4(g, n, r, r, c)};
    test_op_check(name, g, pg_conv2d_weight_grad(g, xs[0], xs[1], 3, 0.5f), xs, 2, 0, TOL, seed);
    pg_graph_destroy(g);
}

static void case_conv2d_grads(int k, uint64_t seed) {
    pg_graph *g = pg_graph_create();
    pg_tensor a[2] = {in4(g, 2, 5, 4, 7), in4(g, k, k, 5, 7)};
    test_op_check(k == 3 ? "conv2d_input_grad k3" : "conv2d_input_grad k1", g,
                  pg_conv2d_input_grad(g, a[0], a[1], 0.61f), a, 2, 1, TOL, seed);
    pg_graph_destroy(g);
    g = pg_graph_create();
    pg_tensor b[2] = {in4(g, 2, 5, 4, 5), in4(g, 2, 5, 4, 7)};
    test_op_check(k == 3 ? "conv2d_weight_grad k3" : "conv2d_weight_grad k1", g,
                  pg_conv2d_weight_grad(g, b[0], b[1], k, 0.61f), b, 2, 1, TOL, seed + 1);
    pg_graph_destroy(g);
}

static void case_matmul(int ta, int tb) {
    char name[64];
    snprintf(name, sizeof name, "matmul ta%d tb%d", ta, tb);
    pg_graph *g = pg_graph_create();
    int m = 5, k = 7, n = 3;
    pg_tensor xs[2] = {ta ? in4(g, k, 1, 1, m) : in4(g, m, 1, 1, k),
                       tb ? in4(g, n, 1, 1, k) : in4(g, k, 1, 1, n)};
    test_op_check(name, g, pg_matmul(g, xs[0], xs[1], ta, tb, 0.8f), xs, 2, 1, TOL,
                  10 + ta * 2 + tb);
    pg_graph_destroy(g);
}

static void case_dense_flatten(void) {
    /* a dense layer over a [N,4,4,C] activation, as D's 4x4 block uses it */
    pg_graph *g = pg_graph_create();
    pg_tensor xs[2] = {in4(g, 3, 4, 4, 3), in4(g, 5, 1, 1, 48)};
    pg_tensor flat = pg_reshape(g, xs[0], 3, 1, 1, 48);
    test_op_check("dense on flattened 4x4", g, pg_matmul(g, flat, xs[1], 0, 1, 0.2f), xs, 2, 1, TOL,
                  20);
    pg_graph_destroy(g);
}

static void case_binary(pg_op op, const int sa[4], const int sb[4], uint64_t seed) {
    char name[96];
    snprintf(name, sizeof name, "op %d %s x %s", (int)op, pg_shape_str(sa), pg_shape_str(sb));
    pg_graph *g = pg_graph_create();
    pg_tensor xs[2] = {in4(g, sa[0], sa[1], sa[2], sa[3]), in4(g, sb[0], sb[1], sb[2], sb[3])};
    pg_tensor y = op == PG_OP_ADD   ? pg_add(g, xs[0], xs[1])
                  : op == PG_OP_SUB ? pg_sub(g, xs[0], xs[1])
                                    : pg_mul(g, xs[0], xs[1]);
    test_op_check(name, g, y, xs, 2, 1, TOL, seed);
    pg_graph_destroy(g);
}

static void case_unary(const char *name, int which, uint64_t seed) {
    pg_graph *g = pg_graph_create();
    pg_tensor x = in4(g, 3, 5, 2, 7);
    pg_tensor positive = pg_scale(g, x, 0.5f, 1.5f); /* in [1, 2): sqrt and rsqrt stay smooth */
    pg_tensor y = which == 0   ? pg_square(g, x)
                  : which == 1 ? pg_sqrt(g, positive)
                  : which == 2 ? pg_rsqrt(g, positive)
                  : which == 3 ? pg_leaky_relu(g, x, 0.2f)
                  : which == 5 ? pg_softplus(g, pg_scale(g, x, 4.0f, 0.0f))
                  : which == 6 ? pg_sigmoid(g, pg_scale(g, x, 4.0f, 0.0f))
                               : pg_scale(g, x, -0.7f, 0.1f);
    test_op_check(name, g, y, &x, 1, 1, TOL, seed);
    pg_graph_destroy(g);
}

static void case_leaky_relu_grad(void) {
    pg_graph *g = pg_graph_create();
    pg_tensor xs[2] = {in4(g, 2, 3, 5, 3), in4(g, 2, 3, 5, 3)};
    test_op_check("leaky_relu_grad", g, pg_leaky_relu_grad(g, xs[0], xs[1], 0.2f), xs, 2, 1, TOL,
                  30);
    pg_graph_destroy(g);
}

static void case_lerp(int per_sample) {
    pg_graph *g = pg_graph_create();
    pg_tensor xs[3] = {in4(g, 4, 3, 3, 5), in4(g, 4, 3, 3, 5),
                       per_sample ? in4(g, 4, 1, 1, 1) : in4(g, 1, 1, 1, 1)};
    test_op_check(per_sample ? "lerp t per sample" : "lerp t scalar", g,
                  pg_lerp(g, xs[0], xs[1], xs[2]), xs, 3, 1, TOL, 40 + per_sample);
    pg_graph_destroy(g);
}

static void case_reduce(int axes, float scale, uint64_t seed) {
    char name[64];
    snprintf(name, sizeof name, "reduce_sum axes %d", axes);
    pg_graph *g = pg_graph_create();
    pg_tensor x = in4(g, 3, 6, 5, 7);
    test_op_check(name, g, pg_reduce_sum(g, x, axes, scale), &x, 1, 1, TOL, seed);
    pg_graph_destroy(g);
}

/* Bias-gradient sums (reduced axes leading, C % 4 == 0): 4 outputs per lane on
 * CPUs, in one pass and, at 4096 rows, in chunks and a second pass. */
static void case_reduce_columns(int n, int h, uint64_t seed) {
    char name[64];
    snprintf(name, sizeof name, "reduce_sum axes 7 [%d,%d,%d,8]", n, h, h);
    pg_graph *g = pg_graph_create();
    pg_tensor x = in4(g, n, h, h, 8);
    test_op_check(name, g, pg_reduce_sum(g, x, 7, 0.5f), &x, 1, 1, TOL, seed);
    pg_graph_destroy(g);
}

static void case_reduce_long(void) {
    pg_graph *g = pg_graph_create();
    pg_tensor x = in4(g, 8, 64, 64, 3); /* 98304 elements into one */
    test_op_check("reduce_sum of 98304 elements", g, pg_reduce_sum(g, x, 15, 0.5f), &x, 1, 1, TOL,
                  225);
    pg_graph_destroy(g);
    g = pg_graph_create();
    x = in4(g, 16, 64, 64, 2); /* 65536 per channel */
    test_op_check("channel_sum of 65536 pixels", g, pg_channel_sum(g, x), &x, 1, 0, TOL, 226);
    pg_graph_destroy(g);
    g = pg_graph_create();
    x = in4(g, 4, 48, 48, 64); /* many outputs (a lane each), each split in two */
    test_op_check("channel_sum 64 x 9216", g, pg_channel_sum(g, x), &x, 1, 0, TOL, 227);
    pg_graph_destroy(g);
}

static void case_broadcast_bias(void) {
    pg_graph *g = pg_graph_create();
    pg_tensor xs[2] = {in4(g, 3, 4, 5, 6), in4(g, 1, 1, 1, 6)};
    test_op_check("bias_add", g, pg_bias_add(g, xs[0], xs[1]), xs, 2, 1, TOL, 50);
    pg_graph_destroy(g);
    g = pg_graph_create();
    pg_tensor b = in4(g, 1, 1, 1, 6);
    int shape[4] = {3, 4, 5, 6};
    test_op_check("broadcast", g, pg_broadcast(g, b, shape), &b, 1, 1, TOL, 51);
    pg_graph_destroy(g);
    g = pg_graph_create();
    pg_tensor x = in4(g, 3, 4, 5, 6);
    test_op_check("channel_sum", g, pg_channel_sum(g, x), &x, 1, 1, TOL, 52);
    pg_graph_destroy(g);
}

static void case_resample(int n, int h, int w, int c, float scale, uint64_t seed) {
    char name[96];
    pg_graph *g = pg_graph_create();
    pg_tensor x = in4(g, n, h, w, c);
    snprintf(name, sizeof name, "upsample2x [%d,%d,%d,%d]", n, h, w, c);
    test_op_check(name, g, pg_upsample2x(g, x, scale), &x, 1, 1, TOL, seed);
    pg_graph_destroy(g);
    g = pg_graph_create();
    x = in4(g, n, 2 * h, 2 * w, c);
    snprintf(name, sizeof name, "avgpool2x [%d,%d,%d,%d]", n, 2 * h, 2 * w, c);
    test_op_check(name, g, pg_avgpool2x(g, x, scale), &x, 1, 1, TOL, seed + 1);
    pg_graph_destroy(g);
}

static void case_pixel_norm(void) {
    pg_graph *g = pg_graph_create();
    pg_tensor x = in4(g, 3, 4, 3, 7);
    test_op_check("pixel_norm", g, pg_pixel_norm(g, x, 1e-8f), &x, 1, 1, TOL, 60);
    pg_graph_destroy(g);
    g = pg_graph_create();
    pg_tensor xs[2] = {in4(g, 2, 3, 3, 5), in4(g, 2, 3, 3, 5)};
    test_op_check("pixel_norm_grad", g, pg_pixel_norm_grad(g, xs[0], xs[1], 1e-8f), xs, 2, 1, TOL,
                  61);
    pg_graph_destroy(g);
    g = pg_graph_create(); /* 4 channels per step */
    x = in4(g, 2, 3, 5, 12);
    test_op_check("pixel_norm C12", g, pg_pixel_norm(g, x, 1e-8f), &x, 1, 1, TOL, 62);
    pg_graph_destroy(g);
    g = pg_graph_create();
    xs[0] = in4(g, 2, 5, 3, 8), xs[1] = in4(g, 2, 5, 3, 8);
    test_op_check("pixel_norm_grad C8", g, pg_pixel_norm_grad(g, xs[0], xs[1], 1e-8f), xs, 2, 1,
                  TOL, 63);
    pg_graph_destroy(g);
}

/* With group 2 the stddev of a pair is sqrt((x1 - x2)^2 / 4 + eps): its k-th
 * derivative grows like sigma^(1-k), and a nearly equal random pair (|x1 - x2|
 * ~ 1e-3 shows up in about one draw in ten) makes both float32 on the device and
 * finite differences in float64 lose ~1e-4. That case runs with eps = 1e-4,
 * which bounds sigma below by 1e-2; the other groups use the model's 1e-8. */
static void case_mbstd(int n, int group, uint64_t seed) {
    double tol = TOL;
    float eps = group == 2 ? 1e-4f : 1e-8f;
    char name[64];
    snprintf(name, sizeof name, "mbstd N%d group %d", n, group);
    pg_graph *g = pg_graph_create();
    pg_tensor x = in4(g, n, 3, 2, 5);
    test_op_check(name, g, pg_mbstd(g, x, group, eps), &x, 1, 1, tol, seed);
    pg_graph_destroy(g);
    snprintf(name, sizeof name, "mbstd_grad N%d group %d", n, group);
    g = pg_graph_create();
    pg_tensor xs[2] = {in4(g, n, 3, 2, 6), in4(g, n, 3, 2, 5)};
    test_op_check(name, g, pg_mbstd_grad(g, xs[0], xs[1], group, eps), xs, 2, 1, tol, seed + 1);
    pg_graph_destroy(g);
}

/* The fused kernels against their primitive-op definitions, on the device. */
static void case_fused_vs_primitive(void) {
    pg_graph *g = pg_graph_create();
    pg_tensor x = in4(g, 8, 4, 4, 9);
    pg_tensor out[4] = {pg_mbstd(g, x, 4, 1e-8f), pg_mbstd_primitive(g, x, 4, 1e-8f),
                        pg_pixel_norm(g, x, 1e-8f), pg_pixel_norm_primitive(g, x, 1e-8f)};
    double **leaves = test_leaves_random(g, 70);
    float *dev[4] = {0};
    if (test_check(test_device_run(g, leaves, out, 4, dev) == 0, "fused vs primitive", "run")) {
        size_t n1 = (size_t)pg_tensor_numel(g, out[0]), n2 = (size_t)pg_tensor_numel(g, out[2]);
        double a[8 * 4 * 4 * 10];
        for (size_t i = 0; i < n1; i++) a[i] = dev[1][i];
        test_check(test_norm_error(dev[0], a, n1) < TOL, "mbstd fused vs primitive", "differ");
        for (size_t i = 0; i < n2; i++) a[i] = dev[3][i];
        test_check(test_norm_error(dev[2], a, n2) < TOL, "pixel_norm fused vs primitive", "differ");
    }
    for (int i = 0; i < 4; i++) free(dev[i]);
    test_leaves_free(g, leaves);
    pg_graph_destroy(g);
}

static void case_channels(void) {
    pg_graph *g = pg_graph_create();
    pg_tensor xs[2] = {in4(g, 2, 3, 4, 5), in4(g, 2, 3, 4, 3)};
    test_op_check("concat", g, pg_concat(g, xs[0], xs[1]), xs, 2, 1, TOL, 80);
    pg_graph_destroy(g);
    g = pg_graph_create();
    pg_tensor x = in4(g, 2, 3, 4, 7);
    test_op_check("slice", g, pg_slice(g, x, 2, 3), &x, 1, 1, TOL, 81);
    pg_graph_destroy(g);
    g = pg_graph_create();
    x = in4(g, 2, 3, 4, 3);
    test_op_check("pad_channels", g, pg_pad_channels(g, x, 1, 6), &x, 1, 1, TOL, 82);
    pg_graph_destroy(g);
}

/* The norm of a gradient, as WGAN-GP takes it: sqrt(sum over H,W,C of x^2 + eps). */
static void case_gradient_norm(void) {
    pg_graph *g = pg_graph_create();
    pg_tensor x = in4(g, 4, 3, 3, 5);
    pg_tensor norm =
        pg_sqrt(g, pg_scale(g, pg_reduce_sum(g, pg_square(g, x), 14, 1.0f), 1.0f, 1e-8f));
    test_op_check("gradient norm", g, norm, &x, 1, 1, TOL, 90);
    pg_graph_destroy(g);
}

/* Max pooling: x's values are far apart (random draws), so small finite-difference
 * steps never change an argmax; the second derivative goes through
 * maxpool_grad's VJP (maxpool_select). */
static void case_maxpool(int n, int h, int w, int c, int k, int stride, int pad, uint64_t seed) {
    char name[96];
    snprintf(name, sizeof name, "maxpool %d s%d p%d [%d,%d,%d,%d]", k, stride, pad, n, h, w, c);
    pg_graph *g = pg_graph_create();
    pg_tensor x = in4(g, n, h, w, c);
    test_op_check(name, g, pg_maxpool(g, x, k, stride, pad), &x, 1, 1, TOL, seed);
    pg_graph_destroy(g);
    snprintf(name, sizeof name, "maxpool_grad %d s%d p%d [%d,%d,%d,%d]", k, stride, pad, n, h, w,
             c);
    g = pg_graph_create();
    pg_tensor xg = in4(g, n, h, w, c);
    const int *ps = g->nodes[pg_maxpool(g, xg, k, stride, pad)].shape;
    pg_tensor xs[2] = {in4(g, ps[0], ps[1], ps[2], ps[3]), xg};
    test_op_check(name, g, pg_maxpool_grad(g, xs[0], xs[1], k, stride, pad), xs, 2, 1, TOL,
                  seed + 1);
    pg_graph_destroy(g);
}

static void case_avgpool(int n, int h, int w, int c, int k, int stride, int pad, int exclude,
                         uint64_t seed) {
    char name[96];
    snprintf(name, sizeof name, "avgpool %d s%d p%d %s [%d,%d,%d,%d]", k, stride, pad,
             exclude ? "exclude-pad" : "count-pad", n, h, w, c);
    pg_graph *g = pg_graph_create();
    pg_tensor x = in4(g, n, h, w, c);
    test_op_check(name, g, pg_avgpool(g, x, k, stride, pad, exclude), &x, 1, 1, TOL, seed);
    pg_graph_destroy(g);
    snprintf(name, sizeof name, "avgpool_grad %d s%d p%d %s", k, stride, pad,
             exclude ? "exclude-pad" : "count-pad");
    g = pg_graph_create();
    int ho = (h + 2 * pad - k) / stride + 1, wo = (w + 2 * pad - k) / stride + 1;
    pg_tensor dy = in4(g, n, ho, wo, c);
    test_op_check(name, g, pg_avgpool_grad(g, dy, h, w, k, stride, pad, exclude), &dy, 1, 1, TOL,
                  seed + 1);
    pg_graph_destroy(g);
}

static void case_resize(int n, int h, int w, int c, int oh, int ow, int second, uint64_t seed) {
    char name[96];
    snprintf(name, sizeof name, "resize_bilinear %dx%d -> %dx%d", h, w, oh, ow);
    pg_graph *g = pg_graph_create();
    pg_tensor x = in4(g, n, h, w, c);
    test_op_check(name, g, pg_resize_bilinear(g, x, oh, ow), &x, 1, second, TOL, seed);
    pg_graph_destroy(g);
    snprintf(name, sizeof name, "resize_bilinear_grad %dx%d -> %dx%d", oh, ow, h, w);
    g = pg_graph_create();
    pg_tensor dy = in4(g, n, oh, ow, c);
    test_op_check(name, g, pg_resize_bilinear_grad(g, dy, h, w), &dy, 1, second, TOL, seed + 1);
    pg_graph_destroy(g);
}

static void case_softmax_relu_gap(void) {
    pg_graph *g = pg_graph_create();
    pg_tensor x = in4(g, 3, 2, 3, 11);
    test_op_check("softmax", g, pg_softmax(g, pg_scale(g, x, 3.0f, 0.0f)), &x, 1, 1, TOL, 300);
    pg_graph_destroy(g);
    g = pg_graph_create();
    x = in4(g, 2, 1, 1, 1008); /* Inception's logits */
    test_op_check("softmax 1008", g, pg_softmax(g, pg_scale(g, x, 8.0f, 0.0f)), &x, 1, 0, TOL, 301);
    pg_graph_destroy(g);
    g = pg_graph_create();
    x = in4(g, 3, 5, 2, 7);
    test_op_check("relu", g, pg_relu(g, x), &x, 1, 1, TOL, 302);
    pg_graph_destroy(g);
    g = pg_graph_create();
    x = in4(g, 2, 8, 7, 9);
    test_op_check("global average pool", g, pg_mean(g, x, 6), &x, 1, 1, TOL, 303);
    pg_graph_destroy(g);
}

/* pack: computed tensors placed by the planner (one reshaped), an input and a
 * repeated tensor copied first, places out of order, gaps zeroed; sizes are
 * not multiples of the workgroup. Its VJP is slice + reshape. */
static void case_pack(void) {
    pg_graph *g = pg_graph_create();
    pg_tensor xs[3] = {in4(g, 2, 3, 1, 5), in4(g, 1, 1, 1, 7), in4(g, 3, 1, 1, 43)};
    pg_tensor square = pg_square(g, xs[2]);
    pg_tensor members[5] = {pg_scale(g, xs[0], 1.5f, 0.25f), xs[1],
                            pg_reshape(g, square, 1, 3, 43, 1), pg_leaky_relu(g, square, 0.2f),
                            xs[1]};
    int at[5] = {0, 320, 128, 448, 64};
    pg_tensor y = pg_pack(g, 5, members, at, 600);
    test_op_check("pack", g, y, xs, 3, 1, TOL, 350);
    pg_graph_destroy(g);
}

int main(void) {
    if (!test_context()) return test_finish("test_ops") | 1;
    case_template();
    case_conv2d(3, 7, 5, 5, 7, 3, 1, 100);
    case_conv2d(2, 5, 6, 3, 6, 1, 1, 101);
    case_conv2d(1, 1, 1, 6, 5, 3, 1, 102);
    case_conv2d(2, 37, 29, 3, 5, 3, 0, 103);
    case_conv2d(8, 4, 4, 13, 11, 3, 0, 104);
    case_conv2d(1, 9, 7, 33, 35, 3, 0,
                105); /* register-tile edges: channel tails, 2 column tiles */
    case_conv2d(2, 11, 13, 8, 40, 1, 0, 106); /* vec4 path, 1x1 */
    case_conv2d(1, 23, 23, 2, 3, 3, 0, 107);  /* 529 pixels: more than one row tile */
    /* more pixels than one weight-gradient chunk (4096): split into partial sums */
    case_conv2d(5, 32, 32, 3, 4, 3, 1, 105);
    case_weight_grad_long(16, 64, 2, 106); /* 65536 pixels: past llvmpipe's loop limit */
    case_conv2d_ex(2, 7, 6, 3, 5, 5, 5, 1, 2, 2, 1, 120);  /* Inception A's 5x5 */
    case_conv2d_ex(1, 5, 9, 4, 3, 1, 7, 1, 0, 3, 1, 121);  /* C's 1x7 */
    case_conv2d_ex(2, 9, 4, 3, 4, 7, 1, 1, 3, 0, 1, 122);  /* C's 7x1 */
    case_conv2d_ex(1, 4, 5, 5, 9, 1, 3, 1, 0, 1, 1, 123);  /* E's 1x3 */
    case_conv2d_ex(1, 5, 4, 5, 9, 3, 1, 1, 1, 0, 1, 124);  /* E's 3x1 */
    case_conv2d_ex(2, 9, 8, 3, 5, 3, 3, 2, 0, 0, 1, 125);  /* stem / B / D: stride 2, odd */
    case_conv2d_ex(1, 7, 7, 4, 3, 3, 3, 1, 0, 0, 1, 126);  /* stem: valid 3x3 */
    case_conv2d_ex(1, 8, 7, 3, 2, 3, 3, 2, 1, 1, 1, 127);  /* stride 2 with padding */
    case_conv2d_ex(2, 5, 5, 3, 17, 1, 1, 2, 0, 0, 0, 128); /* 1x1 stride 2, column tail */
    case_conv2d_ex(9, 35, 33, 2, 3, 5, 5, 1, 2, 2, 0,
                   129); /* weight grad over 10395 pixels: split */
    /* past the CPU tile (16 rows x 64 lanes, 32 columns): row and column tails */
    case_conv2d_ex(2, 23, 24, 5, 37, 1, 7, 1, 0, 3, 0, 119);
    case_conv2d_forced_general();
    /* the general kernel's GPU tile (4x8) and an odd one, on lavapipe */
    setenv("PROGAN_CONV_GENERAL_TILE", "4x8", 1);
    case_conv2d_ex(2, 9, 8, 3, 13, 3, 3, 2, 1, 1, 1, 140);
    case_conv2d_ex(2, 23, 24, 5, 37, 1, 7, 1, 0, 3, 0, 141);
    setenv("PROGAN_CONV_GENERAL_TILE", "3x5", 1);
    case_conv2d_ex(1, 7, 9, 6, 11, 5, 5, 1, 2, 2, 1, 142);
    unsetenv("PROGAN_CONV_GENERAL_TILE");
    case_conv2d_grads(3, 110);
    case_conv2d_grads(1, 112);
    for (int ta = 0; ta < 2; ta++)
        for (int tb = 0; tb < 2; tb++) case_matmul(ta, tb);
    case_dense_flatten();
    const int s_full[4] = {3, 4, 5, 6}, s_bias[4] = {1, 1, 1, 6}, s_sample[4] = {3, 1, 1, 1},
              s_row[4] = {1, 4, 1, 6};
    case_binary(PG_OP_ADD, s_full, s_full, 200);
    case_binary(PG_OP_ADD, s_full, s_bias, 201);
    case_binary(PG_OP_SUB, s_sample, s_full, 202);
    case_binary(PG_OP_MUL, s_full, s_row, 203);
    case_binary(PG_OP_MUL, s_full, s_full, 204);
    /* the elementwise shader's VEC4 path (4 outputs per lane) with a channel
     * vector and a per-sample operand, and a count that is not a multiple of 4 */
    const int s_c8[4] = {2, 3, 5, 8}, s_b8[4] = {1, 1, 1, 8}, s_n2[4] = {2, 1, 1, 1},
              s_odd[4] = {1, 3, 1, 7};
    case_binary(PG_OP_ADD, s_c8, s_b8, 205);
    case_binary(PG_OP_SUB, s_n2, s_c8, 206);
    case_binary(PG_OP_MUL, s_odd, s_odd, 207);
    case_unary("square", 0, 210);
    case_unary("sqrt", 1, 211);
    case_unary("rsqrt", 2, 212);
    case_unary("leaky_relu", 3, 213);
    case_unary("scale", 4, 214);
    case_unary("softplus", 5, 215);
    case_unary("sigmoid", 6, 216);
    case_leaky_relu_grad();
    case_lerp(0);
    case_lerp(1);
    case_reduce(15, 1.0f, 220);
    case_reduce(7, 0.5f, 221);
    case_reduce(8, 1.0f, 222);
    case_reduce(6, 2.0f, 223);
    case_reduce(1, 1.0f, 224);
    case_reduce(14, 1.0f, 227); /* reduced axes trailing (closed-form offsets) */
    case_reduce_columns(3, 5, 228);
    case_reduce_columns(16, 16, 229);
    case_reduce_long(); /* past one workgroup's chunk: partial sums and a second pass */
    case_broadcast_bias();
    case_resample(3, 3, 5, 7, 1.0f, 230);
    case_resample(1, 1, 1, 3, 1.0f, 232);
    case_resample(2, 3, 5, 8, 0.75f, 234); /* 4 channels per lane */
    case_pixel_norm();
    case_mbstd(8, 4, 240);
    case_mbstd(6, 2, 242);
    case_mbstd(3, 3, 244);
    case_mbstd(5, 1, 246);
    case_fused_vs_primitive();
    case_channels();
    case_gradient_norm();
    case_maxpool(2, 9, 8, 3, 3, 2, 0, 310);    /* Inception's stem, B and D (odd sizes) */
    case_maxpool(1, 5, 6, 4, 3, 1, 1, 312);    /* E_2's branch pool */
    case_maxpool(1, 7, 7, 2, 2, 2, 1, 314);    /* even window, padding */
    case_avgpool(2, 5, 6, 3, 3, 1, 1, 1, 320); /* FID Inception A, C, E_1 */
    case_avgpool(1, 6, 4, 5, 3, 1, 1, 0, 322); /* torchvision's Inception */
    case_avgpool(1, 7, 8, 2, 3, 2, 1, 1, 324); /* strided */
    case_avgpool(1, 7, 8, 2, 3, 2, 1, 0, 326);
    case_resize(2, 5, 7, 3, 13, 4, 1, 330);      /* up in H, down in W */
    case_resize(1, 16, 16, 3, 299, 299, 0, 332); /* a 16x16 image to Inception's input */
    case_resize(1, 37, 29, 2, 11, 9, 1, 334);    /* down */
    case_softmax_relu_gap();
    case_pack();
    test_op_coverage();
    test_context_release();
    return test_finish("test_ops");
}
