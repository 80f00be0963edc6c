/* Training checkpoints: every tensor of the run in PyTorch layout, and the
 * counters and options as string metadata (checkpoint-format.md). */
#include "train/checkpoint.h"

#include "io/safetensors.h"

#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* The seven tensor sets of a checkpoint: name prefix, buffer, registry. */
typedef struct {
    const char *prefix;
    const pg_vk_buffer *buffer;
    const pg_param_set *set;
} tensor_group;

static int groups_of(pg_train_state *s, tensor_group g[7]) {
    tensor_group all[7] = {{"G.", &s->G, &s->gset},         {"D.", &s->D, &s->dset},
                           {"Gs.", &s->Gs, &s->gset},       {"opt.G.m.", &s->G_m, &s->gset},
                           {"opt.G.v.", &s->G_v, &s->gset}, {"opt.D.m.", &s->D_m, &s->dset},
                           {"opt.D.v.", &s->D_v, &s->dset}};
    memcpy(g, all, sizeof all);
    return 7;
}

/* The checkpoint name of a parameter under a prefix ("G.b4.conv.weight" under
 * "Gs." -> "Gs.b4.conv.weight") and its PyTorch shape. */
static void tensor_key(const char *prefix, const pg_param *p, char *name, size_t size,
                       int64_t shape[4]) {
    snprintf(name, size, "%s%s", prefix, strchr(p->name, '.') + 1);
    for (int d = 0; d < p->pt_ndim; d++) shape[d] = p->pt_shape[d];
}

pg_status pg_state_download(pg_vk_context *ctx, const pg_vk_buffer *b, const pg_param_set *set,
                            float **out) {
    *out = malloc(4 * set->total);
    if (!*out) return PG_FAIL(PG_ERR_OUT_OF_MEMORY, "out of host memory");
    pg_status st = pg_vk_download(ctx, (pg_vk_range){b, 0, 4 * set->total}, *out);
    if (st != PG_OK) free(*out), *out = NULL;
    return st;
}

static void meta_int(pg_safetensors_writer *w, const char *key, int64_t v) {
    char text[32];
    snprintf(text, sizeof text, "%" PRId64, v);
    pg_safetensors_writer_set_metadata(w, key, text);
}

static void meta_double(pg_safetensors_writer *w, const char *key, double v) {
    char text[40];
    snprintf(text, sizeof text, "%.17g", v);
    pg_safetensors_writer_set_metadata(w, key, text);
}

/* Metadata every file of weights carries so a generator can be rebuilt from it. */
static void meta_model(pg_safetensors_writer *w, const pg_train_options *o) {
    meta_int(w, "channels", o->model.channels);
    meta_int(w, "latent", pg_model_latent(&o->model));
    meta_int(w, "fmap_base", o->model.fmap_base);
    meta_double(w, "fmap_decay", o->model.fmap_decay);
    meta_int(w, "fmap_max", o->model.fmap_max);
    meta_int(w, "mbstd_group", o->model.mbstd_group);
}

pg_status pg_checkpoint_save(pg_vk_context *ctx, const char *path, const pg_train_options *o,
                             pg_train_state *s, const pg_train_progress *p,
                             const char *dataset_hash) {
    tensor_group groups[7];
    int n_groups = groups_of(s, groups);
    float *host[7] = {0}, *pt[7] = {0};
    pg_safetensors_writer *w = NULL;
    pg_status st = pg_safetensors_writer_create(&w);
    for (int k = 0; k < n_groups && st == PG_OK; k++) {
        const pg_param_set *set = groups[k].set;
        st = pg_state_download(ctx, groups[k].buffer, set, &host[k]);
        if (st == PG_OK && !(pt[k] = malloc(4 * set->total)))
            st = PG_FAIL(PG_ERR_OUT_OF_MEMORY, "out of host memory");
        for (int i = 0; st == PG_OK && i < set->count; i++) {
            const pg_param *prm = &set->params[i];
            char name[96];
            int64_t shape[4];
            tensor_key(groups[k].prefix, prm, name, sizeof name, shape);
            pg_param_to_pytorch(prm, host[k] + prm->offset, pt[k] + prm->offset);
            st = pg_safetensors_writer_add(w, name, PG_DTYPE_F32, prm->pt_ndim, shape,
                                           pt[k] + prm->offset);
        }
    }
    if (st == PG_OK) {
        char *config = pg_train_options_to_json(o);
        pg_safetensors_writer_set_metadata(w, "kind", "checkpoint");
        pg_safetensors_writer_set_metadata(w, "config", config);
        free(config);
        /* the phase the tensors are in: that of the last evaluated lod */
        int top = 0;
        while ((1 << top) < o->model.resolution) top++;
        double lod = p->lod >= 0 ? p->lod : top - 2;
        meta_model(w, o);
        meta_int(w, "resolution", 1 << (top - (int)floor(lod)));
        meta_double(w, "alpha", 1.0 - (lod - floor(lod)));
        meta_double(w, "lod", p->lod);
        meta_int(w, "cur_nimg", p->cur_nimg);
        meta_int(w, "iteration", p->iteration);
        meta_int(w, "d_steps", p->d_steps);
        meta_int(w, "adam_t_g", p->adam_t_g);
        meta_int(w, "adam_t_d", p->adam_t_d);
        meta_int(w, "tick", p->tick);
        meta_int(w, "tick_start_nimg", p->tick_start_nimg);
        meta_int(w, "skipped_d", p->skipped_d);
        meta_int(w, "skipped_g", p->skipped_g);
        meta_double(w, "elapsed", p->elapsed);
        char rng[96];
        snprintf(rng, sizeof rng, "philox4x32-10 seed %llu, counters (d_steps, iteration)",
                 (unsigned long long)o->seed);
        pg_safetensors_writer_set_metadata(w, "rng", rng);
        pg_safetensors_writer_set_metadata(w, "dataset_path", o->data);
        pg_safetensors_writer_set_metadata(w, "dataset_hash", dataset_hash ? dataset_hash : "");
        st = pg_safetensors_writer_write(w, path);
    }
    pg_safetensors_writer_destroy(w);
    for (int k = 0; k < n_groups; k++) free(host[k]), free(pt[k]);
    return st;
}

