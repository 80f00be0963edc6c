/* src/train/evaluate: generators on the device and the metrics computed from
 * their images (see evaluate.h). The images go through pg_image_grid so a
 * metric sees exactly the pixels a saved grid or `progan generate` shows. */
#include "train/evaluate.h"

#include <stdlib.h>
#include <string.h>

#include "io/image.h"
#include "metrics/msssim.h"
#include "model/generator.h"
#include "model/snapshot.h"

/* The device copy is all the renderer needs; the host arena is freed at once. */
pg_status pg_eval_generator_create(pg_vk_context *ctx, const char *path, const char *prefix,
                                   pg_eval_generator *out) {
    memset(out, 0, sizeof *out);
    out->ctx = ctx;
    float *arena = NULL;
    PG_TRY(pg_snapshot_load_generator(path, prefix, &out->config, &out->set, &arena));
    pg_status st = pg_snapshot_render_point(path, &out->config, &out->res, &out->alpha);
    uint64_t bytes = out->set.total * sizeof(float);
    if (st == PG_OK) st = pg_vk_buffer_create(ctx, bytes, PG_VK_MEMORY_DEVICE, &out->params);
    if (st == PG_OK) {
        pg_vk_range dst = {&out->params, 0, bytes};
        st = pg_vk_upload(ctx, dst, arena);
        if (st != PG_OK) pg_vk_buffer_destroy(ctx, &out->params);
    }
    free(arena);
    if (st != PG_OK) memset(out, 0, sizeof *out);
    return st;
}

void pg_eval_generator_destroy(pg_eval_generator *g) {
    if (g->ctx && g->params.buffer) pg_vk_buffer_destroy(g->ctx, &g->params);
    memset(g, 0, sizeof *g);
}

/* Bounded so that one batch of floats stays small on every device (and so a
 * batch of images stacked vertically fits pg_image_grid's 65500-row limit). */
static int default_batch(int res) {
    return res <= 32 ? 32 : res <= 128 ? 16 : res <= 256 ? 8 : 4;
}

/* One renderer for all batches; the last batch is padded with zero latents
 * (pixel norm maps them to zero, no NaN) and their images are dropped. */
pg_status pg_eval_render(pg_vk_context *ctx, const pg_model_config *c, const pg_param_set *set,
                         const pg_vk_buffer *params, uint64_t base_bytes, int res, float alpha,
                         int batch, int n, pg_eval_latent_fn latent_fn, pg_eval_image_fn image_fn,
                         void *user) {
    if (n <= 0) return PG_FAIL(PG_ERR_INVALID, "render: %d images requested, need >= 1", n);
    if (res < 4 || res > c->resolution || (res & (res - 1)))
        return PG_FAIL(PG_ERR_INVALID, "render: resolution %d is not a power of two in 4..%d", res,
                       c->resolution);
    if (batch <= 0) batch = default_batch(res);
    batch = PG_MIN(batch, PG_MIN(n, 65500 / res));
    int z = pg_model_latent(c), ch = c->channels;
    size_t img_floats = (size_t)res * res * ch;
    pg_renderer *r;
    PG_TRY(pg_renderer_create(ctx, c, set, params, base_bytes, res, batch, alpha, &r));
    float *latents = malloc((size_t)batch * z * sizeof(float));
    float *images = malloc((size_t)batch * img_floats * sizeof(float));
    pg_status st =
        latents && images ? PG_OK : PG_FAIL(PG_ERR_OUT_OF_MEMORY, "render: out of host memory");
    for (int first = 0; st == PG_OK && first < n; first += batch) {
        int count = PG_MIN(batch, n - first);
        memset(latents, 0, (size_t)batch * z * sizeof(float));
        for (int k = 0; k < count; k++) latent_fn(user, first + k, latents + (size_t)k * z);
        st = pg_renderer_run(r, latents, images);
        pg_image stack = {0};
        /* a grid of count rows and one column is exactly count NHWC images */
        if (st == PG_OK) st = pg_image_grid(images, count, res, ch, count, 1, &stack);
        for (int k = 0; st == PG_OK && k < count; k++)
            st = image_fn(user, first + k, stack.pixels + (size_t)k * img_floats);
        pg_image_free(&stack);
    }
    free(latents);
    free(images);
    pg_renderer_destroy(r);
    return st;
}

