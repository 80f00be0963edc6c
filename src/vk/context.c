/* Instance, device choice, device limits and the validation-message counter.
 * Everything here runs once per process; nothing assumes one vendor's limits. */
#include "vk/vk.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static int validation_messages;

int pg_vk_validation_message_count(void) {
    return validation_messages;
}

const char *pg_vk_result_name(VkResult r) {
    switch (r) {
#define N(x)                                                                                       \
    case x:                                                                                        \
        return #x;
        N(VK_SUCCESS)
        N(VK_NOT_READY)
        N(VK_TIMEOUT)
        N(VK_INCOMPLETE)
        N(VK_ERROR_OUT_OF_HOST_MEMORY)
        N(VK_ERROR_OUT_OF_DEVICE_MEMORY)
        N(VK_ERROR_INITIALIZATION_FAILED) N(VK_ERROR_DEVICE_LOST) N(VK_ERROR_MEMORY_MAP_FAILED)
            N(VK_ERROR_LAYER_NOT_PRESENT) N(VK_ERROR_EXTENSION_NOT_PRESENT)
                N(VK_ERROR_FEATURE_NOT_PRESENT) N(VK_ERROR_INCOMPATIBLE_DRIVER)
                    N(VK_ERROR_TOO_MANY_OBJECTS) N(VK_ERROR_FORMAT_NOT_SUPPORTED)
                        N(VK_ERROR_FRAGMENTED_POOL) N(VK_ERROR_OUT_OF_POOL_MEMORY)
                            N(VK_ERROR_INVALID_SHADER_NV) N(VK_ERROR_UNKNOWN)
#undef N
                                default : return "VkResult(unknown)";
    }
}

const char *pg_vk_device_type_name(VkPhysicalDeviceType t) {
    switch (t) {
    case VK_PHYSICAL_DEVICE_TYPE_DISCRETE_GPU:
        return "discrete GPU";
    case VK_PHYSICAL_DEVICE_TYPE_INTEGRATED_GPU:
        return "integrated GPU";
    case VK_PHYSICAL_DEVICE_TYPE_VIRTUAL_GPU:
        return "virtual GPU";
    case VK_PHYSICAL_DEVICE_TYPE_CPU:
        return "CPU";
    default:
        return "other";
    }
}

const char *pg_vk_vendor_name(uint32_t vendor_id) {
    switch (vendor_id) {
    case 0x10de:
        return "NVIDIA";
    case 0x1002:
        return "AMD";
    case 0x8086:
        return "Intel";
    case 0x106b:
        return "Apple";
    case 0x13b5:
        return "ARM";
    case 0x5143:
        return "Qualcomm";
    case 0x10005:
        return "Mesa";
    default:
        return "unknown";
    }
}

static VKAPI_ATTR VkBool32 VKAPI_CALL on_validation_message(
    VkDebugUtilsMessageSeverityFlagBitsEXT severity, VkDebugUtilsMessageTypeFlagsEXT type,
    const VkDebugUtilsMessengerCallbackDataEXT *data, void *user) {
    (void)type;
    (void)user;
    if (severity >= VK_DEBUG_UTILS_MESSAGE_SEVERITY_WARNING_BIT_EXT) {
        validation_messages++;
        fprintf(stderr, "vulkan validation: %s\n", data->pMessage);
    }
    return VK_FALSE;
}

static int env_flag(const char *name) {
    const char *v = getenv(name);
    return v && *v && strcmp(v, "0") != 0;
}

static int has_extension(const VkExtensionProperties *ext, uint32_t n, const char *name) {
    for (uint32_t i = 0; i < n; i++)
        if (!strcmp(ext[i].extensionName, name)) return 1;
    return 0;
}

static int has_layer(const char *name) {
    uint32_t n = 0;
    vkEnumerateInstanceLayerProperties(&n, NULL);
    VkLayerProperties *layers = calloc(n ? n : 1, sizeof *layers);
    vkEnumerateInstanceLayerProperties(&n, layers);
    int found = 0;
    for (uint32_t i = 0; i < n; i++) found |= !strcmp(layers[i].layerName, name);
    free(layers);
    return found;
}

