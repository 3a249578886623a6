/* ftsmerge.c — keeping the FTS5 indexes (chunk text, entity names) merged.
 *
 * Every write transaction adds a segment to each FTS5 index it touches, and
 * FTS5's own merging ('automerge' 4, 'crisismerge' 16) is an LSM tree: it
 * merges segments of a similar size four at a time, so an index built by
 * many transactions keeps up to three segments per size level (19 on a
 * 112k-chunk KB built by one `cairn ingest`). A query looks every term up
 * in every segment, so BM25 and the entity-name seeds of the subgraph pay
 * for each one.
 *
 * cr_fts_tidy, run by writers after their last commit (`cairn ingest`,
 * `cairn rm`, `cairn graph extract`, the server's writer thread between
 * jobs), merges an index into one segment when the term lookups that saves
 * outweigh the pages it rewrites: when (segments - 1) x (pages outside the
 * largest segment) >= 2 x (pages of the largest). A KB built by one ingest
 * (many segments, a tenth or more of the pages outside the largest) is
 * merged once at its end; two segments are left alone, and small writes
 * to a large index wait until the small segments are many and hold some
 * percent of it (with FTS5's own merging, about 15% of the largest when
 * writes are tiny, more when they are larger), so the pages rewritten over
 * a KB's life stay a bounded multiple of its size, never a full rewrite per
 * write.
 *
 * The merge runs as FTS5 'merge' commands with a negative page count (all
 * segments into one, a bounded number of pages written per command; an
 * unfinished merge is recorded in the index and the next command goes
 * on), one transaction per step, so readers (WAL) keep searching the old
 * segments and an interruption loses nothing. The caller holds the writer
 * lock (a CC_KB_WRITE handle) and no open transaction. */
#include "retrieval.h"

#include <sqlite3.h>
#include <stdio.h>

#define STEP_PAGES 2048   /* FTS5 pages (4 KB) written per merge transaction */

static const char *const tables[CR_FTS_INDEXES] = { "chunks_fts", "entity_names" };

/* %_idx holds one row per leaf page on which a term begins, keyed by the
 * segment id; its pgno column is the page number times two (the low bit
 * flags a doclist index), see fts5_index.c. So the segments are its
 * distinct segids and a segment's size is about its last such page less
 * its first (an incremental merge trims consumed pages from the front). */
cc_status cr_fts_shape_get(cc_kb *kb, int which, cr_fts_shape *out)
{
    sqlite3_stmt *st;
    char sql[200];
    int rc;
    out->segments = out->pages = out->largest = 0;
    if (which < 0 || which >= CR_FTS_INDEXES)
        return cc_kb_seterr(kb, CC_INVALID, "no full-text index number %d", which);
    snprintf(sql, sizeof sql, "SELECT (max(pgno) >> 1) - (min(pgno) >> 1) + 1 FROM \"%s_idx\""
             " GROUP BY segid", tables[which]);
    if (sqlite3_prepare_v2(cc_kb_db(kb), sql, -1, &st, NULL) != SQLITE_OK)
        return cc_kb_sqlerr(kb, "reading the full-text index's segments");
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        int64_t p = sqlite3_column_int64(st, 0);
        out->segments++;
        out->pages += p;
        if (p > out->largest) out->largest = p;
    }
    sqlite3_finalize(st);
    if (rc != SQLITE_DONE) return cc_kb_sqlerr(kb, "reading the full-text index's segments");
    return CC_OK;
}

const char *cr_fts_table(int which)
{
    return which >= 0 && which < CR_FTS_INDEXES ? tables[which] : NULL;
}

int cr_fts_wants_merge(const cr_fts_shape *s)
{
    return s->segments > 2 && (s->segments - 1) * (s->pages - s->largest) >= 2 * s->largest;
}

cc_status cr_fts_merge(cc_kb *kb, int which, int (*stop)(void *), void *arg, int *done)
{
    cr_fts_shape sh;
    char sql[160];
    cc_status s;
    int64_t steps = -1;   /* a bound, should FTS5 stop making progress */
    *done = 0;
    if (which < 0 || which >= CR_FTS_INDEXES)
        return cc_kb_seterr(kb, CC_INVALID, "no full-text index number %d", which);
    snprintf(sql, sizeof sql, "INSERT INTO \"%s\"(\"%s\", rank) VALUES ('merge', %d)",
             tables[which], tables[which], -STEP_PAGES);
    for (;;) {
        if ((s = cr_fts_shape_get(kb, which, &sh))) return s;
        if (sh.segments <= 1) { *done = 1; return CC_OK; }
        if (steps < 0) steps = sh.pages / STEP_PAGES * 2 + 8;
        if (steps-- == 0)
            return cc_kb_seterr(kb, CC_ERROR, "merging the %s index made no progress (%lld"
                                " segments left)", tables[which], (long long)sh.segments);
        if (stop && stop(arg)) return CC_OK;
        if ((s = cc_kb_begin(kb))) return s;
        if ((s = cc_kb_exec(kb, sql))) {
            cc_kb_rollback(kb);
            return s;
        }
        if ((s = cc_kb_commit(kb))) return s;
    }
}

cc_status cr_fts_tidy(cc_kb *kb, int (*stop)(void *), void *arg, int *merged)
{
    int n = 0;
    for (int i = 0; i < CR_FTS_INDEXES; i++) {
        cr_fts_shape sh;
        int done;
        cc_status s = cr_fts_shape_get(kb, i, &sh);
        if (s) return s;
        if (!cr_fts_wants_merge(&sh)) continue;
        if ((s = cr_fts_merge(kb, i, stop, arg, &done))) return s;
        n += done;
        if (!done) break;   /* stopped */
    }
    if (merged) *merged = n;
    return CC_OK;
}
