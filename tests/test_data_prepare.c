/* tests/test_data_prepare: progan prepare on a folder the test builds itself, with
 * every kind of bad input from the issue (empty, truncated, text, misnamed PNG, CMYK,
 * gray, progressive, arithmetic, 1x1, 60000x60000 header, EXIF, unreadable, FIFO,
 * symlink loop, empty folder), checking the dataset, the report and the cache. */
#include <errno.h>
#include <math.h>
#include <png.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <turbojpeg.h>
#include <unistd.h>

#include "data/dataset.h"
#include "testutil.h"

static char root[512];

typedef struct {
    volatile int flag;
    double after; /* seconds */
} canceller;

static void *cancel_later(void *arg) {
    canceller *c = arg;
    double t = pg_time_now();
    while (pg_time_now() - t < c->after) {
    }
    c->flag = 1;
    return NULL;
}

static void path_of(char *out, const char *rel) {
    snprintf(out, 1024, "%s/%s", root, rel);
}

static void write_bytes(const char *rel, const void *p, size_t n) {
    char path[1024];
    path_of(path, rel);
    FILE *f = fopen(path, "wb");
    if (!f || fwrite(p, 1, n, f) != n) {
        fprintf(stderr, "cannot write %s\n", path);
        exit(1);
    }
    fclose(f);
}

/* Encodes w x h pixels of format pf with TurboJPEG; returns malloc'd bytes. */
static unsigned char *jpeg_encode(const uint8_t *pix, int w, int h, int pf, int sub, int flags,
                                  unsigned long *size) {
    tjhandle tj = tjInitCompress();
    unsigned char *buf = NULL;
    *size = 0;
    if (tjCompress2(tj, pix, w, 0, h, pf, &buf, size, sub, 92, flags) != 0) {
        fprintf(stderr, "tjCompress2: %s\n", tjGetErrorStr2(tj));
        exit(1);
    }
    tjDestroy(tj);
    return buf;
}

static void write_jpeg(const char *rel, const uint8_t *pix, int w, int h, int pf, int sub,
                       int flags) {
    unsigned long n;
    unsigned char *b = jpeg_encode(pix, w, h, pf, sub, flags, &n);
    write_bytes(rel, b, n);
    tjFree(b);
}

/* A smooth colourful test pattern (RGB). */
static uint8_t *pattern(int w, int h) {
    uint8_t *p = malloc((size_t)w * h * 3);
    for (int y = 0; y < h; y++)
        for (int x = 0; x < w; x++) {
            uint8_t *q = p + ((size_t)y * w + x) * 3;
            q[0] = (uint8_t)(x * 255 / (w - 1 ? w - 1 : 1));
            q[1] = (uint8_t)(y * 255 / (h - 1 ? h - 1 : 1));
            q[2] = (uint8_t)((x + y) * 4);
        }
    return p;
}

/* 64x32: left half red, right half blue; stored with EXIF orientation o. */
static void write_exif_jpeg(const char *rel, int o) {
    int w = 64, h = 32;
    uint8_t *p = malloc((size_t)w * h * 3);
    for (int i = 0; i < w * h; i++) {
        int left = (i % w) < w / 2;
        p[3 * i] = left ? 255 : 0, p[3 * i + 1] = 0, p[3 * i + 2] = left ? 0 : 255;
    }
    unsigned long n;
    unsigned char *b = jpeg_encode(p, w, h, TJPF_RGB, TJSAMP_444, 0, &n);
    /* APP1: "Exif\0\0" + big-endian TIFF header + IFD0 with one entry 0x0112 SHORT o */
    uint8_t app1[] = {0xFF, 0xE1, 0, 34, 'E', 'x',        'i', 'f', 0,    0,    'M', 'M',
                      0,    42,   0, 0,  0,   8,          0,   1,   0x01, 0x12, 0,   3,
                      0,    0,    0, 1,  0,   (uint8_t)o, 0,   0,   0,    0,    0,   0};
    uint8_t *out = malloc(n + sizeof app1);
    memcpy(out, b, 2);
    memcpy(out + 2, app1, sizeof app1);
    memcpy(out + 2 + sizeof app1, b + 2, n - 2);
    write_bytes(rel, out, n + sizeof app1);
    free(out), free(p), tjFree(b);
}

