/* model.c — decoder forward pass on the CPU for llama, qwen2 (Q/K/V biases)
 * and qwen3 (QK-norm): RMSNorm, RoPE (llama: adjacent pairs; qwen2/qwen3:
 * NeoX pairs i, i+d/2), grouped-query attention with a KV cache, SwiGLU,
 * tied or separate output head. Weights stay in the mmapped GGUF; matrix-
 * vector products go row by row through cl_dot_row (no matrix is ever
 * dequantised as a whole). One token at a time, one thread. */
#include "llm_int.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct layer {
    const cl_tensor *attn_norm, *wq, *wk, *wv, *wo, *bq, *bk, *bv, *q_norm, *k_norm;
    const cl_tensor *ffn_norm, *gate, *up, *down;
} layer;

struct cl_model {
    cl_gguf *g;
    cl_tokenizer *tok;
    cl_model_info info;
    int neox;
    const cl_tensor *embd, *out_norm, *out;
    layer *layers;
    float *kcache, *vcache; /* [layer][pos][n_head_kv*head_dim] */
    float *x, *xb, *q, *k, *v, *att, *hb, *hb2, *ao;
};

static cl_status get_u32(const cl_gguf *g, const char *arch, const char *suffix, uint32_t *out, int required)
{
    char key[128];
    cl_status s;
    snprintf(key, sizeof key, "%s.%s", arch, suffix);
    s = cl_gguf_get_u32(g, key, out);
    if (s == CL_ERR_NOTFOUND && !required) return CL_OK;
    if (s) return cl_err(s, "model: metadata %s: %s", key, cl_errmsg());
    if (*out == 0 || *out > (1u << 20)) return cl_err(CL_ERR_FORMAT, "model: metadata %s = %u is out of range", key, *out);
    return CL_OK;
}

/* Finds a tensor and checks its type and shape [ne0, ne1] (ne1 = 1 for a
 * vector). Optional tensors give *out = NULL when absent. */
static cl_status want(const cl_gguf *g, const char *name, uint64_t ne0, uint64_t ne1, int optional,
                      const cl_tensor **out)
{
    const cl_tensor *t = cl_gguf_find_tensor(g, name);
    *out = NULL;
    if (!t) return optional ? CL_OK : cl_err(CL_ERR_NOTFOUND, "model: tensor %s is missing", name);
    if (!cl_type_supported(t->type))
        return cl_err(CL_ERR_UNSUPPORTED, "model: tensor %s has type %s, which is not supported", name,
                      cl_type_name(t->type) ? cl_type_name(t->type) : "?");
    if (t->ne[0] != ne0 || t->ne[1] != ne1 || t->ne[2] != 1 || t->ne[3] != 1)
        return cl_err(CL_ERR_FORMAT, "model: tensor %s has shape [%llu, %llu], expected [%llu, %llu]", name,
                      (unsigned long long)t->ne[0], (unsigned long long)t->ne[1], (unsigned long long)ne0,
                      (unsigned long long)ne1);
    if (ne1 == 1 && t->type != CL_TYPE_F32)
        return cl_err(CL_ERR_UNSUPPORTED, "model: vector %s must be F32", name);
    *out = t;
    return CL_OK;
}

static cl_status want_l(const cl_gguf *g, int l, const char *what, uint64_t ne0, uint64_t ne1, int optional,
                        const cl_tensor **out)
{
    char name[96];
    snprintf(name, sizeof name, "blk.%d.%s", l, what);
    return want(g, name, ne0, ne1, optional, out);
}

void cl_model_free(cl_model *m)
{
    if (!m) return;
    cl_tokenizer_free(m->tok);
    cl_gguf_close(m->g);
    free(m->layers);
    free(m->kcache);
    free(m->vcache);
    free(m->x);
    free(m->xb);
    free(m->q);
    free(m->k);
    free(m->v);
    free(m->att);
    free(m->hb);
    free(m->hb2);
    free(m->ao);
    free(m);
}

