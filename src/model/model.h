/* src/model: ProGAN's generator and discriminator built on the graph API, and
 * the named parameter registry (names, PyTorch shapes, device layout, gains).
 * Calls src/graph and src/vk. One screen per network: see progan.c. */
#ifndef PROGAN_MODEL_H
#define PROGAN_MODEL_H

#include <math.h>

#include "graph/graph.h"

typedef struct {
    int resolution; /* final resolution R, a power of two 4..1024 */
    int channels;   /* image channels C: 1 or 3 */
    int fmap_base;  /* nf(s) = min(fmap_base / 2^(s * fmap_decay), fmap_max) */
    float fmap_decay;
    int fmap_max;
    int latent;      /* Z; 0 = nf(0) */
    int mbstd_group; /* minibatch-stddev group size (min(group, N) is used) */
} pg_model_config;

/* nf(stage) of the spec. */
int pg_model_nf(const pg_model_config *c, int stage);
int pg_model_latent(const pg_model_config *c);

typedef enum { PG_PARAM_CONV, PG_PARAM_DENSE, PG_PARAM_BIAS } pg_param_kind;

/* One parameter: device layout NHWC-style 4-D (conv [k,k,in,out], dense
 * [out,1,1,in], bias [1,1,1,out]); checkpoints use pt_shape (PyTorch order). */
typedef struct {
    char name[48]; /* "G.b8.conv0.weight" */
    pg_param_kind kind;
    int shape[4]; /* device shape */
    int pt_ndim, pt_shape[4];
    float gain; /* the equalized-LR scale is gain / sqrt(fan_in) */
    int fan_in;
    int resolution;    /* the block it belongs to */
    int spatial_major; /* dense rows (G.b4.dense) or columns (D.b4.dense0) are
                          (y*4+x)*C + c on the device, c*16 + y*4+x in checkpoints */
    uint64_t offset;   /* in floats, inside the network's flat parameter arena */
} pg_param;

#define PG_MAX_PARAMS 128

/* All parameters of one network (G or D) up to the final resolution. */
typedef struct {
    char prefix[4]; /* "G" or "D" */
    int count;
    pg_param params[PG_MAX_PARAMS];
    uint64_t total; /* floats, each tensor aligned to 64 floats (256 bytes) */
} pg_param_set;

pg_status pg_model_config_check(const pg_model_config *c);
void pg_model_generator_params(const pg_model_config *c, pg_param_set *out);
void pg_model_discriminator_params(const pg_model_config *c, pg_param_set *out);
/* Number of scalars (the spec's parameter counts). */
uint64_t pg_param_set_count(const pg_param_set *s);
const pg_param *pg_param_find(const pg_param_set *s, const char *name);
static inline float pg_param_scale(const pg_param *p) {
    return p->gain / sqrtf((float)p->fan_in);
}

/* Device layout <-> PyTorch layout of one parameter (float arrays of its size). */
void pg_param_to_pytorch(const pg_param *p, const float *device, float *pytorch);
void pg_param_from_pytorch(const pg_param *p, const float *pytorch, float *device);
/* N(0,1) weights and zero biases, from Philox keyed by (seed, parameter index). */
void pg_param_set_init(const pg_param_set *s, uint64_t seed, float *arena);

/* The parameters of one network as graph externals over a device buffer. */
typedef struct {
    const pg_param_set *set;
    pg_tensor t[PG_MAX_PARAMS]; /* -1 for parameters the graph does not use */
} pg_net;

/* Binds every parameter of set as an external of g at base + offset. */
void pg_net_bind(pg_graph *g, const pg_param_set *set, const pg_vk_buffer *buffer,
                 uint64_t base_bytes, pg_net *out);

/* G(z) at native resolution res (4..R). alpha: a [1,1,1,1] tensor, the weight
 * of the newest block during a fade, or -1 when stable. z: [N,1,1,Z].
 * Returns the image [N,res,res,C]. */
pg_tensor pg_model_generator(pg_graph *g, const pg_model_config *c, const pg_net *G, pg_tensor z,
                             int res, pg_tensor alpha);
/* D(img) for img [N,res,res,C]: scores [N,1,1,1]. */
pg_tensor pg_model_discriminator(pg_graph *g, const pg_model_config *c, const pg_net *D,
                                 pg_tensor img, int res, pg_tensor alpha);

#endif
