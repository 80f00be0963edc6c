/* Graph rewrites that the planner applies to its own copy of the nodes before
 * planning: fewer dispatches, bitwise the same values. The graph the caller
 * built (and differentiated) is untouched, so the unfused graph stays the
 * reference. Node ids never change: a fused node takes the id of the last node
 * it replaces, and the nodes it absorbed are left unread (the planner skips them).
 *   1. leaky_relu_grad(dy, x) reads y = leaky_relu(x) instead of x (with a
 *      slope >= 0, y > 0 exactly when x > 0), so x need not stay alive.
 *   2. add(p, o) with p a producer (conv family, matmul or reduce_sum, through
 *      one reshape) and o a channel vector (a bias) or a tensor of the sum's
 *      shape (a gradient accumulated) becomes p with an epilogue adding o.
 *   3. leaky_relu(p) becomes p with a leaky ReLU epilogue (after its add).
 *   4. leaky_relu_grad(p, y) becomes p with a gate epilogue reading y.
 * The epilogue runs in the kernel's final store (shaders/epilogue.glsl), or in
 * the reduce pass of a split kernel. A producer is folded only when nothing
 * else reads it, it is not a plan output, and the fused kernel's binding count
 * fits maxPerStageDescriptorStorageBuffers. */
#include "graph/ops.h"

#include <stdlib.h>
#include <string.h>

/* Where each kernel that carries the epilogue takes it: the specialization
 * constant EPI, the push words slope, aux_n and aux_n's pg_fastdiv pair (the
 * next three), the binding of the operand. A new kernel with an epilogue is one row here. */
static const struct {
    pg_shader_id shader;
    int spec, push, binding;
} epilogue_slots[] = {
    {PG_SHADER_CONV2D, 7, 12, 3},         {PG_SHADER_CONV2D_TEXEL, 7, 12, 3},
    {PG_SHADER_CONV2D_GENERAL, 6, 17, 3}, {PG_SHADER_MATMUL, 5, 12, 3},
    {PG_SHADER_GEMM_TILED, 7, 17, 3},     {PG_SHADER_REDUCE, 2, 9, 2},
    {PG_SHADER_REDUCE_TEXEL, 2, 9, 2},    {PG_SHADER_WINOGRAD, 7, 12, 3},
    {PG_SHADER_WINOGRAD_TEXEL, 7, 12, 3},
};
#define N_SLOTS ((int)(sizeof epilogue_slots / sizeof epilogue_slots[0]))

static int slot_of(pg_shader_id shader) {
    for (int i = 0; i < N_SLOTS; i++)
        if (epilogue_slots[i].shader == shader) return i;
    return -1;
}

static int is_producer(pg_op op) {
    return op == PG_OP_CONV2D || op == PG_OP_CONV2D_INPUT_GRAD || op == PG_OP_CONV2D_WEIGHT_GRAD ||
           op == PG_OP_MATMUL || op == PG_OP_REDUCE_SUM;
}

pg_status pg_epilogue_set(const pg_graph *g, pg_tensor t, pg_dispatch *d) {
    const pg_node *n = &g->nodes[t];
    int last = d[0].n_passes - 1;
    for (int pass = 0; pass <= last; pass++) { /* defaults: aux_n 1 (a modulus) */
        int s = slot_of(d[pass].key.shader);
        if (s < 0) continue;
        d[pass].push[epilogue_slots[s].push + 1] = 1;
        pg_fastdiv_magic(1, &d[pass].push[epilogue_slots[s].push + 2]);
    }
    int epi = is_producer(n->op) ? n->iparams[PG_EPI_IPARAM] : 0;
    if (!epi) return PG_OK;
    int s = slot_of(d[last].key.shader);
    if (s < 0)
        return PG_FAIL(PG_ERR_INVALID, "%s: its kernel has no fused epilogue (src/graph/fuse.c)",
                       n->name);
    pg_tensor aux = n->inputs[n->n_inputs - 1];
    float slope = n->fparams[PG_EPI_FPARAM];
    d[last].key.spec[epilogue_slots[s].spec] = (uint32_t)epi;
    memcpy(&d[last].push[epilogue_slots[s].push], &slope, 4);
    uint32_t aux_n = (uint32_t)pg_tensor_numel(g, aux);
    d[last].push[epilogue_slots[s].push + 1] = aux_n;
    pg_fastdiv_magic(aux_n, &d[last].push[epilogue_slots[s].push + 2]);
    d[last].bindings[epilogue_slots[s].binding] = aux;
    return PG_OK;
}

