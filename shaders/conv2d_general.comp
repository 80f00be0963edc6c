#version 450
// conv2d family for any kernel KH x KW, stride S and zero padding (PY, PX);
// NHWC, HWIO weights w[ky][kx][ci][co], times a constant scale. With
// sy = oy*S + ky - PY and sx = ox*S + kx - PX (taps outside x read zero):
//   MODE 0 forward      y[n,oy,ox,co]   = s * sum_{ky,kx,ci} x[n,sy,sx,ci] w[ky,kx,ci,co]
//   MODE 1 input grad   dx[n,iy,ix,ci]  = s * sum over (oy,ox,ky,kx) with sy = iy, sx = ix
//                                             of sum_co dy[n,oy,ox,co] w[ky,kx,ci,co]
//   MODE 2 weight grad  dw[ky,kx,ci,co] = s * sum_{n,oy,ox} x[n,sy,sx,ci] dy[n,oy,ox,co]
// Bindings: 0 out, 1 first operand (x or dy), 2 second (w, or dy for MODE 2),
// 3 the operand of the fused epilogue (epilogue.glsl; an input when EPI is 0).
// Push: x is [n, h, w, ci], y is [n, ho, wo, co].
//
// The general kernel for the shapes the register-blocked conv2d.comp does not
// take (see pg_conv_is_progan_shape). An implicit GEMM out[m, c] = sum_r A B
// register-blocked without subgroup operations: each lane owns TM rows
// (m = tile + lane + t*WG) by TN columns (a block shared by the workgroup),
// so one reduction step loads TM + TN values for TM*TN FMAs. Out-of-range rows
// load clamped, valid addresses; only the stores are masked. Fixed summation
// order. MODE 2 sums the output pixels [split * chunk, +chunk) of split
// `split` into y[(split * rows + m) * cols + c]; a reduce pass adds the splits.
#extension GL_GOOGLE_include_directive : require
#include "common.glsl"

layout(local_size_x_id = PG_SPEC_WG) in;
layout(constant_id = PG_SPEC_WG) const uint WG = 64;
layout(constant_id = PG_SPEC_CODE) const uint MODE = 0;
layout(constant_id = 2) const int KH = 3;
layout(constant_id = 3) const int KW = 3;
layout(constant_id = 4) const uint TM = 4;
layout(constant_id = 5) const uint TN = 8;
layout(constant_id = 6) const uint EPI = 0;  // fused epilogue: PG_EPI_* bits (one split only)

layout(std430, binding = 0) writeonly buffer Out { float y[]; };
layout(std430, binding = 1) readonly buffer A { float a[]; };
layout(std430, binding = 2) readonly buffer B { float b[]; };
layout(std430, binding = 3) readonly buffer Aux { float epi_aux[]; };

layout(push_constant) uniform Push {
    uint n, h, w, ci, co, ho, wo;
    float scale;
    uint rows;      // output rows: pixels (MODE 0/1) or KH*KW*Ci (MODE 2)
    uint cols;      // output columns: Co (MODE 0, 2) or Ci (MODE 1)
    uint col_tiles; // ceil(cols / TN)
    uint row_tiles; // ceil(rows / (WG * TM))
    uint chunk;     // MODE 2: output pixels per split
    uint groups;    // workgroups with work: later ones (grid wrap) return
    int s, py, px;  // stride, padding
    float slope;    // epilogue: leaky ReLU slope
    uint aux_n;  // epilogue: elements of its operand
    uint aux_m, aux_l;  // epilogue: pg_fastdiv pair for aux_n
} pc;

#include "epilogue.glsl"

float acc[TM][TN];
uint colj[TN]; // clamped column indices, so every load stays in bounds

// Adds one reduction step: av[t] times the TN values of b at r + colj[j] * step.
void step_tn(float av[TM], uint r, uint step) {
    for (uint j = 0; j < TN; j++) {
        float bv = b[r + colj[j] * step];
        for (uint t = 0; t < TM; t++) acc[t][j] = fma(av[t], bv, acc[t][j]);
    }
}

