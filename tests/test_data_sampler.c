/* tests/test_data_sampler: minibatches from a dataset file the test writes by hand:
 * values against a float64 reference of convert + mirror + fade, Philox determinism,
 * mirror/index statistics, and the worker thread matching the synchronous draw. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "data/dataset.h"
#include "data/sampler.h"
#include "testutil.h"

/* Writes a dataset of count random images, levels built with pg_ingest-independent sums. */
static void write_dataset(const char *path, int count, int R, int c) {
    pg_dataset_header h = {0};
    h.count = (uint32_t)count, h.channels = (uint32_t)c, h.resolution = (uint32_t)R;
    pg_dataset_header_layout(&h);
    uint8_t *file = calloc(h.file_size, 1);
    float *f = malloc(sizeof(float) * (size_t)count * R * R * c);
    test_fill_uniform_f(f, (size_t)count * R * R * c, 99);
    uint8_t *top = file + h.level_offset[0];
    for (size_t i = 0; i < (size_t)count * R * R * c; i++) top[i] = (uint8_t)((f[i] + 1) * 127.9f);
    for (uint32_t k = 1; k < h.levels; k++) {
        int r = (int)h.level_res[k], b = R / r;
        uint8_t *lv = file + h.level_offset[k];
        for (int n = 0; n < count; n++)
            for (int y = 0; y < r; y++)
                for (int x = 0; x < r; x++)
                    for (int ch = 0; ch < c; ch++) {
                        double s = 0;
                        for (int yy = 0; yy < b; yy++)
                            for (int xx = 0; xx < b; xx++)
                                s += top[(((size_t)n * R + y * b + yy) * R + x * b + xx) * c + ch];
                        lv[(((size_t)n * r + y) * r + x) * c + ch] =
                            (uint8_t)nearbyint(s / (b * b));
                    }
    }
    /* the pixel hash stays zero: the sampler never verifies it */
    pg_dataset_header_encode(&h, file);
    FILE *fp = fopen(path, "wb");
    fwrite(file, 1, h.file_size, fp);
    fclose(fp);
    free(file), free(f);
}

/* float64 reference of one sample: x*2/255-1, mirror, x + (up(avgpool(x)) - x) * frac */
static double ref_value(const uint8_t *img, int res, int c, int mirror, double frac, int y, int x,
                        int ch) {
    int sx = mirror ? res - 1 - x : x;
    double v = img[((size_t)y * res + sx) * c + ch] * 2.0 / 255.0 - 1.0;
    int by = y & ~1, bx = sx & ~1;
    double m = 0;
    for (int yy = 0; yy < 2; yy++)
        for (int xx = 0; xx < 2; xx++)
            m += img[((size_t)(by + yy) * res + bx + xx) * c + ch] * 2.0 / 255.0 - 1.0;
    m /= 4;
    return v + (m - v) * frac;
}

int main(void) {
    char path[512];
    snprintf(path, sizeof path, "%s/pg_sampler_%d.pgd",
             getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp", (int)getpid());
    int count = 13, R = 32;
    for (int c = 1; c <= 3; c += 2) {
        write_dataset(path, count, R, c);
        pg_dataset *ds;
        pg_status s = pg_dataset_open(path, &ds);
        if (!test_check(s == PG_OK, "open", "%s", pg_error_message())) break;
        for (int res = 4; res <= R; res *= 2) {
            int batch = 6;
            size_t n = (size_t)batch * res * res * c;
            float *a = malloc(sizeof(float) * n), *b = malloc(sizeof(float) * n);
            int idx[6], idx2[6];
            uint8_t mir[6], mir2[6];
            for (int fi = 0; fi < 2; fi++) {
                float frac = fi ? 0.3f : 0.0f;
                pg_sampler_draw(ds, batch, res, 1, 42, 7, frac, a, idx, mir, 2);
                double worst = 0;
                const uint8_t *lv = pg_dataset_level(ds, res);
                for (int i = 0; i < batch; i++)
                    for (int y = 0; y < res; y++)
                        for (int x = 0; x < res; x++)
                            for (int ch = 0; ch < c; ch++) {
                                double e = fabs(a[(((size_t)i * res + y) * res + x) * c + ch] -
                                                ref_value(lv + (size_t)idx[i] * res * res * c, res,
                                                          c, mir[i], frac, y, x, ch));
                                worst = e > worst ? e : worst;
                            }
                test_check(worst < 1e-5, "values_vs_float64", "c=%d res=%d frac=%.1f worst %g", c,
                           res, frac, worst);
            }
            /* the same (seed, iteration) draws the same batch; another iteration differs */
            pg_sampler_draw(ds, batch, res, 1, 42, 7, 0.3f, b, idx2, mir2, 1);
            test_check(!memcmp(a, b, sizeof(float) * n) && !memcmp(idx, idx2, sizeof idx),
                       "deterministic", "c=%d res=%d", c, res);
            pg_sampler_draw(ds, batch, res, 1, 42, 8, 0.3f, b, idx2, mir2, 1);
            test_check(memcmp(idx, idx2, sizeof idx) || memcmp(mir, mir2, sizeof mir),
                       "iteration_changes_batch", "c=%d res=%d", c, res);
            /* the worker thread, double-buffered, gives what the synchronous draw gives */
            pg_sampler *sp;
            s = pg_sampler_create(ds, batch, res, 1, 42, &sp);
            if (test_check(s == PG_OK, "create", "%s", pg_error_message())) {
                s = pg_sampler_begin(sp, 7, 0.3f, b);
                if (s == PG_OK) s = pg_sampler_wait(sp);
                test_check(s == PG_OK && !memcmp(a, b, sizeof(float) * n) &&
                               !memcmp(pg_sampler_indices(sp), idx, sizeof idx),
                           "worker_matches", "c=%d res=%d (%s)", c, res, pg_error_message());
                test_check(pg_sampler_begin(sp, 1, 1.5f, b) == PG_ERR_INVALID, "frac_checked",
                           "frac 1.5 accepted");
                pg_sampler_destroy(sp);
            }
            free(a), free(b);
        }
        /* statistics over many iterations: every index drawn, mirror about half the time */
        int seen[13] = {0}, mirrored = 0, draws = 0;
        float *buf = malloc(sizeof(float) * 16 * 4 * 4 * c);
        int idx[16];
        uint8_t mir[16];
        for (int it = 0; it < 200; it++) {
            pg_sampler_draw(ds, 16, 4, 1, 5, (uint64_t)it, 0, buf, idx, mir, 1);
            for (int i = 0; i < 16; i++) seen[idx[i]]++, mirrored += mir[i], draws++;
        }
        int all = 1;
        for (int i = 0; i < count; i++) all &= seen[i] > draws / count / 2;
        test_check(all, "indices_uniform", "some image drawn rarely");
        test_check(fabs((double)mirrored / draws - 0.5) < 0.05, "mirror_half", "%d of %d", mirrored,
                   draws);
        pg_sampler_draw(ds, 16, 4, 0, 5, 1, 0, buf, idx, mir, 1);
        int any = 0;
        for (int i = 0; i < 16; i++) any |= mir[i];
        test_check(!any, "mirror_off", "mirrored with mirror disabled");
        free(buf);
        pg_sampler *bad;
        test_check(pg_sampler_create(ds, 4, 64, 1, 0, &bad) == PG_ERR_INVALID, "res_checked",
                   "resolution 64 accepted on a 32 dataset");
        pg_dataset_close(ds);
    }
    unlink(path);
    return test_finish("test_data_sampler");
}
