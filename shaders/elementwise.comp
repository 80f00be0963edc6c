#version 450
// Every elementwise op reading the operands from storage buffers (elementwise.glsl).
#define PG_TEXEL 0
#extension GL_GOOGLE_include_directive : require
#include "elementwise.glsl"
