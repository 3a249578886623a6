/* serve_docs.c — `cairn serve` routes over documents: POST /v1/search,
 * GET /v1/documents (paged), GET and DELETE /v1/documents/{id}, and
 * POST /v1/documents (JSON body). */
#define _GNU_SOURCE
#include "serve.h"
#include "graph.h"

#include <sqlite3.h>
#include <string.h>

/* ---------------------------------------------------------------- search */

enum MHD_Result serve_search(serve_req *r)
{
    static const char *const fields[] = {"query", "mode", "k", "weights", NULL};
    cJSON *j = serve_parse_body(r), *q, *mode, *k, *w, *out, *arr;
    cr_search_opts so;
    cr_hit *hits = NULL;
    size_t n = 0, i;
    serve_slot *s;
    sqlite3_stmt *st = NULL;
    enum MHD_Result ret;
    if (!j) return MHD_YES;
    if (serve_check_fields(r, j, fields, "ssno")) { cJSON_Delete(j); return MHD_YES; }
    q = cJSON_GetObjectItemCaseSensitive(j, "query");
    mode = cJSON_GetObjectItemCaseSensitive(j, "mode");
    k = cJSON_GetObjectItemCaseSensitive(j, "k");
    w = cJSON_GetObjectItemCaseSensitive(j, "weights");
    if (!q || !*q->valuestring) {
        cJSON_Delete(j);
        return serve_send_error(r, 400, "bad_field", "field \"query\" (a non-empty string) is required");
    }
    s = serve_slot_take();
    if (!s->kb || !s->se) {
        serve_slot_give(s);
        cJSON_Delete(j);
        return serve_send_error(r, 500, "internal", "cannot open the KB: %s", cc_errmsg());
    }
    if (cr_search_opts_from_kb(s->kb, &so) != CC_OK) {
        ret = serve_send_error(r, 500, "internal", "%s", cc_kb_errmsg(s->kb));
        goto out;
    }
    if (mode) {
        const char *m = mode->valuestring;
        if (!strcmp(m, "bm25")) so.mode = CR_MODE_BM25;
        else if (!strcmp(m, "vector")) so.mode = CR_MODE_VECTOR;
        else if (!strcmp(m, "hybrid")) so.mode = CR_MODE_HYBRID;
        else { ret = serve_send_error(r, 400, "bad_field", "field \"mode\": use bm25, vector or hybrid"); goto out; }
    }
    if (k) {
        if (!(k->valuedouble >= 1 && k->valuedouble <= 10000) ||
            k->valuedouble != (int)k->valuedouble) {
            ret = serve_send_error(r, 400, "bad_field", "field \"k\" must be an integer in 1..10000");
            goto out;
        }
        so.k = (int)k->valuedouble;
    }
    if (w) {
        cJSON *m;
        cJSON_ArrayForEach(m, w) {
            int lane = !strcmp(m->string, "bm25") ? CR_LANE_BM25
                     : !strcmp(m->string, "vector") ? CR_LANE_VECTOR : -1;
            if (lane < 0 || !cJSON_IsNumber(m) || m->valuedouble < 0) {
                ret = serve_send_error(r, 400, "bad_field", "field \"weights\": use {\"bm25\": B, \"vector\": V} with numbers >= 0 (got \"%s\")", m->string);
                goto out;
            }
            so.weight[lane] = m->valuedouble;
        }
    }
    if (cr_searcher_search(s->se, q->valuestring, &so, &hits, &n) != CC_OK) {
        ret = serve_send_error(r, 400, "bad_query", "%s", cc_kb_errmsg(s->kb));
        goto out;
    }
    out = cJSON_CreateObject();
    arr = cJSON_AddArrayToObject(out, "hits");
    sqlite3_prepare_v2(cc_kb_db(s->kb), "SELECT d.uri, d.id, c.ordinal, substr(c.text, 1, 160)"
                       " FROM chunks c JOIN documents d ON d.id = c.doc_id WHERE c.id = ?1",
                       -1, &st, NULL);
    for (i = 0; st && i < n; i++) {
        cJSON *h;
        sqlite3_bind_int64(st, 1, hits[i].chunk_id);
        if (sqlite3_step(st) == SQLITE_ROW) {
            h = cJSON_CreateObject();
            cJSON_AddNumberToObject(h, "rank", (double)i + 1);
            cJSON_AddNumberToObject(h, "chunk", (double)hits[i].chunk_id);
            cJSON_AddNumberToObject(h, "score", hits[i].score);
            cJSON_AddStringToObject(h, "document", (const char *)sqlite3_column_text(st, 0));
            cJSON_AddNumberToObject(h, "document_id", (double)sqlite3_column_int64(st, 1));
            cJSON_AddNumberToObject(h, "ordinal", sqlite3_column_int(st, 2));
            cJSON_AddStringToObject(h, "snippet", (const char *)sqlite3_column_text(st, 3));
            cJSON_AddItemToArray(arr, h);
        }
        sqlite3_reset(st);
    }
    sqlite3_finalize(st);
    cJSON_AddNumberToObject(out, "count", cJSON_GetArraySize(arr));
    if (cr_searcher_vector_status(s->se))
        cJSON_AddStringToObject(out, "note", cr_searcher_vector_status(s->se));
    ret = serve_send_json(r, 200, out);
out:
    free(hits);
    serve_slot_give(s);
    cJSON_Delete(j);
    return ret;
}

