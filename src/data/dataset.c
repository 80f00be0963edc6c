/* src/data/dataset: header encoding/decoding, the mmapped reader, level statistics
 * and the `progan info` description of a dataset file (format in dataset.h). */
#include "data/dataset.h"

#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>
#include <xxhash.h>

#include "data/ingest.h"

struct pg_dataset {
    pg_dataset_header h;
    uint8_t *map;
    size_t map_size;
    char hash_hex[33];
    char path[4096];
};

static void put32(uint8_t *p, uint32_t v) {
    for (int i = 0; i < 4; i++) p[i] = (uint8_t)(v >> (8 * i));
}
static void put64(uint8_t *p, uint64_t v) {
    for (int i = 0; i < 8; i++) p[i] = (uint8_t)(v >> (8 * i));
}
static uint32_t get32(const uint8_t *p) {
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}
static uint64_t get64(const uint8_t *p) {
    return (uint64_t)get32(p) | (uint64_t)get32(p + 4) << 32;
}

static uint64_t align_up(uint64_t v) {
    return (v + PG_DATASET_ALIGN - 1) / PG_DATASET_ALIGN * PG_DATASET_ALIGN;
}

/* Levels in file order R .. 4, each page-aligned, so that the writer and the
 * reader agree on offsets without storing sizes. */
void pg_dataset_header_layout(pg_dataset_header *h) {
    uint64_t off = PG_DATASET_ALIGN;
    int levels = 0;
    for (uint32_t r = h->resolution; r >= 4; r /= 2) levels++;
    h->levels = (uint32_t)levels;
    for (int i = 0; i < PG_DATASET_MAX_LEVELS; i++) {
        if (i < levels) {
            uint32_t r = h->resolution >> i;
            h->level_res[i] = r;
            h->level_offset[i] = off;
            off = align_up(off + (uint64_t)h->count * r * r * h->channels);
        } else
            h->level_res[i] = 0, h->level_offset[i] = 0;
    }
    /* the file ends right after the last level, not at the next page */
    uint32_t last = h->level_res[levels - 1];
    h->file_size = h->level_offset[levels - 1] + (uint64_t)h->count * last * last * h->channels;
}

void pg_dataset_header_encode(const pg_dataset_header *h, uint8_t out[PG_DATASET_HEADER_BYTES]) {
    memset(out, 0, PG_DATASET_HEADER_BYTES);
    memcpy(out, PG_DATASET_MAGIC, 8);
    put32(out + 8, PG_DATASET_VERSION);
    put32(out + 12, PG_DATASET_HEADER_BYTES);
    put32(out + 16, h->count);
    put32(out + 20, h->channels);
    put32(out + 24, h->resolution);
    put32(out + 28, h->levels);
    put64(out + 32, h->file_size);
    memcpy(out + 40, h->pixel_hash, 16);
    memcpy(out + 56, h->options_hash, 16);
    memcpy(out + 72, h->source_hash, 16);
    put32(out + 88, h->crop);
    put32(out + 92, h->upscale);
    put32(out + 96, h->channels_requested);
    put64(out + 104, h->max_pixels);
    for (int i = 0; i < PG_DATASET_MAX_LEVELS; i++) {
        put64(out + 128 + 16 * i, h->level_offset[i]);
        put32(out + 136 + 16 * i, h->level_res[i]);
    }
    put64(out + 504, XXH3_64bits(out, 504));
}

pg_status pg_dataset_header_decode(const uint8_t *buf, size_t size, const char *path,
                                   pg_dataset_header *h) {
    memset(h, 0, sizeof *h);
    if (size < PG_DATASET_HEADER_BYTES || memcmp(buf, PG_DATASET_MAGIC, 8))
        return PG_FAIL(PG_ERR_FORMAT,
                       "%s is not a progan dataset file (no '%.7s' magic); make one with "
                       "`progan prepare FOLDER %s --resolution R`",
                       path, PG_DATASET_MAGIC, path);
    if (get64(buf + 504) != XXH3_64bits(buf, 504))
        return PG_FAIL(PG_ERR_FORMAT,
                       "%s: the dataset header is damaged (checksum mismatch); "
                       "prepare the dataset again",
                       path);
    h->version = get32(buf + 8);
    if (h->version != PG_DATASET_VERSION || get32(buf + 12) != PG_DATASET_HEADER_BYTES)
        return PG_FAIL(PG_ERR_FORMAT,
                       "%s: dataset version %u is not supported (this build "
                       "reads version %d); prepare it again",
                       path, h->version, PG_DATASET_VERSION);
    h->count = get32(buf + 16);
    h->channels = get32(buf + 20);
    h->resolution = get32(buf + 24);
    h->levels = get32(buf + 28);
    h->file_size = get64(buf + 32);
    memcpy(h->pixel_hash, buf + 40, 16);
    memcpy(h->options_hash, buf + 56, 16);
    memcpy(h->source_hash, buf + 72, 16);
    h->crop = get32(buf + 88);
    h->upscale = get32(buf + 92);
    h->channels_requested = get32(buf + 96);
    h->max_pixels = get64(buf + 104);
    uint32_t r = h->resolution;
    if (r < 4 || r > PG_DATASET_MAX_RES || (r & (r - 1)) || (h->channels != 1 && h->channels != 3))
        return PG_FAIL(PG_ERR_FORMAT, "%s: invalid dataset header (resolution %u, channels %u)",
                       path, r, h->channels);
    pg_dataset_header expect = *h;
    pg_dataset_header_layout(&expect);
    for (int i = 0; i < PG_DATASET_MAX_LEVELS; i++) {
        h->level_offset[i] = get64(buf + 128 + 16 * i);
        h->level_res[i] = get32(buf + 136 + 16 * i);
        if (h->level_offset[i] != expect.level_offset[i] || h->level_res[i] != expect.level_res[i])
            return PG_FAIL(PG_ERR_FORMAT, "%s: level table entry %d is inconsistent (offset %llu)",
                           path, i, (unsigned long long)h->level_offset[i]);
    }
    if (h->levels != expect.levels || h->file_size != expect.file_size)
        return PG_FAIL(PG_ERR_FORMAT, "%s: header sizes are inconsistent (levels %u, size %llu)",
                       path, h->levels, (unsigned long long)h->file_size);
    return PG_OK;
}

