/* test_vector_walk.c — cairn's HNSW search with the bounded re-rank (only
 * the candidates whose int8 score, widened by the int8 error bound, can
 * still reach the best k are re-scored; faiss_simd.cpp) gives bit for bit
 * the answers of the search that re-scores every candidate
 * (CAIRN_HNSW_PLAIN=1 at open: the search as it was before). Two readers
 * open the same files, one each way, and answer the same queries: random
 * and stored vectors (exact duplicates among them, so ties), the zero
 * vector, a huge one, a tiny one, a one-hot one, k from 1 to past the
 * count; at 384 dimensions (the unrolled kernel) and 100 (the tail loop).
 * Then a writer's catch-up (adds and removals as a delta, small enough to
 * stay one) is applied in place by both (the search copy appends the new
 * vectors) and by a fresh open, and all agree again. Scores are also
 * checked against exact inner products, best first. Last, vectors made
 * so that the int8 error is as large as the bound allows (each component
 * just off a rounding boundary, the query all positive): a bound cut too
 * tight would drop true members of the best k there.
 * The integer walk (the query rounded to int16 words, scored against the
 * int8 codes by an integer dot product): the AVX2 and the portable
 * kernels equal a scalar reference exactly at every length and at the
 * extremes of both ranges; the rounding keeps each word within half a
 * step of the query; and on a small index the integer walk's recall@10
 * against exact search is as good as the float walk's
 * (CAIRN_HNSW_WALK=float) less 0.01, and at least 0.95. */
#include "retrieval.h"
#include "check.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

void omp_set_num_threads(int n);   /* libgomp, through cairn_retrieval */

/* retrieval/faiss_simd.cpp, for tests */
int cr_faiss_walk_dot(int path, const int16_t *q, const int8_t *c, size_t d, int32_t *out);
int32_t cr_faiss_walk_q16_max(size_t d);
int cr_faiss_walk_quantise(const float *q, size_t d, int16_t *out, float *qmax);
int cr_faiss_quantise8(int path, const float *x, size_t d, int8_t *c, float *scale);

enum { N = 3000, MORE = 30, CENTERS = 30, DUPS = 60, KMAX = 3500 };

#define VEC_RAND_SEED 0x9E3779B97F4A7C15ULL
#include "vec_rand.h"

static void unit(float *v, int d)
{
    double s = 0;
    for (int i = 0; i < d; i++) s += (double)v[i] * v[i];
    for (int i = 0; i < d; i++) v[i] = (float)(v[i] / sqrt(s));
}

/* n clustered unit vectors (CENTERS topics), the last DUPS copies of
 * earlier ones. */
static float *make(int n, int d)
{
    float *c = malloc((size_t)CENTERS * d * sizeof *c), *x = malloc((size_t)n * d * sizeof *x);
    if (!c || !x) { fprintf(stderr, "out of memory\n"); exit(1); }
    for (int i = 0; i < CENTERS * d; i++) c[i] = (float)(urand() * 2 - 1);
    for (int i = 0; i < n; i++) {
        const float *ci = c + (size_t)(i % CENTERS) * d;
        for (int j = 0; j < d; j++) x[(size_t)i * d + j] = ci[j] + (float)(urand() - 0.5);
        unit(x + (size_t)i * d, d);
    }
    for (int i = n - DUPS; i < n; i++)
        memcpy(x + (size_t)i * d, x + (size_t)(i - n / 2) * d, (size_t)d * sizeof *x);
    free(c);
    return x;
}

/* An index path of this process for `tag` under $CAIRN_TMP (or /tmp) and
 * its delta's path, both removed if left over. */
static void tmp_paths(const char *tag, char path[512], char dpath[600])
{
    const char *tmp = getenv("CAIRN_TMP");
    snprintf(path, 512, "%s/test_vector_walk_%s_%d.faiss", tmp ? tmp : "/tmp", tag, (int)getpid());
    snprintf(dpath, 600, "%s.delta", path);
    unlink(path);
    unlink(dpath);
}

static int64_t ia[KMAX], ib[KMAX];
static float sa[KMAX], sb[KMAX];

