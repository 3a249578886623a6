/* bench_vector.c — numbers for the vector lane:
 *   1. hash-embedder throughput (chunks/s) on synthetic ~300-token chunks;
 *   2. flat vs HNSW search latency (p50/p99) over N random unit vectors,
 *      and HNSW recall@10 against flat (exact);
 *   3. cairn's search call vs the raw FAISS C API call on the same index.
 * Usage: bench_vector [N=100000] [dim=384] [queries=500] [chunks=5000] */
#include "retrieval.h"

#include <faiss/c_api/AutoTune_c.h>
#include <faiss/c_api/Index_c.h>
#include <faiss/c_api/MetaIndexes_c.h>
#include <faiss/c_api/error_c.h>
#include <faiss/c_api/index_io_c.h>

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static uint64_t rng = 0x9E3779B97F4A7C15ULL;
static uint64_t next(void) { rng ^= rng << 13; rng ^= rng >> 7; rng ^= rng << 17; return rng; }
static double urand(void) { return (double)(next() >> 11) / 9007199254740992.0; }

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

static void die(const char *what, const char *msg) { fprintf(stderr, "%s: %s\n", what, msg); exit(1); }

/* ---------------------------------------------------------------- embedder */

static void bench_embed(int n_chunks)
{
    static const char *syll[] = { "ka", "ro", "mi", "tse", "lu", "vor", "an", "qui", "del", "bé",
                                  "ström", "ñu", "ge", "pha", "ix", "ol", "tra", "em", "sy", "dœ" };
    cr_embedder *e;
    if (cr_embedder_open("hash", NULL, &e) != CC_OK) die("embedder", cc_errmsg());
    int d = cr_embedder_dim(e);
    char **texts = malloc((size_t)n_chunks * sizeof *texts);
    size_t bytes = 0;
    for (int c = 0; c < n_chunks; c++) {
        cc_buf b = CC_BUF_INIT(1 << 20);
        for (int w = 0; w < 300; w++) {          /* ~300 tokens */
            int ns = 1 + (int)(next() % 4);
            for (int s = 0; s < ns; s++) cc_buf_puts(&b, syll[next() % 20]);
            cc_buf_puts(&b, next() % 12 == 0 ? ". " : " ");
        }
        bytes += b.len;
        texts[c] = cc_buf_detach(&b);
    }
    enum { BATCH = 64 };
    float *out = malloc((size_t)BATCH * d * sizeof *out);
    double t0 = cc_now_ms();
    for (int c = 0; c < n_chunks; c += BATCH) {
        int nb = n_chunks - c < BATCH ? n_chunks - c : BATCH;
        if (cr_embedder_embed(e, (const char *const *)texts + c, NULL, (size_t)nb, out) != CC_OK)
            die("embed", cr_embedder_errmsg(e));
    }
    double ms = cc_now_ms() - t0;
    printf("hash embedder (%s): %d chunks of ~300 tokens (%.0f bytes avg) in %.1f ms: "
           "%.0f chunks/s, %.1f MB/s (1 thread)\n",
           cr_embedder_identity(e), n_chunks, (double)bytes / n_chunks, ms,
           n_chunks / (ms / 1000.0), bytes / (ms / 1000.0) / 1e6);
    for (int c = 0; c < n_chunks; c++) free(texts[c]);
    free(texts);
    free(out);
    cr_embedder_close(e);
}

/* ---------------------------------------------------------------- index */

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

