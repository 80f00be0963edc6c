/* The FID Inception network end to end: random weights under pytorch-fid's
 * state-dict names (conv + unfolded batch norm) written to a safetensors file,
 * loaded by progan (names checked, BN folded), run on the device, and compared
 * with this file's own float64 Inception written from pytorch-fid's
 * inception.py (BN applied as BN, not folded). Input 75x75 (the smallest the
 * network takes) instead of 299x299 to keep the float64 reference inside the
 * suite's time budget: every layer, block variant and stride is exercised.
 * Then a truncated file and a mismatched one must each give one clear error. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "io/safetensors.h"
#include "model/inception.h"
#include "testutil.h"

/* The network's input size: 75, or $PROGAN_TEST_INCEPTION_SIZE (up to 299, for
 * a manual check at pytorch-fid's size; the float64 reference then takes ~1 min). */
static int net_size = 75;
#define MAX_TENSORS 600

/* ---- the weight store: named float tensors, created on first use */
typedef struct {
    char name[80];
    int ndim;
    int64_t shape[4];
    float *data;
} wt;

typedef struct {
    int count, creating;
    wt t[MAX_TENSORS];
    uint64_t seed;
} store;

static const float *get(store *s, const char *name, int ndim, const int64_t *shape, double lo,
                        double hi) {
    for (int i = 0; i < s->count; i++)
        if (!strcmp(s->t[i].name, name)) return s->t[i].data;
    if (!s->creating || s->count == MAX_TENSORS) return NULL;
    wt *t = &s->t[s->count++];
    snprintf(t->name, sizeof t->name, "%s", name);
    t->ndim = ndim;
    size_t n = 1;
    for (int i = 0; i < ndim; i++) n *= (size_t)(t->shape[i] = shape[i]);
    t->data = malloc(n * sizeof(float));
    test_fill_uniform_f(t->data, n, s->seed++);
    for (size_t i = 0; i < n; i++) t->data[i] = (float)(lo + (t->data[i] + 1) / 2 * (hi - lo));
    return t->data;
}

/* ---- float64 NHWC activations of one image */
typedef struct {
    int h, w, c;
    double *v;
} act;

static act act_new(int h, int w, int c) {
    act a = {h, w, c, calloc((size_t)h * w * c, sizeof(double))};
    return a;
}
#define AT(a, y, x, ch) ((a).v[(((size_t)(y) * (a).w + (x)) * (a).c) + (ch)])

/* BasicConv2d: Conv2d(bias=False) -> BatchNorm2d(eps=0.001) -> ReLU. */
static act conv_bn(store *s, act x, const char *block, const char *layer, int co, int kh, int kw,
                   int st, int py, int px) {
    char n[80], base[64];
    snprintf(base, sizeof base, "%s%s%s", block ? block : "", block ? "." : "", layer);
    double a = sqrt(6.0 / (x.c * kh * kw));
    int64_t ws[4] = {co, x.c, kh, kw}, bs[1] = {co};
    snprintf(n, sizeof n, "%s.conv.weight", base);
    const float *w = get(s, n, 4, ws, -a, a);
    const char *parts[4] = {"weight", "bias", "running_mean", "running_var"};
    double lo[4] = {0.5, -0.1, -0.1, 0.5}, hi[4] = {1.5, 0.1, 0.1, 1.5};
    const float *bn[4];
    for (int k = 0; k < 4; k++) {
        snprintf(n, sizeof n, "%s.bn.%s", base, parts[k]);
        bn[k] = get(s, n, 1, bs, lo[k], hi[k]);
    }
    act y = act_new((x.h + 2 * py - kh) / st + 1, (x.w + 2 * px - kw) / st + 1, co);
    for (int oy = 0; oy < y.h; oy++)
        for (int ox = 0; ox < y.w; ox++)
            for (int o = 0; o < co; o++) {
                double acc = 0;
                for (int ky = 0; ky < kh; ky++)
                    for (int kx = 0; kx < kw; kx++) {
                        int iy = oy * st + ky - py, ix = ox * st + kx - px;
                        if (iy < 0 || iy >= x.h || ix < 0 || ix >= x.w) continue;
                        for (int i = 0; i < x.c; i++)
                            acc +=
                                AT(x, iy, ix, i) * w[(((size_t)o * x.c + i) * kh + ky) * kw + kx];
                    }
                double v = (acc - bn[2][o]) / sqrt(bn[3][o] + 1e-3) * bn[0][o] + bn[1][o];
                AT(y, oy, ox, o) = v > 0 ? v : 0;
            }
    return y;
}