/* Queries q (nq of them) at every k in ks answered the same by a and b,
 * ids and score bits; the answers best first with exact scores (x holds
 * the vectors of ids base..). Returns the count of differing answers. */
static int compare(cr_vindex *a, cr_vindex *b, const float *q, int nq, int d, const float *x,
                   int64_t base, int64_t nx)
{
    static const int ks[] = { 1, 10, 50, 64, 200, KMAX };
    int diff = 0, bad = 0;
    for (int i = 0; i < nq; i++) {
        for (size_t t = 0; t < sizeof ks / sizeof ks[0]; t++) {
            size_t na = 0, nb = 0;
            const float *qi = q + (size_t)i * d;
            if (cr_vindex_search(a, qi, ks[t], ia, sa, &na) != CC_OK ||
                cr_vindex_search(b, qi, ks[t], ib, sb, &nb) != CC_OK) {
                bad++;
                continue;
            }
            if (na != nb || memcmp(ia, ib, na * sizeof *ia) || memcmp(sa, sb, na * sizeof *sa))
                diff++;
            for (size_t j = 0; j < na; j++) {
                if (j && (sa[j] > sa[j - 1] || (sa[j] == sa[j - 1] && ia[j] < ia[j - 1]))) bad++;
                if (ia[j] < base || ia[j] >= base + nx) { bad++; continue; }
                double e = 0, m = 0;
                const float *v = x + (size_t)(ia[j] - base) * d;
                for (int c = 0; c < d; c++) { e += (double)qi[c] * v[c]; m += fabs((double)qi[c] * v[c]); }
                if (fabs(e - sa[j]) > 1e-5 * (m + 1e-30)) bad++;
            }
        }
    }
    CHECK_MSG(bad == 0, "%d answers out of order, failed or with inexact scores", bad);
    return diff;
}

