/*
 * sql.h — the query language front-end. Today: read-only SQL over the
 * catalog, run by SQLite itself on a separate read-only connection, with an
 * authorizer that refuses writes, schema changes, ATTACH, PRAGMA changes and
 * extension loading, and a time limit per statement.
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
 * NULL and cc_errmsg() says why. */
cc_status   cq_open(const char *kbdir, cq_session **out);
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

#endif
