/* parse.c — cairn's statement front-end: splits the text into statements
 * and parses, by recursive descent, the statements SQLite does not have:
 *
 *   show   := SHOW (DOCUMENTS | ENTITIES | TRACES | STATS | SETTINGS)
 *             [WHERE expr] [LIMIT integer]
 *   search := SEARCH string [WITH option {, option}]
 *   option := MODE = ('bm25' | 'vector' | 'hybrid') | K = integer
 *   ask    := [EXPLAIN] ASK string [WITH askopt {, askopt}]
 *   askopt := K = integer | HOPS = integer | MODEL = string
 *   trace  := TRACE string [AS JSON]
 *   verify := VERIFY TRACES
 *   ingest := INGEST string
 *   delete := DELETE DOCUMENT (integer | string)
 *   sparql := SPARQL string [LIMIT integer]
 *
 * SHOW and SEARCH become one SELECT over the session's views or the
 * search() virtual table; expr is any SQLite expression, passed on as
 * written (the authorizer still guards it). The others are run by stmt.c.
 * Everything else is handed to SQLite unchanged. */
#include "sql_int.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

typedef struct parser {
    const char *text;
    size_t      pos;     /* after tok */
    cq_tok      tok;     /* current token */
    char       *err;
    size_t      errsz;
} parser;

static int next(parser *p)
{
    return cq_lex_next(p->text, &p->pos, &p->tok, p->err, p->errsz) == CQ_T_ERROR ? -1 : 0;
}

static int is_word(const parser *p, const char *w)
{
    return p->tok.kind == CQ_T_WORD && p->tok.len == strlen(w) &&
           !strncasecmp(p->text + p->tok.off, w, p->tok.len);
}

static int is_punct(const parser *p, char c)
{
    return p->tok.kind == CQ_T_PUNCT && p->tok.len == 1 && p->text[p->tok.off] == c;
}

static int at_end(const parser *p) { return p->tok.kind == CQ_T_END || is_punct(p, ';'); }

/* "line L, column C: <what>, found <token>" at the current token. */
static int expected(parser *p, const char *what)
{
    int line, col;
    cq_line_col(p->text, p->tok.off, &line, &col);
    if (at_end(p))
        snprintf(p->err, p->errsz, "line %d, column %d: expected %s, found the end of the "
                 "statement", line, col, what);
    else
        snprintf(p->err, p->errsz, "line %d, column %d: expected %s, found %s%.*s%s", line, col,
                 what, p->tok.kind == CQ_T_STRING ? "" : "'", p->tok.len > 40 ? 40 : (int)p->tok.len,
                 p->text + p->tok.off, p->tok.kind == CQ_T_STRING ? "" : "'");
    return -1;
}

/* A whole integer token in [lo, hi]. */
static int integer(parser *p, long lo, long hi, const char *what, long *out)
{
    char buf[32], *e;
    long v;
    if (p->tok.kind != CQ_T_NUMBER || p->tok.len >= sizeof buf) return expected(p, what);
    memcpy(buf, p->text + p->tok.off, p->tok.len);
    buf[p->tok.len] = 0;
    v = strtol(buf, &e, 10);
    if (*e || v < lo || v > hi) return expected(p, what);
    *out = v;
    return next(p);
}

static int put_sql_string(cc_buf *b, const char *s)
{
    cc_buf_putc(b, '\'');
    for (; *s; s++) {
        if (*s == '\'') cc_buf_putc(b, '\'');
        cc_buf_putc(b, *s);
    }
    return cc_buf_putc(b, '\'');
}