/* ---------------------------------------------------------------- documents */

static cJSON *doc_json(sqlite3_stmt *st)
{
    cJSON *d = cJSON_CreateObject();
    const char *title = (const char *)sqlite3_column_text(st, 3);
    cJSON_AddNumberToObject(d, "id", (double)sqlite3_column_int64(st, 0));
    cJSON_AddStringToObject(d, "uri", (const char *)sqlite3_column_text(st, 1));
    cJSON_AddStringToObject(d, "format", (const char *)sqlite3_column_text(st, 2));
    if (title) cJSON_AddStringToObject(d, "title", title);
    else cJSON_AddNullToObject(d, "title");
    cJSON_AddNumberToObject(d, "version", sqlite3_column_int(st, 4));
    cJSON_AddNumberToObject(d, "bytes", (double)sqlite3_column_int64(st, 5));
    cJSON_AddNumberToObject(d, "chunks", (double)sqlite3_column_int64(st, 6));
    cJSON_AddStringToObject(d, "ingested_at", (const char *)sqlite3_column_text(st, 7));
    return d;
}

#define DOC_COLS "id, uri, format, title, version, bytes, n_chunks, ingested_at"

/* GET /v1/documents?limit=N&offset=M or GET /v1/documents/{id} (id >= 0). */
static enum MHD_Result do_get_docs(serve_req *r, int64_t id)
{
    serve_slot *s = serve_slot_take();
    sqlite3_stmt *st = NULL;
    cJSON *out;
    int64_t limit = 50, offset = 0;
    enum MHD_Result ret;
    if (id < 0) {
        const char *l = MHD_lookup_connection_value(r->c, MHD_GET_ARGUMENT_KIND, "limit");
        const char *o = MHD_lookup_connection_value(r->c, MHD_GET_ARGUMENT_KIND, "offset");
        if ((l && cc_parse_i64(l, 1, 1000, &limit) != CC_OK) ||
            (o && cc_parse_i64(o, 0, INT64_MAX, &offset) != CC_OK)) {
            serve_slot_give(s);
            return serve_send_error(r, 400, "bad_parameter",
                              "limit must be an integer in 1..1000 and offset >= 0");
        }
    }
    if (!s->kb) {
        serve_slot_give(s);
        return serve_send_error(r, 500, "internal", "cannot open the KB: %s", cc_errmsg());
    }
    if (id >= 0) {
        sqlite3_prepare_v2(cc_kb_db(s->kb), "SELECT " DOC_COLS " FROM documents"
                           " WHERE id = ?1 AND deleted = 0", -1, &st, NULL);
        sqlite3_bind_int64(st, 1, id);
        if (st && sqlite3_step(st) == SQLITE_ROW) {
            ret = serve_send_json(r, 200, doc_json(st));
        } else {
            ret = serve_send_error(r, 404, "not_found", "no document with id %lld",
                             (long long)id);
        }
    } else {
        cJSON *arr;
        out = cJSON_CreateObject();
        arr = cJSON_AddArrayToObject(out, "documents");
        sqlite3_prepare_v2(cc_kb_db(s->kb), "SELECT " DOC_COLS " FROM documents"
                           " WHERE deleted = 0 ORDER BY id LIMIT ?1 OFFSET ?2", -1, &st, NULL);
        sqlite3_bind_int64(st, 1, limit + 1);
        sqlite3_bind_int64(st, 2, offset);
        while (st && sqlite3_step(st) == SQLITE_ROW) {
            if (cJSON_GetArraySize(arr) == limit) {   /* one more: a next page exists */
                cJSON_AddNumberToObject(out, "next_offset", (double)(offset + limit));
                break;
            }
            cJSON_AddItemToArray(arr, doc_json(st));
        }
        cJSON_AddNumberToObject(out, "count", cJSON_GetArraySize(arr));
        ret = serve_send_json(r, 200, out);
    }
    sqlite3_finalize(st);
    serve_slot_give(s);
    return ret;
}

