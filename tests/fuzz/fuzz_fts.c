/* fuzz_fts.c — libFuzzer harness: FTS5 query escaping. Whatever a user
 * types, cr_fts_query either refuses it with a message or produces an
 * expression that FTS5 accepts: it is run as a MATCH against a real
 * in-memory FTS5 table, and any SQLite error there is a bug. */
#include "retrieval.h"

#include <sqlite3.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define FUZZ_ASSERT(c) do { if (!(c)) { fprintf(stderr, "%s:%d: %s\n", __FILE__, __LINE__, #c); abort(); } } while (0)

static sqlite3 *db;
static sqlite3_stmt *q;

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc; (void)argv;
    FUZZ_ASSERT(sqlite3_open(":memory:", &db) == SQLITE_OK);
    FUZZ_ASSERT(sqlite3_exec(db,
        "CREATE VIRTUAL TABLE t USING fts5(text, section, tokenize='unicode61 remove_diacritics 2');"
        "INSERT INTO t VALUES('Norvale Systems GmbH makes the PX-9000-v2', 'intro');"
        "INSERT INTO t VALUES('caf\xc3\xa9 \"quoted\" AND OR NOT NEAR(x y) * ^', 'misc');",
        NULL, NULL, NULL) == SQLITE_OK);
    FUZZ_ASSERT(sqlite3_prepare_v2(db, "SELECT rowid FROM t WHERE t MATCH ?1 ORDER BY rank", -1,
                                   &q, NULL) == SQLITE_OK);
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *text = malloc(size + 1);
    cc_buf out = CC_BUF_INIT(1 << 22), err = CC_BUF_INIT(4096);
    FUZZ_ASSERT(text);
    memcpy(text, data, size);
    text[size] = 0;
    if (cr_fts_query(text, &out, &err) == CC_OK) {
        sqlite3_bind_text(q, 1, out.data, -1, SQLITE_STATIC);
        int rc;
        while ((rc = sqlite3_step(q)) == SQLITE_ROW) {}
        if (rc != SQLITE_DONE) {
            fprintf(stderr, "FTS5 rejected %s: %s\n", out.data, sqlite3_errmsg(db));
            abort();
        }
        sqlite3_reset(q);
        sqlite3_clear_bindings(q);
    }
    cc_buf_free(&out);
    cc_buf_free(&err);
    free(text);
    return 0;
}
