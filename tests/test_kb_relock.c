/* test_kb_relock.c — a writer kept open between writes (cc_kb_unlock /
 * cc_kb_relock, the server's writer handle): while unlocked another writer
 * may take the KB, and relocking fails with CC_BUSY until it lets go; what
 * the other writer changed meanwhile (rows, settings, the catalog's
 * version) is seen after relocking; a statement left stepping before the
 * unlock does not keep the WAL from being checkpointed. */
#include "core.h"
#include "check.h"

#include <sqlite3.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

static long long count_rows(sqlite3 *db)
{
    sqlite3_stmt *st;
    long long n = -1;
    if (sqlite3_prepare_v2(db, "SELECT count(*) FROM t", -1, &st, NULL) != SQLITE_OK) return -1;
    if (sqlite3_step(st) == SQLITE_ROW) n = sqlite3_column_int64(st, 0);
    sqlite3_finalize(st);
    return n;
}

int main(void)
{
    const char *tmp = getenv("CAIRN_TMP") ? getenv("CAIRN_TMP") : "/tmp";
    char dir[512], path[600];
    cc_kb *w = NULL, *other = NULL;
    sqlite3 *wdb, *odb;
    sqlite3_stmt *left = NULL;
    int64_t v = 0;
    int log = -1, ckpt = -1;
    FILE *f;

    snprintf(dir, sizeof dir, "%s/test_kb_relock_%d", tmp, (int)getpid());
    CHECK(cc_kb_create(dir) == CC_OK);
    CHECK(cc_kb_open(dir, CC_KB_WRITE, &w) == CC_OK);
    if (!w) return check_done("test_kb_relock");
    wdb = cc_kb_db(w);
    CHECK(sqlite3_exec(wdb, "CREATE TABLE t(x)", NULL, NULL, NULL) == SQLITE_OK);

    /* locked: nobody else may write */
    CHECK(cc_kb_open(dir, CC_KB_WRITE, &other) == CC_BUSY && !other);

    /* unlocked: read-only, and another writer may open and write */
    CHECK(cc_kb_unlock(w) == CC_OK);
    CHECK(!cc_kb_writable(w));
    CHECK(cc_kb_open(dir, CC_KB_WRITE, &other) == CC_OK);
    if (!other) return check_done("test_kb_relock");
    odb = cc_kb_db(other);
    CHECK(sqlite3_exec(odb, "INSERT INTO t VALUES (1), (2), (3)", NULL, NULL, NULL) == SQLITE_OK);
    CHECK(cc_kb_setting_set(other, "chunk.target_tokens", "123") == CC_OK);

    /* while the other holds it, relocking is refused with the open's message */
    CHECK(cc_kb_relock(w) == CC_BUSY);
    CHECK_MSG(strstr(cc_errmsg(), "being written by another process") != NULL, "%s", cc_errmsg());
    CHECK(!cc_kb_writable(w));
    cc_kb_close(other);
    other = NULL;

    /* relocked: the other's rows and settings are seen, and it writes */
    CHECK(cc_kb_relock(w) == CC_OK);
    CHECK(cc_kb_writable(w));
    CHECK(count_rows(wdb) == 3);
    CHECK(cc_kb_setting_i64(w, "chunk.target_tokens", 300, &v) == CC_OK && v == 123);
    CHECK(cc_kb_begin(w) == CC_OK);
    CHECK(sqlite3_exec(wdb, "INSERT INTO t VALUES (4)", NULL, NULL, NULL) == SQLITE_OK);
    CHECK(cc_kb_commit(w) == CC_OK);

    /* a statement left stepping and a transaction left open: unlocking
     * resets and rolls back, so the next writer can checkpoint the whole
     * WAL (a reader's snapshot would keep its frames) and sees no row 5 */
    CHECK(cc_kb_begin(w) == CC_OK);
    CHECK(sqlite3_exec(wdb, "INSERT INTO t VALUES (5)", NULL, NULL, NULL) == SQLITE_OK);
    CHECK(sqlite3_prepare_v2(wdb, "SELECT x FROM t", -1, &left, NULL) == SQLITE_OK);
    CHECK(sqlite3_step(left) == SQLITE_ROW);
    CHECK(cc_kb_unlock(w) == CC_OK);
    CHECK(!sqlite3_stmt_busy(left));
    CHECK(cc_kb_open(dir, CC_KB_WRITE, &other) == CC_OK);
    if (!other) return check_done("test_kb_relock");
    odb = cc_kb_db(other);
    CHECK(count_rows(odb) == 4);
    CHECK(sqlite3_exec(odb, "INSERT INTO t VALUES (6)", NULL, NULL, NULL) == SQLITE_OK);
    CHECK(sqlite3_wal_checkpoint_v2(odb, "main", SQLITE_CHECKPOINT_TRUNCATE, &log, &ckpt)
          == SQLITE_OK);
    CHECK_MSG(log == 0 && ckpt == 0, "log %d checkpointed %d", log, ckpt);
    sqlite3_finalize(left);

    /* the catalog migrated by a newer cairn meanwhile: refused */
    CHECK(sqlite3_exec(odb, "PRAGMA user_version = 99", NULL, NULL, NULL) == SQLITE_OK);
    cc_kb_close(other);
    other = NULL;
    CHECK(cc_kb_relock(w) == CC_VERSION);
    CHECK_MSG(strstr(cc_errmsg(), "schema 99") != NULL, "%s", cc_errmsg());
    CHECK(!cc_kb_writable(w));
    /* the lock was given back: another writer can take it */
    CHECK(cc_kb_open(dir, CC_KB_WRITE, &other) == CC_VERSION);

    /* back to this version, and cairn.json broken meanwhile: refused with
     * the file's message, the settings read before kept */
    {
        sqlite3 *raw = NULL;
        char sql[64];
        snprintf(path, sizeof path, "%s/cairn.db", dir);
        snprintf(sql, sizeof sql, "PRAGMA user_version = %d", CC_SCHEMA_VERSION);
        CHECK(sqlite3_open(path, &raw) == SQLITE_OK);
        CHECK(sqlite3_exec(raw, sql, NULL, NULL, NULL) == SQLITE_OK);
        sqlite3_close(raw);
    }
    snprintf(path, sizeof path, "%s/cairn.json", dir);
    CHECK((f = fopen(path, "w")) != NULL);
    if (f) { fputs("{\"chunk\": ", f); fclose(f); }
    CHECK(cc_kb_relock(w) == CC_INVALID);
    CHECK_MSG(strstr(cc_errmsg(), "not a JSON object") != NULL, "%s", cc_errmsg());
    CHECK(cc_kb_setting_i64(w, "chunk.target_tokens", 300, &v) == CC_OK && v == 123);
    /* repaired: relocked, the new settings read */
    CHECK((f = fopen(path, "w")) != NULL);
    if (f) { fputs("{\"chunk\": {\"target_tokens\": 77}}\n", f); fclose(f); }
    CHECK(cc_kb_relock(w) == CC_OK);
    CHECK(cc_kb_setting_i64(w, "chunk.target_tokens", 300, &v) == CC_OK && v == 77);
    CHECK(count_rows(wdb) == 5);
    cc_kb_close(w);

    {
        char cmd[700];
        snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
        CHECK(system(cmd) == 0);
    }
    return check_done("test_kb_relock");
}
