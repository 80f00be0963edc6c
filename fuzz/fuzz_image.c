/* Fuzzes image ingestion (scraped images): content sniffing, JPEG through
 * TurboJPEG, PNG through libpng, EXIF orientation, colour conversion, crop and
 * resize, as `progan prepare` does per file, plus the plain image reader. The
 * first byte picks crop mode, channels and upscaling; the rest is the file. */
#include "data/ingest.h"
#include "fuzz_util.h"
#include "io/image.h"

enum { R = 16 };

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    static pg_ingest_worker *w;
    static uint8_t out[R * R * 3];
    fuzz_quiet();
    if (size < 1 || (!w && pg_ingest_worker_create(&w) != PG_OK)) return 0;
    pg_ingest_params p = {R, data[0] & 1 ? 1 : 3, (data[0] >> 1) % 3, (data[0] >> 3) & 1, 1 << 22};
    data++, size--;
    pg_ingest_exif_orientation(data, size);
    const char *path = fuzz_file(data, size, ".jpg");
    if (!path) return 0;
    pg_ingest_result res;
    pg_ingest_load_square(w, path, &p, out, &res);
    pg_image img = {0};
    if (size < (1u << 16) && pg_image_read(path, &img) == PG_OK) pg_image_free(&img);
    return 0;
}
