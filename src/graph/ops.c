/* The op table: one row per pg_op, in enum order. Adding an op without a row
 * fails to compile (the static assert below). */
#include "graph/ops.h"

#define ROW(op, name, family) [op] = {name, family##_dispatch, family##_vjp}
#define LEAF(op, name)        [op] = {name, NULL, NULL}

const pg_op_info pg_ops[PG_OP_COUNT] = {
    LEAF(PG_OP_INPUT, "input"),
    LEAF(PG_OP_EXTERNAL, "external"),
    ROW(PG_OP_FILL, "fill", fill),
    [PG_OP_RESHAPE] = {"reshape", NULL, reshape_vjp},
    ROW(PG_OP_CONV2D, "conv2d", conv2d),
    ROW(PG_OP_CONV2D_INPUT_GRAD, "conv2d_input_grad", conv2d_input_grad),
    ROW(PG_OP_CONV2D_WEIGHT_GRAD, "conv2d_weight_grad", conv2d_weight_grad),
    ROW(PG_OP_MATMUL, "matmul", matmul),
    ROW(PG_OP_REDUCE_SUM, "reduce_sum", reduce_sum),
    ROW(PG_OP_BROADCAST, "broadcast", broadcast),
    ROW(PG_OP_ADD, "add", elementwise),
    ROW(PG_OP_SUB, "sub", elementwise),
    ROW(PG_OP_MUL, "mul", elementwise),
    ROW(PG_OP_SCALE, "scale", elementwise),
    ROW(PG_OP_SQUARE, "square", elementwise),
    ROW(PG_OP_SQRT, "sqrt", elementwise),
    ROW(PG_OP_RSQRT, "rsqrt", elementwise),
    ROW(PG_OP_LERP, "lerp", elementwise),
    ROW(PG_OP_LEAKY_RELU, "leaky_relu", elementwise),
    ROW(PG_OP_LEAKY_RELU_GRAD, "leaky_relu_grad", elementwise),
    ROW(PG_OP_SOFTPLUS, "softplus", elementwise),
    ROW(PG_OP_SIGMOID, "sigmoid", elementwise),
    ROW(PG_OP_UPSAMPLE2X, "upsample2x", upsample2x),
    ROW(PG_OP_AVGPOOL2X, "avgpool2x", avgpool2x),
    ROW(PG_OP_PIXEL_NORM, "pixel_norm", pixel_norm),
    ROW(PG_OP_PIXEL_NORM_GRAD, "pixel_norm_grad", pixel_norm_grad),
    ROW(PG_OP_MBSTD, "mbstd", mbstd),
    ROW(PG_OP_MBSTD_GRAD, "mbstd_grad", mbstd_grad),
    ROW(PG_OP_CONCAT, "concat", channels),
    ROW(PG_OP_SLICE, "slice", channels),
    ROW(PG_OP_PAD_CHANNELS, "pad_channels", channels),
    ROW(PG_OP_ADAM, "adam", optimizer),
    ROW(PG_OP_EMA, "ema", optimizer),
    ROW(PG_OP_RMSPROP, "rmsprop", optimizer),
    ROW(PG_OP_CLIP, "clip", optimizer),
    ROW(PG_OP_MAXPOOL, "maxpool", maxpool),
    ROW(PG_OP_MAXPOOL_GRAD, "maxpool_grad", maxpool_grad),
    ROW(PG_OP_AVGPOOL, "avgpool", avgpool),
    ROW(PG_OP_AVGPOOL_GRAD, "avgpool_grad", avgpool_grad),
    ROW(PG_OP_RESIZE_BILINEAR, "resize_bilinear", resize_bilinear),
    ROW(PG_OP_RESIZE_BILINEAR_GRAD, "resize_bilinear_grad", resize_bilinear_grad),
    ROW(PG_OP_SOFTMAX, "softmax", softmax),
};

_Static_assert(sizeof pg_ops / sizeof pg_ops[0] == PG_OP_COUNT, "every op needs a table row");
