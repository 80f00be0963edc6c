#version 450
// GPU-class implicit GEMM for the conv family and matmul (src/graph/op_gemm.c
// chooses it): out[m, n] = s * sum_k A[m, k] B[k, n], one BM x BN block per
// workgroup staged through shared memory, TM x TN outputs per invocation.
//   MODE 0 conv forward   m = pixel (n,y,x), n = co, k = (tap, ci): A = x shifted, B = w[k, co]
//   MODE 1 input grad     m = pixel, n = ci, k = (tap, co): A = dy shifted back, B = w[tap, ci, co]
//   MODE 2 weight grad    m = (tap, ci), n = co, k = pixel: A = x shifted, B = dy[pixel, co]
//   MODE 3 matmul         A[m, k] = a[m*sam + k*sak], B[k, n] = b[k*sbk + n*sbn]
// Conv geometry is ProGAN's (stride 1, KS 3 pad 1 or KS 1); NHWC, HWIO weights.
// Loads are cooperative and coalesced: consecutive lanes take consecutive
// elements along each operand's contiguous axis (A_KFAST, B_NFAST) into padded
// k-major tiles As[BK][BM+1], Bs[BK][BN+1]; the next K step is fetched into
// registers while the current one is multiplied (register-prefetch double
// buffering). An invocation owns rows tr + i*(BM/TM) and columns tc + j*(BN/TN),
// so the shared reads of a subgroup hit distinct banks or broadcast.
// Split-K: workgroup z-slice `split` sums k in [split*kchunk, +kchunk) and
// writes out[split*M*N + m*N + n]; a fixed-order second pass adds the slices
// (deterministic). Loops over BK/TM/TN are unrolled; the K loop runs
// kchunk/BK trips (the host keeps that below PG_MAX_LOOP_TRIPS).
// Extra workgroups of a wrapped 2-D grid return before any barrier.
#extension GL_GOOGLE_include_directive : require
#extension GL_EXT_control_flow_attributes : require
#include "common.glsl"

layout(local_size_x_id = 0) in;
layout(constant_id = 0) const uint WG = 256;   // (BM/TM) * (BN/TN)
layout(constant_id = 1) const uint FLAGS = 0;  // MODE | A_KFAST << 2 | B_NFAST << 3 | KS << 4
layout(constant_id = 2) const uint BM = 64;
layout(constant_id = 3) const uint BN = 64;
layout(constant_id = 4) const uint BK = 16;
layout(constant_id = 5) const uint TM = 4;
layout(constant_id = 6) const uint TN = 4;
layout(constant_id = 7) const uint EPI = 0;    // fused epilogue: PG_EPI_* bits (one split only)

const uint MODE = FLAGS & 3u;
const bool A_KFAST = (FLAGS & 4u) != 0u;
const bool B_NFAST = (FLAGS & 8u) != 0u;
const uint KS = FLAGS >> 4;
const int P = int(KS) / 2;
const uint LA = BM * BK / WG;  // A elements each invocation loads per K step
const uint LB = BN * BK / WG;
const uint SA = BM + 1;        // padded row lengths of the shared tiles
const uint SB = BN + 1;

layout(std430, binding = 0) writeonly buffer Out { float y[]; };
layout(std430, binding = 1) readonly buffer A { float a[]; };
layout(std430, binding = 2) readonly buffer B { float b[]; };
layout(std430, binding = 3) readonly buffer Aux { float epi_aux[]; };  // EPI != 0

layout(push_constant) uniform Push {
    uint n, h, w, ci, co;  // conv: x [n,h,w,ci], y [n,h,w,co]
    float scale;
    uint M, N, K;
    uint kchunk;           // k per split (a multiple of BK unless one split)
    uint m_tiles, n_tiles, splits;
    uint sam, sak, sbk, sbn;  // matmul strides
    float slope;              // epilogue: leaky ReLU slope
    uint aux_n;            // epilogue: elements of its operand
    uint aux_m, aux_l;  // epilogue: pg_fastdiv pair for aux_n
} pc;

#include "epilogue.glsl"

shared float As[BK * SA];
shared float Bs[BK * SB];

// x (MODE 0/2) or dy (MODE 1) at pixel (nn, yy, xx) shifted by tap, channel c; 0 outside.
float conv_tap(uint pix, uint tap, uint c, uint chans, int dir) {
    int xx = int(pix % pc.w), yy = int((pix / pc.w) % pc.h);
    uint nn = pix / (pc.w * pc.h);
    int sy = yy + dir * (int(tap / KS) - P), sx = xx + dir * (int(tap % KS) - P);
    if (sy < 0 || sy >= int(pc.h) || sx < 0 || sx >= int(pc.w)) return 0.0;
    return a[((nn * pc.h + uint(sy)) * pc.w + uint(sx)) * chans + c];
}

