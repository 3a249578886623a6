/* bert.c — BERT encoder forward pass on the CPU (GGUF architecture "bert" as
 * llama.cpp writes it), batched: several token sequences in one call.
 *
 * Tensors (ggml order, ne[0] first; E = embedding_length, F = feed_forward_length):
 *   token_embd.weight        [E, n_vocab]     any supported type
 *   token_types.weight       [E, n_types]     optional (type 0 is added)
 *   position_embd.weight     [E, n_ctx_train] absolute positions
 *   token_embd_norm.{weight,bias}  [E]        LayerNorm of the embedding sum
 *   blk.L.attn_{q,k,v,output}.weight [E, E] + .bias [E]
 *   blk.L.attn_output_norm.{weight,bias} [E]
 *   blk.L.ffn_up.weight [E, F] + .bias [F], blk.L.ffn_down.weight [F, E] + .bias [E]
 *   blk.L.layer_output_norm.{weight,bias} [E]
 * Post-norm layers: x = LN(x + Attn(x)); x = LN(x + Down(GELU(Up(x)))).
 * GELU is the exact erf form (what BERT checkpoints were trained with;
 * llama.cpp uses the tanh approximation, within ~1e-3).
 *
 * A batch is packed: the sequences' tokens are rows of one [T, E] matrix,
 * so every weight row is read once per batch and dotted with all T rows;
 * attention is bidirectional inside a sequence and masked between them
 * (which is what a padding mask does, without computing the padding).
 * Weights stay in the mapping: a weight row is dequantised into a small
 * buffer (TILE_R rows at a time) and never a whole matrix. Matrix products
 * are split by row tiles, attention by (sequence, head), over n_threads
 * threads started per call. */
#include "llm_int.h"

#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct blayer {
    const cl_tensor *wq, *bq, *wk, *bk, *wv, *bv, *wo, *bo, *ln1_w, *ln1_b;
    const cl_tensor *up, *bup, *down, *bdown, *ln2_w, *ln2_b;
} blayer;

struct cl_bert {
    const cl_gguf *g;
    cl_bert_hparams hp;
    const cl_tensor *tok, *types, *pos, *ln0_w, *ln0_b;
    blayer *layers;
    /* work buffers, grown to the largest batch seen (floats) */
    float *x, *q, *k, *v, *ao, *tmp, *h;
    int n_threads;
    /* per thread: */
    float *wbuf[CL_BERT_MAX_THREADS]; /* (TILE_R, max(E, F)) dequantised weight rows */
    float *att[CL_BERT_MAX_THREADS];  /* (n, n) scores of one head */
    float *vt[CL_BERT_MAX_THREADS];   /* (head_dim, n) one head's V, transposed */
    size_t cap_tokens, cap_seq;
    void (*tile)(const float *, size_t, size_t, const float *, size_t, size_t, size_t, float *, size_t);
};

enum { TILE_T = 16, TILE_R = 16 };

static cl_status bget_u32(const cl_gguf *g, const char *suffix, uint32_t *out, int required)
{
    char key[96];
    cl_status s;
    snprintf(key, sizeof key, "bert.%s", suffix);
    s = cl_gguf_get_u32(g, key, out);
    if (s == CL_ERR_NOTFOUND && !required) return CL_OK;
    if (s) return cl_err(s, "bert: metadata %s: %s", key, cl_errmsg());
    if (*out == 0 || *out > (1u << 20)) return cl_err(CL_ERR_FORMAT, "bert: metadata %s = %u is out of range", key, *out);
    return CL_OK;
}

