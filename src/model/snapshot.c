/* src/model/snapshot: writes the per-resolution export (checkpoint-format.md)
 * and loads a generator back from an export or a training checkpoint, with the
 * model config taken from the file's metadata. Calls src/model/params.c
 * (layouts) and src/io/safetensors. */
#include "model/snapshot.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "io/safetensors.h"

/* The name a generator parameter has in a file: "<prefix>." + name without "G.". */
static void file_name(char *out, size_t size, const char *prefix, const pg_param *p) {
    const char *bare = strncmp(p->name, "G.", 2) ? p->name : p->name + 2;
    snprintf(out, size, "%s.%s", prefix, bare);
}

static int is_pow2(int v) {
    return v > 0 && (v & (v - 1)) == 0;
}

static uint64_t param_numel(const pg_param *p) {
    return (uint64_t)p->shape[0] * p->shape[1] * p->shape[2] * p->shape[3];
}

/* Metadata values are strings; one helper so every key is written the same way. */
static pg_status set_meta_int(pg_safetensors_writer *w, const char *key, long long v) {
    char buf[32];
    snprintf(buf, sizeof buf, "%lld", v);
    return pg_safetensors_writer_set_metadata(w, key, buf);
}

/* Converts every parameter of blocks <= res to PyTorch layout and writes them
 * in one atomic file, so a reader never sees a half-written export. */
pg_status pg_snapshot_export(const char *path, const pg_model_config *c, const pg_param_set *set,
                             const float *arena, int res, const char *config_json) {
    PG_TRY(pg_model_config_check(c));
    if (!is_pow2(res) || res < 4 || res > c->resolution)
        return PG_FAIL(PG_ERR_INVALID,
                       "export %s: resolution %d must be a power of two in 4..%d (the model's)",
                       path, res, c->resolution);
    pg_safetensors_writer *w;
    PG_TRY(pg_safetensors_writer_create(&w));
    float *pt = malloc(set->total * sizeof(float) + 4);
    pg_status st = pt ? PG_OK : PG_FAIL(PG_ERR_OUT_OF_MEMORY, "export %s: out of memory", path);
    for (int i = 0; st == PG_OK && i < set->count; i++) {
        const pg_param *p = &set->params[i];
        if (p->resolution > res) continue;
        char name[64];
        int64_t shape[4];
        file_name(name, sizeof name, "Gs", p);
        for (int k = 0; k < p->pt_ndim; k++) shape[k] = p->pt_shape[k];
        /* the PyTorch copy reuses the parameter's own slot: same size, same offset */
        pg_param_to_pytorch(p, arena + p->offset, pt + p->offset);
        st = pg_safetensors_writer_add(w, name, PG_DTYPE_F32, p->pt_ndim, shape, pt + p->offset);
    }
    char decay[32];
    snprintf(decay, sizeof decay, "%.9g", (double)c->fmap_decay);
    if (st == PG_OK) st = pg_safetensors_writer_set_metadata(w, "kind", "export");
    if (st == PG_OK) st = set_meta_int(w, "resolution", res);
    if (st == PG_OK) st = set_meta_int(w, "channels", c->channels);
    if (st == PG_OK) st = set_meta_int(w, "latent", pg_model_latent(c));
    if (st == PG_OK) st = set_meta_int(w, "fmap_base", c->fmap_base);
    if (st == PG_OK) st = pg_safetensors_writer_set_metadata(w, "fmap_decay", decay);
    if (st == PG_OK) st = set_meta_int(w, "fmap_max", c->fmap_max);
    if (st == PG_OK) st = set_meta_int(w, "mbstd_group", c->mbstd_group);
    if (st == PG_OK && config_json)
        st = pg_safetensors_writer_set_metadata(w, "config", config_json);
    if (st == PG_OK) st = pg_safetensors_writer_write(w, path);
    pg_safetensors_writer_destroy(w);
    free(pt);
    return st;
}

/* Reads one required metadata number; a missing or non-numeric value names the key. */
static pg_status meta_number(const pg_safetensors_reader *r, const char *key, double lo, double hi,
                             double *out) {
    const char *path = pg_safetensors_reader_path(r);
    const char *v = pg_safetensors_reader_metadata(r, key);
    if (!v)
        return PG_FAIL(PG_ERR_FORMAT,
                       "%s: metadata key \"%s\" is missing; an export or checkpoint written by "
                       "progan records it (was this file written by another tool?)",
                       path, key);
    char *end;
    errno = 0;
    double d = strtod(v, &end);
    if (!*v || *end || errno || !(d >= lo && d <= hi))
        return PG_FAIL(PG_ERR_FORMAT, "%s: metadata \"%s\" = \"%s\" is not a number in %g..%g",
                       path, key, v, lo, hi);
    *out = d;
    return PG_OK;
}

static pg_status meta_int(const pg_safetensors_reader *r, const char *key, int lo, int hi,
                          int *out) {
    double d;
    PG_TRY(meta_number(r, key, lo, hi, &d));
    if (d != floor(d))
        return PG_FAIL(PG_ERR_FORMAT, "%s: metadata \"%s\" = %g is not an integer",
                       pg_safetensors_reader_path(r), key, d);
    *out = (int)d;
    return PG_OK;
}

/* The file kinds that hold a generator; describe() accepts the same spellings. */
static int kind_is_export(const char *kind) {
    return kind && (!strcmp(kind, "export") || !strcmp(kind, "snapshot"));
}
static int kind_is_checkpoint(const char *kind) {
    return kind && (!strcmp(kind, "checkpoint") || !strcmp(kind, "training_checkpoint"));
}

