/* model.c — decoder forward pass for llama, qwen2 (Q/K/V biases) and qwen3
 * (QK-norm): RMSNorm, RoPE (llama: adjacent pairs; qwen2/qwen3: NeoX pairs
 * i, i+d/2; linear frequency scaling from metadata), grouped-query attention
 * with a KV cache, SwiGLU, tied or separate output head. Weights stay in the
 * mmapped GGUF; the work goes through the backend table (backend.h), whose
 * matrix products go row by row (no matrix is ever dequantised as a whole).
 * Tokens are processed in batches of up to CL_BATCH (prefill): each weight
 * row is read once per batch. */
#include "backend.h"
#include "cuda/gpu.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <strings.h>

#define CL_BATCH 32 /* tokens per forward batch */
#ifndef M_PI
#define M_PI 3.14159265358979323846
#endif

typedef cl_fwd_layer layer; /* backend.h: the same fields the whole-step path reads */

struct cl_model {
    cl_gguf *g;
    cl_tokenizer *tok;
    cl_model_info info;
    int neox;
    const cl_tensor *embd, *out_norm, *out;
    layer *layers;
    cl_backend be;
    void *kcache, *vcache; /* (n_layer, n_ctx) rows of kv_row bytes: n_head_kv*head_dim values of info.kv_type */
    size_t kv_row;         /* bytes per cache position (n_head_kv*head_dim values): cl_kv_row_bytes */
    cl_kv_store_f16_fn kv_store; /* floats -> halves when storing K/V (F16) */
    cl_act_quantize_fn kv_quant; /* floats -> 8-bit blocks when storing K/V (Q8_0) */
    /* work buffers for a batch of CL_BATCH tokens, each (CL_BATCH, width) */
    float *x, *xb, *q, *k, *v, *hb, *hb2, *ao; /* widths n_embd, n_embd, qd, kvd, kvd, n_ff, n_ff, qd */
    float *cs;        /* (CL_BATCH, head_dim/2, 2) RoPE cosines and sines */
    double *inv_freq; /* (head_dim/2) base^(-2i/d) times the scaling of pair i */
    float rope_mscale; /* cos/sin factor (YaRN; 1 otherwise) */
    uint32_t last_nb;  /* tokens in the last evaluated chunk: its last row of x is the
                          newest token's residual stream (cl_model_hidden) */
    /* prefix KV cache (kvcache.c; see the section at the end) */
    cl_kvcache *kvc;      /* a reference; NULL: none */
    uint64_t kv_ident[2]; /* identity of the weights and K/V-shaping settings */
    int gpu;           /* the backend runs whole steps (be.i->forward): see pick_backend */
    cl_fwd_model fwd;  /* what it was given */
};

static cl_status kv_identity(cl_model *m);

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

typedef struct rope_yarn {
    int on;
    double lo, hi, mscale; /* ramp between pairs lo..hi; cos/sin factor */
} rope_yarn;

/* RoPE frequency scaling: <arch>.rope.scaling.type none|linear|yarn with
 * <arch>.rope.scaling.factor (or the older <arch>.rope.scale_linear).
 * linear: positions are divided by the factor. yarn (as GGML computes it,
 * beta_fast 32, beta_slow 1, extrapolation factor 1): pair i turns by
 * pos * base^(-2i/d) * (s*(1-mix_i) + mix_i), s = 1/factor, mix_i = 1 - clamp((i -
 * lo)/(hi - lo), 0, 1) with lo/hi the pairs whose wavelength fits 32 / 1
 * times in <arch>.rope.scaling.original_context_length, and cos/sin are
 * multiplied by attn_factor * (1 + 0.1 ln factor). Other types are refused. */
