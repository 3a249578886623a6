/* triples_vtab.c — triples, an eponymous SQLite virtual table over the
 * KB's Redland store (cg_triples_open), so the stored triples compose with
 * joins, WHERE, ORDER BY and GROUP BY:
 *   SELECT t.object, c.uri FROM triples t JOIN chunks c ON c.id = t.chunk_id
 *    WHERE t.predicate = 'urn:cairn:rel:cfo_of';
 *
 * One row per (triple, context), as the iterator gives them: a triple
 * stated by three chunks comes three times. Columns:
 *   subject, predicate (IRIs), object (an IRI or a literal's lexical form),
 *   object_is_literal (0/1), datatype (a literal's datatype IRI or null),
 *   context ("urn:cairn:chunk:N" or "urn:cairn:doc:N"), chunk_id (N of a
 *   chunk context; null for a document's).
 * Equality on subject, predicate, object, object_is_literal and chunk_id is
 * handed to the store's indexes (xBestIndex, argvIndex); SQLite still
 * checks every row, so the answer does not depend on what was pushed down.
 * An object without object_is_literal is looked up as an IRI and as a
 * literal. Outside a chunk only one of subject and object reaches librdf
 * (the others leak there; see x_filter), so predicate = ... alone reads
 * the whole store.
 *
 * Each scan reads its rows into memory and closes the iterator at once, so
 * the shared graph lock is not held across a query (a join rescans per
 * outer row with its own short lock) and the session's time limit is
 * checked while reading. */
#include "sql_int.h"
#include "graph.h"

#include <sqlite3.h>
#include <stdlib.h>
#include <string.h>

enum { COL_SUBJ, COL_PRED, COL_OBJ, COL_LIT, COL_DT, COL_CTX, COL_CHUNK, N_COLS };

/* idxNum bits, and argv in this order */
enum { B_SUBJ = 1, B_PRED = 2, B_OBJ = 4, B_LIT = 8, B_CHUNK = 16 };

typedef struct trow {
    size_t  str[5];     /* offsets into the cursor's text: s, p, o, datatype, context */
    int     lit, has_dt;
    int64_t chunk;
} trow;

typedef struct tcursor {
    sqlite3_vtab_cursor base;
    cc_buf  text;       /* the rows' strings, NUL-terminated */
    trow   *rows;
    size_t  n, cap, at;
} tcursor;

static int x_best_index(sqlite3_vtab *v, sqlite3_index_info *ix)
{
    static const int col_bit[N_COLS] = { B_SUBJ, B_PRED, B_OBJ, B_LIT, 0, 0, B_CHUNK };
    static const int order[] = { B_SUBJ, B_PRED, B_OBJ, B_LIT, B_CHUNK };
    int i, b, bits = 0, argn = 0, pos[5] = { -1, -1, -1, -1, -1 };
    double cost = 1e6;
    (void)v;
    for (i = 0; i < ix->nConstraint; i++) {
        int c = ix->aConstraint[i].iColumn;
        if (c < 0 || c >= N_COLS || !col_bit[c] || !ix->aConstraint[i].usable ||
            ix->aConstraint[i].op != SQLITE_INDEX_CONSTRAINT_EQ)
            continue;
        for (b = 0; b < 5 && order[b] != col_bit[c]; b++) {}
        if (pos[b] < 0) pos[b] = i;
    }
    for (b = 0; b < 5; b++) {
        if (pos[b] < 0) continue;
        bits |= order[b];
        ix->aConstraintUsage[pos[b]].argvIndex = ++argn;   /* SQLite re-checks: no omit */
    }
    /* the store has indexes by subject and object, and by context; a
     * constrained scan reads a small part of it (the predicate narrows
     * only within a chunk: see x_filter) */
    if (bits & (B_SUBJ | B_OBJ | B_CHUNK)) cost = 1000;
    if (bits & B_SUBJ) cost /= 10;
    if (bits & B_OBJ) cost /= 5;
    if (bits & B_CHUNK) cost /= 5;
    if ((bits & B_PRED) && (bits & B_CHUNK)) cost /= 2;
    ix->idxNum = bits;
    ix->estimatedCost = cost;
    ix->estimatedRows = (sqlite3_int64)cost;
    return SQLITE_OK;
}

