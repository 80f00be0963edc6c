/* Buffers and their memory, one-shot command buffers, uploads and downloads.
 * Each pg_vk_buffer is one allocation; tensors are sub-ranges of a few big ones. */
#include "vk/vk.h"

#include <string.h>

static int memory_type_find(const pg_vk_context *ctx, uint32_t type_bits,
                            VkMemoryPropertyFlags want, VkMemoryPropertyFlags avoid) {
    const VkPhysicalDeviceMemoryProperties *mp = &ctx->memory_properties;
    for (uint32_t i = 0; i < mp->memoryTypeCount; i++) {
        VkMemoryPropertyFlags f = mp->memoryTypes[i].propertyFlags;
        if ((type_bits & (1u << i)) && (f & want) == want && !(f & avoid)) return (int)i;
    }
    return -1;
}

/* Picks the memory type for a kind, falling back where a device lacks the ideal one. */
static int memory_type_for(const pg_vk_context *ctx, uint32_t bits, pg_vk_memory_kind kind) {
    const VkMemoryPropertyFlags visible =
        VK_MEMORY_PROPERTY_HOST_VISIBLE_BIT | VK_MEMORY_PROPERTY_HOST_COHERENT_BIT;
    int t = -1;
    switch (kind) {
    case PG_VK_MEMORY_DEVICE:
        t = memory_type_find(ctx, bits, VK_MEMORY_PROPERTY_DEVICE_LOCAL_BIT, 0);
        if (t < 0) t = memory_type_find(ctx, bits, 0, 0);
        break;
    case PG_VK_MEMORY_UPLOAD:
        t = memory_type_find(ctx, bits, visible, 0);
        break;
    case PG_VK_MEMORY_READBACK:
        t = memory_type_find(ctx, bits, visible | VK_MEMORY_PROPERTY_HOST_CACHED_BIT, 0);
        if (t < 0) t = memory_type_find(ctx, bits, visible, 0);
        break;
    }
    return t;
}

pg_status pg_vk_buffer_create(pg_vk_context *ctx, uint64_t size, pg_vk_memory_kind kind,
                              pg_vk_buffer *out) {
    memset(out, 0, sizeof *out);
    if (size == 0) size = PG_VK_ALIGN;
    size = (size + PG_VK_ALIGN - 1) / PG_VK_ALIGN * PG_VK_ALIGN;
    if (ctx->info.max_allocation_size && size > ctx->info.max_allocation_size)
        return PG_FAIL(PG_ERR_OUT_OF_MEMORY,
                       "a buffer of %.1f MiB exceeds this device's maxMemoryAllocationSize of "
                       "%.1f MiB: use a smaller batch or resolution",
                       size / 1048576.0, ctx->info.max_allocation_size / 1048576.0);
    VkBufferCreateInfo bi = {
        .sType = VK_STRUCTURE_TYPE_BUFFER_CREATE_INFO,
        .size = size,
        .usage = VK_BUFFER_USAGE_STORAGE_BUFFER_BIT | VK_BUFFER_USAGE_UNIFORM_TEXEL_BUFFER_BIT |
                 VK_BUFFER_USAGE_TRANSFER_SRC_BIT | VK_BUFFER_USAGE_TRANSFER_DST_BIT,
        .sharingMode = VK_SHARING_MODE_EXCLUSIVE};
    PG_VK_CHECK(vkCreateBuffer(ctx->device, &bi, NULL, &out->buffer));
    VkMemoryRequirements req;
    vkGetBufferMemoryRequirements(ctx->device, out->buffer, &req);
    int type = memory_type_for(ctx, req.memoryTypeBits, kind);
    if (type < 0) {
        vkDestroyBuffer(ctx->device, out->buffer, NULL);
        out->buffer = VK_NULL_HANDLE;
        return PG_FAIL(PG_ERR_UNSUPPORTED, "device %s has no suitable memory type (kind %d)",
                       ctx->info.name, (int)kind);
    }
    uint32_t heap = ctx->memory_properties.memoryTypes[type].heapIndex;
    if (ctx->bytes_allocated + req.size > ctx->info.heap_size[heap]) {
        vkDestroyBuffer(ctx->device, out->buffer, NULL);
        out->buffer = VK_NULL_HANDLE;
        return PG_FAIL(PG_ERR_OUT_OF_MEMORY,
                       "cannot allocate %.1f MiB on %s: %.1f MiB already allocated by progan "
                       "and the heap holds %.1f MiB%s%s: use a smaller batch, resolution or "
                       "fmap_max (or --micro-batch)",
                       req.size / 1048576.0, ctx->info.name, ctx->bytes_allocated / 1048576.0,
                       ctx->info.heap_size[heap] / 1048576.0,
                       ctx->info.emulated[0] ? ", emulating " : "", ctx->info.emulated);
    }
    VkMemoryAllocateInfo ai = {.sType = VK_STRUCTURE_TYPE_MEMORY_ALLOCATE_INFO,
                               .allocationSize = req.size,
                               .memoryTypeIndex = (uint32_t)type};
    VkResult r = vkAllocateMemory(ctx->device, &ai, NULL, &out->memory);
    if (r != VK_SUCCESS) {
        vkDestroyBuffer(ctx->device, out->buffer, NULL);
        out->buffer = VK_NULL_HANDLE;
        return PG_FAIL(PG_ERR_OUT_OF_MEMORY,
                       "cannot allocate %.1f MiB of device memory on %s (%s; %.1f MiB already "
                       "allocated by progan): use a smaller batch, resolution or fmap_max",
                       req.size / 1048576.0, ctx->info.name, pg_vk_result_name(r),
                       ctx->bytes_allocated / 1048576.0);
    }
    PG_VK_CHECK(vkBindBufferMemory(ctx->device, out->buffer, out->memory, 0));
    if (kind != PG_VK_MEMORY_DEVICE)
        PG_VK_CHECK(vkMapMemory(ctx->device, out->memory, 0, VK_WHOLE_SIZE, 0, &out->mapped));
    out->size = size;
    out->kind = kind;
    ctx->bytes_allocated += req.size;
    if (ctx->bytes_allocated > ctx->peak_bytes_allocated)
        ctx->peak_bytes_allocated = ctx->bytes_allocated;
    return PG_OK;
}

