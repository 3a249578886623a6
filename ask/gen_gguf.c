/* gen_gguf.c — the `gguf` generator of ca_ask: a GGUF decoder from llm/
 * (CPU backend) run greedily on the assembled prompt, streaming text as it
 * comes; and the model's identity for the trace (file sha256,
 * architecture, tensor types). */
#include "ask_int.h"
#include "llm.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct ca_llm {
    cl_model *m;
    cc_buf    identity;   /* JSON object */
};

void ca_llm_close(ca_llm *m)
{
    if (!m) return;
    cl_model_free(m->m);
    cc_buf_free(&m->identity);
    free(m);
}

/* sha256 of the whole file, read in 1 MiB pieces. */
static int file_sha256(const char *path, char hex[65], long long *size)
{
    FILE *f = fopen(path, "rb");
    cc_sha256 c;
    uint8_t d[32];
    size_t n;
    char *buf;
    if (!f) return -1;
    if (!(buf = malloc(1 << 20))) { fclose(f); return -1; }
    cc_sha256_init(&c);
    *size = 0;
    while ((n = fread(buf, 1, 1 << 20, f)) > 0) {
        cc_sha256_update(&c, buf, n);
        *size += (long long)n;
    }
    free(buf);
    if (ferror(f)) { fclose(f); return -1; }
    fclose(f);
    cc_sha256_final(&c, d);
    cc_hex(d, 32, hex);
    return 0;
}

cc_status ca_llm_open(cc_kb *kb, const char *path, uint32_t n_ctx, ca_llm **out)
{
    ca_llm *m;
    cl_gguf *g = NULL;
    char hex[65];
    long long size = 0;
    int64_t count[CL_TYPE_COUNT] = {0};
    int first = 1;
    *out = NULL;
    if (!(m = calloc(1, sizeof *m))) return cc_kb_seterr(kb, CC_NOMEM, "out of memory");
    if (cl_model_open(path, n_ctx, &m->m) != CL_OK) {
        cc_status s = cc_kb_seterr(kb, CC_INVALID, "model %s: %s", path, cl_errmsg());
        ca_llm_close(m);
        return s;
    }
    if (file_sha256(path, hex, &size)) {
        ca_llm_close(m);
        return cc_kb_seterr(kb, CC_IO, "model %s: cannot read it to hash it", path);
    }
    if (cl_gguf_open(path, &g) == CL_OK) {
        for (int64_t i = 0; i < cl_gguf_n_tensors(g); i++) {
            const cl_tensor *t = cl_gguf_tensor(g, i);
            if (t && t->type >= 0 && t->type < CL_TYPE_COUNT) count[t->type]++;
        }
        cl_gguf_close(g);
    }
    const cl_model_info *in = cl_model_get_info(m->m);
    cc_buf *b = &m->identity;
    cc_buf_puts(b, "{\"file\":");
    cc_buf_json_str(b, path, strlen(path));
    cc_buf_printf(b, ",\"sha256\":\"%s\",\"bytes\":%lld,\"architecture\":\"%s\",\"tensor_types\":{",
                  hex, size, in->arch);
    for (int t = 0; t < CL_TYPE_COUNT; t++)
        if (count[t] && cl_type_name(t)) {
            cc_buf_printf(b, "%s\"%s\":%lld", first ? "" : ",", cl_type_name(t), (long long)count[t]);
            first = 0;
        }
    cc_buf_printf(b, "},\"backend\":\"cpu\",\"n_layer\":%u,\"n_embd\":%u,\"n_vocab\":%u,"
                  "\"n_ctx\":%u}", in->n_layer, in->n_embd, in->n_vocab, in->n_ctx);
    if (!b->data) {
        ca_llm_close(m);
        return cc_kb_seterr(kb, CC_NOMEM, "out of memory");
    }
    *out = m;
    return CC_OK;
}

const char *ca_llm_identity(const ca_llm *m) { return m->identity.data; }

uint32_t ca_llm_n_ctx(const ca_llm *m) { return cl_model_get_info(m->m)->n_ctx; }

size_t ca_llm_count(void *ctx, const char *s, size_t n)
{
    ca_llm *m = ctx;
    cl_token *ids = NULL;
    size_t k = 0;
    if (cl_tokenize(cl_model_tokenizer(m->m), s, n, 0, 0, &ids, &k) != CL_OK) k = (n + 3) / 4;
    free(ids);
    return k;
}

