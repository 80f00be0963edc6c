/* progan interpolate --snapshot FILE --seeds 1,7,3 --frames 60 --out DIR: the
 * frames of a smooth walk through the seeds' latents (spherical interpolation
 * at constant norm), named frame00000.jpg..., ready for ffmpeg. */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/commands.h"
#include "io/image.h"
#include "model/generator.h"
#include "train/evaluate.h"

#define INTERP_MAX_FRAMES 100000

static void interpolate_usage(FILE *out) {
    fprintf(out,
            "usage: progan interpolate --snapshot FILE --seeds LIST --frames N --out DIR "
            "[options]\n"
            "Renders a smooth walk through the latents of the seeds, in order, with the\n"
            "moving-average generator (Gs) of FILE: each latent is scaled to norm sqrt(Z),\n"
            "consecutive ones are joined by spherical interpolation (slerp), which keeps that\n"
            "norm. Frames are DIR/frame00000.<format>, ...; the command to make a video is\n"
            "printed at the end.\n\n"
            "  --snapshot FILE    export or training checkpoint (required)\n"
            "  --seeds LIST       at least 2 seeds, in walk order: 1,7,3 or 0-4 (required)\n"
            "  --frames N         frames per segment between two seeds, 1..%d (default 60)\n"
            "  --out DIR          output folder, created if missing (required)\n"
            "  --loop             walk back from the last seed to the first, so the video loops\n"
            "                     (N x seeds frames; without it N x (seeds - 1) + 1)\n"
            "  --format jpg|png   image format (default jpg, quality 95)\n"
            "  --device N         Vulkan device index (default: $PROGAN_DEVICE, else the first\n"
            "                     GPU; see progan devices)\n"
            "  --batch N          images per device run (default by resolution)\n"
            "  --help             this text\n",
            INTERP_MAX_FRAMES);
}

typedef struct {
    const double *keys; /* [seeds, Z] unit vectors */
    int n_keys, frames, z;
    const char *out_dir, *format;
    int res, channels;
} walk;

/* Spherical interpolation between unit vectors a and b at t, times sqrt(Z):
 * every frame has the norm a typical N(0, I) latent has, so no frame looks
 * washed out the way a straight line through the middle of the ball would. */
static void slerp(const double *a, const double *b, int z, double t, float *out) {
    double dot = 0;
    for (int i = 0; i < z; i++) dot += a[i] * b[i];
    dot = dot > 1 ? 1 : dot < -1 ? -1 : dot;
    double omega = acos(dot), so = sin(omega), scale = sqrt((double)z);
    double wa = 1 - t, wb = t;
    if (so > 1e-6) {
        wa = sin((1 - t) * omega) / so;
        wb = sin(t * omega) / so;
    }
    double norm = 0;
    for (int i = 0; i < z; i++) {
        double v = wa * a[i] + wb * b[i];
        norm += v * v;
    }
    norm = norm > 0 ? sqrt(norm) : 1; /* only the near-parallel lerp needs this */
    for (int i = 0; i < z; i++) out[i] = (float)((wa * a[i] + wb * b[i]) / norm * scale);
}

static void walk_latent(void *user, int index, float *z) {
    walk *w = user;
    int seg = index / w->frames;
    double t = (double)(index % w->frames) / w->frames;
    const double *a = w->keys + (size_t)(seg % w->n_keys) * w->z;
    const double *b = w->keys + (size_t)((seg + 1) % w->n_keys) * w->z;
    slerp(a, b, w->z, t, z);
}

static pg_status walk_image(void *user, int index, const uint8_t *pixels) {
    walk *w = user;
    char path[4200];
    snprintf(path, sizeof path, "%s/frame%05d.%s", w->out_dir, index, w->format);
    pg_image img = {(uint8_t *)pixels, w->res, w->res, w->channels};
    return pg_image_write(path, &img, 95);
}

