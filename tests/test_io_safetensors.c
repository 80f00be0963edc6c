/* Tests of src/io/safetensors: a round trip checked against an independent
 * parse of the bytes (cJSON on the raw header), describe's output, and every
 * malformed-file case refused with an error naming the file. */
#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <xxhash.h>

#include "io/safetensors.h"
#include "testutil.h"

static char dir[64];

static void path_in_dir(char *buf, size_t size, const char *name) {
    snprintf(buf, size, "%s/%s", dir, name);
}

static unsigned char *slurp(const char *path, size_t *size) {
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    unsigned char *buf = malloc((size_t)n + 1);
    if (fread(buf, 1, (size_t)n, f) != (size_t)n) n = 0;
    fclose(f);
    *size = (size_t)n;
    return buf;
}

/* Writes u64 header_len (or len_override if non-zero), the header, then data. */
static void write_raw(const char *path, const char *header, const void *data, size_t data_size,
                      uint64_t len_override) {
    FILE *f = fopen(path, "wb");
    uint64_t n = len_override ? len_override : strlen(header);
    unsigned char len[8];
    for (int i = 0; i < 8; i++) len[i] = (unsigned char)(n >> (8 * i));
    fwrite(len, 1, 8, f);
    fwrite(header, 1, strlen(header), f);
    if (data_size) fwrite(data, 1, data_size, f);
    fclose(f);
}

