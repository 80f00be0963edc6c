/* safetensors writer, defensive reader and describer (see safetensors.h and
 * docs/checkpoint-format.md). The header is built and parsed with cJSON; the
 * data block is written with stdio through an atomic file and read by mmap. */
#include "io/safetensors.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>
#include <xxhash.h>

#include "io/atomic_file.h"

#ifndef PROGAN_VERSION
#define PROGAN_VERSION "unknown"
#endif

static const struct {
    const char *name;
    size_t size;
} dtype_table[] = {
    [PG_DTYPE_BOOL] = {"BOOL", 1}, [PG_DTYPE_U8] = {"U8", 1},   [PG_DTYPE_I8] = {"I8", 1},
    [PG_DTYPE_U16] = {"U16", 2},   [PG_DTYPE_I16] = {"I16", 2}, [PG_DTYPE_F16] = {"F16", 2},
    [PG_DTYPE_BF16] = {"BF16", 2}, [PG_DTYPE_U32] = {"U32", 4}, [PG_DTYPE_I32] = {"I32", 4},
    [PG_DTYPE_F32] = {"F32", 4},   [PG_DTYPE_U64] = {"U64", 8}, [PG_DTYPE_I64] = {"I64", 8},
    [PG_DTYPE_F64] = {"F64", 8},
};
_Static_assert(sizeof dtype_table / sizeof dtype_table[0] == PG_DTYPE_COUNT,
               "every pg_dtype needs a row in dtype_table");

/* Table lookups so that no other code switches on the dtype. */
const char *pg_dtype_name(pg_dtype dtype) {
    return (unsigned)dtype < PG_DTYPE_COUNT ? dtype_table[dtype].name : "?";
}

size_t pg_dtype_size(pg_dtype dtype) {
    return (unsigned)dtype < PG_DTYPE_COUNT ? dtype_table[dtype].size : 0;
}

/* The header stores dtypes as strings; anything else is a foreign or corrupt file. */
pg_status pg_dtype_parse(const char *name, pg_dtype *out) {
    for (int i = 0; i < PG_DTYPE_COUNT; i++)
        if (!strcmp(name, dtype_table[i].name)) {
            *out = (pg_dtype)i;
            return PG_OK;
        }
    return PG_FAIL(PG_ERR_FORMAT, "unknown dtype \"%s\" (expected F32, U8, I64, ...)", name);
}

/* Bytes of a tensor, refusing products that overflow (a crafted shape must
 * not wrap around to a small size that passes the offset checks). */
static int tensor_nbytes(pg_dtype dtype, int ndim, const int64_t *shape, uint64_t *out) {
    uint64_t n = pg_dtype_size(dtype);
    for (int d = 0; d < ndim; d++) {
        if (shape[d] < 0) return 0;
        uint64_t s = (uint64_t)shape[d];
        if (s && n > UINT64_MAX / s) return 0;
        n *= s;
    }
    *out = n;
    return 1;
}

static void format_shape(char *buf, size_t size, int ndim, const int64_t *shape) {
    size_t used = (size_t)snprintf(buf, size, "[");
    for (int d = 0; d < ndim && used < size; d++)
        used +=
            (size_t)snprintf(buf + used, size - used, "%s%lld", d ? ", " : "", (long long)shape[d]);
    if (used < size) snprintf(buf + used, size - used, "]");
}

/* ------------------------------------------------------------------ writer */

typedef struct {
    char *name;
    pg_dtype dtype;
    int ndim;
    int64_t shape[PG_SAFETENSORS_MAX_DIMS];
    const void *data;
    uint64_t nbytes;
} writer_entry;

struct pg_safetensors_writer {
    writer_entry *entries;
    size_t count, capacity;
    cJSON *metadata; /* object of strings, in insertion order */
};

