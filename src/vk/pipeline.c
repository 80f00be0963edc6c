/* Compute pipelines from the embedded SPIR-V, keyed by shader and specialization
 * constants, and the on-disk pipeline cache (one file per device UUID). */
#include "vk/vk.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* The cache lives in $XDG_CACHE_HOME/progan or ~/.cache/progan; failures only lose speed. */
static void cache_path_make(pg_vk_context *ctx) {
    const char *xdg = getenv("XDG_CACHE_HOME"), *home = getenv("HOME");
    char dir[3800];
    if (xdg && *xdg)
        snprintf(dir, sizeof dir, "%s/progan", xdg);
    else if (home && *home)
        snprintf(dir, sizeof dir, "%s/.cache/progan", home);
    else
        return;
    char parent[3800];
    snprintf(parent, sizeof parent, "%s", dir);
    char *slash = strrchr(parent, '/');
    if (slash) {
        *slash = 0;
        mkdir(parent, 0755);
    }
    if (mkdir(dir, 0755) != 0 && errno != EEXIST) return;
    char uuid[2 * VK_UUID_SIZE + 1];
    for (unsigned i = 0; i < VK_UUID_SIZE; i++) sprintf(uuid + 2 * i, "%02x", ctx->info.uuid[i]);
    snprintf(ctx->cache_path, sizeof ctx->cache_path, "%s/pipelines-%s.bin", dir, uuid);
}

pg_status pg_vk_pipeline_cache_open(pg_vk_context *ctx) {
    cache_path_make(ctx);
    void *data = NULL;
    size_t size = 0;
    FILE *f = ctx->cache_path[0] && !getenv("PROGAN_NO_PIPELINE_CACHE")
                  ? fopen(ctx->cache_path, "rb")
                  : NULL;
    if (f) {
        fseek(f, 0, SEEK_END);
        long n = ftell(f);
        fseek(f, 0, SEEK_SET);
        if (n > 32 && n < (64l << 20) && (data = malloc((size_t)n)) &&
            fread(data, 1, (size_t)n, f) == (size_t)n)
            size = (size_t)n;
        fclose(f);
    }
    /* The driver validates the header (vendor, device, UUID) and ignores a stale blob. */
    VkPipelineCacheCreateInfo ci = {.sType = VK_STRUCTURE_TYPE_PIPELINE_CACHE_CREATE_INFO,
                                    .initialDataSize = size,
                                    .pInitialData = size ? data : NULL};
    VkResult r = vkCreatePipelineCache(ctx->device, &ci, NULL, &ctx->pipeline_cache);
    if (r != VK_SUCCESS && size) {
        ci.initialDataSize = 0;
        ci.pInitialData = NULL;
        r = vkCreatePipelineCache(ctx->device, &ci, NULL, &ctx->pipeline_cache);
    }
    free(data);
    if (r != VK_SUCCESS)
        return PG_FAIL(PG_ERR_VULKAN, "vkCreatePipelineCache failed: %s", pg_vk_result_name(r));
    return PG_OK;
}

pg_status pg_vk_pipeline_cache_save(pg_vk_context *ctx) {
    if (!ctx->pipeline_cache || !ctx->cache_path[0]) return PG_OK;
    size_t size = 0;
    PG_VK_CHECK(vkGetPipelineCacheData(ctx->device, ctx->pipeline_cache, &size, NULL));
    void *data = malloc(size ? size : 1);
    if (!data) return PG_FAIL(PG_ERR_OUT_OF_MEMORY, "out of host memory");
    VkResult r = vkGetPipelineCacheData(ctx->device, ctx->pipeline_cache, &size, data);
    pg_status st = PG_OK;
    if (r == VK_SUCCESS) {
        char temp[4200];
        /* a name of its own: processes that end together must not mix their bytes */
        snprintf(temp, sizeof temp, "%s.tmp-%ld", ctx->cache_path, (long)getpid());
        FILE *f = fopen(temp, "wb");
        if (f) { /* a cache that cannot be written only costs speed next time */
            int ok = fwrite(data, 1, size, f) == size;
            ok &= fclose(f) == 0;
            if (!ok || rename(temp, ctx->cache_path) != 0) unlink(temp);
        }
    }
    free(data);
    return st;
}

void pg_vk_pipelines_destroy(pg_vk_context *ctx) {
    pg_vk_pipeline_cache_save(ctx);
    for (pg_vk_pipeline *p = ctx->pipelines, *next; p; p = next) {
        next = p->next;
        vkDestroyPipeline(ctx->device, p->pipeline, NULL);
        free(p);
    }
    ctx->pipelines = NULL;
    if (ctx->pipeline_cache) vkDestroyPipelineCache(ctx->device, ctx->pipeline_cache, NULL);
    ctx->pipeline_cache = VK_NULL_HANDLE;
}

static int key_equal(const pg_vk_pipeline_key *a, const pg_vk_pipeline_key *b) {
    if (a->shader != b->shader || a->binding_count != b->binding_count || a->texel != b->texel ||
        a->spec_count != b->spec_count)
        return 0;
    return memcmp(a->spec, b->spec, a->spec_count * sizeof a->spec[0]) == 0;
}