static void write_png_rgba(const char *rel, int w, int h) {
    uint8_t *p = malloc((size_t)w * h * 4);
    for (int i = 0; i < w * h; i++)
        p[4 * i] = 10, p[4 * i + 1] = 200, p[4 * i + 2] = 30, p[4 * i + 3] = (uint8_t)i;
    png_image im;
    memset(&im, 0, sizeof im);
    im.version = PNG_IMAGE_VERSION, im.width = (png_uint_32)w, im.height = (png_uint_32)h;
    im.format = PNG_FORMAT_RGBA;
    char path[1024];
    path_of(path, rel);
    if (!png_image_write_to_file(&im, path, 0, p, 0, NULL)) {
        fprintf(stderr, "png write failed: %s\n", im.message);
        exit(1);
    }
    free(p);
}

static char *read_text(const char *path) {
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *t = calloc((size_t)n + 1, 1);
    if (fread(t, 1, (size_t)n, f) != (size_t)n) n = 0;
    fclose(f);
    return t;
}

/* The report section of one reason: from its heading line to the next heading. */
static int report_lists(const char *report, const char *heading, const char *file) {
    const char *s = strstr(report, heading);
    if (!s) return 0;
    s = strchr(s, '\n');
    if (!s) return 0;
    char needle[300];
    snprintf(needle, sizeof needle, "    %s", file);
    for (const char *line = s + 1; *line == ' ' && line[1] == ' ' && line[2] == ' ';) {
        if (!strncmp(line, needle, strlen(needle))) return 1;
        line = strchr(line, '\n');
        if (!line) break;
        line++;
    }
    return 0;
}

/* The converted line of one kind lists file among its first names. */
static int report_converted(const char *report, const char *kind, const char *file) {
    const char *s = strstr(report, kind);
    if (!s) return 0;
    const char *e = strchr(s, '\n');
    char line[1024];
    snprintf(line, sizeof line, "%.*s", (int)(e ? e - s : (long)strlen(s)), s);
    return strstr(line, file) != NULL;
}

static double now(void) {
    return pg_time_now();
}

