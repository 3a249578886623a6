/* cmd_serve.c — `cairn serve KB [--listen HOST:PORT]`: the REST server
 * (first cut of issue 7). libmicrohttpd with an internal epoll thread pool.
 *
 * Readers: a pool of read-only KB handles, each with its own searcher; a
 * request takes a free slot (never shared between threads at once). After a
 * write the global generation is bumped and a slot reopens its searcher.
 * Writers: one at a time (write_mu), each opening a CC_KB_WRITE handle for the
 * request, so the KB's writer flock is held only while writing and a CLI
 * writer can interleave (it gets 503 kb_busy while the other holds it).
 * No API keys yet: only loopback addresses may be bound. */
#define _GNU_SOURCE
#include "cli.h"
#include "graph.h"
#include "retrieval.h"
#include "serve.h"

#include <arpa/inet.h>
#include <cjson/cJSON.h>
#include <microhttpd.h>
#include <pthread.h>
#include <signal.h>
#include <sqlite3.h>
#include <string.h>
#include <unistd.h>

#define BODY_MAX   ((size_t)4 << 20)   /* request body limit: 4 MiB */
#define N_THREADS  4
#define SHUTDOWN_WAIT_MS 10000

static const char serve_usage[] =
    "serve KB [--listen HOST:PORT] [--threads N]\n"
    "  REST API over HTTP (default 127.0.0.1:8080; port 0 picks a free one).\n"
    "  Only loopback addresses for now: API keys are not implemented yet.\n"
    "  Stops cleanly on SIGTERM or SIGINT.\n";

/* schemas/openapi.json, compiled in (served at /v1/openapi.json) */
__asm__(".section .rodata\n"
        ".global cairn_openapi_json\n"
        "cairn_openapi_json:\n"
        ".incbin \"" CAIRN_SOURCE_DIR "/schemas/openapi.json\"\n"
        ".byte 0\n"
        ".previous\n");
extern const char cairn_openapi_json[];

/* ---------------------------------------------------------------- state */

typedef struct slot {
    pthread_mutex_t mu;
    cc_kb          *kb;
    cr_searcher    *se;
    long            gen;
} slot;

enum { R_HEALTHZ, R_METRICS, R_OPENAPI, R_SEARCH, R_DOCS, R_DOC, R_TRACES, R_WEB, R_OTHER, R_COUNT };
static const char *const route_name[R_COUNT] = {"/healthz", "/metrics", "/v1/openapi.json",
                                                "/v1/search", "/v1/documents",
                                                "/v1/documents/{id}", "/v1/traces",
                                                "web", "other"};
static const int status_list[] = {200, 201, 400, 404, 405, 413, 415, 500, 503};
#define N_STATUS (sizeof status_list / sizeof *status_list)
static const double bucket_le[] = {0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1, 5};
#define N_BUCKET (sizeof bucket_le / sizeof *bucket_le)

static struct {
    const char     *kbdir;
    slot           *slots;
    int             n_slots;
    long            gen;                   /* bumped after each write */
    pthread_mutex_t write_mu;
    unsigned long   count[R_COUNT][N_STATUS];
    unsigned long   bucket[N_BUCKET + 1];  /* last: +Inf */
    double          sum_s;
    unsigned long   n_req;
    pthread_mutex_t metrics_mu;
    int             inflight;              /* requests begun, not completed */
} S = {.write_mu = PTHREAD_MUTEX_INITIALIZER, .metrics_mu = PTHREAD_MUTEX_INITIALIZER};

typedef struct req {
    cc_buf body;
    int    too_big;
    double t0;
    int    route;
} req;

/* ---------------------------------------------------------------- responses */

static void count_request(req *r, int status);

static enum MHD_Result send_buf(struct MHD_Connection *c, req *r, int status, const char *ctype,
                                const char *data, size_t len, const char *allow)
{
    struct MHD_Response *resp =
        MHD_create_response_from_buffer(len, (void *)data, MHD_RESPMEM_MUST_COPY);
    enum MHD_Result ret;
    if (!resp) return MHD_NO;
    MHD_add_response_header(resp, "Content-Type", ctype);
    if (allow) MHD_add_response_header(resp, "Allow", allow);
    ret = MHD_queue_response(c, (unsigned)status, resp);
    MHD_destroy_response(resp);
    count_request(r, status);
    return ret;
}

