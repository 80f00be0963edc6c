/* Channel concat / slice / pad (each other's VJPs), pack (tensors placed in
 * one flat tensor by the planner) and the in-place updates: Adam, RMSprop,
 * clipping and the moving average, which have side effects and no output. */
#include "graph/ops.h"

#include <string.h>

static uint32_t float_bits(float f) {
    uint32_t u;
    memcpy(&u, &f, 4);
    return u;
}

pg_tensor pg_concat(pg_graph *g, pg_tensor a, pg_tensor b) {
    if (a < 0 || b < 0 || g->error) return -1;
    const int *sa = g->nodes[a].shape, *sb = g->nodes[b].shape;
    if (sa[0] != sb[0] || sa[1] != sb[1] || sa[2] != sb[2])
        return PG_GRAPH_FAIL(g, "concat: %s and %s differ in N,H,W", pg_shape_str(sa),
                             pg_shape_str(sb));
    int shape[4] = {sa[0], sa[1], sa[2], sa[3] + sb[3]};
    pg_tensor in[2] = {a, b};
    return pg_node_add(g, PG_OP_CONCAT, 2, in, shape);
}

pg_tensor pg_slice(pg_graph *g, pg_tensor x, int begin, int count) {
    if (x < 0 || g->error) return -1;
    const int *s = g->nodes[x].shape;
    if (begin < 0 || count < 1 || begin + count > s[3])
        return PG_GRAPH_FAIL(g, "slice: channels [%d, %d) outside %s", begin, begin + count,
                             pg_shape_str(s));
    int shape[4] = {s[0], s[1], s[2], count};
    pg_tensor t = pg_node_add(g, PG_OP_SLICE, 1, &x, shape);
    if (t >= 0) g->nodes[t].iparams[0] = begin;
    return t;
}

pg_tensor pg_pad_channels(pg_graph *g, pg_tensor x, int begin, int total) {
    if (x < 0 || g->error) return -1;
    const int *s = g->nodes[x].shape;
    if (begin < 0 || begin + s[3] > total)
        return PG_GRAPH_FAIL(g, "pad_channels: %s at %d does not fit %d channels", pg_shape_str(s),
                             begin, total);
    int shape[4] = {s[0], s[1], s[2], total};
    pg_tensor t = pg_node_add(g, PG_OP_PAD_CHANNELS, 1, &x, shape);
    if (t >= 0) g->nodes[t].iparams[0] = begin;
    return t;
}

static int is_scalar(const pg_graph *g, pg_tensor t) {
    return t >= 0 && pg_tensor_numel(g, t) == 1;
}

/* An update's control tensor: lr alone, or [lr, skip] (one concat per graph,
 * shared by every update of the step), so an update binds at most four
 * storage buffers per pass (the Vulkan minimum per stage). */
static pg_tensor update_control(pg_graph *g, pg_tensor lr, pg_tensor skip) {
    if (skip < 0) return lr;
    for (int i = g->count - 1; i >= 0; i--)
        if (g->nodes[i].op == PG_OP_CONCAT && g->nodes[i].inputs[0] == lr &&
            g->nodes[i].inputs[1] == skip)
            return i;
    return pg_concat(g, lr, skip);
}

pg_tensor pg_adam(pg_graph *g, pg_tensor param, pg_tensor grad, pg_tensor m, pg_tensor v,
                  pg_tensor lr_t, pg_tensor skip, float beta1, float beta2, float eps) {
    if (param < 0 || grad < 0 || m < 0 || v < 0 || lr_t < 0 || g->error) return -1;
    const int *s = g->nodes[param].shape;
    if (g->nodes[param].op != PG_OP_EXTERNAL || g->nodes[m].op != PG_OP_EXTERNAL ||
        g->nodes[v].op != PG_OP_EXTERNAL)
        return PG_GRAPH_FAIL(g, "adam: param, m and v must be external (persistent) tensors");
    if (!pg_shape_equal(s, g->nodes[grad].shape) || !pg_shape_equal(s, g->nodes[m].shape) ||
        !pg_shape_equal(s, g->nodes[v].shape) || !is_scalar(g, lr_t) ||
        (skip >= 0 && !is_scalar(g, skip)))
        return PG_GRAPH_FAIL(g, "adam: shapes of %s do not match", g->nodes[param].name);
    pg_tensor in[5] = {param, grad, m, v, update_control(g, lr_t, skip)};
    pg_tensor t = pg_node_add(g, PG_OP_ADAM, 5, in, s);
    if (t < 0) return t;
    g->nodes[t].side_effect = 1;
    g->nodes[t].fparams[0] = beta1;
    g->nodes[t].fparams[1] = beta2;
    g->nodes[t].fparams[2] = eps;
    return t;
}

int pg_update_skipped(float skip_value) {
    uint32_t bits = float_bits(skip_value);
    return (bits & 0x7f800000u) == 0x7f800000u;
}

