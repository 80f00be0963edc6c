/* Exports and loading (snapshot.c): round trips bit for bit, checkpoints, clear
 * refusals of damaged/foreign/incomplete files; the renderer via evaluate.c:
 * deterministic, batch-independent, grid rounding. `--write-export PATH` and
 * `--write-checkpoint PATH` write the tiny files tests/cli_generate.sh uses. */
#include "io/image.h"
#include "io/safetensors.h"
#include "model/generator.h"
#include "model/snapshot.h"
#include "testutil.h"
#include "train/evaluate.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static const pg_model_config tiny = {16, 3, 32, 1.0f, 8, 0, 4};

static float *tiny_arena(pg_param_set *set, uint64_t seed) {
    pg_model_generator_params(&tiny, set);
    float *arena = calloc(set->total, sizeof(float));
    pg_param_set_init(set, seed, arena);
    /* nonzero biases, so a swapped or dropped bias cannot pass */
    for (int i = 0; i < set->count; i++)
        if (set->params[i].kind == PG_PARAM_BIAS)
            for (int k = 0; k < set->params[i].shape[3]; k++)
                arena[set->params[i].offset + k] = 0.01f * (float)(k + 1) * (i % 2 ? 1 : -1);
    return arena;
}

static uint64_t numel(const pg_param *p) {
    return (uint64_t)p->shape[0] * p->shape[1] * p->shape[2] * p->shape[3];
}

/* Export at res, load back, compare every parameter bit for bit. */
static void round_trip_case(const char *dir, int res) {
    pg_param_set set;
    float *arena = tiny_arena(&set, 11);
    char path[512];
    snprintf(path, sizeof path, "%s/export%d.safetensors", dir, res);
    pg_status st = pg_snapshot_export(path, &tiny, &set, arena, res, "{\"preset\": \"tiny\"}");
    test_check(st == PG_OK, "export", "res %d: %s", res, pg_error_message());
    pg_model_config c;
    pg_param_set back;
    float *loaded = NULL;
    st = pg_snapshot_load_generator(path, "Gs", &c, &back, &loaded);
    if (!test_check(st == PG_OK, "load", "res %d: %s", res, pg_error_message())) goto done;
    test_check(c.resolution == res && c.channels == 3 && c.fmap_base == 32 && c.fmap_max == 8 &&
                   c.fmap_decay == 1.0f && pg_model_latent(&c) == 8 && c.mbstd_group == 4,
               "config", "res %d: loaded resolution %d channels %d base %d max %d", res,
               c.resolution, c.channels, c.fmap_base, c.fmap_max);
    int expected = 0;
    for (int i = 0; i < set.count; i++) expected += set.params[i].resolution <= res;
    test_check(back.count == expected, "parameter count", "res %d: %d loaded, %d expected", res,
               back.count, expected);
    for (int i = 0; i < back.count; i++) {
        const pg_param *p = &back.params[i], *q = pg_param_find(&set, p->name);
        int ok = q && !memcmp(p->shape, q->shape, sizeof p->shape) &&
                 !memcmp(arena + q->offset, loaded + p->offset, numel(p) * sizeof(float));
        test_check(ok, "values", "res %d: %s differs after the round trip", res, p->name);
    }
    /* the file itself: PyTorch names, shapes and layout, metadata strings */
    pg_safetensors_reader *r;
    if (pg_safetensors_reader_create(&r, path) == PG_OK) {
        const pg_param *p = pg_param_find(&set, "G.b8.conv0.weight");
        int64_t shape[4] = {8, 8, 3, 3};
        const pg_safetensors_tensor *t;
        st = pg_safetensors_reader_expect(r, "Gs.b8.conv0.weight", PG_DTYPE_F32, 4, shape, &t);
        if (test_check(st == PG_OK, "file tensor", "%s", pg_error_message())) {
            float *pt = malloc(numel(p) * sizeof(float));
            pg_param_to_pytorch(p, arena + p->offset, pt);
            test_check(!memcmp(pt, t->data, numel(p) * sizeof(float)), "file layout",
                       "Gs.b8.conv0.weight is not in PyTorch layout");
            free(pt);
        }
        char want_res[8];
        snprintf(want_res, sizeof want_res, "%d", res);
        const char *kind = pg_safetensors_reader_metadata(r, "kind");
        const char *mres = pg_safetensors_reader_metadata(r, "resolution");
        const char *cfg = pg_safetensors_reader_metadata(r, "config");
        test_check(kind && !strcmp(kind, "export") && mres && !strcmp(mres, want_res) && cfg &&
                       strstr(cfg, "tiny") && pg_safetensors_reader_metadata(r, "mbstd_group"),
                   "metadata", "kind %s resolution %s", kind ? kind : "-", mres ? mres : "-");
        test_check(
            !pg_safetensors_reader_find(r, res == 8 ? "Gs.torgb16.weight" : "G.b4.conv.bias"),
            "no extra tensors", "res %d export holds a tensor it should not", res);
        pg_safetensors_reader_destroy(r);
    }
done:
    free(loaded);
    free(arena);
}

