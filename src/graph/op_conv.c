/* conv2d (3x3 pad 1 or 1x1, stride 1, NHWC, HWIO weights, a constant scale for
 * equalized LR), its input- and weight-gradient ops, and matmul. The three conv
 * ops are each other's VJPs, so the family is closed under differentiation. */
#include "graph/ops.h"

#include <string.h>

/* Keep in sync with MODE in shaders/conv2d.comp. */
enum { CONV_FORWARD = 0, CONV_INPUT_GRAD = 1, CONV_WEIGHT_GRAD = 2 };

static uint32_t float_bits(float f) {
    uint32_t u;
    memcpy(&u, &f, 4);
    return u;
}

static int kernel_ok(int k) {
    return k == 1 || k == 3;
}

pg_tensor pg_conv2d(pg_graph *g, pg_tensor x, pg_tensor w, float scale) {
    if (x < 0 || w < 0 || g->error) return -1;
    const int *xs = g->nodes[x].shape, *ws = g->nodes[w].shape;
    if (!kernel_ok(ws[0]) || ws[1] != ws[0] || ws[2] != xs[3])
        return PG_GRAPH_FAIL(g,
                             "conv2d: weight %s does not fit input %s (want [k,k,%d,Co], k 1 or 3)",
                             pg_shape_str(ws), pg_shape_str(xs), xs[3]);
    int shape[4] = {xs[0], xs[1], xs[2], ws[3]};
    pg_tensor in[2] = {x, w};
    pg_tensor t = pg_node_add(g, PG_OP_CONV2D, 2, in, shape);
    if (t >= 0) g->nodes[t].fparams[0] = scale;
    return t;
}

pg_tensor pg_conv2d_input_grad(pg_graph *g, pg_tensor dy, pg_tensor w, float scale) {
    if (dy < 0 || w < 0 || g->error) return -1;
    const int *ds = g->nodes[dy].shape, *ws = g->nodes[w].shape;
    if (!kernel_ok(ws[0]) || ws[1] != ws[0] || ws[3] != ds[3])
        return PG_GRAPH_FAIL(g, "conv2d_input_grad: weight %s does not fit dy %s", pg_shape_str(ws),
                             pg_shape_str(ds));
    int shape[4] = {ds[0], ds[1], ds[2], ws[2]};
    pg_tensor in[2] = {dy, w};
    pg_tensor t = pg_node_add(g, PG_OP_CONV2D_INPUT_GRAD, 2, in, shape);
    if (t >= 0) g->nodes[t].fparams[0] = scale;
    return t;
}

pg_tensor pg_conv2d_weight_grad(pg_graph *g, pg_tensor x, pg_tensor dy, int k, float scale) {
    if (x < 0 || dy < 0 || g->error) return -1;
    const int *xs = g->nodes[x].shape, *ds = g->nodes[dy].shape;
    if (!kernel_ok(k) || xs[0] != ds[0] || xs[1] != ds[1] || xs[2] != ds[2])
        return PG_GRAPH_FAIL(g, "conv2d_weight_grad: x %s and dy %s differ in N,H,W (k=%d)",
                             pg_shape_str(xs), pg_shape_str(ds), k);
    int shape[4] = {k, k, xs[3], ds[3]};
    pg_tensor in[2] = {x, dy};
    pg_tensor t = pg_node_add(g, PG_OP_CONV2D_WEIGHT_GRAD, 2, in, shape);
    if (t >= 0) g->nodes[t].fparams[0] = scale;
    return t;
}

/* rows and cols of a tensor seen as a matrix, after an optional transpose */
static void matrix_dims(const int s[4], int transpose, int *rows, int *cols) {
    int r = s[0] * s[1] * s[2], c = s[3];
    *rows = transpose ? c : r;
    *cols = transpose ? r : c;
}

