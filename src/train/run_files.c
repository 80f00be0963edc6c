/* Everything a run writes: the numbered run folder, training_options.json,
 * log.txt, stats.jsonl, TensorBoard events, image grids, per-resolution
 * exports, rotating checkpoints, the tick line, and step dumps. */
#include "train/run.h"

#include "io/atomic_file.h"
#include "io/json_line.h"
#include "io/image.h"
#include "io/safetensors.h"
#include "model/snapshot.h"
#include "train/evaluate.h"

#include <dirent.h>
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

pg_status pg_run_dir_create(pg_run *r) {
    if (mkdir(r->o.out, 0755) != 0 && errno != EEXIST)
        return PG_FAIL(PG_ERR_IO, "cannot create --out %s: %s", r->o.out, strerror(errno));
    int next = 0;
    DIR *d = opendir(r->o.out);
    for (struct dirent *e; d && (e = readdir(d));) {
        char *end;
        long v = strtol(e->d_name, &end, 10);
        if (end != e->d_name && *end == '-' && v >= next) next = (int)v + 1;
    }
    if (d) closedir(d);
    const char *base = strrchr(r->o.data, '/');
    base = base && base[1] ? base + 1 : r->o.data;
    char name[128];
    snprintf(name, sizeof name, "%.100s", base);
    char *dot = strrchr(name, '.');
    if (dot && dot != name) *dot = 0;
    for (int tries = 0; tries < 1000; tries++, next++) {
        snprintf(r->run_dir, sizeof r->run_dir, "%s/%05d-%s-%d", r->o.out, next, name,
                 r->o.model.resolution);
        if (mkdir(r->run_dir, 0755) == 0) return PG_OK; /* never reuses an existing folder */
        if (errno != EEXIST) break;
    }
    return PG_FAIL(PG_ERR_IO, "cannot create a run folder in %s: %s", r->o.out, strerror(errno));
}

pg_status pg_run_init_params(pg_run *r) {
    pg_train_state *s = &r->state;
    float *g = calloc(s->gset.total, 4), *d = calloc(s->dset.total, 4);
    pg_status st = g && d ? PG_OK : PG_FAIL(PG_ERR_OUT_OF_MEMORY, "out of host memory");
    if (st == PG_OK) {
        pg_param_set_init(&s->gset, r->o.seed * 2 + 0, g);
        pg_param_set_init(&s->dset, r->o.seed * 2 + 1, d);
        st = pg_vk_upload(r->ctx, (pg_vk_range){&s->G, 0, 4 * s->gset.total}, g);
    }
    if (st == PG_OK) st = pg_vk_upload(r->ctx, (pg_vk_range){&s->Gs, 0, 4 * s->gset.total}, g);
    if (st == PG_OK) st = pg_vk_upload(r->ctx, (pg_vk_range){&s->D, 0, 4 * s->dset.total}, d);
    free(g);
    free(d);
    return st;
}

pg_status pg_run_files_open(pg_run *r, int resumed) {
    char path[4200];
    snprintf(path, sizeof path, "%s/log.txt", r->run_dir);
    r->log = fopen(path, "a");
    if (!r->log) return PG_FAIL(PG_ERR_IO, "cannot write %s: %s", path, strerror(errno));
    pg_log_set_file(r->log);
    snprintf(path, sizeof path, "%s/stats.jsonl", r->run_dir);
    r->stats_file = fopen(path, "a");
    if (!r->stats_file) return PG_FAIL(PG_ERR_IO, "cannot write %s: %s", path, strerror(errno));
    if (!resumed) {
        char *json = pg_train_options_to_json(&r->o);
        snprintf(path, sizeof path, "%s/training_options.json", r->run_dir);
        pg_status st = pg_atomic_write(path, json, strlen(json));
        free(json);
        PG_TRY(st);
    }
    return pg_tfevents_create(&r->events, r->run_dir);
}

