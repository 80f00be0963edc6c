/* Elementwise ops (with broadcasting), fill, reshape, broadcast and reduce_sum:
 * constructors with their shape rules, dispatch builders and VJP rules. */
#include "graph/ops.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

static uint32_t float_bits(float f) {
    uint32_t u;
    memcpy(&u, &f, 4);
    return u;
}

/* ---- constructors */
pg_tensor pg_fill(pg_graph *g, const int shape[4], float value) {
    pg_tensor t = pg_node_add(g, PG_OP_FILL, 0, NULL, shape);
    if (t >= 0) g->nodes[t].fparams[0] = value;
    return t;
}

pg_tensor pg_reshape(pg_graph *g, pg_tensor x, int n, int h, int w, int c) {
    int shape[4] = {n, h, w, c};
    if (x < 0 || g->error) return -1;
    if ((long long)n * h * w * c != pg_tensor_numel(g, x))
        return PG_GRAPH_FAIL(g, "reshape: %s has %lld elements, not as many as %s",
                             pg_shape_str(g->nodes[x].shape), pg_tensor_numel(g, x),
                             pg_shape_str(shape));
    return pg_node_add(g, PG_OP_RESHAPE, 1, &x, shape);
}

pg_tensor pg_reduce_sum(pg_graph *g, pg_tensor x, int axes, float scale) {
    if (x < 0 || g->error) return -1;
    int shape[4];
    for (int i = 0; i < 4; i++) shape[i] = (axes & (1 << i)) ? 1 : g->nodes[x].shape[i];
    pg_tensor t = pg_node_add(g, PG_OP_REDUCE_SUM, 1, &x, shape);
    if (t >= 0) {
        g->nodes[t].iparams[0] = axes & 15;
        g->nodes[t].fparams[0] = scale;
    }
    return t;
}

pg_tensor pg_sum(pg_graph *g, pg_tensor x) {
    return pg_reduce_sum(g, x, 15, 1.0f);
}

pg_tensor pg_mean(pg_graph *g, pg_tensor x, int axes) {
    if (x < 0 || g->error) return -1;
    long long count = 1;
    for (int i = 0; i < 4; i++)
        if (axes & (1 << i)) count *= g->nodes[x].shape[i];
    return pg_reduce_sum(g, x, axes, (float)(1.0 / (double)count));
}

pg_tensor pg_channel_sum(pg_graph *g, pg_tensor x) {
    return pg_reduce_sum(g, x, 7, 1.0f);
}

pg_tensor pg_broadcast(pg_graph *g, pg_tensor x, const int shape[4]) {
    if (x < 0 || g->error) return -1;
    for (int i = 0; i < 4; i++)
        if (g->nodes[x].shape[i] != shape[i] && g->nodes[x].shape[i] != 1)
            return PG_GRAPH_FAIL(g, "broadcast: cannot broadcast %s to %s",
                                 pg_shape_str(g->nodes[x].shape), pg_shape_str(shape));
    if (pg_shape_equal(g->nodes[x].shape, shape)) return x;
    return pg_node_add(g, PG_OP_BROADCAST, 1, &x, shape);
}

pg_tensor pg_reduce_to_shape(pg_graph *g, pg_tensor dy, const int shape[4]) {
    if (dy < 0 || g->error) return -1;
    int axes = 0;
    for (int i = 0; i < 4; i++)
        if (shape[i] == 1 && g->nodes[dy].shape[i] != 1) axes |= 1 << i;
    return axes ? pg_reduce_sum(g, dy, axes, 1.0f) : dy;
}

