/* ingest.c — documents into the system of record: parse, chunk, store
 * (documents, chunks, FTS5 rows, change log), one transaction per input.
 *
 * Full-text rows once per transaction (ftsstage): an input's chunks go
 * into `chunks`, not yet into `chunks_fts`; the transaction's first chunk
 * id is noted as a step before its commit (cc_kb_precommit_set), which
 * indexes every chunk from that id on (fts_flush).  So in a batch (inputs
 * as savepoints of the caller's transaction) FTS5 writes one segment per
 * batch instead of one per input: it flushes its pending rows at every
 * SAVEPOINT and RELEASE of a transaction that wrote to it.
 * Why the id range is exact: chunk ids are AUTOINCREMENT, so every chunk
 * committed before the transaction (and so in chunks_fts) has a smaller
 * id, and every chunk made in it (ROLLBACK TO an input's savepoint rolls
 * the sequence back too) an id at least as large; a failed input's chunks
 * are rolled back from `chunks`, and a document removed in the same
 * transaction (replaced, or a JSON input's vanished records) takes its
 * chunks with it, so neither is indexed.  Removal therefore issues FTS5's
 * external-content 'delete' only for chunks below that id (issuing it for
 * a row not in the index corrupts it).
 * The graph hook stages entity names the same way (graph/derived.c,
 * temp.names_stage); a removal that deletes an entity's entity_names row
 * deletes its staged row too. */
#define _GNU_SOURCE
#include "retrieval.h"

#include <errno.h>
#include <fcntl.h>
#include <sqlite3.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

/* ---------------------------------------------------------------- statements */

/* In three groups, each fetched from the KB handle's kept statements at
 * its first use in an input: adding, removing a document, a JSON input's
 * records. */
enum {
    ST_FIND_LIVE,     /* live document by uri */
    ST_NEXT_VERSION,  /* of a uri not live (new, or deleted) */
    ST_DOC_INSERT,
    ST_DOC_FINISH,    /* set generation + n_chunks */
    ST_CHUNK_INSERT,
    ST_CHANGE_INSERT,
    ST_GONE_CLEAR,    /* removing: */
    ST_CHUNK_RANGE,
    ST_GONE_ENTITIES,
    ST_REL_DELETE_DOC,
    ST_MENTION_DELETE_DOC,
    ST_NAMES_DELETE_GONE,
    ST_NAMES_UNSTAGE_GONE,
    ST_ALIAS_DELETE_GONE,
    ST_ENTITY_DELETE_GONE,
    ST_FTS_DELETE_DOC,
    ST_CHUNK_DELETE_DOC,
    ST_DOC_MARK_DELETED,
    ST_SEEN_CLEAR,    /* a JSON input's records: */
    ST_SEEN_INSERT,
    ST_UNSEEN,        /* records of a JSON input not in this version of it */
    ST_COUNT
};
enum { G_ADD, G_REMOVE, G_RECORDS };

