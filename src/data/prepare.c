/* src/data/prepare: folder -> dataset file. Lists the source (walk.c), decodes
 * chunks of files in parallel (OpenMP, image.c), appends them in path order to a
 * temporary file laid out for every candidate, then compacts, hashes, writes the
 * header, renames it into place and writes prepare-report.txt (format in dataset.h). */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <omp.h>
#include <pthread.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <xxhash.h>

#include "data/dataset.h"
#include "data/ingest.h"
#include "data/walk.h"
#include "io/atomic_file.h"

#define REPORT_FIRST_NAMES 5

void pg_prepare_options_default(pg_prepare_options *o) {
    memset(o, 0, sizeof *o);
    o->resolution = 0;
    o->channels = 0;
    o->crop = PG_CROP_CENTER;
    o->upscale = 0;
    o->max_pixels = 100000000ll;
    o->threads = 0;
    o->quiet = 0;
    o->cancel = NULL;
    o->timing = NULL;
}

void pg_prepare_options_canonical(const pg_prepare_options *o, char *buf, size_t size) {
    snprintf(buf, size,
             "progan-dataset v%d resolution=%d channels=%d crop=%s upscale=%d max_pixels=%lld "
             "resize=lanczos3-antialias mip=exact-box-rint-half-even cmyk=adobe exif=yes",
             PG_DATASET_VERSION, o->resolution, o->channels, pg_crop_mode_name(o->crop),
             o->upscale ? 1 : 0, o->max_pixels);
}

static void options_hash(const pg_prepare_options *o, uint8_t out[16]) {
    char buf[512];
    pg_prepare_options_canonical(o, buf, sizeof buf);
    XXH128_canonical_t c;
    XXH128_canonicalFromHash(&c, XXH3_128bits(buf, strlen(buf)));
    memcpy(out, c.digest, 16);
}

static pg_status options_check(const pg_prepare_options *o) {
    int r = o->resolution;
    if (r < 4 || r > PG_DATASET_MAX_RES || (r & (r - 1)))
        return PG_FAIL(PG_ERR_INVALID, "--resolution %d: must be a power of two from 4 to %d", r,
                       PG_DATASET_MAX_RES);
    if (o->channels != 0 && o->channels != 1 && o->channels != 3)
        return PG_FAIL(PG_ERR_INVALID, "--channels %d: must be 1 or 3 (or auto)", o->channels);
    if (o->crop < 0 || o->crop > 2)
        return PG_FAIL(PG_ERR_INVALID, "crop mode %d: must be center, pad or stretch", o->crop);
    if (o->max_pixels < 1)
        return PG_FAIL(PG_ERR_INVALID, "--max-pixels %lld: must be positive", o->max_pixels);
    return PG_OK;
}

/* Per-file outcome kept for the whole run: 4 bytes a file, details only for skips. */
typedef struct {
    uint8_t skip, gray;
    uint16_t conv;
} file_outcome;

typedef struct {
    const pg_walk_list *list;
    file_outcome *out;
    char **detail; /* per file, only for skips */
    int written;
} run_state;

/* Removes "<dataset>.tmp-<pid>" files left by runs that were killed. */
static void remove_stale_temps(const char *dataset_path, int quiet) {
    char dir[4096], base[4096];
    snprintf(dir, sizeof dir, "%s", dataset_path);
    snprintf(base, sizeof base, "%s", dataset_path);
    const char *d = dirname(dir), *b = basename(base);
    DIR *dh = opendir(d);
    if (!dh) return;
    size_t bl = strlen(b);
    struct dirent *de;
    while ((de = readdir(dh))) {
        if (strncmp(de->d_name, b, bl) || strncmp(de->d_name + bl, ".tmp-", 5)) continue;
        char *end;
        long pid = strtol(de->d_name + bl + 5, &end, 10);
        if (*end || pid <= 0 || pid == (long)getpid()) continue;
        if (kill((pid_t)pid, 0) == 0 || errno != ESRCH) continue;
        char full[8300];
        snprintf(full, sizeof full, "%s/%s", d, de->d_name);
        if (unlink(full) == 0 && !quiet) pg_log(PG_LOG_INFO, "prepare: removed stale %s", full);
    }
    closedir(dh);
}