/* Builds an elementwise node over 1-3 operands, broadcasting size-1 axes. */
static pg_tensor elementwise(pg_graph *g, pg_op op, int n, const pg_tensor *in, float p0,
                             float p1) {
    if (op < 0 || op >= PG_OP_COUNT || pg_ops[op].shape != PG_SHAPE_BROADCAST)
        return PG_GRAPH_FAIL(g, "pg_op_elementwise: op %d is not elementwise", (int)op);
    for (int i = 0; i < n; i++)
        if (in[i] < 0) return -1;
    if (g->error) return -1;
    int shape[4];
    memcpy(shape, g->nodes[in[0]].shape, sizeof shape);
    for (int i = 1; i < n; i++)
        if (!pg_shape_broadcast(shape, g->nodes[in[i]].shape, shape))
            return PG_GRAPH_FAIL(g, "%s: shapes %s and %s do not broadcast", pg_ops[op].name,
                                 pg_shape_str(g->nodes[in[0]].shape),
                                 pg_shape_str(g->nodes[in[i]].shape));
    pg_tensor t = pg_node_add(g, op, n, in, shape);
    if (t >= 0) {
        g->nodes[t].fparams[0] = p0;
        g->nodes[t].fparams[1] = p1;
    }
    return t;
}

pg_tensor pg_op_elementwise(pg_graph *g, pg_op op, const pg_tensor *in, float p0, float p1) {
    int n = op >= 0 && op < PG_OP_COUNT ? pg_ops[op].arity_min : 0;
    return elementwise(g, op, n, in, p0, p1);
}

pg_tensor pg_add(pg_graph *g, pg_tensor a, pg_tensor b) {
    pg_tensor in[2] = {a, b};
    return elementwise(g, PG_OP_ADD, 2, in, 0, 0);
}
pg_tensor pg_sub(pg_graph *g, pg_tensor a, pg_tensor b) {
    pg_tensor in[2] = {a, b};
    return elementwise(g, PG_OP_SUB, 2, in, 0, 0);
}
pg_tensor pg_mul(pg_graph *g, pg_tensor a, pg_tensor b) {
    pg_tensor in[2] = {a, b};
    return elementwise(g, PG_OP_MUL, 2, in, 0, 0);
}
pg_tensor pg_scale(pg_graph *g, pg_tensor x, float a, float b) {
    return elementwise(g, PG_OP_SCALE, 1, &x, a, b);
}
pg_tensor pg_square(pg_graph *g, pg_tensor x) {
    return elementwise(g, PG_OP_SQUARE, 1, &x, 0, 0);
}
pg_tensor pg_sqrt(pg_graph *g, pg_tensor x) {
    return elementwise(g, PG_OP_SQRT, 1, &x, 0, 0);
}
pg_tensor pg_rsqrt(pg_graph *g, pg_tensor x) {
    return elementwise(g, PG_OP_RSQRT, 1, &x, 0, 0);
}
pg_tensor pg_lerp(pg_graph *g, pg_tensor a, pg_tensor b, pg_tensor t) {
    pg_tensor in[3] = {a, b, t};
    return elementwise(g, PG_OP_LERP, 3, in, 0, 0);
}
pg_tensor pg_leaky_relu(pg_graph *g, pg_tensor x, float slope) {
    return elementwise(g, PG_OP_LEAKY_RELU, 1, &x, slope, 0);
}
pg_tensor pg_leaky_relu_grad(pg_graph *g, pg_tensor dy, pg_tensor x, float slope) {
    pg_tensor in[2] = {dy, x};
    if (dy >= 0 && x >= 0 && !pg_shape_equal(g->nodes[dy].shape, g->nodes[x].shape))
        return PG_GRAPH_FAIL(g, "leaky_relu_grad: dy %s and x %s differ",
                             pg_shape_str(g->nodes[dy].shape), pg_shape_str(g->nodes[x].shape));
    return elementwise(g, PG_OP_LEAKY_RELU_GRAD, 2, in, slope, 0);
}
pg_tensor pg_softplus(pg_graph *g, pg_tensor x) {
    return elementwise(g, PG_OP_SOFTPLUS, 1, &x, 0, 0);
}
pg_tensor pg_sigmoid(pg_graph *g, pg_tensor x) {
    return elementwise(g, PG_OP_SIGMOID, 1, &x, 0, 0);
}
pg_tensor pg_bias_add(pg_graph *g, pg_tensor x, pg_tensor bias) {
    if (x >= 0 && bias >= 0 &&
        (pg_tensor_numel(g, bias) != g->nodes[x].shape[3] ||
         g->nodes[bias].shape[3] != g->nodes[x].shape[3]))
        return PG_GRAPH_FAIL(g, "bias_add: bias %s does not match the channels of %s",
                             pg_shape_str(g->nodes[bias].shape), pg_shape_str(g->nodes[x].shape));
    return pg_add(g, x, bias);
}

