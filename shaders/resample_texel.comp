#version 450
// 2x resampling reading its input from uniform texel buffers (resample.glsl).
#define PG_TEXEL 1
#extension GL_GOOGLE_include_directive : require
#include "resample.glsl"
