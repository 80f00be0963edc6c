/* bench/step: the recorded D step and G step of one training phase, timed
 * (GPU timestamps where the device has them, else wall clock): one JSON line
 * with ms per step and sec/kimg, and the phase's predicted time: the roofline
 * bound at the device's peak (known device or --peak-*) and, with
 * PROGAN_PROFILE=1, the sum of the measured per-op kernel times; then one
 * "step_op" line per (step, op) with FLOPs, bytes, roofline and measured ms.
 * --reps 0 builds the phase and predicts without timing.
 * usage: bench_step [--res R] [--batch N] [--fmap-base N] [--fmap-max N]
 *                   [--fmap-decay X] [--channels C] [--fading] [--reps N] [--device N]
 *                   [--peak-gflops X] [--peak-gbps Y] */
#include "graph/ops.h"
#include "train/step.h"

#include <math.h>
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

/* One "step_op" JSON line per op of a step: cost, roofline bound, measured ms. */
static void print_step_ops(pg_step *st, const char *which, double gflops, double gbps) {
    double ms[PG_OP_COUNT], flops[PG_OP_COUNT] = {0}, bytes[PG_OP_COUNT] = {0};
    double bound[PG_OP_COUNT] = {0};
    int calls[PG_OP_COUNT], nodes[PG_OP_COUNT] = {0};
    int measured = pg_plan_op_times(st->plan, ms, calls);
    for (pg_tensor t = 0; t < st->graph->count; t++) {
        double f, b;
        pg_node_cost(st->graph, t, &f, &b);
        if (b <= 0) continue;
        int op = st->graph->nodes[t].op;
        flops[op] += f, bytes[op] += b, nodes[op]++;
        if (gflops > 0 && gbps > 0) bound[op] += fmax(f / (gflops * 1e9), b / (gbps * 1e9));
    }
    for (int op = 0; op < PG_OP_COUNT; op++) {
        if (!nodes[op]) continue;
        printf("{\"bench\":\"step_op\",\"res\":%d,\"batch\":%d,\"step\":\"%s\",\"op\":\"%s\","
               "\"nodes\":%d,\"gflop\":%.4f,\"mbytes\":%.3f",
               st->res, st->batch, which, pg_ops[op].name, nodes[op], flops[op] * 1e-9,
               bytes[op] * 1e-6);
        if (gflops > 0 && gbps > 0) printf(",\"roofline_ms\":%.4f", bound[op] * 1e3);
        if (measured) printf(",\"ms\":%.4f", ms[op]);
        if (measured && ms[op] > 0) printf(",\"gflops\":%.2f", flops[op] / ms[op] * 1e-6);
        printf("}\n");
    }
}

/* Milliseconds of the step's kernels measured one by one (0 unless profiled). */
static double kernel_ms(pg_step *st) {
    double ms[PG_OP_COUNT], total = 0;
    int calls[PG_OP_COUNT];
    pg_plan_op_times(st->plan, ms, calls);
    for (int op = 0; op < PG_OP_COUNT; op++) total += ms[op];
    return total;
}

int main(int argc, char **argv) {
    pg_train_options o;
    pg_train_options_preset(&o, "default");
    int res = 32, batch = 16, fading = 0, reps = 3;
    double peak_gflops = 0, peak_gbps = 0;
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
        else if (v && !strcmp(argv[i], "--peak-gflops"))
            peak_gflops = atof(v), i++;
        else if (v && !strcmp(argv[i], "--peak-gbps"))
            peak_gbps = atof(v), i++;
        else {
            fprintf(stderr,
                    "usage: bench_step [--res R] [--batch N] [--fmap-base N] [--fmap-max N] "
                    "[--fmap-decay X] [--channels C] [--fading] [--reps N] [--device N] "
                    "[--peak-gflops X] [--peak-gbps Y]\n");
            return 2;
        }
    }
    o.model.resolution = res;
    pg_train_options_resolve(&o);
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
    double td = reps > 0 ? time_step(&d, &o.model, reps) : 0;
    double tg = reps > 0 ? time_step(&g, &o.model, reps) : 0;
    if (peak_gflops <= 0) pg_device_peak(ctx->info.name, &peak_gflops, &peak_gbps);
    double rd = 0, rg = 0;
    if (peak_gflops > 0 && peak_gbps > 0) {
        rd = pg_graph_roofline_seconds(d.graph, peak_gflops, peak_gbps);
        rg = pg_graph_roofline_seconds(g.graph, peak_gflops, peak_gbps);
    }
    if (getenv("PROGAN_PROFILE")) {
        fprintf(stderr, "D step:\n");
        pg_plan_profile_print(d.plan, stderr);
        fprintf(stderr, "G step:\n");
        pg_plan_profile_print(g.plan, stderr);
    }
    printf("{\"bench\":\"step\",\"res\":%d,\"batch\":%d,\"fading\":%s,\"fmap_base\":%d,"
           "\"fmap_max\":%d,\"channels\":%d,\"d_step_ms\":%.2f,\"g_step_ms\":%.2f,"
           "\"step_ms\":%.2f,\"sec_per_kimg\":%.3f,\"d_kernels\":%d,\"g_kernels\":%d,"
           "\"activations_mib\":%.1f,\"kernel_sum_ms\":%.2f,\"peak_gflops\":%.0f,"
           "\"peak_gbps\":%.0f,\"roofline_d_ms\":%.3f,\"roofline_g_ms\":%.3f,"
           "\"roofline_step_ms\":%.3f,\"device\":\"%s\"}\n",
           res, batch, fading ? "true" : "false", o.model.fmap_base, o.model.fmap_max,
           o.model.channels, td * 1e3, tg * 1e3, (td + tg) * 1e3, (td + tg) / batch * 1000.0,
           pg_plan_dispatch_count(d.plan), pg_plan_dispatch_count(g.plan),
           (pg_plan_arena_bytes(d.plan) + pg_plan_arena_bytes(g.plan)) / 1048576.0,
           kernel_ms(&d) + kernel_ms(&g), peak_gflops, peak_gbps, rd * 1e3, rg * 1e3,
           (rd + rg) * 1e3, ctx->info.name);
    print_step_ops(&d, "D", peak_gflops, peak_gbps);
    print_step_ops(&g, "G", peak_gflops, peak_gbps);
    pg_step_destroy(&d);
    pg_step_destroy(&g);
    pg_train_state_destroy(ctx, &state);
    pg_vk_context_destroy(ctx);
    return 0;
}
