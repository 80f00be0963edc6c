/* Training options: the presets (the spec's default and paper settings, and
 * small ones for CPUs and tests), validation with messages that name the
 * flag, and the JSON form saved in training_options.json and checkpoints. */
#include "train/train.h"

#include <cjson/cJSON.h>
#include <math.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

/* Values shared by every preset (the spec's defaults). */
static void options_base(pg_train_options *o) {
    memset(o, 0, sizeof *o);
    snprintf(o->out, sizeof o->out, "runs");
    o->model = (pg_model_config){0, 3, 8192, 1.0f, 512, 0, 4};
    o->snap = 10;
    o->keep_checkpoints = 3;
    o->seed = 1000;
    o->loss = PG_LOSS_WGAN_GP;
    o->gp_lambda = 10.0f;
    o->drift = 0.001f;
    o->gp_target_space = 1;
    o->adam_beta1 = 0.0f;
    o->adam_beta2 = 0.99f;
    o->adam_eps = 1e-8f;
    o->ema_beta = 0.999f;
    o->mirror = 0;
    o->device = -1;
    o->micro_batch = 1;
    o->ranks = 1;
    o->grid_rows = 6;
    o->grid_cols = 8;
    o->metrics_num = 1024;
}

static void set_by_res(int *table, const int values[PG_MAX_LOG2 + 1]) {
    memcpy(table, values, sizeof(int) * (PG_MAX_LOG2 + 1));
}

pg_status pg_train_options_preset(pg_train_options *o, const char *preset) {
    options_base(o);
    snprintf(o->preset, sizeof o->preset, "%s", preset);
    /* index = log2(resolution): 4 8 16 32 64 128 256 512 1024 at 2..10 */
    if (!strcmp(preset, "default")) {
        static const int mb[PG_MAX_LOG2 + 1] = {0, 0, 128, 128, 128, 64, 32, 16, 8, 4, 4};
        static const double tick[PG_MAX_LOG2 + 1] = {0, 0, 160, 140, 120, 100, 80, 60, 40, 20, 10};
        set_by_res(o->minibatch, mb);
        memcpy(o->tick_kimg, tick, sizeof tick);
        o->minibatch_base = 4;
        o->lr_base = 0.001f;
        o->lr[10] = 0.0015f;
        o->tick_kimg_base = 160;
        o->total_kimg = 12000;
        o->train_kimg = o->fade_kimg = 600;
    } else if (!strcmp(preset, "paper")) {
        static const int mb[PG_MAX_LOG2 + 1] = {0, 0, 16, 16, 16, 16, 16, 16, 14, 6, 3};
        static const double tick[PG_MAX_LOG2 + 1] = {0, 0, 160, 140, 120, 100, 80, 60, 40, 20, 10};
        set_by_res(o->minibatch, mb);
        memcpy(o->tick_kimg, tick, sizeof tick);
        o->minibatch_base = 16;
        o->lr_base = 0.001f;
        o->lr[10] = 0.0015f;
        o->tick_kimg_base = 160;
        o->total_kimg = 19000;
        o->train_kimg = o->fade_kimg = 800;
        o->model.mbstd_group = 16;
    } else if (!strcmp(preset, "small")) {
        /* 32x32 on 2 CPU cores (lavapipe) in about 15 minutes: narrow networks
         * (32 channels at 4..8, 16 at 16, 8 at 32), batch 16, 6 kimg phases */
        o->minibatch_base = 16;
        o->model.resolution = 32;
        o->model.fmap_base = 128;
        o->model.fmap_max = 32;
        o->lr_base = 0.002f;
        o->tick_kimg_base = 2;
        o->total_kimg = 48;
        o->train_kimg = o->fade_kimg = 6;
        o->snap = 5;
        o->grid_rows = 6;
        o->grid_cols = 10;
        o->ema_beta = 0.99f; /* a few thousand steps: a 0.999 average would lag behind */
    } else if (!strcmp(preset, "tiny")) {
        /* for tests: a few steps per phase on a few channels */
        o->minibatch_base = 8;
        o->model.resolution = 16;
        o->model.fmap_base = 16;
        o->model.fmap_max = 4;
        o->lr_base = 0.002f;
        o->tick_kimg_base = 0.064;
        o->total_kimg = 0.64;
        o->train_kimg = o->fade_kimg = 0.064;
        o->snap = 2;
        o->grid_rows = 2;
        o->grid_cols = 4;
        o->metrics_num = 64;
    } else {
        return PG_FAIL(PG_ERR_INVALID, "unknown preset '%s': choose paper, default, small or tiny",
                       preset);
    }
    return PG_OK;
}

