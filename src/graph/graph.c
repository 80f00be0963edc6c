/* The graph builder, its shape helpers and reverse-mode autodiff. The VJP rules
 * themselves live with their ops (op_*.c) and only call constructors. */
#include "graph/ops.h"

#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

pg_graph *pg_graph_create(void) {
    pg_graph *g = calloc(1, sizeof *g);
    return g;
}

void pg_graph_destroy(pg_graph *g) {
    if (!g) return;
    free(g->nodes);
    free(g);
}

pg_tensor pg_graph_fail(pg_graph *g, const char *file, int line, const char *fmt, ...) {
    if (g->error == PG_OK) {
        char text[900];
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(text, sizeof text, fmt, ap);
        va_end(ap);
        const char *base = strrchr(file, '/');
        snprintf(g->error_message, sizeof g->error_message, "%s (%s:%d)", text,
                 base ? base + 1 : file, line);
        g->error = PG_ERR_INVALID;
    }
    return -1;
}

int pg_shape_equal(const int a[4], const int b[4]) {
    return a[0] == b[0] && a[1] == b[1] && a[2] == b[2] && a[3] == b[3];
}

const char *pg_shape_str(const int s[4]) {
    static _Thread_local char ring[4][64];
    static _Thread_local int next;
    char *buf = ring[next++ & 3];
    snprintf(buf, 64, "[%d,%d,%d,%d]", s[0], s[1], s[2], s[3]);
    return buf;
}

int pg_shape_broadcast(const int a[4], const int b[4], int out[4]) {
    for (int i = 0; i < 4; i++) {
        if (a[i] == b[i] || b[i] == 1)
            out[i] = a[i];
        else if (a[i] == 1)
            out[i] = b[i];
        else
            return 0;
    }
    return 1;
}

long long pg_tensor_numel(const pg_graph *g, pg_tensor t) {
    const int *s = g->nodes[t].shape;
    return (long long)s[0] * s[1] * s[2] * s[3];
}

void pg_tensor_set_name(pg_graph *g, pg_tensor t, const char *name) {
    if (t >= 0) snprintf(g->nodes[t].name, sizeof g->nodes[t].name, "%s", name);
}

pg_tensor pg_node_add(pg_graph *g, pg_op op, int n_inputs, const pg_tensor *inputs,
                      const int shape[4]) {
    if (g->error != PG_OK) return -1;
    if (op < 0 || op >= PG_OP_COUNT || n_inputs < pg_ops[op].arity_min ||
        n_inputs > pg_ops[op].arity_max)
        return PG_GRAPH_FAIL(g,
                             "op %d (%s) given %d inputs; its row in src/graph/ops.c says %d..%d",
                             (int)op, op >= 0 && op < PG_OP_COUNT ? pg_ops[op].name : "?", n_inputs,
                             op >= 0 && op < PG_OP_COUNT ? pg_ops[op].arity_min : 0,
                             op >= 0 && op < PG_OP_COUNT ? pg_ops[op].arity_max : 0);
    for (int i = 0; i < n_inputs; i++)
        if (inputs[i] < 0 || inputs[i] >= g->count)
            return PG_GRAPH_FAIL(g, "%s: input %d is not a tensor", pg_ops[op].name, i);
    for (int i = 0; i < 4; i++)
        if (shape[i] < 1)
            return PG_GRAPH_FAIL(g, "%s: shape %s has an empty axis", pg_ops[op].name,
                                 pg_shape_str(shape));
    /* shape often points into g->nodes (a caller passing an input's shape),
     * which the realloc below may move: copy it first */
    int dims[4];
    memcpy(dims, shape, sizeof dims);
    if (g->count == g->capacity) {
        int cap = g->capacity ? g->capacity * 2 : 256;
        pg_node *nodes = realloc(g->nodes, (size_t)cap * sizeof *nodes);
        if (!nodes) return PG_GRAPH_FAIL(g, "out of host memory building the graph");
        g->nodes = nodes;
        g->capacity = cap;
    }
    pg_node *n = &g->nodes[g->count];
    memset(n, 0, sizeof *n);
    n->op = op;
    n->n_inputs = n_inputs;
    for (int i = 0; i < n_inputs; i++) n->inputs[i] = inputs[i];
    memcpy(n->shape, dims, sizeof n->shape);
    snprintf(n->name, sizeof n->name, "%s", pg_ops[op].name);
    return g->count++;
}

