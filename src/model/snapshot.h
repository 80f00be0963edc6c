/* src/model/snapshot: the per-resolution export (checkpoint-format.md) and
 * loading a generator from any file progan writes that holds one (an export's
 * "Gs." tensors, or a training checkpoint's "Gs."). */
#ifndef PROGAN_MODEL_SNAPSHOT_H
#define PROGAN_MODEL_SNAPSHOT_H

#include "model/model.h"

/* Writes path (atomically): "Gs."-prefixed tensors of every generator
 * parameter of blocks <= res, in PyTorch layout, from arena (device layout,
 * host copy, offsets of set); metadata kind "export", resolution, channels,
 * latent, fmap_base, fmap_decay, fmap_max, mbstd_group, and config_json (may be NULL). */
pg_status pg_snapshot_export(const char *path, const pg_model_config *c, const pg_param_set *set,
                             const float *arena, int res, const char *config_json);

/* Loads the generator of an export or a checkpoint: fills c (resolution = the
 * highest block present), set (the generator registry for that resolution) and
 * *arena (malloc'd, device layout, set->total floats). prefix: "Gs" normally. */
pg_status pg_snapshot_load_generator(const char *path, const char *prefix, pg_model_config *c,
                                     pg_param_set *set, float **arena);

/* Where to render the generator of path (loaded into c): an export at
 * c->resolution with alpha 1; a training checkpoint at the resolution training
 * had reached (metadata "resolution", <= c->resolution) with its fade "alpha",
 * since a checkpoint holds every block up to the final resolution from the start. */
pg_status pg_snapshot_render_point(const char *path, const pg_model_config *c, int *res,
                                   float *alpha);

#endif
