/* serve_ask.c — POST /v1/ask: ca_ask over HTTP, as one JSON answer or, with
 * "stream": true, as server-sent events.
 *
 * Body: {"question": str, "k": 1..100, "hops": 1..4 (graph stage; default
 * setting graph.hops), "json": bool (include the whole trace), "stream":
 * bool}. The question is limited to the setting
 * serve.question_max_bytes (4096). An ask runs on a reader slot and takes
 * the server's one writer only to append its trace and its audit row; the
 * trace's caller is the API key ("key:<id>").
 *
 * Stream (text/event-stream), in order:
 *   event: stage   data: {"stage": "retrieval"|"graph"|"generate"|"checks",
 *                         "ms": float, ...counts}     as each stage finishes
 *   event: answer  data: the same object as the non-streamed response
 *   event: done    data: {"trace_id": "..."}
 *   event: token   data: {"text": "..."}  each piece a GGUF model writes
 *                  (ask.model; none with the extractive generator, which
 *                  makes the whole answer at once), between the prompt and
 *                  generate stages
 * or, on failure after the stream began, event: error with the usual error
 * object.
 * The ask runs on its own thread; the response's reader waits for events. */
#define _GNU_SOURCE
#include "serve.h"
#include "ask.h"

#include <pthread.h>
#include <string.h>
#include <time.h>

#define QUESTION_MAX_DEFAULT 4096

/* The answer object shared by both forms; trace parsed in when want_trace. */
static cJSON *answer_json(const ca_answer *a, int want_trace)
{
    cJSON *o = cJSON_CreateObject(), *arr;
    size_t i;
    cJSON_AddStringToObject(o, "answer", a->text ? a->text : "");
    cJSON_AddBoolToObject(o, "abstained", a->abstained);
    arr = cJSON_AddArrayToObject(o, "citations");
    for (i = 0; i < a->n_cites; i++) {
        cJSON *c = cJSON_CreateObject();
        cJSON_AddNumberToObject(c, "id", a->cites[i].id);
        cJSON_AddNumberToObject(c, "chunk", (double)a->cites[i].chunk_id);
        cJSON_AddStringToObject(c, "document", a->cites[i].uri ? a->cites[i].uri : "");
        cJSON_AddNumberToObject(c, "start_char", (double)a->cites[i].start_char);
        cJSON_AddNumberToObject(c, "end_char", (double)a->cites[i].end_char);
        cJSON_AddItemToArray(arr, c);
    }
    cJSON_AddBoolToObject(o, "checks_ok", a->checks_ok);
    cJSON_AddStringToObject(o, "trace_id", a->trace_id);
    if (want_trace && a->trace_json) {
        cJSON *t = cJSON_Parse(a->trace_json);
        if (t) cJSON_AddItemToObject(o, "trace", t);
    }
    return o;
}

/* The HTTP status and error code of a failed ask: bad input 400/413; the
 * trace write's failures as every other write's (507 insufficient_storage
 * on a full disk, 503 kb_busy); else 500. */
static int ask_status(cc_status s, const char **code)
{
    if (s == CC_INVALID) { *code = "bad_field"; return 400; }
    if (s == CC_TOOBIG) { *code = "internal"; return 413; }
    return serve_write_status(s, 500, "internal", code);
}

/* ---------------------------------------------------------------- running one */

/* The trace append (a log transaction: no writer lock, so a CLI writer
 * does not stop it) and then the ask's audit row go through the server's
 * log handle (ctx: the caller's actor). */
static cc_status trace_open(void *ctx, cc_kb **wkb)
{
    (void)ctx;
    return serve_log_acquire(wkb);
}

static void trace_done(void *ctx, cc_kb *wkb, const char *trace_id)
{
    cc_status s = CC_OK;
    if (trace_id && (s = serve_audit_append(wkb, ctx, "ask", trace_id, NULL)) != CC_OK)
        fprintf(stderr, "cairn: audit log: %s\n", cc_kb_errmsg(wkb));
    serve_log_release(wkb, s);
}