pg_tensor pg_ema(pg_graph *g, pg_tensor avg, pg_tensor src, float beta) {
    if (avg < 0 || src < 0 || g->error) return -1;
    if (g->nodes[avg].op != PG_OP_EXTERNAL ||
        !pg_shape_equal(g->nodes[avg].shape, g->nodes[src].shape))
        return PG_GRAPH_FAIL(g, "ema: the average must be an external tensor shaped like %s",
                             pg_shape_str(g->nodes[src].shape));
    pg_tensor in[2] = {avg, src};
    pg_tensor t = pg_node_add(g, PG_OP_EMA, 2, in, g->nodes[avg].shape);
    if (t >= 0) {
        g->nodes[t].side_effect = 1;
        g->nodes[t].fparams[0] = beta;
    }
    return t;
}

pg_tensor pg_rmsprop(pg_graph *g, pg_tensor param, pg_tensor grad, pg_tensor v, pg_tensor lr,
                     pg_tensor skip, float alpha, float eps) {
    if (param < 0 || grad < 0 || v < 0 || lr < 0 || g->error) return -1;
    const int *s = g->nodes[param].shape;
    if (g->nodes[param].op != PG_OP_EXTERNAL || g->nodes[v].op != PG_OP_EXTERNAL ||
        !pg_shape_equal(s, g->nodes[grad].shape) || !pg_shape_equal(s, g->nodes[v].shape) ||
        !is_scalar(g, lr) || (skip >= 0 && !is_scalar(g, skip)))
        return PG_GRAPH_FAIL(g,
                             "rmsprop: %s: param and v must be externals shaped like the "
                             "gradient",
                             g->nodes[param].name);
    pg_tensor in[4] = {param, grad, v, update_control(g, lr, skip)};
    pg_tensor t = pg_node_add(g, PG_OP_RMSPROP, 4, in, s);
    if (t < 0) return t;
    g->nodes[t].side_effect = 1;
    g->nodes[t].fparams[0] = alpha;
    g->nodes[t].fparams[2] = eps;
    return t;
}

pg_tensor pg_clip(pg_graph *g, pg_tensor param, float bound) {
    if (param < 0 || g->error) return -1;
    if (g->nodes[param].op != PG_OP_EXTERNAL)
        return PG_GRAPH_FAIL(g, "clip: %s is not an external tensor", g->nodes[param].name);
    pg_tensor t = pg_node_add(g, PG_OP_CLIP, 1, &param, g->nodes[param].shape);
    if (t < 0) return t;
    g->nodes[t].side_effect = 1;
    g->nodes[t].fparams[0] = bound;
    return t;
}

/* The node whose bytes x is (through reshapes). */
static pg_tensor bytes_root(const pg_graph *g, pg_tensor x) {
    while (g->nodes[x].op == PG_OP_RESHAPE) x = g->nodes[x].inputs[0];
    return x;
}

/* Whether the planner can compute x in a pack's place: a kernel's own output
 * that no pack holds yet (inputs and externals have bytes of their own). */
static int packable(const pg_graph *g, pg_tensor x) {
    pg_tensor r = bytes_root(g, x);
    const pg_node *n = &g->nodes[r];
    if (n->op == PG_OP_INPUT || n->op == PG_OP_EXTERNAL || n->op == PG_OP_PACK || n->side_effect)
        return 0;
    for (int i = 0; i < g->count; i++)
        if (g->nodes[i].op == PG_OP_PACK &&
            bytes_root(g, g->nodes[i].inputs[g->nodes[i].n_inputs - 1]) == r)
            return 0;
    return 1;
}

static int places_overlap(const pg_graph *g, const pg_tensor *xs, const int *at, int k) {
    for (int j = 0; j < k; j++)
        if (at[j] < at[k] + pg_tensor_numel(g, xs[k]) && at[k] < at[j] + pg_tensor_numel(g, xs[j]))
            return 1;
    return 0;
}

pg_tensor pg_pack(pg_graph *g, int n, const pg_tensor *xs, const int *at, int total) {
    if (g->error) return -1;
    if (n < 1 || total < 1) return PG_GRAPH_FAIL(g, "pack: %d tensors into %d floats", n, total);
    pg_tensor chain = -1;
    int shape[4] = {1, 1, 1, total};
    for (int k = 0; k < n; k++) {
        if (xs[k] < 0) return -1;
        long long numel = pg_tensor_numel(g, xs[k]);
        if (at[k] < 0 || at[k] % 64 || at[k] + numel > total || places_overlap(g, xs, at, k))
            return PG_GRAPH_FAIL(g,
                                 "pack: %s %s at %d does not fit %d floats, is not a multiple "
                                 "of 64 or overlaps an earlier tensor",
                                 g->nodes[xs[k]].name, pg_shape_str(g->nodes[xs[k]].shape), at[k],
                                 total);
        pg_tensor member = xs[k];
        if (!packable(g, member)) /* an exact copy the planner can place */
            member = pg_node_add(g, PG_OP_BROADCAST, 1, &member, g->nodes[member].shape);
        pg_tensor in[2] = {chain, member};
        chain = chain < 0 ? pg_node_add(g, PG_OP_PACK, 1, &member, shape)
                          : pg_node_add(g, PG_OP_PACK, 2, in, shape);
        if (chain < 0) return -1;
        g->nodes[chain].iparams[0] = at[k];
    }
    return chain;
}

