/* cmd_serve.c — `cairn serve KB [--listen HOST:PORT]`: the REST server
 * (first cut of issue 7). libmicrohttpd with an internal epoll thread pool.
 *
 * Readers: a pool of read-only KB handles, each with its own searcher; a
 * request takes a free slot (never shared between threads at once).
 * Searches run on N search workers from one queue (serve_readers.c), not
 * on the libmicrohttpd thread that owns the connection. The
 * searchers share one vector index, reloaded in the background after writes
 * (serve_vectors.c); BM25 needs no reload (SQLite WAL readers see each
 * commit), so a write never makes a reader wait.
 * Writers: one at a time (write_mu), on one CC_KB_WRITE handle kept between
 * writes with the writer flock given up (cc_kb_unlock), so the flock is held
 * only while writing and a CLI writer can interleave (the server's document
 * write waits for it up to serve.lock_wait_s, then gets 503 kb_busy).
 * No API keys yet: only loopback addresses may be bound. */
#define _GNU_SOURCE
#include "serve.h"

#include <arpa/inet.h>
#include <pthread.h>
#include <errno.h>
#include <float.h>
#include <limits.h>
#include <math.h>
#include <stddef.h>
#include <signal.h>
#include <sqlite3.h>
#include <string.h>
#include <unistd.h>

#define BODY_MAX   SERVE_BODY_MAX
#define N_THREADS  4
/* per-connection memory: request line and headers must fit (larger get
 * 431 from libmicrohttpd) */
#define HEADER_MEM ((size_t)32 * 1024)
#define SHUTDOWN_WAIT_MS 10000
#define GRAPH_SYNC_MS 1000   /* serve.graph_sync_ms: see serve_writer.c */
#define LOCK_WAIT_S   5      /* serve.lock_wait_s: see serve_writer_start */

static const char serve_usage[] =
    "serve KB [--listen HOST:PORT] [--threads N] [--tls-cert PEM --tls-key PEM]\n"
    "         [--rate-limit R] [--timeout S] [--write-queue N] [--wait SECONDS]\n"
    "         [--model FILE.gguf]\n"
    "  REST API over HTTP (default 127.0.0.1:8080; port 0 picks a free one).\n"
    "  With API keys in the KB (`cairn keys`), every /v1 route needs\n"
    "  Authorization: Bearer KEY. Without keys only loopback may be bound.\n"
    "  A non-loopback address needs keys and TLS (--tls-cert, --tls-key).\n"
    "  --rate-limit R  requests per second per key (setting serve.rate_limit;\n"
    "                  burst serve.rate_burst, default 2R); 0 = off (default)\n"
    "  --timeout S     idle connection timeout (setting serve.timeout_s, 30)\n"
    "  --write-queue N document writes waiting for the writer thread before\n"
    "                  503 queue_full (setting serve.write_queue, 64)\n"
    "  --wait SECONDS  how long a document write may wait for a CLI writer\n"
    "                  (cairn ingest, ...) to let go of the KB before 503 kb_busy\n"
    "                  (setting serve.lock_wait_s, 5; 0: at once)\n"
    "  --model FILE    GGUF decoder for the OpenAI-compatible /v1/chat/completions\n"
    "                  (default setting ask.model); loaded once at startup\n"
    "  Stops cleanly on SIGTERM or SIGINT.\n";

/* schemas/openapi.json, compiled in (served at /v1/openapi.json) */
__asm__(".section .rodata\n"
        ".global cairn_openapi_json\n"
        "cairn_openapi_json:\n"
        ".incbin \"" CAIRN_SOURCE_DIR "/schemas/openapi.json\"\n"
        ".byte 0\n"
        ".previous\n");
extern const char cairn_openapi_json[];

/* ---------------------------------------------------------------- routes */

/* The route table (how to add one: see server/serve.h). One row per method
 * and path; /metrics reports each row's path. */
static const serve_route routes[] = {
    {"GET",    "/healthz",            serve_healthz,    SERVE_RIGHT_PUBLIC, NULL},
    {"GET",    "/metrics",            serve_metrics,    SERVE_RIGHT_PUBLIC, NULL},
    {"GET",    "/v1/openapi.json",    serve_openapi,    SERVE_RIGHT_PUBLIC, NULL},
    {"POST",   "/v1/search",          serve_search,     SERVE_RIGHT_READ, NULL},
    {"GET",    "/v1/documents",       serve_docs_list,  SERVE_RIGHT_READ, NULL},
    {"POST",   "/v1/documents",       serve_doc_post,   SERVE_RIGHT_WRITE, serve_doc_post_begin},
    {"GET",    "/v1/documents/{id}",  serve_doc_get,    SERVE_RIGHT_READ, NULL},
    {"DELETE", "/v1/documents/{id}",  serve_doc_delete, SERVE_RIGHT_WRITE, NULL},
    {"POST",   "/v1/ask",             serve_ask,        SERVE_RIGHT_READ, NULL},
    {"POST",   "/v1/sql",             serve_sql,        SERVE_RIGHT_READ, NULL},
    {"GET",    "/v1/graph/entities",  serve_graph_entities, SERVE_RIGHT_READ, NULL},
    {"GET",    "/v1/graph/entities/{id}", serve_graph_entity, SERVE_RIGHT_READ, NULL},
    {"POST",   "/v1/graph/subgraph",  serve_graph_subgraph, SERVE_RIGHT_READ, NULL},
    {"POST",   "/v1/sparql",          serve_sparql,     SERVE_RIGHT_READ, NULL},
    {"POST",   "/v1/embeddings",      serve_embeddings, SERVE_RIGHT_READ, NULL},
    {"GET",    "/v1/models",          serve_models,     SERVE_RIGHT_READ, NULL},
    {"POST",   "/v1/chat/completions", serve_chat_completions, SERVE_RIGHT_READ, NULL},
    {"GET",    "/v1/audit",           serve_audit_list, SERVE_RIGHT_AUDIT, NULL},
    {"GET",    "/v1/keys",            serve_keys_get,   SERVE_RIGHT_ADMIN, NULL},
    {"POST",   "/v1/keys",            serve_keys_post,  SERVE_RIGHT_ADMIN, NULL},
    {"DELETE", "/v1/keys/{id}",       serve_keys_delete, SERVE_RIGHT_ADMIN, NULL},
    {"GET",    "/v1/traces",          serve_traces,     SERVE_RIGHT_AUDIT, NULL},
    {"GET",    "/v1/traces/verify",   serve_traces,     SERVE_RIGHT_AUDIT, NULL},
    {"GET",    "/v1/traces/export",   serve_traces,     SERVE_RIGHT_AUDIT, NULL},
    {"GET",    "/v1/traces/{id}",     serve_traces,     SERVE_RIGHT_AUDIT, NULL},
    {"GET",    "/v1/traces/{id}/raw", serve_traces,     SERVE_RIGHT_AUDIT, NULL},
    {"GET",    "/v1/chunks/{id}",     serve_traces,     SERVE_RIGHT_READ, NULL},
    {"GET",    "/",                   serve_web,        SERVE_RIGHT_PUBLIC, NULL},
    {"GET",    "/index.html",         serve_web,        SERVE_RIGHT_PUBLIC, NULL},
    {"GET",    "/app.js",             serve_web,        SERVE_RIGHT_PUBLIC, NULL},
    {"GET",    "/app.css",            serve_web,        SERVE_RIGHT_PUBLIC, NULL},
};
#define N_ROUTES (sizeof routes / sizeof *routes)
/* metrics: one series per distinct pattern, plus "other" (unrouted) */
#define N_PATHS (N_ROUTES + 1)

