// Winograd F(2,3) for 3x3 stride-1 pad-1 convolutions, NHWC, HWIO weights:
//   MODE 0 forward      y[n,y,x,co] = s * sum_{ky,kx,ci} x[n,y+ky-1,x+kx-1,ci] w[ky,kx,ci,co]
//   MODE 1 input grad   dx[n,y,x,ci] = s * sum_{ky,kx,co} dy[n,y+ky-1,x+kx-1,co] w[2-ky,2-kx,ci,co]
// Both are one 3x3 correlation of an input with R reduction channels into C
// output columns, with the filter g[ky][kx][r][c] read from w (flipped and
// transposed for MODE 1). F(2,3) computes a 2x2 output tile from a 4x4 input
// patch d with 16 products per (r, c) instead of 36:
//   Y = A^T [ sum_r (G g G^T) .* (B^T d B) ] A   (Lavin & Gray, 2015)
// Two passes (STAGE), one dispatch each:
//   STAGE 0: U[k][r][c] = (G g G^T)[k] for k = 4 i + j, c < CP (C rounded up
//            to 4; the padding is 0), written to the node's scratch (binding 0).
//   STAGE 1: each lane owns TM tiles (tile m0 + lane + t * WG) by TN columns of
//            its workgroup's column block. Per 4 reduction channels it loads
//            each tile's 4x4 patch (vec4s of 4 channels), transforms it (adds
//            only), and accumulates 16 products per channel and column against
//            U read as vec4s along c, the same for every lane; at the end
//            A^T M A gives the 2x2 outputs, stored through the fused epilogue.
// Channels past R read clamped addresses and multiply a zero patch value, so
// R need not be a multiple of 4; tiles past the image read clamped pixels and
// store nothing. The summation order is fixed: bitwise reproducible.
// Bindings: 0 out (STAGE 0: the scratch U), 1 the input (x or dy), 2 w (STAGE
// 1: the scratch U), 3 the epilogue's operand (epilogue.glsl).
// winograd.comp reads bindings 1 and 2 from storage buffers, winograd_texel.comp
// (PG_TEXEL 1) through uniform texel buffers (one vector gather per load on
// lavapipe; README, "Kernel variants"): R32F views in STAGE 0, in STAGE 1 an
// RGBA32F view of U and of the input where VEC.
#extension GL_GOOGLE_include_directive : require
#include "common.glsl"

layout(local_size_x_id = PG_SPEC_WG) in;
layout(constant_id = PG_SPEC_WG) const uint WG = 64;
layout(constant_id = PG_SPEC_CODE) const uint MODE = 0;
layout(constant_id = 2) const uint STAGE = 1;
layout(constant_id = 3) const uint TM = 1;   // tiles per lane
layout(constant_id = 4) const uint TN = 16;  // columns per lane, a multiple of 4
layout(constant_id = 5) const uint VEC = 0;  // R % 4 == 0: the patch read as vec4s
layout(constant_id = 7) const uint EPI = 0;  // fused epilogue: PG_EPI_* bits

layout(std430, binding = 0) writeonly buffer Out { float y[]; };
#include "input.glsl"
PG_INPUT(1, a)
PG_INPUT(2, b)
layout(std430, binding = 3) readonly buffer Aux { float epi_aux[]; };

layout(push_constant) uniform Push {
    uint n, h, w;
    uint rc;         // R: reduction channels
    uint cols;       // C: output channels
    float scale;
    uint tiles_x;    // ceil(w / 2)
    uint tiles_y;    // ceil(h / 2)
    uint rows;       // tiles: n * tiles_y * tiles_x (STAGE 0: R * CP lanes)
    uint col_tiles;  // ceil(C / TN)
    uint cp;         // C rounded up to 4: U's row length
    uint groups;     // workgroups with work: the grid wraps, extra groups return
    float slope;     // epilogue: leaky ReLU slope
    uint aux_n;      // epilogue: elements of its operand
    uint aux_m, aux_l;  // epilogue: pg_fastdiv pair for aux_n
} pc;

