/* Inception's window and resampling ops: max pooling (as "take v at the argmax
 * of x", so its gradient ops are linear in their first operand and the family
 * is closed under differentiation), average pooling with or without counting
 * the padding, bilinear resizing as PyTorch's F.interpolate(align_corners=False)
 * and a channel softmax. Each linear op and its adjoint are each other's VJPs. */
#include "graph/ops.h"

#include <string.h>

static int pool_out(int in, int k, int stride, int pad) {
    return in + 2 * pad < k ? 0 : (in + 2 * pad - k) / stride + 1;
}

/* iparams: [0] k, [1] stride, [2] pad, [3] exclude padding (avg), [4] H, [5] W of x */
static pg_tensor pool_node(pg_graph *g, pg_op op, int n_in, const pg_tensor *in,
                           const int x_shape[4], int k, int stride, int pad, int exclude,
                           int forward) {
    int ho = pool_out(x_shape[1], k, stride, pad), wo = pool_out(x_shape[2], k, stride, pad);
    if (k < 1 || k > 8 || stride < 1 || stride > 8 || pad < 0 || 2 * pad > k || ho < 1 || wo < 1)
        return PG_GRAPH_FAIL(g,
                             "%s: a %dx%d window, stride %d, pad %d does not fit %s (want pad <= "
                             "k/2 and an output of at least 1x1)",
                             pg_ops[op].name, k, k, stride, pad, pg_shape_str(x_shape));
    int y_shape[4] = {x_shape[0], ho, wo, x_shape[3]};
    pg_tensor t = pg_node_add(g, op, n_in, in, forward ? y_shape : x_shape);
    if (t < 0) return t;
    int p[6] = {k, stride, pad, exclude, x_shape[1], x_shape[2]};
    memcpy(g->nodes[t].iparams, p, sizeof p);
    return t;
}

static pg_tensor pool_shape_fail(pg_graph *g, pg_op op, pg_tensor dy, const int want[4]) {
    return PG_GRAPH_FAIL(g, "%s: dy %s is not the pooled shape %s", pg_ops[op].name,
                         pg_shape_str(g->nodes[dy].shape), pg_shape_str(want));
}

pg_tensor pg_maxpool_select(pg_graph *g, pg_tensor v, pg_tensor x, int k, int stride, int pad) {
    if (v < 0 || x < 0 || g->error) return -1;
    if (!pg_shape_equal(g->nodes[v].shape, g->nodes[x].shape))
        return PG_GRAPH_FAIL(g, "maxpool: v %s and x %s differ", pg_shape_str(g->nodes[v].shape),
                             pg_shape_str(g->nodes[x].shape));
    pg_tensor in[2] = {v, x};
    return pool_node(g, PG_OP_MAXPOOL, 2, in, g->nodes[x].shape, k, stride, pad, 0, 1);
}

pg_tensor pg_maxpool(pg_graph *g, pg_tensor x, int k, int stride, int pad) {
    return pg_maxpool_select(g, x, x, k, stride, pad);
}

pg_tensor pg_maxpool_grad(pg_graph *g, pg_tensor dy, pg_tensor x, int k, int stride, int pad) {
    if (dy < 0 || x < 0 || g->error) return -1;
    const int *xs = g->nodes[x].shape;
    int want[4] = {xs[0], pool_out(xs[1], k, stride, pad), pool_out(xs[2], k, stride, pad), xs[3]};
    if (!pg_shape_equal(g->nodes[dy].shape, want))
        return pool_shape_fail(g, PG_OP_MAXPOOL_GRAD, dy, want);
    pg_tensor in[2] = {dy, x};
    return pool_node(g, PG_OP_MAXPOOL_GRAD, 2, in, xs, k, stride, pad, 0, 0);
}

pg_tensor pg_avgpool(pg_graph *g, pg_tensor x, int k, int stride, int pad, int exclude_pad) {
    if (x < 0 || g->error) return -1;
    return pool_node(g, PG_OP_AVGPOOL, 1, &x, g->nodes[x].shape, k, stride, pad, exclude_pad != 0,
                     1);
}

pg_tensor pg_avgpool_grad(pg_graph *g, pg_tensor dy, int h, int w, int k, int stride, int pad,
                          int exclude_pad) {
    if (dy < 0 || g->error) return -1;
    const int *d = g->nodes[dy].shape;
    int x_shape[4] = {d[0], h, w, d[3]};
    int want[4] = {d[0], pool_out(h, k, stride, pad), pool_out(w, k, stride, pad), d[3]};
    if (!pg_shape_equal(d, want)) return pool_shape_fail(g, PG_OP_AVGPOOL_GRAD, dy, want);
    return pool_node(g, PG_OP_AVGPOOL_GRAD, 1, &dy, x_shape, k, stride, pad, exclude_pad != 0, 0);
}

