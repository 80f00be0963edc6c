/* The memory planner and executor. A plan keeps the nodes that outputs and side
 * effects need, puts each at a dependency level, gives every intermediate a
 * range of one arena by liveness (first fit; a range is reused only after the
 * level of its last reader), and records the whole graph into one command
 * buffer: input copies, one barrier per level, output copies. Replays only
 * submit it again. A lean plan (lean.c) takes its levels from an order that
 * keeps few bytes alive; plans never run at the same time may share one arena. */
#include "graph/ops.h"

#include <stdlib.h>
#include <string.h>

#define NO_OFFSET UINT64_MAX

/* The device buffers of an arena, counted by the plans that use them. */
typedef struct {
    int refs, n;
    uint64_t bytes, chunk;
    pg_vk_buffer *buffers;
} plan_arena;

typedef struct {
    int node; /* the node this dispatch computes */
    int level;
} plan_dispatch;

struct pg_plan {
    pg_vk_context *ctx;
    int n_nodes;
    pg_node *nodes;    /* a copy of the graph's nodes */
    int *level, *root; /* root: the node whose bytes a reshape views */
    uint64_t *offset;  /* root node -> byte offset in the arena (NO_OFFSET for externals) */
    uint64_t *scratch_offset, *scratch_bytes; /* per node, for two-pass kernels */
    int *pack_of;      /* a pack member's root -> its pack's root; -1 for other nodes */
    uint64_t *pack_at; /* a pack member's byte offset in its pack */
    int *pack_first;   /* a pack's root -> the level its block is zeroed and placed, or -1 */
    uint64_t *upload_offset, *readback_offset;
    pg_vk_buffer upload, readback;
    int readback_borrowed; /* readback is pg_plan_config.readback */
    uint64_t arena_bytes;
    uint64_t chunk_bytes; /* the arena is buffers of this many bytes (the last smaller);
                             no tensor straddles two */
    plan_arena *arena;    /* this plan's, or one shared with plans never run beside it */
    int n_dispatch;
    plan_dispatch *dispatches;
    VkDescriptorPool pool;
    VkBufferView *views; /* the texel-buffer views of the recorded dispatches */
    int n_views, cap_views;
    VkCommandBuffer cmd;
    VkFence fence;
    VkQueryPool queries;
    int profile_each; /* PROGAN_PROFILE=1: a timestamp (and barrier) around every dispatch */
    int submitted;
    int lean;                /* pg_plan_config.lean */
    int lean_first;          /* pg_plan_config.first, or -1 */
    int cap_nodes;           /* lean: room for recomputed copies (pg_lean_recompute) */
    int graph_nodes;         /* the graph's nodes (the copies come after them) */
    int *gate;               /* lean: per node, the reader a recomputed copy is for */
    int guard;               /* PROGAN_GUARD=1: a sentinel zone after every arena block */
    pg_vk_buffer guard_copy; /* every guard zone, copied back after each run */
    uint64_t *guard_copy_at; /* per block (2 per node: output, scratch): offset there */
};

static uint64_t align_up(uint64_t v) {
    return (v + PG_VK_ALIGN - 1) / PG_VK_ALIGN * PG_VK_ALIGN;
}

/* ---- PROGAN_GUARD=1: every block of the arena (a node's output or scratch) is
 * followed by a guard zone as large as the block (at least 256 bytes, at most
 * 4 MiB, within maxStorageBufferRange), bound as part of the block's
 * descriptor range, filled with a sentinel at the start of every run and
 * compared after it: a kernel writing past its tensor (a wrapped grid's extra
 * workgroups, a wrong tail) is named instead of silently corrupting a
 * neighbour. Blocks are never reused, so a guard only changes by overflow. */
#define GUARD_SENTINEL 0x7fa5a5a5u /* a signalling NaN no kernel produces */

static uint64_t guard_bytes(const pg_plan *p, uint64_t bytes) {
    if (!p->guard) return 0;
    uint64_t g = PG_MIN(PG_MAX(align_up(bytes), PG_VK_ALIGN), (uint64_t)4 << 20);
    uint64_t range = p->ctx->info.max_storage_buffer_range;
    if (bytes + g > range) g = range > bytes ? (range - bytes) / 4 * 4 : 0;
    return g;
}

/* The block of node i (scratch: its scratch) as [data bytes, guard bytes]; 0 if none. */
static uint64_t block_bytes(const pg_plan *p, int i, int scratch, uint64_t *at) {
    const pg_node *n = &p->nodes[i];
    if (scratch) {
        *at = p->scratch_offset[i];
        return p->level[i] >= 0 ? p->scratch_bytes[i] : 0;
    }
    *at = p->offset[i];
    if (p->level[i] < 0 || p->root[i] != i || n->op == PG_OP_EXTERNAL || n->side_effect ||
        p->pack_of[i] >= 0) /* a pack member's guard would be its neighbour: the pack has one */
        return 0;
    return 4ull * (uint64_t)n->shape[0] * n->shape[1] * n->shape[2] * n->shape[3];
}

static uint64_t node_bytes(const pg_node *n) {
    return 4ull * (uint64_t)n->shape[0] * n->shape[1] * n->shape[2] * n->shape[3];
}

/* A grid the device cannot launch is an error here, with the node, never a
 * silently truncated dispatch (pg_dispatch_grid wraps x into y and z). */
static pg_status grid_check(const pg_vk_info *info, const pg_node *n, const pg_dispatch *d) {
    for (int i = 0; i < 3; i++)
        if (d->groups[i] > info->max_workgroup_count[i])
            return PG_FAIL(PG_ERR_UNSUPPORTED,
                           "%s %s: a grid of %u x %u x %u workgroups exceeds %s's "
                           "maxComputeWorkGroupCount (%u, %u, %u%s%s): use a smaller batch",
                           n->name, pg_shape_str(n->shape), d->groups[0], d->groups[1],
                           d->groups[2], info->name, info->max_workgroup_count[0],
                           info->max_workgroup_count[1], info->max_workgroup_count[2],
                           info->emulated[0] ? ", emulating " : "", info->emulated);
    return PG_OK;
}

static int has_output(const pg_node *n) {
    return !n->side_effect;
}

/* Two externals overlap when they share bytes of one buffer. */
static int storage_overlap(const pg_vk_range *a, const pg_vk_range *b) {
    return a->buffer == b->buffer && a->offset < b->offset + b->size &&
           b->offset < a->offset + a->size;
}

/* Moves every computed node as late as its consumers allow (ALAP), so a value
 * is made just before it is first read: shorter lifetimes, a smaller arena. */
static void levels_sink(pg_plan *p, const char *needed, int max_level) {
    int *first_use = malloc((size_t)p->n_nodes * sizeof *first_use);
    if (!first_use) return; /* ASAP levels are valid too */
    for (int i = 0; i < p->n_nodes; i++) first_use[i] = max_level + 1;
    for (int i = p->n_nodes - 1; i >= 0; i--) {
        const pg_node *n = &p->nodes[i];
        if (!needed[i]) continue;
        if (!n->side_effect && n->op != PG_OP_INPUT && n->op != PG_OP_EXTERNAL) {
            /* a view has no kernel: it sits at its first reader's level */
            int latest = pg_ops[n->op].flags & PG_ROW_VIEW ? first_use[i] : first_use[i] - 1;
            if (latest > p->level[i] && first_use[i] <= max_level) p->level[i] = latest;
        }
        int at = n->side_effect ? max_level + 1 : p->level[i];
        for (int k = 0; k < n->n_inputs; k++)
            if (at < first_use[n->inputs[k]]) first_use[n->inputs[k]] = at;
    }
    free(first_use);
}