/* Matches url against pattern; copies the {name} segment into param. */
static int route_match(const char *pattern, const char *url, char *param, size_t param_len)
{
    while (*pattern) {
        if (*pattern == '{') {
            const char *pe = strchr(pattern, '}'), *ue = strchrnul(url, '/');
            size_t n = (size_t)(ue - url);
            if (!pe || n == 0 || n >= param_len) return 0;
            memcpy(param, url, n);
            param[n] = 0;
            pattern = pe + 1;
            url = ue;
            continue;
        }
        if (*pattern++ != *url++) return 0;
    }
    return *url == 0;
}

/* ---------------------------------------------------------------- state */

typedef struct slot {
    pthread_mutex_t mu;
    serve_slot      pub;
    long            vec_version;   /* serve_vectors_apply's */
} slot;

static const int status_list[] = {200, 201, 400, 401, 403, 404, 405, 409, 413, 415, 429, 500, 503,
                                  507};
#define N_STATUS (sizeof status_list / sizeof *status_list)
static const double bucket_le[] = {0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1, 5};
#define N_BUCKET (sizeof bucket_le / sizeof *bucket_le)

static struct {
    const char     *kbdir;
    slot           *slots;
    int             n_slots;
    pthread_mutex_t write_mu;
    cc_kb          *wkb;                   /* the writer's handle, kept unlocked between writes */
    pthread_mutex_t log_mu;
    cc_kb          *lkb;                   /* the log appends' CC_KB_LOG handle (serve_log_acquire) */
    const char     *path_name[N_PATHS];    /* distinct patterns, then "other" */
    int             path_of[N_ROUTES];     /* route -> index in path_name */
    int             n_paths;
    unsigned long   count[N_PATHS][N_STATUS];
    unsigned long   bucket[N_PATHS][N_BUCKET + 1];  /* last: +Inf */
    double          sum_s[N_PATHS];
    unsigned long   n_req[N_PATHS];
    unsigned long   ingest_docs_added, ingest_docs_replaced, ingest_chunks;
    int             auth;                  /* 1: keys required on non-public routes */
    int             loopback;              /* bound to 127.0.0.0/8 */
    int64_t         keys_checked_ms;       /* when auth was last recounted */
    double          rate_per_s, rate_burst;   /* per-key request rate; 0 = off */
    pthread_mutex_t metrics_mu;
    int             inflight;              /* requests begun, not completed */
} S = {.write_mu = PTHREAD_MUTEX_INITIALIZER, .log_mu = PTHREAD_MUTEX_INITIALIZER,
       .metrics_mu = PTHREAD_MUTEX_INITIALIZER};

const char *serve_kbdir(void) { return S.kbdir; }

/* ---------------------------------------------------------------- responses */

static void count_response(serve_req *r, int status)
{
    double secs = (cc_now_ms() - r->t0) / 1e3;
    int p = r->route >= 0 ? S.path_of[r->route] : S.n_paths - 1;
    size_t si, b;
    for (si = 0; si < N_STATUS && status_list[si] != status; si++) {}
    for (b = 0; b < N_BUCKET && secs > bucket_le[b]; b++) {}
    pthread_mutex_lock(&S.metrics_mu);
    if (si < N_STATUS) S.count[p][si]++;
    S.bucket[p][b]++;
    S.sum_s[p] += secs;
    S.n_req[p]++;
    pthread_mutex_unlock(&S.metrics_mu);
}

enum MHD_Result serve_send_response(serve_req *r, int status, struct MHD_Response *resp)
{
    enum MHD_Result ret;
    /* every 503 (the KB held by a CLI writer, an index rebuild, the write
     * queue full, shutting down) is a moment's condition: clients and
     * proxies that honour Retry-After try again in a second */
    if (status == 503 && !MHD_get_response_header(resp, "Retry-After"))
        MHD_add_response_header(resp, "Retry-After", SERVE_RETRY_AFTER);
    ret = MHD_queue_response(r->c, (unsigned)status, resp);
    MHD_destroy_response(resp);
    count_response(r, status);
    return ret;
}

enum MHD_Result serve_send_reply(serve_req *r, serve_reply *rp)
{
    struct MHD_Response *resp = rp->stream;
    int i, status = rp->status;
    rp->stream = NULL;
    if (!resp && rp->static_body) {
        resp = MHD_create_response_from_buffer(rp->static_len, (void *)rp->static_body,
                                               MHD_RESPMEM_PERSISTENT);
    } else if (!resp) {   /* the body's bytes handed over, not copied */
        size_t len = rp->body.len;
        char *p = cc_buf_detach(&rp->body);
        if (p && !(resp = MHD_create_response_from_buffer(len, p, MHD_RESPMEM_MUST_FREE)))
            free(p);
    }
    if (!resp) { serve_reply_free(rp); return MHD_NO; }
    MHD_add_response_header(resp, "Content-Type", rp->ctype);
    if (rp->allow) MHD_add_response_header(resp, "Allow", rp->allow);
    for (i = 0; i < SERVE_HDR_MAX && rp->hdr[i].name; i++)
        MHD_add_response_header(resp, rp->hdr[i].name, rp->hdr[i].value);
    serve_reply_free(rp);
    return serve_send_response(r, status, resp);
}