static void reset(tcursor *c)
{
    cc_buf_free(&c->text);
    free(c->rows);
    c->rows = NULL;
    c->n = c->cap = c->at = 0;
}

static void x_clear(sqlite3_vtab_cursor *cur) { reset((tcursor *)cur); }

/* The session's time limit passed, or cq_interrupt was called. */
static int stopped(const cq_session *s)
{
    return s->interrupted || (s->deadline_ms > 0 && cc_now_ms() > s->deadline_ms);
}

static int put_str(tcursor *c, const char *s, size_t *off)
{
    *off = c->text.len;
    return cc_buf_append(&c->text, s ? s : "", s ? strlen(s) : 0) || cc_buf_putc(&c->text, 0);
}

/* Reads every row of one pattern into the cursor, only literal objects
 * when want_lit is 1, only IRIs when 0, all when -1. SQLITE_DONE when the
 * pattern can match nothing (a value that is not an IRI). */
static int scan(tcursor *c, cq_vtab *v, const cg_triple_pattern *pat, int want_lit)
{
    cq_session *s = v->ctx;
    cg_triples *it = NULL;
    cg_triple_row row;
    int has = 1;
    size_t k = 0;
    cc_status r;
    if (stopped(s)) return SQLITE_INTERRUPT;       /* a join rescans once per outer row */
    r = cg_triples_open(s->kb, pat, &it);
    if (r == CC_INVALID) return SQLITE_DONE;      /* not an IRI: matches nothing */
    if (r) return cq_vtab_err(&v->base, cc_kb_errmsg(s->kb));
    for (;;) {
        if ((r = cg_triples_next(it, &row, &has))) {
            int rc = cq_vtab_err(&v->base, cg_triples_errmsg(it));
            cg_triples_close(it);
            return rc;
        }
        if (!has) break;
        if (++k % 1024 == 0 && stopped(s)) {
            cg_triples_close(it);
            return SQLITE_INTERRUPT;
        }
        if (want_lit >= 0 && row.object_literal != want_lit) continue;
        if (c->n == c->cap) {
            trow *p = realloc(c->rows, (c->cap = c->cap ? c->cap * 2 : 256) * sizeof *p);
            if (!p) { cg_triples_close(it); return SQLITE_NOMEM; }
            c->rows = p;
        }
        {
            trow *t = &c->rows[c->n];
            if (put_str(c, row.subject, &t->str[0]) || put_str(c, row.predicate, &t->str[1]) ||
                put_str(c, row.object, &t->str[2]) || put_str(c, row.datatype, &t->str[3]) ||
                put_str(c, row.context, &t->str[4])) {
                cg_triples_close(it);
                return SQLITE_NOMEM;
            }
            t->lit = row.object_literal;
            t->has_dt = row.datatype != NULL;
            t->chunk = row.chunk_id;
            c->n++;
        }
    }
    cg_triples_close(it);
    return SQLITE_OK;
}

