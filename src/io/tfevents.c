/* TensorBoard event files (see tfevents.h). Hand-written on purpose: the
 * framing is 16 bytes per record and the Event messages need 7 fields, far less
 * than a protobuf dependency. Wire format: protobuf varint / fixed32 / fixed64 /
 * length-delimited fields; TFRecord = u64 len, crc(len), data, crc(data). */
#include "io/tfevents.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>
#include <unistd.h>

/* ------------------------------------------------------------------ CRC32C */

static uint32_t crc_table[256];

/* Built once on first use; concurrent first calls compute identical values. */
static void crc_init(void) {
    static int ready;
    if (__atomic_load_n(&ready, __ATOMIC_ACQUIRE)) return;
    for (uint32_t i = 0; i < 256; i++) {
        uint32_t c = i;
        for (int k = 0; k < 8; k++) c = (c >> 1) ^ (0x82F63B78u & (0u - (c & 1u)));
        crc_table[i] = c;
    }
    __atomic_store_n(&ready, 1, __ATOMIC_RELEASE);
}

uint32_t pg_crc32c(const void *data, size_t size) {
    crc_init();
    const uint8_t *p = data;
    uint32_t c = 0xFFFFFFFFu;
    for (size_t i = 0; i < size; i++) c = crc_table[(c ^ p[i]) & 0xFF] ^ (c >> 8);
    return c ^ 0xFFFFFFFFu;
}

uint32_t pg_crc32c_masked(const void *data, size_t size) {
    uint32_t c = pg_crc32c(data, size);
    return ((c >> 15) | (c << 17)) + 0xa282ead8u;
}

/* ------------------------------------------------------- protobuf encoding */

typedef struct {
    uint8_t *data;
    size_t size, cap;
    int failed;
} pb_buf;

static void pb_put(pb_buf *b, const void *bytes, size_t n) {
    if (b->failed) return;
    if (b->size + n > b->cap) {
        size_t cap = b->cap ? b->cap : 256;
        while (cap < b->size + n) cap *= 2;
        uint8_t *d = realloc(b->data, cap);
        if (!d) {
            b->failed = 1;
            return;
        }
        b->data = d;
        b->cap = cap;
    }
    if (n) memcpy(b->data + b->size, bytes, n); /* bytes may be NULL when n is 0 */
    b->size += n;
}

static void pb_varint(pb_buf *b, uint64_t v) {
    uint8_t tmp[10];
    int n = 0;
    do {
        tmp[n] = (uint8_t)(v & 0x7F);
        v >>= 7;
        if (v) tmp[n] |= 0x80;
        n++;
    } while (v);
    pb_put(b, tmp, (size_t)n);
}

static void pb_key(pb_buf *b, int field, int wire_type) {
    pb_varint(b, (uint64_t)field << 3 | (uint64_t)wire_type);
}

static void pb_fixed(pb_buf *b, uint64_t bits, int bytes) {
    uint8_t tmp[8];
    for (int i = 0; i < bytes; i++) tmp[i] = (uint8_t)(bits >> (8 * i));
    pb_put(b, tmp, (size_t)bytes);
}

static void pb_double(pb_buf *b, int field, double v) {
    uint64_t bits;
    memcpy(&bits, &v, 8);
    pb_key(b, field, 1);
    pb_fixed(b, bits, 8);
}

static void pb_float(pb_buf *b, int field, float v) {
    uint32_t bits;
    memcpy(&bits, &v, 4);
    pb_key(b, field, 5);
    pb_fixed(b, bits, 4);
}

static void pb_bytes(pb_buf *b, int field, const void *bytes, size_t n) {
    pb_key(b, field, 2);
    pb_varint(b, n);
    pb_put(b, bytes, n);
}

/* -------------------------------------------------------------------- writer */

struct pg_tfevents {
    FILE *file;
    char path[4200];
    pg_status first_error;
};

static double wall_time_now(void) {
    struct timeval tv;
    gettimeofday(&tv, NULL);
    return (double)tv.tv_sec + 1e-6 * (double)tv.tv_usec;
}