static void test_round_trip(void) {
    char path[128];
    path_in_dir(path, sizeof path, "round.safetensors");
    float w[6] = {1.5f, -2.0f, 3.25f, 0.0f, -0.125f, 1e-30f};
    uint8_t u[5] = {1, 2, 3, 250, 255};
    int64_t steps[2] = {-7, 1234567890123ll};
    float scalar = 42.0f;
    int64_t shape_w[2] = {2, 3}, shape_u[1] = {5}, shape_s[1] = {2}, shape_e[2] = {0, 4};

    pg_safetensors_writer *wr;
    test_check(pg_safetensors_writer_create(&wr) == PG_OK, "writer_create", "%s",
               pg_error_message());
    test_check(pg_safetensors_writer_add(wr, "G.b4.conv.weight", PG_DTYPE_F32, 2, shape_w, w) ==
                   PG_OK,
               "add f32", "%s", pg_error_message());
    pg_safetensors_writer_add(wr, "bytes", PG_DTYPE_U8, 1, shape_u, u);
    pg_safetensors_writer_add(wr, "steps", PG_DTYPE_I64, 1, shape_s, steps);
    pg_safetensors_writer_add(wr, "scalar", PG_DTYPE_F32, 0, NULL, &scalar);
    pg_safetensors_writer_add(wr, "empty", PG_DTYPE_F32, 2, shape_e, NULL);
    test_check(pg_safetensors_writer_add(wr, "bytes", PG_DTYPE_U8, 1, shape_u, u) != PG_OK,
               "writer refuses duplicate", "accepted");
    pg_safetensors_writer_set_metadata(wr, "kind", "checkpoint");
    pg_safetensors_writer_set_metadata(wr, "resolution", "32");
    pg_safetensors_writer_set_metadata(wr, "resolution", "64"); /* replace */
    test_check(pg_safetensors_writer_write(wr, path) == PG_OK, "write", "%s", pg_error_message());
    pg_safetensors_writer_destroy(wr);

    /* Independent look at the bytes. */
    size_t size;
    unsigned char *bytes = slurp(path, &size);
    uint64_t n = 0;
    for (int i = 0; i < 8; i++) n |= (uint64_t)bytes[i] << (8 * i);
    test_check((8 + n) % 8 == 0, "header padded to 8", "8+N = %llu", (unsigned long long)(8 + n));
    test_check(bytes[8] == '{', "header starts with {", "got %c", bytes[8]);
    size_t data_size = 24 + 5 + 16 + 4 + 0;
    test_check(size == 8 + n + data_size, "file size", "%zu vs %llu", size,
               (unsigned long long)(8 + n + data_size));
    char *header = calloc(n + 1, 1);
    memcpy(header, bytes + 8, n);
    size_t json_end = strlen(header);
    while (json_end && header[json_end - 1] == ' ') json_end--;
    test_check(header[json_end - 1] == '}', "padding is spaces", "header ends in '%c'",
               header[json_end - 1]);
    cJSON *root = cJSON_Parse(header);
    test_check(root != NULL, "header is JSON", "%s", header);
    cJSON *meta = cJSON_GetObjectItem(root, "__metadata__");
    const char *fmt = cJSON_GetStringValue(cJSON_GetObjectItem(meta, "format"));
    const char *ver = cJSON_GetStringValue(cJSON_GetObjectItem(meta, "progan_version"));
    const char *res = cJSON_GetStringValue(cJSON_GetObjectItem(meta, "resolution"));
    test_check(fmt && !strcmp(fmt, "pt"), "format pt", "%s", fmt ? fmt : "(none)");
    test_check(ver && !strcmp(ver, PROGAN_VERSION), "progan_version", "%s", ver ? ver : "(none)");
    test_check(res && !strcmp(res, "64"), "metadata replaced", "%s", res ? res : "(none)");
    const char *order[] = {"G.b4.conv.weight", "bytes", "steps", "scalar", "empty"};
    double expect_begin = 0;
    const void *sources[] = {w, u, steps, &scalar, NULL};
    size_t sizes[] = {24, 5, 16, 4, 0};
    for (int i = 0; i < 5; i++) {
        cJSON *off = cJSON_GetObjectItem(cJSON_GetObjectItem(root, order[i]), "data_offsets");
        double b = cJSON_GetArrayItem(off, 0)->valuedouble,
               e = cJSON_GetArrayItem(off, 1)->valuedouble;
        test_check(b == expect_begin && e == b + sizes[i], "offsets back to back in order",
                   "%s: [%g, %g], expected begin %g", order[i], b, e, expect_begin);
        if (sizes[i])
            test_check(!memcmp(bytes + 8 + n + (size_t)b, sources[i], sizes[i]), "data bytes",
                       "%s differs", order[i]);
        expect_begin = e;
    }
    cJSON *wshape = cJSON_GetObjectItem(cJSON_GetObjectItem(root, order[0]), "shape");
    test_check(cJSON_GetArraySize(wshape) == 2 && cJSON_GetArrayItem(wshape, 1)->valueint == 3,
               "shape written", "bad shape");
    cJSON_Delete(root);
    free(header);
    free(bytes);

    /* Reader. */
    pg_safetensors_reader *r;
    test_check(pg_safetensors_reader_create(&r, path) == PG_OK, "reader_create", "%s",
               pg_error_message());
    test_check(pg_safetensors_reader_count(r) == 5, "count", "%zu", pg_safetensors_reader_count(r));
    for (size_t i = 0; i < pg_safetensors_reader_count(r) && i < 5; i++)
        test_check(!strcmp(pg_safetensors_reader_at(r, i)->name, order[i]), "file order", "%zu: %s",
                   i, pg_safetensors_reader_at(r, i)->name);
    const pg_safetensors_tensor *t = pg_safetensors_reader_find(r, "G.b4.conv.weight");
    test_check(t && t->dtype == PG_DTYPE_F32 && t->ndim == 2 && t->shape[0] == 2 &&
                   t->shape[1] == 3 && t->nbytes == 24 && !memcmp(t->data, w, 24),
               "find f32", "mismatch");
    t = pg_safetensors_reader_find(r, "steps");
    int64_t got_steps[2] = {0, 0};
    if (t) memcpy(got_steps, t->data, 16);
    test_check(t && t->dtype == PG_DTYPE_I64 && got_steps[0] == -7 &&
                   got_steps[1] == 1234567890123ll,
               "find i64 (after an odd-sized u8)", "mismatch");
    t = pg_safetensors_reader_find(r, "scalar");
    float scalar_back = 0; /* tensor data need not be aligned: copy, never cast */
    if (t && t->nbytes == 4) memcpy(&scalar_back, t->data, 4);
    test_check(t && t->ndim == 0 && t->nbytes == 4 && scalar_back == 42.0f, "0-dim tensor",
               "mismatch");
    t = pg_safetensors_reader_find(r, "empty");
    test_check(t && t->nbytes == 0 && t->shape[0] == 0 && t->shape[1] == 4, "empty tensor",
               "mismatch");
    test_check(pg_safetensors_reader_find(r, "nope") == NULL, "find missing", "found");
    const pg_safetensors_tensor *e;
    test_check(pg_safetensors_reader_expect(r, "G.b4.conv.weight", PG_DTYPE_F32, 2, shape_w, &e) ==
                   PG_OK,
               "expect ok", "%s", pg_error_message());
    int64_t wrong[2] = {3, 2};
    test_check(pg_safetensors_reader_expect(r, "G.b4.conv.weight", PG_DTYPE_F32, 2, wrong, &e) !=
                       PG_OK &&
                   strstr(pg_error_message(), "[2, 3]") && strstr(pg_error_message(), "[3, 2]"),
               "expect names both shapes", "%s", pg_error_message());
    const char *m = pg_safetensors_reader_metadata(r, "kind");
    test_check(m && !strcmp(m, "checkpoint"), "metadata get", "%s", m ? m : "(none)");
    test_check(pg_safetensors_reader_metadata_count(r) == 4, "metadata count", "%zu",
               pg_safetensors_reader_metadata_count(r));
    pg_safetensors_reader_destroy(r);

    /* describe: kind, resolution, and XXH3 of each tensor computed here. */
    char out_path[128];
    path_in_dir(out_path, sizeof out_path, "describe.txt");
    FILE *out = fopen(out_path, "w");
    test_check(pg_safetensors_describe(path, out) == PG_OK, "describe", "%s", pg_error_message());
    fclose(out);
    size_t dsize;
    char *text = (char *)slurp(out_path, &dsize);
    text[dsize] = 0;
    char sum[32];
    snprintf(sum, sizeof sum, "%016llx", (unsigned long long)XXH3_64bits(w, 24));
    test_check(strstr(text, "training checkpoint") && strstr(text, "resolution: 64") &&
                   strstr(text, "G.b4.conv.weight") && strstr(text, sum) &&
                   strstr(text, "[2, 3]") && strstr(text, "I64"),
               "describe output", "missing pieces in:\n%s", text);
    free(text);
}