int cmd_interpolate(int argc, char **argv) {
    const char *snapshot = NULL, *seeds_text = NULL, *out_dir = NULL, *format = "jpg";
    int frames = 60, loop = 0, device = -1, batch = 0;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v;
        int missing = 0;
        long long n;
        if (!strcmp(a, "--help") || !strcmp(a, "-h")) {
            interpolate_usage(stdout);
            return 0;
        } else if (!strcmp(a, "--loop"))
            loop = 1;
        else if ((v = cli_flag_value(argc, argv, &i, "--snapshot", &missing)))
            snapshot = v;
        else if ((v = cli_flag_value(argc, argv, &i, "--seeds", &missing)))
            seeds_text = v;
        else if ((v = cli_flag_value(argc, argv, &i, "--out", &missing)))
            out_dir = v;
        else if ((v = cli_flag_value(argc, argv, &i, "--frames", &missing))) {
            if (!cli_parse_int(v, 1, INTERP_MAX_FRAMES, &n)) goto bad_value;
            frames = (int)n;
        } else if ((v = cli_flag_value(argc, argv, &i, "--format", &missing))) {
            if (strcmp(v, "jpg") && strcmp(v, "png")) goto bad_value;
            format = v;
        } else if ((v = cli_flag_value(argc, argv, &i, "--device", &missing))) {
            if (!cli_parse_int(v, 0, 15, &n)) goto bad_value;
            device = (int)n;
        } else if ((v = cli_flag_value(argc, argv, &i, "--batch", &missing))) {
            if (!cli_parse_int(v, 1, 1024, &n)) goto bad_value;
            batch = (int)n;
        } else if (missing) {
            fprintf(stderr, "progan interpolate: %s needs a value\n", a);
            return 2;
        } else {
            fprintf(stderr,
                    "progan interpolate: unknown argument '%s' (see progan interpolate --help)\n",
                    a);
            return 2;
        }
        continue;
    bad_value:
        fprintf(stderr,
                "progan interpolate: bad value '%s' for %s (see progan interpolate --help)\n", v,
                a);
        return 2;
    }
    if (!snapshot || !seeds_text || !out_dir) {
        fprintf(stderr, "progan interpolate: --snapshot, --seeds and --out are required\n\n");
        interpolate_usage(stderr);
        return 2;
    }
    uint64_t *seeds;
    int count;
    char err[512];
    if (cli_parse_seeds(seeds_text, &seeds, &count, err, sizeof err)) {
        fprintf(stderr, "progan interpolate: --seeds: %s\n", err);
        return 2;
    }
    long long total = loop ? (long long)frames * count : (long long)frames * (count - 1) + 1;
    if (count < 2 || total > INTERP_MAX_FRAMES) {
        fprintf(stderr, "progan interpolate: %s\n",
                count < 2 ? "--seeds needs at least 2 seeds to walk between"
                          : "too many frames (more than 100000): fewer seeds or --frames");
        free(seeds);
        return 2;
    }
    if (cli_mkdir_p(out_dir)) {
        fprintf(stderr, "progan interpolate: cannot create the folder %s: %s\n", out_dir,
                strerror(errno));
        free(seeds);
        return 1;
    }
    pg_vk_context *ctx = NULL;
    pg_eval_generator gen = {0};
    double *keys = NULL;
    float *tmp = NULL;
    pg_status st = pg_vk_context_create(device, &ctx);
    if (st == PG_OK) st = pg_eval_generator_create(ctx, snapshot, "Gs", &gen);
    walk w = {0};
    if (st == PG_OK) {
        int z = pg_model_latent(&gen.config);
        keys = malloc((size_t)count * z * sizeof(double));
        tmp = malloc((size_t)z * sizeof(float));
        if (!keys || !tmp) st = PG_FAIL(PG_ERR_OUT_OF_MEMORY, "no memory for %d latents", count);
        for (int k = 0; st == PG_OK && k < count; k++) {
            pg_latent_from_seed(seeds[k], z, tmp);
            double norm = 0;
            for (int i = 0; i < z; i++) norm += (double)tmp[i] * tmp[i];
            norm = norm > 0 ? sqrt(norm) : 1;
            for (int i = 0; i < z; i++) keys[(size_t)k * z + i] = tmp[i] / norm;
        }
        w = (walk){keys, count, frames, z, out_dir, format, gen.res, gen.config.channels};
    }
    if (st == PG_OK)
        st = pg_eval_render(ctx, &gen.config, &gen.set, &gen.params, 0, gen.res, gen.alpha, batch,
                            (int)total, walk_latent, walk_image, &w);
    if (st == PG_OK) {
        printf("wrote %lld frames of %dx%d to %s/ (frame00000.%s .. frame%05lld.%s)\n", total,
               gen.res, gen.res, out_dir, format, total - 1, format);
        printf("make a video with:\n  ffmpeg -framerate 30 -i %s/frame%%05d.%s -c:v libx264 "
               "-pix_fmt yuv420p %s/walk.mp4\n",
               out_dir, format, out_dir);
    }
    free(keys);
    free(tmp);
    free(seeds);
    pg_eval_generator_destroy(&gen);
    if (ctx) pg_vk_context_destroy(ctx);
    if (st != PG_OK) {
        fprintf(stderr, "progan interpolate: %s\n", pg_error_message());
        return 1;
    }
    return 0;
}