pg_tensor pg_input(pg_graph *g, const char *name, int n, int h, int w, int c) {
    int shape[4] = {n, h, w, c};
    pg_tensor t = pg_node_add(g, PG_OP_INPUT, 0, NULL, shape);
    pg_tensor_set_name(g, t, name);
    return t;
}

pg_tensor pg_external(pg_graph *g, const char *name, const int shape[4], pg_vk_range storage) {
    uint64_t bytes = 4ull * shape[0] * shape[1] * shape[2] * shape[3];
    if (storage.size < bytes || !storage.buffer)
        return PG_GRAPH_FAIL(g, "external %s: %llu bytes given for shape %s", name,
                             (unsigned long long)storage.size, pg_shape_str(shape));
    pg_tensor t = pg_node_add(g, PG_OP_EXTERNAL, 0, NULL, shape);
    if (t < 0) return t;
    g->nodes[t].storage = storage;
    pg_tensor_set_name(g, t, name);
    return t;
}

/* Adds g's gradient contribution dx to acc[i], summing when one exists. */
static void grad_accumulate(pg_graph *g, pg_tensor *acc, int i, pg_tensor dx) {
    if (dx < 0) return;
    acc[i] = acc[i] < 0 ? dx : pg_add(g, acc[i], dx);
}

pg_status pg_grad(pg_graph *g, pg_tensor y, pg_tensor dy, int n, const pg_tensor *xs,
                  pg_tensor *dxs) {
    if (g->error != PG_OK) return PG_FAIL(g->error, "%s", g->error_message);
    int count = g->count; /* nodes added below are not revisited */
    if (y < 0 || y >= count) return PG_FAIL(PG_ERR_INVALID, "pg_grad: y is not a tensor");
    if (dy < 0) {
        if (pg_tensor_numel(g, y) != 1)
            return PG_FAIL(PG_ERR_INVALID, "pg_grad: y %s is not a scalar and no dy was given",
                           pg_shape_str(g->nodes[y].shape));
        dy = pg_fill(g, g->nodes[y].shape, 1.0f);
    } else if (!pg_shape_equal(g->nodes[dy].shape, g->nodes[y].shape)) {
        return PG_FAIL(PG_ERR_INVALID, "pg_grad: dy %s does not match y %s",
                       pg_shape_str(g->nodes[dy].shape), pg_shape_str(g->nodes[y].shape));
    }
    /* relevant[i]: node i depends on some x (only those need a gradient). */
    char *relevant = calloc((size_t)count, 1);
    pg_tensor *acc = malloc((size_t)count * sizeof *acc);
    if (!relevant || !acc) {
        free(relevant);
        free(acc);
        return PG_FAIL(PG_ERR_OUT_OF_MEMORY, "out of host memory in pg_grad");
    }
    for (int i = 0; i < n; i++)
        if (xs[i] >= 0 && xs[i] < count) relevant[xs[i]] = 1;
    for (int i = 0; i < count; i++) {
        acc[i] = -1;
        for (int k = 0; k < g->nodes[i].n_inputs && !relevant[i]; k++)
            relevant[i] = relevant[g->nodes[i].inputs[k]];
    }
    acc[y] = dy;
    for (int i = y; i >= 0 && g->error == PG_OK; i--) {
        if (acc[i] < 0 || !relevant[i] || (pg_ops[g->nodes[i].op].flags & PG_ROW_LEAF)) continue;
        int needs[PG_MAX_INPUTS] = {0}, any = 0;
        for (int k = 0; k < g->nodes[i].n_inputs; k++)
            any |= needs[k] = relevant[g->nodes[i].inputs[k]];
        if (!any) continue;
        pg_tensor dx[PG_MAX_INPUTS];
        for (int k = 0; k < PG_MAX_INPUTS; k++) dx[k] = -1;
        pg_ops[g->nodes[i].op].vjp(g, i, acc[i], needs, dx);
        for (int k = 0; k < g->nodes[i].n_inputs; k++)
            if (needs[k]) grad_accumulate(g, acc, g->nodes[i].inputs[k], dx[k]);
    }
    for (int i = 0; i < n; i++) dxs[i] = (xs[i] >= 0 && xs[i] < count) ? acc[xs[i]] : -1;
    free(relevant);
    free(acc);
    if (g->error != PG_OK) return PG_FAIL(g->error, "%s", g->error_message);
    return PG_OK;
}