/* Marks needed nodes and assigns dependency levels (side effects last, in order). */
static int levels_assign(pg_plan *p, const char *needed, const pg_tensor *outputs, int n_outputs) {
    int max_level = 0;
    for (int i = 0; i < p->n_nodes; i++) {
        const pg_node *n = &p->nodes[i];
        int shares = n->op == PG_OP_RESHAPE || (n->op == PG_OP_PACK && n->n_inputs == 2);
        p->root[i] = shares ? p->root[n->inputs[0]] : i; /* a pack chain: its first node */
        if (!needed[i] || n->side_effect) continue;
        int level = 0;
        for (int k = 0; k < n->n_inputs; k++)
            if (p->level[n->inputs[k]] > level) level = p->level[n->inputs[k]];
        if (pg_ops[n->op].flags & PG_ROW_VIEW)
            p->level[i] = level;
        else if (n->op == PG_OP_INPUT || n->op == PG_OP_EXTERNAL)
            p->level[i] = 0;
        else
            p->level[i] = level + 1;
        if (p->level[i] > max_level) max_level = p->level[i];
    }
    int *lean = p->lean ? malloc((size_t)p->n_nodes * sizeof *lean) : NULL, lean_top = -1;
    if (lean)
        lean_top = pg_levels_lean(p->nodes, p->n_nodes, p->root, needed, outputs, n_outputs,
                                  p->lean_first, p->gate, lean);
    for (int i = 0; lean_top >= 0 && i < p->n_nodes; i++)
        if (needed[i] && !p->nodes[i].side_effect) p->level[i] = lean[i];
    if (lean_top >= 0)
        max_level = lean_top;
    else /* (a lean order that failed for host memory: the default one) */
        levels_sink(p, needed, max_level);
    free(lean);
    for (int i = 0; i < p->n_nodes; i++) {
        const pg_node *n = &p->nodes[i];
        if (!needed[i] || !n->side_effect) continue;
        int level = max_level + 1;
        for (int j = 0; j < i; j++) {
            if (!needed[j] || !p->nodes[j].side_effect) continue;
            for (int a = 0; a < n->n_inputs; a++)
                for (int b = 0; b < p->nodes[j].n_inputs; b++) {
                    const pg_node *x = &p->nodes[n->inputs[a]],
                                  *y = &p->nodes[p->nodes[j].inputs[b]];
                    if (x->op == PG_OP_EXTERNAL && y->op == PG_OP_EXTERNAL &&
                        storage_overlap(&x->storage, &y->storage) && p->level[j] >= level)
                        level = p->level[j] + 1;
                }
        }
        p->level[i] = level;
    }
    int top = 0;
    for (int i = 0; i < p->n_nodes; i++)
        if (needed[i] && p->level[i] > top) top = p->level[i];
    return top;
}

typedef struct {
    uint64_t offset, size;
    int last; /* level of the last reader; INT32_MAX = lives to the end */
} arena_block;

/* The largest arena block (with its guard). A tensor past maxStorageBufferRange
 * is reported here, before any allocation limit, so the message names the
 * binding limit on every device (whichever of the two limits is smaller). */
static pg_status arena_largest(const pg_plan *p, const char *needed, uint64_t *largest) {
    uint64_t max_range = p->ctx->info.max_storage_buffer_range;
    *largest = PG_VK_ALIGN;
    for (int i = 0; i < p->n_nodes; i++) {
        const pg_node *n = &p->nodes[i];
        if (!needed[i]) continue;
        uint64_t bytes =
            p->root[i] == i && n->op != PG_OP_EXTERNAL && has_output(n) ? node_bytes(n) : 0;
        for (int scratch = 0; scratch < 2; scratch++, bytes = p->scratch_bytes[i]) {
            if (bytes > max_range)
                return PG_FAIL(PG_ERR_UNSUPPORTED,
                               "tensor %s %s needs %.1f MiB%s, more than this device's "
                               "maxStorageBufferRange (%.1f MiB%s%s): use a smaller batch",
                               n->name, pg_shape_str(n->shape), bytes / 1048576.0,
                               scratch ? " of scratch" : "", max_range / 1048576.0,
                               p->ctx->info.emulated[0] ? ", emulating " : "",
                               p->ctx->info.emulated);
            *largest = PG_MAX(*largest, align_up(bytes + guard_bytes(p, bytes)));
        }
    }
    return PG_OK;
}

/* Block k of the arena (k < n: node k's output, else node k - n's scratch):
 * its bytes with guard (0: none), first level and last level alive. */
static uint64_t block_of(const pg_plan *p, const char *needed, const int *last_use, int k,
                         int *start, int *last) {
    int i = k % p->n_nodes, scratch = k >= p->n_nodes;
    const pg_node *n = &p->nodes[i];
    if (!needed[i]) return 0;
    if (scratch
            ? !p->scratch_bytes[i]
            : (p->root[i] != i || p->pack_of[i] >= 0 || n->op == PG_OP_EXTERNAL || !has_output(n)))
        return 0;
    *start = !scratch && p->pack_first[i] >= 0 ? p->pack_first[i] : p->level[i];
    *last = p->guard ? INT32_MAX : scratch ? p->level[i] : last_use[i];
    uint64_t bytes = scratch ? p->scratch_bytes[i] : node_bytes(n);
    return align_up(bytes + guard_bytes(p, bytes));
}

/* Lean plans: every lifetime is known, so blocks are placed largest first
 * (pg_place_by_size) instead of level by level; 0 if out of host memory. */
static int places_by_size(pg_plan *p, const char *needed, const int *last_use, uint64_t *end) {
    pg_place_block *b = malloc(2 * ((size_t)p->n_nodes + 1) * sizeof *b);
    int *of = malloc(2 * ((size_t)p->n_nodes + 1) * sizeof *of), n = 0;
    if (b && of)
        for (int k = 0; k < 2 * p->n_nodes; k++) {
            b[n].size = block_of(p, needed, last_use, k, &b[n].start, &b[n].last);
            if (b[n].size) of[n++] = k;
        }
    uint64_t at = b && of ? pg_place_by_size(b, n, p->chunk_bytes) : UINT64_MAX;
    for (int j = 0; at != UINT64_MAX && j < n; j++) {
        int i = of[j] % p->n_nodes;
        if (of[j] >= p->n_nodes)
            p->scratch_offset[i] = b[j].offset;
        else
            p->offset[i] = b[j].offset;
    }
    free(b), free(of);
    if (at == UINT64_MAX) return 0;
    *end = at;
    return 1;
}

