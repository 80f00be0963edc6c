/* src/io/tfevents: TensorBoard event files without protobuf: TFRecord framing
 * with masked CRC32C, and the few Event/Summary fields scalars need, encoded
 * and decoded by hand. A writer (one file per run) and a checking reader. */
#ifndef PROGAN_IO_TFEVENTS_H
#define PROGAN_IO_TFEVENTS_H

#include <stddef.h>
#include <stdint.h>
#include "base/base.h"

/* CRC32C (Castagnoli), and TFRecord's mask ((crc >> 15) | (crc << 17)) + 0xa282ead8. */
uint32_t pg_crc32c(const void *data, size_t size);
uint32_t pg_crc32c_masked(const void *data, size_t size);

typedef struct pg_tfevents pg_tfevents;

/* Creates run_dir/events.out.tfevents.<unix time>.<hostname> (a suffix is added
 * if that name exists) and writes the file_version "brain.Event:2" record. */
pg_status pg_tfevents_create(pg_tfevents **out, const char *run_dir);
/* The path of the file being written. */
const char *pg_tfevents_path(const pg_tfevents *w);
/* One Event at the current wall time with n simple_value scalars. */
pg_status pg_tfevents_add_scalars(pg_tfevents *w, int64_t step, int n, const char *const tags[],
                                  const float values[]);
/* Pushes written events to the OS, so TensorBoard sees them during training. */
pg_status pg_tfevents_flush(pg_tfevents *w);
/* Flushes and closes; returns the first write error. NULL is accepted. */
pg_status pg_tfevents_destroy(pg_tfevents *w);

/* One decoded Event. file_version is NULL unless the event carries one; tags
 * and values have n_values entries and live until the callback returns. */
typedef struct {
    double wall_time;
    int64_t step;
    const char *file_version;
    int n_values;
    const char *const *tags;
    const float *values;
} pg_tfevents_event;

typedef pg_status (*pg_tfevents_visit_fn)(void *user, const pg_tfevents_event *event);

/* Walks every record of an event file, verifying both CRCs of each (a mismatch
 * or truncation is PG_ERR_FORMAT naming the record and byte offset), decodes
 * the Event and calls visit (which may be NULL to only verify). *count, if not
 * NULL, receives the number of records. */
pg_status pg_tfevents_read(const char *path, pg_tfevents_visit_fn visit, void *user, size_t *count);

#endif
