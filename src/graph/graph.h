/* src/graph: tensors, the closed op table, the graph builder, reverse-mode
 * autodiff whose VJP rules emit nodes of the same table (so gradients can be
 * differentiated again), the memory planner and the executor that records a
 * whole graph into one command buffer once and replays it. Calls src/vk.
 *
 * Tensors are float32 with a 4-D shape, NHWC order: shape[0]=N, [1]=H, [2]=W,
 * [3]=C, contiguous with C innermost; lower-rank tensors use leading 1s. A matrix
 * for matmul is rows = N*H*W, cols = C. Conv weights live on the device as
 * [kh, kw, Cin, Cout] (HWIO); checkpoints convert to PyTorch's [out, in, kh, kw].
 *
 * Building follows ggml: a constructor records the op and returns a node id
 * (pg_tensor). A bad shape records the first error in the graph and returns -1;
 * constructors given -1 return -1, and pg_plan_create reports the error. */
#ifndef PROGAN_GRAPH_H
#define PROGAN_GRAPH_H

#include <stdio.h>

#include "vk/vk.h"

typedef int pg_tensor; /* a node id; -1 means "no tensor" (an error, or a zero gradient) */

typedef enum {
    PG_OP_INPUT,    /* host-written before every run (latents, reals, per-step scalars) */
    PG_OP_EXTERNAL, /* persistent device memory owned by the caller (parameters, moments) */
    PG_OP_FILL,     /* a constant-valued tensor */
    PG_OP_RESHAPE,  /* a view: same bytes, new shape */
    PG_OP_CONV2D,
    PG_OP_CONV2D_INPUT_GRAD,
    PG_OP_CONV2D_WEIGHT_GRAD,
    PG_OP_MATMUL,
    PG_OP_REDUCE_SUM, /* sum over a set of axes (kept as size 1) times a scale: sum, mean,
                         channel sum */
    PG_OP_BROADCAST,  /* repeat size-1 axes up to a shape */
    PG_OP_ADD,        /* binary elementwise ops broadcast size-1 axes of either operand */
    PG_OP_SUB,
    PG_OP_MUL,
    PG_OP_SCALE, /* a * x + b, a and b constants */
    PG_OP_SQUARE,
    PG_OP_SQRT,
    PG_OP_RSQRT,
    PG_OP_LERP, /* a + (b - a) * t, t broadcast (a scalar, or one value per sample) */
    PG_OP_LEAKY_RELU,
    PG_OP_LEAKY_RELU_GRAD, /* (dy, x) -> dy * (x > 0 ? 1 : slope) */
    PG_OP_SOFTPLUS,        /* log(1 + exp(x)), the non-saturating GAN loss */
    PG_OP_SIGMOID,         /* 1 / (1 + exp(-x)), softplus' derivative */
    PG_OP_UPSAMPLE2X,      /* nearest, times a constant */
    PG_OP_AVGPOOL2X,       /* 2x2 box mean, times a constant */
    PG_OP_PIXEL_NORM,
    PG_OP_PIXEL_NORM_GRAD,      /* fused backward (dy, x) -> dx */
    PG_OP_MBSTD,                /* minibatch stddev: appends one channel */
    PG_OP_MBSTD_GRAD,           /* fused backward (dy, x) -> dx */
    PG_OP_CONCAT,               /* along channels */
    PG_OP_SLICE,                /* channels [begin, begin + count) */
    PG_OP_PAD_CHANNELS,         /* the adjoint of slice: zeros outside [begin, begin + C) */
    PG_OP_ADAM,                 /* in place on (param, m, v) externals; no output */
    PG_OP_EMA,                  /* in place: avg = src + (avg - src) * beta; no output */
    PG_OP_RMSPROP,              /* in place on (param, v) externals; no output */
    PG_OP_CLIP,                 /* in place: param = clamp(param, -bound, bound); no output */
    PG_OP_MAXPOOL,              /* (v, x): v at the argmax of x over each window */
    PG_OP_MAXPOOL_GRAD,         /* (dy, x): dy sent back to each window's argmax */
    PG_OP_AVGPOOL,              /* window mean, padding counted or not */
    PG_OP_AVGPOOL_GRAD,         /* its adjoint */
    PG_OP_RESIZE_BILINEAR,      /* PyTorch's bilinear interpolate, align_corners=False */
    PG_OP_RESIZE_BILINEAR_GRAD, /* its adjoint */
    PG_OP_SOFTMAX,              /* over channels */
    PG_OP_PACK,                 /* tensors placed in one flat tensor (pg_pack); no kernel */
    PG_OP_COUNT
} pg_op;

