/* test_fts_scan.c — the BM25 lane's one-pass scan (fts.c) against FTS5's
 * own ranking: for typed queries (hyphenated words that FTS5 splits into
 * phrases, non-ASCII words, repeated words, section headings, stop words,
 * more words than the scan takes, no match at all) cr_bm25_search must
 * return the same chunk ids in the same order with the same scores, to
 * the bit, as the RAW query `ORDER BY rank` of the same MATCH expression,
 * at several k. Then, on the same reader connection (its cache of row
 * sizes filled), documents are added and one removed by a writer and the
 * answers must still agree; a writer's search inside a transaction that
 * it rolls back must not leave row sizes behind for the ids that come
 * back; connections opened and closed in turn must not leak or mix their
 * caches (ASan). Every search is also made by cr_bm25_search_keep with
 * the scan's statement kept between searches (as a server's searcher
 * keeps it) and must give the same hits; and the reader's searches are
 * run again inside a read transaction (BEGIN: the row-size cache is used
 * there) with the same answers. */
#include "retrieval.h"
#include "check.h"

#include <sqlite3.h>

static const char *const words[] = {
    "harbour", "clerk", "marlow", "co-op", "café", "zürich", "naïve", "ledger", "tide",
    "anchor", "e-mail", "north", "quay", "Harbour", "rope", "salt", "brine", "mast",
};

static const char *const queries[] = {
    "harbour", "harbour clerk", "co-op marlow", "café zürich", "naïve café harbour",
    "\"quoted\" ledger", "the of and", "harbour harbour tide", "ZÜRICH", "e-mail quay rope",
    "w17 w3", "w42 harbour w99 w5", "w149 w0 w77",
    "x*y (anchor OR mast) NEAR brine", "nonexistentword", "salt brine mast rope quay north",
    /* 40 words: more than the scan takes, FTS5 ranks it */
    "harbour clerk marlow ledger tide anchor north quay rope salt brine mast w1 w2 w3 w4 "
    "w5 w6 w7 w8 w9 w10 w11 w12 w13 w14 w15 w16 w17 w18 w19 w20 w21 w22 w23 w24 w25 w26 "
    "w27 w28",
};

static int compared;
static sqlite3_stmt *kept;     /* the scan statement kept for kept_kb */
static cc_kb *kept_kb;

static void keep_drop(void)
{
    sqlite3_finalize(kept);
    kept = NULL;
    kept_kb = NULL;
}

/* cr_bm25_search_keep's hits for q at k equal a[0..na) */
static void same_kept(cc_kb *kb, const char *q, int k, const cr_hit *a, size_t na)
{
    cr_hit *c = NULL;
    size_t nc = 0;
    if (kb != kept_kb) {
        keep_drop();
        kept_kb = kb;
    }
    CHECK_OK(cr_bm25_search_keep(kb, q, k, 0, &kept, &c, &nc));
    CHECK_MSG(nc == na, "'%s' k=%d: kept statement %zu hits vs %zu", q, k, nc, na);
    for (size_t i = 0; i < na && i < nc; i++)
        CHECK_MSG(c[i].chunk_id == a[i].chunk_id && c[i].score == a[i].score &&
                  c[i].rank[CR_LANE_BM25] == a[i].rank[CR_LANE_BM25],
                  "'%s' k=%d rank %zu: kept statement chunk %lld vs %lld", q, k, i + 1,
                  (long long)c[i].chunk_id, (long long)a[i].chunk_id);
    CHECK(kept == NULL || !sqlite3_stmt_busy(kept));   /* left reset: no transaction held */
    free(c);
}

/* One query at one k: flags 0 (the scan) vs RAW (FTS5's ORDER BY rank). */
static void same(cc_kb *kb, const char *q, int k)
{
    cc_buf fq = CC_BUF_INIT(0), err = CC_BUF_INIT(0);
    cr_hit *a = NULL, *b = NULL;
    size_t na = 0, nb = 0;
    if (cr_fts_query(q, &fq, &err) != CC_OK) {
        CHECK_MSG(cr_bm25_search(kb, q, k, 0, &a, &na) == CC_INVALID, "'%s' is not invalid", q);
        free(a);
        goto out;
    }
    CHECK_OK(cr_bm25_search(kb, q, k, 0, &a, &na));
    CHECK_OK(cr_bm25_search(kb, fq.data, k, CR_FTS_RAW, &b, &nb));
    CHECK_MSG(na == nb, "'%s' k=%d: %zu hits vs FTS5's %zu", q, k, na, nb);
    for (size_t i = 0; i < na && i < nb; i++) {
        CHECK_MSG(a[i].chunk_id == b[i].chunk_id && a[i].score == b[i].score,
                  "'%s' k=%d rank %zu: chunk %lld score %.17g vs FTS5's %lld %.17g", q, k, i + 1,
                  (long long)a[i].chunk_id, a[i].score, (long long)b[i].chunk_id, b[i].score);
        CHECK(a[i].rank[CR_LANE_BM25] == (int)i + 1);
        CHECK(a[i].lane_score[CR_LANE_BM25] == a[i].score);
    }
    same_kept(kb, q, k, a, na);
    compared++;
    free(a);
    free(b);
out:
    cc_buf_free(&fq);
    cc_buf_free(&err);
}

