/* src/data/mipmap: the exact integer mipmap cascade with contiguous row loops.
 * Level k (R >> k) is rint half-to-even of the mean of each 2^k x 2^k block of the top
 * level, computed from exact block sums: each level's sums are the 2x2 sums of the
 * previous level's sums. Sums stay in uint16 up to level 4 (at most 255 * 4^4 = 65280),
 * then uint32. Every loop walks rows front to back without strides the vectoriser cannot
 * handle: a vertical add of two rows, a horizontal add of each element and its neighbour
 * one pixel on (w[i] = v[i] + v[i + c]), then a compaction keeping every other pixel. */
#include <string.h>

#include "data/ingest.h"

#define ROW_SLACK 8 /* elements after a row buffer: the 3-channel compaction writes one more */

size_t pg_ingest_mipmaps_scratch_bytes(int R, int c) {
    size_t r2 = (size_t)(R / 2), r4 = (size_t)(R / 4);
    size_t u16 = r2 * r2 * c + r4 * r4 * c + 2 * ((size_t)R * c + ROW_SLACK);
    size_t r32 = (size_t)(R / 32);
    return u16 * sizeof(uint16_t) + (r32 * r32 * c + 16) * sizeof(uint32_t) + 64;
}

/* Keeps pixel 2x of w (n_out pixels of c channels) in out. */
static inline void compact_u16(const uint16_t *restrict w, int n_out, int c,
                               uint16_t *restrict out) {
    if (c == 1) {
#pragma omp simd
        for (int x = 0; x < n_out; x++) out[x] = w[2 * x];
    } else {
        /* 8 bytes per pixel: the fourth element is overwritten by the next pixel (and
         * lands in the slack after the last one) */
        for (int x = 0; x < n_out; x++) memcpy(out + 3 * x, w + 6 * x, 4 * sizeof(uint16_t));
    }
}

/* One row of 2x2 sums from two uint8 rows of n = 2 * n_out pixels. tmp: 2 row buffers. */
static void row_sum_u8(const uint8_t *restrict a, const uint8_t *restrict b, int n_out, int c,
                       uint16_t *restrict out, uint16_t *restrict v, uint16_t *restrict w) {
    int n = 2 * n_out * c;
    (void)v;
#pragma omp simd
    for (int i = 0; i < n - c; i++) w[i] = (uint16_t)(a[i] + b[i] + a[i + c] + b[i + c]);
    for (int i = n - c; i < n; i++) w[i] = 0;
    compact_u16(w, n_out, c, out);
}

static void row_sum_u16(const uint16_t *restrict a, const uint16_t *restrict b, int n_out, int c,
                        uint16_t *restrict out, uint16_t *restrict v, uint16_t *restrict w) {
    int n = 2 * n_out * c;
#pragma omp simd
    for (int i = 0; i < n; i++) v[i] = (uint16_t)(a[i] + b[i]);
#pragma omp simd
    for (int i = 0; i < n - c; i++) w[i] = (uint16_t)(v[i] + v[i + c]);
    for (int i = n - c; i < n; i++) w[i] = 0;
    compact_u16(w, n_out, c, out);
}

/* q + round half to even of the remainder: (s + half - 1 + (q & 1)) >> shift, which
 * stays below 65536 for the uint16 levels (shift <= 8, s <= 65280). */
static void round_u16(const uint16_t *restrict s, size_t n, int shift, uint8_t *restrict d) {
    unsigned bias = (1u << (shift - 1)) - 1;
#pragma omp simd
    for (size_t i = 0; i < n; i++) {
        unsigned v = s[i];
        d[i] = (uint8_t)((v + bias + ((v >> shift) & 1u)) >> shift);
    }
}

static void round_u32(const uint32_t *restrict s, size_t n, int shift, uint8_t *restrict d) {
    uint32_t bias = (1u << (shift - 1)) - 1;
    for (size_t i = 0; i < n; i++) {
        uint32_t v = s[i];
        d[i] = (uint8_t)((v + bias + ((v >> shift) & 1u)) >> shift);
    }
}

void pg_ingest_mipmaps_rows(const uint8_t *top, int R, int c, uint8_t *const *dst, void *scratch) {
    if (R < 8) return;
    size_t r2 = (size_t)(R / 2), r4 = (size_t)(R / 4);
    uint16_t *A = scratch, *B = A + r2 * r2 * c, *v = B + r4 * r4 * c, *w = v + (size_t)R * c + 8;
    uint32_t *S = (uint32_t *)(((uintptr_t)(w + (size_t)R * c + ROW_SLACK) + 15) & ~(uintptr_t)15);
    /* level 1 from the top */
    int r = R / 2;
    size_t rs = (size_t)R * c;
    for (int y = 0; y < r; y++)
        row_sum_u8(top + 2 * y * rs, top + (2 * y + 1) * rs, r, c, A + (size_t)y * r * c, v, w);
    round_u16(A, (size_t)r * r * c, 2, dst[0]);
    uint16_t *cur = A, *nxt = B;
    int level = 1; /* the level held in cur (1-based) */
    /* levels 2..4 in uint16 */
    while (r > 4 && level < 4) {
        int h = r / 2;
        size_t ss = (size_t)r * c;
        for (int y = 0; y < h; y++)
            row_sum_u16(cur + 2 * y * ss, cur + (2 * y + 1) * ss, h, c, nxt + (size_t)y * h * c, v,
                        w);
        level++;
        round_u16(nxt, (size_t)h * h * c, 2 * level, dst[level - 1]);
        uint16_t *t = cur;
        cur = nxt, nxt = t;
        r = h;
    }
    if (r <= 4) return;
    /* level 5 and below in uint32 (at most R / 32 square), in place after the first */
    {
        int h = r / 2;
        for (int y = 0; y < h; y++)
            for (int x = 0; x < h; x++)
                for (int ch = 0; ch < c; ch++) {
                    const uint16_t *p = cur + ((size_t)(2 * y) * r + 2 * x) * c + ch;
                    size_t ss = (size_t)r * c;
                    S[((size_t)y * h + x) * c + ch] = (uint32_t)p[0] + p[c] + p[ss] + p[ss + c];
                }
        r = h;
        level++;
        round_u32(S, (size_t)r * r * c, 2 * level, dst[level - 1]);
    }
    while (r > 4) {
        int h = r / 2;
        size_t ss = (size_t)r * c;
        for (int y = 0; y < h; y++)
            for (int x = 0; x < h; x++)
                for (int ch = 0; ch < c; ch++) {
                    const uint32_t *p = S + ((size_t)(2 * y) * r + 2 * x) * c + ch;
                    S[((size_t)y * h + x) * c + ch] = p[0] + p[c] + p[ss] + p[ss + c];
                }
        r = h;
        level++;
        round_u32(S, (size_t)r * r * c, 2 * level, dst[level - 1]);
    }
}
