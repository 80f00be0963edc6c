/* The training loop (progan-spec.md): per 4-iteration block the schedule is
 * evaluated, Adam is reset when floor(lod) or ceil(lod) changes, a phase change
 * rebuilds the recorded D and G steps; every iteration runs n_critic D steps and
 * one G step, each a single submit of a recorded command buffer, while the
 * sampler prepares the next real batch on its own thread. */
#include "train/run.h"

#include <math.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

volatile sig_atomic_t pg_train_stop_requested;

void pg_run_d_inputs(pg_run *r) {
    int n = r->phase_batch, z = pg_model_latent(&r->o.model);
    pg_rand_normal_fill(r->latents_d, (size_t)n * z, r->o.seed, (uint64_t)r->p.d_steps,
                        PG_STREAM_LATENT_D);
    for (int i = 0; i < n; i++)
        r->mix[i] =
            pg_rand_uniform(r->o.seed, (uint64_t)r->p.d_steps, PG_STREAM_GP_MIX, (uint64_t)i);
}

void pg_run_g_inputs(pg_run *r) {
    int n = r->phase_batch, z = pg_model_latent(&r->o.model);
    pg_rand_normal_fill(r->latents_g, (size_t)n * z, r->o.seed, (uint64_t)r->p.iteration,
                        PG_STREAM_LATENT_G);
}

/* Copies the run's current host inputs into a step's plan. */
pg_status pg_step_feed_run(pg_run *r, pg_step *st, int discriminator, float lr_t) {
    size_t n = (size_t)st->batch, z = (size_t)pg_model_latent(&r->o.model);
    size_t img = n * st->res * st->res * r->o.model.channels;
    memcpy(pg_plan_input(st->plan, st->latents), discriminator ? r->latents_d : r->latents_g,
           n * z * 4);
    if (st->reals >= 0) memcpy(pg_plan_input(st->plan, st->reals), r->reals, img * 4);
    if (st->mix >= 0) memcpy(pg_plan_input(st->plan, st->mix), r->mix, n * 4);
    if (st->alpha >= 0) pg_plan_input(st->plan, st->alpha)[0] = r->sched.alpha;
    pg_plan_input(st->plan, st->lr)[0] = lr_t;
    return PG_OK;
}

static void stat_add(pg_stat *s, double v) {
    if (!isfinite(v)) return;
    s->sum += v;
    s->sum_sq += v * v;
    s->count++;
}

static double output(pg_step *st, pg_tensor t) {
    return t >= 0 ? pg_plan_output(st->plan, t)[0] : NAN;
}

