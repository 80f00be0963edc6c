/* Lean plans and shared arenas (pg_plan_config, src/graph/lean.c): what
 * --micro-batch auto uses when a phase's default plans do not fit the device.
 * The gradient-only D step (WGAN-GP: three passes and the penalty's double
 * backward, the penalty's passes first) and G step of real step graphs,
 * planned lean (upsample, avgpool and pixel norm outputs computed again for
 * their late readers), give every output bit for bit what the default plans
 * give, with the arenas and the one readback buffer both steps share poisoned
 * with NaN first and the G step run in between through the same arena and
 * buffer; the lean D step needs clearly fewer bytes; a plan that cannot fit
 * the arena or readback buffer it would share is refused with a message; the
 * same bitwise equality for the ns loss with R1 (the reals' passes first).
 * Shapes: the tiny preset at 16x16, fading. */
#include "testutil.h"
#include "train/step.h"

#include <stdlib.h>
#include <string.h>

#define BATCH 2
#define RES   16

static void inputs_set(pg_step *st, int n_latent, int channels) {
    size_t n = (size_t)st->batch;
    test_fill_uniform_f(pg_plan_input(st->plan, st->latents), n * (size_t)n_latent, 7);
    if (st->reals >= 0)
        test_fill_uniform_f(pg_plan_input(st->plan, st->reals),
                            n * (size_t)(st->res * st->res * channels), 8);
    if (st->mix >= 0) test_fill_uniform_f(pg_plan_input(st->plan, st->mix), n, 9);
    if (st->alpha >= 0) pg_plan_input(st->plan, st->alpha)[0] = 0.375f;
    pg_plan_input(st->plan, st->lr)[0] = 0.01f;
}

/* The step's outputs (stats, then every gradient) as one host array. */
static float *outputs_copy(pg_step *st, const pg_param_set *set, size_t *n_out) {
    pg_tensor t[7 + PG_MAX_PARAMS];
    int n = 0;
    pg_tensor stats[7] = {st->loss,    st->score_real, st->score_fake, st->score_mixed,
                          st->penalty, st->grad_norm,  st->grad_sq};
    for (int i = 0; i < 7; i++)
        if (stats[i] >= 0) t[n++] = stats[i];
    for (int i = 0; i < set->count; i++)
        if (st->grads[i] >= 0) t[n++] = st->grads[i];
    size_t total = 0;
    for (int i = 0; i < n; i++) total += (size_t)pg_tensor_numel(st->graph, t[i]);
    float *out = malloc(total * sizeof *out + 4), *at = out;
    for (int i = 0; out && i < n; i++) {
        size_t k = (size_t)pg_tensor_numel(st->graph, t[i]);
        memcpy(at, pg_plan_output(st->plan, t[i]), k * sizeof *at);
        at += k;
    }
    *n_out = total;
    return out;
}

/* Bitwise equal, with the first differing element named. */
static void check_same(const char *name, const float *a, const float *b, size_t n) {
    size_t bad = n;
    for (size_t i = 0; a && b && i < n && bad == n; i++)
        if (memcmp(&a[i], &b[i], sizeof *a)) bad = i;
    test_check(a && b && bad == n, name,
               "outputs differ from the default plan's at element %zu of %zu (%g vs %g)", bad, n,
               bad < n ? a[bad] : 0.0, bad < n ? b[bad] : 0.0);
}

/* Runs st once (NaN-poisoned arena) and returns its outputs. */
static float *run_outputs(pg_step *st, const pg_train_options *o, const pg_param_set *set,
                          size_t *n) {
    inputs_set(st, pg_model_latent(&o->model), o->model.channels);
    if (!test_check(pg_plan_poison(st->plan, 0x7fc00000u) == PG_OK &&
                        pg_plan_run(st->plan) == PG_OK,
                    "run", "%s", pg_error_message()))
        return NULL;
    return outputs_copy(st, set, n);
}

