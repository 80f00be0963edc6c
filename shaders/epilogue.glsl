// The fused epilogue of the conv family, matmul and gemm_tiled (src/graph/fuse.c
// folds `add` and `leaky_relu` nodes into the conv/matmul node that feeds them):
//   v = scale * acc; EPI & PG_EPI_ADD: v += addend[out_index % addend_n];
//   EPI & PG_EPI_LRELU: v = v > 0 ? v : v * slope.
// The addend is a bias [1,1,1,C] (channels are innermost, so out_index % C is
// the channel) or a tensor of the output's shape (accumulating a gradient).
// The including shader declares the specialization constant EPI and the
// readonly buffer epi_addend[] (binding 3; with EPI 0 it aliases an operand).
// `precise` keeps the unfused graph's operations and order (a product rounded
// to float, a sum rounded to float, elementwise.comp's leaky_relu select)
// without fma contraction, so the fused result is bitwise the unfused one and
// the unfused graph stays the reference.
float pg_epilogue(float acc, float scale, uint out_index, float slope, uint addend_n) {
    precise float v = acc * scale;
    if ((EPI & PG_EPI_ADD) != 0u) v = v + epi_addend[out_index % addend_n];
    if ((EPI & PG_EPI_LRELU) != 0u) v = v > 0.0 ? v : v * slope;
    return v;
}