static void report_path(const char *dataset_path, char *out, size_t size) {
    char dir[4096];
    snprintf(dir, sizeof dir, "%s", dataset_path);
    snprintf(out, size, "%s/prepare-report.txt", dirname(dir));
}

/* Writes prepare-report.txt and prints the one-line summary (unless quiet). */
static pg_status write_report(const run_state *rs, const char *src_dir, const char *dataset_path,
                              const pg_prepare_options *o, int channels, pg_status result) {
    const pg_walk_list *l = rs->list;
    char *text = NULL;
    size_t text_size = 0;
    FILE *f = open_memstream(&text, &text_size);
    if (!f) return PG_FAIL(PG_ERR_OUT_OF_MEMORY, "cannot build the report");
    char canon[512];
    pg_prepare_options_canonical(o, canon, sizeof canon);
    int conv_count[PG_CONV_COUNT] = {0}, skip_count[PG_SKIP_COUNT] = {0}, skipped = 0;
    for (int i = 0; i < l->count; i++) {
        if (rs->out[i].skip == PG_SKIP_NONE) {
            for (int k = 0; k < PG_CONV_COUNT; k++)
                if (rs->out[i].conv & (1u << k)) conv_count[k]++;
        } else if (rs->out[i].skip < PG_SKIP_COUNT) {
            skip_count[rs->out[i].skip]++;
            skipped++;
        }
    }
    /* auto channels decode gray as RGB and reduce at the end: a 1-channel dataset
     * expanded nothing */
    if (channels == 1) conv_count[PG_CONV_GRAY_EXPANDED] = 0;
    fprintf(f, "progan prepare report\n");
    fprintf(f, "source:   %s (%d image files, %lld other files ignored)\n", src_dir, l->count,
            l->ignored);
    fprintf(f, "dataset:  %s%s\n", dataset_path, result == PG_OK ? "" : " (NOT written)");
    fprintf(f, "options:  %s\n", canon);
    fprintf(f, "written:  %d images, %dx%d, %d channel%s\n", rs->written, o->resolution,
            o->resolution, channels, channels == 1 ? "" : "s");
    fprintf(f, "skipped:  %d\n", skipped);
    fprintf(f, "\nconverted (by kind):\n");
    for (int k = 0; k < PG_CONV_COUNT; k++) {
        if (!conv_count[k]) continue;
        fprintf(f, "  %-56s %d:", pg_conv_kind_name(k), conv_count[k]);
        for (int i = 0, shown = 0; i < l->count && shown < REPORT_FIRST_NAMES; i++)
            if (rs->out[i].skip == PG_SKIP_NONE && (rs->out[i].conv & (1u << k)))
                fprintf(f, " %s", l->files[i].rel), shown++;
        fprintf(f, "%s\n", conv_count[k] > REPORT_FIRST_NAMES ? " ..." : "");
    }
    fprintf(f, "\nskipped (by reason):\n");
    for (int r = 1; r < PG_SKIP_COUNT; r++) {
        if (!skip_count[r]) continue;
        fprintf(f, "  %s: %d\n", pg_skip_reason_name(r), skip_count[r]);
        for (int i = 0; i < l->count; i++)
            if (rs->out[i].skip == r)
                fprintf(f, "    %s%s%s\n", l->files[i].rel, rs->detail[i] ? "  -- " : "",
                        rs->detail[i] ? rs->detail[i] : "");
    }
    if (l->loop_count) {
        fprintf(f, "\nfolders not entered again (symlink loop or already visited): %d\n",
                l->loop_count);
        for (int i = 0; i < l->loop_count; i++) fprintf(f, "    %s\n", l->loops[i]);
    }
    if (l->ignored) {
        fprintf(
            f, "\nignored (extension is not .jpg/.jpeg/.jpe/.jfif/.png): %lld, first:", l->ignored);
        for (int i = 0; i < l->ignored_first_count; i++) fprintf(f, " %s", l->ignored_first[i]);
        fprintf(f, "\n");
    }
    fclose(f);
    char rp[4200];
    report_path(dataset_path, rp, sizeof rp);
    pg_status s = pg_atomic_write(rp, text, text_size);
    free(text);
    if (!o->quiet) {
        char line[2048];
        int n = snprintf(line, sizeof line, "prepare: wrote %d images (%dx%dx%d)", rs->written,
                         o->resolution, o->resolution, channels);
        for (int k = 0; k < PG_CONV_COUNT && n < (int)sizeof line; k++)
            if (conv_count[k])
                n += snprintf(line + n, sizeof line - n, "; %d %s", conv_count[k],
                              pg_conv_kind_name(k));
        for (int r = 1; r < PG_SKIP_COUNT && n < (int)sizeof line; r++) {
            if (!skip_count[r]) continue;
            n += snprintf(line + n, sizeof line - n, "; skipped %d %s (", skip_count[r],
                          pg_skip_reason_name(r));
            for (int i = 0, shown = 0; i < l->count && shown < 3 && n < (int)sizeof line; i++)
                if (rs->out[i].skip == r)
                    n += snprintf(line + n, sizeof line - n, "%s%s", shown++ ? ", " : "",
                                  l->files[i].rel);
            if (n < (int)sizeof line)
                n += snprintf(line + n, sizeof line - n, "%s)", skip_count[r] > 3 ? ", ..." : "");
        }
        if (n < (int)sizeof line) snprintf(line + n, sizeof line - n, "; report %s", rp);
        pg_log(PG_LOG_INFO, "%s", line);
    }
    return s;
}

