// Pixel norm over channels, one lane per pixel (NHWC, C innermost):
//   MODE 0 forward   y  = x * r,  r = 1 / sqrt(mean_c(x^2) + eps)
//   MODE 1 backward  dx = r * dy - x * r^3 * mean_c(dy * x)
// Bindings: 0 out, 1 x (forward) or dy (backward), 2 x (backward).
// With VEC4 (C % 4 == 0) a lane reads and writes 4 channels at a time (the
// texel module binds RGBA32F views then); the sums run in 4 partial sums.
// Two modules: pixel_norm.comp (storage loads), pixel_norm_texel.comp
// (uniform texel buffers: one vector gather on lavapipe).
#extension GL_GOOGLE_include_directive : require
#include "common.glsl"

layout(local_size_x_id = PG_SPEC_WG) in;
layout(constant_id = PG_SPEC_WG) const uint WG = 64;
layout(constant_id = PG_SPEC_CODE) const uint MODE = 0;
layout(constant_id = 2) const uint VEC4 = 0;

layout(std430, binding = 0) writeonly buffer Out { float y[]; };
layout(std430, binding = 0) writeonly buffer Out4 { vec4 y4[]; };
#include "input.glsl"
PG_INPUT(1, a)
PG_INPUT(2, x)

layout(push_constant) uniform Push {
    uint pixels, channels;
    float eps;
} pc;

// The pixel's channels as vec4s.
void pixel_vec4(uint p) {
    uint n4 = pc.channels / 4, base = p * n4;
    vec4 sum_sq = vec4(0.0), dot_dy_x = vec4(0.0);
    for (uint c = 0; c < n4; c++) {
        vec4 v = MODE == PG_MODE_FORWARD ? PG_LOAD4(a, base + c) : PG_LOAD4(x, base + c);
        sum_sq += v * v;
        if (MODE == PG_MODE_BACKWARD) dot_dy_x += PG_LOAD4(a, base + c) * v;
    }
    float sq = (sum_sq.x + sum_sq.y) + (sum_sq.z + sum_sq.w);
    float r = inversesqrt(sq / float(pc.channels) + pc.eps);
    if (MODE == PG_MODE_FORWARD) {
        for (uint c = 0; c < n4; c++) y4[base + c] = PG_LOAD4(a, base + c) * r;
    } else {
        float dot = (dot_dy_x.x + dot_dy_x.y) + (dot_dy_x.z + dot_dy_x.w);
        float k = r * r * r * dot / float(pc.channels);
        for (uint c = 0; c < n4; c++) y4[base + c] = r * PG_LOAD4(a, base + c) - PG_LOAD4(x, base + c) * k;
    }
}

void main() {
    uint p = linear_thread_id(WG);
    if (p >= pc.pixels) return;
    if (VEC4 != 0) {
        pixel_vec4(p);
        return;
    }
    uint base = p * pc.channels;
    float sum_sq = 0.0, dot_dy_x = 0.0;
    for (uint c = 0; c < pc.channels; c++) {
        float v = MODE == PG_MODE_FORWARD ? PG_LOAD(a, base + c) : PG_LOAD(x, base + c);
        sum_sq += v * v;
        if (MODE == PG_MODE_BACKWARD) dot_dy_x += PG_LOAD(a, base + c) * v;
    }
    float r = inversesqrt(sum_sq / float(pc.channels) + pc.eps);
    if (MODE == PG_MODE_FORWARD) {
        for (uint c = 0; c < pc.channels; c++) y[base + c] = PG_LOAD(a, base + c) * r;
    } else {
        float k = r * r * r * dot_dy_x / float(pc.channels);
        for (uint c = 0; c < pc.channels; c++) y[base + c] = r * PG_LOAD(a, base + c) - PG_LOAD(x, base + c) * k;
    }
}
