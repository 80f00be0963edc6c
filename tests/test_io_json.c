/* JSON lines (src/io/json_line): NaN and +-Inf are written as null and counted
 * in "nonfinite", so every line parses with a strict parser (cJSON refuses the
 * bare nan/inf tokens printf would write); finite values are kept. */
#include "io/json_line.h"
#include "testutil.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static void test_nonfinite(void) {
    char path[] = "/tmp/progan_test_json_XXXXXX";
    int fd = mkstemp(path);
    FILE *f = fdopen(fd, "w+");
    cJSON *j = cJSON_CreateObject(), *nested = cJSON_AddObjectToObject(j, "Loss/D/loss");
    pg_json_number(j, j, "finite", 0.1 + 0.2);
    pg_json_number(j, j, "loss", NAN);
    pg_json_number(j, nested, "mean", INFINITY);
    double v[3] = {1.5, -INFINITY, 2.5};
    cJSON_AddItemToObject(j, "array", pg_json_numbers(j, v, 3));
    test_check(pg_json_write_line(f, j, path) == PG_OK, "write", "%s", pg_error_message());
    rewind(f);
    char line[1024] = "";
    if (!fgets(line, sizeof line, f)) line[0] = 0;
    fclose(f);
    unlink(path);
    cJSON *back = cJSON_Parse(line);
    const cJSON *count = cJSON_GetObjectItemCaseSensitive(back, "nonfinite");
    const cJSON *finite = cJSON_GetObjectItemCaseSensitive(back, "finite");
    test_check(back && cJSON_IsNumber(count) && count->valuedouble == 3, "nonfinite counted",
               "'%s'", line);
    /* cJSON prints 15 significant digits when they read back within its epsilon */
    test_check(cJSON_IsNumber(finite) && fabs(finite->valuedouble - 0.3) < 1e-15, "finite kept",
               "'%s'", line);
    test_check(cJSON_IsNull(cJSON_GetObjectItemCaseSensitive(back, "loss")) &&
                   !strstr(line, "nan") && !strstr(line, "inf"),
               "null, not nan", "'%s'", line);
    test_check(strchr(line, '\n') == line + strlen(line) - 1, "one line", "'%s'", line);
    cJSON_Delete(back);
}

/* A finite-only line carries no count. */
static void test_no_count(void) {
    cJSON *j = cJSON_CreateObject();
    pg_json_number(j, j, "x", 1);
    FILE *f = tmpfile();
    pg_json_write_line(f, j, "tmpfile");
    rewind(f);
    char line[256] = "";
    if (!fgets(line, sizeof line, f)) line[0] = 0;
    fclose(f);
    test_check(!strcmp(line, "{\"x\":1}\n"), "no count when finite", "'%s'", line);
}

int main(void) {
    test_nonfinite();
    test_no_count();
    return test_finish("test_io_json");
}
