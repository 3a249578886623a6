/* search_vtab.c — search(query [, mode [, k]]) as an eponymous SQLite
 * virtual table over retrieval's searcher, so results compose with joins,
 * WHERE, ORDER BY and GROUP BY:
 *   SELECT uri, score FROM search('graph store', 'bm25', 5) WHERE score > 1;
 * Columns: chunk_id, doc_id, uri, score, bm25_rank, vector_rank (NULL when
 * that lane did not find the chunk), snippet (the chunk's first 160
 * characters, blanks folded). mode: 'bm25', 'vector' or 'hybrid' (NULL or
 * absent: hybrid); k: 1..10000 (absent: the KB's search.k). */
#include "sql_int.h"
#include "retrieval.h"

#include <sqlite3.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

enum { COL_CHUNK, COL_DOC, COL_URI, COL_SCORE, COL_BM25, COL_VEC, COL_SNIPPET,
       COL_QUERY, COL_MODE, COL_K };
#define SNIPPET_CHARS 160

typedef struct row {
    cr_hit  hit;
    int64_t doc_id;
    char   *uri, *snippet;
} row;

typedef struct scursor {
    sqlite3_vtab_cursor base;
    row   *rows;
    size_t n, i;
} scursor;

/* search()'s context: the session's read handle and its searcher slot */
typedef struct sctx {
    cc_kb        *kb;
    cr_searcher **se;
} sctx;

static int x_best_index(sqlite3_vtab *v, sqlite3_index_info *ix)
{
    (void)v;
    return cq_vtab_args_best_index(ix, COL_QUERY, 3, 1000, 10);   /* query, mode, k */
}

static void clear_rows(scursor *c)
{
    size_t i;
    for (i = 0; i < c->n; i++) { free(c->rows[i].uri); free(c->rows[i].snippet); }
    free(c->rows);
    c->rows = NULL;
    c->n = c->i = 0;
}

static void x_clear(sqlite3_vtab_cursor *cur) { clear_rows((scursor *)cur); }

static char *fold_snippet(const char *t)
{
    cc_buf b = CC_BUF_INIT(0);
    size_t chars = 0;
    int blank = 0;
    for (; t && *t && chars < SNIPPET_CHARS; t++) {
        if (*t == ' ' || *t == '\n' || *t == '\r' || *t == '\t') { blank = 1; continue; }
        if (blank && b.len) { cc_buf_putc(&b, ' '); chars++; }
        blank = 0;
        cc_buf_putc(&b, *t);
        if (((unsigned char)*t & 0xC0) != 0x80) chars++;
    }
    while (t && ((unsigned char)*t & 0xC0) == 0x80) cc_buf_putc(&b, *t++);
    if (t && *t) cc_buf_puts(&b, "...");
    if (!b.data) cc_buf_puts(&b, "");
    return cc_buf_detach(&b);
}

