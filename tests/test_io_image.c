/* Tests of src/io/image: PNG round trips are exact, JPEG round trips are close
 * (and quality matters), grids place, map, clamp and round every pixel as
 * computed here, bad arguments are refused, no temporary file is left behind. */
#include <dirent.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "io/image.h"
#include "testutil.h"

static char dir[64];

static uint8_t *pattern(int w, int h, int c, int smooth) {
    uint8_t *p = malloc((size_t)w * h * c);
    for (int y = 0; y < h; y++)
        for (int x = 0; x < w; x++)
            for (int ch = 0; ch < c; ch++)
                p[((size_t)y * w + x) * c + ch] =
                    smooth ? (uint8_t)(128 + 100 * sin(0.2 * x + 0.3 * y + ch))
                           : (uint8_t)((x * 37 + y * 91 + ch * 53) ^ (x * y));
    return p;
}

static long file_size(const char *path) {
    struct stat st;
    return stat(path, &st) == 0 ? (long)st.st_size : -1;
}

static void test_png(int c) {
    char path[128];
    snprintf(path, sizeof path, "%s/p%d.png", dir, c);
    int w = 37, h = 23;
    uint8_t *p = pattern(w, h, c, 0);
    test_check(pg_image_write_png(path, p, w, h, c) == PG_OK, "png write", "%s",
               pg_error_message());
    pg_image img;
    test_check(pg_image_read(path, &img) == PG_OK, "png read", "%s", pg_error_message());
    test_check(img.width == w && img.height == h && img.channels == c, "png size",
               "%dx%dx%d vs %dx%dx%d", img.width, img.height, img.channels, w, h, c);
    test_check(img.pixels && !memcmp(img.pixels, p, (size_t)w * h * c), "png exact",
               "pixels differ (c = %d)", c);
    pg_image_free(&img);
    free(p);
}

static double jpeg_error(int c, int quality, long *size, double *max_err) {
    char path[128];
    snprintf(path, sizeof path, "%s/j%d_%d.jpg", dir, c, quality);
    int w = 64, h = 48;
    uint8_t *p = pattern(w, h, c, 1);
    pg_image img = {p, w, h, c};
    test_check(pg_image_write(path, &img, quality) == PG_OK, "jpeg write", "%s",
               pg_error_message());
    pg_image back;
    double mean = INFINITY;
    *max_err = INFINITY;
    if (test_check(pg_image_read(path, &back) == PG_OK, "jpeg read", "%s", pg_error_message()) &&
        test_check(back.width == w && back.height == h && back.channels == c, "jpeg size",
                   "%dx%dx%d", back.width, back.height, back.channels)) {
        double sum = 0, mx = 0;
        for (size_t i = 0; i < (size_t)w * h * c; i++) {
            double d = fabs((double)back.pixels[i] - p[i]);
            sum += d;
            mx = fmax(mx, d);
        }
        mean = sum / ((double)w * h * c);
        *max_err = mx;
    }
    *size = file_size(path);
    pg_image_free(&back);
    free(p);
    return mean;
}

static void test_jpeg(void) {
    for (int c = 1; c <= 3; c += 2) {
        long size_hi, size_lo;
        double max_hi, max_lo;
        double hi = jpeg_error(c, 98, &size_hi, &max_hi);
        double lo = jpeg_error(c, 10, &size_lo, &max_lo);
        test_check(hi < 1.5 && max_hi <= 10, "jpeg q98 close", "c=%d mean %.3f max %.0f", c, hi,
                   max_hi);
        test_check(lo > hi && size_lo < size_hi, "jpeg quality used",
                   "c=%d q10 err %.3f size %ld, q98 err %.3f size %ld", c, lo, size_lo, hi,
                   size_hi);
    }
}

/* Expected value computed here: round-half-even of (v+1)*127.5, clamped. */
static uint8_t expect_u8(float v) {
    if (isnan(v)) return 0;
    double x = rint(((double)v + 1.0) * 127.5);
    return (uint8_t)(x < 0 ? 0 : x > 255 ? 255 : x);
}

static void test_grid(void) {
    int n = 5, res = 4, c = 3, rows = 2, cols = 3;
    size_t per = (size_t)res * res * c;
    float *imgs = malloc(sizeof(float) * n * per);
    test_fill_uniform_f(imgs, n * per, 7);
    for (size_t i = 0; i < n * per; i++) imgs[i] *= 1.3f; /* some values out of range */
    imgs[0] = -1.0f, imgs[1] = 1.0f, imgs[2] = 0.0f, imgs[3] = NAN, imgs[4] = 5.0f;
    imgs[5] = -5.0f, imgs[6] = 0.003921569f /* (v+1)*127.5 = 128.0 */;
    pg_image g;
    test_check(pg_image_grid(imgs, n, res, c, rows, cols, &g) == PG_OK, "grid", "%s",
               pg_error_message());
    test_check(g.width == cols * res && g.height == rows * res && g.channels == c, "grid size",
               "%dx%dx%d", g.width, g.height, g.channels);
    int bad = 0;
    for (int gy = 0; gy < g.height; gy++)
        for (int gx = 0; gx < g.width; gx++)
            for (int ch = 0; ch < c; ch++) {
                int cell = (gy / res) * cols + gx / res, y = gy % res, x = gx % res;
                uint8_t want =
                    cell < n ? expect_u8(imgs[cell * per + ((size_t)y * res + x) * c + ch]) : 0;
                if (g.pixels[((size_t)gy * g.width + gx) * c + ch] != want) bad++;
            }
    test_check(bad == 0, "grid pixels", "%d pixels differ", bad);
    test_check(g.pixels[0] == 0 && g.pixels[1] == 255 && g.pixels[2] == 128 && g.pixels[3] == 0 &&
                   g.pixels[4] == 255 && g.pixels[5] == 0,
               "grid map/clamp/NaN", "%d %d %d %d %d %d", g.pixels[0], g.pixels[1], g.pixels[2],
               g.pixels[3], g.pixels[4], g.pixels[5]);
    char path[128];
    snprintf(path, sizeof path, "%s/grid.png", dir);
    test_check(pg_image_write(path, &g, 95) == PG_OK, "grid write", "%s", pg_error_message());
    pg_image_free(&g);
    test_check(pg_image_grid(imgs, n, res, c, 1, 4, &g) == PG_ERR_INVALID, "grid too small",
               "accepted 5 images in 4 cells");
    free(imgs);
}

