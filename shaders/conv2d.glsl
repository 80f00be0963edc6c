// conv2d family, stride 1, "same" padding (K 3: pad 1, K 1: pad 0), NHWC with
// HWIO weights w[ky][kx][ci][co], times a constant scale (equalized LR):
//   MODE 0 forward      y[n,y,x,co]      = s * sum_{ky,kx,ci} x[n,y+ky-p,x+kx-p,ci] w[ky,kx,ci,co]
//   MODE 1 input grad   dx[n,y,x,ci]     = s * sum_{ky,kx,co} dy[n,y-ky+p,x-kx+p,co] w[ky,kx,ci,co]
//   MODE 2 weight grad  dw[ky,kx,ci,co]  = s * sum_{n,y,x} x[n,y+ky-p,x+kx-p,ci] dy[n,y,x,co]
// Bindings: 0 out, 1 first operand (x or dy), 2 second (w, or dy for MODE 2),
// 3 the operand of the fused epilogue (epilogue.glsl; an input when EPI is 0).
//
// All three are one register-blocked implicit GEMM, out[m, c] = s * sum_r A[m, r] B[r, c]:
//   MODE 0/1: m = pixel (n,y,x), c = output channel, r = (tap, reduction channel);
//   MODE 2:   m = (tap, ci) row of dw, c = co, r = pixel (n,y,x).
// Each invocation owns TM rows (m = tile + lane + t*WG) by TN columns (a block
// of output channels shared by the whole workgroup). The A operand differs per
// lane; the B operand (TN columns) is the same for every lane, so lane l of a
// subgroup loads columns l, l+SGC, ... and subgroupBroadcast hands them to the
// others: per reduction step TM + TN/SGC loads feed TM*TN FMAs. That matters on
// lavapipe, where every non-constant load is a loop over the 8 SIMD lanes while
// a broadcast from a constant lane is one shuffle. SGC must not exceed the
// device's smallest subgroup; SGC 1 turns the sharing off.
// No lane returns early (only whole workgroups past the wrapped grid do, before
// any load) and out-of-range lanes load clamped, valid addresses,
// so every load stays in uniform control flow; only the stores are masked.
// VEC: the reduction channel count (MODE 0/1) or Ci (MODE 2) is a multiple of 4:
// vec4 loads of A, no tail.
// The summation order is fixed, so results are bitwise reproducible.
// Two modules come from this file: conv2d.comp reads its operands from storage
// buffers; conv2d_texel.comp (PG_TEXEL 1) reads bindings 1 and 2 through
// uniform texel buffers, where lavapipe gathers a vector of lanes in one go
// instead of looping over them (README, "Kernel variants"); it runs with SGC 1.
#extension GL_GOOGLE_include_directive : require
#extension GL_KHR_shader_subgroup_ballot : require
#include "common.glsl"

layout(local_size_x_id = PG_SPEC_WG) in;
layout(constant_id = PG_SPEC_WG) const uint WG = 64;
layout(constant_id = PG_SPEC_CODE) const uint MODE = 0;
layout(constant_id = 2) const uint K = 3;
layout(constant_id = 3) const uint TM = 4;
layout(constant_id = 4) const uint TN = 16;  // a multiple of SGC
layout(constant_id = 5) const uint VEC = 0;
layout(constant_id = 6) const uint SGC = 8;  // lanes that share B loads (power of 2, <= 16)
layout(constant_id = 7) const uint EPI = 0;  // fused epilogue: PG_EPI_* bits (one split only)
// BV (texel module, MODE 0/2, cols % 4 == 0): B read as vec4s along the output
// columns, 4 columns per fetch (binding 2 is then an RGBA32F view)
layout(constant_id = 8) const uint BV = 0;

layout(std430, binding = 0) writeonly buffer Out { float y[]; };
// vec4 loads of a: with VEC the reduction channels are a multiple of 4 and
// every tensor starts 16-byte aligned, so one lane-varying load fetches 4
// channels. Of b: MODE 1 with VEC (w[tap][ci][co] is contiguous along the
// reduction, co), or BV. The C side binds RGBA32F views exactly there.
#include "input.glsl"
PG_INPUT(1, a)
PG_INPUT(2, b)
layout(std430, binding = 3) readonly buffer Aux { float epi_aux[]; };

layout(push_constant) uniform Push {
    uint n, h, w, ci, co;
    float scale;
    uint rows;       // M: pixels (MODE 0/1) or K*K*Ci (MODE 2)
    uint cols;       // output channels
    uint col_tiles;  // ceil(cols / TN)
    uint row_tiles;  // ceil(rows / (WG * TM))
    uint chunk;      // MODE 2: pixels per split; split s writes y[s * rows * cols + ...]
    uint groups;     // row_tiles * col_tiles * splits: the grid wraps, extra groups do nothing
    float slope;     // epilogue: leaky ReLU slope
    uint aux_n;      // epilogue: elements of its operand
    uint aux_m, aux_l;  // epilogue: pg_fastdiv pair for aux_n
} pc;

#include "epilogue.glsl"

