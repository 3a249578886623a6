/* serve_chat.c — OpenAI-compatible chat in front of the embedded generator:
 * GET /v1/models and POST /v1/chat/completions, shaped as OpenAI's API so
 * its client libraries work unchanged.
 *
 * The model: `cairn serve KB --model FILE` (or the setting ask.model), a GGUF
 * decoder loaded once at startup (a bad file stops the server from
 * starting), KV cache of serve.chat_ctx tokens (4096; 0 = the trained
 * context). The model has one sequence, so one generation runs at a time: a
 * request waits for the model up to serve.chat_wait_s seconds (60), then gets
 * 503 "model_busy". Without a model, /v1/chat/completions answers 503
 * "no_model" and /v1/models lists nothing.
 *
 * Request: {"model": the file name (e.g. "qwen.gguf") or "default",
 *   "messages": [{"role": "system"|"developer"|"user"|"assistant",
 *                 "content": str | [{"type":"text","text":str}, ...],
 *                 "name": str (ignored)}, ...],
 *   "temperature": 0..2 (1), "top_p": (0,1] (1), "max_tokens" or
 *   "max_completion_tokens": >= 1 (default: the rest of the context),
 *   "stop": str | [str, ...] (at most 4), "seed": int, "stream": bool,
 *   "stream_options": {"include_usage": bool}, "n": 1,
 *   "presence_penalty", "frequency_penalty": 0 only (OpenAI's additive
 *   penalties have no equivalent here: other values are 400),
 *   "logprobs": false, "logit_bias": {}, "tools": [], "tool_choice":
 *   "none"|"auto", "response_format": {"type":"text"} (anything else is 400),
 *   "user", "store", "metadata", "service_tier", "parallel_tool_calls"
 *   (accepted, ignored); extensions "top_k", "min_p", "repetition_penalty"
 *   (llama.cpp's meaning). Any other field is 400 unknown_field.
 * The messages' text is limited to serve.chat_max_bytes (65536); prompt plus
 * max_tokens must fit the context (else 400 context_length_exceeded).
 * Note: the rendered prompt is tokenised with special tokens parsed, as
 * llama.cpp's server does, so a message's "<|im_end|>" is the control token.
 *
 * Response: {"id":"chatcmpl-<24 hex>","object":"chat.completion","created",
 *   "model","choices":[{"index":0,"message":{"role":"assistant","content"},
 *   "finish_reason":"stop"|"length"}],"usage":{"prompt_tokens",
 *   "completion_tokens","total_tokens"}}.
 * Stream (text/event-stream), each event "data: <json>\n\n": a chunk with
 * delta {"role":"assistant","content":""}, one {"content":piece} per piece of
 * text, a chunk with an empty delta and the finish_reason, a usage chunk
 * (choices []) when include_usage, then "data: [DONE]". A failure after the
 * stream began is a "data: {"error":{...}}" event (the clients raise it).
 * The generation runs on its own thread; a client that goes away cancels it.
 *
 * Every call is audited (action "chat.completion", target the id) before
 * the generation starts: when the audit log cannot be written (a CLI writer
 * holds the KB) the call is refused with 503 kb_busy. */
#define _GNU_SOURCE
#include "serve.h"
#include "llm.h"

#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>
#include <unistd.h>

#define CHAT_CTX_DEFAULT       4096
#define CHAT_WAIT_DEFAULT      60
#define CHAT_MAX_BYTES_DEFAULT 65536
#define MAX_MESSAGES           1024
#define MAX_STOP               4
#define STOP_MAX_BYTES         256

static struct {
    cl_model        *m;
    cl_chat_template tpl;
    char             id[128];       /* the file's base name */
    uint32_t         n_ctx;
    int64_t          wait_s, max_bytes;
    time_t           created;       /* when it was loaded */
    pthread_mutex_t  mu;            /* the gate: busy, stopping */
    pthread_cond_t   cv;
    int              busy, stopping;
    /* metrics (under mu) */
    unsigned long    n_prompt_tokens, n_completion_tokens, n_calls;
    double           prefill_s, decode_s;
} M = {.mu = PTHREAD_MUTEX_INITIALIZER, .cv = PTHREAD_COND_INITIALIZER};

/* ---------------------------------------------------------------- lifetime */

