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

static uint8_t clamp_u8(float v) {
    if (!(v > 0)) return 0;
    if (v >= 255) return 255;
    return (uint8_t)lrintf(v);
}

/* Horizontal pass into tmp (sh rows of dw*c floats), then vertical into dst. */
void pg_ingest_resize(const uint8_t *src, int src_w, int c, int sx, int sy, int sw, int sh,
                      uint8_t *dst, int dst_stride, int dw, int dh, float *tmp) {
    axis_weights ax = {0}, ay = {0};
    if (!weights_build(&ax, sw, dw) || !weights_build(&ay, sh, dh)) {
        weights_free(&ax);
        weights_free(&ay);
        for (int y = 0; y < dh; y++) memset(dst + (size_t)y * dst_stride, 0, (size_t)dw * c);
        return;
    }
    size_t row = (size_t)dw * c;
    for (int y = 0; y < sh; y++) {
        const uint8_t *s = src + ((size_t)(sy + y) * src_w + sx) * c;
        float *t = tmp + (size_t)y * row;
        for (int x = 0; x < dw; x++) {
            const float *wt = ax.w + (size_t)x * ax.maxn;
            const uint8_t *sp = s + (size_t)ax.start[x] * c;
            int n = ax.count[x];
            if (c == 3) {
                float r = 0, g = 0, b = 0;
                for (int k = 0; k < n; k++) {
                    r += wt[k] * sp[3 * k];
                    g += wt[k] * sp[3 * k + 1];
                    b += wt[k] * sp[3 * k + 2];
                }
                t[3 * x] = r, t[3 * x + 1] = g, t[3 * x + 2] = b;
            } else {
                float v = 0;
                for (int k = 0; k < n; k++) v += wt[k] * sp[k];
                t[x] = v;
            }
        }
    }
    float *acc = malloc(sizeof(float) * row);
    for (int y = 0; acc && y < dh; y++) {
        const float *wt = ay.w + (size_t)y * ay.maxn;
        for (size_t j = 0; j < row; j++) acc[j] = 0;
        for (int k = 0; k < ay.count[y]; k++) {
            const float *t = tmp + (size_t)(ay.start[y] + k) * row;
            float wk = wt[k];
            for (size_t j = 0; j < row; j++) acc[j] += wk * t[j];
        }
        uint8_t *d = dst + (size_t)y * dst_stride;
        for (size_t j = 0; j < row; j++) d[j] = clamp_u8(acc[j]);
    }
    free(acc);
    weights_free(&ax);
    weights_free(&ay);
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
