/* test_fts_stage.c — ingestion's full-text rows written once per
 * transaction (retrieval/ingest.c, ftsstage; core/kb.c's pre-commit step):
 * a batch of one-chunk inputs (savepoints of one transaction) leaves one
 * FTS5 segment, not one per input; an input failing half-way leaves none of
 * its rows and the others' are found; a document added and then replaced,
 * and JSON records added and then dropped, within one batch, leave a
 * consistent index (FTS5 integrity-check against the content table); a
 * committed document replaced in a batch loses its old rows; a rollback
 * leaves nothing pending (a later plain transaction commits); a plain
 * COMMIT statement that would skip the pre-commit step is refused; every
 * input's chunks are found right after the commit, by this handle and by
 * a reader.  Real SQLite files, the real ingestion API. */
#include "core.h"
#include "retrieval.h"
#include "check.h"
#include "check_sql.h"

#include <sqlite3.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#define N_INPUTS 40

/* Rows of chunks_fts matching the FTS5 query q (-2: the query failed). */
static long long hits(sqlite3 *db, const char *q)
{
    sqlite3_stmt *st;
    long long n = 0;
    int rc;
    if (sqlite3_prepare_v2(db, "SELECT rowid FROM chunks_fts WHERE chunks_fts MATCH ?1", -1, &st,
                           NULL) != SQLITE_OK)
        return -2;
    sqlite3_bind_text(st, 1, q, -1, SQLITE_STATIC);
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) n++;
    sqlite3_finalize(st);
    return rc == SQLITE_DONE ? n : -2;
}

/* 1 when the rowids matching q are exactly the live chunks whose text
 * contains the word w (the index agrees with the content table). */
static int hits_are_live_chunks(sqlite3 *db, const char *q, const char *w)
{
    char sql[300];
    snprintf(sql, sizeof sql, "SELECT count(*) FROM chunks c JOIN documents d ON d.id = c.doc_id"
             " WHERE d.deleted = 0 AND c.text LIKE '%%%s%%'", w);
    return hits(db, q) == check_count_rows(db, sql);
}

/* FTS5's check of chunks_fts, the content table included (rank 1). */
static int fts_ok(sqlite3 *db)
{
    int rc = sqlite3_exec(db, "INSERT INTO chunks_fts(chunks_fts, rank) VALUES"
                              " ('integrity-check', 1)", NULL, NULL, NULL);
    if (rc != SQLITE_OK) fprintf(stderr, "integrity-check: %s\n", sqlite3_errmsg(db));
    return rc == SQLITE_OK;
}

static cc_status add(cc_kb *kb, const char *uri, const char *text, const cr_ingest_opts *o,
                     cr_ingest_stats *st)
{
    return cr_ingest_data(kb, uri, CR_FMT_UNKNOWN, text, strlen(text), o, st);
}

/* A hook that refuses the second chunk of an input. */
static int hook_calls;
static cc_status refuse_second(void *ud, cc_kb *kb, int64_t doc_id, int64_t chunk_id,
                               const char *text, size_t len, int64_t start_byte,
                               int64_t start_char)
{
    (void)ud; (void)doc_id; (void)chunk_id; (void)text; (void)len; (void)start_byte;
    (void)start_char;
    if (++hook_calls == 2) return cc_kb_seterr(kb, CC_INVALID, "test: second chunk refused");
    return CC_OK;
}

