#version 450
// Softmax over the channels of each pixel of an NHWC tensor:
//   y[p, c] = exp(x[p, c] - max_c x[p]) / sum_c exp(x[p, c] - max_c x[p])
// One lane per pixel; the VJP is written in primitive ops (op_pool.c).
#extension GL_GOOGLE_include_directive : require
#include "common.glsl"

layout(local_size_x_id = PG_SPEC_WG) in;
layout(constant_id = PG_SPEC_WG) const uint WG = 64;

layout(std430, binding = 0) writeonly buffer Out { float y[]; };
layout(std430, binding = 1) readonly buffer In { float x[]; };

layout(push_constant) uniform Push {
    uint rows, c;
} pc;

void main() {
    uint p = linear_thread_id(WG);
    if (p >= pc.rows) return;
    uint base = p * pc.c;
    float m = x[base];
    for (uint k = 1; k < pc.c; k++) m = max(m, x[base + k]);
    float total = 0.0;
    for (uint k = 0; k < pc.c; k++) total += exp(x[base + k] - m);
    float inv = 1.0 / total;
    for (uint k = 0; k < pc.c; k++) y[base + k] = exp(x[base + k] - m) * inv;
}