static int parse_show(parser *p, const char *settings_json, cq_stmt *st)
{
    static const struct { const char *word, *from, *order; } kinds[] = {
        { "DOCUMENTS", "documents", "id" },
        { "ENTITIES", "entities", "id" },
        { "TRACES", "traces", "seq" },
        { "STATS", "(SELECT (SELECT count(*) FROM documents) AS documents,"
                   " (SELECT count(*) FROM chunks) AS chunks,"
                   " (SELECT count(*) FROM entities) AS entities,"
                   " (SELECT count(*) FROM relations) AS relations,"
                   " (SELECT count(*) FROM traces) AS traces)", NULL },
        { "SETTINGS", NULL, "key" },
    };
    size_t i, n = sizeof kinds / sizeof *kinds;
    long limit = -1;
    if (next(p)) return -1;
    for (i = 0; i < n && !is_word(p, kinds[i].word); i++) {}
    if (i == n) return expected(p, "DOCUMENTS, ENTITIES, TRACES, STATS or SETTINGS after SHOW");
    cc_buf_puts(&st->sql, "SELECT * FROM ");
    if (kinds[i].from) {
        cc_buf_puts(&st->sql, kinds[i].from);
    } else {
        cc_buf_puts(&st->sql, "(SELECT replace(substr(fullkey, 3), '\"', '') AS key, atom AS value FROM json_tree(");
        put_sql_string(&st->sql, settings_json ? settings_json : "{}");
        cc_buf_puts(&st->sql, ") WHERE type NOT IN ('object', 'array'))");
    }
    if (next(p)) return -1;
    if (is_word(p, "WHERE")) {
        size_t from;
        int depth = 0;
        if (next(p)) return -1;
        from = p->tok.off;
        while (!at_end(p) && !(depth == 0 && is_word(p, "LIMIT"))) {
            if (is_punct(p, '(')) depth++;
            if (is_punct(p, ')') && --depth < 0) return expected(p, "an expression");
            if (next(p)) return -1;
        }
        if (p->tok.off == from) return expected(p, "an expression after WHERE");
        if (depth) return expected(p, "')'");
        cc_buf_puts(&st->sql, " WHERE (");
        st->expr_at = st->sql.len;
        st->expr_src = from;
        st->expr_len = p->tok.off - from;
        cc_buf_append(&st->sql, p->text + from, st->expr_len);
        cc_buf_puts(&st->sql, ")");
    }
    if (is_word(p, "LIMIT")) {
        if (next(p)) return -1;
        if (integer(p, 0, 1000000000, "a whole number from 0 to 1000000000 after LIMIT",
                    &limit))
            return -1;
    }
    if (!at_end(p)) return expected(p, limit < 0 ? "WHERE, LIMIT or the end of the statement"
                                                 : "the end of the statement");
    if (kinds[i].order) cc_buf_printf(&st->sql, " ORDER BY %s", kinds[i].order);
    if (limit >= 0) cc_buf_printf(&st->sql, " LIMIT %ld", limit);
    st->kind = CQ_K_SHOW;
    return 0;
}

static int parse_search(parser *p, cq_stmt *st)
{
    cq_tok query;
    const char *mode = NULL;
    long k = -1;
    if (next(p)) return -1;
    if (p->tok.kind != CQ_T_STRING) return expected(p, "a quoted query after SEARCH");
    query = p->tok;
    if (next(p)) return -1;
    if (is_word(p, "WITH")) {
        do {
            if (next(p)) return -1;
            if (is_word(p, "MODE")) {
                static const char *const modes[] = { "'bm25'", "'vector'", "'hybrid'" };
                size_t i;
                if (next(p)) return -1;
                if (!is_punct(p, '=')) return expected(p, "'=' after mode");
                if (next(p)) return -1;
                for (i = 0; i < 3; i++)
                    if (p->tok.kind == CQ_T_STRING && p->tok.len == strlen(modes[i]) &&
                        !strncasecmp(p->text + p->tok.off, modes[i], p->tok.len))
                        break;
                if (i == 3) return expected(p, "mode 'bm25', 'vector' or 'hybrid'");
                mode = modes[i];
                if (next(p)) return -1;
            } else if (is_word(p, "K")) {
                if (next(p)) return -1;
                if (!is_punct(p, '=')) return expected(p, "'=' after k");
                if (next(p)) return -1;
                if (integer(p, 1, 10000, "a whole number from 1 to 10000 for k", &k)) return -1;
            } else {
                return expected(p, "an option (mode or k)");
            }
        } while (is_punct(p, ','));
    }
    if (!at_end(p)) return expected(p, k < 0 && !mode ? "WITH or the end of the statement"
                                                      : "',' or the end of the statement");
    cc_buf_puts(&st->sql, "SELECT chunk_id, doc_id, uri, score, bm25_rank, vector_rank, snippet"
                          " FROM search(");
    cc_buf_append(&st->sql, p->text + query.off, query.len);
    cc_buf_printf(&st->sql, ", %s", mode ? mode : "NULL");
    if (k > 0) cc_buf_printf(&st->sql, ", %ld", k);
    cc_buf_puts(&st->sql, ")");
    st->kind = CQ_K_SEARCH;
    return 0;
}