static const char *const sql_text[ST_COUNT] = {
    [ST_FIND_LIVE] = "SELECT id, sha256, version FROM documents WHERE uri = ?1 AND deleted = 0",
    [ST_DOC_INSERT] =
        "INSERT INTO documents(uri, version, sha256, format, title, meta, bytes, chars,"
        " n_chunks, ingested_at, generation) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, 0, ?9, 0)",
    [ST_DOC_FINISH] = "UPDATE documents SET n_chunks = ?2, generation = ?3 WHERE id = ?1",
    [ST_CHUNK_INSERT] =
        "INSERT INTO chunks(doc_id, ordinal, section, start_char, end_char, start_byte,"
        " end_byte, n_tokens, sha256, text) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)",
    /* ?2: the transaction's first chunk id not yet indexed (fts_flush) */
    [ST_FTS_DELETE_DOC] =
        "INSERT INTO chunks_fts(chunks_fts, rowid, text, section)"
        " SELECT 'delete', id, text, section FROM chunks WHERE doc_id = ?1 AND id < ?2",
    [ST_CHUNK_DELETE_DOC] = "DELETE FROM chunks WHERE doc_id = ?1",
    /* graph rows of the document's chunks (schemas/catalog.sql) */
    [ST_GONE_ENTITIES] =
        "INSERT OR IGNORE INTO temp.ingest_gone SELECT entity_id FROM mentions"
        " WHERE chunk_id IN (SELECT id FROM chunks WHERE doc_id = ?1)",
    [ST_REL_DELETE_DOC] =
        "DELETE FROM relations WHERE chunk_id IN (SELECT id FROM chunks WHERE doc_id = ?1)",
    [ST_MENTION_DELETE_DOC] =
        "DELETE FROM mentions WHERE chunk_id IN (SELECT id FROM chunks WHERE doc_id = ?1)",
    [ST_NAMES_DELETE_GONE] =
        "DELETE FROM entity_names WHERE rowid IN (SELECT id FROM temp.ingest_gone g WHERE"
        " NOT EXISTS (SELECT 1 FROM mentions m WHERE m.entity_id = g.id))",
    /* and their names the graph hook changed in this transaction (not yet
     * in entity_names: CR_NAMES_STAGE_DDL) */
    [ST_NAMES_UNSTAGE_GONE] =
        "DELETE FROM temp.names_stage WHERE id IN (SELECT id FROM temp.ingest_gone g WHERE"
        " NOT EXISTS (SELECT 1 FROM mentions m WHERE m.entity_id = g.id))",
    [ST_ALIAS_DELETE_GONE] =
        "DELETE FROM aliases WHERE entity_id IN (SELECT id FROM temp.ingest_gone g WHERE"
        " NOT EXISTS (SELECT 1 FROM mentions m WHERE m.entity_id = g.id))",
    [ST_ENTITY_DELETE_GONE] =
        "DELETE FROM entities WHERE id IN (SELECT id FROM temp.ingest_gone g WHERE"
        " NOT EXISTS (SELECT 1 FROM mentions m WHERE m.entity_id = g.id)"
        " AND NOT EXISTS (SELECT 1 FROM entities e WHERE e.merged_into = g.id))",
    [ST_CHUNK_RANGE] =
        "SELECT coalesce(min(id), 1), coalesce(max(id), 0) FROM chunks WHERE doc_id = ?1",
    [ST_DOC_MARK_DELETED] =
        "UPDATE documents SET deleted = 1, deleted_at = ?2 WHERE id = ?1",
    [ST_CHANGE_INSERT] =
        "INSERT INTO changes(op, doc_id, chunk_lo, chunk_hi, at) VALUES (?1, ?2, ?3, ?4, ?5)",
    [ST_SEEN_INSERT] = "INSERT OR IGNORE INTO temp.ingest_seen(uri) VALUES (?1)",
    [ST_SEEN_CLEAR] = "DELETE FROM temp.ingest_seen",
    [ST_GONE_CLEAR] = "DELETE FROM temp.ingest_gone",
    [ST_NEXT_VERSION] = "SELECT coalesce(max(version), 0) + 1 FROM documents WHERE uri = ?1",
    [ST_UNSEEN] = "SELECT id FROM documents WHERE deleted = 0 AND uri > ?1 AND uri < ?2"
                  " AND uri NOT IN (SELECT uri FROM temp.ingest_seen)",
};

/* The temp tables the removing and the records statements use.  Made
 * inside the input's transaction, so a failed first input of a batch rolls
 * them back with it: they are made (if not there) at the group's first use
 * in every input, by kept statements (a no-op, ~1 k instructions, while
 * they are there). */
static const char sql_names_stage[] = CR_NAMES_STAGE_DDL;
static const struct { int lo, hi; const char *temp[2]; } groups[] = {
    [G_ADD] = {ST_FIND_LIVE, ST_CHANGE_INSERT, {NULL, NULL}},
    [G_REMOVE] = {ST_GONE_CLEAR, ST_DOC_MARK_DELETED,
                  {"CREATE TEMP TABLE IF NOT EXISTS ingest_gone(id INTEGER PRIMARY KEY)",
                   sql_names_stage}},
    [G_RECORDS] = {ST_SEEN_CLEAR, ST_UNSEEN,
                   {"CREATE TEMP TABLE IF NOT EXISTS ingest_seen(uri TEXT PRIMARY KEY)", NULL}},
};
/* the step before the commit: the transaction's chunks into chunks_fts,
 * a row at a time (one INSERT ... SELECT is a multi-row write: it opens a
 * statement savepoint, at whose start and end FTS5 flushes its pending
 * rows as segments of their own) */
