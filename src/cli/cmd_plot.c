/* progan plot RUN: draws RUN/stats.jsonl (one JSON object per tick, values a
 * number or a stylegan2-ada {"num","mean","std"} object) into a self-contained
 * RUN/curves.svg: losses, score gap, gradient norm and sec/kimg against kimg,
 * with the resolution phases shaded. Calls src/io (atomic file) and cJSON. */
#include "cli/commands.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/base.h"
#include "io/atomic_file.h"

enum { COL_KIMG, COL_RES, COL_ALPHA, COL_LOSS_D, COL_LOSS_G, COL_GAP, COL_GRAD, COL_SPK, COL_N };

typedef struct {
    double (*v)[COL_N]; /* rows of columns, NaN where a key is missing */
    size_t n, cap;
} stats_table;

typedef struct {
    int col;
    const char *label, *color;
} series;

typedef struct {
    const char *title;
    series lines[2];
    int n_lines;
} panel;

static const panel panels[] = {
    {"losses", {{COL_LOSS_D, "Loss/D/loss", "#d62728"}, {COL_LOSS_G, "Loss/G/loss", "#1f77b4"}}, 2},
    {"score gap (real - fake)", {{COL_GAP, "Loss/scores/real - Loss/scores/fake", "#2ca02c"}}, 1},
    {"gradient norm", {{COL_GRAD, "Loss/D/grad_norm", "#9467bd"}}, 1},
    {"sec/kimg", {{COL_SPK, "Timing/sec_per_kimg", "#8c564b"}}, 1},
};

enum { SVG_W = 960, PANEL_H = 210, PLOT_H = 150, LEFT = 72, RIGHT = 24, TOP = 40 };

static void usage(FILE *out) {
    fprintf(out, "usage: progan plot RUN [--out FILE]\n\n"
                 "Reads RUN/stats.jsonl and writes RUN/curves.svg: the D and G losses, the\n"
                 "score gap (real - fake), the D gradient norm and sec/kimg against kimg,\n"
                 "with each resolution phase shaded (lighter while fading in).\n\n"
                 "  --out FILE   write the SVG here instead of RUN/curves.svg\n"
                 "  --help       show this help\n");
}

/* A number, or the "mean" of a {"num","mean","std"} object; NaN otherwise. */
static double stat_value(const cJSON *root, const char *key) {
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(root, key);
    if (cJSON_IsObject(v)) v = cJSON_GetObjectItemCaseSensitive(v, "mean");
    return cJSON_IsNumber(v) && isfinite(v->valuedouble) ? v->valuedouble : NAN;
}

static int table_add(stats_table *t, const cJSON *root) {
    if (t->n == t->cap) {
        size_t cap = t->cap ? t->cap * 2 : 256;
        void *v = realloc(t->v, cap * sizeof *t->v);
        if (!v) return 0;
        t->v = v;
        t->cap = cap;
    }
    double *row = t->v[t->n];
    row[COL_KIMG] = stat_value(root, "Progress/kimg");
    if (isnan(row[COL_KIMG])) return 1; /* no x: nothing to draw */
    row[COL_RES] = stat_value(root, "Progress/resolution");
    row[COL_ALPHA] = stat_value(root, "Progress/alpha");
    row[COL_LOSS_D] = stat_value(root, "Loss/D/loss");
    row[COL_LOSS_G] = stat_value(root, "Loss/G/loss");
    row[COL_GAP] = stat_value(root, "Loss/scores/real") - stat_value(root, "Loss/scores/fake");
    row[COL_GRAD] = stat_value(root, "Loss/D/grad_norm");
    row[COL_SPK] = stat_value(root, "Timing/sec_per_kimg");
    t->n++;
    return 1;
}

