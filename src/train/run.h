/* src/train internals: the state of one training session shared by the loop
 * (trainer.c) and the files it writes (run_files.c). */
#ifndef PROGAN_TRAIN_RUN_H
#define PROGAN_TRAIN_RUN_H

#include "data/dataset.h"
#include "data/sampler.h"
#include "io/tfevents.h"
#include "model/generator.h"
#include "model/inception.h"
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
    pg_inception *inception; /* --metrics fid: the FID Inception weights, checked at start */
    float *reals, *latents_d, *mix, *latents_g; /* host inputs of the current steps */
    int reals_ready;                            /* the sampler is filling reals for d_steps */
    float reals_frac;
    pg_stat stats[STAT_COUNT];
    double tick_start_time, session_start, elapsed_at_start;
    FILE *log, *stats_file;
    pg_tfevents *events;
    /* data parallelism and micro-batches (parallel.c): a phase is "parted" when
     * ranks * micro > 1; the rank draws `share` samples per step, keys[k] being
     * the global sample index of local sample k (NULL: k), and runs them as
     * `micro` parts of part_batch through gradient-only steps, then d_update /
     * g_update apply the summed gradients. */
    int rank, ranks, writes_files; /* writes_files: rank 0 alone writes the run folder */
    int checkpoint_ranks;          /* the ranks that wrote the resumed checkpoint */
    int parted, micro, part_batch, share;
    int lean; /* --micro-batch auto chose lean plans sharing one arena (forces parted) */
    uint64_t *keys;
    pg_step d_update, g_update;
    pg_vk_buffer grads; /* host-visible: the gradient steps read back into it, the updates
                           read the summed gradients from it (laid out as the parameters) */
    float *acc;         /* the summed gradients, packed: one contiguous buffer */
    size_t acc_floats;
    char batch_note[64]; /* tick line: how the global batch is split */
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

/* parallel.c */
pg_status pg_par_layout(pg_run *r, const pg_schedule *s, int micro);
pg_status pg_par_micro_auto(pg_run *r, const pg_schedule *s, int *micro);
pg_status pg_par_steps_create(pg_run *r, const pg_schedule *s);
pg_status pg_par_d_step(pg_run *r, float lr);
pg_status pg_par_g_step(pg_run *r, float lr);
pg_status pg_par_check_replicas(pg_run *r, int final);
void pg_par_destroy(pg_run *r);

/* trainer.c */
void pg_run_d_inputs(pg_run *r);
void pg_run_g_inputs(pg_run *r);
pg_status pg_step_feed_run(pg_run *r, pg_step *st, int discriminator, float lr_t);
/* The same from local sample `first` on (one micro-batch of the rank's share). */
pg_status pg_step_feed_part(pg_run *r, pg_step *st, int discriminator, float lr_t, int first);
void pg_run_stat_add(pg_stat *s, double v);
/* One D (G) step; a non-NULL twin (a no-update step of the same phase) runs
 * first on exactly the same inputs. */
pg_status pg_run_d_step(pg_run *r, pg_step *twin);
pg_status pg_run_g_step(pg_run *r, pg_step *twin);

#endif
