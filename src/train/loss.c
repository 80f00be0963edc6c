/* The losses of progan-spec.md ("Loss") as table rows: WGAN-GP with drift
 * (default), the original WGAN (RMSprop for both networks, lr 5e-5, 5 critic
 * steps, clipping 0.01, as Arjovsky et al.) and the non-saturating loss with an
 * optional R1 penalty. Adding a loss is one row here plus its test case. */
#include "train/loss.h"

#include <stdio.h>
#include <string.h>

static pg_tensor critic(pg_loss_graph *l, pg_tensor x) {
    return l->D->apply(l->D, l->g, x);
}

/* ||d sum(D(x)) / dx||^2 per sample [N,1,1,1] (the WGAN-GP and R1 penalties). */
static pg_tensor input_gradient_norm_sq(pg_graph *g, pg_tensor scores, pg_tensor x) {
    pg_tensor grad;
    if (pg_grad(g, pg_sum(g, scores), -1, 1, &x, &grad) != PG_OK) return -1;
    return pg_reduce_sum(g, pg_square(g, grad), 2 | 4 | 8, 1.0f);
}

/* D(real), D(fake) and their means as stats. */
static void scores(pg_loss_graph *l, pg_tensor *d_real, pg_tensor *d_fake) {
    *d_real = critic(l, l->reals);
    *d_fake = critic(l, l->fakes);
    l->score_real = pg_mean(l->g, *d_real, 15);
    l->score_fake = pg_mean(l->g, *d_fake, 15);
}

/* WGAN: D(fake) - D(real). */
static pg_tensor wgan_d(pg_loss_graph *l) {
    pg_tensor d_real, d_fake;
    scores(l, &d_real, &d_fake);
    return pg_sub(l->g, d_fake, d_real);
}

/* WGAN-GP: + lambda (||grad D(mixed)|| / s - 1)^2 + drift D(real)^2. */
static pg_tensor wgan_gp_d(pg_loss_graph *l) {
    pg_graph *g = l->g;
    pg_tensor d_real, d_fake;
    scores(l, &d_real, &d_fake);
    pg_tensor loss = pg_sub(g, d_fake, d_real);
    l->mix = pg_input(g, "gp_mix", l->batch, 1, 1, 1);
    pg_tensor mixed = pg_lerp(g, l->reals, l->fakes, l->mix);
    pg_tensor d_mixed = critic(l, mixed);
    pg_tensor norm = pg_sqrt(g, input_gradient_norm_sq(g, d_mixed, mixed));
    pg_tensor gp = pg_square(g, pg_scale(g, norm, 1.0f / l->gp_scale, -1.0f));
    l->grad_norm = pg_mean(g, norm, 15);
    l->score_mixed = pg_mean(g, d_mixed, 15);
    l->penalty = pg_mean(g, gp, 15);
    loss = pg_add(g, loss, pg_scale(g, gp, l->gp_lambda, 0));
    if (l->drift > 0) loss = pg_add(g, loss, pg_scale(g, pg_square(g, d_real), l->drift, 0));
    return loss;
}

/* Non-saturating: softplus(D(fake)) + softplus(-D(real)) + gamma/2 ||grad D(real)||^2. */
static pg_tensor ns_d(pg_loss_graph *l) {
    pg_graph *g = l->g;
    pg_tensor d_real, d_fake;
    scores(l, &d_real, &d_fake);
    pg_tensor loss = pg_add(g, pg_softplus(g, d_fake), pg_softplus(g, pg_scale(g, d_real, -1, 0)));
    if (l->r1_gamma > 0) {
        pg_tensor sq = input_gradient_norm_sq(g, d_real, l->reals);
        l->penalty = pg_mean(g, sq, 15);
        loss = pg_add(g, loss, pg_scale(g, sq, 0.5f * l->r1_gamma, 0));
    }
    return loss;
}

/* G of the Wasserstein losses: -D(G(z)). */
static pg_tensor wgan_g(pg_loss_graph *l) {
    pg_tensor d_fake = critic(l, l->fakes);
    l->score_fake = pg_mean(l->g, d_fake, 15);
    return pg_scale(l->g, d_fake, -1, 0);
}

/* G of the non-saturating loss: softplus(-D(G(z))). */
static pg_tensor ns_g(pg_loss_graph *l) {
    return pg_softplus(l->g, wgan_g(l));
}

const pg_loss pg_losses[PG_LOSS_COUNT] = {
    [PG_LOSS_WGAN_GP] = {"wgan-gp", "WGAN-GP with drift, Adam (default)", wgan_gp_d, wgan_g,
                         PG_OPT_ADAM, PG_OPT_ADAM, 0, 1, 0, 0},
    [PG_LOSS_WGAN] = {"wgan", "weight clipping, RMSprop lr 5e-5 for D and G, 5 critic steps",
                      wgan_d, wgan_g, PG_OPT_RMSPROP, PG_OPT_RMSPROP, 1, 5, 5e-5f, 0.01f},
    [PG_LOSS_NS] = {"ns", "non-saturating, Adam, --r1 GAMMA for an R1 penalty", ns_d, ns_g,
                    PG_OPT_ADAM, PG_OPT_ADAM, 0, 1, 0, 0},
};

int pg_loss_find(const char *name) {
    for (int k = 0; k < PG_LOSS_COUNT; k++)
        if (pg_losses[k].name && !strcmp(name, pg_losses[k].name)) return k;
    return -1;
}

const char *pg_loss_names(void) {
    static char text[256];
    size_t n = 0;
    for (int k = 0; k < PG_LOSS_COUNT && n < sizeof text; k++)
        n += (size_t)snprintf(text + n, sizeof text - n, "%s%s",
                              k ? (k + 1 < PG_LOSS_COUNT ? ", " : " or ") : "", pg_losses[k].name);
    return text;
}

void pg_loss_graph_init(pg_loss_graph *l) {
    l->mix = l->score_real = l->score_fake = l->score_mixed = l->penalty = l->grad_norm = -1;
}
