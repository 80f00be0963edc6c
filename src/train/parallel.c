/* Data parallelism and micro-batches (issue 12, the official train.py
 * semantics): the global batch is split over ranks, each rank's share into
 * micro-batches; every part runs a gradient-only step, the gradients are summed
 * in a fixed order (micro-batches, then ranks through src/dist) and divided by
 * the number of parts, and every rank applies the same update. Samples are
 * keyed by their global index, laid out so that minibatch-stddev groups stay
 * whole: the step is the one-process step at the global batch, in parts. */
#include "dist/dist.h"
#include "train/run.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <xxhash.h>

#define PAR_STATS 6

/* keys[m * b + l] = global index of sample l of micro-batch m of this rank. With
 * S = B / group groups of the global batch laid out as i % S (the mbstd
 * kernel's grouping), part p takes groups p*q..(p+1)*q-1 (q = S / parts) and
 * keeps their layout; otherwise contiguous slices (groups then shrink). */
static int keys_fill(uint64_t *keys, int batch, int group, int parts, int rank, int micro) {
    int g = PG_MIN(group, batch), S = batch / g, b = batch / parts, whole = S % parts == 0;
    for (int m = 0; m < micro; m++) {
        int p = rank * micro + m;
        for (int l = 0; l < b; l++) {
            int q = S / parts;
            keys[(size_t)m * b + l] =
                whole ? (uint64_t)(l / q) * S + (uint64_t)p * q + l % q : (uint64_t)p * b + l;
        }
    }
    return whole;
}

pg_status pg_par_layout(pg_run *r, const pg_schedule *s, int micro) {
    int B = s->batch, P = r->ranks * micro;
    if (B % P)
        return PG_FAIL(PG_ERR_INVALID,
                       "the batch %d at %dx%d does not split into %d rank(s) x %d "
                       "micro-batch(es): give a --batch divisible by %d or another "
                       "--micro-batch",
                       B, s->resolution, s->resolution, r->ranks, micro, P);
    r->micro = micro, r->part_batch = B / P, r->share = B / r->ranks, r->parted = P > 1 || r->lean;
    free(r->keys);
    r->keys = NULL;
    r->batch_note[0] = 0;
    if (!r->parted) return PG_OK;
    r->keys = malloc((size_t)r->share * sizeof *r->keys);
    if (!r->keys) return PG_FAIL(PG_ERR_OUT_OF_MEMORY, "out of host memory");
    int group = r->o.model.mbstd_group;
    if (!keys_fill(r->keys, B, group, P, r->rank, micro))
        pg_log(PG_LOG_WARN,
               "batch %d at %dx%d: minibatch-stddev groups of %d cannot stay whole over %d "
               "parts of %d; each part groups its own samples (not the one-process result)",
               B, s->resolution, s->resolution, PG_MIN(group, B), P, r->part_batch);
    if (r->ranks > 1 && micro > 1)
        snprintf(r->batch_note, sizeof r->batch_note, "(%d ranks x %d x %d)", r->ranks, micro,
                 r->part_batch);
    else if (r->ranks > 1)
        snprintf(r->batch_note, sizeof r->batch_note, "(%d ranks x %d)", r->ranks, r->share);
    else
        snprintf(r->batch_note, sizeof r->batch_note, "(%d x %d)", micro, r->part_batch);
    return PG_OK;
}

/* Floats of the packed gradients of a step (the parameters it trains here). */
static size_t packed_floats(const pg_step *st, const pg_param_set *set) {
    size_t n = 0;
    for (int i = 0; i < set->count; i++)
        if (st->grads[i] >= 0) n += (size_t)pg_tensor_numel(st->graph, st->grads[i]);
    return n;
}

/* (Re)allocates the parted phase's host-visible buffer for at least bytes. */
static pg_status grads_buffer_fit(pg_run *r, uint64_t bytes) {
    if (r->grads.buffer && r->grads.size >= bytes) return PG_OK;
    pg_vk_buffer_destroy(r->ctx, &r->grads);
    PG_TRY(pg_vk_buffer_create(r->ctx, bytes, PG_VK_MEMORY_READBACK, &r->grads));
    memset(r->grads.mapped, 0, r->grads.size);
    return PG_OK;
}

