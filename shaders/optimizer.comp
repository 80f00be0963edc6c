#version 450
// In-place parameter updates (MODE: PG_OPTIM_* of codes.h). ctl holds lr_t
// (lr sqrt(1-b2^t) / (1-b1^t) for Adam, computed on the host per step; lr for
// RMSprop) and, with HAS_SKIP, the skip value: when its bits are not a finite
// float (a step whose gradients overflowed) nothing changes. The decision is
// made on the bit pattern, never with isnan/isinf, which a driver may fold
// away (Vulkan promises no SignedZeroInfNanPreserve).
// Every mode binds at most 4 storage buffers (maxPerStageDescriptorStorageBuffers
// may be 4, and a shader's bindings count as used whatever the mode), so Adam,
// m = b1 m + (1-b1) g; v = b2 v + (1-b2) g^2; p -= lr_t m / (sqrt(v) + eps),
// runs in two passes:
//   ADAM_MOMENTS  the moments: 0 m, 1 v, 2 g, 3 ctl;
//   ADAM_PARAM    then the parameter: 0 p, 1 m, 2 v, 3 ctl.
//   EMA           0 avg, 1 src: avg = src + (avg - src) * beta.
//   RMSPROP       PyTorch's: v = a v + (1-a) g^2; p -= lr g / (sqrt(v) + eps); 0 p, 1 g, 2 v, 3 ctl.
//   CLIP          0 p: p = clamp(p, -bound, bound) (the original WGAN's weight clipping).
#extension GL_GOOGLE_include_directive : require
#include "common.glsl"

layout(local_size_x_id = PG_SPEC_WG) in;
layout(constant_id = PG_SPEC_WG) const uint WG = 128;
layout(constant_id = PG_SPEC_CODE) const uint MODE = 0;
layout(constant_id = 2) const uint HAS_SKIP = 0;

layout(std430, binding = 0) buffer B0 { float b0[]; };
layout(std430, binding = 1) buffer B1 { float b1[]; };
layout(std430, binding = 2) buffer B2 { float b2[]; };
layout(std430, binding = 3) readonly buffer B3 { float ctl[]; }; // [lr_t, skip]

layout(push_constant) uniform Push {
    uint count;
    float a, b, c; // Adam: beta1, beta2, eps; RMSprop: alpha, -, eps; average: beta; clip: bound
} pc;

bool skipped() {
    return HAS_SKIP != 0 && !finite_bits(ctl[1]);
}

void main() {
    uint i = linear_thread_id(WG);
    if (i >= pc.count) return;
    if (MODE == PG_OPTIM_EMA) {
        float src = b1[i];
        b0[i] = src + (b0[i] - src) * pc.a;
    } else if (MODE == PG_OPTIM_CLIP) {
        b0[i] = clamp(b0[i], -pc.a, pc.a);
    } else if (skipped()) {
        return;
    } else if (MODE == PG_OPTIM_RMSPROP) {
        float grad = b1[i];
        float vi = pc.a * b2[i] + (1.0 - pc.a) * grad * grad;
        b2[i] = vi;
        b0[i] -= ctl[0] * grad / (sqrt(vi) + pc.c);
    } else if (MODE == PG_OPTIM_ADAM_MOMENTS) {
        float grad = b2[i];
        b0[i] = pc.a * b0[i] + (1.0 - pc.a) * grad;
        b1[i] = pc.b * b1[i] + (1.0 - pc.b) * grad * grad;
    } else { // PG_OPTIM_ADAM_PARAM
        b0[i] -= ctl[0] * b1[i] / (sqrt(b2[i]) + pc.c);
    }
}