/* First-fit placement of every root intermediate by liveness over levels. */
static pg_status memory_plan(pg_plan *p, const char *needed, const int *last_use, int top) {
    /* every node's output and every two-pass node's scratch may be alive at once */
    arena_block *live = calloc(2 * (size_t)p->n_nodes + 1, sizeof *live);
    if (!live) return PG_FAIL(PG_ERR_OUT_OF_MEMORY, "out of host memory planning memory");
    int n_live = 0;
    uint64_t end = 0;
    /* The arena is cut into buffers of at most maxMemoryAllocationSize (smaller
     * with PROGAN_ARENA_CHUNK_MB, so tests exercise the cut), never smaller than
     * the largest tensor; placements never straddle a cut. */
    uint64_t largest;
    pg_status st = arena_largest(p, needed, &largest);
    if (st != PG_OK) {
        free(live);
        return st;
    }
    uint64_t chunk =
        p->ctx->info.max_allocation_size ? p->ctx->info.max_allocation_size : (uint64_t)1 << 40;
    const char *env = getenv("PROGAN_ARENA_CHUNK_MB");
    if (env && atoll(env) > 0) chunk = PG_MIN(chunk, (uint64_t)atoll(env) << 20);
    chunk = chunk / PG_VK_ALIGN * PG_VK_ALIGN;
    if (largest > chunk && largest > p->ctx->info.max_allocation_size &&
        p->ctx->info.max_allocation_size) {
        free(live);
        return PG_FAIL(PG_ERR_UNSUPPORTED,
                       "a tensor of %.1f MiB exceeds this device's "
                       "maxMemoryAllocationSize: use a smaller batch",
                       largest / 1048576.0);
    }
    chunk = PG_MAX(chunk, largest);
    p->chunk_bytes = chunk;
    if (p->lean && places_by_size(p, needed, last_use, &end)) top = -1; /* placed */
    for (int level = 0; level <= top; level++) {
        int kept = 0; /* free blocks whose last reader ran before this level */
        for (int b = 0; b < n_live; b++)
            if (live[b].last >= level) live[kept++] = live[b];
        n_live = kept;
        for (int k = 0; k < 2 * p->n_nodes; k++) {
            /* outputs first, then the scratch of two-pass nodes (alive for their level) */
            int i = k % p->n_nodes, scratch = k >= p->n_nodes, start, last;
            uint64_t size = block_of(p, needed, last_use, k, &start, &last);
            if (!size || start != level) continue;
            uint64_t at = 0; /* live is sorted by offset and does not overlap */
            int pos = 0;
            for (;;) {
                if (at / chunk != (at + size - 1) / chunk) at = (at / chunk + 1) * chunk;
                while (pos < n_live && live[pos].offset + live[pos].size <= at) pos++;
                if (pos == n_live || live[pos].offset >= at + size) break; /* fits before it */
                at = live[pos].offset + live[pos].size;
            }
            memmove(&live[pos + 1], &live[pos], (size_t)(n_live - pos) * sizeof *live);
            live[pos] = (arena_block){at, size, last};
            n_live++;
            if (scratch)
                p->scratch_offset[i] = at;
            else
                p->offset[i] = at;
            if (at + size > end) end = at + size;
        }
    }
    free(live);
    p->arena_bytes = end;
    for (int i = 0; i < p->n_nodes; i++) /* members are computed in their pack's block */
        if (p->pack_of[i] >= 0) p->offset[i] = p->offset[p->pack_of[i]] + p->pack_at[i];
    return PG_OK;
}

/* A range of the virtual arena: the buffer holding it and the offset there. */
static pg_vk_range arena_range(const pg_plan *p, uint64_t offset, uint64_t size) {
    uint64_t k = offset / p->chunk_bytes;
    return (pg_vk_range){&p->arena->buffers[k], offset - k * p->chunk_bytes, size};
}

/* The device range of a node's bytes (through reshapes). */
static pg_vk_range node_range(const pg_plan *p, int t) {
    int r = p->root[t];
    const pg_node *n = &p->nodes[r];
    if (n->op == PG_OP_EXTERNAL)
        return (pg_vk_range){n->storage.buffer, n->storage.offset, node_bytes(&p->nodes[t])};
    return arena_range(p, p->offset[r], node_bytes(&p->nodes[t]));
}

/* What a kernel binds: the node's bytes and, under PROGAN_GUARD, its guard zone. */
static pg_vk_range node_range_bound(const pg_plan *p, int t) {
    pg_vk_range r = node_range(p, t);
    if (p->nodes[p->root[t]].op != PG_OP_EXTERNAL && p->pack_of[p->root[t]] < 0)
        r.size += guard_bytes(p, node_bytes(&p->nodes[p->root[t]]));
    return r;
}

/* Pack chains (pg_pack): a chain's first node owns one block, placed and zeroed
 * at the level of its first member to be computed and alive until the last
 * reader of the chain or of any member; each member is computed in its place.
 * The nodes of a chain share bytes that fill up as members are computed, so
 * only a chain's last node may be read by anything but the next pack node. */
static pg_status packs_setup(pg_plan *p, const char *needed, int *last_use) {
    size_t n = (size_t)p->n_nodes + 1;
    p->pack_of = malloc(n * sizeof *p->pack_of);
    p->pack_at = calloc(n, sizeof *p->pack_at);
    p->pack_first = malloc(n * sizeof *p->pack_first);
    int *readers = calloc(n, sizeof *readers);
    if (!p->pack_of || !p->pack_at || !p->pack_first || !readers) {
        free(readers);
        return PG_FAIL(PG_ERR_OUT_OF_MEMORY, "out of host memory planning");
    }
    for (int i = 0; i < p->n_nodes; i++) {
        p->pack_of[i] = p->pack_first[i] = -1;
        for (int k = 0; needed[i] && k < p->nodes[i].n_inputs; k++)
            readers[p->nodes[i].inputs[k]]++;
    }
    pg_status st = PG_OK;
    for (int i = 0; i < p->n_nodes && st == PG_OK; i++) {
        const pg_node *nd = &p->nodes[i];
        if (!needed[i] || nd->op != PG_OP_PACK) continue;
        int last = nd->n_inputs - 1, r = p->root[i], m = p->root[nd->inputs[last]];
        if ((last && readers[nd->inputs[0]] > 1) || p->pack_of[m] >= 0 || m == r ||
            node_bytes(&p->nodes[m]) != node_bytes(&p->nodes[nd->inputs[last]]))
            st = PG_FAIL(PG_ERR_INVALID,
                         "pack node %d (%s): an earlier node of its chain is read, or its "
                         "member's bytes are packed twice or belong to a larger node; build "
                         "packs with pg_pack and read only the node it returns",
                         i, nd->name);
        p->pack_of[m] = r;
        p->pack_at[m] = 4ull * (uint64_t)nd->iparams[0];
        if (p->pack_first[r] < 0 || p->level[m] < p->pack_first[r]) p->pack_first[r] = p->level[m];
    }
    for (int m = 0; m < p->n_nodes; m++)
        if (p->pack_of[m] >= 0 && last_use[m] > last_use[p->pack_of[m]])
            last_use[p->pack_of[m]] = last_use[m];
    free(readers);
    return st;
}

/* Records the zeroing of every pack block placed at this level (its gaps). */
static int packs_zero(pg_plan *p, int level) {
    int count = 0;
    for (int i = 0; i < p->n_nodes; i++) {
        if (p->pack_first[i] != level) continue;
        pg_vk_range r = arena_range(p, p->offset[i], node_bytes(&p->nodes[i]));
        vkCmdFillBuffer(p->cmd, r.buffer->buffer, r.offset, r.size, 0);
        count++;
    }
    return count;
}