static int x_filter(sqlite3_vtab_cursor *cur, int idx, const char *idxs, int argc,
                    sqlite3_value **argv)
{
    tcursor *c = (tcursor *)cur;
    cq_vtab *v = (cq_vtab *)cur->pVtab;
    cg_triple_pattern pat = { NULL, NULL, NULL, 0, 0 };
    int a = 0, lit = -1, rc;
    (void)idxs; (void)argc;
    reset(c);
    /* a NULL compared with = matches nothing */
    for (a = 0; a < argc; a++) if (sqlite3_value_type(argv[a]) == SQLITE_NULL) return SQLITE_OK;
    a = 0;
    if (idx & B_SUBJ) pat.subject = (const char *)sqlite3_value_text(argv[a++]);
    if (idx & B_PRED) pat.predicate = (const char *)sqlite3_value_text(argv[a++]);
    if (idx & B_OBJ) pat.object = (const char *)sqlite3_value_text(argv[a++]);
    if (idx & B_LIT) {
        sqlite3_value *l = argv[a++];
        if (sqlite3_value_numeric_type(l) != SQLITE_INTEGER) return SQLITE_OK;
        if (sqlite3_value_int64(l) != 0 && sqlite3_value_int64(l) != 1) return SQLITE_OK;
        lit = sqlite3_value_int(l);
    }
    if (idx & B_CHUNK) {
        sqlite3_value *ch = argv[a++];
        if (sqlite3_value_numeric_type(ch) != SQLITE_INTEGER || sqlite3_value_int64(ch) <= 0)
            return SQLITE_OK;                      /* chunk ids are whole numbers > 0 */
        pat.chunk_id = sqlite3_value_int64(ch);
    }
    if (((idx & B_SUBJ) && !pat.subject) || ((idx & B_PRED) && !pat.predicate) ||
        ((idx & B_OBJ) && !pat.object))
        return SQLITE_NOMEM;
    /* librdf 1.0.17 leaks the statements of finds outside a context that
     * bind the predicate or two of subject, predicate and object (see
     * cg_triples_open). Such patterns are narrowed here to one leak-free
     * find (subject, else object) and SQLite checks the rest: a predicate
     * alone outside a chunk is a full scan. */
    if (pat.chunk_id <= 0) pat.predicate = NULL;
    if (!pat.object) return (rc = scan(c, v, &pat, -1)) == SQLITE_DONE ? SQLITE_OK : rc;
    /* the object as an IRI, then as a literal (or only the one asked for) */
    if (lit != 1) {
        cg_triple_pattern iri = pat;
        iri.object_literal = 0;
        if (iri.chunk_id <= 0 && iri.subject) iri.object = NULL;
        if ((rc = scan(c, v, &iri, 0)) != SQLITE_OK && rc != SQLITE_DONE) return rc;
    }
    if (lit != 0) {
        pat.object_literal = 1;     /* matched by the iterator itself, not by librdf */
        if ((rc = scan(c, v, &pat, 1)) != SQLITE_OK && rc != SQLITE_DONE) return rc;
    }
    return SQLITE_OK;
}

static int x_next(sqlite3_vtab_cursor *cur)
{
    ((tcursor *)cur)->at++;
    return SQLITE_OK;
}

static int x_eof(sqlite3_vtab_cursor *cur)
{
    tcursor *c = (tcursor *)cur;
    return c->at >= c->n;
}

static int x_column(sqlite3_vtab_cursor *cur, sqlite3_context *ctx, int col)
{
    tcursor *c = (tcursor *)cur;
    const trow *t = &c->rows[c->at];
    switch (col) {
    case COL_SUBJ: case COL_PRED: case COL_OBJ:
        sqlite3_result_text(ctx, c->text.data + t->str[col], -1, SQLITE_TRANSIENT);
        break;
    case COL_LIT: sqlite3_result_int(ctx, t->lit); break;
    case COL_DT:
        if (t->has_dt) sqlite3_result_text(ctx, c->text.data + t->str[3], -1, SQLITE_TRANSIENT);
        else sqlite3_result_null(ctx);
        break;
    case COL_CTX: sqlite3_result_text(ctx, c->text.data + t->str[4], -1, SQLITE_TRANSIENT); break;
    case COL_CHUNK:
        if (t->chunk > 0) sqlite3_result_int64(ctx, t->chunk); else sqlite3_result_null(ctx);
        break;
    default: sqlite3_result_null(ctx);
    }
    return SQLITE_OK;
}

static int x_rowid(sqlite3_vtab_cursor *cur, sqlite3_int64 *out)
{
    *out = (sqlite3_int64)((tcursor *)cur)->at;
    return SQLITE_OK;
}

static const cq_vtab_def triples_def = {
    .name = "triples",
    .err_prefix = "triples",
    .schema = "CREATE TABLE x(subject TEXT, predicate TEXT, object TEXT, object_is_literal INTEGER,"
              " datatype TEXT, context TEXT, chunk_id INTEGER)",
    .cursor_size = sizeof(tcursor),
    .clear = x_clear,
    .best_index = x_best_index,
    .filter = x_filter,
    .next = x_next,
    .eof = x_eof,
    .column = x_column,
    .rowid = x_rowid,
};

int cq_triples_register(sqlite3 *db, cq_session *s)
{
    return cq_vtab_register(db, &triples_def, s, NULL);
}
