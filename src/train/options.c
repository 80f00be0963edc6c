/* Training options: the presets (the spec's default and paper settings, and
 * small ones for CPUs and tests), validation with messages that name the
 * flag, and the JSON form saved in training_options.json and checkpoints. */
#include "train/train.h"

#include <cjson/cJSON.h>
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
    o->n_critic = 1;
    o->adam_beta1 = 0.0f;
    o->adam_beta2 = 0.99f;
    o->adam_eps = 1e-8f;
    o->wgan_lr = 5e-5f;
    o->wgan_clip = 0.01f;
    o->ema_beta = 0.999f;
    o->mirror = 0;
    o->device = -1;
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
    return PG_OK;
}

static const char *loss_names[] = {"wgan-gp", "wgan", "ns"};

char *pg_train_options_to_json(const pg_train_options *o) {
    cJSON *j = cJSON_CreateObject();
    cJSON_AddStringToObject(j, "preset", o->preset);
    cJSON_AddStringToObject(j, "data", o->data);
    cJSON_AddStringToObject(j, "out", o->out);
    cJSON_AddNumberToObject(j, "resolution", o->model.resolution);
    cJSON_AddNumberToObject(j, "channels", o->model.channels);
    cJSON_AddNumberToObject(j, "fmap_base", o->model.fmap_base);
    cJSON_AddNumberToObject(j, "fmap_decay", o->model.fmap_decay);
    cJSON_AddNumberToObject(j, "fmap_max", o->model.fmap_max);
    cJSON_AddNumberToObject(j, "latent", pg_model_latent(&o->model));
    cJSON_AddNumberToObject(j, "mbstd_group", o->model.mbstd_group);
    cJSON_AddNumberToObject(j, "total_kimg", o->total_kimg);
    cJSON_AddNumberToObject(j, "train_kimg", o->train_kimg);
    cJSON_AddNumberToObject(j, "fade_kimg", o->fade_kimg);
    cJSON_AddItemToObject(j, "minibatch", cJSON_CreateIntArray(o->minibatch, PG_MAX_LOG2 + 1));
    cJSON_AddNumberToObject(j, "minibatch_base", o->minibatch_base);
    cJSON_AddItemToObject(j, "lr", cJSON_CreateFloatArray(o->lr, PG_MAX_LOG2 + 1));
    cJSON_AddNumberToObject(j, "lr_base", o->lr_base);
    cJSON_AddItemToObject(j, "tick_kimg", cJSON_CreateDoubleArray(o->tick_kimg, PG_MAX_LOG2 + 1));
    cJSON_AddNumberToObject(j, "tick_kimg_base", o->tick_kimg_base);
    cJSON_AddNumberToObject(j, "snap", o->snap);
    cJSON_AddNumberToObject(j, "keep_checkpoints", o->keep_checkpoints);
    char seed[32];
    snprintf(seed, sizeof seed, "%llu", (unsigned long long)o->seed);
    cJSON_AddStringToObject(j, "seed", seed);
    cJSON_AddStringToObject(j, "loss", loss_names[o->loss]);
    cJSON_AddNumberToObject(j, "gp_lambda", o->gp_lambda);
    cJSON_AddNumberToObject(j, "drift", o->drift);
    cJSON_AddStringToObject(j, "gp_space", o->gp_target_space ? "target" : "native");
    cJSON_AddNumberToObject(j, "r1_gamma", o->r1_gamma);
    cJSON_AddNumberToObject(j, "n_critic", o->n_critic);
    cJSON_AddNumberToObject(j, "adam_beta1", o->adam_beta1);
    cJSON_AddNumberToObject(j, "adam_beta2", o->adam_beta2);
    cJSON_AddNumberToObject(j, "adam_eps", o->adam_eps);
    cJSON_AddNumberToObject(j, "wgan_lr", o->wgan_lr);
    cJSON_AddNumberToObject(j, "wgan_clip", o->wgan_clip);
    cJSON_AddNumberToObject(j, "ema_beta", o->ema_beta);
    cJSON_AddBoolToObject(j, "mirror", o->mirror);
    cJSON_AddNumberToObject(j, "grid_rows", o->grid_rows);
    cJSON_AddNumberToObject(j, "grid_cols", o->grid_cols);
    cJSON_AddBoolToObject(j, "metrics_swd", o->metrics_swd);
    cJSON_AddNumberToObject(j, "metrics_num", o->metrics_num);
    char *text = cJSON_Print(j);
    cJSON_Delete(j);
    return text;
}

static double num(const cJSON *j, const char *key, double fallback) {
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(j, key);
    return cJSON_IsNumber(v) ? v->valuedouble : fallback;
}

