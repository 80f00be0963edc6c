/* src/model/generator: a generator's parameters living on the device and a
 * renderer that runs G at one resolution on batches of latents, used by image
 * grids, exports, `progan generate` and the metrics. Also the latent
 * convention shared by all of them: latent i of seed s is
 * pg_rand_normal(s, 0, PG_RAND_STREAM_LATENT, i), so a seed gives the same
 * image on every device. */
#ifndef PROGAN_MODEL_GENERATOR_H
#define PROGAN_MODEL_GENERATOR_H

#include "model/model.h"

#define PG_RAND_STREAM_LATENT 0x1A7E

/* The latent vector [Z] of one seed. */
void pg_latent_from_seed(uint64_t seed, int z_dim, float *out);
/* The truncation trick for a generator without a mapping network (BigGAN's):
 * each component drawn from N(0,1) truncated to [-threshold, threshold] by
 * redrawing (redraw k of component i uses iteration k + 1 of the same stream),
 * so it equals pg_latent_from_seed wherever no component needed a redraw. */
void pg_latent_from_seed_truncated(uint64_t seed, int z_dim, float threshold, float *out);

typedef struct pg_renderer pg_renderer;
/* A plan for G at resolution res (stable, alpha = 1 unless alpha_value < 1)
 * over batch latents, reading parameters from buffer at base_bytes. */
pg_status pg_renderer_create(pg_vk_context *ctx, const pg_model_config *c, const pg_param_set *set,
                             const pg_vk_buffer *buffer, uint64_t base_bytes, int res, int batch,
                             float alpha_value, pg_renderer **out);
/* The same with a plan configuration (e.g. the arena of plans never run beside it). */
pg_status pg_renderer_create_with(pg_vk_context *ctx, const pg_model_config *c,
                                  const pg_param_set *set, const pg_vk_buffer *buffer,
                                  uint64_t base_bytes, int res, int batch, float alpha_value,
                                  const pg_plan_config *cfg, pg_renderer **out);
void pg_renderer_destroy(pg_renderer *r);
int pg_renderer_batch(const pg_renderer *r);
/* Changes the fade weight for the next runs (a renderer made with alpha < 1). */
void pg_renderer_set_alpha(pg_renderer *r, float alpha);
/* latents [batch, Z] -> images [batch, res, res, C] in [-1, 1]-ish (not clamped). */
pg_status pg_renderer_run(pg_renderer *r, const float *latents, float *images);

#endif
