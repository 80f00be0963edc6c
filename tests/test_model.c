/* The model: parameter counts of the spec without touching the device, the
 * PyTorch layout conversions, and G and D (fading and stable) on the device
 * against the float64 reference with their gradients. */
#include "model/model.h"
#include "testutil.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void counts_case(int res, uint64_t want_g, uint64_t want_d) {
    pg_model_config c = {res, 3, 8192, 1.0f, 512, 0, 4};
    pg_param_set g, d;
    pg_model_generator_params(&c, &g);
    pg_model_discriminator_params(&c, &d);
    test_check(pg_param_set_count(&g) == want_g, "parameter count", "G at %d: %llu, want %llu", res,
               (unsigned long long)pg_param_set_count(&g), (unsigned long long)want_g);
    test_check(pg_param_set_count(&d) == want_d, "parameter count", "D at %d: %llu, want %llu", res,
               (unsigned long long)pg_param_set_count(&d), (unsigned long long)want_d);
}

/* Names and PyTorch shapes of checkpoint-format.md, spot-checked at 1024. */
static void names_case(void) {
    pg_model_config c = {1024, 3, 8192, 1.0f, 512, 0, 4};
    pg_param_set g, d;
    pg_model_generator_params(&c, &g);
    pg_model_discriminator_params(&c, &d);
    struct {
        const pg_param_set *s;
        const char *name;
        int ndim, shape[4];
    } want[] = {
        {&g, "G.b4.dense.weight", 2, {8192, 512}},
        {&g, "G.b4.dense.bias", 1, {512}},
        {&g, "G.b4.conv.weight", 4, {512, 512, 3, 3}},
        {&g, "G.b64.conv0.weight", 4, {256, 512, 3, 3}},
        {&g, "G.b1024.conv1.weight", 4, {16, 16, 3, 3}},
        {&g, "G.torgb1024.weight", 4, {3, 16, 1, 1}},
        {&d, "D.fromrgb1024.weight", 4, {16, 3, 1, 1}},
        {&d, "D.b1024.conv1.weight", 4, {32, 16, 3, 3}},
        {&d, "D.b4.conv.weight", 4, {512, 513, 3, 3}},
        {&d, "D.b4.dense0.weight", 2, {512, 8192}},
        {&d, "D.b4.dense1.weight", 2, {1, 512}},
        {&d, "D.b4.dense1.bias", 1, {1}},
    };
    for (size_t i = 0; i < sizeof want / sizeof want[0]; i++) {
        const pg_param *p = pg_param_find(want[i].s, want[i].name);
        int ok = p && p->pt_ndim == want[i].ndim;
        for (int k = 0; ok && k < want[i].ndim; k++) ok = p->pt_shape[k] == want[i].shape[k];
        test_check(ok, "parameter names", "%s missing or shaped wrong", want[i].name);
    }
    const pg_param *dense = pg_param_find(&g, "G.b4.dense.weight");
    test_check(dense && dense->gain > 0.35f && dense->gain < 0.36f, "gains",
               "G.b4.dense gain %g, want sqrt(2)/4", dense ? dense->gain : 0);
}

/* to_pytorch then from_pytorch is the identity, and the dense permutation
 * puts PyTorch row c*16 + s at device row s*C + c. */
static void layout_case(void) {
    pg_model_config c = {16, 3, 64, 1.0f, 8, 0, 2};
    pg_param_set g;
    pg_model_generator_params(&c, &g);
    for (int i = 0; i < g.count; i++) {
        const pg_param *p = &g.params[i];
        size_t n = (size_t)p->shape[0] * p->shape[1] * p->shape[2] * p->shape[3];
        float *dev = malloc(n * 4), *pt = malloc(n * 4), *back = malloc(n * 4);
        for (size_t k = 0; k < n; k++) dev[k] = (float)k;
        pg_param_to_pytorch(p, dev, pt);
        pg_param_from_pytorch(p, pt, back);
        test_check(!memcmp(dev, back, n * 4), "layout round trip", "%s", p->name);
        if (!strcmp(p->name, "G.b4.dense.weight")) {
            int in = p->shape[3], ch = p->shape[0] / 16; /* row c*16+s, column 0 */
            int c_ = 2, s_ = 5;
            test_check(pt[(size_t)(c_ * 16 + s_) * in] == dev[(size_t)(s_ * ch + c_) * in],
                       "dense permutation", "G.b4.dense row mapping");
        }
        if (p->kind == PG_PARAM_CONV) { /* [out,in,k,k] vs [k,k,in,out] */
            int k = p->shape[0], ci = p->shape[2], co = p->shape[3];
            int o = co - 1, i_ = ci - 1, y = k - 1, x = 0;
            test_check(pt[(((size_t)o * ci + i_) * k + y) * k + x] ==
                           dev[(((size_t)y * k + x) * ci + i_) * co + o],
                       "conv layout", "%s", p->name);
        }
        free(dev), free(pt), free(back);
    }
}

/* A network whose parameters are graph inputs, so the checker can perturb them. */
static void net_inputs(pg_graph *g, const pg_param_set *s, pg_net *net) {
    net->set = s;
    for (int i = 0; i < s->count; i++) {
        const int *d = s->params[i].shape;
        net->t[i] = pg_input(g, s->params[i].name, d[0], d[1], d[2], d[3]);
    }
}

static void network_case(int res, int fading) {
    pg_model_config c = {16, 3, 48, 1.0f, 6, 5, 4}; /* group 4: see case_mbstd in test_ops */
    pg_param_set gs, ds;
    pg_model_generator_params(&c, &gs);
    pg_model_discriminator_params(&c, &ds);
    char name[64];
    pg_graph *g = pg_graph_create();
    pg_net G;
    net_inputs(g, &gs, &G);
    pg_tensor z = pg_input(g, "z", 4, 1, 1, 5),
              alpha = fading ? pg_input(g, "alpha", 1, 1, 1, 1) : -1;
    pg_tensor img = pg_model_generator(g, &c, &G, z, res, alpha);
    pg_tensor xs[4] = {G.t[0], G.t[gs.count - 2], z, G.t[2]};
    snprintf(name, sizeof name, "G at %d%s", res, fading ? " fading" : "");
    test_op_check(name, g, img, xs, 4, 0, 1e-4, 900 + (uint64_t)res);
    pg_graph_destroy(g);

    g = pg_graph_create();
    pg_net D;
    net_inputs(g, &ds, &D);
    pg_tensor x = pg_input(g, "img", 4, res, res, 3);
    alpha = fading ? pg_input(g, "alpha", 1, 1, 1, 1) : -1;
    pg_tensor score = pg_model_discriminator(g, &c, &D, x, res, alpha);
    pg_tensor dxs[3] = {x, D.t[0], D.t[ds.count - 1]};
    snprintf(name, sizeof name, "D at %d%s", res, fading ? " fading" : "");
    test_op_check(name, g, score, dxs, 3, 1, 1e-4, 950 + (uint64_t)res);
    pg_graph_destroy(g);
}

int main(void) {
    counts_case(1024, 23079115, 23087249);
    counts_case(256, 23044309, 23052353);
    counts_case(128, 22933394, 22941313);
    names_case();
    layout_case();
    if (!test_context()) return test_finish("test_model") | 1;
    network_case(4, 0);
    network_case(8, 1);
    network_case(16, 1);
    network_case(16, 0);
    test_context_release();
    return test_finish("test_model");
}
