/* src/model/inception: the FID Inception network (see inception.h). The block
 * functions below are the single description of the network: loading runs
 * them once over a shape-only graph to learn every layer's name and shape,
 * and building runs them again with the folded weights bound. */
#include "model/inception.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <xxhash.h>

#include "io/safetensors.h"

#define BN_EPS     1e-3 /* torchvision's BasicConv2d */
#define MAX_LAYERS 100

typedef struct {
    char name[48]; /* "Mixed_5b.branch5x5_2", or "fc" */
    int kh, kw, ci, co;
    uint64_t w_offset, b_offset; /* floats into the arena: HWIO weight, bias */
} inception_layer;

struct pg_inception {
    int count;
    inception_layer layers[MAX_LAYERS];
    float *arena;
    uint64_t total; /* floats, each tensor aligned to 64 floats (256 bytes) */
    char hash[17];
};

/* Registering: append each layer met (shapes only); building: bind layer `next`. */
typedef struct {
    pg_graph *g;
    pg_inception *net;
    const pg_vk_buffer *buffer; /* NULL while registering */
    const char *block;          /* "Mixed_5b", or NULL for the stem */
    int next;
    pg_status error; /* the first layer that could not be bound (message set) */
} builder;

static uint64_t arena_take(pg_inception *net, uint64_t floats) {
    uint64_t at = net->total;
    net->total += (floats + 63) / 64 * 64;
    return at;
}

/* The weight [kh,kw,ci,co] (fc: [co,1,1,ci]) and bias [1,1,1,co] of the next layer. */
static void layer_tensors(builder *b, const char *name, int kh, int kw, int ci, int co,
                          pg_tensor *w, pg_tensor *bias) {
    int ws[4] = {kh, kw, ci, co}, bs[4] = {1, 1, 1, co};
    if (!strcmp(name, "fc")) ws[0] = co, ws[1] = 1, ws[2] = 1, ws[3] = ci;
    if (!b->buffer) {
        if (b->net->count == MAX_LAYERS) {
            *w = *bias = -1;
            if (!b->error)
                b->error = PG_FAIL(PG_ERR_INVALID, "inception: over %d layers", MAX_LAYERS);
            return;
        }
        inception_layer *l = &b->net->layers[b->net->count++];
        snprintf(l->name, sizeof l->name, "%s", name);
        l->kh = kh, l->kw = kw, l->ci = ci, l->co = co;
        l->w_offset = arena_take(b->net, (uint64_t)kh * kw * ci * co);
        l->b_offset = arena_take(b->net, (uint64_t)co);
        *w = pg_input(b->g, name, ws[0], ws[1], ws[2], ws[3]);
        *bias = pg_input(b->g, name, 1, 1, 1, co);
        return;
    }
    const inception_layer *l = b->next < b->net->count ? &b->net->layers[b->next++] : NULL;
    if (!l || strcmp(l->name, name) || l->ci != ci) {
        *w = *bias = -1;
        if (!b->error)
            b->error =
                PG_FAIL(PG_ERR_INVALID, "inception: layer %s does not match the weights", name);
        return;
    }
    pg_vk_range wr = {b->buffer, 4 * l->w_offset, 4ull * kh * kw * ci * co};
    pg_vk_range br = {b->buffer, 4 * l->b_offset, 4ull * co};
    *w = pg_external(b->g, name, ws, wr);
    *bias = pg_external(b->g, name, bs, br);
}

/* BasicConv2d: conv (no bias) + batch norm (folded: a bias) + ReLU. */
static pg_tensor cv(builder *b, pg_tensor x, const char *branch, int co, int kh, int kw, int stride,
                    int py, int px) {
    if (x < 0) return -1;
    char name[48];
    if (b->block)
        snprintf(name, sizeof name, "%s.%s", b->block, branch);
    else
        snprintf(name, sizeof name, "%s", branch);
    pg_tensor w, bias;
    layer_tensors(b, name, kh, kw, b->g->nodes[x].shape[3], co, &w, &bias);
    pg_tensor y = pg_conv2d_ex(b->g, x, w, stride, py, px, 1.0f);
    return pg_relu(b->g, pg_bias_add(b->g, y, bias));
}

