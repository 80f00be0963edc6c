/* Training end to end on lavapipe with validation (the tiny preset, 4 -> 16):
 * every phase runs, losses are finite, snapshots, grids and checkpoints exist
 * and load; resuming mid-fade gives bitwise the parameters of a straight run;
 * a step dump has the names and shapes of checkpoint-format.md; the other
 * losses train; bad options fail before any work. */
#include "io/image.h"
#include "io/safetensors.h"
#include "model/snapshot.h"
#include "testutil.h"
#include "train/train.h"
#include "data/dataset.h"
#include "ref/ref.h"

#include <dirent.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static char root[256], dataset[512];

/* 64 smooth 16x16 gray images (a bright blob at a random place), prepared. */
static int dataset_make(void) {
    char dir[400];
    snprintf(dir, sizeof dir, "%s/images", root);
    mkdir(dir, 0755);
    for (int i = 0; i < 64; i++) {
        unsigned char px[16 * 16];
        double cx = 4 + (i * 7) % 8, cy = 4 + (i * 5) % 8, r = 2.0 + (i % 3);
        for (int y = 0; y < 16; y++)
            for (int x = 0; x < 16; x++) {
                double d = ((x - cx) * (x - cx) + (y - cy) * (y - cy)) / (r * r);
                px[y * 16 + x] = (unsigned char)(230 * exp(-d) + 10);
            }
        char path[512];
        snprintf(path, sizeof path, "%s/%03d.jpg", dir, i);
        if (pg_image_write_jpeg(path, px, 16, 16, 1, 95) != PG_OK) return 0;
    }
    pg_prepare_options po;
    pg_prepare_options_default(&po);
    po.resolution = 16;
    po.quiet = 1;
    snprintf(dataset, sizeof dataset, "%s/blobs.pgd", root);
    return pg_prepare_run(dir, dataset, &po) == PG_OK;
}

static pg_train_options tiny(const char *out) {
    pg_train_options o;
    pg_train_options_preset(&o, "tiny");
    snprintf(o.data, sizeof o.data, "%s", dataset);
    snprintf(o.out, sizeof o.out, "%s/%s", root, out);
    return o;
}

/* The only run folder under out (runs are numbered from 00000). */
static void run_dir(const char *out, char *dir, size_t size) {
    char path[512];
    snprintf(path, sizeof path, "%s/%s", root, out);
    DIR *d = opendir(path);
    dir[0] = 0;
    for (struct dirent *e; d && (e = readdir(d));)
        if (!strncmp(e->d_name, "00000-", 6)) snprintf(dir, size, "%s/%s", path, e->d_name);
    if (d) closedir(d);
}

static int file_contains(const char *path, const char *needle) {
    FILE *f = fopen(path, "rb");
    if (!f) return 0;
    static char buf[1 << 20];
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    fclose(f);
    buf[n] = 0;
    return strstr(buf, needle) != NULL;
}

static char *newest_checkpoint(const char *dir) {
    static char best[1024];
    best[0] = 0;
    DIR *d = opendir(dir);
    for (struct dirent *e; d && (e = readdir(d));)
        if (!strncmp(e->d_name, "checkpoint-", 11)) {
            char path[1024];
            snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
            if (strcmp(path, best) > 0) snprintf(best, sizeof best, "%s", path);
        }
    if (d) closedir(d);
    return best;
}

