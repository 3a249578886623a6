/* serve_docs.c — `cairn serve` routes over documents: POST /v1/search,
 * GET /v1/documents (paged), GET and DELETE /v1/documents/{id}, and
 * POST /v1/documents (JSON body, or a multipart upload: serve_upload.c). */
#define _GNU_SOURCE
#include "serve.h"
#include "graph.h"

#include <sqlite3.h>
#include <string.h>

/* ---------------------------------------------------------------- search */

/* One timing-log line (serve_timing.c) for an answered search: "S T TID
 * conn total_ms wait_ms slot_ms search_ms bm25_ms vector_ms hydrate_ms
 * send_ms live_checked mode query", T when the reply was ready, total from
 * the request's headers to then, wait from the headers to a search worker
 * starting it (the body arriving, the queue), slot the reader slot's taking
 * (its lock, the vector index swap), search the searcher, the lanes inside
 * it, hydrate the hits' rows and the JSON; send is 0 (the reply is sent on
 * the connection's libmicrohttpd thread after the worker resumes it). */
static void log_search(serve_req *r, cr_searcher *se, const char *query, int mode, double t_in,
                       double t_slot, double t_search, double t_hyd)
{
    cr_search_timing t;
    char q[81];
    size_t i;
    for (i = 0; i + 1 < sizeof q && query[i]; i++)
        q[i] = (unsigned char)query[i] < 0x20 ? '?' : query[i];
    q[i] = 0;
    cr_searcher_last_timing(se, &t);
    serve_timing("S", "%lx %.3f %.3f %.3f %.3f %.3f %.3f %.3f %.3f %d %d %s",
                 (unsigned long)(uintptr_t)r->c, t_hyd - r->t0, t_in - r->t0, t_slot - t_in,
                 t_search - t_slot, t.lane_ms[CR_LANE_BM25], t.lane_ms[CR_LANE_VECTOR],
                 t_hyd - t_search, 0.0, t.live_checked, mode, q);
}

/* The search itself, on a search worker (serve_readers.c): j is the
 * request's JSON body, its fields' names and types already checked. */