/* Creates the instance; portability enumeration (MoltenVK) when the loader has it. */
static pg_status instance_create(int validation, VkInstance *out, int *has_debug_utils) {
    uint32_t n = 0;
    vkEnumerateInstanceExtensionProperties(NULL, &n, NULL);
    VkExtensionProperties *ext = calloc(n ? n : 1, sizeof *ext);
    vkEnumerateInstanceExtensionProperties(NULL, &n, ext);
    const char *names[4];
    uint32_t count = 0;
    VkInstanceCreateFlags flags = 0;
    if (has_extension(ext, n, VK_KHR_PORTABILITY_ENUMERATION_EXTENSION_NAME)) {
        names[count++] = VK_KHR_PORTABILITY_ENUMERATION_EXTENSION_NAME;
        flags |= VK_INSTANCE_CREATE_ENUMERATE_PORTABILITY_BIT_KHR;
    }
    *has_debug_utils = validation && has_extension(ext, n, VK_EXT_DEBUG_UTILS_EXTENSION_NAME);
    if (*has_debug_utils) names[count++] = VK_EXT_DEBUG_UTILS_EXTENSION_NAME;
    free(ext);

    const char *layer = "VK_LAYER_KHRONOS_validation";
    if (validation && !has_layer(layer))
        return PG_FAIL(PG_ERR_UNSUPPORTED,
                       "PROGAN_VALIDATION=1 but %s is not installed: apt-get install "
                       "vulkan-validationlayers",
                       layer);
    VkApplicationInfo app = {.sType = VK_STRUCTURE_TYPE_APPLICATION_INFO,
                             .pApplicationName = "progan",
                             .pEngineName = "progan",
                             .apiVersion = VK_API_VERSION_1_1};
    VkInstanceCreateInfo ci = {.sType = VK_STRUCTURE_TYPE_INSTANCE_CREATE_INFO,
                               .flags = flags,
                               .pApplicationInfo = &app,
                               .enabledLayerCount = validation ? 1 : 0,
                               .ppEnabledLayerNames = &layer,
                               .enabledExtensionCount = count,
                               .ppEnabledExtensionNames = names};
    VkResult r = vkCreateInstance(&ci, NULL, out);
    if (r == VK_ERROR_INCOMPATIBLE_DRIVER)
        return PG_FAIL(PG_ERR_NO_DEVICE,
                       "no Vulkan driver (ICD) found: install your GPU's Vulkan driver, or "
                       "mesa-vulkan-drivers for the CPU driver lavapipe (apt-get install "
                       "mesa-vulkan-drivers); VK_DRIVER_FILES can point at an ICD json");
    if (r != VK_SUCCESS)
        return PG_FAIL(PG_ERR_VULKAN, "vkCreateInstance failed: %s", pg_vk_result_name(r));
    return PG_OK;
}

/* The queue family progan uses (-1 if none), and its timestampValidBits (0: none). */
static int compute_queue_family(VkPhysicalDevice pd, uint32_t *timestamp_bits) {
    uint32_t n = 0;
    vkGetPhysicalDeviceQueueFamilyProperties(pd, &n, NULL);
    VkQueueFamilyProperties q[32];
    if (n > 32) n = 32;
    vkGetPhysicalDeviceQueueFamilyProperties(pd, &n, q);
    int best = -1;
    for (uint32_t i = 0; i < n; i++) {
        if (!(q[i].queueFlags & VK_QUEUE_COMPUTE_BIT)) continue;
        /* Prefer a family that also does graphics: it has timestamps everywhere. */
        if (best < 0 || (q[i].queueFlags & VK_QUEUE_GRAPHICS_BIT)) best = (int)i;
        if (q[i].queueFlags & VK_QUEUE_GRAPHICS_BIT) break;
    }
    if (timestamp_bits) *timestamp_bits = best >= 0 ? q[best].timestampValidBits : 0;
    return best;
}

/* Streaming multiprocessors (NVIDIA) or compute units (AMD) from the vendor
 * extensions when present, else 0 (callers state their default); sizes
 * split-K so small layers fill the device. Neither extension is required. */