float load_a(uint m, uint k, uint kend) {
    if (m >= pc.M || k >= kend) return 0.0;
    if (MODE == 0) return conv_tap(m, k / pc.ci, k % pc.ci, pc.ci, 1);
    if (MODE == 1) return conv_tap(m, k / pc.co, k % pc.co, pc.co, -1);
    if (MODE == 2) return conv_tap(k, m / pc.ci, m % pc.ci, pc.ci, 1);
    return a[m * pc.sam + k * pc.sak];
}

float load_b(uint k, uint n, uint kend) {
    if (n >= pc.N || k >= kend) return 0.0;
    if (MODE == 0 || MODE == 2) return b[k * pc.co + n];
    if (MODE == 1) return b[((k / pc.co) * pc.ci + n) * pc.co + k % pc.co];
    return b[k * pc.sbk + n * pc.sbn];
}

// Row (m) and step (k) offsets inside the block of load slot i of this lane.
uvec2 a_slot(uint i) {
    uint e = i * WG + gl_LocalInvocationID.x;
    return A_KFAST ? uvec2(e / BK, e % BK) : uvec2(e % BM, e / BM);
}
uvec2 b_slot(uint i) {
    uint e = i * WG + gl_LocalInvocationID.x;
    return B_NFAST ? uvec2(e % BN, e / BN) : uvec2(e / BK, e % BK);
}

float ra[LA], rb[LB];

void fetch(uint m0, uint n0, uint k0, uint kend) {
    [[unroll]] for (uint i = 0; i < LA; i++) {
        uvec2 s = a_slot(i);
        ra[i] = load_a(m0 + s.x, k0 + s.y, kend);
    }
    [[unroll]] for (uint i = 0; i < LB; i++) {
        uvec2 s = b_slot(i);
        rb[i] = load_b(k0 + s.y, n0 + s.x, kend);
    }
}

void stash() {
    [[unroll]] for (uint i = 0; i < LA; i++) {
        uvec2 s = a_slot(i);
        As[s.y * SA + s.x] = ra[i];
    }
    [[unroll]] for (uint i = 0; i < LB; i++) {
        uvec2 s = b_slot(i);
        Bs[s.y * SB + s.x] = rb[i];
    }
}

void main() {
    uint group = linear_group_id(), tiles = pc.m_tiles * pc.n_tiles;
    if (group >= tiles * pc.splits) return;
    uint split = group / tiles, tile = group % tiles;
    uint m0 = (tile / pc.n_tiles) * BM, n0 = (tile % pc.n_tiles) * BN;
    uint kbeg = split * pc.kchunk, kend = min(kbeg + pc.kchunk, pc.K);
    uint lane = gl_LocalInvocationID.x, tr = lane / (BN / TN), tc = lane % (BN / TN);
    float acc[TM * TN];
    [[unroll]] for (uint i = 0; i < TM * TN; i++) acc[i] = 0.0;

    fetch(m0, n0, kbeg, kend);
    for (uint k0 = kbeg; k0 < kend; k0 += BK) {
        barrier();
        stash();
        barrier();
        if (k0 + BK < kend) fetch(m0, n0, k0 + BK, kend);
        [[unroll]] for (uint kk = 0; kk < BK; kk++) {
            float av[TM], bv[TN];
            [[unroll]] for (uint i = 0; i < TM; i++) av[i] = As[kk * SA + tr + i * (BM / TM)];
            [[unroll]] for (uint j = 0; j < TN; j++) bv[j] = Bs[kk * SB + tc + j * (BN / TN)];
            [[unroll]] for (uint i = 0; i < TM; i++)
                [[unroll]] for (uint j = 0; j < TN; j++) acc[i * TN + j] = fma(av[i], bv[j], acc[i * TN + j]);
        }
    }

    [[unroll]] for (uint i = 0; i < TM; i++) {
        uint m = m0 + tr + i * (BM / TM);
        [[unroll]] for (uint j = 0; j < TN; j++) {
            uint n = n0 + tc + j * (BN / TN);
            uint o = (split * pc.M + m) * pc.N + n;
            if (m < pc.M && n < pc.N) y[o] = pg_epilogue(acc[i * TN + j], pc.scale, o, pc.slope, pc.aux_n, uvec2(pc.aux_m, pc.aux_l));
        }
    }
}
