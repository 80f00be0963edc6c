/* The generator renderer (see generator.h): one recorded plan per resolution. */
#include "model/generator.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

struct pg_renderer {
    pg_graph *graph;
    pg_plan *plan;
    pg_tensor z, alpha, image;
    int batch, z_dim;
    float alpha_value;
    size_t image_floats;
};

void pg_latent_from_seed(uint64_t seed, int z_dim, float *out) {
    for (int i = 0; i < z_dim; i++)
        out[i] = pg_rand_normal(seed, 0, PG_RAND_STREAM_LATENT, (uint64_t)i);
}

void pg_latent_from_seed_truncated(uint64_t seed, int z_dim, float threshold, float *out) {
    for (int i = 0; i < z_dim; i++) {
        float v = pg_rand_normal(seed, 0, PG_RAND_STREAM_LATENT, (uint64_t)i);
        for (uint64_t k = 1; fabsf(v) > threshold && k < 1000000; k++)
            v = pg_rand_normal(seed, k, PG_RAND_STREAM_LATENT, (uint64_t)i);
        out[i] = v;
    }
}

pg_status pg_renderer_create(pg_vk_context *ctx, const pg_model_config *c, const pg_param_set *set,
                             const pg_vk_buffer *buffer, uint64_t base_bytes, int res, int batch,
                             float alpha_value, pg_renderer **out) {
    return pg_renderer_create_with(ctx, c, set, buffer, base_bytes, res, batch, alpha_value, NULL,
                                   out);
}

pg_status pg_renderer_create_with(pg_vk_context *ctx, const pg_model_config *c,
                                  const pg_param_set *set, const pg_vk_buffer *buffer,
                                  uint64_t base_bytes, int res, int batch, float alpha_value,
                                  const pg_plan_config *cfg, pg_renderer **out) {
    *out = NULL;
    pg_renderer *r = calloc(1, sizeof *r);
    if (!r) return PG_FAIL(PG_ERR_OUT_OF_MEMORY, "out of host memory");
    r->graph = pg_graph_create();
    r->batch = batch;
    r->z_dim = pg_model_latent(c);
    r->alpha_value = alpha_value;
    pg_net G;
    pg_net_bind(r->graph, set, buffer, base_bytes, &G);
    r->z = pg_input(r->graph, "latents", batch, 1, 1, r->z_dim);
    r->alpha = alpha_value < 1.0f ? pg_input(r->graph, "alpha", 1, 1, 1, 1) : -1;
    r->image = pg_model_generator(r->graph, c, &G, r->z, res, r->alpha);
    r->image_floats = (size_t)batch * res * res * c->channels;
    pg_status st = pg_plan_create_with(ctx, r->graph, &r->image, 1, cfg, &r->plan);
    if (st != PG_OK) {
        pg_renderer_destroy(r);
        return st;
    }
    if (r->alpha >= 0) pg_plan_input(r->plan, r->alpha)[0] = alpha_value;
    *out = r;
    return PG_OK;
}

void pg_renderer_destroy(pg_renderer *r) {
    if (!r) return;
    pg_plan_destroy(r->plan);
    pg_graph_destroy(r->graph);
    free(r);
}

void pg_renderer_set_alpha(pg_renderer *r, float alpha) {
    if (r->alpha >= 0) pg_plan_input(r->plan, r->alpha)[0] = alpha;
}

int pg_renderer_batch(const pg_renderer *r) {
    return r->batch;
}

pg_status pg_renderer_run(pg_renderer *r, const float *latents, float *images) {
    memcpy(pg_plan_input(r->plan, r->z), latents, (size_t)r->batch * r->z_dim * sizeof(float));
    PG_TRY(pg_plan_run(r->plan));
    memcpy(images, pg_plan_output(r->plan, r->image), r->image_floats * sizeof(float));
    return PG_OK;
}