static pg_tensor cv1(builder *b, pg_tensor x, const char *branch, int co) {
    return cv(b, x, branch, co, 1, 1, 1, 0, 0);
}

static pg_tensor cat(pg_graph *g, int n, const pg_tensor *parts) {
    pg_tensor y = parts[0];
    for (int i = 1; i < n; i++) y = pg_concat(g, y, parts[i]);
    return y;
}

/* FIDInceptionA: the pool branch averages without counting the padding (TF). */
static pg_tensor block_a(builder *b, pg_tensor x, int pool_features) {
    pg_tensor p[4];
    p[0] = cv1(b, x, "branch1x1", 64);
    p[1] = cv(b, cv1(b, x, "branch5x5_1", 48), "branch5x5_2", 64, 5, 5, 1, 2, 2);
    pg_tensor d = cv1(b, x, "branch3x3dbl_1", 64);
    d = cv(b, d, "branch3x3dbl_2", 96, 3, 3, 1, 1, 1);
    p[2] = cv(b, d, "branch3x3dbl_3", 96, 3, 3, 1, 1, 1);
    p[3] = cv1(b, pg_avgpool(b->g, x, 3, 1, 1, 1), "branch_pool", pool_features);
    return cat(b->g, 4, p);
}

/* InceptionB (Mixed_6a): stride-2 reduction. */
static pg_tensor block_b(builder *b, pg_tensor x) {
    pg_tensor p[3];
    p[0] = cv(b, x, "branch3x3", 384, 3, 3, 2, 0, 0);
    pg_tensor d = cv1(b, x, "branch3x3dbl_1", 64);
    d = cv(b, d, "branch3x3dbl_2", 96, 3, 3, 1, 1, 1);
    p[1] = cv(b, d, "branch3x3dbl_3", 96, 3, 3, 2, 0, 0);
    p[2] = pg_maxpool(b->g, x, 3, 2, 0);
    return cat(b->g, 3, p);
}

/* FIDInceptionC: factorised 7x7 branches, TF's average pool. */
static pg_tensor block_c(builder *b, pg_tensor x, int c7) {
    pg_tensor p[4];
    p[0] = cv1(b, x, "branch1x1", 192);
    pg_tensor s = cv1(b, x, "branch7x7_1", c7);
    s = cv(b, s, "branch7x7_2", c7, 1, 7, 1, 0, 3);
    p[1] = cv(b, s, "branch7x7_3", 192, 7, 1, 1, 3, 0);
    pg_tensor d = cv1(b, x, "branch7x7dbl_1", c7);
    d = cv(b, d, "branch7x7dbl_2", c7, 7, 1, 1, 3, 0);
    d = cv(b, d, "branch7x7dbl_3", c7, 1, 7, 1, 0, 3);
    d = cv(b, d, "branch7x7dbl_4", c7, 7, 1, 1, 3, 0);
    p[2] = cv(b, d, "branch7x7dbl_5", 192, 1, 7, 1, 0, 3);
    p[3] = cv1(b, pg_avgpool(b->g, x, 3, 1, 1, 1), "branch_pool", 192);
    return cat(b->g, 4, p);
}

/* InceptionD (Mixed_7a): stride-2 reduction. */
static pg_tensor block_d(builder *b, pg_tensor x) {
    pg_tensor p[3];
    p[0] = cv(b, cv1(b, x, "branch3x3_1", 192), "branch3x3_2", 320, 3, 3, 2, 0, 0);
    pg_tensor s = cv1(b, x, "branch7x7x3_1", 192);
    s = cv(b, s, "branch7x7x3_2", 192, 1, 7, 1, 0, 3);
    s = cv(b, s, "branch7x7x3_3", 192, 7, 1, 1, 3, 0);
    p[1] = cv(b, s, "branch7x7x3_4", 192, 3, 3, 2, 0, 0);
    p[2] = pg_maxpool(b->g, x, 3, 2, 0);
    return cat(b->g, 3, p);
}