static pg_status plan_analyse(pg_plan *p, const pg_tensor *outputs, int n_outputs, int *top) {
    char *needed = calloc((size_t)p->cap_nodes, 1);
    int *last_use = malloc((size_t)p->cap_nodes * sizeof *last_use);
    if (!needed || !last_use) {
        free(needed);
        free(last_use);
        return PG_FAIL(PG_ERR_OUT_OF_MEMORY, "out of host memory planning");
    }
    pg_graph view = {.nodes = p->nodes, .count = p->n_nodes};
    /* on the plan's copy of the nodes */
    pg_fuse(&p->ctx->info, &view, outputs, n_outputs, p->lean);
    for (int i = 0; i < n_outputs; i++) needed[outputs[i]] = 1;
    for (int i = 0; i < p->n_nodes; i++)
        if (p->nodes[i].side_effect) needed[i] = 1;
    for (int i = p->n_nodes - 1; i >= 0; i--)
        if (needed[i])
            for (int k = 0; k < p->nodes[i].n_inputs; k++) needed[p->nodes[i].inputs[k]] = 1;
    if (p->lean && p->gate) {
        int grown = pg_lean_recompute(p->nodes, p->n_nodes, p->cap_nodes, needed, outputs,
                                      n_outputs, p->gate);
        for (int i = p->n_nodes; i < grown; i++) p->level[i] = -1, p->offset[i] = NO_OFFSET;
        p->n_nodes = view.count = grown;
    }
    *top = levels_assign(p, needed, outputs, n_outputs);
    for (int i = 0; i < p->n_nodes; i++) last_use[i] = p->level[i];
    for (int i = 0; i < p->n_nodes; i++) {
        if (!needed[i]) continue;
        for (int k = 0; k < p->nodes[i].n_inputs; k++) {
            int r = p->root[p->nodes[i].inputs[k]];
            if (p->level[i] > last_use[r]) last_use[r] = p->level[i];
        }
    }
    for (int i = 0; i < n_outputs; i++) last_use[p->root[outputs[i]]] = INT32_MAX;
    pg_status packed = packs_setup(p, needed, last_use);
    if (packed != PG_OK) {
        free(needed);
        free(last_use);
        return packed;
    }
    for (int i = 0; i < p->n_nodes; i++) {
        pg_dispatch d[2];
        p->scratch_bytes[i] = 0;
        if (!needed[i] || !pg_ops[p->nodes[i].op].dispatch) continue;
        pg_status st = pg_ops[p->nodes[i].op].dispatch(&p->ctx->info, &view, i, d);
        if (st != PG_OK) {
            free(needed);
            free(last_use);
            return st;
        }
        if (d[0].n_passes > 1) p->scratch_bytes[i] = d[0].scratch_bytes;
    }
    for (int i = 0; i < p->n_nodes; i++)
        if (p->nodes[i].op == PG_OP_INPUT) last_use[i] = INT32_MAX; /* host writes any time */
    pg_status st = memory_plan(p, needed, last_use, *top);
    p->n_dispatch = 0;
    for (int i = 0; i < p->n_nodes; i++)
        if (needed[i] && pg_ops[p->nodes[i].op].dispatch) p->n_dispatch++;
    p->dispatches = calloc((size_t)p->n_dispatch + 1, sizeof *p->dispatches);
    int d = 0;
    for (int level = 1; p->dispatches && level <= *top; level++)
        for (int i = 0; i < p->n_nodes; i++)
            if (needed[i] && p->level[i] == level && pg_ops[p->nodes[i].op].dispatch)
                p->dispatches[d++] = (plan_dispatch){i, level};
    free(needed);
    free(last_use);
    if (!p->dispatches) return PG_FAIL(PG_ERR_OUT_OF_MEMORY, "out of host memory planning");
    return st;
}

/* Sizes the guard copy-back buffer and each block's place in it. */
static pg_status guards_setup(pg_plan *p) {
    p->guard_copy_at = calloc(2 * (size_t)p->n_nodes, sizeof *p->guard_copy_at);
    if (!p->guard_copy_at) return PG_FAIL(PG_ERR_OUT_OF_MEMORY, "out of host memory");
    uint64_t total = 0, at;
    for (int k = 0; k < 2 * p->n_nodes; k++) {
        uint64_t bytes = block_bytes(p, k % p->n_nodes, k >= p->n_nodes, &at);
        p->guard_copy_at[k] = total;
        total += bytes ? guard_bytes(p, bytes) : 0;
    }
    return pg_vk_buffer_create(p->ctx, total, PG_VK_MEMORY_READBACK, &p->guard_copy);
}

/* Records the sentinel fill of every guard (fill) or their copy to the host (!fill). */
static void guards_record(pg_plan *p, int fill) {
    uint64_t at;
    for (int k = 0; k < 2 * p->n_nodes; k++) {
        uint64_t bytes = block_bytes(p, k % p->n_nodes, k >= p->n_nodes, &at);
        uint64_t g = bytes ? guard_bytes(p, bytes) : 0;
        if (!g) continue;
        pg_vk_range r = arena_range(p, at + bytes, g);
        VkBufferCopy c = {r.offset, p->guard_copy_at[k], g};
        if (fill)
            vkCmdFillBuffer(p->cmd, r.buffer->buffer, r.offset, g, GUARD_SENTINEL);
        else
            vkCmdCopyBuffer(p->cmd, r.buffer->buffer, p->guard_copy.buffer, 1, &c);
    }
    pg_vk_cmd_barrier(p->cmd);
}

/* After a run: the first guard that lost its sentinel names the node that wrote it. */
static pg_status guards_check(pg_plan *p) {
    VkMappedMemoryRange mr = {.sType = VK_STRUCTURE_TYPE_MAPPED_MEMORY_RANGE,
                              .memory = p->guard_copy.memory,
                              .size = VK_WHOLE_SIZE};
    vkInvalidateMappedMemoryRanges(p->ctx->device, 1, &mr);
    uint64_t at;
    for (int k = 0; k < 2 * p->n_nodes; k++) {
        int i = k % p->n_nodes, scratch = k >= p->n_nodes;
        uint64_t bytes = block_bytes(p, i, scratch, &at);
        uint64_t words = (bytes ? guard_bytes(p, bytes) : 0) / 4;
        const uint32_t *w =
            (const uint32_t *)((const char *)p->guard_copy.mapped + p->guard_copy_at[k]);
        uint64_t bad = 0, first = words;
        for (uint64_t j = 0; j < words; j++)
            if (w[j] != GUARD_SENTINEL) bad++, first = PG_MIN(first, j);
        if (bad)
            return PG_FAIL(PG_ERR_INVALID,
                           "PROGAN_GUARD: node %d '%s' (%s %s) wrote past the end of its %s "
                           "(%llu bytes): %llu of the %llu guard words after it changed, the "
                           "first at +%llu bytes (0x%08x)%s%s",
                           i, p->nodes[i].name, pg_ops[p->nodes[i].op].name,
                           pg_shape_str(p->nodes[i].shape), scratch ? "scratch" : "output",
                           (unsigned long long)bytes, (unsigned long long)bad,
                           (unsigned long long)words, (unsigned long long)(4 * first), w[first],
                           p->ctx->info.emulated[0] ? ", emulating " : "", p->ctx->info.emulated);
    }
    return PG_OK;
}

/* The plan's arena: its own (at least reserve bytes, for plans that will share
 * it), or the arena of share, which must hold this plan's. */
