/* test_blas_quiet.c — cr_blas_quiet (retrieval/vindex.c): OpenBLAS's
 * workers started at load are stopped (the process is back to its own
 * threads), a flat search shared out after that still gives exact
 * answers, and with one_thread every later call runs on its caller (no
 * worker comes back).  Skips where the BLAS is not OpenBLAS, where the
 * user set its thread count, or on one CPU (OpenBLAS then starts none). */
#define _GNU_SOURCE          /* RTLD_DEFAULT */
#include "retrieval.h"
#include "check.h"
#include "vec_rand.h"

#include <dirent.h>
#include <math.h>
#include <dlfcn.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#define DIM 64
#define N   4000     /* 4000 x 64 x 1: OpenBLAS shares a one-query search out */
#define K   10

static int threads(void)
{
    DIR *d = opendir("/proc/self/task");
    struct dirent *e;
    int n = 0;
    if (!d) return -1;
    while ((e = readdir(d)))
        if (e->d_name[0] != '.') n++;
    closedir(d);
    return n;
}

static float vecs[N * DIM];
static int64_t ids[N];

/* The top K by inner product, by a plain loop, against the index's answer. */
static void search_exact(cr_vindex *vi, const float *q, const char *when)
{
    int64_t got[K], want[K];
    float score[K], best[K];
    size_t n = 0;
    int i, j;
    for (j = 0; j < K; j++) { want[j] = -1; best[j] = -1e30f; }
    for (i = 0; i < N; i++) {
        float s = 0;
        for (j = 0; j < DIM; j++) s += vecs[i * DIM + j] * q[j];
        for (j = K; j > 0 && s > best[j - 1]; j--) {
            if (j < K) { best[j] = best[j - 1]; want[j] = want[j - 1]; }
        }
        if (j < K) { best[j] = s; want[j] = ids[i]; }
    }
    CHECK_OK(cr_vindex_search(vi, q, K, got, score, &n));
    CHECK_MSG(n == K, "%s: %zu hits", when, n);
    /* by score, not id: two vectors within rounding of each other may
     * come in either order */
    for (j = 0; j < K && j < (int)n; j++) {
        int64_t r = got[j] - 1000;
        float s = 0;
        for (i = 0; r >= 0 && r < N && i < DIM; i++) s += vecs[r * DIM + i] * q[i];
        CHECK_MSG(r >= 0 && r < N && fabsf(s - best[j]) < 1e-4f && fabsf(score[j] - s) < 1e-4f,
                  "%s: hit %d is %lld (%.6f), the exact top has %lld (%.6f)", when, j,
                  (long long)got[j], score[j], (long long)want[j], best[j]);
    }
}

int main(void)
{
    int (*get)(void);
    const char *tmp = getenv("CAIRN_TMP");
    char path[1024];
    cr_vindex *vi = NULL;
    float q[DIM];
    int t0, t1, i;
    *(void **)&get = dlsym(RTLD_DEFAULT, "openblas_get_num_threads");
    if (!get || !dlsym(RTLD_DEFAULT, "blas_thread_shutdown_")) {
        printf("SKIP: the BLAS linked is not OpenBLAS\n");
        return 77;
    }
    if (getenv("OPENBLAS_NUM_THREADS") || getenv("GOTO_NUM_THREADS") || getenv("OMP_NUM_THREADS")) {
        printf("SKIP: the BLAS thread count is set in the environment\n");
        return 77;
    }
    if (get() < 2) {
        printf("SKIP: OpenBLAS runs one thread here (one CPU): no workers to stop\n");
        return 77;
    }
    /* FAISS's flat search (BLAS), not cairn's int8 scan, which makes no
     * BLAS call */
    setenv("CAIRN_FAISS_SEARCH", "1", 1);
    t0 = threads();
    CHECK_MSG(t0 >= get(), "%d threads, OpenBLAS has %d", t0, get());   /* its workers and us */

    cr_blas_quiet(0);
    t1 = threads();
    CHECK_MSG(t1 == t0 - (get() - 1), "after cr_blas_quiet(0): %d threads (before: %d)", t1, t0);
    CHECK_MSG(get() > 1, "cr_blas_quiet(0) left %d BLAS threads: calls still share out", get());

    snprintf(path, sizeof path, "%s/blas-quiet-%ld.faiss", tmp ? tmp : "/tmp", (long)getpid());
    for (i = 0; i < N; i++) { rand_unit(vecs + (size_t)i * DIM, DIM); ids[i] = 1000 + i; }
    CHECK_OK(cr_vindex_create(path, "test:blas", DIM, NULL, &vi));
    if (!vi) return check_done("blas_quiet");
    CHECK_OK(cr_vindex_add(vi, N, ids, vecs));
    rand_unit(q, DIM);
    search_exact(vi, q, "workers stopped");     /* OpenBLAS starts them again as it needs */

    cr_blas_quiet(1);
    CHECK_MSG(get() == 1, "after cr_blas_quiet(1): %d BLAS threads", get());
    CHECK_MSG(threads() == t1, "after cr_blas_quiet(1): %d threads, %d expected", threads(), t1);
    for (i = 0; i < 5; i++) {
        rand_unit(q, DIM);
        search_exact(vi, q, "one thread");
    }
    CHECK_MSG(threads() == t1, "searches on one thread started workers: %d threads, %d expected",
              threads(), t1);
    cr_vindex_close(vi);
    return check_done("blas_quiet");
}
