/* src/train/checkpoint: the training checkpoint (everything exact resume
 * needs) and the step dump, both safetensors in PyTorch layout as
 * checkpoint-format.md specifies. */
#ifndef PROGAN_TRAIN_CHECKPOINT_H
#define PROGAN_TRAIN_CHECKPOINT_H

#include "train/step.h"

/* Counters of a run: with the options and the tensors they are the whole state. */
typedef struct {
    int64_t cur_nimg;           /* real images shown to D */
    int64_t iteration;          /* G steps done (the --dump-step numbering) */
    int64_t d_steps;            /* D steps done (keys the D-step random draws) */
    int64_t adam_t_g, adam_t_d; /* optimizer steps since the last reset */
    int64_t tick, tick_start_nimg;
    int64_t skipped_d, skipped_g;
    double lod;     /* of the last schedule evaluation */
    double elapsed; /* seconds of training so far, over all sessions */
} pg_train_progress;

/* Writes path atomically: G.*, D.*, Gs.*, opt.{G,D}.{m,v}.* and the metadata. */
pg_status pg_checkpoint_save(pg_vk_context *ctx, const char *path, const pg_train_options *o,
                             pg_train_state *s, const pg_train_progress *p,
                             const char *dataset_hash);
/* Reads the options (metadata "config") and the dataset hash without tensors. */
pg_status pg_checkpoint_peek(const char *path, pg_train_options *o, char *dataset_hash,
                             size_t hash_size);
/* Uploads every tensor into s and restores p; s must be made from the same config. */
pg_status pg_checkpoint_load(pg_vk_context *ctx, const char *path, pg_train_state *s,
                             pg_train_progress *p);

/* Downloads one tensor set (a buffer laid out by set) into a malloc'd host arena. */
pg_status pg_state_download(pg_vk_context *ctx, const pg_vk_buffer *b, const pg_param_set *set,
                            float **out);

#endif
