/* test_bm25_fill.c — a pruned BM25 query (fts.c, "common terms") still
 * returns k hits when k rows match. On a 60-chunk KB where "harbour" and
 * "ltd" pass the common-term threshold (search.common_share 0.2,
 * search.common_min 2), "zephyrine" is in 2 chunks and "marlow" in 5:
 *   - "zephyrine harbour ltd" at k 10 gives 10 hits: the 2 zephyrine rows
 *     first, then the rows holding only common terms in the unpruned
 *     ranking's order with its scores (search.common_share 1.0 turns the
 *     pruning off; FTS5's own ORDER BY rank of the OR-ed query agrees);
 *   - at k 100 every matching row, once each;
 *   - "marlow harbour" at k 3 (a full pool) only rows holding marlow, as
 *     before; at k 8 the 5 marlow rows and 3 filled.
 * The process's first pruned search probes the terms (bm25_pruned) and
 * caches the common ones; the later ones take the scan's pruned path
 * (bm25_pruned_scan); the whole round runs twice, so the first query is
 * answered by both paths, and every answer must be the same. */
#include "retrieval.h"
#include "check.h"

#include <math.h>
#include <stdlib.h>

#ifndef NDOC            /* test_bm25_fallback.c includes this file with its own */
#define NDOC 60
#define TEST_NAME "bm25_fill"
#endif

static void settings(const char *kb, const char *share)
{
    char path[256];
    FILE *f;
    snprintf(path, sizeof path, "%s/cairn.json", kb);
    if (!(f = fopen(path, "w"))) return;
    fprintf(f, "{\"format\":1,\"graph\":{\"extractor\":\"none\"},\"embedder\":{\"name\":\"none\"},"
               "\"search\":{\"common_min\":2,\"common_share\":%s}}", share);
    fclose(f);
}

static size_t search(const char *dir, const char *q, int k, int flags, cr_hit **h)
{
    cc_kb *kb = NULL;
    size_t n = 0;
    *h = NULL;
    CHECK_OK(cc_kb_open(dir, CC_KB_READ, &kb));
    if (kb) CHECK_OK(cr_bm25_search(kb, q, k, flags, h, &n));
    cc_kb_close(kb);
    return n;
}

static int holds(const cr_hit *h, size_t n, int64_t id)
{
    for (size_t i = 0; i < n; i++)
        if (h[i].chunk_id == id) return 1;
    return 0;
}

/* got (a pruned answer at k) against full (the unpruned ranking, at least
 * k deep): its first nrare rows are the rare rows rare[0..nrare) in
 * full's order (scores within 1e-9: the common terms' share is added
 * back), the rest are full's rows without a rare term, in order, with the
 * same scores to the bit; ranks 1..n. */
static void check_filled(const char *what, const cr_hit *got, size_t n, const cr_hit *full,
                         size_t nfull, const cr_hit *rare, size_t nrare, size_t want)
{
    size_t i, j = 0, r = 0;
    CHECK_MSG(n == want, "%s: %zu hits, want %zu", what, n, want);
    for (i = 0; i < nfull && r < nrare && r < n; i++) {
        if (!holds(rare, nrare, full[i].chunk_id)) continue;
        CHECK_MSG(got[r].chunk_id == full[i].chunk_id &&
                      fabs(got[r].score - full[i].score) <= 1e-9 * fabs(full[i].score),
                  "%s rank %zu: %lld %.17g, want the rare row %lld %.17g", what, r + 1,
                  (long long)got[r].chunk_id, got[r].score, (long long)full[i].chunk_id,
                  full[i].score);
        r++;
    }
    for (i = r; i < n; i++) {
        while (j < nfull && holds(rare, nrare, full[j].chunk_id)) j++;
        if (j == nfull) {
            CHECK_MSG(0, "%s rank %zu: %lld beyond the unpruned list", what, i + 1,
                      (long long)got[i].chunk_id);
            break;
        }
        CHECK_MSG(got[i].chunk_id == full[j].chunk_id && got[i].score == full[j].score,
                  "%s rank %zu: %lld %.17g, want %lld %.17g", what, i + 1,
                  (long long)got[i].chunk_id, got[i].score, (long long)full[j].chunk_id,
                  full[j].score);
        j++;
    }
    for (i = 0; i < n; i++) {
        CHECK_MSG(got[i].rank[CR_LANE_BM25] == (int)i + 1, "%s: rank field %d at %zu", what,
                  got[i].rank[CR_LANE_BM25], i + 1);
        CHECK(got[i].lane_score[CR_LANE_BM25] == got[i].score);
        for (j = 0; j < i; j++)
            CHECK_MSG(got[i].chunk_id != got[j].chunk_id, "%s: chunk %lld twice", what,
                      (long long)got[i].chunk_id);
    }
}

