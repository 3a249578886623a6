/* stmt.c — cairn's statements that SQLite cannot run itself: ASK, EXPLAIN
 * ASK, TRACE, VERIFY TRACES, INGEST, DELETE DOCUMENT and SPARQL. Each does its work
 * in C and leaves its result as JSON plus a SELECT over it (bound to ?1),
 * so every output mode formats it like any other query.
 *
 * Result columns:
 *   ASK, TRACE, EXPLAIN ASK: part, n, value, score, uri, chunk_id,
 *     start_char, end_char: one row per answer, abstained (only when it
 *     did), citation (n = its [n]; one row per quoted sentence), evidence
 *     chunk, seed, triple, ...; n numbers the rows of a part
 *   TRACE ... AS JSON: json        VERIFY TRACES: traces, status
 *   INGEST: files, added, replaced, unchanged, chunks, vectors
 *   DELETE DOCUMENT: document, removed
 *   SPARQL: SELECT one column per variable (the term's value: IRI, literal's
 *     lexical form or blank node id; unbound null); ASK boolean ('true' /
 *     'false'); CONSTRUCT, DESCRIBE subject, predicate, object */
#define _GNU_SOURCE
#include "sql_int.h"
#include "ask.h"
#include "graph.h"
#include "retrieval.h"

#include <dirent.h>
#include <errno.h>
#include <math.h>
#include <sqlite3.h>
#include <string.h>
#include <sys/stat.h>