static const char sql_fts_new[] =
    "SELECT id, text, section FROM chunks WHERE id >= ?1";
static const char sql_fts_insert[] =
    "INSERT INTO chunks_fts(rowid, text, section) VALUES (?1, ?2, ?3)";
static const char sql_savepoint[] = "SAVEPOINT ingest_input";
static const char sql_release[] = "RELEASE ingest_input";

typedef struct ingest_ctx {
    cc_kb                *kb;
    const cr_ingest_opts *opts;
    cr_format             fmt;
    int                   records;   /* JSON: its records' uris noted in ingest_seen */
    unsigned              fetched;   /* groups in stmt[] (1 << G_...) this input */
    int                   staged;    /* fts_flush set for this transaction */
    cr_ingest_stats       st;     /* this input only; added on commit */
    sqlite3_stmt         *stmt[ST_COUNT];   /* borrowed: kept with the KB handle */
    char                  now[32];
} ingest_ctx;

static cc_status run(ingest_ctx *c, int which, const char *what);
static cc_status step_kept(cc_kb *kb, const char *sql);

/* A group of statements into c->stmt: prepared at the handle's first use
 * and kept with it (cc_kb_stmt; prepared again for every input file they
 * were half of ingesting a small file). */
static cc_status fetch(ingest_ctx *c, int g)
{
    cc_status s;
    int i;
    if (c->fetched & (1u << g)) return CC_OK;
    for (i = 0; i < 2 && groups[g].temp[i]; i++)
        if ((s = step_kept(c->kb, groups[g].temp[i]))) return s;
    for (i = groups[g].lo; i <= groups[g].hi; i++)
        if ((s = cc_kb_stmt(c->kb, sql_text[i], &c->stmt[i]))) return s;
    c->fetched |= 1u << g;
    return CC_OK;
}

/* The adding statements; for a JSON input the records', ingest_seen emptied. */
static cc_status prepare_all(ingest_ctx *c)
{
    cc_status s;
    if ((s = fetch(c, G_ADD))) return s;
    if (!c->records) return CC_OK;
    if ((s = fetch(c, G_RECORDS))) return s;
    return run(c, ST_SEEN_CLEAR, "preparing ingestion");
}

/* Runs a kept statement that returns no row (a savepoint's). */
static cc_status step_kept(cc_kb *kb, const char *sql)
{
    sqlite3_stmt *t;
    cc_status s;
    if ((s = cc_kb_stmt(kb, sql, &t))) return s;
    s = sqlite3_step(t) == SQLITE_DONE ? CC_OK : cc_kb_sqlerr(kb, "running SQL");
    sqlite3_reset(t);
    return s;
}

/* At the end of an input, failed or not: no statement of the handle stays
 * mid-step (a read kept open would hold back checkpoints) or bound to
 * this input's memory. */
static void reset_all(ingest_ctx *c)
{
    cc_kb_stmt_reset_all(c->kb);
}

/* Steps a statement expected to finish with no row; resets it. */
static cc_status run(ingest_ctx *c, int which, const char *what)
{
    sqlite3_stmt *s = c->stmt[which];
    int rc = sqlite3_step(s);
    cc_status st = CC_OK;
    if (rc != SQLITE_DONE && rc != SQLITE_ROW) st = cc_kb_sqlerr(c->kb, what);
    sqlite3_reset(s);
    sqlite3_clear_bindings(s);
    return st;
}

/* ---------------------------------------------------------------- full-text rows */

/* The step before the commit: the chunks from `lo` on (this transaction's
 * that survived it) into chunks_fts.  A row at a time: the INSERT ...
 * SELECT form cost the server's writer 3% more a one-document job (its
 * statement savepoint); in a batch the two are within 1%. */
static cc_status fts_flush(cc_kb *kb, int64_t lo)
{
    sqlite3_stmt *q, *ins;
    cc_status st;
    int rc;
    if ((st = cc_kb_stmt(kb, sql_fts_new, &q)) || (st = cc_kb_stmt(kb, sql_fts_insert, &ins)))
        return st;
    sqlite3_bind_int64(q, 1, lo);
    while ((rc = sqlite3_step(q)) == SQLITE_ROW) {
        sqlite3_bind_int64(ins, 1, sqlite3_column_int64(q, 0));
        sqlite3_bind_value(ins, 2, sqlite3_column_value(q, 1));
        sqlite3_bind_value(ins, 3, sqlite3_column_value(q, 2));
        rc = sqlite3_step(ins);
        sqlite3_reset(ins);
        if (rc != SQLITE_DONE) break;
    }
    st = rc == SQLITE_DONE ? CC_OK : cc_kb_sqlerr(kb, "indexing the new chunks");
    sqlite3_reset(q);
    sqlite3_clear_bindings(ins);
    return st;
}