/* ---- dispatch */
static void strides_for(const int in[4], uint32_t out[4]) {
    uint32_t s = 1;
    for (int i = 3; i >= 0; i--) {
        out[i] = in[i] == 1 ? 0 : s;
        s *= (uint32_t)in[i];
    }
}

/* The index mode of an operand in shaders/elementwise.comp: 1 same shape,
 * 2 channel vector, 3 scalar, 4 one per sample, 0 anything else (strides). */
static uint32_t operand_mode(const int s[4], const int out[4]) {
    if (pg_shape_equal(s, out)) return 1;
    if (s[0] == 1 && s[1] == 1 && s[2] == 1 && s[3] == out[3]) return out[3] == 1 ? 3 : 2;
    if (s[0] == 1 && s[1] == 1 && s[2] == 1 && s[3] == 1) return 3;
    if (s[0] == out[0] && s[1] == 1 && s[2] == 1 && s[3] == 1) return 4;
    return 0;
}

/* Whether 4 consecutive outputs of an operand indexed by `mode` read 4
 * consecutive values (modes 1, 2 with C % 4 == 0) or one (3, 4 with a
 * per-sample size that is a multiple of 4): the shader's VEC4 path. */
static int operand_vec4(uint32_t mode, const int out[4]) {
    return mode == 1 || mode == 3 || (mode == 2 && out[3] % 4 == 0) ||
           (mode == 4 && (out[1] * out[2] * out[3]) % 4 == 0);
}

int pg_ew_vec4_allowed(void) {
    const char *v = getenv("PROGAN_EW_VEC4");
    return !v || strcmp(v, "0") != 0;
}

/* The texel module where every operand fits (pg_texel_loads): RGBA32F views
 * for the operands the VEC4 path reads as vec4s (modes 1, 2), R32F for the
 * rest, the unused ones included (they alias the output). */
static void elementwise_texels(const pg_vk_info *info, const pg_graph *g, pg_dispatch *d) {
    int vec4 = d->key.spec[5] != 0;
    uint32_t texel = 0;
    for (int k = 0; k < 3; k++) {
        uint32_t mode = d->key.spec[2 + k];
        int rgba = vec4 && (mode == 1 || mode == 2);
        uint64_t n = (uint64_t)pg_tensor_numel(g, d->bindings[1 + k]) / (rgba ? 4 : 1);
        if (!pg_texel_loads(info, n)) return;
        texel |= PG_VK_TEXEL_SET(rgba ? PG_VK_TEXEL_RGBA32F : PG_VK_TEXEL_R32F, 1 + k);
    }
    d->key.shader = PG_SHADER_ELEMENTWISE_TEXEL;
    d->key.texel = texel;
}

static pg_status elementwise_build(const pg_vk_info *info, const pg_graph *g, pg_tensor t,
                                   uint32_t opcode, pg_dispatch *d) {
    const pg_node *n = &g->nodes[t];
    pg_dispatch_init(d, PG_SHADER_ELEMENTWISE, 4);
    d->key.spec_count = 6;
    d->key.spec[PG_SPEC_CODE] = opcode;
    for (int k = 0; k < 3; k++)
        d->key.spec[2 + k] =
            k < n->n_inputs ? operand_mode(g->nodes[n->inputs[k]].shape, n->shape) : 1;
    for (int i = 0; i < 4; i++) d->push[i] = (uint32_t)n->shape[i];
    d->bindings[0] = t;
    for (int k = 0; k < 3; k++) {
        pg_tensor in = k < n->n_inputs ? n->inputs[k] : t;
        d->bindings[1 + k] = in;
        if (k < n->n_inputs) strides_for(g->nodes[in].shape, &d->push[4 + 4 * k]);
    }
    d->push[16] = float_bits(n->fparams[0]);
    d->push[17] = float_bits(n->fparams[1]);
    uint64_t count = (uint64_t)pg_tensor_numel(g, t);
    d->push[18] = (uint32_t)count;
    int vec4 = count % 4 == 0 && pg_ew_vec4_allowed();
    for (int k = 0; k < 3; k++) vec4 = vec4 && operand_vec4(d->key.spec[2 + k], n->shape);
    d->key.spec[5] = (uint32_t)vec4;
    elementwise_texels(info, g, d);
    pg_dispatch_lanes(info, d, PG_WG, vec4 ? count / 4 : count);
    return PG_OK;
}