/* Writes a file of Gs tensors (values + bias_offset) and, if with_g, G tensors
 * too, with the given metadata pairs (NULL-terminated). */
static void write_custom(const char *path, const pg_param_set *set, const float *arena, int with_g,
                         const char *const *meta) {
    pg_safetensors_writer *w;
    pg_safetensors_writer_create(&w);
    float *pt = malloc(set->total * sizeof(float) * 2);
    for (int copy = 0; copy < 1 + with_g; copy++)
        for (int i = 0; i < set->count; i++) {
            const pg_param *p = &set->params[i];
            float *dst = pt + copy * set->total + p->offset;
            pg_param_to_pytorch(p, arena + p->offset, dst);
            if (copy) dst[0] += 1.0f; /* G differs from Gs */
            char name[64];
            int64_t shape[4];
            for (int k = 0; k < p->pt_ndim; k++) shape[k] = p->pt_shape[k];
            snprintf(name, sizeof name, "%s.%s", copy ? "G" : "Gs", p->name + 2);
            pg_safetensors_writer_add(w, name, PG_DTYPE_F32, p->pt_ndim, shape, dst);
        }
    for (int k = 0; meta[k]; k += 2) pg_safetensors_writer_set_metadata(w, meta[k], meta[k + 1]);
    pg_status st = pg_safetensors_writer_write(w, path);
    test_check(st == PG_OK, "write custom", "%s", pg_error_message());
    pg_safetensors_writer_destroy(w);
    free(pt);
}

/* A load that must fail with PG_ERR_FORMAT and a message containing want. */
static void expect_refusal(const char *name, const char *path, const char *want) {
    pg_model_config c;
    pg_param_set set;
    float *arena = (float *)1;
    pg_status st = pg_snapshot_load_generator(path, "Gs", &c, &set, &arena);
    const char *msg = pg_error_message();
    test_check(st == PG_ERR_FORMAT && strstr(msg, want) && arena == NULL, name,
               "status %s, message '%s', wanted one containing '%s'", pg_status_name(st), msg,
               want);
}

/* A checkpoint: Gs beside G, kind checkpoint, training at 8x8 mid-fade. */
static const char *const ck_meta[] = {
    "kind",     "checkpoint", "resolution",  "8",         "alpha",  "0.25",       "channels",
    "3",        "latent",     "8",           "fmap_base", "32",     "fmap_decay", "1",
    "fmap_max", "8",          "mbstd_group", "4",         "config", "{}",         NULL};

