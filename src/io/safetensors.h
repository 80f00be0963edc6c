/* src/io/safetensors: the one weights format progan writes and reads (see
 * docs/checkpoint-format.md): a writer of named tensors plus string metadata,
 * a defensive reader (mmap) that refuses any malformed file, and `describe` for
 * `progan info`. Calls src/base, src/io/atomic_file, cJSON and xxhash. */
#ifndef PROGAN_IO_SAFETENSORS_H
#define PROGAN_IO_SAFETENSORS_H

#include <stdint.h>
#include <stdio.h>
#include "base/base.h"

#define PG_SAFETENSORS_MAX_DIMS   8
#define PG_SAFETENSORS_MAX_HEADER (100u * 1000u * 1000u) /* bytes of JSON, as the spec caps */

/* The safetensors dtypes; the names are the strings in the header. */
typedef enum {
    PG_DTYPE_BOOL,
    PG_DTYPE_U8,
    PG_DTYPE_I8,
    PG_DTYPE_U16,
    PG_DTYPE_I16,
    PG_DTYPE_F16,
    PG_DTYPE_BF16,
    PG_DTYPE_U32,
    PG_DTYPE_I32,
    PG_DTYPE_F32,
    PG_DTYPE_U64,
    PG_DTYPE_I64,
    PG_DTYPE_F64,
    PG_DTYPE_COUNT
} pg_dtype;

const char *pg_dtype_name(pg_dtype dtype); /* "F32", ...; "?" when out of range */
size_t pg_dtype_size(pg_dtype dtype);      /* bytes per element; 0 when out of range */
/* Parses "F32" etc.; PG_ERR_FORMAT for an unknown name. */
pg_status pg_dtype_parse(const char *name, pg_dtype *out);

/* One tensor as the reader returns it. data points into the mapped file and
 * stays valid until the reader is destroyed. The data block starts 8-byte
 * aligned; a tensor is aligned to its element size when its begin offset is a
 * multiple of it (memcpy out otherwise). */
typedef struct {
    const char *name;
    pg_dtype dtype;
    int ndim;
    int64_t shape[PG_SAFETENSORS_MAX_DIMS];
    const void *data;
    size_t nbytes;
    uint64_t offset; /* begin, relative to the data block */
} pg_safetensors_tensor;

/* ---- writer: tensors in the order added, back to back, no gaps ---- */
typedef struct pg_safetensors_writer pg_safetensors_writer;

pg_status pg_safetensors_writer_create(pg_safetensors_writer **out);
void pg_safetensors_writer_destroy(pg_safetensors_writer *w);
/* Adds a tensor; data is NOT copied and must stay valid until _write. The name
 * is copied. Refuses duplicates, empty names, "__metadata__", and ndim > 8. */
pg_status pg_safetensors_writer_add(pg_safetensors_writer *w, const char *name, pg_dtype dtype,
                                    int ndim, const int64_t *shape, const void *data);
/* Sets (or replaces) one metadata string. "format" = "pt" and
 * "progan_version" = PROGAN_VERSION are always set by _create. */
pg_status pg_safetensors_writer_set_metadata(pg_safetensors_writer *w, const char *key,
                                             const char *value);
/* Writes the whole file atomically (temp name + rename). */
pg_status pg_safetensors_writer_write(const pg_safetensors_writer *w, const char *path);

/* ---- reader ---- */
typedef struct pg_safetensors_reader pg_safetensors_reader;

/* Maps and validates path; any defect is PG_ERR_FORMAT naming the file and problem. */
pg_status pg_safetensors_reader_create(pg_safetensors_reader **out, const char *path);
void pg_safetensors_reader_destroy(pg_safetensors_reader *r);
const char *pg_safetensors_reader_path(const pg_safetensors_reader *r);
/* Tensors in file order (by offset): i in [0, count). */
size_t pg_safetensors_reader_count(const pg_safetensors_reader *r);
const pg_safetensors_tensor *pg_safetensors_reader_at(const pg_safetensors_reader *r, size_t i);
/* NULL when absent. */
const pg_safetensors_tensor *pg_safetensors_reader_find(const pg_safetensors_reader *r,
                                                        const char *name);
/* Like _find, but an absent tensor or a different dtype/shape is an error
 * naming the file, the tensor and both shapes. ndim < 0 skips the shape check. */
pg_status pg_safetensors_reader_expect(const pg_safetensors_reader *r, const char *name,
                                       pg_dtype dtype, int ndim, const int64_t *shape,
                                       const pg_safetensors_tensor **out);
/* Metadata value, or NULL when absent. */
const char *pg_safetensors_reader_metadata(const pg_safetensors_reader *r, const char *key);
size_t pg_safetensors_reader_metadata_count(const pg_safetensors_reader *r);
/* Key/value i of the metadata, in header order. */
void pg_safetensors_reader_metadata_at(const pg_safetensors_reader *r, size_t i, const char **key,
                                       const char **value);

/* XXH3-64 of a tensor's bytes (what describe prints). */
uint64_t pg_safetensors_tensor_checksum(const pg_safetensors_tensor *t);

/* Prints a human description of any safetensors file: its kind (training
 * checkpoint / per-resolution export / step dump), resolution and config from
 * the metadata, and every tensor with dtype, shape and XXH3-64 checksum. */
pg_status pg_safetensors_describe(const char *path, FILE *out);

#endif
