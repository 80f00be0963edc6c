/* Lean plans (pg_plan_config.lean): an order of the nodes that keeps few bytes
 * alive, for steps that do not fit a device's memory otherwise. The planner's
 * default levels run independent passes side by side (fewest barriers); here
 * the passes of a WGAN-GP step (reals, fakes, mixed samples and the penalty's
 * double backward) run one after another, each freeing its activations before
 * the next allocates, the penalty's first (pg_plan_config.first); cheap
 * outputs are computed again for their backward readers instead of kept
 * (pg_lean_recompute). Every node computes the same values from the same
 * inputs: a lean plan's values are bitwise the default plan's. Calls only the
 * op table. */
#include "graph/ops.h"

#include <stdint.h>
#include <stdlib.h>

typedef struct {
    const pg_node *nodes;
    const int *root;
    const char *keep;   /* per root: alive to the end (outputs) */
    char *early;        /* per node: goes before the others (pg_plan_config.first) */
    int *left;          /* per root: reads not yet scheduled */
    int *pending;       /* per node: computed inputs not yet scheduled */
    int *first, *users; /* readers of node i: users[first[i] .. first[i + 1]) */
    const int *gate;    /* per node: a recomputed copy waits for this reader's other inputs */
} lean_ctx;

#define MAX_DEPS (4 * PG_MAX_INPUTS)

/* What node i waits for: its inputs and, for a recomputed copy (see
 * pg_lean_recompute), the other inputs of the reader it is made for (through
 * copies made for copies), so that it runs just before that reader. */
static int deps_of(const lean_ctx *c, int i, int *deps) {
    int n = 0, from = i;
    for (int k = 0; k < c->nodes[i].n_inputs; k++) deps[n++] = c->nodes[i].inputs[k];
    for (int r = c->gate ? c->gate[i] : -1; r >= 0 && n + PG_MAX_INPUTS <= MAX_DEPS;
         from = r, r = c->gate[r])
        for (int k = 0; k < c->nodes[r].n_inputs; k++)
            if (c->nodes[r].inputs[k] != from) deps[n++] = c->nodes[r].inputs[k];
    return n;
}

/* Bytes of a node's own arena block (0 for views, leaves and side effects). */
static int64_t own_bytes(const lean_ctx *c, int i) {
    const pg_node *n = &c->nodes[i];
    if (c->root[i] != i || n->op == PG_OP_EXTERNAL || n->op == PG_OP_INPUT || n->side_effect)
        return 0;
    return 4ll * n->shape[0] * n->shape[1] * n->shape[2] * n->shape[3];
}

static int is_leaf(const pg_node *n) {
    return n->op == PG_OP_INPUT || n->op == PG_OP_EXTERNAL;
}

/* Bytes alive after node i runs less before: what it allocates less the roots
 * it reads for the last time; a view (no kernel, no bytes) goes first. */
static int64_t lean_score(const lean_ctx *c, int i) {
    const pg_node *n = &c->nodes[i];
    if (pg_ops[n->op].flags & PG_ROW_VIEW) return INT64_MIN;
    int64_t score = own_bytes(c, i);
    for (int k = 0; k < n->n_inputs; k++) {
        int r = c->root[n->inputs[k]], reads = 0, seen = 0;
        for (int j = 0; j < n->n_inputs; j++) {
            reads += c->root[n->inputs[j]] == r;
            seen += j < k && c->root[n->inputs[j]] == r;
        }
        if (!seen && !c->keep[r] && c->left[r] == reads) score -= own_bytes(c, r);
    }
    return score;
}

/* Readers of every node as one array (CSR), with the waits of recomputed
 * copies; counts reads per root and unscheduled computed dependencies per node. */
static int lean_index(lean_ctx *c, int n, const char *needed) {
    int deps[MAX_DEPS];
    c->left = calloc((size_t)n + 1, sizeof *c->left);
    c->pending = calloc((size_t)n + 1, sizeof *c->pending);
    c->first = calloc((size_t)n + 2, sizeof *c->first);
    if (!c->left || !c->pending || !c->first) return 0;
    for (int i = 0; i < n; i++) {
        for (int k = 0; needed[i] && k < c->nodes[i].n_inputs; k++)
            c->left[c->root[c->nodes[i].inputs[k]]]++;
        for (int k = 0, m = needed[i] ? deps_of(c, i, deps) : 0; k < m; k++) {
            c->first[deps[k] + 2]++;
            c->pending[i] += !is_leaf(&c->nodes[deps[k]]);
        }
    }
    for (int i = 0; i < n; i++) c->first[i + 2] += c->first[i + 1];
    c->users = malloc(((size_t)c->first[n + 1] + 1) * sizeof *c->users);
    if (!c->users) return 0;
    for (int i = 0; i < n; i++)
        for (int k = 0, m = needed[i] ? deps_of(c, i, deps) : 0; k < m; k++)
            c->users[c->first[deps[k] + 1]++] = i;
    return 1;
}

