/* src/dist: Open MPI behind a small interface (dist.h). Every exchange is
 * point to point with non-blocking requests that this file polls, so a wait
 * for another rank ends on Ctrl-C/SIGTERM (what mpirun sends when a rank
 * dies), on an MPI error (MPI_ERRORS_RETURN) or after $PROGAN_DIST_TIMEOUT
 * seconds, with a message naming the rank and host it waited for. */
#include "dist/dist.h"

#include <mpi.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <errno.h>
#include <sched.h>
#include <signal.h>
#include <unistd.h>

#define HOST_LEN  64
#define TAG_SLICE 101
#define TAG_SUM   102
#define TAG_ALL   103
#define TAG_BCAST 104

static struct {
    int active, rank, size, local_rank, local_size, shared_error;
    double timeout;
    volatile const int *cancel;
    char (*hosts)[HOST_LEN];
    int *pids;
    float *scratch;
    size_t scratch_floats;
} dist = {.size = 1, .local_size = 1, .timeout = 1800};

int pg_dist_active(void) {
    return dist.active;
}
int pg_dist_rank(void) {
    return dist.rank;
}
int pg_dist_size(void) {
    return dist.size;
}
int pg_dist_local_rank(void) {
    return dist.local_rank;
}
int pg_dist_local_size(void) {
    return dist.local_size;
}
int pg_dist_error_is_shared(void) {
    return dist.shared_error;
}
const char *pg_dist_host(int rank) {
    return dist.hosts && rank >= 0 && rank < dist.size ? dist.hosts[rank] : "localhost";
}

/* Launched by a launcher that MPI_Init can talk to. */
static int launched(void) {
    const char *vars[] = {"OMPI_COMM_WORLD_SIZE", "PMIX_RANK", "PMI_RANK"};
    for (size_t i = 0; i < PG_ARRAY_LEN(vars); i++)
        if (getenv(vars[i])) return 1;
    const char *tasks = getenv("SLURM_NTASKS");
    return tasks && atoi(tasks) > 1;
}

static pg_status mpi_fail(int err, const char *call) {
    char text[MPI_MAX_ERROR_STRING] = "";
    int len = 0;
    MPI_Error_string(err, text, &len);
    return PG_FAIL(PG_ERR_IO, "rank %d on %s: %s failed: %s", dist.rank, pg_dist_host(dist.rank),
                   call, text);
}

/* A rank on this host whose process is gone (or a zombie): it died. Ranks on
 * other hosts are only known dead through the launcher's signal or a timeout. */
static int peer_dead(int p) {
    if (!dist.pids || strcmp(dist.hosts[p], dist.hosts[dist.rank])) return 0;
    if (kill(dist.pids[p], 0) != 0 && errno == ESRCH) return 1;
    char path[64], line[256];
    snprintf(path, sizeof path, "/proc/%d/stat", dist.pids[p]);
    FILE *f = fopen(path, "r");
    if (!f) return 0;
    int zombie = fgets(line, sizeof line, f) && strstr(line, ") Z ") != NULL;
    fclose(f);
    return zombie;
}

/* Polls requests (req[i] exchanges with rank peer[i]) until all complete. */
static pg_status wait_all(MPI_Request *req, const int *peer, int n, const char *what) {
    double start = pg_time_now(), cancel_at = 0;
    for (long spin = 0;; spin++) {
        int pending = -1;
        for (int i = 0; i < n; i++) {
            if (req[i] == MPI_REQUEST_NULL) continue;
            int done = 0, err = MPI_Test(&req[i], &done, MPI_STATUS_IGNORE);
            if (err != MPI_SUCCESS) return mpi_fail(err, what);
            if (!done && pending < 0) pending = i;
        }
        if (pending < 0) return PG_OK;
        int p = peer[pending];
        double waited = pg_time_now() - start;
        if ((spin & 1023) == 1023 && peer_dead(p))
            return PG_FAIL(PG_ERR_IO,
                           "rank %d on %s: rank %d on %s (pid %d) died while this "
                           "rank waited for it (%s)",
                           dist.rank, pg_dist_host(dist.rank), p, pg_dist_host(p), dist.pids[p],
                           what);
        /* Ctrl-C reaches every rank: give the others time to reach the stop */
        if (dist.cancel && *dist.cancel && cancel_at == 0) cancel_at = pg_time_now();
        if (cancel_at > 0 && pg_time_now() - cancel_at > 30)
            return PG_FAIL(PG_ERR_IO,
                           "rank %d on %s: stopped while waiting for rank %d on %s (%s): that "
                           "rank died, failed or was stopped; the launcher's message names it",
                           dist.rank, pg_dist_host(dist.rank), p, pg_dist_host(p), what);
        if (waited > dist.timeout)
            return PG_FAIL(PG_ERR_IO,
                           "rank %d on %s: no answer from rank %d on %s within %.0f s (%s): "
                           "that rank hangs or died (PROGAN_DIST_TIMEOUT sets the limit)",
                           dist.rank, pg_dist_host(dist.rank), p, pg_dist_host(p), dist.timeout,
                           what);
        /* progress needs frequent MPI_Test calls while data flows; a long wait
         * (a slower rank still computing) lets the CPU go */
        if (waited < 2.0)
            sched_yield();
        else
            usleep(500);
    }
}