/* Every op of shaders/elementwise.comp (fill and broadcast too): the opcode is
 * the op table's code column. */
pg_status elementwise_dispatch(const pg_vk_info *info, const pg_graph *g, pg_tensor t,
                               pg_dispatch *d) {
    return elementwise_build(info, g, t, pg_ops[g->nodes[t].op].code, d);
}

/* Where the reduced elements lie (shaders/reduce.glsl, LAYOUT): 1 when the
 * reduced axes all come before the kept ones, 2 when all after, 0 otherwise;
 * axes of extent 1 go either way. */
static uint32_t reduce_layout(const int shape[4], int axes) {
    int last_reduced = -1, first_reduced = 4, last_kept = -1, first_kept = 4;
    for (int i = 0; i < 4; i++) {
        if (shape[i] == 1) continue;
        int reduced = (axes >> i) & 1;
        if (reduced)
            last_reduced = i, first_reduced = first_reduced < i ? first_reduced : i;
        else
            last_kept = i, first_kept = first_kept < i ? first_kept : i;
    }
    if (last_reduced < first_kept) return 1;
    if (last_kept < first_reduced) return 2;
    return 0;
}

/* Whether a CPU sums out_count outputs a lane each (columns) rather than a
 * workgroup each: lavapipe's barriers cost, except for a handful of outputs. */
static int cpu_columns(const pg_vk_info *info, uint64_t out_count) {
    return info->type == VK_PHYSICAL_DEVICE_TYPE_CPU && out_count >= 4;
}

/* One pass of shaders/reduce.comp (declared in ops.h). */
void pg_reduce_pass(const pg_vk_info *info, pg_dispatch *d, pg_tensor out, pg_tensor in,
                    const int in_shape[4], int axes, float scale, uint64_t out_count,
                    uint64_t chunk, uint64_t splits) {
    /* many outputs, or a CPU: a lane each (no barriers); few: a workgroup each
     * (a pairwise tree: a sum of everything rounds better than two sequential ones) */
    int columns = out_count * splits >= 64 || cpu_columns(info, out_count);
    uint32_t layout = reduce_layout(in_shape, axes);
    int vec4 = columns && layout == 1 && out_count % 4 == 0 && pg_ew_vec4_allowed();
    uint64_t in_count = (uint64_t)in_shape[0] * in_shape[1] * in_shape[2] * in_shape[3];
    int texel = pg_texel_loads(info, vec4 ? in_count / 4 : in_count);
    pg_dispatch_init(d, texel ? PG_SHADER_REDUCE_TEXEL : PG_SHADER_REDUCE, 3);
    d->key.texel = texel ? PG_VK_TEXEL_SET(vec4 ? PG_VK_TEXEL_RGBA32F : PG_VK_TEXEL_R32F, 1) : 0;
    d->key.spec_count = 5;           /* spec 2: EPI, 0 unless pg_epilogue_set */
    d->key.spec[PG_SPEC_WG] = PG_WG; /* a power of 2: the tree sum halves it */
    d->key.spec[PG_SPEC_CODE] = columns ? PG_REDUCE_COLUMNS : PG_REDUCE_TREE;
    d->key.spec[3] = layout;
    d->key.spec[4] = (uint32_t)vec4;
    d->bindings[0] = out;
    d->bindings[1] = in;
    d->bindings[2] = in; /* the epilogue's operand (pg_epilogue_set), declared either way */
    for (int i = 0; i < 4; i++) d->push[i] = (uint32_t)in_shape[i];
    d->push[4] = (uint32_t)axes;
    d->push[5] = float_bits(scale);
    d->push[6] = (uint32_t)out_count;
    d->push[7] = (uint32_t)chunk;
    d->push[8] = (uint32_t)splits;
    d->push[10] = 1; /* the epilogue operand's length (never 0: a modulus) */
    pg_fastdiv_magic(1, &d->push[11]);
    uint64_t work = out_count * splits;
    if (columns)
        pg_dispatch_lanes(info, d, PG_WG, vec4 ? work / 4 : work);
    else
        pg_dispatch_grid(info, work, d->groups);
}

