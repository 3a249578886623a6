/* bench_hnswadd.c — what an HNSW insert costs the writer, and what the
 * inserted vectors do to recall (docs/benchmarks.md, "HNSW inserts
 * (hnswinsert, issue 7)").
 *
 *   bench_hnswadd KBDIR [adds=2000] [batch=30] [queries=500]
 *
 * KBDIR: a KB whose vectors.faiss is HNSW and caught up to its catalog
 * (opened read-only; nothing is written). The index is loaded twice: once
 * with CAIRN_HNSW_ADD=faiss in the environment (FAISS's own insert), once
 * without it (cairn's, retrieval/faiss_simd.cpp). `adds` new documents
 * like the ones bench/serve_writer_cpu.sh posts ("Load document i about wA
 * and wB.") are embedded with the KB's embedder and added to both, `batch`
 * at a time (the server's catch-ups add ~30), alternating between the two
 * so that both see the same machine load; each batch's thread CPU time is
 * summed (OpenMP at one thread, as the server's writer).
 *
 * Then, for each index, walk recall@10 at the KB's efSearch (the default
 * 128) against an exact flat index over every chunk plus the new vectors,
 * for two query sets: the new vectors themselves (are they found?) and
 * `queries` general queries (bench/serve_load.sh's, or BENCH_QUERIES=FILE).
 * BENCH_HNSWADD_ONLY=faiss|cairn runs one of the two (for perf/callgrind).
 */
#include "retrieval.h"
#include "bench_kb.h"

#include <faiss/c_api/Index_c.h>
#include <faiss/c_api/error_c.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define K 10

/* retrieval/faiss_simd.cpp */
void cr_faiss_hnsw_add_stats(uint64_t *computed, uint64_t *skipped);

static double thread_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

static int overlap(const int64_t *a, size_t na, const int64_t *b, size_t nb)
{
    int c = 0;
    for (size_t i = 0; i < na; i++)
        for (size_t j = 0; j < nb; j++)
            if (a[i] == b[j]) { c++; break; }
    return c;
}

/* Mean recall@K of vi over nq queries q against exact ids xid (K a query). */
static double recall(cr_vindex *vi, const float *q, int64_t nq, int d, const int64_t *xid,
                     int64_t *found_self, const int64_t *self_ids)
{
    double r = 0;
    for (int64_t i = 0; i < nq; i++) {
        int64_t ids[K];
        float sc[K];
        size_t n = 0;
        if (cr_vindex_search(vi, q + i * d, K, ids, sc, &n) != CC_OK)
            bench_die("search", cr_vindex_errmsg(vi));
        size_t want = 0;
        while (want < K && xid[i * K + want] >= 0) want++;
        r += want ? (double)overlap(ids, n, xid + i * K, want) / (double)want : 1;
        if (self_ids)
            for (size_t j = 0; j < n; j++)
                if (ids[j] == self_ids[i]) { (*found_self)++; break; }
    }
    return r / (double)nq;
}