static void run(int d)
{
    char path[512], dpath[600], emb[64];
    snprintf(emb, sizeof emb, "hash/1:dim=%d", d);
    tmp_paths(emb + 11, path, dpath);
    float *x = make(N + MORE, d);
    int64_t *ids = malloc((size_t)(N + MORE) * sizeof *ids);
    const int NQ = 150;
    float *q = malloc((size_t)NQ * d * sizeof *q);
    CHECK(x && ids && q);
    if (!x || !ids || !q) exit(1);
    for (int i = 0; i < N + MORE; i++) ids[i] = 100 + i;
    for (int i = 0; i < 60; i++) {                 /* random directions */
        for (int j = 0; j < d; j++) q[(size_t)i * d + j] = (float)(urand() * 2 - 1);
        unit(q + (size_t)i * d, d);
    }
    for (int i = 60; i < 140; i++)                 /* stored ones, duplicates among them */
        memcpy(q + (size_t)i * d, x + (size_t)((i * 37) % N) * d, (size_t)d * sizeof *q);
    memcpy(q + (size_t)140 * d, x + (size_t)(N - 1) * d, (size_t)d * sizeof *q);
    for (int i = 141; i < NQ; i++) {               /* zero, huge, tiny, one-hot, near-ties */
        for (int j = 0; j < d; j++) {
            float v = x[(size_t)(i * 11) * d + j];
            q[(size_t)i * d + j] = i == 141 ? 0.0f : i == 142 ? v * 1e37f : i == 143 ? v * 1e-30f
                                 : i == 144 ? (float)(j == 3) : v + (float)(urand() - 0.5) * 1e-6f;
        }
    }

    cr_vindex_opts o = { 50, 16, 48, 40, 0 };
    cr_vindex *w = NULL, *plain = NULL, *walk = NULL, *fresh = NULL, *fplain = NULL;
    CHECK(cr_vindex_create(path, emb, d, &o, &w) == CC_OK);
    CHECK(cr_vindex_add(w, N, ids, x) == CC_OK);
    CHECK(cr_vindex_is_hnsw(w));
    cr_vindex_set_generation(w, 1);
    CHECK(cr_vindex_save(w) == CC_OK);

    setenv("CAIRN_HNSW_PLAIN", "1", 1);
    CHECK(cr_vindex_open(path, emb, d, &o, &plain) == CC_OK);
    unsetenv("CAIRN_HNSW_PLAIN");
    CHECK(cr_vindex_open(path, emb, d, &o, &walk) == CC_OK);
    if (!w || !plain || !walk) exit(1);
    int diff = compare(plain, walk, q, NQ, d, x, 100, N);
    CHECK_MSG(diff == 0, "d %d: %d answers differ with and without the bound", d, diff);

    /* the catch-up: adds and removals, applied in place by both readers */
    CHECK(cr_vindex_add(w, MORE, ids + N, x + (size_t)N * d) == CC_OK);
    size_t got = 0;
    int64_t rm[5];
    for (int i = 0; i < 5; i++) rm[i] = ids[i * 97];
    CHECK(cr_vindex_remove(w, 5, rm, &got) == CC_OK && got == 5);
    cr_vindex_set_generation(w, 2);
    CHECK(cr_vindex_save_delta(w) == CC_OK);
    int reload = -1;
    CHECK(cr_vindex_refresh(plain, &reload) == CC_OK && reload == 0);
    CHECK(cr_vindex_refresh(walk, &reload) == CC_OK && reload == 0);
    CHECK(cr_vindex_count(walk) == N + MORE - 5);
    diff = compare(plain, walk, q, NQ, d, x, 100, N + MORE);
    CHECK_MSG(diff == 0, "d %d after the catch-up: %d answers differ", d, diff);

    /* a fresh open makes the copy whole; a plain one too */
    CHECK(cr_vindex_open(path, emb, d, &o, &fresh) == CC_OK);
    setenv("CAIRN_HNSW_PLAIN", "1", 1);
    CHECK(cr_vindex_open(path, emb, d, &o, &fplain) == CC_OK);
    unsetenv("CAIRN_HNSW_PLAIN");
    if (!fresh || !fplain) exit(1);
    diff = compare(fplain, fresh, q, NQ, d, x, 100, N + MORE);
    CHECK_MSG(diff == 0, "d %d fresh open: %d answers differ", d, diff);
    diff = compare(walk, fresh, q, NQ, d, x, 100, N + MORE);
    CHECK_MSG(diff == 0, "d %d appended vs made whole: %d answers differ", d, diff);

    /* a removed id is never returned */
    size_t n = 0;
    CHECK(cr_vindex_search(fresh, x, 10, ia, sa, &n) == CC_OK && n == 10);
    for (size_t j = 0; j < n; j++) CHECK(ia[j] != ids[0]);

    cr_vindex_close(w);
    cr_vindex_close(plain);
    cr_vindex_close(walk);
    cr_vindex_close(fresh);
    cr_vindex_close(fplain);
    unlink(path);
    unlink(dpath);
    free(x);
    free(ids);
    free(q);
}

/* Vectors whose every component sits just off a rounding boundary of the
 * int8 copy, against all-positive queries: half of them (A) just below,
 * so the int8 score overstates each by nearly the bound, the other half
 * (B) just above, understated, with codes that put every A far ahead of
 * every B in the walk (by 60 codes) while every B is truly ahead of every
 * A (by ~2.8 codes' worth): the best k are all B, found only if the
 * bound is wide enough. efSearch = the count: every vector a candidate. */
