/* The training loop (progan-spec.md): per 4-iteration block the schedule is
 * evaluated, Adam is reset when floor(lod) or ceil(lod) changes, a phase change
 * rebuilds the recorded D and G steps; every iteration runs n_critic D steps and
 * one G step, each a single submit of a recorded command buffer, while the
 * sampler prepares the next real batch on its own thread. */
#include "dist/dist.h"
#include "train/run.h"

#include <math.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

volatile sig_atomic_t pg_train_stop_requested;

/* The rank's latents: sample k draws the elements of its global index keys[k]. */
static void latents_fill(const pg_run *r, float *out, uint64_t iteration, uint32_t stream) {
    int n = r->share, z = pg_model_latent(&r->o.model);
    if (!r->keys) {
        pg_rand_normal_fill(out, (size_t)n * z, r->o.seed, iteration, stream);
        return;
    }
    for (int k = 0; k < n; k++)
        for (int j = 0; j < z; j++)
            out[(size_t)k * z + j] =
                pg_rand_normal(r->o.seed, iteration, stream, r->keys[k] * (uint64_t)z + j);
}

void pg_run_d_inputs(pg_run *r) {
    latents_fill(r, r->latents_d, (uint64_t)r->p.d_steps, PG_STREAM_LATENT_D);
    for (int i = 0; i < r->share; i++)
        r->mix[i] = pg_rand_uniform(r->o.seed, (uint64_t)r->p.d_steps, PG_STREAM_GP_MIX,
                                    r->keys ? r->keys[i] : (uint64_t)i);
}

void pg_run_g_inputs(pg_run *r) {
    latents_fill(r, r->latents_g, (uint64_t)r->p.iteration, PG_STREAM_LATENT_G);
}

pg_status pg_step_feed_run(pg_run *r, pg_step *st, int discriminator, float lr_t) {
    return pg_step_feed_part(r, st, discriminator, lr_t, 0);
}

/* Copies the run's current host inputs, from local sample `first` on, into a step's plan. */
pg_status pg_step_feed_part(pg_run *r, pg_step *st, int discriminator, float lr_t, int first) {
    size_t n = (size_t)st->batch, z = (size_t)pg_model_latent(&r->o.model);
    size_t per = (size_t)st->res * st->res * r->o.model.channels, img = n * per;
    memcpy(pg_plan_input(st->plan, st->latents),
           (discriminator ? r->latents_d : r->latents_g) + first * z, n * z * 4);
    if (st->reals >= 0) memcpy(pg_plan_input(st->plan, st->reals), r->reals + first * per, img * 4);
    if (st->mix >= 0) memcpy(pg_plan_input(st->plan, st->mix), r->mix + first, n * 4);
    if (st->alpha >= 0) pg_plan_input(st->plan, st->alpha)[0] = r->sched.alpha;
    pg_plan_input(st->plan, st->lr)[0] = lr_t;
    return PG_OK;
}

void pg_run_stat_add(pg_stat *s, double v) {
    if (!isfinite(v)) return;
    s->sum += v;
    s->sum_sq += v * v;
    s->count++;
}

static double output(pg_step *st, pg_tensor t) {
    return t >= 0 ? pg_plan_output(st->plan, t)[0] : NAN;
}

/* The phase's grid renderer; a parted phase's renders in the arena of its
 * steps (it runs between them) when it fits there, else in its own. */
static pg_status grid_renderer_create(pg_run *r, const pg_schedule *s, int batch) {
    pg_plan_config shared = {.share = r->d_step.plan};
    float alpha = s->fading ? 0.5f : 1.0f;
    pg_status st = PG_ERR_INVALID;
    if (r->parted)
        st = pg_renderer_create_with(r->ctx, &r->o.model, &r->state.gset, &r->state.Gs, 0,
                                     s->resolution, batch, alpha, &shared, &r->grid);
    if (st != PG_ERR_INVALID) return st; /* (invalid: larger than the shared arena) */
    return pg_renderer_create(r->ctx, &r->o.model, &r->state.gset, &r->state.Gs, 0, s->resolution,
                              batch, alpha, &r->grid);
}