static uint32_t compute_units_query(VkPhysicalDevice pd, const VkExtensionProperties *ext,
                                    uint32_t n_ext) {
    VkPhysicalDeviceShaderSMBuiltinsPropertiesNV nv = {
        .sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_SHADER_SM_BUILTINS_PROPERTIES_NV};
    VkPhysicalDeviceShaderCorePropertiesAMD amd = {
        .sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_SHADER_CORE_PROPERTIES_AMD};
    VkPhysicalDeviceProperties2 props = {.sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_PROPERTIES_2};
    if (has_extension(ext, n_ext, "VK_NV_shader_sm_builtins"))
        props.pNext = &nv;
    else if (has_extension(ext, n_ext, "VK_AMD_shader_core_properties"))
        props.pNext = &amd;
    else
        return 0;
    vkGetPhysicalDeviceProperties2(pd, &props);
    if (props.pNext == &nv) return nv.shaderSMCount;
    return amd.shaderEngineCount * amd.shaderArraysPerEngineCount * amd.computeUnitsPerShaderArray;
}

/* Fills info from the physical device: limits, subgroups, features, heaps. */
static void info_query(VkPhysicalDevice pd, pg_vk_info *info) {
    memset(info, 0, sizeof *info);
    VkPhysicalDeviceDriverProperties driver = {
        .sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_DRIVER_PROPERTIES};
    VkPhysicalDeviceSubgroupProperties subgroup = {
        .sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_SUBGROUP_PROPERTIES};
    VkPhysicalDeviceIDProperties ids = {.sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_ID_PROPERTIES,
                                        .pNext = &subgroup};
    VkPhysicalDeviceMaintenance3Properties m3 = {
        .sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_MAINTENANCE_3_PROPERTIES, .pNext = &ids};
    uint32_t n_ext = 0;
    vkEnumerateDeviceExtensionProperties(pd, NULL, &n_ext, NULL);
    VkExtensionProperties *ext = calloc(n_ext ? n_ext : 1, sizeof *ext);
    vkEnumerateDeviceExtensionProperties(pd, NULL, &n_ext, ext);
    VkPhysicalDeviceSubgroupSizeControlPropertiesEXT size_control = {
        .sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_SUBGROUP_SIZE_CONTROL_PROPERTIES_EXT,
        .pNext = &m3};
    int has_size_control = has_extension(ext, n_ext, "VK_EXT_subgroup_size_control");
    int has_driver_props = has_extension(ext, n_ext, "VK_KHR_driver_properties");
    VkPhysicalDeviceProperties2 props = {.sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_PROPERTIES_2,
                                         .pNext = has_size_control ? (void *)&size_control
                                                                   : (void *)&m3};
    if (has_driver_props) {
        driver.pNext = props.pNext;
        props.pNext = &driver;
    }
    vkGetPhysicalDeviceProperties2(pd, &props);
    const VkPhysicalDeviceLimits *l = &props.properties.limits;
    snprintf(info->name, sizeof info->name, "%s", props.properties.deviceName);
    info->type = props.properties.deviceType;
    info->vendor_id = props.properties.vendorID;
    info->device_id = props.properties.deviceID;
    info->api_version = props.properties.apiVersion;
    info->driver_version = props.properties.driverVersion;
    if (has_driver_props) {
        snprintf(info->driver_name, sizeof info->driver_name, "%s", driver.driverName);
        snprintf(info->driver_info, sizeof info->driver_info, "%s", driver.driverInfo);
    }
    memcpy(info->uuid, ids.deviceUUID, VK_UUID_SIZE);
    for (int i = 0; i < 3; i++) {
        info->max_workgroup_size[i] = l->maxComputeWorkGroupSize[i];
        info->max_workgroup_count[i] = l->maxComputeWorkGroupCount[i];
    }
    info->max_workgroup_invocations = l->maxComputeWorkGroupInvocations;
    info->max_shared_memory = l->maxComputeSharedMemorySize;
    info->max_push_constants = l->maxPushConstantsSize;
    info->max_storage_buffers = l->maxPerStageDescriptorStorageBuffers;
    info->max_storage_buffer_range = l->maxStorageBufferRange;
    info->max_allocation_size = m3.maxMemoryAllocationSize;
    info->min_storage_alignment = l->minStorageBufferOffsetAlignment;
    info->max_texel_elements = l->maxTexelBufferElements;
    info->min_texel_alignment = (uint32_t)l->minTexelBufferOffsetAlignment;
    info->subgroup_size = subgroup.subgroupSize;
    info->subgroup_min = has_size_control ? size_control.minSubgroupSize : subgroup.subgroupSize;
    info->subgroup_max = has_size_control ? size_control.maxSubgroupSize : subgroup.subgroupSize;
    info->subgroup_arithmetic = (subgroup.supportedStages & VK_SHADER_STAGE_COMPUTE_BIT) &&
                                (subgroup.supportedOperations & VK_SUBGROUP_FEATURE_ARITHMETIC_BIT);
    info->subgroup_ballot = (subgroup.supportedStages & VK_SHADER_STAGE_COMPUTE_BIT) &&
                            (subgroup.supportedOperations & VK_SUBGROUP_FEATURE_BALLOT_BIT);
    info->timestamp_period_ns = l->timestampPeriod;
    info->has_timestamps = l->timestampComputeAndGraphics && l->timestampPeriod > 0;
    compute_queue_family(pd, &info->timestamp_valid_bits);

    VkPhysicalDeviceShaderFloat16Int8Features f16 = {
        .sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_SHADER_FLOAT16_INT8_FEATURES};
    VkPhysicalDeviceFeatures2 feats = {.sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_FEATURES_2};
    if (has_extension(ext, n_ext, "VK_KHR_shader_float16_int8")) feats.pNext = &f16;
    vkGetPhysicalDeviceFeatures2(pd, &feats);
    info->has_fp16 = f16.shaderFloat16;
    info->has_int8 = f16.shaderInt8;
    info->has_cooperative_matrix = has_extension(ext, n_ext, "VK_KHR_cooperative_matrix") ||
                                   has_extension(ext, n_ext, "VK_NV_cooperative_matrix");
    info->compute_units = compute_units_query(pd, ext, n_ext);
    /* a CPU driver (lavapipe) runs one workgroup per host thread, one thread per core */
    if (!info->compute_units && info->type == VK_PHYSICAL_DEVICE_TYPE_CPU) {
        long cores = sysconf(_SC_NPROCESSORS_ONLN);
        info->compute_units = cores > 0 ? (uint32_t)cores : 1;
    }
    free(ext);

    VkPhysicalDeviceMemoryProperties mp;
    vkGetPhysicalDeviceMemoryProperties(pd, &mp);
    info->heap_count = mp.memoryHeapCount;
    for (uint32_t i = 0; i < mp.memoryHeapCount; i++) {
        info->heap_size[i] = mp.memoryHeaps[i].size;
        info->heap_device_local[i] =
            (mp.memoryHeaps[i].flags & VK_MEMORY_HEAP_DEVICE_LOCAL_BIT) != 0;
    }
    for (uint32_t i = 0; i < mp.memoryTypeCount; i++) {
        VkMemoryPropertyFlags f = mp.memoryTypes[i].propertyFlags;
        uint32_t h = mp.memoryTypes[i].heapIndex;
        if ((f & VK_MEMORY_PROPERTY_DEVICE_LOCAL_BIT) &&
            (f & VK_MEMORY_PROPERTY_HOST_VISIBLE_BIT) && mp.memoryHeaps[h].size >= (1ull << 30) &&
            info->type != VK_PHYSICAL_DEVICE_TYPE_DISCRETE_GPU)
            info->unified_memory = 1;
    }
}

