/* src/dist: data parallelism over Open MPI. Starts MPI only when a launcher
 * (mpirun, srun) started this process, so a plain `progan train` has no MPI
 * side effects; owns the rank/host table, a fixed-order (bitwise reproducible)
 * sum of one float buffer, small agreements, and fault reports that name the
 * rank and host. Calls only src/base and MPI. */
#ifndef PROGAN_DIST_H
#define PROGAN_DIST_H

#include "base/base.h"

/* Starts MPI when launched by mpirun/srun (OMPI_COMM_WORLD_SIZE, PMIX_RANK,
 * PMI_RANK or SLURM_NTASKS > 1 in the environment); otherwise a no-op and the
 * process is rank 0 of 1. cancel: a flag (the Ctrl-C/SIGTERM one) that ends
 * any wait for other ranks with PG_ERR_INTERRUPTED. */
pg_status pg_dist_init(volatile const int *cancel);
/* Ends MPI; failed != 0 after an error that other ranks may not know about
 * aborts the job so that no rank waits for this one. */
void pg_dist_finalize(int failed);
int pg_dist_active(void); /* MPI was started (even with one rank) */
int pg_dist_rank(void);
int pg_dist_size(void);
int pg_dist_local_rank(void); /* among the ranks of this host */
int pg_dist_local_size(void);
const char *pg_dist_host(int rank);

/* buf[0..n) = scale * (sum over ranks of buf, added in rank order 0, 1, ...):
 * the same bits on every rank and in every run, whatever the timing
 * (reduce-scatter then allgather, each rank adding its slice in rank order). */
pg_status pg_dist_sum_floats(float *buf, size_t n, float scale);
/* v[0..n) = the sum over ranks in rank order (small vectors: statistics). */
pg_status pg_dist_sum_doubles(double *v, int n);
/* Every rank gets root's bytes. */
pg_status pg_dist_broadcast(void *buf, size_t bytes, int root);
/* Largest value over ranks (a stop request seen by any rank stops all). */
pg_status pg_dist_max_int(int *v);
/* Every rank passes its own status of a step that may fail locally (creating
 * the device, opening files); PG_OK on all ranks when every rank succeeded,
 * otherwise the same error everywhere, naming the first failing rank, its host
 * and its message. */
pg_status pg_dist_agree(pg_status mine);
/* Compares a hash over ranks; an error naming the ranks that differ. */
pg_status pg_dist_check_same(uint64_t hash, const char *what);
/* Set when the current error was reported to every rank (pg_dist_agree), so
 * only rank 0 needs to print it. */
int pg_dist_error_is_shared(void);

#endif