int serve_chat_open(cc_kb *kb, const char *path)
{
    const char *setting = NULL, *base;
    int64_t n_ctx = CHAT_CTX_DEFAULT;
    if (!path) {
        if (cc_kb_setting_str(kb, "ask.model", "", &setting) != CC_OK)
            return cli_error("%s", cc_kb_errmsg(kb));
        if (!setting || !*setting) return 0;   /* no model: chat answers 503 no_model */
        path = setting;
    }
    if (cc_kb_setting_i64(kb, "serve.chat_ctx", CHAT_CTX_DEFAULT, &n_ctx) != CC_OK ||
        n_ctx < 0 || n_ctx > 1000000)
        return cli_error("setting serve.chat_ctx must be 0..1000000 (0 = the model's trained context)");
    if (cc_kb_setting_i64(kb, "serve.chat_wait_s", CHAT_WAIT_DEFAULT, &M.wait_s) != CC_OK ||
        M.wait_s < 0 || M.wait_s > 3600)
        return cli_error("setting serve.chat_wait_s must be 0..3600 seconds");
    if (cc_kb_setting_i64(kb, "serve.chat_max_bytes", CHAT_MAX_BYTES_DEFAULT, &M.max_bytes) != CC_OK ||
        M.max_bytes < 1 || M.max_bytes > (int64_t)SERVE_BODY_MAX)
        return cli_error("setting serve.chat_max_bytes must be 1..%zu", SERVE_BODY_MAX);
    if (cl_model_open(path, (uint32_t)n_ctx, &M.m) != CL_OK)
        return cli_error("--model %s: cannot load it: %s%s", path, cl_errmsg(),
                         setting ? " (the model comes from the setting ask.model)" : "");
    if (cl_chat_template_from_gguf(cl_model_gguf(M.m), &M.tpl) != CL_OK) {
        int r = cli_error("--model %s: no chat template this server can render: %s", path, cl_errmsg());
        cl_model_free(M.m);
        M.m = NULL;
        return r;
    }
    base = strrchr(path, '/');
    snprintf(M.id, sizeof M.id, "%s", base ? base + 1 : path);
    M.n_ctx = cl_model_get_info(M.m)->n_ctx;
    M.created = time(NULL);
    return 0;
}

const char *serve_chat_model(void) { return M.m ? M.id : NULL; }

void serve_chat_stop(void)
{
    pthread_mutex_lock(&M.mu);
    M.stopping = 1;
    pthread_mutex_unlock(&M.mu);
}

void serve_chat_close(void)
{
    int i;
    serve_chat_stop();
    /* a streamed generation may still run on its thread: it stops at its
     * next token; wait for it (bounded) before freeing the model */
    for (i = 0; i < 1000; i++) {
        int busy;
        pthread_mutex_lock(&M.mu);
        busy = M.busy;
        pthread_mutex_unlock(&M.mu);
        if (!busy) break;
        usleep(10 * 1000);
    }
    if (i < 1000) { cl_model_free(M.m); M.m = NULL; }   /* else leave it to the exit */
}

/* Takes the model: 0, or -1 after wait_s seconds (or when stopping). */
static int gate_take(void)
{
    struct timespec ts;
    int rc = 0;
    clock_gettime(CLOCK_REALTIME, &ts);
    ts.tv_sec += (time_t)M.wait_s;
    pthread_mutex_lock(&M.mu);
    while (M.busy && !M.stopping && rc == 0) rc = pthread_cond_timedwait(&M.cv, &M.mu, &ts);
    if (M.busy || M.stopping) rc = -1;
    else { M.busy = 1; rc = 0; }
    pthread_mutex_unlock(&M.mu);
    return rc;
}

/* Gives the model back (from any thread) and counts the generation. */
static void gate_give(const cl_gen_result *g, size_t n_prompt)
{
    pthread_mutex_lock(&M.mu);
    M.busy = 0;
    if (g) {
        M.n_calls++;
        M.n_prompt_tokens += n_prompt;
        M.n_completion_tokens += g->n_tokens;
        M.prefill_s += g->prefill_ms / 1e3;
        M.decode_s += g->decode_ms / 1e3;
    }
    pthread_cond_signal(&M.cv);
    pthread_mutex_unlock(&M.mu);
}

