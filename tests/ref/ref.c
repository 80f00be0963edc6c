/* Float64 reference ops (see ref.h). Each function restates the op's definition
 * with the plainest loops; shapes are NHWC, weights HWIO. */
#include "ref/ref.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define AT(s, n, y, x, c) ((((size_t)(n) * (s)[1] + (y)) * (s)[2] + (x)) * (s)[3] + (c))

static size_t numel(const int s[4]) {
    return (size_t)s[0] * s[1] * s[2] * s[3];
}

static const int *shape_of(const pg_graph *g, const pg_node *n, int k) {
    return g->nodes[n->inputs[k]].shape;
}

/* the element of operand k at output coordinates, broadcasting size-1 axes */
static double broadcast_at(const int s[4], const double *v, const int at[4]) {
    int p[4];
    for (int i = 0; i < 4; i++) p[i] = s[i] == 1 ? 0 : at[i];
    return v[AT(s, p[0], p[1], p[2], p[3])];
}

static void unravel(const int s[4], size_t i, int at[4]) {
    at[3] = (int)(i % (size_t)s[3]);
    i /= (size_t)s[3];
    at[2] = (int)(i % (size_t)s[2]);
    i /= (size_t)s[2];
    at[1] = (int)(i % (size_t)s[1]);
    at[0] = (int)(i / (size_t)s[1]);
}

static void ref_fill(const pg_graph *g, const pg_node *n, double *out, double **in) {
    (void)g, (void)in;
    for (size_t i = 0; i < numel(n->shape); i++) out[i] = n->fparams[0];
}

static void ref_reshape(const pg_graph *g, const pg_node *n, double *out, double **in) {
    (void)g;
    memcpy(out, in[0], numel(n->shape) * sizeof *out);
}

/* The conv ops' geometry: kernel, stride, padding, and x's / y's shapes. */
typedef struct {
    int kh, kw, stride, py, px;
    const int *x, *y, *w; /* shapes: x [N,H,W,Ci], y [N,Ho,Wo,Co], w [kh,kw,Ci,Co] */
} conv_geom;

static conv_geom conv_geometry(const pg_graph *g, const pg_node *n) {
    conv_geom c = {0, 0, n->iparams[0], n->iparams[1], n->iparams[2], NULL, NULL, NULL};
    if (n->op == PG_OP_CONV2D)
        c.x = shape_of(g, n, 0), c.w = shape_of(g, n, 1), c.y = n->shape;
    else if (n->op == PG_OP_CONV2D_INPUT_GRAD)
        c.x = n->shape, c.w = shape_of(g, n, 1), c.y = shape_of(g, n, 0);
    else
        c.x = shape_of(g, n, 0), c.w = n->shape, c.y = shape_of(g, n, 1);
    c.kh = c.w[0], c.kw = c.w[1];
    return c;
}

/* Visits every (y index, x index, w index) product of the convolution; op
 * picks which two operands multiply into which third. */
static void conv_visit(const pg_graph *g, const pg_node *n, double *out, double **in) {
    conv_geom c = conv_geometry(g, n);
    memset(out, 0, numel(n->shape) * sizeof *out);
    for (size_t i = 0; i < numel(c.y); i++) {
        int at[4];
        unravel(c.y, i, at);
        for (int ky = 0; ky < c.kh; ky++)
            for (int kx = 0; kx < c.kw; kx++) {
                int sy = at[1] * c.stride + ky - c.py, sx = at[2] * c.stride + kx - c.px;
                if (sy < 0 || sy >= c.x[1] || sx < 0 || sx >= c.x[2]) continue;
                for (int ci = 0; ci < c.x[3]; ci++) {
                    size_t xi = AT(c.x, at[0], sy, sx, ci), wi = AT(c.w, ky, kx, ci, at[3]);
                    if (n->op == PG_OP_CONV2D)
                        out[i] += in[0][xi] * in[1][wi];
                    else if (n->op == PG_OP_CONV2D_INPUT_GRAD)
                        out[xi] += in[0][i] * in[1][wi];
                    else
                        out[wi] += in[0][xi] * in[1][i];
                }
            }
    }
    for (size_t i = 0; i < numel(n->shape); i++) out[i] *= n->fparams[0];
}