/* Enumerates devices with a compute queue and Vulkan >= 1.1. */
static pg_status devices_enumerate(VkInstance instance, VkPhysicalDevice *out, uint32_t *count) {
    uint32_t n = 0;
    VkResult r = vkEnumeratePhysicalDevices(instance, &n, NULL);
    if (r != VK_SUCCESS && r != VK_INCOMPLETE)
        return PG_FAIL(PG_ERR_VULKAN, "vkEnumeratePhysicalDevices failed: %s",
                       pg_vk_result_name(r));
    VkPhysicalDevice all[16];
    if (n > 16) n = 16;
    vkEnumeratePhysicalDevices(instance, &n, all);
    uint32_t kept = 0;
    for (uint32_t i = 0; i < n; i++) {
        VkPhysicalDeviceProperties p;
        vkGetPhysicalDeviceProperties(all[i], &p);
        if (p.apiVersion < VK_API_VERSION_1_1 || compute_queue_family(all[i], NULL) < 0) continue;
        out[kept++] = all[i];
    }
    *count = kept;
    if (kept == 0)
        return PG_FAIL(PG_ERR_NO_DEVICE,
                       "no Vulkan 1.1 device with a compute queue found: install your GPU's "
                       "Vulkan driver, or mesa-vulkan-drivers for the CPU driver lavapipe");
    return PG_OK;
}