/* A tensor of shape [ne0, ne1] (ne1 = 1: a vector, which must be F32). */
static cl_status bwant(const cl_gguf *g, const char *name, uint64_t ne0, uint64_t ne1, int optional,
                       const cl_tensor **out)
{
    const cl_tensor *t = cl_gguf_find_tensor(g, name);
    *out = NULL;
    if (!t) return optional ? CL_OK : cl_err(CL_ERR_NOTFOUND, "bert: tensor %s is missing", name);
    if (!cl_type_supported(t->type))
        return cl_err(CL_ERR_UNSUPPORTED, "bert: tensor %s has type %s, which is not supported", name,
                      cl_type_name(t->type) ? cl_type_name(t->type) : "?");
    if (t->ne[0] != ne0 || (ne1 ? t->ne[1] != ne1 : t->ne[1] < 1) || t->ne[2] != 1 || t->ne[3] != 1)
        return cl_err(CL_ERR_FORMAT, "bert: tensor %s has shape [%llu, %llu], expected [%llu, %llu]", name,
                      (unsigned long long)t->ne[0], (unsigned long long)t->ne[1], (unsigned long long)ne0,
                      (unsigned long long)ne1);
    if (ne1 == 1 && t->type != CL_TYPE_F32) return cl_err(CL_ERR_UNSUPPORTED, "bert: vector %s must be F32", name);
    *out = t;
    return CL_OK;
}

static cl_status bwant_l(const cl_gguf *g, int l, const char *what, uint64_t ne0, uint64_t ne1,
                         const cl_tensor **out)
{
    char name[96];
    snprintf(name, sizeof name, "blk.%d.%s", l, what);
    return bwant(g, name, ne0, ne1, 0, out);
}

/* ------------------------------------------------------------ kernels */

/* The one kernel: y[t*ldy + r] = w_r . x_t for r < nr, t < nt, where w_r =
 * w + r*ldw and x_t = x + t*ldx hold n floats. Portable C, and AVX2+FMA
 * (chosen at run time) computing 4 rows x 2 columns per pass. */
static float dotf(const float *a, const float *b, size_t n)
{
    float s0 = 0, s1 = 0, s2 = 0, s3 = 0, s4 = 0, s5 = 0, s6 = 0, s7 = 0;
    size_t i = 0;
    for (; i + 8 <= n; i += 8) {
        s0 += a[i] * b[i];
        s1 += a[i + 1] * b[i + 1];
        s2 += a[i + 2] * b[i + 2];
        s3 += a[i + 3] * b[i + 3];
        s4 += a[i + 4] * b[i + 4];
        s5 += a[i + 5] * b[i + 5];
        s6 += a[i + 6] * b[i + 6];
        s7 += a[i + 7] * b[i + 7];
    }
    for (; i < n; i++) s0 += a[i] * b[i];
    return ((s0 + s1) + (s2 + s3)) + ((s4 + s5) + (s6 + s7));
}

static void tile_c(const float *w, size_t ldw, size_t nr, const float *x, size_t ldx, size_t nt, size_t n, float *y,
                   size_t ldy)
{
    size_t r, t;
    for (t = 0; t < nt; t++)
        for (r = 0; r < nr; r++) y[t * ldy + r] = dotf(w + r * ldw, x + t * ldx, n);
}

#if defined(__x86_64__) && defined(__GNUC__)
#include <immintrin.h>

__attribute__((target("avx2,fma"))) static inline float hsum8(__m256 v)
{
    __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    s = _mm_add_ps(s, _mm_movehl_ps(s, s));
    s = _mm_add_ss(s, _mm_movehdup_ps(s));
    return _mm_cvtss_f32(s);
}

__attribute__((target("avx2,fma"))) static float dot_avx2(const float *a, const float *b, size_t n)
{
    __m256 s0 = _mm256_setzero_ps(), s1 = _mm256_setzero_ps();
    size_t i = 0;
    float tail = 0.0f;
    for (; i + 16 <= n; i += 16) {
        s0 = _mm256_fmadd_ps(_mm256_loadu_ps(a + i), _mm256_loadu_ps(b + i), s0);
        s1 = _mm256_fmadd_ps(_mm256_loadu_ps(a + i + 8), _mm256_loadu_ps(b + i + 8), s1);
    }
    for (; i + 8 <= n; i += 8) s0 = _mm256_fmadd_ps(_mm256_loadu_ps(a + i), _mm256_loadu_ps(b + i), s0);
    for (; i < n; i++) tail += a[i] * b[i];
    return hsum8(_mm256_add_ps(s0, s1)) + tail;
}

