/* exec.c — read-only SQL sessions: connection setup, the authorizer, the
 * statement time limit, and result formatting (table, json, csv, line). */
#include "sql_int.h"
#include "retrieval.h"

#include <sqlite3.h>
#include <string.h>

struct cq_session {
    sqlite3 *db;
    cc_kb       *kb;          /* read handle: settings and search() */
    cr_searcher *se;          /* opened by the first search() */
    char        *settings;    /* the KB's settings as JSON */
    int      timeout_ms;
    double   deadline_ms;   /* cc_now_ms() value; 0 = none */
    char     errmsg[1024];
};

static const char views_sql[] =
    "CREATE TEMP VIEW documents AS SELECT id, uri, version, sha256, format, title, meta,"
    " bytes, chars, n_chunks, ingested_at, generation FROM main.documents WHERE deleted = 0;"
    "CREATE TEMP VIEW document_versions AS SELECT id, uri, version, sha256, format, title,"
    " meta, bytes, chars, n_chunks, ingested_at, generation, deleted, deleted_at"
    " FROM main.documents;"
    "CREATE TEMP VIEW chunks AS SELECT c.id, c.doc_id, d.uri, c.ordinal, c.section,"
    " c.start_char, c.end_char, c.n_tokens, c.sha256, c.text"
    " FROM main.chunks c JOIN main.documents d ON d.id = c.doc_id;"
    "CREATE TEMP VIEW entities AS SELECT id, label, type FROM main.entities"
    " WHERE merged_into IS NULL;"
    "CREATE TEMP VIEW mentions AS SELECT id, entity_id, chunk_id, start_char, end_char,"
    " surface, extractor, confidence FROM main.mentions;"
    "CREATE TEMP VIEW relations AS SELECT id, subject_id, predicate, object_id, chunk_id,"
    " start_char, end_char, pattern, extractor, confidence, status FROM main.relations;"
    "CREATE TEMP VIEW traces AS SELECT seq, id, created_at, caller, question, hash"
    " FROM main.traces;";

/* Functions that reach outside the KB or change the engine. */
static const char *const denied_functions[] = {
    "load_extension", "readfile", "writefile", "edit", "fts3_tokenizer", "zipfile",
    "sqlar_compress", "sqlar_uncompress",
};

/* PRAGMAs that only read. Anything else (or any with a value) is refused. */
static const char *const readonly_pragmas[] = {
    "table_info", "table_xinfo", "table_list", "index_list", "index_info",
    "index_xinfo", "foreign_key_list", "function_list", "pragma_list",
    "collation_list", "compile_options",
};

static int authorize(void *ud, int action, const char *a, const char *b, const char *db,
                     const char *trigger)
{
    size_t i;
    (void)ud; (void)db; (void)trigger;
    switch (action) {
    case SQLITE_SELECT:
    case SQLITE_READ:
    case SQLITE_RECURSIVE:
        return SQLITE_OK;
    case SQLITE_FUNCTION:
        for (i = 0; i < sizeof denied_functions / sizeof *denied_functions; i++)
            if (b && !sqlite3_stricmp(b, denied_functions[i])) return SQLITE_DENY;
        return SQLITE_OK;
    case SQLITE_PRAGMA:
        /* b is the value or argument: harmless for the read-only ones */
        for (i = 0; i < sizeof readonly_pragmas / sizeof *readonly_pragmas; i++)
            if (a && !sqlite3_stricmp(a, readonly_pragmas[i])) return SQLITE_OK;
        return SQLITE_DENY;
    case SQLITE_UPDATE:
        /* SQLite asks this while connecting an eponymous virtual table
         * (search(), json_tree()); the connection is read-only and
         * defensive, so no write to the schema can happen anyway */
        if (a && (!strcmp(a, "sqlite_master") || !strcmp(a, "sqlite_temp_master")))
            return SQLITE_OK;
        return SQLITE_DENY;
    default:
        return SQLITE_DENY;                          /* writes, DDL, ATTACH, ... */
    }
}

static int progress(void *ud)
{
    cq_session *s = ud;
    return s->deadline_ms > 0 && cc_now_ms() > s->deadline_ms;
}