/* Rebuilds the recorded steps, the sampler and the grid renderer for a phase. */
static pg_status phase_enter(pg_run *r, const pg_schedule *s) {
    pg_step_destroy(&r->d_step);
    pg_step_destroy(&r->g_step);
    pg_renderer_destroy(r->grid);
    r->grid = NULL;
    if (r->sampler) pg_sampler_wait(r->sampler), pg_sampler_destroy(r->sampler);
    r->sampler = NULL;
    r->reals_ready = 0;
    r->phase_res = s->resolution, r->phase_batch = s->batch, r->phase_fading = s->fading;
    const pg_model_config *c = &r->o.model;
    size_t n = (size_t)s->batch;
    free(r->reals), free(r->latents_d), free(r->mix), free(r->latents_g);
    r->reals = malloc(4 * n * s->resolution * s->resolution * c->channels);
    r->latents_d = malloc(4 * n * pg_model_latent(c));
    r->latents_g = malloc(4 * n * pg_model_latent(c));
    r->mix = malloc(4 * n);
    if (!r->reals || !r->latents_d || !r->latents_g || !r->mix)
        return PG_FAIL(PG_ERR_OUT_OF_MEMORY, "out of host memory");
    double t0 = pg_time_now();
    PG_TRY(pg_step_create(r->ctx, &r->o, &r->state, s->resolution, s->batch, s->fading, 1, 1,
                          &r->d_step));
    PG_TRY(pg_step_create(r->ctx, &r->o, &r->state, s->resolution, s->batch, s->fading, 0, 1,
                          &r->g_step));
    PG_TRY(pg_sampler_create(r->dataset, s->batch, s->resolution, r->o.mirror, r->o.seed,
                             &r->sampler));
    int cells = r->o.grid_rows * r->o.grid_cols;
    PG_TRY(pg_renderer_create(r->ctx, c, &r->state.gset, &r->state.Gs, 0, s->resolution,
                              cells < 16 ? cells : 16, s->fading ? 0.5f : 1.0f, &r->grid));
    pg_log(PG_LOG_INFO,
           "phase %dx%d %s, batch %d: D step %d kernels, G step %d kernels, "
           "%.1f MiB of activations, built in %.2f s",
           s->resolution, s->resolution, s->fading ? "fade-in" : "stable", s->batch,
           pg_plan_dispatch_count(r->d_step.plan), pg_plan_dispatch_count(r->g_step.plan),
           (pg_plan_arena_bytes(r->d_step.plan) + pg_plan_arena_bytes(r->g_step.plan)) / 1048576.0,
           pg_time_now() - t0);
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

pg_status pg_run_d_step(pg_run *r, pg_step *twin) {
    PG_TRY(reals_get(r));
    pg_run_d_inputs(r);
    int64_t t = r->p.adam_t_d + 1;
    float lr = pg_losses[r->o.loss].d_opt == PG_OPT_RMSPROP ? r->o.wgan_lr
                                                            : adam_lr(&r->o, r->sched.lr, t);
    pg_step *st = &r->d_step;
    if (twin) { /* the same inputs through the no-update twin first (step dumps) */
        PG_TRY(pg_step_feed_run(r, twin, 1, lr));
        PG_TRY(pg_plan_run(twin->plan));
    }
    PG_TRY(pg_step_feed_run(r, st, 1, lr));
    PG_TRY(pg_plan_submit(st->plan));
    /* prepare the next real batch while the device works */
    float frac = r->sched.frac;
    PG_TRY(pg_sampler_wait(r->sampler));
    PG_TRY(pg_sampler_begin(r->sampler, (uint64_t)r->p.d_steps + 1, frac, r->reals));
    r->reals_ready = 1;
    r->reals_frac = frac;
    PG_TRY(pg_plan_wait(st->plan));
    double grad_sq = output(st, st->grad_sq);
    if (isfinite(grad_sq))
        r->p.adam_t_d++;
    else
        r->p.skipped_d++;
    stat_add(&r->stats[STAT_LOSS_D], output(st, st->loss));
    stat_add(&r->stats[STAT_SCORE_REAL], output(st, st->score_real));
    stat_add(&r->stats[STAT_SCORE_FAKE], output(st, st->score_fake));
    stat_add(&r->stats[STAT_SCORE_MIXED], output(st, st->score_mixed));
    stat_add(&r->stats[STAT_PENALTY], output(st, st->penalty));
    stat_add(&r->stats[STAT_GP_NORM], output(st, st->grad_norm));
    stat_add(&r->stats[STAT_GRAD_D], sqrt(grad_sq));
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
    if (twin) {
        PG_TRY(pg_step_feed_run(r, twin, 0, lr));
        PG_TRY(pg_plan_run(twin->plan));
    }
    PG_TRY(pg_step_feed_run(r, st, 0, lr));
    PG_TRY(pg_plan_run(st->plan));
    double grad_sq = output(st, st->grad_sq);
    if (isfinite(grad_sq))
        r->p.adam_t_g++;
    else
        r->p.skipped_g++;
    stat_add(&r->stats[STAT_LOSS_G], output(st, st->loss));
    stat_add(&r->stats[STAT_GRAD_G], sqrt(grad_sq));
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
            if (pg_train_stop_requested) {
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
            r->p.cur_nimg >= r->p.tick_start_nimg + (int64_t)(r->sched.tick_kimg * 1000))
            PG_TRY(pg_run_tick(r, 0));
    }
    PG_TRY(pg_run_tick(r, 1));
    if (r->p.cur_nimg >= (int64_t)(r->o.total_kimg * 1000 + 0.5)) /* not on --stop-after */
        PG_TRY(pg_run_export(r, r->phase_res));
    return pg_run_checkpoint(r);
}

