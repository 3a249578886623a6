/* test_kb_stmt.c — statements kept with the KB handle (cc_kb_stmt) and
 * ingestion's use of them: the same SQL gives the same statement, reset
 * and unbound; a failed prepare is an error and is not kept; a schema
 * change made by another connection is survived; an input that fails
 * half-way, with a statement of the handle left mid-step, leaves no
 * statement busy, so the next input, a TRUNCATE checkpoint and another
 * connection's write all go through; cc_kb_close finalizes every kept
 * statement before the connection closes (seen from SQLite's close
 * trace, where sqlite3_close, not _v2, would otherwise fail). */
#include "core.h"
#include "graph.h"
#include "retrieval.h"
#include "check.h"
#include "check_sql.h"

#include <sqlite3.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

static const char sql_a[] = "SELECT 1";
static const char sql_b[] = "SELECT 2";
static const char sql_bind[] = "SELECT ?1";
static const char sql_ids[] = "SELECT id FROM documents";
static const char sql_missing[] = "SELECT x FROM t_later";
static const char sql_t1[] = "SELECT * FROM t1";
static char many[100][48];   /* static storage, as the contract asks */

/* Statements of db that are mid-step (stepped, not done, not reset). */
static int busy_stmts(sqlite3 *db)
{
    int n = 0;
    for (sqlite3_stmt *s = sqlite3_next_stmt(db, NULL); s; s = sqlite3_next_stmt(db, s))
        n += sqlite3_stmt_busy(s) != 0;
    return n;
}

/* ---------------------------------------------------------------- a hook that fails */

/* Wraps the graph module's hook: at the first chunk it also leaves a
 * kept statement mid-step (a read open), at the second it fails. */
typedef struct hook { cr_chunk_hook inner; void *inner_ud; int calls; } hook;

static cc_status failing_hook(void *ud, cc_kb *kb, int64_t doc_id, int64_t chunk_id,
                              const char *text, size_t len, int64_t start_byte,
                              int64_t start_char)
{
    hook *h = ud;
    sqlite3_stmt *st;
    cc_status s;
    if (h->inner && (s = h->inner(h->inner_ud, kb, doc_id, chunk_id, text, len, start_byte,
                                  start_char)))
        return s;
    if (++h->calls == 1) {
        if ((s = cc_kb_stmt(kb, sql_ids, &st))) return s;
        if (sqlite3_step(st) != SQLITE_ROW) return cc_kb_seterr(kb, CC_ERROR, "no row");
        return CC_OK;   /* left mid-step on purpose */
    }
    return cc_kb_seterr(kb, CC_INVALID, "test: the second chunk is refused");
}

/* ---------------------------------------------------------------- close */

/* Kept statements of this test, ingestion's and the graph hook's (by
 * their text). FTS5's own statements are still there when the close
 * trace runs: SQLite finalizes them after it, before its busy check. */
static int is_kept(const char *sql)
{
    static const char *const pre[] = {
        "SELECT 1", "SELECT 2", "SELECT ?1", "SELECT id FROM documents", "SELECT x FROM t_later",
        "SELECT * FROM t1", "INSERT INTO documents(", "INSERT INTO chunks(",
        "INSERT INTO changes(", "SELECT id, merged_into, key, label FROM entities",
        "INSERT INTO mentions(", "DELETE FROM chunks WHERE doc_id",
    };
    size_t i;
    if (!sql) return 0;
    for (i = 0; i < sizeof pre / sizeof *pre; i++)
        if (!strncmp(sql, pre[i], strlen(pre[i]))) return 1;
    for (i = 0; i < 100; i++)
        if (!strcmp(sql, many[i])) return 1;
    return 0;
}

static int close_seen, close_stmts = -1, close_all = -1;

static int on_trace(unsigned type, void *ud, void *p, void *x)
{
    (void)ud; (void)x;
    if (type == SQLITE_TRACE_CLOSE) {
        sqlite3 *db = p;
        close_seen++;
        close_stmts = close_all = 0;
        for (sqlite3_stmt *s = sqlite3_next_stmt(db, NULL); s; s = sqlite3_next_stmt(db, s)) {
            close_all++;
            close_stmts += is_kept(sqlite3_sql(s));
        }
    }
    return 0;
}