static void search_job(serve_req *r, void *arg, serve_reply *rp)
{
    cJSON *j = arg, *q, *mode, *k, *w;
    cr_search_opts so;
    cr_hit *hits = NULL;
    size_t n = 0, i, count = 0;
    int bad = 0, in_txn = 0;
    cc_buf *b = &rp->body;
    serve_slot *s;
    sqlite3_stmt *st = NULL;
    double t_in = 0, t_slot = 0, t_search = 0, t_hyd = 0;
    q = cJSON_GetObjectItemCaseSensitive(j, "query");
    mode = cJSON_GetObjectItemCaseSensitive(j, "mode");
    k = cJSON_GetObjectItemCaseSensitive(j, "k");
    w = cJSON_GetObjectItemCaseSensitive(j, "weights");
    if (serve_timing_on()) t_in = cc_now_ms();
    s = serve_slot_take();
    if (t_in) t_slot = cc_now_ms();
    if (!s->kb || !s->se) {
        serve_slot_give(s);
        serve_reply_error(rp, 500, "internal", "cannot open the KB: %s", cc_errmsg());
        return;
    }
    if (cr_search_opts_from_kb(s->kb, &so) != CC_OK) {
        serve_reply_error(rp, 500, "internal", "%s", cc_kb_errmsg(s->kb));
        goto out;
    }
    if (mode) {
        const char *m = mode->valuestring;
        if (!strcmp(m, "bm25")) so.mode = CR_MODE_BM25;
        else if (!strcmp(m, "vector")) so.mode = CR_MODE_VECTOR;
        else if (!strcmp(m, "hybrid")) so.mode = CR_MODE_HYBRID;
        else { serve_reply_error(rp, 400, "bad_field", "field \"mode\": use bm25, vector or hybrid"); goto out; }
    }
    if (k) {
        if (!(k->valuedouble >= 1 && k->valuedouble <= 10000) ||
            k->valuedouble != (int)k->valuedouble) {
            serve_reply_error(rp, 400, "bad_field", "field \"k\" must be an integer in 1..10000");
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
                serve_reply_error(rp, 400, "bad_field", "field \"weights\": use {\"bm25\": B, \"vector\": V} with numbers >= 0 (got \"%s\")", m->string);
                goto out;
            }
            so.weight[lane] = m->valuedouble;
        }
    }
    /* The whole request in one read transaction (BEGIN is deferred: the
     * snapshot starts at the BM25 lane's first read, after the vector
     * lane): the lane, the catalog's generation and the k hits' lookups
     * each began and ended one of their own (a shared lock taken and
     * dropped with two fcntl calls, the WAL's header checked), and the
     * hits are read from the snapshot that found them. The BM25 lane's
     * row-size cache stays valid in a read transaction (fts.c). A failed
     * BEGIN leaves each statement in its own. */
    in_txn = sqlite3_get_autocommit(cc_kb_db(s->kb)) &&
             sqlite3_exec(cc_kb_db(s->kb), "BEGIN", NULL, NULL, NULL) == SQLITE_OK;
    if (cr_searcher_search(s->se, q->valuestring, &so, &hits, &n) != CC_OK) {
        serve_reply_error(rp, 400, "bad_query", "%s", cc_kb_errmsg(s->kb));
        goto out;
    }
    if (t_in) t_search = cc_now_ms();
    /* The response, written directly (the bytes cJSON_PrintUnformatted
     * would give for the same tree): building and printing a cJSON tree of
     * k hits cost more than the hydration itself. One cached statement per
     * slot fetches each hit's document and snippet. */
    if (!s->hydrate &&
        sqlite3_prepare_v3(cc_kb_db(s->kb), "SELECT d.uri, d.id, c.ordinal, substr(c.text, 1, 160)"
                           " FROM chunks c JOIN documents d ON d.id = c.doc_id WHERE c.id = ?1",
                           -1, SQLITE_PREPARE_PERSISTENT, &s->hydrate, NULL) != SQLITE_OK) {
        sqlite3_finalize(s->hydrate);
        s->hydrate = NULL;
        serve_reply_error(rp, 500, "internal", "reading the hits: %s",
                          sqlite3_errmsg(cc_kb_db(s->kb)));
        goto out;
    }
    st = s->hydrate;
    /* bad: any append failed (out of memory); the response is then 500,
     * never a truncated document */
    bad |= cc_buf_puts(b, "{\"hits\":[") != CC_OK;
    for (i = 0; i < n; i++) {
        sqlite3_bind_int64(st, 1, hits[i].chunk_id);
        if (sqlite3_step(st) == SQLITE_ROW) {
            const char *uri = (const char *)sqlite3_column_text(st, 0);
            const char *snip = (const char *)sqlite3_column_text(st, 3);
            if (count) bad |= cc_buf_putc(b, ',') != CC_OK;
            count++;
            bad |= cc_buf_puts(b, "{\"rank\":") || serve_json_num(b, (double)i + 1) ||
                   cc_buf_puts(b, ",\"chunk\":") ||
                   serve_json_num(b, (double)hits[i].chunk_id) ||
                   cc_buf_puts(b, ",\"score\":") || serve_json_num(b, hits[i].score) ||
                   cc_buf_puts(b, ",\"document\":") ||
                   cc_buf_json_str(b, uri ? uri : "", uri ? (size_t)sqlite3_column_bytes(st, 0) : 0) ||
                   cc_buf_puts(b, ",\"document_id\":") ||
                   serve_json_num(b, (double)sqlite3_column_int64(st, 1)) ||
                   cc_buf_puts(b, ",\"ordinal\":") ||
                   serve_json_num(b, sqlite3_column_int(st, 2)) ||
                   cc_buf_puts(b, ",\"snippet\":") ||
                   cc_buf_json_str(b, snip ? snip : "", snip ? (size_t)sqlite3_column_bytes(st, 3) : 0) ||
                   cc_buf_putc(b, '}');
        }
        sqlite3_reset(st);
    }
    bad |= cc_buf_puts(b, "],\"count\":") || serve_json_num(b, (double)count);
    if (cr_searcher_vector_status(s->se)) {
        const char *note = cr_searcher_vector_status(s->se);
        bad |= cc_buf_puts(b, ",\"note\":") || cc_buf_json_str(b, note, strlen(note));
    }
    bad |= cc_buf_putc(b, '}') != CC_OK;
    if (bad) {
        serve_reply_error(rp, 500, "internal", "out of memory writing the response");
        goto out;
    }
    rp->status = 200;
    rp->ctype = "application/json";
    if (t_in) {
        t_hyd = cc_now_ms();
        log_search(r, s->se, q->valuestring, so.mode, t_in, t_slot, t_search, t_hyd);
    }
out:
    if (in_txn) sqlite3_exec(cc_kb_db(s->kb), "COMMIT", NULL, NULL, NULL);   /* read only: cannot fail */
    free(hits);
    serve_slot_give(s);
}