/* all[r * bytes ..] = rank r's mine, on every rank. */
static pg_status exchange_all(const void *mine, void *all, int bytes, const char *what) {
    memcpy((char *)all + (size_t)dist.rank * bytes, mine, (size_t)bytes);
    if (dist.size == 1) return PG_OK;
    int n = 2 * (dist.size - 1), k = 0;
    MPI_Request *req = malloc((size_t)n * sizeof *req);
    int *peer = malloc((size_t)n * sizeof *peer);
    if (!req || !peer) {
        free(req), free(peer);
        return PG_FAIL(PG_ERR_OUT_OF_MEMORY, "out of host memory");
    }
    for (int p = 0; p < dist.size; p++) {
        if (p == dist.rank) continue;
        MPI_Irecv((char *)all + (size_t)p * bytes, bytes, MPI_BYTE, p, TAG_ALL, MPI_COMM_WORLD,
                  &req[k]);
        peer[k++] = p;
        MPI_Isend(mine, bytes, MPI_BYTE, p, TAG_ALL, MPI_COMM_WORLD, &req[k]);
        peer[k++] = p;
    }
    pg_status st = wait_all(req, peer, n, what);
    free(req), free(peer);
    return st;
}

typedef struct {
    char host[HOST_LEN];
    int pid;
} host_row;

/* Host names and process ids of every rank; the local rank counts earlier
 * ranks on this host. */
static pg_status hosts_exchange(void) {
    host_row mine = {.pid = (int)getpid()};
    int len = 0;
    char name[MPI_MAX_PROCESSOR_NAME];
    MPI_Get_processor_name(name, &len);
    snprintf(mine.host, sizeof mine.host, "%.*s", len, name);
    host_row *all = calloc((size_t)dist.size, sizeof *all);
    dist.hosts = calloc((size_t)dist.size, HOST_LEN);
    if (!all || !dist.hosts) return free(all), PG_FAIL(PG_ERR_OUT_OF_MEMORY, "out of host memory");
    pg_status st = exchange_all(&mine, all, (int)sizeof mine, "exchanging host names");
    for (int r = 0; st == PG_OK && r < dist.size; r++) memcpy(dist.hosts[r], all[r].host, HOST_LEN);
    dist.pids = st == PG_OK ? malloc((size_t)dist.size * sizeof *dist.pids) : NULL;
    for (int r = 0; dist.pids && r < dist.size; r++) dist.pids[r] = all[r].pid;
    free(all);
    PG_TRY(st);
    dist.local_rank = dist.local_size = 0;
    for (int r = 0; r < dist.size; r++)
        if (!strcmp(dist.hosts[r], mine.host)) {
            if (r < dist.rank) dist.local_rank++;
            dist.local_size++;
        }
    return PG_OK;
}

pg_status pg_dist_init(volatile const int *cancel) {
    dist.cancel = cancel;
    const char *t = getenv("PROGAN_DIST_TIMEOUT");
    if (t && atof(t) > 0) dist.timeout = atof(t);
    if (dist.active || !launched()) return PG_OK;
    int provided = 0;
    if (MPI_Init_thread(NULL, NULL, MPI_THREAD_FUNNELED, &provided) != MPI_SUCCESS)
        return PG_FAIL(PG_ERR_IO, "MPI_Init failed: start progan with mpirun or srun, or "
                                  "without them for one process");
    dist.active = 1;
    MPI_Comm_set_errhandler(MPI_COMM_WORLD, MPI_ERRORS_RETURN);
    MPI_Comm_rank(MPI_COMM_WORLD, &dist.rank);
    MPI_Comm_size(MPI_COMM_WORLD, &dist.size);
    return hosts_exchange();
}

