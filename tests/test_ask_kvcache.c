/* test_ask_kvcache.c — asks with a make-tiny GGUF model in one process
 * reuse the model and its prefix KV cache: the first ask loads the model
 * and prefills everything; the same question again takes the kept model
 * and reuses every whole block but the last token's (saved tokens in the
 * trace, same answer); a related question reuses at least the
 * instructions; a replay in the same process hits too; the setting
 * ask.kv_cache_mb = 0 turns reuse off; a small context fits the evidence
 * (drops the lowest-ranked chunks and says so) or, when even the
 * instructions do not fit, says what to change. Every trace is validated
 * against schemas/trace.schema.json. */
#include "ask_int.h"
#include "llm.h"
#include "check.h"

#include <cjson/cJSON.h>
#include <unistd.h>

static char T[512];

static int sh(const char *fmt, const char *a, const char *b)
{
    char cmd[2048];
    snprintf(cmd, sizeof cmd, fmt, a, b);
    return system(cmd);
}

typedef struct kvs {
    int prompt, hit, saved, blocks, kept, left_out, dropped, ok;
    char *answer, *trace_id;
} kvs;

static void kvs_free(kvs *k)
{
    free(k->answer);
    free(k->trace_id);
    memset(k, 0, sizeof *k);
}

static int num(const cJSON *o, const char *k)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, k);
    return cJSON_IsNumber(v) ? (int)v->valuedouble : -1;
}

/* Parses what the trace says about the cache and appends it to traces.jsonl. */
static void read_trace(const char *json, kvs *k)
{
    cJSON *t = cJSON_Parse(json);
    const cJSON *g, *c, *p;
    char path[600];
    FILE *f;
    memset(k, 0, sizeof *k);
    CHECK(t != NULL);
    if (!t) return;
    g = cJSON_GetObjectItemCaseSensitive(t, "generation");
    c = cJSON_GetObjectItemCaseSensitive(g, "kv_cache");
    p = cJSON_GetObjectItemCaseSensitive(t, "prompt");
    CHECK(c != NULL && p != NULL);
    if (c && p) {
        k->prompt = num(c, "prompt_tokens");
        k->hit = num(c, "hit_tokens");
        k->saved = num(c, "saved_tokens");
        k->blocks = num(c, "hit_blocks");
        k->kept = cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(c, "model_kept"));
        k->left_out = num(p, "chunks_left_out");
        k->dropped = num(p, "chunks_dropped_to_fit");
        k->ok = 1;
        CHECK(k->prompt == num(g, "prompt_tokens"));
    }
    snprintf(path, sizeof path, "%s/traces.jsonl", T);
    if ((f = fopen(path, "a"))) {
        char *line = cJSON_PrintUnformatted(t);
        if (line) fprintf(f, "%s\n", line);
        free(line);
        fclose(f);
    }
    cJSON_Delete(t);
}

static cc_status ask(cc_kb *kb, const char *q, const char *model, kvs *k)
{
    ca_ask_opts o;
    ca_answer *a = NULL;
    cc_status s;
    memset(&o, 0, sizeof o);
    o.model = model;
    o.max_tokens = 8;
    memset(k, 0, sizeof *k);
    s = ca_ask(kb, q, &o, &a);
    if (s) return s;
    read_trace(a->trace_json, k);
    k->answer = strdup(a->text ? a->text : "");
    k->trace_id = strdup(a->trace_id);
    ca_answer_free(a);
    return CC_OK;
}

/* A make-tiny model with a byte-level vocabulary and a context of ctx. */
static void make_model(const char *path, uint32_t ctx)
{
    cl_tiny_opts o;
    memset(&o, 0, sizeof o);
    o.arch = "qwen2";
    o.type = CL_TYPE_Q8_0;
    o.seed = 2;
    o.n_ctx = ctx;
    CHECK_MSG(cl_make_tiny_opts(&o, path) == CL_OK, "%s", cl_errmsg());
}