/* _create sets the two keys every progan file carries, so no caller forgets them. */
pg_status pg_safetensors_writer_create(pg_safetensors_writer **out) {
    *out = NULL;
    pg_safetensors_writer *w = calloc(1, sizeof *w);
    if (!w) return PG_FAIL(PG_ERR_OUT_OF_MEMORY, "safetensors writer: out of memory");
    w->metadata = cJSON_CreateObject();
    if (!w->metadata) {
        free(w);
        return PG_FAIL(PG_ERR_OUT_OF_MEMORY, "safetensors writer: out of memory");
    }
    *out = w;
    pg_status s = pg_safetensors_writer_set_metadata(w, "format", "pt");
    if (s == PG_OK) s = pg_safetensors_writer_set_metadata(w, "progan_version", PROGAN_VERSION);
    if (s != PG_OK) {
        pg_safetensors_writer_destroy(w);
        *out = NULL;
    }
    return s;
}

void pg_safetensors_writer_destroy(pg_safetensors_writer *w) {
    if (!w) return;
    for (size_t i = 0; i < w->count; i++) free(w->entries[i].name);
    free(w->entries);
    cJSON_Delete(w->metadata);
    free(w);
}

/* Validates at add time so that the error points at the caller that passed the bad tensor. */
pg_status pg_safetensors_writer_add(pg_safetensors_writer *w, const char *name, pg_dtype dtype,
                                    int ndim, const int64_t *shape, const void *data) {
    if (!name || !name[0] || !strcmp(name, "__metadata__"))
        return PG_FAIL(PG_ERR_INVALID, "safetensors writer: invalid tensor name \"%s\"",
                       name ? name : "(null)");
    if ((unsigned)dtype >= PG_DTYPE_COUNT)
        return PG_FAIL(PG_ERR_INVALID, "safetensors writer: tensor '%s' has bad dtype %d", name,
                       (int)dtype);
    if (ndim < 0 || ndim > PG_SAFETENSORS_MAX_DIMS)
        return PG_FAIL(PG_ERR_INVALID, "safetensors writer: tensor '%s' has %d dims (max %d)", name,
                       ndim, PG_SAFETENSORS_MAX_DIMS);
    uint64_t nbytes;
    if (!tensor_nbytes(dtype, ndim, shape, &nbytes))
        return PG_FAIL(PG_ERR_INVALID,
                       "safetensors writer: tensor '%s' has a negative or overflowing shape", name);
    if (nbytes && !data)
        return PG_FAIL(PG_ERR_INVALID, "safetensors writer: tensor '%s' has no data", name);
    for (size_t i = 0; i < w->count; i++)
        if (!strcmp(w->entries[i].name, name))
            return PG_FAIL(PG_ERR_INVALID, "safetensors writer: tensor '%s' added twice", name);
    if (w->count == w->capacity) {
        size_t cap = w->capacity ? w->capacity * 2 : 64;
        writer_entry *e = realloc(w->entries, cap * sizeof *e);
        if (!e) return PG_FAIL(PG_ERR_OUT_OF_MEMORY, "safetensors writer: out of memory");
        w->entries = e;
        w->capacity = cap;
    }
    writer_entry *e = &w->entries[w->count];
    memset(e, 0, sizeof *e);
    e->name = strdup(name);
    if (!e->name) return PG_FAIL(PG_ERR_OUT_OF_MEMORY, "safetensors writer: out of memory");
    e->dtype = dtype;
    e->ndim = ndim;
    for (int d = 0; d < ndim; d++) e->shape[d] = shape[d];
    e->data = data;
    e->nbytes = nbytes;
    w->count++;
    return PG_OK;
}

/* Replacing in place keeps the insertion order, so files are reproducible. */
pg_status pg_safetensors_writer_set_metadata(pg_safetensors_writer *w, const char *key,
                                             const char *value) {
    if (!key || !key[0] || !value)
        return PG_FAIL(PG_ERR_INVALID, "safetensors writer: metadata needs a key and a value");
    cJSON *item = cJSON_CreateString(value);
    if (!item) return PG_FAIL(PG_ERR_OUT_OF_MEMORY, "safetensors writer: out of memory");
    int ok = cJSON_GetObjectItemCaseSensitive(w->metadata, key)
                 ? cJSON_ReplaceItemInObjectCaseSensitive(w->metadata, key, item)
                 : cJSON_AddItemToObject(w->metadata, key, item);
    if (!ok) {
        cJSON_Delete(item);
        return PG_FAIL(PG_ERR_OUT_OF_MEMORY, "safetensors writer: out of memory");
    }
    return PG_OK;
}

