/* Fuzzes the training-options JSON read on resume (training_options.json and
 * checkpoint metadata): parse, and for any accepted input check that writing
 * and reading it again gives the same text (what is saved is what resumes). */
#include <string.h>

#include "fuzz_util.h"
#include "train/train.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    fuzz_quiet();
    char *text = malloc(size + 1);
    if (!text) return 0;
    memcpy(text, data, size);
    text[size] = 0;
    pg_train_options o, again;
    if (pg_train_options_from_json(text, &o) == PG_OK) {
        pg_train_options_check(&o, 0);
        char *json = pg_train_options_to_json(&o);
        if (pg_train_options_from_json(json, &again) != PG_OK) abort();
        char *json2 = pg_train_options_to_json(&again);
        if (strcmp(json, json2)) abort(); /* the round trip lost or changed a value */
        free(json), free(json2);
    }
    free(text);
    return 0;
}
