/* subgraph_vtab.c — subgraph(question_or_entity [, hops [, budget]]) as an
 * eponymous SQLite virtual table over cg_subgraph_extract, so the triples
 * around a question or an entity compose with joins, WHERE, ORDER BY and
 * GROUP BY:
 *   SELECT subject, predicate, object, uri FROM subgraph('Ana Ruiz', 1)
 *   WHERE status = 'confirmed';
 *
 * One row per provenance: a triple stated by three chunks gives three rows
 * that share subject..support and rank (the triple's place, 1 = best
 * score); GROUP BY rank folds them back to triples. Columns:
 *   rank, subject, predicate, object, subject_id, object_id, score, status
 *   (the triple's: confirmed | inferred), support (distinct chunks), hops
 *   (distance from the nearest seed), chunk_id, uri, start_char, end_char
 *   (the stating sentence, document code points), pattern, extractor,
 *   confidence (of this provenance).
 * question_or_entity: text (seeds are the entities it names) or an entity
 * id (integer). hops 1..4, budget 1..10000; absent or NULL: the settings
 * graph.hops and graph.budget. */
#include "sql_int.h"
#include "graph.h"

#include <sqlite3.h>
#include <stdlib.h>
#include <string.h>

enum { COL_RANK, COL_SUBJ, COL_PRED, COL_OBJ, COL_SUBJ_ID, COL_OBJ_ID, COL_SCORE, COL_STATUS,
       COL_SUPPORT, COL_HOPS, COL_CHUNK, COL_URI, COL_START, COL_END, COL_PATTERN,
       COL_EXTRACTOR, COL_CONF, COL_ARG, COL_HOPS_ARG, COL_BUDGET };

#define SUBGRAPH_QUESTION_MAX 65536   /* bytes, as ask's questions */

typedef struct gcursor {
    sqlite3_vtab_cursor base;
    cg_subgraph g;
    size_t t, p;          /* current triple and provenance */
    int64_t row;
} gcursor;

static int x_best_index(sqlite3_vtab *v, sqlite3_index_info *ix)
{
    (void)v;   /* question_or_entity, hops, budget */
    return cq_vtab_args_best_index(ix, COL_ARG, 3, 10000, 100);
}

static void x_clear(sqlite3_vtab_cursor *cur) { cg_subgraph_free(&((gcursor *)cur)->g); }

/* Skips triples with no provenance (none are expected; a row needs one). */
static void settle(gcursor *c)
{
    while (c->t < c->g.n_triples && c->p >= c->g.triples[c->t].n_prov) { c->t++; c->p = 0; }
}

static int int_arg(sqlite3_vtab *v, sqlite3_value *a, int lo, int hi, const char *what, int *out)
{
    if (sqlite3_value_type(a) == SQLITE_NULL) { *out = 0; return SQLITE_OK; }
    if (sqlite3_value_type(a) != SQLITE_INTEGER || sqlite3_value_int64(a) < lo ||
        sqlite3_value_int64(a) > hi) {
        char msg[96];
        snprintf(msg, sizeof msg, "%s must be a whole number from %d to %d", what, lo, hi);
        return cq_vtab_err(v, msg);
    }
    *out = sqlite3_value_int(a);
    return SQLITE_OK;
}

static int x_filter(sqlite3_vtab_cursor *cur, int idx, const char *idxs, int argc,
                    sqlite3_value **argv)
{
    gcursor *c = (gcursor *)cur;
    cq_vtab *v = (cq_vtab *)cur->pVtab;
    cc_kb *kb = v->ctx;
    cg_subgraph_opts o = {0, 0};
    char *label = NULL;
    const char *q;
    int a = 0, rc;
    (void)idxs; (void)argc;
    cg_subgraph_free(&c->g);
    c->t = c->p = 0;
    c->row = 0;
    if (sqlite3_value_type(argv[0]) == SQLITE_NULL)
        return cq_vtab_err(&v->base, "the question or entity must not be NULL");
    if (idx & 2 && (rc = int_arg(&v->base, argv[++a], 1, 4, "hops", &o.hops))) return rc;
    if (idx & 4 && (rc = int_arg(&v->base, argv[++a], 1, 10000, "budget", &o.budget))) return rc;
    if (sqlite3_value_type(argv[0]) == SQLITE_INTEGER) {   /* an entity id: its label */
        sqlite3_stmt *st;
        if (sqlite3_prepare_v2(cc_kb_db(kb), "SELECT label FROM entities WHERE id = ?1", -1,
                               &st, NULL) != SQLITE_OK)
            return cq_vtab_err(&v->base, sqlite3_errmsg(cc_kb_db(kb)));
        sqlite3_bind_int64(st, 1, sqlite3_value_int64(argv[0]));
        if (sqlite3_step(st) == SQLITE_ROW && sqlite3_column_text(st, 0))
            label = cc_strdup((const char *)sqlite3_column_text(st, 0));
        sqlite3_finalize(st);
        if (!label) return SQLITE_OK;                      /* no such entity: no rows */
        q = label;
    } else {
        q = (const char *)sqlite3_value_text(argv[0]);
        if (!q) return SQLITE_NOMEM;
        if (sqlite3_value_bytes(argv[0]) > SUBGRAPH_QUESTION_MAX) {
            char msg[96];
            snprintf(msg, sizeof msg, "the question is %d bytes; the limit is %d",
                     sqlite3_value_bytes(argv[0]), SUBGRAPH_QUESTION_MAX);
            return cq_vtab_err(&v->base, msg);
        }
    }
    if (cg_subgraph_extract(kb, q, NULL, 0, &o, &c->g) != CC_OK) {
        free(label);
        return cq_vtab_err(&v->base, cc_kb_errmsg(kb));
    }
    free(label);
    settle(c);
    return SQLITE_OK;
}

