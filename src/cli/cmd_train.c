/* progan train: options from a preset, overridden by flags; --dry-run prints
 * the resolved configuration and the phase timeline. Ctrl-C or SIGTERM writes
 * a checkpoint at the next block boundary and exits 130. */
#include "cli/commands.h"
#include "data/dataset.h"
#include "train/train.h"

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

static void on_signal(int sig) {
    pg_train_stop_requested = 1;
    signal(sig, SIG_DFL); /* a second Ctrl-C stops at once; checkpoints are atomic */
}

static void usage(FILE *out) {
    fprintf(
        out,
        "usage: progan train --data DATA [options]\n\n"
        "  --data PATH          dataset file from `progan prepare`, or a folder of images\n"
        "                       (prepared into OUT/cache on first use)\n"
        "  --out DIR            where numbered run folders go (default runs)\n"
        "  --preset NAME        paper | default | small | tiny (default default)\n"
        "  --resume auto|PATH   continue the newest matching checkpoint, or this one\n"
        "  --resolution R       final resolution, a power of two (default: the dataset's)\n"
        "  --kimg K             length of the run in thousands of real images\n"
        "  --phase-kimg T,F     stable and fade-in length per resolution, in kimg\n"
        "  --batch N            minibatch at every resolution\n"
        "  --lr LR              learning rate at every resolution\n"
        "  --fmap-base N  --fmap-max N  --fmap-decay X  --latent N   network width\n"
        "  --mbstd-group N      minibatch-stddev group (batch must be divisible)\n"
        "  --loss wgan-gp|wgan|ns   (default wgan-gp)   --r1 GAMMA (ns: R1 penalty)\n"
        "  --n-critic K         D steps per G step (default 1; 5 with --loss wgan)\n"
        "  --gp-space target|native  gradient-penalty scale (default target, as the reference)\n"
        "  --mirror             flip reals horizontally with p = 0.5\n"
        "  --snap N             checkpoint every N ticks (default per preset)\n"
        "  --keep N             newest checkpoints kept (default 3)\n"
        "  --seed S             random seed (default 1000)\n"
        "  --device N           Vulkan device (see `progan devices`)\n"
        "  --dump-step K[,K]    write step-K.safetensors for these iterations\n"
        "  --metrics swd        evaluate SWD at every snapshot (metric-swd.jsonl)\n"
        "  --grid RxC           rows and columns of the image grids\n"
        "  --stop-after N       stop after N iterations (with a checkpoint)\n"
        "  --dry-run            print the resolved options and the timeline, then exit\n");
}

static int parse_int(const char *flag, const char *v, int lo, int *out) {
    char *end;
    long x = strtol(v, &end, 10);
    if (*end || end == v || x < lo || x > 1 << 30) {
        fprintf(stderr, "progan train: %s %s: expected an integer >= %d\n", flag, v, lo);
        return 0;
    }
    *out = (int)x;
    return 1;
}

static int parse_double(const char *flag, const char *v, double lo, double *out) {
    char *end;
    double x = strtod(v, &end);
    if (*end || end == v || !(x >= lo)) {
        fprintf(stderr, "progan train: %s %s: expected a number >= %g\n", flag, v, lo);
        return 0;
    }
    *out = x;
    return 1;
}

