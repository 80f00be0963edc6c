/* bench/ops: GFLOP/s and GB/s of conv2d, conv2d_input_grad and
 * conv2d_weight_grad at the ProGAN shapes, one JSON line per (op, shape).
 * Each kernel is first spot-checked against a float64 dot product, then timed
 * with GPU timestamps (wall clock where the device has none).
 * usage: bench_ops [--batch N] [--device N] [--max-res R] [--min-res R] [--reps N] */
#include "graph/graph.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct {
    int res, channels;
} shape_row;

static const shape_row progan_shapes[] = {{4, 512},   {8, 512},  {16, 512}, {32, 512}, {64, 256},
                                          {128, 128}, {256, 64}, {512, 32}, {1024, 16}};

static const char *op_names[3] = {"conv2d", "conv2d_input_grad", "conv2d_weight_grad"};

/* The float64 value of output element i of the op, computed directly. */
static double reference_element(int op, int n, int r, int c, const float *a, const float *b,
                                size_t i) {
    double acc = 0;
    if (op < 2) {
        int ch = (int)(i % (size_t)c);
        size_t pix = i / (size_t)c;
        int x = (int)(pix % (size_t)r), y = (int)(pix / (size_t)r % (size_t)r);
        int img = (int)(pix / ((size_t)r * r));
        for (int ky = 0; ky < 3; ky++)
            for (int kx = 0; kx < 3; kx++) {
                int sy = op == 0 ? y + ky - 1 : y - ky + 1, sx = op == 0 ? x + kx - 1 : x - kx + 1;
                if (sy < 0 || sy >= r || sx < 0 || sx >= r) continue;
                for (int k = 0; k < c; k++) {
                    double va = a[(((size_t)img * r + sy) * r + sx) * c + k];
                    double wb = op == 0 ? b[((size_t)(ky * 3 + kx) * c + k) * c + ch]
                                        : b[((size_t)(ky * 3 + kx) * c + ch) * c + k];
                    acc += va * wb;
                }
            }
    } else {
        int co = (int)(i % (size_t)c), ci = (int)(i / (size_t)c % (size_t)c);
        int tap = (int)(i / ((size_t)c * c)), ky = tap / 3, kx = tap % 3;
        for (int img = 0; img < n; img++)
            for (int y = 0; y < r; y++)
                for (int x = 0; x < r; x++) {
                    int sy = y + ky - 1, sx = x + kx - 1;
                    if (sy < 0 || sy >= r || sx < 0 || sx >= r) continue;
                    acc += (double)a[(((size_t)img * r + sy) * r + sx) * c + ci] *
                           b[(((size_t)img * r + y) * r + x) * c + co];
                }
    }
    return acc;
}

static void fill(float *x, size_t n, unsigned seed) {
    for (size_t i = 0; i < n; i++) {
        seed = seed * 1664525u + 1013904223u;
        x[i] = (float)((seed >> 8) * (1.0 / 16777216.0) * 2 - 1);
    }
}

