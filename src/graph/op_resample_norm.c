/* 2x nearest upsample, 2x2 average pool, pixel norm and minibatch stddev, with
 * their fused backward ops. The fused backward ops' VJPs rebuild the op from
 * primitives and differentiate that twice, so they stay exact to any order. */
#include "graph/ops.h"

#include <string.h>

static uint32_t float_bits(float f) {
    uint32_t u;
    memcpy(&u, &f, 4);
    return u;
}

pg_tensor pg_upsample2x(pg_graph *g, pg_tensor x, float scale) {
    if (x < 0 || g->error) return -1;
    const int *s = g->nodes[x].shape;
    int shape[4] = {s[0], 2 * s[1], 2 * s[2], s[3]};
    pg_tensor t = pg_node_add(g, PG_OP_UPSAMPLE2X, 1, &x, shape);
    if (t >= 0) g->nodes[t].fparams[0] = scale;
    return t;
}

pg_tensor pg_avgpool2x(pg_graph *g, pg_tensor x, float scale) {
    if (x < 0 || g->error) return -1;
    const int *s = g->nodes[x].shape;
    if (s[1] % 2 || s[2] % 2)
        return PG_GRAPH_FAIL(g, "avgpool2x: %s has an odd height or width", pg_shape_str(s));
    int shape[4] = {s[0], s[1] / 2, s[2] / 2, s[3]};
    pg_tensor t = pg_node_add(g, PG_OP_AVGPOOL2X, 1, &x, shape);
    if (t >= 0) g->nodes[t].fparams[0] = scale;
    return t;
}

pg_tensor pg_pixel_norm(pg_graph *g, pg_tensor x, float eps) {
    if (x < 0 || g->error) return -1;
    pg_tensor t = pg_node_add(g, PG_OP_PIXEL_NORM, 1, &x, g->nodes[x].shape);
    if (t >= 0) g->nodes[t].fparams[0] = eps;
    return t;
}

pg_tensor pg_pixel_norm_grad(pg_graph *g, pg_tensor dy, pg_tensor x, float eps) {
    if (dy < 0 || x < 0 || g->error) return -1;
    if (!pg_shape_equal(g->nodes[dy].shape, g->nodes[x].shape))
        return PG_GRAPH_FAIL(g, "pixel_norm_grad: dy %s and x %s differ",
                             pg_shape_str(g->nodes[dy].shape), pg_shape_str(g->nodes[x].shape));
    pg_tensor in[2] = {dy, x};
    pg_tensor t = pg_node_add(g, PG_OP_PIXEL_NORM_GRAD, 2, in, g->nodes[x].shape);
    if (t >= 0) g->nodes[t].fparams[0] = eps;
    return t;
}

static pg_tensor mbstd_check(pg_graph *g, pg_tensor x, int group) {
    int n = g->nodes[x].shape[0];
    if (group < 1 || n % group)
        return PG_GRAPH_FAIL(g,
                             "minibatch stddev: batch %d is not divisible by the group size "
                             "%d: choose a batch that is a multiple of --mbstd-group",
                             n, group);
    return x;
}

pg_tensor pg_mbstd(pg_graph *g, pg_tensor x, int group, float eps) {
    if (x < 0 || g->error || mbstd_check(g, x, group) < 0) return -1;
    const int *s = g->nodes[x].shape;
    int shape[4] = {s[0], s[1], s[2], s[3] + 1};
    pg_tensor t = pg_node_add(g, PG_OP_MBSTD, 1, &x, shape);
    if (t >= 0) {
        g->nodes[t].iparams[0] = group;
        g->nodes[t].fparams[0] = eps;
    }
    return t;
}

