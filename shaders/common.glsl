#include "codes.h"

// Shared by every kernel: the linear workgroup id of a 2-D grid (grids wider
// than maxComputeWorkGroupCount[0] wrap into y; see pg_dispatch_grid).
uint linear_group_id() {
    return gl_WorkGroupID.y * gl_NumWorkGroups.x + gl_WorkGroupID.x;
}

// Index of a thread in a 1-D launch of groups of `local` threads.
uint linear_thread_id(uint local) {
    return linear_group_id() * local + gl_LocalInvocationID.x;
}
