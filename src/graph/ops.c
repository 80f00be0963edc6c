/* The op table: one row per pg_op, by designated initializer, so a row's place
 * never depends on its neighbours. pg_op_table_check fails at run time on a
 * missing row or function (a missing row is all zeros: no name). */
#include "graph/ops.h"

#include <string.h>

/* An op with its own dispatch and VJP functions (family##_dispatch, family##_vjp). */
#define ROW(op, op_name, lo, hi, family, kernel, kernel_code)                                      \
    [op] = {.name = op_name,                                                                       \
            .arity_min = lo,                                                                       \
            .arity_max = hi,                                                                       \
            .shader = kernel,                                                                      \
            .code = kernel_code,                                                                   \
            .dispatch = family##_dispatch,                                                         \
            .vjp = family##_vjp}
/* An op of shaders/elementwise.comp: broadcast shape rule, opcode from codes.h. */
#define EW(op, op_name, arity, kernel_code)                                                        \
    [op] = {.name = op_name,                                                                       \
            .arity_min = arity,                                                                    \
            .arity_max = arity,                                                                    \
            .shape = PG_SHAPE_BROADCAST,                                                           \
            .shader = PG_SHADER_ELEMENTWISE,                                                       \
            .code = kernel_code,                                                                   \
            .dispatch = elementwise_dispatch,                                                      \
            .vjp = elementwise_vjp}
/* An in-place update of shaders/optimizer.comp (no output, not differentiable). */
#define UPDATE(op, op_name, lo, hi, kernel_code)                                                   \
    [op] = {.name = op_name,                                                                       \
            .arity_min = lo,                                                                       \
            .arity_max = hi,                                                                       \
            .shader = PG_SHADER_OPTIMIZER,                                                         \
            .code = kernel_code,                                                                   \
            .dispatch = optimizer_dispatch,                                                        \
            .vjp = optimizer_vjp,                                                                  \
            .flags = PG_ROW_UPDATE}
/* A leaf: host-written or caller-owned memory, no kernel, no VJP. */
#define LEAF(op, op_name) [op] = {.name = op_name, .flags = PG_ROW_LEAF}

static const pg_op_info rows[] = {
    LEAF(PG_OP_INPUT, "input"),
    LEAF(PG_OP_EXTERNAL, "external"),
    [PG_OP_FILL] = {.name = "fill",
                    .shader = PG_SHADER_ELEMENTWISE,
                    .code = PG_EW_FILL,
                    .dispatch = elementwise_dispatch,
                    .vjp = fill_vjp},
    [PG_OP_RESHAPE] = {.name = "reshape",
                       .arity_min = 1,
                       .arity_max = 1,
                       .vjp = reshape_vjp,
                       .flags = PG_ROW_VIEW},
    ROW(PG_OP_CONV2D, "conv2d", 2, 2, conv2d, PG_SHADER_CONV2D, PG_CONV_FORWARD),
    ROW(PG_OP_CONV2D_INPUT_GRAD, "conv2d_input_grad", 2, 2, conv2d_input_grad, PG_SHADER_CONV2D,
        PG_CONV_INPUT_GRAD),
    ROW(PG_OP_CONV2D_WEIGHT_GRAD, "conv2d_weight_grad", 2, 2, conv2d_weight_grad, PG_SHADER_CONV2D,
        PG_CONV_WEIGHT_GRAD),
    ROW(PG_OP_MATMUL, "matmul", 2, 2, matmul, PG_SHADER_MATMUL, 0),
    ROW(PG_OP_REDUCE_SUM, "reduce_sum", 1, 1, reduce_sum, PG_SHADER_REDUCE, 0),
    [PG_OP_BROADCAST] = {.name = "broadcast",
                         .arity_min = 1,
                         .arity_max = 1,
                         .shader = PG_SHADER_ELEMENTWISE,
                         .code = PG_EW_COPY,
                         .dispatch = elementwise_dispatch,
                         .vjp = broadcast_vjp},
    EW(PG_OP_ADD, "add", 2, PG_EW_ADD),
    EW(PG_OP_SUB, "sub", 2, PG_EW_SUB),
    EW(PG_OP_MUL, "mul", 2, PG_EW_MUL),
    EW(PG_OP_SCALE, "scale", 1, PG_EW_SCALE),
    EW(PG_OP_SQUARE, "square", 1, PG_EW_SQUARE),
    EW(PG_OP_SQRT, "sqrt", 1, PG_EW_SQRT),
    EW(PG_OP_RSQRT, "rsqrt", 1, PG_EW_RSQRT),
    EW(PG_OP_LERP, "lerp", 3, PG_EW_LERP),
    EW(PG_OP_LEAKY_RELU, "leaky_relu", 1, PG_EW_LEAKY_RELU),
    EW(PG_OP_LEAKY_RELU_GRAD, "leaky_relu_grad", 2, PG_EW_LEAKY_RELU_GRAD),
    EW(PG_OP_SOFTPLUS, "softplus", 1, PG_EW_SOFTPLUS),
    EW(PG_OP_SIGMOID, "sigmoid", 1, PG_EW_SIGMOID),
    ROW(PG_OP_UPSAMPLE2X, "upsample2x", 1, 1, upsample2x, PG_SHADER_RESAMPLE, PG_RESAMPLE_UP),
    ROW(PG_OP_AVGPOOL2X, "avgpool2x", 1, 1, avgpool2x, PG_SHADER_RESAMPLE, PG_RESAMPLE_DOWN),
    ROW(PG_OP_PIXEL_NORM, "pixel_norm", 1, 1, pixel_norm, PG_SHADER_PIXEL_NORM, PG_MODE_FORWARD),
    ROW(PG_OP_PIXEL_NORM_GRAD, "pixel_norm_grad", 2, 2, pixel_norm_grad, PG_SHADER_PIXEL_NORM,
        PG_MODE_BACKWARD),
    ROW(PG_OP_MBSTD, "mbstd", 1, 1, mbstd, PG_SHADER_MBSTD, PG_MODE_FORWARD),
    ROW(PG_OP_MBSTD_GRAD, "mbstd_grad", 2, 2, mbstd_grad, PG_SHADER_MBSTD, PG_MODE_BACKWARD),
    ROW(PG_OP_CONCAT, "concat", 2, 2, channels, PG_SHADER_CHANNELS, PG_CHANNELS_CONCAT),
    ROW(PG_OP_SLICE, "slice", 1, 1, channels, PG_SHADER_CHANNELS, PG_CHANNELS_SLICE),
    ROW(PG_OP_PAD_CHANNELS, "pad_channels", 1, 1, channels, PG_SHADER_CHANNELS, PG_CHANNELS_PAD),
    UPDATE(PG_OP_ADAM, "adam", 5, 5, PG_OPTIM_ADAM_MOMENTS),
    UPDATE(PG_OP_EMA, "ema", 2, 2, PG_OPTIM_EMA),
    UPDATE(PG_OP_RMSPROP, "rmsprop", 4, 4, PG_OPTIM_RMSPROP),
    UPDATE(PG_OP_CLIP, "clip", 1, 1, PG_OPTIM_CLIP),
    ROW(PG_OP_MAXPOOL, "maxpool", 2, 2, maxpool, PG_SHADER_POOL, PG_POOL_MAX),
    ROW(PG_OP_MAXPOOL_GRAD, "maxpool_grad", 2, 2, maxpool_grad, PG_SHADER_POOL, PG_POOL_MAX_GRAD),
    ROW(PG_OP_AVGPOOL, "avgpool", 1, 1, avgpool, PG_SHADER_POOL, PG_POOL_AVG),
    ROW(PG_OP_AVGPOOL_GRAD, "avgpool_grad", 1, 1, avgpool_grad, PG_SHADER_POOL, PG_POOL_AVG_GRAD),
    ROW(PG_OP_RESIZE_BILINEAR, "resize_bilinear", 1, 1, resize_bilinear, PG_SHADER_RESIZE_BILINEAR,
        PG_MODE_FORWARD),
    ROW(PG_OP_RESIZE_BILINEAR_GRAD, "resize_bilinear_grad", 1, 1, resize_bilinear_grad,
        PG_SHADER_RESIZE_BILINEAR, PG_MODE_BACKWARD),
    ROW(PG_OP_SOFTMAX, "softmax", 1, 1, softmax, PG_SHADER_SOFTMAX, 0),
    /* (member) or (previous pack, member); iparams[0] = the member's place */
    [PG_OP_PACK] =
        {.name = "pack", .arity_min = 1, .arity_max = 2, .vjp = pack_vjp, .flags = PG_ROW_VIEW},
};

/* The size of `rows` comes from its initializers alone (a sized extern
 * declaration would fix it at PG_OP_COUNT and this could never fail): the last
 * row exists and none lies past the enum. Rows skipped in the middle are zeros,
 * which pg_op_table_check catches at run time. */
_Static_assert(sizeof rows / sizeof rows[0] == PG_OP_COUNT, "the op table lacks its last rows");
const pg_op_info *const pg_ops = rows;

pg_status pg_op_table_check(void) {
    for (int op = 0; op < PG_OP_COUNT; op++) {
        const pg_op_info *r = &pg_ops[op];
        if (!r->name || !r->name[0])
            return PG_FAIL(PG_ERR_INVALID, "op %d has no row in the op table (src/graph/ops.c)",
                           op);
        if (!r->dispatch && !(r->flags & (PG_ROW_LEAF | PG_ROW_VIEW)))
            return PG_FAIL(PG_ERR_INVALID, "op %s has no dispatch builder in src/graph/ops.c",
                           r->name);
        if (!r->vjp && !(r->flags & PG_ROW_LEAF))
            return PG_FAIL(PG_ERR_INVALID, "op %s has no VJP rule in src/graph/ops.c", r->name);
        if (r->arity_min < 0 || r->arity_max < r->arity_min || r->arity_max > PG_MAX_INPUTS)
            return PG_FAIL(PG_ERR_INVALID, "op %s: arity %d..%d in src/graph/ops.c", r->name,
                           r->arity_min, r->arity_max);
        for (int k = 0; k < op; k++)
            if (strcmp(pg_ops[k].name, r->name) == 0)
                return PG_FAIL(PG_ERR_INVALID, "ops %d and %d are both named %s", k, op, r->name);
    }
    return PG_OK;
}
