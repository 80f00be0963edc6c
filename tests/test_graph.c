/* The executor and planner: replays with changed inputs, arena reuse by
 * liveness, in-place Adam and moving-average updates on persistent tensors
 * (with the non-finite skip flag), and the clear errors for bad graphs, bad
 * device indices and tensors that do not fit the device. */
#include "testutil.h"

#include "graph/ops.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Fills every input of plan with random values (seed), poisons the arena,
 * runs it, and returns the relative error of output `out` against float64. */
static double plan_error(pg_plan *plan, const pg_graph *g, pg_tensor out, uint64_t seed) {
    double **leaves = test_leaves_random(g, seed);
    for (int i = 0; i < g->count; i++) {
        float *dst = pg_plan_input(plan, i);
        for (long long k = 0; dst && k < pg_tensor_numel(g, i); k++) dst[k] = (float)leaves[i][k];
    }
    ref_values r;
    ref_eval(g, leaves, &r);
    double err = pg_plan_poison(plan, 0x7fc00000u) == PG_OK && pg_plan_run(plan) == PG_OK
                     ? test_norm_error(pg_plan_output(plan, out), r.values[out],
                                       (size_t)pg_tensor_numel(g, out))
                     : INFINITY;
    ref_values_free(&r);
    test_leaves_free(g, leaves);
    return err;
}

/* One plan replayed with three different input sets matches the reference each time. */
static void test_replay(pg_vk_context *ctx) {
    pg_graph *g = pg_graph_create();
    pg_tensor x = pg_input(g, "x", 3, 6, 5, 4), w = pg_input(g, "w", 3, 3, 4, 5);
    pg_tensor alpha = pg_input(g, "alpha", 1, 1, 1, 1);
    pg_tensor y = pg_conv2d(g, x, w, 0.5f);
    pg_tensor z = pg_lerp(g, y, pg_leaky_relu(g, y, 0.2f), alpha);
    pg_plan *plan;
    if (!test_check(pg_plan_create(ctx, g, &z, 1, &plan) == PG_OK, "replay", "plan: %s",
                    pg_error_message()))
        return;
    for (int run = 0; run < 3; run++) {
        double err = plan_error(plan, g, z, 300 + (uint64_t)run);
        test_check(err < 1e-5, "replay", "run %d: relative error %.3g", run, err);
    }
    /* timestamps keep only timestampValidBits (36 under PROGAN_EMULATE=intel or min) */
    double seconds = pg_plan_gpu_seconds(plan);
    test_check(!ctx->info.has_timestamps || (seconds > 0 && seconds < 60), "timestamps",
               "a small plan took %g s by its timestamps (%u valid bits)", seconds,
               ctx->info.timestamp_valid_bits);
    pg_plan_destroy(plan);
    pg_graph_destroy(g);
}

/* A chain of 40 ops needs a few live tensors at a time, not 40. */
static void test_arena_reuse(pg_vk_context *ctx) {
    pg_graph *g = pg_graph_create();
    pg_tensor x = pg_input(g, "x", 4, 16, 16, 8), h = x;
    for (int i = 0; i < 40; i++)
        h = i % 2 ? pg_leaky_relu(g, h, 0.2f) : pg_add(g, h, pg_scale(g, x, 0.01f, 0.0f));
    pg_plan *plan;
    if (!test_check(pg_plan_create(ctx, g, &h, 1, &plan) == PG_OK, "arena", "plan: %s",
                    pg_error_message()))
        return;
    uint64_t one = 4ull * 4 * 16 * 16 * 8;
    const char *guard = getenv("PROGAN_GUARD");
    if (guard && *guard && strcmp(guard, "0")) /* guard zones stay: blocks are never reused */
        test_check(pg_plan_arena_bytes(plan) >= 40 * 2 * one, "arena under PROGAN_GUARD",
                   "arena %llu bytes for 40 tensors of %llu and their guards: a block was reused",
                   (unsigned long long)pg_plan_arena_bytes(plan), (unsigned long long)one);
    else
        test_check(pg_plan_arena_bytes(plan) <= 4 * one, "arena reuse",
                   "arena %llu bytes for tensors of %llu: liveness reuse is not working",
                   (unsigned long long)pg_plan_arena_bytes(plan), (unsigned long long)one);
    double err = plan_error(plan, g, h, 400);
    test_check(err < 1e-5, "arena reuse", "result relative error %.3g", err);
    pg_plan_destroy(plan);
    pg_graph_destroy(g);
}