/* Kind guessed from tensor names when there is no "kind" metadata. */
static void test_describe_guess(void) {
    const char *prefixes[] = {"opt.G.m.x", "Gs.b4.conv.weight", "inputs.reals"};
    const char *kinds[] = {"training checkpoint", "per-resolution export", "step dump"};
    for (int k = 0; k < 3; k++) {
        char path[128], out_path[128];
        path_in_dir(path, sizeof path, "guess.safetensors");
        path_in_dir(out_path, sizeof out_path, "guess.txt");
        float v = 1;
        int64_t shape[1] = {1};
        pg_safetensors_writer *wr;
        pg_safetensors_writer_create(&wr);
        pg_safetensors_writer_add(wr, prefixes[k], PG_DTYPE_F32, 1, shape, &v);
        pg_safetensors_writer_write(wr, path);
        pg_safetensors_writer_destroy(wr);
        FILE *out = fopen(out_path, "w");
        pg_safetensors_describe(path, out);
        fclose(out);
        size_t n;
        char *text = (char *)slurp(out_path, &n);
        text[n] = 0;
        test_check(strstr(text, kinds[k]) != NULL, "describe guesses kind", "%s -> %s", prefixes[k],
                   text);
        free(text);
    }
}

typedef struct {
    const char *what, *header;
    size_t data_size;
    uint64_t len_override;
    const char *keyword; /* expected in the message */
} bad_case;

