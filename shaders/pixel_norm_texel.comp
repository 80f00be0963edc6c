#version 450
// Pixel norm reading its inputs from uniform texel buffers (pixel_norm.glsl).
#define PG_TEXEL 1
#extension GL_GOOGLE_include_directive : require
#include "pixel_norm.glsl"
