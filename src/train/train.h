/* src/train: the training schedule (a pure function of images shown), the
 * options and presets, the D-step and G-step graphs of a phase, checkpoints,
 * resume, per-resolution exports, stats and the training loop. Calls
 * src/model, src/graph, src/vk, src/data, src/io and src/metrics. */
#ifndef PROGAN_TRAIN_H
#define PROGAN_TRAIN_H

#include "model/model.h"

#define PG_MAX_LOG2       10 /* 1024 */
#define PG_MAX_DUMP_STEPS 16

#include "train/loss.h"

/* Every option of a run; each has a default from a preset and a flag. */
typedef struct {
    char preset[16];       /* paper | default | small | tiny */
    char data[4096];       /* dataset file, or a folder of images (prepared into a cache) */
    char out[4096];        /* the folder that holds numbered run folders */
    char resume[4096];     /* "", "auto" or a checkpoint path */
    pg_model_config model; /* resolution 0 = the dataset's */
    double total_kimg;     /* length of the run in thousands of real images shown */
    double train_kimg;     /* T: stable phase length per resolution */
    double fade_kimg;      /* F: fade-in length per resolution */
    int minibatch[PG_MAX_LOG2 + 1]; /* per log2(resolution); 0 = minibatch_base */
    int minibatch_base;
    float lr[PG_MAX_LOG2 + 1]; /* per log2(resolution); 0 = lr_base */
    float lr_base;
    double tick_kimg[PG_MAX_LOG2 + 1]; /* per log2(resolution); 0 = tick_kimg_base */
    double tick_kimg_base;
    int snap;             /* ticks between checkpoints */
    int keep_checkpoints; /* newest checkpoints kept */
    uint64_t seed;
    pg_loss_kind loss;
    float gp_lambda;     /* WGAN-GP weight (10) */
    float drift;         /* epsilon penalty on D(real)^2 (0.001) */
    int gp_target_space; /* 1: s = R / native resolution (reference); 0: s = 1 */
    float r1_gamma;      /* ns loss: R1 penalty weight, 0 = off */
    int n_critic;        /* D steps per G step; 0 = the loss's default (5 for wgan) */
    float adam_beta1, adam_beta2, adam_eps;
    float wgan_lr;   /* RMSprop learning rate (wgan: both D and G); 0 = the loss's (5e-5) */
    float wgan_clip; /* wgan: D weight clipping bound; 0 = the loss's (0.01) */
    float ema_beta;  /* Gs = G + (Gs - G) * beta after every D step */
    int mirror;
    int device; /* -1: automatic (under mpirun: the node-local rank's device) */
    int micro_batch; /* sequential micro-batches per rank's share; 0 = auto (fit memory) */
    int ranks;       /* processes of the run (set by the trainer; recorded for resume) */
    int dry_run;
    int grid_rows, grid_cols;
    int metrics_swd;      /* evaluate SWD at every snapshot */
    int metrics_fid;      /* evaluate FID (FID Inception, 299x299) at every snapshot */
    char inception[4096]; /* the FID Inception weights (safetensors) for metrics_fid */
    int metrics_num;      /* images per set for those evaluations */
    int n_dump;
    long long dump_steps[PG_MAX_DUMP_STEPS];
    long long stop_after; /* iterations (testing aid), 0 = off */
} pg_train_options;

/* Fills o with a preset's values; PG_ERR_INVALID for an unknown name. */
pg_status pg_train_options_preset(pg_train_options *o, const char *preset);
/* Replaces the zeros that mean "the loss's default" (n_critic, RMSprop lr, clip). */
void pg_train_options_resolve(pg_train_options *o);
/* Checks the options once the dataset is known; messages name the flag. */
pg_status pg_train_options_check(const pg_train_options *o, int dataset_resolution);
/* The options as a JSON object (training_options.json, checkpoint metadata). */
char *pg_train_options_to_json(const pg_train_options *o);
pg_status pg_train_options_from_json(const char *json, pg_train_options *o);

/* Where the run is at a given number of real images shown (progan-spec.md). */
typedef struct {
    double kimg;
    double lod;     /* L - 2 down to 0 */
    int resolution; /* native resolution 2^(L - floor(lod)) */
    float alpha;    /* weight of the newest block: 1 - (lod - floor(lod)) */
    float frac;     /* lod - floor(lod) as a float below 1 (the reals' cross-fade) */
    int fading;     /* lod is not an integer */
    int batch;
    float lr;
    double tick_kimg;
} pg_schedule;

pg_schedule pg_schedule_at(const pg_train_options *o, double kimg);
/* The run's phases (for --dry-run): start/end kimg, resolution, fading. */
void pg_schedule_print_timeline(const pg_train_options *o, FILE *out);

/* Set (by the command line's signal handler) to stop at the next block
 * boundary after writing a checkpoint. */
#include <signal.h>
extern volatile sig_atomic_t pg_train_stop_requested;

/* Runs (or resumes) a training run; returns when total_kimg is reached, on
 * Ctrl-C/SIGTERM (after writing a checkpoint) or on an error. */
pg_status pg_train_run(const pg_train_options *o);
/* For --dry-run with --micro-batch auto: logs the micro-batches each phase would
 * use on the chosen device (PG_ERR_OUT_OF_MEMORY when a phase cannot fit). */
pg_status pg_train_plan_memory(const pg_train_options *o);

#endif