static pg_status arena_create(pg_plan *p, uint64_t reserve, const pg_plan *share) {
    if (share) {
        if (share->ctx != p->ctx)
            return PG_FAIL(PG_ERR_INVALID,
                           "a plan can share only the arena of a plan on its device");
        if (share->arena->chunk != p->chunk_bytes || share->arena->bytes < p->arena_bytes)
            return PG_FAIL(PG_ERR_INVALID,
                           "a shared arena of %.1f MiB (buffers of %.1f MiB) cannot hold a plan "
                           "of %.1f MiB (buffers of %.1f MiB): reserve the largest plan's bytes "
                           "in the first plan",
                           share->arena->bytes / 1048576.0, share->arena->chunk / 1048576.0,
                           p->arena_bytes / 1048576.0, p->chunk_bytes / 1048576.0);
        p->arena = share->arena;
        p->arena->refs++;
        return PG_OK;
    }
    plan_arena *a = calloc(1, sizeof *a);
    uint64_t bytes = PG_MAX(p->arena_bytes, reserve);
    int n = (int)PG_MAX((bytes + p->chunk_bytes - 1) / p->chunk_bytes, 1);
    if (a) a->buffers = calloc((size_t)n, sizeof *a->buffers);
    if (!a || !a->buffers) {
        free(a);
        return PG_FAIL(PG_ERR_OUT_OF_MEMORY, "out of host memory");
    }
    *a = (plan_arena){1, n, bytes, p->chunk_bytes, a->buffers};
    p->arena = a;
    for (int k = 0; k < n; k++) {
        uint64_t begin = (uint64_t)k * p->chunk_bytes;
        uint64_t size = PG_MIN(p->chunk_bytes, bytes - begin);
        PG_TRY(pg_vk_buffer_create(p->ctx, size, PG_VK_MEMORY_DEVICE, &a->buffers[k]));
    }
    return PG_OK;
}

static void arena_release(pg_vk_context *ctx, plan_arena *a) {
    if (!a || --a->refs > 0) return;
    for (int k = 0; k < a->n; k++) pg_vk_buffer_destroy(ctx, &a->buffers[k]);
    free(a->buffers);
    free(a);
}

/* Host-visible staging: inputs are written there, outputs read back from
 * there. Places them; returns their bytes (the download part in *down_bytes). */
static uint64_t staging_sizes(pg_plan *p, const pg_tensor *outputs, int n_outputs,
                              uint64_t *down_bytes) {
    uint64_t up = 0, down = 0;
    for (int i = 0; i < p->n_nodes; i++) {
        p->upload_offset[i] = p->readback_offset[i] = NO_OFFSET;
        if (p->nodes[i].op == PG_OP_INPUT) {
            p->upload_offset[i] = up;
            up += align_up(node_bytes(&p->nodes[i]));
        }
    }
    for (int k = 0; k < n_outputs; k++) {
        int i = outputs[k];
        if (p->readback_offset[i] != NO_OFFSET) continue;
        p->readback_offset[i] = down;
        down += align_up(node_bytes(&p->nodes[i]));
    }
    if (down_bytes) *down_bytes = down;
    return up + down;
}

static pg_status staging_create(pg_plan *p, const pg_tensor *outputs, int n_outputs,
                                const pg_plan_config *cfg) {
    uint64_t down, up = staging_sizes(p, outputs, n_outputs, &down) - down;
    PG_TRY(arena_create(p, cfg ? cfg->reserve_bytes : 0, cfg ? cfg->share : NULL));
    PG_TRY(pg_vk_buffer_create(p->ctx, up, PG_VK_MEMORY_UPLOAD, &p->upload));
    if (cfg && cfg->readback) {
        if (cfg->readback->size < down || !cfg->readback->mapped)
            return PG_FAIL(PG_ERR_INVALID,
                           "a readback buffer of %.1f MiB cannot hold this plan's outputs "
                           "(%.1f MiB, host-visible): size it by pg_plan_measure_with",
                           cfg->readback->size / 1048576.0, down / 1048576.0);
        p->readback = *cfg->readback, p->readback_borrowed = 1;
    } else
        PG_TRY(pg_vk_buffer_create(p->ctx, down, PG_VK_MEMORY_READBACK, &p->readback));
    memset(p->upload.mapped, 0, p->upload.size);
    if (p->guard) PG_TRY(guards_setup(p));
    return PG_OK;
}

/* A texel-buffer view of range r (a kernel's texel binding, see vk.h): the
 * range rounded down to whole texels (a guard zone's tail may be cut). The
 * kernel builder checked that the tensor fits maxTexelBufferElements. */
static pg_status texel_view_create(pg_plan *p, pg_vk_range r, pg_vk_binding_kind kind,
                                   const char *tensor, VkBufferView *out) {
    const pg_vk_info *info = &p->ctx->info;
    uint64_t texel = kind == PG_VK_TEXEL_RGBA32F ? 16 : 4;
    uint64_t texels = PG_MIN(r.size / texel, (uint64_t)info->max_texel_elements);
    if (!texels || r.offset % PG_MAX(info->min_texel_alignment, 1u))
        return PG_FAIL(PG_ERR_INVALID,
                       "tensor %s (%llu bytes at offset %llu) cannot be a texel buffer here "
                       "(minTexelBufferOffsetAlignment %u): a kernel builder chose wrongly",
                       tensor, (unsigned long long)r.size, (unsigned long long)r.offset,
                       info->min_texel_alignment);
    if (p->n_views == p->cap_views) {
        int cap = p->cap_views ? 2 * p->cap_views : 64;
        VkBufferView *v = realloc(p->views, (size_t)cap * sizeof *v);
        if (!v) return PG_FAIL(PG_ERR_OUT_OF_MEMORY, "out of host memory");
        p->views = v, p->cap_views = cap;
    }
    VkBufferViewCreateInfo ci = {.sType = VK_STRUCTURE_TYPE_BUFFER_VIEW_CREATE_INFO,
                                 .buffer = r.buffer->buffer,
                                 .format = kind == PG_VK_TEXEL_RGBA32F
                                               ? VK_FORMAT_R32G32B32A32_SFLOAT
                                               : VK_FORMAT_R32_SFLOAT,
                                 .offset = r.offset,
                                 .range = texels * texel};
    PG_VK_CHECK(vkCreateBufferView(p->ctx->device, &ci, NULL, out));
    p->views[p->n_views++] = *out;
    return PG_OK;
}