static void adversarial(void)
{
    enum { AN = 400, AD = 64 };
    char path[512], dpath[600];
    tmp_paths("adv", path, dpath);
    float *x = malloc((size_t)AN * AD * sizeof *x), q[3 * AD];
    int64_t *ids = malloc((size_t)AN * sizeof *ids);
    CHECK(x && ids);
    if (!x || !ids) exit(1);
    for (int i = 0; i < AN; i++) {
        int r = (i / 2) % 4, b = i % 2;
        x[(size_t)i * AD] = 1.0f;                   /* the max: scale 1/127 */
        for (int j = 1; j < AD; j++) {
            int c = b ? j <= 3 - r : j > r;
            x[(size_t)i * AD + j] = ((float)c + (b ? 0.499f : -0.499f)) / 127.0f;
        }
        ids[i] = i;
    }
    for (int t = 0; t < 3; t++)
        for (int j = 0; j < AD; j++)
            q[t * AD + j] = j == 0 ? 0.0f : t == 0 ? 1.0f : (float)(0.5 + urand());
    cr_vindex_opts o = { 50, 16, AN, 40, 0 };
    cr_vindex *w = NULL, *plain = NULL, *bound = NULL;
    CHECK(cr_vindex_create(path, "hash/1:dim=64", AD, &o, &w) == CC_OK);
    CHECK(cr_vindex_add(w, AN, ids, x) == CC_OK);
    CHECK(cr_vindex_save(w) == CC_OK);
    setenv("CAIRN_HNSW_PLAIN", "1", 1);
    CHECK(cr_vindex_open(path, "hash/1:dim=64", AD, &o, &plain) == CC_OK);
    unsetenv("CAIRN_HNSW_PLAIN");
    CHECK(cr_vindex_open(path, "hash/1:dim=64", AD, &o, &bound) == CC_OK);
    if (!w || !plain || !bound) exit(1);
    int diff = compare(plain, bound, q, 3, AD, x, 0, AN);
    CHECK_MSG(diff == 0, "adversarial: %d answers differ with and without the bound", diff);
    size_t n = 0;                                  /* the best 10 are all B */
    CHECK(cr_vindex_search(bound, q, 10, ia, sa, &n) == CC_OK && n == 10);
    for (size_t j = 0; j < n; j++) CHECK(ia[j] % 2 == 1);
    cr_vindex_close(w);
    cr_vindex_close(plain);
    cr_vindex_close(bound);
    unlink(path);
    unlink(dpath);
    free(x);
    free(ids);
}

/* Both kernels against the scalar sum, lengths 1..1100 and 2200, random
 * and at the extremes of both ranges;
 * then the query rounding. */
static void integer_kernel(void)
{
    enum { DMAX = 4096 };
    static int16_t q[DMAX];
    static int8_t c[DMAX];
    static float f[DMAX];
    int bad = 0, avx2 = 1, cases = 0;
    for (int d = 1; d <= DMAX; d = d < 1100 ? d + 1 : d * 2) {
        int32_t top = cr_faiss_walk_q16_max((size_t)d);
        CHECK(top >= 1 && top <= 32767 && (int64_t)top * 127 * d <= INT32_MAX);
        for (int t = 0; t < 4; t++) {
            for (int i = 0; i < d; i++) {
                int r = (int)(urand() * 255) - 127;            /* t 0: random */
                q[i] = (int16_t)(t == 0 ? (int)((urand() * 2 - 1) * top)
                               : t == 1 ? top : t == 2 ? -top : (i % 2 ? top : -top));
                c[i] = (int8_t)(t == 0 ? r : t == 1 ? 127 : t == 2 ? 127 : (i % 3 ? -127 : 127));
            }
            int64_t want = 0;
            for (int i = 0; i < d; i++) want += (int64_t)q[i] * c[i];
            int32_t got = 0;
            cases++;
            if (cr_faiss_walk_dot(0, q, c, (size_t)d, &got) != 0 || got != want) bad++;
            int r = cr_faiss_walk_dot(1, q, c, (size_t)d, &got);
            if (r == -1) avx2 = 0;
            else if (r != 0 || got != want) bad++;
        }
    }
    CHECK_MSG(bad == 0, "integer walk kernels: %d of %d sums differ from the scalar one", bad, cases);
    if (!avx2) printf("test_vector_walk: no AVX2 on this CPU: the portable kernel alone checked\n");

    /* the rounding: within half a step, the largest word at the top */
    for (int t = 0; t < 5; t++) {
        int d = t == 4 ? 7 : 384;
        for (int i = 0; i < d; i++) {
            float v = (float)(urand() * 2 - 1);
            f[i] = t == 1 ? v * 1e38f : t == 2 ? v * 1e-40f : t == 3 ? (float)(i == 5) : v;
        }
        float got = -1, m = 0;
        CHECK(cr_faiss_walk_quantise(f, (size_t)d, q, &got) == 0);
        int32_t top = cr_faiss_walk_q16_max((size_t)d), qm = 0;
        for (int i = 0; i < d; i++) m = fmaxf(m, fabsf(f[i]));
        double step = (double)m / top;         /* a denormal float's step: exact in double */
        for (int i = 0; i < d; i++) {
            qm = q[i] > qm ? q[i] : -q[i] > qm ? -q[i] : qm;
            double err = fabs((double)f[i] - step * q[i]);
            /* half a step, plus the float quotient's rounding (2 x 2^-24
             * of up to 32767 steps: 0.004 step; the walk's bound allows 2%) */
            if (!(err <= step * 0.505)) bad++;
        }
        CHECK_MSG(qm == top, "rounding %d: largest word %d, want %d", t, (int)qm, (int)top);
        CHECK(got == m && m > 0);
    }
    CHECK_MSG(bad == 0, "query rounding: %d words off by more than half a step", bad);
    memset(f, 0, sizeof f);
    float s = -1;
    CHECK(cr_faiss_walk_quantise(f, 384, q, &s) == 0 && s == 0);
    for (int i = 0; i < 384; i++) CHECK(q[i] == 0);
    f[9] = NAN;
    CHECK(cr_faiss_walk_quantise(f, 384, q, &s) == -1);
    f[9] = INFINITY;
    CHECK(cr_faiss_walk_quantise(f, 384, q, &s) == -1);
}

