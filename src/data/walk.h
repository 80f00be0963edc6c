/* src/data/walk: the source listing of a prepare run. Walks a folder recursively
 * (following symlinks, detecting loops by device+inode), keeps the files whose
 * extension names an image, and sorts them by relative path (byte order). */
#ifndef PROGAN_DATA_WALK_H
#define PROGAN_DATA_WALK_H

#include <stdint.h>

#include "base/base.h"

typedef struct {
    char *path;      /* full path (src_dir + "/" + rel) */
    const char *rel; /* relative to src_dir, points into path */
    long long size;  /* -1 when stat failed (dangling link, permissions) */
    long long mtime_ns;
} pg_walk_entry;

typedef struct {
    pg_walk_entry *files; /* image candidates, sorted by rel */
    int count, cap;
    long long ignored; /* files with other extensions */
    char *ignored_first[5];
    int ignored_first_count;
    char **loops; /* directories not entered again (symlink loop or repeat) */
    int loop_count, loop_cap;
} pg_walk_list;

/* Lists src_dir; fails only when src_dir itself cannot be read. */
pg_status pg_walk_list_create(const char *src_dir, pg_walk_list *out);
void pg_walk_list_destroy(pg_walk_list *l);
/* XXH3-128 of (rel, size, mtime) of every candidate, then extra (the options hash). */
void pg_walk_list_hash(const pg_walk_list *l, const uint8_t extra[16], uint8_t out[16]);

#endif
