/* The D and G training steps of a phase as graphs (progan-spec.md, "Loss"):
 * WGAN-GP with drift (default), the original WGAN, or the non-saturating loss
 * with an optional R1 penalty; the optimizer updates and the Gs moving average
 * are nodes of the same graph, so one submit does the whole step. */
#include "train/step.h"

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

/* The per-sample WGAN-GP (or R1) penalty pieces: ||d sum(D(x)) / dx|| per sample. */
static pg_tensor input_gradient_norm_sq(pg_graph *g, pg_tensor scores, pg_tensor x) {
    pg_tensor grad;
    if (pg_grad(g, pg_sum(g, scores), -1, 1, &x, &grad) != PG_OK) return -1;
    return pg_reduce_sum(g, pg_square(g, grad), 2 | 4 | 8, 1.0f); /* [N,1,1,1] */
}

/* The D loss per sample [N,1,1,1]; sets the stat outputs of st. */
static pg_tensor d_loss(pg_graph *g, const pg_train_options *o, const pg_net *D, pg_step *st,
                        pg_tensor fakes) {
    const pg_model_config *c = &o->model;
    pg_tensor d_real = pg_model_discriminator(g, c, D, st->reals, st->res, st->alpha);
    pg_tensor d_fake = pg_model_discriminator(g, c, D, fakes, st->res, st->alpha);
    st->score_real = pg_mean(g, d_real, 15);
    st->score_fake = pg_mean(g, d_fake, 15);
    if (o->loss == PG_LOSS_NS) {
        pg_tensor loss =
            pg_add(g, pg_softplus(g, d_fake), pg_softplus(g, pg_scale(g, d_real, -1, 0)));
        if (o->r1_gamma > 0) {
            pg_tensor sq = input_gradient_norm_sq(g, d_real, st->reals);
            st->penalty = pg_mean(g, sq, 15);
            loss = pg_add(g, loss, pg_scale(g, sq, 0.5f * o->r1_gamma, 0));
        }
        return loss;
    }
    pg_tensor loss = pg_sub(g, d_fake, d_real);
    if (o->loss == PG_LOSS_WGAN) return loss;
    /* WGAN-GP: the penalty on ||grad|| / s with s = R / res in the reference's target space */
    st->mix = pg_input(g, "gp_mix", st->batch, 1, 1, 1);
    pg_tensor mixed = pg_lerp(g, st->reals, fakes, st->mix);
    pg_tensor d_mixed = pg_model_discriminator(g, c, D, mixed, st->res, st->alpha);
    pg_tensor norm = pg_sqrt(g, input_gradient_norm_sq(g, d_mixed, mixed));
    float s = o->gp_target_space ? (float)c->resolution / (float)st->res : 1.0f;
    pg_tensor gp = pg_square(g, pg_scale(g, norm, 1.0f / s, -1.0f));
    st->grad_norm = pg_mean(g, norm, 15);
    st->score_mixed = pg_mean(g, d_mixed, 15);
    st->penalty = pg_mean(g, gp, 15);
    loss = pg_add(g, loss, pg_scale(g, gp, o->gp_lambda, 0));
    if (o->drift > 0) loss = pg_add(g, loss, pg_scale(g, pg_square(g, d_real), o->drift, 0));
    return loss;
}

/* Optimizer nodes for every parameter that has a gradient; skip when non-finite. */
static void updates_add(pg_graph *g, const pg_train_options *o, pg_train_state *s, pg_step *st,
                        const pg_net *net) {
    const pg_param_set *set = net->set;
    pg_net m, v;
    int disc = st->discriminator;
    pg_net_bind(g, set, disc ? &s->D_m : &s->G_m, 0, &m);
    pg_net_bind(g, set, disc ? &s->D_v : &s->G_v, 0, &v);
    for (int i = 0; i < set->count; i++) {
        if (st->grads[i] < 0) continue;
        if (disc && o->loss == PG_LOSS_WGAN) {
            pg_rmsprop(g, net->t[i], st->grads[i], v.t[i], st->lr, st->grad_sq, 0.99f, 1e-8f);
            pg_clip(g, net->t[i], o->wgan_clip);
        } else {
            pg_adam(g, net->t[i], st->grads[i], m.t[i], v.t[i], st->lr, st->grad_sq, o->adam_beta1,
                    o->adam_beta2, o->adam_eps);
        }
    }
}

static pg_status step_build(pg_vk_context *ctx, const pg_train_options *o, pg_train_state *s,
                            pg_step *st) {
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
    if (st->discriminator) {
        st->reals = pg_input(g, "reals", st->batch, st->res, st->res, c->channels);
        per_sample = d_loss(g, o, &D, st, fakes);
    } else {
        pg_tensor d_fake = pg_model_discriminator(g, c, &D, fakes, st->res, st->alpha);
        st->score_fake = pg_mean(g, d_fake, 15);
        per_sample = o->loss == PG_LOSS_NS ? pg_softplus(g, pg_scale(g, d_fake, -1, 0))
                                           : pg_scale(g, d_fake, -1, 0);
    }
    st->loss = pg_mean(g, per_sample, 15);
    PG_TRY(pg_grad(g, st->loss, -1, trained->set->count, trained->t, st->grads));
    for (int i = 0; i < trained->set->count; i++) {
        if (st->grads[i] < 0) continue;
        pg_tensor sq = pg_sum(g, pg_square(g, st->grads[i]));
        st->grad_sq = st->grad_sq < 0 ? sq : pg_add(g, st->grad_sq, sq);
    }
    if (st->updates) {
        updates_add(g, o, s, st, trained);
        if (st->discriminator) {
            /* beta 0: Gs is a copy of G */ /* Gs follows G after every D step */
            pg_net Gs;
            pg_net_bind(g, &s->gset, &s->Gs, 0, &Gs);
            for (int i = 0; i < s->gset.count; i++)
                if (s->gset.params[i].resolution <= st->res)
                    pg_ema(g, Gs.t[i], G.t[i], o->ema_beta);
        }
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
    return pg_plan_create(ctx, g, outs, n, &st->plan);
}

pg_status pg_step_create(pg_vk_context *ctx, const pg_train_options *o, pg_train_state *s, int res,
                         int batch, int fading, int discriminator, int updates, pg_step *out) {
    memset(out, 0, sizeof *out);
    out->graph = pg_graph_create();
    if (!out->graph) return PG_FAIL(PG_ERR_OUT_OF_MEMORY, "out of host memory");
    out->batch = batch, out->res = res, out->fading = fading;
    out->discriminator = discriminator, out->updates = updates;
    out->reals = out->latents = out->mix = out->alpha = out->lr = -1;
    out->loss = out->score_real = out->score_fake = out->penalty = out->grad_norm = -1;
    out->score_mixed = -1;
    out->grad_sq = -1;
    pg_status st = step_build(ctx, o, s, out);
    if (st != PG_OK) pg_step_destroy(out);
    return st;
}

void pg_step_destroy(pg_step *st) {
    pg_plan_destroy(st->plan);
    pg_graph_destroy(st->graph);
    st->plan = NULL;
    st->graph = NULL;
}
