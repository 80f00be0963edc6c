/* The training schedule: lod, resolution, alpha, minibatch, learning rate and
 * tick length as a pure function of the images shown, like TrainingSchedule in
 * the reference's train.py (progan-spec.md, "Optimiser, moving average, schedule"). */
#include "train/train.h"

#include <math.h>
#include <stdio.h>

static int log2_int(int v) {
    int l = 0;
    while ((1 << l) < v) l++;
    return l;
}

pg_schedule pg_schedule_at(const pg_train_options *o, double kimg) {
    pg_schedule s = {0};
    int top = log2_int(o->model.resolution);
    double phase_dur = o->train_kimg + o->fade_kimg;
    int phase = phase_dur > 0 ? (int)floor(kimg / phase_dur) : 0;
    double phase_kimg = kimg - phase * phase_dur;
    s.kimg = kimg;
    s.lod = top - 2 - phase;
    if (o->fade_kimg > 0) s.lod -= fmax(phase_kimg - o->train_kimg, 0.0) / o->fade_kimg;
    if (s.lod < 0) s.lod = 0;
    int l = top - (int)floor(s.lod);
    s.resolution = 1 << l;
    double frac = s.lod - floor(s.lod);
    s.fading = frac > 0;
    s.alpha = (float)(1.0 - frac);
    s.frac = (float)frac < 1.0f ? (float)frac : 0.99999994f; /* rounding must not reach 1 */
    s.batch = o->minibatch[l] > 0 ? o->minibatch[l] : o->minibatch_base;
    s.lr = o->lr[l] > 0 ? o->lr[l] : o->lr_base;
    s.tick_kimg = o->tick_kimg[l] > 0 ? o->tick_kimg[l] : o->tick_kimg_base;
    return s;
}

void pg_schedule_print_timeline(const pg_train_options *o, FILE *out) {
    fprintf(out, "%12s %12s %10s %8s %7s %10s %9s\n", "kimg from", "kimg to", "resolution", "phase",
            "batch", "lr", "tick kimg");
    int top = log2_int(o->model.resolution);
    double start = 0;
    for (int l = 2; l <= top && start < o->total_kimg; l++) {
        for (int fading = (l > 2); fading >= 0; fading--) {
            double len = fading ? o->fade_kimg : o->train_kimg;
            double end = (l == top && !fading) ? o->total_kimg : start + len;
            if (end > o->total_kimg) end = o->total_kimg;
            if (end <= start && !(l == top && !fading)) continue;
            pg_schedule s = pg_schedule_at(o, start + 1e-9);
            fprintf(out, "%12.1f %12.1f %10d %8s %7d %10.5f %9.1f\n", start, end, 1 << l,
                    fading ? "fade-in" : "stable", s.batch, s.lr, s.tick_kimg);
            start = end;
            if (start >= o->total_kimg) break;
        }
    }
}
