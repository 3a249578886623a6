/* test_hnsw_add.c — cairn's HNSW insert (retrieval/faiss_simd.cpp, used
 * by cr_vindex_add) against FAISS's own (CAIRN_HNSW_ADD=faiss): after
 * every batch both indexes hold the same graph (levels, neighbour lists,
 * entry point) and ids; the graph keeps its invariants (list sizes, no
 * self links, links only to vectors on their level, every new vector
 * reachable from the entry point); the cheap path of the selection
 * heuristic was taken (pairs known closed were skipped); every new vector
 * is its own nearest neighbour in a search; recall@10 against exact search
 * is above 0.9; the index written and read back (stock FAISS reads the
 * payload) is the same graph and answers the same. A copy whose knowledge
 * of the lists went stale (FAISS's add changed them after it was
 * recorded) still inserts as FAISS does. */
#include "retrieval.h"
#include "check.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

enum { D = 32, BASE = 1500, ADDS = 600, BATCH = 30, BIG = 150, Q = 100, K = 10 };

#define VEC_RAND_SEED 0x2545F4914F6CDD1DULL
#include "vec_rand.h"

/* retrieval/faiss_simd.cpp */
void cr_faiss_hnsw_add_stats(uint64_t *computed, uint64_t *skipped);

static const char *EMB = "hash/1:dim=32";

static cr_vindex *make(const char *path, int faiss_add, const cr_vindex_opts *o)
{
    cr_vindex *vi = NULL;
    if (faiss_add) setenv("CAIRN_HNSW_ADD", "faiss", 1);
    else unsetenv("CAIRN_HNSW_ADD");
    CHECK(cr_vindex_create(path, EMB, D, o, &vi) == CC_OK);
    unsetenv("CAIRN_HNSW_ADD");
    return vi;
}

static cr_vindex *copy(cr_vindex *src, int faiss_add)
{
    cr_vindex *vi = NULL;
    if (faiss_add) setenv("CAIRN_HNSW_ADD", "faiss", 1);
    else unsetenv("CAIRN_HNSW_ADD");
    CHECK(cr_vindex_clone(src, &vi) == CC_OK);
    unsetenv("CAIRN_HNSW_ADD");
    return vi;
}

static void invariants(cr_vindex *vi, int64_t from)
{
    char why[256];
    int rc = cr_vindex_hnsw_check(vi, from, why, sizeof why);
    CHECK_MSG(rc == 0, "graph check %d: %s", rc, why);
}

/* exact top K of q over the n vectors x (ids[i]) */
static void exact(const float *x, const int64_t *ids, int n, const float *q, int64_t *out)
{
    float best[K];
    for (int k = 0; k < K; k++) { best[k] = -1e30f; out[k] = -1; }
    for (int i = 0; i < n; i++) {
        float s = 0;
        for (int j = 0; j < D; j++) s += x[(size_t)i * D + j] * q[j];
        if (s <= best[K - 1]) continue;
        int k = K - 1;
        while (k > 0 && best[k - 1] < s) { best[k] = best[k - 1]; out[k] = out[k - 1]; k--; }
        best[k] = s;
        out[k] = ids[i];
    }
}