pg_tensor pg_matmul(pg_graph *g, pg_tensor a, pg_tensor b, int transpose_a, int transpose_b,
                    float scale) {
    if (a < 0 || b < 0 || g->error) return -1;
    int m, k, k2, n;
    matrix_dims(g->nodes[a].shape, transpose_a, &m, &k);
    matrix_dims(g->nodes[b].shape, transpose_b, &k2, &n);
    if (k != k2)
        return PG_GRAPH_FAIL(g, "matmul: op(a) is %dx%d but op(b) is %dx%d (a %s%s, b %s%s)", m, k,
                             k2, n, pg_shape_str(g->nodes[a].shape), transpose_a ? "^T" : "",
                             pg_shape_str(g->nodes[b].shape), transpose_b ? "^T" : "");
    int shape[4] = {m, 1, 1, n};
    pg_tensor in[2] = {a, b};
    pg_tensor t = pg_node_add(g, PG_OP_MATMUL, 2, in, shape);
    if (t >= 0) {
        g->nodes[t].iparams[0] = transpose_a != 0;
        g->nodes[t].iparams[1] = transpose_b != 0;
        g->nodes[t].fparams[0] = scale;
    }
    return t;
}

/* ---- dispatch: one register-blocked implicit-GEMM shader per family (see the
 * header of shaders/conv2d.comp); tile sizes are specialization constants. */
typedef struct {
    uint32_t wg, tm, tn; /* lanes per workgroup, rows per lane, columns per workgroup */
    uint32_t sgc;        /* lanes of a subgroup that share the column loads */
} gemm_tile;

/* Tiles for `rows` x `cols` outputs: rows across lanes, columns in registers.
 * CPU drivers (lavapipe): every lane-varying load is a loop over the SIMD lanes,
 * so the tile is as large as the measurements allowed (8 rows x 32 columns per
 * lane, accumulators partly spilled); GPUs get a smaller, register-resident
 * tile (not tuned: no GPU was available; a shared-memory variant belongs there). */
static gemm_tile choose_tile(const pg_vk_info *info, uint64_t rows, uint64_t cols) {
    int cpu = info->type == VK_PHYSICAL_DEVICE_TYPE_CPU;
    gemm_tile t = {64, cpu ? 8 : 4, cpu ? 32 : 16, 8};
    uint32_t sub = info->subgroup_size ? info->subgroup_size : 8;
    if (!info->subgroup_arithmetic || t.sgc > info->subgroup_min) t.sgc = 1;
    while (t.tn > t.sgc && t.tn / 2 >= cols) t.tn /= 2;
    if (t.tn < t.sgc) t.sgc = t.tn;
    uint64_t lanes = (rows + t.tm - 1) / t.tm;
    while (t.wg > sub && t.wg / 2 >= lanes) t.wg /= 2;
    return t;
}

/* The conv and matmul shaders declare subgroup ballot (for subgroupBroadcast);
 * Vulkan 1.1 does not promise it, so a device without it is told so plainly. */
static pg_status ballot_check(const pg_vk_info *info) {
    if (info->subgroup_ballot) return PG_OK;
    return PG_FAIL(PG_ERR_UNSUPPORTED,
                   "device %s lacks subgroup ballot operations in compute shaders, which the "
                   "conv2d and matmul kernels use: update the driver or choose another --device",
                   info->name);
}

