/* progan metrics --snapshot FILE --data DATASET --metrics swd,msssim,fid,is:
 * the paper's metrics of a generator (and FID/IS with a user-supplied FID
 * Inception network), printed as a table and one JSON line per metric
 * (per-level values, average, seconds, and SWD's reals-vs-reals floor). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/commands.h"
#include "data/dataset.h"
#include "io/json_line.h"
#include "train/evaluate.h"

#define METRICS_SWD_DEFAULT    16384
#define METRICS_MSSSIM_DEFAULT 10000
#define METRICS_FID_DEFAULT    50000

static void metrics_usage(FILE *out) {
    fprintf(out,
            "usage: progan metrics --snapshot FILE --data DATASET [options]\n"
            "Measures the moving-average generator (Gs) of FILE (an export or a training\n"
            "checkpoint) at its resolution R, against the R x R level of DATASET (made by\n"
            "progan prepare, resolution >= R). Prints a table on stdout, then one JSON line\n"
            "per metric.\n\n"
            "  --snapshot FILE      export or training checkpoint (required)\n"
            "  --data DATASET       dataset file, or a folder of images (prepared at the\n"
            "                       training resolution into the cache, as train does;\n"
            "                       required for swd)\n"
            "  --cache DIR          where folders are prepared (default runs/cache, the\n"
            "                       cache of `progan train --out runs`)\n"
            "  --metrics LIST       comma-separated swd, msssim, fid, is (default swd,msssim)\n"
            "                       swd: sliced Wasserstein distance x1e3 per level R..16,\n"
            "                       lower is better, with the reals-vs-reals floor (two\n"
            "                       disjoint halves of the dataset) for scale;\n"
            "                       msssim: mean MS-SSIM of consecutive pairs of generated\n"
            "                       images, lower means more diverse;\n"
            "                       fid: Frechet Inception Distance of N generated images\n"
            "                       against min(N, dataset size) reals of level R (their\n"
            "                       statistics are cached beside DATASET); is: Inception\n"
            "                       Score of the same images, 10 splits (both need\n"
            "                       --inception; 299x299 on lavapipe runs ~0.3 images/s)\n"
            "  --inception FILE     pytorch-fid's FID Inception weights as safetensors (made by\n"
            "                       scripts/inception_to_safetensors.py; see README)\n"
            "  --num N              SWD images per set (default %d), MS-SSIM pairs\n"
            "                       (default %d), FID/IS images (default %d); SWD reals are\n"
            "                       capped by the dataset size (with a note), the floor uses\n"
            "                       half of it per set\n"
            "  --seed S             latents of seeds S, S+1, ... and the SWD draws (default 0)\n"
            "  --device N           Vulkan device index (default: $PROGAN_DEVICE, else the\n"
            "                       first GPU; see progan devices)\n"
            "  --help               this text\n",
            METRICS_SWD_DEFAULT, METRICS_MSSSIM_DEFAULT, METRICS_FID_DEFAULT);
}

/* FID and/or IS in one pass: a table row each, then a JSON line each. */
static pg_status run_fid(pg_vk_context *ctx, const char *inception, const pg_dataset *ds,
                         const char *data, const pg_eval_generator *gen, int want_fid, int want_is,
                         int num, uint64_t seed) {
    pg_inception *net = NULL;
    PG_TRY(pg_inception_load(inception, &net));
    pg_fid_options o = {want_fid, want_is, num, gen->res, seed, 1};
    pg_fid_result r;
    pg_status st =
        pg_eval_fid(ctx, net, ds, data, &gen->config, &gen->set, &gen->params, 0, &o, &r);
    if (st == PG_OK && want_fid) {
        printf("%-8s %-10s %12.4f\n", "fid", "value", r.fid);
        cJSON *j = cJSON_CreateObject();
        cJSON_AddStringToObject(j, "metric", "fid");
        cJSON_AddNumberToObject(j, "resolution", gen->res);
        cJSON_AddNumberToObject(j, "num", r.num);
        cJSON_AddNumberToObject(j, "reals", r.reals);
        pg_json_number(j, j, "value", r.fid);
        cJSON_AddBoolToObject(j, "reals_cached", r.cached);
        cJSON_AddStringToObject(j, "inception", pg_inception_hash(net));
        cJSON_AddNumberToObject(j, "seconds", r.seconds);
        pg_json_write_line(stdout, j, "stdout");
    }
    if (st == PG_OK && want_is) {
        printf("%-8s %-10s %12.4f %12.4f\n", "is", "mean, std", r.is_mean, r.is_std);
        cJSON *j = cJSON_CreateObject();
        cJSON_AddStringToObject(j, "metric", "is");
        cJSON_AddNumberToObject(j, "resolution", gen->res);
        cJSON_AddNumberToObject(j, "num", r.num);
        cJSON_AddNumberToObject(j, "splits", 10);
        pg_json_number(j, j, "mean", r.is_mean);
        pg_json_number(j, j, "std", r.is_std);
        cJSON_AddStringToObject(j, "inception", pg_inception_hash(net));
        cJSON_AddNumberToObject(j, "seconds", r.seconds);
        pg_json_write_line(stdout, j, "stdout");
    }
    pg_inception_destroy(net);
    return st;
}