int main(void)
{
    const char *tmp = getenv("CAIRN_TMP");
    char path[512];
    if (!tmp) tmp = "/tmp";
    snprintf(path, sizeof path, "%s/test_hnsw_add_%d.faiss", tmp, (int)getpid());
    unlink(path);
    cr_vindex_batch_threads(1);   /* FAISS's adds single-threaded: deterministic */

    const int total = BASE + ADDS + BIG + 2 * ADDS;
    float *x = malloc((size_t)total * D * sizeof *x);
    int64_t *ids = malloc((size_t)total * sizeof *ids);
    for (int i = 0; i < total; i++) { rand_unit(x + (size_t)i * D, D); ids[i] = 1000 + 3 * i; }
    /* M 8 (16 links on layer 0): lists fill and get pruned often */
    cr_vindex_opts o = { 1000, 8, 64, 40, 0 };
    cr_vindex *F = make(path, 1, &o), *C = make(path, 0, &o);

    /* the base: converted to HNSW (FAISS's build), then the batch added */
    CHECK(cr_vindex_add(F, BASE, ids, x) == CC_OK);
    CHECK(cr_vindex_add(C, BASE, ids, x) == CC_OK);
    CHECK(cr_vindex_is_hnsw(F) && cr_vindex_is_hnsw(C));
    CHECK(cr_vindex_hnsw_same(F, C) == 1);

    uint64_t pc0, ps0, pc1, ps1;
    cr_faiss_hnsw_add_stats(&pc0, &ps0);
    int n = BASE, diff = 0;
    for (; n < BASE + ADDS; n += BATCH) {
        CHECK(cr_vindex_add(F, BATCH, ids + n, x + (size_t)n * D) == CC_OK);
        CHECK(cr_vindex_add(C, BATCH, ids + n, x + (size_t)n * D) == CC_OK);
        diff += cr_vindex_hnsw_same(F, C) != 1;
    }
    CHECK_MSG(diff == 0, "%d of %d batches left different graphs", diff, ADDS / BATCH);
    /* a batch over 100 (FAISS's own threshold for threads; one thread here) */
    CHECK(cr_vindex_add(F, BIG, ids + n, x + (size_t)n * D) == CC_OK);
    CHECK(cr_vindex_add(C, BIG, ids + n, x + (size_t)n * D) == CC_OK);
    n += BIG;
    CHECK(cr_vindex_hnsw_same(F, C) == 1);
    cr_faiss_hnsw_add_stats(&pc1, &ps1);
    CHECK_MSG(ps1 - ps0 > pc1 - pc0, "pairs skipped %llu, computed %llu: the closed lists "
              "should spare most", (unsigned long long)(ps1 - ps0), (unsigned long long)(pc1 - pc0));
    invariants(C, BASE);

    /* the new vectors are found: each its own best hit */
    int found = 0;
    for (int i = BASE; i < n; i++) {
        int64_t got[1];
        float sc[1];
        size_t m = 0;
        CHECK(cr_vindex_search(C, x + (size_t)i * D, 1, got, sc, &m) == CC_OK);
        found += m == 1 && got[0] == ids[i];
    }
    CHECK_MSG(found == n - BASE, "%d of %d new vectors found as their own nearest", found, n - BASE);

    /* recall@10 against exact search */
    double rec = 0;
    for (int q = 0; q < Q; q++) {
        float qv[D];
        int64_t want[K], got[K];
        float sc[K];
        size_t m = 0;
        rand_unit(qv, D);
        exact(x, ids, n, qv, want);
        CHECK(cr_vindex_search(C, qv, K, got, sc, &m) == CC_OK);
        for (size_t i = 0; i < m; i++)
            for (int k = 0; k < K; k++)
                if (got[i] == want[k]) { rec += 1.0 / (K * Q); break; }
    }
    CHECK_MSG(rec > 0.9, "recall@10 %.3f", rec);

    /* written and read back: the same graph, the same answers */
    cr_vindex_set_generation(C, 5);
    CHECK(cr_vindex_save(C) == CC_OK);
    cr_vindex *R = NULL;
    CHECK(cr_vindex_open(path, EMB, D, &o, &R) == CC_OK);
    if (R) {
        CHECK(cr_vindex_hnsw_same(R, C) == 1);
        invariants(R, 0 + BASE);
        for (int q = 0; q < 20; q++) {
            int64_t a[K], b[K];
            float sa[K], sb[K];
            size_t na = 0, nb = 0;
            CHECK(cr_vindex_search(R, x + (size_t)q * D, K, a, sa, &na) == CC_OK);
            CHECK(cr_vindex_search(C, x + (size_t)q * D, K, b, sb, &nb) == CC_OK);
            CHECK(na == nb && !memcmp(a, b, na * sizeof *a) && !memcmp(sa, sb, na * sizeof *sa));
        }
    }

    /* stale knowledge: a FAISS-mode copy of C carries C's record of its
     * closed lists but FAISS's adds change the lists without updating it;
     * a cairn-mode copy of that must check it and still match FAISS */
    cr_vindex *Fx = copy(C, 1);
    for (int i = 0; i < ADDS; i += BATCH)
        CHECK(cr_vindex_add(Fx, BATCH, ids + n + i, x + (size_t)(n + i) * D) == CC_OK);
    n += ADDS;
    cr_vindex *Cx = copy(Fx, 0), *Fy = copy(Fx, 1);
    CHECK(cr_vindex_hnsw_same(Cx, Fy) == 1);
    diff = 0;
    for (int i = 0; i < ADDS; i += BATCH) {
        CHECK(cr_vindex_add(Cx, BATCH, ids + n + i, x + (size_t)(n + i) * D) == CC_OK);
        CHECK(cr_vindex_add(Fy, BATCH, ids + n + i, x + (size_t)(n + i) * D) == CC_OK);
        diff += cr_vindex_hnsw_same(Cx, Fy) != 1;
    }
    n += ADDS;
    CHECK_MSG(diff == 0, "after stale knowledge: %d batches left different graphs", diff);
    invariants(Cx, BASE);

    /* not HNSW: the check says so */
    cr_vindex_opts flat = { 1000000, 0, 0, 0, 0 };
    cr_vindex *L = make(path, 0, &flat);
    char why[64];
    CHECK(cr_vindex_add(L, 10, ids, x) == CC_OK);
    CHECK(cr_vindex_hnsw_check(L, 0, why, sizeof why) == -1);
    CHECK(cr_vindex_hnsw_same(L, C) == -1);

    cr_vindex_close(L);
    cr_vindex_close(Cx);
    cr_vindex_close(Fy);
    cr_vindex_close(Fx);
    cr_vindex_close(R);
    cr_vindex_close(C);
    cr_vindex_close(F);
    unlink(path);
    free(x);
    free(ids);
    return check_done("test_hnsw_add");
}
