/* src/model/inception: pytorch-fid's FID Inception-v3 (the TF FID graph ported
 * to PyTorch: torchvision's Inception3 with FIDInceptionA, C, E_1 and E_2) on
 * the graph API. Weights come from a safetensors file with pytorch-fid's
 * state-dict names (scripts/inception_to_safetensors.py); every name and shape
 * is checked, and batch norms (eps 1e-3) are folded into the convolutions at
 * load time. One pass gives the 2048-d pool features (FID) and the 1008-way
 * logits (IS). Calls src/graph, src/vk, src/io. */
#ifndef PROGAN_MODEL_INCEPTION_H
#define PROGAN_MODEL_INCEPTION_H

#include "graph/graph.h"

#define PG_INCEPTION_FEATURES 2048
#define PG_INCEPTION_CLASSES  1008
#define PG_INCEPTION_SIZE     299 /* pytorch-fid resizes every image to this */
#define PG_INCEPTION_MIN_SIZE 75  /* the smallest input the stride-2 stages accept */

/* Folded weights on the host (and, after _upload, on the device). */
typedef struct pg_inception pg_inception;

/* Reads and checks path; a missing, extra or misshapen tensor (or a truncated
 * or foreign file) is one PG_ERR_FORMAT error naming them all. */
pg_status pg_inception_load(const char *path, pg_inception **out);
/* He-scaled N(0,1) weights, zero biases (benchmarks: the timing does not
 * depend on the values; the features mean nothing). */
pg_status pg_inception_create_random(uint64_t seed, pg_inception **out);
void pg_inception_destroy(pg_inception *net);
/* Hex XXH3-64 of the file's tensor names and bytes: keys cached statistics. */
const char *pg_inception_hash(const pg_inception *net);
/* Number of folded layers (94 convolutions and fc). */
int pg_inception_layer_count(const pg_inception *net);

/* The network over images [N,H,W,3] with values in [0, 1]: bilinear resize to
 * size x size (align_corners=False; PG_INCEPTION_SIZE as pytorch-fid, smaller
 * only for tests), 2x - 1, the network. Weights are externals in buffer, which
 * holds the folded arena (see pg_inception_runner_create). Writes the features
 * [N,1,1,2048] and logits [N,1,1,1008] tensors. */
pg_status pg_inception_graph(pg_graph *g, const pg_inception *net, const pg_vk_buffer *buffer,
                             pg_tensor images, int size, pg_tensor *features, pg_tensor *logits);

/* A plan for batches of `batch` images of res x res with `channels` (1: gray,
 * repeated to RGB, or 3) uint8 values, with its own device copy of the weights. */
typedef struct pg_inception_runner pg_inception_runner;
pg_status pg_inception_runner_create(pg_vk_context *ctx, const pg_inception *net, int batch,
                                     int res, int channels, int size, pg_inception_runner **out);
void pg_inception_runner_destroy(pg_inception_runner *r);
int pg_inception_runner_batch(const pg_inception_runner *r);
/* The per-kernel time table of the last run (with PROGAN_PROFILE=1). */
void pg_inception_runner_profile(pg_inception_runner *r, FILE *out);
/* images [count, res, res, channels] uint8 (count <= batch) -> features
 * [count, 2048] and logits [count, 1008] (either may be NULL). */
pg_status pg_inception_runner_run(pg_inception_runner *r, const uint8_t *images, int count,
                                  float *features, float *logits);

#endif
