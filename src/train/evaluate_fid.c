/* src/train/evaluate_fid: FID and Inception Score of a generator with the FID
 * Inception network (see evaluate.h). Images stream through the network in
 * batches into float64 accumulators, so 50,000 images never sit in memory; the
 * dataset's statistics are cached beside the dataset file, keyed by the
 * dataset's content hash, the network's hash, the level and the image count. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "io/safetensors.h"
#include "metrics/fid.h"
#include "model/generator.h"
#include "train/evaluate.h"

#define PROGRESS_SECONDS 10.0

/* The network's input size: pytorch-fid's 299, or $PROGAN_FID_SIZE (75..299),
 * a test knob that makes the CLI tests fast; values at another size are not
 * comparable with anyone's FID. */
static int fid_size(void) {
    const char *v = getenv("PROGAN_FID_SIZE");
    int s = v ? atoi(v) : PG_INCEPTION_SIZE;
    return s >= PG_INCEPTION_MIN_SIZE && s <= PG_INCEPTION_SIZE ? s : PG_INCEPTION_SIZE;
}

/* Images -> Inception batches -> statistics, with progress lines and an ETA. */
typedef struct {
    pg_inception_runner *runner;
    uint8_t *batch;
    size_t image_bytes;
    int fill, done, total;
    float *features, *logits;
    pg_gauss_acc *gauss; /* NULL: no FID */
    pg_is_acc *is;       /* NULL: no IS */
    const char *label;
    int progress;
    double t0, last;
} feature_stream;

static pg_status stream_create(pg_vk_context *ctx, const pg_inception *net, int res, int channels,
                               int total, int want_is, const char *label, int progress,
                               feature_stream *s) {
    memset(s, 0, sizeof *s);
    int batch = PG_MIN(8, total);
    s->image_bytes = (size_t)res * res * channels;
    s->total = total, s->label = label, s->progress = progress;
    s->t0 = s->last = pg_time_now();
    s->batch = malloc((size_t)batch * s->image_bytes);
    s->features = malloc((size_t)batch * PG_INCEPTION_FEATURES * sizeof(float));
    s->logits = malloc((size_t)batch * PG_INCEPTION_CLASSES * sizeof(float));
    if (!s->batch || !s->features || !s->logits)
        return PG_FAIL(PG_ERR_OUT_OF_MEMORY, "%s: out of host memory", label);
    PG_TRY(pg_gauss_acc_create(PG_INCEPTION_FEATURES, &s->gauss));
    if (want_is) PG_TRY(pg_is_acc_create(total, PG_INCEPTION_CLASSES, 10, &s->is));
    return pg_inception_runner_create(ctx, net, batch, res, channels, fid_size(), &s->runner);
}

static void stream_destroy(feature_stream *s) {
    pg_inception_runner_destroy(s->runner);
    pg_gauss_acc_destroy(s->gauss);
    pg_is_acc_destroy(s->is);
    free(s->batch);
    free(s->features);
    free(s->logits);
}

static void stream_report(feature_stream *s) {
    double now = pg_time_now(), rate = s->done / fmax(now - s->t0, 1e-9);
    if (!s->progress || (now - s->last < PROGRESS_SECONDS && s->done < s->total)) return;
    s->last = now;
    double eta = (s->total - s->done) / fmax(rate, 1e-9);
    pg_log(PG_LOG_INFO, "%s: %d/%d images through Inception, %.2f images/s, ETA %dh%02dm%02ds",
           s->label, s->done, s->total, rate, (int)(eta / 3600), (int)fmod(eta / 60, 60),
           (int)fmod(eta, 60));
}

static pg_status stream_flush(feature_stream *s) {
    if (s->fill == 0) return PG_OK;
    PG_TRY(pg_inception_runner_run(s->runner, s->batch, s->fill, s->features, s->logits));
    PG_TRY(pg_gauss_acc_add(s->gauss, s->features, s->fill));
    if (s->is) PG_TRY(pg_is_acc_add(s->is, s->logits, s->fill));
    s->done += s->fill;
    s->fill = 0;
    stream_report(s);
    return PG_OK;
}