static void progress(const pg_prepare_options *o, int done, int total, int written, double t0,
                     double *last, int final) {
    if (o->quiet) return;
    double now = pg_time_now(), el = now - t0;
    int tty = isatty(2);
    if (!final && now - *last < (tty ? 0.2 : 10.0)) return;
    *last = now;
    double rate = el > 0 ? done / el : 0, eta = rate > 0 ? (total - done) / rate : 0;
    if (tty) {
        int bar = total ? (int)(30.0 * done / total) : 30;
        char b[31];
        for (int i = 0; i < 30; i++) b[i] = i < bar ? '#' : '.';
        b[30] = 0;
        fprintf(stderr, "\r[%s] %d/%d files, %d written, %.1f img/s, ETA %d:%02d ", b, done, total,
                written, rate, (int)eta / 60, (int)eta % 60);
        if (final) fputc('\n', stderr);
    } else
        fprintf(stderr, "prepare: %d/%d files, %d written, %.1f img/s, ETA %ds\n", done, total,
                written, rate, (int)eta);
}

static pg_status pwrite_all(int fd, const void *buf, size_t n, uint64_t off, const char *path) {
    const uint8_t *p = buf;
    while (n) {
        ssize_t w = pwrite(fd, p, n, (off_t)off);
        if (w < 0 && errno == EINTR) continue;
        if (w <= 0)
            return PG_FAIL(PG_ERR_IO, "cannot write %s: %s (disk full?)", path, strerror(errno));
        p += w, n -= (size_t)w, off += (uint64_t)w;
    }
    return PG_OK;
}

static pg_status pread_all(int fd, void *buf, size_t n, uint64_t off, const char *path) {
    uint8_t *p = buf;
    while (n) {
        ssize_t r = pread(fd, p, n, (off_t)off);
        if (r < 0 && errno == EINTR) continue;
        if (r <= 0) return PG_FAIL(PG_ERR_IO, "cannot read back %s: %s", path, strerror(errno));
        p += r, n -= (size_t)r, off += (uint64_t)r;
    }
    return PG_OK;
}

/* The pixel hash (dataset.h) is XXH3-128 over every level's pixels, levels in file order.
 * The top level (3/4 of the bytes) is hashed in the decode loop as it is written, in path
 * order, which is its file order; the smaller levels follow it in the hash, so they are
 * hashed after the loop by reading them back (while they are still in the page cache).
 * While every image so far is gray, a second state hashes the top level reduced to one
 * channel, in case the dataset ends up with channels = 1. */