/* The current string token, '' escapes undone, into *out (malloc'ed). */
static int string_arg(parser *p, const char *what, char **out)
{
    cc_buf b = CC_BUF_INIT(0);
    size_t i;
    if (p->tok.kind != CQ_T_STRING) return expected(p, what);
    for (i = p->tok.off + 1; i + 1 < p->tok.off + p->tok.len; i++) {
        if (p->text[i] == '\'' && p->text[i + 1] == '\'') i++;
        cc_buf_putc(&b, p->text[i]);
    }
    if (!b.data && cc_buf_puts(&b, "")) return expected(p, what);   /* out of memory */
    free(*out);
    *out = cc_buf_detach(&b);
    return next(p);
}

/* "name = <integer in lo..hi>" after the option's word. */
static int int_option(parser *p, const char *name, long lo, long hi, int *out)
{
    char what[96];
    long v;
    if (next(p)) return -1;
    snprintf(what, sizeof what, "'=' after %s", name);
    if (!is_punct(p, '=')) return expected(p, what);
    if (next(p)) return -1;
    snprintf(what, sizeof what, "a whole number from %ld to %ld for %s", lo, hi, name);
    if (integer(p, lo, hi, what, &v)) return -1;
    *out = (int)v;
    return 0;
}

static int parse_ask(parser *p, cq_stmt *st, int explain)
{
    if (next(p)) return -1;
    if (string_arg(p, "a quoted question after ASK", &st->arg)) return -1;
    if (is_word(p, "WITH")) {
        do {
            if (next(p)) return -1;
            if (is_word(p, "K")) {
                if (int_option(p, "k", 1, 100, &st->k)) return -1;
            } else if (is_word(p, "HOPS")) {
                if (int_option(p, "hops", 1, 4, &st->hops)) return -1;
            } else if (is_word(p, "MODEL")) {
                if (next(p)) return -1;
                if (!is_punct(p, '=')) return expected(p, "'=' after model");
                if (next(p)) return -1;
                if (string_arg(p, "a quoted model name", &st->model)) return -1;
            } else {
                return expected(p, "an option (k, hops or model)");
            }
        } while (is_punct(p, ','));
    }
    if (!at_end(p)) return expected(p, st->k || st->hops || st->model
                                           ? "',' or the end of the statement"
                                           : "WITH or the end of the statement");
    st->kind = explain ? CQ_K_EXPLAIN_ASK : CQ_K_ASK;
    return 0;
}

static int parse_trace(parser *p, cq_stmt *st)
{
    if (next(p)) return -1;
    if (string_arg(p, "a quoted trace id after TRACE", &st->arg)) return -1;
    if (is_word(p, "AS")) {
        if (next(p)) return -1;
        if (!is_word(p, "JSON")) return expected(p, "JSON after AS");
        if (next(p)) return -1;
        st->as_json = 1;
    }
    if (!at_end(p)) return expected(p, st->as_json ? "the end of the statement"
                                                   : "AS JSON or the end of the statement");
    st->kind = CQ_K_TRACE;
    return 0;
}

static int parse_verify(parser *p, cq_stmt *st)
{
    if (next(p)) return -1;
    if (!is_word(p, "TRACES")) return expected(p, "TRACES after VERIFY");
    if (next(p)) return -1;
    if (!at_end(p)) return expected(p, "the end of the statement");
    st->kind = CQ_K_VERIFY;
    return 0;
}

static int parse_ingest(parser *p, cq_stmt *st)
{
    if (next(p)) return -1;
    if (string_arg(p, "a quoted file or directory path after INGEST", &st->arg)) return -1;
    if (!at_end(p)) return expected(p, "the end of the statement");
    st->kind = CQ_K_INGEST;
    return 0;
}

/* SPARQL 'query' [LIMIT n]: the query is checked by the graph library
 * (it parses it and refuses update forms) when it runs. */
