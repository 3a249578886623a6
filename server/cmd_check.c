/* cmd_check.c — `cairn check KB`: verifies a knowledge base. Read-only.
 * Each check prints one line; the exit status is 1 when any fails. */
#include "cli.h"
#include "graph.h"
#include "retrieval.h"

#include <sqlite3.h>
#include <string.h>

static const struct check {
    const char *name;
    const char *sql;    /* returns one row, one column: "ok" or a problem count */
} checks[] = {
    {"sqlite integrity", "PRAGMA integrity_check"},
    {"fts5 index matches chunks",
     "SELECT CASE WHEN (SELECT count(*) FROM chunks_fts) = (SELECT count(*) FROM chunks)"
     " THEN 'ok' ELSE 'fts rows differ from chunks' END"},
    {"chunks belong to live documents",
     "SELECT coalesce(nullif(count(*), 0) || ' orphan chunks', 'ok') FROM chunks c"
     " LEFT JOIN documents d ON d.id = c.doc_id WHERE d.id IS NULL OR d.deleted"},
    {"chunk counts match documents",
     "SELECT coalesce(nullif(count(*), 0) || ' documents with wrong n_chunks', 'ok')"
     " FROM documents d WHERE deleted = 0 AND n_chunks !="
     " (SELECT count(*) FROM chunks WHERE doc_id = d.id)"},
    {"chunk offsets are consistent",
     "SELECT coalesce(nullif(count(*), 0) || ' chunks with bad offsets', 'ok') FROM chunks"
     " WHERE start_char < 0 OR end_char < start_char OR end_byte < start_byte"
     " OR end_byte - start_byte != length(CAST(text AS BLOB))"
     " OR end_char - start_char != length(text)"},
    {"one live version per uri",
     "SELECT coalesce(nullif(count(*), 0) || ' uris with several live versions', 'ok') FROM"
     " (SELECT uri FROM documents WHERE deleted = 0 GROUP BY uri HAVING count(*) > 1)"},
    {"change log covers live documents",
     "SELECT coalesce(nullif(count(*), 0) || ' documents without an add change', 'ok')"
     " FROM documents d WHERE deleted = 0 AND NOT EXISTS (SELECT 1 FROM changes"
     " WHERE op = 'add' AND doc_id = d.id AND generation = d.generation)"},
};

/* The vector index reflects the catalog: same generation, one vector per
 * live chunk. Returns 1 on failure. */
static int check_vectors(cc_kb *kb)
{
    cr_embedder *e;
    cr_vindex *vi;
    cc_buf path = CC_BUF_INIT(0);
    sqlite3_stmt *st;
    int64_t gen = 0, chunks = 0;
    int bad = 0;
    if (!cr_vectors_enabled(kb)) { printf("ok    vector index (disabled)\n"); return 0; }
    if (cr_embedder_from_kb(kb, &e) != CC_OK) {
        printf("FAIL  vector index: %s\n", cc_kb_errmsg(kb));
        return 1;
    }
    cc_kb_path(kb, "vectors.faiss", &path);
    cc_kb_generation(kb, &gen);
    if (sqlite3_prepare_v2(cc_kb_db(kb), "SELECT count(*) FROM chunks", -1, &st, NULL) == SQLITE_OK &&
        sqlite3_step(st) == SQLITE_ROW)
        chunks = sqlite3_column_int64(st, 0);
    sqlite3_finalize(st);
    cr_vindex_opts full = {.verify_full = 1};   /* the checksum, whatever the stamp says */
    if (cr_vindex_open(path.data, cr_embedder_identity(e), cr_embedder_dim(e), &full, &vi) != CC_OK) {
        printf("FAIL  vector index: %s (the next cairn ingest or cairn reindex rebuilds it)\n",
               cc_errmsg());
        bad = 1;
    } else {
        uint64_t at, size;
        if (cr_vindex_delta_damaged(vi, &at, &size)) {
            /* a record past `at` is damaged or torn: what it held is
             * missing from the index until the change log replays it */
            printf("FAIL  vector index: vectors.faiss.delta is damaged at byte %llu of %llu "
                   "(records from there on are ignored; the next cairn ingest catches the index "
                   "up, or run: cairn reindex %s)\n",
                   (unsigned long long)at, (unsigned long long)size, cc_kb_dir(kb));
            bad = 1;
        } else if (cr_vindex_generation(vi) != gen || cr_vindex_count(vi) != chunks) {
            printf("FAIL  vector index: generation %lld with %lld vectors; catalog generation %lld "
                   "with %lld chunks (the next cairn ingest catches it up)\n",
                   (long long)cr_vindex_generation(vi), (long long)cr_vindex_count(vi),
                   (long long)gen, (long long)chunks);
            bad = 1;
        } else {
            printf("ok    vector index (%lld vectors, generation %lld)\n",
                   (long long)chunks, (long long)gen);
        }
        cr_vindex_close(vi);
    }
    cc_buf_free(&path);
    cr_embedder_close(e);
    return bad;
}

