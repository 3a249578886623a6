/* exec.c — query sessions: connection setup, the authorizer, the statement
 * time limit, running each statement, and result formatting (table, json,
 * csv, line; tables optionally fitted to a terminal's width). */
#include "sql_int.h"
#include "retrieval.h"

#include <sqlite3.h>
#include <string.h>

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

/* PRAGMAs that read when given no value (and write when given one). */
static const char *const read_without_value_pragmas[] = {
    "user_version", "application_id", "schema_version", "page_count", "page_size",
    "freelist_count", "encoding", "data_version",
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
        for (i = 0; !b && i < sizeof read_without_value_pragmas / sizeof *read_without_value_pragmas; i++)
            if (a && !sqlite3_stricmp(a, read_without_value_pragmas[i])) return SQLITE_OK;
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
    return s->interrupted || (s->deadline_ms > 0 && cc_now_ms() > s->deadline_ms);
}

cc_status cq_open(const char *kbdir, cq_session **out)
{
    return cq_open_with(kbdir, CQ_OPEN_READ, out);
}

cc_status cq_open_with(const char *kbdir, int flags, cq_session **out)
{
    cq_session *s;
    cc_buf path = CC_BUF_INIT(0);
    int rc;
    *out = NULL;
    if (cc_buf_printf(&path, "%s/cairn.db", kbdir)) return cc_seterr(CC_NOMEM, "out of memory");
    s = calloc(1, sizeof *s);
    if (!s) { cc_buf_free(&path); return cc_seterr(CC_NOMEM, "out of memory"); }
    s->timeout_ms = 10000;
    s->writer = (flags & CQ_OPEN_WRITE) != 0;
    if (!(s->kbdir = cc_strdup(kbdir))) {
        cc_buf_free(&path);
        free(s);
        return cc_seterr(CC_NOMEM, "out of memory");
    }
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
    if ((rc = cc_kb_open(kbdir, s->writer ? CC_KB_WRITE : CC_KB_READ, &s->kb)) != CC_OK ||
        !(s->settings = cc_kb_settings_json(s->kb)) ||
        cq_search_register(s->db, s->kb, &s->se) != SQLITE_OK ||
        cq_subgraph_register(s->db, s->kb) != SQLITE_OK ||
        cq_triples_register(s->db, s) != SQLITE_OK) {
        /* cc_kb_open's message stays in cc_errmsg() */
        cc_status st = s->kb ? cc_seterr(CC_NOMEM, "out of memory") : (cc_status)rc;
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
    free(s->kbdir);
    free(s);
}

const char *cq_errmsg(const cq_session *s) { return s->errmsg[0] ? s->errmsg : "no error"; }
void cq_set_timeout_ms(cq_session *s, int ms) { s->timeout_ms = ms < 0 ? 0 : ms; }
int cq_is_writer(const cq_session *s) { return s->writer; }
void cq_interrupt(cq_session *s) { s->interrupted = 1; }
void cq_set_width(cq_session *s, int columns) { s->width = columns < 0 ? 0 : columns; }

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

#define CELL_MAX 60          /* table mode: longer values are cut with "..." */
#define CELL_FIT_MAX 4096    /* fitted tables wrap values up to this, then cut */
#define COL_MIN 6            /* fitted tables narrow no column below this */

/* A cell as one line of text: blanks folded to spaces, cut at max chars. */
static char *cell_text(const char *t, size_t max)
{
    cc_buf cell = CC_BUF_INIT(0);
    size_t len = strlen(t), chars, k;
    for (k = 0, chars = 0; k < len && chars < max; k++) {
        char ch = t[k];
        if (((unsigned char)ch & 0xC0) != 0x80) chars++;
        cc_buf_putc(&cell, ch == '\n' || ch == '\r' || ch == '\t' ? ' ' : ch);
    }
    while (k < len && ((unsigned char)t[k] & 0xC0) == 0x80) cc_buf_putc(&cell, t[k++]);
    if (k < len) cc_buf_puts(&cell, "...");
    if (!cell.data) cc_buf_puts(&cell, "");
    return cc_buf_detach(&cell);
}

/* The next line of at most w characters of *p (breaking after a space when
 * one is in reach), appended to o padded to w when pad; advances *p. */
static void put_segment(cc_buf *o, const char **p, size_t w, int pad)
{
    const char *t = *p, *brk = NULL;
    size_t chars = 0, k = 0, used;
    while (t[k] && chars < w) {
        if (t[k] == ' ' && k) brk = t + k;
        k++;
        while (((unsigned char)t[k] & 0xC0) == 0x80) k++;
        chars++;
    }
    if (t[k] && brk && t[k] != ' ') k = (size_t)(brk - t);   /* wrap at the last blank */
    cc_buf_append(o, t, k);
    used = cc_utf8_count(t, k);
    if (pad) for (; used < w; used++) cc_buf_putc(o, ' ');
    t += k;
    if (*t) while (*t == ' ') t++;                 /* the blank we wrapped at */
    *p = t;
}

/* One table row, wrapped over as many lines as its longest cell needs. */
static void put_row(cc_buf *o, char *const *cells, const size_t *w, int nc)
{
    const char *pos[64], **ps = pos;
    int c, more;
    if (nc > 64 && !(ps = malloc((size_t)nc * sizeof *ps))) return;
    for (c = 0; c < nc; c++) ps[c] = cells[c];
    do {
        more = 0;
        for (c = 0; c < nc; c++) {
            if (c) cc_buf_puts(o, " | ");
            put_segment(o, &ps[c], w[c], c + 1 < nc);
            more |= *ps[c] != 0;
        }
        cc_buf_putc(o, '\n');
    } while (more);
    if (ps != pos) free(ps);
}

/* Table mode needs column widths before printing: rows are kept as text. */
static cc_status run_table(cq_session *s, sqlite3_stmt *st, cc_buf *o, int *rc)
{
    int nc = sqlite3_column_count(st), c;
    size_t *w = calloc((size_t)nc + 1, sizeof *w), max = s->width ? CELL_FIT_MAX : CELL_MAX;
    char **cells = NULL, **head = calloc((size_t)nc + 1, sizeof *head);
    size_t nrows = 0, cap = 0, r;
    cc_status res = CC_OK;
    if (!w || !head) { free(w); free(head); return seterr(s, CC_NOMEM, "out of memory"); }
    for (c = 0; c < nc; c++) {
        head[c] = cell_text(sqlite3_column_name(st, c), CELL_FIT_MAX);
        w[c] = head[c] ? cc_utf8_count(head[c], strlen(head[c])) : 0;
    }
    while ((*rc = sqlite3_step(st)) == SQLITE_ROW) {
        if ((nrows + 1) * (size_t)nc > cap) {
            char **p = realloc(cells, (cap = cap ? cap * 2 : (size_t)nc * 16) * sizeof *p);
            if (!p) { res = seterr(s, CC_NOMEM, "out of memory"); break; }
            cells = p;
        }
        for (c = 0; c < nc; c++) {
            const char *t = (const char *)sqlite3_column_text(st, c);
            char *cell;
            size_t chars;
            t = t ? t : (sqlite3_column_type(st, c) == SQLITE_NULL ? "NULL" : "");
            cells[nrows * (size_t)nc + (size_t)c] = cell = cell_text(t, max);
            chars = cell ? cc_utf8_count(cell, strlen(cell)) : 0;
            if (chars > w[c]) w[c] = chars;
        }
        nrows++;
    }
    for (r = 0; r < nrows * (size_t)nc; r++)
        if (!cells[r]) res = seterr(s, CC_NOMEM, "out of memory");
    for (c = 0; c < nc; c++)
        if (!head[c]) res = seterr(s, CC_NOMEM, "out of memory");
    if (!res && nc && *rc == SQLITE_DONE) {
        if (s->width > 0) {          /* narrow the widest column until it fits */
            size_t total = 3 * (size_t)(nc - 1);
            for (c = 0; c < nc; c++) total += w[c];
            while (total > (size_t)s->width) {
                int widest = 0;
                for (c = 1; c < nc; c++) if (w[c] > w[widest]) widest = c;
                if (w[widest] <= COL_MIN) break;
                w[widest]--;
                total--;
            }
        }
        put_row(o, head, w, nc);
        for (c = 0; c < nc; c++) {
            size_t k;
            if (c) cc_buf_puts(o, "-+-");
            for (k = 0; k < w[c]; k++) cc_buf_putc(o, '-');
        }
        cc_buf_putc(o, '\n');
        for (r = 0; r < nrows; r++) put_row(o, cells + r * (size_t)nc, w, nc);
        cc_buf_printf(o, "(%zu row%s)\n", nrows, nrows == 1 ? "" : "s");
    }
    for (r = 0; r < nrows * (size_t)nc; r++) free(cells[r]);
    for (c = 0; c < nc; c++) free(head[c]);
    free(head);
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
    s->interrupted = 0;
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
        char *param = NULL;
        int rc, line, col, n;
        if (r < 0) { res = seterr(s, CC_INVALID, "%s", err); break; }
        pos = stmt.next;
        cq_line_col(text, stmt.start, &line, &col);
        if (stmt.kind >= CQ_K_ASK) {             /* run by stmt.c, shown through SQL */
            if ((res = cq_stmt_run(s, &stmt, &param))) {
                char msg[sizeof s->errmsg];
                snprintf(msg, sizeof msg, "%s", s->errmsg);
                seterr(s, res, "line %d: %s", line, msg);
                break;
            }
        }
        if (stmt.sql.len > INT32_MAX || stmt.end - stmt.start > INT32_MAX) {
            free(param);
            res = seterr(s, CC_TOOBIG, "statement too long");
            break;
        }
        if (stmt.kind == CQ_K_SQL) {            /* with its ';', for SQLite's messages */
            sql = text + stmt.start;
            n = (int)(stmt.end - stmt.start) + (text[stmt.end] == ';');
        }
        else { sql = stmt.sql.data; n = (int)stmt.sql.len; }
        s->deadline_ms = s->timeout_ms ? cc_now_ms() + s->timeout_ms : 0;
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
                             "missing its arguments, e.g. search('text' [, mode [, k]]) or "
                             "subgraph('question or entity' [, hops [, budget]])",
                             line, col);
            else
                res = seterr(s, CC_INVALID, "line %d, column %d: %s", line, col, msg);
            free(param);
            break;
        }
        if (!st) { free(param); continue; }      /* nothing to run */
        if (param) sqlite3_bind_text(st, 1, param, -1, free);   /* frees param */
        if (!sqlite3_stmt_readonly(st)) {
            sqlite3_finalize(st);
            res = seterr(s, CC_INVALID, "line %d: refused: this connection is read-only "
                         "(no writes, schema changes, ATTACH, PRAGMA changes or extensions)",
                         line);
            break;
        }
        res = run_stmt(s, st, mode, out, &rc);
        if (!res && rc != SQLITE_DONE) {
            if (rc == SQLITE_INTERRUPT && s->interrupted)
                res = seterr(s, CC_INTERRUPTED, "line %d: statement interrupted", line);
            else if (rc == SQLITE_INTERRUPT)
                res = seterr(s, CC_INTERRUPTED, "line %d: statement stopped after the time "
                             "limit of %d ms", line, s->timeout_ms);
            else if (rc == SQLITE_AUTH)
                res = seterr(s, CC_INVALID, "line %d: refused: this connection is read-only "
                             "(no writes, schema changes, ATTACH, PRAGMA changes or "
                             "extensions)", line);
            else
                res = seterr(s, CC_INVALID, "line %d: %s", line, sqlite3_errmsg(s->db));
        }
        sqlite3_finalize(st);
        if (res) break;
        count++;
    }
    cq_stmt_clear(&stmt);
    s->deadline_ms = 0;
    if (n_statements) *n_statements = count;
    return res;
}

