/* progan train: options from a preset, overridden by flags; --dry-run prints
 * the resolved configuration and the phase timeline. Ctrl-C or SIGTERM writes
 * a checkpoint at the next block boundary and exits 130. */
#include "cli/commands.h"
#include "data/dataset.h"
#include "dist/dist.h"
#include "train/train.h"

#include <signal.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

static void on_signal(int sig) {
    pg_train_stop_requested = 1;
    signal(sig, SIG_DFL); /* a second Ctrl-C stops at once; checkpoints are atomic */
}

/* Flags with a custom parser: 1 on success, else 0 after printing the reason. */
static int bad(const char *flag, const char *v, const char *what) {
    fprintf(stderr, "progan train: %s%s%s: %s\n", flag, *v ? " " : "", v, what);
    return 0;
}

static int set_phase_kimg(pg_train_options *o, const char *f, const char *v) {
    char a[64], b[64];
    const char *comma = strchr(v, ',');
    if (!comma || comma - v >= 64 || strlen(comma + 1) >= 64) return bad(f, v, "expected T,F");
    snprintf(a, sizeof a, "%.*s", (int)(comma - v), v);
    snprintf(b, sizeof b, "%s", comma + 1);
    if (!cli_parse_number(a, 0, 1e9, 0, &o->train_kimg) ||
        !cli_parse_number(b, 0, 1e9, 0, &o->fade_kimg))
        return bad(f, v, "expected T,F: stable and fade-in kimg, each >= 0");
    return 1;
}

static int set_loss(pg_train_options *o, const char *f, const char *v) {
    int k = pg_loss_find(v);
    if (k < 0) {
        char what[300];
        snprintf(what, sizeof what, "choose %s", pg_loss_names());
        return bad(f, v, what);
    }
    o->loss = (pg_loss_kind)k;
    return 1;
}

static int set_gp_space(pg_train_options *o, const char *f, const char *v) {
    if (strcmp(v, "target") && strcmp(v, "native")) return bad(f, v, "choose target or native");
    o->gp_target_space = !strcmp(v, "target");
    return 1;
}

static int set_metrics(pg_train_options *o, const char *f, const char *v) {
    char list[64], *save = NULL;
    if (strlen(v) >= sizeof list) return bad(f, v, "use swd, fid or swd,fid");
    snprintf(list, sizeof list, "%s", v);
    o->metrics_swd = o->metrics_fid = 0;
    for (char *t = strtok_r(list, ",", &save); t; t = strtok_r(NULL, ",", &save)) {
        if (!strcmp(t, "swd"))
            o->metrics_swd = 1;
        else if (!strcmp(t, "fid"))
            o->metrics_fid = 1;
        else
            return bad(f, v, "use swd, fid or swd,fid");
    }
    if (!o->metrics_swd && !o->metrics_fid) return bad(f, v, "use swd, fid or swd,fid");
    return 1;
}

static int set_grid(pg_train_options *o, const char *f, const char *v) {
    char tail;
    if (sscanf(v, "%dx%d%c", &o->grid_rows, &o->grid_cols, &tail) != 2 || o->grid_rows < 1 ||
        o->grid_cols < 1 || o->grid_rows > 1024 || o->grid_cols > 1024 ||
        o->grid_rows * o->grid_cols > 1024)
        return bad(f, v, "expected RxC with at most 1024 cells, e.g. 6x8");
    return 1;
}

static int set_micro_batch(pg_train_options *o, const char *f, const char *v) {
    long long m;
    if (!strcmp(v, "auto")) return o->micro_batch = 0, 1;
    if (!cli_parse_int(v, 1, 1 << 16, &m)) return bad(f, v, "expected auto or an integer >= 1");
    o->micro_batch = (int)m;
    return 1;
}

static int set_dump_steps(pg_train_options *o, const char *f, const char *v) {
    char item[32];
    o->n_dump = 0;
    for (const char *p = v;; p++) {
        size_t len = strcspn(p, ",");
        long long k;
        if (len >= sizeof item || o->n_dump >= PG_MAX_DUMP_STEPS) len = 0;
        snprintf(item, sizeof item, "%.*s", (int)len, p);
        if (!len || !cli_parse_int(item, 0, 1LL << 50, &k))
            return bad(f, v, "expected up to 16 iteration numbers >= 0, comma-separated");
        o->dump_steps[o->n_dump++] = k;
        p += len;
        if (!*p) return 1;
    }
}

