/* The tiny model grown all the way to 1024x1024 (fmap 4, decay 0, batch 1,
 * 4 to 8 iterations per phase): no crash through 17 phases, finite losses,
 * an export at every resolution, and at the end no more device memory than
 * the last phase needs (each phase's plans are freed when it ends). */
#include "data/dataset.h"
#include "io/image.h"
#include "testutil.h"
#include "train/train.h"

#include <ctype.h>
#include <dirent.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

int main(void) {
    char root[256], images[300], dataset[300];
    snprintf(root, sizeof root, "/tmp/progan-test-1024-%d", (int)getpid());
    snprintf(images, sizeof images, "%s/images", root);
    snprintf(dataset, sizeof dataset, "%s/big.pgd", root);
    mkdir(root, 0755);
    mkdir(images, 0755);
    unsigned char *px = malloc(1024 * 1024);
    for (int i = 0; i < 2; i++) {
        for (int y = 0; y < 1024; y++)
            for (int x = 0; x < 1024; x++)
                px[y * 1024 + x] = (unsigned char)(128 + 100 * sin((x + 3 * i * y) / 90.0));
        char path[400];
        snprintf(path, sizeof path, "%s/%d.jpg", images, i);
        pg_image_write_jpeg(path, px, 1024, 1024, 1, 90);
    }
    free(px);
    pg_prepare_options po;
    pg_prepare_options_default(&po);
    po.resolution = 1024;
    po.quiet = 1;
    if (!test_check(pg_prepare_run(images, dataset, &po) == PG_OK, "dataset", "%s",
                    pg_error_message()))
        return test_finish("test_train_1024");
    pg_train_options o;
    pg_train_options_preset(&o, "tiny");
    snprintf(o.data, sizeof o.data, "%s", dataset);
    snprintf(o.out, sizeof o.out, "%s/runs", root);
    o.model.resolution = 1024;
    o.model.fmap_base = 4;
    o.model.fmap_decay = 0;
    o.model.fmap_max = 4;
    o.model.latent = 8;
    o.minibatch_base = 1;
    /* The schedule moves every 4 iterations: T = 4 and F = 8 iterations give every
     * resolution a stable block and a fade-in block; the run ends one block into
     * 1024x1024 stable (phase 8 of 12 iterations, + T + F, + 4). */
    o.train_kimg = 0.004;
    o.fade_kimg = 0.008;
    o.total_kimg = 8 * 0.012 + 0.012 + 0.004;
    o.tick_kimg_base = 1; /* one tick, at the end */
    o.grid_rows = 1;
    o.grid_cols = 2;
    pg_log_set_level(PG_LOG_WARN);
    pg_status st = pg_train_run(&o);
    test_check(st == PG_OK, "grow to 1024", "%s", pg_error_message());
    char dir[400] = "", path[700];
    snprintf(path, sizeof path, "%s/runs", root);
    DIR *d = opendir(path);
    for (struct dirent *e; d && (e = readdir(d));)
        if (e->d_name[0] == '0') snprintf(dir, sizeof dir, "%s/%s", path, e->d_name);
    if (d) closedir(d);
    for (int r = 4; r <= 1024; r *= 2) {
        snprintf(path, sizeof path, "%s/snapshots/%dx%d/Gs.safetensors", dir, r, r);
        test_check(access(path, R_OK) == 0, "export per resolution", "%s missing", path);
    }
    /* "phase ... MiB of activations" lines and the device memory of every tick */
    snprintf(path, sizeof path, "%s/log.txt", dir);
    FILE *f = fopen(path, "r");
    char line[1024];
    int phases = 0;
    double last_phase_mib = 0;
    while (f && fgets(line, sizeof line, f)) {
        if (strncmp(line, "phase ", 6) || !isdigit((unsigned char)line[6])) continue;
        phases++;
        char *mib = strstr(line, " MiB of activations");
        while (mib && mib > line && mib[-1] != ' ') mib--;
        if (mib) last_phase_mib = strtod(mib, NULL);
    }
    if (f) fclose(f);
    test_check(phases == 17, "every phase", "%d phases in log.txt, want 17", phases);
    snprintf(path, sizeof path, "%s/stats.jsonl", dir);
    f = fopen(path, "r");
    double mem = -1;
    int finite = 0;
    while (f && fgets(line, sizeof line, f)) {
        char *m = strstr(line, "\"Resources/device_mem_mb\":"),
             *l = strstr(line, "\"Loss/D/loss\"");
        if (m) mem = strtod(m + 26, NULL);
        if (l && (l = strstr(l, "\"mean\":"))) finite = isfinite(strtod(l + 7, NULL));
    }
    if (f) fclose(f);
    /* at the end only the last phase's plans (its activations), the parameters and
     * the grid renderer are allocated: earlier phases' arenas were freed */
    test_check(mem > 0 && mem < last_phase_mib + 128, "memory released",
               "device memory %.1f MiB at the end, the last phase's activations %.1f MiB", mem,
               last_phase_mib);
    test_check(finite, "finite losses", "the last tick's D loss is not finite");
    test_check(pg_vk_validation_message_count() == 0, "validation", "%d messages",
               pg_vk_validation_message_count());
    char cmd[300];
    snprintf(cmd, sizeof cmd, "rm -rf %s", root);
    if (!test_results.failed && system(cmd) != 0) fprintf(stderr, "could not remove %s\n", root);
    return test_finish("test_train_1024");
}
