/* test_names_stage.c — the graph hook's entity names written once per
 * transaction (graph/derived.c, entnames; core/kb.c's pre-commit steps):
 * a batch of one-chunk inputs with the rules extractor leaves one
 * entity_names segment, not one per input, and its names are not in the
 * index before the commit and are after it (with the chunks' full-text
 * rows, the other step); an input failing half-way (after the hook staged
 * a new entity's names and a new name of a committed entity) leaves none
 * of them: entity_names is row for row what the batch without that input
 * gives; a committed entity's new name is appended to its row; an entity
 * made and then removed within one batch, and a committed one removed and
 * made again, leave a consistent index (FTS5 integrity-check against the
 * content table); a rollback leaves nothing staged (a later plain
 * transaction commits); every row holds exactly its entity's aliases.
 * Real SQLite files, the real ingestion API and graph hook. */
#include "core.h"
#include "retrieval.h"
#include "graph.h"
#include "check.h"
#include "check_sql.h"

#include <sqlite3.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#define N_INPUTS 40

/* Rows of entity_names matching the FTS5 query q (-2: the query failed). */
static long long hits(sqlite3 *db, const char *q)
{
    sqlite3_stmt *st;
    long long n = 0;
    int rc;
    if (sqlite3_prepare_v2(db, "SELECT rowid FROM entity_names WHERE entity_names MATCH ?1", -1,
                           &st, NULL) != SQLITE_OK)
        return -2;
    sqlite3_bind_text(st, 1, q, -1, SQLITE_STATIC);
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) n++;
    sqlite3_finalize(st);
    return rc == SQLITE_DONE ? n : -2;
}

/* The names row of the entity with this key ("" when none). */
static void names_of(sqlite3 *db, const char *key, char *out, size_t cap)
{
    sqlite3_stmt *st;
    out[0] = 0;
    if (sqlite3_prepare_v2(db, "SELECT n.names FROM entity_names n JOIN entities e ON"
                           " e.id = n.rowid WHERE e.key = ?1", -1, &st, NULL) != SQLITE_OK)
        return;
    sqlite3_bind_text(st, 1, key, -1, SQLITE_STATIC);
    if (sqlite3_step(st) == SQLITE_ROW) snprintf(out, cap, "%s", sqlite3_column_text(st, 0));
    sqlite3_finalize(st);
}

/* FTS5's check of entity_names, the content table included (rank 1). */
static int names_ok(sqlite3 *db)
{
    int rc = sqlite3_exec(db, "INSERT INTO entity_names(entity_names, rank) VALUES"
                              " ('integrity-check', 1)", NULL, NULL, NULL);
    if (rc != SQLITE_OK) fprintf(stderr, "integrity-check: %s\n", sqlite3_errmsg(db));
    return rc == SQLITE_OK;
}

/* Rows of entity_names that do not hold exactly their entity's aliases: a
 * row iff the entity has aliases, each alias in it, its length that of the
 * aliases joined by " | "; no row without an entity (0: every row agrees). */
static long long names_disagree(sqlite3 *db)
{
    return check_count_rows(db, "SELECT count(*) FROM entity_names WHERE rowid NOT IN (SELECT id FROM"
                     " entities)") +
           check_count_rows(db, "SELECT count(*) FROM entities e LEFT JOIN entity_names n ON n.rowid = e.id"
                     " WHERE (n.rowid IS NULL) <> NOT EXISTS (SELECT 1 FROM aliases a WHERE"
                     " a.entity_id = e.id) OR (n.rowid IS NOT NULL AND (length(n.names) <>"
                     " (SELECT sum(length(alias)) + 3 * (count(*) - 1) FROM aliases a WHERE"
                     " a.entity_id = e.id) OR EXISTS (SELECT 1 FROM aliases a WHERE"
                     " a.entity_id = e.id AND instr(n.names, a.alias) = 0)))");
}