static cc_status fail(cq_session *s, cc_status st, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static cc_status fail(cq_session *s, cc_status st, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(s->errmsg, sizeof s->errmsg, fmt, ap);
    va_end(ap);
    return st;
}

/* ---------------------------------------------------------------- rows */

/* Rows built as a JSON array of arrays; the SELECT names the columns. */
static void rows_select(cc_buf *sql, const char *const *cols, int nc)
{
    int c;
    cc_buf_puts(sql, "SELECT ");
    for (c = 0; c < nc; c++) cc_buf_printf(sql, "%svalue->>%d AS %s", c ? ", " : "", c, cols[c]);
    cc_buf_puts(sql, " FROM json_each(?1) ORDER BY key");
}

static const char *const part_cols[] = {
    "part", "n", "value", "score", "uri", "chunk_id", "start_char", "end_char",
};

/* One row of the part_cols shape; NULL / <0 / NAN fields are null. */
static void part_row(cc_buf *j, const char *part, int64_t n, const char *value, double score,
                     const char *uri, int64_t chunk, int64_t start, int64_t end)
{
    cc_buf_puts(j, j->len > 1 ? ",[" : "[");
    cc_buf_json_str(j, part, strlen(part));
    if (n > 0) cc_buf_printf(j, ",%lld,", (long long)n); else cc_buf_puts(j, ",null,");
    if (value) cc_buf_json_str(j, value, strlen(value)); else cc_buf_puts(j, "null");
    if (score == score) cc_buf_printf(j, ",%.6f,", score); else cc_buf_puts(j, ",null,");
    if (uri) cc_buf_json_str(j, uri, strlen(uri)); else cc_buf_puts(j, "null");
    if (chunk > 0) cc_buf_printf(j, ",%lld", (long long)chunk); else cc_buf_puts(j, ",null");
    if (start >= 0) cc_buf_printf(j, ",%lld,%lld]", (long long)start, (long long)end);
    else cc_buf_puts(j, ",null,null]");
}

/* The summary of a trace document (?1) as part_cols rows. `ask` keeps only
 * what ASK shows: answer, citations, checks, trace id. */
static void trace_select(cc_buf *sql, int ask)
{
    cc_buf_puts(sql,
        "SELECT part, n, value, score, uri, chunk_id, start_char, end_char FROM ("
        "SELECT 1 AS o, 'trace' AS part, NULL AS n, ?1->>'$.trace_id' AS value, NULL AS score,"
        " NULL AS uri, NULL AS chunk_id, NULL AS start_char, NULL AS end_char"
        " UNION ALL SELECT 2, 'created_at', NULL, ?1->>'$.created_at', NULL, NULL, NULL, NULL, NULL"
        " UNION ALL SELECT 3, 'caller', NULL, ?1->>'$.caller', NULL, NULL, NULL, NULL, NULL"
        " UNION ALL SELECT 4, 'question', NULL, ?1->>'$.question', NULL, NULL, NULL, NULL, NULL"
        " UNION ALL SELECT 5, 'answer', NULL, ?1->>'$.answer.text', NULL, NULL, NULL, NULL, NULL"
        " UNION ALL SELECT 5.5, 'abstained', NULL, 'yes: the evidence was too thin', NULL,"
        " NULL, NULL, NULL, NULL WHERE ?1->>'$.answer.abstained'"
        " UNION ALL SELECT 6, 'citation', value->>'citation', value->>'text', NULL,"
        " value->>'document', value->>'chunk', value->>'start_char', value->>'end_char'"
        " FROM json_each(?1, '$.answer.sentences')"
        " UNION ALL SELECT 7, 'evidence', value->>'rank', NULL, value->>'score',"
        " value->>'document', value->>'chunk', NULL, NULL FROM json_each(?1, '$.fused')"
        " UNION ALL SELECT 8, 'graph', NULL, json_array_length(?1, '$.graph.seeds') || ' seeds, '"
        " || json_array_length(?1, '$.graph.triples') || ' triples', NULL, NULL, NULL, NULL, NULL"
        " UNION ALL SELECT 9, 'checks', NULL, CASE WHEN ?1->>'$.checks.ok' THEN 'ok' ELSE"
        " 'FAILED: ' || json_extract(?1, '$.checks') END, NULL, NULL, NULL, NULL, NULL"
        " UNION ALL SELECT 10, 'latency_ms', NULL, (SELECT group_concat(key || ' ' || value, ', ')"
        " FROM json_each(?1, '$.latency_ms')), NULL, NULL, NULL, NULL, NULL)");
    if (ask) cc_buf_puts(sql, " WHERE part IN ('answer', 'abstained', 'citation', 'checks',"
                              " 'trace')");
    cc_buf_puts(sql, ask ? " ORDER BY o = 1, o, n" : " ORDER BY o, n");
}

/* ---------------------------------------------------------------- ASK */

/* A read session's ASK appends its trace through a CC_KB_LOG handle of
 * its own (a log transaction: no writer lock, so it runs beside a writer;
 * ctx: the KB directory). */
static cc_status log_open(void *ctx, cc_kb **wkb)
{
    return cc_kb_open(ctx, CC_KB_READ | CC_KB_LOG, wkb);
}

static void log_done(void *ctx, cc_kb *wkb, const char *trace_id)
{
    (void)ctx;
    (void)trace_id;
    cc_kb_close(wkb);
}

static cc_status run_ask(cq_session *s, cq_stmt *st, char **param)
{
    cc_kb *kb = s->kb;
    ca_ask_opts o = {.k = st->k, .caller = "sql", .hops = st->hops};
    if (st->model && strcmp(st->model, "extractive")) o.model = st->model;   /* a GGUF file */
    else if (st->model) o.model = "";
    ca_answer *a = NULL;
    cc_status r;
    if (!s->writer) {
        o.trace_open = log_open;
        o.trace_done = log_done;
        o.trace_ctx = (void *)s->kbdir;
    }
    r = ca_ask(kb, st->arg, &o, &a);
    if (r) return fail(s, r, "ASK: %s", cc_kb_errmsg(kb));
    *param = a->trace_json;
    a->trace_json = NULL;
    ca_answer_free(a);
    trace_select(&st->sql, 1);
    return CC_OK;
}

/* ---------------------------------------------------------------- EXPLAIN ASK */

static cc_status run_explain(cq_session *s, cq_stmt *st, char **param)
{
    cr_search_opts so;
    cr_hit *hits = NULL;
    size_t nh = 0, i;
    int64_t k, hops = st->hops, budget, maxs, ids[100];
    double min_score;
    cg_subgraph g = {0};
    cg_subgraph_opts go = {st->hops, 0};
    sqlite3_stmt *q = NULL;
    cc_buf j = CC_BUF_INIT(0), line = CC_BUF_INIT(0);
    cc_status r;
    if (!st->arg[strspn(st->arg, " \t\r\n")])
        return fail(s, CC_INVALID, "EXPLAIN ASK: question is empty");
    if ((r = cc_kb_setting_i64(s->kb, "ask.k", 5, &k)) ||
        (!hops && (r = cc_kb_setting_i64(s->kb, "ask.graph_hops", 1, &hops))) ||
        (r = cc_kb_setting_i64(s->kb, "graph.budget", 60, &budget)) ||
        (r = cc_kb_setting_i64(s->kb, "ask.max_sentences", 3, &maxs)) ||
        (r = cc_kb_setting_f64(s->kb, "ask.min_score", 0.4, &min_score)) ||
        (r = cr_search_opts_from_kb(s->kb, &so)))
        return fail(s, r, "EXPLAIN ASK: %s", cc_kb_errmsg(s->kb));
    if (st->k) k = st->k;
    if (k < 1 || k > 100) return fail(s, CC_INVALID, "EXPLAIN ASK: k must be 1..100 (got %lld)",
                                      (long long)k);
    if (so.depth < k) so.depth = (int)k;
    so.k = (int)k;
    so.mode = CR_MODE_HYBRID;
    if (!s->se && (r = cr_searcher_open(s->kb, &s->se)))
        return fail(s, r, "EXPLAIN ASK: %s", cc_errmsg());
    if ((r = cr_searcher_search(s->se, st->arg, &so, &hits, &nh)))
        return fail(s, r, "EXPLAIN ASK: %s", cc_kb_errmsg(s->kb));
    for (i = 0; i < nh && i < 100; i++) ids[i] = hits[i].chunk_id;
    if ((r = cg_subgraph_extract(s->kb, st->arg, ids, nh < 100 ? nh : 100, &go, &g))) {
        free(hits);
        return fail(s, r, "EXPLAIN ASK: %s", cc_kb_errmsg(s->kb));
    }
    cc_buf_putc(&j, '[');
    cc_buf_printf(&line, "retrieve: hybrid search (BM25 + vector, RRF k = %g, weights %g/%g), "
                  "lanes to depth %d; the best %lld chunks are the evidence", so.fusion_k,
                  so.weight[0], so.weight[1], so.depth, (long long)k);
    if (cr_searcher_vector_status(s->se))
        cc_buf_printf(&line, " (vector lane off: %s)", cr_searcher_vector_status(s->se));
    part_row(&j, "plan", 1, line.data, NAN, NULL, 0, -1, -1);
    cc_buf_reset(&line);
    cc_buf_printf(&line, "graph: the subgraph within %lld hop%s of the entities named in the "
                  "question and in the evidence, best %lld triples with provenance",
                  (long long)hops, hops == 1 ? "" : "s", (long long)budget);
    part_row(&j, "plan", 2, line.data, NAN, NULL, 0, -1, -1);
    cc_buf_reset(&line);
    {
        const char *model = NULL;
        if (st->model) model = strcmp(st->model, "extractive") ? st->model : "";
        else if ((r = cc_kb_setting_str(s->kb, "ask.model", "", &model))) model = "";
        if (model && model[0])
            cc_buf_printf(&line, "generate: the GGUF model %s writes the answer from the assembled "
                          "prompt (evidence marked as untrusted data); uncited sentences flagged",
                          model);
        else
            cc_buf_printf(&line, "generate: extractive, at most %lld evidence sentences scoring %g "
                          "or more, each cited [n]; else abstain", (long long)maxs, min_score);
    }
    part_row(&j, "plan", 3, line.data, NAN, NULL, 0, -1, -1);
    part_row(&j, "plan", 4, "check: citations and numbers against the cited chunks; "
             "trace: not written (EXPLAIN)", NAN, NULL, 0, -1, -1);
    if (sqlite3_prepare_v2(cc_kb_db(s->kb), "SELECT d.uri, c.start_char, c.end_char, c.text"
                           " FROM chunks c JOIN documents d ON d.id = c.doc_id WHERE c.id = ?1",
                           -1, &q, NULL) != SQLITE_OK) {
        r = fail(s, CC_SQLITE, "EXPLAIN ASK: %s", sqlite3_errmsg(cc_kb_db(s->kb)));
        goto out;
    }
    for (i = 0; i < nh; i++) {
        sqlite3_bind_int64(q, 1, hits[i].chunk_id);
        if (sqlite3_step(q) == SQLITE_ROW) {
            const char *t = (const char *)sqlite3_column_text(q, 3);
            size_t n = 0, chars = 0;
            while (t && t[n] && chars < 80) {       /* the chunk's first 80 characters */
                n++;
                while (((unsigned char)t[n] & 0xC0) == 0x80) n++;
                chars++;
            }
            cc_buf_reset(&line);
            cc_buf_append(&line, t ? t : "", n);
            if (t && t[n]) cc_buf_puts(&line, "...");
            for (size_t c = 0; c < line.len; c++)
                if (line.data[c] == '\n' || line.data[c] == '\t' || line.data[c] == '\r')
                    line.data[c] = ' ';
            part_row(&j, "evidence", (int64_t)i + 1, line.data ? line.data : "", hits[i].score,
                     (const char *)sqlite3_column_text(q, 0), hits[i].chunk_id,
                     sqlite3_column_int64(q, 1), sqlite3_column_int64(q, 2));
        }
        sqlite3_reset(q);
    }
    for (i = 0; i < g.n_seeds; i++) {
        cc_buf_reset(&line);
        cc_buf_printf(&line, "%s (entity %lld, from the %s)", g.seeds[i].label,
                      (long long)g.seeds[i].entity_id, g.seeds[i].from);
        part_row(&j, "seed", (int64_t)i + 1, line.data, NAN, NULL, 0, -1, -1);
    }
    for (i = 0; i < g.n_triples; i++) {
        const cg_triple *t = &g.triples[i];
        const cg_prov *p = t->n_prov ? &t->prov[0] : NULL;
        cc_buf_reset(&line);
        cc_buf_printf(&line, "%s -[%s]-> %s (%s, support %d)", t->subject, t->predicate,
                      t->object, cg_rel_status_str(t->status), t->support);
        part_row(&j, "triple", (int64_t)i + 1, line.data, t->score, p ? p->doc_uri : NULL,
                 p ? p->chunk_id : 0, p ? p->start_char : -1, p ? p->end_char : -1);
    }
    if (cc_buf_putc(&j, ']')) { r = fail(s, CC_NOMEM, "out of memory"); goto out; }
    rows_select(&st->sql, part_cols, 8);
    *param = cc_buf_detach(&j);
out:
    sqlite3_finalize(q);
    cg_subgraph_free(&g);
    free(hits);
    cc_buf_free(&j);
    cc_buf_free(&line);
    return r;
}

/* ---------------------------------------------------------------- TRACE */

static cc_status run_trace(cq_session *s, cq_stmt *st, char **param)
{
    sqlite3_stmt *q = NULL;
    cc_status r = CC_OK;
    if (sqlite3_prepare_v2(cc_kb_db(s->kb), "SELECT json FROM traces WHERE id = ?1", -1, &q,
                           NULL) != SQLITE_OK)
        return fail(s, CC_SQLITE, "TRACE: %s", sqlite3_errmsg(cc_kb_db(s->kb)));
    sqlite3_bind_text(q, 1, st->arg, -1, SQLITE_STATIC);
    if (sqlite3_step(q) != SQLITE_ROW || !sqlite3_column_text(q, 0))
        r = fail(s, CC_NOTFOUND, "TRACE: no trace with id '%.100s' (SHOW TRACES lists them)",
                 st->arg);
    else if (!(*param = cc_strdup((const char *)sqlite3_column_text(q, 0))))
        r = fail(s, CC_NOMEM, "out of memory");
    sqlite3_finalize(q);
    if (r) return r;
    if (st->as_json) cc_buf_puts(&st->sql, "SELECT ?1 AS json");
    else trace_select(&st->sql, 0);
    return CC_OK;
}

static cc_status run_verify(cq_session *s, cq_stmt *st, char **param)
{
    static const char *const cols[] = { "traces", "status" };
    int64_t n = 0;
    cc_buf j = CC_BUF_INIT(0);
    if (ca_trace_verify(s->kb, &n) != CC_OK)
        return fail(s, CC_CORRUPT, "trace chain broken: %s", cc_kb_errmsg(s->kb));
    if (cc_buf_printf(&j, "[[%lld,\"chain intact\"]]", (long long)n))
        return fail(s, CC_NOMEM, "out of memory");
    rows_select(&st->sql, cols, 2);
    *param = cc_buf_detach(&j);
    return CC_OK;
}

/* ---------------------------------------------------------------- INGEST */

typedef struct paths { char **v; size_t n, cap; } paths;

static int paths_add(paths *l, const char *p)
{
    if (l->n == l->cap) {
        char **v = realloc(l->v, (l->cap = l->cap ? l->cap * 2 : 16) * sizeof *v);
        if (!v) return -1;
        l->v = v;
    }
    return (l->v[l->n] = cc_strdup(p)) ? (l->n++, 0) : -1;
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Files under path (sorted, hidden entries skipped, known types only when
 * walking a directory). Depth-bounded, so symlink cycles end. */
static cc_status walk(cq_session *s, paths *l, const char *path, int depth)
{
    struct stat sb;
    DIR *d;
    struct dirent *e;
    paths names = {0};
    size_t i;
    cc_status r = CC_OK;
    if (stat(path, &sb) != 0)
        return fail(s, CC_IO, "INGEST: %s: %s", path, strerror(errno));
    if (S_ISREG(sb.st_mode)) {
        if (depth && cr_format_from_path(path) == CR_FMT_UNKNOWN) return CC_OK;
        if (!depth && cr_format_from_path(path) == CR_FMT_UNKNOWN)
            return fail(s, CC_UNSUPPORTED, "INGEST: %s: unknown document type (supported: .txt "
                        ".md .html .htm .json .jsonl)", path);
        return paths_add(l, path) ? fail(s, CC_NOMEM, "out of memory") : CC_OK;
    }
    if (!S_ISDIR(sb.st_mode))
        return depth ? CC_OK : fail(s, CC_INVALID, "INGEST: %s: not a file or directory", path);
    if (depth >= 32) return fail(s, CC_INVALID, "INGEST: %s: directories nested deeper than 32 "
                                 "levels (a symbolic link loop?)", path);
    if (!(d = opendir(path))) return fail(s, CC_IO, "INGEST: %s: %s", path, strerror(errno));
    while ((e = readdir(d)))
        if (e->d_name[0] != '.' && paths_add(&names, e->d_name)) { r = fail(s, CC_NOMEM, "out of memory"); break; }
    closedir(d);
    if (names.n) qsort(names.v, names.n, sizeof *names.v, cmp_str);
    for (i = 0; i < names.n && !r; i++) {
        cc_buf child = CC_BUF_INIT(0);
        if (cc_buf_printf(&child, "%s/%s", path, names.v[i])) r = fail(s, CC_NOMEM, "out of memory");
        else r = walk(s, l, child.data, depth + 1);
        cc_buf_free(&child);
    }
    for (i = 0; i < names.n; i++) free(names.v[i]);
    free(names.v);
    return r;
}

#define INGEST_BATCH 256   /* files per commit at most; and ingest.batch_seconds */

static cc_status run_ingest(cq_session *s, cq_stmt *st, char **param)
{
    static const char *const cols[] = { "files", "added", "replaced", "unchanged", "chunks",
                                        "vectors" };
    paths l = {0};
    cr_ingest_opts o;
    cr_ingest_stats stats = {0};
    cr_vectors_stats vs = {0};
    cc_buf j = CC_BUF_INIT(0), first = CC_BUF_INIT(1024);
    size_t i, failed = 0, in_batch = 0;
    double batch_s, t0 = 0;
    cc_status r;
    if (!s->writer)
        return fail(s, CC_INVALID, "INGEST needs a writer session (cairn sql --write)");
    if (!*st->arg) return fail(s, CC_INVALID, "INGEST: the path is empty");
    if ((r = walk(s, &l, st->arg, 0))) goto out;
    if ((r = cr_ingest_batch_seconds(s->kb, &batch_s))) {
        fail(s, r, "INGEST: %s", cc_kb_errmsg(s->kb));
        goto out;
    }
    if ((r = cg_ingest_opts_from_kb(s->kb, &o))) {
        fail(s, r, "INGEST: %s", cc_kb_errmsg(s->kb));
        goto out;
    }
    for (i = 0; i < l.n; i++) {
        cc_status fr;
        if (!in_batch && (r = cc_kb_begin(s->kb))) {
            fail(s, r, "INGEST: %s", cc_kb_errmsg(s->kb));
            goto sync;
        }
        if (!in_batch) t0 = cc_now_ms();
        in_batch++;
        if ((fr = cr_ingest_file(s->kb, l.v[i], &o, &stats)) != CC_OK) {
            if (!failed++) cc_buf_printf(&first, "%s", cc_kb_errmsg(s->kb));
            if (fr == CC_FULL || fr == CC_NOMEM) { cc_kb_rollback(s->kb); in_batch = 0; break; }
        }
        if (in_batch == INGEST_BATCH || i + 1 == l.n || cc_now_ms() - t0 >= batch_s * 1000) {
            in_batch = 0;
            if ((r = cc_kb_commit(s->kb))) {
                fail(s, r, "INGEST: %s", cc_kb_errmsg(s->kb));
                goto sync;
            }
        }
    }
sync:
    /* derived indexes catch up, whatever happened above; the searcher is
     * reopened on the next search so it sees the new vectors */
    cr_searcher_close(s->se);
    s->se = NULL;
    if (cg_sync_derived(s->kb, &vs) != CC_OK && !r)
        r = fail(s, CC_ERROR, "INGEST: vectors: %s", cc_kb_errmsg(s->kb));
    if (r) goto out;
    if (failed) {
        r = fail(s, CC_INVALID, "INGEST: %zu of %zu file%s failed (the others are stored); the "
                 "first: %s", failed, l.n, l.n == 1 ? "" : "s", first.data ? first.data : "?");
        goto out;
    }
    cc_buf_printf(&j, "[[%zu,%lld,%lld,%lld,%lld,%lld]]", l.n, (long long)stats.docs_added,
                  (long long)stats.docs_replaced, (long long)stats.docs_unchanged,
                  (long long)stats.chunks_added, (long long)vs.added);
    rows_select(&st->sql, cols, 6);
    if (!(*param = cc_buf_detach(&j))) r = fail(s, CC_NOMEM, "out of memory");
out:
    for (i = 0; i < l.n; i++) free(l.v[i]);
    free(l.v);
    cc_buf_free(&j);
    cc_buf_free(&first);
    return r;
}

/* ---------------------------------------------------------------- DELETE */

static cc_status run_delete(cq_session *s, cq_stmt *st, char **param)
{
    static const char *const cols[] = { "document", "removed" };
    cc_buf key = CC_BUF_INIT(0), j = CC_BUF_INIT(0);
    int64_t n = 0;
    cr_vectors_stats vs;
    cc_status r;
    if (!s->writer)
        return fail(s, CC_INVALID, "DELETE DOCUMENT needs a writer session (cairn sql --write)");
    if (st->arg) cc_buf_puts(&key, st->arg);
    else cc_buf_printf(&key, "#%lld", (long long)st->doc_id);
    if (!key.data) return fail(s, CC_NOMEM, "out of memory");
    if ((r = cr_doc_remove(s->kb, key.data, &n)) != CC_OK) {
        fail(s, r, "DELETE DOCUMENT: %s", cc_kb_errmsg(s->kb));
        cc_buf_free(&key);
        return r;
    }
    cr_searcher_close(s->se);
    s->se = NULL;
    if ((r = cg_sync_derived(s->kb, &vs)) != CC_OK) {
        fail(s, r, "DELETE DOCUMENT: vectors: %s", cc_kb_errmsg(s->kb));
        cc_buf_free(&key);
        return r;
    }
    cc_buf_putc(&j, '[');
    cc_buf_putc(&j, '[');
    cc_buf_json_str(&j, key.data, key.len);
    cc_buf_printf(&j, ",%lld]]", (long long)n);
    cc_buf_free(&key);
    rows_select(&st->sql, cols, 2);
    if (!(*param = cc_buf_detach(&j))) return fail(s, CC_NOMEM, "out of memory");
    return CC_OK;
}

/* ---------------------------------------------------------------- SPARQL */

/* An SQL identifier "name" ("" doubled). */
static void put_ident(cc_buf *b, const char *name)
{
    cc_buf_putc(b, '"');
    for (; *name; name++) {
        if (*name == '"') cc_buf_putc(b, '"');
        cc_buf_putc(b, *name);
    }
    cc_buf_putc(b, '"');
}

/* An SQL string literal 'text' ('' doubled). */
static void put_str(cc_buf *b, const char *text)
{
    cc_buf_putc(b, '\'');
    for (; *text; text++) {
        if (*text == '\'') cc_buf_putc(b, '\'');
        cc_buf_putc(b, *text);
    }
    cc_buf_putc(b, '\'');
}

/* Runs the query read-only in the graph library (which parses it and
 * refuses update forms) with the session's time limit and the statement's
 * LIMIT (default 1000, the library's); the JSON answer is shown through a
 * SELECT over json_each. */
static cc_status run_sparql(cq_session *s, cq_stmt *st, char **param)
{
    cc_buf j = CC_BUF_INIT(0);
    sqlite3_stmt *q = NULL;
    const char *type;
    int nv = 0, rc = SQLITE_DONE;
    cc_status r;
    /* 0 = no time limit in the session: an hour, as the library needs one */
    r = cg_sparql_exec(s->kb, st->arg, st->k > 0 ? (size_t)st->k : 0,
                       s->timeout_ms ? s->timeout_ms : 3600000, &j);
    if (r) {
        cc_buf_free(&j);
        return fail(s, r, "%s", cc_kb_errmsg(s->kb));
    }
    if (!j.data) return fail(s, CC_NOMEM, "out of memory");
    if (sqlite3_prepare_v2(s->db, "SELECT ?1->>'$.type' UNION ALL"
                           " SELECT value FROM json_each(?1, '$.vars')", -1, &q, NULL)
        != SQLITE_OK) {
        cc_buf_free(&j);
        return fail(s, CC_SQLITE, "SPARQL: %s", sqlite3_errmsg(s->db));
    }
    sqlite3_bind_text(q, 1, j.data, (int)j.len, SQLITE_STATIC);
    cc_buf_puts(&st->sql, "SELECT ");
    type = NULL;
    while ((rc = sqlite3_step(q)) == SQLITE_ROW) {     /* the type, then the variables */
        const char *v = (const char *)sqlite3_column_text(q, 0);
        if (!v) continue;
        if (!type) { if (!(type = sqlite3_mprintf("%s", v))) break; continue; }
        cc_buf_puts(&st->sql, nv++ ? ", value->" : "value->");
        put_str(&st->sql, v);
        cc_buf_puts(&st->sql, "->>'value' AS ");
        put_ident(&st->sql, v);
    }
    if (rc != SQLITE_DONE) r = fail(s, CC_SQLITE, "SPARQL: %s", sqlite3_errmsg(s->db));
    else if (type && !strcmp(type, "select") && nv)
        cc_buf_puts(&st->sql, " FROM json_each(?1, '$.rows') ORDER BY key");
    else if (type && !strcmp(type, "select"))      /* no variables: no columns to show */
        cc_buf_puts(&st->sql, "NULL AS result WHERE 0");
    else if (type && !strcmp(type, "ask"))
        cc_buf_puts(&st->sql, "CASE WHEN ?1->>'$.boolean' THEN 'true' ELSE 'false' END"
                              " AS boolean");
    else if (type && !strcmp(type, "graph"))
        cc_buf_puts(&st->sql, "value->0->>'value' AS subject, value->1->>'value' AS predicate,"
                              " value->2->>'value' AS object FROM json_each(?1, '$.triples')"
                              " ORDER BY key");
    else r = fail(s, CC_ERROR, "SPARQL: unexpected answer from the graph library");
    sqlite3_free((char *)type);
    sqlite3_finalize(q);
    if (!r && !(*param = cc_buf_detach(&j))) r = fail(s, CC_NOMEM, "out of memory");
    cc_buf_free(&j);
    return r;
}

/* ---------------------------------------------------------------- dispatch */

cc_status cq_stmt_run(cq_session *s, cq_stmt *st, char **param)
{
    *param = NULL;
    st->sql.len = 0;
    switch (st->kind) {
    case CQ_K_ASK: return run_ask(s, st, param);
    case CQ_K_EXPLAIN_ASK: return run_explain(s, st, param);
    case CQ_K_TRACE: return run_trace(s, st, param);
    case CQ_K_VERIFY: return run_verify(s, st, param);
    case CQ_K_INGEST: return run_ingest(s, st, param);
    case CQ_K_DELETE: return run_delete(s, st, param);
    case CQ_K_SPARQL: return run_sparql(s, st, param);
    default: C_ASSERT(!"not one of stmt.c's statements");
    }
    return CC_ERROR;
}