/* Chunks below this id are in chunks_fts; those from it on are not yet. */
static int64_t fts_indexed_below(cc_kb *kb)
{
    int64_t lo;
    return cc_kb_precommit_get(kb, fts_flush, &lo) ? lo : INT64_MAX;
}

/* Notes chunk `cid`, just made, for fts_flush (the first of the
 * transaction sets it; a rolled-back transaction forgets it). */
static void fts_stage(ingest_ctx *c, int64_t cid)
{
    int64_t lo;
    if (c->staged) return;
    if (!cc_kb_precommit_get(c->kb, fts_flush, &lo)) cc_kb_precommit_set(c->kb, fts_flush, cid);
    c->staged = 1;
}

/* ---------------------------------------------------------------- remove */

static cc_status log_change(ingest_ctx *c, const char *op, int64_t doc_id, int64_t lo,
                            int64_t hi, int64_t *gen)
{
    sqlite3_stmt *s = c->stmt[ST_CHANGE_INSERT];
    cc_status st;
    sqlite3_bind_text(s, 1, op, -1, SQLITE_STATIC);
    sqlite3_bind_int64(s, 2, doc_id);
    sqlite3_bind_int64(s, 3, lo);
    sqlite3_bind_int64(s, 4, hi);
    sqlite3_bind_text(s, 5, c->now, -1, SQLITE_STATIC);
    if ((st = run(c, ST_CHANGE_INSERT, "logging a change"))) return st;
    if (gen) *gen = sqlite3_last_insert_rowid(cc_kb_db(c->kb));
    return CC_OK;
}

static cc_status remove_doc(ingest_ctx *c, int64_t doc_id)
{
    sqlite3_stmt *s;
    int64_t lo = 1, hi = 0;
    cc_status st;
    if ((st = fetch(c, G_REMOVE))) return st;
    s = c->stmt[ST_CHUNK_RANGE];
    sqlite3_bind_int64(s, 1, doc_id);
    if (sqlite3_step(s) == SQLITE_ROW) {
        lo = sqlite3_column_int64(s, 0);
        hi = sqlite3_column_int64(s, 1);
    }
    sqlite3_reset(s);
    if ((st = run(c, ST_GONE_CLEAR, "removing graph rows"))) return st;
    sqlite3_bind_int64(c->stmt[ST_GONE_ENTITIES], 1, doc_id);
    if ((st = run(c, ST_GONE_ENTITIES, "removing graph rows"))) return st;
    sqlite3_bind_int64(c->stmt[ST_REL_DELETE_DOC], 1, doc_id);
    if ((st = run(c, ST_REL_DELETE_DOC, "removing relations"))) return st;
    sqlite3_bind_int64(c->stmt[ST_MENTION_DELETE_DOC], 1, doc_id);
    if ((st = run(c, ST_MENTION_DELETE_DOC, "removing mentions"))) return st;
    if ((st = run(c, ST_NAMES_DELETE_GONE, "removing entity names"))) return st;
    if ((st = run(c, ST_NAMES_UNSTAGE_GONE, "removing entity names"))) return st;
    if ((st = run(c, ST_ALIAS_DELETE_GONE, "removing aliases"))) return st;
    if ((st = run(c, ST_ENTITY_DELETE_GONE, "removing entities"))) return st;
    sqlite3_bind_int64(c->stmt[ST_FTS_DELETE_DOC], 1, doc_id);
    sqlite3_bind_int64(c->stmt[ST_FTS_DELETE_DOC], 2, fts_indexed_below(c->kb));
    if ((st = run(c, ST_FTS_DELETE_DOC, "removing search rows"))) return st;
    sqlite3_bind_int64(c->stmt[ST_CHUNK_DELETE_DOC], 1, doc_id);
    if ((st = run(c, ST_CHUNK_DELETE_DOC, "removing chunks"))) return st;
    sqlite3_bind_int64(c->stmt[ST_DOC_MARK_DELETED], 1, doc_id);
    sqlite3_bind_text(c->stmt[ST_DOC_MARK_DELETED], 2, c->now, -1, SQLITE_STATIC);
    if ((st = run(c, ST_DOC_MARK_DELETED, "marking a document deleted"))) return st;
    return log_change(c, "remove", doc_id, lo, hi, NULL);
}

