/* tests/test_data_pixels: the pixel arithmetic of preparation against float64
 * references written here: Lanczos-3 antialiased resize, the exact half-to-even
 * mipmap cascade, the EXIF parser, and the dataset header round trip. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "data/dataset.h"
#include "data/ingest.h"
#include "testutil.h"

static double lanczos(double x) {
    if (fabs(x) < 1e-12) return 1;
    if (fabs(x) >= 3) return 0;
    return sin(M_PI * x) / (M_PI * x) * sin(M_PI * x / 3) / (M_PI * x / 3);
}

/* Direct 2-D reference: separable weights, normalised per axis, in double. */
static double ref_pixel(const uint8_t *src, int sw, int sh, int c, int ox, int oy, int ch, int dw,
                        int dh) {
    double res[2] = {0};
    double sx = (double)sw / dw, sy = (double)sh / dh;
    double fx = sx > 1 ? sx : 1, fy = sy > 1 ? sy : 1;
    double cx = (ox + 0.5) * sx, cy = (oy + 0.5) * sy, wsum_x = 0, wsum_y = 0;
    for (int x = 0; x < sw; x++)
        if (fabs(x + 0.5 - cx) < 3 * fx) wsum_x += lanczos((x + 0.5 - cx) / fx);
    for (int y = 0; y < sh; y++)
        if (fabs(y + 0.5 - cy) < 3 * fy) wsum_y += lanczos((y + 0.5 - cy) / fy);
    for (int y = 0; y < sh; y++) {
        if (!(fabs(y + 0.5 - cy) < 3 * fy)) continue;
        double wy = lanczos((y + 0.5 - cy) / fy) / wsum_y;
        for (int x = 0; x < sw; x++) {
            if (!(fabs(x + 0.5 - cx) < 3 * fx)) continue;
            double wx = lanczos((x + 0.5 - cx) / fx) / wsum_x;
            res[0] += wx * wy * src[((size_t)y * sw + x) * c + ch];
        }
    }
    double v = res[0];
    return v < 0 ? 0 : v > 255 ? 255 : v;
}

static void check_resize(int sw, int sh, int c, int dw, int dh, uint64_t seed) {
    uint8_t *src = malloc((size_t)sw * sh * c), *dst = malloc((size_t)dw * dh * c);
    float *tmp = malloc(sizeof(float) * (size_t)sh * dw * c);
    float *noise = malloc(sizeof(float) * (size_t)sw * sh * c);
    test_fill_uniform_f(noise, (size_t)sw * sh * c, seed);
    for (size_t i = 0; i < (size_t)sw * sh * c; i++) src[i] = (uint8_t)((noise[i] + 1) * 127.5f);
    pg_ingest_resize(src, sw, c, 0, 0, sw, sh, dst, dw * c, dw, dh, tmp);
    double worst = 0;
    int wi = 0;
    for (int y = 0; y < dh; y++)
        for (int x = 0; x < dw; x++)
            for (int ch = 0; ch < c; ch++) {
                double e = fabs(dst[((size_t)y * dw + x) * c + ch] -
                                ref_pixel(src, sw, sh, c, x, y, ch, dw, dh));
                if (e > worst) worst = e, wi = (y * dw + x) * c + ch;
            }
    test_check(worst <= 0.51 + 1e-3, "resize_vs_float64", "%dx%dx%d -> %dx%d: worst %.3f at %d", sw,
               sh, c, dw, dh, worst, wi);
    free(src), free(dst), free(tmp), free(noise);
}