/* Applies one flag with its value; returns 0 on a bad value or unknown flag. */
static int apply_flag(pg_train_options *o, const char *f, const char *v) {
    int i;
    double d;
    if (!strcmp(f, "--data"))
        snprintf(o->data, sizeof o->data, "%s", v);
    else if (!strcmp(f, "--out"))
        snprintf(o->out, sizeof o->out, "%s", v);
    else if (!strcmp(f, "--resume"))
        snprintf(o->resume, sizeof o->resume, "%s", v);
    else if (!strcmp(f, "--resolution"))
        return parse_int(f, v, 4, &o->model.resolution);
    else if (!strcmp(f, "--kimg"))
        return parse_double(f, v, 1e-6, &o->total_kimg);
    else if (!strcmp(f, "--phase-kimg")) {
        if (sscanf(v, "%lf,%lf", &o->train_kimg, &o->fade_kimg) != 2 || o->train_kimg < 0 ||
            o->fade_kimg < 0) {
            fprintf(stderr, "progan train: --phase-kimg %s: expected T,F (kimg, >= 0)\n", v);
            return 0;
        }
    } else if (!strcmp(f, "--batch")) {
        if (!parse_int(f, v, 1, &o->minibatch_base)) return 0;
        memset(o->minibatch, 0, sizeof o->minibatch);
    } else if (!strcmp(f, "--lr")) {
        if (!parse_double(f, v, 1e-12, &d)) return 0;
        o->lr_base = (float)d;
        memset(o->lr, 0, sizeof o->lr);
    } else if (!strcmp(f, "--tick-kimg")) {
        if (!parse_double(f, v, 1e-6, &o->tick_kimg_base)) return 0;
        memset(o->tick_kimg, 0, sizeof o->tick_kimg);
    } else if (!strcmp(f, "--fmap-base"))
        return parse_int(f, v, 1, &o->model.fmap_base);
    else if (!strcmp(f, "--fmap-max"))
        return parse_int(f, v, 1, &o->model.fmap_max);
    else if (!strcmp(f, "--fmap-decay")) {
        if (!parse_double(f, v, 0, &d)) return 0;
        o->model.fmap_decay = (float)d;
    } else if (!strcmp(f, "--latent"))
        return parse_int(f, v, 1, &o->model.latent);
    else if (!strcmp(f, "--mbstd-group"))
        return parse_int(f, v, 1, &o->model.mbstd_group);
    else if (!strcmp(f, "--n-critic"))
        return parse_int(f, v, 1, &o->n_critic);
    else if (!strcmp(f, "--snap"))
        return parse_int(f, v, 1, &o->snap);
    else if (!strcmp(f, "--keep"))
        return parse_int(f, v, 1, &o->keep_checkpoints);
    else if (!strcmp(f, "--device"))
        return parse_int(f, v, 0, &o->device);
    else if (!strcmp(f, "--r1")) {
        if (!parse_double(f, v, 0, &d)) return 0;
        o->r1_gamma = (float)d;
    } else if (!strcmp(f, "--ema")) {
        if (!parse_double(f, v, 0, &d)) return 0;
        if (d >= 1) return fprintf(stderr, "progan train: --ema %s: must be below 1\n", v), 0;
        o->ema_beta = (float)d;
    } else if (!strcmp(f, "--seed")) {
        if (!parse_int(f, v, 0, &i)) return 0;
        o->seed = (uint64_t)i;
    } else if (!strcmp(f, "--stop-after")) {
        if (!parse_int(f, v, 1, &i)) return 0;
        o->stop_after = i;
    } else if (!strcmp(f, "--loss")) {
        if (!strcmp(v, "wgan-gp"))
            o->loss = PG_LOSS_WGAN_GP;
        else if (!strcmp(v, "wgan"))
            o->loss = PG_LOSS_WGAN;
        else if (!strcmp(v, "ns"))
            o->loss = PG_LOSS_NS;
        else
            return fprintf(stderr, "progan train: --loss %s: choose wgan-gp, wgan or ns\n", v), 0;
    } else if (!strcmp(f, "--gp-space")) {
        if (strcmp(v, "target") && strcmp(v, "native"))
            return fprintf(stderr, "progan train: --gp-space %s: choose target or native\n", v), 0;
        o->gp_target_space = !strcmp(v, "target");
    } else if (!strcmp(f, "--metrics")) {
        if (strcmp(v, "swd"))
            return fprintf(stderr, "progan train: --metrics %s: only swd\n", v), 0;
        o->metrics_swd = 1;
    } else if (!strcmp(f, "--grid")) {
        if (sscanf(v, "%dx%d", &o->grid_rows, &o->grid_cols) != 2 || o->grid_rows < 1 ||
            o->grid_cols < 1 || o->grid_rows * o->grid_cols > 1024)
            return fprintf(stderr, "progan train: --grid %s: expected RxC, e.g. 6x8\n", v), 0;
    } else if (!strcmp(f, "--dump-step")) {
        char *copy = strdup(v), *save = NULL;
        for (char *t = strtok_r(copy, ",", &save); t; t = strtok_r(NULL, ",", &save)) {
            char *end;
            long long k = strtoll(t, &end, 10);
            if (*end || k < 0 || o->n_dump >= PG_MAX_DUMP_STEPS) {
                fprintf(stderr,
                        "progan train: --dump-step %s: expected up to %d iteration "
                        "numbers >= 0, comma-separated\n",
                        v, PG_MAX_DUMP_STEPS);
                free(copy);
                return 0;
            }
            o->dump_steps[o->n_dump++] = k;
        }
        free(copy);
    } else {
        fprintf(stderr, "progan train: unknown option '%s' (see progan train --help)\n", f);
        return 0;
    }
    return 1;
}