static int x_filter(sqlite3_vtab_cursor *cur, int idx, const char *idxs, int argc,
                    sqlite3_value **argv)
{
    scursor *c = (scursor *)cur;
    cq_vtab *vt = (cq_vtab *)cur->pVtab;
    const sctx *v = vt->ctx;
    const char *query, *mode_s = NULL;
    cr_search_opts o;
    cr_hit *hits = NULL;
    size_t n = 0, i;
    sqlite3_stmt *st = NULL;
    int a = 0;
    (void)idxs; (void)argc;
    clear_rows(c);
    query = (const char *)sqlite3_value_text(argv[a++]);
    if (!query) return cq_vtab_err(&vt->base, "the query must not be NULL");
    if (cr_search_opts_from_kb(v->kb, &o)) return cq_vtab_err(&vt->base, cc_kb_errmsg(v->kb));
    o.mode = CR_MODE_HYBRID;
    if (idx & 2) mode_s = (const char *)sqlite3_value_text(argv[a++]);
    if (mode_s) {
        if (!strcasecmp(mode_s, "bm25")) o.mode = CR_MODE_BM25;
        else if (!strcasecmp(mode_s, "vector")) o.mode = CR_MODE_VECTOR;
        else if (!strcasecmp(mode_s, "hybrid")) o.mode = CR_MODE_HYBRID;
        else return cq_vtab_err(&vt->base, "mode must be 'bm25', 'vector' or 'hybrid'");
    }
    if (idx & 4) {
        sqlite3_value *k = argv[a++];
        if (sqlite3_value_type(k) != SQLITE_INTEGER || sqlite3_value_int64(k) < 1 ||
            sqlite3_value_int64(k) > 10000)
            return cq_vtab_err(&vt->base, "k must be a whole number from 1 to 10000");
        o.k = sqlite3_value_int(k);
    }
    if (!*v->se && cr_searcher_open(v->kb, v->se)) return cq_vtab_err(&vt->base, cc_errmsg());
    if (cr_searcher_search(*v->se, query, &o, &hits, &n))
        return cq_vtab_err(&vt->base, cc_kb_errmsg(v->kb));
    if (n && !(c->rows = calloc(n, sizeof *c->rows))) { free(hits); return SQLITE_NOMEM; }
    if (sqlite3_prepare_v2(cc_kb_db(v->kb), "SELECT c.doc_id, d.uri, c.text FROM chunks c"
                           " JOIN documents d ON d.id = c.doc_id WHERE c.id = ?", -1, &st,
                           NULL) != SQLITE_OK) {
        free(hits);
        return cq_vtab_err(&vt->base, sqlite3_errmsg(cc_kb_db(v->kb)));
    }
    for (i = 0; i < n; i++) {
        row *r = &c->rows[c->n];
        sqlite3_bind_int64(st, 1, hits[i].chunk_id);
        if (sqlite3_step(st) == SQLITE_ROW) {    /* a chunk deleted since: skipped */
            r->hit = hits[i];
            r->doc_id = sqlite3_column_int64(st, 0);
            r->uri = strdup((const char *)sqlite3_column_text(st, 1));
            r->snippet = fold_snippet((const char *)sqlite3_column_text(st, 2));
            c->n++;
        }
        sqlite3_reset(st);
    }
    sqlite3_finalize(st);
    free(hits);
    return SQLITE_OK;
}

static int x_next(sqlite3_vtab_cursor *cur) { ((scursor *)cur)->i++; return SQLITE_OK; }
static int x_eof(sqlite3_vtab_cursor *cur) { return ((scursor *)cur)->i >= ((scursor *)cur)->n; }

static int x_column(sqlite3_vtab_cursor *cur, sqlite3_context *ctx, int col)
{
    scursor *c = (scursor *)cur;
    const row *r = &c->rows[c->i];
    switch (col) {
    case COL_CHUNK: sqlite3_result_int64(ctx, r->hit.chunk_id); break;
    case COL_DOC: sqlite3_result_int64(ctx, r->doc_id); break;
    case COL_URI: sqlite3_result_text(ctx, r->uri ? r->uri : "", -1, SQLITE_TRANSIENT); break;
    case COL_SCORE: sqlite3_result_double(ctx, r->hit.score); break;
    case COL_BM25: case COL_VEC: {
        int rank = r->hit.rank[col == COL_BM25 ? CR_LANE_BM25 : CR_LANE_VECTOR];
        if (rank > 0) sqlite3_result_int(ctx, rank); else sqlite3_result_null(ctx);
        break;
    }
    case COL_SNIPPET:
        sqlite3_result_text(ctx, r->snippet ? r->snippet : "", -1, SQLITE_TRANSIENT);
        break;
    default: sqlite3_result_null(ctx);
    }
    return SQLITE_OK;
}

static int x_rowid(sqlite3_vtab_cursor *cur, sqlite3_int64 *out)
{
    *out = (sqlite3_int64)((scursor *)cur)->i;
    return SQLITE_OK;
}

static const cq_vtab_def search_def = {
    .name = "search",
    .err_prefix = "search()",
    .schema = "CREATE TABLE x(chunk_id INTEGER, doc_id INTEGER, uri TEXT, score REAL,"
              " bm25_rank INTEGER, vector_rank INTEGER, snippet TEXT,"
              " query HIDDEN, mode HIDDEN, k HIDDEN)",
    .cursor_size = sizeof(scursor),
    .clear = x_clear,
    .best_index = x_best_index,
    .filter = x_filter,
    .next = x_next,
    .eof = x_eof,
    .column = x_column,
    .rowid = x_rowid,
};

int cq_search_register(sqlite3 *db, cc_kb *kb, void *searcher_slot)
{
    sctx *c = sqlite3_malloc(sizeof *c);
    if (!c) return SQLITE_NOMEM;
    c->kb = kb;
    c->se = searcher_slot;
    return cq_vtab_register(db, &search_def, c, sqlite3_free);
}
