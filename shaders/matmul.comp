#version 450
// C[m, n] = scale * sum_k op(A)[m, k] op(B)[k, n], row-major; op = transpose when
// the flag is set (A stored [K, M], B stored [N, K]). The host turns the flags
// into strides: the "lane" operand L (op(A), or op(B)^T when SWAP) has element
// (row i, k) at L[i * ls_i + k * ls_k], the "column" operand U has element
// (col j, k) at U[j * us_j + k * us_k], and out[i, j] is C[i * os_i + j * os_j]
// (SWAP computes C^T = op(B)^T op(A)^T so that lanes run along the longer side).
// Register blocking as in conv2d.comp: each invocation owns TM rows by TN
// columns; lanes of a subgroup share the column loads via subgroupBroadcast
// (SGC lanes; 1 = no sharing). Fixed summation order: bitwise reproducible.
#extension GL_GOOGLE_include_directive : require
#extension GL_KHR_shader_subgroup_ballot : require
#include "common.glsl"

layout(local_size_x_id = PG_SPEC_WG) in;
layout(constant_id = PG_SPEC_WG) const uint WG = 64;
layout(constant_id = 1) const uint SWAP = 0;
layout(constant_id = 2) const uint TM = 4;
layout(constant_id = 3) const uint TN = 16;  // a multiple of SGC
layout(constant_id = 4) const uint SGC = 8;
layout(constant_id = 5) const uint EPI = 0;  // fused epilogue: PG_EPI_* bits

layout(std430, binding = 0) writeonly buffer Out { float c[]; };
layout(std430, binding = 1) readonly buffer A { float a[]; };
layout(std430, binding = 2) readonly buffer B { float b[]; };
layout(std430, binding = 3) readonly buffer Aux { float epi_aux[]; };  // EPI != 0

layout(push_constant) uniform Push {
    uint rows, cols, k;
    float scale;
    uint ls_i, ls_k, us_j, us_k, os_i, os_j;
    uint col_tiles;
    uint groups;  // row_tiles * col_tiles: the grid wraps, extra groups do nothing
    float slope;     // epilogue: leaky ReLU slope
    uint aux_n;   // epilogue: elements of its operand
    uint aux_m, aux_l;  // epilogue: pg_fastdiv pair for aux_n
} pc;

#include "epilogue.glsl"

const uint NQ = TN / SGC;

float acc[TM][TN];

#define LOADL(i) (SWAP == 0 ? a[i] : b[i])
#define LOADU(i) (SWAP == 0 ? b[i] : a[i])
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

void main() {
    uint group = linear_group_id();
    if (group >= pc.groups) return;  // the whole workgroup: uniform
    uint c0 = (group % pc.col_tiles) * TN;
    uint m0 = (group / pc.col_tiles) * (WG * TM);
    uint lane = gl_LocalInvocationID.x;
    uint sl = SGC == 1 ? 0 : gl_SubgroupInvocationID % SGC;
    for (uint t = 0; t < TM; t++)
        for (uint j = 0; j < TN; j++) acc[t][j] = 0.0;

    uint src[TM];
    for (uint t = 0; t < TM; t++) src[t] = min(m0 + lane + t * WG, pc.rows - 1) * pc.ls_i;
    uint cb[NQ];
    for (uint q = 0; q < NQ; q++) cb[q] = min(c0 + q * SGC + sl, pc.cols - 1) * pc.us_j;
    uint lk = pc.ls_k, uk = pc.us_k;
    uint kk = 0;
    for (; kk + 4 <= pc.k; kk += 4) {
        vec4 av[TM];
        for (uint t = 0; t < TM; t++) {
            uint s = src[t] + kk * lk;
            av[t] = vec4(LOADL(s), LOADL(s + lk), LOADL(s + 2 * lk), LOADL(s + 3 * lk));
        }
        for (uint q = 0; q < NQ; q++) {
            uint o = cb[q] + kk * uk;
            vec4 bq = vec4(LOADU(o), LOADU(o + uk), LOADU(o + 2 * uk), LOADU(o + 3 * uk));
            ALL16(STEP4)
        }
    }
    for (; kk < pc.k; kk++) {
        float av[TM];
        for (uint t = 0; t < TM; t++) av[t] = LOADL(src[t] + kk * lk);
        for (uint q = 0; q < NQ; q++) {
            float bq = LOADU(cb[q] + kk * uk);
            ALL16(STEP1)
        }
    }

    for (uint t = 0; t < TM; t++) {
        uint m = m0 + lane + t * WG;
        if (m < pc.rows)
            for (uint j = 0; j < TN; j++)
                if (c0 + j < pc.cols) {
                    uint o = m * pc.os_i + (c0 + j) * pc.os_j;
                    c[o] = pg_epilogue(acc[t][j], pc.scale, o, pc.slope, pc.aux_n, uvec2(pc.aux_m, pc.aux_l));
                }
    }
}