const int P = int(K) / 2;
const uint NQ = TN / SGC;  // B loads per lane per reduction step

float acc[TM][TN];

// acc[t][q*SGC+J] += dot(av[t], B column J of the loaded block bq)
#define BCAST(v, J) (SGC == 1 ? (v) : subgroupBroadcast((v), J))
#define STEP4(J)                                                                   \
    if (J < SGC) {                                                                 \
        vec4 bj = BCAST(bq, J);                                                    \
        for (uint t = 0; t < TM; t++) {                                            \
            float s = acc[t][q * SGC + J];                                         \
            s = fma(av[t].x, bj.x, s);                                             \
            s = fma(av[t].y, bj.y, s);                                             \
            s = fma(av[t].z, bj.z, s);                                             \
            s = fma(av[t].w, bj.w, s);                                             \
            acc[t][q * SGC + J] = s;                                               \
        }                                                                          \
    }
#define STEP1(J)                                                                   \
    if (J < SGC) {                                                                 \
        float bj = BCAST(bq, J);                                                   \
        for (uint t = 0; t < TM; t++) acc[t][q * SGC + J] = fma(av[t], bj, acc[t][q * SGC + J]); \
    }
#define ALL16(S) S(0) S(1) S(2) S(3) S(4) S(5) S(6) S(7) S(8) S(9) S(10) S(11) S(12) S(13) S(14) S(15)

// BV: acc[t][4*j4 .. 4*j4+3] += x[t] * (4 columns of B from vec4 index at + cb4[j4]);
// the same sums in the same order as STEP4/STEP1
#define BV_STEP(X, AT)                                                             \
    for (uint j4 = 0; j4 < TN / 4; j4++) {                                         \
        vec4 bv = PG_LOAD4(b, (AT) + cb4[j4]);                                              \
        for (uint t = 0; t < TM; t++) {                                            \
            acc[t][4 * j4] = fma(X, bv.x, acc[t][4 * j4]);                         \
            acc[t][4 * j4 + 1] = fma(X, bv.y, acc[t][4 * j4 + 1]);                 \
            acc[t][4 * j4 + 2] = fma(X, bv.z, acc[t][4 * j4 + 2]);                 \
            acc[t][4 * j4 + 3] = fma(X, bv.w, acc[t][4 * j4 + 3]);                 \
        }                                                                          \
    }

// The output row of a lane's accumulator slot t: rows m0 + lane + t * WG, or for
// the vec4 weight gradient 4 consecutive rows per group of 4 slots.
uint row_of(uint m0, uint lane, uint t) {
    if (MODE == PG_CONV_WEIGHT_GRAD && VEC != 0) return m0 + (lane + (t / 4) * WG) * 4 + t % 4;
    return m0 + lane + t * WG;
}

