/* conv2d (any kernel kh x kw, stride, zero padding; NHWC, HWIO weights, a
 * constant scale for equalized LR), its input- and weight-gradient ops, and
 * matmul. The three conv ops are each other's VJPs, so the family is closed
 * under differentiation. ProGAN's shapes (stride 1, 3x3 pad 1 or 1x1) run on
 * the register-blocked kernel, the rest on shaders/conv2d_general.comp. */
#include "graph/ops.h"

#include <stdlib.h>
#include <string.h>

#include "codes.h" /* PG_CONV_*: MODE of shaders/conv2d.comp, conv2d_general.comp */

static uint32_t float_bits(float f) {
    uint32_t u;
    memcpy(&u, &f, 4);
    return u;
}

/* Output size of a convolution along one axis, or 0 when the kernel does not fit. */
static int conv_out_size(int in, int k, int stride, int pad) {
    return in + 2 * pad < k ? 0 : (in + 2 * pad - k) / stride + 1;
}

static int geometry_ok(int kh, int kw, int stride, int pad_y, int pad_x) {
    return kh >= 1 && kw >= 1 && kh <= 16 && kw <= 16 && stride >= 1 && stride <= 8 && pad_y >= 0 &&
           pad_y < kh && pad_x >= 0 && pad_x < kw;
}

/* The three conv ops share iparams[0..2] = stride, pad_y, pad_x and fparams[0] = scale. */
static pg_tensor conv_node(pg_graph *g, pg_op op, pg_tensor a, pg_tensor b, const int shape[4],
                           int stride, int pad_y, int pad_x, float scale) {
    pg_tensor in[2] = {a, b};
    pg_tensor t = pg_node_add(g, op, 2, in, shape);
    if (t < 0) return t;
    g->nodes[t].iparams[0] = stride;
    g->nodes[t].iparams[1] = pad_y;
    g->nodes[t].iparams[2] = pad_x;
    g->nodes[t].fparams[0] = scale;
    return t;
}

pg_tensor pg_conv2d_ex(pg_graph *g, pg_tensor x, pg_tensor w, int stride, int pad_y, int pad_x,
                       float scale) {
    if (x < 0 || w < 0 || g->error) return -1;
    const int *xs = g->nodes[x].shape, *ws = g->nodes[w].shape;
    int ho = conv_out_size(xs[1], ws[0], stride, pad_y),
        wo = conv_out_size(xs[2], ws[1], stride, pad_x);
    if (!geometry_ok(ws[0], ws[1], stride, pad_y, pad_x) || ws[2] != xs[3] || ho < 1 || wo < 1)
        return PG_GRAPH_FAIL(g,
                             "conv2d: weight %s (stride %d, pad %d,%d) does not fit input %s (want "
                             "[kh,kw,%d,Co], kernel <= 16, pad < kernel, output >= 1x1)",
                             pg_shape_str(ws), stride, pad_y, pad_x, pg_shape_str(xs), xs[3]);
    int shape[4] = {xs[0], ho, wo, ws[3]};
    return conv_node(g, PG_OP_CONV2D, x, w, shape, stride, pad_y, pad_x, scale);
}

pg_tensor pg_conv2d(pg_graph *g, pg_tensor x, pg_tensor w, float scale) {
    if (x < 0 || w < 0 || g->error) return -1;
    const int *ws = g->nodes[w].shape;
    return pg_conv2d_ex(g, x, w, 1, ws[0] / 2, ws[1] / 2, scale);
}

pg_tensor pg_conv2d_input_grad_ex(pg_graph *g, pg_tensor dy, pg_tensor w, int stride, int pad_y,
                                  int pad_x, int h, int width, float scale) {
    if (dy < 0 || w < 0 || g->error) return -1;
    const int *ds = g->nodes[dy].shape, *ws = g->nodes[w].shape;
    if (!geometry_ok(ws[0], ws[1], stride, pad_y, pad_x) || ws[3] != ds[3] ||
        conv_out_size(h, ws[0], stride, pad_y) != ds[1] ||
        conv_out_size(width, ws[1], stride, pad_x) != ds[2])
        return PG_GRAPH_FAIL(g,
                             "conv2d_input_grad: weight %s (stride %d, pad %d,%d) does not map a "
                             "%dx%d input to dy %s",
                             pg_shape_str(ws), stride, pad_y, pad_x, h, width, pg_shape_str(ds));
    int shape[4] = {ds[0], h, width, ws[2]};
    pg_tensor t = conv_node(g, PG_OP_CONV2D_INPUT_GRAD, dy, w, shape, stride, pad_y, pad_x, scale);
    if (t >= 0) g->nodes[t].iparams[3] = h, g->nodes[t].iparams[4] = width;
    return t;
}