static cl_status rope_scaling(const cl_gguf *g, const char *arch, cl_model_info *I, rope_yarn *y)
{
    char key[128];
    const char *type = "none";
    size_t tlen = 4;
    float factor = 1.0f;
    uint32_t dims = 0;
    cl_status s;
    I->rope_freq_scale = 1.0f;
    snprintf(key, sizeof key, "%s.rope.dimension_count", arch);
    if ((s = cl_gguf_get_u32(g, key, &dims)) && s != CL_ERR_NOTFOUND) return cl_err(s, "model: %s: %s", key, cl_errmsg());
    if (!s && dims != I->head_dim)
        return cl_err(CL_ERR_UNSUPPORTED, "model: %s = %u: partial RoPE (head size %u) is not supported", key, dims,
                      I->head_dim);
    snprintf(key, sizeof key, "%s.rope.scaling.type", arch);
    if ((s = cl_gguf_get_str(g, key, &type, &tlen)) && s != CL_ERR_NOTFOUND)
        return cl_err(s, "model: %s: %s", key, cl_errmsg());
    snprintf(key, sizeof key, "%s.rope.scaling.factor", arch);
    if ((s = cl_gguf_get_f32(g, key, &factor)) == CL_ERR_NOTFOUND) {
        snprintf(key, sizeof key, "%s.rope.scale_linear", arch);
        if ((s = cl_gguf_get_f32(g, key, &factor)) == CL_OK && tlen == 4 && !memcmp(type, "none", 4)) {
            type = "linear";
            tlen = 6;
        }
    }
    if (s && s != CL_ERR_NOTFOUND) return cl_err(s, "model: %s: %s", key, cl_errmsg());
    if (tlen == 4 && !memcmp(type, "none", 4)) return CL_OK;
    y->on = tlen == 4 && !memcmp(type, "yarn", 4);
    if (!y->on && (tlen != 6 || memcmp(type, "linear", 6)))
        return cl_err(CL_ERR_UNSUPPORTED,
                      "model: %s.rope.scaling.type '%.*s' is not supported (none, linear and yarn are)", arch,
                      (int)(tlen < 32 ? tlen : 32), type);
    if (!(factor >= 1.0f && factor <= 1024.0f))
        return cl_err(CL_ERR_FORMAT, "model: rope scaling factor %g is out of range (1..1024)", factor);
    I->rope_freq_scale = 1.0f / factor;
    if (y->on) {
        uint32_t orig = 0;
        float attn = 1.0f;
        double d = I->head_dim, base = I->rope_base, lo, hi;
        snprintf(key, sizeof key, "%s.rope.scaling.original_context_length", arch);
        if ((s = cl_gguf_get_u32(g, key, &orig)) || !orig)
            return cl_err(s ? s : CL_ERR_FORMAT, "model: yarn scaling needs %s (a positive integer)", key);
        snprintf(key, sizeof key, "%s.rope.scaling.attn_factor", arch);
        if ((s = cl_gguf_get_f32(g, key, &attn)) && s != CL_ERR_NOTFOUND) return cl_err(s, "model: %s: %s", key, cl_errmsg());
        if (!(attn > 0.0f && attn < 100.0f)) return cl_err(CL_ERR_FORMAT, "model: %s = %g is out of range", key, attn);
        /* the pair index at which the wavelength fits n_rot times in the original context */
        lo = floor(d * log(orig / (32.0 * 2.0 * M_PI)) / (2.0 * log(base)));
        hi = ceil(d * log(orig / (1.0 * 2.0 * M_PI)) / (2.0 * log(base)));
        y->lo = lo > 0 ? lo : 0;
        y->hi = hi < d - 1 ? hi : d - 1;
        y->mscale = attn * (1.0 + 0.1 * log(factor));
    }
    return CL_OK;
}

void cl_model_free(cl_model *m)
{
    if (!m) return;
    cl_tokenizer_free(m->tok);
    cl_gguf_close(m->g);
    free(m->layers);
    cl_backend_free(&m->be);
    cl_kvcache_free(m->kvc);
    free(m->inv_freq);
    free(m->cs);
    free(m->kcache);
    free(m->vcache);
    free(m->x);
    free(m->xb);
    free(m->q);
    free(m->k);
    free(m->v);
    free(m->hb);
    free(m->hb2);
    free(m->ao);
    free(m);
}

/* ---- backend choice: the CUDA backend's whole-step path when CAIRN_GPU
 * allows it and a device takes the model, else the CPU backend (said once
 * on stderr when the build has CUDA but the GPU cannot be used). */
