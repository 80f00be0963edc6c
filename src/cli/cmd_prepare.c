/* progan prepare SRC DATASET --resolution R [options]: parses the flags into
 * pg_prepare_options, turns Ctrl-C into a clean cancel, and runs pg_prepare_run. */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/commands.h"
#include "data/dataset.h"
#include "data/ingest.h"

static volatile int prepare_cancel;

static void on_signal(int sig) {
    (void)sig;
    prepare_cancel = 1;
}

static void prepare_usage(FILE *out) {
    fprintf(out,
            "usage: progan prepare SRC DATASET --resolution R [options]\n"
            "Converts every JPEG/PNG under the folder SRC (recursive, in path order) into the\n"
            "dataset file DATASET and writes prepare-report.txt beside it.\n\n"
            "  --resolution R      top resolution, a power of two 4..4096 (required)\n"
            "  --channels auto|1|3 output channels (default auto: 3 unless every image is gray)\n"
            "  --crop MODE         center | pad | stretch (default center)\n"
            "  --upscale           keep images whose side is below R/2 (default: skip them)\n"
            "  --max-pixels N      refuse images with more pixels (default 100000000)\n"
            "  --threads N         decoding threads (default: all cores)\n"
            "  --quiet             no progress output\n"
            "  --help              this text\n");
}

static int parse_int(const char *s, long long *v) {
    char *end;
    *v = strtoll(s, &end, 10);
    return *s && !*end;
}

int cmd_prepare(int argc, char **argv) {
    pg_prepare_options o;
    pg_prepare_options_default(&o);
    const char *pos[2] = {0};
    int npos = 0;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v;
        int missing = 0;
        long long n;
        if (!strcmp(a, "--help") || !strcmp(a, "-h")) {
            prepare_usage(stdout);
            return 0;
        } else if (!strcmp(a, "--upscale"))
            o.upscale = 1;
        else if (!strcmp(a, "--quiet"))
            o.quiet = 1;
        else if ((v = cli_flag_value(argc, argv, &i, "--resolution", &missing))) {
            if (!parse_int(v, &n) || n < 1 || n > 1 << 20) goto bad_value;
            o.resolution = (int)n;
        } else if ((v = cli_flag_value(argc, argv, &i, "--channels", &missing))) {
            if (!strcmp(v, "auto"))
                o.channels = 0;
            else if (!strcmp(v, "1") || !strcmp(v, "3"))
                o.channels = atoi(v);
            else
                goto bad_value;
        } else if ((v = cli_flag_value(argc, argv, &i, "--crop", &missing))) {
            if (!strcmp(v, "center"))
                o.crop = PG_CROP_CENTER;
            else if (!strcmp(v, "pad"))
                o.crop = PG_CROP_PAD;
            else if (!strcmp(v, "stretch"))
                o.crop = PG_CROP_STRETCH;
            else
                goto bad_value;
        } else if ((v = cli_flag_value(argc, argv, &i, "--max-pixels", &missing))) {
            if (!parse_int(v, &n) || n < 1) goto bad_value;
            o.max_pixels = n;
        } else if ((v = cli_flag_value(argc, argv, &i, "--threads", &missing))) {
            if (!parse_int(v, &n) || n < 0 || n > 1024) goto bad_value;
            o.threads = (int)n;
        } else if (missing) {
            fprintf(stderr, "progan prepare: %s needs a value\n", a);
            return 2;
        } else if (a[0] == '-' && a[1]) {
            fprintf(stderr, "progan prepare: unknown option '%s' (see progan prepare --help)\n", a);
            return 2;
        } else if (npos < 2)
            pos[npos++] = a;
        else {
            fprintf(stderr, "progan prepare: unexpected argument '%s'\n", a);
            return 2;
        }
        continue;
    bad_value:
        fprintf(stderr, "progan prepare: bad value '%s' for %s (see progan prepare --help)\n", v,
                a);
        return 2;
    }
    if (npos != 2 || !o.resolution) {
        fprintf(stderr, "progan prepare: %s\n\n",
                npos != 2 ? "need SRC and DATASET" : "--resolution is required");
        prepare_usage(stderr);
        return 2;
    }
    o.cancel = &prepare_cancel;
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_signal;
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    pg_status s = pg_prepare_run(pos[0], pos[1], &o);
    if (s != PG_OK) {
        fprintf(stderr, "progan prepare: %s\n", pg_error_message());
        return 1;
    }
    return 0;
}