/* Sends what a route file built (serve.h) and frees it. */
static enum MHD_Result send_reply(struct MHD_Connection *c, req *r, serve_reply *rp)
{
    struct MHD_Response *resp = rp->stream;
    enum MHD_Result ret;
    int i;
    rp->stream = NULL;
    if (!resp)
        resp = rp->static_body
            ? MHD_create_response_from_buffer(rp->static_len, (void *)rp->static_body,
                                              MHD_RESPMEM_PERSISTENT)
            : MHD_create_response_from_buffer(rp->body.len, rp->body.data ? rp->body.data : "",
                                              MHD_RESPMEM_MUST_COPY);
    if (!resp) { serve_reply_free(rp); return MHD_NO; }
    MHD_add_response_header(resp, "Content-Type", rp->ctype);
    if (rp->allow) MHD_add_response_header(resp, "Allow", rp->allow);
    for (i = 0; i < SERVE_HDR_MAX && rp->hdr[i].name; i++)
        MHD_add_response_header(resp, rp->hdr[i].name, rp->hdr[i].value);
    ret = MHD_queue_response(c, (unsigned)rp->status, resp);
    MHD_destroy_response(resp);
    count_request(r, rp->status);
    serve_reply_free(rp);
    return ret;
}

static void count_request(req *r, int status)
{
    double secs = (cc_now_ms() - r->t0) / 1e3;
    size_t si, b;
    for (si = 0; si < N_STATUS && status_list[si] != status; si++) {}
    for (b = 0; b < N_BUCKET && secs > bucket_le[b]; b++) {}
    pthread_mutex_lock(&S.metrics_mu);
    if (si < N_STATUS) S.count[r->route][si]++;
    S.bucket[b]++;
    S.sum_s += secs;
    S.n_req++;
    pthread_mutex_unlock(&S.metrics_mu);
}

static enum MHD_Result send_json(struct MHD_Connection *c, req *r, int status, cJSON *j)
{
    char *s = cJSON_PrintUnformatted(j);
    enum MHD_Result ret;
    cJSON_Delete(j);
    if (!s) {
        static const char oom[] = "{\"error\":{\"code\":\"internal\",\"message\":\"out of memory\"}}";
        return send_buf(c, r, 500, "application/json", oom, sizeof oom - 1, NULL);
    }
    ret = send_buf(c, r, status, "application/json", s, strlen(s), NULL);
    free(s);
    return ret;
}

static enum MHD_Result send_error(struct MHD_Connection *c, req *r, int status, const char *code,
                                  const char *allow, const char *fmt, ...)
    __attribute__((format(printf, 6, 7)));
static enum MHD_Result send_error(struct MHD_Connection *c, req *r, int status, const char *code,
                                  const char *allow, const char *fmt, ...)
{
    char msg[512];
    cJSON *j = cJSON_CreateObject(), *e = cJSON_AddObjectToObject(j, "error");
    va_list ap;
    char *s;
    enum MHD_Result ret;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    cJSON_AddStringToObject(e, "code", code);
    cJSON_AddStringToObject(e, "message", msg);
    s = cJSON_PrintUnformatted(j);
    cJSON_Delete(j);
    ret = send_buf(c, r, status, "application/json", s ? s : "{}", s ? strlen(s) : 2, allow);
    free(s);
    return ret;
}

/* ---------------------------------------------------------------- readers */