/* The trace routes (serve_traces.c) on a reader slot. Reading one trace or
 * exporting them is audited first (serve_audit_log: no writer lock, so a
 * CLI writer does not stop it; 503 when the audit row cannot be written). */
enum MHD_Result serve_traces(serve_req *r)
{
    serve_reply rp;
    serve_slot *s;
    int one = !strncmp(r->url, "/v1/traces/", 11) && strcmp(r->url, "/v1/traces/verify");
    if (one && serve_audit_log(r, strcmp(r->url, "/v1/traces/export") ? "trace.read" : "trace.export",
                               r->param[0] ? r->param : NULL, NULL) != CC_OK)
        return serve_send_error(r, 503, "kb_busy", "trace reads are audited and the audit log "
                                "cannot be written now: %s", cc_errmsg());
    serve_reply_init(&rp);
    s = serve_slot_take();
    serve_traces_handle(r->c, s->kb, serve_kbdir(), r->method, r->url, &rp);
    serve_slot_give(s);
    return serve_send_reply(r, &rp);
}

/* The trace browser's files (serve_web.c). */
enum MHD_Result serve_web(serve_req *r)
{
    serve_reply rp;
    serve_reply_init(&rp);
    serve_web_handle(r->method, r->url, &rp);
    return serve_send_reply(r, &rp);
}

enum MHD_Result serve_send_buf(serve_req *r, int status, const char *ctype, const char *data,
                               size_t len, const char *allow)
{
    struct MHD_Response *resp =
        MHD_create_response_from_buffer(len, (void *)data, MHD_RESPMEM_MUST_COPY);
    if (!resp) return MHD_NO;
    MHD_add_response_header(resp, "Content-Type", ctype);
    if (allow) MHD_add_response_header(resp, "Allow", allow);
    if (status == 401) MHD_add_response_header(resp, "WWW-Authenticate", "Bearer realm=\"cairn\"");
    return serve_send_response(r, status, resp);
}

enum MHD_Result serve_send_json(serve_req *r, int status, cJSON *j)
{
    char *s = cJSON_PrintUnformatted(j);
    enum MHD_Result ret;
    cJSON_Delete(j);
    if (!s) {
        static const char oom[] = "{\"error\":{\"code\":\"internal\",\"message\":\"out of memory\"}}";
        return serve_send_buf(r, 500, "application/json", oom, sizeof oom - 1, NULL);
    }
    ret = serve_send_buf(r, status, "application/json", s, strlen(s), NULL);
    free(s);
    return ret;
}

enum MHD_Result serve_send_json_buf(serve_req *r, int status, cc_buf *b)
{
    struct MHD_Response *resp;
    size_t len = b->len;
    char *p = cc_buf_detach(b);
    if (!p) {
        static const char oom[] = "{\"error\":{\"code\":\"internal\",\"message\":\"out of memory\"}}";
        return serve_send_buf(r, 500, "application/json", oom, sizeof oom - 1, NULL);
    }
    resp = MHD_create_response_from_buffer(len, p, MHD_RESPMEM_MUST_FREE);
    if (!resp) { free(p); return MHD_NO; }
    MHD_add_response_header(resp, "Content-Type", "application/json");
    return serve_send_response(r, status, resp);
}

/* The fractions serve_json_num wrote last, per thread: printing one costs
 * snprintf("%.15g"), strtod and often snprintf("%.17g") (~8,000
 * instructions), and the scores of search responses (RRF sums of
 * w / (60 + rank)) recur from request to request. A slot holds the
 * double's bits and the bytes written for it, so a hit writes the same
 * bytes as a miss. */
#define NUM_SLOTS 1024
static _Thread_local struct num_slot {
    uint64_t bits;
    unsigned char len;         /* 0: empty */
    char     text[31];
} num_cache[NUM_SLOTS];

cc_status serve_json_num(cc_buf *b, double d)
{
    char num[32];
    double back, m;
    uint64_t bits;
    struct num_slot *sl;
    int iv;
    if (isnan(d) || isinf(d)) return cc_buf_append(b, "null", 4);
    /* cJSON's valueint: the double saturated to int */
    iv = d >= INT_MAX ? INT_MAX : d <= (double)INT_MIN ? INT_MIN : (int)d;
    if (d == (double)iv) {   /* %d, by hand: printf was most of a response's cost */
        char *e = num + sizeof num, *p = e;
        unsigned u = iv < 0 ? 0u - (unsigned)iv : (unsigned)iv;
        do { *--p = (char)('0' + u % 10); u /= 10; } while (u);
        if (iv < 0) *--p = '-';
        return cc_buf_append(b, p, (size_t)(e - p));
    }
    memcpy(&bits, &d, sizeof bits);
    sl = &num_cache[(bits * 0x9e3779b97f4a7c15ULL) >> 54];   /* top 10 bits */
    if (sl->len && sl->bits == bits) return cc_buf_append(b, sl->text, sl->len);
    snprintf(num, sizeof num, "%1.15g", d);
    back = strtod(num, NULL);
    m = fabs(back) > fabs(d) ? fabs(back) : fabs(d);
    if (!(fabs(back - d) <= m * DBL_EPSILON)) snprintf(num, sizeof num, "%1.17g", d);
    sl->len = (unsigned char)strlen(num);   /* at most 24: "%1.17g" */
    sl->bits = bits;
    memcpy(sl->text, num, sl->len);
    return cc_buf_append(b, sl->text, sl->len);
}

static enum MHD_Result send_error_v(serve_req *r, int status, const char *code, const char *allow,
                                    const char *fmt, va_list ap)
{
    char msg[512];
    cJSON *j = cJSON_CreateObject(), *e = cJSON_AddObjectToObject(j, "error");
    char *s;
    enum MHD_Result ret;
    vsnprintf(msg, sizeof msg, fmt, ap);
    cJSON_AddStringToObject(e, "code", code);
    cJSON_AddStringToObject(e, "message", msg);
    s = cJSON_PrintUnformatted(j);
    cJSON_Delete(j);
    ret = serve_send_buf(r, status, "application/json", s ? s : "{}", s ? strlen(s) : 2, allow);
    free(s);
    return ret;
}

enum MHD_Result serve_send_error(serve_req *r, int status, const char *code, const char *fmt, ...)
{
    va_list ap;
    enum MHD_Result ret;
    va_start(ap, fmt);
    ret = send_error_v(r, status, code, NULL, fmt, ap);
    va_end(ap);
    return ret;
}