static cl_status pick_backend(cl_model *m)
{
    const cl_model_info *I = &m->info;
    cl_gpu_mode mode;
    cl_status s = cl_gpu_mode_parse(getenv("CAIRN_GPU"), &mode);
    if (s) return s;
    if (mode == CL_GPU_AUTO && !cl_gpu_compiled()) mode = CL_GPU_OFF; /* no CUDA in this build: not a word */
    if (mode != CL_GPU_OFF) {
        cl_fwd_model *f = &m->fwd;
        f->n_embd = I->n_embd, f->n_layer = I->n_layer, f->n_head = I->n_head, f->n_head_kv = I->n_head_kv;
        f->head_dim = I->head_dim, f->n_ff = I->n_ff, f->n_vocab = I->n_vocab, f->n_ctx = I->n_ctx;
        f->eps = I->eps, f->rope_mscale = m->rope_mscale, f->neox = m->neox, f->inv_freq = m->inv_freq;
        f->embd = m->embd, f->out_norm = m->out_norm, f->out = m->out, f->layers = m->layers;
        if (!(s = cl_backend_cuda_new(&m->be))) {
            if (m->be.i->version >= 2 && m->be.i->load && !(s = m->be.i->load(m->be.ctx, f))) {
                m->gpu = 1;
                m->info.kv_type = CL_KV_F32; /* the device cache is F32, whatever was asked */
                m->kv_row = cl_kv_row_bytes(CL_KV_F32, (uint64_t)I->n_head_kv * I->head_dim);
                free(m->kcache); /* the cache lives on the device */
                free(m->vcache);
                m->kcache = m->vcache = NULL;
                return CL_OK;
            }
            cl_backend_free(&m->be);
        }
        if (mode == CL_GPU_ON) return cl_err(s ? s : CL_ERR_UNSUPPORTED, "model: CAIRN_GPU=1 but %s", cl_errmsg());
        cl_gpu_say_fallback(cl_errmsg());
    }
    return cl_backend_cpu_new(0, 1, &m->be);
}

const char *cl_model_backend(const cl_model *m) { return m->be.i ? m->be.i->name : "none"; }

const char *cl_kv_type_name(int kv_type)
{
    return kv_type == CL_KV_F32 ? "f32" : kv_type == CL_KV_F16 ? "f16" : kv_type == CL_KV_Q8_0 ? "q8_0"
           : kv_type == CL_KV_DEFAULT ? "default" : NULL;
}

int cl_kv_type_parse(const char *name)
{
    if (!name) return -1;
    if (!strcasecmp(name, "f32")) return CL_KV_F32;
    if (!strcasecmp(name, "f16")) return CL_KV_F16;
    if (!strcasecmp(name, "q8_0")) return CL_KV_Q8_0;
    return -1;
}

size_t cl_kv_row_bytes(int kv_type, uint64_t n)
{
    switch (kv_type) {
    case CL_KV_F32: return (size_t)n * 4;
    case CL_KV_F16: return (size_t)n * 2;
    case CL_KV_Q8_0: return n % 32 ? 0 : (size_t)(n / 32) * CL_KV_Q8_BLOCK;
    }
    return 0;
}

uint64_t cl_model_kv_bytes(const cl_model_info *I, uint32_t n_ctx)
{
    return 2ull * I->n_layer * n_ctx * cl_kv_row_bytes(I->kv_type, (uint64_t)I->n_head_kv * I->head_dim);
}

/* The KV type asked for: the parameter, else CAIRN_KV, else F16. */
static cl_status kv_type_pick(int asked, int *out)
{
    const char *e = getenv("CAIRN_KV");
    *out = CL_KV_F16;
    if (asked == CL_KV_F32 || asked == CL_KV_F16 || asked == CL_KV_Q8_0) {
        *out = asked;
        return CL_OK;
    }
    if (asked != CL_KV_DEFAULT)
        return cl_err(CL_ERR_INVALID, "model: KV cache type %d is not one of f32, f16, q8_0", asked);
    if (e && *e) {
        if ((*out = cl_kv_type_parse(e)) < 0)
            return cl_err(CL_ERR_INVALID, "model: CAIRN_KV='%.32s' is not a KV cache type (f16, f32 or q8_0)", e);
    }
    return CL_OK;
}

/* The KV cache: aligned to 2 MiB and marked for transparent huge pages
 * where the system has them (attention walks the cache end to end every
 * token: one TLB entry per 2 MiB rather than per 4 KiB page; decode at ctx
 * 4096 1.01-1.02x, docs/benchmarks.md). Freed with free(). */