typedef struct {
    XXH3_state_t *st[2]; /* [0]: the top level as written; [1]: reduced to 1 channel */
    int gray_live;       /* st[1] is still being fed */
    uint8_t *gray_buf;   /* R * R bytes */
} top_hash;

/* Moves every level from the capacity layout to the final one (fewer images, maybe one
 * channel), front to back so a write never overtakes an unread byte, and hashes the levels
 * after the top one into the state that already holds the top level. */
static pg_status finalize(int fd, const char *path, const pg_dataset_header *cap,
                          pg_dataset_header *fin, XXH3_state_t *st) {
    size_t block = 16u << 20;
    uint8_t *buf = malloc(block);
    if (!buf) return PG_FAIL(PG_ERR_OUT_OF_MEMORY, "cannot allocate the finalize buffer");
    pg_status s = PG_OK;
    int reduce = cap->channels != fin->channels;
    for (uint32_t i = 0; i < fin->levels && s == PG_OK; i++) {
        uint32_t r = fin->level_res[i];
        size_t in_img = (size_t)r * r * cap->channels, out_img = (size_t)r * r * fin->channels;
        size_t per = block / in_img ? block / in_img : 1;
        int move = reduce || cap->level_offset[i] != fin->level_offset[i];
        if (i == 0 && !move) continue; /* in place and already hashed */
        for (size_t j = 0; j < fin->count && s == PG_OK; j += per) {
            size_t n = PG_MIN(per, fin->count - j);
            s = pread_all(fd, buf, n * in_img, cap->level_offset[i] + j * in_img, path);
            if (s != PG_OK) break;
            if (reduce)
                for (size_t k = 0; k < n * out_img; k++) buf[k] = buf[3 * k];
            if (i > 0) XXH3_128bits_update(st, buf, n * out_img);
            if (move)
                s = pwrite_all(fd, buf, n * out_img, fin->level_offset[i] + j * out_img, path);
        }
    }
    XXH128_canonical_t c;
    XXH128_canonicalFromHash(&c, XXH3_128bits_digest(st));
    memcpy(fin->pixel_hash, c.digest, 16);
    free(buf);
    if (s == PG_OK && ftruncate(fd, (off_t)fin->file_size) != 0)
        s = PG_FAIL(PG_ERR_IO, "cannot truncate %s: %s", path, strerror(errno));
    if (s == PG_OK) {
        uint8_t head[PG_DATASET_HEADER_BYTES];
        pg_dataset_header_encode(fin, head);
        s = pwrite_all(fd, head, sizeof head, 0, path);
    }
    return s;
}

#define WRITEBACK_BYTES (64ll << 20)  /* start the disk writes after this many new bytes */
#define RING_BYTES      (256ll << 20) /* the finished-image ring holds about this much */

/* A finished image waiting for the writer: every level, and the outcome of its file. */
typedef struct {
    uint8_t *img;
    pg_ingest_result res;
    int index;  /* the file it holds */
    int ready;  /* filled by a worker, not yet taken by the writer */
    int loaded; /* 0: the worker saw the cancel flag and decoded nothing */
} ring_slot;

/* The ring between the decoding threads and the writer thread. File i goes into slot
 * i % n_slots once the writer has finished file i - n_slots, so the writer always
 * finds its next file in path order, and workers wait only when the writer is n_slots
 * files behind. */
typedef struct {
    pthread_mutex_t mu;
    pthread_cond_t filled, freed;
    ring_slot *slot;
    int n_slots;
    int next; /* the writer has finished every file below this */
    int stop; /* set by the writer on an error or a cancel: workers skip the rest */
    /* the writer's inputs */
    run_state *rs;
    const pg_prepare_options *o;
    const pg_dataset_header *cap;
    int fd, work_c, *all_gray;
    const char *tmp_path;
    top_hash *th;
    size_t img_bytes;
    /* the writer's results */
    pg_status s;
    char msg[2048]; /* the writer's error message (messages are per thread) */
    double t_write, t_hash;
} ring;

/* Writes one finished image (or records its skip) in path order: the body that was the
 * ordered section. Returns PG_OK or the error that stops the run. */
