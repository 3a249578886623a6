/* fuzz_body.c — libFuzzer harness: the REST server's request-body checks
 * (server/serve_body.c), called directly, no connection. The first byte
 * picks the route's body shape and the Content-Type; the rest is the body.
 * The shapes (field names and types) are the route handlers' own tables,
 * copied here: search, documents, ask, sql, sparql, graph subgraph,
 * embeddings, chat completions (and each of its messages and its
 * stream_options), keys.
 * Properties: a refused body has status 400 or 415, a code and a valid
 * UTF-8 message; an accepted body is one JSON object that prints and
 * re-parses to the same text; accepted fields are each allowed, once, with
 * their type; an accepted document has a non-empty uri and a known format. */
#include "serve_body.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define FUZZ_ASSERT(c) do { if (!(c)) { fprintf(stderr, "%s:%d: %s\n", __FILE__, __LINE__, #c); abort(); } } while (0)

typedef struct shape { const char *const *fields; const char *types; } shape;

static const char *const f_search[] = {"query", "mode", "k", "weights", NULL};
static const char *const f_ask[] = {"question", "k", "json", "stream", "hops", NULL};
static const char *const f_sql[] = {"query", "timeout_ms", NULL};
static const char *const f_sparql[] = {"query", "limit", "timeout_ms", NULL};
static const char *const f_subgraph[] = {"question", "chunks", "hops", "budget", NULL};
static const char *const f_embed[] = {"model", "input", "encoding_format", "dimensions", "user", NULL};
static const char *const f_chat[] = {
    "model", "messages", "temperature", "top_p", "max_tokens", "max_completion_tokens",
    "stop", "seed", "stream", "stream_options", "n", "presence_penalty", "frequency_penalty",
    "user", "store", "metadata", "service_tier", "parallel_tool_calls", "logprobs",
    "top_logprobs", "logit_bias", "tools", "tool_choice", "response_format", "top_k",
    "min_p", "repetition_penalty", NULL};
static const char *const f_msg[] = {"role", "content", "name", NULL};
static const char *const f_sopt[] = {"include_usage", NULL};
static const char *const f_keys[] = {"role", "name", NULL};

static const shape shapes[] = {
    {f_search, "ssno"}, {NULL, NULL} /* documents */, {f_ask, "snbbn"}, {f_sql, "sn"},
    {f_sparql, "snn"}, {f_subgraph, "sann"}, {f_embed, "s*sns"},
    {f_chat, "sannnn*nbonnnsbosbbnoa*onnn"}, {f_keys, "ss"},
};
#define N_SHAPES (sizeof shapes / sizeof *shapes)

static const char *const ctypes[] = {"application/json", "application/json; charset=utf-8",
                                     "Application/JSON", NULL, "", "text/plain",
                                     "application/jsonx", "application/json;"};
#define N_CTYPES (sizeof ctypes / sizeof *ctypes)

static void check_bad(const serve_bad *bad)
{
    FUZZ_ASSERT(bad->status == 400 || bad->status == 415);
    FUZZ_ASSERT(bad->code && *bad->code);
    FUZZ_ASSERT(memchr(bad->msg, 0, sizeof bad->msg));
    FUZZ_ASSERT(cc_utf8_check(bad->msg, strlen(bad->msg)) == strlen(bad->msg));
}

/* Checks accepted fields independently of serve_body_fields. */
static void check_fields(const cJSON *j, const char *const *fields, const char *types)
{
    const cJSON *m;
    unsigned seen = 0;
    cJSON_ArrayForEach(m, j) {
        int i;
        FUZZ_ASSERT(m->string);
        for (i = 0; fields[i] && strcmp(fields[i], m->string); i++) {}
        FUZZ_ASSERT(fields[i]);
        FUZZ_ASSERT(!(seen & (1u << i)));
        seen |= 1u << i;
        switch (types[i]) {
        case 's': FUZZ_ASSERT(cJSON_IsString(m) && m->valuestring); break;
        case 'n': FUZZ_ASSERT(cJSON_IsNumber(m)); break;
        case 'o': FUZZ_ASSERT(cJSON_IsObject(m)); break;
        case 'b': FUZZ_ASSERT(cJSON_IsBool(m)); break;
        case 'a': FUZZ_ASSERT(cJSON_IsArray(m)); break;
        default: break;
        }
    }
}

static void fields(const cJSON *j, const char *const *f, const char *types)
{
    serve_bad bad;
    memset(&bad, 0, sizeof bad);
    if (serve_body_fields(j, f, types, &bad)) check_bad(&bad);
    else check_fields(j, f, types);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *ct, *body;
    size_t len, sh;
    serve_bad bad;
    cJSON *j, *again;
    char *p1, *p2;
    if (size < 1) return 0;
    sh = (data[0] & 0x0f) % N_SHAPES;
    ct = ctypes[(data[0] >> 4) % N_CTYPES];
    body = (const char *)data + 1;
    len = size - 1;
    memset(&bad, 0, sizeof bad);
    if (!(j = serve_body_json(ct, body, len, &bad))) {
        check_bad(&bad);
        return 0;
    }
    FUZZ_ASSERT(cJSON_IsObject(j));
    FUZZ_ASSERT(cc_utf8_check(body, len) == len);
    /* the accepted object prints and re-parses to the same text */
    p1 = cJSON_PrintUnformatted(j);
    if (p1) {
        again = cJSON_Parse(p1);
        FUZZ_ASSERT(again && cJSON_IsObject(again));
        p2 = cJSON_PrintUnformatted(again);
        FUZZ_ASSERT(p2 && !strcmp(p1, p2));
        free(p2);
        cJSON_Delete(again);
        free(p1);
    }
    if (!shapes[sh].fields) {   /* POST /v1/documents */
        const char *uri = NULL, *text = NULL;
        cr_format f = CR_FMT_UNKNOWN;
        int ifa = -1;
        if (serve_body_doc(j, &uri, &text, &f, &ifa, &bad)) {
            check_bad(&bad);
        } else {
            FUZZ_ASSERT(uri && *uri && text && f != CR_FMT_UNKNOWN && (ifa == 0 || ifa == 1));
            FUZZ_ASSERT(cc_utf8_check(uri, strlen(uri)) == strlen(uri));
        }
    } else {
        fields(j, shapes[sh].fields, shapes[sh].types);
        if (shapes[sh].fields == f_chat) {   /* the nested shapes the chat route checks */
            const cJSON *m, *msgs = cJSON_GetObjectItemCaseSensitive(j, "messages"),
                        *so = cJSON_GetObjectItemCaseSensitive(j, "stream_options");
            if (cJSON_IsArray(msgs))
                cJSON_ArrayForEach(m, msgs)
                    if (cJSON_IsObject(m)) fields(m, f_msg, "s*s");
            if (cJSON_IsObject(so)) fields(so, f_sopt, "b");
        }
        /* an array where an object is expected is refused, not misread */
        if (cJSON_IsArray(cJSON_GetObjectItemCaseSensitive(j, "weights"))) {
            memset(&bad, 0, sizeof bad);
            if (serve_body_fields(cJSON_GetObjectItemCaseSensitive(j, "weights"), f_search, "ssno", &bad))
                check_bad(&bad);
        }
    }
    cJSON_Delete(j);
    return 0;
}