pg_status pg_train_options_check(const pg_train_options *o, int dataset_resolution) {
    PG_TRY(pg_model_config_check(&o->model));
    if (dataset_resolution > 0 && dataset_resolution < o->model.resolution)
        return PG_FAIL(PG_ERR_INVALID,
                       "the dataset is %dx%d but --resolution is %d: prepare the dataset at %d "
                       "or train at --resolution %d",
                       dataset_resolution, dataset_resolution, o->model.resolution,
                       o->model.resolution, dataset_resolution);
    if (o->total_kimg <= 0 || o->train_kimg < 0 || o->fade_kimg < 0)
        return PG_FAIL(PG_ERR_INVALID, "--kimg %g / --phase-kimg %g,%g: lengths must be positive",
                       o->total_kimg, o->train_kimg, o->fade_kimg);
    for (int l = 2; l <= PG_MAX_LOG2 && (1 << l) <= o->model.resolution; l++) {
        int batch = o->minibatch[l] > 0 ? o->minibatch[l] : o->minibatch_base;
        int group = o->model.mbstd_group < batch ? o->model.mbstd_group : batch;
        if (batch < 1)
            return PG_FAIL(PG_ERR_INVALID, "batch %d at %dx%d: --batch must be >= 1", batch, 1 << l,
                           1 << l);
        if (batch % group)
            return PG_FAIL(PG_ERR_INVALID,
                           "batch %d at %dx%d is not divisible by the minibatch-stddev group "
                           "%d: use --batch %d or --mbstd-group %d",
                           batch, 1 << l, 1 << l, group, (batch / group + 1) * group,
                           batch % 4 == 0   ? 4
                           : batch % 2 == 0 ? 2
                                            : 1);
    }
    if (o->n_critic < 1) return PG_FAIL(PG_ERR_INVALID, "--n-critic %d must be >= 1", o->n_critic);
    if (o->lr_base <= 0) return PG_FAIL(PG_ERR_INVALID, "--lr %g must be > 0", o->lr_base);
    if (o->snap < 1) return PG_FAIL(PG_ERR_INVALID, "--snap %d must be >= 1", o->snap);
    for (int l = 2; l <= PG_MAX_LOG2; l++)
        if (o->lr[l] < 0 || !isfinite(o->lr[l]))
            return PG_FAIL(PG_ERR_INVALID, "--lr at %dx%d is %g: must be > 0", 1 << l, 1 << l,
                           o->lr[l]);
    if (!(o->adam_beta1 >= 0 && o->adam_beta1 < 1) || !(o->adam_beta2 >= 0 && o->adam_beta2 < 1))
        return PG_FAIL(PG_ERR_INVALID, "--adam-beta1 %g / --adam-beta2 %g: each must be in [0, 1)",
                       o->adam_beta1, o->adam_beta2);
    if (!(o->adam_eps > 0) || !(o->wgan_lr > 0) || !(o->wgan_clip > 0))
        return PG_FAIL(PG_ERR_INVALID,
                       "--adam-eps %g, --wgan-lr %g, --wgan-clip %g: each must be > 0", o->adam_eps,
                       o->wgan_lr, o->wgan_clip);
    if (!(o->gp_lambda >= 0) || !(o->drift >= 0) || !(o->r1_gamma >= 0))
        return PG_FAIL(PG_ERR_INVALID, "--gp-lambda %g, --drift %g, --r1 %g: each must be >= 0",
                       o->gp_lambda, o->drift, o->r1_gamma);
    if (!(o->ema_beta >= 0 && o->ema_beta < 1))
        return PG_FAIL(PG_ERR_INVALID, "--ema %g must be in [0, 1)", o->ema_beta);
    if (o->metrics_num < 16)
        return PG_FAIL(PG_ERR_INVALID, "--metrics-num %d must be >= 16", o->metrics_num);
    if (o->metrics_fid && !o->inception[0])
        return PG_FAIL(PG_ERR_INVALID,
                       "--metrics fid needs --inception FILE (pytorch-fid's weights converted by "
                       "scripts/inception_to_safetensors.py; see README)");
    return PG_OK;
}