__attribute__((target("avx2,fma"))) static void tile_avx2(const float *w, size_t ldw, size_t nr, const float *x,
                                                          size_t ldx, size_t nt, size_t n, float *y, size_t ldy)
{
    size_t r, t, k, n8 = n & ~(size_t)7;
    for (t = 0; t + 2 <= nt; t += 2) {
        const float *x0 = x + t * ldx, *x1 = x0 + ldx;
        for (r = 0; r + 4 <= nr; r += 4) {
            const float *w0 = w + r * ldw, *w1 = w0 + ldw, *w2 = w1 + ldw, *w3 = w2 + ldw;
            __m256 a00 = _mm256_setzero_ps(), a01 = a00, a10 = a00, a11 = a00, a20 = a00, a21 = a00, a30 = a00,
                   a31 = a00;
            float *y0 = y + t * ldy + r, *y1 = y0 + ldy;
            int i;
            for (k = 0; k < n8; k += 8) {
                __m256 v0 = _mm256_loadu_ps(x0 + k), v1 = _mm256_loadu_ps(x1 + k), m;
                m = _mm256_loadu_ps(w0 + k);
                a00 = _mm256_fmadd_ps(m, v0, a00);
                a01 = _mm256_fmadd_ps(m, v1, a01);
                m = _mm256_loadu_ps(w1 + k);
                a10 = _mm256_fmadd_ps(m, v0, a10);
                a11 = _mm256_fmadd_ps(m, v1, a11);
                m = _mm256_loadu_ps(w2 + k);
                a20 = _mm256_fmadd_ps(m, v0, a20);
                a21 = _mm256_fmadd_ps(m, v1, a21);
                m = _mm256_loadu_ps(w3 + k);
                a30 = _mm256_fmadd_ps(m, v0, a30);
                a31 = _mm256_fmadd_ps(m, v1, a31);
            }
            y0[0] = hsum8(a00), y1[0] = hsum8(a01), y0[1] = hsum8(a10), y1[1] = hsum8(a11);
            y0[2] = hsum8(a20), y1[2] = hsum8(a21), y0[3] = hsum8(a30), y1[3] = hsum8(a31);
            for (i = 0; i < 4 && n8 < n; i++) {
                const float *wi = w0 + i * ldw;
                for (k = n8; k < n; k++) y0[i] += wi[k] * x0[k], y1[i] += wi[k] * x1[k];
            }
        }
        for (; r < nr; r++) {
            y[t * ldy + r] = dot_avx2(w + r * ldw, x0, n);
            y[(t + 1) * ldy + r] = dot_avx2(w + r * ldw, x1, n);
        }
    }
    for (; t < nt; t++)
        for (r = 0; r < nr; r++) y[t * ldy + r] = dot_avx2(w + r * ldw, x + t * ldx, n);
}
#endif

/* ------------------------------------------------------------ threads */

/* Runs fn(ctx, i, tid) for i < n on up to b->n_threads threads (thread tid
 * takes i = tid, tid + n_threads, ...). Every item is computed the same way
 * whatever the thread count, so results do not depend on it. */
typedef void (*par_fn)(void *ctx, size_t i, int tid);
typedef struct par_job { par_fn fn; void *ctx; size_t n; int nth, tid; } par_job;

static void *par_main(void *a)
{
    par_job *j = a;
    size_t i;
    for (i = (size_t)j->tid; i < j->n; i += (size_t)j->nth) j->fn(j->ctx, i, j->tid);
    return NULL;
}