static void json_free(void *j) { cJSON_Delete(j); }

/* POST /v1/search: the body is checked here, the search queued for a
 * search worker (serve_readers.c). */
enum MHD_Result serve_search(serve_req *r)
{
    static const char *const fields[] = {"query", "mode", "k", "weights", NULL};
    cJSON *j = serve_parse_body(r), *q;
    if (!j) return MHD_YES;
    if (serve_check_fields(r, j, fields, "ssno")) { cJSON_Delete(j); return MHD_YES; }
    q = cJSON_GetObjectItemCaseSensitive(j, "query");
    if (!q || !*q->valuestring) {
        cJSON_Delete(j);
        return serve_send_error(r, 400, "bad_field", "field \"query\" (a non-empty string) is required");
    }
    return serve_read_submit(r, search_job, j, json_free);
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

/* A document to ingest: borrowed from j (a JSON body, owned) or from the
 * request (a multipart upload, which lives until the request completes). */
typedef struct doc_job {
    cJSON      *j;
    const char *uri, *data;
    size_t      len;
    cr_format   f;
    int         if_absent;
} doc_job;

static void doc_job_free(void *p)
{
    doc_job *d = p;
    if (!d) return;
    cJSON_Delete(d->j);
    free(d);
}

/* On the writer thread: ingests one document; answers 201 (added), 200
 * (replaced or unchanged) or 409 (if_absent and the uri is live). The
 * commit is the acknowledgement; the graph store and the vector index
 * catch up later, grouped (serve_writer.c). */
static int ingest_job(serve_req *r, cc_kb *kb, void *arg, serve_reply *rp)
{
    doc_job *d = arg;
    cr_ingest_opts o;
    cr_ingest_stats stats = {0};
    sqlite3_stmt *st = NULL;
    int64_t live = -1;
    cJSON *out;
    cc_status s;
    const char *code;
    int http, changed = 0;
    sqlite3_prepare_v2(cc_kb_db(kb), "SELECT id FROM documents WHERE uri = ?1 AND deleted = 0",
                       -1, &st, NULL);
    sqlite3_bind_text(st, 1, d->uri, -1, SQLITE_STATIC);
    if (st && sqlite3_step(st) == SQLITE_ROW) live = sqlite3_column_int64(st, 0);
    sqlite3_reset(st);
    if (d->if_absent && live >= 0) {
        serve_reply_error(rp, 409, "conflict", "document \"%s\" exists (id %lld) and "
                          "if_absent is true; drop if_absent to replace it", d->uri,
                          (long long)live);
    } else if ((s = cg_ingest_opts_from_kb(kb, &o)) != CC_OK ||
               (s = cr_ingest_data(kb, d->uri, d->f, d->data, d->len, &o, &stats)) != CC_OK) {
        /* a full disk is the server's condition, not a bad document */
        http = serve_write_status(s, 400, "ingest_failed", &code);
        serve_reply_error(rp, http, code, "%s", cc_kb_errmsg(kb));
        changed = 1;   /* nothing committed, or a catch-up does no harm */
    } else {
        char detail[96];
        out = cJSON_CreateObject();
        if (st && sqlite3_step(st) == SQLITE_ROW)
            cJSON_AddNumberToObject(out, "id", (double)sqlite3_column_int64(st, 0));
        cJSON_AddStringToObject(out, "uri", d->uri);
        cJSON_AddNumberToObject(out, "added", (double)stats.docs_added);
        cJSON_AddNumberToObject(out, "replaced", (double)stats.docs_replaced);
        cJSON_AddNumberToObject(out, "unchanged", (double)stats.docs_unchanged);
        cJSON_AddNumberToObject(out, "chunks", (double)stats.chunks_added);
        serve_count_ingest((unsigned long)stats.docs_added, (unsigned long)stats.docs_replaced,
                           (unsigned long)stats.chunks_added);
        snprintf(detail, sizeof detail, "added=%lld replaced=%lld unchanged=%lld",
                 (long long)stats.docs_added, (long long)stats.docs_replaced,
                 (long long)stats.docs_unchanged);
        serve_audit(kb, r, "ingest", d->uri, detail);
        serve_reply_json(rp, stats.docs_added ? 201 : 200, out);
        changed = stats.docs_added || stats.docs_replaced;
    }
    sqlite3_finalize(st);
    return changed;
}

/* Queues d (taken) for the writer thread. */
static enum MHD_Result ingest_one(serve_req *r, doc_job *d)
{
    return serve_write_submit(r, ingest_job, d, doc_job_free);
}

static enum MHD_Result doc_post_multipart(serve_req *r)
{
    doc_job *d = calloc(1, sizeof *d);
    serve_bad bad;
    if (!d) return serve_send_error(r, 500, "internal", "out of memory");
    if (serve_upload_finish(r, &d->uri, &d->f, &d->data, &d->len, &d->if_absent, &bad)) {
        free(d);
        return serve_send_error(r, bad.status, bad.code, "%s", bad.msg);
    }
    return ingest_one(r, d);
}

/* ---------------------------------------------------------------- POST /v1/documents */

enum MHD_Result serve_doc_post(serve_req *r)
{
    const char *text;
    cJSON *j;
    doc_job *d;
    serve_bad bad;
    if (serve_upload_is(r)) return doc_post_multipart(r);
    {
        const char *ct = MHD_lookup_connection_value(r->c, MHD_HEADER_KIND, "Content-Type");
        if (!ct || strncasecmp(ct, "application/json", 16))
            return serve_send_error(r, 415, "unsupported_media_type", "%s%s: send application/json "
                                    "or multipart/form-data (a file upload)",
                                    ct && *ct ? "Content-Type " : "Content-Type is missing",
                                    ct && *ct ? ct : "");
    }
    if (!(j = serve_parse_body(r))) return MHD_YES;
    if (!(d = calloc(1, sizeof *d))) {
        cJSON_Delete(j);
        return serve_send_error(r, 500, "internal", "out of memory");
    }
    d->j = j;
    if (serve_body_doc(j, &d->uri, &text, &d->f, &d->if_absent, &bad)) {
        doc_job_free(d);
        return serve_send_error(r, bad.status, bad.code, "%s", bad.msg);
    }
    d->data = text;
    d->len = strlen(text);
    return ingest_one(r, d);
}

/* ---------------------------------------------------------------- DELETE */

/* On the writer thread: DELETE /v1/documents/{id}: 200 when the live
 * document goes; 409 when the id names a version already deleted or
 * replaced (the message says which, and the live id if the uri has one);
 * 404 when no such id. arg: the id (int64_t *). */
static int delete_job(serve_req *r, cc_kb *kb, void *arg, serve_reply *rp)
{
    int64_t id = *(int64_t *)arg;
    char ref[32];
    int64_t n = 0;
    cc_status st;
    snprintf(ref, sizeof ref, "#%lld", (long long)id);
    if ((st = cr_doc_remove(kb, ref, &n)) != CC_OK || !n) {
        sqlite3_stmt *q = NULL;
        int64_t live = -1;
        int found = 0;
        sqlite3_prepare_v2(cc_kb_db(kb), "SELECT (SELECT id FROM documents l WHERE l.uri = d.uri"
                           " AND l.deleted = 0) FROM documents d WHERE d.id = ?1", -1, &q, NULL);
        sqlite3_bind_int64(q, 1, id);
        if (q && sqlite3_step(q) == SQLITE_ROW) {
            found = 1;
            if (sqlite3_column_type(q, 0) != SQLITE_NULL) live = sqlite3_column_int64(q, 0);
        }
        sqlite3_finalize(q);
        if (st != CC_OK && st != CC_NOTFOUND) {
            const char *code;
            int http = serve_write_status(st, 500, "internal", &code);
            serve_reply_error(rp, http, code, "%s", cc_kb_errmsg(kb));
        } else if (found && live >= 0)
            serve_reply_error(rp, 409, "conflict", "document %lld is an old version, replaced "
                              "by id %lld; delete that one", (long long)id, (long long)live);
        else if (found)
            serve_reply_error(rp, 409, "conflict", "document %lld is already deleted",
                              (long long)id);
        else
            serve_reply_error(rp, 404, "not_found", "no document with id %lld", (long long)id);
        return 0;
    }
    {   /* the graph store and the vector index catch up later (serve_writer.c) */
        cJSON *out = cJSON_CreateObject();
        cJSON_AddNumberToObject(out, "id", (double)id);
        cJSON_AddNumberToObject(out, "removed", (double)n);
        serve_audit(kb, r, "delete", ref, NULL);
        serve_reply_json(rp, 200, out);
    }
    return 1;
}

static enum MHD_Result do_delete_doc(serve_req *r, int64_t id)
{
    int64_t *arg = malloc(sizeof *arg);
    if (!arg) return serve_send_error(r, 500, "internal", "out of memory");
    *arg = id;
    return serve_write_submit(r, delete_job, arg, free);
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