typedef enum {
    F_TEXT,
    F_INT,
    F_U64,
    F_I64,
    F_FLOAT,
    F_DOUBLE,
    F_RES_INT,
    F_RES_FLOAT,
    F_RES_DOUBLE,
    F_SWITCH,
    F_CUSTOM
} flag_kind;

/* One row per flag: --help, parsing and validation all come from here. */
typedef struct {
    const char *name, *arg, *help;
    flag_kind kind;
    size_t off, base_off; /* the field; base_off: the per-resolution flags' bare value */
    double lo, hi;
    int hi_open;
    int (*custom)(pg_train_options *o, const char *flag, const char *v);
} train_flag;

#define O(field) offsetof(pg_train_options, field)
#define BIG      1e9
static const train_flag flags[] = {
    {"--data", "PATH",
     "dataset file from `progan prepare`, or a folder of images (prepared into OUT/cache on first "
     "use)",
     F_TEXT, O(data), 0, 0, 0, 0, NULL},
    {"--out", "DIR", "where numbered run folders go (default runs)", F_TEXT, O(out), 0, 0, 0, 0,
     NULL},
    {"--preset", "NAME",
     "paper | default | small | tiny (default default); applied before the other flags", F_CUSTOM,
     0, 0, 0, 0, 0, NULL},
    {"--resume", "auto|PATH",
     "continue the newest matching checkpoint, or this one (its saved options apply)", F_TEXT,
     O(resume), 0, 0, 0, 0, NULL},
    {"--resolution", "R", "final resolution, a power of two (default: the dataset's)", F_INT,
     O(model.resolution), 0, 4, 1024, 0, NULL},
    {"--kimg", "K", "length of the run in thousands of real images", F_DOUBLE, O(total_kimg), 0,
     1e-6, BIG, 0, NULL},
    {"--phase-kimg", "T,F", "stable and fade-in length per resolution, in kimg", F_CUSTOM, 0, 0, 0,
     0, 0, set_phase_kimg},
    {"--batch", "N|R:N,..",
     "minibatch: one value, or per resolution as 4:128,64:32,1024:4 (R:N holds from R up to the "
     "next entry)",
     F_RES_INT, O(minibatch), O(minibatch_base), 1, 1 << 16, 0, NULL},
    {"--lr", "LR|R:LR,..",
     "Adam learning rate: one value, or per resolution as 4:0.001,1024:0.0015", F_RES_FLOAT, O(lr),
     O(lr_base), 1e-12, 10, 0, NULL},
    {"--tick-kimg", "K|R:K,..", "kimg between ticks (grids, stats): one value, or per resolution",
     F_RES_DOUBLE, O(tick_kimg), O(tick_kimg_base), 1e-6, BIG, 0, NULL},
    {"--fmap-base", "N", "network width: nf(s) = min(fmap_base / 2^(s decay), fmap_max)", F_INT,
     O(model.fmap_base), 0, 1, 1 << 20, 0, NULL},
    {"--fmap-max", "N", "most channels of any layer", F_INT, O(model.fmap_max), 0, 1, 1 << 16, 0,
     NULL},
    {"--fmap-decay", "X", "channel decay per resolution (default 1)", F_FLOAT, O(model.fmap_decay),
     0, 0, 16, 0, NULL},
    {"--latent", "N", "latent size (default nf(0))", F_INT, O(model.latent), 0, 1, 1 << 16, 0,
     NULL},
    {"--mbstd-group", "N", "minibatch-stddev group (batch must be divisible)", F_INT,
     O(model.mbstd_group), 0, 1, 1 << 16, 0, NULL},
    {"--loss", "NAME", "wgan-gp (default) | wgan | ns; see the README", F_CUSTOM, 0, 0, 0, 0, 0,
     set_loss},
    {"--n-critic", "K", "D steps per G step (default: the loss's, 1; 5 for wgan)", F_INT,
     O(n_critic), 0, 1, 1000, 0, NULL},
    {"--gp-lambda", "X", "wgan-gp penalty weight (default 10)", F_FLOAT, O(gp_lambda), 0, 0, 1e6, 0,
     NULL},
    {"--drift", "X", "wgan-gp drift weight on D(real)^2 (default 0.001)", F_FLOAT, O(drift), 0, 0,
     1e6, 0, NULL},
    {"--gp-space", "target|native", "gradient-penalty scale (default target, as the reference)",
     F_CUSTOM, 0, 0, 0, 0, 0, set_gp_space},
    {"--r1", "GAMMA", "ns loss: R1 penalty weight (default 0, off)", F_FLOAT, O(r1_gamma), 0, 0,
     1e6, 0, NULL},
    {"--adam-beta1", "B", "Adam beta1 in [0, 1) (default 0)", F_FLOAT, O(adam_beta1), 0, 0, 1, 1,
     NULL},
    {"--adam-beta2", "B", "Adam beta2 in [0, 1) (default 0.99)", F_FLOAT, O(adam_beta2), 0, 0, 1, 1,
     NULL},
    {"--adam-eps", "E", "Adam epsilon (default 1e-8)", F_FLOAT, O(adam_eps), 0, 1e-30, 1, 0, NULL},
    {"--wgan-lr", "LR", "RMSprop learning rate of --loss wgan, for D and G (default 5e-5)", F_FLOAT,
     O(wgan_lr), 0, 1e-12, 10, 0, NULL},
    {"--wgan-clip", "C", "--loss wgan: D's weights are clipped to [-C, C] (default 0.01)", F_FLOAT,
     O(wgan_clip), 0, 1e-12, 1e6, 0, NULL},
    {"--ema", "BETA", "Gs = G + (Gs - G) * BETA after every D step, in [0, 1) (default 0.999)",
     F_FLOAT, O(ema_beta), 0, 0, 1, 1, NULL},
    {"--mirror", NULL, "flip reals horizontally with p = 0.5", F_SWITCH, O(mirror), 0, 0, 0, 0,
     NULL},
    {"--snap", "N", "checkpoint every N ticks (default per preset)", F_INT, O(snap), 0, 1, 1 << 30,
     0, NULL},
    {"--keep", "N", "newest checkpoints kept (default 3)", F_INT, O(keep_checkpoints), 0, 1,
     1 << 20, 0, NULL},
    {"--seed", "S", "random seed (default 1000)", F_U64, O(seed), 0, 0, 0, 0, NULL},
    {"--device", "N",
     "Vulkan device (see `progan devices`; under mpirun: the node-local rank picks one of the "
     "node's GPUs)",
     F_INT, O(device), 0, 0, 1 << 16, 0, NULL},
    {"--micro-batch", "M|auto",
     "split each rank's share of the batch into M sequential micro-batches (gradients summed); "
     "auto: per phase, the fewest that fit in the device's memory",
     F_CUSTOM, 0, 0, 0, 0, 0, set_micro_batch},
    {"--dump-step", "K[,K]", "write step-K.safetensors for these iterations", F_CUSTOM, 0, 0, 0, 0,
     0, set_dump_steps},
    {"--metrics", "swd|fid|swd,fid",
     "evaluate at every snapshot from 16x16 up (metric-swd.jsonl, metric-fid.jsonl)", F_CUSTOM, 0,
     0, 0, 0, 0, set_metrics},
    {"--inception", "FILE",
     "pytorch-fid's FID Inception weights as safetensors, for --metrics fid (see README)", F_TEXT,
     O(inception), 0, 0, 0, 0, NULL},
    {"--metrics-num", "N", "images per set for those evaluations (default 1024)", F_INT,
     O(metrics_num), 0, 16, 1 << 20, 0, NULL},
    {"--grid", "RxC", "rows and columns of the image grids", F_CUSTOM, 0, 0, 0, 0, 0, set_grid},
    {"--stop-after", "N", "stop after N iterations (with a checkpoint)", F_I64, O(stop_after), 0, 1,
     1e15, 0, NULL},
    {"--dry-run", NULL, "print the resolved options and the timeline, then exit", F_SWITCH,
     O(dry_run), 0, 0, 0, 0, NULL},
};
#undef O
#define N_FLAGS (int)(sizeof flags / sizeof flags[0])