static pg_status meta_get_int(const pg_safetensors_reader *r, const char *key, int64_t *out) {
    const char *v = pg_safetensors_reader_metadata(r, key);
    char *end;
    if (!v || !*v)
        return PG_FAIL(PG_ERR_FORMAT,
                       "%s: metadata '%s' is missing (not a progan "
                       "training checkpoint?)",
                       pg_safetensors_reader_path(r), key);
    *out = strtoll(v, &end, 10);
    if (*end)
        return PG_FAIL(PG_ERR_FORMAT, "%s: metadata '%s' = '%s' is not an integer",
                       pg_safetensors_reader_path(r), key, v);
    return PG_OK;
}

pg_status pg_checkpoint_peek(const char *path, pg_train_options *o, char *dataset_hash,
                             size_t hash_size) {
    pg_safetensors_reader *r;
    PG_TRY(pg_safetensors_reader_create(&r, path));
    const char *kind = pg_safetensors_reader_metadata(r, "kind");
    const char *config = pg_safetensors_reader_metadata(r, "config");
    const char *hash = pg_safetensors_reader_metadata(r, "dataset_hash");
    pg_status st = PG_OK;
    if (!kind || strcmp(kind, "checkpoint") || !config)
        st = PG_FAIL(PG_ERR_FORMAT,
                     "%s is not a progan training checkpoint (kind '%s'): "
                     "--resume takes a checkpoint-*.safetensors file",
                     path, kind ? kind : "none");
    if (st == PG_OK) st = pg_train_options_from_json(config, o);
    if (st == PG_OK && dataset_hash) snprintf(dataset_hash, hash_size, "%s", hash ? hash : "");
    pg_safetensors_reader_destroy(r);
    return st;
}

static pg_status progress_read(const pg_safetensors_reader *r, pg_train_progress *p) {
    PG_TRY(meta_get_int(r, "cur_nimg", &p->cur_nimg));
    PG_TRY(meta_get_int(r, "iteration", &p->iteration));
    PG_TRY(meta_get_int(r, "d_steps", &p->d_steps));
    PG_TRY(meta_get_int(r, "adam_t_g", &p->adam_t_g));
    PG_TRY(meta_get_int(r, "adam_t_d", &p->adam_t_d));
    PG_TRY(meta_get_int(r, "tick", &p->tick));
    PG_TRY(meta_get_int(r, "tick_start_nimg", &p->tick_start_nimg));
    PG_TRY(meta_get_int(r, "skipped_d", &p->skipped_d));
    PG_TRY(meta_get_int(r, "skipped_g", &p->skipped_g));
    const char *lod = pg_safetensors_reader_metadata(r, "lod");
    const char *elapsed = pg_safetensors_reader_metadata(r, "elapsed");
    p->lod = lod ? strtod(lod, NULL) : 0;
    p->elapsed = elapsed ? strtod(elapsed, NULL) : 0;
    return PG_OK;
}

pg_status pg_checkpoint_load(pg_vk_context *ctx, const char *path, pg_train_state *s,
                             pg_train_progress *p) {
    pg_safetensors_reader *r;
    PG_TRY(pg_safetensors_reader_create(&r, path));
    tensor_group groups[7];
    int n_groups = groups_of(s, groups);
    pg_status st = progress_read(r, p);
    for (int k = 0; k < n_groups && st == PG_OK; k++) {
        const pg_param_set *set = groups[k].set;
        float *host = calloc(set->total, 4);
        if (!host) st = PG_FAIL(PG_ERR_OUT_OF_MEMORY, "out of host memory");
        for (int i = 0; st == PG_OK && i < set->count; i++) {
            const pg_param *prm = &set->params[i];
            char name[96];
            int64_t shape[4];
            tensor_key(groups[k].prefix, prm, name, sizeof name, shape);
            const pg_safetensors_tensor *t;
            st = pg_safetensors_reader_expect(r, name, PG_DTYPE_F32, prm->pt_ndim, shape, &t);
            if (st != PG_OK) break;
            float *tmp = malloc(t->nbytes);
            if (!tmp) {
                st = PG_FAIL(PG_ERR_OUT_OF_MEMORY, "out of host memory");
                break;
            }
            memcpy(tmp, t->data, t->nbytes); /* the mapping may be unaligned */
            pg_param_from_pytorch(prm, tmp, host + prm->offset);
            free(tmp);
        }
        if (st == PG_OK)
            st = pg_vk_upload(ctx, (pg_vk_range){groups[k].buffer, 0, 4 * set->total}, host);
        free(host);
    }
    pg_safetensors_reader_destroy(r);
    return st;
}
