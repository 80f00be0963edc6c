/* bench/ops: the conv family (3x3) at the paper network's shapes and its dense
 * layers (matmul), one JSON line per (op, shape) with FLOPs, bytes, GFLOP/s,
 * GB/s and the fraction of the device's peak (roofline). Each kernel is first
 * spot-checked against a float64 dot product, then timed with GPU timestamps
 * (wall clock where the device has none). $PROGAN_CONV picks the variant.
 * usage: bench_ops [--preset paper|small] [--batch N (0: the preset's per resolution)]
 *        [--device N] [--max-res R] [--min-res R] [--reps N] [--peak-gflops X] [--peak-gbps Y] */
#include "graph/graph.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct {
    int res, channels, batch; /* the paper's minibatch at that resolution */
} shape_row;

static const shape_row progan_shapes[] = {{4, 512, 128}, {8, 512, 128}, {16, 512, 128},
                                          {32, 512, 64}, {64, 256, 32}, {128, 128, 16},
                                          {256, 64, 8},  {512, 32, 4},  {1024, 16, 4}, {0}};
/* The small preset (fmap_base 128, fmap_max 32) at bench_step's batch 16: the
 * 8-32 channel layers where per-dispatch and per-load costs dominate. */
static const shape_row small_shapes[] = {{4, 32, 16}, {8, 32, 16}, {16, 16, 16}, {32, 8, 16}, {0}};

enum { OP_CONV, OP_INPUT_GRAD, OP_WEIGHT_GRAD, OP_DENSE_G, OP_DENSE_D };
static const char *op_names[] = {"conv2d", "conv2d_input_grad", "conv2d_weight_grad",
                                 "matmul_dense_g", "matmul_dense_d"};

