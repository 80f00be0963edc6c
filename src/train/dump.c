/* --dump-step K: everything needed to recompute iteration K in another
 * framework (checkpoint-format.md, "Step dump"): the inputs exactly as fed,
 * the parameters before the step, D as the G step used it, both gradients
 * (from no-update twins of the recorded steps, run on the same inputs) and the
 * losses. */
#include "train/run.h"

#include "io/safetensors.h"

#include <stdlib.h>
#include <string.h>

typedef struct {
    pg_safetensors_writer *w;
    void *owned[4 * PG_MAX_PARAMS + 16];
    int n_owned;
} dump_writer;

static float *keep(dump_writer *d, size_t floats) {
    float *p = calloc(floats ? floats : 1, 4);
    if (p) d->owned[d->n_owned++] = p;
    return p;
}

static pg_status add(dump_writer *d, const char *name, int ndim, const int64_t *shape,
                     const float *data) {
    return pg_safetensors_writer_add(d->w, name, PG_DTYPE_F32, ndim, shape, data);
}

/* Every parameter of set from a device-layout arena (or the step's gradients). */
static pg_status add_params(dump_writer *d, const char *prefix, const pg_param_set *set,
                            const float *arena, const pg_step *grads_of) {
    for (int i = 0; i < set->count; i++) {
        const pg_param *p = &set->params[i];
        size_t n = (size_t)p->shape[0] * p->shape[1] * p->shape[2] * p->shape[3];
        float *dev = NULL, *pt = keep(d, n);
        if (!pt) return PG_FAIL(PG_ERR_OUT_OF_MEMORY, "out of host memory");
        if (grads_of) {
            pg_tensor g = grads_of->grads[i];
            if (g >= 0) dev = (float *)pg_plan_output(grads_of->plan, g);
        } else {
            dev = (float *)arena + p->offset;
        }
        if (dev) pg_param_to_pytorch(p, dev, pt); /* an unused block's gradient is zero */
        char name[128];
        int64_t shape[4];
        for (int k = 0; k < p->pt_ndim; k++) shape[k] = p->pt_shape[k];
        snprintf(name, sizeof name, "%s.%s", prefix, p->name);
        PG_TRY(add(d, name, p->pt_ndim, shape, pt));
    }
    return PG_OK;
}

static pg_status add_scalar(dump_writer *d, const char *name, double v) {
    float *p = keep(d, 1);
    if (!p) return PG_FAIL(PG_ERR_OUT_OF_MEMORY, "out of host memory");
    p[0] = (float)v;
    int64_t one = 1;
    return add(d, name, 1, &one, p);
}

static void meta(dump_writer *d, const char *key, double v) {
    char text[40];
    snprintf(text, sizeof text, "%.9g", v);
    pg_safetensors_writer_set_metadata(d->w, key, text);
}