/* Builds the JSON header text (caller frees) for the current entries. */
static pg_status writer_header(const pg_safetensors_writer *w, char **out) {
    *out = NULL;
    cJSON *root = cJSON_CreateObject();
    if (!root) return PG_FAIL(PG_ERR_OUT_OF_MEMORY, "safetensors writer: out of memory");
    cJSON *meta = cJSON_Duplicate(w->metadata, 1);
    int ok = meta && cJSON_AddItemToObject(root, "__metadata__", meta);
    uint64_t offset = 0;
    for (size_t i = 0; ok && i < w->count; i++) {
        const writer_entry *e = &w->entries[i];
        cJSON *t = cJSON_AddObjectToObject(root, e->name);
        double shape[PG_SAFETENSORS_MAX_DIMS];
        for (int d = 0; d < e->ndim; d++) shape[d] = (double)e->shape[d];
        double offs[2] = {(double)offset, (double)(offset + e->nbytes)};
        ok = t && cJSON_AddStringToObject(t, "dtype", pg_dtype_name(e->dtype)) &&
             cJSON_AddItemToObject(t, "shape", cJSON_CreateDoubleArray(shape, e->ndim)) &&
             cJSON_AddItemToObject(t, "data_offsets", cJSON_CreateDoubleArray(offs, 2));
        offset += e->nbytes;
    }
    if (offset > (1ull << 53)) ok = 0;
    char *text = ok ? cJSON_PrintUnformatted(root) : NULL;
    cJSON_Delete(root);
    if (!text) return PG_FAIL(PG_ERR_OUT_OF_MEMORY, "safetensors writer: cannot build header");
    *out = text;
    return PG_OK;
}

/* One pass: header length, padded header, then every tensor's bytes. */
pg_status pg_safetensors_writer_write(const pg_safetensors_writer *w, const char *path) {
    char *header;
    PG_TRY(writer_header(w, &header));
    size_t n = strlen(header);
    size_t padded = (n + 8 + 7) / 8 * 8 - 8;
    if (padded > PG_SAFETENSORS_MAX_HEADER) {
        free(header);
        return PG_FAIL(PG_ERR_INVALID, "%s: header of %zu bytes exceeds the 100 MB cap", path,
                       padded);
    }
    uint8_t len_bytes[8];
    for (int i = 0; i < 8; i++) len_bytes[i] = (uint8_t)((uint64_t)padded >> (8 * i));

    pg_atomic_file af;
    pg_status s = pg_atomic_file_open(&af, path);
    if (s != PG_OK) {
        free(header);
        return s;
    }
    int ok = fwrite(len_bytes, 1, 8, af.file) == 8 && fwrite(header, 1, n, af.file) == n;
    for (size_t i = n; ok && i < padded; i++) ok = fputc(' ', af.file) != EOF;
    free(header);
    for (size_t i = 0; ok && i < w->count; i++) {
        const writer_entry *e = &w->entries[i];
        if (e->nbytes) ok = fwrite(e->data, 1, e->nbytes, af.file) == e->nbytes;
    }
    if (!ok) {
        int err = errno;
        pg_atomic_file_abort(&af);
        return PG_FAIL(PG_ERR_IO, "cannot write %s: %s (disk full?)", path, strerror(err));
    }
    return pg_atomic_file_commit(&af);
}

/* ------------------------------------------------------------------ reader */

struct pg_safetensors_reader {
    char *path;
    void *map;
    size_t map_size;
    void *data_copy; /* the data block, copied when the mapping leaves it misaligned */
    pg_safetensors_tensor *tensors; /* sorted by offset */
    size_t count;
    size_t *by_name; /* indices into tensors, sorted by name */
    char **meta_keys, **meta_values;
    size_t meta_count;
};

static int compare_offsets(const void *a, const void *b) {
    const pg_safetensors_tensor *x = a, *y = b;
    if (x->offset != y->offset) return x->offset < y->offset ? -1 : 1;
    return x->nbytes < y->nbytes ? -1 : x->nbytes > y->nbytes;
}

static int compare_names(const void *a, const void *b, void *tensors) {
    const pg_safetensors_tensor *base = tensors;
    return strcmp(base[*(const size_t *)a].name, base[*(const size_t *)b].name);
}

