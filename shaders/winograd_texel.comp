#version 450
// Winograd F(2,3) 3x3 convolutions reading their operands from uniform texel buffers (winograd.glsl).
#define PG_TEXEL 1
#extension GL_GOOGLE_include_directive : require
#include "winograd.glsl"