#include "epilogue.glsl"

// STAGE 0 for one (r, c): the filter's 9 taps from w, then G g G^T.
void weight_transform(uint r, uint c) {
    vec3 g[3];
    for (uint ky = 0; ky < 3; ky++)
        for (uint kx = 0; kx < 3; kx++) {
            uint tap = MODE == PG_CONV_FORWARD ? ky * 3 + kx : 8 - (ky * 3 + kx);
            uint cc = min(c, pc.cols - 1);  // padding columns: a valid address, then 0
            uint o = MODE == PG_CONV_FORWARD ? (tap * pc.rc + r) * pc.cols + cc
                                             : (tap * pc.cols + cc) * pc.rc + r;
            g[ky][kx] = c < pc.cols ? PG_LOAD(b, o) : 0.0;
        }
    // G = [1 0 0; .5 .5 .5; .5 -.5 .5; 0 0 1]: rows of G g, then columns
    vec3 t[4] = {g[0], 0.5 * (g[0] + g[1] + g[2]), 0.5 * (g[0] - g[1] + g[2]), g[2]};
    for (uint i = 0; i < 4; i++) {
        vec4 u = vec4(t[i].x, 0.5 * (t[i].x + t[i].y + t[i].z), 0.5 * (t[i].x - t[i].y + t[i].z), t[i].z);
        for (uint j = 0; j < 4; j++) y[((4 * i + j) * pc.rc + r) * pc.cp + c] = u[j];
    }
}

// B^T d B of a 4x4 patch (rows d[0..3], 4 channels per element), in place:
// B^T = [1 0 -1 0; 0 1 1 0; 0 -1 1 0; 0 1 0 -1].
void input_transform(inout vec4 d[16]) {
    for (uint j = 0; j < 4; j++) {  // columns: B^T d
        vec4 d0 = d[j], d1 = d[4 + j], d2 = d[8 + j], d3 = d[12 + j];
        d[j] = d0 - d2, d[4 + j] = d1 + d2, d[8 + j] = d2 - d1, d[12 + j] = d1 - d3;
    }
    for (uint i = 0; i < 4; i++) {  // rows: (B^T d) B
        vec4 d0 = d[4 * i], d1 = d[4 * i + 1], d2 = d[4 * i + 2], d3 = d[4 * i + 3];
        d[4 * i] = d0 - d2, d[4 * i + 1] = d1 + d2, d[4 * i + 2] = d2 - d1, d[4 * i + 3] = d1 - d3;
    }
}

// A^T m A of the 16 accumulated products of 4 columns (m[k], k = 4 i + j):
// the 2x2 outputs o[q] (q = 2 oy + ox), A^T = [1 1 1 0; 0 1 -1 -1].
void output_transform(const vec4 m[16], out vec4 o[4]) {
    vec4 s0[4], s1[4];
    for (uint j = 0; j < 4; j++) s0[j] = m[j] + m[4 + j] + m[8 + j], s1[j] = m[4 + j] - m[8 + j] - m[12 + j];
    o[0] = s0[0] + s0[1] + s0[2], o[1] = s0[1] - s0[2] - s0[3];
    o[2] = s1[0] + s1[1] + s1[2], o[3] = s1[1] - s1[2] - s1[3];
}

vec4 acc[TM][16][TN / 4];  // [tile][k][column / 4]