static enum MHD_Result send_error_allow(serve_req *r, const char *allow, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static enum MHD_Result send_error_allow(serve_req *r, const char *allow, const char *fmt, ...)
{
    va_list ap;
    enum MHD_Result ret;
    va_start(ap, fmt);
    ret = send_error_v(r, 405, "method_not_allowed", allow, fmt, ap);
    va_end(ap);
    return ret;
}

/* ---------------------------------------------------------------- readers */

serve_slot *serve_slot_take(void)
{
    int i;
    slot *s;
    for (i = 0; i < S.n_slots; i++)
        if (!pthread_mutex_trylock(&S.slots[i].mu)) break;
    if (i == S.n_slots) { i = 0; pthread_mutex_lock(&S.slots[0].mu); }
    s = &S.slots[i];
    if (!s->pub.kb && cc_kb_open(S.kbdir, CC_KB_READ, &s->pub.kb) != CC_OK) s->pub.kb = NULL;
    if (s->pub.kb && !s->pub.se) {
        if (cr_searcher_open(s->pub.kb, &s->pub.se) != CC_OK) s->pub.se = NULL;
        else cr_searcher_set_lane_thread(s->pub.se, 0);   /* requests already run in parallel */
        s->vec_version = 0;
    }
    if (s->pub.se) serve_vectors_apply(s->pub.se, &s->vec_version);
    return &s->pub;
}

void serve_slots_apply_vectors(void)
{
    int i;
    for (i = 0; i < S.n_slots; i++) {
        pthread_mutex_lock(&S.slots[i].mu);
        if (S.slots[i].pub.se) serve_vectors_apply(S.slots[i].pub.se, &S.slots[i].vec_version);
        pthread_mutex_unlock(&S.slots[i].mu);
    }
}

void serve_slot_give(serve_slot *p)
{
    slot *s = (slot *)((char *)p - offsetof(slot, pub));
    pthread_mutex_unlock(&s->mu);
}

/* ---------------------------------------------------------------- bodies */

cJSON *serve_parse_body(serve_req *r)
{
    serve_bad bad;
    cJSON *j = serve_body_json(MHD_lookup_connection_value(r->c, MHD_HEADER_KIND, "Content-Type"),
                               r->body.data, r->body.len, &bad);
    if (!j) serve_send_error(r, bad.status, bad.code, "%s", bad.msg);
    return j;
}

int serve_check_fields(serve_req *r, cJSON *j, const char *const *allowed, const char *types)
{
    serve_bad bad;
    if (!serve_body_fields(j, allowed, types, &bad)) return 0;
    serve_send_error(r, bad.status, bad.code, "%s", bad.msg);
    return -1;
}

/* ---------------------------------------------------------------- writers */

cc_status serve_writer_acquire(cc_kb **out)
{
    cc_status st;
    pthread_mutex_lock(&S.write_mu);
    /* the handle of the last write, its connection and statements kept: only
     * the writer lock is taken again (opening the catalog was a seventh of
     * the writer's CPU per document) */
    if (S.wkb) {
        if ((st = cc_kb_relock(S.wkb)) == CC_OK) {
            *out = S.wkb;
            return CC_OK;
        }
        if (st == CC_BUSY) goto fail;
        cc_kb_close(S.wkb);     /* anything else: open afresh, as the first time */
        S.wkb = NULL;
    }
    if ((st = cc_kb_open(S.kbdir, CC_KB_WRITE, out)) == CC_OK) return CC_OK;
fail:
    *out = NULL;
    pthread_mutex_unlock(&S.write_mu);
    return st;
}

void serve_writer_release(cc_kb *kb, int changed)
{
    /* kept for the next write; a handle that cannot give up the lock is closed */
    if (cc_kb_unlock(kb) == CC_OK) {
        S.wkb = kb;
    } else {
        fprintf(stderr, "cairn: %s; closing the writer's handle\n", cc_kb_errmsg(kb));
        cc_kb_close(kb);
        S.wkb = NULL;
    }
    if (changed) serve_vectors_poke();
    pthread_mutex_unlock(&S.write_mu);
}

cc_kb *serve_writer_open(serve_req *r)
{
    cc_kb *kb;
    cc_status st = serve_writer_acquire(&kb);
    if (st) {
        const char *code;
        int http = serve_write_status(st, 500, "internal", &code);
        serve_send_error(r, http, code, "%s%s", cc_errmsg(),
                         st == CC_BUSY ? "; try again" : st == CC_FULL ? "; free space and retry" : "");
    }
    return kb;
}

void serve_writer_close(cc_kb *kb) { serve_writer_release(kb, 1); }

cc_status serve_log_acquire(cc_kb **out)
{
    cc_status st = CC_OK;
    pthread_mutex_lock(&S.log_mu);
    if (!S.lkb) st = cc_kb_open(S.kbdir, CC_KB_READ | CC_KB_LOG, &S.lkb);
    if (st) {
        *out = NULL;
        pthread_mutex_unlock(&S.log_mu);
        return st;
    }
    *out = S.lkb;
    return CC_OK;
}

void serve_log_release(cc_kb *kb, cc_status st)
{
    if (st == CC_VERSION) {   /* migrated meanwhile: the next use opens it afresh */
        cc_kb_close(kb);
        S.lkb = NULL;
    }
    pthread_mutex_unlock(&S.log_mu);
}

/* ---------------------------------------------------------------- small routes */

enum MHD_Result serve_healthz(serve_req *r)
{
    return serve_send_buf(r, 200, "application/json", "{\"status\":\"ok\"}", 15, NULL);
}

enum MHD_Result serve_openapi(serve_req *r)
{
    return serve_send_buf(r, 200, "application/json", cairn_openapi_json,
                          strlen(cairn_openapi_json), NULL);
}

void serve_count_ingest(unsigned long docs_added, unsigned long docs_replaced,
                        unsigned long chunks)
{
    __atomic_add_fetch(&S.ingest_docs_added, docs_added, __ATOMIC_RELAXED);
    __atomic_add_fetch(&S.ingest_docs_replaced, docs_replaced, __ATOMIC_RELAXED);
    __atomic_add_fetch(&S.ingest_chunks, chunks, __ATOMIC_RELAXED);
}

enum MHD_Result serve_metrics(serve_req *r)
{
    cc_buf b = CC_BUF_INIT(0);
    int p, wq, wr;
    size_t i, k;
    enum MHD_Result ret;
    pthread_mutex_lock(&S.metrics_mu);
    cc_buf_puts(&b, "# HELP cairn_http_requests_total HTTP requests by route and status.\n"
                    "# TYPE cairn_http_requests_total counter\n");
    for (p = 0; p < S.n_paths; p++)
        for (k = 0; k < N_STATUS; k++)
            if (S.count[p][k])
                cc_buf_printf(&b, "cairn_http_requests_total{route=\"%s\",status=\"%d\"} %lu\n",
                              S.path_name[p], status_list[k], S.count[p][k]);
    cc_buf_puts(&b, "# HELP cairn_http_request_duration_seconds Request latency by route.\n"
                    "# TYPE cairn_http_request_duration_seconds histogram\n");
    for (p = 0; p < S.n_paths; p++) {
        unsigned long cum = 0;
        if (!S.n_req[p]) continue;
        for (i = 0; i < N_BUCKET; i++) {
            cum += S.bucket[p][i];
            cc_buf_printf(&b, "cairn_http_request_duration_seconds_bucket{route=\"%s\",le=\"%g\"} %lu\n",
                          S.path_name[p], bucket_le[i], cum);
        }
        cc_buf_printf(&b, "cairn_http_request_duration_seconds_bucket{route=\"%s\",le=\"+Inf\"} %lu\n"
                          "cairn_http_request_duration_seconds_sum{route=\"%s\"} %.6f\n"
                          "cairn_http_request_duration_seconds_count{route=\"%s\"} %lu\n",
                      S.path_name[p], S.n_req[p], S.path_name[p], S.sum_s[p], S.path_name[p],
                      S.n_req[p]);
    }
    pthread_mutex_unlock(&S.metrics_mu);
    cc_buf_printf(&b, "# HELP cairn_ingest_documents_total Documents written through the API.\n"
                      "# TYPE cairn_ingest_documents_total counter\n"
                      "cairn_ingest_documents_total{change=\"added\"} %lu\n"
                      "cairn_ingest_documents_total{change=\"replaced\"} %lu\n"
                      "# HELP cairn_ingest_chunks_total Chunks written through the API.\n"
                      "# TYPE cairn_ingest_chunks_total counter\n"
                      "cairn_ingest_chunks_total %lu\n",
                  __atomic_load_n(&S.ingest_docs_added, __ATOMIC_RELAXED),
                  __atomic_load_n(&S.ingest_docs_replaced, __ATOMIC_RELAXED),
                  __atomic_load_n(&S.ingest_chunks, __ATOMIC_RELAXED));
    serve_write_state(&wq, &wr);
    cc_buf_printf(&b, "# HELP cairn_write_queue_jobs Document writes waiting for the writer thread.\n"
                      "# TYPE cairn_write_queue_jobs gauge\n"
                      "cairn_write_queue_jobs %d\n"
                      "# HELP cairn_write_running Document writes running now (0 or 1).\n"
                      "# TYPE cairn_write_running gauge\n"
                      "cairn_write_running %d\n",
                  wq, wr);
    /* the vector index searches use: its catalog generation, so a client
     * can wait for it (bench/serve_load.sh: loaded, and caught up with the
     * catalog's generation, the largest changes.generation) */
    cc_buf_printf(&b, "# HELP cairn_vector_index_generation Catalog generation the vector index of"
                      " searches reflects (-1: none loaded: vectors off, no index built, or a"
                      " failed load).\n"
                      "# TYPE cairn_vector_index_generation gauge\n"
                      "cairn_vector_index_generation %lld\n",
                  (long long)serve_vectors_generation());
    serve_chat_metrics(&b);
    ret = serve_send_buf(r, 200, "text/plain; version=0.0.4", b.data, b.len, NULL);
    cc_buf_free(&b);
    return ret;
}

/* ---------------------------------------------------------------- dispatch */

/* Finds the route for (method, url). Returns its index, or -1 with *path_hit
 * set when the path exists for other methods (their list in allow). HEAD is
 * answered by a GET route (libmicrohttpd sends the headers only). */
static int route_find(const char *method, const char *url, char *param, size_t param_len,
                      int *path_hit, cc_buf *allow)
{
    size_t i;
    *path_hit = 0;
    for (i = 0; i < N_ROUTES; i++) {
        if (!route_match(routes[i].pattern, url, param, param_len)) continue;
        if (!strcmp(routes[i].method, method) ||
            (!strcmp(method, "HEAD") && !strcmp(routes[i].method, "GET")))
            return (int)i;
        if (*path_hit) cc_buf_puts(allow, ", ");
        cc_buf_puts(allow, routes[i].method);
        *path_hit = (int)i + 1;
    }
    return -1;
}

/* ---------------------------------------------------------------- rate limit */

/* Token bucket per key id (0: callers without a key): rate_per_s tokens a
 * second, up to burst; a request takes one. Open addressing over a fixed
 * table; a full table shares the last bucket (never fails open). */
#define N_BUCKETS 1024
static struct bucket { int64_t key; int used; double tokens, t_ms; } buckets[N_BUCKETS];
static pthread_mutex_t bucket_mu = PTHREAD_MUTEX_INITIALIZER;

/* 0 when allowed; else the seconds until a token is there. */
static double rate_take(int64_t key)
{
    size_t i, h = (size_t)((uint64_t)key * 0x9E3779B97F4A7C15ull >> 54) % N_BUCKETS;
    struct bucket *b = NULL;
    double now = cc_now_ms(), wait = 0;
    if (S.rate_per_s <= 0) return 0;
    pthread_mutex_lock(&bucket_mu);
    for (i = 0; i < N_BUCKETS; i++) {
        b = &buckets[(h + i) % N_BUCKETS];
        if (!b->used) { b->used = 1; b->key = key; b->tokens = S.rate_burst; b->t_ms = now; break; }
        if (b->key == key) break;
    }
    b->tokens += (now - b->t_ms) / 1e3 * S.rate_per_s;
    if (b->tokens > S.rate_burst) b->tokens = S.rate_burst;
    b->t_ms = now;
    if (b->tokens >= 1) b->tokens -= 1;
    else wait = (1 - b->tokens) / S.rate_per_s;
    pthread_mutex_unlock(&bucket_mu);
    return wait;
}

/* ---------------------------------------------------------------- requests */

/* Keys are required off loopback, and on loopback while the KB has a live
 * key: re-counted at most once a second, so the first `cairn keys add`
 * closes a running server within a second (and revoking the last opens it). */
static int auth_required(void)
{
    int64_t now = (int64_t)cc_now_ms(), last;
    if (!S.loopback) return 1;
    last = __atomic_load_n(&S.keys_checked_ms, __ATOMIC_RELAXED);
    if (now - last >= 1000) {
        serve_slot *sl = serve_slot_take();
        int64_t n = sl->kb ? serve_keys_count(sl->kb) : -1;
        serve_slot_give(sl);
        /* an error counts as "keys present": never open by failure */
        __atomic_store_n(&S.auth, n != 0, __ATOMIC_RELAXED);
        __atomic_store_n(&S.keys_checked_ms, now, __ATOMIC_RELAXED);
    }
    return __atomic_load_n(&S.auth, __ATOMIC_RELAXED);
}

/* At the headers: route, authenticate, rate-limit. Sets r->early (a status
 * answered once the body is drained, message in r->early_msg) or leaves
 * it 0 for the handler to run. */
static void admit(serve_req *r)
{
    cc_buf allow = CC_BUF_INIT(256);
    int hit, i = route_find(r->method, r->url, r->param, sizeof r->param, &hit, &allow);
    const char *auth;
    double wait;
    if (i < 0) {
        if (hit) {
            r->route = hit - 1;   /* counted under the path */
            r->early = 405;
            snprintf(r->early_allow, sizeof r->early_allow, "%s", allow.data);
            snprintf(r->early_msg, sizeof r->early_msg, "%s allows %s", r->url, allow.data);
        } else {
            r->early = 404;
            snprintf(r->early_msg, sizeof r->early_msg, "no such resource: %s", r->url);
        }
        cc_buf_free(&allow);
        return;
    }
    cc_buf_free(&allow);
    r->route = i;
    snprintf(r->actor, sizeof r->actor, "loopback");
    if (routes[i].right == SERVE_RIGHT_PUBLIC) goto begin;
    if (auth_required()) {
        serve_slot *sl;
        auth = MHD_lookup_connection_value(r->c, MHD_HEADER_KIND, "Authorization");
        sl = serve_slot_take();
        if (!sl->kb) {
            r->early = 500;
            snprintf(r->early_msg, sizeof r->early_msg, "cannot open the KB: %s", cc_errmsg());
        } else if (serve_auth_check(sl->kb, auth, &r->key_id, &r->role, r->early_msg,
                                    sizeof r->early_msg)) {
            r->early = 401;
        }
        serve_slot_give(sl);
        if (r->early) return;
        snprintf(r->actor, sizeof r->actor, "key:%lld", (long long)r->key_id);
        if (!(serve_role_rights(r->role) & routes[i].right)) {
            r->early = 403;
            snprintf(r->early_msg, sizeof r->early_msg, "%s %s needs the %s right; key %lld has "
                     "the role %s", r->method, routes[i].pattern,
                     routes[i].right == SERVE_RIGHT_WRITE ? "write"
                     : routes[i].right == SERVE_RIGHT_AUDIT ? "audit"
                     : routes[i].right == SERVE_RIGHT_ADMIN ? "admin" : "read",
                     (long long)r->key_id, serve_role_name(r->role));
            return;
        }
    }
    if ((wait = rate_take(r->key_id)) > 0) {
        r->early = 429;
        snprintf(r->early_allow, sizeof r->early_allow, "%d", (int)wait + 1);
        snprintf(r->early_msg, sizeof r->early_msg, "over the request rate limit of %g/s "
                 "(burst %g) for %s; retry in %.2f s", S.rate_per_s, S.rate_burst, r->actor, wait);
        return;
    }
begin:
    if (routes[i].begin) routes[i].begin(r);
}

static enum MHD_Result answer_early(serve_req *r)
{
    static const char *const code[] = {"401", "unauthorized", "403", "forbidden",
                                       "404", "not_found", "405", "method_not_allowed",
                                       "400", "bad_request", "413", "body_too_large",
                                       "415", "unsupported_media_type",
                                       "429", "rate_limited", "500", "internal"};
    char st[8];
    size_t i;
    snprintf(st, sizeof st, "%d", r->early);
    for (i = 0; i + 2 < sizeof code / sizeof *code && strcmp(code[i], st); i += 2) {}
    if (r->early == 405) return send_error_allow(r, r->early_allow, "%s", r->early_msg);
    if (r->early == 429) {
        /* Retry-After: error body built here to add the header */
        cJSON *j = cJSON_CreateObject(), *e = cJSON_AddObjectToObject(j, "error");
        char *s;
        struct MHD_Response *resp;
        cJSON_AddStringToObject(e, "code", "rate_limited");
        cJSON_AddStringToObject(e, "message", r->early_msg);
        s = cJSON_PrintUnformatted(j);
        cJSON_Delete(j);
        if (!s) return MHD_NO;
        resp = MHD_create_response_from_buffer(strlen(s), s, MHD_RESPMEM_MUST_FREE);
        if (!resp) { free(s); return MHD_NO; }
        MHD_add_response_header(resp, "Content-Type", "application/json");
        MHD_add_response_header(resp, "Retry-After", r->early_allow);
        return serve_send_response(r, 429, resp);
    }
    return serve_send_error(r, r->early, code[i + 1], "%s", r->early_msg);
}

static enum MHD_Result handler(void *cls, struct MHD_Connection *c, const char *url,
                               const char *method, const char *version, const char *data,
                               size_t *size, void **con_cls)
{
    serve_req *r = *con_cls;
    (void)cls; (void)version;
    if (r && r->job) return serve_job_resumed(r);   /* back from the writer or a search worker */
    if (!r) {   /* first call: headers only */
        if (!(r = calloc(1, sizeof *r))) return MHD_NO;
        r->t0 = cc_now_ms();
        r->c = c;
        r->url = url;
        r->method = method;
        r->route = -1;
        __atomic_add_fetch(&S.inflight, 1, __ATOMIC_RELAXED);
        cc_buf_init(&r->body, 0);
        *con_cls = r;
        admit(r);
        return MHD_YES;
    }
    if (*size) {   /* body bytes: dropped when the request is already refused */
        if (r->early) {}
        else if (r->body_fn) { if (r->body_fn(r, data, *size)) r->too_big = 1; }
        else if (r->too_big || r->body.len + *size > BODY_MAX) r->too_big = 1;
        else if (cc_buf_append(&r->body, data, *size) != CC_OK) r->too_big = 1;
        *size = 0;
        return MHD_YES;
    }
    if (r->early) return answer_early(r);
    if (r->too_big)
        return serve_send_error(r, 413, "body_too_large", "request body over the limit of %zu bytes",
                                BODY_MAX);
    return routes[r->route].fn(r);
}

static void completed(void *cls, struct MHD_Connection *c, void **con_cls,
                      enum MHD_RequestTerminationCode toe)
{
    serve_req *r = *con_cls;
    (void)cls; (void)c; (void)toe;
    if (!r) return;
    __atomic_sub_fetch(&S.inflight, 1, __ATOMIC_RELAXED);
    if (r->ext_free) r->ext_free(r->ext);
    serve_job_free(r->job);
    cc_buf_free(&r->body);
    free(r);
    *con_cls = NULL;
}

/* ---------------------------------------------------------------- command */

/* Reads a PEM file (at most 1 MiB) into out. */
static int read_pem(const char *path, cc_buf *out)
{
    FILE *f = fopen(path, "rb");
    char chunk[4096];
    size_t n;
    if (!f) return cli_error("%s: %s", path, strerror(errno));
    cc_buf_init(out, (size_t)1 << 20);
    while ((n = fread(chunk, 1, sizeof chunk, f)) > 0)
        if (cc_buf_append(out, chunk, n) != CC_OK) {
            fclose(f);
            return cli_error("%s: over 1 MiB; is it a PEM certificate or key?", path);
        }
    fclose(f);
    if (!out->len) return cli_error("%s: empty file", path);
    return 0;
}

int cmd_serve(int argc, char **argv)
{
    const char *kbdir = NULL, *listen = "127.0.0.1:8080", *tls_cert = NULL, *tls_key = NULL;
    const char *model = NULL;
    int64_t threads = N_THREADS, port, timeout_s = -1, n_keys, write_queue = -1, bg_nice = 0,
            graph_sync_ms = GRAPH_SYNC_MS, lock_wait_ms = -1;
    double rate = -1;
    struct sockaddr_in sa = {0};
    char host[64];
    const char *colon;
    struct MHD_Daemon *d = NULL;
    sigset_t set;
    int i, r, sig, ret = 0, loopback;
    unsigned flags;
    cc_kb *probe;
    cc_buf cert = CC_BUF_INIT(0), key = CC_BUF_INIT(0);
    for (i = 1; i < argc; i++) {
        const char *rate_s = NULL;
        if (!strcmp(argv[i], "--help")) { fputs(serve_usage, stdout); return 0; }
        if ((r = cli_opt_str(argc, argv, &i, "--listen", &listen)) ||
            (r = cli_opt_str(argc, argv, &i, "--tls-cert", &tls_cert)) ||
            (r = cli_opt_str(argc, argv, &i, "--tls-key", &tls_key)) ||
            (r = cli_opt_str(argc, argv, &i, "--model", &model)) ||
            (r = cli_opt_int(argc, argv, &i, "--timeout", 1, 3600, &timeout_s)) ||
            (r = cli_opt_int(argc, argv, &i, "--write-queue", 1, 4096, &write_queue)) ||
            (r = cli_opt_secs(argc, argv, &i, "--wait", &lock_wait_ms)) ||
            (r = cli_opt_int(argc, argv, &i, "--threads", 1, 64, &threads))) {
            if (r < 0) return cli_usage(serve_usage);
            continue;
        }
        if ((r = cli_opt_str(argc, argv, &i, "--rate-limit", &rate_s))) {
            char *end;
            if (r < 0) return 2;
            rate = strtod(rate_s, &end);
            if (*end || end == rate_s || !(rate >= 0 && rate <= 1e6)) {
                cli_error("--rate-limit %s: requests per second per key, 0..1000000 (0 = off)", rate_s);
                return 2;
            }
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
    if (!tls_cert != !tls_key) {
        cli_error("--tls-cert and --tls-key go together");
        return 2;
    }
    if (tls_cert && MHD_is_feature_supported(MHD_FEATURE_TLS) != MHD_YES) {
        cli_error("this libmicrohttpd (%s) was built without TLS (GnuTLS), so --tls-cert cannot "
                  "be used; install a libmicrohttpd with HTTPS support", MHD_get_version());
        return 2;
    }
    loopback = (ntohl(sa.sin_addr.s_addr) >> 24) == 127;
    sa.sin_family = AF_INET;
    sa.sin_port = htons((uint16_t)port);
    /* the worker threads (and the model's) inherit the blocked signals; main waits for them */
    sigemptyset(&set);
    sigaddset(&set, SIGTERM);
    sigaddset(&set, SIGINT);
    pthread_sigmask(SIG_BLOCK, &set, NULL);
    if (cc_kb_open(kbdir, CC_KB_READ, &probe) != CC_OK) return cli_error("%s", cc_errmsg());
    n_keys = serve_keys_count(probe);
    if (rate < 0 && cc_kb_setting_f64(probe, "serve.rate_limit", 0, &rate) != CC_OK) rate = 0;
    if (cc_kb_setting_f64(probe, "serve.rate_burst", rate * 2 > 1 ? rate * 2 : 1, &S.rate_burst) != CC_OK)
        S.rate_burst = rate * 2 > 1 ? rate * 2 : 1;
    if (timeout_s < 0 && cc_kb_setting_i64(probe, "serve.timeout_s", 30, &timeout_s) != CC_OK)
        timeout_s = 30;
    if (write_queue < 0 && (cc_kb_setting_i64(probe, "serve.write_queue", 64, &write_queue) != CC_OK ||
                            write_queue < 1 || write_queue > 4096))
        write_queue = 64;
    if (cc_kb_setting_i64(probe, "serve.background_nice", 0, &bg_nice) != CC_OK || bg_nice < 0 ||
        bg_nice > 19) {
        cc_kb_close(probe);
        return cli_error("setting serve.background_nice in %s/cairn.json: want a whole number "
                         "0-19 (0: the writer and the vector reloader at the server's priority)",
                         kbdir);
    }
    if (cc_kb_setting_i64(probe, "serve.graph_sync_ms", GRAPH_SYNC_MS, &graph_sync_ms) != CC_OK ||
        graph_sync_ms < 0 || graph_sync_ms > 3600000) {
        cc_kb_close(probe);
        return cli_error("setting serve.graph_sync_ms in %s/cairn.json: want a whole number of "
                         "milliseconds 0-3600000 (how old the oldest write the graph store lacks "
                         "may grow before the writer catches it up; 0: after every write)", kbdir);
    }
    if (lock_wait_ms < 0) {
        double w;
        if (cc_kb_setting_f64(probe, "serve.lock_wait_s", LOCK_WAIT_S, &w) != CC_OK || !(w >= 0 && w <= 86400)) {
            cc_kb_close(probe);
            return cli_error("setting serve.lock_wait_s in %s/cairn.json: want a number of seconds "
                             "0-86400 (how long a document write through the API waits for a CLI "
                             "writer to let go of the KB; 0: answer 503 kb_busy at once)", kbdir);
        }
        lock_wait_ms = (int64_t)(w * 1000.0 + 0.5);
    }
    if (n_keys < 0) {
        ret = cli_error("%s", cc_kb_errmsg(probe));
        cc_kb_close(probe);
        return ret;
    }
    if ((ret = serve_chat_open(probe, model))) {
        cc_kb_close(probe);
        return ret;
    }
    cc_kb_close(probe);
    if (!loopback && (n_keys == 0 || !tls_cert)) {
        cli_error("--listen %s: refusing to bind a non-loopback address %s. Off loopback the "
                  "server needs API keys (cairn keys %s add --role ...) and TLS (--tls-cert, "
                  "--tls-key); or use 127.0.0.1.", listen,
                  n_keys == 0 ? "without API keys" : "without TLS", kbdir);
        return 2;
    }
    if (tls_cert && (read_pem(tls_cert, &cert) || read_pem(tls_key, &key))) {
        cc_buf_free(&cert);
        cc_buf_free(&key);
        return 1;
    }
    S.auth = n_keys > 0 || !loopback;
    S.loopback = loopback;
    S.keys_checked_ms = (int64_t)cc_now_ms();
    S.rate_per_s = rate;
    S.kbdir = kbdir;
    for (i = 0; i < (int)N_ROUTES; i++) {   /* metrics series: one per distinct path */
        int p;
        for (p = 0; p < S.n_paths && strcmp(S.path_name[p], routes[i].pattern); p++) {}
        if (p == S.n_paths) S.path_name[S.n_paths++] = routes[i].pattern;
        S.path_of[i] = p;
    }
    S.path_name[S.n_paths++] = "other";
    /* the slots before the reloader: it moves them onto a swapped-in index */
    if (!(S.slots = calloc((size_t)threads, sizeof *S.slots))) return cli_error("out of memory");
    S.n_slots = (int)threads;
    for (i = 0; i < S.n_slots; i++) pthread_mutex_init(&S.slots[i].mu, NULL);
    if ((ret = serve_timing_open())) goto out;
    cr_vindex_huge_pages(1);   /* a server searches for long: its vectors on huge pages */
    cr_blas_quiet(1);          /* searches side by side, each BLAS call on its own thread */
    if ((ret = serve_vectors_start(kbdir, (int)bg_nice))) goto out;
    if ((ret = serve_writer_start((int)write_queue, (int)bg_nice, (int)graph_sync_ms, lock_wait_ms))) goto out;
    if ((ret = serve_readers_start((int)threads))) goto out;
    signal(SIGPIPE, SIG_IGN);
    flags = MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_EPOLL | MHD_USE_ITC | MHD_ALLOW_SUSPEND_RESUME;
    if (tls_cert)
        d = MHD_start_daemon(flags | MHD_USE_TLS, 0, NULL, NULL, handler, NULL,
                             MHD_OPTION_SOCK_ADDR, (struct sockaddr *)&sa,
                             MHD_OPTION_THREAD_POOL_SIZE, (unsigned)threads,
                             MHD_OPTION_NOTIFY_COMPLETED, completed, NULL,
                             MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)timeout_s,
                             MHD_OPTION_CONNECTION_MEMORY_LIMIT, HEADER_MEM,
                             MHD_OPTION_HTTPS_MEM_CERT, cert.data,
                             MHD_OPTION_HTTPS_MEM_KEY, key.data,
                             MHD_OPTION_END);
    else
        d = MHD_start_daemon(flags, 0, NULL, NULL, handler, NULL,
                             MHD_OPTION_SOCK_ADDR, (struct sockaddr *)&sa,
                             MHD_OPTION_THREAD_POOL_SIZE, (unsigned)threads,
                             MHD_OPTION_NOTIFY_COMPLETED, completed, NULL,
                             MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)timeout_s,
                             MHD_OPTION_CONNECTION_MEMORY_LIMIT, HEADER_MEM,
                             MHD_OPTION_END);
    if (!d) {
        ret = cli_error("cannot listen on %s (address in use or not allowed%s)", listen,
                        tls_cert ? ", or the TLS certificate or key is not valid PEM" : "");
        goto out;
    }
    {
        const union MHD_DaemonInfo *info = MHD_get_daemon_info(d, MHD_DAEMON_INFO_BIND_PORT);
        printf("cairn: serving %s on %s://%s:%u (%d threads; %s; model %s)\n", kbdir,
               tls_cert ? "https" : "http", host, info ? info->port : (unsigned)port, (int)threads,
               S.auth ? "API keys required" : "no API keys configured: loopback only, open to local users",
               serve_chat_model() ? serve_chat_model() : "none");
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
    serve_chat_stop();
    /* the writes still queued run to the end (their connections are
     * suspended: libmicrohttpd must not stop with one), then the vector
     * index is caught up a last time */
    serve_writer_stop();
    serve_readers_stop();   /* the searches still queued are answered */
    MHD_stop_daemon(d);
out:
    serve_writer_stop();
    serve_readers_stop();
    serve_chat_close();
    serve_vectors_stop();   /* the reloader touches the slots: ended before they close */
    if (S.wkb) cc_kb_close(S.wkb);   /* nothing writes after the writer and the readers stop */
    S.wkb = NULL;
    if (S.lkb) cc_kb_close(S.lkb);
    S.lkb = NULL;
    for (i = 0; i < S.n_slots; i++) {
        sqlite3_finalize(S.slots[i].pub.hydrate);
        if (S.slots[i].pub.se) cr_searcher_close(S.slots[i].pub.se);
        if (S.slots[i].pub.kb) cc_kb_close(S.slots[i].pub.kb);
        pthread_mutex_destroy(&S.slots[i].mu);
    }
    free(S.slots);
    cc_buf_free(&cert);
    cc_buf_free(&key);
    serve_timing_close();
    return ret;
}