/* A JSON number that is an exact non-negative integer (safetensors uses usize). */
static int json_uint(const cJSON *item, uint64_t *out) {
    if (!cJSON_IsNumber(item)) return 0;
    double v = item->valuedouble;
    if (!(v >= 0) || v > 9007199254740992.0 || floor(v) != v) return 0;
    *out = (uint64_t)v;
    return 1;
}

static pg_status parse_metadata(pg_safetensors_reader *r, const cJSON *meta) {
    const char *path = r->path;
    if (!cJSON_IsObject(meta))
        return PG_FAIL(PG_ERR_FORMAT, "%s: __metadata__ is not a JSON object", path);
    size_t n = (size_t)cJSON_GetArraySize(meta);
    r->meta_keys = calloc(n + 1, sizeof *r->meta_keys);
    r->meta_values = calloc(n + 1, sizeof *r->meta_values);
    if (!r->meta_keys || !r->meta_values)
        return PG_FAIL(PG_ERR_OUT_OF_MEMORY, "%s: out of memory", path);
    const cJSON *item;
    cJSON_ArrayForEach(item, meta) {
        if (!cJSON_IsString(item))
            return PG_FAIL(PG_ERR_FORMAT,
                           "%s: metadata value of \"%s\" is not a string (only string to "
                           "string is allowed)",
                           path, item->string);
        for (size_t i = 0; i < r->meta_count; i++)
            if (!strcmp(r->meta_keys[i], item->string))
                return PG_FAIL(PG_ERR_FORMAT, "%s: metadata key \"%s\" appears twice", path,
                               item->string);
        r->meta_keys[r->meta_count] = strdup(item->string);
        r->meta_values[r->meta_count] = strdup(item->valuestring);
        r->meta_count++;
        if (!r->meta_keys[r->meta_count - 1] || !r->meta_values[r->meta_count - 1])
            return PG_FAIL(PG_ERR_OUT_OF_MEMORY, "%s: out of memory", path);
    }
    return PG_OK;
}

/* Checks one tensor entry's fields against each other and the data block size. */
static pg_status parse_tensor(const char *path, const cJSON *item, uint64_t data_size,
                              pg_safetensors_tensor *t) {
    const char *name = item->string;
    if (!name[0]) return PG_FAIL(PG_ERR_FORMAT, "%s: a tensor has an empty name", path);
    if (!cJSON_IsObject(item))
        return PG_FAIL(PG_ERR_FORMAT, "%s: tensor '%s' is not a JSON object", path, name);
    const cJSON *dtype = NULL, *shape = NULL, *offsets = NULL, *field;
    cJSON_ArrayForEach(field, item) {
        const cJSON **slot = !strcmp(field->string, "dtype")          ? &dtype
                             : !strcmp(field->string, "shape")        ? &shape
                             : !strcmp(field->string, "data_offsets") ? &offsets
                                                                      : NULL;
        if (!slot)
            return PG_FAIL(PG_ERR_FORMAT, "%s: tensor '%s' has an unknown field \"%s\"", path, name,
                           field->string);
        if (*slot)
            return PG_FAIL(PG_ERR_FORMAT, "%s: tensor '%s' has field \"%s\" twice", path, name,
                           field->string);
        *slot = field;
    }
    if (!cJSON_IsString(dtype) || !cJSON_IsArray(shape) || !cJSON_IsArray(offsets))
        return PG_FAIL(PG_ERR_FORMAT,
                       "%s: tensor '%s' needs \"dtype\" (string), \"shape\" and "
                       "\"data_offsets\" (arrays)",
                       path, name);
    t->name = name;
    if (pg_dtype_parse(dtype->valuestring, &t->dtype) != PG_OK)
        return PG_FAIL(PG_ERR_FORMAT, "%s: tensor '%s' has unknown dtype \"%s\"", path, name,
                       dtype->valuestring);
    int ndim = cJSON_GetArraySize(shape);
    if (ndim > PG_SAFETENSORS_MAX_DIMS)
        return PG_FAIL(PG_ERR_FORMAT, "%s: tensor '%s' has %d dims (at most %d supported)", path,
                       name, ndim, PG_SAFETENSORS_MAX_DIMS);
    t->ndim = ndim;
    for (int d = 0; d < ndim; d++) {
        uint64_t v;
        if (!json_uint(cJSON_GetArrayItem(shape, d), &v))
            return PG_FAIL(PG_ERR_FORMAT,
                           "%s: tensor '%s': shape entry %d is not a non-negative integer", path,
                           name, d);
        t->shape[d] = (int64_t)v;
    }
    uint64_t begin, end, expect;
    if (cJSON_GetArraySize(offsets) != 2 || !json_uint(cJSON_GetArrayItem(offsets, 0), &begin) ||
        !json_uint(cJSON_GetArrayItem(offsets, 1), &end))
        return PG_FAIL(PG_ERR_FORMAT,
                       "%s: tensor '%s': data_offsets must be two non-negative integers", path,
                       name);
    if (begin > end || end > data_size)
        return PG_FAIL(PG_ERR_FORMAT,
                       "%s: tensor '%s': data_offsets [%llu, %llu] out of range (data block "
                       "has %llu bytes; truncated file?)",
                       path, name, (unsigned long long)begin, (unsigned long long)end,
                       (unsigned long long)data_size);
    char shape_text[160];
    format_shape(shape_text, sizeof shape_text, t->ndim, t->shape);
    if (!tensor_nbytes(t->dtype, t->ndim, t->shape, &expect) || expect != end - begin)
        return PG_FAIL(
            PG_ERR_FORMAT, "%s: tensor '%s': shape %s of %s does not match its %llu bytes of data",
            path, name, shape_text, pg_dtype_name(t->dtype), (unsigned long long)(end - begin));
    t->offset = begin;
    t->nbytes = (size_t)(end - begin);
    return PG_OK;
}