static void *kv_alloc(uint64_t n)
{
#ifdef MADV_HUGEPAGE
    const uint64_t huge = 2u << 20;
    void *p = NULL;
    if (n < huge) return malloc(n);
    if (posix_memalign(&p, huge, n)) return NULL;
    (void)madvise(p, n & ~(huge - 1), MADV_HUGEPAGE); /* a hint (whole 2 MiB pages): without it, 4 KiB pages */
    return p;
#else
    return malloc(n);
#endif
}

cl_status cl_model_open(const char *path, uint32_t n_ctx, cl_model **out)
{
    cl_model_params p = {n_ctx, CL_KV_DEFAULT};
    return cl_model_open_params(path, &p, out);
}

cl_status cl_model_open_params(const char *path, const cl_model_params *P, cl_model **out)
{
    cl_model *m;
    uint32_t n_ctx = P->n_ctx;
    cl_model_info *I;
    const char *arch;
    size_t alen;
    uint32_t hd_k = 0;
    rope_yarn yarn = {0, 0, 0, 1};
    uint64_t qd, kvd, kv_n;
    cl_status s;
    int l;
    *out = NULL;
    if (!(m = calloc(1, sizeof *m))) return cl_err(CL_ERR_NOMEM, "model: out of memory");
    I = &m->info;
    if ((s = kv_type_pick(P->kv_type, &I->kv_type))) goto fail;
    m->kv_store = cl_kv_store_f16_select(1);
    m->kv_quant = cl_act_quantize_select(1);
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
        if ((s = rope_scaling(m->g, arch, I, &yarn))) goto fail;
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
    /* Q8_0 blocks lie within one head: with a head_dim not a multiple of 32
     * there is no row size, and no cache (an error below unless the CUDA
     * backend, whose cache is F32, takes the model) */
    m->kv_row = I->kv_type == CL_KV_Q8_0 && (I->head_dim % 32 || I->head_dim > CL_KV_Q8_HD_MAX)
                    ? 0 : cl_kv_row_bytes(I->kv_type, kvd);
    kv_n = (uint64_t)I->n_layer * I->n_ctx * m->kv_row;
#define BUF(n) malloc((size_t)CL_BATCH * (n) * sizeof(float))
    if ((m->kv_row && (!(m->kcache = kv_alloc(kv_n)) || !(m->vcache = kv_alloc(kv_n)))) ||
        !(m->x = BUF(I->n_embd)) || !(m->xb = BUF(I->n_embd)) || !(m->q = BUF(qd)) || !(m->k = BUF(kvd)) ||
        !(m->v = BUF(kvd)) || !(m->hb = BUF(I->n_ff)) || !(m->hb2 = BUF(I->n_ff)) || !(m->ao = BUF(qd)) ||
        !(m->cs = BUF(I->head_dim)) || !(m->inv_freq = malloc(I->head_dim / 2 * sizeof(double))))
        goto nomem;
#undef BUF
    m->rope_mscale = yarn.on ? (float)yarn.mscale : 1.0f;
    for (l = 0; l < (int)I->head_dim / 2; l++) {
        double fs = I->rope_freq_scale, mix = 0.0;
        if (yarn.on) {
            double r = (l - yarn.lo) / (yarn.hi - yarn.lo > 0.001 ? yarn.hi - yarn.lo : 0.001);
            mix = 1.0 - (r < 0 ? 0 : r > 1 ? 1 : r);
        }
        m->inv_freq[l] = pow(I->rope_base, -2.0 * l / I->head_dim) * (fs * (1.0 - mix) + mix);
    }
    if ((s = pick_backend(m))) goto fail;
    if (!m->kv_row) {
        s = cl_err(CL_ERR_UNSUPPORTED,
                   "model: a q8_0 KV cache needs a head size that is a multiple of 32, at most %d "
                   "(this model's is %u); use f16",
                   CL_KV_Q8_HD_MAX, I->head_dim);
        goto fail;
    }
    if ((s = kv_identity(m)) || (s = cl_kvcache_new(CL_KVCACHE_DEFAULT_BYTES, &m->kvc))) goto fail;
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
const cl_gguf *cl_model_gguf(const cl_model *m) { return m->g; }

cl_status cl_model_set_threads(cl_model *m, int n_threads) { return cl_be_set_threads(&m->be, n_threads); }
int cl_model_threads(const cl_model *m) { return cl_be_threads((cl_backend *)&m->be); }

/* One batch of nb <= CL_BATCH tokens at positions pos..pos+nb-1. */
static cl_status eval_chunk(cl_model *m, const cl_token *toks, uint32_t nb, uint32_t pos, float *logits, int all)
{
    const cl_model_info *I = &m->info;
    cl_backend *be = &m->be;
    uint32_t hd = I->head_dim, qd = I->n_head * hd, kvd = I->n_head_kv * hd, E = I->n_embd, l, b, i;
    size_t rb = m->embd->n_bytes / m->embd->ne[1];
    cl_attn_args at;
    cl_status s;
    for (b = 0; b < nb; b++) {
        cl_dequantize_row(m->embd->type, (const uint8_t *)m->embd->data + (size_t)toks[b] * rb, m->x + (size_t)b * E,
                          E);
        for (i = 0; i < hd / 2; i++) {
            double th = (double)(pos + b) * m->inv_freq[i];
            m->cs[(size_t)b * hd + 2 * i] = (float)cos(th) * m->rope_mscale;
            m->cs[(size_t)b * hd + 2 * i + 1] = (float)sin(th) * m->rope_mscale;
        }
    }
    at.q = m->q;
    at.out = m->ao;
    at.nb = nb;
    at.pos0 = pos;
    at.n_head = I->n_head;
    at.n_head_kv = I->n_head_kv;
    at.head_dim = hd;
    at.scale = 1.0f / sqrtf((float)hd);
    at.kv_f16 = I->kv_type == CL_KV_F16;
    at.kv_q8 = I->kv_type == CL_KV_Q8_0;
    for (l = 0; l < I->n_layer; l++) {
        const layer *L = &m->layers[l];
        size_t lo = (size_t)l * I->n_ctx * kvd; /* the layer's first cache value */
        cl_be_rmsnorm(be, m->xb, m->x, L->attn_norm->data, E, nb, I->eps);
        {
            const cl_tensor *W[3] = {L->wq, L->wk, L->wv};
            const float *bias[3] = {L->bq ? L->bq->data : NULL, L->bk ? L->bk->data : NULL,
                                    L->bv ? L->bv->data : NULL};
            float *Y[3] = {m->q, m->k, m->v};
            cl_be_matmul_n(be, 3, W, bias, m->xb, nb, Y); /* one pool round for the three */
        }
        if (L->q_norm) cl_be_rmsnorm(be, m->q, m->q, L->q_norm->data, hd, nb * I->n_head, I->eps);
        if (L->k_norm) cl_be_rmsnorm(be, m->k, m->k, L->k_norm->data, hd, nb * I->n_head_kv, I->eps);
        for (b = 0; b < nb; b++) {
            cl_be_rope(be, m->q + (size_t)b * qd, I->n_head, hd, m->cs + (size_t)b * hd, m->neox);
            cl_be_rope(be, m->k + (size_t)b * kvd, I->n_head_kv, hd, m->cs + (size_t)b * hd, m->neox);
        }
        if (I->kv_type == CL_KV_Q8_0) { /* quantised once, here; attention reads the blocks */
            uint8_t *kc = (uint8_t *)m->kcache + (size_t)l * I->n_ctx * m->kv_row;
            uint8_t *vc = (uint8_t *)m->vcache + (size_t)l * I->n_ctx * m->kv_row;
            cl_kv_store_q8(kc + (size_t)pos * m->kv_row, m->k, (size_t)nb * kvd, m->kv_quant);
            cl_kv_store_q8(vc + (size_t)pos * m->kv_row, m->v, (size_t)nb * kvd, m->kv_quant);
            at.kcache = kc;
            at.vcache = vc;
        } else if (I->kv_type == CL_KV_F16) { /* rounded to half once, here; attention reads halves */
            uint16_t *kc = (uint16_t *)m->kcache + lo, *vc = (uint16_t *)m->vcache + lo;
            m->kv_store(kc + (size_t)pos * kvd, m->k, (size_t)nb * kvd);
            m->kv_store(vc + (size_t)pos * kvd, m->v, (size_t)nb * kvd);
            at.kcache = kc;
            at.vcache = vc;
        } else {
            float *kc = (float *)m->kcache + lo, *vc = (float *)m->vcache + lo;
            memcpy(kc + (size_t)pos * kvd, m->k, (size_t)nb * kvd * sizeof(float));
            memcpy(vc + (size_t)pos * kvd, m->v, (size_t)nb * kvd * sizeof(float));
            at.kcache = kc;
            at.vcache = vc;
        }
        if ((s = cl_be_attention(be, &at))) return s;
        cl_be_matmul(be, L->wo, NULL, m->ao, nb, m->xb);
        for (i = 0; i < nb * E; i++) m->x[i] += m->xb[i];
        cl_be_rmsnorm(be, m->xb, m->x, L->ffn_norm->data, E, nb, I->eps);
        cl_be_ffn_up(be, L->gate, L->up, m->xb, nb, m->hb, m->hb2); /* gate, up and swiglu in one round */
        cl_be_matmul(be, L->down, NULL, m->hb, nb, m->xb);
        for (i = 0; i < nb * E; i++) m->x[i] += m->xb[i];
    }
    m->last_nb = nb;
    if (!logits) return CL_OK;
    if (all) {
        cl_be_rmsnorm(be, m->xb, m->x, m->out_norm->data, E, nb, I->eps);
        cl_be_matmul(be, m->out, NULL, m->xb, nb, logits);
    } else {
        cl_be_rmsnorm(be, m->xb, m->x + (size_t)(nb - 1) * E, m->out_norm->data, E, 1, I->eps);
        cl_be_matmul(be, m->out, NULL, m->xb, 1, logits);
    }
    return CL_OK;
}

cl_status cl_model_eval_batch(cl_model *m, const cl_token *toks, size_t n, uint32_t pos, float *logits,
                              int all_logits)
{
    const cl_model_info *I = &m->info;
    size_t i;
    cl_status s;
    if (!n) return cl_err(CL_ERR_INVALID, "model: no tokens to evaluate");
    for (i = 0; i < n; i++)
        if (toks[i] < 0 || (uint32_t)toks[i] >= I->n_vocab)
            return cl_err(CL_ERR_RANGE, "model: token %d is outside the vocabulary (%u)", toks[i], I->n_vocab);
    if (pos >= I->n_ctx || n > I->n_ctx - pos)
        return cl_err(CL_ERR_RANGE, "model: positions %u..%zu are past the context (%u)", pos, pos + n - 1, I->n_ctx);
    if (m->gpu) { /* whole steps on the device */
        m->last_nb = 1;
        return m->be.i->forward(m->be.ctx, toks, (uint32_t)n, pos, logits, all_logits);
    }
    for (i = 0; i < n; i += CL_BATCH) {
        uint32_t nb = (uint32_t)(n - i < CL_BATCH ? n - i : CL_BATCH);
        int last = i + nb == n;
        float *lg = all_logits ? logits + i * I->n_vocab : last ? logits : NULL;
        if ((s = eval_chunk(m, toks + i, nb, pos + (uint32_t)i, lg, all_logits))) return s;
    }
    return CL_OK;
}

uint64_t cl_model_weight_bytes(const cl_model *m)
{
    const cl_model_info *I = &m->info;
    uint64_t sum = m->out->n_bytes + m->out_norm->n_bytes + m->embd->n_bytes / m->embd->ne[1];
    uint32_t l;
    for (l = 0; l < I->n_layer; l++) {
        const layer *L = &m->layers[l];
        const cl_tensor *t[] = {L->attn_norm, L->wq, L->wk, L->wv, L->wo, L->bq, L->bk, L->bv,
                                L->q_norm, L->k_norm, L->ffn_norm, L->gate, L->up, L->down};
        size_t i;
        for (i = 0; i < sizeof t / sizeof *t; i++)
            if (t[i]) sum += t[i]->n_bytes;
    }
    return sum;
}

cl_status cl_model_kv_fill(cl_model *m, uint32_t n_have, uint32_t n_to)
{
    const cl_model_info *I = &m->info;
    uint32_t l, p;
    if (!n_have || n_have > n_to || n_to > I->n_ctx)
        return cl_err(CL_ERR_RANGE, "model: cannot fill the cache from %u to %u positions (context %u)", n_have, n_to,
                      I->n_ctx);
    if (m->gpu) return m->be.i->kv_fill(m->be.ctx, n_have, n_to);
    for (l = 0; l < I->n_layer; l++) {
        size_t row = m->kv_row; /* bytes of one position */
        uint8_t *kc = (uint8_t *)m->kcache + (size_t)l * I->n_ctx * row, *vc = (uint8_t *)m->vcache + (size_t)l * I->n_ctx * row;
        for (p = n_have; p < n_to; p++) {
            memcpy(kc + p * row, kc + (p % n_have) * row, row);
            memcpy(vc + p * row, vc + (p % n_have) * row, row);
        }
    }
    return CL_OK;
}

cl_status cl_model_eval(cl_model *m, cl_token token, uint32_t pos, float *logits)
{
    return cl_model_eval_batch(m, &token, 1, pos, logits, 0);
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
    for (i = n_prompt - 1; i < n_prompt + n_new; i++) {
        uint32_t v;
        if (i >= n_prompt) {
            out[n++] = next;
            if (next == eos || n == n_new) break;
            s = cl_model_eval(m, next, pos++, logits);
        } else {
            s = cl_model_eval_batch(m, prompt, n_prompt, 0, logits, 0);
            pos = (uint32_t)n_prompt;
        }
        if (s) break;
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
    uint32_t E = m->info.n_embd;
    if (!m->last_nb) { memset(out, 0, E * sizeof(float)); return; }   /* nothing evaluated yet */
    if (m->gpu) { /* the residual row from the device, normed here */
        if (m->be.i->hidden_row(m->be.ctx, m->xb)) { memset(out, 0, E * sizeof(float)); return; }
        cl_be_rmsnorm((cl_backend *)&m->be, out, m->xb, m->out_norm->data, E, 1, m->info.eps);
        return;
    }
    cl_be_rmsnorm((cl_backend *)&m->be, out, m->x + (size_t)(m->last_nb - 1) * E, m->out_norm->data, E, 1, m->info.eps);
}

/* ---------------------------------------------------------- prefix KV cache
 * Bookkeeping is in kvcache.c; here: the model's identity, and prefill that
 * copies cached blocks into the contiguous caches (cl_kv_block_load), runs
 * the rest, and saves the prompt's new whole blocks (cl_kv_block_save). */

/* The identity covers what K/V depend on: the GGUF's header, metadata and
 * tensor table (its first data_offset bytes), the file size, 64 bytes at
 * each of up to 64 places of every tensor's data (two files that differ
 * only elsewhere in their weights would collide: the 4 KiB sample per
 * tensor is the cost bound), and the settings derived at open (RoPE
 * frequencies and factor, epsilon, pair layout, the backend's name, the
 * KV element type: blocks of F32 and F16 caches never match each other). */
static cl_status kv_identity(cl_model *m)
{
    const uint8_t *base;
    uint64_t off = cl_gguf_data_offset(m->g), fsize = cl_gguf_file_size(m->g);
    int64_t i, nt = cl_gguf_n_tensors(m->g);
    m->kv_ident[0] = 0xcbf29ce484222325ull;
    m->kv_ident[1] = 0;
    cl_kv_ident_add(m->kv_ident, "cairn-kv-1", 10);
    cl_kv_ident_add(m->kv_ident, &fsize, sizeof fsize);
    /* the first tensor's data sits at off in the file: back up to the header */
    base = nt > 0 ? (const uint8_t *)cl_gguf_tensor(m->g, 0)->data - cl_gguf_tensor(m->g, 0)->offset - off : NULL;
    if (base) cl_kv_ident_add(m->kv_ident, base, off);
    for (i = 0; i < nt; i++) {
        const cl_tensor *t = cl_gguf_tensor(m->g, i);
        size_t k, n = t->n_bytes < 64 * 64 ? 1 : 64, step = n > 1 ? (t->n_bytes - 64) / 63 : 0;
        for (k = 0; k < n; k++) {
            size_t at = k * step, len = t->n_bytes - at < 64 ? t->n_bytes - at : 64;
            if (n == 1) len = t->n_bytes;
            cl_kv_ident_add(m->kv_ident, (const uint8_t *)t->data + at, len);
        }
    }
    {
        cl_model_info in = m->info; /* everything but the sequence's cache size */
        in.n_ctx = 0;
        cl_kv_ident_add(m->kv_ident, &in, sizeof in);
    }
    cl_kv_ident_add(m->kv_ident, m->inv_freq, m->info.head_dim / 2 * sizeof *m->inv_freq);
    cl_kv_ident_add(m->kv_ident, &m->rope_mscale, sizeof m->rope_mscale);
    cl_kv_ident_add(m->kv_ident, &m->neox, sizeof m->neox);
    cl_kv_ident_add(m->kv_ident, m->be.i->name, strlen(m->be.i->name));
    cl_kv_ident_add(m->kv_ident, cl_kv_type_name(m->info.kv_type), 3); /* also in info: said twice on purpose */
    return CL_OK;
}

/* Reused blocks end on a batch boundary, so the tokens after them run in the
 * same batches as a cold prefill would run them: bit-identical logits. */
_Static_assert(CL_KV_BLOCK % CL_BATCH == 0, "a KV block must be a whole number of prefill batches");

void cl_model_set_kvcache(cl_model *m, cl_kvcache *c)
{
    cl_kvcache *old = m->kvc;
    m->kvc = cl_kvcache_ref(c);
    cl_kvcache_free(old);
}

cl_kvcache *cl_model_kvcache(const cl_model *m) { return m->kvc; }

cl_status cl_model_prefill(cl_model *m, const cl_token *toks, size_t n, float *logits, cl_kv_stats *st)
{
    const cl_model_info *I = &m->info;
    size_t bytes = (size_t)2 * I->n_layer * CL_KV_BLOCK * m->kv_row;
    size_t n_full, n_hit = 0, i, hit_cap;
    cl_kv_block **blk = NULL;
    cl_kv_stats dummy;
    cl_status s;
    if (!st) st = &dummy;
    memset(st, 0, sizeof *st);
    if (!n) return cl_err(CL_ERR_INVALID, "model: no tokens to evaluate");
    st->prompt_tokens = (uint32_t)n;
    n_full = n / CL_KV_BLOCK;
    hit_cap = (n - 1) / CL_KV_BLOCK;
    /* on the GPU the K/V live on the device: its block copy step is not
     * written yet (issue #13), so a GPU model prefills everything */
    if (!m->kvc || m->gpu || !n_full || n > I->n_ctx) {
        if ((s = cl_model_eval_batch(m, toks, n, 0, logits, 0))) return s;
        st->prefill_tokens = (uint32_t)n;
        return CL_OK;
    }
    for (i = 0; i < n; i++) /* checked before any copy: a stored block has valid tokens */
        if (toks[i] < 0 || (uint32_t)toks[i] >= I->n_vocab)
            return cl_err(CL_ERR_RANGE, "model: token %d is outside the vocabulary (%u)", toks[i], I->n_vocab);
    if (!(blk = calloc(n_full, sizeof *blk))) return cl_err(CL_ERR_NOMEM, "model: out of memory");
    n_hit = cl_kvc_lookup(m->kvc, m->kv_ident, toks, hit_cap, blk);
    for (i = 0; i < n_hit; i++) { /* a block of another size (so another KV type) is refused: a miss from there */
        if (cl_kv_block_bytes(blk[i]) != bytes) {
            cl_kvc_release(m->kvc, blk + i, n_hit - i);
            memset(blk + i, 0, (n_hit - i) * sizeof *blk);
            n_hit = i;
            break;
        }
        cl_kv_block_load(cl_kv_block_data(blk[i]), m->kcache, m->vcache, I->n_layer, I->n_ctx, m->kv_row,
                         (uint32_t)(i * CL_KV_BLOCK));
    }
    st->hit_blocks = (uint32_t)n_hit;
    st->hit_tokens = (uint32_t)(n_hit * CL_KV_BLOCK);
    st->prefill_tokens = (uint32_t)(n - n_hit * CL_KV_BLOCK);
    s = cl_model_eval_batch(m, toks + n_hit * CL_KV_BLOCK, n - n_hit * CL_KV_BLOCK, (uint32_t)(n_hit * CL_KV_BLOCK),
                            logits, 0);
    /* store the new whole blocks, each under its (pinned) parent */
    for (i = n_hit; !s && i < n_full; i++) {
        void *d = malloc(bytes);
        if (!d) break; /* the cache is an optimisation: no memory, no entry */
        cl_kv_block_save(d, m->kcache, m->vcache, I->n_layer, I->n_ctx, m->kv_row, (uint32_t)(i * CL_KV_BLOCK));
        if (!(blk[i] = cl_kvc_insert(m->kvc, m->kv_ident, toks, i, i ? blk[i - 1] : NULL, d, bytes))) break;
        st->stored_blocks++;
    }
    cl_kvc_release(m->kvc, blk, n_full);
    free(blk);
    return s;
}