static void ref_matmul(const pg_graph *g, const pg_node *n, double *out, double **in) {
    const int *as = shape_of(g, n, 0), *bs = shape_of(g, n, 1);
    int ra = as[0] * as[1] * as[2], ca = as[3], rb = bs[0] * bs[1] * bs[2], cb = bs[3];
    int ta = n->iparams[0], tb = n->iparams[1];
    int m = ta ? ca : ra, kk = ta ? ra : ca, cols = tb ? rb : cb;
    for (int i = 0; i < m; i++)
        for (int j = 0; j < cols; j++) {
            double acc = 0;
            for (int k = 0; k < kk; k++) {
                double a = ta ? in[0][(size_t)k * ca + i] : in[0][(size_t)i * ca + k];
                double b = tb ? in[1][(size_t)j * cb + k] : in[1][(size_t)k * cb + j];
                acc += a * b;
            }
            out[(size_t)i * cols + j] = acc * n->fparams[0];
        }
}

static void ref_reduce_sum(const pg_graph *g, const pg_node *n, double *out, double **in) {
    const int *xs = shape_of(g, n, 0);
    memset(out, 0, numel(n->shape) * sizeof *out);
    for (size_t i = 0; i < numel(xs); i++) {
        int at[4];
        unravel(xs, i, at);
        for (int a = 0; a < 4; a++)
            if (n->iparams[0] & (1 << a)) at[a] = 0;
        out[AT(n->shape, at[0], at[1], at[2], at[3])] += in[0][i];
    }
    for (size_t i = 0; i < numel(n->shape); i++) out[i] *= n->fparams[0];
}

/* every elementwise op, broadcasting each operand */
static void ref_elementwise(const pg_graph *g, const pg_node *n, double *out, double **in) {
    double p0 = n->fparams[0], p1 = n->fparams[1];
    for (size_t i = 0; i < numel(n->shape); i++) {
        int at[4];
        unravel(n->shape, i, at);
        double v[3] = {0, 0, 0};
        for (int k = 0; k < n->n_inputs; k++) v[k] = broadcast_at(shape_of(g, n, k), in[k], at);
        double a = v[0], b = v[1], c = v[2], r = 0;
        switch (n->op) {
        case PG_OP_BROADCAST:
            r = a;
            break;
        case PG_OP_ADD:
            r = a + b;
            break;
        case PG_OP_SUB:
            r = a - b;
            break;
        case PG_OP_MUL:
            r = a * b;
            break;
        case PG_OP_SCALE:
            r = a * p0 + p1;
            break;
        case PG_OP_SQUARE:
            r = a * a;
            break;
        case PG_OP_SQRT:
            r = sqrt(a);
            break;
        case PG_OP_RSQRT:
            r = 1.0 / sqrt(a);
            break;
        case PG_OP_LERP:
            r = a + (b - a) * c;
            break;
        case PG_OP_LEAKY_RELU:
            r = a > 0 ? a : a * p0;
            break;
        case PG_OP_LEAKY_RELU_GRAD:
            r = b > 0 ? a : a * p0;
            break;
        case PG_OP_SOFTPLUS:
            r = log1p(exp(a));
            break;
        case PG_OP_SIGMOID:
            r = 1.0 / (1.0 + exp(-a));
            break;
        default:
            r = NAN;
        }
        out[i] = r;
    }
}

static void ref_upsample2x(const pg_graph *g, const pg_node *n, double *out, double **in) {
    const int *xs = shape_of(g, n, 0);
    for (size_t i = 0; i < numel(n->shape); i++) {
        int at[4];
        unravel(n->shape, i, at);
        out[i] = n->fparams[0] * in[0][AT(xs, at[0], at[1] / 2, at[2] / 2, at[3])];
    }
}

static void ref_avgpool2x(const pg_graph *g, const pg_node *n, double *out, double **in) {
    const int *xs = shape_of(g, n, 0);
    for (size_t i = 0; i < numel(n->shape); i++) {
        int at[4];
        unravel(n->shape, i, at);
        double s = 0;
        for (int dy = 0; dy < 2; dy++)
            for (int dx = 0; dx < 2; dx++)
                s += in[0][AT(xs, at[0], 2 * at[1] + dy, 2 * at[2] + dx, at[3])];
        out[i] = n->fparams[0] * s / 4;
    }
}

