/* The optimizer half of real step graphs (src/train/step.c), which updates
 * runs of parameters with one node each over packed gradients: every trained
 * parameter, its moments and Gs get what the per-tensor rules give them
 * (float64 from the same state and the gradients of a no-update twin of the
 * step), untrained parameters and their moments keep every bit, and a step
 * whose gradients are not finite changes nothing. Shapes: the tiny preset
 * (16x16), so runs start and end at 64-float gaps inside the buffers. */
#include "testutil.h"
#include "train/loss.h"
#include "train/step.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#define BATCH 4
#define LR    0.01f /* large, so an update a run misses is far above the tolerance */

/* The seven state buffers on the host, in pg_train_state order. */
typedef struct {
    float *b[7];
} host_state;

static const pg_vk_buffer *state_buffer(pg_train_state *s, int k) {
    const pg_vk_buffer *b[7] = {&s->G, &s->D, &s->Gs, &s->G_m, &s->G_v, &s->D_m, &s->D_v};
    return b[k];
}

static uint64_t state_floats(const pg_train_state *s, int k) {
    return k == 1 || k >= 5 ? s->dset.total : s->gset.total;
}

static int state_io(pg_vk_context *ctx, pg_train_state *s, host_state *h, int upload) {
    for (int k = 0; k < 7; k++) {
        pg_vk_range r = {state_buffer(s, k), 0, 4 * state_floats(s, k)};
        if (!h->b[k]) h->b[k] = malloc(r.size);
        pg_status st = upload ? pg_vk_upload(ctx, r, h->b[k]) : pg_vk_download(ctx, r, h->b[k]);
        if (!test_check(h->b[k] && st == PG_OK, "state", "%s", pg_error_message())) return 0;
    }
    return 1;
}

static void state_free(host_state *h) {
    for (int k = 0; k < 7; k++) free(h->b[k]);
}

/* Random parameters, Gs and moments (v positive) everywhere, gaps included. */
static void state_random(const pg_train_state *s, host_state *h, uint64_t seed) {
    for (int k = 0; k < 7; k++) {
        uint64_t n = state_floats(s, k);
        h->b[k] = malloc(4 * n);
        test_fill_uniform_f(h->b[k], n, seed + (uint64_t)k);
        if (k == 4 || k == 6)
            for (uint64_t i = 0; i < n; i++) h->b[k][i] = fabsf(h->b[k][i]) * 0.01f;
    }
}

static void inputs_set(pg_step *st, int n_latent, int channels, float reals_value) {
    size_t n = (size_t)st->batch;
    test_fill_uniform_f(pg_plan_input(st->plan, st->latents), n * (size_t)n_latent, 7);
    if (st->reals >= 0) {
        size_t count = n * (size_t)(st->res * st->res * channels);
        float *r = pg_plan_input(st->plan, st->reals);
        test_fill_uniform_f(r, count, 8);
        if (isnan(reals_value)) r[count / 2] = reals_value;
    }
    if (st->mix >= 0) test_fill_uniform_f(pg_plan_input(st->plan, st->mix), n, 9);
    if (st->alpha >= 0) pg_plan_input(st->plan, st->alpha)[0] = 0.375f;
    pg_plan_input(st->plan, st->lr)[0] = LR;
}

/* Largest error of one parameter's p, m, v (Adam or RMSprop) against float64. */
/* Largest error of one parameter's p, m, v against float64: Adam, or PyTorch's
 * RMSprop (m untouched) and, with clip > 0, clipping. k[] = buffers p, m, v. */
static double param_error(const pg_train_options *o, int rmsprop, float clip, const float *grad,
                          const host_state *before, const host_state *after, const int k[3],
                          uint64_t at, uint64_t n) {
    double worst = 0, b1 = o->adam_beta1, b2 = rmsprop ? 0.99 : o->adam_beta2;
    double eps = rmsprop ? 1e-8 : o->adam_eps;
    for (uint64_t i = 0; i < n; i++) {
        double g = grad[i], m = before->b[k[1]][at + i], v = before->b[k[2]][at + i];
        if (!rmsprop) m = b1 * m + (1 - b1) * g;
        v = b2 * v + (1 - b2) * g * g;
        double p = before->b[k[0]][at + i] - LR * (rmsprop ? g : m) / (sqrt(v) + eps);
        if (clip > 0) p = fmin(fmax(p, -clip), clip);
        double e = fabs(after->b[k[0]][at + i] - p) / (fabs(p) + 1e-3);
        e = fmax(e, fabs(after->b[k[2]][at + i] - v) / (fabs(v) + 1e-6));
        e = fmax(e, fabs(after->b[k[1]][at + i] - m) / (fabs(m) + 1e-6));
        if (!(e <= worst)) worst = e; /* NaN stays */
    }
    return worst;
}

/* Whether a tensor's floats are bitwise equal in two host states. */
static int same_bits(const host_state *a, const host_state *b, int k, uint64_t at, uint64_t n) {
    return memcmp(a->b[k] + at, b->b[k] + at, 4 * n) == 0;
}

static uint64_t numel(const pg_param *p) {
    return (uint64_t)p->shape[0] * p->shape[1] * p->shape[2] * p->shape[3];
}

/* Gs = G + (Gs - G) beta for G's parameters up to res, the others untouched. */
static void check_ema(const char *name, const pg_train_options *o, const pg_train_state *s,
                      const host_state *before, const host_state *after, int res) {
    double worst = 0;
    int untouched = 1;
    for (int i = 0; i < s->gset.count; i++) {
        const pg_param *p = &s->gset.params[i];
        if (p->resolution > res) {
            untouched &= same_bits(before, after, 2, p->offset, numel(p));
            continue;
        }
        for (uint64_t j = p->offset; j < p->offset + numel(p); j++) {
            double g = before->b[0][j], want = g + (before->b[2][j] - g) * o->ema_beta;
            double e = fabs(after->b[2][j] - want) / (fabs(g) + fabs(before->b[2][j]));
            if (!(e <= worst)) worst = e;
        }
    }
    test_check(worst < 1e-6, name, "Gs after the D step: error %.3g", worst);
    test_check(untouched, name, "Gs of parameters above %dx%d changed", res, res);
}