/* Chunks per output on a CPU: enough lanes for every core's workgroups
 * (a workgroup of lanes each in the columns mode), no chunk so short that the
 * second pass costs more than it saves, and no more chunks than elements per
 * chunk (two sequential sums of about sqrt(reduced) terms round like the
 * GPU's tree). */
static uint64_t cpu_splits(uint64_t out_count, uint64_t reduced) {
    const uint64_t lanes = 1024, min_chunk = 64;
    uint64_t per_split = out_count % 4 == 0 ? out_count / 4 : out_count;
    uint64_t splits = (lanes + per_split - 1) / per_split;
    uint64_t most = reduced / min_chunk, balanced = (uint64_t)sqrt((double)reduced);
    if (most > balanced) most = balanced;
    return splits < most ? splits : (most ? most : 1);
}

/* A reduction is cut into chunks so no loop runs longer than PG_MAX_LOOP_TRIPS
 * (and GPUs get parallel work): partial sums in the scratch, then a second pass.
 * Workgroup chunks hold PG_WG lanes' worth; a lane's chunk is PG_MAX_LOOP_TRIPS;
 * on CPUs, cpu_splits. */
pg_status reduce_sum_dispatch(const pg_vk_info *info, const pg_graph *g, pg_tensor t,
                              pg_dispatch *d) {
    const pg_node *n = &g->nodes[t];
    const int *in = g->nodes[n->inputs[0]].shape;
    uint64_t out_count = (uint64_t)pg_tensor_numel(g, t);
    uint64_t reduced = (uint64_t)pg_tensor_numel(g, n->inputs[0]) / out_count;
    uint64_t chunk = out_count >= 64 ? PG_MAX_LOOP_TRIPS / 2 : PG_WG * 256;
    if (cpu_columns(info, out_count)) {
        uint64_t s = cpu_splits(out_count, reduced), least = PG_MAX_LOOP_TRIPS / 2;
        chunk = (reduced + s - 1) / s;
        if (chunk > least) chunk = least;
    }
    uint64_t splits = (reduced + chunk - 1) / chunk;
    if (splits <= 1) {
        pg_reduce_pass(info, d, t, n->inputs[0], in, n->iparams[0], n->fparams[0], out_count,
                       reduced, 1);
        return pg_epilogue_set(g, t, d);
    }
    pg_reduce_pass(info, &d[0], PG_BIND_SCRATCH, n->inputs[0], in, n->iparams[0], 1.0f, out_count,
                   chunk, splits);
    d[0].n_passes = 2;
    d[0].scratch_bytes = 4 * splits * out_count;
    int partial_shape[4] = {(int)splits, 1, 1, (int)out_count};
    pg_reduce_pass(info, &d[1], t, PG_BIND_SCRATCH, partial_shape, 1, n->fparams[0], out_count,
                   splits, 1);
    return pg_epilogue_set(g, t, d);
}

/* ---- VJP rules: only constructors, so they can be differentiated again */
void fill_vjp(pg_graph *g, pg_tensor t, pg_tensor dy, const int *needs, pg_tensor *dx) {
    (void)g, (void)t, (void)dy, (void)needs, (void)dx;
}

void reshape_vjp(pg_graph *g, pg_tensor t, pg_tensor dy, const int *needs, pg_tensor *dx) {
    (void)needs;
    const int *s = g->nodes[g->nodes[t].inputs[0]].shape;
    dx[0] = pg_reshape(g, dy, s[0], s[1], s[2], s[3]);
}

void reduce_sum_vjp(pg_graph *g, pg_tensor t, pg_tensor dy, const int *needs, pg_tensor *dx) {
    (void)needs;
    pg_tensor x = g->nodes[t].inputs[0];
    float scale = g->nodes[t].fparams[0];
    int shape[4];
    memcpy(shape, g->nodes[x].shape, sizeof shape);
    pg_tensor b = pg_broadcast(g, dy, shape);
    dx[0] = scale == 1.0f ? b : pg_scale(g, b, scale, 0.0f);
}