static int parse_sparql(parser *p, cq_stmt *st)
{
    long limit = 0;
    if (next(p)) return -1;
    if (string_arg(p, "a quoted SPARQL query after SPARQL", &st->arg)) return -1;
    if (is_word(p, "LIMIT")) {
        if (next(p)) return -1;
        if (integer(p, 1, 1000000, "a whole number from 1 to 1000000 after LIMIT", &limit))
            return -1;
    }
    if (!at_end(p)) return expected(p, limit ? "the end of the statement"
                                             : "LIMIT or the end of the statement");
    st->k = (int)limit;
    st->kind = CQ_K_SPARQL;
    return 0;
}

/* After DELETE DOCUMENT. */
static int parse_delete(parser *p, cq_stmt *st)
{
    if (next(p)) return -1;
    if (p->tok.kind == CQ_T_NUMBER) {
        long id;
        if (integer(p, 1, 2000000000L, "a document id (a whole number) or a quoted uri", &id))
            return -1;
        st->doc_id = id;
    } else if (string_arg(p, "a document id or a quoted uri after DELETE DOCUMENT", &st->arg)) {
        return -1;
    }
    if (!at_end(p)) return expected(p, "the end of the statement");
    st->kind = CQ_K_DELETE;
    return 0;
}

void cq_stmt_clear(cq_stmt *st)
{
    cc_buf_free(&st->sql);
    free(st->arg);
    free(st->model);
    st->arg = st->model = NULL;
}

int cq_parse_next(const char *text, size_t from, const char *settings_json, cq_stmt *st,
                  char *err, size_t errsz)
{
    parser p = { text, from, { CQ_T_END, 0, 0 }, err, errsz };
    int depth = 0;
    size_t start;
    st->kind = CQ_K_SQL;
    st->sql.len = 0;
    if (st->sql.data) st->sql.data[0] = 0;
    st->expr_at = st->expr_len = st->expr_src = 0;
    free(st->arg);
    free(st->model);
    st->arg = st->model = NULL;
    st->doc_id = 0;
    st->k = st->hops = st->as_json = 0;
    do {                                          /* skip empty statements */
        if (next(&p)) return -1;
    } while (is_punct(&p, ';'));
    if (p.tok.kind == CQ_T_END) return 0;
    start = p.tok.off;
    /* the statement's extent: up to ';' or the end; nesting is bounded */
    while (!at_end(&p)) {
        if (is_punct(&p, '(') && ++depth > CQ_MAX_DEPTH) {
            int line, col;
            cq_line_col(text, p.tok.off, &line, &col);
            snprintf(err, errsz, "line %d, column %d: parentheses nested deeper than %d levels",
                     line, col, CQ_MAX_DEPTH);
            return -1;
        }
        if (is_punct(&p, ')')) depth--;
        if (next(&p)) return -1;
    }
    st->start = start;
    st->end = p.tok.off;
    st->next = p.pos;
    /* cairn's own statements */
    p.pos = start;
    if (next(&p)) return -1;
    if (is_word(&p, "SHOW")) return parse_show(&p, settings_json, st) ? -1 : 1;
    if (is_word(&p, "SEARCH")) return parse_search(&p, st) ? -1 : 1;
    if (is_word(&p, "ASK")) return parse_ask(&p, st, 0) ? -1 : 1;
    if (is_word(&p, "TRACE")) return parse_trace(&p, st) ? -1 : 1;
    if (is_word(&p, "VERIFY")) return parse_verify(&p, st) ? -1 : 1;
    if (is_word(&p, "INGEST")) return parse_ingest(&p, st) ? -1 : 1;
    if (is_word(&p, "SPARQL")) return parse_sparql(&p, st) ? -1 : 1;
    if (is_word(&p, "EXPLAIN") || is_word(&p, "DELETE")) {
        int explain = is_word(&p, "EXPLAIN");
        if (next(&p)) return -1;
        if (explain && is_word(&p, "ASK")) return parse_ask(&p, st, 1) ? -1 : 1;
        if (!explain && is_word(&p, "DOCUMENT")) return parse_delete(&p, st) ? -1 : 1;
    }
    return 1;
}