pg_tensor pg_mbstd_grad(pg_graph *g, pg_tensor dy, pg_tensor x, int group, float eps) {
    if (dy < 0 || x < 0 || g->error || mbstd_check(g, x, group) < 0) return -1;
    const int *s = g->nodes[x].shape, *d = g->nodes[dy].shape;
    if (d[0] != s[0] || d[1] != s[1] || d[2] != s[2] || d[3] != s[3] + 1)
        return PG_GRAPH_FAIL(g, "mbstd_grad: dy %s does not match x %s plus one channel",
                             pg_shape_str(d), pg_shape_str(s));
    pg_tensor in[2] = {dy, x};
    pg_tensor t = pg_node_add(g, PG_OP_MBSTD_GRAD, 2, in, s);
    if (t >= 0) {
        g->nodes[t].iparams[0] = group;
        g->nodes[t].fparams[0] = eps;
    }
    return t;
}

/* x / sqrt(mean_c(x^2) + eps) in primitive ops. */
pg_tensor pg_pixel_norm_primitive(pg_graph *g, pg_tensor x, float eps) {
    pg_tensor ms = pg_mean(g, pg_square(g, x), 8);
    return pg_mul(g, x, pg_rsqrt(g, pg_scale(g, ms, 1.0f, eps)));
}

/* Minibatch stddev in primitive ops: sample n = i*M + m is in group m (strided). */
pg_tensor pg_mbstd_primitive(pg_graph *g, pg_tensor x, int group, float eps) {
    if (x < 0 || g->error || mbstd_check(g, x, group) < 0) return -1;
    int s[4];
    memcpy(s, g->nodes[x].shape, sizeof s);
    int m = s[0] / group, hw = s[1] * s[2];
    pg_tensor v = pg_reshape(g, x, group, m, hw, s[3]);   /* [g, M, HW, C] */
    pg_tensor centred = pg_sub(g, v, pg_mean(g, v, 1));   /* minus the group mean */
    pg_tensor var = pg_mean(g, pg_square(g, centred), 1); /* [1, M, HW, C] */
    pg_tensor sd = pg_sqrt(g, pg_scale(g, var, 1.0f, eps));
    pg_tensor avg = pg_mean(g, sd, 4 | 8); /* [1, M, 1, 1] */
    int wide[4] = {group, m, hw, 1};
    pg_tensor feature = pg_reshape(g, pg_broadcast(g, avg, wide), s[0], s[1], s[2], 1);
    return pg_concat(g, x, feature);
}

/* ---- dispatch */
/* A lane per element of the small side (see shaders/resample.glsl); 4
 * channels per lane where C % 4 == 0 (PROGAN_EW_VEC4=0 keeps one). */
static pg_status resample_build(const pg_vk_info *info, const pg_graph *g, pg_tensor t,
                                uint32_t mode, pg_dispatch *d) {
    const pg_node *n = &g->nodes[t];
    const int *small = mode == PG_RESAMPLE_UP ? g->nodes[n->inputs[0]].shape : n->shape;
    int vec4 = small[3] % 4 == 0 && pg_ew_vec4_allowed();
    int texel = pg_texel_loads(info, (uint64_t)pg_tensor_numel(g, n->inputs[0]));
    pg_dispatch_init(d, texel ? PG_SHADER_RESAMPLE_TEXEL : PG_SHADER_RESAMPLE, 2);
    d->key.texel = texel ? PG_VK_TEXEL_SET(vec4 ? PG_VK_TEXEL_RGBA32F : PG_VK_TEXEL_R32F, 1) : 0;
    d->key.spec_count = 3;
    d->key.spec[PG_SPEC_CODE] = mode;
    d->key.spec[2] = (uint32_t)vec4;
    d->bindings[0] = t;
    d->bindings[1] = n->inputs[0];
    uint32_t units = (uint32_t)(vec4 ? small[3] / 4 : small[3]);
    for (int i = 0; i < 3; i++) d->push[i] = (uint32_t)small[i];
    d->push[3] = units;
    d->push[4] = float_bits(n->fparams[0]);
    uint64_t count = (uint64_t)small[0] * small[1] * small[2] * units;
    d->push[5] = (uint32_t)count;
    pg_fastdiv_magic(units, &d->push[6]);
    pg_fastdiv_magic((uint32_t)small[2], &d->push[8]);
    pg_fastdiv_magic((uint32_t)small[1], &d->push[10]);
    pg_dispatch_lanes(info, d, PG_WG, count);
    return PG_OK;
}

