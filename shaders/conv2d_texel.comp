#version 450
// The conv2d family reading its operands through uniform texel buffers (conv2d.glsl).
#define PG_TEXEL 1
#extension GL_GOOGLE_include_directive : require
#include "conv2d.glsl"