pg_status pg_vk_list_devices(pg_vk_device_list *out) {
    memset(out, 0, sizeof *out);
    VkInstance instance;
    int debug_utils;
    PG_TRY(instance_create(0, &instance, &debug_utils));
    VkPhysicalDevice pds[16];
    uint32_t n = 0;
    pg_status st = devices_enumerate(instance, pds, &n);
    for (uint32_t i = 0; st == PG_OK && i < n; i++) {
        info_query(pds[i], &out->devices[i]);
        st = pg_vk_emulation_apply(&out->devices[i]);
    }
    out->count = (int)n;
    vkDestroyInstance(instance, NULL);
    return st;
}

static int device_rank(VkPhysicalDeviceType t) {
    switch (t) {
    case VK_PHYSICAL_DEVICE_TYPE_DISCRETE_GPU:
        return 0;
    case VK_PHYSICAL_DEVICE_TYPE_INTEGRATED_GPU:
        return 1;
    case VK_PHYSICAL_DEVICE_TYPE_VIRTUAL_GPU:
        return 2;
    case VK_PHYSICAL_DEVICE_TYPE_CPU:
        return 3;
    default:
        return 4;
    }
}

/* Resolves the device index: explicit, then $PROGAN_DEVICE, then by type rank. */
static pg_status device_choose(VkPhysicalDevice *pds, uint32_t n, int requested, int *chosen) {
    const char *env = getenv("PROGAN_DEVICE");
    if (requested < 0 && env && *env) {
        char *end;
        long v = strtol(env, &end, 10);
        if (*end || v < 0)
            return PG_FAIL(PG_ERR_INVALID,
                           "PROGAN_DEVICE=%s is not a device index (see "
                           "`progan devices`)",
                           env);
        requested = (int)v;
    }
    if (requested >= 0) {
        if ((uint32_t)requested >= n)
            return PG_FAIL(PG_ERR_INVALID,
                           "device %d does not exist: %u device(s) found, indices 0..%u "
                           "(see `progan devices`)",
                           requested, n, n - 1);
        *chosen = requested;
        return PG_OK;
    }
    int best = 0, best_rank = 99;
    for (uint32_t i = 0; i < n; i++) {
        VkPhysicalDeviceProperties p;
        vkGetPhysicalDeviceProperties(pds[i], &p);
        if (device_rank(p.deviceType) < best_rank) {
            best_rank = device_rank(p.deviceType);
            best = (int)i;
        }
    }
    *chosen = best;
    return PG_OK;
}

static pg_status logical_device_create(pg_vk_context *ctx) {
    uint32_t bits;
    int family = compute_queue_family(ctx->physical, &bits);
    if (bits == 0) ctx->info.has_timestamps = 0;
    /* an emulated vendor's smaller count was set by pg_vk_emulation_apply */
    ctx->info.timestamp_valid_bits = PG_MIN(ctx->info.timestamp_valid_bits, bits);
    ctx->queue_family = (uint32_t)family;
    float priority = 1.0f;
    VkDeviceQueueCreateInfo q = {.sType = VK_STRUCTURE_TYPE_DEVICE_QUEUE_CREATE_INFO,
                                 .queueFamilyIndex = ctx->queue_family,
                                 .queueCount = 1,
                                 .pQueuePriorities = &priority};
    uint32_t n_ext = 0;
    vkEnumerateDeviceExtensionProperties(ctx->physical, NULL, &n_ext, NULL);
    VkExtensionProperties *ext = calloc(n_ext ? n_ext : 1, sizeof *ext);
    vkEnumerateDeviceExtensionProperties(ctx->physical, NULL, &n_ext, ext);
    const char *names[2];
    uint32_t count = 0;
    if (has_extension(ext, n_ext, "VK_KHR_portability_subset"))
        names[count++] = "VK_KHR_portability_subset";
    free(ext);
    VkDeviceCreateInfo ci = {.sType = VK_STRUCTURE_TYPE_DEVICE_CREATE_INFO,
                             .queueCreateInfoCount = 1,
                             .pQueueCreateInfos = &q,
                             .enabledExtensionCount = count,
                             .ppEnabledExtensionNames = names};
    PG_VK_CHECK(vkCreateDevice(ctx->physical, &ci, NULL, &ctx->device));
    vkGetDeviceQueue(ctx->device, ctx->queue_family, 0, &ctx->queue);
    VkCommandPoolCreateInfo pool = {.sType = VK_STRUCTURE_TYPE_COMMAND_POOL_CREATE_INFO,
                                    .flags = VK_COMMAND_POOL_CREATE_RESET_COMMAND_BUFFER_BIT,
                                    .queueFamilyIndex = ctx->queue_family};
    PG_VK_CHECK(vkCreateCommandPool(ctx->device, &pool, NULL, &ctx->command_pool));
    return PG_OK;
}