/* The ns loss with R1 (its penalty differentiates D at the reals, whose passes
 * a lean D step runs first): lean outputs = default outputs, bitwise. */
static void check_r1(pg_vk_context *ctx, pg_train_options o, pg_train_state *s) {
    o.loss = PG_LOSS_NS, o.r1_gamma = 10.0f;
    pg_step ref = {0}, lean = {0};
    pg_plan_config cfg = {.lean = 1};
    size_t n1 = 0, n2 = 0;
    float *a = NULL, *b = NULL;
    if (test_check(pg_step_create(ctx, &o, s, RES, BATCH, 1, 1, 0, &ref) == PG_OK &&
                       pg_step_create_with(ctx, &o, s, RES, BATCH, 1, 1, 0, &cfg, &lean) == PG_OK,
                   "ns + R1 steps", "%s", pg_error_message())) {
        a = run_outputs(&ref, &o, &s->dset, &n1);
        b = run_outputs(&lean, &o, &s->dset, &n2);
        test_check(ref.penalty >= 0 && n1 == n2, "ns + R1 outputs", "no penalty, or counts differ");
        if (n1 == n2) check_same("lean D step, ns + R1", a, b, n1);
    }
    free(a), free(b);
    pg_step_destroy(&lean);
    pg_step_destroy(&ref);
}