/* ---- seeds -> images in one uint8 array, for the metrics */

typedef struct {
    uint64_t seed;
    int z;
    uint8_t *pixels;
    size_t image_bytes;
} seed_images;

static void latent_of_seed(void *user, int index, float *z) {
    seed_images *s = user;
    pg_latent_from_seed(s->seed + (uint64_t)index, s->z, z);
}

static pg_status keep_image(void *user, int index, const uint8_t *pixels) {
    seed_images *s = user;
    memcpy(s->pixels + (size_t)index * s->image_bytes, pixels, s->image_bytes);
    return PG_OK;
}

/* Generated images of seeds seed..seed+n-1, malloc'd into *out. */
static pg_status generate_seeds(pg_vk_context *ctx, const pg_model_config *c,
                                const pg_param_set *set, const pg_vk_buffer *params,
                                uint64_t base_bytes, int res, int n, uint64_t seed, uint8_t **out) {
    seed_images s = {seed, pg_model_latent(c), NULL, (size_t)res * res * c->channels};
    s.pixels = malloc((size_t)n * s.image_bytes);
    if (!s.pixels)
        return PG_FAIL(PG_ERR_OUT_OF_MEMORY, "metrics: no host memory for %d images of %dx%d", n,
                       res, res);
    pg_status st = pg_eval_render(ctx, c, set, params, base_bytes, res, 1.0f, 0, n, latent_of_seed,
                                  keep_image, &s);
    if (st != PG_OK) {
        free(s.pixels);
        return st;
    }
    *out = s.pixels;
    return PG_OK;
}

/* The metrics' shared preconditions, checked before any rendering starts. */
static pg_status check_metric_res(const char *metric, const pg_model_config *c, int res, int n) {
    if (res < 16 || res > c->resolution || (res & (res - 1)))
        return PG_FAIL(PG_ERR_INVALID,
                       "%s needs a resolution that is a power of two in 16..%d (the generator's); "
                       "got %d: below 16 there is no pyramid level to compare",
                       metric, c->resolution, res);
    if (n < 1) return PG_FAIL(PG_ERR_INVALID, "%s: %d images requested, need >= 1", metric, n);
    return PG_OK;
}

/* Picks num images of a level: index k*count/num spreads them over the whole
 * dataset (the first num when count == num), so an ordered dataset is not
 * judged on its first class only. */
static pg_status pick_reals(const pg_dataset *ds, int res, int num, int stride_mult, int phase,
                            uint8_t **out) {
    const uint8_t *level = pg_dataset_level(ds, res);
    int count = pg_dataset_count(ds);
    if (!level)
        return PG_FAIL(PG_ERR_INVALID, "the dataset has no %dx%d level (its resolution is %d)", res,
                       res, pg_dataset_resolution(ds));
    long long want = (long long)num * stride_mult;
    if (want > count)
        return PG_FAIL(PG_ERR_INVALID,
                       "the dataset has %d images, %lld needed: lower --num to at most %d", count,
                       want, count / stride_mult);
    size_t bytes = (size_t)res * res * pg_dataset_channels(ds);
    uint8_t *p = malloc((size_t)num * bytes);
    if (!p) return PG_FAIL(PG_ERR_OUT_OF_MEMORY, "metrics: no host memory for %d reals", num);
    for (int k = 0; k < num; k++) {
        long long slot = (long long)k * stride_mult + phase;
        size_t idx = (size_t)(slot * count / want);
        memcpy(p + (size_t)k * bytes, level + idx * bytes, bytes);
    }
    *out = p;
    return PG_OK;
}