typedef struct {
    pg_graph *g;
    const pg_vk_info *info;
    int *uses;       /* readers among the needed nodes */
    char *is_output; /* plan outputs (and side effects); then `needed` */
} fuse_ctx;

/* Readers of each node among the nodes the outputs (and side effects) need. */
static void count_uses(fuse_ctx *f, const pg_tensor *outputs, int n_outputs) {
    pg_graph *g = f->g;
    char *needed = f->is_output + g->count;
    memset(f->uses, 0, (size_t)g->count * sizeof *f->uses);
    memset(needed, 0, (size_t)g->count);
    for (int i = 0; i < n_outputs; i++) needed[outputs[i]] = 1;
    for (int i = g->count - 1; i >= 0; i--) {
        if (g->nodes[i].side_effect) needed[i] = f->is_output[i] = 1;
        if (!needed[i]) continue;
        for (int k = 0; k < g->nodes[i].n_inputs; k++) {
            needed[g->nodes[i].inputs[k]] = 1;
            f->uses[g->nodes[i].inputs[k]]++;
        }
    }
}

/* 1: every leaky_relu_grad of x reads the needed leaky_relu of x instead. */
static void relu_grad_redirect(fuse_ctx *f) {
    pg_graph *g = f->g;
    const char *needed = f->is_output + g->count;
    for (int l = 0; l < g->count; l++) {
        const pg_node *y = &g->nodes[l];
        if (!needed[l] || y->op != PG_OP_LEAKY_RELU || !(y->fparams[0] >= 0.0f)) continue;
        for (int k = l + 1; k < g->count; k++) {
            pg_node *d = &g->nodes[k];
            if (d->op == PG_OP_LEAKY_RELU_GRAD && d->inputs[1] == y->inputs[0]) d->inputs[1] = l;
        }
    }
}

/* Whether producer c's kernel carries an epilogue with the operand bound. */
static int epilogue_capable(const fuse_ctx *f, int c) {
    pg_dispatch d[2];
    const pg_node *n = &f->g->nodes[c];
    if (pg_ops[n->op].dispatch(f->info, f->g, c, d) != PG_OK) return 0;
    const pg_dispatch *last = &d[d[0].n_passes - 1];
    return slot_of(last->key.shader) >= 0 &&
           (uint32_t)last->n_bindings <= f->info->max_storage_buffers;
}

/* The producer behind operand t of a node of shape `shape` (through one
 * reshape) that nothing else reads and whose epilogue can take stage `epi`, or
 * -1: an add or a gate needs a producer without an epilogue, a leaky ReLU one
 * with at most an add (the epilogue adds first). */
static int producer_of(const fuse_ctx *f, int t, const int shape[4], int epi) {
    const pg_graph *g = f->g;
    if (!pg_shape_equal(g->nodes[t].shape, shape)) return -1;
    if (f->uses[t] != 1 || f->is_output[t]) return -1;
    if (g->nodes[t].op == PG_OP_RESHAPE) {
        t = g->nodes[t].inputs[0];
        if (f->uses[t] != 1 || f->is_output[t]) return -1;
    }
    const pg_node *n = &g->nodes[t];
    if (!is_producer(n->op)) return -1;
    int has = n->iparams[PG_EPI_IPARAM];
    if (has) return epi == PG_EPI_LRELU && has == PG_EPI_ADD ? t : -1;
    return epilogue_capable(f, t) ? t : -1;
}

/* Node t (reading operand `via`, producer c or a reshape of it) becomes c with
 * epilogue stage `epi` added (operand aux, or -1); t keeps its name and shape. */
