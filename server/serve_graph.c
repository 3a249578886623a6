/* serve_graph.c — `cairn serve` routes over the knowledge graph (the
 * catalog's entities, aliases, mentions and relations):
 *   GET  /v1/graph/entities?q=TEXT&type=T&limit=N&offset=M
 *        entities whose names match every word of q (FTS5 over entity
 *        names; without q: all, by id), with their mention counts;
 *   GET  /v1/graph/entities/{id}
 *        one entity with its aliases, mentions (first 100) and relations
 *        (first 200, either direction); a merged entity says where to;
 *   POST /v1/graph/subgraph {"question", "chunks": [ids], "hops", "budget"}
 *        cg_subgraph_extract: seeds and scored triples with provenance;
 *   POST /v1/sparql {"query", "limit": 1..1000000, "timeout_ms": 1..60000}
 *        cg_sparql_exec over the Redland store, read-only: its JSON answer
 *        as it is (SPARQL 1.1 JSON result terms). limit defaults to 1000,
 *        timeout_ms to 10000. The store first catches up with every write
 *        acknowledged before the request (serve_graph_wait). Update forms and queries that do not parse
 *        are 400 bad_query with the library's message; past the time limit
 *        400 query_timeout (the caller chose the limit, as /v1/sql's
 *        statement_timeout); no store 404 no_graph_store; a writer holding
 *        the graph lock past 10 s 503 busy; an answer too large 413. */
#define _GNU_SOURCE
#include "serve.h"
#include "graph.h"

#include <sqlite3.h>
#include <string.h>

static cJSON *col_str(cJSON *o, const char *name, sqlite3_stmt *st, int c)
{
    const char *v = (const char *)sqlite3_column_text(st, c);
    return v ? cJSON_AddStringToObject(o, name, v) : cJSON_AddNullToObject(o, name);
}

/* "harbor auth" -> "\"harbor\" \"auth\"" (each word a quoted FTS5 string). */
static cc_status fts_query(const char *q, cc_buf *out)
{
    const char *p = q;
    while (*p) {
        size_t n;
        while (*p == ' ' || *p == '\t') p++;
        n = strcspn(p, " \t");
        if (!n) break;
        if (out->len) cc_buf_putc(out, ' ');
        cc_buf_putc(out, '"');
        for (size_t i = 0; i < n; i++) {
            if (p[i] == '"') cc_buf_putc(out, '"');
            cc_buf_putc(out, p[i]);
        }
        if (cc_buf_putc(out, '"') != CC_OK) return CC_TOOBIG;
        p += n;
    }
    return CC_OK;
}