/* An arena bigger than one allocation may be spread over several buffers
 * (forced here with a 1 MiB chunk), and the results do not change. */
static void test_arena_chunks(pg_vk_context *ctx) {
    setenv("PROGAN_ARENA_CHUNK_MB", "1", 1);
    pg_graph *g = pg_graph_create();
    pg_tensor x = pg_input(g, "x", 4, 64, 64, 8), w = pg_input(g, "w", 3, 3, 8, 8), h = x;
    for (int i = 0; i < 6; i++) h = pg_add(g, pg_leaky_relu(g, pg_conv2d(g, h, w, 0.2f), 0.2f), x);
    pg_plan *plan;
    pg_status st = pg_plan_create(ctx, g, &h, 1, &plan);
    unsetenv("PROGAN_ARENA_CHUNK_MB");
    if (!test_check(st == PG_OK, "arena chunks", "plan: %s", pg_error_message())) return;
    test_check(pg_plan_buffer_count(plan) > 1, "arena chunks", "%d buffer(s) for a %.1f MiB arena",
               pg_plan_buffer_count(plan), pg_plan_arena_bytes(plan) / 1048576.0);
    double err = plan_error(plan, g, h, 450);
    test_check(err < 1e-5, "arena chunks", "relative error %.3g", err);
    pg_plan_destroy(plan);
    pg_graph_destroy(g);
}

/* Downloads p, m, v (ranges[0], [2], [3]) into out[3][COUNT]. */
static void optimizer_state(pg_vk_context *ctx, const pg_vk_range *ranges, float *out, int count) {
    pg_vk_download(ctx, ranges[0], out);
    pg_vk_download(ctx, ranges[2], out + count);
    pg_vk_download(ctx, ranges[3], out + 2 * count);
}

/* Adam (beta1 0.9, so m differs from g) and EMA update persistent tensors in
 * place over several steps, as the float64 reference does. The skip value is
 * the sum of squared gradients, as in training: steps whose gradient holds a
 * NaN (step 2) or an Inf (step 4) leave parameters and moments bitwise
 * unchanged, and pg_update_skipped (the trainer's rule) counts exactly those. */