/* FIDInceptionE_1 (avg_pool, padding not counted) and E_2 (max_pool 3 s1 p1,
 * as the TF graph has it). */
static pg_tensor block_e(builder *b, pg_tensor x, int max_pool) {
    pg_tensor p[6];
    p[0] = cv1(b, x, "branch1x1", 320);
    pg_tensor s = cv1(b, x, "branch3x3_1", 384);
    p[1] = cv(b, s, "branch3x3_2a", 384, 1, 3, 1, 0, 1);
    p[2] = cv(b, s, "branch3x3_2b", 384, 3, 1, 1, 1, 0);
    pg_tensor d = cv1(b, x, "branch3x3dbl_1", 448);
    d = cv(b, d, "branch3x3dbl_2", 384, 3, 3, 1, 1, 1);
    p[3] = cv(b, d, "branch3x3dbl_3a", 384, 1, 3, 1, 0, 1);
    p[4] = cv(b, d, "branch3x3dbl_3b", 384, 3, 1, 1, 1, 0);
    pg_tensor pool = max_pool ? pg_maxpool(b->g, x, 3, 1, 1) : pg_avgpool(b->g, x, 3, 1, 1, 1);
    p[5] = cv1(b, pool, "branch_pool", 192);
    return cat(b->g, 6, p);
}

/* Inception3.forward from the first conv to fc, as pytorch-fid's blocks 0-3. */
static void network(builder *b, pg_tensor x, pg_tensor *features, pg_tensor *logits) {
    x = cv(b, x, "Conv2d_1a_3x3", 32, 3, 3, 2, 0, 0);
    x = cv(b, x, "Conv2d_2a_3x3", 32, 3, 3, 1, 0, 0);
    x = cv(b, x, "Conv2d_2b_3x3", 64, 3, 3, 1, 1, 1);
    x = pg_maxpool(b->g, x, 3, 2, 0);
    x = cv1(b, x, "Conv2d_3b_1x1", 80);
    x = cv(b, x, "Conv2d_4a_3x3", 192, 3, 3, 1, 0, 0);
    x = pg_maxpool(b->g, x, 3, 2, 0);
    static const struct {
        const char *name;
        char kind;
        int arg;
    } mixed[] = {{"Mixed_5b", 'A', 32},  {"Mixed_5c", 'A', 64},  {"Mixed_5d", 'A', 64},
                 {"Mixed_6a", 'B', 0},   {"Mixed_6b", 'C', 128}, {"Mixed_6c", 'C', 160},
                 {"Mixed_6d", 'C', 160}, {"Mixed_6e", 'C', 192}, {"Mixed_7a", 'D', 0},
                 {"Mixed_7b", 'E', 0},   {"Mixed_7c", 'E', 1}};
    for (size_t i = 0; i < PG_ARRAY_LEN(mixed); i++) {
        b->block = mixed[i].name;
        int a = mixed[i].arg;
        char k = mixed[i].kind;
        x = k == 'A'   ? block_a(b, x, a)
            : k == 'B' ? block_b(b, x)
            : k == 'C' ? block_c(b, x, a)
            : k == 'D' ? block_d(b, x)
                       : block_e(b, x, a);
    }
    b->block = NULL;
    *features = pg_mean(b->g, x, 2 | 4); /* adaptive average pool to 1x1: [N,1,1,2048] */
    pg_tensor w, bias;
    int ci = *features >= 0 ? b->g->nodes[*features].shape[3] : 0;
    layer_tensors(b, "fc", 1, 1, ci, PG_INCEPTION_CLASSES, &w, &bias);
    *logits = pg_bias_add(b->g, pg_matmul(b->g, *features, w, 0, 1, 1.0f), bias);
}

