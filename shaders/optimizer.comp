#version 450
// In-place parameter updates.
//   MODE 0 Adam: m = b1 m + (1-b1) g; v = b2 v + (1-b2) g^2; p -= lr_t m / (sqrt(v) + eps),
//          lr_t = lr sqrt(1-b2^t) / (1-b1^t) computed on the host per step; nothing
//          changes when the skip flag (a non-finite gradient somewhere) is set.
//   MODE 1 moving average: avg = src + (avg - src) * beta.
//   MODE 2 RMSprop (PyTorch's): v = a v + (1-a) g^2; p -= lr g / (sqrt(v) + eps).
//   MODE 3 clip: p = clamp(p, -bound, bound) (the original WGAN's weight clipping).
// Bindings: 0 param (or avg), 1 grad (or src), 2 m, 3 v, 4 lr, 5 skip; the skip
// value being NaN or Inf means "this step's gradients overflowed: change nothing".
#extension GL_GOOGLE_include_directive : require
#include "common.glsl"

layout(local_size_x_id = PG_SPEC_WG) in;
layout(constant_id = PG_SPEC_WG) const uint WG = 128;
layout(constant_id = PG_SPEC_CODE) const uint MODE = 0;
layout(constant_id = 2) const uint HAS_SKIP = 0;

layout(std430, binding = 0) buffer P { float p[]; };
layout(std430, binding = 1) readonly buffer G { float g[]; };
layout(std430, binding = 2) buffer M { float m[]; };
layout(std430, binding = 3) buffer V { float v[]; };
layout(std430, binding = 4) readonly buffer LR { float lr_t[]; };
layout(std430, binding = 5) readonly buffer SKIP { float skip[]; };

layout(push_constant) uniform Push {
    uint count;
    float a, b, c; // Adam: beta1, beta2, eps; average: beta
} pc;

void main() {
    uint i = linear_thread_id(WG);
    if (i >= pc.count) return;
    if (MODE == PG_OPTIM_EMA) {
        float src = g[i];
        p[i] = src + (p[i] - src) * pc.a;
        return;
    }
    if (MODE == PG_OPTIM_CLIP) {
        p[i] = clamp(p[i], -pc.a, pc.a);
        return;
    }
    if (HAS_SKIP != 0 && (isnan(skip[0]) || isinf(skip[0]))) return;
    if (MODE == PG_OPTIM_RMSPROP) {
        float grad = g[i];
        float vi = pc.a * v[i] + (1.0 - pc.a) * grad * grad;
        v[i] = vi;
        p[i] -= lr_t[0] * grad / (sqrt(vi) + pc.c);
        return;
    }
    float grad = g[i];
    float mi = pc.a * m[i] + (1.0 - pc.a) * grad;
    float vi = pc.b * v[i] + (1.0 - pc.b) * grad * grad;
    m[i] = mi;
    v[i] = vi;
    p[i] -= lr_t[0] * mi / (sqrt(vi) + pc.c);
}