/* ---------------------------------------------------------------- words */

static const char *const keywords[] = {
    /* cairn's */
    "ASK", "EXPLAIN", "SHOW", "DOCUMENTS", "ENTITIES", "TRACES", "STATS", "SETTINGS", "SEARCH",
    "TRACE", "VERIFY", "INGEST", "DELETE", "DOCUMENT", "WITH", "MODE", "HOPS", "MODEL", "JSON",
    "SPARQL",
    /* SQL's most used */
    "SELECT", "FROM", "WHERE", "GROUP", "BY", "ORDER", "HAVING", "LIMIT", "OFFSET", "JOIN",
    "LEFT", "INNER", "CROSS", "ON", "USING", "AS", "AND", "OR", "NOT", "IN", "IS", "NULL",
    "LIKE", "GLOB", "BETWEEN", "CASE", "WHEN", "THEN", "ELSE", "END", "DISTINCT", "UNION",
    "ALL", "EXCEPT", "INTERSECT", "EXISTS", "ASC", "DESC", "RECURSIVE", "VALUES", "CAST",
    "count", "sum", "avg", "min", "max", "group_concat", "json_extract", "json_each",
    "length", "substr", "lower", "upper", "round", "coalesce",
    /* tables */
    "documents", "document_versions", "chunks", "entities", "mentions", "relations", "traces",
    "search", "subgraph", "triples",
};