/* Rebuilds the recorded steps, the sampler and the grid renderer for a phase. */
static pg_status phase_enter(pg_run *r, const pg_schedule *s) {
    pg_step_destroy(&r->d_step);
    pg_step_destroy(&r->g_step);
    pg_step_destroy(&r->d_update);
    pg_step_destroy(&r->g_update);
    pg_renderer_destroy(r->grid);
    r->grid = NULL;
    if (r->sampler) pg_sampler_wait(r->sampler), pg_sampler_destroy(r->sampler);
    r->sampler = NULL;
    r->reals_ready = 0;
    r->phase_res = s->resolution, r->phase_batch = s->batch, r->phase_fading = s->fading;
    const pg_model_config *c = &r->o.model;
    int micro = r->o.micro_batch;
    if (micro == 0) { /* every rank must split alike: the most any rank needs */
        PG_TRY(pg_par_micro_auto(r, s, &micro));
        PG_TRY(pg_dist_max_int(&micro));
    }
    PG_TRY(pg_par_layout(r, s, micro));
    size_t n = (size_t)r->share;
    free(r->reals), free(r->latents_d), free(r->mix), free(r->latents_g);
    r->reals = malloc(4 * n * s->resolution * s->resolution * c->channels);
    r->latents_d = malloc(4 * n * pg_model_latent(c));
    r->latents_g = malloc(4 * n * pg_model_latent(c));
    r->mix = malloc(4 * n);
    if (!r->reals || !r->latents_d || !r->latents_g || !r->mix)
        return PG_FAIL(PG_ERR_OUT_OF_MEMORY, "out of host memory");
    double t0 = pg_time_now();
    if (r->parted)
        PG_TRY(pg_par_steps_create(r, s));
    else {
        PG_TRY(pg_step_create(r->ctx, &r->o, &r->state, s->resolution, s->batch, s->fading, 1, 1,
                              &r->d_step));
        PG_TRY(pg_step_create(r->ctx, &r->o, &r->state, s->resolution, s->batch, s->fading, 0, 1,
                              &r->g_step));
    }
    PG_TRY(pg_sampler_create(r->dataset, r->share, s->resolution, r->o.mirror, r->o.seed,
                             &r->sampler));
    PG_TRY(pg_sampler_set_keys(r->sampler, r->keys));
    uint64_t arena = pg_plan_arena_allocated(r->d_step.plan); /* parted: one for all */
    if (!r->parted) arena += pg_plan_arena_allocated(r->g_step.plan);
    /* a parted phase renders the grid in parts of its micro-batch: the memory
     * --micro-batch auto planned for holds G's forward pass at that batch */
    int cells = PG_MIN(r->o.grid_rows * r->o.grid_cols, r->parted ? r->part_batch : 16);
    PG_TRY(grid_renderer_create(r, s, PG_MIN(cells, 16)));
    pg_log(PG_LOG_INFO,
           "phase %dx%d %s, batch %d%s%s: D step %d kernels, G step %d kernels, "
           "%.1f MiB of activations, built in %.2f s",
           s->resolution, s->resolution, s->fading ? "fade-in" : "stable", s->batch,
           r->batch_note[0] ? " " : "", r->batch_note, pg_plan_dispatch_count(r->d_step.plan),
           pg_plan_dispatch_count(r->g_step.plan), arena / 1048576.0, pg_time_now() - t0);
    return PG_OK;
}

/* The schedule at a block boundary: Adam resets, exports of finished
 * resolutions, phases. Compares with the lod of the previous block, which a
 * checkpoint restores, so a resumed run does exactly what the straight run did. */
static pg_status block_begin(pg_run *r) {
    pg_schedule s = pg_schedule_at(&r->o, r->p.cur_nimg / 1000.0);
    double prev = r->p.lod;
    if (prev < 0 || floor(s.lod) != floor(prev) || ceil(s.lod) != ceil(prev)) {
        PG_TRY(pg_train_state_reset_moments(r->ctx, &r->state, 0));
        PG_TRY(pg_train_state_reset_moments(r->ctx, &r->state, 1));
        r->p.adam_t_g = r->p.adam_t_d = 0;
    }
    int top = 0;
    while ((1 << top) < r->o.model.resolution) top++;
    int prev_res = prev < 0 ? s.resolution : 1 << (top - (int)floor(prev));
    if (s.resolution > prev_res) PG_TRY(pg_run_export(r, prev_res));
    r->sched = s;
    r->p.lod = s.lod;
    if (s.resolution != r->phase_res || s.batch != r->phase_batch || s.fading != r->phase_fading)
        PG_TRY(phase_enter(r, &s));
    return PG_OK;
}