/* The float64 value of output element i of the op, computed directly. */
static double reference_element(int op, int n, int r, int c, const float *a, const float *b,
                                size_t i) {
    double acc = 0;
    if (op >= OP_DENSE_G) { /* a [n, K], b [K, N] */
        int k = op == OP_DENSE_G ? c : c * 16, cols = op == OP_DENSE_G ? c * 16 : c;
        size_t row = i / (size_t)cols, col = i % (size_t)cols;
        for (int j = 0; j < k; j++) acc += (double)a[row * k + j] * b[(size_t)j * cols + col];
        return acc;
    }
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

typedef struct {
    double gflops, gbps; /* 0: unknown */
} peak;

/* The op's graph: inputs a, b and output y. Dense layers: G's first (latent c
 * -> 4x4xc) and D's last-but-one (4x4xc -> c) at the 4x4 shape's channels. */
static pg_tensor build_op(pg_graph *g, int op, int batch, int r, int c, pg_tensor *a,
                          pg_tensor *b) {
    if (op == OP_DENSE_G || op == OP_DENSE_D) {
        int k = op == OP_DENSE_G ? c : 16 * c, n = op == OP_DENSE_G ? 16 * c : c;
        *a = pg_input(g, "a", batch, 1, 1, k);
        *b = pg_input(g, "b", k, 1, 1, n);
        return pg_matmul(g, *a, *b, 0, 0, 1.0f);
    }
    *a = pg_input(g, "a", batch, r, r, c);
    *b = op == OP_WEIGHT_GRAD ? pg_input(g, "b", batch, r, r, c) : pg_input(g, "w", 3, 3, c, c);
    return op == OP_CONV         ? pg_conv2d(g, *a, *b, 1.0f)
           : op == OP_INPUT_GRAD ? pg_conv2d_input_grad(g, *a, *b, 1.0f)
                                 : pg_conv2d_weight_grad(g, *a, *b, 3, 1.0f);
}

/* Largest relative error of 16 output elements against float64. */
static double spot_check(pg_plan *plan, const pg_graph *g, int op, int batch, int r, int c,
                         pg_tensor a, pg_tensor b, pg_tensor y, double flops) {
    double worst = 0;
    size_t ny = (size_t)pg_tensor_numel(g, y);
    for (int k = 0; k < 16; k++) {
        size_t i = ((size_t)((double)k / 16 * ny) + (size_t)k * 7 % ny) % ny;
        double ref =
            reference_element(op, batch, r, c, pg_plan_input(plan, a), pg_plan_input(plan, b), i);
        double err =
            fabs(pg_plan_output(plan, y)[i] - ref) / fmax(fabs(ref), 1e-3 * sqrt(flops / ny));
        if (!(err <= worst)) worst = err;
    }
    return worst;
}

/* The roofline fields of one JSON line: attainable GFLOP/s at this arithmetic
 * intensity, and the fractions of peak and of that bound reached. */
static void print_roofline(peak pk, double flops, double bytes, double seconds) {
    double got = flops / seconds * 1e-9;
    printf(",\"flops\":%.4g,\"bytes\":%.4g,\"intensity\":%.2f", flops, bytes, flops / bytes);
    if (pk.gflops <= 0) return;
    double bound = pk.gbps > 0 ? fmin(pk.gflops, flops / bytes * pk.gbps) : pk.gflops;
    printf(",\"peak_gflops\":%.0f,\"peak_gbps\":%.0f,\"roofline_gflops\":%.0f,"
           "\"frac_peak\":%.4f,\"frac_roofline\":%.4f",
           pk.gflops, pk.gbps, bound, got / pk.gflops, got / bound);
}

/* Builds, validates and times one op at one shape; prints its JSON line. */
static int bench_one(pg_vk_context *ctx, peak pk, int op, int batch, int r, int c, int reps) {
    pg_graph *g = pg_graph_create();
    pg_tensor a, b, y = build_op(g, op, batch, r, c, &a, &b);
    pg_plan *plan = NULL;
    double flops, bytes;
    pg_node_cost(g, y, &flops, &bytes);
    const char *variant = getenv("PROGAN_CONV") ? getenv("PROGAN_CONV") : "auto";
    if (pg_plan_create(ctx, g, &y, 1, &plan) != PG_OK) {
        printf("{\"op\":\"%s\",\"batch\":%d,\"res\":%d,\"channels\":%d,\"skipped\":\"%s\"}\n",
               op_names[op], batch, r, c, pg_error_message());
        pg_graph_destroy(g);
        return 0;
    }
    fill(pg_plan_input(plan, a), (size_t)pg_tensor_numel(g, a), 1);
    fill(pg_plan_input(plan, b), (size_t)pg_tensor_numel(g, b), 2);
    int rc = pg_plan_run(plan) == PG_OK ? 0 : 1;
    double worst = rc ? INFINITY : spot_check(plan, g, op, batch, r, c, a, b, y, flops);
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
    printf("{\"op\":\"%s\",\"batch\":%d,\"res\":%d,\"channels\":%d,\"variant\":\"%s\","
           "\"ms\":%.3f,\"gflops\":%.2f,\"gbps\":%.2f",
           op_names[op], batch, r, c, variant, best * 1e3, flops / best * 1e-9,
           bytes / best * 1e-9);
    print_roofline(pk, flops, bytes, best);
    printf(",\"valid\":%s,\"max_rel_err\":%.2e,\"device\":\"%s\"}\n", valid ? "true" : "false",
           worst, ctx->info.name);
    fflush(stdout);
    pg_plan_destroy(plan);
    pg_graph_destroy(g);
    return rc || !valid;
}

int main(int argc, char **argv) {
    int batch = 0, device = -1, max_res = 1024, min_res = 4, reps = 10;
    const shape_row *shapes = progan_shapes;
    double peak_gflops = 0, peak_gbps = 0;
    for (int i = 1; i < argc; i++) {
        const char *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (v && !strcmp(argv[i], "--preset") && (!strcmp(v, "paper") || !strcmp(v, "small")))
            shapes = !strcmp(v, "small") ? small_shapes : progan_shapes, i++;
        else if (v && !strcmp(argv[i], "--batch"))
            batch = atoi(v), i++;
        else if (v && !strcmp(argv[i], "--device"))
            device = atoi(v), i++;
        else if (v && !strcmp(argv[i], "--max-res"))
            max_res = atoi(v), i++;
        else if (v && !strcmp(argv[i], "--min-res"))
            min_res = atoi(v), i++;
        else if (v && !strcmp(argv[i], "--reps"))
            reps = atoi(v), i++;
        else if (v && !strcmp(argv[i], "--peak-gflops"))
            peak_gflops = atof(v), i++;
        else if (v && !strcmp(argv[i], "--peak-gbps"))
            peak_gbps = atof(v), i++;
        else {
            fprintf(stderr, "usage: bench_ops [--preset paper|small] [--batch N (0: the "
                            "preset's per resolution)] [--device N] [--max-res R] [--min-res R] [--reps N] "
                            "[--peak-gflops X] [--peak-gbps Y]\n");
            return 2;
        }
    }
    pg_vk_context *ctx;
    if (pg_vk_context_create(device, &ctx) != PG_OK) {
        fprintf(stderr, "bench_ops: %s\n", pg_error_message());
        return 1;
    }
    peak pk;
    pg_device_peak(ctx->info.name, &pk.gflops, &pk.gbps);
    if (peak_gflops > 0) pk = (peak){peak_gflops, peak_gbps};
    int failures = 0;
    for (const shape_row *row = shapes; row->res; row++) {
        if (row->res > max_res || row->res < min_res) continue;
        int n = batch > 0 ? batch : row->batch;
        for (int op = OP_CONV; op <= (row->res == 4 ? OP_DENSE_D : OP_WEIGHT_GRAD); op++)
            failures += bench_one(ctx, pk, op, n, row->res, row->channels, reps);
    }
    pg_vk_context_destroy(ctx);
    return failures ? 1 : 0;
}