pg_tensor pg_conv2d_input_grad(pg_graph *g, pg_tensor dy, pg_tensor w, float scale) {
    if (dy < 0 || w < 0 || g->error) return -1;
    const int *ds = g->nodes[dy].shape, *ws = g->nodes[w].shape;
    return pg_conv2d_input_grad_ex(g, dy, w, 1, ws[0] / 2, ws[1] / 2, ds[1], ds[2], scale);
}

pg_tensor pg_conv2d_weight_grad_ex(pg_graph *g, pg_tensor x, pg_tensor dy, int kh, int kw,
                                   int stride, int pad_y, int pad_x, float scale) {
    if (x < 0 || dy < 0 || g->error) return -1;
    const int *xs = g->nodes[x].shape, *ds = g->nodes[dy].shape;
    if (!geometry_ok(kh, kw, stride, pad_y, pad_x) || xs[0] != ds[0] ||
        conv_out_size(xs[1], kh, stride, pad_y) != ds[1] ||
        conv_out_size(xs[2], kw, stride, pad_x) != ds[2])
        return PG_GRAPH_FAIL(g,
                             "conv2d_weight_grad: a %dx%d kernel (stride %d, pad %d,%d) does not "
                             "map x %s to dy %s",
                             kh, kw, stride, pad_y, pad_x, pg_shape_str(xs), pg_shape_str(ds));
    int shape[4] = {kh, kw, xs[3], ds[3]};
    return conv_node(g, PG_OP_CONV2D_WEIGHT_GRAD, x, dy, shape, stride, pad_y, pad_x, scale);
}

pg_tensor pg_conv2d_weight_grad(pg_graph *g, pg_tensor x, pg_tensor dy, int k, float scale) {
    return pg_conv2d_weight_grad_ex(g, x, dy, k, k, 1, k / 2, k / 2, scale);
}

/* Kernel height and width of a conv node of any of the three ops. */
static void conv_kernel(const pg_graph *g, const pg_node *n, int *kh, int *kw) {
    const int *ks = n->op == PG_OP_CONV2D_WEIGHT_GRAD ? n->shape : g->nodes[n->inputs[1]].shape;
    *kh = ks[0];
    *kw = ks[1];
}

