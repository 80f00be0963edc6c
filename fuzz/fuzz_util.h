/* Shared by the libFuzzer harnesses: the readers under test take paths, so each
 * input is written to a per-process file in /dev/shm (or /tmp) first. */
#ifndef PROGAN_FUZZ_UTIL_H
#define PROGAN_FUZZ_UTIL_H

#include <fcntl.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "base/base.h"

/* Writes data to a temporary file named ...<suffix>; returns its path, or NULL. */
static inline const char *fuzz_file(const uint8_t *data, size_t size, const char *suffix) {
    static char path[256];
    const char *dir = access("/dev/shm", W_OK) == 0 ? "/dev/shm" : "/tmp";
    snprintf(path, sizeof path, "%s/progan-fuzz-%d%s", dir, (int)getpid(), suffix);
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
    if (fd < 0) return NULL;
    for (size_t done = 0; done < size;) {
        ssize_t k = write(fd, data + done, size - done);
        if (k <= 0) {
            close(fd);
            return NULL;
        }
        done += (size_t)k;
    }
    close(fd);
    return path;
}

/* Quiet logs: a harness runs millions of inputs. */
static inline void fuzz_quiet(void) {
    static int done;
    if (!done) pg_log_set_level(PG_LOG_ERROR), pg_log_set_file(NULL), done = 1;
}

#endif
