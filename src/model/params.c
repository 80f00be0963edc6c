/* The parameter registry: every parameter of G and D with the names and
 * PyTorch shapes of checkpoint-format.md, its device layout, gain and fan-in,
 * and the conversions between the two layouts. */
#include "model/model.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

int pg_model_nf(const pg_model_config *c, int stage) {
    int v = (int)((double)c->fmap_base / pow(2.0, stage * (double)c->fmap_decay));
    return v < c->fmap_max ? v : c->fmap_max;
}

int pg_model_latent(const pg_model_config *c) {
    return c->latent > 0 ? c->latent : pg_model_nf(c, 0);
}

static int log2_exact(int v) {
    int l = 0;
    while ((1 << l) < v) l++;
    return (1 << l) == v ? l : -1;
}

pg_status pg_model_config_check(const pg_model_config *c) {
    int l = log2_exact(c->resolution);
    if (l < 2 || l > 10)
        return PG_FAIL(PG_ERR_INVALID, "resolution %d is not a power of two in 4..1024",
                       c->resolution);
    if (c->channels != 1 && c->channels != 3)
        return PG_FAIL(PG_ERR_INVALID, "%d image channels: progan trains 1 (gray) or 3 (RGB)",
                       c->channels);
    if (c->fmap_base < 1 || c->fmap_max < 1 || c->fmap_decay < 0)
        return PG_FAIL(PG_ERR_INVALID,
                       "fmap_base %d, fmap_max %d, fmap_decay %g: all must be "
                       "positive",
                       c->fmap_base, c->fmap_max, c->fmap_decay);
    for (int s = 0; s <= l; s++)
        if (pg_model_nf(c, s) < 1)
            return PG_FAIL(PG_ERR_INVALID,
                           "fmap_base %d gives 0 channels at stage %d: raise "
                           "--fmap-base",
                           c->fmap_base, s);
    if (c->mbstd_group < 1)
        return PG_FAIL(PG_ERR_INVALID, "minibatch-stddev group %d must be >= 1", c->mbstd_group);
    return PG_OK;
}

static pg_param *param_add(pg_param_set *s, const char *name, pg_param_kind kind, int out, int in,
                           int k, float gain, int res) {
    char full[sizeof s->params[0].name];
    snprintf(full, sizeof full, "%s.%s", s->prefix, name);
    pg_param *p = &s->params[s->count++];
    memset(p, 0, sizeof *p);
    memcpy(p->name, full, sizeof full);
    p->kind = kind;
    p->gain = gain;
    p->resolution = res;
    if (kind == PG_PARAM_CONV) {
        int shape[4] = {k, k, in, out}, pt[4] = {out, in, k, k};
        memcpy(p->shape, shape, sizeof shape);
        memcpy(p->pt_shape, pt, sizeof pt);
        p->pt_ndim = 4;
        p->fan_in = in * k * k;
    } else if (kind == PG_PARAM_DENSE) {
        int shape[4] = {out, 1, 1, in};
        memcpy(p->shape, shape, sizeof shape);
        p->pt_shape[0] = out;
        p->pt_shape[1] = in;
        p->pt_ndim = 2;
        p->fan_in = in;
    } else {
        int shape[4] = {1, 1, 1, out};
        memcpy(p->shape, shape, sizeof shape);
        p->pt_shape[0] = out;
        p->pt_ndim = 1;
        p->fan_in = 1;
        p->gain = 1;
    }
    uint64_t size = (uint64_t)p->shape[0] * p->shape[1] * p->shape[2] * p->shape[3];
    p->offset = s->total;
    s->total += (size + 63) / 64 * 64;
    return p;
}

/* A weight and its bias, named "<block>.weight" / "<block>.bias". */
static pg_param *layer_add(pg_param_set *s, const char *block, pg_param_kind kind, int out, int in,
                           int k, float gain, int res) {
    char name[48];
    snprintf(name, sizeof name, "%s.weight", block);
    pg_param *w = param_add(s, name, kind, out, in, k, gain, res);
    snprintf(name, sizeof name, "%s.bias", block);
    param_add(s, name, PG_PARAM_BIAS, out, 0, 0, 1, res);
    return w;
}