void pg_train_options_resolve(pg_train_options *o) {
    const pg_loss *row = &pg_losses[o->loss];
    if (o->n_critic <= 0) o->n_critic = row->n_critic;
    if (o->wgan_lr <= 0)
        o->wgan_lr = row->rms_lr > 0 ? row->rms_lr : pg_losses[PG_LOSS_WGAN].rms_lr;
    if (o->wgan_clip <= 0) o->wgan_clip = row->clip > 0 ? row->clip : pg_losses[PG_LOSS_WGAN].clip;
}

/* A float as the shortest decimal that reads back to it (0.003, not
 * 0.0030000000260770321), so the JSON shows the value that was typed. */
static double short_float(float f) {
    char text[32];
    for (int digits = 6; digits < 9; digits++) {
        snprintf(text, sizeof text, "%.*g", digits, (double)f);
        if ((float)strtod(text, NULL) == f) return strtod(text, NULL);
    }
    return (double)f;
}

typedef enum {
    J_INT,
    J_I64,
    J_FLOAT,
    J_DOUBLE,
    J_BOOL,
    J_INT_RES,
    J_FLOAT_RES,
    J_DOUBLE_RES
} json_kind;

/* The numeric options in JSON: one row each, for writing and for reading back
 * (a value outside [lo, hi] is refused: checkpoints come from strangers). */
typedef struct {
    const char *key;
    json_kind kind;
    size_t off;
    double lo, hi;
} json_field;

#define O(field) offsetof(pg_train_options, field)
static const json_field json_fields[] = {
    {"resolution", J_INT, O(model.resolution), 0, 1 << 20},
    {"channels", J_INT, O(model.channels), 1, 4},
    {"fmap_base", J_INT, O(model.fmap_base), 1, 1 << 20},
    {"fmap_decay", J_FLOAT, O(model.fmap_decay), 0, 16},
    {"fmap_max", J_INT, O(model.fmap_max), 1, 1 << 16},
    {"mbstd_group", J_INT, O(model.mbstd_group), 1, 1 << 16},
    {"total_kimg", J_DOUBLE, O(total_kimg), 0, 1e9},
    {"train_kimg", J_DOUBLE, O(train_kimg), 0, 1e9},
    {"fade_kimg", J_DOUBLE, O(fade_kimg), 0, 1e9},
    {"minibatch", J_INT_RES, O(minibatch), 0, 1 << 16},
    {"minibatch_base", J_INT, O(minibatch_base), 1, 1 << 16},
    {"lr", J_FLOAT_RES, O(lr), 0, 10},
    {"lr_base", J_FLOAT, O(lr_base), 0, 10},
    {"tick_kimg", J_DOUBLE_RES, O(tick_kimg), 0, 1e9},
    {"tick_kimg_base", J_DOUBLE, O(tick_kimg_base), 0, 1e9},
    {"snap", J_INT, O(snap), 1, 1 << 30},
    {"keep_checkpoints", J_INT, O(keep_checkpoints), 1, 1 << 20},
    {"gp_lambda", J_FLOAT, O(gp_lambda), 0, 1e6},
    {"drift", J_FLOAT, O(drift), 0, 1e6},
    {"r1_gamma", J_FLOAT, O(r1_gamma), 0, 1e6},
    {"n_critic", J_INT, O(n_critic), 0, 1000},
    {"adam_beta1", J_FLOAT, O(adam_beta1), 0, 1},
    {"adam_beta2", J_FLOAT, O(adam_beta2), 0, 1},
    {"adam_eps", J_FLOAT, O(adam_eps), 0, 1},
    {"wgan_lr", J_FLOAT, O(wgan_lr), 0, 10},
    {"wgan_clip", J_FLOAT, O(wgan_clip), 0, 1e6},
    {"ema_beta", J_FLOAT, O(ema_beta), 0, 1},
    {"mirror", J_BOOL, O(mirror), 0, 1},
    {"grid_rows", J_INT, O(grid_rows), 1, 1024},
    {"grid_cols", J_INT, O(grid_cols), 1, 1024},
    {"metrics_swd", J_BOOL, O(metrics_swd), 0, 1},
    {"metrics_fid", J_BOOL, O(metrics_fid), 0, 1},
    {"metrics_num", J_INT, O(metrics_num), 1, 1 << 20},
    {"device", J_INT, O(device), -1, 1 << 16},
    {"micro_batch", J_INT, O(micro_batch), 0, 1 << 16},
    {"ranks", J_INT, O(ranks), 1, 1 << 20},
    {"stop_after", J_I64, O(stop_after), 0, 1e15},
};
#undef O
#define N_JSON_FIELDS (int)(sizeof json_fields / sizeof json_fields[0])