/* The gradient-only steps and the updates of a parted phase. They run one at a
 * time (each run is waited for), so the four plans share one arena, as large as
 * the largest, and one host-visible buffer: each step's gradients are read back
 * into it and summed on the host before the update's gradients are written
 * there; lean phases (--micro-batch auto) order their kernels to keep few bytes
 * alive. */
pg_status pg_par_steps_create(pg_run *r, const pg_schedule *s) {
    pg_train_state *t = &r->state;
    int b = r->part_batch, res = s->resolution, used_d[PG_MAX_PARAMS], used_g[PG_MAX_PARAMS];
    const char *env = getenv("PROGAN_LEAN"); /* tests: lean plans in every parted phase */
    int lean = r->lean || (env && *env && strcmp(env, "0"));
    pg_plan_config cfg = {.lean = lean};
    uint64_t d[3], g[3], ud[3], ug[3];
    PG_TRY(pg_step_measure(r->ctx, &r->o, t, res, b, s->fading, 1, 0, &cfg, d, NULL, used_d));
    PG_TRY(pg_step_measure(r->ctx, &r->o, t, res, b, s->fading, 0, 0, &cfg, g, NULL, used_g));
    uint64_t params = 4 * PG_MAX(t->gset.total, t->dset.total);
    PG_TRY(grads_buffer_fit(r, PG_MAX(params, PG_MAX(d[2], g[2]))));
    PG_TRY(pg_step_update_measure(r->ctx, &r->o, t, res, 1, &r->grads, used_d, ud));
    PG_TRY(pg_step_update_measure(r->ctx, &r->o, t, res, 0, &r->grads, used_g, ug));
    cfg.reserve_bytes = PG_MAX(PG_MAX(d[0], g[0]), PG_MAX(ud[0], ug[0]));
    cfg.readback = &r->grads;
    PG_TRY(pg_step_create_with(r->ctx, &r->o, t, res, b, s->fading, 1, 0, &cfg, &r->d_step));
    pg_plan_config shared = {.lean = lean, .share = r->d_step.plan, .readback = &r->grads};
    PG_TRY(pg_step_create_with(r->ctx, &r->o, t, res, b, s->fading, 0, 0, &shared, &r->g_step));
    shared.lean = 0, shared.readback = NULL; /* (updates read the gradients from it) */
    PG_TRY(
        pg_step_update_create(r->ctx, &r->o, t, res, 1, &r->grads, used_d, &shared, &r->d_update));
    PG_TRY(
        pg_step_update_create(r->ctx, &r->o, t, res, 0, &r->grads, used_g, &shared, &r->g_update));
    size_t n = PG_MAX(packed_floats(&r->d_step, &t->dset), packed_floats(&r->g_step, &t->gset));
    free(r->acc);
    r->acc = malloc(n * sizeof *r->acc + 4);
    r->acc_floats = n;
    if (!r->acc) return PG_FAIL(PG_ERR_OUT_OF_MEMORY, "out of host memory for gradients");
    pg_log(PG_LOG_INFO,
           "%dx%d: %s steps of %d sharing one arena of %.1f MiB (D step %.1f, G step %.1f, "
           "updates %.1f MiB) and %.1f MiB of host-visible gradients",
           res, res, lean ? "lean" : "gradient", b, cfg.reserve_bytes / 1048576.0, d[0] / 1048576.0,
           g[0] / 1048576.0, PG_MAX(ud[0], ug[0]) / 1048576.0, r->grads.size / 1048576.0);
    return PG_OK;
}

void pg_par_destroy(pg_run *r) {
    pg_step_destroy(&r->d_update);
    pg_step_destroy(&r->g_update);
    if (r->ctx) pg_vk_buffer_destroy(r->ctx, &r->grads);
    free(r->acc), free(r->keys);
    r->acc = NULL, r->keys = NULL;
}

static double out_or_nan(pg_step *st, pg_tensor t) {
    return t >= 0 ? pg_plan_output(st->plan, t)[0] : 0.0 / 0.0;
}