cc_status cq_open(const char *kbdir, cq_session **out)
{
    cq_session *s;
    cc_buf path = CC_BUF_INIT(0);
    int rc;
    *out = NULL;
    if (cc_buf_printf(&path, "%s/cairn.db", kbdir)) return cc_seterr(CC_NOMEM, "out of memory");
    s = calloc(1, sizeof *s);
    if (!s) { cc_buf_free(&path); return cc_seterr(CC_NOMEM, "out of memory"); }
    s->timeout_ms = 10000;
    rc = sqlite3_open_v2(path.data, &s->db, SQLITE_OPEN_READONLY | SQLITE_OPEN_NOMUTEX, NULL);
    cc_buf_free(&path);
    if (rc != SQLITE_OK) {
        cc_status st = cc_seterr(CC_NOTFOUND, "%s is not a knowledge base (%s)", kbdir,
                                 s->db ? sqlite3_errmsg(s->db) : "out of memory");
        cq_close(s);
        return st;
    }
    sqlite3_db_config(s->db, SQLITE_DBCONFIG_ENABLE_LOAD_EXTENSION, 0, NULL);
    sqlite3_db_config(s->db, SQLITE_DBCONFIG_DEFENSIVE, 1, NULL);
    sqlite3_db_config(s->db, SQLITE_DBCONFIG_TRUSTED_SCHEMA, 0, NULL);
    sqlite3_limit(s->db, SQLITE_LIMIT_ATTACHED, 0);
    sqlite3_limit(s->db, SQLITE_LIMIT_SQL_LENGTH, 4 << 20);
    sqlite3_limit(s->db, SQLITE_LIMIT_LENGTH, 64 << 20);
    sqlite3_busy_timeout(s->db, 5000);
    if (sqlite3_exec(s->db, views_sql, NULL, NULL, NULL) != SQLITE_OK) {
        cc_status st = cc_seterr(CC_CORRUPT, "%s: cannot read the catalog: %s", kbdir,
                                 sqlite3_errmsg(s->db));
        cq_close(s);
        return st;
    }
    if (cc_kb_open(kbdir, CC_KB_READ, &s->kb) != CC_OK ||
        !(s->settings = cc_kb_settings_json(s->kb)) ||
        cq_search_register(s->db, s->kb, &s->se) != SQLITE_OK) {
        cc_status st = s->kb ? cc_seterr(CC_NOMEM, "out of memory") : CC_NOTFOUND;
        cq_close(s);
        return st;
    }
    sqlite3_set_authorizer(s->db, authorize, s);
    sqlite3_progress_handler(s->db, 1000, progress, s);
    *out = s;
    return CC_OK;
}

void cq_close(cq_session *s)
{
    if (!s) return;
    sqlite3_close_v2(s->db);
    cr_searcher_close(s->se);
    cc_kb_close(s->kb);
    free(s->settings);
    free(s);
}

const char *cq_errmsg(const cq_session *s) { return s->errmsg[0] ? s->errmsg : "no error"; }
void cq_set_timeout_ms(cq_session *s, int ms) { s->timeout_ms = ms < 0 ? 0 : ms; }