static void test_full_run(void) {
    pg_train_options o = tiny("full");
    pg_status st = pg_train_run(&o);
    if (!test_check(st == PG_OK, "tiny run", "%s", pg_error_message())) return;
    char dir[512], path[700];
    run_dir("full", dir, sizeof dir);
    snprintf(path, sizeof path, "%s/log.txt", dir);
    const char *phases[] = {"phase 4x4 stable", "phase 8x8 fade-in", "phase 8x8 stable",
                            "phase 16x16 fade-in", "phase 16x16 stable"};
    for (int i = 0; i < 5; i++)
        test_check(file_contains(path, phases[i]), "every phase ran", "no '%s' in log.txt",
                   phases[i]);
    snprintf(path, sizeof path, "%s/stats.jsonl", dir);
    FILE *f = fopen(path, "r");
    int lines = 0, finite = 1;
    char line[8192];
    while (f && fgets(line, sizeof line, f)) {
        lines++;
        const char *keys[] = {"\"Loss/D/loss\":{", "\"Loss/G/loss\":{"};
        for (int k = 0; k < 2; k++) {
            char *at = strstr(line, keys[k]), *mean = at ? strstr(at, "\"mean\":") : NULL;
            finite &= mean && isfinite(strtod(mean + 7, NULL));
        }
    }
    if (f) fclose(f);
    test_check(lines >= 8 && finite, "stats.jsonl", "%d lines, finite losses %d", lines, finite);
    for (int r = 4; r <= 16; r *= 2) {
        snprintf(path, sizeof path, "%s/snapshots/%dx%d/Gs.safetensors", dir, r, r);
        pg_model_config c;
        pg_param_set set;
        float *arena = NULL;
        st = pg_snapshot_load_generator(path, "Gs", &c, &set, &arena);
        test_check(st == PG_OK && c.resolution == r, "snapshot", "%s: %s", path,
                   st == PG_OK ? "wrong resolution" : pg_error_message());
        free(arena);
        snprintf(path, sizeof path, "%s/snapshots/%dx%d/fakes.jpg", dir, r, r);
        pg_image img = {0};
        st = pg_image_read(path, &img);
        test_check(st == PG_OK && img.width == o.grid_cols * r && img.height == o.grid_rows * r,
                   "snapshot grid", "%s: %dx%d", path, img.width, img.height);
        pg_image_free(&img);
    }
    snprintf(path, sizeof path, "%s/reals.jpg", dir);
    test_check(access(path, R_OK) == 0, "reals.jpg", "missing");
    /* a checkpoint resumes and the run goes on */
    pg_train_options more = tiny("full");
    more.total_kimg = o.total_kimg + 0.064;
    snprintf(more.resume, sizeof more.resume, "%s", newest_checkpoint(dir));
    st = pg_train_run(&more);
    test_check(st == PG_OK, "resume", "%s", pg_error_message());
    snprintf(path, sizeof path, "%s/log.txt", dir);
    test_check(file_contains(path, "resumed"), "resume", "log.txt does not say it resumed");
}

/* Every tensor of two checkpoints, bitwise. */
static void checkpoints_equal(const char *a, const char *b) {
    pg_safetensors_reader *ra = NULL, *rb = NULL;
    if (!test_check(pg_safetensors_reader_create(&ra, a) == PG_OK &&
                        pg_safetensors_reader_create(&rb, b) == PG_OK,
                    "exact resume", "cannot open %s or %s", a, b))
        return;
    size_t n = pg_safetensors_reader_count(ra), differ = 0;
    const char *first = "";
    for (size_t i = 0; i < n; i++) {
        const pg_safetensors_tensor *t = pg_safetensors_reader_at(ra, i);
        const pg_safetensors_tensor *u = pg_safetensors_reader_find(rb, t->name);
        if (!u || u->nbytes != t->nbytes || memcmp(u->data, t->data, t->nbytes)) {
            if (!differ++) first = t->name;
        }
    }
    test_check(n > 40 && n == pg_safetensors_reader_count(rb) && differ == 0, "exact resume",
               "%zu of %zu tensors differ (first: %s)", differ, n, first);
    pg_safetensors_reader_destroy(ra);
    pg_safetensors_reader_destroy(rb);
}

/* A fade of 16 iterations (12..27: the schedule moves every 4), so iteration
 * 16 is the middle of the 8x8 fade-in. */
static pg_train_options long_fade(const char *out) {
    pg_train_options o = tiny(out);
    o.fade_kimg = 0.128;
    return o;
}

static void test_exact_resume(void) {
    pg_train_options straight = long_fade("straight");
    straight.stop_after = 28;
    pg_status st = pg_train_run(&straight);
    pg_train_options half = long_fade("halves");
    half.stop_after = 16; /* alpha 0.5 in the 8x8 fade */
    if (st == PG_OK) st = pg_train_run(&half);
    char dir_a[512], dir_b[512];
    run_dir("straight", dir_a, sizeof dir_a);
    run_dir("halves", dir_b, sizeof dir_b);
    pg_train_options rest = long_fade("halves");
    rest.stop_after = 28;
    snprintf(rest.resume, sizeof rest.resume, "auto");
    if (st == PG_OK) st = pg_train_run(&rest);
    if (!test_check(st == PG_OK, "exact resume", "%s", pg_error_message())) return;
    char a[1024], b[1024];
    snprintf(a, sizeof a, "%s", newest_checkpoint(dir_a));
    snprintf(b, sizeof b, "%s", newest_checkpoint(dir_b));
    test_check(strstr(a, "0.224") && strstr(b, "0.224"), "exact resume",
               "checkpoints %s and %s are not both at 28 iterations", a, b);
    checkpoints_equal(a, b);
}

