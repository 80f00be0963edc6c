/* Fuzzes the dataset file reader (prepared datasets are shared online): the
 * header decoder, open (mmap, level layout), verify (the pixel hash), level
 * statistics and the describer. Inputs of even size get a valid header
 * checksum so the mutations reach past it; odd ones test the checksum. */
#include <string.h>
#include <xxhash.h>

#include "data/dataset.h"
#include "fuzz_util.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    fuzz_quiet();
    uint8_t *copy = malloc(size ? size : 1);
    if (!copy) return 0;
    memcpy(copy, data, size);
    if (size >= PG_DATASET_HEADER_BYTES && size % 2 == 0) {
        uint64_t sum = XXH3_64bits(copy, 504);
        for (int i = 0; i < 8; i++) copy[504 + i] = (uint8_t)(sum >> (8 * i));
    }
    pg_dataset_header h;
    pg_dataset_header_decode(copy, size, "fuzz", &h);
    const char *path = fuzz_file(copy, size, ".pgd");
    free(copy);
    pg_dataset *ds;
    if (!path || pg_dataset_open(path, &ds) != PG_OK) return 0;
    pg_dataset_verify(ds);
    double mean[3], std[3];
    for (int r = 4; r <= pg_dataset_resolution(ds); r *= 2)
        if (pg_dataset_level(ds, r)) pg_dataset_level_stats(ds, r, mean, std);
    pg_dataset_close(ds);
    FILE *null = fopen("/dev/null", "w");
    if (null) pg_dataset_describe(path, null, 1), fclose(null);
    return 0;
}
