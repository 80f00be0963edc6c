/* src/train/evaluate: a generator loaded from a file onto the device, rendering
 * latents in batches into uint8 images (pg_image_grid's rounding), and the
 * metrics of progan-spec.md on them: SWD vs a dataset level with its
 * reals-vs-reals floor, MS-SSIM diversity. Calls model, data, metrics, io. */
#ifndef PROGAN_TRAIN_EVALUATE_H
#define PROGAN_TRAIN_EVALUATE_H

#include "data/dataset.h"
#include "metrics/swd.h"
#include "model/inception.h"
#include "model/model.h"

/* A generator read from an export or a checkpoint and uploaded to the device. */
typedef struct {
    pg_vk_context *ctx; /* borrowed */
    pg_model_config config;
    pg_param_set set;
    pg_vk_buffer params; /* device-local, set.total floats at offset 0 */
    int res;             /* where to render: see pg_snapshot_render_point */
    float alpha;
} pg_eval_generator;

/* Loads prefix ("Gs") of path and uploads it. */
pg_status pg_eval_generator_create(pg_vk_context *ctx, const char *path, const char *prefix,
                                   pg_eval_generator *out);
void pg_eval_generator_destroy(pg_eval_generator *g);

/* Fills z[0..Z) with the latent of image index. */
typedef void (*pg_eval_latent_fn)(void *user, int index, float *z);
/* Receives image index as (res, res, C) uint8; valid during the call only. */
typedef pg_status (*pg_eval_image_fn)(void *user, int index, const uint8_t *pixels);

/* Renders images 0..n-1 at res (alpha < 1: during a fade) in batches of at
 * most batch (0 = a default for res), each latent from latent_fn and each
 * image handed to image_fn in index order. */
pg_status pg_eval_render(pg_vk_context *ctx, const pg_model_config *c, const pg_param_set *set,
                         const pg_vk_buffer *params, uint64_t base_bytes, int res, float alpha,
                         int batch, int n, pg_eval_latent_fn latent_fn, pg_eval_image_fn image_fn,
                         void *user);

/* SWD (x1e3 per level, levels res..16) between num generated images (latents
 * of seeds seed..seed+num-1, alpha 1) and num reals of the dataset level res
 * (the first num, or evenly spaced when the dataset is larger). res >= 16. */
pg_status pg_eval_swd(pg_vk_context *ctx, const pg_dataset *ds, const pg_model_config *c,
                      const pg_param_set *set, const pg_vk_buffer *params, uint64_t base_bytes,
                      int res, int num, uint64_t seed, pg_swd_result *out);

/* The SWD noise floor: two disjoint sets of num reals each (2*num <= count,
 * interleaved evenly over the dataset) compared with the same options. */
pg_status pg_eval_swd_floor(const pg_dataset *ds, int res, int num, uint64_t seed,
                            pg_swd_result *out);

/* Mean MS-SSIM over pairs consecutive pairs of generated images (seeds
 * seed..seed+2*pairs-1): lower means more diverse. res >= 16. */
pg_status pg_eval_msssim(pg_vk_context *ctx, const pg_model_config *c, const pg_param_set *set,
                         const pg_vk_buffer *params, uint64_t base_bytes, int res, int pairs,
                         uint64_t seed, double *out);

/* FID against a dataset level and the Inception Score (10 splits) of num
 * generated images (latents of seeds seed..seed+num-1, alpha 1), in one pass
 * through the FID Inception network (images resized to 299x299). The reals are
 * min(num, dataset size) images of level res spread evenly over the dataset;
 * their statistics are cached beside dataset_path (NULL: no cache). */
typedef struct {
    int want_fid, want_is;
    int num, res;
    uint64_t seed;
    int progress; /* log progress lines with images/s and an ETA every 10 s */
} pg_fid_options;

typedef struct {
    double fid, is_mean, is_std; /* NaN when not asked */
    int num, reals;
    int cached; /* the dataset statistics came from the cache */
    double seconds;
} pg_fid_result;

pg_status pg_eval_fid(pg_vk_context *ctx, const pg_inception *net, const pg_dataset *ds,
                      const char *dataset_path, const pg_model_config *c, const pg_param_set *set,
                      const pg_vk_buffer *params, uint64_t base_bytes, const pg_fid_options *o,
                      pg_fid_result *out);

#endif
