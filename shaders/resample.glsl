// 2x resampling of NHWC tensors, times a constant scale:
//   MODE 0 nearest upsample  y[n,y,x,c] = s * x[n,y/2,x/2,c]
//   MODE 1 2x2 average pool  y[n,y,x,c] = s * mean of x[n,2y+{0,1},2x+{0,1},c]
#extension GL_GOOGLE_include_directive : require
#include "common.glsl"

layout(local_size_x_id = PG_SPEC_WG) in;
layout(constant_id = PG_SPEC_WG) const uint WG = 128;
layout(constant_id = PG_SPEC_CODE) const uint MODE = 0;

layout(std430, binding = 0) writeonly buffer Out { float y[]; };
#include "input.glsl"
PG_INPUT(1, x)

layout(push_constant) uniform Push {
    uvec4 shape; // output N, H, W, C
    float scale;
    uint count;
} pc;

void main() {
    uint i = linear_thread_id(WG);
    if (i >= pc.count) return;
    uint c = i % pc.shape.w, r = i / pc.shape.w;
    uint ox = r % pc.shape.z; r /= pc.shape.z;
    uint oy = r % pc.shape.y, n = r / pc.shape.y;
    if (MODE == PG_RESAMPLE_UP) {
        uint ih = pc.shape.y / 2, iw = pc.shape.z / 2;
        y[i] = pc.scale * PG_LOAD(x, ((n * ih + oy / 2) * iw + ox / 2) * pc.shape.w + c);
    } else {
        uint ih = pc.shape.y * 2, iw = pc.shape.z * 2;
        uint base = ((n * ih + 2 * oy) * iw + 2 * ox) * pc.shape.w + c;
        uint row = iw * pc.shape.w;
        float s = (PG_LOAD(x, base) + PG_LOAD(x, base + pc.shape.w)) + (PG_LOAD(x, base + row) + PG_LOAD(x, base + row + pc.shape.w));
        y[i] = pc.scale * 0.25 * s;
    }
}
