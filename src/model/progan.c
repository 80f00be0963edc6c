/* ProGAN's networks as in progan-spec.md, at the native resolution of a phase.
 * Reads like the official networks.py: nf(stage), block(), to_rgb(), from_rgb(). */
#include "model/model.h"

#include <stdio.h>
#include <string.h>

static const float SLOPE = 0.2f, PIXEL_NORM_EPS = 1e-8f, MBSTD_EPS = 1e-8f;

static pg_tensor param(const pg_net *net, const char *fmt, int r) {
    char name[48];
    snprintf(name, sizeof name, fmt, net->set->prefix, r);
    for (int i = 0; i < net->set->count; i++)
        if (!strcmp(net->set->params[i].name, name)) return net->t[i];
    return -1;
}

static float scale_of(const pg_net *net, pg_tensor w) {
    for (int i = 0; i < net->set->count; i++)
        if (net->t[i] == w) return pg_param_scale(&net->set->params[i]);
    return 1.0f;
}

/* conv (k from the weight) + bias, with the equalized-LR scale */
static pg_tensor conv(pg_graph *g, const pg_net *net, pg_tensor x, const char *layer, int r) {
    char w_name[48], b_name[48];
    snprintf(w_name, sizeof w_name, "%%s.%s.weight", layer);
    snprintf(b_name, sizeof b_name, "%%s.%s.bias", layer);
    pg_tensor w = param(net, w_name, r), b = param(net, b_name, r);
    return pg_bias_add(g, pg_conv2d(g, x, w, scale_of(net, w)), b);
}

static pg_tensor lrelu(pg_graph *g, pg_tensor x) {
    return pg_leaky_relu(g, x, SLOPE);
}

static pg_tensor pnorm(pg_graph *g, pg_tensor x) {
    return pg_pixel_norm(g, x, PIXEL_NORM_EPS);
}

static pg_tensor to_rgb(pg_graph *g, const pg_net *G, pg_tensor h, int r) {
    char layer[32];
    snprintf(layer, sizeof layer, "torgb%d", r);
    return conv(g, G, h, layer, 0);
}

static pg_tensor from_rgb(pg_graph *g, const pg_net *D, pg_tensor img, int r) {
    char layer[32];
    snprintf(layer, sizeof layer, "fromrgb%d", r);
    return lrelu(g, conv(g, D, img, layer, 0));
}

/* G's block at resolution r >= 8: upsample, two 3x3 convs with lrelu and pixel norm. */
static pg_tensor g_block(pg_graph *g, const pg_net *G, pg_tensor h, int r) {
    h = pg_upsample2x(g, h, 1.0f);
    h = pnorm(g, lrelu(g, conv(g, G, h, "b%d.conv0", r)));
    return pnorm(g, lrelu(g, conv(g, G, h, "b%d.conv1", r)));
}

/* G's 4x4 block: pixel-normed z -> dense to 4x4 -> conv. */
static pg_tensor g_block4(pg_graph *g, const pg_model_config *c, const pg_net *G, pg_tensor z) {
    int n = g->nodes[z].shape[0], nf1 = pg_model_nf(c, 1);
    pg_tensor w = param(G, "%s.b4.dense.weight", 0), b = param(G, "%s.b4.dense.bias", 0);
    pg_tensor h = pg_matmul(g, pnorm(g, z), w, 0, 1, scale_of(G, w));
    h = pg_reshape(g, h, n, 4, 4, nf1); /* device rows are (y*4+x)*nf1 + c */
    h = pnorm(g, lrelu(g, pg_bias_add(g, h, b)));
    return pnorm(g, lrelu(g, conv(g, G, h, "b4.conv", 0)));
}

pg_tensor pg_model_generator(pg_graph *g, const pg_model_config *c, const pg_net *G, pg_tensor z,
                             int res, pg_tensor alpha) {
    pg_tensor h = g_block4(g, c, G, z), old = -1;
    for (int r = 8; r <= res; r *= 2) {
        if (r == res && alpha >= 0) old = pg_upsample2x(g, to_rgb(g, G, h, r / 2), 1.0f);
        h = g_block(g, G, h, r);
    }
    pg_tensor img = to_rgb(g, G, h, res);
    return old >= 0 ? pg_lerp(g, old, img, alpha) : img;
}

/* D's block at resolution r >= 8: two 3x3 convs with lrelu, then 2x2 average pool. */
static pg_tensor d_block(pg_graph *g, const pg_net *D, pg_tensor x, int r) {
    x = lrelu(g, conv(g, D, x, "b%d.conv0", r));
    x = lrelu(g, conv(g, D, x, "b%d.conv1", r));
    return pg_avgpool2x(g, x, 1.0f);
}

/* D's 4x4 block: minibatch stddev, conv, dense, dense -> one score per sample. */
static pg_tensor d_block4(pg_graph *g, const pg_model_config *c, const pg_net *D, pg_tensor x) {
    int n = g->nodes[x].shape[0], nf1 = pg_model_nf(c, 1);
    int group = c->mbstd_group < n ? c->mbstd_group : n;
    x = pg_mbstd(g, x, group, MBSTD_EPS);
    x = lrelu(g, conv(g, D, x, "b4.conv", 0));
    x = pg_reshape(g, x, n, 1, 1, 16 * nf1); /* flatten index (y*4+x)*nf1 + c */
    pg_tensor w0 = param(D, "%s.b4.dense0.weight", 0), b0 = param(D, "%s.b4.dense0.bias", 0);
    pg_tensor w1 = param(D, "%s.b4.dense1.weight", 0), b1 = param(D, "%s.b4.dense1.bias", 0);
    x = lrelu(g, pg_bias_add(g, pg_matmul(g, x, w0, 0, 1, scale_of(D, w0)), b0));
    return pg_bias_add(g, pg_matmul(g, x, w1, 0, 1, scale_of(D, w1)), b1);
}

pg_tensor pg_model_discriminator(pg_graph *g, const pg_model_config *c, const pg_net *D,
                                 pg_tensor img, int res, pg_tensor alpha) {
    pg_tensor x = from_rgb(g, D, img, res);
    if (res > 4) {
        x = d_block(g, D, x, res);
        if (alpha >= 0) {
            pg_tensor y = from_rgb(g, D, pg_avgpool2x(g, img, 1.0f), res / 2);
            x = pg_lerp(g, y, x, alpha);
        }
        for (int r = res / 2; r >= 8; r /= 2) x = d_block(g, D, x, r);
    }
    return d_block4(g, c, D, x);
}