/* One descriptor-set layout and pipeline layout per binding count and set of
 * texel bindings, shared by all pipelines and made on first use. */
pg_status pg_vk_layouts_get(pg_vk_context *ctx, uint32_t binding_count, uint32_t texel,
                            VkDescriptorSetLayout *set_layout, VkPipelineLayout *layout) {
    uint32_t texel_bits = 0;
    for (uint32_t i = 0; i < binding_count; i++)
        if (PG_VK_TEXEL_GET(texel, i) != PG_VK_STORAGE) texel_bits |= 1u << i;
    if (binding_count > PG_VK_MAX_BINDINGS)
        return PG_FAIL(PG_ERR_INVALID, "%u bindings: at most %d", binding_count,
                       PG_VK_MAX_BINDINGS);
    if (!ctx->set_layouts[binding_count][texel_bits]) {
        VkDescriptorSetLayoutBinding b[PG_VK_MAX_BINDINGS];
        for (uint32_t i = 0; i < binding_count; i++)
            b[i] = (VkDescriptorSetLayoutBinding){
                .binding = i,
                .descriptorType = (texel_bits >> i & 1) ? VK_DESCRIPTOR_TYPE_UNIFORM_TEXEL_BUFFER
                                                        : VK_DESCRIPTOR_TYPE_STORAGE_BUFFER,
                .descriptorCount = 1,
                .stageFlags = VK_SHADER_STAGE_COMPUTE_BIT};
        VkPushConstantRange push = {.stageFlags = VK_SHADER_STAGE_COMPUTE_BIT,
                                    .size = PG_VK_PUSH_BYTES};
        VkDescriptorSetLayoutCreateInfo sl = {
            .sType = VK_STRUCTURE_TYPE_DESCRIPTOR_SET_LAYOUT_CREATE_INFO,
            .bindingCount = binding_count,
            .pBindings = b};
        VkDescriptorSetLayout s;
        PG_VK_CHECK(vkCreateDescriptorSetLayout(ctx->device, &sl, NULL, &s));
        VkPipelineLayoutCreateInfo pl = {.sType = VK_STRUCTURE_TYPE_PIPELINE_LAYOUT_CREATE_INFO,
                                         .setLayoutCount = 1,
                                         .pSetLayouts = &s,
                                         .pushConstantRangeCount = 1,
                                         .pPushConstantRanges = &push};
        VkResult r = vkCreatePipelineLayout(ctx->device, &pl, NULL,
                                            &ctx->pipeline_layouts[binding_count][texel_bits]);
        if (r != VK_SUCCESS) vkDestroyDescriptorSetLayout(ctx->device, s, NULL);
        PG_VK_CHECK(r);
        ctx->set_layouts[binding_count][texel_bits] = s;
    }
    if (set_layout) *set_layout = ctx->set_layouts[binding_count][texel_bits];
    if (layout) *layout = ctx->pipeline_layouts[binding_count][texel_bits];
    return PG_OK;
}

pg_status pg_vk_pipeline_cache_open(pg_vk_context *ctx); /* pipeline.c */