int main(void)
{
    const char *tmp = getenv("CAIRN_TMP") ? getenv("CAIRN_TMP") : "/tmp";
    char dir[512], uri[64], text[256];
    cc_kb *kb = NULL, *rd = NULL;
    sqlite3 *db;
    cr_ingest_opts o, bad;
    cr_ingest_stats st = {0};
    cr_fts_shape sh;
    int i;

    snprintf(dir, sizeof dir, "%s/test_fts_stage_%d", tmp, (int)getpid());
    CHECK_OK(cc_kb_create(dir));
    CHECK_OK(cc_kb_open(dir, CC_KB_WRITE, &kb));
    if (!kb) return check_done("test_fts_stage");
    db = cc_kb_db(kb);
    CHECK_OK(cr_ingest_opts_from_kb(kb, &o));

    /* a batch of one-chunk inputs: one segment; before the commit, the
     * rows are not in the index; after it, every input's are */
    CHECK_OK(cc_kb_begin(kb));
    for (i = 0; i < N_INPUTS; i++) {
        snprintf(uri, sizeof uri, "d%02d.txt", i);
        snprintf(text, sizeof text, "Common heading.\nThe word zq%02dword marks input %d.\n", i, i);
        CHECK_OK(add(kb, uri, text, &o, &st));
    }
    CHECK(check_count_rows(db, "SELECT count(*) FROM chunks") == N_INPUTS);
    CHECK(hits(db, "common") == 0);                   /* not written before the commit */
    CHECK_OK(cc_kb_commit(kb));
    CHECK(st.docs_added == N_INPUTS && st.chunks_added == N_INPUTS);
    CHECK(hits(db, "common") == N_INPUTS);
    for (i = 0; i < N_INPUTS; i++) {
        snprintf(text, sizeof text, "zq%02dword", i);
        CHECK_MSG(hits(db, text) == 1, "%s", text);
    }
    CHECK_OK(cr_fts_shape_get(kb, 0, &sh));
    CHECK_MSG(sh.segments == 1, "%lld segments after a batch of %d inputs",
              (long long)sh.segments, N_INPUTS);
    CHECK(fts_ok(db));
    /* a reader sees them too */
    CHECK_OK(cc_kb_open(dir, CC_KB_READ, &rd));
    if (rd) {
        CHECK(hits(cc_kb_db(rd), "common") == N_INPUTS);
        cc_kb_close(rd);
        rd = NULL;
    }

    /* a batch with an input failing half-way (its second record's chunk is
     * refused), before and after good inputs */
    bad = o;
    bad.on_chunk = refuse_second;
    CHECK_OK(cc_kb_begin(kb));
    CHECK_OK(add(kb, "before.txt", "Alpha zqbeforeword text.\n", &o, &st));
    hook_calls = 0;
    CHECK(add(kb, "bad.jsonl", "{\"id\":\"1\",\"text\":\"zqbadone words\"}\n"
                               "{\"id\":\"2\",\"text\":\"zqbadtwo words\"}\n", &bad, &st)
          == CC_INVALID && hook_calls == 2);
    CHECK_OK(add(kb, "after.txt", "Omega zqafterword text.\n", &o, &st));
    CHECK_OK(cc_kb_commit(kb));
    CHECK(hits(db, "zqbeforeword") == 1 && hits(db, "zqafterword") == 1);
    CHECK(hits(db, "zqbadone") == 0 && hits(db, "zqbadtwo") == 0);
    CHECK(check_count_rows(db, "SELECT count(*) FROM documents WHERE uri LIKE 'bad.jsonl%'") == 0);
    CHECK(fts_ok(db));

    /* the first input of a batch fails: the step set by it stays valid */
    CHECK_OK(cc_kb_begin(kb));
    hook_calls = 0;
    CHECK(add(kb, "bad2.jsonl", "{\"id\":\"1\",\"text\":\"zqbadthree words\"}\n"
                                "{\"id\":\"2\",\"text\":\"zqbadfour words\"}\n", &bad, &st)
          == CC_INVALID);
    CHECK_OK(add(kb, "after2.txt", "Omega zqaftertwo text.\n", &o, &st));
    CHECK_OK(cc_kb_commit(kb));
    CHECK(hits(db, "zqbadthree") == 0 && hits(db, "zqaftertwo") == 1);
    CHECK(fts_ok(db));

    /* within one batch: a new document added then replaced; a committed one
     * replaced; JSON records added, then one replaced and one dropped */
    CHECK_OK(cc_kb_begin(kb));
    CHECK_OK(add(kb, "twice.txt", "First zqfirstversion of twice.\n", &o, &st));
    CHECK_OK(add(kb, "twice.txt", "Second zqsecondversion of twice.\n", &o, &st));
    CHECK_OK(add(kb, "d00.txt", "Replaced zqreplacedzero text.\n", &o, &st));
    CHECK_OK(add(kb, "recs.jsonl", "{\"id\":\"a\",\"text\":\"zqreca one\"}\n"
                                   "{\"id\":\"b\",\"text\":\"zqrecb one\"}\n", &o, &st));
    CHECK_OK(add(kb, "recs.jsonl", "{\"id\":\"a\",\"text\":\"zqreca two\"}\n", &o, &st));
    CHECK_OK(cc_kb_commit(kb));
    CHECK(fts_ok(db));
    CHECK(hits(db, "zqfirstversion") == 0 && hits(db, "zqsecondversion") == 1);
    CHECK(hits(db, "zq00word") == 0 && hits(db, "zqreplacedzero") == 1);
    CHECK(hits(db, "zqrecb") == 0 && hits(db, "zqreca") == 1 && hits(db, "zqreca AND two") == 1);
    CHECK(hits_are_live_chunks(db, "common", "Common"));
    CHECK(hits_are_live_chunks(db, "words", "words"));
    CHECK(hits_are_live_chunks(db, "text", "text"));

    /* a rollback leaves nothing pending: the next transaction commits with
     * a plain COMMIT, and the rolled-back input is nowhere */
    CHECK_OK(cc_kb_begin(kb));
    CHECK_OK(add(kb, "gone.txt", "Rolled zqrolledback text.\n", &o, &st));
    cc_kb_rollback(kb);
    CHECK(sqlite3_exec(db, "BEGIN IMMEDIATE; INSERT INTO meta(key, value) VALUES ('t', '1');"
                           " COMMIT", NULL, NULL, NULL) == SQLITE_OK);
    CHECK(sqlite3_get_autocommit(db));
    CHECK(hits(db, "zqrolledback") == 0);
    CHECK(check_count_rows(db, "SELECT count(*) FROM documents WHERE uri = 'gone.txt'") == 0);

    /* a COMMIT statement that skips the step is refused: nothing of the
     * transaction is stored */
    CHECK_OK(cc_kb_begin(kb));
    CHECK_OK(add(kb, "skip.txt", "Skipped zqskipped text.\n", &o, &st));
    CHECK(sqlite3_exec(db, "COMMIT", NULL, NULL, NULL) != SQLITE_OK);
    CHECK(sqlite3_extended_errcode(db) == SQLITE_CONSTRAINT_COMMITHOOK);
    CHECK(sqlite3_get_autocommit(db));   /* rolled back */
    cc_kb_rollback(kb);
    CHECK(check_count_rows(db, "SELECT count(*) FROM documents WHERE uri = 'skip.txt'") == 0);
    CHECK(hits(db, "zqskipped") == 0);
    /* ... and forgotten with it: the next plain transaction commits */
    CHECK(sqlite3_exec(db, "BEGIN IMMEDIATE; INSERT INTO meta(key, value) VALUES ('t2', '1');"
                           " COMMIT", NULL, NULL, NULL) == SQLITE_OK);

    /* an input alone (its own transaction), then removal of a batch's
     * document on its own */
    CHECK_OK(add(kb, "alone.txt", "Alone zqalone text.\n", &o, &st));
    CHECK(hits(db, "zqalone") == 1);
    {
        int64_t n = 0;
        CHECK_OK(cr_doc_remove(kb, "twice.txt", &n));
        CHECK(n == 1 && hits(db, "zqsecondversion") == 0);
    }
    CHECK(fts_ok(db));
    CHECK(hits_are_live_chunks(db, "text", "text"));
    CHECK(check_count_rows(db, "SELECT count(*) FROM chunks_fts_docsize") ==
          check_count_rows(db, "SELECT count(*) FROM chunks"));

    cc_kb_close(kb);
    {
        char cmd[700];
        snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
        if (system(cmd)) { /* scratch only */ }
    }
    return check_done("test_fts_stage");
}