int main(void) {
    const char *tmp = getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp";
    snprintf(root, sizeof root, "%s/pg_data_prepare_XXXXXX", tmp);
    if (!mkdtemp(root)) return 1;
    char src[1024], sub[1024], out[1024], ds_path[1024], report_p[1024], p[1024];
    path_of(src, "src");
    mkdir(src, 0755);
    path_of(sub, "src/sub");
    mkdir(sub, 0755);
    path_of(out, "out");
    mkdir(out, 0755);
    path_of(ds_path, "out/ds.pgd");
    path_of(report_p, "out/prepare-report.txt");

    /* good and convertible images */
    uint8_t *pat = pattern(96, 64);
    write_jpeg("src/a_rgb.jpg", pat, 96, 64, TJPF_RGB, TJSAMP_420, 0);
    write_jpeg("src/sub/nested.jpeg", pat, 96, 64, TJPF_RGB, TJSAMP_444, 0);
    write_jpeg("src/progressive.jpg", pat, 96, 64, TJPF_RGB, TJSAMP_420, TJFLAG_PROGRESSIVE);
    uint8_t gray[64 * 64];
    for (int i = 0; i < 64 * 64; i++) gray[i] = (uint8_t)(i % 64 * 4);
    write_jpeg("src/gray.jpg", gray, 64, 64, TJPF_GRAY, TJSAMP_GRAY, 0);
    uint8_t cmyk[64 * 64 * 4]; /* Adobe (inverted) CMYK of pure red: C=255 M=0 Y=0 K=255 */
    for (int i = 0; i < 64 * 64; i++)
        cmyk[4 * i] = 255, cmyk[4 * i + 1] = 0, cmyk[4 * i + 2] = 0, cmyk[4 * i + 3] = 255;
    write_jpeg("src/cmyk.jpg", cmyk, 64, 64, TJPF_CMYK, TJSAMP_444, 0);
    write_exif_jpeg("src/exif6.jpg", 6);
    write_png_rgba("src/png_named.jpg", 64, 64);
    /* arithmetic coding through cjpeg (libjpeg-turbo-progs) */
    int have_arith = 0;
    if (system("command -v cjpeg >/dev/null 2>&1") == 0) {
        char ppm[1024], cmd[3000];
        path_of(ppm, "pattern.ppm");
        FILE *f = fopen(ppm, "wb");
        fprintf(f, "P6\n96 64\n255\n");
        fwrite(pat, 1, 96 * 64 * 3, f);
        fclose(f);
        snprintf(cmd, sizeof cmd, "cjpeg -arithmetic -outfile '%s/src/arith.jpg' '%s'", root, ppm);
        have_arith = system(cmd) == 0;
    }
    if (!have_arith) printf("note: cjpeg -arithmetic unavailable, arithmetic case not built\n");

    /* bad input */
    write_bytes("src/zero.jpg", "", 0);
    unsigned long n;
    unsigned char *good = jpeg_encode(pat, 96, 64, TJPF_RGB, TJSAMP_420, 0, &n);
    write_bytes("src/truncated.jpg", good, n * 6 / 10);
    write_bytes("src/text.jpg", "this is not a JPEG\n", 19);
    uint8_t one[3] = {1, 2, 3};
    write_jpeg("src/tiny_1x1.jpg", one, 1, 1, TJPF_RGB, TJSAMP_444, 0);
    unsigned char *huge = malloc(n);
    memcpy(huge, good, n);
    for (unsigned long i = 2; i + 9 < n; i++)
        if (huge[i] == 0xFF && huge[i + 1] == 0xC0) { /* SOF0: len(2) precision(1) h(2) w(2) */
            huge[i + 5] = 60000 >> 8, huge[i + 6] = 60000 & 255;
            huge[i + 7] = 60000 >> 8, huge[i + 8] = 60000 & 255;
            break;
        }
    write_bytes("src/huge_header.jpg", huge, n);
    free(huge);
    write_bytes("src/noperm.jpg", good, n);
    path_of(p, "src/noperm.jpg");
    chmod(p, 0);
    FILE *probe = fopen(p, "rb");
    int noperm_readable = probe != NULL; /* root reads anyway */
    if (probe) fclose(probe);
    if (noperm_readable)
        printf("note: running as root, noperm.jpg stays readable: its skip check is not made "
               "(the dangling link and FIFO cover unreadable entries)\n");
    path_of(p, "src/dangling.jpg");
    symlink("/nonexistent/progan/none.jpg", p);
    path_of(p, "src/fifo.jpg");
    mkfifo(p, 0644);
    path_of(p, "src/sub/loop");
    symlink("..", p);
    write_bytes("src/notes.txt", "ignored", 7);
    tjFree(good);

    pg_prepare_options o;
    pg_prepare_options_default(&o);
    o.resolution = 32;
    o.quiet = 1;
    double t0 = now();
    pg_status s = pg_prepare_run(src, ds_path, &o);
    test_check(s == PG_OK, "prepare_ok", "%s", pg_error_message());
    test_check(now() - t0 < 20, "prepare_fast", "%.1f s", now() - t0);

    /* written, in path order: a_rgb, [arith], cmyk, exif6, gray, png_named, progressive,
     * sub/nested.jpeg (+ noperm.jpg when root) */
    const char *written[16];
    int nw = 0;
    written[nw++] = "a_rgb.jpg";
    if (have_arith) written[nw++] = "arith.jpg";
    written[nw++] = "cmyk.jpg";
    written[nw++] = "exif6.jpg";
    written[nw++] = "gray.jpg";
    if (noperm_readable) written[nw++] = "noperm.jpg";
    written[nw++] = "png_named.jpg";
    written[nw++] = "progressive.jpg";
    written[nw++] = "sub/nested.jpeg";
    pg_dataset *ds = NULL;
    s = pg_dataset_open(ds_path, &ds);
    test_check(s == PG_OK, "open", "%s", pg_error_message());
    if (ds) {
        test_check(pg_dataset_count(ds) == nw, "count", "%d images, expected %d",
                   pg_dataset_count(ds), nw);
        test_check(pg_dataset_channels(ds) == 3, "channels_auto_mixed", "%d",
                   pg_dataset_channels(ds));
        test_check(pg_dataset_resolution(ds) == 32, "resolution", "%d", pg_dataset_resolution(ds));
        test_check(strlen(pg_dataset_hash(ds)) == 32, "hash_hex", "'%s'", pg_dataset_hash(ds));
        test_check(pg_dataset_verify(ds) == PG_OK, "verify", "%s", pg_error_message());
        const uint8_t *top = pg_dataset_level(ds, 32);
        test_check(pg_dataset_level(ds, 2) == NULL && pg_dataset_level(ds, 64) == NULL &&
                       pg_dataset_level(ds, 4) != NULL,
                   "levels_present", "level table wrong");
        int idx_of[16];
        for (int i = 0; i < nw; i++) idx_of[i] = i;
        for (int i = 0; i < nw && top; i++) {
            const uint8_t *img = top + (size_t)idx_of[i] * 32 * 32 * 3;
            const uint8_t *c = img + (16 * 32 + 16) * 3;
            if (!strcmp(written[i], "cmyk.jpg"))
                test_check(c[0] > 200 && c[1] < 60 && c[2] < 60, "cmyk_is_red",
                           "centre pixel %d %d %d", c[0], c[1], c[2]);
            if (!strcmp(written[i], "gray.jpg")) {
                int same = 1;
                for (int k = 0; k < 32 * 32; k++)
                    same &= img[3 * k] == img[3 * k + 1] && img[3 * k] == img[3 * k + 2];
                test_check(same, "gray_expanded", "R, G, B differ in the gray image");
            }
            if (!strcmp(written[i], "png_named.jpg"))
                test_check(abs(c[0] - 10) < 4 && abs(c[1] - 200) < 4 && abs(c[2] - 30) < 4,
                           "png_alpha_dropped", "centre pixel %d %d %d", c[0], c[1], c[2]);
            if (!strcmp(written[i], "exif6.jpg")) {
                /* rotated 90 CW: the red half is on top, the blue half below */
                const uint8_t *t = img + (4 * 32 + 16) * 3, *b = img + (27 * 32 + 16) * 3;
                test_check(t[0] > 200 && t[2] < 60 && b[2] > 200 && b[0] < 60, "exif_rotated",
                           "top %d,%d,%d bottom %d,%d,%d", t[0], t[1], t[2], b[0], b[1], b[2]);
            }
        }
        /* every level the exact rint-half-even block mean of the top level */
        int worst = 0;
        for (int r = 16; r >= 4 && top; r /= 2) {
            const uint8_t *lv = pg_dataset_level(ds, r);
            int f = 32 / r;
            for (int i = 0; i < nw; i++)
                for (int y = 0; y < r; y++)
                    for (int x = 0; x < r; x++)
                        for (int ch = 0; ch < 3; ch++) {
                            double sum = 0;
                            for (int yy = 0; yy < f; yy++)
                                for (int xx = 0; xx < f; xx++)
                                    sum +=
                                        top[(((size_t)i * 32 + y * f + yy) * 32 + x * f + xx) * 3 +
                                            ch];
                            int e = (int)nearbyint(sum / (f * f));
                            int d = abs(e - lv[(((size_t)i * r + y) * r + x) * 3 + ch]);
                            if (d > worst) worst = d;
                        }
        }
        test_check(worst == 0, "mipmaps_exact", "worst difference %d", worst);
    }
    char *rep = read_text(report_p);
    test_check(rep != NULL, "report_written", "%s missing", report_p);
    if (rep) {
        struct {
            const char *heading, *file;
        } skips[] = {
            {"empty file", "zero.jpg"},
            {"truncated image data", "truncated.jpg"},
            {"not an image", "text.jpg"},
            {"too small", "tiny_1x1.jpg"},
            {"too many pixels", "huge_header.jpg"},
            {"unreadable", "dangling.jpg"},
            {"not a regular file", "fifo.jpg"},
            {"unreadable", noperm_readable ? NULL : "noperm.jpg"},
        };
        for (size_t i = 0; i < PG_ARRAY_LEN(skips); i++) {
            if (!skips[i].file) continue;
            test_check(report_lists(rep, skips[i].heading, skips[i].file), "report_skip",
                       "%s not listed under '%s'", skips[i].file, skips[i].heading);
        }
        test_check(report_converted(rep, "grayscale expanded", "gray.jpg"), "report_gray", "-");
        test_check(report_converted(rep, "YCCK converted", "cmyk.jpg") ||
                       report_converted(rep, "CMYK converted", "cmyk.jpg"),
                   "report_cmyk", "-");
        test_check(report_converted(rep, "alpha channel dropped", "png_named.jpg"), "report_alpha",
                   "-");
        test_check(report_converted(rep, "does not match the file extension", "png_named.jpg"),
                   "report_misnamed", "-");
        test_check(report_converted(rep, "EXIF orientation", "exif6.jpg"), "report_exif", "-");
        test_check(strstr(rep, "sub/loop") != NULL, "report_loop", "symlink loop not reported");
        test_check(strstr(rep, "notes.txt") != NULL, "report_ignored", "ignored file not named");
        char line[64];
        snprintf(line, sizeof line, "written:  %d images", nw);
        test_check(strstr(rep, line) != NULL, "report_written_count", "no '%s'", line);
        free(rep);
    }

    /* reproducible and thread-count independent */
    char ds2[1024];
    path_of(ds2, "out/ds_1thread.pgd");
    o.threads = 1;
    s = pg_prepare_run(src, ds2, &o);
    pg_dataset *d2 = NULL;
    if (s == PG_OK) s = pg_dataset_open(ds2, &d2);
    test_check(s == PG_OK && ds && !strcmp(pg_dataset_hash(ds), pg_dataset_hash(d2)),
               "reproducible", "hash differs with 1 thread (%s)", pg_error_message());
    pg_dataset_close(d2);
    o.threads = 0;

    /* cache: reused when nothing changed, redone when the listing changes */
    struct stat st0, st1;
    stat(ds_path, &st0);
    usleep(20000);
    s = pg_prepare_cached(src, ds_path, &o);
    stat(ds_path, &st1);
    test_check(s == PG_OK && st0.st_ino == st1.st_ino && st0.st_mtim.tv_nsec == st1.st_mtim.tv_nsec,
               "cache_reused", "the dataset was rewritten (%s)", pg_error_message());
    uint8_t *pat2 = pattern(64, 64);
    write_jpeg("src/z_new.jpg", pat2, 64, 64, TJPF_RGB, TJSAMP_420, 0);
    s = pg_prepare_cached(src, ds_path, &o);
    pg_dataset *d3 = NULL;
    if (s == PG_OK) s = pg_dataset_open(ds_path, &d3);
    test_check(s == PG_OK && d3 && pg_dataset_count(d3) == nw + 1, "cache_refreshed",
               "count %d, expected %d (%s)", d3 ? pg_dataset_count(d3) : -1, nw + 1,
               pg_error_message());
    pg_dataset_close(d3);

    /* --upscale keeps the 1x1 image; a pixel limit below 96x64 skips the big ones */
    o.upscale = 1;
    o.max_pixels = 96 * 64 - 1;
    char ds4[1024];
    path_of(ds4, "out/ds_limits.pgd");
    s = pg_prepare_run(src, ds4, &o);
    rep = read_text(report_p);
    test_check(s == PG_OK && rep && report_lists(rep, "too many pixels", "a_rgb.jpg") &&
                   !report_lists(rep, "too small", "tiny_1x1.jpg"),
               "upscale_and_pixel_limit", "%s", pg_error_message());
    free(rep);
    o.upscale = 0;
    o.max_pixels = 100000000;

    /* --channels 1 */
    o.channels = 1;
    char ds5[1024];
    path_of(ds5, "out/ds_gray.pgd");
    s = pg_prepare_run(src, ds5, &o);
    pg_dataset *d5 = NULL;
    if (s == PG_OK) s = pg_dataset_open(ds5, &d5);
    test_check(s == PG_OK && d5 && pg_dataset_channels(d5) == 1, "channels_1", "%s",
               pg_error_message());
    pg_dataset_close(d5);
    o.channels = 0;

    /* auto channels on an all-gray folder gives 1 channel */
    char gsrc[1024], ds6[1024];
    path_of(gsrc, "gray_only");
    mkdir(gsrc, 0755);
    write_jpeg("gray_only/g1.jpg", gray, 64, 64, TJPF_GRAY, TJSAMP_GRAY, 0);
    write_jpeg("gray_only/g2.jpg", gray, 64, 64, TJPF_GRAY, TJSAMP_GRAY, TJFLAG_PROGRESSIVE);
    path_of(ds6, "out/ds_autogray.pgd");
    s = pg_prepare_run(gsrc, ds6, &o);
    pg_dataset *d6 = NULL;
    if (s == PG_OK) s = pg_dataset_open(ds6, &d6);
    test_check(s == PG_OK && d6 && pg_dataset_channels(d6) == 1 && pg_dataset_count(d6) == 2,
               "channels_auto_gray", "%s", pg_error_message());
    if (d6) test_check(pg_dataset_verify(d6) == PG_OK, "verify_gray", "%s", pg_error_message());
    pg_dataset_close(d6);

    /* a folder with no images at all: a clear error, no dataset */
    char esrc[1024], ds7[1024];
    path_of(esrc, "empty");
    mkdir(esrc, 0755);
    write_bytes("empty/readme.txt", "x", 1);
    path_of(ds7, "out/ds_empty.pgd");
    s = pg_prepare_run(esrc, ds7, &o);
    test_check(s == PG_ERR_INVALID && strstr(pg_error_message(), "no image files") &&
                   access(ds7, F_OK) != 0,
               "empty_folder", "status %d: %s", s, pg_error_message());
    /* a folder of only bad files: error, report, no dataset under the final name */
    char bsrc[1024], ds8[1024];
    path_of(bsrc, "bad_only");
    mkdir(bsrc, 0755);
    write_bytes("bad_only/zero.jpg", "", 0);
    write_bytes("bad_only/text.jpg", "nope", 4);
    path_of(ds8, "out/ds_bad.pgd");
    s = pg_prepare_run(bsrc, ds8, &o);
    test_check(s == PG_ERR_INVALID && strstr(pg_error_message(), "none of") &&
                   access(ds8, F_OK) != 0,
               "all_bad", "status %d: %s", s, pg_error_message());

    /* interrupted: no final file, no temporary left; a stale temp of a dead run is removed */
    char ds9[1024], stale[1100];
    path_of(ds9, "out/ds_cancel.pgd");
    snprintf(stale, sizeof stale, "%s.tmp-4194000", ds9);
    write_bytes("out/ds_cancel.pgd.tmp-4194000", "half", 4);
    volatile int cancel = 1;
    o.cancel = &cancel;
    s = pg_prepare_run(src, ds9, &o);
    char tmpname[1100];
    snprintf(tmpname, sizeof tmpname, "%s.tmp-%ld", ds9, (long)getpid());
    test_check(s == PG_ERR_INTERRUPTED && access(ds9, F_OK) != 0 && access(tmpname, F_OK) != 0,
               "interrupted_clean", "status %d", s);
    test_check(access(stale, F_OK) != 0, "stale_temp_removed", "%s still there", stale);
    o.cancel = NULL;

    /* many more files than ring slots: the same bytes with 1 and 3 threads; a cancel
     * while the workers and the writer are busy still leaves nothing behind */
    {
        char many[1024], dm1[1024], dm3[1024], dmc[1024];
        path_of(many, "many");
        mkdir(many, 0755);
        uint8_t *pm = pattern(96, 80);
        for (int i = 0; i < 160; i++) {
            char rel[64];
            snprintf(rel, sizeof rel, "many/m%03d.jpg", i);
            pm[(size_t)i * 3] = (uint8_t)i; /* every image differs */
            write_jpeg(rel, pm, 96, 80, TJPF_RGB, TJSAMP_420, 0);
        }
        free(pm);
        path_of(dm1, "out/many1.pgd");
        path_of(dm3, "out/many3.pgd");
        path_of(dmc, "out/many_cancel.pgd");
        pg_prepare_options om;
        pg_prepare_options_default(&om);
        om.resolution = 64, om.quiet = 1, om.threads = 1;
        pg_status s1 = pg_prepare_run(many, dm1, &om);
        om.threads = 3;
        pg_status s3 = pg_prepare_run(many, dm3, &om);
        size_t n1 = 0, n3 = 0;
        uint8_t *b1 = NULL, *b3 = NULL;
        FILE *f1 = fopen(dm1, "rb"), *f3 = fopen(dm3, "rb");
        if (f1 && f3) {
            fseek(f1, 0, SEEK_END), fseek(f3, 0, SEEK_END);
            n1 = (size_t)ftell(f1), n3 = (size_t)ftell(f3);
            rewind(f1), rewind(f3);
            b1 = malloc(n1), b3 = malloc(n3);
            n1 = fread(b1, 1, n1, f1), n3 = fread(b3, 1, n3, f3);
        }
        if (f1) fclose(f1);
        if (f3) fclose(f3);
        test_check(s1 == PG_OK && s3 == PG_OK && n1 > 0 && n1 == n3 && !memcmp(b1, b3, n1),
                   "ring_threads_identical", "status %d/%d, %zu vs %zu bytes", s1, s3, n1, n3);
        free(b1), free(b3);
        char tmpm[1100];
        snprintf(tmpm, sizeof tmpm, "%s.tmp-%ld", dmc, (long)getpid());
        om.threads = 2;
        int clean = 1, interrupted = 0;
        for (int k = 0; k < 40; k++) {
            canceller cn = {0, 0.0005 * k};
            om.cancel = &cn.flag;
            /* the cancel flag is raised by the progress of time, from a second thread */
            pthread_t th;
            int started = pthread_create(&th, NULL, cancel_later, &cn) == 0;
            pg_status sc = pg_prepare_run(many, dmc, &om);
            if (started) pthread_join(th, NULL);
            if (sc == PG_ERR_INTERRUPTED) {
                interrupted++;
                clean &= access(dmc, F_OK) != 0 && access(tmpm, F_OK) != 0;
            } else {
                clean &= sc == PG_OK;
                unlink(dmc);
            }
        }
        om.cancel = NULL;
        test_check(clean && interrupted > 0, "cancel_mid_run_clean",
                   "%d interrupted runs, clean %d", interrupted, clean);
    }

    /* truncated and foreign dataset files are refused with a clear message */
    if (ds) {
        FILE *f = fopen(ds_path, "rb"), *g;
        char tr[1024];
        path_of(tr, "out/truncated.pgd");
        g = fopen(tr, "wb");
        char buf[8192];
        size_t got = fread(buf, 1, sizeof buf, f);
        fwrite(buf, 1, got, g);
        fclose(f), fclose(g);
        pg_dataset *bad = NULL;
        s = pg_dataset_open(tr, &bad);
        test_check(s == PG_ERR_FORMAT && strstr(pg_error_message(), "truncated"),
                   "truncated_refused", "status %d: %s", s, pg_error_message());
        pg_dataset_close(bad);
        s = pg_dataset_open(report_p, &bad);
        test_check(s == PG_ERR_FORMAT && strstr(pg_error_message(), "not a progan dataset"),
                   "foreign_refused", "status %d: %s", s, pg_error_message());
        pg_dataset_close(bad);
    }
    pg_dataset_close(ds);
    free(pat), free(pat2);
    path_of(p, "src/noperm.jpg");
    chmod(p, 0644);
    char cmd[1200];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", root);
    if (system(cmd) != 0) fprintf(stderr, "note: could not remove %s\n", root);
    return test_finish("test_data_prepare");
}