/* Parses the header JSON, fills r->tensors, and checks the layout as a whole. */
static pg_status parse_header(pg_safetensors_reader *r, const char *text, size_t n,
                              uint64_t data_size) {
    const char *path = r->path;
    if (n == 0 || text[0] != '{')
        return PG_FAIL(PG_ERR_FORMAT,
                       "%s: header does not start with '{' (not a safetensors "
                       "file?)",
                       path);
    /* A NUL-terminated copy, so that no parser path can read past the mapping. */
    char *copy = malloc(n + 1);
    if (!copy) return PG_FAIL(PG_ERR_OUT_OF_MEMORY, "%s: out of memory for the header", path);
    memcpy(copy, text, n);
    copy[n] = 0;
    const char *end = NULL;
    cJSON *root = cJSON_ParseWithOpts(copy, &end, 0);
    long error_at = root ? -1 : cJSON_GetErrorPtr() ? (long)(cJSON_GetErrorPtr() - copy) + 8 : -1;
    int trailing = 0;
    for (const char *p = end; root && p < copy + n; p++)
        trailing |= *p != ' ' && *p != '\t' && *p != '\n' && *p != '\r';
    free(copy);
    if (!root)
        return PG_FAIL(PG_ERR_FORMAT, "%s: header is not valid JSON (near byte %ld)", path,
                       error_at);
    if (trailing) {
        cJSON_Delete(root);
        return PG_FAIL(PG_ERR_FORMAT, "%s: header has bytes after its JSON object", path);
    }
    pg_status s = PG_OK;
    if (!cJSON_IsObject(root)) {
        cJSON_Delete(root);
        return PG_FAIL(PG_ERR_FORMAT, "%s: header is not a JSON object", path);
    }
    size_t total = (size_t)cJSON_GetArraySize(root);
    r->tensors = calloc(total + 1, sizeof *r->tensors);
    r->by_name = calloc(total + 1, sizeof *r->by_name);
    if (!r->tensors || !r->by_name) s = PG_FAIL(PG_ERR_OUT_OF_MEMORY, "%s: out of memory", path);
    int seen_meta = 0;
    const cJSON *item;
    cJSON_ArrayForEach(item, root) {
        if (s != PG_OK) break;
        if (!strcmp(item->string, "__metadata__")) {
            s = seen_meta ? PG_FAIL(PG_ERR_FORMAT, "%s: __metadata__ appears twice", path)
                          : parse_metadata(r, item);
            seen_meta = 1;
            continue;
        }
        pg_safetensors_tensor *t = &r->tensors[r->count];
        s = parse_tensor(path, item, data_size, t);
        if (s == PG_OK) {
            t->name = strdup(item->string);
            if (!t->name)
                s = PG_FAIL(PG_ERR_OUT_OF_MEMORY, "%s: out of memory", path);
            else
                r->count++;
        }
    }
    cJSON_Delete(root);
    PG_TRY(s);

    for (size_t i = 0; i < r->count; i++) r->by_name[i] = i;
    qsort_r(r->by_name, r->count, sizeof *r->by_name, compare_names, r->tensors);
    for (size_t i = 1; i < r->count; i++)
        if (!strcmp(r->tensors[r->by_name[i]].name, r->tensors[r->by_name[i - 1]].name))
            return PG_FAIL(PG_ERR_FORMAT, "%s: tensor '%s' appears twice in the header", path,
                           r->tensors[r->by_name[i]].name);

    /* Back to back, no overlap, no gap, nothing after: the layout safetensors defines. */
    qsort(r->tensors, r->count, sizeof *r->tensors, compare_offsets);
    uint64_t expect = 0;
    for (size_t i = 0; i < r->count; i++) {
        const pg_safetensors_tensor *t = &r->tensors[i];
        if (t->offset < expect)
            return PG_FAIL(PG_ERR_FORMAT, "%s: tensor '%s' [%llu, %llu) overlaps tensor '%s'", path,
                           t->name, (unsigned long long)t->offset,
                           (unsigned long long)(t->offset + t->nbytes), r->tensors[i - 1].name);
        if (t->offset > expect)
            return PG_FAIL(PG_ERR_FORMAT, "%s: gap of %llu bytes before tensor '%s'", path,
                           (unsigned long long)(t->offset - expect), t->name);
        expect = t->offset + t->nbytes;
    }
    if (expect != data_size)
        return PG_FAIL(PG_ERR_FORMAT,
                       "%s: data block has %llu bytes but the tensors cover %llu (truncated or "
                       "trailing garbage)",
                       path, (unsigned long long)data_size, (unsigned long long)expect);
    /* The sort moved the tensors, so rebuild the name index on the final order. */
    for (size_t i = 0; i < r->count; i++) r->by_name[i] = i;
    qsort_r(r->by_name, r->count, sizeof *r->by_name, compare_names, r->tensors);
    return PG_OK;
}