static cc_status seterr(cq_session *s, cc_status st, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static cc_status seterr(cq_session *s, cc_status st, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(s->errmsg, sizeof s->errmsg, fmt, ap);
    va_end(ap);
    return st;
}


/* ---------------------------------------------------------------- output */

static void put_csv(cc_buf *o, const char *v)
{
    if (!strpbrk(v, ",\"\n\r")) { cc_buf_puts(o, v); return; }
    cc_buf_putc(o, '"');
    for (; *v; v++) {
        if (*v == '"') cc_buf_putc(o, '"');
        cc_buf_putc(o, *v);
    }
    cc_buf_putc(o, '"');
}

static void put_json_value(cc_buf *o, sqlite3_stmt *st, int i)
{
    switch (sqlite3_column_type(st, i)) {
    case SQLITE_NULL: cc_buf_puts(o, "null"); break;
    case SQLITE_INTEGER: cc_buf_printf(o, "%lld", (long long)sqlite3_column_int64(st, i)); break;
    case SQLITE_FLOAT: cc_buf_printf(o, "%.17g", sqlite3_column_double(st, i)); break;
    default: {
        const char *t = (const char *)sqlite3_column_text(st, i);
        cc_buf_json_str(o, t ? t : "", (size_t)sqlite3_column_bytes(st, i));
    }
    }
}

#define CELL_MAX 60   /* table mode: longer values are cut with "..." */

/* Table mode needs column widths before printing: rows are kept as text. */
static cc_status run_table(cq_session *s, sqlite3_stmt *st, cc_buf *o, int *rc)
{
    int nc = sqlite3_column_count(st), c;
    size_t *w = calloc((size_t)nc, sizeof *w);
    char **cells = NULL;
    size_t nrows = 0, cap = 0, r;
    cc_status res = CC_OK;
    if (!w) return seterr(s, CC_NOMEM, "out of memory");
    for (c = 0; c < nc; c++) w[c] = cc_utf8_count(sqlite3_column_name(st, c),
                                                  strlen(sqlite3_column_name(st, c)));
    while ((*rc = sqlite3_step(st)) == SQLITE_ROW) {
        if ((nrows + 1) * (size_t)nc > cap) {
            char **p = realloc(cells, (cap = cap ? cap * 2 : (size_t)nc * 16) * sizeof *p);
            if (!p) { res = seterr(s, CC_NOMEM, "out of memory"); break; }
            cells = p;
        }
        for (c = 0; c < nc; c++) {
            const char *t = (const char *)sqlite3_column_text(st, c);
            cc_buf cell = CC_BUF_INIT(0);
            size_t len, chars, k;
            t = t ? t : (sqlite3_column_type(st, c) == SQLITE_NULL ? "NULL" : "");
            len = strlen(t);
            for (k = 0, chars = 0; k < len && chars < CELL_MAX; k++) {
                char ch = t[k];
                if (((unsigned char)ch & 0xC0) != 0x80) chars++;
                cc_buf_putc(&cell, ch == '\n' || ch == '\r' || ch == '\t' ? ' ' : ch);
            }
            while (k < len && ((unsigned char)t[k] & 0xC0) == 0x80) cc_buf_putc(&cell, t[k++]);
            if (k < len) cc_buf_puts(&cell, "...");
            cells[nrows * (size_t)nc + (size_t)c] = cc_buf_detach(&cell);
            chars = cc_utf8_count(cells[nrows * (size_t)nc + (size_t)c],
                                  strlen(cells[nrows * (size_t)nc + (size_t)c]));
            if (chars > w[c]) w[c] = chars;
        }
        nrows++;
    }
    if (!res && nc && *rc == SQLITE_DONE) {
        for (c = 0; c < nc; c++)
            cc_buf_printf(o, "%s%-*s", c ? " | " : "", c + 1 < nc ? (int)w[c] : 0,
                          sqlite3_column_name(st, c));
        cc_buf_putc(o, '\n');
        for (c = 0; c < nc; c++) {
            size_t k;
            if (c) cc_buf_puts(o, "-+-");
            for (k = 0; k < w[c]; k++) cc_buf_putc(o, '-');
        }
        cc_buf_putc(o, '\n');
        for (r = 0; r < nrows; r++) {
            for (c = 0; c < nc; c++) {
                const char *t = cells[r * (size_t)nc + (size_t)c];
                size_t pad = w[c] - cc_utf8_count(t, strlen(t)), k;
                if (c) cc_buf_puts(o, " | ");
                cc_buf_puts(o, t);
                if (c + 1 < nc) for (k = 0; k < pad; k++) cc_buf_putc(o, ' ');
            }
            cc_buf_putc(o, '\n');
        }
        cc_buf_printf(o, "(%zu row%s)\n", nrows, nrows == 1 ? "" : "s");
    }
    for (r = 0; r < nrows * (size_t)nc; r++) free(cells[r]);
    free(cells);
    free(w);
    return res;
}

static cc_status run_stmt(cq_session *s, sqlite3_stmt *st, cq_mode mode, cc_buf *o, int *rc)
{
    int nc = sqlite3_column_count(st), c, row = 0;
    if (mode == CQ_TABLE) return run_table(s, st, o, rc);
    if (mode == CQ_CSV && nc) {
        for (c = 0; c < nc; c++) {
            if (c) cc_buf_putc(o, ',');
            put_csv(o, sqlite3_column_name(st, c));
        }
        cc_buf_putc(o, '\n');
    }
    if (mode == CQ_JSON) cc_buf_putc(o, '[');
    while ((*rc = sqlite3_step(st)) == SQLITE_ROW) {
        if (mode == CQ_JSON) cc_buf_puts(o, row ? ",{" : "{");
        if (mode == CQ_LINE && row) cc_buf_putc(o, '\n');
        for (c = 0; c < nc; c++) {
            const char *name = sqlite3_column_name(st, c);
            const char *t = (const char *)sqlite3_column_text(st, c);
            switch (mode) {
            case CQ_JSON:
                if (c) cc_buf_putc(o, ',');
                cc_buf_json_str(o, name, strlen(name));
                cc_buf_putc(o, ':');
                put_json_value(o, st, c);
                break;
            case CQ_CSV:
                if (c) cc_buf_putc(o, ',');
                put_csv(o, t ? t : "");
                break;
            default:
                cc_buf_printf(o, "%s = %s\n", name, t ? t : "NULL");
            }
        }
        if (mode == CQ_JSON) cc_buf_putc(o, '}');
        if (mode == CQ_CSV) cc_buf_putc(o, '\n');
        row++;
    }
    if (mode == CQ_JSON) cc_buf_puts(o, "]\n");
    return CC_OK;
}

/* ---------------------------------------------------------------- exec */

cc_status cq_exec(cq_session *s, const char *text, cq_mode mode, cc_buf *out,
                  int *n_statements)
{
    size_t pos = 0, len = strlen(text);
    int count = 0, r;
    cc_status res = CC_OK;
    cq_stmt stmt;
    char err[512];

    memset(&stmt, 0, sizeof stmt);
    stmt.sql = (cc_buf)CC_BUF_INIT(0);
    s->errmsg[0] = 0;
    if (n_statements) *n_statements = 0;
    if (cc_utf8_check(text, len) != len) {
        int line, col;
        cq_line_col(text, cc_utf8_check(text, len), &line, &col);
        return seterr(s, CC_INVALID, "line %d, column %d: statement is not valid UTF-8",
                      line, col);
    }
    while ((r = cq_parse_next(text, pos, s->settings, &stmt, err, sizeof err)) != 0) {
        sqlite3_stmt *st = NULL;
        const char *sql, *tail;
        int rc, line, col, n;
        if (r < 0) { res = seterr(s, CC_INVALID, "%s", err); break; }
        if (stmt.sql.len > INT32_MAX || stmt.end - stmt.start > INT32_MAX) {
            res = seterr(s, CC_TOOBIG, "statement too long");
            break;
        }
        if (stmt.kind == CQ_K_SQL) {            /* with its ';', for SQLite's messages */
            sql = text + stmt.start;
            n = (int)(stmt.end - stmt.start) + (text[stmt.end] == ';');
        }
        else { sql = stmt.sql.data; n = (int)stmt.sql.len; }
        pos = stmt.next;
        s->deadline_ms = s->timeout_ms ? cc_now_ms() + s->timeout_ms : 0;
        cq_line_col(text, stmt.start, &line, &col);
        rc = sqlite3_prepare_v2(s->db, sql, n, &st, &tail);
        if (rc != SQLITE_OK) {
            int off = sqlite3_error_offset(s->db);
            const char *msg = sqlite3_errmsg(s->db);
            size_t at = stmt.start;
            if (stmt.kind == CQ_K_SQL && off >= 0) at += (size_t)off;
            else if (stmt.expr_len && off >= 0 && (size_t)off >= stmt.expr_at &&
                     (size_t)off < stmt.expr_at + stmt.expr_len)
                at = stmt.expr_src + ((size_t)off - stmt.expr_at);
            cq_line_col(text, at, &line, &col);
            if (rc == SQLITE_AUTH || strstr(msg, "not authorized"))
                res = seterr(s, CC_INVALID, "line %d: refused: this connection is read-only "
                             "(no writes, schema changes, ATTACH, PRAGMA changes or "
                             "extensions)", line);
            else if (rc == SQLITE_TOOBIG)
                res = seterr(s, CC_TOOBIG, "line %d: statement too long (limit 4 MiB)", line);
            else if (!strcmp(msg, "no query solution"))
                res = seterr(s, CC_INVALID, "line %d, column %d: a table-valued function is "
                             "missing its arguments, e.g. search('text' [, mode [, k]])",
                             line, col);
            else
                res = seterr(s, CC_INVALID, "line %d, column %d: %s", line, col, msg);
            break;
        }
        if (!st) continue;                       /* nothing to run */
        if (!sqlite3_stmt_readonly(st)) {
            sqlite3_finalize(st);
            res = seterr(s, CC_INVALID, "line %d: refused: this connection is read-only", line);
            break;
        }
        res = run_stmt(s, st, mode, out, &rc);
        if (!res && rc != SQLITE_DONE) {
            if (rc == SQLITE_INTERRUPT)
                res = seterr(s, CC_INTERRUPTED, "line %d: statement stopped after the time "
                             "limit of %d ms", line, s->timeout_ms);
            else
                res = seterr(s, CC_INVALID, "line %d: %s", line, sqlite3_errmsg(s->db));
        }
        sqlite3_finalize(st);
        if (res) break;
        count++;
    }
    cc_buf_free(&stmt.sql);
    s->deadline_ms = 0;
    if (n_statements) *n_statements = count;
    return res;
}
