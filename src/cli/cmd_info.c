/* progan info FILE [--verify]: describes a dataset file (header and per-level
 * statistics) or hands any other file to the safetensors describer. */
#include <stdio.h>
#include <string.h>

#include "cli/commands.h"
#include "data/dataset.h"
#include "io/safetensors.h"

int cmd_info(int argc, char **argv) {
    const char *path = NULL;
    int verify = 0;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) {
            printf("usage: progan info FILE [--verify]\n"
                   "Prints the header of a dataset file with per-level mean/std per channel,\n"
                   "or the tensors of a checkpoint/export (.safetensors).\n\n"
                   "  --verify   recompute a dataset's pixel hash and compare (default off)\n"
                   "  --help     this text\n");
            return 0;
        } else if (!strcmp(argv[i], "--verify"))
            verify = 1;
        else if (argv[i][0] == '-' && argv[i][1]) {
            fprintf(stderr, "progan info: unknown option '%s' (see progan info --help)\n", argv[i]);
            return 2;
        } else if (!path)
            path = argv[i];
        else {
            fprintf(stderr, "progan info: one FILE only ('%s' is extra)\n", argv[i]);
            return 2;
        }
    }
    if (!path) {
        fprintf(stderr, "usage: progan info FILE [--verify]\n");
        return 2;
    }
    pg_status s = pg_dataset_file_is_dataset(path) ? pg_dataset_describe(path, stdout, verify)
                                                   : pg_safetensors_describe(path, stdout);
    if (s != PG_OK) {
        fprintf(stderr, "progan info: %s\n", pg_error_message());
        return 1;
    }
    return 0;
}