pg_status pg_inception_graph(pg_graph *g, const pg_inception *net, const pg_vk_buffer *buffer,
                             pg_tensor images, int size, pg_tensor *features, pg_tensor *logits) {
    if (!buffer) return PG_FAIL(PG_ERR_INVALID, "inception: no weight buffer");
    if (size < PG_INCEPTION_MIN_SIZE)
        return PG_FAIL(PG_ERR_INVALID, "inception: input size %d is below %d", size,
                       PG_INCEPTION_MIN_SIZE);
    builder b = {g, (pg_inception *)net, buffer, NULL, 0, PG_OK};
    pg_tensor x = pg_resize_bilinear(g, images, size, size);
    network(&b, pg_scale(g, x, 2.0f, -1.0f), features, logits);
    if (b.error) return b.error;
    if (g->error) return PG_FAIL(g->error, "%s", g->error_message);
    return PG_OK;
}

/* ---- loading */

/* Learns every layer's name and shape by running the blocks on a shape-only graph. */
static pg_status register_layers(pg_inception *net) {
    pg_graph *g = pg_graph_create();
    if (!g) return PG_FAIL(PG_ERR_OUT_OF_MEMORY, "inception: out of memory");
    builder b = {g, net, NULL, NULL, 0, PG_OK};
    pg_tensor features, logits;
    int s = PG_INCEPTION_MIN_SIZE;
    network(&b, pg_input(g, "x", 1, s, s, 3), &features, &logits);
    pg_status st = b.error    ? b.error
                   : g->error ? PG_FAIL(g->error, "inception: %s", g->error_message)
                              : PG_OK;
    pg_graph_destroy(g);
    return st;
}

/* A bounded list of names for one error message. */
typedef struct {
    char text[1536];
    int count;
} name_list;

static void list_add(name_list *l, const char *fmt, const char *name, const char *detail) {
    size_t used = strlen(l->text);
    if (l->count++ < 6 && used < sizeof l->text - 200)
        snprintf(l->text + used, sizeof l->text - used, fmt, l->count > 1 ? ", " : "", name,
                 detail);
    else if (l->count == 7)
        snprintf(l->text + used, sizeof l->text - used, ", ...");
}

static const char *const BN_PARTS[4] = {"bn.weight", "bn.bias", "bn.running_mean",
                                        "bn.running_var"};

static void shape_text(char *out, size_t size, int ndim, const int64_t *shape) {
    size_t at = (size_t)snprintf(out, size, "[");
    for (int i = 0; i < ndim && at < size; i++)
        at += (size_t)snprintf(out + at, size - at, "%s%lld", i ? "," : "", (long long)shape[i]);
    if (at < size) snprintf(out + at, size - at, "]");
}

/* Finds tensor `name` of ndim/shape in float32, or notes it as missing or misshapen. */
static const pg_safetensors_tensor *expect(const pg_safetensors_reader *r, const char *name,
                                           int ndim, const int64_t *shape, name_list *missing,
                                           name_list *wrong) {
    const pg_safetensors_tensor *t = pg_safetensors_reader_find(r, name);
    if (!t) {
        list_add(missing, "%s%s%s", name, "");
        return NULL;
    }
    int ok = t->dtype == PG_DTYPE_F32 && t->ndim == ndim;
    for (int i = 0; ok && i < ndim; i++) ok = t->shape[i] == shape[i];
    if (ok) return t;
    char want[48], have[48], detail[128];
    shape_text(want, sizeof want, ndim, shape);
    shape_text(have, sizeof have, t->ndim, t->shape);
    snprintf(detail, sizeof detail, ": F32 %s expected, the file has %s %s", want,
             pg_dtype_name(t->dtype), have);
    list_add(wrong, "%s%s%s", name, detail);
    return NULL;
}

/* Element i of a float32 tensor in a safetensors file: the data of a file from
 * anyone need not be 4-byte aligned, so it is copied, never dereferenced. */