/* {"16": v, "32": v, ...}: a level's value by its resolution. */
static cJSON *levels_json(cJSON *root, const pg_swd_result *r) {
    cJSON *levels = cJSON_CreateObject();
    for (int l = 0; l < r->num_levels; l++) {
        char key[16];
        snprintf(key, sizeof key, "%d", r->resolution[l]);
        pg_json_number(root, levels, key, r->distance[l]);
    }
    return levels;
}

/* Table rows first (for people), then the JSON line (for scripts). */
static void print_swd(const pg_swd_result *fake, const pg_swd_result *floor_r, int has_floor,
                      int num, int floor_num, int res, double seconds) {
    printf("%-8s %-10s %12s %12s\n", "metric", "level", "value", "floor");
    for (int l = 0; l < fake->num_levels; l++) {
        char level[32];
        snprintf(level, sizeof level, "%dx%d", fake->resolution[l], fake->resolution[l]);
        if (has_floor)
            printf("%-8s %-10s %12.4f %12.4f\n", "swd", level, fake->distance[l],
                   floor_r->distance[l]);
        else
            printf("%-8s %-10s %12.4f %12s\n", "swd", level, fake->distance[l], "-");
    }
    if (has_floor)
        printf("%-8s %-10s %12.4f %12.4f\n", "swd", "average", fake->average, floor_r->average);
    else
        printf("%-8s %-10s %12.4f %12s\n", "swd", "average", fake->average, "-");
    cJSON *j = cJSON_CreateObject();
    cJSON_AddStringToObject(j, "metric", "swd");
    cJSON_AddNumberToObject(j, "resolution", res);
    cJSON_AddNumberToObject(j, "num", num);
    cJSON_AddItemToObject(j, "levels", levels_json(j, fake));
    pg_json_number(j, j, "average", fake->average);
    cJSON_AddNumberToObject(j, "seconds", seconds);
    if (has_floor) {
        cJSON *f = cJSON_AddObjectToObject(j, "floor");
        cJSON_AddNumberToObject(f, "num", floor_num);
        cJSON_AddItemToObject(f, "levels", levels_json(j, floor_r));
        pg_json_number(j, f, "average", floor_r->average);
    } else {
        cJSON_AddNullToObject(j, "floor");
    }
    pg_json_write_line(stdout, j, "stdout");
}