void pg_dist_finalize(int failed) {
    if (!dist.active) return;
    if (failed && !dist.shared_error && dist.size > 1)
        MPI_Abort(MPI_COMM_WORLD, 1); /* the others may be waiting for this rank */
    MPI_Finalize();
    dist.active = 0;
    free(dist.hosts), free(dist.scratch), free(dist.pids);
    dist.hosts = NULL, dist.pids = NULL, dist.scratch = NULL, dist.scratch_floats = 0;
}

static size_t slice_begin(size_t n, int r) {
    return n * (size_t)r / (size_t)dist.size;
}

/* Phase one of the sum: every rank receives its slice from every other rank. */
static pg_status slices_gather(const float *buf, size_t n, float *into, MPI_Request *req,
                               int *peer) {
    size_t b = slice_begin(n, dist.rank), len = slice_begin(n, dist.rank + 1) - b;
    int k = 0;
    for (int p = 0; p < dist.size; p++) {
        if (p == dist.rank) continue;
        size_t pb = slice_begin(n, p), plen = slice_begin(n, p + 1) - pb;
        MPI_Irecv(into + (size_t)p * len, (int)len, MPI_FLOAT, p, TAG_SLICE, MPI_COMM_WORLD,
                  &req[k]);
        peer[k++] = p;
        MPI_Isend(buf + pb, (int)plen, MPI_FLOAT, p, TAG_SLICE, MPI_COMM_WORLD, &req[k]);
        peer[k++] = p;
    }
    return wait_all(req, peer, k, "summing gradients");
}

/* Phase two: every rank sends its summed slice to every other rank. */
static pg_status slices_share(float *buf, size_t n, MPI_Request *req, int *peer) {
    size_t b = slice_begin(n, dist.rank), len = slice_begin(n, dist.rank + 1) - b;
    int k = 0;
    for (int p = 0; p < dist.size; p++) {
        if (p == dist.rank) continue;
        size_t pb = slice_begin(n, p), plen = slice_begin(n, p + 1) - pb;
        MPI_Irecv(buf + pb, (int)plen, MPI_FLOAT, p, TAG_SUM, MPI_COMM_WORLD, &req[k]);
        peer[k++] = p;
        MPI_Isend(buf + b, (int)len, MPI_FLOAT, p, TAG_SUM, MPI_COMM_WORLD, &req[k]);
        peer[k++] = p;
    }
    return wait_all(req, peer, k, "sharing summed gradients");
}

pg_status pg_dist_sum_floats(float *buf, size_t n, float scale) {
    if (dist.size == 1) {
        if (scale != 1.0f)
            for (size_t i = 0; i < n; i++) buf[i] *= scale;
        return PG_OK;
    }
    if (n / (size_t)dist.size + 1 > (size_t)1 << 30)
        return PG_FAIL(PG_ERR_UNSUPPORTED, "a gradient buffer of %zu floats is too large to sum",
                       n);
    size_t b = slice_begin(n, dist.rank), len = slice_begin(n, dist.rank + 1) - b;
    if (dist.scratch_floats < len * (size_t)dist.size) {
        free(dist.scratch);
        dist.scratch_floats = len * (size_t)dist.size;
        dist.scratch = malloc(dist.scratch_floats * sizeof(float) + 1);
        if (!dist.scratch) return PG_FAIL(PG_ERR_OUT_OF_MEMORY, "out of host memory");
    }
    int n_req = 2 * (dist.size - 1);
    MPI_Request *req = malloc((size_t)n_req * sizeof *req);
    int *peer = malloc((size_t)n_req * sizeof *peer);
    pg_status st = req && peer ? PG_OK : PG_FAIL(PG_ERR_OUT_OF_MEMORY, "out of host memory");
    if (st == PG_OK) st = slices_gather(buf, n, dist.scratch, req, peer);
    if (st == PG_OK) {
        float *mine = buf + b;
        for (size_t i = 0; i < len; i++) { /* rank order: 0 + 1 + 2 + ... */
            float s = dist.rank == 0 ? mine[i] : dist.scratch[i];
            for (int p = 1; p < dist.size; p++)
                s += p == dist.rank ? mine[i] : dist.scratch[(size_t)p * len + i];
            mine[i] = s * scale;
        }
        st = slices_share(buf, n, req, peer);
    }
    free(req), free(peer);
    return st;
}