static pg_status dump_write(pg_run *r, pg_step *dd, pg_step *gd, const float *g_before,
                            const float *d_before, const float *d_after) {
    dump_writer d = {0};
    PG_TRY(pg_safetensors_writer_create(&d.w));
    int n = dd->batch, res = dd->res, c = r->o.model.channels, z = pg_model_latent(&r->o.model);
    float *reals = keep(&d, (size_t)n * c * res * res);
    pg_status st = reals ? PG_OK : PG_FAIL(PG_ERR_OUT_OF_MEMORY, "out of host memory");
    if (st == PG_OK) { /* NHWC as fed -> NCHW */
        const float *in = pg_plan_input(dd->plan, dd->reals);
        for (int i = 0; i < n; i++)
            for (int y = 0; y < res; y++)
                for (int x = 0; x < res; x++)
                    for (int ch = 0; ch < c; ch++)
                        reals[(((size_t)i * c + ch) * res + y) * res + x] =
                            in[(((size_t)i * res + y) * res + x) * c + ch];
        int64_t shape[4] = {n, c, res, res}, lat[2] = {n, z}, one = n;
        st = add(&d, "inputs.reals", 4, shape, reals);
        if (st == PG_OK)
            st = add(&d, "inputs.latents_d", 2, lat, pg_plan_input(dd->plan, dd->latents));
        if (st == PG_OK)
            st = add(&d, "inputs.latents_g", 2, lat, pg_plan_input(gd->plan, gd->latents));
        if (st == PG_OK && dd->mix >= 0)
            st = add(&d, "inputs.gp_mix", 1, &one, pg_plan_input(dd->plan, dd->mix));
    }
    if (st == PG_OK) st = add_params(&d, "params", &r->state.gset, g_before, NULL);
    if (st == PG_OK) st = add_params(&d, "params", &r->state.dset, d_before, NULL);
    if (st == PG_OK) st = add_params(&d, "grads", &r->state.dset, NULL, dd);
    if (st == PG_OK) st = add_params(&d, "gstep", &r->state.dset, d_after, NULL);
    if (st == PG_OK) st = add_params(&d, "grads", &r->state.gset, NULL, gd);
    if (st == PG_OK) st = add_scalar(&d, "scalars.loss_d", pg_plan_output(dd->plan, dd->loss)[0]);
    if (st == PG_OK) st = add_scalar(&d, "scalars.loss_g", pg_plan_output(gd->plan, gd->loss)[0]);
    if (st == PG_OK)
        st = add_scalar(&d, "scalars.gp",
                        dd->penalty >= 0 ? pg_plan_output(dd->plan, dd->penalty)[0] : 0);
    if (st == PG_OK) {
        pg_safetensors_writer_set_metadata(d.w, "kind", "step_dump");
        meta(&d, "resolution", res);
        meta(&d, "alpha", dd->fading ? r->sched.alpha : 1.0);
        meta(&d, "channels", c);
        meta(&d, "latent", z);
        meta(&d, "fmap_base", r->o.model.fmap_base);
        meta(&d, "fmap_decay", r->o.model.fmap_decay);
        meta(&d, "fmap_max", r->o.model.fmap_max);
        meta(&d, "mbstd_group", r->o.model.mbstd_group < n ? r->o.model.mbstd_group : n);
        meta(&d, "gp_lambda", r->o.gp_lambda);
        meta(&d, "drift", r->o.drift);
        meta(&d, "gp_norm_divisor",
             r->o.gp_target_space ? (double)r->o.model.resolution / res : 1.0);
        meta(&d, "step", (double)(r->p.iteration - 1));
        char *config = pg_train_options_to_json(&r->o);
        pg_safetensors_writer_set_metadata(d.w, "config", config);
        free(config);
        char path[4300];
        snprintf(path, sizeof path, "%s/step-%lld.safetensors", r->run_dir,
                 (long long)(r->p.iteration - 1));
        st = pg_safetensors_writer_write(d.w, path);
        if (st == PG_OK) pg_log(PG_LOG_INFO, "step dump: %s", path);
    }
    pg_safetensors_writer_destroy(d.w);
    for (int i = 0; i < d.n_owned; i++) free(d.owned[i]);
    return st;
}

pg_status pg_run_dump(pg_run *r) {
    pg_step dd, gd;
    float *g_before = NULL, *d_before = NULL, *d_after = NULL;
    const pg_schedule *s = &r->sched;
    PG_TRY(pg_step_create(r->ctx, &r->o, &r->state, s->resolution, s->batch, s->fading, 1, 0, &dd));
    pg_status st =
        pg_step_create(r->ctx, &r->o, &r->state, s->resolution, s->batch, s->fading, 0, 0, &gd);
    if (st == PG_OK) st = pg_state_download(r->ctx, &r->state.G, &r->state.gset, &g_before);
    if (st == PG_OK) st = pg_state_download(r->ctx, &r->state.D, &r->state.dset, &d_before);
    if (st == PG_OK) st = pg_run_d_step(r, &dd);
    for (int k = 1; st == PG_OK && k < r->o.n_critic; k++) st = pg_run_d_step(r, NULL);
    if (st == PG_OK) st = pg_state_download(r->ctx, &r->state.D, &r->state.dset, &d_after);
    if (st == PG_OK) st = pg_run_g_step(r, &gd);
    if (st == PG_OK) st = dump_write(r, &dd, &gd, g_before, d_before, d_after);
    free(g_before), free(d_before), free(d_after);
    pg_step_destroy(&dd);
    pg_step_destroy(&gd);
    return st;
}
