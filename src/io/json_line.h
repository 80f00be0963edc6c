/* src/io/json_line: machine-readable output (stats.jsonl, metric-*.jsonl,
 * --dry-run, info --json) through cJSON. JSON has no NaN or Infinity, and
 * parsers reject a bare nan/inf token, so a non-finite number is written as
 * null and counted in the object's "nonfinite" key. Calls cJSON only. */
#ifndef PROGAN_IO_JSON_LINE_H
#define PROGAN_IO_JSON_LINE_H

#include <cjson/cJSON.h>
#include <stdio.h>

#include "base/base.h"

/* Adds key: v to obj, or key: null when v is NaN or +-Inf, counted in root
 * (the top-level object of the line; obj itself or an object nested in it). */
void pg_json_number(cJSON *root, cJSON *obj, const char *key, double v);
/* An array of n numbers, non-finite ones as null (counted in root). */
cJSON *pg_json_numbers(cJSON *root, const double *v, int n);
/* Adds "nonfinite": count when any value of obj was written as null, prints
 * obj on one line plus "\n" to f, flushes, and deletes obj. */
pg_status pg_json_write_line(FILE *f, cJSON *obj, const char *path);
/* Appends one line to the file at path (created if missing). */
pg_status pg_json_append_line(const char *path, cJSON *obj);

#endif