enum MHD_Result serve_graph_entities(serve_req *r)
{
    const char *q = MHD_lookup_connection_value(r->c, MHD_GET_ARGUMENT_KIND, "q");
    const char *type = MHD_lookup_connection_value(r->c, MHD_GET_ARGUMENT_KIND, "type");
    const char *l = MHD_lookup_connection_value(r->c, MHD_GET_ARGUMENT_KIND, "limit");
    const char *o = MHD_lookup_connection_value(r->c, MHD_GET_ARGUMENT_KIND, "offset");
    int64_t limit = 50, offset = 0;
    cc_buf fq = CC_BUF_INIT(4096);
    serve_slot *s;
    sqlite3_stmt *st = NULL;
    cJSON *out, *arr;
    enum MHD_Result ret;
    if ((l && cc_parse_i64(l, 1, 1000, &limit) != CC_OK) ||
        (o && cc_parse_i64(o, 0, INT64_MAX, &offset) != CC_OK))
        return serve_send_error(r, 400, "bad_parameter", "limit must be an integer in 1..1000 and offset >= 0");
    if (q && (cc_utf8_check(q, strlen(q)) < strlen(q) || fts_query(q, &fq) != CC_OK)) {
        cc_buf_free(&fq);
        return serve_send_error(r, 400, "bad_parameter", "q must be valid UTF-8, at most 4 KiB");
    }
    s = serve_slot_take();
    if (!s->kb) {
        serve_slot_give(s);
        cc_buf_free(&fq);
        return serve_send_error(r, 500, "internal", "cannot open the KB: %s", cc_errmsg());
    }
    if (fq.len)
        sqlite3_prepare_v2(cc_kb_db(s->kb), "SELECT e.id, e.label, e.type,"
                           " (SELECT count(*) FROM mentions m WHERE m.entity_id = e.id)"
                           " FROM entity_names n JOIN entities e ON e.id = n.rowid"
                           " WHERE entity_names MATCH ?1 AND e.merged_into IS NULL"
                           " AND (?2 IS NULL OR e.type = ?2)"
                           " ORDER BY n.rank LIMIT ?3 OFFSET ?4", -1, &st, NULL);
    else
        sqlite3_prepare_v2(cc_kb_db(s->kb), "SELECT e.id, e.label, e.type,"
                           " (SELECT count(*) FROM mentions m WHERE m.entity_id = e.id)"
                           " FROM entities e WHERE ?1 IS NULL AND e.merged_into IS NULL"
                           " AND (?2 IS NULL OR e.type = ?2)"
                           " ORDER BY e.id LIMIT ?3 OFFSET ?4", -1, &st, NULL);
    if (!st) {
        ret = serve_send_error(r, 500, "internal", "%s", sqlite3_errmsg(cc_kb_db(s->kb)));
        goto out;
    }
    if (fq.len) sqlite3_bind_text(st, 1, fq.data, (int)fq.len, SQLITE_STATIC);
    if (type) sqlite3_bind_text(st, 2, type, -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 3, limit + 1);
    sqlite3_bind_int64(st, 4, offset);
    out = cJSON_CreateObject();
    arr = cJSON_AddArrayToObject(out, "entities");
    while (sqlite3_step(st) == SQLITE_ROW) {
        cJSON *e;
        if (cJSON_GetArraySize(arr) == limit) {
            cJSON_AddNumberToObject(out, "next_offset", (double)(offset + limit));
            break;
        }
        e = cJSON_CreateObject();
        cJSON_AddNumberToObject(e, "id", (double)sqlite3_column_int64(st, 0));
        col_str(e, "label", st, 1);
        col_str(e, "type", st, 2);
        cJSON_AddNumberToObject(e, "mentions", (double)sqlite3_column_int64(st, 3));
        cJSON_AddItemToArray(arr, e);
    }
    cJSON_AddNumberToObject(out, "count", cJSON_GetArraySize(arr));
    ret = serve_send_json(r, 200, out);
out:
    sqlite3_finalize(st);
    serve_slot_give(s);
    cc_buf_free(&fq);
    return ret;
}

/* Adds an array `name` with the rows of `sql` (bound ?1 = id); each row an
 * object with the given column names (NULL name: skip the column; a name
 * starting with '#' is a number). */
static int add_rows(cJSON *o, const char *name, sqlite3 *db, const char *sql, int64_t id,
                    const char *const *cols, int n_cols)
{
    sqlite3_stmt *st = NULL;
    cJSON *arr = cJSON_AddArrayToObject(o, name);
    if (sqlite3_prepare_v2(db, sql, -1, &st, NULL) != SQLITE_OK) return -1;
    sqlite3_bind_int64(st, 1, id);
    while (sqlite3_step(st) == SQLITE_ROW) {
        cJSON *row = cJSON_CreateObject();
        for (int c = 0; c < n_cols; c++) {
            if (cols[c][0] == '#') {
                if (sqlite3_column_type(st, c) == SQLITE_NULL) cJSON_AddNullToObject(row, cols[c] + 1);
                else cJSON_AddNumberToObject(row, cols[c] + 1, sqlite3_column_double(st, c));
            } else {
                col_str(row, cols[c], st, c);
            }
        }
        cJSON_AddItemToArray(arr, row);
    }
    sqlite3_finalize(st);
    return 0;
}

