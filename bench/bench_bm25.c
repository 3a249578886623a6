/* bench_bm25.c — BM25 query latency on an existing KB.
 *   bench_bm25 KB [queries=2000] [k=10] [mix=vocab] [dump]
 * mix "vocab": queries of 1-3 words drawn from the KB's own FTS vocabulary
 * (fts5vocab), weighted towards mid-frequency terms, with a fixed seed.
 * mix "serve": the two-word queries of bench/serve_load.sh ("wA wB", A =
 * n*7919 mod 50000, B = n*104729 mod 50000, n from 1), for the KBs that
 * script generates; k 50 is the hybrid mode's lane depth. mix "@FILE": the
 * lines of FILE (questions.txt, say), in turn, as many as queries asks.
 * Prints p50, p90, p99 and mean latency of cr_bm25_search in microseconds.
 * With dump (a file path), writes every hit as "query<TAB>rank<TAB>chunk id
 * <TAB>score" (%.17g), so two builds' answers can be compared. Under
 * callgrind, --toggle-collect=cr_bm25_search counts the lane alone. */
#include "retrieval.h"

#include <sqlite3.h>
#include <string.h>

static int cmp_d(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

int main(int argc, char **argv)
{
    cc_kb *kb;
    sqlite3_stmt *st;
    char **vocab = NULL;
    size_t nv = 0, cap = 0, i;
    int nq = argc > 2 ? (int)strtol(argv[2], NULL, 10) : 2000;
    int k = argc > 3 ? (int)strtol(argv[3], NULL, 10) : 10;
    int serve = argc > 4 && !strcmp(argv[4], "serve");
    int lines = argc > 4 && argv[4][0] == '@';
    FILE *dump = NULL;
    double *lat, sum = 0;
    unsigned seed = 12345;
    int64_t nchunks = 0;
    size_t total_hits = 0;

    if (argc < 2 || nq < 1 || (argc > 4 && !serve && !lines && strcmp(argv[4], "vocab"))) {
        fprintf(stderr, "usage: bench_bm25 KB [queries] [k] [vocab|serve|@FILE] [dump-file]\n");
        return 2;
    }
    if (lines) {     /* the file's non-empty lines are the "vocabulary", asked in turn */
        FILE *f = fopen(argv[4] + 1, "r");
        char line[1024];
        if (!f) { perror(argv[4] + 1); return 1; }
        while (fgets(line, sizeof line, f)) {
            line[strcspn(line, "\r\n")] = 0;
            if (!line[0]) continue;
            if (nv == cap) vocab = realloc(vocab, (cap = cap ? cap * 2 : 1024) * sizeof *vocab);
            vocab[nv++] = cc_strdup(line);
        }
        fclose(f);
        if (!nv) { fprintf(stderr, "%s: no queries\n", argv[4] + 1); return 1; }
    }
    if (argc > 5 && !(dump = fopen(argv[5], "w"))) { perror(argv[5]); return 1; }
    if (cc_kb_open(argv[1], CC_KB_READ, &kb)) { fprintf(stderr, "%s\n", cc_errmsg()); return 1; }
    if (!serve && !lines) {
        sqlite3_exec(cc_kb_db(kb), "CREATE VIRTUAL TABLE IF NOT EXISTS temp.v USING "
                     "fts5vocab(main, 'chunks_fts', 'row')", NULL, NULL, NULL);
        if (sqlite3_prepare_v2(cc_kb_db(kb), "SELECT term FROM temp.v WHERE doc BETWEEN 3 AND "
                               "(SELECT count(*) FROM chunks) / 20 AND term GLOB '[a-z]*' "
                               "ORDER BY doc DESC LIMIT 5000", -1, &st, NULL) != SQLITE_OK) {
            fprintf(stderr, "%s\n", sqlite3_errmsg(cc_kb_db(kb)));
            return 1;
        }
        while (sqlite3_step(st) == SQLITE_ROW) {
            if (nv == cap) vocab = realloc(vocab, (cap = cap ? cap * 2 : 1024) * sizeof *vocab);
            vocab[nv++] = cc_strdup((const char *)sqlite3_column_text(st, 0));
        }
        sqlite3_finalize(st);
        if (!nv) { fprintf(stderr, "no vocabulary\n"); return 1; }
    }
    sqlite3_prepare_v2(cc_kb_db(kb), "SELECT count(*) FROM chunks", -1, &st, NULL);
    if (sqlite3_step(st) == SQLITE_ROW) nchunks = sqlite3_column_int64(st, 0);
    sqlite3_finalize(st);
    lat = calloc((size_t)nq, sizeof *lat);
    for (i = 0; i < (size_t)nq; i++) {
        char q[256];
        size_t off = 0;
        cr_hit *hits;
        size_t n;
        double t0;
        q[0] = 0;
        if (lines) {
            snprintf(q, sizeof q, "%s", vocab[i % nv]);
        } else if (serve) {
            uint64_t r = i + 1;
            snprintf(q, sizeof q, "w%llu w%llu", (unsigned long long)(r * 7919 % 50000),
                     (unsigned long long)(r * 104729 % 50000));
        } else {
            int words = 1 + (int)((seed = seed * 1103515245 + 12345) >> 16) % 3, w;
            for (w = 0; w < words; w++) {
                const char *t = vocab[((seed = seed * 1103515245 + 12345) >> 8) % nv];
                int r = snprintf(q + off, sizeof q - off, "%s%s", w ? " " : "", t);
                if (r > 0 && (size_t)r < sizeof q - off) off += (size_t)r;
            }
        }
        t0 = cc_now_ms();
        if (cr_bm25_search(kb, q, k, 0, &hits, &n)) {
            fprintf(stderr, "query '%s': %s\n", q, cc_kb_errmsg(kb));
            return 1;
        }
        lat[i] = (cc_now_ms() - t0) * 1e3;
        sum += lat[i];
        total_hits += n;
        if (dump)
            for (size_t j = 0; j < n; j++)
                fprintf(dump, "%s\t%d\t%lld\t%.17g\n", q, hits[j].rank[CR_LANE_BM25],
                        (long long)hits[j].chunk_id, hits[j].score);
        free(hits);
    }
    qsort(lat, (size_t)nq, sizeof *lat, cmp_d);
    printf("bm25: chunks=%lld queries=%d k=%d mix=%s  p50=%.0f us  p90=%.0f us  p99=%.0f us  "
           "mean=%.0f us  hits/query=%.1f\n", (long long)nchunks, nq, k, lines ? argv[4] : serve ? "serve" : "vocab",
           lat[nq / 2], lat[nq * 9 / 10], lat[nq * 99 / 100], sum / nq,
           (double)total_hits / nq);
    if (dump) fclose(dump);
    for (i = 0; i < nv; i++) free(vocab[i]);
    free(vocab);
    free(lat);
    cc_kb_close(kb);
    return 0;
}