/* ---------------------------------------------------------------- add */

static void content_hash(const cr_doc *d, char hex[65])
{
    cc_sha256 h;
    uint8_t dig[32];
    static const char zero = 0;
    cc_sha256_init(&h);
    if (d->title) cc_sha256_update(&h, d->title, strlen(d->title));
    cc_sha256_update(&h, &zero, 1);
    if (d->meta_json) cc_sha256_update(&h, d->meta_json, strlen(d->meta_json));
    cc_sha256_update(&h, &zero, 1);
    cc_sha256_update(&h, d->text, d->len);
    cc_sha256_final(&h, dig);
    cc_hex(dig, 32, hex);
}

static cc_status on_doc(void *ud, const cr_doc *d)
{
    ingest_ctx *c = ud;
    sqlite3_stmt *s;
    sqlite3 *db = cc_kb_db(c->kb);
    char hash[65];
    int64_t old_id = 0, version = 1, doc_id, gen, lo = 1, hi = 0;
    cr_chunk *ch = NULL;
    size_t nch = 0, i;
    cc_status st;

    content_hash(d, hash);
    if (c->records) {
        sqlite3_bind_text(c->stmt[ST_SEEN_INSERT], 1, d->uri, -1, SQLITE_STATIC);
        if ((st = run(c, ST_SEEN_INSERT, "ingesting"))) return st;
    }

    s = c->stmt[ST_FIND_LIVE];
    sqlite3_bind_text(s, 1, d->uri, -1, SQLITE_STATIC);
    if (sqlite3_step(s) == SQLITE_ROW) {
        old_id = sqlite3_column_int64(s, 0);
        version = sqlite3_column_int64(s, 2) + 1;
        if (!strcmp((const char *)sqlite3_column_text(s, 1), hash)) {
            sqlite3_reset(s);
            c->st.docs_unchanged++;
            return CC_OK;
        }
    }
    sqlite3_reset(s);
    sqlite3_clear_bindings(s);
    if (!old_id) {   /* a deleted uri comes back with the next version number */
        sqlite3_stmt *v = c->stmt[ST_NEXT_VERSION];
        sqlite3_bind_text(v, 1, d->uri, -1, SQLITE_STATIC);
        if (sqlite3_step(v) == SQLITE_ROW) version = sqlite3_column_int64(v, 0);
        sqlite3_reset(v);
        sqlite3_clear_bindings(v);
    }

    if ((st = cr_chunk_text(d, &c->opts->chunk, &ch, &nch)))
        return cc_kb_seterr(c->kb, st, "%s: chunking failed: %s", d->uri, cc_errmsg());

    if (old_id && (st = remove_doc(c, old_id))) goto out;

    s = c->stmt[ST_DOC_INSERT];
    sqlite3_bind_text(s, 1, d->uri, -1, SQLITE_STATIC);
    sqlite3_bind_int64(s, 2, version);
    sqlite3_bind_text(s, 3, hash, -1, SQLITE_STATIC);
    sqlite3_bind_text(s, 4, cr_format_name(c->fmt), -1, SQLITE_STATIC);
    if (d->title) sqlite3_bind_text(s, 5, d->title, -1, SQLITE_STATIC);
    if (d->meta_json) sqlite3_bind_text(s, 6, d->meta_json, -1, SQLITE_STATIC);
    sqlite3_bind_int64(s, 7, (sqlite3_int64)d->len);
    sqlite3_bind_int64(s, 8, (sqlite3_int64)cc_utf8_count(d->text, d->len));
    sqlite3_bind_text(s, 9, c->now, -1, SQLITE_STATIC);
    if ((st = run(c, ST_DOC_INSERT, "adding a document"))) goto out;
    doc_id = sqlite3_last_insert_rowid(db);

    for (i = 0; i < nch; i++) {
        const cr_chunk *k = &ch[i];
        const char *text = d->text + k->start_byte;
        size_t len = k->end_byte - k->start_byte;
        const char *section = k->section < d->n_sections ? d->sections[k->section].title : NULL;
        char chash[65];
        int64_t cid;
        cc_sha256_hex(text, len, chash);
        s = c->stmt[ST_CHUNK_INSERT];
        sqlite3_bind_int64(s, 1, doc_id);
        sqlite3_bind_int64(s, 2, (sqlite3_int64)i);
        if (section) sqlite3_bind_text(s, 3, section, -1, SQLITE_STATIC);
        sqlite3_bind_int64(s, 4, (sqlite3_int64)k->start_char);
        sqlite3_bind_int64(s, 5, (sqlite3_int64)k->end_char);
        sqlite3_bind_int64(s, 6, (sqlite3_int64)k->start_byte);
        sqlite3_bind_int64(s, 7, (sqlite3_int64)k->end_byte);
        sqlite3_bind_int(s, 8, k->n_tokens);
        sqlite3_bind_text(s, 9, chash, -1, SQLITE_STATIC);
        sqlite3_bind_text(s, 10, text, (int)len, SQLITE_STATIC);
        if ((st = run(c, ST_CHUNK_INSERT, "adding a chunk"))) goto out;
        cid = sqlite3_last_insert_rowid(db);
        if (i == 0) lo = cid;
        hi = cid;
        fts_stage(c, cid);
        if (c->opts->on_chunk &&
            (st = c->opts->on_chunk(c->opts->on_chunk_ud, c->kb, doc_id, cid, text, len,
                                    (int64_t)k->start_byte, (int64_t)k->start_char)))
            goto out;
    }
    if ((st = log_change(c, "add", doc_id, lo, hi, &gen))) goto out;
    s = c->stmt[ST_DOC_FINISH];
    sqlite3_bind_int64(s, 1, doc_id);
    sqlite3_bind_int64(s, 2, (sqlite3_int64)nch);
    sqlite3_bind_int64(s, 3, gen);
    if ((st = run(c, ST_DOC_FINISH, "adding a document"))) goto out;
    if (old_id) c->st.docs_replaced++; else c->st.docs_added++;
    c->st.chunks_added += (int64_t)nch;
out:
    free(ch);
    return st;
}