/* Asks that run a GGUF model go one at a time: the engine already uses
 * every core and keeps one model with its KV cache warm between asks.
 * Extractive asks run side by side. */
static pthread_mutex_t gen_mu = PTHREAD_MUTEX_INITIALIZER;

/* Runs one ask on a reader slot (its read-only handle and searcher); only
 * the trace append takes the writer. On failure returns the status with
 * the reason in msg. */
static cc_status run_ask(const char *question, ca_ask_opts *o, ca_answer **a, char *msg,
                         size_t msgsz)
{
    serve_slot *sl = serve_slot_take();
    const char *model = "";
    int gen;
    cc_status s;
    if (!sl->kb) {
        snprintf(msg, msgsz, "cannot open the KB: %s", cc_errmsg());
        serve_slot_give(sl);
        return CC_IO;
    }
    gen = cc_kb_setting_str(sl->kb, "ask.model", "", &model) == CC_OK && *model;
    o->searcher = sl->se;
    o->trace_open = trace_open;
    o->trace_done = trace_done;
    o->trace_ctx = (void *)o->caller;
    if (gen) pthread_mutex_lock(&gen_mu);
    s = ca_ask(sl->kb, question, o, a);
    if (gen) pthread_mutex_unlock(&gen_mu);
    if (s) snprintf(msg, msgsz, "%s", cc_kb_errmsg(sl->kb));
    serve_slot_give(sl);
    return s;
}

/* ---------------------------------------------------------------- stream */

typedef struct ask_stream {
    serve_sse       sse;       /* first: the producer thread gets the ask_stream */
    char           *question;
    int             k, hops, want_trace;
    char            actor[32];
} ask_stream;

static void stream_free_owner(serve_sse *s)
{
    ask_stream *st = (ask_stream *)s;
    free(st->question);
    free(st);
}

/* Appends one event (data: a single line of JSON); j is consumed. */
static void stream_event(ask_stream *st, const char *name, cJSON *j)
{
    char *s = cJSON_PrintUnformatted(j);
    cJSON_Delete(j);
    serve_sse_push(&st->sse, "event: %s\ndata: %s\n\n", name, s ? s : "{}");
    free(s);
}

static void on_stage(void *ctx, const char *stage, double ms, const char *detail)
{
    cJSON *j = cJSON_Parse(detail);
    if (!j) j = cJSON_CreateObject();
    cJSON_AddStringToObject(j, "stage", stage);
    cJSON_AddNumberToObject(j, "ms", ms);
    stream_event(ctx, "stage", j);
}

static void on_token(void *ctx, const char *text, size_t n)
{
    cJSON *j = cJSON_CreateObject();
    char *t = cc_strndup(text, n);
    cJSON_AddStringToObject(j, "text", t ? t : "");
    free(t);
    stream_event(ctx, "token", j);
}

static cJSON *error_obj(const char *code, const char *msg)
{
    cJSON *j = cJSON_CreateObject(), *e = cJSON_AddObjectToObject(j, "error");
    cJSON_AddStringToObject(e, "code", code);
    cJSON_AddStringToObject(e, "message", msg);
    return j;
}

static void *ask_thread(void *p)
{
    ask_stream *st = p;
    ca_ask_opts o = {.k = st->k, .caller = st->actor, .on_stage = on_stage, .stage_ctx = st,
                     .hops = st->hops, .on_token = on_token, .on_token_ctx = st};
    ca_answer *a = NULL;
    char msg[1024];
    cc_status s;
    if ((s = run_ask(st->question, &o, &a, msg, sizeof msg))) {
        const char *code;
        ask_status(s, &code);
        stream_event(st, "error", error_obj(code, msg));
    } else {
        cJSON *d = cJSON_CreateObject();
        stream_event(st, "answer", answer_json(a, st->want_trace));
        cJSON_AddStringToObject(d, "trace_id", a->trace_id);
        stream_event(st, "done", d);
        ca_answer_free(a);
    }
    serve_sse_end(&st->sse);
    return NULL;
}