static void ref_pixel_norm(const pg_graph *g, const pg_node *n, double *out, double **in) {
    (void)g;
    int c = n->shape[3];
    for (size_t p = 0; p < numel(n->shape) / (size_t)c; p++) {
        const double *x = in[0] + p * (size_t)c;
        double ms = 0;
        for (int k = 0; k < c; k++) ms += x[k] * x[k] / c;
        for (int k = 0; k < c; k++) out[p * (size_t)c + k] = x[k] / sqrt(ms + n->fparams[0]);
    }
}

/* dx = d/dx <dy, x / sqrt(mean x^2 + eps)>, derived per pixel by hand */
static void ref_pixel_norm_grad(const pg_graph *g, const pg_node *n, double *out, double **in) {
    (void)g;
    int c = n->shape[3];
    for (size_t p = 0; p < numel(n->shape) / (size_t)c; p++) {
        const double *dy = in[0] + p * (size_t)c, *x = in[1] + p * (size_t)c;
        double ms = 0, dot = 0;
        for (int k = 0; k < c; k++) ms += x[k] * x[k] / c, dot += dy[k] * x[k];
        double r = 1 / sqrt(ms + n->fparams[0]);
        for (int k = 0; k < c; k++) out[p * (size_t)c + k] = r * dy[k] - x[k] * r * r * r * dot / c;
    }
}

/* s_m for each group m = n mod M: the mean over (h,w,c) of the group's stddev */
static void mbstd_group_stats(const int xs[4], int group, double eps, const double *x, double *s) {
    int m_count = xs[0] / group;
    size_t chw = (size_t)xs[1] * xs[2] * xs[3];
    for (int m = 0; m < m_count; m++) {
        double total = 0;
        for (size_t e = 0; e < chw; e++) {
            double mean = 0, var = 0;
            for (int i = 0; i < group; i++) mean += x[(size_t)(i * m_count + m) * chw + e] / group;
            for (int i = 0; i < group; i++) {
                double d = x[(size_t)(i * m_count + m) * chw + e] - mean;
                var += d * d / group;
            }
            total += sqrt(var + eps);
        }
        s[m] = total / (double)chw;
    }
}

static void ref_mbstd(const pg_graph *g, const pg_node *n, double *out, double **in) {
    const int *xs = shape_of(g, n, 0);
    int group = n->iparams[0], m_count = xs[0] / group;
    double *s = calloc((size_t)m_count, sizeof *s);
    mbstd_group_stats(xs, group, n->fparams[0], in[0], s);
    for (size_t i = 0; i < numel(n->shape); i++) {
        int at[4];
        unravel(n->shape, i, at);
        out[i] = at[3] < xs[3] ? in[0][AT(xs, at[0], at[1], at[2], at[3])] : s[at[0] % m_count];
    }
    free(s);
}

static void ref_mbstd_grad(const pg_graph *g, const pg_node *n, double *out, double **in) {
    const int *ds = shape_of(g, n, 0), *xs = n->shape;
    int group = n->iparams[0], m_count = xs[0] / group;
    size_t chw = (size_t)xs[1] * xs[2] * xs[3];
    double eps = n->fparams[0];
    for (size_t i = 0; i < numel(xs); i++) {
        int at[4];
        unravel(xs, i, at);
        out[i] = in[0][AT(ds, at[0], at[1], at[2], at[3])];
    }
    for (int m = 0; m < m_count; m++) {
        double big_s = 0; /* the upstream gradient of s_m */
        for (int i = 0; i < group; i++)
            for (int y = 0; y < xs[1]; y++)
                for (int x = 0; x < xs[2]; x++)
                    big_s += in[0][AT(ds, i * m_count + m, y, x, xs[3])];
        for (size_t e = 0; e < chw; e++) {
            double mean = 0, var = 0;
            for (int i = 0; i < group; i++)
                mean += in[1][(size_t)(i * m_count + m) * chw + e] / group;
            for (int i = 0; i < group; i++) {
                double d = in[1][(size_t)(i * m_count + m) * chw + e] - mean;
                var += d * d / group;
            }
            double sd = sqrt(var + eps);
            for (int i = 0; i < group; i++) {
                size_t idx = (size_t)(i * m_count + m) * chw + e;
                out[idx] += big_s / (double)chw * (in[1][idx] - mean) / (group * sd);
            }
        }
    }
}

