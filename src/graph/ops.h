/* src/graph internals: the op table. An op is four things: its shader family in
 * shaders/, one row here (name, dispatch builder, VJP rule), a float64 function
 * in tests/ref and a test case. Constructors (op_*.c) check shapes. */
#ifndef PROGAN_GRAPH_OPS_H
#define PROGAN_GRAPH_OPS_H

#include "codes.h" /* numbers shared with the shaders */
#include "graph/graph.h"

/* One compute dispatch: pipeline, push constants, bound tensors, grid.
 * bindings[i] is a node id; binding 0 is the node's own output unless the op
 * has no output (ADAM, EMA), in which case every binding is an input.
 * PG_BIND_SCRATCH binds the node's scratch. A builder receives d[2]: most ops
 * fill d[0] only; an op that reduces too much for one pass sets d[0].n_passes
 * = 2 and d[0].scratch_bytes, writes partial results to the scratch in d[0] and
 * finishes in d[1] (a barrier separates them; the scratch lives for the node). */
#define PG_BIND_SCRATCH (-2)
typedef struct {
    pg_vk_pipeline_key key;
    uint32_t push[PG_VK_PUSH_BYTES / 4];
    uint32_t groups[3];
    int n_bindings;
    pg_tensor bindings[PG_VK_MAX_BINDINGS];
    int n_passes;           /* in d[0]: 1 or 2 */
    uint64_t scratch_bytes; /* in d[0] */
} pg_dispatch;

/* Per-invocation loop trips kept below this everywhere: llvmpipe (Mesa
 * gallivm, LP_MAX_TGSI_LOOP_ITERATIONS) silently ends a shader's loops after
 * 65535 iterations summed over a loop nest, so long reductions are split into
 * chunks of at most this many steps on every device (it also gives GPUs
 * parallelism across the reduction). */
#define PG_MAX_LOOP_TRIPS 16384

/* What an op's row says about it beyond its functions. */
enum {
    PG_ROW_LEAF = 1,   /* no kernel and no VJP: INPUT, EXTERNAL */
    PG_ROW_VIEW = 2,   /* no kernel: bytes of another node (RESHAPE, PACK: see plan.c) */
    PG_ROW_UPDATE = 4, /* in place, no output, not differentiable (ADAM, EMA, ...) */
};
/* How a row's shape is found: PG_SHAPE_BROADCAST ops need no constructor of
 * their own (pg_op_elementwise builds them from the row); PG_SHAPE_CUSTOM ops
 * have a pg_<op> constructor in their op_*.c that checks and sets the shape. */
typedef enum { PG_SHAPE_CUSTOM, PG_SHAPE_BROADCAST } pg_shape_rule;

/* One row of the op table. To add an op (template: the PG_OP_SOFTPLUS row):
 *  1. shaders: a branch in its family's .comp, its number in shaders/codes.h
 *     (or a new shaders/<family>.comp reading its local size from PG_SPEC_WG
 *     and returning early past its element count);
 *  2. here: the enum value in graph/graph.h and a row in ops.c (name, arity,
 *     shape rule, shader and code, dispatch builder, VJP built from graph
 *     constructors); elementwise ops reuse elementwise_dispatch;
 *  3. tests/ref/ref.c: its float64 function in ref_ops[];
 *  4. tests/test_ops.c: a case (see case_template).
 * pg_op_table_check (run by every pg_plan_create and by test_graph) fails when
 * a row, a dispatch builder or a VJP is missing. */
typedef struct {
    const char *name;
    int arity_min, arity_max; /* inputs */
    pg_shape_rule shape;
    pg_shader_id shader; /* the kernel family (dispatch may route to a variant) */
    uint32_t code;       /* specialization constant PG_SPEC_CODE: codes.h */
    /* Fills d for node t; NULL only for PG_ROW_LEAF and PG_ROW_VIEW rows. */
    pg_status (*dispatch)(const pg_vk_info *info, const pg_graph *g, pg_tensor t, pg_dispatch *d);
    /* Writes dx[i] (or -1 for a zero gradient) for each input i with needs[i] set,
     * given dy, the gradient of the node's output. Uses only graph constructors.
     * NULL only for PG_ROW_LEAF and PG_ROW_UPDATE rows. */
    void (*vjp)(pg_graph *g, pg_tensor t, pg_tensor dy, const int *needs, pg_tensor *dx);
    int flags; /* PG_ROW_* */
} pg_op_info;

