// Every elementwise op, one opcode per specialization: PG_EW_* of codes.h,
// the `code` column of the op table in src/graph/ops.c. Operands a, b, c are
// read through per-axis strides, so a stride of 0 broadcasts a size-1 axis.
// out [N,H,W,C] contiguous; unused operand bindings alias the output.
// Two modules come from this file: elementwise.comp reads the operands from
// storage buffers, elementwise_texel.comp (PG_TEXEL 1) through uniform texel
// buffers (one vector gather on lavapipe instead of a loop over the lanes);
// the C side binds RGBA32F views exactly where the VEC4 path reads vec4s
// (operands indexed by mode 1 or 2), R32F elsewhere.
#extension GL_GOOGLE_include_directive : require
#include "common.glsl"

layout(local_size_x_id = PG_SPEC_WG) in;
layout(constant_id = PG_SPEC_WG) const uint WG = 128;
layout(constant_id = PG_SPEC_CODE) const uint OPCODE = 0;
// How each operand (a, b, c) is indexed from the output index i, so the common
// cases skip the coordinate arithmetic: 0 general (per-axis strides), 1 the
// output's shape (i), 2 a channel vector [1,1,1,C] (i % C), 3 a scalar (0),
// 4 one value per sample [N,1,1,1] (i / (H*W*C)).
layout(constant_id = 2) const uint INDEX_A = 0;
layout(constant_id = 3) const uint INDEX_B = 0;
layout(constant_id = 4) const uint INDEX_C = 0;
// VEC4: each lane computes 4 consecutive outputs through vec4 views of the
// buffers (one lane-varying load per operand instead of four: on lavapipe each
// is a loop over the SIMD lanes). Set only when the count is a multiple of 4
// and every operand is indexed by mode 1, 3, 2 with C % 4 == 0, or 4 with
// H*W*C % 4 == 0, so 4 consecutive outputs read 4 consecutive values or one.
layout(constant_id = 5) const uint VEC4 = 0;

layout(std430, binding = 0) writeonly buffer Out { float y[]; };
layout(std430, binding = 0) writeonly buffer Out4 { vec4 y4[]; };
#include "input.glsl"
PG_INPUT(1, a)
PG_INPUT(2, b)
PG_INPUT(3, c)

layout(push_constant) uniform Push {
    uvec4 shape;      // out N, H, W, C
    uvec4 stride_a, stride_b, stride_c;
    float p0, p1;     // op constants (scale a*x+b, slope, fill value)
    uint count;
} pc;

const bool USES_A = OPCODE != PG_EW_FILL;
const bool USES_B = OPCODE == PG_EW_ADD || OPCODE == PG_EW_SUB || OPCODE == PG_EW_MUL ||
                    OPCODE == PG_EW_LEAKY_RELU_GRAD || OPCODE == PG_EW_LERP;
const bool USES_C = OPCODE == PG_EW_LERP;

// The op on one element; vb and vc are meaningful only where USES_B / USES_C.
float apply(float va, float vb, float vc) {
    if (OPCODE == PG_EW_COPY) return va;
    if (OPCODE == PG_EW_FILL) return pc.p0;
    if (OPCODE == PG_EW_SCALE) return va * pc.p0 + pc.p1;
    if (OPCODE == PG_EW_SQUARE) return va * va;
    if (OPCODE == PG_EW_SQRT) return sqrt(va);
    if (OPCODE == PG_EW_RSQRT) return inversesqrt(va);
    if (OPCODE == PG_EW_LEAKY_RELU) return va > 0.0 ? va : va * pc.p0;
    if (OPCODE == PG_EW_SOFTPLUS) return max(va, 0.0) + log(1.0 + exp(-abs(va)));
    if (OPCODE == PG_EW_SIGMOID) return 1.0 / (1.0 + exp(-va));
    if (OPCODE == PG_EW_ADD) return va + vb;
    if (OPCODE == PG_EW_SUB) return va - vb;
    if (OPCODE == PG_EW_MUL) return va * vb;
    if (OPCODE == PG_EW_LEAKY_RELU_GRAD) return vb > 0.0 ? va : va * pc.p0;
    return va + (vb - va) * vc;  // PG_EW_LERP
}

uint operand_index(uint mode, uint i, uvec4 at, uvec4 stride) {
    if (mode == 1) return i;
    if (mode == 2) return i % pc.shape.w;
    if (mode == 3) return 0;
    if (mode == 4) return i / (pc.shape.y * pc.shape.z * pc.shape.w);
    return at.x * stride.x + at.y * stride.y + at.z * stride.z + at.w * stride.w;
}

// The 4 values of an operand for outputs 4*i4 .. 4*i4+3 (VEC4 only).
#define LOAD4(MODE, N, I4)                                                  \
    (MODE == 1   ? PG_LOAD4(N, I4)                                          \
     : MODE == 2 ? PG_LOAD4(N, (I4) % (pc.shape.w / 4))                     \
                 : vec4(PG_LOAD(N, operand_index(MODE, 4 * (I4), uvec4(0), uvec4(0)))))

void main() {
    if (VEC4 != 0) {
        uint i4 = linear_thread_id(WG);
        if (i4 >= pc.count / 4) return;
        vec4 va = USES_A ? LOAD4(INDEX_A, a, i4) : vec4(0.0);
        vec4 vb = USES_B ? LOAD4(INDEX_B, b, i4) : vec4(0.0);
        vec4 vc = USES_C ? LOAD4(INDEX_C, c, i4) : vec4(0.0);
        y4[i4] = vec4(apply(va.x, vb.x, vc.x), apply(va.y, vb.y, vc.y), apply(va.z, vb.z, vc.z),
                      apply(va.w, vb.w, vc.w));
        return;
    }
    uint i = linear_thread_id(WG);
    if (i >= pc.count) return;
    uvec4 at = uvec4(0);
    if (INDEX_A == 0 || INDEX_B == 0 || INDEX_C == 0) { // coordinates for the general case
        uint ch = i % pc.shape.w, r = i / pc.shape.w;
        uint x = r % pc.shape.z; r /= pc.shape.z;
        uint row = r % pc.shape.y, n = r / pc.shape.y;
        at = uvec4(n, row, x, ch);
    }
    float va = USES_A ? PG_LOAD(a, operand_index(INDEX_A, i, at, pc.stride_a)) : 0.0;
    float vb = USES_B ? PG_LOAD(b, operand_index(INDEX_B, i, at, pc.stride_b)) : 0.0;
    float vc = USES_C ? PG_LOAD(c, operand_index(INDEX_C, i, at, pc.stride_c)) : 0.0;
    y[i] = apply(va, vb, vc);
}
