/* Timestamp queries as the spec defines them: only timestampValidBits of each
 * value mean anything, and differences wrap modulo 2^bits. */
#include "vk/vk.h"

static uint64_t valid_mask(const pg_vk_info *info) {
    uint32_t bits = info->timestamp_valid_bits;
    return bits == 0 || bits >= 64 ? ~0ull : (1ull << bits) - 1;
}

pg_status pg_vk_timestamps_read(pg_vk_context *ctx, VkQueryPool pool, uint32_t first,
                                uint32_t count, uint64_t *out) {
    PG_VK_CHECK(vkGetQueryPoolResults(ctx->device, pool, first, count, count * sizeof *out, out,
                                      sizeof *out, VK_QUERY_RESULT_64_BIT));
    uint64_t mask = valid_mask(&ctx->info);
    for (uint32_t i = 0; i < count; i++) {
        /* The bits above the valid ones are undefined: give them the worst
         * case, noise that differs per value (on lavapipe they are real bits,
         * so only an emulated smaller count shows what masking protects). */
        out[i] |= ~mask & ((first + i + 1) * 0x9e3779b97f4a7c15ull);
        out[i] &= mask;
    }
    return PG_OK;
}

double pg_vk_timestamp_ns(const pg_vk_info *info, uint64_t t0, uint64_t t1) {
    return (double)((t1 - t0) & valid_mask(info)) * info->timestamp_period_ns;
}
