/* src/data/resize: the pixel arithmetic of preparation. Separable Lanczos-3
 * resampling with the kernel widened by the downscale factor (antialiasing, the
 * same construction as Pillow's), and the exact integer mipmap cascade. */
#include "data/ingest.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

typedef struct {
    int *start, *count; /* first source index and number of taps per output */
    float *w;           /* count weights per output, at stride maxn */
    int maxn;
} axis_weights;

static double lanczos3(double x) {
    if (x == 0) return 1;
    if (x <= -3 || x >= 3) return 0;
    double px = M_PI * x;
    return 3 * sin(px) * sin(px / 3) / (px * px);
}

/* Builds normalised taps mapping n_in source samples onto n_out outputs. */
static int weights_build(axis_weights *a, int n_in, int n_out) {
    double scale = (double)n_in / n_out, fs = scale > 1 ? scale : 1;
    double support = 3 * fs;
    a->maxn = (int)ceil(support) * 2 + 1;
    a->start = malloc(sizeof(int) * n_out);
    a->count = malloc(sizeof(int) * n_out);
    a->w = malloc(sizeof(float) * (size_t)n_out * a->maxn);
    if (!a->start || !a->count || !a->w) return 0;
    for (int i = 0; i < n_out; i++) {
        double center = (i + 0.5) * scale;
        int lo = (int)floor(center - support + 0.5), hi = (int)floor(center + support + 0.5);
        if (lo < 0) lo = 0;
        if (hi > n_in) hi = n_in;
        if (hi - lo > a->maxn) hi = lo + a->maxn;
        double sum = 0, tmp[a->maxn];
        for (int j = lo; j < hi; j++) sum += tmp[j - lo] = lanczos3((j + 0.5 - center) / fs);
        if (sum == 0) { /* cannot happen for n_in >= 1, but never divide by zero */
            lo = PG_MIN((int)center, n_in - 1), hi = lo + 1, tmp[0] = sum = 1;
        }
        a->start[i] = lo;
        a->count[i] = hi - lo;
        for (int j = 0; j < hi - lo; j++) a->w[(size_t)i * a->maxn + j] = (float)(tmp[j] / sum);
    }
    return 1;
}

static void weights_free(axis_weights *a) {
    free(a->start);
    free(a->count);
    free(a->w);
}

/* The taps of the last two (n_in, n_out) pairs of this thread: a prepare run resizes
 * most images with the same sizes, and building taps costs sin() per tap. */
typedef struct {
    int n_in, n_out, used;
    axis_weights a;
} weights_slot;
static _Thread_local weights_slot weights_cache[2];

static const axis_weights *weights_get(int n_in, int n_out) {
    for (int i = 0; i < 2; i++) {
        weights_slot *e = &weights_cache[i];
        if (e->a.w && e->n_in == n_in && e->n_out == n_out) {
            e->used = 1, weights_cache[1 - i].used = 0;
            return &e->a;
        }
    }
    weights_slot *e = &weights_cache[weights_cache[0].used ? 1 : 0];
    weights_free(&e->a);
    memset(e, 0, sizeof *e);
    if (!weights_build(&e->a, n_in, n_out)) {
        weights_free(&e->a);
        memset(&e->a, 0, sizeof e->a);
        return NULL;
    }
    e->n_in = n_in, e->n_out = n_out, e->used = 1;
    weights_cache[e == weights_cache ? 1 : 0].used = 0;
    return &e->a;
}

typedef float v4f __attribute__((vector_size(16)));
typedef float v4u __attribute__((vector_size(16), aligned(4))); /* unaligned loads */

/* Round half to even to an integer in [0, 255]: lrintf's result in the default rounding
 * mode (adding and subtracting 2^23 rounds a float in [0, 2^22] to an integer, ties to
 * even), written so that the loop vectorises. */
static inline uint8_t clamp_u8(float v) {
    v = v > 0 ? v : 0; /* also maps NaN to 0 */
    v = v < 255 ? v : 255;
    return (uint8_t)(int)((v + 8388608.0f) - 8388608.0f);
}

/* Horizontal pass of one source row into t (dw * c floats). For three channels the
 * source row is widened to four floats a pixel so that each tap is one vector
 * multiply-add of all channels; every channel still sums its taps in order k = 0..n-1,
 * so the sums are the same floats as a per-channel loop. */
static void row_h(const uint8_t *s, int sw, int c, const axis_weights *ax, int dw, float *t,
                  v4f *wide) {
    if (c == 3) {
        for (int x = 0; x < sw; x++)
            wide[x] = (v4f){(float)s[3 * x], (float)s[3 * x + 1], (float)s[3 * x + 2], 0};
        int x = 0;
        for (; x + 1 < dw; x += 2) { /* two outputs at once: independent dependency chains */
            const float *w0 = ax->w + (size_t)x * ax->maxn, *w1 = w0 + ax->maxn;
            const v4f *s0 = wide + ax->start[x], *s1 = wide + ax->start[x + 1];
            int n0 = ax->count[x], n1 = ax->count[x + 1], n = PG_MIN(n0, n1), k = 0;
            v4f a0 = {0, 0, 0, 0}, a1 = {0, 0, 0, 0};
            for (; k < n; k++) a0 += w0[k] * s0[k], a1 += w1[k] * s1[k];
            for (int j = k; j < n0; j++) a0 += w0[j] * s0[j];
            for (int j = k; j < n1; j++) a1 += w1[j] * s1[j];
            t[3 * x] = a0[0], t[3 * x + 1] = a0[1], t[3 * x + 2] = a0[2];
            t[3 * x + 3] = a1[0], t[3 * x + 4] = a1[1], t[3 * x + 5] = a1[2];
        }
        for (; x < dw; x++) {
            const float *wt = ax->w + (size_t)x * ax->maxn;
            const v4f *sp = wide + ax->start[x];
            int n = ax->count[x];
            v4f acc = {0, 0, 0, 0};
            for (int k = 0; k < n; k++) acc += wt[k] * sp[k];
            t[3 * x] = acc[0], t[3 * x + 1] = acc[1], t[3 * x + 2] = acc[2];
        }
    } else {
        for (int x = 0; x < dw; x++) {
            const float *wt = ax->w + (size_t)x * ax->maxn;
            const uint8_t *sp = s + ax->start[x];
            int n = ax->count[x];
            float v = 0;
            for (int k = 0; k < n; k++) v += wt[k] * sp[k];
            t[x] = v;
        }
    }
}

