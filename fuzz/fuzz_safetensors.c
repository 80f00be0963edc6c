/* Fuzzes the safetensors reader (checkpoints, exports and step dumps come from
 * strangers): open, every tensor's checksum, the metadata, the describer, and
 * a checkpoint's options and counters (pg_checkpoint_peek). */
#include "fuzz_util.h"
#include "io/safetensors.h"
#include "train/checkpoint.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    fuzz_quiet();
    const char *path = fuzz_file(data, size, ".safetensors");
    pg_safetensors_reader *r;
    if (!path || pg_safetensors_reader_create(&r, path) != PG_OK) return 0;
    uint64_t sum = 0;
    for (size_t i = 0; i < pg_safetensors_reader_count(r); i++)
        sum += pg_safetensors_tensor_checksum(pg_safetensors_reader_at(r, i));
    for (size_t i = 0; i < pg_safetensors_reader_metadata_count(r); i++) {
        const char *key, *value;
        pg_safetensors_reader_metadata_at(r, i, &key, &value);
        sum += (uint64_t)key[0] + (uint64_t)value[0];
    }
    pg_safetensors_reader_destroy(r);
    FILE *null = fopen("/dev/null", "w");
    if (null) pg_safetensors_describe(path, null), fclose(null);
    pg_train_options o;
    char hash[64];
    pg_checkpoint_peek(path, &o, hash, sizeof hash);
    return (int)(sum & 0);
}