static float adam_lr(const pg_train_options *o, float lr, int64_t t) {
    return (float)(lr * sqrt(1.0 - pow(o->adam_beta2, (double)t)) /
                   (1.0 - pow(o->adam_beta1, (double)t)));
}

/* Real batch for d_steps: waits for the prefetch, or draws it now. */
static pg_status reals_get(pg_run *r) {
    float frac = r->sched.frac;
    if (!r->reals_ready || r->reals_frac != frac)
        PG_TRY(pg_sampler_begin(r->sampler, (uint64_t)r->p.d_steps, frac, r->reals));
    PG_TRY(pg_sampler_wait(r->sampler));
    r->reals_ready = 0;
    return PG_OK;
}

/* Starts drawing the next real batch. */
static pg_status reals_prefetch(pg_run *r) {
    float frac = r->sched.frac;
    PG_TRY(pg_sampler_wait(r->sampler));
    PG_TRY(pg_sampler_begin(r->sampler, (uint64_t)r->p.d_steps + 1, frac, r->reals));
    r->reals_ready = 1;
    r->reals_frac = frac;
    return PG_OK;
}

/* A D step in parts (ranks, micro-batches): see parallel.c. */
static pg_status d_step_parted(pg_run *r, float lr) {
    PG_TRY(pg_par_d_step(r, lr));
    PG_TRY(reals_prefetch(r));
    r->p.cur_nimg += r->phase_batch;
    r->p.d_steps++;
    return PG_OK;
}

pg_status pg_run_d_step(pg_run *r, pg_step *twin) {
    PG_TRY(reals_get(r));
    pg_run_d_inputs(r);
    int64_t t = r->p.adam_t_d + 1;
    float lr = pg_losses[r->o.loss].d_opt == PG_OPT_RMSPROP ? r->o.wgan_lr
                                                            : adam_lr(&r->o, r->sched.lr, t);
    pg_step *st = &r->d_step;
    if (r->parted) return d_step_parted(r, lr);
    if (twin) { /* the same inputs through the no-update twin first (step dumps) */
        PG_TRY(pg_step_feed_run(r, twin, 1, lr));
        PG_TRY(pg_plan_run(twin->plan));
    }
    PG_TRY(pg_step_feed_run(r, st, 1, lr));
    PG_TRY(pg_plan_submit(st->plan));
    PG_TRY(reals_prefetch(r)); /* while the device works */
    PG_TRY(pg_plan_wait(st->plan));
    double grad_sq = output(st, st->grad_sq);
    if (!pg_update_skipped((float)grad_sq))
        r->p.adam_t_d++;
    else
        r->p.skipped_d++;
    pg_run_stat_add(&r->stats[STAT_LOSS_D], output(st, st->loss));
    pg_run_stat_add(&r->stats[STAT_SCORE_REAL], output(st, st->score_real));
    pg_run_stat_add(&r->stats[STAT_SCORE_FAKE], output(st, st->score_fake));
    pg_run_stat_add(&r->stats[STAT_SCORE_MIXED], output(st, st->score_mixed));
    pg_run_stat_add(&r->stats[STAT_PENALTY], output(st, st->penalty));
    pg_run_stat_add(&r->stats[STAT_GP_NORM], output(st, st->grad_norm));
    pg_run_stat_add(&r->stats[STAT_GRAD_D], sqrt(grad_sq));
    r->p.cur_nimg += st->batch;
    r->p.d_steps++;
    return PG_OK;
}

