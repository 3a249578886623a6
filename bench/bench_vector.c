/* bench_vector.c — numbers for the vector lane (docs/benchmarks.md, "Vector
 * lane and fusion"). Subcommands:
 *   bench_vector embed [chunks=20000]
 *       hash-embedder throughput (chunks/s) on generated text chunks.
 *   bench_vector build N [efC=40] [batch=0]
 *       HNSW (M 32) build over N random unit vectors, cairn (vectorised
 *       storage) and the raw FAISS C API (FAISS's own kernel) in the same
 *       run (raw only up to 50k): wall and CPU seconds. batch: vectors per
 *       add call (0 = one call); the build rate of each call is printed.
 *   bench_vector sweep N random|text [queries=300] [efC=40]
 *       flat (exact) and HNSW over N vectors: p50/p99 of each, HNSW recall@10
 *       against flat at efSearch 16..256, cairn's call vs the raw FAISS call.
 *   bench_vector flat N random|text [queries=100]
 *       flat only (1M fits in memory): p50/p99, cairn vs raw FAISS.
 *   bench_vector kb KBDIR [queries=300] [efSearch]
 *       the KB's own vectors.faiss (HNSW): recall@10 and recall@50 against
 *       an exact flat search over the same chunks (re-embedded from
 *       cairn.db; raw FAISS, all queries in one call), and p50/p99 per query, at efSearch 32..256 (or the one
 *       given), cairn's search (its integer walk), cairn's with the float
 *       walk (CAIRN_HNSW_WALK=float) and FAISS's (CAIRN_FAISS_SEARCH=1).
 *       Queries are those of bench/serve_load.sh ("wA wB"), or the lines of
 *       the file BENCH_QUERIES names.
 *   bench_vector walk KBDIR [queries=2000] [k=50] [reps=3]
 *       the vector lane alone on the KB's own vectors.faiss: the serve_load
 *       queries searched k deep (the hybrid depth) on one thread, reps
 *       times; CPU microseconds per query and a checksum of every result's
 *       id and score bits (equal checksums: the same results, bit for
 *       bit). Under callgrind (--instr-atstart=no) only the searches are
 *       instrumented (the open, with its delta, is not). CAIRN_HNSW_WALK=float
 *       in the environment: the float walk.
 * "text" vectors are the hash embedder's, over generated chunks of ~40 words
 * (a 4,000-word Zipf vocabulary, 200 topics); queries are 2-6 words embedded
 * the same way. "random" vectors are isotropic unit vectors (HNSW's worst
 * case). Latencies are wall-clock microseconds on one thread. */
#include "retrieval.h"
#include "bench_kb.h"

#include <faiss/c_api/AutoTune_c.h>
#include <faiss/c_api/Index_c.h>
#include <faiss/c_api/MetaIndexes_c.h>
#include <faiss/c_api/error_c.h>
#include <faiss/c_api/index_factory_c.h>
#include <faiss/c_api/index_io_c.h>
#include <faiss/c_api/utils/distances_c.h>

#include <math.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#if defined(__has_include)
#if __has_include(<valgrind/callgrind.h>)
#include <valgrind/callgrind.h>    /* walk: instrument only the searches */
#endif
#endif
#ifndef CALLGRIND_START_INSTRUMENTATION
#define CALLGRIND_START_INSTRUMENTATION
#define CALLGRIND_STOP_INSTRUMENTATION
#endif

static uint64_t rng = 0x9E3779B97F4A7C15ULL;
static uint64_t next(void) { rng ^= rng << 13; rng ^= rng >> 7; rng ^= rng << 17; return rng; }
static double urand(void) { return (double)(next() >> 11) / 9007199254740992.0; }

static double cpu_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
    return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

static void die(const char *what, const char *msg) { fprintf(stderr, "%s: %s\n", what, msg); exit(1); }