static void test_malformed(void) {
    static const char data[64] = {0};
    const bad_case cases[] = {
        {"not JSON", "{not json}", 0, 0, "JSON"},
        {"not an object", "[1, 2]        ", 0, 0, "'{'"},
        {"bad dtype", "{\"a\":{\"dtype\":\"F33\",\"shape\":[2],\"data_offsets\":[0,8]}}", 8, 0,
         "dtype"},
        {"shape/size mismatch", "{\"a\":{\"dtype\":\"F32\",\"shape\":[3],\"data_offsets\":[0,8]}}",
         8, 0, "does not match"},
        {"offsets out of range",
         "{\"a\":{\"dtype\":\"F32\",\"shape\":[4],\"data_offsets\":[0,16]}}", 8, 0, "out of range"},
        {"begin after end", "{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[8,0]}}", 8,
         0, "out of range"},
        {"overlap",
         "{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]},"
         "\"b\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[4,12]}}",
         12, 0, "overlaps"},
        {"duplicate",
         "{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]},"
         "\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[4,8]}}",
         8, 0, "twice"},
        {"gap", "{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[4,8]}}", 8, 0, "gap"},
        {"trailing data", "{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]}}", 8, 0,
         "cover"},
        {"non-string metadata", "{\"__metadata__\":{\"resolution\":32}}", 0, 0, "not a string"},
        {"metadata not an object", "{\"__metadata__\":\"x\"}", 0, 0, "not a JSON object"},
        {"negative shape", "{\"a\":{\"dtype\":\"F32\",\"shape\":[-1],\"data_offsets\":[0,0]}}", 0,
         0, "shape"},
        {"fractional offset", "{\"a\":{\"dtype\":\"U8\",\"shape\":[1],\"data_offsets\":[0,1.5]}}",
         2, 0, "data_offsets"},
        {"missing field", "{\"a\":{\"dtype\":\"F32\",\"shape\":[1]}}", 0, 0, "needs"},
        {"unknown field",
         "{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4],\"x\":1}}", 4, 0,
         "unknown field"},
        {"overflowing shape",
         "{\"a\":{\"dtype\":\"F32\",\"shape\":[4294967296,4294967296],\"data_offsets\":[0,0]}}", 0,
         0, "does not match"},
        {"garbage after JSON", "{}  x  ", 0, 0, "after"},
        {"header too long", "{}", 0, 100000001ull, "100 MB"},
        {"header longer than file", "{}      ", 0, 4096, "truncated"},
    };
    char path[128];
    path_in_dir(path, sizeof path, "bad.safetensors");
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        const bad_case *c = &cases[i];
        write_raw(path, c->header, data, c->data_size, c->len_override);
        pg_safetensors_reader *r = NULL;
        pg_status s = pg_safetensors_reader_create(&r, path);
        const char *msg = pg_error_message();
        test_check(s == PG_ERR_FORMAT && r == NULL, c->what, "status %d (expected format error)",
                   (int)s);
        test_check(strstr(msg, path) && strstr(msg, c->keyword), c->what,
                   "message lacks the path or \"%s\": %s", c->keyword, msg);
        pg_safetensors_reader_destroy(r);
    }

    /* Truncations of a valid file at every length. */
    char good[128];
    path_in_dir(good, sizeof good, "good.safetensors");
    float v[4] = {1, 2, 3, 4};
    int64_t shape[1] = {4};
    pg_safetensors_writer *wr;
    pg_safetensors_writer_create(&wr);
    pg_safetensors_writer_add(wr, "v", PG_DTYPE_F32, 1, shape, v);
    pg_safetensors_writer_write(wr, good);
    pg_safetensors_writer_destroy(wr);
    size_t size;
    unsigned char *bytes = slurp(good, &size);
    int refused = 0, tried = 0;
    for (size_t len = 0; len < size; len++) {
        FILE *f = fopen(path, "wb");
        fwrite(bytes, 1, len, f);
        fclose(f);
        pg_safetensors_reader *r = NULL;
        tried++;
        if (pg_safetensors_reader_create(&r, path) != PG_OK && strstr(pg_error_message(), path))
            refused++;
        pg_safetensors_reader_destroy(r);
    }
    test_check(refused == tried, "every truncation refused", "%d of %d", refused, tried);
    free(bytes);
    pg_safetensors_reader *r = NULL;
    test_check(pg_safetensors_reader_create(&r, good) == PG_OK, "untruncated accepted", "%s",
               pg_error_message());
    pg_safetensors_reader_destroy(r);
    test_check(pg_safetensors_reader_create(&r, "/nonexistent/x.safetensors") == PG_ERR_IO,
               "missing file", "%s", pg_error_message());
}

int main(void) {
    snprintf(dir, sizeof dir, "/tmp/progan_test_st_XXXXXX");
    if (!mkdtemp(dir)) return 1;
    test_round_trip();
    test_describe_guess();
    test_malformed();
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    if (getenv("PROGAN_TEST_KEEP"))
        fprintf(stderr, "kept %s\n", dir);
    else if (system(cmd) != 0)
        fprintf(stderr, "cannot remove %s\n", dir);
    return test_finish("test_io_safetensors");
}