/* Horizontal pass into tmp (sh rows of dw*c floats), then vertical into dst. The vertical
 * pass runs over whole rows (contiguous, vectorised) and sums its taps in order. */
void pg_ingest_resize(const uint8_t *src, int src_w, int c, int sx, int sy, int sw, int sh,
                      uint8_t *dst, int dst_stride, int dw, int dh, float *tmp) {
    size_t row = (size_t)dw * c;
    v4f *wide = c == 3 ? aligned_alloc(16, sizeof(v4f) * (size_t)sw) : NULL;
    float *acc = aligned_alloc(16, sizeof(float) * ((row + 3) & ~(size_t)3));
    const axis_weights *pax = weights_get(sw, dw), *pay = pax ? weights_get(sh, dh) : NULL;
    if (pay) pax = weights_get(sw, dw); /* both in the cache now (two slots) */
    if (!pax || !pay || (c == 3 && !wide) || !acc) {
        free(wide);
        free(acc);
        for (int y = 0; y < dh; y++) memset(dst + (size_t)y * dst_stride, 0, (size_t)dw * c);
        return;
    }
    for (int y = 0; y < sh; y++)
        row_h(src + ((size_t)(sy + y) * src_w + sx) * c, sw, c, pax, dw, tmp + (size_t)y * row,
              wide);
    const axis_weights ay = *pay;
    for (int y = 0; y < dh; y++) {
        const float *wt = ay.w + (size_t)y * ay.maxn;
        int n = ay.count[y];
        const float *t0 = tmp + (size_t)ay.start[y] * row;
        float w0 = wt[0];
        size_t j = 0;
        for (; j + 16 <= row; j += 16) { /* 16 sums held in registers across the taps */
            const float *p = t0 + j;
            v4f a0 = 0 + w0 * *(const v4u *)p, a1 = 0 + w0 * *(const v4u *)(p + 4);
            v4f a2 = 0 + w0 * *(const v4u *)(p + 8), a3 = 0 + w0 * *(const v4u *)(p + 12);
            for (int k = 1; k < n; k++) {
                p += row;
                float wk = wt[k];
                a0 += wk * *(const v4u *)p, a1 += wk * *(const v4u *)(p + 4);
                a2 += wk * *(const v4u *)(p + 8), a3 += wk * *(const v4u *)(p + 12);
            }
            *(v4f *)(acc + j) = a0, *(v4f *)(acc + j + 4) = a1;
            *(v4f *)(acc + j + 8) = a2, *(v4f *)(acc + j + 12) = a3;
        }
        for (size_t jt = j; jt < row; jt++) acc[jt] = 0 + w0 * t0[jt];
        for (int k = 1; k < n; k++) {
            const float *t = t0 + (size_t)k * row;
            float wk = wt[k];
            for (size_t jt = j; jt < row; jt++) acc[jt] += wk * t[jt];
        }
        uint8_t *d = dst + (size_t)y * dst_stride;
#pragma omp simd
        for (size_t j = 0; j < row; j++) d[j] = clamp_u8(acc[j]);
    }
    free(wide);
    free(acc);
}

/* Integer block sums cascaded in place, each level rounded half-to-even from its exact sum. */
void pg_ingest_mipmaps(const uint8_t *top, int R, int c, uint8_t *const *dst, uint32_t *scratch) {
    int r = R / 2;
    for (int y = 0; y < r; y++)
        for (int x = 0; x < r; x++)
            for (int ch = 0; ch < c; ch++) {
                const uint8_t *p = top + ((size_t)(2 * y) * R + 2 * x) * c + ch;
                size_t rs = (size_t)R * c;
                scratch[((size_t)y * r + x) * c + ch] = p[0] + p[c] + p[rs] + p[rs + c];
            }
    for (int level = 0; r >= 4; level++) {
        int shift = 2 * (level + 1);
        uint32_t mask = (1u << shift) - 1, half = 1u << (shift - 1);
        size_t n = (size_t)r * r * c;
        uint8_t *d = dst[level];
        for (size_t i = 0; i < n; i++) {
            uint32_t s = scratch[i], q = s >> shift, rem = s & mask;
            d[i] = (uint8_t)(q + (rem > half || (rem == half && (q & 1))));
        }
        if (r == 4) break;
        int h = r / 2;
        for (int y = 0; y < h; y++)
            for (int x = 0; x < h; x++)
                for (int ch = 0; ch < c; ch++) {
                    const uint32_t *p = scratch + ((size_t)(2 * y) * r + 2 * x) * c + ch;
                    size_t rs = (size_t)r * c;
                    scratch[((size_t)y * h + x) * c + ch] = p[0] + p[c] + p[rs] + p[rs + c];
                }
        r = h;
    }
}