/* Adds one micro-batch's gradients into the packed sum (the first one copies). */
static void grads_accumulate(pg_run *r, pg_step *st, const pg_param_set *set, int first) {
    size_t at = 0;
    for (int i = 0; i < set->count; i++) {
        if (st->grads[i] < 0) continue;
        size_t n = (size_t)pg_tensor_numel(st->graph, st->grads[i]);
        const float *g = pg_plan_output(st->plan, st->grads[i]);
        float *a = r->acc + at;
        if (first)
            memcpy(a, g, n * sizeof *a);
        else
            for (size_t k = 0; k < n; k++) a[k] += g[k];
        at += n;
    }
}

/* Runs every micro-batch of this rank's share through the gradient-only step;
 * stats[] gets the global means of loss, scores, penalty and GP norm. */
static pg_status grads_compute(pg_run *r, int discriminator, float lr, double *stats) {
    pg_step *st = discriminator ? &r->d_step : &r->g_step;
    const pg_param_set *set = discriminator ? &r->state.dset : &r->state.gset;
    for (int k = 0; k < PAR_STATS; k++) stats[k] = 0;
    for (int m = 0; m < r->micro; m++) {
        PG_TRY(pg_step_feed_part(r, st, discriminator, lr, m * r->part_batch));
        PG_TRY(pg_plan_run(st->plan));
        grads_accumulate(r, st, set, m == 0);
        pg_tensor outs[PAR_STATS] = {st->loss,        st->score_real, st->score_fake,
                                     st->score_mixed, st->penalty,    st->grad_norm};
        for (int k = 0; k < PAR_STATS; k++) stats[k] += out_or_nan(st, outs[k]);
    }
    PG_TRY(pg_dist_sum_doubles(stats, PAR_STATS));
    for (int k = 0; k < PAR_STATS; k++) stats[k] /= (double)r->micro * r->ranks;
    return PG_OK;
}

/* Sums the packed gradients over ranks (fixed order), divides by the number of
 * parts, places them in the host-visible gradient buffer and runs the update. */
static pg_status grads_apply(pg_run *r, int discriminator, float lr, double *grad_sq) {
    pg_step *st = discriminator ? &r->d_step : &r->g_step;
    pg_step *up = discriminator ? &r->d_update : &r->g_update;
    const pg_param_set *set = discriminator ? &r->state.dset : &r->state.gset;
    float *dst = r->grads.mapped;
    size_t n = packed_floats(st, set), at = 0;
    PG_TRY(pg_dist_sum_floats(r->acc, n, 1.0f / (float)(r->micro * r->ranks)));
    for (int i = 0; i < set->count; i++) {
        if (st->grads[i] < 0) continue;
        size_t len = (size_t)pg_tensor_numel(st->graph, st->grads[i]);
        size_t from = set->params[i].offset,
               next = i + 1 < set->count ? set->params[i + 1].offset : from + len;
        memcpy(dst + from, r->acc + at, len * sizeof *dst);
        /* zeros up to the next tensor: the updates' norm covers the gap, and the
         * step's readback left other values there */
        memset(dst + from + len, 0, (next - from - len) * sizeof *dst);
        at += len;
    }
    pg_plan_input(up->plan, up->lr)[0] = lr;
    PG_TRY(pg_plan_run(up->plan));
    *grad_sq = pg_plan_output(up->plan, up->grad_sq)[0];
    return PG_OK;
}

static void stats_add(pg_run *r, const double *v, const int *which) {
    for (int k = 0; k < PAR_STATS; k++)
        if (which[k] >= 0) pg_run_stat_add(&r->stats[which[k]], v[k]);
}

pg_status pg_par_d_step(pg_run *r, float lr) {
    double v[PAR_STATS], grad_sq;
    PG_TRY(grads_compute(r, 1, lr, v));
    PG_TRY(grads_apply(r, 1, lr, &grad_sq));
    static const int which[PAR_STATS] = {STAT_LOSS_D,      STAT_SCORE_REAL, STAT_SCORE_FAKE,
                                         STAT_SCORE_MIXED, STAT_PENALTY,    STAT_GP_NORM};
    stats_add(r, v, which);
    pg_run_stat_add(&r->stats[STAT_GRAD_D], sqrt(grad_sq));
    if (isfinite(grad_sq))
        r->p.adam_t_d++;
    else
        r->p.skipped_d++;
    return PG_OK;
}

