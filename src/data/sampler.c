/* src/data/sampler: minibatch assembly (index draw, mirror, fade, [-1,1]) and the
 * worker thread that overlaps it with the GPU step (see sampler.h). */
#include "data/sampler.h"

#include <omp.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

struct pg_sampler {
    const pg_dataset *ds;
    int batch, res, mirror, threads;
    uint64_t seed;
    pthread_t thread;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    int has_job, busy, quit;
    uint64_t iteration;
    float frac;
    float *dst;
    int *indices; /* of the job in flight, then of the last completed batch */
    uint8_t *mirrors;
    uint64_t *keys; /* NULL: element i for sample i */
};

/* One row pair (2y, 2y+1) of one sample: convert, mirror and fade in float. */
static void fill_rows(const uint8_t *img, int res, int c, int flip, float frac, int y0,
                      float *out) {
    const float k = 2.0f / 255.0f;
    const uint8_t *r0 = img + (size_t)y0 * res * c, *r1 = r0 + (size_t)res * c;
    float *o0 = out + (size_t)y0 * res * c, *o1 = o0 + (size_t)res * c;
    for (int x = 0; x < res; x += 2) {
        int sa = flip ? res - 1 - x : x, sb = flip ? res - 2 - x : x + 1;
        for (int ch = 0; ch < c; ch++) {
            float a = r0[sa * c + ch] * k - 1.0f, b = r0[sb * c + ch] * k - 1.0f;
            float d = r1[sa * c + ch] * k - 1.0f, e = r1[sb * c + ch] * k - 1.0f;
            if (frac != 0.0f) {
                float m = (a + b + d + e) * 0.25f;
                a += (m - a) * frac, b += (m - b) * frac, d += (m - d) * frac, e += (m - e) * frac;
            }
            o0[x * c + ch] = a, o0[(x + 1) * c + ch] = b;
            o1[x * c + ch] = d, o1[(x + 1) * c + ch] = e;
        }
    }
}

void pg_sampler_draw(const pg_dataset *ds, int batch, int res, int mirror, uint64_t seed,
                     uint64_t iteration, float frac, float *dst, int *indices, uint8_t *mirrors,
                     int threads) {
    pg_sampler_draw_keyed(ds, batch, res, mirror, seed, iteration, NULL, frac, dst, indices,
                          mirrors, threads);
}

/* Counter-based draws: the same (seed, iteration, key) gives the same sample on any machine. */
void pg_sampler_draw_keyed(const pg_dataset *ds, int batch, int res, int mirror, uint64_t seed,
                           uint64_t iteration, const uint64_t *keys, float frac, float *dst,
                           int *indices, uint8_t *mirrors, int threads) {
    uint32_t count = (uint32_t)pg_dataset_count(ds);
    int c = pg_dataset_channels(ds);
    const uint8_t *level = pg_dataset_level(ds, res);
    for (int i = 0; i < batch; i++) {
        uint64_t e = keys ? keys[i] : (uint64_t)i;
        uint32_t u = pg_rand_u32(seed, iteration, PG_RAND_STREAM_DATA_INDEX, e);
        indices[i] = (int)(((uint64_t)u * count) >> 32);
        mirrors[i] =
            mirror ? (uint8_t)(pg_rand_u32(seed, iteration, PG_RAND_STREAM_DATA_MIRROR, e) & 1u)
                   : 0;
    }
    size_t img = (size_t)res * res * c;
    int pairs = res / 2, T = threads > 0 ? threads : omp_get_max_threads();
    long long work = (long long)batch * res * res * c;
#pragma omp parallel for collapse(2) schedule(static) num_threads(T) if (work > (1 << 16))
    for (int i = 0; i < batch; i++)
        for (int p = 0; p < pairs; p++)
            fill_rows(level + img * (size_t)indices[i], res, c, mirrors[i], frac, 2 * p,
                      dst + img * (size_t)i);
}

static void *worker_main(void *arg) {
    pg_sampler *s = arg;
    pthread_mutex_lock(&s->mu);
    for (;;) {
        while (!s->has_job && !s->quit) pthread_cond_wait(&s->cv, &s->mu);
        if (s->quit) break;
        s->has_job = 0;
        uint64_t it = s->iteration;
        float frac = s->frac;
        float *dst = s->dst;
        pthread_mutex_unlock(&s->mu);
        pg_sampler_draw_keyed(s->ds, s->batch, s->res, s->mirror, s->seed, it, s->keys, frac, dst,
                              s->indices, s->mirrors, s->threads);
        pthread_mutex_lock(&s->mu);
        s->busy = 0;
        pthread_cond_broadcast(&s->cv);
    }
    pthread_mutex_unlock(&s->mu);
    return NULL;
}

