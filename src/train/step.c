/* The D and G training steps of a phase as graphs: the loss from its row in
 * train/loss.c over ProGAN's D, the optimizer the row names; the optimizer updates and the Gs
 * moving average are nodes of the same graph, so one submit does the whole step. */
#include "train/step.h"

#include "train/loss.h"

#include <stdio.h>
#include <string.h>

static const pg_vk_buffer *arena(pg_train_state *s, int which) {
    const pg_vk_buffer *b[7] = {&s->G, &s->D, &s->Gs, &s->G_m, &s->G_v, &s->D_m, &s->D_v};
    return b[which];
}

pg_status pg_train_state_create(pg_vk_context *ctx, const pg_model_config *c, pg_train_state *s) {
    memset(s, 0, sizeof *s);
    pg_model_generator_params(c, &s->gset);
    pg_model_discriminator_params(c, &s->dset);
    for (int i = 0; i < 7; i++) {
        const pg_param_set *set = (i == 1 || i >= 5) ? &s->dset : &s->gset;
        PG_TRY(pg_vk_buffer_create(ctx, 4 * set->total, PG_VK_MEMORY_DEVICE,
                                   (pg_vk_buffer *)arena(s, i)));
    }
    return PG_OK;
}

void pg_train_state_destroy(pg_vk_context *ctx, pg_train_state *s) {
    for (int i = 0; i < 7; i++) pg_vk_buffer_destroy(ctx, (pg_vk_buffer *)arena(s, i));
}

pg_status pg_train_state_reset_moments(pg_vk_context *ctx, pg_train_state *s, int discriminator) {
    VkCommandBuffer cmd;
    PG_TRY(pg_vk_oneshot_begin(ctx, &cmd));
    pg_vk_cmd_barrier(cmd);
    const pg_vk_buffer *m = discriminator ? &s->D_m : &s->G_m,
                       *v = discriminator ? &s->D_v : &s->G_v;
    vkCmdFillBuffer(cmd, m->buffer, 0, VK_WHOLE_SIZE, 0);
    vkCmdFillBuffer(cmd, v->buffer, 0, VK_WHOLE_SIZE, 0);
    pg_vk_cmd_barrier(cmd);
    return pg_vk_oneshot_submit(ctx, cmd);
}

/* ProGAN's D at the step's resolution and fade as a loss-table critic. */
typedef struct {
    const pg_model_config *c;
    const pg_net *D;
    int res;
    pg_tensor alpha;
} step_critic;

static pg_tensor step_critic_apply(const pg_critic *self, pg_graph *g, pg_tensor x) {
    const step_critic *sc = self->ctx;
    return pg_model_discriminator(g, sc->c, sc->D, x, sc->res, sc->alpha);
}

/* The loss row's D or G loss per sample; copies its stat outputs into st. */
static pg_tensor loss_build(pg_graph *g, const pg_train_options *o, const pg_net *D, pg_step *st,
                            pg_tensor fakes) {
    step_critic sc = {&o->model, D, st->res, st->alpha};
    pg_critic critic = {step_critic_apply, &sc};
    pg_loss_graph l = {.g = g,
                       .D = &critic,
                       .reals = st->reals,
                       .fakes = fakes,
                       .batch = st->batch,
                       .gp_lambda = o->gp_lambda,
                       .drift = o->drift,
                       .r1_gamma = o->r1_gamma};
    pg_loss_graph_init(&l);
    l.gp_scale = o->gp_target_space ? (float)o->model.resolution / (float)st->res : 1.0f;
    const pg_loss *row = &pg_losses[o->loss];
    pg_tensor per_sample = st->discriminator ? row->d_loss(&l) : row->g_loss(&l);
    st->mix = l.mix, st->score_real = l.score_real, st->score_fake = l.score_fake;
    st->score_mixed = l.score_mixed, st->penalty = l.penalty, st->grad_norm = l.grad_norm;
    return per_sample;
}

/* Parameters first..last of a registry, all taking part in an update: one
 * range of bytes in every buffer laid out as the parameters (the parameters,
 * Gs, the moments, packed gradients), so one update node covers them all.
 * The 64-float gaps between tensors come along: the updates are elementwise,
 * so a tensor's elements get exactly what per-tensor updates give them. */
typedef struct {
    int first, last;
} param_run;

