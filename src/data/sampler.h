/* src/data/sampler: real minibatches for the trainer. Reads the mmapped level at the
 * native resolution, mirrors per sample, cross-fades with the level below during a
 * fade-in and converts to [-1, 1] float, on a worker thread (double buffering). */
#ifndef PROGAN_DATA_SAMPLER_H
#define PROGAN_DATA_SAMPLER_H

#include <stdint.h>

#include "base/base.h"
#include "data/dataset.h"

/* Philox stream ids of the data layer (pg_rand_u32(seed, iteration, stream, i)); other
 * layers must not use 0xDA00..0xDAFF. */
#define PG_RAND_STREAM_DATA_INDEX  0xDA01u /* element i: the image index of sample i */
#define PG_RAND_STREAM_DATA_MIRROR 0xDA02u /* element i: bit 0 set = mirror sample i */

typedef struct pg_sampler pg_sampler;
/* Draws minibatches of `batch` images at native resolution `res` (<= dataset R) from ds.
 * threads: OpenMP threads of the worker (0 = default). */
pg_status pg_sampler_create(const pg_dataset *ds, int batch, int res, int mirror, uint64_t seed,
                            pg_sampler **out);
void pg_sampler_destroy(pg_sampler *s);
/* Sample i draws Philox element keys[i] instead of i (keys: batch entries, copied;
 * NULL = 0..batch-1). Data parallelism keys by the global sample index, so a
 * batch split over ranks and micro-batches draws what one process would. */
pg_status pg_sampler_set_keys(pg_sampler *s, const uint64_t *keys);
void pg_sampler_set_threads(pg_sampler *s, int threads);
/* Starts filling dst (float [batch, res, res, C], NHWC, values in [-1,1]) on the worker
 * thread for `iteration` with fade fraction frac in [0,1):
 * x = x + (up(avgpool(x)) - x) * frac, in float from the level-res pixels. Image indices
 * and mirror flags come from Philox keyed by (seed, iteration). */
pg_status pg_sampler_begin(pg_sampler *s, uint64_t iteration, float frac, float *dst);
/* Blocks until the last begin's dst is complete. */
pg_status pg_sampler_wait(pg_sampler *s);
/* The indices and mirror flags of the last completed batch (batch entries each). */
const int *pg_sampler_indices(const pg_sampler *s);
const uint8_t *pg_sampler_mirrors(const pg_sampler *s);

/* The same computation synchronously on the calling thread (tests, step dumps). */
void pg_sampler_draw(const pg_dataset *ds, int batch, int res, int mirror, uint64_t seed,
                     uint64_t iteration, float frac, float *dst, int *indices, uint8_t *mirrors,
                     int threads);
/* The same with Philox elements keys[0..batch) (NULL = 0..batch-1). */
void pg_sampler_draw_keyed(const pg_dataset *ds, int batch, int res, int mirror, uint64_t seed,
                           uint64_t iteration, const uint64_t *keys, float frac, float *dst,
                           int *indices, uint8_t *mirrors, int threads);

#endif