pg_status pg_dist_sum_doubles(double *v, int n) {
    if (dist.size == 1) return PG_OK;
    double *all = malloc((size_t)n * dist.size * sizeof *all);
    if (!all) return PG_FAIL(PG_ERR_OUT_OF_MEMORY, "out of host memory");
    pg_status st = exchange_all(v, all, n * (int)sizeof *v, "summing statistics");
    for (int i = 0; st == PG_OK && i < n; i++) {
        double s = all[i];
        for (int r = 1; r < dist.size; r++) s += all[(size_t)r * n + i];
        v[i] = s;
    }
    free(all);
    return st;
}

pg_status pg_dist_max_int(int *v) {
    if (dist.size == 1) return PG_OK;
    int *all = malloc((size_t)dist.size * sizeof *all);
    if (!all) return PG_FAIL(PG_ERR_OUT_OF_MEMORY, "out of host memory");
    pg_status st = exchange_all(v, all, (int)sizeof *v, "agreeing on a stop");
    for (int r = 0; st == PG_OK && r < dist.size; r++) *v = PG_MAX(*v, all[r]);
    free(all);
    return st;
}

pg_status pg_dist_broadcast(void *buf, size_t bytes, int root) {
    if (dist.size == 1) return PG_OK;
    if (bytes > (size_t)1 << 30) return PG_FAIL(PG_ERR_UNSUPPORTED, "broadcast too large");
    int n = dist.rank == root ? dist.size - 1 : 1, k = 0;
    MPI_Request *req = malloc((size_t)n * sizeof *req);
    int *peer = malloc((size_t)n * sizeof *peer);
    if (!req || !peer) {
        free(req), free(peer);
        return PG_FAIL(PG_ERR_OUT_OF_MEMORY, "out of host memory");
    }
    for (int p = 0; p < dist.size; p++) {
        if (p == dist.rank || (dist.rank != root && p != root)) continue;
        if (dist.rank == root)
            MPI_Isend(buf, (int)bytes, MPI_BYTE, p, TAG_BCAST, MPI_COMM_WORLD, &req[k]);
        else
            MPI_Irecv(buf, (int)bytes, MPI_BYTE, p, TAG_BCAST, MPI_COMM_WORLD, &req[k]);
        peer[k++] = p;
    }
    pg_status st = wait_all(req, peer, k, "broadcasting");
    free(req), free(peer);
    return st;
}

typedef struct {
    int status;
    char message[1020];
} agree_row;

pg_status pg_dist_agree(pg_status mine) {
    if (dist.size == 1) return mine;
    agree_row row = {.status = mine}, *all = malloc((size_t)dist.size * sizeof *all);
    if (!all) return PG_FAIL(PG_ERR_OUT_OF_MEMORY, "out of host memory");
    if (mine != PG_OK) snprintf(row.message, sizeof row.message, "%s", pg_error_message());
    pg_status st = exchange_all(&row, all, (int)sizeof row, "agreeing on a status");
    for (int r = 0; st == PG_OK && r < dist.size; r++)
        if (all[r].status != PG_OK) {
            st = PG_FAIL((pg_status)all[r].status, "rank %d on %s failed: %s", r, pg_dist_host(r),
                         all[r].message);
            dist.shared_error = 1;
        }
    free(all);
    return st;
}

pg_status pg_dist_check_same(uint64_t hash, const char *what) {
    if (dist.size == 1) return PG_OK;
    uint64_t *all = malloc((size_t)dist.size * sizeof *all);
    if (!all) return PG_FAIL(PG_ERR_OUT_OF_MEMORY, "out of host memory");
    pg_status st = exchange_all(&hash, all, (int)sizeof hash, "comparing parameter hashes");
    for (int r = 1; st == PG_OK && r < dist.size; r++)
        if (all[r] != all[0]) {
            st = PG_FAIL(PG_ERR_INVALID,
                         "%s of rank %d on %s (hash %016llx) differ from rank 0's on %s "
                         "(%016llx): the replicas diverged (different devices or drivers?); "
                         "resume from the last checkpoint on identical devices",
                         what, r, pg_dist_host(r), (unsigned long long)all[r], pg_dist_host(0),
                         (unsigned long long)all[0]);
            dist.shared_error = 1;
        }
    free(all);
    return st;
}
