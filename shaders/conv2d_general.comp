#version 450
// conv2d family for any kernel KH x KW, stride S and zero padding (PY, PX);
// NHWC, HWIO weights w[ky][kx][ci][co], times a constant scale. With
// sy = oy*S + ky - PY and sx = ox*S + kx - PX (taps outside x read zero):
//   MODE 0 forward      y[n,oy,ox,co]   = s * sum_{ky,kx,ci} x[n,sy,sx,ci] w[ky,kx,ci,co]
//   MODE 1 input grad   dx[n,iy,ix,ci]  = s * sum over (oy,ox,ky,kx) with sy = iy, sx = ix
//                                             of sum_co dy[n,oy,ox,co] w[ky,kx,ci,co]
//   MODE 2 weight grad  dw[ky,kx,ci,co] = s * sum_{n,oy,ox} x[n,sy,sx,ci] dy[n,oy,ox,co]
// Bindings: 0 out, 1 first operand (x or dy), 2 second (w, or dy for MODE 2).
// Push: x is [n, h, w, ci], y is [n, ho, wo, co].
// One lane per output row m and TN consecutive output columns; m runs fastest
// across lanes, so the lanes of a workgroup share their column block. The
// general kernel for the shapes the register-blocked conv2d.comp does not
// take (see pg_conv_is_progan_shape): plain loops, fixed summation order.
// MODE 2 sums the pixels [split * chunk, +chunk) of split `split` into
// y[(split * rows + m) * cols + c]; a reduce pass adds the splits.
#extension GL_GOOGLE_include_directive : require
#include "common.glsl"

layout(local_size_x_id = 0) in;
layout(constant_id = 0) const uint WG = 64;
layout(constant_id = 1) const uint MODE = 0;
layout(constant_id = 2) const int KH = 3;
layout(constant_id = 3) const int KW = 3;
layout(constant_id = 4) const int S = 1;
layout(constant_id = 5) const int PY = 1;
layout(constant_id = 6) const int PX = 1;
layout(constant_id = 7) const uint TN = 8;

layout(std430, binding = 0) writeonly buffer Out { float y[]; };
layout(std430, binding = 1) readonly buffer A { float a[]; };
layout(std430, binding = 2) readonly buffer B { float b[]; };

layout(push_constant) uniform Push {
    uint n, h, w, ci, co, ho, wo;
    float scale;
    uint rows;      // output rows: pixels (MODE 0/1) or KH*KW*Ci (MODE 2)
    uint cols;      // output columns: Co (MODE 0, 2) or Ci (MODE 1)
    uint col_tiles; // ceil(cols / TN)
    uint chunk;     // MODE 2: output pixels per split
    uint lanes;     // rows * col_tiles * splits: lanes past it do nothing
} pc;

float acc[TN];
uint colj[TN]; // clamped column indices, so every load stays in bounds

void forward(uint m) {
    int ox = int(m % pc.wo), oy = int((m / pc.wo) % pc.ho);
    uint n = m / (pc.wo * pc.ho);
    for (int ky = 0; ky < KH; ky++) {
        int sy = oy * S + ky - PY;
        if (sy < 0 || sy >= int(pc.h)) continue;
        for (int kx = 0; kx < KW; kx++) {
            int sx = ox * S + kx - PX;
            if (sx < 0 || sx >= int(pc.w)) continue;
            uint src = ((n * pc.h + uint(sy)) * pc.w + uint(sx)) * pc.ci;
            uint tap = uint(ky * KW + kx) * pc.ci * pc.co;
            for (uint c = 0; c < pc.ci; c++) {
                float av = a[src + c];
                uint r = tap + c * pc.co;
                for (uint j = 0; j < TN; j++) acc[j] = fma(av, b[r + colj[j]], acc[j]);
            }
        }
    }
}

void input_grad(uint m) {
    int ix = int(m % pc.w), iy = int((m / pc.w) % pc.h);
    uint n = m / (pc.w * pc.h);
    for (int ky = 0; ky < KH; ky++) {
        int ty = iy + PY - ky; // = oy * S
        if (ty < 0 || ty % S != 0 || ty / S >= int(pc.ho)) continue;
        for (int kx = 0; kx < KW; kx++) {
            int tx = ix + PX - kx;
            if (tx < 0 || tx % S != 0 || tx / S >= int(pc.wo)) continue;
            uint src = ((n * pc.ho + uint(ty / S)) * pc.wo + uint(tx / S)) * pc.co;
            uint tap = uint(ky * KW + kx) * pc.ci * pc.co;
            for (uint k = 0; k < pc.co; k++) {
                float dv = a[src + k];
                for (uint j = 0; j < TN; j++)
                    acc[j] = fma(dv, b[tap + colj[j] * pc.co + k], acc[j]);
            }
        }
    }
}

void weight_grad(uint m, uint split) {
    uint c = m % pc.ci, tap = m / pc.ci;
    int ky = int(tap) / KW, kx = int(tap) % KW;
    uint pixels = pc.n * pc.ho * pc.wo;
    uint p0 = split * pc.chunk, p1 = min(p0 + pc.chunk, pixels);
    for (uint p = p0; p < p1; p++) {
        int ox = int(p % pc.wo), oy = int((p / pc.wo) % pc.ho);
        uint n = p / (pc.wo * pc.ho);
        int sy = oy * S + ky - PY, sx = ox * S + kx - PX;
        if (sy < 0 || sy >= int(pc.h) || sx < 0 || sx >= int(pc.w)) continue;
        float av = a[((n * pc.h + uint(sy)) * pc.w + uint(sx)) * pc.ci + c];
        for (uint j = 0; j < TN; j++) acc[j] = fma(av, b[p * pc.co + colj[j]], acc[j]);
    }
}

void main() {
    uint lane = linear_thread_id(WG);
    if (lane >= pc.lanes) return;
    uint m = lane % pc.rows, rest = lane / pc.rows;
    uint c0 = (rest % pc.col_tiles) * TN, split = rest / pc.col_tiles;
    for (uint j = 0; j < TN; j++) {
        acc[j] = 0.0;
        colj[j] = min(c0 + j, pc.cols - 1);
    }
    if (MODE == 0)
        forward(m);
    else if (MODE == 1)
        input_grad(m);
    else
        weight_grad(m, split);
    for (uint j = 0; j < TN && c0 + j < pc.cols; j++)
        y[(split * pc.rows + m) * pc.cols + c0 + j] = acc[j] * pc.scale;
}
