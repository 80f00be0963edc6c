// 2x resampling of NHWC tensors, times a constant scale:
//   MODE 0 nearest upsample  y[n,y,x,c] = s * x[n,y/2,x/2,c]
//   MODE 1 2x2 average pool  y[n,y,x,c] = s * mean of x[n,2y+{0,1},2x+{0,1},c]
// A lane owns one element of the small side (the upsample's input, the pool's
// output) and its 2x2 block of the large side: one load and four stores up,
// four loads and one store down (on lavapipe loads cost ~10x stores). With
// VEC4 (C % 4 == 0) an element is 4 channels, read and written as vec4s (the
// texel module binds an RGBA32F view then). Coordinates come from
// multiply-high divisions (pg_fastdiv): lavapipe divides lane by lane.
#extension GL_GOOGLE_include_directive : require
#include "common.glsl"

layout(local_size_x_id = PG_SPEC_WG) in;
layout(constant_id = PG_SPEC_WG) const uint WG = 128;
layout(constant_id = PG_SPEC_CODE) const uint MODE = 0;
layout(constant_id = 2) const uint VEC4 = 0;

layout(std430, binding = 0) writeonly buffer Out { float y[]; };
layout(std430, binding = 0) writeonly buffer Out4 { vec4 y4[]; };
#include "input.glsl"
PG_INPUT(1, x)

layout(push_constant) uniform Push {
    uvec4 small;   // the small side's N, H, W and channel units (C, or C / 4 with VEC4)
    float scale;
    uint count;    // elements (units) of the small side
    uvec2 div_c, div_w, div_h; // pg_fastdiv pairs for small.w, small.z, small.y
} pc;

// The 2x2 block of unit i on the large side: its top-left unit, the row step.
void block_of(uint i, out uint corner, out uint row) {
    uint r = pg_fastdiv(i, pc.div_c), c = i - r * pc.small.w;
    uint r2 = pg_fastdiv(r, pc.div_w), px = r - r2 * pc.small.z;
    uint n = pg_fastdiv(r2, pc.div_h), py = r2 - n * pc.small.y;
    row = 2 * pc.small.z * pc.small.w;
    corner = ((n * 2 * pc.small.y + 2 * py) * 2 * pc.small.z + 2 * px) * pc.small.w + c;
}

#define RESAMPLE(OUT, LOAD)                                                           \
    if (MODE == PG_RESAMPLE_UP) {                                                     \
        auto_t v = pc.scale * LOAD(x, i);                                             \
        OUT[corner] = v;                                                              \
        OUT[corner + pc.small.w] = v;                                                 \
        OUT[corner + row] = v;                                                        \
        OUT[corner + row + pc.small.w] = v;                                           \
    } else {                                                                          \
        auto_t s = (LOAD(x, corner) + LOAD(x, corner + pc.small.w)) +                 \
                   (LOAD(x, corner + row) + LOAD(x, corner + row + pc.small.w));      \
        OUT[i] = pc.scale * 0.25 * s;                                                 \
    }

void main() {
    uint i = linear_thread_id(WG);
    if (i >= pc.count) return;
    uint corner, row;
    block_of(i, corner, row);
    if (VEC4 != 0) {
#define auto_t vec4
        RESAMPLE(y4, PG_LOAD4)
#undef auto_t
    } else {
#define auto_t float
        RESAMPLE(y, PG_LOAD)
#undef auto_t
    }
}
