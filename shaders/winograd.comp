#version 450
// Winograd F(2,3) 3x3 convolutions reading their operands from storage buffers (winograd.glsl).
#define PG_TEXEL 0
#extension GL_GOOGLE_include_directive : require
#include "winograd.glsl"