int main(int argc, char **argv)
{
    int64_t N = 100000, dim = 384, Q = 500, chunks = 5000;
    if ((argc > 1 && cc_parse_i64(argv[1], 100, 100000000, &N)) ||
        (argc > 2 && cc_parse_i64(argv[2], 8, 4096, &dim)) ||
        (argc > 3 && cc_parse_i64(argv[3], 10, 1000000, &Q)) ||
        (argc > 4 && cc_parse_i64(argv[4], 1, 10000000, &chunks))) {
        fprintf(stderr, "usage: bench_vector [N] [dim] [queries] [chunks]\n");
        return 2;
    }
    int d = (int)dim;
    setvbuf(stdout, NULL, _IOLBF, 0);
    const char *omp = getenv("OMP_NUM_THREADS");
    printf("OMP_NUM_THREADS=%s\n", omp ? omp : "(unset)");
    bench_embed((int)chunks);

    float *x = malloc((size_t)N * d * sizeof *x), *q = malloc((size_t)Q * d * sizeof *q);
    int64_t *ids = malloc((size_t)N * sizeof *ids);
    if (!x || !q || !ids) die("alloc", "out of memory");
    for (int64_t i = 0; i < N; i++) { rand_unit(x + i * d, d); ids[i] = i + 1; }
    for (int64_t i = 0; i < Q; i++) rand_unit(q + i * d, d);

    char fpath[256], hpath[256];
    snprintf(fpath, sizeof fpath, "/tmp/bench_vector_%d_flat.faiss", (int)getpid());
    snprintf(hpath, sizeof hpath, "/tmp/bench_vector_%d_hnsw.faiss", (int)getpid());
    cr_vindex_opts fo = { N + 1, 0, 0 }, ho = { 1, 32, 64 };
    cr_vindex *flat, *hnsw;
    if (cr_vindex_create(fpath, "bench", d, &fo, &flat) != CC_OK ||
        cr_vindex_create(hpath, "bench", d, &ho, &hnsw) != CC_OK)
        die("create", cc_errmsg());
    double t0 = cc_now_ms();
    if (cr_vindex_add(flat, (size_t)N, ids, x) != CC_OK) die("add flat", cr_vindex_errmsg(flat));
    double t_flat = cc_now_ms() - t0;
    t0 = cc_now_ms();
    if (cr_vindex_add(hnsw, (size_t)N, ids, x) != CC_OK) die("add hnsw", cr_vindex_errmsg(hnsw));
    double t_hnsw = cc_now_ms() - t0;
    printf("index build, %lld vectors dim %d: flat %.0f ms, HNSW(M=32, efC=40) %.0f ms\n",
           (long long)N, d, t_flat, t_hnsw);
    t0 = cc_now_ms();
    if (cr_vindex_save(hnsw) != CC_OK || cr_vindex_save(flat) != CC_OK) die("save", "failed");
    printf("save both: %.0f ms\n", cc_now_ms() - t0);

    int64_t *fid = malloc((size_t)Q * 10 * sizeof *fid), *hid = malloc((size_t)Q * 10 * sizeof *hid);
    float sc[10];
    double *tf = malloc((size_t)Q * sizeof *tf), *th = malloc((size_t)Q * sizeof *th);
    size_t nr;
    for (int64_t i = 0; i < Q; i++) {
        t0 = cc_now_ms();
        if (cr_vindex_search(flat, q + i * d, 10, fid + i * 10, sc, &nr) != CC_OK || nr != 10)
            die("search flat", cr_vindex_errmsg(flat));
        tf[i] = (cc_now_ms() - t0) * 1000;
        t0 = cc_now_ms();
        if (cr_vindex_search(hnsw, q + i * d, 10, hid + i * 10, sc, &nr) != CC_OK || nr != 10)
            die("search hnsw", cr_vindex_errmsg(hnsw));
        th[i] = (cc_now_ms() - t0) * 1000;
    }
    int64_t hit = 0;
    for (int64_t i = 0; i < Q; i++)
        for (int a = 0; a < 10; a++)
            for (int b = 0; b < 10; b++) hit += hid[i * 10 + a] == fid[i * 10 + b];
    double p50f, p99f, p50h, p99h;
    pct(tf, (int)Q, &p50f, &p99f);
    pct(th, (int)Q, &p50h, &p99h);
    printf("search top-10, %lld queries (random unit vectors): flat p50 %.0f us p99 %.0f us; "
           "HNSW(efSearch=64) p50 %.0f us p99 %.0f us; HNSW recall@10 vs flat %.3f\n",
           (long long)Q, p50f, p99f, p50h, p99h, (double)hit / (double)(Q * 10));

    /* Near-duplicate queries (a stored vector plus noise): the case retrieval sees. */
    hit = 0;
    for (int64_t i = 0; i < Q; i++) {
        float qq[4096], noise[4096];
        const float *base = x + (size_t)(next() % (uint64_t)N) * d;
        rand_unit(noise, d);
        double s = 0;
        for (int j = 0; j < d; j++) { qq[j] = base[j] + 0.7f * noise[j]; s += (double)qq[j] * qq[j]; }
        for (int j = 0; j < d; j++) qq[j] = (float)(qq[j] / sqrt(s));
        int64_t a10[10], b10[10];
        cr_vindex_search(flat, qq, 10, a10, sc, &nr);
        cr_vindex_search(hnsw, qq, 10, b10, sc, &nr);
        hit += a10[0] == b10[0];
    }
    printf("HNSW recall@1 vs flat, queries = stored vector + noise (cos ~0.82 to it): %.3f\n",
           (double)hit / (double)Q);

    /* cairn call vs raw FAISS C API call, same index, same queries. */
    const char *paths[2] = { fpath, hpath };
    cr_vindex *vis[2] = { flat, hnsw };
    for (int w = 0; w < 2; w++) {
        FaissIndex *raw = raw_load(paths[w], w ? 64 : 0);
        float dist[10];
        idx_t lab[10];
        int64_t out_ids[10];
        double tr = 0, tc = 0;
        for (int rep = 0; rep < 2; rep++) {       /* interleaved, twice */
            for (int64_t i = 0; i < Q; i++) {
                t0 = cc_now_ms();
                faiss_Index_search(raw, 1, q + i * d, 10, dist, lab);
                tr += cc_now_ms() - t0;
                t0 = cc_now_ms();
                cr_vindex_search(vis[w], q + i * d, 10, out_ids, sc, &nr);
                tc += cc_now_ms() - t0;
            }
        }
        printf("%s: cairn cr_vindex_search %.1f us vs raw faiss_Index_search %.1f us per query: "
               "ratio %.3f\n", w ? "HNSW" : "flat", tc * 1000 / (2.0 * Q), tr * 1000 / (2.0 * Q),
               tc / tr);
        faiss_Index_free(raw);
    }
    /* Reopen cost. */
    t0 = cc_now_ms();
    cr_vindex *re;
    if (cr_vindex_open(hpath, "bench", d, &ho, &re) != CC_OK) die("open", cc_errmsg());
    printf("open HNSW file (%lld vectors): %.0f ms\n", (long long)cr_vindex_count(re), cc_now_ms() - t0);
    cr_vindex_close(re);
    unlink(fpath);
    unlink(hpath);
    cr_vindex_close(flat);
    cr_vindex_close(hnsw);
    free(x); free(q); free(ids); free(fid); free(hid); free(tf); free(th);
    return 0;
}