// Channels r..r+3 of pixel (py, px) of image n, zero outside the image or past R.
vec4 patch_load(uint n, int py, int px, uint r) {
    bool ok = py >= 0 && py < int(pc.h) && px >= 0 && px < int(pc.w);
    uint s = ((n * pc.h + uint(clamp(py, 0, int(pc.h) - 1))) * pc.w + uint(clamp(px, 0, int(pc.w) - 1))) * pc.rc;
    vec4 v;
    if (VEC != 0)
        v = PG_LOAD4(a, (s + r) / 4);
    else
        v = vec4(PG_LOAD(a, s + min(r, pc.rc - 1)), PG_LOAD(a, s + min(r + 1, pc.rc - 1)),
                 PG_LOAD(a, s + min(r + 2, pc.rc - 1)), PG_LOAD(a, s + min(r + 3, pc.rc - 1)));
    bvec4 live = lessThan(uvec4(r) + uvec4(0, 1, 2, 3), uvec4(pc.rc));
    return ok ? mix(vec4(0.0), v, live) : vec4(0.0);
}

// STAGE 1 for columns c0.. of tiles m0 + lane + t * WG.
void tiles(uint m0, uint c0, uint lane) {
    uint img[TM];
    int ty[TM], tx[TM];
    for (uint t = 0; t < TM; t++) {
        uint m = min(m0 + lane + t * WG, pc.rows - 1);
        tx[t] = int(m % pc.tiles_x) * 2 - 1;
        ty[t] = int((m / pc.tiles_x) % pc.tiles_y) * 2 - 1;
        img[t] = m / (pc.tiles_x * pc.tiles_y);
        for (uint k = 0; k < 16; k++)
            for (uint j4 = 0; j4 < TN / 4; j4++) acc[t][k][j4] = vec4(0.0);
    }
    uint cq = pc.cp / 4;  // U's vec4s per (k, r)
    for (uint r = 0; r < pc.rc; r += 4) {
        for (uint t = 0; t < TM; t++) {
            vec4 d[16];
            for (uint i = 0; i < 4; i++)
                for (uint j = 0; j < 4; j++) d[4 * i + j] = patch_load(img[t], ty[t] + int(i), tx[t] + int(j), r);
            input_transform(d);
            for (uint k = 0; k < 16; k++)
                for (uint kk = 0; kk < 4; kk++) {
                    uint row = (k * pc.rc + min(r + kk, pc.rc - 1)) * cq;
                    for (uint j4 = 0; j4 < TN / 4; j4++) {
                        vec4 u = PG_LOAD4(b, row + min(c0 / 4 + j4, cq - 1));
                        acc[t][k][j4] = fma(vec4(d[k][kk]), u, acc[t][k][j4]);
                    }
                }
        }
    }
}

void main() {
    if (STAGE == 0) {
        uint i = linear_thread_id(WG);
        if (i < pc.rows) weight_transform(i / pc.cp, i % pc.cp);
        return;
    }
    uint group = linear_group_id();
    if (group >= pc.groups) return;  // the whole workgroup: uniform
    uint c0 = (group % pc.col_tiles) * TN, m0 = (group / pc.col_tiles) * (WG * TM);
    uint lane = gl_LocalInvocationID.x;
    tiles(m0, c0, lane);
    for (uint t = 0; t < TM; t++) {
        uint m = m0 + lane + t * WG;
        uint ox = (m % pc.tiles_x) * 2, oy = ((m / pc.tiles_x) % pc.tiles_y) * 2;
        uint n = m / (pc.tiles_x * pc.tiles_y);
        for (uint j4 = 0; j4 < TN / 4; j4++) {
            vec4 mk[16], o[4];
            for (uint k = 0; k < 16; k++) mk[k] = acc[t][k][j4];
            output_transform(mk, o);
            for (uint q = 0; q < 4; q++)
                for (uint jj = 0; jj < 4; jj++) {
                    uint yy = oy + q / 2, xx = ox + q % 2, c = c0 + 4 * j4 + jj;
                    if (m < pc.rows && c < pc.cols && yy < pc.h && xx < pc.w) {
                        uint at = ((n * pc.h + yy) * pc.w + xx) * pc.cols + c;
                        y[at] = pg_epilogue(o[q][jj], pc.scale, at, pc.slope, pc.aux_n, uvec2(pc.aux_m, pc.aux_l));
                    }
                }
        }
    }
}
