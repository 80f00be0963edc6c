/* bench/step: the recorded D step and G step of one training phase, timed
 * (GPU timestamps where the device has them, else wall clock): one JSON line
 * with ms per step and sec/kimg; PROGAN_PROFILE=1 adds the per-kernel tables.
 * usage: bench_step [--res R] [--batch N] [--fmap-base N] [--fmap-max N]
 *                   [--fmap-decay X] [--channels C] [--fading] [--reps N] [--device N] */
#include "train/step.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Runs a step reps times with random inputs; returns the best seconds. */
static double time_step(pg_step *st, const pg_model_config *c, int reps) {
    size_t n = (size_t)st->batch, z = (size_t)pg_model_latent(c);
    pg_rand_normal_fill(pg_plan_input(st->plan, st->latents), n * z, 1, 0, 1);
    if (st->reals >= 0)
        pg_rand_normal_fill(pg_plan_input(st->plan, st->reals), n * st->res * st->res * c->channels,
                            1, 0, 2);
    if (st->mix >= 0)
        for (size_t i = 0; i < n; i++) pg_plan_input(st->plan, st->mix)[i] = 0.5f;
    if (st->alpha >= 0) pg_plan_input(st->plan, st->alpha)[0] = 0.5f;
    pg_plan_input(st->plan, st->lr)[0] = 1e-4f;
    double best = 1e30;
    for (int k = 0; k < reps + 1; k++) { /* the first run warms caches up */
        double t0 = pg_time_now();
        if (pg_plan_run(st->plan) != PG_OK) return -1;
        double t = pg_plan_gpu_seconds(st->plan);
        if (t <= 0 || getenv("PROGAN_PROFILE")) t = pg_time_now() - t0;
        if (k > 0 && t < best) best = t;
    }
    return best;
}

int main(int argc, char **argv) {
    pg_train_options o;
    pg_train_options_preset(&o, "default");
    int res = 32, batch = 16, fading = 0, reps = 3;
    o.model.channels = 3;
    for (int i = 1; i < argc; i++) {
        const char *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (!strcmp(argv[i], "--fading"))
            fading = 1;
        else if (v && !strcmp(argv[i], "--res"))
            res = atoi(v), i++;
        else if (v && !strcmp(argv[i], "--batch"))
            batch = atoi(v), i++;
        else if (v && !strcmp(argv[i], "--fmap-base"))
            o.model.fmap_base = atoi(v), i++;
        else if (v && !strcmp(argv[i], "--fmap-max"))
            o.model.fmap_max = atoi(v), i++;
        else if (v && !strcmp(argv[i], "--fmap-decay"))
            o.model.fmap_decay = (float)atof(v), i++;
        else if (v && !strcmp(argv[i], "--channels"))
            o.model.channels = atoi(v), i++;
        else if (v && !strcmp(argv[i], "--reps"))
            reps = atoi(v), i++;
        else if (v && !strcmp(argv[i], "--device"))
            o.device = atoi(v), i++;
        else {
            fprintf(stderr,
                    "usage: bench_step [--res R] [--batch N] [--fmap-base N] [--fmap-max N] "
                    "[--fmap-decay X] [--channels C] [--fading] [--reps N] [--device N]\n");
            return 2;
        }
    }
    o.model.resolution = res;
    pg_vk_context *ctx;
    pg_train_state state;
    pg_step d, g;
    if (pg_train_options_check(&o, 0) != PG_OK || pg_vk_context_create(o.device, &ctx) != PG_OK) {
        fprintf(stderr, "bench_step: %s\n", pg_error_message());
        return 1;
    }
    pg_status st = pg_train_state_create(ctx, &o.model, &state);
    if (st == PG_OK) st = pg_step_create(ctx, &o, &state, res, batch, fading, 1, 1, &d);
    if (st == PG_OK) st = pg_step_create(ctx, &o, &state, res, batch, fading, 0, 1, &g);
    if (st != PG_OK) {
        fprintf(stderr, "bench_step: %s\n", pg_error_message());
        return 1;
    }
    double td = time_step(&d, &o.model, reps), tg = time_step(&g, &o.model, reps);
    if (getenv("PROGAN_PROFILE")) {
        fprintf(stderr, "D step:\n");
        pg_plan_profile_print(d.plan, stderr);
        fprintf(stderr, "G step:\n");
        pg_plan_profile_print(g.plan, stderr);
    }
    printf("{\"bench\":\"step\",\"res\":%d,\"batch\":%d,\"fading\":%s,\"fmap_base\":%d,"
           "\"fmap_max\":%d,\"channels\":%d,\"d_step_ms\":%.2f,\"g_step_ms\":%.2f,"
           "\"sec_per_kimg\":%.3f,\"d_kernels\":%d,\"g_kernels\":%d,\"activations_mib\":%.1f,"
           "\"device\":\"%s\"}\n",
           res, batch, fading ? "true" : "false", o.model.fmap_base, o.model.fmap_max,
           o.model.channels, td * 1e3, tg * 1e3, (td + tg) / batch * 1000.0,
           pg_plan_dispatch_count(d.plan), pg_plan_dispatch_count(g.plan),
           (pg_plan_arena_bytes(d.plan) + pg_plan_arena_bytes(g.plan)) / 1048576.0, ctx->info.name);
    pg_step_destroy(&d);
    pg_step_destroy(&g);
    pg_train_state_destroy(ctx, &state);
    pg_vk_context_destroy(ctx);
    return 0;
}
