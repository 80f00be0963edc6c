#version 450
// The reduction reading its input from a storage buffer (reduce.glsl).
#define PG_TEXEL 0
#extension GL_GOOGLE_include_directive : require
#include "reduce.glsl"
