/* Temporary-name-then-rename file writes (see atomic_file.h). */
#include "io/atomic_file.h"

#include <errno.h>
#include <string.h>
#include <unistd.h>

pg_status pg_atomic_file_open(pg_atomic_file *af, const char *path) {
    memset(af, 0, sizeof *af);
    if (strlen(path) >= sizeof af->final_path)
        return PG_FAIL(PG_ERR_INVALID, "path too long: %s", path);
    snprintf(af->final_path, sizeof af->final_path, "%s", path);
    snprintf(af->temp_path, sizeof af->temp_path, "%s.tmp-%ld", path, (long)getpid());
    af->file = fopen(af->temp_path, "wb");
    if (!af->file)
        return PG_FAIL(PG_ERR_IO, "cannot create %s: %s (is the folder writable?)", af->temp_path,
                       strerror(errno));
    return PG_OK;
}

pg_status pg_atomic_file_commit(pg_atomic_file *af) {
    if (!af->file) return PG_FAIL(PG_ERR_INVALID, "atomic file %s is not open", af->final_path);
    int failed = fflush(af->file) != 0 || ferror(af->file) || fsync(fileno(af->file)) != 0;
    int saved_errno = errno;
    failed |= fclose(af->file) != 0;
    af->file = NULL;
    if (failed) {
        unlink(af->temp_path);
        return PG_FAIL(PG_ERR_IO, "cannot write %s: %s (disk full?)", af->temp_path,
                       strerror(saved_errno));
    }
    if (rename(af->temp_path, af->final_path) != 0) {
        saved_errno = errno;
        unlink(af->temp_path);
        return PG_FAIL(PG_ERR_IO, "cannot rename %s to %s: %s", af->temp_path, af->final_path,
                       strerror(saved_errno));
    }
    return PG_OK;
}

void pg_atomic_file_abort(pg_atomic_file *af) {
    if (af->file) fclose(af->file);
    af->file = NULL;
    if (af->temp_path[0]) unlink(af->temp_path);
}

pg_status pg_atomic_write(const char *path, const void *data, size_t size) {
    pg_atomic_file af;
    PG_TRY(pg_atomic_file_open(&af, path));
    if (size && fwrite(data, 1, size, af.file) != size) {
        pg_atomic_file_abort(&af);
        return PG_FAIL(PG_ERR_IO, "cannot write %s: %s", path, strerror(errno));
    }
    return pg_atomic_file_commit(&af);
}
