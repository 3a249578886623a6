/* test_vector_flat.c — cairn's flat search (retrieval/faiss_simd.cpp,
 * flat_search): every vector scored by its int8 codes, then only the
 * candidates that can still be among the best k re-scored from the float
 * vectors.  Its answer must be the exhaustive search's: each hit's score is
 * the exact inner product and the j-th hit scores as the j-th best of a
 * plain loop over all vectors (by score, not id: two vectors within
 * rounding of each other may come in either order).  Checked at 384
 * dimensions (the kernel's unrolled case) and 100 (a tail), for k from 1
 * to past the index's size, on clustered vectors with exact duplicates
 * (ties), after removals (the vectors move, so the int8 copy is made
 * again), after adds (the copy grows), on a copy (cr_vindex_clone) and
 * after a save and reopen.  The int8 copy is made at the first search,
 * or at load in a long-lived searcher (cr_vindex_huge_pages).  Also: the searches go through cairn's flat
 * path (cr_faiss_flat_stats counts them) and re-score far fewer vectors
 * than the index holds (else it would be no faster than the float scan). */
#include "retrieval.h"
#include "check.h"
#include "vec_rand.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* retrieval/faiss_simd.cpp */
void cr_faiss_flat_stats(uint64_t *searches, uint64_t *rescored);

#define NMAX 7000

static float *vecs;          /* by id - 1000 */
static int    live[NMAX];    /* id - 1000 still in the index */
static int    dim, nvec;

/* clustered unit vectors: 40 centres, each vector a centre plus noise;
 * every 50th a copy of the one before (an exact tie) */
static void make(int from, int to)
{
    static float centre[40][384];
    static int have;
    if (!have) { for (int c = 0; c < 40; c++) rand_unit(centre[c], dim); have = 1; }
    for (int i = from; i < to; i++) {
        float *v = vecs + (size_t)i * dim;
        if (i % 50 == 49) { memcpy(v, v - dim, (size_t)dim * sizeof *v); continue; }
        const float *c = centre[(int)(urand() * 40)];
        double s = 0;
        for (int j = 0; j < dim; j++) { v[j] = c[j] + (float)(urand() - 0.5) * 0.6f; s += (double)v[j] * v[j]; }
        for (int j = 0; j < dim; j++) v[j] = (float)(v[j] / sqrt(s));
    }
}

static float dot(const float *a, const float *b)
{
    double s = 0;
    for (int j = 0; j < dim; j++) s += (double)a[j] * b[j];
    return (float)s;
}

static int cmp_desc(const void *a, const void *b)
{
    float x = *(const float *)a, y = *(const float *)b;
    return x < y ? 1 : x > y ? -1 : 0;
}

/* cr_vindex_search against the plain loop; returns the hits checked */
static int search_exact(cr_vindex *vi, const float *q, int k, const char *when)
{
    static float best[NMAX];
    static int64_t got[NMAX + 10];
    static float score[NMAX + 10];
    int nl = 0;
    size_t n = 0;
    for (int i = 0; i < nvec; i++)
        if (live[i]) best[nl++] = dot(vecs + (size_t)i * dim, q);
    qsort(best, (size_t)nl, sizeof *best, cmp_desc);
    CHECK_OK(cr_vindex_search(vi, q, k, got, score, &n));
    int want = k < nl ? k : nl;
    CHECK_MSG((int)n == want, "%s, k %d: %zu hits, %d expected", when, k, n, want);
    int bad = 0;
    for (int j = 0; j < (int)n && j < want; j++) {
        int64_t r = got[j] - 1000;
        int ok = r >= 0 && r < nvec && live[r];
        float s = ok ? dot(vecs + (size_t)r * dim, q) : 0;
        if (!ok || fabsf(s - best[j]) > 2e-5f || fabsf(score[j] - s) > 2e-5f) {
            if (!bad++)
                CHECK_MSG(0, "%s, k %d: hit %d is %lld (score %.7f, exact %.7f), the %d-th best "
                          "scores %.7f", when, k, j, (long long)got[j], score[j], s, j + 1, best[j]);
        }
    }
    CHECK_MSG(!bad, "%s, k %d: %d of %zu hits wrong", when, k, bad, n);
    return (int)n;
}

static void queries(cr_vindex *vi, int nq, const char *when)
{
    static const int ks[] = { 1, 10, 50, 200 };
    float *q = malloc((size_t)dim * sizeof *q);
    for (int i = 0; i < nq; i++) {
        if (i % 3 == 0) rand_unit(q, dim);            /* far from everything */
        else {                                        /* near a stored vector */
            int r = (int)(urand() * nvec);
            for (int j = 0; j < dim; j++) q[j] = vecs[(size_t)r * dim + j] + (float)(urand() - 0.5) * 0.05f;
        }
        search_exact(vi, q, ks[i % 4], when);
    }
    free(q);
}

