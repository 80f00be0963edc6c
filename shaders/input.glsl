// Read-only inputs that a kernel reads either from storage buffers or, in its
// texel module (PG_TEXEL 1: NAME_texel.comp beside NAME.comp), through uniform
// texel buffers: on lavapipe a texelFetch is one vector gather where a storage
// load loops over the SIMD lanes (README, "Kernel variants").
//   PG_INPUT(B, N)   declares input N at binding B
//   PG_LOAD(N, i)    float i of N (an R32F view in the texel module)
//   PG_LOAD4(N, i)   vec4 i of N (an RGBA32F view in the texel module)
// In the texel module the C side picks each view's format (pg_vk_binding_kind)
// to match the loads its specialization runs.
#if PG_TEXEL
#define PG_INPUT(B, N) layout(binding = B) uniform samplerBuffer N##_texels;
#define PG_LOAD(N, i)  texelFetch(N##_texels, int(i)).x
#define PG_LOAD4(N, i) texelFetch(N##_texels, int(i))
#else
#define PG_INPUT(B, N)                                                    \
    layout(std430, binding = B) readonly buffer N##_floats { float N[]; }; \
    layout(std430, binding = B) readonly buffer N##_vec4s { vec4 N##4[]; };
#define PG_LOAD(N, i)  N[i]
#define PG_LOAD4(N, i) N##4[i]
#endif