/* The nodes that depend on input `first` and those that its first readers
 * (through views) need: a WGAN-GP D step's mixed samples, whose penalty's
 * double backward, the step's peak, then runs while no weight gradient of the
 * other passes waits for its sum. Inputs precede their readers: one pass each
 * way marks them. */
static void early_mark(const pg_node *nodes, int n, const char *needed, int first, char *early) {
    char *below = calloc((size_t)n + 1, 1), *reader = calloc((size_t)n + 1, 1);
    if (below && reader && first >= 0 && first < n) {
        below[first] = reader[first] = 2; /* 2: first or a view of it */
        for (int i = first + 1; i < n; i++)
            for (int k = 0; needed[i] && k < nodes[i].n_inputs; k++) {
                int in = nodes[i].inputs[k];
                if (!below[in]) continue;
                below[i] = early[i] = 1;
                if (reader[in] == 2) reader[i] = pg_ops[nodes[i].op].flags & PG_ROW_VIEW ? 2 : 1;
            }
        for (int i = n - 1; i >= 0; i--) /* what the first readers need */
            for (int k = 0; (reader[i] == 1 || (early[i] && !below[i])) && k < nodes[i].n_inputs;
                 k++)
                early[nodes[i].inputs[k]] = 1;
    }
    free(below), free(reader);
}

int pg_levels_lean(const pg_node *nodes, int n, const int *root, const char *needed,
                   const pg_tensor *outputs, int n_outputs, int first, const int *gate,
                   int *level) {
    char *keep = calloc((size_t)n + 1, 1); /* outputs' bytes are never freed */
    lean_ctx c = {.nodes = nodes, .root = root, .keep = keep, .gate = gate};
    c.early = calloc((size_t)n + 1, 1);
    if (c.early) early_mark(nodes, n, needed, first, c.early);
    int *ready = malloc(((size_t)n + 1) * sizeof *ready), n_ready = 0, top = 0, floor = 0;
    if (!keep || !ready || !c.early || !lean_index(&c, n, needed)) top = -1;
    for (int i = 0; top == 0 && i < n_outputs; i++) keep[root[outputs[i]]] = 1;
    for (int i = 0; i < n; i++) level[i] = -1;
    for (int i = 0; top == 0 && i < n; i++) {
        if (!needed[i] || nodes[i].side_effect) continue;
        if (is_leaf(&nodes[i]))
            level[i] = 0;
        else if (!c.pending[i])
            ready[n_ready++] = i;
    }
    while (top >= 0 && n_ready) {
        int best = 0, best_late = 2;
        int64_t best_score = INT64_MAX;
        for (int r = 0; r < n_ready && best_score > INT64_MIN; r++) {
            int64_t score = lean_score(&c, ready[r]);
            int late = score > INT64_MIN && !c.early[ready[r]]; /* views: any time */
            if (late < best_late || (late == best_late && score < best_score) ||
                (late == best_late && score == best_score && ready[r] < ready[best]))
                best_late = late, best_score = score, best = r;
        }
        int i = ready[best], at = 0;
        ready[best] = ready[--n_ready];
        for (int k = 0; k < nodes[i].n_inputs; k++) {
            at = PG_MAX(at, level[nodes[i].inputs[k]]);
            c.left[root[nodes[i].inputs[k]]]--;
        }
        if (!(pg_ops[nodes[i].op].flags & PG_ROW_VIEW)) at = floor = PG_MAX(at + 1, floor);
        level[i] = at;
        top = PG_MAX(top, at);
        for (int u = c.first[i]; u < c.first[i + 1]; u++)
            if (!nodes[c.users[u]].side_effect && --c.pending[c.users[u]] == 0)
                ready[n_ready++] = c.users[u];
    }
    for (int i = 0; top >= 0 && i < n; i++) /* every needed node was reached */
        if (needed[i] && !nodes[i].side_effect && level[i] < 0) top = -1;
    free(keep), free(c.early), free(ready), free(c.left), free(c.pending), free(c.first),
        free(c.users);
    return top;
}

static int by_size(const void *a, const void *b) {
    const pg_place_block *x = *(pg_place_block *const *)a, *y = *(pg_place_block *const *)b;
    if (x->size != y->size) return x->size < y->size ? 1 : -1;
    return (x->start > y->start) - (x->start < y->start);
}

