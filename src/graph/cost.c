/* Roofline cost of graph nodes: floating-point operations and compulsory
 * device-memory bytes (every input read once, the output written once), for
 * bench_ops' fraction of peak and bench_step's predicted phase time. */
#include "graph/graph.h"

#include <math.h>
#include <string.h>

/* FP32 (non-tensor-core) peak GFLOP/s and memory GB/s from vendors' data
 * sheets, matched on the Vulkan device name; first match wins. */
typedef struct {
    const char *name;
    double gflops, gbps;
} peak_row;
static const peak_row peaks[] = {
    {"H100 PCIe", 51200, 2000}, {"H100 NVL", 60000, 3900}, {"H100", 66900, 3350},
    {"H200", 66900, 4800},      {"A100", 19500, 2039},     {"L40S", 91600, 864},
    {"RTX 4090", 82600, 1008},
};

int pg_device_peak(const char *device, double *gflops, double *gbps) {
    for (size_t i = 0; i < sizeof peaks / sizeof peaks[0]; i++)
        if (strstr(device, peaks[i].name)) {
            *gflops = peaks[i].gflops;
            *gbps = peaks[i].gbps;
            return 1;
        }
    *gflops = *gbps = 0;
    return 0;
}

/* Multiply-adds count 2; the conv family and matmul dominate, every other op
 * is counted as one operation per output element (they are memory bound). */
void pg_node_cost(const pg_graph *g, pg_tensor t, double *flops, double *bytes) {
    const pg_node *n = &g->nodes[t];
    *flops = 0;
    *bytes = 0;
    if (n->op == PG_OP_INPUT || n->op == PG_OP_EXTERNAL || n->op == PG_OP_RESHAPE ||
        n->op == PG_OP_PACK)
        return;
    for (int i = 0; i < n->n_inputs; i++) *bytes += 4.0 * (double)pg_tensor_numel(g, n->inputs[i]);
    double out = (double)pg_tensor_numel(g, t);
    *bytes += 4.0 * out;
    *flops = out;
    const int *a = g->nodes[n->inputs[0]].shape,
              *b = n->n_inputs > 1 ? g->nodes[n->inputs[1]].shape : a;
    if (n->op == PG_OP_CONV2D) /* y [N,Ho,Wo,Co], w [kh,kw,Ci,Co] */
        *flops = 2.0 * out * b[0] * b[1] * b[2];
    else if (n->op == PG_OP_CONV2D_INPUT_GRAD) /* dy [N,Ho,Wo,Co], w [kh,kw,Ci,Co] */
        *flops = 2.0 * (double)pg_tensor_numel(g, n->inputs[0]) * b[0] * b[1] * b[2];
    else if (n->op == PG_OP_CONV2D_WEIGHT_GRAD) /* dw [kh,kw,Ci,Co] over dy [N,Ho,Wo,Co] */
        *flops = 2.0 * out * b[0] * b[1] * b[2];
    else if (n->op == PG_OP_MATMUL) { /* out [M,1,1,N], K = the reduced size */
        int ta = n->iparams[0] != 0;
        double k = ta ? (double)a[0] * a[1] * a[2] : a[3];
        *flops = 2.0 * out * k;
    }
}

double pg_graph_roofline_seconds(const pg_graph *g, double gflops, double gbps) {
    double total = 0;
    for (pg_tensor t = 0; t < g->count; t++) {
        double flops, bytes;
        pg_node_cost(g, t, &flops, &bytes);
        if (bytes > 0) total += fmax(flops / (gflops * 1e9), bytes / (gbps * 1e9));
    }
    return total;
}