/* Builds, validates and times one op at one shape; prints its JSON line. */
static int bench_one(pg_vk_context *ctx, int op, int batch, int r, int c, int reps) {
    pg_graph *g = pg_graph_create();
    pg_tensor a = pg_input(g, "a", op == 2 ? batch : batch, r, r, c);
    pg_tensor b = op == 2 ? pg_input(g, "b", batch, r, r, c) : pg_input(g, "w", 3, 3, c, c);
    pg_tensor y = op == 0   ? pg_conv2d(g, a, b, 1.0f)
                  : op == 1 ? pg_conv2d_input_grad(g, a, b, 1.0f)
                            : pg_conv2d_weight_grad(g, a, b, 3, 1.0f);
    pg_plan *plan = NULL;
    double flops = 2.0 * batch * r * r * (double)c * c * 9;
    double bytes = 4.0 * (2.0 * batch * r * r * c + 9.0 * c * c);
    if (pg_plan_create(ctx, g, &y, 1, &plan) != PG_OK) {
        printf("{\"op\":\"%s\",\"batch\":%d,\"res\":%d,\"channels\":%d,\"skipped\":\"%s\"}\n",
               op_names[op], batch, r, c, pg_error_message());
        pg_graph_destroy(g);
        return 0;
    }
    size_t na = (size_t)pg_tensor_numel(g, a), nb = (size_t)pg_tensor_numel(g, b);
    fill(pg_plan_input(plan, a), na, 1);
    fill(pg_plan_input(plan, b), nb, 2);
    int rc = pg_plan_run(plan) == PG_OK ? 0 : 1;
    double worst = 0;
    size_t ny = (size_t)pg_tensor_numel(g, y);
    for (int k = 0; k < 16 && rc == 0; k++) {
        size_t i = (size_t)((double)k / 16 * ny) + (size_t)k * 7 % ny;
        i %= ny;
        double ref =
            reference_element(op, batch, r, c, pg_plan_input(plan, a), pg_plan_input(plan, b), i);
        double err =
            fabs(pg_plan_output(plan, y)[i] - ref) / fmax(fabs(ref), 1e-3 * sqrt(flops / ny));
        if (!(err <= worst)) worst = err;
    }
    int valid = worst < 1e-3;
    double best = 1e30;
    for (int k = 0; k < reps && rc == 0; k++) {
        double t0 = pg_time_now();
        rc = pg_plan_run(plan) == PG_OK ? 0 : 1;
        double t = pg_plan_gpu_seconds(plan);
        if (t <= 0) t = pg_time_now() - t0;
        if (t < best) best = t;
        if (best * (k + 1) > 2.0) break; /* enough samples for the slow (CPU) devices */
    }
    printf("{\"op\":\"%s\",\"batch\":%d,\"res\":%d,\"channels\":%d,\"ms\":%.3f,\"gflops\":%.2f,"
           "\"gbps\":%.2f,\"valid\":%s,\"max_rel_err\":%.2e,\"device\":\"%s\"}\n",
           op_names[op], batch, r, c, best * 1e3, flops / best * 1e-9, bytes / best * 1e-9,
           valid ? "true" : "false", worst, ctx->info.name);
    fflush(stdout);
    pg_plan_destroy(plan);
    pg_graph_destroy(g);
    return rc || !valid;
}

int main(int argc, char **argv) {
    int batch = 16, device = -1, max_res = 1024, min_res = 4, reps = 10;
    for (int i = 1; i < argc; i++) {
        if (i + 1 < argc && !strcmp(argv[i], "--batch"))
            batch = atoi(argv[++i]);
        else if (i + 1 < argc && !strcmp(argv[i], "--device"))
            device = atoi(argv[++i]);
        else if (i + 1 < argc && !strcmp(argv[i], "--max-res"))
            max_res = atoi(argv[++i]);
        else if (i + 1 < argc && !strcmp(argv[i], "--min-res"))
            min_res = atoi(argv[++i]);
        else if (i + 1 < argc && !strcmp(argv[i], "--reps"))
            reps = atoi(argv[++i]);
        else {
            fprintf(stderr, "usage: bench_ops [--batch N] [--device N] [--max-res R] "
                            "[--min-res R] [--reps N]\n");
            return 2;
        }
    }
    pg_vk_context *ctx;
    if (pg_vk_context_create(device, &ctx) != PG_OK) {
        fprintf(stderr, "bench_ops: %s\n", pg_error_message());
        return 1;
    }
    int failures = 0;
    for (size_t s = 0; s < sizeof progan_shapes / sizeof progan_shapes[0]; s++) {
        const shape_row *row = &progan_shapes[s];
        if (row->res > max_res || row->res < min_res) continue;
        for (int op = 0; op < 3; op++)
            failures += bench_one(ctx, op, batch, row->res, row->channels, reps);
    }
    pg_vk_context_destroy(ctx);
    return failures ? 1 : 0;
}