/* Gradient errors against float64 over one or more dumped steps, per step kind
 * (0: D, 1: G): sums of the logarithms of the device's and of a float32
 * evaluation's errors, compared as geometric means (precision_check). */
typedef struct {
    double log_device[2], log_float32[2];
    int steps[2];
} precision_tally;

static void test_dump_recompute(const char *path, const pg_model_config *c, precision_tally *t);
static void precision_check(const precision_tally *t, const char *what);

/* Names and shapes of a step dump against the parameter registries. */
static void test_dump(void) {
    pg_train_options o = long_fade("dump");
    o.stop_after = 16;
    o.n_dump = 1;
    o.dump_steps[0] = 13; /* in the 8x8 fade */
    if (!test_check(pg_train_run(&o) == PG_OK, "dump", "%s", pg_error_message())) return;
    char dir[512], path[700];
    run_dir("dump", dir, sizeof dir);
    snprintf(path, sizeof path, "%s/step-13.safetensors", dir);
    pg_safetensors_reader *r;
    if (!test_check(pg_safetensors_reader_create(&r, path) == PG_OK, "dump", "%s",
                    pg_error_message()))
        return;
    o.model.resolution = 16;
    o.model.channels = 1;
    int z = pg_model_latent(&o.model), n = 8, res = 8;
    int64_t reals[4] = {n, 1, res, res}, lat[2] = {n, z}, mix[1] = {n}, one[1] = {1};
    const pg_safetensors_tensor *t;
    test_check(pg_safetensors_reader_expect(r, "inputs.reals", PG_DTYPE_F32, 4, reals, &t) == PG_OK,
               "dump", "%s", pg_error_message());
    test_check(
        pg_safetensors_reader_expect(r, "inputs.latents_d", PG_DTYPE_F32, 2, lat, &t) == PG_OK &&
            pg_safetensors_reader_expect(r, "inputs.latents_g", PG_DTYPE_F32, 2, lat, &t) ==
                PG_OK &&
            pg_safetensors_reader_expect(r, "inputs.gp_mix", PG_DTYPE_F32, 1, mix, &t) == PG_OK,
        "dump", "%s", pg_error_message());
    const char *scalars[] = {"scalars.loss_d", "scalars.loss_g", "scalars.gp"};
    for (int i = 0; i < 3; i++)
        test_check(pg_safetensors_reader_expect(r, scalars[i], PG_DTYPE_F32, 1, one, &t) == PG_OK &&
                       isfinite(((const float *)t->data)[0]),
                   "dump", "%s: %s", scalars[i], pg_error_message());
    pg_param_set sets[2];
    pg_model_generator_params(&o.model, &sets[0]);
    pg_model_discriminator_params(&o.model, &sets[1]);
    const char *prefixes[2][3] = {{"params", "grads", NULL}, {"params", "grads", "gstep"}};
    int missing = 0, changed = 0;
    for (int s = 0; s < 2; s++)
        for (int i = 0; i < sets[s].count; i++)
            for (int k = 0; k < 3 && prefixes[s][k]; k++) {
                const pg_param *p = &sets[s].params[i];
                char name[128];
                int64_t shape[4];
                for (int d = 0; d < p->pt_ndim; d++) shape[d] = p->pt_shape[d];
                snprintf(name, sizeof name, "%s.%s", prefixes[s][k], p->name);
                if (pg_safetensors_reader_expect(r, name, PG_DTYPE_F32, p->pt_ndim, shape, &t) !=
                    PG_OK)
                    missing++;
            }
    /* D as the G step used it differs from D before the step (it was trained) */
    const pg_safetensors_tensor *before = pg_safetensors_reader_find(r, "params.D.b4.conv.weight");
    const pg_safetensors_tensor *after = pg_safetensors_reader_find(r, "gstep.D.b4.conv.weight");
    changed = before && after && memcmp(before->data, after->data, before->nbytes) != 0;
    test_check(missing == 0, "dump", "%d parameter tensors missing or misshaped", missing);
    test_check(changed, "dump", "gstep.D equals params.D: the D update is not in the dump");
    const char *meta[] = {"resolution", "alpha",      "channels",        "latent",
                          "fmap_base",  "fmap_decay", "fmap_max",        "mbstd_group",
                          "gp_lambda",  "drift",      "gp_norm_divisor", "step"};
    for (int i = 0; i < 12; i++)
        test_check(pg_safetensors_reader_metadata(r, meta[i]) != NULL, "dump",
                   "metadata %s missing", meta[i]);
    const char *div = pg_safetensors_reader_metadata(r, "gp_norm_divisor");
    test_check(div && fabs(atof(div) - 2.0) < 1e-6, "dump", "gp_norm_divisor %s, want 16/8 = 2",
               div ? div : "none");
    pg_safetensors_reader_destroy(r);
    precision_tally t8 = {{0, 0}, {0, 0}, {0, 0}}, t16 = t8;
    test_dump_recompute(path, &o.model, &t8);
    precision_check(&t8, "8x8 fade step 13");
    /* the four 16x16 fade steps (alpha 0.5) on 2 channels (tiny: fmap_base 16,
     * fmap_max 4), where G's gradients are the most sensitive to rounding */
    pg_train_options o16 = tiny("dump16");
    o16.stop_after = 32;
    o16.n_dump = 4;
    for (int k = 0; k < 4; k++) o16.dump_steps[k] = 28 + k;
    if (!test_check(pg_train_run(&o16) == PG_OK, "dump", "%s", pg_error_message())) return;
    run_dir("dump16", dir, sizeof dir);
    o16.model.channels = 1;
    for (int k = 0; k < 4; k++) {
        snprintf(path, sizeof path, "%s/step-%d.safetensors", dir, 28 + k);
        test_dump_recompute(path, &o16.model, &t16);
    }
    precision_check(&t16, "16x16 fade steps 28-31");
}