/* The maximal runs of parameters with use[i] set; returns their number. */
static int runs_find(const pg_param_set *set, const int *use, param_run *runs) {
    int n = 0;
    for (int i = 0; i < set->count; i++) {
        if (!use[i]) continue;
        if (n && runs[n - 1].last == i - 1)
            runs[n - 1].last = i;
        else
            runs[n++] = (param_run){i, i};
    }
    return n;
}

static int run_floats(const pg_param_set *set, param_run r) {
    const pg_param *a = &set->params[r.first], *b = &set->params[r.last];
    return (int)(b->offset - a->offset) + b->shape[0] * b->shape[1] * b->shape[2] * b->shape[3];
}

/* A run's bytes of a buffer laid out as the set, as one flat external. */
static pg_tensor run_external(pg_graph *g, const pg_param_set *set, const pg_vk_buffer *buffer,
                              param_run r) {
    int shape[4] = {1, 1, 1, run_floats(set, r)};
    pg_vk_range range = {buffer, 4 * set->params[r.first].offset, 4ull * (uint64_t)shape[3]};
    char name[64];
    snprintf(name, sizeof name, "%s..%d", set->params[r.first].name, r.last - r.first + 1);
    return pg_external(g, name, shape, range);
}

/* The runs of parameters with gradients, each run's gradients as one flat
 * tensor (packed in place, or a range of grads_buffer laid out as the
 * parameters with zeros between tensors), and their global squared norm. */
static int grads_gather(pg_graph *g, const pg_param_set *set, const pg_vk_buffer *grads_buffer,
                        pg_step *st, param_run *runs, pg_tensor *run_grads) {
    int use[PG_MAX_PARAMS];
    for (int i = 0; i < set->count; i++) use[i] = st->grads[i] >= 0;
    int n_runs = runs_find(set, use, runs);
    for (int k = 0; k < n_runs; k++) {
        pg_tensor xs[PG_MAX_PARAMS];
        int at[PG_MAX_PARAMS], n = 0;
        for (int i = runs[k].first; i <= runs[k].last; i++, n++) {
            xs[n] = st->grads[i];
            at[n] = (int)(set->params[i].offset - set->params[runs[k].first].offset);
        }
        run_grads[k] = grads_buffer ? run_external(g, set, grads_buffer, runs[k])
                                    : pg_pack(g, n, xs, at, run_floats(set, runs[k]));
        pg_tensor sq = pg_sum(g, pg_square(g, run_grads[k]));
        st->grad_sq = st->grad_sq < 0 ? sq : pg_add(g, st->grad_sq, sq);
    }
    return n_runs;
}

/* One optimizer update per run of parameters with gradients; skipped on the
 * device when the squared norm is not finite. */
static void updates_add(pg_graph *g, const pg_train_options *o, pg_train_state *s, pg_step *st,
                        const pg_param_set *set, const param_run *runs, const pg_tensor *run_grads,
                        int n_runs) {
    int disc = st->discriminator;
    const pg_loss *row = &pg_losses[o->loss];
    for (int k = 0; k < n_runs; k++) {
        pg_tensor p = run_external(g, set, disc ? &s->D : &s->G, runs[k]);
        pg_tensor v = run_external(g, set, disc ? &s->D_v : &s->G_v, runs[k]);
        if ((disc ? row->d_opt : row->g_opt) == PG_OPT_RMSPROP) {
            pg_rmsprop(g, p, run_grads[k], v, st->lr, st->grad_sq, 0.99f, 1e-8f);
            if (disc && row->clip_d) pg_clip(g, p, o->wgan_clip);
        } else {
            pg_tensor m = run_external(g, set, disc ? &s->D_m : &s->G_m, runs[k]);
            pg_adam(g, p, run_grads[k], m, v, st->lr, st->grad_sq, o->adam_beta1, o->adam_beta2,
                    o->adam_eps);
        }
    }
}

/* Gs follows G after every D step (beta 0: Gs is a copy of G), one update per
 * run of G's parameters up to the step's resolution (G's registry is ordered
 * by resolution, so that is one run). */
static void ema_add(pg_graph *g, const pg_train_options *o, pg_train_state *s, const pg_step *st) {
    int use[PG_MAX_PARAMS];
    param_run runs[PG_MAX_PARAMS];
    for (int i = 0; i < s->gset.count; i++) use[i] = s->gset.params[i].resolution <= st->res;
    int n_runs = runs_find(&s->gset, use, runs);
    for (int k = 0; k < n_runs; k++)
        pg_ema(g, run_external(g, &s->gset, &s->Gs, runs[k]),
               run_external(g, &s->gset, &s->G, runs[k]), o->ema_beta);
}