static enum MHD_Result ask_streamed(serve_req *r, const char *q, int k, int hops, int want_trace)
{
    ask_stream *st = calloc(1, sizeof *st);
    int started;
    if (!st || !(st->question = cc_strdup(q))) {
        free(st);
        return serve_send_error(r, 500, "internal", "out of memory");
    }
    serve_sse_init(&st->sse, stream_free_owner);
    st->k = k;
    st->hops = hops;
    st->want_trace = want_trace;
    snprintf(st->actor, sizeof st->actor, "%s", r->actor);
    return serve_sse_start(r, &st->sse, ask_thread, "ask", &started);
}

/* ---------------------------------------------------------------- route */

enum MHD_Result serve_ask(serve_req *r)
{
    static const char *const fields[] = {"question", "k", "json", "stream", "hops", NULL};
    cJSON *j, *q, *kj, *js, *stream, *hj;
    int64_t qmax = QUESTION_MAX_DEFAULT;
    int k = 0, hops = 0;
    size_t qn;
    enum MHD_Result ret;
    if (!(j = serve_parse_body(r))) return MHD_YES;
    if (serve_check_fields(r, j, fields, "snbbn")) { cJSON_Delete(j); return MHD_YES; }
    q = cJSON_GetObjectItemCaseSensitive(j, "question");
    kj = cJSON_GetObjectItemCaseSensitive(j, "k");
    js = cJSON_GetObjectItemCaseSensitive(j, "json");
    stream = cJSON_GetObjectItemCaseSensitive(j, "stream");
    hj = cJSON_GetObjectItemCaseSensitive(j, "hops");
    {
        serve_slot *s = serve_slot_take();
        if (s->kb && cc_kb_setting_i64(s->kb, "serve.question_max_bytes", QUESTION_MAX_DEFAULT,
                                       &qmax) != CC_OK)
            qmax = QUESTION_MAX_DEFAULT;
        serve_slot_give(s);
        if (qmax < 1 || qmax > CA_QUESTION_MAX_BYTES) qmax = CA_QUESTION_MAX_BYTES;
    }
    if (!q || !*q->valuestring) {
        cJSON_Delete(j);
        return serve_send_error(r, 400, "bad_field", "field \"question\" (a non-empty string) is required");
    }
    if ((qn = strlen(q->valuestring)) > (size_t)qmax) {
        cJSON_Delete(j);
        return serve_send_error(r, 400, "question_too_long", "the question is %zu bytes; the limit "
                                "is %lld (setting serve.question_max_bytes)", qn, (long long)qmax);
    }
    if (kj) {
        if (!(kj->valuedouble >= 1 && kj->valuedouble <= 100) || kj->valuedouble != (int)kj->valuedouble) {
            cJSON_Delete(j);
            return serve_send_error(r, 400, "bad_field", "field \"k\" must be an integer in 1..100");
        }
        k = (int)kj->valuedouble;
    }
    if (hj) {
        if (!(hj->valuedouble >= 1 && hj->valuedouble <= 4) || hj->valuedouble != (int)hj->valuedouble) {
            cJSON_Delete(j);
            return serve_send_error(r, 400, "bad_field", "field \"hops\" must be an integer in 1..4");
        }
        hops = (int)hj->valuedouble;
    }
    if (cJSON_IsTrue(stream)) {
        ret = ask_streamed(r, q->valuestring, k, hops, cJSON_IsTrue(js));
    } else {
        ca_ask_opts o = {.k = k, .caller = r->actor, .hops = hops};
        ca_answer *a;
        char msg[1024];
        cc_status s = run_ask(q->valuestring, &o, &a, msg, sizeof msg);
        if (s) {
            const char *code;
            int http = ask_status(s, &code);
            ret = serve_send_error(r, http, code, "%s%s", msg,
                                   s == CC_FULL ? "; free space and retry" : "");
        } else {
            ret = serve_send_json(r, 200, answer_json(a, cJSON_IsTrue(js)));
            ca_answer_free(a);
        }
    }
    cJSON_Delete(j);
    return ret;
}