enum MHD_Result serve_doc_post(serve_req *r)
{
    static const char *const fields[] = {"uri", "text", "format", NULL};
    cJSON *j = serve_parse_body(r), *uri, *text, *fmt, *out;
    cr_format f = CR_FMT_TXT;
    cr_ingest_opts o;
    cr_ingest_stats stats = {0};
    cc_kb *kb;
    enum MHD_Result ret;
    if (!j) return MHD_YES;
    if (serve_check_fields(r, j, fields, "sss")) { cJSON_Delete(j); return MHD_YES; }
    uri = cJSON_GetObjectItemCaseSensitive(j, "uri");
    text = cJSON_GetObjectItemCaseSensitive(j, "text");
    fmt = cJSON_GetObjectItemCaseSensitive(j, "format");
    if (!uri || !*uri->valuestring || !text) {
        cJSON_Delete(j);
        return serve_send_error(r, 400, "bad_field",
                          "fields \"uri\" (non-empty string) and \"text\" (string) are required");
    }
    if (fmt && (f = cr_format_from_name(fmt->valuestring)) == CR_FMT_UNKNOWN) {
        ret = serve_send_error(r, 400, "bad_field",
                         "field \"format\": unknown format \"%s\" (use txt, md, html, json or jsonl)",
                         fmt->valuestring);
        cJSON_Delete(j);
        return ret;
    }
    if (!(kb = serve_writer_open(r))) { cJSON_Delete(j); return MHD_YES; }
    if (cg_ingest_opts_from_kb(kb, &o) != CC_OK ||
        cr_ingest_data(kb, uri->valuestring, f, text->valuestring, strlen(text->valuestring), &o,
                       &stats) != CC_OK) {
        ret = serve_send_error(r, 400, "ingest_failed", "%s", cc_kb_errmsg(kb));
    } else if (cg_sync_derived(kb, NULL) != CC_OK) {
        ret = serve_send_error(r, 500, "internal", "derived indexes: %s", cc_kb_errmsg(kb));
    } else {
        sqlite3_stmt *st = NULL;
        out = cJSON_CreateObject();
        sqlite3_prepare_v2(cc_kb_db(kb), "SELECT id FROM documents WHERE uri = ?1 AND deleted = 0",
                           -1, &st, NULL);
        sqlite3_bind_text(st, 1, uri->valuestring, -1, SQLITE_STATIC);
        if (st && sqlite3_step(st) == SQLITE_ROW)
            cJSON_AddNumberToObject(out, "id", (double)sqlite3_column_int64(st, 0));
        sqlite3_finalize(st);
        cJSON_AddStringToObject(out, "uri", uri->valuestring);
        cJSON_AddNumberToObject(out, "added", (double)stats.docs_added);
        cJSON_AddNumberToObject(out, "replaced", (double)stats.docs_replaced);
        cJSON_AddNumberToObject(out, "unchanged", (double)stats.docs_unchanged);
        cJSON_AddNumberToObject(out, "chunks", (double)stats.chunks_added);
        serve_count_ingest(stats.docs_added, stats.docs_replaced, stats.chunks_added);
        {
            char detail[96];
            snprintf(detail, sizeof detail, "added=%lu replaced=%lu unchanged=%lu",
                     (unsigned long)stats.docs_added, (unsigned long)stats.docs_replaced,
                     (unsigned long)stats.docs_unchanged);
            serve_audit(kb, r, "ingest", uri->valuestring, detail);
        }
        ret = serve_send_json(r, stats.docs_added ? 201 : 200, out);
    }
    serve_writer_close(kb);
    cJSON_Delete(j);
    return ret;
}

static enum MHD_Result do_delete_doc(serve_req *r, int64_t id)
{
    char ref[32];
    int64_t n = 0;
    cc_kb *kb = serve_writer_open(r);
    enum MHD_Result ret;
    cc_status st;
    if (!kb) return MHD_YES;
    snprintf(ref, sizeof ref, "#%lld", (long long)id);
    if ((st = cr_doc_remove(kb, ref, &n)) != CC_OK || !n)
        ret = st == CC_OK || st == CC_NOTFOUND
            ? serve_send_error(r, 404, "not_found", "no document with id %lld", (long long)id)
            : serve_send_error(r, 500, "internal", "%s", cc_kb_errmsg(kb));
    else if (cg_sync_derived(kb, NULL) != CC_OK)
        ret = serve_send_error(r, 500, "internal", "derived indexes: %s", cc_kb_errmsg(kb));
    else {
        cJSON *out = cJSON_CreateObject();
        cJSON_AddNumberToObject(out, "id", (double)id);
        cJSON_AddNumberToObject(out, "removed", (double)n);
        serve_audit(kb, r, "delete", ref, NULL);
        ret = serve_send_json(r, 200, out);
    }
    serve_writer_close(kb);
    return ret;
}


/* "123" -> 123; -1 when not a plain decimal id. */
static int64_t path_id(const char *s)
{
    int64_t v;
    return cc_parse_i64(s, 0, INT64_MAX, &v) == CC_OK ? v : -1;
}

enum MHD_Result serve_docs_list(serve_req *r) { return do_get_docs(r, -1); }

enum MHD_Result serve_doc_get(serve_req *r)
{
    int64_t id = path_id(r->param);
    if (id < 0)
        return serve_send_error(r, 404, "not_found", "no such resource: %s (document ids are integers)", r->url);
    return do_get_docs(r, id);
}

enum MHD_Result serve_doc_delete(serve_req *r)
{
    int64_t id = path_id(r->param);
    if (id < 0)
        return serve_send_error(r, 404, "not_found", "no such resource: %s (document ids are integers)", r->url);
    return do_delete_doc(r, id);
}