/* Builds the step's graph; plans and records it, or (measure != NULL) only
 * measures the arena and the staging it would need (measure[0]; measure[1..2]:
 * upload, readback). */
static pg_status step_build(pg_vk_context *ctx, const pg_train_options *o, pg_train_state *s,
                            pg_step *st, const pg_plan_config *cfg, uint64_t *measure) {
    pg_graph *g = st->graph;
    const pg_model_config *c = &o->model;
    pg_net G, D;
    pg_net_bind(g, &s->gset, &s->G, 0, &G);
    pg_net_bind(g, &s->dset, &s->D, 0, &D);
    st->alpha = st->fading ? pg_input(g, "alpha", 1, 1, 1, 1) : -1;
    st->latents = pg_input(g, "latents", st->batch, 1, 1, pg_model_latent(c));
    st->lr = pg_input(g, "lr_t", 1, 1, 1, 1);
    pg_tensor fakes = pg_model_generator(g, c, &G, st->latents, st->res, st->alpha);
    pg_tensor per_sample;
    const pg_net *trained = st->discriminator ? &D : &G;
    if (st->discriminator)
        st->reals = pg_input(g, "reals", st->batch, st->res, st->res, c->channels);
    per_sample = loss_build(g, o, &D, st, fakes);
    st->loss = pg_mean(g, per_sample, 15);
    PG_TRY(pg_grad(g, st->loss, -1, trained->set->count, trained->t, st->grads));
    param_run runs[PG_MAX_PARAMS];
    pg_tensor run_grads[PG_MAX_PARAMS];
    int n_runs = grads_gather(g, trained->set, NULL, st, runs, run_grads);
    if (st->updates) {
        updates_add(g, o, s, st, trained->set, runs, run_grads, n_runs);
        if (st->discriminator) ema_add(g, o, s, st);
    }
    pg_tensor outs[8 + PG_MAX_PARAMS];
    int n = 0;
    pg_tensor stats[7] = {st->loss,    st->score_real, st->score_fake, st->score_mixed,
                          st->penalty, st->grad_norm,  st->grad_sq};
    for (int i = 0; i < 7; i++)
        if (stats[i] >= 0) outs[n++] = stats[i];
    if (!st->updates)
        for (int i = 0; i < trained->set->count; i++)
            if (st->grads[i] >= 0) outs[n++] = st->grads[i];
    pg_plan_config how = cfg ? *cfg : (pg_plan_config){0};
    /* lean: the penalty's passes first (WGAN-GP: the mixed samples'; R1: the reals') */
    if (how.lean) how.first = st->mix >= 0 ? &st->mix : st->reals >= 0 ? &st->reals : NULL;
    if (measure) return pg_plan_measure_with(ctx, g, outs, n, &how, &measure[0], &measure[1]);
    return pg_plan_create_with(ctx, g, outs, n, &how, &st->plan);
}

static pg_status step_make(pg_vk_context *ctx, const pg_train_options *o, pg_train_state *s,
                           int res, int batch, int fading, int discriminator, int updates,
                           const pg_plan_config *cfg, pg_step *out, uint64_t *measure) {
    memset(out, 0, sizeof *out);
    out->graph = pg_graph_create();
    if (!out->graph) return PG_FAIL(PG_ERR_OUT_OF_MEMORY, "out of host memory");
    out->batch = batch, out->res = res, out->fading = fading;
    out->discriminator = discriminator, out->updates = updates;
    out->reals = out->latents = out->mix = out->alpha = out->lr = -1;
    out->loss = out->score_real = out->score_fake = out->penalty = out->grad_norm = -1;
    out->score_mixed = -1;
    out->grad_sq = -1;
    pg_status st = step_build(ctx, o, s, out, cfg, measure);
    if (st != PG_OK || measure) pg_step_destroy(out);
    return st;
}

pg_status pg_step_create(pg_vk_context *ctx, const pg_train_options *o, pg_train_state *s, int res,
                         int batch, int fading, int discriminator, int updates, pg_step *out) {
    return step_make(ctx, o, s, res, batch, fading, discriminator, updates, NULL, out, NULL);
}

pg_status pg_step_create_with(pg_vk_context *ctx, const pg_train_options *o, pg_train_state *s,
                              int res, int batch, int fading, int discriminator, int updates,
                              const pg_plan_config *cfg, pg_step *out) {
    return step_make(ctx, o, s, res, batch, fading, discriminator, updates, cfg, out, NULL);
}

