#version 450
// Minibatch stddev with strided groups: sample n = i*M + m (i < G) is in group m.
// One workgroup per group m. With v = population variance over the group and
// s_m = mean over (h,w,c) of sqrt(v + eps):
//   MODE 0 forward   y[n,h,w,c] = x[n,h,w,c] (c < C), y[n,h,w,C] = s_m
//   MODE 1 backward  dx[n,h,w,c] = dy[n,h,w,c] + S_m / (H W C) * (x - mean) / (G sqrt(v + eps)),
//                    S_m = sum over the group's samples and pixels of dy[n,h,w,C]
// Bindings: 0 out, 1 x, 2 dy (backward; x again in forward).
#extension GL_GOOGLE_include_directive : require
#include "common.glsl"

layout(local_size_x_id = PG_SPEC_WG) in;
layout(constant_id = PG_SPEC_WG) const uint WG = 128; // a power of 2 (tree sums)
layout(constant_id = PG_SPEC_CODE) const uint MODE = 0;

layout(std430, binding = 0) writeonly buffer Out { float y[]; };
layout(std430, binding = 1) readonly buffer X { float x[]; };
layout(std430, binding = 2) readonly buffer DY { float dy[]; };

layout(push_constant) uniform Push {
    uvec4 shape; // x: N, H, W, C
    uint group;
    float eps;
} pc;

shared float partial[WG];

float workgroup_sum(float v) {
    partial[gl_LocalInvocationID.x] = v;
    barrier();
    for (uint width = WG / 2; width > 0; width >>= 1) {
        if (gl_LocalInvocationID.x < width)
            partial[gl_LocalInvocationID.x] += partial[gl_LocalInvocationID.x + width];
        barrier();
    }
    float total = partial[0];
    barrier();
    return total;
}

void main() {
    uint m = linear_group_id();
    uint groups = pc.shape.x / pc.group;
    if (m >= groups) return;
    uint C = pc.shape.w, hw = pc.shape.y * pc.shape.z, chw = hw * C;
    float inv_g = 1.0 / float(pc.group);
    if (MODE == PG_MODE_FORWARD) {
        float sum = 0.0;
        for (uint e = gl_LocalInvocationID.x; e < chw; e += WG) {
            float mean = 0.0;
            for (uint i = 0; i < pc.group; i++) mean += x[(i * groups + m) * chw + e];
            mean *= inv_g;
            float var = 0.0;
            for (uint i = 0; i < pc.group; i++) {
                float d = x[(i * groups + m) * chw + e] - mean;
                var += d * d;
            }
            sum += sqrt(var * inv_g + pc.eps);
        }
        float s = workgroup_sum(sum) / float(chw);
        for (uint i = 0; i < pc.group; i++) {
            uint n = i * groups + m;
            for (uint e = gl_LocalInvocationID.x; e < hw * (C + 1); e += WG) {
                uint c = e % (C + 1), p = e / (C + 1);
                y[n * hw * (C + 1) + e] = c < C ? x[n * chw + p * C + c] : s;
            }
        }
    } else {
        float sum = 0.0;
        for (uint e = gl_LocalInvocationID.x; e < pc.group * hw; e += WG) {
            uint n = (e / hw) * groups + m, p = e % hw;
            sum += dy[(n * hw + p) * (C + 1) + C];
        }
        float k = workgroup_sum(sum) / float(chw) * inv_g;
        for (uint e = gl_LocalInvocationID.x; e < chw; e += WG) {
            float mean = 0.0;
            for (uint i = 0; i < pc.group; i++) mean += x[(i * groups + m) * chw + e];
            mean *= inv_g;
            float var = 0.0;
            for (uint i = 0; i < pc.group; i++) {
                float d = x[(i * groups + m) * chw + e] - mean;
                var += d * d;
            }
            float inv_sd = inversesqrt(var * inv_g + pc.eps);
            uint p = e / C, c = e % C;
            for (uint i = 0; i < pc.group; i++) {
                uint n = i * groups + m;
                float xv = x[n * chw + e];
                y[n * chw + e] = dy[(n * hw + p) * (C + 1) + c] + k * (xv - mean) * inv_sd;
            }
        }
    }
}