static act conv1(store *s, act x, const char *block, const char *layer, int co) {
    return conv_bn(s, x, block, layer, co, 1, 1, 1, 0, 0);
}

/* max_pool2d(k 3, stride, pad) or avg_pool2d(3, 1, 1, count_include_pad=False) */
static act pool(act x, int is_max, int st, int pad) {
    act y = act_new((x.h + 2 * pad - 3) / st + 1, (x.w + 2 * pad - 3) / st + 1, x.c);
    for (int oy = 0; oy < y.h; oy++)
        for (int ox = 0; ox < y.w; ox++)
            for (int c = 0; c < x.c; c++) {
                double m = -INFINITY, sum = 0;
                int n = 0;
                for (int ky = 0; ky < 3; ky++)
                    for (int kx = 0; kx < 3; kx++) {
                        int iy = oy * st + ky - pad, ix = ox * st + kx - pad;
                        if (iy < 0 || iy >= x.h || ix < 0 || ix >= x.w) continue;
                        m = fmax(m, AT(x, iy, ix, c));
                        sum += AT(x, iy, ix, c);
                        n++;
                    }
                AT(y, oy, ox, c) = is_max ? m : sum / n;
            }
    return y;
}

/* torch.cat along channels; frees the parts */
static act cat(int n, act *parts) {
    int c = 0;
    for (int i = 0; i < n; i++) c += parts[i].c;
    act y = act_new(parts[0].h, parts[0].w, c);
    for (int p = 0; p < y.h * y.w; p++) {
        int at = 0;
        for (int i = 0; i < n; i++) {
            memcpy(y.v + (size_t)p * c + at, parts[i].v + (size_t)p * parts[i].c,
                   sizeof(double) * parts[i].c);
            at += parts[i].c;
        }
    }
    for (int i = 0; i < n; i++) free(parts[i].v);
    return y;
}

static act fid_a(store *s, act x, const char *b, int pool_features) {
    act p[4], t, u;
    p[0] = conv1(s, x, b, "branch1x1", 64);
    t = conv1(s, x, b, "branch5x5_1", 48);
    p[1] = conv_bn(s, t, b, "branch5x5_2", 64, 5, 5, 1, 2, 2);
    free(t.v);
    t = conv1(s, x, b, "branch3x3dbl_1", 64);
    u = conv_bn(s, t, b, "branch3x3dbl_2", 96, 3, 3, 1, 1, 1);
    free(t.v);
    p[2] = conv_bn(s, u, b, "branch3x3dbl_3", 96, 3, 3, 1, 1, 1);
    free(u.v);
    t = pool(x, 0, 1, 1);
    p[3] = conv1(s, t, b, "branch_pool", pool_features);
    free(t.v);
    return cat(4, p);
}

static act fid_b(store *s, act x, const char *b) {
    act p[3], t, u;
    p[0] = conv_bn(s, x, b, "branch3x3", 384, 3, 3, 2, 0, 0);
    t = conv1(s, x, b, "branch3x3dbl_1", 64);
    u = conv_bn(s, t, b, "branch3x3dbl_2", 96, 3, 3, 1, 1, 1);
    free(t.v);
    p[1] = conv_bn(s, u, b, "branch3x3dbl_3", 96, 3, 3, 2, 0, 0);
    free(u.v);
    p[2] = pool(x, 1, 2, 0);
    return cat(3, p);
}

/* A chain of (name, co, kh, kw, pad_y, pad_x) convolutions, stride 1. */
typedef struct {
    const char *name;
    int co, kh, kw, py, px;
} step;

static act chain(store *s, act x, const char *b, int n, const step *st) {
    act cur = x;
    for (int i = 0; i < n; i++) {
        act next =
            conv_bn(s, cur, b, st[i].name, st[i].co, st[i].kh, st[i].kw, 1, st[i].py, st[i].px);
        if (i) free(cur.v);
        cur = next;
    }
    return cur;
}