static pg_status conv_build(const pg_vk_info *info, const pg_graph *g, pg_tensor t, uint32_t mode,
                            pg_dispatch *d) {
    PG_TRY(ballot_check(info));
    const pg_node *n = &g->nodes[t];
    const int *a = g->nodes[n->inputs[0]].shape, *b = g->nodes[n->inputs[1]].shape;
    /* Sizes in the forward convention: x [N,H,W,Ci], w [K,K,Ci,Co]. */
    int k, ci, co;
    if (mode == CONV_FORWARD)
        k = b[0], ci = b[2], co = b[3];
    else if (mode == CONV_INPUT_GRAD)
        k = b[0], ci = b[2], co = b[3];
    else
        k = n->shape[0], ci = a[3], co = b[3];
    uint64_t rows = mode == CONV_WEIGHT_GRAD ? (uint64_t)k * k * ci : (uint64_t)a[0] * a[1] * a[2];
    uint64_t cols = (uint64_t)(mode == CONV_INPUT_GRAD ? ci : co);
    int reduce = mode == CONV_FORWARD ? ci : co; /* channels summed per tap (MODE 0/1) */
    gemm_tile tile = choose_tile(info, rows, cols);
    pg_dispatch_init(d, PG_SHADER_CONV2D, 3);
    d->key.spec_count = 7;
    d->key.spec[0] = tile.wg;
    d->key.spec[1] = mode;
    d->key.spec[2] = (uint32_t)k;
    d->key.spec[3] = tile.tm;
    d->key.spec[4] = tile.tn;
    d->key.spec[5] = mode != CONV_WEIGHT_GRAD && reduce % 4 == 0;
    d->key.spec[6] = tile.sgc;
    d->bindings[0] = t;
    d->bindings[1] = n->inputs[0];
    d->bindings[2] = n->inputs[1];
    d->push[0] = (uint32_t)a[0];
    d->push[1] = (uint32_t)a[1];
    d->push[2] = (uint32_t)a[2];
    d->push[3] = (uint32_t)ci;
    d->push[4] = (uint32_t)co;
    d->push[5] = float_bits(n->fparams[0]);
    uint64_t col_tiles = (cols + tile.tn - 1) / tile.tn;
    uint64_t row_tiles = (rows + (uint64_t)tile.wg * tile.tm - 1) / ((uint64_t)tile.wg * tile.tm);
    d->push[6] = (uint32_t)rows;
    d->push[7] = (uint32_t)cols;
    d->push[8] = (uint32_t)col_tiles;
    d->push[9] = (uint32_t)row_tiles;
    /* The weight gradient sums over every pixel: chunks of at most PG_MAX_LOOP_TRIPS
     * pixels write partial sums to the scratch, and a reduce pass adds them. */
    uint64_t pixels = (uint64_t)a[0] * a[1] * a[2], chunk = PG_MAX_LOOP_TRIPS / 4;
    uint64_t splits = mode == CONV_WEIGHT_GRAD ? (pixels + chunk - 1) / chunk : 1;
    d->push[10] = (uint32_t)(splits > 1 ? chunk : pixels);
    pg_dispatch_grid(info, row_tiles * col_tiles * splits, d->groups);
    if (splits <= 1) return PG_OK;
    d[0].bindings[0] = PG_BIND_SCRATCH;
    d[0].push[5] = float_bits(1.0f);
    d[0].n_passes = 2;
    d[0].scratch_bytes = 4 * splits * rows * cols;
    int partial_shape[4] = {(int)splits, 1, 1, (int)(rows * cols)};
    pg_reduce_pass(info, &d[1], t, PG_BIND_SCRATCH, partial_shape, 1, n->fparams[0], rows * cols,
                   splits, 1);
    return PG_OK;
}

pg_status conv2d_dispatch(const pg_vk_info *info, const pg_graph *g, pg_tensor t, pg_dispatch *d) {
    return conv_build(info, g, t, CONV_FORWARD, d);
}
pg_status conv2d_input_grad_dispatch(const pg_vk_info *info, const pg_graph *g, pg_tensor t,
                                     pg_dispatch *d) {
    return conv_build(info, g, t, CONV_INPUT_GRAD, d);
}
pg_status conv2d_weight_grad_dispatch(const pg_vk_info *info, const pg_graph *g, pg_tensor t,
                                      pg_dispatch *d) {
    return conv_build(info, g, t, CONV_WEIGHT_GRAD, d);
}

