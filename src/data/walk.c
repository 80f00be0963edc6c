/* src/data/walk: recursive listing of a source folder (see walk.h). */
#include "data/walk.h"

#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <xxhash.h>

typedef struct {
    dev_t dev;
    ino_t ino;
} dir_id;

typedef struct {
    dir_id *ids;
    int count, cap;
} dir_set;

static int is_image_name(const char *name) {
    static const char *exts[] = {".jpg", ".jpeg", ".jpe", ".jfif", ".png"};
    size_t n = strlen(name);
    for (size_t i = 0; i < PG_ARRAY_LEN(exts); i++) {
        size_t e = strlen(exts[i]);
        if (n > e && !strcasecmp(name + n - e, exts[i])) return 1;
    }
    return 0;
}

/* Directories already entered: a linear set is enough (folders are few next to files). */
static int dir_set_add(dir_set *s, dev_t dev, ino_t ino) {
    for (int i = 0; i < s->count; i++)
        if (s->ids[i].dev == dev && s->ids[i].ino == ino) return 0;
    if (s->count == s->cap) {
        int cap = s->cap ? 2 * s->cap : 64;
        dir_id *p = realloc(s->ids, sizeof *p * cap);
        if (!p) return -1;
        s->ids = p, s->cap = cap;
    }
    s->ids[s->count++] = (dir_id){dev, ino};
    return 1;
}

static pg_status add_file(pg_walk_list *l, const char *full, size_t root_len, const struct stat *st,
                          int stat_ok) {
    if (l->count == l->cap) {
        int cap = l->cap ? 2 * l->cap : 1024;
        pg_walk_entry *p = realloc(l->files, sizeof *p * cap);
        if (!p) return PG_FAIL(PG_ERR_OUT_OF_MEMORY, "cannot grow the file list to %d", cap);
        l->files = p, l->cap = cap;
    }
    pg_walk_entry *e = &l->files[l->count];
    e->path = strdup(full);
    if (!e->path) return PG_FAIL(PG_ERR_OUT_OF_MEMORY, "cannot copy a path");
    e->rel = e->path + root_len + 1;
    e->size = stat_ok ? (long long)st->st_size : -1;
    e->mtime_ns = stat_ok ? (long long)st->st_mtim.tv_sec * 1000000000ll + st->st_mtim.tv_nsec : 0;
    l->count++;
    return PG_OK;
}

/* Depth-first walk; a subdirectory that fails to open is recorded like a loop entry. */
static pg_status walk_dir(pg_walk_list *l, dir_set *seen, const char *dir, size_t root_len) {
    DIR *d = opendir(dir);
    if (!d) {
        if (root_len == strlen(dir))
            return PG_FAIL(PG_ERR_IO, "cannot read the source folder %s: %s", dir, strerror(errno));
        return PG_OK;
    }
    pg_status s = PG_OK;
    struct dirent *de;
    char full[4096];
    while (s == PG_OK && (de = readdir(d))) {
        if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, "..")) continue;
        if ((size_t)snprintf(full, sizeof full, "%s/%s", dir, de->d_name) >= sizeof full) continue;
        struct stat st;
        int stat_ok = stat(full, &st) == 0;
        if (stat_ok && S_ISDIR(st.st_mode)) {
            int added = dir_set_add(seen, st.st_dev, st.st_ino);
            if (added < 0)
                s = PG_FAIL(PG_ERR_OUT_OF_MEMORY, "cannot grow the folder set");
            else if (added == 0) {
                if (l->loop_count == l->loop_cap) {
                    int cap = l->loop_cap ? 2 * l->loop_cap : 16;
                    char **p = realloc(l->loops, sizeof *p * cap);
                    if (!p) {
                        s = PG_FAIL(PG_ERR_OUT_OF_MEMORY, "cannot grow the loop list");
                        break;
                    }
                    l->loops = p, l->loop_cap = cap;
                }
                l->loops[l->loop_count++] = strdup(full + root_len + 1);
            } else
                s = walk_dir(l, seen, full, root_len);
        } else if (is_image_name(de->d_name)) {
            s = add_file(l, full, root_len, &st, stat_ok);
        } else {
            if (l->ignored_first_count < (int)PG_ARRAY_LEN(l->ignored_first))
                l->ignored_first[l->ignored_first_count++] = strdup(full + root_len + 1);
            l->ignored++;
        }
    }
    closedir(d);
    return s;
}

static int cmp_rel(const void *a, const void *b) {
    return strcmp(((const pg_walk_entry *)a)->rel, ((const pg_walk_entry *)b)->rel);
}

pg_status pg_walk_list_create(const char *src_dir, pg_walk_list *out) {
    memset(out, 0, sizeof *out);
    char root[4096];
    snprintf(root, sizeof root, "%s", src_dir);
    size_t n = strlen(root);
    while (n > 1 && root[n - 1] == '/') root[--n] = 0;
    struct stat st;
    if (stat(root, &st) != 0)
        return PG_FAIL(PG_ERR_IO, "cannot read the source folder %s: %s", root, strerror(errno));
    if (!S_ISDIR(st.st_mode))
        return PG_FAIL(PG_ERR_INVALID, "%s is not a folder: give progan prepare a folder of images",
                       root);
    dir_set seen = {0};
    dir_set_add(&seen, st.st_dev, st.st_ino);
    pg_status s = walk_dir(out, &seen, root, n);
    free(seen.ids);
    if (s != PG_OK) {
        pg_walk_list_destroy(out);
        return s;
    }
    if (out->count > 1) /* an empty folder has no array: qsort(NULL) is UB */
        qsort(out->files, (size_t)out->count, sizeof *out->files, cmp_rel);
    return PG_OK;
}

void pg_walk_list_destroy(pg_walk_list *l) {
    for (int i = 0; i < l->count; i++) free(l->files[i].path);
    for (int i = 0; i < l->ignored_first_count; i++) free(l->ignored_first[i]);
    for (int i = 0; i < l->loop_count; i++) free(l->loops[i]);
    free(l->files);
    free(l->loops);
    memset(l, 0, sizeof *l);
}

void pg_walk_list_hash(const pg_walk_list *l, const uint8_t extra[16], uint8_t out[16]) {
    XXH3_state_t *st = XXH3_createState();
    XXH3_128bits_reset(st);
    for (int i = 0; i < l->count; i++) {
        const pg_walk_entry *e = &l->files[i];
        XXH3_128bits_update(st, e->rel, strlen(e->rel) + 1);
        long long v[2] = {e->size, e->mtime_ns};
        XXH3_128bits_update(st, v, sizeof v);
    }
    XXH3_128bits_update(st, extra, 16);
    XXH128_canonical_t c;
    XXH128_canonicalFromHash(&c, XXH3_128bits_digest(st));
    XXH3_freeState(st);
    memcpy(out, c.digest, 16);
}