static void ref_channels(const pg_graph *g, const pg_node *n, double *out, double **in) {
    int c_out = n->shape[3], ca = shape_of(g, n, 0)[3];
    int cb = n->n_inputs > 1 ? shape_of(g, n, 1)[3] : 0, begin = n->iparams[0];
    for (size_t i = 0; i < numel(n->shape); i++) {
        size_t p = i / (size_t)c_out;
        int c = (int)(i % (size_t)c_out);
        if (n->op == PG_OP_CONCAT)
            out[i] = c < ca ? in[0][p * ca + c] : in[1][p * cb + c - ca];
        else if (n->op == PG_OP_SLICE)
            out[i] = in[0][p * ca + begin + c];
        else
            out[i] = c >= begin && c < begin + ca ? in[0][p * ca + c - begin] : 0;
    }
}

/* Pooling, scatter form: every output window visits its taps; the gradient
 * ops add into x-shaped out. iparams k, stride, pad, exclude_pad, H, W. */
static void ref_pool(const pg_graph *g, const pg_node *n, double *out, double **in) {
    int k = n->iparams[0], st = n->iparams[1], pad = n->iparams[2], excl = n->iparams[3];
    int fwd = n->op == PG_OP_MAXPOOL || n->op == PG_OP_AVGPOOL;
    const int *ps = fwd ? n->shape : shape_of(g, n, 0); /* pooled shape */
    int xs[4] = {ps[0], n->iparams[4], n->iparams[5], ps[3]};
    int is_max = n->op == PG_OP_MAXPOOL || n->op == PG_OP_MAXPOOL_GRAD;
    const double *x = is_max ? in[1] : NULL;
    if (!fwd) memset(out, 0, numel(n->shape) * sizeof *out);
    for (size_t o = 0; o < numel(ps); o++) {
        int at[4];
        unravel(ps, o, at);
        int y0 = at[1] * st - pad, x0 = at[2] * st - pad, taps = 0;
        size_t best = 0;
        double sum = 0;
        for (int ky = 0; ky < k; ky++)
            for (int kx = 0; kx < k; kx++) {
                int iy = y0 + ky, ix = x0 + kx;
                if (iy < 0 || iy >= xs[1] || ix < 0 || ix >= xs[2]) continue;
                size_t i = AT(xs, at[0], iy, ix, at[3]);
                if (is_max && (taps == 0 || x[i] > x[best])) best = i;
                if (n->op == PG_OP_AVGPOOL) sum += in[0][i];
                taps++;
            }
        int ylim = y0 + k < xs[1] + pad ? y0 + k : xs[1] + pad;
        int xlim = x0 + k < xs[2] + pad ? x0 + k : xs[2] + pad;
        double div = excl ? taps : (double)(ylim - y0) * (xlim - x0);
        if (n->op == PG_OP_MAXPOOL) out[o] = in[0][best];
        if (n->op == PG_OP_MAXPOOL_GRAD) out[best] += in[0][o];
        if (n->op == PG_OP_AVGPOOL) out[o] = sum / div;
        if (n->op != PG_OP_AVGPOOL_GRAD) continue;
        for (int ky = 0; ky < k; ky++)
            for (int kx = 0; kx < k; kx++) {
                int iy = y0 + ky, ix = x0 + kx;
                if (iy >= 0 && iy < xs[1] && ix >= 0 && ix < xs[2])
                    out[AT(xs, at[0], iy, ix, at[3])] += in[0][o] / div;
            }
    }
}

/* One axis of PyTorch's bilinear interpolation (align_corners=False). */
static void bilinear_taps(int o, int in_size, int out_size, int *i0, int *i1, double *l1) {
    double src = ((double)in_size / out_size) * (o + 0.5) - 0.5;
    if (src < 0) src = 0;
    *i0 = (int)src;
    *i1 = *i0 + 1 < in_size ? *i0 + 1 : in_size - 1;
    *l1 = src - *i0;
}