static pg_status reader_load(pg_safetensors_reader *r) {
    const char *path = r->path;
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) return PG_FAIL(PG_ERR_IO, "cannot open %s: %s", path, strerror(errno));
    struct stat st;
    if (fstat(fd, &st) != 0) {
        int err = errno;
        close(fd);
        return PG_FAIL(PG_ERR_IO, "cannot stat %s: %s", path, strerror(err));
    }
    uint64_t size = (uint64_t)st.st_size;
    if (size < 8) {
        close(fd);
        return PG_FAIL(PG_ERR_FORMAT, "%s: only %llu bytes, too short for a safetensors file", path,
                       (unsigned long long)size);
    }
    r->map = mmap(NULL, (size_t)size, PROT_READ, MAP_PRIVATE, fd, 0);
    int err = errno;
    close(fd);
    if (r->map == MAP_FAILED) {
        r->map = NULL;
        return PG_FAIL(PG_ERR_IO, "cannot map %s: %s", path, strerror(err));
    }
    r->map_size = (size_t)size;
    const uint8_t *bytes = r->map;
    uint64_t n = 0;
    for (int i = 0; i < 8; i++) n |= (uint64_t)bytes[i] << (8 * i);
    if (n > PG_SAFETENSORS_MAX_HEADER)
        return PG_FAIL(PG_ERR_FORMAT,
                       "%s: header length %llu exceeds the 100 MB cap (corrupt or not a "
                       "safetensors file)",
                       path, (unsigned long long)n);
    if (n > size - 8)
        return PG_FAIL(PG_ERR_FORMAT,
                       "%s: header length %llu but the file has only %llu bytes after it "
                       "(truncated?)",
                       path, (unsigned long long)n, (unsigned long long)(size - 8));
    uint64_t data_size = size - 8 - n;
    PG_TRY(parse_header(r, (const char *)bytes + 8, (size_t)n, data_size));
    const uint8_t *data = bytes + 8 + n;
    if (((8 + n) & 7) && data_size) {
        r->data_copy = aligned_alloc(64, (data_size + 63) / 64 * 64);
        if (!r->data_copy) return PG_FAIL(PG_ERR_OUT_OF_MEMORY, "%s: out of memory", path);
        memcpy(r->data_copy, data, data_size);
        data = r->data_copy;
    }
    for (size_t i = 0; i < r->count; i++) r->tensors[i].data = data + r->tensors[i].offset;
    return PG_OK;
}