static void par_for(const cl_bert *b, size_t n, par_fn fn, void *ctx)
{
    pthread_t th[CL_BERT_MAX_THREADS];
    par_job job[CL_BERT_MAX_THREADS];
    int nth = b->n_threads < (int)n ? b->n_threads : (int)n, t, started[CL_BERT_MAX_THREADS] = {0};
    if (nth < 1) nth = 1;
    for (t = 0; t < nth; t++) {
        job[t].fn = fn, job[t].ctx = ctx, job[t].n = n, job[t].nth = nth, job[t].tid = t;
        if (t) started[t] = pthread_create(&th[t], NULL, par_main, &job[t]) == 0;
    }
    par_main(&job[0]);
    for (t = 1; t < nth; t++) {
        if (started[t]) pthread_join(th[t], NULL);
        else par_main(&job[t]); /* could not start a thread: do its share here */
    }
}

/* Y[t][r] = W row r . X[t] + bias[r] for t < n_t, over W's ne[1] rows.
 * X is (n_t, ne0), Y is (n_t, ne1). One item = TILE_R rows, dequantised
 * into the thread's wbuf (F32 rows are used in place). */
typedef struct mm_job {
    cl_bert *b;
    const cl_tensor *W, *bias;
    const float *X;
    float *Y;
    size_t n_t;
} mm_job;

static void mm_item(void *ctx, size_t item, int tid)
{
    const mm_job *j = ctx;
    const cl_tensor *W = j->W;
    size_t in = (size_t)W->ne[0], outn = (size_t)W->ne[1], rb = W->n_bytes / W->ne[1], r0 = item * TILE_R, t0, r, t;
    size_t nr = outn - r0 < TILE_R ? outn - r0 : TILE_R;
    const float *wr, *bd = j->bias ? j->bias->data : NULL;
    if (W->type == CL_TYPE_F32) wr = (const float *)((const uint8_t *)W->data + r0 * rb);
    else {
        for (r = 0; r < nr; r++)
            cl_dequantize_row(W->type, (const uint8_t *)W->data + (r0 + r) * rb, j->b->wbuf[tid] + r * in, in);
        wr = j->b->wbuf[tid];
    }
    for (t0 = 0; t0 < j->n_t; t0 += TILE_T) {
        size_t nt = j->n_t - t0 < TILE_T ? j->n_t - t0 : TILE_T;
        j->b->tile(wr, in, nr, j->X + t0 * in, in, nt, in, j->Y + t0 * outn + r0, outn);
    }
    if (bd)
        for (t = 0; t < j->n_t; t++)
            for (r = 0; r < nr; r++) j->Y[t * outn + r0 + r] += bd[r0 + r];
}

static void matmul(cl_bert *b, const cl_tensor *W, const cl_tensor *bias, const float *X, float *Y, size_t n_t)
{
    mm_job j = {b, W, bias, X, Y, n_t};
    par_for(b, ((size_t)W->ne[1] + TILE_R - 1) / TILE_R, mm_item, &j);
}

/* Attention, one item = one (sequence, head): S = Q K^T * scale, softmax by
 * rows, O = S V, inside the sequence only (the mask between sequences). */
typedef struct att_job {
    cl_bert *b;
    const size_t *off, *n_toks;
    float scale;
} att_job;

static void att_item(void *ctx, size_t item, int tid)
{
    const att_job *j = ctx;
    cl_bert *b = j->b;
    size_t e = b->hp.n_embd, nh = b->hp.n_head, hd = e / nh, s = item / nh, h = item % nh;
    size_t n = j->n_toks[s], off = j->off[s], qi, i, k;
    float *att = b->att[tid], *vt = b->vt[tid];
    if (!n) return;
    b->tile(b->k + off * e + h * hd, e, n, b->q + off * e + h * hd, e, n, hd, att, n);
    for (qi = 0; qi < n; qi++) {
        float *a = att + qi * n, mx = -INFINITY, sum = 0.0f, inv;
        for (k = 0; k < n; k++) {
            a[k] *= j->scale;
            if (a[k] > mx) mx = a[k];
        }
        for (k = 0; k < n; k++) sum += (a[k] = expf(a[k] - mx));
        inv = 1.0f / sum;
        for (k = 0; k < n; k++) a[k] *= inv;
    }
    for (k = 0; k < n; k++)
        for (i = 0; i < hd; i++) vt[i * n + k] = b->v[(off + k) * e + h * hd + i];
    b->tile(vt, n, hd, att, n, n, n, b->ao + off * e + h * hd, e);
}