void pg_vk_buffer_destroy(pg_vk_context *ctx, pg_vk_buffer *b) {
    if (!b || !b->buffer) return;
    VkMemoryRequirements req;
    vkGetBufferMemoryRequirements(ctx->device, b->buffer, &req);
    ctx->bytes_allocated -= req.size;
    if (b->mapped) vkUnmapMemory(ctx->device, b->memory);
    vkDestroyBuffer(ctx->device, b->buffer, NULL);
    vkFreeMemory(ctx->device, b->memory, NULL);
    memset(b, 0, sizeof *b);
}

pg_status pg_vk_oneshot_begin(pg_vk_context *ctx, VkCommandBuffer *cmd) {
    VkCommandBufferAllocateInfo ai = {.sType = VK_STRUCTURE_TYPE_COMMAND_BUFFER_ALLOCATE_INFO,
                                      .commandPool = ctx->command_pool,
                                      .level = VK_COMMAND_BUFFER_LEVEL_PRIMARY,
                                      .commandBufferCount = 1};
    PG_VK_CHECK(vkAllocateCommandBuffers(ctx->device, &ai, cmd));
    VkCommandBufferBeginInfo bi = {.sType = VK_STRUCTURE_TYPE_COMMAND_BUFFER_BEGIN_INFO,
                                   .flags = VK_COMMAND_BUFFER_USAGE_ONE_TIME_SUBMIT_BIT};
    PG_VK_CHECK(vkBeginCommandBuffer(*cmd, &bi));
    return PG_OK;
}

pg_status pg_vk_oneshot_submit(pg_vk_context *ctx, VkCommandBuffer cmd) {
    PG_VK_CHECK(vkEndCommandBuffer(cmd));
    VkFenceCreateInfo fi = {.sType = VK_STRUCTURE_TYPE_FENCE_CREATE_INFO};
    VkFence fence;
    PG_VK_CHECK(vkCreateFence(ctx->device, &fi, NULL, &fence));
    VkSubmitInfo si = {
        .sType = VK_STRUCTURE_TYPE_SUBMIT_INFO, .commandBufferCount = 1, .pCommandBuffers = &cmd};
    VkResult r = vkQueueSubmit(ctx->queue, 1, &si, fence);
    if (r == VK_SUCCESS) r = vkWaitForFences(ctx->device, 1, &fence, VK_TRUE, UINT64_MAX);
    vkDestroyFence(ctx->device, fence, NULL);
    vkFreeCommandBuffers(ctx->device, ctx->command_pool, 1, &cmd);
    if (r != VK_SUCCESS)
        return PG_FAIL(r == VK_ERROR_DEVICE_LOST ? PG_ERR_VULKAN : PG_ERR_VULKAN,
                       "submitting work to %s failed: %s", ctx->info.name, pg_vk_result_name(r));
    return PG_OK;
}