int main(void) {
    pg_vk_context *ctx = test_context();
    if (!ctx) return test_finish("test_plan_lean") | 1;
    pg_train_options o;
    pg_train_options_preset(&o, "tiny");
    pg_train_options_resolve(&o);
    pg_train_state s;
    if (!test_check(pg_train_state_create(ctx, &o.model, &s) == PG_OK, "state", "%s",
                    pg_error_message()))
        return test_finish("test_plan_lean") | 1;
    float *host = malloc(4 * (size_t)PG_MAX(s.gset.total, s.dset.total));
    test_fill_uniform_f(host, s.gset.total, 1);
    pg_vk_upload(ctx, (pg_vk_range){&s.G, 0, 4 * s.gset.total}, host);
    test_fill_uniform_f(host, s.dset.total, 2);
    pg_vk_upload(ctx, (pg_vk_range){&s.D, 0, 4 * s.dset.total}, host);
    free(host);

    pg_step d_ref = {0}, g_ref = {0}, d_lean = {0}, g_lean = {0}, tight = {0};
    uint64_t dm[3], gm[3];
    pg_plan_config lean = {.lean = 1};
    int ok = test_check(
        pg_step_create(ctx, &o, &s, RES, BATCH, 1, 1, 0, &d_ref) == PG_OK &&
            pg_step_create(ctx, &o, &s, RES, BATCH, 1, 0, 0, &g_ref) == PG_OK &&
            pg_step_measure(ctx, &o, &s, RES, BATCH, 1, 1, 0, &lean, dm, NULL, NULL) == PG_OK &&
            pg_step_measure(ctx, &o, &s, RES, BATCH, 1, 0, 0, &lean, gm, NULL, NULL) == PG_OK,
        "default plans", "%s", pg_error_message());
    lean.reserve_bytes = PG_MAX(dm[0], gm[0]);
    pg_vk_buffer readback = {0};
    ok = ok && test_check(pg_vk_buffer_create(ctx, PG_MAX(dm[2], gm[2]), PG_VK_MEMORY_READBACK,
                                              &readback) == PG_OK,
                          "readback buffer", "%s", pg_error_message());
    lean.readback = &readback;
    ok = ok &&
         test_check(pg_step_create_with(ctx, &o, &s, RES, BATCH, 1, 1, 0, &lean, &d_lean) == PG_OK,
                    "lean D step", "%s", pg_error_message());
    pg_plan_config shared = {.lean = 1, .share = d_lean.plan, .readback = &readback};
    ok = ok && test_check(pg_step_create_with(ctx, &o, &s, RES, BATCH, 1, 0, 0, &shared, &g_lean) ==
                              PG_OK,
                          "lean G step in the D step's arena", "%s", pg_error_message());
    if (ok) {
        uint64_t d_bytes = pg_plan_arena_bytes(d_ref.plan), l_bytes = dm[0];
        printf("D step %dx%d batch %d: default arena %.2f MiB, lean %.2f MiB; G step %.2f -> "
               "%.2f MiB\n",
               RES, RES, BATCH, d_bytes / 1048576.0, l_bytes / 1048576.0,
               pg_plan_arena_bytes(g_ref.plan) / 1048576.0, gm[0] / 1048576.0);
        test_check(l_bytes * 10 < d_bytes * 8, "lean D step arena",
                   "%.2f MiB, not below 80%% of the default %.2f MiB", l_bytes / 1048576.0,
                   d_bytes / 1048576.0);
        int copies_d = pg_plan_recomputed(d_lean.plan), copies_g = pg_plan_recomputed(g_lean.plan);
        printf("recomputed nodes: D step %d, G step %d\n", copies_d, copies_g);
        test_check(copies_d > 0 && copies_g > 0 && !pg_plan_recomputed(d_ref.plan),
                   "recomputed nodes", "D %d, G %d, default D %d: the test would be weak", copies_d,
                   copies_g, pg_plan_recomputed(d_ref.plan));
        size_t n1, n2, n3, n4;
        float *d1 = run_outputs(&d_ref, &o, &s.dset, &n1);
        float *g1 = run_outputs(&g_ref, &o, &s.gset, &n2);
        float *d2 = run_outputs(&d_lean, &o, &s.dset, &n3);
        float *g2 = run_outputs(&g_lean, &o, &s.gset, &n4); /* overwrites d_lean's bytes */
        float *d3 = d2 ? run_outputs(&d_lean, &o, &s.dset, &n3) : NULL;
        int finite = d1 && g1;
        for (size_t i = 0; finite && i < n1; i++) finite = d1[i] == d1[i] && d1[i] - d1[i] == 0;
        for (size_t i = 0; finite && i < n2; i++) finite = g1[i] == g1[i] && g1[i] - g1[i] == 0;
        test_check(finite, "default plans", "outputs not finite: the comparison would be weak");
        test_check(n1 == n3 && n2 == n4, "outputs", "counts differ");
        if (n1 == n3) check_same("lean D step", d1, d2, n1);
        if (n2 == n4) check_same("lean G step (shared arena)", g1, g2, n2);
        if (n1 == n3) check_same("lean D step after the G step", d1, d3, n1);
        free(d1), free(g1), free(d2), free(g2), free(d3);
        /* a plan larger than the arena it would share */
        pg_plan_config small = {.share = g_lean.plan};
        pg_status st = pg_step_create_with(ctx, &o, &s, RES, 2 * BATCH, 1, 1, 0, &small, &tight);
        test_check(st == PG_ERR_INVALID && strstr(pg_error_message(), "shared arena"),
                   "too large for the shared arena", "status %d: %s", st, pg_error_message());
        pg_step_destroy(&tight);
        pg_vk_buffer few = {.size = 256, .mapped = readback.mapped};
        pg_plan_config narrow = {.readback = &few};
        st = pg_step_create_with(ctx, &o, &s, RES, BATCH, 1, 1, 0, &narrow, &tight);
        test_check(st == PG_ERR_INVALID && strstr(pg_error_message(), "readback buffer"),
                   "too large for the readback buffer", "status %d: %s", st, pg_error_message());
    }
    pg_step_destroy(&tight);
    pg_step_destroy(&d_lean); /* the arena stays with g_lean until it goes too */
    pg_step_destroy(&g_lean);
    pg_step_destroy(&d_ref);
    pg_step_destroy(&g_ref);
    pg_vk_buffer_destroy(ctx, &readback);
    check_r1(ctx, o, &s);
    pg_train_state_destroy(ctx, &s);
    test_context_release();
    return test_finish("test_plan_lean");
}