/* Element i of a field (i = 0 for scalars) as a double. */
static double field_get(const pg_train_options *o, const json_field *f, int i) {
    const char *p = (const char *)o + f->off;
    switch (f->kind) {
    case J_INT:
    case J_BOOL:
    case J_INT_RES:
        return ((const int *)p)[i];
    case J_I64:
        return (double)*(const long long *)p;
    case J_FLOAT:
    case J_FLOAT_RES:
        return short_float(((const float *)p)[i]);
    default:
        return ((const double *)p)[i];
    }
}

static void field_set(pg_train_options *o, const json_field *f, int i, double v) {
    char *p = (char *)o + f->off;
    switch (f->kind) {
    case J_INT:
    case J_BOOL:
    case J_INT_RES:
        ((int *)p)[i] = (int)v;
        break;
    case J_I64:
        *(long long *)p = (long long)v;
        break;
    case J_FLOAT:
    case J_FLOAT_RES:
        ((float *)p)[i] = (float)v;
        break;
    default:
        ((double *)p)[i] = v;
    }
}

static int field_is_array(const json_field *f) {
    return f->kind >= J_INT_RES;
}

char *pg_train_options_to_json(const pg_train_options *o) {
    cJSON *j = cJSON_CreateObject();
    cJSON_AddStringToObject(j, "preset", o->preset);
    cJSON_AddStringToObject(j, "data", o->data);
    cJSON_AddStringToObject(j, "out", o->out);
    char seed[32];
    snprintf(seed, sizeof seed, "%llu", (unsigned long long)o->seed);
    cJSON_AddStringToObject(j, "seed", seed);
    cJSON_AddStringToObject(j, "loss", pg_losses[o->loss].name);
    cJSON_AddStringToObject(j, "gp_space", o->gp_target_space ? "target" : "native");
    cJSON_AddNumberToObject(j, "latent", pg_model_latent(&o->model));
    for (int k = 0; k < N_JSON_FIELDS; k++) {
        const json_field *f = &json_fields[k];
        if (f->kind == J_BOOL) {
            cJSON_AddBoolToObject(j, f->key, (int)field_get(o, f, 0));
        } else if (field_is_array(f)) {
            double v[PG_MAX_LOG2 + 1];
            for (int i = 0; i <= PG_MAX_LOG2; i++) v[i] = field_get(o, f, i);
            cJSON_AddItemToObject(j, f->key, cJSON_CreateDoubleArray(v, PG_MAX_LOG2 + 1));
        } else {
            cJSON_AddNumberToObject(j, f->key, field_get(o, f, 0));
        }
    }
    /* session controls: shown and saved; a resume takes them from its own flags */
    cJSON_AddStringToObject(j, "resume", o->resume);
    cJSON_AddStringToObject(j, "inception", o->inception);
    double dumps[PG_MAX_DUMP_STEPS];
    for (int i = 0; i < o->n_dump; i++) dumps[i] = (double)o->dump_steps[i];
    cJSON_AddItemToObject(j, "dump_steps", cJSON_CreateDoubleArray(dumps, o->n_dump));
    char *text = cJSON_Print(j);
    cJSON_Delete(j);
    return text;
}