static void usage(FILE *out) {
    fprintf(out, "usage: progan train --data DATA [options]\n\n");
    for (int i = 0; i < N_FLAGS; i++) {
        char left[64];
        snprintf(left, sizeof left, "%s%s%s", flags[i].name, flags[i].arg ? " " : "",
                 flags[i].arg ? flags[i].arg : "");
        fprintf(out, "  %-24s %s\n", left, flags[i].help);
    }
    fprintf(out, "\nFlags take --flag VALUE or --flag=VALUE; an unknown flag is an error.\n");
}

static const train_flag *flag_find(const char *name, size_t len) {
    for (int i = 0; i < N_FLAGS; i++)
        if (strlen(flags[i].name) == len && !strncmp(flags[i].name, name, len)) return &flags[i];
    return NULL;
}

/* Range text for messages: "in [lo, hi]" / "in [lo, hi)". */
static int range_error(const train_flag *f, const char *v) {
    char what[160];
    snprintf(what, sizeof what, "expected %s in [%g, %g%s",
             f->kind == F_FLOAT || f->kind == F_DOUBLE ? "a number" : "an integer", f->lo, f->hi,
             f->hi_open ? ")" : "]");
    return bad(f->name, v, what);
}

/* Per-resolution values into the field's table (and the bare value into base). */
static int set_per_res(pg_train_options *o, const train_flag *f, const char *v) {
    double vals[PG_MAX_LOG2 + 1];
    char err[300];
    int bare;
    char *field = (char *)o + f->off, *base = (char *)o + f->base_off;
    for (int l = 0; l <= PG_MAX_LOG2; l++)
        vals[l] = f->kind == F_RES_INT     ? ((int *)field)[l]
                  : f->kind == F_RES_FLOAT ? ((float *)field)[l]
                                           : ((double *)field)[l];
    if (cli_parse_per_res(v, PG_MAX_LOG2, f->lo, f->hi, vals, &bare, err, sizeof err))
        return bad(f->name, "", err);
    if (f->kind == F_RES_INT && !bare)
        for (int l = 2; l <= PG_MAX_LOG2; l++)
            if (vals[l] != (int)vals[l]) return bad(f->name, v, "batch sizes are integers");
    for (int l = 0; l <= PG_MAX_LOG2; l++) {
        double x = bare ? 0 : l < 2 ? 0 : vals[l];
        if (f->kind == F_RES_INT)
            ((int *)field)[l] = (int)x;
        else if (f->kind == F_RES_FLOAT)
            ((float *)field)[l] = (float)x;
        else
            ((double *)field)[l] = x;
    }
    if (!bare) return 1;
    if (f->kind == F_RES_INT) {
        if (vals[0] != (int)vals[0]) return bad(f->name, v, "batch sizes are integers");
        *(int *)base = (int)vals[0];
    } else if (f->kind == F_RES_FLOAT)
        *(float *)base = (float)vals[0];
    else
        *(double *)base = vals[0];
    return 1;
}

