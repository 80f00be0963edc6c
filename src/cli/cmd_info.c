/* progan info PATH [--verify] [--json]: describes a dataset file (header and
 * per-level statistics), a folder of images through the dataset cache train
 * uses, or any other file through the safetensors describer; --json prints
 * one machine-readable object (cJSON, non-finite numbers as counted nulls). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "cli/commands.h"
#include "data/dataset.h"
#include "io/json_line.h"
#include "io/safetensors.h"

static void info_usage(FILE *out) {
    fprintf(out, "usage: progan info PATH [--verify] [--json] [--resolution R] [--cache DIR]\n"
                 "Prints the header of a dataset file with per-level mean/std per channel, or\n"
                 "the tensors of a checkpoint/export/step dump (.safetensors). PATH may be a\n"
                 "folder of images: its prepared datasets in the cache are described (the\n"
                 "cache `progan train --data FOLDER` fills; --resolution R prepares one).\n\n"
                 "  --verify         recompute a dataset's pixel hash and compare (default off)\n"
                 "  --json           one JSON object instead of text\n"
                 "  --resolution R   for a folder: the dataset at R (prepared if missing)\n"
                 "  --cache DIR      for a folder: the cache (default runs/cache)\n"
                 "  --help           this text\n");
}

/* A dataset as JSON: header fields and per-level mean/std. */
static pg_status dataset_json(const char *path, int verify, cJSON *j) {
    pg_dataset *ds;
    PG_TRY(pg_dataset_open(path, &ds));
    pg_status st = verify ? pg_dataset_verify(ds) : PG_OK;
    cJSON_AddStringToObject(j, "kind", "dataset");
    cJSON_AddNumberToObject(j, "count", pg_dataset_count(ds));
    cJSON_AddNumberToObject(j, "channels", pg_dataset_channels(ds));
    cJSON_AddNumberToObject(j, "resolution", pg_dataset_resolution(ds));
    cJSON_AddStringToObject(j, "hash", pg_dataset_hash(ds));
    if (verify) cJSON_AddBoolToObject(j, "verified", st == PG_OK);
    cJSON *levels = cJSON_AddArrayToObject(j, "levels");
    for (int r = pg_dataset_resolution(ds); st == PG_OK && r >= 4; r /= 2) {
        double mean[3], std[3];
        st = pg_dataset_level_stats(ds, r, mean, std);
        cJSON *l = cJSON_CreateObject();
        cJSON_AddNumberToObject(l, "resolution", r);
        cJSON_AddItemToObject(l, "mean", pg_json_numbers(j, mean, pg_dataset_channels(ds)));
        cJSON_AddItemToObject(l, "std", pg_json_numbers(j, std, pg_dataset_channels(ds)));
        cJSON_AddItemToArray(levels, l);
    }
    pg_dataset_close(ds);
    return st;
}

/* A safetensors file as JSON: metadata and every tensor's dtype, shape, checksum. */
static pg_status safetensors_json(const char *path, cJSON *j) {
    pg_safetensors_reader *r;
    PG_TRY(pg_safetensors_reader_create(&r, path));
    cJSON_AddStringToObject(j, "kind", "safetensors");
    cJSON *meta = cJSON_AddObjectToObject(j, "metadata");
    for (size_t i = 0; i < pg_safetensors_reader_metadata_count(r); i++) {
        const char *key, *value;
        pg_safetensors_reader_metadata_at(r, i, &key, &value);
        cJSON_AddStringToObject(meta, key, value);
    }
    cJSON *tensors = cJSON_AddArrayToObject(j, "tensors");
    for (size_t i = 0; i < pg_safetensors_reader_count(r); i++) {
        const pg_safetensors_tensor *t = pg_safetensors_reader_at(r, i);
        cJSON *o = cJSON_CreateObject();
        double shape[PG_SAFETENSORS_MAX_DIMS];
        char sum[24];
        for (int d = 0; d < t->ndim; d++) shape[d] = (double)t->shape[d];
        snprintf(sum, sizeof sum, "%016llx", (unsigned long long)pg_safetensors_tensor_checksum(t));
        cJSON_AddStringToObject(o, "name", t->name);
        cJSON_AddStringToObject(o, "dtype", pg_dtype_name(t->dtype));
        cJSON_AddItemToObject(o, "shape", cJSON_CreateDoubleArray(shape, t->ndim));
        cJSON_AddStringToObject(o, "xxh3", sum);
        cJSON_AddItemToArray(tensors, o);
    }
    pg_safetensors_reader_destroy(r);
    return PG_OK;
}