/* One JSON value into a field, range-checked; absent keys keep the preset's. */
static pg_status field_read(const cJSON *j, const json_field *f, pg_train_options *o) {
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(j, f->key);
    if (!v) return PG_OK;
    int n = field_is_array(f) ? PG_MAX_LOG2 + 1 : 1;
    if (field_is_array(f) && (!cJSON_IsArray(v) || cJSON_GetArraySize(v) != n))
        return PG_FAIL(PG_ERR_FORMAT, "training options: '%s' must be an array of %d numbers",
                       f->key, n);
    for (int i = 0; i < n; i++) {
        const cJSON *e = field_is_array(f) ? cJSON_GetArrayItem(v, i) : v;
        double x = f->kind == J_BOOL && cJSON_IsBool(e) ? cJSON_IsTrue(e) : e->valuedouble;
        if ((f->kind == J_BOOL ? !cJSON_IsBool(e) : !cJSON_IsNumber(e)) || !(x >= f->lo) ||
            !(x <= f->hi))
            return PG_FAIL(PG_ERR_FORMAT,
                           "training options: '%s' must be %s in [%g, %g]: edit or drop the file",
                           f->key, f->kind == J_BOOL ? "true or false" : "a number", f->lo, f->hi);
        field_set(o, f, i, x);
    }
    return PG_OK;
}

/* The string-valued options. */
static pg_status strings_read(const cJSON *j, pg_train_options *o) {
    const cJSON *s;
    if (cJSON_IsString(s = cJSON_GetObjectItemCaseSensitive(j, "data")))
        snprintf(o->data, sizeof o->data, "%s", s->valuestring);
    if (cJSON_IsString(s = cJSON_GetObjectItemCaseSensitive(j, "out")))
        snprintf(o->out, sizeof o->out, "%s", s->valuestring);
    if (cJSON_IsString(s = cJSON_GetObjectItemCaseSensitive(j, "inception")))
        snprintf(o->inception, sizeof o->inception, "%s", s->valuestring);
    if (cJSON_IsString(s = cJSON_GetObjectItemCaseSensitive(j, "seed"))) {
        char *end;
        o->seed = strtoull(s->valuestring, &end, 10);
        if (*end || !s->valuestring[0])
            return PG_FAIL(PG_ERR_FORMAT, "training options: seed '%.40s' is not a number",
                           s->valuestring);
    }
    if (cJSON_IsString(s = cJSON_GetObjectItemCaseSensitive(j, "loss"))) {
        int k = pg_loss_find(s->valuestring);
        if (k < 0)
            return PG_FAIL(PG_ERR_FORMAT, "training options: unknown loss '%.40s' (%s)",
                           s->valuestring, pg_loss_names());
        o->loss = (pg_loss_kind)k;
    }
    if (cJSON_IsString(s = cJSON_GetObjectItemCaseSensitive(j, "gp_space")))
        o->gp_target_space = !strcmp(s->valuestring, "target");
    const cJSON *latent = cJSON_GetObjectItemCaseSensitive(j, "latent");
    if (cJSON_IsNumber(latent)) {
        if (!(latent->valuedouble >= 0 && latent->valuedouble <= 1 << 16))
            return PG_FAIL(PG_ERR_FORMAT, "training options: latent must be in [0, 65536]");
        o->model.latent = (int)latent->valuedouble;
    }
    return PG_OK;
}

pg_status pg_train_options_from_json(const char *json, pg_train_options *o) {
    cJSON *j = cJSON_Parse(json);
    if (!cJSON_IsObject(j)) {
        cJSON_Delete(j);
        return PG_FAIL(PG_ERR_FORMAT, "the training configuration is not a JSON object");
    }
    const cJSON *preset = cJSON_GetObjectItemCaseSensitive(j, "preset");
    pg_status st =
        pg_train_options_preset(o, cJSON_IsString(preset) ? preset->valuestring : "default");
    if (st == PG_OK) st = strings_read(j, o);
    for (int k = 0; k < N_JSON_FIELDS && st == PG_OK; k++) st = field_read(j, &json_fields[k], o);
    const cJSON *dumps = cJSON_GetObjectItemCaseSensitive(j, "dump_steps");
    o->n_dump = 0;
    for (const cJSON *e = cJSON_IsArray(dumps) ? dumps->child : NULL; e && st == PG_OK;
         e = e->next) {
        if (!cJSON_IsNumber(e) || !(e->valuedouble >= 0 && e->valuedouble < 1e15) ||
            o->n_dump >= PG_MAX_DUMP_STEPS)
            st = PG_FAIL(PG_ERR_FORMAT, "training options: dump_steps: up to %d numbers >= 0",
                         PG_MAX_DUMP_STEPS);
        else
            o->dump_steps[o->n_dump++] = (long long)e->valuedouble;
    }
    cJSON_Delete(j);
    return st;
}
