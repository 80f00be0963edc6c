/* Graph rewrites that the planner applies to its own copy of the nodes before
 * planning: fewer dispatches, bitwise the same values. The graph the caller
 * built (and differentiated) is untouched, so the unfused graph stays the
 * reference. Node ids never change: a fused node takes the id of the last node
 * it replaces, and the nodes it absorbed are left unread (the planner skips them).
 *   1. leaky_relu_grad(dy, x) reads y = leaky_relu(x) instead of x (with a
 *      slope >= 0, y > 0 exactly when x > 0), so x need not stay alive.
 *   2. add(p, o) with p a conv-family or matmul node (through one reshape) and o
 *      a channel vector (a bias) or a tensor of the sum's shape (a gradient
 *      accumulated) becomes p with an epilogue adding o (shaders/epilogue.glsl).
 *   3. leaky_relu(p) with p such a node becomes p with a leaky ReLU epilogue.
 * A producer is folded only when nothing else reads it, it is not a plan
 * output, its kernel runs in one pass (no split-K or split weight gradient:
 * the epilogue must see final sums) and the fused binding count fits
 * maxPerStageDescriptorStorageBuffers. */
#include "graph/ops.h"

#include <stdlib.h>
#include <string.h>

typedef struct {
    pg_graph *g;
    const pg_vk_info *info;
    int *uses;       /* readers among the needed nodes */
    char *is_output; /* plan outputs (and side effects) */
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

/* Whether node c is a conv-family or matmul node whose kernel can take an
 * epilogue: one pass, and room for the addend's binding. */
static int epilogue_capable(const fuse_ctx *f, int c) {
    const pg_node *n = &f->g->nodes[c];
    if (n->op != PG_OP_CONV2D && n->op != PG_OP_CONV2D_INPUT_GRAD &&
        n->op != PG_OP_CONV2D_WEIGHT_GRAD && n->op != PG_OP_MATMUL)
        return 0;
    pg_dispatch d[2];
    if (pg_ops[n->op].dispatch(f->info, f->g, c, d) != PG_OK) return 0;
    return d[0].n_passes == 1 && (uint32_t)d[0].n_bindings <= f->info->max_storage_buffers;
}

/* The producer behind operand t of a node of shape `shape` (through one
 * reshape) that nothing else reads, or -1. `epi` is the epilogue stage to add:
 * an add needs a producer without an epilogue, a leaky ReLU one without a
 * leaky ReLU yet (the epilogue adds first). */
static int producer_of(const fuse_ctx *f, int t, const int shape[4], int epi) {
    const pg_graph *g = f->g;
    if (!pg_shape_equal(g->nodes[t].shape, shape)) return -1;
    if (f->uses[t] != 1 || f->is_output[t]) return -1;
    if (g->nodes[t].op == PG_OP_RESHAPE) {
        t = g->nodes[t].inputs[0];
        if (f->uses[t] != 1 || f->is_output[t]) return -1;
    }
    const pg_node *n = &g->nodes[t];
    if (n->n_inputs > 2 && (n->op == PG_OP_CONV2D || n->op == PG_OP_CONV2D_INPUT_GRAD ||
                            n->op == PG_OP_CONV2D_WEIGHT_GRAD || n->op == PG_OP_MATMUL))
        return epi == PG_EPI_LRELU && !(n->iparams[PG_EPI_IPARAM] & PG_EPI_LRELU) ? t : -1;
    return epilogue_capable(f, t) ? t : -1;
}

/* Node t (reading operand `via`, producer c or a reshape of it) becomes c
 * with epilogue stage `epi` added; t keeps its name and shape. */
static void fold_into(fuse_ctx *f, int t, int via, int c, pg_tensor addend, int epi, float slope) {
    pg_node *n = &f->g->nodes[t];
    pg_node keep = *n;
    *n = f->g->nodes[c];
    memcpy(n->name, keep.name, sizeof n->name); /* errors and the profiler name t */
    memcpy(n->shape, keep.shape, sizeof n->shape);
    if (n->n_inputs == 2) {
        n->n_inputs = 3;
        n->inputs[2] = addend >= 0 ? addend : n->inputs[1]; /* bound, never read */
        n->iparams[PG_EPI_IPARAM] = 0;
    }
    n->iparams[PG_EPI_IPARAM] |= epi;
    if (epi == PG_EPI_LRELU) n->fparams[PG_EPI_FPARAM] = slope;
    f->uses[via] = f->uses[c] = 0;
}

/* 2: add(p, o) or add(o, p) -> p with an addend epilogue. */
static void fold_add(fuse_ctx *f, int a) {
    const pg_node *n = &f->g->nodes[a];
    if (n->op != PG_OP_ADD || n->n_inputs != 2) return;
    for (int side = 0; side < 2; side++) {
        pg_tensor o = n->inputs[1 - side], via = n->inputs[side];
        const int *os = f->g->nodes[o].shape;
        int bias = os[0] == 1 && os[1] == 1 && os[2] == 1 && os[3] == n->shape[3];
        if (!bias && !pg_shape_equal(os, n->shape)) continue;
        int c = producer_of(f, via, n->shape, PG_EPI_ADD);
        if (c < 0) continue;
        fold_into(f, a, via, c, o, PG_EPI_ADD, 0.0f);
        return;
    }
}

/* 3: leaky_relu(p) -> p with a leaky ReLU epilogue (after its add, if any). */
static void fold_relu(fuse_ctx *f, int l) {
    const pg_node *n = &f->g->nodes[l];
    if (n->op != PG_OP_LEAKY_RELU || !(n->fparams[0] >= 0.0f)) return;
    pg_tensor via = n->inputs[0];
    int c = producer_of(f, via, n->shape, PG_EPI_LRELU);
    if (c >= 0) fold_into(f, l, via, c, -1, PG_EPI_LRELU, n->fparams[0]);
}

void pg_fuse(const pg_vk_info *info, pg_graph *g, const pg_tensor *outputs, int n_outputs) {
    const char *env = getenv("PROGAN_FUSE");
    if (env && !strcmp(env, "0")) return;
    fuse_ctx f = {.g = g, .info = info};
    f.uses = malloc((size_t)g->count * sizeof *f.uses);
    f.is_output = calloc(2 * (size_t)g->count, 1); /* then `needed` */
    if (!f.uses || !f.is_output) {                 /* no rewrite is still a correct plan */
        free(f.uses);
        free(f.is_output);
        return;
    }
    for (int i = 0; i < n_outputs; i++) f.is_output[outputs[i]] = 1;
    count_uses(&f, outputs, n_outputs);
    relu_grad_redirect(&f);
    count_uses(&f, outputs, n_outputs);
    for (int t = 0; t < g->count; t++) fold_add(&f, t);
    for (int t = 0; t < g->count; t++) fold_relu(&f, t);
    free(f.uses);
    free(f.is_output);
}
