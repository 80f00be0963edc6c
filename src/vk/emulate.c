/* Limits emulation: PROGAN_EMULATE=amd|intel|apple|nvidia|min makes the device
 * report (and, since every reader of limits goes through pg_vk_info, obey)
 * another vendor's limits wherever they are tighter than its own, so lavapipe
 * runs the tiling, grid wrapping, arena chunking and kernel choices a real GPU
 * would take. PROGAN_EMULATE_GROUPS=N shrinks maxComputeWorkGroupCount[0]
 * further (below any real device) so small test shapes wrap the grid;
 * PROGAN_EMULATE_HEAP_MB=N shrinks the device-local heap to N MiB (what fits
 * on a small GPU: --micro-batch auto plans for it, allocations past it fail). */
#include "vk/vk.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct {
    const char *name;
    uint32_t workgroup_count[3], workgroup_size[3], invocations;
    uint32_t shared_memory, push_constants, storage_buffers, timestamp_bits;
    uint64_t storage_buffer_range, allocation_size, heap_size;
    uint32_t texel_elements; /* maxTexelBufferElements */
} vendor_limits;

/* Sources: gpuinfo.org Vulkan reports (vulkan.gpuinfo.org, "limits" and
 * "memory" tabs) for one common device per vendor, and the Vulkan 1.1 spec's
 * "Required Limits" table for `min`. The values were transcribed from those
 * reports, not read from hardware here (this machine has only lavapipe), and
 * agree with ../shared/docs/vulkan-notes.md; recheck a value on gpuinfo.org
 * before a decision depends on it.
 *  nvidia: GeForce RTX 3090, proprietary driver 5xx on Linux (24 GiB heap).
 *  amd:    Radeon RX 6800 XT, Mesa RADV (16 GiB heap).
 *  intel:  UHD Graphics 620, Mesa ANV (shares system memory: a 6 GiB heap of 8).
 *  apple:  Apple M1, MoltenVK 1.2 (Metal's 31 buffer slots; ~5.3 GiB working set).
 *  min:    the spec's required minimums (timestampValidBits 36 for a queue with
 *          timestamps); the spec sets no heap size, so 256 MiB stands for a small
 *          embedded GPU. */
/* clang-format off: one vendor per row reads better than one value per line */
static const vendor_limits vendors[] = {
    /*  name, WorkGroupCount, WorkGroupSize, Invocations, SharedMemory, PushConstants, PerStage
     * StorageBuffers, timestampValidBits, StorageBufferRange, maxMemoryAllocationSize, device-local
     * heap, maxTexelBufferElements (Apple's: MoltenVK's Metal texture-buffer limit, recheck) */
    {"nvidia",
     {2147483647u, 65535, 65535},
     {1024, 1024, 64},
     1024,
     49152,
     256,
     1048576,
     64,
     4294967295ull,
     4293918720ull,
     24ull << 30,
     134217728},
    {"amd",
     {65535, 65535, 65535},
     {1024, 1024, 1024},
     1024,
     65536,
     256,
     8388606,
     64,
     4294967295ull,
     4294967292ull,
     16ull << 30,
     4294967295u},
    {"intel",
     {65535, 65535, 65535},
     {1024, 1024, 1024},
     1024,
     65536,
     128,
     64,
     36,
     1ull << 30,
     1ull << 31,
     6ull << 30,
     134217728},
    {"apple",
     {1073741824u, 1073741824u, 1073741824u},
     {1024, 1024, 1024},
     1024,
     32768,
     4096,
     31,
     64,
     1ull << 30,
     1ull << 32,
     5461ull << 20,
     67108864},
    {"min",
     {65535, 65535, 65535},
     {128, 128, 64},
     128,
     16384,
     128,
     4,
     36,
     1ull << 27,
     1ull << 30,
     256ull << 20,
     65536},
};
/* clang-format on */

static uint32_t min_u32(uint32_t a, uint32_t b) {
    return a < b ? a : b;
}
static uint64_t min_u64(uint64_t a, uint64_t b) {
    return a < b ? a : b;
}

