/* A flag for every option: parses `progan train --help`, sets each listed flag
 * to a probe value through --dry-run and checks that together they change
 * every key of the options' JSON (the options struct as saved in
 * training_options.json and checkpoints); that the JSON reads back to itself
 * (what is saved is what a resume uses); and that bad values of every numeric
 * flag give one clear error naming the flag. Needs no device. */
#include "testutil.h"
#include "train/train.h"

#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>

/* Values for each flag, different from the tiny preset's; '|' separates the
 * forms of a flag that set different keys (per-resolution or bare). */
static const char *probes[][2] = {
    {"--data", "probe-data"},
    {"--out", "probe-out"},
    {"--preset", "small"},
    {"--resume", "auto"},
    {"--resolution", "8"},
    {"--kimg", "3"},
    {"--phase-kimg", "1,2"},
    {"--batch", "4:16,8:8|16"},
    {"--lr", "4:0.01,8:0.02|0.005"},
    {"--tick-kimg", "8:0.5|0.25"},
    {"--fmap-base", "32"},
    {"--fmap-max", "8"},
    {"--fmap-decay", "0.5"},
    {"--latent", "7"},
    {"--mbstd-group", "2"},
    {"--loss", "ns"},
    {"--n-critic", "3"},
    {"--gp-lambda", "5"},
    {"--drift", "0.5"},
    {"--gp-space", "native"},
    {"--r1", "2"},
    {"--adam-beta1", "0.5"},
    {"--adam-beta2", "0.9"},
    {"--adam-eps", "1e-6"},
    {"--wgan-lr", "1e-4"},
    {"--wgan-clip", "0.05"},
    {"--ema", "0.5"},
    {"--mirror", NULL},
    {"--snap", "7"},
    {"--keep", "9"},
    {"--seed", "77"},
    {"--device", "3"},
    {"--micro-batch", "2"},
    {"--dump-step", "1,2"},
    {"--metrics", "swd|fid --inception probe.safetensors"}, /* fid needs weights */
    {"--inception", "probe.safetensors"},
    {"--metrics-num", "100"},
    {"--grid", "3x5"},
    {"--stop-after", "9"},
    {"--dry-run", NULL},
};
#define N_PROBES (int)(sizeof probes / sizeof probes[0])

/* Keys no flag sets, with the reason. */
static const char *derived[] = {"channels" /* from the dataset */,
                                "ranks" /* the processes mpirun/srun started */};

/* stdout of a shell command (malloc'd) and its exit status. */
static char *run(const char *cmd, int *rc) {
    FILE *p = popen(cmd, "r");
    size_t n = 0, cap = 1 << 16;
    char *out = malloc(cap);
    for (size_t k; p && (k = fread(out + n, 1, cap - 1 - n, p)) > 0;) n += k;
    out[n] = 0;
    *rc = p ? pclose(p) : -1;
    return out;
}

/* The JSON object at the top of a --dry-run output. */
static cJSON *dry_run(const char *bin, const char *extra, int *rc) {
    char cmd[2048];
    snprintf(cmd, sizeof cmd, "%s train --preset tiny --dry-run %s 2>/dev/null", bin, extra);
    char *out = run(cmd, rc);
    char *end = strstr(out, "\n\n");
    if (end) *end = 0;
    cJSON *j = cJSON_Parse(out);
    free(out);
    return j;
}

static const char *probe_of(const char *flag) {
    for (int i = 0; i < N_PROBES; i++)
        if (!strcmp(probes[i][0], flag)) return probes[i][1] ? probes[i][1] : "";
    return NULL;
}

/* Flags of --help: the first word of lines that start with "  --". */
static int help_flags(const char *bin, char names[][32], int max) {
    char cmd[1024];
    int rc, n = 0;
    snprintf(cmd, sizeof cmd, "%s train --help", bin);
    char *out = run(cmd, &rc);
    for (char *line = strtok(out, "\n"); line && n < max; line = strtok(NULL, "\n"))
        if (!strncmp(line, "  --", 4)) sscanf(line + 2, "%31s", names[n++]);
    free(out);
    test_check(rc == 0 && n > 20, "help", "progan train --help: rc %d, %d flags", rc, n);
    return n;
}