void pg_model_generator_params(const pg_model_config *c, pg_param_set *s) {
    memset(s, 0, sizeof *s);
    snprintf(s->prefix, sizeof s->prefix, "G");
    const float sqrt2 = sqrtf(2.0f);
    int z = pg_model_latent(c), nf1 = pg_model_nf(c, 1), top = log2_exact(c->resolution);
    pg_param *dense = layer_add(s, "b4.dense", PG_PARAM_DENSE, nf1 * 16, z, 0, sqrt2 / 4, 4);
    dense->spatial_major = 1;
    s->params[s->count - 1].shape[3] = nf1; /* the bias is per channel after the reshape */
    s->params[s->count - 1].pt_shape[0] = nf1;
    layer_add(s, "b4.conv", PG_PARAM_CONV, nf1, nf1, 3, sqrt2, 4);
    layer_add(s, "torgb4", PG_PARAM_CONV, c->channels, nf1, 1, 1.0f, 4);
    for (int l = 3; l <= top; l++) {
        char block[32];
        int r = 1 << l;
        snprintf(block, sizeof block, "b%d.conv0", r);
        layer_add(s, block, PG_PARAM_CONV, pg_model_nf(c, l - 1), pg_model_nf(c, l - 2), 3, sqrt2,
                  r);
        snprintf(block, sizeof block, "b%d.conv1", r);
        layer_add(s, block, PG_PARAM_CONV, pg_model_nf(c, l - 1), pg_model_nf(c, l - 1), 3, sqrt2,
                  r);
        snprintf(block, sizeof block, "torgb%d", r);
        layer_add(s, block, PG_PARAM_CONV, c->channels, pg_model_nf(c, l - 1), 1, 1.0f, r);
    }
}

void pg_model_discriminator_params(const pg_model_config *c, pg_param_set *s) {
    memset(s, 0, sizeof *s);
    snprintf(s->prefix, sizeof s->prefix, "D");
    const float sqrt2 = sqrtf(2.0f);
    int nf0 = pg_model_nf(c, 0), nf1 = pg_model_nf(c, 1), top = log2_exact(c->resolution);
    for (int l = top; l >= 3; l--) {
        char block[32];
        int r = 1 << l;
        snprintf(block, sizeof block, "fromrgb%d", r);
        layer_add(s, block, PG_PARAM_CONV, pg_model_nf(c, l - 1), c->channels, 1, sqrt2, r);
        snprintf(block, sizeof block, "b%d.conv0", r);
        layer_add(s, block, PG_PARAM_CONV, pg_model_nf(c, l - 1), pg_model_nf(c, l - 1), 3, sqrt2,
                  r);
        snprintf(block, sizeof block, "b%d.conv1", r);
        layer_add(s, block, PG_PARAM_CONV, pg_model_nf(c, l - 2), pg_model_nf(c, l - 1), 3, sqrt2,
                  r);
    }
    layer_add(s, "fromrgb4", PG_PARAM_CONV, nf1, c->channels, 1, sqrt2, 4);
    layer_add(s, "b4.conv", PG_PARAM_CONV, nf1, nf1 + 1, 3, sqrt2, 4);
    pg_param *dense0 = layer_add(s, "b4.dense0", PG_PARAM_DENSE, nf0, nf1 * 16, 0, sqrt2, 4);
    dense0->spatial_major = 1;
    layer_add(s, "b4.dense1", PG_PARAM_DENSE, 1, nf0, 0, 1.0f, 4);
}

uint64_t pg_param_set_count(const pg_param_set *s) {
    uint64_t n = 0;
    for (int i = 0; i < s->count; i++) {
        const int *d = s->params[i].shape;
        n += (uint64_t)d[0] * d[1] * d[2] * d[3];
    }
    return n;
}