/* Precision: the device's gradient error within a small factor of a
 * straightforward float32 evaluation of the same graph (each op exact, then
 * rounded to float32), as geometric means over the steps. Not per step: at
 * 16x16 with 4 and 2 channels G's gradients amplify the rounding of G's 4x4
 * activations (conv, then pixel norm over 4 channels) several hundredfold, so
 * one step's error is a draw. On lavapipe over 40 such steps (tiny preset, 10
 * seeds): device / float32 evaluation 2.9x in geometric mean, 0.3x to 26x per
 * step, 1.7x to 4.6x over 4 steps; PyTorch float32 is as far from float64 (48
 * steps: device / PyTorch 1.16x). An op that loses precision (6x float32's
 * rounding) moves every step. */
static void precision_check(const precision_tally *t, const char *what) {
    const char *names[2] = {"D", "G"};
    for (int s = 0; s < 2; s++) {
        if (t->steps[s] == 0) continue;
        double dev = exp(t->log_device[s] / t->steps[s]);
        double f32 = exp(t->log_float32[s] / t->steps[s]);
        test_check(dev <= 8 * f32 + 1e-7, "dump precision",
                   "%s gradients, %s: device error %.3g, a float32 evaluation's %.3g (geometric "
                   "means over %d steps): some op loses more than rounding",
                   names[s], what, dev, f32, t->steps[s]);
        printf("dump precision: %s gradients, %s: device %.3g, float32 evaluation %.3g (geometric "
               "means over %d steps)\n",
               names[s], what, dev, f32, t->steps[s]);
    }
}

/* A dumped tensor as float64 in device layout (parameters) or as stored. */
static double *dump_param(pg_safetensors_reader *r, const char *prefix, const pg_param *p) {
    char name[128];
    snprintf(name, sizeof name, "%s.%s", prefix, p->name);
    const pg_safetensors_tensor *t = pg_safetensors_reader_find(r, name);
    size_t n = (size_t)p->shape[0] * p->shape[1] * p->shape[2] * p->shape[3];
    if (!t || t->nbytes != 4 * n) return NULL;
    float *pt = malloc(4 * n), *dev = malloc(4 * n);
    double *out = malloc(8 * n);
    memcpy(pt, t->data, 4 * n);
    pg_param_from_pytorch(p, pt, dev);
    for (size_t i = 0; i < n; i++) out[i] = dev[i];
    free(pt), free(dev);
    return out;
}