static pg_status stream_push(void *user, int index, const uint8_t *pixels) {
    (void)index;
    feature_stream *s = user;
    memcpy(s->batch + (size_t)s->fill++ * s->image_bytes, pixels, s->image_bytes);
    if (s->fill == pg_inception_runner_batch(s->runner)) return stream_flush(s);
    return PG_OK;
}

/* ---- the dataset's statistics, cached */

static void cache_path(const char *dataset_path, const pg_dataset *ds, const pg_inception *net,
                       int res, int num, char *out, size_t size) {
    snprintf(out, size, "%s.fid-%.16s-%s-r%d-n%d-s%d.safetensors", dataset_path,
             pg_dataset_hash(ds), pg_inception_hash(net), res, num, fid_size());
}

/* 1 when path holds statistics for exactly this key (else it is recomputed). */
static int cache_read(const char *path, const char *key, double *mu, double *sigma) {
    pg_safetensors_reader *r = NULL;
    if (pg_safetensors_reader_create(&r, path) != PG_OK) {
        pg_error_clear();
        return 0;
    }
    const char *k = pg_safetensors_reader_metadata(r, "fid_key");
    int64_t ms[1] = {PG_INCEPTION_FEATURES}, ss[2] = {PG_INCEPTION_FEATURES, PG_INCEPTION_FEATURES};
    const pg_safetensors_tensor *tm = NULL, *ts = NULL;
    int ok = k && !strcmp(k, key) &&
             pg_safetensors_reader_expect(r, "mu", PG_DTYPE_F64, 1, ms, &tm) == PG_OK &&
             pg_safetensors_reader_expect(r, "sigma", PG_DTYPE_F64, 2, ss, &ts) == PG_OK;
    if (ok) {
        memcpy(mu, tm->data, tm->nbytes);
        memcpy(sigma, ts->data, ts->nbytes);
    } else {
        pg_log(PG_LOG_WARN, "FID: ignoring the statistics cache %s (another key or damaged)", path);
        pg_error_clear();
    }
    pg_safetensors_reader_destroy(r);
    return ok;
}

/* A cache that cannot be written only costs time next run: a warning. */
static void cache_write(const char *path, const char *key, const double *mu, const double *sigma) {
    pg_safetensors_writer *w = NULL;
    int64_t ms[1] = {PG_INCEPTION_FEATURES}, ss[2] = {PG_INCEPTION_FEATURES, PG_INCEPTION_FEATURES};
    pg_status st = pg_safetensors_writer_create(&w);
    if (st == PG_OK) st = pg_safetensors_writer_add(w, "mu", PG_DTYPE_F64, 1, ms, mu);
    if (st == PG_OK) st = pg_safetensors_writer_add(w, "sigma", PG_DTYPE_F64, 2, ss, sigma);
    if (st == PG_OK) st = pg_safetensors_writer_set_metadata(w, "fid_key", key);
    if (st == PG_OK) st = pg_safetensors_writer_write(w, path);
    if (st != PG_OK)
        pg_log(PG_LOG_WARN, "FID: could not cache the dataset statistics: %s", pg_error_message());
    pg_safetensors_writer_destroy(w);
}

/* num reals of level res spread evenly over the dataset (image k*count/num). */
static pg_status real_stats(pg_vk_context *ctx, const pg_inception *net, const pg_dataset *ds,
                            const char *dataset_path, int res, int num, int progress, double *mu,
                            double *sigma, int *cached) {
    char path[4600] = "", key[256];
    if (dataset_path) cache_path(dataset_path, ds, net, res, num, path, sizeof path);
    snprintf(key, sizeof key, "dataset %s inception %s level %d images %d size %d",
             pg_dataset_hash(ds), pg_inception_hash(net), res, num, fid_size());
    *cached = dataset_path && cache_read(path, key, mu, sigma);
    if (*cached) return PG_OK;
    const uint8_t *level = pg_dataset_level(ds, res);
    if (!level) return PG_FAIL(PG_ERR_INVALID, "FID: the dataset has no %dx%d level", res, res);
    feature_stream s;
    int count = pg_dataset_count(ds);
    pg_status st =
        stream_create(ctx, net, res, pg_dataset_channels(ds), num, 0, "FID reals", progress, &s);
    for (int k = 0; st == PG_OK && k < num; k++)
        st = stream_push(&s, k, level + (size_t)((long long)k * count / num) * s.image_bytes);
    if (st == PG_OK) st = stream_flush(&s);
    if (st == PG_OK) st = pg_gauss_acc_finish(s.gauss, mu, sigma);
    stream_destroy(&s);
    if (st == PG_OK && dataset_path) cache_write(path, key, mu, sigma);
    return st;
}