int cmd_metrics(int argc, char **argv) {
    const char *snapshot = NULL, *data = NULL, *metrics = "swd,msssim", *inception = NULL;
    const char *cache = "runs/cache";
    int device = -1;
    long long num = 0, seed = 0;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v;
        int missing = 0;
        long long n;
        if (!strcmp(a, "--help") || !strcmp(a, "-h")) {
            metrics_usage(stdout);
            return 0;
        } else if ((v = cli_flag_value(argc, argv, &i, "--snapshot", &missing)))
            snapshot = v;
        else if ((v = cli_flag_value(argc, argv, &i, "--data", &missing)))
            data = v;
        else if ((v = cli_flag_value(argc, argv, &i, "--cache", &missing)))
            cache = v;
        else if ((v = cli_flag_value(argc, argv, &i, "--metrics", &missing)))
            metrics = v;
        else if ((v = cli_flag_value(argc, argv, &i, "--inception", &missing)))
            inception = v;
        else if ((v = cli_flag_value(argc, argv, &i, "--num", &missing))) {
            if (!cli_parse_int(v, 1, 1 << 24, &num)) goto bad_value;
        } else if ((v = cli_flag_value(argc, argv, &i, "--seed", &missing))) {
            if (!cli_parse_int(v, 0, CLI_MAX_SEED, &seed)) goto bad_value;
        } else if ((v = cli_flag_value(argc, argv, &i, "--device", &missing))) {
            if (!cli_parse_int(v, 0, 15, &n)) goto bad_value;
            device = (int)n;
        } else if (missing) {
            fprintf(stderr, "progan metrics: %s needs a value\n", a);
            return 2;
        } else {
            fprintf(stderr, "progan metrics: unknown argument '%s' (see progan metrics --help)\n",
                    a);
            return 2;
        }
        continue;
    bad_value:
        fprintf(stderr, "progan metrics: bad value '%s' for %s (see progan metrics --help)\n", v,
                a);
        return 2;
    }
    int want_swd = 0, want_msssim = 0, want_fid = 0, want_is = 0;
    {
        char list[256];
        snprintf(list, sizeof list, "%s", metrics);
        char *save = NULL;
        int items = 0;
        for (char *tok = strtok_r(list, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
            items++;
            if (!strcmp(tok, "swd"))
                want_swd = 1;
            else if (!strcmp(tok, "msssim") || !strcmp(tok, "ms-ssim"))
                want_msssim = 1;
            else if (!strcmp(tok, "fid"))
                want_fid = 1;
            else if (!strcmp(tok, "is"))
                want_is = 1;
            else {
                fprintf(stderr,
                        "progan metrics: unknown metric '%s' in --metrics (use swd, msssim, fid, "
                        "is)\n",
                        tok);
                return 2;
            }
        }
        if (!items) {
            fprintf(stderr, "progan metrics: --metrics is empty (use swd, msssim, fid, is)\n");
            return 2;
        }
    }
    const char *missing_flag =
        !snapshot                             ? "--snapshot is required"
        : (want_swd || want_fid) && !data     ? "--data is required for swd and fid"
        : (want_fid || want_is) && !inception ? "--inception is required for fid and is"
                                              : NULL;
    if (missing_flag) {
        fprintf(stderr, "progan metrics: %s\n\n", missing_flag);
        metrics_usage(stderr);
        return 2;
    }
    pg_vk_context *ctx = NULL;
    pg_dataset *ds = NULL;
    pg_eval_generator gen = {0};
    pg_status st = PG_OK;
    char data_path[4300] = "";
    st = pg_vk_context_create(device, &ctx);
    if (st == PG_OK) st = pg_eval_generator_create(ctx, snapshot, "Gs", &gen);
    /* a folder is prepared (or its cache reused) at the training resolution */
    if (st == PG_OK && data)
        st = pg_dataset_resolve(data, cache, gen.config.resolution, NULL, data_path,
                                sizeof data_path);
    if (st == PG_OK && data) st = pg_dataset_open(data_path, &ds);
    int res = gen.res;
    if (st == PG_OK && res < 16)
        st = PG_FAIL(PG_ERR_INVALID,
                     "%s renders %dx%d images; the metrics need 16x16 or more (train further)",
                     snapshot, res, res);
    if (st == PG_OK && ds && pg_dataset_resolution(ds) < res)
        st = PG_FAIL(PG_ERR_INVALID,
                     "the dataset %s is %dx%d, below the snapshot's %dx%d: prepare it again with "
                     "--resolution %d or more",
                     data, pg_dataset_resolution(ds), pg_dataset_resolution(ds), res, res, res);
    if (st == PG_OK && ds && pg_dataset_channels(ds) != gen.config.channels)
        st = PG_FAIL(PG_ERR_INVALID, "the dataset %s has %d channel(s), the generator %d", data,
                     pg_dataset_channels(ds), gen.config.channels);
    if (st == PG_OK && gen.alpha < 1.0f)
        fprintf(stderr,
                "progan metrics: note: %s is in the middle of a fade (alpha %.3f); the metrics "
                "use the stable %dx%d network (alpha 1)\n",
                snapshot, gen.alpha, res, res);
    if (st == PG_OK && want_swd) {
        int count = pg_dataset_count(ds);
        int n = num ? (int)num : METRICS_SWD_DEFAULT;
        if (n > count) {
            fprintf(stderr,
                    "progan metrics: note: the dataset has %d images: SWD uses %d per set "
                    "instead of %d\n",
                    count, count, n);
            n = count;
        }
        int floor_n = PG_MIN(n, count / 2);
        pg_swd_result fake, floor_r;
        double t0 = pg_time_now();
        st = pg_eval_swd(ctx, ds, &gen.config, &gen.set, &gen.params, 0, res, n, (uint64_t)seed,
                         &fake);
        double seconds = pg_time_now() - t0;
        int has_floor = 0;
        if (st == PG_OK && floor_n >= 1) {
            if (floor_n < n)
                fprintf(stderr,
                        "progan metrics: note: the reals-vs-reals floor uses %d images per half "
                        "(two disjoint halves of %d)\n",
                        floor_n, count);
            st = pg_eval_swd_floor(ds, res, floor_n, (uint64_t)seed, &floor_r);
            has_floor = st == PG_OK;
        } else if (st == PG_OK)
            fprintf(stderr, "progan metrics: note: 1 real image: no reals-vs-reals floor\n");
        if (st == PG_OK) print_swd(&fake, &floor_r, has_floor, n, floor_n, res, seconds);
    }
    if (st == PG_OK && want_msssim) {
        int pairs = num ? (int)num : METRICS_MSSSIM_DEFAULT;
        double value, t0 = pg_time_now();
        st = pg_eval_msssim(ctx, &gen.config, &gen.set, &gen.params, 0, res, pairs, (uint64_t)seed,
                            &value);
        double seconds = pg_time_now() - t0;
        if (st == PG_OK) {
            printf("%-8s %-10s %12.4f\n", "msssim", "mean", value);
            cJSON *j = cJSON_CreateObject();
            cJSON_AddStringToObject(j, "metric", "msssim");
            cJSON_AddNumberToObject(j, "resolution", res);
            cJSON_AddNumberToObject(j, "pairs", pairs);
            pg_json_number(j, j, "value", value);
            cJSON_AddNumberToObject(j, "seconds", seconds);
            pg_json_write_line(stdout, j, "stdout");
        }
    }
    if (st == PG_OK && (want_fid || want_is))
        st = run_fid(ctx, inception, ds, data ? data_path : NULL, &gen, want_fid, want_is,
                     num ? (int)num : METRICS_FID_DEFAULT, (uint64_t)seed);
    pg_eval_generator_destroy(&gen);
    if (ctx) pg_vk_context_destroy(ctx);
    if (ds) pg_dataset_close(ds);
    if (st != PG_OK) {
        fprintf(stderr, "progan metrics: %s\n", pg_error_message());
        return 1;
    }
    return 0;
}