static act fid_c(store *s, act x, const char *b, int c7) {
    act p[4], t;
    p[0] = conv1(s, x, b, "branch1x1", 192);
    step s7[3] = {{"branch7x7_1", c7, 1, 1, 0, 0},
                  {"branch7x7_2", c7, 1, 7, 0, 3},
                  {"branch7x7_3", 192, 7, 1, 3, 0}};
    p[1] = chain(s, x, b, 3, s7);
    step d7[5] = {{"branch7x7dbl_1", c7, 1, 1, 0, 0},
                  {"branch7x7dbl_2", c7, 7, 1, 3, 0},
                  {"branch7x7dbl_3", c7, 1, 7, 0, 3},
                  {"branch7x7dbl_4", c7, 7, 1, 3, 0},
                  {"branch7x7dbl_5", 192, 1, 7, 0, 3}};
    p[2] = chain(s, x, b, 5, d7);
    t = pool(x, 0, 1, 1);
    p[3] = conv1(s, t, b, "branch_pool", 192);
    free(t.v);
    return cat(4, p);
}

static act fid_d(store *s, act x, const char *b) {
    act p[3], t;
    t = conv1(s, x, b, "branch3x3_1", 192);
    p[0] = conv_bn(s, t, b, "branch3x3_2", 320, 3, 3, 2, 0, 0);
    free(t.v);
    step s7[3] = {{"branch7x7x3_1", 192, 1, 1, 0, 0},
                  {"branch7x7x3_2", 192, 1, 7, 0, 3},
                  {"branch7x7x3_3", 192, 7, 1, 3, 0}};
    t = chain(s, x, b, 3, s7);
    p[1] = conv_bn(s, t, b, "branch7x7x3_4", 192, 3, 3, 2, 0, 0);
    free(t.v);
    p[2] = pool(x, 1, 2, 0);
    return cat(3, p);
}

/* FIDInceptionE_1 (max_pool 0: average pool without the padding) / E_2 (max pool). */
static act fid_e(store *s, act x, const char *b, int max_pool) {
    act p[6], t, u;
    p[0] = conv1(s, x, b, "branch1x1", 320);
    t = conv1(s, x, b, "branch3x3_1", 384);
    p[1] = conv_bn(s, t, b, "branch3x3_2a", 384, 1, 3, 1, 0, 1);
    p[2] = conv_bn(s, t, b, "branch3x3_2b", 384, 3, 1, 1, 1, 0);
    free(t.v);
    t = conv1(s, x, b, "branch3x3dbl_1", 448);
    u = conv_bn(s, t, b, "branch3x3dbl_2", 384, 3, 3, 1, 1, 1);
    free(t.v);
    p[3] = conv_bn(s, u, b, "branch3x3dbl_3a", 384, 1, 3, 1, 0, 1);
    p[4] = conv_bn(s, u, b, "branch3x3dbl_3b", 384, 3, 1, 1, 1, 0);
    free(u.v);
    t = pool(x, max_pool, 1, 1);
    p[5] = conv1(s, t, b, "branch_pool", 192);
    free(t.v);
    return cat(6, p);
}

/* F.interpolate(bilinear, align_corners=False) of uint8/255, then 2x - 1. */
static act input_of(const uint8_t *img, int res) {
    act y = act_new(net_size, net_size, 3);
    double scale = (double)res / net_size;
    for (int oy = 0; oy < net_size; oy++)
        for (int ox = 0; ox < net_size; ox++) {
            double sy = fmax(scale * (oy + 0.5) - 0.5, 0), sx = fmax(scale * (ox + 0.5) - 0.5, 0);
            int y0 = (int)sy, x0 = (int)sx, y1 = y0 + (y0 < res - 1), x1 = x0 + (x0 < res - 1);
            double ly = sy - y0, lx = sx - x0;
            for (int c = 0; c < 3; c++) {
#define PX(yy, xx) (img[((size_t)(yy)*res + (xx)) * 3 + c] / 255.0)
                double v = (1 - ly) * ((1 - lx) * PX(y0, x0) + lx * PX(y0, x1)) +
                           ly * ((1 - lx) * PX(y1, x0) + lx * PX(y1, x1));
                AT(y, oy, ox, c) = 2 * v - 1;
            }
        }
    return y;
}