typedef struct {
    uint64_t seed;
    int z;
} seed_latents;

static void latent_of(void *user, int index, float *z) {
    seed_latents *s = user;
    pg_latent_from_seed(s->seed + (uint64_t)index, s->z, z);
}

typedef struct {
    feature_stream *s;
    seed_latents l;
} render_ctx;

static void render_latent(void *user, int index, float *z) {
    latent_of(&((render_ctx *)user)->l, index, z);
}

static pg_status render_image(void *user, int index, const uint8_t *pixels) {
    return stream_push(((render_ctx *)user)->s, index, pixels);
}

pg_status pg_eval_fid(pg_vk_context *ctx, const pg_inception *net, const pg_dataset *ds,
                      const char *dataset_path, const pg_model_config *c, const pg_param_set *set,
                      const pg_vk_buffer *params, uint64_t base_bytes, const pg_fid_options *o,
                      pg_fid_result *out) {
    memset(out, 0, sizeof *out);
    out->fid = out->is_mean = out->is_std = NAN;
    if (o->num < 2 || (o->want_is && o->num < 10))
        return PG_FAIL(PG_ERR_INVALID, "FID/IS: %d images; FID needs 2 or more, IS 10 (10 splits)",
                       o->num);
    if (o->want_fid && (!ds || pg_dataset_channels(ds) != c->channels))
        return PG_FAIL(PG_ERR_INVALID, "FID: needs a dataset with the generator's %d channel(s)",
                       c->channels);
    double t0 = pg_time_now();
    size_t d2 = (size_t)PG_INCEPTION_FEATURES * PG_INCEPTION_FEATURES;
    double *mu = malloc(2 * PG_INCEPTION_FEATURES * sizeof(double)), *sigma = malloc(2 * d2 * 8);
    if (!mu || !sigma) {
        free(mu), free(sigma);
        return PG_FAIL(PG_ERR_OUT_OF_MEMORY, "FID: out of host memory");
    }
    pg_status st = PG_OK;
    if (o->want_fid) {
        out->reals = PG_MIN(o->num, pg_dataset_count(ds));
        st = real_stats(ctx, net, ds, dataset_path, o->res, out->reals, o->progress,
                        mu + PG_INCEPTION_FEATURES, sigma + d2, &out->cached);
    }
    feature_stream s = {0};
    if (st == PG_OK)
        st = stream_create(ctx, net, o->res, c->channels, o->num, o->want_is, "FID/IS fakes",
                           o->progress, &s);
    render_ctx rc = {&s, {o->seed, pg_model_latent(c)}};
    if (st == PG_OK)
        st = pg_eval_render(ctx, c, set, params, base_bytes, o->res, 1.0f, 0, o->num, render_latent,
                            render_image, &rc);
    if (st == PG_OK) st = stream_flush(&s);
    if (st == PG_OK && o->want_is) st = pg_is_acc_finish(s.is, &out->is_mean, &out->is_std);
    if (st == PG_OK && o->want_fid) st = pg_gauss_acc_finish(s.gauss, mu, sigma);
    if (st == PG_OK && o->want_fid)
        st = pg_frechet_distance(PG_INCEPTION_FEATURES, mu, sigma, mu + PG_INCEPTION_FEATURES,
                                 sigma + d2, &out->fid);
    stream_destroy(&s);
    free(mu);
    free(sigma);
    out->num = o->num;
    out->seconds = pg_time_now() - t0;
    return st;
}
