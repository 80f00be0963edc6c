// Sum over a set of axes (kept as size 1) times a scale, in chunks: output o,
// split s covers reduced elements [s * chunk, (s + 1) * chunk) and writes
// y[s * out_count + o]. One chunk is the whole reduction; several leave partial
// sums that a second pass of this shader adds up (PG_MAX_LOOP_TRIPS in
// src/graph/ops.h says why). The order of every sum is fixed (deterministic).
//   MODE 0 tree:    one workgroup per (o, s), lanes stride the chunk, then a
//                   shared-memory tree (few outputs, long reductions);
//   MODE 1 columns: one lane per (o, s), a flat loop over its chunk with the
//                   reduced index carried digit by digit, no barriers (many
//                   outputs: bias gradients, second passes; on CPU devices
//                   from 4 outputs, as lavapipe's barriers cost).
// in [N,H,W,C] contiguous; out has 1 on the reduced axes. A one-split pass
// (a reduce_sum, or the second pass of a split kernel) may carry the fused
// epilogue of its node (epilogue.glsl: EPI, operand at binding 2).
// Two modules come from this file: reduce.comp reads x from a storage buffer,
// reduce_texel.comp (PG_TEXEL 1) through a uniform texel buffer (R32F, or
// RGBA32F with VEC4), a vector gather on lavapipe instead of a loop over the lanes.
#extension GL_GOOGLE_include_directive : require
#include "common.glsl"

layout(local_size_x_id = PG_SPEC_WG) in;
layout(constant_id = PG_SPEC_WG) const uint WG = 128; // a power of 2 (tree sums)
layout(constant_id = PG_SPEC_CODE) const uint MODE = 0;
layout(constant_id = 2) const uint EPI = 0;  // fused epilogue: PG_EPI_* bits (one split only)
// Where reduced element j of output o lies, when the C side sees a simple form
// (axes of extent 1 ignored): 1 the reduced axes lead (j * out_count + o: bias
// gradients, second passes), 2 they trail (o * reduced_count + j: per-pixel and
// per-sample sums), 0 anything else (digits over the reduced axes).
layout(constant_id = 3) const uint LAYOUT = 0;
// VEC4 (columns mode, LAYOUT 1, out_count % 4 == 0): a lane sums 4 adjacent
// outputs as vec4s, one load per step instead of four (the texel module binds
// an RGBA32F view then); the sums are those of the scalar lanes, bitwise.
layout(constant_id = 4) const uint VEC4 = 0;

layout(std430, binding = 0) writeonly buffer Out { float y[]; };
layout(std430, binding = 0) writeonly buffer Out4 { vec4 y4[]; };
#include "input.glsl"
PG_INPUT(1, x)
layout(std430, binding = 2) readonly buffer Aux { float epi_aux[]; };

layout(push_constant) uniform Push {
    uvec4 shape;   // input N, H, W, C
    uint axes;     // bit i: reduce axis i
    float scale;
    uint out_count;
    uint chunk;    // reduced elements per (output, split)
    uint splits;
    float slope;   // epilogue: leaky ReLU slope
    uint aux_n;    // epilogue: elements of its operand
    uint aux_m, aux_l;  // epilogue: pg_fastdiv pair for aux_n
} pc;

#include "epilogue.glsl"

shared float partial[WG];

uint dims[4], stride[4], base;
uint reduced_count;

// Fills dims, stride, the offset of output o and the reduced element count.
void layout_of(uint o) {
    dims = uint[4](pc.shape.x, pc.shape.y, pc.shape.z, pc.shape.w);
    stride[3] = 1;
    for (int i = 2; i >= 0; i--) stride[i] = stride[i + 1] * dims[i + 1];
    uint rest = o;
    base = 0;
    reduced_count = 1;
    for (int i = 3; i >= 0; i--) {
        bool r = (pc.axes & (1u << i)) != 0;
        uint extent = r ? 1 : dims[i];
        base += (rest % extent) * stride[i];
        rest /= extent;
        if (r) reduced_count *= dims[i];
    }
}

// Offset of reduced element j of output o (its digits over the reduced axes,
// innermost last, unless LAYOUT gives a closed form).
uint reduced_offset(uint o, uint j) {
    if (LAYOUT == 1) return j * pc.out_count + o;
    if (LAYOUT == 2) return o * reduced_count + j;
    uint off = base, q = j;
    for (int i = 3; i >= 0; i--) {
        if ((pc.axes & (1u << i)) == 0) continue;
        off += (q % dims[i]) * stride[i];
        q /= dims[i];
    }
    return off;
}

