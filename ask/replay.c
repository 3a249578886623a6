/* replay.c — ca_trace_replay: re-runs a stored ask with its recorded
 * settings (and model) and says whether the answer is identical, and what
 * changed when it is not. */
#include "ask.h"

#include <cjson/cJSON.h>
#include <sqlite3.h>
#include <stdlib.h>
#include <string.h>

void ca_replay_free(ca_replay *r)
{
    if (!r) return;
    free(r->old_text);
    free(r->new_text);
    free(r->why);
    free(r);
}

static const cJSON *at(const cJSON *o, const char *a, const char *b)
{
    const cJSON *x = cJSON_GetObjectItemCaseSensitive(o, a);
    return b ? cJSON_GetObjectItemCaseSensitive(x, b) : x;
}

static const char *str_at(const cJSON *o, const char *a, const char *b)
{
    const cJSON *x = at(o, a, b);
    return cJSON_IsString(x) ? x->valuestring : NULL;
}

/* The chunk ids of a list of objects' "chunk" fields, as text "1,5,9". */
static void chunk_list(const cJSON *arr, const char *field, cc_buf *b)
{
    const cJSON *x;
    cJSON_ArrayForEach(x, arr) {
        const cJSON *c = cJSON_GetObjectItemCaseSensitive(x, field);
        if (cJSON_IsArray(c)) {   /* gguf sentences: "chunks": [..] */
            const cJSON *y;
            cJSON_ArrayForEach(y, c) cc_buf_printf(b, "%s%.0f", b->len ? "," : "", y->valuedouble);
        } else if (cJSON_IsNumber(c)) {
            cc_buf_printf(b, "%s%.0f", b->len ? "," : "", c->valuedouble);
        }
    }
    if (!b->data) cc_buf_append(b, "", 0);
}

