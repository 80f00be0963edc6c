/* Philox 4x32-10 (Salmon et al., SC'11): the counter-based generator behind
 * every random draw, so results depend on (seed, iteration, stream) only. */
#include "base/base.h"

#include <math.h>
#include <time.h>

pg_philox_out pg_philox4x32(uint64_t key, uint64_t counter_hi, uint64_t counter_lo) {
    uint32_t c0 = (uint32_t)counter_lo, c1 = (uint32_t)(counter_lo >> 32);
    uint32_t c2 = (uint32_t)counter_hi, c3 = (uint32_t)(counter_hi >> 32);
    uint32_t k0 = (uint32_t)key, k1 = (uint32_t)(key >> 32);
    for (int round = 0; round < 10; round++) {
        uint64_t p0 = (uint64_t)0xD2511F53u * c0;
        uint64_t p1 = (uint64_t)0xCD9E8D57u * c2;
        uint32_t n0 = (uint32_t)(p1 >> 32) ^ c1 ^ k0;
        uint32_t n2 = (uint32_t)(p0 >> 32) ^ c3 ^ k1;
        c1 = (uint32_t)p1;
        c3 = (uint32_t)p0;
        c0 = n0;
        c2 = n2;
        k0 += 0x9E3779B9u;
        k1 += 0xBB67AE85u;
    }
    pg_philox_out out = {{c0, c1, c2, c3}};
    return out;
}

/* Element i of stream (seed, iteration, stream): counter = (iteration, stream, i/4). */
uint32_t pg_rand_u32(uint64_t seed, uint64_t iteration, uint32_t stream, uint64_t i) {
    uint64_t hi = (iteration << 16) ^ stream;
    pg_philox_out o = pg_philox4x32(seed, hi, i >> 2);
    return o.v[i & 3];
}

float pg_rand_uniform(uint64_t seed, uint64_t iteration, uint32_t stream, uint64_t i) {
    return (float)(pg_rand_u32(seed, iteration, stream, i) >> 8) * (1.0f / 16777216.0f);
}

float pg_rand_normal(uint64_t seed, uint64_t iteration, uint32_t stream, uint64_t i) {
    /* Box-Muller on two draws of the element's own counter block: computed in
     * double so the value is identical on every libm that rounds correctly. */
    uint64_t hi = (iteration << 16) ^ stream;
    pg_philox_out o = pg_philox4x32(seed, hi ^ 0x8000000000000000ull, i);
    double u1 = ((double)(o.v[0] >> 8) + 0.5) / 16777216.0;
    double u2 = (double)(o.v[1] >> 8) / 16777216.0;
    return (float)(sqrt(-2.0 * log(u1)) * cos(6.283185307179586 * u2));
}

void pg_rand_normal_fill(float *out, size_t n, uint64_t seed, uint64_t iteration, uint32_t stream) {
    for (size_t i = 0; i < n; i++) out[i] = pg_rand_normal(seed, iteration, stream, i);
}

double pg_time_now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}