/* JSON inputs: records of an earlier version of this file that are gone
 * now are removed. */
static cc_status remove_unseen_records(ingest_ctx *c, const char *uri)
{
    sqlite3_stmt *q = c->stmt[ST_UNSEEN];
    cc_buf lo = CC_BUF_INIT(0), hi = CC_BUF_INIT(0);
    cc_status st = CC_OK;
    int64_t *ids = NULL;
    size_t n = 0, cap = 0, i;
    if (cc_buf_printf(&lo, "%s#", uri) || cc_buf_printf(&hi, "%s$", uri))
        return cc_kb_seterr(c->kb, CC_NOMEM, "out of memory");
    sqlite3_bind_text(q, 1, lo.data, -1, SQLITE_STATIC);
    sqlite3_bind_text(q, 2, hi.data, -1, SQLITE_STATIC);
    while (sqlite3_step(q) == SQLITE_ROW) {
        if (n == cap) {
            int64_t *p = realloc(ids, (cap = cap ? cap * 2 : 16) * sizeof *ids);
            if (!p) { st = cc_kb_seterr(c->kb, CC_NOMEM, "out of memory"); break; }
            ids = p;
        }
        ids[n++] = sqlite3_column_int64(q, 0);
    }
    sqlite3_reset(q);
    sqlite3_clear_bindings(q);
    for (i = 0; !st && i < n; i++) st = remove_doc(c, ids[i]);
    free(ids);
    cc_buf_free(&lo);
    cc_buf_free(&hi);
    return st;
}

/* ---------------------------------------------------------------- public */

/* cr_ingest_in_batch: set while an input's documents are parsed and
 * stored (the chunk hook runs then) */
static _Thread_local int in_batch;

int cr_ingest_in_batch(void)
{
    return in_batch;
}