cl_status cl_model_open(const char *path, uint32_t n_ctx, cl_model **out)
{
    cl_model *m;
    cl_model_info *I;
    const char *arch;
    size_t alen;
    uint32_t hd_k = 0;
    uint64_t qd, kvd, kv_n;
    cl_status s;
    int l;
    *out = NULL;
    if (!(m = calloc(1, sizeof *m))) return cl_err(CL_ERR_NOMEM, "model: out of memory");
    I = &m->info;
    if ((s = cl_gguf_open(path, &m->g))) goto fail;
    if ((s = cl_gguf_get_str(m->g, "general.architecture", &arch, &alen))) {
        s = cl_err(s, "model: general.architecture: %s", cl_errmsg());
        goto fail;
    }
    if (strcmp(arch, "llama") && strcmp(arch, "qwen2") && strcmp(arch, "qwen3")) {
        s = cl_err(CL_ERR_UNSUPPORTED, "model: architecture '%s' is not supported (llama, qwen2, qwen3 are)", arch);
        goto fail;
    }
    snprintf(I->arch, sizeof I->arch, "%s", arch);
    m->neox = strcmp(arch, "llama") != 0;
    if ((s = get_u32(m->g, arch, "embedding_length", &I->n_embd, 1)) ||
        (s = get_u32(m->g, arch, "block_count", &I->n_layer, 1)) ||
        (s = get_u32(m->g, arch, "feed_forward_length", &I->n_ff, 1)) ||
        (s = get_u32(m->g, arch, "attention.head_count", &I->n_head, 1)) ||
        (s = get_u32(m->g, arch, "context_length", &I->n_ctx_train, 1)))
        goto fail;
    I->n_head_kv = I->n_head;
    if ((s = get_u32(m->g, arch, "attention.head_count_kv", &I->n_head_kv, 0)) ||
        (s = get_u32(m->g, arch, "attention.key_length", &hd_k, 0)))
        goto fail;
    I->head_dim = hd_k ? hd_k : I->n_embd / I->n_head;
    if (I->n_head % I->n_head_kv || I->head_dim % 2 || (!hd_k && I->n_embd % I->n_head)) {
        s = cl_err(CL_ERR_FORMAT, "model: head counts %u/%u and sizes do not fit embedding length %u", I->n_head,
                   I->n_head_kv, I->n_embd);
        goto fail;
    }
    {
        char key[128];
        snprintf(key, sizeof key, "%s.attention.layer_norm_rms_epsilon", arch);
        I->eps = 1e-5f;
        if ((s = cl_gguf_get_f32(m->g, key, &I->eps)) && s != CL_ERR_NOTFOUND) goto fail;
        snprintf(key, sizeof key, "%s.rope.freq_base", arch);
        I->rope_base = 10000.0f;
        if ((s = cl_gguf_get_f32(m->g, key, &I->rope_base)) && s != CL_ERR_NOTFOUND) goto fail;
        s = CL_OK;
        if (!(I->eps > 0.0f && I->eps < 1.0f) || !(I->rope_base > 1.0f)) {
            s = cl_err(CL_ERR_FORMAT, "model: rms epsilon %g or rope base %g out of range", I->eps, I->rope_base);
            goto fail;
        }
    }
    if ((s = cl_tokenizer_new(m->g, &m->tok))) goto fail;
    {
        const cl_tensor *e = cl_gguf_find_tensor(m->g, "token_embd.weight");
        if (!e) {
            s = cl_err(CL_ERR_NOTFOUND, "model: tensor token_embd.weight is missing");
            goto fail;
        }
        I->n_vocab = (uint32_t)(e->ne[1] < (1u << 24) ? e->ne[1] : 0);
    }
    if (!I->n_vocab || (int64_t)I->n_vocab < cl_tokenizer_n_vocab(m->tok)) {
        s = cl_err(CL_ERR_FORMAT, "model: token_embd.weight has %u rows for a vocabulary of %d", I->n_vocab,
                   cl_tokenizer_n_vocab(m->tok));
        goto fail;
    }
    qd = (uint64_t)I->n_head * I->head_dim;
    kvd = (uint64_t)I->n_head_kv * I->head_dim;
    if ((s = want(m->g, "token_embd.weight", I->n_embd, I->n_vocab, 0, &m->embd)) ||
        (s = want(m->g, "output_norm.weight", I->n_embd, 1, 0, &m->out_norm)) ||
        (s = want(m->g, "output.weight", I->n_embd, I->n_vocab, 1, &m->out)))
        goto fail;
    if (!m->out) m->out = m->embd; /* tied */
    if (!(m->layers = calloc(I->n_layer, sizeof *m->layers))) goto nomem;
    for (l = 0; l < (int)I->n_layer; l++) {
        layer *L = &m->layers[l];
        int q3 = !strcmp(arch, "qwen3"), bias = !strcmp(arch, "qwen2");
        if ((s = want_l(m->g, l, "attn_norm.weight", I->n_embd, 1, 0, &L->attn_norm)) ||
            (s = want_l(m->g, l, "attn_q.weight", I->n_embd, qd, 0, &L->wq)) ||
            (s = want_l(m->g, l, "attn_k.weight", I->n_embd, kvd, 0, &L->wk)) ||
            (s = want_l(m->g, l, "attn_v.weight", I->n_embd, kvd, 0, &L->wv)) ||
            (s = want_l(m->g, l, "attn_output.weight", qd, I->n_embd, 0, &L->wo)) ||
            (s = want_l(m->g, l, "attn_q.bias", qd, 1, !bias, &L->bq)) ||
            (s = want_l(m->g, l, "attn_k.bias", kvd, 1, !bias, &L->bk)) ||
            (s = want_l(m->g, l, "attn_v.bias", kvd, 1, !bias, &L->bv)) ||
            (s = want_l(m->g, l, "attn_q_norm.weight", I->head_dim, 1, !q3, &L->q_norm)) ||
            (s = want_l(m->g, l, "attn_k_norm.weight", I->head_dim, 1, !q3, &L->k_norm)) ||
            (s = want_l(m->g, l, "ffn_norm.weight", I->n_embd, 1, 0, &L->ffn_norm)) ||
            (s = want_l(m->g, l, "ffn_gate.weight", I->n_embd, I->n_ff, 0, &L->gate)) ||
            (s = want_l(m->g, l, "ffn_up.weight", I->n_embd, I->n_ff, 0, &L->up)) ||
            (s = want_l(m->g, l, "ffn_down.weight", I->n_ff, I->n_embd, 0, &L->down)))
            goto fail;
    }
    I->n_ctx = n_ctx ? n_ctx : I->n_ctx_train;
    if (I->n_ctx > I->n_ctx_train) I->n_ctx = I->n_ctx_train;
    kv_n = (uint64_t)I->n_layer * I->n_ctx * kvd;
    if (!(m->kcache = malloc(kv_n * sizeof(float))) || !(m->vcache = malloc(kv_n * sizeof(float))) ||
        !(m->x = malloc(I->n_embd * sizeof(float))) || !(m->xb = malloc(I->n_embd * sizeof(float))) ||
        !(m->q = malloc(qd * sizeof(float))) || !(m->k = malloc(kvd * sizeof(float))) ||
        !(m->v = malloc(kvd * sizeof(float))) || !(m->att = malloc(I->n_ctx * sizeof(float))) ||
        !(m->hb = malloc(I->n_ff * sizeof(float))) || !(m->hb2 = malloc(I->n_ff * sizeof(float))) ||
        !(m->ao = malloc(qd * sizeof(float))))
        goto nomem;
    *out = m;
    return CL_OK;
nomem:
    s = cl_err(CL_ERR_NOMEM, "model: out of memory (context %u)", I->n_ctx);
fail:
    cl_model_free(m);
    return s;
}

