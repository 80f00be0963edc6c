#version 450
// K x K window pooling of NHWC tensors with stride S and padding P (PyTorch's
// max_pool2d / avg_pool2d, ceil_mode off). Window of output (oy, ox): rows
// oy*S - P .. oy*S - P + K - 1 (likewise columns); taps outside x are skipped.
//   MODE 0 max select    y[n,oy,ox,c] = v[n, argmax over the window of x, c]
//                        (the first maximum in row-major window order)
//   MODE 1 max scatter   dx[n,iy,ix,c] = sum of dy[n,oy,ox,c] over the outputs
//                        whose argmax is (iy, ix)  (MODE 0's adjoint in v)
//   MODE 2 average       y = window sum / divisor; divisor: EXCLUDE 1, the taps
//                        inside x; EXCLUDE 0, PyTorch's count_include_pad (the
//                        window clipped to the padded extent)
//   MODE 3 average grad  dx[n,iy,ix,c] = sum over windows holding (iy, ix) of
//                        dy / divisor  (MODE 2's adjoint)
// Bindings: 0 out, 1 v (MODE 0) or dy or x (MODE 2), 2 x (max modes).
// Push: x is [n, h, w, c], the pooled tensor [n, ho, wo, c].
#extension GL_GOOGLE_include_directive : require
#include "common.glsl"

layout(local_size_x_id = PG_SPEC_WG) in;
layout(constant_id = PG_SPEC_WG) const uint WG = 128;
layout(constant_id = PG_SPEC_CODE) const uint MODE = 0;
layout(constant_id = 2) const int K = 3;
layout(constant_id = 3) const int S = 2;
layout(constant_id = 4) const int P = 0;
layout(constant_id = 5) const uint EXCLUDE = 0;

layout(std430, binding = 0) writeonly buffer Out { float y[]; };
layout(std430, binding = 1) readonly buffer A { float a[]; };
layout(std430, binding = 2) readonly buffer X { float xv[]; };

layout(push_constant) uniform Push {
    uint n, h, w, c, ho, wo, count;
} pc;

uint x_at(uint n, int iy, int ix, uint ch) {
    return ((n * pc.h + uint(iy)) * pc.w + uint(ix)) * pc.c + ch;
}

// Index into x of the first maximum of x over window (oy, ox).
uint argmax_at(uint n, int oy, int ox, uint ch) {
    int y0 = oy * S - P, x0 = ox * S - P;
    uint best = 0;
    float bv = 0.0;
    bool found = false;
    for (int ky = 0; ky < K; ky++)
        for (int kx = 0; kx < K; kx++) {
            int iy = y0 + ky, ix = x0 + kx;
            if (iy < 0 || iy >= int(pc.h) || ix < 0 || ix >= int(pc.w)) continue;
            uint i = x_at(n, iy, ix, ch);
            float v = xv[i];
            if (!found || v > bv) {
                best = i;
                bv = v;
                found = true;
            }
        }
    return best;
}

float divisor(int oy, int ox) {
    int y0 = oy * S - P, x0 = ox * S - P;
    if (EXCLUDE == 0)
        return float((min(y0 + K, int(pc.h) + P) - y0) * (min(x0 + K, int(pc.w) + P) - x0));
    return float((min(y0 + K, int(pc.h)) - max(y0, 0)) * (min(x0 + K, int(pc.w)) - max(x0, 0)));
}

float pooled(uint n, int oy, int ox, uint ch) {
    if (MODE == PG_POOL_MAX) return a[argmax_at(n, oy, ox, ch)];
    int y0 = oy * S - P, x0 = ox * S - P;
    float s = 0.0;
    for (int ky = 0; ky < K; ky++)
        for (int kx = 0; kx < K; kx++) {
            int iy = y0 + ky, ix = x0 + kx;
            if (iy < 0 || iy >= int(pc.h) || ix < 0 || ix >= int(pc.w)) continue;
            s += a[x_at(n, iy, ix, ch)];
        }
    return s / divisor(oy, ox);
}

// The adjoints gather from the outputs whose window holds (iy, ix).
float gathered(uint n, int iy, int ix, uint ch) {
    uint self = x_at(n, iy, ix, ch);
    float s = 0.0;
    for (int ky = 0; ky < K; ky++) {
        int ty = iy + P - ky; // = oy * S
        if (ty < 0 || ty % S != 0 || ty / S >= int(pc.ho)) continue;
        for (int kx = 0; kx < K; kx++) {
            int tx = ix + P - kx;
            if (tx < 0 || tx % S != 0 || tx / S >= int(pc.wo)) continue;
            int oy = ty / S, ox = tx / S;
            float g = a[((n * pc.ho + uint(oy)) * pc.wo + uint(ox)) * pc.c + ch];
            if (MODE == PG_POOL_MAX_GRAD)
                s += argmax_at(n, oy, ox, ch) == self ? g : 0.0;
            else
                s += g / divisor(oy, ox);
        }
    }
    return s;
}

void main() {
    uint i = linear_thread_id(WG);
    if (i >= pc.count) return;
    bool forward = MODE == PG_POOL_MAX || MODE == PG_POOL_AVG;
    uint ow = forward ? pc.wo : pc.w, oh = forward ? pc.ho : pc.h;
    uint ch = i % pc.c, r = i / pc.c;
    int ox = int(r % ow), oy = int((r / ow) % oh);
    uint n = r / (ow * oh);
    y[i] = forward ? pooled(n, oy, ox, ch) : gathered(n, oy, ox, ch);
}