static void array_of(const cJSON *j, const char *key, double *out, int n) {
    const cJSON *a = cJSON_GetObjectItemCaseSensitive(j, key);
    for (int i = 0; i < n; i++) {
        const cJSON *v = cJSON_IsArray(a) ? cJSON_GetArrayItem(a, i) : NULL;
        out[i] = cJSON_IsNumber(v) ? v->valuedouble : 0;
    }
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
    if (st != PG_OK) {
        cJSON_Delete(j);
        return st;
    }
    const cJSON *s;
    if (cJSON_IsString(s = cJSON_GetObjectItemCaseSensitive(j, "data")))
        snprintf(o->data, sizeof o->data, "%s", s->valuestring);
    if (cJSON_IsString(s = cJSON_GetObjectItemCaseSensitive(j, "out")))
        snprintf(o->out, sizeof o->out, "%s", s->valuestring);
    if (cJSON_IsString(s = cJSON_GetObjectItemCaseSensitive(j, "seed")))
        o->seed = strtoull(s->valuestring, NULL, 10);
    if (cJSON_IsString(s = cJSON_GetObjectItemCaseSensitive(j, "loss")))
        for (int k = 0; k < 3; k++)
            if (!strcmp(s->valuestring, loss_names[k])) o->loss = (pg_loss_kind)k;
    if (cJSON_IsString(s = cJSON_GetObjectItemCaseSensitive(j, "gp_space")))
        o->gp_target_space = !strcmp(s->valuestring, "target");
    o->model.resolution = (int)num(j, "resolution", o->model.resolution);
    o->model.channels = (int)num(j, "channels", o->model.channels);
    o->model.fmap_base = (int)num(j, "fmap_base", o->model.fmap_base);
    o->model.fmap_decay = (float)num(j, "fmap_decay", o->model.fmap_decay);
    o->model.fmap_max = (int)num(j, "fmap_max", o->model.fmap_max);
    o->model.latent = (int)num(j, "latent", o->model.latent);
    o->model.mbstd_group = (int)num(j, "mbstd_group", o->model.mbstd_group);
    o->total_kimg = num(j, "total_kimg", o->total_kimg);
    o->train_kimg = num(j, "train_kimg", o->train_kimg);
    o->fade_kimg = num(j, "fade_kimg", o->fade_kimg);
    double tmp[PG_MAX_LOG2 + 1];
    array_of(j, "minibatch", tmp, PG_MAX_LOG2 + 1);
    for (int i = 0; i <= PG_MAX_LOG2; i++) o->minibatch[i] = (int)tmp[i];
    array_of(j, "lr", tmp, PG_MAX_LOG2 + 1);
    for (int i = 0; i <= PG_MAX_LOG2; i++) o->lr[i] = (float)tmp[i];
    array_of(j, "tick_kimg", o->tick_kimg, PG_MAX_LOG2 + 1);
    o->minibatch_base = (int)num(j, "minibatch_base", o->minibatch_base);
    o->lr_base = (float)num(j, "lr_base", o->lr_base);
    o->tick_kimg_base = num(j, "tick_kimg_base", o->tick_kimg_base);
    o->snap = (int)num(j, "snap", o->snap);
    o->keep_checkpoints = (int)num(j, "keep_checkpoints", o->keep_checkpoints);
    o->gp_lambda = (float)num(j, "gp_lambda", o->gp_lambda);
    o->drift = (float)num(j, "drift", o->drift);
    o->r1_gamma = (float)num(j, "r1_gamma", o->r1_gamma);
    o->n_critic = (int)num(j, "n_critic", o->n_critic);
    o->adam_beta1 = (float)num(j, "adam_beta1", o->adam_beta1);
    o->adam_beta2 = (float)num(j, "adam_beta2", o->adam_beta2);
    o->adam_eps = (float)num(j, "adam_eps", o->adam_eps);
    o->wgan_lr = (float)num(j, "wgan_lr", o->wgan_lr);
    o->wgan_clip = (float)num(j, "wgan_clip", o->wgan_clip);
    o->ema_beta = (float)num(j, "ema_beta", o->ema_beta);
    o->mirror = cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(j, "mirror"));
    o->grid_rows = (int)num(j, "grid_rows", o->grid_rows);
    o->grid_cols = (int)num(j, "grid_cols", o->grid_cols);
    o->metrics_swd = cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(j, "metrics_swd"));
    o->metrics_num = (int)num(j, "metrics_num", o->metrics_num);
    cJSON_Delete(j);
    return PG_OK;
}