pg_status pg_safetensors_reader_create(pg_safetensors_reader **out, const char *path) {
    *out = NULL;
    pg_safetensors_reader *r = calloc(1, sizeof *r);
    if (!r || !(r->path = strdup(path))) {
        free(r);
        return PG_FAIL(PG_ERR_OUT_OF_MEMORY, "%s: out of memory", path);
    }
    pg_status s = reader_load(r);
    if (s != PG_OK) {
        pg_safetensors_reader_destroy(r);
        return s;
    }
    *out = r;
    return PG_OK;
}

void pg_safetensors_reader_destroy(pg_safetensors_reader *r) {
    if (!r) return;
    if (r->map) munmap(r->map, r->map_size);
    free(r->data_copy);
    for (size_t i = 0; i < r->count; i++) free((char *)r->tensors[i].name);
    free(r->tensors);
    free(r->by_name);
    for (size_t i = 0; i < r->meta_count; i++) {
        free(r->meta_keys[i]);
        free(r->meta_values[i]);
    }
    free(r->meta_keys);
    free(r->meta_values);
    free(r->path);
    free(r);
}

const char *pg_safetensors_reader_path(const pg_safetensors_reader *r) {
    return r->path;
}

size_t pg_safetensors_reader_count(const pg_safetensors_reader *r) {
    return r->count;
}

const pg_safetensors_tensor *pg_safetensors_reader_at(const pg_safetensors_reader *r, size_t i) {
    return i < r->count ? &r->tensors[i] : NULL;
}

