/* bench_walkrecall.c — the HNSW walk's recall against its cost, and what
 * that does to hybrid answers (docs/benchmarks.md, "The HNSW walk's recall
 * against its cost (walkrecall, issue 7)").
 *
 *   bench_walkrecall KBDIR [queries=1000] [efs=48,64,80,96,128] [depths=50,40,30]
 *
 * KBDIR: a KB whose vectors.faiss is HNSW and caught up to its catalog
 * (opened read-only; nothing is written). Queries: those bench/serve_load.sh
 * sends ("wA wB", the same sequence), or the lines of the file
 * BENCH_QUERIES names. Every chunk is re-embedded with the KB's embedder
 * into an exact (flat) index: the reference top-depth of each query.
 *
 * For every efSearch e and vector depth v (the k the vector lane asks the
 * walk for; the walk's result set is max(e, v)), and BM25 depth b, it prints:
 *   - walk recall@v: the share of the exact top-v the walk returns;
 *   - same10: the share of queries whose hybrid top 10 (RRF, the KB's
 *     fusion settings; ids and order) is identical to the current default's
 *     (efSearch 128, depth 50 both lanes);
 *   - hyb R@10: hybrid top-10 recall against the exact-vector hybrid (BM25
 *     at depth 50 fused with the exact vector top 50);
 *   - instructions (user space, perf_event_open; "n/a" where the kernel
 *     does not allow it) and thread CPU microseconds per query of the
 *     vector lane and of the BM25 lane, and their sum per hybrid query.
 * The default row is also checked against cr_searcher_search (the real
 * hybrid path) on the first queries: the program stops if they differ. */
#include "retrieval.h"
#include "bench_kb.h"

#include <faiss/c_api/Index_c.h>
#include <faiss/c_api/index_factory_c.h>
#include <faiss/c_api/error_c.h>

#include <linux/perf_event.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#define MAXD 50           /* deepest lane compared (the default search.depth) */
#define TOP 10            /* the hybrid answer compared (search.k) */

static void die(const char *what, const char *msg) { fprintf(stderr, "%s: %s\n", what, msg); exit(1); }

static double thread_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return ts.tv_sec * 1e6 + ts.tv_nsec / 1e3;
}

/* User-space instructions retired by this thread: a perf counter, or -1. */
static int instr_fd = -1;
static void instr_open(void)
{
    struct perf_event_attr a;
    memset(&a, 0, sizeof a);
    a.type = PERF_TYPE_HARDWARE;
    a.size = sizeof a;
    a.config = PERF_COUNT_HW_INSTRUCTIONS;
    a.exclude_kernel = 1;
    a.exclude_hv = 1;
    instr_fd = (int)syscall(SYS_perf_event_open, &a, 0, -1, -1, 0);
}
static long long instr_now(void)
{
    long long v;
    if (instr_fd < 0 || read(instr_fd, &v, sizeof v) != sizeof v) return -1;
    return v;
}

/* "48,64,128" -> values in lo..hi; returns the count (at most max). */
static int parse_list(const char *s, int64_t lo, int64_t hi, int *out, int max)
{
    int n = 0;
    char tok[32];
    while (*s && n < max) {
        size_t l = strcspn(s, ",");
        if (l == 0 || l >= sizeof tok) die(s, "a list of numbers separated by commas");
        memcpy(tok, s, l);
        tok[l] = 0;
        int64_t v;
        if (cc_parse_i64(tok, lo, hi, &v)) {
            fprintf(stderr, "'%s' in a list: want whole numbers %lld..%lld\n", tok,
                    (long long)lo, (long long)hi);
            exit(2);
        }
        out[n++] = (int)v;
        s += l;
        if (*s == ',') s++;
    }
    if (n == 0) die("list", "empty");
    return n;
}

/* A lane's hits for one query, at most MAXD. */
typedef struct { cr_hit h[MAXD]; int n; } lane;

static void lane_set(lane *l, const cr_hit *h, size_t n)
{
    l->n = n > MAXD ? MAXD : (int)n;
    memcpy(l->h, h, (size_t)l->n * sizeof *h);
}

