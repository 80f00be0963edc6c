/* src/io/atomic_file: write a file under a temporary name and rename it into
 * place, so a crash or Ctrl-C never leaves a half-written file under the final name. */
#ifndef PROGAN_IO_ATOMIC_FILE_H
#define PROGAN_IO_ATOMIC_FILE_H

#include <stdio.h>
#include "base/base.h"

typedef struct {
    FILE *file; /* write through this */
    char final_path[4096];
    char temp_path[4200];
} pg_atomic_file;

/* Opens "<path>.tmp-<pid>" for writing. */
pg_status pg_atomic_file_open(pg_atomic_file *af, const char *path);
/* Flushes, fsyncs and renames onto the final path. Closes in every case. */
pg_status pg_atomic_file_commit(pg_atomic_file *af);
/* Closes and deletes the temporary file (on an error path). */
void pg_atomic_file_abort(pg_atomic_file *af);
/* One-call helper: writes size bytes atomically. */
pg_status pg_atomic_write(const char *path, const void *data, size_t size);

#endif