pg_status pg_run_g_step(pg_run *r, pg_step *twin) {
    pg_run_g_inputs(r);
    pg_step *st = &r->g_step;
    float lr = pg_losses[r->o.loss].g_opt == PG_OPT_RMSPROP
                   ? r->o.wgan_lr
                   : adam_lr(&r->o, r->sched.lr, r->p.adam_t_g + 1);
    if (r->parted) {
        PG_TRY(pg_par_g_step(r, lr));
        r->p.iteration++;
        return PG_OK;
    }
    if (twin) {
        PG_TRY(pg_step_feed_run(r, twin, 0, lr));
        PG_TRY(pg_plan_run(twin->plan));
    }
    PG_TRY(pg_step_feed_run(r, st, 0, lr));
    PG_TRY(pg_plan_run(st->plan));
    double grad_sq = output(st, st->grad_sq);
    if (!pg_update_skipped((float)grad_sq))
        r->p.adam_t_g++;
    else
        r->p.skipped_g++;
    pg_run_stat_add(&r->stats[STAT_LOSS_G], output(st, st->loss));
    pg_run_stat_add(&r->stats[STAT_GRAD_G], sqrt(grad_sq));
    r->p.iteration++;
    return PG_OK;
}

static int dump_wanted(const pg_run *r) {
    for (int i = 0; i < r->o.n_dump; i++)
        if (r->o.dump_steps[i] == r->p.iteration) return 1;
    return 0;
}

static int run_done(const pg_run *r) {
    return r->p.cur_nimg >= (int64_t)(r->o.total_kimg * 1000 + 0.5) ||
           (r->o.stop_after > 0 && r->p.iteration >= r->o.stop_after);
}

static pg_status loop(pg_run *r) {
    PG_TRY(block_begin(r));
    for (int first = 1; !run_done(r); first = 0) {
        if (r->p.iteration % 4 == 0 && !first) {
            int stop = pg_train_stop_requested; /* a stop seen by any rank stops every rank */
            PG_TRY(pg_dist_max_int(&stop));
            if (stop) {
                pg_log(PG_LOG_INFO, "stopping: writing a checkpoint at kimg %.3f",
                       r->p.cur_nimg / 1000.0);
                PG_TRY(pg_run_checkpoint(r));
                return PG_FAIL(PG_ERR_INTERRUPTED, "interrupted; resume with --resume auto");
            }
            PG_TRY(block_begin(r));
        }
        if (dump_wanted(r))
            PG_TRY(pg_run_dump(r));
        else {
            for (int k = 0; k < r->o.n_critic; k++) PG_TRY(pg_run_d_step(r, NULL));
            PG_TRY(pg_run_g_step(r, NULL));
        }
        if (r->p.iteration % 4 == 0 &&
            r->p.cur_nimg >= r->p.tick_start_nimg + (int64_t)(r->sched.tick_kimg * 1000)) {
            PG_TRY(pg_par_check_replicas(r, 0));
            PG_TRY(pg_run_tick(r, 0));
        }
    }
    PG_TRY(pg_par_check_replicas(r, 1));
    PG_TRY(pg_run_tick(r, 1));
    if (r->p.cur_nimg >= (int64_t)(r->o.total_kimg * 1000 + 0.5)) /* not on --stop-after */
        PG_TRY(pg_run_export(r, r->phase_res));
    return pg_run_checkpoint(r);
}

/* Opens the dataset: a dataset file as is, a folder through the preparation cache. */
static pg_status dataset_open(pg_run *r) {
    struct stat st;
    int folder = stat(r->o.data, &st) == 0 && S_ISDIR(st.st_mode);
    if (folder && r->o.model.resolution <= 0)
        return PG_FAIL(PG_ERR_INVALID,
                       "--data %s is a folder: say the training resolution with --resolution R",
                       r->o.data);
    char cache[4200];
    snprintf(cache, sizeof cache, "%s/cache", r->o.out);
    if (folder) mkdir(r->o.out, 0755);
    /* Ctrl-C while preparing stops the preparation too (no half-written file) */
    _Static_assert(sizeof(sig_atomic_t) == sizeof(int), "the cancel flag is an int");
    pg_status status = pg_dataset_resolve(r->o.data, cache, r->o.model.resolution,
                                          (volatile const int *)&pg_train_stop_requested,
                                          r->dataset_path, sizeof r->dataset_path);
    if (status != PG_OK && pg_train_stop_requested)
        return PG_FAIL(PG_ERR_INTERRUPTED, "interrupted while preparing %s; run again to continue",
                       r->o.data);
    if (status != PG_OK) return status;
    PG_TRY(pg_dataset_open(r->dataset_path, &r->dataset));
    snprintf(r->dataset_hash, sizeof r->dataset_hash, "%s", pg_dataset_hash(r->dataset));
    return PG_OK;
}