/* A torn last line is what a live run looks like, so only that one is forgiven. */
static int read_stats(const char *path, stats_table *t) {
    FILE *f = fopen(path, "r");
    if (!f) {
        fprintf(stderr, "progan plot: cannot open %s: %s (is it a run folder with ticks?)\n", path,
                strerror(errno));
        return 0;
    }
    char *line = NULL;
    size_t cap = 0, line_no = 0;
    ssize_t len;
    int ok = 1;
    while (ok && (len = getline(&line, &cap, f)) >= 0) {
        line_no++;
        int complete = len > 0 && line[len - 1] == '\n';
        char *p = line;
        while (*p == ' ' || *p == '\t' || *p == '\r' || *p == '\n') p++;
        if (!*p) continue;
        cJSON *root = cJSON_Parse(p);
        if (!cJSON_IsObject(root)) {
            if (!complete) {
                fprintf(stderr, "progan plot: warning: ignoring the partial last line %zu of %s\n",
                        line_no, path);
            } else {
                fprintf(stderr, "progan plot: %s line %zu is not a JSON object\n", path, line_no);
                ok = 0;
            }
        } else if (!table_add(t, root)) {
            fprintf(stderr, "progan plot: out of memory reading %s\n", path);
            ok = 0;
        }
        cJSON_Delete(root);
    }
    free(line);
    fclose(f);
    if (ok && t->n == 0) {
        fprintf(stderr, "progan plot: %s has no ticks with \"Progress/kimg\" (empty file?)\n",
                path);
        ok = 0;
    }
    return ok;
}

static void xml_text(FILE *out, const char *s) {
    for (; *s; s++) {
        if (*s == '&')
            fputs("&amp;", out);
        else if (*s == '<')
            fputs("&lt;", out);
        else if (*s == '>')
            fputs("&gt;", out);
        else if (*s == '"')
            fputs("&quot;", out);
        else
            fputc(*s, out);
    }
}

/* A 1-2-5 step giving about five ticks over [lo, hi]. */
static double nice_step(double lo, double hi) {
    double raw = (hi - lo) / 5, mag = pow(10, floor(log10(raw))), f = raw / mag;
    return mag * (f < 1.5 ? 1 : f < 3.5 ? 2 : f < 7.5 ? 5 : 10);
}

typedef struct {
    double x0, x1, y0, y1; /* data range */
    double top;            /* pixel y of the plot's top edge */
} frame;

static double px(const frame *f, double x) {
    return LEFT + (x - f->x0) / (f->x1 - f->x0) * (SVG_W - LEFT - RIGHT);
}
static double py(const frame *f, double y) {
    return f->top + PLOT_H - (y - f->y0) / (f->y1 - f->y0) * PLOT_H;
}

/* Resolution phases: merged runs of ticks with one resolution and fade state;
 * tick i covers (kimg[i-1], kimg[i]]. */
static void draw_phases(FILE *out, const stats_table *t, const frame *f, int labels) {
    static const char *colors[] = {"#4e79a7", "#f28e2b", "#59a14f", "#e15759", "#b07aa1"};
    size_t i = 0;
    while (i < t->n) {
        double res = t->v[i][COL_RES];
        int fading = t->v[i][COL_ALPHA] < 1.0;
        size_t j = i;
        while (j + 1 < t->n && t->v[j + 1][COL_RES] == res &&
               (t->v[j + 1][COL_ALPHA] < 1.0) == fading)
            j++;
        if (!isnan(res) && res > 0) {
            double a = i ? t->v[i - 1][COL_KIMG] : t->v[i][COL_KIMG], b = t->v[j][COL_KIMG];
            int color = (int)lround(log2(res)) % (int)PG_ARRAY_LEN(colors);
            fprintf(out,
                    "<rect x=\"%.2f\" y=\"%.2f\" width=\"%.2f\" height=\"%d\" fill=\"%s\" "
                    "fill-opacity=\"%s\"><title>%gx%g%s</title></rect>\n",
                    px(f, a), f->top, px(f, b) - px(f, a), PLOT_H, colors[color],
                    fading ? "0.07" : "0.18", res, res, fading ? " (fading in)" : "");
            int first_of_res = i == 0 || t->v[i - 1][COL_RES] != res;
            if (labels && first_of_res)
                fprintf(out,
                        "<text x=\"%.2f\" y=\"%.2f\" font-size=\"10\" fill=\"#555\">%gx%g</text>\n",
                        px(f, a) + 2, f->top + 11, res, res);
        }
        i = j + 1;
    }
}

