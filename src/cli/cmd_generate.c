/* progan generate --snapshot FILE --seeds LIST --out DIR: one image per seed (or
 * one grid) from the moving-average generator of an export or checkpoint. Also
 * owns the command-line helpers the generate/interpolate/metrics commands share
 * (flag values, seed lists, output folders), declared in commands.h. */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "cli/commands.h"
#include "io/image.h"
#include "model/generator.h"
#include "train/evaluate.h"

static void generate_usage(FILE *out) {
    fprintf(out,
            "usage: progan generate --snapshot FILE --seeds LIST --out DIR [options]\n"
            "Renders one image per seed with the moving-average generator (Gs) of FILE, an\n"
            "export or a training checkpoint (rendered at the resolution training reached).\n"
            "Seed s always gives the same image, on every device.\n\n"
            "  --snapshot FILE    export or training checkpoint (required)\n"
            "  --seeds LIST       A-B, A,B,C or a mix such as 0-3,9,20-22 (required; at most\n"
            "                     %d seeds, each 0..%u)\n"
            "  --out DIR          output folder, created if missing (required)\n"
            "  --grid             one near-square grid.<format> instead of seedNNNN.<format>\n"
            "                     per seed (at most %d seeds)\n"
            "  --trunc T          truncation trick (default off): latent components drawn from\n"
            "                     N(0,1) truncated to [-T, T] (ProGAN has no mapping network, so\n"
            "                     this is BigGAN's form; T around 0.5..1.5 trades variety for\n"
            "                     typical-looking images)\n"
            "  --format jpg|png   image format (default jpg, quality 95)\n"
            "  --device N         Vulkan device index (default: $PROGAN_DEVICE, else the first\n"
            "                     GPU; see progan devices)\n"
            "  --batch N          images per device run (default by resolution: 32 up to 32x32,\n"
            "                     16 up to 128, 8 at 256, 4 above)\n"
            "  --help             this text\n",
            CLI_MAX_SEEDS, CLI_MAX_SEED, CLI_MAX_GRID);
}

typedef struct {
    const uint64_t *seeds;
    int z, res, channels, grid_cols;
    float psi;
    const char *out_dir, *format;
    uint8_t *grid; /* NULL: one file per seed */
    int grid_width;
} generate_job;

static void generate_latent(void *user, int index, float *z) {
    generate_job *j = user;
    if (j->psi > 0)
        pg_latent_from_seed_truncated(j->seeds[index], j->z, j->psi, z);
    else
        pg_latent_from_seed(j->seeds[index], j->z, z);
}

/* Per seed: a file now (nothing piles up in memory); grid: a tile of the grid. */
static pg_status generate_image(void *user, int index, const uint8_t *pixels) {
    generate_job *j = user;
    size_t row = (size_t)j->res * j->channels;
    if (j->grid) {
        int gy = index / j->grid_cols, gx = index % j->grid_cols;
        for (int y = 0; y < j->res; y++)
            memcpy(j->grid + ((size_t)(gy * j->res + y) * j->grid_width + (size_t)gx * j->res) *
                                 j->channels,
                   pixels + (size_t)y * row, row);
        return PG_OK;
    }
    char path[4200];
    snprintf(path, sizeof path, "%s/seed%04llu.%s", j->out_dir, (unsigned long long)j->seeds[index],
             j->format);
    pg_image img = {(uint8_t *)pixels, j->res, j->res, j->channels};
    return pg_image_write(path, &img, 95);
}

