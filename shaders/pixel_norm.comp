#version 450
// Pixel norm over channels, one thread per pixel (NHWC, C innermost):
//   MODE 0 forward   y  = x * r,  r = 1 / sqrt(mean_c(x^2) + eps)
//   MODE 1 backward  dx = r * dy - x * r^3 * mean_c(dy * x)
// Bindings: 0 out, 1 x (forward) or dy (backward), 2 x (backward).
#extension GL_GOOGLE_include_directive : require
#include "common.glsl"

layout(local_size_x_id = PG_SPEC_WG) in;
layout(constant_id = PG_SPEC_WG) const uint WG = 64;
layout(constant_id = PG_SPEC_CODE) const uint MODE = 0;

layout(std430, binding = 0) writeonly buffer Out { float y[]; };
layout(std430, binding = 1) readonly buffer A { float a[]; };
layout(std430, binding = 2) readonly buffer X { float x[]; };

layout(push_constant) uniform Push {
    uint pixels, channels;
    float eps;
} pc;

void main() {
    uint p = linear_thread_id(WG);
    if (p >= pc.pixels) return;
    uint base = p * pc.channels;
    float sum_sq = 0.0, dot_dy_x = 0.0;
    for (uint c = 0; c < pc.channels; c++) {
        float v = MODE == PG_MODE_FORWARD ? a[base + c] : x[base + c];
        sum_sq += v * v;
        if (MODE == PG_MODE_BACKWARD) dot_dy_x += a[base + c] * v;
    }
    float r = inversesqrt(sum_sq / float(pc.channels) + pc.eps);
    if (MODE == PG_MODE_FORWARD) {
        for (uint c = 0; c < pc.channels; c++) y[base + c] = a[base + c] * r;
    } else {
        float k = r * r * r * dot_dy_x / float(pc.channels);
        for (uint c = 0; c < pc.channels; c++) y[base + c] = r * a[base + c] - x[base + c] * k;
    }
}