void main() {
    uint group = linear_group_id();
    if (group >= pc.groups) return;  // the whole workgroup: uniform
    uint tiles = pc.row_tiles * pc.col_tiles, split = group / tiles, tile = group % tiles;
    uint c0 = (tile % pc.col_tiles) * TN;
    uint m0 = (tile / pc.col_tiles) * (WG * TM);
    uint lane = gl_LocalInvocationID.x;
    uint sl = SGC == 1 ? 0 : gl_SubgroupInvocationID % SGC;
    for (uint t = 0; t < TM; t++)
        for (uint j = 0; j < TN; j++) acc[t][j] = 0.0;

    if (MODE == PG_CONV_FORWARD || MODE == PG_CONV_INPUT_GRAD) {
        uint cin = MODE == PG_CONV_FORWARD ? pc.ci : pc.co;  // reduction channels
        int px[TM], py[TM];
        uint pn[TM];
        for (uint t = 0; t < TM; t++) {
            uint m = min(m0 + lane + t * WG, pc.rows - 1);
            px[t] = int(m % pc.w);
            py[t] = int((m / pc.w) % pc.h);
            pn[t] = m / (pc.w * pc.h);
        }
        // B offset of one reduction step, and of one output column
        uint bstep = MODE == PG_CONV_FORWARD ? pc.co : 1;
        uint bcol = MODE == PG_CONV_FORWARD ? 1 : pc.co;
        uint cb[NQ];
        for (uint q = 0; q < NQ; q++) cb[q] = min(c0 + q * SGC + sl, pc.cols - 1) * bcol;
        uint cb4[(TN + 3) / 4];
        for (uint j4 = 0; j4 < TN / 4; j4++) cb4[j4] = min(c0 / 4 + j4, pc.cols / 4 - 1);
        for (int ky = 0; ky < int(K); ky++)
            for (int kx = 0; kx < int(K); kx++) {
                uint src[TM];
                bool ok[TM];
                for (uint t = 0; t < TM; t++) {
                    int sy = MODE == PG_CONV_FORWARD ? py[t] + ky - P : py[t] - ky + P;
                    int sx = MODE == PG_CONV_FORWARD ? px[t] + kx - P : px[t] - kx + P;
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
                        av[t] = !ok[t]  ? vec4(0.0)
                                : VEC != 0 ? PG_LOAD4(a, s / 4)
                                           : vec4(PG_LOAD(a, s), PG_LOAD(a, s + 1), PG_LOAD(a, s + 2), PG_LOAD(a, s + 3));
                    }
                    uint r = tap + k * bstep;
                    if (BV != 0) {
                        for (uint kk = 0; kk < 4; kk++) BV_STEP(av[t][kk], (r + kk * pc.co) / 4)
                        continue;
                    }
                    for (uint q = 0; q < NQ; q++) {
                        uint o = r + cb[q];
                        vec4 bq = MODE == PG_CONV_INPUT_GRAD && VEC != 0
                                      ? PG_LOAD4(b, o / 4)
                                      : vec4(PG_LOAD(b, o), PG_LOAD(b, o + bstep), PG_LOAD(b, o + 2 * bstep),
                                             PG_LOAD(b, o + 3 * bstep));
                        ALL16(STEP4)
                    }
                }
                if (VEC == 0)
                    for (; k < cin; k++) {
                        float av[TM];
                        for (uint t = 0; t < TM; t++) av[t] = ok[t] ? PG_LOAD(a, src[t] + k) : 0.0;
                        uint r = tap + k * bstep;
                        if (BV != 0) {
                            BV_STEP(av[t], r / 4)
                            continue;
                        }
                        for (uint q = 0; q < NQ; q++) {
                            float bq = PG_LOAD(b, r + cb[q]);
                            ALL16(STEP1)
                        }
                    }
            }
    } else {
        // rows m = tap * Ci + ci; columns co; reduce over every pixel. With VEC
        // (Ci % 4 == 0, TM % 4 == 0) slot t of a lane is row group t / 4 of 4
        // consecutive channels of one tap (row_of), read as one vec4.
        // A loads per pixel (TM >= 4: only so that no array is empty in MODE 0/1
        // modules; the C side sets VEC in MODE 2 only with TM % 4 == 0)
        const uint TG = VEC != 0 && TM >= 4 ? TM / 4 : TM;
        int oy[TG], ox[TG];
        uint ch[TG];
        for (uint t = 0; t < TG; t++) {
            uint m = min(row_of(m0, lane, VEC != 0 ? 4 * t : t), pc.rows - (VEC != 0 ? 4 : 1));
            ch[t] = m % pc.ci;
            uint tap = m / pc.ci;
            oy[t] = int(tap / K) - P;
            ox[t] = int(tap % K) - P;
        }
        uint cb[NQ];
        for (uint q = 0; q < NQ; q++) cb[q] = min(c0 + q * SGC + sl, pc.cols - 1);
        uint cb4[(TN + 3) / 4];
        for (uint j4 = 0; j4 < TN / 4; j4++) cb4[j4] = min(c0 / 4 + j4, pc.cols / 4 - 1);
        // one flat loop over this split's pixels (a loop nest would count every
        // level against llvmpipe's per-shader loop limit)
        uint p0 = split * pc.chunk, p1 = min(p0 + pc.chunk, pc.n * pc.h * pc.w);
        int xx = int(p0 % pc.w), yy = int((p0 / pc.w) % pc.h);
        uint n = p0 / (pc.w * pc.h);
        for (uint pix = p0; pix < p1; pix++) {
            float av[TM];
            for (uint t = 0; t < TG; t++) {
                int sy = yy + oy[t], sx = xx + ox[t];
                bool ok = sy >= 0 && sy < int(pc.h) && sx >= 0 && sx < int(pc.w);
                sy = clamp(sy, 0, int(pc.h) - 1);
                sx = clamp(sx, 0, int(pc.w) - 1);
                uint s = ((n * pc.h + uint(sy)) * pc.w + uint(sx)) * pc.ci + ch[t];
                if (VEC != 0) {
                    vec4 v = ok ? PG_LOAD4(a, s / 4) : vec4(0.0);
                    av[4 * t] = v.x, av[4 * t + 1] = v.y, av[4 * t + 2] = v.z, av[4 * t + 3] = v.w;
                } else
                    av[t] = ok ? PG_LOAD(a, s) : 0.0;
            }
            uint r = pix * pc.co;
            if (BV != 0) BV_STEP(av[t], r / 4)
            else
            for (uint q = 0; q < NQ; q++) {
                float bq = PG_LOAD(b, r + cb[q]);
                ALL16(STEP1)
            }
            if (++xx == int(pc.w)) {
                xx = 0;
                if (++yy == int(pc.h)) {
                    yy = 0;
                    n++;
                }
            }
        }
    }

    for (uint t = 0; t < TM; t++) {
        uint m = row_of(m0, lane, t);
        if (m < pc.rows)
            for (uint j = 0; j < TN; j++)
                if (c0 + j < pc.cols) {
                    uint o = (split * pc.rows + m) * pc.cols + c0 + j;
                    y[o] = pg_epilogue(acc[t][j], pc.scale, o, pc.slope, pc.aux_n, uvec2(pc.aux_m, pc.aux_l));
                }
    }
}
