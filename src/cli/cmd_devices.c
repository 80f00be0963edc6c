/* progan devices: every Vulkan device with its limits and optional features,
 * so a user can pick one with --device N and see why a run is slow. */
#include "cli/commands.h"
#include "vk/vk.h"

#include <stdio.h>
#include <string.h>

static void print_device(int index, const pg_vk_info *d) {
    printf("[%d] %s\n", index, d->name);
    if (d->emulated[0])
        printf("    emulating     %s (PROGAN_EMULATE: the limits below are that vendor's where "
               "tighter)\n",
               d->emulated);
    printf("    type          %s\n", pg_vk_device_type_name(d->type));
    printf("    vendor        %s (0x%04x), device 0x%04x\n", pg_vk_vendor_name(d->vendor_id),
           d->vendor_id, d->device_id);
    printf("    driver        %s %s\n", d->driver_name[0] ? d->driver_name : "(unknown)",
           d->driver_info);
    printf("    api           %u.%u.%u\n", VK_API_VERSION_MAJOR(d->api_version),
           VK_API_VERSION_MINOR(d->api_version), VK_API_VERSION_PATCH(d->api_version));
    for (uint32_t h = 0; h < d->heap_count; h++)
        printf("    heap %u        %.1f GiB%s\n", h, d->heap_size[h] / 1073741824.0,
               d->heap_device_local[h] ? " device-local" : "");
    if (d->subgroup_min != d->subgroup_max)
        printf("    subgroup      %u (%u..%u)\n", d->subgroup_size, d->subgroup_min,
               d->subgroup_max);
    else
        printf("    subgroup      %u\n", d->subgroup_size);
    printf("    shared memory %u KiB\n", d->max_shared_memory / 1024);
    printf("    workgroup     %u invocations, size %u x %u x %u\n", d->max_workgroup_invocations,
           d->max_workgroup_size[0], d->max_workgroup_size[1], d->max_workgroup_size[2]);
    printf("    grid          %u x %u x %u workgroups\n", d->max_workgroup_count[0],
           d->max_workgroup_count[1], d->max_workgroup_count[2]);
    printf("    bindings      %u storage buffers per stage, %u bytes of push constants\n",
           d->max_storage_buffers, d->max_push_constants);
    printf("    buffers       storage range %.0f MiB, allocation %.0f MiB, texel buffers %u "
           "texels\n",
           d->max_storage_buffer_range / 1048576.0, d->max_allocation_size / 1048576.0,
           d->max_texel_elements);
    printf("    features      fp16 %s, int8 %s, cooperative matrix %s, timestamps %s, "
           "subgroup ballot %s\n",
           d->has_fp16 ? "yes" : "no", d->has_int8 ? "yes" : "no",
           d->has_cooperative_matrix ? "yes" : "no", d->has_timestamps ? "yes" : "no",
           d->subgroup_ballot ? "yes" : "no (required)");
}

int cmd_devices(int argc, char **argv) {
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) {
            printf("usage: progan devices\n\nLists every Vulkan 1.1 device with a compute "
                   "queue. Choose one with --device N or PROGAN_DEVICE=N;\nby default progan "
                   "takes the first discrete GPU, else integrated, else the CPU (lavapipe).\n"
                   "PROGAN_EMULATE=amd|intel|apple|nvidia|min makes every device report and "
                   "obey\nthat vendor's limits where they are tighter than its own (testing).\n");
            return 0;
        }
        fprintf(stderr, "progan devices: unknown option '%s'\n", argv[i]);
        return 2;
    }
    pg_vk_device_list list;
    if (pg_vk_list_devices(&list) != PG_OK) {
        fprintf(stderr, "progan: %s\n", pg_error_message());
        return 1;
    }
    int best = -1, best_rank = 99;
    for (int i = 0; i < list.count; i++) {
        int rank = list.devices[i].type == VK_PHYSICAL_DEVICE_TYPE_DISCRETE_GPU     ? 0
                   : list.devices[i].type == VK_PHYSICAL_DEVICE_TYPE_INTEGRATED_GPU ? 1
                   : list.devices[i].type == VK_PHYSICAL_DEVICE_TYPE_VIRTUAL_GPU    ? 2
                                                                                    : 3;
        if (rank < best_rank) best = i, best_rank = rank;
        print_device(i, &list.devices[i]);
    }
    printf("default: [%d] %s\n", best, list.devices[best].name);
    return 0;
}