static double *dump_tensor(pg_safetensors_reader *r, const char *name, size_t *n) {
    const pg_safetensors_tensor *t = pg_safetensors_reader_find(r, name);
    if (!t) return NULL;
    *n = t->nbytes / 4;
    float *f = malloc(t->nbytes);
    double *out = malloc(8 * *n);
    memcpy(f, t->data, t->nbytes);
    for (size_t i = 0; i < *n; i++) out[i] = f[i];
    free(f);
    return out;
}

static double meta_num(pg_safetensors_reader *r, const char *key) {
    const char *v = pg_safetensors_reader_metadata(r, key);
    return v ? atof(v) : NAN;
}

/* Normwise relative error of the whole gradient (every parameter together:
 * largest difference over largest magnitude). Per tensor would be wrong for
 * D's last bias, whose exact gradient 2 * drift * mean(D(real)) is what is
 * left after +1/N and -1/N cancel: float32 rounding of that cancellation is
 * percent-sized against it, and negligible against the gradient as a whole. */
static double grads_error(pg_safetensors_reader *r, const pg_param_set *set, const pg_tensor *grads,
                          const ref_values *v) {
    double diff = 0, scale = 0;
    for (int i = 0; i < set->count; i++) {
        if (grads[i] < 0) continue;
        double *dumped = dump_param(r, "grads", &set->params[i]);
        size_t n = (size_t)set->params[i].shape[0] * set->params[i].shape[1] *
                   set->params[i].shape[2] * set->params[i].shape[3];
        if (!dumped) return INFINITY;
        for (size_t k = 0; k < n; k++) {
            double ref = v->values[grads[i]][k];
            if (!isfinite(dumped[k])) diff = INFINITY;
            diff = fmax(diff, fabs(dumped[k] - ref));
            scale = fmax(scale, fabs(ref));
        }
        free(dumped);
    }
    return scale > 0 ? diff / scale : diff;
}

/* Normwise error of the gradients in `got` against `want` (as grads_error). */
static double values_error(const pg_param_set *set, const pg_tensor *grads, const ref_values *got,
                           const ref_values *want) {
    double diff = 0, scale = 0;
    for (int i = 0; i < set->count; i++) {
        if (grads[i] < 0) continue;
        const pg_param *p = &set->params[i];
        size_t n = (size_t)p->shape[0] * p->shape[1] * p->shape[2] * p->shape[3];
        for (size_t k = 0; k < n; k++) {
            diff = fmax(diff, fabs(got->values[grads[i]][k] - want->values[grads[i]][k]));
            scale = fmax(scale, fabs(want->values[grads[i]][k]));
        }
    }
    return scale > 0 ? diff / scale : diff;
}

/* Recomputes the dumped step from its own inputs and parameters in float64,
 * from the spec's loss written out here (as another framework would do it):
 * the losses and every gradient must agree with what the device computed. */
