// Numbers shared by the C op table (src/graph/ops.c and the op_*.c dispatch
// builders) and the GLSL shaders, which both #include this file, so nothing is
// kept in sync by hand. Only #defines of plain integers and // comments: the
// file must stay valid C and valid GLSL.
#ifndef PROGAN_SHADER_CODES_H
#define PROGAN_SHADER_CODES_H

// Specialization constant ids every shader shares. Constant 0 is the local
// size (layout(local_size_x_id = PG_SPEC_WG) in every shader; read it back as
// gl_WorkGroupSize.x), set from C and checked against the device limits when
// the pipeline is created (src/vk/pipeline.c). Constant 1 is the op's code
// (the `code` column of the op table) where a shader serves several ops.
#define PG_SPEC_WG   0
#define PG_SPEC_CODE 1

// shaders/elementwise.comp: OPCODE
#define PG_EW_COPY            0
#define PG_EW_FILL            1
#define PG_EW_SCALE           2
#define PG_EW_SQUARE          3
#define PG_EW_SQRT            4
#define PG_EW_RSQRT           5
#define PG_EW_LEAKY_RELU      6
#define PG_EW_ADD             7
#define PG_EW_SUB             8
#define PG_EW_MUL             9
#define PG_EW_LEAKY_RELU_GRAD 10
#define PG_EW_LERP            11
#define PG_EW_SOFTPLUS        12
#define PG_EW_SIGMOID         13

// shaders/channels.comp: MODE
#define PG_CHANNELS_CONCAT 0
#define PG_CHANNELS_SLICE  1
#define PG_CHANNELS_PAD    2

// shaders/optimizer.comp: MODE
#define PG_OPTIM_ADAM_MOMENTS 0 // Adam: pass 1, then
#define PG_OPTIM_ADAM_PARAM   4 // pass 2 (4 storage buffers per stage at most)
#define PG_OPTIM_EMA          1
#define PG_OPTIM_RMSPROP      2
#define PG_OPTIM_CLIP         3

// shaders/conv2d.comp and conv2d_general.comp: MODE
#define PG_CONV_FORWARD     0
#define PG_CONV_INPUT_GRAD  1
#define PG_CONV_WEIGHT_GRAD 2

// shaders/epilogue.glsl: EPI of the conv family, matmul, gemm_tiled and reduce
// (bits; src/graph/fuse.c folds the elementwise node that reads a kernel's
// output into that kernel's store; aux is the one extra operand)
#define PG_EPI_ADD   1 // + aux[out_index % aux_n] (a bias, or a same-shape tensor)
#define PG_EPI_LRELU 2 // then leaky ReLU
#define PG_EPI_GATE  4 // leaky_relu_grad: aux[out_index] > 0 ? v : v * slope (alone)

// shaders/reduce.comp: MODE
#define PG_REDUCE_TREE    0
#define PG_REDUCE_COLUMNS 1

// shaders/pool.comp: MODE
#define PG_POOL_MAX      0
#define PG_POOL_MAX_GRAD 1
#define PG_POOL_AVG      2
#define PG_POOL_AVG_GRAD 3

// shaders/resample.comp: MODE
#define PG_RESAMPLE_UP   0
#define PG_RESAMPLE_DOWN 1

// shaders/pixel_norm.comp, mbstd.comp, resize_bilinear.comp: MODE
#define PG_MODE_FORWARD  0
#define PG_MODE_BACKWARD 1

#endif