/* Applies one flag with its value; 0 on a bad value (after the message). */
static int apply_flag(pg_train_options *o, const train_flag *f, const char *v) {
    char *field = (char *)o + f->off;
    double d;
    long long n;
    switch (f->kind) {
    case F_TEXT:
        if (strlen(v) >= 4096) return bad(f->name, "", "path longer than 4095 bytes");
        snprintf(field, 4096, "%s", v);
        return 1;
    case F_INT:
    case F_I64:
        if (!cli_parse_int(v, (long long)f->lo, (long long)f->hi, &n)) return range_error(f, v);
        if (f->kind == F_INT)
            *(int *)field = (int)n;
        else
            *(long long *)field = n;
        return 1;
    case F_U64:
        if (!cli_parse_int(v, 0, (long long)CLI_MAX_SEED, &n))
            return bad(f->name, v, "expected an integer from 0 to 4294967295");
        *(uint64_t *)field = (uint64_t)n;
        return 1;
    case F_FLOAT:
    case F_DOUBLE:
        if (!cli_parse_number(v, f->lo, f->hi, f->hi_open, &d)) return range_error(f, v);
        if (f->kind == F_FLOAT)
            *(float *)field = (float)d;
        else
            *(double *)field = d;
        return 1;
    case F_RES_INT:
    case F_RES_FLOAT:
    case F_RES_DOUBLE:
        return set_per_res(o, f, v);
    case F_SWITCH:
        *(int *)field = 1;
        return 1;
    case F_CUSTOM:
        return f->custom ? f->custom(o, f->name, v) : 1;
    }
    return 0;
}