static void test_dump_recompute(const char *path, const pg_model_config *c, precision_tally *t) {
    pg_safetensors_reader *r;
    if (!test_check(pg_safetensors_reader_create(&r, path) == PG_OK, "dump recompute", "%s",
                    pg_error_message()))
        return;
    int res = (int)meta_num(r, "resolution"), n = 8, z = pg_model_latent(c), ch = c->channels;
    double alpha = meta_num(r, "alpha"), s = meta_num(r, "gp_norm_divisor");
    double lambda = meta_num(r, "gp_lambda"), drift = meta_num(r, "drift");
    pg_param_set gs, ds;
    pg_model_generator_params(c, &gs);
    pg_model_discriminator_params(c, &ds);
    for (int step = 0; step < 2; step++) { /* 0: the D step, 1: the G step */
        pg_graph *g = pg_graph_create();
        pg_net G = {&gs, {0}}, D = {&ds, {0}};
        for (int i = 0; i < gs.count; i++)
            G.t[i] = pg_input(g, gs.params[i].name, gs.params[i].shape[0], gs.params[i].shape[1],
                              gs.params[i].shape[2], gs.params[i].shape[3]);
        for (int i = 0; i < ds.count; i++)
            D.t[i] = pg_input(g, ds.params[i].name, ds.params[i].shape[0], ds.params[i].shape[1],
                              ds.params[i].shape[2], ds.params[i].shape[3]);
        pg_tensor a = alpha < 1 ? pg_input(g, "alpha", 1, 1, 1, 1) : -1;
        pg_tensor lat = pg_input(g, "latents", n, 1, 1, z);
        pg_tensor fakes = pg_model_generator(g, c, &G, lat, res, a), loss, reals = -1, mix = -1;
        if (step == 0) {
            reals = pg_input(g, "reals", n, res, res, ch);
            mix = pg_input(g, "mix", n, 1, 1, 1);
            pg_tensor dr = pg_model_discriminator(g, c, &D, reals, res, a);
            pg_tensor df = pg_model_discriminator(g, c, &D, fakes, res, a);
            pg_tensor mixed = pg_lerp(g, reals, fakes, mix), grad;
            pg_tensor dm = pg_model_discriminator(g, c, &D, mixed, res, a);
            pg_grad(g, pg_sum(g, dm), -1, 1, &mixed, &grad);
            pg_tensor norm = pg_sqrt(g, pg_reduce_sum(g, pg_square(g, grad), 14, 1.0f));
            pg_tensor gp = pg_square(g, pg_scale(g, norm, (float)(1 / s), -1.0f));
            pg_tensor per = pg_add(g, pg_sub(g, df, dr), pg_scale(g, gp, (float)lambda, 0));
            per = pg_add(g, per, pg_scale(g, pg_square(g, dr), (float)drift, 0));
            loss = pg_mean(g, per, 15);
        } else {
            loss =
                pg_mean(g, pg_scale(g, pg_model_discriminator(g, c, &D, fakes, res, a), -1, 0), 15);
        }
        const pg_net *trained = step == 0 ? &D : &G;
        pg_tensor grads[PG_MAX_PARAMS];
        pg_grad(g, loss, -1, trained->set->count, trained->t, grads);
        double **leaves = calloc((size_t)g->count, sizeof *leaves);
        for (int i = 0; i < gs.count; i++) leaves[G.t[i]] = dump_param(r, "params", &gs.params[i]);
        for (int i = 0; i < ds.count; i++)
            leaves[D.t[i]] = dump_param(r, step == 0 ? "params" : "gstep", &ds.params[i]);
        size_t count;
        leaves[lat] = dump_tensor(r, step == 0 ? "inputs.latents_d" : "inputs.latents_g", &count);
        if (a >= 0) leaves[a] = malloc(8), leaves[a][0] = alpha;
        if (step == 0) {
            double *nchw = dump_tensor(r, "inputs.reals", &count);
            leaves[reals] = malloc(8 * count);
            for (int i = 0; i < n; i++)
                for (int y = 0; y < res; y++)
                    for (int x = 0; x < res; x++)
                        for (int k = 0; k < ch; k++)
                            leaves[reals][(((size_t)i * res + y) * res + x) * ch + k] =
                                nchw[(((size_t)i * ch + k) * res + y) * res + x];
            free(nchw);
            leaves[mix] = dump_tensor(r, "inputs.gp_mix", &count);
        }
        ref_values v;
        if (test_check(g->error == PG_OK && ref_eval(g, leaves, &v) == 0, "dump recompute",
                       "graph: %s", g->error_message)) {
            size_t one;
            double *dumped = dump_tensor(r, step == 0 ? "scalars.loss_d" : "scalars.loss_g", &one);
            double e = fabs(dumped[0] - v.values[loss][0]) / fmax(fabs(v.values[loss][0]), 1e-3);
            test_check(e < 1e-4, "dump recompute", "%s loss: dumped %.7g, float64 %.7g",
                       step ? "G" : "D", dumped[0], v.values[loss][0]);
            double ge = grads_error(r, trained->set, grads, &v);
            test_check(ge < 1e-3, "dump recompute", "%s gradients: relative error %.3g",
                       step ? "G" : "D", ge);
            ref_values v32;
            if (test_check(ref_eval_float32(g, leaves, &v32) == 0, "dump precision",
                           "float32 evaluation failed")) {
                double e32 = values_error(trained->set, grads, &v32, &v);
                printf("dump precision: %s gradients at %dx%d alpha %g: device %.3g, float32 "
                       "evaluation %.3g\n",
                       step ? "G" : "D", res, res, alpha, ge, e32);
                /* floored at 1e-9 so an exact zero has a logarithm */
                t->log_device[step] += log(fmax(ge, 1e-9));
                t->log_float32[step] += log(fmax(e32, 1e-9));
                t->steps[step]++;
                ref_values_free(&v32);
            }
            free(dumped);
            ref_values_free(&v);
        }
        for (int i = 0; i < g->count; i++) free(leaves[i]);
        free(leaves);
        pg_graph_destroy(g);
    }
    pg_safetensors_reader_destroy(r);
}