/* Frames one serialized Event as a TFRecord. */
static pg_status write_record(pg_tfevents *w, const pb_buf *event) {
    if (event->failed) return PG_FAIL(PG_ERR_OUT_OF_MEMORY, "%s: out of memory", w->path);
    uint8_t head[12];
    uint64_t len = event->size;
    for (int i = 0; i < 8; i++) head[i] = (uint8_t)(len >> (8 * i));
    uint32_t len_crc = pg_crc32c_masked(head, 8);
    for (int i = 0; i < 4; i++) head[8 + i] = (uint8_t)(len_crc >> (8 * i));
    uint32_t data_crc = pg_crc32c_masked(event->data, event->size);
    uint8_t tail[4];
    for (int i = 0; i < 4; i++) tail[i] = (uint8_t)(data_crc >> (8 * i));
    if (fwrite(head, 1, 12, w->file) != 12 ||
        fwrite(event->data, 1, event->size, w->file) != event->size ||
        fwrite(tail, 1, 4, w->file) != 4) {
        pg_status s = PG_FAIL(PG_ERR_IO, "cannot write %s: %s", w->path, strerror(errno));
        if (w->first_error == PG_OK) w->first_error = s;
        return s;
    }
    return PG_OK;
}

/* TensorBoard finds runs by the "tfevents" in the name, so a suffix keeps a
 * second writer in the same second (a quick resume) from clobbering the first. */
pg_status pg_tfevents_create(pg_tfevents **out, const char *run_dir) {
    *out = NULL;
    pg_tfevents *w = calloc(1, sizeof *w);
    if (!w) return PG_FAIL(PG_ERR_OUT_OF_MEMORY, "tfevents: out of memory");
    char host[256] = "localhost";
    if (gethostname(host, sizeof host - 1) != 0) snprintf(host, sizeof host, "localhost");
    host[sizeof host - 1] = 0;
    double now = wall_time_now();
    for (int attempt = 0; attempt < 100 && !w->file; attempt++) {
        int n = attempt ? snprintf(w->path, sizeof w->path, "%s/events.out.tfevents.%lld.%s.%d",
                                   run_dir, (long long)now, host, attempt)
                        : snprintf(w->path, sizeof w->path, "%s/events.out.tfevents.%lld.%s",
                                   run_dir, (long long)now, host);
        if (n < 0 || (size_t)n >= sizeof w->path) {
            free(w);
            return PG_FAIL(PG_ERR_INVALID, "tfevents: run folder path too long: %s", run_dir);
        }
        w->file = fopen(w->path, "wbx");
        if (!w->file && errno != EEXIST) {
            pg_status s = PG_FAIL(PG_ERR_IO, "cannot create %s: %s (does the run folder exist?)",
                                  w->path, strerror(errno));
            free(w);
            return s;
        }
    }
    if (!w->file) {
        free(w);
        return PG_FAIL(PG_ERR_IO, "tfevents: too many event files in %s this second", run_dir);
    }
    pb_buf event = {0};
    pb_double(&event, 1, now);
    pb_bytes(&event, 3, "brain.Event:2", strlen("brain.Event:2"));
    pg_status s = write_record(w, &event);
    free(event.data);
    if (s == PG_OK) s = pg_tfevents_flush(w);
    if (s != PG_OK) {
        pg_tfevents_destroy(w);
        return s;
    }
    *out = w;
    return PG_OK;
}

const char *pg_tfevents_path(const pg_tfevents *w) {
    return w->path;
}

pg_status pg_tfevents_add_scalars(pg_tfevents *w, int64_t step, int n, const char *const tags[],
                                  const float values[]) {
    if (n < 0 || (n > 0 && (!tags || !values)))
        return PG_FAIL(PG_ERR_INVALID, "%s: bad scalar list (n = %d)", w->path, n);
    pb_buf summary = {0}, value = {0}, event = {0};
    for (int i = 0; i < n; i++) {
        if (!tags[i]) {
            free(summary.data);
            free(value.data);
            return PG_FAIL(PG_ERR_INVALID, "%s: scalar %d has no tag", w->path, i);
        }
        value.size = 0;
        pb_bytes(&value, 1, tags[i], strlen(tags[i]));
        pb_float(&value, 2, values[i]);
        if (value.failed) summary.failed = 1;
        pb_bytes(&summary, 1, value.data, value.size);
    }
    pb_double(&event, 1, wall_time_now());
    pb_key(&event, 2, 0);
    pb_varint(&event, (uint64_t)step); /* int64: negatives as 10-byte two's complement */
    pb_bytes(&event, 5, summary.data, summary.size);
    event.failed |= summary.failed;
    pg_status s = write_record(w, &event);
    free(summary.data);
    free(value.data);
    free(event.data);
    return s;
}

