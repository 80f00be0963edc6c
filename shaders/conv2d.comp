#version 450
// conv2d family, stride 1, "same" padding (K 3: pad 1, K 1: pad 0), NHWC with
// HWIO weights w[ky][kx][ci][co], times a constant scale (equalized LR):
//   MODE 0 forward      y[n,y,x,co]      = s * sum_{ky,kx,ci} x[n,y+ky-p,x+kx-p,ci] w[ky,kx,ci,co]
//   MODE 1 input grad   dx[n,y,x,ci]     = s * sum_{ky,kx,co} dy[n,y-ky+p,x-kx+p,co] w[ky,kx,ci,co]
//   MODE 2 weight grad  dw[ky,kx,ci,co]  = s * sum_{n,y,x} x[n,y+ky-p,x+kx-p,ci] dy[n,y,x,co]
// Bindings: 0 out, 1 first operand (x or dy), 2 second (w, or dy for MODE 2).
//
// All three are one register-blocked implicit GEMM, out[m, c] = s * sum_r A[m, r] B[r, c]:
//   MODE 0/1: m = pixel (n,y,x), c = output channel, r = (tap, reduction channel);
//   MODE 2:   m = (tap, ci) row of dw, c = co, r = pixel (n,y,x).
// Each invocation owns TM rows (m = tile + lane + t*WG) by TN columns (a block
// of output channels shared by the whole workgroup). The A operand differs per
// lane; the B operand's address depends only on the workgroup and the loop
// counters, so it is uniform: CPU drivers (lavapipe) load it once and
// broadcast it, and the inner loop is TM loads + TN broadcasts + TM*TN FMAs.
// No lane returns early and out-of-range lanes load clamped, valid addresses,
// so every load stays in uniform control flow; only the stores are masked.
// VEC: the reduction channel count is a multiple of 4 (vec4 steps, no tail).
// The summation order is fixed, so results are bitwise reproducible.
#extension GL_GOOGLE_include_directive : require
#include "common.glsl"

layout(local_size_x_id = 0) in;
layout(constant_id = 0) const uint WG = 64;
layout(constant_id = 1) const uint MODE = 0;
layout(constant_id = 2) const uint K = 3;
layout(constant_id = 3) const uint TM = 2;
layout(constant_id = 4) const uint TN = 8;
layout(constant_id = 5) const uint VEC = 0;

layout(std430, binding = 0) writeonly buffer Out { float y[]; };
layout(std430, binding = 1) readonly buffer A { float a[]; };
layout(std430, binding = 2) readonly buffer B { float b[]; };

layout(push_constant) uniform Push {
    uint n, h, w, ci, co;
    float scale;
    uint rows;       // M: pixels (MODE 0/1) or K*K*Ci (MODE 2)
    uint cols;       // output channels
    uint col_tiles;  // ceil(cols / TN)
} pc;

const int P = int(K) / 2;

float acc[TM][TN];