static void test_optimizers(pg_vk_context *ctx) {
    enum { COUNT = 1000, STEPS = 6 };
    int shape[4] = {10, 1, 1, 100};
    pg_vk_buffer buf;
    if (!test_check(pg_vk_buffer_create(ctx, 4 * PG_VK_ALIGN * 16 + 4 * 4 * COUNT,
                                        PG_VK_MEMORY_DEVICE, &buf) == PG_OK,
                    "optimizers", "buffer: %s", pg_error_message()))
        return;
    uint64_t stride = (4 * COUNT + PG_VK_ALIGN - 1) / PG_VK_ALIGN * PG_VK_ALIGN;
    pg_vk_range ranges[4];
    double *host[4];
    for (int i = 0; i < 4; i++) {
        ranges[i] = (pg_vk_range){&buf, stride * (uint64_t)i, 4 * COUNT};
        host[i] = malloc(COUNT * sizeof(double));
        test_fill_uniform(host[i], COUNT, 500 + (uint64_t)i);
        float tmp[COUNT];
        for (int k = 0; k < COUNT; k++) {
            if (i == 3) host[i][k] = fabs(host[i][k]); /* v >= 0 */
            tmp[k] = (float)host[i][k], host[i][k] = tmp[k];
        }
        pg_vk_upload(ctx, ranges[i], tmp);
    }
    double *avg = malloc(COUNT * sizeof(double));
    float avg_f[COUNT];
    test_fill_uniform(avg, COUNT, 600);
    for (int k = 0; k < COUNT; k++) avg_f[k] = (float)avg[k], avg[k] = avg_f[k];
    pg_vk_buffer avg_buf;
    pg_vk_buffer_create(ctx, 4 * COUNT, PG_VK_MEMORY_DEVICE, &avg_buf);
    pg_vk_upload(ctx, (pg_vk_range){&avg_buf, 0, 4 * COUNT}, avg_f);

    pg_graph *g = pg_graph_create();
    pg_tensor p = pg_external(g, "p", shape, ranges[0]);
    pg_tensor m = pg_external(g, "m", shape, ranges[2]), v = pg_external(g, "v", shape, ranges[3]);
    pg_tensor a = pg_external(g, "avg", shape, (pg_vk_range){&avg_buf, 0, 4 * COUNT});
    pg_tensor grad = pg_input(g, "grad", 10, 1, 1, 100);
    pg_tensor lr = pg_input(g, "lr_t", 1, 1, 1, 1);
    pg_tensor grad_sq = pg_sum(g, pg_square(g, grad));
    pg_adam(g, p, grad, m, v, lr, grad_sq, 0.9f, 0.99f, 1e-8f);
    pg_ema(g, a, p, 0.999f);
    pg_plan *plan;
    if (!test_check(pg_plan_create(ctx, g, &grad_sq, 1, &plan) == PG_OK, "optimizers", "plan: %s",
                    pg_error_message()))
        return;
    double **leaves = calloc((size_t)g->count, sizeof *leaves);
    leaves[p] = host[0], leaves[m] = host[2], leaves[v] = host[3], leaves[a] = avg;
    double grad_d[COUNT], lr_d = 0;
    leaves[grad] = grad_d, leaves[lr] = &lr_d;
    int skipped = 0;
    static float before[3 * COUNT], after[3 * COUNT];
    for (int step = 0; step < STEPS; step++) {
        test_fill_uniform(grad_d, COUNT, 700 + (uint64_t)step);
        for (int k = 0; k < COUNT; k++) grad_d[k] = (float)grad_d[k];
        if (step == 2) grad_d[17] = NAN; /* injected: the step must change nothing */
        if (step == 4) grad_d[933] = -INFINITY;
        lr_d = (float)(1e-3 * sqrt(1 - pow(0.99, step + 1)) / (1 - pow(0.9, step + 1)));
        for (int k = 0; k < COUNT; k++) pg_plan_input(plan, grad)[k] = (float)grad_d[k];
        pg_plan_input(plan, lr)[0] = (float)lr_d;
        ref_values r;
        ref_eval(g, leaves, &r);
        ref_values_free(&r);
        optimizer_state(ctx, ranges, before, COUNT);
        test_check(pg_plan_run(plan) == PG_OK, "optimizers", "run: %s", pg_error_message());
        optimizer_state(ctx, ranges, after, COUNT);
        int skip = pg_update_skipped(pg_plan_output(plan, grad_sq)[0]);
        skipped += skip;
        test_check(skip == (step == 2 || step == 4), "adam skip",
                   "step %d: skip decided %d on grad_sq %g", step, skip,
                   pg_plan_output(plan, grad_sq)[0]);
        if (skip)
            test_check(memcmp(before, after, sizeof before) == 0, "adam skip",
                       "step %d (a %s gradient): parameters or moments changed", step,
                       step == 2 ? "NaN" : "Inf");
        const char *names[4] = {"param", "", "m", "v"};
        for (int i = 0; i < 4; i++) {
            if (i == 1) continue;
            size_t worst = 0;
            double err =
                test_rel_error(after + (i ? i - 1 : 0) * COUNT, host[i], COUNT, 1e-3, &worst);
            test_check(err < 1e-5, "adam", "step %d %s: relative error %.3g at [%zu]: %.9g vs %.9g",
                       step, names[i], err, worst, after[(i ? i - 1 : 0) * COUNT + worst],
                       host[i][worst]);
        }
        float dev[COUNT];
        pg_vk_download(ctx, (pg_vk_range){&avg_buf, 0, 4 * COUNT}, dev);
        double err = test_norm_error(dev, avg, COUNT);
        test_check(err < 1e-5, "ema", "step %d relative error %.3g", step, err);
    }
    test_check(skipped == 2, "adam skip", "%d steps counted as skipped, not 2", skipped);
    pg_plan_destroy(plan);
    pg_graph_destroy(g);
    free(leaves);
    for (int i = 0; i < 4; i++) free(host[i]);
    free(avg);
    pg_vk_buffer_destroy(ctx, &buf);
    pg_vk_buffer_destroy(ctx, &avg_buf);
}