static pg_status write_one(ring *rg, int i, ring_slot *sl, long long *unsynced) {
    run_state *rs = rg->rs;
    const pg_prepare_options *o = rg->o;
    const pg_dataset_header *cap = rg->cap;
    const pg_walk_list *l = rs->list;
    if ((o->cancel && *o->cancel) || !sl->loaded)
        return PG_FAIL(PG_ERR_INTERRUPTED,
                       "prepare interrupted after %d of %d files; nothing was written under "
                       "the final name",
                       i, l->count);
    const pg_ingest_result *r = &sl->res;
    rs->out[i] = (file_outcome){(uint8_t)r->skip, (uint8_t)r->source_gray, (uint16_t)r->conv};
    if (r->skip != PG_SKIP_NONE) {
        rs->detail[i] = r->detail[0] ? strdup(r->detail) : NULL;
        return PG_OK;
    }
    top_hash *th = rg->th;
    if (!r->source_gray) *rg->all_gray = 0, th->gray_live = 0;
    double tw = pg_time_now();
    const uint8_t *p = sl->img;
    pg_status e = PG_OK;
    for (uint32_t k = 0; k < cap->levels && e == PG_OK; k++) {
        size_t lb = (size_t)cap->level_res[k] * cap->level_res[k] * rg->work_c;
        e = pwrite_all(rg->fd, p, lb, cap->level_offset[k] + (uint64_t)rs->written * lb,
                       rg->tmp_path);
        p += lb;
    }
    if (e != PG_OK) return e;
    double th0 = pg_time_now();
    rg->t_write += th0 - tw;
    int R = o->resolution;
    XXH3_128bits_update(th->st[0], sl->img, (size_t)R * R * rg->work_c);
    if (th->gray_live) {
        for (size_t k = 0; k < (size_t)R * R; k++) th->gray_buf[k] = sl->img[3 * k];
        XXH3_128bits_update(th->st[1], th->gray_buf, (size_t)R * R);
    }
    rg->t_hash += pg_time_now() - th0;
    rs->written++;
    *unsynced += (long long)rg->img_bytes;
    if (*unsynced >= WRITEBACK_BYTES) {
        /* asynchronous: queues the dirty pages for writing */
        (void)sync_file_range(rg->fd, 0, 0, SYNC_FILE_RANGE_WRITE);
        *unsynced = 0;
    }
    return PG_OK;
}

/* The writer thread: takes the files in path order as the workers finish them. */
static void *writer_main(void *arg) {
    ring *rg = arg;
    const pg_walk_list *l = rg->rs->list;
    double t0 = pg_time_now(), last = t0;
    long long unsynced = 0;
    for (int i = 0; i < l->count; i++) {
        ring_slot *sl = &rg->slot[i % rg->n_slots];
        pthread_mutex_lock(&rg->mu);
        while (!(sl->ready && sl->index == i)) pthread_cond_wait(&rg->filled, &rg->mu);
        pthread_mutex_unlock(&rg->mu);
        pg_status e = write_one(rg, i, sl, &unsynced);
        pthread_mutex_lock(&rg->mu);
        sl->ready = 0;
        if (e == PG_OK)
            rg->next = i + 1;
        else {
            rg->s = e;
            snprintf(rg->msg, sizeof rg->msg, "%s", pg_error_message());
            rg->stop = 1;
        }
        pthread_cond_broadcast(&rg->freed);
        pthread_mutex_unlock(&rg->mu);
        if (e != PG_OK) break;
        progress(rg->o, i + 1, l->count, rg->rs->written, t0, &last, i + 1 == l->count);
    }
    return NULL;
}

/* The decode loop: files in parallel (dynamic, one at a time) into the slots of a ring;
 * a writer thread writes each finished image into the temporary file, and hashes its top
 * level, in path order while the workers go on decoding. Writeback to disk is started as
 * the file grows, so that the final fsync has little left to do. */