/* Resize (gather) and its adjoint (scatter of the same weights). */
static void ref_resize(const pg_graph *g, const pg_node *n, double *out, double **in) {
    int fwd = n->op == PG_OP_RESIZE_BILINEAR;
    const int *ys = fwd ? n->shape : shape_of(g, n, 0), *xs = fwd ? shape_of(g, n, 0) : n->shape;
    if (!fwd) memset(out, 0, numel(n->shape) * sizeof *out);
    for (size_t o = 0; o < numel(ys); o++) {
        int at[4], y[2], x[2];
        double ly, lx;
        unravel(ys, o, at);
        bilinear_taps(at[1], xs[1], ys[1], &y[0], &y[1], &ly);
        bilinear_taps(at[2], xs[2], ys[2], &x[0], &x[1], &lx);
        double wy[2] = {1 - ly, ly}, wx[2] = {1 - lx, lx}, acc = 0;
        for (int a = 0; a < 2; a++)
            for (int b = 0; b < 2; b++) {
                size_t i = AT(xs, at[0], y[a], x[b], at[3]);
                if (fwd)
                    acc += wy[a] * wx[b] * in[0][i];
                else
                    out[i] += wy[a] * wx[b] * in[0][o];
            }
        if (fwd) out[o] = acc;
    }
}

static void ref_softmax(const pg_graph *g, const pg_node *n, double *out, double **in) {
    (void)g;
    int c = n->shape[3];
    for (size_t p = 0; p < numel(n->shape) / (size_t)c; p++) {
        const double *x = in[0] + p * (size_t)c;
        double mx = x[0], total = 0;
        for (int k = 1; k < c; k++) mx = fmax(mx, x[k]);
        for (int k = 0; k < c; k++) total += exp(x[k] - mx);
        for (int k = 0; k < c; k++) out[p * (size_t)c + k] = exp(x[k] - mx) / total;
    }
}

/* pack: the previous pack (or zeros) with the member at its place. */
static void ref_pack(const pg_graph *g, const pg_node *n, double *out, double **in) {
    int last = n->n_inputs - 1;
    size_t total = numel(n->shape), count = numel(shape_of(g, n, last));
    for (size_t i = 0; i < total; i++) out[i] = last ? in[0][i] : 0.0;
    memcpy(out + n->iparams[0], in[last], count * sizeof *out);
}

/* The optimizers write into their external inputs (the caller's leaf arrays). */
static void ref_optimizer(const pg_graph *g, const pg_node *n, double *out, double **in) {
    (void)out;
    size_t count = numel(n->shape);
    if (n->op == PG_OP_EMA) {
        for (size_t i = 0; i < count; i++)
            in[0][i] = in[1][i] + (in[0][i] - in[1][i]) * n->fparams[0];
        return;
    }
    if (n->op == PG_OP_CLIP) {
        for (size_t i = 0; i < count; i++)
            in[0][i] = fmin(fmax(in[0][i], -n->fparams[0]), n->fparams[0]);
        return;
    }
    if (n->op == PG_OP_RMSPROP) {
        if (numel(shape_of(g, n, 3)) == 2 && !isfinite(in[3][1])) return; /* [lr, skip] */
        double alpha = n->fparams[0], eps2 = n->fparams[2], rate = in[3][0];
        for (size_t i = 0; i < count; i++) {
            in[2][i] = alpha * in[2][i] + (1 - alpha) * in[1][i] * in[1][i];
            in[0][i] -= rate * in[1][i] / (sqrt(in[2][i]) + eps2);
        }
        return;
    }
    if (numel(shape_of(g, n, 4)) == 2 && !isfinite(in[4][1])) return; /* [lr_t, skip] */
    double b1 = n->fparams[0], b2 = n->fparams[1], eps = n->fparams[2], lr = in[4][0];
    for (size_t i = 0; i < count; i++) {
        double grad = in[1][i];
        in[2][i] = b1 * in[2][i] + (1 - b1) * grad;
        in[3][i] = b2 * in[3][i] + (1 - b2) * grad * grad;
        in[0][i] -= lr * in[2][i] / (sqrt(in[3][i]) + eps);
    }
}