static pg_status descriptors_write(pg_plan *p, int node, const pg_dispatch *d,
                                   VkDescriptorSet *set) {
    VkDescriptorSetLayout layout;
    PG_TRY(pg_vk_layouts_get(p->ctx, (uint32_t)d->n_bindings, d->key.texel, &layout, NULL));
    VkDescriptorSetAllocateInfo ai = {.sType = VK_STRUCTURE_TYPE_DESCRIPTOR_SET_ALLOCATE_INFO,
                                      .descriptorPool = p->pool,
                                      .descriptorSetCount = 1,
                                      .pSetLayouts = &layout};
    PG_VK_CHECK(vkAllocateDescriptorSets(p->ctx->device, &ai, set));
    VkDescriptorBufferInfo bi[PG_VK_MAX_BINDINGS];
    VkBufferView views[PG_VK_MAX_BINDINGS];
    VkWriteDescriptorSet w[PG_VK_MAX_BINDINGS];
    for (int b = 0; b < d->n_bindings; b++) {
        pg_vk_range r =
            d->bindings[b] == PG_BIND_SCRATCH
                ? arena_range(p, p->scratch_offset[node],
                              p->scratch_bytes[node] + guard_bytes(p, p->scratch_bytes[node]))
                : node_range_bound(p, d->bindings[b]);
        if (r.offset % p->ctx->info.min_storage_alignment)
            return PG_FAIL(PG_ERR_INVALID,
                           "tensor %s sits at offset %llu, not a multiple of "
                           "minStorageBufferOffsetAlignment %llu",
                           p->nodes[node].name, (unsigned long long)r.offset,
                           (unsigned long long)p->ctx->info.min_storage_alignment);
        bi[b] = (VkDescriptorBufferInfo){r.buffer->buffer, r.offset, r.size};
        w[b] = (VkWriteDescriptorSet){.sType = VK_STRUCTURE_TYPE_WRITE_DESCRIPTOR_SET,
                                      .dstSet = *set,
                                      .dstBinding = (uint32_t)b,
                                      .descriptorCount = 1,
                                      .descriptorType = VK_DESCRIPTOR_TYPE_STORAGE_BUFFER,
                                      .pBufferInfo = &bi[b]};
        pg_vk_binding_kind kind = PG_VK_TEXEL_GET(d->key.texel, b);
        if (kind != PG_VK_STORAGE) {
            int t = d->bindings[b] == PG_BIND_SCRATCH ? node : d->bindings[b];
            PG_TRY(texel_view_create(p, r, kind, p->nodes[t].name, &views[b]));
            w[b].descriptorType = VK_DESCRIPTOR_TYPE_UNIFORM_TEXEL_BUFFER;
            w[b].pBufferInfo = NULL;
            w[b].pTexelBufferView = &views[b];
        }
    }
    vkUpdateDescriptorSets(p->ctx->device, (uint32_t)d->n_bindings, w, 0, NULL);
    return PG_OK;
}

static void copies_record(pg_plan *p, const pg_tensor *outputs, int n_outputs, int to_device) {
    for (int k = 0; k < (to_device ? p->n_nodes : n_outputs); k++) {
        int i = to_device ? k : outputs[k];
        uint64_t staged = to_device ? p->upload_offset[i] : p->readback_offset[i];
        if (staged == NO_OFFSET || (to_device && p->level[i] < 0)) continue;
        pg_vk_range r = node_range(p, i);
        VkBufferCopy c = {to_device ? staged : r.offset, to_device ? r.offset : staged, r.size};
        if (to_device)
            vkCmdCopyBuffer(p->cmd, p->upload.buffer, r.buffer->buffer, 1, &c);
        else
            vkCmdCopyBuffer(p->cmd, r.buffer->buffer, p->readback.buffer, 1, &c);
    }
}

static pg_status commands_record(pg_plan *p, const pg_tensor *outputs, int n_outputs) {
    pg_vk_context *ctx = p->ctx;
    VkDescriptorPoolSize sizes[2] = {
        {VK_DESCRIPTOR_TYPE_STORAGE_BUFFER, (uint32_t)(2 * p->n_dispatch * PG_VK_MAX_BINDINGS + 1)},
        {VK_DESCRIPTOR_TYPE_UNIFORM_TEXEL_BUFFER,
         (uint32_t)(2 * p->n_dispatch * PG_VK_MAX_BINDINGS + 1)}};
    VkDescriptorPoolCreateInfo pi = {.sType = VK_STRUCTURE_TYPE_DESCRIPTOR_POOL_CREATE_INFO,
                                     .maxSets = (uint32_t)(2 * p->n_dispatch + 1),
                                     .poolSizeCount = 2,
                                     .pPoolSizes = sizes};
    PG_VK_CHECK(vkCreateDescriptorPool(ctx->device, &pi, NULL, &p->pool));
    VkCommandBufferAllocateInfo ai = {.sType = VK_STRUCTURE_TYPE_COMMAND_BUFFER_ALLOCATE_INFO,
                                      .commandPool = ctx->command_pool,
                                      .level = VK_COMMAND_BUFFER_LEVEL_PRIMARY,
                                      .commandBufferCount = 1};
    PG_VK_CHECK(vkAllocateCommandBuffers(ctx->device, &ai, &p->cmd));
    VkFenceCreateInfo fi = {.sType = VK_STRUCTURE_TYPE_FENCE_CREATE_INFO};
    PG_VK_CHECK(vkCreateFence(ctx->device, &fi, NULL, &p->fence));
    uint32_t n_queries = ctx->info.has_timestamps ? (uint32_t)(2 * p->n_dispatch + 2) : 0;
    if (n_queries) {
        VkQueryPoolCreateInfo qi = {.sType = VK_STRUCTURE_TYPE_QUERY_POOL_CREATE_INFO,
                                    .queryType = VK_QUERY_TYPE_TIMESTAMP,
                                    .queryCount = n_queries};
        PG_VK_CHECK(vkCreateQueryPool(ctx->device, &qi, NULL, &p->queries));
    }
    VkCommandBufferBeginInfo bi = {.sType = VK_STRUCTURE_TYPE_COMMAND_BUFFER_BEGIN_INFO};
    PG_VK_CHECK(vkBeginCommandBuffer(p->cmd, &bi));
    if (p->queries) {
        vkCmdResetQueryPool(p->cmd, p->queries, 0, n_queries);
        vkCmdWriteTimestamp(p->cmd, VK_PIPELINE_STAGE_TOP_OF_PIPE_BIT, p->queries, 0);
    }
    pg_vk_cmd_barrier(p->cmd); /* the previous replay may still be read by these copies */
    if (p->guard) guards_record(p, 1);
    copies_record(p, outputs, n_outputs, 1);
    int level = 0, zeroed = 0;
    for (int k = 0; k < p->n_dispatch; k++) {
        const plan_dispatch *pd = &p->dispatches[k];
        if (pd->level != level || p->profile_each) {
            pg_vk_cmd_barrier(p->cmd);
            level = pd->level;
        }
        int zeros = 0; /* after the last reader of these bytes, before the first writer */
        for (; zeroed < pd->level; zeroed++) zeros += packs_zero(p, zeroed + 1);
        if (zeros) pg_vk_cmd_barrier(p->cmd);
        pg_dispatch d[2];
        pg_graph view = {.nodes = p->nodes, .count = p->n_nodes};
        PG_TRY(pg_ops[p->nodes[pd->node].op].dispatch(&ctx->info, &view, pd->node, d));
        if (p->profile_each)
            vkCmdWriteTimestamp(p->cmd, VK_PIPELINE_STAGE_TOP_OF_PIPE_BIT, p->queries,
                                (uint32_t)(2 + 2 * k));
        for (int pass = 0; pass < d[0].n_passes; pass++) {
            if (pass) pg_vk_cmd_barrier(p->cmd);
            PG_TRY(grid_check(&ctx->info, &p->nodes[pd->node], &d[pass]));
            pg_vk_pipeline *pipe;
            PG_TRY(pg_vk_pipeline_get(ctx, &d[pass].key, &pipe));
            VkDescriptorSet set;
            PG_TRY(descriptors_write(p, pd->node, &d[pass], &set));
            vkCmdBindPipeline(p->cmd, VK_PIPELINE_BIND_POINT_COMPUTE, pipe->pipeline);
            vkCmdBindDescriptorSets(p->cmd, VK_PIPELINE_BIND_POINT_COMPUTE, pipe->layout, 0, 1,
                                    &set, 0, NULL);
            vkCmdPushConstants(p->cmd, pipe->layout, VK_SHADER_STAGE_COMPUTE_BIT, 0,
                               PG_VK_PUSH_BYTES, d[pass].push);
            vkCmdDispatch(p->cmd, d[pass].groups[0], d[pass].groups[1], d[pass].groups[2]);
        }
        if (p->profile_each)
            vkCmdWriteTimestamp(p->cmd, VK_PIPELINE_STAGE_COMPUTE_SHADER_BIT, p->queries,
                                (uint32_t)(3 + 2 * k));
    }
    pg_vk_cmd_barrier(p->cmd);
    if (p->guard) guards_record(p, 0);
    copies_record(p, outputs, n_outputs, 0);
    VkMemoryBarrier host = {.sType = VK_STRUCTURE_TYPE_MEMORY_BARRIER,
                            .srcAccessMask =
                                VK_ACCESS_TRANSFER_WRITE_BIT | VK_ACCESS_SHADER_WRITE_BIT,
                            .dstAccessMask = VK_ACCESS_HOST_READ_BIT};
    vkCmdPipelineBarrier(p->cmd,
                         VK_PIPELINE_STAGE_TRANSFER_BIT | VK_PIPELINE_STAGE_COMPUTE_SHADER_BIT,
                         VK_PIPELINE_STAGE_HOST_BIT, 0, 1, &host, 0, NULL, 0, NULL);
    if (p->queries)
        vkCmdWriteTimestamp(p->cmd, VK_PIPELINE_STAGE_BOTTOM_OF_PIPE_BIT, p->queries, 1);
    PG_VK_CHECK(vkEndCommandBuffer(p->cmd));
    return PG_OK;
}