void pg_run_files_close(pg_run *r) {
    pg_log_set_file(NULL);
    if (r->log) fclose(r->log);
    if (r->stats_file) fclose(r->stats_file);
    if (r->events) pg_tfevents_destroy(r->events);
    r->log = r->stats_file = NULL;
    r->events = NULL;
}

static pg_status grid_write(pg_run *r, const char *path, const float *images, int n, int res) {
    pg_image img;
    PG_TRY(
        pg_image_grid(images, n, res, r->o.model.channels, r->o.grid_rows, r->o.grid_cols, &img));
    pg_status st = pg_image_write(path, &img, 90);
    pg_image_free(&img);
    return st;
}

pg_status pg_run_write_reals(pg_run *r) {
    if (!r->writes_files) return PG_OK;
    int n = r->o.grid_rows * r->o.grid_cols, res = r->o.model.resolution, c = r->o.model.channels;
    if (n > pg_dataset_count(r->dataset)) n = pg_dataset_count(r->dataset);
    const uint8_t *level = pg_dataset_level(r->dataset, res);
    size_t per = (size_t)res * res * c;
    float *images = malloc(4 * per * n);
    if (!images) return PG_FAIL(PG_ERR_OUT_OF_MEMORY, "out of host memory");
    for (size_t i = 0; i < per * n; i++) images[i] = level[i] * (2.0f / 255.0f) - 1.0f;
    char path[4200];
    snprintf(path, sizeof path, "%s/reals.jpg", r->run_dir);
    pg_status st = grid_write(r, path, images, n, res);
    free(images);
    return st;
}

/* Renders the fixed latent grid (seeds 0..n-1) from Gs in batches of the renderer. */
static pg_status render_grid(pg_run *r, pg_renderer *rend, int res, float *images) {
    int n = r->o.grid_rows * r->o.grid_cols, batch = pg_renderer_batch(rend);
    int z = pg_model_latent(&r->o.model);
    size_t per = (size_t)res * res * r->o.model.channels;
    float *latents = malloc(4 * (size_t)batch * z), *out = malloc(4 * per * batch);
    pg_status st = latents && out ? PG_OK : PG_FAIL(PG_ERR_OUT_OF_MEMORY, "out of host memory");
    for (int start = 0; st == PG_OK && start < n; start += batch) {
        for (int i = 0; i < batch; i++)
            pg_latent_from_seed((uint64_t)(start + i < n ? start + i : 0), z,
                                latents + (size_t)i * z);
        st = pg_renderer_run(rend, latents, out);
        int keep = n - start < batch ? n - start : batch;
        memcpy(images + per * start, out, 4 * per * keep);
    }
    free(latents);
    free(out);
    return st;
}

pg_status pg_run_write_fakes(pg_run *r, const char *path, int res, float alpha) {
    int n = r->o.grid_rows * r->o.grid_cols;
    float *images = malloc(4 * (size_t)n * res * res * r->o.model.channels);
    if (!images) return PG_FAIL(PG_ERR_OUT_OF_MEMORY, "out of host memory");
    pg_renderer *rend = r->grid;
    pg_status st = PG_OK;
    if (res != r->phase_res || !rend) /* another resolution: a renderer of its own */
        st = pg_renderer_create(r->ctx, &r->o.model, &r->state.gset, &r->state.Gs, 0, res,
                                n < 16 ? n : 16, 1.0f, &rend);
    else
        pg_renderer_set_alpha(rend, alpha);
    if (st == PG_OK) st = render_grid(r, rend, res, images);
    if (st == PG_OK) st = grid_write(r, path, images, n, res);
    if (rend != r->grid) pg_renderer_destroy(rend);
    free(images);
    return st;
}

/* --metrics swd: SWD of Gs at a finished resolution against the reals, one
 * row of metric-swd.jsonl (kimg, per-level values x1e3, average, seconds). */