static void draw_line(FILE *out, const stats_table *t, const frame *f, int col, const char *color) {
    int open = 0;
    for (size_t i = 0; i < t->n; i++) {
        double y = t->v[i][col];
        if (isnan(y)) {
            if (open) fputs("\"/>\n", out);
            open = 0;
            continue;
        }
        if (!open)
            fprintf(out, "<polyline fill=\"none\" stroke=\"%s\" stroke-width=\"1.3\" points=\"",
                    color);
        fprintf(out, "%s%.2f,%.2f", open ? " " : "", px(f, t->v[i][COL_KIMG]), py(f, y));
        open = 1;
    }
    if (open) fputs("\"/>\n", out);
}

/* Returns 1 if the panel had data and was drawn at *top (then advanced). */
static int draw_panel(FILE *out, const stats_table *t, const panel *p, double x0, double x1,
                      double *top) {
    double lo = INFINITY, hi = -INFINITY;
    for (int s = 0; s < p->n_lines; s++)
        for (size_t i = 0; i < t->n; i++) {
            double v = t->v[i][p->lines[s].col];
            if (!isnan(v)) lo = fmin(lo, v), hi = fmax(hi, v);
        }
    if (lo > hi) return 0;
    double pad = hi > lo ? 0.05 * (hi - lo) : fmax(fabs(lo) * 0.1, 0.5);
    frame f = {x0, x1, lo - pad, hi + pad, *top};
    fprintf(out, "<g>\n<text x=\"%d\" y=\"%.2f\" font-size=\"13\" font-weight=\"bold\">%s</text>\n",
            LEFT, f.top - 8, p->title);
    double lx = LEFT + 200;
    for (int s = 0; s < p->n_lines; s++) {
        fprintf(out,
                "<rect x=\"%.2f\" y=\"%.2f\" width=\"14\" height=\"3\" fill=\"%s\"/>"
                "<text x=\"%.2f\" y=\"%.2f\" font-size=\"11\">",
                lx, f.top - 14, p->lines[s].color, lx + 18, f.top - 9);
        xml_text(out, p->lines[s].label);
        fputs("</text>\n", out);
        lx += 30 + 6.5 * strlen(p->lines[s].label);
    }
    draw_phases(out, t, &f, *top == TOP);
    fprintf(
        out,
        "<rect x=\"%d\" y=\"%.2f\" width=\"%d\" height=\"%d\" fill=\"none\" stroke=\"#333\"/>\n",
        LEFT, f.top, SVG_W - LEFT - RIGHT, PLOT_H);
    double step = nice_step(f.y0, f.y1);
    for (double v = ceil(f.y0 / step) * step; v <= f.y1; v += step) {
        double y = py(&f, fabs(v) < 1e-12 * step ? 0 : v);
        fprintf(out,
                "<line x1=\"%d\" x2=\"%d\" y1=\"%.2f\" y2=\"%.2f\" stroke=\"#ddd\"/>"
                "<text x=\"%d\" y=\"%.2f\" font-size=\"10\" text-anchor=\"end\">%.4g</text>\n",
                LEFT, SVG_W - RIGHT, y, y, LEFT - 4, y + 3, fabs(v) < 1e-12 * step ? 0 : v);
    }
    step = nice_step(f.x0, f.x1);
    for (double v = ceil(f.x0 / step) * step; v <= f.x1; v += step)
        fprintf(out,
                "<text x=\"%.2f\" y=\"%.2f\" font-size=\"10\" text-anchor=\"middle\">%.4g</text>\n",
                px(&f, v), f.top + PLOT_H + 13, v);
    for (int s = 0; s < p->n_lines; s++) draw_line(out, t, &f, p->lines[s].col, p->lines[s].color);
    fprintf(out, "</g>\n");
    *top += PANEL_H;
    return 1;
}