pg_status pg_sampler_create(const pg_dataset *ds, int batch, int res, int mirror, uint64_t seed,
                            pg_sampler **out) {
    *out = NULL;
    if (batch < 1) return PG_FAIL(PG_ERR_INVALID, "sampler batch %d: must be >= 1", batch);
    if (!pg_dataset_level(ds, res))
        return PG_FAIL(PG_ERR_INVALID,
                       "sampler resolution %d: the dataset has levels 4..%d "
                       "(powers of two)",
                       res, pg_dataset_resolution(ds));
    if (pg_dataset_count(ds) < 1) return PG_FAIL(PG_ERR_INVALID, "the dataset has no images");
    pg_sampler *s = calloc(1, sizeof *s);
    if (!s) return PG_FAIL(PG_ERR_OUT_OF_MEMORY, "cannot allocate a sampler");
    s->ds = ds, s->batch = batch, s->res = res, s->mirror = mirror != 0, s->seed = seed;
    s->indices = calloc((size_t)batch, sizeof *s->indices);
    s->mirrors = calloc((size_t)batch, 1);
    pthread_mutex_init(&s->mu, NULL);
    pthread_cond_init(&s->cv, NULL);
    if (!s->indices || !s->mirrors || pthread_create(&s->thread, NULL, worker_main, s) != 0) {
        free(s->indices);
        free(s->mirrors);
        pthread_mutex_destroy(&s->mu);
        pthread_cond_destroy(&s->cv);
        free(s);
        return PG_FAIL(PG_ERR_OUT_OF_MEMORY, "cannot start the sampler thread");
    }
    *out = s;
    return PG_OK;
}

void pg_sampler_set_threads(pg_sampler *s, int threads) {
    pthread_mutex_lock(&s->mu);
    s->threads = threads;
    pthread_mutex_unlock(&s->mu);
}

void pg_sampler_destroy(pg_sampler *s) {
    if (!s) return;
    pthread_mutex_lock(&s->mu);
    while (s->busy) pthread_cond_wait(&s->cv, &s->mu);
    s->quit = 1;
    pthread_cond_broadcast(&s->cv);
    pthread_mutex_unlock(&s->mu);
    pthread_join(s->thread, NULL);
    pthread_mutex_destroy(&s->mu);
    pthread_cond_destroy(&s->cv);
    free(s->indices);
    free(s->mirrors);
    free(s->keys);
    free(s);
}

pg_status pg_sampler_set_keys(pg_sampler *s, const uint64_t *keys) {
    uint64_t *copy = NULL;
    if (keys) {
        copy = malloc((size_t)s->batch * sizeof *copy);
        if (!copy) return PG_FAIL(PG_ERR_OUT_OF_MEMORY, "cannot allocate sampler keys");
        memcpy(copy, keys, (size_t)s->batch * sizeof *copy);
    }
    pthread_mutex_lock(&s->mu);
    while (s->busy) pthread_cond_wait(&s->cv, &s->mu);
    free(s->keys);
    s->keys = copy;
    pthread_mutex_unlock(&s->mu);
    return PG_OK;
}

pg_status pg_sampler_begin(pg_sampler *s, uint64_t iteration, float frac, float *dst) {
    if (!dst) return PG_FAIL(PG_ERR_INVALID, "pg_sampler_begin: dst is NULL");
    if (!(frac >= 0.0f && frac < 1.0f))
        return PG_FAIL(PG_ERR_INVALID, "pg_sampler_begin: fade fraction %g is outside [0, 1)",
                       (double)frac);
    pthread_mutex_lock(&s->mu);
    int busy = s->busy;
    if (!busy) {
        s->iteration = iteration, s->frac = frac, s->dst = dst;
        s->has_job = 1, s->busy = 1;
        pthread_cond_broadcast(&s->cv);
    }
    pthread_mutex_unlock(&s->mu);
    if (busy)
        return PG_FAIL(PG_ERR_INVALID, "pg_sampler_begin called while the previous batch is "
                                       "still being filled: call pg_sampler_wait first");
    return PG_OK;
}

pg_status pg_sampler_wait(pg_sampler *s) {
    pthread_mutex_lock(&s->mu);
    while (s->busy) pthread_cond_wait(&s->cv, &s->mu);
    pthread_mutex_unlock(&s->mu);
    return PG_OK;
}

const int *pg_sampler_indices(const pg_sampler *s) {
    return s->indices;
}
const uint8_t *pg_sampler_mirrors(const pg_sampler *s) {
    return s->mirrors;
}