static void run(int d, const char *tmp)
{
    char path[1024], stamp[1040], when[128];
    cr_vindex *vi = NULL, *copy = NULL;
    int64_t *ids = malloc(NMAX * sizeof *ids);
    uint64_t s0, r0, s1, r1;
    dim = d;
    nvec = 5000;
    vecs = malloc((size_t)NMAX * dim * sizeof *vecs);
    make(0, NMAX);
    for (int i = 0; i < NMAX; i++) { ids[i] = 1000 + i; live[i] = i < nvec; }
    snprintf(path, sizeof path, "%s/vector-flat-%ld-%d.faiss", tmp, (long)getpid(), d);
    CHECK_OK(cr_vindex_create(path, "test:flat", dim, NULL, &vi));
    if (!vi) return;
    CHECK_OK(cr_vindex_add(vi, (size_t)nvec, ids, vecs));

    cr_faiss_flat_stats(&s0, &r0);
    snprintf(when, sizeof when, "d %d, 5000 vectors", d);
    queries(vi, 60, when);
    cr_faiss_flat_stats(&s1, &r1);
    CHECK_MSG(s1 - s0 == 60, "d %d: %llu of 60 searches went through cairn's flat search", d,
              (unsigned long long)(s1 - s0));
    /* k averages 65 here; re-scoring most of the 5,000 would make the int8
     * scan pointless */
    CHECK_MSG(r1 - r0 < 60 * 1000, "d %d: %llu vectors re-scored in 60 searches (5,000 each)", d,
              (unsigned long long)(r1 - r0));
    printf("d %d: %.1f vectors re-scored per search (k 1, 10, 50, 200)\n", d,
           (double)(r1 - r0) / 60);

    /* the zero query: left to FAISS, still k answers */
    {
        float *z = calloc((size_t)dim, sizeof *z);
        int64_t got[10];
        float sc[10];
        size_t n = 0;
        CHECK_OK(cr_vindex_search(vi, z, 10, got, sc, &n));
        CHECK_MSG(n == 10, "zero query: %zu hits", n);
        free(z);
    }

    /* removals move the vectors after them: the copy is made again */
    for (int i = 0; i < nvec; i += 7) live[i] = 0;
    {
        int64_t rm[800];
        size_t nr = 0, removed = 0;
        for (int i = 0; i < nvec; i += 7) rm[nr++] = 1000 + i;
        CHECK_OK(cr_vindex_remove(vi, nr, rm, &removed));
        CHECK_MSG(removed == nr, "%zu of %zu removed", removed, nr);
    }
    snprintf(when, sizeof when, "d %d, after removals", d);
    queries(vi, 20, when);

    /* adds: the copy grows */
    CHECK_OK(cr_vindex_add(vi, NMAX - (size_t)nvec, ids + nvec, vecs + (size_t)nvec * dim));
    for (int i = nvec; i < NMAX; i++) live[i] = 1;
    nvec = NMAX;
    snprintf(when, sizeof when, "d %d, after adds", d);
    queries(vi, 20, when);

    /* a copy searches as its source */
    CHECK_OK(cr_vindex_clone(vi, &copy));
    if (copy) {
        snprintf(when, sizeof when, "d %d, a copy", d);
        queries(copy, 20, when);
        cr_vindex_close(copy);
    }

    /* saved and opened again */
    CHECK_OK(cr_vindex_save(vi));
    cr_vindex_close(vi);
    vi = NULL;
    CHECK_OK(cr_vindex_open(path, "test:flat", dim, NULL, &vi));
    if (vi) {
        /* the int8 copy waits for the first search... */
        const void *p = NULL;
        size_t n8 = 1;
        CHECK(cr_vindex_codes8(vi, &p, &n8) == 0 && n8 == 0);
        snprintf(when, sizeof when, "d %d, reopened", d);
        queries(vi, 20, when);
        CHECK(cr_vindex_codes8(vi, &p, &n8) == 0 && n8 >= (size_t)cr_vindex_count(vi) * dim);
        cr_vindex_close(vi);
    }
    /* ...except in a long-lived searcher, which makes it at load */
    cr_vindex_huge_pages(1);
    vi = NULL;
    CHECK_OK(cr_vindex_open(path, "test:flat", dim, NULL, &vi));
    if (vi) {
        const void *p = NULL;
        size_t n8 = 0;
        CHECK_MSG(cr_vindex_codes8(vi, &p, &n8) == 0 && n8 >= (size_t)cr_vindex_count(vi) * dim,
                  "d %d: opened by a long-lived searcher, the int8 copy holds %zu bytes", d, n8);
        snprintf(when, sizeof when, "d %d, reopened by a long-lived searcher", d);
        queries(vi, 10, when);
        cr_vindex_close(vi);
    }
    cr_vindex_huge_pages(0);
    unlink(path);
    snprintf(stamp, sizeof stamp, "%s.ok", path);
    unlink(stamp);
    free(vecs);
    free(ids);
}

int main(void)
{
    const char *tmp = getenv("CAIRN_TMP");
    run(384, tmp ? tmp : "/tmp");
    run(100, tmp ? tmp : "/tmp");
    return check_done("vector_flat");
}
