/* bench/prepare: generates a folder of 1024x768 quality-90 JPEGs (or reuses one),
 * times pg_prepare_run at R=256 and R=1024 (images/s) with the time per step
 * (pg_prepare_timing: decode/resize/mipmaps in thread-seconds, the rest wall seconds),
 * the "transform only" rate (decode + crop + resize into memory, no mipmaps and no file:
 * what bench/prepare_pillow.py measures) and the sampler's minibatches/s at every
 * resolution with the default preset's batch sizes; one JSON line per figure.
 * usage: bench_prepare [--images N] [--dir DIR] [--keep] [--threads T]
 *                      [--resolutions 256,1024] [--no-transform] [--no-prepare] [--no-sampler] */
#include <math.h>
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <turbojpeg.h>
#include <unistd.h>

#include "data/dataset.h"
#include "data/ingest.h"
#include "data/sampler.h"
#include "data/walk.h"

/* Photo-like content: smooth gradients plus noise so the JPEGs are not trivially small. */
static int make_folder(const char *dir, int count) {
    mkdir(dir, 0755);
    int w = 1024, h = 768;
    uint8_t *pix = malloc((size_t)w * h * 3);
    tjhandle tj = tjInitCompress();
    uint32_t state = 12345;
    for (int i = 0; i < count; i++) {
        char path[1024];
        snprintf(path, sizeof path, "%s/img%05d.jpg", dir, i);
        if (access(path, F_OK) == 0) continue;
        for (int y = 0; y < h; y++)
            for (int x = 0; x < w; x++) {
                state = state * 1664525u + 1013904223u;
                int nz = (int)(state >> 27) - 16;
                uint8_t *q = pix + ((size_t)y * w + x) * 3;
                q[0] = (uint8_t)PG_MAX(0, PG_MIN(255, (x * 255 / w + i * 7) % 256 + nz));
                q[1] = (uint8_t)PG_MAX(
                    0, PG_MIN(255, (int)(127 + 100 * sin((x + y + i) * 0.01)) + nz));
                q[2] = (uint8_t)PG_MAX(0, PG_MIN(255, (y * 255 / h) + nz));
            }
        unsigned char *jpg = NULL;
        unsigned long n = 0;
        if (tjCompress2(tj, pix, w, 0, h, TJPF_RGB, &jpg, &n, TJSAMP_420, 90, 0) != 0) return 0;
        FILE *f = fopen(path, "wb");
        if (!f || fwrite(jpg, 1, n, f) != n) return 0;
        fclose(f);
        tjFree(jpg);
    }
    tjDestroy(tj);
    free(pix);
    return 1;
}

/* Decode + center crop + resize of every file into memory, threads in parallel: the
 * same work as bench/prepare_pillow.py. Returns 0 on failure. */
static int transform_only(const char *src, int R, int threads) {
    pg_walk_list l;
    if (pg_walk_list_create(src, &l) != PG_OK) return 0;
    int T = threads > 0 ? threads : omp_get_max_threads(), ok = 1, done = 0;
    double decode = 0, resize = 0, t = pg_time_now();
#pragma omp parallel num_threads(T) reduction(+ : decode, resize, done) reduction(&& : ok)
    {
        pg_ingest_worker *w = NULL;
        uint8_t *out = malloc((size_t)R * R * 3);
        ok = out && pg_ingest_worker_create(&w) == PG_OK;
        pg_ingest_params p = {R, 3, PG_CROP_CENTER, 0, 100000000ll};
        pg_ingest_result res;
#pragma omp for schedule(dynamic, 1)
        for (int i = 0; i < l.count; i++) {
            if (!w || !out) continue;
            pg_ingest_load_square(w, l.files[i].path, &p, out, &res);
            done += res.skip == PG_SKIP_NONE;
        }
        if (w) pg_ingest_worker_times(w, &decode, &resize);
        pg_ingest_worker_destroy(w);
        free(out);
    }
    double el = pg_time_now() - t;
    printf("{\"bench\":\"transform_only\",\"resolution\":%d,\"images\":%d,\"threads\":%d,"
           "\"seconds\":%.3f,\"images_per_s\":%.1f,\"decode_s\":%.3f,\"resize_s\":%.3f}\n",
           R, done, T, el, done / el, decode, resize);
    fflush(stdout);
    int n = l.count;
    pg_walk_list_destroy(&l);
    return ok && done == n;
}