/* Options from a checkpoint, keeping what may change between sessions. */
static pg_status resume_options(pg_run *r, const char *path) {
    pg_train_options now = r->o;
    char hash[64];
    PG_TRY(pg_checkpoint_peek(path, &r->o, hash, sizeof hash));
    r->o.total_kimg = now.total_kimg > r->o.total_kimg ? now.total_kimg : r->o.total_kimg;
    r->o.device = now.device;
    r->o.micro_batch = now.micro_batch; /* how this session splits the batch */
    r->o.stop_after = now.stop_after;
    r->o.n_dump = now.n_dump;
    memcpy(r->o.dump_steps, now.dump_steps, sizeof now.dump_steps);
    snprintf(r->o.resume, sizeof r->o.resume, "%s", path);
    snprintf(r->o.out, sizeof r->o.out, "%s", now.out);
    if (strcmp(hash, r->dataset_hash))
        return PG_FAIL(PG_ERR_INVALID,
                       "%s was trained on another dataset (hash %s, now %s): "
                       "give the same --data or start a new run",
                       path, hash, r->dataset_hash);
    const char *slash = strrchr(path, '/');
    snprintf(r->run_dir, sizeof r->run_dir, "%.*s", slash ? (int)(slash - path) : 1,
             slash ? path : ".");
    return PG_OK;
}

/* Under mpirun without --device: the node-local rank's GPU (lavapipe when the
 * node has none). */
static int device_for_rank(const pg_run *r) {
    pg_vk_device_list list;
    if (r->o.device >= 0 || r->ranks < 2 || getenv("PROGAN_DEVICE") ||
        pg_vk_list_devices(&list) != PG_OK)
        return r->o.device;
    int gpus[16], n = 0;
    for (int i = 0; i < list.count && n < 16; i++)
        if (list.devices[i].type != VK_PHYSICAL_DEVICE_TYPE_CPU) gpus[n++] = i;
    if (n == 0) return -1;
    if (pg_dist_local_size() > n && pg_dist_local_rank() == 0)
        pg_log(PG_LOG_WARN, "%d ranks on %s share %d GPU(s)", pg_dist_local_size(),
               pg_dist_host(r->rank), n);
    return gpus[pg_dist_local_rank() % n];
}

/* The checkpoint to resume, chosen by rank 0 and sent to every rank. */
static pg_status resume_choose(pg_run *r, char *path, size_t size) {
    pg_status st = PG_OK;
    if (r->writes_files && !strcmp(r->o.resume, "auto"))
        st = pg_run_find_resume(&r->o, r->dataset_hash, path, size);
    else if (r->o.resume[0])
        snprintf(path, size, "%s", r->o.resume);
    PG_TRY(pg_dist_agree(st));
    return pg_dist_broadcast(path, size, 0);
}

/* The run's process count, and what changed when a checkpoint came from another. */
static void ranks_note(pg_run *r, int resumed) {
    if (resumed && r->checkpoint_ranks != r->ranks)
        pg_log(PG_LOG_INFO,
               "resuming on %d rank(s); the checkpoint was written by %d: the schedule, the "
               "global batch and the random draws are unchanged, each rank's share is now "
               "1/%d of the batch",
               r->ranks, r->checkpoint_ranks, r->ranks);
}

/* Rank 0 makes (or reopens) the run folder; the others write nothing. */
static pg_status files_open(pg_run *r, int resumed) {
    pg_status st = PG_OK;
    if (r->writes_files && !resumed) st = pg_run_dir_create(r);
    if (r->writes_files && st == PG_OK) st = pg_run_files_open(r, resumed);
    return pg_dist_agree(st);
}