/* A TRUNCATE checkpoint on db completes and leaves an empty WAL. */
static int checkpoint_ok(sqlite3 *db)
{
    int ln = -1, ck = -1, rc = sqlite3_wal_checkpoint_v2(db, NULL, SQLITE_CHECKPOINT_TRUNCATE,
                                                          &ln, &ck);
    if (rc != SQLITE_OK || ln != 0)
        fprintf(stderr, "checkpoint: rc %d (%s), WAL frames left %d\n", rc, sqlite3_errmsg(db), ln);
    return rc == SQLITE_OK && ln == 0;
}

int main(void)
{
    const char *tmp = getenv("CAIRN_TMP") ? getenv("CAIRN_TMP") : "/tmp";
    char dir[512], path[600];
    cc_kb *kb = NULL;
    sqlite3 *db, *other = NULL;
    sqlite3_stmt *a1, *a2, *b, *st, *st2;
    sqlite3_stmt *kept[100];
    cr_ingest_opts opts;
    cr_ingest_stats stats = {0};
    cc_status s;
    int i, same;

    snprintf(dir, sizeof dir, "%s/test_kb_stmt_%d", tmp, (int)getpid());
    CHECK(cc_kb_create(dir) == CC_OK);
    CHECK(cc_kb_open(dir, CC_KB_WRITE, &kb) == CC_OK);
    if (!kb) return check_done("test_kb_stmt");
    db = cc_kb_db(kb);

    /* the same SQL, the same statement; another SQL, another one */
    CHECK(cc_kb_stmt(kb, sql_a, &a1) == CC_OK && a1);
    CHECK(cc_kb_stmt(kb, sql_b, &b) == CC_OK && b);
    CHECK(cc_kb_stmt(kb, sql_a, &a2) == CC_OK && a2 == a1);
    CHECK(a1 != b);
    CHECK(a1 && !strcmp(sqlite3_sql(a1), "SELECT 1"));

    /* given back reset and unbound, whatever the last user left */
    CHECK(cc_kb_stmt(kb, sql_bind, &st) == CC_OK && st);
    if (st) {
        sqlite3_bind_int(st, 1, 42);
        CHECK(sqlite3_step(st) == SQLITE_ROW && sqlite3_column_int(st, 0) == 42);
        CHECK(sqlite3_stmt_busy(st));                     /* left mid-step */
        CHECK(cc_kb_stmt(kb, sql_bind, &st2) == CC_OK && st2 == st);
        CHECK(!sqlite3_stmt_busy(st));
        CHECK(sqlite3_step(st) == SQLITE_ROW && sqlite3_column_type(st, 0) == SQLITE_NULL);
        sqlite3_reset(st);
    }

    /* many statements: the table grows and keeps each one */
    for (i = 0; i < 100; i++) {
        snprintf(many[i], sizeof many[i], "SELECT %d + 1", i);
        CHECK(cc_kb_stmt(kb, many[i], &kept[i]) == CC_OK && kept[i]);
    }
    for (i = 0, same = 0; i < 100; i++)
        same += cc_kb_stmt(kb, many[i], &st) == CC_OK && st == kept[i] &&
                sqlite3_step(st) == SQLITE_ROW && sqlite3_column_int(st, 0) == i + 1;
    CHECK_MSG(same == 100, "%d of 100 kept statements given back", same);
    CHECK(cc_kb_stmt(kb, sql_a, &a2) == CC_OK && a2 == a1);

    /* a failed prepare: an error with SQLite's reason, not kept */
    st = (sqlite3_stmt *)1;
    CHECK(cc_kb_stmt(kb, sql_missing, &st) == CC_SQLITE && st == NULL);
    CHECK(strstr(cc_kb_errmsg(kb), "no such table") != NULL);
    CHECK(cc_kb_exec(kb, "CREATE TABLE t_later(x); INSERT INTO t_later VALUES (7)") == CC_OK);
    CHECK(cc_kb_stmt(kb, sql_missing, &st) == CC_OK && st &&
          sqlite3_step(st) == SQLITE_ROW && sqlite3_column_int(st, 0) == 7);

    /* a schema change by another connection between two uses (first, the
     * statements stepped above, each left at its row: the 100 and
     * t_later's, are reset: a read kept open keeps its snapshot) */
    CHECK_MSG(busy_stmts(db) == 101, "%d busy", busy_stmts(db));
    cc_kb_stmt_reset_all(kb);
    CHECK(busy_stmts(db) == 0);
    CHECK(cc_kb_exec(kb, "CREATE TABLE t1(a); INSERT INTO t1 VALUES (1)") == CC_OK);
    CHECK(cc_kb_stmt(kb, sql_t1, &st) == CC_OK && st && sqlite3_column_count(st) == 1);
    CHECK(st && sqlite3_step(st) == SQLITE_ROW);
    snprintf(path, sizeof path, "%s/cairn.db", dir);
    CHECK(sqlite3_open_v2(path, &other, SQLITE_OPEN_READWRITE, NULL) == SQLITE_OK);
    CHECK(sqlite3_exec(other, "ALTER TABLE t1 ADD COLUMN b DEFAULT 5", NULL, NULL, NULL)
          == SQLITE_OK);
    CHECK(cc_kb_stmt(kb, sql_t1, &st2) == CC_OK && st2 == st);
    {
        int rc = st ? sqlite3_step(st) : -1;
        CHECK_MSG(rc == SQLITE_ROW && sqlite3_column_count(st) == 2 && sqlite3_column_int(st, 1) == 5,
                  "rc %d cols %d: %s", rc, sqlite3_column_count(st), sqlite3_errmsg(db));
    }
    cc_kb_stmt_reset_all(kb);
    CHECK(busy_stmts(db) == 0);

    /* ingestion: one input, then a batch of two, in one transaction */
    CHECK(cg_ingest_opts_with(kb, "rules", &opts) == CC_OK);
    static const char t1[] = "Ada Lovelace worked with Charles Babbage in London.\n";
    static const char t2[] = "Grace Hopper joined the Harvard Computation Lab.\n";
    CHECK(cr_ingest_data(kb, "one.txt", CR_FMT_UNKNOWN, t1, sizeof t1 - 1, &opts, &stats)
          == CC_OK);
    CHECK(cc_kb_begin(kb) == CC_OK);
    CHECK(cr_ingest_data(kb, "two.txt", CR_FMT_UNKNOWN, t2, sizeof t2 - 1, &opts, &stats)
          == CC_OK);
    CHECK(cr_ingest_data(kb, "one.txt", CR_FMT_UNKNOWN, t2, sizeof t2 - 1, &opts, &stats)
          == CC_OK);                           /* replaced: the remove statements */
    CHECK(cc_kb_commit(kb) == CC_OK);
    CHECK(stats.docs_added == 2 && stats.docs_replaced == 1);
    CHECK(check_count_rows(db, "SELECT count(*) FROM documents WHERE deleted = 0") == 2);
    CHECK(check_count_rows(db, "SELECT count(*) FROM mentions") > 0);
    CHECK(busy_stmts(db) == 0);

    /* an input that fails half-way, with a kept statement left mid-step by
     * its hook: inside a batch (a savepoint, as cairn ingest does it) as
     * the first input of a fresh handle (what it made in the savepoint,
     * the temp tables, is rolled back), then alone (its own transaction) */
    {
        static const char jl[] =
            "{\"id\": \"r1\", \"text\": \"Alan Turing visited Manchester in 1948.\"}\n"
            "{\"id\": \"r2\", \"text\": \"John von Neumann lived in Princeton.\"}\n";
        static const char t3[] = "Edsger Dijkstra taught in Austin.\n";
        hook h = {NULL, NULL, 0};
        cr_ingest_opts o2;
        cg_ingest_done();
        cc_kb_close(kb);
        kb = NULL;
        CHECK(cc_kb_open(dir, CC_KB_WRITE, &kb) == CC_OK);
        if (!kb) return check_done("test_kb_stmt");
        db = cc_kb_db(kb);
        CHECK(cg_ingest_opts_with(kb, "rules", &opts) == CC_OK);
        o2 = opts;
        h.inner = opts.on_chunk;
        h.inner_ud = opts.on_chunk_ud;
        o2.on_chunk = failing_hook;
        o2.on_chunk_ud = &h;

        CHECK(cc_kb_begin(kb) == CC_OK);
        s = cr_ingest_data(kb, "bad.jsonl", CR_FMT_UNKNOWN, jl, sizeof jl - 1, &o2, &stats);
        CHECK(s == CC_INVALID && h.calls == 2);
        CHECK(strstr(cc_kb_errmsg(kb), "second chunk is refused") != NULL);
        CHECK_MSG(busy_stmts(db) == 0, "%d statements left mid-step", busy_stmts(db));
        CHECK_MSG(cr_ingest_data(kb, "three.txt", CR_FMT_UNKNOWN, t3, sizeof t3 - 1, &opts,
                                 &stats) == CC_OK, "%s", cc_kb_errmsg(kb));
        CHECK(cc_kb_commit(kb) == CC_OK);
        CHECK(check_count_rows(db, "SELECT count(*) FROM documents WHERE uri LIKE 'bad.jsonl%'") == 0);
        CHECK(check_count_rows(db, "SELECT count(*) FROM documents WHERE uri = 'three.txt'") == 1);
        CHECK(busy_stmts(db) == 0);
        CHECK(checkpoint_ok(db));

        h.calls = 0;
        s = cr_ingest_data(kb, "bad.jsonl", CR_FMT_UNKNOWN, jl, sizeof jl - 1, &o2, &stats);
        CHECK(s == CC_INVALID && h.calls == 2);
        CHECK_MSG(busy_stmts(db) == 0, "%d statements left mid-step", busy_stmts(db));
        /* a statement of the connection still running: SQLITE_LOCKED */
        CHECK(checkpoint_ok(db));
        sqlite3_busy_timeout(other, 0);
        CHECK(sqlite3_exec(other, "BEGIN IMMEDIATE; CREATE TABLE t2(a); COMMIT", NULL, NULL,
                           NULL) == SQLITE_OK);
        CHECK(check_count_rows(db, "SELECT count(*) FROM documents WHERE uri LIKE 'bad.jsonl%'") == 0);

        /* a JSON input whose records are all gone removes them (ingest_seen) */
        static const char jl2[] = "{\"id\": \"r1\", \"text\": \"Alan Turing again.\"}\n";
        static const char jl3[] = "{\"id\": \"r3\", \"text\": \"Kurt Goedel in Vienna.\"}\n";
        CHECK(cr_ingest_data(kb, "good.jsonl", CR_FMT_UNKNOWN, jl, sizeof jl - 1, &opts, &stats)
              == CC_OK);
        CHECK(cr_ingest_data(kb, "good.jsonl", CR_FMT_UNKNOWN, jl2, sizeof jl2 - 1, &opts,
                             &stats) == CC_OK);
        CHECK(check_count_rows(db, "SELECT count(*) FROM documents WHERE uri LIKE 'good.jsonl#%'"
                        " AND deleted = 0") == 1);
        CHECK(cr_ingest_data(kb, "good.jsonl", CR_FMT_UNKNOWN, jl3, sizeof jl3 - 1, &opts,
                             &stats) == CC_OK);
        CHECK(check_count_rows(db, "SELECT count(*) FROM documents WHERE uri = 'good.jsonl#r3'"
                        " AND deleted = 0") == 1);
        CHECK(check_count_rows(db, "SELECT count(*) FROM documents WHERE uri LIKE 'good.jsonl#%'"
                        " AND deleted = 0") == 1);
    }

    /* removal through the kept statements, twice, and a failing one */
    {
        int64_t removed = 0;
        CHECK(cr_doc_remove(kb, "two.txt", &removed) == CC_OK && removed == 1);
        CHECK(cr_doc_remove(kb, "two.txt", &removed) == CC_NOTFOUND && removed == 0);
        CHECK(cr_doc_remove(kb, "three.txt", &removed) == CC_OK && removed == 1);
        CHECK(busy_stmts(db) == 0);
        CHECK(check_count_rows(db, "SELECT count(*) FROM documents WHERE deleted = 0") == 2);
    }
    cg_ingest_done();

    /* close: every kept statement finalized before the connection closes */
    {
        int n = 0;
        for (sqlite3_stmt *p = sqlite3_next_stmt(db, NULL); p; p = sqlite3_next_stmt(db, p))
            n += is_kept(sqlite3_sql(p));
        CHECK_MSG(n >= 8, "%d kept statements before the close", n);   /* the check sees them */
    }
    sqlite3_trace_v2(db, SQLITE_TRACE_CLOSE, on_trace, NULL);
    cc_kb_close(kb);
    CHECK(close_seen == 1);
    CHECK_MSG(close_stmts == 0, "%d kept statements (of %d) still there at close", close_stmts,
              close_all);
    sqlite3_close(other);

    {
        char cmd[700];
        snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
        if (system(cmd)) { /* scratch only */ }
    }
    return check_done("test_kb_stmt");
}