cc_status ca_trace_replay(cc_kb *kb, const char *trace_id, ca_replay **out)
{
    sqlite3_stmt *st = NULL;
    cJSON *old = NULL, *neu = NULL;
    ca_answer *a = NULL;
    ca_replay *r = NULL;
    cc_buf why = CC_BUF_INIT(0), b1 = CC_BUF_INIT(0), b2 = CC_BUF_INIT(0);
    cc_status s = CC_OK;
    const char *q, *gen_name, *model = "";
    *out = NULL;

    if (sqlite3_prepare_v2(cc_kb_db(kb), "SELECT json FROM traces WHERE id = ?1", -1, &st,
                           NULL) != SQLITE_OK)
        return cc_kb_sqlerr(kb, "reading the trace");
    sqlite3_bind_text(st, 1, trace_id, -1, SQLITE_STATIC);
    if (sqlite3_step(st) != SQLITE_ROW) {
        sqlite3_finalize(st);
        return cc_kb_seterr(kb, CC_NOTFOUND, "no trace with id '%s' (see `cairn trace KB list`)",
                            trace_id);
    }
    old = cJSON_Parse((const char *)sqlite3_column_text(st, 0));
    sqlite3_finalize(st);
    if (!old || !(q = str_at(old, "question", NULL)) ||
        !(gen_name = str_at(old, "settings", "generator"))) {
        s = cc_kb_seterr(kb, CC_CORRUPT, "trace %s: not a trace document this version can replay",
                         trace_id);
        goto out;
    }
    ca_ask_opts o = {.caller = "replay", .model = ""};
    const cJSON *k = at(old, "settings", "k"), *mt = at(old, "settings", "max_tokens");
    if (cJSON_IsNumber(k)) o.k = (int)k->valuedouble;
    if (cJSON_IsNumber(mt)) o.max_tokens = (int)mt->valuedouble;
    if (!strcmp(gen_name, "gguf")) {
        if (!(model = str_at(old, "model", "file"))) {
            s = cc_kb_seterr(kb, CC_CORRUPT, "trace %s: gguf generator without a model file", trace_id);
            goto out;
        }
        o.model = model;
    }
    if ((s = ca_ask(kb, q, &o, &a))) goto out;
    if (!(neu = cJSON_Parse(a->trace_json))) {
        s = cc_kb_seterr(kb, CC_NOMEM, "out of memory reading the new trace");
        goto out;
    }
    if (!(r = calloc(1, sizeof *r))) { s = cc_kb_seterr(kb, CC_NOMEM, "out of memory"); goto out; }
    snprintf(r->trace_id, sizeof r->trace_id, "%s", a->trace_id);
    r->old_text = cc_strdup(str_at(old, "answer", "text") ? str_at(old, "answer", "text") : "");
    r->new_text = cc_strdup(a->text);
    chunk_list(at(old, "answer", "sentences"), "chunk", &b1);
    chunk_list(at(neu, "answer", "sentences"), "chunk", &b2);
    if (cJSON_IsArray(at(old, "answer", "sentences")) && !strcmp(gen_name, "gguf")) {
        b1.len = b2.len = 0;
        chunk_list(at(old, "answer", "sentences"), "chunks", &b1);
        chunk_list(at(neu, "answer", "sentences"), "chunks", &b2);
    }
    r->identical = r->old_text && r->new_text && !strcmp(r->old_text, r->new_text) &&
                   b1.data && b2.data && !strcmp(b1.data, b2.data);

    /* what changed between the runs, whether or not the answer did */
    {
        const cJSON *g1 = at(old, "kb_generation", NULL), *g2 = at(neu, "kb_generation", NULL);
        if (cJSON_IsNumber(g1) && cJSON_IsNumber(g2) && g1->valuedouble != g2->valuedouble)
            cc_buf_printf(&why, "the KB changed since (generation %.0f then, %.0f now); ",
                          g1->valuedouble, g2->valuedouble);
    }
    b1.len = b2.len = 0;
    chunk_list(at(old, "fused", NULL), "chunk", &b1);
    chunk_list(at(neu, "fused", NULL), "chunk", &b2);
    if (b1.data && b2.data && strcmp(b1.data, b2.data))
        cc_buf_printf(&why, "the evidence differs (chunks %s then, %s now); ", b1.data, b2.data);
    {
        const cJSON *s1 = at(old, "settings", NULL), *x;
        cJSON_ArrayForEach(x, s1) {
            const cJSON *y = cJSON_GetObjectItemCaseSensitive(at(neu, "settings", NULL), x->string);
            if (!y || !cJSON_Compare(x, y, 1)) {
                char *v1 = cJSON_PrintUnformatted(x), *v2 = y ? cJSON_PrintUnformatted(y) : NULL;
                cc_buf_printf(&why, "setting %s was %s, is %s; ", x->string, v1 ? v1 : "?",
                              v2 ? v2 : "absent");
                cJSON_free(v1);
                cJSON_free(v2);
            }
        }
    }
    {
        const char *h1 = str_at(old, "model", "sha256"), *h2 = str_at(neu, "model", "sha256");
        if (h1 && h2 && strcmp(h1, h2))
            cc_buf_printf(&why, "the model file %s changed (sha256 %.12s... then, %.12s... now); ",
                          model, h1, h2);
        h1 = str_at(old, "prompt", "sha256");
        h2 = str_at(neu, "prompt", "sha256");
        if (h1 && h2 && strcmp(h1, h2)) cc_buf_puts(&why, "the prompt differs; ");
    }
    if (why.len >= 2) why.data[why.len -= 2] = 0;
    if (!why.data) cc_buf_append(&why, "", 0);
    r->why = cc_buf_detach(&why);
    if (!r->old_text || !r->new_text || !r->why) { s = cc_kb_seterr(kb, CC_NOMEM, "out of memory"); goto out; }
    *out = r;
    r = NULL;
out:
    cJSON_Delete(old);
    cJSON_Delete(neu);
    ca_answer_free(a);
    ca_replay_free(r);
    cc_buf_free(&why);
    cc_buf_free(&b1);
    cc_buf_free(&b2);
    return s;
}
