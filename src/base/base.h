/* src/base: the bottom of the tree. Status codes and the thread-local error
 * message, logging, counter-based random numbers (Philox 4x32-10), timing.
 * Everything may include this; it includes nothing of progan. */
#ifndef PROGAN_BASE_H
#define PROGAN_BASE_H

#include <stddef.h>
#include <stdint.h>
#include <stdarg.h>

/* Every fallible function returns a pg_status: PG_OK or a negative code, with
 * the human message (file:line, what, the value, the fix) in pg_error_message(). */
typedef enum {
    PG_OK = 0,
    PG_ERR_INVALID = -1,   /* a bad argument, flag or shape */
    PG_ERR_IO = -2,        /* a file could not be read or written */
    PG_ERR_FORMAT = -3,    /* a file is corrupt, truncated or foreign */
    PG_ERR_VULKAN = -4,    /* a Vulkan call failed */
    PG_ERR_NO_DEVICE = -5, /* no usable Vulkan device or driver */
    PG_ERR_OUT_OF_MEMORY = -6,
    PG_ERR_UNSUPPORTED = -7, /* the device or build lacks a feature */
    PG_ERR_INTERRUPTED = -8, /* Ctrl-C / SIGTERM */
} pg_status;

/* Records the message for the current thread and returns code, so that
 * `return PG_FAIL(PG_ERR_IO, "cannot open %s: %s", path, strerror(errno));` reads well. */
pg_status pg_error_set(pg_status code, const char *file, int line, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
#define PG_FAIL(code, ...) pg_error_set((code), __FILE__, __LINE__, __VA_ARGS__)
/* Propagates a failing status unchanged (the first message is kept). */
#define PG_TRY(expr)                                                                               \
    do {                                                                                           \
        pg_status pg_try_status_ = (expr);                                                         \
        if (pg_try_status_ != PG_OK) return pg_try_status_;                                        \
    } while (0)

const char *pg_error_message(void);
void pg_error_clear(void);
const char *pg_status_name(pg_status s);

/* Logging to stderr (and to an optional log file the trainer sets). */
typedef enum { PG_LOG_ERROR, PG_LOG_WARN, PG_LOG_INFO, PG_LOG_DEBUG } pg_log_level;
void pg_log(pg_log_level level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void pg_log_set_level(pg_log_level level);
void pg_log_set_file(void *file); /* FILE*, or NULL */

/* Philox 4x32-10: counter-based, so (key, counter) -> the same 4 words on
 * every machine, and a resumed run continues the same sequence. */
typedef struct {
    uint32_t v[4];
} pg_philox_out;
pg_philox_out pg_philox4x32(uint64_t key, uint64_t counter_hi, uint64_t counter_lo);
/* The stream of (seed, iteration, stream id): element i of it. */
uint32_t pg_rand_u32(uint64_t seed, uint64_t iteration, uint32_t stream, uint64_t i);
/* Uniform in [0, 1) with 24 bits, and standard normal (Box-Muller), same keying. */
float pg_rand_uniform(uint64_t seed, uint64_t iteration, uint32_t stream, uint64_t i);
float pg_rand_normal(uint64_t seed, uint64_t iteration, uint32_t stream, uint64_t i);
/* Fills out[0..n) with N(0,1) draws of the stream. */
void pg_rand_normal_fill(float *out, size_t n, uint64_t seed, uint64_t iteration, uint32_t stream);

/* Monotonic seconds. */
double pg_time_now(void);

#define PG_MIN(a, b)    ((a) < (b) ? (a) : (b))
#define PG_MAX(a, b)    ((a) > (b) ? (a) : (b))
#define PG_ARRAY_LEN(a) (sizeof(a) / sizeof((a)[0]))

#endif
