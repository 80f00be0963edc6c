#version 450
// Pixel norm reading its inputs from storage buffers (pixel_norm.glsl).
#define PG_TEXEL 0
#extension GL_GOOGLE_include_directive : require
#include "pixel_norm.glsl"