static pg_status metric_swd(pg_run *r, int res) {
    if (res < 16) return PG_OK; /* the pyramid stops at 16x16 */
    int num = r->o.metrics_num;
    if (num > pg_dataset_count(r->dataset)) num = pg_dataset_count(r->dataset);
    double t0 = pg_time_now();
    pg_swd_result swd;
    PG_TRY(pg_eval_swd(r->ctx, r->dataset, &r->o.model, &r->state.gset, &r->state.Gs, 0, res, num,
                       r->o.seed, &swd));
    char path[4300];
    snprintf(path, sizeof path, "%s/metric-swd.jsonl", r->run_dir);
    cJSON *j = cJSON_CreateObject(), *levels;
    cJSON_AddNumberToObject(j, "kimg", r->p.cur_nimg / 1000.0);
    cJSON_AddNumberToObject(j, "resolution", res);
    cJSON_AddNumberToObject(j, "images", num);
    levels = cJSON_AddObjectToObject(j, "levels");
    for (int i = 0; i < swd.num_levels; i++) {
        char key[16];
        snprintf(key, sizeof key, "%d", swd.resolution[i]);
        pg_json_number(j, levels, key, swd.distance[i]);
    }
    pg_json_number(j, j, "average", swd.average);
    cJSON_AddNumberToObject(j, "seconds", pg_time_now() - t0);
    PG_TRY(pg_json_append_line(path, j));
    pg_log(PG_LOG_INFO, "SWD at %dx%d over %d images: average %.3f (x1e3)", res, res, num,
           swd.average);
    return PG_OK;
}

/* --metrics fid: FID of Gs against the reals (statistics cached beside the
 * dataset), one row of metric-fid.jsonl; from 16x16 up, as SWD. */
static pg_status metric_fid(pg_run *r, int res) {
    if (res < 16) return PG_OK; /* as SWD: a 4x4 or 8x8 image says little at 299x299 */
    pg_fid_options o = {1, 0, r->o.metrics_num, res, r->o.seed, 1};
    pg_fid_result fid;
    PG_TRY(pg_eval_fid(r->ctx, r->inception, r->dataset, r->dataset_path, &r->o.model,
                       &r->state.gset, &r->state.Gs, 0, &o, &fid));
    char path[4300];
    snprintf(path, sizeof path, "%s/metric-fid.jsonl", r->run_dir);
    cJSON *j = cJSON_CreateObject();
    cJSON_AddNumberToObject(j, "kimg", r->p.cur_nimg / 1000.0);
    cJSON_AddNumberToObject(j, "resolution", res);
    cJSON_AddNumberToObject(j, "images", fid.num);
    cJSON_AddNumberToObject(j, "reals", fid.reals);
    pg_json_number(j, j, "fid", fid.fid);
    cJSON_AddBoolToObject(j, "reals_cached", fid.cached);
    cJSON_AddStringToObject(j, "inception", pg_inception_hash(r->inception));
    cJSON_AddNumberToObject(j, "seconds", fid.seconds);
    PG_TRY(pg_json_append_line(path, j));
    pg_log(PG_LOG_INFO, "FID at %dx%d over %d images (%d reals): %.3f", res, res, fid.num,
           fid.reals, fid.fid);
    return PG_OK;
}

pg_status pg_run_export(pg_run *r, int res) {
    if (!r->writes_files) return PG_OK;
    char dir[4200], path[4300];
    snprintf(dir, sizeof dir, "%s/snapshots", r->run_dir);
    mkdir(dir, 0755);
    snprintf(dir, sizeof dir, "%s/snapshots/%dx%d", r->run_dir, res, res);
    mkdir(dir, 0755);
    float *gs;
    PG_TRY(pg_state_download(r->ctx, &r->state.Gs, &r->state.gset, &gs));
    char *config = pg_train_options_to_json(&r->o);
    snprintf(path, sizeof path, "%s/Gs.safetensors", dir);
    pg_status st = pg_snapshot_export(path, &r->o.model, &r->state.gset, gs, res, config);
    free(config);
    free(gs);
    snprintf(path, sizeof path, "%s/fakes.jpg", dir);
    if (st == PG_OK) st = pg_run_write_fakes(r, path, res, 1.0f);
    if (st == PG_OK) pg_log(PG_LOG_INFO, "snapshot %dx%d: %s/Gs.safetensors", res, res, dir);
    if (st == PG_OK && r->o.metrics_swd) st = metric_swd(r, res);
    if (st == PG_OK && r->o.metrics_fid) st = metric_fid(r, res);
    return st;
}

