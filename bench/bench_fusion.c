/* bench_fusion.c — RRF fusion latency: two lanes of n hits (default 100),
 * half of each lane shared with the other. Usage: bench_fusion [n] [reps] */
#include "retrieval.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int cmp_d(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

int main(int argc, char **argv)
{
    int64_t n = 100, reps = 20000;
    if (argc > 1 && cc_parse_i64(argv[1], 1, 1000000, &n) != CC_OK) { fprintf(stderr, "bad n\n"); return 2; }
    if (argc > 2 && cc_parse_i64(argv[2], 1, 100000000, &reps) != CC_OK) { fprintf(stderr, "bad reps\n"); return 2; }
    cr_hit *a = calloc((size_t)n, sizeof *a), *b = calloc((size_t)n, sizeof *b);
    /* Lane A: ids 0..n-1, lane B: ids n/2..3n/2-1, each in a shuffled order. */
    uint64_t x = 42;
    for (int64_t i = 0; i < n; i++) { a[i].chunk_id = i; b[i].chunk_id = n / 2 + i; }
    for (int64_t i = n - 1; i > 0; i--) {
        x = x * 6364136223846793005ULL + 1442695040888963407ULL;
        int64_t j = (int64_t)((x >> 33) % (uint64_t)(i + 1)), t = a[i].chunk_id;
        a[i].chunk_id = a[j].chunk_id; a[j].chunk_id = t;
        x = x * 6364136223846793005ULL + 1442695040888963407ULL;
        j = (int64_t)((x >> 33) % (uint64_t)(i + 1)); t = b[i].chunk_id;
        b[i].chunk_id = b[j].chunk_id; b[j].chunk_id = t;
    }
    for (int64_t i = 0; i < n; i++) {
        a[i].rank[CR_LANE_BM25] = (int)i + 1;
        a[i].lane_score[CR_LANE_BM25] = a[i].score = (double)(n - i);
        b[i].rank[CR_LANE_VECTOR] = (int)i + 1;
        b[i].lane_score[CR_LANE_VECTOR] = b[i].score = 1.0 - (double)i / (double)n;
    }
    const cr_hit *lanes[CR_LANE_COUNT] = { a, b };
    size_t ns[CR_LANE_COUNT] = { (size_t)n, (size_t)n };
    double *t = malloc((size_t)reps * sizeof *t);
    size_t nout = 0;
    for (int64_t r = 0; r < reps; r++) {
        cr_hit *out;
        double t0 = cc_now_ms();
        if (cr_fuse_rrf(lanes, ns, NULL, &out, &nout) != CC_OK) { fprintf(stderr, "%s\n", cc_errmsg()); return 1; }
        t[r] = (cc_now_ms() - t0) * 1000.0;
        free(out);
    }
    qsort(t, (size_t)reps, sizeof *t, cmp_d);
    double sum = 0;
    for (int64_t r = 0; r < reps; r++) sum += t[r];
    printf("fusion: 2 lanes x %lld hits -> %zu fused; %lld calls: mean %.2f us, p50 %.2f us, p99 %.2f us\n",
           (long long)n, nout, (long long)reps, sum / (double)reps, t[reps / 2], t[reps * 99 / 100]);
    free(t); free(a); free(b);
    return 0;
}