static slot *slot_take(void)
{
    int i;
    slot *s;
    for (i = 0; i < S.n_slots; i++)
        if (!pthread_mutex_trylock(&S.slots[i].mu)) break;
    if (i == S.n_slots) { i = 0; pthread_mutex_lock(&S.slots[0].mu); }
    s = &S.slots[i];
    if (s->se && s->gen != __atomic_load_n(&S.gen, __ATOMIC_ACQUIRE)) {
        cr_searcher_close(s->se);
        s->se = NULL;
    }
    if (!s->kb && cc_kb_open(S.kbdir, CC_KB_READ, &s->kb) != CC_OK) s->kb = NULL;
    if (s->kb && !s->se) {
        s->gen = __atomic_load_n(&S.gen, __ATOMIC_ACQUIRE);
        if (cr_searcher_open(s->kb, &s->se) != CC_OK) s->se = NULL;
    }
    return s;
}

static void slot_give(slot *s) { pthread_mutex_unlock(&s->mu); }

/* Parses the JSON body: NULL after sending a 415 (content type) or 400
 * (message says where). */
static cJSON *parse_body(struct MHD_Connection *c, req *r)
{
    const char *end = NULL;
    const char *ct = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "Content-Type");
    cJSON *j;
    if (!ct || !*ct || strncasecmp(ct, "application/json", 16) || (ct[16] && ct[16] != ';')) {
        send_error(c, r, 415, "unsupported_media_type", NULL,
                   ct && *ct ? "Content-Type %s is not supported: send application/json"
                             : "%sContent-Type is missing: send application/json", ct ? ct : "");
        return NULL;
    }
    size_t bad = r->body.len ? cc_utf8_check(r->body.data, r->body.len) : 0;
    if (bad < r->body.len) {
        send_error(c, r, 400, "invalid_utf8", NULL, "request body is not valid UTF-8 (byte %zu)",
                   bad);
        return NULL;
    }
    j = cJSON_ParseWithLengthOpts(r->body.data ? r->body.data : "", r->body.len, &end, 0);
    if (j) {   /* only whitespace may follow the value */
        while (end < r->body.data + r->body.len && *end && strchr(" \t\r\n", *end)) end++;
        if (end < r->body.data + r->body.len) { cJSON_Delete(j); j = NULL; }
    }
    if (!j) {
        size_t at = end && r->body.data ? (size_t)(end - r->body.data) : 0;
        send_error(c, r, 400, "malformed_json", NULL, "malformed JSON at byte %zu of the body",
                   at);
        return NULL;
    }
    if (!cJSON_IsObject(j)) {
        cJSON_Delete(j);
        send_error(c, r, 400, "bad_request", NULL, "the body must be a JSON object");
        return NULL;
    }
    return j;
}

/* Checks every member of j is in `allowed` (NULL-terminated) with the type
 * given by the parallel `types` string: s string, n number, o object. */
static int check_fields(struct MHD_Connection *c, req *r, cJSON *j, const char *const *allowed,
                        const char *types)
{
    cJSON *m;
    cJSON_ArrayForEach(m, j) {
        int i, okt;
        for (i = 0; allowed[i] && strcmp(allowed[i], m->string); i++) {}
        if (!allowed[i]) {
            send_error(c, r, 400, "unknown_field", NULL, "unknown field \"%s\"", m->string);
            return -1;
        }
        okt = types[i] == 's' ? cJSON_IsString(m) : types[i] == 'n' ? cJSON_IsNumber(m)
                                                                    : cJSON_IsObject(m);
        if (!okt) {
            send_error(c, r, 400, "bad_field", NULL, "field \"%s\" must be a %s", m->string,
                       types[i] == 's' ? "string" : types[i] == 'n' ? "number" : "object");
            return -1;
        }
    }
    return 0;
}

