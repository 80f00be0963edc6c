/* Kernel variants of the conv family and matmul: which kernel runs (by device
 * class and limits, or $PROGAN_CONV so tests can select each one), and the
 * dispatch of the GPU-class shared-memory implicit GEMM (shaders/gemm_tiled.comp)
 * with its block shape and deterministic split-K. Called from op_conv.c. */
#include "graph/ops.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Block shapes of gemm_tiled.comp: BM x BN outputs per workgroup, TM x TN per
 * invocation ((BM/TM) * (BN/TN) invocations). */
typedef struct {
    const char *name;
    uint32_t bm, bn, tm, tn;
} gemm_shape;

static const gemm_shape gemm_shapes[] = {
    {"128x128", 128, 128, 8, 8}, /* large layers: 64 FMAs per 16 shared-memory reads */
    {"64x64", 64, 64, 4, 4},     /* medium layers, or to make more workgroups */
    {"128x32", 128, 32, 8, 4},   /* skinny: many pixels, 16-32 channels */
    {"32x32", 32, 32, 4, 4},     /* small: 4x4 layers, dense layers, weight grads */
};
#define GEMM_SHAPES ((int)(sizeof gemm_shapes / sizeof gemm_shapes[0]))

/* Workgroups per compute unit that split-K aims for, and the compute-unit count
 * assumed when the driver does not say (no VK_NV_shader_sm_builtins or
 * VK_AMD_shader_core_properties): 32, a mid-range discrete GPU. */
#define GEMM_GROUPS_PER_CU 2
#define GEMM_DEFAULT_CUS   32
#define GEMM_MAX_SPLITS    64

static const char *const kind_names[] = {"register", "tiled", "general"};

/* Parses "tiled[:SHAPE[:SPLITS]]" after the kind name. */
static pg_status parse_tiled(const char *v, pg_gemm_choice *c) {
    const char *rest = v + strlen("tiled");
    if (*rest == 0) return PG_OK;
    if (*rest != ':') return PG_FAIL(PG_ERR_INVALID, "PROGAN_CONV=%s: expected tiled:SHAPE", v);
    rest++;
    for (int i = 0; i < GEMM_SHAPES; i++) {
        size_t len = strlen(gemm_shapes[i].name);
        if (strncmp(rest, gemm_shapes[i].name, len) || (rest[len] && rest[len] != ':')) continue;
        c->shape = i;
        if (rest[len] == 0) return PG_OK;
        char *end;
        long s = strtol(rest + len + 1, &end, 10);
        if (*end || s < 1 || s > GEMM_MAX_SPLITS)
            return PG_FAIL(PG_ERR_INVALID, "PROGAN_CONV=%s: split-K must be 1..%d", v,
                           GEMM_MAX_SPLITS);
        c->splits = (int)s;
        return PG_OK;
    }
    return PG_FAIL(PG_ERR_INVALID,
                   "PROGAN_CONV=%s: unknown block shape (use 128x128, 64x64, 128x32 or 32x32)", v);
}

/* Parses "register[:texel|:storage][:TMxTN]" (or winograd[...]) after the kind
 * name, which is `skip` characters long. */
static pg_status parse_register(const char *v, size_t skip, pg_gemm_choice *c) {
    const char *rest = v + skip;
    while (*rest == ':') {
        rest++;
        size_t len = strcspn(rest, ":");
        unsigned tm, tn;
        char tail;
        if (len == 5 && !strncmp(rest, "texel", 5))
            c->loads = PG_LOADS_TEXEL;
        else if (len == 7 && !strncmp(rest, "storage", 7))
            c->loads = PG_LOADS_STORAGE;
        else if (sscanf(rest, "%ux%u%c", &tm, &tn, &tail) >= 2 && (tail == ':' || !rest[len]) &&
                 tm >= 1 && tm <= 16 && !(tm & (tm - 1)) && tn >= 1 && tn <= 32 && !(tn & (tn - 1)))
            c->tm = tm, c->tn = tn;
        else
            break;
        rest += len;
    }
    if (*rest == 0) return PG_OK;
    return PG_FAIL(PG_ERR_INVALID,
                   "PROGAN_CONV=%s: expected register|winograd[:texel|:storage][:TMxTN] with TM "
                   "and TN powers of 2, TM up to 16, TN up to 32 (e.g. register:texel:8x32)",
                   v);
}

pg_status pg_gemm_choose(const pg_vk_info *info, pg_gemm_choice *c) {
    const char *v = getenv("PROGAN_CONV");
    c->shape = -1;
    c->splits = 0;
    c->loads = PG_LOADS_AUTO;
    c->tm = c->tn = 0;
    c->winograd = 0;
    /* CPU drivers: the register-blocked kernels (tuned on lavapipe); GPUs: tiled */
    c->kind = info->type == VK_PHYSICAL_DEVICE_TYPE_CPU ? PG_GEMM_REGISTER : PG_GEMM_TILED;
    if (!v || !*v || !strcmp(v, "auto")) return PG_OK;
    if (!strncmp(v, "register", 8)) return c->kind = PG_GEMM_REGISTER, parse_register(v, 8, c);
    if (!strncmp(v, "winograd", 8)) /* the register kind, with 3x3 layers on Winograd */
        return c->kind = PG_GEMM_REGISTER, c->winograd = 1, parse_register(v, 8, c);
    if (!strcmp(v, "general")) return c->kind = PG_GEMM_GENERAL, PG_OK;
    if (!strncmp(v, "tiled", 5)) return c->kind = PG_GEMM_TILED, parse_tiled(v, c);
    return PG_FAIL(PG_ERR_INVALID,
                   "PROGAN_CONV=%s: expected auto, register[:LOADS][:TMxTN], "
                   "winograd[:LOADS][:TMxTN], general or tiled[:SHAPE[:SPLITS]]",
                   v);
}