/* ---- dispatch */
pg_status channels_dispatch(const pg_vk_info *info, const pg_graph *g, pg_tensor t,
                            pg_dispatch *d) {
    const pg_node *n = &g->nodes[t];
    pg_dispatch_init(d, PG_SHADER_CHANNELS, 3);
    d->key.spec_count = 2;
    d->key.spec[PG_SPEC_CODE] = pg_ops[n->op].code;
    d->bindings[0] = t;
    d->bindings[1] = n->inputs[0];
    d->bindings[2] = n->inputs[n->n_inputs - 1];
    uint64_t count = (uint64_t)pg_tensor_numel(g, t);
    d->push[0] = (uint32_t)count;
    d->push[1] = (uint32_t)n->shape[3];                     /* output channels */
    d->push[2] = (uint32_t)g->nodes[n->inputs[0]].shape[3]; /* first input's channels */
    d->push[3] = (uint32_t)g->nodes[n->inputs[n->n_inputs - 1]].shape[3];
    d->push[4] = (uint32_t)n->iparams[0]; /* begin (slice, pad) */
    pg_dispatch_lanes(info, d, PG_WG, count);
    return PG_OK;
}

/* Bindings per mode are listed in shaders/optimizer.comp: four at most (the
 * Vulkan minimum per stage), so Adam runs in two passes, the moments and then
 * the parameter. Unused slots bind the parameter again. */
pg_status optimizer_dispatch(const pg_vk_info *info, const pg_graph *g, pg_tensor t,
                             pg_dispatch *d) {
    const pg_node *n = &g->nodes[t];
    const pg_tensor *in = n->inputs;
    pg_tensor ctl = n->op == PG_OP_ADAM ? in[4] : n->op == PG_OP_RMSPROP ? in[3] : in[0];
    uint32_t has_skip = ctl != in[0] && pg_tensor_numel(g, ctl) == 2; /* [lr, skip] */
    pg_tensor bind[2][4] = {{in[0], in[0], in[0], ctl}, {in[0], in[2], in[3], ctl}};
    for (int k = 1; k < n->n_inputs && k < 3; k++) bind[0][k] = in[k];
    if (n->op == PG_OP_ADAM) bind[0][0] = in[2], bind[0][1] = in[3], bind[0][2] = in[1];
    int passes = n->op == PG_OP_ADAM ? 2 : 1;
    uint64_t count = (uint64_t)pg_tensor_numel(g, t);
    for (int pass = 0; pass < passes; pass++) {
        pg_dispatch_init(&d[pass], PG_SHADER_OPTIMIZER, 4);
        d[pass].key.spec_count = 3;
        d[pass].key.spec[PG_SPEC_CODE] = pass ? PG_OPTIM_ADAM_PARAM : pg_ops[n->op].code;
        d[pass].key.spec[2] = has_skip;
        memcpy(d[pass].bindings, bind[pass], sizeof bind[pass]);
        d[pass].push[0] = (uint32_t)count;
        for (int k = 0; k < 3; k++) d[pass].push[1 + k] = float_bits(n->fparams[k]);
        pg_dispatch_lanes(info, &d[pass], PG_WG, count);
    }
    d[0].n_passes = passes;
    return PG_OK;
}

/* ---- VJP rules */
void channels_vjp(pg_graph *g, pg_tensor t, pg_tensor dy, const int *needs, pg_tensor *dx) {
    pg_node n = g->nodes[t];
    if (n.op == PG_OP_CONCAT) {
        int ca = g->nodes[n.inputs[0]].shape[3], cb = g->nodes[n.inputs[1]].shape[3];
        if (needs[0]) dx[0] = pg_slice(g, dy, 0, ca);
        if (needs[1]) dx[1] = pg_slice(g, dy, ca, cb);
    } else if (n.op == PG_OP_SLICE) {
        dx[0] = pg_pad_channels(g, dy, n.iparams[0], g->nodes[n.inputs[0]].shape[3]);
    } else {
        dx[0] = pg_slice(g, dy, n.iparams[0], g->nodes[n.inputs[0]].shape[3]);
    }
}

/* A member's gradient is its place in dy; the previous pack's is dy itself
 * (its value at this member's place is a gap, a constant). */
void pack_vjp(pg_graph *g, pg_tensor t, pg_tensor dy, const int *needs, pg_tensor *dx) {
    pg_node n = g->nodes[t];
    int last = n.n_inputs - 1;
    const int *s = g->nodes[n.inputs[last]].shape;
    if (last && needs[0]) dx[0] = dy;
    if (needs[last])
        dx[last] = pg_reshape(g, pg_slice(g, dy, n.iparams[0], s[0] * s[1] * s[2] * s[3]), s[0],
                              s[1], s[2], s[3]);
}

void optimizer_vjp(pg_graph *g, pg_tensor t, pg_tensor dy, const int *needs, pg_tensor *dx) {
    (void)t, (void)dy, (void)needs, (void)dx;
    PG_GRAPH_FAIL(g, "optimizer updates change parameters in place and cannot be differentiated");
}