static pg_status session(pg_run *r) {
    /* rank 0 prepares a folder into the cache first; the others then open it */
    PG_TRY(pg_dist_agree(r->writes_files ? dataset_open(r) : PG_OK));
    PG_TRY(pg_dist_agree(r->writes_files ? PG_OK : dataset_open(r)));
    if (r->o.model.resolution <= 0) r->o.model.resolution = pg_dataset_resolution(r->dataset);
    r->o.model.channels = pg_dataset_channels(r->dataset);
    char resume_path[4096] = "";
    PG_TRY(resume_choose(r, resume_path, sizeof resume_path));
    if (resume_path[0]) PG_TRY(pg_dist_agree(resume_options(r, resume_path)));
    r->checkpoint_ranks = r->o.ranks;
    pg_train_options_resolve(&r->o); /* checkpoints from before the loss table */
    PG_TRY(pg_train_options_check(&r->o, pg_dataset_resolution(r->dataset)));
    if (r->o.metrics_fid) PG_TRY(pg_dist_agree(pg_inception_load(r->o.inception, &r->inception)));
    if (r->o.n_dump && (r->ranks > 1 || r->o.micro_batch != 1))
        return PG_FAIL(PG_ERR_INVALID, "--dump-step needs one process and --micro-batch 1");
    PG_TRY(pg_dist_agree(pg_vk_context_create(device_for_rank(r), &r->ctx)));
    r->o.ranks = r->ranks; /* options in new runs and in checkpoints */
    PG_TRY(files_open(r, resume_path[0] != 0));
    ranks_note(r, resume_path[0] != 0);
    pg_log(PG_LOG_INFO, "device: %s; dataset %s: %d images of %dx%d, %d channel(s)",
           r->ctx->info.name, r->dataset_path, pg_dataset_count(r->dataset),
           pg_dataset_resolution(r->dataset), pg_dataset_resolution(r->dataset),
           pg_dataset_channels(r->dataset));
    if (r->ranks > 1)
        pg_log(PG_LOG_INFO, "data parallel: %d ranks, this is rank %d on %s (pid %d)", r->ranks,
               r->rank, pg_dist_host(r->rank), (int)getpid());
    if (!resume_path[0] && r->log) { /* the run folder documents its own schedule */
        fprintf(r->log, "phase timeline:\n");
        pg_schedule_print_timeline(&r->o, r->log);
        fflush(r->log);
    }
    PG_TRY(pg_train_state_create(r->ctx, &r->o.model, &r->state));
    pg_log(PG_LOG_INFO, "G %llu parameters, D %llu parameters; run folder %s",
           (unsigned long long)pg_param_set_count(&r->state.gset),
           (unsigned long long)pg_param_set_count(&r->state.dset), r->run_dir);
    if (resume_path[0]) {
        PG_TRY(pg_checkpoint_load(r->ctx, resume_path, &r->state, &r->p));
        pg_log(PG_LOG_INFO, "resumed %s at kimg %.3f, iteration %lld", resume_path,
               r->p.cur_nimg / 1000.0, (long long)r->p.iteration);
    } else {
        PG_TRY(pg_run_init_params(r));
        PG_TRY(pg_run_write_reals(r));
    }
    r->session_start = pg_time_now();
    r->elapsed_at_start = r->p.elapsed;
    r->tick_start_time = r->session_start;
    return loop(r);
}

pg_status pg_train_run(const pg_train_options *o) {
    pg_run *r = calloc(1, sizeof *r);
    if (!r) return PG_FAIL(PG_ERR_OUT_OF_MEMORY, "out of host memory");
    r->o = *o;
    pg_train_options_resolve(&r->o);
    r->p.lod = -1;
    r->rank = pg_dist_rank(), r->ranks = pg_dist_size(), r->writes_files = r->rank == 0;
    r->share = o->minibatch_base;
    if (!r->writes_files) pg_log_set_level(PG_LOG_WARN); /* rank 0 speaks for the run */
    pg_status st = session(r);
    if (r->sampler) pg_sampler_wait(r->sampler), pg_sampler_destroy(r->sampler);
    pg_step_destroy(&r->d_step);
    pg_step_destroy(&r->g_step);
    pg_par_destroy(r);
    pg_renderer_destroy(r->grid);
    if (r->ctx) pg_train_state_destroy(r->ctx, &r->state);
    pg_run_files_close(r);
    if (r->ctx) pg_vk_context_destroy(r->ctx);
    if (r->dataset) pg_dataset_close(r->dataset);
    pg_inception_destroy(r->inception);
    free(r->reals), free(r->latents_d), free(r->mix), free(r->latents_g);
    free(r);
    return st;
}
