/* bench/inception: FID Inception features on the device: images per second at
 * 299x299 (pytorch-fid's size) for batches of uint8 images, with random weights
 * unless --inception FILE is given (the time does not depend on the values).
 * usage: bench_inception [--inception FILE] [--batch N] [--res R] [--size S]
 *                        [--reps N] [--device N] */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "model/inception.h"

int main(int argc, char **argv) {
    const char *file = NULL;
    int batch = 4, res = 64, size = PG_INCEPTION_SIZE, reps = 2, device = -1;
    for (int i = 1; i + 1 < argc; i += 2) {
        const char *a = argv[i], *v = argv[i + 1];
        if (!strcmp(a, "--inception"))
            file = v;
        else if (!strcmp(a, "--batch"))
            batch = atoi(v);
        else if (!strcmp(a, "--res"))
            res = atoi(v);
        else if (!strcmp(a, "--size"))
            size = atoi(v);
        else if (!strcmp(a, "--reps"))
            reps = atoi(v) < 1 ? 1 : atoi(v);
        else if (!strcmp(a, "--device"))
            device = atoi(v);
        else {
            fprintf(stderr, "bench_inception: unknown argument %s\n", a);
            return 2;
        }
    }
    pg_vk_context *ctx = NULL;
    pg_inception *net = NULL;
    pg_inception_runner *r = NULL;
    pg_status st = pg_vk_context_create(device, &ctx);
    if (st == PG_OK)
        st = file ? pg_inception_load(file, &net) : pg_inception_create_random(1, &net);
    if (st == PG_OK) st = pg_inception_runner_create(ctx, net, batch, res, 3, size, &r);
    uint8_t *img = malloc((size_t)batch * res * res * 3);
    float *feat = malloc((size_t)batch * PG_INCEPTION_FEATURES * sizeof(float));
    for (size_t i = 0; img && i < (size_t)batch * res * res * 3; i++) img[i] = (uint8_t)(i * 7);
    double best = 1e30;
    for (int k = 0; st == PG_OK && k < reps + 1; k++) { /* the first run warms caches up */
        double t0 = pg_time_now();
        st = pg_inception_runner_run(r, img, batch, feat, NULL);
        double t = pg_time_now() - t0;
        if (k > 0 && t < best) best = t;
    }
    if (st == PG_OK) {
        printf("{\"bench\": \"inception\", \"device\": \"%s\", \"size\": %d, \"res\": %d, "
               "\"batch\": %d, \"seconds_per_batch\": %.4f, \"images_per_s\": %.3f}\n",
               ctx->info.name, size, res, batch, best, batch / best);
        if (getenv("PROGAN_PROFILE")) pg_inception_runner_profile(r, stdout);
    } else
        fprintf(stderr, "bench_inception: %s\n", pg_error_message());
    free(img);
    free(feat);
    pg_inception_runner_destroy(r);
    pg_inception_destroy(net);
    if (ctx) pg_vk_context_destroy(ctx);
    return st == PG_OK ? 0 : 1;
}
