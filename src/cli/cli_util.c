/* Command-line helpers shared by the subcommands: flag values, integers,
 * seed lists and folders. Only src/cli uses them. */
#include "cli/commands.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

/* --name VALUE or --name=VALUE, advancing *i; NULL if argv[*i] is another flag.
 * *missing is set when the flag is last and has no value. */
const char *cli_flag_value(int argc, char **argv, int *i, const char *name, int *missing) {
    size_t n = strlen(name);
    if (strncmp(argv[*i], name, n)) return NULL;
    if (argv[*i][n] == '=') return argv[*i] + n + 1;
    if (argv[*i][n] != 0) return NULL;
    if (*i + 1 >= argc) {
        *missing = 1;
        return NULL;
    }
    return argv[++*i];
}

/* Whole-string decimal integer in [lo, hi]; 1 on success. */
int cli_parse_int(const char *s, long long lo, long long hi, long long *v) {
    char *end;
    errno = 0;
    *v = strtoll(s, &end, 10);
    return *s && !*end && !errno && *v >= lo && *v <= hi;
}

/* Whole-string finite decimal number in [lo, hi] (or [lo, hi) when hi_open);
 * "nan", "inf", hex floats and trailing text are refused. 1 on success. */
int cli_parse_number(const char *s, double lo, double hi, int hi_open, double *v) {
    char *end;
    for (const char *p = s; *p; p++)
        if (!strchr("0123456789.eE+-", *p)) return 0;
    errno = 0;
    *v = strtod(s, &end);
    return *s && !*end && !errno && isfinite(*v) && *v >= lo && (hi_open ? *v < hi : *v <= hi);
}

/* "4:128,64:32,1024:4" (each R:V sets resolution R and above until the next
 * entry; R a power of two from 4 to 2^max_log2, increasing) or a bare "V" (every
 * resolution). Fills values[log2 R]; entries below the first R are left as they
 * were. *bare is set for a bare value. 0, or -1 with the reason in err. */
int cli_parse_per_res(const char *text, int max_log2, double lo, double hi, double *values,
                      int *bare, char *err, size_t err_size) {
    *bare = strchr(text, ':') == NULL;
    if (*bare) {
        if (cli_parse_number(text, lo, hi, 0, &values[0])) return 0;
        snprintf(err, err_size, "'%s': expected a number in [%g, %g] or R:V,R:V,...", text, lo, hi);
        return -1;
    }
    char item[64];
    int prev = 1;
    for (const char *p = text; *p;) {
        size_t len = strcspn(p, ",");
        long long r;
        double v;
        char *colon;
        if (len == 0 || len >= sizeof item) goto bad;
        memcpy(item, p, len), item[len] = 0;
        if (!(colon = strchr(item, ':'))) goto bad;
        *colon = 0;
        if (!cli_parse_int(item, 4, 1LL << max_log2, &r) || (r & (r - 1)) ||
            !cli_parse_number(colon + 1, lo, hi, 0, &v))
            goto bad;
        int l = 0;
        while ((1LL << l) < r) l++;
        if (l <= prev) {
            snprintf(err, err_size, "'%s': resolutions must increase (%lld after %d)", text, r,
                     1 << prev);
            return -1;
        }
        for (int k = l; k <= max_log2; k++) values[k] = v;
        prev = l;
        p += len + (p[len] == ',');
        if (p[-1] == ',' && !*p) goto bad;
    }
    return 0;
bad:
    snprintf(err, err_size,
             "'%s': expected R:V,R:V,... with R a power of two from 4 to %d and V in [%g, %g] "
             "(e.g. 4:128,64:32,1024:4), or one value",
             text, 1 << max_log2, lo, hi);
    return -1;
}

/* One seed: digits only (no sign, no spaces), so "-3" or "1e3" are refused. */
static int parse_seed(const char *s, size_t len, uint64_t *out) {
    if (!len || len > 10) return 0;
    uint64_t v = 0;
    for (size_t i = 0; i < len; i++) {
        if (s[i] < '0' || s[i] > '9') return 0;
        v = v * 10 + (uint64_t)(s[i] - '0');
    }
    if (v > CLI_MAX_SEED) return 0;
    *out = v;
    return 1;
}

/* Seed lists are validated completely before anything is rendered, so a typo
 * costs no device time; the message says which item is wrong and why. */
int cli_parse_seeds(const char *text, uint64_t **seeds, int *count, char *err, size_t err_size) {
    *seeds = NULL;
    *count = 0;
    uint64_t total = 0;
    for (int pass = 0; pass < 2; pass++) {
        const char *p = text;
        int k = 0;
        if (!*p) {
            snprintf(err, err_size, "the seed list is empty (examples: 0-63, 1,7,3, 0-3,9)");
            return -1;
        }
        for (;;) {
            const char *comma = strchr(p, ',');
            size_t len = comma ? (size_t)(comma - p) : strlen(p);
            const char *dash = memchr(p, '-', len);
            uint64_t a, b;
            int ok = dash ? parse_seed(p, (size_t)(dash - p), &a) &&
                                parse_seed(dash + 1, len - (size_t)(dash - p) - 1, &b)
                          : parse_seed(p, len, &a);
            if (!dash) b = a;
            if (!ok) {
                snprintf(err, err_size,
                         "bad seed item '%.*s' in '%s': use N or A-B with 0 <= N <= %u, "
                         "separated by commas",
                         (int)len, p, text, CLI_MAX_SEED);
                return -1;
            }
            if (b < a) {
                snprintf(err, err_size, "reversed seed range '%.*s': write it as %llu-%llu",
                         (int)len, p, (unsigned long long)b, (unsigned long long)a);
                return -1;
            }
            if (pass == 0) {
                total += b - a + 1;
                if (total > CLI_MAX_SEEDS) {
                    snprintf(err, err_size, "'%s' names more than %d seeds", text, CLI_MAX_SEEDS);
                    return -1;
                }
            } else {
                for (uint64_t s = a; s <= b; s++) (*seeds)[k++] = s;
            }
            if (!comma) break;
            p = comma + 1;
        }
        if (pass == 0) {
            *seeds = malloc((size_t)total * sizeof **seeds);
            if (!*seeds) {
                snprintf(err, err_size, "out of memory for %llu seeds", (unsigned long long)total);
                return -1;
            }
        }
    }
    *count = (int)total;
    return 0;
}

/* mkdir -p, so --out can name a new nested folder. */
int cli_mkdir_p(const char *dir) {
    char path[4096];
    if (snprintf(path, sizeof path, "%s", dir) >= (int)sizeof path) return -1;
    for (char *p = path + 1; *p; p++) {
        if (*p != '/') continue;
        *p = 0;
        if (mkdir(path, 0777) && errno != EEXIST) return -1;
        *p = '/';
    }
    if (mkdir(path, 0777) && errno != EEXIST) return -1;
    struct stat st;
    return stat(path, &st) == 0 && S_ISDIR(st.st_mode) ? 0 : -1;
}