const pg_param *pg_param_find(const pg_param_set *s, const char *name) {
    for (int i = 0; i < s->count; i++)
        if (!strcmp(s->params[i].name, name)) return &s->params[i];
    return NULL;
}

/* Index of element (o, i) of a dense weight in device order. */
static size_t dense_device_index(const pg_param *p, int o, int i) {
    int in = p->shape[3], out = p->shape[0];
    if (!p->spatial_major) return (size_t)o * in + i;
    if (!strcmp(p->name + 2, "b4.dense.weight")) { /* rows: c*16 + s -> s*C + c */
        int c = o / 16, sp = o % 16, ch = out / 16;
        return ((size_t)sp * ch + c) * in + i;
    }
    int c = i / 16, sp = i % 16, ch = in / 16; /* D.b4.dense0 columns */
    return (size_t)o * in + (size_t)sp * ch + c;
}

/* Walks the PyTorch index space; f(device_index, pytorch_index). */
#define FOR_EACH_ELEMENT(p, body)                                                                  \
    do {                                                                                           \
        if ((p)->kind == PG_PARAM_CONV) {                                                          \
            int k = (p)->shape[0], ci = (p)->shape[2], co = (p)->shape[3];                         \
            for (int o = 0; o < co; o++)                                                           \
                for (int i = 0; i < ci; i++)                                                       \
                    for (int y = 0; y < k; y++)                                                    \
                        for (int x = 0; x < k; x++) {                                              \
                            size_t pt = (((size_t)o * ci + i) * k + y) * k + x;                    \
                            size_t dev = (((size_t)y * k + x) * ci + i) * co + o;                  \
                            body;                                                                  \
                        }                                                                          \
        } else if ((p)->kind == PG_PARAM_DENSE) {                                                  \
            for (int o = 0; o < (p)->shape[0]; o++)                                                \
                for (int i = 0; i < (p)->shape[3]; i++) {                                          \
                    size_t pt = (size_t)o * (p)->shape[3] + i, dev = dense_device_index(p, o, i);  \
                    body;                                                                          \
                }                                                                                  \
        } else {                                                                                   \
            for (size_t pt = 0, dev = 0; pt < (size_t)(p)->shape[3]; pt++, dev++) body;            \
        }                                                                                          \
    } while (0)

void pg_param_to_pytorch(const pg_param *p, const float *device, float *pytorch) {
    FOR_EACH_ELEMENT(p, pytorch[pt] = device[dev]);
}

void pg_param_from_pytorch(const pg_param *p, const float *pytorch, float *device) {
    FOR_EACH_ELEMENT(p, device[dev] = pytorch[pt]);
}

void pg_param_set_init(const pg_param_set *s, uint64_t seed, float *arena) {
    for (int i = 0; i < s->count; i++) {
        const pg_param *p = &s->params[i];
        size_t n = (size_t)p->shape[0] * p->shape[1] * p->shape[2] * p->shape[3];
        float *dst = arena + p->offset;
        if (p->kind == PG_PARAM_BIAS)
            memset(dst, 0, n * sizeof *dst);
        else /* stream = parameter index (G and D differ by the seed the caller passes) */
            pg_rand_normal_fill(dst, n, seed, 0, (uint32_t)i);
    }
}

void pg_net_bind(pg_graph *g, const pg_param_set *set, const pg_vk_buffer *buffer,
                 uint64_t base_bytes, pg_net *out) {
    out->set = set;
    for (int i = 0; i < set->count; i++) {
        const pg_param *p = &set->params[i];
        uint64_t n = (uint64_t)p->shape[0] * p->shape[1] * p->shape[2] * p->shape[3];
        pg_vk_range r = {buffer, base_bytes + 4 * p->offset, 4 * n};
        out->t[i] = pg_external(g, p->name, p->shape, r);
    }
}
