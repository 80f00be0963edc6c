/* libprogan's public interface: include this one header to use the library
 * (the progan command line, the tests and the benchmarks are its users).
 *   base     status codes, messages, logging, Philox random numbers
 *   vk       devices, buffers, pipelines (pg_vk_*)
 *   graph    tensors, ops, autodiff, record-once plans (pg_graph, pg_plan)
 *   model    ProGAN's G and D, parameter registry, renderer, exports
 *   train    options, presets, schedule, pg_train_run, evaluation
 *   data     dataset files, preparation, the minibatch sampler
 *   io       safetensors, images, tfevents, atomic files
 *   metrics  SWD and MS-SSIM */
#ifndef PROGAN_PROGAN_H
#define PROGAN_PROGAN_H

#include "base/base.h"
#include "data/dataset.h"
#include "data/sampler.h"
#include "graph/graph.h"
#include "io/atomic_file.h"
#include "io/image.h"
#include "io/safetensors.h"
#include "io/tfevents.h"
#include "metrics/msssim.h"
#include "metrics/swd.h"
#include "model/generator.h"
#include "model/model.h"
#include "model/snapshot.h"
#include "train/evaluate.h"
#include "train/train.h"

#endif