#define EPI_ARGS pc.slope, pc.aux_n, uvec2(pc.aux_m, pc.aux_l)

// MODE 0: one workgroup per (output, split).
void tree() {
    uint g = linear_group_id();
    if (g >= pc.out_count * pc.splits) return;
    uint o = g % pc.out_count, split = g / pc.out_count;
    layout_of(o);
    uint begin = split * pc.chunk, end = min(begin + pc.chunk, reduced_count);
    float sum = 0.0;
    for (uint j = begin + gl_LocalInvocationID.x; j < end; j += WG) sum += PG_LOAD(x, reduced_offset(o, j));
    partial[gl_LocalInvocationID.x] = sum;
    barrier();
    for (uint width = WG / 2; width > 0; width >>= 1) {
        if (gl_LocalInvocationID.x < width)
            partial[gl_LocalInvocationID.x] += partial[gl_LocalInvocationID.x + width];
        barrier();
    }
    uint at = split * pc.out_count + o;
    if (gl_LocalInvocationID.x == 0) y[at] = pg_epilogue(partial[0], pc.scale, at, EPI_ARGS);
}

// MODE 1 with VEC4: outputs 4 * o4 .. 4 * o4 + 3 of one split per lane.
void columns_vec4() {
    uint q = pc.out_count / 4, id = linear_thread_id(WG);
    if (id >= q * pc.splits) return;
    uint o4 = id % q, split = id / q;
    layout_of(4 * o4);
    uint begin = split * pc.chunk, end = min(begin + pc.chunk, reduced_count);
    vec4 sum = vec4(0.0);
    uint off = begin * q + o4;
    for (uint j = begin; j < end; j++, off += q) sum += PG_LOAD4(x, off);
    uint at = split * pc.out_count + 4 * o4;
    float scale = begin < end ? pc.scale : 1.0; // an empty chunk as the scalar lanes store it
    y4[at / 4] = vec4(pg_epilogue(sum.x, scale, at, EPI_ARGS), pg_epilogue(sum.y, scale, at + 1, EPI_ARGS),
                      pg_epilogue(sum.z, scale, at + 2, EPI_ARGS), pg_epilogue(sum.w, scale, at + 3, EPI_ARGS));
}

// MODE 1: one lane per (output, split), a flat loop.
void columns() {
    uint id = linear_thread_id(WG);
    if (id >= pc.out_count * pc.splits) return;
    uint o = id % pc.out_count, split = id / pc.out_count;
    layout_of(o);
    uint begin = split * pc.chunk, end = min(begin + pc.chunk, reduced_count);
    uint at = split * pc.out_count + o;
    if (begin >= end) {
        y[at] = pg_epilogue(0.0, 1.0, at, EPI_ARGS);
        return;
    }
    uint off = reduced_offset(o, begin);
    float sum = 0.0;
    if (LAYOUT != 0) { // a fixed step: no digits to carry
        uint step = LAYOUT == 1 ? pc.out_count : 1;
        for (uint j = begin; j < end; j++, off += step) sum += PG_LOAD(x, off);
        y[at] = pg_epilogue(sum, pc.scale, at, EPI_ARGS);
        return;
    }
    // the reduced axes, innermost first, and the digits of `begin` over them
    uint rstride[4], rextent[4], digit[4], nr = 0, q = begin;
    for (int i = 3; i >= 0; i--)
        if ((pc.axes & (1u << i)) != 0) {
            rstride[nr] = stride[i];
            rextent[nr] = dims[i];
            digit[nr] = q % dims[i];
            q /= dims[i];
            nr++;
        }
    for (uint j = begin; j < end; j++) {
        sum += PG_LOAD(x, off);
        // next element: add one to the innermost digit and carry outwards
        for (uint k = 0; k < nr; k++) {
            off += rstride[k];
            if (++digit[k] < rextent[k]) break;
            digit[k] = 0;
            off -= rstride[k] * rextent[k];
        }
    }
    y[at] = pg_epilogue(sum, pc.scale, at, EPI_ARGS);
}

void main() {
    if (MODE == PG_REDUCE_TREE)
        tree();
    else if (VEC4 != 0)
        columns_vec4();
    else
        columns();
}
