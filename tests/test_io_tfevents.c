/* Tests of src/io/tfevents: CRC32C against the standard check value and a
 * bitwise implementation here; the written file walked record by record with
 * that independent CRC; hand-encoded protobuf bytes found in it; the module's
 * reader decoding everything back; corrupted and truncated files detected. */
#include <dirent.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "io/tfevents.h"
#include "testutil.h"

static char dir[64];

static uint32_t crc32c_bitwise(const uint8_t *p, size_t n) {
    uint32_t c = 0xFFFFFFFFu;
    for (size_t i = 0; i < n; i++) {
        c ^= p[i];
        for (int k = 0; k < 8; k++) c = (c & 1) ? (c >> 1) ^ 0x82F63B78u : c >> 1;
    }
    return ~c;
}

static uint32_t masked(const uint8_t *p, size_t n) {
    uint32_t c = crc32c_bitwise(p, n);
    return ((c >> 15) | (c << 17)) + 0xa282ead8u;
}

static uint8_t *slurp(const char *path, size_t *size) {
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    uint8_t *buf = malloc(1 << 20);
    *size = fread(buf, 1, 1 << 20, f);
    fclose(f);
    return buf;
}

static void spit(const char *path, const uint8_t *data, size_t size) {
    FILE *f = fopen(path, "wb");
    fwrite(data, 1, size, f);
    fclose(f);
}

typedef struct {
    int events;
    int version_ok;
    int64_t steps[8];
    int n_values[8];
    char tags[8][4][32];
    float values[8][4];
    double wall_time[8];
} collected;

static pg_status collect(void *user, const pg_tfevents_event *ev) {
    collected *c = user;
    if (c->events >= 8) return PG_OK;
    int i = c->events++;
    if (i == 0) c->version_ok = ev->file_version && !strcmp(ev->file_version, "brain.Event:2");
    c->steps[i] = ev->step;
    c->n_values[i] = ev->n_values;
    c->wall_time[i] = ev->wall_time;
    for (int k = 0; k < ev->n_values && k < 4; k++) {
        snprintf(c->tags[i][k], 32, "%s", ev->tags[k]);
        c->values[i][k] = ev->values[k];
    }
    return PG_OK;
}

static int contains(const uint8_t *hay, size_t n, const uint8_t *needle, size_t m) {
    for (size_t i = 0; i + m <= n; i++)
        if (!memcmp(hay + i, needle, m)) return 1;
    return 0;
}