int main(int argc, char **argv) {
    int images = 2000, keep = 0, threads = 0, do_transform = 1, do_prepare = 1, do_sampler = 1;
    int res_list[8] = {256, 1024}, nres = 2;
    const char *dir = NULL;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--images") && i + 1 < argc)
            images = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--dir") && i + 1 < argc)
            dir = argv[++i];
        else if (!strcmp(argv[i], "--keep"))
            keep = 1;
        else if (!strcmp(argv[i], "--threads") && i + 1 < argc)
            threads = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--resolutions") && i + 1 < argc) {
            nres = 0;
            for (char *p = argv[++i]; *p && nres < 8; p += *p == ',')
                res_list[nres++] = (int)strtol(p, &p, 10);
        } else if (!strcmp(argv[i], "--no-transform"))
            do_transform = 0;
        else if (!strcmp(argv[i], "--no-prepare"))
            do_prepare = 0;
        else if (!strcmp(argv[i], "--no-sampler"))
            do_sampler = 0;
        else {
            fprintf(stderr, "usage: bench_prepare [--images N] [--dir DIR] [--keep] [--threads T] "
                            "[--resolutions 256,1024] [--no-transform] [--no-prepare] "
                            "[--no-sampler]\n");
            return 2;
        }
    }
    char tmpdir[512], src[600], ds_path[700];
    snprintf(tmpdir, sizeof tmpdir, "%s/pg_bench_prepare_XXXXXX",
             getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp");
    if (!mkdtemp(tmpdir)) return 1;
    snprintf(src, sizeof src, "%s", dir ? dir : tmpdir);
    if (dir) mkdir(dir, 0755);
    double t0 = pg_time_now();
    if (!make_folder(dir ? dir : (strcat(src, "/src"), src), images)) {
        fprintf(stderr, "bench_prepare: cannot generate the JPEG folder\n");
        return 1;
    }
    fprintf(stderr, "bench_prepare: folder %s ready (%d JPEGs, %.1f s)\n", src, images,
            pg_time_now() - t0);
    for (int k = 0; k < nres; k++) {
        int R = res_list[k];
        if (do_transform && !transform_only(src, R, threads)) {
            fprintf(stderr, "bench_prepare: transform-only failed at R=%d\n", R);
            return 1;
        }
        if (!do_prepare) continue;
        snprintf(ds_path, sizeof ds_path, "%s/ds%d.pgd", tmpdir, R);
        pg_prepare_options o;
        pg_prepare_options_default(&o);
        o.resolution = R;
        o.quiet = 1;
        o.threads = threads;
        pg_prepare_timing tm;
        o.timing = &tm;
        double t = pg_time_now();
        if (pg_prepare_run(src, ds_path, &o) != PG_OK) {
            fprintf(stderr, "bench_prepare: %s\n", pg_error_message());
            return 1;
        }
        double el = pg_time_now() - t;
        pg_dataset *ds;
        if (pg_dataset_open(ds_path, &ds) != PG_OK || pg_dataset_count(ds) != images) {
            fprintf(stderr, "bench_prepare: the dataset is wrong: %s\n", pg_error_message());
            return 1;
        }
        printf("{\"bench\":\"prepare\",\"resolution\":%d,\"images\":%d,\"threads\":%d,"
               "\"seconds\":%.3f,\"images_per_s\":%.1f,\"list_s\":%.3f,\"convert_s\":%.3f,"
               "\"decode_s\":%.3f,\"resize_s\":%.3f,\"mipmaps_s\":%.3f,\"write_s\":%.3f,"
               "\"hash_s\":%.3f,\"finalize_s\":%.3f,\"commit_s\":%.3f,\"total_s\":%.3f}\n",
               R, images, threads, el, images / el, tm.list, tm.convert, tm.decode, tm.resize,
               tm.mipmaps, tm.write, tm.hash, tm.finalize, tm.commit, tm.total);
        fflush(stdout);
        if (R == 1024 && do_sampler) {
            static const int batch_of[9] = {128, 128, 128, 64, 32, 16, 8, 4, 4};
            for (int li = 0, res = 4; res <= R; res *= 2, li++) {
                int batch = batch_of[li];
                float *buf[2];
                for (int b = 0; b < 2; b++) buf[b] = malloc(sizeof(float) * batch * res * res * 3);
                pg_sampler *sp;
                if (pg_sampler_create(ds, batch, res, 1, 1, &sp) != PG_OK) return 1;
                int iters = 0;
                double ts = pg_time_now();
                pg_sampler_begin(sp, 0, 0.5f, buf[0]);
                while (pg_time_now() - ts < 1.0 || iters < 5) {
                    pg_sampler_wait(sp);
                    pg_sampler_begin(sp, (uint64_t)iters + 1, 0.5f, buf[(iters + 1) & 1]);
                    iters++;
                }
                pg_sampler_wait(sp);
                double se = pg_time_now() - ts;
                printf("{\"bench\":\"sampler\",\"resolution\":%d,\"batch\":%d,\"frac\":0.5,"
                       "\"minibatches_per_s\":%.1f,\"images_per_s\":%.0f,\"GB_per_s_out\":%.2f}\n",
                       res, batch, iters / se, iters * batch / se,
                       iters / se * batch * res * res * 3 * 4 / 1e9);
                fflush(stdout);
                pg_sampler_destroy(sp);
                free(buf[0]), free(buf[1]);
            }
        }
        pg_dataset_close(ds);
        unlink(ds_path);
    }
    char cmd[1200];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", keep || dir ? "/nonexistent-keep" : tmpdir);
    if (!keep && !dir)
        (void)!system(cmd);
    else {
        snprintf(cmd, sizeof cmd, "rm -f '%s'/prepare-report.txt; rmdir '%s' 2>/dev/null", tmpdir,
                 tmpdir);
        (void)!system(cmd);
    }
    return 0;
}