pg_status pg_tfevents_flush(pg_tfevents *w) {
    if (fflush(w->file) != 0) {
        pg_status s = PG_FAIL(PG_ERR_IO, "cannot write %s: %s", w->path, strerror(errno));
        if (w->first_error == PG_OK) w->first_error = s;
        return s;
    }
    return PG_OK;
}

pg_status pg_tfevents_destroy(pg_tfevents *w) {
    if (!w) return PG_OK;
    pg_status s = w->first_error;
    if (fclose(w->file) != 0 && s == PG_OK)
        s = PG_FAIL(PG_ERR_IO, "cannot close %s: %s", w->path, strerror(errno));
    free(w);
    return s;
}

/* -------------------------------------------------------------------- reader */

typedef struct {
    const uint8_t *p, *end;
} pb_reader;

static int pb_read_varint(pb_reader *r, uint64_t *out) {
    uint64_t v = 0;
    for (int shift = 0; shift < 70; shift += 7) {
        if (r->p >= r->end) return 0;
        uint8_t byte = *r->p++;
        v |= (uint64_t)(byte & 0x7F) << shift;
        if (!(byte & 0x80)) {
            *out = v;
            return 1;
        }
    }
    return 0;
}

/* Reads one field header and positions the payload: for wire types 1/5 the
 * fixed bits, for 0 the varint, for 2 a sub-reader. Unknown types fail. */
typedef struct {
    int field, wire;
    uint64_t bits;
    pb_reader sub;
} pb_field;

static int pb_next(pb_reader *r, pb_field *f) {
    uint64_t key;
    if (!pb_read_varint(r, &key)) return 0;
    f->field = (int)(key >> 3);
    f->wire = (int)(key & 7);
    f->bits = 0;
    switch (f->wire) {
    case 0:
        return pb_read_varint(r, &f->bits);
    case 1:
    case 5: {
        int n = f->wire == 1 ? 8 : 4;
        if (r->end - r->p < n) return 0;
        for (int i = 0; i < n; i++) f->bits |= (uint64_t)r->p[i] << (8 * i);
        r->p += n;
        return 1;
    }
    case 2: {
        uint64_t n;
        if (!pb_read_varint(r, &n) || n > (uint64_t)(r->end - r->p)) return 0;
        f->sub = (pb_reader){r->p, r->p + n};
        r->p += n;
        return 1;
    }
    default:
        return 0;
    }
}

typedef struct {
    char **tags;
    float *values;
    int n, cap;
    char *file_version;
} decoded_event;

static void decoded_clear(decoded_event *d) {
    for (int i = 0; i < d->n; i++) free(d->tags[i]);
    d->n = 0;
    free(d->file_version);
    d->file_version = NULL;
}

static char *copy_string(pb_reader s) {
    size_t n = (size_t)(s.end - s.p);
    char *out = malloc(n + 1);
    if (out) {
        memcpy(out, s.p, n);
        out[n] = 0;
    }
    return out;
}

/* Summary.Value: tag (1, string), simple_value (2, float); other kinds skipped. */
static int decode_value(pb_reader r, decoded_event *d) {
    char *tag = NULL;
    float value = 0;
    int has_value = 0;
    pb_field f;
    while (r.p < r.end) {
        if (!pb_next(&r, &f)) {
            free(tag);
            return 0;
        }
        if (f.field == 1 && f.wire == 2) {
            free(tag);
            tag = copy_string(f.sub);
            if (!tag) return 0;
        } else if (f.field == 2 && f.wire == 5) {
            uint32_t bits = (uint32_t)f.bits;
            memcpy(&value, &bits, 4);
            has_value = 1;
        }
    }
    if (!has_value || !tag) {
        free(tag);
        return 1;
    }
    if (d->n == d->cap) {
        int cap = d->cap ? d->cap * 2 : 16;
        char **t = realloc(d->tags, (size_t)cap * sizeof *t);
        if (t) d->tags = t;
        float *v = realloc(d->values, (size_t)cap * sizeof *v);
        if (v) d->values = v;
        if (!t || !v) {
            free(tag);
            return 0;
        }
        d->cap = cap;
    }
    d->tags[d->n] = tag;
    d->values[d->n++] = value;
    return 1;
}