static void all_queries(cc_kb *kb)
{
    static const int ks[] = {1, 3, 10, 50};
    for (size_t q = 0; q < sizeof queries / sizeof *queries; q++)
        for (size_t i = 0; i < sizeof ks / sizeof *ks; i++) same(kb, queries[q], ks[i]);
}

/* Document i: a heading (the section column) and 8-40 words, a third from
 * words[] and the rest w0..w149, every seventh document the same few words
 * (ties: same words, same length). */
static void add_docs(cc_kb *kb, int from, int to)
{
    cr_ingest_opts io;
    cr_ingest_stats st;
    memset(&st, 0, sizeof st);
    CHECK_OK(cr_ingest_opts_from_kb(kb, &io));
    for (int i = from; i < to; i++) {
        char uri[32], text[1024];
        size_t off = 0;
        unsigned r = (unsigned)i * 2654435761u;
        int n = 8 + i % 33;
        snprintf(uri, sizeof uri, "d%03d.md", i);
        off += (size_t)snprintf(text, sizeof text, "# %s notes\n\n",
                                words[(size_t)i % (sizeof words / sizeof *words)]);
        for (int w = 0; w < n && off < sizeof text - 32; w++) {
            r = r * 1103515245u + 12345u;
            if (i % 7 == 0 || (r >> 20) % 3 == 0)
                off += (size_t)snprintf(text + off, sizeof text - off, "%s ",
                                        i % 7 == 0 ? words[w % 3]
                                                   : words[(r >> 8) % (sizeof words / sizeof *words)]);
            else
                off += (size_t)snprintf(text + off, sizeof text - off, "w%u ", (r >> 8) % 150);
        }
        CHECK_OK(cr_ingest_data(kb, uri, CR_FMT_MD, text, off, &io, &st));
    }
}

int main(void)
{
    char dir[] = "/tmp/cairn-ftsscan-XXXXXX", kbdir[64], cmd[128];
    cc_kb *w = NULL, *r = NULL;
    int64_t removed = 0;

    if (!mkdtemp(dir)) SKIP("cannot make a temporary directory");
    snprintf(kbdir, sizeof kbdir, "%s/kb", dir);
    CHECK_OK(cc_kb_create(kbdir));
    {
        char path[128];
        FILE *f;
        snprintf(path, sizeof path, "%s/cairn.json", kbdir);
        if ((f = fopen(path, "w"))) {
            fputs("{\"format\":1,\"graph\":{\"extractor\":\"none\"},\"embedder\":{\"name\":\"none\"}}", f);
            fclose(f);
        }
    }
    CHECK_OK(cc_kb_open(kbdir, CC_KB_WRITE, &w));
    if (!w) return check_done("fts_scan");
    add_docs(w, 0, 80);
    cc_kb_close(w);

    CHECK_OK(cc_kb_open(kbdir, CC_KB_READ, &r));
    if (!r) return check_done("fts_scan");
    all_queries(r);
    all_queries(r);            /* row sizes now from the cache */

    /* a writer changes the KB under the open reader */
    CHECK_OK(cc_kb_open(kbdir, CC_KB_WRITE, &w));
    if (w) {
        add_docs(w, 80, 120);
        CHECK_OK(cr_doc_remove(w, "d007.md", &removed));
        CHECK(removed == 1);
        cc_kb_close(w);
    }
    all_queries(r);
    /* in a read transaction: the row-size cache is used, same answers */
    CHECK(sqlite3_exec(cc_kb_db(r), "BEGIN", NULL, NULL, NULL) == SQLITE_OK);
    all_queries(r);
    CHECK(sqlite3_exec(cc_kb_db(r), "COMMIT", NULL, NULL, NULL) == SQLITE_OK);
    keep_drop();
    cc_kb_close(r);

    /* a writer searching its own uncommitted rows, then rolling them back:
     * their ids come back with other rows, whose sizes must be read anew */
    CHECK_OK(cc_kb_open(kbdir, CC_KB_WRITE, &w));
    if (w) {
        CHECK_OK(cc_kb_begin(w));
        add_docs(w, 200, 206);
        all_queries(w);
        cc_kb_rollback(w);
        add_docs(w, 300, 306);         /* committed, the same ids, other sizes */
        all_queries(w);
        keep_drop();
        cc_kb_close(w);
    }

    /* connections one after another: each its own cache */
    for (int i = 0; i < 3; i++) {
        r = NULL;
        CHECK_OK(cc_kb_open(kbdir, CC_KB_READ, &r));
        if (r) same(r, queries[i], 10);
        keep_drop();
        cc_kb_close(r);
    }
    CHECK_MSG(compared > 150, "only %d comparisons ran", compared);
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    CHECK(system(cmd) == 0);
    return check_done("fts_scan");
}