void serve_chat_metrics(cc_buf *b)
{
    pthread_mutex_lock(&M.mu);
    cc_buf_printf(b, "# HELP cairn_generate_requests_total Chat completions generated.\n"
                     "# TYPE cairn_generate_requests_total counter\n"
                     "cairn_generate_requests_total %lu\n"
                     "# HELP cairn_generate_tokens_total Tokens through the generator (prompt: "
                     "prefilled; completion: generated).\n"
                     "# TYPE cairn_generate_tokens_total counter\n"
                     "cairn_generate_tokens_total{kind=\"prompt\"} %lu\n"
                     "cairn_generate_tokens_total{kind=\"completion\"} %lu\n"
                     "# HELP cairn_generate_seconds_total Generator wall time (tokens/s = "
                     "completion tokens / decode seconds).\n"
                     "# TYPE cairn_generate_seconds_total counter\n"
                     "cairn_generate_seconds_total{phase=\"prefill\"} %.6f\n"
                     "cairn_generate_seconds_total{phase=\"decode\"} %.6f\n",
                  M.n_calls, M.n_prompt_tokens, M.n_completion_tokens, M.prefill_s, M.decode_s);
    pthread_mutex_unlock(&M.mu);
}

/* ---------------------------------------------------------------- helpers */

/* Appends s[0..n) with each invalid UTF-8 byte as U+FFFD (random or
 * truncated models can emit byte tokens that form no character). */
static void put_utf8_clean(cc_buf *b, const char *s, size_t n)
{
    size_t i = 0;
    while (i < n) {
        int k = cc_utf8_decode(s + i, n - i, NULL);
        if (k > 0) { cc_buf_append(b, s + i, (size_t)k); i += (size_t)k; }
        else { cc_buf_put_utf8(b, 0xFFFD); i++; }
    }
}

static cJSON *clean_string(const char *s, size_t n)
{
    cc_buf b = CC_BUF_INIT(0);
    cJSON *j;
    put_utf8_clean(&b, s, n);
    j = cJSON_CreateString(b.data ? b.data : "");
    cc_buf_free(&b);
    return j;
}

static const char *finish_reason(cl_stop_reason r)
{
    return r == CL_STOP_MAX || r == CL_STOP_CONTEXT ? "length" : "stop";
}

static cJSON *usage_json(size_t np, size_t nc)
{
    cJSON *u = cJSON_CreateObject();
    cJSON_AddNumberToObject(u, "prompt_tokens", (double)np);
    cJSON_AddNumberToObject(u, "completion_tokens", (double)nc);
    cJSON_AddNumberToObject(u, "total_tokens", (double)(np + nc));
    return u;
}

/* A chunk's head: {"id","object":"chat.completion.chunk","created","model","choices":[]}. */
static cJSON *chunk_head(const char *id, time_t created, cJSON **choices)
{
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "id", id);
    cJSON_AddStringToObject(o, "object", "chat.completion.chunk");
    cJSON_AddNumberToObject(o, "created", (double)created);
    cJSON_AddStringToObject(o, "model", M.id);
    *choices = cJSON_AddArrayToObject(o, "choices");
    return o;
}

/* ---------------------------------------------------------------- stream */

typedef struct chat_stream {
    serve_sse       sse;       /* first: the producer thread gets the chat_stream */
    char            id[40];
    time_t          created;
    cl_token       *prompt;
    size_t          n_prompt;
    cl_gen_opts     go;
    char          **stop;
    size_t          n_stop;
    int             include_usage;
} chat_stream;

static void free_stops(char **stop, size_t n)
{
    size_t i;
    for (i = 0; i < n; i++) free(stop[i]);
    free(stop);
}

static void stream_free_owner(serve_sse *s)
{
    chat_stream *st = (chat_stream *)s;
    free(st->prompt);
    free_stops(st->stop, st->n_stop);
    free(st);
}

/* Appends "data: <json>\n\n" (j consumed) or "data: [DONE]\n\n" (j NULL). */
static void stream_data(chat_stream *st, cJSON *j)
{
    char *s = j ? cJSON_PrintUnformatted(j) : NULL;
    cJSON_Delete(j);
    serve_sse_push(&st->sse, "data: %s\n\n", s ? s : "[DONE]");
    free(s);
}

