/* bench.c — a STREAM-like copy bandwidth measurement (cl_bench_copy_gbps)
 * for `cairn model bench`: the memory bandwidth that decode is compared
 * with is measured in the same run, on the same threads count. */
#include "llm_int.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

typedef struct cp_arg {
    double *dst;
    const double *src;
    size_t n;
} cp_arg;

static void *cp_run(void *p)
{
    cp_arg *a = p;
    size_t i;
    for (i = 0; i < a->n; i++) a->dst[i] = a->src[i]; /* STREAM "Copy" kernel */
    return NULL;
}

static double secs(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec * 1e-9;
}

cl_status cl_bench_copy_gbps(size_t bytes, int n_threads, int reps, double *gbps)
{
    size_t n = bytes / sizeof(double), i;
    double *a, *b, best = 0.0;
    pthread_t th[64];
    cp_arg args[64];
    int r, t;
    *gbps = 0.0;
    if (n_threads < 1) n_threads = 1;
    if (n_threads > 64) n_threads = 64;
    if (reps < 1) reps = 1;
    if (!(a = malloc(n * sizeof *a)) || !(b = malloc(n * sizeof *b))) {
        free(a);
        return cl_err(CL_ERR_NOMEM, "bench: out of memory for two arrays of %zu bytes", bytes);
    }
    for (i = 0; i < n; i++) a[i] = (double)i, b[i] = 0.0; /* touch every page first */
    for (r = 0; r < reps; r++) {
        double t0 = secs(), dt;
        int started = 0;
        for (t = 0; t < n_threads; t++) {
            size_t lo = n * (size_t)t / (size_t)n_threads, hi = n * (size_t)(t + 1) / (size_t)n_threads;
            args[t].dst = b + lo;
            args[t].src = a + lo;
            args[t].n = hi - lo;
            if (t == 0) continue;
            if (pthread_create(&th[t], NULL, cp_run, &args[t])) break;
            started = t;
        }
        cp_run(&args[0]);
        for (t = 1; t <= started; t++) pthread_join(th[t], NULL);
        for (t = started + 1; t < n_threads; t++) cp_run(&args[t]); /* threads that did not start */
        dt = secs() - t0;
        if (dt > 0 && 2.0 * (double)(n * sizeof(double)) / dt > best) best = 2.0 * (double)(n * sizeof(double)) / dt;
    }
    *gbps = best / 1e9; /* bytes read + bytes written, as STREAM counts them */
    free(a);
    free(b);
    return CL_OK;
}
