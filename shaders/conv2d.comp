#version 450
// The conv2d family reading its operands from storage buffers (conv2d.glsl).
#define PG_TEXEL 0
#extension GL_GOOGLE_include_directive : require
#include "conv2d.glsl"