void cl_bert_free(cl_bert *b)
{
    if (!b) return;
    free(b->layers);
    free(b->x);
    free(b->q);
    free(b->k);
    free(b->v);
    free(b->ao);
    free(b->tmp);
    free(b->h);
    for (int t = 0; t < CL_BERT_MAX_THREADS; t++) {
        free(b->att[t]);
        free(b->vt[t]);
        free(b->wbuf[t]);
    }
    free(b);
}

cl_status cl_bert_new(const cl_gguf *g, int n_threads, cl_bert **out)
{
    cl_bert *b;
    cl_bert_hparams *H;
    const char *arch;
    size_t alen;
    uint32_t pool = CL_POOL_CLS;
    int causal = 0, l;
    uint64_t e, f;
    cl_status s;
    *out = NULL;
    if ((s = cl_gguf_get_str(g, "general.architecture", &arch, &alen)))
        return cl_err(s, "bert: general.architecture: %s", cl_errmsg());
    if (strcmp(arch, "bert"))
        return cl_err(CL_ERR_UNSUPPORTED, "bert: architecture is '%s', not 'bert'", arch);
    if (!(b = calloc(1, sizeof *b))) return cl_err(CL_ERR_NOMEM, "bert: out of memory");
    b->g = g;
    H = &b->hp;
    if ((s = bget_u32(g, "embedding_length", &H->n_embd, 1)) || (s = bget_u32(g, "block_count", &H->n_layer, 1)) ||
        (s = bget_u32(g, "feed_forward_length", &H->n_ff, 1)) ||
        (s = bget_u32(g, "attention.head_count", &H->n_head, 1)) ||
        (s = bget_u32(g, "context_length", &H->n_ctx_train, 1)))
        goto fail;
    if (H->n_embd % H->n_head) {
        s = cl_err(CL_ERR_FORMAT, "bert: %u heads do not divide embedding length %u", H->n_head, H->n_embd);
        goto fail;
    }
    H->eps = 1e-12f;
    if ((s = cl_gguf_get_f32(g, "bert.attention.layer_norm_epsilon", &H->eps)) && s != CL_ERR_NOTFOUND) goto fail;
    if (!(H->eps > 0.0f && H->eps < 1.0f)) {
        s = cl_err(CL_ERR_FORMAT, "bert: layer norm epsilon %g is out of range", H->eps);
        goto fail;
    }
    if ((s = cl_gguf_get_bool(g, "bert.attention.causal", &causal)) && s != CL_ERR_NOTFOUND) goto fail;
    if (causal) {
        s = cl_err(CL_ERR_UNSUPPORTED, "bert: causal attention (bert.attention.causal = true) is not supported");
        goto fail;
    }
    s = cl_gguf_get_u32(g, "bert.pooling_type", &pool);
    if (s && s != CL_ERR_NOTFOUND) {
        s = cl_err(s, "bert: metadata bert.pooling_type: %s", cl_errmsg());
        goto fail;
    }
    /* llama.cpp's default for BERT without the key is CLS */
    H->pooling = (int)pool;
    e = H->n_embd;
    f = H->n_ff;
    {
        const cl_tensor *t = cl_gguf_find_tensor(g, "token_embd.weight");
        if (!t) {
            s = cl_err(CL_ERR_NOTFOUND, "bert: tensor token_embd.weight is missing");
            goto fail;
        }
        H->n_vocab = (uint32_t)(t->ne[1] < (1u << 24) ? t->ne[1] : 0);
        if (!H->n_vocab) {
            s = cl_err(CL_ERR_FORMAT, "bert: token_embd.weight has %llu rows", (unsigned long long)t->ne[1]);
            goto fail;
        }
    }
    if ((s = bwant(g, "token_embd.weight", e, H->n_vocab, 0, &b->tok)) ||
        (s = bwant(g, "token_types.weight", e, 0, 1, &b->types)) ||
        (s = bwant(g, "position_embd.weight", e, 0, 0, &b->pos)) ||
        (s = bwant(g, "token_embd_norm.weight", e, 1, 0, &b->ln0_w)) ||
        (s = bwant(g, "token_embd_norm.bias", e, 1, 0, &b->ln0_b)))
        goto fail;
    /* positions past the table cannot be embedded */
    if (b->pos->ne[1] < H->n_ctx_train) H->n_ctx_train = (uint32_t)b->pos->ne[1];
    if (!(b->layers = calloc(H->n_layer, sizeof *b->layers))) goto nomem;
    for (l = 0; l < (int)H->n_layer; l++) {
        blayer *L = &b->layers[l];
        if ((s = bwant_l(g, l, "attn_q.weight", e, e, &L->wq)) || (s = bwant_l(g, l, "attn_q.bias", e, 1, &L->bq)) ||
            (s = bwant_l(g, l, "attn_k.weight", e, e, &L->wk)) || (s = bwant_l(g, l, "attn_k.bias", e, 1, &L->bk)) ||
            (s = bwant_l(g, l, "attn_v.weight", e, e, &L->wv)) || (s = bwant_l(g, l, "attn_v.bias", e, 1, &L->bv)) ||
            (s = bwant_l(g, l, "attn_output.weight", e, e, &L->wo)) ||
            (s = bwant_l(g, l, "attn_output.bias", e, 1, &L->bo)) ||
            (s = bwant_l(g, l, "attn_output_norm.weight", e, 1, &L->ln1_w)) ||
            (s = bwant_l(g, l, "attn_output_norm.bias", e, 1, &L->ln1_b)) ||
            (s = bwant_l(g, l, "ffn_up.weight", e, f, &L->up)) || (s = bwant_l(g, l, "ffn_up.bias", f, 1, &L->bup)) ||
            (s = bwant_l(g, l, "ffn_down.weight", f, e, &L->down)) ||
            (s = bwant_l(g, l, "ffn_down.bias", e, 1, &L->bdown)) ||
            (s = bwant_l(g, l, "layer_output_norm.weight", e, 1, &L->ln2_w)) ||
            (s = bwant_l(g, l, "layer_output_norm.bias", e, 1, &L->ln2_b)))
            goto fail;
    }
    b->n_threads = n_threads < 1 ? 1 : n_threads > CL_BERT_MAX_THREADS ? CL_BERT_MAX_THREADS : n_threads;
    for (l = 0; l < b->n_threads; l++)
        if (!(b->wbuf[l] = malloc((size_t)TILE_R * (e > f ? e : f) * sizeof(float)))) goto nomem;
    b->tile = tile_c;
#if defined(__x86_64__) && defined(__GNUC__)
    /* CAIRN_LLM_PORTABLE=1 keeps the portable C kernel (tests compare both) */
    if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma") && !getenv("CAIRN_LLM_PORTABLE"))
        b->tile = tile_avx2;
#endif
    *out = b;
    return CL_OK;
nomem:
    s = cl_err(CL_ERR_NOMEM, "bert: out of memory");
fail:
    cl_bert_free(b);
    return s;
}