void ca_gen_free(ca_gen *g)
{
    if (!g) return;
    free(g->text);
    memset(g, 0, sizeof *g);
}

/* Bytes of s[0..n) up to the last complete UTF-8 character. */
static size_t utf8_complete(const char *s, size_t n)
{
    size_t i = n, back = 0;
    while (i > 0 && back < 4 && ((unsigned char)s[i - 1] & 0xC0) == 0x80) { i--; back++; }
    if (i == 0) return n;
    unsigned char c = (unsigned char)s[i - 1];
    size_t need = c >= 0xF0 ? 4 : c >= 0xE0 ? 3 : c >= 0xC0 ? 2 : 1;
    return back + 1 >= need ? n : i - 1;
}

cc_status ca_llm_generate(cc_kb *kb, ca_llm *m, const ca_prompt *p, int max_new,
                          void (*on_token)(void *ctx, const char *s, size_t n), void *ctx,
                          ca_gen *out)
{
    const cl_tokenizer *tk = cl_model_tokenizer(m->m);
    const cl_model_info *in = cl_model_get_info(m->m);
    cl_token *prompt = NULL, *gen = NULL;
    float *logits = NULL;
    size_t np = 0, ng = 0, emitted = 0;
    char *text = NULL;
    cc_status s = CC_OK;
    double t0;

    memset(out, 0, sizeof *out);
    /* parse_special = 0: "<|im_start|>" inside a document stays plain text */
    if (cl_tokenize(tk, p->text, p->len, 1, 0, &prompt, &np) != CL_OK)
        return cc_kb_seterr(kb, CC_INVALID, "tokenising the prompt: %s", cl_errmsg());
    if (!np || np + (size_t)max_new > in->n_ctx) {
        free(prompt);
        return cc_kb_seterr(kb, CC_TOOBIG, "the prompt is %zu tokens and the answer may take %d;"
                            " the model's context is %u: lower ask.prompt_tokens or ask.max_tokens",
                            np, max_new, in->n_ctx);
    }
    if (!(logits = malloc(in->n_vocab * sizeof *logits)) ||
        !(gen = malloc(((size_t)max_new + 1) * sizeof *gen))) {
        s = cc_kb_seterr(kb, CC_NOMEM, "out of memory");
        goto out;
    }
    t0 = cc_now_ms();
    for (size_t i = 0; i < np; i++)
        if (cl_model_eval(m->m, prompt[i], (uint32_t)i, logits) != CL_OK) {
            s = cc_kb_seterr(kb, CC_INVALID, "model prefill: %s", cl_errmsg());
            goto out;
        }
    out->t_prefill = cc_now_ms() - t0;
    t0 = cc_now_ms();
    for (;;) {
        cl_token best = 0;
        for (uint32_t v = 1; v < in->n_vocab; v++) if (logits[v] > logits[best]) best = (cl_token)v;
        if (best == cl_tokenizer_eos(tk)) { out->stopped_eos = 1; break; }
        gen[ng++] = best;
        /* stream the new complete characters */
        size_t tl = 0;
        free(text);
        text = NULL;
        if (cl_detokenize(tk, gen, ng, 0, &text, &tl) != CL_OK) {
            s = cc_kb_seterr(kb, CC_INVALID, "model output: %s", cl_errmsg());
            goto out;
        }
        size_t done = utf8_complete(text, tl);
        if (on_token && done > emitted) on_token(ctx, text + emitted, done - emitted);
        if (done > emitted) emitted = done;
        if (ng >= (size_t)max_new) break;
        if (cl_model_eval(m->m, best, (uint32_t)(np + ng - 1), logits) != CL_OK) {
            s = cc_kb_seterr(kb, CC_INVALID, "model decode: %s", cl_errmsg());
            goto out;
        }
    }
    out->t_decode = cc_now_ms() - t0;
    if (!text) text = cc_strdup("");
    if (!text) { s = cc_kb_seterr(kb, CC_NOMEM, "out of memory"); goto out; }
    if (on_token && strlen(text) > emitted) on_token(ctx, text + emitted, strlen(text) - emitted);
    out->text = text;
    text = NULL;
    out->n_prompt_tokens = np;
    out->n_gen_tokens = ng;
out:
    free(text);
    free(prompt);
    free(gen);
    free(logits);
    return s;
}