/* Every (rowid, names) of entity_names, in rowid order, as one text. */
static char *rows_dump(sqlite3 *db)
{
    sqlite3_stmt *st;
    cc_buf b = CC_BUF_INIT(0);
    if (sqlite3_prepare_v2(db, "SELECT rowid, names FROM entity_names ORDER BY rowid", -1, &st,
                           NULL) != SQLITE_OK)
        return NULL;
    while (sqlite3_step(st) == SQLITE_ROW)
        cc_buf_printf(&b, "%lld\t%s\n", (long long)sqlite3_column_int64(st, 0),
                      sqlite3_column_text(st, 1));
    sqlite3_finalize(st);
    return cc_buf_detach(&b);
}

static cc_status add(cc_kb *kb, const char *uri, const char *text, const cr_ingest_opts *o,
                     cr_ingest_stats *st)
{
    return cr_ingest_data(kb, uri, CR_FMT_UNKNOWN, text, strlen(text), o, st);
}

/* The graph hook, then a refusal of the second chunk of an input: the
 * first chunk's names are staged when the input fails. */
static cr_chunk_hook graph_hook;
static void *graph_ud;
static int hook_calls;
static cc_status refuse_second(void *ud, cc_kb *kb, int64_t doc_id, int64_t chunk_id,
                               const char *text, size_t len, int64_t start_byte,
                               int64_t start_char)
{
    cc_status s = graph_hook(graph_ud, kb, doc_id, chunk_id, text, len, start_byte, start_char);
    (void)ud;
    if (s) return s;
    if (++hook_calls == 2) return cc_kb_seterr(kb, CC_INVALID, "test: second chunk refused");
    return CC_OK;
}

/* The first two batches into a fresh KB at dir; with_bad: the second
 * batch has the input that fails half-way.  The KB stays open in *out. */
static void two_batches(const char *dir, int with_bad, cc_kb **out)
{
    cc_kb *kb = NULL;
    sqlite3 *db;
    cr_ingest_opts o, bad;
    cr_ingest_stats st = {0};
    cr_fts_shape sh;
    char uri[64], text[256], w[16], names[256];
    int i;

    *out = NULL;
    CHECK_OK(cc_kb_create(dir));
    CHECK_OK(cc_kb_open(dir, CC_KB_WRITE, &kb));
    if (!kb) return;
    db = cc_kb_db(kb);
    CHECK_OK(cg_ingest_opts_with(kb, "rules", &o));
    CHECK(o.on_chunk != NULL);

    /* a batch of one-chunk inputs, each naming a person of its own and a
     * company they share: one segment; before the commit the names are
     * not in the index, after it every input's are */
    CHECK_OK(cc_kb_begin(kb));
    for (i = 0; i < N_INPUTS; i++) {
        snprintf(uri, sizeof uri, "d%02d.txt", i);
        snprintf(text, sizeof text, "Velma Zq%c%c joined Norvale Systems in Lisbon.\n",
                 'a' + i / 26, 'a' + i % 26);
        CHECK_OK(add(kb, uri, text, &o, &st));
    }
    CHECK(check_count_rows(db, "SELECT count(*) FROM aliases WHERE alias LIKE 'Velma Zq%'") == N_INPUTS);
    CHECK(hits(db, "zqaa") == 0 && hits(db, "norvale") == 0);   /* not before the commit */
    CHECK_OK(cc_kb_commit(kb));
    CHECK(st.docs_added == N_INPUTS);
    for (i = 0; i < N_INPUTS; i++) {
        snprintf(w, sizeof w, "zq%c%c", 'a' + i / 26, 'a' + i % 26);
        CHECK_MSG(hits(db, w) == 1, "%s", w);
    }
    CHECK(hits(db, "norvale AND systems") == 1);
    names_of(db, "norvale systems", names, sizeof names);
    CHECK_STR(names, "Norvale Systems");
    CHECK_OK(cr_fts_shape_get(kb, CR_FTS_NAMES, &sh));
    CHECK_MSG(sh.segments == 1, "entity_names: %lld segments after a batch of %d inputs",
              (long long)sh.segments, N_INPUTS);
    CHECK_OK(cr_fts_shape_get(kb, CR_FTS_CHUNKS, &sh));      /* the other step ran too */
    CHECK_MSG(sh.segments == 1, "chunks_fts: %lld segments", (long long)sh.segments);
    CHECK(check_count_rows(db, "SELECT count(*) FROM temp.names_stage") == 0);
    CHECK(names_ok(db));

    /* a batch with an input failing half-way: its first record's chunk
     * stages a new entity's names and a new name (NS) of a committed one */
    bad = o;
    bad.on_chunk = refuse_second;
    graph_hook = o.on_chunk;
    graph_ud = o.on_chunk_ud;
    CHECK_OK(cc_kb_begin(kb));
    CHECK_OK(add(kb, "before.txt", "Kestrel Avionics (KA) hired Velma Zqaa.\n", &o, &st));
    if (with_bad) {
        hook_calls = 0;
        CHECK(add(kb, "bad.jsonl",
                  "{\"id\":\"1\",\"text\":\"Zorbaq Quintel Corporation (ZQC) bought Norvale"
                  " Systems (NS) in Quorvik.\"}\n"
                  "{\"id\":\"2\",\"text\":\"A second record.\"}\n", &bad, &st) == CC_INVALID &&
              hook_calls == 2);
    }
    CHECK_OK(add(kb, "after.txt", "Pellow Trask visited Lisbon.\n", &o, &st));
    CHECK_OK(cc_kb_commit(kb));
    CHECK(hits(db, "kestrel") == 1 && hits(db, "ka") == 1 && hits(db, "trask") == 1);
    CHECK(hits(db, "zorbaq") == 0 && hits(db, "zqc") == 0 && hits(db, "quorvik") == 0);
    CHECK(hits(db, "ns") == 0);
    names_of(db, "norvale systems", names, sizeof names);
    CHECK_STR(names, "Norvale Systems");
    CHECK(check_count_rows(db, "SELECT count(*) FROM temp.names_stage") == 0);
    CHECK(names_ok(db));
    CHECK(names_disagree(db) == 0);
    *out = kb;
}

