#include "codes.h"

// Shared by every kernel: the linear workgroup id of a 3-D grid (grids wider
// than maxComputeWorkGroupCount wrap into y, then z; see pg_dispatch_grid).
// The last row has extra workgroups: every kernel returns for ids past its work.
uint linear_group_id() {
    return (gl_WorkGroupID.z * gl_NumWorkGroups.y + gl_WorkGroupID.y) * gl_NumWorkGroups.x +
           gl_WorkGroupID.x;
}

// Whether x is a finite float, decided on its bits: exponent not all ones.
// isnan/isinf may be folded to false by drivers (no SignedZeroInfNanPreserve).
bool finite_bits(float x) {
    return (floatBitsToUint(x) & 0x7f800000u) != 0x7f800000u;
}

// n / d for a divisor d fixed per dispatch, given as the pair the C side makes
// with pg_fastdiv_magic (src/graph/graph.c): one multiply-high, where lavapipe
// runs an integer division lane by lane. Exact for n, d < 2^31.
uint pg_fastdiv(uint n, uvec2 magic) {
    uint hi, lo;
    umulExtended(n, magic.x, hi, lo);
    return (hi + n) >> magic.y;
}

// Index of a thread in a 1-D launch of groups of `local` threads.
uint linear_thread_id(uint local) {
    return linear_group_id() * local + gl_LocalInvocationID.x;
}