static void test_losses(void) {
    pg_loss_kind kinds[2] = {PG_LOSS_WGAN, PG_LOSS_NS};
    const char *outs[2] = {"wgan", "ns"};
    for (int k = 0; k < 2; k++) {
        pg_train_options o = tiny(outs[k]);
        o.loss = kinds[k];
        o.r1_gamma = k == 1 ? 10.0f : 0.0f;
        o.n_critic = k == 0 ? 2 : 1;
        o.stop_after = 12;
        pg_status st = pg_train_run(&o);
        char dir[512], path[700];
        run_dir(outs[k], dir, sizeof dir);
        snprintf(path, sizeof path, "%s/stats.jsonl", dir);
        test_check(st == PG_OK && file_contains(path, "Loss/D/loss"), "other losses", "%s: %s",
                   outs[k], pg_error_message());
    }
}

static void test_bad_options(void) {
    pg_train_options o = tiny("bad");
    o.minibatch_base = 6;
    o.model.mbstd_group = 4;
    pg_status st = pg_train_run(&o);
    test_check(st == PG_ERR_INVALID && strstr(pg_error_message(), "divisible"), "bad options",
               "batch 6 with group 4: '%s'", pg_error_message());
    o = tiny("bad");
    o.model.resolution = 24;
    st = pg_train_run(&o);
    test_check(st == PG_ERR_INVALID && strstr(pg_error_message(), "power of two"), "bad options",
               "resolution 24: '%s'", pg_error_message());
    o = tiny("bad");
    o.model.resolution = 32;
    o.model.fmap_base = 64;
    st = pg_train_run(&o);
    test_check(st == PG_ERR_INVALID && strstr(pg_error_message(), "dataset is 16x16"),
               "bad options", "resolution above the dataset's: '%s'", pg_error_message());
    char bad_dir[512];
    snprintf(bad_dir, sizeof bad_dir, "%s/bad", root);
    DIR *d = opendir(bad_dir);
    int runs = 0;
    for (struct dirent *e; d && (e = readdir(d));) runs += e->d_name[0] == '0';
    if (d) closedir(d);
    test_check(runs == 0, "bad options", "a run folder was made before the options were checked");
}

/* PROGAN_TEST_SHORT=1 (the guard and emulation ctest entries): a few steps
 * through 4x4 and the 8x8 fade, every buffer guarded, under another vendor's
 * limits; pg_train_run fails if a kernel writes out of bounds. */
static void test_short_run(void) {
    pg_train_options o = long_fade("short");
    o.stop_after = 14;
    pg_status st = pg_train_run(&o);
    test_check(st == PG_OK, "short run", "%s", pg_error_message());
}

int main(void) {
    snprintf(root, sizeof root, "/tmp/progan-test-train-%d", (int)getpid());
    mkdir(root, 0755);
    if (!test_check(dataset_make(), "dataset", "%s", pg_error_message()))
        return test_finish("test_train");
    pg_log_set_level(PG_LOG_WARN);
    const char *short_run = getenv("PROGAN_TEST_SHORT");
    if (short_run && *short_run && strcmp(short_run, "0")) {
        test_short_run();
    } else {
        test_full_run();
        test_exact_resume();
        test_dump();
        test_losses();
        test_bad_options();
    }
    test_check(pg_vk_validation_message_count() == 0, "validation", "%d validation messages",
               pg_vk_validation_message_count());
    char cmd[300];
    snprintf(cmd, sizeof cmd, "rm -rf %s", root);
    if (!test_results.failed && system(cmd) != 0) fprintf(stderr, "could not remove %s\n", root);
    return test_finish("test_train");
}