#define PG_MAX_INPUTS  6
#define PG_MAX_IPARAMS 6
#define PG_MAX_FPARAMS 4

typedef struct {
    pg_op op;
    int n_inputs;
    pg_tensor inputs[PG_MAX_INPUTS];
    int shape[4];
    int iparams[PG_MAX_IPARAMS];
    float fparams[PG_MAX_FPARAMS];
    char name[64];       /* for errors and the profiler */
    pg_vk_range storage; /* PG_OP_EXTERNAL: the caller's bytes */
    int side_effect;     /* ADAM / EMA: kept although nothing reads them */
} pg_node;

typedef struct pg_graph {
    pg_node *nodes;
    int count, capacity;
    pg_status error; /* the first construction error */
    char error_message[1024];
} pg_graph;

pg_graph *pg_graph_create(void);
void pg_graph_destroy(pg_graph *g);
static inline const pg_node *pg_graph_node(const pg_graph *g, pg_tensor t) {
    return &g->nodes[t];
}
/* Formats a shape as "[n,h,w,c]" into a small rotating buffer (for messages). */
const char *pg_shape_str(const int s[4]);
/* Number of elements of a tensor. */
long long pg_tensor_numel(const pg_graph *g, pg_tensor t);
/* Roofline cost of node t (src/graph/cost.c): floating-point operations (a
 * multiply-add is 2) and compulsory bytes (inputs read once, output written once). */
void pg_node_cost(const pg_graph *g, pg_tensor t, double *flops, double *bytes);
/* Lower bound on g's device time at gflops and gbps: each node takes the longer
 * of its compute and its memory time, nodes back to back. */
double pg_graph_roofline_seconds(const pg_graph *g, double gflops, double gbps);
/* The data-sheet FP32 peak of a known device name (H100, H200, A100, ...);
 * returns 0 and zeroes both when the name is not in the table. */
int pg_device_peak(const char *device, double *gflops, double *gbps);
void pg_tensor_set_name(pg_graph *g, pg_tensor t, const char *name);

/* ---- leaves */
pg_tensor pg_input(pg_graph *g, const char *name, int n, int h, int w, int c);
pg_tensor pg_external(pg_graph *g, const char *name, const int shape[4], pg_vk_range storage);
pg_tensor pg_fill(pg_graph *g, const int shape[4], float value);

/* ---- ops (shapes NHWC; x [N,H,W,Ci], w [kh,kw,Ci,Co], scale = equalized-LR gain/sqrt(fan_in))
 * The plain forms are stride 1 with padding k/2 ("same" for odd k); the _ex
 * forms take any stride and zero padding: y [N, (H + 2 pad_y - kh) / stride + 1,
 * (W + 2 pad_x - kw) / stride + 1, Co], as PyTorch's Conv2d. The input
 * gradient names x's height and width (a strided conv may drop rows). */
pg_tensor pg_conv2d(pg_graph *g, pg_tensor x, pg_tensor w, float scale);
pg_tensor pg_conv2d_input_grad(pg_graph *g, pg_tensor dy, pg_tensor w, float scale);
pg_tensor pg_conv2d_weight_grad(pg_graph *g, pg_tensor x, pg_tensor dy, int k, float scale);
pg_tensor pg_conv2d_ex(pg_graph *g, pg_tensor x, pg_tensor w, int stride, int pad_y, int pad_x,
                       float scale);
pg_tensor pg_conv2d_input_grad_ex(pg_graph *g, pg_tensor dy, pg_tensor w, int stride, int pad_y,
                                  int pad_x, int h, int width, float scale);
