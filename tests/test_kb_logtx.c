/* test_kb_logtx.c — log transactions (cc_kb_begin_log) need no writer
 * lock: a CC_KB_LOG handle opens and appends a row while another handle
 * holds the writer lock, the writer's next transaction sees it, and the
 * writer's own transaction still goes on after; a log transaction while
 * the writer's transaction is open waits SQLite's busy timeout and fails
 * with CC_BUSY, writing nothing; a catalog migrated since the handle was
 * opened gives CC_VERSION; a writer handle that gave its lock up
 * (cc_kb_unlock) appends too. */
#include "core.h"
#include "check.h"

#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static int count_audit(cc_kb *kb)
{
    sqlite3_stmt *st;
    int n = -1;
    if (sqlite3_prepare_v2(cc_kb_db(kb), "SELECT count(*) FROM audit", -1, &st, NULL) != SQLITE_OK) return -1;
    if (sqlite3_step(st) == SQLITE_ROW) n = sqlite3_column_int(st, 0);
    sqlite3_finalize(st);
    return n;
}

static cc_status append(cc_kb *kb, const char *action)
{
    char sql[200];
    cc_status s = cc_kb_begin_log(kb);
    if (s) return s;
    snprintf(sql, sizeof sql, "INSERT INTO audit(at, actor, action) VALUES ('now', 'test', '%s')", action);
    if ((s = cc_kb_exec(kb, sql)) || (s = cc_kb_commit(kb))) cc_kb_rollback(kb);
    return s;
}

int main(void)
{
    const char *tmp = getenv("CAIRN_TMP") ? getenv("CAIRN_TMP") : "/tmp";
    char dir[512], sql[100];
    cc_kb *w = NULL, *l = NULL;
    double t0;

    snprintf(dir, sizeof dir, "%s/test_kb_logtx_%d", tmp, (int)getpid());
    CHECK(cc_kb_create(dir) == CC_OK);
    CHECK(cc_kb_open(dir, CC_KB_WRITE, &w) == CC_OK && w);
    /* the writer lock is held: a log handle opens anyway and appends */
    CHECK(cc_kb_open(dir, CC_KB_READ | CC_KB_LOG, &l) == CC_OK && l);
    if (!w || !l) return check_done("test_kb_logtx");
    CHECK(!cc_kb_writable(l));
    CHECK_MSG(append(l, "one") == CC_OK, "%s", cc_kb_errmsg(l));
    CHECK(count_audit(w) == 1);
    /* the writer's transaction goes on after it */
    CHECK(cc_kb_begin(w) == CC_OK);
    CHECK(cc_kb_exec(w, "INSERT INTO audit(at, actor, action) VALUES ('now', 'test', 'writer')") == CC_OK);
    /* ... and while it is open, a log transaction waits out the busy
     * timeout and fails, writing nothing */
    t0 = cc_now_ms();
    CHECK(append(l, "blocked") == CC_BUSY);
    CHECK_MSG(cc_now_ms() - t0 >= 3000, "%.0f ms", cc_now_ms() - t0);
    CHECK(cc_kb_commit(w) == CC_OK);
    CHECK(count_audit(l) == 2);
    CHECK(append(l, "two") == CC_OK);
    CHECK(count_audit(w) == 3);

    /* migrated meanwhile (as a newer cairn would): CC_VERSION, rolled back */
    snprintf(sql, sizeof sql, "PRAGMA user_version = %d", CC_SCHEMA_VERSION + 1);
    CHECK(cc_kb_exec(w, sql) == CC_OK);
    CHECK(append(l, "three") == CC_VERSION);
    CHECK_MSG(strstr(cc_kb_errmsg(l), "migrated"), "%s", cc_kb_errmsg(l));
    snprintf(sql, sizeof sql, "PRAGMA user_version = %d", CC_SCHEMA_VERSION);
    CHECK(cc_kb_exec(w, sql) == CC_OK);
    CHECK(count_audit(w) == 3);

    /* a writer handle that gave its lock up appends through a log
     * transaction, while another process could hold the lock */
    CHECK(cc_kb_unlock(w) == CC_OK);
    CHECK(append(w, "four") == CC_OK);
    CHECK(count_audit(l) == 4);
    cc_kb_close(l);
    cc_kb_close(w);
    {
        char cmd[700];
        snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
        CHECK(system(cmd) == 0);
    }
    return check_done("test_kb_logtx");
}
