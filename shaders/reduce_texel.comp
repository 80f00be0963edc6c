#version 450
// The reduction reading its input from a uniform texel buffer (reduce.glsl).
#define PG_TEXEL 1
#extension GL_GOOGLE_include_directive : require
#include "reduce.glsl"
