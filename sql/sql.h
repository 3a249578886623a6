/*
 * sql.h — the query language front-end: read-only SQL over the catalog, run
 * by SQLite itself on a separate read-only connection, with an authorizer
 * that refuses writes, schema changes, ATTACH, PRAGMA changes and extension
 * loading, and a time limit per statement; plus cairn's own statements
 * (SHOW, SEARCH, ASK, EXPLAIN ASK, TRACE, VERIFY TRACES, INGEST, DELETE
 * DOCUMENT, SPARQL), the table-valued functions search() and subgraph(), and
 * the virtual table triples over the graph store.
 *
 * User-facing views (stable names and columns, created in the connection's
 * temp schema; they shadow the storage tables of the same name):
 *   documents(id, uri, version, sha256, format, title, meta, bytes, chars,
 *             n_chunks, ingested_at, generation)        live documents only
 *   document_versions(... as documents ..., deleted, deleted_at)   all versions
 *   chunks(id, doc_id, uri, ordinal, section, start_char, end_char,
 *          n_tokens, sha256, text)
 *   entities(id, label, type), mentions(...), relations(...),
 *   traces(seq, id, created_at, caller, question, hash)
 *
 * Prefix: cq_.
 */
#ifndef CAIRN_SQL_H
#define CAIRN_SQL_H

#include "core.h"

typedef struct cq_session cq_session;

typedef enum cq_mode { CQ_TABLE = 0, CQ_JSON, CQ_CSV, CQ_LINE } cq_mode;

/* Opens a read-only query session on the KB directory. On failure *out is
 * NULL and cc_errmsg() says why. Same as cq_open_with(kbdir, CQ_OPEN_READ). */
cc_status   cq_open(const char *kbdir, cq_session **out);

/* CQ_OPEN_WRITE: a writer session. It takes the KB's writer lock for its
 * whole life (CC_BUSY with a message naming the other writer when held)
 * and may run INGEST and DELETE DOCUMENT. Plain SQL stays read-only. A
 * read session's ASK takes the writer lock only while it appends its
 * trace. */
enum { CQ_OPEN_READ = 0, CQ_OPEN_WRITE = 1 };
cc_status   cq_open_with(const char *kbdir, int flags, cq_session **out);
int         cq_is_writer(const cq_session *s);
void        cq_close(cq_session *s);
const char *cq_errmsg(const cq_session *s);   /* borrowed */

/* Time limit per statement in milliseconds (default 10000; 0 = none). */
void        cq_set_timeout_ms(cq_session *s, int ms);

/* Runs every statement in `text` in order, appending results formatted in
 * `mode` to out. Stops at the first error: CC_INVALID for a statement the
 * authorizer refuses or that does not parse (message has the line and
 * column), CC_INTERRUPTED for the time limit. *n_statements gets the count
 * that ran successfully (may be NULL). */
cc_status   cq_exec(cq_session *s, const char *text, cq_mode mode, cc_buf *out,
                    int *n_statements);

/* Stops the statement running in cq_exec (it fails with CC_INTERRUPTED).
 * Safe to call from a signal handler or another thread. */
void        cq_interrupt(cq_session *s);

/* Table mode fitted to a terminal `columns` wide: columns are narrowed and
 * long values wrapped over several lines. 0 (default): no fitting, values
 * over 60 characters are cut with "...". */
void        cq_set_width(cq_session *s, int columns);

/* 1 when text holds at least one statement and ends with ';' outside any
 * string, quoted identifier or comment (the shell reads on until then). */
int         cq_is_complete(const char *text);

/* Words for completion: cairn's and SQL's keywords, the views and
 * table-valued functions, and their columns; sorted, distinct. *out is
 * malloc'ed, each word too; free with cq_words_free. */
cc_status   cq_words(cq_session *s, char ***out, size_t *n);
void        cq_words_free(char **w, size_t n);

#endif