void main() {
    uint group = linear_group_id();
    uint c0 = (group % pc.col_tiles) * TN;
    uint m0 = (group / pc.col_tiles) * (WG * TM);
    uint lane = gl_LocalInvocationID.x;
    for (uint t = 0; t < TM; t++)
        for (uint j = 0; j < TN; j++) acc[t][j] = 0.0;

    if (MODE == 0 || MODE == 1) {
        uint cin = MODE == 0 ? pc.ci : pc.co;  // reduction channels
        int px[TM], py[TM];
        uint pn[TM];
        for (uint t = 0; t < TM; t++) {
            uint m = min(m0 + lane + t * WG, pc.rows - 1);
            px[t] = int(m % pc.w);
            py[t] = int((m / pc.w) % pc.h);
            pn[t] = m / (pc.w * pc.h);
        }
        // B row stride for one reduction step, and the column stride
        uint bstep = MODE == 0 ? pc.co : 1;
        uint bcol = MODE == 0 ? 1 : pc.co;
        uint cc[TN];
        for (uint j = 0; j < TN; j++) cc[j] = min(c0 + j, pc.cols - 1) * bcol;
        for (int ky = 0; ky < int(K); ky++)
            for (int kx = 0; kx < int(K); kx++) {
                uint src[TM];
                bool ok[TM];
                for (uint t = 0; t < TM; t++) {
                    int sy = MODE == 0 ? py[t] + ky - P : py[t] - ky + P;
                    int sx = MODE == 0 ? px[t] + kx - P : px[t] - kx + P;
                    ok[t] = sy >= 0 && sy < int(pc.h) && sx >= 0 && sx < int(pc.w);
                    sy = clamp(sy, 0, int(pc.h) - 1);
                    sx = clamp(sx, 0, int(pc.w) - 1);
                    src[t] = ((pn[t] * pc.h + uint(sy)) * pc.w + uint(sx)) * cin;
                }
                uint tap = uint(ky * int(K) + kx) * pc.ci * pc.co;
                uint k = 0;
                for (; k + 4 <= cin; k += 4) {
                    vec4 av[TM];
                    for (uint t = 0; t < TM; t++) {
                        uint s = src[t] + k;
                        av[t] = vec4(a[s], a[s + 1], a[s + 2], a[s + 3]);
                        if (!ok[t]) av[t] = vec4(0.0);
                    }
                    uint r = tap + k * bstep;
                    for (uint j = 0; j < TN; j++) {
                        uint q = r + cc[j];
                        vec4 bv = vec4(b[q], b[q + bstep], b[q + 2 * bstep], b[q + 3 * bstep]);
                        for (uint t = 0; t < TM; t++) {
                            float s = acc[t][j];
                            s = fma(av[t].x, bv.x, s);
                            s = fma(av[t].y, bv.y, s);
                            s = fma(av[t].z, bv.z, s);
                            s = fma(av[t].w, bv.w, s);
                            acc[t][j] = s;
                        }
                    }
                }
                if (VEC == 0)
                    for (; k < cin; k++) {
                        float av[TM];
                        for (uint t = 0; t < TM; t++) av[t] = ok[t] ? a[src[t] + k] : 0.0;
                        uint r = tap + k * bstep;
                        for (uint j = 0; j < TN; j++) {
                            float bv = b[r + cc[j]];
                            for (uint t = 0; t < TM; t++) acc[t][j] = fma(av[t], bv, acc[t][j]);
                        }
                    }
            }
    } else {
        // rows m = tap * Ci + ci; columns co; reduce over every pixel
        int oy[TM], ox[TM];
        uint ch[TM];
        for (uint t = 0; t < TM; t++) {
            uint m = min(m0 + lane + t * WG, pc.rows - 1);
            ch[t] = m % pc.ci;
            uint tap = m / pc.ci;
            oy[t] = int(tap / K) - P;
            ox[t] = int(tap % K) - P;
        }
        uint cc[TN];
        for (uint j = 0; j < TN; j++) cc[j] = min(c0 + j, pc.cols - 1);
        uint pix = 0;
        for (uint n = 0; n < pc.n; n++)
            for (int yy = 0; yy < int(pc.h); yy++)
                for (int xx = 0; xx < int(pc.w); xx++, pix++) {
                    float av[TM];
                    for (uint t = 0; t < TM; t++) {
                        int sy = yy + oy[t], sx = xx + ox[t];
                        bool ok = sy >= 0 && sy < int(pc.h) && sx >= 0 && sx < int(pc.w);
                        sy = clamp(sy, 0, int(pc.h) - 1);
                        sx = clamp(sx, 0, int(pc.w) - 1);
                        float v = a[((n * pc.h + uint(sy)) * pc.w + uint(sx)) * pc.ci + ch[t]];
                        av[t] = ok ? v : 0.0;
                    }
                    uint r = pix * pc.co;
                    for (uint j = 0; j < TN; j++) {
                        float bv = b[r + cc[j]];
                        for (uint t = 0; t < TM; t++) acc[t][j] = fma(av[t], bv, acc[t][j]);
                    }
                }
    }

    for (uint t = 0; t < TM; t++) {
        uint m = m0 + lane + t * WG;
        if (m < pc.rows)
            for (uint j = 0; j < TN; j++)
                if (c0 + j < pc.cols) y[m * pc.cols + c0 + j] = acc[t][j] * pc.scale;
    }
}