int main(void) {
    snprintf(dir, sizeof dir, "/tmp/progan_test_tfe_XXXXXX");
    if (!mkdtemp(dir)) return 1;

    test_check(pg_crc32c("123456789", 9) == 0xE3069283u, "crc32c check value", "%08x",
               pg_crc32c("123456789", 9));
    uint8_t junk[1000];
    for (int i = 0; i < 1000; i++) junk[i] = (uint8_t)(i * 7 + (i >> 3));
    test_check(pg_crc32c(junk, 1000) == crc32c_bitwise(junk, 1000), "crc32c vs bitwise",
               "%08x vs %08x", pg_crc32c(junk, 1000), crc32c_bitwise(junk, 1000));

    pg_tfevents *w;
    double t0 = (double)time(NULL);
    test_check(pg_tfevents_create(&w, dir) == PG_OK, "create", "%s", pg_error_message());
    char path[4300];
    snprintf(path, sizeof path, "%s", pg_tfevents_path(w));
    test_check(strstr(path, "/events.out.tfevents.") != NULL, "file name", "%s", path);
    const char *tags1[] = {"a", "Loss/D/loss", "Progress/kimg"};
    const float vals1[] = {1.0f, -0.25f, 12.5f};
    const char *tags2[] = {"Timing/sec_per_kimg"};
    const float vals2[] = {3.75f};
    test_check(pg_tfevents_add_scalars(w, 100, 3, tags1, vals1) == PG_OK, "add 1", "%s",
               pg_error_message());
    test_check(pg_tfevents_add_scalars(w, -3, 1, tags2, vals2) == PG_OK, "add 2", "%s",
               pg_error_message());
    test_check(pg_tfevents_add_scalars(w, 5000000000ll, 0, NULL, NULL) == PG_OK, "add empty", "%s",
               pg_error_message());
    test_check(pg_tfevents_flush(w) == PG_OK, "flush", "%s", pg_error_message());
    test_check(pg_tfevents_destroy(w) == PG_OK, "close", "%s", pg_error_message());

    /* Independent framing walk. */
    size_t size = 0;
    uint8_t *data = slurp(path, &size);
    if (!test_check(data != NULL && size > 16, "event file readable", "%s", path))
        return test_finish("test_io_tfevents");
    size_t pos = 0;
    int records = 0, crc_ok = 1;
    while (data && pos + 12 <= size) {
        uint64_t len = 0;
        for (int i = 0; i < 8; i++) len |= (uint64_t)data[pos + i] << (8 * i);
        uint32_t lc = data[pos + 8] | data[pos + 9] << 8 | data[pos + 10] << 16 |
                      (uint32_t)data[pos + 11] << 24;
        if (lc != masked(data + pos, 8) || pos + 16 + len > size) {
            crc_ok = 0;
            break;
        }
        const uint8_t *q = data + pos + 12 + len;
        uint32_t dc = q[0] | q[1] << 8 | q[2] << 16 | (uint32_t)q[3] << 24;
        if (dc != masked(data + pos + 12, len)) crc_ok = 0;
        pos += 16 + len;
        records++;
    }
    test_check(crc_ok && pos == size && records == 4, "framing and CRCs (independent)",
               "ok %d, %d records, %zu of %zu bytes", crc_ok, records, pos, size);
    /* Summary.Value{tag "a", simple_value 1.0f}: 0a 01 'a' 15 00 00 80 3f. */
    const uint8_t value_a[] = {0x0a, 0x01, 'a', 0x15, 0x00, 0x00, 0x80, 0x3f};
    test_check(contains(data, size, value_a, sizeof value_a), "hand-encoded Value present",
               "not found");
    /* Event.step = 100: field 2 varint -> 10 64. file_version string field 3. */
    const uint8_t step_100[] = {0x10, 0x64};
    const uint8_t version[] = {0x1a, 0x0d, 'b', 'r', 'a', 'i', 'n', '.',
                               'E',  'v',  'e', 'n', 't', ':', '2'};
    test_check(contains(data, size, step_100, 2) && contains(data, size, version, sizeof version),
               "step and file_version bytes", "not found");

    /* The module's reader decodes it all back. */
    collected c = {0};
    size_t count = 0;
    test_check(pg_tfevents_read(path, collect, &c, &count) == PG_OK, "read", "%s",
               pg_error_message());
    test_check(count == 4 && c.events == 4 && c.version_ok, "read events", "count %zu, version %d",
               count, c.version_ok);
    test_check(c.steps[1] == 100 && c.steps[2] == -3 && c.steps[3] == 5000000000ll, "steps",
               "%lld %lld %lld", (long long)c.steps[1], (long long)c.steps[2],
               (long long)c.steps[3]);
    int values_ok = c.n_values[1] == 3 && c.n_values[2] == 1 && c.n_values[3] == 0;
    for (int k = 0; values_ok && k < 3; k++)
        values_ok = !strcmp(c.tags[1][k], tags1[k]) && c.values[1][k] == vals1[k];
    values_ok = values_ok && !strcmp(c.tags[2][0], tags2[0]) && c.values[2][0] == vals2[0];
    test_check(values_ok, "tags and values", "decoded differently");
    test_check(fabs(c.wall_time[0] - t0) < 60 && c.wall_time[1] >= c.wall_time[0], "wall time",
               "%.3f vs now %.0f", c.wall_time[0], t0);

    /* Corruption: a data byte, a length byte, a truncation. */
    char bad[4400];
    snprintf(bad, sizeof bad, "%s/corrupt", dir);
    size_t second = 16 + (data[0] | (size_t)data[1] << 8);
    uint8_t *copy = malloc(size);
    memcpy(copy, data, size);
    copy[second + 12 + 5] ^= 0x01;
    spit(bad, copy, size);
    test_check(pg_tfevents_read(bad, NULL, NULL, NULL) == PG_ERR_FORMAT &&
                   strstr(pg_error_message(), "data CRC"),
               "flipped data byte detected", "%s", pg_error_message());
    memcpy(copy, data, size);
    copy[second + 1] ^= 0x40;
    spit(bad, copy, size);
    test_check(pg_tfevents_read(bad, NULL, NULL, NULL) == PG_ERR_FORMAT &&
                   strstr(pg_error_message(), "length CRC"),
               "flipped length byte detected", "%s", pg_error_message());
    spit(bad, data, size - 2);
    test_check(pg_tfevents_read(bad, NULL, NULL, NULL) == PG_ERR_FORMAT &&
                   strstr(pg_error_message(), "truncated"),
               "truncation detected", "%s", pg_error_message());
    free(copy);
    free(data);

    /* A second writer in the same second gets its own file. */
    pg_tfevents *w2 = NULL, *w3 = NULL; /* destroyed below even when a create failed */
    test_check(pg_tfevents_create(&w2, dir) == PG_OK && pg_tfevents_create(&w3, dir) == PG_OK &&
                   strcmp(pg_tfevents_path(w2), pg_tfevents_path(w3)) != 0,
               "distinct file names", "%s", pg_error_message());
    pg_tfevents_destroy(w2);
    pg_tfevents_destroy(w3);
    test_check(pg_tfevents_create(&w2, "/nonexistent/run") == PG_ERR_IO, "missing folder", "%s",
               pg_error_message());

    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    if (getenv("PROGAN_TEST_KEEP"))
        fprintf(stderr, "kept %s\n", dir);
    else if (system(cmd) != 0)
        fprintf(stderr, "cannot remove %s\n", dir);
    return test_finish("test_io_tfevents");
}