/* One file, as text or JSON. */
static pg_status describe(const char *path, int verify, int json) {
    int is_dataset = pg_dataset_file_is_dataset(path);
    if (!json)
        return is_dataset ? pg_dataset_describe(path, stdout, verify)
                          : pg_safetensors_describe(path, stdout);
    cJSON *j = cJSON_CreateObject();
    cJSON_AddStringToObject(j, "path", path);
    pg_status st = is_dataset ? dataset_json(path, verify, j) : safetensors_json(path, j);
    if (st != PG_OK) {
        cJSON_Delete(j);
        return st;
    }
    return pg_json_write_line(stdout, j, "stdout");
}

/* A folder: the dataset at --resolution (prepared if needed), else every
 * cached resolution of it. */
static pg_status describe_folder(const char *folder, const char *cache, int res, int verify,
                                 int json) {
    char path[4300];
    if (res > 0) {
        PG_TRY(pg_dataset_resolve(folder, cache, res, NULL, path, sizeof path));
        return describe(path, verify, json);
    }
    int found = 0;
    for (int r = 4; r <= PG_DATASET_MAX_RES; r *= 2) {
        struct stat st;
        pg_dataset_cache_path(folder, cache, r, path, sizeof path);
        if (stat(path, &st) != 0) continue;
        found++;
        if (!json) printf("%s (prepared from %s)\n", path, folder);
        PG_TRY(describe(path, verify, json));
    }
    if (!found)
        return PG_FAIL(PG_ERR_INVALID,
                       "%s is a folder with no prepared dataset in %s: give --resolution R to "
                       "prepare one, or --cache OUT/cache for `progan train --out OUT`",
                       folder, cache);
    return PG_OK;
}

int cmd_info(int argc, char **argv) {
    const char *path = NULL, *cache = "runs/cache";
    int verify = 0, json = 0;
    long long res = 0;
    for (int i = 1; i < argc; i++) {
        const char *v;
        int missing = 0;
        if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h"))
            return info_usage(stdout), 0;
        else if (!strcmp(argv[i], "--verify"))
            verify = 1;
        else if (!strcmp(argv[i], "--json"))
            json = 1;
        else if ((v = cli_flag_value(argc, argv, &i, "--cache", &missing)))
            cache = v;
        else if ((v = cli_flag_value(argc, argv, &i, "--resolution", &missing))) {
            if (!cli_parse_int(v, 4, PG_DATASET_MAX_RES, &res) || (res & (res - 1))) {
                fprintf(stderr, "progan info: --resolution %s: a power of two from 4 to %d\n", v,
                        PG_DATASET_MAX_RES);
                return 2;
            }
        } else if (missing || (argv[i][0] == '-' && argv[i][1])) {
            fprintf(stderr, "progan info: %s '%s' (see progan info --help)\n",
                    missing ? "no value for" : "unknown option", argv[i]);
            return 2;
        } else if (!path)
            path = argv[i];
        else {
            fprintf(stderr, "progan info: one PATH only ('%s' is extra)\n", argv[i]);
            return 2;
        }
    }
    if (!path) return info_usage(stderr), 2;
    struct stat st;
    pg_status s = stat(path, &st) == 0 && S_ISDIR(st.st_mode)
                      ? describe_folder(path, cache, (int)res, verify, json)
                      : describe(path, verify, json);
    if (s != PG_OK) {
        fprintf(stderr, "progan info: %s\n", pg_error_message());
        return 1;
    }
    return 0;
}