int pg_dataset_file_is_dataset(const char *path) {
    FILE *f = fopen(path, "rb");
    if (!f) return 0;
    char m[8];
    int yes = fread(m, 1, 8, f) == 8 && !memcmp(m, PG_DATASET_MAGIC, 8);
    fclose(f);
    return yes;
}

void pg_dataset_hex(const uint8_t bytes[16], char out[33]) {
    for (int i = 0; i < 16; i++) snprintf(out + 2 * i, 3, "%02x", bytes[i]);
}

pg_status pg_dataset_open(const char *path, pg_dataset **out) {
    *out = NULL;
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) return PG_FAIL(PG_ERR_IO, "cannot open dataset %s: %s", path, strerror(errno));
    struct stat st;
    if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
        close(fd);
        return PG_FAIL(PG_ERR_IO, "%s is not a regular file", path);
    }
    uint8_t head[PG_DATASET_HEADER_BYTES];
    ssize_t n = pread(fd, head, sizeof head, 0);
    pg_dataset *ds = calloc(1, sizeof *ds);
    if (!ds) {
        close(fd);
        return PG_FAIL(PG_ERR_OUT_OF_MEMORY, "cannot allocate a dataset handle");
    }
    pg_status s = pg_dataset_header_decode(head, n > 0 ? (size_t)n : 0, path, &ds->h);
    if (s == PG_OK && (uint64_t)st.st_size != ds->h.file_size)
        s = PG_FAIL(PG_ERR_FORMAT,
                    "%s is %s: the header says %llu bytes, the file has %lld; prepare it again",
                    path, (uint64_t)st.st_size < ds->h.file_size ? "truncated" : "too long",
                    (unsigned long long)ds->h.file_size, (long long)st.st_size);
    if (s == PG_OK) {
        ds->map_size = (size_t)st.st_size;
        ds->map = mmap(NULL, ds->map_size, PROT_READ, MAP_SHARED, fd, 0);
        if (ds->map == MAP_FAILED) {
            ds->map = NULL;
            s = PG_FAIL(PG_ERR_IO, "cannot mmap %s (%zu bytes): %s", path, ds->map_size,
                        strerror(errno));
        }
    }
    close(fd);
    if (s != PG_OK) {
        free(ds);
        return s;
    }
    uint8_t both[32];
    memcpy(both, ds->h.pixel_hash, 16);
    memcpy(both + 16, ds->h.options_hash, 16);
    XXH128_canonical_t c;
    XXH128_canonicalFromHash(&c, XXH3_128bits(both, sizeof both));
    pg_dataset_hex(c.digest, ds->hash_hex);
    snprintf(ds->path, sizeof ds->path, "%s", path);
    *out = ds;
    return PG_OK;
}

void pg_dataset_close(pg_dataset *ds) {
    if (!ds) return;
    if (ds->map) munmap(ds->map, ds->map_size);
    free(ds);
}

int pg_dataset_count(const pg_dataset *ds) {
    return (int)ds->h.count;
}
int pg_dataset_channels(const pg_dataset *ds) {
    return (int)ds->h.channels;
}
int pg_dataset_resolution(const pg_dataset *ds) {
    return (int)ds->h.resolution;
}
const char *pg_dataset_hash(const pg_dataset *ds) {
    return ds->hash_hex;
}
const pg_dataset_header *pg_dataset_header_get(const pg_dataset *ds) {
    return &ds->h;
}

const uint8_t *pg_dataset_level(const pg_dataset *ds, int resolution) {
    for (uint32_t i = 0; i < ds->h.levels; i++)
        if (ds->h.level_res[i] == (uint32_t)resolution) return ds->map + ds->h.level_offset[i];
    return NULL;
}