static double f32_at(const void *data, size_t i) {
    float v;
    memcpy(&v, (const char *)data + 4 * i, sizeof v);
    return v;
}

/* Folds layer l's conv + BN (or fc) from r into the arena; notes problems. */
static void fold_layer(pg_inception *net, const inception_layer *l, const pg_safetensors_reader *r,
                       name_list *missing, name_list *wrong) {
    char name[96];
    float *w = net->arena + l->w_offset, *bias = net->arena + l->b_offset;
    int fc = !strcmp(l->name, "fc");
    int64_t ws[4] = {l->co, l->ci, l->kh, l->kw}, bs[1] = {l->co};
    snprintf(name, sizeof name, fc ? "%s.weight" : "%s.conv.weight", l->name);
    const pg_safetensors_tensor *tw = expect(r, name, fc ? 2 : 4, ws, missing, wrong), *bn[4];
    int have = tw != NULL;
    for (int k = 0; k < (fc ? 1 : 4); k++) {
        snprintf(name, sizeof name, "%s.%s", l->name, fc ? "bias" : BN_PARTS[k]);
        bn[k] = expect(r, name, 1, bs, missing, wrong);
        have &= bn[k] != NULL;
    }
    if (!have) return;
    const void *src = tw->data; /* PyTorch [co][ci][kh][kw] (fc: [co][ci]) */
    for (int o = 0; o < l->co; o++) {
        double scale = fc ? 1.0 : f32_at(bn[0]->data, o) / sqrt(f32_at(bn[3]->data, o) + BN_EPS);
        double mean = fc ? 0.0 : f32_at(bn[2]->data, o);
        bias[o] = (float)(f32_at(bn[fc ? 0 : 1]->data, o) - mean * scale);
        for (int i = 0; i < l->ci; i++)
            for (int y = 0; y < l->kh; y++)
                for (int x = 0; x < l->kw; x++) {
                    size_t at = (((size_t)o * l->ci + i) * l->kh + y) * l->kw + x;
                    float v = (float)(f32_at(src, at) * scale);
                    if (fc)
                        w[(size_t)o * l->ci + i] = v;
                    else
                        w[(((size_t)y * l->kw + x) * l->ci + i) * l->co + o] = v;
                }
    }
}

/* 1 when name is one the network reads (or a BN step counter, which it ignores). */
static int name_expected(const pg_inception *net, const char *name) {
    const char *dot = strrchr(name, '.');
    if (dot && !strcmp(dot, ".num_batches_tracked")) return 1;
    char want[96];
    for (int i = 0; i < net->count; i++) {
        const char *l = net->layers[i].name;
        size_t n = strlen(l);
        if (strncmp(name, l, n) || name[n] != '.') continue;
        for (int k = 0; k < 6; k++) {
            static const char *const parts[6] = {"conv.weight",     "bn.weight",      "bn.bias",
                                                 "bn.running_mean", "bn.running_var", "weight"};
            snprintf(want, sizeof want, "%s.%s", l, k == 5 && strcmp(l, "fc") ? "-" : parts[k]);
            if (!strcmp(name, want)) return 1;
        }
        if (!strcmp(l, "fc") && !strcmp(name, "fc.bias")) return 1;
    }
    return 0;
}

static void hash_file(pg_inception *net, const pg_safetensors_reader *r) {
    XXH3_state_t *s = XXH3_createState();
    XXH3_64bits_reset(s);
    for (size_t i = 0; i < pg_safetensors_reader_count(r); i++) {
        const pg_safetensors_tensor *t = pg_safetensors_reader_at(r, i);
        XXH3_64bits_update(s, t->name, strlen(t->name) + 1);
        XXH3_64bits_update(s, t->data, t->nbytes);
    }
    snprintf(net->hash, sizeof net->hash, "%016llx", (unsigned long long)XXH3_64bits_digest(s));
    XXH3_freeState(s);
}

