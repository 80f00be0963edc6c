#version 450
// Bilinear resizing of NHWC tensors as PyTorch's F.interpolate(mode="bilinear",
// align_corners=False) without antialiasing: with scale = in / out (float),
// src = max(scale * (dst + 0.5) - 0.5, 0), i0 = floor(src), i1 = min(i0 + 1,
// in - 1), l1 = src - i0, l0 = 1 - l1, per axis:
//   MODE 0 resize   y[n,oy,ox,c] = sum over the 2x2 taps of ly * lx * x[n,iy,ix,c]
//   MODE 1 adjoint  dx[n,iy,ix,c] = sum over outputs whose taps include (iy, ix)
//                   of ly * lx * dy[n,oy,ox,c]  (gathered: no atomics)
// Bindings: 0 out, 1 in. Push: x (the resize's input) is [n, h, w, c], y [n, ho, wo, c].
#extension GL_GOOGLE_include_directive : require
#include "common.glsl"

layout(local_size_x_id = PG_SPEC_WG) in;
layout(constant_id = PG_SPEC_WG) const uint WG = 128;
layout(constant_id = PG_SPEC_CODE) const uint MODE = 0;

layout(std430, binding = 0) writeonly buffer Out { float y[]; };
layout(std430, binding = 1) readonly buffer In { float a[]; };

layout(push_constant) uniform Push {
    uint n, c, h, w, ho, wo, count;
} pc;

// Taps i0, i1 and weights l0, l1 of output coordinate o along an axis.
void taps(uint o, uint in_size, uint out_size, out int i0, out int i1, out float l0,
          out float l1) {
    float scale = float(in_size) / float(out_size);
    float src = max(scale * (float(o) + 0.5) - 0.5, 0.0);
    i0 = int(src);
    i1 = min(i0 + 1, int(in_size) - 1);
    l1 = src - float(i0);
    l0 = 1.0 - l1;
}

// The weight output o gives input i along an axis (both taps may be i at the edge).
float weight(uint o, int i, uint in_size, uint out_size) {
    int i0, i1;
    float l0, l1;
    taps(o, in_size, out_size, i0, i1, l0, l1);
    return (i0 == i ? l0 : 0.0) + (i1 == i ? l1 : 0.0);
}

// Outputs [lo, hi] along an axis whose taps can reach input i.
void reach(int i, uint in_size, uint out_size, out int lo, out int hi) {
    float inv = float(out_size) / float(in_size);
    lo = max(int(floor((float(i) - 0.5) * inv - 0.5)) - 1, 0);
    hi = min(int(ceil((float(i) + 1.5) * inv - 0.5)) + 1, int(out_size) - 1);
}

void main() {
    uint i = linear_thread_id(WG);
    if (i >= pc.count) return;
    uint ch = i % pc.c, r = i / pc.c;
    uint ow = MODE == PG_MODE_FORWARD ? pc.wo : pc.w, oh = MODE == PG_MODE_FORWARD ? pc.ho : pc.h;
    uint px = r % ow, py = (r / ow) % oh, n = r / (ow * oh);
    if (MODE == PG_MODE_FORWARD) {
        int y0, y1, x0, x1;
        float ly0, ly1, lx0, lx1;
        taps(py, pc.h, pc.ho, y0, y1, ly0, ly1);
        taps(px, pc.w, pc.wo, x0, x1, lx0, lx1);
        uint b = n * pc.h;
        float top = lx0 * a[((b + y0) * pc.w + x0) * pc.c + ch] + lx1 * a[((b + y0) * pc.w + x1) * pc.c + ch];
        float bot = lx0 * a[((b + y1) * pc.w + x0) * pc.c + ch] + lx1 * a[((b + y1) * pc.w + x1) * pc.c + ch];
        y[i] = ly0 * top + ly1 * bot;
        return;
    }
    int ylo, yhi, xlo, xhi;
    reach(int(py), pc.h, pc.ho, ylo, yhi);
    reach(int(px), pc.w, pc.wo, xlo, xhi);
    float s = 0.0;
    for (int oy = ylo; oy <= yhi; oy++) {
        float wy = weight(uint(oy), int(py), pc.h, pc.ho);
        if (wy == 0.0) continue;
        for (int ox = xlo; ox <= xhi; ox++) {
            float wx = weight(uint(ox), int(px), pc.w, pc.wo);
            s += wy * wx * a[((n * pc.ho + uint(oy)) * pc.wo + uint(ox)) * pc.c + ch];
        }
    }
    y[i] = s;
}