const cl_model_info *cl_model_get_info(const cl_model *m) { return &m->info; }
const cl_tokenizer *cl_model_tokenizer(const cl_model *m) { return m->tok; }

/* y[r] = row r of W . x, for W's ne[1] rows; plus bias b when given. */
static void matvec(const cl_tensor *W, const cl_tensor *b, const float *x, float *y)
{
    size_t rb = W->n_bytes / W->ne[1];
    uint64_t r;
    for (r = 0; r < W->ne[1]; r++) {
        cl_dot_row(W->type, (const uint8_t *)W->data + r * rb, x, W->ne[0], &y[r]);
        if (b) y[r] += ((const float *)b->data)[r];
    }
}

static void rmsnorm(float *out, const float *x, const cl_tensor *w, uint32_t n, float eps)
{
    const float *wd = w->data;
    double ss = 0.0;
    float sc;
    uint32_t i;
    for (i = 0; i < n; i++) ss += (double)x[i] * x[i];
    sc = (float)(1.0 / sqrt(ss / n + eps));
    for (i = 0; i < n; i++) out[i] = x[i] * sc * wd[i];
}

/* RoPE on one head of d values: pair (j, j+1) in normal mode, (j, j+d/2) in
 * NeoX mode; angle pos * base^(-2i/d) for pair i. */