void pg_vk_cmd_barrier(VkCommandBuffer cmd) {
    VkMemoryBarrier mb = {
        .sType = VK_STRUCTURE_TYPE_MEMORY_BARRIER,
        .srcAccessMask = VK_ACCESS_SHADER_WRITE_BIT | VK_ACCESS_TRANSFER_WRITE_BIT,
        .dstAccessMask = VK_ACCESS_SHADER_READ_BIT | VK_ACCESS_SHADER_WRITE_BIT |
                         VK_ACCESS_TRANSFER_READ_BIT | VK_ACCESS_TRANSFER_WRITE_BIT};
    vkCmdPipelineBarrier(cmd, VK_PIPELINE_STAGE_COMPUTE_SHADER_BIT | VK_PIPELINE_STAGE_TRANSFER_BIT,
                         VK_PIPELINE_STAGE_COMPUTE_SHADER_BIT | VK_PIPELINE_STAGE_TRANSFER_BIT, 0,
                         1, &mb, 0, NULL, 0, NULL);
}

/* Moves one piece of a transfer through the staging buffer. */
static pg_status transfer_piece(pg_vk_context *ctx, pg_vk_buffer *staging, pg_vk_range range,
                                char *host, int to_device) {
    if (to_device) memcpy(staging->mapped, host, range.size);
    VkCommandBuffer cmd;
    PG_TRY(pg_vk_oneshot_begin(ctx, &cmd));
    VkBufferCopy copy = {.srcOffset = to_device ? 0 : range.offset,
                         .dstOffset = to_device ? range.offset : 0,
                         .size = range.size};
    pg_vk_cmd_barrier(cmd);
    vkCmdCopyBuffer(cmd, to_device ? staging->buffer : range.buffer->buffer,
                    to_device ? range.buffer->buffer : staging->buffer, 1, &copy);
    VkMemoryBarrier host_mb = {.sType = VK_STRUCTURE_TYPE_MEMORY_BARRIER,
                               .srcAccessMask = VK_ACCESS_TRANSFER_WRITE_BIT,
                               .dstAccessMask =
                                   VK_ACCESS_HOST_READ_BIT | VK_ACCESS_SHADER_READ_BIT};
    vkCmdPipelineBarrier(cmd, VK_PIPELINE_STAGE_TRANSFER_BIT,
                         VK_PIPELINE_STAGE_HOST_BIT | VK_PIPELINE_STAGE_COMPUTE_SHADER_BIT, 0, 1,
                         &host_mb, 0, NULL, 0, NULL);
    PG_TRY(pg_vk_oneshot_submit(ctx, cmd));
    if (!to_device) {
        VkMappedMemoryRange mr = {.sType = VK_STRUCTURE_TYPE_MAPPED_MEMORY_RANGE,
                                  .memory = staging->memory,
                                  .size = VK_WHOLE_SIZE};
        vkInvalidateMappedMemoryRanges(ctx->device, 1, &mr);
        memcpy(host, staging->mapped, range.size);
    }
    return PG_OK;
}

/* Moves bytes between the host and a device range through a temporary staging
 * buffer of at most PG_VK_STAGING_PIECE bytes, piece by piece: a checkpoint of
 * a large network needs little device memory beside the training's own. */
static pg_status transfer(pg_vk_context *ctx, pg_vk_range range, void *host, int to_device) {
    if (range.size == 0) return PG_OK;
    pg_vk_buffer staging;
    uint64_t piece = PG_MIN(range.size, (uint64_t)PG_VK_STAGING_PIECE);
    PG_TRY(pg_vk_buffer_create(ctx, piece, to_device ? PG_VK_MEMORY_UPLOAD : PG_VK_MEMORY_READBACK,
                               &staging));
    pg_status st = PG_OK;
    for (uint64_t at = 0; st == PG_OK && at < range.size; at += piece) {
        pg_vk_range part = {range.buffer, range.offset + at, PG_MIN(piece, range.size - at)};
        st = transfer_piece(ctx, &staging, part, (char *)host + at, to_device);
    }
    pg_vk_buffer_destroy(ctx, &staging);
    return st;
}

pg_status pg_vk_upload(pg_vk_context *ctx, pg_vk_range dst, const void *src) {
    return transfer(ctx, dst, (void *)src, 1);
}

pg_status pg_vk_download(pg_vk_context *ctx, pg_vk_range src, void *dst) {
    return transfer(ctx, src, dst, 0);
}