static void fold_into(fuse_ctx *f, int t, int via, int c, pg_tensor aux, int epi, float slope) {
    pg_node *n = &f->g->nodes[t];
    pg_node keep = *n;
    *n = f->g->nodes[c];
    memcpy(n->name, keep.name, sizeof n->name); /* errors and the profiler name t */
    memcpy(n->shape, keep.shape, sizeof n->shape);
    if (!n->iparams[PG_EPI_IPARAM]) { /* the operand goes last (never read without ADD/GATE) */
        n->inputs[n->n_inputs] = aux >= 0 ? aux : n->inputs[0];
        if (aux < 0) f->uses[n->inputs[0]]++;
        n->n_inputs++;
    }
    n->iparams[PG_EPI_IPARAM] |= epi;
    if (epi != PG_EPI_ADD) n->fparams[PG_EPI_FPARAM] = slope;
    f->uses[via] = f->uses[c] = 0;
}

/* Whether t is a parameter or an input (through reshapes): bytes that exist
 * before the plan runs, so reading them in an epilogue delays nothing. */
static int is_leaf(const pg_graph *g, pg_tensor t) {
    while (g->nodes[t].op == PG_OP_RESHAPE) t = g->nodes[t].inputs[0];
    return g->nodes[t].op == PG_OP_EXTERNAL || g->nodes[t].op == PG_OP_INPUT;
}

/* 2: add(p, o) or add(o, p) -> p with an add epilogue. In a lean plan only
 * with o a leaf: an accumulated gradient o would make p wait for o's
 * producer, keeping p's (large) inputs alive until then. */
static void fold_add(fuse_ctx *f, int a, int lean) {
    const pg_node *n = &f->g->nodes[a];
    if (n->op != PG_OP_ADD || n->n_inputs != 2) return;
    for (int side = 0; side < 2; side++) {
        pg_tensor o = n->inputs[1 - side], via = n->inputs[side];
        const int *os = f->g->nodes[o].shape;
        int bias = os[0] == 1 && os[1] == 1 && os[2] == 1 && os[3] == n->shape[3];
        if (!bias && !pg_shape_equal(os, n->shape)) continue;
        if (lean && !is_leaf(f->g, o)) continue;
        int c = producer_of(f, via, n->shape, PG_EPI_ADD);
        if (c < 0) continue;
        fold_into(f, a, via, c, o, PG_EPI_ADD, 0.0f);
        return;
    }
}

/* 3 and 4: leaky_relu(p) -> p with a leaky ReLU epilogue; leaky_relu_grad(p, y)
 * -> p with a gate epilogue reading y. */
static void fold_relu(fuse_ctx *f, int l) {
    const pg_node *n = &f->g->nodes[l];
    pg_tensor via = n->inputs[0];
    if (n->op == PG_OP_LEAKY_RELU && n->fparams[0] >= 0.0f) {
        int c = producer_of(f, via, n->shape, PG_EPI_LRELU);
        if (c >= 0) fold_into(f, l, via, c, -1, PG_EPI_LRELU, n->fparams[0]);
    } else if (n->op == PG_OP_LEAKY_RELU_GRAD) {
        int c = producer_of(f, via, n->shape, PG_EPI_GATE);
        if (c >= 0) fold_into(f, l, via, c, n->inputs[1], PG_EPI_GATE, n->fparams[0]);
    }
}

void pg_fuse(const pg_vk_info *info, pg_graph *g, const pg_tensor *outputs, int n_outputs,
             int lean) {
    const char *env = getenv("PROGAN_FUSE");
    if (env && !strcmp(env, "0")) return;
    fuse_ctx f = {.g = g, .info = info};
    f.uses = malloc((size_t)g->count * sizeof *f.uses);
    f.is_output = calloc(2 * (size_t)g->count, 1);
    if (!f.uses || !f.is_output) { /* no rewrite is still a correct plan */
        free(f.uses);
        free(f.is_output);
        return;
    }
    for (int i = 0; i < n_outputs; i++) f.is_output[outputs[i]] = 1;
    count_uses(&f, outputs, n_outputs);
    relu_grad_redirect(&f);
    count_uses(&f, outputs, n_outputs);
    for (int t = 0; t < g->count; t++) fold_add(&f, t, lean);
    for (int t = 0; t < g->count; t++) fold_relu(&f, t);
    free(f.uses);
    free(f.is_output);
}