const char *pg_gemm_kind_name(pg_gemm_kind k) {
    return kind_names[k];
}

static uint64_t ceil_div(uint64_t a, uint64_t b) {
    return (a + b - 1) / b;
}

/* Whether a shape's workgroup fits the device's invocation limits. */
static int shape_fits(const pg_vk_info *info, const gemm_shape *s) {
    uint32_t wg = (s->bm / s->tm) * (s->bn / s->tn);
    return wg <= info->max_workgroup_invocations && wg <= info->max_workgroup_size[0];
}

/* Block shape for an M x N output: skinny blocks for few columns, small ones
 * for small problems, and 128x128 only when it still gives every compute unit
 * a workgroup. */
static int shape_auto(const pg_vk_info *info, uint64_t m, uint64_t n, uint32_t cus) {
    int pick = 1;
    if (m <= 64 || (n <= 32 && m < 1024))
        pick = 3;
    else if (n <= 32)
        pick = 2;
    else if (ceil_div(m, 128) * ceil_div(n, 128) >= cus)
        pick = 0;
    while (pick < GEMM_SHAPES - 1 && !shape_fits(info, &gemm_shapes[pick])) pick++;
    return pick;
}

/* K step: 32 when the padded tiles fit the queried shared memory, else 16, else 8. */
static uint32_t k_step(const pg_vk_info *info, const gemm_shape *s) {
    for (uint32_t bk = 32; bk > 8; bk /= 2)
        if (4ull * bk * (s->bm + 1 + s->bn + 1) <= info->max_shared_memory) return bk;
    return 8;
}

/* Splits of K so that the grid reaches GEMM_GROUPS_PER_CU workgroups per
 * compute unit, each split keeping at least 4 K steps; and at least enough
 * splits that no split loops more than PG_MAX_LOOP_TRIPS steps. */
static uint64_t splits_auto(uint64_t tiles, uint64_t ksteps, uint32_t cus) {
    uint64_t s = 1, target = (uint64_t)cus * GEMM_GROUPS_PER_CU;
    if (tiles < target) s = ceil_div(target, tiles);
    if (s > ksteps / 4) s = ksteps / 4;
    if (s > GEMM_MAX_SPLITS) s = GEMM_MAX_SPLITS;
    if (s < 1) s = 1;
    return s;
}

pg_status pg_gemm_tiled_dispatch(const pg_vk_info *info, const pg_gemm_choice *c,
                                 const pg_gemm_problem *p, pg_dispatch *d) {
    uint32_t cus = info->compute_units ? info->compute_units : GEMM_DEFAULT_CUS;
    int si = c->shape >= 0 ? c->shape : shape_auto(info, p->m, p->n, cus);
    const gemm_shape *s = &gemm_shapes[si];
    if (!shape_fits(info, s))
        return PG_FAIL(
            PG_ERR_UNSUPPORTED, "gemm block %s needs %u invocations; device %s allows %u", s->name,
            (s->bm / s->tm) * (s->bn / s->tn), info->name, info->max_workgroup_invocations);
    uint32_t bk = k_step(info, s), wg = (s->bm / s->tm) * (s->bn / s->tn);
    uint64_t mt = ceil_div(p->m, s->bm), nt = ceil_div(p->n, s->bn), ksteps = ceil_div(p->k, bk);
    uint64_t splits = c->splits > 0 ? (uint64_t)c->splits : splits_auto(mt * nt, ksteps, cus);
    if (splits < ceil_div(ksteps, PG_MAX_LOOP_TRIPS)) splits = ceil_div(ksteps, PG_MAX_LOOP_TRIPS);
    uint64_t kchunk = ceil_div(ksteps, splits) * bk;
    splits = ceil_div(p->k, kchunk); /* no empty split */
    pg_dispatch_init(d, PG_SHADER_GEMM_TILED, 4);
    uint32_t spec[8] = {
        wg,   p->mode | p->a_kfast << 2 | p->b_nfast << 3 | p->ks << 4, s->bm, s->bn, bk, s->tm,
        s->tn};
    d->key.spec_count = 8; /* spec 7: EPI, 0 unless pg_epilogue_set */
    memcpy(d->key.spec, spec, sizeof spec);
    d->bindings[0] = p->out;
    d->bindings[1] = p->a;
    d->bindings[2] = p->b;
    d->bindings[3] = p->a; /* the epilogue's operand (pg_epilogue_set), declared either way */
    float scale = splits > 1 ? 1.0f : p->scale;
    uint32_t push[17] = {p->conv[0],       p->conv[1],     p->conv[2],
                         p->conv[3],       p->conv[4],     0,
                         (uint32_t)p->m,   (uint32_t)p->n, (uint32_t)p->k,
                         (uint32_t)kchunk, (uint32_t)mt,   (uint32_t)nt,
                         (uint32_t)splits, p->strides[0],  p->strides[1],
                         p->strides[2],    p->strides[3]};
    memcpy(&push[5], &scale, 4);
    memcpy(d->push, push, sizeof push);
    pg_dispatch_grid(info, mt * nt * splits, d->groups);
    if (splits <= 1) return PG_OK;
    d[0].bindings[0] = PG_BIND_SCRATCH;
    d[0].n_passes = 2;
    d[0].scratch_bytes = 4 * splits * p->m * p->n;
    int partial_shape[4] = {(int)splits, 1, 1, (int)(p->m * p->n)};
    pg_reduce_pass(info, &d[1], p->out, PG_BIND_SCRATCH, partial_shape, 1, p->scale, p->m * p->n,
                   splits, 1);
    return PG_OK;
}