int main(int argc, char **argv)
{
    int64_t N = 2000, B = 30, Q = 500;
    if (argc < 2 || (argc > 2 && cc_parse_i64(argv[2], 1, 1000000, &N)) ||
        (argc > 3 && cc_parse_i64(argv[3], 1, 100000, &B)) ||
        (argc > 4 && cc_parse_i64(argv[4], 1, 1000000, &Q))) {
        fprintf(stderr, "usage: bench_hnswadd KBDIR [adds=2000] [batch=30] [queries=500]\n");
        return 2;
    }
    const char *only = getenv("BENCH_HNSWADD_ONLY");
    int run[2] = { !only || !strcmp(only, "faiss"), !only || !strcmp(only, "cairn") };
    if (!run[0] && !run[1]) bench_die("BENCH_HNSWADD_ONLY", "faiss or cairn");
    const char *name[2] = { "FAISS add", "cairn add" };
    cc_kb *kb;
    cr_embedder *e;
    cc_buf path = CC_BUF_INIT(0);
    if (cc_kb_open(argv[1], CC_KB_READ, &kb) != CC_OK) bench_die(argv[1], cc_errmsg());
    if (cr_embedder_from_kb(kb, &e) != CC_OK) bench_die("embedder", cc_kb_errmsg(kb));
    if (cc_kb_path(kb, "vectors.faiss", &path)) bench_die("path", "out of memory");
    int d = cr_embedder_dim(e);
    cr_vindex_batch_threads(1);

    /* the new documents' vectors and ids */
    float *nv = malloc((size_t)N * d * sizeof *nv);
    int64_t *nid = malloc((size_t)N * sizeof *nid);
    if (!nv || !nid) bench_die("alloc", "out of memory");
    for (int64_t i = 0; i < N; i++) {
        char t[160];
        int64_t m = i + 1;
        snprintf(t, sizeof t, "Load document %lld about w%lld and w%lld.", (long long)m,
                 (long long)(m % 50000), (long long)((m * 31) % 50000));
        const char *tp = t;
        if (cr_embedder_embed(e, &tp, NULL, 1, nv + i * d) != CC_OK)
            bench_die("embed", cr_embedder_errmsg(e));
        nid[i] = ((int64_t)1 << 40) + i;
    }

    cr_vindex *vi[2] = { NULL, NULL };
    for (int k = 0; k < 2; k++) {
        if (!run[k]) continue;
        if (k == 0) setenv("CAIRN_HNSW_ADD", "faiss", 1);
        else unsetenv("CAIRN_HNSW_ADD");
        double t0 = cc_now_ms();
        if (cr_vindex_open(path.data, cr_embedder_identity(e), d, NULL, &vi[k]) != CC_OK)
            bench_die("vectors.faiss", cc_errmsg());
        if (!cr_vindex_is_hnsw(vi[k])) bench_die("vectors.faiss", "not HNSW");
        printf("%s: loaded %lld vectors in %.1f s\n", name[k], (long long)cr_vindex_count(vi[k]),
               (cc_now_ms() - t0) / 1000);
    }
    unsetenv("CAIRN_HNSW_ADD");

    /* the adds, alternating between the two indexes batch by batch */
    double cpu[2] = { 0, 0 }, wall[2] = { 0, 0 }, first[2] = { 0, 0 };
    for (int64_t i = 0; i < N; i += B) {
        size_t b = (size_t)(N - i < B ? N - i : B);
        for (int k = 0; k < 2; k++) {
            if (!run[k]) continue;
            double w0 = cc_now_ms(), c0 = thread_ms();
            if (cr_vindex_add(vi[k], b, nid + i, nv + i * d) != CC_OK)
                bench_die("add", cr_vindex_errmsg(vi[k]));
            cpu[k] += thread_ms() - c0;
            if (i == 0) first[k] = thread_ms() - c0;
            wall[k] += cc_now_ms() - w0;
        }
    }
    for (int k = 0; k < 2; k++)
        if (run[k])
            printf("%s: %lld vectors in batches of %lld: CPU %.0f ms (%.3f ms per insert), "
                   "wall %.0f ms; the first batch %.0f ms (the arrays grow), the rest %.3f ms "
                   "per insert\n", name[k], (long long)N, (long long)B, cpu[k],
                   cpu[k] / (double)N, wall[k], first[k],
                   N > B ? (cpu[k] - first[k]) / (double)(N - B) : 0.0);
    if (run[0] && run[1] && N > B)
        printf("CPU per insert, cairn / FAISS: %.3f (after the first batch: %.3f)\n",
               cpu[1] / cpu[0], (cpu[1] - first[1]) / (cpu[0] - first[0]));
    {
        uint64_t pc, ps;
        cr_faiss_hnsw_add_stats(&pc, &ps);
        printf("cairn's selection heuristic: %llu pairs computed, %llu known (skipped)\n",
               (unsigned long long)pc, (unsigned long long)ps);
    }
    if (run[0] && run[1])
        printf("graphs after the adds: %s\n",
               cr_vindex_hnsw_same(vi[0], vi[1]) == 1
                   ? "identical" : "DIFFERENT");
    if (getenv("BENCH_HNSWADD_NORECALL")) goto done;

    /* the exact reference: every chunk plus the new vectors */
    {
        FaissIndex *flat = bench_exact_index(kb, e);
        if (faiss_Index_add_with_ids(flat, (idx_t)N, nv, nid)) bench_die("add", faiss_get_last_error());
        char **qs = bench_queries(Q);
        float *qv = malloc((size_t)Q * d * sizeof *qv);
        int64_t *xn = malloc((size_t)N * K * sizeof *xn), *xq = malloc((size_t)Q * K * sizeof *xq);
        float *xs = malloc((size_t)(N > Q ? N : Q) * K * sizeof *xs);
        if (!qv || !xn || !xq || !xs) bench_die("alloc", "out of memory");
        for (int64_t i = 0; i < Q; i++)
            if (cr_embedder_embed_query(e, qs[i], strlen(qs[i]), qv + i * d) != CC_OK)
                bench_die("embed", cr_embedder_errmsg(e));
        if (faiss_Index_search(flat, (idx_t)N, nv, K, xs, xn) ||
            faiss_Index_search(flat, (idx_t)Q, qv, K, xs, xq))
            bench_die("flat search", faiss_get_last_error());
        faiss_Index_free(flat);
        printf("| insert | recall@%d, new vectors as queries | new vector found in its own top %d"
               " | recall@%d, %lld general queries |\n|---|---|---|---|\n", K, K, K, (long long)Q);
        for (int k = 0; k < 2; k++) {
            if (!run[k]) continue;
            int64_t self = 0;
            double rn = recall(vi[k], nv, N, d, xn, &self, nid);
            double rq = recall(vi[k], qv, Q, d, xq, NULL, NULL);
            printf("| %s | %.4f | %.4f | %.4f |\n", name[k], rn, (double)self / (double)N, rq);
        }
        bench_queries_free(qs, Q);
        free(qv); free(xn); free(xq); free(xs);
    }
done:
    for (int k = 0; k < 2; k++) cr_vindex_close(vi[k]);
    free(nv); free(nid);
    cr_embedder_close(e);
    cc_buf_free(&path);
    cc_kb_close(kb);
    return 0;
}