/* Copies the graph's nodes and plans them (levels, fusion, memory); nothing
 * is allocated on the device yet. */
static pg_status plan_init(pg_vk_context *ctx, const pg_graph *g, const pg_tensor *outputs,
                           int n_outputs, const pg_plan_config *cfg, pg_plan **out) {
    *out = NULL;
    PG_TRY(pg_op_table_check());
    if (g->error != PG_OK) return PG_FAIL(g->error, "graph: %s", g->error_message);
    for (int i = 0; i < n_outputs; i++)
        if (outputs[i] < 0 || outputs[i] >= g->count || !has_output(&g->nodes[outputs[i]]))
            return PG_FAIL(PG_ERR_INVALID, "plan output %d is not a tensor", i);
    pg_plan *p = calloc(1, sizeof *p);
    if (!p) return PG_FAIL(PG_ERR_OUT_OF_MEMORY, "out of host memory");
    *out = p;
    p->ctx = ctx;
    p->n_nodes = g->count;
    p->lean = cfg && cfg->lean;
    p->lean_first = cfg && cfg->first ? *cfg->first : -1;
    p->cap_nodes = p->lean ? 2 * g->count : g->count;
    p->graph_nodes = g->count;
    size_t n = (size_t)p->cap_nodes + 1;
    if (p->lean) p->gate = malloc(n * sizeof *p->gate);
    p->nodes = malloc(n * sizeof *p->nodes);
    p->level = malloc(n * sizeof *p->level);
    p->root = malloc(n * sizeof *p->root);
    p->offset = malloc(n * sizeof *p->offset);
    p->upload_offset = malloc(n * sizeof *p->upload_offset);
    p->readback_offset = malloc(n * sizeof *p->readback_offset);
    p->scratch_offset = calloc(n, sizeof *p->scratch_offset);
    p->scratch_bytes = calloc(n, sizeof *p->scratch_bytes);
    const char *profile = getenv("PROGAN_PROFILE");
    p->profile_each = profile && *profile && strcmp(profile, "0") && ctx->info.has_timestamps;
    const char *guard = getenv("PROGAN_GUARD");
    p->guard = guard && *guard && strcmp(guard, "0");
    if (!p->nodes || !p->level || !p->root || !p->offset || !p->upload_offset ||
        !p->readback_offset || !p->scratch_offset || !p->scratch_bytes)
        return PG_FAIL(PG_ERR_OUT_OF_MEMORY, "out of host memory");
    memcpy(p->nodes, g->nodes, (size_t)g->count * sizeof *p->nodes);
    for (int i = 0; i < p->cap_nodes; i++) {
        p->level[i] = -1;
        p->offset[i] = NO_OFFSET;
    }
    int top = 0;
    return plan_analyse(p, outputs, n_outputs, &top);
}

pg_status pg_plan_create_with(pg_vk_context *ctx, const pg_graph *g, const pg_tensor *outputs,
                              int n_outputs, const pg_plan_config *cfg, pg_plan **out) {
    pg_plan *p;
    pg_status st = plan_init(ctx, g, outputs, n_outputs, cfg, &p);
    if (st == PG_OK) st = staging_create(p, outputs, n_outputs, cfg);
    if (st == PG_OK) st = commands_record(p, outputs, n_outputs);
    if (st != PG_OK) {
        pg_plan_destroy(p);
        return st;
    }
    *out = p;
    return PG_OK;
}

pg_status pg_plan_create(pg_vk_context *ctx, const pg_graph *g, const pg_tensor *outputs,
                         int n_outputs, pg_plan **out) {
    return pg_plan_create_with(ctx, g, outputs, n_outputs, NULL, out);
}

pg_status pg_plan_measure_with(pg_vk_context *ctx, const pg_graph *g, const pg_tensor *outputs,
                               int n_outputs, const pg_plan_config *cfg, uint64_t *arena_bytes,
                               uint64_t staging[2]) {
    *arena_bytes = 0;
    if (staging) staging[0] = staging[1] = 0;
    pg_plan *p;
    pg_status st = plan_init(ctx, g, outputs, n_outputs, cfg, &p);
    if (st == PG_OK) *arena_bytes = p->arena_bytes;
    if (st == PG_OK && staging) {
        staging[0] = staging_sizes(p, outputs, n_outputs, &staging[1]);
        staging[0] -= staging[1];
    }
    pg_plan_destroy(p);
    return st;
}

pg_status pg_plan_measure(pg_vk_context *ctx, const pg_graph *g, const pg_tensor *outputs,
                          int n_outputs, uint64_t *arena_bytes) {
    return pg_plan_measure_with(ctx, g, outputs, n_outputs, NULL, arena_bytes, NULL);
}

void pg_plan_destroy(pg_plan *p) {
    if (!p) return;
    pg_vk_context *ctx = p->ctx;
    if (p->submitted) vkWaitForFences(ctx->device, 1, &p->fence, VK_TRUE, UINT64_MAX);
    if (p->queries) vkDestroyQueryPool(ctx->device, p->queries, NULL);
    if (p->fence) vkDestroyFence(ctx->device, p->fence, NULL);
    if (p->cmd) vkFreeCommandBuffers(ctx->device, ctx->command_pool, 1, &p->cmd);
    if (p->pool) vkDestroyDescriptorPool(ctx->device, p->pool, NULL);
    for (int k = 0; k < p->n_views; k++) vkDestroyBufferView(ctx->device, p->views[k], NULL);
    free(p->views);
    arena_release(ctx, p->arena);
    pg_vk_buffer_destroy(ctx, &p->upload);
    if (!p->readback_borrowed) pg_vk_buffer_destroy(ctx, &p->readback);
    if (p->guard_copy.buffer) pg_vk_buffer_destroy(ctx, &p->guard_copy);
    free(p->guard_copy_at);
    free(p->nodes);
    free(p->level);
    free(p->gate);
    free(p->root);
    free(p->offset);
    free(p->upload_offset);
    free(p->readback_offset);
    free(p->scratch_offset);
    free(p->scratch_bytes);
    free(p->pack_of);
    free(p->pack_at);
    free(p->pack_first);
    free(p->dispatches);
    free(p);
}

