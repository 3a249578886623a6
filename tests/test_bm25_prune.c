/* test_bm25_prune.c — BM25 with common terms left out of the MATCH
 * (fts.c): on a KB where "chief", "ltd" and "co-op" are in most chunks, a
 * query holding them and a rare word ranks the rare word's chunks in the
 * same order with the same scores as the full query (the common terms'
 * share added back, a multi-token term included), ranks the chunks that
 * hold only common terms after them (a short pool is filled up to k:
 * test_bm25_fill.c), and a KB under the thresholds is searched as
 * before. A query whose words are all common (one of them not yet known
 * to be) is FTS5's plain ranking. */
#include "retrieval.h"
#include "check.h"

#include <math.h>

static void settings(const char *kb, int64_t common_min)
{
    char path[256];
    snprintf(path, sizeof path, "%s/cairn.json", kb);
    FILE *f = fopen(path, "w");
    if (!f) return;
    fprintf(f, "{\"format\":1,\"graph\":{\"extractor\":\"none\"},\"embedder\":{\"name\":\"none\"},"
               "\"search\":{\"common_min\":%lld,\"common_share\":0.2}}", (long long)common_min);
    fclose(f);
}

static size_t search(const char *dir, const char *q, int k, cr_hit **h)
{
    cc_kb *kb = NULL;
    size_t n = 0;
    *h = NULL;
    CHECK_OK(cc_kb_open(dir, CC_KB_READ, &kb));
    if (kb) CHECK_OK(cr_bm25_search(kb, q, k, 0, h, &n));
    cc_kb_close(kb);
    return n;
}

static size_t search_raw(const char *dir, const char *q, int k, cr_hit **h)
{
    cc_kb *kb = NULL;
    size_t n = 0;
    *h = NULL;
    CHECK_OK(cc_kb_open(dir, CC_KB_READ, &kb));
    if (kb) CHECK_OK(cr_bm25_search(kb, q, k, CR_FTS_RAW, h, &n));
    cc_kb_close(kb);
    return n;
}

int main(void)
{
    char dir[] = "/tmp/cairn-prune-XXXXXX", kbdir[64];
    cc_kb *kb = NULL;
    cr_ingest_opts io;
    cr_ingest_stats st;
    cr_hit *full = NULL, *pr = NULL;
    size_t nf, np;

    if (!mkdtemp(dir)) SKIP("cannot make a temporary directory");
    snprintf(kbdir, sizeof kbdir, "%s/kb", dir);
    CHECK_OK(cc_kb_create(kbdir));
    settings(kbdir, 1000000);
    memset(&st, 0, sizeof st);
    CHECK_OK(cc_kb_open(kbdir, CC_KB_WRITE, &kb));
    if (!kb) return check_done("bm25_prune");
    CHECK_OK(cr_ingest_opts_from_kb(kb, &io));
    for (int i = 0; i < 40; i++) {
        char uri[32], text[256];
        snprintf(uri, sizeof uri, "d%02d.txt", i);
        snprintf(text, sizeof text, "%s%s%s%s harbour %d filler words %s here.",
                 i % 4 != 0 ? "The chief of " : "A clerk of ",
                 i % 5 != 0 ? "Marlow Ltd and Ltd. " : "Marlow ",
                 i % 3 != 0 ? "the co-op " : "",
                 i == 7 || i == 21 || i == 33 ? "Norvale Norvale " : i == 12 ? "Norvale " : "",
                 i, i % 2 ? "extra extra extra" : "");
        CHECK_OK(cr_ingest_data(kb, uri, CR_FMT_TXT, text, strlen(text), &io, &st));
    }
    cc_kb_close(kb);

    /* thresholds above the KB: the plain query, every OR-ed row ranked */
    nf = search(kbdir, "chief norvale ltd co-op", 10, &full);
    CHECK(nf == 10);
    /* common = in more than 20% and more than 2 chunks */
    settings(kbdir, 2);
    /* "chief" cached as common, then a query of it and an uncached common
     * word: both common, nothing to prune, FTS5's plain ranking */
    np = search(kbdir, "chief norvale", 10, &pr);
    CHECK_MSG(np == 10, "chief norvale: %zu hits (want the 4 chunks with norvale, 6 filled)", np);
    free(pr);
    {
        cr_hit *raw = NULL;
        /* all 40: the rows holding only "chief" must be there too */
        size_t nr = search_raw(kbdir, "\"chief\" OR \"ltd\"", 40, &raw);
        np = search(kbdir, "chief ltd", 40, &pr);
        CHECK_MSG(np == nr && nr == 38, "chief ltd: %zu hits, FTS5 %zu (want 38)", np, nr);
        for (size_t i = 0; i < np && i < nr; i++)
            CHECK_MSG(pr[i].chunk_id == raw[i].chunk_id && pr[i].score == raw[i].score,
                      "chief ltd rank %zu: %lld %.17g vs FTS5's %lld %.17g", i + 1,
                      (long long)pr[i].chunk_id, pr[i].score, (long long)raw[i].chunk_id,
                      raw[i].score);
        free(raw);
        free(pr);
    }
    np = search(kbdir, "chief norvale ltd co-op", 10, &pr);
    /* the 4 chunks with norvale, then 6 holding only common terms: here
     * the full query's top 10 */
    CHECK_MSG(np == 10, "pruned: %zu hits (want the 4 chunks with norvale, 6 filled)", np);
    for (size_t i = 0; i < np && i < nf; i++) {
        CHECK_MSG(pr[i].chunk_id == full[i].chunk_id, "rank %zu: %lld vs %lld", i + 1,
                  (long long)pr[i].chunk_id, (long long)full[i].chunk_id);
        CHECK_MSG(fabs(pr[i].score - full[i].score) <= 1e-9 * fabs(full[i].score),
                  "rank %zu: score %.12g vs %.12g", i + 1, pr[i].score, full[i].score);
        CHECK(pr[i].rank[CR_LANE_BM25] == (int)i + 1);
    }
    free(pr);
    /* a query of common terms only: nothing to prune, the plain query */
    np = search(kbdir, "chief ltd", 10, &pr);
    CHECK(np == 10);
    free(pr);
    /* a second search uses the cached document counts: same answer */
    np = search(kbdir, "chief norvale ltd co-op", 10, &pr);
    CHECK(np == 10 && pr && pr[0].chunk_id == full[0].chunk_id && pr[9].chunk_id == full[9].chunk_id);
    free(pr);
    free(full);
    {
        char cmd[128];
        snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
        CHECK(system(cmd) == 0);
    }
    return check_done("bm25_prune");
}
