/* src/vk: the Vulkan runtime. Owns the instance and device choice, the device's
 * limits and features (queried once into pg_vk_info), buffers and their memory,
 * compute pipelines made from the embedded SPIR-V, descriptor sets, command
 * submission and the timestamp profiler. Calls only src/base and Vulkan. */
#ifndef PROGAN_VK_H
#define PROGAN_VK_H

#include <vulkan/vulkan.h>

#include "base/base.h"
#include "vk/shader_ids.h"

#define PG_VK_MAX_BINDINGS 8
#define PG_VK_MAX_SPEC     12
#define PG_VK_PUSH_BYTES   128
#define PG_VK_ALIGN        256 /* every sub-allocation starts at a multiple of this */

/* Everything we need to know about a device, read once (ncnn's GpuInfo).
 * Every reader of a limit reads it here, after pg_vk_emulation_apply, so an
 * emulated vendor's limits change every decision that depends on them. */
typedef struct {
    char name[VK_MAX_PHYSICAL_DEVICE_NAME_SIZE];
    VkPhysicalDeviceType type;
    uint32_t vendor_id, device_id, api_version, driver_version;
    char driver_name[VK_MAX_DRIVER_NAME_SIZE];
    char driver_info[VK_MAX_DRIVER_INFO_SIZE];
    uint8_t uuid[VK_UUID_SIZE];
    uint32_t max_workgroup_size[3], max_workgroup_invocations, max_workgroup_count[3];
    uint32_t max_shared_memory, max_push_constants;
    uint32_t max_storage_buffers; /* maxPerStageDescriptorStorageBuffers */
    uint64_t max_storage_buffer_range, max_allocation_size, min_storage_alignment;
    uint32_t max_texel_elements;  /* maxTexelBufferElements (texels per texel-buffer view) */
    uint32_t min_texel_alignment; /* minTexelBufferOffsetAlignment */
    uint32_t subgroup_size, subgroup_min, subgroup_max;
    int subgroup_arithmetic; /* subgroupAdd etc. in compute shaders */
    int subgroup_ballot;     /* subgroupBroadcast in compute shaders (conv, matmul) */
    int has_fp16, has_int8, has_cooperative_matrix, has_timestamps;
    uint32_t compute_units; /* SMs / CUs from VK_NV_shader_sm_builtins or
                               VK_AMD_shader_core_properties; 0 when unknown */
    float timestamp_period_ns;
    uint32_t timestamp_valid_bits; /* of the queue progan uses: 36..64, the rest undefined */
    uint32_t heap_count;
    uint64_t heap_size[VK_MAX_MEMORY_HEAPS];
    int heap_device_local[VK_MAX_MEMORY_HEAPS];
    int unified_memory; /* a DEVICE_LOCAL | HOST_VISIBLE type covers the main heap */
    char emulated[64];  /* PROGAN_EMULATE's vendor (and _GROUPS, _HEAP_MB), or "" */
} pg_vk_info;

/* Applies $PROGAN_EMULATE (amd|intel|apple|nvidia|min: that vendor's limits
 * wherever tighter than the device's), $PROGAN_EMULATE_GROUPS=N (at most N
 * workgroups per grid dimension, to wrap grids at test sizes) and
 * $PROGAN_EMULATE_HEAP_MB=N (an N MiB device-local heap). src/vk/emulate.c
 * has the table and its sources. */
pg_status pg_vk_emulation_apply(pg_vk_info *info);

typedef struct pg_vk_pipeline pg_vk_pipeline;

typedef struct pg_vk_context {
    VkInstance instance;
    VkDebugUtilsMessengerEXT messenger;
    VkPhysicalDevice physical;
    VkDevice device;
    VkQueue queue;
    uint32_t queue_family;
    VkCommandPool command_pool;
    VkPipelineCache pipeline_cache;
    /* by binding count and which bindings are texel buffers (bit b: binding b);
     * created on first use */
    VkDescriptorSetLayout set_layouts[PG_VK_MAX_BINDINGS + 1][1 << PG_VK_MAX_BINDINGS];
    VkPipelineLayout pipeline_layouts[PG_VK_MAX_BINDINGS + 1][1 << PG_VK_MAX_BINDINGS];
    VkPhysicalDeviceMemoryProperties memory_properties;
    pg_vk_info info;
    int device_index;
    pg_vk_pipeline *pipelines; /* created on first use, keyed by shader + constants */
    uint64_t bytes_allocated, peak_bytes_allocated;
    char cache_path[4096];
} pg_vk_context;

/* One row per physical device, for `progan devices` and for choosing. */
typedef struct {
    int count;
    pg_vk_info devices[16];
} pg_vk_device_list;

/* Lists every device with a compute queue and Vulkan >= 1.1. */
pg_status pg_vk_list_devices(pg_vk_device_list *out);
/* device_index < 0: $PROGAN_DEVICE if set, else the first discrete GPU, else
 * integrated, else virtual, else the CPU (lavapipe). $PROGAN_VALIDATION=1
 * enables VK_LAYER_KHRONOS_validation and counts its messages. */
pg_status pg_vk_context_create(int device_index, pg_vk_context **out);
void pg_vk_context_destroy(pg_vk_context *ctx);
/* Messages reported by the validation layer so far (tests fail on any). */
int pg_vk_validation_message_count(void);
const char *pg_vk_result_name(VkResult r);
const char *pg_vk_device_type_name(VkPhysicalDeviceType t);
const char *pg_vk_vendor_name(uint32_t vendor_id);

