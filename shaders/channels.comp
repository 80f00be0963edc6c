#version 450
// Channel-axis copies, NHWC:
//   MODE 0 concat  y[..., c] = c < Ca ? a[..., c] : b[..., c - Ca]
//   MODE 1 slice   y[..., c] = a[..., begin + c]
//   MODE 2 pad     y[..., c] = begin <= c < begin + Ca ? a[..., c - begin] : 0
#extension GL_GOOGLE_include_directive : require
#include "common.glsl"

layout(local_size_x_id = PG_SPEC_WG) in;
layout(constant_id = PG_SPEC_WG) const uint WG = 128;
layout(constant_id = PG_SPEC_CODE) const uint MODE = 0;

layout(std430, binding = 0) writeonly buffer Out { float y[]; };
layout(std430, binding = 1) readonly buffer A { float a[]; };
layout(std430, binding = 2) readonly buffer B { float b[]; };

layout(push_constant) uniform Push {
    uint count, c_out, c_a, c_b, begin;
} pc;

void main() {
    uint i = linear_thread_id(WG);
    if (i >= pc.count) return;
    uint c = i % pc.c_out, p = i / pc.c_out;
    if (MODE == PG_CHANNELS_CONCAT) y[i] = c < pc.c_a ? a[p * pc.c_a + c] : b[p * pc.c_b + c - pc.c_a];
    else if (MODE == PG_CHANNELS_SLICE) y[i] = a[p * pc.c_a + pc.begin + c];
    else y[i] = (c >= pc.begin && c < pc.begin + pc.c_a) ? a[p * pc.c_a + c - pc.begin] : 0.0;
}
