/* The composite check of the foundation: a 3-layer critic with minibatch
 * stddev, the WGAN-GP loss
 *   mean(D(f)) - mean(D(r)) + 10 * mean((||dD(m)/dm|| - 1)^2) + 0.001 * mean(D(r)^2)
 * (m = r + (f - r) t, one t per sample), and its parameter gradients on the
 * device against finite differences of the float64 reference. The penalty
 * differentiates through an input gradient, so this exercises every op's VJP
 * of a VJP on the critic's path. */
#include "testutil.h"

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

/* The non-saturating loss with an R1 penalty, and the original WGAN loss:
 *   ns:   mean(softplus(D(f))) + mean(softplus(-D(r))) + gamma/2 mean(||dD(r)/dr||^2)
 *   wgan: mean(D(f)) - mean(D(r)) */
static void other_loss_case(int ns, uint64_t seed) {
    pg_graph *g = pg_graph_create();
    critic d = critic_inputs(g);
    pg_tensor reals = pg_input(g, "reals", N, RES, RES, C_IN);
    pg_tensor fakes = pg_input(g, "fakes", N, RES, RES, C_IN);
    pg_tensor d_real = critic_apply(g, &d, reals), d_fake = critic_apply(g, &d, fakes), loss;
    if (ns) {
        pg_tensor grad;
        if (!test_check(pg_grad(g, pg_sum(g, d_real), -1, 1, &reals, &grad) == PG_OK, "ns r1",
                        "input gradient: %s", pg_error_message()))
            return;
        pg_tensor r1 = pg_reduce_sum(g, pg_square(g, grad), 14, 1.0f);
        pg_tensor per =
            pg_add(g, pg_softplus(g, d_fake), pg_softplus(g, pg_scale(g, d_real, -1, 0)));
        loss = pg_mean(g, pg_add(g, per, pg_scale(g, r1, 5.0f, 0)), 15);
    } else {
        loss = pg_sub(g, pg_mean(g, d_fake, 15), pg_mean(g, d_real, 15));
    }
    pg_tensor params[6] = {d.w1, d.b1, d.w2, d.b2, d.w3, d.b3};
    test_loss_grad_check(ns ? "ns loss with r1" : "wgan loss", g, loss, params, 6, 1e-4, seed);
    pg_graph_destroy(g);
}

int main(void) {
    if (!test_context()) return test_finish("test_wgan_gp") | 1;
    /* 1e-4: the loss gradient chains ~25 float32 ops through a second derivative */
    wgan_gp_case(0, 7);
    wgan_gp_case(1, 8);
    other_loss_case(1, 9);
    other_loss_case(0, 10);
    test_context_release();
    return test_finish("test_wgan_gp");
}