pg_tensor pg_conv2d_weight_grad_ex(pg_graph *g, pg_tensor x, pg_tensor dy, int kh, int kw,
                                   int stride, int pad_y, int pad_x, float scale);
/* scale * op(a) @ op(b): a as [rows, cols] = [N*H*W, C]; result [M, 1, 1, N]. */
pg_tensor pg_matmul(pg_graph *g, pg_tensor a, pg_tensor b, int transpose_a, int transpose_b,
                    float scale);
/* axes: bit i set = reduce axis i (0 N, 1 H, 2 W, 3 C). */
pg_tensor pg_reduce_sum(pg_graph *g, pg_tensor x, int axes, float scale);
pg_tensor pg_sum(pg_graph *g, pg_tensor x); /* every axis -> [1,1,1,1] */
pg_tensor pg_mean(pg_graph *g, pg_tensor x, int axes);
pg_tensor pg_channel_sum(pg_graph *g, pg_tensor x); /* [N,H,W,C] -> [1,1,1,C] */
pg_tensor pg_broadcast(pg_graph *g, pg_tensor x, const int shape[4]);
pg_tensor pg_bias_add(pg_graph *g, pg_tensor x, pg_tensor bias); /* bias [1,1,1,C] */
/* Any op whose row has the broadcast shape rule (add ... sigmoid), from its row:
 * in[] holds the row's arity of operands, p0/p1 its constants (fparams). */
pg_tensor pg_op_elementwise(pg_graph *g, pg_op op, const pg_tensor *in, float p0, float p1);
pg_tensor pg_add(pg_graph *g, pg_tensor a, pg_tensor b);
pg_tensor pg_sub(pg_graph *g, pg_tensor a, pg_tensor b);
pg_tensor pg_mul(pg_graph *g, pg_tensor a, pg_tensor b);
pg_tensor pg_scale(pg_graph *g, pg_tensor x, float a, float b);
pg_tensor pg_square(pg_graph *g, pg_tensor x);
pg_tensor pg_sqrt(pg_graph *g, pg_tensor x);
pg_tensor pg_rsqrt(pg_graph *g, pg_tensor x);
pg_tensor pg_lerp(pg_graph *g, pg_tensor a, pg_tensor b, pg_tensor t);
pg_tensor pg_leaky_relu(pg_graph *g, pg_tensor x, float slope);
pg_tensor pg_leaky_relu_grad(pg_graph *g, pg_tensor dy, pg_tensor x, float slope);
pg_tensor pg_softplus(pg_graph *g, pg_tensor x);
pg_tensor pg_sigmoid(pg_graph *g, pg_tensor x);
pg_tensor pg_upsample2x(pg_graph *g, pg_tensor x, float scale);
pg_tensor pg_avgpool2x(pg_graph *g, pg_tensor x, float scale);
pg_tensor pg_pixel_norm(pg_graph *g, pg_tensor x, float eps);
pg_tensor pg_pixel_norm_grad(pg_graph *g, pg_tensor dy, pg_tensor x, float eps);
pg_tensor pg_mbstd(pg_graph *g, pg_tensor x, int group, float eps);
pg_tensor pg_mbstd_grad(pg_graph *g, pg_tensor dy, pg_tensor x, int group, float eps);
pg_tensor pg_concat(pg_graph *g, pg_tensor a, pg_tensor b);
pg_tensor pg_slice(pg_graph *g, pg_tensor x, int begin, int count);
pg_tensor pg_pad_channels(pg_graph *g, pg_tensor x, int begin, int total);
pg_tensor pg_reshape(pg_graph *g, pg_tensor x, int n, int h, int w, int c);
/* In-place updates (side effects, run after everything that reads their targets).
 * lr_t: a [1,1,1,1] tensor holding lr * sqrt(1 - b2^t) / (1 - b1^t) for this step;
 * skip: optional (-1) [1,1,1,1] tensor; when its value is NaN or Inf (say, the
 * sum of squared gradients of a step that overflowed) nothing changes. */