static int decode_event(pb_reader r, pg_tfevents_event *ev, decoded_event *d) {
    memset(ev, 0, sizeof *ev);
    pb_field f;
    while (r.p < r.end) {
        if (!pb_next(&r, &f)) return 0;
        if (f.field == 1 && f.wire == 1)
            memcpy(&ev->wall_time, &f.bits, 8);
        else if (f.field == 2 && f.wire == 0)
            ev->step = (int64_t)f.bits;
        else if (f.field == 3 && f.wire == 2) {
            free(d->file_version);
            if (!(d->file_version = copy_string(f.sub))) return 0;
        } else if (f.field == 5 && f.wire == 2) {
            pb_reader s = f.sub;
            pb_field v;
            while (s.p < s.end) {
                if (!pb_next(&s, &v)) return 0;
                if (v.field == 1 && v.wire == 2 && !decode_value(v.sub, d)) return 0;
            }
        }
    }
    ev->file_version = d->file_version;
    ev->n_values = d->n;
    ev->tags = (const char *const *)d->tags;
    ev->values = d->values;
    return 1;
}

static uint32_t load_u32(const uint8_t *p) {
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

/* Reads into memory: event files are small (a few hundred bytes per tick). */
pg_status pg_tfevents_read(const char *path, pg_tfevents_visit_fn visit, void *user,
                           size_t *count) {
    if (count) *count = 0;
    FILE *f = fopen(path, "rb");
    if (!f) return PG_FAIL(PG_ERR_IO, "cannot open %s: %s", path, strerror(errno));
    uint8_t *data = NULL;
    size_t size = 0, cap = 0, got;
    do {
        if (size == cap) {
            cap = cap ? cap * 2 : 1 << 16;
            uint8_t *d = realloc(data, cap);
            if (!d) {
                free(data);
                fclose(f);
                return PG_FAIL(PG_ERR_OUT_OF_MEMORY, "%s: out of memory", path);
            }
            data = d;
        }
        got = fread(data + size, 1, cap - size, f);
        size += got;
    } while (got);
    fclose(f);

    pg_status s = PG_OK;
    decoded_event d = {0};
    size_t pos = 0, records = 0;
    while (s == PG_OK && pos < size) {
        if (size - pos < 12) {
            s = PG_FAIL(PG_ERR_FORMAT, "%s: record %zu at byte %zu is truncated in its header",
                        path, records, pos);
            break;
        }
        uint64_t len = 0;
        for (int i = 0; i < 8; i++) len |= (uint64_t)data[pos + i] << (8 * i);
        if (pg_crc32c_masked(data + pos, 8) != load_u32(data + pos + 8)) {
            s = PG_FAIL(PG_ERR_FORMAT, "%s: record %zu at byte %zu: length CRC mismatch", path,
                        records, pos);
            break;
        }
        if (len > size - pos - 12 || size - pos - 12 - len < 4) {
            s = PG_FAIL(PG_ERR_FORMAT, "%s: record %zu at byte %zu: %llu data bytes truncated",
                        path, records, pos, (unsigned long long)len);
            break;
        }
        const uint8_t *payload = data + pos + 12;
        if (pg_crc32c_masked(payload, (size_t)len) != load_u32(payload + len)) {
            s = PG_FAIL(PG_ERR_FORMAT, "%s: record %zu at byte %zu: data CRC mismatch", path,
                        records, pos);
            break;
        }
        pg_tfevents_event ev;
        decoded_clear(&d);
        if (!decode_event((pb_reader){payload, payload + len}, &ev, &d)) {
            s = PG_FAIL(PG_ERR_FORMAT, "%s: record %zu at byte %zu is not a valid Event", path,
                        records, pos);
            break;
        }
        if (visit) s = visit(user, &ev);
        pos += 12 + (size_t)len + 4;
        records++;
    }
    decoded_clear(&d);
    free(d.tags);
    free(d.values);
    free(data);
    if (count) *count = records;
    return s;
}