/* pytorch-fid's InceptionV3 (blocks 0-3) + Inception3's fc: features[2048], logits[1008]. */
static void reference(store *s, const uint8_t *img, int res, double *features, double *logits) {
    act x = input_of(img, res), t;
#define NEXT(expr) (t = (expr), free(x.v), x = t)
    NEXT(conv_bn(s, x, NULL, "Conv2d_1a_3x3", 32, 3, 3, 2, 0, 0));
    NEXT(conv_bn(s, x, NULL, "Conv2d_2a_3x3", 32, 3, 3, 1, 0, 0));
    NEXT(conv_bn(s, x, NULL, "Conv2d_2b_3x3", 64, 3, 3, 1, 1, 1));
    NEXT(pool(x, 1, 2, 0));
    NEXT(conv1(s, x, NULL, "Conv2d_3b_1x1", 80));
    NEXT(conv_bn(s, x, NULL, "Conv2d_4a_3x3", 192, 3, 3, 1, 0, 0));
    NEXT(pool(x, 1, 2, 0));
    NEXT(fid_a(s, x, "Mixed_5b", 32));
    NEXT(fid_a(s, x, "Mixed_5c", 64));
    NEXT(fid_a(s, x, "Mixed_5d", 64));
    NEXT(fid_b(s, x, "Mixed_6a"));
    NEXT(fid_c(s, x, "Mixed_6b", 128));
    NEXT(fid_c(s, x, "Mixed_6c", 160));
    NEXT(fid_c(s, x, "Mixed_6d", 160));
    NEXT(fid_c(s, x, "Mixed_6e", 192));
    NEXT(fid_d(s, x, "Mixed_7a"));
    NEXT(fid_e(s, x, "Mixed_7b", 0));
    NEXT(fid_e(s, x, "Mixed_7c", 1));
    for (int c = 0; c < x.c; c++) {
        double m = 0;
        for (int p = 0; p < x.h * x.w; p++) m += x.v[(size_t)p * x.c + c];
        features[c] = m / (x.h * x.w);
    }
    int64_t fw[2] = {1008, 2048}, fb[1] = {1008};
    double a = 1 / sqrt(2048.0);
    const float *w = get(s, "fc.weight", 2, fw, -a, a), *b = get(s, "fc.bias", 1, fb, -0.1, 0.1);
    for (int o = 0; o < 1008 && w && b; o++) {
        double acc = b[o];
        for (int i = 0; i < 2048; i++) acc += w[(size_t)o * 2048 + i] * features[i];
        logits[o] = acc;
    }
    free(x.v);
}

/* Writes the store (minus `skip`, with `reshape` given one more row, plus an
 * `extra` tensor when non-NULL) to path. */
static int write_store(const store *s, const char *path, const char *skip, const char *reshape,
                       const char *extra) {
    pg_safetensors_writer *w;
    if (pg_safetensors_writer_create(&w) != PG_OK) return 0;
    pg_status st = PG_OK;
    static float spare[2048 * 4];
    for (int i = 0; st == PG_OK && i < s->count; i++) {
        const wt *t = &s->t[i];
        if (skip && !strcmp(t->name, skip)) continue;
        int64_t shape[4];
        memcpy(shape, t->shape, sizeof shape);
        if (reshape && !strcmp(t->name, reshape)) shape[0] -= 1; /* fewer elements: fits */
        st = pg_safetensors_writer_add(w, t->name, PG_DTYPE_F32, t->ndim, shape, t->data);
    }
    int64_t es[1] = {4};
    if (st == PG_OK && extra) st = pg_safetensors_writer_add(w, extra, PG_DTYPE_F32, 1, es, spare);
    if (st == PG_OK) st = pg_safetensors_writer_write(w, path);
    pg_safetensors_writer_destroy(w);
    return st == PG_OK;
}

/* A clear error: PG_ERR_FORMAT, naming the file, every given word and the way out. */
static void expect_error(const char *name, const char *path, const char *w1, const char *w2,
                         const char *w3) {
    pg_inception *net = NULL;
    pg_status st = pg_inception_load(path, &net);
    const char *m = pg_error_message();
    int ok = st == PG_ERR_FORMAT && !net && strstr(m, path) &&
             strstr(m, "inception_to_safetensors.py") && (!w1 || strstr(m, w1)) &&
             (!w2 || strstr(m, w2)) && (!w3 || strstr(m, w3));
    if (test_check(ok, name, "status %d, message: %s", (int)st, m)) printf("%s: %s\n", name, m);
    pg_inception_destroy(net);
}

