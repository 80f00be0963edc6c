#version 450
// 2x resampling reading its input from storage buffers (resample.glsl).
#define PG_TEXEL 0
#extension GL_GOOGLE_include_directive : require
#include "resample.glsl"