int pg_conv_is_progan_shape(const pg_graph *g, pg_tensor t) {
    const pg_node *n = &g->nodes[t];
    int kh, kw;
    conv_kernel(g, n, &kh, &kw);
    if (n->iparams[0] != 1 || kh != kw || (kh != 1 && kh != 3)) return 0;
    return n->iparams[1] == kh / 2 && n->iparams[2] == kw / 2;
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

/* Workgroups a dispatch should have so every compute unit gets work: a layer
 * of the small preset is one or two tiles, which on a CPU driver means one or
 * two busy cores. Unknown devices: 1 (no extra splitting). */
static uint64_t target_groups(const pg_vk_info *info) {
    return info->compute_units ? 2 * (uint64_t)info->compute_units : 1;
}

/* A workgroup of at most wg lanes, halved (down to a subgroup) while it has
 * more lanes than `lanes` or the grid would leave compute units idle. */
static uint32_t fit_workgroup(const pg_vk_info *info, uint32_t wg, uint64_t lanes,
                              uint64_t col_tiles) {
    uint32_t sub = info->subgroup_size ? info->subgroup_size : 8;
    while (wg > sub &&
           (wg / 2 >= lanes || ((lanes + wg - 1) / wg) * col_tiles < target_groups(info)))
        wg /= 2;
    return wg;
}

/* Tiles for `rows` x `cols` outputs: rows across lanes, columns in registers.
 * CPU drivers (lavapipe): every lane-varying load is a loop over the SIMD lanes,
 * so the tile is as large as the measurements allowed (8 rows x 32 columns per
 * lane, accumulators partly spilled); GPUs get a smaller, register-resident
 * tile (not tuned: no GPU was available; a shared-memory variant belongs there).
 * Workgroups shrink (down to a subgroup) until the grid fills the device. */
static gemm_tile choose_tile(const pg_vk_info *info, const pg_gemm_choice *c, uint64_t rows,
                             uint64_t cols) {
    int cpu = info->type == VK_PHYSICAL_DEVICE_TYPE_CPU;
    gemm_tile t = {64, c->tm ? c->tm : cpu ? 8 : 4, c->tn ? c->tn : cpu ? 32 : 16, 8};
    /* the sharing is subgroupBroadcast: ballot, not arithmetic */
    if (!info->subgroup_ballot || t.sgc > info->subgroup_min) t.sgc = 1;
    while (t.tn > t.sgc && t.tn / 2 >= cols) t.tn /= 2;
    if (t.tn < t.sgc) t.sgc = t.tn;
    uint64_t lanes = (rows + t.tm - 1) / t.tm, col_tiles = (cols + t.tn - 1) / t.tn;
    t.wg = fit_workgroup(info, t.wg, lanes, col_tiles);
    return t;
}

/* Pixels per chunk of a weight gradient (the reduction over every pixel):
 * at most PG_MAX_LOOP_TRIPS / 4 (llvmpipe's loop limit), and small enough that
 * the chunks times the output tiles fill the device, but not below 256 pixels
 * (each chunk writes a full set of partial sums). */
static uint64_t weight_grad_chunk(const pg_vk_info *info, uint64_t pixels, uint64_t tiles) {
    uint64_t chunk = PG_MAX_LOOP_TRIPS / 4, want = target_groups(info);
    uint64_t splits = (pixels + chunk - 1) / chunk;
    if (splits * tiles < want) splits = (want + tiles - 1) / tiles;
    chunk = (pixels + splits - 1) / splits;
    return chunk < 256 ? PG_MIN(pixels, 256) : chunk;
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

/* Whether the register conv kernel reads an operand of `texels` texels through
 * a texel buffer: PROGAN_CONV=register:texel or :storage decides, else
 * pg_texel_loads. On lavapipe a texelFetch is one vector gather while a
 * storage-buffer load loops over the SIMD lanes, about 10x slower per load
 * (README, "Kernel variants"). */
static int texel_wanted(const pg_vk_info *info, const pg_gemm_choice *c, uint64_t texels) {
    if (c->loads == PG_LOADS_STORAGE) return 0;
    if (c->loads == PG_LOADS_AUTO) return pg_texel_loads(info, texels);
    return pg_texel_fits(info, texels);
}

/* Binds the conv kernel's operands (bindings 1, 2) as texel buffers where
 * wanted and possible: each must fit maxTexelBufferElements, and every range a
 * storage buffer may start at must suit a texel view too. The formats follow
 * conv2d.glsl: RGBA32F exactly where it loads vec4s (A with VEC, B in MODE 1
 * with VEC). The column loads are then cheap for every lane: no sharing. */
static void conv_texels(const pg_vk_info *info, const pg_gemm_choice *c, const pg_graph *g,
                        pg_tensor t, uint32_t mode, uint32_t tn, pg_dispatch *d) {
    const pg_node *n = &g->nodes[t];
    int vec = d->key.spec[5] != 0;
    /* MODE 0/2 read B along the output columns: 4 per fetch where they come in 4s */
    int bv = mode != PG_CONV_INPUT_GRAD && g->nodes[n->inputs[1]].shape[3] % 4 == 0 && tn % 4 == 0;
    pg_vk_binding_kind ka = vec ? PG_VK_TEXEL_RGBA32F : PG_VK_TEXEL_R32F;
    pg_vk_binding_kind kb =
        (mode == PG_CONV_INPUT_GRAD && vec) || bv ? PG_VK_TEXEL_RGBA32F : PG_VK_TEXEL_R32F;
    uint64_t na = (uint64_t)pg_tensor_numel(g, n->inputs[0]) / (vec ? 4 : 1);
    uint64_t nb = (uint64_t)pg_tensor_numel(g, n->inputs[1]) / (kb == PG_VK_TEXEL_RGBA32F ? 4 : 1);
    if (!texel_wanted(info, c, na) || !texel_wanted(info, c, nb)) return;
    d->key.shader = PG_SHADER_CONV2D_TEXEL;
    d->key.texel = PG_VK_TEXEL_SET(ka, 1) | PG_VK_TEXEL_SET(kb, 2);
    d->key.spec[8] = (uint32_t)bv;
}

/* A weight gradient split into chunks of pixels: d[0] writes each chunk's
 * partial sums (its scale, push slot scale_slot, set to 1) to the scratch and
 * d[1] adds them up times the op's scale. */
static void split_reduce(const pg_vk_info *info, pg_dispatch *d, pg_tensor t, uint64_t splits,
                         uint64_t outputs, int scale_slot, float scale) {
    d[0].bindings[0] = PG_BIND_SCRATCH;
    d[0].push[scale_slot] = float_bits(1.0f);
    d[0].n_passes = 2;
    d[0].scratch_bytes = 4 * splits * outputs;
    int partial_shape[4] = {(int)splits, 1, 1, (int)outputs};
    pg_reduce_pass(info, &d[1], t, PG_BIND_SCRATCH, partial_shape, 1, scale, outputs, splits, 1);
}

static pg_status conv_build(const pg_vk_info *info, const pg_gemm_choice *c, const pg_graph *g,
                            pg_tensor t, uint32_t mode, pg_dispatch *d) {
    PG_TRY(ballot_check(info));
    const pg_node *n = &g->nodes[t];
    const int *a = g->nodes[n->inputs[0]].shape, *b = g->nodes[n->inputs[1]].shape;
    /* Sizes in the forward convention: x [N,H,W,Ci], w [K,K,Ci,Co]. */
    int k, ci, co;
    if (mode == PG_CONV_FORWARD)
        k = b[0], ci = b[2], co = b[3];
    else if (mode == PG_CONV_INPUT_GRAD)
        k = b[0], ci = b[2], co = b[3];
    else
        k = n->shape[0], ci = a[3], co = b[3];
    uint64_t rows =
        mode == PG_CONV_WEIGHT_GRAD ? (uint64_t)k * k * ci : (uint64_t)a[0] * a[1] * a[2];
    uint64_t cols = (uint64_t)(mode == PG_CONV_INPUT_GRAD ? ci : co);
    int reduce = mode == PG_CONV_FORWARD ? ci : co; /* channels summed per tap (MODE 0/1) */
    gemm_tile tile = choose_tile(info, c, rows, cols);
    pg_dispatch_init(d, PG_SHADER_CONV2D, 4);
    d->key.spec[5] =
        mode == PG_CONV_WEIGHT_GRAD ? ci % 4 == 0 && tile.tm % 4 == 0 : reduce % 4 == 0;
    conv_texels(info, c, g, t, mode, tile.tn, d);
    if (d->key.texel) tile.sgc = 1;
    d->key.spec_count = 9;
    d->key.spec[PG_SPEC_WG] = tile.wg;
    d->key.spec[1] = mode;
    d->key.spec[2] = (uint32_t)k;
    d->key.spec[3] = tile.tm;
    d->key.spec[4] = tile.tn;
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
    /* The weight gradient sums over every pixel: chunks of pixels write partial
     * sums to the scratch, and a reduce pass adds them. */
    uint64_t pixels = (uint64_t)a[0] * a[1] * a[2];
    uint64_t chunk = mode == PG_CONV_WEIGHT_GRAD
                         ? weight_grad_chunk(info, pixels, row_tiles * col_tiles)
                         : pixels;
    uint64_t splits = (pixels + chunk - 1) / chunk;
    d->push[10] = (uint32_t)(splits > 1 ? chunk : pixels);
    d->push[11] = (uint32_t)(row_tiles * col_tiles * splits);
    pg_dispatch_grid(info, row_tiles * col_tiles * splits, d->groups);
    d->bindings[3] = n->inputs[1]; /* the epilogue's operand, declared either way */
    if (splits > 1) split_reduce(info, d, t, splits, rows * cols, 5, n->fparams[0]);
    return pg_epilogue_set(g, t, d);
}

/* Winograd F(2,3) (shaders/winograd.glsl) for a 3x3 conv2d or input grad:
 * pass 0 transforms the weights into the scratch (16 floats per reduction
 * channel and output column, columns padded to 4), pass 1 gives each lane tm
 * 2x2 tiles by tn columns (16 accumulators per tile and column). Operands come
 * through texel buffers where the register kernel's would (texel_wanted). */
static pg_status conv_winograd_build(const pg_vk_info *info, const pg_gemm_choice *c,
                                     const pg_graph *g, pg_tensor t, uint32_t mode,
                                     pg_dispatch *d) {
    const pg_node *n = &g->nodes[t];
    const int *a = g->nodes[n->inputs[0]].shape;
    uint32_t rc = (uint32_t)a[3], cols = (uint32_t)n->shape[3], cp = (cols + 3) / 4 * 4;
    uint32_t tm = c->tm ? c->tm : 2, tn = c->tn ? PG_MAX(c->tn, 4) : 8;
    if (tm * tn > 64)
        return PG_FAIL(PG_ERR_INVALID,
                       "PROGAN_CONV=winograd:%ux%u: tiles x columns per lane must be at most 64 "
                       "(16 accumulators each; e.g. winograd:1x16 or 2x8)",
                       tm, tn);
    while (tn > 4 && tn / 2 >= cols) tn /= 2;
    uint64_t tx = ((uint64_t)a[2] + 1) / 2, ty = ((uint64_t)a[1] + 1) / 2, tiles = a[0] * tx * ty;
    uint64_t col_tiles = (cols + tn - 1) / tn, u_floats = 16ull * rc * cp;
    uint32_t wg = fit_workgroup(info, 64, (tiles + tm - 1) / tm, col_tiles);
    uint64_t groups = (tiles + (uint64_t)wg * tm - 1) / ((uint64_t)wg * tm) * col_tiles;
    int vec = rc % 4 == 0;
    int texel = texel_wanted(info, c, (uint64_t)pg_tensor_numel(g, n->inputs[0])) &&
                texel_wanted(info, c, (uint64_t)pg_tensor_numel(g, n->inputs[1])) &&
                texel_wanted(info, c, u_floats);
    pg_dispatch_init(&d[1], texel ? PG_SHADER_WINOGRAD_TEXEL : PG_SHADER_WINOGRAD, 4);
    uint32_t spec[6] = {wg, mode, 1, tm, tn, (uint32_t)vec};
    d[1].key.spec_count = 8; /* spec 7: EPI, 0 unless pg_epilogue_set */
    memcpy(d[1].key.spec, spec, sizeof spec);
    uint32_t push[12] = {(uint32_t)a[0],
                         (uint32_t)a[1],
                         (uint32_t)a[2],
                         rc,
                         cols,
                         float_bits(n->fparams[0]),
                         (uint32_t)tx,
                         (uint32_t)ty,
                         (uint32_t)tiles,
                         (uint32_t)col_tiles,
                         cp,
                         (uint32_t)groups};
    memcpy(d[1].push, push, sizeof push);
    pg_tensor bind[4] = {t, n->inputs[0], PG_BIND_SCRATCH, n->inputs[1]};
    memcpy(d[1].bindings, bind, sizeof bind);
    if (texel)
        d[1].key.texel = PG_VK_TEXEL_SET(vec ? PG_VK_TEXEL_RGBA32F : PG_VK_TEXEL_R32F, 1) |
                         PG_VK_TEXEL_SET(PG_VK_TEXEL_RGBA32F, 2);
    pg_dispatch_grid(info, groups, d[1].groups);
    /* pass 0: one lane per (r, c) of U, every binding a float view */
    d[0] = d[1];
    d[0].key.spec[2] = 0;
    d[0].key.spec[3] = 1, d[0].key.spec[4] = 4, d[0].key.spec[5] = 0; /* one pipeline: unused */
    d[0].push[8] = rc * cp;
    d[0].bindings[0] = PG_BIND_SCRATCH;
    d[0].bindings[2] = n->inputs[1];
    if (texel)
        d[0].key.texel =
            PG_VK_TEXEL_SET(PG_VK_TEXEL_R32F, 1) | PG_VK_TEXEL_SET(PG_VK_TEXEL_R32F, 2);
    pg_dispatch_lanes(info, &d[0], 64, (uint64_t)rc * cp);
    d[0].n_passes = 2;
    d[0].scratch_bytes = 4 * u_floats;
    return pg_epilogue_set(g, t, d);
}

/* shaders/conv2d_general.comp: any kernel, stride and padding; an implicit
 * GEMM blocked in registers (TM rows x TN columns per lane) without subgroup
 * operations. Inception's odd shapes (5x5, 1x7, 7x1, 1x3, 3x1, stride 2, pad 0)
 * run here. CPU drivers get a large tile: on lavapipe (2 cores, shared machine)
 * Inception at 299x299 took 14.6 s per image with 1x8, 4.8 s with 8x16, 3.1 s
 * with 16x32, 5.7 s with 8x64 and 6.1 s with 32x16 (bench_inception --batch 1);
 * GPUs get a register-sized tile (not tuned: no GPU was available). */
/* $PROGAN_CONV_GENERAL_TILE=TMxTN picks the general kernel's tile (the GPU
 * one, 4x8, is then testable on lavapipe). */
static pg_status general_tile_override(uint32_t *tm, uint32_t *tn) {
    const char *v = getenv("PROGAN_CONV_GENERAL_TILE");
    if (!v || !*v) return PG_OK;
    unsigned a, b;
    char tail;
    if (sscanf(v, "%ux%u%c", &a, &b, &tail) != 2 || a < 1 || a > 32 || b < 1 || b > 64)
        return PG_FAIL(PG_ERR_INVALID,
                       "PROGAN_CONV_GENERAL_TILE=%s: expected TMxTN with TM in 1..32, TN in 1..64 "
                       "(e.g. 4x8)",
                       v);
    *tm = a, *tn = b;
    return PG_OK;
}

static pg_status conv_general_build(const pg_vk_info *info, const pg_graph *g, pg_tensor t,
                                    uint32_t mode, pg_dispatch *d) {
    const pg_node *n = &g->nodes[t];
    const int *a = g->nodes[n->inputs[0]].shape, *b = g->nodes[n->inputs[1]].shape;
    int kh, kw;
    conv_kernel(g, n, &kh, &kw);
    /* x [N,H,W,Ci] -> y [N,Ho,Wo,Co] in the forward convention */
    const int *xs = mode == PG_CONV_FORWARD || mode == PG_CONV_WEIGHT_GRAD ? a : n->shape;
    const int *ys = mode == PG_CONV_FORWARD ? n->shape : mode == PG_CONV_INPUT_GRAD ? a : b;
    int ci = xs[3], co = ys[3];
    uint64_t rows = mode == PG_CONV_WEIGHT_GRAD ? (uint64_t)kh * kw * ci
                                                : (uint64_t)n->shape[0] * n->shape[1] * n->shape[2];
    uint64_t cols = (uint64_t)n->shape[3];
    uint64_t trips = mode == PG_CONV_WEIGHT_GRAD ? 0 : (uint64_t)kh * kw * (mode ? co + 1 : ci + 1);
    if (trips > 4 * PG_MAX_LOOP_TRIPS)
        return PG_FAIL(PG_ERR_UNSUPPORTED,
                       "conv %s: a %dx%d kernel over %d channels is a longer loop than every "
                       "driver runs (%d steps)",
                       n->name, kh, kw, mode ? co : ci, 4 * PG_MAX_LOOP_TRIPS);
    int cpu = info->type == VK_PHYSICAL_DEVICE_TYPE_CPU;
    uint32_t wg = 64, tm = cpu ? 16 : 4, tn = cpu ? 32 : 8;
    PG_TRY(general_tile_override(&tm, &tn));
    while (tn > 4 && tn / 2 >= cols) tn /= 2;
    uint64_t lanes = (rows + tm - 1) / tm;
    while (wg > 8 && wg / 2 >= lanes) wg /= 2;
    pg_dispatch_init(d, PG_SHADER_CONV2D_GENERAL, 4);
    uint32_t spec[6] = {wg, mode, (uint32_t)kh, (uint32_t)kw, tm, tn};
    d->key.spec_count = 7;
    memcpy(d->key.spec, spec, sizeof spec);
    d->bindings[0] = t;
    d->bindings[1] = n->inputs[0];
    d->bindings[2] = n->inputs[1];
    uint64_t col_tiles = (cols + tn - 1) / tn;
    uint64_t row_tiles = (rows + (uint64_t)wg * tm - 1) / ((uint64_t)wg * tm);
    /* the weight gradient sums over every output pixel: chunks, then a reduce pass */
    uint64_t pixels = (uint64_t)ys[0] * ys[1] * ys[2], chunk = PG_MAX_LOOP_TRIPS / 4;
    uint64_t splits = mode == PG_CONV_WEIGHT_GRAD ? (pixels + chunk - 1) / chunk : 1;
    uint64_t groups = row_tiles * col_tiles * splits;
    uint32_t push[16] = {(uint32_t)xs[0],
                         (uint32_t)xs[1],
                         (uint32_t)xs[2],
                         (uint32_t)ci,
                         (uint32_t)co,
                         (uint32_t)ys[1],
                         (uint32_t)ys[2],
                         float_bits(n->fparams[0]),
                         (uint32_t)rows,
                         (uint32_t)cols,
                         (uint32_t)col_tiles,
                         (uint32_t)row_tiles,
                         (uint32_t)(splits > 1 ? chunk : pixels),
                         (uint32_t)groups,
                         (uint32_t)n->iparams[0],
                         (uint32_t)n->iparams[1]};
    memcpy(d->push, push, sizeof push);
    d->push[16] = (uint32_t)n->iparams[2];
    pg_dispatch_grid(info, groups, d->groups);
    d->bindings[3] = n->inputs[1]; /* the epilogue's operand, declared either way */
    if (splits > 1) split_reduce(info, d, t, splits, rows * cols, 7, n->fparams[0]);
    return pg_epilogue_set(g, t, d);
}

/* The conv family as one GEMM of shaders/gemm_tiled.comp (GPU class). */
static pg_status conv_tiled_build(const pg_vk_info *info, const pg_gemm_choice *c,
                                  const pg_graph *g, pg_tensor t, uint32_t mode, pg_dispatch *d) {
    const pg_node *n = &g->nodes[t];
    const int *a = g->nodes[n->inputs[0]].shape, *b = g->nodes[n->inputs[1]].shape;
    uint32_t k = (uint32_t)(mode == PG_CONV_WEIGHT_GRAD ? n->shape[0] : b[0]);
    uint32_t ci = (uint32_t)(mode == PG_CONV_WEIGHT_GRAD ? a[3] : b[2]), co = (uint32_t)b[3];
    uint64_t pixels = (uint64_t)a[0] * a[1] * a[2], taps = (uint64_t)k * k;
    pg_gemm_problem p = {.mode = mode,
                         .ks = k,
                         .a_kfast = mode != PG_CONV_WEIGHT_GRAD,
                         .b_nfast = mode != PG_CONV_INPUT_GRAD,
                         .conv = {(uint32_t)a[0], (uint32_t)a[1], (uint32_t)a[2], ci, co},
                         .scale = n->fparams[0],
                         .out = t,
                         .a = n->inputs[0],
                         .b = n->inputs[1]};
    p.m = mode == PG_CONV_WEIGHT_GRAD ? taps * ci : pixels;
    p.n = mode == PG_CONV_INPUT_GRAD ? ci : co;
    p.k = mode == PG_CONV_FORWARD ? taps * ci : mode == PG_CONV_INPUT_GRAD ? taps * co : pixels;
    PG_TRY(pg_gemm_tiled_dispatch(info, c, &p, d));
    return pg_epilogue_set(g, t, d);
}

/* ProGAN's shapes run on the variant pg_gemm_choose picks (register-blocked on
 * CPUs, tiled on GPUs, or what $PROGAN_CONV forces, so tests can check each on
 * the same cases); every other geometry goes to the general kernel. */
static pg_status conv_route(const pg_vk_info *info, const pg_graph *g, pg_tensor t, uint32_t mode,
                            pg_dispatch *d) {
    pg_gemm_choice c;
    PG_TRY(pg_gemm_choose(info, &c));
    if (c.kind == PG_GEMM_GENERAL || !pg_conv_is_progan_shape(g, t))
        return conv_general_build(info, g, t, mode, d);
    if (c.kind == PG_GEMM_TILED) return conv_tiled_build(info, &c, g, t, mode, d);
    if (c.winograd && mode != PG_CONV_WEIGHT_GRAD && g->nodes[g->nodes[t].inputs[1]].shape[0] == 3)
        return conv_winograd_build(info, &c, g, t, mode, d);
    return conv_build(info, &c, g, t, mode, d);
}

pg_status conv2d_dispatch(const pg_vk_info *info, const pg_graph *g, pg_tensor t, pg_dispatch *d) {
    return conv_route(info, g, t, PG_CONV_FORWARD, d);
}
pg_status conv2d_input_grad_dispatch(const pg_vk_info *info, const pg_graph *g, pg_tensor t,
                                     pg_dispatch *d) {
    return conv_route(info, g, t, PG_CONV_INPUT_GRAD, d);
}
pg_status conv2d_weight_grad_dispatch(const pg_vk_info *info, const pg_graph *g, pg_tensor t,
                                      pg_dispatch *d) {
    return conv_route(info, g, t, PG_CONV_WEIGHT_GRAD, d);
}

/* matmul on shaders/gemm_tiled.comp: any K (split-K keeps the loops short). */
static pg_status matmul_tiled_build(const pg_vk_info *info, const pg_gemm_choice *c,
                                    const pg_graph *g, pg_tensor t, pg_dispatch *d) {
    const pg_node *n = &g->nodes[t];
    int m, k, k2, cols, ta = n->iparams[0] != 0, tb = n->iparams[1] != 0;
    matrix_dims(g->nodes[n->inputs[0]].shape, ta, &m, &k);
    matrix_dims(g->nodes[n->inputs[1]].shape, tb, &k2, &cols);
    pg_gemm_problem p = {.mode = 3,
                         .ks = 1,
                         .a_kfast = !ta,
                         .b_nfast = !tb,
                         .m = (uint64_t)m,
                         .n = (uint64_t)cols,
                         .k = (uint64_t)k,
                         .strides = {ta ? 1 : (uint32_t)k, ta ? (uint32_t)m : 1,
                                     tb ? 1 : (uint32_t)cols, tb ? (uint32_t)k : 1},
                         .scale = n->fparams[0],
                         .out = t,
                         .a = n->inputs[0],
                         .b = n->inputs[1]};
    PG_TRY(pg_gemm_tiled_dispatch(info, c, &p, d));
    return pg_epilogue_set(g, t, d);
}

pg_status matmul_dispatch(const pg_vk_info *info, const pg_graph *g, pg_tensor t, pg_dispatch *d) {
    pg_gemm_choice choice;
    PG_TRY(pg_gemm_choose(info, &choice));
    if (choice.kind == PG_GEMM_TILED) return matmul_tiled_build(info, &choice, g, t, d);
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
    gemm_tile tile = choose_tile(info, &choice, rows, ucols);
    pg_dispatch_init(d, PG_SHADER_MATMUL, 4);
    d->key.spec_count = 6;
    d->key.spec[PG_SPEC_WG] = tile.wg;
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
    d->push[11] = (uint32_t)(row_tiles * col_tiles);
    d->bindings[3] = n->inputs[1]; /* the epilogue's operand, declared either way */
    pg_dispatch_grid(info, row_tiles * col_tiles, d->groups);
    return pg_epilogue_set(g, t, d);
}

/* ---- VJP rules: the three conv ops with the same geometry are each other's adjoints */
void conv2d_vjp(pg_graph *g, pg_tensor t, pg_tensor dy, const int *needs, pg_tensor *dx) {
    pg_node n = g->nodes[t];
    pg_tensor x = n.inputs[0], w = n.inputs[1];
    const int *xs = g->nodes[x].shape, *ws = g->nodes[w].shape, *p = n.iparams;
    if (needs[0])
        dx[0] = pg_conv2d_input_grad_ex(g, dy, w, p[0], p[1], p[2], xs[1], xs[2], n.fparams[0]);
    if (needs[1])
        dx[1] = pg_conv2d_weight_grad_ex(g, x, dy, ws[0], ws[1], p[0], p[1], p[2], n.fparams[0]);
}

void conv2d_input_grad_vjp(pg_graph *g, pg_tensor t, pg_tensor c, const int *needs, pg_tensor *dx) {
    pg_node n = g->nodes[t];
    pg_tensor dy = n.inputs[0], w = n.inputs[1];
    const int *ws = g->nodes[w].shape, *p = n.iparams;
    if (needs[0]) dx[0] = pg_conv2d_ex(g, c, w, p[0], p[1], p[2], n.fparams[0]);
    if (needs[1])
        dx[1] = pg_conv2d_weight_grad_ex(g, c, dy, ws[0], ws[1], p[0], p[1], p[2], n.fparams[0]);
}

void conv2d_weight_grad_vjp(pg_graph *g, pg_tensor t, pg_tensor c, const int *needs,
                            pg_tensor *dx) {
    pg_node n = g->nodes[t];
    pg_tensor x = n.inputs[0], dy = n.inputs[1];
    const int *xs = g->nodes[x].shape, *p = n.iparams;
    if (needs[0])
        dx[0] = pg_conv2d_input_grad_ex(g, dy, c, p[0], p[1], p[2], xs[1], xs[2], n.fparams[0]);
    if (needs[1]) dx[1] = pg_conv2d_ex(g, x, c, p[0], p[1], p[2], n.fparams[0]);
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