pg_status upsample2x_dispatch(const pg_vk_info *info, const pg_graph *g, pg_tensor t,
                              pg_dispatch *d) {
    return resample_build(info, g, t, PG_RESAMPLE_UP, d);
}
pg_status avgpool2x_dispatch(const pg_vk_info *info, const pg_graph *g, pg_tensor t,
                             pg_dispatch *d) {
    return resample_build(info, g, t, PG_RESAMPLE_DOWN, d);
}

static pg_status pixel_norm_build(const pg_vk_info *info, const pg_graph *g, pg_tensor t,
                                  uint32_t mode, pg_dispatch *d) {
    const pg_node *n = &g->nodes[t];
    uint64_t count = (uint64_t)pg_tensor_numel(g, t);
    int vec4 = n->shape[3] % 4 == 0 && pg_ew_vec4_allowed();
    int texel = pg_texel_loads(info, vec4 ? count / 4 : count);
    pg_dispatch_init(d, texel ? PG_SHADER_PIXEL_NORM_TEXEL : PG_SHADER_PIXEL_NORM, 3);
    uint32_t format = vec4 ? PG_VK_TEXEL_RGBA32F : PG_VK_TEXEL_R32F;
    d->key.texel = texel ? PG_VK_TEXEL_SET(format, 1) | PG_VK_TEXEL_SET(format, 2) : 0;
    d->key.spec_count = 3;
    d->key.spec[PG_SPEC_CODE] = mode;
    d->key.spec[2] = (uint32_t)vec4;
    d->bindings[0] = t;
    d->bindings[1] = n->inputs[0];
    d->bindings[2] = n->inputs[mode == PG_MODE_BACKWARD ? 1 : 0];
    uint64_t pixels = (uint64_t)n->shape[0] * n->shape[1] * n->shape[2];
    d->push[0] = (uint32_t)pixels;
    d->push[1] = (uint32_t)n->shape[3];
    d->push[2] = float_bits(n->fparams[0]);
    pg_dispatch_lanes(info, d, 64, pixels);
    return PG_OK;
}

pg_status pixel_norm_dispatch(const pg_vk_info *info, const pg_graph *g, pg_tensor t,
                              pg_dispatch *d) {
    return pixel_norm_build(info, g, t, PG_MODE_FORWARD, d);
}
pg_status pixel_norm_grad_dispatch(const pg_vk_info *info, const pg_graph *g, pg_tensor t,
                                   pg_dispatch *d) {
    return pixel_norm_build(info, g, t, PG_MODE_BACKWARD, d);
}

static pg_status mbstd_build(const pg_vk_info *info, const pg_graph *g, pg_tensor t, uint32_t mode,
                             pg_dispatch *d) {
    const pg_node *n = &g->nodes[t];
    pg_tensor x = n->inputs[mode == PG_MODE_BACKWARD ? 1 : 0];
    const int *s = g->nodes[x].shape;
    pg_dispatch_init(d, PG_SHADER_MBSTD, 3);
    d->key.spec_count = 2;
    d->key.spec[PG_SPEC_WG] = PG_WG; /* a power of 2: the tree sum halves it */
    d->key.spec[PG_SPEC_CODE] = mode;
    d->bindings[0] = t;
    d->bindings[1] = x;
    d->bindings[2] = n->inputs[0]; /* dy in backward; x again in forward */
    for (int i = 0; i < 4; i++) d->push[i] = (uint32_t)s[i];
    d->push[4] = (uint32_t)n->iparams[0];
    d->push[5] = float_bits(n->fparams[0]);
    pg_dispatch_grid(info, (uint64_t)(s[0] / n->iparams[0]), d->groups);
    return PG_OK;
}