static int by_offset(const void *a, const void *b) {
    const pg_place_block *x = *(pg_place_block *const *)a, *y = *(pg_place_block *const *)b;
    return (x->offset > y->offset) - (x->offset < y->offset);
}

/* The lowest offset from which size bytes are free of every block in near
 * (sorted by offset) and do not straddle a multiple of chunk. */
static uint64_t lowest_gap(pg_place_block **near, int n, uint64_t size, uint64_t chunk) {
    uint64_t at = 0;
    for (int pos = 0;;) {
        if (at / chunk != (at + size - 1) / chunk) at = (at / chunk + 1) * chunk;
        while (pos < n && near[pos]->offset + near[pos]->size <= at) pos++;
        if (pos == n || near[pos]->offset >= at + size) return at;
        at = near[pos]->offset + near[pos]->size;
    }
}

uint64_t pg_place_by_size(pg_place_block *blocks, int n, uint64_t chunk) {
    pg_place_block **order = malloc(((size_t)n + 1) * sizeof *order);
    pg_place_block **near = malloc(((size_t)n + 1) * sizeof *near);
    uint64_t end = 0;
    if (!order || !near) {
        free(order), free(near);
        return UINT64_MAX;
    }
    for (int k = 0; k < n; k++) order[k] = &blocks[k];
    qsort(order, (size_t)n, sizeof *order, by_size);
    for (int k = 0; k < n; k++) {
        pg_place_block *b = order[k];
        int m = 0;
        for (int j = 0; j < k; j++)
            if (order[j]->start <= b->last && b->start <= order[j]->last) near[m++] = order[j];
        qsort(near, (size_t)m, sizeof *near, by_offset);
        b->offset = lowest_gap(near, m, b->size, chunk);
        end = PG_MAX(end, b->offset + b->size);
    }
    free(order), free(near);
    return end;
}

/* Ops cheap enough to run again (one read and one write per element) rather
 * than keep their output alive from the forward pass to the backward pass. */
static const pg_op recomputed[] = {PG_OP_UPSAMPLE2X, PG_OP_AVGPOOL2X, PG_OP_PIXEL_NORM};

static int is_recomputed(pg_op op) {
    for (size_t k = 0; k < sizeof recomputed / sizeof recomputed[0]; k++)
        if (recomputed[k] == op) return 1;
    return 0;
}

static int64_t node_bytes(const pg_node *nd) {
    return 4ll * nd->shape[0] * nd->shape[1] * nd->shape[2] * nd->shape[3];
}

/* Readers (needed, each once, in order) of node x; returns their number. */
static int readers_of(const pg_node *nodes, int n, const char *needed, int x, int *out, int cap) {
    int m = 0;
    for (int i = x + 1; i < n && m < cap; i++)
        for (int k = 0; needed[i] && k < nodes[i].n_inputs; k++)
            if (nodes[i].inputs[k] == x) {
                out[m++] = i;
                break;
            }
    return m;
}

/* Whether copies of x pay: its bytes exceed those of the computed inputs that
 * only x reads (a copy keeps them alive instead). */
static int copy_pays(const pg_node *nodes, int n, const char *needed, int x) {
    int64_t kept = 0;
    int rd[2];
    for (int k = 0; k < nodes[x].n_inputs; k++) {
        int in = nodes[x].inputs[k];
        if (!is_leaf(&nodes[in]) && readers_of(nodes, n, needed, in, rd, 2) < 2)
            kept += node_bytes(&nodes[in]);
    }
    return node_bytes(&nodes[x]) > kept;
}

int pg_lean_recompute(pg_node *nodes, int n, int cap, char *needed, const pg_tensor *outputs,
                      int n_outputs, int *gate) {
    int rd[64];
    for (int i = 0; i < cap; i++) gate[i] = -1;
    for (int x = n - 1; x >= 0; x--) {
        int is_output = 0;
        for (int k = 0; k < n_outputs; k++) is_output |= outputs[k] == x;
        if (!needed[x] || is_output || !is_recomputed(nodes[x].op) ||
            !copy_pays(nodes, n, needed, x))
            continue;
        int m = readers_of(nodes, n, needed, x, rd, 64);
        for (int j = 1; j < m && n < cap; j++) { /* the first reader keeps x */
            if (pg_ops[nodes[rd[j]].op].flags & PG_ROW_VIEW) continue;
            nodes[n] = nodes[x];
            needed[n] = 1, gate[n] = rd[j];
            for (int k = 0; k < nodes[rd[j]].n_inputs; k++)
                if (nodes[rd[j]].inputs[k] == x) nodes[rd[j]].inputs[k] = n;
            n++;
        }
    }
    return n;
}