void broadcast_vjp(pg_graph *g, pg_tensor t, pg_tensor dy, const int *needs, pg_tensor *dx) {
    (void)needs;
    dx[0] = pg_reduce_to_shape(g, dy, g->nodes[g->nodes[t].inputs[0]].shape);
}

/* dy reduced back to operand k's shape (the adjoint of its broadcast). */
static pg_tensor to_operand(pg_graph *g, pg_tensor t, int k, pg_tensor dy) {
    return pg_reduce_to_shape(g, dy, g->nodes[g->nodes[t].inputs[k]].shape);
}

void elementwise_vjp(pg_graph *g, pg_tensor t, pg_tensor dy, const int *needs, pg_tensor *dx) {
    const pg_node n = g->nodes[t]; /* a copy: constructors may move g->nodes */
    pg_tensor a = n.inputs[0], b = n.inputs[1], c = n.inputs[2];
    switch (n.op) {
    case PG_OP_ADD:
        if (needs[0]) dx[0] = to_operand(g, t, 0, dy);
        if (needs[1]) dx[1] = to_operand(g, t, 1, dy);
        break;
    case PG_OP_SUB:
        if (needs[0]) dx[0] = to_operand(g, t, 0, dy);
        if (needs[1]) dx[1] = to_operand(g, t, 1, pg_scale(g, dy, -1.0f, 0.0f));
        break;
    case PG_OP_MUL:
        if (needs[0]) dx[0] = to_operand(g, t, 0, pg_mul(g, dy, b));
        if (needs[1]) dx[1] = to_operand(g, t, 1, pg_mul(g, dy, a));
        break;
    case PG_OP_SCALE:
        dx[0] = pg_scale(g, dy, n.fparams[0], 0.0f);
        break;
    case PG_OP_SQUARE:
        dx[0] = pg_mul(g, dy, pg_scale(g, a, 2.0f, 0.0f));
        break;
    case PG_OP_SQRT: /* d sqrt(a) = 0.5 / sqrt(a) = 0.5 * rsqrt(a) */
        dx[0] = pg_mul(g, dy, pg_scale(g, pg_rsqrt(g, a), 0.5f, 0.0f));
        break;
    case PG_OP_RSQRT: { /* d a^-1/2 = -0.5 a^-3/2 = -0.5 * y^3 */
        pg_tensor y3 = pg_mul(g, t, pg_square(g, t));
        dx[0] = pg_mul(g, dy, pg_scale(g, y3, -0.5f, 0.0f));
        break;
    }
    case PG_OP_LERP: { /* y = a + (b - a) t */
        if (needs[0]) dx[0] = to_operand(g, t, 0, pg_mul(g, dy, pg_scale(g, c, -1.0f, 1.0f)));
        if (needs[1]) dx[1] = to_operand(g, t, 1, pg_mul(g, dy, c));
        if (needs[2]) dx[2] = to_operand(g, t, 2, pg_mul(g, dy, pg_sub(g, b, a)));
        break;
    }
    case PG_OP_LEAKY_RELU:
        dx[0] = pg_leaky_relu_grad(g, dy, a, n.fparams[0]);
        break;
    case PG_OP_LEAKY_RELU_GRAD: /* linear in dy with a mask from x; zero w.r.t. x a.e. */
        if (needs[0]) dx[0] = pg_leaky_relu_grad(g, dy, b, n.fparams[0]);
        break;
    case PG_OP_SOFTPLUS:
        dx[0] = pg_mul(g, dy, pg_sigmoid(g, a));
        break;
    case PG_OP_SIGMOID: /* s (1 - s) */
        dx[0] = pg_mul(g, dy, pg_mul(g, t, pg_scale(g, t, -1.0f, 1.0f)));
        break;
    default:
        PG_GRAPH_FAIL(g, "elementwise_vjp: %s is not elementwise", pg_ops[n.op].name);
    }
}