pg_status mbstd_dispatch(const pg_vk_info *info, const pg_graph *g, pg_tensor t, pg_dispatch *d) {
    return mbstd_build(info, g, t, PG_MODE_FORWARD, d);
}
pg_status mbstd_grad_dispatch(const pg_vk_info *info, const pg_graph *g, pg_tensor t,
                              pg_dispatch *d) {
    return mbstd_build(info, g, t, PG_MODE_BACKWARD, d);
}

/* ---- VJP rules */
void upsample2x_vjp(pg_graph *g, pg_tensor t, pg_tensor dy, const int *needs, pg_tensor *dx) {
    (void)needs;
    dx[0] = pg_avgpool2x(g, dy, 4.0f * g->nodes[t].fparams[0]);
}

void avgpool2x_vjp(pg_graph *g, pg_tensor t, pg_tensor dy, const int *needs, pg_tensor *dx) {
    (void)needs;
    dx[0] = pg_upsample2x(g, dy, 0.25f * g->nodes[t].fparams[0]);
}

void pixel_norm_vjp(pg_graph *g, pg_tensor t, pg_tensor dy, const int *needs, pg_tensor *dx) {
    (void)needs;
    pg_node n = g->nodes[t];
    dx[0] = pg_pixel_norm_grad(g, dy, n.inputs[0], n.fparams[0]);
}

void mbstd_vjp(pg_graph *g, pg_tensor t, pg_tensor dy, const int *needs, pg_tensor *dx) {
    (void)needs;
    pg_node n = g->nodes[t];
    dx[0] = pg_mbstd_grad(g, dy, n.inputs[0], n.iparams[0], n.fparams[0]);
}

/* A same-shape view: a fresh node, so partial derivatives with respect to it
 * do not flow into whatever computed the viewed tensor. */
static pg_tensor view_of(pg_graph *g, pg_tensor x) {
    const int *s = g->nodes[x].shape;
    return pg_reshape(g, x, s[0], s[1], s[2], s[3]);
}

/* The VJP of a fused backward op B(dy, x) = d<dy, f(x)>/dx: rebuild B from f's
 * primitives on views of dy and x (B's own inputs may depend on each other),
 * then differentiate <c, B> with respect to those views. */
static void fused_backward_vjp(pg_graph *g, pg_tensor t, pg_tensor c, const int *needs,
                               pg_tensor *dx) {
    pg_node n = g->nodes[t];
    pg_tensor dy = view_of(g, n.inputs[0]), x = view_of(g, n.inputs[1]);
    pg_tensor f = n.op == PG_OP_PIXEL_NORM_GRAD
                      ? pg_pixel_norm_primitive(g, x, n.fparams[0])
                      : pg_mbstd_primitive(g, x, n.iparams[0], n.fparams[0]);
    pg_tensor inner = pg_sum(g, pg_mul(g, f, dy)), b;
    if (pg_grad(g, inner, -1, 1, &x, &b) != PG_OK || b < 0) return;
    pg_tensor outer = pg_sum(g, pg_mul(g, b, c));
    pg_tensor wrt[2] = {dy, x}, result[2] = {-1, -1};
    if (pg_grad(g, outer, -1, 2, wrt, result) != PG_OK) return;
    if (needs[0]) dx[0] = result[0];
    if (needs[1]) dx[1] = result[1];
}

void pixel_norm_grad_vjp(pg_graph *g, pg_tensor t, pg_tensor c, const int *needs, pg_tensor *dx) {
    fused_backward_vjp(g, t, c, needs, dx);
}

void mbstd_grad_vjp(pg_graph *g, pg_tensor t, pg_tensor c, const int *needs, pg_tensor *dx) {
    fused_backward_vjp(g, t, c, needs, dx);
}