static pg_status context_init(pg_vk_context *ctx, int device_index) {
    int validation = env_flag("PROGAN_VALIDATION");
    int debug_utils = 0;
    PG_TRY(instance_create(validation, &ctx->instance, &debug_utils));
    if (debug_utils) {
        VkDebugUtilsMessengerCreateInfoEXT mi = {
            .sType = VK_STRUCTURE_TYPE_DEBUG_UTILS_MESSENGER_CREATE_INFO_EXT,
            .messageSeverity = VK_DEBUG_UTILS_MESSAGE_SEVERITY_WARNING_BIT_EXT |
                               VK_DEBUG_UTILS_MESSAGE_SEVERITY_ERROR_BIT_EXT,
            .messageType = VK_DEBUG_UTILS_MESSAGE_TYPE_GENERAL_BIT_EXT |
                           VK_DEBUG_UTILS_MESSAGE_TYPE_VALIDATION_BIT_EXT |
                           VK_DEBUG_UTILS_MESSAGE_TYPE_PERFORMANCE_BIT_EXT,
            .pfnUserCallback = on_validation_message};
        PFN_vkCreateDebugUtilsMessengerEXT create =
            (PFN_vkCreateDebugUtilsMessengerEXT)vkGetInstanceProcAddr(
                ctx->instance, "vkCreateDebugUtilsMessengerEXT");
        if (create) PG_VK_CHECK(create(ctx->instance, &mi, NULL, &ctx->messenger));
    }
    VkPhysicalDevice pds[16];
    uint32_t n = 0;
    PG_TRY(devices_enumerate(ctx->instance, pds, &n));
    PG_TRY(device_choose(pds, n, device_index, &ctx->device_index));
    ctx->physical = pds[ctx->device_index];
    info_query(ctx->physical, &ctx->info);
    PG_TRY(pg_vk_emulation_apply(&ctx->info));
    if (ctx->info.max_push_constants < PG_VK_PUSH_BYTES)
        return PG_FAIL(PG_ERR_UNSUPPORTED,
                       "device %s allows %u bytes of push constants; progan's kernels need %d "
                       "(the Vulkan minimum): choose another device",
                       ctx->info.name, ctx->info.max_push_constants, PG_VK_PUSH_BYTES);
    vkGetPhysicalDeviceMemoryProperties(ctx->physical, &ctx->memory_properties);
    PG_TRY(logical_device_create(ctx));
    return pg_vk_pipeline_cache_open(ctx);
}

pg_status pg_vk_context_create(int device_index, pg_vk_context **out) {
    *out = NULL;
    pg_vk_context *ctx = calloc(1, sizeof *ctx);
    if (!ctx) return PG_FAIL(PG_ERR_OUT_OF_MEMORY, "out of host memory");
    pg_status st = context_init(ctx, device_index);
    if (st != PG_OK) {
        pg_vk_context_destroy(ctx);
        return st;
    }
    *out = ctx;
    return PG_OK;
}

void pg_vk_pipelines_destroy(pg_vk_context *ctx); /* pipeline.c */

void pg_vk_context_destroy(pg_vk_context *ctx) {
    if (!ctx) return;
    if (ctx->device) {
        vkDeviceWaitIdle(ctx->device);
        pg_vk_pipelines_destroy(ctx);
        for (int n = 0; n <= PG_VK_MAX_BINDINGS; n++)
            for (int t = 0; t < 1 << PG_VK_MAX_BINDINGS; t++) {
                if (ctx->pipeline_layouts[n][t])
                    vkDestroyPipelineLayout(ctx->device, ctx->pipeline_layouts[n][t], NULL);
                if (ctx->set_layouts[n][t])
                    vkDestroyDescriptorSetLayout(ctx->device, ctx->set_layouts[n][t], NULL);
            }
        if (ctx->command_pool) vkDestroyCommandPool(ctx->device, ctx->command_pool, NULL);
        vkDestroyDevice(ctx->device, NULL);
    }
    if (ctx->messenger) {
        PFN_vkDestroyDebugUtilsMessengerEXT destroy =
            (PFN_vkDestroyDebugUtilsMessengerEXT)vkGetInstanceProcAddr(
                ctx->instance, "vkDestroyDebugUtilsMessengerEXT");
        if (destroy) destroy(ctx->instance, ctx->messenger, NULL);
    }
    if (ctx->instance) vkDestroyInstance(ctx->instance, NULL);
    free(ctx);
}