static pg_status convert_all(run_state *rs, const pg_prepare_options *o, int work_c,
                             const pg_dataset_header *cap, int fd, const char *tmp_path,
                             int *all_gray, top_hash *th, pg_prepare_timing *tm) {
    const pg_walk_list *l = rs->list;
    int R = o->resolution, T = o->threads > 0 ? o->threads : omp_get_max_threads();
    T = PG_MAX(1, PG_MIN(T, l->count));
    size_t img_bytes = 0;
    for (uint32_t i = 0; i < cap->levels; i++)
        img_bytes += (size_t)cap->level_res[i] * cap->level_res[i] * work_c;
    /* at least two slots a worker, more while they stay under RING_BYTES, at most 8 a
     * worker, never more than the files */
    long long fit = RING_BYTES / (long long)img_bytes;
    int S = (int)PG_MAX(2ll * T, PG_MIN(fit, 8ll * T));
    S = PG_MAX(1, PG_MIN(S, l->count));
    ring rg = {.n_slots = S,
               .rs = rs,
               .o = o,
               .cap = cap,
               .fd = fd,
               .work_c = work_c,
               .all_gray = all_gray,
               .tmp_path = tmp_path,
               .th = th,
               .img_bytes = img_bytes,
               .s = PG_OK};
    uint8_t *buf = malloc(img_bytes * S);
    rg.slot = calloc((size_t)S, sizeof *rg.slot);
    pg_ingest_worker **wk = calloc((size_t)T, sizeof *wk);
    void **scratch = calloc((size_t)T, sizeof *scratch);
    double *t_mip = calloc((size_t)T, sizeof *t_mip);
    pg_status s = PG_OK;
    if (!buf || !rg.slot || !wk || !scratch || !t_mip)
        s = PG_FAIL(PG_ERR_OUT_OF_MEMORY, "cannot allocate %zu bytes of decode buffers",
                    img_bytes * S);
    for (int k = 0; k < S && s == PG_OK; k++) rg.slot[k].img = buf + img_bytes * k;
    for (int t = 0; t < T && s == PG_OK; t++) {
        s = pg_ingest_worker_create(&wk[t]);
        scratch[t] = malloc(pg_ingest_mipmaps_scratch_bytes(R, work_c));
        if (s == PG_OK && !scratch[t]) s = PG_FAIL(PG_ERR_OUT_OF_MEMORY, "no mipmap scratch");
    }
    pg_ingest_params ip = {R, work_c, o->crop, o->upscale, o->max_pixels};
    double t0 = pg_time_now();
    *all_gray = 1;
    pthread_t writer;
    int started = 0, inited = s == PG_OK;
    if (inited) {
        pthread_mutex_init(&rg.mu, NULL);
        pthread_cond_init(&rg.filled, NULL);
        pthread_cond_init(&rg.freed, NULL);
        int err = pthread_create(&writer, NULL, writer_main, &rg);
        if (err)
            s = PG_FAIL(PG_ERR_IO, "cannot start the writer thread: %s", strerror(err));
        else
            started = 1;
    }
    if (started) {
#pragma omp parallel num_threads(T)
        {
            int t = omp_get_thread_num();
#pragma omp for schedule(dynamic, 1)
            for (int i = 0; i < l->count; i++) {
                ring_slot *sl = &rg.slot[i % S];
                pthread_mutex_lock(&rg.mu);
                while (!rg.stop && i >= rg.next + S) pthread_cond_wait(&rg.freed, &rg.mu);
                int halt = rg.stop;
                pthread_mutex_unlock(&rg.mu);
                if (halt) continue; /* the writer has stopped: nobody takes this file */
                sl->loaded = !(o->cancel && *o->cancel);
                if (sl->loaded) {
                    pg_ingest_load_square(wk[t], l->files[i].path, &ip, sl->img, &sl->res);
                    if (sl->res.skip == PG_SKIP_NONE && cap->levels > 1) {
                        double tm0 = pg_time_now();
                        uint8_t *lv[PG_DATASET_MAX_LEVELS];
                        size_t off = (size_t)R * R * work_c;
                        for (uint32_t k = 1; k < cap->levels; k++) {
                            lv[k - 1] = sl->img + off;
                            off += (size_t)cap->level_res[k] * cap->level_res[k] * work_c;
                        }
                        pg_ingest_mipmaps_rows(sl->img, R, work_c, lv, scratch[t]);
                        t_mip[t] += pg_time_now() - tm0;
                    }
                }
                pthread_mutex_lock(&rg.mu);
                sl->index = i;
                sl->ready = 1;
                pthread_cond_signal(&rg.filled);
                pthread_mutex_unlock(&rg.mu);
            }
        }
        pthread_join(writer, NULL);
        s = rg.s;
        if (s != PG_OK) pg_error_set(s, __FILE__, __LINE__, "%s", rg.msg);
    }
    if (inited) {
        pthread_mutex_destroy(&rg.mu);
        pthread_cond_destroy(&rg.filled);
        pthread_cond_destroy(&rg.freed);
    }
    for (int t = 0; t < T && wk; t++) {
        if (tm && wk[t]) {
            double d, z;
            pg_ingest_worker_times(wk[t], &d, &z);
            tm->decode += d, tm->resize += z, tm->mipmaps += t_mip[t];
        }
        pg_ingest_worker_destroy(wk[t]);
        if (scratch) free(scratch[t]);
    }
    if (tm) tm->convert += pg_time_now() - t0, tm->write += rg.t_write, tm->hash += rg.t_hash;
    free(wk);
    free(scratch);
    free(t_mip);
    free(rg.slot);
    free(buf);
    return s;
}

