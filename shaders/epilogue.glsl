// The fused epilogue of the conv family, matmul, gemm_tiled and reduce
// (src/graph/fuse.c folds the `add`, `leaky_relu` or `leaky_relu_grad` node
// that reads a kernel's output into the kernel's final store):
//   v = scale * acc;
//   EPI & PG_EPI_ADD:   v += aux[out_index % aux_n];  (% by aux_div, pg_fastdiv's
//                       pair for aux_n: lavapipe divides lane by lane)
//   EPI & PG_EPI_LRELU: v = v > 0 ? v : v * slope;
//   EPI & PG_EPI_GATE:  v = aux[out_index] > 0 ? v : v * slope (leaky_relu_grad
//                       of v, gated by the leaky_relu output aux; never with ADD).
// An added aux is a bias [1,1,1,C] (channels are innermost, so out_index % C is
// the channel) or a tensor of the output's shape (a gradient accumulated).
// The including shader declares the specialization constant EPI and the
// readonly buffer epi_aux[] (with EPI 0 it aliases an operand, never read).
// `precise` keeps the unfused graph's operations and order (a product rounded
// to float, a sum rounded to float, elementwise.comp's selects) without fma
// contraction, so the fused result is bitwise the unfused one and the unfused
// graph stays the reference.
float pg_epilogue(float acc, float scale, uint out_index, float slope, uint aux_n, uvec2 aux_div) {
    precise float v = acc * scale;
    uint aux_at = (EPI & (PG_EPI_ADD | PG_EPI_GATE)) != 0u
                      ? out_index - pg_fastdiv(out_index, aux_div) * aux_n : 0u;
    if ((EPI & PG_EPI_ADD) != 0u) v = v + epi_aux[aux_at];
    if ((EPI & PG_EPI_LRELU) != 0u) v = v > 0.0 ? v : v * slope;
    if ((EPI & PG_EPI_GATE) != 0u) v = epi_aux[aux_at] > 0.0 ? v : v * slope;
    return v;
}