static void test_every_key_settable(const char *bin) {
    char names[128][32];
    int n = help_flags(bin, names, 128), rc;
    cJSON *base = dry_run(bin, "", &rc), *covered = cJSON_CreateObject();
    if (!test_check(cJSON_IsObject(base), "dry run", "no JSON from --dry-run (rc %d)", rc)) return;
    for (int i = 0; i < n; i++) {
        const char *v = probe_of(names[i]);
        if (!test_check(v != NULL, "probe", "%s is in --help but has no probe value here",
                        names[i]))
            continue;
        for (const char *form = v; form; form = strchr(form, '|') ? strchr(form, '|') + 1 : NULL) {
            char extra[256];
            snprintf(extra, sizeof extra, "%s %.*s", names[i], (int)strcspn(form, "|"), form);
            cJSON *j = dry_run(bin, extra, &rc);
            if (!test_check(rc == 0 && cJSON_IsObject(j), names[i], "--dry-run %s failed (rc %d)",
                            extra, rc))
                continue;
            for (cJSON *e = base->child; e; e = e->next) {
                cJSON *now = cJSON_GetObjectItemCaseSensitive(j, e->string);
                if (now && !cJSON_Compare(e, now, 1) && !cJSON_HasObjectItem(covered, e->string))
                    cJSON_AddStringToObject(covered, e->string, names[i]);
            }
            cJSON_Delete(j);
        }
    }
    for (cJSON *e = base->child; e; e = e->next) {
        int skip = 0;
        for (size_t k = 0; k < sizeof derived / sizeof *derived; k++)
            skip |= !strcmp(derived[k], e->string);
        test_check(skip || cJSON_HasObjectItem(covered, e->string), "settable",
                   "option '%s' changes with no flag of progan train --help", e->string);
    }
    cJSON_Delete(covered);
    cJSON_Delete(base);
}

/* Everything at once through --dry-run, then JSON -> options -> JSON. */
static void test_round_trip(const char *bin) {
    char cmd[2048];
    int rc;
    snprintf(cmd, sizeof cmd,
             "%s train --preset small --dry-run --resolution 64 --batch 4:16,32:8 --lr "
             "4:0.01,64:0.03 --tick-kimg 1.5 --loss wgan --gp-lambda 3 --drift 0.25 --adam-beta1 "
             "0.5 --adam-beta2 0.75 --adam-eps 1e-5 --wgan-lr 2e-4 --wgan-clip 0.02 --ema 0.9 "
             "--n-critic 4 --metrics-num 77 --seed 4000000000 --dump-step 5,6 --mirror 2>&1",
             bin);
    char *out = run(cmd, &rc), *end = strstr(out, "\n\n");
    if (end) *end = 0;
    pg_train_options o;
    int ok = rc == 0 && pg_train_options_from_json(out, &o) == PG_OK;
    char *again = ok ? pg_train_options_to_json(&o) : NULL;
    test_check(ok && !strcmp(again, out), "round trip",
               "rc %d, %s\n--- dry run:\n%s\n--- read back:\n%s", rc, pg_error_message(), out,
               again ? again : "");
    test_check(strstr(out, "\"minibatch\":\t[0, 0, 16, 16, 16, 8, 8,") &&
                   strstr(out, "\"wgan_lr\":\t0.0002"),
               "per resolution", "%s", out);
    free(again);
    free(out);
}

/* Bad values: exit 2 and a message naming the flag and the value. */
static void test_bad_values(const char *bin) {
    static const char *bad[][2] = {
        {"--batch", "0"},         {"--batch", "4:8,2:4"}, {"--batch", "4:8,16:2.5"},
        {"--batch", "8:4,4:8"},   {"--batch", "5:8"},     {"--lr", "nan"},
        {"--lr", "inf"},          {"--lr", "4:-1"},       {"--adam-beta1", "1"},
        {"--adam-beta2", "-0.1"}, {"--adam-eps", "0"},    {"--gp-lambda", "-1"},
        {"--drift", "1e999"},     {"--wgan-lr", "0"},     {"--wgan-clip", "x"},
        {"--ema", "1"},           {"--metrics-num", "3"}, {"--tick-kimg", "0"},
        {"--n-critic", "0"},      {"--seed", "-1"},       {"--seed", "99999999999"},
        {"--resolution", "4x"},   {"--grid", "0x3"},      {"--phase-kimg", "1"},
        {"--dump-step", "1,,2"},  {"--kimg", "0x10"},     {"--loss", "hinge"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        char cmd[1024];
        int rc;
        snprintf(cmd, sizeof cmd, "%s train --preset tiny --dry-run %s '%s' 2>&1", bin, bad[i][0],
                 bad[i][1]);
        char *out = run(cmd, &rc);
        test_check(WEXITSTATUS(rc) == 2 && strstr(out, bad[i][0]) && !strstr(out, "\"preset\""),
                   "bad value", "%s %s: rc %d, '%s'", bad[i][0], bad[i][1], WEXITSTATUS(rc), out);
        free(out);
    }
}

int main(void) {
    const char *bin = getenv("PROGAN_BIN");
    if (!test_check(bin != NULL, "setup", "PROGAN_BIN is not set (run through ctest)"))
        return test_finish("test_cli_flags");
    test_every_key_settable(bin);
    test_round_trip(bin);
    test_bad_values(bin);
    return test_finish("test_cli_flags");
}