const cl_bert_hparams *cl_bert_get_hparams(const cl_bert *b) { return &b->hp; }

/* x = LN(x (+ add)) * w + b, row by row, in place. */
static void layernorm(float *x, const float *add, const cl_tensor *w, const cl_tensor *bias, size_t n_t, size_t n,
                      float eps)
{
    const float *wd = w->data, *bd = bias->data;
    size_t t, i;
    for (t = 0; t < n_t; t++) {
        float *r = x + t * n;
        double mean = 0.0, var = 0.0, sc;
        if (add)
            for (i = 0; i < n; i++) r[i] += add[t * n + i];
        for (i = 0; i < n; i++) mean += r[i];
        mean /= (double)n;
        for (i = 0; i < n; i++) var += (r[i] - mean) * (r[i] - mean);
        sc = 1.0 / sqrt(var / (double)n + eps);
        for (i = 0; i < n; i++) r[i] = (float)((r[i] - mean) * sc) * wd[i] + bd[i];
    }
}

static cl_status grow(cl_bert *b, size_t n_t, size_t max_n)
{
    size_t e = b->hp.n_embd, f = b->hp.n_ff;
    float **bufs[6] = {&b->x, &b->q, &b->k, &b->v, &b->ao, &b->tmp};
    int i;
    if (max_n > b->cap_seq) {
        b->cap_seq = 0;
        for (i = 0; i < b->n_threads; i++) {
            free(b->att[i]);
            free(b->vt[i]);
            b->vt[i] = NULL;
            if (!(b->att[i] = malloc(max_n * max_n * sizeof(float))) ||
                !(b->vt[i] = malloc(max_n * (e / b->hp.n_head) * sizeof(float))))
                return cl_err(CL_ERR_NOMEM, "bert: out of memory for a sequence of %zu tokens", max_n);
        }
        b->cap_seq = max_n;
    }
    if (n_t <= b->cap_tokens) return CL_OK;
    if (n_t > SIZE_MAX / sizeof(float) / (e > f ? e : f)) return cl_err(CL_ERR_NOMEM, "bert: batch too large");
    for (i = 0; i < 6; i++) {
        free(*bufs[i]);
        if (!(*bufs[i] = malloc(n_t * e * sizeof(float)))) goto nomem;
    }
    free(b->h);
    if (!(b->h = malloc(n_t * f * sizeof(float)))) goto nomem;
    b->cap_tokens = n_t;
    return CL_OK;
nomem:
    b->cap_tokens = 0;
    return cl_err(CL_ERR_NOMEM, "bert: out of memory for a batch of %zu tokens", n_t);
}