/* Every argument: --flag VALUE, --flag=VALUE or a switch. 0 after a message. */
static int parse_args(pg_train_options *o, int argc, char **argv) {
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *eq = strchr(a, '=');
        size_t len = eq ? (size_t)(eq - a) : strlen(a);
        const train_flag *f = strncmp(a, "--", 2) ? NULL : flag_find(a, len);
        if (!f) {
            fprintf(stderr, "progan train: unknown option '%.*s' (see progan train --help)\n",
                    (int)len, a);
            return 0;
        }
        const char *v = eq ? eq + 1 : NULL;
        if (f->kind == F_SWITCH) {
            if (v) return bad(f->name, v, "takes no value");
        } else if (!v) {
            if (i + 1 >= argc ||
                (flag_find(argv[i + 1], strlen(argv[i + 1])) && !strncmp(argv[i + 1], "--", 2))) {
                fprintf(stderr, "progan train: %s needs a value (see progan train --help)\n",
                        f->name);
                return 0;
            }
            v = argv[++i];
        }
        if (!apply_flag(o, f, v ? v : "")) return 0;
    }
    return 1;
}

/* --preset first (the other flags override it); NULL after a message. */
static const char *preset_of(int argc, char **argv) {
    const char *preset = "default";
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--preset") && i + 1 < argc) preset = argv[i + 1];
        if (!strncmp(argv[i], "--preset=", 9)) preset = argv[i] + 9;
    }
    return preset;
}

int cmd_train(int argc, char **argv) {
    for (int i = 1; i < argc; i++)
        if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) return usage(stdout), 0;
    pg_train_options o;
    if (pg_train_options_preset(&o, preset_of(argc, argv)) != PG_OK) {
        fprintf(stderr, "progan train: %s\n", pg_error_message());
        return 2;
    }
    if (!parse_args(&o, argc, argv)) return 2;
    pg_train_options_resolve(&o);
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
        fflush(stdout);
        if (o.micro_batch == 0 && pg_train_plan_memory(&o) != PG_OK) {
            fprintf(stderr, "progan train: %s\n", pg_error_message());
            return 1;
        }
        return 0;
    }
    if (!o.data[0]) {
        fprintf(stderr,
                "progan train: --data is required (a dataset file or a folder of images)\n");
        return 2;
    }
    signal(SIGINT, on_signal);
    signal(SIGTERM, on_signal);
    /* under mpirun/srun: one rank of a data-parallel run (a no-op otherwise) */
    _Static_assert(sizeof(sig_atomic_t) == sizeof(int), "the cancel flag is an int");
    pg_status st = pg_dist_init((volatile const int *)&pg_train_stop_requested);
    if (st == PG_OK) st = pg_train_run(&o);
    /* an error every rank shares is printed once, by rank 0 */
    if (st != PG_OK && (pg_dist_rank() == 0 || !pg_dist_error_is_shared()))
        fprintf(stderr, "progan train: %s\n", pg_error_message());
    /* a failure the other ranks do not know about ends the job (no rank waits) */
    pg_dist_finalize(st != PG_OK && st != PG_ERR_INTERRUPTED);
    return st == PG_OK ? 0 : st == PG_ERR_INTERRUPTED ? 130 : 1;
}
