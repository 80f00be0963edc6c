/* Fuzzes the command line's value parsers: seed lists (generate, interpolate),
 * whole-string integers and numbers, and per-resolution lists (--batch,
 * --lr). The first byte picks the parser; results are checked for the ranges
 * the parsers promise. */
#include <math.h>
#include <string.h>

#include "cli/commands.h"
#include "fuzz_util.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (size < 1 || size > 4096) return 0;
    char text[4097], err[512];
    memcpy(text, data + 1, size - 1);
    text[size - 1] = 0;
    long long n;
    double d, per[11] = {0};
    int bare, count;
    uint64_t *seeds;
    switch (data[0] % 4) {
    case 0:
        if (cli_parse_seeds(text, &seeds, &count, err, sizeof err) == 0) {
            if (count < 1 || count > CLI_MAX_SEEDS) abort();
            for (int i = 0; i < count; i++)
                if (seeds[i] > CLI_MAX_SEED) abort();
            free(seeds);
        }
        break;
    case 1:
        if (cli_parse_int(text, -5, 1000, &n) && (n < -5 || n > 1000)) abort();
        break;
    case 2:
        if (cli_parse_number(text, 0, 1, data[0] & 4, &d) && !(d >= 0 && d <= 1)) abort();
        break;
    default:
        if (cli_parse_per_res(text, 10, 1, 100, per, &bare, err, sizeof err) == 0)
            for (int l = 0; l <= 10; l++)
                if (per[l] != 0 && !(per[l] >= 1 && per[l] <= 100)) abort();
    }
    return 0;
}