static void test_errors(void) {
    char path[128];
    uint8_t px[12] = {0};
    snprintf(path, sizeof path, "%s/bad.png", dir);
    test_check(pg_image_write_png(path, px, 2, 2, 2) == PG_ERR_INVALID, "2 channels refused",
               "accepted");
    snprintf(path, sizeof path, "%s/bad.jpg", dir);
    test_check(pg_image_write_jpeg(path, px, 2, 2, 3, 0) == PG_ERR_INVALID, "quality 0 refused",
               "accepted");
    snprintf(path, sizeof path, "%s/bad.gif", dir);
    pg_image img = {px, 2, 2, 3};
    test_check(pg_image_write(path, &img, 90) == PG_ERR_INVALID, "unknown extension refused",
               "accepted");
    snprintf(path, sizeof path, "%s/notimage.png", dir);
    FILE *f = fopen(path, "wb");
    fputs("hello, not a PNG", f);
    fclose(f);
    pg_image out;
    test_check(pg_image_read(path, &out) == PG_ERR_FORMAT && strstr(pg_error_message(), path),
               "non-image refused", "%s", pg_error_message());
    /* A truncated PNG must be an error, not a crash. */
    char good[128];
    snprintf(good, sizeof good, "%s/p3.png", dir);
    FILE *in = fopen(good, "rb");
    unsigned char buf[4096];
    size_t n = fread(buf, 1, sizeof buf, in);
    fclose(in);
    f = fopen(path, "wb");
    fwrite(buf, 1, n / 2, f);
    fclose(f);
    test_check(pg_image_read(path, &out) == PG_ERR_FORMAT, "truncated png refused", "%s",
               pg_error_message());
    /* Atomic writes leave no "*.tmp-*" behind. */
    DIR *d = opendir(dir);
    struct dirent *e;
    int temps = 0;
    while ((e = readdir(d))) temps += strstr(e->d_name, ".tmp-") != NULL;
    closedir(d);
    test_check(temps == 0, "no temporary files", "%d left", temps);
}

/* PNG's chunk CRC (ISO 3309), to re-seal a patched IHDR. */
static uint32_t crc32_png(const unsigned char *p, size_t n) {
    uint32_t c = 0xFFFFFFFFu;
    for (size_t i = 0; i < n; i++) {
        c ^= p[i];
        for (int k = 0; k < 8; k++) c = (c >> 1) ^ (0xEDB88320u & (0u - (c & 1)));
    }
    return c ^ 0xFFFFFFFFu;
}

/* A header's size is a claim: a small JPEG or PNG that claims 32767 x 32767
 * pixels is refused before any allocation (found by fuzz_image: the reader
 * allocated what the header said). */
static void test_huge_claims(void) {
    uint8_t px[8 * 8 * 3] = {0};
    char path[128];
    const char *ext[2] = {"jpg", "png"};
    for (int k = 0; k < 2; k++) {
        snprintf(path, sizeof path, "%s/claim.%s", dir, ext[k]);
        pg_status st =
            k ? pg_image_write_png(path, px, 8, 8, 3) : pg_image_write_jpeg(path, px, 8, 8, 3, 90);
        unsigned char buf[4096];
        FILE *f = fopen(path, "rb");
        size_t n = f ? fread(buf, 1, sizeof buf, f) : 0;
        if (f) fclose(f);
        int patched = 0;
        for (size_t i = 0; i + 9 < n && !patched; i++) {
            if (!k && buf[i] == 0xFF && buf[i + 1] == 0xC0) /* SOF0: height, width at +5 */
                memcpy(buf + i + 5, "\x7f\xff\x7f\xff", 4), patched = 1;
            if (k && i + 21 < n && !memcmp(buf + i, "IHDR", 4)) { /* width, height, CRC */
                memcpy(buf + i + 4, "\0\0\x7f\xff\0\0\x7f\xff", 8);
                uint32_t crc = crc32_png(buf + i, 17);
                for (int b = 0; b < 4; b++) buf[i + 17 + b] = (unsigned char)(crc >> (24 - 8 * b));
                patched = 1;
            }
        }
        f = fopen(path, "wb");
        if (f) fwrite(buf, 1, n, f), fclose(f);
        pg_image out;
        test_check(st == PG_OK && patched && pg_image_read(path, &out) == PG_ERR_FORMAT &&
                       strstr(pg_error_message(), "claims 32767 x 32767"),
                   "huge claim refused before allocating", "%s: %s", ext[k], pg_error_message());
    }
}

int main(void) {
    snprintf(dir, sizeof dir, "/tmp/progan_test_img_XXXXXX");
    if (!mkdtemp(dir)) return 1;
    test_png(1);
    test_png(3);
    test_jpeg();
    test_grid();
    test_errors();
    test_huge_claims();
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    if (getenv("PROGAN_TEST_KEEP"))
        fprintf(stderr, "kept %s\n", dir);
    else if (system(cmd) != 0)
        fprintf(stderr, "cannot remove %s\n", dir);
    return test_finish("test_io_image");
}
