#version 450
// C[m, n] = scale * sum_k op(A)[m, k] op(B)[k, n], row-major; op = transpose when
// the specialization flag is set (A stored [K, M], B stored [N, K]).
#extension GL_GOOGLE_include_directive : require
#include "common.glsl"

layout(local_size_x = 64) in;
layout(constant_id = 0) const uint TRANSPOSE_A = 0;
layout(constant_id = 1) const uint TRANSPOSE_B = 0;

layout(std430, binding = 0) writeonly buffer Out { float c[]; };
layout(std430, binding = 1) readonly buffer A { float a[]; };
layout(std430, binding = 2) readonly buffer B { float b[]; };

layout(push_constant) uniform Push {
    uint m, n, k;
    float scale;
} pc;

void main() {
    uint i = linear_thread_id(64);
    if (i >= pc.m * pc.n) return;
    uint row = i / pc.n, col = i % pc.n;
    float acc = 0.0;
    for (uint j = 0; j < pc.k; j++) {
        float va = TRANSPOSE_A != 0 ? a[j * pc.m + row] : a[row * pc.k + j];
        float vb = TRANSPOSE_B != 0 ? b[col * pc.k + j] : b[j * pc.n + col];
        acc += va * vb;
    }
    c[i] = acc * pc.scale;
}