static void stream_delta(chat_stream *st, cJSON *delta, const char *finish)
{
    cJSON *choices, *o = chunk_head(st->id, st->created, &choices), *c = cJSON_CreateObject();
    cJSON_AddNumberToObject(c, "index", 0);
    cJSON_AddItemToObject(c, "delta", delta);
    if (finish) cJSON_AddStringToObject(c, "finish_reason", finish);
    else cJSON_AddNullToObject(c, "finish_reason");
    cJSON_AddItemToArray(choices, c);
    stream_data(st, o);
}

static int on_piece(void *user, cl_token tok, const char *piece, size_t len)
{
    chat_stream *st = user;
    int stop;
    (void)tok;
    pthread_mutex_lock(&M.mu);
    stop = M.stopping;
    pthread_mutex_unlock(&M.mu);
    stop |= serve_sse_gone(&st->sse);
    if (stop) return 1;
    if (len) {
        cJSON *d = cJSON_CreateObject();
        cJSON_AddItemToObject(d, "content", clean_string(piece, len));
        stream_delta(st, d, NULL);
    }
    return 0;
}

static void *chat_thread(void *p)
{
    chat_stream *st = p;
    cl_gen_result g = {0};
    cl_status s;
    cJSON *d = cJSON_CreateObject();
    cJSON_AddStringToObject(d, "role", "assistant");
    cJSON_AddStringToObject(d, "content", "");
    stream_delta(st, d, NULL);
    st->go.on_token = on_piece;
    st->go.user = st;
    s = cl_generate(M.m, st->prompt, st->n_prompt, &st->go, &g);
    gate_give(&g, st->n_prompt);
    if (s != CL_OK) {
        cJSON *j = cJSON_CreateObject(), *e = cJSON_AddObjectToObject(j, "error");
        cJSON_AddStringToObject(e, "code", "internal");
        cJSON_AddStringToObject(e, "message", cl_errmsg());
        stream_data(st, j);
    } else if (g.stop_reason != CL_STOP_CANCEL) {
        stream_delta(st, cJSON_CreateObject(), finish_reason(g.stop_reason));
        if (st->include_usage) {
            cJSON *choices, *o = chunk_head(st->id, st->created, &choices);
            cJSON_AddItemToObject(o, "usage", usage_json(st->n_prompt, g.n_tokens));
            stream_data(st, o);
        }
        stream_data(st, NULL);
    }
    cl_gen_result_free(&g);
    serve_sse_end(&st->sse);
    return NULL;
}

/* ---------------------------------------------------------------- routes */

enum MHD_Result serve_models(serve_req *r)
{
    cJSON *o = cJSON_CreateObject(), *data = cJSON_AddArrayToObject(o, "data");
    cJSON_AddStringToObject(o, "object", "list");
    if (M.m) {
        cJSON *m = cJSON_CreateObject();
        cJSON_AddStringToObject(m, "id", M.id);
        cJSON_AddStringToObject(m, "object", "model");
        cJSON_AddNumberToObject(m, "created", (double)M.created);
        cJSON_AddStringToObject(m, "owned_by", "cairn");
        cJSON_AddNumberToObject(m, "context_length", M.n_ctx);
        cJSON_AddItemToArray(data, m);
    }
    return serve_send_json(r, 200, o);
}

/* The parsed request, owned strings borrowed from the JSON. */
typedef struct chat_req {
    cl_chat_msg *msgs;
    size_t       n_msgs;
    cc_buf       text;      /* the messages' contents, NUL-separated */
    char       **stop;
    size_t       n_stop;
    cl_gen_opts  go;
    int64_t      max_tokens;   /* 0: the rest of the context */
    int          stream, include_usage;
} chat_req;

static void chat_req_free(chat_req *q)
{
    free(q->msgs);
    cc_buf_free(&q->text);
    free_stops(q->stop, q->n_stop);
}

/* A number field in [lo, hi] (integer when want_int); 1 if present. -1 after 400. */
static int num_field(serve_req *r, cJSON *j, const char *name, double lo, double hi, int want_int,
                     double *out)
{
    cJSON *v = cJSON_GetObjectItemCaseSensitive(j, name);
    if (!v || cJSON_IsNull(v)) return 0;
    if (!cJSON_IsNumber(v) || !(v->valuedouble >= lo && v->valuedouble <= hi) ||
        (want_int && v->valuedouble != (double)(int64_t)v->valuedouble)) {
        serve_send_error(r, 400, "bad_field", "field \"%s\" must be %s in %g..%g", name,
                         want_int ? "an integer" : "a number", lo, hi);
        return -1;
    }
    *out = v->valuedouble;
    return 1;
}