/* One step (D or G) at res, trained parameters vs float64, the rest untouched. */
static void check_step(pg_vk_context *ctx, const pg_train_options *o, int res, int fading, int disc,
                       const char *name) {
    pg_train_state s;
    if (!test_check(pg_train_state_create(ctx, &o->model, &s) == PG_OK, name, "%s",
                    pg_error_message()))
        return;
    host_state before = {0}, after = {0};
    pg_step twin = {0}, step = {0};
    state_random(&s, &before, 40 + (uint64_t)disc);
    int ok = state_io(ctx, &s, &before, 1) &&
             test_check(pg_step_create(ctx, o, &s, res, BATCH, fading, disc, 0, &twin) == PG_OK &&
                            pg_step_create(ctx, o, &s, res, BATCH, fading, disc, 1, &step) == PG_OK,
                        name, "%s", pg_error_message());
    int lat = pg_model_latent(&o->model), ch = o->model.channels;
    if (ok) inputs_set(&twin, lat, ch, 0), inputs_set(&step, lat, ch, 0);
    ok = ok && test_check(pg_plan_run(twin.plan) == PG_OK && pg_plan_run(step.plan) == PG_OK, name,
                          "%s", pg_error_message());
    ok = ok && state_io(ctx, &s, &after, 0);
    const pg_param_set *set = disc ? &s.dset : &s.gset;
    const pg_loss *row = &pg_losses[o->loss];
    int rmsprop = (disc ? row->d_opt : row->g_opt) == PG_OPT_RMSPROP;
    float clip = disc && row->clip_d ? o->wgan_clip : 0;
    int k[3] = {disc ? 1 : 0, disc ? 5 : 3, disc ? 6 : 4}, trained = 0, untouched = 1;
    double worst = 0;
    for (int i = 0; ok && i < set->count; i++) {
        const pg_param *p = &set->params[i];
        if (twin.grads[i] < 0) {
            for (int j = 0; j < 3; j++)
                untouched &= same_bits(&before, &after, k[j], p->offset, numel(p));
            continue;
        }
        trained++;
        const float *grad = pg_plan_output(twin.plan, twin.grads[i]);
        double e = param_error(o, rmsprop, clip, grad, &before, &after, k, p->offset, numel(p));
        if (!(e <= worst)) worst = e;
    }
    if (ok) {
        test_check(trained > 0 && worst < 1e-5, name, "%d trained parameters: error %.3g", trained,
                   worst);
        test_check(untouched, name, "an untrained parameter or its moments changed");
        if (disc) check_ema(name, o, &s, &before, &after, res);
    }
    pg_step_destroy(&twin);
    pg_step_destroy(&step);
    state_free(&after);
    state_free(&before);
    pg_train_state_destroy(ctx, &s);
}

/* NaN in the reals: every gradient is NaN, the norm says so and nothing changes. */
static void check_skip(pg_vk_context *ctx, const pg_train_options *o) {
    const char *name = "skip on a non-finite norm";
    pg_train_state s;
    if (!test_check(pg_train_state_create(ctx, &o->model, &s) == PG_OK, name, "%s",
                    pg_error_message()))
        return;
    host_state before = {0}, after = {0};
    pg_step step = {0};
    state_random(&s, &before, 50);
    int ok = state_io(ctx, &s, &before, 1) &&
             test_check(pg_step_create(ctx, o, &s, 8, BATCH, 1, 1, 1, &step) == PG_OK, name, "%s",
                        pg_error_message());
    if (ok) inputs_set(&step, pg_model_latent(&o->model), o->model.channels, NAN);
    ok = ok && test_check(pg_plan_run(step.plan) == PG_OK, name, "%s", pg_error_message()) &&
         state_io(ctx, &s, &after, 0);
    if (ok) {
        test_check(pg_update_skipped(pg_plan_output(step.plan, step.grad_sq)[0]), name,
                   "grad_sq %g is finite", pg_plan_output(step.plan, step.grad_sq)[0]);
        for (int k = 0; k < 7; k++)
            if (k != 2) /* Gs follows G whatever D's gradients were */
                test_check(same_bits(&before, &after, k, 0, state_floats(&s, k)), name,
                           "state buffer %d changed", k);
    }
    pg_step_destroy(&step);
    state_free(&after);
    state_free(&before);
    pg_train_state_destroy(ctx, &s);
}

int main(void) {
    pg_vk_context *ctx = test_context();
    if (!ctx) return test_finish("test_step_update") | 1;
    pg_train_options o;
    pg_train_options_preset(&o, "tiny");
    o.model.channels = 1;
    pg_train_options_resolve(&o);
    check_step(ctx, &o, 8, 1, 1, "D step 8x8 fading (D above 8 untrained)");
    check_step(ctx, &o, 16, 0, 0, "G step 16x16 (torgb4, torgb8 untrained: three runs)");
    check_step(ctx, &o, 4, 0, 0, "G step 4x4");
    check_skip(ctx, &o);
    o.loss = PG_LOSS_WGAN;
    pg_train_options_resolve(&o);
    check_step(ctx, &o, 16, 0, 1, "wgan D step 16x16 (RMSprop + clip, three runs)");
    check_step(ctx, &o, 16, 1, 0, "wgan G step 16x16 fading");
    test_context_release();
    return test_finish("test_step_update");
}
