/* src/train internals: the state of one training session shared by the loop
 * (trainer.c) and the files it writes (run_files.c). */
#ifndef PROGAN_TRAIN_RUN_H
#define PROGAN_TRAIN_RUN_H

#include "data/dataset.h"
#include "data/sampler.h"
#include "io/tfevents.h"
#include "model/generator.h"
#include "train/checkpoint.h"

#define PG_STREAM_LATENT_D 0x1D
#define PG_STREAM_GP_MIX   0x1E
#define PG_STREAM_LATENT_G 0x1F

/* Sums of one statistic over a tick. */
typedef struct {
    double sum, sum_sq;
    int64_t count;
} pg_stat;

enum {
    STAT_LOSS_D,
    STAT_LOSS_G,
    STAT_SCORE_REAL,
    STAT_SCORE_FAKE,
    STAT_SCORE_MIXED,
    STAT_PENALTY,
    STAT_GP_NORM,
    STAT_GRAD_D,
    STAT_GRAD_G,
    STAT_COUNT
};

typedef struct {
    pg_train_options o;
    pg_vk_context *ctx;
    pg_dataset *dataset;
    char dataset_path[4096], dataset_hash[64], run_dir[4096];
    pg_train_state state;
    pg_train_progress p;
    pg_schedule sched; /* of the current 4-iteration block */
    int phase_res, phase_batch, phase_fading;
    pg_step d_step, g_step;
    pg_sampler *sampler;
    pg_renderer *grid;
    float *reals, *latents_d, *mix, *latents_g; /* host inputs of the current steps */
    int reals_ready;                            /* the sampler is filling reals for d_steps */
    float reals_frac;
    pg_stat stats[STAT_COUNT];
    double tick_start_time, session_start, elapsed_at_start;
    FILE *log, *stats_file;
    pg_tfevents *events;
} pg_run;

/* run_files.c */
pg_status pg_run_dir_create(pg_run *r);
pg_status pg_run_init_params(pg_run *r);
pg_status pg_run_files_open(pg_run *r, int resumed);
void pg_run_files_close(pg_run *r);
pg_status pg_run_write_reals(pg_run *r);
pg_status pg_run_write_fakes(pg_run *r, const char *path, int res, float alpha);
pg_status pg_run_export(pg_run *r, int res);
pg_status pg_run_checkpoint(pg_run *r);
pg_status pg_run_tick(pg_run *r, int final);
pg_status pg_run_dump(pg_run *r);
pg_status pg_run_find_resume(const pg_train_options *o, const char *dataset_hash, char *path,
                             size_t size);

/* trainer.c */
void pg_run_d_inputs(pg_run *r);
void pg_run_g_inputs(pg_run *r);
pg_status pg_step_feed_run(pg_run *r, pg_step *st, int discriminator, float lr_t);
/* One D (G) step; a non-NULL twin (a no-update step of the same phase) runs
 * first on exactly the same inputs. */
pg_status pg_run_d_step(pg_run *r, pg_step *twin);
pg_status pg_run_g_step(pg_run *r, pg_step *twin);

#endif