static enum MHD_Result do_search(struct MHD_Connection *c, req *r)
{
    static const char *const fields[] = {"query", "mode", "k", "weights", NULL};
    cJSON *j = parse_body(c, r), *q, *mode, *k, *w, *out, *arr;
    cr_search_opts so;
    cr_hit *hits = NULL;
    size_t n = 0, i;
    slot *s;
    sqlite3_stmt *st = NULL;
    enum MHD_Result ret;
    if (!j) return MHD_YES;
    if (check_fields(c, r, j, fields, "ssno")) { cJSON_Delete(j); return MHD_YES; }
    q = cJSON_GetObjectItemCaseSensitive(j, "query");
    mode = cJSON_GetObjectItemCaseSensitive(j, "mode");
    k = cJSON_GetObjectItemCaseSensitive(j, "k");
    w = cJSON_GetObjectItemCaseSensitive(j, "weights");
    if (!q || !*q->valuestring) {
        cJSON_Delete(j);
        return send_error(c, r, 400, "bad_field", NULL, "field \"query\" (a non-empty string) is required");
    }
    s = slot_take();
    if (!s->kb || !s->se) {
        slot_give(s);
        cJSON_Delete(j);
        return send_error(c, r, 500, "internal", NULL, "cannot open the KB: %s", cc_errmsg());
    }
    if (cr_search_opts_from_kb(s->kb, &so) != CC_OK) {
        ret = send_error(c, r, 500, "internal", NULL, "%s", cc_kb_errmsg(s->kb));
        goto out;
    }
    if (mode) {
        const char *m = mode->valuestring;
        if (!strcmp(m, "bm25")) so.mode = CR_MODE_BM25;
        else if (!strcmp(m, "vector")) so.mode = CR_MODE_VECTOR;
        else if (!strcmp(m, "hybrid")) so.mode = CR_MODE_HYBRID;
        else { ret = send_error(c, r, 400, "bad_field", NULL, "field \"mode\": use bm25, vector or hybrid"); goto out; }
    }
    if (k) {
        if (!(k->valuedouble >= 1 && k->valuedouble <= 10000) ||
            k->valuedouble != (int)k->valuedouble) {
            ret = send_error(c, r, 400, "bad_field", NULL, "field \"k\" must be an integer in 1..10000");
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
                ret = send_error(c, r, 400, "bad_field", NULL, "field \"weights\": use {\"bm25\": B, \"vector\": V} with numbers >= 0 (got \"%s\")", m->string);
                goto out;
            }
            so.weight[lane] = m->valuedouble;
        }
    }
    if (cr_searcher_search(s->se, q->valuestring, &so, &hits, &n) != CC_OK) {
        ret = send_error(c, r, 400, "bad_query", NULL, "%s", cc_kb_errmsg(s->kb));
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
    ret = send_json(c, r, 200, out);
out:
    free(hits);
    slot_give(s);
    cJSON_Delete(j);
    return ret;
}

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
static enum MHD_Result do_get_docs(struct MHD_Connection *c, req *r, int64_t id)
{
    slot *s = slot_take();
    sqlite3_stmt *st = NULL;
    cJSON *out;
    int64_t limit = 50, offset = 0;
    enum MHD_Result ret;
    if (id < 0) {
        const char *l = MHD_lookup_connection_value(c, MHD_GET_ARGUMENT_KIND, "limit");
        const char *o = MHD_lookup_connection_value(c, MHD_GET_ARGUMENT_KIND, "offset");
        if ((l && cc_parse_i64(l, 1, 1000, &limit) != CC_OK) ||
            (o && cc_parse_i64(o, 0, INT64_MAX, &offset) != CC_OK)) {
            slot_give(s);
            return send_error(c, r, 400, "bad_parameter", NULL,
                              "limit must be an integer in 1..1000 and offset >= 0");
        }
    }
    if (!s->kb) {
        slot_give(s);
        return send_error(c, r, 500, "internal", NULL, "cannot open the KB: %s", cc_errmsg());
    }
    if (id >= 0) {
        sqlite3_prepare_v2(cc_kb_db(s->kb), "SELECT " DOC_COLS " FROM documents"
                           " WHERE id = ?1 AND deleted = 0", -1, &st, NULL);
        sqlite3_bind_int64(st, 1, id);
        if (st && sqlite3_step(st) == SQLITE_ROW) {
            ret = send_json(c, r, 200, doc_json(st));
        } else {
            ret = send_error(c, r, 404, "not_found", NULL, "no document with id %lld",
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
        ret = send_json(c, r, 200, out);
    }
    sqlite3_finalize(st);
    slot_give(s);
    return ret;
}

/* ---------------------------------------------------------------- writers */

/* Opens the writer handle under write_mu; on failure sends the error. */
static cc_kb *writer_open(struct MHD_Connection *c, req *r)
{
    cc_kb *kb;
    cc_status st;
    pthread_mutex_lock(&S.write_mu);
    if ((st = cc_kb_open(S.kbdir, CC_KB_WRITE, &kb)) != CC_OK) {
        pthread_mutex_unlock(&S.write_mu);
        if (st == CC_BUSY)
            send_error(c, r, 503, "kb_busy", NULL, "%s; try again", cc_errmsg());
        else
            send_error(c, r, 500, "internal", NULL, "%s", cc_errmsg());
        return NULL;
    }
    return kb;
}

static void writer_close(cc_kb *kb)
{
    cc_kb_close(kb);
    __atomic_add_fetch(&S.gen, 1, __ATOMIC_RELEASE);
    pthread_mutex_unlock(&S.write_mu);
}

static enum MHD_Result do_post_doc(struct MHD_Connection *c, req *r)
{
    static const char *const fields[] = {"uri", "text", "format", NULL};
    cJSON *j = parse_body(c, r), *uri, *text, *fmt, *out;
    cr_format f = CR_FMT_TXT;
    cr_ingest_opts o;
    cr_ingest_stats stats = {0};
    cc_kb *kb;
    enum MHD_Result ret;
    if (!j) return MHD_YES;
    if (check_fields(c, r, j, fields, "sss")) { cJSON_Delete(j); return MHD_YES; }
    uri = cJSON_GetObjectItemCaseSensitive(j, "uri");
    text = cJSON_GetObjectItemCaseSensitive(j, "text");
    fmt = cJSON_GetObjectItemCaseSensitive(j, "format");
    if (!uri || !*uri->valuestring || !text) {
        cJSON_Delete(j);
        return send_error(c, r, 400, "bad_field", NULL,
                          "fields \"uri\" (non-empty string) and \"text\" (string) are required");
    }
    if (fmt && (f = cr_format_from_name(fmt->valuestring)) == CR_FMT_UNKNOWN) {
        ret = send_error(c, r, 400, "bad_field", NULL,
                         "field \"format\": unknown format \"%s\" (use txt, md, html, json or jsonl)",
                         fmt->valuestring);
        cJSON_Delete(j);
        return ret;
    }
    if (!(kb = writer_open(c, r))) { cJSON_Delete(j); return MHD_YES; }
    if (cg_ingest_opts_from_kb(kb, &o) != CC_OK ||
        cr_ingest_data(kb, uri->valuestring, f, text->valuestring, strlen(text->valuestring), &o,
                       &stats) != CC_OK) {
        ret = send_error(c, r, 400, "ingest_failed", NULL, "%s", cc_kb_errmsg(kb));
    } else if (cg_sync_derived(kb, NULL) != CC_OK) {
        ret = send_error(c, r, 500, "internal", NULL, "derived indexes: %s", cc_kb_errmsg(kb));
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
        ret = send_json(c, r, stats.docs_added ? 201 : 200, out);
    }
    writer_close(kb);
    cJSON_Delete(j);
    return ret;
}

static enum MHD_Result do_delete_doc(struct MHD_Connection *c, req *r, int64_t id)
{
    char ref[32];
    int64_t n = 0;
    cc_kb *kb = writer_open(c, r);
    enum MHD_Result ret;
    cc_status st;
    if (!kb) return MHD_YES;
    snprintf(ref, sizeof ref, "#%lld", (long long)id);
    if ((st = cr_doc_remove(kb, ref, &n)) != CC_OK || !n)
        ret = st == CC_OK || st == CC_NOTFOUND
            ? send_error(c, r, 404, "not_found", NULL, "no document with id %lld", (long long)id)
            : send_error(c, r, 500, "internal", NULL, "%s", cc_kb_errmsg(kb));
    else if (cg_sync_derived(kb, NULL) != CC_OK)
        ret = send_error(c, r, 500, "internal", NULL, "derived indexes: %s", cc_kb_errmsg(kb));
    else {
        cJSON *out = cJSON_CreateObject();
        cJSON_AddNumberToObject(out, "id", (double)id);
        cJSON_AddNumberToObject(out, "removed", (double)n);
        ret = send_json(c, r, 200, out);
    }
    writer_close(kb);
    return ret;
}

/* ---------------------------------------------------------------- metrics */

static enum MHD_Result do_metrics(struct MHD_Connection *c, req *r)
{
    cc_buf b = CC_BUF_INIT(0);
    size_t i, k;
    unsigned long cum = 0;
    enum MHD_Result ret;
    pthread_mutex_lock(&S.metrics_mu);
    cc_buf_puts(&b, "# HELP cairn_http_requests_total HTTP requests by route and status.\n"
                    "# TYPE cairn_http_requests_total counter\n");
    for (i = 0; i < R_COUNT; i++)
        for (k = 0; k < N_STATUS; k++)
            if (S.count[i][k])
                cc_buf_printf(&b, "cairn_http_requests_total{route=\"%s\",status=\"%d\"} %lu\n",
                              route_name[i], status_list[k], S.count[i][k]);
    cc_buf_puts(&b, "# HELP cairn_http_request_duration_seconds Request latency.\n"
                    "# TYPE cairn_http_request_duration_seconds histogram\n");
    for (i = 0; i < N_BUCKET; i++) {
        cum += S.bucket[i];
        cc_buf_printf(&b, "cairn_http_request_duration_seconds_bucket{le=\"%g\"} %lu\n",
                      bucket_le[i], cum);
    }
    cc_buf_printf(&b, "cairn_http_request_duration_seconds_bucket{le=\"+Inf\"} %lu\n"
                      "cairn_http_request_duration_seconds_sum %.6f\n"
                      "cairn_http_request_duration_seconds_count %lu\n",
                  S.n_req, S.sum_s, S.n_req);
    pthread_mutex_unlock(&S.metrics_mu);
    ret = send_buf(c, r, 200, "text/plain; version=0.0.4", b.data, b.len, NULL);
    cc_buf_free(&b);
    return ret;
}

/* ---------------------------------------------------------------- dispatch */

/* "/v1/documents/123" -> 123; -1 when not a plain decimal id. */
static int64_t path_id(const char *s)
{
    int64_t v;
    return cc_parse_i64(s, 0, INT64_MAX, &v) == CC_OK ? v : -1;
}

static enum MHD_Result handler(void *cls, struct MHD_Connection *c, const char *url,
                               const char *method, const char *version, const char *data,
                               size_t *size, void **con_cls)
{
    req *r = *con_cls;
    int is_get = !strcmp(method, "GET"), is_post = !strcmp(method, "POST");
    int64_t id = -1;
    (void)cls; (void)version;
    if (!r) {   /* first call: headers only */
        if (!(r = calloc(1, sizeof *r))) return MHD_NO;
        r->t0 = cc_now_ms();
        __atomic_add_fetch(&S.inflight, 1, __ATOMIC_RELAXED);
        cc_buf_init(&r->body, 0);
        *con_cls = r;
        if (!strcmp(url, "/healthz")) r->route = R_HEALTHZ;
        else if (!strcmp(url, "/metrics")) r->route = R_METRICS;
        else if (!strcmp(url, "/v1/openapi.json")) r->route = R_OPENAPI;
        else if (!strcmp(url, "/v1/search")) r->route = R_SEARCH;
        else if (!strcmp(url, "/v1/documents")) r->route = R_DOCS;
        else if (!strncmp(url, "/v1/documents/", 14)) r->route = R_DOC;
        else if (serve_traces_match(url)) r->route = R_TRACES;
        else if (serve_web_match(url)) r->route = R_WEB;
        else r->route = R_OTHER;
        return MHD_YES;
    }
    if (*size) {   /* body bytes */
        if (r->too_big || r->body.len + *size > BODY_MAX) r->too_big = 1;
        else if (cc_buf_append(&r->body, data, *size) != CC_OK) r->too_big = 1;
        *size = 0;
        return MHD_YES;
    }
    if (r->route == R_DOC && (id = path_id(url + 14)) < 0)
        return send_error(c, r, 404, "not_found", NULL, "no such resource: %s (document ids are integers)", url);
    if (r->route == R_OTHER)
        return send_error(c, r, 404, "not_found", NULL, "no such resource: %s", url);
    if (r->too_big)
        return send_error(c, r, 413, "body_too_large", NULL, "request body over the limit of %zu bytes", BODY_MAX);
    switch (r->route) {
    case R_TRACES: {   /* serve_traces.c */
        serve_reply rp;
        slot *s = slot_take();
        serve_reply_init(&rp);
        serve_traces_handle(c, s->kb, S.kbdir, method, url, &rp);
        slot_give(s);
        return send_reply(c, r, &rp);
    }
    case R_WEB: {      /* serve_web.c: the trace browser */
        serve_reply rp;
        serve_reply_init(&rp);
        serve_web_handle(method, url, &rp);
        return send_reply(c, r, &rp);
    }
    case R_HEALTHZ:
        if (is_get) return send_buf(c, r, 200, "application/json", "{\"status\":\"ok\"}", 15, NULL);
        return send_error(c, r, 405, "method_not_allowed", "GET", "%s allows GET", url);
    case R_METRICS:
        if (is_get) return do_metrics(c, r);
        return send_error(c, r, 405, "method_not_allowed", "GET", "%s allows GET", url);
    case R_OPENAPI:
        if (is_get) return send_buf(c, r, 200, "application/json", cairn_openapi_json,
                                    strlen(cairn_openapi_json), NULL);
        return send_error(c, r, 405, "method_not_allowed", "GET", "%s allows GET", url);
    case R_SEARCH:
        if (is_post) return do_search(c, r);
        return send_error(c, r, 405, "method_not_allowed", "POST", "%s allows POST", url);
    case R_DOCS:
        if (is_get) return do_get_docs(c, r, -1);
        if (is_post) return do_post_doc(c, r);
        return send_error(c, r, 405, "method_not_allowed", "GET, POST", "%s allows GET and POST", url);
    default:   /* R_DOC */
        if (is_get) return do_get_docs(c, r, id);
        if (!strcmp(method, "DELETE")) return do_delete_doc(c, r, id);
        return send_error(c, r, 405, "method_not_allowed", "GET, DELETE", "%s allows GET and DELETE", url);
    }
}

static void completed(void *cls, struct MHD_Connection *c, void **con_cls,
                      enum MHD_RequestTerminationCode toe)
{
    req *r = *con_cls;
    (void)cls; (void)c; (void)toe;
    if (!r) return;
    __atomic_sub_fetch(&S.inflight, 1, __ATOMIC_RELAXED);
    cc_buf_free(&r->body);
    free(r);
    *con_cls = NULL;
}

/* ---------------------------------------------------------------- command */

int cmd_serve(int argc, char **argv)
{
    const char *kbdir = NULL, *listen = "127.0.0.1:8080";
    int64_t threads = N_THREADS, port;
    struct sockaddr_in sa = {0};
    char host[64];
    const char *colon;
    struct MHD_Daemon *d;
    sigset_t set;
    int i, r, sig, ret = 0;
    cc_kb *probe;
    for (i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--help")) { fputs(serve_usage, stdout); return 0; }
        if ((r = cli_opt_str(argc, argv, &i, "--listen", &listen)) ||
            (r = cli_opt_int(argc, argv, &i, "--threads", 1, 64, &threads))) {
            if (r < 0) return cli_usage(serve_usage);
            continue;
        }
        if (argv[i][0] == '-') { cli_error("unknown option %s", argv[i]); return cli_usage(serve_usage); }
        if (kbdir) { cli_error("unexpected argument '%s'", argv[i]); return cli_usage(serve_usage); }
        kbdir = argv[i];
    }
    if (!kbdir) return cli_usage(serve_usage);
    colon = strrchr(listen, ':');
    if (!colon || (size_t)(colon - listen) >= sizeof host ||
        cc_parse_i64(colon + 1, 0, 65535, &port) != CC_OK) {
        cli_error("--listen %s: use HOST:PORT with an IPv4 address (e.g. 127.0.0.1:8080)", listen);
        return 2;
    }
    memcpy(host, listen, (size_t)(colon - listen));
    host[colon - listen] = 0;
    if (!strcmp(host, "localhost")) snprintf(host, sizeof host, "127.0.0.1");
    if (inet_pton(AF_INET, host, &sa.sin_addr) != 1) {
        cli_error("--listen %s: '%s' is not an IPv4 address", listen, host);
        return 2;
    }
    if ((ntohl(sa.sin_addr.s_addr) >> 24) != 127) {
        cli_error("--listen %s: refusing to bind a non-loopback address: API keys are not "
                  "implemented yet, so the server would be open to anyone who can reach it. "
                  "Use 127.0.0.1 (and a reverse proxy with authentication if needed).", listen);
        return 2;
    }
    sa.sin_family = AF_INET;
    sa.sin_port = htons((uint16_t)port);
    if (cc_kb_open(kbdir, CC_KB_READ, &probe) != CC_OK) return cli_error("%s", cc_errmsg());
    cc_kb_close(probe);

    S.kbdir = kbdir;
    S.n_slots = (int)threads;
    if (!(S.slots = calloc((size_t)threads, sizeof *S.slots))) return cli_error("out of memory");
    for (i = 0; i < S.n_slots; i++) pthread_mutex_init(&S.slots[i].mu, NULL);
    /* the worker threads inherit the blocked signals; main waits for them */
    sigemptyset(&set);
    sigaddset(&set, SIGTERM);
    sigaddset(&set, SIGINT);
    pthread_sigmask(SIG_BLOCK, &set, NULL);
    signal(SIGPIPE, SIG_IGN);
    d = MHD_start_daemon(MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_EPOLL | MHD_USE_ITC, 0, NULL, NULL,
                         handler, NULL,
                         MHD_OPTION_SOCK_ADDR, (struct sockaddr *)&sa,
                         MHD_OPTION_THREAD_POOL_SIZE, (unsigned)threads,
                         MHD_OPTION_NOTIFY_COMPLETED, completed, NULL,
                         MHD_OPTION_CONNECTION_TIMEOUT, 30u,
                         MHD_OPTION_CONNECTION_MEMORY_LIMIT, (size_t)256 * 1024,
                         MHD_OPTION_END);
    if (!d) {
        ret = cli_error("cannot listen on %s (address in use or not allowed)", listen);
        goto out;
    }
    {
        const union MHD_DaemonInfo *info = MHD_get_daemon_info(d, MHD_DAEMON_INFO_BIND_PORT);
        printf("cairn: serving %s on http://%s:%u (%d threads; loopback only, no API keys yet)\n",
               kbdir, host, info ? info->port : (unsigned)port, (int)threads);
        fflush(stdout);
    }
    sigwait(&set, &sig);
    fprintf(stderr, "cairn: %s received, finishing in-flight requests\n",
            sig == SIGTERM ? "SIGTERM" : "SIGINT");
    /* stop accepting; give requests already begun (body still arriving
     * included) up to SHUTDOWN_WAIT_MS to complete; idle keep-alive
     * connections are not waited for */
    MHD_quiesce_daemon(d);
    for (i = 0; i < SHUTDOWN_WAIT_MS / 20 && __atomic_load_n(&S.inflight, __ATOMIC_RELAXED); i++)
        usleep(20 * 1000);
    if (__atomic_load_n(&S.inflight, __ATOMIC_RELAXED))
        fprintf(stderr, "cairn: %d request(s) still running after %d ms; closing them\n",
                S.inflight, SHUTDOWN_WAIT_MS);
    MHD_stop_daemon(d);
out:
    for (i = 0; i < S.n_slots; i++) {
        if (S.slots[i].se) cr_searcher_close(S.slots[i].se);
        if (S.slots[i].kb) cc_kb_close(S.slots[i].kb);
        pthread_mutex_destroy(&S.slots[i].mu);
    }
    free(S.slots);
    return ret;
}