/* Fused top 10 ids of two lanes (the searcher's fusion); returns the count. */
static int fuse(const lane *bm, const lane *vec, const cr_fuse_opts *fo, int64_t *top)
{
    const cr_hit *const lanes[CR_LANE_COUNT] = { bm->h, vec->h };
    const size_t n[CR_LANE_COUNT] = { (size_t)bm->n, (size_t)vec->n };
    cr_hit *out;
    size_t m;
    if (cr_fuse_rrf(lanes, n, fo, &out, &m) != CC_OK) die("fusion", cc_errmsg());
    for (size_t i = 0; i < m; i++) top[i] = out[i].chunk_id;
    free(out);
    return (int)m;
}

static int overlap(const int64_t *a, int na, const int64_t *b, int nb)
{
    int c = 0;
    for (int i = 0; i < na; i++)
        for (int j = 0; j < nb; j++)
            if (a[i] == b[j]) { c++; break; }
    return c;
}

int main(int argc, char **argv)
{
    int64_t Q = 1000;
    int efs[16], deps[16];
    if (argc < 2 || (argc > 2 && cc_parse_i64(argv[2], 1, 1000000, &Q))) {
        fprintf(stderr, "usage: bench_walkrecall KBDIR [queries=1000] [efs=48,64,80,96,128]"
                        " [depths=50,40,30]  (BENCH_QUERIES=FILE: queries, one a line)\n");
        return 2;
    }
    cr_vindex_huge_pages(1);   /* as `cairn serve` searches (CAIRN_HNSW_HUGE=0: not) */
    int nef = parse_list(argc > 3 ? argv[3] : "48,64,80,96,128", 1, 4096, efs, 16);
    int ndep = parse_list(argc > 4 ? argv[4] : "50,40,30", 1, MAXD, deps, 16);
    cc_kb *kb;
    cr_embedder *e;
    cc_buf path = CC_BUF_INIT(0);
    if (cc_kb_open(argv[1], CC_KB_READ, &kb) != CC_OK) die(argv[1], cc_errmsg());
    if (cr_embedder_from_kb(kb, &e) != CC_OK) die("embedder", cc_kb_errmsg(kb));
    if (cc_kb_path(kb, "vectors.faiss", &path)) die("path", "out of memory");
    cr_search_opts so;
    if (cr_search_opts_from_kb(kb, &so) != CC_OK) die("settings", cc_kb_errmsg(kb));
    cr_fuse_opts fo = CR_FUSE_OPTS_DEFAULT;
    fo.k = so.fusion_k;
    fo.weight[CR_LANE_BM25] = so.weight[CR_LANE_BM25];
    fo.weight[CR_LANE_VECTOR] = so.weight[CR_LANE_VECTOR];
    fo.limit = TOP;
    int d = cr_embedder_dim(e);
    instr_open();
    if (instr_fd < 0) fprintf(stderr, "no instruction counter (perf_event_open refused): CPU time only\n");

    char **qs = bench_queries(Q);
    float *qv = malloc((size_t)Q * d * sizeof *qv);
    char *novec = calloc((size_t)Q, 1);
    if (!qv || !novec) die("alloc", "out of memory");
    for (int64_t i = 0; i < Q; i++) {
        float *q = qv + i * d;
        if (cr_embedder_embed_query(e, qs[i], strlen(qs[i]), q) != CC_OK)
            die("embed", cr_embedder_errmsg(e));
        int z = 1;
        for (int j = 0; j < d && z; j++) z = q[j] == 0.0f;
        novec[i] = (char)z;   /* the searcher runs no vector lane for it */
    }

    /* The exact vector top 50 of every query. */
    double t0 = cc_now_ms();
    FaissIndex *flat = bench_exact_index(kb, e);
    int64_t *xid = malloc((size_t)Q * MAXD * sizeof *xid);
    float *xs = malloc((size_t)Q * MAXD * sizeof *xs);
    if (!xid || !xs) die("alloc", "out of memory");
    if (faiss_Index_search(flat, Q, qv, MAXD, xs, xid)) die("flat search", faiss_get_last_error());
    faiss_Index_free(flat);
    printf("%lld queries (%s): exact top-%d in %.1f s\n", (long long)Q,
           getenv("BENCH_QUERIES") ? getenv("BENCH_QUERIES") : "serve_load's", MAXD,
           (cc_now_ms() - t0) / 1000);
    lane *exact = calloc((size_t)Q, sizeof *exact);
    if (!exact) die("alloc", "out of memory");
    for (int64_t i = 0; i < Q; i++) {
        if (novec[i]) continue;
        lane *l = &exact[i];
        for (int j = 0; j < MAXD && xid[i * MAXD + j] >= 0; j++) {
            cr_hit *h = &l->h[l->n++];
            memset(h, 0, sizeof *h);
            h->chunk_id = xid[i * MAXD + j];
            h->score = h->lane_score[CR_LANE_VECTOR] = xs[i * MAXD + j];
            h->rank[CR_LANE_VECTOR] = j + 1;
        }
    }

    /* BM25 lanes at each depth (and 50, the reference), with their cost. */
    int bdeps[17], nb = 0;
    bdeps[nb++] = MAXD;
    for (int j = 0; j < ndep; j++) if (deps[j] != MAXD) bdeps[nb++] = deps[j];
    lane *bm = calloc((size_t)Q * nb, sizeof *bm);
    double *bm_us = calloc((size_t)nb, sizeof *bm_us), *bm_in = calloc((size_t)nb, sizeof *bm_in);
    if (!bm || !bm_us || !bm_in) die("alloc", "out of memory");
    sqlite3_stmt *scan = NULL;
    for (int r = 0; r < 2; r++)          /* a warm-up pass, then the measured one */
        for (int b = 0; b < nb; b++) {
            double us = 0, in = 0;
            for (int64_t i = 0; i < Q; i++) {
                cr_hit *h = NULL;
                size_t n = 0;
                long long i0 = instr_now();
                double u0 = thread_us();
                cc_status s = cr_bm25_search_keep(kb, qs[i], bdeps[b], 0, &scan, &h, &n);
                us += thread_us() - u0;
                in += (double)(instr_now() - i0);
                if (s == CC_INVALID) n = 0;    /* no searchable words: vectors alone */
                else if (s != CC_OK) die("bm25", cc_kb_errmsg(kb));
                lane_set(&bm[(size_t)i * nb + b], h, n);
                free(h);
            }
            bm_us[b] = us / Q;
            bm_in[b] = in / Q;
        }

    /* The reference answers: the default and the exact-vector hybrid. */
    int64_t (*def)[TOP] = malloc((size_t)Q * sizeof *def), (*ex)[TOP] = malloc((size_t)Q * sizeof *ex);
    int *ndef = malloc((size_t)Q * sizeof *ndef), *nex = malloc((size_t)Q * sizeof *nex);
    lane *vl = calloc((size_t)Q, sizeof *vl);
    if (!def || !ex || !ndef || !nex || !vl) die("alloc", "out of memory");
    for (int64_t i = 0; i < Q; i++) nex[i] = fuse(&bm[(size_t)i * nb], &exact[i], &fo, ex[i]);

    printf("| efSearch | vector depth | BM25 depth | walk recall@depth | same top-10 | "
           "hybrid R@10 vs exact | vector lane: instr, CPU us | BM25 lane: instr, CPU us | "
           "lanes: instr (x default) |\n|---|---|---|---|---|---|---|---|---|\n");
    /* The default first (it is the reference for "same top-10"). */
    int order[17], no = 0;
    order[no++] = 128;
    for (int j = 0; j < nef; j++) if (efs[j] != 128) order[no++] = efs[j];
    double def_in = 0;
    for (int oi = 0; oi < no; oi++) {
        cr_vindex_opts vo;
        memset(&vo, 0, sizeof vo);
        vo.hnsw_ef_search = order[oi];
        cr_vindex *vi;
        if (cr_vindex_open(path.data, cr_embedder_identity(e), d, &vo, &vi) != CC_OK)
            die("vectors.faiss", cc_errmsg());
        if (!cr_vindex_is_hnsw(vi)) die("vectors.faiss", "not HNSW (fewer vectors than the threshold)");
        int vdeps[17], nv = 0;
        vdeps[nv++] = MAXD;
        for (int j = 0; j < ndep; j++) if (deps[j] != MAXD) vdeps[nv++] = deps[j];
        for (int v = 0; v < nv; v++) {
            double us = 0, in = 0, rec = 0;
            for (int r = 0; r < 2; r++) {      /* warm-up, then measured */
                us = in = rec = 0;
                for (int64_t i = 0; i < Q; i++) {
                    cr_hit *h = NULL;
                    size_t n = 0;
                    vl[i].n = 0;
                    if (novec[i]) continue;
                    long long i0 = instr_now();
                    double u0 = thread_us();
                    if (cr_vindex_search_hits(vi, qv + i * d, vdeps[v], &h, &n) != CC_OK)
                        die("search", cr_vindex_errmsg(vi));
                    us += thread_us() - u0;
                    in += (double)(instr_now() - i0);
                    lane_set(&vl[i], h, n);
                    free(h);
                    int64_t got[MAXD];
                    for (int j = 0; j < vl[i].n; j++) got[j] = vl[i].h[j].chunk_id;
                    int want = exact[i].n < vdeps[v] ? exact[i].n : vdeps[v];
                    rec += want ? (double)overlap(got, vl[i].n, xid + i * MAXD, want) / want : 1;
                }
            }
            for (int b = 0; b < nb; b++) {
                int same = 0;
                double hr = 0;
                for (int64_t i = 0; i < Q; i++) {
                    int64_t top[TOP];
                    int m = fuse(&bm[(size_t)i * nb + b], &vl[i], &fo, top);
                    if (oi == 0 && v == 0 && b == 0) {
                        memcpy(def[i], top, sizeof top);
                        ndef[i] = m;
                    }
                    same += m == ndef[i] && !memcmp(top, def[i], (size_t)m * sizeof *top);
                    hr += nex[i] ? (double)overlap(top, m, ex[i], nex[i]) / nex[i] : 1;
                }
                double tot = in / Q + bm_in[b];
                if (oi == 0 && v == 0 && b == 0) def_in = tot;
                char ins[64];
                if (instr_fd >= 0) snprintf(ins, sizeof ins, "%.0f k (%.3f)", tot / 1e3, tot / def_in);
                else snprintf(ins, sizeof ins, "n/a");
                char vin[32] = "n/a", bin[32] = "n/a";
                if (instr_fd >= 0) {
                    snprintf(vin, sizeof vin, "%.0f k", in / Q / 1e3);
                    snprintf(bin, sizeof bin, "%.0f k", bm_in[b] / 1e3);
                }
                printf("| %d | %d | %d | %.4f | %.4f | %.4f | %s, %.0f | %s, %.0f | %s |\n",
                       order[oi], vdeps[v], bdeps[b], rec / Q, (double)same / Q, hr / Q,
                       vin, us / Q, bin, bm_us[b], ins);
                fflush(stdout);
            }
        }
        cr_vindex_close(vi);
    }

    /* The default row against the real hybrid path (cr_searcher_search). */
    cr_searcher *sr;
    if (cr_searcher_open(kb, &sr) != CC_OK) die("searcher", cc_kb_errmsg(kb));
    cr_searcher_set_lane_thread(sr, 0);
    int64_t chk = Q < 200 ? Q : 200, bad = 0;
    for (int64_t i = 0; i < chk; i++) {
        cr_hit *h;
        size_t n;
        if (cr_searcher_search(sr, qs[i], &so, &h, &n) != CC_OK) die("search", cc_kb_errmsg(kb));
        int ok = (int)n == ndef[i];
        for (size_t j = 0; ok && j < n; j++) ok = h[j].chunk_id == def[i][j];
        bad += !ok;
        free(h);
    }
    cr_searcher_close(sr);
    printf("default row against cr_searcher_search (KB settings: efSearch from the KB, depth %d, "
           "k %d): %lld of %lld queries differ\n", so.depth, so.k, (long long)bad, (long long)chk);
    if (scan) sqlite3_finalize(scan);
    bench_queries_free(qs, Q);
    free(qv); free(novec); free(xid); free(xs); free(exact); free(bm); free(bm_us);
    free(bm_in); free(def); free(ex); free(ndef); free(nex); free(vl);
    cr_embedder_close(e);
    cc_buf_free(&path);
    cc_kb_close(kb);
    return bad ? 1 : 0;
}
