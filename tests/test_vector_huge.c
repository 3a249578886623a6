/* test_vector_huge.c — with cr_vindex_huge_pages(1) (`cairn serve`), an
 * HNSW index's float vectors end up on transparent huge pages once it is
 * ready to search (retrieval/faiss_simd.cpp,
 * huge_xb: the re-scoring after the walk reads them at random), and so do
 * a copy's (cr_vindex_clone) and an index's after it grew. Counted from
 * /proc/self/smaps (AnonHugePages of the mappings the vectors lie in).
 * Skipped where the kernel cannot do it: transparent huge pages "never",
 * or no MADV_COLLAPSE (Linux before 6.1). Answers are checked
 * (each hit scored with its exact inner product). */
#include "retrieval.h"
#include "check.h"

#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

enum { D = 384, N = 6000, MORE = 2000, Q = 20, K = 10 };

#include "vec_rand.h"

#define MB2 ((uintptr_t)2 << 20)

/* the whole 2 MB blocks that n bytes anywhere surely hold, in kB */
static long blocks_kb(size_t n) { return n > MB2 ? (long)((n - MB2) / MB2) * 2048 : 0; }

/* kB of huge pages in the mappings that overlap [p, p + n) */
static long huge_kb(const void *p, size_t n)
{
    FILE *f = fopen("/proc/self/smaps", "r");
    char line[512];
    uintptr_t a = (uintptr_t)p, z = a + n;
    int in = 0;
    long kb = 0;
    if (!f) return -1;
    while (fgets(line, sizeof line, f)) {
        unsigned long lo, hi;
        long v;
        if (sscanf(line, "%lx-%lx ", &lo, &hi) == 2 && strchr(line, '-') < strchr(line, ' '))
            in = lo < z && hi > a;
        else if (in && sscanf(line, "AnonHugePages: %ld kB", &v) == 1)
            kb += v;
    }
    fclose(f);
    return kb;
}

/* the kernel collapses an aligned block of our own on request */
static int can_collapse(void)
{
    FILE *f = fopen("/sys/kernel/mm/transparent_hugepage/enabled", "r");
    char mode[128] = "";
    void *p;
    int ok;
    if (!f) return 0;
    if (!fgets(mode, sizeof mode, f)) mode[0] = 0;
    fclose(f);
    if (strstr(mode, "[never]") || !mode[0]) return 0;
    if (!(p = aligned_alloc(MB2, 2 * MB2))) return 0;
    memset(p, 1, 2 * MB2);
    madvise(p, 2 * MB2, MADV_HUGEPAGE);
    ok = madvise(p, 2 * MB2, 25 /* MADV_COLLAPSE */) == 0 && huge_kb(p, 2 * MB2) >= 2048;
    free(p);
    return ok;
}

static long vectors_huge(cr_vindex *vi, size_t *bytes)
{
    const void *p = NULL;
    size_t n = 0;
    if (cr_vindex_hnsw_vectors(vi, &p, &n) != 0) return -1;
    *bytes = n;
    return huge_kb(p, n);
}

/* every query gets K hits among the first n vectors, each with its exact inner product */
static int answers_exact(cr_vindex *vi, const float *x, const int64_t *ids, int n, const float *qs)
{
    int bad = 0;
    for (int q = 0; q < Q; q++) {
        const float *qv = qs + (size_t)q * D;
        int64_t got[K];
        float sc[K];
        size_t m = 0;
        if (cr_vindex_search(vi, qv, K, got, sc, &m) != CC_OK || m != K) { bad++; continue; }
        for (size_t j = 0; j < m; j++) {   /* each score is that vector's exact inner product */
            int i = (int)((got[j] - 1) / 2);
            double s = 0;
            if (i < 0 || i >= n || ids[i] != got[j]) { bad++; break; }
            for (int t = 0; t < D; t++) s += (double)x[(size_t)i * D + t] * qv[t];
            if (s - sc[j] > 1e-4 || sc[j] - s > 1e-4) { bad++; break; }
        }
    }
    return bad;
}

int main(void)
{
    const char *tmp = getenv("CAIRN_TMP") ? getenv("CAIRN_TMP") : "/tmp";
    char path[512];
    cr_vindex *vi = NULL, *cp = NULL;
    size_t bytes = 0;
    long kb;
    float *x, *qs;
    int64_t *ids;

    if (!can_collapse())
        SKIP("transparent huge pages off, or no MADV_COLLAPSE in this kernel");
    cr_vindex_huge_pages(1);   /* as `cairn serve` does */
    snprintf(path, sizeof path, "%s/test_vector_huge_%d.faiss", tmp, (int)getpid());
    x = malloc((size_t)(N + MORE) * D * sizeof *x);
    qs = malloc((size_t)Q * D * sizeof *qs);
    ids = malloc((size_t)(N + MORE) * sizeof *ids);
    if (!x || !qs || !ids) return 1;
    for (int i = 0; i < N + MORE; i++) { rand_unit(x + (size_t)i * D, D); ids[i] = 1 + 2 * i; }
    for (int q = 0; q < Q; q++) rand_unit(qs + (size_t)q * D, D);

    cr_vindex_opts o = { 1000, 16, 64, 40, 0 };
    CHECK(cr_vindex_create(path, "hash/1:dim=384", D, &o, &vi) == CC_OK);
    if (!vi) return check_done("test_vector_huge");
    CHECK(cr_vindex_add(vi, N, ids, x) == CC_OK);
    CHECK(cr_vindex_is_hnsw(vi));
    /* the first search readies the index: its vectors (9.2 MB) collapsed,
     * every whole 2 MB block of them (at least three) */
    CHECK(answers_exact(vi, x, ids, N, qs) == 0);
    kb = vectors_huge(vi, &bytes);
    CHECK_MSG(kb >= blocks_kb(bytes) && kb >= 4096,
              "%ld kB of the vectors' %zu bytes on huge pages", kb, bytes);

    /* a copy for readers: its own vectors, on huge pages too */
    CHECK(cr_vindex_clone(vi, &cp) == CC_OK);
    if (cp) {
        CHECK(answers_exact(cp, x, ids, N, qs) == 0);
        kb = vectors_huge(cp, &bytes);
        CHECK_MSG(kb >= blocks_kb(bytes) && kb >= 4096,
                  "copy: %ld kB of the vectors' %zu bytes on huge pages", kb, bytes);
        cr_vindex_close(cp);
    }

    /* grown (FAISS reallocates the array): the new vectors' blocks too */
    CHECK(cr_vindex_add(vi, MORE, ids + N, x + (size_t)N * D) == CC_OK);
    CHECK(answers_exact(vi, x, ids, N + MORE, qs) == 0);
    kb = vectors_huge(vi, &bytes);
    CHECK_MSG(kb >= blocks_kb(bytes) && kb >= 8192,
              "grown: %ld kB of the vectors' %zu bytes on huge pages", kb, bytes);

    cr_vindex_close(vi);
    unlink(path);
    free(x);
    free(qs);
    free(ids);
    return check_done("test_vector_huge");
}