/* Tightens info to a vendor's limits (never loosens: the device must still obey its own). */
static void limits_apply(const vendor_limits *v, pg_vk_info *info) {
    for (int i = 0; i < 3; i++) {
        info->max_workgroup_count[i] = min_u32(info->max_workgroup_count[i], v->workgroup_count[i]);
        info->max_workgroup_size[i] = min_u32(info->max_workgroup_size[i], v->workgroup_size[i]);
    }
    info->max_workgroup_invocations = min_u32(info->max_workgroup_invocations, v->invocations);
    info->max_shared_memory = min_u32(info->max_shared_memory, v->shared_memory);
    info->max_push_constants = min_u32(info->max_push_constants, v->push_constants);
    info->max_storage_buffers = min_u32(info->max_storage_buffers, v->storage_buffers);
    info->timestamp_valid_bits = min_u32(info->timestamp_valid_bits, v->timestamp_bits);
    info->max_storage_buffer_range =
        min_u64(info->max_storage_buffer_range, v->storage_buffer_range);
    info->max_texel_elements = min_u32(info->max_texel_elements, v->texel_elements);
    info->max_allocation_size = info->max_allocation_size
                                    ? min_u64(info->max_allocation_size, v->allocation_size)
                                    : v->allocation_size;
    for (uint32_t h = 0; h < info->heap_count; h++)
        if (info->heap_device_local[h] || info->heap_count == 1)
            info->heap_size[h] = min_u64(info->heap_size[h], v->heap_size);
}

/* PROGAN_EMULATE_GROUPS: maxComputeWorkGroupCount[0] (a positive count, at
 * most the spec's 65535); y and z keep theirs, so grids wrap early and often. */
static pg_status groups_apply(pg_vk_info *info) {
    const char *env = getenv("PROGAN_EMULATE_GROUPS");
    if (!env || !*env) return PG_OK;
    char *end;
    long n = strtol(env, &end, 10);
    if (*end || n < 1 || n > 65535)
        return PG_FAIL(PG_ERR_INVALID,
                       "PROGAN_EMULATE_GROUPS=%s: give a workgroup count from 1 to 65535", env);
    info->max_workgroup_count[0] = min_u32(info->max_workgroup_count[0], (uint32_t)n);
    snprintf(info->emulated + strlen(info->emulated),
             sizeof info->emulated - strlen(info->emulated), "%sgroups=%ld",
             info->emulated[0] ? "," : "", n);
    return PG_OK;
}

/* PROGAN_EMULATE_HEAP_MB: a smaller device-local heap (MiB), as a GPU with
 * little memory has, for --micro-batch auto and allocation failures. */
static pg_status heap_apply(pg_vk_info *info) {
    const char *env = getenv("PROGAN_EMULATE_HEAP_MB");
    if (!env || !*env) return PG_OK;
    char *end;
    long long mb = strtoll(env, &end, 10);
    if (*end || mb < 1 || mb > (1ll << 30))
        return PG_FAIL(PG_ERR_INVALID,
                       "PROGAN_EMULATE_HEAP_MB=%s: give the heap in MiB, a whole number >= 1", env);
    for (uint32_t h = 0; h < info->heap_count; h++)
        if (info->heap_device_local[h] || info->heap_count == 1)
            info->heap_size[h] = min_u64(info->heap_size[h], (uint64_t)mb << 20);
    snprintf(info->emulated + strlen(info->emulated),
             sizeof info->emulated - strlen(info->emulated), "%sheap=%lldMiB",
             info->emulated[0] ? "," : "", mb);
    return PG_OK;
}

pg_status pg_vk_emulation_apply(pg_vk_info *info) {
    info->emulated[0] = 0;
    const char *env = getenv("PROGAN_EMULATE");
    if (env && *env) {
        const vendor_limits *v = NULL;
        for (size_t i = 0; i < sizeof vendors / sizeof vendors[0]; i++)
            if (!strcmp(env, vendors[i].name)) v = &vendors[i];
        if (!v)
            return PG_FAIL(PG_ERR_INVALID,
                           "PROGAN_EMULATE=%s: choose one of amd, intel, apple, nvidia, min "
                           "(or unset it)",
                           env);
        limits_apply(v, info);
        snprintf(info->emulated, sizeof info->emulated, "%s", v->name);
    }
    PG_TRY(groups_apply(info));
    return heap_apply(info);
}