static int write_svg(const char *path, const char *run, const stats_table *t) {
    char *buf = NULL;
    size_t size = 0;
    FILE *out = open_memstream(&buf, &size);
    if (!out) {
        fprintf(stderr, "progan plot: out of memory\n");
        return 0;
    }
    double x0 = INFINITY, x1 = -INFINITY;
    for (size_t i = 0; i < t->n; i++)
        x0 = fmin(x0, t->v[i][COL_KIMG]), x1 = fmax(x1, t->v[i][COL_KIMG]);
    if (x1 <= x0) x0 -= 0.5, x1 += 0.5;
    int drawn = 0;
    for (size_t p = 0; p < PG_ARRAY_LEN(panels); p++) {
        double lo = INFINITY;
        for (int s = 0; s < panels[p].n_lines; s++)
            for (size_t i = 0; i < t->n; i++)
                if (!isnan(t->v[i][panels[p].lines[s].col])) lo = 0;
        drawn += lo == 0;
    }
    int height = TOP + PANEL_H * PG_MAX(drawn, 1);
    fprintf(out,
            "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
            "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"%d\" height=\"%d\" "
            "viewBox=\"0 0 %d %d\" font-family=\"sans-serif\">\n"
            "<rect width=\"100%%\" height=\"100%%\" fill=\"white\"/>\n"
            "<text x=\"%d\" y=\"16\" font-size=\"14\">",
            SVG_W, height, SVG_W, height, LEFT);
    xml_text(out, run);
    fprintf(out, ": %zu ticks, %.4g to %.4g kimg</text>\n", t->n, x0, x1);
    double top = TOP;
    for (size_t p = 0; p < PG_ARRAY_LEN(panels); p++) draw_panel(out, t, &panels[p], x0, x1, &top);
    if (!drawn)
        fprintf(out,
                "<text x=\"%d\" y=\"%d\" font-size=\"12\">no loss, score, gradient or timing "
                "keys in stats.jsonl</text>\n",
                LEFT, TOP + 20);
    fprintf(out,
            "<text x=\"%d\" y=\"%d\" font-size=\"11\" text-anchor=\"end\">kimg</text>\n</svg>\n",
            SVG_W - RIGHT, height - 4);
    int failed = ferror(out);
    fclose(out);
    pg_status s = failed ? PG_FAIL(PG_ERR_OUT_OF_MEMORY, "out of memory building the SVG")
                         : pg_atomic_write(path, buf, size);
    free(buf);
    if (s != PG_OK) {
        fprintf(stderr, "progan plot: %s\n", pg_error_message());
        return 0;
    }
    printf("wrote %s (%zu ticks, %d panels)\n", path, t->n, drawn);
    return 1;
}

int cmd_plot(int argc, char **argv) {
    const char *run = NULL, *out_path = NULL;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) {
            usage(stdout);
            return 0;
        } else if (!strcmp(argv[i], "--out")) {
            if (++i >= argc) {
                fprintf(stderr, "progan plot: --out needs a file name\n");
                return 2;
            }
            out_path = argv[i];
        } else if (argv[i][0] == '-' && argv[i][1]) {
            fprintf(stderr, "progan plot: unknown flag '%s'\n\n", argv[i]);
            usage(stderr);
            return 2;
        } else if (run) {
            fprintf(stderr, "progan plot: one run folder only (got '%s' and '%s')\n\n", run,
                    argv[i]);
            usage(stderr);
            return 2;
        } else {
            run = argv[i];
        }
    }
    if (!run) {
        fprintf(stderr, "progan plot: which run? give its folder\n\n");
        usage(stderr);
        return 2;
    }
    char stats_path[4096], svg_path[4096];
    if (snprintf(stats_path, sizeof stats_path, "%s/stats.jsonl", run) >= (int)sizeof stats_path ||
        snprintf(svg_path, sizeof svg_path, "%s/curves.svg", run) >= (int)sizeof svg_path) {
        fprintf(stderr, "progan plot: run folder path too long\n");
        return 1;
    }
    stats_table t = {0};
    int ok = read_stats(stats_path, &t) && write_svg(out_path ? out_path : svg_path, run, &t);
    free(t.v);
    return ok ? 0 : 1;
}