/* Binary search on the name index: checkpoints hold thousands of tensors. */
const pg_safetensors_tensor *pg_safetensors_reader_find(const pg_safetensors_reader *r,
                                                        const char *name) {
    size_t lo = 0, hi = r->count;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        int c = strcmp(r->tensors[r->by_name[mid]].name, name);
        if (c == 0) return &r->tensors[r->by_name[mid]];
        if (c < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    return NULL;
}

/* Loading code wants one call that fails with a message naming both shapes. */
pg_status pg_safetensors_reader_expect(const pg_safetensors_reader *r, const char *name,
                                       pg_dtype dtype, int ndim, const int64_t *shape,
                                       const pg_safetensors_tensor **out) {
    *out = NULL;
    const pg_safetensors_tensor *t = pg_safetensors_reader_find(r, name);
    if (!t)
        return PG_FAIL(PG_ERR_FORMAT, "%s: tensor '%s' is missing (wrong file kind or config?)",
                       r->path, name);
    if (t->dtype != dtype)
        return PG_FAIL(PG_ERR_FORMAT, "%s: tensor '%s' is %s, expected %s", r->path, name,
                       pg_dtype_name(t->dtype), pg_dtype_name(dtype));
    int same = ndim < 0 || ndim == t->ndim;
    for (int d = 0; same && ndim >= 0 && d < ndim; d++) same = shape[d] == t->shape[d];
    if (!same) {
        char have[160], want[160];
        format_shape(have, sizeof have, t->ndim, t->shape);
        format_shape(want, sizeof want, ndim, shape);
        return PG_FAIL(PG_ERR_FORMAT,
                       "%s: tensor '%s' has shape %s, expected %s (was it written with another "
                       "config?)",
                       r->path, name, have, want);
    }
    *out = t;
    return PG_OK;
}

const char *pg_safetensors_reader_metadata(const pg_safetensors_reader *r, const char *key) {
    for (size_t i = 0; i < r->meta_count; i++)
        if (!strcmp(r->meta_keys[i], key)) return r->meta_values[i];
    return NULL;
}

size_t pg_safetensors_reader_metadata_count(const pg_safetensors_reader *r) {
    return r->meta_count;
}

void pg_safetensors_reader_metadata_at(const pg_safetensors_reader *r, size_t i, const char **key,
                                       const char **value) {
    *key = i < r->meta_count ? r->meta_keys[i] : NULL;
    *value = i < r->meta_count ? r->meta_values[i] : NULL;
}

uint64_t pg_safetensors_tensor_checksum(const pg_safetensors_tensor *t) {
    return (uint64_t)XXH3_64bits(t->data, t->nbytes);
}

/* ---------------------------------------------------------------- describe */

static int has_prefix(const pg_safetensors_reader *r, const char *prefix) {
    size_t n = strlen(prefix);
    for (size_t i = 0; i < r->count; i++)
        if (!strncmp(r->tensors[i].name, prefix, n)) return 1;
    return 0;
}

/* The metadata "kind" wins; otherwise the tensor names tell the file kinds apart. */
static const char *guess_kind(const pg_safetensors_reader *r, const char **how) {
    const char *kind = pg_safetensors_reader_metadata(r, "kind");
    *how = "from metadata \"kind\"";
    if (kind) {
        if (!strcmp(kind, "checkpoint") || !strcmp(kind, "training_checkpoint"))
            return "training checkpoint";
        if (!strcmp(kind, "export") || !strcmp(kind, "snapshot")) return "per-resolution export";
        if (!strcmp(kind, "step_dump") || !strcmp(kind, "dump")) return "step dump";
        return kind;
    }
    *how = "guessed from tensor names";
    if (has_prefix(r, "inputs.")) return "step dump";
    if (has_prefix(r, "opt.")) return "training checkpoint";
    if (has_prefix(r, "Gs.")) return "per-resolution export";
    return "unknown (no progan tensor names)";
}

pg_status pg_safetensors_describe(const char *path, FILE *out) {
    pg_safetensors_reader *r;
    PG_TRY(pg_safetensors_reader_create(&r, path));
    const char *how, *kind = guess_kind(r, &how);
    uint64_t total = 0;
    for (size_t i = 0; i < r->count; i++) total += r->tensors[i].nbytes;
    fprintf(out, "%s: safetensors, %s (%s)\n", path, kind, how);
    const char *res = pg_safetensors_reader_metadata(r, "resolution");
    fprintf(out, "  resolution: %s\n", res ? res : "(not recorded)");
    fprintf(out, "  tensors: %zu, %llu bytes of data\n", r->count, (unsigned long long)total);
    fprintf(out, "  metadata:\n");
    for (size_t i = 0; i < r->meta_count; i++)
        if (strcmp(r->meta_keys[i], "config"))
            fprintf(out, "    %s = %s\n", r->meta_keys[i], r->meta_values[i]);
    const char *config = pg_safetensors_reader_metadata(r, "config");
    if (config) {
        cJSON *json = cJSON_Parse(config);
        char *pretty = json ? cJSON_Print(json) : NULL;
        fprintf(out, "  config: %s\n", pretty ? pretty : config);
        free(pretty);
        cJSON_Delete(json);
    }
    size_t width = 4;
    for (size_t i = 0; i < r->count; i++) width = PG_MAX(width, strlen(r->tensors[i].name));
    fprintf(out, "  %-*s  %-5s %-24s %s\n", (int)width, "name", "dtype", "shape", "xxh3_64");
    for (size_t i = 0; i < r->count; i++) {
        const pg_safetensors_tensor *t = &r->tensors[i];
        char shape[160];
        format_shape(shape, sizeof shape, t->ndim, t->shape);
        fprintf(out, "  %-*s  %-5s %-24s %016llx\n", (int)width, t->name, pg_dtype_name(t->dtype),
                shape, (unsigned long long)pg_safetensors_tensor_checksum(t));
    }
    pg_safetensors_reader_destroy(r);
    return ferror(out) ? PG_FAIL(PG_ERR_IO, "cannot write the description of %s", path) : PG_OK;
}