/* Recall@10 against exact search of the integer walk and of the float
 * walk on a small clustered index (efSearch 32, so the walk matters). */
static void walk_recall(void)
{
    enum { RN = 4000, RD = 384, RQ = 200, K = 10 };
    char path[512], dpath[600];
    tmp_paths("rec", path, dpath);
    float *x = make(RN, RD), *q = malloc((size_t)RQ * RD * sizeof *q);
    int64_t *ids = malloc((size_t)RN * sizeof *ids);
    double *dot = malloc((size_t)RN * sizeof *dot);
    CHECK(x && q && ids && dot);
    if (!x || !q || !ids || !dot) exit(1);
    for (int i = 0; i < RN; i++) ids[i] = i;
    for (int i = 0; i < RQ; i++) {          /* near stored vectors: real neighbourhoods */
        for (int j = 0; j < RD; j++)
            q[(size_t)i * RD + j] = x[(size_t)((i * 53) % RN) * RD + j] + (float)(urand() - 0.5) * 0.1f;
        unit(q + (size_t)i * RD, RD);
    }
    cr_vindex_opts o = { 50, 16, 32, 40, 0 };
    cr_vindex *w = NULL, *iw = NULL, *fw = NULL;
    CHECK(cr_vindex_create(path, "hash/1:dim=384", RD, &o, &w) == CC_OK);
    CHECK(cr_vindex_add(w, RN, ids, x) == CC_OK);
    CHECK(cr_vindex_save(w) == CC_OK);
    CHECK(cr_vindex_open(path, "hash/1:dim=384", RD, &o, &iw) == CC_OK);
    setenv("CAIRN_HNSW_WALK", "float", 1);
    CHECK(cr_vindex_open(path, "hash/1:dim=384", RD, &o, &fw) == CC_OK);
    unsetenv("CAIRN_HNSW_WALK");
    if (!w || !iw || !fw) exit(1);
    int hit[2] = { 0, 0 }, same = 0;
    /* the first query's answer, asked again after the 400 searches below
     * (each clears the pooled visited marks): bit for bit the same */
    int64_t first_id[K];
    float first_s[K];
    size_t nfirst = 0;
    CHECK(cr_vindex_search(iw, q, K, first_id, first_s, &nfirst) == CC_OK && nfirst == K);
    for (int i = 0; i < RQ; i++) {
        const float *qi = q + (size_t)i * RD;
        for (int v = 0; v < RN; v++) {
            double e = 0;
            for (int j = 0; j < RD; j++) e += (double)qi[j] * x[(size_t)v * RD + j];
            dot[v] = e;
        }
        size_t na = 0, nb = 0;
        CHECK(cr_vindex_search(iw, qi, K, ia, sa, &na) == CC_OK && na == K);
        CHECK(cr_vindex_search(fw, qi, K, ib, sb, &nb) == CC_OK && nb == K);
        same += na == nb && !memcmp(ia, ib, na * sizeof *ia);
        /* a result is a hit when fewer than K vectors are strictly better */
        for (int r = 0; r < 2; r++) {
            const int64_t *got = r ? ib : ia;
            for (size_t j = 0; j < (r ? nb : na); j++) {
                int better = 0;
                for (int v = 0; v < RN && better < K; v++) better += dot[v] > dot[got[j]] + 1e-7;
                hit[r] += better < K;
            }
        }
    }
    double ri = (double)hit[0] / (RQ * K), rf = (double)hit[1] / (RQ * K);
    printf("test_vector_walk: recall@10 at efSearch 32: integer walk %.4f, float walk %.4f, "
           "%d of %d answers the same\n", ri, rf, same, RQ);
    CHECK_MSG(ri >= 0.95 && ri >= rf - 0.01, "integer walk recall %.4f vs float walk %.4f", ri, rf);
    size_t nagain = 0;
    CHECK(cr_vindex_search(iw, q, K, ia, sa, &nagain) == CC_OK && nagain == nfirst);
    CHECK_MSG(!memcmp(ia, first_id, sizeof first_id) && !memcmp(sa, first_s, sizeof first_s),
              "a query asked again after 400 searches got a different answer");
    cr_vindex_close(w);
    cr_vindex_close(iw);
    cr_vindex_close(fw);
    unlink(path);
    unlink(dpath);
    free(x);
    free(q);
    free(ids);
    free(dot);
}

