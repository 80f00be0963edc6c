#version 450
// conv2d family, stride 1, "same" padding (K 3: pad 1, K 1: pad 0), NHWC with
// HWIO weights w[ky][kx][ci][co], times a constant scale (equalized LR):
//   MODE 0 forward      y[n,y,x,co]      = s * sum_{ky,kx,ci} x[n,y+ky-p,x+kx-p,ci] w[ky,kx,ci,co]
//   MODE 1 input grad   dx[n,y,x,ci]     = s * sum_{ky,kx,co} dy[n,y-ky+p,x-kx+p,co] w[ky,kx,ci,co]
//   MODE 2 weight grad  dw[ky,kx,ci,co]  = s * sum_{n,y,x} x[n,y+ky-p,x+kx-p,ci] dy[n,y,x,co]
// Bindings: 0 out, 1 first operand (x or dy), 2 second (w, or dy for MODE 2).
#extension GL_GOOGLE_include_directive : require
#include "common.glsl"

layout(local_size_x = 64) in;
layout(constant_id = 0) const uint MODE = 0;
layout(constant_id = 1) const uint K = 3;

layout(std430, binding = 0) writeonly buffer Out { float y[]; };
layout(std430, binding = 1) readonly buffer A { float a[]; };
layout(std430, binding = 2) readonly buffer B { float b[]; };

layout(push_constant) uniform Push {
    uint n, h, w, ci, co;
    float scale;
    uint count;
} pc;

const int P = int(K) / 2;

void main() {
    uint i = linear_thread_id(64);
    if (i >= pc.count) return;
    float acc = 0.0;
    if (MODE == 0 || MODE == 1) {
        uint cin = MODE == 0 ? pc.ci : pc.co;   // channels of the operand read
        uint cout = MODE == 0 ? pc.co : pc.ci;  // channels of the output
        uint c = i % cout, pix = i / cout;
        int x = int(pix % pc.w), yy = int((pix / pc.w) % pc.h);
        uint n = pix / (pc.w * pc.h);
        for (int ky = 0; ky < int(K); ky++) {
            int sy = MODE == 0 ? yy + ky - P : yy - ky + P;
            if (sy < 0 || sy >= int(pc.h)) continue;
            for (int kx = 0; kx < int(K); kx++) {
                int sx = MODE == 0 ? x + kx - P : x - kx + P;
                if (sx < 0 || sx >= int(pc.w)) continue;
                uint src = ((n * pc.h + uint(sy)) * pc.w + uint(sx)) * cin;
                uint tap = uint(ky * int(K) + kx) * pc.ci * pc.co;
                if (MODE == 0)
                    for (uint k = 0; k < cin; k++) acc += a[src + k] * b[tap + k * pc.co + c];
                else
                    for (uint k = 0; k < cin; k++) acc += a[src + k] * b[tap + c * pc.co + k];
            }
        }
    } else {
        uint co = i % pc.co, r = i / pc.co;
        uint ci = r % pc.ci, tap = r / pc.ci;
        int ky = int(tap) / int(K), kx = int(tap) % int(K);
        for (uint n = 0; n < pc.n; n++)
            for (int yy = 0; yy < int(pc.h); yy++) {
                int sy = yy + ky - P;
                if (sy < 0 || sy >= int(pc.h)) continue;
                for (int x = 0; x < int(pc.w); x++) {
                    int sx = x + kx - P;
                    if (sx < 0 || sx >= int(pc.w)) continue;
                    acc += a[((n * pc.h + uint(sy)) * pc.w + uint(sx)) * pc.ci + ci] *
                           b[((n * pc.h + uint(yy)) * pc.w + uint(x)) * pc.co + co];
                }
            }
    }
    y[i] = acc * pc.scale;
}