int main(void)
{
    const char *bin = getenv("CAIRN_BIN"), *src = getenv("CAIRN_SRC"), *tmp = getenv("CAIRN_TMP");
    const char *q1 = "What did Marlow Cells install at its Greyhaven factory?";
    const char *q2 = "Who is the managing director of Marlow Cells?";
    char kbdir[600], m2k[600], m1k[600], m600[600], m300[600], cfg[700];
    cc_kb *kb = NULL;
    kvs a, b, c, d;
    if (!bin || !src) SKIP("CAIRN_BIN and CAIRN_SRC are not set (run under ctest)");
    snprintf(T, sizeof T, "%s/askkv.%d", tmp && *tmp ? tmp : "/tmp", (int)getpid());
    snprintf(kbdir, sizeof kbdir, "%s/kb", T);
    snprintf(m2k, sizeof m2k, "%s/tiny2k.gguf", T);
    snprintf(m1k, sizeof m1k, "%s/tiny1k.gguf", T);
    snprintf(m600, sizeof m600, "%s/tiny600.gguf", T);
    snprintf(m300, sizeof m300, "%s/tiny300.gguf", T);
    if (sh("rm -rf '%s' && mkdir -p '%s'", T, T) ||
        sh("'%s' init '%s' >/dev/null", bin, kbdir)) {
        CHECK(!"setup");
        return check_done("ask_kvcache");
    }
    {
        char cmd[2048];
        snprintf(cmd, sizeof cmd, "cd '%s' && '%s' ingest '%s' datasets/corpus/companies datasets/corpus/news >/dev/null",
                 src, bin, kbdir);
        CHECK(system(cmd) == 0);
    }
    make_model(m2k, 2048);
    make_model(m1k, 1024);
    make_model(m600, 600);
    make_model(m300, 300);
    CHECK(cc_kb_open(kbdir, CC_KB_WRITE, &kb) == CC_OK);
    if (!kb) return check_done("ask_kvcache");

    /* first ask: a cold model */
    CHECK_MSG(ask(kb, q1, m2k, &a) == CC_OK, "%s", cc_kb_errmsg(kb));
    CHECK(a.ok && !a.kept && a.hit == 0 && a.saved == 0 && a.prompt > 64);
    /* the same question: the kept model, every whole block before the last token reused */
    CHECK_MSG(ask(kb, q1, m2k, &b) == CC_OK, "%s", cc_kb_errmsg(kb));
    CHECK(b.ok && b.kept && b.prompt == a.prompt);
    CHECK_MSG(b.hit == (b.prompt - 1) / CL_KV_BLOCK * CL_KV_BLOCK && b.saved == b.hit && b.blocks == b.hit / CL_KV_BLOCK,
              "hit %d of %d", b.hit, b.prompt);
    CHECK(a.answer && b.answer && !strcmp(a.answer, b.answer)); /* reuse changes nothing in the answer */
    /* a related question: at least the instructions (the stable first part) are reused */
    CHECK_MSG(ask(kb, q2, m2k, &c) == CC_OK, "%s", cc_kb_errmsg(kb));
    CHECK_MSG(c.ok && c.kept && c.hit >= 4 * CL_KV_BLOCK && c.hit < c.prompt, "hit %d of %d", c.hit, c.prompt);
    kvs_free(&c);
    /* a replay in this process hits as well, and is identical */
    {
        ca_replay *r = NULL;
        CHECK_MSG(ca_trace_replay(kb, a.trace_id, &r) == CC_OK, "%s", cc_kb_errmsg(kb));
        CHECK(r && r->identical);
        ca_replay_free(r);
    }
    /* with ask.kv_cache_mb = 0 nothing is reused (and nothing kept in the cache) */
    snprintf(cfg, sizeof cfg, "%s/cairn.json", kbdir);
    cc_kb_close(kb);
    kb = NULL;
    {
        char cmd[2048];
        snprintf(cmd, sizeof cmd, "/usr/bin/python3 -c \"import json,sys; p=sys.argv[1]; d=json.load(open(p));"
                 " d.setdefault('ask',{})['kv_cache_mb']=0; json.dump(d,open(p,'w'))\" '%s'", cfg);
        CHECK(system(cmd) == 0);
    }
    CHECK(cc_kb_open(kbdir, CC_KB_WRITE, &kb) == CC_OK);
    if (!kb) goto out;
    CHECK_MSG(ask(kb, q1, m2k, &c) == CC_OK, "%s", cc_kb_errmsg(kb));
    CHECK(c.ok && c.kept && c.hit == 0 && c.answer && a.answer && !strcmp(c.answer, a.answer));
    kvs_free(&c);

    /* a 1024-token context: the evidence is cut to fit, the ask works */
    CHECK_MSG(ask(kb, q1, m1k, &d) == CC_OK, "%s", cc_kb_errmsg(kb));
    CHECK(d.ok && !d.kept && d.prompt + 8 <= 1024 && d.left_out > 0 && d.dropped >= 0);
    kvs_free(&d);
    /* 600 tokens: the full instructions would not fit; the short ones do */
    CHECK_MSG(ask(kb, q1, m600, &d) == CC_OK, "%s", cc_kb_errmsg(kb));
    CHECK(d.ok && d.prompt + 8 <= 600);
    kvs_free(&d);
    /* 300 tokens: even the short instructions do not fit; the message says what to change */
    CHECK(ask(kb, q1, m300, &d) == CC_TOOBIG);
    CHECK_MSG(strstr(cc_kb_errmsg(kb), "instructions and the question alone") &&
              strstr(cc_kb_errmsg(kb), "longer context"), "%s", cc_kb_errmsg(kb));
    kvs_free(&d);

    /* every trace is valid */
    {
        char cmd[2048];
        snprintf(cmd, sizeof cmd, "/usr/bin/python3 '%s/tests/validate_trace.py' '%s/schemas/trace.schema.json' "
                 "'%s/traces.jsonl' >/dev/null", src, src, T);
        CHECK(system(cmd) == 0);
    }
out:
    kvs_free(&a);
    kvs_free(&b);
    cc_kb_close(kb);
    ca_llm_release_kept();
    sh("rm -rf '%s'%s", T, "");
    return check_done("ask_kvcache");
}