/* The int8 copy of a vector: the AVX2 version gives the portable one's
 * bytes and scale (lengths 1..300 and 384, random components, halves that
 * round to even, the zero vector), and the portable one is
 * round(x * 127 / max|x|) with the largest component at +-127. */
static void int8_copy(void)
{
    static float x[400];
    static int8_t c0[400], c1[400];
    int bad = 0, cases = 0, avx2 = 1;
    for (int d = 1; d <= 384; d = d < 300 ? d + 1 : 384) {
        for (int t = 0; t < 3; t++) {
            for (int i = 0; i < d; i++)
                x[i] = t == 0 ? (float)(urand() * 2 - 1)
                     : t == 1 ? (i == 0 ? 127.0f : (float)((int)(urand() * 254) - 127) + 0.5f)
                     : 0.0f;
            float s0 = -1, s1 = -1, m = 0;
            cases++;
            CHECK(cr_faiss_quantise8(0, x, (size_t)d, c0, &s0) == 0);
            for (int i = 0; i < d; i++) m = fmaxf(m, fabsf(x[i]));
            for (int i = 0; i < d; i++) {
                float want = m > 0 ? nearbyintf(x[i] * (127.0f / m)) : 0;
                if (c0[i] != (int8_t)want) { bad++; break; }
            }
            if (m > 0 && s0 != m / 127.0f) bad++;
            if (m == 0 && s0 != 0) bad++;
            int r = cr_faiss_quantise8(1, x, (size_t)d, c1, &s1);
            if (r == -1) { avx2 = 0; continue; }
            if (r != 0 || s1 != s0 || memcmp(c0, c1, (size_t)d)) bad++;
        }
        if (d == 384) break;
    }
    CHECK_MSG(bad == 0, "int8 copy: %d of %d vectors differ", bad, cases);
    if (!avx2) printf("test_vector_walk: no AVX2 on this CPU: the portable int8 copy alone checked\n");
}

int main(void)
{
    omp_set_num_threads(1);    /* the same graph in every handle that adds */
    integer_kernel();
    int8_copy();
    walk_recall();
    run(384);
    run(100);
    adversarial();
    return check_done("test_vector_walk");
}