/* GELU (exact erf form) of one token's FFN row, in place. */
static void gelu_item(void *ctx, size_t t, int tid)
{
    cl_bert *b = ctx;
    float *h = b->h + t * b->hp.n_ff;
    size_t i;
    (void)tid;
    for (i = 0; i < b->hp.n_ff; i++) h[i] = 0.5f * h[i] * (1.0f + erff(h[i] * (float)M_SQRT1_2));
}

/* ------------------------------------------------------------ forward */

cl_status cl_bert_encode(cl_bert *b, const cl_token *const *toks, const size_t *n_toks, size_t n_seq, int pooling,
                         float *out)
{
    const cl_bert_hparams *H = &b->hp;
    size_t e = H->n_embd, hd = e / H->n_head, n_t = 0, max_n = 0, s, t, i, l, off;
    size_t tok_rb = b->tok->n_bytes / b->tok->ne[1], pos_rb = b->pos->n_bytes / b->pos->ne[1];
    float scale = 1.0f / sqrtf((float)hd), *row;
    size_t *offs;
    att_job aj;
    cl_status st;
    if (pooling != CL_POOL_MEAN && pooling != CL_POOL_CLS && pooling != CL_POOL_LAST)
        return cl_err(CL_ERR_INVALID, "bert: pooling %d is not one of mean (1), cls (2), last (3)", pooling);
    for (s = 0; s < n_seq; s++) {
        if (n_toks[s] > H->n_ctx_train)
            return cl_err(CL_ERR_RANGE, "bert: sequence %zu has %zu tokens, more than the context (%u)", s, n_toks[s],
                          H->n_ctx_train);
        for (t = 0; t < n_toks[s]; t++)
            if (toks[s][t] < 0 || (uint32_t)toks[s][t] >= H->n_vocab)
                return cl_err(CL_ERR_RANGE, "bert: token %d is outside the vocabulary (%u)", toks[s][t], H->n_vocab);
        n_t += n_toks[s];
        if (n_toks[s] > max_n) max_n = n_toks[s];
    }
    if (!n_t) {
        memset(out, 0, n_seq * e * sizeof(float));
        return CL_OK;
    }
    if ((st = grow(b, n_t, max_n))) return st;
    if (!(row = malloc(e * sizeof(float)))) return cl_err(CL_ERR_NOMEM, "bert: out of memory");
    /* embeddings: token + type 0 + position, then LayerNorm */
    for (s = 0, off = 0; s < n_seq; s++)
        for (t = 0; t < n_toks[s]; t++, off++) {
            float *x = b->x + off * e;
            cl_dequantize_row(b->tok->type, (const uint8_t *)b->tok->data + (size_t)toks[s][t] * tok_rb, x, e);
            cl_dequantize_row(b->pos->type, (const uint8_t *)b->pos->data + t * pos_rb, row, e);
            for (i = 0; i < e; i++) x[i] += row[i];
            if (b->types) {
                cl_dequantize_row(b->types->type, b->types->data, row, e);
                for (i = 0; i < e; i++) x[i] += row[i];
            }
        }
    free(row);
    layernorm(b->x, NULL, b->ln0_w, b->ln0_b, n_t, e, H->eps);
    if (!(offs = malloc(n_seq * sizeof *offs))) return cl_err(CL_ERR_NOMEM, "bert: out of memory");
    for (s = 0, off = 0; s < n_seq; off += n_toks[s], s++) offs[s] = off;
    aj.b = b, aj.off = offs, aj.n_toks = n_toks, aj.scale = scale;
    for (l = 0; l < H->n_layer; l++) {
        const blayer *L = &b->layers[l];
        matmul(b, L->wq, L->bq, b->x, b->q, n_t);
        matmul(b, L->wk, L->bk, b->x, b->k, n_t);
        matmul(b, L->wv, L->bv, b->x, b->v, n_t);
        par_for(b, n_seq * H->n_head, att_item, &aj);
        matmul(b, L->wo, L->bo, b->ao, b->tmp, n_t);
        layernorm(b->x, b->tmp, L->ln1_w, L->ln1_b, n_t, e, H->eps);
        matmul(b, L->up, L->bup, b->x, b->h, n_t);
        par_for(b, n_t, gelu_item, b);
        matmul(b, L->down, L->bdown, b->h, b->tmp, n_t);
        layernorm(b->x, b->tmp, L->ln2_w, L->ln2_b, n_t, e, H->eps);
    }
    free(offs);
    /* pooling and L2 normalisation */
    for (s = 0, off = 0; s < n_seq; off += n_toks[s], s++) {
        float *o = out + s * e;
        size_t n = n_toks[s];
        memset(o, 0, e * sizeof(float));
        if (!n) continue;
        if (pooling == CL_POOL_MEAN) {
            for (t = 0; t < n; t++)
                for (i = 0; i < e; i++) o[i] += b->x[(off + t) * e + i];
            for (i = 0; i < e; i++) o[i] /= (float)n;
        } else {
            memcpy(o, b->x + (off + (pooling == CL_POOL_CLS ? 0 : n - 1)) * e, e * sizeof(float));
        }
        cl_l2_normalize(o, e);
    }
    return CL_OK;
}

void cl_l2_normalize(float *v, size_t n)
{
    double ss = 0.0;
    size_t i;
    for (i = 0; i < n; i++) ss += (double)v[i] * v[i];
    if (ss > 0.0) {
        double inv = 1.0 / sqrt(ss);
        for (i = 0; i < n; i++) v[i] = (float)(v[i] * inv);
    }
}