static void rope(float *h, uint32_t d, int pos, float base, int neox)
{
    uint32_t i;
    for (i = 0; i < d / 2; i++) {
        double th = pos * pow(base, -2.0 * i / d);
        float c = (float)cos(th), s = (float)sin(th);
        uint32_t a = neox ? i : 2 * i, b = neox ? i + d / 2 : 2 * i + 1;
        float x0 = h[a], x1 = h[b];
        h[a] = x0 * c - x1 * s;
        h[b] = x0 * s + x1 * c;
    }
}

cl_status cl_model_eval(cl_model *m, cl_token token, uint32_t pos, float *logits)
{
    const cl_model_info *I = &m->info;
    uint32_t hd = I->head_dim, kvd = I->n_head_kv * hd, grp = I->n_head / I->n_head_kv, l, h, i, t;
    size_t rb = m->embd->n_bytes / m->embd->ne[1];
    float scale = 1.0f / sqrtf((float)hd);
    if (token < 0 || (uint32_t)token >= I->n_vocab)
        return cl_err(CL_ERR_RANGE, "model: token %d is outside the vocabulary (%u)", token, I->n_vocab);
    if (pos >= I->n_ctx) return cl_err(CL_ERR_RANGE, "model: position %u is past the context (%u)", pos, I->n_ctx);
    cl_dequantize_row(m->embd->type, (const uint8_t *)m->embd->data + (size_t)token * rb, m->x, I->n_embd);
    for (l = 0; l < I->n_layer; l++) {
        const layer *L = &m->layers[l];
        float *kc = m->kcache + (size_t)l * I->n_ctx * kvd, *vc = m->vcache + (size_t)l * I->n_ctx * kvd;
        rmsnorm(m->xb, m->x, L->attn_norm, I->n_embd, I->eps);
        matvec(L->wq, L->bq, m->xb, m->q);
        matvec(L->wk, L->bk, m->xb, m->k);
        matvec(L->wv, L->bv, m->xb, m->v);
        for (h = 0; h < I->n_head; h++) {
            if (L->q_norm) rmsnorm(m->q + h * hd, m->q + h * hd, L->q_norm, hd, I->eps);
            rope(m->q + h * hd, hd, (int)pos, I->rope_base, m->neox);
        }
        for (h = 0; h < I->n_head_kv; h++) {
            if (L->k_norm) rmsnorm(m->k + h * hd, m->k + h * hd, L->k_norm, hd, I->eps);
            rope(m->k + h * hd, hd, (int)pos, I->rope_base, m->neox);
        }
        memcpy(kc + (size_t)pos * kvd, m->k, kvd * sizeof(float));
        memcpy(vc + (size_t)pos * kvd, m->v, kvd * sizeof(float));
        for (h = 0; h < I->n_head; h++) {
            const float *qh = m->q + h * hd;
            uint32_t kh = h / grp;
            float mx = -INFINITY, sum = 0.0f, *o = m->ao + h * hd;
            for (t = 0; t <= pos; t++) {
                const float *kt = kc + (size_t)t * kvd + kh * hd;
                float d = 0.0f;
                for (i = 0; i < hd; i++) d += qh[i] * kt[i];
                m->att[t] = d * scale;
                if (m->att[t] > mx) mx = m->att[t];
            }
            for (t = 0; t <= pos; t++) sum += (m->att[t] = expf(m->att[t] - mx));
            memset(o, 0, hd * sizeof(float));
            for (t = 0; t <= pos; t++) {
                const float *vt = vc + (size_t)t * kvd + kh * hd;
                float a = m->att[t] / sum;
                for (i = 0; i < hd; i++) o[i] += a * vt[i];
            }
        }
        matvec(L->wo, NULL, m->ao, m->xb);
        for (i = 0; i < I->n_embd; i++) m->x[i] += m->xb[i];
        rmsnorm(m->xb, m->x, L->ffn_norm, I->n_embd, I->eps);
        matvec(L->gate, NULL, m->xb, m->hb);
        matvec(L->up, NULL, m->xb, m->hb2);
        for (i = 0; i < I->n_ff; i++) m->hb[i] = m->hb[i] / (1.0f + expf(-m->hb[i])) * m->hb2[i];
        matvec(L->down, NULL, m->hb, m->xb);
        for (i = 0; i < I->n_embd; i++) m->x[i] += m->xb[i];
    }
    rmsnorm(m->xb, m->x, m->out_norm, I->n_embd, I->eps);
    if (logits) matvec(m->out, NULL, m->xb, logits); /* NULL: embedding use, see cl_model_hidden */
    return CL_OK;
}