static int cmp_word(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

cc_status cq_words(cq_session *s, char ***out, size_t *n)
{
    static const char *const tables[] = { "documents", "document_versions", "chunks",
                                          "entities", "mentions", "relations", "traces",
                                          "search", "subgraph", "triples" };
    size_t nk = sizeof keywords / sizeof *keywords, cap = nk + 256, m = 0, i, w = 0;
    char **v = malloc(cap * sizeof *v);
    sqlite3_stmt *st = NULL;
    *out = NULL;
    *n = 0;
    if (!v) return seterr(s, CC_NOMEM, "out of memory");
    for (i = 0; i < nk; i++) if (!(v[m++] = cc_strdup(keywords[i]))) goto nomem;
    if (sqlite3_prepare_v2(s->db, "SELECT name FROM pragma_table_xinfo(?1) WHERE hidden IN (0, 1)",
                           -1, &st, NULL) != SQLITE_OK)
        goto nomem;
    for (i = 0; i < sizeof tables / sizeof *tables; i++) {
        sqlite3_bind_text(st, 1, tables[i], -1, SQLITE_STATIC);
        while (sqlite3_step(st) == SQLITE_ROW) {
            if (m == cap) {
                char **p = realloc(v, (cap *= 2) * sizeof *p);
                if (!p) goto nomem;
                v = p;
            }
            if (!(v[m++] = cc_strdup((const char *)sqlite3_column_text(st, 0)))) goto nomem;
        }
        sqlite3_reset(st);
    }
    sqlite3_finalize(st);
    qsort(v, m, sizeof *v, cmp_word);
    for (i = 0; i < m; i++) {                    /* distinct */
        if (w && !strcmp(v[w - 1], v[i])) { free(v[i]); continue; }
        v[w++] = v[i];
    }
    *out = v;
    *n = w;
    return CC_OK;
nomem:
    sqlite3_finalize(st);
    cq_words_free(v, m);
    return seterr(s, CC_NOMEM, "out of memory");
}

void cq_words_free(char **w, size_t n)
{
    size_t i;
    if (!w) return;
    for (i = 0; i < n; i++) free(w[i]);
    free(w);
}