/* Generated images against reals of the same level, as the spec's SWD. */
pg_status pg_eval_swd(pg_vk_context *ctx, const pg_dataset *ds, const pg_model_config *c,
                      const pg_param_set *set, const pg_vk_buffer *params, uint64_t base_bytes,
                      int res, int num, uint64_t seed, pg_swd_result *out) {
    PG_TRY(check_metric_res("SWD", c, res, num));
    if (pg_dataset_channels(ds) != c->channels)
        return PG_FAIL(PG_ERR_INVALID, "SWD: the dataset has %d channel(s), the generator %d",
                       pg_dataset_channels(ds), c->channels);
    uint8_t *reals = NULL, *fakes = NULL;
    PG_TRY(pick_reals(ds, res, num, 1, 0, &reals));
    pg_status st = generate_seeds(ctx, c, set, params, base_bytes, res, num, seed, &fakes);
    pg_swd_options o = pg_swd_options_default();
    o.seed = seed;
    if (st == PG_OK) st = pg_swd_compute(fakes, reals, (size_t)num, res, c->channels, &o, out);
    free(reals);
    free(fakes);
    return st;
}

/* Reals against reals: what SWD reads for two samples of the same
 * distribution, the value a perfect generator would reach with this num. */
pg_status pg_eval_swd_floor(const pg_dataset *ds, int res, int num, uint64_t seed,
                            pg_swd_result *out) {
    if (res < 16) return PG_FAIL(PG_ERR_INVALID, "SWD floor: resolution %d is below 16", res);
    if (num < 1) return PG_FAIL(PG_ERR_INVALID, "SWD floor: %d images requested", num);
    uint8_t *a = NULL, *b = NULL;
    PG_TRY(pick_reals(ds, res, num, 2, 0, &a));
    pg_status st = pick_reals(ds, res, num, 2, 1, &b);
    pg_swd_options o = pg_swd_options_default();
    o.seed = seed;
    if (st == PG_OK) st = pg_swd_compute(a, b, (size_t)num, res, pg_dataset_channels(ds), &o, out);
    free(a);
    free(b);
    return st;
}

/* MS-SSIM is per pair, so images stream through a chunk of whole pairs and
 * only the running sum is kept: 10,000 pairs at 1024x1024 never sit in memory. */
typedef struct {
    uint64_t seed;
    int z, res, channels, chunk, filled, total;
    size_t image_bytes;
    uint8_t *pixels;
    double sum;
} msssim_stream;

static pg_status msssim_take(void *user, int index, const uint8_t *pixels) {
    msssim_stream *m = user;
    memcpy(m->pixels + (size_t)m->filled++ * m->image_bytes, pixels, m->image_bytes);
    if (m->filled < m->chunk && index + 1 < m->total) return PG_OK;
    double mean;
    PG_TRY(pg_msssim_consecutive(m->pixels, (size_t)m->filled, m->res, m->channels, &mean));
    m->sum += mean * (m->filled / 2);
    m->filled = 0;
    return PG_OK;
}

static void msssim_latent(void *user, int index, float *z) {
    msssim_stream *m = user;
    pg_latent_from_seed(m->seed + (uint64_t)index, m->z, z);
}

/* Consecutive pairs of fresh images, as the reference measures diversity. */
pg_status pg_eval_msssim(pg_vk_context *ctx, const pg_model_config *c, const pg_param_set *set,
                         const pg_vk_buffer *params, uint64_t base_bytes, int res, int pairs,
                         uint64_t seed, double *out) {
    PG_TRY(check_metric_res("MS-SSIM", c, res, pairs));
    if (pairs > (1 << 29)) return PG_FAIL(PG_ERR_INVALID, "MS-SSIM: %d pairs is too many", pairs);
    msssim_stream m = {seed,      pg_model_latent(c),
                       res,       c->channels,
                       0,         0,
                       2 * pairs, (size_t)res * res * c->channels,
                       NULL,      0};
    m.chunk = PG_MIN(m.total, 256);
    m.pixels = malloc((size_t)m.chunk * m.image_bytes);
    if (!m.pixels) return PG_FAIL(PG_ERR_OUT_OF_MEMORY, "MS-SSIM: out of host memory");
    pg_status st = pg_eval_render(ctx, c, set, params, base_bytes, res, 1.0f, 0, m.total,
                                  msssim_latent, msssim_take, &m);
    free(m.pixels);
    if (st == PG_OK) *out = m.sum / pairs;
    return st;
}