/* The original WGAN's update: RMSprop, then clipping every weight to the bound. */
static void test_rmsprop_clip(pg_vk_context *ctx) {
    enum { COUNT = 300 };
    int shape[4] = {3, 1, 1, 100};
    pg_vk_buffer buf;
    if (pg_vk_buffer_create(ctx, 2 * 4096 + 8 * COUNT, PG_VK_MEMORY_DEVICE, &buf) != PG_OK) return;
    pg_vk_range pr = {&buf, 0, 4 * COUNT}, vr = {&buf, 4096, 4 * COUNT};
    double p[COUNT], v[COUNT], grad_d[COUNT], lr_d = 0.003;
    float tmp[COUNT];
    test_fill_uniform(p, COUNT, 800);
    for (int k = 0; k < COUNT; k++) p[k] = tmp[k] = (float)(p[k] * 0.02), v[k] = 0;
    pg_vk_upload(ctx, pr, tmp);
    for (int k = 0; k < COUNT; k++) tmp[k] = 0;
    pg_vk_upload(ctx, vr, tmp);
    pg_graph *g = pg_graph_create();
    pg_tensor param = pg_external(g, "p", shape, pr), vt = pg_external(g, "v", shape, vr);
    pg_tensor grad = pg_input(g, "grad", 3, 1, 1, 100), lr = pg_input(g, "lr", 1, 1, 1, 1);
    pg_rmsprop(g, param, grad, vt, lr, -1, 0.99f, 1e-8f);
    pg_clip(g, param, 0.01f);
    pg_plan *plan;
    if (!test_check(pg_plan_create(ctx, g, NULL, 0, &plan) == PG_OK, "rmsprop", "plan: %s",
                    pg_error_message()))
        return;
    double **leaves = calloc((size_t)g->count, sizeof *leaves);
    leaves[param] = p, leaves[vt] = v, leaves[grad] = grad_d, leaves[lr] = &lr_d;
    for (int step = 0; step < 3; step++) {
        test_fill_uniform(grad_d, COUNT, 810 + (uint64_t)step);
        for (int k = 0; k < COUNT; k++) grad_d[k] = (float)grad_d[k];
        for (int k = 0; k < COUNT; k++) pg_plan_input(plan, grad)[k] = (float)grad_d[k];
        pg_plan_input(plan, lr)[0] = (float)lr_d;
        ref_values r;
        ref_eval(g, leaves, &r);
        ref_values_free(&r);
        pg_plan_run(plan);
        float dev[COUNT];
        pg_vk_download(ctx, pr, dev);
        double err = test_norm_error(dev, p, COUNT), most = 0;
        for (int k = 0; k < COUNT; k++) most = fmax(most, fabs(dev[k]));
        test_check(err < 1e-5 && most <= 0.01f, "rmsprop + clip",
                   "step %d: relative error %.3g, largest |w| %g", step, err, most);
    }
    free(leaves);
    pg_plan_destroy(plan);
    pg_graph_destroy(g);
    pg_vk_buffer_destroy(ctx, &buf);
}

/* The op table is complete (every row, dispatch builder, VJP and float64
 * reference), elementwise ops build from their rows alone, and a node with
 * the wrong number of inputs is refused with the row's arity. */