enum MHD_Result serve_graph_entity(serve_req *r)
{
    static const char *const alias_cols[] = {"alias", "source"};
    static const char *const mention_cols[] = {"#chunk", "document", "#document_id", "#start_char",
                                               "#end_char", "surface", "extractor", "#confidence"};
    static const char *const rel_cols[] = {"#id", "#subject_id", "subject", "predicate",
                                           "#object_id", "object", "#chunk", "document",
                                           "#start_char", "#end_char", "pattern", "status",
                                           "#confidence"};
    int64_t id;
    serve_slot *s;
    sqlite3_stmt *st = NULL;
    sqlite3 *db;
    cJSON *e;
    enum MHD_Result ret;
    if (cc_parse_i64(r->param, 1, INT64_MAX, &id) != CC_OK)
        return serve_send_error(r, 404, "not_found", "no such resource: %s (entity ids are integers)", r->url);
    s = serve_slot_take();
    if (!s->kb) {
        serve_slot_give(s);
        return serve_send_error(r, 500, "internal", "cannot open the KB: %s", cc_errmsg());
    }
    db = cc_kb_db(s->kb);
    sqlite3_prepare_v2(db, "SELECT id, label, type, merged_into FROM entities WHERE id = ?1", -1,
                       &st, NULL);
    sqlite3_bind_int64(st, 1, id);
    if (!st || sqlite3_step(st) != SQLITE_ROW) {
        sqlite3_finalize(st);
        serve_slot_give(s);
        return serve_send_error(r, 404, "not_found", "no entity with id %lld", (long long)id);
    }
    e = cJSON_CreateObject();
    cJSON_AddNumberToObject(e, "id", (double)id);
    col_str(e, "label", st, 1);
    col_str(e, "type", st, 2);
    if (sqlite3_column_type(st, 3) == SQLITE_NULL) cJSON_AddNullToObject(e, "merged_into");
    else cJSON_AddNumberToObject(e, "merged_into", (double)sqlite3_column_int64(st, 3));
    sqlite3_finalize(st);
    if (add_rows(e, "aliases", db, "SELECT alias, source FROM aliases WHERE entity_id = ?1"
                 " ORDER BY alias", id, alias_cols, 2) ||
        add_rows(e, "mentions", db, "SELECT m.chunk_id, d.uri, d.id, m.start_char, m.end_char,"
                 " m.surface, m.extractor, m.confidence FROM mentions m"
                 " JOIN chunks c ON c.id = m.chunk_id JOIN documents d ON d.id = c.doc_id"
                 " WHERE m.entity_id = ?1 ORDER BY m.id LIMIT 100", id, mention_cols, 8) ||
        add_rows(e, "relations", db, "SELECT r.id, r.subject_id, s.label, r.predicate,"
                 " r.object_id, o.label, r.chunk_id, d.uri, r.start_char, r.end_char, r.pattern,"
                 " r.status, r.confidence FROM relations r"
                 " JOIN entities s ON s.id = r.subject_id JOIN entities o ON o.id = r.object_id"
                 " LEFT JOIN chunks c ON c.id = r.chunk_id LEFT JOIN documents d ON d.id = c.doc_id"
                 " WHERE r.subject_id = ?1 OR r.object_id = ?1 ORDER BY r.id LIMIT 200", id,
                 rel_cols, 13)) {
        cJSON_Delete(e);
        ret = serve_send_error(r, 500, "internal", "%s", sqlite3_errmsg(db));
    } else {
        sqlite3_prepare_v2(db, "SELECT count(*) FROM mentions WHERE entity_id = ?1", -1, &st, NULL);
        sqlite3_bind_int64(st, 1, id);
        if (st && sqlite3_step(st) == SQLITE_ROW)
            cJSON_AddNumberToObject(e, "mentions_total", (double)sqlite3_column_int64(st, 0));
        sqlite3_finalize(st);
        ret = serve_send_json(r, 200, e);
    }
    serve_slot_give(s);
    return ret;
}