int cmd_generate(int argc, char **argv) {
    const char *snapshot = NULL, *seeds_text = NULL, *out_dir = NULL, *format = "jpg";
    int grid = 0, device = -1, batch = 0;
    double psi = 0; /* the truncation threshold; 0 = off */
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v;
        int missing = 0;
        long long n;
        if (!strcmp(a, "--help") || !strcmp(a, "-h")) {
            generate_usage(stdout);
            return 0;
        } else if (!strcmp(a, "--grid"))
            grid = 1;
        else if ((v = cli_flag_value(argc, argv, &i, "--snapshot", &missing)))
            snapshot = v;
        else if ((v = cli_flag_value(argc, argv, &i, "--seeds", &missing)))
            seeds_text = v;
        else if ((v = cli_flag_value(argc, argv, &i, "--out", &missing)))
            out_dir = v;
        else if ((v = cli_flag_value(argc, argv, &i, "--format", &missing))) {
            if (strcmp(v, "jpg") && strcmp(v, "png")) goto bad_value;
            format = v;
        } else if ((v = cli_flag_value(argc, argv, &i, "--trunc", &missing))) {
            char *end;
            psi = strtod(v, &end);
            if (!*v || *end || !(psi >= 0.05 && psi <= 10)) goto bad_value;
        } else if ((v = cli_flag_value(argc, argv, &i, "--device", &missing))) {
            if (!cli_parse_int(v, 0, 15, &n)) goto bad_value;
            device = (int)n;
        } else if ((v = cli_flag_value(argc, argv, &i, "--batch", &missing))) {
            if (!cli_parse_int(v, 1, 1024, &n)) goto bad_value;
            batch = (int)n;
        } else if (missing) {
            fprintf(stderr, "progan generate: %s needs a value\n", a);
            return 2;
        } else {
            fprintf(stderr, "progan generate: unknown argument '%s' (see progan generate --help)\n",
                    a);
            return 2;
        }
        continue;
    bad_value:
        fprintf(stderr, "progan generate: bad value '%s' for %s (see progan generate --help)\n", v,
                a);
        return 2;
    }
    if (!snapshot || !seeds_text || !out_dir) {
        fprintf(stderr, "progan generate: --snapshot, --seeds and --out are required\n\n");
        generate_usage(stderr);
        return 2;
    }
    uint64_t *seeds;
    int count;
    char err[512];
    if (cli_parse_seeds(seeds_text, &seeds, &count, err, sizeof err)) {
        fprintf(stderr, "progan generate: --seeds: %s\n", err);
        return 2;
    }
    if (grid && count > CLI_MAX_GRID) {
        fprintf(stderr, "progan generate: --grid takes at most %d seeds, got %d\n", CLI_MAX_GRID,
                count);
        free(seeds);
        return 2;
    }
    if (cli_mkdir_p(out_dir)) {
        fprintf(stderr, "progan generate: cannot create the folder %s: %s\n", out_dir,
                strerror(errno));
        free(seeds);
        return 1;
    }
    pg_vk_context *ctx = NULL;
    pg_eval_generator gen = {0};
    generate_job job = {0};
    pg_status st = pg_vk_context_create(device, &ctx);
    if (st == PG_OK) st = pg_eval_generator_create(ctx, snapshot, "Gs", &gen);
    if (st == PG_OK) {
        job = (generate_job){seeds,   pg_model_latent(&gen.config),
                             gen.res, gen.config.channels,
                             1,       (float)psi,
                             out_dir, format,
                             NULL,    0};
        if (grid) {
            job.grid_cols = (int)ceil(sqrt((double)count));
            int rows = (count + job.grid_cols - 1) / job.grid_cols;
            if ((long long)job.grid_cols * gen.res > 65500)
                st = PG_FAIL(PG_ERR_INVALID,
                             "a grid of %d images of %dx%d would be %lld pixels wide; image files "
                             "allow 65500: use at most %d seeds with --grid",
                             count, gen.res, gen.res, (long long)job.grid_cols * gen.res,
                             (65500 / gen.res) * (65500 / gen.res));
            job.grid_width = job.grid_cols * gen.res;
            if (st == PG_OK)
                job.grid = calloc((size_t)job.grid_width * rows * gen.res * job.channels, 1);
            if (st == PG_OK && !job.grid)
                st = PG_FAIL(PG_ERR_OUT_OF_MEMORY, "no memory for the grid");
        }
    }
    if (st == PG_OK)
        st = pg_eval_render(ctx, &gen.config, &gen.set, &gen.params, 0, gen.res, gen.alpha, batch,
                            count, generate_latent, generate_image, &job);
    char grid_path[4200];
    snprintf(grid_path, sizeof grid_path, "%s/grid.%s", out_dir, format);
    if (st == PG_OK && grid) {
        int rows = (count + job.grid_cols - 1) / job.grid_cols;
        pg_image img = {job.grid, job.grid_width, rows * gen.res, job.channels};
        st = pg_image_write(grid_path, &img, 95);
        if (st == PG_OK)
            printf("wrote %s: %d images of %dx%d in %d x %d cells\n", grid_path, count, gen.res,
                   gen.res, rows, job.grid_cols);
    } else if (st == PG_OK) {
        printf("wrote %d image(s) of %dx%d to %s/ (seed%04llu.%s", count, gen.res, gen.res, out_dir,
               (unsigned long long)seeds[0], format);
        if (count > 1) printf(" .. seed%04llu.%s", (unsigned long long)seeds[count - 1], format);
        printf(")\n");
    }
    free(job.grid);
    free(seeds);
    pg_eval_generator_destroy(&gen);
    if (ctx) pg_vk_context_destroy(ctx);
    if (st != PG_OK) {
        fprintf(stderr, "progan generate: %s\n", pg_error_message());
        return 1;
    }
    return 0;
}
