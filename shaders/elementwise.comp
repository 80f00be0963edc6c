#version 450
// Every elementwise op, one opcode per specialization: PG_EW_* of codes.h,
// the `code` column of the op table in src/graph/ops.c. Operands a, b, c are
// read through per-axis strides, so a stride of 0 broadcasts a size-1 axis.
// out [N,H,W,C] contiguous; unused operand bindings alias the output.
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

layout(std430, binding = 0) writeonly buffer Out { float y[]; };
layout(std430, binding = 1) readonly buffer A { float a[]; };
layout(std430, binding = 2) readonly buffer B { float b[]; };
layout(std430, binding = 3) readonly buffer C { float c[]; };

layout(push_constant) uniform Push {
    uvec4 shape;      // out N, H, W, C
    uvec4 stride_a, stride_b, stride_c;
    float p0, p1;     // op constants (scale a*x+b, slope, fill value)
    uint count;
} pc;



uint operand_index(uint mode, uint i, uvec4 at, uvec4 stride) {
    if (mode == 1) return i;
    if (mode == 2) return i % pc.shape.w;
    if (mode == 3) return 0;
    if (mode == 4) return i / (pc.shape.y * pc.shape.z * pc.shape.w);
    return at.x * stride.x + at.y * stride.y + at.z * stride.z + at.w * stride.w;
}

void main() {
    uint i = linear_thread_id(WG);
    if (i >= pc.count) return;
    uvec4 at = uvec4(0);
    if (INDEX_A == 0 || INDEX_B == 0 || INDEX_C == 0) { // coordinates for the general case
        uint ch = i % pc.shape.w, r = i / pc.shape.w;
        uint x = r % pc.shape.z; r /= pc.shape.z;
        uint row = r % pc.shape.y, n = r / pc.shape.y;
        at = uvec4(n, row, x, ch);
    }
    uint ia = operand_index(INDEX_A, i, at, pc.stride_a);
    float va = OPCODE == PG_EW_FILL ? 0.0 : a[ia];
    float result;
    if (OPCODE == PG_EW_COPY) result = va;
    else if (OPCODE == PG_EW_FILL) result = pc.p0;
    else if (OPCODE == PG_EW_SCALE) result = va * pc.p0 + pc.p1;
    else if (OPCODE == PG_EW_SQUARE) result = va * va;
    else if (OPCODE == PG_EW_SQRT) result = sqrt(va);
    else if (OPCODE == PG_EW_RSQRT) result = inversesqrt(va);
    else if (OPCODE == PG_EW_LEAKY_RELU) result = va > 0.0 ? va : va * pc.p0;
    else if (OPCODE == PG_EW_SOFTPLUS) result = max(va, 0.0) + log(1.0 + exp(-abs(va)));
    else if (OPCODE == PG_EW_SIGMOID) result = 1.0 / (1.0 + exp(-va));
    else {
        uint ib = operand_index(INDEX_B, i, at, pc.stride_b);
        float vb = b[ib];
        if (OPCODE == PG_EW_ADD) result = va + vb;
        else if (OPCODE == PG_EW_SUB) result = va - vb;
        else if (OPCODE == PG_EW_MUL) result = va * vb;
        else if (OPCODE == PG_EW_LEAKY_RELU_GRAD) result = vb > 0.0 ? va : va * pc.p0;
        else {
            uint ic = operand_index(INDEX_C, i, at, pc.stride_c);
            result = va + (vb - va) * c[ic];
        }
    }
    y[i] = result;
}