enum MHD_Result serve_graph_subgraph(serve_req *r)
{
    static const char *const fields[] = {"question", "chunks", "hops", "budget", NULL};
    cJSON *j, *q, *ch, *hj, *bj, *out, *arr, *m;
    cg_subgraph_opts o = {0};
    cg_subgraph g = {0};
    int64_t ids[256];
    size_t n_ids = 0, i, p;
    serve_slot *s;
    enum MHD_Result ret;
    if (!(j = serve_parse_body(r))) return MHD_YES;
    if (serve_check_fields(r, j, fields, "sann")) { cJSON_Delete(j); return MHD_YES; }
    q = cJSON_GetObjectItemCaseSensitive(j, "question");
    ch = cJSON_GetObjectItemCaseSensitive(j, "chunks");
    hj = cJSON_GetObjectItemCaseSensitive(j, "hops");
    bj = cJSON_GetObjectItemCaseSensitive(j, "budget");
    if ((!q || !*q->valuestring) && (!ch || !cJSON_GetArraySize(ch))) {
        cJSON_Delete(j);
        return serve_send_error(r, 400, "bad_field", "give a \"question\" or \"chunks\" (chunk ids), or both");
    }
    if (ch) {
        if (cJSON_GetArraySize(ch) > (int)(sizeof ids / sizeof *ids)) {
            cJSON_Delete(j);
            return serve_send_error(r, 400, "bad_field", "field \"chunks\": at most %zu ids",
                                    sizeof ids / sizeof *ids);
        }
        cJSON_ArrayForEach(m, ch) {
            if (!cJSON_IsNumber(m) || m->valuedouble < 1 || m->valuedouble > 9e15 ||
                m->valuedouble != (double)(int64_t)m->valuedouble) {
                cJSON_Delete(j);
                return serve_send_error(r, 400, "bad_field", "field \"chunks\" must hold positive integer chunk ids");
            }
            ids[n_ids++] = (int64_t)m->valuedouble;
        }
    }
    if (hj) {
        if (!(hj->valuedouble >= 1 && hj->valuedouble <= 4) || hj->valuedouble != (int)hj->valuedouble) {
            cJSON_Delete(j);
            return serve_send_error(r, 400, "bad_field", "field \"hops\" must be an integer in 1..4");
        }
        o.hops = (int)hj->valuedouble;
    }
    if (bj) {
        if (!(bj->valuedouble >= 1 && bj->valuedouble <= 10000) || bj->valuedouble != (int)bj->valuedouble) {
            cJSON_Delete(j);
            return serve_send_error(r, 400, "bad_field", "field \"budget\" must be an integer in 1..10000");
        }
        o.budget = (int)bj->valuedouble;
    }
    s = serve_slot_take();
    if (!s->kb) {
        serve_slot_give(s);
        cJSON_Delete(j);
        return serve_send_error(r, 500, "internal", "cannot open the KB: %s", cc_errmsg());
    }
    if (cg_subgraph_extract(s->kb, q ? q->valuestring : NULL, ids, n_ids, &o, &g) != CC_OK) {
        ret = serve_send_error(r, 400, "bad_request", "%s", cc_kb_errmsg(s->kb));
        serve_slot_give(s);
        cJSON_Delete(j);
        return ret;
    }
    serve_slot_give(s);
    out = cJSON_CreateObject();
    arr = cJSON_AddArrayToObject(out, "seeds");
    for (i = 0; i < g.n_seeds; i++) {
        cJSON *e = cJSON_CreateObject();
        cJSON_AddNumberToObject(e, "entity_id", (double)g.seeds[i].entity_id);
        cJSON_AddStringToObject(e, "label", g.seeds[i].label ? g.seeds[i].label : "");
        cJSON_AddStringToObject(e, "from", g.seeds[i].from ? g.seeds[i].from : "");
        cJSON_AddItemToArray(arr, e);
    }
    arr = cJSON_AddArrayToObject(out, "triples");
    for (i = 0; i < g.n_triples; i++) {
        const cg_triple *t = &g.triples[i];
        cJSON *e = cJSON_CreateObject(), *pa;
        cJSON_AddNumberToObject(e, "subject_id", (double)t->subject_id);
        cJSON_AddStringToObject(e, "subject", t->subject ? t->subject : "");
        cJSON_AddStringToObject(e, "predicate", t->predicate ? t->predicate : "");
        cJSON_AddNumberToObject(e, "object_id", (double)t->object_id);
        cJSON_AddStringToObject(e, "object", t->object ? t->object : "");
        cJSON_AddStringToObject(e, "status", cg_rel_status_str(t->status));
        cJSON_AddNumberToObject(e, "confidence", t->confidence);
        cJSON_AddNumberToObject(e, "support", t->support);
        cJSON_AddNumberToObject(e, "hops", t->hops);
        cJSON_AddNumberToObject(e, "score", t->score);
        pa = cJSON_AddArrayToObject(e, "provenance");
        for (p = 0; p < t->n_prov; p++) {
            const cg_prov *v = &t->prov[p];
            cJSON *x = cJSON_CreateObject();
            cJSON_AddNumberToObject(x, "chunk", (double)v->chunk_id);
            cJSON_AddNumberToObject(x, "document_id", (double)v->doc_id);
            cJSON_AddStringToObject(x, "document", v->doc_uri ? v->doc_uri : "");
            cJSON_AddNumberToObject(x, "start_char", (double)v->start_char);
            cJSON_AddNumberToObject(x, "end_char", (double)v->end_char);
            cJSON_AddItemToArray(pa, x);
        }
        cJSON_AddItemToArray(arr, e);
    }
    cJSON_AddNumberToObject(out, "count", (double)g.n_triples);
    cg_subgraph_free(&g);
    cJSON_Delete(j);
    return serve_send_json(r, 200, out);
}