/* Opens the dataset: a dataset file as is, a folder through the preparation cache. */
static pg_status dataset_open(pg_run *r) {
    struct stat st;
    if (stat(r->o.data, &st) != 0)
        return PG_FAIL(PG_ERR_IO,
                       "--data %s does not exist: give a dataset file from `progan "
                       "prepare` or a folder of images",
                       r->o.data);
    snprintf(r->dataset_path, sizeof r->dataset_path, "%s", r->o.data);
    if (S_ISDIR(st.st_mode)) {
        if (r->o.model.resolution <= 0)
            return PG_FAIL(PG_ERR_INVALID,
                           "--data %s is a folder: say the training resolution "
                           "with --resolution R",
                           r->o.data);
        const char *base = strrchr(r->o.data, '/');
        base = base && base[1] ? base + 1 : r->o.data;
        char cache[4096];
        snprintf(cache, sizeof cache, "%s/cache", r->o.out);
        mkdir(r->o.out, 0755);
        mkdir(cache, 0755);
        snprintf(r->dataset_path, sizeof r->dataset_path, "%s/%.200s-%d.pgd", cache, base,
                 r->o.model.resolution);
        pg_prepare_options po;
        pg_prepare_options_default(&po);
        po.resolution = r->o.model.resolution;
        /* Ctrl-C while preparing stops the preparation too (no half-written file) */
        _Static_assert(sizeof(sig_atomic_t) == sizeof(int), "the cancel flag is an int");
        po.cancel = (volatile const int *)&pg_train_stop_requested;
        pg_status st = pg_prepare_cached(r->o.data, r->dataset_path, &po);
        if (st != PG_OK && pg_train_stop_requested)
            return PG_FAIL(PG_ERR_INTERRUPTED,
                           "interrupted while preparing %s; run again to "
                           "continue",
                           r->o.data);
        if (st != PG_OK) return st;
    }
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

static pg_status session(pg_run *r) {
    PG_TRY(dataset_open(r));
    if (r->o.model.resolution <= 0) r->o.model.resolution = pg_dataset_resolution(r->dataset);
    r->o.model.channels = pg_dataset_channels(r->dataset);
    char resume_path[4096] = "";
    if (!strcmp(r->o.resume, "auto"))
        PG_TRY(pg_run_find_resume(&r->o, r->dataset_hash, resume_path, sizeof resume_path));
    else if (r->o.resume[0])
        snprintf(resume_path, sizeof resume_path, "%s", r->o.resume);
    if (resume_path[0]) PG_TRY(resume_options(r, resume_path));
    pg_train_options_resolve(&r->o); /* checkpoints from before the loss table */
    PG_TRY(pg_train_options_check(&r->o, pg_dataset_resolution(r->dataset)));
    PG_TRY(pg_vk_context_create(r->o.device, &r->ctx));
    if (!resume_path[0]) PG_TRY(pg_run_dir_create(r));
    PG_TRY(pg_run_files_open(r, resume_path[0] != 0));
    pg_log(PG_LOG_INFO, "device: %s; dataset %s: %d images of %dx%d, %d channel(s)",
           r->ctx->info.name, r->dataset_path, pg_dataset_count(r->dataset),
           pg_dataset_resolution(r->dataset), pg_dataset_resolution(r->dataset),
           pg_dataset_channels(r->dataset));
    if (!resume_path[0]) { /* the run folder documents its own schedule */
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
    pg_status st = session(r);
    if (r->sampler) pg_sampler_wait(r->sampler), pg_sampler_destroy(r->sampler);
    pg_step_destroy(&r->d_step);
    pg_step_destroy(&r->g_step);
    pg_renderer_destroy(r->grid);
    if (r->ctx) pg_train_state_destroy(r->ctx, &r->state);
    pg_run_files_close(r);
    if (r->ctx) pg_vk_context_destroy(r->ctx);
    if (r->dataset) pg_dataset_close(r->dataset);
    free(r->reals), free(r->latents_d), free(r->mix), free(r->latents_g);
    free(r);
    return st;
}