pg_tensor pg_adam(pg_graph *g, pg_tensor param, pg_tensor grad, pg_tensor m, pg_tensor v,
                  pg_tensor lr_t, pg_tensor skip, float beta1, float beta2, float eps);
pg_tensor pg_ema(pg_graph *g, pg_tensor avg, pg_tensor src, float beta);
/* Whether an update given this skip value changed nothing: its bits are not a
 * finite float. The device decides by the same bits (shaders/optimizer.comp),
 * so the host's count of skipped steps always matches what the device did. */
int pg_update_skipped(float skip_value);
/* PyTorch's RMSprop: v = a v + (1 - a) g^2; p -= lr g / (sqrt(v) + eps). */
pg_tensor pg_rmsprop(pg_graph *g, pg_tensor param, pg_tensor grad, pg_tensor v, pg_tensor lr,
                     pg_tensor skip, float alpha, float eps);
pg_tensor pg_clip(pg_graph *g, pg_tensor param, float bound);
/* One flat [1,1,1,total] tensor holding xs[k]'s elements (NHWC order) at
 * [at[k], at[k] + numel) and zeros elsewhere: the gradients of many parameters
 * as one range, laid out as the parameters (so one optimizer update covers
 * them all). No kernel copies anything: the planner computes each xs[k] in its
 * place and zeroes the gaps (an input, external, packed or repeated tensor is
 * copied first). at[k] must be multiples of 64 (256-byte aligned places) and
 * the places must not overlap. Built as a chain of pack nodes sharing bytes;
 * only the returned last one may be read. */
pg_tensor pg_pack(pg_graph *g, int n, const pg_tensor *xs, const int *at, int total);

/* ---- Inception's ops (windows k x k, stride, zero padding pad <= k/2, as PyTorch) */
pg_tensor pg_relu(pg_graph *g, pg_tensor x); /* leaky_relu with slope 0 */
/* max_pool2d: [N,H,W,C] -> [N,(H+2pad-k)/stride+1,...,C]; padding never wins. */
pg_tensor pg_maxpool(pg_graph *g, pg_tensor x, int k, int stride, int pad);
/* v taken at the argmax of x (same shapes): what pg_maxpool is, with v = x. */
pg_tensor pg_maxpool_select(pg_graph *g, pg_tensor v, pg_tensor x, int k, int stride, int pad);
pg_tensor pg_maxpool_grad(pg_graph *g, pg_tensor dy, pg_tensor x, int k, int stride, int pad);
/* avg_pool2d; exclude_pad = !count_include_pad (TensorFlow's pooling excludes it). */
pg_tensor pg_avgpool(pg_graph *g, pg_tensor x, int k, int stride, int pad, int exclude_pad);
pg_tensor pg_avgpool_grad(pg_graph *g, pg_tensor dy, int h, int w, int k, int stride, int pad,
                          int exclude_pad);
/* F.interpolate(x, size=(h, w), mode="bilinear", align_corners=False). */
pg_tensor pg_resize_bilinear(pg_graph *g, pg_tensor x, int h, int w);
pg_tensor pg_resize_bilinear_grad(pg_graph *g, pg_tensor dy, int h, int w);
pg_tensor pg_softmax(pg_graph *g, pg_tensor x); /* over channels */

/* Primitive-op versions of the fused ops: the reference the fused kernels are
 * tested against, and what the fused backward ops' VJPs differentiate. */
pg_tensor pg_pixel_norm_primitive(pg_graph *g, pg_tensor x, float eps);
pg_tensor pg_mbstd_primitive(pg_graph *g, pg_tensor x, int group, float eps);

/* ---- autodiff: dxs[i] = d(sum(y * dy)) / d xs[i]; dy = -1 means ones (y scalar).
 * dxs[i] = -1 when y does not depend on xs[i]. The result is ordinary graph and
 * can be differentiated again. */
pg_status pg_grad(pg_graph *g, pg_tensor y, pg_tensor dy, int n, const pg_tensor *xs,
                  pg_tensor *dxs);