enum MHD_Result serve_sparql(serve_req *r)
{
    static const char *const fields[] = {"query", "limit", "timeout_ms", NULL};
    cJSON *j, *q, *lj, *tj;
    int64_t limit = 0, timeout = 10000;
    cc_buf out = CC_BUF_INIT(0);
    serve_slot *s;
    cc_status st;
    enum MHD_Result ret;
    if (!(j = serve_parse_body(r))) return MHD_YES;
    if (serve_check_fields(r, j, fields, "snn")) { cJSON_Delete(j); return MHD_YES; }
    q = cJSON_GetObjectItemCaseSensitive(j, "query");
    lj = cJSON_GetObjectItemCaseSensitive(j, "limit");
    tj = cJSON_GetObjectItemCaseSensitive(j, "timeout_ms");
    if (!q || !*q->valuestring) {
        cJSON_Delete(j);
        return serve_send_error(r, 400, "bad_field", "field \"query\" (a non-empty string) is required");
    }
    if (lj) {
        if (!(lj->valuedouble >= 1 && lj->valuedouble <= 1000000) ||
            lj->valuedouble != (int64_t)lj->valuedouble) {
            cJSON_Delete(j);
            return serve_send_error(r, 400, "bad_field", "field \"limit\" must be an integer in 1..1000000");
        }
        limit = (int64_t)lj->valuedouble;
    }
    if (tj) {
        if (!(tj->valuedouble >= 1 && tj->valuedouble <= 60000) ||
            tj->valuedouble != (int64_t)tj->valuedouble) {
            cJSON_Delete(j);
            return serve_send_error(r, 400, "bad_field", "field \"timeout_ms\" must be an integer in 1..60000");
        }
        timeout = (int64_t)tj->valuedouble;
    }
    /* read-your-writes: the store catches up first with every write
     * acknowledged before this request (it lags them otherwise); no
     * reader slot is held meanwhile */
    if (serve_graph_wait() != CC_OK) {
        cJSON_Delete(j);
        return serve_send_error(r, 503, "busy", "%s; retry", cc_errmsg());
    }
    s = serve_slot_take();
    if (!s->kb) {
        serve_slot_give(s);
        cJSON_Delete(j);
        return serve_send_error(r, 500, "internal", "cannot open the KB: %s", cc_errmsg());
    }
    st = cg_sparql_exec(s->kb, q->valuestring, (size_t)limit, timeout, &out);
    if (st == CC_OK)
        ret = serve_send_buf(r, 200, "application/json", out.data ? out.data : "{}", out.len, NULL);
    else if (st == CC_INVALID)
        ret = serve_send_error(r, 400, "bad_query", "%s", cc_kb_errmsg(s->kb));
    else if (st == CC_INTERRUPTED)
        ret = serve_send_error(r, 400, "query_timeout", "%s", cc_kb_errmsg(s->kb));
    else if (st == CC_NOTFOUND)
        ret = serve_send_error(r, 404, "no_graph_store", "%s", cc_kb_errmsg(s->kb));
    else if (st == CC_BUSY)
        ret = serve_send_error(r, 503, "busy", "%s", cc_kb_errmsg(s->kb));
    else if (st == CC_TOOBIG && cg_sparql_over_memory())
        ret = serve_send_error(r, 400, "query_memory", "%s", cc_kb_errmsg(s->kb));
    else if (st == CC_TOOBIG)
        ret = serve_send_error(r, 413, "result_too_large", "%s", cc_kb_errmsg(s->kb));
    else
        ret = serve_send_error(r, 500, "internal", "%s", cc_kb_errmsg(s->kb));
    serve_slot_give(s);
    cc_buf_free(&out);
    cJSON_Delete(j);
    return ret;
}