cc_status cr_ingest_opts_from_kb(cc_kb *kb, cr_ingest_opts *o)
{
    int64_t target, overlap;
    const char *mode;
    cc_status s;
    memset(o, 0, sizeof *o);
    if ((s = cc_kb_setting_i64(kb, "chunk.target_tokens", 300, &target)) ||
        (s = cc_kb_setting_i64(kb, "chunk.overlap_tokens", 40, &overlap)) ||
        (s = cc_kb_setting_str(kb, "ingest.invalid_utf8", "reject", &mode)) ||
        (s = cc_kb_setting_str(kb, "ingest.json_text_field", "text", &o->parse.json_text_field)) ||
        (s = cc_kb_setting_str(kb, "ingest.json_id_field", "id", &o->parse.json_id_field)) ||
        (s = cc_kb_setting_str(kb, "ingest.json_title_field", "title", &o->parse.json_title_field)))
        return s;
    if (target < 16 || target > 8192)
        return cc_kb_seterr(kb, CC_INVALID, "chunk.target_tokens must be in 16..8192");
    if (overlap < 0 || overlap >= target)
        return cc_kb_seterr(kb, CC_INVALID, "chunk.overlap_tokens must be >= 0 and < target_tokens");
    if (strcmp(mode, "reject") && strcmp(mode, "repair"))
        return cc_kb_seterr(kb, CC_INVALID, "ingest.invalid_utf8 must be \"reject\" or \"repair\"");
    o->parse.repair_utf8 = !strcmp(mode, "repair");
    o->chunk.target_tokens = (int)target;
    o->chunk.overlap_tokens = (int)overlap;
    return CC_OK;
}

cc_status cr_ingest_data(cc_kb *kb, const char *uri, cr_format fmt, const char *data,
                         size_t n, const cr_ingest_opts *opts, cr_ingest_stats *stats)
{
    ingest_ctx c;
    cc_buf err = CC_BUF_INIT(4096);
    cc_status s;
    int nested;

    if (!cc_kb_writable(kb))
        return cc_kb_seterr(kb, CC_INVALID, "knowledge base opened read-only");
    memset(&c, 0, sizeof c);
    c.kb = kb;
    c.opts = opts;
    c.fmt = fmt != CR_FMT_UNKNOWN ? fmt : cr_format_from_path(uri);
    if (c.fmt == CR_FMT_UNKNOWN)
        return cc_kb_seterr(kb, CC_UNSUPPORTED, "%s: unknown document type (supported: "
                            ".txt .md .html .htm .json .jsonl; or give --format)", uri);
    c.records = c.fmt == CR_FMT_JSON || c.fmt == CR_FMT_JSONL;
    cc_utc_iso8601(c.now);
    /* inside a caller's transaction (a batch of inputs) this input is a
     * savepoint: it still goes in whole or not at all */
    nested = !sqlite3_get_autocommit(cc_kb_db(kb));
    if (nested ? (s = step_kept(kb, sql_savepoint)) : (s = cc_kb_begin(kb)))
        return s;
    if ((s = prepare_all(&c))) goto fail;
    in_batch = nested;
    s = cr_parse(uri, c.fmt, data, n, &opts->parse, on_doc, &c, &err);
    in_batch = 0;
    if (s) {
        /* a failure inside on_doc already set the KB message */
        if (err.len) cc_kb_seterr(kb, s, "%s: %s", uri, err.data);
        goto fail;
    }
    if (c.records && (s = remove_unseen_records(&c, uri)))
        goto fail;
    reset_all(&c);
    if ((s = nested ? step_kept(kb, sql_release) : cc_kb_commit(kb))) {
        cc_buf_free(&err);
        return s;
    }
    c.st.bytes = (int64_t)n;
    stats->docs_added += c.st.docs_added;
    stats->docs_replaced += c.st.docs_replaced;
    stats->docs_unchanged += c.st.docs_unchanged;
    stats->chunks_added += c.st.chunks_added;
    stats->bytes += c.st.bytes;
    cc_buf_free(&err);
    return CC_OK;
fail:
    reset_all(&c);
    if (nested)
        sqlite3_exec(cc_kb_db(kb), "ROLLBACK TO ingest_input; RELEASE ingest_input",
                     NULL, NULL, NULL);
    else
        cc_kb_rollback(kb);
    cc_buf_free(&err);
    return s;
}