const ref_op_fn ref_ops[PG_OP_COUNT] = {
    [PG_OP_INPUT] = NULL,
    [PG_OP_EXTERNAL] = NULL,
    [PG_OP_FILL] = ref_fill,
    [PG_OP_RESHAPE] = ref_reshape,
    [PG_OP_CONV2D] = conv_visit,
    [PG_OP_CONV2D_INPUT_GRAD] = conv_visit,
    [PG_OP_CONV2D_WEIGHT_GRAD] = conv_visit,
    [PG_OP_MATMUL] = ref_matmul,
    [PG_OP_REDUCE_SUM] = ref_reduce_sum,
    [PG_OP_BROADCAST] = ref_elementwise,
    [PG_OP_ADD] = ref_elementwise,
    [PG_OP_SUB] = ref_elementwise,
    [PG_OP_MUL] = ref_elementwise,
    [PG_OP_SCALE] = ref_elementwise,
    [PG_OP_SQUARE] = ref_elementwise,
    [PG_OP_SQRT] = ref_elementwise,
    [PG_OP_RSQRT] = ref_elementwise,
    [PG_OP_LERP] = ref_elementwise,
    [PG_OP_LEAKY_RELU] = ref_elementwise,
    [PG_OP_LEAKY_RELU_GRAD] = ref_elementwise,
    [PG_OP_SOFTPLUS] = ref_elementwise,
    [PG_OP_SIGMOID] = ref_elementwise,
    [PG_OP_UPSAMPLE2X] = ref_upsample2x,
    [PG_OP_AVGPOOL2X] = ref_avgpool2x,
    [PG_OP_PIXEL_NORM] = ref_pixel_norm,
    [PG_OP_PIXEL_NORM_GRAD] = ref_pixel_norm_grad,
    [PG_OP_MBSTD] = ref_mbstd,
    [PG_OP_MBSTD_GRAD] = ref_mbstd_grad,
    [PG_OP_CONCAT] = ref_channels,
    [PG_OP_SLICE] = ref_channels,
    [PG_OP_PAD_CHANNELS] = ref_channels,
    [PG_OP_ADAM] = ref_optimizer,
    [PG_OP_EMA] = ref_optimizer,
    [PG_OP_RMSPROP] = ref_optimizer,
    [PG_OP_CLIP] = ref_optimizer,
    [PG_OP_MAXPOOL] = ref_pool,
    [PG_OP_MAXPOOL_GRAD] = ref_pool,
    [PG_OP_AVGPOOL] = ref_pool,
    [PG_OP_AVGPOOL_GRAD] = ref_pool,
    [PG_OP_RESIZE_BILINEAR] = ref_resize,
    [PG_OP_RESIZE_BILINEAR_GRAD] = ref_resize,
    [PG_OP_SOFTMAX] = ref_softmax,
    [PG_OP_PACK] = ref_pack,
};
_Static_assert(sizeof ref_ops / sizeof ref_ops[0] == PG_OP_COUNT, "every op needs a reference");

/* round: store every node's values as float32 (the straightforward float32
 * evaluation: each op exact, then rounded, as a framework's float32 tensors). */
static int eval_graph(const pg_graph *g, double **leaf_values, ref_values *out, int round) {
    out->count = g->count;
    out->values = calloc((size_t)g->count, sizeof *out->values);
    out->owned = calloc((size_t)g->count, 1);
    for (int i = 0; i < g->count; i++) {
        const pg_node *n = &g->nodes[i];
        if (n->op == PG_OP_INPUT || n->op == PG_OP_EXTERNAL) {
            if (!leaf_values || !leaf_values[i]) {
                fprintf(stderr, "ref_eval: leaf %d (%s) has no value\n", i, n->name);
                return -1;
            }
            out->values[i] = leaf_values[i]; /* shared, so optimizers update the caller's */
            continue;
        }
        double *in[PG_MAX_INPUTS] = {0};
        for (int k = 0; k < n->n_inputs; k++) in[k] = out->values[n->inputs[k]];
        if (!n->side_effect) {
            out->values[i] = calloc(numel(n->shape), sizeof(double));
            out->owned[i] = 1;
        }
        ref_ops[n->op](g, n, out->values[i], in);
        if (round && !n->side_effect)
            for (size_t k = 0; k < numel(n->shape); k++)
                out->values[i][k] = (float)out->values[i][k];
    }
    return 0;
}

int ref_eval(const pg_graph *g, double **leaf_values, ref_values *out) {
    return eval_graph(g, leaf_values, out, 0);
}

int ref_eval_float32(const pg_graph *g, double **leaf_values, ref_values *out) {
    return eval_graph(g, leaf_values, out, 1);
}

void ref_values_free(ref_values *v) {
    for (int i = 0; i < v->count; i++)
        if (v->owned[i]) free(v->values[i]);
    free(v->values);
    free(v->owned);
    v->values = NULL;
    v->owned = NULL;
}