#define WEIGHTS_HINT                                                                               \
    "the file must hold pytorch-fid's FID Inception weights: convert "                             \
    "pt_inception-2015-12-05-6726825d.pth with scripts/inception_to_safetensors.py (see README)"

static pg_status check_and_fold(pg_inception *net, const pg_safetensors_reader *r,
                                const char *path) {
    name_list missing = {{0}, 0}, wrong = {{0}, 0}, extra = {{0}, 0};
    for (int i = 0; i < net->count; i++) fold_layer(net, &net->layers[i], r, &missing, &wrong);
    for (size_t i = 0; i < pg_safetensors_reader_count(r); i++) {
        const char *name = pg_safetensors_reader_at(r, i)->name;
        if (!name_expected(net, name)) list_add(&extra, "%s%s%s", name, "");
    }
    if (!missing.count && !wrong.count && !extra.count) return PG_OK;
    return PG_FAIL(PG_ERR_FORMAT,
                   "Inception weights %s: %d tensor(s) missing [%s], %d with the wrong dtype or "
                   "shape [%s], %d unexpected [%s]; " WEIGHTS_HINT,
                   path, missing.count, missing.text, wrong.count, wrong.text, extra.count,
                   extra.text);
}

pg_status pg_inception_load(const char *path, pg_inception **out) {
    *out = NULL;
    pg_safetensors_reader *r = NULL;
    if (pg_safetensors_reader_create(&r, path) != PG_OK)
        return PG_FAIL(PG_ERR_FORMAT, "Inception weights: %s; " WEIGHTS_HINT, pg_error_message());
    pg_inception *net = calloc(1, sizeof *net);
    pg_status st =
        net ? register_layers(net) : PG_FAIL(PG_ERR_OUT_OF_MEMORY, "inception: no memory");
    if (st == PG_OK) {
        net->arena = calloc(net->total, sizeof(float));
        if (!net->arena) st = PG_FAIL(PG_ERR_OUT_OF_MEMORY, "inception: no memory for weights");
    }
    if (st == PG_OK) st = check_and_fold(net, r, path);
    if (st == PG_OK) hash_file(net, r);
    pg_safetensors_reader_destroy(r);
    if (st != PG_OK) {
        pg_inception_destroy(net);
        return st;
    }
    *out = net;
    return PG_OK;
}

pg_status pg_inception_create_random(uint64_t seed, pg_inception **out) {
    *out = NULL;
    pg_inception *net = calloc(1, sizeof *net);
    if (!net) return PG_FAIL(PG_ERR_OUT_OF_MEMORY, "inception: out of memory");
    pg_status st = register_layers(net);
    if (st == PG_OK && !(net->arena = malloc(net->total * sizeof(float))))
        st = PG_FAIL(PG_ERR_OUT_OF_MEMORY, "inception: no memory for weights");
    for (int i = 0; st == PG_OK && i < net->count; i++) {
        const inception_layer *l = &net->layers[i];
        uint64_t n = (uint64_t)l->kh * l->kw * l->ci * l->co;
        pg_rand_normal_fill(net->arena + l->w_offset, n, seed, (uint64_t)i, 0x1CE);
        float gain = sqrtf(2.0f / (float)(l->kh * l->kw * l->ci));
        for (uint64_t k = 0; k < n; k++) net->arena[l->w_offset + k] *= gain;
        memset(net->arena + l->b_offset, 0, (size_t)l->co * sizeof(float));
    }
    if (st != PG_OK) {
        pg_inception_destroy(net);
        return st;
    }
    snprintf(net->hash, sizeof net->hash, "random%010llx",
             (unsigned long long)(seed & 0xffffffffffull));
    *out = net;
    return PG_OK;
}

void pg_inception_destroy(pg_inception *net) {
    if (!net) return;
    free(net->arena);
    free(net);
}

const char *pg_inception_hash(const pg_inception *net) {
    return net->hash;
}

int pg_inception_layer_count(const pg_inception *net) {
    return net->count;
}