static int name_compare(const void *a, const void *b) {
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* The checkpoint-*.safetensors names of a folder, sorted (oldest first). */
static int checkpoints_list(const char *dir, char **names, int max) {
    int n = 0;
    DIR *d = opendir(dir);
    for (struct dirent *e; d && (e = readdir(d)) && n < max;) {
        size_t len = strlen(e->d_name);
        if (!strncmp(e->d_name, "checkpoint-", 11) && len > 12 &&
            !strcmp(e->d_name + len - 12, ".safetensors"))
            names[n++] = strdup(e->d_name);
    }
    if (d) closedir(d);
    qsort(names, (size_t)n, sizeof *names, name_compare);
    return n;
}

pg_status pg_run_checkpoint(pg_run *r) {
    if (!r->writes_files) return PG_OK; /* rank 0 writes for every rank */
    char path[4300];
    snprintf(path, sizeof path, "%s/checkpoint-%010.3f.safetensors", r->run_dir,
             r->p.cur_nimg / 1000.0);
    r->p.elapsed = r->elapsed_at_start + (pg_time_now() - r->session_start);
    PG_TRY(pg_checkpoint_save(r->ctx, path, &r->o, &r->state, &r->p, r->dataset_hash));
    char *names[512];
    int n = checkpoints_list(r->run_dir, names, 512);
    for (int i = 0; i < n; i++) {
        if (i < n - r->o.keep_checkpoints) {
            snprintf(path, sizeof path, "%s/%s", r->run_dir, names[i]);
            remove(path);
        }
        free(names[i]);
    }
    return PG_OK;
}

pg_status pg_run_find_resume(const pg_train_options *o, const char *dataset_hash, char *path,
                             size_t size) {
    path[0] = 0;
    char *runs[1024];
    int n = 0;
    DIR *d = opendir(o->out);
    for (struct dirent *e; d && (e = readdir(d)) && n < 1024;)
        if (e->d_name[0] >= '0' && e->d_name[0] <= '9') runs[n++] = strdup(e->d_name);
    if (d) closedir(d);
    qsort(runs, (size_t)n, sizeof *runs, name_compare);
    for (int i = n - 1; i >= 0 && !path[0]; i--) {
        char dir[4200], *names[512];
        snprintf(dir, sizeof dir, "%s/%s", o->out, runs[i]);
        int k = checkpoints_list(dir, names, 512);
        if (k > 0) {
            char candidate[4800], hash[64];
            pg_train_options saved;
            snprintf(candidate, sizeof candidate, "%s/%s", dir, names[k - 1]);
            /* the same data and network: anything else is another experiment */
            if (pg_checkpoint_peek(candidate, &saved, hash, sizeof hash) == PG_OK &&
                !strcmp(hash, dataset_hash) && saved.model.fmap_base == o->model.fmap_base &&
                saved.model.fmap_max == o->model.fmap_max &&
                (o->model.resolution <= 0 || saved.model.resolution == o->model.resolution) &&
                saved.loss == o->loss && saved.seed == o->seed)
                snprintf(path, size, "%s", candidate);
        }
        for (int j = 0; j < k; j++) free(names[j]);
    }
    for (int i = 0; i < n; i++) free(runs[i]);
    if (!path[0])
        pg_log(PG_LOG_INFO, "--resume auto: no matching checkpoint in %s, starting a new run",
               o->out);
    return PG_OK;
}

static double stat_mean(const pg_stat *s) {
    return s->count ? s->sum / (double)s->count : NAN;
}

/* stats.jsonl and TensorBoard names of the per-tick statistics (run.h's STAT_*). */
static const char *const stat_keys[STAT_COUNT] = {
    "Loss/D/loss",      "Loss/G/loss",       "Loss/scores/real",
    "Loss/scores/fake", "Loss/scores/mixed", "Loss/D/penalty",
    "Loss/D/grad_norm", "Grad/D/norm",       "Grad/G/norm"};

static void json_stat(cJSON *j, const char *key, const pg_stat *s) {
    if (!s->count) return;
    double mean = stat_mean(s), var = s->sum_sq / (double)s->count - mean * mean;
    cJSON *o = cJSON_AddObjectToObject(j, key);
    cJSON_AddNumberToObject(o, "num", (double)s->count);
    pg_json_number(j, o, "mean", mean);
    pg_json_number(j, o, "std", sqrt(var > 0 ? var : 0));
}

/* One line of stats.jsonl: progress, timing and the tick's loss statistics. */
static pg_status stats_line(pg_run *r, double total, double tick_sec, double sec_per_kimg) {
    const pg_schedule *s = &r->sched;
    cJSON *j = cJSON_CreateObject();
    const char *keys[] = {
        "Progress/tick",          "Progress/kimg",    "Progress/lod",        "Progress/resolution",
        "Progress/alpha",         "Progress/batch",   "Progress/lr",         "Progress/skipped_d",
        "Progress/skipped_g",     "Timing/total_sec", "Timing/sec_per_tick", "Timing/sec_per_kimg",
        "Resources/device_mem_mb"};
    double values[] = {(double)r->p.tick,
                       r->p.cur_nimg / 1000.0,
                       s->lod,
                       s->resolution,
                       s->alpha,
                       s->batch,
                       s->lr,
                       (double)r->p.skipped_d,
                       (double)r->p.skipped_g,
                       total,
                       tick_sec,
                       sec_per_kimg,
                       r->ctx->bytes_allocated / 1048576.0};
    for (size_t i = 0; i < sizeof values / sizeof *values; i++)
        pg_json_number(j, j, keys[i], values[i]);
    for (int i = 0; i < STAT_COUNT; i++) json_stat(j, stat_keys[i], &r->stats[i]);
    cJSON_AddNumberToObject(j, "timestamp", (double)time(NULL));
    char path[4300];
    snprintf(path, sizeof path, "%s/stats.jsonl", r->run_dir);
    return pg_json_write_line(r->stats_file, j, path);
}

static void format_duration(double s, char *out, size_t size) {
    if (!isfinite(s) || s < 0)
        snprintf(out, size, "?");
    else if (s < 60)
        snprintf(out, size, "%.0fs", s);
    else if (s < 3600)
        snprintf(out, size, "%dm%02ds", (int)s / 60, (int)s % 60);
    else
        snprintf(out, size, "%dh%02dm", (int)s / 3600, (int)s % 3600 / 60);
}

/* kimg where floor(lod) or ceil(lod) next changes (the end of this phase). */
static double phase_end_kimg(const pg_train_options *o, double kimg) {
    double len = o->train_kimg + o->fade_kimg;
    if (len <= 0) return o->total_kimg;
    double start = floor(kimg / len) * len,
           end = kimg < start + o->train_kimg ? start + o->train_kimg : start + len;
    if (pg_schedule_at(o, kimg).lod <= 0) end = o->total_kimg;
    return end < o->total_kimg ? end : o->total_kimg;
}

/* The end of a tick on every rank: statistics restart, checkpoint at --snap. */
static pg_status tick_advance(pg_run *r, int final) {
    int fading = r->sched.fading;
    memset(r->stats, 0, sizeof r->stats);
    r->p.tick++;
    r->p.tick_start_nimg = r->p.cur_nimg;
    r->tick_start_time = pg_time_now();
    if (!final && r->p.tick % r->o.snap == 0) {
        PG_TRY(pg_run_checkpoint(r));
        if (r->o.metrics_swd && !fading && r->writes_files) PG_TRY(metric_swd(r, r->phase_res));
        if (r->o.metrics_fid && !fading && r->writes_files) PG_TRY(metric_fid(r, r->phase_res));
    }
    return PG_OK;
}

pg_status pg_run_tick(pg_run *r, int final) {
    double now = pg_time_now(), tick_sec = now - r->tick_start_time;
    double kimg = r->p.cur_nimg / 1000.0;
    double tick_kimg = (r->p.cur_nimg - r->p.tick_start_nimg) / 1000.0;
    if (tick_kimg <= 0 && final) return PG_OK;
    if (!r->writes_files) return tick_advance(r, final);
    double sec_per_kimg = tick_kimg > 0 ? tick_sec / tick_kimg : NAN;
    double total = r->elapsed_at_start + (now - r->session_start);
    pg_schedule s = r->sched;
    char elapsed[32], eta_phase[32], eta_run[32];
    format_duration(total, elapsed, sizeof elapsed);
    format_duration((phase_end_kimg(&r->o, kimg) - kimg) * sec_per_kimg, eta_phase,
                    sizeof eta_phase);
    format_duration((r->o.total_kimg - kimg) * sec_per_kimg, eta_run, sizeof eta_run);
    char phase[48];
    if (s.fading)
        snprintf(phase, sizeof phase, "%dx%d fading %.2f", s.resolution, s.resolution, s.alpha);
    else
        snprintf(phase, sizeof phase, "%dx%d stable", s.resolution, s.resolution);
    pg_log(PG_LOG_INFO,
           "tick %-4lld kimg %-8.1f %-20s batch %-3d%s%s D %8.4f  G %8.4f  sec/kimg %7.2f  "
           "elapsed %s  eta phase %s  run %s%s",
           (long long)r->p.tick, kimg, phase, s.batch, r->batch_note, r->batch_note[0] ? " " : "",
           stat_mean(&r->stats[STAT_LOSS_D]), stat_mean(&r->stats[STAT_LOSS_G]), sec_per_kimg,
           elapsed, eta_phase, eta_run,
           r->p.skipped_d + r->p.skipped_g ? "  (steps skipped: non-finite gradients)" : "");
    PG_TRY(stats_line(r, total, tick_sec, sec_per_kimg));
    const char *tags[STAT_COUNT + 4];
    float values[STAT_COUNT + 4];
    int n = 0;
    for (int i = 0; i < STAT_COUNT; i++)
        if (r->stats[i].count) tags[n] = stat_keys[i], values[n++] = (float)stat_mean(&r->stats[i]);
    tags[n] = "Progress/resolution", values[n++] = (float)s.resolution;
    tags[n] = "Progress/alpha", values[n++] = s.alpha;
    tags[n] = "Timing/sec_per_kimg", values[n++] = (float)sec_per_kimg;
    pg_tfevents_add_scalars(r->events, (int64_t)(kimg * 1000), n, tags, values);
    pg_tfevents_flush(r->events);
    char path[4300];
    if (s.tick_kimg >= 1) /* fakes<kimg>.jpg; ticks under 1 kimg keep three decimals */
        snprintf(path, sizeof path, "%s/fakes%06.0f.jpg", r->run_dir, floor(kimg));
    else
        snprintf(path, sizeof path, "%s/fakes%010.3f.jpg", r->run_dir, kimg);
    PG_TRY(pg_run_write_fakes(r, path, r->phase_res, s.alpha));
    if (getenv("PROGAN_PROFILE")) { /* kernel times of the last D and G step */
        fprintf(stderr, "D step (%dx%d, batch %d):\n", s.resolution, s.resolution, s.batch);
        pg_plan_profile_print(r->d_step.plan, stderr);
        fprintf(stderr, "G step:\n");
        pg_plan_profile_print(r->g_step.plan, stderr);
    }
    return tick_advance(r, final);
}