cl_status cl_model_generate(cl_model *m, const cl_token *prompt, size_t n_prompt, size_t n_new,
                            cl_token *out, size_t *n_out)
{
    const cl_model_info *I = &m->info;
    float *logits;
    size_t i, n = 0;
    uint32_t pos = 0;
    cl_token eos = cl_tokenizer_eos(m->tok), next = 0;
    cl_status s = CL_OK;
    *n_out = 0;
    if (!n_prompt) return cl_err(CL_ERR_INVALID, "model: the prompt has no tokens");
    if (n_prompt + n_new > I->n_ctx)
        return cl_err(CL_ERR_RANGE, "model: %zu prompt + %zu new tokens exceed the context (%u)", n_prompt, n_new,
                      I->n_ctx);
    if (!(logits = malloc(I->n_vocab * sizeof(float)))) return cl_err(CL_ERR_NOMEM, "model: out of memory");
    for (i = 0; i < n_prompt + n_new; i++) {
        uint32_t v;
        cl_token tok = i < n_prompt ? prompt[i] : next;
        if (i >= n_prompt) {
            out[n++] = tok;
            if (tok == eos || n == n_new) break;
        }
        if ((s = cl_model_eval(m, tok, pos++, logits))) break;
        for (next = 0, v = 1; v < I->n_vocab; v++)
            if (logits[v] > logits[next]) next = (cl_token)v;
    }
    free(logits);
    *n_out = n;
    return s;
}

/* Embedding hook: the final normed hidden state left by cl_model_eval. */
void cl_model_hidden(const cl_model *m, float *out)
{
    memcpy(out, m->xb, m->info.n_embd * sizeof(float));
}