int main(void) {
    /* resize against the float64 reference: down, up, non-square, 1 and 3 channels */
    check_resize(40, 40, 3, 16, 16, 1);
    check_resize(37, 23, 1, 8, 8, 2);
    check_resize(12, 12, 3, 32, 32, 3);
    check_resize(64, 48, 3, 48, 48, 4);

    /* antialiasing: a one-pixel checkerboard shrinks to flat gray (nearest gives 0/255) */
    int n = 256, r = 32;
    uint8_t *cb = malloc((size_t)n * n), out[32 * 32];
    float *tmp = malloc(sizeof(float) * n * r);
    for (int y = 0; y < n; y++)
        for (int x = 0; x < n; x++) cb[y * n + x] = ((x + y) & 1) ? 255 : 0;
    pg_ingest_resize(cb, n, 1, 0, 0, n, n, out, r, r, r, tmp);
    int lo = 255, hi = 0;
    for (int i = 0; i < r * r; i++) lo = out[i] < lo ? out[i] : lo, hi = out[i] > hi ? out[i] : hi;
    test_check(lo >= 125 && hi <= 130, "antialias", "checkerboard gives %d..%d", lo, hi);
    /* a constant image stays exactly constant */
    memset(cb, 77, (size_t)n * n);
    pg_ingest_resize(cb, n, 1, 10, 20, 200, 100, out, r, r, r, tmp);
    int flat = 1;
    for (int i = 0; i < r * r; i++) flat &= out[i] == 77;
    test_check(flat, "resize_constant", "a flat 77 image changed");
    free(cb), free(tmp);

    /* mipmaps: every level rint-half-even of the block mean, ties included */
    for (int c = 1; c <= 3; c += 2) {
        int R = 64;
        uint8_t *top = malloc((size_t)R * R * c);
        float *f = malloc(sizeof(float) * R * R * c);
        test_fill_uniform_f(f, (size_t)R * R * c, 10 + c);
        for (int i = 0; i < R * R * c; i++) top[i] = (uint8_t)((f[i] + 1) * 127.9f);
        /* force exact ties in the first block: means 0.5 (-> 0) and 1.5 (-> 2) */
        top[0] = 0, top[c] = 0, top[R * c] = 1, top[R * c + c] = 1;
        uint8_t *lv[4]; /* 32, 16, 8, 4 */
        uint32_t *scratch = malloc(sizeof(uint32_t) * (R / 2) * (R / 2) * c);
        for (int k = 0; k < 4; k++) lv[k] = malloc((size_t)(R >> (k + 1)) * (R >> (k + 1)) * c);
        pg_ingest_mipmaps(top, R, c, lv, scratch);
        int bad = 0;
        for (int k = 0; k < 4; k++) {
            int rr = R >> (k + 1), b = 1 << (k + 1);
            for (int y = 0; y < rr; y++)
                for (int x = 0; x < rr; x++)
                    for (int ch = 0; ch < c; ch++) {
                        double s = 0; /* float cascade of the reference, in double */
                        for (int yy = 0; yy < b; yy++)
                            for (int xx = 0; xx < b; xx++)
                                s += top[((size_t)(y * b + yy) * R + x * b + xx) * c + ch];
                        int got = lv[k][((size_t)y * rr + x) * c + ch],
                            want = (int)nearbyint(s / (b * b));
                        if (got != want && bad < 5)
                            printf("k=%d y=%d x=%d ch=%d got %d want %d (sum %g)\n", k, y, x, ch,
                                   got, want, s);
                        bad += got != want;
                    }
        }
        test_check(bad == 0, "mipmaps_half_even", "%d wrong pixels (c=%d)", bad, c);
        test_check(lv[0][0] == 0, "mipmap_tie_even", "mean 0.5 stored as %d", lv[0][0]);
        top[0] = 1, top[c] = 1, top[R * c] = 2, top[R * c + c] = 2;
        pg_ingest_mipmaps(top, R, c, lv, scratch);
        test_check(lv[0][0] == 2, "mipmap_tie_even_up", "mean 1.5 stored as %d", lv[0][0]);
        for (int k = 0; k < 4; k++) free(lv[k]);
        free(top), free(f), free(scratch);
    }

    /* the row-loop cascade (mipmap.c) equals the reference cascade bit for bit: random
     * pixels, all 255 (the largest sums of every level) and alternating 0/1 (ties) */
    for (int c = 1; c <= 3; c += 2)
        for (int R = 4; R <= (c == 1 ? 4096 : 1024); R *= 2)
            for (int pat = 0; pat < 3; pat++) {
                size_t n = (size_t)R * R * c;
                uint8_t *top = malloc(n), *a = malloc(n), *b = malloc(n);
                uint32_t *s32 = malloc(sizeof(uint32_t) * ((size_t)(R / 2) * (R / 2) * c + 16));
                void *srow = malloc(pg_ingest_mipmaps_scratch_bytes(R, c));
                uint64_t st = 0x9E3779B97F4A7C15ull * (uint64_t)(R + c + pat);
                for (size_t i = 0; i < n; i++) {
                    st = st * 6364136223846793005ull + 1442695040888963407ull;
                    top[i] = pat == 0 ? (uint8_t)(st >> 56) : pat == 1 ? 255 : (uint8_t)(i & 1);
                }
                uint8_t *la[PG_DATASET_MAX_LEVELS], *lb[PG_DATASET_MAX_LEVELS];
                size_t off = 0, total = 0;
                for (int k = 0, r = R / 2; r >= 4; k++, r /= 2) {
                    la[k] = a + off, lb[k] = b + off;
                    off += (size_t)r * r * c;
                }
                total = off;
                memset(a, 0xAA, n), memset(b, 0x55, n);
                pg_ingest_mipmaps(top, R, c, la, s32);
                pg_ingest_mipmaps_rows(top, R, c, lb, srow);
                test_check(memcmp(a, b, total) == 0, "mipmaps_rows_exact",
                           "R=%d c=%d pattern %d differs", R, c, pat);
                free(top), free(a), free(b), free(s32), free(srow);
            }

    /* EXIF: both byte orders, absent, and a segment that claims more bytes than exist */
    uint8_t be[] = {0xFF, 0xD8, 0xFF, 0xE1, 0, 34, 'E', 'x', 'i',  'f',  0,    0,   'M', 'M',
                    0,    42,   0,    0,    0, 8,  0,   1,   0x01, 0x12, 0,    3,   0,   0,
                    0,    1,    0,    6,    0, 0,  0,   0,   0,    0,    0xFF, 0xDA};
    uint8_t le[] = {0xFF, 0xD8, 0xFF, 0xE1, 0, 34, 'E', 'x', 'i',  'f',  0,    0,   'I', 'I',
                    42,   0,    8,    0,    0, 0,  1,   0,   0x12, 0x01, 3,    0,   1,   0,
                    0,    0,    8,    0,    0, 0,  0,   0,   0,    0,    0xFF, 0xDA};
    test_check(pg_ingest_exif_orientation(be, sizeof be) == 6, "exif_be", "got %d",
               pg_ingest_exif_orientation(be, sizeof be));
    test_check(pg_ingest_exif_orientation(le, sizeof le) == 8, "exif_le", "got %d",
               pg_ingest_exif_orientation(le, sizeof le));
    be[5] = 200; /* segment longer than the file */
    test_check(pg_ingest_exif_orientation(be, sizeof be) == 1, "exif_malformed", "got %d",
               pg_ingest_exif_orientation(be, sizeof be));
    uint8_t none[] = {0xFF, 0xD8, 0xFF, 0xDA, 0, 2};
    test_check(pg_ingest_exif_orientation(none, sizeof none) == 1, "exif_absent", "not 1");

    /* header: round trip, 4096 alignment, damaged byte refused */
    pg_dataset_header h = {0}, d;
    h.count = 7, h.channels = 3, h.resolution = 256, h.crop = 1, h.max_pixels = 12345;
    for (int i = 0; i < 16; i++) h.pixel_hash[i] = (uint8_t)i, h.source_hash[i] = (uint8_t)(3 * i);
    pg_dataset_header_layout(&h);
    uint8_t buf[PG_DATASET_HEADER_BYTES];
    pg_dataset_header_encode(&h, buf);
    pg_status s = pg_dataset_header_decode(buf, sizeof buf, "mem", &d);
    int aligned = 1;
    for (uint32_t i = 0; i < h.levels; i++) aligned &= h.level_offset[i] % 4096 == 0;
    test_check(s == PG_OK && d.count == 7 && d.levels == 7 && d.max_pixels == 12345 &&
                   !memcmp(d.source_hash, h.source_hash, 16) && d.file_size == h.file_size &&
                   aligned,
               "header_roundtrip", "%s", pg_error_message());
    uint64_t expect = h.level_offset[6] + 7ull * 4 * 4 * 3;
    test_check(h.file_size == expect && h.level_res[6] == 4, "header_layout",
               "file size %llu, expected %llu", (unsigned long long)h.file_size,
               (unsigned long long)expect);
    buf[17] ^= 1;
    test_check(pg_dataset_header_decode(buf, sizeof buf, "mem", &d) == PG_ERR_FORMAT,
               "header_damaged", "a flipped bit was accepted");
    return test_finish("test_data_pixels");
}