/* Config from the metadata, resolution from the tensors present (so an export
 * made at 64 of a 1024 model loads as a 64 model), then every tensor checked
 * against the registry's exact PyTorch shape before it is converted. */
static pg_status load_from(const pg_safetensors_reader *r, const char *prefix, pg_model_config *c,
                           pg_param_set *set, float **arena) {
    const char *path = pg_safetensors_reader_path(r);
    const char *kind = pg_safetensors_reader_metadata(r, "kind");
    if (kind && !kind_is_export(kind) && !kind_is_checkpoint(kind))
        return PG_FAIL(PG_ERR_FORMAT,
                       "%s is a progan file of kind \"%s\", which holds no generator to use: give "
                       "an export or a training checkpoint",
                       path, kind);
    int top = 0;
    for (int res = 4; res <= 1024; res *= 2) {
        char name[64];
        snprintf(name, sizeof name, "%s.torgb%d.weight", prefix, res);
        if (pg_safetensors_reader_find(r, name)) top = res;
    }
    if (!top)
        return PG_FAIL(PG_ERR_FORMAT,
                       "%s holds no generator: no tensor \"%s.torgb<R>.weight\" (it is not a "
                       "progan export or training checkpoint)",
                       path, prefix);
    memset(c, 0, sizeof *c);
    c->resolution = top;
    double decay;
    PG_TRY(meta_int(r, "channels", 1, 3, &c->channels));
    PG_TRY(meta_int(r, "latent", 1, 1 << 20, &c->latent));
    PG_TRY(meta_int(r, "fmap_base", 1, 1 << 30, &c->fmap_base));
    PG_TRY(meta_number(r, "fmap_decay", 0, 64, &decay));
    PG_TRY(meta_int(r, "fmap_max", 1, 1 << 20, &c->fmap_max));
    PG_TRY(meta_int(r, "mbstd_group", 1, 1 << 20, &c->mbstd_group));
    c->fmap_decay = (float)decay;
    if (kind_is_export(kind)) {
        int meta_res;
        PG_TRY(meta_int(r, "resolution", 4, 1024, &meta_res));
        if (meta_res != top)
            return PG_FAIL(PG_ERR_FORMAT,
                           "%s: metadata says resolution %d but the highest %s.torgb tensor is "
                           "for %d: the file is inconsistent",
                           path, meta_res, prefix, top);
    }
    if (pg_model_config_check(c) != PG_OK)
        return PG_FAIL(PG_ERR_FORMAT, "%s: its metadata describes an invalid model: %s", path,
                       pg_error_message());
    pg_model_generator_params(c, set);
    float *a = calloc(set->total ? set->total : 1, sizeof(float));
    if (!a) return PG_FAIL(PG_ERR_OUT_OF_MEMORY, "%s: out of memory for the generator", path);
    for (int i = 0; i < set->count; i++) {
        const pg_param *p = &set->params[i];
        char name[64];
        int64_t shape[4];
        const pg_safetensors_tensor *t;
        file_name(name, sizeof name, prefix, p);
        for (int k = 0; k < p->pt_ndim; k++) shape[k] = p->pt_shape[k];
        pg_status st = pg_safetensors_reader_expect(r, name, PG_DTYPE_F32, p->pt_ndim, shape, &t);
        if (st != PG_OK) {
            free(a);
            return st;
        }
        /* the data may be unaligned for floats: convert through an aligned copy */
        size_t n = (size_t)param_numel(p);
        float *tmp = malloc(n * sizeof(float));
        if (!tmp) {
            free(a);
            return PG_FAIL(PG_ERR_OUT_OF_MEMORY, "%s: out of memory", path);
        }
        memcpy(tmp, t->data, n * sizeof(float));
        pg_param_from_pytorch(p, tmp, a + p->offset);
        free(tmp);
    }
    *arena = a;
    return PG_OK;
}

/* Opens the file with the defensive reader, so a foreign or damaged file is
 * refused with the reader's message before any metadata is trusted. */
pg_status pg_snapshot_load_generator(const char *path, const char *prefix, pg_model_config *c,
                                     pg_param_set *set, float **arena) {
    *arena = NULL;
    pg_safetensors_reader *r;
    PG_TRY(pg_safetensors_reader_create(&r, path));
    pg_status st = load_from(r, prefix ? prefix : "Gs", c, set, arena);
    pg_safetensors_reader_destroy(r);
    return st;
}

/* A checkpoint holds every block up to the final resolution from the start, so
 * the resolution worth rendering is the one training had reached (metadata
 * "resolution", with its fade "alpha"); an export is rendered at its own. */
pg_status pg_snapshot_render_point(const char *path, const pg_model_config *c, int *res,
                                   float *alpha) {
    *res = c->resolution;
    *alpha = 1.0f;
    pg_safetensors_reader *r;
    PG_TRY(pg_safetensors_reader_create(&r, path));
    pg_status st = PG_OK;
    if (kind_is_checkpoint(pg_safetensors_reader_metadata(r, "kind"))) {
        int cur = c->resolution;
        double a = 1.0;
        if (pg_safetensors_reader_metadata(r, "resolution"))
            st = meta_int(r, "resolution", 4, c->resolution, &cur);
        if (st == PG_OK && pg_safetensors_reader_metadata(r, "alpha"))
            st = meta_number(r, "alpha", 0, 1, &a);
        if (st == PG_OK && !is_pow2(cur))
            st = PG_FAIL(PG_ERR_FORMAT, "%s: metadata resolution %d is not a power of two", path,
                         cur);
        if (st == PG_OK) *res = cur, *alpha = cur > 4 ? (float)a : 1.0f; /* no fade at 4 */
    }
    pg_safetensors_reader_destroy(r);
    return st;
}