/* iparams: [0] H, [1] W of the resize's input (the gradient's output) */
static pg_tensor resize_node(pg_graph *g, pg_op op, pg_tensor x, int h, int w, int in_h, int in_w) {
    if (x < 0 || g->error) return -1;
    const int *s = g->nodes[x].shape;
    if (h < 1 || w < 1 || h > 16384 || w > 16384)
        return PG_GRAPH_FAIL(g, "%s: size %dx%d is not in 1..16384", pg_ops[op].name, h, w);
    int shape[4] = {s[0], h, w, s[3]};
    pg_tensor t = pg_node_add(g, op, 1, &x, shape);
    if (t >= 0) g->nodes[t].iparams[0] = in_h, g->nodes[t].iparams[1] = in_w;
    return t;
}

pg_tensor pg_resize_bilinear(pg_graph *g, pg_tensor x, int h, int w) {
    if (x < 0 || g->error) return -1;
    const int *s = g->nodes[x].shape;
    return resize_node(g, PG_OP_RESIZE_BILINEAR, x, h, w, s[1], s[2]);
}

pg_tensor pg_resize_bilinear_grad(pg_graph *g, pg_tensor dy, int h, int w) {
    return resize_node(g, PG_OP_RESIZE_BILINEAR_GRAD, dy, h, w, h, w);
}

pg_tensor pg_softmax(pg_graph *g, pg_tensor x) {
    if (x < 0 || g->error) return -1;
    return pg_node_add(g, PG_OP_SOFTMAX, 1, &x, g->nodes[x].shape);
}

pg_tensor pg_relu(pg_graph *g, pg_tensor x) {
    return pg_leaky_relu(g, x, 0.0f);
}

/* ---- dispatch: one lane per output element */
static pg_status pool_build(const pg_vk_info *info, const pg_graph *g, pg_tensor t, uint32_t mode,
                            pg_dispatch *d) {
    const pg_node *n = &g->nodes[t];
    const int *p = n->iparams;
    int forward = mode == PG_POOL_MAX || mode == PG_POOL_AVG;
    const int *ys = forward ? n->shape : g->nodes[n->inputs[0]].shape;
    pg_dispatch_init(d, PG_SHADER_POOL, 3);
    uint32_t spec[6] = {PG_WG,          mode,           (uint32_t)p[0],
                        (uint32_t)p[1], (uint32_t)p[2], (uint32_t)p[3]};
    d->key.spec_count = 6;
    memcpy(d->key.spec, spec, sizeof spec);
    d->bindings[0] = t;
    d->bindings[1] = n->inputs[0];
    d->bindings[2] = n->inputs[n->n_inputs - 1]; /* x for max pooling; unused otherwise */
    uint64_t count = (uint64_t)pg_tensor_numel(g, t);
    uint32_t push[7] = {(uint32_t)ys[0], (uint32_t)p[4],  (uint32_t)p[5], (uint32_t)ys[3],
                        (uint32_t)ys[1], (uint32_t)ys[2], (uint32_t)count};
    memcpy(d->push, push, sizeof push);
    pg_dispatch_lanes(info, d, PG_WG, count);
    return PG_OK;
}

pg_status maxpool_dispatch(const pg_vk_info *info, const pg_graph *g, pg_tensor t, pg_dispatch *d) {
    return pool_build(info, g, t, PG_POOL_MAX, d);
}
pg_status maxpool_grad_dispatch(const pg_vk_info *info, const pg_graph *g, pg_tensor t,
                                pg_dispatch *d) {
    return pool_build(info, g, t, PG_POOL_MAX_GRAD, d);
}
pg_status avgpool_dispatch(const pg_vk_info *info, const pg_graph *g, pg_tensor t, pg_dispatch *d) {
    return pool_build(info, g, t, PG_POOL_AVG, d);
}
pg_status avgpool_grad_dispatch(const pg_vk_info *info, const pg_graph *g, pg_tensor t,
                                pg_dispatch *d) {
    return pool_build(info, g, t, PG_POOL_AVG_GRAD, d);
}

/* The gradient gathers over every output whose taps reach an input: up to
 * (2 out/in + 3)^2 of them, so a long loop is refused (upsampling > ~100x). */