/* Parses and checks everything but the model; 0 or -1 after a 4xx. */
static int parse_chat(serve_req *r, cJSON *j, chat_req *q)
{
    cJSON *msgs = cJSON_GetObjectItemCaseSensitive(j, "messages"), *m, *v;
    size_t total = 0, i;
    double x;
    int rc;
    size_t *offs = NULL;
    cl_sample_opts_default(&q->go.sample);
    q->go.sample.temperature = 1;   /* OpenAI's default */
    q->go.sample.top_p = 1;
    {
        uint64_t seed = 0;
        if (getrandom(&seed, sizeof seed, 0) != (ssize_t)sizeof seed) seed = (uint64_t)time(NULL);
        q->go.sample.seed = seed;
    }
    if (!cJSON_IsArray(msgs) || cJSON_GetArraySize(msgs) < 1 || cJSON_GetArraySize(msgs) > MAX_MESSAGES) {
        serve_send_error(r, 400, "bad_field", "field \"messages\" (1..%d messages) is required", MAX_MESSAGES);
        return -1;
    }
    q->n_msgs = (size_t)cJSON_GetArraySize(msgs);
    if (!(q->msgs = calloc(q->n_msgs, sizeof *q->msgs)) || !(offs = calloc(q->n_msgs, sizeof *offs))) {
        serve_send_error(r, 500, "internal", "out of memory");
        goto fail;
    }
    i = 0;
    cJSON_ArrayForEach(m, msgs) {
        static const char *const mf[] = {"role", "content", "name", NULL};
        cJSON *role, *content, *part;
        if (!cJSON_IsObject(m)) {
            serve_send_error(r, 400, "bad_field", "messages[%zu] must be an object", i);
            goto fail;
        }
        if (serve_check_fields(r, m, mf, "s*s")) goto fail;
        role = cJSON_GetObjectItemCaseSensitive(m, "role");
        content = cJSON_GetObjectItemCaseSensitive(m, "content");
        if (!role) {
            serve_send_error(r, 400, "bad_field", "messages[%zu]: field \"role\" is required", i);
            goto fail;
        }
        if (!strcmp(role->valuestring, "developer")) q->msgs[i].role = "system";
        else if (!strcmp(role->valuestring, "system") || !strcmp(role->valuestring, "user") ||
                 !strcmp(role->valuestring, "assistant"))
            q->msgs[i].role = role->valuestring;
        else {
            serve_send_error(r, 400, "bad_field", "messages[%zu]: role \"%.40s\" is not supported: "
                             "use system, developer, user or assistant", i, role->valuestring);
            goto fail;
        }
        offs[i] = q->text.len;
        if (cJSON_IsString(content)) {
            cc_buf_puts(&q->text, content->valuestring);
        } else if (cJSON_IsArray(content)) {
            cJSON_ArrayForEach(part, content) {
                cJSON *t = cJSON_GetObjectItemCaseSensitive(part, "type"),
                      *tx = cJSON_GetObjectItemCaseSensitive(part, "text");
                if (!cJSON_IsObject(part) || !cJSON_IsString(t) || strcmp(t->valuestring, "text") ||
                    !cJSON_IsString(tx) || cJSON_GetArraySize(part) != 2) {
                    serve_send_error(r, 400, "bad_field", "messages[%zu].content: only text parts "
                                     "{\"type\":\"text\",\"text\":...} are supported", i);
                    goto fail;
                }
                cc_buf_puts(&q->text, tx->valuestring);
            }
        } else {
            serve_send_error(r, 400, "bad_field", "messages[%zu]: field \"content\" (a string or "
                             "an array of text parts) is required", i);
            goto fail;
        }
        total = q->text.len;
        if (total > (size_t)M.max_bytes) {
            serve_send_error(r, 413, "messages_too_large", "the messages hold over %lld bytes of "
                             "text (setting serve.chat_max_bytes)", (long long)M.max_bytes);
            goto fail;
        }
        cc_buf_putc(&q->text, 0);
        i++;
    }
    for (i = 0; i < q->n_msgs; i++) q->msgs[i].content = q->text.data + offs[i];
    free(offs);
    offs = NULL;

    if ((rc = num_field(r, j, "temperature", 0, 2, 0, &x)) < 0) return -1;
    if (rc) q->go.sample.temperature = (float)x;
    if ((rc = num_field(r, j, "top_p", 0, 1, 0, &x)) < 0) return -1;
    if (rc) {
        if (x <= 0) { serve_send_error(r, 400, "bad_field", "field \"top_p\" must be in (0, 1]"); return -1; }
        q->go.sample.top_p = (float)x;
    }
    if ((rc = num_field(r, j, "top_k", 0, 100000, 1, &x)) < 0) return -1;
    if (rc) q->go.sample.top_k = (int32_t)x;
    if ((rc = num_field(r, j, "min_p", 0, 1, 0, &x)) < 0) return -1;
    if (rc) q->go.sample.min_p = (float)x;
    if ((rc = num_field(r, j, "repetition_penalty", 0.01, 100, 0, &x)) < 0) return -1;
    if (rc) q->go.sample.repeat_penalty = (float)x;
    if ((rc = num_field(r, j, "seed", -9007199254740991.0, 9007199254740991.0, 1, &x)) < 0) return -1;
    if (rc) q->go.sample.seed = (uint64_t)(int64_t)x;
    if ((rc = num_field(r, j, "max_tokens", 1, 1e9, 1, &x)) < 0) return -1;
    if (rc) q->max_tokens = (int64_t)x;
    if ((rc = num_field(r, j, "max_completion_tokens", 1, 1e9, 1, &x)) < 0) return -1;
    if (rc) q->max_tokens = (int64_t)x;
    if ((v = cJSON_GetObjectItemCaseSensitive(j, "n")) && v->valuedouble != 1) {
        serve_send_error(r, 400, "bad_field", "field \"n\": only 1 choice per request is supported");
        return -1;
    }
    {
        static const char *const zero[] = {"presence_penalty", "frequency_penalty", "top_logprobs"};
        for (i = 0; i < 3; i++)
            if ((v = cJSON_GetObjectItemCaseSensitive(j, zero[i])) && v->valuedouble != 0) {
                serve_send_error(r, 400, "bad_field", "field \"%s\" is not supported: only 0 is "
                                 "accepted%s", zero[i], i < 2 ? " (use repetition_penalty)" : "");
                return -1;
            }
    }
    if (cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(j, "logprobs"))) {
        serve_send_error(r, 400, "unsupported_field", "field \"logprobs\": log probabilities are not supported");
        return -1;
    }
    if ((v = cJSON_GetObjectItemCaseSensitive(j, "logit_bias")) && cJSON_GetArraySize(v) > 0) {
        serve_send_error(r, 400, "unsupported_field", "field \"logit_bias\" is not supported (send {} or leave it out)");
        return -1;
    }
    if ((v = cJSON_GetObjectItemCaseSensitive(j, "tools")) && cJSON_GetArraySize(v) > 0) {
        serve_send_error(r, 400, "unsupported_field", "field \"tools\": tool calls are not supported");
        return -1;
    }
    if ((v = cJSON_GetObjectItemCaseSensitive(j, "tool_choice")) &&
        !(cJSON_IsString(v) && (!strcmp(v->valuestring, "none") || !strcmp(v->valuestring, "auto")))) {
        serve_send_error(r, 400, "unsupported_field", "field \"tool_choice\": tool calls are not supported");
        return -1;
    }
    if ((v = cJSON_GetObjectItemCaseSensitive(j, "response_format"))) {
        cJSON *t = cJSON_GetObjectItemCaseSensitive(v, "type");
        if (!cJSON_IsString(t) || strcmp(t->valuestring, "text")) {
            serve_send_error(r, 400, "unsupported_field", "field \"response_format\": only "
                             "{\"type\":\"text\"} is supported");
            return -1;
        }
    }
    q->stream = cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(j, "stream"));
    if ((v = cJSON_GetObjectItemCaseSensitive(j, "stream_options"))) {
        static const char *const sf[] = {"include_usage", NULL};
        if (serve_check_fields(r, v, sf, "b")) return -1;
        q->include_usage = cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(v, "include_usage"));
    }
    if ((v = cJSON_GetObjectItemCaseSensitive(j, "stop")) && !cJSON_IsNull(v)) {
        size_t n = cJSON_IsString(v) ? 1 : cJSON_IsArray(v) ? (size_t)cJSON_GetArraySize(v) : 0;
        cJSON *s;
        if ((!cJSON_IsString(v) && !cJSON_IsArray(v)) || n > MAX_STOP) {
            serve_send_error(r, 400, "bad_field", "field \"stop\" must be a string or an array of "
                             "at most %d strings", MAX_STOP);
            return -1;
        }
        if (n && !(q->stop = calloc(n, sizeof *q->stop))) {
            serve_send_error(r, 500, "internal", "out of memory");
            return -1;
        }
        for (s = cJSON_IsString(v) ? v : v->child; q->n_stop < n; s = s->next) {
            if (!cJSON_IsString(s) || !*s->valuestring || strlen(s->valuestring) > STOP_MAX_BYTES) {
                serve_send_error(r, 400, "bad_field", "field \"stop\": each stop is a non-empty "
                                 "string of at most %d bytes", STOP_MAX_BYTES);
                return -1;
            }
            if (!(q->stop[q->n_stop++] = cc_strdup(s->valuestring))) {
                serve_send_error(r, 500, "internal", "out of memory");
                return -1;
            }
        }
    }
    return 0;