static void rand_unit(float *v, int d)
{
    double s = 0;
    for (int i = 0; i < d; i++) {        /* Box-Muller: isotropic directions */
        double u = urand() + 1e-300, w = urand();
        v[i] = (float)(sqrt(-2 * log(u)) * cos(6.283185307179586 * w));
        s += (double)v[i] * v[i];
    }
    for (int i = 0; i < d; i++) v[i] = (float)(v[i] / sqrt(s));
}

static int cmp_d(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static void pct(double *t, int n, double *p50, double *p99)
{
    qsort(t, (size_t)n, sizeof *t, cmp_d);
    *p50 = t[n / 2];
    *p99 = t[(n * 99) / 100 < n ? (n * 99) / 100 : n - 1];
}

/* ---------------------------------------------------------------- text generator */

enum { VOCAB = 4000, TOPICS = 200, TOPIC_WORDS = 60 };
static char  *vocab[VOCAB];
static double zipf_cdf[VOCAB];
static int    topic[TOPICS][TOPIC_WORDS];

static void gen_init(void)
{
    static const char *syll[] = { "ka", "ro", "mi", "tse", "lu", "vor", "an", "qui", "del", "be",
                                  "strom", "nu", "ge", "pha", "ix", "ol", "tra", "em", "sy", "do",
                                  "par", "ten", "sil", "cor" };
    double z = 0;
    for (int i = 0; i < VOCAB; i++) {
        cc_buf b = CC_BUF_INIT(64);
        int ns = 2 + (int)(next() % 3);
        for (int s = 0; s < ns; s++) cc_buf_puts(&b, syll[next() % 24]);
        cc_buf_printf(&b, "%c", 'a' + i % 26);    /* keeps the words distinct enough */
        vocab[i] = cc_buf_detach(&b);
        z += 1.0 / (i + 1);
        zipf_cdf[i] = z;
    }
    for (int i = 0; i < VOCAB; i++) zipf_cdf[i] /= z;
    for (int t = 0; t < TOPICS; t++)
        for (int w = 0; w < TOPIC_WORDS; w++) topic[t][w] = 200 + (int)(next() % (VOCAB - 200));
}

static int zipf_word(void)
{
    double u = urand();
    int lo = 0, hi = VOCAB - 1;
    while (lo < hi) { int mid = (lo + hi) / 2; if (zipf_cdf[mid] < u) lo = mid + 1; else hi = mid; }
    return lo;
}

/* `words` words on one topic: 40% topic words, the rest from the Zipf law,
 * sentences of 8-15 words. Caller frees. */
static char *gen_text(int words)
{
    int t = (int)(next() % TOPICS), until = 8 + (int)(next() % 8);
    cc_buf b = CC_BUF_INIT(1 << 16);
    for (int w = 0; w < words; w++) {
        int id = urand() < 0.4 ? topic[t][next() % TOPIC_WORDS] : zipf_word();
        cc_buf_puts(&b, vocab[id]);
        if (--until == 0 || w == words - 1) { cc_buf_puts(&b, ". "); until = 8 + (int)(next() % 8); }
        else cc_buf_puts(&b, " ");
    }
    return cc_buf_detach(&b);
}

/* n vectors into x: random, or the hash embedder over generated texts of
 * `words` words (words 0: queries, 2-6 words). */
static void make_vectors(int text, int64_t n, int d, int words, float *x)
{
    if (!text) { for (int64_t i = 0; i < n; i++) rand_unit(x + i * d, d); return; }
    cr_embedder *e;
    if (cr_embedder_open("hash", NULL, &e) != CC_OK) die("embedder", cc_errmsg());
    if (cr_embedder_dim(e) != d) die("embedder", "dimension differs");
    enum { B = 256 };
    char *t[B];
    for (int64_t i = 0; i < n; i += B) {
        int nb = n - i < B ? (int)(n - i) : B;
        for (int j = 0; j < nb; j++) t[j] = gen_text(words ? words : 2 + (int)(next() % 5));
        if (cr_embedder_embed(e, (const char *const *)t, NULL, (size_t)nb, x + i * d) != CC_OK)
            die("embed", cr_embedder_errmsg(e));
        for (int j = 0; j < nb; j++) free(t[j]);
    }
    cr_embedder_close(e);
}

/* ---------------------------------------------------------------- embed */

static void bench_embed(int n_chunks)
{
    cr_embedder *e;
    if (cr_embedder_open("hash", NULL, &e) != CC_OK) die("embedder", cc_errmsg());
    int d = cr_embedder_dim(e);
    static const int sizes[2] = { 40, 300 };
    for (int s = 0; s < 2; s++) {
        char **texts = malloc((size_t)n_chunks * sizeof *texts);
        size_t bytes = 0;
        for (int c = 0; c < n_chunks; c++) { texts[c] = gen_text(sizes[s]); bytes += strlen(texts[c]); }
        enum { BATCH = 64 };
        float *out = malloc((size_t)BATCH * d * sizeof *out);
        double t0 = cc_now_ms(), c0 = cpu_ms();
        for (int c = 0; c < n_chunks; c += BATCH) {
            int nb = n_chunks - c < BATCH ? n_chunks - c : BATCH;
            if (cr_embedder_embed(e, (const char *const *)texts + c, NULL, (size_t)nb, out) != CC_OK)
                die("embed", cr_embedder_errmsg(e));
        }
        double ms = cc_now_ms() - t0, cms = cpu_ms() - c0;
        printf("hash embedder (%s): %d chunks of %d words (%.0f bytes avg): %.0f chunks/s wall, "
               "%.0f chunks/s CPU, %.1f MB/s CPU (1 thread)\n", cr_embedder_identity(e), n_chunks,
               sizes[s], (double)bytes / n_chunks, n_chunks / (ms / 1000.0),
               n_chunks / (cms / 1000.0), bytes / (cms / 1000.0) / 1e6);
        for (int c = 0; c < n_chunks; c++) free(texts[c]);
        free(texts);
        free(out);
    }
    cr_embedder_close(e);
}

/* ---------------------------------------------------------------- build */

static void bench_build(int64_t N, int efc, int64_t batch)
{
    int d = 384;
    float *x = malloc((size_t)N * d * sizeof *x);
    int64_t *ids = malloc((size_t)N * sizeof *ids);
    if (!x || !ids) die("alloc", "out of memory");
    for (int64_t i = 0; i < N; i++) { rand_unit(x + i * d, d); ids[i] = i + 1; }
    if (batch <= 0 || batch > N) batch = N;
    for (int w = 0; w < (N <= 50000 ? 2 : 1); w++) {   /* the raw build: small N only */
        double t0 = cc_now_ms(), c0 = cpu_ms();
        if (w == 0) {
            char path[128];
            snprintf(path, sizeof path, "/tmp/bench_vector_%d_b.faiss", (int)getpid());
            cr_vindex_opts o = { 1, 32, 64, efc, 0 };
            cr_vindex *vi;
            if (cr_vindex_create(path, "bench", d, &o, &vi) != CC_OK) die("create", cc_errmsg());
            for (int64_t i = 0; i < N; i += batch) {
                int64_t b = N - i < batch ? N - i : batch;
                double bc = cpu_ms();
                if (cr_vindex_add(vi, (size_t)b, ids + i, x + i * d) != CC_OK)
                    die("add", cr_vindex_errmsg(vi));
                if (b < N)
                    printf("  vectors %lld..%lld: %.0f vectors per CPU-second\n", (long long)i,
                           (long long)(i + b), b / ((cpu_ms() - bc) / 1000));
            }
            cr_vindex_close(vi);
        } else {
            FaissIndex *idx;
            FaissParameterSpace *ps;
            if (faiss_index_factory(&idx, d, "IDMap2,HNSW32", METRIC_INNER_PRODUCT) ||
                faiss_ParameterSpace_new(&ps) ||
                faiss_ParameterSpace_set_index_parameter(
                    ps, faiss_IndexIDMap2_sub_index(faiss_IndexIDMap2_cast(idx)), "efConstruction", efc))
                die("raw", faiss_get_last_error());
            faiss_ParameterSpace_free(ps);
            for (int64_t i = 0; i < N; i += batch) {
                int64_t b = N - i < batch ? N - i : batch;
                if (faiss_Index_add_with_ids(idx, b, x + i * d, ids + i)) die("raw add", faiss_get_last_error());
            }
            faiss_Index_free(idx);
        }
        double ms = cc_now_ms() - t0, cms = cpu_ms() - c0;
        printf("HNSW build %lld random vectors (M 32, efC %d, %lld per add call), %s: "
               "wall %.1f s, CPU %.1f s, %.0f vectors per CPU-second\n", (long long)N, efc,
               (long long)batch, w ? "raw FAISS (its scalar kernel)" : "cairn (vectorised)",
               ms / 1000, cms / 1000, N / (cms / 1000));
    }
    free(x);
    free(ids);
}

/* ---------------------------------------------------------------- search */

/* The FAISS index inside a saved cairn file, read with the raw C API. */
static FaissIndex *raw_load(const char *path, int ef)
{
    FILE *f = fopen(path, "rb");
    unsigned char h[64];      /* layout: retrieval/vindex.c; no tombstones here */
    if (!f || fread(h, 1, 64, f) != 64) die("raw", "cannot read header");
    uint32_t idl = (uint32_t)h[36] | (uint32_t)h[37] << 8 | (uint32_t)h[38] << 16 | (uint32_t)h[39] << 24;
    fseek(f, 64 + (long)idl, SEEK_SET);
    FaissIndex *idx = NULL;
    if (faiss_read_index(f, 0, &idx)) die("raw read", faiss_get_last_error());
    fclose(f);
    if (ef) {
        FaissParameterSpace *ps;
        faiss_ParameterSpace_new(&ps);
        faiss_ParameterSpace_set_index_parameter(
            ps, faiss_IndexIDMap2_sub_index(faiss_IndexIDMap2_cast(idx)), "efSearch", ef);
        faiss_ParameterSpace_free(ps);
    }
    return idx;
}

/* cairn's call vs the raw FAISS call on the same index file, interleaved. */
static void cairn_vs_raw(const char *label, cr_vindex *vi, const char *path, int ef,
                         const float *q, int64_t Q, int d)
{
    if (cr_vindex_save(vi) != CC_OK) die("save", cr_vindex_errmsg(vi));
    FaissIndex *raw = raw_load(path, ef);
    float dist[10], sc[10];
    idx_t lab[10];
    int64_t out_ids[10];
    size_t nr;
    double tr = 0, tc = 0, t0;
    for (int rep = 0; rep < 2; rep++) {
        for (int64_t i = 0; i < Q; i++) {
            t0 = cc_now_ms();
            faiss_Index_search(raw, 1, q + i * d, 10, dist, lab);
            tr += cc_now_ms() - t0;
            t0 = cc_now_ms();
            cr_vindex_search(vi, q + i * d, 10, out_ids, sc, &nr);
            tc += cc_now_ms() - t0;
        }
    }
    printf("%s: cairn cr_vindex_search %.0f us vs raw faiss_Index_search %.0f us per query: "
           "ratio %.3f%s\n", label, tc * 1000 / (2.0 * Q), tr * 1000 / (2.0 * Q), tc / tr,
           ef ? " (cairn's HNSW storage is vectorised, the raw reload is not)" : "");
    faiss_Index_free(raw);
}

static void time_search(cr_vindex *vi, const float *q, int64_t Q, int d, int64_t *res,
                        double *p50, double *p99)
{
    double *t = malloc((size_t)Q * sizeof *t);
    float sc[10];
    size_t nr;
    for (int64_t i = 0; i < Q; i++) {
        double t0 = cc_now_ms();
        if (cr_vindex_search(vi, q + i * d, 10, res + i * 10, sc, &nr) != CC_OK)
            die("search", cr_vindex_errmsg(vi));
        for (size_t j = nr; j < 10; j++) res[i * 10 + j] = -1;
        t[i] = (cc_now_ms() - t0) * 1000;
    }
    pct(t, (int)Q, p50, p99);
    free(t);
}

static void bench_search(int64_t N, int text, int64_t Q, int efc, int hnsw)
{
    int d = 384;
    float *x = malloc((size_t)N * d * sizeof *x), *q = malloc((size_t)Q * d * sizeof *q);
    int64_t *ids = malloc((size_t)N * sizeof *ids);
    if (!x || !q || !ids) die("alloc", "out of memory");
    double t0 = cc_now_ms(), c0 = cpu_ms();
    make_vectors(text, N, d, 40, x);
    make_vectors(text, Q, d, 0, q);
    for (int64_t i = 0; i < N; i++) ids[i] = i + 1;
    printf("%lld %s vectors dim %d + %lld queries made in %.1f s wall, %.1f s CPU\n",
           (long long)N, text ? "hash-embedded text (~40-word chunks)" : "random unit", d,
           (long long)Q, (cc_now_ms() - t0) / 1000, (cpu_ms() - c0) / 1000);

    char fpath[128], hpath[128];
    snprintf(fpath, sizeof fpath, "/tmp/bench_vector_%d_flat.faiss", (int)getpid());
    snprintf(hpath, sizeof hpath, "/tmp/bench_vector_%d_hnsw.faiss", (int)getpid());
    cr_vindex_opts fo = { N + 1, 0, 0, 0, 0 };
    cr_vindex *flat;
    if (cr_vindex_create(fpath, "bench", d, &fo, &flat) != CC_OK) die("create", cc_errmsg());
    t0 = cc_now_ms();
    if (cr_vindex_add(flat, (size_t)N, ids, x) != CC_OK) die("add flat", cr_vindex_errmsg(flat));
    printf("flat build: %.1f s\n", (cc_now_ms() - t0) / 1000);

    int64_t *fid = malloc((size_t)Q * 10 * sizeof *fid), *hid = malloc((size_t)Q * 10 * sizeof *hid);
    double p50, p99;
    for (int bt = 0; bt < 2; bt++) {      /* FAISS's BLAS threshold: 20 (its default), 1 (cairn's) */
        faiss_set_distance_compute_blas_threshold(bt ? 1 : 20);
        time_search(flat, q, Q, d, fid, &p50, &p99);
        printf("flat (exact) top-10, blas threshold %d: p50 %.0f us, p99 %.0f us\n",
               bt ? 1 : 20, p50, p99);
    }
    faiss_set_distance_compute_blas_threshold(1);       /* what cairn sets */
    cairn_vs_raw("flat", flat, fpath, 0, q, Q, d);

    if (hnsw) {
        cr_vindex_opts ho = { 1, 32, 64, efc, 0 };
        cr_vindex *h;
        if (cr_vindex_create(hpath, "bench", d, &ho, &h) != CC_OK) die("create", cc_errmsg());
        t0 = cc_now_ms(); c0 = cpu_ms();
        if (cr_vindex_add(h, (size_t)N, ids, x) != CC_OK) die("add hnsw", cr_vindex_errmsg(h));
        printf("HNSW (M 32, efC %d) build: wall %.1f s, CPU %.1f s\n", efc,
               (cc_now_ms() - t0) / 1000, (cpu_ms() - c0) / 1000);
        if (cr_vindex_save(h) != CC_OK) die("save", cr_vindex_errmsg(h));
        cr_vindex_close(h);
        static const int efs[5] = { 16, 32, 64, 128, 256 };
        for (int e = 0; e < 5; e++) {
            ho.hnsw_ef_search = efs[e];
            if (cr_vindex_open(hpath, "bench", d, &ho, &h) != CC_OK) die("open", cc_errmsg());
            time_search(h, q, Q, d, hid, &p50, &p99);
            int64_t hit = 0;
            for (int64_t i = 0; i < Q; i++)
                for (int a = 0; a < 10; a++)
                    for (int b = 0; b < 10; b++)
                        hit += hid[i * 10 + a] >= 0 && hid[i * 10 + a] == fid[i * 10 + b];
            printf("HNSW efSearch %3d: p50 %.0f us, p99 %.0f us, recall@10 vs flat %.3f\n",
                   efs[e], p50, p99, (double)hit / (double)(Q * 10));
            if (efs[e] == 64) cairn_vs_raw("HNSW efSearch 64", h, hpath, 64, q, Q, d);
            cr_vindex_close(h);
        }
        unlink(hpath);
    }
    unlink(fpath);
    cr_vindex_close(flat);
    free(x); free(q); free(ids); free(fid); free(hid);
}

/* recall of `got` (Q x k, -1 = none) against `want` (Q x k) */
static double recall(const int64_t *got, const int64_t *want, int64_t Q, int k)
{
    int64_t hit = 0;
    for (int64_t i = 0; i < Q; i++)
        for (int a = 0; a < k; a++)
            for (int b = 0; b < k; b++)
                hit += got[i * k + a] >= 0 && got[i * k + a] == want[i * k + b];
    return (double)hit / (double)(Q * k);
}

static void search_all(cr_vindex *vi, const float *q, int64_t Q, int d, int k, int64_t *res,
                       double *p50, double *p99)
{
    double *t = malloc((size_t)Q * sizeof *t);
    float *sc = malloc((size_t)k * sizeof *sc);
    size_t nr;
    if (!t || !sc) die("alloc", "out of memory");
    for (int64_t i = 0; i < Q; i++) {
        double t0 = cc_now_ms();
        if (cr_vindex_search(vi, q + i * d, k, res + i * k, sc, &nr) != CC_OK)
            die("search", cr_vindex_errmsg(vi));
        for (size_t j = nr; j < (size_t)k; j++) res[i * k + j] = -1;
        t[i] = (cc_now_ms() - t0) * 1000;
    }
    pct(t, (int)Q, p50, p99);
    free(t);
    free(sc);
}

/* The KB at dir opened to read, its embedder and its vectors.faiss path. */
static void kb_open(const char *dir, cc_kb **kb, cr_embedder **e, cc_buf *path)
{
    if (cc_kb_open(dir, CC_KB_READ, kb) != CC_OK) die(dir, cc_errmsg());
    if (cr_embedder_from_kb(*kb, e) != CC_OK) die("embedder", cc_kb_errmsg(*kb));
    if (cc_kb_path(*kb, "vectors.faiss", path)) die("path", "out of memory");
}

/* Q queries (bench_kb.h) embedded by e. Caller frees. */
static float *kb_queries(cr_embedder *e, int64_t Q)
{
    int d = cr_embedder_dim(e);
    float *q = malloc((size_t)Q * d * sizeof *q);
    char **qs = bench_queries(Q);
    if (!q) die("alloc", "out of memory");
    for (int64_t i = 0; i < Q; i++)
        if (cr_embedder_embed_query(e, qs[i], strlen(qs[i]), q + i * d) != CC_OK)
            die("embed", cr_embedder_errmsg(e));
    bench_queries_free(qs, Q);
    return q;
}

static void bench_kb(const char *dir, int64_t Q, int ef_only)
{
    cc_kb *kb;
    cr_embedder *e;
    cc_buf path = CC_BUF_INIT(0);
    kb_open(dir, &kb, &e, &path);
    int d = cr_embedder_dim(e);
    double t0 = cc_now_ms();
    /* the exact reference: every chunk re-embedded into a raw FAISS flat
     * index, searched for all the queries in one call (BLAS) */
    FaissIndex *flat = bench_exact_index(kb, e);
    int64_t nch = (int64_t)faiss_Index_ntotal(flat);
    printf("%lld chunks re-embedded into a flat index in %.1f s\n", (long long)nch,
           (cc_now_ms() - t0) / 1000);
    float *q = kb_queries(e, Q);
    static const int ks[2] = { 10, 50 };
    int64_t *want[2], *got[2];
    double p50, p99;
    float *dist = malloc((size_t)Q * 50 * sizeof *dist);
    for (int j = 0; j < 2; j++) {
        want[j] = malloc((size_t)Q * ks[j] * sizeof *want[j]);
        got[j] = malloc((size_t)Q * ks[j] * sizeof *got[j]);
        if (!dist || !want[j] || !got[j]) die("alloc", "out of memory");
    }
    t0 = cc_now_ms();
    if (faiss_Index_search(flat, Q, q, 50, dist, want[1])) die("flat search", faiss_get_last_error());
    for (int64_t i = 0; i < Q; i++)            /* the exact top 10: the top 50's first 10 */
        memcpy(want[0] + i * 10, want[1] + i * 50, 10 * sizeof *want[0]);
    printf("flat (exact) top-50 of %lld queries in one call: %.1f s\n", (long long)Q,
           (cc_now_ms() - t0) / 1000);
    free(dist);
    static const int efs[4] = { 32, 64, 128, 256 };
    static const char *impls[3] = { "cairn", "cairn-float", "FAISS" };
    for (int ei = 0; ei < 4; ei++) {
        if (ef_only && efs[ei] != ef_only) continue;
        for (int impl = 0; impl < 3; impl++) {
            cr_vindex_opts ho = { 1, 0, efs[ei], 0, 0 };
            cr_vindex *h;
            setenv("CAIRN_FAISS_SEARCH", impl == 2 ? "1" : "0", 1);
            setenv("CAIRN_HNSW_WALK", impl == 1 ? "float" : "int", 1);
            if (cr_vindex_open(path.data, cr_embedder_identity(e), d, &ho, &h) != CC_OK)
                die("open", cc_errmsg());
            if (!cr_vindex_is_hnsw(h)) die("open", "the KB's vector index is not HNSW");
            double r[2];
            for (int j = 0; j < 2; j++) {
                search_all(h, q, Q, d, ks[j], got[j], &p50, &p99);
                r[j] = recall(got[j], want[j], Q, ks[j]);
            }
            printf("efSearch %3d %-11s: top-50 p50 %5.0f us, p99 %5.0f us, recall@10 %.4f, "
                   "recall@50 %.4f\n", efs[ei], impls[impl], p50, p99, r[0], r[1]);
            cr_vindex_close(h);
        }
    }
    unsetenv("CAIRN_FAISS_SEARCH");
    unsetenv("CAIRN_HNSW_WALK");
    for (int j = 0; j < 2; j++) { free(want[j]); free(got[j]); }
    free(q);
    faiss_Index_free(flat);
    cr_embedder_close(e);
    cc_buf_free(&path);
    cc_kb_close(kb);
}

static void bench_walk(const char *dir, int64_t Q, int k, int reps)
{
    cc_kb *kb;
    cr_embedder *e;
    cc_buf path = CC_BUF_INIT(0);
    kb_open(dir, &kb, &e, &path);
    int d = cr_embedder_dim(e);
    float *q = kb_queries(e, Q);
    int64_t *ids = malloc((size_t)k * sizeof *ids);
    float *sc = malloc((size_t)k * sizeof *sc);
    if (!ids || !sc) die("alloc", "out of memory");
    cr_vindex *h;
    double t0 = cc_now_ms();
    if (cr_vindex_open(path.data, cr_embedder_identity(e), d, NULL, &h) != CC_OK)
        die("open", cc_errmsg());
    if (!cr_vindex_is_hnsw(h)) die("open", "the KB's vector index is not HNSW");
    printf("opened %lld vectors in %.1f s\n", (long long)cr_vindex_count(h),
           (cc_now_ms() - t0) / 1000);
    CALLGRIND_START_INSTRUMENTATION;
    for (int r = 0; r < reps; r++) {
        uint64_t sum = 0xcbf29ce484222325ULL;     /* FNV-1a over ids and score bits */
        size_t nres = 0;
        double c0 = cpu_ms(), w0 = cc_now_ms();
        for (int64_t i = 0; i < Q; i++) {
            size_t nr;
            if (cr_vindex_search(h, q + i * d, k, ids, sc, &nr) != CC_OK)
                die("search", cr_vindex_errmsg(h));
            for (size_t j = 0; j < nr; j++) {
                uint32_t b;
                memcpy(&b, &sc[j], sizeof b);
                uint64_t x = (uint64_t)ids[j] ^ ((uint64_t)b << 32);
                for (int t = 0; t < 8; t++) { sum ^= (x >> (8 * t)) & 0xff; sum *= 0x100000001b3ULL; }
            }
            nres += nr;
        }
        printf("walk rep %d: %lld queries k %d: %.1f us CPU/query, %.1f us wall/query, "
               "%zu results, checksum %016llx\n", r, (long long)Q, k,
               (cpu_ms() - c0) * 1000 / Q, (cc_now_ms() - w0) * 1000 / Q, nres,
               (unsigned long long)sum);
    }
    CALLGRIND_STOP_INSTRUMENTATION;
    cr_vindex_close(h);
    free(q);
    free(ids);
    free(sc);
    cr_embedder_close(e);
    cc_buf_free(&path);
    cc_kb_close(kb);
}

int main(int argc, char **argv)
{
    setvbuf(stdout, NULL, _IOLBF, 0);
    const char *omp = getenv("OMP_NUM_THREADS"), *wp = getenv("OMP_WAIT_POLICY");
    printf("OMP_NUM_THREADS=%s OMP_WAIT_POLICY=%s\n", omp ? omp : "(unset)", wp ? wp : "(unset)");
    gen_init();
    const char *cmd = argc > 1 ? argv[1] : "";
    int64_t a = 0, b = 0, c = 0;
    int text = argc > 3 && strcmp(argv[3], "text") == 0;
    if (strcmp(cmd, "embed") == 0 && !(argc > 2 && cc_parse_i64(argv[2], 1, 10000000, &a))) {
        bench_embed(argc > 2 ? (int)a : 20000);
    } else if (strcmp(cmd, "build") == 0 && argc > 2 && !cc_parse_i64(argv[2], 100, 100000000, &a) &&
               !(argc > 3 && cc_parse_i64(argv[3], 1, 4096, &b)) &&
               !(argc > 4 && cc_parse_i64(argv[4], 0, 100000000, &c))) {
        bench_build(a, argc > 3 ? (int)b : 40, argc > 4 ? c : 0);
    } else if ((strcmp(cmd, "sweep") == 0 || strcmp(cmd, "flat") == 0) && argc > 3 &&
               !cc_parse_i64(argv[2], 100, 100000000, &a) &&
               (text || strcmp(argv[3], "random") == 0) &&
               !(argc > 4 && cc_parse_i64(argv[4], 10, 1000000, &b)) &&
               !(argc > 5 && cc_parse_i64(argv[5], 1, 4096, &c))) {
        int sweep = strcmp(cmd, "sweep") == 0;
        bench_search(a, text, argc > 4 ? b : (sweep ? 300 : 100), argc > 5 ? (int)c : 40, sweep);
    } else if (strcmp(cmd, "kb") == 0 && argc > 2 &&
               !(argc > 3 && cc_parse_i64(argv[3], 10, 1000000, &b)) &&
               !(argc > 4 && cc_parse_i64(argv[4], 32, 256, &c))) {
        bench_kb(argv[2], argc > 3 ? b : 300, argc > 4 ? (int)c : 0);
    } else if (strcmp(cmd, "walk") == 0 && argc > 2 &&
               !(argc > 3 && cc_parse_i64(argv[3], 1, 1000000, &a)) &&
               !(argc > 4 && cc_parse_i64(argv[4], 1, 10000, &b)) &&
               !(argc > 5 && cc_parse_i64(argv[5], 1, 1000, &c))) {
        bench_walk(argv[2], argc > 3 ? a : 2000, argc > 4 ? (int)b : 50, argc > 5 ? (int)c : 3);
    } else {
        fprintf(stderr, "usage: bench_vector embed [chunks] | build N [efC] [batch] | "
                        "sweep N random|text [queries] [efC] | flat N random|text [queries] | "
                        "kb KBDIR [queries] [efSearch] | walk KBDIR [queries] [k] [reps]\n");
        return 2;
    }
    for (int i = 0; i < VOCAB; i++) free(vocab[i]);
    return 0;
}
