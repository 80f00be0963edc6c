/* src/train/step: the device state of a run (G, D, Gs and optimizer moments in
 * flat buffers laid out by the parameter registries) and the D-step and G-step
 * graphs of one phase, built and recorded once, replayed every iteration. */
#ifndef PROGAN_TRAIN_STEP_H
#define PROGAN_TRAIN_STEP_H

#include "train/train.h"

/* Parameters, moving average and optimizer moments: one buffer per tensor set. */
typedef struct {
    pg_param_set gset, dset;
    pg_vk_buffer G, D, Gs, G_m, G_v, D_m, D_v;
} pg_train_state;

pg_status pg_train_state_create(pg_vk_context *ctx, const pg_model_config *c, pg_train_state *s);
void pg_train_state_destroy(pg_vk_context *ctx, pg_train_state *s);
/* Zeroes one network's optimizer moments (Adam's reset at a change of lod). */
pg_status pg_train_state_reset_moments(pg_vk_context *ctx, pg_train_state *s, int discriminator);

typedef struct {
    pg_graph *graph;
    pg_plan *plan;
    int batch, res, fading, discriminator, updates;
    /* inputs (-1 when the loss does not use them) */
    pg_tensor reals, latents, mix, alpha, lr;
    /* outputs (-1 when absent) */
    pg_tensor loss, score_real, score_fake, score_mixed, penalty, grad_norm, grad_sq;
    pg_tensor grads[PG_MAX_PARAMS]; /* of the trained network; outputs only without updates */
} pg_step;

/* Builds and records the D step (discriminator = 1) or the G step of a phase.
 * updates = 0 leaves parameters alone and outputs every gradient (step dumps). */
pg_status pg_step_create(pg_vk_context *ctx, const pg_train_options *o, pg_train_state *s, int res,
                         int batch, int fading, int discriminator, int updates, pg_step *out);
/* The same with a plan configuration (lean order, an arena shared with the
 * other steps of a phase: see pg_plan_config). */
pg_status pg_step_create_with(pg_vk_context *ctx, const pg_train_options *o, pg_train_state *s,
                              int res, int batch, int fading, int discriminator, int updates,
                              const pg_plan_config *cfg, pg_step *out);
/* The optimizer half of a step whose gradients were computed in parts (ranks,
 * micro-batches) and summed on the host into grads_buffer (host-visible, laid
 * out as the trained network's parameters, zeros between tensors: its norm is
 * taken over ranges of it); used[i]: parameter i has a
 * gradient in this phase. Outputs grad_sq (the global squared norm). */
pg_status pg_step_update_create(pg_vk_context *ctx, const pg_train_options *o, pg_train_state *s,
                                int res, int discriminator, const pg_vk_buffer *grads_buffer,
                                const int *used, const pg_plan_config *cfg, pg_step *out);
/* What pg_step_update_create's plan would allocate (as pg_step_measure). */
pg_status pg_step_update_measure(pg_vk_context *ctx, const pg_train_options *o, pg_train_state *s,
                                 int res, int discriminator, const pg_vk_buffer *grads_buffer,
                                 const int *used, uint64_t bytes[3]);
/* The bytes such a step would allocate, without allocating them: bytes[0] its
 * activation arena, bytes[1] and bytes[2] its host-visible upload and readback
 * staging; and (grad_floats,
 * optional) the gradient floats it produces: what data parallelism exchanges;
 * used (optional, PG_MAX_PARAMS): which parameters get a gradient. */
pg_status pg_step_measure(pg_vk_context *ctx, const pg_train_options *o, pg_train_state *s, int res,
                          int batch, int fading, int discriminator, int updates,
                          const pg_plan_config *cfg, uint64_t bytes[3], uint64_t *grad_floats,
                          int *used);
void pg_step_destroy(pg_step *st);

#endif