fail:
    free(offs);
    return -1;
}

static enum MHD_Result chat_streamed(serve_req *r, chat_req *q, const char *id, time_t created,
                                     cl_token *prompt, size_t np)
{
    chat_stream *st = calloc(1, sizeof *st);
    enum MHD_Result ret;
    int started;
    if (!st) { gate_give(NULL, 0); free(prompt); return serve_send_error(r, 500, "internal", "out of memory"); }
    serve_sse_init(&st->sse, stream_free_owner);
    snprintf(st->id, sizeof st->id, "%s", id);
    st->created = created;
    st->prompt = prompt;
    st->n_prompt = np;
    st->go = q->go;
    st->stop = q->stop;            /* moved */
    st->n_stop = q->n_stop;
    q->stop = NULL;
    q->n_stop = 0;
    st->go.stop = (const char *const *)st->stop;
    st->include_usage = q->include_usage;
    ret = serve_sse_start(r, &st->sse, chat_thread, "generation", &started);
    if (!started) gate_give(NULL, 0);   /* the thread that would have released the model */
    return ret;
}

enum MHD_Result serve_chat_completions(serve_req *r)
{
    static const char *const fields[] = {
        "model", "messages", "temperature", "top_p", "max_tokens", "max_completion_tokens",
        "stop", "seed", "stream", "stream_options", "n", "presence_penalty", "frequency_penalty",
        "user", "store", "metadata", "service_tier", "parallel_tool_calls", "logprobs",
        "top_logprobs", "logit_bias", "tools", "tool_choice", "response_format", "top_k",
        "min_p", "repetition_penalty", NULL};
    static const char types[] = "sannnn*nbonnnsbosbbnoa*onnn";
    cJSON *j, *model;
    chat_req q = {.text = CC_BUF_INIT(0)};
    cl_token *prompt = NULL;
    char id[40], detail[256];
    size_t np = 0;
    unsigned char rnd[12];
    time_t created = time(NULL);
    enum MHD_Result ret;
    cl_gen_result g = {0};
    int i;
    if (!(j = serve_parse_body(r))) return MHD_YES;
    if (serve_check_fields(r, j, fields, types)) { cJSON_Delete(j); return MHD_YES; }
    model = cJSON_GetObjectItemCaseSensitive(j, "model");
    if (!M.m) {
        cJSON_Delete(j);
        return serve_send_error(r, 503, "no_model", "no generator model is loaded: start the server "
                                "with --model FILE.gguf (or set ask.model)");
    }
    if (!model) {
        cJSON_Delete(j);
        return serve_send_error(r, 400, "bad_field", "field \"model\" is required: use \"%s\" or \"default\"", M.id);
    }
    if (strcmp(model->valuestring, M.id) && strcmp(model->valuestring, "default")) {
        ret = serve_send_error(r, 404, "model_not_found", "model \"%.80s\" is not served here: use "
                               "\"%s\" (or \"default\")", model->valuestring, M.id);
        cJSON_Delete(j);
        return ret;
    }
    if (parse_chat(r, j, &q)) { chat_req_free(&q); cJSON_Delete(j); return MHD_YES; }
    q.go.stop = (const char *const *)q.stop;
    q.go.n_stop = q.n_stop;
    /* the messages' text as plain text: a message that spells a control
     * token (<|im_end|>, <|start_header_id|>) cannot forge another turn */
    if (cl_chat_tokenize(cl_model_tokenizer(M.m), &M.tpl, q.msgs, q.n_msgs, 1, &prompt, &np) != CL_OK) {
        ret = serve_send_error(r, 400, "bad_field", "messages: %s", cl_errmsg());
        goto out;
    }
    if (np >= M.n_ctx || (q.max_tokens && np + (size_t)q.max_tokens > M.n_ctx)) {
        ret = serve_send_error(r, 400, "context_length_exceeded", "the messages are %zu tokens%s%lld; "
                               "the model's context is %u tokens: shorten the messages or lower "
                               "max_tokens", np, q.max_tokens ? " and max_tokens is " : "",
                               (long long)q.max_tokens, M.n_ctx);
        goto out;
    }
    q.go.max_tokens = q.max_tokens ? (size_t)q.max_tokens : M.n_ctx - np;
    if (getrandom(rnd, sizeof rnd, 0) != (ssize_t)sizeof rnd)
        for (i = 0; i < (int)sizeof rnd; i++) rnd[i] = (unsigned char)(rand() & 255);
    memcpy(id, "chatcmpl-", 9);
    cc_hex(rnd, sizeof rnd, id + 9);
    snprintf(detail, sizeof detail, "{\"model\":\"%.100s\",\"messages\":%zu,\"prompt_tokens\":%zu,"
             "\"max_tokens\":%zu,\"stream\":%s}", M.id, q.n_msgs, np, q.go.max_tokens,
             q.stream ? "true" : "false");
    if (serve_audit_log(r, "chat.completion", id, detail) != CC_OK) {
        ret = serve_send_error(r, 503, "kb_busy", "chat completions are audited and the audit log "
                               "cannot be written now: %s", cc_errmsg());
        goto out;
    }
    if (gate_take()) {
        ret = serve_send_error(r, 503, "model_busy", "the model is generating for other requests "
                               "and did not come free within %lld s (setting serve.chat_wait_s); "
                               "try again", (long long)M.wait_s);
        goto out;
    }
    if (q.stream) {
        ret = chat_streamed(r, &q, id, created, prompt, np);
        prompt = NULL;   /* moved */
        goto out;
    }
    {
        cl_status s = cl_generate(M.m, prompt, np, &q.go, &g);
        cJSON *o, *choices, *c, *msg;
        gate_give(s == CL_OK ? &g : NULL, np);
        if (s != CL_OK) {
            ret = serve_send_error(r, 500, "internal", "generation failed: %s", cl_errmsg());
            goto out;
        }
        o = cJSON_CreateObject();
        cJSON_AddStringToObject(o, "id", id);
        cJSON_AddStringToObject(o, "object", "chat.completion");
        cJSON_AddNumberToObject(o, "created", (double)created);
        cJSON_AddStringToObject(o, "model", M.id);
        choices = cJSON_AddArrayToObject(o, "choices");
        c = cJSON_CreateObject();
        cJSON_AddNumberToObject(c, "index", 0);
        msg = cJSON_AddObjectToObject(c, "message");
        cJSON_AddStringToObject(msg, "role", "assistant");
        cJSON_AddItemToObject(msg, "content", clean_string(g.text ? g.text : "", g.len));
        cJSON_AddStringToObject(c, "finish_reason", finish_reason(g.stop_reason));
        cJSON_AddItemToArray(choices, c);
        cJSON_AddItemToObject(o, "usage", usage_json(np, g.n_tokens));
        ret = serve_send_json(r, 200, o);
    }
out:
    cl_gen_result_free(&g);
    free(prompt);
    chat_req_free(&q);
    cJSON_Delete(j);
    return ret;
}