static pg_status resize_build(const pg_vk_info *info, const pg_graph *g, pg_tensor t, uint32_t mode,
                              pg_dispatch *d) {
    const pg_node *n = &g->nodes[t];
    const int *in = g->nodes[n->inputs[0]].shape, *out = n->shape;
    pg_dispatch_init(d, PG_SHADER_RESIZE_BILINEAR, 2);
    d->key.spec_count = 2;
    d->key.spec[PG_SPEC_CODE] = mode;
    double reach_y = 2.0 * in[1] / out[1] + 4, reach_x = 2.0 * in[2] / out[2] + 4;
    if (mode && reach_y * reach_x > PG_MAX_LOOP_TRIPS)
        return PG_FAIL(PG_ERR_UNSUPPORTED,
                       "resize_bilinear_grad %s: %dx%d -> %dx%d gathers too many taps per element",
                       n->name, out[1], out[2], in[1], in[2]);
    d->bindings[0] = t;
    d->bindings[1] = n->inputs[0];
    uint64_t count = (uint64_t)pg_tensor_numel(g, t);
    /* push: N, C, the small (x) H, W, the large (y) H, W, count */
    const int *xs = mode ? out : in, *ys = mode ? in : out;
    uint32_t push[7] = {(uint32_t)xs[0], (uint32_t)xs[3], (uint32_t)xs[1], (uint32_t)xs[2],
                        (uint32_t)ys[1], (uint32_t)ys[2], (uint32_t)count};
    memcpy(d->push, push, sizeof push);
    pg_dispatch_lanes(info, d, PG_WG, count);
    return PG_OK;
}

pg_status resize_bilinear_dispatch(const pg_vk_info *info, const pg_graph *g, pg_tensor t,
                                   pg_dispatch *d) {
    return resize_build(info, g, t, PG_MODE_FORWARD, d);
}
pg_status resize_bilinear_grad_dispatch(const pg_vk_info *info, const pg_graph *g, pg_tensor t,
                                        pg_dispatch *d) {
    return resize_build(info, g, t, PG_MODE_BACKWARD, d);
}

pg_status softmax_dispatch(const pg_vk_info *info, const pg_graph *g, pg_tensor t, pg_dispatch *d) {
    const pg_node *n = &g->nodes[t];
    int c = n->shape[3];
    if (3 * (uint64_t)c > 4 * PG_MAX_LOOP_TRIPS)
        return PG_FAIL(PG_ERR_UNSUPPORTED,
                       "softmax %s: %d channels is more than one lane loops over", n->name, c);
    pg_dispatch_init(d, PG_SHADER_SOFTMAX, 2);
    d->bindings[0] = t;
    d->bindings[1] = n->inputs[0];
    uint64_t rows = (uint64_t)pg_tensor_numel(g, t) / (uint64_t)c;
    d->push[0] = (uint32_t)rows;
    d->push[1] = (uint32_t)c;
    pg_dispatch_lanes(info, d, 64, rows);
    return PG_OK;
}

/* ---- VJP rules */
void maxpool_vjp(pg_graph *g, pg_tensor t, pg_tensor dy, const int *needs, pg_tensor *dx) {
    pg_node n = g->nodes[t];
    if (needs[0])
        dx[0] = pg_maxpool_grad(g, dy, n.inputs[1], n.iparams[0], n.iparams[1], n.iparams[2]);
    dx[1] = -1; /* the argmax is piecewise constant in x */
}

void maxpool_grad_vjp(pg_graph *g, pg_tensor t, pg_tensor c, const int *needs, pg_tensor *dx) {
    pg_node n = g->nodes[t];
    if (needs[0])
        dx[0] = pg_maxpool_select(g, c, n.inputs[1], n.iparams[0], n.iparams[1], n.iparams[2]);
    dx[1] = -1;
}

void avgpool_vjp(pg_graph *g, pg_tensor t, pg_tensor dy, const int *needs, pg_tensor *dx) {
    (void)needs;
    const int *p = g->nodes[t].iparams;
    dx[0] = pg_avgpool_grad(g, dy, p[4], p[5], p[0], p[1], p[2], p[3]);
}

void avgpool_grad_vjp(pg_graph *g, pg_tensor t, pg_tensor c, const int *needs, pg_tensor *dx) {
    (void)needs;
    const int *p = g->nodes[t].iparams;
    dx[0] = pg_avgpool(g, c, p[0], p[1], p[2], p[3]);
}

void resize_bilinear_vjp(pg_graph *g, pg_tensor t, pg_tensor dy, const int *needs, pg_tensor *dx) {
    (void)needs;
    const int *p = g->nodes[t].iparams;
    dx[0] = pg_resize_bilinear_grad(g, dy, p[0], p[1]);
}

void resize_bilinear_grad_vjp(pg_graph *g, pg_tensor t, pg_tensor c, const int *needs,
                              pg_tensor *dx) {
    (void)needs;
    const int *s = g->nodes[g->nodes[t].inputs[0]].shape;
    dx[0] = pg_resize_bilinear(g, c, s[1], s[2]);
}

/* y = softmax(x) over channels: dx = y * (dy - sum_c(dy * y)). */
void softmax_vjp(pg_graph *g, pg_tensor t, pg_tensor dy, const int *needs, pg_tensor *dx) {
    (void)needs;
    pg_tensor dot = pg_reduce_sum(g, pg_mul(g, dy, t), 8, 1.0f);
    dx[0] = pg_mul(g, t, pg_sub(g, dy, dot));
}