// MODE 0 and 1: rows are pixels; a tap's source pixel per row, or ok = false.
void pixel_rows(uint m0, uint lane) {
    bool grad = MODE == PG_CONV_INPUT_GRAD;
    uint rw = grad ? pc.w : pc.wo, rh = grad ? pc.h : pc.ho;  // the rows' grid
    uint sw = grad ? pc.wo : pc.w, sh = grad ? pc.ho : pc.h;  // the source grid
    uint red = grad ? pc.co : pc.ci;                          // channels summed per tap
    int px[TM], py[TM];
    uint pn[TM];
    for (uint t = 0; t < TM; t++) {
        uint m = min(m0 + lane + t * WG, pc.rows - 1);
        px[t] = int(m % rw);
        py[t] = int((m / rw) % rh);
        pn[t] = m / (rw * rh);
    }
    for (int ky = 0; ky < KH; ky++)
        for (int kx = 0; kx < KW; kx++) {
            uint src[TM];
            bool ok[TM];
            for (uint t = 0; t < TM; t++) {
                int sy, sx;
                if (grad) {  // oy = (iy + py - ky) / s when it divides
                    int ty = py[t] + pc.py - ky, tx = px[t] + pc.px - kx;
                    ok[t] = ty >= 0 && tx >= 0 && ty % pc.s == 0 && tx % pc.s == 0;
                    sy = ty / pc.s;
                    sx = tx / pc.s;
                } else {
                    sy = py[t] * pc.s + ky - pc.py;
                    sx = px[t] * pc.s + kx - pc.px;
                    ok[t] = sy >= 0 && sx >= 0;
                }
                ok[t] = ok[t] && sy < int(sh) && sx < int(sw);
                sy = clamp(sy, 0, int(sh) - 1);
                sx = clamp(sx, 0, int(sw) - 1);
                src[t] = ((pn[t] * sh + uint(sy)) * sw + uint(sx)) * red;
            }
            uint tap = uint(ky * KW + kx) * pc.ci * pc.co;
            for (uint k = 0; k < red; k++) {
                float av[TM];
                for (uint t = 0; t < TM; t++) av[t] = ok[t] ? a[src[t] + k] : 0.0;
                // forward: w[tap][k][col]; input grad: w[tap][col][k]
                if (grad)
                    step_tn(av, tap + k, pc.co);
                else
                    step_tn(av, tap + k * pc.co, 1);
            }
        }
}

// MODE 2: rows are (tap, ci) of dw; the reduction runs over output pixels.
void weight_rows(uint m0, uint lane, uint split) {
    int oyk[TM], oxk[TM];
    uint ch[TM];
    for (uint t = 0; t < TM; t++) {
        uint m = min(m0 + lane + t * WG, pc.rows - 1);
        ch[t] = m % pc.ci;
        uint tap = m / pc.ci;
        oyk[t] = int(tap) / KW - pc.py;
        oxk[t] = int(tap) % KW - pc.px;
    }
    uint pixels = pc.n * pc.ho * pc.wo;
    uint p0 = split * pc.chunk, p1 = min(p0 + pc.chunk, pixels);
    for (uint p = p0; p < p1; p++) {
        int ox = int(p % pc.wo), oy = int((p / pc.wo) % pc.ho);
        uint n = p / (pc.wo * pc.ho);
        float av[TM];
        for (uint t = 0; t < TM; t++) {
            int sy = oy * pc.s + oyk[t], sx = ox * pc.s + oxk[t];
            bool ok = sy >= 0 && sy < int(pc.h) && sx >= 0 && sx < int(pc.w);
            sy = clamp(sy, 0, int(pc.h) - 1);
            sx = clamp(sx, 0, int(pc.w) - 1);
            av[t] = ok ? a[((n * pc.h + uint(sy)) * pc.w + uint(sx)) * pc.ci + ch[t]] : 0.0;
        }
        step_tn(av, p * pc.co, 1);
    }
}

void main() {
    uint group = linear_group_id();
    if (group >= pc.groups) return;
    uint tiles = pc.row_tiles * pc.col_tiles, split = group / tiles, tile = group % tiles;
    uint c0 = (tile % pc.col_tiles) * TN;
    uint m0 = (tile / pc.col_tiles) * (WG * TM);
    uint lane = gl_LocalInvocationID.x;
    for (uint j = 0; j < TN; j++) {
        colj[j] = min(c0 + j, pc.cols - 1);
        for (uint t = 0; t < TM; t++) acc[t][j] = 0.0;
    }
    if (MODE == PG_CONV_WEIGHT_GRAD)
        weight_rows(m0, lane, split);
    else
        pixel_rows(m0, lane);
    for (uint t = 0; t < TM; t++) {
        uint m = m0 + lane + t * WG;
        if (m < pc.rows)
            for (uint j = 0; j < TN; j++)
                if (c0 + j < pc.cols) {
                    uint o = (split * pc.rows + m) * pc.cols + c0 + j;
                    y[o] = pg_epilogue(acc[t][j], pc.scale, o, pc.slope, pc.aux_n, uvec2(pc.aux_m, pc.aux_l));
                }
    }
}