static void checkpoint_and_refusals_case(const char *dir) {
    pg_param_set set;
    float *arena = tiny_arena(&set, 5);
    char path[512];
    snprintf(path, sizeof path, "%s/ckpt.safetensors", dir);
    write_custom(path, &set, arena, 1, ck_meta);
    pg_model_config c;
    pg_param_set back;
    float *loaded = NULL;
    pg_status st = pg_snapshot_load_generator(path, "Gs", &c, &back, &loaded);
    if (test_check(st == PG_OK, "checkpoint load", "%s", pg_error_message())) {
        test_check(c.resolution == 16 && back.total == set.total &&
                       !memcmp(loaded, arena, set.total * sizeof(float)),
                   "checkpoint Gs", "resolution %d, or the values are not Gs's", c.resolution);
        int res = 0;
        float alpha = 0;
        st = pg_snapshot_render_point(path, &c, &res, &alpha);
        test_check(st == PG_OK && res == 8 && alpha == 0.25f, "checkpoint render point",
                   "res %d alpha %g: %s", res, alpha, st ? pg_error_message() : "");
        free(loaded);
    }
    /* missing metadata key: the message names it */
    const char *no_max[] = {"kind",       "export", "resolution",  "16",        "channels",
                            "3",          "latent", "8",           "fmap_base", "32",
                            "fmap_decay", "1",      "mbstd_group", "4",         NULL};
    snprintf(path, sizeof path, "%s/nomax.safetensors", dir);
    write_custom(path, &set, arena, 0, no_max);
    expect_refusal("missing key", path, "\"fmap_max\" is missing");
    /* the right metadata but no generator tensors */
    pg_safetensors_writer *w;
    pg_safetensors_writer_create(&w);
    float one = 1;
    int64_t shape1[1] = {1};
    pg_safetensors_writer_add(w, "D.b4.dense1.bias", PG_DTYPE_F32, 1, shape1, &one);
    for (int k = 2; no_max[k]; k += 2)
        pg_safetensors_writer_set_metadata(w, no_max[k], no_max[k + 1]);
    snprintf(path, sizeof path, "%s/nogen.safetensors", dir);
    pg_safetensors_writer_write(w, path);
    pg_safetensors_writer_destroy(w);
    expect_refusal("no generator", path, "holds no generator");
    /* a step dump is a progan file without Gs */
    const char *dump_meta[] = {"kind", "step_dump", NULL};
    snprintf(path, sizeof path, "%s/dump.safetensors", dir);
    write_custom(path, &set, arena, 0, dump_meta);
    expect_refusal("step dump", path, "step_dump");
    /* truncated export */
    char full[512];
    snprintf(full, sizeof full, "%s/export16.safetensors", dir);
    FILE *f = fopen(full, "rb");
    fseek(f, 0, SEEK_END);
    long size = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *bytes = malloc((size_t)size);
    test_check(fread(bytes, 1, (size_t)size, f) == (size_t)size, "read export", "short read");
    fclose(f);
    snprintf(path, sizeof path, "%s/cut.safetensors", dir);
    f = fopen(path, "wb");
    fwrite(bytes, 1, (size_t)size - 100, f);
    fclose(f);
    expect_refusal("truncated", path, "cut.safetensors");
    free(bytes);
    /* foreign: a text file */
    snprintf(path, sizeof path, "%s/foreign.safetensors", dir);
    f = fopen(path, "wb");
    fputs("this is not a safetensors file at all, just some text\n", f);
    fclose(f);
    expect_refusal("foreign", path, "foreign.safetensors");
    free(arena);
}

typedef struct {
    uint8_t *pixels;
    size_t bytes;
    uint64_t seed0;
    int z;
} collect;

static void seq_latent(void *user, int index, float *z) {
    collect *c = user;
    pg_latent_from_seed(c->seed0 + (uint64_t)index, c->z, z);
}

static pg_status keep(void *user, int index, const uint8_t *pixels) {
    collect *c = user;
    memcpy(c->pixels + (size_t)index * c->bytes, pixels, c->bytes);
    return PG_OK;
}

