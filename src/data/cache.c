/* src/data/cache: a dataset given as a folder of images is prepared once into
 * CACHE/<folder name>-<R>.pgd and reused while the folder and the options are
 * unchanged (pg_prepare_cached). train, metrics and info share it. */
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#include "data/dataset.h"

/* The cache file name of a folder at a resolution. */
void pg_dataset_cache_path(const char *folder, const char *cache_dir, int resolution, char *path,
                           size_t size) {
    char name[256];
    size_t len = strlen(folder);
    while (len > 1 && folder[len - 1] == '/') len--; /* "photos/" names photos */
    const char *base = folder + len;
    while (base > folder && base[-1] != '/') base--;
    snprintf(name, sizeof name, "%.*s",
             (int)(folder + len - base > 200 ? 200 : folder + len - base), base);
    snprintf(path, size, "%s/%s-%d.pgd", cache_dir, name[0] ? name : "data", resolution);
}

pg_status pg_dataset_resolve(const char *data, const char *cache_dir, int resolution,
                             volatile const int *cancel, char *path, size_t size) {
    struct stat st;
    if (stat(data, &st) != 0)
        return PG_FAIL(PG_ERR_IO,
                       "%s does not exist: give a dataset file from `progan prepare` or a folder "
                       "of images",
                       data);
    if (!S_ISDIR(st.st_mode)) {
        if (snprintf(path, size, "%s", data) >= (int)size)
            return PG_FAIL(PG_ERR_INVALID, "the path %.80s... is too long", data);
        return PG_OK;
    }
    if (resolution < 4 || (resolution & (resolution - 1)))
        return PG_FAIL(PG_ERR_INVALID,
                       "%s is a folder: say the resolution to prepare it at (--resolution R, a "
                       "power of two >= 4)",
                       data);
    if (mkdir(cache_dir, 0755) != 0 && (stat(cache_dir, &st) != 0 || !S_ISDIR(st.st_mode)))
        return PG_FAIL(PG_ERR_IO, "cannot create the dataset cache folder %s", cache_dir);
    pg_dataset_cache_path(data, cache_dir, resolution, path, size);
    pg_prepare_options po;
    pg_prepare_options_default(&po);
    po.resolution = resolution;
    po.cancel = cancel;
    return pg_prepare_cached(data, path, &po);
}