/* ---- execution */
typedef struct pg_plan pg_plan;
/* Plans memory and records the part of g that outputs and side effects need. */
pg_status pg_plan_create(pg_vk_context *ctx, const pg_graph *g, const pg_tensor *outputs,
                         int n_outputs, pg_plan **out);
void pg_plan_destroy(pg_plan *p);
/* The activation arena pg_plan_create would allocate, without allocating it or
 * recording anything (choosing micro-batches that fit a device's memory). */
pg_status pg_plan_measure(pg_vk_context *ctx, const pg_graph *g, const pg_tensor *outputs,
                          int n_outputs, uint64_t *arena_bytes);
/* How a plan is made; all zero is pg_plan_create's plan. Values are the same
 * either way: only the order of the kernels and the bytes they use change. */
typedef struct {
    int lean;                     /* memory before barriers: kernels ordered to keep the fewest
                                     bytes alive (passes one after another, more levels) */
    const pg_plan *share;         /* a plan never running at the same time as this one (the
                                     caller waits between them): use its arena */
    uint64_t reserve_bytes;       /* allocate at least this many arena bytes (the largest plan
                                     that will share it) */
    const pg_tensor *first;       /* lean: an input whose dependents, and what they need, run
                                     before every other node (NULL: none) */
    const pg_vk_buffer *readback; /* host-visible: the outputs are read back into it from
                                     offset 0 instead of the plan's own buffer (it must
                                     hold pg_plan_measure_with's readback bytes) */
} pg_plan_config;
pg_status pg_plan_create_with(pg_vk_context *ctx, const pg_graph *g, const pg_tensor *outputs,
                              int n_outputs, const pg_plan_config *cfg, pg_plan **out);
/* The same measure for such a plan; staging (optional): the bytes of its
 * host-visible upload and readback buffers, staging[0] and staging[1]. */
pg_status pg_plan_measure_with(pg_vk_context *ctx, const pg_graph *g, const pg_tensor *outputs,
                               int n_outputs, const pg_plan_config *cfg, uint64_t *arena_bytes,
                               uint64_t staging[2]);
/* Host pointer where an input's values go before pg_plan_run (float, NHWC). */
float *pg_plan_input(pg_plan *p, pg_tensor input);
/* Host pointer to an output's values after pg_plan_run. */
const float *pg_plan_output(pg_plan *p, pg_tensor output);
/* Fills the activation arena and the readback staging with a 32-bit pattern
 * (tests poison with NaN so an element a kernel forgets to write shows). */
pg_status pg_plan_poison(pg_plan *p, uint32_t pattern);
/* Submits the recorded command buffer and waits for it. */
pg_status pg_plan_run(pg_plan *p);
pg_status pg_plan_submit(pg_plan *p);
pg_status pg_plan_wait(pg_plan *p);
/* Device bytes of the planned activation arena (reported in stats). */
uint64_t pg_plan_arena_bytes(const pg_plan *p);
/* Device bytes of the arena it runs in (shared: the largest plan's, allocated once). */
uint64_t pg_plan_arena_allocated(const pg_plan *p);
int pg_plan_dispatch_count(const pg_plan *p);
/* Lean plans: the nodes computed a second time instead of kept (pg_lean_recompute). */
int pg_plan_recomputed(const pg_plan *p);
/* Device buffers behind the arena (more than one when it exceeds
 * maxMemoryAllocationSize, or $PROGAN_ARENA_CHUNK_MB). */
int pg_plan_buffer_count(const pg_plan *p);
/* With timestamps on (PROGAN_PROFILE=1), prints a per-op time table of the last run. */
void pg_plan_profile_print(pg_plan *p, FILE *out);
/* With timestamps on (PROGAN_PROFILE=1): per-op kernel milliseconds and calls of
 * the last run; returns 0 (all zero) when the run was not profiled. */
int pg_plan_op_times(pg_plan *p, double ms[PG_OP_COUNT], int calls[PG_OP_COUNT]);
/* Total GPU time of the last run in seconds (0 without timestamps). */
double pg_plan_gpu_seconds(pg_plan *p);

#endif