#define PG_VK_CHECK(call)                                                                          \
    do {                                                                                           \
        VkResult pg_vk_r_ = (call);                                                                \
        if (pg_vk_r_ != VK_SUCCESS)                                                                \
            return PG_FAIL(pg_vk_r_ == VK_ERROR_OUT_OF_DEVICE_MEMORY ||                            \
                                   pg_vk_r_ == VK_ERROR_OUT_OF_HOST_MEMORY                         \
                               ? PG_ERR_OUT_OF_MEMORY                                              \
                               : PG_ERR_VULKAN,                                                    \
                           "%s failed: %s", #call, pg_vk_result_name(pg_vk_r_));                   \
    } while (0)

/* ---- buffers: one VkBuffer over its own VkDeviceMemory; callers carve
 * sub-ranges (aligned to PG_VK_ALIGN) out of it, so there are few allocations. */
typedef enum {
    PG_VK_MEMORY_DEVICE,   /* device-local: tensors, parameters */
    PG_VK_MEMORY_UPLOAD,   /* host-visible, coherent: staging from the host */
    PG_VK_MEMORY_READBACK, /* host-visible, cached if possible: results to the host */
} pg_vk_memory_kind;

typedef struct {
    VkBuffer buffer;
    VkDeviceMemory memory;
    uint64_t size;
    void *mapped; /* non-NULL for host-visible buffers */
    pg_vk_memory_kind kind;
} pg_vk_buffer;

pg_status pg_vk_buffer_create(pg_vk_context *ctx, uint64_t size, pg_vk_memory_kind kind,
                              pg_vk_buffer *out);
void pg_vk_buffer_destroy(pg_vk_context *ctx, pg_vk_buffer *b);

/* A view of a tensor's bytes inside a buffer. */
typedef struct {
    const pg_vk_buffer *buffer;
    uint64_t offset, size;
} pg_vk_range;

/* ---- pipelines: shader id + specialization constants (uint32 each) + the
 * bindings: binding_count buffers, each a storage buffer unless `texel` gives
 * it a format (PG_VK_TEXEL_* in the 2 bits 2b..2b+1 for binding b): then it is
 * a uniform texel buffer, a samplerBuffer in GLSL. On lavapipe a texelFetch is
 * one vector gather where a storage-buffer load is a loop over the SIMD lanes
 * (measured in the README, "Kernel variants"). Push constants are always 128
 * bytes. */
typedef enum {
    PG_VK_STORAGE = 0,
    PG_VK_TEXEL_R32F = 1,
    PG_VK_TEXEL_RGBA32F = 2
} pg_vk_binding_kind;
#define PG_VK_TEXEL_SET(kind, b)  ((uint32_t)(kind) << (2 * (b)))
#define PG_VK_TEXEL_GET(texel, b) ((pg_vk_binding_kind)(((texel) >> (2 * (b))) & 3u))
typedef struct {
    pg_shader_id shader;
    uint32_t binding_count;
    uint32_t texel; /* PG_VK_TEXEL_SET(kind, binding) for each texel binding */
    uint32_t spec_count;
    uint32_t spec[PG_VK_MAX_SPEC];
} pg_vk_pipeline_key;

/* The descriptor-set and pipeline layouts of a key's bindings (made once). */
pg_status pg_vk_layouts_get(pg_vk_context *ctx, uint32_t binding_count, uint32_t texel,
                            VkDescriptorSetLayout *set_layout, VkPipelineLayout *layout);

struct pg_vk_pipeline {
    pg_vk_pipeline_key key;
    VkPipeline pipeline;
    VkPipelineLayout layout; /* borrowed from the context */
    pg_vk_pipeline *next;
};

/* Returns the cached pipeline for key, creating it on first use. */
pg_status pg_vk_pipeline_get(pg_vk_context *ctx, const pg_vk_pipeline_key *key,
                             pg_vk_pipeline **out);
/* Writes the pipeline cache to the user's cache folder (also done at destroy). */
pg_status pg_vk_pipeline_cache_save(pg_vk_context *ctx);

/* ---- one-shot command buffers for setup work (uploads, downloads, fills). */
pg_status pg_vk_oneshot_begin(pg_vk_context *ctx, VkCommandBuffer *cmd);
pg_status pg_vk_oneshot_submit(pg_vk_context *ctx, VkCommandBuffer cmd);
/* Copies host bytes into a device range (and back) through a temporary staging
 * buffer of at most PG_VK_STAGING_PIECE bytes, one piece after another. */
#define PG_VK_STAGING_PIECE (16u << 20)
pg_status pg_vk_upload(pg_vk_context *ctx, pg_vk_range dst, const void *src);
pg_status pg_vk_download(pg_vk_context *ctx, pg_vk_range src, void *dst);
/* Reads `count` timestamps of a query pool, keeping only the device's valid
 * bits (timestampValidBits: the upper bits are undefined, so an emulated
 * vendor with fewer valid bits gets them filled with noise here). */
pg_status pg_vk_timestamps_read(pg_vk_context *ctx, VkQueryPool pool, uint32_t first,
                                uint32_t count, uint64_t *out);
/* Nanoseconds from timestamp t0 to t1, modulo 2^timestampValidBits (wraps too). */
double pg_vk_timestamp_ns(const pg_vk_info *info, uint64_t t0, uint64_t t1);

/* A full memory barrier between compute/transfer work, used between graph levels. */
void pg_vk_cmd_barrier(VkCommandBuffer cmd);

#endif