static int x_next(sqlite3_vtab_cursor *cur)
{
    gcursor *c = (gcursor *)cur;
    c->p++;
    c->row++;
    settle(c);
    return SQLITE_OK;
}

static int x_eof(sqlite3_vtab_cursor *cur)
{
    gcursor *c = (gcursor *)cur;
    return c->t >= c->g.n_triples;
}

static void text(sqlite3_context *ctx, const char *s)
{
    if (s) sqlite3_result_text(ctx, s, -1, SQLITE_TRANSIENT); else sqlite3_result_null(ctx);
}

static int x_column(sqlite3_vtab_cursor *cur, sqlite3_context *ctx, int col)
{
    gcursor *c = (gcursor *)cur;
    const cg_triple *t = &c->g.triples[c->t];
    const cg_prov *p = &t->prov[c->p];
    switch (col) {
    case COL_RANK: sqlite3_result_int64(ctx, (int64_t)c->t + 1); break;
    case COL_SUBJ: text(ctx, t->subject); break;
    case COL_PRED: text(ctx, t->predicate); break;
    case COL_OBJ: text(ctx, t->object); break;
    case COL_SUBJ_ID: sqlite3_result_int64(ctx, t->subject_id); break;
    case COL_OBJ_ID: sqlite3_result_int64(ctx, t->object_id); break;
    case COL_SCORE: sqlite3_result_double(ctx, t->score); break;
    case COL_STATUS: text(ctx, cg_rel_status_str(t->status)); break;
    case COL_SUPPORT: sqlite3_result_int(ctx, t->support); break;
    case COL_HOPS: sqlite3_result_int(ctx, t->hops); break;
    case COL_CHUNK: sqlite3_result_int64(ctx, p->chunk_id); break;
    case COL_URI: text(ctx, p->doc_uri); break;
    case COL_START: sqlite3_result_int64(ctx, p->start_char); break;
    case COL_END: sqlite3_result_int64(ctx, p->end_char); break;
    case COL_PATTERN: text(ctx, p->pattern); break;
    case COL_EXTRACTOR: text(ctx, p->extractor); break;
    case COL_CONF: sqlite3_result_double(ctx, (double)p->confidence); break;
    default: sqlite3_result_null(ctx);
    }
    return SQLITE_OK;
}

static int x_rowid(sqlite3_vtab_cursor *cur, sqlite3_int64 *out)
{
    *out = ((gcursor *)cur)->row;
    return SQLITE_OK;
}

static const cq_vtab_def subgraph_def = {
    .name = "subgraph",
    .err_prefix = "subgraph()",
    .schema = "CREATE TABLE x(rank INTEGER, subject TEXT, predicate TEXT, object TEXT,"
              " subject_id INTEGER, object_id INTEGER, score REAL, status TEXT, support INTEGER,"
              " hops INTEGER, chunk_id INTEGER, uri TEXT, start_char INTEGER, end_char INTEGER,"
              " pattern TEXT, extractor TEXT, confidence REAL,"
              " question_or_entity HIDDEN, hops_arg HIDDEN, budget HIDDEN)",
    .cursor_size = sizeof(gcursor),
    .clear = x_clear,
    .best_index = x_best_index,
    .filter = x_filter,
    .next = x_next,
    .eof = x_eof,
    .column = x_column,
    .rowid = x_rowid,
};

int cq_subgraph_register(sqlite3 *db, cc_kb *kb)
{
    return cq_vtab_register(db, &subgraph_def, kb, NULL);
}
