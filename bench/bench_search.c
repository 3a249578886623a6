/* bench_search.c — search latency per mode on an existing KB, same queries
 * for every mode, modes interleaved query by query so machine noise hits
 * them alike.
 *   bench_search KB [queries=1000] [k=10]
 * Prints p50/p99 (microseconds) for bm25, vector and hybrid, and the ratio
 * of hybrid p50 to the slower single lane's p50. */
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
    cr_searcher *se;
    sqlite3_stmt *st;
    char **vocab = NULL;
    size_t nv = 0, cap = 0, i;
    int nq = argc > 2 ? (int)strtol(argv[2], NULL, 10) : 1000;
    int k = argc > 3 ? (int)strtol(argv[3], NULL, 10) : 10, m;
    double *lat[3];
    static const char *const names[3] = {"bm25", "vector", "hybrid"};
    unsigned seed = 777;
    cr_search_opts so;

    if (argc < 2 || nq < 1) { fprintf(stderr, "usage: bench_search KB [queries] [k]\n"); return 2; }
    if (cc_kb_open(argv[1], CC_KB_READ, &kb)) { fprintf(stderr, "%s\n", cc_errmsg()); return 1; }
    sqlite3_exec(cc_kb_db(kb), "CREATE VIRTUAL TABLE IF NOT EXISTS temp.v USING "
                 "fts5vocab(main, 'chunks_fts', 'row')", NULL, NULL, NULL);
    if (sqlite3_prepare_v2(cc_kb_db(kb), "SELECT term FROM temp.v WHERE doc BETWEEN 3 AND "
                           "(SELECT count(*) FROM chunks) / 20 AND term GLOB '[a-z]*' "
                           "ORDER BY doc DESC LIMIT 5000", -1, &st, NULL) != SQLITE_OK)
        return 1;
    while (sqlite3_step(st) == SQLITE_ROW) {
        if (nv == cap) vocab = realloc(vocab, (cap = cap ? cap * 2 : 1024) * sizeof *vocab);
        vocab[nv++] = cc_strdup((const char *)sqlite3_column_text(st, 0));
    }
    sqlite3_finalize(st);
    if (!nv) { fprintf(stderr, "no vocabulary\n"); return 1; }
    cr_search_opts_from_kb(kb, &so);
    so.k = k;
    cr_searcher_open(kb, &se);
    for (m = 0; m < 3; m++) lat[m] = calloc((size_t)nq, sizeof **lat);
    for (i = 0; i < (size_t)nq + 20; i++) {
        char q[256];
        int words = 1 + (int)((seed = seed * 1103515245 + 12345) >> 16) % 3, w;
        size_t off = 0;
        q[0] = 0;
        for (w = 0; w < words; w++) {
            const char *t = vocab[((seed = seed * 1103515245 + 12345) >> 8) % nv];
            int r = snprintf(q + off, sizeof q - off, "%s%s", w ? " " : "", t);
            if (r > 0 && (size_t)r < sizeof q - off) off += (size_t)r;
        }
        for (m = 0; m < 3; m++) {
            cr_hit *hits;
            size_t n;
            double t0 = cc_now_ms();
            so.mode = m == 0 ? CR_MODE_BM25 : m == 1 ? CR_MODE_VECTOR : CR_MODE_HYBRID;
            if (cr_searcher_search(se, q, &so, &hits, &n)) {
                fprintf(stderr, "%s '%s': %s\n", names[m], q, cc_kb_errmsg(kb));
                return 1;
            }
            if (i >= 20) lat[m][i - 20] = (cc_now_ms() - t0) * 1e3;   /* 20 warm-up */
            free(hits);
        }
    }
    for (m = 0; m < 3; m++) {
        qsort(lat[m], (size_t)nq, sizeof **lat, cmp_d);
        printf("%-6s p50=%6.0f us  p99=%6.0f us\n", names[m], lat[m][nq / 2], lat[m][nq * 99 / 100]);
    }
    {
        double slower = lat[0][nq / 2] > lat[1][nq / 2] ? lat[0][nq / 2] : lat[1][nq / 2];
        printf("hybrid p50 / slower lane p50 = %.2f\n", lat[2][nq / 2] / slower);
    }
    cr_searcher_close(se);
    cc_kb_close(kb);
    return 0;
}