/* Every shader takes its local size from specialization constant 0
 * (PG_SPEC_WG in shaders/codes.h), chosen in C: check it against the device
 * here, so a tile that does not fit gives one clear error instead of a driver
 * crash or a silently wrong launch. */
static pg_status local_size_check(const pg_vk_info *info, const pg_vk_pipeline_key *key,
                                  const char *shader) {
    if (key->spec_count < 1 || key->spec[0] == 0)
        return PG_FAIL(PG_ERR_INVALID,
                       "shader %s: no local size in specialization constant 0 (PG_SPEC_WG); "
                       "set it with pg_dispatch_lanes or spec[PG_SPEC_WG]",
                       shader);
    /* texel buffers count against maxPerStageDescriptorSampledImages (at least
     * 16 everywhere; no kernel binds more than 4 buffers) */
    uint32_t storage = 0;
    for (uint32_t b = 0; b < key->binding_count; b++)
        storage += PG_VK_TEXEL_GET(key->texel, b) == PG_VK_STORAGE;
    if (storage > info->max_storage_buffers)
        return PG_FAIL(PG_ERR_UNSUPPORTED,
                       "shader %s binds %u storage buffers; %s allows %u per stage "
                       "(maxPerStageDescriptorStorageBuffers%s%s)",
                       shader, storage, info->name, info->max_storage_buffers,
                       info->emulated[0] ? ", emulating " : "", info->emulated);
    uint32_t wg = key->spec[0];
    if (wg > info->max_workgroup_size[0] || wg > info->max_workgroup_invocations)
        return PG_FAIL(PG_ERR_UNSUPPORTED,
                       "shader %s: local size %u exceeds the device's limits "
                       "(maxComputeWorkGroupSize[0] %u, maxComputeWorkGroupInvocations %u on "
                       "%s%s%s): choose a smaller workgroup for this device",
                       shader, wg, info->max_workgroup_size[0], info->max_workgroup_invocations,
                       info->name, info->emulated[0] ? ", emulating " : "", info->emulated);
    return PG_OK;
}

pg_status pg_vk_pipeline_get(pg_vk_context *ctx, const pg_vk_pipeline_key *key,
                             pg_vk_pipeline **out) {
    for (pg_vk_pipeline *p = ctx->pipelines; p; p = p->next)
        if (key_equal(&p->key, key)) {
            *out = p;
            return PG_OK;
        }
    if (key->shader >= PG_SHADER_COUNT || key->binding_count > PG_VK_MAX_BINDINGS ||
        key->spec_count > PG_VK_MAX_SPEC)
        return PG_FAIL(PG_ERR_INVALID, "bad pipeline key (shader %d, %u bindings)",
                       (int)key->shader, key->binding_count);
    const pg_shader_blob *blob = &pg_shader_blobs[key->shader];
    PG_TRY(local_size_check(&ctx->info, key, blob->name));
    VkPipelineLayout layout;
    PG_TRY(pg_vk_layouts_get(ctx, key->binding_count, key->texel, NULL, &layout));
    VkShaderModuleCreateInfo mi = {.sType = VK_STRUCTURE_TYPE_SHADER_MODULE_CREATE_INFO,
                                   .codeSize = blob->size,
                                   .pCode = blob->words};
    VkShaderModule module;
    PG_VK_CHECK(vkCreateShaderModule(ctx->device, &mi, NULL, &module));
    VkSpecializationMapEntry entries[PG_VK_MAX_SPEC];
    for (uint32_t i = 0; i < key->spec_count; i++)
        entries[i] = (VkSpecializationMapEntry){
            .constantID = i, .offset = i * sizeof(uint32_t), .size = sizeof(uint32_t)};
    VkSpecializationInfo spec = {.mapEntryCount = key->spec_count,
                                 .pMapEntries = entries,
                                 .dataSize = key->spec_count * sizeof(uint32_t),
                                 .pData = key->spec};
    VkComputePipelineCreateInfo ci = {
        .sType = VK_STRUCTURE_TYPE_COMPUTE_PIPELINE_CREATE_INFO,
        .stage = {.sType = VK_STRUCTURE_TYPE_PIPELINE_SHADER_STAGE_CREATE_INFO,
                  .stage = VK_SHADER_STAGE_COMPUTE_BIT,
                  .module = module,
                  .pName = "main",
                  .pSpecializationInfo = key->spec_count ? &spec : NULL},
        .layout = layout};
    VkPipeline pipeline;
    VkResult r =
        vkCreateComputePipelines(ctx->device, ctx->pipeline_cache, 1, &ci, NULL, &pipeline);
    vkDestroyShaderModule(ctx->device, module, NULL);
    if (r != VK_SUCCESS)
        return PG_FAIL(PG_ERR_VULKAN, "creating the pipeline of shader %s failed: %s", blob->name,
                       pg_vk_result_name(r));
    pg_vk_pipeline *p = calloc(1, sizeof *p);
    if (!p) return PG_FAIL(PG_ERR_OUT_OF_MEMORY, "out of host memory");
    p->key = *key;
    p->pipeline = pipeline;
    p->layout = layout;
    p->next = ctx->pipelines;
    ctx->pipelines = p;
    *out = p;
    return PG_OK;
}