float *pg_plan_input(pg_plan *p, pg_tensor t) {
    if (t < 0 || t >= p->n_nodes || p->upload_offset[t] == NO_OFFSET) return NULL;
    return (float *)((char *)p->upload.mapped + p->upload_offset[t]);
}

const float *pg_plan_output(pg_plan *p, pg_tensor t) {
    if (t < 0 || t >= p->n_nodes || p->readback_offset[t] == NO_OFFSET) return NULL;
    return (const float *)((const char *)p->readback.mapped + p->readback_offset[t]);
}

pg_status pg_plan_poison(pg_plan *p, uint32_t pattern) {
    VkCommandBuffer cmd;
    PG_TRY(pg_vk_oneshot_begin(p->ctx, &cmd));
    for (int k = 0; k < p->arena->n; k++)
        vkCmdFillBuffer(cmd, p->arena->buffers[k].buffer, 0, VK_WHOLE_SIZE, pattern);
    pg_vk_cmd_barrier(cmd);
    PG_TRY(pg_vk_oneshot_submit(p->ctx, cmd));
    uint32_t *r = p->readback.mapped;
    for (uint64_t i = 0; i < p->readback.size / 4; i++) r[i] = pattern;
    return PG_OK;
}

pg_status pg_plan_submit(pg_plan *p) {
    if (p->submitted) PG_TRY(pg_plan_wait(p));
    PG_VK_CHECK(vkResetFences(p->ctx->device, 1, &p->fence));
    VkSubmitInfo si = {.sType = VK_STRUCTURE_TYPE_SUBMIT_INFO,
                       .commandBufferCount = 1,
                       .pCommandBuffers = &p->cmd};
    PG_VK_CHECK(vkQueueSubmit(p->ctx->queue, 1, &si, p->fence));
    p->submitted = 1;
    return PG_OK;
}

pg_status pg_plan_wait(pg_plan *p) {
    if (!p->submitted) return PG_OK;
    VkResult r = vkWaitForFences(p->ctx->device, 1, &p->fence, VK_TRUE, UINT64_MAX);
    p->submitted = 0;
    if (r != VK_SUCCESS)
        return PG_FAIL(PG_ERR_VULKAN,
                       "waiting for %s failed: %s (device lost? try a smaller "
                       "batch)",
                       p->ctx->info.name, pg_vk_result_name(r));
    VkMappedMemoryRange mr = {.sType = VK_STRUCTURE_TYPE_MAPPED_MEMORY_RANGE,
                              .memory = p->readback.memory,
                              .size = VK_WHOLE_SIZE};
    vkInvalidateMappedMemoryRanges(p->ctx->device, 1, &mr);
    if (p->guard) PG_TRY(guards_check(p));
    return PG_OK;
}

pg_status pg_plan_run(pg_plan *p) {
    PG_TRY(pg_plan_submit(p));
    return pg_plan_wait(p);
}

uint64_t pg_plan_arena_bytes(const pg_plan *p) {
    return p->arena_bytes;
}

uint64_t pg_plan_arena_allocated(const pg_plan *p) {
    return p->arena ? p->arena->bytes : 0;
}

int pg_plan_buffer_count(const pg_plan *p) {
    return p->arena ? p->arena->n : 0;
}

int pg_plan_recomputed(const pg_plan *p) {
    return p->n_nodes - p->graph_nodes;
}

int pg_plan_dispatch_count(const pg_plan *p) {
    return p->n_dispatch;
}

double pg_plan_gpu_seconds(pg_plan *p) {
    if (!p->queries) return 0;
    uint64_t t[2];
    if (pg_vk_timestamps_read(p->ctx, p->queries, 0, 2, t) != PG_OK) return 0;
    return pg_vk_timestamp_ns(&p->ctx->info, t[0], t[1]) * 1e-9;
}

int pg_plan_op_times(pg_plan *p, double ms[PG_OP_COUNT], int calls[PG_OP_COUNT]) {
    memset(ms, 0, PG_OP_COUNT * sizeof *ms);
    memset(calls, 0, PG_OP_COUNT * sizeof *calls);
    if (!p->profile_each || !p->queries) return 0;
    uint32_t n = (uint32_t)(2 * p->n_dispatch + 2);
    uint64_t *t = malloc(n * sizeof *t);
    if (!t) return 0;
    if (pg_vk_timestamps_read(p->ctx, p->queries, 0, n, t) != PG_OK) {
        free(t);
        return 0;
    }
    for (int k = 0; k < p->n_dispatch; k++) {
        int op = p->nodes[p->dispatches[k].node].op;
        ms[op] += pg_vk_timestamp_ns(&p->ctx->info, t[2 + 2 * k], t[3 + 2 * k]) * 1e-6;
        calls[op]++;
    }
    free(t);
    return 1;
}

/* PROGAN_PROFILE=2: one line per dispatch (op, output shape, pass, ms), to
 * find which node of an op family costs. */
static void profile_print_dispatches(pg_plan *p, FILE *out) {
    uint32_t n = (uint32_t)(2 * p->n_dispatch + 2);
    uint64_t *t = malloc(n * sizeof *t);
    if (!t || pg_vk_timestamps_read(p->ctx, p->queries, 0, n, t) != PG_OK) {
        free(t);
        return;
    }
    for (int k = 0; k < p->n_dispatch; k++) {
        const pg_node *node = &p->nodes[p->dispatches[k].node];
        fprintf(out, "dispatch %4d %-20s %-18s node %5d %9.3f ms\n", k, pg_ops[node->op].name,
                pg_shape_str(node->shape), p->dispatches[k].node,
                pg_vk_timestamp_ns(&p->ctx->info, t[2 + 2 * k], t[3 + 2 * k]) * 1e-6);
    }
    free(t);
}

void pg_plan_profile_print(pg_plan *p, FILE *out) {
    double per_op[PG_OP_COUNT], total = 0;
    int calls[PG_OP_COUNT];
    if (!pg_plan_op_times(p, per_op, calls)) return;
    for (int op = 0; op < PG_OP_COUNT; op++) total += per_op[op];
    fprintf(out, "%-22s %8s %12s %7s\n", "op", "calls", "ms", "share");
    for (int op = 0; op < PG_OP_COUNT; op++)
        if (calls[op])
            fprintf(out, "%-22s %8d %12.3f %6.1f%%\n", pg_ops[op].name, calls[op], per_op[op],
                    total > 0 ? 100.0 * per_op[op] / total : 0.0);
    fprintf(out, "%-22s %8d %12.3f\n", "total", p->n_dispatch, total);
    const char *each = getenv("PROGAN_PROFILE");
    if (each && strcmp(each, "2") == 0) profile_print_dispatches(p, out);
}
