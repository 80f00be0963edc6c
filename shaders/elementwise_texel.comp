#version 450
// Every elementwise op reading the operands from uniform texel buffers (elementwise.glsl).
#define PG_TEXEL 1
#extension GL_GOOGLE_include_directive : require
#include "elementwise.glsl"