static int is_switch(const char *f) {
    return !strcmp(f, "--dry-run") || !strcmp(f, "--mirror");
}

int cmd_train(int argc, char **argv) {
    const char *preset = "default";
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) return usage(stdout), 0;
        if (!strcmp(argv[i], "--preset") && i + 1 < argc) preset = argv[i + 1];
    }
    pg_train_options o;
    if (pg_train_options_preset(&o, preset) != PG_OK) {
        fprintf(stderr, "progan train: %s\n", pg_error_message());
        return 2;
    }
    int n_critic_given = 0;
    for (int i = 1; i < argc; i++) n_critic_given |= !strcmp(argv[i], "--n-critic");
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--dry-run"))
            o.dry_run = 1;
        else if (!strcmp(argv[i], "--mirror"))
            o.mirror = 1;
        else if (!strcmp(argv[i], "--preset"))
            i++;
        else if (i + 1 >= argc || is_switch(argv[i + 1]) || strncmp(argv[i], "--", 2)) {
            fprintf(stderr, "progan train: %s needs a value (see progan train --help)\n", argv[i]);
            return 2;
        } else if (!apply_flag(&o, argv[i], argv[i + 1]))
            return 2;
        else
            i++;
    }
    if (o.loss == PG_LOSS_WGAN && !n_critic_given) o.n_critic = 5; /* as the WGAN paper */
    if (o.dry_run) {
        int dataset_res = 0;
        pg_dataset *ds = NULL;
        struct stat st;
        if (o.data[0] && stat(o.data, &st) == 0 && !S_ISDIR(st.st_mode) &&
            pg_dataset_open(o.data, &ds) == PG_OK) {
            dataset_res = pg_dataset_resolution(ds);
            o.model.channels = pg_dataset_channels(ds);
            if (o.model.resolution <= 0) o.model.resolution = dataset_res;
            pg_dataset_close(ds);
        }
        if (o.model.resolution <= 0) o.model.resolution = 1024;
        if (pg_train_options_check(&o, dataset_res) != PG_OK) {
            fprintf(stderr, "progan train: %s\n", pg_error_message());
            return 1;
        }
        char *json = pg_train_options_to_json(&o);
        printf("%s\n\n", json);
        free(json);
        pg_schedule_print_timeline(&o, stdout);
        return 0;
    }
    if (!o.data[0]) {
        fprintf(stderr,
                "progan train: --data is required (a dataset file or a folder of images)\n");
        return 2;
    }
    signal(SIGINT, on_signal);
    signal(SIGTERM, on_signal);
    pg_status st = pg_train_run(&o);
    if (st == PG_ERR_INTERRUPTED) {
        fprintf(stderr, "progan train: %s\n", pg_error_message());
        return 130;
    }
    if (st != PG_OK) {
        fprintf(stderr, "progan train: %s\n", pg_error_message());
        return 1;
    }
    return 0;
}