cc_status cr_ingest_batch_seconds(cc_kb *kb, double *secs)
{
    if (cc_kb_setting_f64(kb, "ingest.batch_seconds", 1, secs) != CC_OK || !(*secs >= 0) ||
        *secs > 3600)
        return cc_kb_seterr(kb, CC_INVALID, "setting ingest.batch_seconds must be 0..3600 seconds "
                            "(how long a batch of files may hold the KB's write lock)");
    return CC_OK;
}

cc_status cr_ingest_file(cc_kb *kb, const char *path, const cr_ingest_opts *opts,
                         cr_ingest_stats *stats)
{
    struct stat sb;
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    void *map = NULL;
    cc_status s;
    if (fd < 0) return cc_kb_seterr(kb, CC_IO, "%s: cannot open: %s", path, strerror(errno));
    if (fstat(fd, &sb) != 0) {
        s = cc_kb_seterr(kb, CC_IO, "%s: cannot stat: %s", path, strerror(errno));
        close(fd);
        return s;
    }
    if (!S_ISREG(sb.st_mode)) {
        close(fd);
        return cc_kb_seterr(kb, CC_INVALID, "%s: not a regular file", path);
    }
    if (sb.st_size > 0) {
        map = mmap(NULL, (size_t)sb.st_size, PROT_READ, MAP_PRIVATE, fd, 0);
        if (map == MAP_FAILED) {
            s = cc_kb_seterr(kb, CC_IO, "%s: cannot map: %s", path, strerror(errno));
            close(fd);
            return s;
        }
        madvise(map, (size_t)sb.st_size, MADV_SEQUENTIAL);
    }
    close(fd);
    s = cr_ingest_data(kb, path, opts->format, map ? map : "", (size_t)sb.st_size, opts, stats);
    if (map) munmap(map, (size_t)sb.st_size);
    return s;
}

/* A document's own uri, its records' ("uri#..."), or "#id". */
static const char sql_remove_find[] =
    "SELECT id FROM documents WHERE deleted = 0 AND (uri = ?1 OR"
    " (uri > ?2 AND uri < ?3) OR ('#' || id) = ?1)";

cc_status cr_doc_remove(cc_kb *kb, const char *uri, int64_t *removed)
{
    ingest_ctx c;
    sqlite3_stmt *q = NULL;
    cc_buf lo = CC_BUF_INIT(0), hi = CC_BUF_INIT(0);
    int64_t *ids = NULL;
    size_t n = 0, cap = 0, i;
    cc_status s;

    *removed = 0;
    if (!cc_kb_writable(kb))
        return cc_kb_seterr(kb, CC_INVALID, "knowledge base opened read-only");
    memset(&c, 0, sizeof c);
    c.kb = kb;
    cc_utc_iso8601(c.now);
    if (cc_buf_printf(&lo, "%s#", uri) || cc_buf_printf(&hi, "%s$", uri))
        return cc_kb_seterr(kb, CC_NOMEM, "out of memory");
    if ((s = cc_kb_begin(kb))) goto done;
    if ((s = prepare_all(&c))) goto fail;
    if ((s = cc_kb_stmt(kb, sql_remove_find, &q))) goto fail;
    sqlite3_bind_text(q, 1, uri, -1, SQLITE_STATIC);
    sqlite3_bind_text(q, 2, lo.data, -1, SQLITE_STATIC);
    sqlite3_bind_text(q, 3, hi.data, -1, SQLITE_STATIC);
    while (sqlite3_step(q) == SQLITE_ROW) {
        if (n == cap) {
            int64_t *p = realloc(ids, (cap = cap ? cap * 2 : 16) * sizeof *ids);
            if (!p) { s = cc_kb_seterr(kb, CC_NOMEM, "out of memory"); goto fail; }
            ids = p;
        }
        ids[n++] = sqlite3_column_int64(q, 0);
    }
    sqlite3_reset(q);
    if (!n) { s = cc_kb_seterr(kb, CC_NOTFOUND, "no document %s", uri); goto fail; }
    for (i = 0; i < n; i++)
        if ((s = remove_doc(&c, ids[i]))) goto fail;
    reset_all(&c);
    s = cc_kb_commit(kb);
    if (!s) *removed = (int64_t)n;
    goto done;
fail:
    reset_all(&c);
    cc_kb_rollback(kb);
done:
    free(ids);
    cc_buf_free(&lo);
    cc_buf_free(&hi);
    return s;
}