/* pg_prepare_run with the listing already made (pg_prepare_cached lists once). */
static pg_status prepare_listed(const pg_walk_list *l, const char *src_dir,
                                const char *dataset_path, const pg_prepare_options *o) {
    if (l->count == 0)
        return PG_FAIL(
            PG_ERR_INVALID,
            "no image files (.jpg, .jpeg, .png) under %s (%lld other files ignored%s%s); "
            "point progan prepare at a folder of photos",
            src_dir, l->ignored, l->ignored_first_count ? ", e.g. " : "",
            l->ignored_first_count ? l->ignored_first[0] : "");
    remove_stale_temps(dataset_path, o->quiet);
    int work_c = o->channels == 1 ? 1 : 3;
    pg_dataset_header cap = {0};
    cap.count = (uint32_t)l->count;
    cap.channels = (uint32_t)work_c;
    cap.resolution = (uint32_t)o->resolution;
    pg_dataset_header_layout(&cap);
    pg_atomic_file af;
    PG_TRY(pg_atomic_file_open(&af, dataset_path));
    /* the atomic file is write-only; compaction reads back through a second descriptor */
    int fd = open(af.temp_path, O_RDWR | O_CLOEXEC);
    if (fd < 0) {
        pg_status e = PG_FAIL(PG_ERR_IO, "cannot reopen %s: %s", af.temp_path, strerror(errno));
        pg_atomic_file_abort(&af);
        return e;
    }
    run_state rs = {l, calloc((size_t)l->count, sizeof(file_outcome)),
                    calloc((size_t)l->count, sizeof(char *)), 0};
    pg_status s = PG_OK;
    if (!rs.out || !rs.detail) s = PG_FAIL(PG_ERR_OUT_OF_MEMORY, "cannot allocate outcomes");
    if (s == PG_OK && ftruncate(fd, (off_t)cap.file_size) != 0)
        s = PG_FAIL(PG_ERR_IO, "cannot size %s to %llu bytes: %s", af.temp_path,
                    (unsigned long long)cap.file_size, strerror(errno));
    int all_gray = 0;
    top_hash th = {{XXH3_createState(), XXH3_createState()},
                   work_c == 3,
                   malloc((size_t)o->resolution * o->resolution)};
    if (s == PG_OK && (!th.st[0] || !th.st[1] || !th.gray_buf))
        s = PG_FAIL(PG_ERR_OUT_OF_MEMORY, "cannot allocate the hash states");
    if (s == PG_OK) {
        XXH3_128bits_reset(th.st[0]);
        XXH3_128bits_reset(th.st[1]);
        s = convert_all(&rs, o, work_c, &cap, fd, af.temp_path, &all_gray, &th, o->timing);
    }
    int channels = o->channels ? o->channels : (all_gray && rs.written ? 1 : 3);
    if (s == PG_OK && rs.written == 0)
        s = PG_FAIL(PG_ERR_INVALID,
                    "none of the %d image files under %s could be converted; "
                    "the reasons are in the report",
                    l->count, src_dir);
    pg_dataset_header fin = cap;
    if (s == PG_OK) {
        fin.count = (uint32_t)rs.written;
        fin.channels = (uint32_t)channels;
        pg_dataset_header_layout(&fin);
        options_hash(o, fin.options_hash);
        pg_walk_list_hash(l, fin.options_hash, fin.source_hash);
        fin.crop = (uint32_t)o->crop;
        fin.upscale = (uint32_t)(o->upscale != 0);
        fin.channels_requested = (uint32_t)o->channels;
        fin.max_pixels = (uint64_t)o->max_pixels;
        double tf = pg_time_now();
        s = finalize(fd, af.temp_path, &cap, &fin, th.st[fin.channels != cap.channels]);
        if (o->timing) o->timing->finalize += pg_time_now() - tf;
    }
    XXH3_freeState(th.st[0]);
    XXH3_freeState(th.st[1]);
    free(th.gray_buf);
    close(fd);
    double tc = pg_time_now();
    if (s == PG_OK)
        s = pg_atomic_file_commit(&af);
    else
        pg_atomic_file_abort(&af);
    if (o->timing) o->timing->commit += pg_time_now() - tc;
    if (s != PG_ERR_INTERRUPTED) {
        char saved[2048];
        snprintf(saved, sizeof saved, "%s", pg_error_message());
        pg_status rep = write_report(&rs, src_dir, dataset_path, o, channels, s);
        if (s == PG_OK)
            s = rep;
        else if (rep != PG_OK)
            pg_error_set(s, __FILE__, __LINE__, "%s", saved); /* keep the first */
    }
    for (int i = 0; rs.detail && i < l->count; i++) free(rs.detail[i]);
    free(rs.detail);
    free(rs.out);
    return s;
}