pg_status pg_par_g_step(pg_run *r, float lr) {
    double v[PAR_STATS], grad_sq;
    PG_TRY(grads_compute(r, 0, lr, v));
    PG_TRY(grads_apply(r, 0, lr, &grad_sq));
    static const int which[PAR_STATS] = {STAT_LOSS_G, -1, -1, -1, -1, -1};
    stats_add(r, v, which);
    pg_run_stat_add(&r->stats[STAT_GRAD_G], sqrt(grad_sq));
    if (isfinite(grad_sq))
        r->p.adam_t_g++;
    else
        r->p.skipped_g++;
    return PG_OK;
}

/* Hash of G, D, Gs and the optimizer moments as this rank holds them. */
static pg_status state_hash(pg_run *r, uint64_t *out) {
    pg_train_state *t = &r->state;
    const pg_vk_buffer *b[7] = {&t->G, &t->D, &t->Gs, &t->G_m, &t->G_v, &t->D_m, &t->D_v};
    XXH3_state_t *h = XXH3_createState();
    float *host = malloc(PG_MAX(t->gset.total, t->dset.total) * 4);
    pg_status st = h && host ? PG_OK : PG_FAIL(PG_ERR_OUT_OF_MEMORY, "out of host memory");
    if (st == PG_OK) XXH3_64bits_reset(h);
    for (int i = 0; st == PG_OK && i < 7; i++) {
        size_t bytes = 4 * ((i == 1 || i >= 5) ? t->dset.total : t->gset.total);
        st = pg_vk_download(r->ctx, (pg_vk_range){b[i], 0, bytes}, host);
        if (st == PG_OK) XXH3_64bits_update(h, host, bytes);
    }
    if (st == PG_OK) *out = XXH3_64bits_digest(h);
    XXH3_freeState(h);
    free(host);
    return st;
}

pg_status pg_par_check_replicas(pg_run *r, int final) {
    if (r->ranks < 2) return PG_OK;
    uint64_t h = 0;
    PG_TRY(state_hash(r, &h));
    PG_TRY(pg_dist_check_same(h, "the parameters and optimizer moments"));
    if (final)
        pg_log(PG_LOG_INFO,
               "replicas identical: the %d ranks hold the same parameters and "
               "moments (hash %016llx)",
               r->ranks, (unsigned long long)h);
    return PG_OK;
}

/* The largest device-local heap as the device (or its emulation) reports it. */
static uint64_t device_heap(const pg_vk_info *info) {
    uint64_t best = 0, any = 0;
    for (uint32_t i = 0; i < info->heap_count; i++) {
        any = PG_MAX(any, info->heap_size[i]);
        if (info->heap_device_local[i]) best = PG_MAX(best, info->heap_size[i]);
    }
    return best ? best : any;
}

/* Device bytes of one way to run a phase in micro-batches of b: the activation
 * arena(s), the staging of the plans and (parted) the host-visible gradients. A
 * parted phase shares one arena between its steps and updates and one buffer
 * between the steps' readback and the updates' gradients (the updates measured
 * against a stand-in for it: nothing is allocated). */
static pg_status phase_bytes(pg_run *r, const pg_schedule *s, int b, int parted, int lean,
                             uint64_t *arena, uint64_t *other) {
    pg_train_state *t = &r->state;
    pg_plan_config cfg = {.lean = lean};
    uint64_t d[3], g[3], ud[3] = {0, 0, 0}, ug[3] = {0, 0, 0};
    int res = s->resolution, used_d[PG_MAX_PARAMS], used_g[PG_MAX_PARAMS];
    PG_TRY(pg_step_measure(r->ctx, &r->o, t, res, b, s->fading, 1, !parted, &cfg, d, NULL, used_d));
    PG_TRY(pg_step_measure(r->ctx, &r->o, t, res, b, s->fading, 0, !parted, &cfg, g, NULL, used_g));
    pg_vk_buffer grads = {.size = 4 * PG_MAX(t->dset.total, t->gset.total)};
    grads.size = PG_MAX(grads.size, PG_MAX(d[2], g[2]));
    if (parted) {
        PG_TRY(pg_step_update_measure(r->ctx, &r->o, t, res, 1, &grads, used_d, ud));
        PG_TRY(pg_step_update_measure(r->ctx, &r->o, t, res, 0, &grads, used_g, ug));
    }
    *arena = parted ? PG_MAX(PG_MAX(d[0], g[0]), PG_MAX(ud[0], ug[0])) : d[0] + g[0];
    *other = d[1] + g[1] + ud[1] + ud[2] + ug[1] + ug[2] + (parted ? grads.size : d[2] + g[2]);
    return PG_OK;
}

