/* bench/allreduce: the gradient exchange of data parallelism for the paper
 * network at 1024x1024, per phase: the floats of the D and G gradients (from
 * the real step graphs), the bytes each rank sends per iteration, and the
 * measured time of src/dist's fixed-order sum of exactly that many floats.
 * One JSON line per phase from rank 0. usage: mpirun -np N bench_allreduce
 * [--reps N] [--preset paper] [--resolution R] */
#include "dist/dist.h"
#include "train/step.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Best time of reps fixed-order sums of n floats (after one warm-up). */
static double time_sum(float *buf, size_t n, int reps) {
    double best = 1e30;
    for (int k = 0; k <= reps; k++) {
        for (size_t i = 0; i < n; i += 1024) buf[i] = 1.0f;
        if (pg_dist_max_int(&(int){0}) != PG_OK) return -1; /* start together */
        double t0 = pg_time_now();
        if (pg_dist_sum_floats(buf, n, 0.5f) != PG_OK) return -1;
        double t = pg_time_now() - t0;
        if (k > 0 && t < best) best = t;
    }
    return best;
}

/* One phase: gradient sizes from the step graphs, then the timed sums. */
static pg_status phase(pg_vk_context *ctx, pg_train_options *o, pg_train_state *s, int res,
                       int fading, float *buf, int reps) {
    uint64_t bytes[3], d = 0, g = 0;
    PG_TRY(pg_step_measure(ctx, o, s, res, 1, fading, 1, 0, NULL, bytes, &d, NULL));
    PG_TRY(pg_step_measure(ctx, o, s, res, 1, fading, 0, 0, NULL, bytes, &g, NULL));
    double td = time_sum(buf, d, reps), tg = time_sum(buf, g, reps);
    if (td < 0 || tg < 0) return PG_ERR_IO;
    int n = pg_dist_size();
    double sent = 2.0 * (n - 1) / n * 4.0 * (double)(d + g); /* reduce-scatter + allgather */
    if (pg_dist_rank() == 0)
        printf(
            "{\"bench\":\"allreduce\",\"ranks\":%d,\"host_ranks\":%d,\"res\":%d,\"phase\":\"%s\","
            "\"d_floats\":%llu,\"g_floats\":%llu,\"bytes_sent_per_rank_per_iter\":%.0f,"
            "\"ms_d\":%.3f,\"ms_g\":%.3f,\"ms_per_iter\":%.3f,\"GBps_per_rank\":%.3f}\n",
            n, pg_dist_local_size(), res, fading ? "fade-in" : "stable", (unsigned long long)d,
            (unsigned long long)g, sent, td * 1e3, tg * 1e3, (td + tg) * 1e3,
            sent / (td + tg) / 1e9);
    fflush(stdout);
    return PG_OK;
}

int main(int argc, char **argv) {
    int reps = 5, resolution = 1024;
    const char *preset = "paper";
    for (int i = 1; i + 1 < argc; i += 2) {
        if (!strcmp(argv[i], "--reps")) reps = atoi(argv[i + 1]);
        if (!strcmp(argv[i], "--preset")) preset = argv[i + 1];
        if (!strcmp(argv[i], "--resolution")) resolution = atoi(argv[i + 1]);
    }
    pg_train_options o;
    pg_vk_context *ctx = NULL;
    pg_status st = pg_train_options_preset(&o, preset);
    o.model.resolution = resolution, o.model.channels = 3;
    if (st == PG_OK) st = pg_dist_init(NULL);
    if (st == PG_OK) st = pg_vk_context_create(-1, &ctx);
    pg_train_state s;
    memset(&s, 0, sizeof s);
    pg_model_generator_params(&o.model, &s.gset);
    pg_model_discriminator_params(&o.model, &s.dset);
    float *buf = calloc(PG_MAX(s.gset.total, s.dset.total), sizeof *buf);
    if (st == PG_OK && !buf) st = PG_FAIL(PG_ERR_OUT_OF_MEMORY, "out of host memory");
    for (int res = 4; st == PG_OK && res <= resolution; res *= 2)
        for (int fading = res > 4; st == PG_OK && fading >= 0; fading--)
            st = phase(ctx, &o, &s, res, fading, buf, reps);
    if (st != PG_OK) fprintf(stderr, "bench_allreduce: %s\n", pg_error_message());
    free(buf);
    if (ctx) pg_vk_context_destroy(ctx);
    pg_dist_finalize(st != PG_OK);
    return st == PG_OK ? 0 : 1;
}