int cmd_check(int argc, char **argv)
{
    cc_kb *kb;
    size_t i;
    int failed = 0;
    if (argc != 2 || !strcmp(argv[1], "--help"))
        return cli_usage("check KB\n  Verifies the catalog, the search index and their consistency.");
    if (cc_kb_open(argv[1], CC_KB_READ, &kb) != CC_OK) return cli_error("%s", cc_errmsg());
    for (i = 0; i < sizeof checks / sizeof checks[0]; i++) {
        sqlite3_stmt *st;
        const char *r = NULL;
        int ok;
        if (sqlite3_prepare_v2(cc_kb_db(kb), checks[i].sql, -1, &st, NULL) != SQLITE_OK) {
            printf("FAIL  %s: %s\n", checks[i].name, sqlite3_errmsg(cc_kb_db(kb)));
            failed++;
            continue;
        }
        if (sqlite3_step(st) == SQLITE_ROW) r = (const char *)sqlite3_column_text(st, 0);
        ok = r && !strcmp(r, "ok");
        printf("%s  %s%s%s\n", ok ? "ok  " : "FAIL", checks[i].name, ok ? "" : ": ",
               ok ? "" : r ? r : sqlite3_errmsg(cc_kb_db(kb)));
        failed += !ok;
        sqlite3_finalize(st);
    }
    /* FTS5's own structural check raises an error when the index is damaged */
    if (sqlite3_exec(cc_kb_db(kb), "INSERT INTO chunks_fts(chunks_fts, rank) "
                     "VALUES ('integrity-check', 1)", NULL, NULL, NULL) != SQLITE_OK &&
        sqlite3_errcode(cc_kb_db(kb)) != SQLITE_READONLY) {
        printf("FAIL  fts5 integrity-check: %s\n", sqlite3_errmsg(cc_kb_db(kb)));
        failed++;
    } else {
        printf("ok    fts5 integrity-check\n");
    }
    failed += check_vectors(kb);
    {   /* the Redland store reflects the catalog (graph/rdf.c) */
        cc_buf rep = CC_BUF_INIT(0);
        size_t n = 0;
        if (cg_graph_check(kb, &rep, &n) != CC_OK) {
            printf("FAIL  graph store: %s\n", cc_kb_errmsg(kb));
            failed++;
        } else if (n) {
            printf("FAIL  graph store: %zu problem%s (cairn graph rebuild %s rebuilds it)\n%s", n,
                   n == 1 ? "" : "s", argv[1], rep.data);
            failed++;
        } else {
            printf("ok    graph store matches the catalog\n");
        }
        cc_buf_free(&rep);
    }
    cc_kb_close(kb);
    if (failed) return cli_error("%s: %d check%s failed", argv[1], failed, failed == 1 ? "" : "s");
    printf("%s: all checks passed\n", argv[1]);
    return 0;
}