static void test_op_table(void) {
    pg_status st = pg_op_table_check();
    test_check(st == PG_OK, "op table", "%s", pg_error_message());
    for (int op = 0; op < PG_OP_COUNT; op++)
        if (!(pg_ops[op].flags & PG_ROW_LEAF))
            test_check(ref_ops[op] != NULL, "op table", "op %s has no float64 reference",
                       pg_ops[op].name ? pg_ops[op].name : "(no row)");
    pg_graph *g = pg_graph_create();
    pg_tensor x = pg_input(g, "x", 2, 3, 1, 4), in[3] = {x, x, x};
    for (int op = 0; op < PG_OP_COUNT; op++) {
        if (pg_ops[op].shape != PG_SHAPE_BROADCAST) continue;
        pg_tensor y = pg_op_elementwise(g, (pg_op)op, in, 0.5f, 0.0f);
        test_check(y >= 0 && (int)g->nodes[y].op == op &&
                       g->nodes[y].n_inputs == pg_ops[op].arity_min,
                   "op table", "pg_op_elementwise(%s): %s", pg_ops[op].name, g->error_message);
    }
    pg_tensor bad = pg_node_add(g, PG_OP_ADD, 1, &x, g->nodes[x].shape);
    test_check(bad < 0 && strstr(g->error_message, "add") && strstr(g->error_message, "2..2"),
               "op table", "add with one input: '%s'", g->error_message);
    pg_graph_destroy(g);
}

/* pg_fastdiv (the C mirror of the shaders' division by a multiply-high)
 * equals n / d: every divisor to 4096 and random ones to 2^31 - 1, at random
 * numerators, multiples of d and their neighbours, and the largest n. */
static void test_fastdiv(void) {
    uint64_t seed = 12345;
    int bad = 0;
    for (int i = 0; i < 20000 && bad < 5; i++) {
        seed = seed * 6364136223846793005ull + 1442695040888963407ull;
        uint32_t d = i < 4096 ? (uint32_t)i + 1 : (uint32_t)(seed >> 33) | 1u;
        uint32_t magic[2];
        pg_fastdiv_magic(d, magic);
        uint32_t k = (uint32_t)(seed >> 40) % (0x7fffffffu / d + 1);
        uint32_t ns[] = {0,
                         1,
                         d - 1,
                         d,
                         k * d,
                         k * d != 0 ? k * d - 1 : 0,
                         0x7fffffffu,
                         (uint32_t)(seed >> 1) & 0x7fffffffu,
                         (uint32_t)(seed >> 45)};
        for (size_t j = 0; j < sizeof ns / sizeof ns[0]; j++)
            if (pg_fastdiv(ns[j], magic) != ns[j] / d) {
                bad++;
                test_check(0, "fastdiv", "%u / %u: %u, expected %u", ns[j], d,
                           pg_fastdiv(ns[j], magic), ns[j] / d);
            }
    }
}