/* Exact integer sums per channel, reduced across threads. */
pg_status pg_dataset_level_stats(const pg_dataset *ds, int resolution, double mean[3],
                                 double std[3]) {
    const uint8_t *p = pg_dataset_level(ds, resolution);
    if (!p)
        return PG_FAIL(PG_ERR_INVALID, "%s has no %dx%d level", ds->path, resolution, resolution);
    int c = (int)ds->h.channels;
    size_t pixels = (size_t)ds->h.count * resolution * resolution;
    unsigned long long s[3] = {0}, q[3] = {0};
    for (int ch = 0; ch < c; ch++) {
        unsigned long long ss = 0, qq = 0;
#pragma omp parallel for reduction(+ : ss, qq) schedule(static)
        for (size_t i = 0; i < pixels; i++) {
            unsigned v = p[i * c + ch];
            ss += v;
            qq += v * v;
        }
        s[ch] = ss, q[ch] = qq;
    }
    for (int ch = 0; ch < 3; ch++) {
        if (ch >= c || pixels == 0) {
            mean[ch] = std[ch] = 0;
            continue;
        }
        mean[ch] = (double)s[ch] / pixels;
        double var = (double)q[ch] / pixels - mean[ch] * mean[ch];
        std[ch] = sqrt(var > 0 ? var : 0);
    }
    return PG_OK;
}

pg_status pg_dataset_verify(const pg_dataset *ds) {
    XXH3_state_t *st = XXH3_createState();
    if (!st) return PG_FAIL(PG_ERR_OUT_OF_MEMORY, "cannot allocate a hash state");
    XXH3_128bits_reset(st);
    for (uint32_t i = 0; i < ds->h.levels; i++) {
        uint32_t r = ds->h.level_res[i];
        XXH3_128bits_update(st, ds->map + ds->h.level_offset[i],
                            (size_t)ds->h.count * r * r * ds->h.channels);
    }
    XXH128_canonical_t c;
    XXH128_canonicalFromHash(&c, XXH3_128bits_digest(st));
    XXH3_freeState(st);
    if (memcmp(c.digest, ds->h.pixel_hash, 16)) {
        char a[33], b[33];
        pg_dataset_hex(c.digest, a);
        pg_dataset_hex(ds->h.pixel_hash, b);
        return PG_FAIL(PG_ERR_FORMAT,
                       "%s: pixel hash mismatch (computed %s, header %s): the "
                       "file was modified or damaged; prepare it again",
                       ds->path, a, b);
    }
    return PG_OK;
}

pg_status pg_dataset_describe(const char *path, FILE *out, int verify) {
    pg_dataset *ds;
    PG_TRY(pg_dataset_open(path, &ds));
    const pg_dataset_header *h = &ds->h;
    char ph[33], oh[33], sh[33];
    pg_dataset_hex(h->pixel_hash, ph);
    pg_dataset_hex(h->options_hash, oh);
    pg_dataset_hex(h->source_hash, sh);
    static const char *chreq[] = {"auto", "1", "?", "3"};
    fprintf(out, "progan dataset %s\n", path);
    fprintf(out, "  version       %u\n", h->version);
    fprintf(out, "  images        %u\n", h->count);
    fprintf(out, "  channels      %u (requested %s)\n", h->channels,
            h->channels_requested <= 3 ? chreq[h->channels_requested] : "?");
    fprintf(out, "  resolution    %u (levels %u: %u..4)\n", h->resolution, h->levels,
            h->resolution);
    fprintf(out, "  crop          %s\n  upscale       %s\n  max pixels    %llu\n",
            pg_crop_mode_name((int)h->crop), h->upscale ? "yes" : "no",
            (unsigned long long)h->max_pixels);
    fprintf(out, "  file size     %llu bytes\n", (unsigned long long)h->file_size);
    fprintf(out,
            "  content hash  %s\n  pixel hash    %s\n  options hash  %s\n"
            "  source hash   %s\n",
            ds->hash_hex, ph, oh, sh);
    fprintf(out, "  level      offset        bytes  mean (per channel)        std (per channel)\n");
    for (uint32_t i = 0; i < h->levels; i++) {
        double m[3], s[3];
        uint32_t r = h->level_res[i];
        pg_status st = pg_dataset_level_stats(ds, (int)r, m, s);
        if (st != PG_OK) {
            pg_dataset_close(ds);
            return st;
        }
        char res[16], ms[64] = "", ss[64] = "";
        snprintf(res, sizeof res, "%ux%u", r, r);
        for (uint32_t c = 0; c < h->channels; c++) {
            size_t lm = strlen(ms), ls = strlen(ss);
            snprintf(ms + lm, sizeof ms - lm, "%s%.3f", c ? " " : "", m[c]);
            snprintf(ss + ls, sizeof ss - ls, "%s%.3f", c ? " " : "", s[c]);
        }
        fprintf(out, "  %-9s %10llu %12llu  %-25s %s\n", res,
                (unsigned long long)h->level_offset[i],
                (unsigned long long)h->count * r * r * h->channels, ms, ss);
    }
    pg_status s = PG_OK;
    if (verify) {
        s = pg_dataset_verify(ds);
        if (s == PG_OK) fprintf(out, "  pixel hash verified\n");
    }
    pg_dataset_close(ds);
    return s;
}
