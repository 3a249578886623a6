/* check_sql.h — for tests that read a KB's catalog with SQLite directly. */
#ifndef CAIRN_CHECK_SQL_H
#define CAIRN_CHECK_SQL_H
#include <sqlite3.h>

/* The first column of the first row of sql on db as an integer; -1 when
 * there is no row, -2 when the statement does not prepare. */
static inline long long check_count_rows(sqlite3 *db, const char *sql)
{
    sqlite3_stmt *st;
    long long n = -1;
    if (sqlite3_prepare_v2(db, sql, -1, &st, NULL) != SQLITE_OK) return -2;
    if (sqlite3_step(st) == SQLITE_ROW) n = sqlite3_column_int64(st, 0);
    sqlite3_finalize(st);
    return n;
}

#endif