pg_status pg_step_measure(pg_vk_context *ctx, const pg_train_options *o, pg_train_state *s, int res,
                          int batch, int fading, int discriminator, int updates,
                          const pg_plan_config *cfg, uint64_t bytes[3], uint64_t *grad_floats,
                          int *used) {
    pg_step tmp;
    if (grad_floats) *grad_floats = 0;
    PG_TRY(step_make(ctx, o, s, res, batch, fading, discriminator, updates, cfg, &tmp, bytes));
    const pg_param_set *set = discriminator ? &s->dset : &s->gset;
    for (int i = 0; i < PG_MAX_PARAMS && used; i++) used[i] = i < set->count && tmp.grads[i] >= 0;
    for (int i = 0; i < set->count && grad_floats; i++) /* the parameters trained here */
        if (tmp.grads[i] >= 0)
            *grad_floats += (uint64_t)set->params[i].shape[0] * set->params[i].shape[1] *
                            set->params[i].shape[2] * set->params[i].shape[3];
    return PG_OK;
}

/* The update half of a split step: gradients summed over ranks and micro-batches
 * arrive in grads_buffer (laid out as the parameters); the graph takes their
 * global norm (the non-finite skip), applies the optimizer and, for D, the EMA. */
static pg_status update_build(pg_vk_context *ctx, const pg_train_options *o, pg_train_state *s,
                              const pg_vk_buffer *grads_buffer, const int *used,
                              const pg_plan_config *cfg, pg_step *st, uint64_t *measure) {
    pg_graph *g = st->graph;
    const pg_param_set *set = st->discriminator ? &s->dset : &s->gset;
    pg_net grads;
    pg_net_bind(g, set, grads_buffer, 0, &grads);
    st->lr = pg_input(g, "lr_t", 1, 1, 1, 1);
    for (int i = 0; i < set->count; i++) st->grads[i] = used[i] ? grads.t[i] : -1;
    param_run runs[PG_MAX_PARAMS];
    pg_tensor run_grads[PG_MAX_PARAMS];
    int n_runs = grads_gather(g, set, grads_buffer, st, runs, run_grads);
    if (st->grad_sq < 0) return PG_FAIL(PG_ERR_INVALID, "an update step without gradients");
    updates_add(g, o, s, st, set, runs, run_grads, n_runs);
    if (st->discriminator) ema_add(g, o, s, st);
    if (measure)
        return pg_plan_measure_with(ctx, g, &st->grad_sq, 1, cfg, &measure[0], &measure[1]);
    return pg_plan_create_with(ctx, g, &st->grad_sq, 1, cfg, &st->plan);
}

static pg_status update_make(pg_vk_context *ctx, const pg_train_options *o, pg_train_state *s,
                             int res, int discriminator, const pg_vk_buffer *grads_buffer,
                             const int *used, const pg_plan_config *cfg, pg_step *out,
                             uint64_t *measure) {
    memset(out, 0, sizeof *out);
    out->graph = pg_graph_create();
    if (!out->graph) return PG_FAIL(PG_ERR_OUT_OF_MEMORY, "out of host memory");
    out->res = res, out->discriminator = discriminator, out->updates = 1;
    out->reals = out->latents = out->mix = out->alpha = out->lr = -1;
    out->loss = out->score_real = out->score_fake = out->penalty = out->grad_norm = -1;
    out->score_mixed = out->grad_sq = -1;
    pg_status st = update_build(ctx, o, s, grads_buffer, used, cfg, out, measure);
    if (st != PG_OK || measure) pg_step_destroy(out);
    return st;
}

pg_status pg_step_update_create(pg_vk_context *ctx, const pg_train_options *o, pg_train_state *s,
                                int res, int discriminator, const pg_vk_buffer *grads_buffer,
                                const int *used, const pg_plan_config *cfg, pg_step *out) {
    return update_make(ctx, o, s, res, discriminator, grads_buffer, used, cfg, out, NULL);
}

pg_status pg_step_update_measure(pg_vk_context *ctx, const pg_train_options *o, pg_train_state *s,
                                 int res, int discriminator, const pg_vk_buffer *grads_buffer,
                                 const int *used, uint64_t bytes[3]) {
    pg_step tmp;
    return update_make(ctx, o, s, res, discriminator, grads_buffer, used, NULL, &tmp, bytes);
}

void pg_step_destroy(pg_step *st) {
    pg_plan_destroy(st->plan);
    pg_graph_destroy(st->graph);
    st->plan = NULL;
    st->graph = NULL;
}