pg_status matmul_dispatch(const pg_vk_info *info, const pg_graph *g, pg_tensor t, pg_dispatch *d) {
    PG_TRY(ballot_check(info));
    const pg_node *n = &g->nodes[t];
    int m, k, k2, cols;
    int ta = n->iparams[0] != 0, tb = n->iparams[1] != 0;
    matrix_dims(g->nodes[n->inputs[0]].shape, ta, &m, &k);
    if (k > 4 * PG_MAX_LOOP_TRIPS)
        return PG_FAIL(PG_ERR_UNSUPPORTED,
                       "matmul %s: a reduction over %d elements is longer "
                       "than one kernel loop may run on every driver (%d)",
                       n->name, k, 4 * PG_MAX_LOOP_TRIPS);
    matrix_dims(g->nodes[n->inputs[1]].shape, tb, &k2, &cols);
    /* Strides of op(A)[i, k] and of op(B)^T[j, k]; lanes run along the longer of m, n. */
    uint32_t a_i = ta ? 1 : (uint32_t)k, a_k = ta ? (uint32_t)m : 1;
    uint32_t b_j = tb ? (uint32_t)k : 1, b_k = tb ? 1 : (uint32_t)cols;
    int swap = m < cols;
    uint64_t rows = (uint64_t)(swap ? cols : m), ucols = (uint64_t)(swap ? m : cols);
    gemm_tile tile = choose_tile(info, rows, ucols);
    pg_dispatch_init(d, PG_SHADER_MATMUL, 3);
    d->key.spec_count = 5;
    d->key.spec[0] = tile.wg;
    d->key.spec[1] = (uint32_t)swap;
    d->key.spec[2] = tile.tm;
    d->key.spec[3] = tile.tn;
    d->key.spec[4] = tile.sgc;
    d->bindings[0] = t;
    d->bindings[1] = n->inputs[0];
    d->bindings[2] = n->inputs[1];
    uint64_t col_tiles = (ucols + tile.tn - 1) / tile.tn;
    uint64_t row_tiles = (rows + (uint64_t)tile.wg * tile.tm - 1) / ((uint64_t)tile.wg * tile.tm);
    d->push[0] = (uint32_t)rows;
    d->push[1] = (uint32_t)ucols;
    d->push[2] = (uint32_t)k;
    d->push[3] = float_bits(n->fparams[0]);
    d->push[4] = swap ? b_j : a_i;
    d->push[5] = swap ? b_k : a_k;
    d->push[6] = swap ? a_i : b_j;
    d->push[7] = swap ? a_k : b_k;
    d->push[8] = swap ? 1 : (uint32_t)cols;
    d->push[9] = swap ? (uint32_t)cols : 1;
    d->push[10] = (uint32_t)col_tiles;
    pg_dispatch_grid(info, row_tiles * col_tiles, d->groups);
    return PG_OK;
}

/* ---- VJP rules */
void conv2d_vjp(pg_graph *g, pg_tensor t, pg_tensor dy, const int *needs, pg_tensor *dx) {
    pg_node n = g->nodes[t];
    pg_tensor x = n.inputs[0], w = n.inputs[1];
    int k = g->nodes[w].shape[0];
    if (needs[0]) dx[0] = pg_conv2d_input_grad(g, dy, w, n.fparams[0]);
    if (needs[1]) dx[1] = pg_conv2d_weight_grad(g, x, dy, k, n.fparams[0]);
}

void conv2d_input_grad_vjp(pg_graph *g, pg_tensor t, pg_tensor c, const int *needs, pg_tensor *dx) {
    pg_node n = g->nodes[t];
    pg_tensor dy = n.inputs[0], w = n.inputs[1];
    int k = g->nodes[w].shape[0];
    if (needs[0]) dx[0] = pg_conv2d(g, c, w, n.fparams[0]);
    if (needs[1]) dx[1] = pg_conv2d_weight_grad(g, c, dy, k, n.fparams[0]);
}

void conv2d_weight_grad_vjp(pg_graph *g, pg_tensor t, pg_tensor c, const int *needs,
                            pg_tensor *dx) {
    pg_node n = g->nodes[t];
    pg_tensor x = n.inputs[0], dy = n.inputs[1];
    if (needs[0]) dx[0] = pg_conv2d_input_grad(g, dy, c, n.fparams[0]);
    if (needs[1]) dx[1] = pg_conv2d(g, x, c, n.fparams[0]);
}

/* C = s op(A) op(B): dA and dB are matmuls with flipped transpose flags. */
void matmul_vjp(pg_graph *g, pg_tensor t, pg_tensor dc, const int *needs, pg_tensor *dx) {
    pg_node n = g->nodes[t];
    pg_tensor a = n.inputs[0], b = n.inputs[1];
    int ta = n.iparams[0], tb = n.iparams[1];
    float s = n.fparams[0];
    if (needs[0]) {
        pg_tensor da = ta ? pg_matmul(g, b, dc, tb, 1, s) : pg_matmul(g, dc, b, 0, !tb, s);
        const int *as = g->nodes[a].shape;
        dx[0] = pg_reshape(g, da, as[0], as[1], as[2], as[3]);
    }
    if (needs[1]) {
        pg_tensor db = tb ? pg_matmul(g, dc, a, 1, ta, s) : pg_matmul(g, a, dc, !ta, 0, s);
        const int *bs = g->nodes[b].shape;
        dx[1] = pg_reshape(g, db, bs[0], bs[1], bs[2], bs[3]);
    }
}
