#version 450
// Sum over a set of axes (kept as size 1) times a scale, in chunks: workgroup
// g handles output o = g % out_count over reduced elements
// [s * chunk, (s + 1) * chunk), s = g / out_count, and writes y[s * out_count + o]
// with a fixed-order tree in shared memory (deterministic). One chunk is the
// whole reduction; several leave partial sums that a second pass of this
// shader adds up (see PG_MAX_LOOP_TRIPS in src/graph/ops.h).
// in [N,H,W,C] contiguous; out has 1 on the reduced axes.
#extension GL_GOOGLE_include_directive : require
#include "common.glsl"

layout(local_size_x = 128) in;

layout(std430, binding = 0) writeonly buffer Out { float y[]; };
layout(std430, binding = 1) readonly buffer In { float x[]; };

layout(push_constant) uniform Push {
    uvec4 shape;   // input N, H, W, C
    uint axes;     // bit i: reduce axis i
    float scale;
    uint out_count;
    uint chunk;    // reduced elements per workgroup
    uint splits;   // workgroups per output
} pc;

shared float partial[128];

void main() {
    uint g = linear_group_id();
    if (g >= pc.out_count * pc.splits) return;
    uint o = g % pc.out_count, split = g / pc.out_count;
    uint dims[4] = uint[4](pc.shape.x, pc.shape.y, pc.shape.z, pc.shape.w);
    uint kept[4], stride[4];
    uint reduced_count = 1, rest = o;
    stride[3] = 1;
    for (int i = 2; i >= 0; i--) stride[i] = stride[i + 1] * dims[i + 1];
    for (int i = 3; i >= 0; i--) {
        bool r = (pc.axes & (1u << i)) != 0;
        uint extent = r ? 1 : dims[i];
        kept[i] = rest % extent;
        rest /= extent;
        if (r) reduced_count *= dims[i];
    }
    uint base = kept[0] * stride[0] + kept[1] * stride[1] + kept[2] * stride[2] + kept[3] * stride[3];
    uint begin = split * pc.chunk, end = min(begin + pc.chunk, reduced_count);
    float sum = 0.0;
    for (uint j = begin + gl_LocalInvocationID.x; j < end; j += 128) {
        uint off = base, q = j;
        for (int i = 3; i >= 0; i--) {
            if ((pc.axes & (1u << i)) == 0) continue;
            off += (q % dims[i]) * stride[i];
            q /= dims[i];
        }
        sum += x[off];
    }
    partial[gl_LocalInvocationID.x] = sum;
    barrier();
    for (uint width = 64; width > 0; width >>= 1) {
        if (gl_LocalInvocationID.x < width)
            partial[gl_LocalInvocationID.x] += partial[gl_LocalInvocationID.x + width];
        barrier();
    }
    if (gl_LocalInvocationID.x == 0) y[split * pc.out_count + o] = partial[0] * pc.scale;
}
