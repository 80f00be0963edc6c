/* JSON lines through cJSON with non-finite numbers as counted nulls (see
 * json_line.h). The count is a member of the line's top-level object, moved
 * to the end when the line is written. */
#include "io/json_line.h"

#include <math.h>
#include <stdlib.h>

#define COUNT_KEY "nonfinite"

static void count_one(cJSON *obj) {
    cJSON *c = cJSON_GetObjectItemCaseSensitive(obj, COUNT_KEY);
    if (c)
        cJSON_SetNumberValue(c, c->valuedouble + 1);
    else
        cJSON_AddNumberToObject(obj, COUNT_KEY, 1);
}

static cJSON *number_or_null(cJSON *root, double v) {
    if (isfinite(v)) return cJSON_CreateNumber(v);
    count_one(root);
    return cJSON_CreateNull();
}

void pg_json_number(cJSON *root, cJSON *obj, const char *key, double v) {
    cJSON_AddItemToObject(obj, key, number_or_null(root, v));
}

cJSON *pg_json_numbers(cJSON *root, const double *v, int n) {
    cJSON *a = cJSON_CreateArray();
    for (int i = 0; i < n; i++) cJSON_AddItemToArray(a, number_or_null(root, v[i]));
    return a;
}

pg_status pg_json_write_line(FILE *f, cJSON *obj, const char *path) {
    /* the count goes last, after the values it describes */
    cJSON *c = cJSON_DetachItemFromObjectCaseSensitive(obj, COUNT_KEY);
    if (c) cJSON_AddItemToObject(obj, COUNT_KEY, c);
    char *text = cJSON_PrintUnformatted(obj);
    cJSON_Delete(obj);
    if (!text) return PG_FAIL(PG_ERR_OUT_OF_MEMORY, "out of memory writing %s", path);
    int ok = fputs(text, f) >= 0 && fputc('\n', f) != EOF && fflush(f) == 0;
    free(text);
    return ok ? PG_OK : PG_FAIL(PG_ERR_IO, "cannot write %s (disk full?)", path);
}

pg_status pg_json_append_line(const char *path, cJSON *obj) {
    FILE *f = fopen(path, "a");
    if (!f) {
        cJSON_Delete(obj);
        return PG_FAIL(PG_ERR_IO, "cannot write %s: check the folder's permissions", path);
    }
    pg_status st = pg_json_write_line(f, obj, path);
    if (fclose(f) && st == PG_OK) st = PG_FAIL(PG_ERR_IO, "cannot write %s", path);
    return st;
}
