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
 * merged once at its end; after a bulk write also when the segments
 * outside the largest hold half its pages (two equal batches: below,
 * bulk_wants_merge); otherwise two segments are left alone, and small writes
 * to a large index wait until the small segments are many and hold some
 * percent of it (with FTS5's own merging, about 15% of the largest when
 * writes are tiny, more when they are larger), so the pages rewritten over
 * a KB's life stay a bounded multiple of its size, never a full rewrite per
 * write.
 *
 * A bulk write (`cairn ingest`, cr_fts_bulk_begin) turns FTS5's automerge
 * off first: each input file is a savepoint and FTS5 writes a segment at
 * every savepoint of an index written in it (both indexes are written once
 * per batch, at its commit: ingest.c, graph/derived.c; but a replaced or
 * removed document's rows are deleted in its input), so automerge would
 * merge those segments
 * level by level only for the full merge at the end to rewrite them again;
 * with it off, FTS5's crisis merge (16 segments of a level) bounds them
 * meanwhile. cr_fts_tidy sets it back (also after a crash: any writer's
 * next tidy does) and, when the policy does not merge the whole index,
 * does the level merges automerge would have done.
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
#define FTS5_AUTOMERGE 4  /* FTS5's default 'automerge' (fts5_config.c) */

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

/* After a bulk write, also when the pages outside the largest segment are
 * at least half of it, two segments included (a KB built by two equal
 * batches, or by two ingests of a size: BM25 looks every term up in both,
 * +9% a query). Each such merge leaves a segment at least 1.5 times the
 * last one it made, so the pages it rewrites over a KB's life stay a
 * bounded multiple of its size; a small ingest into a large index does
 * not fire it. */
static int bulk_wants_merge(const cr_fts_shape *s)
{
    return s->segments >= 2 && 2 * (s->pages - s->largest) >= s->largest;
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

/* FTS5's 'automerge' setting of index `which` (its %_config row; FTS5's
 * default 4 when there is none), or -1 on error. */
static int automerge_of(cc_kb *kb, int which)
{
    sqlite3_stmt *st;
    char sql[120];
    int v = -1, rc;
    snprintf(sql, sizeof sql, "SELECT v FROM \"%s_config\" WHERE k = 'automerge'", tables[which]);
    if (sqlite3_prepare_v2(cc_kb_db(kb), sql, -1, &st, NULL) != SQLITE_OK) return -1;
    rc = sqlite3_step(st);
    if (rc == SQLITE_ROW) v = sqlite3_column_int(st, 0);
    else if (rc == SQLITE_DONE) v = FTS5_AUTOMERGE;
    sqlite3_finalize(st);
    return v;
}

/* Sets 'automerge' of every index to v, in one transaction. */
static cc_status set_automerge(cc_kb *kb, int v)
{
    cc_status s;
    if ((s = cc_kb_begin(kb))) return s;
    for (int i = 0; i < CR_FTS_INDEXES; i++) {
        char sql[160];
        snprintf(sql, sizeof sql, "INSERT INTO \"%s\"(\"%s\", rank) VALUES ('automerge', %d)",
                 tables[i], tables[i], v);
        if ((s = cc_kb_exec(kb, sql))) {
            cc_kb_rollback(kb);
            return s;
        }
    }
    return cc_kb_commit(kb);
}

cc_status cr_fts_bulk_begin(cc_kb *kb)
{
    return set_automerge(kb, 0);
}

/* After a bulk write: the merging FTS5's automerge would have done (levels
 * of FTS5_AUTOMERGE segments or more, FTS5 'merge' with a positive page
 * count), a bounded step per transaction, until a step finds nothing to
 * do (FTS5 then changes fewer than two rows, as its documentation says). */
static cc_status catch_up(cc_kb *kb, int which, int (*stop)(void *), void *arg)
{
    sqlite3 *db = cc_kb_db(kb);
    char sql[160];
    snprintf(sql, sizeof sql, "INSERT INTO \"%s\"(\"%s\", rank) VALUES ('merge', %d)",
             tables[which], tables[which], STEP_PAGES);
    for (int i = 0; i < 10000; i++) {
        int64_t before;
        cc_status s;
        if (stop && stop(arg)) return CC_OK;
        if ((s = cc_kb_begin(kb))) return s;
        before = sqlite3_total_changes64(db);
        if ((s = cc_kb_exec(kb, sql))) {
            cc_kb_rollback(kb);
            return s;
        }
        if (sqlite3_total_changes64(db) - before < 2) {
            cc_kb_rollback(kb);   /* nothing was merged */
            return CC_OK;
        }
        if ((s = cc_kb_commit(kb))) return s;
    }
    return CC_OK;
}

cc_status cr_fts_tidy(cc_kb *kb, int (*stop)(void *), void *arg, int *merged)
{
    int n = 0, bulk = 0;
    cc_status s;
    for (int i = 0; i < CR_FTS_INDEXES; i++) {
        int v = automerge_of(kb, i);
        if (v < 0) return cc_kb_sqlerr(kb, "reading the full-text index's settings");
        if (v != FTS5_AUTOMERGE) bulk = 1;
    }
    if (bulk && (s = set_automerge(kb, FTS5_AUTOMERGE))) return s;
    for (int i = 0; i < CR_FTS_INDEXES; i++) {
        cr_fts_shape sh;
        int done;
        if ((s = cr_fts_shape_get(kb, i, &sh))) return s;
        if (!cr_fts_wants_merge(&sh) && !(bulk && bulk_wants_merge(&sh))) {
            if (bulk && sh.segments > 1 && (s = catch_up(kb, i, stop, arg))) return s;
            continue;
        }
        if ((s = cr_fts_merge(kb, i, stop, arg, &done))) return s;
        n += done;
        if (!done) break;   /* stopped */
    }
    if (merged) *merged = n;
    return CC_OK;
}
