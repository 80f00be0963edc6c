/* Converts Debian's dataset-fashion-mnist (IDX files, gzip) into a folder of
 * 32x32 grayscale JPEGs (the 28x28 images centred on a black border), the
 * default training data of the README's first command.
 * The folder is reproducible input, so files are written plainly (no fsync).
 * usage: fashion_mnist_to_jpeg OUT_DIR [--limit N] [--src DIR] */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <turbojpeg.h>
#include <zlib.h>

static const char *default_src = "/usr/share/datasets/fashion-mnist";

/* Reads an IDX3 image file: count, then count x 28 x 28 bytes. */
static unsigned char *idx_read(const char *path, int *count) {
    gzFile f = gzopen(path, "rb");
    if (!f) {
        fprintf(stderr, "cannot open %s: %s (apt-get install dataset-fashion-mnist)\n", path,
                strerror(errno));
        return NULL;
    }
    unsigned char head[16];
    unsigned char *pixels = NULL;
    if (gzread(f, head, 16) == 16 && head[2] == 8 && head[3] == 3) {
        int n = head[4] << 24 | head[5] << 16 | head[6] << 8 | head[7];
        int rows = head[8] << 24 | head[9] << 16 | head[10] << 8 | head[11];
        int cols = head[12] << 24 | head[13] << 16 | head[14] << 8 | head[15];
        size_t size = (size_t)n * 28 * 28;
        if (rows == 28 && cols == 28 && n > 0 && (pixels = malloc(size)) &&
            gzread(f, pixels, (unsigned)size) == (int)size)
            *count = n;
        else
            free(pixels), pixels = NULL;
    }
    gzclose(f);
    if (!pixels) fprintf(stderr, "%s is not a 28x28 IDX3 image file\n", path);
    return pixels;
}

/* One grayscale JPEG at quality 95. */
static int jpeg_write(tjhandle tj, const char *path, const unsigned char *pixels) {
    unsigned char *jpeg = NULL;
    unsigned long size = 0;
    if (tjCompress2(tj, pixels, 32, 32, 32, TJPF_GRAY, &jpeg, &size, TJSAMP_GRAY, 95, 0) != 0) {
        fprintf(stderr, "JPEG compression failed: %s\n", tjGetErrorStr2(tj));
        return 0;
    }
    FILE *f = fopen(path, "wb");
    int ok = f && fwrite(jpeg, 1, size, f) == size;
    if (f) ok &= fclose(f) == 0;
    if (!ok) fprintf(stderr, "cannot write %s: %s\n", path, strerror(errno));
    tjFree(jpeg);
    return ok;
}

int main(int argc, char **argv) {
    const char *out = NULL, *src = default_src;
    long limit = -1;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--limit") && i + 1 < argc)
            limit = atol(argv[++i]);
        else if (!strcmp(argv[i], "--src") && i + 1 < argc)
            src = argv[++i];
        else if (argv[i][0] != '-' && !out)
            out = argv[i];
        else {
            fprintf(stderr, "usage: fashion_mnist_to_jpeg OUT_DIR [--limit N] [--src DIR]\n");
            return 2;
        }
    }
    if (!out) {
        fprintf(stderr, "usage: fashion_mnist_to_jpeg OUT_DIR [--limit N] [--src DIR]\n");
        return 2;
    }
    if (mkdir(out, 0755) != 0 && errno != EEXIST) {
        fprintf(stderr, "cannot create %s: %s\n", out, strerror(errno));
        return 1;
    }
    const char *files[2] = {"train-images-idx3-ubyte.gz", "t10k-images-idx3-ubyte.gz"};
    long written = 0;
    tjhandle tj = tjInitCompress();
    for (int k = 0; k < 2 && (limit < 0 || written < limit); k++) {
        char path[4096];
        snprintf(path, sizeof path, "%s/%s", src, files[k]);
        int n = 0;
        unsigned char *pixels = idx_read(path, &n);
        if (!pixels) return 1;
        for (int i = 0; i < n && (limit < 0 || written < limit); i++, written++) {
            unsigned char padded[32 * 32] = {0};
            for (int y = 0; y < 28; y++)
                memcpy(padded + (y + 2) * 32 + 2, pixels + (size_t)i * 784 + y * 28, 28);
            char name[4200];
            snprintf(name, sizeof name, "%s/%05ld.jpg", out, written);
            if (!jpeg_write(tj, name, padded)) {
                free(pixels);
                return 1;
            }
        }
        free(pixels);
    }
    tjDestroy(tj);
    printf("wrote %ld Fashion-MNIST images of 32x32 to %s\n", written, out);
    return 0;
}