/* Determinism and batch independence of the renderer, and evaluate's uint8. */
static void render_case(void) {
    pg_vk_context *ctx = test_context();
    if (!test_check(ctx != NULL, "device", "no Vulkan device")) return;
    pg_param_set set;
    float *arena = tiny_arena(&set, 3);
    pg_vk_buffer buf;
    pg_status st = pg_vk_buffer_create(ctx, set.total * 4, PG_VK_MEMORY_DEVICE, &buf);
    if (!test_check(st == PG_OK, "buffer", "%s", pg_error_message())) return;
    pg_vk_range range = {&buf, 0, set.total * 4};
    st = pg_vk_upload(ctx, range, arena);
    test_check(st == PG_OK, "upload", "%s", pg_error_message());
    const int res = 16, z = 8, img = res * res * 3;
    pg_renderer *r1 = NULL, *r4 = NULL;
    st = pg_renderer_create(ctx, &tiny, &set, &buf, 0, res, 1, 1.0f, &r1);
    if (st == PG_OK) st = pg_renderer_create(ctx, &tiny, &set, &buf, 0, res, 4, 1.0f, &r4);
    if (test_check(st == PG_OK, "renderer", "%s", pg_error_message())) {
        float lat1[8], lat4[32], a[16 * 16 * 3], b[16 * 16 * 3], four[4 * 16 * 16 * 3];
        pg_latent_from_seed(42, z, lat1);
        pg_renderer_run(r1, lat1, a);
        pg_renderer_run(r1, lat1, b);
        test_check(!memcmp(a, b, sizeof a), "same seed twice", "seed 42 renders differently");
        uint64_t seeds[4] = {7, 42, 9, 1000};
        for (int k = 0; k < 4; k++) pg_latent_from_seed(seeds[k], z, lat4 + k * z);
        pg_renderer_run(r4, lat4, four);
        double worst = 0, mag = 0;
        for (int i = 0; i < img; i++) {
            worst = fmax(worst, fabs((double)a[i] - four[img + i]));
            mag = fmax(mag, fabs((double)a[i]));
        }
        test_check(worst <= 1e-5 && mag > 1e-3, "batch 1 vs 4",
                   "seed 42 alone vs in a batch of 4: max diff %g (magnitude %g)", worst, mag);
        /* evaluate.c: 5 images in batches of 4 (one padded), rounded as pg_image_grid */
        uint8_t *px = malloc(5 * (size_t)img);
        collect col = {px, (size_t)img, 40, z};
        st = pg_eval_render(ctx, &tiny, &set, &buf, 0, res, 1.0f, 4, 5, seq_latent, keep, &col);
        if (test_check(st == PG_OK, "eval render", "%s", pg_error_message())) {
            pg_image g;
            pg_image_grid(a, 1, res, 3, 1, 1, &g);
            test_check(!memcmp(g.pixels, px + 2 * (size_t)img, (size_t)img), "uint8 rounding",
                       "image of seed 42 differs from pg_image_grid of the float image");
            pg_image_free(&g);
        }
        free(px);
        double ms;
        st = pg_eval_msssim(ctx, &tiny, &set, &buf, 0, 8, 2, 0, &ms);
        test_check(st == PG_ERR_INVALID && strstr(pg_error_message(), "16"), "msssim below 16",
                   "status %s: %s", pg_status_name(st), pg_error_message());
        st = pg_eval_msssim(ctx, &tiny, &set, &buf, 0, 16, 2, 0, &ms);
        test_check(st == PG_OK && ms >= 0 && ms <= 1, "msssim", "%g: %s", ms,
                   st ? pg_error_message() : "");
    }
    pg_renderer_destroy(r1);
    pg_renderer_destroy(r4);
    pg_vk_buffer_destroy(ctx, &buf);
    free(arena);
}

int main(int argc, char **argv) {
    if (argc == 3 && !strcmp(argv[1], "--write-export")) {
        pg_param_set set;
        float *arena = tiny_arena(&set, 1);
        pg_status st =
            pg_snapshot_export(argv[2], &tiny, &set, arena, 16, "{\"preset\": \"tiny\"}");
        free(arena);
        if (st != PG_OK) fprintf(stderr, "%s\n", pg_error_message());
        return st == PG_OK ? 0 : 1;
    }
    if (argc == 3 && !strcmp(argv[1], "--write-checkpoint")) {
        pg_param_set set;
        float *arena = tiny_arena(&set, 2);
        write_custom(argv[2], &set, arena, 1, ck_meta);
        free(arena);
        return test_results.failed ? 1 : 0;
    }
    char dir[] = "/tmp/progan-snapshot-XXXXXX";
    if (!mkdtemp(dir)) {
        perror("mkdtemp");
        return 1;
    }
    round_trip_case(dir, 8);
    round_trip_case(dir, 16);
    checkpoint_and_refusals_case(dir);
    render_case();
    test_context_release();
    char cmd[600];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    if (system(cmd) != 0) fprintf(stderr, "could not remove %s\n", dir);
    return test_finish("snapshot");
}
