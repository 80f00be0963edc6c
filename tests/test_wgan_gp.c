/* The composite check of the foundation: a 3-layer critic with minibatch
 * stddev, the WGAN-GP loss
 *   mean(D(f)) - mean(D(r)) + 10 * mean((||dD(m)/dm|| - 1)^2) + 0.001 * mean(D(r)^2)
 * (m = r + (f - r) t, one t per sample), and its parameter gradients on the
 * device against finite differences of the float64 reference. The penalty
 * differentiates through an input gradient, so this exercises every op's VJP
 * of a VJP on the critic's path. Then every row of the loss table, D and G. */
#include "testutil.h"
#include "train/loss.h"

#include <math.h>
#include <stdio.h>

enum { N = 4, RES = 8, C_IN = 3, C1 = 5, C2 = 6, GROUP = 2 };

typedef struct {
    pg_tensor w1, b1, w2, b2, w3, b3;
} critic;

/* The critic's parameters as graph inputs (the checker perturbs them). */
static critic critic_inputs(pg_graph *g) {
    critic d = {pg_input(g, "w1", 3, 3, C_IN, C1),   pg_input(g, "b1", 1, 1, 1, C1),
                pg_input(g, "w2", 3, 3, C1 + 1, C2), pg_input(g, "b2", 1, 1, 1, C2),
                pg_input(g, "w3", 1, 1, 1, 16 * C2), pg_input(g, "b3", 1, 1, 1, 1)};
    return d;
}

/* D(x): conv3x3 -> lrelu -> avgpool -> mbstd -> conv3x3 -> lrelu -> dense -> [N,1,1,1] */
static pg_tensor critic_apply(pg_graph *g, const critic *d, pg_tensor x) {
    pg_tensor h = pg_leaky_relu(g, pg_bias_add(g, pg_conv2d(g, x, d->w1, 0.27f), d->b1), 0.2f);
    h = pg_avgpool2x(g, h, 1.0f);
    h = pg_mbstd(g, h, GROUP, 1e-8f);
    h = pg_leaky_relu(g, pg_bias_add(g, pg_conv2d(g, h, d->w2, 0.19f), d->b2), 0.2f);
    pg_tensor flat = pg_reshape(g, h, N, 1, 1, 16 * C2);
    pg_tensor out = pg_bias_add(g, pg_matmul(g, flat, d->w3, 0, 1, 0.11f), d->b3);
    return pg_reshape(g, out, N, 1, 1, 1);
}

static void wgan_gp_case(int drift, uint64_t seed) {
    pg_graph *g = pg_graph_create();
    critic d = critic_inputs(g);
    pg_tensor reals = pg_input(g, "reals", N, RES, RES, C_IN);
    pg_tensor fakes = pg_input(g, "fakes", N, RES, RES, C_IN);
    pg_tensor t = pg_input(g, "t", N, 1, 1, 1);
    pg_tensor d_real = critic_apply(g, &d, reals), d_fake = critic_apply(g, &d, fakes);
    pg_tensor mixed = pg_lerp(g, reals, fakes, t);
    pg_tensor d_mixed = critic_apply(g, &d, mixed), grad;
    if (!test_check(pg_grad(g, pg_sum(g, d_mixed), -1, 1, &mixed, &grad) == PG_OK, "wgan-gp",
                    "input gradient: %s", pg_error_message()))
        return;
    pg_tensor norm =
        pg_sqrt(g, pg_scale(g, pg_reduce_sum(g, pg_square(g, grad), 14, 1.0f), 1.0f, 1e-8f));
    pg_tensor penalty = pg_mean(g, pg_square(g, pg_scale(g, norm, 1.0f, -1.0f)), 15);
    pg_tensor loss = pg_add(g, pg_sub(g, pg_mean(g, d_fake, 15), pg_mean(g, d_real, 15)),
                            pg_scale(g, penalty, 10.0f, 0.0f));
    if (drift) loss = pg_add(g, loss, pg_scale(g, pg_mean(g, pg_square(g, d_real), 15), 1e-3f, 0));
    pg_tensor params[6] = {d.w1, d.b1, d.w2, d.b2, d.w3, d.b3};
    test_loss_grad_check(drift ? "wgan-gp with drift" : "wgan-gp", g, loss, params, 6, 1e-4, seed);
    pg_graph_destroy(g);
}

/* The test critic as a loss-table critic. */
static pg_tensor critic_callback(const pg_critic *self, pg_graph *g, pg_tensor x) {
    return critic_apply(g, (const critic *)self->ctx, x);
}

/* Every row of the loss table (src/train/loss.c), D loss over the critic's
 * parameters and G loss over the fakes, against finite differences: the
 * training's own loss graphs, not copies. */
static void loss_table_case(int k, int discriminator, uint64_t seed) {
    const pg_loss *row = &pg_losses[k];
    char name[64];
    snprintf(name, sizeof name, "loss table %s %s", row->name ? row->name : "?",
             discriminator ? "D" : "G");
    if (!test_check(row->name && row->d_loss && row->g_loss && row->n_critic >= 1, name,
                    "row %d of pg_losses is incomplete", k))
        return;
    pg_graph *g = pg_graph_create();
    critic d = critic_inputs(g);
    pg_critic cb = {critic_callback, &d};
    pg_loss_graph l = {.g = g,
                       .D = &cb,
                       .batch = N,
                       .gp_scale = 2.0f,
                       .gp_lambda = 10.0f,
                       .drift = 1e-3f,
                       .r1_gamma = 10.0f};
    pg_loss_graph_init(&l);
    l.fakes = pg_input(g, "fakes", N, RES, RES, C_IN);
    if (discriminator) l.reals = pg_input(g, "reals", N, RES, RES, C_IN);
    pg_tensor per = discriminator ? row->d_loss(&l) : row->g_loss(&l);
    test_check(l.score_fake >= 0 && (!discriminator || l.score_real >= 0), name,
               "the row sets no score stats");
    pg_tensor loss = pg_mean(g, per, 15);
    pg_tensor params[6] = {d.w1, d.b1, d.w2, d.b2, d.w3, d.b3};
    if (discriminator)
        test_loss_grad_check(name, g, loss, params, 6, 1e-4, seed);
    else
        test_loss_grad_check(name, g, loss, &l.fakes, 1, 1e-4, seed);
    pg_graph_destroy(g);
}

/* The WGAN paper's settings are the wgan row's defaults: RMSprop for both
 * networks, lr 5e-5, 5 critic steps, clipping 0.01. */
static void wgan_defaults(void) {
    const pg_loss *w = &pg_losses[PG_LOSS_WGAN];
    test_check(w->d_opt == PG_OPT_RMSPROP && w->g_opt == PG_OPT_RMSPROP && w->clip_d &&
                   w->n_critic == 5 && w->rms_lr == 5e-5f && w->clip == 0.01f,
               "wgan defaults", "d_opt %d g_opt %d n_critic %d lr %g clip %g", w->d_opt, w->g_opt,
               w->n_critic, w->rms_lr, w->clip);
}

int main(void) {
    if (!test_context()) return test_finish("test_wgan_gp") | 1;
    /* 1e-4: the loss gradient chains ~25 float32 ops through a second derivative */
    wgan_gp_case(0, 7);
    wgan_gp_case(1, 8);
    for (int k = 0; k < PG_LOSS_COUNT; k++) {
        loss_table_case(k, 1, 20 + 2 * (uint64_t)k);
        loss_table_case(k, 0, 21 + 2 * (uint64_t)k);
    }
    wgan_defaults();
    test_context_release();
    return test_finish("test_wgan_gp");
}