int main(void)
{
    const char *tmp = getenv("CAIRN_TMP") ? getenv("CAIRN_TMP") : "/tmp";
    char dir[512], twin[512], names[256], cmd[1100];
    cc_kb *kb = NULL;
    sqlite3 *db;
    cr_ingest_opts o;
    cr_ingest_stats st = {0};
    char *a = NULL, *b = NULL;
    long long zqab_old;

    snprintf(dir, sizeof dir, "%s/test_names_stage_%d", tmp, (int)getpid());
    snprintf(twin, sizeof twin, "%s/test_names_stage_twin_%d", tmp, (int)getpid());

    /* the failed input leaves no trace: row for row the KB without it */
    two_batches(twin, 0, &kb);
    if (kb) {
        b = rows_dump(cc_kb_db(kb));
        cg_ingest_done();
        cc_kb_close(kb);
    }
    two_batches(dir, 1, &kb);
    if (!kb) return check_done("test_names_stage");
    db = cc_kb_db(kb);
    a = rows_dump(db);
    CHECK(a && b && *a);
    CHECK_MSG(a && b && !strcmp(a, b), "entity_names differs from the batch without the failed"
              " input:\n%s---\n%s", a ? a : "", b ? b : "");
    free(a);
    free(b);

    CHECK_OK(cg_ingest_opts_with(kb, "rules", &o));
    zqab_old = check_count_rows(db, "SELECT id FROM entities WHERE key = 'velma zqab'");
    /* one batch: a committed entity gets a new name (NS, appended to its
     * row); an entity made and removed (its document replaced); a
     * committed one removed with its document and made again */
    CHECK_OK(cc_kb_begin(kb));
    CHECK_OK(add(kb, "ns.txt", "Norvale Systems (NS) opened an office in Porto.\n", &o, &st));
    CHECK_OK(add(kb, "twice.txt", "Dorvin Pellwick founded Zentrix Labs.\n", &o, &st));
    CHECK(check_count_rows(db, "SELECT count(*) FROM temp.names_stage") > 0);
    CHECK_OK(add(kb, "twice.txt", "a plain line without any name.\n", &o, &st));
    CHECK_OK(add(kb, "d01.txt", "another plain line.\n", &o, &st));
    CHECK(check_count_rows(db, "SELECT count(*) FROM entities WHERE key = 'velma zqab'") == 0);
    CHECK_OK(add(kb, "again.txt", "Velma Zqab came back to Norvale Systems.\n", &o, &st));
    CHECK_OK(add(kb, "quentor.txt", "Quentor Holdings bought a farm.\n", &o, &st));
    CHECK_OK(cc_kb_commit(kb));
    names_of(db, "norvale systems", names, sizeof names);
    CHECK_STR(names, "Norvale Systems | NS");
    CHECK(hits(db, "ns") == 1 && hits(db, "norvale") == 1);
    CHECK(hits(db, "pellwick") == 0 && hits(db, "zentrix") == 0);
    CHECK(check_count_rows(db, "SELECT count(*) FROM entities WHERE key LIKE '%pellwick%'") == 0);
    CHECK(hits(db, "zqab") == 1);
    CHECK(check_count_rows(db, "SELECT n.rowid FROM entity_names n JOIN entities e ON e.id = n.rowid"
                    " WHERE e.key = 'velma zqab'") > zqab_old);
    CHECK(check_count_rows(db, "SELECT count(*) FROM temp.names_stage") == 0);
    CHECK(names_ok(db));
    CHECK(names_disagree(db) == 0);

    /* a rollback leaves nothing staged: the next plain transaction commits
     * with a COMMIT statement, and the rolled-back names are nowhere */
    CHECK_OK(cc_kb_begin(kb));
    CHECK_OK(add(kb, "gone.txt", "Gorvan Quillet met Norvale Systems (NSY) people.\n", &o, &st));
    CHECK(check_count_rows(db, "SELECT count(*) FROM temp.names_stage") > 0);
    cc_kb_rollback(kb);
    CHECK(sqlite3_exec(db, "BEGIN IMMEDIATE; INSERT INTO meta(key, value) VALUES ('t', '1');"
                           " COMMIT", NULL, NULL, NULL) == SQLITE_OK);
    CHECK(sqlite3_get_autocommit(db));
    CHECK(hits(db, "quillet") == 0 && hits(db, "nsy") == 0);
    CHECK(check_count_rows(db, "SELECT count(*) FROM aliases WHERE alias = 'Gorvan Quillet'") == 0);
    CHECK(check_count_rows(db, "SELECT count(*) FROM temp.names_stage") <= 0);   /* empty, or gone */

    /* an input alone (its own transaction, names written at once): a new
     * entity with two names, a new name of a committed entity */
    CHECK_OK(add(kb, "alone.txt", "Hestra Vollmark joined Brindle Optics (BO).\n", &o, &st));
    CHECK(hits(db, "vollmark") == 1);
    names_of(db, "brindle optics", names, sizeof names);
    CHECK_STR(names, "Brindle Optics | BO");
    CHECK_OK(add(kb, "alone2.txt", "Quentor Holdings (QH) sold the farm.\n", &o, &st));
    names_of(db, "quentor holdings", names, sizeof names);
    CHECK_STR(names, "Quentor Holdings | QH");
    CHECK(check_count_rows(db, "SELECT count(*) FROM temp.names_stage") == 0);
    CHECK(names_ok(db));
    CHECK(names_disagree(db) == 0);
    CHECK(check_count_rows(db, "SELECT count(*) FROM entity_names_docsize") ==
          check_count_rows(db, "SELECT count(*) FROM entity_names"));

    cg_ingest_done();
    cc_kb_close(kb);
    snprintf(cmd, sizeof cmd, "rm -rf '%s' '%s'", dir, twin);
    if (system(cmd)) { /* scratch only */ }
    return check_done("test_names_stage");
}