/* --micro-batch auto: the fewest micro-batches (the largest micro-batch) whose
 * steps, as the planner lays them out, fit beside the persistent state in 90%
 * of the device's heap; when the default plans of one sample do not fit, lean
 * plans (pg_plan_config.lean) are tried. Sets r->lean. */
pg_status pg_par_micro_auto(pg_run *r, const pg_schedule *s, int *micro) {
    pg_train_state *t = &r->state;
    uint64_t heap = device_heap(&r->ctx->info);
    uint64_t state = 4 * (4 * t->gset.total + 3 * t->dset.total); /* G, Gs, moments; D, moments */
    uint64_t budget = heap / 10 * 9 > state ? heap / 10 * 9 - state : 0;
    int share = s->batch / r->ranks;
    uint64_t arena = 0, other = 0;
    for (int lean = 0; lean < 2; lean++)
        for (int m = 1; m <= share; m++) {
            if (share % m) continue;
            int parted = r->ranks * m > 1 || lean, b = share / m;
            pg_status st = phase_bytes(r, s, b, parted, lean, &arena, &other);
            if (st != PG_OK && st != PG_ERR_UNSUPPORTED)
                return st; /* a tensor over a device limit: smaller parts */
            if (st != PG_OK || arena + other > budget) continue;
            *micro = m, r->lean = lean;
            pg_log(PG_LOG_INFO,
                   "micro-batch auto at %dx%d %s: %d micro-batch(es) of %d%s, %.1f MiB of "
                   "activations + %.1f MiB of staging and gradients within %.1f MiB (heap "
                   "%.1f MiB less %.1f MiB of state)",
                   s->resolution, s->resolution, s->fading ? "fade-in" : "stable", m, b,
                   lean ? " (lean plans)" : "", arena / 1048576.0, other / 1048576.0,
                   budget / 1048576.0, heap / 1048576.0, state / 1048576.0);
            return PG_OK;
        }
    return PG_FAIL(PG_ERR_OUT_OF_MEMORY,
                   "%dx%d: even micro-batches of one sample do not fit (lean plans: %.1f MiB of "
                   "activations + %.1f MiB of staging and gradients; the device's heap of %.1f "
                   "MiB leaves %.1f MiB beside the state, and its buffer limits apply): use a "
                   "device with more memory",
                   s->resolution, s->resolution, arena / 1048576.0, other / 1048576.0,
                   heap / 1048576.0, budget / 1048576.0);
}

/* --dry-run --micro-batch auto: the micro-batches every phase would use on this
 * device (the graphs are built and planned, nothing is allocated). */
pg_status pg_train_plan_memory(const pg_train_options *o) {
    pg_run *r = calloc(1, sizeof *r);
    if (!r) return PG_FAIL(PG_ERR_OUT_OF_MEMORY, "out of host memory");
    r->o = *o, r->ranks = 1;
    pg_model_generator_params(&o->model, &r->state.gset);
    pg_model_discriminator_params(&o->model, &r->state.dset);
    pg_status st = pg_vk_context_create(o->device, &r->ctx), failed = PG_OK;
    for (int l = 2; st == PG_OK && (1 << l) <= o->model.resolution; l++)
        for (int fading = l > 2; fading >= 0; fading--) {
            pg_schedule s = {.resolution = 1 << l, .fading = fading};
            s.batch = o->minibatch[l] > 0 ? o->minibatch[l] : o->minibatch_base;
            int micro = 0;
            pg_status one = pg_par_micro_auto(r, &s, &micro);
            if (one != PG_OK) pg_log(PG_LOG_ERROR, "%s", pg_error_message());
            if (one != PG_OK && failed == PG_OK) failed = one;
        }
    if (r->ctx) pg_vk_context_destroy(r->ctx);
    free(r);
    return st != PG_OK ? st : failed;
}