/* Construction errors reach pg_plan_create with the op, shapes and a hint. */
static void test_errors(pg_vk_context *ctx) {
    pg_graph *g = pg_graph_create();
    pg_tensor x = pg_input(g, "x", 6, 4, 4, 3);
    pg_tensor y = pg_mbstd(g, x, 4, 1e-8f);
    pg_plan *plan = NULL;
    pg_status st = pg_plan_create(ctx, g, &y, 1, &plan);
    test_check(st == PG_ERR_INVALID && strstr(pg_error_message(), "not divisible"), "errors",
               "mbstd with batch 6, group 4: status %d, message '%s'", st, pg_error_message());
    pg_graph_destroy(g);

    g = pg_graph_create();
    x = pg_input(g, "x", 2, 4, 4, 3);
    pg_tensor w = pg_input(g, "w", 3, 3, 5, 7);
    y = pg_conv2d(g, x, w, 1.0f);
    test_check(y < 0 && strstr(g->error_message, "conv2d"), "errors",
               "conv2d channel mismatch: '%s'", g->error_message);
    pg_graph_destroy(g);

    g = pg_graph_create();
    long long huge = (long long)(ctx->info.max_storage_buffer_range / 4) + 1024;
    x = pg_input(g, "huge", 1, 1, 1, (int)(huge < 0x7fffffff ? huge : 0x7fffffff));
    y = pg_scale(g, x, 2.0f, 0.0f);
    st = pg_plan_create(ctx, g, &y, 1, &plan);
    test_check(st != PG_OK && strstr(pg_error_message(), "maxStorageBufferRange"), "errors",
               "a tensor over maxStorageBufferRange: status %d, '%s'", st, pg_error_message());
    if (st == PG_OK) pg_plan_destroy(plan);
    pg_graph_destroy(g);

    pg_vk_context *other = NULL;
    st = pg_vk_context_create(99, &other);
    test_check(st == PG_ERR_INVALID && strstr(pg_error_message(), "progan devices"), "errors",
               "device 99: status %d, '%s'", st, pg_error_message());
    if (other) pg_vk_context_destroy(other);
}

/* Uploads and downloads larger than one staging piece (PG_VK_STAGING_PIECE)
 * at an odd offset: every piece lands where it belongs, the bytes around the
 * range stay as they were, and the staging stays one piece large. */
static void test_transfer_pieces(pg_vk_context *ctx) {
    uint64_t n = (2ull * PG_VK_STAGING_PIECE + 4096 + 12) / 4, off = 1024; /* floats */
    pg_vk_buffer buf;
    float *a = malloc(4 * (n + 2 * off)), *b = malloc(4 * (n + 2 * off));
    if (!test_check(a && b &&
                        pg_vk_buffer_create(ctx, 4 * (n + 2 * off), PG_VK_MEMORY_DEVICE, &buf) ==
                            PG_OK,
                    "transfer pieces", "%s", pg_error_message())) {
        free(a), free(b);
        return;
    }
    for (uint64_t i = 0; i < n + 2 * off; i++) a[i] = (float)i;
    uint64_t before = ctx->peak_bytes_allocated;
    pg_status st = pg_vk_upload(ctx, (pg_vk_range){&buf, 0, 4 * (n + 2 * off)}, a);
    for (uint64_t i = 0; i < n; i++) a[off + i] = -(float)i - 0.5f;
    if (st == PG_OK) st = pg_vk_upload(ctx, (pg_vk_range){&buf, 4 * off, 4 * n}, a + off);
    if (st == PG_OK) st = pg_vk_download(ctx, (pg_vk_range){&buf, 0, 4 * (n + 2 * off)}, b);
    uint64_t bad = n + 2 * off;
    for (uint64_t i = 0; st == PG_OK && i < n + 2 * off && bad == n + 2 * off; i++)
        if (a[i] != b[i]) bad = i;
    test_check(st == PG_OK && bad == n + 2 * off, "transfer pieces",
               "%s: float %llu of %llu differs", st == PG_OK ? "" : pg_error_message(),
               (unsigned long long)bad, (unsigned long long)(n + 2 * off));
    test_check(ctx->peak_bytes_allocated - PG_MAX(before, ctx->bytes_allocated) <=
                   PG_VK_STAGING_PIECE,
               "transfer staging", "peak grew by %.1f MiB",
               (ctx->peak_bytes_allocated - before) / 1048576.0);
    pg_vk_buffer_destroy(ctx, &buf);
    free(a), free(b);
}

int main(void) {
    pg_vk_context *ctx = test_context();
    if (!ctx) return test_finish("test_graph") | 1;
    test_op_table();
    test_fastdiv();
    test_replay(ctx);
    test_arena_reuse(ctx);
    test_arena_chunks(ctx);
    test_optimizers(ctx);
    test_rmsprop_clip(ctx);
    test_errors(ctx);
    test_transfer_pieces(ctx);
    test_context_release();
    return test_finish("test_graph");
}