pg_status pg_prepare_run(const char *src_dir, const char *dataset_path,
                         const pg_prepare_options *o) {
    PG_TRY(options_check(o));
    double t0 = pg_time_now();
    if (o->timing) memset(o->timing, 0, sizeof *o->timing);
    pg_walk_list l;
    PG_TRY(pg_walk_list_create(src_dir, &l));
    if (o->timing) o->timing->list = pg_time_now() - t0;
    pg_status s = prepare_listed(&l, src_dir, dataset_path, o);
    pg_walk_list_destroy(&l);
    if (o->timing) o->timing->total = pg_time_now() - t0;
    return s;
}

pg_status pg_prepare_cached(const char *src_dir, const char *dataset_path,
                            const pg_prepare_options *o) {
    PG_TRY(options_check(o));
    if (o->timing) memset(o->timing, 0, sizeof *o->timing);
    pg_walk_list l;
    PG_TRY(pg_walk_list_create(src_dir, &l));
    pg_dataset *ds = NULL;
    if (access(dataset_path, F_OK) == 0 && pg_dataset_open(dataset_path, &ds) == PG_OK) {
        uint8_t oh[16], sh[16];
        options_hash(o, oh);
        pg_walk_list_hash(&l, oh, sh);
        const pg_dataset_header *h = pg_dataset_header_get(ds);
        int match = !memcmp(h->options_hash, oh, 16) && !memcmp(h->source_hash, sh, 16);
        pg_dataset_close(ds);
        if (match) {
            if (!o->quiet)
                pg_log(PG_LOG_INFO, "prepare: reusing %s (source listing and options match)",
                       dataset_path);
            pg_walk_list_destroy(&l);
            return PG_OK;
        }
        if (!o->quiet)
            pg_log(PG_LOG_INFO, "prepare: %s is stale (source or options changed), preparing again",
                   dataset_path);
    }
    pg_error_clear();
    pg_status s = prepare_listed(&l, src_dir, dataset_path, o);
    pg_walk_list_destroy(&l);
    return s;
}
