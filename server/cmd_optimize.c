/* cmd_optimize.c — `cairn optimize KB`: maintenance after large writes.
 *
 * Each ingestion transaction adds segments to the FTS5 indexes (chunk text
 * and entity names) and FTS5 merges them only part of the way, so a KB
 * built by many ingests searches through many segments: every query term
 * is looked up once per segment. This merges each index into one segment
 * (FTS5's 'optimize'), lets SQLite refresh its planner statistics (PRAGMA
 * optimize) and checkpoints the write-ahead log. The catalog's content and
 * generation do not change, so caches keyed by generation stay valid.
 *
 * It takes the writer lock (CC_BUSY while an ingest or `cairn serve`
 * holds it) and runs as one transaction per index: readers keep searching
 * the old segments until it commits, and an interruption loses nothing.
 *
 * Writers keep the indexes merged themselves (cli_fts_tidy below, the
 * policy in retrieval/ftsmerge.c): this command is for KBs built by older
 * versions, or to merge before the policy would.
 *
 * It also writes the vector index whole when vectors.faiss.delta holds
 * adds (with --if-needed: more than vectors.delta_max_adds, the limit
 * one-shot writers keep to): every open replays the delta's adds as HNSW
 * inserts, so a delta a server's writer left (it keeps appending while it
 * runs) makes each later `cairn search` load slowly. */
#include "cli.h"
#include "retrieval.h"

#include <sqlite3.h>
#include <stdio.h>
#include <string.h>

#define USAGE "optimize KB [--if-needed] [--wait SECONDS]\n" \
              "  Merges the full-text indexes (chunk text, entity names) into one segment\n" \
              "  each, refreshes SQLite's planner statistics and checkpoints the log.\n" \
              "  Writers merge by themselves when the segments call for it; this is for\n" \
              "  KBs built by older versions. Writes the vector index whole when its delta\n" \
              "  holds added vectors (each is re-inserted at every open). --if-needed: only\n" \
              "  what a writer would merge, and a delta over vectors.delta_max_adds.\n" \
              "  Searches go on while it runs; other writers (ingest, serve) must not hold\n" \
              "  the KB (--wait SECONDS: wait up to SECONDS for them to let go).\n"

static int merge_index(cc_kb *kb, int which, const char *what)
{
    const char *table = cr_fts_table(which);
    cr_fts_shape sh;
    char sql[160];
    int64_t before, after;
    double t0 = cc_now_ms();
    before = cr_fts_shape_get(kb, which, &sh) == CC_OK ? sh.segments : -1;
    snprintf(sql, sizeof sql, "INSERT INTO \"%s\"(\"%s\") VALUES ('optimize')", table, table);
    if (cc_kb_begin(kb) != CC_OK) return cli_error("%s", cc_kb_errmsg(kb));
    if (cc_kb_exec(kb, sql) != CC_OK) {
        cli_error("merging the %s index: %s", what, cc_kb_errmsg(kb));
        cc_kb_rollback(kb);
        return 1;
    }
    if (cc_kb_commit(kb) != CC_OK) return cli_error("merging the %s index: %s", what, cc_kb_errmsg(kb));
    after = cr_fts_shape_get(kb, which, &sh) == CC_OK ? sh.segments : -1;
    printf("%-12s index: %lld segment%s -> %lld in %.2f s\n", what, (long long)before,
           before == 1 ? "" : "s", (long long)after, (cc_now_ms() - t0) / 1000.0);
    return 0;
}

/* --if-needed: the writers' policy (cr_fts_tidy), with the shapes before
 * and after; closes kb. */
static int tidy(cc_kb *kb, const char *dir)
{
    cr_fts_shape a[CR_FTS_INDEXES], b;
    int i, merged = 0;
    double t0 = cc_now_ms();
    for (i = 0; i < CR_FTS_INDEXES; i++)
        if (cr_fts_shape_get(kb, i, &a[i]) != CC_OK) goto fail;
    if (cr_fts_tidy(kb, NULL, NULL, &merged) != CC_OK) goto fail;
    for (i = 0; i < CR_FTS_INDEXES; i++) {
        if (cr_fts_shape_get(kb, i, &b) != CC_OK) goto fail;
        printf("%-12s index: %lld segment%s (%lld pages, largest %lld) -> %lld\n",
               i == CR_FTS_CHUNKS ? "chunk text" : "entity names", (long long)a[i].segments,
               a[i].segments == 1 ? "" : "s", (long long)a[i].pages, (long long)a[i].largest,
               (long long)b.segments);
    }
    printf("%s: %d index%s merged in %.2f s\n", dir, merged, merged == 1 ? "" : "es",
           (cc_now_ms() - t0) / 1000.0);
    cc_kb_close(kb);
    return 0;
fail:
    cli_error("merging the full-text indexes: %s", cc_kb_errmsg(kb));
    cc_kb_close(kb);
    return 1;
}

/* The vector delta's adds over max_adds written into the index; 0 or 1. */
static int fold_vectors(cc_kb *kb, uint64_t max_adds)
{
    uint64_t n = 0;
    double t0 = cc_now_ms();
    if (cr_vectors_fold(kb, NULL, max_adds, &n) != CC_OK)
        return cli_error("writing the vector index: %s", cc_kb_errmsg(kb));
    if (n)
        printf("vector index: %llu added vectors of the delta written into it in %.2f s\n",
               (unsigned long long)n, (cc_now_ms() - t0) / 1000.0);
    return 0;
}

int cmd_optimize(int argc, char **argv)
{
    cc_kb *kb;
    int rc = 0;
    int if_needed = 0, i, r;
    if (argc < 2 || argv[1][0] == '-') return cli_usage(USAGE);
    for (i = 2; i < argc; i++) {
        if (!strcmp(argv[i], "--if-needed")) { if_needed = 1; continue; }
        if ((r = cli_opt_wait(argc, argv, &i)) == 1) continue;
        if (r == 0) cli_error("unexpected argument '%s'", argv[i]);
        return cli_usage(USAGE);
    }
    if (cc_kb_open(argv[1], CC_KB_WRITE, &kb) != CC_OK) return cli_error("%s", cc_errmsg());
    if (if_needed) {
        uint64_t ma;
        if (cr_vectors_delta_max_adds(kb, &ma) != CC_OK)
            rc = cli_error("%s", cc_kb_errmsg(kb));
        else if (ma > 0)
            rc = fold_vectors(kb, ma);
        if (rc) {
            cc_kb_close(kb);
            return rc;
        }
        return tidy(kb, argv[1]);
    }
    rc = fold_vectors(kb, 0);
    if (!rc) rc = merge_index(kb, CR_FTS_CHUNKS, "chunk text");
    if (!rc) rc = merge_index(kb, CR_FTS_NAMES, "entity names");
    if (!rc && cc_kb_exec(kb, "PRAGMA optimize") != CC_OK)
        rc = cli_error("refreshing planner statistics: %s", cc_kb_errmsg(kb));
    if (!rc && cc_kb_exec(kb, "PRAGMA wal_checkpoint(TRUNCATE)") != CC_OK)
        rc = cli_error("checkpointing the log: %s", cc_kb_errmsg(kb));
    cc_kb_close(kb);
    if (!rc) printf("%s: optimized\n", argv[1]);
    return rc;
}

void cli_fts_tidy(cc_kb *kb)
{
    if (cr_fts_tidy(kb, NULL, NULL, NULL) != CC_OK)
        fprintf(stderr, "cairn: warning: merging the full-text indexes: %s (the writes are"
                " stored; `cairn optimize` merges them later)\n", cc_kb_errmsg(kb));
}