extern const pg_op_info *const pg_ops; /* PG_OP_COUNT rows */
/* Every row present and complete (see pg_op_info); message names the op. */
pg_status pg_op_table_check(void);

/* ---- builder helpers shared by the op files (graph.c) */
/* Appends a node; returns -1 if an input is -1 or the graph has an error. */
pg_tensor pg_node_add(pg_graph *g, pg_op op, int n_inputs, const pg_tensor *inputs,
                      const int shape[4]);
/* Records the first construction error (file:line from the caller) and returns -1. */
pg_tensor pg_graph_fail(pg_graph *g, const char *file, int line, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
#define PG_GRAPH_FAIL(g, ...) pg_graph_fail((g), __FILE__, __LINE__, __VA_ARGS__)
int pg_shape_equal(const int a[4], const int b[4]);
/* The broadcast result of two shapes (each axis equal or 1), or 0 if incompatible. */
int pg_shape_broadcast(const int a[4], const int b[4], int out[4]);
/* The sum of dy over the axes where shape has 1 and dy does not (the VJP of broadcasting). */
pg_tensor pg_reduce_to_shape(pg_graph *g, pg_tensor dy, const int shape[4]);

/* A conv node (any of the three conv ops) of ProGAN's shapes: stride 1 and
 * 3x3 pad 1,1 or 1x1 pad 0,0. Conv nodes keep iparams[0..2] = stride, pad_y,
 * pad_x (input grad also [3], [4] = x's H, W); the kernel is the weight's
 * shape[0..1] (the node's own for the weight gradient). */
int pg_conv_is_progan_shape(const pg_graph *g, pg_tensor t);

/* ---- plan-time graph rewrites (fuse.c) */
/* A node of the conv family, matmul or reduce_sum with iparams[PG_EPI_IPARAM]
 * != 0 carries a fused epilogue (shaders/epilogue.glsl): those PG_EPI_* bits,
 * fparams[PG_EPI_FPARAM] = the leaky ReLU slope, and its last input (one more
 * than the op's arity) the epilogue's operand. */
#define PG_EPI_IPARAM 5
#define PG_EPI_FPARAM 1
/* Rewrites the plan's copy of the nodes (ids unchanged, outputs kept) into
 * fewer dispatches with bitwise the same values: the add, leaky_relu or
 * leaky_relu_grad that alone reads a conv/matmul/reduce_sum output folded into
 * that kernel's store, leaky_relu_grad reading the leaky_relu output. The
 * caller's graph (and so the autodiff and the float64 reference) is untouched.
 * $PROGAN_FUSE=0 turns it off. lean: an add folds only a parameter or input
 * (an accumulated gradient would make its producer wait for the other term). */
void pg_fuse(const pg_vk_info *info, pg_graph *g, const pg_tensor *outputs, int n_outputs,
             int lean);
/* Lean plans (lean.c): levels of the needed nodes from an order that keeps the
 * fewest bytes alive (each node's level at least the previous one's); outputs'
 * bytes are never freed; first >= 0: the nodes depending on that input, and
 * what they need, go before the others. Returns the top level, or -1 (out of
 * host memory). */
int pg_levels_lean(const pg_node *nodes, int n, const int *root, const char *needed,
                   const pg_tensor *outputs, int n_outputs, int first, const int *gate, int *level);
/* Lean plans: a cheap node (upsample, avgpool, pixel norm) whose output would
 * stay alive from its first reader to later ones (the backward pass) is
 * computed again for each later reader, by a copy appended to nodes (up to cap
 * nodes) that reads the same inputs, so bitwise the same values; gate[copy] =
 * that reader (-1 elsewhere), which pg_levels_lean runs the copy just before.
 * Returns the new node count. */
int pg_lean_recompute(pg_node *nodes, int n, int cap, char *needed, const pg_tensor *outputs,
                      int n_outputs, int *gate);
/* A block of a lean plan's arena: size bytes alive from level start to level
 * last (inclusive); pg_place_by_size sets offset. */
typedef struct {
    uint64_t size, offset;
    int start, last;
} pg_place_block;
/* Places the blocks largest first, each at the lowest offset free over its whole
 * lifetime and inside one chunk; returns the arena's end (UINT64_MAX: out of
 * host memory). Knowing every lifetime, it wastes less than first fit by level. */
uint64_t pg_place_by_size(pg_place_block *blocks, int n, uint64_t chunk);
/* Called last by the dispatch builders of those ops: puts node t's epilogue
 * (none: the defaults) on the pass that writes its output, d[0] or the reduce
 * pass d[1] of a split kernel. */
pg_status pg_epilogue_set(const pg_graph *g, pg_tensor t, pg_dispatch *d);

/* ---- dispatch helpers */
/* A grid of at least `count` workgroups, x wrapping into y and then z (see
 * linear_group_id in shaders/common.glsl); every shader skips the extra
 * workgroups of the last row. pg_plan_create fails if z exceeds the limit. */
void pg_dispatch_grid(const pg_vk_info *info, uint64_t count, uint32_t groups[3]);
void pg_dispatch_init(pg_dispatch *d, pg_shader_id shader, int n_bindings);
/* Local sizes are chosen here, in C, and nowhere else: every shader reads its
 * own from specialization constant PG_SPEC_WG, which pg_vk_pipeline_get checks
 * against the device's limits. PG_WG serves the one-lane-per-element kernels. */
#define PG_WG 128
/* Sets the local size wg (spec[PG_SPEC_WG]) and a grid of ceil(lanes / wg) groups. */
void pg_dispatch_lanes(const pg_vk_info *info, pg_dispatch *d, uint32_t wg, uint64_t lanes);
/* Whether a kernel that has a texel-buffer module (conv2d_texel, reduce_texel)
 * reads an input of `texels` texels through it: on CPU devices, or as
 * $PROGAN_TEXEL=0|1 forces (tests run both), where the input fits
 * maxTexelBufferElements and every storage offset suits a texel view. */
int pg_texel_loads(const pg_vk_info *info, uint64_t texels);
/* Whether an input of `texels` texels can be a texel buffer at all. */
int pg_texel_fits(const pg_vk_info *info, uint64_t texels);
/* $PROGAN_EW_VEC4=0 keeps every elementwise and resampling op on its scalar
 * path (one element per lane), so tests run both paths on the same cases
 * (ctest's *_subgroup16 entries set it). */
int pg_ew_vec4_allowed(void);
/* n / d in a shader as pg_fastdiv(n, magic) (shaders/common.glsl) for n, d <
 * 2^31: pg_fastdiv_magic writes the 2 push words for divisor d; the C
 * pg_fastdiv computes the same as the shader (tests). */
void pg_fastdiv_magic(uint32_t d, uint32_t magic[2]);
uint32_t pg_fastdiv(uint32_t n, const uint32_t magic[2]);

/* One pass of shaders/reduce.comp: in (in_shape) reduced over axes, times
 * scale, into out; with splits > 1 each of out_count outputs is split into
 * chunks whose partial sums go to out[split * out_count + o]. Used by
 * reduce_sum and by the second pass of split reductions (conv weight grads). */
void pg_reduce_pass(const pg_vk_info *info, pg_dispatch *d, pg_tensor out, pg_tensor in,
                    const int in_shape[4], int axes, float scale, uint64_t out_count,
                    uint64_t chunk, uint64_t splits);

/* ---- kernel variants of the conv family and matmul (op_gemm.c). $PROGAN_CONV =
 * auto (by device class) | register[:LOADS][:TMxTN] (the register-blocked
 * kernels, CPU class; LOADS texel or storage: the conv operands through texel
 * or storage buffers; TMxTN rows x columns per lane) |
 * tiled[:SHAPE[:SPLITS]] (the shared-memory implicit GEMM, GPU class; SHAPE
 * 128x128, 64x64, 128x32 or 32x32, SPLITS the split-K count) | general. */
typedef enum { PG_GEMM_REGISTER, PG_GEMM_TILED, PG_GEMM_GENERAL } pg_gemm_kind;
typedef enum { PG_LOADS_AUTO, PG_LOADS_STORAGE, PG_LOADS_TEXEL } pg_gemm_loads;
typedef struct {
    pg_gemm_kind kind;
    int shape;           /* a block shape index, -1: chosen from the problem */
    int splits;          /* split-K count, 0: chosen from the device's compute units */
    pg_gemm_loads loads; /* register kernels: how the conv reads its operands */
    uint32_t tm, tn;     /* register kernels: the tile per lane, 0: chosen */
    int winograd; /* 3x3 conv2d and input grad on shaders/winograd.glsl (PROGAN_CONV=winograd...) */
} pg_gemm_choice;
pg_status pg_gemm_choose(const pg_vk_info *info, pg_gemm_choice *c);
const char *pg_gemm_kind_name(pg_gemm_kind k);
/* One GEMM of shaders/gemm_tiled.comp: out[m,n] = scale * sum_k A[m,k] B[k,n]. */
typedef struct {
    uint32_t mode;             /* 0 conv forward, 1 input grad, 2 weight grad, 3 matmul */
    uint32_t ks;               /* conv kernel size (1 or 3) */
    uint32_t a_kfast, b_nfast; /* A contiguous along k, B along n */
    uint64_t m, n, k;
    uint32_t conv[5];    /* N, H, W, Ci, Co of the conv (forward convention) */
    uint32_t strides[4]; /* matmul: A's m and k strides, B's k and n strides */
    float scale;
    pg_tensor out, a, b;
} pg_gemm_problem;
pg_status pg_gemm_tiled_dispatch(const pg_vk_info *info, const pg_gemm_choice *c,
                                 const pg_gemm_problem *p, pg_dispatch *d);

/* ---- per-family dispatch and VJP functions, referenced by the table in ops.c */
#define PG_OP_FUNCS(name)                                                                          \
    pg_status name##_dispatch(const pg_vk_info *, const pg_graph *, pg_tensor, pg_dispatch *);     \
    void name##_vjp(pg_graph *, pg_tensor, pg_tensor, const int *, pg_tensor *);
void fill_vjp(pg_graph *, pg_tensor, pg_tensor, const int *, pg_tensor *);
void reshape_vjp(pg_graph *, pg_tensor, pg_tensor, const int *, pg_tensor *);
void broadcast_vjp(pg_graph *, pg_tensor, pg_tensor, const int *, pg_tensor *);
void pack_vjp(pg_graph *, pg_tensor, pg_tensor, const int *, pg_tensor *);
PG_OP_FUNCS(conv2d)
PG_OP_FUNCS(conv2d_input_grad)
PG_OP_FUNCS(conv2d_weight_grad)
PG_OP_FUNCS(matmul)
PG_OP_FUNCS(reduce_sum)
PG_OP_FUNCS(elementwise)
PG_OP_FUNCS(upsample2x)
PG_OP_FUNCS(avgpool2x)
PG_OP_FUNCS(pixel_norm)
PG_OP_FUNCS(pixel_norm_grad)
PG_OP_FUNCS(mbstd)
PG_OP_FUNCS(mbstd_grad)
PG_OP_FUNCS(channels)
PG_OP_FUNCS(optimizer)
PG_OP_FUNCS(maxpool)
PG_OP_FUNCS(maxpool_grad)
PG_OP_FUNCS(avgpool)
PG_OP_FUNCS(avgpool_grad)
PG_OP_FUNCS(resize_bilinear)
PG_OP_FUNCS(resize_bilinear_grad)
PG_OP_FUNCS(softmax)
#undef PG_OP_FUNCS

#endif