static void bad_files(const store *s, const char *dir, const char *good) {
    char path[512];
    snprintf(path, sizeof path, "%s/mismatched.safetensors", dir);
    if (write_store(s, path, "Mixed_6c.branch7x7_2.conv.weight", "Mixed_7c.branch_pool.bn.bias",
                    "AuxLogits.fc.weight"))
        expect_error("mismatched weights: one error naming each problem", path,
                     "Mixed_6c.branch7x7_2.conv.weight", "Mixed_7c.branch_pool.bn.bias",
                     "AuxLogits.fc.weight");
    unlink(path);
    /* the first half of a good file */
    snprintf(path, sizeof path, "%s/truncated.safetensors", dir);
    FILE *in = fopen(good, "rb"), *out = fopen(path, "wb");
    if (in && out) {
        fseek(in, 0, SEEK_END);
        long half = ftell(in) / 2;
        fseek(in, 0, SEEK_SET);
        char buf[1 << 16];
        for (long left = half; left > 0;) {
            size_t n = fread(buf, 1, left < (long)sizeof buf ? (size_t)left : sizeof buf, in);
            if (!n) break;
            fwrite(buf, 1, n, out);
            left -= (long)n;
        }
    }
    if (in) fclose(in);
    if (out) fclose(out);
    expect_error("truncated weights: one clear error", path, NULL, NULL, NULL);
    unlink(path);
}

/* Device features and logits of two 32x32 images (and one of a gray 20x20)
 * against the float64 network. */
static void whole_network(store *s, const char *path) {
    pg_inception *net = NULL;
    if (!test_check(pg_inception_load(path, &net) == PG_OK, "load random weights", "%s",
                    pg_error_message()))
        return;
    test_check(pg_inception_layer_count(net) == 95, "layers", "%d folded layers, want 94 + fc",
               pg_inception_layer_count(net));
    enum { N = 2, R = 32 };
    uint8_t img[N * R * R * 3];
    float f[N * 2048], l[N * 1008];
    for (size_t i = 0; i < sizeof img; i++) img[i] = (uint8_t)((i * 2654435761u) >> 13);
    pg_inception_runner *run = NULL;
    pg_status st = pg_inception_runner_create(test_context(), net, N, R, 3, net_size, &run);
    if (st == PG_OK) st = pg_inception_runner_run(run, img, N, f, l);
    if (test_check(st == PG_OK, "inception on the device", "%s", pg_error_message())) {
        for (int n = 0; n < N; n++) {
            double rf[2048], rl[1008];
            reference(s, img + (size_t)n * R * R * 3, R, rf, rl);
            double ef = test_norm_error(f + n * 2048, rf, 2048);
            double el = test_norm_error(l + n * 1008, rl, 1008);
            test_check(ef < 1e-4 && el < 1e-4, "inception vs float64 reference",
                       "image %d: features error %.3g, logits error %.3g", n, ef, el);
        }
    }
    pg_inception_runner_destroy(run);
    pg_inception_destroy(net);
}

/* Every tensor under its pytorch-fid name, by one pass of the reference. */
static void store_create(store *s) {
    s->creating = 1;
    s->seed = 1000;
    static double f[2048], l[1008];
    static uint8_t zero[32 * 32 * 3];
    reference(s, zero, 32, f, l);
    s->creating = 0;
}

/* test_inception --write-weights FILE: random weights for the CLI tests. */
int main(int argc, char **argv) {
    static store s;
    if (argc == 3 && !strcmp(argv[1], "--write-weights")) {
        store_create(&s);
        return write_store(&s, argv[2], NULL, NULL, NULL) ? 0 : 1;
    }
    const char *size = getenv("PROGAN_TEST_INCEPTION_SIZE");
    if (size) net_size = atoi(size) < 75 ? 75 : atoi(size) > 299 ? 299 : atoi(size);
    if (!test_context()) return test_finish("test_inception") | 1;
    char dir[] = "/tmp/progan-inception-XXXXXX", path[512];
    if (!test_check(mkdtemp(dir) != NULL, "temp dir", "mkdtemp failed")) return test_finish("x");
    snprintf(path, sizeof path, "%s/fid.safetensors", dir);
    store_create(&s);
    test_check(s.count == 94 * 5 + 2, "tensor names", "%d tensors, want 94 x 5 + fc's 2", s.count);
    if (test_check(write_store(&s, path, NULL, NULL, NULL), "write weights", "%s",
                   pg_error_message())) {
        whole_network(&s, path);
        bad_files(&s, dir, path);
    }
    unlink(path);
    rmdir(dir);
    for (int i = 0; i < s.count; i++) free(s.t[i].data);
    test_context_release();
    return test_finish("test_inception");
}