int main(void)
{
    char dir[] = "/tmp/cairn-bm25fill-XXXXXX", kbdir[64], cmd[128];
    cc_kb *kb = NULL;
    cr_ingest_opts io;
    cr_ingest_stats st;
    cr_hit *full = NULL, *raw = NULL, *zr = NULL, *mr = NULL, *h = NULL, *fm = NULL;
    size_t nfull, nraw, nz, nm, n, nfm;

#ifdef SCAN_ROWS
    snprintf(cmd, sizeof cmd, "%d", SCAN_ROWS);
    setenv("CAIRN_BM25_SCAN_ROWS", cmd, 1);   /* before the first search */
#endif
    if (!mkdtemp(dir)) SKIP("cannot make a temporary directory");
    snprintf(kbdir, sizeof kbdir, "%s/kb", dir);
    CHECK_OK(cc_kb_create(kbdir));
    settings(kbdir, "1.0");
    memset(&st, 0, sizeof st);
    CHECK_OK(cc_kb_open(kbdir, CC_KB_WRITE, &kb));
    if (!kb) return check_done(TEST_NAME);
    CHECK_OK(cr_ingest_opts_from_kb(kb, &io));
    for (int i = 0; i < NDOC; i++) {
        char uri[32], text[512];
        int off;
        snprintf(uri, sizeof uri, "d%03d.txt", i);
        off = snprintf(text, sizeof text, "Notes %d:%s%s%s%s", i,
                       i % 3 == 0 ? (i % 6 == 0 ? " harbour harbour" : " harbour") : "",
                       i % 4 == 0 ? " Ltd" : "",
                       i == 7 ? " zephyrine" : i == 30 ? " zephyrine zephyrine" : "",
                       i % 12 == 5 ? " marlow" : "");
        for (int w = 0; w < (i * 7) % 9 && off > 0 && off < (int)sizeof text - 16; w++)
            off += snprintf(text + off, sizeof text - (size_t)off, " filler%d", w);
        CHECK_OK(cr_ingest_data(kb, uri, CR_FMT_TXT, text, strlen(text), &io, &st));
    }
    cc_kb_close(kb);

    /* the rare rows, and the unpruned rankings (pruning off: share 1.0) */
    nz = search(kbdir, "\"zephyrine\"", 100, CR_FTS_RAW, &zr);
    nm = search(kbdir, "\"marlow\"", 100, CR_FTS_RAW, &mr);
    CHECK_MSG(nz == 2 && nm == (NDOC + 6) / 12, "zephyrine in %zu chunks (want 2), marlow in "
              "%zu (want %d)", nz, nm, (NDOC + 6) / 12);
#ifdef SCAN_ROWS
    {   /* the common terms' own MATCH, which the fill runs, passes the cap */
        cr_hit *c = NULL;
        size_t nc = search(kbdir, "\"harbour\" OR \"ltd\"", 10000, CR_FTS_RAW, &c);
        CHECK_MSG(nc > SCAN_ROWS, "harbour or ltd in %zu chunks, want over %d", nc, SCAN_ROWS);
        free(c);
    }
#endif
    nfull = search(kbdir, "zephyrine harbour ltd", 100, 0, &full);
    nraw = search(kbdir, "\"zephyrine\" OR \"harbour\" OR \"ltd\"", 100, CR_FTS_RAW, &raw);
    CHECK_MSG(nfull == nraw && nfull > 20, "unpruned: %zu rows, FTS5 %zu", nfull, nraw);
    for (size_t i = 0; i < nfull && i < nraw; i++)
        CHECK_MSG(full[i].chunk_id == raw[i].chunk_id && full[i].score == raw[i].score,
                  "unpruned rank %zu differs from FTS5's", i + 1);
    nfm = search(kbdir, "marlow harbour", 100, 0, &fm);

    /* pruning on: harbour (20 rows) and ltd (15) pass max(0.2 x 60, 2) */
    settings(kbdir, "0.2");
    for (int round = 0; round < 2; round++) {
        const char *path = round ? "round 2" : "round 1";
        char what[64];
        snprintf(what, sizeof what, "zephyrine k=10 (%s)", path);
        n = search(kbdir, "zephyrine harbour ltd", 10, 0, &h);
        check_filled(what, h, n, full, nfull, zr, nz, 10);
        free(h);
        snprintf(what, sizeof what, "zephyrine k=2 (%s)", path);
        n = search(kbdir, "zephyrine harbour ltd", 2, 0, &h);
        check_filled(what, h, n, full, nfull, zr, nz, 2);
        free(h);
        snprintf(what, sizeof what, "zephyrine k=100 (%s)", path);
        n = search(kbdir, "zephyrine harbour ltd", 100, 0, &h);
        check_filled(what, h, n, full, nfull, zr, nz, nfull);
        free(h);
        /* a full pool: only rows holding the rarer term, as before */
        snprintf(what, sizeof what, "marlow k=3 (%s)", path);
        n = search(kbdir, "marlow harbour", 3, 0, &h);
        CHECK_MSG(n == 3, "%s: %zu hits", what, n);
        for (size_t i = 0; i < n; i++)
            CHECK_MSG(holds(mr, nm, h[i].chunk_id), "%s rank %zu: %lld holds no marlow", what,
                      i + 1, (long long)h[i].chunk_id);
        free(h);
        snprintf(what, sizeof what, "marlow k=8 (%s)", path);
        n = search(kbdir, "marlow harbour", 8, 0, &h);
        check_filled(what, h, n, fm, nfm, mr, nm, 8);
        free(h);
    }
    free(full);
    free(raw);
    free(zr);
    free(mr);
    free(fm);
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    CHECK(system(cmd) == 0);
    return check_done(TEST_NAME);
}
