/* tests/ref: the float64 CPU reference of every op, written as plain loops from
 * the definitions (never from the shaders), and an interpreter that evaluates a
 * whole pg_graph with them. Finite differences and device checks use it. */
#ifndef PROGAN_TESTS_REF_H
#define PROGAN_TESTS_REF_H

#include "graph/graph.h"

/* values[i] is node i's float64 data (NHWC), or NULL for ops without output.
 * Leaves (INPUT and EXTERNAL) are copied from leaf_values[i], which the caller
 * fills; ADAM and EMA update those leaf arrays in place, as the device does. */
typedef struct {
    int count;
    double **values;
    char *owned; /* values[i] was allocated by ref_eval (not a leaf) */
} ref_values;

/* Evaluates every node of g. Returns 0, or -1 with a message on stderr. */
int ref_eval(const pg_graph *g, double **leaf_values, ref_values *out);
void ref_values_free(ref_values *v);
/* The same with every node's values rounded to float32 as soon as computed: a
 * straightforward float32 evaluation, the yardstick for the device's rounding. */
int ref_eval_float32(const pg_graph *g, double **leaf_values, ref_values *out);

/* One op on float64 arrays: out has the node's shape; in[k] its inputs' data. */
typedef void (*ref_op_fn)(const pg_graph *g, const pg_node *n, double *out, double **in);
extern const ref_op_fn ref_ops[PG_OP_COUNT];

#endif