void pg_dispatch_init(pg_dispatch *d, pg_shader_id shader, int n_bindings) {
    memset(d, 0, sizeof *d);
    d->key.shader = shader;
    d->key.binding_count = (uint32_t)n_bindings;
    d->n_bindings = n_bindings;
    d->groups[1] = d->groups[2] = 1;
    d->n_passes = 1;
}

int pg_texel_loads(const pg_vk_info *info, uint64_t texels) {
    const char *v = getenv("PROGAN_TEXEL");
    int wanted = v && *v ? strcmp(v, "0") != 0 : info->type == VK_PHYSICAL_DEVICE_TYPE_CPU;
    return wanted && pg_texel_fits(info, texels);
}

int pg_texel_fits(const pg_vk_info *info, uint64_t texels) {
    return texels <= info->max_texel_elements &&
           info->min_texel_alignment <= info->min_storage_alignment;
}

void pg_dispatch_lanes(const pg_vk_info *info, pg_dispatch *d, uint32_t wg, uint64_t lanes) {
    d->key.spec[PG_SPEC_WG] = wg;
    if (d->key.spec_count <= PG_SPEC_WG) d->key.spec_count = PG_SPEC_WG + 1;
    pg_dispatch_grid(info, (lanes + wg - 1) / wg, d->groups);
}

/* A divisor fixed for a dispatch, as the pair that turns n / d into a
 * multiply-high in the shader (pg_fastdiv in shaders/common.glsl): lavapipe
 * runs an integer division lane by lane, a multiply as one vector op. The
 * Granlund-Montgomery form (as ggml-vulkan's fastdiv): L = ceil(log2 d),
 * magic = 2^32 (2^L - d) / d + 1; exact for n, d < 2^31 (test_graph checks). */
void pg_fastdiv_magic(uint32_t d, uint32_t magic[2]) {
    if (d == 0) d = 1;
    uint32_t shift = 0;
    while (shift < 31 && (1u << shift) < d) shift++;
    magic[0] = (uint32_t)((((uint64_t)1 << shift) - d) * ((uint64_t)1 << 32) / d + 1);
    magic[1] = shift;
}

uint32_t pg_fastdiv(uint32_t n, const uint32_t magic[2]) {
    uint32_t hi = (uint32_t)(((uint64_t)n * magic[0]) >> 32);
    return (hi + n) >> magic[1];
}

void pg_dispatch_grid(const pg_vk_info *info, uint64_t count, uint32_t groups[3]) {
    uint64_t max_x = info->max_workgroup_count[0] ? info->max_workgroup_count[0] : 65535;
    uint64_t max_y = info->max_workgroup_count[1] ? info->max_workgroup_count[1] : 65535;
    if (count == 0) count = 1;
    groups[0] = (uint32_t)(count < max_x ? count : max_x);
    uint64_t rows = (count + groups[0] - 1) / groups[0];
    groups[1] = (uint32_t)(rows < max_y ? rows : max_y);
    groups[2] = (uint32_t)((rows + groups[1] - 1) / groups[1]); /* plan.c checks its limit */
}