/* ---- runner */
struct pg_inception_runner {
    pg_vk_context *ctx;
    pg_vk_buffer params;
    pg_graph *g;
    pg_plan *plan;
    pg_tensor images, features, logits;
    int batch, res, channels;
};

static pg_status runner_build(pg_inception_runner *r, const pg_inception *net, int size) {
    uint64_t bytes = net->total * sizeof(float);
    PG_TRY(pg_vk_buffer_create(r->ctx, bytes, PG_VK_MEMORY_DEVICE, &r->params));
    pg_vk_range dst = {&r->params, 0, bytes};
    PG_TRY(pg_vk_upload(r->ctx, dst, net->arena));
    r->g = pg_graph_create();
    if (!r->g) return PG_FAIL(PG_ERR_OUT_OF_MEMORY, "inception: out of memory");
    r->images = pg_input(r->g, "images", r->batch, r->res, r->res, 3);
    PG_TRY(pg_inception_graph(r->g, net, &r->params, r->images, size, &r->features, &r->logits));
    pg_tensor outs[2] = {r->features, r->logits};
    return pg_plan_create(r->ctx, r->g, outs, 2, &r->plan);
}

pg_status pg_inception_runner_create(pg_vk_context *ctx, const pg_inception *net, int batch,
                                     int res, int channels, int size, pg_inception_runner **out) {
    *out = NULL;
    if (batch < 1 || res < 1 || res > 4096 || (channels != 1 && channels != 3))
        return PG_FAIL(PG_ERR_INVALID,
                       "inception: batch %d of %dx%d images with %d channel(s) (want batch >= 1, "
                       "1 or 3 channels)",
                       batch, res, res, channels);
    pg_inception_runner *r = calloc(1, sizeof *r);
    if (!r) return PG_FAIL(PG_ERR_OUT_OF_MEMORY, "inception: out of memory");
    r->ctx = ctx;
    r->batch = batch, r->res = res, r->channels = channels;
    pg_status st = runner_build(r, net, size);
    if (st != PG_OK) {
        pg_inception_runner_destroy(r);
        return st;
    }
    *out = r;
    return PG_OK;
}

void pg_inception_runner_destroy(pg_inception_runner *r) {
    if (!r) return;
    pg_plan_destroy(r->plan);
    pg_graph_destroy(r->g);
    if (r->params.buffer) pg_vk_buffer_destroy(r->ctx, &r->params);
    free(r);
}

void pg_inception_runner_profile(pg_inception_runner *r, FILE *out) {
    pg_plan_profile_print(r->plan, out);
}

int pg_inception_runner_batch(const pg_inception_runner *r) {
    return r->batch;
}

/* uint8 -> [0, 1] as torchvision's ToTensor; gray repeated to RGB; rows past
 * count are zero (their outputs are dropped). */
pg_status pg_inception_runner_run(pg_inception_runner *r, const uint8_t *images, int count,
                                  float *features, float *logits) {
    if (count < 1 || count > r->batch)
        return PG_FAIL(PG_ERR_INVALID, "inception: %d images for a batch of %d", count, r->batch);
    float *in = pg_plan_input(r->plan, r->images);
    size_t pixels = (size_t)r->res * r->res;
    memset(in, 0, (size_t)r->batch * pixels * 3 * sizeof *in);
    for (size_t p = 0; p < (size_t)count * pixels; p++)
        for (int c = 0; c < 3; c++)
            in[p * 3 + c] = images[p * r->channels + (r->channels == 3 ? c : 0)] / 255.0f;
    PG_TRY(pg_plan_run(r->plan));
    if (features)
        memcpy(features, pg_plan_output(r->plan, r->features),
               (size_t)count * PG_INCEPTION_FEATURES * sizeof(float));
    if (logits)
        memcpy(logits, pg_plan_output(r->plan, r->logits),
               (size_t)count * PG_INCEPTION_CLASSES * sizeof(float));
    return PG_OK;
}
